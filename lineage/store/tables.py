"""Every table of the lineage store, declared once.

A :class:`Table` lists its :class:`Column` s (name, ClickHouse type, and for
the written tables how the value comes from an event and its verdict), its
sorting key, partitioning and engine. Everything else is derived from these
declarations: the ``CREATE`` statements (:func:`create_sql`), the insert
column names and types, the rows (:func:`row_of`), the canonical byte form the
hash chain commits to (:mod:`jejak.lineage.store.canonical`), and the cluster
DDL. Derived tables are filled by ClickHouse itself through materialized views
declared here too (:data:`VIEWS`).

The written tables:

- ``events``: the append-only event log. One row per accepted event: the
  event's fields, its verdict, where it came from in Kafka and its place in
  the partition's hash chain (``seq``, ``prev_hash``, ``row_hash``). Nothing
  else is written per event: lineage, the consent ledger, alerts and the
  daily aggregates are derived inside ClickHouse.
- ``journal``: records jejak makes itself (alerts of the retention monitor,
  their resolutions, erasures), chained like a partition.
- ``checkpoints``: signed tree heads of every chained log.
- ``dead_letters``: messages that could not be decoded or were refused.
- ``schema_migrations``: which migrations ran, when.

Why materialized views rather than Python writing each derived table: a
5,000-event batch then costs one column-oriented insert instead of six row
inserts, and the derived rows cannot disagree with the log they come from
(measured in bench/RESULTS.md, "store write path").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from jejak.lineage.policy.state import ACCEPTANCE_PREFIX


class Source(NamedTuple):
    """What one events row is made from."""

    event: Any
    verdict: Any
    severity: str
    summary: str


Getter = Callable[[Source], Any]


@dataclass(frozen=True)
class Column:
    """One column: its ClickHouse type and, for written tables, where its value comes from.

    ``chained`` columns are covered by the row's hash (their canonical bytes,
    in declaration order); ``redactable`` ones are covered only through the
    salted ``subject_commitment``, so that erasure can blank them and the chain
    still verifies. ``written=False`` columns are filled by ClickHouse
    (``default``) and never inserted.
    """

    name: str
    type: str
    chained: bool = True
    redactable: bool = False
    get: Getter | None = None
    default: str | None = None
    written: bool = True
    codec: str | None = None

    def ddl(self) -> str:
        text = f"`{self.name}` {self.type}"
        if self.default is not None:
            text += f" DEFAULT {self.default}"
        if self.codec:
            text += f" CODEC({self.codec})"
        return text


_DEDUP = ("non_replicated_deduplication_window = 1000",)
"""A retried insert (same deduplication token) is dropped, in a table and in what derives from it."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    order_by: str
    engine: str = "MergeTree"
    partition_by: str | None = None
    indexes: tuple[str, ...] = ()
    settings: tuple[str, ...] = _DEDUP
    chained: bool = False
    doc: str = ""
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    @property
    def written(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.written)

    @property
    def written_names(self) -> list[str]:
        return [c.name for c in self.columns if c.written]

    @property
    def written_types(self) -> list[str]:
        return [c.type for c in self.columns if c.written]

    @property
    def canonical(self) -> tuple[Column, ...]:
        """The columns the row hash covers directly, in order."""
        return tuple(c for c in self.columns if c.chained and not c.redactable)

    @property
    def redactable(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.redactable)


LC = "LowCardinality(String)"
TIME = "DateTime64(3, 'UTC')"
HASH = "String"  # lower-case hex of a SHA-256


def _attr(name: str, default: Any = "") -> Getter:
    def get(s: Source) -> Any:
        value = getattr(s.event, name, default)
        return default if value is None else value

    return get


def _list(name: str) -> Getter:
    def get(s: Source) -> Any:
        return list(getattr(s.event, name, None) or ())

    return get


def _producer(part: str) -> Getter:
    def get(s: Source) -> Any:
        producer = s.event.producer
        return getattr(producer, part) if producer is not None else ""

    return get


def _recipient(part: str) -> Getter:
    def get(s: Source) -> Any:
        recipient = getattr(s.event, "recipient", None)
        value = getattr(recipient, part, None) if recipient is not None else None
        return value or ""

    return get


