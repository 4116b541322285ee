"""The whole consumer pipeline against the real broker and the real ClickHouse engine.

Avro events (and a few malformed messages) go to a fresh topic; the lineage
consumer judges them against the shipped policy, writes the store, publishes
alerts and dead letters, and commits. Then a second consumer in the same group
finds nothing left to read, and a replay of the same batch is folded.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from pydantic import SecretStr

from jejak.consumers.pipeline import build_consumer
from jejak.consumers.topics import ensure_topics
from jejak.lineage.store import Store, connect, migrate
from jejak.lineage.store import queries as q
from jejak.schemas.codec import Codec
from jejak.schemas.models import Event, event_from_json
from jejak.schemas.pseudonym import pseudonymize
from jejak.settings import KafkaSettings, SdkSettings, Settings, StoreSettings

pytestmark = pytest.mark.integration

KEY = SecretStr("pipeline-test-key")


def ps(raw: str) -> str:
    return pseudonymize(raw, KEY)


def pseudonymous(event: Event) -> Event:
    """The contract's examples name subjects by raw ids; the SDK would pseudonymise them."""
    return event.model_copy(update={"subject_id": ps(event.subject_id)})


EXAMPLES = Path(__file__).resolve().parents[1] / "unit" / "lineage" / "data"


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            out.append(msg)
    consumer.close()
    return out


@pytest.fixture
def settings(kafka_bootstrap: str, clickhouse_dsn: str, store_database: str) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka_bootstrap,
            topic=f"pipe.{run}.events",
            dead_letter_topic=f"pipe.{run}.dlq",
            alerts_topic=f"pipe.{run}.alerts",
            group_id=f"pipe-{run}",
            partitions=3,
        ),
        store=StoreSettings(dsn=clickhouse_dsn, database=store_database),  # type: ignore[arg-type]
        sdk=SdkSettings(allow_development_key=True),  # the consumer checks the key too
    )


def test_events_are_judged_stored_alerted_and_dead_lettered(settings: Settings) -> None:
    kafka = settings.kafka
    ensure_topics(kafka)
    codec = Codec()
    events = [
        pseudonymous(event_from_json(line))
        for line in (EXAMPLES / "policy-examples.jsonl").read_text().splitlines()
    ]
    expected = {
        e["event_id"]: e
        for e in map(
            json.loads, (EXAMPLES / "policy-examples.expected.jsonl").read_text().splitlines()
        )
    }
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers})
    for event in events:
        producer.produce(
            kafka.topic,
            key=event.subject_id.encode(),
            value=codec.encode(event),
            headers=codec.headers(event),
        )
    bad = [b"{not avro}", b"\xc3\x01" + b"\xff" * 8 + b"body", b"\xc3"]
    for value in bad:
        producer.produce(
            kafka.topic, key=b"p-1", value=value, headers=[("origin", b"legacy-service")]
        )
    assert producer.flush(30) == 0

    store = connect(settings.store)
    with build_consumer(settings, store=store, batch_size=5) as consumer:
        stats = consumer.run(idle_timeout_s=3, max_messages=len(events) + len(bad))
    assert stats.messages == len(events) + len(bad)
    assert stats.events == len(events)
    assert stats.dead_letters == len(bad)

    # every verdict in the store is the one the contract expects
    got = {r["event_id"]: r for r in q.verdicts(store)}
    assert set(got) == set(expected)
    for event_id, want in expected.items():
        assert got[event_id]["decision"] == want["decision"], event_id
        assert (got[event_id]["basis"] or None) == want["basis"], event_id
        assert list(got[event_id]["reasons"]) == want["reasons"], event_id

    # the headline alert is on the alerts topic and in the store
    alerts = read_topic(kafka.bootstrap_servers, kafka.alerts_topic, expected=4)
    by_event = {json.loads(m.value())["event_id"]: json.loads(m.value()) for m in alerts}
    assert set(by_event) == {e for e, w in expected.items() if w["decision"] == "violation"}
    assert by_event["ex-07"]["severity"] == "critical"
    assert by_event["ex-07"]["reason"] == "disclosure_without_consent"
    assert "promo-co" in by_event["ex-07"]["summary"]
    assert [a["alert_id"] for a in q.violations(store, severity="critical")] == [
        "ex-07:disclosure_without_consent"
    ]

    # dead letters keep the raw bytes, the original headers, and say why and where from
    dead = read_topic(kafka.bootstrap_servers, kafka.dead_letter_topic, expected=len(bad))
    assert sorted(m.value() for m in dead) == sorted(bad)
    for m in dead:
        headers = dict(m.headers())
        assert headers["origin"] == b"legacy-service"
        assert headers["jejak.dlq.reason"]
        assert headers["jejak.dlq.topic"] == kafka.topic.encode()
        assert int(headers["jejak.dlq.offset"]) >= 0
    assert q.totals(store)["dead_letters"] == len(bad)

    # offsets were committed: the group has nothing left to read
    with build_consumer(settings, store=store) as again:
        assert again.run(idle_timeout_s=3).messages == 0

    report = q.subject_report(store, ps("p-1"))
    assert report.account_closed_at is not None
    assert {d["recipient_id"] for d in report.disclosed} == {
        "bank-x",
        "promo-co",
        "kejaksaan",
        "smarty-pay",
    }


def test_a_restarted_consumer_judges_consent_as_before(settings: Settings) -> None:
    """Consent given before a restart still allows a disclosure after it."""
    kafka = settings.kafka
    ensure_topics(kafka)
    codec = Codec()
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers})

    def send(line: dict[str, Any]) -> None:
        event = event_from_json(json.dumps(line))
        producer.produce(kafka.topic, key=event.subject_id.encode(), value=codec.encode(event))
        producer.flush(10)

    send(
        {
            "event_id": "c1",
            "kind": "consent",
            "occurred_at": "2026-05-01T08:00:00Z",
            "subject_id": ps("r-1"),
            "scope": "recipient:fin-1",
            "action": "granted",
        }
    )
    store: Store = connect(settings.store)
    migrate(store)
    with build_consumer(settings, store=store) as first:
        assert first.run(idle_timeout_s=3).events == 1

    send(
        {
            "event_id": "d1",
            "kind": "disclosure",
            "occurred_at": "2026-05-01T09:00:00Z",
            "subject_id": ps("r-1"),
            "data_categories": ["account.email"],
            "purpose": "service.financial_products",
            "recipient": {"id": "fin-1", "kind": "integrated_partner"},
        }
    )
    with build_consumer(settings, store=store) as second:  # state rebuilt from the store
        assert second.run(idle_timeout_s=3).events == 1
    rows = q.verdicts(store, ["d1"])
    assert [(r["decision"], r["basis"]) for r in rows] == [("allowed", "C.2")]
