"""The dispatch transition table, checked against a table written out by hand here
(never derived from the code under test), and the rules that matter most."""

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

# status, trigger -> status: every legal move, one per line. Anything else is illegal.
EXPECTED_TABLE = """
pending   page_sent          sent
pending   handed_to_operator operator
pending   cancelled          cancelled
sent      received           delivered
sent      read               read
sent      accepted           accepted
sent      declined           sent
sent      ack_timeout        sent
sent      escalated          sent
sent      page_failed        sent
sent      handed_to_operator operator
sent      cancelled          cancelled
delivered received           delivered
delivered read               read
delivered accepted           accepted
delivered declined           delivered
delivered ack_timeout        sent
delivered escalated          sent
delivered page_failed        delivered
delivered handed_to_operator operator
delivered cancelled          cancelled
read      received           read
read      read               read
read      accepted           accepted
read      declined           read
read      ack_timeout        sent
read      escalated          sent
read      page_failed        read
read      handed_to_operator operator
read      cancelled          cancelled
accepted  received           accepted
accepted  read               accepted
accepted  callback_completed completed
accepted  cancelled          cancelled
operator  received           operator
operator  read               operator
operator  accepted           accepted
operator  ack_timeout        operator
operator  cancelled          cancelled
"""

EXPECTED = {
    (S(status), T(trigger)): S(to)
    for status, trigger, to in (line.split() for line in EXPECTED_TABLE.strip().splitlines())
}
ILLEGAL = sorted(set(product(S, T)) - set(EXPECTED))


def test_the_table_is_exactly_the_one_written_here() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(
    ("status", "trigger", "expected"),
    [(s, t, to) for (s, t), to in sorted(EXPECTED.items())],
    ids=[f"{s}-{t}->{to}" for (s, t), to in sorted(EXPECTED.items())],
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
    ("callback-completes-accepted", S.ACCEPTED, T.CALLBACK_COMPLETED, S.COMPLETED),
    ("no-timer-after-accept", S.ACCEPTED, T.ACK_TIMEOUT, None),
    ("clinician-or-desk-accepts-at-operator", S.OPERATOR, T.ACCEPTED, S.ACCEPTED),
    ("operator-needs-acceptance-first", S.OPERATOR, T.CALLBACK_COMPLETED, None),
    ("the-desk-is-re-alerted", S.OPERATOR, T.ACK_TIMEOUT, S.OPERATOR),
    ("a-read-at-the-desk-changes-nothing", S.OPERATOR, T.READ, S.OPERATOR),
    ("read-not-downgraded", S.READ, T.RECEIVED, S.READ),
    ("a-read-does-not-end-it", S.READ, T.ACK_TIMEOUT, S.SENT),
    ("partial-decline-keeps-status", S.DELIVERED, T.DECLINED, S.DELIVERED),
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


def test_only_a_person_ends_a_dispatch() -> None:
    """Every way into a terminal status is an acceptance's completion or a cancel (both
    made by a person); nothing ends by itself."""
    endings = {trigger for (_, trigger), to in TRANSITIONS.items() if to in TERMINAL}
    assert endings == {T.CALLBACK_COMPLETED, T.CANCELLED}
    assert {S.COMPLETED, S.CANCELLED} == TERMINAL


@pytest.mark.parametrize("status", sorted(TERMINAL), ids=str)
def test_terminal_statuses_have_no_way_out(status: DispatchStatus) -> None:
    assert not [key for key in TRANSITIONS if key[0] is status]


def test_every_status_is_reachable_from_pending() -> None:
    reached, frontier = {S.PENDING}, [S.PENDING]
    while frontier:
        status = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is status and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(S)


def test_paging_statuses() -> None:
    assert {S.SENT, S.DELIVERED, S.READ} == PAGING


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[(S.COMPLETED, T.ACCEPTED)] = S.ACCEPTED  # type: ignore[index]
