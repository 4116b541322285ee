"""Inclusion proofs of stored events under the latest signed checkpoint of their log.

``jejak verify --event ID --proof FILE`` writes one; ``jejak verify-proof``
(or any RFC 9162 implementation, with the C2SP signed-note checkpoint) checks
it with nothing but the file and the store's public key
(:mod:`jejak.lineage.trust.proof`).
"""

from __future__ import annotations

import base64
from typing import Any

from jejak.errors import JejakError
from jejak.lineage.store.canonical import canonical_sql, leaf_hash_sql
from jejak.lineage.store.chain import events_log
from jejak.lineage.store.client import Store
from jejak.lineage.store.tables import EVENTS
from jejak.lineage.trust.merkle import consistency_proof, inclusion_proof
from jejak.lineage.trust.proof import build_proof


class ProofError(JejakError):
    """No proof can be made for that event (unknown, or not yet signed)."""


def _leaves(store: Store, topic: str, partition: int, size: int) -> list[bytes]:
    columns = store.query_columns(
        f"SELECT {leaf_hash_sql(EVENTS)} AS leaf FROM {{db}}.events "
        "WHERE topic = {t:String} AND partition = {p:Int32} AND seq < {n:UInt64} "
        "ORDER BY seq LIMIT 1 BY seq",
        {"t": topic, "p": partition, "n": size},
        width=1,
    )
    leaves = [bytes.fromhex(h) for h in columns[0]]
    if len(leaves) != size:
        raise ProofError(
            f"{events_log(topic, partition)} holds {len(leaves)} of the {size} signed rows: "
            "run jejak verify"
        )
    return leaves


def prove_consistency(
    store: Store, topic: str, partition: int, old: int, new: int
) -> dict[str, Any]:
    """An RFC 9162 consistency proof between two stored checkpoints of one partition's log.

    ``{"old_checkpoint", "new_checkpoint", "proof"}`` (base64 hashes): whoever
    kept the old checkpoint can check that the new one extends it.
    """
    log = events_log(topic, partition)
    notes = {
        int(r["tree_size"]): r["note"]
        for r in store.query(
            "SELECT tree_size, any(note) AS note FROM {db}.checkpoints WHERE log = {l:String} "
            "AND tree_size IN ({a:UInt64}, {b:UInt64}) GROUP BY tree_size",
            {"l": log, "a": old, "b": new},
        )
    }
    missing = [size for size in (old, new) if size not in notes]
    if missing:
        raise ProofError(f"{log} has no checkpoint of size {missing[0]}")
    leaves = _leaves(store, topic, partition, new)
    return {
        "old_checkpoint": notes[old],
        "new_checkpoint": notes[new],
        "proof": [base64.b64encode(h).decode() for h in consistency_proof(old, leaves, new)],
    }


def prove_event(store: Store, event_id: str) -> dict[str, Any]:
    """The proof document of one stored event (see :func:`jejak.lineage.trust.proof.build_proof`)."""
    rows = store.query(
        f"SELECT topic, partition, seq, base64Encode({canonical_sql(EVENTS)}) AS row "
        "FROM {db}.events WHERE event_id = {e:String} ORDER BY seq LIMIT 1",
        {"e": event_id},
    )
    if not rows:
        raise ProofError(f"the store holds no event {event_id!r}")
    topic, partition, seq = rows[0]["topic"], int(rows[0]["partition"]), int(rows[0]["seq"])
    log = events_log(topic, partition)
    cps = store.query(
        "SELECT tree_size, note FROM {db}.checkpoints WHERE log = {l:String} "
        "AND tree_size > {s:UInt64} ORDER BY tree_size DESC LIMIT 1",
        {"l": log, "s": seq},
    )
    if not cps:
        raise ProofError(
            f"event {event_id} (seq {seq} of {log}) is not covered by a checkpoint yet; "
            "the consumer signs one at intervals and when it stops"
        )
    size = int(cps[0]["tree_size"])
    leaves = _leaves(store, topic, partition, size)
    return build_proof(
        row=base64.b64decode(rows[0]["row"]),
        leaf_index=seq,
        audit_path=inclusion_proof(seq, leaves),
        checkpoint=cps[0]["note"],
        event_id=event_id,
    )
