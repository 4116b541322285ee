"""The codec: framing by configuration, both framings decoded, only typed errors."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from fastavro import parse_schema, schemaless_writer
from schemas_helpers import field_of, plant_old_disclosure

from jejak.errors import (
    BadMagic,
    InvalidEvent,
    SchemaError,
    TruncatedPayload,
    UndecodableEvent,
    UnknownFingerprint,
)
from jejak.schemas import codec as codec_module
from jejak.schemas.avro_schemas import SchemaCatalog, schema_for
from jejak.schemas.codec import (
    HEADER_KIND,
    HEADER_SCHEMA,
    Codec,
    Framing,
    InvalidPayload,
    MalformedBody,
    PayloadTooLarge,
    RegistryRequired,
    RegistryUnavailable,
    TrailingBytes,
    UnknownSchemaId,
    UnusableSchema,
    decode,
    default_codec,
    encode,
)
from jejak.schemas.models import Consent, Disclosure, Recipient, Use, parse_event
from jejak.settings import SchemaSettings

WHEN = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
USE = Use(
    event_id="u-1",
    occurred_at=WHEN,
    subject_id="s-1",
    data_categories=["account.email"],
    purpose="marketing.communications",
    channel="newsletter",
)
DISCLOSURE = Disclosure(
    event_id="d-1",
    occurred_at=WHEN,
    subject_id="s-1",
    data_categories=["account.email"],
    purpose="service.financial_products",
    recipient=Recipient(id="partner-fintech-1", kind="integrated_partner", country="SG"),
)


def _body(kind: str, data: dict[str, Any], parsed: dict[str, Any] | None = None) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parsed or schema_for(kind).parsed, data)
    return buffer.getvalue()


def _single_object(kind: str, body: bytes) -> bytes:
    return b"\xc3\x01" + schema_for(kind).fingerprint + body


# ------------------------------------------------------------------ framing


def test_framing_comes_from_settings() -> None:
    assert Codec.from_settings(SchemaSettings()).framing is Framing.SINGLE_OBJECT
    with Codec.from_settings(SchemaSettings(registry_url="mock://settings")) as codec:
        assert codec.framing is Framing.CONFLUENT
        payload = codec.encode(USE)
        assert payload[0] == 0 and codec.decode(payload) == USE


def test_single_object_layout() -> None:
    payload = encode(USE)
    assert payload[:2] == b"\xc3\x01"
    assert payload[2:10] == schema_for("use").fingerprint
    assert payload[10:] == _body("use", USE.model_dump())
    assert decode(payload) == USE
    assert decode(bytearray(payload)) == USE
    assert decode(memoryview(payload)) == USE
    assert default_codec() is default_codec()


def test_confluent_layout_and_subject(
    registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    payload = registry_codec.encode(DISCLOSURE)
    registered = registry.get_latest_version("dev.jejak.events.Disclosure")
    assert payload[:5] == b"\x00" + registered.schema_id.to_bytes(4, "big")
    assert payload[5:] == _body("disclosure", DISCLOSURE.model_dump())
    assert registry_codec.decode(payload) == DISCLOSURE


def test_a_registry_codec_reads_both_framings(registry_codec: Codec) -> None:
    assert registry_codec.decode(encode(USE)) == USE
    assert registry_codec.decode(registry_codec.encode(USE)) == USE


def test_another_process_resolves_the_id_through_the_registry(
    registry: SchemaRegistryClient,
) -> None:
    payload = Codec(registry=registry).encode(DISCLOSURE)
    assert Codec(registry=registry).decode(payload) == DISCLOSURE


def test_without_a_registry_confluent_payloads_ask_for_one(registry_codec: Codec) -> None:
    with pytest.raises(RegistryRequired, match="JEJAK_SCHEMAS__REGISTRY_URL"):
        decode(registry_codec.encode(USE))


def test_prepare_and_lookup_only(registry: SchemaRegistryClient) -> None:
    with pytest.raises(
        SchemaError, match="cannot look up use.v1 under subject dev.jejak.events.Use"
    ):
        Codec(registry=registry, auto_register=False).encode(USE)
    Codec(registry=registry).prepare()
    assert len(registry.get_subjects()) == 8
    lookup_only = Codec(registry=registry, auto_register=False)
    lookup_only.prepare()
    assert lookup_only.decode(lookup_only.encode(USE)) == USE


def test_headers_name_kind_and_schema(registry_codec: Codec) -> None:
    expected = [(HEADER_KIND, b"use"), (HEADER_SCHEMA, schema_for("use").fingerprint_hex.encode())]
    assert default_codec().headers(USE) == expected
    assert registry_codec.headers(USE) == expected


# ------------------------------------------------------------------ encode errors


def test_encode_refuses_what_is_not_an_event() -> None:
    with pytest.raises(InvalidEvent, match="kind: dict is not a jejak event"):
        encode({"kind": "use"})  # type: ignore[arg-type]
    unknown = Use.model_construct(**{**USE.__dict__, "kind": "purchase"})
    with pytest.raises(InvalidEvent, match="no schema for this kind"):
        encode(unknown)
    bypassed = Use.model_construct(**{**USE.__dict__, "data_categories": [7]})
    with pytest.raises(InvalidEvent, match="cannot be encoded as use.v1"):
        encode(bypassed)
    naive = Use.model_construct(**{**USE.__dict__, "occurred_at": datetime(2026, 1, 1)})  # noqa: DTZ001
    with pytest.raises(InvalidEvent, match="cannot be encoded"):
        encode(naive)
    with pytest.raises(InvalidEvent, match="over the limit of 64"):
        Codec(max_payload_bytes=64).encode(DISCLOSURE)


# ------------------------------------------------------------------ decode errors


def _cases() -> list[tuple[str, bytes, type[UndecodableEvent]]]:
    good = encode(USE)
    consent = Consent(
        event_id="c", occurred_at=WHEN, subject_id="s", scope="cookies:all", action="granted"
    )
    as_use = dict(consent.model_dump(), kind="use")
    bad_category = dict(USE.model_dump(), data_categories=["Account.Email"])
    bad_utf8 = bytearray(good)
    bad_utf8[11:13] = b"\xff\xfe"  # inside the event id "u-1"
    return [
        ("empty", b"", TruncatedPayload),
        ("lone c3", b"\xc3", TruncatedPayload),
        ("short header", good[:9], TruncatedPayload),
        ("no body", good[:10], TruncatedPayload),
        ("cut body", good[:-3], TruncatedPayload),
        ("bad second magic byte", b"\xc3\x02" + good[2:], BadMagic),
        ("json", b'{"kind": "use"}', BadMagic),
        ("unknown fingerprint", b"\xc3\x01" + bytes(8) + good[10:], UnknownFingerprint),
        ("trailing byte", good + b"\x00", TrailingBytes),
        ("invalid utf-8", bytes(bad_utf8), MalformedBody),
        (
            "kind of another schema",
            _single_object("consent", _body("consent", as_use)),
            InvalidPayload,
        ),
        ("invalid category", _single_object("use", _body("use", bad_category)), InvalidPayload),
        ("confluent framing", b"\x00\x00\x00\x00\x01" + good[10:], RegistryRequired),
    ]


@pytest.mark.parametrize(
    ("payload", "error"), [c[1:] for c in _cases()], ids=[c[0] for c in _cases()]
)
def test_decode_errors_are_typed(payload: bytes, error: type[UndecodableEvent]) -> None:
    with pytest.raises(error) as caught:
        decode(payload)
    assert type(caught.value) is error
    assert caught.value.reason


def test_invalid_payload_names_the_field() -> None:
    bad = dict(USE.model_dump(), data_categories=["Account.Email"])
    with pytest.raises(InvalidPayload) as caught:
        decode(_single_object("use", _body("use", bad)))
    assert caught.value.field == "data_categories.0"
    assert "dotted lower-case" in caught.value.problem


def test_payload_size_is_bounded_before_reading() -> None:
    with pytest.raises(PayloadTooLarge, match="over the limit of 32"):
        Codec(max_payload_bytes=32).decode(encode(USE))
    with pytest.raises(PayloadTooLarge):
        decode(b"\xc3\x01" + bytes(codec_module.MAX_PAYLOAD_BYTES))


def test_registry_errors_are_typed(registry: SchemaRegistryClient, registry_codec: Codec) -> None:
    body = encode(USE)[10:]
    with pytest.raises(UnknownSchemaId, match="no schema 4242"):
        registry_codec.decode(b"\x00" + (4242).to_bytes(4, "big") + body)
    with pytest.raises(TruncatedPayload):
        registry_codec.decode(b"\x00\x00\x01")

    json_id = registry.register_schema("other-json", Schema('{"type": "object"}', "JSON"))
    with pytest.raises(UnusableSchema, match="is JSON, not Avro"):
        registry_codec.decode(b"\x00" + json_id.to_bytes(4, "big") + body)
    foreign = '{"type": "record", "name": "Order", "namespace": "shop", "fields": []}'
    foreign_id = registry.register_schema("shop.Order", Schema(foreign, "AVRO"))
    with pytest.raises(UnusableSchema, match="shop.Order, not a jejak event"):
        registry_codec.decode(b"\x00" + foreign_id.to_bytes(4, "big") + body)
    broken_id = registry.register_schema("broken", Schema("{not json", "AVRO"))
    with pytest.raises(UnusableSchema):
        registry_codec.decode(b"\x00" + broken_id.to_bytes(4, "big") + body)

    # a Use whose purpose became an int: the rules say the current Use cannot read it
    incompatible = json.loads(schema_for("use").to_json())
    field_of(incompatible, "purpose")["type"] = "int"
    bad_id = registry.register_schema(
        "dev.jejak.events.Use", Schema(json.dumps(incompatible), "AVRO")
    )
    with pytest.raises(
        UnusableSchema, match="purpose: int is written but the reader expects string"
    ):
        registry_codec.decode(b"\x00" + bad_id.to_bytes(4, "big") + body)


class _DownRegistry:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_schema(self, schema_id: int) -> Schema:
        raise self.error


@pytest.mark.parametrize(
    "error", [ConnectionError("connection refused"), SchemaRegistryError(503, 50003, "unavailable")]
)
def test_an_unreachable_registry_is_not_a_bad_event(error: Exception) -> None:
    """Registry trouble is retryable, so it has its own type: consumers must not dead-letter it."""
    codec = Codec(registry=_DownRegistry(error))
    with pytest.raises(RegistryUnavailable, match="looking up schema 7"):
        codec.decode(b"\x00\x00\x00\x00\x07" + encode(USE)[10:])


# ------------------------------------------------------------------ evolution


def test_a_newer_producer_schema_from_the_registry_is_read_by_resolution(
    registry: SchemaRegistryClient, registry_codec: Codec
) -> None:
    """Forward compatibility at work: a producer on a future use.v2 with an extra field."""
    newer = json.loads(schema_for("use").to_json())
    newer["fields"].append(
        {"name": "campaign_id", "type": ["null", "string"], "default": None, "doc": "Campaign."}
    )
    newer_id = registry.register_schema("dev.jejak.events.Use", Schema(json.dumps(newer), "AVRO"))
    body = _body("use", {**USE.model_dump(), "campaign_id": "spring-sale"}, parse_schema(newer))
    assert registry_codec.decode(b"\x00" + newer_id.to_bytes(4, "big") + body) == USE


def test_old_versions_are_read_as_the_current_one(schema_dir: Path) -> None:
    """A planted disclosure.v1 without recipient.country and legal_request_ref; the shipped
    schema becomes v2 (it adds them, nullable with defaults)."""
    plant_old_disclosure(schema_dir)
    catalog = SchemaCatalog.load(schema_dir)
    v1, v2 = catalog.versions("disclosure")
    assert v2.fingerprint == schema_for("disclosure").fingerprint
    codec = Codec(catalog)
    old_data = DISCLOSURE.model_dump()
    del old_data["legal_request_ref"]
    del old_data["recipient"]["country"]
    old_payload = b"\xc3\x01" + v1.fingerprint + _body("disclosure", old_data, v1.parsed)

    decoded = codec.decode(old_payload)
    assert isinstance(decoded, Disclosure)
    assert decoded.recipient.country is None
    assert decoded == DISCLOSURE.model_copy(
        update={"recipient": DISCLOSURE.recipient.model_copy(update={"country": None})}
    )
    assert codec.decode(codec.encode(DISCLOSURE)) == DISCLOSURE
    assert codec.encode(DISCLOSURE)[2:10] == v2.fingerprint
    # the shipped codec does not know v1, by design of the planted folder
    with pytest.raises(UnknownFingerprint):
        decode(old_payload)


def test_a_catalog_kind_without_a_model_is_refused(schema_dir: Path) -> None:
    definition = json.loads((schema_dir / "use.v1.avsc").read_text())
    definition["name"] = "Purchase"
    (schema_dir / "purchase.v1.avsc").write_text(json.dumps(definition))
    with pytest.raises(SchemaError, match="kind 'purchase' has no event model"):
        Codec(SchemaCatalog.load(schema_dir))


def test_parse_event_and_decode_agree_on_the_json_form() -> None:
    data = {
        "event_id": "c-1",
        "kind": "consent",
        "occurred_at": "2026-03-01T09:00:00Z",
        "subject_id": "u-1",
        "scope": "recipient:partner-fintech-1",
        "action": "granted",
    }
    assert decode(encode(parse_event(data))) == parse_event(data)


class _RecordingRegistry:
    """A double of the codec's RegistryClient interface that records what is asked."""

    def __init__(self, refuse_config: bool = False) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        self.refuse_config = refuse_config

    def set_compatibility(self, subject_name: str | None = None, level: str | None = None) -> Any:
        self.calls.append(("set_compatibility", str(subject_name), level))
        if self.refuse_config:
            raise SchemaRegistryError(403, 40301, "User is denied operation on this server")
        return level

    def register_schema(self, subject_name: str, schema: Schema) -> int:
        self.calls.append(("register_schema", subject_name, None))
        return len(self.calls)

    def lookup_schema(self, subject_name: str, schema: Schema) -> Any:
        self.calls.append(("lookup_schema", subject_name, None))
        return SimpleNamespace(schema_id=len(self.calls))

    def get_schema(self, schema_id: int) -> Any:
        raise AssertionError("not asked in these tests")

    def close(self) -> None:
        pass


