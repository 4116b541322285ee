"""The ``kafka`` transport: confluent-kafka's Producer, configured for durability.

Producer settings and why:

* ``enable.idempotence=true`` and ``acks=all``: librdkafka's retries never
  duplicate or reorder messages within a partition, and a message counts as
  delivered only once every in-sync replica has it;
* ``linger.ms`` and ``compression.type`` (from :class:`~jejak.settings.SdkSettings`):
  batching, so one request carries many events; the SDK never flushes per event;
* ``message.timeout.ms`` (30 s by default instead of librdkafka's 5 minutes):
  how long a message may wait for a broker before its delivery report says
  ``_MSG_TIMED_OUT`` and the sender spools it;
* ``delivery.report.only.error=true``: only failures call back into Python,
  so the happy path costs no callback per event; successes are counted as
  "handed over, not failed, no longer pending";
* ``reconnect.backoff.max.ms=1000``: a broker that comes back is noticed
  within about a second;
* librdkafka's log lines and client errors go through
  :class:`jejak.kafka_logging.KafkaLog`: Python logging instead of stderr,
  rate-limited, and one warning per outage when no broker can be reached
  (instead of a line per connection attempt, about 20 a second).

"Broker down" is detected from librdkafka's error callback: ``_ALL_BROKERS_DOWN``
(every known broker unreachable) switches the sender to the spool at once.
A single ``_TRANSPORT`` error is only logged: it also fires when one broker of
many goes away or an idle connection is closed, which needs no spool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from confluent_kafka import KafkaError, KafkaException, Producer
from pydantic import Field

from jejak.kafka_logging import KafkaLog
from jejak.producers.transports import (
    OutMessage,
    Transport,
    TransportConfig,
    TransportDown,
    TransportFull,
    TransportRejected,
)
from jejak.settings import KafkaSettings

log = logging.getLogger(__name__)

# Errors that will not go away by retrying the same bytes later: rejected, not spooled.
PERMANENT_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_RECORD,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_REQUIRED_ACKS,
        KafkaError._INVALID_ARG,
    }
)


class KafkaTransportConfig(TransportConfig):
    kind: Literal["kafka"] = "kafka"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topic: str | None = Field(None, description="defaults to kafka.topic")
    linger_ms: int = Field(20, ge=0)
    compression: str = "zstd"
    queue_buffering_max_messages: int = Field(100_000, ge=1)
    message_timeout_ms: int = Field(30_000, ge=1, description="delivery failure after this long")
    extra: dict[str, Any] = Field(default_factory=dict, description="more librdkafka properties")

    def producer_config(self) -> dict[str, Any]:
        """The librdkafka properties (callbacks are added by the transport)."""
        conf: dict[str, Any] = self.kafka.client_config()
        conf.update(
            {
                "enable.idempotence": True,
                "acks": "all",
                "compression.type": self.compression,
                "linger.ms": self.linger_ms,
                "queue.buffering.max.messages": self.queue_buffering_max_messages,
                "message.timeout.ms": self.message_timeout_ms,
                "delivery.report.only.error": True,
                "reconnect.backoff.max.ms": 1000,
                "log.connection.close": False,
            }
        )
        conf.update(self.extra)
        return conf


class KafkaTransport(Transport):
    """Produces encoded events to one topic, keyed by the pseudonymous subject id."""

    kind: ClassVar[str] = "kafka"
    background: ClassVar[bool] = True
    wants_spool: ClassVar[bool] = True

    def __init__(self, config: KafkaTransportConfig, *, client_id: str = "jejak-sdk") -> None:
        super().__init__()
        self.config = config
        self.topic = config.topic or config.kafka.topic
        self.kafka_log = KafkaLog(
            f"the SDK producer of {client_id}", config.kafka.bootstrap_servers
        )
        self._conf = {
            "client.id": client_id,
            **config.producer_config(),
            **self.kafka_log.client_config(),
            "error_cb": self._on_error,
        }
        self._sink = self._on_delivery
        self._producer = self._new_producer()
        self._produce = self._producer.produce

    def _new_producer(self) -> Any:
        try:
            return Producer(self._conf)
        except (KafkaException, ValueError, TypeError) as exc:
            from jejak.errors import ConfigError

            raise ConfigError(f"cannot create the Kafka producer: {exc}") from exc

    def send_many(self, messages: Sequence[OutMessage], start: int) -> int:
        """The hot loop: locals only, no per-message method call of ours."""
        produce, topic, sink = self._produce, self.topic, self._sink
        index = start
        try:
            for index in range(start, len(messages)):
                message = messages[index]
                message.sink = sink
                produce(
                    topic, message.value, message.key, headers=message.headers, on_delivery=message
                )
        except Exception:
            return index
        return len(messages)

    def send(self, message: OutMessage) -> None:
        message.sink = self._sink
        try:
            self._produce(
                self.topic, message.value, message.key, headers=message.headers, on_delivery=message
            )
        except BufferError as exc:
            raise TransportFull(str(exc)) from exc
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            reason = str(error if error is not None else exc)
            if isinstance(error, KafkaError) and error.code() in PERMANENT_ERRORS:
                # e.g. MSG_SIZE_TOO_LARGE, raised by produce() itself: spooling these
                # bytes would only block the spool behind a message that never goes
                raise TransportRejected(reason) from exc
            raise TransportDown(reason) from exc

    def _on_delivery(self, message: OutMessage, err: Any, msg: Any) -> None:
        """librdkafka's delivery report for one message; never raises into librdkafka."""
        if err is None:
            return
        try:
            listener = self.listener
            if listener is not None:
                code = err.code()
                listener.failed(message, err.name(), code not in PERMANENT_ERRORS)
        except Exception:
            log.exception("delivery report handling failed")

    def _on_error(self, err: Any) -> None:
        """librdkafka's error callback (client-wide errors); never raises into librdkafka.

        The log line is :class:`KafkaLog`'s (one warning per outage); the sender
        is told to spool on ``_ALL_BROKERS_DOWN`` and to rebuild on a fatal error.
        """
        self.kafka_log.error(err)
        try:
            listener = self.listener
            if listener is None:
                return
            if err.fatal():
                listener.fatal(err.str())
            elif err.code() == KafkaError._ALL_BROKERS_DOWN:
                listener.unavailable(err.str())
        except Exception:
            log.exception("error callback handling failed")

    def poll(self, timeout: float = 0.0) -> None:
        self._producer.poll(timeout)

    def pending(self) -> int:
        return len(self._producer)

    def purge(self) -> None:
        self._producer.purge(in_queue=True, in_flight=True, blocking=True)

    def probe(self, timeout: float) -> bool:
        """True when a broker answers a metadata request and the topic has leaders."""
        try:
            metadata = self._producer.list_topics(self.topic, timeout=timeout)
        except KafkaException:
            return False
        self.kafka_log.reachable()  # a broker answered: the next outage warns again
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return False
        return all(p.leader >= 0 for p in topic.partitions.values())

    def reset(self) -> None:
        """A new producer after a fatal error; the old one's messages come back as failed first."""
        old = self._producer
        old.purge(in_queue=True, in_flight=True, blocking=True)
        deadline = time.monotonic() + 5
        while len(old) and time.monotonic() < deadline:
            old.poll(0.01)
        self._producer = self._new_producer()
        self._produce = self._producer.produce

    def close(self) -> None:
        self._producer.poll(0)
        self._producer.flush(0)
        self.kafka_log.close()
