"""Query latencies at scale: ``python -m bench.bench_queries [--events 1000000 10000000]``.

A store of N events is built once and kept (``.jejak/bench/chdb-q<N>``, one folder
per size, re-used by later runs and by ``bench.bench_startup``): one simulated
marketplace day is written through the real write path (chain, commitments,
materialized views), then copied inside ClickHouse until N rows: each copy
shifts the events by whole days and gives every subject a new pseudonym and
every event a new id, so days and partitions grow as they would; a subject
keeps its pseudonym for 30 copies (a month of activity, a few hundred events),
then the next cohort takes over. Each copy continues its partition's ``seq``
without a gap (a copy cut short takes a prefix of each partition), and the
head of every log is signed at the end (``checkpoints.sign_all``, with the
key the consumer of ``bench.bench_latency --startup`` uses), so a consumer
starting on the store reads its chain heads from checkpoints, as on a store
that has run for months. A store built before this (``seq`` in strides of
10^8, no checkpoints) is renumbered and signed in place.
The copies are then derived like any rows (``derive.catch_up_all``: alerts,
daily and disclosure aggregates), so every derived table holds what the
consumer would have written. Their chain columns are copies, so ``jejak verify`` is not run
on these stores; they exist to time reads and start-up (the copies' Kafka
offsets lie below zero, so that a fresh topic named ``bench`` continues the
stored chains).

Timed, wall clock, in this process (chDB embedded), after one warm-up call:

- ``subject_report`` for ``--subjects`` random subjects: p50 / p95 / max;
- ``disclosures`` (no filter, one recipient kind), ``totals`` (stats),
  ``alert_summary`` and the workspace's ``alert_counts``,
  ``recipients_over_time``, ``clauses_over_time``: median / min / max of
  ``--repeat`` calls each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jejak.lineage.store import Store, connect, migrate
from jejak.lineage.store import queries as q
from jejak.lineage.store import workspace as ws
from jejak.lineage.store.tables import EVENTS

ROOT = Path(os.environ.get("JEJAK_BENCH_DIR", ".jejak/bench"))
SEED_USERS = 2000

_STRIDE = 100_000_000
"""Copy ``c``'s offsets lie ``c`` strides below the seed's (and its ``seq`` did, before)."""

# how each copied column differs from its seed row (copy number c; a cohort of
# subjects stays for 30 copies)
_COPY = {
    "subject_id": "if(subject_id = '', '', concat('ps1_', lower(hex(substring("
    "SHA256(concat(subject_id, toString(intDiv(c, 30)))), 1, 16)))))",
    "event_id": "concat(event_id, '.', toString(c))",
    "occurred_at": "occurred_at + toIntervalDay(c)",
    # below the seed's offsets: a fresh Kafka topic (offsets from 0) continues these chains
    # (bench_startup), as the consumer skips what its chain head says is stored
    "offset": f"offset - c * {_STRIDE}",
    "trace_id": "if(trace_id = '', '', concat(trace_id, '.', toString(c)))",
}


def database_for(events: int) -> str:
    return f"q{events // 1000}k" if events % 1_000_000 else f"q{events // 1_000_000}m"


def seed(store: Store) -> int:
    """One simulated day through the real write path; returns its event count."""
    from bench.bench_store import chained_batches, judged_events
    from jejak.lineage.store.writer import write_batch

    events = judged_events(SEED_USERS)
    for batch in chained_batches(events, 5000):
        write_batch(store, batch)
    return len(events)


def build(store: Store, events: int, log: Callable[[str], None] = print) -> None:
    """Grow ``store`` to ``events`` rows (idempotent: a store of that size is kept)."""
    if migrate(store) and count(store):  # a stored layout gained something: wait for it
        store.command("SYSTEM WAIT LOADING PARTS {db}.events")
        settle(store)
    have = count(store)
    if have >= events:
        renumber(store, log)
        sign(store, log)
        return
    t0 = time.perf_counter()
    if have == 0:
        seed(store)
        have = count(store)
        log(f"  seed: {have:,} events written through the write path")
    store.command(
        "CREATE TABLE IF NOT EXISTS {db}.bench_seed ENGINE = MergeTree ORDER BY tuple() "
        "AS SELECT * FROM {db}.events WHERE NOT position(event_id, '.')"
    )
    sizes = seed_sizes(store)
    size = sum(sizes.values())
    names = [c.name for c in EVENTS.written]
    copy = {**_COPY, "seq": f"seq + c * {_per_partition(sizes)}"}
    select = ", ".join(f"{copy[n]} AS `{n}`" if n in copy else f"`{n}`" for n in names)
    cols = ", ".join(f"`{n}`" for n in names)
    c = int(store.query("SELECT count() AS n FROM {db}.events")[0]["n"]) // size
    while have < events:
        take = min(size, events - have)
        # a copy cut short takes a prefix of each partition: its chain has no gap
        prefix = _per_partition(_prefixes(sizes, take))
        store.command(  # declared column names and integers only
            f"INSERT INTO {{db}}.events ({cols}) SELECT {select} FROM "  # noqa: S608
            f"(SELECT *, {c} AS c FROM {{db}}.bench_seed WHERE seq < {prefix})",
            settings={"max_insert_threads": 2},
        )
        have += take
        c += 1
        if c % 5 == 0:
            log(f"  {have:,} events ({time.perf_counter() - t0:.0f} s)")
    head_offsets(store)
    from jejak.lineage.store.derive import catch_up_all

    log(f"  derived {catch_up_all(store):,} copied rows (consents, alerts, aggregates)")
    settle(store)
    sign(store, log)
    log(f"  built {have:,} events in {time.perf_counter() - t0:.0f} s")


def seed_sizes(store: Store) -> dict[int, int]:
    """Rows of each partition in the seed day."""
    rows = store.query("SELECT partition, count() AS n FROM {db}.bench_seed GROUP BY partition")
    return {int(r["partition"]): int(r["n"]) for r in rows}


def _per_partition(values: dict[int, int]) -> str:
    ps = ", ".join(str(p) for p in values)
    vs = ", ".join(str(v) for v in values.values())
    return f"transform(partition, [{ps}], CAST([{vs}] AS Array(UInt64)), toUInt64(0))"


def _prefixes(sizes: dict[int, int], take: int) -> dict[int, int]:
    """How many rows of each partition's seed make ``take`` rows, in proportion."""
    total = sum(sizes.values())
    out = {p: n * take // total for p, n in sizes.items()}
    for p in list(sizes)[: take - sum(out.values())]:
        out[p] += 1
    return out


def renumber(store: Store, log: Callable[[str], None] = print) -> None:
    """Close the gaps of a store built with ``seq`` in strides (before checkpoints were signed).

    Copy ``c`` of the seed held ``seq + c * 10^8``; it becomes ``seq + c * n``
    (``n``: the partition's rows in the seed), and the rows of the last copy
    (cut short, plus what start-up runs appended) are numbered on by rank.
    Order within each partition is kept, so the head rows stay the heads.
    """
    top = int(store.query("SELECT max(seq) AS s FROM {db}.events")[0]["s"])
    if top < _STRIDE:
        return
    t0 = time.perf_counter()
    sizes = seed_sizes(store)
    last = top // _STRIDE
    per = _per_partition(sizes)
    sync = {"mutations_sync": 2}
    store.command(  # integers only
        f"ALTER TABLE {{db}}.events UPDATE seq = seq % {_STRIDE} + intDiv(seq, {_STRIDE}) * "
        f"{per} WHERE seq >= {_STRIDE} AND seq < {last * _STRIDE}",
        settings=sync,
    )
    parts, seqs = store.query_columns(
        f"SELECT partition, seq FROM {{db}}.events WHERE seq >= {last * _STRIDE} "  # noqa: S608
        "ORDER BY partition, seq",
        width=2,
    )
    olds: dict[int, list[int]] = {}
    for p, seq in zip(parts, seqs, strict=True):
        olds.setdefault(int(p), []).append(int(seq))
    for p, old in olds.items():
        new = [last * sizes[p] + i for i in range(len(old))]
        store.command(  # integers only
            f"ALTER TABLE {{db}}.events UPDATE seq = transform(seq, "
            f"CAST({old} AS Array(UInt64)), CAST({new} AS Array(UInt64)), seq) "
            f"WHERE partition = {p} AND seq >= {last * _STRIDE}",
            settings=sync,
        )
    log(f"  renumbered the copies' seq without gaps in {time.perf_counter() - t0:.0f} s")


def sign(store: Store, log: Callable[[str], None] = print) -> int:
    """Sign the head of every log, with the key a consumer of this store finds (idempotent)."""
    from jejak.lineage.store.checkpoints import open_checkpointer, sign_all
    from jejak.settings import Settings, StoreSettings

    t0 = time.perf_counter()
    settings = Settings(store=StoreSettings(dsn=dsn_for(store.database), database=store.database))  # type: ignore[arg-type]
    signed = sign_all(store, open_checkpointer(settings, store))
    if signed:
        log(f"  signed {signed} checkpoint(s) in {time.perf_counter() - t0:.0f} s")
    return signed


def head_offsets(store: Store) -> None:
    """The last row of each stored chain at Kafka offset -1: a fresh topic continues it.

    The consumer resumes a partition after its chain head's offset; the copies'
    offsets are made up, so the heads are set where a new topic begins.
    """
    store.command(
        "ALTER TABLE {db}.events UPDATE offset = -1 WHERE topic = 'bench' AND "
        "(partition, seq) IN (SELECT partition, max(seq) FROM {db}.events "
        "WHERE topic = 'bench' GROUP BY partition)",
        settings={"mutations_sync": 2},
    )


def settle(store: Store) -> None:
    """Merge the copies' parts, as a store that has run for months would have them.

    Hundreds of fresh inserts leave a backlog of merges that would run during
    the measurement (in this process: chDB merges in its own threads); a
    long-lived store's past months are merged into a few parts each.
    """
    for table in ("events", "alerts", "daily", "recipients"):
        store.command(f"OPTIMIZE TABLE {{db}}.{table} FINAL", settings={"mutations_sync": 2})


def count(store: Store) -> int:
    return int(store.query("SELECT count() AS n FROM {db}.events")[0]["n"])


def dsn_for(database: str) -> str:
    return f"chdb://{ROOT.resolve()}/chdb-{database}"


def open_store(events: int) -> Store:
    ROOT.mkdir(parents=True, exist_ok=True)
    db = database_for(events)
    return connect(dsn_for(db), db)


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def measure(store: Store, *, subjects: int, repeat: int, seed_: int = 7) -> dict[str, list[float]]:
    """Milliseconds per call of each question (lists of samples)."""
    ids = [
        r["subject_id"]
        for r in store.query(
            "SELECT subject_id FROM {db}.events WHERE subject_id != '' "
            "GROUP BY subject_id ORDER BY cityHash64(subject_id, {s:UInt32}) LIMIT {n:UInt32}",
            {"s": seed_, "n": subjects},
        )
    ]
    questions: dict[str, Callable[[], Any]] = {
        "disclosures": lambda: q.disclosures(store),
        "disclosures (one recipient kind)": lambda: q.disclosures(
            store, recipient_kind="payment_processor"
        ),
        "totals (stats)": lambda: q.totals(store),
        "alert_summary": lambda: q.alert_summary(store),
        "alert_counts (workspace)": lambda: ws.alert_counts(store),
        "recipients_over_time": lambda: ws.recipients_over_time(store),
        "clauses_over_time": lambda: ws.clauses_over_time(store),
    }
    out: dict[str, list[float]] = {name: [] for name in questions}
    out["subject_report"] = []
    q.subject_report(store, ids[0])
    for fn in questions.values():
        fn()
    rng = random.Random(seed_)
    for _ in range(repeat):  # interleaved: each question once per round
        names = list(questions)
        rng.shuffle(names)
        for name in names:
            out[name].append(_timed(questions[name]))
    for sid in ids:
        out["subject_report"].append(_timed(lambda s=sid: q.subject_report(store, s)))
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    result = {}
    for name, values in samples.items():
        result[name] = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "p95": pct(values, 95),
            "n": len(values),
        }
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    if len(args.events) > 1:  # chDB opens one data folder per process: one process per size
        for n in args.events:
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                subprocess.run(
                    [sys.executable, "-m", "bench.bench_queries", "--events", str(n)]
                    + ["--subjects", str(args.subjects), "--repeat", str(args.repeat)]
                    + ["--json", out.name],
                    check=True,
                )
                results.update(json.loads(Path(out.name).read_text()))
    else:
        n = args.events[0]
        store = open_store(n)
        print(f"store of {n:,} events ({store.database}):", flush=True)
        build(store, n)
        figures = summary(measure(store, subjects=args.subjects, repeat=args.repeat))
        results[str(n)] = figures
        for name, f in figures.items():
            extra = f" p95 {f['p95']:.1f}" if name == "subject_report" else ""
            print(
                f"  {name:<34} median {f['median']:7.1f} ms (min {f['min']:.1f}, "
                f"max {f['max']:.1f}){extra}  n={f['n']}",
                flush=True,
            )
        store.close()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
