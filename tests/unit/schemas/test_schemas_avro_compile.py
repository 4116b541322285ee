"""The compiled Avro writer and reader give exactly fastavro's bytes and records."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st
from schemas_strategies import event_dicts

from jejak.schemas.avro_compile import (
    UnsupportedSchema,
    compile_reader,
    compile_writer,
    reader_for,
    writer_for,
)
from jejak.schemas.avro_schemas import shipped_catalog
from jejak.schemas.models import EVENT_KINDS, parse_event

EVERYTHING = parse_schema(
    {
        "type": "record",
        "name": "Everything",
        "namespace": "t",
        "fields": [
            {"name": "b", "type": "boolean"},
            {"name": "i", "type": "int"},
            {"name": "l", "type": "long"},
            {"name": "f", "type": "float"},
            {"name": "d", "type": "double"},
            {"name": "s", "type": "string"},
            {"name": "raw", "type": "bytes"},
            {"name": "n", "type": "null"},
            {
                "name": "e",
                "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]},
            },
            {"name": "e2", "type": ["Colour", "null"]},
            {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
            {"name": "m", "type": {"type": "map", "values": "long"}},
            {"name": "a", "type": {"type": "array", "items": ["null", "string"]}},
            {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "only", "type": ["string"]},
            {"name": "other", "type": {"type": "string", "logicalType": "not-a-known-one"}},
            {
                "name": "inner",
                "type": {
                    "type": "record",
                    "name": "Inner",
                    "fields": [{"name": "class", "type": "string"}, {"name": "x", "type": "long"}],
                },
            },
        ],
    }
)

LONGS = st.integers(-(1 << 63), (1 << 63) - 1)
INTS = st.integers(-(1 << 31), (1 << 31) - 1)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
EVERYTHING_VALUES = st.fixed_dictionaries(
    {
        "b": st.booleans(),
        "i": INTS,
        "l": LONGS,
        "f": st.floats(width=32, allow_nan=False),
        "d": st.floats(allow_nan=False),
        "s": TEXT,
        "raw": st.binary(max_size=200),
        "n": st.none(),
        "e": st.sampled_from(["RED", "GREEN", "BLUE"]),
        "e2": st.none() | st.sampled_from(["RED", "BLUE"]),
        "fx": st.binary(min_size=4, max_size=4),
        "m": st.dictionaries(TEXT, LONGS, max_size=5),
        "a": st.lists(st.none() | TEXT, max_size=70),
        "ts": st.datetimes(
            min_value=datetime(1, 1, 2),  # noqa: DTZ001 (hypothesis takes naive bounds)
            max_value=datetime(9999, 12, 30),  # noqa: DTZ001
            timezones=st.just(UTC),
        ),
        "only": TEXT,
        "other": TEXT,
        "inner": st.fixed_dictionaries({"class": TEXT, "x": LONGS}),
    }
)


def _as_object(value: Any) -> Any:
    """A record as an object with attributes, as the writer reads events."""
    if isinstance(value, dict) and "class" in value:
        return SimpleNamespace(**value)
    if isinstance(value, dict) and "inner" in value:
        return SimpleNamespace(**{k: _as_object(v) for k, v in value.items()})
    return value


def _fastavro_bytes(schema: dict[str, Any], data: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema, data)
    return buffer.getvalue()


WRITE_EVERYTHING = compile_writer(EVERYTHING)
READ_EVERYTHING = compile_reader(EVERYTHING)


@settings(max_examples=150, deadline=None)
@given(EVERYTHING_VALUES)
def test_every_supported_type_matches_fastavro(data: dict[str, Any]) -> None:
    out = bytearray()
    WRITE_EVERYTHING(_as_object(data), out)
    expected = _fastavro_bytes(EVERYTHING, data)
    assert bytes(out) == expected
    record, end = READ_EVERYTHING(expected, 0)
    assert end == len(expected)
    reference = schemaless_reader(io.BytesIO(expected), EVERYTHING, None)
    assert record.keys() == reference.keys()
    for key in record:
        if key in ("f", "d") and math.isnan(reference[key]):
            continue
        assert record[key] == reference[key], key


@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_event_schemas_compile(kind: str) -> None:
    schema = shipped_catalog().current(kind).parsed
    assert "__generated_source__" in dir(writer_for(schema))
    assert "__generated_source__" in dir(reader_for(schema))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_event_bytes_match_fastavro(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(EVENT_KINDS)))
    event = parse_event(data.draw(event_dicts(kind)))
    schema = shipped_catalog().current(kind).parsed
    out = bytearray()
    compile_writer(schema)(event, out)
    expected = _fastavro_bytes(schema, event.model_dump())
    assert bytes(out) == expected
    assert compile_reader(schema)(expected, 0) == (
        schemaless_reader(io.BytesIO(expected), schema, None),
        len(expected),
    )


def test_out_of_range_numbers_are_refused() -> None:
    schema = parse_schema(
        {
            "type": "record",
            "name": "N",
            "fields": [{"name": "i", "type": "int"}, {"name": "l", "type": "long"}],
        }
    )
    write = compile_writer(schema)
    with pytest.raises(OverflowError):
        write(SimpleNamespace(i=1 << 31, l=0), bytearray())
    with pytest.raises(OverflowError):
        write(SimpleNamespace(i=0, l=1 << 63), bytearray())
    read = compile_reader(schema)
    with pytest.raises(OverflowError):
        read(b"\x80\x80\x80\x80\x10\x00", 0)  # 2**31 as an int
    with pytest.raises(ValueError, match="longer than 10 bytes"):
        read(b"\x00" + b"\xff" * 11, 0)


def test_lengths_and_counts_are_checked_before_allocating() -> None:
    read = compile_reader(shipped_catalog().current("deletion").parsed)
    huge = b"\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01"  # zigzag of 2**63 - 1
    with pytest.raises(EOFError, match="string runs past the end"):
        read(huge + b"abc", 0)
    with pytest.raises(ValueError, match="negative string length"):
        read(b"\x01abc", 0)
    header = b"\x02a\x02k\x00\x02s\x00\x00\x00"  # event_id, kind, occurred_at, subject, 3 nulls
    with pytest.raises(EOFError, match="array claims more items"):
        read(header + huge + b"\x00", 0)
    use = shipped_catalog().current("use").parsed
    event = parse_event(
        {
            "kind": "use",
            "occurred_at": "2026-01-01T00:00:00Z",
            "subject_id": "s",
            "data_categories": ["a"],
            "purpose": "p",
            "public": True,
        }
    )
    payload = bytearray()
    compile_writer(use)(event, payload)
    assert payload[-1] == 1  # public, the last field
    payload[-1] = 3
    with pytest.raises(ValueError, match="boolean byte"):
        compile_reader(use)(bytes(payload), 0)


def test_unsupported_schemas_fall_back_to_fastavro() -> None:
    recursive = parse_schema(
        {
            "type": "record",
            "name": "Node",
            "fields": [
                {"name": "value", "type": ["null", "string", "long"]},
                {"name": "next", "type": ["null", "Node"]},
                {"name": "day", "type": {"type": "int", "logicalType": "date"}},
            ],
        }
    )
    with pytest.raises(UnsupportedSchema):
        compile_writer(recursive)
    with pytest.raises(UnsupportedSchema):
        compile_reader(recursive)
    record = {"value": 5, "next": {"value": "x", "next": None, "day": 3}, "day": 1}
    out = bytearray(b"H")
    writer_for(recursive)(record, out)
    assert bytes(out) == b"H" + _fastavro_bytes(recursive, record)
    decoded, end = reader_for(recursive)(bytes(out), 1)
    assert end == len(out)
    assert decoded["next"]["value"] == "x"


NULLS = parse_schema(
    {
        "type": "record",
        "name": "Nulls",
        "fields": [
            {"name": "a", "type": {"type": "array", "items": "null"}},
            {"name": "m", "type": {"type": "map", "values": "null"}},
            {"name": "n", "type": "null"},
            {"name": "u", "type": ["null"]},
        ],
    }
)


@pytest.mark.parametrize(
    "record",
    [
        {"a": [], "m": {}, "n": None, "u": None},
        {"a": [None, None, None], "m": {"k": None, "": None}, "n": None, "u": None},
    ],
)
def test_array_and_map_of_null_compile_and_match_fastavro(record: dict[str, Any]) -> None:
    out = bytearray()
    compile_writer(NULLS)(SimpleNamespace(**record), out)
    assert bytes(out) == _fastavro_bytes(NULLS, record)
    assert compile_reader(NULLS)(bytes(out), 0) == (record, len(out))


def test_any_failure_to_compile_falls_back_to_fastavro(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A construct not foreseen (here: the code generator itself failing) costs speed only."""
    from jejak.schemas import avro_compile

    def broken(schema: dict[str, Any]) -> Any:
        raise SyntaxError("expected an indented block")

    monkeypatch.setattr(avro_compile, "compile_writer", broken)
    monkeypatch.setattr(avro_compile, "compile_reader", broken)
    record = {"a": [None], "m": {"k": None}, "n": None, "u": None}
    out = bytearray()
    writer_for(NULLS)(record, out)
    assert bytes(out) == _fastavro_bytes(NULLS, record)
    assert reader_for(NULLS)(bytes(out), 0) == (record, len(out))
    assert "failed to compile (SyntaxError" in caplog.text
