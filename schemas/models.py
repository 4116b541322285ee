"""Pydantic models of the events, mirroring the Avro schemas field by field.

Vocabulary (categories, purposes, recipient kinds, consent scopes) is carried
as validated *strings*: their syntax is checked here, their meaning against the
policy in force downstream, so the vocabulary can grow without a schema change.

The JSON form (policy-semantics §5) uses the same field names as Avro.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
)

from jejak.errors import InvalidEvent

# fullmatch, not match with "$": "$" also matches before a trailing newline, so
# "account.email\n" used to pass as a category.
_DOTTED = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
_SCOPE = re.compile(r"[a-z_]+(:[^\s]+)?")
_CLAUSE = re.compile(r"[A-G](\.[0-9]+)*")


def _dotted(value: str) -> str:
    if not _DOTTED.fullmatch(value):
        raise ValueError(f"{value!r} is not a dotted lower-case name such as 'account.email'")
    return value


def _scope(value: str) -> str:
    if not _SCOPE.fullmatch(value):
        raise ValueError(f"{value!r} is not a consent scope such as 'recipient:partner-1'")
    return value


def _clause(value: str) -> str:
    if not _CLAUSE.fullmatch(value):
        raise ValueError(f"{value!r} is not a clause id such as 'C.2' or 'A.1.1'")
    return value


def _utc_millis(value: datetime) -> datetime:
    """Timestamps are UTC and carried to the millisecond (Avro ``timestamp-millis``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a time zone (for example a trailing 'Z')")
    try:
        value = value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from exc
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def format_timestamp(value: datetime) -> str:
    """The JSON form's timestamp: ``2026-05-01T08:00:00Z``, milliseconds only when set."""
    value = value.astimezone(UTC)
    # not strftime("%Y"): glibc does not zero-pad years before 1000 ("5-01-01"),
    # which no ISO 8601 parser reads back
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


Category = Annotated[str, AfterValidator(_dotted)]
"""A data category such as ``payment.credit_card``; a prefix names its family."""
Purpose = Annotated[str, AfterValidator(_dotted)]
RecipientKind = Annotated[str, AfterValidator(_dotted)]
Scope = Annotated[str, AfterValidator(_scope)]
Clause = Annotated[str, AfterValidator(_clause)]
Timestamp = Annotated[
    datetime,
    AfterValidator(_utc_millis),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
NonEmpty = Annotated[str, Field(min_length=1, max_length=512)]

Source = Literal["user", "recorded", "third_party"]
Transfer = Literal["share", "sale"]
ConsentAction = Literal["granted", "withdrawn"]
RequestKind = Literal["access", "rectification", "deletion"]


def new_event_id() -> str:
    return str(uuid.uuid4())


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class ProducerInfo(_Model):
    """The service that emitted the event."""

    service: NonEmpty
    version: NonEmpty


class Recipient(_Model):
    """Who receives a disclosure: an id (used in ``recipient:<id>`` consent) and a kind."""

    id: NonEmpty
    kind: RecipientKind
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2")


class _Envelope(_Model):
    event_id: NonEmpty = Field(default_factory=new_event_id)
    occurred_at: Timestamp
    subject_id: NonEmpty = Field(description="pseudonymous subject id (HMAC of the raw id)")
    producer: ProducerInfo | None = None
    trace_id: str | None = None
    policy_version: str | None = Field(
        None, description="the policy version the service believes is in force"
    )


class _DataEvent(_Envelope):
    data_categories: list[Category] = Field(min_length=1)
    basis: Clause | None = Field(
        None, description="the clause the producer claims; checked, never trusted"
    )
    inputs: list[NonEmpty] = Field(
        default_factory=list, description="datasets the data is read from (lineage)"
    )
    outputs: list[NonEmpty] = Field(
        default_factory=list, description="datasets the data is written to (lineage)"
    )


class Collection(_DataEvent):
    """Personal data collected (section A)."""

    kind: Literal["collection"] = "collection"
    source: Source
    source_partner: str | None = Field(
        None, description="partner kind of a third_party source, e.g. credit_bureau"
    )


class Use(_DataEvent):
    """Personal data used for a purpose (section B)."""

    kind: Literal["use"] = "use"
    purpose: Purpose
    channel: str | None = Field(None, description="notification channel, e.g. newsletter")
    public: bool = Field(False, description="the use publishes the data (reviews, ratings)")


class Disclosure(_DataEvent):
    """Personal data disclosed to a recipient (section C)."""

    kind: Literal["disclosure"] = "disclosure"
    purpose: Purpose
    recipient: Recipient
    transfer: Transfer = "share"
    legal_request_ref: str | None = None


class Consent(_Envelope):
    """A consent scope granted or withdrawn (sections C, D, E, G)."""

    kind: Literal["consent"] = "consent"
    scope: Scope
    action: ConsentAction


class PolicyAccepted(_Envelope):
    """The subject accepted the policy version named in ``policy_version`` (G)."""

    kind: Literal["policy_accepted"] = "policy_accepted"
    policy_version: NonEmpty


class SubjectRequest(_Envelope):
    """A data-subject request: access, rectification or deletion."""

    kind: Literal["subject_request"] = "subject_request"
    request: RequestKind


class Deletion(_Envelope):
    """Personal data deleted (F); a family name deletes every category in it."""

    kind: Literal["deletion"] = "deletion"
    data_categories: list[Category] = Field(min_length=1)
    request_ref: str | None = Field(None, description="the subject request it answers, if any")


class AccountClosed(_Envelope):
    """The subject's account was closed (F: retention starts)."""

    kind: Literal["account_closed"] = "account_closed"


Event: TypeAlias = Annotated[
    Collection
    | Use
    | Disclosure
    | Consent
    | PolicyAccepted
    | SubjectRequest
    | Deletion
    | AccountClosed,
    Field(discriminator="kind"),
]
DataEvent: TypeAlias = Collection | Use | Disclosure

EVENT_KINDS: dict[str, type[BaseModel]] = {
    "collection": Collection,
    "use": Use,
    "disclosure": Disclosure,
    "consent": Consent,
    "policy_accepted": PolicyAccepted,
    "subject_request": SubjectRequest,
    "deletion": Deletion,
    "account_closed": AccountClosed,
}

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def _field_path(loc: tuple[int | str, ...]) -> str:
    # the discriminator tag ('collection', ...) is pydantic's, not a field of ours
    parts = [str(p) for p in loc]
    if parts and parts[0] in EVENT_KINDS:
        parts = parts[1:]
    return ".".join(parts) or "event"


def invalid_event(exc: ValidationError) -> InvalidEvent:
    """The :class:`InvalidEvent` that names the first field a validation error is about."""
    first = exc.errors()[0]
    problem = first["msg"]
    if len(exc.errors()) > 1:
        problem += f" (and {len(exc.errors()) - 1} more problem(s))"
    return InvalidEvent(_field_path(first["loc"]), problem)


def parse_event(data: dict[str, Any]) -> Event:
    """A validated event from a dict in the JSON form; :class:`InvalidEvent` names the field."""
    if not isinstance(data, dict):
        raise InvalidEvent("event", "must be a JSON object")
    kind = data.get("kind")
    if kind is None:
        raise InvalidEvent("kind", f"missing; one of {', '.join(EVENT_KINDS)}")
    if kind not in EVENT_KINDS:
        raise InvalidEvent("kind", f"unknown kind {kind!r}; one of {', '.join(EVENT_KINDS)}")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise invalid_event(exc) from exc


def event_from_json(line: str | bytes) -> Event:
    """One event from one line of JSON."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidEvent("event", f"not JSON: {exc.msg} at column {exc.colno}") from exc
    return parse_event(data)


def event_to_dict(event: BaseModel) -> dict[str, Any]:
    """The JSON form as a dict; optional fields that are unset are left out."""
    data = event.model_dump(mode="json", exclude_none=True)
    # envelope first, as a person reads it: id, kind, time, subject, then the rest
    head: dict[str, Any] = {
        k: data.pop(k) for k in ("event_id", "kind", "occurred_at", "subject_id") if k in data
    }
    return {**head, **data}


def event_to_json(event: BaseModel) -> str:
    """The JSON form as one line."""
    return json.dumps(event_to_dict(event), ensure_ascii=False, separators=(", ", ": "))
