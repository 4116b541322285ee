"""The policy file format: one YAML file per policy version, validated by these models.

Compliance officers edit these files, so every field is named the way the
policy text talks ("recipient_kinds", "requires", "otherwise") and every error
the validators raise is a sentence an officer can act on. The models describe
the *file*; :mod:`jejak.lineage.policy.compiled` turns a validated file into
the lookup tables the engine reads on its hot path.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from jejak.lineage.policy.taxonomy import Name, Pattern
from jejak.schemas.models import RequestKind

_CLAUSE = re.compile(r"^[A-Z](\.[0-9]+)*$")
_SCOPE = re.compile(r"^[a-z_]+(:[^\s]+)?$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

EventKind = Literal["collection", "use", "disclosure"]
ConsentReason = Literal["opted_out", "consent_missing", "permission_missing"]
Default = Literal["opt-in", "opt-out"]


def check_clause(value: str) -> str:
    if not _CLAUSE.match(value):
        raise ValueError(
            f"{value!r} is not a clause id: write the section letter and the numbers, "
            "such as 'C', 'C.2' or 'A.1.1'"
        )
    return value


def clause_key(clause: str) -> tuple[str, tuple[int, ...]]:
    """Sort key for clause order: ``C`` < ``C.1`` < ``C.2`` < ``C.10`` < ``D``."""
    head, *rest = clause.split(".")
    return head, tuple(int(part) for part in rest)


def placeholders(template: str) -> list[str]:
    """The ``{...}`` placeholders of a scope template such as ``recipient:{recipient}``."""
    return _PLACEHOLDER.findall(template)


def _check_scope_template(value: str) -> str:
    bare = _PLACEHOLDER.sub("x", value)
    if not _SCOPE.match(bare) or bare.endswith(":*"):
        raise ValueError(
            f"{value!r} is not a consent scope: write it as 'kind:name' such as "
            "'cookies:ad_personalization', or with a placeholder such as "
            "'recipient:{recipient}'"
        )
    return value


def _check_scope_or_family(value: str) -> str:
    if value.endswith(":*") and _SCOPE.match(value[:-2]):
        return value
    if "{" in value or not _SCOPE.match(value):
        raise ValueError(
            f"{value!r} is not a consent scope: write 'kind:name' such as 'device:camera', "
            "or 'kind:*' for every scope of that kind such as 'recipient:*'"
        )
    return value


def _plain_scope(value: str) -> str:
    if "{" in value or value.endswith(":*") or not _SCOPE.match(value):
        raise ValueError(f"{value!r} is not a consent scope such as 'device:camera'")
    return value


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(
            f"{value!r} is not a policy name: use lower-case letters, digits and dashes, "
            "such as 'smarty-indonesia'"
        )
    return value


def _version_text(value: Any) -> Any:
    if isinstance(value, int | float):
        raise ValueError(
            f'write the version in quotes, as version: "{value}" (without quotes the file '
            "reads it as a number, and 2026.10 would become 2026.1)"
        )
    return value


def _moment(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        raise ValueError(
            "needs a time and a time zone, not only a date: write for example "
            f"{value.isoformat()}T00:00:00+07:00 (midnight in Jakarta)"
        )
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ValueError(
            "needs a time zone: add +07:00 (WIB), +08:00 (WITA), +09:00 (WIT) or Z (UTC)"
        )
    return value


def _aware(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError(
            "needs a time zone: write for example 2026-01-01T00:00:00+07:00 (midnight in "
            "Jakarta, WIB) or add Z for UTC"
        )
    return value


def _days(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("write a whole number of days, such as 30")
    text = str(value).strip().removesuffix("days").removesuffix("day").strip()
    if not text.isdigit():
        raise ValueError(f"{value!r} is not a number of days: write a whole number, such as 30")
    return timedelta(days=int(text))


ClauseId = Annotated[str, AfterValidator(check_clause)]
ScopeTemplate = Annotated[str, AfterValidator(_check_scope_template)]
ScopeOrFamily = Annotated[str, AfterValidator(_check_scope_or_family)]
PlainScope = Annotated[str, AfterValidator(_plain_scope)]
Text = Annotated[str, Field(min_length=1)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClauseText(_Part):
    """One clause of the policy text: the original sentence and an English gloss."""

    text: Text = Field(description="the original sentence(s) of the policy, in its language")
    gloss: Text = Field(description="a short English gloss")


class PartnerKind(_Part):
    """A kind of third party data may come from (A.3)."""

    name: Name
    clause: ClauseId
    quote: str | None = None


class SourceDecl(_Part):
    """Where data comes from: ``user`` (A.1), ``recorded`` (A.2), ``third_party`` (A.3)."""

    name: Name
    clause: ClauseId
    quote: str | None = None
    partner_kinds: list[PartnerKind] = Field(default_factory=list)


class CategoryGroup(_Part):
    """Data categories collected under one clause, from the same source(s)."""

    names: list[Name] = Field(min_length=1)
    clause: ClauseId = Field(description="the clause that allows collecting them (the basis)")
    see_also: list[ClauseId] = Field(default_factory=list)
    sources: list[Name] = Field(min_length=1)
    partner_kinds: list[Name] = Field(
        default_factory=list, description="for third_party: the partner kinds they may come from"
    )
    quote: str | None = None


class DisclosureLimit(_Part):
    """Sensitive data that may only ever go to the recipient kinds listed."""

    categories: list[Pattern] = Field(min_length=1)
    only_to: list[Name] = Field(min_length=1)
    clause: ClauseId
    why: str | None = None


class SensitiveCategories(_Part):
    """Specific personal data (Law 27/2022): flagged in reports, limited in disclosure."""

    names: list[Pattern] = Field(default_factory=list)
    reference: str | None = None
    disclosure_limits: list[DisclosureLimit] = Field(default_factory=list)


class PurposeDecl(_Part):
    """A purpose data may be used for (section B)."""

    name: Name
    clause: ClauseId
    see_also: list[ClauseId] = Field(default_factory=list)
    quote: str | None = None


class RecipientKindDecl(_Part):
    """A kind of recipient data may be disclosed to (section C)."""

    name: Name
    clause: ClauseId
    quote: str | None = None


class GeneralDisclosureRule(_Part):
    """The general rule of section C: disclosure with the subject's permission."""

    clause: ClauseId
    with_permission: ScopeTemplate = Field(
        description="the consent scope that allows any disclosure, e.g. recipient:{recipient}"
    )
    permission_only_transfers: list[Name] = Field(
        default_factory=list,
        description="transfers (e.g. sale) that only the permission allows, whatever exception",
    )
    quote: str | None = None


