"""The API as ``nightline stack up`` runs it: a real uvicorn process serving TLS with the
generated certificate, an ingest call through it to the real worker's push, and the
``nightline api-keys`` commands on the real Redis."""

from __future__ import annotations

import json
import os
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.handlers.intake import dispatch_id_for
from engine.settings import Settings, load_settings
from engine.stack import _process
from engine.stack.api_process import api_report, start_api, stop_api
from tests.integration import scenario_data as data
from tests.integration.harness import Harness, free_port, wait_for


@pytest.fixture()
def api_env(harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The environment a `stack up` of the harness's deployment would give the API."""
    for name in list(os.environ):
        if name.startswith("NIGHTLINE_"):
            monkeypatch.delenv(name)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": harness.settings.kafka_servers,
        "REDIS_URL": harness.settings.redis_dsn,
        "NIGHTLINE_TOPIC_PREFIX": harness.prefix,
        "NIGHTLINE_STATE_DIR": str(tmp_path),
        "NIGHTLINE_API_PORT": str(free_port()),
        "NIGHTLINE_ALLOW_GENERATED_KEYS": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.fixture()
def api_process(api_env: Settings) -> Iterator[Settings]:
    pid, reused = start_api(api_env)
    assert not reused and pid > 0
    yield api_env
    stop_api(api_env)


def _key(practice: str) -> str:
    result = CliRunner().invoke(
        main, ["api-keys", "create", "--integration", "pbx", "--practice", practice]
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def test_the_stack_api_serves_tls_and_a_call_reaches_the_phone(
    harness: Harness, api_process: Settings
) -> None:
    settings = api_process
    harness.load_practice(data.practice("p-srv", timeout_s=120), data.devices_for("dr-ash"))
    ca = settings.state_dir / "api-tls" / "ca.pem"
    assert ca.exists()
    url = f"https://127.0.0.1:{settings.api_port}"
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=str(ca))) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, 60, "the API's /readyz")
        event = json.loads(data.urgent_call("p-srv").model_dump_json())
        answer = client.post("/v1/intake", json=event, headers={"X-Api-Key": _key("p-srv")})
        assert answer.status_code == 202, answer.text
        assert answer.headers["strict-transport-security"]
        assert "server" not in answer.headers
    dispatch_id = dispatch_id_for(uuid.UUID(event["event_id"]))
    wait_for(lambda: harness.pushes(dispatch_id), 15, "the push")
    with pytest.raises(httpx.HTTPError):  # no plain-HTTP fallback on the TLS port
        httpx.get(f"http://127.0.0.1:{settings.api_port}/healthz", timeout=5)
    report = api_report(settings)
    assert report is not None and report["healthy"]
    assert stop_api(settings) is not None
    assert not _process.port_open(settings.api_port)
    assert api_report(settings) is None


def test_api_key_commands_print_a_secret_once_and_never_list_it(
    harness: Harness, api_env: Settings, tmp_path: Path
) -> None:
    harness.load_practice(data.practice("p-keys", timeout_s=120), data.devices_for("dr-ash"))
    runner = CliRunner()
    refused = runner.invoke(
        main, ["api-keys", "create", "--integration", "pbx", "--practice", "p-nowhere"]
    )
    assert refused.exit_code == 2 and "no such practice: p-nowhere" in refused.output
    token = _key("p-keys")
    key_id = token.split("_")[1]
    listed = runner.invoke(main, ["api-keys", "list", "--json"])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    mine = next(r for r in rows if r["key_id"] == key_id)
    assert mine["state"] == "active" and mine["practices"] == ["p-keys"]
    assert token.split("_")[2] not in listed.output
    rotated = runner.invoke(main, ["api-keys", "rotate", key_id, "--grace-hours", "2"])
    assert rotated.exit_code == 0 and rotated.stdout.startswith("nlk_")
    listed = runner.invoke(main, ["api-keys", "list", "--json"])
    states = {
        json.loads(line)["key_id"]: json.loads(line)["state"] for line in listed.stdout.splitlines()
    }
    assert states[key_id] == "expiring"
    assert runner.invoke(main, ["api-keys", "revoke", key_id]).exit_code == 0
    listed = runner.invoke(main, ["api-keys", "list", "--json"])
    assert {
        json.loads(line)["key_id"]: json.loads(line)["state"] for line in listed.stdout.splitlines()
    }[key_id] == "revoked"
    assert runner.invoke(main, ["api-keys", "revoke", "000000000000"]).exit_code == 2

    kept = tmp_path / "demo-key"
    args = [
        "api-keys",
        "ensure",
        "--integration",
        "demo",
        "--practice",
        "p-keys",
        "--file",
        str(kept),
    ]
    first = runner.invoke(main, args).stdout.strip()
    assert runner.invoke(main, args).stdout.strip() == first  # reused while valid
    assert kept.stat().st_mode & 0o077 == 0
    runner.invoke(main, ["api-keys", "revoke", first.split("_")[1]])
    assert runner.invoke(main, args).stdout.strip() != first  # a revoked one is replaced


