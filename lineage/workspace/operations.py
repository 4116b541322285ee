"""Every operation of the workspace, declared once, and the one service that runs them.

An :class:`Operation` says everything about one question or action: its name,
HTTP method and path, its parameters (a pydantic model, unknown ones refused),
which roles may call it, and whether — and with which parameters — it reads
one data subject. From this table:

- the API (:mod:`jejak.lineage.api`) builds its routes and OpenAPI document;
- the HTTP client (:mod:`jejak.lineage.workspace.client`) builds its requests;
- the command line calls :meth:`Workspace.call` (on the store) or the client
  (``--api URL``) with the same names and parameters.

So a signature is written once: here. :meth:`Workspace.call` checks the role,
records a subject-level read in the access log **before** it computes the
answer (no log record, no answer), and then runs the method of the same name.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from jejak.lineage.policy import PolicySet
from jejak.lineage.policy.verdict import REASONS, RETENTION_OVERDUE, SUBJECT_REQUEST_OVERDUE
from jejak.lineage.store import queries as q
from jejak.lineage.store import workspace as ws
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.client import Store
from jejak.lineage.trust.note import Verifier
from jejak.lineage.workspace import auth
from jejak.lineage.workspace import requests as rq
from jejak.lineage.workspace.auth import ROLES, BadRequest, Caller, Forbidden, NotFound, Role
from jejak.lineage.workspace.console import broken_clauses, policy_text
from jejak.lineage.workspace.times import parse_time
from jejak.schemas.models import RequestKind, format_timestamp, personal_identifier
from jejak.schemas.pseudonym import is_pseudonym

Severity = Literal["critical", "high", "medium", "low"]
ALERT_REASONS: tuple[str, ...] = (*REASONS, RETENTION_OVERDUE, SUBJECT_REQUEST_OVERDUE)
"""Every reason an alert can have: the engine's, then the monitors'."""
TriageStatus = Literal["acknowledged", "assigned", "resolved", "false_positive", "reopened"]
AlertStatus = Literal["open", "acknowledged", "assigned", "resolved", "false_positive"]
TEXT_MAX = 256
COMMENT_MAX = 2000


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if not 1970 <= value.year <= 2200:  # the store's DateTime64 range, with room
        raise ValueError("is outside the years 1970-2200")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _label(value: str | None) -> str | None:
    """Free text that enters the chained journal: bounded, and never a personal identifier."""
    if value is None:
        return None
    if personal_identifier(value):
        raise ValueError(
            "looks like a personal identifier (an e-mail address or a phone or long number); "
            "use a reference such as DSR-2026-0042"
        )
    return value


def _time(value: Any) -> Any:
    """Text through the one time parser (ISO 8601 with Z or an offset, or 24h, 7d ago)."""
    return parse_time(value) if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _known_reason(value: str | None) -> str | None:
    if value is not None and value not in ALERT_REASONS:
        raise ValueError(f"is not a reason code; the known ones: {', '.join(ALERT_REASONS)}")
    return value


Time = Annotated[datetime | None, BeforeValidator(_time), AfterValidator(_utc)]
Label = Annotated[str | None, Field(max_length=TEXT_MAX), AfterValidator(_label)]
Comment = Annotated[str, Field(max_length=COMMENT_MAX), AfterValidator(_label)]
Limit = Annotated[int, Field(ge=1, le=100_000)]
Id = Annotated[str, Field(min_length=1, max_length=512)]


class Params(BaseModel):
    """Parameters of an operation; unknown ones are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class NoParams(Params):
    pass


class Window(Params):
    since: Time = Field(None, description="from this time (ISO 8601, UTC if no zone)")
    until: Time = Field(None, description="before this time")


