"""The lineage consumer: Kafka -> decode -> evaluate -> ClickHouse, alerts, dead letters.

One batch at a time, in partition order:

1. decode every message; what cannot be decoded or validated is *data*
   (:class:`Undecodable`), not an exception, and goes to the dead-letter topic
   with the raw bytes, the original headers and headers that say why and where
   from;
2. judge every decoded event against the policy in force at its ``occurred_at``
   (the evaluator keeps each subject's consent ledger; all of one subject's
   events share a partition, so they arrive in order);
3. give each event the next place in its partition's hash chain and write the
   batch to the store (one column-oriented insert into the event log; the
   derived tables follow inside ClickHouse), publish the batch's alerts and
   dead letters, and wait until both are durable;
4. only then commit the offsets; sign a checkpoint of each partition's log
   when one is due (and whenever the consumer stops or loses a partition).

A crash between 3 and 4 makes Kafka deliver the batch again: messages at or
below the offset the store already holds for their partition are not written
again (their alerts are published again from the store), and an event id the
log already holds (a producer's re-send) is skipped, so nothing accepted is
lost and nothing is stored twice. A failed store write is retried (with
backoff) with the same rows; the batch is never re-evaluated, so consent state
is applied once.

State follows the partitions: when partitions are assigned, their chain heads
and their subjects' consent ledgers are read from the store; when they are
revoked, their heads are signed and dropped, with their subjects' states.

A subject id that is not in pseudonym form never reaches the store: the
message is dead-lettered as ``not_pseudonymous`` without its key and value
(which carry the raw id), naming only where it came from.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from jejak.errors import (
    BrokerError,
    JejakError,
    StoreError,
    UndecodableEvent,
)
from jejak.lineage.store.chain import LogHead, load_heads
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.client import Store
from jejak.lineage.store.queries import alerts_of_events, consent_ledger, stored_event_ids
from jejak.lineage.store.writer import AlertRow, Batch, Origin, VerdictLike, write_batch
from jejak.schemas.codec import RegistryUnavailable
from jejak.schemas.models import Disclosure, Event, Use
from jejak.schemas.pseudonym import is_pseudonym

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]


class Decoder(Protocol):
    def decode(self, payload: bytes) -> Event: ...


class EvaluatorLike(Protocol):
    def evaluate(self, event: Event) -> VerdictLike: ...
    def load_ledger(self, subject_id: str, scope: str, action: str, at: Any) -> None: ...
    def forget(self, subject_id: str) -> None: ...


class AlertSink(Protocol):
    """Where alerts go besides the store and the alerts topic (webhook, log ...)."""

    def send(self, alerts: Sequence[AlertRow]) -> None: ...


@dataclass(frozen=True, slots=True)
class Decoded:
    event: Event
    origin: Origin


@dataclass(frozen=True, slots=True)
class Undecodable:
    reason: str
    detail: str
    origin: Origin
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass
class ConsumerStats:
    """What a run did; the demo and the tests read it."""

    messages: int = 0
    events: int = 0
    dead_letters: int = 0
    alerts: int = 0
    batches: int = 0
    store_retries: int = 0
    replayed: int = 0
    duplicates: int = 0
    checkpoints: int = 0
    decisions: dict[str, int] = field(default_factory=dict)

    @property
    def violations(self) -> int:
        return self.decisions.get("violation", 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "events": self.events,
            "dead_letters": self.dead_letters,
            "violations": self.violations,
            "alerts": self.alerts,
            "batches": self.batches,
            "store_retries": self.store_retries,
            "replayed": self.replayed,
            "duplicates": self.duplicates,
            "checkpoints": self.checkpoints,
            "decisions": dict(self.decisions),
        }


NOT_PSEUDONYMOUS = "not_pseudonymous"


def decode_message(
    decoder: Decoder, msg: Any, *, retry_for_s: float = 300.0
) -> Decoded | Undecodable:
    """A Kafka message as a decoded event, or as an undecodable one with why.

    An unreachable schema registry says nothing about the message: decoding is
    retried with backoff, and if the registry stays away the error propagates
    (the batch is not committed and will be read again) rather than sending a
    good event to the dead letters.
    """
    origin = Origin(msg.topic(), msg.partition(), msg.offset())
    value: bytes | None = msg.value()
    headers: Headers = list(msg.headers() or [])
    if not value:
        return Undecodable("empty", "the message has no value", origin, msg.key(), value, headers)
    delay, deadline = 0.5, time.monotonic() + retry_for_s
    while True:
        try:
            event = decoder.decode(value)
            if not is_pseudonym(event.subject_id):
                # the key and the value carry the raw id: neither is kept anywhere
                return Undecodable(
                    NOT_PSEUDONYMOUS,
                    "subject_id is not in pseudonym form (ps1_...); the SDK pseudonymises "
                    "raw ids: the message is withheld, see its origin",
                    origin,
                    None,
                    None,
                    headers,
                )
            return Decoded(event, origin)
        except RegistryUnavailable:
            if time.monotonic() > deadline:
                raise
            log.warning("schema registry unavailable; retrying in %.1fs", delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
        except UndecodableEvent as exc:
            if getattr(exc, "withhold", False):  # personal data in the value: keep neither
                return Undecodable(exc.reason, exc.detail, origin, None, None, headers)
            return Undecodable(exc.reason, exc.detail, origin, msg.key(), value, headers)
        except JejakError as exc:  # e.g. InvalidEvent from model validation
            return Undecodable(type(exc).__name__, str(exc), origin, msg.key(), value, headers)


def make_alert(
    event: Event,
    verdict: VerdictLike,
    severity: Callable[[Sequence[str]], str | None],
    summary: Callable[[Event, Any], str],
) -> AlertRow:
    """The alert a violation raises; its most urgent reason decides the severity."""
    reason = verdict.reasons[0]
    categories: tuple[str, ...] = tuple(getattr(event, "data_categories", ()))
    purpose = event.purpose if isinstance(event, Use | Disclosure) else ""
    recipient_id = event.recipient.id if isinstance(event, Disclosure) else ""
    recipient_kind = event.recipient.kind if isinstance(event, Disclosure) else ""
    return AlertRow(
        alert_id=f"{event.event_id}:{reason}",
        event_id=event.event_id,
        subject_id=event.subject_id,
        kind=event.kind,
        occurred_at=event.occurred_at,
        severity=severity(verdict.reasons) or "high",
        reason=reason,
        reasons=tuple(verdict.reasons),
        categories=categories,
        purpose=purpose,
        recipient_id=recipient_id,
        recipient_kind=recipient_kind,
        policy_version=verdict.policy_version or "",
        summary=summary(event, verdict),
    )


@dataclass(frozen=True)
class ConsumerConfig:
    topic: str
    group_id: str
    dead_letter_topic: str
    alerts_topic: str
    client_config: dict[str, Any]
    # chDB pays ~15 ms per insert whatever its size, six inserts a batch: big batches
    batch_size: int = 5000
    batch_timeout_s: float = 0.5
    store_retry_limit_s: float = 300.0
    assignment_timeout_s: float = 60.0
    # how often the monitor (retention, section F) runs; None = never
    monitor_interval_s: float | None = None


class LineageConsumer:
    """Consumes the events topic into the lineage store; see the module docstring."""

    def __init__(
        self,
        config: ConsumerConfig,
        store: Store,
        decoder: Decoder,
        evaluator: EvaluatorLike,
        severity: Callable[[Sequence[str]], str | None],
        summary: Callable[[Event, Any], str],
        sinks: Iterable[AlertSink] = (),
        monitor: Callable[[], Sequence[AlertRow]] | None = None,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self.config = config
        self.monitor = monitor
        self._monitored_at: float | None = None
        self.store = store
        self.decoder = decoder
        self.evaluator = evaluator
        self.severity = severity
        self.summary = summary
        self.sinks = list(sinks)
        self.checkpointer = checkpointer
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._consumer: Any = None
        self._producer: Any = None
        self._delivery_errors: list[str] = []
        self._assigned_at: float | None = None
        self.heads: dict[tuple[str, int], LogHead] = {}
        self._subjects: dict[tuple[str, int], set[str]] = {}

    # -- partitions come and go: state follows them ------------------------------------------
    def assign(self, topic: str, partitions: Sequence[int]) -> None:
        """Read the chain heads and the consent ledgers of newly assigned partitions."""
        fresh = [p for p in partitions if (topic, p) not in self.heads]
        if not fresh:
            return
        for p, head in load_heads(self.store, topic, fresh).items():
            self.heads[(topic, p)] = head
            self._subjects[(topic, p)] = set()
        loaded = 0
        for p, subject, scope, action, at in consent_ledger(self.store, topic, fresh):
            self.evaluator.load_ledger(subject, scope, action, at)
            self._subjects[(topic, p)].add(subject)  # whose state to drop on revoke
            loaded += 1
        log.info(
            "assigned %s partition(s) %s: %d consent-ledger entries loaded",
            topic,
            fresh,
            loaded,
        )

    def revoke(self, topic: str, partitions: Sequence[int]) -> None:
        """Sign the heads of partitions going away, and drop their state."""
        gone = [(topic, p) for p in partitions if (topic, p) in self.heads]
        if self.checkpointer is not None and gone:
            self.stats.checkpoints += self.checkpointer.sign([self.heads[k] for k in gone])
        for key in gone:
            del self.heads[key]
            for subject in self._subjects.pop(key, set()):
                self.evaluator.forget(subject)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        # the idle clock starts once the group has given us partitions: joining a
        # group on a freshly started broker can take longer than any idle timeout
        if self._assigned_at is None:
            self._assigned_at = time.monotonic()
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        for topic, ps in by_topic.items():
            self.assign(topic, ps)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        for topic, ps in by_topic.items():
            self.revoke(topic, ps)

    def _head(self, origin: Origin) -> LogHead:
        key = (origin.topic, origin.partition)
        head = self.heads.get(key)
        if head is None:  # a message of a partition not announced (manual assignment, tests)
            self.assign(origin.topic, [origin.partition])
            head = self.heads[key]
        return head

    # -- lifecycle -------------------------------------------------------------------------
    def _open(self) -> None:
        from confluent_kafka import Consumer, Producer

        if self._consumer is None:
            self._consumer = Consumer(
                {
                    **self.config.client_config,
                    "group.id": self.config.group_id,
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                    "partition.assignment.strategy": "cooperative-sticky",
                    "max.poll.interval.ms": 600_000,
                }
            )
            self._consumer.subscribe(
                [self.config.topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )
        if self._producer is None:
            self._producer = Producer(
                {
                    **self.config.client_config,
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "compression.type": "zstd",
                }
            )

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and return."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT finish the current batch, flush, commit, then exit the loop."""

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: finishing the current batch", signum)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def sign_checkpoints(self) -> int:
        """Sign every log head with unsigned rows now (the consumer does so when it stops)."""
        if self.checkpointer is None:
            return 0
        n = self.checkpointer.sign(self.heads.values())
        self.stats.checkpoints += n
        return n

    def close(self) -> None:
        try:
            self.sign_checkpoints()
        except JejakError:
            log.exception("signing the final checkpoints failed; the next start signs them")
        if self._producer is not None:
            self._producer.flush(30)
            self._producer = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def __enter__(self) -> LineageConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the loop -------------------------------------------------------------------------------
    def run(
        self,
        *,
        max_messages: int | None = None,
        idle_timeout_s: float | None = None,
        on_batch: Callable[[ConsumerStats], None] | None = None,
    ) -> ConsumerStats:
        """Consume until stopped, ``max_messages`` read, or no message for ``idle_timeout_s``.

        The idle clock runs from the later of the last message and the group
        assignment; a consumer that gets no assignment at all gives up after
        ``assignment_timeout_s`` (only when an idle timeout is set).
        """
        self._open()
        started = last_message = time.monotonic()
        while not self._stop.is_set():
            msgs = self._consumer.consume(
                num_messages=self.config.batch_size, timeout=self.config.batch_timeout_s
            )
            real = [m for m in msgs if not m.error()]
            for m in msgs:
                if m.error():
                    log.warning("consumer: %s", m.error())
            if real:
                last_message = time.monotonic()
                self.process(real)
                if on_batch is not None:
                    on_batch(self.stats)
            elif idle_timeout_s is not None:
                now = time.monotonic()
                if self._assigned_at is not None:
                    if now - max(last_message, self._assigned_at) > idle_timeout_s:
                        break
                elif now - started > self.config.assignment_timeout_s:
                    log.warning("no partitions assigned within %.0fs", now - started)
                    break
            self._maybe_checkpoint()
            self._maybe_monitor()
            if max_messages is not None and self.stats.messages >= max_messages:
                break
        if self.config.monitor_interval_s is not None and self.stats.messages:
            self.run_monitor()  # a bounded run checks what it wrote before it returns
        return self.stats

    def _maybe_checkpoint(self) -> None:
        if self.checkpointer is not None:
            self.stats.checkpoints += self.checkpointer.sign_due(self.heads.values())

    def _maybe_monitor(self) -> None:
        interval = self.config.monitor_interval_s
        if self.monitor is None or interval is None:
            return
        now = time.monotonic()
        if self._monitored_at is not None and now - self._monitored_at < interval:
            return
        self._monitored_at = now
        self.run_monitor()

    def run_monitor(self) -> int:
        """Run the monitor now: its new alerts are journalled, published and sent to the sinks."""
        if self.monitor is None:
            return 0
        self._open()
        alerts = list(self.monitor())  # the monitor journals them (chained) in the store
        if not alerts:
            return 0
        self._publish(alerts, [])
        self._send_to_sinks(alerts)
        self.stats.alerts += len(alerts)
        log.info("monitor raised %d alert(s)", len(alerts))
        return len(alerts)

    def _send_to_sinks(self, alerts: Sequence[AlertRow]) -> None:
        for sink in self.sinks:
            try:
                sink.send(alerts)
            except Exception:  # a sink is best effort: the store and the topic have the alert
                log.exception("alert sink %s failed", type(sink).__name__)

    def process(self, msgs: Sequence[Any]) -> None:
        """One batch: decode, evaluate, write, publish, then commit. See the module docstring."""
        dead: list[Undecodable] = []
        decoded: list[Decoded] = []
        replayed: list[str] = []
        for msg in msgs:
            item = decode_message(self.decoder, msg)
            if isinstance(item, Undecodable):
                dead.append(item)
            elif item.origin.offset <= self._head(item.origin).last_offset:
                replayed.append(item.event.event_id)  # written before a crash: not again
            else:
                decoded.append(item)
        known = stored_event_ids(self.store, [d.event.event_id for d in decoded])
        batch = Batch()
        for item in dead:
            batch.add_dead_letter(item.origin, item.key, item.reason, item.detail, item.value)
        touched: dict[tuple[str, int], tuple[int, int, bytes, Any]] = {}
        for item in decoded:
            event = item.event
            if event.event_id in known:
                self.stats.duplicates += 1  # a producer's re-send of a stored event
                continue
            known.add(event.event_id)
            head = self._head(item.origin)
            key = (item.origin.topic, item.origin.partition)
            if key not in touched:
                touched[key] = (head.next_seq, head.last_offset, head.prev_hash, head.tree.copy())
            verdict = self.evaluator.evaluate(event)
            if event.kind in _STATE_KINDS:
                self._subjects.setdefault(key, set()).add(event.subject_id)
            self.stats.decisions[verdict.decision] = (
                self.stats.decisions.get(verdict.decision, 0) + 1
            )
            severity = summary = ""
            if verdict.decision == "violation" and verdict.reasons:
                alert = make_alert(event, verdict, self.severity, self.summary)
                batch.add_alert(alert)
                severity, summary = alert.severity, alert.summary
            batch.add(head, event, verdict, item.origin, severity, summary)
        try:
            self._write(batch)
        except BaseException:
            for key, (seq, offset, prev, tree) in touched.items():  # nothing was written
                head = self.heads[key]
                head.next_seq, head.last_offset, head.prev_hash, head.tree = seq, offset, prev, tree
            raise
        again = alerts_of_events(self.store, replayed) if replayed else []
        self._publish([*again, *batch.alerts], dead)
        self._send_to_sinks(batch.alerts)
        self._commit(msgs)
        self.stats.messages += len(msgs)
        self.stats.events += len(batch.events)
        self.stats.replayed += len(replayed)
        self.stats.dead_letters += len(dead)
        self.stats.alerts += len(batch.alerts)
        self.stats.batches += 1

    def _write(self, batch: Batch) -> None:
        delay, deadline = 0.5, time.monotonic() + self.config.store_retry_limit_s
        while True:
            try:
                write_batch(self.store, batch)
                return
            except StoreError as exc:
                if time.monotonic() > deadline:
                    raise
                self.stats.store_retries += 1
                log.warning("store write failed, retrying in %.1fs: %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _on_delivery(self, err: Any, msg: Any) -> None:
        # never raise into librdkafka: count and log
        if err is not None:
            self._delivery_errors.append(str(err))
            log.error("publishing to %s failed: %s", msg.topic() if msg else "?", err)

    def _publish(self, alerts: Sequence[AlertRow], dead: Sequence[Undecodable]) -> None:
        if not alerts and not dead:
            return
        producer = self._producer
        for alert in alerts:
            producer.produce(
                self.config.alerts_topic,
                key=alert.alert_id.encode(),
                value=json.dumps(alert.to_dict(), ensure_ascii=False).encode(),
                headers=[
                    ("jejak.severity", alert.severity.encode()),
                    ("jejak.reason", alert.reason.encode()),
                    ("jejak.subject", alert.subject_id.encode()),
                ],
                on_delivery=self._on_delivery,
            )
            producer.poll(0)
        for d in dead:
            producer.produce(
                self.config.dead_letter_topic,
                key=d.key,
                value=d.value,
                headers=[
                    *d.headers,
                    ("jejak.dlq.reason", d.reason.encode()),
                    ("jejak.dlq.detail", d.detail.encode()[:1000]),
                    ("jejak.dlq.topic", d.origin.topic.encode()),
                    ("jejak.dlq.partition", str(d.origin.partition).encode()),
                    ("jejak.dlq.offset", str(d.origin.offset).encode()),
                ],
                on_delivery=self._on_delivery,
            )
            producer.poll(0)
        remaining = producer.flush(60)
        if remaining or self._delivery_errors:
            errors, self._delivery_errors = self._delivery_errors, []
            raise BrokerError(
                f"{remaining} alert/dead-letter message(s) undelivered, errors: {errors[:3]}; "
                "offsets not committed, the batch will be read again"
            )

    def _commit(self, msgs: Sequence[Any]) -> None:
        from confluent_kafka import TopicPartition

        last: dict[tuple[str, int], int] = {}
        for m in msgs:
            last[(m.topic(), m.partition())] = max(
                last.get((m.topic(), m.partition()), -1), m.offset()
            )
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
        self._consumer.commit(offsets=offsets, asynchronous=False)


_STATE_KINDS = frozenset({"consent", "policy_accepted", "account_closed"})
