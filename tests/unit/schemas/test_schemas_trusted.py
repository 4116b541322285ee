"""The trusted decode path: what it builds equals what validation builds, and it never
accepts what validation refuses (then the validating path decides, with its errors)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError, field_validator
from pydantic import Field as PydanticField
from schemas_strategies import any_event_dict

from jejak.consumers.worker import Decoded, Undecodable, decode_message
from jejak.errors import InvalidEvent, UndecodableEvent
from jejak.producers.simulate import simulate
from jejak.schemas import trusted
from jejak.schemas.codec import Codec
from jejak.schemas.models import (
    EVENT_KINDS,
    Event,
    _utc_millis,
    invalid_event,
    parse_event,
    personal_identifier,
)
from jejak.schemas.trusted import UnsupportedModel, builder_for, compile_builder

FAST = Codec()
SLOW = Codec(trusted_decode=False)


def _same(fast: BaseModel, slow: BaseModel) -> None:
    """Equal as pydantic compares them, and equal in everything it does not compare."""
    assert type(fast) is type(slow)
    assert fast == slow
    assert repr(fast) == repr(slow)  # also the time zone objects and the nested models
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.__pydantic_extra__ == slow.__pydantic_extra__
    assert fast.__pydantic_private__ == slow.__pydantic_private__
    assert fast.model_dump(mode="json") == slow.model_dump(mode="json")
    try:
        expected_hash: int | type[TypeError] = hash(slow)
    except TypeError:  # a model with a list field is not hashable, either way
        expected_hash = TypeError
    try:
        got_hash: int | type[TypeError] = hash(fast)
    except TypeError:
        got_hash = TypeError
    assert got_hash == expected_hash
    for name in type(slow).model_fields:
        value = getattr(slow, name)
        if isinstance(value, BaseModel):
            _same(getattr(fast, name), value)


def _record(payload: bytes) -> dict[str, Any]:
    """The record the compiled reader makes of a single-object payload."""
    plan = FAST._by_fingerprint[payload[2:10]]
    record, _ = plan.read(payload, 10)
    return record


# ------------------------------------------------------------------ well-formed events


SIMULATED = simulate(users=300, days=1, seed=5, violation_rate=0.05).events


def test_simulated_events_cover_every_kind() -> None:
    assert {e.kind for e in SIMULATED} == set(EVENT_KINDS)


def test_simulated_events_decode_equal_both_ways_and_take_the_trusted_path() -> None:
    builders = {kind: compile_builder(model) for kind, model in EVENT_KINDS.items()}
    assert len(SIMULATED) > 1000
    for event in SIMULATED:
        payload = FAST.encode(event)
        _same(FAST.decode(payload), SLOW.decode(payload))
        built = builders[event.kind](_record(payload))  # not a fallback to validation
        assert built is not None
        _same(built, SLOW.decode(payload))


@settings(max_examples=300, deadline=None)
@given(any_event_dict())
def test_generated_events_decode_equal_both_ways(data: dict[str, Any]) -> None:
    event = parse_event(data)
    payload = FAST.encode(event)
    _same(FAST.decode(payload), SLOW.decode(payload))
    assert compile_builder(type(event))(_record(payload)) is not None


def test_events_decode_equal_when_the_memo_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trusted, "MEMO_SIZE", 2)
    small = Codec()
    for event in SIMULATED[:500]:
        payload = small.encode(event)
        _same(small.decode(payload), SLOW.decode(payload))


def test_every_kind_has_a_builder() -> None:
    """Else the trusted path is silently off for that kind (always validated)."""
    for model in EVENT_KINDS.values():
        compile_builder(model)  # raises UnsupportedModel


# ------------------------------------------------------------------ broken records

LONG = "x" * 257
EMAIL = "ani@example.co.id"
PHONE = "+62 812 3456 7890"
# what each field is broken with: the validating path refuses most of these; where
# it accepts (a coercion such as 1 -> True), the trusted path must give the same model
BROKEN: dict[str, list[Any]] = {
    "event_id": ["", LONG, EMAIL, PHONE, 7, None],
    "kind": ["use ", "Collection", "", None, 1],
    "occurred_at": [
        datetime(2026, 3, 1, 8),  # noqa: DTZ001 - naive: no zone
        datetime(1899, 12, 31, 23, tzinfo=UTC),
        datetime(2300, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC),  # accepted, to the millisecond
        datetime(2026, 3, 1, 15, tzinfo=timezone(timedelta(hours=7))),  # accepted, as UTC
        "2026-03-01T08:00:00Z",  # accepted (text), as the JSON form is
        1_772_352_000_000,
        None,
    ],
    "subject_id": ["", LONG, None, b"ps1_x"],
    "producer": [
        {"service": "", "version": "1"},
        {"service": "svc", "version": EMAIL},
        {"service": "svc", "version": "2026.3.1", "extra": "x"},
        {"service": "svc"},
        "svc",
    ],
    "producer.service": ["", LONG, PHONE],
    "producer.version": ["", "0812-3456-7890", 3],
    "trace_id": [LONG, EMAIL, "0812-3456-7890", 5, ""],
    "policy_version": [LONG, EMAIL, "", 2024],
    "data_categories": [
        [],
        ["Account.Email"],
        ["account.email\n"],
        ["account..email"],
        ["a" * 129],
        ["account.msisdn_081234567890"],
        [EMAIL],
        "account.email",
        ["account.email", 3],
        ("account.email",),
    ],
    "basis": ["X.1", "C.", "c.2", "C.2 ", "C." + "1" * 127, 2],
    "inputs": [[""], [LONG], [EMAIL], "users.profile", [None]],
    "outputs": [[""], [PHONE], ["0812-3456-7890"]],
    "source": ["users", "", None, "USER"],
    "source_partner": [EMAIL, LONG, 1],
    "purpose": ["", "Marketing", "marketing.", "marketing ads", None, "a" * 129],
    "channel": [EMAIL, LONG],
    "public": [1, 0, "true", None, 2],
    "recipient": [
        {"id": "p", "kind": "logistics_provider", "country": "X"},
        {"id": "p", "kind": "logistics_provider", "country": "IDN"},
        {"id": "", "kind": "logistics_provider", "country": None},
        {"id": EMAIL, "kind": "logistics_provider", "country": None},
        {"id": "p", "kind": "Logistics", "country": None},
        {"id": "p", "kind": "logistics_provider"},
        {"id": "p", "kind": "logistics_provider", "country": None, "x": 1},
        None,
    ],
    "recipient.id": ["", LONG, "0812-3456-7890"],
    "recipient.kind": ["", "Logistics Provider", "x" * 129],
    "recipient.country": ["I", "IDN", "", 62],
    "transfer": ["gift", "Share", "", None],
    "legal_request_ref": [EMAIL, LONG],
    "scope": ["", "recipient: partner", "Recipient:p", "channel:" + EMAIL, "x" * 257, None],
    "action": ["grant", "", None],
    "request": ["erase", "", None],
    "request_ref": [EMAIL, LONG, "3201234567890123"],
    "status": ["done", "", 1],
    "(extra)": ["anything"],
    "(missing)": [None],
}


def _paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, field in model.model_fields.items():
        out.add(prefix + name)
        nested = [a for a in (field.annotation, *getattr(field.annotation, "__args__", ())) if a]
        for candidate in nested:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                out |= _paths(candidate, f"{prefix}{name}.")
    return out


def test_the_table_breaks_every_field_of_every_kind() -> None:
    fields = set().union(*(_paths(model) for model in EVENT_KINDS.values()))
    assert fields <= set(BROKEN), sorted(fields - set(BROKEN))


def _valid_records() -> dict[str, dict[str, Any]]:
    """One record per kind as the reader makes it, with every optional field set."""
    records: dict[str, dict[str, Any]] = {}
    for event in SIMULATED:
        record = _record(FAST.encode(event))
        best = records.get(event.kind)
        if best is None or _set_fields(record) > _set_fields(best):
            records[event.kind] = record
    return records


def _set_fields(record: dict[str, Any]) -> int:
    return sum(value not in (None, []) for value in record.values())


def _broken(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = {**record}
    if path == "(extra)":
        out["unexpected"] = value
    elif path == "(missing)":
        out.pop("subject_id")
    elif "." in path:
        outer, inner = path.split(".")
        if not isinstance(out[outer], dict):
            out[outer] = {"service": "svc", "version": "1"} if outer == "producer" else {}
        out[outer] = {**out[outer], inner: value}
    else:
        out[path] = value
    return out


def _outcome(validate: Any, record: dict[str, Any]) -> BaseModel | tuple[type, str, str]:
    try:
        return validate(record)  # type: ignore[no-any-return]
    except ValidationError as exc:
        invalid = invalid_event(exc)
        return type(invalid), invalid.field, invalid.problem


def _broken_records() -> list[tuple[str, str, Any, dict[str, Any]]]:
    cases = []
    for kind, record in _valid_records().items():
        paths = _paths(EVENT_KINDS[kind]) | {"(extra)", "(missing)"}
        for path in sorted(paths):
            for value in BROKEN[path]:
                cases.append((kind, path, value, _broken(record, path, value)))
    return cases


BROKEN_RECORDS = _broken_records()


def test_the_broken_records_are_mostly_refused() -> None:
    """A meta-test: the table is about refusals, not only about coercions."""
    refused = sum(
        isinstance(_outcome(EVENT_KINDS[kind].model_validate, record), tuple)
        for kind, _, _, record in BROKEN_RECORDS
    )
    assert refused > 0.8 * len(BROKEN_RECORDS)


@pytest.mark.parametrize(("kind", "path", "value", "record"), BROKEN_RECORDS)
def test_a_broken_record_gets_what_validation_gives(
    kind: str, path: str, value: Any, record: dict[str, Any]
) -> None:
    model = EVENT_KINDS[kind]
    expected = _outcome(model.model_validate, record)
    built = compile_builder(model)(record)
    if isinstance(expected, tuple):
        assert built is None  # refused by validation: never built
    elif built is not None:
        _same(built, expected)
    # what the codec does with it: the builder first, then validation
    plan = next(p for p in FAST._by_fingerprint.values() if p.writer.kind == kind)
    assert plan.build is not None
    got = plan.build(record) or _outcome(plan.validate, record)
    if isinstance(expected, tuple):
        assert got == expected
    else:
        assert isinstance(got, BaseModel)
        _same(got, expected)


# ------------------------------------------------------------------ dead letters


class Msg:
    """The parts of a confluent-kafka message that decode_message reads."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41

    def key(self) -> bytes:
        return b"ps1_key"

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return [("jejak.kind", b"use")]


