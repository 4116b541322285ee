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
