"""Rows for the lineage store, built from an event and its verdict.

The writer is the one place that knows how an event becomes rows; the
consumer batches them and writes a batch at a time (one insert per table per
batch: ClickHouse wants few large inserts, not many small ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from jejak.lineage.store.client import Store
from jejak.schemas.models import (
    Collection,
    Consent,
    Deletion,
    Disclosure,
    Event,
    PolicyAccepted,
    Use,
    format_timestamp,
)


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
    """An alert as the store keeps it (the consumer also publishes it)."""

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


EVENT_COLUMNS = (
    "event_id",
    "kind",
    "occurred_at",
    "subject_id",
    "producer_service",
    "producer_version",
    "trace_id",
    "claimed_policy_version",
    "payload",
    "topic",
    "partition",
    "offset",
)
VERDICT_COLUMNS = (
    "event_id",
    "subject_id",
    "kind",
    "occurred_at",
    "decision",
    "basis",
    "reasons",
    "policy_version",
)
LINEAGE_COLUMNS = (
    "event_id",
    "subject_id",
    "kind",
    "occurred_at",
    "category",
    "source",
    "source_partner",
    "purpose",
    "channel",
    "public",
    "recipient_id",
    "recipient_kind",
    "recipient_country",
    "transfer",
    "legal_request_ref",
    "inputs",
    "outputs",
    "producer_service",
    "decision",
    "basis",
    "reasons",
    "policy_version",
)
CONSENT_COLUMNS = (
    "event_id",
    "subject_id",
    "occurred_at",
    "scope",
    "action",
    "producer_service",
)
ALERT_COLUMNS = (
    "alert_id",
    "event_id",
    "subject_id",
    "kind",
    "occurred_at",
    "severity",
    "reason",
    "reasons",
    "categories",
    "purpose",
    "recipient_id",
    "recipient_kind",
    "policy_version",
    "summary",
)
DEAD_LETTER_COLUMNS = ("topic", "partition", "offset", "key", "reason", "detail", "payload")


@dataclass
class Batch:
    """Rows of one consumer batch, table by table."""

    events: list[list[Any]] = field(default_factory=list)
    verdicts: list[list[Any]] = field(default_factory=list)
    lineage: list[list[Any]] = field(default_factory=list)
    consents: list[list[Any]] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    dead_letters: list[list[Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events) + len(self.dead_letters)

    def add(self, event: Event, verdict: VerdictLike, origin: Origin = Origin()) -> None:
        """The rows of one evaluated event."""
        producer = event.producer
        service = producer.service if producer else ""
        self.events.append(
            [
                event.event_id,
                event.kind,
                event.occurred_at,
                event.subject_id,
                service,
                producer.version if producer else "",
                event.trace_id or "",
                event.policy_version or "",
                # pydantic-core's serializer: half the cost of model_dump + json.dumps
                event.model_dump_json(exclude_none=True),
                origin.topic,
                origin.partition,
                origin.offset,
            ]
        )
        reasons = list(verdict.reasons)
        basis = verdict.basis or ""
        self.verdicts.append(
            [
                event.event_id,
                event.subject_id,
                event.kind,
                event.occurred_at,
                verdict.decision,
                basis,
                reasons,
                verdict.policy_version or "",
            ]
        )
        if isinstance(event, Collection | Use | Disclosure | Deletion):
            self._lineage(
                event, verdict.decision, basis, reasons, verdict.policy_version or "", service
            )
        if isinstance(event, Consent):
            self.consents.append(
                [
                    event.event_id,
                    event.subject_id,
                    event.occurred_at,
                    event.scope,
                    event.action,
                    service,
                ]
            )
        elif isinstance(event, PolicyAccepted):
            self.consents.append(
                [
                    event.event_id,
                    event.subject_id,
                    event.occurred_at,
                    f"policy:{event.policy_version}",
                    "granted",
                    service,
                ]
            )

    def _lineage(
        self,
        event: Collection | Use | Disclosure | Deletion,
        decision: str,
        basis: str,
        reasons: list[str],
        policy_version: str,
        service: str,
    ) -> None:
        source = source_partner = purpose = channel = ""
        recipient_id = recipient_kind = recipient_country = transfer = legal_ref = ""
        public = False
        inputs: list[str] = []
        outputs: list[str] = []
        if isinstance(event, Collection):
            source, source_partner = event.source, event.source_partner or ""
        if isinstance(event, Use | Disclosure):
            purpose = event.purpose
        if isinstance(event, Use):
            channel, public = event.channel or "", event.public
        if isinstance(event, Disclosure):
            recipient_id, recipient_kind = event.recipient.id, event.recipient.kind
            recipient_country = event.recipient.country or ""
            transfer, legal_ref = event.transfer, event.legal_request_ref or ""
        if not isinstance(event, Deletion):
            inputs, outputs = list(event.inputs), list(event.outputs)
        for category in event.data_categories:
            self.lineage.append(
                [
                    event.event_id,
                    event.subject_id,
                    event.kind,
                    event.occurred_at,
                    category,
                    source,
                    source_partner,
                    purpose,
                    channel,
                    public,
                    recipient_id,
                    recipient_kind,
                    recipient_country,
                    transfer,
                    legal_ref,
                    inputs,
                    outputs,
                    service,
                    decision,
                    basis,
                    reasons,
                    policy_version,
                ]
            )

    def add_alert(self, alert: AlertRow) -> None:
        self.alerts.append(alert)

    def add_dead_letter(
        self, origin: Origin, key: bytes | None, reason: str, detail: str, payload: bytes | None
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


def write_batch(store: Store, batch: Batch) -> None:
    """One insert per table. Replays are folded by the tables' event-id keys."""
    store.insert("events", batch.events, EVENT_COLUMNS)
    store.insert("verdicts", batch.verdicts, VERDICT_COLUMNS)
    store.insert("lineage", batch.lineage, LINEAGE_COLUMNS)
    store.insert("consents", batch.consents, CONSENT_COLUMNS)
    store.insert(
        "alerts",
        [
            [
                a.alert_id,
                a.event_id,
                a.subject_id,
                a.kind,
                a.occurred_at,
                a.severity,
                a.reason,
                list(a.reasons),
                list(a.categories),
                a.purpose,
                a.recipient_id,
                a.recipient_kind,
                a.policy_version,
                a.summary,
            ]
            for a in batch.alerts
        ],
        ALERT_COLUMNS,
    )
    store.insert("dead_letters", batch.dead_letters, DEAD_LETTER_COLUMNS)
