"""The clinician app: its devices, the dispatches its clinician was paged for, one
dispatch's message (encrypted to the device's own key), and acknowledgements.

The clinician is always the signed-in account's, never a field of the body. A session
that signed in from a device acts as that device: it registers that device id, and
its acknowledgements name it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field, ValidationError

from engine.api.deps import Principal, requires, services_of
from engine.api.ingest import unavailable
from engine.api.problems import ApiProblem, field_problems, problem_responses
from engine.api.publishing import KafkaUnavailableError
from engine.api.services import ApiServices
from engine.push.crypto import DeviceKeyError, b64url_encode, encrypt_for_device
from engine.schemas._base import Identifier, derived_event_id, new_event_id
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.audit import AuditEvent
from engine.schemas.codec import encode
from engine.schemas.devices import DeviceAction, DevicePlatform, DeviceRegistration

__all__ = ["router"]

router = APIRouter(prefix="/v1/app", tags=["app"])
Services = Annotated[ApiServices, Depends(services_of)]
Clinician = Annotated[Principal, Depends(requires("clinician"))]
_ERRORS = problem_responses(404, 409)
_OPEN = frozenset({"pending", "sent", "delivered", "read", "operator"})
_DEVICE_FIELDS = frozenset(DeviceRegistration.model_fields)


class DeviceIn(BaseModel):
    device_id: Identifier
    platform: DevicePlatform
    push_token: str = Field(min_length=8, max_length=4096)
    public_key: str = Field(pattern=r"^[A-Za-z0-9_-]{86,88}={0,2}$")
    auth_secret: str = Field(pattern=r"^[A-Za-z0-9_-]{22}={0,2}$")
    app_version: str = Field(default="", max_length=64)
    critical_alerts: bool = False


class PushToken(BaseModel):
    push_token: str = Field(min_length=8, max_length=4096)


class DeviceOut(BaseModel):
    device_id: str
    platform: str
    active: bool
    app_version: str


class Accepted(BaseModel):
    status: str = "accepted"


class DispatchSummary(BaseModel):
    dispatch_id: str
    practice_id: str
    urgency: str
    status: str
    open: bool
    created_at: datetime
    page: int = Field(description="The latest page number (acknowledgements name it).")
    accepted_by_me: bool


class SealedMessage(BaseModel):
    encoding: Literal["aes128gcm"] = "aes128gcm"
    ciphertext: str = Field(description="Base64url (no padding) of an RFC 8291 body.")


class DispatchDetail(DispatchSummary):
    message: SealedMessage | None = Field(
        description="The message for this device, or null once the practice's retention "
        "has purged the content."
    )


class AckIn(BaseModel):
    kind: AckKind
    page: int | None = Field(default=None, ge=1, le=1_000_000)


def _me(principal: Principal) -> str:
    if not principal.clinician_id:
        raise ApiProblem(403, "Forbidden", "This account is not a clinician's.", kind="forbidden")
    return principal.clinician_id


async def _publish(services: ApiServices, topic: str, key: str, value: bytes) -> None:
    try:
        await services.publisher.publish(services.settings.topic(topic), key, value)
    except KafkaUnavailableError:
        raise unavailable("Kafka") from None


def _own_device(principal: Principal, device_id: str) -> None:
    """A phone changes only its own registration: the session must have signed in with
    that ``device_id`` (the same 403 whether or not another phone has that id)."""
    if principal.device_id != device_id:
        raise ApiProblem(
            403,
            "Forbidden",
            "Sign in from this device (with its device_id) to change its registration.",
            kind="forbidden",
        )


async def _device_change(
    services: ApiServices, principal: Principal, device_id: str, action: DeviceAction,
    **fields: Any,
) -> Accepted:  # fmt: skip
    _own_device(principal, device_id)
    try:
        change = DeviceRegistration(
            clinician_id=_me(principal),
            device_id=device_id,
            action=action,
            at=services.clock.now(),
            **fields,
        )
    except ValidationError as exc:  # e.g. a public key that is no P-256 point
        errors = field_problems(exc.errors(include_input=False), _DEVICE_FIELDS)
        raise ApiProblem(
            422, "Invalid request", "The device registration is not valid.",
            kind="validation", errors=errors,
        ) from None  # fmt: skip
    await _publish(services, "devices", change.clinician_id, encode(change))
    return Accepted()


@router.post("/devices", status_code=202, response_model=Accepted, responses=_ERRORS)
async def register_device(body: DeviceIn, services: Services, principal: Clinician) -> Accepted:
    """Register (or replace) this phone: its push token and its RFC 8291 keys."""
    return await _device_change(
        services, principal, body.device_id, DeviceAction.REGISTER,
        **body.model_dump(exclude={"device_id"}),
    )  # fmt: skip


@router.put(
    "/devices/{device_id}/push-token", status_code=202, response_model=Accepted,
    responses=_ERRORS,
)  # fmt: skip
async def rotate_push_token(
    device_id: Identifier, body: PushToken, services: Services, principal: Clinician
) -> Accepted:
    """APNs or FCM issued a new token for this phone."""
    return await _device_change(
        services, principal, device_id, DeviceAction.ROTATE_TOKEN, push_token=body.push_token
    )


@router.delete("/devices/{device_id}", status_code=202, response_model=Accepted, responses=_ERRORS)
async def remove_device(
    device_id: Identifier, services: Services, principal: Clinician
) -> Accepted:
    """Stop paging this phone (signed out or uninstalled)."""
    return await _device_change(services, principal, device_id, DeviceAction.REMOVE)


@router.get("/devices", response_model=list[DeviceOut], responses=_ERRORS)
async def my_devices(services: Services, principal: Clinician) -> list[DeviceOut]:
    found = await services.devices.devices_for([_me(principal)])
    return [
        DeviceOut(device_id=d.device_id, platform=d.platform, active=d.active,
                  app_version=d.app_version)
        for d in found.get(_me(principal), [])
    ]  # fmt: skip


async def _mine(services: ApiServices, principal: Principal, dispatch_id: str) -> dict[str, Any]:
    """The dispatch's state if this clinician was paged for it (or accepted it), else 404
    (the same answer as for an id that does not exist)."""
    me = _me(principal)
    stored = await services.dispatches.load(dispatch_id)
    state = stored.state if stored is not None else {}
    paged = me in state.get("paged", ()) or state.get("accepted_by") == me
    if not paged or not principal.may_act_for(str(state.get("practice_id", ""))):
        raise ApiProblem(404, "Not found", "No dispatch of yours has that id.", kind="not-found")
    return state


def _summary(dispatch_id: str, state: dict[str, Any], me: str) -> dict[str, Any]:
    return {
        "dispatch_id": dispatch_id,
        "practice_id": state["practice_id"],
        "urgency": state["urgency"],
        "status": state["status"],
        "open": state["status"] in _OPEN,
        "created_at": state["created_at"],
        "page": int(state.get("page", 0)),
        "accepted_by_me": state.get("accepted_by") == me,
    }


@router.get("/dispatches", response_model=list[DispatchSummary], responses=_ERRORS)
async def my_dispatches(
    services: Services,
    principal: Clinician,
    open_only: Annotated[bool, Query(alias="open")] = True,
) -> list[DispatchSummary]:
    """Dispatches you were paged for in the last week, newest first: by default those
    still open, and those you accepted and have not completed."""
    me = _me(principal)
    out = []
    for dispatch_id in await services.dispatches.paged_for(me, 100):
        stored = await services.dispatches.load(dispatch_id)
        if stored is None or not principal.may_act_for(str(stored.state.get("practice_id"))):
            continue
        item = DispatchSummary(**_summary(dispatch_id, stored.state, me))
        if not open_only or item.open or (item.accepted_by_me and item.status == "accepted"):
            out.append(item)
    return out


@router.get("/dispatches/{dispatch_id}", response_model=DispatchDetail, responses=_ERRORS)
async def one_dispatch(
    dispatch_id: Identifier, services: Services, principal: Clinician
) -> DispatchDetail:
    """The dispatch, with its message encrypted to this session's device (RFC 8291, as in
    a push, so a TLS-terminating proxy never sees it); also the fetch path for pushes
    too large to carry the message. Every call is audited."""
    state = await _mine(services, principal, dispatch_id)
    me = _me(principal)
    if principal.device_id is None:
        raise ApiProblem(
            409, "Conflict", "Sign in with a device_id to read messages on a device.",
            kind="device-required",
        )  # fmt: skip
    device = await services.devices.get(me, principal.device_id)
    if device is None or not (device.public_key and device.auth_secret):
        raise ApiProblem(
            409, "Conflict", "Register this device's keys first (POST /v1/app/devices).",
            kind="device-required",
        )  # fmt: skip
    content = await services.vault.get(dispatch_id)
    message = None
    if content is not None:
        try:
            body = encrypt_for_device(
                content.model_dump_json().encode(), device.public_key, device.auth_secret
            )
        except DeviceKeyError:
            raise ApiProblem(
                409, "Conflict", "This device's key is not usable; register it again.",
                kind="device-required",
            ) from None  # fmt: skip
        message = SealedMessage(ciphertext=b64url_encode(body))
    await _audit_view(services, state, dispatch_id, me, principal.device_id, content is not None)
    return DispatchDetail(**_summary(dispatch_id, state, me), message=message)


async def _audit_view(
    services: ApiServices, state: dict[str, Any], dispatch_id: str, me: str, device_id: str,
    retained: bool,
) -> None:  # fmt: skip
    audit = AuditEvent(
        event_id=new_event_id(),
        at=services.clock.now(),
        practice_id=str(state["practice_id"]),
        subject_type="dispatch",
        subject_id=dispatch_id,
        actor=me,
        action="message_viewed" if retained else "message_view_purged",
        detail=f"device={device_id}",
    )
    await _publish(services, "audit", dispatch_id, encode(audit))


@router.post(
    "/dispatches/{dispatch_id}/acks",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=_ERRORS,
)
async def acknowledge(
    dispatch_id: Identifier, body: AckIn, services: Services, principal: Clinician
) -> Accepted:
    """Accept, decline or complete a dispatch, or report a receipt (received, displayed,
    read, naming the page from the push). The worker decides what it means."""
    await _mine(services, principal, dispatch_id)
    me = _me(principal)
    receipt = body.kind in (AckKind.RECEIVED, AckKind.DISPLAYED, AckKind.READ)
    if receipt and body.page is None:
        raise ApiProblem(
            422, "Invalid request", "A receipt names the page it answers.", kind="validation"
        )
    ack = Acknowledgement(
        event_id=derived_event_id("app-ack", dispatch_id, me, body.kind, body.page),
        dispatch_id=dispatch_id,
        clinician_id=me,
        device_id=principal.device_id,
        page=body.page,
        kind=body.kind,
        at=services.clock.now(),
    )
    await _publish(services, "acks", dispatch_id, encode(ack))
    return Accepted()