def _scope(s: Source) -> str:
    kind = s.event.kind
    if kind == "consent":
        return str(s.event.scope)
    if kind == "policy_accepted":
        return ACCEPTANCE_PREFIX + str(s.event.policy_version)
    return ""


def _action(s: Source) -> str:
    kind = s.event.kind
    if kind == "consent":
        return str(s.event.action)
    if kind == "policy_accepted":
        return "granted"
    if kind == "account_closed":
        return "closed"
    if kind == "subject_request":  # its status (schema v2); '' means received
        return getattr(s.event, "status", None) or ""
    return ""


def _redactable(name: str, get: Getter) -> Column:
    return Column(name, "String", chained=True, redactable=True, get=get)


def _chain_columns() -> tuple[Column, ...]:
    return (
        Column("prev_hash", HASH, chained=False),
        Column("row_hash", HASH, chained=False),
        Column("subject_salt", "String", chained=False),
        Column("erasure_ref", "String", chained=False, default="''"),
        Column("ingested_at", TIME, chained=False, default="now64(3)", written=False),
    )


EVENTS = Table(
    "events",
    chained=True,
    doc="the append-only event log: each event once, with its verdict and chain",
    columns=(
        Column("topic", LC),
        Column("partition", "Int32"),
        Column("offset", "Int64"),
        Column("seq", "UInt64"),
        Column("event_id", "String", get=_attr("event_id")),
        Column("kind", LC, get=_attr("kind")),
        Column("occurred_at", TIME, get=_attr("occurred_at")),
        Column("subject_commitment", HASH),
        _redactable("subject_id", _attr("subject_id")),
        _redactable("trace_id", _attr("trace_id")),
        _redactable("legal_request_ref", _attr("legal_request_ref")),
        Column("producer_service", LC, get=_producer("service")),
        Column("producer_version", LC, get=_producer("version")),
        Column("claimed_policy_version", LC, get=_attr("policy_version")),
        Column(
            "claimed_basis",
            LC,
            get=lambda s: getattr(s.event, "basis", None) or "",
        ),
        Column("data_categories", f"Array({LC})", get=_list("data_categories")),
        Column("inputs", "Array(String)", get=_list("inputs")),
        Column("outputs", "Array(String)", get=_list("outputs")),
        Column("source", LC, get=_attr("source")),
        Column("source_partner", LC, get=_attr("source_partner")),
        Column("purpose", LC, get=_attr("purpose")),
        Column("channel", LC, get=_attr("channel")),
        Column("public", "Bool", get=_attr("public", False)),
        Column("recipient_id", "String", get=_recipient("id")),
        Column("recipient_kind", LC, get=_recipient("kind")),
        Column("recipient_country", LC, get=_recipient("country")),
        Column("transfer", LC, get=lambda s: getattr(s.event, "transfer", "") or ""),
        Column("scope", "String", get=_scope),
        Column("action", LC, get=_action),
        Column("request", LC, get=_attr("request")),
        Column("request_ref", "String", get=_attr("request_ref")),
        Column("decision", LC, get=lambda s: s.verdict.decision),
        Column("basis", LC, get=lambda s: s.verdict.basis or ""),
        Column("reasons", f"Array({LC})", get=lambda s: list(s.verdict.reasons)),
        Column("policy_version", LC, get=lambda s: s.verdict.policy_version or ""),
        Column("severity", LC, get=lambda s: s.severity),
        Column("summary", "String", get=lambda s: s.summary),
        *_chain_columns(),
    ),
    order_by="(subject_id, occurred_at, event_id)",
    partition_by="toYYYYMM(occurred_at)",
    indexes=(
        "INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 4",
        "INDEX idx_chain (topic, partition, seq) TYPE minmax GRANULARITY 1",
        "INDEX idx_kind kind TYPE set(16) GRANULARITY 4",
    ),
)

JOURNAL = Table(
    "journal",
    chained=True,
    doc="records jejak makes itself (monitor alerts, resolutions, erasures), chained",
    columns=(
        Column("seq", "UInt64"),
        Column("record_id", "String"),
        Column("record_kind", LC),
        Column("recorded_at", TIME),
        Column("subject_commitment", HASH),
        Column("subject_id", "String", chained=True, redactable=True),
        Column("body", "String"),
        *_chain_columns(),
    ),
    order_by="(seq)",
)

