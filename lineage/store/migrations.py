"""Versioned migrations of the store, recorded in ``schema_migrations`` and applied at start.

Each :class:`Migration` runs once per store, in version order; the versions
applied are rows of ``schema_migrations`` (``jejak store migrate`` runs them
alone, every consumer and query command runs them at start).

- **1** — the first layout (six ``ReplacingMergeTree`` tables, each event
  written into several of them). A store made by that release has no
  ``schema_migrations`` table; it is recognised by its ``events.payload``
  column and recorded as being at version 1.
- **2** — the evidence layout (:mod:`jejak.lineage.store.tables`): one
  append-only event log with verdict and chain columns, the journal, the
  checkpoints, derived tables by materialized views. A version-1 store is
  converted in place: its tables are renamed ``legacy_v1_*``, every stored
  event is re-written into its partition's chain in offset order (verdicts,
  alert severities and summaries as they were), monitor alerts become journal
  records, dead letters are copied; then the legacy tables are dropped.
- **3** — aggregate projections (``events.by_recipient``, ``alerts.by_reason``)
  for the disclosure, stats and alert-count questions. Added to a version-2
  store, then materialized in the background (a mutation: the answers are the
  same before it ends, only slower).
- **4** — derived tables filled many batches at a time
  (:mod:`jejak.lineage.store.derive`) instead of materialized views on the
  event log, and the ``recipients`` aggregate instead of the ``by_recipient``
  projection (the write path's cost, bench/RESULTS.md). The three views and
  the projection are dropped, the ``recipients`` and ``derivations`` tables
  created, the consent ledger becomes a plain view of the log, and the
  event-derived rows of the alerts and aggregates are rebuilt from the log
  (monitor alerts, from the journal, stay).

- **5** — ``derivations.filled``: a derivation is recorded again once its
  tables are filled, so a catch-up or an erasure runs only an interrupted one
  again (found by review: a repeat relied on a deduplication token that is
  remembered for the last 1,000 inserts of a table only).

Views are created after their target tables, and (on a fresh store) before
any row is written, so no derived row is ever missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jejak.lineage.store.client import Store
from jejak.lineage.store.tables import (
    MIGRATIONS,
    TABLES,
    VIEWS,
    cluster_ddl,
    create_sql,
    view_sql,
)

log = logging.getLogger(__name__)

CURRENT_VERSION = 5


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Store], None]


def _noop(store: Store) -> None:
    """Version 1 on a new store: nothing to do, version 2 creates the layout."""


def _tables(store: Store) -> set[str]:
    rows = store.query(
        "SELECT name FROM system.tables WHERE database = {d:String}", {"d": store.database}
    )
    return {r["name"] for r in rows}


def _columns(store: Store, table: str) -> set[str]:
    rows = store.query(
        "SELECT name FROM system.columns WHERE database = {d:String} AND table = {t:String}",
        {"d": store.database, "t": table},
    )
    return {r["name"] for r in rows}


_LEGACY = ("events", "verdicts", "lineage", "consents", "alerts", "dead_letters")


def create_layout(store: Store) -> None:
    """Every declared table, then every view (a view needs its target).

    On a cluster: replicated ``*_local`` tables and ``Distributed`` tables
    sharded by subject (:func:`~jejak.lineage.store.tables.cluster_ddl`).
    """
    if store.cluster:
        for sql in cluster_ddl(store.database, store.cluster):
            store.command(sql)
        return
    for table in TABLES:
        store.command(create_sql(table, store.database, store.cluster))
    for view in VIEWS:
        store.command(view_sql(view, store.database, store.cluster))


def _evidence_layout(store: Store) -> None:
    present = _tables(store)
    legacy = "events" in present and "payload" in _columns(store, "events")
    if legacy:
        for name in _LEGACY:
            if name in present:
                store.command(f"RENAME TABLE {{db}}.{name} TO {{db}}.legacy_v1_{name}")
    create_layout(store)
    if legacy:
        from jejak.lineage.store.legacy import convert_v1

        convert_v1(store, {n for n in _LEGACY if n in present})
        for name in _LEGACY:
            if name in present:
                store.command(f"DROP TABLE IF EXISTS {{db}}.legacy_v1_{name}")


def _projections(store: Store) -> None:
    """Add the declared projections a store of version 2 lacks (a new store has them)."""
    for table in TABLES:
        for projection in table.projections:
            on_cluster = f" ON CLUSTER {store.cluster}" if store.cluster else ""
            name = f"{table.name}_local" if store.cluster else table.name
            if f"PROJECTION {projection.name} " in str(
                store.command(f"SHOW CREATE TABLE {{db}}.{name}")
            ):
                continue  # made with the table (a new store)
            store.command(
                f"ALTER TABLE {{db}}.{name}{on_cluster} ADD PROJECTION IF NOT EXISTS "
                f"{projection.ddl().removeprefix('PROJECTION ')}"
            )
            store.command(
                f"ALTER TABLE {{db}}.{name}{on_cluster} MATERIALIZE PROJECTION {projection.name}"
            )


_DROPPED_VIEWS = ("consents_mv", "alerts_mv", "daily_mv")


def _derive_by_range(store: Store) -> None:
    """Replace the event log's materialized views and projection by range derivations."""
    from jejak.lineage.store.derive import catch_up_all

    on_cluster = f" ON CLUSTER {store.cluster}" if store.cluster else ""
    local = "_local" if store.cluster else ""
    for name in _DROPPED_VIEWS:
        store.command(f"DROP VIEW IF EXISTS {{db}}.{name}{on_cluster}")
    store.command(
        f"ALTER TABLE {{db}}.events{local}{on_cluster} DROP PROJECTION IF EXISTS by_recipient"
    )
    if store.cluster:
        for sql in cluster_ddl(store.database, store.cluster):
            store.command(sql)
    else:
        for table in TABLES:
            store.command(create_sql(table, store.database))
    tables = store.query(
        "SELECT name, engine FROM system.tables WHERE database = {d:String}",
        {"d": store.database},
    )
    if any(t["name"] == f"consents{local}" and t["engine"] != "View" for t in tables):
        store.command(f"DROP TABLE {{db}}.consents{local}{on_cluster}")  # now a view of the log
        if store.cluster:
            store.command(f"DROP TABLE IF EXISTS {{db}}.consents{on_cluster}")
    for view in VIEWS:
        if view.target is None:
            store.command(view_sql(view, store.database, store.cluster))
    for derived in ("daily", "recipients"):
        store.command(f"TRUNCATE TABLE IF EXISTS {{db}}.{derived}{local}{on_cluster}")
    store.command(
        f"ALTER TABLE {{db}}.alerts{local}{on_cluster} DELETE WHERE origin = 'event'",
        settings={"mutations_sync": 2},
    )
    store.command(f"TRUNCATE TABLE IF EXISTS {{db}}.derivations{local}{on_cluster}")
    rows = catch_up_all(store)
    log.info("store %s: %d log rows derived", store.database, rows)


