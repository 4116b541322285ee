"""The workspace's records in the store: tokens, the access log, alert triage, request cases.

Nothing here gets a table of its own. Each is a **journal record**
(:data:`~jejak.lineage.store.tables.JOURNAL`), so it is chained, signed with
the journal's checkpoints, verified by ``jejak verify`` and reached by
``jejak erase`` like every other record jejak makes itself:

==================  ==========================  ==========================================
record_kind         subject_id                  body (names no personal value)
==================  ==========================  ==========================================
``token_created``   ''                          name, role, SHA-256 of the token, by
``token_revoked``   ''                          name, by
``access``          the subject read            token, role, endpoint, reason, request ref
``triage``          the alert's subject         alert (``{subject}`` for the subject id in
                                                it), status, comment, assignee, author, role
``request``         the request's subject       request, request_ref, status, author
==================  ==========================  ==========================================

The subject of a record is only ever in ``subject_id`` (behind the row's
salted commitment, blanked by an erasure), never in ``body``. An alert id
that contains the subject id (the retention monitor's do) is stored with the
subject replaced by ``{subject}`` and rebuilt on reading, so after an erasure
the triage record no longer points at the person.

Current states are derived, never updated: a token is valid from its
``token_created`` to its ``token_revoked``; an alert's status is that of its
latest ``triage`` record (none, or ``reopened``: ``open``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.client import Store
from jejak.lineage.store.writer import JournalRecord, append_journal, new_record_id

TOKEN_CREATED = "token_created"
TOKEN_REVOKED = "token_revoked"
ACCESS = "access"
TRIAGE = "triage"
REQUEST = "request"
SUBJECT_MARK = "{subject}"
"""Stands for the record's subject id inside a body value (an alert id that names it)."""

SEVERITY_ORDER_SQL = (
    "multiIf(severity = 'critical', 0, severity = 'high', 1, severity = 'medium', 2, 3)"
)


def record(
    store: Store,
    kind: str,
    body: dict[str, Any],
    *,
    subject_id: str = "",
    at: datetime | None = None,
    checkpointer: Checkpointer | None = None,
) -> str:
    """Chain one workspace record into the journal; returns its record id."""
    rec = JournalRecord(
        kind,
        new_record_id(kind),
        body,
        subject_id=subject_id,
        recorded_at=at or datetime.now(UTC),
    )
    return append_journal(store, [rec], checkpointer)[0]


