"""``nightline api`` (serve the HTTP API) and ``nightline api-keys`` (integration keys).

The API serves TLS with a self-signed certificate made in the state dir unless told
otherwise (``NIGHTLINE_API_TLS``): ``files`` uses your certificate, ``off`` plain HTTP
for behind a TLS-terminating ingress. Key commands print a new key once; only its
digest is stored.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.settings import Settings, load_settings

if TYPE_CHECKING:
    from engine.api.api_keys import ApiKeyRecord, ApiKeyStore
    from engine.api.security import IssuedKey

__all__ = ["api_command", "api_keys"]


def tls_files(settings: Settings) -> tuple[Path, Path, Path | None] | None:
    """(certificate, key, CA to trust or None) for the API's TLS mode, or None for off."""
    if settings.api_tls == "off":
        return None
    if settings.api_tls == "files":
        if not (settings.api_tls_cert_file and settings.api_tls_key_file):
            raise click.UsageError(
                "NIGHTLINE_API_TLS=files needs NIGHTLINE_API_TLS_CERT_FILE and "
                "NIGHTLINE_API_TLS_KEY_FILE"
            )
        return settings.api_tls_cert_file, settings.api_tls_key_file, None
    from engine.stack.local_tls import write_tls_files

    ca, cert, key = write_tls_files(settings.state_dir / "api-tls", "Nightline local API CA")
    return cert, key, ca


def api_url(settings: Settings) -> str:
    scheme = "http" if settings.api_tls == "off" else "https"
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
    return f"{scheme}://{host}:{settings.api_port}"


@click.command("api")
@click.option("--host", default=None, help="Bind address (default NIGHTLINE_API_HOST).")
@click.option("--port", type=int, default=None, help="Port (default NIGHTLINE_API_PORT).")
def api_command(host: str | None, port: int | None) -> None:
    """Serve the HTTP API (ingest, clinician app, desk, administration)."""
    import uvicorn

    from engine.api.app import create_api
    from engine.api.middleware import QuietErrors
    from engine.api.services import build_api_services

    overrides: dict[str, object] = {}
    if host:
        overrides["api_host"] = host
    if port:
        overrides["api_port"] = port
    settings = load_settings(**overrides)
    tls = tls_files(settings)
    app = create_api(settings, build_api_services(settings))
    click.echo(f"nightline api listening on {api_url(settings)}", err=True)
    if tls is not None and tls[2] is not None:
        click.echo(f"  self-signed: trust {tls[2]} (curl --cacert)", err=True)
    uvicorn.run(
        QuietErrors(app),
        host=settings.api_host,
        port=settings.api_port,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
        log_level=settings.log_level.lower(),
        access_log=False,  # paths hold ids; request metrics carry route templates only
        proxy_headers=True,
        forwarded_allow_ips=settings.api_forwarded_allow_ips,
        server_header=False,
    )


@click.group("api-keys")
def api_keys() -> None:
    """Integration API keys for POST /v1/intake: create, rotate, revoke, list."""


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[ApiKeyStore]:
    from engine.adapters.redis_client import connect_redis
    from engine.adapters.redis_keys import Keys
    from engine.api.api_keys import ApiKeyStore

    redis = connect_redis(settings)
    try:
        yield ApiKeyStore(redis, Keys(settings.topic_prefix))
    finally:
        await redis.aclose()


def _now() -> datetime:
    return datetime.now(UTC)


async def _audited_issue(
    store: ApiKeyStore, integration: str, practices: tuple[str, ...]
) -> tuple[IssuedKey, ApiKeyRecord]:
    """Issue a key and audit it; a key whose audit entry cannot be written is revoked."""
    from engine.cli.change_audit import audit_change

    issued, record = await store.issue(integration, frozenset(practices), _now())
    try:
        audit_change("api_key", record.key_id, record.practices, "api_key_issued",
                     f"integration={integration}"[:300])  # fmt: skip
    except click.ClickException:
        await store.revoke(record.key_id, _now())
        raise
    return issued, record


async def _audit_key(store: ApiKeyStore, key_id: str, action: str, detail: str = "") -> None:
    """Audit a change of an existing key before it is made."""
    from engine.cli.change_audit import audit_change

    record = await store.get(key_id)
    if record is None:
        raise click.UsageError(f"no API key {key_id}")
    audit_change("api_key", key_id, record.practices, action, detail)


