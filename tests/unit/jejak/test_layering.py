"""Dependencies point one way: schemas <- producers; schemas <- lineage <- consumers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# folder -> the jejak sub-packages its code may import
ALLOWED = {
    "schemas": {"schemas"},
    "producers": {"schemas", "producers"},
    "lineage": {"schemas", "lineage"},
    "consumers": {"schemas", "lineage", "consumers", "producers"},
}
# the demo replays traffic through the SDK, so consumers/demo.py may use producers;
# nothing else in consumers does
PRODUCERS_IN_CONSUMERS = {"demo.py"}


def imported_subpackages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "jejak" and len(parts) > 1 and parts[1] in ALLOWED:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_imports_point_one_way(folder: str) -> None:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        allowed = set(ALLOWED[folder])
        if folder == "consumers" and path.name not in PRODUCERS_IN_CONSUMERS:
            allowed.discard("producers")
        wrong = imported_subpackages(path) - allowed
        if wrong:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(wrong)}")
    assert not bad, "\n".join(bad)


def test_the_shared_package_imports_no_sub_package_except_in_the_cli() -> None:
    for path in sorted((ROOT / "jejak").glob("*.py")):
        if path.name == "cli.py":
            continue
        assert not imported_subpackages(path), path.name
