"""The sender's fallback to the spool, with the memory transport playing the broker.

Every test checks the two promises: nothing is lost, and one subject's events
reach the destination in the order they were emitted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jejak.producers import Emitter, MemoryTransport, Mode, Spool
from jejak.producers.transports import MemoryTransportConfig
from jejak.settings import SdkSettings

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> SdkSettings:
    return SdkSettings(
        service="orders",
        service_version="2.0",
        spool_dir=tmp_path / "spool",
        fsync="never",
        allow_development_key=True,
    )


def _emitter(settings: SdkSettings, memory: MemoryTransport) -> Emitter:
    emitter = Emitter(settings, transport=memory, spool=True, probe_interval=0)
    memory.decoder = emitter.codec
    return emitter


def _emit(emitter: Emitter, start: int, count: int) -> list[str]:
    """``count`` events over three subjects, numbered from ``start`` in their trace_id."""
    return [
        emitter.use(
            subject_id=f"u-{n % 3}",
            data_categories=["usage.preferences"],
            purpose="service.personalization",
            occurred_at=T0 + timedelta(seconds=n),
            trace_id=str(n),
        )
        for n in range(start, start + count)
    ]


def _delivered(memory: MemoryTransport) -> list[int]:
    return [int(e.trace_id or -1) for e in memory.events]


def _assert_each_once_in_order(memory: MemoryTransport, total: int) -> None:
    numbers = _delivered(memory)
    assert sorted(numbers) == list(range(total)), "every event exactly once"
    by_subject: dict[str, list[int]] = {}
    for event in memory.events:
        by_subject.setdefault(event.subject_id, []).append(int(event.trace_id or -1))
    for sequence in by_subject.values():
        assert sequence == sorted(sequence), "one subject's events in emit order"


@pytest.fixture
def memory() -> Iterator[MemoryTransport]:
    yield MemoryTransport()


def test_broker_down_spools_and_replays_in_order(
    settings: SdkSettings, memory: MemoryTransport
) -> None:
    with _emitter(settings, memory) as emitter:
        _emit(emitter, 0, 5)
        memory.go_down()
        _emit(emitter, 5, 10)
        stats = emitter.stats()
        assert stats.mode == "spooling" and stats.spooled == 10 and stats.delivered == 5
        assert not emitter.flush(0.05)  # cannot deliver while down
        memory.come_up()
        assert emitter.flush(5)
        stats = emitter.stats()
        assert stats.mode == "direct" and stats.replayed == 10 and stats.delivered == 15
        _emit(emitter, 15, 3)
    _assert_each_once_in_order(memory, 18)


def test_while_the_spool_drains_new_events_queue_behind_it(settings: SdkSettings) -> None:
    memory = MemoryTransport()
    with _emitter(settings, memory) as emitter:
        emitter.sender.replay_batch = 4
        memory.go_down()
        _emit(emitter, 0, 20)
        memory.come_up()
        # every emit services the sender once: replay moves on a batch at a time while
        # events keep coming; none of them may overtake the spool
        for n in range(20, 40):
            _emit(emitter, n, 1)
            if emitter.sender.mode is not Mode.DIRECT:
                assert emitter.stats().spool_backlog > 0
        assert emitter.flush(5)
    _assert_each_once_in_order(memory, 40)


def test_in_flight_messages_come_back_before_later_events(settings: SdkSettings) -> None:
    memory = MemoryTransport(MemoryTransportConfig(hold=True))
    with _emitter(settings, memory) as emitter:
        _emit(emitter, 0, 6)  # handed over, not acknowledged
        assert len(memory.in_flight) == 6
        memory.go_down()  # the broker vanishes: reported at the next poll
        _emit(emitter, 6, 4)
        assert emitter.sender.mode is Mode.SPOOLING
        assert memory.in_flight == []  # purged and spooled, ahead of events 6..9
        assert emitter.stats().spooled == 10
        memory.come_up()
        memory.hold = False
        assert emitter.flush(5)
    _assert_each_once_in_order(memory, 10)


def test_a_failed_delivery_report_is_spooled_not_dropped(settings: SdkSettings) -> None:
    memory = MemoryTransport(MemoryTransportConfig(hold=True))
    with _emitter(settings, memory) as emitter:
        _emit(emitter, 0, 3)
        memory.fail_pending("_MSG_TIMED_OUT")  # librdkafka gave up on them
        _emit(emitter, 3, 2)
        stats = emitter.stats()
        assert stats.spooled == 5 and stats.failed == 0 and stats.mode != "direct"
        memory.hold = False
        memory.release()  # the replay that already started is acknowledged
        assert emitter.flush(5)
    _assert_each_once_in_order(memory, 5)


def test_a_full_local_queue_spools_after_a_bounded_wait(settings: SdkSettings) -> None:
    memory = MemoryTransport(MemoryTransportConfig(hold=True))
    with _emitter(settings, memory) as emitter:
        emitter.sender.full_wait = 0.01
        memory.capacity = 3
        _emit(emitter, 0, 5)
        assert emitter.sender.mode is not Mode.DIRECT
        memory.capacity = None
        memory.hold = False
        memory.release()
        assert emitter.flush(5)
    _assert_each_once_in_order(memory, 5)


def test_a_replay_that_fails_halfway_sends_each_record_once(settings: SdkSettings) -> None:
    memory = MemoryTransport()
    with _emitter(settings, memory) as emitter:
        emitter.sender.replay_batch = 6
        memory.go_down()
        _emit(emitter, 0, 6)
        memory.come_up()
        memory.hold = True
        emitter.sender.service()  # replay: the batch of 6 is in flight
        assert len(memory.in_flight) == 6
        # the broker loses one of them and acknowledges the others
        lost = memory.in_flight[2]
        memory.fail_pending("_MSG_TIMED_OUT", only=lambda m: m is lost)
        memory.release()
        memory.hold = False
        assert emitter.flush(5)
        assert emitter.stats().replayed == 6
    assert sorted(_delivered(memory)) == list(range(6))  # the five are not sent twice


def test_a_spool_left_by_an_earlier_run_goes_first(settings: SdkSettings) -> None:
    first = MemoryTransport()
    with _emitter(settings, first) as emitter:
        first.go_down()
        _emit(emitter, 0, 7)
        assert not emitter.close(0.05)  # not delivered, but durable
    with Spool(settings.spool_dir) as spool:
        assert spool.pending == 7
    second = MemoryTransport()
    with _emitter(settings, second) as emitter:
        assert emitter.sender.mode is Mode.SPOOLING  # starts behind the old spool
        _emit(emitter, 7, 3)
        assert emitter.flush(5)
    _assert_each_once_in_order(second, 10)


def test_closing_with_messages_in_flight_spools_them(settings: SdkSettings) -> None:
    memory = MemoryTransport(MemoryTransportConfig(hold=True))
    emitter = _emitter(settings, memory)
    _emit(emitter, 0, 4)
    assert not emitter.close(0.05)
    with Spool(settings.spool_dir) as spool:
        assert spool.pending == 4


def test_a_fatal_client_error_spools_rebuilds_the_client_and_carries_on(
    settings: SdkSettings,
) -> None:
    memory = MemoryTransport(MemoryTransportConfig(hold=True))
    with _emitter(settings, memory) as emitter:
        _emit(emitter, 0, 4)
        memory.fail_fatally("_FATAL: sequence desynchronization")
        _emit(emitter, 4, 3)
        assert memory.resets == 1
        assert emitter.stats().spooled == 7  # the four in flight first, then the new three
        memory.hold = False
        memory.release()
        assert emitter.flush(5)
    _assert_each_once_in_order(memory, 7)


def test_a_permanent_failure_is_rejected_counted_and_kept(settings: SdkSettings) -> None:
    memory = MemoryTransport(MemoryTransportConfig(hold=True))
    with _emitter(settings, memory) as emitter:
        _emit(emitter, 0, 2)
        memory.fail_pending("MSG_SIZE_TOO_LARGE", retriable=False)
        emitter.sender.service()
        assert emitter.stats().failed == 2 and emitter.stats().mode == "direct"
        assert not emitter.flush(1)
        assert emitter.flush(1)  # "since the last flush"
    with Spool(settings.spool_dir / "rejected") as rejected:
        assert rejected.pending == 2


def test_without_a_spool_an_undeliverable_event_is_counted_failed(settings: SdkSettings) -> None:
    memory = MemoryTransport()
    with Emitter(settings, transport=memory) as emitter:
        assert emitter.spool is None
        memory.go_down()
        _emit(emitter, 0, 2)
        assert emitter.stats().failed == 2
        assert not emitter.flush(0.1)


def test_background_sender_thread(settings: SdkSettings) -> None:
    memory = MemoryTransport()
    with Emitter(
        settings, transport=memory, spool=True, background=True, probe_interval=0
    ) as emitter:
        memory.decoder = emitter.codec
        _emit(emitter, 0, 50)
        memory.go_down()
        _emit(emitter, 50, 50)
        assert emitter.flush(0.2) is False
        memory.come_up()
        assert emitter.flush(5)
        assert emitter.stats().delivered == 100
    _assert_each_once_in_order(memory, 100)
