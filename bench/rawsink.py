"""What the reference consumers share: fastavro decoding and one column-oriented chDB insert.

Imported by the bare loop (in jejak's environment) and by the Quix Streams app
(in its own virtual environment, ``.jejak/bench-quix-venv``), so it imports
nothing of jejak: only fastavro and clickhouse-connect. Both references do the
same work per event: strip the single-object header, decode the Avro body
with the writer schema its fingerprint names, keep ten raw columns, and insert
a batch as columns with declared types (no ``DESCRIBE``), then commit.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader

COLUMNS = (
    ("event_id", "String"),
    ("kind", "LowCardinality(String)"),
    ("occurred_at", "DateTime64(3, 'UTC')"),
    ("subject_id", "String"),
    ("producer_service", "LowCardinality(String)"),
    ("data_categories", "Array(LowCardinality(String))"),
    ("purpose", "LowCardinality(String)"),
    ("recipient_id", "String"),
    ("partition", "Int32"),
    ("offset", "Int64"),
)
NAMES = [c for c, _ in COLUMNS]
HEADER = 10  # C3 01 + the 8-byte fingerprint


def load_schemas(path: Path) -> dict[bytes, Any]:
    """``{fingerprint: parsed schema}`` from the JSON file the parent wrote."""
    return {bytes.fromhex(k): parse_schema(v) for k, v in json.loads(path.read_text()).items()}


def decode(payload: bytes, schemas: dict[bytes, Any]) -> dict[str, Any]:
    schema = schemas[payload[2:HEADER]]
    return schemaless_reader(io.BytesIO(payload[HEADER:]), schema, None)  # type: ignore[return-value]


def columns(records: list[dict[str, Any]], where: list[tuple[int, int]]) -> list[list[Any]]:
    cols: list[list[Any]] = [[] for _ in COLUMNS]
    for r, (partition, offset) in zip(records, where, strict=True):
        producer = r.get("producer") or {}
        recipient = r.get("recipient") or {}
        values = (
            r["event_id"],
            r["kind"],
            r["occurred_at"],
            r["subject_id"],
            producer.get("service", ""),
            r.get("data_categories") or [],
            r.get("purpose") or "",
            recipient.get("id", ""),
            partition,
            offset,
        )
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    return cols


class Sink:
    """A chDB data folder with one plain table of raw rows."""

    def __init__(self, folder: Path) -> None:
        import clickhouse_connect
        from clickhouse_connect.datatypes.registry import get_from_name

        folder.mkdir(parents=True, exist_ok=True)
        self.client = clickhouse_connect.get_client(dsn=f"chdb://{folder}")
        body = ", ".join(f"`{n}` {t}" for n, t in COLUMNS)
        self.client.command("CREATE DATABASE IF NOT EXISTS raw")
        self.client.command(
            f"CREATE TABLE IF NOT EXISTS raw.events ({body}) ENGINE = MergeTree "
            "ORDER BY (subject_id, occurred_at, event_id)"
        )
        self.types = [get_from_name(t) for _, t in COLUMNS]

    def insert(self, cols: list[list[Any]]) -> None:
        if cols and cols[0]:
            self.client.insert(
                "raw.events",
                cols,
                column_names=NAMES,
                column_types=self.types,
                column_oriented=True,
            )

    def count(self) -> int:
        return int(self.client.command("SELECT count() FROM raw.events"))
