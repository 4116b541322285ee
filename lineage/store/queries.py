"""The compliance questions, answered from the lineage store.

The command line and the HTTP API are thin adapters over these functions; no
SQL lives outside the store package. The event log holds each event once (the
consumer skips what it already wrote), so reads need no ``FINAL``; the derived
tables are filled from it by ClickHouse (:mod:`jejak.lineage.store.tables`).
Every line of a subject report names the event ids it rests on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jejak.lineage.policy.taxonomy import within
from jejak.lineage.store import workspace
from jejak.lineage.store.client import Store, as_utc
from jejak.lineage.store.workspace import SEVERITY_ORDER_SQL
from jejak.lineage.store.writer import AlertRow
from jejak.schemas.models import format_timestamp


def plain(value: Any) -> Any:
    """JSON-ready: datetimes as the JSON form's timestamps, containers recursively."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


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


_SUBJECT_COLUMNS = (
    "event_id",
    "kind",
    "occurred_at",
    "data_categories",
    "source",
    "source_partner",
    "purpose",
    "recipient_id",
    "recipient_kind",
    "basis",
    "decision",
    "reasons",
    "policy_version",
    "scope",
    "action",
    "partition",
    "seq",
)


class _Line:
    """One line of a subject report being summed up: its events, categories, bases, times."""

    __slots__ = (
        "bases",
        "categories",
        "event_ids",
        "first_at",
        "last_at",
        "times",
        "violating",
        "violation_rows",
    )

    def __init__(self) -> None:
        self.categories: set[str] = set()
        self.event_ids: set[str] = set()
        self.violating: set[str] = set()
        self.bases: set[str] = set()
        self.times = 0  # rows (an event once per category)
        self.violation_rows = 0
        self.first_at: datetime | None = None
        self.last_at: datetime | None = None

    def add(self, event_id: str, at: datetime, basis: str, violation: bool) -> None:
        self.times += 1
        self.event_ids.add(event_id)
        self.bases.add(basis)
        if violation:
            self.violating.add(event_id)
            self.violation_rows += 1
        if self.first_at is None or at < self.first_at:
            self.first_at = at
        if self.last_at is None or at > self.last_at:
            self.last_at = at


