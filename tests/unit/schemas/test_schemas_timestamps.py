"""``occurred_at``: only the documented forms, only what the store holds, and the window."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from jejak.errors import InvalidEvent
from jejak.schemas.codec import InvalidPayload, default_codec
from jejak.schemas.models import Consent, TimeWindow, parse_event
from jejak.settings import EventSettings

CONSENT: dict[str, Any] = {
    "event_id": "c-1",
    "kind": "consent",
    "occurred_at": "2026-03-01T09:00:00Z",
    "subject_id": "s-1",
    "scope": "marketing",
    "action": "granted",
}


def _at(value: Any) -> Any:
    data = copy.deepcopy(CONSENT)
    data["occurred_at"] = value
    return parse_event(data).occurred_at


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T09:00:00Z", datetime(2026, 3, 1, 9, tzinfo=UTC)),
        ("2026-03-01t09:00:00z", datetime(2026, 3, 1, 9, tzinfo=UTC)),
        ("2026-03-01 09:00:00Z", datetime(2026, 3, 1, 9, tzinfo=UTC)),
        ("2026-03-01T16:00:00.123456+07:00", datetime(2026, 3, 1, 9, 0, 0, 123000, tzinfo=UTC)),
        ("1900-01-01T00:00:00Z", datetime(1900, 1, 1, tzinfo=UTC)),
        ("2299-12-31T23:59:59.999Z", datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        (
            datetime(2026, 3, 1, 16, tzinfo=timezone(timedelta(hours=7))),
            datetime(2026, 3, 1, 9, tzinfo=UTC),
        ),
    ],
)
def test_the_documented_forms_are_read(value: Any, expected: datetime) -> None:
    assert _at(value) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (1234567890, "numbers (Unix times) are not accepted"),
        (1234567890123, "numbers (Unix times) are not accepted"),
        (1234567890.5, "numbers (Unix times) are not accepted"),
        ("1234567890", "is not an RFC 3339 time"),
        ("2026-03-01", "is not an RFC 3339 time"),
        ("2026-03-01T09:00:00", "is not an RFC 3339 time"),  # no zone
        ("2026-03-01T09:00Z", "is not an RFC 3339 time"),  # no seconds
        ("Sun, 01 Mar 2026 09:00:00 GMT", "is not an RFC 3339 time"),
        (True, "is not an RFC 3339 time"),
        (datetime(2026, 3, 1, 9), "must carry a time zone"),  # noqa: DTZ001
        ("1800-01-01T00:00:00Z", "outside the years 1900 to 2299"),
        ("1899-12-31T23:59:59.999Z", "outside the years 1900 to 2299"),
        ("2300-01-01T00:00:00Z", "outside the years 1900 to 2299"),
        ("9999-12-31T00:00:00Z", "outside the years 1900 to 2299"),
        ("1900-01-01T06:00:00+07:00", "outside the years 1900 to 2299"),  # 1899 in UTC
    ],
    ids=str,
)
def test_anything_else_names_the_field_and_the_rule(value: Any, words: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        _at(value)
    assert caught.value.field == "occurred_at"
    assert words in caught.value.problem
    if isinstance(value, str | int):
        assert str(value) not in str(caught.value)


def test_an_avro_payload_outside_the_store_range_is_an_invalid_payload() -> None:
    """What a producer that bypassed validation wrote: the consumer dead-letters it."""
    good = parse_event(CONSENT)
    assert isinstance(good, Consent)
    for year in (1800, 9999):
        planted = Consent.model_construct(
            **{**good.__dict__, "occurred_at": datetime(year, 6, 1, tzinfo=UTC)}
        )
        payload = default_codec().encode(planted)
        with pytest.raises(InvalidPayload) as caught:
            default_codec().decode(payload)
        assert caught.value.field == "occurred_at"


NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "problem"),
    [
        (datetime(2000, 1, 1, tzinfo=UTC), None),
        (NOW, None),
        (NOW + timedelta(days=1), None),
        (datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), "is before 2000-01-01T00:00:00Z"),
        (datetime(1970, 1, 1, tzinfo=UTC), "is before 2000-01-01T00:00:00Z"),
        (NOW + timedelta(days=1, milliseconds=1), "is more than 86400 s in the future"),
        (datetime(2299, 1, 1, tzinfo=UTC), "is more than 86400 s in the future"),
    ],
)
def test_the_default_window(at: datetime, problem: str | None) -> None:
    found = TimeWindow().problem(at, NOW)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_the_window_check_raises_on_occurred_at_and_names_the_setting() -> None:
    event = parse_event({**CONSENT, "occurred_at": "1999-06-01T00:00:00Z"})
    with pytest.raises(InvalidEvent) as caught:
        TimeWindow().check(event, NOW)
    assert caught.value.field == "occurred_at"
    assert "JEJAK_EVENTS__EARLIEST" in caught.value.problem


def test_the_window_comes_from_the_settings() -> None:
    settings = EventSettings(earliest="2020-01-01T00:00:00+07:00", max_future_s=60)  # type: ignore[arg-type]
    window = TimeWindow.from_settings(settings)
    assert window == TimeWindow(datetime(2019, 12, 31, 17, tzinfo=UTC), timedelta(seconds=60))
    assert window.problem(NOW + timedelta(seconds=61), NOW) is not None


@pytest.mark.parametrize(
    "earliest", ["2020-01-01T00:00:00", "1800-01-01T00:00:00Z"], ids=["no zone", "1800"]
)
def test_a_window_setting_the_store_cannot_honour_is_refused(earliest: str) -> None:
    with pytest.raises(ValueError):
        EventSettings(earliest=earliest)  # type: ignore[arg-type]
