"""Hypothesis strategies for events in their JSON form, respecting the models' validators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from jejak.schemas.models import EVENT_KINDS, TEXT_MAX, personal_identifier


def _not_personal(value: str) -> bool:
    return personal_identifier(value) is None


# text as services send it: any Unicode scalar value (no lone surrogates, which
# UTF-8 and therefore Avro strings cannot carry), without what looks like an
# e-mail address or a phone number (the models refuse those: test_schemas_personal)
_CHARS = st.characters(exclude_categories=("Cs",))
TEXT = st.text(_CHARS, min_size=1, max_size=40).filter(_not_personal)
OPTIONAL_TEXT = st.text(_CHARS, max_size=40).filter(_not_personal)
LONG_TEXT = st.text(_CHARS, min_size=1, max_size=TEXT_MAX).filter(_not_personal)
# the subject id is not checked for identifiers: a raw id is what the SDK pseudonymises
SUBJECT = st.text(_CHARS, min_size=1, max_size=TEXT_MAX)
DOTTED = st.from_regex(r"[a-z][a-z0-9_]{0,12}(\.[a-z0-9_]{1,12}){0,3}", fullmatch=True).filter(
    _not_personal
)
SCOPE = st.from_regex(r"[a-z_]{1,16}(:[^\s]{1,24})?", fullmatch=True).filter(_not_personal)
CLAUSE = st.from_regex(r"[A-G](\.[0-9]{1,2}){0,2}", fullmatch=True)
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-11, minutes=-30))]
)
# the whole range the store holds (1900-2299), a day in from each end so that no
# offset leaves it in UTC
TIMESTAMPS = st.datetimes(  # hypothesis takes naive bounds and adds the zones
    min_value=datetime(1900, 1, 2),  # noqa: DTZ001
    max_value=datetime(2299, 12, 30),  # noqa: DTZ001
    timezones=ZONES,
)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _json_time(value: datetime) -> str:
    return value.isoformat()


def _envelope(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "event_id": LONG_TEXT,
            "kind": st.just(kind),
            "occurred_at": TIMESTAMPS.map(_json_time),
            "subject_id": SUBJECT,
        },
        optional={
            "producer": _optional(st.fixed_dictionaries({"service": TEXT, "version": TEXT})),
            "trace_id": _optional(OPTIONAL_TEXT),
            "policy_version": _optional(OPTIONAL_TEXT),
        },
    )


def _data_fields() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "basis": _optional(CLAUSE),
        "inputs": st.lists(TEXT, max_size=3),
        "outputs": st.lists(TEXT, max_size=3),
    }


_REQUIRED: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "collection": {"source": st.sampled_from(["user", "recorded", "third_party"])},
    "use": {"purpose": DOTTED},
    "disclosure": {
        "purpose": DOTTED,
        "recipient": st.fixed_dictionaries(
            {"id": TEXT, "kind": DOTTED},
            optional={"country": _optional(st.text(min_size=2, max_size=2))},
        ),
    },
    "consent": {"scope": SCOPE, "action": st.sampled_from(["granted", "withdrawn"])},
    "policy_accepted": {"policy_version": TEXT},
    "subject_request": {"request": st.sampled_from(["access", "rectification", "deletion"])},
    "deletion": {"data_categories": st.lists(DOTTED, min_size=1, max_size=4)},
    "account_closed": {},
}
_OPTIONAL: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "collection": {**_data_fields(), "source_partner": _optional(TEXT)},
    "use": {**_data_fields(), "channel": _optional(TEXT), "public": st.booleans()},
    "disclosure": {
        **_data_fields(),
        "transfer": st.sampled_from(["share", "sale"]),
        "legal_request_ref": _optional(TEXT),
    },
    "consent": {},
    "policy_accepted": {},
    "subject_request": {},
    "deletion": {"request_ref": _optional(TEXT)},
    "account_closed": {},
}
_DATA_KINDS = ("collection", "use", "disclosure")


def event_dicts(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Events of ``kind`` in the JSON form (policy-semantics §5), as dicts."""
    required = dict(_REQUIRED[kind])
    if kind in _DATA_KINDS:
        required["data_categories"] = st.lists(DOTTED, min_size=1, max_size=4)
    own = st.fixed_dictionaries(required, optional=_OPTIONAL[kind])

    def merge(parts: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
        envelope, fields = parts
        return {**envelope, **fields}

    return st.tuples(_envelope(kind), own).map(merge)


def any_event_dict() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of([event_dicts(kind) for kind in EVENT_KINDS])
