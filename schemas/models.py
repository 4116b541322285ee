"""Pydantic models of the events, mirroring the Avro schemas field by field.

Vocabulary (categories, purposes, recipient kinds, consent scopes) is carried
as validated *strings*: their syntax is checked here, their meaning against the
policy in force downstream, so the vocabulary can grow without a schema change.

The JSON form (policy-semantics §5) uses the same field names as Avro.

**Nothing personal outside the subject id.** The subject id is the one field
that names a person, and it is pseudonymised (:mod:`jejak.schemas.pseudonym`).
Every other string (trace ids, references, channels, partner kinds, dataset
names, the recipient id, the producer, the vocabulary) has a length limit and
is refused when it looks like a personal identifier (:func:`personal_identifier`:
an e-mail address, a phone number, a long number such as an NIK or a card
number), because whatever a producer puts there is copied into the store, into
alert summaries and into dead letters. The checks are heuristics: they catch
the identifiers people paste by mistake, not every way to spell one.

**Errors never repeat the value.** A validation error names the field and the
rule (:func:`invalid_event`); pydantic's own text is used only where it carries
no input, and the models hide the input from ``str(ValidationError)`` too, so a
log line or a chained traceback does not show it either.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails

from jejak.errors import InvalidEvent, PersonalDataRefused

if TYPE_CHECKING:
    from jejak.settings import EventSettings

# fullmatch, not match with "$": "$" also matches before a trailing newline, so
# "account.email\n" used to pass as a category.
_DOTTED = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
_SCOPE = re.compile(r"[a-z_]+(:[^\s]+)?")
_CLAUSE = re.compile(r"[A-G](\.[0-9]+)*")

TEXT_MAX = 256
"""Longest free-text value (trace id, reference, dataset name, ...): these are labels, not prose."""
NAME_MAX = 128
"""Longest vocabulary term (category, purpose, recipient kind) or clause id."""
LONG_NUMBER_DIGITS = 10
"""An unbroken run of this many digits is refused: NIKs (16), card (13-19) and account numbers."""


def _dotted(value: str) -> str:
    if not _DOTTED.fullmatch(value):
        raise ValueError("is not a dotted lower-case name such as 'account.email'")
    return _no_identifier(value)  # in this call, not a second validator: a hot path


def _scope(value: str) -> str:
    if not _SCOPE.fullmatch(value):
        raise ValueError("is not a consent scope such as 'recipient:partner-1'")
    return _no_identifier(value)


def _clause(value: str) -> str:
    if not _CLAUSE.fullmatch(value):
        raise ValueError("is not a clause id such as 'C.2' or 'A.1.1'")
    return value


# -------------------------------------------------------------- personal identifiers

# something@domain.tld, the top-level domain in letters: "svc@1.4.2" is not an address
_EMAIL = re.compile(r"[^\s@]@[^\s@]+\.[^\W\d_]{2,}")
# a number as people write one: digit groups joined by one or two of " .-()", an
# optional leading "+", not glued to letters or digits on either side (so the digits
# inside a hex trace id such as 4bf92f3577b34da6 are not a number)
_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])(?:\+ ?)?\(?[0-9]+(?:[ .()\-]{1,2}[0-9]+)*\)?(?![0-9A-Za-z])"
)
_DIGITS = re.compile(r"[0-9]+")
# every number rule below needs at least eight digits in a run of digits and separators:
# one cheap search for such a run rules out almost every label before the scan (hot path)
_NUMBER_GATE = re.compile(r"[0-9][0-9 .()\-]{7}")
# a UUID's last group is twelve hex digits, all of them decimal one time in 300:
# UUIDs (event ids, trace ids) are taken out before numbers are looked for
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

EMAIL_ADDRESS = "an e-mail address"
PHONE_NUMBER = "a phone number"
LONG_NUMBER = "a long number (an NIK, card or account number)"


def _number_rule(number: str) -> str | None:
    groups = _DIGITS.findall(number)
    digits = sum(len(g) for g in groups)
    first = groups[0]
    if number.startswith("+"):  # E.164: +62 812-3456-7890
        return PHONE_NUMBER if digits >= 8 else None
    if first.startswith("0") and 9 <= digits <= 13 and (len(groups) == 1 or 3 <= len(first) <= 5):
        return PHONE_NUMBER  # Indonesian local forms: 0812-3456-7890, (021) 555-1234
    if (first == "62" and len(groups) > 1 or first.startswith("628")) and 10 <= digits <= 14:
        return PHONE_NUMBER  # the country code without the "+": 62 812 3456 7890
    if max(len(g) for g in groups) >= LONG_NUMBER_DIGITS:
        return LONG_NUMBER
    if len(groups) >= 3 and 13 <= digits <= 19 and all(3 <= len(g) <= 6 for g in groups):
        return LONG_NUMBER  # grouped: 4111 1111 1111 1111, 3201-2345-6789-0123
    return None


def personal_identifier(value: str) -> str | None:
    """Which kind of personal identifier ``value`` contains (``"a phone number"``), or None.

    The rules: an e-mail address; a phone number in E.164 form (``+62 812 3456
    7890``) or an Indonesian local one (``0812-3456-7890``, ``(021) 555-1234``,
    ``6281234567890``); a long number, that is an unbroken run of
    :data:`LONG_NUMBER_DIGITS` or more digits or 13 to 19 digits in groups (an
    NIK, a card or an account number). Digits glued to letters (a hex trace id)
    and UUIDs are not numbers. Dates such as ``2026-05-04`` and versions pass.
    """
    if "@" in value and _EMAIL.search(value):
        return EMAIL_ADDRESS
    if _NUMBER_GATE.search(value) is None:
        return None
    if "-" in value:
        if len(value) == 36 and _UUID.fullmatch(value):
            return None  # a UUID alone (an event id): the substitution below leaves "x"
        value = _UUID.sub("x", value)
    for match in _NUMBER.finditer(value):
        rule = _number_rule(match.group())
        if rule is not None:
            return rule
    return None


class PersonalIdentifierFound(ValueError):
    """What :func:`_no_identifier` raises, so the error can be told from other invalid input."""


def _no_identifier(value: str) -> str:
    """The one check behind every free-text field and vocabulary term (see :data:`Text`)."""
    if "@" not in value and _NUMBER_GATE.search(value) is None:
        return value  # the common case, without a call
    rule = personal_identifier(value)
    if rule is not None:
        raise PersonalIdentifierFound(
            f"looks like {rule}; personal data belongs only in subject_id, which is pseudonymised"
        )
    return value


# ------------------------------------------------------------------ timestamps

# RFC 3339 date-time (section 5.6), the zone required; "T" or a space between date and time
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
STORABLE_FROM = datetime(1900, 1, 1, tzinfo=UTC)
"""The earliest time the store can hold (ClickHouse ``DateTime64``: 1900-01-01 to 2299-12-31)."""
STORABLE_UNTIL = datetime(2300, 1, 1, tzinfo=UTC)
"""The first time after what the store can hold: no event is at or after it."""


def _timestamp_form(value: Any) -> Any:
    """Only the documented forms: an aware ``datetime``, or RFC 3339 text with a zone.

    Numbers are refused, not read as Unix time: pydantic would guess seconds or
    milliseconds from the size (``1234567890`` silently becomes 2009), and a
    producer that sends epoch numbers has a bug worth hearing about.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            "must be an RFC 3339 time with a zone such as 2026-05-01T08:00:00Z; "
            "numbers (Unix times) are not accepted"
        )
    raise ValueError("is not an RFC 3339 time with a zone such as 2026-05-01T08:00:00Z")


