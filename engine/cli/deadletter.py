"""``nightline deadletter``: list the dead letters, show one's raw bytes, replay a fix.

``list`` prints what every dead letter carries in clear (ids, where it came from, the
reason code and the PHI-free reason, size, time). ``show`` decrypts a dead letter's
raw bytes, which may hold PHI, so it insists on an explicit flag. ``replay`` sends a
corrected intake event for an intake dead letter, under the original's event id.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
import uuid
from collections.abc import Generator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from engine.adapters.dead_letters import is_intake_topic
from engine.cli.device import kafka_unavailable
from engine.schemas.deadletter import REASON_CODES, DeadLetter
from engine.settings import Settings, load_settings

__all__ = ["deadletter", "describe", "parse_age", "read_dead_letters", "select"]

PHI_FLAG = "--i-understand-this-shows-phi"
_AGE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_age(text: str) -> timedelta:
    """``90s``, ``30m``, ``1h``, ``2d``."""
    match = _AGE.match(text.strip().lower())
    if match is None:
        raise ValueError("use a number and a unit: 90s, 30m, 1h or 2d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


class _Age(click.ParamType):
    name = "AGE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_age(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def select(
    letters: Iterable[DeadLetter],
    *,
    not_before: datetime | None = None,
    topics: frozenset[str] | None = None,
    reason_code: str | None = None,
) -> list[DeadLetter]:
    """The dead letters that match every filter given (``topics``: source topic names)."""
    return [
        letter
        for letter in letters
        if (not_before is None or letter.at >= not_before)
        and (topics is None or letter.source_topic in topics)
        and (reason_code is None or letter.reason_code == reason_code)
    ]


def describe(letter: DeadLetter) -> str:
    """One line, with nothing but what the dead letter carries in clear (no PHI)."""
    where = f"{letter.source_topic}[{_dash(letter.source_partition)}]@{_dash(letter.source_offset)}"
    return "  ".join(
        [
            str(letter.event_id),
            letter.at.isoformat(timespec="seconds"),
            where,
            f"practice={_dash(letter.practice_id)}",
            f"intake_event={_dash(letter.intake_event_id)}",
            letter.reason_code,
            f"{letter.raw_size}B",
            letter.reason,
        ]
    )


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def read_dead_letters(s: Settings, idle_s: float = 30.0) -> Generator[DeadLetter, None, None]:
    """Every dead letter on the deployment's topic, oldest first per partition."""
    from kafka import KafkaConsumer, TopicPartition

    from engine.schemas.catalogue import spec
    from engine.schemas.codec import DecodeError, decode

    name = s.topic("deadletter")
    consumer = KafkaConsumer(
        bootstrap_servers=s.kafka_servers, enable_auto_commit=False, group_id=None
    )
    try:
        parts = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        if not parts:
            return
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        last_progress = time.monotonic()
        while any(consumer.position(tp) < end[tp] for tp in parts):
            batches = consumer.poll(timeout_ms=500)
            if batches:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > idle_s:
                raise click.ClickException(f"{name}: no progress for {idle_s:g} s")
            for records in batches.values():
                for record in records:
                    try:
                        yield decode(spec("deadletter").adapter, record.value)
                    except DecodeError as exc:
                        click.echo(f"skipping offset {record.offset}: {exc.code}", err=True)
    finally:
        consumer.close()


def _find(s: Settings, dead_letter_id: uuid.UUID) -> DeadLetter:
    with kafka_unavailable(), contextlib.closing(read_dead_letters(s)) as letters:
        for letter in letters:
            if letter.event_id == dead_letter_id:
                return letter
    raise click.ClickException(f"no dead letter {dead_letter_id} on {s.topic('deadletter')}")


def _decrypt(s: Settings, letter: DeadLetter) -> bytes:
    from cryptography.fernet import Fernet, InvalidToken

    from engine.adapters.deployment_keys import (
        DEAD_LETTER_KEY,
        KeyConfigurationError,
        existing_key,
    )

    try:
        key = existing_key(s, DEAD_LETTER_KEY, s.dead_letter_key)
        return Fernet(key.encode()).decrypt(letter.raw_encrypted.encode())
    except KeyConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    except (InvalidToken, ValueError) as exc:
        raise click.ClickException(
            "cannot decrypt: this dead letter was written with another key than "
            "NIGHTLINE_DEAD_LETTER_KEY (or the state dir's deadletter.key)"
        ) from exc


