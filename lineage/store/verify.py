"""``jejak verify``: recompute every chain and checkpoint, and name what does not add up.

For every chained log (each partition of the events topic, and the journal)
the store is read in ``seq`` order. ClickHouse recomputes each row's leaf hash
from its columns (:func:`~jejak.lineage.store.canonical.leaf_hash_sql`),
checks the row's link ``row_hash = SHA-256(prev_hash || leaf)`` and its
subject commitment; Python follows the links from row to row, rebuilds the
RFC 9162 tree and compares its root with every checkpoint, as stored and as
exported outside the database, after checking each checkpoint's signature
with the store's public key.

What is found, and how it shows:

=====================  =============================================================
``edited_row``         a chained column changed: the row no longer hashes to its row_hash
``subject_changed``    a subject, trace or legal-request field changed (commitment broken)
``broken_link``        a row's prev_hash is not the row_hash of the row before it
``deleted_rows``       a gap in ``seq``
``conflicting_rows``   two different rows claim one place in the chain (a forged insert)
``duplicate_event``    one event id in two places of the log
``reordered_rows``     Kafka offsets that go backwards along the chain
``truncated_tail``     fewer rows than a checkpoint signed
``log_dropped``        checkpoints of a log whose rows are all gone
``unsigned_rows``      rows after the last checkpoint (stop the consumer, or wait for it)
``checkpoint_mismatch``  the rows give another root than a checkpoint signed
``forged_signature``   a checkpoint whose signature does not verify with the public key
``replaced_checkpoint``  the store's copy of a checkpoint differs from the exported file
``checkpoint_removed`` an exported checkpoint missing from the store
``erasure_incomplete`` an original row beside its redacted copy (re-run ``jejak erase``)
``unknown_erasure``    a redacted row that names no erasure of the journal
=====================  =============================================================

Lawful erasures (rows redacted by ``jejak erase``, each naming its erasure
record in the journal) are listed, not reported as findings.
"""

from __future__ import annotations

import json
import operator
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jejak.errors import TrustError
from jejak.lineage.store.canonical import GENESIS, commitment_sql
from jejak.lineage.store.chain import JOURNAL_LOG, events_log
from jejak.lineage.store.checkpoints import exported
from jejak.lineage.store.client import Store
from jejak.lineage.store.tables import EVENTS, JOURNAL, Table
from jejak.lineage.trust.checkpoint import Checkpoint, open_checkpoint
from jejak.lineage.trust.merkle import CompactRange
from jejak.lineage.trust.note import Verifier


@dataclass(frozen=True)
class Finding:
    kind: str
    log: str
    detail: str
    event_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "log": self.log,
            "detail": self.detail,
            "event_ids": list(self.event_ids),
        }


@dataclass
class LogSummary:
    log: str
    rows: int = 0
    signed_size: int = 0
    checkpoints: int = 0
    erased_rows: int = 0


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    logs: dict[str, LogSummary] = field(default_factory=dict)
    erasures: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "findings": [f.to_dict() for f in self.findings],
            "logs": [vars(s) for s in sorted(self.logs.values(), key=lambda s: s.log)],
            "erasures": self.erasures,
            "notes": self.notes,
        }


def _select(table: Table) -> str:
    """The per-row checks, computed by ClickHouse; Python follows the links."""
    leaf = f"SHA256(concat(char(0), {_canonical(table)}))"
    log_key = "topic, partition" if table is EVENTS else "'' AS topic, toInt32(-1) AS partition"
    ident = "event_id" if table is EVENTS else "record_id"
    offset = "offset" if table is EVENTS else "toInt64(seq) AS offset"
    return (
        f"SELECT {log_key}, seq, {offset}, {ident} AS id, {leaf} AS leaf, "
        "SHA256(concat(prev_hash, leaf)) = row_hash AS row_ok, "
        f"prev_hash, row_hash, erasure_ref, "
        f"(erasure_ref != '' OR subject_commitment = {commitment_sql(table)}) AS commit_ok, "
        f"(erasure_ref = '' OR (empty(subject_salt) AND startsWith(subject_id, 'erased:'))) "
        f"AS redaction_ok "
        f"FROM {{db}}.{table.name} WHERE seq + 1 >= "
        f"transform({_log_sql(table)}, {{logs:Array(String)}}, {{starts:Array(UInt64)}}, "
        "toUInt64(0))"
    )


