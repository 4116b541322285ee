"""librdkafka's log through Python logging: the rate limit, one warning per outage, a real client."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from confluent_kafka import KafkaError, Producer

from jejak.kafka_logging import LIBRDKAFKA_LOGGER, LOGGER, KafkaLog, RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


FAIL_LINE = (
    "FAIL",
    "rdkafka#producer-1",
    "[thrd:127.0.0.1:1/bootstrap]: Connect to ipv4#127.0.0.1:1 failed: Connection refused",
)


def test_the_rate_limit_passes_a_burst_then_counts_until_the_window_ends() -> None:
    clock = Clock()
    limit = RateLimit(burst=2, interval_s=10, clock=clock)
    assert [limit.admit("k") for _ in range(5)] == [
        (True, 0),
        (True, 0),
        (False, 0),
        (False, 0),
        (False, 0),
    ]
    assert limit.admit("other") == (True, 0)  # per key
    clock.now += 10
    assert limit.admit("k") == (True, 3)  # the new window reports the old one's left-outs
    limit.admit("k")
    limit.admit("k")
    assert limit.drain() == [("k", 1)]
    assert limit.drain() == []


@pytest.mark.parametrize(("burst", "interval"), [(0, 1.0), (1, 0.0)])
def test_the_rate_limit_refuses_a_limit_that_passes_nothing(burst: int, interval: float) -> None:
    with pytest.raises(ValueError):
        RateLimit(burst, interval)


def _records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name]


def test_all_brokers_down_warns_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    kafka_log = KafkaLog("the test producer", "127.0.0.1:1", quiet_s=30, clock=clock)
    down = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
    for _ in range(50):
        kafka_log.error(down)
        kafka_log.error(KafkaError(KafkaError._TRANSPORT, "Connect to 127.0.0.1:1 failed"))
        kafka_log.log(logging.ERROR, "%s [%s] %s", *FAIL_LINE)
        clock.now += 5  # failures keep coming: the same outage
    warnings = [r for r in _records(caplog, LOGGER) if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "Kafka cannot be reached at 127.0.0.1:1" in text and "the test producer" in text
    assert kafka_log.down

    kafka_log.reachable()  # the owner saw an answer: this outage is over
    assert not kafka_log.down
    assert any("reachable again" in r.getMessage() for r in _records(caplog, LOGGER))
    kafka_log.error(down)
    warnings = [r for r in _records(caplog, LOGGER) if r.levelno == logging.WARNING]
    assert len(warnings) == 2


def test_a_quiet_spell_ends_an_outage_without_being_told(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    clock = Clock()
    kafka_log = KafkaLog("c", "b:9092", quiet_s=30, clock=clock)
    down = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
    kafka_log.error(down)
    clock.now += 31  # no connection failure for longer than quiet_s: it had come back
    kafka_log.error(down)
    assert len(_records(caplog, LOGGER)) == 2


def test_librdkafka_lines_are_rate_limited_and_connection_failures_are_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    kafka_log = KafkaLog("the consumer", "b:9092", burst=3, interval_s=60, clock=clock)
    for _ in range(100):
        kafka_log.log(logging.ERROR, "%s [%s] %s", *FAIL_LINE)
        kafka_log.log(logging.WARNING, "%s [%s] %s", "SESSTMOUT", "rdkafka#consumer-1", "x")
    lines = _records(caplog, LIBRDKAFKA_LOGGER)
    fails = [r for r in lines if r.getMessage().startswith("FAIL")]
    assert len(fails) == 3 and {r.levelno for r in fails} == {logging.INFO}
    others = [r for r in lines if r.getMessage().startswith("SESSTMOUT")]
    assert len(others) == 3 and {r.levelno for r in others} == {logging.WARNING}
    kafka_log.close()
    summaries = [r.getMessage() for r in _records(caplog, LIBRDKAFKA_LOGGER)[6:]]
    assert sorted(summaries) == [
        "97 more librdkafka FAIL line(s) of the consumer left out (at most 3 per 60 s)",
        "97 more librdkafka SESSTMOUT line(s) of the consumer left out (at most 3 per 60 s)",
    ]


def test_other_errors_by_severity_and_nothing_raises_into_librdkafka(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    kafka_log = KafkaLog("c", "b:9092")
    kafka_log.error(KafkaError(KafkaError._FATAL, "fenced", fatal=True))
    kafka_log.error(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication failed"))
    kafka_log.error(object())  # not a KafkaError: swallowed
    levels = [(r.levelno, r.getMessage()) for r in _records(caplog, LOGGER)]
    assert levels == [
        (logging.ERROR, "kafka fatal error: fenced"),
        (logging.WARNING, "kafka: SASL authentication failed"),
    ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_real_client_with_no_broker_gives_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """librdkafka itself, pointed at a port nobody listens on (no broker is needed)."""
    caplog.set_level(logging.INFO)
    bootstrap = f"127.0.0.1:{_closed_port()}"
    kafka_log = KafkaLog("the test producer", bootstrap, burst=2)
    producer = Producer({"bootstrap.servers": bootstrap, **kafka_log.client_config()})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(_records(caplog, LIBRDKAFKA_LOGGER)) < 2:
        producer.poll(0.1)
    for _ in range(10):  # more attempts fail meanwhile
        producer.poll(0.1)
    kafka_log.close()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == [LOGGER]
    assert bootstrap in warnings[0].getMessage()
    lines = [r for r in _records(caplog, LIBRDKAFKA_LOGGER) if "Connect to" in r.getMessage()]
    assert len(lines) == 2 and {r.levelno for r in lines} == {logging.INFO}
