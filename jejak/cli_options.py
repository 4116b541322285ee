"""Checks for command-line values, shared by every command: a clear error, never a traceback.

Each is a click ``callback``: a bad value becomes click's usage error naming
the option ("Invalid value for '--out': folder 'x' does not exist"), before
the command does any work. The texts name the option and the rule; they quote
a value only where it is the user's own path or option text, never event data.

:func:`describe_validation_error` turns a pydantic error (a ``JEJAK_*``
setting, a JSON option's config) into lines that name the variable or field
and the rule, without the input (which may be a secret).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError


def output_path(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """A file to write: its folder must exist (``-`` for stdout passes)."""
    if value is None or str(value) == "-":
        return value
    if value.is_dir():
        raise click.BadParameter(f"'{value}' is a folder, not a file", ctx, param)
    folder = value.parent
    if not folder.is_dir():
        raise click.BadParameter(
            f"folder '{folder}' does not exist"
            if not folder.exists()
            else f"'{folder}' is not a folder",
            ctx,
            param,
        )
    return value


def json_objects(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...] | None
) -> list[dict[str, Any]]:
    """Each value a JSON object (``--sink '{"kind": "log"}'``); the error says which one."""
    objects: list[dict[str, Any]] = []
    for number, text in enumerate(value or (), start=1):
        which = f"value {number}" if len(value or ()) > 1 else "the value"
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(
                f"{which} is not JSON ({exc.msg} at column {exc.colno}); "
                'give an object such as \'{"kind": "log"}\'',
                ctx,
                param,
            ) from exc
        if not isinstance(parsed, dict):
            raise click.BadParameter(
                f'{which} is JSON but not an object; give one such as \'{{"kind": "log"}}\'',
                ctx,
                param,
            )
        objects.append(parsed)
    return objects


def _setting_name(loc: tuple[int | str, ...]) -> str:
    return "JEJAK_" + "__".join(str(part).upper() for part in loc)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: the variable (for settings) or field, and the rule; no input."""
    settings = exc.title == "Settings"
    lines = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = error["loc"]
        where = _setting_name(loc) if settings else ".".join(str(p) for p in loc) or exc.title
        lines.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    head = "invalid setting" if settings else f"invalid {exc.title}"
    if len(lines) == 1:
        return f"{head} {lines[0]}"
    return f"{head}s:\n  " + "\n  ".join(lines)