class ViolationsParams(Window):
    code: Annotated[
        str | None, Field(max_length=64), BeforeValidator(_lower), AfterValidator(_known_reason)
    ] = Field(None, description="reason code, e.g. disclosure_without_consent")
    severity: Annotated[Severity | None, BeforeValidator(_lower)] = None
    status: AlertStatus | None = Field(
        None, description="triage status; open = untriaged or reopened"
    )
    subject: Annotated[str | None, Field(max_length=512)] = Field(
        None, description="one pseudonymous subject (a subject-level read: officers, with reason)"
    )
    reason: Label = Field(None, description="why you read this subject, e.g. a request reference")
    recipient: Annotated[str | None, Field(max_length=512)] = Field(
        None, description="alerts about disclosures to this recipient id"
    )
    limit: Limit = 100


class DisclosuresParams(Window):
    recipient: Annotated[str | None, Field(max_length=512)] = None
    recipient_kind: Annotated[str | None, Field(max_length=128)] = None


class SubjectParams(Params):
    subject_id: Id
    reason: Label = Field(None, description="why you read this subject (required)")


def _pseudonym(value: str) -> str:
    if not is_pseudonym(value):
        raise ValueError(
            "is not a pseudonymous subject id (ps1_ and 32 characters): pseudonymise a raw id "
            "first (jejak report subject --raw)"
        )
    return value


class LetterParams(Params):
    subject_id: Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_pseudonym)]
    reason: Label = Field(
        None, description="the access request's reference (required); closes that request"
    )
    format: Literal["html", "json"] = Field("html", description="a letter (html) or its data")
    lang: Literal["id", "en"] = Field("id", description="Bahasa Indonesia or English")


@dataclass(frozen=True)
class Document:
    """An answer that is a file rather than JSON (the HTML letter): served as it is."""

    content: str
    media_type: str
    filename: str


class RetentionParams(Params):
    days: Annotated[int | None, Field(ge=0, le=36_500)] = None


class LimitParams(Params):
    limit: Limit = 100


class AccessLogParams(Window):
    subject: Annotated[str | None, Field(max_length=512)] = None
    token: Annotated[str | None, Field(max_length=64)] = None
    limit: Limit = 100


class AlertParams(Params):
    alert_id: Id


class PolicyParams(Params):
    version: Annotated[str | None, Field(max_length=64)] = Field(
        None, description="a policy version; the latest if none"
    )


class TriageParams(Params):
    alert_id: Id
    status: TriageStatus
    comment: Comment = ""
    assignee: Annotated[str | None, Field(max_length=64)] = None


class RequestsParams(Params):
    open: bool = Field(False, description="only open cases")


class RequestRecordParams(Params):
    subject_id: Id
    request: RequestKind
    request_ref: Annotated[str, Field(min_length=1, max_length=TEXT_MAX), AfterValidator(_label)]
    status: Literal["received", "fulfilled", "rejected"] = "received"
    comment: Comment = ""


class TokenCreateParams(Params):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    role: Role


class TokenNameParams(Params):
    name: Annotated[str, Field(min_length=1, max_length=64)]


ALL: tuple[Role, ...] = ROLES
READERS: tuple[Role, ...] = ("officer", "auditor")
OFFICER: tuple[Role, ...] = ("officer",)


@dataclass(frozen=True)
class Operation:
    """One question or action of the workspace."""

    name: str
    method: Literal["GET", "POST"]
    path: str
    params: type[Params]
    roles: tuple[Role, ...]
    summary: str
    subject: Callable[[Any], str | None] | None = None
    """The subject this call reads, if it is a subject-level read (then logged, officers only)."""
    path_params: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = tuple(p.strip("{}") for p in self.path.split("/") if p.startswith("{"))
        object.__setattr__(self, "path_params", names)


