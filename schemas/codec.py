"""The one codec: ``encode(event) -> bytes`` and ``decode(bytes) -> event``.

Framing is chosen by configuration (:class:`~jejak.settings.SchemaSettings`),
never by callers:

- **Avro single-object encoding** (the default, no registry needed):
  ``C3 01``, the 8-byte CRC-64-AVRO fingerprint of the writer schema's
  Parsing Canonical Form (little-endian), then the Avro binary body. The
  fingerprint names the exact schema version, so a consumer decodes events of
  every version it ships, with Avro schema resolution to the current one.
- **Confluent wire format** when ``registry_url`` is set: ``00``, the 4-byte
  big-endian schema id, then the body. Schemas are registered under the
  *record name* strategy (subject ``dev.jejak.events.Disclosure``), because
  one topic carries every kind of event and the topic-name strategy allows
  one schema per topic; a subject per record also keeps one compatibility
  history per event kind wherever the event is written (the events topic, the
  dead-letter topic, a replay). Before registering, the codec sets each
  subject's compatibility level to ``FULL_TRANSITIVE``, the rule jejak's own
  checker holds the schemas to (:mod:`jejak.schemas.compat`), so the registry
  refuses what the checker would; the registry's default (``BACKWARD``) would
  let a change through that older readers cannot read.

The decoder reads both framings whatever the configuration: single-object
always, Confluent whenever it has a registry client (otherwise
:class:`RegistryRequired` says one is needed). It fails only with
subclasses of :class:`~jejak.errors.UndecodableEvent`, each in bounded time and
memory: a payload over ``max_payload_bytes`` is refused before it is read, and
every length or item count inside it is checked against the bytes left before
anything is allocated (see :mod:`jejak.schemas.avro_compile`). The worst case
is a payload at the limit made of one-byte array items (half a million
categories): about half a second to decode and reject on one core; a smaller
``max_payload_bytes`` tightens that (real events are a few hundred bytes).

A decoded record becomes an event through checks compiled from the models
(:mod:`jejak.schemas.trusted`), not pydantic's per-event validation, which
runs only on a record those checks refuse and so raises the errors it always
raised; the events built are equal to the validated ones (a test decodes
simulated and generated events both ways). ``trusted_decode=False`` validates
everything with pydantic.

Encoding reads the event's attributes directly into Avro binary through a
writer compiled from the schema (no ``model_dump``), because the SDK's
encode-and-enqueue path must sustain 100,000 events per second on one core.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, cast

from fastavro.read import SchemaResolutionError
from pydantic import BaseModel, ValidationError

from jejak.errors import (
    BadMagic,
    ConfigError,
    InvalidEvent,
    PersonalDataRefused,
    SchemaError,
    TruncatedPayload,
    UndecodableEvent,
    UnknownFingerprint,
)
from jejak.schemas.avro_compile import Reader, Writer, reader_for, writer_for
from jejak.schemas.avro_schemas import AvroSchema, SchemaCatalog, shipped_catalog
from jejak.schemas.compat import reader_problems
from jejak.schemas.models import EVENT_KINDS, invalid_event
from jejak.schemas.trusted import Builder, builder_for
from jejak.settings import SchemaSettings, redact_dsn

if TYPE_CHECKING:
    from jejak.schemas.models import Event

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 1 << 20
"""Largest payload encoded or decoded (1 MiB): events are small; garbage can claim to be huge."""

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0x00
_SINGLE_OBJECT_HEADER = len(SINGLE_OBJECT_MAGIC) + 8
_CONFLUENT_HEADER = 5

SUBJECT_COMPATIBILITY = "FULL_TRANSITIVE"
"""The compatibility level the codec sets on each subject it registers (see the module doc)."""

HEADER_KIND = "jejak.kind"
"""Kafka header with the event kind, so routing and dead-lettering need not decode."""
HEADER_SCHEMA = "jejak.schema"
"""Kafka header with the writer schema's fingerprint (hex), whatever the framing."""


class Framing(StrEnum):
    """How a payload names its writer schema."""

    SINGLE_OBJECT = "single-object"
    CONFLUENT = "confluent"


# ----------------------------------------------------------------- typed errors


class MalformedBody(UndecodableEvent):
    """The Avro body is not a valid encoding of the writer's schema."""