def _filled_marks(store: Store) -> None:
    """``derivations.filled``: a derivation's ranges are written again once its tables are
    filled, so only an interrupted one is ever run again (a deduplication token is
    remembered for the last 1,000 inserts of a table only)."""
    on_cluster = f" ON CLUSTER {store.cluster}" if store.cluster else ""
    for name in ("derivations_local", "derivations") if store.cluster else ("derivations",):
        store.command(
            f"ALTER TABLE {{db}}.{name}{on_cluster} "
            "ADD COLUMN IF NOT EXISTS filled Bool DEFAULT false AFTER to_seq"
        )
    # what version 4 derived was filled (it ran to completion before this one)
    store.command(
        "INSERT INTO {db}.derivations (derivation_id, topic, partition, from_seq, to_seq, "
        "filled) SELECT derivation_id, topic, partition, from_seq, to_seq, true "
        "FROM {db}.derivations WHERE NOT filled AND derivation_id NOT IN "
        "(SELECT derivation_id FROM {db}.derivations WHERE filled)"
    )


STEPS: tuple[Migration, ...] = (
    Migration(1, "first layout", _noop),
    Migration(2, "evidence layout: one chained event log, journal, checkpoints", _evidence_layout),
    Migration(3, "aggregate projections for disclosures, stats and alert counts", _projections),
    Migration(4, "derived tables by range derivations, recipients aggregate", _derive_by_range),
    Migration(5, "derivations marked filled", _filled_marks),
)


def applied_versions(store: Store) -> set[int]:
    if MIGRATIONS.name not in _tables(store):
        return set()
    return {int(r["version"]) for r in store.query("SELECT version FROM {db}.schema_migrations")}


def migrate(store: Store) -> list[Migration]:
    """Apply the migrations this store has not had yet; returns those applied now."""
    store.ensure_database()
    present = _tables(store)
    store.command(create_sql(MIGRATIONS, store.database, store.cluster))
    done = applied_versions(store)
    if not done and "events" in present and "payload" in _columns(store, "events"):
        _record(store, STEPS[0])  # a store made by the first release
        done.add(1)
    ran: list[Migration] = []
    for step in STEPS:
        if step.version in done:
            continue
        log.info("store %s: migration %d (%s)", store.database, step.version, step.name)
        step.apply(store)
        _record(store, step)
        ran.append(step)
    return ran


def _record(store: Store, step: Migration) -> None:
    store.insert_rows(MIGRATIONS, [[step.version, step.name]])


def version(store: Store) -> int:
    done = applied_versions(store)
    return max(done) if done else 0


def status(store: Store) -> list[dict[str, Any]]:
    """Each known migration and whether (and when) it was applied."""
    rows = {
        int(r["version"]): r
        for r in store.query("SELECT version, applied_at FROM {db}.schema_migrations")
    }
    return [
        {
            "version": s.version,
            "name": s.name,
            "applied_at": rows[s.version]["applied_at"] if s.version in rows else None,
        }
        for s in STEPS
    ]
