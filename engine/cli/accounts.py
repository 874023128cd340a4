"""``nightline accounts``: create, list, disable and enable people's accounts, and reset a
password (an administrator's task; the web portal will offer the same).

A new password is read from standard input (``--password-stdin``) or asked for without
echo; it is never an argument, which would land in the shell history. Accounts of
administrators get a TOTP secret at creation: the command prints its ``otpauth://`` URI
once, for an authenticator app.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.settings import load_settings

if TYPE_CHECKING:
    from engine.api.accounts import AccountStore

__all__ = ["accounts"]

_ROLES = ["service_admin", "practice_admin", "clinician", "operator", "sre", "billing"]


@asynccontextmanager
async def _store() -> AsyncIterator[AccountStore]:
    from engine.api.services import build_api_services

    services = build_api_services(load_settings())
    try:
        yield services.accounts
    finally:
        await services.redis.aclose()


def _new_password(from_stdin: bool) -> str:
    from engine.api.security import weak_password_reason

    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    reason = weak_password_reason(password)
    if reason:
        raise click.UsageError(reason)
    return password


@click.group("accounts")
def accounts() -> None:
    """People's accounts for the API and the portal (roles, practices, TOTP)."""


@accounts.command("create")
@click.option("--username", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(_ROLES))
@click.option("--practice", "practices", multiple=True, help="A practice it may act for.")
@click.option("--clinician-id", default=None, help="The clinician in the schedules (clinician).")
@click.option("--desk", "desks", multiple=True, help="An operator desk it works (operator).")
@click.option("--totp", is_flag=True, help="Require TOTP (always on for administrators).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--if-absent", is_flag=True, help="Do nothing if the username exists (demos).")
@click.option(
    "--totp-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Demos only: keep the TOTP secret in this owner-only file (reused if it exists), "
    "for `nightline accounts totp-code`.",
)
def create(
    username: str,
    roles: tuple[str, ...],
    practices: tuple[str, ...],
    clinician_id: str | None,
    desks: tuple[str, ...],
    totp: bool,
    password_stdin: bool,
    if_absent: bool,
    totp_secret_file: Path | None,
) -> None:
    """Create an account; prints its id (and a TOTP URI when it has TOTP)."""
    from engine.api.accounts import TOTP_ROLES, Account, Role, UsernameTakenError
    from engine.api.security import hash_password, new_totp_secret, totp_uri

    if "clinician" in roles and not clinician_id:
        raise click.UsageError("a clinician account needs --clinician-id")
    if "service_admin" not in roles and not practices:
        raise click.UsageError("give --practice (every role but service_admin is scoped)")
    role_set = frozenset(Role(r) for r in roles)
    secret = new_totp_secret() if totp or role_set & TOTP_ROLES else None
    if secret and totp_secret_file is not None:
        if totp_secret_file.exists():
            secret = totp_secret_file.read_text().strip()
        else:
            totp_secret_file.parent.mkdir(parents=True, exist_ok=True)
            totp_secret_file.touch(mode=0o600)
            totp_secret_file.write_text(secret + "\n")
    account = Account(
        account_id="",
        username=username,
        roles=role_set,
        practices=frozenset(practices),
        clinician_id=clinician_id,
        desks=frozenset(desks),
        password_hash=hash_password(_new_password(password_stdin)),
        totp_secret=secret,
        created_at=datetime.now(UTC),
    )

    async def run() -> str:
        from engine.cli.change_audit import audit_change

        async with _store() as store:
            created = await store.create(account)
            try:
                audit_change("account", created.account_id, created.practices, "account_invited",
                             f"roles={','.join(sorted(created.roles))}")  # fmt: skip
            except click.ClickException:
                await store.remove(created)  # no unaudited account
                raise
            return created.account_id

    try:
        account_id = asyncio.run(run())
    except UsernameTakenError:
        if if_absent:
            return
        raise click.UsageError(f"username {username!r} is taken") from None
    click.echo(account_id)
    if secret:
        click.echo(f"TOTP (scan once): {totp_uri(secret, username)}", err=True)


@accounts.command("totp-code")
@click.option(
    "--secret-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
def totp_code(secret_file: Path) -> None:
    """Demos only: the current code for a secret kept with --totp-secret-file."""
    import pyotp

    click.echo(pyotp.TOTP(secret_file.read_text().strip()).now())


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_accounts(as_json: bool) -> None:
    """Every account: roles, scope, state and the last sign-in (never a secret)."""

    async def run() -> None:
        async with _store() as store:
            rows = await store.all()
        for a in rows:
            row = {
                "account_id": a.account_id,
                "username": a.username,
                "roles": sorted(a.roles),
                "practices": sorted(a.practices),
                "clinician_id": a.clinician_id,
                "desks": sorted(a.desks),
                "totp": a.totp_secret is not None,
                "disabled": a.disabled,
                "last_sign_in_at": a.last_sign_in_at.isoformat() if a.last_sign_in_at else None,
                "last_sign_in_from": a.last_sign_in_from,
            }
            if as_json:
                click.echo(json.dumps(row))
            else:
                state = "disabled" if a.disabled else "active"
                roles, scope = ",".join(sorted(a.roles)), ",".join(sorted(a.practices))
                click.echo(f"{a.username:24} {state:8} {roles}  {scope or '*'}")

    asyncio.run(run())


def _update(username: str, action: str, *, end_sessions: bool = False, **changes: object) -> None:
    from engine.api.services import build_api_services
    from engine.cli.change_audit import audit_change

    async def run() -> None:
        services = build_api_services(load_settings())
        try:
            account = await services.accounts.by_username(username)
            if account is None:
                raise click.UsageError(f"no account {username!r}")
            audit_change("account", account.account_id, account.practices, action)  # first
            await services.accounts.save(type(account)(**{**account.__dict__, **changes}))
            if end_sessions:
                ended = await services.sessions.revoke_all(account.account_id)
                click.echo(f"ended {ended} session(s)", err=True)
        finally:
            await services.redis.aclose()

    asyncio.run(run())


@accounts.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable an account: its sessions end now."""
    _update(username, "account_disabled", end_sessions=True, disabled=True)
    click.echo(f"disabled {username}")


@accounts.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    _update(username, "account_enabled", disabled=False)
    click.echo(f"enabled {username}")


@accounts.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password (an administrator's reset); every session of the account ends."""
    from engine.api.security import hash_password

    password = hash_password(_new_password(password_stdin))
    _update(username, "password_reset", end_sessions=True, password_hash=password)
    click.echo(f"password reset for {username}")
