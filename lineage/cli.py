"""``jejak query``, ``jejak report``, ``jejak alerts``, ``jejak requests``, ``jejak token``, ``jejak serve``.

Thin adapters over the one workspace service
(:mod:`jejak.lineage.workspace.operations`): each command names an operation
and its parameters, and gets the same answer whether the store is opened here
(as ``local:<user>``, an officer: whoever can open the store holds it all) or
asked through a running jejak process's API (``--api URL`` with ``--token`` or
``JEJAK_API__URL`` / ``JEJAK_API__TOKEN``).

Where the answer comes from, in order:

1. ``--api`` / ``JEJAK_API__URL``: that API;
2. the store itself — a read (every GET operation) never creates one: with no
   store where the settings point it says "no jejak store at PATH (database D)"
   and exits 1, rather than answering "0 events" from a new empty store;
3. the embedded chDB store held by a running consumer (one process per data
   folder): the consumer's own API at ``JEJAK_API__HOST``/``PORT``, with the
   token in ``JEJAK_API__TOKEN``; the command says so on stderr.

A subject id must be a pseudonym (``ps1_…``); a raw id needs ``--raw``, which
pseudonymises it with ``JEJAK_SDK__PSEUDONYMIZATION_KEY``. Without it the
command stops with that hint (and never repeats the id) instead of answering
that nothing is held. Times (``--since``/``--until``) go through the one
parser the API uses too (:mod:`jejak.lineage.workspace.times`).
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from jejak.errors import StoreError
from jejak.lineage.service import LocalService, RemoteWorkspace, Service
from jejak.lineage.workspace.operations import ALERT_REASONS, BY_NAME, Document
from jejak.lineage.workspace.times import HELP as TIME_HELP
from jejak.lineage.workspace.times import TimeError, parse_time
from jejak.output import Format, format_option, render
from jejak.settings import Settings


class StoreHeld(click.ClickException):
    """The embedded store is held by another process (a running consumer)."""


@contextmanager
def open_workspace(database: str | None, *, create: bool = True) -> Iterator[Any]:
    """The workspace on the store itself; without ``create`` only a store that exists.

    A store held by a consumer raises :class:`StoreHeld`, saying what to do.
    """
    from jejak.lineage.policy import load_policies
    from jejak.lineage.store import connect, migrate, open_existing
    from jejak.lineage.store.checkpoints import open_checkpointer
    from jejak.lineage.workspace.operations import Workspace

    settings = Settings.from_env()
    try:
        store = (
            connect(settings.store, database) if create else open_existing(settings.store, database)
        )
    except StoreError as exc:
        if store_is_held(exc):
            raise StoreHeld(
                f"the embedded store {settings.store.redacted_dsn} is held by another jejak "
                "process (a running consumer: chDB allows one process per data folder). "
                f"Ask that process instead: --api {consumer_api_url(settings)} "
                "--token … (or set JEJAK_API__URL and JEJAK_API__TOKEN)."
            ) from None
        raise
    with store:
        migrate(store)
        yield Workspace(
            store,
            load_policies(settings.policy.path),
            checkpointer=open_checkpointer(settings, store),
        )


def consumer_api_url(settings: Settings) -> str:
    """The API a consumer on this machine serves (JEJAK_API__HOST, JEJAK_API__PORT)."""
    host = settings.api.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    scheme = "https" if settings.api.tls_certfile else "http"
    return f"{scheme}://{host}:{settings.api.port}"


@contextmanager
def open_service(
    database: str | None, api: str | None, token: str | None, *, create: bool = True
) -> Iterator[Service]:
    """The API if one is named, else the store itself, else the API of the consumer holding it."""
    settings = Settings.from_env()
    url = api or settings.api.url
    secret = token or (settings.api.token.get_secret_value() if settings.api.token else None)
    if url:
        if database:
            click.echo("note: --database is ignored with --api (the API serves its own)", err=True)
        yield RemoteWorkspace(url, secret)
        return
    from jejak.lineage.workspace.operations import local_caller

    with ExitStack() as stack:
        try:
            workspace = stack.enter_context(open_workspace(database, create=create))
        except StoreHeld:
            if not secret:
                raise
            url = consumer_api_url(settings)
            click.echo(
                f"note: the store is held by a running jejak process; asking its API at {url} "
                "(with JEJAK_API__TOKEN)",
                err=True,
            )
            yield RemoteWorkspace(url, secret)
            return
        yield LocalService(workspace, local_caller())


def store_is_held(exc: StoreError) -> bool:
    text = str(exc)
    return "chdb" in text and ("EmbeddedServer" in text or "lock" in text.lower())


class TimeParam(click.ParamType[datetime, Any]):
    """A time through :func:`~jejak.lineage.workspace.times.parse_time` (as the API reads it)."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        try:
            return parse_time(value)
        except TimeError as exc:
            self.fail(str(exc), param, ctx)


