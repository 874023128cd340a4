"""``nightline stack up|down|status``: the local Kafka + Redis (and the fake push
providers and the API) from the command line.

Settings are read inside each command (never at import), so ``--help`` works anywhere.
Register with ``from engine.cli.stack import stack`` and ``main.add_command(stack)``.
"""

from __future__ import annotations

import sys

import click

from engine.settings import load_settings

__all__ = ["stack"]


@click.group(name="stack")
def stack() -> None:
    """Run the local Kafka (KRaft) and Redis that a worker needs."""


@stack.command()
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for health.")
@click.option("--api/--no-api", default=True, show_default=True, help="Also run `nightline api`.")
def up(timeout: float, api: bool) -> None:
    """Start (or reuse) the local Kafka and Redis and wait until both answer; then the
    fake APNs / FCM (with NIGHTLINE_PUSH_GATEWAY=local-fakes) and the API."""
    from engine.stack import KafkaError, RedisError, stack_up

    settings = load_settings()
    try:
        info = stack_up(settings, timeout_s=timeout)
    except (KafkaError, RedisError) as exc:
        click.echo(f"stack up failed: {exc}", err=True)
        sys.exit(1)
    for name, address, pid, state in (
        ("kafka", info.kafka_servers, info.kafka_pid, info.kafka_state),
        ("redis", info.redis_url, info.redis_pid, info.redis_state),
    ):
        where = f"pid {pid}" if pid else "not managed here"
        click.echo(f"{name:<6} {address:<28} {state:<8} ({where})")
    if settings.push_gateway == "local-fakes":
        from engine.stack.push_fakes import PushFakeError, start_push_fakes

        try:
            fakes = start_push_fakes(settings)
        except PushFakeError as exc:
            click.echo(f"stack up failed: {exc}", err=True)
            sys.exit(1)
        for name, (pid, reused) in fakes.items():
            port = settings.fake_apns_port if name == "fake-apns" else settings.fake_fcm_port
            state = "reused" if reused else "started"
            click.echo(f"{name:<9} 127.0.0.1:{port:<18} {state:<8} (pid {pid})")
    if api:
        from engine.cli.api import api_url
        from engine.stack.api_process import ApiStartError, start_api

        try:
            pid, reused = start_api(settings)
        except ApiStartError as exc:
            click.echo(f"stack up failed: {exc}", err=True)
            sys.exit(1)
        state = "reused" if reused else "started"
        click.echo(f"{'api':<6} {api_url(settings):<28} {state:<8} (pid {pid})")
    click.echo(f"ready in {info.elapsed_s:.1f} s (state dir {settings.state_dir.resolve()})")


@stack.command()
def down() -> None:
    """Stop the local Kafka and Redis of this state dir (external ones are left alone)."""
    from engine.stack import stack_down
    from engine.stack.api_process import stop_api
    from engine.stack.push_fakes import stop_push_fakes

    settings = load_settings()
    api_pid = stop_api(settings)
    if api_pid:
        click.echo(f"{'api':<9} stopped (pid {api_pid})")
    for name, pid in stop_push_fakes(settings).items():  # whatever the gateway setting now
        if pid:
            click.echo(f"{name:<9} stopped (pid {pid})")
    stopped = stack_down(settings)
    for name, local in (("kafka", settings.local_kafka), ("redis", settings.local_redis)):
        pid = stopped[name]
        state = (
            f"stopped (pid {pid})"
            if pid
            else "was not running"
            if local
            else "external, left alone"
        )
        click.echo(f"{name:<6} {state}")


@stack.command()
def status() -> None:
    """Show each service (and the fake APNs / FCM when they run or
    NIGHTLINE_PUSH_GATEWAY=local-fakes); exit 1 when one of them is not healthy."""
    from engine.stack import stack_status

    report = stack_status(load_settings())
    rows = [("SERVICE", "MODE", "ADDRESS", "PID", "HEALTH")]
    for name, item in report.items():
        health = "ok" if item["healthy"] else f"DOWN: {item['error']}"
        rows.append((name, item["mode"], item["address"], str(item["pid"] or "-"), health))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        click.echo("  ".join([*cells, row[4]]))
    sys.exit(0 if all(item["healthy"] for item in report.values()) else 1)
