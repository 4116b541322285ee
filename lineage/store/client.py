"""One factory from a DSN to a ClickHouse client, embedded or remote.

``chdb:///path`` runs the embedded chDB engine in this process (one process
per data directory: chDB refuses a second path in the same process, and the
process that runs the consumers also serves queries). ``http(s)://user:password@host:port/db``
talks to a ClickHouse server or cluster. Both go through clickhouse-connect, so
every query below is written once.

Credentials never reach a log line or an error message: DSNs are redacted.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from jejak.errors import ConfigError, StoreError
from jejak.lineage.store.tables import Table
from jejak.settings import StoreSettings, redact_dsn

log = logging.getLogger(__name__)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(name: str) -> str:
    """Database and table names are interpolated into SQL, so they must be plain identifiers."""
    if not _IDENT.match(name):
        raise ConfigError(f"{name!r} is not a plain ClickHouse identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return name


def _scrub(message: str, dsn: str) -> str:
    password = urlsplit(dsn).password
    if password:
        message = message.replace(password, "***")
    return message


class StoreNotFound(StoreError):
    """There is no jejak store where the settings point (a read never creates one)."""


def chdb_path(dsn: str) -> str | None:
    """The data folder of a ``chdb://`` DSN (``None`` for a server or an in-memory store)."""
    parts = urlsplit(dsn)
    if parts.scheme != "chdb":
        return None
    path = parts.path if not parts.netloc else parts.netloc + parts.path
    return path if path and path not in (":memory:", "memory") else None


_ESCAPES = str.maketrans({c: "\\" + c for c in ("\\", "'", "`", "\t", "\n")})
"""The escapes clickhouse-connect gives a string parameter (``binding.must_escape``)."""


_PLACEHOLDER = re.compile(r"\{@(\w+)\}")


def string_array(values: Sequence[str]) -> str:
    """A ClickHouse array literal of ``values``, escaped exactly as clickhouse-connect
    escapes a parameter, but by ``str.translate`` (C) rather than a Python generator per
    character: for 5,000 event ids that was 7% of the consumer's time."""
    return "[" + ",".join(["'" + v.translate(_ESCAPES) + "'" for v in values]) + "]"


def as_utc(value: Any) -> Any:
    """A datetime read back as an aware UTC one (clickhouse-connect returns
    ``DateTime64(…, 'UTC')`` as naive datetimes in UTC); anything else as it is."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _open(dsn: str) -> Any:
    import clickhouse_connect

    parts = urlsplit(dsn)
    if parts.scheme == "chdb":
        path = chdb_path(dsn)
        if path:
            Path(path).mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=dsn)
    if parts.scheme in ("http", "https", "clickhouse", "clickhouses"):
        # the database named in the DSN may not exist yet: connect to the
        # server's default and let migrate() create ours
        return clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port,
            username=parts.username or "default",
            password=parts.password or "",
            secure=parts.scheme in ("https", "clickhouses"),
            connect_timeout=10,
            send_receive_timeout=300,
        )
    raise ConfigError(
        f"store DSN {redact_dsn(dsn)!r}: unknown scheme {parts.scheme!r}; "
        "use chdb:///path (embedded) or http(s)://user:password@host:port/db"
    )


_TYPE_CACHE: dict[str, list[Any]] = {}


def _types(table: Table, get_from_name: Any) -> list[Any]:
    types = _TYPE_CACHE.get(table.name)
    if types is None:
        types = _TYPE_CACHE[table.name] = [get_from_name(t) for t in table.written_types]
    return types


def database_from_dsn(dsn: str) -> str | None:
    """The database named in an http(s) DSN's path, if any."""
    parts = urlsplit(dsn)
    if parts.scheme == "chdb":
        return None
    name = parts.path.strip("/")
    return name or None


