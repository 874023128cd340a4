"""``nightline deadletter list | show | replay`` against a real worker: a malformed
intake event is dead-lettered, listed without PHI, shown only with the explicit flag,
and its corrected version replayed under the original event id and dispatched once."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from engine.cli import main
from engine.handlers.intake import dispatch_id_for
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, wait_for

BAD_NUMBER = "ask for Jane at 555 0142"  # not a phone number, and PHI


def cli(h: Harness, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, ["deadletter", *args], env=h.env(), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def _dead_letter(h: Harness, **match: object) -> Any:
    def found() -> Any:
        return next(
            (d for d in h.read("deadletter") if all(getattr(d, k) == v for k, v in match.items())),
            None,
        )

    return wait_for(found, 15, f"the dead letter {match}")


def _letter_holding(h: Harness, token: str) -> Any:
    """The dead letter whose (decrypted) raw bytes contain ``token``."""

    def found() -> Any:
        return next((d for d in h.read("deadletter") if token in h.dead_letter_raw(d)), None)

    return wait_for(found, 15, "the dead letter")


def _malformed_call(h: Harness) -> tuple[dict[str, Any], Any]:
    event = json.loads(data.urgent_call("p-dl").model_dump_json())
    event["caller"]["callback_number"] = BAD_NUMBER
    h.producer.send_raw("intake", "p-dl", json.dumps(event).encode())
    return event, _dead_letter(h, intake_event_id=uuid.UUID(event["event_id"]))


def test_list_show_and_replay_a_malformed_call(harness: Harness, tmp_path: Path) -> None:
    harness.load_practice(data.practice("p-dl", timeout_s=120), data.devices_for("dr-ash"))
    event, letter = _malformed_call(harness)
    assert letter.practice_id == "p-dl" and letter.reason_code == "schema_violation"

    listed = cli(harness, "list", "--topic", "intake", "--json").output.splitlines()
    [row] = [json.loads(line) for line in listed if str(letter.event_id) in line]
    assert row["practice_id"] == "p-dl" and row["intake_event_id"] == event["event_id"]
    assert row["reason"] == "voice_call.caller.callback_number: string_pattern_mismatch"
    assert "raw_encrypted" not in row
    text = cli(harness, "list", "--since", "10m").output
    assert str(letter.event_id) in text and "practice=p-dl" in text
    assert "Jane" not in text + "\n".join(listed) and data.SYNTHETIC_PATIENT not in text
    assert str(letter.event_id) not in cli(harness, "list", "--reason", "oversize").output
    assert str(letter.event_id) not in cli(harness, "list", "--topic", "acks").output

    refused = cli(harness, "show", str(letter.event_id), code=2)
    assert "PHI" in refused.output and "--i-understand-this-shows-phi" in refused.output
    assert "Jane" not in refused.output
    shown = cli(harness, "show", str(letter.event_id), "--i-understand-this-shows-phi")
    assert json.loads(shown.stdout_bytes) == event  # the bytes as they were received

    fixed = {**event, "caller": {**event["caller"], "callback_number": "+1 555 0142 x12"}}
    other_id = tmp_path / "other-id.json"
    other_id.write_text(json.dumps({**fixed, "event_id": str(uuid.uuid4())}))
    wrong = cli(harness, "replay", str(letter.event_id), "--file", str(other_id), code=1)
    assert f"must be the original's {event['event_id']}" in wrong.output
    still_bad = tmp_path / "still-bad.json"
    still_bad.write_bytes(shown.stdout_bytes)
    invalid = cli(harness, "replay", str(letter.event_id), "--file", str(still_bad), code=1)
    assert "string_pattern_mismatch" in invalid.output and "Jane" not in invalid.output

    good = tmp_path / "fixed.json"
    good.write_text(json.dumps(fixed))
    dispatch_id = dispatch_id_for(uuid.UUID(event["event_id"]))
    assert dispatch_id in cli(harness, "replay", str(letter.event_id), "--file", str(good)).output
    wait_for(lambda: harness.pushes(dispatch_id), 15, "the replayed call paged")

    cli(harness, "replay", str(letter.event_id), "--file", str(good))  # again: a no-op
    marker = data.urgent_call("p-dl")  # same key, same partition: handled after the replay
    harness.producer.send_intake(marker)
    wait_for(lambda: harness.pushes(dispatch_id_for(marker.event_id)), 15, "the marker paged")
    assert len(harness.pushes(dispatch_id)) == 1


def test_replay_without_a_readable_event_id_needs_an_explicit_choice(
    harness: Harness, tmp_path: Path
) -> None:
    harness.load_practice(data.practice("p-dl2", timeout_s=120), data.devices_for("dr-ash"))
    token = uuid.uuid4().hex
    harness.producer.send_raw("intake", "p-dl2", f'{{"cut short {token}'.encode())
    letter = _letter_holding(harness, token)
    assert letter.reason_code == "invalid_json" and letter.intake_event_id is None

    event = data.urgent_call("p-dl2")
    file = tmp_path / "rewritten.json"
    file.write_text(event.model_dump_json())
    refused = cli(harness, "replay", str(letter.event_id), "--file", str(file), code=1)
    assert "--new-event-id" in refused.output
    cli(harness, "replay", str(letter.event_id), "--file", str(file), "--new-event-id")
    wait_for(lambda: harness.pushes(dispatch_id_for(event.event_id)), 15, "the call paged")


def test_only_intake_dead_letters_are_replayed(harness: Harness, tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    harness.producer.send_raw("acks", "d-x", f'{{"ack": "{token}"}}'.encode())
    letter = _letter_holding(harness, token)
    file = tmp_path / "event.json"
    file.write_text(data.urgent_call("p-dl").model_dump_json())
    refused = cli(harness, "replay", str(letter.event_id), "--file", str(file), code=1)
    assert "only intake dead letters" in refused.output


def test_show_of_an_unknown_id_says_so(harness: Harness) -> None:
    missing = uuid.uuid4()
    result = cli(harness, "show", str(missing), "--i-understand-this-shows-phi", code=1)
    assert f"no dead letter {missing}" in result.output
