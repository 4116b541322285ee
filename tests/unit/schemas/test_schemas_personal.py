"""Nothing personal outside the subject id, and no error repeats a value.

Every string field of every event kind (found by walking the models, so a new
field is covered without touching this file) refuses an e-mail address, a phone
number and a long number, names the field, and never echoes the value: not in
:class:`InvalidEvent`, not in pydantic's own text, not in the codec's
``InvalidPayload`` (the consumer's dead-letter detail).
"""

from __future__ import annotations

import copy
import types
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from jejak.errors import InvalidEvent
from jejak.schemas.codec import Codec, InvalidPayload
from jejak.schemas.models import (
    EMAIL_ADDRESS,
    EVENT_KINDS,
    LONG_NUMBER,
    NAME_MAX,
    PHONE_NUMBER,
    TEXT_MAX,
    Disclosure,
    event_from_json,
    parse_event,
    personal_identifier,
)

# ------------------------------------------------------------------ the rules

POSITIVE = [
    ("budi@example.com", EMAIL_ADDRESS),
    ("budi.santoso+promo@mail.example.co.id", EMAIL_ADDRESS),
    ("ref for siti_aminah@example.id today", EMAIL_ADDRESS),
    ("+62 812-3456-7890", PHONE_NUMBER),
    ("+6281234567890", PHONE_NUMBER),
    ("+1 (415) 555-0100", PHONE_NUMBER),
    ("0812-3456-7890", PHONE_NUMBER),
    ("0812 3456 7890", PHONE_NUMBER),
    ("081234567890", PHONE_NUMBER),
    ("(021) 555-1234", PHONE_NUMBER),
    ("021-5551234", PHONE_NUMBER),
    ("6281234567890", PHONE_NUMBER),
    ("62 812 3456 7890", PHONE_NUMBER),
    ("call 0812.3456.7890", PHONE_NUMBER),
    ("3201234567890123", LONG_NUMBER),  # an NIK
    ("nik:3201234567890123", LONG_NUMBER),
    ("4111111111111111", LONG_NUMBER),  # a card number
    ("4111 1111 1111 1111", LONG_NUMBER),
    ("4111-1111-1111-1111", LONG_NUMBER),
    ("3782 822463 10005", LONG_NUMBER),
    ("acct 1234567890", LONG_NUMBER),
]
NEGATIVE = [
    "user-123",
    "newsletter",
    "orders_db.orders.jakarta",
    "sim-activity:signup:0000123",
    "sim-violation:unconsented_sale:data_broker",
    "KOMDIGI-20260504-42",
    "LP/B/123/05/2026/SIBER",
    "LP/123/III/2026",
    "4bf92f3577b34da6",  # a hex trace id: its digits are glued to letters
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "123e4567-e89b-12d3-a456-426614174000",  # a UUID, even with an all-digit last group
    "trace 00000000-0000-4000-8000-000000000000",
    "2026-05-04",
    "2026-05-04 12:00:00",
    "2026-05-04T08:00:00Z",
    "1.4.2",
    "svc@1.4.2",  # a version after an @ is no address
    "192.168.100.200",
    "ñ-ü-日本",
    "recipient:partner-fintech-1",
    "",
]


@pytest.mark.parametrize(("value", "rule"), POSITIVE)
def test_personal_identifiers_are_recognised(value: str, rule: str) -> None:
    assert personal_identifier(value) == rule


@pytest.mark.parametrize("value", NEGATIVE)
def test_labels_are_not_personal_identifiers(value: str) -> None:
    assert personal_identifier(value) is None


# ------------------------------------------------------------------ every field