@api_keys.command("create")
@click.option("--integration", required=True, help="Which system uses it, e.g. acme-pbx.")
@click.option("--practice", "practices", multiple=True, required=True, help="A practice it serves.")
def create_key(integration: str, practices: tuple[str, ...]) -> None:
    """Issue a key; it is printed once."""
    settings = load_settings()

    async def run() -> None:
        async with _store(settings) as store:
            missing = [p for p in practices if not await store.practice_exists(p)]
            if missing:
                raise click.UsageError(f"no such practice: {', '.join(missing)}")
            issued, record = await _audited_issue(store, integration, practices)
        click.echo(issued.token)
        served = ", ".join(sorted(practices))
        click.echo(f"key id {record.key_id} for {integration}: {served}", err=True)

    asyncio.run(run())


@api_keys.command("ensure")
@click.option("--integration", required=True, help="Which system uses it, e.g. make-run.")
@click.option("--practice", "practices", multiple=True, required=True)
@click.option(
    "--file",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where the key is kept (owner-only); reused while it is still valid.",
)
def ensure_key(integration: str, practices: tuple[str, ...], key_file: Path) -> None:
    """Print the key kept in --file if it still works for these practices, else issue
    one and keep it there (for `make run` and demos)."""
    settings = load_settings()

    async def run() -> str:
        async with _store(settings) as store:
            if key_file.exists():
                record = await store.authenticate(key_file.read_text().strip(), _now())
                if record is not None and set(practices) <= record.practices:
                    return key_file.read_text().strip()
            issued, _ = await _audited_issue(store, integration, practices)
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600)
        key_file.write_text(issued.token + "\n")
        return issued.token

    click.echo(asyncio.run(run()))


@api_keys.command("rotate")
@click.argument("key_id")
@click.option(
    "--grace-hours", type=float, default=24.0, show_default=True, help="The old key's last hours."
)
def rotate_key(key_id: str, grace_hours: float) -> None:
    """Issue a new key for the same integration; the old one ends after the grace."""
    from engine.api.api_keys import EndedKeyError, UnknownKeyError

    settings = load_settings()

    async def run() -> None:
        try:
            async with _store(settings) as store:
                await _audit_key(store, key_id, "api_key_rotated", f"grace_hours={grace_hours:g}")
                issued, record = await store.rotate(key_id, _now(), timedelta(hours=grace_hours))
        except UnknownKeyError:
            raise click.UsageError(f"no API key {key_id}") from None
        except EndedKeyError:
            raise click.UsageError(
                f"API key {key_id} was revoked or has expired: create a new one"
            ) from None
        click.echo(issued.token)
        click.echo(f"key id {record.key_id}; {key_id} ends in {grace_hours:g} h", err=True)

    asyncio.run(run())


@api_keys.command("revoke")
@click.argument("key_id")
def revoke_key(key_id: str) -> None:
    """End a key now."""
    from engine.api.api_keys import UnknownKeyError

    settings = load_settings()

    async def run() -> None:
        try:
            async with _store(settings) as store:
                await _audit_key(store, key_id, "api_key_revoked")
                await store.revoke(key_id, _now())
        except UnknownKeyError:
            raise click.UsageError(f"no API key {key_id}") from None
        click.echo(f"revoked {key_id}")

    asyncio.run(run())


@api_keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
def list_keys(as_json: bool) -> None:
    """Every key: id, integration, practices, state and dates (never a secret)."""
    settings = load_settings()

    async def run() -> None:
        now = _now()
        async with _store(settings) as store:
            records = await store.all()
        for r in records:
            row = {
                "key_id": r.key_id,
                "integration": r.integration,
                "practices": sorted(r.practices),
                "state": r.state(now),
                "created_at": r.created_at.isoformat(),
                "expires_at": r.expires_at.isoformat() if r.expires_at else None,
                "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
            }
            if as_json:
                click.echo(json.dumps(row))
            else:
                click.echo(f"{r.key_id}  {r.state(now):9} {r.integration:20} "
                           f"{','.join(sorted(r.practices))}")  # fmt: skip

    asyncio.run(run())
