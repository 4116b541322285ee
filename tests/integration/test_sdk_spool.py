"""Never lose an event: 10,000 events through a dead broker, a ``kill -9`` and a restart.

The broker is a private one (``private_broker``) so the session's broker is
never disturbed. The steps:

1. start it, create the topic, stop it;
2. process A emits 7,000 events with the broker down; they end up in the spool
   (librdkafka reports all brokers down, the sender purges and spools); once
   every one is spooled A is killed with SIGKILL;
3. process B starts on the same spool (so it queues behind it), emits the
   other 3,000 while the broker is still down, then waits for delivery;
4. the broker starts; B probes it, replays the spool in order and exits 0;
5. a consumer reads the topic: all 10,000 event ids, each exactly once, and
   each subject's events in emit order.

The kill happens while the broker is down, when nothing has been handed to
Kafka, so "exactly once" is a fair demand here; a kill during a replay is
at-least-once (see :mod:`jejak.producers.sender`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import IO

import pytest

pytestmark = pytest.mark.integration

TOTAL, FIRST = 10_000, 7_000

SCRIPT = r"""
import json, logging, sys, time
from datetime import datetime, timedelta, timezone
from jejak.producers import Emitter
from jejak.settings import KafkaSettings, SdkSettings

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
role, bootstrap, topic, spool_dir, start, count = sys.argv[1:7]
start, count = int(start), int(count)
settings = SdkSettings(
    service="spool-test", service_version="1", spool_dir=spool_dir, fsync="batch",
    allow_development_key=True,
)
emitter = Emitter(
    settings,
    kafka=KafkaSettings(bootstrap_servers=bootstrap, topic=topic),
    message_timeout_ms=10_000,
    probe_interval=0.5,
)
base = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
for n in range(start, start + count):
    emitter.use(
        subject_id=f"user-{n % 50}",
        data_categories=["usage.preferences"],
        purpose="service.personalization",
        event_id=f"spool-test-{n:05d}",
        occurred_at=base + timedelta(milliseconds=n),
        trace_id=str(n),
    )
print("EMITTED", flush=True)
if role == "first":
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stats = emitter.stats()
        if stats.spooled >= count and stats.queued == 0:
            break
        time.sleep(0.05)
    print("SPOOLED", json.dumps(emitter.stats().__repr__()), flush=True)
    time.sleep(600)  # killed with SIGKILL before this ends
else:
    delivered = emitter.close(timeout=90)
    stats = emitter.stats()
    print("DONE", json.dumps({"delivered": delivered, "replayed": stats.replayed, "failed": stats.failed}), flush=True)
    sys.exit(0 if delivered else 3)
