"""``jejak topics`` and ``jejak consume``: thin adapters over the consumer."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import click

from jejak.cli_options import json_objects
from jejak.settings import Settings

if TYPE_CHECKING:
    from jejak.consumers.worker import LineageConsumer
    from jejak.lineage.api import ApiServer
    from jejak.lineage.policy import PolicySet
    from jejak.lineage.store import Store
    from jejak.lineage.store.checkpoints import Checkpointer

log = logging.getLogger(__name__)


@click.command("topics")
def topics() -> None:
    """Create the events, dead-letter and alerts topics [JEJAK_KAFKA__*]."""
    from jejak.consumers.topics import ensure_topics, topic_names

    settings = Settings.from_env()
    created = ensure_topics(settings.kafka)
    for name in topic_names(settings.kafka):
        click.echo(f"{name}: {'created' if name in created else 'exists'}")


@click.command("consume")
@click.option("--max-messages", type=int, default=None, help="Stop after this many messages.")
@click.option(
    "--idle-timeout",
    type=float,
    default=None,
    help="Stop after this many seconds without a message (default: run until SIGTERM); "
    "exits 3 if messages are left behind, 2 if no partition was ever assigned.",
)
@click.option(
    "--sink",
    "sinks",
    multiple=True,
    callback=json_objects,
    help='Extra alert sink as JSON, e.g. \'{"kind": "webhook", "url": "https://..."}\' or \'{"kind": "log"}\'.',
)
@click.option(
    "--retention-every",
    type=float,
    default=3600.0,
    show_default=True,
    help="Run the retention monitor (section F) every this many seconds; 0 = never.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Most messages in one batch (one store write, one Kafka transaction).",
)
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Serve the workspace API and web page from this process [JEJAK_API__*].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Consumer processes sharing the group's partitions; this process holds the store "
    "and serves it to them [JEJAK_CONSUMER__WORKERS, default 1].",
)
def consume(
    max_messages: int | None,
    idle_timeout: float | None,
    sinks: list[dict[str, object]],
    retention_every: float,
    batch_size: int,
    serve: bool,
    workers: int | None,
) -> None:
    """Run the lineage consumer: Kafka -> policy verdicts -> ClickHouse, alerts, dead letters.

    Reads JEJAK_KAFKA__TOPIC as group JEJAK_KAFKA__GROUP_ID, writes to
    JEJAK_STORE__DSN, publishes alerts to JEJAK_KAFKA__ALERTS_TOPIC and
    undecodable messages to JEJAK_KAFKA__DEAD_LETTER_TOPIC. SIGTERM finishes the
    current batch, commits and exits. Every JEJAK_CONSUMER__PROGRESS_EVERY_S
    seconds a progress line (rate, lag, totals) goes to stderr; /metrics and
    /readyz are served with the workspace API (docs/operations.md).

    With --workers N (N > 1), N worker processes consume and this process
    holds the store, serves it to them and serves the API (without /metrics
    and /readyz); --max-messages counts all workers' messages.

    Exit status: 0 when stopped or caught up, 2 when the group never assigned
    a partition, 3 when --idle-timeout stopped it with messages left behind,
    1 when a worker died (the others go on with its partitions).
    """
    from jejak.consumers.pipeline import build_consumer
    from jejak.consumers.sinks import make_sink
    from jejak.consumers.topics import ensure_topics
    from jejak.lineage.policy import load_policies

    settings = Settings.from_env()
    ensure_topics(settings.kafka)
    extra = [make_sink(spec) for spec in sinks]
    interval = retention_every if retention_every > 0 else None
    policies = load_policies(settings.policy.path)
    count = workers if workers is not None else settings.consumer.workers
    if count > 1:
        totals = _consume_with_workers(
            settings,
            count,
            policies=policies,
            sinks=sinks,
            monitor_interval_s=interval,
            batch_size=batch_size,
            max_messages=max_messages,
            idle_timeout_s=idle_timeout,
            serve=serve,
        )
        _finish(totals)
        return
    with build_consumer(
        settings,
        policies=policies,
        sinks=extra,
        monitor_interval_s=interval,
        batch_size=batch_size,
    ) as consumer:
        consumer.install_signal_handlers()
        click.echo(
            f"consuming {settings.kafka.topic} as {settings.kafka.group_id} "
            f"into {consumer.store.redacted_dsn} ({consumer.store.database})",
            err=True,
        )
        server = (
            _serve(consumer.store, consumer.checkpointer, policies, settings, consumer)
            if serve
            else None
        )
        try:
            stats = consumer.run(
                max_messages=max_messages,
                idle_timeout_s=idle_timeout,
                on_progress=lambda p: click.echo(f"progress: {p.line()}", err=True),
            )
        finally:
            if server is not None:
                server.stop()
    _finish(stats.as_dict())


def _finish(stats: dict[str, Any]) -> None:
    """The totals as one JSON line, and the exit status their ``exit_reason`` says."""
    click.echo(json.dumps(stats))
    reason = stats["exit_reason"]
    code = EXIT_CODES.get(reason, 0)
    if code:
        why = {
            "unassigned": "the group never assigned a partition to this consumer",
            "lag": "stopped idle with messages left on its partitions",
            "worker_died": "a worker died (its partitions went to the others)",
        }[reason]
        click.echo(f"jejak consume: {why}", err=True)
        raise SystemExit(code)


EXIT_CODES = {"unassigned": 2, "lag": 3, "worker_died": 1}
"""``jejak consume``'s exit status by :attr:`ConsumerStats.exit_reason` (others: 0)."""


