"""The sender's rarer failure paths, driven through the Sender directly.

Messages that can never be sent (too large, rejected by the broker for good),
a spool segment that cannot be opened, a clean close after a delivered replay
batch: each must neither lose an event nor block the spool behind it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jejak.producers.kafka_transport import KafkaTransport, KafkaTransportConfig
from jejak.producers.sender import InlineRunner, Mode, Sender
from jejak.producers.spool import Spool
from jejak.producers.transports import (
    MemoryTransport,
    MemoryTransportConfig,
    OutMessage,
    TransportRejected,
)


def _values(spool: Spool) -> list[bytes]:
    return [record.value for record in spool.read(10_000)]


class _RejectsBig(MemoryTransport):
    """A client that refuses b"BIG" outright, as librdkafka's produce() does for a too-large message."""

    def send(self, message: OutMessage) -> None:
        if message.value == b"BIG":
            raise TransportRejected("Broker: Message size too large")
        super().send(message)


def _mock_kafka(topic: str) -> KafkaTransport:
    """librdkafka's built-in mock cluster: no broker needed."""
    return KafkaTransport(
        KafkaTransportConfig(
            topic=topic,
            linger_ms=0,
            extra={"test.mock.num.brokers": 1, "message.max.bytes": 10_000, "log_level": 0},
        )
    )


def test_kafka_maps_a_too_large_message_to_rejected_not_down() -> None:
    transport = _mock_kafka("too-large")
    try:
        with pytest.raises(TransportRejected):
            transport.send(OutMessage(b"a", b"x" * 20_000, []))
    finally:
        transport.purge()
        transport.close()


def test_a_too_large_message_is_rejected_and_does_not_jam_the_spool(tmp_path: Path) -> None:
    transport = _mock_kafka("poison")
    sender = Sender(transport, Spool(tmp_path / "spool", fsync="never"), probe_interval=0.05)
    runner = InlineRunner(sender)
    runner.submit(OutMessage(b"a", b"small-1", []))
    runner.submit(OutMessage(b"a", b"x" * 20_000, []))
    for i in range(5):
        runner.submit(OutMessage(b"a", b"small-after-%d" % i, []))
    assert sender.mode is Mode.DIRECT  # a refused message is no reason to spool
    assert runner.flush(5) is True
    stats = sender.stats()
    assert (stats.delivered, stats.failed, stats.spooled, stats.spool_backlog) == (6, 1, 0, 0)
    runner.close(1)
    assert _values(Spool(tmp_path / "spool" / "rejected")) == [b"x" * 20_000]


def test_a_replayed_record_the_client_refuses_is_rejected_and_replay_moves_on(
    tmp_path: Path,
) -> None:
    transport = _RejectsBig(MemoryTransportConfig(hold=True))
    sender = Sender(transport, Spool(tmp_path / "spool", fsync="never"), probe_interval=0)
    transport.go_down()
    sender.service()
    sender.route([OutMessage(b"a", v, []) for v in (b"ok0", b"BIG", b"ok1", b"ok2")])
    assert sender.spool is not None and sender.spool.pending == 4
    transport.come_up()
    for _ in range(20):
        sender.service()
        transport.release()
        sender.service()
        if sender.mode is Mode.DIRECT and sender.idle():
            break
    assert [m.value for m in transport.messages] == [b"ok0", b"ok1", b"ok2"]
    stats = sender.stats()
    assert (stats.replayed, stats.failed, stats.spool_backlog) == (3, 1, 0)
    assert sender.mode is Mode.DIRECT
    sender.shutdown()
    assert _values(Spool(tmp_path / "spool" / "rejected")) == [b"BIG"]


def test_a_replayed_record_failing_for_good_is_rejected_not_replayed_forever(
    tmp_path: Path,
) -> None:
    transport = MemoryTransport(MemoryTransportConfig(hold=True))
    sender = Sender(transport, Spool(tmp_path / "spool", fsync="never"), probe_interval=0)
    transport.go_down()
    sender.service()
    sender.route([OutMessage(b"a", v, []) for v in (b"BIG", b"ok1", b"ok2")])
    transport.come_up()
    for _ in range(20):
        sender.service()  # the replay sends the batch
        transport.fail_pending(only=lambda m: m.value == b"BIG", retriable=False)
        transport.release()
        sender.service()
        if sender.mode is Mode.DIRECT and sender.idle():
            break
    assert [m.value for m in transport.messages] == [b"ok1", b"ok2"]  # BIG sent once, not again
    stats = sender.stats()
    assert (stats.replayed, stats.failed, stats.spool_backlog) == (2, 1, 0)
    assert sender.mode is Mode.DIRECT
    sender.shutdown()
    assert _values(Spool(tmp_path / "spool" / "rejected")) == [b"BIG"]
    assert Spool(tmp_path / "spool").pending == 0  # the checkpoint moved past it


def test_a_clean_close_commits_a_replay_batch_already_delivered(tmp_path: Path) -> None:
    transport = MemoryTransport(MemoryTransportConfig(hold=True))
    sender = Sender(transport, Spool(tmp_path / "spool", fsync="never"), probe_interval=0)
    transport.go_down()
    sender.service()
    sender.route([OutMessage(b"a", b"%d" % i, []) for i in range(3)])
    transport.come_up()
    sender.service()  # probe answers: the replay hands the batch over
    assert sender.mode is Mode.REPLAYING and transport.pending() == 3
    transport.release()  # the broker has it all; the sender has not looked yet
    sender.shutdown()
    assert [m.value for m in transport.messages] == [b"0", b"1", b"2"]
    restarted = Spool(tmp_path / "spool", fsync="never")
    assert restarted.pending == 0  # nothing to send again after the restart
    restarted.close()
