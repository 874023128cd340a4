"""``nightline triage``: how a practice's rules triage one message, so an administrator
can test them before callers do.

The decision is the worker's own: the message becomes a synthetic intake event and goes
through :func:`engine.domain.triage.triage` at the given instant. The practice comes
from the store, or from a practice file (``--file``) to test rules not yet loaded.
Only rule ids are printed, never the message.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from pydantic import TypeAdapter, ValidationError

from engine.cli.schedule import _instant, _practice
from engine.domain.practice import Practice
from engine.domain.triage import TriageResult, triage
from engine.schemas.codec import safe_validation_summary
from engine.schemas.intake import CallerType, CallReason, IntakeEvent, IntakeKind

__all__ = ["triage_command"]

# Fields each channel needs besides the shared ones (identifiers of the synthetic event).
_CHANNEL_FIELDS: dict[IntakeKind, dict[str, Any]] = {
    IntakeKind.VOICE_CALL: {"call_id": "cli-call"},
    IntakeKind.VOICEMAIL: {"call_id": "cli-call", "duration_seconds": 0},
    IntakeKind.SMS: {},
    IntakeKind.CHAT: {"session_id": "cli-chat"},
    IntakeKind.EMAIL: {},
    IntakeKind.WEB_FORM: {"form_id": "cli-form"},
}
_EVENT: TypeAdapter[IntakeEvent] = TypeAdapter(IntakeEvent)


def _event(
    practice: Practice,
    message: str,
    reason: str,
    caller_type: str,
    channel: str,
    born: date | None,
    at: datetime,
) -> IntakeEvent:
    data: dict[str, Any] = {
        "kind": channel,
        "event_id": uuid.uuid4(),
        "practice_id": practice.practice_id,
        "source_system": "nightline-cli",
        "received_at": at,
        "caller": {"type": caller_type},
        "patient": None if born is None else {"name": "CLI test", "date_of_birth": born},
        "reason": reason,
        "message": message,
        **_CHANNEL_FIELDS[IntakeKind(channel)],
    }
    try:
        return _EVENT.validate_python(data)
    except ValidationError as exc:
        summary = safe_validation_summary(exc, _EVENT)
        raise click.ClickException(f"not a valid message: {summary}") from exc


def _as_dict(result: TriageResult, practice: Practice) -> dict[str, Any]:
    release = result.release_at
    return {
        "urgency": result.urgency.value,
        "action": result.action.value,
        "rules": list(result.reasons),
        "release_at": None if release is None else release.astimezone(practice.zone).isoformat(),
    }


@click.command("triage")
@click.argument("practice_id")
@click.option("--message", required=True, help="The message text, as the caller wrote it.")
@click.option(
    "--reason",
    type=click.Choice([r.value for r in CallReason]),
    default=CallReason.OFFICE_ROUTINE.value,
    show_default=True,
    help="The reason code the operator, IVR or form chose.",
)
@click.option(
    "--caller-type",
    type=click.Choice([c.value for c in CallerType]),
    default=CallerType.PATIENT.value,
    show_default=True,
)
@click.option(
    "--channel",
    type=click.Choice([k.value for k in IntakeKind]),
    default=IntakeKind.SMS.value,
    show_default=True,
)
@click.option(
    "--date-of-birth",
    "born",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The patient's date of birth (YYYY-MM-DD), for age-based rules.",
)
@click.option(
    "--at",
    "at",
    default=None,
    help="When the message arrives: an ISO 8601 time with an offset "
    "(2026-12-02T03:00:00-05:00), or a date, or a date and time without an offset, read "
    "in the practice's time zone (2026-12-02, 2026-12-02T03:00). Default: now.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print one JSON object: {"urgency", "action", "rules", "release_at"}.',
)
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read the practice from this practice file (YAML or JSON) instead of the store.",
)
def triage_command(
    practice_id: str,
    message: str,
    reason: str,
    caller_type: str,
    channel: str,
    born: datetime | None,
    at: str | None,
    as_json: bool,
    file: Path | None,
) -> None:
    """Triage one message under PRACTICE_ID's rules: urgency, action and the rules that fired."""
    practice = _practice(practice_id, file)
    instant = _instant(at, practice.zone, datetime.now(practice.zone))
    birth = born.date() if born is not None else None
    event = _event(practice, message, reason, caller_type, channel, birth, instant)
    result = _as_dict(triage(event, practice, instant), practice)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"urgency  {result['urgency']}")
    click.echo(f"action   {result['action']}")
    click.echo(f"rules    {', '.join(result['rules'])}")
    if result["release_at"] is not None:
        click.echo(f"release  {result['release_at']}")
