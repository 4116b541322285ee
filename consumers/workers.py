"""``jejak consume --workers N``: N consumer processes, one process holding the embedded store.

Embedded chDB opens a data folder in one process only, and one consumer
process uses one core. So the process ``jejak consume`` starts (the *holder*)
opens the store, and starts N *workers* (``multiprocessing``, spawned: none of
them has chDB loaded). Each worker is an ordinary
:class:`~jejak.consumers.worker.LineageConsumer`, a member of the consumer
group that owns the partitions the group gives it: it decodes, judges, chains
and encodes, and keeps the order of a batch (write, then publish and commit in
its own Kafka transaction). Only its store is different: a
:class:`~jejak.lineage.store.client.Store` whose ClickHouse client
(:class:`RemoteClient`) sends each call over a pipe to the holder, which runs
it on the real client, one call at a time (:meth:`Store.exclusive`, the lock
the holder's own API threads take too).

What crosses the pipe is small or already encoded: an insert arrives as the
ClickHouse Native block the worker built (:func:`native_block`, the same
encoding clickhouse-connect makes for an insert), so the holder spends no
Python time on the rows; a query's answer goes back as whole columns.

Exactly once and the hash chains are those of N consumers in one group: a
partition has one owner at a time, its chain head is read from the store when
it is assigned, and a batch written but not committed is skipped (and its
alerts published from the store) by whoever reads it again.

The journal (monitor alerts, the API's triage and requests) has one writer
per store: the monitors run in the holder (:func:`~jejak.consumers.pipeline.run_monitors`,
one run at a time) when a worker asks, with the partitions that worker has
caught up with; the worker publishes what they raised. Only worker 1 asks for
the overdue-request monitor. The workspace API, when served, is the holder's.

Lifecycle: SIGTERM or SIGINT to the holder is passed to every worker, which
finishes its batch, commits and leaves. A worker that dies (killed, or an
error) is reported and the others go on (the group gives its partitions to
them after the session timeout); the holder then exits with status 1 when the
rest are done. A worker whose holder is gone stops at once, committing
nothing (what it had written is read again by the next owner).
``JEJAK_CONSUMER__FAULT`` applies to the last worker only, so a test can kill
one worker mid-stream. ``JEJAK_KAFKA__GROUP_INSTANCE_ID`` gets the worker's
number appended: two members must never share it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import tzinfo
from types import FrameType
from typing import TYPE_CHECKING, Any

from jejak.errors import JejakError, StoreError
from jejak.lineage.store.client import Store
from jejak.settings import Settings

if TYPE_CHECKING:
    from jejak.lineage.policy import PolicySet
    from jejak.lineage.store.checkpoints import Checkpointer

log = logging.getLogger(__name__)

_Conn = Any
"""A ``multiprocessing.connection.Connection`` (its type is not importable as such)."""


class WorkerError(JejakError):
    """A call a worker made to the process that holds the store failed there."""


class HolderGone(StoreError):
    """The process holding the store is not there any more."""


# -- the worker side: a ClickHouse client that is the holder's -----------------------------------


class Holder:
    """The worker's end of its pipe: one call at a time, each answered before the next."""

    def __init__(self, conn: _Conn) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def call(self, op: str, *args: Any) -> Any:
        with self._lock:
            try:
                self._conn.send((op, args))
                ok, value = self._conn.recv()
            except (EOFError, OSError):
                raise HolderGone("the jejak consume process holding the store is gone") from None
        if not ok:
            raise WorkerError(value)
        return value


@dataclass(frozen=True)
class _Answer:
    """What :class:`~jejak.lineage.store.client.Store` reads of a clickhouse-connect result."""

    column_names: tuple[str, ...]
    result_columns: list[list[Any]]
    row_count: int

    @property
    def result_rows(self) -> list[tuple[Any, ...]]:
        return list(zip(*self.result_columns, strict=True)) if self.row_count else []


def native_block(
    table: str,
    names: Sequence[str],
    types: Sequence[Any],
    columns: Sequence[Sequence[Any]],
    server_tz: tzinfo,
) -> bytes:
    """Columns as the ClickHouse Native block clickhouse-connect would send for an insert.

    Built with clickhouse-connect's own transform, without its statement line
    (``INSERT ... FORMAT Native``), so that it can go to ``raw_insert``; a
    test pins it to the plain insert.
    """
    from clickhouse_connect.driver.insert import InsertContext
    from clickhouse_connect.driver.transform import NativeTransform

    context = InsertContext(
        table, names, types, data=columns, column_oriented=True, server_tz=server_tz
    )
    chunks = list(NativeTransform.build_insert(context))
    if context.insert_exception is not None:
        raise context.insert_exception
    if not chunks:
        return b""
    statement_end = chunks[0].index(b"\n") + 1  # the first chunk starts with the statement
    chunks[0] = chunks[0][statement_end:]
    return b"".join(chunks)


