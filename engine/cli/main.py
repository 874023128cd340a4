"""The ``nightline`` command line: worker, local stack, topics, schemas, and
tools to publish sample calls and watch what happens."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click

from engine.settings import load_settings

__all__ = ["main"]


@click.group()
def main() -> None:
    """Nightline: event-driven dispatch for medical answering services."""


@main.command()
@click.option("--ensure-topics/--no-ensure-topics", default=True, show_default=True)
def worker(ensure_topics: bool) -> None:
    """Run a stream worker (intake, acks, commands, timers)."""
    from engine.worker import run_worker

    settings = load_settings()
    run_worker(settings, ensure=ensure_topics)


@main.group()
def settings() -> None:
    """Settings (environment variables)."""


@settings.command("sample")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("deploy/nightline.env.sample"),
    show_default=True,
)
def settings_sample(out: Path) -> None:
    """Write the documented sample env file."""
    from engine.settings import render_env_sample

    out.write_text(render_env_sample())
    click.echo(str(out))


@main.group()
def topics() -> None:
    """Kafka topics of the catalogue."""


@topics.command("create")
def topics_create() -> None:
    """Create missing catalogue topics with their retention settings."""
    from engine.producer import ensure_topics

    s = load_settings()
    created = ensure_topics(
        s.kafka_servers, s.topic_prefix, s.topic_partitions, s.topic_replication
    )
    click.echo("\n".join(created) if created else "all topics exist")


@main.group()
def schemas() -> None:
    """JSON Schema of every event contract, and the API's OpenAPI document."""


@schemas.command("export")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
def schemas_export(directory: Path | None) -> None:
    """Write JSON Schema files (default: engine/schemas/json/) and docs/openapi.json."""
    from engine.api.app import OPENAPI_FILE, render_openapi
    from engine.schemas.export import SCHEMA_DIR, export_schemas

    for path in export_schemas(directory or SCHEMA_DIR):
        click.echo(str(path))
    if directory is None:
        OPENAPI_FILE.parent.mkdir(parents=True, exist_ok=True)
        OPENAPI_FILE.write_text(render_openapi())
        click.echo(str(OPENAPI_FILE))


@main.command()
@click.option("--sample", type=click.Choice(["urgent", "emergency", "routine"]), default=None)
@click.option("--practice", default="demo-peds", show_default=True)
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A JSON intake event to validate and send.",
)
@click.option(
    "--print",
    "print_only",
    is_flag=True,
    help="Print the event as JSON instead of sending it (e.g. to pipe into curl).",
)
def publish(sample: str | None, practice: str, file: Path | None, print_only: bool) -> None:
    """Publish a sample call or an intake event from a JSON file."""
    from pydantic import TypeAdapter, ValidationError

    from engine.producer import NightlineProducer
    from engine.samples import sample_event
    from engine.schemas.codec import safe_validation_summary
    from engine.schemas.intake import IntakeEvent

    s = load_settings()
    if file is not None:
        adapter = TypeAdapter(IntakeEvent)
        try:
            event = adapter.validate_json(file.read_bytes())
        except ValidationError as exc:
            raise click.ClickException(f"{file}: {safe_validation_summary(exc, adapter)}") from exc
    elif sample is not None:
        event = sample_event(sample, practice, datetime.now(UTC))
    else:
        raise click.UsageError("give --sample KIND or --file EVENT.json")
    if print_only:
        click.echo(event.model_dump_json(exclude_none=True))
        return
    with NightlineProducer(s.kafka_servers, s.topic_prefix) as producer:
        producer.send_intake(event)
    click.echo(f"sent {event.kind} event {event.event_id}; dispatch id d-{event.event_id}")


