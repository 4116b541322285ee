"""The consumer's operational pieces that need no broker: fault specs, progress, latency."""

from __future__ import annotations

import pytest

from jejak.consumers.worker import WRITE_BUCKETS, ConsumerStats, Fault, Progress
from jejak.errors import ConfigError


def test_fault_specs() -> None:
    assert Fault.parse("after_write:3") == Fault("after_write", 3, 1)
    assert Fault.parse("store_error:2:4") == Fault("store_error", 2, 4)
    for bad in ("after_write", "after_lunch:1", "after_write:0", "after_write:x", "a:1:2:3"):
        with pytest.raises(ConfigError) as err:
            Fault.parse(bad)
        assert "after_decode" in str(err.value)  # names the points it knows


def test_progress_line_says_rate_lag_and_totals() -> None:
    stats = ConsumerStats(messages=12_000, events=11_990, alerts=3, dead_letters=10)
    line = Progress(1234.4, 56, 6, stats).line()
    assert line.startswith("1,234 msg/s, lag 56 on 6 partition(s); totals: 12,000 messages")
    assert "3 alerts" in line and "10 dead letters" in line
    assert "lag ? on 0" in Progress(0.0, None, 0, stats).line()


def test_write_latency_buckets() -> None:
    stats = ConsumerStats()
    for seconds in (0.001, 0.02, 0.02, 99.0):
        stats.observe_write(seconds)
    assert stats.writes == 4 and stats.write_seconds == pytest.approx(99.041)
    assert stats.write_buckets[0] == 1
    assert stats.write_buckets[WRITE_BUCKETS.index(0.025)] == 2
    assert stats.write_buckets[-1] == 1  # over the last bound: +Inf
