"""What a virtual phone does with its pushes, without any server (``nightline device``).

Pure steps, each testable alone: pick this phone's pushes out of a fake provider's
record list (:func:`select_bodies`), open one as the app would (:func:`open_push`),
keep the ones not handled yet (:func:`new_bodies`) and decide the acknowledgements
to send back (:func:`acks_for`). Opened pushes hold decrypted PHI: they are for the
phone's own screen (:func:`describe`), never for logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from engine.push.crypto import DecryptionError
from engine.push.envelope import parse_push
from engine.schemas._base import IDENTIFIER_PATTERN
from engine.schemas.acks import AckKind, Acknowledgement
from engine.standins.virtual_device import VirtualDevice

__all__ = [
    "IDENTIFIER",
    "Decision",
    "OpenedPush",
    "acks_for",
    "describe",
    "legacy_state_path",
    "new_bodies",
    "open_push",
    "open_pushes",
    "select_bodies",
    "state_path",
]

Decision = Literal["accept", "decline"]
# engine.schemas._base.Identifier: its pattern, and at most 128 characters (lookahead)
IDENTIFIER = re.compile(rf"(?=.{{1,128}}$){IDENTIFIER_PATTERN}")
_CONTENT_FIELDS = ("patient_name", "callback_number", "message", "practice_name")


def state_path(state_dir: Path, topic_prefix: str, device_id: str) -> Path:
    """``<state_dir>/devices/<topic_prefix>/<device_id>.json``: deployments sharing a state
    dir keep their phones apart (both parts must be plain identifiers)."""
    _plain("topic prefix", topic_prefix)
    _plain("device id", device_id)
    return state_dir / "devices" / topic_prefix / f"{device_id}.json"


def legacy_state_path(state_dir: Path, device_id: str) -> Path:
    """``<state_dir>/devices/<device_id>.json``, where phones were kept before they were
    kept per topic prefix."""
    _plain("device id", device_id)
    return state_dir / "devices" / f"{device_id}.json"


def _plain(what: str, value: str) -> None:
    if not IDENTIFIER.match(value):
        raise ValueError(f"{what} must be letters, digits and '_.:-', not {value!r}")


def select_bodies(platform: str, push_token: str, received: Any) -> list[dict[str, Any]]:
    """This phone's push bodies, oldest first, from a fake's ``GET /_fake/received``
    (the shape of :mod:`engine.standins.fake_received`; APNs tokens compare in any case)."""
    if platform not in ("ios", "android"):
        raise ValueError(f"platform must be 'ios' or 'android', not {platform!r}")
    records = received.get("received") if isinstance(received, dict) else None
    fold = str.lower if platform == "ios" else str
    token = fold(push_token)
    return [
        r["payload"]
        for r in records or []
        if isinstance(r, dict)
        and fold(str(r.get("token", ""))) == token
        and isinstance(r.get("payload"), dict)
    ]


@dataclass(frozen=True)
class OpenedPush:
    """One push as the app shows it. ``content`` is decrypted PHI (hidden from repr)."""

    dispatch_id: str
    urgency: str
    alert_text: str
    fetch: bool
    content: dict[str, Any] | None = field(default=None, repr=False)
    problem: str = ""  # why there is no content (no ciphertext, cannot decrypt)
    page: int | None = None  # the page number the acknowledgements must name

    @property
    def key(self) -> str:
        """What identifies this push among the phone's handled ones."""
        return page_key(self.dispatch_id, self.page)


def page_key(dispatch_id: str, page: int | None) -> str:
    """``<dispatch id>#<page>``; the dispatch id alone for a version 1 push."""
    return dispatch_id if page is None else f"{dispatch_id}#{page}"


def open_push(phone: VirtualDevice, body: dict[str, Any]) -> OpenedPush:
    """Parse a push body and decrypt its ciphertext with the phone's own keys.

    Raises ValueError for a body that is not a Nightline push at all.
    """
    push = parse_push(phone.platform, body)
    content: dict[str, Any] | None = None
    problem = ""
    if push.ciphertext_b64 is None:
        problem = "no ciphertext: fetch over the API"
    else:
        try:
            content = phone.open(push.ciphertext_b64)
        except (DecryptionError, ValueError):
            problem = "cannot decrypt with this phone's keys"
    return OpenedPush(
        push.dispatch_id, push.urgency, push.alert_text, push.fetch, content, problem, push.page
    )


def open_pushes(phone: VirtualDevice, bodies: Iterable[dict[str, Any]]) -> list[OpenedPush]:
    """Every Nightline push among ``bodies``, opened (foreign payloads are skipped)."""
    opened = []
    for body in bodies:
        try:
            opened.append(open_push(phone, body))
        except ValueError:
            continue
    return opened


def new_bodies(
    platform: str, bodies: Iterable[dict[str, Any]], handled: set[str]
) -> list[dict[str, Any]]:
    """The first body of each page not in ``handled`` (a provider's retries collapse; a
    re-page is a new page and needs its own receipt).

    Only the cleartext envelope is read, so nothing is decrypted for old pushes.
    """
    seen = set(handled)
    fresh = []
    for body in bodies:
        try:
            push = parse_push(platform, body)
        except ValueError:
            continue
        key = page_key(push.dispatch_id, push.page)
        if key not in seen:
            seen.add(key)
            fresh.append(body)
    return fresh


def acks_for(
    phone: VirtualDevice,
    push: OpenedPush,
    at: datetime,
    *,
    read: bool = False,
    decision: Decision | None = None,
) -> list[Acknowledgement]:
    """What the app sends for a new push: a receipt naming its page, then read, then
    accept or decline."""
    kinds = [AckKind.RECEIVED]
    if read:
        kinds.append(AckKind.READ)
    if decision is not None:
        kinds.append(AckKind.ACCEPTED if decision == "accept" else AckKind.DECLINED)
    return [
        Acknowledgement(
            dispatch_id=push.dispatch_id,
            clinician_id=phone.clinician_id,
            device_id=phone.device_id,
            page=push.page,
            schema_version=2 if push.page is not None else 1,
            kind=kind,
            at=at,
        )
        for kind in kinds
    ]


def describe(push: OpenedPush) -> str:
    """One screen line: dispatch id, urgency, alert text and the decrypted fields (PHI)."""
    line = f"{push.dispatch_id}  {push.urgency or '-'}  {push.alert_text!r}"
    if push.content is None:
        return f"{line}  [{push.problem}]"
    shown = [f"{k}={push.content[k]!r}" for k in _CONTENT_FIELDS if k in push.content]
    if push.fetch:
        shown.append("[truncated: fetch the message over the API]")
    return "  ".join([line, *shown])
