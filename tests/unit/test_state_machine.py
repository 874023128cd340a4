"""The dispatch transition table: every legal pair, every illegal pair, the key rules."""

from __future__ import annotations

from itertools import product

import pytest

from engine.domain.state_machine import (
    PAGING,
    TERMINAL,
    TRANSITIONS,
    DispatchStatus,
    IllegalTransition,
    Trigger,
    next_status,
)

S, T = DispatchStatus, Trigger
LEGAL = sorted(TRANSITIONS.items())
ILLEGAL = sorted(set(product(S, T)) - set(TRANSITIONS))


@pytest.mark.parametrize(
    ("status", "trigger", "expected"),
    [(s, t, to) for (s, t), to in LEGAL],
    ids=[f"{s}-{t}->{to}" for (s, t), to in LEGAL],
)
def test_legal_transitions(
    status: DispatchStatus, trigger: Trigger, expected: DispatchStatus
) -> None:
    assert next_status(status, trigger) is expected


@pytest.mark.parametrize(("status", "trigger"), ILLEGAL, ids=[f"{s}-{t}" for s, t in ILLEGAL])
def test_illegal_transitions_raise(status: DispatchStatus, trigger: Trigger) -> None:
    with pytest.raises(IllegalTransition) as raised:
        next_status(status, trigger)
    assert (raised.value.status, raised.value.trigger) == (status, trigger)
    assert isinstance(raised.value, ValueError)


RULES = [
    ("second-acceptance-is-illegal", S.ACCEPTED, T.ACCEPTED, None),
    ("late-delivery-receipt-after-accept", S.ACCEPTED, T.RECEIVED, S.ACCEPTED),
    ("late-read-receipt-after-accept", S.ACCEPTED, T.READ, S.ACCEPTED),
    ("callback-completes-accepted", S.ACCEPTED, T.CALLBACK_COMPLETED, S.COMPLETED),
    ("no-timer-after-accept", S.ACCEPTED, T.ACK_TIMEOUT, None),
    ("clinician-accepts-at-operator", S.OPERATOR, T.ACCEPTED, S.ACCEPTED),
    ("operator-needs-acceptance-first", S.OPERATOR, T.CALLBACK_COMPLETED, None),
    ("operator-has-no-timer", S.OPERATOR, T.ACK_TIMEOUT, None),
    ("operator-never-expires", S.OPERATOR, T.EXPIRED, None),
    ("late-receipt-at-operator", S.OPERATOR, T.READ, S.OPERATOR),
    ("read-not-downgraded", S.READ, T.RECEIVED, S.READ),
    ("partial-decline-keeps-status", S.DELIVERED, T.DECLINED, S.DELIVERED),
    ("re-page-is-sent-again", S.READ, T.ACK_TIMEOUT, S.SENT),
    ("nobody-on-call", S.PENDING, T.HANDED_TO_OPERATOR, S.OPERATOR),
    ("no-acceptance-before-paging", S.PENDING, T.ACCEPTED, None),
]


@pytest.mark.parametrize(
    ("status", "trigger", "expected"), [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_rules(status: DispatchStatus, trigger: Trigger, expected: DispatchStatus | None) -> None:
    if expected is None:
        with pytest.raises(IllegalTransition):
            next_status(status, trigger)
    else:
        assert next_status(status, trigger) is expected


@pytest.mark.parametrize("status", sorted(TERMINAL), ids=str)
def test_terminal_statuses_have_no_way_out(status: DispatchStatus) -> None:
    assert not [key for key in TRANSITIONS if key[0] is status]


@pytest.mark.parametrize("status", sorted(set(S) - TERMINAL), ids=str)
def test_every_open_status_can_be_cancelled(status: DispatchStatus) -> None:
    assert next_status(status, T.CANCELLED) is S.CANCELLED


def test_every_status_is_reachable_from_pending() -> None:
    reached, frontier = {S.PENDING}, [S.PENDING]
    while frontier:
        status = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is status and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(S)


@pytest.mark.parametrize("status", sorted(PAGING), ids=str)
def test_paging_statuses_escalate_to_a_fresh_page_or_the_operator(status: DispatchStatus) -> None:
    assert next_status(status, T.ACK_TIMEOUT) is S.SENT
    assert next_status(status, T.ESCALATED) is S.SENT
    assert next_status(status, T.HANDED_TO_OPERATOR) is S.OPERATOR
    assert next_status(status, T.ACCEPTED) is S.ACCEPTED


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[(S.COMPLETED, T.ACCEPTED)] = S.ACCEPTED  # type: ignore[index]
