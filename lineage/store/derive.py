"""The derived tables, filled inside ClickHouse from the event log, many batches at a time.

The alerts, the daily aggregate and the disclosure aggregate
(:data:`~jejak.lineage.store.tables.DERIVATIONS`) are not written
by Python row by row and not maintained by materialized views: after rows
are appended to the event log, a **derivation** has ClickHouse compute each
derived table's rows from exactly those rows (a range of ``seq`` per log) and
inserts them, one read and one insert per table. One derivation covers many
batches — every ``every_events`` events, every ``every_s`` seconds, and
whenever the stream goes quiet, a partition is revoked or the consumer stops
— so the write path pays a pipeline and a part per derived table once per
tens of thousands of events instead of once per insert (see
bench/RESULTS.md: the event log's insert went from 0.38 to about 0.73 of the
same rows into one plain table).

Each log row is derived exactly once, crash or not:

1. a derivation takes only rows above each log's watermark (the highest
   recorded ``to_seq``: another process may have derived some), and records
   its ranges in ``derivations`` under a fresh id;
2. fills each derived table with the deduplication token ``<id>/<table>``;
3. records the ranges again, ``filled``.

Only a derivation recorded and never filled is run again; its tokens drop what
a step before the interruption added. (A filled one is never repeated: a table
remembers the tokens of its last 1,000 inserts only.)

When a partition is assigned (:func:`catch_up`), the last recorded derivation
of each of its logs is run again (finishing one a crash interrupted; a no-op
otherwise), then the rows appended after the last recorded range are derived.
A derivation that fails is retried with the same id and ranges before any new
one starts.

Derived tables lag the log by at most one derivation interval while a
consumer runs; :func:`catch_up_all` (``jejak store derive``) brings every log
up to date without a consumer.

An erasure (:mod:`jejak.lineage.store.erasure`) replaces a subject's rows by
redacted copies. It holds :func:`exclusive` (so no derivation runs meanwhile), finishes the recorded derivations, and re-derives only the copies
whose rows were already derived (:func:`derive_erased`); copies of rows not yet
derived are derived later like any row, in place of the originals. So every
aggregate keeps counting each log row once.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jejak.errors import StoreError
from jejak.lineage.store.client import Store
from jejak.lineage.store.tables import DERIVATIONS, DERIVED, DERIVED_RANGES, EVENTS

_TARGETS = {t.name: t for t in DERIVED}

_TOPIC, _PARTITION, _SEQ = (EVENTS.written_names.index(c) for c in ("topic", "partition", "seq"))

log = logging.getLogger(__name__)

LOCK = threading.RLock()
"""One derivation (or erasure) at a time in this process: the consumer's thread and the API's
threads share a store (see :func:`exclusive`, which also covers processes)."""

_held = 0  # how deeply this process holds the folder's lock (changed only under LOCK)


@contextmanager
def exclusive(store: Store) -> Iterator[None]:
    """One derivation or erasure at a time per store.

    Threads of this process take :data:`LOCK`; on embedded chDB the processes
    sharing its folder (``jejak consume --workers``) also take a lock file beside
    it, so an erasure in the holder never interleaves with a worker's derivation
    (which could otherwise insert derived rows of an erased subject after the
    erasure removed them). Consumers in several processes against a ClickHouse
    server have no such lock: see docs/store.md.
    """
    global _held
    with LOCK:
        handle = None
        if _held == 0 and store.folder:
            folder = Path(store.folder)
            path = folder.parent / f".{folder.name}.{store.database}.derive.lock"
            handle = path.open("a+b")
            fcntl.flock(handle, fcntl.LOCK_EX)
        _held += 1
        try:
            yield
        finally:
            _held -= 1
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()


_SUBJECT_TABLES = ("alerts", "recipients")

ERASED_MARK = "erased:"
"""The subject id of an erasure's redacted copies begins so (erasure.ERASED_PREFIX)."""
"""The derived tables that name a subject (an erasure re-derives these, not the counts)."""


_CHUNK = 200_000
"""At most this many log rows per derivation when catching up (their derived rows pass
through this process)."""


@dataclass(frozen=True)
class Range:
    """Rows ``first`` … ``last`` (``seq``, inclusive) of the log of one Kafka partition."""

    topic: str
    partition: int
    first: int
    last: int