# one valid event of each kind with every optional string field filled in
FULL: dict[str, dict[str, Any]] = {
    "collection": {
        "source": "third_party",
        "source_partner": "credit_bureau",
        "data_categories": ["credit.report"],
        "basis": "A.3",
        "inputs": ["bureau.api"],
        "outputs": ["risk.scores"],
    },
    "use": {
        "purpose": "marketing.communications",
        "channel": "newsletter",
        "basis": "D.1",
        "data_categories": ["account.email"],
        "inputs": ["users_db.accounts"],
        "outputs": ["mail.outbox"],
    },
    "disclosure": {
        "purpose": "legal.compliance",
        "recipient": {"id": "polri-cyber", "kind": "law_enforcement", "country": "ID"},
        "legal_request_ref": "LP/123/III/2026",
        "basis": "C.8",
        "data_categories": ["account.email"],
        "inputs": ["users_db.accounts"],
        "outputs": ["legal.exports"],
    },
    "consent": {"scope": "recipient:partner-fintech-1", "action": "granted"},
    "policy_accepted": {"policy_version": "2024-05"},
    "subject_request": {"request": "deletion", "request_ref": "DSR-2026-0001"},
    "deletion": {"data_categories": ["payment"], "request_ref": "r-1"},
    "account_closed": {},
}
for _kind, _fields in FULL.items():
    FULL[_kind] = {
        "event_id": f"{_kind}-1",
        "kind": _kind,
        "occurred_at": "2026-03-01T10:15:30.250Z",
        "subject_id": "ps1_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "producer": {"service": "checkout", "version": "4.2.0"},
        "trace_id": "4bf92f3577b34da6",
        "policy_version": "2024-05",
        **_fields,
    }

# the string fields whose syntax is a vocabulary or a code, refused by that rule first
VOCABULARY = {"data_categories", "purpose", "recipient.kind", "scope", "basis", "recipient.country"}
NOT_CHECKED = {"subject_id", "kind"}  # pseudonymised / the discriminator


def _strings(model: type[BaseModel], prefix: str = "") -> list[tuple[str, bool]]:
    """(dotted path, is a list) of every string field of ``model``, nested models included."""
    found: list[tuple[str, bool]] = []
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        is_list = typing.get_origin(annotation) is list
        if is_list:
            (annotation,) = typing.get_args(annotation)
        while typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _strings(annotation, f"{prefix}{name}.")
        elif annotation is str:
            found.append((f"{prefix}{name}", is_list))
    return found


FIELDS = [
    (kind, path, is_list)
    for kind, model in sorted(EVENT_KINDS.items())
    for path, is_list in _strings(model)
    if path not in NOT_CHECKED
]
PERSONAL = [
    "budi.santoso@example.id",
    "+62 812-3456-7890",
    "0812-3456-7890",
    "3201234567890123",
]


def test_the_table_reaches_every_string_field() -> None:
    """A kind or field added to the models without a value in FULL fails here, not silently."""
    for kind, path, _ in FIELDS:
        assert _get(FULL[kind], path) is not None, f"{kind}.{path} has no value in FULL"
    assert len(FIELDS) >= 40
    for data in FULL.values():
        parse_event(copy.deepcopy(data))