class ConsentCondition(_Part):
    """A consent an exception needs, optionally only for some purposes."""

    scope: ScopeTemplate
    when_purposes: list[Pattern] = Field(
        default_factory=list, description="only for these purposes; empty = always"
    )
    why: str | None = None


class DisclosureException(_Part):
    """One exception of section C: when a disclosure is allowed without asking."""

    clause: ClauseId
    recipient_kinds: list[Name] = Field(min_length=1)
    purposes: list[Pattern] = Field(min_length=1, description="'*' = any declared purpose")
    categories_allowed: list[Pattern] | None = Field(
        None, description="every disclosed category must be one of these; unset = any"
    )
    categories_forbidden: list[Pattern] = Field(default_factory=list)
    requires_consent: list[ConsentCondition] = Field(default_factory=list)
    legal_request_required: bool = False
    quote: str | None = None
    note: str | None = None


class ConsentScopeDecl(_Part):
    """A consent scope, its default before any consent event, and what it implies."""

    scope: ScopeOrFamily
    default: Default
    clause: ClauseId
    meaning: str | None = None
    withdrawal_covers: list[PlainScope] = Field(
        default_factory=list,
        description="scopes that count as withdrawn while this one is withdrawn",
    )


class DevicePermission(_Part):
    """Collecting these categories needs this device permission granted (E.1)."""

    categories: list[Pattern] = Field(min_length=1)
    permission: PlainScope
    clause: ClauseId