OPERATIONS: tuple[Operation, ...] = (
    Operation("me", "GET", "/api/me", NoParams, ALL, "Who the token is, and its role."),
    Operation("stats", "GET", "/api/stats", NoParams, ALL, "Events, subjects, decisions."),
    Operation("alert_counts", "GET", "/api/alerts", NoParams, ALL, "Alerts by severity, reason, status."),
    Operation(
        "disclosures", "GET", "/api/disclosures", DisclosuresParams, ALL,
        "Who received what, on which basis (counts of subjects, no ids).",
    ),
    Operation(
        "recipients_over_time", "GET", "/api/trends/recipients", Window, ALL,
        "Disclosures per day and recipient.",
    ),
    Operation(
        "clauses_over_time", "GET", "/api/trends/clauses", Window, ALL,
        "Decisions per day, basis clause and reason.",
    ),
    Operation(
        "violations", "GET", "/api/violations", ViolationsParams, READERS,
        "Alerts with their triage status, most severe first.",
        subject=lambda p: p.subject,
    ),
    Operation(  # before subject_report, whose {subject_id:path} would match …/report too
        "subject_letter", "GET", "/api/subjects/{subject_id}/report", LetterParams, OFFICER,
        "The access report of UU PDP Pasal 32: a letter (HTML) or its data (JSON).",
        subject=lambda p: p.subject_id,
    ),
    Operation(
        "subject_report", "GET", "/api/subjects/{subject_id}", SubjectParams, OFFICER,
        "A data-subject access report; every line names its event ids.",
        subject=lambda p: p.subject_id,
    ),
    Operation("alert", "GET", "/api/alerts/{alert_id}", AlertParams, READERS, "One alert and its triage history."),
    Operation("policy", "GET", "/api/policy", PolicyParams, ALL, "Clause texts (Indonesian, English gloss), reasons."),
    Operation(
        "triage", "POST", "/api/alerts/{alert_id}/status", TriageParams, OFFICER,
        "Change an alert's status (chained, names its author).",
    ),
    Operation("retention", "GET", "/api/retention", RetentionParams, READERS, "Closed accounts not deleted in time."),
    Operation("dead_letters", "GET", "/api/dead-letters", LimitParams, READERS, "Messages not decoded."),
    Operation("access_log", "GET", "/api/access-log", AccessLogParams, READERS, "Who read which subject, why."),
    Operation("requests", "GET", "/api/requests", RequestsParams, READERS, "Data-subject request cases and time left."),
    Operation(
        "record_request", "POST", "/api/requests", RequestRecordParams, OFFICER,
        "Open a request case received outside the event stream, or set its status.",
    ),
    Operation("verify", "GET", "/api/verify", NoParams, READERS, "Recompute the chains and checkpoints."),
    Operation("tokens", "GET", "/api/tokens", NoParams, READERS, "The tokens (never their secrets)."),
    Operation("create_token", "POST", "/api/tokens", TokenCreateParams, OFFICER, "A new token, shown once."),
    Operation("revoke_token", "POST", "/api/tokens/{name}/revoke", TokenNameParams, OFFICER, "End a token."),
)  # fmt: skip
BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}


