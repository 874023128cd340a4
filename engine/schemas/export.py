"""Export JSON Schema for every topic's events, for integrators in other languages.

``nightline schemas export`` writes one file per topic into
``engine/schemas/json/``; a unit test fails when the committed files are stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.schemas.catalogue import CATALOGUE

__all__ = ["SCHEMA_DIR", "export_schemas", "render_schemas"]

SCHEMA_DIR = Path(__file__).parent / "json"


def render_schemas() -> dict[str, str]:
    """File name -> JSON text of the schema of every topic in the catalogue."""
    files: dict[str, str] = {}
    for topic in CATALOGUE:
        schema: dict[str, Any] = topic.adapter.json_schema(mode="validation")
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"nightline/{topic.name}.schema.json",
            "title": f"nightline topic '{topic.name}'",
            "description": f"{topic.description} Key: {topic.key}.",
            **{k: v for k, v in schema.items() if k not in {"title", "description"}},
        }
        files[f"{topic.name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def export_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file (and remove stale ones); return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    rendered = render_schemas()
    for stale in directory.glob("*.schema.json"):
        if stale.name not in rendered:
            stale.unlink()
    written = []
    for name, text in rendered.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
