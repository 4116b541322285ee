"""The retention monitor (section F): ``retention_overdue`` alerts, from the store.

After an account is closed, every category collected about the subject must be
deleted (a deletion event) within the retention period of the policy version
in force at the closure. This is not a per-event rule — nothing happens on
the day a deadline passes — so the monitor runs against the store, on a
schedule (``jejak consume --retention-every SECONDS``) and on demand
(``jejak query retention --raise``). Each overdue subject and category raises
one alert, once: its id is stable, and ids already in the store are skipped.
The alerts are records of the journal, chained like the event log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jejak.errors import PolicyNotFound
from jejak.lineage.policy import PolicySet, severity
from jejak.lineage.store import queries as q
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.client import Store
from jejak.lineage.store.writer import AlertRow, alert_record, append_journal

REASON = "retention_overdue"


def retention_period(policies: PolicySet, closed_at: datetime) -> tuple[timedelta, str]:
    """The retention period, and the version, of the policy in force at a closure."""
    try:
        policy = policies.in_force(closed_at)
    except PolicyNotFound:  # closed before the first version: the first one's rule applies
        policy = policies.earliest
    return policy.retention_after_closure, policy.version


def retention_alerts(
    store: Store, policies: PolicySet, now: datetime | None = None
) -> list[AlertRow]:
    """New ``retention_overdue`` alerts (those the store does not hold yet)."""
    now = now or datetime.now(UTC)
    rows = q.retention_overdue(
        store, after_closure=lambda at: retention_period(policies, at)[0], now=now
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
) -> list[AlertRow]:
    """The monitor's run: new ``retention_overdue`` alerts, journalled; returns them."""
    alerts = retention_alerts(store, policies, now)
    record(store, alerts, checkpointer)
    return alerts
