"""``/metrics`` and ``/readyz`` answer from a running consumer, served with the workspace API."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest
from pipeline_support import POISON, events, make_settings, produce

from jejak.consumers.ops import routes
from jejak.consumers.pipeline import build_consumer
from jejak.consumers.topics import ensure_topics
from jejak.lineage.api import ApiServer
from jejak.lineage.policy import load_policies
from jejak.lineage.store import connect
from jejak.lineage.workspace.operations import Workspace

pytestmark = pytest.mark.integration


def _sample(text: str, name: str) -> float:
    """The value of one sample line (``name`` with its labels, as written)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def test_metrics_and_readiness_of_a_running_consumer(
    kafka_bootstrap: str, clickhouse_dsn: str
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = make_settings(kafka_bootstrap, clickhouse_dsn, f"ops_{run}", run=run, partitions=2)
    ensure_topics(settings.kafka)
    stream = events(users=30, seed=9)
    produce(kafka_bootstrap, settings.kafka.topic, stream, POISON[:2])
    store = connect(settings.store)
    consumer = build_consumer(settings, store=store, batch_size=100)
    workspace = Workspace(store, load_policies(), checkpointer=consumer.checkpointer)
    server = ApiServer(
        workspace, "127.0.0.1", 0, settings.api, routes=routes(consumer, max_lag=0)
    ).start()
    http = httpx.Client(base_url=server.url, timeout=30)
    try:
        # not started: no partitions, lag unknown
        r = http.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["partitions"] == {"ok": False, "assigned": 0}
        assert r.json()["checks"]["store"] == {"ok": True}
        assert http.get("/healthz").status_code == 200

        thread = threading.Thread(target=consumer.run, kwargs={"idle_timeout_s": 30})
        thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # caught up and the lag seen
            r = http.get("/readyz")
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert r.status_code == 200, r.json()
        assert r.json()["checks"]["lag"] == {"ok": True, "lag": 0, "max": 0}
        assert r.json()["checks"]["partitions"] == {"ok": True, "assigned": 2}

        m = http.get("/metrics")
        assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
        text = m.text
        assert _sample(text, "jejak_consumer_events_total") == len(stream)
        assert _sample(text, "jejak_consumer_messages_total") == len(stream) + 2
        topic = settings.kafka.topic
        for p in (0, 1):
            assert _sample(text, f'jejak_consumer_lag{{partition="{p}",topic="{topic}"}}') == 0
        assert _sample(text, "jejak_consumer_assigned_partitions") == 2
        assert _sample(text, "jejak_kafka_reachable") == 1
        decided = sum(consumer.stats.decisions.values())
        assert decided == len(stream)
        violations = consumer.stats.decisions.get("violation", 0)
        assert violations > 0
        alerts = sum(
            _sample(text, f'jejak_consumer_alerts_total{{reason="{reason}"}}')
            for reason in consumer.stats.alerts_by_reason
        )
        assert alerts == violations
        dead = sum(
            _sample(text, f'jejak_consumer_dead_letters_total{{reason="{reason}"}}')
            for reason in consumer.stats.dead_letters_by_reason
        )
        assert dead == 2
        assert _sample(text, 'jejak_store_write_seconds_bucket{le="+Inf"}') >= 1
        log = f"events/{topic}/0"
        assert _sample(text, f'jejak_chain_length{{log="{log}"}}') > 0
        assert f'jejak_checkpoint_age_seconds{{log="{log}"}}' in text
    finally:
        consumer.stop()
        if "thread" in locals():
            thread.join(30)
        consumer.close()
        http.close()
        server.stop()


def test_an_idle_timeout_without_partitions_is_not_a_clean_exit(
    kafka_bootstrap: str, clickhouse_dsn: str
) -> None:
    """One partition, two consumers: the one the group gives nothing says so (exit 2)."""
    from jejak.consumers.cli import EXIT_CODES

    run = uuid.uuid4().hex[:8]
    settings = make_settings(kafka_bootstrap, clickhouse_dsn, f"idle_{run}", run=run, partitions=1)
    ensure_topics(settings.kafka)
    produce(kafka_bootstrap, settings.kafka.topic, events(users=5, seed=2))
    store = connect(settings.store)
    owner = build_consumer(settings, store=store, batch_size=10)
    thread = threading.Thread(target=owner.run, kwargs={"idle_timeout_s": 30})
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not owner.assigned and time.monotonic() < deadline:
            time.sleep(0.1)
        with build_consumer(settings, store=store, assignment_timeout_s=5) as idle:
            stats = idle.run(idle_timeout_s=2)
        assert stats.exit_reason == "unassigned" and stats.messages == 0
        assert EXIT_CODES[stats.exit_reason] == 2
    finally:
        owner.stop()
        thread.join(30)
        owner.close()