def _journal(
    store: Store, kinds: Sequence[str], where: str = "", params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    rows = store.rows(
        "SELECT record_id, record_kind, recorded_at, subject_id, body FROM {db}.journal "
        "WHERE record_kind IN {kinds:Array(String)}" + where + " ORDER BY seq",
        {"kinds": list(kinds), **(params or {})},
    )
    for r in rows:
        r["body"] = json.loads(r["body"]) if r["body"] else {}
    return rows


# -- tokens ------------------------------------------------------------------------------------


def token_records(store: Store) -> list[dict[str, Any]]:
    """Every token record, oldest first (few: one per creation and revocation)."""
    return _journal(store, (TOKEN_CREATED, TOKEN_REVOKED))


# -- the access log ----------------------------------------------------------------------------


def access_log(
    store: Store,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    subject_id: str | None = None,
    token: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Who read which subject, when, through which endpoint and why; newest first."""
    where, params = "", dict[str, Any]()
    if since is not None:
        where += " AND recorded_at >= {since:DateTime64(3, 'UTC')}"
        params["since"] = since
    if until is not None:
        where += " AND recorded_at < {until:DateTime64(3, 'UTC')}"
        params["until"] = until
    if subject_id:
        where += " AND subject_id = {s:String}"
        params["s"] = subject_id
    if token:
        where += " AND JSONExtractString(body, 'token') = {tok:String}"
        params["tok"] = token
    params["limit"] = int(limit)
    rows = store.rows(
        "SELECT record_id, recorded_at AS at, subject_id, body FROM {db}.journal "
        "WHERE record_kind = 'access'" + where + " ORDER BY seq DESC LIMIT {limit:UInt32}",
        params,
    )
    out = []
    for r in rows:
        body = json.loads(r["body"])
        out.append(
            {
                "record_id": r["record_id"],
                "at": r["at"],
                "token": body.get("token", ""),
                "role": body.get("role", ""),
                "endpoint": body.get("endpoint", ""),
                "subject_id": r["subject_id"],
                "reason": body.get("reason", ""),
            }
        )
    return out


# -- alerts and their triage -------------------------------------------------------------------

_TRIAGE_STATE = (
    "SELECT replaceAll(JSONExtractString(body, 'alert'), {mark:String}, subject_id) AS alert_id, "
    "argMax(JSONExtractString(body, 'status'), seq) AS last_status, "
    "argMax(JSONExtractString(body, 'assignee'), seq) AS last_assignee, "
    "argMax(JSONExtractString(body, 'author'), seq) AS last_author, "
    "max(recorded_at) AS changed_at, count() AS changes "
    "FROM {db}.journal WHERE record_kind = 'triage' GROUP BY alert_id"
)

_ALERT_COLUMNS = (
    "a.alert_id AS alert_id, a.severity AS severity, a.reason AS reason, a.reasons AS reasons, "
    "a.event_id AS event_id, a.subject_id AS subject_id, a.kind AS kind, "
    "a.occurred_at AS occurred_at, a.categories AS categories, a.purpose AS purpose, "
    "a.recipient_id AS recipient_id, a.recipient_kind AS recipient_kind, "
    "a.policy_version AS policy_version, a.summary AS summary, a.origin AS origin"
)


def alerts(
    store: Store,
    *,
    reason: str | None = None,
    severity: str | None = None,
    subject_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
    alert_id: str | None = None,
    recipient_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts with their triage status (derived from the latest triage record), most severe first."""
    where, params = "", dict[str, Any](mark=SUBJECT_MARK)
    for column, value, kind in (
        ("a.severity", severity, "String"),
        ("a.subject_id", subject_id, "String"),
        ("a.alert_id", alert_id, "String"),
        ("a.recipient_id", recipient_id, "String"),
    ):
        if value:
            name = column.removeprefix("a.")
            where += f" AND {column} = {{{name}:{kind}}}"
            params[name] = value
    if reason:
        where += " AND has(a.reasons, {reason:String})"
        params["reason"] = reason
    if since is not None:
        where += " AND a.occurred_at >= {since:DateTime64(3, 'UTC')}"
        params["since"] = since
    if until is not None:
        where += " AND a.occurred_at < {until:DateTime64(3, 'UTC')}"
        params["until"] = until
    outer = ""
    if status:
        outer = " WHERE status = {status:String}"
        params["status"] = status
    params["limit"] = int(limit)
    return store.rows(
        f"SELECT * FROM (SELECT {_ALERT_COLUMNS}, "
        "if(t.last_status IN ('', 'reopened'), 'open', t.last_status) AS status, "
        "t.last_assignee AS assignee, t.changes AS status_changes "
        f"FROM {{db}}.alerts AS a LEFT JOIN ({_TRIAGE_STATE}) AS t ON a.alert_id = t.alert_id "
        f"WHERE 1{where}){outer} "
        f"ORDER BY {SEVERITY_ORDER_SQL}, occurred_at DESC, alert_id LIMIT {{limit:UInt32}}",
        params,
    )


def alert_counts(store: Store) -> list[dict[str, Any]]:
    """Alerts counted by severity, reason and triage status (no subject named)."""
    return store.rows(
        "SELECT a.severity AS severity, a.reason AS reason, "
        "if(t.last_status IN ('', 'reopened'), 'open', t.last_status) AS status, "
        "count() AS alerts, min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at "
        f"FROM {{db}}.alerts AS a LEFT JOIN ({_TRIAGE_STATE}) AS t ON a.alert_id = t.alert_id "
        "GROUP BY severity, reason, status "
        f"ORDER BY {SEVERITY_ORDER_SQL}, alerts DESC, reason, status",
        {"mark": SUBJECT_MARK},
    )


def triage_history(store: Store, alert_id: str) -> list[dict[str, Any]]:
    """Every status change of one alert, oldest first."""
    rows = store.rows(
        "SELECT record_id, recorded_at AS at, body FROM {db}.journal WHERE record_kind = 'triage' "
        "AND replaceAll(JSONExtractString(body, 'alert'), {mark:String}, subject_id) = {a:String} "
        "ORDER BY seq",
        {"mark": SUBJECT_MARK, "a": alert_id},
    )
    out = []
    for r in rows:
        body = json.loads(r["body"])
        body.pop("alert", None)
        out.append({"record_id": r["record_id"], "at": r["at"], **body})
    return out


# -- aggregates over time (no subject) ---------------------------------------------------------


def recipients_over_time(
    store: Store, *, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Disclosures per day, recipient, purpose and basis (from the daily aggregate)."""
    where, params = _days(since, until)
    return store.rows(
        "SELECT day, recipient_id, recipient_kind, purpose, basis, sum(disclosures) AS disclosures, "
        "sum(violations) AS violations FROM {db}.daily_disclosures WHERE 1" + where + " "
        "GROUP BY day, recipient_id, recipient_kind, purpose, basis "
        "ORDER BY day, recipient_id, purpose, basis",
        params,
    )


def clauses_over_time(
    store: Store, *, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Decisions per day, basis clause and reason (from the daily aggregate)."""
    where, params = _days(since, until)
    return store.rows(
        "SELECT day, kind, basis, reason, sum(events) AS events FROM {db}.daily_clauses "
        "WHERE 1" + where + " GROUP BY day, kind, basis, reason ORDER BY day, kind, basis, reason",
        params,
    )


def _days(since: datetime | None, until: datetime | None) -> tuple[str, dict[str, Any]]:
    where, params = "", dict[str, Any]()
    if since is not None:
        where += " AND day >= toDate({since:DateTime64(3, 'UTC')})"
        params["since"] = since
    if until is not None:
        where += " AND day < toDate({until:DateTime64(3, 'UTC')})"
        params["until"] = until
    return where, params


# -- data-subject request cases ----------------------------------------------------------------


REPORT_ENDPOINTS = ("subject_report", "subject_letter")
"""Workspace operations whose access-log record answers an access request (the report read)."""


def request_sources(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Everything a request case is made of, for :mod:`jejak.lineage.workspace.requests`.

    - ``events``: the ``subject_request`` events (``status`` '' means received);
    - ``records``: officers' ``request`` records in the journal;
    - ``reports``: subject reports read with a reason (an access request's answer);
    - ``erasures``: ``jejak erase`` runs with their request reference;
    - ``deletions``: deletion events that name a request reference;
    - ``withdrawals``: consents withdrawn, per subject.
    """
    events = store.rows(
        "SELECT event_id, subject_id, occurred_at, request, request_ref, action AS status "
        "FROM {db}.events WHERE kind = 'subject_request' ORDER BY occurred_at, topic, partition, seq",
    )
    records = [
        {
            "record_id": r["record_id"],
            "subject_id": r["subject_id"],
            "at": r["recorded_at"],
            **r["body"],
        }
        for r in _journal(store, (REQUEST,))
    ]
    reports = store.rows(
        "SELECT subject_id, recorded_at AS at, JSONExtractString(body, 'reason') AS reason "
        "FROM {db}.journal WHERE record_kind = 'access' "
        "AND JSONExtractString(body, 'endpoint') IN {endpoints:Array(String)}",
        {"endpoints": list(REPORT_ENDPOINTS)},
    )
    erasures = store.rows(
        "SELECT recorded_at AS at, JSONExtractString(body, 'request_ref') AS request_ref "
        "FROM {db}.journal WHERE record_kind = 'erasure'",
    )
    deletions = store.rows(
        "SELECT subject_id, occurred_at AS at, request_ref FROM {db}.events "
        "WHERE kind = 'deletion' AND request_ref != ''",
    )
    withdrawals = store.rows(
        "SELECT subject_id, occurred_at AS at, scope FROM {db}.consents WHERE action = 'withdrawn'",
    )
    return {
        "events": events,
        "records": records,
        "reports": reports,
        "erasures": erasures,
        "deletions": deletions,
        "withdrawals": withdrawals,
    }


def subject_exists(store: Store, subject_id: str) -> bool:
    rows = store.query(
        "SELECT count() AS n FROM {db}.events WHERE subject_id = {s:String}", {"s": subject_id}
    )
    return bool(rows and int(rows[0]["n"]))
