"""Golden bytes pin the wire format of every kind, in both framings."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from fastavro import schemaless_writer
from golden import GOLDEN

from jejak.schemas.avro_schemas import shipped_catalog
from jejak.schemas.codec import Codec, decode, encode
from jejak.schemas.models import EVENT_KINDS, event_to_dict, parse_event

ROWS: list[dict[str, Any]] = json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_every_kind_is_pinned() -> None:
    assert sorted(row["kind"] for row in ROWS) == sorted(EVENT_KINDS)


@pytest.mark.parametrize("row", ROWS, ids=[row["kind"] for row in ROWS])
def test_single_object_bytes(row: dict[str, Any]) -> None:
    event = parse_event(row["event"])
    expected = bytes.fromhex("c301" + row["fingerprint"] + row["body"])
    assert row["fingerprint"] == shipped_catalog().current(row["kind"]).fingerprint_hex
    assert encode(event) == expected
    assert decode(expected) == event
    assert event_to_dict(decode(expected)) == event_to_dict(event)


@pytest.mark.parametrize("row", ROWS, ids=[row["kind"] for row in ROWS])
def test_body_is_what_fastavro_writes(row: dict[str, Any]) -> None:
    """The compiled writer is checked against the reference implementation."""
    event = parse_event(row["event"])
    buffer = io.BytesIO()
    schemaless_writer(buffer, shipped_catalog().current(row["kind"]).parsed, event.model_dump())
    assert buffer.getvalue().hex() == row["body"]


def test_confluent_bytes(registry: SchemaRegistryClient) -> None:
    codec = Codec(registry=registry)
    for row in ROWS:
        event = parse_event(row["event"])
        payload = codec.encode(event)
        schema = shipped_catalog().current(row["kind"])
        schema_id = registry.lookup_schema(
            schema.full_name, Schema(schema.to_json(), "AVRO")
        ).schema_id
        assert payload == b"\x00" + schema_id.to_bytes(4, "big") + bytes.fromhex(row["body"])
        assert codec.decode(payload) == event