class TrailingBytes(UndecodableEvent):
    """The body decoded, but bytes are left over after it."""


class InvalidPayload(UndecodableEvent):
    """The body decodes but the event breaks the contract (a field fails validation)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__("invalid event", f"{field}: {problem}")
        self.field, self.problem = field, problem


class PersonalPayload(InvalidPayload):
    """The body decodes but a field other than ``subject_id`` holds a personal identifier.

    ``withhold`` tells a consumer to keep neither the message's key nor its value.
    """

    withhold = True

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.reason = "personal_data"


class PayloadTooLarge(UndecodableEvent):
    """The payload is over the codec's size limit and was not read."""


class RegistryRequired(UndecodableEvent):
    """A Confluent-framed payload, but no schema registry is configured to resolve its id."""


class UnknownSchemaId(UndecodableEvent):
    """The schema registry does not know the payload's schema id."""


class UnusableSchema(UndecodableEvent):
    """The registry's schema for the id is not a jejak event schema this codec can read."""


class RegistryUnavailable(UndecodableEvent):
    """The schema registry could not be asked: retry later rather than dead-letter the event."""


_TRUNCATED = (IndexError, EOFError)
_MALFORMED = (
    ValueError,  # includes UnicodeDecodeError
    OverflowError,
    KeyError,
    TypeError,
    MemoryError,
    RecursionError,
    SchemaResolutionError,
)
_UNENCODABLE = (AttributeError, TypeError, KeyError, ValueError, OverflowError)


# ----------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class _WritePlan:
    kind: str
    schema: AvroSchema
    header: bytes
    write: Writer
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class _ReadPlan:
    writer: AvroSchema
    read: Reader
    validate: Callable[[Any], BaseModel]
    build: Builder | None
    """The model without validation when the record passes the builder's checks (None: none)."""


def registry_subject(schema: AvroSchema) -> str:
    """The registry subject of a schema: its record's full name (record name strategy)."""
    return schema.full_name


def message_headers(schema: AvroSchema) -> list[tuple[str, bytes]]:
    """Kafka headers naming an event's kind and writer schema, cheap to read without decoding."""
    return [(HEADER_KIND, schema.kind.encode()), (HEADER_SCHEMA, schema.fingerprint_hex.encode())]


class RegistryClient(Protocol):
    """What the codec asks of a schema registry: the methods of confluent-kafka's
    ``SchemaRegistryClient`` it calls (tests give it a double of this)."""

    def register_schema(self, subject_name: str, schema: Any) -> int: ...

    def lookup_schema(self, subject_name: str, schema: Any) -> Any: ...

    def get_schema(self, schema_id: int) -> Any: ...

    def set_compatibility(
        self, subject_name: str | None = None, level: str | None = None
    ) -> Any: ...

    def close(self) -> None: ...


def _registry_client(url: str) -> Any:
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient
    except ImportError as exc:
        raise ConfigError(
            "a schema registry URL is set, but confluent-kafka's schema registry client "
            "is not installed: pip install 'jejak[registry]'"
        ) from exc
    # new_client, not the constructor: it returns the in-memory mock for mock:// URLs
    return SchemaRegistryClient.new_client({"url": url})


