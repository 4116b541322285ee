"""Derivations (alerts and aggregates from the event log) on the real engine.

Each log row must be derived exactly once whatever happens between a write and
its derivation: a consumer deriving many batches at once, a crash after a
derivation was recorded, a failed derivation retried after its partition moved.
"""

from __future__ import annotations

import pytest

from jejak.lineage.store import Store, connect, migrate
from jejak.lineage.store import derive as d
from jejak.lineage.store.chain import LogHead
from jejak.lineage.store.tables import DERIVED_RANGES
from jejak.lineage.store.writer import Batch, Origin, write_batch
from jejak.producers.simulate import simulate

pytestmark = pytest.mark.integration

TOPIC = "privacy.events"


@pytest.fixture
def store(clickhouse_dsn: str, store_database: str) -> Store:
    s = connect(clickhouse_dsn, store_database)
    migrate(s)
    return s


def _write(store: Store, batches: int = 3) -> list[Batch]:
    """A simulated stream over two partitions, written without deriving (as the consumer does)."""
    from jejak.lineage.policy import Evaluator, load_policies

    evaluator = Evaluator(load_policies())
    heads = {p: LogHead(f"events/{TOPIC}/{p}") for p in range(2)}
    events = simulate(users=20, days=1, seed=3, violation_rate=0.2).events
    size = -(-len(events) // batches)
    written = []
    for i in range(batches):
        batch = Batch()
        for event in events[i * size : (i + 1) * size]:
            p = sum(event.subject_id.encode()) % 2
            verdict = evaluator.evaluate(event)
            severity = "high" if verdict.decision == "violation" else ""
            origin = Origin(TOPIC, p, heads[p].last_offset + 1)
            batch.add(heads[p], event, verdict, origin, severity, "s" if severity else "")
        write_batch(store, batch, derive=False)
        written.append(batch)
    return written


def _counts(store: Store) -> dict[str, int]:
    return {
        t: int(store.query(f"SELECT count() AS n FROM {{db}}.{t} WHERE kind != 'filler'")[0]["n"])
        for t in ("alerts", "daily", "recipients")
    }


def _expected(store: Store) -> dict[str, int]:
    """The derived tables' sizes from the log itself, without any derivation."""
    return {
        "alerts": store.query(
            "SELECT count() AS n FROM {db}.events "
            "WHERE decision = 'violation' AND length(reasons) > 0"
        )[0]["n"],
    }


def _heads(store: Store) -> dict[int, int]:
    rows = store.query("SELECT partition, max(seq) + 1 AS n FROM {db}.events GROUP BY partition")
    return {int(r["partition"]): int(r["n"]) for r in rows}


def test_the_deriver_collects_ranges_and_derives_when_due(store: Store) -> None:
    batches = _write(store)
    deriver = d.Deriver(store, every_events=10**9, every_s=3600)
    deriver.appended_rows(batches[0].events)
    assert deriver.pending == len(batches[0].events) and not deriver.due()
    assert deriver.flush()
    assert deriver.pending == 0 and deriver.derivations == 1
    for batch in batches[1:]:
        deriver.appended_rows(batch.events)
    due = d.Deriver(store, every_events=1, every_s=3600)
    due.appended(TOPIC, 0, 0, 0)
    assert due.due()  # by count
    deriver.forget([(TOPIC, 1)])  # partition 1 moved: its next owner derives it
    assert deriver.flush()
    assert d.catch_up(store, TOPIC, _heads(store)) == sum(
        1 for b in batches[1:] for row in b.events if row[1] == 1
    )
    counts = _counts(store)
    assert {k: counts[k] for k in ("alerts",)} == _expected(store)
    assert all(counts.values())
    ranges = store.query(
        "SELECT partition, from_seq, to_seq FROM {db}.derivations WHERE NOT filled "
        "ORDER BY partition, from_seq"
    )
    for p in (0, 1):  # contiguous ranges from 0 to the head: every row derived once
        mine = [(int(r["from_seq"]), int(r["to_seq"])) for r in ranges if r["partition"] == p]
        assert mine[0][0] == 0 and mine[-1][1] == _heads(store)[p] - 1
        assert all(a[1] + 1 == b[0] for a, b in zip(mine, mine[1:], strict=False))


def test_a_recorded_derivation_interrupted_by_a_crash_is_finished_at_assignment(
    store: Store,
) -> None:
    _write(store)
    heads = _heads(store)
    # the crash came after the derivation recorded its ranges, before it filled anything
    store.insert_rows(
        DERIVED_RANGES,
        [["derivation:crashed", TOPIC, p, 0, n - 1, False] for p, n in heads.items()],
    )
    assert _counts(store)["alerts"] == 0
    assert d.catch_up(store, TOPIC, heads) == 0  # nothing new: the recorded one is finished
    counts = _counts(store)
    assert {k: counts[k] for k in ("alerts",)} == _expected(store)
    d.catch_up(store, TOPIC, heads)  # and a second assignment adds nothing
    assert _counts(store) == counts


def test_a_failed_derivation_retried_after_its_partition_moved_adds_nothing_twice(
    store: Store,
) -> None:
    _write(store)
    heads = _heads(store)
    ranges = [d.Range(TOPIC, p, 0, n - 1) for p, n in heads.items()]
    # failed before it was recorded; the partitions' next owner caught up meanwhile
    assert d.catch_up(store, TOPIC, heads) == sum(heads.values())
    counts = _counts(store)
    d.derive(store, ranges, "derivation:failed")
    assert _counts(store) == counts


def test_a_failed_recorded_derivation_is_finished_once_by_whoever_comes_first(
    store: Store,
) -> None:
    _write(store)
    heads = _heads(store)
    ranges = [d.Range(TOPIC, p, 0, n - 1) for p, n in heads.items()]
    # recorded, then one table filled, then the store failed
    store.insert_rows(
        DERIVED_RANGES,
        [["derivation:partial", r.topic, r.partition, r.first, r.last, False] for r in ranges],
    )
    d._fill(store, ranges, "derivation:partial", tables=["alerts"])
    assert d.catch_up(store, TOPIC, heads) == 0  # the next owner finishes it
    counts = _counts(store)
    assert {k: counts[k] for k in ("alerts",)} == _expected(store)
    d.derive(store, ranges, "derivation:partial")  # and our retry adds nothing
    assert _counts(store) == counts


def test_a_filled_derivation_is_not_run_again_after_its_token_aged_out(store: Store) -> None:
    _write(store)
    heads = _heads(store)
    d.catch_up(store, TOPIC, heads)
    counts = _counts(store)
    # a table remembers the tokens of its last 1,000 inserts only: other logs' derivations
    # push this one's out (here, plain inserts of a row the comparison leaves aside)
    for i in range(1001):
        store.command(
            "INSERT INTO {db}.daily (day, kind, events) VALUES ('1970-01-02', 'filler', 1)",
            settings={"insert_deduplication_token": f"filler-{i}"},
        )
    d.catch_up(store, TOPIC, heads)  # a rebalance: the last derivation is not run again
    d.finish_all(store)  # nor by an erasure
    assert _counts(store) == counts


def test_ranges_derived_elsewhere_are_not_derived_again(store: Store) -> None:
    batches = _write(store)
    deriver = d.Deriver(store, every_events=10**9, every_s=3600)
    for batch in batches:
        deriver.appended_rows(batch.events)
    assert d.catch_up(store, TOPIC, _heads(store)) > 0  # the partitions' next owner
    counts = _counts(store)
    assert deriver.flush()  # this process's pending ranges (a lost partition, the CLI)
    assert _counts(store) == counts


def test_a_version_4_store_marks_its_derivations_filled(store: Store) -> None:
    _write(store)
    heads = _heads(store)
    d.catch_up(store, TOPIC, heads)
    # as version 4 left it: ranges recorded once, no 'filled' column
    store.command(
        "ALTER TABLE {db}.derivations DELETE WHERE filled", settings={"mutations_sync": 2}
    )
    store.command("ALTER TABLE {db}.derivations DROP COLUMN filled")
    store.command("DELETE FROM {db}.schema_migrations WHERE version = 5")
    counts = _counts(store)
    assert [m.version for m in migrate(store)] == [5]
    for i in range(1001):  # the derivation's tokens aged out
        store.command(
            "INSERT INTO {db}.daily (day, kind, events) VALUES ('1970-01-02', 'filler', 1)",
            settings={"insert_deduplication_token": f"filler-{i}"},
        )
    d.catch_up(store, TOPIC, heads)
    assert _counts(store) == counts
