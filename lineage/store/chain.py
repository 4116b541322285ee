"""The hash chain and Merkle log of each chained log, as the writer keeps them.

A *log* is one Kafka partition of the events topic (``events/<topic>/<partition>``)
or the journal (``journal``). Its rows are numbered ``seq = 0, 1, 2 …`` in
offset order; each row's ``row_hash`` links it to the row before it (see
:mod:`jejak.lineage.store.canonical`), and the leaves of all of its rows form
an RFC 9162 Merkle tree whose signed heads are the checkpoints.

The writer holds a :class:`LogHead` per log it appends to: the next ``seq``,
the last Kafka offset written, the last ``row_hash`` and the compact range of
the Merkle tree (O(log n) hashes). A head is read back from the store when a
partition is assigned (:func:`load_heads`): the last checkpoint's compact
range plus the leaves written after it, so the work is bounded by the
checkpoint interval, not by the history; two queries for all the partitions
assigned at once.

Rows are appended deterministically: the same messages produce byte-identical
rows, and messages at or below a head's offset (a batch Kafka delivers again
after a crash between the write and the commit) are not written again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jejak.lineage.store.canonical import GENESIS, commitment, encoder, leaf_hash, link, new_salt
from jejak.lineage.store.client import Store
from jejak.lineage.store.tables import EVENTS, JOURNAL, Table
from jejak.lineage.trust.merkle import CompactRange


def events_log(topic: str, partition: int) -> str:
    return f"events/{topic}/{partition}"


JOURNAL_LOG = "journal"


@dataclass
class LogHead:
    """Where one log stands: what the next row links to."""

    log: str
    next_seq: int = 0
    last_offset: int = -1
    prev_hash: bytes = GENESIS
    tree: CompactRange = field(default_factory=CompactRange)
    signed_size: int = 0
    signed_at: float = field(default_factory=time.monotonic)

    @property
    def unsigned(self) -> int:
        return self.next_seq - self.signed_size


class RowChainer:
    """Fills the chain columns of rows of one chained table."""

    def __init__(self, table: Table) -> None:
        self.table = table
        names = table.written_names
        self._canonical = [names.index(c.name) for c in table.canonical]
        self._redactable = [names.index(c.name) for c in table.redactable]
        self._seq = names.index("seq")
        self._commitment = names.index("subject_commitment")
        self._salt = names.index("subject_salt")
        self._prev = names.index("prev_hash")
        self._row = names.index("row_hash")
        self._erasure = names.index("erasure_ref")
        self._encode_row = encoder(table, self._canonical)
        self._encode = encoder(table)

    def chain(self, head: LogHead, row: list[Any]) -> bytes:
        """Give ``row`` the next place in ``head``'s log; returns its leaf hash."""
        redactable = [row[i] or "" for i in self._redactable]
        for i, v in zip(self._redactable, redactable, strict=True):
            row[i] = v
        salt = new_salt(redactable)
        row[self._salt] = salt
        row[self._commitment] = commitment(salt, redactable)
        row[self._seq] = head.next_seq
        row[self._erasure] = ""
        leaf = leaf_hash(self._encode_row(row))
        row_hash = link(head.prev_hash, leaf)
        row[self._prev] = head.prev_hash
        row[self._row] = row_hash
        head.prev_hash = row_hash
        head.next_seq += 1
        head.tree.append(leaf)
        return leaf

    def canonical(self, row: Sequence[Any]) -> bytes:
        return self._encode([row[i] for i in self._canonical])


EVENT_CHAINER = RowChainer(EVENTS)
JOURNAL_CHAINER = RowChainer(JOURNAL)


def _restore(
    store: Store,
    table: Table,
    logs: Mapping[int, str],
    key: str,
    where: str,
    params: dict[str, Any],
) -> dict[int, LogHead]:
    """Heads of several logs of ``table``: each one's last checkpoint and the leaves after it.

    Two queries, whatever the number of logs: the newest checkpoint of each,
    then the rows from each one's last checkpointed row on (``key`` tells the
    logs apart in ``table``), so a consumer assigned many partitions does not
    pay a round trip, and a scan, per partition. The rows' ``seq`` bounds are
    literals, so the chain index skips the granules of older rows.
    """
    from jejak.lineage.store.canonical import leaf_hash_sql

    heads = {k: LogHead(name) for k, name in logs.items()}
    if not heads:
        return heads
    by_log = {head.log: head for head in heads.values()}
    for cp in store.query(
        "SELECT log, max(tree_size) AS size, argMax(frontier, tree_size) AS frontier "
        "FROM {db}.checkpoints WHERE log IN {logs:Array(String)} GROUP BY log",
        {"logs": list(by_log)},
    ):
        head = by_log[cp["log"]]
        head.tree = CompactRange.restore(
            int(cp["size"]), [bytes.fromhex(h) for h in cp["frontier"]]
        )
        head.signed_size = int(cp["size"])
    # from the last signed row on (it is the last row when nothing came after it)
    since = " OR ".join(
        f"({key} = {int(k)} AND seq >= {max(head.tree.size - 1, 0)})" for k, head in heads.items()
    )
    columns = store.query_columns(
        f"SELECT {key} AS k, seq, {leaf_hash_sql(table)} AS leaf, row_hash, "
        f"{'offset' if table is EVENTS else 'toInt64(-1)'} AS off "
        f"FROM {{db}}.{table.name} WHERE {where} AND ({since}) "
        "ORDER BY k, seq LIMIT 1 BY k, seq",
        params,
        width=5,
    )
    for k, seq, leaf, row_hash, off in zip(*columns, strict=True):
        head = heads[int(k)]
        if seq >= head.tree.size:
            head.tree.append(bytes.fromhex(leaf))
        head.next_seq = int(seq) + 1
        head.prev_hash = bytes(row_hash)
        head.last_offset = int(off)
    return heads


def load_heads(store: Store, topic: str, partitions: Iterable[int]) -> dict[int, LogHead]:
    """The heads of the events logs of these partitions, as the store holds them."""
    return _restore(
        store,
        EVENTS,
        {p: events_log(topic, p) for p in partitions},
        "partition",
        "topic = {topic:String}",
        {"topic": topic},
    )


def load_journal_head(store: Store) -> LogHead:
    return _restore(store, JOURNAL, {0: JOURNAL_LOG}, "0", "1", {})[0]