"""


def _start(
    role: str, bootstrap: str, topic: str, spool: Path, start: int, count: int
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, role, bootstrap, topic, str(spool), str(start), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def _wait_for(process: subprocess.Popen[str], word: str, timeout: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(word):
            return line
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"no {word!r} from the emitting process; stderr:\n{_tail(process.stderr)}")


def _tail(stream: IO[str] | None) -> str:
    return stream.read()[-3000:] if stream is not None else ""


def _consume(
    bootstrap: str, topic: str, expected: int, timeout: float = 60
) -> list[tuple[bytes, str, int]]:
    from confluent_kafka import Consumer

    from jejak.schemas.codec import default_codec

    codec = default_codec()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"spool-test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen: list[tuple[bytes, str, int]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=1.0):
                if msg.error():
                    continue
                event = codec.decode(msg.value())
                seen.append((msg.key(), event.event_id, int(event.trace_id or -1)))
        # anything beyond the expected count would be a duplicate: look a little longer
        end = time.monotonic() + 2
        while time.monotonic() < end:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if not msg.error():
                    event = codec.decode(msg.value())
                    seen.append((msg.key(), event.event_id, int(event.trace_id or -1)))
    finally:
        consumer.close()
    return seen


def test_ten_thousand_events_through_a_dead_broker_a_kill_and_a_restart(
    private_broker, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from confluent_kafka.admin import AdminClient, NewTopic

    broker = private_broker
    broker.up()
    topic = f"sdk.spool.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result(30)
    del admin  # its own connection would log to stderr once the broker stops
    broker.down()
    spool = tmp_path / "spool"

    first = _start("first", broker.bootstrap, topic, spool, 0, FIRST)
    try:
        _wait_for(first, "EMITTED", 60)
        _wait_for(first, "SPOOLED", 60)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    assert any(spool.glob("seg-*.log"))

    second = _start("second", broker.bootstrap, topic, spool, FIRST, TOTAL - FIRST)
    try:
        _wait_for(second, "EMITTED", 60)
        broker.up()
        done = _wait_for(second, "DONE", 120)
        second.wait(30)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, _tail(second.stderr)
    result = json.loads(done.split(" ", 1)[1])
    assert result == {"delivered": True, "replayed": TOTAL, "failed": 0}

    seen = _consume(broker.bootstrap, topic, TOTAL)
    counts = Counter(event_id for _, event_id, _ in seen)
    duplicates = {event_id: n for event_id, n in counts.items() if n > 1}
    assert len(counts) == TOTAL, f"{TOTAL - len(counts)} event(s) lost"
    assert not duplicates, f"{len(duplicates)} event(s) delivered more than once"
    assert set(counts) == {f"spool-test-{n:05d}" for n in range(TOTAL)}
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for key, _, number in seen:
        by_key[key].append(number)
    assert len(by_key) == 50
    for numbers in by_key.values():
        assert numbers == sorted(numbers), "one subject's events arrive in emit order"


def test_a_broker_lost_mid_stream_loses_nothing_and_keeps_order(
    private_broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    """The common case: Kafka goes away while the service runs, and comes back.

    Each event exactly once is what the sender's guarantee promises here, not
    luck (see :mod:`jejak.producers.sender`): the first 3,000 are flushed
    before the broker stops, so nothing is in flight to a live broker when the
    sender leaves DIRECT, and the other 3,000 are produced to a dead one; the
    replay is never purged on a broker-down report (librdkafka may deliver one
    late, after the broker is back), so no record the broker took is sent
    again. The one remaining way to a duplicate, a replayed request that
    reached the broker and then timed out (``message_timeout_ms``, 10 s), needs
    a broker that stalls that long; the assertion names it if it happens.
    """
    from datetime import UTC, datetime, timedelta

    from confluent_kafka.admin import AdminClient, NewTopic

    from jejak.producers import DeliveryStats, Emitter
    from jejak.settings import KafkaSettings, SdkSettings

    broker = private_broker
    broker.up()
    topic = f"sdk.failover.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result(30)
    del admin  # its own connection would log to stderr once the broker stops
    settings = SdkSettings(
        service="failover-test",
        service_version="1",
        spool_dir=tmp_path / "spool",
        allow_development_key=True,
    )
    base = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def emit(emitter: Emitter, start: int, count: int) -> None:
        for n in range(start, start + count):
            emitter.use(
                subject_id=f"user-{n % 50}",
                data_categories=["usage.preferences"],
                purpose="service.personalization",
                event_id=f"failover-{n:05d}",
                occurred_at=base + timedelta(milliseconds=n),
                trace_id=str(n),
            )

    emitter = Emitter(
        settings,
        kafka=KafkaSettings(bootstrap_servers=broker.bootstrap, topic=topic),
        message_timeout_ms=10_000,
        probe_interval=0.5,
    )
    snapshots: list[DeliveryStats] = []
    with emitter:
        emit(emitter, 0, 3000)
        assert emitter.flush(30)
        broker.down()
        emit(emitter, 3000, 3000)  # the first of these may reach librdkafka before it notices
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # every snapshot accounts for every event, including those the sender
            # thread took off its queue and has not written to the spool yet
            snapshots.append(stats := emitter.stats())
            if stats.mode == "spooling" and stats.queued == 0 and stats.routing == 0:
                break
            time.sleep(0.05)
        assert [s for s in snapshots if s.accounted != 6000 or s.accepted != 6000] == []
        stats = emitter.stats()
        assert (stats.sent, stats.spooled, stats.rejected, stats.spool_backlog) == (
            3000,
            3000,
            0,
            3000,
        ), stats
        broker.up()
        assert emitter.flush(90)
        stats = emitter.stats()
    assert (stats.delivered, stats.sent, stats.replayed, stats.failed) == (6000, 3000, 3000, 0)
    assert stats.accounted == stats.accepted == 6000

    seen = _consume(broker.bootstrap, topic, 6000)
    counts = Counter(event_id for _, event_id, _ in seen)
    assert set(counts) == {f"failover-{n:05d}" for n in range(6000)}
    twice = sorted(event_id for event_id, n in counts.items() if n > 1)
    replay_failures = [r.getMessage() for r in caplog.records if "replay failed" in r.getMessage()]
    assert twice == [], (
        f"{len(twice)} event(s) delivered more than once, e.g. {twice[:3]}; "
        f"replay failures logged: {replay_failures[:3]}"
    )
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for key, _, number in seen:
        by_key[key].append(number)
    for numbers in by_key.values():
        assert numbers == sorted(numbers)
