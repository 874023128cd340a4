"""The operator desk's live queue as a pure read model of two topics.

An alert is open from its first ``OperatorAlert`` until its dispatch leaves the
``operator`` status (a ``DispatchStateChanged`` to anything else: claimed, accepted by
a clinician after all, cancelled). The worker re-alerts an unclaimed dispatch every
desk timeout, so reading the topics from an hour back (or three desk timeouts, if
longer) rebuilds every open alert after a restart. The two topics are not ordered
with each other: an alert older than the state change that closed its dispatch is
ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from engine.schemas.dispatch import DispatchStateChanged
from engine.schemas.outbound import OperatorAlert

__all__ = ["DeskBoard", "DeskChange", "DeskItem"]

OPERATOR_STATUS = "operator"


@dataclass(frozen=True)
class DeskItem:
    """One open alert, as the console shows it (no PHI)."""

    dispatch_id: str
    practice_id: str
    desk_id: str
    urgency: str
    reason: str
    alerts: int
    first_alerted_at: datetime
    last_alerted_at: datetime
    reason_code: str | None = None


@dataclass(frozen=True)
class DeskChange:
    """What a console must do: show (``alert``) or remove (``closed``) an item."""

    kind: str  # "alert" | "closed"
    item: DeskItem


class DeskBoard:
    def __init__(self) -> None:
        self.open: dict[str, DeskItem] = {}
        self._closed_at: dict[str, datetime] = {}

    def on_alert(self, alert: OperatorAlert) -> DeskChange | None:
        closed = self._closed_at.get(alert.dispatch_id)
        if closed is not None and alert.at <= closed:
            return None
        known = self.open.get(alert.dispatch_id)
        if known is None:
            item = DeskItem(
                dispatch_id=alert.dispatch_id,
                practice_id=alert.practice_id,
                desk_id=alert.desk_id,
                urgency=str(alert.urgency),
                reason=alert.reason,
                alerts=alert.alert,
                first_alerted_at=alert.at,
                last_alerted_at=alert.at,
                reason_code=alert.reason_code,
            )
        else:
            item = replace(
                known,
                alerts=max(known.alerts, alert.alert),
                last_alerted_at=max(known.last_alerted_at, alert.at),
                first_alerted_at=min(known.first_alerted_at, alert.at),
                urgency=str(alert.urgency),
            )
        if item == known:
            return None  # read again (a replay after a reconnect): consoles have it
        self.open[alert.dispatch_id] = item
        return DeskChange("alert", item)

    def on_state(self, change: DispatchStateChanged) -> DeskChange | None:
        if change.to_status == OPERATOR_STATUS:
            self._closed_at.pop(change.dispatch_id, None)
            return None
        before = self._closed_at.get(change.dispatch_id)
        if before is None or change.at > before:
            self._closed_at[change.dispatch_id] = change.at
        item = self.open.pop(change.dispatch_id, None)
        return None if item is None else DeskChange("closed", item)

    def forget_closed_before(self, cutoff: datetime) -> None:
        """Drop the memory of dispatches closed before ``cutoff`` (bounded memory)."""
        for dispatch_id, at in list(self._closed_at.items()):
            if at < cutoff:
                del self._closed_at[dispatch_id]
