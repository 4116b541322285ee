"""Data-subject request cases on the clocks of the policy (UU PDP).

A **case** opens with a ``subject_request`` event (or an officer's ``request``
record) and is named by its request reference (the event id for version-1
events, which have none). Its deadline is the receipt time plus the period the
policy in force at that time declares for the kind of request
(``subject_requests`` in the policy file, each with its article). It closes
with the first event that fulfils it:

==================  ===============================================================
request             fulfilled by
==================  ===============================================================
access              the subject report read with ``reason=<request ref>`` (the access
                    log records it), or a status ``fulfilled``
deletion            ``jejak erase … --request-ref <ref>``, a deletion event naming the
                    ref, or a status ``fulfilled``
consent_withdrawal  a consent withdrawn by the subject after the request, or a status
rectification,      a ``subject_request`` event or ``request`` record with the same ref
objection,          and status ``fulfilled`` (the correction recorded) or ``rejected``
suspension
==================  ===============================================================

An open case past its deadline raises ``subject_request_overdue`` (high), once
(its alert id is stable and names no subject), as a journal record like the
retention monitor's alerts. The computation is a pure function of the store's
rows and a clock, so tests drive it with a controlled clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jejak.errors import PolicyNotFound
from jejak.lineage.policy import PolicySet, severity
from jejak.lineage.policy.verdict import SUBJECT_REQUEST_OVERDUE
from jejak.lineage.store import queries as q
from jejak.lineage.store import workspace as ws
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.client import Store
from jejak.lineage.store.writer import AlertRow, alert_record, append_journal

CLOSING = ("fulfilled", "rejected")


@dataclass
class Case:
    case_id: str
    subject_id: str
    request: str
    opened_at: datetime
    deadline: datetime | None
    source: str
    policy_version: str
    status: str = "open"
    closed_at: datetime | None = None
    closed_by: str = ""

    def time_left(self, now: datetime) -> timedelta | None:
        if self.deadline is None:
            return None
        return self.deadline - (self.closed_at or now)

    def overdue(self, now: datetime) -> bool:
        left = self.time_left(now)
        return self.status == "open" and left is not None and left < timedelta(0)

    def to_dict(self, now: datetime) -> dict[str, Any]:
        left = self.time_left(now)
        return {
            "case_id": self.case_id,
            "subject_id": self.subject_id,
            "request": self.request,
            "status": self.status,
            "opened_at": self.opened_at,
            "deadline": self.deadline,
            "source": self.source,
            "hours_left": None if left is None else round(left.total_seconds() / 3600, 1),
            "overdue": self.overdue(now),
            "late": self.status != "open" and left is not None and left < timedelta(0),
            "closed_at": self.closed_at,
            "closed_by": self.closed_by,
        }


def _deadline(policies: PolicySet, request: str, at: datetime) -> tuple[datetime | None, str, str]:
    try:
        policy = policies.in_force(at)
    except PolicyNotFound:  # received before the first version: the first one's rule applies
        policy = policies.earliest
    rule = policy.request_deadlines.get(request)
    if rule is None:
        return None, "", policy.version
    return at + rule.period, rule.source, policy.version


def _close(case: Case, at: datetime, by: str, status: str = "fulfilled") -> None:
    if at < case.opened_at:
        return
    if case.closed_at is None or at < case.closed_at:
        case.status, case.closed_at, case.closed_by = status, at, by


def cases(sources: dict[str, list[dict[str, Any]]], policies: PolicySet) -> list[Case]:
    """Every case, from :func:`jejak.lineage.store.workspace.request_sources`."""
    opened: dict[str, Case] = {}
    updates: list[tuple[str, datetime, str, str]] = []

    def opening(case_id: str, subject: str, request: str, at: datetime, status: str) -> None:
        if status in CLOSING:
            updates.append((case_id, at, status, f"status {status}"))
            if case_id in opened:
                return
        if case_id not in opened:
            deadline, source, version = _deadline(policies, request, at)
            opened[case_id] = Case(case_id, subject, request, at, deadline, source, version)

    for e in sources["events"]:
        opening(
            e["request_ref"] or e["event_id"],
            e["subject_id"],
            e["request"],
            e["occurred_at"],
            e["status"],
        )
    for r in sources["records"]:
        opening(r["request_ref"], r["subject_id"], r["request"], r["at"], r.get("status", ""))
    for case_id, at, status, by in updates:
        if case_id in opened:
            _close(opened[case_id], at, by, status)
    by_subject: dict[str, list[Case]] = {}
    for case in opened.values():
        by_subject.setdefault(case.subject_id, []).append(case)
    for r in sources["reports"]:
        read = opened.get(r["reason"])
        if read is not None and read.request == "access" and read.subject_id == r["subject_id"]:
            _close(read, r["at"], "subject report")
    for source, by in (("erasures", "erasure"), ("deletions", "deletion event")):
        for r in sources[source]:
            erased = opened.get(r["request_ref"])
            if erased is not None and erased.request == "deletion":
                _close(erased, r["at"], by)
    for r in sources["withdrawals"]:
        for case in by_subject.get(r["subject_id"], ()):
            if case.request == "consent_withdrawal":
                _close(case, r["at"], "consent withdrawn")
    return sorted(opened.values(), key=lambda c: (c.status != "open", c.deadline or c.opened_at))


def overdue_alerts(found: Iterable[Case], now: datetime) -> list[AlertRow]:
    """One ``subject_request_overdue`` alert per open case past its deadline."""
    alerts = []
    for case in found:
        if not case.overdue(now) or case.deadline is None:
            continue
        alerts.append(
            AlertRow(
                alert_id=f"request:{case.case_id}:{SUBJECT_REQUEST_OVERDUE}",
                event_id="",
                subject_id=case.subject_id,
                kind="subject_request",
                occurred_at=case.deadline,
                severity=severity(SUBJECT_REQUEST_OVERDUE),
                reason=SUBJECT_REQUEST_OVERDUE,
                reasons=(SUBJECT_REQUEST_OVERDUE,),
                categories=(),
                purpose="",
                recipient_id="",
                recipient_kind="",
                policy_version=case.policy_version,
                summary=(
                    f"{case.request} request {case.case_id} received "
                    f"{case.opened_at:%Y-%m-%d %H:%M} UTC was due by "
                    f"{case.deadline:%Y-%m-%d %H:%M} UTC ({case.source}) and is still open"
                ),
            )
        )
    return alerts


def raise_overdue(
    store: Store,
    policies: PolicySet,
    now: datetime,
    checkpointer: Checkpointer | None = None,
) -> list[AlertRow]:
    """The request monitor's run: journal the new overdue alerts (each once); returns them."""
    alerts = overdue_alerts(cases(ws.request_sources(store), policies), now)
    known = q.existing_alert_ids(store, [a.alert_id for a in alerts])
    new = [a for a in alerts if a.alert_id not in known]
    append_journal(store, [alert_record(a) for a in new], checkpointer)
    return new