def _rows(ranges: Sequence[Range], params: dict[str, Any], extra: str = "") -> str:
    """The event-log rows of ``ranges`` as a subquery (topics as parameters, numbers inline)."""
    topics: dict[str, str] = {}
    terms = []
    for r in ranges:
        name = topics.setdefault(r.topic, f"t{len(topics)}")
        params[name] = r.topic
        terms.append(
            f"(topic = {{{name}:String}} AND partition = {int(r.partition)} "
            f"AND seq BETWEEN {int(r.first)} AND {int(r.last)})"
        )
    return f"(SELECT * FROM {{db}}.events WHERE ({' OR '.join(terms)}){extra})"


def _fill(
    store: Store,
    ranges: Sequence[Range],
    token: str,
    *,
    tables: Iterable[str] | None = None,
    extra: str = "",
    params: dict[str, Any] | None = None,
) -> None:
    """Fill the derived tables from these rows: one read and one insert per table.

    The rows are read (sorted by the table's key) and inserted with the
    deduplication token ``<token>/<table>``: a plain insert's token is honoured
    whatever else changed, so a derivation run again adds nothing it added
    before. (ClickHouse's ``INSERT … SELECT`` ties its tokens to the parts it
    read, so a repeat after a merge would not be dropped.)
    """
    wanted = set(tables) if tables is not None else None
    for derivation in DERIVATIONS:
        if wanted is not None and derivation.target not in wanted:
            continue
        table = _TARGETS[derivation.target]
        p = dict(params or {})
        select = derivation.select.replace("{rows}", _rows(ranges, p, extra))
        names = ", ".join(f"`{n}`" for n in table.written_names)
        columns = store.query_columns(
            f"SELECT {names} FROM ({select}) ORDER BY {derivation.order_by}",
            p,
            width=len(table.written_names),
        )
        store.insert_columns(table, columns, dedup_token=f"{token}/{derivation.target}")


def derive(store: Store, ranges: Sequence[Range], derivation_id: str | None = None) -> str:
    """Record ``ranges``, fill every derived table from their rows, mark it filled.

    Only rows above each log's watermark are taken (another process, or a
    partition's next owner, may have derived some already). Called again with
    the id of a recorded derivation (a retry), it finishes that one instead.
    Returns the id.
    """
    if derivation_id is None:
        derivation_id = _new_id()
    elif ranges:
        with exclusive(store):
            if _ranges_of(store, [derivation_id]):
                _finish(store, [derivation_id])
                return derivation_id
    _derive_new(store, ranges, derivation_id)
    return derivation_id


def _new_id() -> str:
    return f"derivation:{uuid.uuid4().hex}"


def _derive_new(store: Store, ranges: Sequence[Range], derivation_id: str) -> None:
    """:func:`derive` for an id not recorded yet (no look-up of it)."""
    if not ranges:
        return
    with exclusive(store):
        done = watermarks(store)
        fresh = []
        for r in ranges:
            first = max(r.first, done.get((r.topic, r.partition), -1) + 1)
            if first <= r.last:
                fresh.append(Range(r.topic, r.partition, first, r.last))
        if fresh:
            _record(store, derivation_id, fresh, filled=False)
            _fill(store, fresh, derivation_id)
            _record(store, derivation_id, fresh, filled=True)


def _record(store: Store, derivation_id: str, ranges: Sequence[Range], *, filled: bool) -> None:
    store.insert_rows(
        DERIVED_RANGES,
        [[derivation_id, r.topic, r.partition, r.first, r.last, filled] for r in ranges],
        dedup_token=f"{derivation_id}/{'filled' if filled else 'recorded'}",
    )


def derive_rows(
    store: Store, rows: Sequence[Sequence[Any]], derivation_id: str | None = None
) -> str:
    """Derive the rows of one write (event-log rows in the written column order)."""
    return derive(store, ranges_of_rows(rows), derivation_id)


def ranges_of_rows(rows: Sequence[Sequence[Any]]) -> list[Range]:
    """The seq range of each log among event-log rows (in the written column order)."""
    spans: dict[tuple[str, int], list[int]] = {}
    for row in rows:
        seq = int(row[_SEQ])
        span = spans.setdefault((row[_TOPIC], int(row[_PARTITION])), [seq, seq])
        span[0], span[1] = min(span[0], seq), max(span[1], seq)
    return [Range(t, p, a, b) for (t, p), (a, b) in sorted(spans.items())]


