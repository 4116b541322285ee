"""The retention monitor (section F): ``retention_overdue`` alerts, from the store.

After an account is closed, every category collected about the subject must be
deleted (a deletion event) within the retention period of the policy version
in force at the closure. This is not a per-event rule — nothing happens on
the day a deadline passes — so the monitor runs against the store, on a
schedule (``jejak consume --retention-every SECONDS``) and on demand
(``jejak query retention --raise``). Each overdue subject and category raises
one alert, once: its id is stable, and ids already in the store are skipped.
The alerts are records of the journal, chained like the event log.

It never cries wolf:

- it judges only what the consumer has caught up with: the consumer passes
  the partitions it owns with no lag (``partitions``), and only subjects whose
  events live there are judged, so a deletion still waiting in Kafka does not
  raise an alert;
- a deletion that reaches the store after the alert (late, or in time but
  delivered late) resolves the open alert: a ``triage`` journal record with
  status ``resolved`` by the author ``retention-monitor`` (append-only, like an
  officer's triage), so the alerts listing shows it resolved, and an
  :class:`AlertResolution` is published on the alerts topic under the alert's
  key. An officer who reopens the alert keeps it open: the monitor resolves an
  alert once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jejak.errors import PolicyNotFound
from jejak.lineage.policy import PolicySet, severity
from jejak.lineage.policy.taxonomy import within
from jejak.lineage.store import queries as q
from jejak.lineage.store import workspace as ws
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.client import Store
from jejak.lineage.store.writer import AlertRow, alert_record, append_journal
from jejak.schemas.models import format_timestamp

REASON = "retention_overdue"
MONITOR = "retention-monitor"
"""The author of the monitor's triage records."""

Partitions = Mapping[str, Sequence[int]]


@dataclass(frozen=True, slots=True)
class AlertResolution:
    """An open alert resolved by what reached the store later (published under its key)."""

    alert_id: str
    subject_id: str
    status: str
    resolved_at: datetime
    comment: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "status": self.status,
            "resolved_at": format_timestamp(self.resolved_at),
            "comment": self.comment,
            "by": MONITOR,
        }


def retention_period(policies: PolicySet, closed_at: datetime) -> tuple[timedelta, str]:
    """The retention period, and the version, of the policy in force at a closure."""
    try:
        policy = policies.in_force(closed_at)
    except PolicyNotFound:  # closed before the first version: the first one's rule applies
        policy = policies.earliest
    return policy.retention_after_closure, policy.version


def retention_alerts(
    store: Store,
    policies: PolicySet,
    now: datetime | None = None,
    partitions: Partitions | None = None,
) -> list[AlertRow]:
    """New ``retention_overdue`` alerts (those the store does not hold yet).

    ``partitions``: judge only the subjects of these (caught-up) partitions;
    None judges every subject (``jejak query retention --raise`` on a store
    that is not being written to).
    """
    now = now or datetime.now(UTC)
    rows = q.retention_overdue(
        store,
        after_closure=lambda at: retention_period(policies, at)[0],
        now=now,
        partitions=partitions,
    )
    alerts: list[AlertRow] = []
    for r in rows:
        version = retention_period(policies, r["closed_at"])[1]
        late = (
            f"deleted {r['deleted_at']:%Y-%m-%d}, {r['days_overdue']} days late"
            if r["deleted_at"]
            else f"still held {r['days_overdue']} days after the deadline"
        )
        alerts.append(
            AlertRow(
                alert_id=f"{r['subject_id']}:{r['category']}:{REASON}",
                event_id="",
                subject_id=r["subject_id"],
                kind="retention",
                occurred_at=r["deadline"],
                severity=severity(REASON),
                reason=REASON,
                reasons=(REASON,),
                categories=(r["category"],),
                purpose="",
                recipient_id="",
                recipient_kind="",
                policy_version=version,
                summary=(
                    f"{r['category']} of a closed account (closed {r['closed_at']:%Y-%m-%d}) "
                    f"was due for deletion by {r['deadline']:%Y-%m-%d}: {late} (F)"
                ),
            )
        )
    known = q.existing_alert_ids(store, [a.alert_id for a in alerts])
    return [a for a in alerts if a.alert_id not in known]


def record(store: Store, alerts: list[AlertRow], checkpointer: Checkpointer | None = None) -> None:
    """Journal the alerts (chained); the alerts table derives them from the journal."""
    append_journal(store, [alert_record(a) for a in alerts], checkpointer)


def raise_retention_alerts(
    store: Store,
    policies: PolicySet,
    checkpointer: Checkpointer | None = None,
    now: datetime | None = None,
    partitions: Partitions | None = None,
) -> list[AlertRow]:
    """New ``retention_overdue`` alerts, journalled; returns them."""
    alerts = retention_alerts(store, policies, now, partitions)
    record(store, alerts, checkpointer)
    return alerts


def resolve_retention_alerts(
    store: Store, checkpointer: Checkpointer | None = None, now: datetime | None = None
) -> list[AlertResolution]:
    """Resolve the open ``retention_overdue`` alerts whose category has since been deleted.

    Append-only: one ``triage`` record per alert, never an update of the alert.
    An alert the monitor resolved before (and an officer reopened) is left alone.
    """
    now = now or datetime.now(UTC)
    open_alerts = [
        a
        for a in ws.alerts(store, reason=REASON, limit=1_000_000)
        if a["status"] not in ("resolved", "false_positive")
    ]
    deletions = q.deletions_of(store, sorted({a["subject_id"] for a in open_alerts}))
    resolutions: list[AlertResolution] = []
    for a in open_alerts:
        category = a["categories"][0] if a["categories"] else ""
        done = [at for family, at in deletions.get(a["subject_id"], []) if within(category, family)]
        if not done:
            continue
        if any(h.get("author") == MONITOR for h in ws.triage_history(store, a["alert_id"])):
            continue
        deleted_at = min(done)
        deadline = a["occurred_at"]  # a retention alert occurs at its deadline
        late = (deleted_at - deadline).days
        comment = (
            f"deleted {deleted_at:%Y-%m-%d}, {late} day(s) after the deadline"
            if deleted_at > deadline
            else f"deleted {deleted_at:%Y-%m-%d}, in time: the deletion reached the store late"
        )
        subject = a["subject_id"]
        body = {
            "alert": a["alert_id"].replace(subject, ws.SUBJECT_MARK) if subject else a["alert_id"],
            "status": "resolved",
            "comment": comment,
            "assignee": "",
            "author": MONITOR,
            "role": "monitor",
        }
        ws.record(store, ws.TRIAGE, body, subject_id=subject, at=now, checkpointer=checkpointer)
        resolutions.append(AlertResolution(a["alert_id"], subject, "resolved", now, comment))
    return resolutions


def monitor(
    store: Store,
    policies: PolicySet,
    checkpointer: Checkpointer | None = None,
    now: datetime | None = None,
    partitions: Partitions | None = None,
) -> list[AlertRow | AlertResolution]:
    """The consumer's monitor run: new alerts on caught-up partitions, then resolutions."""
    raised: list[AlertRow | AlertResolution] = list(
        raise_retention_alerts(store, policies, checkpointer, now, partitions)
    )
    return [*raised, *resolve_retention_alerts(store, checkpointer, now)]
