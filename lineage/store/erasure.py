"""Erasure of a data subject that keeps the trail verifiable (``jejak erase``).

Technique: **redactable leaves**. The hash chain and the Merkle tree never
commit to the subject id (nor to the trace id and legal-request reference,
which other systems can link to a person): they commit to
``subject_commitment = SHA-256(salt || those values)`` with a random salt per
row (:mod:`jejak.lineage.store.canonical`). Erasing a subject:

1. journals an ``erasure`` record (when, the request reference, how many rows
   of each kind were redacted) — chained like everything else, and naming
   nobody;
2. writes a redacted copy of each of the subject's rows in ``events`` and
   ``journal``: the subject id becomes ``erased:<erasure id>``, the trace id and
   legal-request reference are blanked, the salt is destroyed, ``erasure_ref``
   names the erasure; every chained column, and so every hash, is unchanged;
3. deletes the original rows (``ALTER TABLE … DELETE``, waiting for the
   mutation), selected by their salted commitments and event ids, never by the
   subject id, so the statement ClickHouse keeps in its mutation log names
   nobody either;
4. deletes the derived rows that name the subject (alerts, the disclosure
   aggregate) through a ``Memory`` table holding the subject id, so these
   mutations name nobody either and also find rows an interrupted earlier run
   left; derives the rows of every erasure's redacted copies again
   (:func:`jejak.lineage.store.derive.derive_erased`; copies of rows not
   derived yet are derived later in their place); blanks the key and payload
   of the subject's dead letters.

Afterwards no table holds the pseudonym, and with the salt gone nobody — not
even someone holding the pseudonymisation key and the raw id — can tie the
commitments to the person. ``jejak verify`` still passes and lists the erasure.
Counts of events, verdicts and alerts do not change (each log row is derived
once: the daily aggregate, which names nobody, is not touched). Events the log
already holds are never written again, so a later redelivery of the subject's
old events does not bring them back.

Erasure is the only sanctioned change to stored rows. Run again after an
interruption, it finishes what is left (a test interrupts one after the
originals are gone).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jejak.errors import JejakError
from jejak.lineage.store.canonical import NO_SALT
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.client import Store
from jejak.lineage.store.derive import derive_erased, exclusive, finish_all
from jejak.lineage.store.tables import EVENTS, JOURNAL, Table
from jejak.lineage.store.writer import JournalRecord, append_journal

log = logging.getLogger(__name__)

ERASED_PREFIX = "erased:"
_SYNC = {"mutations_sync": 2}


class ErasureError(JejakError):
    """An erasure that cannot be done as asked."""


@dataclass(frozen=True)
class ErasureResult:
    erasure_id: str
    request_ref: str
    events: int
    journal_records: int
    dead_letters: int
    erased_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "request_ref": self.request_ref,
            "events": self.events,
            "journal_records": self.journal_records,
            "dead_letters": self.dead_letters,
            "erased_at": self.erased_at.isoformat().replace("+00:00", "Z"),
        }


def _originals(store: Store, table: Table, subject_id: str) -> list[list[Any]]:
    names = table.written_names
    cols = ", ".join(f"`{n}`" for n in names)
    rows = store.query(
        f"SELECT {cols} FROM {{db}}.{table.name} "
        "WHERE subject_id = {s:String} AND erasure_ref = '' ORDER BY seq",
        {"s": subject_id},
    )
    return [[r[n] for n in names] for r in rows]


def _redacted(table: Table, rows: list[list[Any]], erasure_id: str) -> list[list[Any]]:
    names = table.written_names
    blank = [names.index(c.name) for c in table.redactable]
    subject = names.index("subject_id")
    salt = names.index("subject_salt")
    ref = names.index("erasure_ref")
    out = []
    for row in rows:
        copy = list(row)
        for i in blank:
            copy[i] = ""
        copy[subject] = ERASED_PREFIX + erasure_id.removeprefix("erasure:")
        copy[salt] = NO_SALT
        copy[ref] = erasure_id
        out.append(copy)
    return out


def _utc(rows: list[list[Any]], table: Table) -> None:
    for i, c in enumerate(table.written):
        if c.type.startswith("DateTime64"):
            for row in rows:
                if isinstance(row[i], datetime) and row[i].tzinfo is None:
                    row[i] = row[i].replace(tzinfo=UTC)


def _drop_derived_rows(store: Store, subject_id: str, erasure_id: str) -> None:
    """Delete every derived row naming the subject (alerts, the disclosure aggregate).

    The subject id goes into a ``Memory`` table (never written to disk) that the
    mutations read, so the statements ClickHouse keeps in its mutation log name
    nobody; and rows left by an interrupted earlier run are found too (the
    originals they came from may be gone).
    """
    holder = f"erasing_{erasure_id.removeprefix('erasure:')}"
    store.command(f"CREATE TABLE {{db}}.{holder} (subject_id String) ENGINE = Memory")
    try:
        store.command(f"INSERT INTO {{db}}.{holder} SELECT {{s:String}}", {"s": subject_id})
        for table in ("alerts", "recipients"):
            store.command(
                f"ALTER TABLE {{db}}.{table} DELETE WHERE subject_id IN "
                f"(SELECT subject_id FROM {{db}}.{holder})",
                settings=_SYNC,
            )
    finally:
        store.command(f"DROP TABLE IF EXISTS {{db}}.{holder} SYNC")


def erase(
    store: Store,
    subject_id: str,
    request_ref: str,
    *,
    checkpointer: Checkpointer | None = None,
    now: datetime | None = None,
) -> ErasureResult:
    """Erase one (pseudonymous) subject everywhere the store holds them; see the module docstring."""
    if not request_ref.strip():
        raise ErasureError("an erasure needs the reference of the request it answers")
    if subject_id.startswith(ERASED_PREFIX):
        raise ErasureError("that id is already the mark of an erasure")
    with exclusive(store):  # no derivation runs meanwhile
        return _erase(store, subject_id, request_ref, checkpointer, now, finish_all(store))


def _erase(
    store: Store,
    subject_id: str,
    request_ref: str,
    checkpointer: Checkpointer | None,
    now: datetime | None,
    derived: dict[tuple[str, int], int],
) -> ErasureResult:
    events = _originals(store, EVENTS, subject_id)
    journal = _originals(store, JOURNAL, subject_id)
    dead = store.query(
        "SELECT topic, partition, offset FROM {db}.dead_letters FINAL "
        "WHERE key = hex({s:String}) OR position(unhex(payload), {s:String}) > 0",
        {"s": subject_id},
    )
    now = now or datetime.now(UTC)
    erasure_id = f"erasure:{uuid.uuid4().hex}"
    result = ErasureResult(erasure_id, request_ref, len(events), len(journal), len(dead), now)
    body = {k: v for k, v in result.to_dict().items() if k != "erasure_id"}
    append_journal(
        store, [JournalRecord("erasure", erasure_id, body, recorded_at=now)], checkpointer
    )
    for table, rows, key in ((EVENTS, events, "event_id"), (JOURNAL, journal, "record_id")):
        if not rows:
            continue
        _utc(rows, table)
        store.insert_rows(
            table, _redacted(table, rows, erasure_id), dedup_token=f"{erasure_id}/{table.name}"
        )
        names = table.written_names
        commitments = [r[names.index("subject_commitment")] for r in rows]
        ids = [r[names.index(key)] for r in rows]
        # select by salted commitments and ids: the mutation log names nobody
        store.command(
            f"ALTER TABLE {{db}}.{table.name} DELETE WHERE erasure_ref = '' "
            f"AND lower(hex(subject_commitment)) IN {{c:Array(String)}} "
            f"AND {key} IN {{i:Array(String)}}",
            {"c": [c.hex() for c in commitments], "i": ids},
            settings=_SYNC,
        )
    _drop_derived_rows(store, subject_id, erasure_id)
    derive_erased(store, erasure_id, derived)
    if dead:
        places = [(d["topic"], int(d["partition"]), int(d["offset"])) for d in dead]
        store.command(
            "ALTER TABLE {db}.dead_letters UPDATE key = '', payload = '', "
            "detail = {d:String} WHERE (topic, partition, offset) IN "
            "{p:Array(Tuple(String, Int32, Int64))}",
            {"d": f"withheld: erased by {erasure_id}", "p": places},
            settings=_SYNC,
        )
    log.info(
        "%s: %d event(s), %d journal record(s), %d dead letter(s) redacted",
        erasure_id,
        len(events),
        len(journal),
        len(dead),
    )
    return result
