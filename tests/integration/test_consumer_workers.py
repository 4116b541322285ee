"""``jejak consume --workers N``: worker processes, one process holding the store.

Against the real broker and chDB:

- a worker's store (its client calls run by the holder, its inserts encoded by
  the worker) writes and answers exactly as the store itself;
- ``jejak consume --workers 2`` consumes a simulated stream into one store
  exactly once: every event once, the alerts on their topic once each and
  equal to the store's (the monitor's too, journalled by the holder), the
  dead letters exactly the poison, ``jejak verify`` clean;
- the same with one worker SIGKILLed right after a batch is written and
  before it is committed: the other worker gets its partitions, skips what
  the store holds and publishes its alerts from the store; the holder exits 1;
- SIGTERM to the holder stops the workers cleanly; SIGKILL to it stops them
  too (without committing).

The store of a ``jejak consume`` child is read back in another child
(``consumer_child.py report``): chDB opens one data folder per process.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import signal
import subprocess
import sys
import threading
import time
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
)

from jejak.consumers.topics import ensure_topics
from jejak.consumers.workers import Holder, Workers, remote_store
from jejak.errors import StoreError
from jejak.lineage.policy import Evaluator, load_policies
from jejak.lineage.store import connect, migrate
from jejak.lineage.store import queries as q
from jejak.lineage.store.chain import load_heads
from jejak.lineage.store.checkpoints import open_checkpointer
from jejak.lineage.store.tables import EVENTS
from jejak.lineage.store.writer import Batch, Origin, write_batch

pytestmark = pytest.mark.integration

CHILD = Path(__file__).with_name("consumer_child.py")


# -- a worker's store is the store ---------------------------------------------------------------


def test_a_workers_store_writes_and_answers_as_the_store_itself(
    kafka_bootstrap: str, clickhouse_dsn: str, store_database: str
) -> None:
    settings = make_settings(kafka_bootstrap, clickhouse_dsn, store_database)
    local = connect(clickhouse_dsn, store_database)
    migrate(local)
    held = connect(clickhouse_dsn, f"{store_database}_w")
    migrate(held)
    pool = Workers(
        settings,
        1,
        store=held,
        checkpointer=open_checkpointer(settings, held),
        policies=load_policies(),
    )
    mine, theirs = multiprocessing.Pipe()
    threading.Thread(target=pool.serve, args=(1, mine), daemon=True).start()
    with held.exclusive() as client:
        server_tz = client.server_tz
    remote = remote_store(Holder(theirs), held.database, clickhouse_dsn, None, server_tz)

    # one batch (every column type of the event log; random salts) written both ways
    stream = events(users=25)
    evaluator = Evaluator(load_policies())
    head = load_heads(local, "t", [0])[0]
    batch = Batch()
    for i, event in enumerate(stream):
        batch.add(head, event, evaluator.evaluate(event), Origin("t", 0, i))
    write_batch(local, batch)
    write_batch(remote, batch)
    columns = ", ".join(EVENTS.written_names)
    sql = f"SELECT {columns} FROM {{db}}.events ORDER BY partition, seq"
    assert held.query(sql) == local.query(sql)
    assert len(local.query(sql)) == len(stream)
    assert q.totals(remote) == q.totals(local)

    # and it answers as the store does: rows, columns, blocks, commands
    ask = "SELECT event_id, seq, reasons FROM {db}.events WHERE seq < {n:UInt64} ORDER BY seq"
    assert remote.query(ask, {"n": 40}) == held.query(ask, {"n": 40})
    assert remote.query_columns(ask, {"n": 40}, width=3) == held.query_columns(
        ask, {"n": 40}, width=3
    )
    assert remote.query_columns(ask, {"n": 0}, width=3) == [[], [], []]
    assert [list(map(list, b)) for b in remote.stream_columns(ask, {"n": 40})] == [
        list(map(list, b)) for b in held.stream_columns(ask, {"n": 40})
    ]
    assert remote.command("SELECT count() FROM {db}.events") == len(stream)

    # a failure there is a StoreError here, worded as the store words it
    with pytest.raises(StoreError, match=r"^query on .* failed: "):
        remote.query("SELECT nothing FROM {db}.nowhere")
    gone, end = multiprocessing.Pipe()
    gone.close()
    orphan = remote_store(Holder(end), held.database, clickhouse_dsn, None, server_tz)
    with pytest.raises(StoreError, match="holding the store is gone"):
        orphan.query("SELECT 1")


# -- jejak consume --workers 2 -------------------------------------------------------------------


class Run:
    """One stream, its topics, group and store folder; ``jejak consume`` in a child."""

    def __init__(self, bootstrap: str, tmp: Path, *, users: int = 150) -> None:
        self.tmp = tmp
        self.dsn = f"chdb://{tmp / 'chdb'}"
        self.settings = make_settings(bootstrap, self.dsn, "workers")
        ensure_topics(self.settings.kafka)
        self.events = events(users=users, seed=7)
        produce(bootstrap, self.settings.kafka.topic, self.events, POISON)

    def env(self, **extra: str) -> dict[str, str]:
        return child_env(self.settings.kafka, self.dsn, "workers", **extra)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(CHILD), "consume", "--", "-v", "consume", "--no-serve", *args]

    def consume(self, *args: str, **env: str) -> tuple[int, dict[str, Any], str]:
        proc = subprocess.run(
            self.command(*args),
            env=self.env(**env),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=240,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise AssertionError(f"no totals (status {proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc.returncode, json.loads(lines[-1]), proc.stderr

    def problems(self) -> list[str]:
        """What is wrong in the store and on the topics (empty: nothing lost, doubled, made up)."""
        proc = subprocess.run(
            [sys.executable, str(CHILD), "report"],
            env=self.env(),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        report = json.loads(proc.stdout)
        return exactly_once_problems(report, self.events, self.settings.kafka)


def test_two_workers_consume_a_stream_exactly_once_into_one_store(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = Run(kafka_bootstrap, tmp_path)
    status, totals, stderr = run.consume(
        "--workers", "2", "--idle-timeout", "8", "--batch-size", "40", "--retention-every", "1"
    )
    assert status == 0, stderr[-3000:]
    assert totals["exit_reason"] == "idle"
    assert totals["events"] == len(run.events)
    assert totals["dead_letters"] == len(POISON)
    assert [w["events"] for w in totals["workers"]] and len(totals["workers"]) == 2
    assert run.problems() == []
    print(f"events per worker: {[w['events'] for w in totals['workers']]}")


def test_a_worker_killed_mid_stream_leaves_its_partitions_to_the_other(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Worker 2 is SIGKILLed after its 3rd batch is written, before it is committed."""
    run = Run(kafka_bootstrap, tmp_path)
    status, totals, stderr = run.consume(
        "--workers",
        "2",
        "--idle-timeout",
        "20",  # longer than the dead member's session: its partitions come to worker 1
        "--batch-size",
        "40",
        "--retention-every",
        "0",
        JEJAK_CONSUMER__FAULT="after_write:3",
        JEJAK_KAFKA__SESSION_TIMEOUT_MS="6000",
    )
    assert totals["died"] == [{"worker": 2, "status": -signal.SIGKILL}], stderr[-3000:]
    assert status == 1 and totals["exit_reason"] == "worker_died"
    assert "a worker died" in stderr
    first = totals["workers"][0]
    # the written, uncommitted batch came to worker 1: skipped, its alerts published again
    assert first["replayed"] > 0
    assert run.problems() == []


