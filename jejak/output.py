"""Output for people and machines: a readable table by default, ``--json`` and ``--csv``.

CSV is opened in spreadsheets, which run a cell that starts with ``=``, ``+``,
``-`` or ``@`` (or a tab or carriage return before one) as a formula; event
fields such as a trace id or a dataset name come from product services, so a
crafted value could run in a compliance officer's spreadsheet. Such text cells
get a leading ``'`` (the OWASP recommendation for CSV injection), which the
spreadsheet shows as text. Numbers jejak itself writes (counts, ``-1``) are not
text from outside and stay numbers.

Tables never cut an id: an id is what a reader copies into the next command,
and two ids that differ only at the end (``smarty-finansia-01``,
``smarty-finansia-02``) must not both print as ``smarty-finansia…``. Id
columns (:func:`is_id_column`) keep their full width, one id per line when a
cell holds several; the prose columns (summaries, reasons) wrap instead.
``--wide`` prints one line per row, however wide that is.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import click

Format = Literal["table", "wide", "json", "csv"]
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def format_option(func: Any) -> Any:
    """``--json`` / ``--csv`` / ``--wide`` flags shared by every listing command."""
    func = click.option("--csv", "fmt", flag_value="csv", help="CSV for spreadsheets.")(func)
    func = click.option(
        "--wide", "fmt", flag_value="wide", help="A table with one line per row (no wrapping)."
    )(func)
    func = click.option("--json", "fmt", flag_value="json", help="JSON for machines.")(func)
    return click.option("--table", "fmt", flag_value="table", default=True, hidden=True)(func)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _cell(value: Any, compact_time: bool = False) -> str:
    if compact_time and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if compact_time and isinstance(value, str) and _ISO.match(value):
        return value[:19].replace("T", " ")
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v != "")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula (see the module doc).

    Only text is neutralised: an ``int`` or ``float`` jejak computed stays a
    number, so ``-3`` remains ``-3`` while the string ``"-3"`` becomes ``'-3``.
    """
    text = _cell(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return text
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


_ID_COLUMNS = frozenset({"id", "name", "token", "subject", "case", "scope", "alert", "event"})


def is_id_column(name: str) -> bool:
    """Columns that hold ids (``alert_id``, ``event_ids``, ``case_id``, a token ``name``)."""
    return name in _ID_COLUMNS or name.endswith(("_id", "_ids", "_ref"))


def make_console(width: int | None = None) -> Any:
    """A rich console; when output is not a terminal (a pipe, CI, a log), 160 columns wide."""
    import os

    from rich.console import Console

    if width is not None:
        return Console(width=width, soft_wrap=True)
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=160)
    return console


def render(
    rows: Sequence[dict[str, Any]],
    fmt: Format = "table",
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    empty: str = "(nothing)",
) -> None:
    """Print rows as a table, JSON lines-free JSON array, or CSV."""
    cols = list(columns) if columns else (list(rows[0]) if rows else [])
    if fmt == "json":
        click.echo(
            json.dumps(
                [_plain({c: r.get(c) for c in cols}) for r in rows], ensure_ascii=False, indent=2
            )
        )
        return
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow([csv_cell(c) for c in cols])
        for r in rows:
            writer.writerow([csv_cell(r.get(c)) for c in cols])
        click.echo(buf.getvalue(), nl=False)
        return
    from rich.table import Table
    from rich.text import Text

    cells = [
        [
            _id_cell(r.get(c)) if is_id_column(c) else _cell(r.get(c), compact_time=True)
            for c in cols
        ]
        for r in rows
    ]
    widths = [
        max([len(c.replace("_", " "))] + [len(line) for row in cells for line in row[i].split("\n")])
        for i, c in enumerate(cols)
    ]  # fmt: skip
    wide = fmt == "wide"
    console = make_console(sum(widths) + 3 * len(cols) + 4 if wide else None)
    # the ids whole and every prose column at least a word wide: if the screen is narrower,
    # the table is as wide as that (the terminal folds the lines; the ids stay whole)
    needed = (
        3 * len(cols)
        + 4
        + sum(w if is_id_column(c) else min(w, 12) for c, w in zip(cols, widths, strict=True))
    )
    if not wide and needed > console.width:
        console = make_console(needed)
    if not rows:
        if title:
            console.print(Text(title, style="bold"))
        console.print(f"  {empty}")
        return
    table = Table(title=title, title_justify="left", title_style="bold")
    for c, width in zip(cols, widths, strict=True):
        if wide or is_id_column(c):
            table.add_column(c.replace("_", " "), no_wrap=True, min_width=width)
        else:
            table.add_column(c.replace("_", " "), overflow="fold")
    for row in cells:
        table.add_row(*[Text(cell) for cell in row])
    console.print(table)


def _id_cell(value: Any) -> str:
    """Ids whole, one per line (a list of event ids stays copyable)."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value if v != "")
    return str(value)