class RemoteClient:
    """The methods of a clickhouse-connect client that :class:`Store` calls, run by the holder.

    Parameters are bound there; an insert is encoded here (:func:`native_block`).
    """

    def __init__(self, holder: Holder, server_tz: tzinfo) -> None:
        self._holder = holder
        self.server_tz = server_tz

    def command(
        self,
        cmd: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Any:
        return self._holder.call("command", cmd, parameters, settings)

    def query(self, query: str, parameters: dict[str, Any] | None = None) -> _Answer:
        names, columns, rows = self._holder.call("query", query, parameters)
        return _Answer(names, columns, rows)

    @contextmanager
    def query_column_block_stream(
        self, query: str, parameters: dict[str, Any] | None = None
    ) -> Iterator[Iterator[list[list[Any]]]]:
        """The blocks of the answer; the holder reads them all before it answers (``verify``)."""
        blocks: list[list[list[Any]]] = self._holder.call("stream", query, parameters)
        yield iter(blocks)

    def insert(
        self,
        table: str,
        data: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        column_types: Sequence[Any] | None = None,
        column_type_names: Sequence[str] | None = None,
        column_oriented: bool = False,
        settings: dict[str, Any] | None = None,
    ) -> None:
        if column_types is None:
            if column_type_names is None:
                raise WorkerError(f"an insert into {table} without column types")
            from clickhouse_connect.datatypes.registry import get_from_name

            column_types = [get_from_name(name) for name in column_type_names]
        columns = data if column_oriented else list(zip(*data, strict=True))
        body = native_block(table, column_names, column_types, columns, self.server_tz)
        if body:
            self._holder.call("insert", table, list(column_names), body, settings)

    def close(self) -> None:
        """Nothing to close here: the holder's client is the holder's."""


def remote_store(
    holder: Holder, database: str, dsn: str, cluster: str | None, server_tz: tzinfo
) -> Store:
    """A worker's store: the holder's, called over ``holder``'s pipe."""
    return Store(RemoteClient(holder, server_tz), database, dsn, cluster)


# -- the holder side -----------------------------------------------------------------------------


@dataclass
class WorkerSpec:
    """What a worker process is started with (pickled: spawned, it imports afresh)."""

    number: int
    settings: Settings
    database: str
    cluster: str | None
    server_tz: tzinfo
    sinks: list[dict[str, object]]
    monitor_interval_s: float | None
    batch_size: int
    idle_timeout_s: float | None
    log_level: int
    progress: bool


@dataclass
class WorkersResult:
    """How a run of the workers ended: their totals, and who died."""

    totals: dict[str, Any]
    workers: list[dict[str, Any]]
    exit_reason: str
    died: list[tuple[int, int | None]] = field(default_factory=list)
    """(worker number, exit status) of each worker that did not end normally."""


def combine(stats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The totals of several workers' :meth:`ConsumerStats.as_dict`, and one exit reason.

    A worker the group gave nothing (more workers than partitions) says
    ``unassigned``; the run is unassigned only if every worker is. Messages
    left behind by any worker make the run ``lag``.
    """
    totals: dict[str, Any] = {}
    for s in stats:
        for key, value in s.items():
            if isinstance(value, dict):
                merged = totals.setdefault(key, {})
                for k, n in value.items():
                    merged[k] = merged.get(k, 0) + n
            elif isinstance(value, int | float) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    reasons = [s.get("exit_reason", "") for s in stats]
    assigned = [r for r in reasons if r != "unassigned"]
    if not reasons:
        totals["exit_reason"] = "stopped"
    elif not assigned:
        totals["exit_reason"] = "unassigned"
    elif "lag" in assigned:
        totals["exit_reason"] = "lag"
    else:
        totals["exit_reason"] = next(
            (r for r in ("stopped", "max_messages", "idle") if r in assigned), assigned[0]
        )
    return totals


class Workers:
    """The holder: starts the workers, serves them the store, waits for them.

    ``store``, ``checkpointer`` and ``policies`` are the holder's own (opened,
    migrated, loaded); the workers open theirs over the pipe.
    """

    def __init__(
        self,
        settings: Settings,
        count: int,
        *,
        store: Store,
        checkpointer: Checkpointer,
        policies: PolicySet,
        sinks: Sequence[dict[str, object]] = (),
        monitor_interval_s: float | None = None,
        batch_size: int = 5000,
        max_messages: int | None = None,
        idle_timeout_s: float | None = None,
        progress: bool = True,
    ) -> None:
        self.settings = settings
        self.count = count
        self.store = store
        self.checkpointer = checkpointer
        self.policies = policies
        self.sinks = list(sinks)
        self.monitor_interval_s = monitor_interval_s
        self.batch_size = batch_size
        self.max_messages = max_messages
        self.idle_timeout_s = idle_timeout_s
        self.progress = progress
        self.stats: dict[int, dict[str, Any]] = {}
        """Each worker's latest :meth:`ConsumerStats.as_dict` (after each batch, and its last)."""
        self.pids: dict[int, int] = {}
        self._processes: dict[int, Any] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._why_stopped = ""
        self._monitor_lock = threading.Lock()

    # -- start, stop, wait ----------------------------------------------------------------------
    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        with self.store.exclusive() as client:
            server_tz = client.server_tz
        for number in range(1, self.count + 1):
            mine, theirs = context.Pipe()
            spec = WorkerSpec(
                number=number,
                settings=self.settings_of(number),
                database=self.store.database,
                cluster=self.store.cluster,
                server_tz=server_tz,
                sinks=self.sinks,
                monitor_interval_s=self.monitor_interval_s,
                batch_size=self.batch_size,
                idle_timeout_s=self.idle_timeout_s,
                log_level=logging.getLogger().getEffectiveLevel(),
                progress=self.progress,
            )
            process = context.Process(
                target=_worker_main, args=(spec, theirs), name=f"worker-{number}", daemon=True
            )
            process.start()
            theirs.close()  # the worker's end lives in the worker: its death is our EOF
            self._processes[number] = process
            self.pids[number] = int(process.pid or 0)
            log.info("worker %d started (pid %d)", number, process.pid)
            thread = threading.Thread(
                target=self.serve, args=(number, mine), name=f"jejak-holder-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def settings_of(self, number: int) -> Settings:
        kafka, consumer = self.settings.kafka, self.settings.consumer
        if kafka.group_instance_id:
            kafka = kafka.model_copy(
                update={"group_instance_id": f"{kafka.group_instance_id}-{number}"}
            )
        if consumer.fault and number != self.count:
            consumer = consumer.model_copy(update={"fault": None})
        return self.settings.model_copy(update={"kafka": kafka, "consumer": consumer})

    def stop(self, why: str = "stopped") -> None:
        """Ask every worker to finish its batch, commit and leave (SIGTERM)."""
        if not self._why_stopped:
            self._why_stopped = why
        self._stopping.set()
        for process in self._processes.values():
            if process.is_alive() and process.pid:
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the workers (each finishes its batch and commits)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping the workers", signum)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def wait(self) -> WorkersResult:
        """Until every worker has ended; a worker that dies leaves its partitions to the rest."""
        from multiprocessing.connection import wait

        alive = dict(self._processes)
        died: list[tuple[int, int | None]] = []
        while alive:
            wait([p.sentinel for p in alive.values()], timeout=1.0)
            for number, process in list(alive.items()):
                if process.is_alive():
                    continue
                process.join()
                del alive[number]
                if process.exitcode != 0:
                    died.append((number, process.exitcode))
                    log.error(
                        "worker %d ended with status %s; %s",
                        number,
                        process.exitcode,
                        "the group gives its partitions to the other workers"
                        if alive
                        else "no worker is left",
                    )
        for thread in self._threads:
            thread.join(5)
        workers = [self.stats.get(n, {}) for n in sorted(self._processes)]
        totals = combine([w for w in workers if w])
        if died:
            reason = "worker_died"
        elif self._why_stopped == "max_messages":  # the workers themselves say "stopped"
            reason = "max_messages"
        else:
            reason = totals["exit_reason"]
        return WorkersResult(totals, workers, reason, died)

    # -- serving the workers -----------------------------------------------------------------------
    def serve(self, number: int, conn: _Conn) -> None:
        """Answer one worker's calls until it goes (its end of the pipe closes)."""
        handlers: dict[str, Callable[..., Any]] = {
            "command": self._command,
            "query": self._query,
            "stream": self._stream,
            "insert": self._insert,
            "monitor": self._monitor,
            "batch": lambda stats: self._batch(number, stats),
            "done": lambda stats: self.stats.__setitem__(number, stats),
        }
        while True:
            try:
                op, args = conn.recv()
            except (EOFError, OSError):
                return
            try:
                reply: tuple[bool, Any] = (True, handlers[op](*args))
            except Exception as exc:  # the worker raises it, as the store itself would have
                reply = (False, str(exc))
            try:
                conn.send(reply)
            except (EOFError, OSError):
                return
            except Exception as exc:  # an answer that does not pickle
                conn.send((False, f"the answer to {op} could not be sent: {type(exc).__name__}"))

    def _command(self, sql: str, parameters: Any, settings: Any) -> Any:
        with self.store.exclusive() as client:
            return client.command(sql, parameters=parameters, settings=settings)

    def _query(self, sql: str, parameters: Any) -> tuple[tuple[str, ...], list[Any], int]:
        with self.store.exclusive() as client:
            result = client.query(sql, parameters=parameters)
            rows = int(result.row_count)
            columns = [list(c) for c in result.result_columns] if rows else []
            return tuple(result.column_names), columns, rows

    def _stream(self, sql: str, parameters: Any) -> list[list[list[Any]]]:
        with (
            self.store.exclusive() as client,
            client.query_column_block_stream(sql, parameters=parameters) as stream,
        ):
            return [[list(column) for column in block] for block in stream]

    def _insert(self, table: str, names: list[str], body: bytes, settings: Any) -> None:
        with self.store.exclusive() as client:
            client.raw_insert(table, names, insert_block=body, settings=settings, fmt="Native")

    def _monitor(self, partitions: dict[str, list[int]], requests: bool) -> list[Any]:
        from jejak.consumers.pipeline import run_monitors

        with self._monitor_lock:  # one run at a time: each alert is raised once
            return run_monitors(
                self.store, self.policies, self.checkpointer, partitions, requests=requests
            )

    def _batch(self, number: int, stats: dict[str, Any]) -> bool:
        self.stats[number] = stats
        if self.max_messages is not None and not self._stopping.is_set():
            if sum(s.get("messages", 0) for s in self.stats.values()) >= self.max_messages:
                self.stop("max_messages")
        return self._stopping.is_set()


# -- the worker process ---------------------------------------------------------------------------


def _exit_with_holder() -> None:
    """Stop at once when the holder is gone: nothing can be written, so nothing is committed."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        from multiprocessing.connection import wait

        wait([parent.sentinel])
        log.error("the process holding the store is gone: stopping without committing")
        os._exit(1)

    threading.Thread(target=watch, name="jejak-holder-watch", daemon=True).start()


def _worker_main(spec: WorkerSpec, conn: _Conn) -> None:
    """A worker process: a lineage consumer whose store is the holder's."""
    logging.basicConfig(
        level=spec.log_level,
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
    )
    _exit_with_holder()
    # a stop asked for while the consumer is being built is kept, not fatal
    early = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: early.set())
    from jejak.consumers.pipeline import build_consumer
    from jejak.consumers.sinks import make_sink
    from jejak.lineage.policy import load_policies

    settings = spec.settings
    holder = Holder(conn)
    store = remote_store(
        holder, spec.database, settings.store.dsn.get_secret_value(), spec.cluster, spec.server_tz
    )
    consumer = build_consumer(
        settings,
        store=store,
        policies=load_policies(settings.policy.path),
        sinks=[make_sink(s) for s in spec.sinks],
        monitor_interval_s=spec.monitor_interval_s,
        batch_size=spec.batch_size,
    )
    requests = spec.number == 1  # one worker looks for overdue requests
    consumer.monitor = lambda: holder.call("monitor", consumer.caught_up(), requests)
    consumer.install_signal_handlers()
    if early.is_set():
        consumer.stop()

    def on_batch(stats: Any) -> None:
        if holder.call("batch", stats.as_dict()):
            consumer.stop()

    def on_progress(p: Any) -> None:
        sys.stderr.write(f"worker {spec.number}: progress: {p.line()}\n")
        sys.stderr.flush()

    started = time.monotonic()
    with consumer:
        stats = consumer.run(
            idle_timeout_s=spec.idle_timeout_s,
            on_batch=on_batch,
            on_progress=on_progress if spec.progress else None,
        )
    log.info("worker %d done after %.1fs", spec.number, time.monotonic() - started)
    holder.call("done", stats.as_dict())
