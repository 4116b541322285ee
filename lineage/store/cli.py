"""``jejak store``: create and inspect the lineage store (the questions are ``jejak query``).

Thin adapters over :mod:`jejak.lineage.store.queries`: no SQL here.
"""

from __future__ import annotations

import click

from jejak.lineage.store import Store, connect
from jejak.lineage.store.schema import TABLES, migrate
from jejak.settings import Settings


def _open(database: str | None) -> Store:
    settings = Settings.from_env()
    store = connect(settings.store, database)
    migrate(store)
    return store


database_option = click.option(
    "--database", default=None, help="ClickHouse database [JEJAK_STORE__DATABASE, default jejak]."
)


@click.group("store")
def store() -> None:
    """The lineage store: JEJAK_STORE__DSN (chdb:///path or http(s)://...)."""


@store.command("init")
@database_option
def init(database: str | None) -> None:
    """Create the database and tables (safe to run again)."""
    with _open(database) as s:
        click.echo(f"store ready: {s.redacted_dsn} database {s.database} ({', '.join(TABLES)})")


@store.command("ddl")
@click.option("--database", default="jejak", show_default=True)
@click.option("--cluster", default=None, help="Replicated tables ON CLUSTER this cluster.")
def ddl_cmd(database: str, cluster: str | None) -> None:
    """Print the CREATE statements (for a DBA to review, or for a replicated cluster)."""
    from jejak.lineage.store.client import check_identifier
    from jejak.lineage.store.schema import ddl

    check_identifier(database)
    on_cluster = f" ON CLUSTER {check_identifier(cluster)}" if cluster else ""
    click.echo(f"CREATE DATABASE IF NOT EXISTS {database}{on_cluster};\n")
    for table in TABLES:
        click.echo(ddl(database, table, cluster) + ";\n")