def subject_argument(subject_id: str, raw: bool) -> str:
    """A pseudonym: made from a raw id with ``--raw``; else checked, with a hint, never echoed."""
    from jejak.schemas.pseudonym import is_pseudonym, pseudonymize

    if raw:
        return pseudonymize(subject_id, Settings.from_env().sdk.pseudonymization_key)
    if not is_pseudonym(subject_id):
        raise click.UsageError(
            "the subject id is not a pseudonym (ps1_ followed by 32 characters). If it is a "
            "raw id (an account id, an e-mail address, a phone number), add --raw to "
            "pseudonymise it with JEJAK_SDK__PSEUDONYMIZATION_KEY."
        )
    return subject_id


raw_option = click.option(
    "--raw",
    is_flag=True,
    help="SUBJECT_ID is a raw id: pseudonymise it with JEJAK_SDK__PSEUDONYMIZATION_KEY first.",
)


def service_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--database, --api and --token, for every command that asks the workspace."""
    func = click.option(
        "--token",
        default=None,
        metavar="TOKEN",
        help="API token sent with --api [JEJAK_API__TOKEN].",
    )(func)
    func = click.option(
        "--api",
        default=None,
        metavar="URL",
        help="Ask a running jejak process (jejak consume / jejak serve) [JEJAK_API__URL].",
    )(func)
    return click.option(
        "--database",
        default=None,
        help="ClickHouse database [JEJAK_STORE__DATABASE, default jejak].",
    )(func)


since_option = click.option(
    "--since", type=TimeParam(), default=None, help=f"From this time: {TIME_HELP}."
)
until_option = click.option(
    "--until", type=TimeParam(), default=None, help="Before this time (same forms as --since)."
)
reason_option = click.option(
    "--reason",
    default=None,
    metavar="REF",
    help="Why you read this subject (e.g. the request reference); recorded in the access log.",
)


def ask(
    database: str | None, api: str | None, token: str | None, operation: str, /, **params: Any
) -> Any:
    """One operation, on the store or through the API; parameters left unset are not sent.

    A read (GET) never creates a store; an action (POST: a token, a triage) may.
    """
    create = BY_NAME[operation].method == "POST"
    with open_service(database, api, token, create=create) as service:
        return service.call(operation, {k: v for k, v in params.items() if v is not None})


@click.group("query")
def query() -> None:
    """Ask the lineage store the compliance questions."""


@query.command("subject")
@click.argument("subject_id")
@raw_option
@reason_option
@service_options
@click.option("--json", "as_json", is_flag=True, help="JSON for machines.")
def subject(
    subject_id: str,
    raw: bool,
    reason: str | None,
    database: str | None,
    api: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """Everything about one data subject: collected, used, disclosed, consents, violations.

    A subject-level read: it needs --reason and is recorded in the access log
    before the answer is shown.
    """
    subject_id = subject_argument(subject_id, raw)
    report = ask(database, api, token, "subject_report", subject_id=subject_id, reason=reason)
    if not report["events"]:
        click.echo(
            "note: the store holds no event of this subject. If the id came from elsewhere, "
            "check it was pseudonymised with this store's key (JEJAK_SDK__PSEUDONYMIZATION_KEY).",
            err=True,
        )
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
            "bases",
            "violations",
            "event_ids",
        ],
        title="What was collected",
    )
    render(
        report["used"],
        columns=["purpose", "categories", "times", "bases", "violations", "event_ids"],
        title="What it was used for",
    )
    render(
        report["disclosed"],
        columns=["recipient_id", "recipient_kind", "purpose", "categories", "times", "bases", "violations", "event_ids"],
        title="Who received it",
    )  # fmt: skip
    render(
        report["consents"],
        columns=["scope", "action", "since", "event_ids"],
        title="Consents (latest per scope)",
    )
    render(report["deleted"], columns=["category", "deleted_at", "event_ids"], title="Deleted")
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
@service_options
@format_option
def disclosures_cmd(
    recipient: str | None,
    recipient_kind: str | None,
    since: datetime | None,
    until: datetime | None,
    database: str | None,
    api: str | None,
    token: str | None,
    fmt: Format,
) -> None:
    """Who received what, for which purpose, on which basis."""
    rows = ask(
        database,
        api,
        token,
        "disclosures",
        recipient=recipient,
        recipient_kind=recipient_kind,
        since=since,
        until=until,
    )
    render(rows, fmt, title="Disclosures by recipient")


STATUSES = ["open", "acknowledged", "assigned", "resolved", "false_positive"]


@query.command("violations")
@click.option(
    "--code",
    default=None,
    type=click.Choice(ALERT_REASONS, case_sensitive=False),
    metavar="REASON",
    help="Only this reason code, e.g. disclosure_without_consent.",
)
@click.option(
    "--severity",
    default=None,
    type=click.Choice(["critical", "high", "medium", "low"], case_sensitive=False),
)
@click.option(
    "--status",
    default=None,
    type=click.Choice(STATUSES, case_sensitive=False),
    help="Triage status.",
)
@click.option("--subject", default=None, help="Only this (pseudonymous) subject (needs --reason).")
@reason_option
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@since_option
@until_option
@service_options
@format_option
def violations_cmd(
    code: str | None,
    severity: str | None,
    status: str | None,
    subject: str | None,
    reason: str | None,
    limit: int,
    since: datetime | None,
    until: datetime | None,
    database: str | None,
    api: str | None,
    token: str | None,
    fmt: Format,
) -> None:
    """Alerts raised on violations with their triage status, most severe first."""
    if subject is not None:
        subject = subject_argument(subject, False)
    rows = ask(
        database,
        api,
        token,
        "violations",
        code=code,
        severity=severity,
        status=status,
        subject=subject,
        reason=reason,
        since=since,
        until=until,
        limit=limit,
    )
    columns = ["alert_id", "severity", "status", "reason", "occurred_at", "subject_id", "summary"]
    table = fmt in ("table", "wide")
    render(rows, fmt, columns=columns if table else None, title="Violations", empty="(none)")


@query.command("alerts")
@service_options
@format_option
def alerts_cmd(database: str | None, api: str | None, token: str | None, fmt: Format) -> None:
    """Alerts counted by severity, reason and triage status."""
    rows = ask(database, api, token, "alert_counts")
    render(rows, fmt, title="Alerts by severity, reason and status", empty="(no alerts)")


@query.command("dead-letters")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@service_options
@format_option
def dead_letters_cmd(
    limit: int, database: str | None, api: str | None, token: str | None, fmt: Format
) -> None:
    """Messages the consumer could not decode or validate, with why and where from."""
    render(ask(database, api, token, "dead_letters", limit=limit), fmt, title="Dead letters", empty="(none)")  # fmt: skip


@query.command("access-log")
@click.option("--subject", default=None, help="Only reads of this subject.")
@click.option("--token-name", "token_name", default=None, help="Only reads by this token.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@since_option
@until_option
@service_options
@format_option
def access_log_cmd(
    subject: str | None,
    token_name: str | None,
    limit: int,
    since: datetime | None,
    until: datetime | None,
    database: str | None,
    api: str | None,
    token: str | None,
    fmt: Format,
) -> None:
    """Who read which subject, when, through which endpoint, and why (auditors, officers)."""
    if subject is not None:
        subject = subject_argument(subject, False)
    rows = ask(
        database,
        api,
        token,
        "access_log",
        subject=subject,
        token=token_name,
        limit=limit,
        since=since,
        until=until,
    )
    render(rows, fmt, title="Access log", empty="(no subject-level reads)")


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
@service_options
@format_option
def retention_cmd(
    days: int | None,
    raise_alerts: bool,
    database: str | None,
    api: str | None,
    token: str | None,
    fmt: Format,
) -> None:
    """Closed accounts whose data was not deleted in time (section F).

    The deadline is the closure plus the retention of the policy version in
    force at the closure (JEJAK_POLICY__PATH), unless --days says otherwise.
    """
    with open_service(database, api, token, create=False) as service:
        render(service.call("retention", {"days": days} if days is not None else {}), fmt, title="Retention overdue", empty="(none)")  # fmt: skip
        if raise_alerts:
            if not isinstance(service, LocalService):
                raise click.ClickException("--raise writes to the store: run it where the store is")
            from jejak.lineage.store import retention

            ws = service.workspace
            alerts = retention.raise_retention_alerts(ws.store, ws.policies, ws.checkpointer)
            click.echo(f"{len(alerts)} new retention_overdue alert(s) recorded", err=True)


@query.command("stats")
@service_options
@format_option
def stats_cmd(database: str | None, api: str | None, token: str | None, fmt: Format) -> None:
    """Events, subjects, decisions and dead letters at a glance."""
    t = ask(database, api, token, "stats")
    rows: list[dict[str, Any]] = [
        {"what": "events", "count": t["events"]},
        {"what": "subjects", "count": t["subjects"]},
        {"what": "dead letters", "count": t["dead_letters"]},
        *({"what": f"decision {k}", "count": v} for k, v in sorted(t["by_decision"].items())),
        *({"what": f"kind {k}", "count": v} for k, v in sorted(t["by_kind"].items())),
    ]
    render(rows, fmt, title="lineage store")


# -- alert triage ----------------------------------------------------------------------------


@click.group("alerts")
def alerts() -> None:
    """Triage alerts: acknowledge, assign, resolve, mark false positive, reopen (officers)."""


def _triage_command(command: str, status: str, doc: str) -> None:
    @alerts.command(command, help=doc)
    @click.argument("alert_id")
    @click.option("--comment", default="", help="Why; kept in the chained journal.")
    @click.option("--assignee", default=None, help="The token name it goes to (assign).")
    @service_options
    def run(
        alert_id: str,
        comment: str,
        assignee: str | None,
        database: str | None,
        api: str | None,
        token: str | None,
    ) -> None:
        answer = ask(
            database,
            api,
            token,
            "triage",
            alert_id=alert_id,
            status=status,
            comment=comment,
            assignee=assignee,
        )
        click.echo(f"{answer['alert_id']}: {answer['status']} ({answer['record_id']})")


for _command, _status, _doc in (
    ("ack", "acknowledged", "Acknowledge an alert: someone is looking at it."),
    ("assign", "assigned", "Assign an alert to a token name (--assignee)."),
    ("resolve", "resolved", "Resolve an alert."),
    ("false-positive", "false_positive", "Close an alert as a false positive."),
    ("reopen", "reopened", "Reopen a resolved or dismissed alert."),
):
    _triage_command(_command, _status, _doc)


@alerts.command("show")
@click.argument("alert_id")
@service_options
def alert_show(alert_id: str, database: str | None, api: str | None, token: str | None) -> None:
    """One alert, its current status and every status change."""
    click.echo(json.dumps(ask(database, api, token, "alert", alert_id=alert_id), indent=2))


# -- data-subject requests -------------------------------------------------------------------


@click.group("requests", invoke_without_command=True)
@click.option("--open", "only_open", is_flag=True, help="Only open cases.")
@service_options
@format_option
@click.pass_context
def requests(
    ctx: click.Context,
    only_open: bool,
    database: str | None,
    api: str | None,
    token: str | None,
    fmt: Format,
) -> None:
    """Data-subject request cases, their UU PDP deadline and the time left."""
    if ctx.invoked_subcommand is not None:
        return
    rows = ask(database, api, token, "requests", open=only_open)
    columns = ["case_id", "request", "status", "subject_id", "opened_at", "deadline", "hours_left", "overdue", "source"]  # fmt: skip
    table = fmt in ("table", "wide")
    render(rows, fmt, columns=columns if table else None, title="Requests", empty="(none)")


@requests.command("record")
@click.argument("subject_id")
@click.option("--request", "kind", required=True, help="access, rectification, deletion, ...")
@click.option("--ref", "request_ref", required=True, help="The request reference (the case).")
@click.option(
    "--status", default="received", type=click.Choice(["received", "fulfilled", "rejected"])
)
@click.option("--comment", default="")
@service_options
def request_record(
    subject_id: str,
    kind: str,
    request_ref: str,
    status: str,
    comment: str,
    database: str | None,
    api: str | None,
    token: str | None,
) -> None:
    """Open a case received outside the event stream (a letter), or set a case's status."""
    answer = ask(
        database,
        api,
        token,
        "record_request",
        subject_id=subject_id,
        request=kind,
        request_ref=request_ref,
        status=status,
        comment=comment,
    )
    click.echo(f"{answer['case_id']}: {status} ({answer['record_id']})")


