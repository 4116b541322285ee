"""Every table of the lineage store, declared once.

A :class:`Table` lists its :class:`Column` s (name, ClickHouse type, and for
the written tables how the value comes from an event and its verdict), its
sorting key, partitioning and engine. Everything else is derived from these
declarations: the ``CREATE`` statements (:func:`create_sql`), the insert
column names and types, the rows (:func:`row_of`), the canonical byte form the
hash chain commits to (:mod:`jejak.lineage.store.canonical`), and the cluster
DDL. Derived tables are computed by ClickHouse from the log: from the rows
appended since the last derivation (:data:`DERIVATIONS`, run by
:mod:`jejak.lineage.store.derive`), by a materialized view for the journal, or
read through plain views (:data:`VIEWS`).

The written tables:

- ``events``: the append-only event log. One row per accepted event: the
  event's fields, its verdict, where it came from in Kafka and its place in
  the partition's hash chain (``seq``, ``prev_hash``, ``row_hash``). Nothing
  else is written per event: lineage, the consent ledger, alerts and the
  aggregates are derived inside ClickHouse.
- ``journal``: records jejak makes itself (alerts of the retention monitor,
  their resolutions, erasures), chained like a partition.
- ``checkpoints``: signed tree heads of every chained log.
- ``dead_letters``: messages that could not be decoded or were refused.
- ``derivations``: which rows of each log the derived tables cover.
- ``schema_migrations``: which migrations ran, when.

Why derived in ClickHouse rather than by Python writing each derived table: a
5,000-event batch costs one column-oriented insert instead of six row
inserts, and nothing derived can disagree with the log it comes from. Why by
derivations many batches at a time rather than materialized views was chosen
by measurement (see the comment above :data:`DERIVATIONS`).
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
"""A retried insert (same deduplication token) is dropped; for the last 1,000 inserts of a table."""


@dataclass(frozen=True)
class Projection:
    """An aggregate projection: a summary ClickHouse keeps inside each part of its table.

    It lives and dies with the rows it sums up (an erasure's ``ALTER TABLE …
    DELETE`` rebuilds it). Used on a derived table (``alerts.by_reason``); on
    the event log it cost each insert an aggregation of the block, about a
    fifth of the insert, so the log's aggregates are derived tables instead.
    """

    name: str
    select: str

    def ddl(self) -> str:
        return f"PROJECTION {self.name} ({self.select})"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    order_by: str
    engine: str = "MergeTree"
    partition_by: str | None = None
    indexes: tuple[str, ...] = ()
    projections: tuple[Projection, ...] = ()
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
HASH = "FixedString(32)"  # a SHA-256, as its 32 bytes
RAW = "NONE"  # hashes and salts are random bytes: compressing them only costs CPU


@dataclass(frozen=True)
class Attr:
    """A value read from the event (``path`` may go one level down: ``recipient.id``).

    ``None`` and a field the event's kind does not have both give ``default``;
    ``as_list`` copies a sequence into a list. Declared as data, not as a
    function, so :func:`row_maker` can compile one plain expression per column
    and event kind instead of calling a getter per value.
    """

    path: str
    default: Any = ""
    as_list: bool = False

    def __call__(self, s: Source) -> Any:
        value: Any = s.event
        for part in self.path.split("."):
            value = getattr(value, part, None)
            if value is None:
                break
        if value is None:
            return [] if self.as_list else self.default
        return list(value) if self.as_list else value


@dataclass(frozen=True)
class Judged:
    """A value from the verdict or the alert (``verdict.basis``, ``severity``)."""

    path: str
    default: Any = ""
    as_list: bool = False

    def __call__(self, s: Source) -> Any:
        head, _, attr = self.path.partition(".")
        value = getattr(getattr(s, head), attr) if attr else getattr(s, head)
        if value is None:
            return self.default
        return list(value) if self.as_list else value


def _attr(name: str, default: Any = "") -> Attr:
    return Attr(name, default)


def _list(name: str) -> Attr:
    return Attr(name, as_list=True)


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
        Column("prev_hash", HASH, chained=False, codec=RAW),
        Column("row_hash", HASH, chained=False, codec=RAW),
        Column("subject_salt", "FixedString(16)", chained=False, codec=RAW),
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
        Column("subject_commitment", HASH, codec=RAW),
        _redactable("subject_id", _attr("subject_id")),
        _redactable("trace_id", _attr("trace_id")),
        _redactable("legal_request_ref", _attr("legal_request_ref")),
        Column("producer_service", LC, get=Attr("producer.service")),
        Column("producer_version", LC, get=Attr("producer.version")),
        Column("claimed_policy_version", LC, get=_attr("policy_version")),
        Column("claimed_basis", LC, get=Attr("basis")),
        Column("data_categories", f"Array({LC})", get=_list("data_categories")),
        Column("inputs", "Array(String)", get=_list("inputs")),
        Column("outputs", "Array(String)", get=_list("outputs")),
        Column("source", LC, get=_attr("source")),
        Column("source_partner", LC, get=_attr("source_partner")),
        Column("purpose", LC, get=_attr("purpose")),
        Column("channel", LC, get=_attr("channel")),
        Column("public", "Bool", get=_attr("public", False)),
        Column("recipient_id", "String", get=Attr("recipient.id")),
        Column("recipient_kind", LC, get=Attr("recipient.kind")),
        Column("recipient_country", LC, get=Attr("recipient.country")),
        Column("transfer", LC, get=Attr("transfer")),
        Column("scope", "String", get=_scope),
        Column("action", LC, get=_action),
        Column("request", LC, get=_attr("request")),
        Column("request_ref", "String", get=_attr("request_ref")),
        Column("decision", LC, get=Judged("verdict.decision")),
        Column("basis", LC, get=Judged("verdict.basis")),
        Column("reasons", f"Array({LC})", get=Judged("verdict.reasons", as_list=True)),
        Column("policy_version", LC, get=Judged("verdict.policy_version")),
        Column("severity", LC, get=Judged("severity")),
        Column("summary", "String", get=Judged("summary")),
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
        Column("subject_commitment", HASH, codec=RAW),
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
        Column("root_hash", "String"),
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

# -- derived tables: filled from the log by DERIVATIONS below --------------------------------

_LINEAGE_KINDS = "('collection', 'use', 'disclosure', 'deletion')"

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
    projections=(
        # alerts per severity and reason with their distinct subjects (queries.alert_summary)
        Projection(
            "by_reason",
            "SELECT severity, reason, subject_id, count(), min(occurred_at), max(occurred_at) "
            "GROUP BY severity, reason, subject_id",
        ),
    ),
)

DAILY = Table(
    "daily",
    engine="SummingMergeTree",
    doc="derived: events per day, kind, decision, basis, reason and recipient (the aggregates)",
    columns=(
        Column("day", "Date"),
        Column("kind", LC),
        Column("decision", LC),
        Column("basis", LC),
        Column("reason", LC),
        Column("first_reason", "UInt8"),
        Column("recipient_id", "String"),
        Column("recipient_kind", LC),
        Column("purpose", LC),
        Column("events", "UInt64"),
    ),
    order_by="(day, kind, decision, basis, reason, first_reason, recipient_kind, recipient_id, "
    "purpose)",
)

RECIPIENTS = Table(
    "recipients",
    engine="AggregatingMergeTree",
    doc="derived: disclosures per recipient, purpose and subject: events, violations, first and "
    "last time, categories and bases",
    columns=(
        Column("kind", LC),
        Column("recipient_id", "String"),
        Column("recipient_kind", LC),
        Column("purpose", LC),
        Column("subject_id", "String"),
        Column("events", "SimpleAggregateFunction(sum, UInt64)"),
        Column("violations", "SimpleAggregateFunction(sum, UInt64)"),
        Column("first_at", f"SimpleAggregateFunction(min, {TIME})"),
        Column("last_at", f"SimpleAggregateFunction(max, {TIME})"),
        Column("categories", "SimpleAggregateFunction(groupUniqArrayArray, Array(String))"),
        Column("bases", "SimpleAggregateFunction(groupUniqArrayArray, Array(String))"),
    ),
    order_by="(kind, recipient_kind, recipient_id, purpose, subject_id)",
)

DERIVED_RANGES = Table(
    "derivations",
    doc="which rows of each event log the derived tables cover: one row per log and derivation",
    columns=(
        Column("derivation_id", "String"),
        Column("topic", LC),
        Column("partition", "Int32"),
        Column("from_seq", "UInt64"),
        Column("to_seq", "UInt64"),
        # each derivation's ranges are written twice: before its tables are filled
        # (recorded) and after (filled); only a recorded one is ever run again
        Column("filled", "Bool", default="false"),
        Column("derived_at", TIME, default="now64(3)", written=False),
    ),
    order_by="(topic, partition, to_seq)",
)


@dataclass(frozen=True)
class View:
    """A view. Materialized (``target`` set): ClickHouse runs ``select`` on every insert
    into ``source`` and appends the result to ``target``. Plain: ``select`` runs when
    the view is read, and costs the write path nothing."""

    name: str
    source: str
    target: str | None
    select: str


@dataclass(frozen=True)
class Derivation:
    """How one derived table is filled from rows of the event log.

    ``select`` reads ``{rows}``: the event-log rows being derived (a range of
    ``seq`` per log, or an erasure's redacted copies), never the whole log.
    """

    target: str
    select: str
    order_by: str
    """The rows' key: a derivation inserts its rows in this order, so a repeat is the same
    insert (and its deduplication token drops it; see derive.py)."""


# What is derived, and why this way (measured, bench/RESULTS.md "store write path"):
# a materialized view costs every insert a pipeline and a part of its own, and
# so did an aggregate projection: three views and one projection took the
# event log's insert to 0.38 of the same rows into one plain table. Deriving
# by one read and one insert per derived table of the rows appended since the
# last derivation costs the same work once per many batches (every 100,000
# events, every 10 s, or when the stream goes quiet). Only small or aggregated
# outputs are stored: the alerts, one daily aggregate, and the per-subject
# disclosure aggregate for the disclosure question. The consent ledger (a
# quarter of the simulated events, and read only per subject or for rare
# actions) is a plain view like lineage per category:
# both read the event log, whose sorting key starts with the subject id, so a
# subject's rows are read from the log directly. Each log row is derived exactly
# once (``derivations`` records the ranges; a repeated derivation carries the
# same deduplication token), so the aggregates count an erasure's redacted copy
# in place of the row it replaced.
DERIVATIONS: tuple[Derivation, ...] = (
    Derivation(
        "alerts",
        "SELECT concat(event_id, ':', reasons[1]) AS alert_id, event_id, subject_id, kind, "
        "occurred_at, severity, reasons[1] AS reason, reasons, data_categories AS categories, "
        "purpose, recipient_id, recipient_kind, policy_version, summary, 'event' AS origin, "
        "ingested_at AS raised_at FROM {rows} "
        "WHERE decision = 'violation' AND length(reasons) > 0",
        order_by="alert_id",
    ),
    Derivation(
        "daily",
        "SELECT day, kind, decision, basis, reason, first_reason, recipient_id, "
        "recipient_kind, purpose, events FROM (SELECT toDate(occurred_at) AS day, kind, "
        "decision, basis, arrayJoin(arrayEnumerate(if(empty(reasons), [''], reasons))) AS n, "
        "if(empty(reasons), '', reasons[n]) AS reason, toUInt8(n = 1) AS first_reason, "
        "recipient_id, recipient_kind, purpose, count() AS events FROM {rows} "
        "GROUP BY day, kind, decision, basis, n, reason, recipient_id, recipient_kind, purpose)",
        order_by="day, kind, decision, basis, reason, first_reason, recipient_id, recipient_kind, "
        "purpose",
    ),
    Derivation(
        "recipients",
        "SELECT kind, recipient_id, recipient_kind, purpose, subject_id, count() AS events, "
        "countIf(decision = 'violation') AS violations, min(occurred_at) AS first_at, "
        "max(occurred_at) AS last_at, groupUniqArrayArray(data_categories) AS categories, "
        "groupUniqArray(basis) AS bases FROM {rows} WHERE kind = 'disclosure' "
        "GROUP BY kind, recipient_id, recipient_kind, purpose, subject_id",
        order_by="kind, recipient_id, recipient_kind, purpose, subject_id",
    ),
)

VIEWS: tuple[View, ...] = (
    View(
        "journal_alerts_mv",
        "journal",
        "alerts",
        "SELECT replaceAll(JSONExtractString(body, 'alert_id'), '{subject}', subject_id) "
        "AS alert_id, '' AS event_id, subject_id, "
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
        "consents",
        "events",
        None,
        "SELECT topic, partition, seq, event_id, subject_id, occurred_at, scope, action, "
        "producer_service FROM {db}.events "
        "WHERE kind IN ('consent', 'policy_accepted', 'account_closed')",
    ),
    View(
        "lineage",
        "events",
        None,
        "SELECT topic, partition, seq, event_id, subject_id, kind, occurred_at, category, "
        "source, source_partner, purpose, channel, public, recipient_id, recipient_kind, "
        "recipient_country, transfer, inputs, outputs, producer_service, decision, basis, "
        "reasons, policy_version FROM {db}.events ARRAY JOIN data_categories AS category "
        f"WHERE kind IN {_LINEAGE_KINDS}",
    ),
    View(
        "daily_stats",
        "daily",
        None,
        "SELECT day, kind, decision, sum(events) AS events FROM {db}.daily "
        "WHERE first_reason GROUP BY day, kind, decision",
    ),
    View(
        "daily_disclosures",
        "daily",
        None,
        "SELECT day, recipient_id, recipient_kind, purpose, basis, sum(events) AS disclosures, "
        "sumIf(events, decision = 'violation') AS violations FROM {db}.daily "
        "WHERE kind = 'disclosure' AND first_reason "
        "GROUP BY day, recipient_id, recipient_kind, purpose, basis",
    ),
    View(
        "daily_clauses",
        "daily",
        None,
        "SELECT day, kind, basis, reason, sum(events) AS events FROM {db}.daily "
        "GROUP BY day, kind, basis, reason",
    ),
)

WRITTEN: tuple[Table, ...] = (
    EVENTS,
    JOURNAL,
    CHECKPOINTS,
    DEAD_LETTERS,
    DERIVED_RANGES,
    MIGRATIONS,
)
DERIVED: tuple[Table, ...] = (ALERTS, DAILY, RECIPIENTS)
TABLES: tuple[Table, ...] = WRITTEN + DERIVED


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
    body = ",\n    ".join(
        [*(c.ddl() for c in table.columns), *table.indexes, *(p.ddl() for p in table.projections)]
    )
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
    """``CREATE [MATERIALIZED] VIEW`` for one declared view.

    On a cluster (``suffix="_local"``) a materialized view reads and writes the
    shard's local tables; a plain view reads the ``Distributed`` tables.
    """
    on_cluster = f" ON CLUSTER {cluster}" if cluster else ""
    if view.target is None:
        select = view.select.replace("{db}.", f"{database}.")
        return f"CREATE VIEW IF NOT EXISTS {database}.{view.name}{on_cluster} AS {select}"
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
        if view.target is not None:
            statements.append(view_sql(view, database, cluster, suffix="_local"))
    for table in TABLES:
        key = "cityHash64(subject_id)" if "subject_id" in table.by_name else "rand()"
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {database}.{table.name} ON CLUSTER {cluster} "
            f"AS {database}.{table.name}_local "
            f"ENGINE = Distributed({cluster}, {database}, {table.name}_local, {key})"
        )
    for view in VIEWS:
        if view.target is None:
            statements.append(view_sql(view, database, cluster))
    return statements


def _expression(getter: Getter, event_class: type, i: int, env: dict[str, Any]) -> str:
    """One column's value as a Python expression over ``e`` (event), ``s`` (source)."""
    if isinstance(getter, Attr):
        first, _, second = getter.path.partition(".")
        fields = getattr(event_class, "model_fields", None)
        if fields is not None and first not in fields:
            return "[]" if getter.as_list else repr(getter.default)
        value = f"e.{first}"
        if second:
            value = f"(None if e.{first} is None else e.{first}.{second})"
        if getter.as_list:
            return f"list({value} or ())"
        env[f"d{i}"] = getter.default
        return f"(d{i} if (v := {value}) is None else v)"
    if isinstance(getter, Judged):
        head, _, attr = getter.path.partition(".")
        value = f"s.{head}.{attr}" if attr else f"s.{head}"
        if getter.as_list:
            return f"list({value})"
        env[f"d{i}"] = getter.default
        return f"(d{i} if (v := {value}) is None else v)"
    env[f"g{i}"] = getter
    return f"g{i}(s)"


_MAKERS: dict[tuple[str, type], Callable[[Source], list[Any]]] = {}


def row_maker(table: Table, event_class: type) -> Callable[[Source], list[Any]]:
    """A compiled ``Source -> row`` for one table and one event kind.

    One list display with a plain expression per column: no getter calls and no
    look-ups of fields the kind does not have (pydantic's ``__getattr__`` for a
    missing attribute is slow). :func:`row_of` is the reference it must equal
    (a test pins them to each other).
    """
    key = (table.name, event_class)
    maker = _MAKERS.get(key)
    if maker is None:
        env: dict[str, Any] = {}
        parts = [
            "None" if c.get is None else _expression(c.get, event_class, i, env)
            for i, c in enumerate(table.written)
        ]
        code = "def make(s):\n    e = s.event\n    return [" + ", ".join(parts) + "]\n"
        exec(compile(code, f"<row maker {table.name}/{event_class.__name__}>", "exec"), env)
        maker = _MAKERS[key] = env["make"]
    return maker


def row_of(source: Source, table: Table = EVENTS) -> list[Any]:
    """The values of a written table's event-derived columns, in declaration order.

    Columns without a getter (origin, chain, salt) are ``None`` here; the chain
    writer fills them. The reference form: the writer uses :func:`row_maker`.
    """
    return [c.get(source) if c.get is not None else None for c in table.written]
