"""The pure parts of ``jejak consume --workers``: totals, exit reasons, each worker's settings."""

from __future__ import annotations

from typing import Any

import pytest

from jejak.consumers.workers import Workers, combine
from jejak.settings import ConsumerSettings, KafkaSettings, Settings


def _stats(reason: str, messages: int = 0, **decisions: int) -> dict[str, Any]:
    return {"messages": messages, "events": messages, "decisions": decisions, "exit_reason": reason}


def test_combine_sums_counts_and_merges_decisions() -> None:
    totals = combine([_stats("idle", 3, allowed=2, violation=1), _stats("idle", 4, allowed=4)])
    assert totals == {
        "messages": 7,
        "events": 7,
        "decisions": {"allowed": 6, "violation": 1},
        "exit_reason": "idle",
    }


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        (["idle", "idle"], "idle"),
        (["idle", "unassigned"], "idle"),  # more workers than partitions: not a failure
        (["unassigned", "unassigned"], "unassigned"),
        (["idle", "lag"], "lag"),
        (["lag", "unassigned"], "lag"),
        (["stopped", "idle"], "stopped"),
        ([], "stopped"),
    ],
)
def test_combine_gives_one_exit_reason(reasons: list[str], expected: str) -> None:
    assert combine([_stats(r) for r in reasons])["exit_reason"] == expected


def _pool(**consumer: Any) -> Workers:
    settings = Settings(
        kafka=KafkaSettings(group_instance_id="pod-a"), consumer=ConsumerSettings(**consumer)
    )
    return Workers(settings, 3, store=None, checkpointer=None, policies=None)  # type: ignore[arg-type]


def test_each_worker_is_its_own_static_member() -> None:
    pool = _pool()
    names = [pool.settings_of(n).kafka.group_instance_id for n in (1, 2, 3)]
    assert names == ["pod-a-1", "pod-a-2", "pod-a-3"]


def test_the_fault_setting_kills_the_last_worker_only() -> None:
    pool = _pool(fault="after_write:3")
    assert [pool.settings_of(n).consumer.fault for n in (1, 2, 3)] == [
        None,
        None,
        "after_write:3",
    ]