@requests.command("check")
@click.option("--database", default=None, help="ClickHouse database [JEJAK_STORE__DATABASE].")
def request_check(database: str | None) -> None:
    """Raise subject_request_overdue for each open case past its deadline (on the store)."""
    with open_workspace(database, create=False) as workspace:
        raised = workspace.check_requests()
    click.echo(f"{len(raised)} new subject_request_overdue alert(s) recorded", err=True)


# -- reports people can send -------------------------------------------------------------------


@click.group("report")
def report() -> None:
    """Reports people can send: the data-subject access report (UU PDP Pasal 32)."""


@report.command("subject")
@click.argument("subject_id")
@raw_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json"]),
    default="html",
    show_default=True,
    help="A print-ready letter (html) or its data (json).",
)
@click.option(
    "--lang",
    type=click.Choice(["id", "en"]),
    default="id",
    show_default=True,
    help="Bahasa Indonesia (id) or English (en).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the report to FILE (default: standard output).",
)
@click.option(
    "--reason",
    required=True,
    metavar="REF",
    help="The access request's reference; recorded in the access log, and it closes that "
    "request if it is open.",
)
@service_options
def report_subject(
    subject_id: str,
    raw: bool,
    fmt: str,
    lang: str,
    out: Path | None,
    reason: str,
    database: str | None,
    api: str | None,
    token: str | None,
) -> None:
    """The access report of one data subject, as a letter they can read.

    What is held (in plain words from the policy), where from, for which
    purposes, disclosed to whom, on which clause or consent, the consent
    history and deletions; every line cites the event ids it rests on, and
    the processing trail lists them all. Producing it is recorded in the
    access log and fulfils the open access request named by --reason.
    """
    subject_id = subject_argument(subject_id, raw)
    answer = ask(
        database,
        api,
        token,
        "subject_letter",
        subject_id=subject_id,
        reason=reason,
        format=fmt,
        lang=lang,
    )
    if isinstance(answer, Document):
        text = answer.content
    else:
        text = json.dumps(answer, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out} ({fmt}, {lang}); the read is recorded in the access log", err=True)


