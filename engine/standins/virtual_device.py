"""A virtual clinician phone for tests and demos.

It does what the real app does with payload encryption: makes its own RFC 8291 keys,
registers only the public half, and decrypts the ciphertext it receives in a push.

A phone can be kept on disk between commands (``nightline device ...``):
:meth:`VirtualDevice.save` writes its private state (private key, auth secret, push
token, the dispatch ids it has handled) to a JSON file only its owner can read, and
:meth:`VirtualDevice.load` reads it back.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from engine.ports import Device
from engine.push.crypto import (
    DeviceKeys,
    b64url_decode,
    b64url_encode,
    decrypt_on_device,
    generate_device_keys,
)

__all__ = ["STATE_VERSION", "VirtualDevice", "new_push_token"]

STATE_VERSION = 1


def new_push_token(platform: str) -> str:
    """A fresh token as the provider would issue: APNs 32 bytes of hex, FCM opaque text."""
    return secrets.token_hex(32) if platform == "ios" else f"virtual:{secrets.token_urlsafe(24)}"


class VirtualDevice:
    """One simulated phone of one clinician."""

    def __init__(
        self,
        clinician_id: str,
        device_id: str,
        platform: str,
        *,
        push_token: str | None = None,
        app_version: str = "virtual-1.0",
        critical_alerts: bool = False,
        keys: DeviceKeys | None = None,
        handled: set[str] | None = None,
    ) -> None:
        if platform not in ("ios", "android"):
            raise ValueError(f"platform must be 'ios' or 'android', not {platform!r}")
        self.clinician_id = clinician_id
        self.device_id = device_id
        self.platform = platform
        self.push_token = push_token or new_push_token(platform)
        self.app_version = app_version
        self.critical_alerts = critical_alerts
        self.keys: DeviceKeys = keys or generate_device_keys()
        self.handled: set[str] = set(handled or ())  # dispatch ids and pages acknowledged

    @property
    def device(self) -> Device:
        """The registration record the app would send (public key and auth secret only)."""
        return Device(
            device_id=self.device_id,
            clinician_id=self.clinician_id,
            platform=self.platform,
            push_token=self.push_token,
            public_key=self.keys.public_key_b64,
            auth_secret=self.keys.auth_secret_b64,
            app_version=self.app_version,
            critical_alerts=self.critical_alerts,
        )

    def open(self, ciphertext_b64: str) -> dict[str, Any]:
        """Decrypt a received payload's ciphertext into the JSON message it carries."""
        message = json.loads(decrypt_on_device(b64url_decode(ciphertext_b64), self.keys))
        if not isinstance(message, dict):
            raise ValueError("push payload is not a JSON object")
        return message

    # --- private state on disk ---------------------------------------------------
    def to_json(self) -> str:
        """The phone's whole state, private key included: keep it out of logs and git."""
        scalar = self.keys.private_key.private_numbers().private_value.to_bytes(32, "big")
        state = {
            "version": STATE_VERSION,
            "clinician_id": self.clinician_id,
            "device_id": self.device_id,
            "platform": self.platform,
            "push_token": self.push_token,
            "app_version": self.app_version,
            "critical_alerts": self.critical_alerts,
            "private_key": b64url_encode(scalar),
            "auth_secret": self.keys.auth_secret_b64,
            "handled": sorted(self.handled),
        }
        return json.dumps(state, indent=2)

    @classmethod
    def from_json(cls, text: str) -> VirtualDevice:
        """A phone from :meth:`to_json` output (ValueError if it is not one)."""
        try:
            state = json.loads(text)
            if state.get("version") != STATE_VERSION:
                raise ValueError(f"unsupported phone state version {state.get('version')!r}")
            keys = DeviceKeys.from_b64(state["private_key"], state["auth_secret"])
            return cls(
                state["clinician_id"],
                state["device_id"],
                state["platform"],
                push_token=state["push_token"],
                app_version=state.get("app_version", ""),
                critical_alerts=bool(state.get("critical_alerts", False)),
                keys=keys,
                handled=set(state.get("handled", [])),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a virtual phone state file: {type(exc).__name__}") from None

    def save(self, path: Path) -> None:
        """Write the state atomically, readable by the owner only (mode 0600)."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(self.to_json())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: Path) -> VirtualDevice:
        """A phone saved with :meth:`save`."""
        return cls.from_json(path.read_text())

    def __repr__(self) -> str:
        return f"VirtualDevice({self.clinician_id!r}, {self.device_id!r}, {self.platform!r})"
