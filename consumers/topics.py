"""The Kafka topics jejak uses, created once with the partitions the settings ask for."""

from __future__ import annotations

import logging

from jejak.errors import BrokerError
from jejak.settings import KafkaSettings

log = logging.getLogger(__name__)


def topic_names(kafka: KafkaSettings) -> list[str]:
    return [kafka.topic, kafka.dead_letter_topic, kafka.alerts_topic]


def ensure_topics(
    kafka: KafkaSettings, names: list[str] | None = None, timeout: float = 30
) -> list[str]:
    """Create the events, dead-letter and alerts topics that are missing; returns those created.

    The events topic is keyed by pseudonymous subject id, so its partition
    count bounds the consumers' parallelism; raising it later moves subjects
    between partitions, so choose it once (``JEJAK_KAFKA__PARTITIONS``).
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(kafka.client_config())
    wanted = names or topic_names(kafka)
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BrokerError(f"cannot reach Kafka at {kafka.bootstrap_servers}: {exc}") from exc
    missing = [n for n in wanted if n not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                n, num_partitions=kafka.partitions, replication_factor=kafka.replication_factor
            )
            for n in missing
        ],
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"cannot create topic {name}: {exc}") from exc
    log.info("created topics %s", created)
    return created


def delete_topics(kafka: KafkaSettings, names: list[str], timeout: float = 30) -> None:
    """Delete topics (the demo starts from empty ones); missing topics are fine."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(kafka.client_config())
    existing = set(admin.list_topics(timeout=timeout).topics)
    doomed = [n for n in names if n in existing]
    if not doomed:
        return
    for name, future in admin.delete_topics(doomed, operation_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise BrokerError(f"cannot delete topic {name}: {exc}") from exc