def _consume_with_workers(
    settings: Settings,
    count: int,
    *,
    policies: PolicySet,
    sinks: list[dict[str, object]],
    monitor_interval_s: float | None,
    batch_size: int,
    max_messages: int | None,
    idle_timeout_s: float | None,
    serve: bool,
) -> dict[str, Any]:
    """``count`` worker processes; this one holds the store (``jejak.consumers.workers``)."""
    from jejak.consumers.workers import Workers
    from jejak.lineage.store import connect, migrate
    from jejak.lineage.store.checkpoints import open_checkpointer
    from jejak.schemas.pseudonym import check_key

    check_key(settings.sdk)  # before any worker starts, as build_consumer would
    with connect(settings.store) as store:
        migrate(store)
        checkpointer = open_checkpointer(settings, store)  # the key exists before the workers
        pool = Workers(
            settings,
            count,
            store=store,
            checkpointer=checkpointer,
            policies=policies,
            sinks=sinks,
            monitor_interval_s=monitor_interval_s,
            batch_size=batch_size,
            max_messages=max_messages,
            idle_timeout_s=idle_timeout_s,
            progress=bool(settings.consumer.progress_every_s),
        )
        pool.install_signal_handlers()
        click.echo(
            f"consuming {settings.kafka.topic} as {settings.kafka.group_id} with {count} "
            f"workers into {store.redacted_dsn} ({store.database})",
            err=True,
        )
        server = _serve(store, checkpointer, policies, settings) if serve else None
        try:
            pool.start()
            result = pool.wait()
        finally:
            if server is not None:
                server.stop()
    return {
        **result.totals,
        "exit_reason": result.exit_reason,
        "workers": result.workers,
        "died": [{"worker": n, "status": code} for n, code in result.died],
    }


def _serve(
    store: Store,
    checkpointer: Checkpointer | None,
    policies: PolicySet,
    settings: Settings,
    consumer: LineageConsumer | None = None,
) -> ApiServer | None:
    """The workspace API in this process: with chDB, the only one that can open the store.

    ``/metrics`` and ``/readyz`` come with a ``consumer`` in this process. The
    request monitor (overdue data-subject requests) is the consumer's own
    (``build_consumer``), served or not.
    """
    from jejak.lineage.api import ApiServer
    from jejak.lineage.workspace.operations import Workspace

    workspace = Workspace(store, policies, checkpointer=checkpointer)
    from jejak.consumers.ops import routes

    ops = routes(consumer, max_lag=settings.consumer.ready_max_lag) if consumer else []
    try:
        server = ApiServer(
            workspace, settings.api.host, settings.api.port, settings.api, routes=ops
        )
        server.start()
    except OSError as exc:  # the consumer matters more than its API: go on without it
        log.warning(
            "workspace API not started on %s:%s: %s", settings.api.host, settings.api.port, exc
        )
        return None
    click.echo(f"workspace API and web page on {server.url}/", err=True)
    return server