CHECKPOINTS = Table(
    "checkpoints",
    doc="signed tree heads (C2SP tlog-checkpoint notes) of every chained log",
    columns=(
        Column("log", "String"),
        Column("tree_size", "UInt64"),
        Column("root_hash", HASH),
        Column("note", "String"),
        Column("frontier", "Array(String)"),
        Column("created_at", TIME),
    ),
    order_by="(log, tree_size)",
)

DEAD_LETTERS = Table(
    "dead_letters",
    engine="ReplacingMergeTree(received_at)",
    doc="messages that could not be decoded, or were refused, with why and where from",
    columns=(
        Column("topic", LC),
        Column("partition", "Int32"),
        Column("offset", "Int64"),
        Column("key", "String"),
        Column("reason", LC),
        Column("detail", "String"),
        Column("payload", "String", codec="ZSTD(3)"),
        Column("received_at", TIME, default="now64(3)", written=False),
    ),
    order_by="(topic, partition, offset)",
)

MIGRATIONS = Table(
    "schema_migrations",
    doc="the migrations applied to this store",
    columns=(
        Column("version", "UInt32"),
        Column("name", "String"),
        Column("applied_at", TIME, default="now64(3)", written=False),
    ),
    order_by="(version)",
)

# -- derived tables: filled by the materialized views below ---------------------------------

_LINEAGE_KINDS = "('collection', 'use', 'disclosure', 'deletion')"

LINEAGE = Table(
    "lineage",
    doc="derived: one row per event and data category (collections, uses, disclosures, deletions)",
    columns=(
        Column("topic", LC),
        Column("partition", "Int32"),
        Column("seq", "UInt64"),
        Column("event_id", "String"),
        Column("subject_id", "String"),
        Column("kind", LC),
        Column("occurred_at", TIME),
        Column("category", LC),
        Column("source", LC),
        Column("source_partner", LC),
        Column("purpose", LC),
        Column("channel", LC),
        Column("public", "Bool"),
        Column("recipient_id", "String"),
        Column("recipient_kind", LC),
        Column("recipient_country", LC),
        Column("transfer", LC),
        Column("inputs", "Array(String)"),
        Column("outputs", "Array(String)"),
        Column("producer_service", LC),
        Column("decision", LC),
        Column("basis", LC),
        Column("reasons", f"Array({LC})"),
        Column("policy_version", LC),
    ),
    order_by="(subject_id, occurred_at, event_id, category)",
    partition_by="toYYYYMM(occurred_at)",
    indexes=("INDEX idx_kind kind TYPE set(8) GRANULARITY 4",),
)

CONSENTS = Table(
    "consents",
    doc="derived: the consent ledger (consents, policy acceptances, account closures)",
    columns=(
        Column("topic", LC),
        Column("partition", "Int32"),
        Column("seq", "UInt64"),
        Column("event_id", "String"),
        Column("subject_id", "String"),
        Column("occurred_at", TIME),
        Column("scope", "String"),
        Column("action", LC),
        Column("producer_service", LC),
    ),
    order_by="(topic, partition, subject_id, seq)",
)

ALERTS = Table(
    "alerts",
    doc="derived: one row per alert (violations in the event log, monitor alerts in the journal)",
    columns=(
        Column("alert_id", "String"),
        Column("event_id", "String"),
        Column("subject_id", "String"),
        Column("kind", LC),
        Column("occurred_at", TIME),
        Column("severity", LC),
        Column("reason", LC),
        Column("reasons", f"Array({LC})"),
        Column("categories", f"Array({LC})"),
        Column("purpose", LC),
        Column("recipient_id", "String"),
        Column("recipient_kind", LC),
        Column("policy_version", LC),
        Column("summary", "String"),
        Column("origin", LC),
        Column("raised_at", TIME),
    ),
    order_by="(severity, occurred_at, alert_id)",
)

DAILY_STATS = Table(
    "daily_stats",
    engine="SummingMergeTree",
    doc="derived: events per day, kind and decision",
    columns=(
        Column("day", "Date"),
        Column("kind", LC),
        Column("decision", LC),
        Column("events", "UInt64"),
    ),
    order_by="(day, kind, decision)",
)

