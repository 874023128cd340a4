"""Load a practice definition (YAML or JSON).

Errors carry line numbers: the file is composed with PyYAML, which keeps each
node's position, and every pydantic error location and every semantic check
is mapped back to the line of the offending node. All problems are reported
at once, e.g. ``demo.yaml:42: coverage_groups[0].layers[1].shift_length: must
be at least 1``. Semantic checks: clinicians, groups and ids must resolve and
be unique; ``replace`` overrides must not contradict; the operator desk may
only be a policy's last level (it is appended anyway); the escalation pace
must be in order (:mod:`engine.domain.pace`). Unquoted ``17:30`` stays a string
(YAML 1.1 would read the number 1050).

Devices are not part of a practice: a clinician's phone registers itself (the
``devices`` topic, or ``nightline device register``), so a file cannot hand one
clinician's phone to another. A ``devices`` section is an error that says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.domain.practice import Practice
from engine.schemas._base import IDENTIFIER_PATTERN, AwareDatetime

__all__ = [
    "Issue",
    "PracticeFile",
    "PracticeFileError",
    "check_practice",
    "load_practice_file",
    "load_practice_text",
]

Loc = tuple[str | int, ...]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INSTANT: TypeAdapter[Any] = TypeAdapter(AwareDatetime)
_DEVICES_MOVED = (
    "devices are not part of a practice file: each phone registers itself through the "
    "app (the devices topic) or `nightline device register`; remove this section"
)


class PracticeFile(BaseModel):
    """What a practice file holds: the practice."""

    model_config = ConfigDict(extra="forbid")
    practice: Practice


@dataclass(frozen=True)
class Issue:
    """One problem: the line (1-based, None when unknown), where, and what."""

    source: str
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        at = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{at}: {self.where}: {self.message}" if self.where else f"{at}: {self.message}"


class PracticeFileError(ValueError):
    """A practice file that cannot be loaded; ``issues`` lists every problem."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 base-60 numbers, so ``08:00`` is text."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in rules if tag not in {_INT, _FLOAT}]
        for first, rules in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def load_practice_file(path: Path) -> PracticeFile:
    """Read, validate and check a practice file; raise :class:`PracticeFileError`."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PracticeFileError([Issue(str(path), None, "", f"cannot read: {exc}")]) from exc
    if path.suffix.lower() == ".json":
        text = text.replace("\t", " ")  # JSON allows tabs only as whitespace; YAML does not
    return load_practice_text(text, str(path))


def load_practice_text(text: str, source: str = "<practice>") -> PracticeFile:
    """Like :func:`load_practice_file`, for text already in memory."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PracticeFileError([Issue(source, line, "", f"not valid YAML: {problem}")]) from exc
    finally:
        loader.dispose()
    if root is None or not isinstance(data, dict):
        raise PracticeFileError([Issue(source, 1, "", "expected a mapping at the top level")])
    issues = _duplicate_keys(source, root)
    found: list[tuple[Loc, str]] = []
    if "devices" in data:
        del data["devices"]
        found.append((("devices",), _DEVICES_MOVED))
    practice = _validate(Practice, data, (), found)
    found += _semantic(data)
    issues += [_issue(source, root, loc, message) for loc, message in found]
    if issues:
        raise PracticeFileError(
            sorted(set(issues), key=lambda i: (i.line or 0, i.where, i.message))
        )
    assert isinstance(practice, Practice)
    return PracticeFile(practice=practice)


def check_practice(practice: Practice) -> list[str]:
    """Semantic problems of an already-built practice (e.g. after merging overrides)."""
    data = practice.model_dump(mode="json")
    return [f"{_where(loc)}: {message}" for loc, message in _semantic(data)]


# --- pydantic errors ---------------------------------------------------------------------


