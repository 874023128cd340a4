"""``nightline verify``: does every intake record of the last hour (or ``--since``) end
with an outcome, and which dispatches has nobody taken yet? For tests and SREs.

Reads the topics only (never Redis, never PHI): intake record ids and places, and the
ids in ``dispatch.state``, ``office.held``, ``deadletter`` and ``operator.alerts``. Exits
1 when any intake record has no terminal outcome (see :mod:`engine.outcomes`).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import click

from engine.settings import load_settings

__all__ = ["verify"]

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _span(text: str) -> timedelta:
    found = _SPAN.match(text.strip())
    if not found:
        raise click.BadParameter(f"{text!r} is not a span like 30s, 15m, 1h or 2d")
    return timedelta(seconds=float(found.group(1)) * _UNIT[found.group(2)])


@click.command("verify")
@click.option("--since", default="1h", show_default=True, help="How far back: 30s, 15m, 1h, 2d.")
@click.option(
    "--grace",
    default="30s",
    show_default=True,
    help="Records younger than this may still be in progress: pending, not violations.",
)
@click.option(
    "--unowned-after",
    default="5m",
    show_default=True,
    help="List dispatches nobody has taken after this long.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option(
    "--audit-chain",
    is_flag=True,
    help="Instead: recompute the audit topic's hash chain and compare it with the one kept.",
)
def verify(since: str, grace: str, unowned_after: str, as_json: bool, audit_chain: bool) -> None:
    """Report every intake record without a terminal outcome (dispatched, held, delivered
    to the office, or dead-lettered with a desk alert), and unowned dispatches; or, with
    --audit-chain, whether the audit trail is the one that was written."""
    if audit_chain:
        _verify_audit_chain(as_json)
        return
    from engine.adapters.topic_reader import read_since
    from engine.handlers.desk_alerts import peek_intake
    from engine.outcomes import IntakeRecord, collect_evidence
    from engine.outcomes import verify as check
    from engine.schemas.catalogue import spec
    from engine.schemas.codec import DecodeError, decode

    s = load_settings()
    now = datetime.now(UTC)
    start = now - _span(since)

    def events(name: str) -> list[object]:
        adapter = spec(name).adapter
        found = []
        for record in read_since(s.kafka_servers, s.topic(name), start):
            try:
                found.append(decode(adapter, record.value))
            except DecodeError:
                continue  # not ours to judge here
        return found

    intake = [
        IntakeRecord(r.partition, r.offset, r.at, peek_intake(r.value)[1])
        for r in read_since(s.kafka_servers, s.topic("intake"), start)
    ]
    evidence = collect_evidence(
        s.topic("intake"),
        events("dispatch.state"),
        events("office.held"),
        events("deadletter"),
        events("operator.alerts"),
    )
    report = check(intake, evidence, now, _span(grace), _span(unowned_after))
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(report.counts.items())) or "none"
        click.echo(f"intake records since {start.isoformat(timespec='seconds')}: {counts}")
        for record, outcome in report.violations:
            event = record.event_id or "unreadable event id"
            place = f"partition {record.partition} offset {record.offset}"
            click.echo(f"VIOLATION {outcome}: {place} ({event})")
        for item in report.unowned:
            since_text = item.since.isoformat(timespec="seconds")
            click.echo(f"unowned since {since_text}: {item.dispatch_id} ({item.status})")
        click.echo("ok" if report.ok else f"{len(report.violations)} record(s) without an outcome")
    if not report.ok:
        raise SystemExit(1)


def _verify_audit_chain(as_json: bool) -> None:
    import asyncio

    from engine.adapters.redis_client import connect_redis
    from engine.adapters.redis_keys import Keys
    from engine.adapters.topic_reader import partition_ids, stream_since
    from engine.api.audit_chain import AuditChain, PartitionCheck

    s = load_settings()
    partitions = partition_ids(s.kafka_servers, s.topic("audit"))

    async def kept() -> dict[int, PartitionCheck]:
        redis = connect_redis(s)
        try:
            chain = AuditChain(redis, Keys(s.topic_prefix))
            return {p: PartitionCheck(p, *await chain.state(p)) for p in partitions}
        finally:
            await redis.aclose()

    checks = asyncio.run(kept())
    for r in stream_since(s.kafka_servers, s.topic("audit"), datetime(1970, 1, 1, tzinfo=UTC)):
        checks[r.partition].feed(r.offset, r.value or b"")
    breaks = [b for _, check in sorted(checks.items()) for b in check.finish()]
    checked = sum(c.checked for c in checks.values())
    pending = sum(c.pending for c in checks.values())
    if as_json:
        click.echo(json.dumps({"ok": not breaks, "records": checked, "not_yet_chained": pending,
                               "breaks": [b.__dict__ for b in breaks]}))  # fmt: skip
    else:
        for b in breaks:
            click.echo(f"BROKEN: audit partition {b.partition} offset {b.offset}: {b.reason}")
        waiting = f" ({pending} newer, not chained yet)" if pending else ""
        click.echo(f"audit chain: {checked} record(s) checked{waiting}; " + (
            "ok" if not breaks else f"{len(breaks)} break(s)"))  # fmt: skip
    if breaks:
        raise SystemExit(1)
