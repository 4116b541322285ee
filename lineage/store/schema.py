"""The lineage store's tables: append-only, deduplicated by event id.

Kafka delivers at least once, so the same event can be written twice (a
consumer that crashed after writing and before committing its offsets reads the
batch again). Every table is a ``ReplacingMergeTree`` whose sorting key ends in
the event id, and every query reads with ``FINAL`` (or ``LIMIT 1 BY``), so a
replayed event is counted once. Nothing is ever updated in place: a deletion or
an account closure is a new event, not a changed row.

Tables:
- ``events``    every accepted event, its JSON form and where it came from in Kafka
- ``verdicts``  the policy verdict of each event
- ``lineage``   one row per event and data category: what was collected, used or
                disclosed, to whom, for what, on which clause, with which verdict
- ``consents``  the consent ledger (consent and policy_accepted events)
- ``alerts``    one row per violation, with its severity
- ``dead_letters`` messages that could not be decoded or validated, with why
"""

from __future__ import annotations

from jejak.lineage.store.client import Store

SCHEMA_VERSION = 1

_TABLES: dict[str, str] = {
    "events": """
        event_id String,
        kind LowCardinality(String),
        occurred_at DateTime64(3, 'UTC'),
        subject_id String,
        producer_service LowCardinality(String),
        producer_version LowCardinality(String),
        trace_id String,
        claimed_policy_version LowCardinality(String),
        payload String CODEC(ZSTD(3)),
        topic LowCardinality(String),
        partition Int32,
        offset Int64,
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
    """,
    "verdicts": """
        event_id String,
        subject_id String,
        kind LowCardinality(String),
        occurred_at DateTime64(3, 'UTC'),
        decision LowCardinality(String),
        basis LowCardinality(String),
        reasons Array(LowCardinality(String)),
        policy_version LowCardinality(String),
        evaluated_at DateTime64(3, 'UTC') DEFAULT now64(3)
    """,
    "lineage": """
        event_id String,
        subject_id String,
        kind LowCardinality(String),
        occurred_at DateTime64(3, 'UTC'),
        category LowCardinality(String),
        source LowCardinality(String),
        source_partner LowCardinality(String),
        purpose LowCardinality(String),
        channel LowCardinality(String),
        public Bool,
        recipient_id String,
        recipient_kind LowCardinality(String),
        recipient_country LowCardinality(String),
        transfer LowCardinality(String),
        legal_request_ref String,
        inputs Array(String),
        outputs Array(String),
        producer_service LowCardinality(String),
        decision LowCardinality(String),
        basis LowCardinality(String),
        reasons Array(LowCardinality(String)),
        policy_version LowCardinality(String),
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
    """,
    "consents": """
        event_id String,
        subject_id String,
        occurred_at DateTime64(3, 'UTC'),
        scope String,
        action LowCardinality(String),
        producer_service LowCardinality(String),
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
    """,
    "alerts": """
        alert_id String,
        event_id String,
        subject_id String,
        kind LowCardinality(String),
        occurred_at DateTime64(3, 'UTC'),
        severity LowCardinality(String),
        reason LowCardinality(String),
        reasons Array(LowCardinality(String)),
        categories Array(LowCardinality(String)),
        purpose LowCardinality(String),
        recipient_id String,
        recipient_kind LowCardinality(String),
        policy_version LowCardinality(String),
        summary String,
        raised_at DateTime64(3, 'UTC') DEFAULT now64(3)
    """,
    "dead_letters": """
        topic LowCardinality(String),
        partition Int32,
        offset Int64,
        key String,
        reason LowCardinality(String),
        detail String,
        payload String CODEC(ZSTD(3)),
        received_at DateTime64(3, 'UTC') DEFAULT now64(3)
    """,
}

# sorting keys: the first columns are what compliance queries filter on; the
# last is what makes a row unique, so ReplacingMergeTree folds replays
_ORDER: dict[str, str] = {
    "events": "(subject_id, occurred_at, event_id)",
    "verdicts": "(subject_id, occurred_at, event_id)",
    "lineage": "(subject_id, occurred_at, event_id, category)",
    "consents": "(subject_id, scope, occurred_at, event_id)",
    "alerts": "(severity, occurred_at, alert_id)",
    "dead_letters": "(topic, partition, offset)",
}
_VERSION_COLUMN: dict[str, str] = {
    "events": "ingested_at",
    "verdicts": "evaluated_at",
    "lineage": "ingested_at",
    "consents": "ingested_at",
    "alerts": "raised_at",
    "dead_letters": "received_at",
}

TABLES = tuple(_TABLES)


def ddl(database: str, table: str, cluster: str | None = None) -> str:
    """``CREATE TABLE`` for one table; replicated when a cluster is named."""
    if cluster:
        engine = (
            f"ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{database}/{table}', "
            f"'{{replica}}', {_VERSION_COLUMN[table]})"
        )
        on_cluster = f" ON CLUSTER {cluster}"
    else:
        engine = f"ReplacingMergeTree({_VERSION_COLUMN[table]})"
        on_cluster = ""
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.{table}{on_cluster} ({_TABLES[table]}) "
        f"ENGINE = {engine} ORDER BY {_ORDER[table]}"
    )


def migrate(store: Store) -> None:
    """Create the database and every table that is missing; safe to run at every start."""
    store.ensure_database()
    for table in TABLES:
        store.command(ddl(store.database, table, store.cluster))