def _utc_millis(value: datetime) -> datetime:
    """Timestamps are UTC, carried to the millisecond (Avro ``timestamp-millis``), and
    within what the store can hold."""
    if value.tzinfo is not UTC:  # (a decoded event's time is UTC already: a hot path)
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a time zone (for example a trailing 'Z')")
        try:
            value = value.astimezone(UTC)
        except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
            raise ValueError("is outside the years 1 to 9999 once converted to UTC") from exc
    if not STORABLE_FROM <= value < STORABLE_UNTIL:
        raise ValueError("is outside the years 1900 to 2299, which the store can hold")
    micros = value.microsecond % 1000
    return value.replace(microsecond=value.microsecond - micros) if micros else value


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The ``occurred_at`` values accepted from producers: not before ``earliest``, not more
    than ``max_future`` ahead of now.

    Kept out of model validation, which must not depend on the clock (an event
    read back from the store years later is still valid): the edges check it,
    ``jejak emit`` before sending and the consumer before storing (it
    dead-letters an event outside the window as invalid). Set by
    ``JEJAK_EVENTS__EARLIEST`` and ``JEJAK_EVENTS__MAX_FUTURE_S``.
    """

    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    max_future: timedelta = timedelta(days=1)

    @classmethod
    def from_settings(cls, events: EventSettings) -> TimeWindow:
        return cls(events.earliest, timedelta(seconds=events.max_future_s))

    def problem(self, occurred_at: datetime, now: datetime) -> str | None:
        """Why ``occurred_at`` is outside the window, in words that do not quote it; or None."""
        if occurred_at < self.earliest:
            return (
                f"is before {format_timestamp(self.earliest)}, the earliest accepted "
                "(JEJAK_EVENTS__EARLIEST)"
            )
        if occurred_at > now + self.max_future:
            return (
                f"is more than {self.max_future.total_seconds():.0f} s in the future "
                "(JEJAK_EVENTS__MAX_FUTURE_S)"
            )
        return None

    def check(self, event: Any, now: datetime | None = None) -> None:
        """:class:`InvalidEvent` on ``occurred_at`` when the event is outside the window."""
        problem = self.problem(event.occurred_at, now or datetime.now(UTC))
        if problem is not None:
            raise InvalidEvent("occurred_at", problem)


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


_NO_IDENTIFIER = AfterValidator(_no_identifier)

Text = Annotated[str, Field(max_length=TEXT_MAX), _NO_IDENTIFIER]
"""Free text: every string field but the subject id and the vocabulary (declared once, here)."""
NonEmpty = Annotated[str, Field(min_length=1, max_length=TEXT_MAX), _NO_IDENTIFIER]
"""Free text that must be given (the event id, the producer, the recipient id, dataset names)."""
SubjectId = Annotated[str, Field(min_length=1, max_length=TEXT_MAX)]
"""The subject id: raw when a model is built, a pseudonym by the time it is sent (not checked
for identifiers here, since a raw id is exactly what the SDK pseudonymises)."""
Category = Annotated[str, Field(max_length=NAME_MAX), AfterValidator(_dotted)]
"""A data category such as ``payment.credit_card``; a prefix names its family."""
Purpose = Category
RecipientKind = Category
Scope = Annotated[str, Field(max_length=TEXT_MAX), AfterValidator(_scope)]
Clause = Annotated[str, Field(max_length=NAME_MAX), AfterValidator(_clause)]
Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp_form),
    AfterValidator(_utc_millis),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]

Source = Literal["user", "recorded", "third_party"]
Transfer = Literal["share", "sale"]
ConsentAction = Literal["granted", "withdrawn"]
RequestKind = Literal[
    "access", "rectification", "deletion", "consent_withdrawal", "objection", "suspension"
]
RequestStatus = Literal["received", "fulfilled", "rejected"]


def new_event_id() -> str:
    return str(uuid.uuid4())


class _Model(BaseModel):
    # hide_input_in_errors: str(ValidationError) leaves out input_value=..., which
    # would otherwise repeat a raw id or an e-mail address in a log or traceback
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=False, hide_input_in_errors=True
    )


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
    subject_id: SubjectId = Field(description="pseudonymous subject id (HMAC of the raw id)")
    producer: ProducerInfo | None = None
    trace_id: Text | None = None
    policy_version: Text | None = Field(
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
    source_partner: Text | None = Field(
        None, description="partner kind of a third_party source, e.g. credit_bureau"
    )


class Use(_DataEvent):
    """Personal data used for a purpose (section B)."""

    kind: Literal["use"] = "use"
    purpose: Purpose
    channel: Text | None = Field(None, description="notification channel, e.g. newsletter")
    public: bool = Field(False, description="the use publishes the data (reviews, ratings)")


class Disclosure(_DataEvent):
    """Personal data disclosed to a recipient (section C)."""

    kind: Literal["disclosure"] = "disclosure"
    purpose: Purpose
    recipient: Recipient
    transfer: Transfer = "share"
    legal_request_ref: Text | None = None


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
    """A data-subject request (UU PDP Art. 5-11), or a change of its status (schema v2)."""

    kind: Literal["subject_request"] = "subject_request"
    request: RequestKind
    request_ref: Text | None = Field(None, description="the case; later events name it again")
    status: RequestStatus | None = Field(None, description="null means received")


class Deletion(_Envelope):
    """Personal data deleted (F); a family name deletes every category in it."""

    kind: Literal["deletion"] = "deletion"
    data_categories: list[Category] = Field(min_length=1)
    request_ref: Text | None = Field(None, description="the subject request it answers, if any")


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

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event, config=ConfigDict(hide_input_in_errors=True))

# a key the caller sent that is no field of ours is named only when it looks like a field name
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# pydantic messages that may quote the input itself, not only the rule
_QUOTING_TYPES = frozenset({"union_tag_invalid", "json_invalid", "literal_error", "enum"})


def _field_path(loc: tuple[int | str, ...]) -> str:
    # the discriminator tag ('collection', ...) is pydantic's, not a field of ours
    parts = list(loc)
    if parts and parts[0] in EVENT_KINDS:
        parts = parts[1:]
    # a key that is no field of ours came from the input: shown only if it is name-shaped
    return ".".join(_loc_part(p) for p in parts) or "event"


def _loc_part(part: int | str) -> str:
    if isinstance(part, int) or (_FIELD_NAME.fullmatch(part) and personal_identifier(part) is None):
        return str(part)
    return "(a key)"


def _problem(error: ErrorDetails) -> str:
    """The rule an error is about, in words that never quote the input."""
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "is not a field of this kind of event"
    value = error.get("input")
    if isinstance(value, str) and value and (kind in _QUOTING_TYPES or value in message):
        if kind == "literal_error":  # "Input should be 'user', 'recorded' or 'third_party'"
            return message  # lists the allowed values; the input is not one of them
        return f"is not valid ({kind})"
    return message


def invalid_event(exc: ValidationError) -> InvalidEvent:
    """The :class:`InvalidEvent` that names the first field a validation error is about.

    Built from the error's location and type only, never from its input: the
    text goes into dead letters, CLI output and logs, and the input may be a raw
    id or an e-mail address.
    """
    errors = exc.errors(include_url=False)
    personal = [
        e for e in errors if isinstance((e.get("ctx") or {}).get("error"), PersonalIdentifierFound)
    ]
    first = personal[0] if personal else errors[0]
    problem = _problem(first)
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more problem(s))"
    cls = PersonalDataRefused if personal else InvalidEvent
    return cls(_field_path(first["loc"]), problem)


def parse_event(data: dict[str, Any]) -> Event:
    """A validated event from a dict in the JSON form; :class:`InvalidEvent` names the field."""
    if not isinstance(data, dict):
        raise InvalidEvent("event", "must be a JSON object")
    kind = data.get("kind")
    if kind is None:
        raise InvalidEvent("kind", f"missing; one of {', '.join(EVENT_KINDS)}")
    if not isinstance(kind, str) or kind not in EVENT_KINDS:
        # not quoted: whatever was sent in its place may be personal
        raise InvalidEvent("kind", f"unknown kind; one of {', '.join(EVENT_KINDS)}")
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
