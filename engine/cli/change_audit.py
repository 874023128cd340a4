"""The audit entries of changes made from the command line (accounts and API keys),
written to the ``audit`` topic like the API's: a change the desk or a practice
administrator cannot see in the trail is not made."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from engine.api.audit_entries import change_entries, command_line_actor
from engine.cli.device import kafka_unavailable
from engine.producer import NightlineProducer
from engine.settings import load_settings

__all__ = ["audit_change"]


def audit_change(
    subject_type: str, subject_id: str, practices: Iterable[str], action: str, detail: str = ""
) -> None:
    """Write the entries, or fail with "Kafka unavailable" (the caller then undoes or
    does not make the change)."""
    settings = load_settings()
    entries = change_entries(subject_type, subject_id, practices, command_line_actor(), action,
                             detail, datetime.now(UTC))  # fmt: skip
    with kafka_unavailable(), NightlineProducer(settings.kafka_servers,
                                                settings.topic_prefix) as producer:  # fmt: skip
        for entry in entries:
            producer.send_audit(entry)
