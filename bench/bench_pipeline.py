"""The consumer pipeline's rate: ``python -m bench.bench_pipeline [--users N] [--no-kafka]``.

Three figures over one simulated marketplace stream (``jejak simulate``):

- ``decode+evaluate+rows``: the consumer's CPU work per message, in process
  (codec decode with validation, the stateful policy evaluator, building the
  store rows), no I/O;
- ``store write``: inserting those rows into the embedded ClickHouse (chDB) in
  consumer-sized batches, all six tables;
- ``end to end``: pre-encoded events produced to a fresh topic on the local
  broker, then the real :class:`LineageConsumer` reading, judging, writing and
  committing until it has caught up (needs ``make kafka-up``).

The store is a fresh chDB directory under a temp folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import uuid

from jejak.lineage.policy import Evaluator, load_policies
from jejak.lineage.store import connect
from jejak.lineage.store.schema import migrate
from jejak.lineage.store.writer import Batch, Origin, write_batch
from jejak.producers.simulate import simulate
from jejak.schemas.codec import Codec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("JEJAK_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args()

    events = simulate(users=args.users, days=1, seed=11, violation_rate=0.03).events
    codec = Codec()
    payloads = [codec.encode(e) for e in events]
    policies = load_policies()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{len(events):,} simulated events from {args.users:,} users")

    evaluator = Evaluator(policies)
    batches: list[Batch] = []
    t0 = time.perf_counter()
    for start in range(0, len(payloads), args.batch):
        batch = Batch()
        for offset, payload in enumerate(payloads[start : start + args.batch], start):
            event = codec.decode(payload)
            batch.add(event, evaluator.evaluate(event), Origin("bench", 0, offset))
        batches.append(batch)
    cpu = time.perf_counter() - t0
    print(f"decode+evaluate+rows   {len(events) / cpu:>10,.0f} events/s")

    with tempfile.TemporaryDirectory() as tmp:
        store = connect(f"chdb://{tmp}/chdb", "bench")
        migrate(store)
        t0 = time.perf_counter()
        for batch in batches:
            write_batch(store, batch)
        write = time.perf_counter() - t0
        rows = sum(
            len(b.events) + len(b.verdicts) + len(b.lineage) + len(b.consents) for b in batches
        )
        print(
            f"store write (chDB)      {len(events) / write:>10,.0f} events/s ({rows / write:,.0f} rows/s)"
        )

        if args.no_kafka:
            return
        from confluent_kafka import Producer

        from jejak.consumers.pipeline import build_consumer
        from jejak.consumers.topics import ensure_topics
        from jejak.settings import KafkaSettings, Settings, StoreSettings

        run = uuid.uuid4().hex[:8]
        kafka = KafkaSettings(
            bootstrap_servers=args.bootstrap,
            topic=f"bench.{run}.events",
            dead_letter_topic=f"bench.{run}.dlq",
            alerts_topic=f"bench.{run}.alerts",
            group_id=f"bench-{run}",
        )
        ensure_topics(kafka)
        producer = Producer(
            {"bootstrap.servers": args.bootstrap, "linger.ms": 20, "compression.type": "zstd"}
        )
        for event, payload in zip(events, payloads, strict=True):
            producer.produce(kafka.topic, key=event.subject_id.encode(), value=payload)
            producer.poll(0)
        producer.flush(60)
        settings = Settings(
            kafka=kafka, store=StoreSettings(dsn=f"chdb://{tmp}/chdb", database=f"e2e_{run}")
        )  # type: ignore[arg-type]
        store2 = connect(settings.store)
        t0 = time.perf_counter()
        with build_consumer(settings, store=store2, policies=policies) as consumer:
            stats = consumer.run(max_messages=len(events), idle_timeout_s=10)
        e2e = time.perf_counter() - t0
        print(
            f"end to end (Kafka->CH)  {stats.messages / e2e:>10,.0f} events/s "
            f"({stats.messages:,} messages, {stats.batches} batches, {stats.alerts} alerts)"
        )


if __name__ == "__main__":
    main()
