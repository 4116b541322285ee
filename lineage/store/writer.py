"""The write side of the store: events into their partition's chain, journal records, dead letters.

The consumer builds a :class:`Batch` (rows in the declared column order of
:data:`~jejak.lineage.store.tables.EVENTS`, chained as they are added) and
:func:`write_batch` writes it with one column-oriented insert per table, with
the column types known (no ``DESCRIBE`` per insert). The derived tables
(consents, alerts, aggregates) are filled inside ClickHouse from the rows
written (:mod:`jejak.lineage.store.derive`): at once by default, many batches
at a time by the consumer (``derive=False`` and its own
:class:`~jejak.lineage.store.derive.Deriver`).

A retried insert carries the same deduplication token, so an insert that did
land although the client saw an error is not stored twice.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from jejak.lineage.store.chain import (
    EVENT_CHAINER,
    JOURNAL_CHAINER,
    JOURNAL_LOG,
    LogHead,
    load_journal_head,
)
from jejak.lineage.store.client import Store
from jejak.lineage.store.tables import DEAD_LETTERS, EVENTS, JOURNAL, Source, row_maker
from jejak.schemas.models import Event, format_timestamp

if TYPE_CHECKING:
    from jejak.lineage.store.checkpoints import Checkpointer

_TOPIC = EVENTS.written_names.index("topic")
_PARTITION = EVENTS.written_names.index("partition")
_OFFSET = EVENTS.written_names.index("offset")


class VerdictLike(Protocol):
    """What the writer needs of a policy verdict."""

    @property
    def decision(self) -> str: ...
    @property
    def basis(self) -> str | None: ...
    @property
    def reasons(self) -> Sequence[str]: ...
    @property
    def policy_version(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Origin:
    """Where in Kafka an event was read from (empty for events loaded from a file)."""

    topic: str = ""
    partition: int = -1
    offset: int = -1


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert as it is published (the store derives its own copy from the event log)."""

    alert_id: str
    event_id: str
    subject_id: str
    kind: str
    occurred_at: datetime
    severity: str
    reason: str
    reasons: tuple[str, ...]
    categories: tuple[str, ...]
    purpose: str
    recipient_id: str
    recipient_kind: str
    policy_version: str
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "severity": self.severity,
            "reason": self.reason,
            "reasons": list(self.reasons),
            "event_id": self.event_id,
            "subject_id": self.subject_id,
            "kind": self.kind,
            "occurred_at": format_timestamp(self.occurred_at),
            "categories": list(self.categories),
            "purpose": self.purpose or None,
            "recipient": {"id": self.recipient_id, "kind": self.recipient_kind}
            if self.recipient_id
            else None,
            "policy_version": self.policy_version,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """A record jejak makes itself; ``body`` is JSON-ready and names no personal value."""

    record_kind: str
    record_id: str
    body: dict[str, Any]
    subject_id: str = ""
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


SUBJECT_MARK = "{subject}"
"""Stands for the record's subject wherever a body would name it (an alert id)."""


def alert_record(alert: AlertRow) -> JournalRecord:
    """A monitor alert as a journal record (the alerts table derives from it).

    The body never names the subject: a monitor's alert id contains the
    subject id, so the body keeps it with :data:`SUBJECT_MARK` in its place and
    the alerts view puts the record's (redactable) subject back.
    """
    body = alert.to_dict()
    body.pop("subject_id")
    if alert.subject_id:
        body["alert_id"] = alert.alert_id.replace(alert.subject_id, SUBJECT_MARK)
    # the record id is chained, so it can never be redacted: it must not name anyone
    return JournalRecord("alert", new_record_id("alert"), body, subject_id=alert.subject_id)


