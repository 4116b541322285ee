"""Helpers of the consumer's integration and fault tests: settings, producing, reading back.

Nothing here is a double: the topics are real, the store is real; these only
save each test the same twenty lines.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from confluent_kafka import Consumer, Producer

from jejak.producers.simulate import simulate
from jejak.schemas.codec import Codec
from jejak.schemas.models import Event
from jejak.settings import KafkaSettings, SdkSettings, Settings, StoreSettings

POISON: list[tuple[bytes | None, bytes]] = [
    (b"k-1", b"{not avro}"),
    (b"k-2", b"\xc3\x01" + b"\xff" * 8 + b"body"),
    (b"k-3", b"\xc3"),
    (None, b"\x00\x00\x00\x00\x07garbage"),
    (b"k-5", b"\xc3\x01" + b"\x00" * 8),
]
"""Messages no decoder accepts, each a different way of being wrong."""


def make_settings(
    bootstrap: str,
    dsn: str,
    database: str,
    *,
    partitions: int = 6,
    run: str | None = None,
    kafka: dict[str, Any] | None = None,
    consumer: dict[str, Any] | None = None,
) -> Settings:
    run = run or uuid.uuid4().hex[:8]
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=bootstrap,
            topic=f"ops.{run}.events",
            dead_letter_topic=f"ops.{run}.dlq",
            alerts_topic=f"ops.{run}.alerts",
            group_id=f"ops-{run}",
            partitions=partitions,
            **(kafka or {}),
        ),
        store=StoreSettings(dsn=dsn, database=database),  # type: ignore[arg-type]
        sdk=SdkSettings(allow_development_key=True),
        consumer=consumer or {},  # type: ignore[arg-type]
    )


def events(users: int = 150, seed: int = 3, violation_rate: float = 0.05) -> list[Event]:
    """A simulated stretch of marketplace traffic: consents, uses, disclosures, closures."""
    return simulate(users=users, days=1, seed=seed, violation_rate=violation_rate).events


def produce(
    bootstrap: str,
    topic: str,
    items: Iterable[Event],
    poison: Sequence[tuple[bytes | None, bytes]] = (),
) -> None:
    """Events keyed by subject (as the SDK does), then ``poison`` spread over the partitions."""
    codec = Codec()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for event in items:
        producer.produce(
            topic,
            key=event.subject_id.encode(),
            value=codec.encode(event),
            headers=codec.headers(event),
        )
        producer.poll(0)
    for key, value in poison:
        producer.produce(topic, key=key, value=value, headers=[("origin", b"legacy")])
    if producer.flush(60) != 0:
        raise RuntimeError("test events not delivered")


def read_all(bootstrap: str, topic: str, *, quiet_s: float = 3.0, limit_s: float = 60) -> list[Any]:
    """Every committed message of a topic (read_committed), once nothing new came for ``quiet_s``."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    joined: list[float] = []
    consumer.subscribe([topic], on_assign=lambda c, ps: joined.append(time.monotonic()))
    out: list[Any] = []
    deadline = time.monotonic() + limit_s
    last = 0.0
    try:
        while time.monotonic() < deadline:
            if joined and time.monotonic() - max(last, joined[0]) > quiet_s:
                break
            msg = consumer.poll(0.3)
            if msg is not None and not msg.error():
                out.append(msg)
                last = time.monotonic()
    finally:
        consumer.close()
    return out


def exactly_once_problems(
    report: dict[str, Any], produced: Iterable[Event], kafka: KafkaSettings
) -> list[str]:
    """What is wrong between a store's report and the topics (empty: nothing lost, doubled,
    made up; every alert published once; the poison dead-lettered; the chains verify).

    ``report`` is ``consumer_child.py report``'s: the stored event ids, alert ids,
    dead-letter count and ``jejak verify``'s findings.
    """
    from collections import Counter

    ids = {e.event_id for e in produced}
    stored = Counter(report["events"])
    found = []
    lost = ids - set(stored)
    if lost:
        found.append(f"lost {len(lost)} event(s), e.g. {sorted(lost)[:3]}")
    twice = [e for e, n in stored.items() if n > 1]
    if twice:
        found.append(f"{len(twice)} event(s) stored more than once, e.g. {twice[:3]}")
    if set(stored) - ids:
        found.append("events stored that were never produced")
    on_topic = Counter(
        m.key().decode() for m in read_all(kafka.bootstrap_servers, kafka.alerts_topic)
    )
    again = [a for a, n in on_topic.items() if n > 1]
    if again:
        found.append(f"{len(again)} alert(s) published more than once, e.g. {again[:3]}")
    if set(on_topic) != set(report["alerts"]):
        missing = set(report["alerts"]) - set(on_topic)
        found.append(
            f"alerts topic and store differ: {len(missing)} missing on the topic, "
            f"{len(set(on_topic) - set(report['alerts']))} not in the store"
        )
    dead = read_all(kafka.bootstrap_servers, kafka.dead_letter_topic)
    if sorted(m.value() for m in dead) != sorted(v for _, v in POISON):
        found.append(f"{len(dead)} dead letter(s) on the topic for {len(POISON)} injected")
    if report["dead_letters"] != len(POISON):
        found.append(f"{report['dead_letters']} dead letter(s) in the store")
    if report["verify"]:
        found.append(f"verify: {[f['kind'] for f in report['verify']]}")
    return found


def child_env(kafka: KafkaSettings, dsn: str, database: str, **extra: str) -> dict[str, str]:
    """The environment of a ``jejak`` child process: this run's topics, group and store,
    none of the caller's ``JEJAK_*`` variables."""
    import os

    env = {n: v for n, v in os.environ.items() if not n.startswith("JEJAK_")}
    env.update(
        JEJAK_KAFKA__BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        JEJAK_KAFKA__TOPIC=kafka.topic,
        JEJAK_KAFKA__DEAD_LETTER_TOPIC=kafka.dead_letter_topic,
        JEJAK_KAFKA__ALERTS_TOPIC=kafka.alerts_topic,
        JEJAK_KAFKA__GROUP_ID=kafka.group_id,
        JEJAK_STORE__DSN=dsn,
        JEJAK_STORE__DATABASE=database,
        JEJAK_SDK__ALLOW_DEVELOPMENT_KEY="true",
        **extra,
    )
    return env