DAILY_DISCLOSURES = Table(
    "daily_disclosures",
    engine="SummingMergeTree",
    doc="derived: disclosures per day, recipient, purpose and basis",
    columns=(
        Column("day", "Date"),
        Column("recipient_id", "String"),
        Column("recipient_kind", LC),
        Column("purpose", LC),
        Column("basis", LC),
        Column("disclosures", "UInt64"),
        Column("violations", "UInt64"),
    ),
    order_by="(day, recipient_id, recipient_kind, purpose, basis)",
)

DAILY_CLAUSES = Table(
    "daily_clauses",
    engine="SummingMergeTree",
    doc="derived: decisions per day, basis clause and reason (the clause questions)",
    columns=(
        Column("day", "Date"),
        Column("kind", LC),
        Column("basis", LC),
        Column("reason", LC),
        Column("events", "UInt64"),
    ),
    order_by="(day, kind, basis, reason)",
)


@dataclass(frozen=True)
class View:
    """A materialized view: ClickHouse runs ``select`` on every insert into ``source``."""

    name: str
    source: str
    target: str
    select: str


# Aggregates skip the re-inserted copies an erasure writes (erasure_ref set),
# so counts never change; lineage, consents and alerts are re-derived from them.
VIEWS: tuple[View, ...] = (
    View(
        "lineage_mv",
        "events",
        "lineage",
        "SELECT topic, partition, seq, event_id, subject_id, kind, occurred_at, category, "
        "source, source_partner, purpose, channel, public, recipient_id, recipient_kind, "
        "recipient_country, transfer, inputs, outputs, producer_service, decision, basis, "
        "reasons, policy_version FROM {db}.events ARRAY JOIN data_categories AS category "
        f"WHERE kind IN {_LINEAGE_KINDS}",
    ),
    View(
        "consents_mv",
        "events",
        "consents",
        "SELECT topic, partition, seq, event_id, subject_id, occurred_at, scope, action, "
        "producer_service FROM {db}.events "
        "WHERE kind IN ('consent', 'policy_accepted', 'account_closed')",
    ),
    View(
        "alerts_mv",
        "events",
        "alerts",
        "SELECT concat(event_id, ':', reasons[1]) AS alert_id, event_id, subject_id, kind, "
        "occurred_at, severity, reasons[1] AS reason, reasons, data_categories AS categories, "
        "purpose, recipient_id, recipient_kind, policy_version, summary, 'event' AS origin, "
        "ingested_at AS raised_at FROM {db}.events "
        "WHERE decision = 'violation' AND length(reasons) > 0",
    ),
    View(
        "journal_alerts_mv",
        "journal",
        "alerts",
        "SELECT JSONExtractString(body, 'alert_id') AS alert_id, '' AS event_id, subject_id, "
        "JSONExtractString(body, 'kind') AS kind, "
        "parseDateTime64BestEffort(JSONExtractString(body, 'occurred_at'), 3, 'UTC') "
        "AS occurred_at, JSONExtractString(body, 'severity') AS severity, "
        "JSONExtractString(body, 'reason') AS reason, "
        "JSONExtract(body, 'reasons', 'Array(String)') AS reasons, "
        "JSONExtract(body, 'categories', 'Array(String)') AS categories, "
        "JSONExtractString(body, 'purpose') AS purpose, '' AS recipient_id, "
        "'' AS recipient_kind, JSONExtractString(body, 'policy_version') AS policy_version, "
        "JSONExtractString(body, 'summary') AS summary, 'monitor' AS origin, "
        "recorded_at AS raised_at FROM {db}.journal WHERE record_kind = 'alert'",
    ),
    View(
        "daily_stats_mv",
        "events",
        "daily_stats",
        "SELECT toDate(occurred_at) AS day, kind, decision, count() AS events "
        "FROM {db}.events WHERE erasure_ref = '' GROUP BY day, kind, decision",
    ),
    View(
        "daily_disclosures_mv",
        "events",
        "daily_disclosures",
        "SELECT toDate(occurred_at) AS day, recipient_id, recipient_kind, purpose, basis, "
        "count() AS disclosures, countIf(decision = 'violation') AS violations "
        "FROM {db}.events WHERE kind = 'disclosure' AND erasure_ref = '' "
        "GROUP BY day, recipient_id, recipient_kind, purpose, basis",
    ),
    View(
        "daily_clauses_mv",
        "events",
        "daily_clauses",
        "SELECT toDate(occurred_at) AS day, kind, basis, "
        "arrayJoin(if(empty(reasons), [''], reasons)) AS reason, count() AS events "
        "FROM {db}.events WHERE erasure_ref = '' GROUP BY day, kind, basis, reason",
    ),
)

