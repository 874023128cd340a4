"""The practice cache's compaction keeps every value and shares what is shared."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from engine.adapters.model_compaction import Compactor
from engine.domain.practice import Practice
from engine.domain.schedule import CoverageRole
from engine.domain.schedule_resolution import on_call

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_schedule import practice_data


def test_compacted_practices_equal_their_originals_and_resolve_the_same() -> None:
    compactor = Compactor()
    originals = [Practice.model_validate(practice_data(n, 5)) for n in range(3)]
    compacted = [compactor.compact(Practice.model_validate(practice_data(n, 5))) for n in range(3)]
    assert compacted == originals
    at = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    for original, small in zip(originals, compacted, strict=True):
        for g_orig, g_small in zip(original.coverage_groups, small.coverage_groups, strict=True):
            for hours in range(0, 24 * 14, 7):
                moment = at + timedelta(hours=hours)
                assert on_call(g_small, CoverageRole.PRIMARY, moment, small.zone) == on_call(
                    g_orig, CoverageRole.PRIMARY, moment, original.zone
                )


def test_equal_configuration_is_shared_and_identities_are_not() -> None:
    compactor = Compactor()
    first = compactor.compact(Practice.model_validate(practice_data(1, 2)))
    second = compactor.compact(Practice.model_validate(practice_data(2, 2)))
    assert first.triage is second.triage
    assert first.office_hours is second.office_hours
    assert first.coverage_groups[0] is not second.coverage_groups[0]
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__


def test_mutable_models_are_refused() -> None:
    class Loose(BaseModel):
        model_config = ConfigDict(frozen=False)
        value: int = 1

    with pytest.raises(ValueError, match="not frozen"):
        Compactor().compact(Loose())
