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
columns (:func:`is_id_column`), codes and short values keep their full width
(one id per line when a cell holds several); only prose (summaries) wraps.
When even that does not fit the screen, each row is printed as a block of
``name: value`` lines instead of a table. ``--wide`` prints one line per row,
however wide that is.
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
    if not rows:
        if title:
            console.print(Text(title, style="bold"))
        console.print(f"  {empty}")
        return
    whole = [wide or _unbreakable(c, [row[i] for row in cells]) for i, c in enumerate(cols)]
    needed = (
        3 * len(cols)
        + 4
        + sum(w if keep else min(w, _PROSE_MIN) for keep, w in zip(whole, widths, strict=True))
    )
    if needed > console.width:
        # the whole ids do not fit side by side: one block per row, each value on its own line
        _records(console, cols, cells, title)
        return
    table = Table(title=title, title_justify="left", title_style="bold")
    for c, width, keep in zip(cols, widths, whole, strict=True):
        if keep:
            table.add_column(c.replace("_", " "), no_wrap=True, min_width=width)
        else:
            table.add_column(c.replace("_", " "), overflow="fold", min_width=_PROSE_MIN)
    for row in cells:
        table.add_row(*[Text(cell) for cell in row])
    console.print(table)


_PROSE_MIN = 16
_SHORT = 24


def _unbreakable(column: str, cells: Sequence[str]) -> bool:
    """Ids, codes and short values stay whole; only long text with spaces (prose) wraps."""
    if is_id_column(column):
        return True
    return all(len(cell) <= _SHORT or not any(ch.isspace() for ch in cell) for cell in cells)


def _records(
    console: Any, cols: Sequence[str], cells: Sequence[Sequence[str]], title: str | None
) -> None:
    """Rows as ``name: value`` blocks, for a screen too narrow for the table (ids stay whole)."""
    from rich.text import Text

    if title:
        console.print(Text(title, style="bold"))
    label = max(len(c) for c in cols)
    for row in cells:
        console.print(Text("─" * min(console.width, 40), style="dim"))
        for c, cell in zip(cols, row, strict=True):
            lines = cell.split("\n") or [""]
            for n, line in enumerate(lines):
                name = c.replace("_", " ") if n == 0 else ""
                console.print(Text(f"{name:<{label}}  ", style="dim") + Text(line), soft_wrap=True)


def _id_cell(value: Any) -> str:
    """Ids whole, one per line (a list of event ids stays copyable)."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value if v != "")
    return str(value)
