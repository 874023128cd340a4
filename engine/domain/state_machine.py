"""The dispatch state machine: statuses, triggers and the one table of legal transitions.

Resting statuses only. ``declined`` and ``escalated`` are triggers, not statuses: a
dispatch never rests in them. A decline by one of several paged clinicians leaves the
others paged (the status stays; who declined is kept in ``declined_by``); once the
whole level has declined, the next level is paged at once, which is ``sent`` again (or
``operator``). Likewise an escalation (level exhausted: all declined, or no reachable
device) immediately becomes a fresh page of the next level.

``sent``, ``delivered`` and ``read`` describe the pages of the *current* step; a new
step (re-page or next level) starts again at ``sent``. A read never ends a dispatch:
it may only pause re-paging for the policy's grace. ``operator`` waits for a human at
the answering service's desk; the desk's own timer re-alerts it (``ack_timeout`` stays in
``operator``) until an operator claims the message or a clinician accepts it. Receipts
(``received`` / ``read``) that arrive after acceptance or after the hand-off to the
operator are legal no-ops: other devices report late. ``page_failed`` records clinicians
no push reached, without leaving the status. Once accepted, nobody else can accept.
``completed`` and ``cancelled`` (by a person) are terminal: nothing leaves them. There is
no way to end a dispatch without a person: no expiry, no end on a read.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "PAGING",
    "TERMINAL",
    "TRANSITIONS",
    "DispatchStatus",
    "IllegalTransition",
    "Trigger",
    "next_status",
]


class DispatchStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    ACCEPTED = "accepted"
    OPERATOR = "operator"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Trigger(StrEnum):
    PAGE_SENT = "page_sent"  # the first step's pages went out
    RECEIVED = "received"  # a device reported delivery
    READ = "read"  # a device reported the message opened
    ACCEPTED = "accepted"
    DECLINED = "declined"  # one paged clinician declined; others of the level still paged
    ACK_TIMEOUT = "ack_timeout"  # no acceptance in time: re-page or page the next level
    ESCALATED = "escalated"  # level exhausted early (all declined, no device): next level
    PAGE_FAILED = "page_failed"  # some paged clinicians had no device that took the push
    HANDED_TO_OPERATOR = "handed_to_operator"
    CALLBACK_COMPLETED = "callback_completed"
    CANCELLED = "cancelled"


_S, _T = DispatchStatus, Trigger

PAGING = frozenset({_S.SENT, _S.DELIVERED, _S.READ})
"""Clinicians are paged and an acknowledgement timer runs."""

TERMINAL = frozenset({_S.COMPLETED, _S.CANCELLED})
SETTLED = TERMINAL | {_S.ACCEPTED}
"""Someone owns it, or it ended: nothing is paged or waited for any more."""

TRANSITIONS: Mapping[tuple[DispatchStatus, Trigger], DispatchStatus] = MappingProxyType(
    {
        (_S.PENDING, _T.PAGE_SENT): _S.SENT,
        (_S.PENDING, _T.HANDED_TO_OPERATOR): _S.OPERATOR,  # nobody on call
        (_S.PENDING, _T.CANCELLED): _S.CANCELLED,
        (_S.SENT, _T.RECEIVED): _S.DELIVERED,
        (_S.SENT, _T.READ): _S.READ,
        (_S.SENT, _T.ACCEPTED): _S.ACCEPTED,
        (_S.SENT, _T.DECLINED): _S.SENT,
        (_S.SENT, _T.ACK_TIMEOUT): _S.SENT,
        (_S.SENT, _T.ESCALATED): _S.SENT,
        (_S.SENT, _T.PAGE_FAILED): _S.SENT,
        (_S.SENT, _T.HANDED_TO_OPERATOR): _S.OPERATOR,
        (_S.SENT, _T.CANCELLED): _S.CANCELLED,
        (_S.DELIVERED, _T.RECEIVED): _S.DELIVERED,  # another device of the level
        (_S.DELIVERED, _T.READ): _S.READ,
        (_S.DELIVERED, _T.ACCEPTED): _S.ACCEPTED,
        (_S.DELIVERED, _T.DECLINED): _S.DELIVERED,
        (_S.DELIVERED, _T.ACK_TIMEOUT): _S.SENT,
        (_S.DELIVERED, _T.ESCALATED): _S.SENT,
        (_S.DELIVERED, _T.PAGE_FAILED): _S.DELIVERED,
        (_S.DELIVERED, _T.HANDED_TO_OPERATOR): _S.OPERATOR,
        (_S.DELIVERED, _T.CANCELLED): _S.CANCELLED,
        (_S.READ, _T.RECEIVED): _S.READ,  # a late delivery receipt never downgrades
        (_S.READ, _T.READ): _S.READ,
        (_S.READ, _T.ACCEPTED): _S.ACCEPTED,
        (_S.READ, _T.DECLINED): _S.READ,
        (_S.READ, _T.ACK_TIMEOUT): _S.SENT,
        (_S.READ, _T.ESCALATED): _S.SENT,
        (_S.READ, _T.PAGE_FAILED): _S.READ,
        (_S.READ, _T.HANDED_TO_OPERATOR): _S.OPERATOR,
        (_S.READ, _T.CANCELLED): _S.CANCELLED,
        (_S.ACCEPTED, _T.RECEIVED): _S.ACCEPTED,  # late receipts: no-ops
        (_S.ACCEPTED, _T.READ): _S.ACCEPTED,
        (_S.ACCEPTED, _T.CALLBACK_COMPLETED): _S.COMPLETED,
        (_S.ACCEPTED, _T.CANCELLED): _S.CANCELLED,
        (_S.OPERATOR, _T.RECEIVED): _S.OPERATOR,  # late receipts of earlier pages: no-ops
        (_S.OPERATOR, _T.READ): _S.OPERATOR,
        (_S.OPERATOR, _T.ACCEPTED): _S.ACCEPTED,  # a clinician or the desk takes it
        (_S.OPERATOR, _T.ACK_TIMEOUT): _S.OPERATOR,  # nobody claimed it: re-alert the desk
        (_S.OPERATOR, _T.CANCELLED): _S.CANCELLED,
    }
)
"""Every legal ``(status, trigger)`` pair and its result; anything else is illegal."""


class IllegalTransition(ValueError):
    """``trigger`` is not allowed in ``status``."""

    def __init__(self, status: DispatchStatus, trigger: Trigger) -> None:
        super().__init__(f"{trigger.value} is not allowed in status {status.value}")
        self.status = status
        self.trigger = trigger


def next_status(status: DispatchStatus, trigger: Trigger) -> DispatchStatus:
    """The status after ``trigger`` in ``status``; raises :class:`IllegalTransition`."""
    try:
        return TRANSITIONS[(status, trigger)]
    except KeyError:
        raise IllegalTransition(status, trigger) from None
