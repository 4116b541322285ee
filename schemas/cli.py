"""``jejak schemas``: list the event schemas, show one, check their evolution.

``check`` is what CI runs before a schema change is merged: it exits non-zero,
naming the kind, the versions and the field, when a version cannot read
another's data (the FULL_TRANSITIVE rule of :mod:`jejak.schemas.compat`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from jejak.errors import SchemaError
from jejak.schemas.avro_schemas import SchemaCatalog
from jejak.schemas.compat import check_catalog

_DIR_OPTION = click.option(
    "--dir",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of <kind>.v<N>.avsc files (default: the schemas jejak ships).",
)


def _load(directory: Path | None) -> SchemaCatalog:
    try:
        return SchemaCatalog.load(directory)
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from exc


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


@click.group("schemas")
def schemas() -> None:
    """Avro schemas of the events: list, show, check compatibility."""


@schemas.command("list")
@_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per schema version.")
def list_command(directory: Path | None, as_json: bool) -> None:
    """Every kind and version with its fingerprint (CRC-64-AVRO, wire byte order)."""
    catalog = _load(directory)
    rows = []
    for schema in catalog:
        current = catalog.current(schema.kind) is schema
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "kind": schema.kind,
                        "version": schema.version,
                        "current": current,
                        "fingerprint": schema.fingerprint_hex,
                        "record": schema.full_name,
                    }
                )
            )
        rows.append(
            (
                schema.kind,
                f"v{schema.version}",
                "current" if current else "",
                schema.fingerprint_hex,
                schema.full_name,
            )
        )
    if not as_json:
        click.echo(_table(("kind", "version", "", "fingerprint", "record"), rows))


@schemas.command("show")
@click.argument("kind")
@click.option("--version", "version", type=int, default=None, help="A version (default: current).")
@click.option(
    "--canonical",
    is_flag=True,
    help="Print the Parsing Canonical Form, the text the fingerprint is computed from.",
)
@_DIR_OPTION
def show_command(kind: str, version: int | None, canonical: bool, directory: Path | None) -> None:
    """The schema of KIND, as JSON with its docs."""
    catalog = _load(directory)
    try:
        schema = catalog.current(kind) if version is None else catalog.get(kind, version)
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(schema.canonical_form if canonical else schema.to_json(indent=2))


@schemas.command("check")
@_DIR_OPTION
def check_command(directory: Path | None) -> None:
    """Fail if any version of a kind cannot read another version's data.

    Every pair of versions is checked both ways (FULL_TRANSITIVE): the newer
    schema must read data written with the older one (consumers replay old
    events), and the older must read the newer's (producers upgrade first).
    """
    catalog = _load(directory)
    breaks = check_catalog(catalog)
    if breaks:
        for problem in breaks:
            click.echo(f"incompatible: {problem}", err=True)
        raise click.ClickException(
            f"{len(breaks)} incompatible schema change(s); add defaults or aliases, "
            "or introduce a new kind instead of breaking this one"
        )
    versions = sum(1 for _ in catalog)
    click.echo(
        f"ok: {len(catalog.kinds)} kinds, {versions} schema versions; every version "
        "reads every other's data (FULL_TRANSITIVE)"
    )
