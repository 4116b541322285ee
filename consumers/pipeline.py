"""Assemble a lineage consumer from settings: store, codec, policy, sinks.

The one place where the pieces meet, so ``jejak consume``, the demo and the
integration tests build the same pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from jejak.consumers.worker import AlertSink, ConsumerConfig, LineageConsumer
from jejak.lineage.policy import Evaluator, PolicySet, Verdict, highest_severity, load_policies
from jejak.lineage.policy.explain import describe
from jejak.lineage.store import Store, connect, migrate
from jejak.lineage.store.checkpoints import Checkpointer, open_checkpointer
from jejak.schemas.codec import Codec
from jejak.schemas.models import Event, TimeWindow
from jejak.schemas.pseudonym import check_key
from jejak.settings import ConsumerSettings, KafkaSettings, Settings

log = logging.getLogger(__name__)


def consumer_config(
    kafka: KafkaSettings, consumer: ConsumerSettings | None = None, **overrides: Any
) -> ConsumerConfig:
    consumer = consumer or ConsumerSettings()
    values: dict[str, Any] = {
        "group_instance_id": kafka.group_instance_id,
        "session_timeout_ms": kafka.session_timeout_ms,
        "progress_every_s": consumer.progress_every_s or None,
        "derive_every_events": consumer.derive_every_events,
        "derive_every_s": consumer.derive_every_s,
        "fault": consumer.fault,
        **overrides,
    }
    return ConsumerConfig(
        topic=kafka.topic,
        group_id=kafka.group_id,
        dead_letter_topic=kafka.dead_letter_topic,
        alerts_topic=kafka.alerts_topic,
        client_config=kafka.client_config(),
        **values,
    )


def alert_summary(event: Event, verdict: Verdict) -> str:
    """One line for an alert: what happened, and each broken rule with its clause."""
    broken = "; ".join(
        f"{f.reason} ({f.clause})" if f.clause else f.reason for f in verdict.findings
    ) or ", ".join(verdict.reasons)
    return f"{describe(event)}: {broken}"


def build_consumer(
    settings: Settings,
    *,
    store: Store | None = None,
    codec: Codec | None = None,
    policies: PolicySet | None = None,
    sinks: Iterable[AlertSink] = (),
    **config: Any,
) -> LineageConsumer:
    """A ready consumer; ``store``/``codec``/``policies`` override what the settings say.

    Refuses to start under the public development pseudonymisation key unless
    the settings allow it (demos and tests do).

    Consent state is not loaded here: the consumer reads a subject's consent
    ledger when a batch first brings them, and drops it when their partition goes.
    """
    check_key(settings.sdk)
    store = store or connect(settings.store)
    migrate(store)
    policies = policies or load_policies(settings.policy.path)
    checkpointer = open_checkpointer(settings, store)
    consumer = LineageConsumer(
        consumer_config(settings.kafka, settings.consumer, **config),
        store=store,
        decoder=codec or Codec.from_settings(settings.schemas),
        evaluator=Evaluator(policies),
        severity=lambda reasons: highest_severity(tuple(reasons)),
        summary=alert_summary,
        sinks=sinks,
        checkpointer=checkpointer,
    )
    consumer.window = TimeWindow.from_settings(settings.events)
    consumer.monitor = lambda: run_monitors(
        store, policies, checkpointer, consumer.caught_up(), requests=True
    )
    return consumer


def run_monitors(
    store: Store,
    policies: PolicySet,
    checkpointer: Checkpointer,
    partitions: dict[str, list[int]],
    *,
    requests: bool,
) -> list[Any]:
    """One run of the monitors; their alerts are journalled here, then published by the caller.

    Retention judges only ``partitions`` (those the consumer has caught up
    with); overdue data-subject requests are looked for when ``requests``.
    Both write the journal, which has one writer per store: ``jejak consume
    --workers`` runs this in the process that holds the store.
    """
    from jejak.lineage.store import retention
    from jejak.lineage.workspace.requests import raise_overdue

    found: list[Any] = retention.monitor(store, policies, checkpointer, partitions=partitions)
    if requests:
        found += raise_overdue(store, policies, datetime.now(UTC), checkpointer)
    return found
