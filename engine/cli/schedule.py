"""``nightline schedule``: load, inspect and check on-call schedules; import and
export calendars.

Practices come from the store (Redis, the authoritative copy); commands that
only read also take ``--file`` to work on a practice file with no server.
Times given without an offset are the practice's local time; output is in the
practice's local time too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from engine.adapters.practice_store import PracticeStore
from engine.domain.practice import Practice
from engine.domain.schedule import CoverageGroup, CoverageRole
from engine.practice_files import PracticeFile, PracticeFileError, check_practice
from engine.practice_files import load_practice_file as _load_file
from engine.schemas.intake import Urgency

__all__ = ["schedule"]

_FILE = click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read the practice from this file instead of the store.",
)
_FROM = click.option(
    "--from", "start", default=None, help="Local date or ISO time (default: today)."
)
_TO = click.option("--to", "end", default=None, help="Local date or ISO time (default: +7 days).")


@click.group()
def schedule() -> None:
    """On-call schedules: load, who is on call, gaps, calendar import and export."""


@contextmanager
def open_store(publish: bool = False) -> Iterator[PracticeStore]:
    """The practice store of the configured deployment (with a producer to publish)."""
    from kafka.errors import KafkaError
    from redis import Redis
    from redis.exceptions import RedisError

    from engine.adapters.redis_keys import Keys
    from engine.producer import NightlineProducer, ensure_topics
    from engine.settings import load_settings

    s = load_settings()
    redis = Redis.from_url(s.redis_dsn)
    producer = None
    try:
        if publish:
            ensure_topics(s.kafka_servers, s.topic_prefix, s.topic_partitions, s.topic_replication)
            producer = NightlineProducer(s.kafka_servers, s.topic_prefix)
        yield PracticeStore(redis, Keys(s.topic_prefix), producer)
    except (RedisError, KafkaError) as exc:
        raise click.ClickException(f"storage unavailable: {type(exc).__name__}: {exc}") from exc
    finally:
        if producer is not None:
            producer.close()
        redis.close()


def _read_file(path: Path) -> PracticeFile:
    try:
        return _load_file(path)
    except PracticeFileError as exc:
        raise click.ClickException(f"{len(exc.issues)} problem(s):\n{exc}") from exc


def _practice(practice_id: str, file: Path | None) -> Practice:
    if file is not None:
        practice = _read_file(file).practice
        if practice.practice_id != practice_id:
            raise click.ClickException(
                f"{file} defines {practice.practice_id!r}, not {practice_id!r}"
            )
        return practice
    with open_store() as store:
        found = store.get(practice_id)
        if found is None:
            known = ", ".join(store.practice_ids()) or "none"
            raise click.ClickException(f"unknown practice {practice_id!r} (stored: {known})")
    return found


def _group(practice: Practice, group_id: str) -> CoverageGroup:
    for group in practice.coverage_groups:
        if group.group_id == group_id:
            return group
    known = ", ".join(g.group_id for g in practice.coverage_groups) or "none"
    raise click.ClickException(
        f"{practice.practice_id} has no group {group_id!r} (groups: {known})"
    )


def _clinician(practice: Practice, clinician_id: str) -> str:
    if clinician_id not in {c.clinician_id for c in practice.clinicians}:
        raise click.ClickException(f"{practice.practice_id} has no clinician {clinician_id!r}")
    return clinician_id


def _instant(text: str | None, zone: ZoneInfo, default: datetime) -> datetime:
    """An ISO instant as given; a plain date or local time read in ``zone`` by the
    schedules' own rule (:func:`engine.domain._wall_clock.localize`): a time skipped by
    a DST change is the moment the clocks jump, a repeated one its first occurrence,
    and either is said on stderr."""
    from engine.domain._wall_clock import localize

    if text is None:
        return default
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 date or time") from exc
    if value.tzinfo is not None:
        return value
    instant = localize(value, zone)
    if instant is None:
        raise click.BadParameter(f"{text!r} is out of range")
    local = instant.astimezone(zone)
    shown = local.strftime("%Y-%m-%d %H:%M %Z")
    if local.replace(tzinfo=None) != value:
        click.echo(f"{text} does not exist in {zone.key} (clocks jump): using {shown}", err=True)
    elif value.replace(tzinfo=zone, fold=1).utcoffset() != local.utcoffset():
        click.echo(f"{text} happens twice in {zone.key}: using the first, {shown}", err=True)
    return local


def _window(
    practice: Practice, start: str | None, end: str | None, days: int
) -> tuple[datetime, datetime]:
    zone = practice.zone
    today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    first = _instant(start, zone, today)
    last = _instant(end, zone, first + timedelta(days=days))
    if last <= first:
        raise click.BadParameter("--to must be after --from")
    return first, last


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


@schedule.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", default="cli", show_default=True, help="Who makes the change.")
def load(path: Path, actor: str) -> None:
    """Validate a practice file, store it as a new revision and publish it."""
    practice = _read_file(path).practice
    revision, summary = _put(practice, actor)
    click.echo(f"{practice.practice_id} revision {revision}: {summary}")


def _put(practice: Practice, actor: str) -> tuple[int, str]:
    """Store and publish a practice; its revision and change summary."""
    from pydantic import ValidationError

    from engine.adapters.practice_store import PublishError

    with open_store(publish=True) as store:
        try:
            revision = store.put(practice, actor)
        except PublishError as exc:
            raise click.ClickException(str(exc)) from exc
        except ValidationError as exc:
            raise click.BadParameter(f"{actor!r} is not an id", param_hint="--actor") from exc
        return revision, store.history(practice.practice_id)[-1].summary


def _pair(text: str) -> tuple[str, str]:
    name, sep, clinician_id = text.partition("=")
    if not (sep and name.strip() and clinician_id.strip()):
        raise click.BadParameter(f"{text!r} is not NAME=CLINICIAN_ID", param_hint="--map")
    return name.strip(), clinician_id.strip()


@schedule.command()
@click.argument("practice_id")
@click.option(
    "--at",
    "at",
    default=None,
    help="When: a plain date (2026-12-02) or local time (2026-12-02T03:00), read in the "
    "practice's time zone as the schedules read them (a time skipped by a DST change is "
    "when the clocks jump), or an ISO instant with an offset (2026-12-02T03:00:00-05:00). "
    "Default: now.",
)
@click.option("--group", default=None, help="Coverage group (default: the practice's default).")
@click.option("--urgency", type=click.Choice([u.value for u in Urgency]), default="urgent")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object: practice, instant, urgency, group and the levels in "
    "paging order (name, targets, operator, ack_timeout_seconds, repeats).",
)
@_FILE
def who(
    practice_id: str,
    at: str | None,
    group: str | None,
    urgency: str,
    as_json: bool,
    file: Path | None,
) -> None:
    """The escalation chain at an instant: levels, who is paged, timeouts."""
    from engine.domain.escalation import build_plan
    from engine.domain.oncall import resolve_chain

    practice = _practice(practice_id, file)
    if group is not None:
        _group(practice, group)
    instant = _instant(at, practice.zone, datetime.now(practice.zone))
    chain = resolve_chain(practice, instant, Urgency(urgency), group)
    plan = build_plan(chain, practice.policy_for(Urgency(urgency)))  # who holds each level now
    levels: list[dict[str, Any]] = []
    for number, level in enumerate(chain.levels):
        pages = [step for step in plan.steps if step.level == number]
        timeout = None if level.is_operator else pages[0].timeout_seconds
        levels.append(
            {
                "name": level.name,
                "targets": list(level.targets),
                "operator": level.is_operator,
                "ack_timeout_seconds": timeout,
                "repeats": len(pages) - 1,
            }
        )
    if as_json:
        at_text = instant.astimezone(practice.zone).isoformat()
        summary = {"practice": practice_id, "at": at_text, "urgency": urgency, "group": group}
        click.echo(json.dumps({**summary, "levels": levels}))
        return
    click.echo(f"{practice_id} {urgency} at {_local(instant, practice.zone)}")
    for number, row in enumerate(levels, start=1):
        line = f"{number:>2}. {row['name']:<18} {', '.join(row['targets']):<32}"
        if row["ack_timeout_seconds"] is not None:
            line += f" ack {row['ack_timeout_seconds']:g} s, {row['repeats']} re-page(s)"
        click.echo(line.rstrip())


@schedule.command()
@click.argument("practice_id")
@_FROM
@_TO
@click.option("--group", default=None, help="Only this coverage group.")
@_FILE
def show(
    practice_id: str, start: str | None, end: str | None, group: str | None, file: Path | None
) -> None:
    """The final schedule (layers and overrides applied), in local time."""
    from engine.domain.schedule_resolution import render

    practice = _practice(practice_id, file)
    first, last = _window(practice, start, end, days=7)
    groups = [_group(practice, group)] if group else practice.coverage_groups
    for g in groups:
        click.echo(f"{g.name} ({g.group_id}), {practice.timezone}")
        used = {x.role for x in g.layers} | {o.role for o in g.overrides}
        for role in (r for r in CoverageRole if r in used):
            for seg in render(g, role, first, last, practice.zone):
                who_ = ", ".join(seg.clinicians) or "(nobody)"
                click.echo(
                    f"  {role.value:<8} {_local(seg.start, practice.zone)}  "
                    f"{_local(seg.end, practice.zone)}  {who_}"
                )


@schedule.command()
@click.argument("practice_id", required=False)
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366))
@click.option("--from", "start_text", default=None, help="ISO time (default: now; no offset: UTC).")
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Check these practice files instead of the store (repeatable).",
)
def gaps(
    practice_id: str | None, days: int, start_text: str | None, files: tuple[Path, ...]
) -> None:
    """Coverage gaps (nobody on call) and clinicians booked in two practices at once."""
    from engine.domain.coverage_report import coverage_gaps, double_bookings

    if files:
        practices = [_read_file(path).practice for path in files]
    else:
        with open_store() as store:
            practices = store.all()
    if practice_id is not None and practice_id not in {p.practice_id for p in practices}:
        raise click.ClickException(f"unknown practice {practice_id!r}")
    utc = ZoneInfo("UTC")
    start = _instant(start_text, utc, datetime.now(utc).replace(second=0, microsecond=0))
    end = start + timedelta(days=days)
    found = 0
    for practice in practices:
        if practice_id is None or practice.practice_id == practice_id:
            for gap in coverage_gaps(practice, start, end):
                found += 1
                click.echo(
                    f"gap      {gap.practice_id} {gap.group_id} {gap.role}: "
                    f"{_local(gap.start, practice.zone)} - {_local(gap.end, practice.zone)}"
                )
    for booking in double_bookings(practices, start, end):
        if practice_id is None or practice_id in booking.practice_ids:
            found += 1
            click.echo(
                f"double   {booking.clinician_id} in {', '.join(booking.practice_ids)}: "
                f"{_local(booking.start, utc)} - {_local(booking.end, utc)}"
            )
    if not found:
        click.echo(f"no gaps or double bookings in the next {days} day(s)")


@schedule.command("import-ics")
@click.argument("practice_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--group", required=True, help="Coverage group that gets the overrides.")
@click.option("--role", type=click.Choice([r.value for r in CoverageRole]), default="primary")
@_FROM
@click.option("--to", "end", default=None, help="Local date or ISO time (default: +90 days).")
@click.option("--map", "mapping", multiple=True, help="NAME=CLINICIAN_ID for names in the feed.")
@click.option("--dry-run", is_flag=True, help="Show what would change; store nothing.")
@click.option("--actor", default="cli", show_default=True)
@_FILE
def import_ics(
    practice_id: str,
    path: Path,
    group: str,
    role: str,
    start: str | None,
    end: str | None,
    mapping: tuple[str, ...],
    dry_run: bool,
    actor: str,
    file: Path | None,
) -> None:
    """Merge a calendar's events into a group as overrides; store a new revision."""
    from engine.interchange.ics_import import import_overrides

    practice = _practice(practice_id, file)
    target, zone = _group(practice, group), practice.zone
    names = dict(_pair(text) for text in mapping)
    for clinician_id in names.values():
        _clinician(practice, clinician_id)
    first, last = _window(practice, start, end, days=90)
    try:
        result = import_overrides(
            path.read_bytes(), practice, first, last, CoverageRole(role), names or None
        )
    except ValueError as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    for u in result.unmatched:
        when = _local(u.start, zone) if u.start else "(no time)"
        click.echo(f"unmatched {when} {u.summary!r}: {u.reason}")
    for c in result.conflicts:
        span = f"{_local(c.start, zone)} - {_local(c.end, zone)}"
        click.echo(f"conflict  {span}: {' vs '.join(c.clinicians)} ({', '.join(c.override_ids)})")
    for o in result.overrides:
        span = f"{_local(o.start, zone)} - {_local(o.end, zone)}"
        click.echo(f"override  {span}: {o.clinician_id} ({o.override_id})")
    new_ids = {o.override_id for o in result.overrides}
    merged = [o for o in target.overrides if o.override_id not in new_ids] + list(result.overrides)
    groups = [
        g.model_copy(update={"overrides": merged}) if g is target else g
        for g in practice.coverage_groups
    ]
    updated = practice.model_copy(update={"coverage_groups": groups})
    problems = check_practice(updated)
    if problems:
        raise click.ClickException(
            "not stored: the merged schedule is invalid:\n" + "\n".join(problems)
        )
    done = f"{len(result.overrides)} override(s) for {group} {role}"
    if dry_run or file is not None:
        click.echo(f"{done}; nothing stored ({'dry run' if dry_run else 'read from a file'})")
        return
    revision, _ = _put(updated, actor)
    click.echo(f"{done}; {practice_id} revision {revision}")


