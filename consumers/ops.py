"""What an operator asks a running consumer: ``/metrics`` (Prometheus) and ``/readyz``.

Both are ASGI routes (:func:`routes`) that the workspace API mounts next to
its own ``/healthz`` (alive: the process answers). They read the consumer's
counters and snapshots at request time; the loop thread is never waited for,
except by the one ``SELECT 1`` that shows the store answers.

``/metrics`` (text format 0.0.4), every name prefixed ``jejak_``:

=====================================  ========  ===========================================
metric                                 type      what
=====================================  ========  ===========================================
consumer_messages_total                counter   messages read and committed
consumer_events_total                  counter   events written to the store
consumer_events_per_second             gauge     messages per second over the last interval
consumer_decisions_total{decision}     counter   verdicts by decision
consumer_alerts_total{reason}          counter   alerts published, by reason
consumer_dead_letters_total{reason}    counter   dead letters published, by reason
consumer_replayed_total                counter   messages already stored (after a crash)
consumer_duplicates_total              counter   re-sent events already stored (skipped)
consumer_store_retries_total           counter   store writes retried
consumer_publish_retries_total         counter   transactions retried (broker away)
consumer_rewinds_total                 counter   batches not committed, read again
consumer_lag{topic,partition}          gauge     messages not yet read (absent: unknown)
consumer_lag_unknown_partitions        gauge     assigned partitions whose lag is not known
consumer_assigned_partitions           gauge     partitions the group gave this consumer
consumer_last_batch_age_seconds        gauge     since the last committed batch
kafka_reachable                        gauge     1, or 0 while every broker is down
store_write_seconds                    histo     duration of one batch's store write
chain_length{log}                      gauge     rows in a partition's hash chain
chain_unsigned_rows{log}               gauge     rows after the last signed checkpoint
checkpoint_size{log}                   gauge     tree size of the last signed checkpoint
checkpoint_age_seconds{log}            gauge     since the log's last checkpoint
checkpoints_signed_total               counter   checkpoints this process signed
=====================================  ========  ===========================================

``/readyz`` answers 200 only when the store answers a query, Kafka is
reachable, the group has assigned partitions, and the known lag is at most
``JEJAK_CONSUMER__READY_MAX_LAG``; otherwise 503, with each check and why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from jejak.errors import JejakError

if TYPE_CHECKING:
    from jejak.consumers.worker import LineageConsumer


class ConsumerCollector:
    """A Prometheus collector over one consumer: values are read at scrape time."""

    def __init__(self, consumer: LineageConsumer) -> None:
        self.consumer = consumer

    def collect(self) -> Iterator[Metric]:
        from jejak.consumers.worker import WRITE_BUCKETS

        c = self.consumer
        s = c.stats
        now = time.monotonic()

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"jejak_{name}", doc, value=value)

        def labelled(name: str, doc: str, label: str, values: dict[str, int]) -> Metric:
            family = CounterMetricFamily(f"jejak_{name}", doc, labels=[label])
            for key, value in sorted(values.items()):
                family.add_metric([key], value)
            return family

        yield counter("consumer_messages", "messages read and committed", s.messages)
        yield counter("consumer_events", "events written to the store", s.events)
        yield GaugeMetricFamily(
            "jejak_consumer_events_per_second",
            "messages per second over the last progress interval",
            value=c.rate,
        )
        yield labelled("consumer_decisions", "verdicts by decision", "decision", s.decisions)
        yield labelled(
            "consumer_alerts", "alerts published, by reason", "reason", s.alerts_by_reason
        )
        yield labelled(
            "consumer_dead_letters",
            "dead letters published, by reason",
            "reason",
            s.dead_letters_by_reason,
        )
        yield counter("consumer_replayed", "messages already stored (after a crash)", s.replayed)
        yield counter("consumer_duplicates", "re-sent events already stored", s.duplicates)
        yield counter("consumer_store_retries", "store writes retried", s.store_retries)
        yield counter(
            "consumer_publish_retries", "transactions retried (broker away)", s.publish_retries
        )
        yield counter("consumer_rewinds", "batches not committed, read again", s.rewinds)

        lag = GaugeMetricFamily(
            "jejak_consumer_lag", "messages not yet read", labels=["topic", "partition"]
        )
        snapshot = dict(c.lag)
        unknown = 0
        for (topic, partition), n in sorted(snapshot.items()):
            if n is None:
                unknown += 1
            else:
                lag.add_metric([topic, str(partition)], n)
        yield lag
        assigned = set(c.assigned)
        unknown += len(assigned - set(snapshot))
        yield GaugeMetricFamily(
            "jejak_consumer_lag_unknown_partitions",
            "assigned partitions whose lag is not known",
            value=unknown,
        )
        yield GaugeMetricFamily(
            "jejak_consumer_assigned_partitions",
            "partitions the group gave this consumer",
            value=len(assigned),
        )
        last = c.last_batch_at
        yield GaugeMetricFamily(
            "jejak_consumer_last_batch_age_seconds",
            "seconds since the last committed batch (since the start before the first)",
            value=now - (last if last is not None else c.started_at),
        )
        yield GaugeMetricFamily(
            "jejak_kafka_reachable",
            "1, or 0 while every broker is down",
            value=0 if c.kafka_down else 1,
        )

        cumulative, buckets = 0, []
        for le, n in zip((*WRITE_BUCKETS, float("inf")), s.write_buckets, strict=True):
            cumulative += n
            buckets.append(("+Inf" if le == float("inf") else repr(le), cumulative))
        yield HistogramMetricFamily(
            "jejak_store_write_seconds",
            "duration of one batch's store write",
            buckets=buckets,
            sum_value=s.write_seconds,
        )

        length = GaugeMetricFamily("jejak_chain_length", "rows in the log's chain", labels=["log"])
        unsigned = GaugeMetricFamily(
            "jejak_chain_unsigned_rows", "rows after the last signed checkpoint", labels=["log"]
        )
        size = GaugeMetricFamily(
            "jejak_checkpoint_size", "tree size of the last signed checkpoint", labels=["log"]
        )
        age = GaugeMetricFamily(
            "jejak_checkpoint_age_seconds",
            "seconds since the log's last checkpoint (or since the log was loaded)",
            labels=["log"],
        )
        for head in sorted(dict(c.heads).values(), key=lambda h: h.log):
            length.add_metric([head.log], head.next_seq)
            unsigned.add_metric([head.log], head.unsigned)
            size.add_metric([head.log], head.signed_size)
            age.add_metric([head.log], now - head.signed_at)
        yield from (length, unsigned, size, age)
        yield counter("checkpoints_signed", "checkpoints this process signed", s.checkpoints)


def registry(consumer: LineageConsumer) -> CollectorRegistry:
    """A registry of its own (not the process-wide default) holding the consumer's collector."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(ConsumerCollector(consumer))
    return reg


