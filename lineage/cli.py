"""``jejak query`` (the compliance questions) and ``jejak serve`` (the query API and web page).

Thin adapters over :mod:`jejak.lineage.service`: the same answers whether the
store is opened here or asked through a running jejak process's API
(``--api URL`` or ``JEJAK_API__URL``) — the way to query an embedded chDB store
while a consumer holds it.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from jejak.errors import StoreError
from jejak.lineage.service import LocalQueries, QueryService, RemoteQueries
from jejak.output import Format, format_option, render
from jejak.settings import Settings


@contextmanager
def open_service(database: str | None, api: str | None) -> Iterator[QueryService]:
    """The API if one is named, else the store itself; a held chDB store says what to do."""
    settings = Settings.from_env()
    url = api or settings.api.url
    if url:
        if database:
            click.echo("note: --database is ignored with --api (the API serves its own)", err=True)
        yield RemoteQueries(url)
        return
    from jejak.lineage.policy import load_policies
    from jejak.lineage.store import connect, migrate

    try:
        store = connect(settings.store, database)
    except StoreError as exc:
        if store_is_held(exc):
            raise click.ClickException(
                f"the embedded store {settings.store.redacted_dsn} is held by another jejak "
                "process (a running consumer: chDB allows one process per data folder). "
                f"Ask that process instead: --api http://{settings.api.host}:{settings.api.port} "
                "(or set JEJAK_API__URL)."
            ) from None
        raise
    with store:
        migrate(store)
        yield LocalQueries(store, load_policies(settings.policy.path))


def store_is_held(exc: StoreError) -> bool:
    text = str(exc)
    return "chdb" in text and ("EmbeddedServer" in text or "lock" in text.lower())


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


database_option = click.option(
    "--database", default=None, help="ClickHouse database [JEJAK_STORE__DATABASE, default jejak]."
)
api_option = click.option(
    "--api",
    default=None,
    metavar="URL",
    help="Ask a running jejak process (jejak consume / jejak serve) [JEJAK_API__URL].",
)
since_option = click.option(
    "--since", type=click.DateTime(), default=None, help="From this time (UTC), e.g. 2026-05-01."
)
until_option = click.option(
    "--until", type=click.DateTime(), default=None, help="Before this time (UTC)."
)


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
@api_option
@click.option("--json", "as_json", is_flag=True, help="JSON for machines.")
def subject(
    subject_id: str, raw: bool, database: str | None, api: str | None, as_json: bool
) -> None:
    """Everything about one data subject: collected, used, disclosed, consents, violations."""
    if raw:
        from jejak.schemas.pseudonym import pseudonymize

        subject_id = pseudonymize(subject_id, Settings.from_env().sdk.pseudonymization_key)
    with open_service(database, api) as service:
        report = service.subject(subject_id)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    print_subject_report(report)


def print_subject_report(report: dict[str, Any]) -> None:
    closed = report.get("account_closed_at")
    click.echo(
        f"Subject {report['subject_id']}: {report['events']} events"
        + (f", account closed {closed}" if closed else "")
    )
    render(
        report["collected"],
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
        report["used"],
        columns=["purpose", "categories", "times", "bases", "violations"],
        title="What it was used for",
    )
    render(
        report["disclosed"],
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
        report["consents"],
        columns=["scope", "action", "since"],
        title="Consents (latest per scope)",
    )
    render(report["deleted"], columns=["category", "deleted_at"], title="Deleted")
    render(
        report["violations"],
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
@api_option
@format_option
def disclosures_cmd(
    recipient: str | None,
    recipient_kind: str | None,
    since: datetime | None,
    until: datetime | None,
    database: str | None,
    api: str | None,
    fmt: Format,
) -> None:
    """Who received what, for which purpose, on which basis."""
    with open_service(database, api) as service:
        rows = service.disclosures(
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
@api_option
@format_option
def violations_cmd(
    reason: str | None,
    severity: str | None,
    subject: str | None,
    limit: int,
    since: datetime | None,
    until: datetime | None,
    database: str | None,
    api: str | None,
    fmt: Format,
) -> None:
    """Alerts raised on violations, most severe first."""
    with open_service(database, api) as service:
        rows = service.violations(
            reason=reason,
            severity=severity,
            subject_id=subject,
            since=_utc(since),
            until=_utc(until),
            limit=limit,
        )
    columns = ["severity", "reason", "occurred_at", "subject_id", "kind", "recipient_id", "summary"]
    render(
        rows, fmt, columns=columns if fmt == "table" else None, title="Violations", empty="(none)"
    )


@query.command("alerts")
@database_option
@api_option
@format_option
def alerts_cmd(database: str | None, api: str | None, fmt: Format) -> None:
    """Alerts counted by severity and reason."""
    with open_service(database, api) as service:
        rows = service.alerts()
    render(rows, fmt, title="Alerts by severity and reason", empty="(no alerts)")


@query.command("dead-letters")
@click.option("--limit", default=50, show_default=True)
@database_option
@api_option
@format_option
def dead_letters_cmd(limit: int, database: str | None, api: str | None, fmt: Format) -> None:
    """Messages the consumer could not decode or validate, with why and where from."""
    with open_service(database, api) as service:
        rows = service.dead_letters(limit)
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
    help="Record a retention_overdue alert for each new finding (the monitor, on demand; not with --api).",
)
@database_option
@api_option
@format_option
def retention_cmd(
    days: int | None, raise_alerts: bool, database: str | None, api: str | None, fmt: Format
) -> None:
    """Closed accounts whose data was not deleted in time (section F).

    The deadline is the closure plus the retention of the policy version in
    force at the closure (JEJAK_POLICY__PATH), unless --days says otherwise.
    """
    with open_service(database, api) as service:
        render(service.retention(days), fmt, title="Retention overdue", empty="(none)")
        if raise_alerts:
            if not isinstance(service, LocalQueries):
                raise click.ClickException("--raise writes to the store: run it where the store is")
            from jejak.lineage.store import retention

            alerts = retention.retention_alerts(service.store, service.policies)
            retention.record(service.store, alerts)
            click.echo(f"{len(alerts)} new retention_overdue alert(s) recorded", err=True)


@query.command("stats")
@database_option
@api_option
@format_option
def stats_cmd(database: str | None, api: str | None, fmt: Format) -> None:
    """Events, subjects, decisions and dead letters at a glance."""
    with open_service(database, api) as service:
        t = service.stats()
    rows: list[dict[str, Any]] = [
        {"what": "events", "count": t["events"]},
        {"what": "subjects", "count": t["subjects"]},
        {"what": "dead letters", "count": t["dead_letters"]},
        *({"what": f"decision {k}", "count": v} for k, v in sorted(t["by_decision"].items())),
        *({"what": f"kind {k}", "count": v} for k, v in sorted(t["by_kind"].items())),
    ]
    render(rows, fmt, title="lineage store")


@click.command("serve")
@click.option("--host", default=None, help="Listen address [JEJAK_API__HOST, default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [JEJAK_API__PORT, default 8765].")
@database_option
def serve(host: str | None, port: int | None, database: str | None) -> None:
    """Serve the query API and the web page over the store (read-only), until Ctrl-C.

    No authentication of its own: keep it on 127.0.0.1, or behind the company's
    authenticating proxy. `jejak consume` serves the same API itself.
    """
    from jejak.lineage.api import QueryServer

    settings = Settings.from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open_service(database, None) as service:
        server = QueryServer(
            service, host or settings.api.host, settings.api.port if port is None else port
        )
        server.start()
        click.echo(f"jejak query API and web page on {server.url}/ (Ctrl-C stops)", err=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
