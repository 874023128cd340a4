"""The audit hash chain: recomputed from the log, it matches what was kept, and a
changed, removed or inserted record, or a changed checkpoint, shows where."""

from __future__ import annotations

from engine.api.audit_chain import GENESIS, extend, verify_chain

RECORDS = [(i, f'{{"audit": {i}}}'.encode()) for i in range(10)]


def _kept(
    records: list[tuple[int, bytes]], every: int = 3
) -> tuple[dict[int, str], tuple[int, str]]:
    current, checkpoints = GENESIS, {}
    for n, (offset, value) in enumerate(records):
        current = extend(current, value)
        if n % every == 0:
            checkpoints[offset] = current
    return checkpoints, (records[-1][0], current)


def test_an_untouched_log_verifies() -> None:
    checkpoints, head = _kept(RECORDS)
    assert verify_chain(0, RECORDS, checkpoints, head) == []


def test_a_changed_record_breaks_the_chain_from_there() -> None:
    checkpoints, head = _kept(RECORDS)
    changed = [*RECORDS[:4], (4, b'{"audit": "rewritten"}'), *RECORDS[5:]]
    breaks = verify_chain(0, changed, checkpoints, head)
    assert [b.offset for b in breaks] == [6, 9]  # every kept hash after offset 4


def test_a_removed_record_or_a_changed_checkpoint_is_found() -> None:
    checkpoints, head = _kept(RECORDS)
    removed = [r for r in RECORDS if r[0] != 7]
    assert verify_chain(0, removed, checkpoints, head)
    forged = {**checkpoints, 3: "ab" * 32}
    assert [b.offset for b in verify_chain(0, RECORDS, forged, head)] == [3]


def test_a_log_whose_start_expired_is_checked_from_the_first_checkpoint_in_it() -> None:
    checkpoints, head = _kept(RECORDS)
    assert verify_chain(0, RECORDS[4:], checkpoints, head) == []  # offset 3 anchors it
    assert verify_chain(0, RECORDS[5:], {}, None)[0].reason.startswith("no checkpoint")


def test_a_forged_checkpoint_under_the_head_is_still_found() -> None:
    one = RECORDS[:1]
    checkpoints, head = _kept(one)  # checkpoint and head both at offset 0
    assert verify_chain(0, one, checkpoints, head) == []
    assert [b.offset for b in verify_chain(0, one, {0: "ab" * 32}, head)] == [0]


def test_records_without_a_kept_chain_or_a_log_cut_short_are_breaks() -> None:
    assert verify_chain(0, RECORDS, {}, None)[0].reason.startswith("no chain is kept")
    checkpoints, head = _kept(RECORDS)
    cut = verify_chain(0, RECORDS[:7], checkpoints, head)  # the last three removed
    assert [(b.offset, b.reason) for b in cut] == [(6, "the log ends before the kept head")]


def test_records_after_the_head_are_counted_as_not_yet_chained() -> None:
    from engine.api.audit_chain import PartitionCheck

    checkpoints, head = _kept(RECORDS[:6])
    check = PartitionCheck(0, checkpoints, head)
    for offset, value in RECORDS:
        check.feed(offset, value)
    assert check.finish() == [] and (check.checked, check.pending) == (6, 4)
