"""The compliance questions, answered from the lineage store.

The command line and the HTTP API are thin adapters over these functions; no
SQL lives outside the store package. The event log holds each event once (the
consumer skips what it already wrote), so reads need no ``FINAL``; the derived
tables are filled from it by ClickHouse (:mod:`jejak.lineage.store.tables`).
Every line of a subject report names the event ids it rests on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jejak.lineage.policy.taxonomy import within
from jejak.lineage.store.client import Store
from jejak.lineage.store.writer import AlertRow
from jejak.schemas.models import format_timestamp


def _utc(value: Any) -> Any:
    # clickhouse-connect returns DateTime64(…, 'UTC') as naive datetimes in UTC
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def plain(value: Any) -> Any:
    """JSON-ready: datetimes as the JSON form's timestamps, containers recursively."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _rows(store: Store, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    rows = store.query(sql, params)
    return [{k: _utc(v) for k, v in row.items()} for row in rows]


def _window(since: datetime | None, until: datetime | None) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    if since is not None:
        clauses.append("occurred_at >= {since:DateTime64(3, 'UTC')}")
        params["since"] = since
    if until is not None:
        clauses.append("occurred_at < {until:DateTime64(3, 'UTC')}")
        params["until"] = until
    return (" AND " + " AND ".join(clauses)) if clauses else "", params


@dataclass(frozen=True)
class SubjectReport:
    """Everything the store knows about one data subject (a data-subject access report)."""

    subject_id: str
    collected: list[dict[str, Any]]
    used: list[dict[str, Any]]
    disclosed: list[dict[str, Any]]
    deleted: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    violations: list[dict[str, Any]]
    account_closed_at: datetime | None
    events: int

    def to_dict(self) -> dict[str, Any]:
        return plain(  # type: ignore[no-any-return]
            {
                "subject_id": self.subject_id,
                "events": self.events,
                "account_closed_at": self.account_closed_at,
                "collected": self.collected,
                "used": self.used,
                "disclosed": self.disclosed,
                "deleted": self.deleted,
                "consents": self.consents,
                "violations": self.violations,
            }
        )


def subject_report(store: Store, subject_id: str) -> SubjectReport:
    """What was collected about a person, what it was used for, who received it, on which basis."""
    p = {"s": subject_id}
    collected = _rows(
        store,
        """SELECT category, source, source_partner, count() AS times,
                  min(occurred_at) AS first_at, max(occurred_at) AS last_at,
                  arraySort(groupUniqArray(basis)) AS bases,
                  countIf(decision = 'violation') AS violations,
                  arraySort(groupUniqArray(event_id)) AS event_ids
           FROM {db}.lineage
           WHERE subject_id = {s:String} AND kind = 'collection'
           GROUP BY category, source, source_partner ORDER BY category, source""",
        p,
    )
    used = _rows(
        store,
        """SELECT purpose, arraySort(groupUniqArray(category)) AS categories,
                  uniqExact(event_id) AS times, max(occurred_at) AS last_at,
                  arraySort(groupUniqArray(basis)) AS bases,
                  uniqExactIf(event_id, decision = 'violation') AS violations,
                  arraySort(groupUniqArray(event_id)) AS event_ids
           FROM {db}.lineage
           WHERE subject_id = {s:String} AND kind = 'use'
           GROUP BY purpose ORDER BY purpose""",
        p,
    )
    disclosed = _rows(
        store,
        """SELECT recipient_id, recipient_kind, purpose,
                  arraySort(groupUniqArray(category)) AS categories,
                  uniqExact(event_id) AS times, max(occurred_at) AS last_at,
                  arraySort(groupUniqArray(basis)) AS bases,
                  uniqExactIf(event_id, decision = 'violation') AS violations,
                  arraySort(groupUniqArray(event_id)) AS event_ids
           FROM {db}.lineage
           WHERE subject_id = {s:String} AND kind = 'disclosure'
           GROUP BY recipient_id, recipient_kind, purpose ORDER BY recipient_id, purpose""",
        p,
    )
    deleted = _rows(
        store,
        """SELECT category, max(occurred_at) AS deleted_at,
                  arraySort(groupUniqArray(event_id)) AS event_ids
           FROM {db}.lineage
           WHERE subject_id = {s:String} AND kind = 'deletion'
           GROUP BY category ORDER BY category""",
        p,
    )
    consents = _rows(
        store,
        """SELECT scope, argMax(action, (occurred_at, partition, seq)) AS action,
                  max(occurred_at) AS since, arraySort(groupArray(event_id)) AS event_ids
           FROM {db}.consents WHERE subject_id = {s:String} AND scope != ''
           GROUP BY scope ORDER BY scope""",
        p,
    )
    violations = _rows(
        store,
        """SELECT v.event_id AS event_id, v.kind AS kind, v.occurred_at AS occurred_at,
                  v.reasons AS reasons, v.policy_version AS policy_version
           FROM {db}.events AS v
           WHERE v.subject_id = {s:String} AND v.decision = 'violation'
           ORDER BY v.occurred_at""",
        p,
    )
    meta = _rows(
        store,
        """SELECT count() AS events, minIf(occurred_at, kind = 'account_closed') AS closed,
                  countIf(kind = 'account_closed') AS closures
           FROM {db}.events WHERE subject_id = {s:String}""",
        p,
    )[0]
    return SubjectReport(
        subject_id=subject_id,
        collected=collected,
        used=used,
        disclosed=disclosed,
        deleted=deleted,
        consents=consents,
        violations=violations,
        account_closed_at=meta["closed"] if meta["closures"] else None,
        events=int(meta["events"]),
    )