@main.command()
@click.argument("dispatch_id")
@click.option("--clinician", default=None, help="Acknowledge as this clinician (the app).")
@click.option("--operator", default=None, help="Claim or close as this operator (the desk).")
@click.option("--desk", default=None, help="The operator's desk (with --operator).")
@click.option("--page", type=int, default=None, help="The page it answers (receipts need it).")
@click.option(
    "--kind",
    type=click.Choice(
        ["received", "displayed", "read", "accepted", "declined", "callback_completed"]
    ),
    default="accepted",
)
def ack(
    dispatch_id: str,
    clinician: str | None,
    operator: str | None,
    desk: str | None,
    page: int | None,
    kind: str,
) -> None:
    """Send an acknowledgement as the clinician app (--clinician) or the desk would
    (--operator and --desk: an operator claims a dispatch with the default --kind accepted)."""
    from pydantic import TypeAdapter, ValidationError

    from engine.producer import NightlineProducer
    from engine.schemas.acks import AckKind, Acknowledgement
    from engine.schemas.codec import safe_validation_summary

    s = load_settings()
    try:
        event = Acknowledgement(
            dispatch_id=dispatch_id,
            clinician_id=clinician,
            operator_id=operator,
            desk_id=desk,
            page=page,
            kind=AckKind(kind),
            at=datetime.now(UTC),
        )
    except ValidationError as exc:
        summary = safe_validation_summary(exc, TypeAdapter(Acknowledgement))
        raise click.UsageError(summary) from exc
    with NightlineProducer(s.kafka_servers, s.topic_prefix) as producer:
        producer.send_ack(event)
    who = clinician or f"{operator} at {desk}"
    click.echo(f"sent {kind} from {who} for {dispatch_id}")


@main.command()
def pushes() -> None:
    """Show what the recording push gateway 'sent' (ids and generic text only)."""
    from redis import Redis

    from engine.adapters.redis_keys import Keys

    s = load_settings()
    client = Redis.from_url(s.redis_dsn)
    for raw in client.lrange(Keys(s.topic_prefix).recorded_pushes, 0, -1):
        click.echo(json.dumps(json.loads(raw)))


@main.command()
@click.argument("topic")
@click.option("--timeout", default=2.0, show_default=True)
def tail(topic: str, timeout: float) -> None:
    """Print the events of a catalogue topic (audit, dispatch.state, operator.alerts...)."""
    from kafka import KafkaConsumer

    s = load_settings()
    consumer = KafkaConsumer(
        s.topic(topic),
        bootstrap_servers=s.kafka_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout * 1000),
        group_id=f"nightline-tail-{uuid.uuid4().hex[:8]}",
    )
    for record in consumer:
        click.echo(record.value.decode(errors="replace"))
    consumer.close()


@main.group()
def clock() -> None:
    """The shared test clock (only with NIGHTLINE_CLOCK=redis-offset)."""


@clock.command("advance")
@click.argument("seconds", type=float)
def clock_advance(seconds: float) -> None:
    """Move every worker's clock forward by SECONDS."""
    from redis import Redis

    from engine.adapters.redis_keys import Keys

    s = load_settings()
    offset = Redis.from_url(s.redis_dsn).incrbyfloat(Keys(s.topic_prefix).clock_offset, seconds)
    click.echo(f"clock offset now {offset} s")


def _register_groups() -> None:
    from engine.cli.accounts import accounts
    from engine.cli.api import api_command, api_keys
    from engine.cli.deadletter import deadletter
    from engine.cli.device import device
    from engine.cli.repair import dispatches
    from engine.cli.schedule import schedule
    from engine.cli.stack import stack
    from engine.cli.triage import triage_command
    from engine.cli.verify import verify
    from engine.standins.fake_apns import fake_apns_command
    from engine.standins.fake_fcm import fake_fcm_command

    main.add_command(stack)
    main.add_command(api_command)
    main.add_command(api_keys)
    main.add_command(accounts)
    main.add_command(schedule)
    main.add_command(triage_command)
    main.add_command(verify)
    main.add_command(device)
    main.add_command(deadletter)
    main.add_command(dispatches)
    main.add_command(fake_apns_command)
    main.add_command(fake_fcm_command)


_register_groups()
