"""Fuzz: malformed payloads get only the codec's typed errors, each quickly.

Inputs: random bytes, every truncation and random bit flips of valid payloads
(of every kind, in both framings, and of an old schema version that is read by
Avro schema resolution), valid headers followed by garbage, and huge or
negative length prefixes spliced into valid bodies.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka.schema_registry import SchemaRegistryClient
from hypothesis import HealthCheck, given, settings
from schemas_helpers import plant_old_disclosure
from schemas_strategies import event_dicts

from jejak.errors import UndecodableEvent
from jejak.schemas.avro_compile import compile_writer
from jejak.schemas.avro_schemas import SchemaCatalog
from jejak.schemas.codec import Codec
from jejak.schemas.models import EVENT_KINDS, Disclosure, parse_event

MAX_SECONDS = 0.05
VARINTS = [
    b"\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # 2**63 - 1
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # -2**63
    b"\x80\x80\x80\x80\x10",  # 2**31
    b"\xfe\xff\xff\xff\x0f",  # 2**31 - 1
    b"\x01",  # -1
    b"\xff" * 12,  # no end
]


def _valid_events() -> list[dict[str, object]]:
    """Six events of each kind; derandomized, so that every run fuzzes the same inputs."""
    events: list[dict[str, object]] = []
    for kind in sorted(EVENT_KINDS):

        @settings(
            max_examples=6,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            deadline=None,
        )
        @given(event_dicts(kind))
        def collect(data: dict[str, object]) -> None:
            events.append(data)

        collect()
    return events


def _mutations(payloads: list[bytes], header: int, rng: random.Random) -> Iterator[bytes]:
    for payload in payloads:
        for cut in range(len(payload)):
            yield payload[:cut]
        for _ in range(200):
            flipped = bytearray(payload)
            for _ in range(rng.choice((1, 1, 2, 3, 8))):
                position = rng.randrange(len(flipped))
                flipped[position] ^= 1 << rng.randrange(8)
            yield bytes(flipped)
        for _ in range(50):
            yield payload[:header] + rng.randbytes(rng.randrange(1, 64))
        for _ in range(50):
            at = rng.randrange(header, len(payload))
            yield payload[:at] + rng.choice(VARINTS) + payload[at:]
            yield payload[:at] + rng.choice(VARINTS) + payload[at + 1 :]
        yield payload + rng.randbytes(rng.randrange(1, 4))


def _decode_once(codec: Codec, payload: bytes) -> tuple[float, str | None]:
    start = time.perf_counter()
    try:
        event = codec.decode(payload)
    except UndecodableEvent as exc:
        return time.perf_counter() - start, exc.reason
    # a flipped bit can leave a valid event: it must then be a whole one
    assert event.kind in EVENT_KINDS
    return time.perf_counter() - start, None


def _decode_all(codec: Codec, inputs: Iterator[bytes]) -> tuple[int, float, dict[str, int]]:
    count, slowest, reasons = 0, 0.0, {}
    for payload in inputs:
        took, reason = _decode_once(codec, payload)
        if took >= MAX_SECONDS:
            # the machine is shared: an input is slow only if it is slow every time,
            # not when the scheduler happened to preempt this process once
            took = min(took, *(_decode_once(codec, payload)[0] for _ in range(3)))
        if reason is not None:
            reasons[reason] = reasons.get(reason, 0) + 1
        slowest = max(slowest, took)
        count += 1
    return count, slowest, reasons


def test_fuzz(tmp_path: Path) -> None:
    rng = random.Random(20260301)
    events = [parse_event(data) for data in _valid_events()]
    registry = SchemaRegistryClient.new_client({"url": "mock://fuzz"})
    single, confluent = Codec(), Codec(registry=registry)

    def inputs_single() -> Iterator[bytes]:
        for _ in range(3000):
            yield rng.randbytes(rng.randrange(0, 80))
        for _ in range(1000):
            yield b"\xc3\x01" + rng.randbytes(rng.randrange(0, 80))
        yield from _mutations([single.encode(e) for e in events], 10, rng)

    def inputs_confluent() -> Iterator[bytes]:
        for _ in range(500):
            yield b"\x00" + rng.randbytes(rng.randrange(0, 40))
        yield from _mutations([confluent.encode(e) for e in events[:16]], 5, rng)

    # an old version, read by fastavro's schema resolution rather than the compiled reader
    folder = tmp_path / "avro"
    folder.mkdir()
    for schema in single.catalog:
        (folder / Path(schema.source).name).write_text(Path(schema.source).read_text())
    plant_old_disclosure(folder)
    catalog = SchemaCatalog.load(folder)
    evolved = Codec(catalog)
    old = catalog.get("disclosure", 1)
    old_payloads = []
    for event in events:
        if isinstance(event, Disclosure):
            data = event.model_dump()
            del data["legal_request_ref"]
            del data["recipient"]["country"]
            body = bytearray()
            compile_writer(old.parsed)(_Obj(data), body)
            old_payloads.append(b"\xc3\x01" + old.fingerprint + bytes(body))
    assert old_payloads, "the generated events include disclosures"
    assert evolved.decode(old_payloads[0]).kind == "disclosure"

    # what is timed is the decoder, not a collection of everything earlier tests left
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    try:
        totals = [
            _decode_all(single, inputs_single()),
            _decode_all(confluent, inputs_confluent()),
            _decode_all(evolved, _mutations(old_payloads, 10, rng)),
        ]
    finally:
        gc.unfreeze()
    elapsed = time.perf_counter() - started
    count = sum(t[0] for t in totals)
    slowest = max(t[1] for t in totals)
    reasons: dict[str, int] = {}
    for _, _, part in totals:
        for reason, n in part.items():
            reasons[reason] = reasons.get(reason, 0) + n
    print(f"fuzz: {count} inputs in {elapsed:.1f}s, slowest {slowest * 1000:.2f} ms, {reasons}")
    assert count >= 10_000
    assert slowest < MAX_SECONDS
    # the inputs reach every kind of failure the codec has for them
    for reason in (
        "truncated",
        "truncated body",
        "bad magic",
        "unknown fingerprint",
        "bad avro body",
        "trailing bytes",
        "invalid event",
        "unknown schema id",
    ):
        assert reasons.get(reason), f"no input failed with {reason!r}"


class _Obj:
    """A dict seen as attributes, recursively: what the compiled writer reads."""

    def __init__(self, data: dict[str, object]) -> None:
        for key, value in data.items():
            setattr(self, key, _Obj(value) if isinstance(value, dict) else value)
