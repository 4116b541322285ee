"""The Avro schemas of the events: package data, loaded and parsed once.

Each event kind has one record schema per version in ``schemas/avro/``, named
``<kind>.v<N>.avsc`` (``collection.v1.avsc``). All versions of a kind keep the
same record name (``dev.jejak.events.Collection``), because Avro schema
resolution only matches records by name; the version lives in the file name
and in the fingerprint, never in the record.

A schema is identified on the wire by the CRC-64-AVRO (Rabin) fingerprint of
its Parsing Canonical Form, the form the Avro specification defines for
exactly this: docs, defaults and attribute order do not change it, so a doc
fix never changes the wire format, while any change to names, types or field
order does. The fingerprint is kept as the 8 bytes of the single-object
header (little-endian, as the Java implementation writes them) and shown as
those bytes in hex, the same string ``fastavro.schema.fingerprint`` returns.

Closed sets (``kind``, ``source``, ``transfer``, consent ``action``, subject
``request``) are Avro *strings*, not enums, like the policy vocabulary: the
event models check their values, and one more value is then a model change
that old readers survive (they reject the event as invalid, which dead-letters
it), whereas a new enum symbol breaks every old reader at the Avro level, and an
enum ``default`` would silently read an unknown ``transfer`` as ``share``. Each
field's doc lists the values.

Every schema is self-contained: the shared named types (``Producer`` of the
envelope, ``Recipient``) are written out in each file that uses them, so a
consumer in another language can use any one file as is. A test pins that
the copies are identical.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from jejak.errors import SchemaError

NAMESPACE = "dev.jejak.events"
"""Namespace of every jejak event record."""

FINGERPRINT_ALGORITHM = "CRC-64-AVRO"

_FILE_NAME = re.compile(r"(?P<kind>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc")


def shipped_schema_dir() -> Traversable:
    """The ``avro/`` folder of package data that holds the shipped ``.avsc`` files."""
    return files("jejak.schemas") / "avro"


def canonical_fingerprint(canonical_form: str) -> bytes:
    """CRC-64-AVRO of a Parsing Canonical Form: the 8 bytes of a single-object header."""
    return bytes.fromhex(_fastavro_fingerprint(canonical_form, FINGERPRINT_ALGORITHM))


@dataclass(frozen=True, eq=False)
class AvroSchema:
    """One version of one kind's schema: its JSON, fastavro's parsed form and its identity."""

    kind: str
    version: int
    source: str
    """Where it was loaded from (a path, or a description for a registry schema)."""
    definition: dict[str, Any] = field(repr=False)
    """The JSON as written, docs included: what ``show`` prints and a registry stores."""
    parsed: dict[str, Any] = field(repr=False)
    """fastavro's parsed form, for ``schemaless_writer`` / ``schemaless_reader``."""
    canonical_form: str = field(repr=False)
    fingerprint: bytes
    """CRC-64-AVRO of ``canonical_form``, 8 bytes in single-object header order."""

    @classmethod
    def from_definition(
        cls, kind: str, version: int, definition: dict[str, Any], source: str
    ) -> AvroSchema:
        """Parse and fingerprint a schema given as JSON data; :class:`SchemaError` if invalid."""
        if not isinstance(definition, dict) or definition.get("type") != "record":
            raise SchemaError(f"{source}: an event schema must be an Avro record")
        try:
            # a new dict, marked as parsed so that fastavro never parses it again
            parsed = parse_schema(definition)
            canonical = to_parsing_canonical_form(parsed)
        except Exception as exc:  # fastavro raises several unrelated types for a bad schema
            raise SchemaError(f"{source}: not a valid Avro schema: {exc}") from exc
        if not isinstance(parsed, dict):
            raise SchemaError(f"{source}: an event schema must be an Avro record")
        return cls(
            kind=kind,
            version=version,
            source=source,
            definition=definition,
            parsed=parsed,
            canonical_form=canonical,
            fingerprint=canonical_fingerprint(canonical),
        )

    @property
    def full_name(self) -> str:
        """The record's full name, e.g. ``dev.jejak.events.Collection``."""
        return str(self.parsed["name"])

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint as 16 hex digits, in wire (little-endian) byte order."""
        return self.fingerprint.hex()

    @property
    def label(self) -> str:
        """``<kind>.v<N>``, as in the file name, for messages and listings; a schema
        that is not a shipped version (version 0, e.g. from a registry) says where from."""
        if self.version:
            return f"{self.kind}.v{self.version}"
        return f"{self.kind} ({self.source})"

    def to_json(self, *, indent: int | None = None) -> str:
        """The schema as JSON text (docs included), e.g. to register it with a registry."""
        return json.dumps(self.definition, indent=indent, ensure_ascii=False)


class SchemaCatalog:
    """Every version of every kind's schema, looked up by kind, version or fingerprint."""

    def __init__(self, schemas: Iterable[AvroSchema]) -> None:
        by_kind: dict[str, list[AvroSchema]] = {}
        for schema in schemas:
            by_kind.setdefault(schema.kind, []).append(schema)
        self._versions: dict[str, tuple[AvroSchema, ...]] = {}
        self._by_fingerprint: dict[bytes, AvroSchema] = {}
        self._kind_by_name: dict[str, str] = {}
        for kind in sorted(by_kind):
            versions = tuple(sorted(by_kind[kind], key=lambda s: s.version))
            numbers = [s.version for s in versions]
            if numbers != list(range(1, len(versions) + 1)):
                raise SchemaError(
                    f"{kind}: versions must run 1, 2, 3 ... without gaps or repeats; found {numbers}"
                )
            names = {s.full_name for s in versions}
            if len(names) != 1:
                raise SchemaError(
                    f"{kind}: every version must keep the record name, or Avro cannot "
                    f"resolve old data against the new schema; found {sorted(names)}"
                )
            (name,) = names
            if name in self._kind_by_name:
                raise SchemaError(
                    f"{kind} and {self._kind_by_name[name]} both use the record name {name}"
                )
            self._kind_by_name[name] = kind
            self._versions[kind] = versions
            for schema in versions:
                # a version that changes only docs or defaults has the same wire
                # form as the one before: the fingerprint names the newest of them
                self._by_fingerprint[schema.fingerprint] = schema

    @classmethod
    def load(cls, directory: Traversable | Path | None = None) -> SchemaCatalog:
        """Every ``<kind>.v<N>.avsc`` in ``directory`` (default: the shipped schemas)."""
        folder: Traversable = shipped_schema_dir() if directory is None else directory
        if not folder.is_dir():
            raise SchemaError(f"{folder}: no such schema folder")
        schemas: list[AvroSchema] = []
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".avsc"):
                continue
            match = _FILE_NAME.fullmatch(entry.name)
            if match is None:
                raise SchemaError(f"{entry}: schema files are named <kind>.v<N>.avsc")
            try:
                definition = json.loads(entry.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise SchemaError(f"{entry}: cannot read the schema: {exc}") from exc
            schemas.append(
                AvroSchema.from_definition(
                    match["kind"], int(match["version"]), definition, str(entry)
                )
            )
        if not schemas:
            raise SchemaError(f"{folder}: no <kind>.v<N>.avsc files")
        return cls(schemas)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds, sorted."""
        return tuple(self._versions)

    def __iter__(self) -> Iterator[AvroSchema]:
        """Every schema, by kind then version."""
        for versions in self._versions.values():
            yield from versions

    def versions(self, kind: str) -> tuple[AvroSchema, ...]:
        """Every version of ``kind``, oldest first."""
        try:
            return self._versions[kind]
        except KeyError:
            raise SchemaError(
                f"no schema for kind {kind!r}; known kinds: {', '.join(self._versions)}"
            ) from None

    def current(self, kind: str) -> AvroSchema:
        """The latest version of ``kind``: what is written, and what every version is read as."""
        return self.versions(kind)[-1]

    def get(self, kind: str, version: int) -> AvroSchema:
        """One version of ``kind``."""
        versions = self.versions(kind)
        if not 1 <= version <= len(versions):
            raise SchemaError(f"{kind} has versions 1 to {len(versions)}, not {version}")
        return versions[version - 1]

    def by_fingerprint(self, fingerprint: bytes) -> AvroSchema | None:
        """The schema with this single-object fingerprint, or ``None``."""
        return self._by_fingerprint.get(fingerprint)

    def kind_of_record(self, full_name: str) -> str | None:
        """The kind whose records are named ``full_name``, or ``None``."""
        return self._kind_by_name.get(full_name)


@functools.cache
def shipped_catalog() -> SchemaCatalog:
    """The shipped schemas, parsed once per process."""
    return SchemaCatalog.load()


def schema_for(kind: str, version: int | None = None) -> AvroSchema:
    """The shipped schema of ``kind``: the current one, or the given version."""
    catalog = shipped_catalog()
    return catalog.current(kind) if version is None else catalog.get(kind, version)


def fingerprint_of(kind: str) -> str:
    """Hex fingerprint of the current schema of ``kind`` (wire byte order), e.g. for headers."""
    return shipped_catalog().current(kind).fingerprint_hex
