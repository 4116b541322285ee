"""Schema evolution: which schema changes keep old and new code working together.

The rule jejak holds itself to is **FULL_TRANSITIVE**: every version of a kind
can read data written with every other version, older or newer.

- Backward, transitively: the consumers read with the current schema and must
  read every event ever written, including those replayed from a producer's
  spool, the dead-letter topic or the topic's retention long after the fact.
- Forward, transitively: product services upgrade the SDK on their own
  schedule, so a consumer (or another team's reader) still on an older schema
  must read what a newer producer writes.

In practice that allows adding or removing a field only with a default, adding
a branch to a union only where readers have it, widening a type along Avro's
promotions (int -> long -> float -> double, string <-> bytes) only one way and so
on; renaming needs aliases. The checker implements the resolution rules of the
Avro specification ("Schema Resolution") directly on the schemas, so a break is
reported with the field it is about, not discovered by a failing decode.
Beyond the specification it also flags a changed ``logicalType``
(``timestamp-millis`` read as ``timestamp-micros`` is silently wrong by 1000x)
and shared named types (``Producer``) that differ between kinds, because one
pydantic model mirrors each of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from jejak.schemas.avro_schemas import AvroSchema, SchemaCatalog

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}
"""writer type -> reader types that may read it (Avro specification, Schema Resolution)."""

Rule = Literal[
    "missing_field",
    "type_changed",
    "name_changed",
    "missing_symbol",
    "size_changed",
    "union_branch",
    "logical_type",
]


@dataclass(frozen=True)
class Incompatibility:
    """One reason a reader schema cannot read a writer's data."""

    path: str
    """Dotted path of the field it is about (``recipient.country``), or ``(record)``."""
    rule: Rule
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"


