"""The sender's ledger: every accepted event is in exactly one stage, in every snapshot.

``accepted == queued + routing + sent + spooled + rejected`` (see
:class:`jejak.producers.sender.DeliveryStats`). The table drives each way an
event can go through the sender with the memory transport; the threaded tests
read snapshots while the sender thread moves events, including while a spool
write is stuck on a slow disk (the window in which events used to be counted
nowhere).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from jejak.producers.sender import DeliveryStats, InlineRunner, Mode, Sender, SenderThread
from jejak.producers.spool import Header, Spool
from jejak.producers.transports import (
    MemoryTransport,
    MemoryTransportConfig,
    OutMessage,
    TransportRejected,
)


def _messages(start: int, count: int) -> list[OutMessage]:
    """Values ``b"0"``, ``b"1"``, ... over three keys (subjects)."""
    return [OutMessage(b"k%d" % (n % 3), b"%d" % n, []) for n in range(start, start + count)]


def _stages(stats: DeliveryStats) -> tuple[int, int, int, int, int]:
    return (stats.queued, stats.routing, stats.sent, stats.spooled, stats.rejected)


def _balanced(stats: DeliveryStats, accepted: int) -> None:
    assert stats.accepted == accepted, stats
    assert stats.accounted == accepted, stats
    assert stats.delivered == stats.sent + stats.replayed, stats


class _RejectsBig(MemoryTransport):
    """A client that refuses b"BIG" outright (librdkafka's produce() on a too-large message)."""

    def send(self, message: OutMessage) -> None:
        if message.value == b"BIG":
            raise TransportRejected("Broker: Message size too large")
        super().send(message)


class _BrokenDisk(Spool):
    """A spool on a disk that refuses writes (full, read-only, failing)."""

    def append_many(self, records: Iterable[tuple[bytes, bytes, Sequence[Header]]]) -> int:
        raise OSError(28, "No space left on device")


@dataclass
class Case:
    name: str
    run: Callable[[MemoryTransport, InlineRunner], int]
    """Drives the sender; returns how many events it submitted."""
    stages: tuple[int, int, int, int, int]
    """(queued, routing, sent, spooled, rejected) once the steps are done."""
    memory: Callable[[], MemoryTransport] = MemoryTransport
    spool: Callable[[Path], Spool | None] = lambda d: Spool(d, fsync="never")


def _submit(runner: InlineRunner, messages: list[OutMessage]) -> int:
    for message in messages:
        runner.submit(message)
    return len(messages)


def _delivered_directly(memory: MemoryTransport, runner: InlineRunner) -> int:
    return _submit(runner, _messages(0, 4))


def _in_flight(memory: MemoryTransport, runner: InlineRunner) -> int:
    return _submit(runner, _messages(0, 4))


def _broker_down(memory: MemoryTransport, runner: InlineRunner) -> int:
    memory.go_down()
    return _submit(runner, _messages(0, 4))


def _purged_in_flight(memory: MemoryTransport, runner: InlineRunner) -> int:
    sent = _submit(runner, _messages(0, 3))
    memory.go_down()
    return sent + _submit(runner, _messages(3, 2))


def _refused(memory: MemoryTransport, runner: InlineRunner) -> int:
    return _submit(runner, [*_messages(0, 1), OutMessage(b"k0", b"BIG", []), *_messages(1, 1)])


def _failed_for_good(memory: MemoryTransport, runner: InlineRunner) -> int:
    sent = _submit(runner, _messages(0, 2))
    memory.fail_pending("MSG_SIZE_TOO_LARGE", retriable=False)
    runner.sender.service()
    return sent


def _timed_out(memory: MemoryTransport, runner: InlineRunner) -> int:
    sent = _submit(runner, _messages(0, 2))
    memory.fail_pending("_MSG_TIMED_OUT")
    runner.sender.service()
    return sent


def _replayed(memory: MemoryTransport, runner: InlineRunner) -> int:
    memory.go_down()
    sent = _submit(runner, _messages(0, 3))
    memory.come_up()
    assert runner.flush(5)
    return sent


CASES = [
    Case("delivered directly", _delivered_directly, (0, 0, 4, 0, 0)),
    Case(
        "in flight",
        _in_flight,
        (4, 0, 0, 0, 0),
        memory=lambda: MemoryTransport(MemoryTransportConfig(hold=True)),
    ),
    Case("broker down", _broker_down, (0, 0, 0, 4, 0)),
    Case(
        "purged in flight, then spooled ahead of later events",
        _purged_in_flight,
        (0, 0, 0, 5, 0),
        memory=lambda: MemoryTransport(MemoryTransportConfig(hold=True)),
    ),
    Case("refused by the client", _refused, (0, 0, 2, 0, 1), memory=_RejectsBig),
    Case(
        "failed for good in flight",
        _failed_for_good,
        (0, 0, 0, 0, 2),
        memory=lambda: MemoryTransport(MemoryTransportConfig(hold=True)),
    ),
    Case(
        "timed out in flight",
        _timed_out,
        (0, 0, 0, 2, 0),
        memory=lambda: MemoryTransport(MemoryTransportConfig(hold=True)),
    ),
    Case("broker down, no spool", _broker_down, (0, 0, 0, 0, 4), spool=lambda d: None),
    Case("broker down, spool not writable", _broker_down, (0, 0, 0, 0, 4), spool=_BrokenDisk),
    Case("spooled, then replayed", _replayed, (0, 0, 0, 3, 0)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_way_through_the_sender_keeps_the_ledger(case: Case, tmp_path: Path) -> None:
    memory = case.memory()
    sender = Sender(memory, case.spool(tmp_path / "spool"), probe_interval=0)
    runner = InlineRunner(sender)
    submitted = case.run(memory, runner)
    stats = runner.stats()
    _balanced(stats, submitted)
    assert _stages(stats) == case.stages
    assert stats.failed == stats.rejected  # no replayed record failed here
    runner.close(1)
    _balanced(runner.stats(), submitted)


def test_the_table_reaches_every_stage() -> None:
    """Each stage of the ledger but routing (a passing one: see the slow-disk test) is
    the end point of at least one case."""
    for stage in (0, 2, 3, 4):
        assert any(case.stages[stage] for case in CASES), stage


def test_a_replayed_record_is_not_counted_twice(tmp_path: Path) -> None:
    """Spooled events stay ``spooled`` in the ledger; their replay is the spool's business."""
    memory = MemoryTransport()
    runner = InlineRunner(
        Sender(memory, Spool(tmp_path / "spool", fsync="never"), probe_interval=0)
    )
    memory.go_down()
    _submit(runner, _messages(0, 3))
    memory.come_up()
    assert runner.flush(5)
    _submit(runner, _messages(3, 2))
    stats = runner.stats()
    _balanced(stats, 5)
    assert (stats.sent, stats.spooled, stats.replayed, stats.delivered) == (2, 3, 3, 5)
    assert [m.value for m in memory.messages] == [b"%d" % n for n in range(5)]
    runner.close(1)


def test_an_earlier_runs_spool_is_outside_this_ledger(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool", fsync="never") as old:
        old.append_many((b"k0", b"old-%d" % n, ()) for n in range(4))
    memory = MemoryTransport()
    runner = InlineRunner(
        Sender(memory, Spool(tmp_path / "spool", fsync="never"), probe_interval=0)
    )
    _submit(runner, _messages(0, 2))  # the first behind the old spool (rule 1), replayed with it
    assert runner.flush(5)
    stats = runner.stats()
    _balanced(stats, 2)
    assert (stats.sent, stats.spooled, stats.replayed, stats.delivered) == (1, 1, 5, 6)
    assert [m.value for m in memory.messages] == [
        b"old-0",
        b"old-1",
        b"old-2",
        b"old-3",
        b"0",
        b"1",
    ]
    runner.close(1)


class _SlowDisk(Spool):
    """A spool whose writes wait until the test opens the gate: a slow or stalled disk."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, fsync="never")
        self.gate = threading.Event()
        self.writing = threading.Event()

    def append_many(self, records: Iterable[tuple[bytes, bytes, Sequence[Header]]]) -> int:
        records = list(records)
        self.writing.set()
        self.gate.wait(10)
        return super().append_many(records)


def _wait(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.002)


def test_events_on_their_way_to_a_slow_disk_are_counted_as_routing(tmp_path: Path) -> None:
    """The flaky window: taken off the queue, not yet in the spool, counted nowhere."""
    memory = MemoryTransport()
    spool = _SlowDisk(tmp_path / "spool")
    runner = SenderThread(Sender(memory, spool, probe_interval=60))
    try:
        memory.go_down()
        for message in _messages(0, 300):
            runner.submit(message)
        assert spool.writing.wait(10)
        stats = runner.stats()
        _balanced(stats, 300)
        assert stats.routing > 0 and stats.spooled == 0 and stats.spool_backlog == 0
        assert stats.mode == "spooling"
        assert not stats.all_delivered
        spool.gate.set()
        _wait(lambda: runner.stats().spooled == 300)
        stats = runner.stats()
        _balanced(stats, 300)
        assert (stats.queued, stats.routing, stats.spool_backlog) == (0, 0, 300)
    finally:
        spool.gate.set()
        runner.close(5)


def test_every_snapshot_adds_up_while_the_sender_thread_moves_events(tmp_path: Path) -> None:
    memory = MemoryTransport(MemoryTransportConfig(hold=True))
    runner = SenderThread(
        Sender(memory, Spool(tmp_path / "spool", fsync="never"), probe_interval=0),
        drain_batch=50,
    )
    unbalanced: list[DeliveryStats] = []
    snapshots = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal snapshots
        last = 0
        while not stop.is_set():
            stats = runner.stats()
            snapshots += 1
            if stats.accounted != stats.accepted or stats.accepted < last:
                unbalanced.append(stats)
            last = stats.accepted

    watcher = threading.Thread(target=watch)
    watcher.start()
    submitted = 0
    try:
        moves = [memory.release, memory.go_down, memory.come_up, memory.fail_pending]
        for step in range(24):
            for message in _messages(submitted, 150):
                runner.submit(message)
            submitted += 150
            # seen from the submitting thread, the count is exact at once
            _balanced(runner.stats(), submitted)
            moves[step % len(moves)]()
            time.sleep(0.002)
        memory.come_up()
        memory.hold = False
        memory.release()
        assert runner.flush(10)
    finally:
        stop.set()
        watcher.join()
        runner.close(5)
    assert snapshots > 100
    assert not unbalanced, unbalanced[:3]
    stats = runner.stats()
    _balanced(stats, submitted)
    assert stats.all_delivered and stats.delivered == submitted
    assert sorted(int(m.value) for m in memory.messages) == list(range(submitted))


class _BrokerKeepsInFlight(MemoryTransport):
    """A broker that had already written what was in flight when the client purged it."""

    def purge(self) -> None:
        with self._lock:
            self.messages.extend(self.in_flight)
        super().purge()


def test_a_late_broker_down_report_does_not_resend_a_replay_batch(tmp_path: Path) -> None:
    """librdkafka's "all brokers down" can arrive after the broker is back and a replay
    batch is on its way: the sender stops replaying but lets the batch finish, so the
    records the broker took are not sent again."""
    memory = _BrokerKeepsInFlight(MemoryTransportConfig(hold=True))
    sender = Sender(memory, Spool(tmp_path / "spool", fsync="never"), probe_interval=0)
    runner = InlineRunner(sender)
    memory.go_down()
    _submit(runner, _messages(0, 6))
    memory.come_up()
    sender.service()  # the probe answers: the batch of six is in flight
    assert sender.mode is Mode.REPLAYING and len(memory.in_flight) == 6
    sender.unavailable("1/1 brokers are down")  # a late report: the broker is in fact up
    sender.service()
    assert sender.mode is Mode.SPOOLING
    assert len(memory.in_flight) == 6  # not purged
    memory.hold = False
    memory.release()
    assert runner.flush(5)
    assert [m.value for m in memory.messages] == [b"%d" % n for n in range(6)]  # each once
    stats = runner.stats()
    _balanced(stats, 6)
    assert (stats.spooled, stats.replayed, stats.spool_backlog) == (6, 6, 0)
    runner.close(1)


def test_leaving_direct_still_purges_what_is_in_flight(tmp_path: Path) -> None:
    """Rule 2 is unchanged: in flight when DIRECT ends, spooled ahead of later events."""
    memory = MemoryTransport(MemoryTransportConfig(hold=True))
    runner = InlineRunner(
        Sender(memory, Spool(tmp_path / "spool", fsync="never"), probe_interval=0)
    )
    _submit(runner, _messages(0, 3))
    memory.go_down()
    _submit(runner, _messages(3, 2))
    assert memory.in_flight == []
    memory.come_up()
    memory.hold = False
    assert runner.flush(5)
    assert [m.value for m in memory.messages] == [b"%d" % n for n in range(5)]
    runner.close(1)
