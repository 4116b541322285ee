"""Smoke tests of the foundation against the real broker and the real ClickHouse engine."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from jejak.errors import StoreError
from jejak.lineage.store import connect, migrate
from jejak.lineage.store.tables import CHECKPOINTS, TABLES

pytestmark = pytest.mark.integration


def test_topic_creation_is_visible_in_metadata(kafka_bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    name = f"smoke.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(30)
    # the controller has the topic; the broker's metadata cache learns of it a moment
    # later, so ask until it does (bounded: a topic never seen fails the test)
    deadline = time.monotonic() + 30
    meta = admin.list_topics(timeout=10)
    while name not in meta.topics and time.monotonic() < deadline:
        time.sleep(0.1)
        meta = admin.list_topics(timeout=10)
    assert name in meta.topics
    assert len(meta.topics[name].partitions) == 3


def test_produce_and_consume_keep_keys_headers_and_per_key_order(
    kafka_bootstrap: str, kafka_topic: str
) -> None:
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"}
    )
    for i in range(30):
        key = f"subject-{i % 3}".encode()
        producer.produce(
            kafka_topic, value=f"{i}".encode(), key=key, headers=[("n", str(i).encode())]
        )
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"smoke-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([kafka_topic])
    seen: dict[bytes, list[int]] = {}
    partitions: dict[bytes, set[int]] = {}
    deadline = time.monotonic() + 60
    while sum(map(len, seen.values())) < 30 and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        key = msg.key()
        assert key is not None
        value = int(msg.value())
        assert dict(msg.headers() or [])["n"] == str(value).encode()
        seen.setdefault(key, []).append(value)
        partitions.setdefault(key, set()).add(msg.partition())
    consumer.close()
    assert sum(map(len, seen.values())) == 30
    for key, values in seen.items():
        assert values == sorted(values), f"{key!r} out of order"
        assert len(partitions[key]) == 1, "one key, one partition"


def test_store_migrates_to_the_declared_tables_and_reads_its_writes(
    clickhouse_dsn: str, store_database: str
) -> None:
    with connect(clickhouse_dsn, store_database) as store:
        migrate(store)
        assert migrate(store) == []  # a second start has nothing to do
        tables = {
            r["name"]
            for r in store.query(
                "SELECT name FROM system.tables WHERE database = {db:String}",
                {"db": store_database},
            )
        }
        assert {t.name for t in TABLES} <= tables
        now = datetime(2026, 5, 1, 8, 0, 0, 123000, tzinfo=UTC)
        store.insert_rows(CHECKPOINTS, [["events/t/0", 7, "ab" * 32, "note", ["cd" * 32], now]])
        rows = store.query("SELECT log, tree_size, created_at FROM {db}.checkpoints")
        assert rows[0]["log"] == "events/t/0" and rows[0]["tree_size"] == 7
        assert rows[0]["created_at"].replace(tzinfo=UTC) == now


def test_store_errors_never_carry_the_password() -> None:
    with pytest.raises(StoreError) as info:
        store = connect("http://alice:s3cret-pw@127.0.0.1:1/jejak")
        store.query("SELECT 1")
    assert "s3cret-pw" not in str(info.value)
    assert "***" in str(info.value)