@click.group("deadletter")
def deadletter() -> None:
    """Dead letters: records that could not be processed, raw bytes encrypted."""


@deadletter.command("list")
@click.option("--since", type=_Age(), default=None, help="Only the last 90s, 30m, 1h, 2d...")
@click.option("--topic", default=None, help="Source topic, e.g. intake, devices, push.fcm.")
@click.option("--reason", "reason_code", type=click.Choice(REASON_CODES), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(
    since: timedelta | None, topic: str | None, reason_code: str | None, as_json: bool
) -> None:
    """One line per dead letter: id, time, source topic[partition]@offset, practice and
    intake event ids when known, reason code, size, reason. No PHI."""
    s = load_settings()
    not_before = datetime.now(UTC) - since if since is not None else None
    topics = None if topic is None else frozenset({topic, s.topic(topic)})  # push.fcm: as is
    with kafka_unavailable():
        letters = select(
            read_dead_letters(s), not_before=not_before, topics=topics, reason_code=reason_code
        )
    for letter in letters:
        if as_json:
            click.echo(letter.model_dump_json(exclude={"raw_encrypted"}))
        else:
            click.echo(describe(letter))
    if not letters:
        click.echo(f"no dead letters on {s.topic('deadletter')} match", err=True)


@deadletter.command("show")
@click.argument("dead_letter_id", type=click.UUID)
@click.option(PHI_FLAG, "understood", is_flag=True, help="Required: the raw bytes may be PHI.")
def show(dead_letter_id: uuid.UUID, understood: bool) -> None:
    """Decrypt a dead letter and print its raw bytes (PHI!) on stdout, as they were
    received; what it is comes on stderr. Redirect stdout to a file to fix and replay it."""
    if not understood:
        raise click.UsageError(
            "a dead letter's raw bytes may hold PHI (patient names, callback numbers, "
            f"message text). Add {PHI_FLAG} to print them, where only you can see them."
        )
    s = load_settings()
    letter = _find(s, dead_letter_id)
    raw = _decrypt(s, letter)
    click.echo(describe(letter), err=True)
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()


@deadletter.command("replay")
@click.argument("dead_letter_id", type=click.UUID)
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The corrected intake event (JSON).",
)
@click.option(
    "--new-event-id",
    is_flag=True,
    help="Only when the original's event_id could not be read: send the file's own "
    "event_id (make sure no event with that id was dispatched already).",
)
def replay(dead_letter_id: uuid.UUID, file: Path, new_event_id: bool) -> None:
    """Validate a corrected intake event and publish it to intake.

    Its event_id must be the original's (read from the dead letter). Intake dedupes by
    event_id, so replaying an event that was already dispatched does nothing, and a
    replay sent twice is dispatched once.
    """
    from engine.producer import NightlineProducer
    from engine.schemas.catalogue import spec
    from engine.schemas.codec import DecodeError, decode
    from engine.schemas.peek import peek_intake_ids

    s = load_settings()
    letter = _find(s, dead_letter_id)
    if not is_intake_topic(letter.source_topic):
        raise click.ClickException(
            f"only intake dead letters are replayed, not {letter.source_topic}"
        )
    try:
        event = decode(spec("intake").adapter, file.read_bytes(), s.max_event_bytes)
    except DecodeError as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    original = letter.intake_event_id or peek_intake_ids(_decrypt(s, letter)).event_id
    if original is None and not new_event_id:
        raise click.ClickException(
            "the original's event_id could not be read; if no event with the file's "
            f"event_id ({event.event_id}) was dispatched, pass --new-event-id"
        )
    if original is not None and new_event_id:
        raise click.UsageError(f"--new-event-id: the original's event_id is known ({original})")
    if original is not None and event.event_id != original:
        raise click.ClickException(
            f"{file}: event_id must be the original's {original} (intake dedupes by event_id)"
        )
    with kafka_unavailable(), NightlineProducer(s.kafka_servers, s.topic_prefix) as producer:
        producer.send_intake(event)
    click.echo(
        f"replayed {event.kind} event {event.event_id} for practice {event.practice_id}; "
        f"dispatch id d-{event.event_id}"
    )
