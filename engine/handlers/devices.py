"""Device registrations from the mobile API: keep the device registry current.

A registration replaces the device record (a reinstall brings new keys and an
active token); a token rotation re-activates a device a provider had reported
dead; a removal deletes it and frees its id. Replays are harmless: each change sets
the final state rather than applying a difference.

A device belongs to one clinician: a change to a device id that another clinician
owns is refused (outcome ``device_owned_elsewhere``, counted with the other outcomes
in ``nightline_events_total``) and logged with the two ids only.
"""

from __future__ import annotations

import logging

from engine.ports import Device, DeviceOwnedElsewhere, DeviceRegistry
from engine.schemas.devices import DeviceAction, DeviceRegistration

__all__ = ["apply_device_change", "device_from_registration"]

log = logging.getLogger(__name__)


def device_from_registration(change: DeviceRegistration) -> Device:
    """The registry record of a ``register`` change (validated by the schema)."""
    assert change.platform and change.push_token and change.public_key and change.auth_secret
    return Device(
        device_id=change.device_id,
        clinician_id=change.clinician_id,
        platform=change.platform,
        push_token=change.push_token,
        public_key=change.public_key.rstrip("="),
        auth_secret=change.auth_secret.rstrip("="),
        app_version=change.app_version,
        critical_alerts=change.critical_alerts,
        last_seen=change.at.isoformat(),
    )


async def apply_device_change(registry: DeviceRegistry, change: DeviceRegistration) -> str:
    """Apply one change; returns an outcome label (``registered``, ``unknown_device``,
    ``device_owned_elsewhere``...)."""
    try:
        return await _apply(registry, change)
    except DeviceOwnedElsewhere:
        log.warning(
            "refused %s of device %s by clinician %s: the device belongs to another clinician",
            change.action.value,
            change.device_id,
            change.clinician_id,
        )
        return "device_owned_elsewhere"


async def _apply(registry: DeviceRegistry, change: DeviceRegistration) -> str:
    if change.action is DeviceAction.REGISTER:
        await registry.register(device_from_registration(change))
        return "registered"
    if change.action is DeviceAction.ROTATE_TOKEN:
        assert change.push_token is not None
        found = await registry.rotate_token(
            change.clinician_id, change.device_id, change.push_token
        )
        return "rotated" if found else "unknown_device"
    await registry.remove(change.clinician_id, change.device_id)
    return "removed"