def readiness(consumer: LineageConsumer, max_lag: int) -> tuple[bool, dict[str, Any]]:
    """Each check with its result; ready when all pass (the body of ``/readyz``)."""
    checks: dict[str, Any] = {}
    try:
        consumer.store.query("SELECT 1 AS one")
        checks["store"] = {"ok": True}
    except JejakError as exc:
        checks["store"] = {"ok": False, "why": type(exc).__name__}
    down = consumer.kafka_down
    checks["kafka"] = {"ok": not down, **({"why": "no broker reachable"} if down else {})}
    assigned = len(consumer.assigned)
    checks["partitions"] = {"ok": assigned > 0, "assigned": assigned}
    total = consumer.total_lag()
    checks["lag"] = {
        "ok": total is not None and total <= max_lag,
        "lag": total,
        "max": max_lag,
        **({"why": "not known yet"} if total is None else {}),
    }
    return all(c["ok"] for c in checks.values()), checks


def routes(consumer: LineageConsumer, *, max_lag: int) -> list[BaseRoute]:
    """``/metrics`` and ``/readyz`` as Starlette routes, for the workspace API to mount."""
    reg = registry(consumer)

    async def metrics(_: Request) -> Response:
        body = await run_in_threadpool(generate_latest, reg)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def readyz(_: Request) -> Response:
        ok, checks = await run_in_threadpool(readiness, consumer, max_lag)
        status = "ready" if ok else "not ready"
        return JSONResponse({"status": status, "checks": checks}, status_code=200 if ok else 503)

    return [
        Route("/metrics", metrics, methods=["GET"], include_in_schema=False),
        Route("/readyz", readyz, methods=["GET"], include_in_schema=False),
    ]