@schedule.command("export-ics")
@click.argument("practice_id")
@click.option("--clinician", default=None)
@click.option("--group", default=None)
@_FROM
@click.option("--to", "end", default=None, help="Local date or ISO time (default: +90 days).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@_FILE
def export_ics(
    practice_id: str,
    clinician: str | None,
    group: str | None,
    start: str | None,
    end: str | None,
    out: Path | None,
    file: Path | None,
) -> None:
    """An iCalendar feed of a clinician's or a group's on-call shifts."""
    if (clinician is None) == (group is None):
        raise click.UsageError("give exactly one of --clinician or --group")
    practice = _practice(practice_id, file)
    first, last = _window(practice, start, end, days=90)
    if clinician is not None:
        _clinician(practice, clinician)
    else:
        _group(practice, str(group))
    from engine.interchange.ics_export import clinician_feed, group_feed

    if clinician is not None:
        feed = clinician_feed(practice, clinician, first, last)
    else:
        feed = group_feed(practice, str(group), first, last)
    if out is None:
        click.get_binary_stream("stdout").write(feed)
    else:
        out.write_bytes(feed)
        click.echo(str(out))


@schedule.command()
@click.argument("practice_id")
def history(practice_id: str) -> None:
    """Every stored revision: when, who, what changed."""
    with open_store() as store:
        entries = store.history(practice_id)
    if not entries:
        raise click.ClickException(f"no history for {practice_id!r}")
    for e in entries:
        click.echo(f"{e.revision:>4}  {e.at.isoformat(timespec='seconds')}  {e.actor}  {e.summary}")


@schedule.command()
@click.argument("practice_id", required=False)
def publish(practice_id: str | None) -> None:
    """Publish stored practices to the practices topic again (after a failed publish)."""
    with open_store(publish=True) as store:
        for pid in [practice_id] if practice_id else store.practice_ids():
            revision = store.republish(pid)
            if not revision:
                raise click.ClickException(f"unknown practice {pid!r}")
            click.echo(f"published {pid} revision {revision}")
