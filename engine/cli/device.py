"""``nightline device``: a virtual clinician phone for tests, the demo and benchmarks.

The phone keeps its private state (RFC 8291 private key, auth secret, push token,
dispatch ids it has handled) in ``<state_dir>/devices/<topic_prefix>/<device_id>.json``,
mode 0600, so deployments sharing a state dir keep their phones apart; a phone kept
where earlier versions kept it (``<state_dir>/devices/<device_id>.json``) is moved
there the first time it is used.
Registry changes go the way the app's go: a DeviceRegistration on the ``devices``
topic, applied by a worker (the command waits until Redis shows it); ``--direct``
applies the same change to Redis itself, for setups without a worker. ``inbox`` and
``listen`` read what the fake APNs / FCM received for the phone's token. ``reactivate``
is for operators: it pushes to phones again that a provider's answers deactivated.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from engine.schemas.devices import DeviceAction, DeviceRegistration
from engine.settings import Settings, load_settings
from engine.standins.phone import (
    IDENTIFIER,
    Decision,
    acks_for,
    describe,
    legacy_state_path,
    new_bodies,
    open_pushes,
    select_bodies,
    state_path,
)
from engine.standins.virtual_device import VirtualDevice, new_push_token

__all__ = ["device", "kafka_unavailable"]

if TYPE_CHECKING:  # imported lazily at run time: the CLI starts without redis or kafka
    from engine.adapters.redis_directory import RedisDeviceDirectory as Registry
    from engine.producer import NightlineProducer

T = TypeVar("T")


def _identifier(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not IDENTIFIER.match(value):
        raise click.BadParameter("use letters, digits and '_.:-' (up to 128 characters)")
    return value


_DEVICE = click.option("--device", "device_id", required=True, callback=_identifier)
_API = click.option(
    "--api",
    "api_url",
    default=None,
    help="Speak the API at this URL as the real app does (sign in, register, acknowledge, "
    "fetch) instead of the topics. With --username; the password comes from "
    "NIGHTLINE_DEVICE_PASSWORD or is asked for.",
)
_USERNAME = click.option("--username", default=None, help="The clinician's login (with --api).")
_CACERT = click.option(
    "--cacert", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="CA to trust for --api (default: the local stack's, when it exists).",
)  # fmt: skip


def _api_phone(s: Settings, phone: VirtualDevice, url: str, username: str | None,
               cacert: Path | None) -> Any:  # fmt: skip
    """A signed-in :class:`~engine.standins.api_phone.ApiPhone` for ``phone``."""
    import os

    from engine.standins.api_phone import ApiPhone, ApiPhoneError

    if not username:
        raise click.UsageError("--api needs --username")
    password = os.environ.get("NIGHTLINE_DEVICE_PASSWORD") or click.prompt(
        "Password", hide_input=True
    )
    local_ca = s.state_dir / "api-tls" / "ca.pem"
    client = ApiPhone(url, phone, cacert or (local_ca if local_ca.exists() else None))
    try:
        client.sign_in(username, password)
    except ApiPhoneError as exc:
        client.close()
        raise click.ClickException(str(exc)) from None
    return client


_DIRECT = click.option(
    "--direct", is_flag=True, help="Write the registry in Redis directly (no worker needed)."
)
_WAIT = click.option(
    "--wait", type=float, default=15.0, show_default=True,
    help="Seconds to wait for the worker to apply the change (without --direct).",
)  # fmt: skip


@click.group()
def device() -> None:
    """A virtual clinician phone: register, receive and decrypt pushes, acknowledge."""


# --- helpers ---------------------------------------------------------------------------
def _phone_path(s: Settings, device_id: str) -> Path:
    """This deployment's file for the phone, moving a phone from the old shared place."""
    path = state_path(s.state_dir, s.topic_prefix, device_id)
    legacy = legacy_state_path(s.state_dir, device_id)
    if not path.exists() and legacy.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        legacy.rename(path)
        click.echo(f"moved {legacy} to {path} (phones are kept per topic prefix)", err=True)
    return path