@dataclass
class Batch:
    """What one consumer batch writes: event rows (chained), dead letters, alerts to publish."""

    events: list[list[Any]] = field(default_factory=list)
    dead_letters: list[list[Any]] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    leaves: int = 0

    def __len__(self) -> int:
        return len(self.events) + len(self.dead_letters)

    def add(
        self,
        head: LogHead,
        event: Event,
        verdict: VerdictLike,
        origin: Origin,
        severity: str = "",
        summary: str = "",
    ) -> None:
        """The row of one evaluated event, given the next place in its partition's chain."""
        row = row_maker(EVENTS, type(event))(Source(event, verdict, severity, summary))
        row[_TOPIC], row[_PARTITION], row[_OFFSET] = origin.topic, origin.partition, origin.offset
        EVENT_CHAINER.chain(head, row)
        head.last_offset = max(head.last_offset, origin.offset)
        self.events.append(row)

    def add_alert(self, alert: AlertRow) -> None:
        self.alerts.append(alert)

    def add_dead_letter(
        self,
        origin: Origin,
        key: bytes | None,
        reason: str,
        detail: str,
        payload: bytes | None,
    ) -> None:
        self.dead_letters.append(
            [
                origin.topic,
                origin.partition,
                origin.offset,
                (key or b"").hex(),
                reason,
                detail,
                (payload or b"").hex(),
            ]
        )


def _token(rows: Sequence[Sequence[Any]], row_hash_index: int) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row[row_hash_index])
    return digest.hexdigest()


_ROW_HASH = EVENTS.written_names.index("row_hash")


def write_batch(store: Store, batch: Batch, *, derive: bool = True) -> None:
    """One column-oriented insert per written table; a retry of the same batch is dropped.

    With ``derive`` the derived tables are brought up to date with these rows
    before returning; without, the caller derives them (see the module docstring).
    """
    if batch.events:
        token = _token(batch.events, _ROW_HASH)
        store.insert_rows(EVENTS, batch.events, dedup_token=token)
        if derive:  # a retry derives under the same id, so adds nothing twice
            from jejak.lineage.store.derive import derive_rows

            derive_rows(store, batch.events, f"batch:{token}")
    if batch.dead_letters:
        store.insert_rows(DEAD_LETTERS, batch.dead_letters)


def append_journal(
    store: Store, records: Sequence[JournalRecord], checkpointer: Checkpointer | None = None
) -> list[str]:
    """Chain and write jejak's own records (one writer at a time); returns their record ids.

    Journal records are few and each matters (an erasure, an alert): with a
    checkpointer the journal's new head is signed at once.
    """
    if not records:
        return []
    with _JOURNAL_WRITER:  # the API's threads and the consumer's monitor share one journal
        return _append_journal(store, records, checkpointer)


_JOURNAL_WRITER = threading.Lock()
"""One journal writer at a time in this process: two writers reading the same head would fork
the chain (two rows with one ``seq``). Processes sharing a ClickHouse server must not both write
the journal (see docs/workspace.md)."""


def _append_journal(
    store: Store, records: Sequence[JournalRecord], checkpointer: Checkpointer | None
) -> list[str]:
    head = load_journal_head(store)
    rows: list[list[Any]] = []
    names = JOURNAL.written_names
    for record in records:
        row: list[Any] = [None] * len(names)
        row[names.index("record_id")] = record.record_id
        row[names.index("record_kind")] = record.record_kind
        row[names.index("recorded_at")] = record.recorded_at
        row[names.index("subject_id")] = record.subject_id
        row[names.index("body")] = json.dumps(record.body, sort_keys=True, ensure_ascii=False)
        JOURNAL_CHAINER.chain(head, row)
        rows.append(row)
    store.insert_rows(
        JOURNAL, rows, dedup_token=_token(rows, JOURNAL.written_names.index("row_hash"))
    )
    if checkpointer is not None:
        checkpointer.sign([head])
    return [r.record_id for r in records]


def new_record_id(kind: str) -> str:
    return f"{kind}:{uuid.uuid4().hex}"


__all__ = [
    "JOURNAL_LOG",
    "AlertRow",
    "Batch",
    "JournalRecord",
    "Origin",
    "VerdictLike",
    "alert_record",
    "append_journal",
    "write_batch",
]
