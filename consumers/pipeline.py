"""Assemble a lineage consumer from settings: store, codec, policy, sinks.

The one place where the pieces meet, so ``jejak consume``, the demo and the
integration tests build the same pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from jejak.consumers.worker import AlertSink, ConsumerConfig, LineageConsumer
from jejak.lineage.policy import Evaluator, PolicySet, load_policies, severity
from jejak.lineage.policy import summarize as summarize_verdict
from jejak.lineage.store import Store, connect
from jejak.lineage.store.schema import migrate
from jejak.schemas.codec import Codec, codec_from_settings
from jejak.settings import KafkaSettings, Settings

log = logging.getLogger(__name__)


def consumer_config(kafka: KafkaSettings, **overrides: Any) -> ConsumerConfig:
    return ConsumerConfig(
        topic=kafka.topic,
        group_id=kafka.group_id,
        dead_letter_topic=kafka.dead_letter_topic,
        alerts_topic=kafka.alerts_topic,
        client_config=kafka.client_config(),
        **overrides,
    )


def warm_evaluator(store: Store, policies: PolicySet) -> Evaluator:
    """An evaluator whose consent ledgers are rebuilt from the store.

    A restarted consumer must judge consent exactly as the one before it did,
    so every consent-relevant event already in the store (consents, policy
    acceptances, account closures) is replayed into the evaluator, in time order.
    """
    from jejak.lineage.store.queries import state_events

    evaluator = Evaluator(policies)
    n = 0
    for event in state_events(store):
        evaluator.evaluate(event)  # consent-relevant kinds only change state
        n += 1
    if n:
        log.info("rebuilt consent state from %d stored events", n)
    return evaluator


def build_consumer(
    settings: Settings,
    *,
    store: Store | None = None,
    codec: Codec | None = None,
    policies: PolicySet | None = None,
    sinks: Iterable[AlertSink] = (),
    **config: Any,
) -> LineageConsumer:
    """A ready consumer; ``store``/``codec``/``policies`` override what the settings say."""
    store = store or connect(settings.store)
    migrate(store)
    policies = policies or load_policies(settings.policy.path)
    return LineageConsumer(
        consumer_config(settings.kafka, **config),
        store=store,
        decoder=codec or codec_from_settings(settings.schemas),
        evaluator=warm_evaluator(store, policies),
        severity=severity,
        summary=summarize_verdict,
        sinks=sinks,
    )