def _recorded(store: Store, where: str, params: dict[str, Any]) -> dict[tuple[str, int], str]:
    """The last recorded derivation of each log matching ``where``: (topic, partition) -> id."""
    rows = store.query(
        "SELECT topic, partition, argMax(derivation_id, to_seq) AS last "
        f"FROM {{db}}.derivations WHERE {where} GROUP BY topic, partition",
        params,
    )
    return {(r["topic"], int(r["partition"])): r["last"] for r in rows}


def _ranges_of(store: Store, ids: Iterable[str]) -> dict[str, tuple[list[Range], bool]]:
    """The recorded ranges of these derivations, and whether each was filled."""
    rows = store.query(
        "SELECT derivation_id, topic, partition, from_seq, to_seq, filled "
        "FROM {db}.derivations WHERE derivation_id IN {ids:Array(String)}",
        {"ids": sorted(set(ids))},
    )
    out: dict[str, tuple[list[Range], bool]] = {}
    for r in rows:
        ranges, filled = out.get(r["derivation_id"], ([], False))
        if r["filled"]:
            filled = True
        else:
            ranges.append(
                Range(r["topic"], int(r["partition"]), int(r["from_seq"]), int(r["to_seq"]))
            )
        out[r["derivation_id"]] = (ranges, filled)
    return out


def _finish(store: Store, ids: Iterable[str]) -> None:
    """Fill the recorded derivations a crash or an error left unfilled (their tokens drop what
    a step before the interruption added); filled ones are not run again."""
    for derivation_id, (ranges, filled) in sorted(_ranges_of(store, ids).items()):
        if not filled and ranges:
            _fill(store, ranges, derivation_id)
            _record(store, derivation_id, ranges, filled=True)


def watermarks(store: Store) -> dict[tuple[str, int], int]:
    """The last derived ``seq`` of every log that has derived rows."""
    rows = store.query(
        "SELECT topic, partition, max(to_seq) AS last FROM {db}.derivations "
        "GROUP BY topic, partition"
    )
    return {(r["topic"], int(r["partition"])): int(r["last"]) for r in rows}


def catch_up(store: Store, topic: str, next_seqs: Mapping[int, int]) -> int:
    """Bring the derived rows of these logs up to their heads (``next_seq`` per partition).

    Run when partitions are assigned, before their rows are read back as state.
    Returns the number of log rows derived now.
    """
    if not next_seqs:
        return 0
    with exclusive(store):
        last = _recorded(
            store,
            "topic = {t:String} AND partition IN {ps:Array(Int32)}",
            {"t": topic, "ps": sorted(next_seqs)},
        )
        _finish(store, last.values())
        done = {p: w for (t, p), w in watermarks(store).items() if t == topic}
        ranges = [
            Range(topic, p, done.get(p, -1) + 1, n - 1)
            for p, n in sorted(next_seqs.items())
            if n - 1 > done.get(p, -1)
        ]
        for chunk in _chunks(ranges, _CHUNK):
            derive(store, chunk)
    return sum(r.last - r.first + 1 for r in ranges)


def _chunks(ranges: Sequence[Range], size: int) -> Iterator[list[Range]]:
    """The ranges cut into derivations of at most ``size`` rows each."""
    chunk: list[Range] = []
    room = size
    for r in ranges:
        first = r.first
        while first <= r.last:
            last = min(r.last, first + room - 1)
            chunk.append(Range(r.topic, r.partition, first, last))
            room -= last - first + 1
            first = last + 1
            if room == 0:
                yield chunk
                chunk, room = [], size
    if chunk:
        yield chunk


def catch_up_all(store: Store) -> int:
    """Derive every log's rows not derived yet (``jejak store derive``, migrations)."""
    heads = store.query(
        "SELECT topic, partition, max(seq) + 1 AS next FROM {db}.events GROUP BY topic, partition"
    )
    by_topic: dict[str, dict[int, int]] = {}
    for h in heads:
        by_topic.setdefault(h["topic"], {})[int(h["partition"])] = int(h["next"])
    return sum(catch_up(store, topic, seqs) for topic, seqs in sorted(by_topic.items()))


