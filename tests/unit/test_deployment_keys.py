"""The vault and dead-letter keys: configured keys win, a generated key only for the
local stack or with the explicit opt-in, key files private from their first byte,
and two workers racing to make one end up with the same key."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from engine.adapters.dead_letters import dead_letter_key
from engine.adapters.deployment_keys import (
    DEAD_LETTER_KEY,
    VAULT_KEY,
    KeyConfigurationError,
    KeySpec,
    deployment_key,
    existing_key,
    load_or_create_key_file,
    read_key_file,
)
from engine.adapters.push_setup import build_vault
from engine.settings import Settings, load_settings

LOCAL = {"kafka_bootstrap_servers": None, "redis_url": None}


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """Mode 0600 must come from the code, not from a strict umask."""
    old = os.umask(0)
    yield
    os.umask(old)


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return load_settings(state_dir=tmp_path, **{**LOCAL, **changes})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_configured_key_is_used_as_it_is(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    s = _settings(tmp_path, dead_letter_key=key, redis_url="redis://redis:6379/0")
    assert dead_letter_key(s) == key.encode()
    assert not (tmp_path / "deadletter.key").exists()


def test_the_local_stack_generates_a_private_key_once(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    first = dead_letter_key(s)
    Fernet(first)
    assert _mode(tmp_path / "deadletter.key") == 0o600
    assert dead_letter_key(s) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deadletter.key"]  # no drafts left


@pytest.mark.parametrize(
    "external",
    [
        {"kafka_bootstrap_servers": "kafka-0.kafka:9092"},
        {"redis_url": "redis://redis:6379/0"},
    ],
    ids=["kafka", "redis"],
)
@pytest.mark.parametrize("spec", [DEAD_LETTER_KEY, VAULT_KEY], ids=lambda s: s.file_name)
def test_no_generated_key_with_an_external_service(
    tmp_path: Path, external: dict[str, str], spec: KeySpec
) -> None:
    s = _settings(tmp_path, **external)
    with pytest.raises(KeyConfigurationError) as caught:
        deployment_key(s, spec, None)
    message = str(caught.value)
    assert spec.setting in message and "NIGHTLINE_ALLOW_GENERATED_KEYS=1" in message
    assert list(tmp_path.iterdir()) == []


def test_an_old_generated_key_is_not_used_by_a_deployment_either(tmp_path: Path) -> None:
    dead_letter_key(_settings(tmp_path))  # made by `make run` earlier
    with pytest.raises(KeyConfigurationError, match="NIGHTLINE_DEAD_LETTER_KEY"):
        dead_letter_key(_settings(tmp_path, redis_url="redis://redis:6379/0"))


def test_the_opt_in_allows_a_generated_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTLINE_ALLOW_GENERATED_KEYS", "1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("NIGHTLINE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("NIGHTLINE_VAULT_KEY", raising=False)
    s = load_settings()
    assert s.allow_generated_keys and not s.local_redis
    vault = build_vault(s, None)  # type: ignore[arg-type]  # no Redis call is made
    assert vault is not None and _mode(tmp_path / "vault.key") == 0o600


def test_the_key_file_is_private_before_it_has_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys" / "vault.key"
    seen: list[tuple[int, bytes]] = []
    real_link = os.link

    def link(src: str | Path, dst: str | Path) -> None:
        assert not Path(dst).exists()
        seen.append((_mode(Path(src)), Path(src).read_bytes()))
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link)
    key = load_or_create_key_file(path)
    assert seen == [(0o600, key)]  # complete and private when it appears
    assert _mode(path) == 0o600


def test_a_worker_that_loses_the_race_uses_the_winners_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "deadletter.key"
    winner = Fernet.generate_key()
    real_link = os.link

    def link(src: str | Path, dst: str | Path) -> None:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the other worker
        os.write(fd, winner)
        os.close(fd)
        real_link(src, dst)  # raises FileExistsError

    monkeypatch.setattr(os, "link", link)
    assert load_or_create_key_file(path) == winner
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deadletter.key"]


def test_workers_starting_at_once_share_one_key(tmp_path: Path) -> None:
    path = tmp_path / "deadletter.key"
    start = threading.Barrier(8)
    keys: list[bytes] = []

    def worker() -> None:
        start.wait()
        keys.append(load_or_create_key_file(path))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert path.read_bytes() == keys[0]


def test_a_key_file_others_can_read_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "deadletter.key"
    key = Fernet.generate_key()
    path.write_bytes(key)
    path.chmod(0o644)
    assert read_key_file(path) == key
    assert _mode(path) == 0o600


def test_a_file_without_a_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "deadletter.key"
    path.write_bytes(b"")
    with pytest.raises(KeyConfigurationError, match="does not hold a Fernet key"):
        dead_letter_key(_settings(tmp_path))


def test_tools_read_the_workers_key_but_never_make_one(tmp_path: Path) -> None:
    s = _settings(tmp_path, redis_url="redis://redis:6379/0")
    with pytest.raises(KeyConfigurationError, match="NIGHTLINE_DEAD_LETTER_KEY"):
        existing_key(s, DEAD_LETTER_KEY, None)
    assert list(tmp_path.iterdir()) == []
    made = dead_letter_key(_settings(tmp_path))
    assert existing_key(s, DEAD_LETTER_KEY, None) == made.decode()