def _unvalidated(event: Event, **changes: Any) -> BaseModel:
    """The event with fields changed past validation: what a buggy producer could send."""
    return type(event).model_construct(**{**dict(event), **changes})


def _some(kind: str) -> Event:
    return next(e for e in SIMULATED if e.kind == kind)


INVALID_PAYLOADS = {
    "empty event id": ("use", {"event_id": ""}),
    "e-mail event id": ("use", {"event_id": EMAIL}),
    "phone trace id": ("collection", {"trace_id": PHONE}),
    "before 1900": ("consent", {"occurred_at": datetime(1850, 1, 1, tzinfo=UTC)}),
    "2300 or later": ("use", {"occurred_at": datetime(2400, 1, 1, tzinfo=UTC)}),
    "bad category": ("disclosure", {"data_categories": ["Account.Email"]}),
    "no category": ("deletion", {"data_categories": []}),
    "bad purpose": ("use", {"purpose": "marketing ads"}),
    "bad scope": ("consent", {"scope": "recipient: p"}),
    "bad clause": ("use", {"basis": "Z.9"}),
    "bad action": ("consent", {"action": "granted!"}),
    "bad source": ("collection", {"source": "somewhere"}),
    "bad request": ("subject_request", {"request": "erase"}),
    "dataset with a phone number": ("collection", {"outputs": ["backup-081234567890"]}),
}


