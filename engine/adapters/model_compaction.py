"""Hold many practices in one worker without pydantic's per-instance overhead.

A validated pydantic model keeps a private set of the fields that were given
(``__pydantic_fields_set__``, ~700 bytes for a model with several fields) and
every practice repeats the same default sub-models (triage rules, office hours,
policies). The worker's cache never serialises with ``exclude_unset`` and its
models are frozen, so :class:`Compactor` replaces those sets by one shared set
per class and reuses equal configuration sub-models across practices. Models
with an identity (practices, groups, layers, overrides, clinicians) are never
shared. The result compares equal to the input.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["Compactor"]

M = TypeVar("M", bound=BaseModel)

_WITH_IDENTITY = frozenset({"Practice", "CoverageGroup", "Layer", "Override", "Clinician"})


class Compactor:
    """Compacts frozen models in place; keeps a table of shared sub-models."""

    def __init__(self) -> None:
        self._fields_sets: dict[type, set[str]] = {}
        self._shared: dict[bytes, BaseModel] = {}

    def compact(self, model: M) -> M:
        if not model.model_config.get("frozen"):
            raise ValueError(f"{type(model).__name__} is not frozen; it cannot be shared")
        key = None
        if type(model).__name__ not in _WITH_IDENTITY:
            text = type(model).__qualname__.encode() + model.model_dump_json().encode()
            key = hashlib.blake2b(text, digest_size=16).digest()
            found = self._shared.get(key)
            if found is not None and type(found) is type(model):
                return found
        fields = model.__dict__
        for name, value in fields.items():
            fields[name] = self._value(value)
        shared = self._fields_sets.setdefault(type(model), set(type(model).model_fields))
        object.__setattr__(model, "__pydantic_fields_set__", shared)
        if key is not None:
            self._shared[key] = model
        return model

    def _value(self, value: Any) -> Any:
        if isinstance(value, BaseModel):
            return self.compact(value)
        if isinstance(value, list):
            return [self._value(v) for v in value]
        if isinstance(value, dict):
            return {self._value(k): self._value(v) for k, v in value.items()}
        if type(value) is str:
            return sys.intern(value)
        return value