def _load_phone(s: Settings, device_id: str) -> tuple[VirtualDevice, Path]:
    path = _phone_path(s, device_id)
    try:
        return VirtualDevice.load(path), path
    except FileNotFoundError:
        raise click.ClickException(f"no phone {device_id!r} here (run `device register`)") from None
    except ValueError as exc:
        raise click.ClickException(f"{path}: {exc}") from None


def _with_registry(s: Settings, action: Callable[[Registry, Any], Awaitable[T]]) -> T:
    """Run ``action(directory, redis)`` against the configured Redis."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from engine.adapters.redis_directory import RedisDeviceDirectory
    from engine.adapters.redis_keys import Keys

    async def run() -> T:
        redis = Redis.from_url(s.redis_dsn)
        try:
            return await action(RedisDeviceDirectory(redis, Keys(s.topic_prefix)), redis)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(run())
    except RedisError as exc:
        raise click.ClickException(f"Redis unavailable: {type(exc).__name__}") from exc


@contextmanager
def kafka_unavailable() -> Iterator[None]:
    """Turn a Kafka error into the CLI's "Kafka unavailable" message."""
    from kafka.errors import KafkaError

    try:
        yield
    except KafkaError as exc:
        raise click.ClickException(f"Kafka unavailable: {type(exc).__name__}") from exc


def _producer(s: Settings) -> NightlineProducer:
    """A producer for the configured Kafka, after making sure the topics exist."""
    from engine.producer import NightlineProducer, ensure_topics

    with kafka_unavailable():
        ensure_topics(s.kafka_servers, s.topic_prefix, s.topic_partitions, s.topic_replication)
        return NightlineProducer(s.kafka_servers, s.topic_prefix)


def _apply(s: Settings, change: DeviceRegistration, direct: bool, wait: float,
           done: Callable[[Registry], Awaitable[bool]]) -> str:  # fmt: skip
    """Apply directly, or publish and wait until ``done``; returns how it was applied."""
    if direct:
        from engine.handlers.devices import apply_device_change

        outcome = _with_registry(s, lambda d, _: apply_device_change(d, change))
        if outcome == "unknown_device":
            raise click.ClickException(f"device {change.device_id!r} is not in the registry")
        if outcome == "device_owned_elsewhere":
            raise click.ClickException(
                f"device {change.device_id!r} belongs to another clinician; nothing changed"
            )
        return "directly in Redis"
    with kafka_unavailable(), _producer(s) as producer:
        producer.send_device(change)

    async def poll(directory: Registry, _: Any) -> bool:
        deadline = time.monotonic() + wait
        while not await done(directory):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    if not _with_registry(s, poll):
        raise click.ClickException(
            f"sent {change.action} for {change.device_id} to the devices topic, but no worker "
            f"applied it within {wait:g} s (is a worker running? --direct needs none)"
        )
    return "through the devices topic"


@contextmanager
def _fake_inbox(s: Settings, platform: str) -> Iterator[Callable[[], Any]]:
    """A function that GETs ``/_fake/received`` from the fake APNs or FCM."""
    import httpx

    from engine.stack.push_fakes import provider_settings

    s = provider_settings(s)  # NIGHTLINE_PUSH_GATEWAY=local-fakes: the stack's own fakes
    if platform == "ios":
        ca = str(s.apns_ca_file) if s.apns_ca_file else None
        verify = ssl.create_default_context(cafile=ca)
        client, base = httpx.Client(http2=True, verify=verify, timeout=5.0), s.apns_url
    else:
        client, base = httpx.Client(timeout=5.0), s.fcm_url

    def received() -> Any:
        response = client.get(f"{base.rstrip('/')}/_fake/received")
        response.raise_for_status()
        return response.json()

    with client:
        yield received


def _now() -> datetime:
    return datetime.now(UTC)