def _kind_of_another_schema() -> bytes:
    """An account_closed payload whose kind field says consent (the encoder cannot write one)."""
    plan = FAST._write_plans["account_closed"]
    out = bytearray(plan.header)
    plan.write(_unvalidated(_some("account_closed"), kind="consent"), out)
    return bytes(out)


@pytest.mark.parametrize("case", [*sorted(INVALID_PAYLOADS), "kind of another schema"])
def test_an_invalid_event_is_dead_lettered_for_the_same_reason(case: str) -> None:
    if case == "kind of another schema":
        payload = _kind_of_another_schema()
    else:
        kind, changes = INVALID_PAYLOADS[case]
        payload = FAST.encode(_unvalidated(_some(kind), **changes))
    with pytest.raises(UndecodableEvent) as slow_error:
        SLOW.decode(payload)
    with pytest.raises(UndecodableEvent) as fast_error:
        FAST.decode(payload)
    assert type(fast_error.value) is type(slow_error.value)
    assert (fast_error.value.reason, fast_error.value.detail) == (
        slow_error.value.reason,
        slow_error.value.detail,
    )
    fast, slow = decode_message(FAST, Msg(payload)), decode_message(SLOW, Msg(payload))
    assert isinstance(fast, Undecodable)
    assert fast == slow