WRITTEN: tuple[Table, ...] = (EVENTS, JOURNAL, CHECKPOINTS, DEAD_LETTERS, MIGRATIONS)
DERIVED: tuple[Table, ...] = (
    LINEAGE,
    CONSENTS,
    ALERTS,
    DAILY_STATS,
    DAILY_DISCLOSURES,
    DAILY_CLAUSES,
)
TABLES: tuple[Table, ...] = WRITTEN + DERIVED
BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
SUBJECT_TABLES = ("events", "journal", "lineage", "consents", "alerts")
"""Tables whose rows name a data subject (what erasure must reach)."""


def _engine(table: Table, database: str, cluster: str | None) -> str:
    if not cluster:
        return table.engine
    name, _, args = table.engine.partition("(")
    inner = f", {args[:-1]}" if args else ""
    return (
        f"Replicated{name}('/clickhouse/tables/{{shard}}/{database}/{table.name}', "
        f"'{{replica}}'{inner})"
    )


def create_sql(
    table: Table, database: str, cluster: str | None = None, *, name: str | None = None
) -> str:
    """``CREATE TABLE`` for one declared table; replicated when a cluster is named."""
    on_cluster = f" ON CLUSTER {cluster}" if cluster else ""
    body = ",\n    ".join([*(c.ddl() for c in table.columns), *table.indexes])
    sql = (
        f"CREATE TABLE IF NOT EXISTS {database}.{name or table.name}{on_cluster} (\n    {body}\n)"
        f"\nENGINE = {_engine(table, database, cluster)}"
    )
    if table.partition_by:
        sql += f"\nPARTITION BY {table.partition_by}"
    sql += f"\nORDER BY {table.order_by}"
    if table.settings:
        sql += "\nSETTINGS " + ", ".join(table.settings)
    return sql


def view_sql(view: View, database: str, cluster: str | None = None, *, suffix: str = "") -> str:
    """``CREATE MATERIALIZED VIEW … TO …`` for one declared view."""
    on_cluster = f" ON CLUSTER {cluster}" if cluster else ""
    select = view.select.replace("{db}.events", f"{database}.events{suffix}")
    select = select.replace("{db}.journal", f"{database}.journal{suffix}")
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{view.name}{on_cluster} "
        f"TO {database}.{view.target}{suffix} AS {select}"
    )


def cluster_ddl(database: str, cluster: str) -> list[str]:
    """A cluster's statements: replicated ``*_local`` tables, the views between them, and
    ``Distributed`` tables under the plain names, sharded by subject id.

    Sharding by subject keeps each subject's rows, their reports and their
    erasure on one shard; the chain of a Kafka partition spans shards and is
    read back through the ``Distributed`` table by ``jejak verify``.
    """
    statements = [f"CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER {cluster}"]
    for table in TABLES:
        statements.append(create_sql(table, database, cluster, name=f"{table.name}_local"))
    for view in VIEWS:
        statements.append(view_sql(view, database, cluster, suffix="_local"))
    for table in TABLES:
        key = "cityHash64(subject_id)" if "subject_id" in table.by_name else "rand()"
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {database}.{table.name} ON CLUSTER {cluster} "
            f"AS {database}.{table.name}_local "
            f"ENGINE = Distributed({cluster}, {database}, {table.name}_local, {key})"
        )
    return statements


def row_of(source: Source, table: Table = EVENTS) -> list[Any]:
    """The values of a written table's event-derived columns, in declaration order.

    Columns without a getter (origin, chain, salt) are ``None`` here; the chain
    writer fills them.
    """
    return [c.get(source) if c.get is not None else None for c in table.written]