# --- registry commands -----------------------------------------------------------------
@device.command("register")
@click.option("--clinician", required=True, callback=_identifier)
@_DEVICE
@click.option("--platform", type=click.Choice(["ios", "android"]), required=True)
@click.option("--critical-alerts", is_flag=True, help="iOS critical alerts allowed.")
@click.option("--token", default=None, help="Push token (default: a new random one).")
@click.option("--app-version", default="virtual-1.0", show_default=True)
@_DIRECT
@_WAIT
@_API
@_USERNAME
@_CACERT
def register(clinician: str, device_id: str, platform: str, critical_alerts: bool,
             token: str | None, app_version: str, direct: bool, wait: float,
             api_url: str | None, username: str | None, cacert: Path | None) -> None:  # fmt: skip
    """Install a phone: make new keys, save them here, register the public half."""
    s = load_settings()
    phone = VirtualDevice(clinician, device_id, platform, push_token=token,
                          app_version=app_version, critical_alerts=critical_alerts)  # fmt: skip
    if api_url:
        from engine.standins.api_phone import ApiPhoneError

        client = _api_phone(s, phone, api_url, username, cacert)
        try:
            client.register()
        except ApiPhoneError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            client.close()
        path = state_path(s.state_dir, s.topic_prefix, device_id)
        phone.save(path)
        click.echo(f"registered {platform} phone {device_id} through the API; state {path}")
        return
    public = phone.device
    change = DeviceRegistration(
        clinician_id=clinician, device_id=device_id, action=DeviceAction.REGISTER,
        platform=public.platform, push_token=public.push_token, public_key=public.public_key,
        auth_secret=public.auth_secret, app_version=app_version,
        critical_alerts=critical_alerts, at=_now(),
    )  # fmt: skip
    path = state_path(s.state_dir, s.topic_prefix, device_id)
    phone.save(path)

    async def stored(directory: Registry) -> bool:
        got = await directory.get(clinician, device_id)
        return got is not None and (got.push_token, got.public_key) == (
            public.push_token, public.public_key,
        )  # fmt: skip

    how = _apply(s, change, direct, wait, stored)
    click.echo(f"registered {platform} phone {device_id} of {clinician} {how}; state {path}")


@device.command("rotate-token")
@_DEVICE
@click.option("--token", default=None, help="The new push token (default: a random one).")
@_DIRECT
@_WAIT
def rotate_token(device_id: str, token: str | None, direct: bool, wait: float) -> None:
    """Give the phone a new push token, as APNs / FCM do now and then."""
    s = load_settings()
    phone, path = _load_phone(s, device_id)
    new = token or new_push_token(phone.platform)
    change = DeviceRegistration(
        clinician_id=phone.clinician_id, device_id=device_id,
        action=DeviceAction.ROTATE_TOKEN, push_token=new, at=_now(),
    )  # fmt: skip

    async def stored(directory: Registry) -> bool:
        got = await directory.get(phone.clinician_id, device_id)
        return got is not None and got.push_token == new and got.active

    phone.push_token = new
    if not direct:  # saved before sending, as `register` does: a worker applies the change
        phone.save(path)  # from the topic even after --wait runs out
    how = _apply(s, change, direct, wait, stored)
    if direct:  # a failed direct change leaves the phone as it was
        phone.save(path)
    click.echo(f"rotated the push token of {device_id} {how}")


@device.command("remove")
@_DEVICE
@_DIRECT
@_WAIT
def remove(device_id: str, direct: bool, wait: float) -> None:
    """Sign out: remove the phone from the registry and delete its local state."""
    s = load_settings()
    phone, path = _load_phone(s, device_id)
    change = DeviceRegistration(
        clinician_id=phone.clinician_id, device_id=device_id, action=DeviceAction.REMOVE,
        at=_now(),
    )  # fmt: skip

    async def gone(directory: Registry) -> bool:
        return await directory.get(phone.clinician_id, device_id) is None

    how = _apply(s, change, direct, wait, gone)
    path.unlink(missing_ok=True)
    click.echo(f"removed {device_id} of {phone.clinician_id} {how}")


