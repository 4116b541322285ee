"""Helpers shared by the event-contract tests (a module, not conftest, so tests can import it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jejak.schemas.avro_schemas import shipped_schema_dir

SHIPPED = Path(str(shipped_schema_dir()))


def load_avsc(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def write_avsc(folder: Path, name: str, definition: dict[str, Any]) -> None:
    (folder / name).write_text(json.dumps(definition, indent=2), encoding="utf-8")


def field_of(definition: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in definition["fields"] if f["name"] == name)


def plant_old_disclosure(folder: Path) -> None:
    """Make the shipped disclosure schema v2 of ``folder``, under a planted v1 that
    lacks ``recipient.country`` and ``legal_request_ref`` (v2 adds both, nullable
    with defaults): an evolution to test reading old data with."""
    (folder / "disclosure.v1.avsc").rename(folder / "disclosure.v2.avsc")
    older = load_avsc(folder, "disclosure.v2.avsc")
    older["fields"] = [f for f in older["fields"] if f["name"] != "legal_request_ref"]
    recipient = field_of(older, "recipient")["type"]
    recipient["fields"] = [f for f in recipient["fields"] if f["name"] != "country"]
    write_avsc(folder, "disclosure.v1.avsc", older)