def test_command_line_changes_to_keys_and_accounts_are_audited(
    harness: Harness, api_env: Settings
) -> None:
    harness.load_practice(data.practice("p-cli-audit", timeout_s=120), [])
    runner = CliRunner()
    key_id = _key("p-cli-audit").split("_")[1]
    assert runner.invoke(main, ["api-keys", "rotate", key_id]).exit_code == 0
    assert runner.invoke(main, ["api-keys", "revoke", key_id]).exit_code == 0
    username = f"nurse-{uuid.uuid4().hex[:6]}@p"
    created = runner.invoke(
        main,
        ["accounts", "create", "--username", username, "--role", "billing",
         "--practice", "p-cli-audit", "--password-stdin"],
        input="a long enough pass phrase\n",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    account_id = created.stdout.strip()
    assert runner.invoke(main, ["accounts", "disable", username]).exit_code == 0

    def entries() -> list[tuple[str, str]]:
        return [
            (a.subject_id, a.action)
            for a in harness.read("audit")
            if a.practice_id == "p-cli-audit" and a.subject_type in ("api_key", "account")
        ]

    expected = [
        (key_id, "api_key_issued"), (key_id, "api_key_rotated"), (key_id, "api_key_revoked"),
        (account_id, "account_invited"), (account_id, "account_disabled"),
    ]  # fmt: skip
    found = wait_for(lambda: entries() if len(entries()) >= 5 else None, 15, "the audit")
    assert found == expected
    actors = {a.actor for a in harness.read("audit") if a.subject_id in (key_id, account_id)}
    assert len(actors) == 1 and actors.pop().startswith("cli:")
    assert "pass phrase" not in json.dumps(
        [a.model_dump(mode="json") for a in harness.read("audit")]
    )


def test_a_demo_administrator_keeps_its_totp_secret_in_a_file(
    harness: Harness, api_env: Settings, tmp_path: Path
) -> None:
    import pyotp

    harness.load_practice(data.practice("p-demo-admin", timeout_s=120), [])
    kept = tmp_path / "admin.totp"
    args = ["accounts", "create", "--username", f"admin-{uuid.uuid4().hex[:6]}@demo",
            "--role", "practice_admin", "--practice", "p-demo-admin", "--password-stdin",
            "--if-absent", "--totp-secret-file", str(kept)]  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(main, args, input="demo-admin-pass\n").exit_code == 0
    secret = kept.read_text().strip()
    assert kept.stat().st_mode & 0o077 == 0 and len(secret) >= 16
    code = runner.invoke(main, ["accounts", "totp-code", "--secret-file", str(kept)])
    assert code.exit_code == 0 and pyotp.TOTP(secret).verify(code.stdout.strip())
    assert runner.invoke(main, args, input="demo-admin-pass\n").exit_code == 0  # if absent
    assert kept.read_text().strip() == secret
