"""Dependencies point one way: schemas <- producers; schemas <- lineage <- consumers."""

from __future__ import annotations

import ast
import re
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


SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|ALTER\s+TABLE|CREATE\s+(TABLE|VIEW|DATABASE)|"
    r"DROP\s+(TABLE|VIEW|DATABASE)|OPTIMIZE\s+TABLE|TRUNCATE\s+TABLE)\b",
    re.DOTALL,
)


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal that is not a docstring, with its line."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_no_sql_outside_the_store_package() -> None:
    store = ROOT / "lineage" / "store"
    files = [
        path
        for folder in (*ALLOWED, "jejak")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if store not in path.parents
    ]
    assert len(files) > 50  # the glob found the code
    for sql in (
        "SELECT count() FROM {db}.events",
        "ALTER TABLE x DELETE WHERE 1",
        "DROP DATABASE d",
    ):
        assert SQL.search(sql), sql  # the pattern finds what it is for
    bad = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in files
        for line, text in _strings(ast.parse(path.read_text(), str(path)))
        if SQL.search(text)
    ]
    assert not bad, "SQL outside jejak.lineage.store: " + ", ".join(bad)