def disclosures(
    store: Store,
    *,
    recipient_id: str | None = None,
    recipient_kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every disclosure, grouped by recipient and purpose: who received what, on which basis."""
    where, params = _window(since, until)
    if recipient_id:
        where += " AND recipient_id = {rid:String}"
        params["rid"] = recipient_id
    if recipient_kind:
        where += " AND recipient_kind = {rkind:String}"
        params["rkind"] = recipient_kind
    return _rows(
        store,
        "SELECT recipient_id, recipient_kind, purpose, "
        "arraySort(groupUniqArray(category)) AS categories, "
        "uniqExact(event_id) AS disclosures, uniqExact(subject_id) AS subjects, "
        "arraySort(groupUniqArray(basis)) AS bases, "
        "uniqExactIf(event_id, decision = 'violation') AS violations, "
        "min(occurred_at) AS first_at, max(occurred_at) AS last_at "
        "FROM {db}.lineage WHERE kind = 'disclosure'" + where + " "
        "GROUP BY recipient_id, recipient_kind, purpose "
        "ORDER BY violations DESC, disclosures DESC, recipient_id",
        params,
    )


def violations(
    store: Store,
    *,
    reason: str | None = None,
    severity: str | None = None,
    subject_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts (one per violation), newest first, filtered."""
    where, params = _window(since, until)
    if reason:
        where += " AND has(reasons, {reason:String})"
        params["reason"] = reason
    if severity:
        where += " AND severity = {severity:String}"
        params["severity"] = severity
    if subject_id:
        where += " AND subject_id = {s:String}"
        params["s"] = subject_id
    params["limit"] = int(limit)
    return _rows(
        store,
        "SELECT alert_id, severity, reason, reasons, event_id, subject_id, kind, occurred_at, "
        "categories, purpose, recipient_id, recipient_kind, policy_version, summary "
        "FROM {db}.alerts WHERE 1" + where + " "
        "ORDER BY multiIf(severity = 'critical', 0, severity = 'high', 1, "
        "severity = 'medium', 2, 3), occurred_at DESC LIMIT {limit:UInt32}",
        params,
    )


def alert_summary(store: Store) -> list[dict[str, Any]]:
    """Alerts counted by severity and reason."""
    return _rows(
        store,
        "SELECT severity, reason, count() AS alerts, uniqExact(subject_id) AS subjects, "
        "min(occurred_at) AS first_at, max(occurred_at) AS last_at "
        "FROM {db}.alerts GROUP BY severity, reason "
        "ORDER BY multiIf(severity = 'critical', 0, severity = 'high', 1, "
        "severity = 'medium', 2, 3), alerts DESC",
    )


def totals(store: Store) -> dict[str, Any]:
    """Counts per decision and per kind: the store at a glance (from the daily aggregates)."""
    by_decision: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for r in _rows(
        store,
        "SELECT kind, decision, sum(events) AS n FROM {db}.daily WHERE first_reason "
        "GROUP BY kind, decision",
    ):
        by_decision[r["decision"]] = by_decision.get(r["decision"], 0) + int(r["n"])
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + int(r["n"])
    dead = _rows(store, "SELECT count() AS n FROM {db}.dead_letters FINAL")[0]["n"]
    subjects = _rows(store, "SELECT uniqExact(subject_id) AS n FROM {db}.events")[0]["n"]
    return {
        "events": sum(by_kind.values()),
        "subjects": int(subjects),
        "by_decision": dict(sorted(by_decision.items())),
        "by_kind": dict(sorted(by_kind.items())),
        "dead_letters": int(dead),
    }


def retention_overdue(
    store: Store,
    *,
    after_closure: timedelta | Callable[[datetime], timedelta],
    now: datetime | None = None,
    partitions: Mapping[str, Sequence[int]] | None = None,
) -> list[dict[str, Any]]:
    """Closed accounts whose collected categories were not deleted in time (section F).

    With ``partitions`` (topic -> partitions), only the subjects whose events
    are in those partitions are judged (the retention monitor passes the
    partitions its consumer has caught up with).

    One row per subject and category whose deletion deadline (account closure
    + ``after_closure``, or ``after_closure(closed_at)``: the retention of the
    policy version in force at the closure) has passed without a deletion
    event covering it in time (a deletion of a family, e.g. ``account``, covers
    its members). A late deletion is still reported, with its date.
    """
    now = now or datetime.now(UTC)
    period = after_closure if callable(after_closure) else (lambda _at: after_closure)
    where, params = _partitions_clause(partitions)
    closed = _rows(
        store,
        "SELECT subject_id, min(occurred_at) AS closed_at FROM {db}.consents "
        "WHERE action = 'closed'" + where + " GROUP BY subject_id",
        params,
    )
    if not closed:
        return []
    subjects = [r["subject_id"] for r in closed]
    collected = _rows(
        store,
        "SELECT subject_id, category, max(occurred_at) AS last_collected_at "
        "FROM {db}.lineage WHERE kind = 'collection' AND subject_id IN {ids:Array(String)} "
        "GROUP BY subject_id, category",
        {"ids": subjects},
    )
    deleted = _rows(
        store,
        "SELECT subject_id, category, max(occurred_at) AS deleted_at "
        "FROM {db}.lineage WHERE kind = 'deletion' AND subject_id IN {ids:Array(String)} "
        "GROUP BY subject_id, category",
        {"ids": subjects},
    )
    deletions: dict[str, list[tuple[str, datetime]]] = {}
    for row in deleted:
        deletions.setdefault(row["subject_id"], []).append((row["category"], row["deleted_at"]))
    closed_at = {r["subject_id"]: r["closed_at"] for r in closed}
    overdue: list[dict[str, Any]] = []
    for row in collected:
        subject, category = row["subject_id"], row["category"]
        deadline = closed_at[subject] + period(closed_at[subject])
        done = [at for family, at in deletions.get(subject, []) if within(category, family)]
        deleted_in_time = any(at <= deadline for at in done)
        if deleted_in_time or now <= deadline:
            continue
        overdue.append(
            {
                "subject_id": subject,
                "category": category,
                "closed_at": closed_at[subject],
                "deadline": deadline,
                "deleted_at": min(done) if done else None,
                "days_overdue": ((min(done) if done else now) - deadline).days,
            }
        )
    overdue.sort(key=lambda r: (-r["days_overdue"], r["subject_id"], r["category"]))
    return overdue


def _partitions_clause(
    partitions: Mapping[str, Sequence[int]] | None,
) -> tuple[str, dict[str, Any]]:
    """`` AND (topic, partition) in ...`` for a consents/events query; None: no restriction."""
    if partitions is None:
        return "", {}
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for i, (topic, ps) in enumerate(sorted(partitions.items())):
        clauses.append(f"(topic = {{t{i}:String}} AND partition IN {{p{i}:Array(Int32)}})")
        params[f"t{i}"], params[f"p{i}"] = topic, list(ps)
    return " AND (" + (" OR ".join(clauses) or "0") + ")", params


def deletions_of(store: Store, subject_ids: Sequence[str]) -> dict[str, list[tuple[str, datetime]]]:
    """Each subject's deletions: (category or family deleted, latest deletion time)."""
    if not subject_ids:
        return {}
    out: dict[str, list[tuple[str, datetime]]] = {}
    for row in _rows(
        store,
        "SELECT subject_id, category, max(occurred_at) AS deleted_at "
        "FROM {db}.lineage WHERE kind = 'deletion' AND subject_id IN {ids:Array(String)} "
        "GROUP BY subject_id, category",
        {"ids": list(subject_ids)},
    ):
        out.setdefault(row["subject_id"], []).append((row["category"], row["deleted_at"]))
    return out


def existing_alert_ids(store: Store, ids: Sequence[str]) -> set[str]:
    """Which of these alert ids the store already holds (so a monitor raises each once)."""
    if not ids:
        return set()
    rows = _rows(
        store,
        "SELECT DISTINCT alert_id FROM {db}.alerts WHERE alert_id IN {ids:Array(String)}",
        {"ids": list(ids)},
    )
    return {r["alert_id"] for r in rows}


def subjects_with_violations(store: Store, limit: int = 10) -> Sequence[dict[str, Any]]:
    """The subjects with the most violations (for triage and for the demo's report)."""
    return _rows(
        store,
        "SELECT subject_id, count() AS violations, "
        "countIf(reason = 'disclosure_without_consent') AS without_consent "
        "FROM {db}.alerts GROUP BY subject_id "
        "ORDER BY without_consent DESC, violations DESC, subject_id LIMIT {n:UInt32}",
        {"n": limit},
    )


def consent_ledger(
    store: Store, topic: str, partitions: Sequence[int]
) -> Iterator[tuple[int, str, str, str, datetime]]:
    """The consent ledger of these partitions' subjects, in stream order.

    ``(partition, subject_id, scope, action, occurred_at)`` with ``action`` one of
    granted, withdrawn, closed (an account closure). A consumer replays these
    into its evaluator when it is assigned the partitions, so consent is judged
    exactly as before a restart or a rebalance. Read from the derived consent
    table (a few columns of the few state-changing events), never from the
    whole log.
    """
    if not partitions:
        return
    columns = store.query_columns(
        "SELECT partition, subject_id, scope, action, occurred_at FROM {db}.consents "
        "WHERE topic = {t:String} AND partition IN {ps:Array(Int32)} "
        "ORDER BY partition, seq",
        {"t": topic, "ps": list(partitions)},
        width=5,
    )
    for p, subject, scope, action, at in zip(*columns, strict=True):
        yield int(p), subject, scope, action, _utc(at)


def alerts_of_events(store: Store, event_ids: Sequence[str]) -> list[AlertRow]:
    """The alerts the store holds for these events (to publish again after a crash)."""
    rows = _rows(
        store,
        "SELECT alert_id, event_id, subject_id, kind, occurred_at, severity, reason, reasons, "
        "categories, purpose, recipient_id, recipient_kind, policy_version, summary "
        "FROM {db}.alerts WHERE event_id IN {ids:Array(String)} ORDER BY occurred_at, alert_id",
        {"ids": list(event_ids)},
    )
    return [
        AlertRow(**{**r, "reasons": tuple(r["reasons"]), "categories": tuple(r["categories"])})
        for r in rows
    ]


def stored_event_ids(store: Store, ids: Sequence[str]) -> set[str]:
    """Which of these event ids the event log already holds (a producer's re-send)."""
    if not ids:
        return set()
    columns = store.query_columns(
        "SELECT event_id FROM {db}.events WHERE event_id IN {ids:Array(String)}",
        {"ids": list(ids)},
        width=1,
    )
    return set(columns[0])


def verdicts(store: Store, event_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The verdict of each stored event (or of these events), in stream order."""
    where, params = "", {}
    if event_ids is not None:
        where, params = " WHERE event_id IN {ids:Array(String)}", {"ids": list(event_ids)}
    return _rows(
        store,
        "SELECT event_id, kind, occurred_at, decision, basis, reasons, policy_version "
        "FROM {db}.events" + where + " ORDER BY topic, partition, seq",
        params,
    )


def dead_letters(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """Messages that could not be decoded or validated, with why and where from."""
    return _rows(
        store,
        "SELECT topic, partition, offset, reason, detail, intDiv(length(payload), 2) AS bytes, "
        "received_at FROM {db}.dead_letters FINAL ORDER BY received_at DESC, partition, offset "
        "LIMIT {n:UInt32}",
        {"n": limit},
    )
