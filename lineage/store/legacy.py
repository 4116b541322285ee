"""Converting a store of the first layout (version 1) into the chained event log.

Each stored event is read back from its JSON payload (folded by event id, as
the old reads did), with the verdict the consumer gave it and, for a
violation, the severity and summary of its alert; then written into its
partition's chain in offset order, exactly as the consumer writes today.
Events that were loaded from a file (no Kafka origin) form the log of
partition -1. Alerts of the retention monitor become journal records; dead
letters are copied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from jejak.lineage.store.chain import LogHead, events_log
from jejak.lineage.store.client import Store, as_utc
from jejak.lineage.store.tables import DEAD_LETTERS
from jejak.lineage.store.writer import (
    AlertRow,
    Batch,
    Origin,
    alert_record,
    append_journal,
    write_batch,
)
from jejak.schemas.models import event_from_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Verdict:
    decision: str
    basis: str | None
    reasons: tuple[str, ...]
    policy_version: str | None


def convert_v1(store: Store, present: set[str]) -> None:
    logs = store.query(
        "SELECT DISTINCT topic, partition FROM {db}.legacy_v1_events ORDER BY topic, partition"
    )
    converted = 0
    for group in logs:
        topic, partition = group["topic"], int(group["partition"])
        rows = store.query(
            "SELECT e.payload AS payload, e.offset AS offset, v.decision AS decision, "
            "v.basis AS basis, v.reasons AS reasons, v.policy_version AS policy_version, "
            "a.severity AS severity, a.summary AS summary "
            "FROM (SELECT * FROM {db}.legacy_v1_events FINAL "
            "      WHERE topic = {t:String} AND partition = {p:Int32}) AS e "
            "LEFT JOIN (SELECT * FROM {db}.legacy_v1_verdicts FINAL) AS v ON v.event_id = e.event_id "
            "LEFT JOIN (SELECT event_id, any(severity) AS severity, any(summary) AS summary "
            "           FROM {db}.legacy_v1_alerts FINAL WHERE event_id != '' GROUP BY event_id) "
            "     AS a ON a.event_id = e.event_id "
            "ORDER BY e.offset, e.occurred_at, e.event_id",
            {"t": topic, "p": partition},
        )
        head = LogHead(events_log(topic, partition))
        batch = Batch()
        for r in rows:
            event = event_from_json(r["payload"])
            verdict = _Verdict(
                r["decision"] or "recorded",
                r["basis"] or None,
                tuple(r["reasons"] or ()),
                r["policy_version"] or None,
            )
            severity = r["severity"] or "" if verdict.decision == "violation" else ""
            summary = r["summary"] or "" if verdict.decision == "violation" else ""
            batch.add(
                head, event, verdict, Origin(topic, partition, int(r["offset"])), severity, summary
            )
            if len(batch.events) >= 10_000:
                write_batch(store, batch)
                converted += len(batch.events)
                batch = Batch()
        write_batch(store, batch)
        converted += len(batch.events)
    monitor = (
        store.query(
            "SELECT * FROM {db}.legacy_v1_alerts FINAL WHERE event_id = '' ORDER BY raised_at, alert_id"
        )
        if "alerts" in present
        else []
    )
    append_journal(
        store,
        [
            alert_record(
                AlertRow(
                    alert_id=a["alert_id"],
                    event_id="",
                    subject_id=a["subject_id"],
                    kind=a["kind"],
                    occurred_at=as_utc(a["occurred_at"]),
                    severity=a["severity"],
                    reason=a["reason"],
                    reasons=tuple(a["reasons"]),
                    categories=tuple(a["categories"]),
                    purpose=a["purpose"],
                    recipient_id=a["recipient_id"],
                    recipient_kind=a["recipient_kind"],
                    policy_version=a["policy_version"],
                    summary=a["summary"],
                )
            )
            for a in monitor
        ],
    )
    if "dead_letters" in present:
        dead = store.query(
            "SELECT topic, partition, offset, key, reason, detail, payload "
            "FROM {db}.legacy_v1_dead_letters FINAL ORDER BY topic, partition, offset"
        )
        store.insert_rows(DEAD_LETTERS, [[d[c] for c in DEAD_LETTERS.written_names] for d in dead])
    log.info(
        "converted %d events, %d monitor alerts into the chained layout", converted, len(monitor)
    )
