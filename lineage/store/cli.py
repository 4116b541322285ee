"""``jejak store`` (migrate, derive, ddl, status), ``jejak verify`` and ``jejak erase``.

Thin adapters over the store package's functions: no SQL here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from jejak.lineage.store import Store, connect, migrate
from jejak.settings import Settings

database_option = click.option(
    "--database", default=None, help="ClickHouse database [JEJAK_STORE__DATABASE, default jejak]."
)


@contextmanager
def _opened(database: str | None) -> Iterator[tuple[Store, Settings]]:
    settings = Settings.from_env()
    with connect(settings.store, database) as store:
        migrate(store)
        yield store, settings


@click.group("store")
def store() -> None:
    """The lineage store: JEJAK_STORE__DSN (chdb:///path or http(s)://...)."""


@store.command("migrate")
@database_option
def migrate_cmd(database: str | None) -> None:
    """Apply the store's pending migrations (every consumer and query does so at start)."""
    from jejak.lineage.store.migrations import migrate as run
    from jejak.lineage.store.migrations import status

    settings = Settings.from_env()
    with connect(settings.store, database) as s:
        ran = run(s)
        for step in status(s):
            mark = (
                "applied now"
                if any(r.version == step["version"] for r in ran)
                else ("applied" if step["applied_at"] else "pending")
            )
            click.echo(f"{step['version']:>3}  {mark:<12} {step['name']}")
        click.echo(f"store {s.redacted_dsn} database {s.database}: up to date")


@store.command("derive")
@database_option
def derive_cmd(database: str | None) -> None:
    """Bring the derived tables (alerts, aggregates) up to the event log.

    A running consumer derives as it goes and when a partition is assigned;
    this is for a store whose consumers are gone or stopped mid-derivation.
    """
    from jejak.lineage.store.derive import catch_up_all

    with _opened(database) as (s, _):
        n = catch_up_all(s)
        click.echo(f"store {s.redacted_dsn} database {s.database}: {n:,} log row(s) derived now")


@store.command("init")
@database_option
def init(database: str | None) -> None:
    """Create the database and tables (the same as migrate; safe to run again)."""
    from jejak.lineage.store.tables import TABLES

    with _opened(database) as (s, _settings):
        names = ", ".join(t.name for t in TABLES)
        click.echo(f"store ready: {s.redacted_dsn} database {s.database} ({names})")


@store.command("ddl")
@click.option("--database", default="jejak", show_default=True)
@click.option(
    "--cluster",
    default=None,
    help="Replicated *_local tables and Distributed tables sharded by subject, ON CLUSTER.",
)
def ddl_cmd(database: str, cluster: str | None) -> None:
    """Print the CREATE statements (for a DBA to review, or for a cluster)."""
    from jejak.lineage.store.client import check_identifier
    from jejak.lineage.store.tables import TABLES, VIEWS, cluster_ddl, create_sql, view_sql

    check_identifier(database)
    if cluster:
        statements = cluster_ddl(database, check_identifier(cluster))
    else:
        statements = [f"CREATE DATABASE IF NOT EXISTS {database}"]
        statements += [create_sql(t, database) for t in TABLES]
        statements += [view_sql(v, database) for v in VIEWS]
    for sql in statements:
        click.echo(sql + ";\n")


@click.command("verify")
@database_option
@click.option(
    "--public-key",
    default=None,
    metavar="KEY",
    help="Verifier key (name+hash+key) or a file holding it; default: the .pub beside "
    "JEJAK_TRUST__KEY_FILE.",
)
@click.option(
    "--checkpoints",
    "checkpoint_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of exported checkpoints [JEJAK_TRUST__CHECKPOINT_DIR].",
)
@click.option("--event", "event_id", default=None, help="Write an inclusion proof of this event.")
@click.option(
    "--proof",
    "proof_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where the inclusion proof of --event goes (JSON).",
)
@click.option(
    "--since",
    default=None,
    metavar="TIME",
    help="Check each log from its newest checkpoint signed before TIME (ISO 8601, e.g. "
    "2026-05-01T00:00:00Z): what was written since, trusting what that checkpoint signed.",
)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
def verify(
    database: str | None,
    public_key: str | None,
    checkpoint_dir: Path | None,
    event_id: str | None,
    proof_file: Path | None,
    since: str | None,
    as_json: bool,
) -> None:
    """Recompute every hash chain and checkpoint; exit 1 on any finding.

    With --event ID --proof FILE, write an inclusion proof of that event under
    the latest signed checkpoint instead (check it with `jejak verify-proof`).
    """
    from jejak.lineage.store.checkpoints import trust_paths
    from jejak.lineage.store.verify import verify as run
    from jejak.lineage.trust.keys import load_verifier, public_key_path

    if (event_id is None) != (proof_file is None):
        raise click.UsageError("--event and --proof go together")
    with _opened(database) as (s, settings):
        if event_id is not None and proof_file is not None:
            from jejak.lineage.store.proofs import prove_event
            from jejak.lineage.trust.proof import dumps_proof

            doc = prove_event(s, event_id)
            proof_file.write_text(dumps_proof(doc), encoding="utf-8")
            click.echo(
                f"inclusion proof of {event_id} (leaf {doc['leaf_index']} of "
                f"{doc['tree_size']}, {doc['origin']}) written to {proof_file}",
                err=True,
            )
            return
        key_file, folder, _name = trust_paths(settings, s.database)
        pub = public_key or public_key_path(key_file)
        if public_key is None and not Path(pub).exists():
            raise click.ClickException(
                f"no public key at {pub}: pass --public-key (jejak trust public-key prints it)"
            )
        report = run(s, load_verifier(pub), export_dir=checkpoint_dir or folder, since=_time(since))
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        _print_report(report)
    if not report.ok:
        raise click.exceptions.Exit(1)


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            "not an ISO 8601 time such as 2026-05-01T00:00:00Z", param_hint="--since"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _print_report(report: object) -> None:
    from jejak.lineage.store.verify import Report

    assert isinstance(report, Report)
    signed = sum(s.signed_size for s in report.logs.values())
    click.echo(
        f"{report.rows:,} rows in {len(report.logs)} chained log(s), {signed:,} under signed "
        f"checkpoints, checked in {report.seconds:.2f}s"
    )
    for note in report.notes:
        click.echo(f"note: {note}")
    for e in report.erasures:
        click.echo(
            f"lawful erasure {e['erasure_id']} ({e.get('erased_at')}, request "
            f"{e.get('request_ref')}): {e.get('events', 0)} event(s), "
            f"{e.get('journal_records', 0)} journal record(s) redacted"
        )
    if report.ok:
        click.echo("ok: every chain links, every checkpoint verifies")
        return
    click.echo(f"{len(report.findings)} finding(s):")
    for f in report.findings:
        ids = f" [{', '.join(f.event_ids)}]" if f.event_ids else ""
        click.echo(f"  {f.kind:<20} {f.log}: {f.detail}{ids}")


@click.command("erase")
@click.argument("subject_id")
@click.option(
    "--raw",
    is_flag=True,
    help="SUBJECT_ID is a raw id: pseudonymise it with JEJAK_SDK__PSEUDONYMIZATION_KEY first.",
)
@click.option("--request-ref", required=True, help="Reference of the erasure request answered.")
@database_option
@click.option("--json", "as_json", is_flag=True, help="The result as JSON.")
def erase(
    subject_id: str, raw: bool, request_ref: str, database: str | None, as_json: bool
) -> None:
    """Erase a data subject from the store, keeping the trail verifiable (see docs/trust.md)."""
    from jejak.lineage.store.erasure import erase as run
    from jejak.schemas.pseudonym import is_pseudonym, pseudonymize

    settings = Settings.from_env()
    if raw:
        subject_id = pseudonymize(subject_id, settings.sdk.pseudonymization_key)
    elif not is_pseudonym(subject_id):
        raise click.UsageError(
            "SUBJECT_ID is not a pseudonym (ps1_...); pass --raw to pseudonymise a raw id"
        )
    from jejak.lineage.store.checkpoints import open_checkpointer

    with _opened(database) as (s, settings):
        result = run(s, subject_id, request_ref, checkpointer=open_checkpointer(settings, s))
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(
            f"{result.erasure_id}: {result.events} event(s), {result.journal_records} journal "
            f"record(s) and {result.dead_letters} dead letter(s) redacted; the trail still "
            "verifies (jejak verify)"
        )