class Codec:
    """Encodes events to bytes and decodes them back, in the framing configured.

    Create one per process (or use :func:`encode` / :func:`decode` for the
    default single-object codec) and share it: it is thread-safe, and its
    compiled writers and readers and its registry lookups are cached.
    """

    def __init__(
        self,
        catalog: SchemaCatalog | None = None,
        *,
        registry: RegistryClient | None = None,
        auto_register: bool = True,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        trusted_decode: bool = True,
    ) -> None:
        """``registry``: a confluent-kafka ``SchemaRegistryClient``; given, events are
        written in the Confluent wire format, registering the current schemas
        (``auto_register``) or looking up their ids.

        ``trusted_decode``: build decoded events with the checks compiled from
        the models (:mod:`jejak.schemas.trusted`), validating with pydantic only
        the records they refuse; the result and the errors are the same either
        way (False: always pydantic, for tests and benchmarks)."""
        self._catalog = catalog or shipped_catalog()
        self._registry: Any = registry
        self._owns_registry = False
        self._auto_register = auto_register
        self._max = max_payload_bytes
        self._validators: dict[str, Callable[[Any], BaseModel]] = {
            kind: model.model_validate for kind, model in EVENT_KINDS.items()
        }
        self._builders: dict[str, Builder | None] = {
            kind: builder_for(model) if trusted_decode else None
            for kind, model in EVENT_KINDS.items()
        }
        self._write_plans: dict[str, _WritePlan] = {}
        self._by_fingerprint: dict[bytes, _ReadPlan] = {}
        self._by_schema_id: dict[int, _ReadPlan] = {}
        for kind in self._catalog.kinds:
            if kind not in self._validators:
                raise SchemaError(
                    f"schema kind {kind!r} has no event model in jejak.schemas.models"
                )
            for schema in self._catalog.versions(kind):
                if self._catalog.by_fingerprint(schema.fingerprint) is schema:
                    self._by_fingerprint[schema.fingerprint] = self._read_plan(schema)
            if registry is None:
                current = self._catalog.current(kind)
                self._write_plans[kind] = self._write_plan(
                    current, SINGLE_OBJECT_MAGIC + current.fingerprint
                )

    @classmethod
    def from_settings(
        cls, settings: SchemaSettings, *, catalog: SchemaCatalog | None = None
    ) -> Codec:
        """The codec the settings ask for: Confluent framing if a registry URL is set."""
        if settings.registry_url is None:
            return cls(catalog)
        log.info("schema registry framing, registry %s", redact_dsn(settings.registry_url))
        codec = cls(catalog, registry=_registry_client(settings.registry_url))
        codec._owns_registry = True
        return codec

    # ------------------------------------------------------------- properties

    @property
    def framing(self) -> Framing:
        """The framing :meth:`encode` writes."""
        return Framing.SINGLE_OBJECT if self._registry is None else Framing.CONFLUENT

    @property
    def catalog(self) -> SchemaCatalog:
        return self._catalog

    @property
    def max_payload_bytes(self) -> int:
        return self._max

    # ------------------------------------------------------------- plans

    def _write_plan(self, schema: AvroSchema, header: bytes) -> _WritePlan:
        return _WritePlan(
            kind=schema.kind,
            schema=schema,
            header=header,
            write=writer_for(schema.parsed),
            headers=tuple(message_headers(schema)),
        )

    def _read_plan(self, writer: AvroSchema) -> _ReadPlan:
        current = self._catalog.current(writer.kind)
        same = writer.fingerprint == current.fingerprint
        return _ReadPlan(
            writer=writer,
            read=reader_for(writer.parsed, None if same else current.parsed),
            validate=self._validators[writer.kind],
            build=self._builders[writer.kind],
        )

    def _registered_plan(self, kind: str) -> _WritePlan:
        """Register (or look up) the current schema of ``kind`` and remember its id."""
        from confluent_kafka.schema_registry import Schema

        schema = self._catalog.current(kind)
        subject = registry_subject(schema)
        registry_schema = Schema(schema.to_json(), "AVRO")
        if self._auto_register and type(self._registry).__name__ != "MockSchemaRegistryClient":
            # (confluent-kafka's in-memory mock for mock:// URLs keeps no config: asking it
            # costs seconds of HTTP retries against nothing)
            self._set_compatibility(subject)
        try:
            if self._auto_register:
                schema_id = int(self._registry.register_schema(subject, registry_schema))
            else:
                schema_id = int(self._registry.lookup_schema(subject, registry_schema).schema_id)
        except Exception as exc:  # the client raises its own and its HTTP library's errors
            raise SchemaError(
                f"schema registry: cannot {'register' if self._auto_register else 'look up'} "
                f"{schema.label} under subject {subject}: {exc}"
            ) from exc
        log.info("schema %s is id %d under subject %s", schema.label, schema_id, subject)
        plan = self._write_plan(schema, bytes([CONFLUENT_MAGIC]) + schema_id.to_bytes(4, "big"))
        self._by_schema_id[schema_id] = self._by_fingerprint[schema.fingerprint]
        self._write_plans[kind] = plan
        return plan

    def _set_compatibility(self, subject: str) -> None:
        """FULL_TRANSITIVE on the subject, before its first registration here.

        A registry that refuses (a producer's credentials may not change its
        config) gets a warning, not an error: the schema is still registered,
        under the level the registry has.
        """
        try:
            self._registry.set_compatibility(subject_name=subject, level=SUBJECT_COMPATIBILITY)
        except Exception as exc:  # the client raises its own and its HTTP library's errors
            log.warning(
                "schema registry: cannot set %s on subject %s (%s); the registry's own "
                "level applies to it",
                SUBJECT_COMPATIBILITY,
                subject,
                type(exc).__name__,
            )

    def prepare(self) -> None:
        """Register or look up every current schema now, so that no later
        :meth:`encode` waits on the registry; a no-op without a registry."""
        if self._registry is not None:
            for kind in self._catalog.kinds:
                if kind not in self._write_plans:
                    self._registered_plan(kind)

    # ------------------------------------------------------------- encode

    def _plan_for(self, event: Any) -> _WritePlan:
        kind = getattr(event, "kind", None)
        if not isinstance(kind, str):
            raise InvalidEvent("kind", f"{type(event).__name__} is not a jejak event")
        plan = self._write_plans.get(kind)
        if plan is not None:
            return plan
        if kind not in self._catalog.kinds:
            raise InvalidEvent(  # the kind is not quoted: it is whatever the object carried
                "kind", f"no schema for this kind; one of {', '.join(self._catalog.kinds)}"
            )
        return self._registered_plan(kind)

    def encode(self, event: BaseModel) -> bytes:
        """The event in the configured framing. :class:`InvalidEvent` if it cannot be
        encoded (only for objects that bypassed validation); :class:`SchemaError`
        if the registry cannot be reached the first time a kind is written."""
        try:
            plan = self._write_plans[event.kind]  # type: ignore[attr-defined]
        except (KeyError, AttributeError):
            plan = self._plan_for(event)
        out = bytearray(plan.header)
        try:
            plan.write(event, out)
        except _UNENCODABLE as exc:
            # the type, not str(exc): a KeyError or TypeError text may quote a field's value
            raise InvalidEvent(
                "event",
                f"cannot be encoded as {plan.schema.label} ({type(exc).__name__}); "
                "was it built without validation?",
            ) from exc
        if len(out) > self._max:
            raise InvalidEvent(
                "event", f"encodes to {len(out)} bytes, over the limit of {self._max}"
            )
        return bytes(out)

    def headers(self, event: BaseModel) -> list[tuple[str, bytes]]:
        """Kafka headers for the event: its kind and the fingerprint of the schema it is written with."""
        try:
            plan = self._write_plans[event.kind]  # type: ignore[attr-defined]
        except (KeyError, AttributeError):
            plan = self._plan_for(event)
        return list(plan.headers)

    # ------------------------------------------------------------- decode

    def decode(self, payload: bytes | bytearray | memoryview) -> Event:
        """The event in ``payload``, in either framing; only :class:`UndecodableEvent` subclasses."""
        if type(payload) is not bytes:
            payload = bytes(payload)
        size = len(payload)
        if size > self._max:
            raise PayloadTooLarge(
                "payload too large", f"{size} bytes, over the limit of {self._max}"
            )
        if size == 0:
            raise TruncatedPayload("truncated", "empty payload")
        first = payload[0]
        if first == 0xC3:
            if size >= 2 and payload[1] != 0x01:
                raise BadMagic("bad magic", f"starts {payload[:2].hex()}, not c301 or 00")
            if size < _SINGLE_OBJECT_HEADER:
                raise TruncatedPayload("truncated", f"{size} bytes: the header alone takes 10")
            fingerprint = payload[2:_SINGLE_OBJECT_HEADER]
            plan = self._by_fingerprint.get(fingerprint)
            if plan is None:
                raise UnknownFingerprint(
                    "unknown fingerprint", f"no schema with fingerprint {fingerprint.hex()}"
                )
            return self._read(plan, payload, _SINGLE_OBJECT_HEADER)
        if first == CONFLUENT_MAGIC:
            if self._registry is None:
                raise RegistryRequired(
                    "registry needed",
                    "the payload is in the Confluent wire format; set "
                    "JEJAK_SCHEMAS__REGISTRY_URL to read it",
                )
            if size < _CONFLUENT_HEADER:
                raise TruncatedPayload("truncated", f"{size} bytes: the header alone takes 5")
            schema_id = int.from_bytes(payload[1:_CONFLUENT_HEADER], "big")
            return self._read(self._plan_for_id(schema_id), payload, _CONFLUENT_HEADER)
        raise BadMagic("bad magic", f"first byte {first:#04x}, neither c3 01 nor 00")

    def _read(self, plan: _ReadPlan, payload: bytes, offset: int) -> Event:
        try:
            record, end = plan.read(payload, offset)
        except _TRUNCATED as exc:
            raise TruncatedPayload(
                "truncated body", f"{plan.writer.label}: {exc or 'ends early'}"
            ) from exc
        except _MALFORMED as exc:
            raise MalformedBody("bad avro body", f"{plan.writer.label}: {exc}") from exc
        if end != len(payload):
            raise TrailingBytes(
                "trailing bytes",
                f"{plan.writer.label}: {len(payload) - end} byte(s) after the body",
            )
        if plan.build is not None:
            event = plan.build(record)
            if event is not None:
                return cast("Event", event)
        try:
            return cast("Event", plan.validate(record))
        except ValidationError as exc:
            invalid = invalid_event(exc)
            cls = PersonalPayload if isinstance(invalid, PersonalDataRefused) else InvalidPayload
            raise cls(invalid.field, invalid.problem) from exc

    def _plan_for_id(self, schema_id: int) -> _ReadPlan:
        plan = self._by_schema_id.get(schema_id)
        if plan is not None:
            return plan
        try:
            registered = self._registry.get_schema(schema_id)
        except Exception as exc:  # SchemaRegistryError, or the HTTP library's errors
            if getattr(exc, "http_status_code", None) == 404:
                raise UnknownSchemaId(
                    "unknown schema id", f"the registry has no schema {schema_id}"
                ) from exc
            raise RegistryUnavailable(
                "registry unavailable", f"looking up schema {schema_id}: {exc}"
            ) from exc
        plan = self._plan_for_registered(schema_id, registered)
        self._by_schema_id[schema_id] = plan
        return plan

    def _plan_for_registered(self, schema_id: int, registered: Any) -> _ReadPlan:
        """A read plan for a writer schema fetched from the registry."""
        where = f"registry schema {schema_id}"
        if getattr(registered, "schema_type", None) not in (None, "AVRO"):
            raise UnusableSchema(
                "unusable schema", f"{where} is {registered.schema_type}, not Avro"
            )
        if getattr(registered, "references", None):
            raise UnusableSchema("unusable schema", f"{where} has references; jejak's do not")
        try:
            definition = json.loads(registered.schema_str)
            probe = AvroSchema.from_definition("?", 0, definition, where)
        except (ValueError, TypeError, SchemaError) as exc:
            raise UnusableSchema("unusable schema", f"{where}: {exc}") from exc
        known = self._by_fingerprint.get(probe.fingerprint)
        if known is not None:
            return known
        kind = self._catalog.kind_of_record(probe.full_name)
        if kind is None:
            raise UnusableSchema(
                "unusable schema", f"{where} is {probe.full_name}, not a jejak event"
            )
        # a version this build does not ship (newer or older): read it by Avro
        # resolution, if the rules allow it
        writer = AvroSchema.from_definition(kind, 0, definition, where)
        current = self._catalog.current(kind)
        problems = reader_problems(reader=current, writer=writer)
        if problems:
            raise UnusableSchema(
                "unusable schema",
                f"{where} ({kind}) cannot be read as {current.label}: {problems[0]}",
            )
        log.info("reading %s as %s by schema resolution", where, current.label)
        return _ReadPlan(
            writer=writer,
            read=reader_for(writer.parsed, current.parsed),
            validate=self._validators[kind],
            build=self._builders[kind],
        )

    # ------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close the registry client if this codec created it."""
        if self._owns_registry and self._registry is not None:
            self._registry.close()

    def __enter__(self) -> Codec:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@functools.cache
def default_codec() -> Codec:
    """The single-object codec over the shipped schemas, built once per process."""
    return Codec()


def encode(event: BaseModel) -> bytes:
    """The event in Avro single-object encoding (see :class:`Codec` for configured framing)."""
    return default_codec().encode(event)


def decode(payload: bytes | bytearray | memoryview) -> Event:
    """The event in a single-object-encoded payload; :class:`UndecodableEvent` if it is not one."""
    return default_codec().decode(payload)
