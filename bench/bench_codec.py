"""Codec throughput on one core: encode and decode of a realistic mix of event kinds.

Run: ``.venv/bin/python -m bench.bench_codec [--events N] [--rounds R]``

Compared with fastavro's own ``schemaless_writer`` / ``schemaless_reader`` on
the same events as pre-built dicts (writer into one reused ``BytesIO``), which
is what a codec built directly on fastavro could reach at best. Each figure is
the best of ``--rounds`` runs over the same events.
"""

from __future__ import annotations

import argparse
import io
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro import schemaless_reader, schemaless_writer
from pydantic import BaseModel

from jejak.schemas.avro_compile import reader_for
from jejak.schemas.avro_schemas import shipped_catalog
from jejak.schemas.codec import Codec
from jejak.schemas.models import parse_event

# share of each kind in a marketplace's day of events (uses and collections dominate)
MIX = {
    "use": 40,
    "collection": 25,
    "disclosure": 15,
    "consent": 10,
    "policy_accepted": 3,
    "subject_request": 2,
    "deletion": 3,
    "account_closed": 2,
}
CATEGORIES = [
    "account.email",
    "account.phone",
    "transaction.items",
    "location.ip",
    "device.model",
    "log.pages",
    "payment.credit_card",
    "usage.preferences",
    "interaction.review",
]
PURPOSES = [
    "transaction.fulfilment",
    "service.personalization",
    "marketing.communications",
    "security.fraud_monitoring",
    "support.customer_service",
]


def _event(kind: str, rng: random.Random, start: datetime) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "kind": kind,
        "occurred_at": (start + timedelta(milliseconds=rng.randrange(86_400_000))).isoformat(),
        "subject_id": f"{rng.getrandbits(256):064x}",
        "producer": {"service": rng.choice(["checkout", "search", "chat"]), "version": "4.2.0"},
        "trace_id": f"tr{rng.getrandbits(64):016x}" if rng.random() < 0.7 else None,
    }
    categories = rng.sample(CATEGORIES, rng.randint(1, 3))
    if kind == "collection":
        data |= {
            "data_categories": categories,
            "source": rng.choice(["user", "recorded"]),
            "outputs": ["users.profile"],
        }
    elif kind == "use":
        data |= {
            "data_categories": categories,
            "purpose": rng.choice(PURPOSES),
            "channel": "newsletter" if rng.random() < 0.3 else None,
            "inputs": ["users.profile"],
        }
    elif kind == "disclosure":
        data |= {
            "data_categories": categories,
            "purpose": "transaction.fulfilment",
            "recipient": {
                "id": f"partner-{rng.randrange(20)}",
                "kind": "logistics_provider",
                "country": "ID",
            },
        }
    elif kind == "consent":
        data |= {
            "scope": rng.choice(["channel:newsletter", "cookies:all", "recipient:partner-3"]),
            "action": rng.choice(["granted", "withdrawn"]),
        }
    elif kind == "policy_accepted":
        data |= {"policy_version": "2024-05"}
    elif kind == "subject_request":
        data |= {"request": "access"}
    elif kind == "deletion":
        data |= {"data_categories": categories, "request_ref": None}
    return data


def make_events(count: int, seed: int = 7) -> list[BaseModel]:
    rng = random.Random(seed)
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=count)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return [parse_event(_event(kind, rng, start)) for kind in kinds]


def _rate(run: Callable[[], object], count: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return count / best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    count, rounds = args.events, args.rounds

    events = make_events(count)
    catalog = shipped_catalog()
    schemas = [catalog.current(e.kind).parsed for e in events]  # type: ignore[attr-defined]
    dicts = [e.model_dump() for e in events]
    single = Codec()
    validating = Codec(trusted_decode=False)
    confluent = Codec(registry=SchemaRegistryClient.new_client({"url": "mock://bench"}))
    confluent.prepare()
    payloads = [single.encode(e) for e in events]
    bodies = [p[10:] for p in payloads]
    size = sum(len(p) for p in payloads) / count

    def encode_single() -> None:
        encode = single.encode
        for event in events:
            encode(event)

    def encode_confluent() -> None:
        encode = confluent.encode
        for event in events:
            encode(event)

    def fastavro_write() -> None:
        buffer = io.BytesIO()
        for schema, data in zip(schemas, dicts, strict=True):
            buffer.seek(0)
            buffer.truncate()
            schemaless_writer(buffer, schema, data)
            buffer.getvalue()

    def dump_and_fastavro_write() -> None:
        buffer = io.BytesIO()
        for schema, event in zip(schemas, events, strict=True):
            buffer.seek(0)
            buffer.truncate()
            schemaless_writer(buffer, schema, event.model_dump())
            buffer.getvalue()

    def decode_single() -> None:
        decode = single.decode
        for payload in payloads:
            decode(payload)

    def decode_validating() -> None:
        decode = validating.decode
        for payload in payloads:
            decode(payload)

    readers = [reader_for(schema) for schema in schemas]

    def compiled_read() -> None:
        for read, body in zip(readers, bodies, strict=True):
            read(body, 0)

    def fastavro_read() -> None:
        for schema, body in zip(schemas, bodies, strict=True):
            schemaless_reader(io.BytesIO(body), schema, None)

    rows = [
        ("encode, single-object (Codec.encode)", _rate(encode_single, count, rounds)),
        ("encode, Confluent framing (mock registry)", _rate(encode_confluent, count, rounds)),
        ("fastavro schemaless_writer, pre-built dicts", _rate(fastavro_write, count, rounds)),
        ("model_dump + fastavro schemaless_writer", _rate(dump_and_fastavro_write, count, rounds)),
        ("decode, trusted path (Codec.decode)", _rate(decode_single, count, rounds)),
        (
            "decode + pydantic validation (trusted_decode=False)",
            _rate(decode_validating, count, rounds),
        ),
        ("decode Avro only (compiled reader)", _rate(compiled_read, count, rounds)),
        ("fastavro schemaless_reader, no validation", _rate(fastavro_read, count, rounds)),
    ]
    print(f"{count} events, mix {MIX}, {size:.0f} bytes per payload on average, best of {rounds}")
    width = max(len(name) for name, _ in rows)
    print(f"{'operation'.ljust(width)}  {'events/s':>10}  {'µs/event':>8}")
    for name, rate in rows:
        print(f"{name.ljust(width)}  {rate:>10,.0f}  {1e6 / rate:>8.2f}")


if __name__ == "__main__":
    main()
