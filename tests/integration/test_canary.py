"""Canaries: a raw id and an e-mail address, put everywhere a service could put them.

Through the SDK, a raw id is pseudonymised and an e-mail address in a
free-text field is refused with the field named. Around the SDK (a service
producing Avro itself), every such event ends in the dead-letter topic, not
the store. Afterwards neither canary is in any table, in any topic jejak
writes (keys, values, headers), or in any log line.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from jejak.consumers.pipeline import build_consumer
from jejak.consumers.topics import ensure_topics
from jejak.errors import InvalidEvent
from jejak.lineage.store import connect
from jejak.lineage.store import queries as q
from jejak.producers import Emitter
from jejak.schemas.codec import Codec
from jejak.schemas.models import parse_event
from jejak.settings import KafkaSettings, SdkSettings, Settings, StoreSettings

pytestmark = pytest.mark.integration

RAW_ID = "user-canary-4711"
EMAIL = "siti.canary@example.co.id"
CANARIES = (RAW_ID, EMAIL)
PSEUDONYM = "ps1_" + "c" * 32


def _base(kind: str, n: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"canary-{kind}-{n}",
        "kind": kind,
        "occurred_at": "2026-05-01T08:00:00Z",
        "subject_id": PSEUDONYM,
        **fields,
    }


COLLECTION = {"data_categories": ["account.email"], "source": "user"}
USE = {"data_categories": ["account.email"], "purpose": "marketing.communications"}
DISCLOSURE = {
    "data_categories": ["account.email"],
    "purpose": "transaction.fulfilment",
    "recipient": {"id": "bank-x", "kind": "payment_processor"},
}
# (kind, valid fields, the free-text field to poison, how)
PLACES: list[tuple[str, dict[str, Any], str, Any]] = [
    ("collection", COLLECTION, "trace_id", EMAIL),
    ("collection", {**COLLECTION, "source": "third_party"}, "source_partner", EMAIL),
    ("collection", COLLECTION, "inputs", [EMAIL]),
    ("collection", COLLECTION, "outputs", [f"exports.{EMAIL}"]),
    ("collection", COLLECTION, "producer", {"service": EMAIL, "version": "1"}),
    ("use", USE, "channel", EMAIL),
    ("disclosure", DISCLOSURE, "legal_request_ref", f"LR for {EMAIL}"),
    ("disclosure", DISCLOSURE, "recipient", {"id": EMAIL, "kind": "payment_processor"}),
    ("consent", {"scope": "recipient:bank-x", "action": "granted"}, "scope", f"recipient:{EMAIL}"),
    ("deletion", {"data_categories": ["account.email"]}, "request_ref", EMAIL),
    ("collection", COLLECTION, "subject_id", RAW_ID),
    ("collection", COLLECTION, "subject_id", EMAIL),
]


def _poisoned() -> list[Any]:
    """Events as a service writing Avro itself would send them: no SDK validation."""
    out = []
    for n, (kind, fields, name, value) in enumerate(PLACES):
        good = parse_event(_base(kind, n, **fields))
        data = dict(good.__dict__)
        if name == "producer":
            from jejak.schemas.models import ProducerInfo

            data[name] = ProducerInfo.model_construct(**value)
        elif name == "recipient":
            from jejak.schemas.models import Recipient

            data[name] = Recipient.model_construct(**value)
        else:
            data[name] = value
        out.append(type(good).model_construct(**data))
    return out


@pytest.fixture
def settings(kafka_bootstrap: str, clickhouse_dsn: str, store_database: str) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka_bootstrap,
            topic=f"canary.{run}.events",
            dead_letter_topic=f"canary.{run}.dlq",
            alerts_topic=f"canary.{run}.alerts",
            group_id=f"canary-{run}",
            partitions=2,
        ),
        store=StoreSettings(dsn=SecretStr(clickhouse_dsn), database=store_database),
        sdk=SdkSettings(
            service="canary-svc",
            service_version="1",
            pseudonymization_key=SecretStr("canary-test-key"),
        ),
    )


def _everything_on(bootstrap: str, topic: str) -> list[bytes]:
    """Every key, value and header of every message on ``topic``, read to its end."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    partitions = len(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    consumer.subscribe([topic])
    seen: list[bytes] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + 60
    while len(at_end) < partitions and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            at_end.add(msg.partition())
            continue
        seen.extend([msg.key() or b"", msg.value() or b""])
        seen.extend(v or b"" for _, v in msg.headers() or [])
    consumer.close()
    assert len(at_end) == partitions, f"{topic} was not read to its end"
    return seen


def test_canaries_reach_no_table_no_topic_and_no_log(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kafka = settings.kafka
    ensure_topics(kafka)

    # through the SDK: the raw id is pseudonymised, an e-mail address refused by field
    refused = []
    with Emitter.from_settings(settings, transport="kafka") as emitter:
        emitter.emit(
            parse_event(
                {**_base("collection", 99, **COLLECTION), "subject_id": RAW_ID},
            )
        )
        for n, (kind, fields, name, value) in enumerate(PLACES[:-2]):
            data = {**_base(kind, 100 + n, **fields), name: value}
            with pytest.raises(InvalidEvent) as info:
                emitter.emit(parse_event(data))
            refused.append(str(info.value))
        assert emitter.flush(30)
    for text, (_, _, name, _) in zip(refused, PLACES, strict=False):
        assert name in text and EMAIL not in text and "canary" not in text

    # around the SDK: Avro written by hand, straight to the topic
    codec = Codec()
    poisoned = _poisoned()
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers})
    for event in poisoned:
        producer.produce(kafka.topic, key=str(event.subject_id).encode(), value=codec.encode(event))
    assert producer.flush(30) == 0

    store = connect(settings.store)
    with build_consumer(settings, store=store) as consumer:
        stats = consumer.run(idle_timeout_s=3, max_messages=1 + len(poisoned))
    assert stats.events == 1  # the SDK's event, under its pseudonym
    assert stats.dead_letters == len(poisoned)
    assert q.totals(store)["dead_letters"] == len(poisoned)
    reasons = {r["reason"] for r in q.dead_letters(store)}
    assert reasons == {"personal_data", "not_pseudonymous"}

    for table in ("events", "journal", "lineage", "consents", "alerts", "dead_letters"):
        for canary in CANARIES:
            hits = store.query(
                f"SELECT count() AS n FROM {{db}}.{table} "
                "WHERE position(toString(tuple(*)), {c:String}) > 0 "
                "OR position(toString(tuple(*)), lower(hex({c:String}))) > 0",
                {"c": canary},
            )
            assert hits[0]["n"] == 0, (table, canary)
    for topic in (kafka.dead_letter_topic, kafka.alerts_topic):
        for blob in _everything_on(kafka.bootstrap_servers, topic):
            for canary in CANARIES:
                assert canary.encode() not in blob, (topic, canary)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for canary in CANARIES:
        assert canary not in logged
    store.close()
