"""Device registrations from the clinician app (keyed by ``clinician_id``).

The app never talks to Redis or to Nightline's workers directly: the mobile API
(which authenticates the clinician) publishes one of these per change, and the
worker updates the device registry. Only public key material travels here: the
app keeps its private key in the Keychain / Android Keystore.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from engine.push.crypto import DeviceKeyError, check_device_keys
from engine.schemas._base import AwareDatetime, Event, Identifier

__all__ = ["DeviceAction", "DevicePlatform", "DeviceRegistration"]


class DeviceAction(StrEnum):
    REGISTER = "register"  # add or replace the device (new install, new keys)
    ROTATE_TOKEN = "rotate_token"  # APNs / FCM issued a new push token
    REMOVE = "remove"  # signed out or uninstalled


DevicePlatform = Literal["ios", "android"]


class DeviceRegistration(Event):
    """One change to a clinician's devices."""

    clinician_id: Identifier
    device_id: Identifier
    action: DeviceAction
    platform: DevicePlatform | None = Field(default=None, description="Required to register.")
    push_token: str | None = Field(
        default=None, min_length=8, max_length=4096, description="APNs / FCM token."
    )
    public_key: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{86,88}={0,2}$",
        description="Base64url uncompressed P-256 point (65 bytes) for RFC 8291.",
    )
    auth_secret: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{22}={0,2}$",
        description="Base64url 16-byte RFC 8291 authentication secret.",
    )
    app_version: str = Field(default="", max_length=64)
    critical_alerts: bool = Field(
        default=False, description="The user allowed iOS critical alerts on this phone."
    )
    at: AwareDatetime = Field(description="When the app made the change.")

    @model_validator(mode="after")
    def _fields_for_action(self) -> DeviceRegistration:
        if self.action is DeviceAction.REGISTER:
            missing = [
                name
                for name in ("platform", "push_token", "public_key", "auth_secret")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"register needs {', '.join(missing)}")
            assert self.public_key is not None and self.auth_secret is not None
            try:
                check_device_keys(self.public_key, self.auth_secret)
            except DeviceKeyError:
                raise ValueError(
                    "public_key must be an uncompressed P-256 point (65 bytes) and "
                    "auth_secret 16 bytes, both base64url"
                ) from None
        if self.action is DeviceAction.ROTATE_TOKEN and self.push_token is None:
            raise ValueError("rotate_token needs push_token")
        return self
