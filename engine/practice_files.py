"""Load a practice definition (YAML or JSON) with its clinicians' devices, and
store it where workers find it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.domain.practice import Practice
from engine.ports import Device
from engine.schemas.codec import safe_validation_summary

__all__ = ["PracticeFile", "PracticeFileError", "load_practice_file"]


class _DeviceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: str = Field(min_length=1)
    clinician_id: str = Field(min_length=1)
    platform: str = Field(pattern=r"^(ios|android)$")
    push_token: str = Field(min_length=1)


class PracticeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    practice: Practice
    devices: list[Device]


class PracticeFileError(ValueError):
    """A practice file that cannot be loaded; the message says where and why."""


def load_practice_file(path: Path) -> PracticeFile:
    try:
        data: Any = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PracticeFileError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise PracticeFileError(f"{path}: expected a mapping at the top level")
    device_rows = data.pop("devices", []) or []
    try:
        practice = Practice.model_validate(data)
        entries = [_DeviceEntry.model_validate(row) for row in device_rows]
    except ValidationError as exc:
        raise PracticeFileError(f"{path}: {safe_validation_summary(exc)}") from exc
    devices = [Device(**entry.model_dump()) for entry in entries]
    return PracticeFile(practice=practice, devices=devices)
