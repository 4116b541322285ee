"""One time parser for the command line and the API: ISO 8601 with Z or an offset, or a time ago."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from jejak.lineage.workspace.operations import ALERT_REASONS, ViolationsParams
from jejak.lineage.workspace.times import TimeError, parse_time

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-05-01T10:00:00Z", datetime(2026, 5, 1, 10, 0, tzinfo=UTC)),
        ("2026-05-01T10:00:00z", datetime(2026, 5, 1, 10, 0, tzinfo=UTC)),
        ("2026-05-01T17:00+07:00", datetime(2026, 5, 1, 10, 0, tzinfo=UTC)),
        ("2026-05-01T10:00:00.250Z", datetime(2026, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2026-05-01T10:00", datetime(2026, 5, 1, 10, 0, tzinfo=UTC)),
        ("2026-05-01 10:00", datetime(2026, 5, 1, 10, 0, tzinfo=UTC)),
        ("2026-05-01", datetime(2026, 5, 1, tzinfo=UTC)),
        ("24h", datetime(2026, 5, 9, 12, 0, tzinfo=UTC)),
        ("7d", datetime(2026, 5, 3, 12, 0, tzinfo=UTC)),
        ("7d ago", datetime(2026, 5, 3, 12, 0, tzinfo=UTC)),
        ("2w", datetime(2026, 4, 26, 12, 0, tzinfo=UTC)),
        ("30m", datetime(2026, 5, 10, 11, 30, tzinfo=UTC)),
        (" 90s ", datetime(2026, 5, 10, 11, 58, 30, tzinfo=UTC)),
        ("now", NOW),
    ],
)
def test_times_people_write(text: str, moment: datetime) -> None:
    assert parse_time(text, now=lambda: NOW) == moment
    assert parse_time(text, now=lambda: NOW).tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["yesterday", "", "24", "h", "2026-13-01", "1969-12-31", "2201-01-01"]
)
def test_what_is_not_a_time_is_refused_without_repeating_it(text: str) -> None:
    with pytest.raises(TimeError) as caught:
        parse_time(text, now=lambda: NOW)
    assert "yesterday" not in str(caught.value)


def test_the_api_reads_times_severities_and_reasons_like_the_command_line() -> None:
    p = ViolationsParams.model_validate(
        {"since": "2026-05-01T17:00+07:00", "until": "24h", "severity": "HIGH", "code": "Opted_Out"}
    )
    assert p.since == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert p.until is not None and p.until.tzinfo is not None
    assert p.severity == "high" and p.code == "opted_out"
    with pytest.raises(ValidationError) as caught:
        ViolationsParams.model_validate({"code": "no_such_reason"})
    message = str(caught.value)
    assert all(reason in message for reason in ALERT_REASONS)
    with pytest.raises(ValidationError):
        ViolationsParams.model_validate({"since": "yesterday"})