class Store:
    """A clickhouse-connect client bound to jejak's database, safe to share between threads.

    clickhouse-connect clients are not meant for concurrent queries on one
    session, and chDB runs in-process: one lock serialises the calls.
    """

    def __init__(self, client: Any, database: str, dsn: str, cluster: str | None = None) -> None:
        self._client = client
        self.database = check_identifier(database)
        self.cluster = check_identifier(cluster) if cluster else None
        self.redacted_dsn = redact_dsn(dsn)
        self._dsn = dsn
        self._lock = threading.RLock()
        self.embedded = urlsplit(dsn).scheme == "chdb"
        self.folder = chdb_path(dsn)
        """The data folder of an embedded store (``None`` for a server)."""

    # -- plain calls, errors scrubbed of credentials -----------------------------------
    def _fail(self, what: str, exc: Exception) -> StoreError:
        return StoreError(f"{what} on {self.redacted_dsn} failed: {_scrub(str(exc), self._dsn)}")

    def _sql(self, sql: str) -> str:
        # {db} stands for jejak's database (a checked identifier) in every statement
        return sql.replace("{db}", self.database)

    def command(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Any:
        with self._lock:
            try:
                return self._client.command(
                    self._sql(sql), parameters=parameters, settings=settings
                )
            except Exception as exc:
                raise self._fail("command", exc) from None

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts (column name -> value)."""
        with self._lock:
            try:
                result = self._client.query(self._sql(sql), parameters=parameters)
            except Exception as exc:
                raise self._fail("query", exc) from None
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """:meth:`query`, with every datetime aware (UTC): what the questions answer with."""
        return [{k: as_utc(v) for k, v in row.items()} for row in self.query(sql, parameters)]

    def query_columns(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        *,
        width: int,
        strings: dict[str, Sequence[str]] | None = None,
    ) -> list[Sequence[Any]]:
        """The ``width`` columns of the answer, whole (empty ones when no row matched).

        For reads of many rows of few columns: no dict per row. ``strings`` fills
        ``{@name}`` with an array literal of many strings (:func:`string_array`),
        for lists too long for a parameter's escaping in Python (a batch's event ids).
        """
        text = self._sql(sql)
        if strings:  # one pass over the statement: a value is never read as a placeholder
            text = _PLACEHOLDER.sub(lambda m: string_array(strings[m.group(1)]), text)
        with self._lock:
            try:
                result = self._client.query(text, parameters=parameters)
            except Exception as exc:
                raise self._fail("query", exc) from None
        columns = list(result.result_columns) if result.row_count else []
        return columns or [[] for _ in range(width)]

    def stream_columns(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> Iterator[Sequence[Sequence[Any]]]:
        """Blocks of whole columns, for scans too large to hold at once (``jejak verify``).

        The store's lock is held while the stream is read: consume it promptly.
        """
        with self._lock:
            try:
                with self._client.query_column_block_stream(
                    self._sql(sql), parameters=parameters
                ) as stream:
                    yield from stream
            except StoreError:
                raise
            except Exception as exc:
                raise self._fail("query", exc) from None

    def insert_rows(
        self, table: Table, rows: Sequence[Sequence[Any]], *, dedup_token: str | None = None
    ) -> None:
        """Insert rows given in ``table``'s written column order, column-oriented, typed.

        The column names and types come from the declaration, so clickhouse-connect
        does not ask the server to ``DESCRIBE`` the table first.
        """
        if not rows:
            return
        self.insert_columns(table, list(zip(*rows, strict=True)), dedup_token=dedup_token)

    def insert_columns(
        self, table: Table, columns: Sequence[Sequence[Any]], *, dedup_token: str | None = None
    ) -> None:
        """:meth:`insert_rows` for values already in columns (the written columns, in order)."""
        if not columns or not len(columns[0]):
            return
        from clickhouse_connect.datatypes.registry import get_from_name

        types = _types(table, get_from_name)
        # a retried insert with the same token is dropped (and so are the rows a
        # materialized view, the journal's, would derive from it)
        settings = (
            {
                "insert_deduplication_token": dedup_token,
                "deduplicate_blocks_in_dependent_materialized_views": 1,
            }
            if dedup_token
            else None
        )
        with self._lock:
            try:
                self._client.insert(
                    f"{self.database}.{check_identifier(table.name)}",
                    columns,
                    column_names=table.written_names,
                    column_types=types,
                    column_oriented=True,
                    settings=settings,
                )
            except Exception as exc:
                raise self._fail(f"insert into {table.name}", exc) from None

    @contextmanager
    def exclusive(self) -> Iterator[Any]:
        """The clickhouse-connect client itself, with the store's lock held.

        For the process that serves this store to others (``jejak consume
        --workers``): their calls and this process's own take turns.
        """
        with self._lock:
            yield self._client

    def ensure_database(self) -> None:
        on_cluster = f" ON CLUSTER {self.cluster}" if self.cluster else ""
        self.command(f"CREATE DATABASE IF NOT EXISTS {self.database}{on_cluster}")

    def drop_database(self) -> None:
        """Drop jejak's database and everything in it (the demo starts afresh)."""
        on_cluster = f" ON CLUSTER {self.cluster}" if self.cluster else ""
        self.command(f"DROP DATABASE IF EXISTS {self.database}{on_cluster} SYNC")

    def close(self) -> None:
        with self._lock:
            try:
                self._client.close()
            except Exception:
                log.debug("closing the store client failed", exc_info=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect(
    settings: StoreSettings | str, database: str | None = None, *, create: bool = True
) -> Store:
    """A :class:`Store` for a DSN (or the store settings), with its database created.

    ``database`` wins over the one named in an http(s) DSN, which wins over the
    settings' default.
    """
    if isinstance(settings, str):
        dsn, default_db, cluster = settings, "jejak", None
    else:
        dsn, default_db, cluster = (
            settings.dsn.get_secret_value(),
            settings.database,
            settings.cluster,
        )
    db = database or database_from_dsn(dsn) or default_db
    try:
        client = _open(dsn)
    except ConfigError:
        raise
    except Exception as exc:
        raise StoreError(
            f"cannot open the store at {redact_dsn(dsn)}: {_scrub(str(exc), dsn)}"
        ) from None
    store = Store(client, db, dsn, cluster)
    log.info("store: %s (database %s)", store.redacted_dsn, db)
    if create:
        store.ensure_database()
    return store


def open_existing(settings: StoreSettings, database: str | None = None) -> Store:
    """A :class:`Store` that already exists; :class:`StoreNotFound` otherwise.

    For reads (``jejak query``, ``jejak report``): ``connect`` would create an
    empty folder and database, and a question asked from the wrong folder
    would answer "0 events" instead of saying that there is no store here.
    """
    dsn = settings.dsn.get_secret_value()
    db = database or database_from_dsn(dsn) or settings.database
    folder = chdb_path(dsn)
    where = str(Path(folder).resolve()) if folder else redact_dsn(dsn)
    missing = StoreNotFound(f"no jejak store at {where} (database {db})")
    if folder and not Path(folder).is_dir():
        raise missing
    store = connect(settings, database, create=False)
    rows = store.query(
        "SELECT count() AS n FROM system.tables WHERE database = {d:String} AND name = 'events'",
        {"d": store.database},
    )
    if not rows or not int(rows[0]["n"]):
        store.close()
        raise missing
    return store