def subject_report(store: Store, subject_id: str) -> SubjectReport:
    """What was collected about a person, what it was used for, who received it, on which basis.

    One read of the subject's rows of the event log (its sorting key starts
    with the subject id, so these are a few granules), summed up here: a
    subject has hundreds of events, not millions, and grouping them in Python
    costs less than the six further reads of the same granules that a query
    per section would make (measured: ``bench/bench_queries.py``). Each section
    is what the derived views would give: lineage lines are one per event and
    category (the ``lineage`` view's ``ARRAY JOIN``), consents are the ledger
    rows (kinds ``consent`` and ``policy_accepted``, the ``consents`` view).
    """
    cols = store.query_columns(
        f"SELECT {', '.join(_SUBJECT_COLUMNS)} FROM {{db}}.events WHERE subject_id = {{s:String}}",
        {"s": subject_id},
        width=len(_SUBJECT_COLUMNS),
    )
    collected: dict[tuple[str, str, str], _Line] = {}
    used: dict[str, _Line] = {}
    disclosed: dict[tuple[str, str, str], _Line] = {}
    deleted: dict[str, _Line] = {}
    consents: dict[str, list[tuple[tuple[datetime, int, int], str, str]]] = {}
    violations: list[dict[str, Any]] = []
    closed: datetime | None = None
    events = 0
    for (
        event_id,
        kind,
        occurred_at,
        categories,
        source,
        partner,
        purpose,
        recipient_id,
        recipient_kind,
        basis,
        decision,
        reasons,
        policy_version,
        scope,
        action,
        partition,
        seq,
    ) in zip(*cols, strict=True):
        events += 1
        at = as_utc(occurred_at)
        violation = decision == "violation"
        if violation:
            violations.append(
                {
                    "event_id": event_id,
                    "kind": kind,
                    "occurred_at": at,
                    "reasons": list(reasons),
                    "policy_version": policy_version,
                }
            )
        if kind == "collection":
            for category in categories:
                line = collected.get((category, source, partner))
                if line is None:
                    line = collected[(category, source, partner)] = _Line()
                line.add(event_id, at, basis, violation)
        elif kind == "use":
            line = used.get(purpose) or used.setdefault(purpose, _Line())
            for category in categories:
                line.categories.add(category)
                line.add(event_id, at, basis, violation)
        elif kind == "disclosure":
            key = (recipient_id, recipient_kind, purpose)
            line = disclosed.get(key) or disclosed.setdefault(key, _Line())
            for category in categories:
                line.categories.add(category)
                line.add(event_id, at, basis, violation)
        elif kind == "deletion":
            for category in categories:
                line = deleted.get(category) or deleted.setdefault(category, _Line())
                line.add(event_id, at, basis, violation)
        elif kind == "account_closed":
            closed = at if closed is None or at < closed else closed
        if kind in ("consent", "policy_accepted") and scope:
            consents.setdefault(scope, []).append(
                ((at, int(partition), int(seq)), action, event_id)
            )

    def shared(line: _Line) -> dict[str, Any]:
        return {
            "categories": sorted(line.categories),
            "times": len(line.event_ids),
            "last_at": line.last_at,
            "bases": sorted(line.bases),
            "violations": len(line.violating),
            "event_ids": sorted(line.event_ids),
        }

    def ledger(
        scope: str, rows: list[tuple[tuple[datetime, int, int], str, str]]
    ) -> dict[str, Any]:
        latest = max(rows, key=lambda r: r[0])
        return {
            "scope": scope,
            "action": latest[1],
            "since": latest[0][0],
            "event_ids": sorted(r[2] for r in rows),
        }

    violations.sort(key=lambda v: (v["occurred_at"], v["event_id"]))
    return SubjectReport(
        subject_id=subject_id,
        collected=[
            {
                "category": category,
                "source": source,
                "source_partner": partner,
                "times": line.times,
                "first_at": line.first_at,
                "last_at": line.last_at,
                "bases": sorted(line.bases),
                "violations": line.violation_rows,
                "event_ids": sorted(line.event_ids),
            }
            for (category, source, partner), line in sorted(collected.items())
        ],
        used=[{"purpose": purpose, **shared(line)} for purpose, line in sorted(used.items())],
        disclosed=[
            {"recipient_id": rid, "recipient_kind": rkind, "purpose": purpose, **shared(line)}
            for (rid, rkind, purpose), line in sorted(
                disclosed.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])
            )
        ],
        deleted=[
            {
                "category": category,
                "deleted_at": line.last_at,
                "event_ids": sorted(line.event_ids),
            }
            for category, line in sorted(deleted.items())
        ],
        consents=[ledger(scope, rows) for scope, rows in sorted(consents.items())],
        violations=violations,
        account_closed_at=closed,
        events=events,
    )


