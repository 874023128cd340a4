"""The fake APNs and FCM as separate processes, as a worker would meet real ones,
with helpers to read what they received and to inject faults."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.integration.harness import free_port

KEY_ID, TEAM_ID, TOPIC = "FAKEKEY001", "FAKETEAM01", "org.nightline.clinician"


def _start(args: list[str], log: Path, ready: str, timeout: float = 30.0) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=subprocess.PIPE,
        stderr=log.open("ab"),
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if ready in line:
            return process
        if process.poll() is not None:
            raise AssertionError(f"{args[0]} exited: {log.read_text()[-2000:]}")
    process.kill()
    raise AssertionError(f"{args[0]} not ready after {timeout}s")


class PushFakes:
    """Both fakes on free ports; ``env()`` points a worker at them."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.key_file = workdir / "apns-key.p8"
        self.cert_dir = workdir / "apns-certs"
        self.service_account = workdir / "fcm-service-account.json"
        apns_port, fcm_port = free_port(), free_port()
        self.apns_url = f"https://127.0.0.1:{apns_port}"
        self.fcm_url = f"http://127.0.0.1:{fcm_port}"
        self._apns = _start(
            ["engine.standins.fake_apns", "--port", str(apns_port),
             "--cert-dir", str(self.cert_dir), "--key-file", str(self.key_file),
             "--key-id", KEY_ID, "--team-id", TEAM_ID, "--topic", TOPIC],
            workdir / "fake-apns.log",
            "fake-apns listening",
        )  # fmt: skip
        self._fcm = _start(
            ["engine.standins.fake_fcm", "--port", str(fcm_port),
             "--service-account-file", str(self.service_account)],
            workdir / "fake-fcm.log",
            "fake-fcm listening",
        )  # fmt: skip
        ctx = ssl.create_default_context(cafile=str(self.cert_dir / "ca.pem"))
        self._apns_http = httpx.Client(http2=True, verify=ctx, timeout=5)
        self._fcm_http = httpx.Client(timeout=5)

    def env(self) -> dict[str, str]:
        return {
            "NIGHTLINE_PUSH_GATEWAY": "providers",
            "NIGHTLINE_APNS_URL": self.apns_url,
            "NIGHTLINE_APNS_TOPIC": TOPIC,
            "NIGHTLINE_APNS_KEY_FILE": str(self.key_file),
            "NIGHTLINE_APNS_KEY_ID": KEY_ID,
            "NIGHTLINE_APNS_TEAM_ID": TEAM_ID,
            "NIGHTLINE_APNS_CA_FILE": str(self.cert_dir / "ca.pem"),
            "NIGHTLINE_FCM_URL": self.fcm_url,
            "NIGHTLINE_FCM_SERVICE_ACCOUNT_FILE": str(self.service_account),
        }

    def received(self, platform: str) -> dict[str, Any]:
        """The fake's ``GET /_fake/received`` answer (engine/standins/fake_received.py)."""
        http, url = (
            (self._apns_http, self.apns_url)
            if platform == "ios"
            else (self._fcm_http, self.fcm_url)
        )
        answer: dict[str, Any] = http.get(f"{url}/_fake/received").json()
        return answer

    def apns_received(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.received("ios")["received"]
        return rows

    def fcm_received(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.received("android")["received"]
        return rows

    def apns_fault(self, token: str, fault: dict[str, Any] | None) -> None:
        self._apns_http.post(f"{self.apns_url}/_fake/faults", json={token: fault})

    def fcm_fault(
        self, token: str, mode: str, times: int | None = None, delay_s: float = 2.0
    ) -> None:
        spec: dict[str, Any] = {"token": token, "mode": mode, "delay_s": delay_s}
        if times is not None:
            spec["times"] = times
        response = self._fcm_http.post(f"{self.fcm_url}/_fake/faults", json=spec)
        response.raise_for_status()

    def close(self) -> None:
        self._apns_http.close()
        self._fcm_http.close()
        for process in (self._apns, self._fcm):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
