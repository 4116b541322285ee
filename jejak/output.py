"""Output for people and machines: a readable table by default, ``--json`` and ``--csv``.

CSV is opened in spreadsheets, which run a cell that starts with ``=``, ``+``,
``-`` or ``@`` (or a tab or carriage return before one) as a formula; event
fields such as a trace id or a dataset name come from product services, so a
crafted value could run in a compliance officer's spreadsheet. Such text cells
get a leading ``'`` (the OWASP recommendation for CSV injection), which the
spreadsheet shows as text. Numbers jejak itself writes (counts, ``-1``) are not
text from outside and stay numbers.
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

Format = Literal["table", "json", "csv"]
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def format_option(func: Any) -> Any:
    """``--json`` / ``--csv`` flags shared by every listing command."""
    func = click.option("--csv", "fmt", flag_value="csv", help="CSV for spreadsheets.")(func)
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


def make_console() -> Any:
    """A rich console; when output is not a terminal (a pipe, CI, a log), 160 columns wide."""
    import os

    from rich.console import Console

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

    console = make_console()
    if not rows:
        if title:
            console.print(f"[bold]{title}[/bold]")
        console.print(f"  {empty}")
        return
    table = Table(title=title, title_justify="left", title_style="bold")
    for c in cols:
        table.add_column(c.replace("_", " "))
    for r in rows:
        table.add_row(*[_cell(r.get(c), compact_time=True) for c in cols])
    console.print(table)