def finish_all(store: Store) -> dict[tuple[str, int], int]:
    """Complete every log's last recorded derivation; returns the watermarks."""
    with exclusive(store):
        _finish(store, _recorded(store, "1", {}).values())
        return watermarks(store)


def derive_erased(store: Store, erasure_id: str, done: Mapping[tuple[str, int], int]) -> None:
    """Derive again the subject-naming rows of every erasure's redacted copies already derived.

    Run by an erasure after it removed the subject's rows (under :func:`exclusive`;
    ``done`` are the watermarks read before its copies were written). The rows of
    all erased copies are replaced, not only this erasure's: an earlier erasure
    that was interrupted after writing its copies is healed by the next one.
    Copies above the watermarks are derived later with their log.
    """
    ranges = [Range(t, p, 0, last) for (t, p), last in sorted(done.items())]
    store.command(
        f"ALTER TABLE {{db}}.alerts DELETE WHERE origin = 'event' "
        f"AND startsWith(subject_id, '{ERASED_MARK}')",
        settings={"mutations_sync": 2},
    )
    store.command(
        f"ALTER TABLE {{db}}.recipients DELETE WHERE startsWith(subject_id, '{ERASED_MARK}')",
        settings={"mutations_sync": 2},
    )
    if ranges:
        _fill(store, ranges, erasure_id, tables=_SUBJECT_TABLES, extra=" AND erasure_ref != ''")


class Deriver:
    """The consumer's side: collects appended ranges, derives them when due.

    Due after ``every_events`` appended rows, or ``every_s`` seconds after the
    first of them, or whenever the caller says the stream is quiet.
    """

    def __init__(self, store: Store, *, every_events: int = 100_000, every_s: float = 10.0) -> None:
        self.store = store
        self.every_events = every_events
        self.every_s = every_s
        self._pending: dict[tuple[str, int], list[int]] = {}
        self._since: float | None = None
        self._failed: tuple[str, list[Range]] | None = None
        self.derivations = 0
        self.rows = 0

    def appended(self, topic: str, partition: int, first: int, last: int) -> None:
        if last < first:
            return
        span = self._pending.get((topic, partition))
        if span is None:
            self._pending[(topic, partition)] = [first, last]
        else:
            span[0], span[1] = min(span[0], first), max(span[1], last)
        if self._since is None:
            self._since = time.monotonic()

    def appended_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """:meth:`appended` for event-log rows in the written column order."""
        for r in ranges_of_rows(rows):
            self.appended(r.topic, r.partition, r.first, r.last)

    @property
    def pending(self) -> int:
        """Rows appended and not derived yet."""
        return sum(last - first + 1 for first, last in self._pending.values())

    def due(self) -> bool:
        if self._since is None:
            return False
        return self.pending >= self.every_events or time.monotonic() - self._since >= self.every_s

    def flush(self, only: Iterable[tuple[str, int]] | None = None) -> bool:
        """Derive what is pending (of the logs ``only``, if given); False if the store failed.

        On failure nothing is lost: the rows are in the log, the same derivation
        is tried again first next time, and :func:`catch_up` covers a crash.
        """
        try:
            if self._failed is not None:  # the same id: finished if recorded, else clipped
                derive(self.store, self._failed[1], self._failed[0])
                self._failed = None
            keys = list(self._pending) if only is None else [k for k in only if k in self._pending]
            ranges = [Range(t, p, *self._pending.pop((t, p))) for t, p in keys]
            if not self._pending:
                self._since = None
            if not ranges:
                return True
            self._failed = (_new_id(), ranges)
            _derive_new(self.store, ranges, self._failed[0])
            self._failed = None
            self.derivations += 1
            self.rows += sum(r.last - r.first + 1 for r in ranges)
            return True
        except StoreError:
            log.warning("deriving the alerts and aggregates failed; will retry")
            return False

    def forget(self, keys: Iterable[tuple[str, int]]) -> None:
        """Drop pending ranges of logs this process no longer owns (their next owner derives)."""
        for key in keys:
            self._pending.pop(key, None)
        if not self._pending:
            self._since = None
