"""The Fernet keys every worker of a deployment must share: the message vault's
(``NIGHTLINE_VAULT_KEY``) and the dead letters' (``NIGHTLINE_DEAD_LETTER_KEY``).

A configured key is used as it is. Without one, a key is generated in the state dir,
but only for the local stack (Kafka and Redis both started by ``nightline stack up``)
or with ``NIGHTLINE_ALLOW_GENERATED_KEYS=1`` (tests and single-machine setups): with
an external Kafka or Redis, workers on other machines would each make their own key
and could not open each other's messages or dead letters, so the worker refuses to
start and names the setting to set.

A generated key file is private from its first byte: it is written to a temporary
file created with ``O_EXCL`` and mode 0600, then hard-linked into place, so a reader
never sees a partial key, and when two workers race, the first link wins and the
other uses that key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from engine.settings import Settings

__all__ = [
    "DEAD_LETTER_KEY",
    "VAULT_KEY",
    "KeyConfigurationError",
    "KeySpec",
    "deployment_key",
    "existing_key",
    "generated_keys_allowed",
    "load_or_create_key_file",
    "read_key_file",
]

log = logging.getLogger(__name__)


class KeyConfigurationError(ValueError):
    """A key is missing or unusable; the message names the setting or file to fix."""


@dataclass(frozen=True)
class KeySpec:
    setting: str  # the environment variable
    file_name: str  # the generated key's file in the state dir


DEAD_LETTER_KEY = KeySpec("NIGHTLINE_DEAD_LETTER_KEY", "deadletter.key")
VAULT_KEY = KeySpec("NIGHTLINE_VAULT_KEY", "vault.key")


def generated_keys_allowed(settings: Settings) -> bool:
    """Only the local stack, or an explicit opt-in, may use a generated key."""
    return settings.allow_generated_keys or (settings.local_kafka and settings.local_redis)


def deployment_key(settings: Settings, spec: KeySpec, configured: str | None) -> str:
    """The configured key(s), else the state dir's generated key where that is allowed."""
    if configured:
        return configured
    if not generated_keys_allowed(settings):
        raise KeyConfigurationError(
            f"{spec.setting} is not set. Kafka or Redis is external (KAFKA_BOOTSTRAP_SERVERS "
            f"/ REDIS_URL), so every worker of this deployment must share one key: set "
            f"{spec.setting} to a Fernet key (python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'). For a test setup on one "
            f"machine, NIGHTLINE_ALLOW_GENERATED_KEYS=1 keeps a generated key in "
            f"{settings.state_dir}."
        )
    return load_or_create_key_file(settings.state_dir / spec.file_name).decode()


def existing_key(settings: Settings, spec: KeySpec, configured: str | None) -> str:
    """The configured key, else the one a worker generated in the state dir; never makes
    one (for tools that read what workers wrote)."""
    if configured:
        return configured
    key = read_key_file(settings.state_dir / spec.file_name)
    if key is None:
        raise KeyConfigurationError(
            f"{spec.setting} is not set and {settings.state_dir / spec.file_name} does not "
            f"exist: set {spec.setting} to the deployment's key (or NIGHTLINE_STATE_DIR to the "
            "worker's state dir on the machine that generated it)"
        )
    return key.decode()


def load_or_create_key_file(path: Path) -> bytes:
    """The key in ``path``, made (private, atomically) when there is none."""
    key = read_key_file(path)
    if key is not None:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(Fernet.generate_key())
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another worker published a key first
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    key = read_key_file(path)
    assert key is not None  # linked by us or by the worker that won the race
    return key


def read_key_file(path: Path) -> bytes | None:
    """The key in ``path`` (None when there is no file); a file others could read is
    made private first."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & 0o077:
        path.chmod(0o600)
        log.warning("key file %s was readable by others; it is now mode 0600", path)
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError as exc:
        raise KeyConfigurationError(
            f"{path} does not hold a Fernet key (32 url-safe base64 bytes)"
        ) from exc
    return key
