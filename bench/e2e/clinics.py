"""Synthetic practices and the virtual phones of their clinicians (no real people).

Every bench practice pages two levels, each one clinician with one phone: the first
level waits ``first_s`` for an acceptance, the second ``second_s``, then the operator
desk. The scenarios choose the timeouts: long ones so that nothing escalates while a
rate is measured, spread ones so that ack timers come due when wanted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.domain.practice import Practice
from engine.standins.virtual_device import VirtualDevice

__all__ = ["DESK", "LONGEST_TIMEOUT_S", "Clinic", "clinic", "clinics"]

DESK = "bench-desk"
LONGEST_TIMEOUT_S = 24 * 3600.0  # the longest ack timeout a practice may have
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


@dataclass(frozen=True)
class Clinic:
    """One practice, and the phones of its first- and second-level clinicians."""

    practice: Practice
    phones: tuple[VirtualDevice, VirtualDevice]

    @property
    def practice_id(self) -> str:
        return self.practice.practice_id


def _level(clinician_id: str, timeout_s: float) -> dict[str, Any]:
    targets = [{"kind": "clinician", "clinician_id": clinician_id}]
    return {"name": clinician_id, "targets": targets, "ack_timeout_seconds": timeout_s}


def clinic(practice_id: str, first_s: float, second_s: float, platform: str = "ios") -> Clinic:
    """A practice ``practice_id`` whose clinicians ``<practice_id>-primary`` and
    ``-backup`` each have one phone on ``platform``; open on weekdays 08:00-17:00 UTC."""
    primary, backup = f"{practice_id}-primary", f"{practice_id}-backup"
    policy = {"levels": [_level(primary, first_s), _level(backup, second_s)]}
    practice = Practice.model_validate(
        {
            "practice_id": practice_id,
            "name": f"Bench practice {practice_id}",
            "timezone": "UTC",
            "office_hours": {
                "weekly": {d: [{"start": "08:00", "end": "17:00"}] for d in _WEEKDAYS}
            },
            "coverage_groups": [{"group_id": "main", "name": "Bench line"}],  # policies need one
            "escalation_policies": {u: policy for u in ("emergency", "urgent", "routine")},
            "operator_desk": DESK,
        }
    )
    phones = tuple(VirtualDevice(c, f"{c}-phone", platform) for c in (primary, backup))
    return Clinic(practice, (phones[0], phones[1]))


def clinics(prefix: str, timeouts: list[tuple[float, float]]) -> list[Clinic]:
    """One clinic per ``(first_s, second_s)``: ``<prefix>-0``, ``<prefix>-1``, ...; iOS and
    Android phones alternate, so both fakes take pushes."""
    return [
        clinic(f"{prefix}-{n}", first, second, "ios" if n % 2 == 0 else "android")
        for n, (first, second) in enumerate(timeouts)
    ]