def _get(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data.get(part)  # type: ignore[assignment]
        if data is None:
            return None
    return data


def _put(data: dict[str, Any], path: str, value: Any, is_list: bool) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[part]
    target[last] = [*target[last], value] if is_list else value
    return data


def _error_texts(error: BaseException) -> str:
    """Everything a log line, a traceback or a dead letter could show of an error and its causes."""
    texts = []
    while error is not None:
        texts += [str(error), repr(error)]
        if isinstance(error, ValidationError):
            texts += [e["msg"] for e in error.errors()]
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return "\n".join(texts)


@pytest.mark.parametrize("value", PERSONAL)
@pytest.mark.parametrize(("kind", "path", "is_list"), FIELDS, ids=lambda x: str(x))
def test_every_string_field_refuses_personal_data_without_repeating_it(
    kind: str, path: str, is_list: bool, value: str
) -> None:
    data = _put(FULL[kind], path, value, is_list)
    with pytest.raises(InvalidEvent) as caught:
        parse_event(data)
    field = f"{path}.{len(_get(FULL[kind], path))}" if is_list else path
    assert caught.value.field == field
    if path not in VOCABULARY:
        assert caught.value.problem.startswith(f"looks like {personal_identifier(value)};")
    assert value not in _error_texts(caught.value)


@pytest.mark.parametrize(("kind", "path", "is_list"), FIELDS, ids=lambda x: str(x))
def test_every_string_field_has_a_length_limit(kind: str, path: str, is_list: bool) -> None:
    longest = TEXT_MAX if path not in VOCABULARY else NAME_MAX
    data = _put(FULL[kind], path, "a" * (TEXT_MAX + 1), is_list)
    with pytest.raises(InvalidEvent) as caught:
        parse_event(data)
    assert caught.value.field.startswith(path)
    if path not in VOCABULARY:
        assert f"at most {longest} characters" in caught.value.problem
    assert "a" * (longest + 1) not in _error_texts(caught.value)


@pytest.mark.parametrize("value", PERSONAL)
@pytest.mark.parametrize(("kind", "path", "is_list"), FIELDS, ids=lambda x: str(x))
def test_a_decoded_event_with_personal_data_is_refused_without_repeating_it(
    kind: str, path: str, is_list: bool, value: str
) -> None:
    """What a consumer dead-letters: the detail names the field, not the value."""
    good = parse_event(copy.deepcopy(FULL[kind]))
    data = _put(good.model_dump(), path, value, is_list)
    # built without validation, as bytes from outside arrive; nested models too
    nested = {k: type(v) for k, v in good.__dict__.items() if isinstance(v, BaseModel)}
    bad = type(good).model_construct(
        **{k: nested[k].model_construct(**v) if k in nested else v for k, v in data.items()}
    )
    codec = Codec()
    with pytest.raises(InvalidPayload) as caught:
        codec.decode(codec.encode(bad))
    assert path in caught.value.detail
    assert value not in _error_texts(caught.value)


# ------------------------------------------------------------------ values in other places

RAW = "user-123"
E_MAIL = "budi.santoso@example.id"


@pytest.mark.parametrize("value", [RAW, E_MAIL, "+62 812-3456-7890"])
@pytest.mark.parametrize(
    ("where", "field"),
    [
        ({"kind": "{v}"}, "kind"),
        ({"occurred_at": "{v}"}, "occurred_at"),
        ({"source": "{v}"}, "source"),
        ({"public": "{v}"}, "public"),
        ({"recipient": "{v}"}, "recipient"),
        ({"data_categories": "{v}"}, "data_categories"),
        ({"{v}": 1}, None),  # an unknown key
        ({"producer": {"service": "s", "version": "1", "{v}": "x"}}, None),
    ],
    ids=lambda x: str(x),
)
def test_no_error_repeats_a_value_wherever_it_is_put(
    where: dict[str, Any], field: str | None, value: str
) -> None:
    template = FULL["collection"] if "recipient" not in where else FULL["use"]
    data = copy.deepcopy(template)
    for key, item in where.items():
        key = key.replace("{v}", value)
        if isinstance(item, dict):
            item = {k.replace("{v}", value): v for k, v in item.items()}
        elif isinstance(item, str):
            item = item.replace("{v}", value)
        data[key] = item
    with pytest.raises(InvalidEvent) as caught:
        parse_event(data)
    if field is not None:
        assert caught.value.field == field
    assert value not in str(caught.value) and value not in caught.value.field


def test_a_json_line_with_a_bad_kind_does_not_repeat_it() -> None:
    with pytest.raises(InvalidEvent) as caught:
        event_from_json('{"kind": ["budi@example.id"]}')
    assert caught.value.field == "kind" and "budi" not in str(caught.value)


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(["trace_id", "channel", "inputs", "purpose", "occurred_at", "public"]),
    # a mark no message of ours contains: without it, an input such as "bool" or "date"
    # is found in the fixed wording of an error (pydantic's "bool_parsing"), not echoed
    value=st.text(min_size=4, max_size=300).map(lambda text: "\u2603" + text),
)
def test_property_no_error_text_contains_the_input(field: str, value: str) -> None:
    data = copy.deepcopy(FULL["use"])
    data[field] = [value] if field == "inputs" else value
    try:
        event = parse_event(data)
    except InvalidEvent as exc:
        assert value not in str(exc)
        assert value not in str(exc.__cause__ or "")
    else:
        if field not in ("occurred_at", "public"):  # coerced: "0000" is a Unix time, "yes" true
            assert getattr(event, field) in (value, [value])


def test_pydantic_hides_the_input_in_its_own_text() -> None:
    data = _put(FULL["disclosure"], "legal_request_ref", E_MAIL, False)
    with pytest.raises(ValidationError) as caught:
        Disclosure.model_validate(data)
    assert E_MAIL not in str(caught.value) and "input_value" not in str(caught.value)