# -- tokens ----------------------------------------------------------------------------------


@click.group("token")
def token_group() -> None:
    """API tokens: create (printed once), list, revoke. Stored as SHA-256 hashes only."""


@token_group.command("create")
@click.option("--name", required=True, help="A label such as officer-ana (no e-mail address).")
@click.option("--role", required=True, type=click.Choice(["officer", "analyst", "auditor"]))
@service_options
def token_create(
    name: str, role: str, database: str | None, api: str | None, token: str | None
) -> None:
    """Create a token and print it, alone, on stdout: it is shown this once."""
    answer = ask(database, api, token, "create_token", name=name, role=role)
    click.echo(f"token {answer['name']} ({answer['role']}) created; keep it secret", err=True)
    click.echo(answer["token"])


@token_group.command("list")
@service_options
@format_option
def token_list(database: str | None, api: str | None, token: str | None, fmt: Format) -> None:
    """Every token: name, role, when created and by whom, whether revoked."""
    render(ask(database, api, token, "tokens"), fmt, title="Tokens", empty="(no tokens)")


@token_group.command("revoke")
@click.argument("name")
@service_options
def token_revoke(name: str, database: str | None, api: str | None, token: str | None) -> None:
    """End a token: it is refused from now on."""
    ask(database, api, token, "revoke_token", name=name)
    click.echo(f"token {name} revoked", err=True)


# -- the server ------------------------------------------------------------------------------


@click.command("serve")
@click.option("--host", default=None, help="Listen address [JEJAK_API__HOST, default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [JEJAK_API__PORT, default 8765].")
@click.option("--database", default=None, help="ClickHouse database [JEJAK_STORE__DATABASE].")
def serve(host: str | None, port: int | None, database: str | None) -> None:
    """Serve the workspace API and the web page over the store, until Ctrl-C.

    Every /api call needs a token (jejak token create). `jejak consume` serves
    the same API itself.
    """
    from jejak.lineage.api import ApiServer

    settings = Settings.from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open_workspace(database) as workspace:
        server = ApiServer(
            workspace,
            host or settings.api.host,
            settings.api.port if port is None else port,
            settings.api,
        ).start()
        click.echo(f"jejak workspace API and web page on {server.url}/ (Ctrl-C stops)", err=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
