"""The virtual phone speaking the API, as the real app does (``nightline device --api``):
sign in with the phone's device id, register its keys, send acknowledgements, and fetch
a message the push could not carry, encrypted to its own key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from engine.schemas.acks import Acknowledgement
from engine.standins.virtual_device import VirtualDevice

__all__ = ["ApiPhone", "ApiPhoneError"]


class ApiPhoneError(RuntimeError):
    """The API refused a request; the message names the status and the problem's title."""


class ApiPhone:
    def __init__(self, base_url: str, phone: VirtualDevice, cacert: Path | None = None) -> None:
        verify: Any = str(cacert) if cacert is not None else True
        self._phone = phone
        self._http = httpx.Client(base_url=base_url, verify=verify, timeout=15.0)
        self._headers: dict[str, str] = {}

    def sign_in(self, username: str, password: str, totp: str | None = None) -> None:
        body = {"username": username, "password": password, "device_id": self._phone.device_id}
        if totp:
            body["totp"] = totp
        tokens = self._call("POST", "/v1/auth/sign-in", body, signed_in=False)
        self._headers = {
            "Authorization": f"Bearer {tokens['access_token']}",
            "X-Device-Id": self._phone.device_id,
        }

    def register(self) -> None:
        d = self._phone.device
        self._call("POST", "/v1/app/devices", {
            "device_id": d.device_id, "platform": d.platform, "push_token": d.push_token,
            "public_key": d.public_key, "auth_secret": d.auth_secret,
            "app_version": d.app_version, "critical_alerts": d.critical_alerts,
        })  # fmt: skip

    def acknowledge(self, ack: Acknowledgement) -> None:
        body: dict[str, Any] = {"kind": ack.kind.value}
        if ack.page is not None:
            body["page"] = ack.page
        self._call("POST", f"/v1/app/dispatches/{ack.dispatch_id}/acks", body)

    def fetch(self, dispatch_id: str) -> dict[str, Any] | None:
        """The message of a dispatch, decrypted here (None once retention purged it)."""
        detail = self._call("GET", f"/v1/app/dispatches/{dispatch_id}")
        sealed = detail.get("message")
        return None if sealed is None else self._phone.open(sealed["ciphertext"])

    def close(self) -> None:
        self._http.close()

    def _call(
        self, method: str, path: str, body: Any = None, *, signed_in: bool = True
    ) -> dict[str, Any]:
        headers = self._headers if signed_in else {}
        answer = self._http.request(method, path, json=body, headers=headers)
        if answer.status_code >= 400:
            try:
                title = answer.json().get("detail") or answer.json().get("title")
            except ValueError:
                title = answer.reason_phrase
            raise ApiPhoneError(f"{method} {path}: {answer.status_code} {title}")
        return answer.json() if answer.content else {}