def _type_name(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return str(schema["type"])
    return str(schema)


def _describe(schema: Any) -> str:
    if isinstance(schema, dict) and "name" in schema:
        return f"{schema['type']} {schema['name']}"
    if isinstance(schema, dict) and schema["type"] in ("array", "map"):
        inner = schema["items" if schema["type"] == "array" else "values"]
        return f"{schema['type']}<{_describe(inner)}>"
    if isinstance(schema, list):
        return "union[" + ", ".join(_describe(b) for b in schema) + "]"
    return _type_name(schema)


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _logical(schema: Any) -> str | None:
    return schema.get("logicalType") if isinstance(schema, dict) else None


class _Resolver:
    """Avro's resolution rules, applied to two parsed schemas (fastavro's form)."""

    def __init__(self, reader: dict[str, Any], writer: dict[str, Any]) -> None:
        self.reader_named: dict[str, Any] = dict(reader.get("__named_schemas", {}))
        self.writer_named: dict[str, Any] = dict(writer.get("__named_schemas", {}))
        self._in_progress: set[tuple[str, str]] = set()

    def _resolve(self, schema: Any, named: dict[str, Any]) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            return named.get(schema, schema)
        return schema

    def check(self, reader: Any, writer: Any, path: str) -> list[Incompatibility]:
        reader = self._resolve(reader, self.reader_named)
        writer = self._resolve(writer, self.writer_named)
        r_type, w_type = _type_name(reader), _type_name(writer)

        if w_type == "union":
            # every branch the writer may have chosen must be readable
            problems: list[Incompatibility] = []
            for branch in writer:
                problems.extend(self.check(reader, branch, path))
            return problems
        if r_type == "union":
            # the branch that matches the writer's type (exactly, else by promotion) is
            # resolved against it, as the specification says; its problems are ours
            branch = self._matching_branch(reader, writer)
            if branch is not None:
                return self.check(branch, writer, path)
            return [
                Incompatibility(
                    path,
                    "union_branch",
                    f"{_describe(writer)} is written but the reader's "
                    f"{_describe(reader)} has no branch that reads it",
                )
            ]

        if r_type != w_type:
            if r_type in _PROMOTIONS.get(w_type, set()):
                return self._logical(reader, writer, path)
            return [
                Incompatibility(
                    path,
                    "type_changed",
                    f"{_describe(writer)} is written but the reader expects {_describe(reader)}",
                )
            ]

        if r_type in _PRIMITIVES:
            return self._logical(reader, writer, path)
        if r_type in ("record", "enum", "fixed"):
            named_problem = self._names(reader, writer, path)
            if named_problem is not None:
                return [named_problem]
        if r_type == "array":
            return self.check(reader["items"], writer["items"], f"{path}[]")
        if r_type == "map":
            return self.check(reader["values"], writer["values"], f"{path}{{}}")
        if r_type == "fixed":
            if reader["size"] != writer["size"]:
                return [
                    Incompatibility(
                        path,
                        "size_changed",
                        f"fixed size {writer['size']} is written, the reader expects {reader['size']}",
                    )
                ]
            return []
        if r_type == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                return [
                    Incompatibility(
                        path,
                        "missing_symbol",
                        f"enum symbol(s) {', '.join(missing)} may be written but the reader "
                        "does not know them and has no default symbol",
                    )
                ]
            return []
        return self._record(reader, writer, path)

    def _matching_branch(self, union: list[Any], writer: Any) -> Any | None:
        w_type = _type_name(writer)
        branches = [self._resolve(b, self.reader_named) for b in union]
        for branch in branches:
            if _type_name(branch) == w_type and (
                w_type not in ("record", "enum", "fixed") or self._names(branch, writer, "") is None
            ):
                return branch
        for branch in branches:
            if _type_name(branch) in _PROMOTIONS.get(w_type, set()):
                return branch
        return None

    def _names(
        self, reader: dict[str, Any], writer: dict[str, Any], path: str
    ) -> Incompatibility | None:
        """Names match as in Java's ``SchemaCompatibility``: the same unqualified name, or
        the writer's *full* name among the reader's aliases (an alias without a dot is
        in the reader's namespace, as the specification says): ``other.Old`` does not
        rename ``dev.jejak.Old``."""
        r_name, w_name = str(reader["name"]), str(writer["name"])
        if _short(r_name) == _short(w_name):
            return None
        namespace = r_name.rsplit(".", 1)[0] if "." in r_name else ""
        aliases = {
            str(a) if "." in str(a) or not namespace else f"{namespace}.{a}"
            for a in reader.get("aliases", [])
        }
        if w_name in aliases:
            return None
        return Incompatibility(
            path or "(record)",
            "name_changed",
            f"{reader['type']} {w_name} is written but the reader expects {r_name} "
            "(rename with an alias of the full name)",
        )

    def _logical(self, reader: Any, writer: Any, path: str) -> list[Incompatibility]:
        r_logical, w_logical = _logical(reader), _logical(writer)
        if r_logical == w_logical:
            return []
        return [
            Incompatibility(
                path,
                "logical_type",
                f"logical type {w_logical or 'none'} is written but the reader "
                f"interprets it as {r_logical or 'none'}",
            )
        ]

    def _record(
        self, reader: dict[str, Any], writer: dict[str, Any], path: str
    ) -> list[Incompatibility]:
        key = (str(reader["name"]), str(writer["name"]))
        if key in self._in_progress:  # a recursive type: already being checked
            return []
        self._in_progress.add(key)
        try:
            written = {f["name"]: f for f in writer["fields"]}
            problems: list[Incompatibility] = []
            for field in reader["fields"]:
                name = field["name"]
                field_path = f"{path}.{name}" if path else name
                source = written.get(name)
                if source is None:
                    for alias in field.get("aliases", []):
                        source = written.get(alias)
                        if source is not None:
                            break
                if source is None:
                    if "default" not in field:
                        problems.append(
                            Incompatibility(
                                field_path,
                                "missing_field",
                                "the reader needs this field, the writer does not write it, "
                                "and the reader has no default for it",
                            )
                        )
                    continue
                problems.extend(self.check(field["type"], source["type"], field_path))
            return problems
        finally:
            self._in_progress.discard(key)


def reader_problems(reader: AvroSchema, writer: AvroSchema) -> list[Incompatibility]:
    """Why ``reader`` cannot read data written with ``writer``; empty when it can."""
    return _Resolver(reader.parsed, writer.parsed).check(reader.parsed, writer.parsed, "")


Direction = Literal["backward", "forward"]


@dataclass(frozen=True)
class Break:
    """An incompatible change between two versions of a kind (or between kinds)."""

    kind: str
    old: int
    new: int
    direction: Direction | Literal["shared_type"]
    problem: Incompatibility
    other_kind: str | None = None

    def __str__(self) -> str:
        where = self.problem.path
        if self.direction == "shared_type":
            return (
                f"{self.kind}.v{self.new} and {self.other_kind}.v{self.old}: named type "
                f"{where} differs; one model mirrors it, so its copies must be identical"
            )
        if self.problem.rule == "missing_field":
            if self.direction == "backward":
                what = f"v{self.new} adds field {where!r} without a default, so it cannot read v{self.old} data"
            else:
                what = (
                    f"v{self.new} drops field {where!r}, which v{self.old} requires (no default), "
                    f"so v{self.old} readers cannot read v{self.new} data"
                )
        elif self.direction == "backward":
            what = f"v{self.new} cannot read v{self.old} data: {self.problem}"
        else:
            what = f"v{self.old} readers cannot read v{self.new} data: {self.problem}"
        return f"{self.kind} v{self.old} -> v{self.new} ({self.direction}): {what}"


def check_pair(old: AvroSchema, new: AvroSchema) -> list[Break]:
    """The breaks between two versions of one kind, in both directions (FULL)."""
    breaks = [
        Break(new.kind, old.version, new.version, "backward", p)
        for p in reader_problems(reader=new, writer=old)
    ]
    breaks += [
        Break(new.kind, old.version, new.version, "forward", p)
        for p in reader_problems(reader=old, writer=new)
    ]
    return breaks


def _named_types(schema: AvroSchema) -> Iterator[tuple[str, Any]]:
    for name, definition in schema.parsed.get("__named_schemas", {}).items():
        if name != schema.full_name:
            yield name, definition


def _shape(definition: Any) -> Any:
    """A named type without docs, for comparing copies of it across files."""
    if isinstance(definition, dict):
        return {
            k: _shape(v)
            for k, v in definition.items()
            if k not in ("doc", "__fastavro_parsed", "__named_schemas")
        }
    if isinstance(definition, list):
        return [_shape(v) for v in definition]
    return definition


def check_catalog(catalog: SchemaCatalog) -> list[Break]:
    """Every break in ``catalog``: each pair of versions of a kind (FULL_TRANSITIVE), and
    shared named types whose current copies differ between kinds."""
    breaks: list[Break] = []
    for kind in catalog.kinds:
        versions = catalog.versions(kind)
        for i, old in enumerate(versions):
            for new in versions[i + 1 :]:
                breaks.extend(check_pair(old, new))
    first_seen: dict[str, tuple[AvroSchema, Any]] = {}
    for kind in catalog.kinds:
        current = catalog.current(kind)
        for name, definition in _named_types(current):
            shape = _shape(definition)
            if name not in first_seen:
                first_seen[name] = (current, shape)
            elif first_seen[name][1] != shape:
                other = first_seen[name][0]
                breaks.append(
                    Break(
                        kind,
                        other.version,
                        current.version,
                        "shared_type",
                        Incompatibility(name, "type_changed", "differs"),
                        other_kind=other.kind,
                    )
                )
    return breaks