def parse_params(op: Operation, values: dict[str, Any]) -> Params:
    """Validate raw values for ``op``; :class:`BadRequest` names the fields, never the values."""
    try:
        return op.params.model_validate(values)
    except ValidationError as exc:
        raise BadRequest(validation_message(exc)) from None


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "parameters"
        msg = err["msg"] if err["type"] != "extra_forbidden" else "is not a parameter of this call"
        parts.append(f"{where}: {msg.removeprefix('Value error, ')}")
    return "; ".join(parts)


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Document):
        return value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def local_caller() -> Caller:
    """The command line on the store itself: whoever can open the store holds every role."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in user.lower())[:48]
    return Caller(f"local:{safe or 'unknown'}", "officer")


class Workspace:
    """The one query service: the store, the policy, a clock, and the journal's signer."""

    def __init__(
        self,
        store: Store,
        policies: PolicySet,
        *,
        checkpointer: Checkpointer | None = None,
        verifier: Verifier | None = None,
        export_dir: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.policies = policies
        self.checkpointer = checkpointer
        self.verifier = verifier or (checkpointer.signer.verifier() if checkpointer else None)
        self.export_dir = export_dir or (checkpointer.folder if checkpointer else None)
        self.clock = clock

    # -- the one entry point -----------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Caller:
        return auth.authenticate(self.store, authorization)

    def call(self, name: str, caller: Caller, params: Params | dict[str, Any] | None = None) -> Any:
        """Run one operation for ``caller``: role check, access log, answer (JSON-ready)."""
        op = BY_NAME.get(name)
        if op is None:
            raise NotFound(f"no operation {name!r}")
        p = params if isinstance(params, Params) else parse_params(op, dict(params or {}))
        if caller.role not in op.roles:
            raise Forbidden(f"{op.name} is for {', '.join(op.roles)}; this token is {caller.role}")
        subject = op.subject(p) if op.subject is not None else None
        if subject is not None:
            self._log_access(op, caller, subject, getattr(p, "reason", None))
        method: Callable[[Caller, Any], Any] = getattr(self, op.name)
        return plain(method(caller, p))

    def _log_access(self, op: Operation, caller: Caller, subject: str, reason: str | None) -> None:
        if caller.role != "officer":
            raise Forbidden("subject-level answers are for officers")
        if not reason or not reason.strip():
            raise BadRequest(
                "reason: a subject-level read must say why (reason=, e.g. the request reference)"
            )
        body = {
            "token": caller.name,
            "role": caller.role,
            "endpoint": op.name,
            "path": op.path,
            "reason": reason.strip(),
        }
        ws.record(
            self.store,
            ws.ACCESS,
            body,
            subject_id=subject,
            at=self.clock(),
            checkpointer=self.checkpointer,
        )

    # -- operations (one method per Operation, same name) ----------------------------------------
    def me(self, caller: Caller, _: NoParams) -> Any:
        return {"name": caller.name, "role": caller.role}

    def stats(self, _c: Caller, _: NoParams) -> Any:
        return q.totals(self.store)

    def alert_counts(self, _c: Caller, _: NoParams) -> Any:
        return ws.alert_counts(self.store)

    def disclosures(self, _c: Caller, p: DisclosuresParams) -> Any:
        return q.disclosures(
            self.store,
            recipient_id=p.recipient,
            recipient_kind=p.recipient_kind,
            since=p.since,
            until=p.until,
        )

    def recipients_over_time(self, _c: Caller, p: Window) -> Any:
        return ws.recipients_over_time(self.store, since=p.since, until=p.until)

    def clauses_over_time(self, _c: Caller, p: Window) -> Any:
        return ws.clauses_over_time(self.store, since=p.since, until=p.until)

    def violations(self, _c: Caller, p: ViolationsParams) -> Any:
        return ws.alerts(
            self.store,
            reason=p.code,
            severity=p.severity,
            subject_id=p.subject,
            since=p.since,
            until=p.until,
            status=p.status,
            recipient_id=p.recipient,
            limit=p.limit,
        )

    def subject_report(self, _c: Caller, p: SubjectParams) -> Any:
        from jejak.lineage.store.reports import subject_trail

        report = q.subject_report(self.store, p.subject_id).to_dict()
        # the processing trail: every event of the subject with its verdict (the console's)
        return {**report, "trail": subject_trail(self.store, p.subject_id)}

    def subject_letter(self, _c: Caller, p: LetterParams) -> Any:
        from jejak.lineage.report import build_letter, render_html
        from jejak.lineage.store.reports import subject_trail

        letter = build_letter(
            subject_trail(self.store, p.subject_id),
            self.policies,
            subject_id=p.subject_id,
            lang=p.lang,
            request_ref=p.reason,
            generated_at=self.clock(),
        )
        if p.format == "json":
            return letter
        name = f"jejak-access-report-{p.reason or p.subject_id}-{p.lang}.html"
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
        return Document(render_html(letter), "text/html; charset=utf-8", safe)

    def alert(self, _c: Caller, p: AlertParams) -> Any:
        rows = ws.alerts(self.store, alert_id=p.alert_id, limit=1)
        if not rows:
            raise NotFound("no such alert")
        history = ws.triage_history(self.store, p.alert_id)
        return {**rows[0], "history": history, "clauses": broken_clauses(self.policies, rows[0])}

    def policy(self, _c: Caller, p: PolicyParams) -> Any:
        return policy_text(self.policies, p.version)

    def triage(self, caller: Caller, p: TriageParams) -> Any:
        rows = ws.alerts(self.store, alert_id=p.alert_id, limit=1)
        if not rows:
            raise NotFound("no such alert")
        if p.status == "assigned" and not p.assignee:
            raise BadRequest("assignee: an assignment names the token (person) it goes to")
        if p.assignee is not None:
            auth.check_name(p.assignee)
        subject = rows[0]["subject_id"]
        alert = p.alert_id.replace(subject, ws.SUBJECT_MARK) if subject else p.alert_id
        body = {
            "alert": alert,
            "status": p.status,
            "comment": p.comment,
            "assignee": p.assignee or "",
            "author": caller.name,
            "role": caller.role,
        }
        record_id = ws.record(
            self.store,
            ws.TRIAGE,
            body,
            subject_id=subject,
            at=self.clock(),
            checkpointer=self.checkpointer,
        )
        now = ws.alerts(self.store, alert_id=p.alert_id, limit=1)[0]
        return {"record_id": record_id, "alert_id": p.alert_id, "status": now["status"]}

    def retention(self, _c: Caller, p: RetentionParams) -> Any:
        from jejak.lineage.store.retention import retention_period

        policies = self.policies
        after: Any = (
            timedelta(days=p.days)
            if p.days is not None
            else (lambda at: retention_period(policies, at)[0])
        )
        return q.retention_overdue(self.store, after_closure=after, now=self.clock())

    def dead_letters(self, _c: Caller, p: LimitParams) -> Any:
        return q.dead_letters(self.store, limit=p.limit)

    def access_log(self, _c: Caller, p: AccessLogParams) -> Any:
        return ws.access_log(
            self.store,
            since=p.since,
            until=p.until,
            subject_id=p.subject,
            token=p.token,
            limit=p.limit,
        )

    def request_cases(self) -> list[rq.Case]:
        return rq.cases(ws.request_sources(self.store), self.policies)

    def requests(self, _c: Caller, p: RequestsParams) -> Any:
        now = self.clock()
        return [c.to_dict(now) for c in self.request_cases() if not p.open or c.status == "open"]

    def record_request(self, caller: Caller, p: RequestRecordParams) -> Any:
        body = {
            "request": p.request,
            "request_ref": p.request_ref,
            "status": p.status,
            "comment": p.comment,
            "author": caller.name,
        }
        record_id = ws.record(
            self.store,
            ws.REQUEST,
            body,
            subject_id=p.subject_id,
            at=self.clock(),
            checkpointer=self.checkpointer,
        )
        return {"record_id": record_id, "case_id": p.request_ref}

    def check_requests(self) -> list[Any]:
        """The request monitor: journal a ``subject_request_overdue`` alert per late open case."""
        return rq.raise_overdue(self.store, self.policies, self.clock(), self.checkpointer)

    def verify(self, _c: Caller, _: NoParams) -> Any:
        from jejak.lineage.store.verify import verify

        return verify(self.store, self.verifier, export_dir=self.export_dir).to_dict()

    def tokens(self, _c: Caller, _: NoParams) -> Any:
        return [t.to_dict() for t in sorted(auth.tokens(self.store).values(), key=lambda t: t.name)]

    def create_token(self, caller: Caller, p: TokenCreateParams) -> Any:
        token = auth.create_token(
            self.store,
            p.name,
            p.role,
            by=caller.name,
            at=self.clock(),
            checkpointer=self.checkpointer,
        )
        return {"name": p.name, "role": p.role, "token": token}

    def revoke_token(self, caller: Caller, p: TokenNameParams) -> Any:
        auth.revoke_token(
            self.store, p.name, by=caller.name, at=self.clock(), checkpointer=self.checkpointer
        )
        return {"name": p.name, "revoked": True}
