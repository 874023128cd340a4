"""An override's preview: the schedule before and after it (nothing saved) and the
conflicts an administrator sees before saving.

New York times; the daily rotation ABC starts 2026-01-05 with an 08:00 handoff, so
Wednesday 4 March 2026 (day 58) is dr-b's from 08:00 EST (13:00 UTC).
"""

from __future__ import annotations

from engine.domain.schedule import Clinician, CoverageRole, OverrideKind
from engine.portal.override_preview import Proposal, preview, removal_preview, with_override
from tests.unit.schedule_factories import group, layer, override, schedule_practice, utc

PRIMARY, BACKUP = CoverageRole.PRIMARY, CoverageRole.BACKUP
PEOPLE = ("dr-a", "dr-b", "dr-c", "dr-d", "dr-z")


def _practice(*overrides):  # type: ignore[no-untyped-def]
    peds = group(
        layer(("dr-a", "dr-b", "dr-c"), start="2026-01-05"),
        layer(("dr-d",), start="2026-01-05", role=BACKUP),
        overrides=list(overrides), group_id="peds",
    )  # fmt: skip
    nursery = group(layer(("dr-z",), start="2026-01-05"), group_id="nursery")
    practice = schedule_practice(peds, nursery)
    clinicians = [Clinician(clinician_id=c, display_name=f"Dr. {c[3:].upper()}") for c in PEOPLE]
    return practice.model_copy(update={"clinicians": clinicians})


def _proposal(**changes):  # type: ignore[no-untyped-def]
    fields = dict(
        group_id="peds", role=PRIMARY, kind=OverrideKind.REPLACE, clinician_id="dr-c",
        start=utc("2026-03-04 14:00"), end=utc("2026-03-04 18:00"), replaced="dr-b",
    )  # fmt: skip
    return Proposal(**{**fields, **changes})


def test_the_preview_shows_the_schedule_before_and_after_and_saves_nothing() -> None:
    practice = _practice()
    shown = preview(practice, _proposal())
    assert [(s.start, s.end, s.clinicians) for s in shown.before] == [
        (utc("2026-03-04 14:00"), utc("2026-03-04 18:00"), ("dr-b",))
    ]
    assert [s.clinicians for s in shown.after] == [("dr-c",)]
    assert shown.conflicts == []
    assert all(g.overrides == [] for g in practice.coverage_groups)


def test_end_before_start_is_the_only_conflict_then() -> None:
    shown = preview(_practice(), _proposal(end=utc("2026-03-04 13:00")))
    assert shown.conflicts == ["The end is not after the start."] and shown.after == []


def test_the_replaced_person_must_be_on_call_then() -> None:
    nobody = preview(_practice(), _proposal(replaced="dr-a"))
    assert nobody.conflicts == ["Dr. A is not primary on call then."]
    part = preview(_practice(), _proposal(start=utc("2026-03-04 12:00")))  # dr-a until 13:00
    assert part.conflicts == ["Dr. B is primary on call for only part of that time."]


def test_a_covering_clinician_on_call_elsewhere_is_a_conflict() -> None:
    shown = preview(_practice(), _proposal(clinician_id="dr-z"))
    assert shown.conflicts == [
        "Dr. Z is also primary on call in Synthetic group nursery "
        "(Wed 04 Mar 09:00 to Wed 04 Mar 13:00)."
    ]
    backup = preview(_practice(), _proposal(clinician_id="dr-d"))
    assert backup.conflicts[0].startswith("Dr. D is also backup on call in Synthetic group peds")


def test_overlapping_overrides_and_gaps_are_conflicts_but_an_edit_is_not_its_own() -> None:
    existing = override("dr-a", utc("2026-03-04 17:00"), utc("2026-03-04 20:00"))
    practice = _practice(existing)
    shown = preview(practice, _proposal(replaced=None))
    assert shown.conflicts == [
        "It overlaps the replace override for Dr. A (Wed 04 Mar 12:00 to Wed 04 Mar 15:00)."
    ]
    edit = _proposal(override_id=existing.override_id, replaced=None)
    assert preview(practice, edit).conflicts == []
    changed = with_override(practice, edit)
    assert [o.clinician_id for o in changed.coverage_groups[0].overrides] == ["dr-c"]
    gap = preview(practice, _proposal(kind=OverrideKind.REMOVE, clinician_id="dr-b",
                                      end=utc("2026-03-04 16:00")))  # fmt: skip
    assert gap.conflicts == [
        "Nobody would be primary on call (Wed 04 Mar 09:00 to Wed 04 Mar 11:00)."
    ]


def test_removing_an_override_shows_who_is_on_call_without_it() -> None:
    cover = override("dr-c", utc("2026-03-04 14:00"), utc("2026-03-04 16:00"))
    shown = removal_preview(_practice(cover), "peds", cover.override_id)
    assert shown is not None
    assert [s.clinicians for s in shown.before] == [("dr-c",)]
    assert [s.clinicians for s in shown.after] == [("dr-b",)] and shown.conflicts == []
    assert removal_preview(_practice(cover), "nursery", cover.override_id) is None
    added = override("dr-c", utc("2026-03-04 14:00"), utc("2026-03-04 16:00"), kind="add")
    lone = group(overrides=[added], group_id="peds")  # no layers: only the override covers
    practice = schedule_practice(lone).model_copy(update={"clinicians": []})
    gap = removal_preview(practice, "peds", added.override_id)
    assert gap is not None and gap.conflicts == [
        "Nobody would be primary on call (Wed 04 Mar 09:00 to Wed 04 Mar 11:00)."
    ]
