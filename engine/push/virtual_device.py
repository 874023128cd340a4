"""A virtual clinician phone for tests and demos.

It does what the real app does with payload encryption: makes its own RFC 8291 keys,
registers only the public half, and decrypts the ciphertext it receives in a push.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from engine.ports import Device
from engine.push.crypto import DeviceKeys, b64url_decode, decrypt_on_device, generate_device_keys

__all__ = ["VirtualDevice"]


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
    ) -> None:
        if platform not in ("ios", "android"):
            raise ValueError(f"platform must be 'ios' or 'android', not {platform!r}")
        self.clinician_id = clinician_id
        self.device_id = device_id
        self.platform = platform
        # APNs device tokens are 32 bytes of hex; FCM tokens are opaque strings.
        self.push_token = push_token or (
            secrets.token_hex(32) if platform == "ios" else f"virtual:{secrets.token_urlsafe(24)}"
        )
        self.app_version = app_version
        self.critical_alerts = critical_alerts
        self.keys: DeviceKeys = generate_device_keys()

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

    def __repr__(self) -> str:
        return f"VirtualDevice({self.clinician_id!r}, {self.device_id!r}, {self.platform!r})"
