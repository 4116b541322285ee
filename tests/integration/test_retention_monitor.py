"""The retention monitor run by the consumer never cries wolf.

- A deletion still waiting in Kafka (the consumer lags on that subject's
  partition) raises nothing; judged without the gate, the same store would.
- A deletion that arrives after the alert resolves it: an append-only triage
  record, so the alerts listing shows it resolved, and a resolution published
  under the alert's key.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer
from pipeline_support import make_settings, read_all

from jejak.consumers.pipeline import build_consumer
from jejak.consumers.topics import ensure_topics
from jejak.lineage.policy import load_policies
from jejak.lineage.store import connect, retention
from jejak.lineage.store import workspace as ws
from jejak.schemas.codec import Codec
from jejak.schemas.models import event_from_json
from jejak.schemas.pseudonym import pseudonymize
from jejak.settings import SdkSettings

pytestmark = pytest.mark.integration


def _subject(name: str) -> str:
    return pseudonymize(name, SdkSettings(allow_development_key=True).pseudonymization_key)


def test_the_monitor_judges_only_what_was_consumed_and_a_late_deletion_resolves(
    kafka_bootstrap: str, clickhouse_dsn: str
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = make_settings(kafka_bootstrap, clickhouse_dsn, f"ret_{run}", run=run, partitions=1)
    ensure_topics(settings.kafka)
    codec = Codec()
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    waiting, late = _subject("waiting"), _subject("late")

    def send(event_id: str, kind: str, at: str, subject: str, **fields: Any) -> None:
        event = event_from_json(
            json.dumps(
                {"event_id": event_id, "kind": kind, "occurred_at": at, "subject_id": subject}
                | fields
            )
        )
        producer.produce(settings.kafka.topic, key=subject.encode(), value=codec.encode(event))
        assert producer.flush(10) == 0

    email = {"data_categories": ["account.email"]}
    # one partition: 'late' is closed and never deleted (yet); 'waiting' is deleted in time,
    # but its deletion is the last message, which the consumer has not read
    send("l1", "collection", "2026-01-02T08:00:00Z", late, source="user", **email)
    send("l2", "account_closed", "2026-01-03T08:00:00Z", late)
    send("w1", "collection", "2026-01-02T08:00:00Z", waiting, source="user", **email)
    send("w2", "account_closed", "2026-01-03T08:00:00Z", waiting)
    send("w3", "deletion", "2026-01-04T08:00:00Z", waiting, **email)

    store = connect(settings.store)
    policies = load_policies()
    with build_consumer(settings, store=store, batch_size=1) as consumer:
        consumer.run(max_messages=4)  # the deletion of 'waiting' is left in Kafka
        assert consumer.run_monitor() == 0  # the partition lags: nothing is judged
        ungated = {a.subject_id for a in retention.retention_alerts(store, policies)}
        assert ungated == {late, waiting}  # what the monitor would have cried

        consumer.run(idle_timeout_s=2)  # caught up now
        assert consumer.run_monitor() == 1
        [alert] = ws.alerts(store, reason="retention_overdue")
        assert (alert["subject_id"], alert["status"]) == (late, "open")

        # the late deletion arrives: the open alert is resolved, not rewritten
        send("l3", "deletion", "2026-03-01T08:00:00Z", late, **email)
        consumer.run(idle_timeout_s=2)
        assert consumer.run_monitor() == 1
        assert consumer.run_monitor() == 0  # once
    [alert] = ws.alerts(store, reason="retention_overdue")
    assert alert["status"] == "resolved"
    [history] = ws.triage_history(store, alert["alert_id"])
    assert history["author"] == retention.MONITOR
    assert "after the deadline" in history["comment"]

    k = settings.kafka
    messages = read_all(k.bootstrap_servers, k.alerts_topic)
    assert [m.key().decode() for m in messages] == [alert["alert_id"]] * 2
    assert [dict(m.headers() or []).get("jejak.status") for m in messages] == [None, b"resolved"]
