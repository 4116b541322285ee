"""Fault tests: the consumer killed, the broker away, the store failing, poison mixed in.

Every scenario ends with the same check, by event id, against the real broker
and the real store (read back in a child process: chDB opens one data folder
per process):

- 0 lost: every produced event id is in the store;
- 0 duplicated: no event id is stored twice;
- each alert on the alerts topic once (read_committed), and exactly the
  alerts the store holds;
- the dead letters on their topic are exactly the poison messages injected;
- ``jejak verify`` finds nothing.

The consumer is ``jejak consume`` in a child process, with static group
membership and a session timeout of 90 s: a restarted child that did not get
its partitions back at once would give up after 60 s (exit 2), so every
restart below also shows that static membership hands them back. A
deliberately broken consumer (offsets committed before the write) must fail
the same check.

``make soak`` runs the long variant (JEJAK_TEST_SOAK=1): more events, every
kill point on its own, several rounds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pipeline_support import (
    POISON,
    child_env,
    events,
    exactly_once_problems,
    make_settings,
    produce,
    read_all,
)

from jejak.consumers.pipeline import build_consumer
from jejak.consumers.topics import ensure_topics
from jejak.lineage.store import connect
from jejak.lineage.store import queries as q
from jejak.settings import Settings

pytestmark = pytest.mark.integration

CHILD = Path(__file__).with_name("consumer_child.py")
SOAK = os.environ.get("JEJAK_TEST_SOAK") == "1"  # read at import, before settings are cleared
SESSION_TIMEOUT_MS = 90_000


class World:
    """One scenario: its topics, its group, its store folder, and the child processes."""

    def __init__(self, bootstrap: str, tmp: Path, *, users: int = 40) -> None:
        self.tmp = tmp
        self.dsn = f"chdb://{tmp / 'chdb'}"
        self.settings = make_settings(bootstrap, self.dsn, "faults")
        ensure_topics(self.settings.kafka)
        self.events = events(users=users, seed=11)
        half = len(self.events) // 2
        produce(bootstrap, self.settings.kafka.topic, self.events[:half], POISON[:3])
        produce(bootstrap, self.settings.kafka.topic, self.events[half:], POISON[3:])
        self.restarts: list[float] = []

    def env(self, **extra: str) -> dict[str, str]:
        return child_env(
            self.settings.kafka,
            self.dsn,
            "faults",
            JEJAK_KAFKA__GROUP_INSTANCE_ID="faults-1",
            JEJAK_KAFKA__SESSION_TIMEOUT_MS=str(SESSION_TIMEOUT_MS),
            **extra,
        )

    def consume(self, fault: str | None = None, *, broken: bool = False) -> int:
        """Run ``jejak consume`` until it is killed or idle; returns its exit status."""
        extra = {"JEJAK_CONSUMER__FAULT": fault} if fault else {}
        args = [sys.executable, str(CHILD), "consume", *(["--broken"] if broken else [])]
        args += ["--", "-v", "consume"]
        args += ["--no-serve", "--idle-timeout", "3", "--retention-every", "0"]
        args += ["--batch-size", "40"]
        started = datetime.now().astimezone()  # the child logs local time
        proc = subprocess.run(
            args,
            env=self.env(**extra),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assigned = _first_assignment(proc.stderr)
        if assigned is not None:
            self.restarts.append((assigned - started).total_seconds())
        if proc.returncode not in (0, -9):
            raise AssertionError(f"consumer exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc.returncode

    def report(self) -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, str(CHILD), "report"],
            env=self.env(),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    def problems(self) -> list[str]:
        """What the check finds wrong (empty: nothing lost, doubled, or made up)."""
        report = self.report()
        return exactly_once_problems(report, self.events, self.settings.kafka)


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO .*: assigned ", re.M)


def _first_assignment(stderr: str) -> datetime | None:
    m = _LOG_TIME.search(stderr)
    if m is None:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone()


@pytest.fixture
def world(kafka_bootstrap: str, tmp_path: Path) -> World:
    return World(kafka_bootstrap, tmp_path, users=120 if SOAK else 40)


KILL_POINTS = ("after_decode", "after_write", "after_publish", "before_commit", "after_commit")


def test_sigkill_at_every_point_of_the_batch_cycle_loses_and_doubles_nothing(
    world: World,
) -> None:
    """Killed in each phase in turn (2nd batch of each run), then a run whose store fails."""
    for point in KILL_POINTS:
        assert world.consume(f"{point}:2") == -9, point
    # the last run: the first batch's store write "fails" twice after landing (lost acks)
    assert world.consume("store_error:1:2") == 0
    assert world.problems() == []
    # every restart got its partitions back from the group at once (static membership);
    # the times are measured (from the start of the process) and shown, not asserted
    print(f"restart -> partitions assigned (s): {[round(t, 1) for t in world.restarts]}")


def test_the_check_catches_offsets_committed_before_the_write(world: World) -> None:
    assert world.consume("after_decode:2", broken=True) == -9
    assert world.consume() == 0
    problems = world.problems()
    assert problems and problems[0].startswith("lost "), problems


@pytest.mark.skipif(not SOAK, reason="the long soak: make soak")
@pytest.mark.parametrize("point", [*KILL_POINTS, "store_error"])
def test_soak_each_point_several_rounds(world: World, point: str) -> None:
    for batch in (1, 2, 3):
        spec = f"{point}:{batch}" + (":3" if point == "store_error" else "")
        assert world.consume(spec) in (-9, 0)
    assert world.consume() == 0
    assert world.problems() == []


# -- the broker away longer than the session timeout -------------------------------------------


def test_a_broker_outage_longer_than_the_session_pauses_the_consumer_which_goes_on(
    private_broker: Any, clickhouse_dsn: str
) -> None:
    """In-process consumer; its broker stopped mid-stream for longer than the session."""
    private_broker.up()
    run = uuid.uuid4().hex[:8]
    settings: Settings = make_settings(
        private_broker.bootstrap,
        clickhouse_dsn,
        f"outage_{run}",
        run=run,
        kafka={"group_instance_id": "outage-1", "session_timeout_ms": 6000},
    )
    ensure_topics(settings.kafka)
    stream = events(users=60, seed=5)
    produce(private_broker.bootstrap, settings.kafka.topic, stream, POISON)
    store = connect(settings.store)
    consumer = build_consumer(settings, store=store, batch_size=40)
    errors: list[BaseException] = []

    def run_it() -> None:
        try:
            consumer.run(idle_timeout_s=8)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run_it)
    thread.start()
    deadline = time.monotonic() + 60
    while consumer.stats.batches < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    private_broker.down()  # mid-stream; longer than the 6 s session timeout
    time.sleep(10)
    assert thread.is_alive() and not errors, errors  # paused, not gone
    private_broker.up()
    thread.join(180)
    consumer.close()
    assert not errors, errors
    assert consumer.stats.exit_reason == "idle"

    # a restart after the outage publishes nothing again
    with build_consumer(settings, store=store) as again:
        assert again.run(idle_timeout_s=3).messages == 0

    stored = Counter(r["event_id"] for r in q.verdicts(store))
    assert set(stored) == {e.event_id for e in stream} and max(stored.values()) == 1
    k = settings.kafka
    on_topic = Counter(m.key().decode() for m in read_all(k.bootstrap_servers, k.alerts_topic))
    assert on_topic and max(on_topic.values()) == 1
    assert set(on_topic) == {a["alert_id"] for a in q.violations(store, limit=100_000)}
    dead = read_all(k.bootstrap_servers, k.dead_letter_topic)
    assert sorted(m.value() for m in dead) == sorted(v for _, v in POISON)