def _validate(model: type[BaseModel], data: Any, prefix: Loc, out: list[tuple[Loc, str]]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            out.append(((*prefix, *err["loc"]), _message(err)))
        return None


def _message(err: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    simple = {
        "missing": "required field is missing",
        "extra_forbidden": "unknown field",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "greater_than": f"must be greater than {ctx.get('gt')}",
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "enum": f"must be one of {ctx.get('expected')}",
        "literal_error": f"must be one of {ctx.get('expected')}",
    }
    if kind in simple:
        return simple[kind]
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "must be a mapping"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == IDENTIFIER_PATTERN:
        return "must be an id: letters, digits and _.:- (starting with a letter or digit)"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    return str(err["msg"]).removeprefix("Value error, ")


# --- lines ----------------------------------------------------------------------------------


def _issue(source: str, root: Node, loc: Loc, message: str) -> Issue:
    node, line, shown = root, root.start_mark.line + 1, []
    for index, part in enumerate(loc):
        key_line, child = _child(node, part)
        if child is not None:
            node, line = child, key_line
            shown.append(part)
        elif index == len(loc) - 1 and isinstance(part, str) and _NAME.match(part):
            shown.append(part)  # a missing field: point at its parent
    return Issue(source, line, _where(tuple(shown)), message)


def _child(node: Node, part: str | int) -> tuple[int, Node | None]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == str(part):
                return key.start_mark.line + 1, value
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item.start_mark.line + 1, item
    return 0, None


def _where(loc: Loc) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    return text.removeprefix(".")


def _duplicate_keys(source: str, node: Node, loc: Loc = ()) -> list[Issue]:
    found: list[Issue] = []
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else "?"
            if name in seen:
                line = key.start_mark.line + 1
                found.append(Issue(source, line, _where((*loc, name)), "key appears twice"))
            seen.add(name)
            found += _duplicate_keys(source, value, (*loc, name))
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicate_keys(source, item, (*loc, index))
    return found


# --- semantic checks (on the raw data, so they run even when some fields are invalid) --------


def _dicts(value: Any, loc: Loc) -> list[tuple[Loc, dict[str, Any]]]:
    items = value if isinstance(value, list) else []
    return [((*loc, i), item) for i, item in enumerate(items) if isinstance(item, dict)]


def _ids(
    rows: list[tuple[Loc, dict[str, Any]]], field: str, out: list[tuple[Loc, str]]
) -> set[str]:
    seen: set[str] = set()
    for loc, row in rows:
        value = row.get(field)
        if value in seen:
            out.append(((*loc, field), f"duplicate {field} {value!r}"))
        if isinstance(value, str):
            seen.add(value)
    return seen


def _semantic(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    clinicians = _ids(_dicts(data.get("clinicians"), ("clinicians",)), "clinician_id", out)
    groups = _dicts(data.get("coverage_groups"), ("coverage_groups",))
    group_ids = _ids(groups, "group_id", out)

    def clinician(loc: Loc, value: Any) -> None:
        if isinstance(value, str) and value not in clinicians:
            out.append((loc, f"unknown clinician {value!r} (not in clinicians)"))

    for loc, group in groups:
        layers = _dicts(group.get("layers"), (*loc, "layers"))
        _ids(layers, "layer_id", out)
        for layer_loc, layer in layers:
            for i, who in enumerate(layer.get("participants") or []):
                clinician((*layer_loc, "participants", i), who)
        overrides = _dicts(group.get("overrides"), (*loc, "overrides"))
        _ids(overrides, "override_id", out)
        for override_loc, override in overrides:
            clinician((*override_loc, "clinician_id"), override.get("clinician_id"))
        out += _contradictions(overrides)
    default = data.get("default_group")
    if isinstance(default, str) and default not in group_ids:
        out.append((("default_group",), f"unknown group {default!r}"))
    policies = data.get("escalation_policies")
    for urgency, policy in policies.items() if isinstance(policies, dict) else ():
        body = policy if isinstance(policy, dict) else {}
        levels = _dicts(body.get("levels"), ("escalation_policies", urgency, "levels"))
        for level_loc, level in levels:
            for loc, target in _dicts(level.get("targets"), (*level_loc, "targets")):
                kind, group_id = target.get("kind"), target.get("group_id")
                if kind == "clinician":
                    clinician((*loc, "clinician_id"), target.get("clinician_id"))
                if kind in ("role", "group") and isinstance(group_id, str):
                    if group_id not in group_ids:
                        out.append(((*loc, "group_id"), f"unknown group {group_id!r}"))
                elif kind in ("role", "group") and not group_ids:
                    out.append((loc, "no coverage groups to page"))
    return out


def _contradictions(overrides: list[tuple[Loc, dict[str, Any]]]) -> list[tuple[Loc, str]]:
    spans = []
    for loc, row in overrides:
        if row.get("kind", "replace") == "replace":
            try:
                start, end = (
                    _INSTANT.validate_python(row.get("start")),
                    _INSTANT.validate_python(row.get("end")),
                )
            except ValidationError:
                continue
            spans.append((loc, row.get("role", "primary"), start, end, row))
    return [
        (
            b[0],
            f"contradicts override {a[4].get('override_id')!r}: both replace {a[1]} "
            "at overlapping times with different clinicians",
        )
        for a, b in combinations(spans, 2)
        if a[1] == b[1]
        and a[2] < b[3]
        and b[2] < a[3]
        and a[4].get("clinician_id") != b[4].get("clinician_id")
    ]
