"""``jejak store`` (create, inspect) and ``jejak query`` (the compliance questions).

Thin adapters over :mod:`jejak.lineage.store.queries`: no SQL here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from jejak.lineage.store import Store, connect
from jejak.lineage.store import queries as q
from jejak.lineage.store.schema import TABLES, migrate
from jejak.output import Format, format_option, render
from jejak.settings import Settings


def _open(database: str | None) -> Store:
    settings = Settings.from_env()
    store = connect(settings.store, database)
    migrate(store)
    return store


database_option = click.option(
    "--database", default=None, help="ClickHouse database [JEJAK_STORE__DATABASE, default jejak]."
)
since_option = click.option(
    "--since", type=click.DateTime(), default=None, help="From this time (UTC), e.g. 2026-05-01."
)
until_option = click.option(
    "--until", type=click.DateTime(), default=None, help="Before this time (UTC)."
)


def _utc(value: datetime | None) -> datetime | None:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@click.group("store")
def store() -> None:
    """The lineage store: JEJAK_STORE__DSN (chdb:///path or http(s)://...)."""


@store.command("init")
@database_option
def init(database: str | None) -> None:
    """Create the database and tables (safe to run again)."""
    with _open(database) as s:
        click.echo(f"store ready: {s.redacted_dsn} database {s.database} ({', '.join(TABLES)})")


@store.command("ddl")
@click.option("--database", default="jejak", show_default=True)
@click.option("--cluster", default=None, help="Replicated tables ON CLUSTER this cluster.")
def ddl_cmd(database: str, cluster: str | None) -> None:
    """Print the CREATE statements (for a DBA to review, or for a replicated cluster)."""
    from jejak.lineage.store.client import check_identifier
    from jejak.lineage.store.schema import ddl

    check_identifier(database)
    on_cluster = f" ON CLUSTER {check_identifier(cluster)}" if cluster else ""
    click.echo(f"CREATE DATABASE IF NOT EXISTS {database}{on_cluster};\n")
    for table in TABLES:
        click.echo(ddl(database, table, cluster) + ";\n")


@store.command("stats")
@database_option
@format_option
def stats(database: str | None, fmt: Format) -> None:
    """Events, subjects, decisions and dead letters at a glance."""
    with _open(database) as s:
        t = q.totals(s)
    rows: list[dict[str, Any]] = [
        {"what": "events", "count": t["events"]},
        {"what": "subjects", "count": t["subjects"]},
        {"what": "dead letters", "count": t["dead_letters"]},
        *({"what": f"decision {k}", "count": v} for k, v in sorted(t["by_decision"].items())),
        *({"what": f"kind {k}", "count": v} for k, v in sorted(t["by_kind"].items())),
    ]
    render(rows, fmt, title="lineage store")


@click.group("query")
def query() -> None:
    """Ask the lineage store the compliance questions."""


@query.command("subject")
@click.argument("subject_id")
@click.option(
    "--raw",
    is_flag=True,
    help="SUBJECT_ID is a raw id: pseudonymise it with JEJAK_SDK__PSEUDONYMIZATION_KEY first.",
)
@database_option
@click.option("--json", "as_json", is_flag=True, help="JSON for machines.")
def subject(subject_id: str, raw: bool, database: str | None, as_json: bool) -> None:
    """Everything about one data subject: collected, used, disclosed, consents, violations."""
    if raw:
        from jejak.schemas.pseudonym import pseudonymize

        subject_id = pseudonymize(subject_id, Settings.from_env().sdk.pseudonymization_key)
    with _open(database) as s:
        report = q.subject_report(s, subject_id)
    if as_json:
        import json

        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    print_subject_report(report)


def print_subject_report(report: q.SubjectReport) -> None:
    closed = report.account_closed_at
    click.echo(
        f"Subject {report.subject_id}: {report.events} events"
        + (f", account closed {closed:%Y-%m-%d %H:%M} UTC" if closed else "")
    )
    render(
        report.collected,
        columns=[
            "category",
            "source",
            "source_partner",
            "times",
            "first_at",
            "last_at",
            "bases",
            "violations",
        ],
        title="What was collected",
    )
    render(
        report.used,
        columns=["purpose", "categories", "times", "bases", "violations"],
        title="What it was used for",
    )
    render(
        report.disclosed,
        columns=[
            "recipient_id",
            "recipient_kind",
            "purpose",
            "categories",
            "times",
            "bases",
            "violations",
        ],
        title="Who received it",
    )
    render(
        report.consents, columns=["scope", "action", "since"], title="Consents (latest per scope)"
    )
    render(report.deleted, columns=["category", "deleted_at"], title="Deleted")
    render(
        report.violations,
        columns=["occurred_at", "event_id", "kind", "reasons", "policy_version"],
        title="Violations",
        empty="(none)",
    )


@query.command("disclosures")
@click.option("--recipient", default=None, help="Only this recipient id.")
@click.option("--recipient-kind", default=None, help="Only this recipient kind, e.g. data_broker.")
@since_option
@until_option
@database_option
@format_option
def disclosures_cmd(
    recipient: str | None,
    recipient_kind: str | None,
    since: datetime | None,
    until: datetime | None,
    database: str | None,
    fmt: Format,
) -> None:
    """Who received what, for which purpose, on which basis."""
    with _open(database) as s:
        rows = q.disclosures(
            s,
            recipient_id=recipient,
            recipient_kind=recipient_kind,
            since=_utc(since),
            until=_utc(until),
        )
    render(rows, fmt, title="Disclosures by recipient")


@query.command("violations")
@click.option(
    "--reason", default=None, help="Only this reason code, e.g. disclosure_without_consent."
)
@click.option("--severity", default=None, type=click.Choice(["critical", "high", "medium", "low"]))
@click.option("--subject", default=None, help="Only this (pseudonymous) subject.")
@click.option("--limit", default=50, show_default=True)
@since_option
@until_option
@database_option
@format_option
def violations_cmd(
    reason: str | None,
    severity: str | None,
    subject: str | None,
    limit: int,
    since: datetime | None,
    until: datetime | None,
    database: str | None,
    fmt: Format,
) -> None:
    """Alerts raised on violations, most severe first."""
    with _open(database) as s:
        rows = q.violations(
            s,
            reason=reason,
            severity=severity,
            subject_id=subject,
            since=_utc(since),
            until=_utc(until),
            limit=limit,
        )
    render(
        rows,
        fmt,
        columns=[
            "severity",
            "reason",
            "occurred_at",
            "subject_id",
            "kind",
            "recipient_id",
            "summary",
        ]
        if fmt == "table"
        else None,
        title="Violations",
        empty="(none)",
    )


@query.command("alerts")
@database_option
@format_option
def alerts_cmd(database: str | None, fmt: Format) -> None:
    """Alerts counted by severity and reason."""
    with _open(database) as s:
        rows = q.alert_summary(s)
    render(rows, fmt, title="Alerts by severity and reason", empty="(no alerts)")


@query.command("dead-letters")
@click.option("--limit", default=50, show_default=True)
@database_option
@format_option
def dead_letters_cmd(limit: int, database: str | None, fmt: Format) -> None:
    """Messages the consumer could not decode or validate, with why and where from."""
    with _open(database) as s:
        rows = q.dead_letters(s, limit=limit)
    render(rows, fmt, title="Dead letters", empty="(none)")


@query.command("retention")
@click.option(
    "--days",
    type=int,
    default=None,
    help="Deadline after closure (default: the retention of the policy in force at the closure).",
)
@click.option(
    "--raise",
    "raise_alerts",
    is_flag=True,
    help="Record a retention_overdue alert for each new finding (the monitor, on demand).",
)
@database_option
@format_option
def retention_cmd(days: int | None, raise_alerts: bool, database: str | None, fmt: Format) -> None:
    """Closed accounts whose data was not deleted in time (section F).

    The deadline is the closure plus the retention of the policy version in
    force at the closure (JEJAK_POLICY__PATH), unless --days says otherwise.
    """
    from jejak.lineage.policy import load_policies
    from jejak.lineage.store import retention

    policies = load_policies(Settings.from_env().policy.path)
    with _open(database) as s:
        if days is not None:
            rows = q.retention_overdue(s, after_closure=timedelta(days=days))
        else:
            rows = q.retention_overdue(
                s, after_closure=lambda at: retention.retention_period(policies, at)[0]
            )
        render(rows, fmt, title="Retention overdue", empty="(none)")
        if raise_alerts:
            alerts = retention.retention_alerts(s, policies)
            retention.record(s, alerts)
            click.echo(f"{len(alerts)} new retention_overdue alert(s) recorded", err=True)