@device.command("list")
@click.option("--clinician", required=True, callback=_identifier)
def list_devices(clinician: str) -> None:
    """The registry's view of a clinician's phones (no keys or secrets)."""
    from engine.adapters.redis_keys import Keys

    s = load_settings()

    async def rows(directory: Registry, redis: Any) -> list[str]:
        ids = sorted(
            i.decode() if isinstance(i, bytes) else i
            for i in await redis.hkeys(Keys(s.topic_prefix).devices(clinician))
        )
        lines = []
        for device_id in ids:
            d = await directory.get(clinician, device_id)
            if d is None:
                continue
            reason = await directory.deactivation_reason(clinician, device_id)
            active = "yes" if d.active else "no"
            lines.append(f"{device_id}\t{d.platform}\t{active}\t{d.app_version or '-'}\t"
                         f"{d.last_seen or '-'}\t{reason or '-'}")  # fmt: skip
        return lines

    lines = _with_registry(s, rows)
    if not lines:
        click.echo(f"no devices for {clinician}")
        return
    click.echo("DEVICE\tPLATFORM\tACTIVE\tAPP\tLAST_SEEN\tDEACTIVATED_REASON")
    click.echo("\n".join(lines))


_AGE = re.compile(r"^(\d+)([smhd])$")


def _age(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    match = _AGE.match(value) if value is not None else None
    if value is not None and match is None:
        raise click.BadParameter("use a number and s, m, h or d: 30m, 2h, 1d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    return None if match is None else timedelta(**{unit[match[2]]: int(match[1])})


@device.command("reactivate")
@click.option("--clinician", callback=_identifier, help="Whose device; with --all, only theirs.")
@click.option("--device", "device_id", callback=_identifier, help="The one device to reactivate.")
@click.option("--all", "every", is_flag=True, help="Every deactivated device that matches.")
@click.option("--reason-contains", help="Only reasons containing this, e.g. BadDeviceToken.")
@click.option("--since", callback=_age, help="Only devices deactivated within this: 30m, 2h, 1d.")
@click.option("--yes", is_flag=True, help="With --all: reactivate them (else only list them).")
def reactivate(clinician: str | None, device_id: str | None, every: bool,
               reason_contains: str | None, since: timedelta | None,
               yes: bool) -> None:  # fmt: skip
    """Push to deactivated phones again, after fixing an APNs / FCM setting.

    A provider's configuration error (wrong environment, topic or project) can look
    like dead tokens. One phone: --clinician C --device D. Many: --all with filters,
    which lists what it would reactivate until --yes is given. A token that really is
    dead is deactivated again by its next push.
    """
    if every == (device_id is not None) or (device_id is not None and clinician is None):
        raise click.UsageError("give --clinician and --device, or --all")
    s = load_settings()
    if device_id is not None and clinician is not None:
        if not _with_registry(s, lambda d, _: d.reactivate(clinician, device_id)):
            raise click.ClickException(f"{clinician} has no device {device_id!r}")
        click.echo(f"reactivated {device_id} of {clinician}")
        return
    after = None if since is None else _now() - since
    found = _with_registry(s, lambda d, _: d.deactivated(clinician, reason_contains, after))
    for d in found:
        at = d.at.isoformat(timespec="seconds") if d.at else "-"
        click.echo(f"{d.device.clinician_id}\t{d.device.device_id}\t{at}\t{d.reason or '-'}")
    if not yes:
        click.echo(f"dry run: {len(found)} device(s) would be reactivated; add --yes to do it")
        return

    async def apply(registry: Registry, _: Any) -> int:
        return sum([await registry.reactivate(d.device.clinician_id, d.device.device_id)
                    for d in found])  # fmt: skip

    click.echo(f"reactivated {_with_registry(s, apply)} device(s)")


# --- the phone's screen ----------------------------------------------------------------
@device.command("inbox")
@_DEVICE
def inbox(device_id: str) -> None:
    """Show the pushes this phone received, decrypted.

    This is the phone's own screen, so it shows the (synthetic) patient's details on
    purpose. Never point it at real data.
    """
    import httpx

    s = load_settings()
    phone, _ = _load_phone(s, device_id)
    try:
        with _fake_inbox(s, phone.platform) as received:
            bodies = select_bodies(phone.platform, phone.push_token, received())
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot read the fake's inbox: {type(exc).__name__}") from exc
    pushes = open_pushes(phone, bodies)
    for push in pushes:
        click.echo(describe(push))
    if not pushes:
        click.echo(f"no pushes for {device_id}")


@device.command("listen")
@_DEVICE
@click.option("--accept", "decision", flag_value="accept", default=None, help="Accept each.")
@click.option("--decline", "decision", flag_value="decline", help="Decline each.")
@click.option("--read", is_flag=True, help="Send 'read' after the receipt.")
@click.option("--once", is_flag=True, help="Exit after the first new push.")
@click.option("--timeout", type=float, default=None, help="Stop after S seconds.")
@click.option("--every", type=float, default=0.2, show_default=True, help="Poll interval (s).")
@_API
@_USERNAME
@_CACERT
def listen(device_id: str, decision: Decision | None, read: bool, once: bool,
           timeout: float | None, every: float, api_url: str | None, username: str | None,
           cacert: Path | None) -> None:  # fmt: skip
    """Acknowledge every new push: received, then read, accepted or declined if asked.

    Exits 1 when --timeout passes without a new push.
    """
    import httpx

    s = load_settings()
    phone, path = _load_phone(s, device_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    handled, warned = 0, False
    client = _api_phone(s, phone, api_url, username, cacert) if api_url else None
    producer = _producer(s) if client is None else None
    from engine.standins.api_phone import ApiPhoneError

    closing = contextlib.closing(client) if client is not None else contextlib.nullcontext()
    with producer or contextlib.nullcontext(), closing, _fake_inbox(s, phone.platform) as received:
        while True:
            try:
                bodies = select_bodies(phone.platform, phone.push_token, received())
            except httpx.HTTPError as exc:
                if not warned:
                    click.echo(f"cannot read the fake's inbox yet: {type(exc).__name__}", err=True)
                warned, bodies = True, []
            for push in open_pushes(phone, new_bodies(phone.platform, bodies, phone.handled)):
                first = push.dispatch_id not in phone.handled  # a re-page: the receipt only
                acks = acks_for(phone, push, _now(), read=read and first,
                                decision=decision if first else None)  # fmt: skip
                fetched = ""
                try:
                    if client is not None and push.fetch and first:  # too big for a push
                        fetched = " (message fetched)" if client.fetch(push.dispatch_id) else ""
                    for ack in acks:
                        if client is not None:
                            client.acknowledge(ack)
                        elif producer is not None:
                            producer.send_ack(ack)
                except ApiPhoneError as exc:  # e.g. the session went idle: sign in, retry
                    click.echo(f"{push.dispatch_id}: {exc}; signing in again", err=True)
                    client = _api_phone(s, phone, api_url or "", username, cacert)
                    continue
                phone.handled.update({push.dispatch_id, push.key})
                phone.save(path)
                handled += 1
                kinds = ", ".join(a.kind.value for a in acks)
                click.echo(f"{push.dispatch_id} ({push.urgency or '-'}): sent {kinds}{fetched}")
                if once:
                    return
            if deadline is not None and time.monotonic() >= deadline:
                if handled:
                    click.echo(f"stopped after {timeout:g} s; handled {handled} push(es)")
                    return
                raise click.ClickException(f"no new push for {device_id} within {timeout:g} s")
            time.sleep(every)
