"""The SDK against the real broker: delivery, key, headers and payload as a consumer sees them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jejak.cli import cli
from jejak.producers import Emitter
from jejak.producers.simulate import simulate
from jejak.schemas.codec import HEADER_KIND, HEADER_SCHEMA, default_codec
from jejak.schemas.models import event_to_json
from jejak.settings import KafkaSettings, SdkSettings

pytestmark = pytest.mark.integration


def _consume(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[Any]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"sdk-test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            messages += [
                m for m in consumer.consume(num_messages=500, timeout=1.0) if not m.error()
            ]
    finally:
        consumer.close()
    return messages


def test_events_arrive_keyed_by_pseudonym_with_kind_and_schema_headers(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    settings = SdkSettings(
        service="checkout",
        service_version="1.4.2",
        spool_dir=tmp_path / "spool",
        allow_development_key=True,
    )
    base = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    with Emitter(
        settings, kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic=kafka_topic)
    ) as emitter:
        for n in range(1000):
            emitter.use(
                subject_id=f"user-{n % 40}",
                data_categories=["account.email"],
                purpose="marketing.communications",
                channel="newsletter",
                occurred_at=base + timedelta(seconds=n),
                trace_id=str(n),
            )
            emitter.consent(
                subject_id=f"user-{n % 40}", scope="channel:newsletter", action="granted"
            )
        assert emitter.flush(30)
        stats = emitter.stats()
        pseudonyms = {emitter.pseudonymize(f"user-{i}").encode() for i in range(40)}
    assert (stats.accepted, stats.delivered, stats.spooled, stats.failed) == (2000, 2000, 0, 0)

    messages = _consume(kafka_bootstrap, kafka_topic, 2000)
    assert len(messages) == 2000
    codec = default_codec()
    order: dict[bytes, list[int]] = {}
    for message in messages:
        headers = dict(message.headers())
        event = codec.decode(message.value())
        assert message.key() == event.subject_id.encode() and message.key() in pseudonyms
        assert headers[HEADER_KIND] == event.kind.encode()
        assert headers[HEADER_SCHEMA] == codec.catalog.current(event.kind).fingerprint_hex.encode()
        assert event.producer is not None and event.producer.service == "checkout"
        if event.kind == "use":
            order.setdefault(message.key(), []).append(int(event.trace_id or -1))
    for numbers in order.values():
        assert numbers == sorted(numbers)


def test_jejak_emit_and_simulate_emit_to_kafka(
    kafka_bootstrap: str, kafka_topic: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JEJAK_SDK__SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("JEJAK_SDK__ALLOW_DEVELOPMENT_KEY", "true")
    events = simulate(users=30, days=1, seed=2).events
    source = tmp_path / "events.jsonl"
    source.write_text("".join(event_to_json(e) + "\n" for e in events))
    runner = CliRunner()
    result = runner.invoke(
        cli, ["emit", str(source), "--bootstrap", kafka_bootstrap, "--topic", kafka_topic]
    )
    assert result.exit_code == 0, result.stderr
    assert f"sent {len(events)} (delivered {len(events)}, spooled 0, failed 0" in result.stderr
    result = runner.invoke(
        cli,
        [
            "simulate",
            "--users",
            "30",
            "--seed",
            "2",
            "--emit",
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            kafka_topic,
        ],
    )
    assert result.exit_code == 0, result.stderr
    received = _consume(kafka_bootstrap, kafka_topic, 2 * len(events))
    ids = [default_codec().decode(m.value()).event_id for m in received]
    assert sorted(ids) == sorted([e.event_id for e in events] * 2)  # the same seed, the same events
