"""``--csv`` output: text that a spreadsheet would run as a formula is neutralised."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from jejak.output import csv_cell, render


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+62 cmd", "'+62 cmd"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        (["=1", "b"], "'=1, b"),  # a list is one text cell
        ("sim-violation:x:y", "sim-violation:x:y"),  # only the first character counts
        ("plain", "plain"),
        ("", ""),
        (None, ""),
        (-3, "-3"),  # numbers jejak computed stay numbers
        (-0.5, "-0.5"),
        (True, "yes"),
        (datetime(2026, 5, 4, 8, 0, tzinfo=UTC), "2026-05-04T08:00:00.000Z"),
    ],
)
def test_csv_cells(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_render_csv_neutralises_every_text_cell(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"trace_id": "=cmd|' /C calc'!A0", "count": -2, "dataset": "@evil"}]
    render(rows, "csv")
    parsed = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert parsed == [
        ["trace_id", "count", "dataset"],
        ["'=cmd|' /C calc'!A0", "-2", "'@evil"],
    ]


def _ids_rows() -> list[dict[str, object]]:
    return [
        {
            "alert_id": f"smarty-finansia-2026-05-01-{c * 16}:disclosure_without_consent",
            "recipient_id": f"smarty-finansia-0{n}",
            "summary": "data went to a partner without the subject's consent " * 4,
            "event_ids": [f"ev-{c * 30}", f"ev-{c * 20}"],
        }
        for n, c in ((1, "a"), (2, "b"))
    ]


@pytest.mark.parametrize("columns", ["40", "80", "160"])
def test_ids_are_never_cut_the_prose_wraps(
    columns: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    render(_ids_rows(), title="Violations")
    out = capsys.readouterr().out
    for row in _ids_rows():
        assert str(row["alert_id"]) in out and str(row["recipient_id"]) in out
        for event_id in row["event_ids"]:  # type: ignore[attr-defined]
            assert event_id in out
    assert "…" not in out


def test_wide_prints_one_line_per_row(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    rows = [{**r, "event_ids": r["event_ids"][:1]} for r in _ids_rows()]  # type: ignore[index]
    render(rows, "wide", title="Violations")
    lines = [line for line in capsys.readouterr().out.splitlines() if "smarty-finansia-0" in line]
    assert len(lines) == 2
    assert all(
        str(rows[0]["summary"]).strip() in line or "smarty-finansia-02" in line for line in lines
    )