_STARTED = re.compile(r"worker (\d+) started \(pid (\d+)\)")
_ASSIGNED = re.compile(r"(worker-\d+) jejak\.consumers\.worker: assigned ")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in ("Z", "X")  # a zombie no one reaps has ended all the same


def _start(run: Run) -> tuple[subprocess.Popen[str], list[int], list[str]]:
    """``jejak consume --workers 2`` running until a signal; once both workers have partitions."""
    proc = subprocess.Popen(
        run.command("--workers", "2", "--retention-every", "0"),
        env=run.env(JEJAK_KAFKA__SESSION_TIMEOUT_MS="6000"),
        cwd=run.tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(set(_ASSIGNED.findall("".join(lines)))) >= 2:
            break
        time.sleep(0.2)
    text = "".join(lines)
    pids = [int(p) for _, p in _STARTED.findall(text)]
    assert len(pids) == 2 and proc.poll() is None, text[-3000:]
    return proc, pids, lines


def test_the_workers_stop_with_the_process_holding_the_store(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = Run(kafka_bootstrap, tmp_path, users=20)

    # SIGTERM: every worker finishes its batch, commits and leaves; the holder exits 0
    proc, pids, lines = _start(run)
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(120)
    assert proc.returncode == 0, "".join(lines)[-3000:]
    assert json.loads(out.splitlines()[-1])["exit_reason"] == "stopped"
    assert all(_gone(pid) for pid in pids)

    # SIGKILL: the holder cannot pass anything on; the workers see it gone and stop
    proc, pids, lines = _start(run)
    proc.kill()
    proc.wait(30)
    deadline = time.monotonic() + 60
    while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(_gone(pid) for pid in pids), "".join(lines)[-3000:]
    assert run.problems() == []