def test_registered_subjects_are_set_to_full_transitive_first() -> None:
    registry = _RecordingRegistry()
    codec = Codec(registry=registry)
    codec.encode(USE)
    assert registry.calls == [
        ("set_compatibility", "dev.jejak.events.Use", "FULL_TRANSITIVE"),
        ("register_schema", "dev.jejak.events.Use", None),
    ]
    codec.prepare()
    subjects = [s for call, s, _ in registry.calls if call == "register_schema"]
    assert len(subjects) == len(set(subjects)) == 8
    for subject in subjects:  # each subject's level is set before its schema is registered
        assert registry.calls.index(
            ("set_compatibility", subject, "FULL_TRANSITIVE")
        ) + 1 == registry.calls.index(("register_schema", subject, None))


def test_a_lookup_only_codec_leaves_the_registry_config_alone() -> None:
    registry = _RecordingRegistry()
    Codec(registry=registry, auto_register=False).encode(USE)
    assert registry.calls == [("lookup_schema", "dev.jejak.events.Use", None)]


def test_a_registry_that_refuses_the_level_still_gets_the_schema(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = _RecordingRegistry(refuse_config=True)
    payload = Codec(registry=registry).encode(USE)
    assert payload[0] == 0
    assert [call for call, _, _ in registry.calls] == ["set_compatibility", "register_schema"]
    assert "cannot set FULL_TRANSITIVE on subject dev.jejak.events.Use" in caplog.text