def _log_sql(table: Table) -> str:
    """A row's log name, as :func:`~jejak.lineage.store.chain.events_log` writes it."""
    if table is EVENTS:
        return "concat('events/', topic, '/', toString(partition))"
    return f"'{JOURNAL_LOG}'"


_FIELDS = (
    "seq",
    "offset",
    "id",
    "leaf",
    "row_ok",
    "prev_hash",
    "row_hash",
    "erasure_ref",
    "commit_ok",
    "redaction_ok",
)


def _grouped(table: Table) -> str:
    arrays = ", ".join(f"groupArray({f})" for f in _FIELDS)
    return (
        f"SELECT topic, partition, {arrays} FROM ({_select(table)}) "
        "GROUP BY topic, partition ORDER BY topic, partition"
    )


def _canonical(table: Table) -> str:
    from jejak.lineage.store.canonical import canonical_sql

    return canonical_sql(table)


@dataclass
class _Signed:
    """Everything known about the checkpoints of one log."""

    stored: dict[int, str] = field(default_factory=dict)
    files: dict[int, str] = field(default_factory=dict)
    valid: dict[int, Checkpoint] = field(default_factory=dict)
    frontier: dict[int, tuple[list[str], datetime]] = field(default_factory=dict)


class _Verifier:
    def __init__(
        self,
        store: Store,
        verifier: Verifier | None,
        export_dir: Path | None,
        store_name: str | None,
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.export_dir = export_dir
        self.store_name = store_name or (verifier.name if verifier else None)
        self.report = Report()
        self.signed: dict[str, _Signed] = {}
        self.starts: dict[str, int] = {}
        self.trees: dict[str, CompactRange] = {}
        self.erasure_ids: set[str] = set()

    def find(self, kind: str, log: str, detail: str, *ids: str) -> None:
        self.report.findings.append(Finding(kind, log, detail, tuple(i for i in ids if i)))

    # -- checkpoints -------------------------------------------------------------------------
    def load_checkpoints(self) -> None:
        for r in self.store.query(
            "SELECT log, tree_size, note, frontier, created_at FROM {db}.checkpoints"
        ):
            signed = self.signed.setdefault(r["log"], _Signed())
            signed.stored[int(r["tree_size"])] = r["note"]
            signed.frontier[int(r["tree_size"])] = (r["frontier"], r["created_at"])
        if self.export_dir is not None:
            if not self.export_dir.is_dir():
                self.report.notes.append(
                    f"no exported checkpoints at {self.export_dir}: only the store's copies "
                    "were checked"
                )
            for log, notes in exported(self.export_dir).items():
                self.signed.setdefault(log, _Signed()).files.update(notes)
        for log, signed in self.signed.items():
            for size in sorted(set(signed.stored) | set(signed.files)):
                stored, filed = signed.stored.get(size), signed.files.get(size)
                if self.export_dir is not None and self.export_dir.is_dir():
                    if filed is None:
                        self.find(
                            "unexported_checkpoint",
                            log,
                            f"the store holds a checkpoint of size {size} that was never exported",
                        )
                    elif stored is None:
                        self.find(
                            "checkpoint_removed",
                            log,
                            f"the exported checkpoint of size {size} is missing from the store",
                        )
                    elif stored != filed:
                        self.find(
                            "replaced_checkpoint",
                            log,
                            f"the store's checkpoint of size {size} differs from the exported file",
                        )
                note = filed if filed is not None else stored
                assert note is not None
                self._open(log, size, note, signed)
                if stored is not None and filed is not None and stored != filed:
                    self._open(log, size, stored, signed, quiet=True)

    def _open(self, log: str, size: int, note: str, signed: _Signed, quiet: bool = False) -> None:
        if self.verifier is None:
            return
        try:
            cp = open_checkpoint(note, self.verifier)
        except TrustError as exc:
            self.find("forged_signature", log, f"checkpoint of size {size}: {exc}")
            return
        expected = f"{self.store_name}/{log}" if self.store_name else None
        if cp.size != size or (expected is not None and cp.origin != expected):
            self.find(
                "forged_signature",
                log,
                f"checkpoint of size {size} signs {cp.origin!r} at size {cp.size}",
            )
            return
        if not quiet:
            signed.valid[size] = cp

    # -- the rows ----------------------------------------------------------------------------
    def check_table(self, table: Table) -> None:
        """Every log of ``table``: ClickHouse hashes and groups the rows by log, Python links them.

        No ``ORDER BY``: sorting the wide rows inside ClickHouse cost more
        than all the hashing. The rows come back as one set of arrays per log
        and are put in ``seq`` order here. Memory: about 250 bytes per row of
        the largest log.
        """
        logs = sorted(self.starts)
        params = {"logs": logs, "starts": [self.starts[k] for k in logs]}
        for block in self.store.stream_columns(_grouped(table), params):
            for topic, partition, *arrays in zip(*block, strict=True):
                name = events_log(topic, int(partition)) if table is EVENTS else JOURNAL_LOG
                state = _LogWalk(name, self.signed.get(name, _Signed()))
                n = len(arrays[0])
                columns: list[list[Any]] = [[topic] * n, [partition] * n]
                columns += [list(a) for a in arrays]
                seqs = columns[2]
                if any(map(operator.gt, seqs, seqs[1:])):
                    order = sorted(range(n), key=seqs.__getitem__)
                    columns = [[c[i] for i in order] for c in columns]
                start = self.starts.get(name, 0)
                if start and columns[2] and columns[2][0] == start - 1:
                    # the row before the start: what the first row read must link to
                    state.tree, state.next_seq = self.trees[name], start
                    state.prev_hash, state.last_offset = columns[8][0], columns[3][0]
                    state.summary.signed_size = start
                    columns = [c[1:] for c in columns]
                if not self._clean_run(state, columns, check_offsets=table is EVENTS):
                    for row in zip(*columns, strict=True):
                        self._row(state, row)
                self._finish(state)

    def _clean_run(self, s: _LogWalk, columns: list[Any], *, check_offsets: bool) -> bool:
        """A run of rows of one log that is exactly as written: checked a column at a time.

        Every row hashes to its row_hash, commits to its subject, is not
        redacted, follows the one before it in ``seq`` and offset, and links to
        it. Anything else (False) is looked at row by row by :meth:`_row`,
        which names what it finds.
        """
        _, _, seqs, offsets, ids, leaves, row_ok, prevs, hashes, erasures, commit_ok, _ = columns
        n = len(seqs)
        if n == 0:
            return True  # nothing after the starting checkpoint
        if not (all(row_ok) and all(commit_ok)) or any(erasures) or s.tree_broken:
            return False
        if list(seqs) != list(range(s.next_seq, s.next_seq + n)):
            return False
        if prevs[0] != s.prev_hash or list(prevs[1:]) != list(hashes[:-1]):
            return False
        if check_offsets and (
            offsets[0] <= s.last_offset or not all(map(operator.lt, offsets, offsets[1:]))
        ):
            return False
        base = s.tree.size
        done = 0
        for size in sorted(x for x in s.signed.valid if base < x <= base + n):
            s.tree.extend(leaves[done : size - base])
            done = size - base
            self._check_root(s, s.signed.valid[size])
        s.tree.extend(leaves[done:])
        self.report.rows += n
        s.summary.rows += n
        s.next_seq += n
        s.prev_hash = hashes[-1]
        s.last_offset = offsets[-1]
        s.last = (seqs[-1], leaves[-1], hashes[-1], erasures[-1], ids[-1])
        return True

    def _check_root(self, s: _LogWalk, cp: Checkpoint) -> None:
        s.summary.checkpoints += 1
        if cp.root_hash != s.tree.root():
            self.find(
                "checkpoint_mismatch",
                s.summary.log,
                f"the first {cp.size} rows do not give the root signed by the checkpoint",
            )
        s.summary.signed_size = cp.size

    def _row(self, s: _LogWalk, row: tuple[Any, ...]) -> None:
        _, _, seq, offset, ident, leaf, row_ok, prev_hash, row_hash, erasure, commit_ok, red_ok = (
            row
        )
        seq = int(seq)
        self.report.rows += 1
        if s.last is not None and seq == s.last[0]:
            if (leaf, row_hash) == (s.last[1], s.last[2]):
                if erasure != s.last[3]:
                    self.find(
                        "erasure_incomplete",
                        s.summary.log,
                        f"seq {seq} is there both as written and as redacted; run the erasure again",
                        ident,
                    )
                return  # a byte-identical copy (a retried insert): folds harmlessly
            self.find(
                "conflicting_rows",
                s.summary.log,
                f"two different rows claim seq {seq}",
                s.last[4],
                ident,
            )
            return
        if seq != s.next_seq:
            if seq > s.next_seq:
                self.find(
                    "deleted_rows",
                    s.summary.log,
                    f"rows {s.next_seq}..{seq - 1} are missing "
                    f"(between {s.last[4] if s.last else 'the start'} and {ident})",
                    s.last[4] if s.last else "",
                    ident,
                )
            # the tree can no longer be compared with the checkpoints past this point
            s.tree_broken = True
        s.summary.rows += 1
        if erasure:
            s.summary.erased_rows += 1
            if erasure not in self.erasure_ids:
                self.find(
                    "unknown_erasure",
                    s.summary.log,
                    f"seq {seq} is redacted by {erasure!r}, which no erasure record names",
                    ident,
                )
            elif not red_ok:
                self.find(
                    "unknown_erasure", s.summary.log, f"seq {seq} is only partly redacted", ident
                )
        if not row_ok:
            self.find(
                "edited_row", s.summary.log, f"seq {seq} does not hash to its row_hash", ident
            )
        elif not commit_ok:
            self.find(
                "subject_changed",
                s.summary.log,
                f"seq {seq}: the subject fields do not match the chained commitment",
                ident,
            )
        if prev_hash != s.prev_hash:
            self.find(
                "broken_link",
                s.summary.log,
                f"seq {seq} does not link to the row before it",
                ident,
            )
        if s.last is not None and offset <= s.last_offset and s.summary.log != JOURNAL_LOG:
            self.find(
                "reordered_rows",
                s.summary.log,
                f"seq {seq} (offset {offset}) comes after offset {s.last_offset}",
                s.last[4],
                ident,
            )
        s.prev_hash = row_hash
        s.last_offset = offset
        s.last = (seq, leaf, row_hash, erasure, ident)
        s.next_seq = seq + 1
        if not s.tree_broken:
            s.tree.append(leaf)
            cp = s.signed.valid.get(s.tree.size)
            if cp is not None:
                self._check_root(s, cp)

    def _finish(self, s: _LogWalk) -> None:
        self.report.logs[s.summary.log] = s.summary
        sizes = sorted(set(s.signed.stored) | set(s.signed.files))
        signed = max(sizes) if sizes else 0
        if signed > s.next_seq:
            self.find(
                "truncated_tail",
                s.summary.log,
                f"a checkpoint signed {signed} rows, the store holds rows up to {s.next_seq}",
                s.last[4] if s.last else "",
            )
        elif s.next_seq > signed and self.verifier is not None:
            self.find(
                "unsigned_rows",
                s.summary.log,
                f"rows {signed}..{s.next_seq - 1} are covered by no checkpoint yet",
                s.last[4] if s.last else "",
            )
        s.summary.signed_size = signed if signed <= s.next_seq else s.summary.signed_size

    def starting_points(self, since: datetime) -> dict[str, int]:
        """Per log, the size of the newest verified checkpoint signed before ``since``.

        Its compact range must give its signed root; the rows before it are then
        taken as that checkpoint vouches for them, and only what follows is read.
        """
        naive = since.astimezone(UTC).replace(tzinfo=None)
        starts: dict[str, int] = {}
        for log, signed in self.signed.items():
            before = [
                size
                for size, (_, at) in signed.frontier.items()
                if size in signed.valid and at.replace(tzinfo=None) < naive
            ]
            if not before:
                continue
            size = max(before)
            tree = CompactRange.restore(size, [bytes.fromhex(h) for h in signed.frontier[size][0]])
            if tree.root() == signed.valid[size].root_hash:
                starts[log] = size
                self.trees[log] = tree
        return starts

    def check_duplicates(self) -> None:
        rows = self.store.query(
            "SELECT event_id, groupArray(concat(topic, '/', toString(partition), '#', "
            "toString(seq))) AS places FROM {db}.events GROUP BY event_id "
            "HAVING uniqExact(topic, partition, seq) > 1 LIMIT 1000"
        )
        for r in rows:
            self.find(
                "duplicate_event",
                "events",
                f"event {r['event_id']} is stored at {', '.join(sorted(set(r['places'])))}",
                r["event_id"],
            )

    def load_erasures(self) -> None:
        for r in self.store.query(
            "SELECT record_id, recorded_at, body FROM {db}.journal WHERE record_kind = 'erasure' "
            "ORDER BY seq"
        ):
            self.erasure_ids.add(r["record_id"])
            body = json.loads(r["body"])
            self.report.erasures.append({"erasure_id": r["record_id"], **body})


@dataclass
class _LogWalk:
    log: str
    signed: _Signed
    next_seq: int = 0
    prev_hash: bytes = GENESIS
    last_offset: int = -(2**63)
    last: tuple[int, bytes, bytes, str, str] | None = None
    tree: CompactRange = field(default_factory=CompactRange)
    tree_broken: bool = False
    summary: LogSummary = field(init=False)

    def __post_init__(self) -> None:
        self.summary = LogSummary(self.log)


def verify(
    store: Store,
    verifier: Verifier | None,
    *,
    export_dir: Path | None = None,
    store_name: str | None = None,
    since: datetime | None = None,
) -> Report:
    """Check the whole store; see the module docstring for what each finding means.

    With ``since``, each log is checked from its newest verified checkpoint
    signed before that time (its compact range must give its signed root):
    a quick check of what was written since, trusting what that checkpoint
    signed. Without, every log from its first row.
    """
    started = time.perf_counter()
    v = _Verifier(store, verifier, export_dir, store_name)
    v.load_erasures()
    v.load_checkpoints()
    if since is not None:
        v.starts = v.starting_points(since)
        v.report.notes.append(
            f"--since: {len(v.starts)} log(s) checked from a checkpoint signed before "
            f"{since.isoformat()}, the others from their start"
        )
    v.check_table(EVENTS)
    v.check_table(JOURNAL)
    v.check_duplicates()
    seen = set(v.report.logs)
    for log, signed in v.signed.items():
        if log not in seen:
            v.find(
                "log_dropped",
                log,
                f"{max(set(signed.stored) | set(signed.files))} rows were signed, none is left",
            )
    if verifier is None:
        v.report.notes.append("no public key: checkpoints were not checked")
    v.report.seconds = time.perf_counter() - started
    return v.report
