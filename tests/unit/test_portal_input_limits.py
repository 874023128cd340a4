"""Malformed or oversized input to the portal's pure helpers and the API's revision
reading: each is a clear 4xx (or an empty field), never an uncaught exception, and the
work a form may ask for is bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.api.practice_edits import expected_revision, plain_number
from engine.api.problems import ApiProblem
from engine.portal.routes.escalation import MOST_LEVELS, _levels_from_form
from engine.portal.routes.messages import local_range
from engine.portal.routes.overrides import _local_input, _previewable, _proposal
from engine.practice_files import load_practice_file

MAPLE = Path(__file__).resolve().parents[2] / "deploy" / "practices" / "maple-pediatrics.yaml"
TOKYO = ZoneInfo("Asia/Tokyo")
HONOLULU = ZoneInfo("Pacific/Honolulu")


@pytest.mark.parametrize("text", ["12", "0", "9" * 19])
def test_a_plain_number_is_ascii_digits_of_bounded_length(text: str) -> None:
    assert plain_number(text)


@pytest.mark.parametrize("text", ["²", "1²", "\u0661\u0662", "", "-1", "1 ", "9" * 20, "9" * 5000])
def test_anything_else_is_not_a_plain_number(text: str) -> None:
    assert not plain_number(text)


@pytest.mark.parametrize("if_match", ['"²"', "²", "9" * 4301, '"' + "1" * 30 + '"', "\u0661"])
def test_an_unreadable_if_match_is_412(if_match: str) -> None:
    with pytest.raises(ApiProblem) as refused:
        expected_revision(if_match)
    assert refused.value.problem.status == 412


def test_a_readable_if_match_is_its_revision() -> None:
    assert expected_revision('W/"42"') == 42


@pytest.mark.parametrize(
    ("start", "end", "zone", "field"),
    [
        ("", "9999-12-31", TOKYO, "'to'"),
        ("", "9999-12-31", HONOLULU, "'to'"),
        ("0001-01-01", "", TOKYO, "'from'"),
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_422_naming_the_field(
    start: str, end: str, zone: ZoneInfo, field: str
) -> None:
    with pytest.raises(ApiProblem) as refused:
        local_range(start, end, zone)
    assert refused.value.problem.status == 422
    assert field in (refused.value.problem.detail or "")


def test_ordinary_dates_still_make_a_range() -> None:
    since, until = local_range("0001-01-01", "9999-12-29", HONOLULU)
    assert since is not None and until is not None and since < until


def _maple() -> Any:
    return load_practice_file(MAPLE).practice


def test_an_instant_that_is_not_one_in_the_local_zone_leaves_the_field_empty() -> None:
    practice = _maple().model_copy(update={"timezone": "Asia/Tokyo"})
    assert _local_input("0001-01-01T00:00+05:00", practice) == ""
    assert _local_input("9999-12-31T23:00-05:00", practice) == ""
    assert _local_input("2027-01-05T09:00+09:00", practice) == "2027-01-05T09:00"


def _form(**change: str) -> dict[str, str]:
    return {
        "group_id": "peds-after-hours", "role": "primary", "kind": "replace",
        "clinician_id": "dr-brandt", "replaced": "", "start": "2027-02-01T09:00",
        "end": "2027-02-01T12:00", "note": "", "override_id": "", "back": "overrides",
        **change,
    }  # fmt: skip


@pytest.mark.parametrize("clinician", ["x!", "", "a" * 200])
def test_an_override_for_an_impossible_clinician_id_is_422_naming_the_field(
    clinician: str,
) -> None:
    with pytest.raises(ApiProblem) as refused:
        _proposal(_maple(), _form(clinician_id=clinician))
    assert refused.value.problem.status == 422
    detail = refused.value.problem.detail or ""
    assert "clinician_id" in detail and (not clinician or clinician not in detail)


def test_a_preview_covers_at_most_93_days() -> None:
    practice = _maple()  # Chicago: the clocks go forward an hour in March
    ok = _proposal(practice, _form(start="2027-01-01T00:00", end="2027-04-04T01:00"))
    assert _previewable(ok) is ok
    longer = _proposal(practice, _form(start="2027-01-01T00:00", end="2027-04-04T01:01"))
    with pytest.raises(ApiProblem) as refused:
        _previewable(longer)
    assert refused.value.problem.status == 422
    assert "93 days" in (refused.value.problem.detail or "")
    huge = _proposal(practice, _form(start="0001-01-02T00:00", end="9999-12-30T00:00"))
    with pytest.raises(ApiProblem):
        _previewable(huge)


def _levels(count: str, filled: int = 1) -> dict[str, str]:
    form = {"count": count}
    for n in range(filled):
        form[f"targets-{n}"] = "primary"
        form[f"timeout-{n}"] = "60"
    return form


def test_an_escalation_form_has_at_most_20_levels_and_a_blank_row() -> None:
    assert len(_levels_from_form(_levels(str(MOST_LEVELS + 1), MOST_LEVELS))) == MOST_LEVELS
    assert MOST_LEVELS == 20


@pytest.mark.parametrize("count", ["22", "100000000000", "²", "-1", "many", "9" * 5000])
def test_an_escalation_form_with_too_many_rows_is_refused_plainly(count: str) -> None:
    with pytest.raises(ValueError, match="count: a policy has at most 20 levels") as refused:
        _levels_from_form(_levels(count))
    assert count not in str(refused.value)


def test_an_empty_count_is_no_levels() -> None:
    assert _levels_from_form({}) == []