def test_a_good_message_decodes_the_same_both_ways() -> None:
    payload = FAST.encode(_some("disclosure"))
    fast, slow = decode_message(FAST, Msg(payload)), decode_message(SLOW, Msg(payload))
    assert isinstance(fast, Decoded)
    assert isinstance(slow, Decoded)
    assert fast.origin == slow.origin
    _same(fast.event, slow.event)


# ------------------------------------------------------------------ the compiler's limits


class _WithValidator(BaseModel):
    name: str

    @field_validator("name")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class _WithNumber(BaseModel):
    count: int = PydanticField(ge=0)


class _WithAlias(BaseModel):
    name: str = PydanticField(alias="Name")


@pytest.mark.parametrize("model", [_WithValidator, _WithNumber, _WithAlias])
def test_a_model_the_compiler_does_not_know_is_always_validated(model: type[BaseModel]) -> None:
    with pytest.raises(UnsupportedModel):
        compile_builder(model)
    assert builder_for(model) is None


def test_instance_is_what_validation_leaves() -> None:
    """The one place that writes pydantic's instance attributes, pinned to model_validate."""
    for event in SIMULATED[:200]:
        validated = type(event).model_validate(dict(event))
        made = trusted._instance(type(event), dict(validated.__dict__))
        _same(made, validated)
        assert vars(made) == vars(validated)
        copied = made.model_copy(update={"subject_id": "ps1_other"})
        assert copied.subject_id == "ps1_other"
        assert copied.model_fields_set == validated.model_fields_set


# ------------------------------------------------------------------ the validators it calls


@settings(max_examples=200)
@given(st.uuids())
def test_a_uuid_alone_is_not_a_personal_identifier(value: uuid.UUID) -> None:
    for text in (str(value), str(value).upper()):
        assert personal_identifier(text) is None
        assert personal_identifier(f"{text} 0812-3456-7890") is not None


def _utc_millis_as_before(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


@settings(max_examples=300)
@given(
    st.datetimes(
        min_value=datetime(1900, 1, 2),  # noqa: DTZ001
        max_value=datetime(2299, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3))]
        ),
    )
)
def test_utc_millis_on_utc_times_is_what_it_was(value: datetime) -> None:
    got = _utc_millis(value)
    assert got == _utc_millis_as_before(value)
    assert got.tzinfo is UTC
    assert got.microsecond % 1000 == 0


def test_invalid_event_text_does_not_change() -> None:
    """The fallback raises exactly the validating path's errors (an InvalidEvent)."""
    with pytest.raises(InvalidEvent):
        parse_event({"kind": "use", "occurred_at": "2026-03-01T08:00:00Z"})