class ConsentRequirement(_Part):
    """A choice of the subject that a collection or use must respect (D, E)."""

    clause: ClauseId
    applies_to: list[EventKind] = Field(min_length=1)
    purposes: list[Pattern] = Field(default_factory=list, description="empty = any purpose")
    categories: list[Pattern] = Field(
        default_factory=list, description="applies when any category is one of these"
    )
    public: bool | None = Field(None, description="applies only to public (true) uses")
    requires: ScopeTemplate
    otherwise: ConsentReason
    note: str | None = None


class StopProcessing(_Part):
    """E.5 and F: what is still allowed after all consent is withdrawn or the account closed."""

    withdrawal_scope: PlainScope
    withdrawal_clause: ClauseId
    account_closed_clause: ClauseId
    still_allowed_purposes: list[Pattern] = Field(default_factory=list)


class Retention(_Part):
    """F: how long data of a closed account may be kept."""

    after_account_closure: Annotated[timedelta, BeforeValidator(_days)] = timedelta(days=30)
    clause: ClauseId = "F"


class RequestDeadline(_Part):
    """How long the company has to answer one kind of data-subject request, and the law that says so.

    The clock runs from when the request is received (the ``subject_request``
    event's ``occurred_at``); a case still open after ``within_hours`` raises
    ``subject_request_overdue``. The source is an article of the law (UU PDP),
    not a clause of the policy text, so it is written out, like
    ``sensitive_categories.reference``.
    """

    request: RequestKind
    within_hours: int = Field(gt=0, le=24 * 366)
    source: Text = Field(description="the article that sets the period, e.g. 'UU PDP Pasal 32'")
    quote: str | None = None
    note: str | None = None

    @property
    def period(self) -> timedelta:
        return timedelta(hours=self.within_hours)


class Updates(_Part):
    """G: how a new version of the policy is accepted."""

    clause: ClauseId
    acceptance_scope: ScopeTemplate = "policy:{version}"
    continued_use_is_acceptance: bool = True


class Label(_Part):
    """A plain-language name in the policy's language (``id``) and in English (``en``)."""

    id: Text = Field(description="Bahasa Indonesia")
    en: Text = Field(description="English")


class Labels(_Part):
    """Plain-language names of the policy's codes, for letters a data subject reads.

    Keys are declared names (a category name or a family such as ``payment``,
    a purpose, a recipient kind, a source, a partner kind, a consent scope or a
    scope family such as ``recipient:*``). The access report (UU PDP Pasal 32)
    shows these instead of codes; a code without a label is shown as the code.
    """

    categories: dict[str, Label] = Field(default_factory=dict)
    purposes: dict[str, Label] = Field(default_factory=dict)
    recipient_kinds: dict[str, Label] = Field(default_factory=dict)
    sources: dict[str, Label] = Field(default_factory=dict)
    partner_kinds: dict[str, Label] = Field(default_factory=dict)
    consent_scopes: dict[str, Label] = Field(default_factory=dict)


class PolicyDocument(_Part):
    """One version of a privacy policy, as written in its YAML file."""

    policy: Annotated[str, AfterValidator(_slug)] = Field(
        description="the policy's name, the same in every version"
    )
    version: Annotated[Text, BeforeValidator(_version_text)]
    effective_from: Annotated[datetime, BeforeValidator(_moment), AfterValidator(_aware)]
    title: Text
    language: str = "id"
    source_text: str | None = None
    clauses: dict[ClauseId, ClauseText] = Field(min_length=1)
    sources: list[SourceDecl] = Field(min_length=1)
    categories: list[CategoryGroup] = Field(min_length=1)
    sensitive_categories: SensitiveCategories = Field(default_factory=SensitiveCategories)
    purposes: list[PurposeDecl] = Field(min_length=1)
    recipient_kinds: list[RecipientKindDecl] = Field(default_factory=list)
    disclosure: GeneralDisclosureRule
    disclosure_exceptions: list[DisclosureException] = Field(default_factory=list)
    consent_scopes: list[ConsentScopeDecl] = Field(default_factory=list)
    device_permissions: list[DevicePermission] = Field(default_factory=list)
    consent_requirements: list[ConsentRequirement] = Field(default_factory=list)
    stop_processing: StopProcessing
    retention: Retention = Field(default_factory=Retention)
    subject_requests: list[RequestDeadline] = Field(default_factory=list)
    updates: Updates
    labels: Labels = Field(default_factory=Labels)