def disclosures(
    store: Store,
    *,
    recipient_id: str | None = None,
    recipient_kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every disclosure, grouped by recipient and purpose: who received what, on which basis.

    Read from the ``recipients`` aggregate (one row per recipient, purpose and
    subject, summed by ClickHouse as it merges), so the whole log is not
    scanned; the subjects' number is exact (one inner row per subject). A time
    window is not a key of the aggregate, so a windowed question reads the log
    instead (its monthly partitions outside the window are skipped). Every
    disclosure names at least one category, so events counted here are the
    ``lineage`` view's distinct event ids.
    """
    where, params = _window(since, until)
    filters = ""
    if recipient_id:
        filters += " AND recipient_id = {rid:String}"
        params["rid"] = recipient_id
    if recipient_kind:
        filters += " AND recipient_kind = {rkind:String}"
        params["rkind"] = recipient_kind
    if where:  # the log itself, within the window
        inner = (
            "SELECT recipient_id, recipient_kind, purpose, subject_id, count() AS n, "
            "countIf(decision = 'violation') AS v, min(occurred_at) AS f, "
            "max(occurred_at) AS l, groupUniqArrayArray(data_categories) AS cats, "
            "groupUniqArray(basis) AS bases FROM {db}.events WHERE kind = 'disclosure'"
            + where
            + filters
        )
    else:
        inner = (
            "SELECT recipient_id, recipient_kind, purpose, subject_id, sum(events) AS n, "
            "sum(violations) AS v, min(first_at) AS f, max(last_at) AS l, "
            "groupUniqArrayArray(categories) AS cats, groupUniqArrayArray(bases) AS bases "
            "FROM {db}.recipients WHERE kind = 'disclosure'" + filters
        )
    return store.rows(
        "SELECT recipient_id, recipient_kind, purpose, "
        "arraySort(groupUniqArrayArray(cats)) AS categories, "
        "sum(n) AS disclosures, count() AS subjects, "
        "arraySort(groupUniqArrayArray(bases)) AS bases, "
        "sum(v) AS violations, min(f) AS first_at, max(l) AS last_at "
        f"FROM ({inner} GROUP BY recipient_id, recipient_kind, purpose, subject_id) "
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
    """Alerts (one per violation), most severe first, then newest: the workspace's listing.

    One listing of alerts (:func:`jejak.lineage.store.workspace.alerts`, which
    adds each alert's triage status); this keeps the monitor's and the demo's
    calls short.
    """
    return workspace.alerts(
        store,
        reason=reason,
        severity=severity,
        subject_id=subject_id,
        since=since,
        until=until,
        limit=limit,
    )


def alert_summary(store: Store) -> list[dict[str, Any]]:
    """Alerts counted by severity and reason (from the alerts' ``by_reason`` projection)."""
    return store.rows(
        "SELECT severity, reason, sum(n) AS alerts, count() AS subjects, "
        "min(f) AS first_at, max(l) AS last_at "
        "FROM (SELECT severity, reason, subject_id, count() AS n, min(occurred_at) AS f, "
        "max(occurred_at) AS l FROM {db}.alerts GROUP BY severity, reason, subject_id) "
        f"GROUP BY severity, reason ORDER BY {SEVERITY_ORDER_SQL}, alerts DESC",
    )


def totals(store: Store) -> dict[str, Any]:
    """Counts per decision and per kind: the store at a glance (from the daily aggregates)."""
    by_decision: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for r in store.rows(
        "SELECT kind, decision, sum(events) AS n FROM {db}.daily WHERE first_reason "
        "GROUP BY kind, decision",
    ):
        by_decision[r["decision"]] = by_decision.get(r["decision"], 0) + int(r["n"])
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + int(r["n"])
    dead = store.rows("SELECT count() AS n FROM {db}.dead_letters FINAL")[0]["n"]
    # distinct subjects, exactly: the log's sorting key starts with the subject id, so
    # ClickHouse reads that one column in order (a distinct in order, no hash of the log)
    subjects = store.rows(
        "SELECT count() AS n FROM (SELECT DISTINCT subject_id FROM {db}.events)",
    )[0]["n"]
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
    closed = store.rows(
        "SELECT subject_id, min(occurred_at) AS closed_at FROM {db}.consents "
        "WHERE action = 'closed'" + where + " GROUP BY subject_id",
        params,
    )
    if not closed:
        return []
    subjects = [r["subject_id"] for r in closed]
    collected = store.rows(
        "SELECT subject_id, category, max(occurred_at) AS last_collected_at "
        "FROM {db}.lineage WHERE kind = 'collection' AND subject_id IN {ids:Array(String)} "
        "GROUP BY subject_id, category",
        {"ids": subjects},
    )
    deleted = store.rows(
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
    for row in store.rows(
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
    rows = store.rows(
        "SELECT DISTINCT alert_id FROM {db}.alerts WHERE alert_id IN {ids:Array(String)}",
        {"ids": list(ids)},
    )
    return {r["alert_id"] for r in rows}


def subjects_with_violations(store: Store, limit: int = 10) -> Sequence[dict[str, Any]]:
    """The subjects with the most violations (for triage and for the demo's report)."""
    return store.rows(
        "SELECT subject_id, count() AS violations, "
        "countIf(reason = 'disclosure_without_consent') AS without_consent "
        "FROM {db}.alerts GROUP BY subject_id "
        "ORDER BY without_consent DESC, violations DESC, subject_id LIMIT {n:UInt32}",
        {"n": limit},
    )


def alerts_of_events(store: Store, event_ids: Sequence[str]) -> list[AlertRow]:
    """The alerts the store holds for these events (to publish again after a crash)."""
    rows = store.rows(
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
        "SELECT event_id FROM {db}.events WHERE event_id IN {@ids}", width=1, strings={"ids": ids}
    )
    return set(columns[0])


def verdicts(store: Store, event_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The verdict of each stored event (or of these events), in stream order."""
    where, params = "", {}
    if event_ids is not None:
        where, params = " WHERE event_id IN {ids:Array(String)}", {"ids": list(event_ids)}
    return store.rows(
        "SELECT event_id, kind, occurred_at, decision, basis, reasons, policy_version "
        "FROM {db}.events" + where + " ORDER BY topic, partition, seq",
        params,
    )


def dead_letters(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """Messages that could not be decoded or validated, with why and where from."""
    return store.rows(
        "SELECT topic, partition, offset, reason, detail, intDiv(length(payload), 2) AS bytes, "
        "received_at FROM {db}.dead_letters FINAL ORDER BY received_at DESC, partition, offset "
        "LIMIT {n:UInt32}",
        {"n": limit},
    )
