"""Schedules in and out of Nightline as iCalendar (RFC 5545) feeds.

``ics_import`` turns a practice's Amion, QGenda, Google or Outlook calendar into
overrides (reporting what it could not map); ``ics_export`` publishes the final
schedule per clinician or per coverage group for phone calendars to subscribe to.
"""

from engine.interchange.ics_export import PRODID, clinician_feed, group_feed
from engine.interchange.ics_import import Conflict, ImportResult, UnmatchedEvent, import_overrides

__all__ = [
    "PRODID",
    "Conflict",
    "ImportResult",
    "UnmatchedEvent",
    "clinician_feed",
    "group_feed",
    "import_overrides",
]
