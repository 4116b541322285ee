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
   derived tables follow inside ClickHouse);
4. in one Kafka transaction, publish the batch's alerts (keyed by alert id) and
   dead letters and commit the batch's offsets (KIP-447: the consumer group's
   metadata goes with the offsets, so a consumer that lost its partitions
   cannot commit); sign a checkpoint of each partition's log when one is due
   (and whenever the consumer stops or loses a partition).

Exactly once, as a reader of the alerts and dead-letter topics with
``isolation.level=read_committed`` (librdkafka's default) sees it: the alerts
and dead letters of a batch become visible together with its offsets, or not
at all. A crash between 3 and 4 (or an aborted transaction) makes Kafka deliver
the batch again: messages at or below the offset the store already holds for
their partition are not written again (their alerts are published again, from
the store, in the new transaction), and an event id the log already holds (a
producer's re-send) is skipped, so nothing accepted is lost, nothing is stored
twice and no committed alert is published twice. A failed store write is
retried (with backoff) with the same rows; the batch is never re-evaluated, so
consent state is applied once.

A broker outage of any length pauses the loop inside step 4: the batch's
alerts and dead letters are held and the transaction is retried (aborted and
begun again when the broker says so) until the broker answers; the consumer
then goes on by itself. A consumer that lost its partitions meanwhile does not
commit: it aborts, rewinds to the batch and lets the group decide who reads it.

State follows the partitions: when partitions are assigned, their chain heads
are read from the store (from the last checkpoint on); a subject's consent
ledger is read when a batch first brings one of their events, for all such
subjects of the batch in one query, so start-up does not grow with the
history. When partitions are revoked, their heads are signed and dropped, with
the states of the subjects met in them.

A subject id that is not in pseudonym form never reaches the store: the
message is dead-lettered as ``not_pseudonymous`` without its key and value
(which carry the raw id), naming only where it came from.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from jejak.errors import (
    BrokerError,
    ConfigError,
    JejakError,
    StoreError,
    UndecodableEvent,
)
from jejak.kafka_logging import KafkaLog
from jejak.lineage.store.chain import LogHead, load_heads
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.client import Store
from jejak.lineage.store.derive import Deriver, catch_up
from jejak.lineage.store.queries import alerts_of_events, stored_event_ids
from jejak.lineage.store.state import ledger_of_subjects
from jejak.lineage.store.writer import AlertRow, Batch, Origin, VerdictLike, write_batch
from jejak.schemas.codec import RegistryUnavailable
from jejak.schemas.models import Disclosure, Event, TimeWindow, Use
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


WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the store-write latency histogram (``/metrics``)."""


@dataclass
class ConsumerStats:
    """What a run did; the demo, the tests, the progress line and ``/metrics`` read it."""

    messages: int = 0
    events: int = 0
    dead_letters: int = 0
    alerts: int = 0
    batches: int = 0
    store_retries: int = 0
    publish_retries: int = 0
    rewinds: int = 0
    replayed: int = 0
    duplicates: int = 0
    checkpoints: int = 0
    resolutions: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    alerts_by_reason: dict[str, int] = field(default_factory=dict)
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    write_buckets: list[int] = field(default_factory=lambda: [0] * (len(WRITE_BUCKETS) + 1))
    write_seconds: float = 0.0
    writes: int = 0
    exit_reason: str = ""
    """Why :meth:`LineageConsumer.run` returned: stopped, max_messages, idle, unassigned, lag."""

    @property
    def violations(self) -> int:
        return self.decisions.get("violation", 0)

    def observe_write(self, seconds: float) -> None:
        self.writes += 1
        self.write_seconds += seconds
        i = next((i for i, le in enumerate(WRITE_BUCKETS) if seconds <= le), len(WRITE_BUCKETS))
        self.write_buckets[i] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "events": self.events,
            "dead_letters": self.dead_letters,
            "violations": self.violations,
            "alerts": self.alerts,
            "batches": self.batches,
            "store_retries": self.store_retries,
            "publish_retries": self.publish_retries,
            "rewinds": self.rewinds,
            "replayed": self.replayed,
            "duplicates": self.duplicates,
            "checkpoints": self.checkpoints,
            "resolutions": self.resolutions,
            "decisions": dict(self.decisions),
            "exit_reason": self.exit_reason,
        }


@dataclass(frozen=True)
class Progress:
    """One progress report (``jejak consume`` prints it every ``progress_every_s``)."""

    rate: float
    """Messages per second since the previous report."""
    lag: int | None
    """Messages not yet read on the assigned partitions (None: not known, e.g. broker down)."""
    partitions: int
    stats: ConsumerStats

    def line(self) -> str:
        lag = "?" if self.lag is None else str(self.lag)
        s = self.stats
        return (
            f"{self.rate:,.0f} msg/s, lag {lag} on {self.partitions} partition(s); "
            f"totals: {s.messages:,} messages, {s.events:,} events, {s.alerts:,} alerts, "
            f"{s.dead_letters:,} dead letters, {s.replayed:,} replayed, "
            f"{s.duplicates:,} duplicates"
        )


FAULT_POINTS = ("after_decode", "after_write", "after_publish", "before_commit", "after_commit")
"""Where :class:`Fault` can kill the consumer in the batch cycle; ``store_error`` fails writes."""


@dataclass(frozen=True)
class Fault:
    """Fault injection for the fault tests: ``POINT:BATCH`` (``JEJAK_CONSUMER__FAULT``).

    ``after_write:3`` SIGKILLs the process right after the 3rd batch (of this
    process) is written to the store; ``store_error:2:3`` makes the 2nd batch's
    write report a failure 3 times *after* the rows landed (a lost
    acknowledgement), so the retry path and the store's deduplication are
    exercised. A SIGKILL, not an exception: nothing may be flushed or committed
    on the way out, exactly as when the machine dies.
    """

    point: str
    batch: int
    times: int = 1

    @classmethod
    def parse(cls, spec: str) -> Fault:
        parts = spec.split(":")
        known = (*FAULT_POINTS, "store_error")
        try:
            point, batch, *rest = parts
            fault = cls(point, int(batch), int(rest[0]) if rest else 1)
        except ValueError:
            raise ConfigError(
                f"consumer fault {spec!r}: expected POINT:BATCH[:TIMES], POINT one of "
                f"{', '.join(known)}"
            ) from None
        if point not in known or fault.batch < 1 or fault.times < 1 or len(rest) > 1:
            raise ConfigError(
                f"consumer fault {spec!r}: POINT one of {', '.join(known)}, BATCH and TIMES >= 1"
            )
        return fault


NOT_PSEUDONYMOUS = "not_pseudonymous"


def decode_message(
    decoder: Decoder,
    msg: Any,
    *,
    retry_for_s: float = 300.0,
    window: TimeWindow | None = None,
) -> Decoded | Undecodable:
    """A Kafka message as a decoded event, or as an undecodable one with why.

    An event whose ``occurred_at`` is outside ``window`` (the accepted time
    window, ``JEJAK_EVENTS__*``) is invalid input, dead-lettered as such.

    An unreachable schema registry says nothing about the message: decoding is
    retried with backoff, and if the registry stays away the error propagates
    (the batch is not committed and will be read again) rather than sending a
    good event to the dead letters.
    """
    origin = Origin(msg.topic(), msg.partition(), msg.offset())
    value: bytes | None = msg.value()
    if not value:
        return Undecodable(
            "empty", "the message has no value", origin, msg.key(), value, _headers(msg)
        )
    delay, deadline = 0.5, 0.0
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
                    _headers(msg),
                )
            if window is not None:
                window.check(event)
            return Decoded(event, origin)
        except RegistryUnavailable:
            now = time.monotonic()
            deadline = deadline or now + retry_for_s
            if now >= deadline:
                raise
            log.warning("schema registry unavailable; retrying in %.1fs", delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
        except UndecodableEvent as exc:
            if getattr(exc, "withhold", False):  # personal data in the value: keep neither
                return Undecodable(exc.reason, exc.detail, origin, None, None, _headers(msg))
            return Undecodable(exc.reason, exc.detail, origin, msg.key(), value, _headers(msg))
        except JejakError as exc:  # e.g. InvalidEvent from model validation
            return Undecodable(
                type(exc).__name__, str(exc), origin, msg.key(), value, _headers(msg)
            )


def _headers(msg: Any) -> Headers:
    """The message's headers, copied only for a dead letter (a good event does not need them)."""
    return list(msg.headers() or [])


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
    # a light stream (the last poll returned less than a batch) is polled with this
    # short window instead, so its events do not wait ``batch_timeout_s`` for company
    light_timeout_s: float = 0.02
    store_retry_limit_s: float = 300.0
    assignment_timeout_s: float = 60.0
    # how often the monitor (retention, section F) runs; None = never
    monitor_interval_s: float | None = None
    # static membership (KIP-345): the same name after a restart gets the same partitions
    group_instance_id: str | None = None
    session_timeout_ms: int = 45_000
    progress_every_s: float | None = None
    fault: str | None = None
    # derived tables (alerts, aggregates) are filled from the log's new
    # rows this often, or when the stream goes quiet (jejak.lineage.store.derive)
    derive_every_events: int = 100_000
    derive_every_s: float = 10.0


_GROUP_GONE = frozenset(
    {
        "ILLEGAL_GENERATION",
        "UNKNOWN_MEMBER_ID",
        "REBALANCE_IN_PROGRESS",
        "FENCED_INSTANCE_ID",
        "_FENCED",
    }
)
"""Errors that say this consumer no longer owns what it wants to commit (KIP-447)."""


GC_THRESHOLDS = (200_000, 100, 100)
"""Generation thresholds while a consumer runs: a batch makes many short-lived objects per
event, nearly all gone by the next batch, and the default (700, 10, 10) collected every
few events (issue 10: GC was a third of the consumer's CPU; bench/RESULTS.md has figures)."""

_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


def _gc_for_batches() -> None:
    """Freeze what start-up built (modules, schemas, policies, state) and collect less often.

    The frozen objects are never scanned again; process-wide, so counted: the
    last consumer to finish restores the thresholds it found.
    """
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
        _gc_users += 1


def _gc_restore() -> None:
    global _gc_users, _gc_saved
    with _gc_lock:
        _gc_users -= 1
        if _gc_users == 0 and _gc_saved is not None:
            gc.set_threshold(*_gc_saved)
            gc.unfreeze()
            _gc_saved = None


class _Stuck(Exception):
    """A librdkafka call did not return within its timeout."""


_FENCED = frozenset({"_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"})
"""Fatal producer errors that mean another process took over our transactional id."""


class _Every:
    """Lets one log line through per key every ``seconds`` (an outage must not flood the log)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: dict[str, float] = {}

    def __call__(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.seconds:
            return False
        self._last[key] = now
        return True


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
        monitor: Callable[[], Sequence[Any]] | None = None,
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
        self.deriver = Deriver(
            store, every_events=config.derive_every_events, every_s=config.derive_every_s
        )
        self.window: TimeWindow | None = None
        """The accepted ``occurred_at`` window; outside it an event is dead-lettered."""
        self.fault = Fault.parse(config.fault) if config.fault else None
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._consumer: Any = None
        self._producer: Any = None
        self._delivery_errors: list[str] = []
        self._assigned_at: float | None = None
        self._quiet = _Every(30.0)
        self._gc_tuned = False
        self.heads: dict[tuple[str, int], LogHead] = {}
        self._subjects: dict[tuple[str, int], set[str]] = {}
        """Subjects whose consent ledger this process holds, by the partition they came in."""
        self._loaded: set[str] = set()
        """Every subject of :attr:`_subjects`: their ledger is read, later events applied."""
        self.assigned: set[tuple[str, int]] = set()
        """The partitions the group gave this consumer (``/readyz``, lag, the monitor)."""
        self.lag: dict[tuple[str, int], int | None] = {}
        """Messages not yet read per assigned partition, as of :attr:`lag_at` (None: unknown)."""
        self.lag_at: float | None = None
        self.started_at = time.monotonic()
        self.last_batch_at: float | None = None
        self.rate = 0.0
        """Messages per second over the last progress interval."""
        self._progress_at = time.monotonic()
        self._progress_messages = 0
        instance = config.group_instance_id or uuid.uuid4().hex
        self._transactional_id = f"jejak-{config.group_id}-{instance}"
        self.kafka_log = KafkaLog(
            f"the lineage consumer of group {config.group_id}",
            str(config.client_config.get("bootstrap.servers", "")),
        )

    # -- partitions come and go: state follows them ------------------------------------------
    def assign(self, topic: str, partitions: Sequence[int]) -> None:
        """Read the chain heads of newly assigned partitions (consent state comes per subject)."""
        fresh = [p for p in partitions if (topic, p) not in self.heads]
        if not fresh:
            return
        for p, head in load_heads(self.store, topic, fresh).items():
            self.heads[(topic, p)] = head
            self._subjects.setdefault((topic, p), set())
        # derived rows (the alerts re-published after a crash) complete before they are read
        catch_up(self.store, topic, {p: self.heads[(topic, p)].next_seq for p in fresh})
        log.info("assigned %s partition(s) %s", topic, fresh)

    def _load_subjects(self, decoded: Sequence[Decoded]) -> None:
        """Read the consent ledgers of the subjects of a batch met for the first time.

        Before any of their events is judged, in one query for the batch: the
        store holds every event of theirs written so far, and from here on this
        process applies their new ones itself, so verdicts are those of a
        process that had read every ledger at start-up.
        """
        new: dict[str, tuple[str, int]] = {}
        for item in decoded:
            subject = item.event.subject_id
            if subject not in self._loaded and subject not in new:
                new[subject] = (item.origin.topic, item.origin.partition)
        if not new:
            return
        for subject, scope, action, at in ledger_of_subjects(self.store, list(new)):
            self.evaluator.load_ledger(subject, scope, action, at)
        for subject, key in new.items():
            self._subjects.setdefault(key, set()).add(subject)  # whose state to drop on revoke
        self._loaded.update(new)

    def revoke(self, topic: str, partitions: Sequence[int]) -> None:
        """Sign the heads of partitions going away, and drop their state."""
        gone = [(topic, p) for p in partitions if (topic, p) in self.heads]
        self.deriver.flush(gone)  # before the next owner's catch-up (cooperative: revoke first)
        self.deriver.forget(gone)
        if self.checkpointer is not None and gone:
            try:
                self.stats.checkpoints += self.checkpointer.sign([self.heads[k] for k in gone])
            except JejakError:  # the next owner signs them (they are unsigned rows in the store)
                log.exception("signing the checkpoints of revoked partitions failed")
        for key in gone:
            del self.heads[key]
            for subject in self._subjects.pop(key, set()):
                self.evaluator.forget(subject)
                self._loaded.discard(subject)
        if gone:
            log.info("revoked %s partition(s) %s", topic, [p for _, p in gone])

    @property
    def kafka_down(self) -> bool:
        """Every broker unreachable, as librdkafka last said (``/readyz``, ``/metrics``)."""
        return self.kafka_log.down

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self.kafka_log.reachable()
        # the idle clock starts once the group has given us partitions: joining a
        # group on a freshly started broker can take longer than any idle timeout
        self._assigned_at = time.monotonic()
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
            self.assigned.add((tp.topic, tp.partition))
        for topic, ps in by_topic.items():
            self.assign(topic, ps)

    def _new_consumer(self) -> None:
        """Replace a consumer librdkafka declared unusable; its partitions' state is dropped."""
        log.warning("the Kafka consumer failed fatally; starting a new one")
        for topic in {t for t, _ in self.heads}:
            self.revoke(topic, [p for t, p in list(self.heads) if t == topic])
        self.assigned.clear()
        self.lag = {}
        old, self._consumer = self._consumer, None
        try:
            old.close()
        except Exception:  # a consumer in a fatal state may refuse to close cleanly
            log.debug("closing the failed consumer", exc_info=True)
        self._assigned_at = time.monotonic()
        self._open()

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
            self.assigned.discard((tp.topic, tp.partition))
            self.lag.pop((tp.topic, tp.partition), None)
        for topic, ps in by_topic.items():
            self.revoke(topic, ps)

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        # lost, not handed over: the next owner may have caught up already, so the ranges
        # pending here are left to it (derive() would skip what it did, but need not try)
        self.deriver.forget([(tp.topic, tp.partition) for tp in partitions])
        self._on_revoke(consumer, partitions)

    def _head(self, origin: Origin) -> LogHead:
        key = (origin.topic, origin.partition)
        head = self.heads.get(key)
        if head is None:  # a message of a partition not announced (manual assignment, tests)
            self.assign(origin.topic, [origin.partition])
            head = self.heads[key]
        return head

    # -- lifecycle -------------------------------------------------------------------------
    def transactional_id(self) -> str:
        """The producer's transactional id: stable under static membership.

        With ``group.instance.id`` a restarted consumer reuses the id, so the
        broker fences the producer of the process it replaces (a zombie cannot
        commit). Without it, each process gets its own; the group's generation,
        sent with the offsets, fences a consumer that lost its partitions.
        """
        return self._transactional_id

    def _open(self) -> None:
        from confluent_kafka import Consumer, Producer

        if self._consumer is None:
            conf: dict[str, Any] = {
                **self.config.client_config,
                "group.id": self.config.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "partition.assignment.strategy": "cooperative-sticky",
                "max.poll.interval.ms": 600_000,
                "session.timeout.ms": self.config.session_timeout_ms,
                **self.kafka_log.client_config(),
            }
            if self.config.group_instance_id:
                conf["group.instance.id"] = self.config.group_instance_id
            self._consumer = Consumer(conf)
            self._consumer.subscribe(
                [self.config.topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
        if self._producer is None:
            producer = Producer(
                {
                    **self.config.client_config,
                    "transactional.id": self.transactional_id(),
                    "acks": "all",
                    "linger.ms": 5,
                    "compression.type": "zstd",
                    "transaction.timeout.ms": 60_000,
                    **self.kafka_log.client_config(),
                }
            )
            self._retry_kafka("starting the transactional producer", producer.init_transactions)
            self._producer = producer

    def _retry_kafka(self, what: str, call: Callable[[float], Any]) -> None:
        """``call(timeout)`` until it succeeds; a broker away for any time is waited for."""
        from confluent_kafka import KafkaException

        delay = 0.5
        while True:
            try:
                call(10.0)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal() or not err.retriable() or self._stop.is_set():
                    raise BrokerError(f"{what}: {err.str()}") from None
                if self._quiet(what):
                    log.warning("%s: %s; retrying until the broker answers", what, err.str())
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

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
        if self._gc_tuned:
            self._gc_tuned = False
            _gc_restore()
        self.deriver.flush()
        try:
            self.sign_checkpoints()
        except JejakError:
            log.exception("signing the final checkpoints failed; the next start signs them")
        if self._producer is not None:
            try:
                self._producer.flush(30)
            except Exception:  # a producer in a fatal state has nothing to flush
                log.debug("flushing the alerts producer failed", exc_info=True)
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
        on_progress: Callable[[Progress], None] | None = None,
    ) -> ConsumerStats:
        """Consume until stopped, ``max_messages`` read, or no message for ``idle_timeout_s``.

        The idle clock runs from the later of the last message and the group
        assignment; a consumer that gets no assignment at all gives up after
        ``assignment_timeout_s`` (only when an idle timeout is set). An idle
        stop checks the lag of the assigned partitions: :attr:`ConsumerStats.exit_reason`
        says ``idle`` when nothing is left, ``lag`` when messages are left
        behind (or the lag cannot be known), ``unassigned`` when the group never
        gave this consumer a partition (``jejak consume`` exits non-zero for both).
        """
        self._open()
        started = last_message = time.monotonic()
        self.stats.exit_reason = "stopped"
        lag_checked = probed = 0.0
        light = False
        while not self._stop.is_set():
            # heavy stream: full batches (chDB and the transaction cost per batch, not per
            # event); light: what arrived within a short window, for the alerts' latency
            msgs = self._consumer.consume(
                num_messages=self.config.batch_size,
                timeout=self.config.light_timeout_s if light else self.config.batch_timeout_s,
            )
            light = len(msgs) < self.config.batch_size
            real = [m for m in msgs if not m.error()]
            fatal = False
            for m in msgs:
                if m.error() and self._quiet(f"consume:{m.error().code()}"):
                    log.warning("consumer: %s (repeats are not logged for 30s)", m.error())
                fatal = fatal or bool(
                    m.error() and (m.error().fatal() or m.error().name() == "_FATAL")
                )
            if fatal:
                # e.g. FENCED_INSTANCE_ID: after a session timed out in an outage, the
                # static member's rejoin fences its own old member id, which librdkafka
                # reports as fatal; a new consumer under the same name takes over
                self._new_consumer()
                continue
            if real:
                self.kafka_log.reachable()
                # start-up is done (partitions assigned, their state loaded): tune the GC
                if not self._gc_tuned and self.assigned:
                    self._gc_tuned = True
                    _gc_for_batches()
                self.process(real)
                last_message = time.monotonic()  # a batch held up by an outage is not idle
                if on_batch is not None:
                    on_batch(self.stats)
            elif idle_timeout_s is not None:
                now = time.monotonic()
                if self._assigned_at is not None and not self.assigned:
                    # had partitions and lost them (an outage, a rebalance): not idle
                    # until the group gives some back, or gives up as never assigned
                    if now - self._assigned_at > self.config.assignment_timeout_s:
                        log.warning("no partitions assigned again within %.0fs", now - started)
                        self.stats.exit_reason = "unassigned"
                        break
                elif self._assigned_at is not None:
                    if now - max(last_message, self._assigned_at) > idle_timeout_s:
                        self.refresh_lag(cached=False)
                        left = self.total_lag()
                        self.stats.exit_reason = "idle" if left == 0 else "lag"
                        if left != 0:
                            log.warning(
                                "idle for %.0fs with %s message(s) left on partitions %s",
                                idle_timeout_s,
                                "an unknown number of" if left is None else left,
                                sorted(p for _, p in self.assigned),
                            )
                        break
                elif now - started > self.config.assignment_timeout_s:
                    log.warning("no partitions assigned within %.0fs", now - started)
                    self.stats.exit_reason = "unassigned"
                    break
            if not real and self.deriver.pending:  # the stream went quiet: derive now
                self.deriver.flush()
            now = time.monotonic()
            if now - lag_checked >= 1.0:
                lag_checked = now
                # from the last fetch responses; every 10 s from the broker itself, which
                # also tells an idle consumer that the broker is back after an outage
                fresh = now - probed >= 10.0
                probed = now if fresh else probed
                self.refresh_lag(cached=not fresh)
            self._maybe_progress(on_progress)
            self._maybe_checkpoint()
            self._maybe_monitor()
            if max_messages is not None and self.stats.messages >= max_messages:
                self.stats.exit_reason = "max_messages"
                break
        if self.config.monitor_interval_s is not None and self.stats.messages:
            self.run_monitor()  # a bounded run checks what it wrote before it returns
        return self.stats

    # -- lag, progress ----------------------------------------------------------------------------
    def refresh_lag(self, *, cached: bool = True) -> None:
        """The lag of each assigned partition: high watermark minus the next offset to process.

        ``cached`` uses the watermarks of the last fetch responses (no request);
        a partition whose watermark or position is not known yet is asked for
        (a short request), and is None while the broker does not answer.
        """
        from confluent_kafka import KafkaException, TopicPartition

        if self._consumer is None:
            return
        tps = [TopicPartition(t, p) for t, p in sorted(self.assigned)]
        if not cached and self.kafka_down and tps:
            # a probe of one partition (not a request per partition, each waiting
            # for its timeout): the broker answering ends the outage
            try:
                self._consumer.get_watermark_offsets(tps[0], timeout=1, cached=False)
            except KafkaException:
                return
            self.kafka_log.reachable()
        lag: dict[tuple[str, int], int | None] = {}
        answered = False
        try:
            positions = self._consumer.position(tps) if tps else []
        except KafkaException:
            positions = tps
        unknown = [tp for tp in positions if tp.offset < 0]
        committed: dict[tuple[str, int], int] = {}
        if unknown:
            try:
                for tp in self._consumer.committed(unknown, timeout=2):
                    committed[(tp.topic, tp.partition)] = tp.offset
            except KafkaException:
                pass
        for tp in positions:
            key = (tp.topic, tp.partition)
            try:
                lo, hi = self._consumer.get_watermark_offsets(
                    TopicPartition(tp.topic, tp.partition), timeout=2, cached=cached
                )
                if (lo < 0 or hi < 0) and cached:
                    lo, hi = self._consumer.get_watermark_offsets(
                        TopicPartition(tp.topic, tp.partition), timeout=2, cached=False
                    )
            except KafkaException:
                lag[key] = None
                continue
            answered = answered or not cached
            if hi < 0:
                lag[key] = None
                continue
            position = tp.offset if tp.offset >= 0 else committed.get(key, -1)
            if position < 0:
                position = max(lo, 0)
            lag[key] = max(0, hi - position)
        self.lag, self.lag_at = lag, time.monotonic()
        if answered:
            self.kafka_log.reachable()

    def total_lag(self) -> int | None:
        """The lag over all assigned partitions; None when any is unknown."""
        if any(v is None for v in self.lag.values()) or set(self.lag) != self.assigned:
            return None
        return sum(v or 0 for v in self.lag.values())

    def caught_up(self) -> dict[str, list[int]]:
        """Assigned partitions with nothing left to read: the ones a monitor may judge."""
        out: dict[str, list[int]] = {}
        for (topic, p), n in sorted(self.lag.items()):
            if n == 0 and (topic, p) in self.assigned:
                out.setdefault(topic, []).append(p)
        return out

    def _maybe_progress(self, on_progress: Callable[[Progress], None] | None) -> None:
        every = self.config.progress_every_s
        now = time.monotonic()
        if not every or now - self._progress_at < every:
            return
        self.rate = (self.stats.messages - self._progress_messages) / (now - self._progress_at)
        self._progress_at, self._progress_messages = now, self.stats.messages
        if on_progress is not None:
            on_progress(Progress(self.rate, self.total_lag(), len(self.assigned), self.stats))

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
        """Run the monitor now: its new alerts (and resolutions) are journalled, then published.

        The monitor journals what it raises in the store first; publishing is a
        transaction of its own. A crash in between leaves an alert in the store
        that is not on the topic (``jejak query alerts`` shows it); the monitor
        raises each alert id once, so it is never published twice.
        """
        if self.monitor is None:
            return 0
        self._open()
        self.refresh_lag(cached=True)  # what the monitor may judge: the caught-up partitions
        self.deriver.flush()  # it reads the alerts: everything written, derived
        found = list(self.monitor())
        if not found:
            return 0
        alerts = [a for a in found if isinstance(a, AlertRow)]
        self._transact(found, [], None)
        self._send_to_sinks(alerts)
        self.stats.alerts += len(alerts)
        self.stats.resolutions += len(found) - len(alerts)
        for alert in alerts:
            self.stats.alerts_by_reason[alert.reason] = (
                self.stats.alerts_by_reason.get(alert.reason, 0) + 1
            )
        log.info("monitor raised %d alert(s), resolved %d", len(alerts), len(found) - len(alerts))
        return len(found)

    def _send_to_sinks(self, alerts: Sequence[AlertRow]) -> None:
        for sink in self.sinks:
            try:
                sink.send(alerts)
            except Exception:  # a sink is best effort: the store and the topic have the alert
                log.exception("alert sink %s failed", type(sink).__name__)

    def _fault_at(self, point: str) -> None:
        """SIGKILL here if the fault setting names this point of this batch (tests only)."""
        fault = self.fault
        if fault is None or fault.point != point or fault.batch != self.stats.batches + 1:
            return
        if point == "after_publish" and self._producer is not None:
            self._producer.flush(30)  # on the broker, in a transaction not committed
        log.warning("fault injection: SIGKILL %s batch %d", point, fault.batch)
        os.kill(os.getpid(), signal.SIGKILL)

    def process(self, msgs: Sequence[Any]) -> None:
        """One batch: decode, evaluate, write, then publish and commit. See the module docstring."""
        dead: list[Undecodable] = []
        decoded: list[Decoded] = []
        replayed: list[str] = []
        for msg in msgs:
            item = decode_message(self.decoder, msg, window=self.window)
            if isinstance(item, Undecodable):
                dead.append(item)
            elif item.origin.offset <= self._head(item.origin).last_offset:
                replayed.append(item.event.event_id)  # written before a crash: not again
            else:
                decoded.append(item)
        self._fault_at("after_decode")
        known = stored_event_ids(self.store, [d.event.event_id for d in decoded])
        self._load_subjects(decoded)
        batch = Batch()
        for item in dead:
            batch.add_dead_letter(item.origin, item.key, item.reason, item.detail, item.value)
        touched: dict[tuple[str, int], tuple[int, int, bytes, Any]] = {}
        decisions: dict[str, int] = {}
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
            decisions[verdict.decision] = decisions.get(verdict.decision, 0) + 1
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
        self._fault_at("after_write")
        for (topic, partition), (seq, *_) in touched.items():
            self.deriver.appended(
                topic, partition, seq, self.heads[(topic, partition)].next_seq - 1
            )
        # what the store now holds counts even if the commit below does not happen: the
        # batch is then read again, and these events come back as replayed
        self.stats.events += len(batch.events)
        for decision, n in decisions.items():
            self.stats.decisions[decision] = self.stats.decisions.get(decision, 0) + n
        # their alerts are read back from the store: derive what is pending first
        if replayed and not self.deriver.flush():
            raise StoreError("deriving the alerts of a replayed batch failed; not committed")
        again = alerts_of_events(self.store, replayed) if replayed else []
        alerts = [*again, *batch.alerts]
        if not self._transact(alerts, dead, msgs):
            # not committed: the batch is read again (by us or the partition's next owner);
            # what was written is then skipped and its alerts published from the store
            self.stats.rewinds += 1
            return
        self._fault_at("after_commit")
        self._send_to_sinks(alerts)
        s = self.stats
        s.messages += len(msgs)
        s.replayed += len(replayed)
        s.dead_letters += len(dead)
        s.alerts += len(alerts)
        s.batches += 1
        self.last_batch_at = time.monotonic()
        for alert in alerts:
            s.alerts_by_reason[alert.reason] = s.alerts_by_reason.get(alert.reason, 0) + 1
        for d in dead:
            s.dead_letters_by_reason[d.reason] = s.dead_letters_by_reason.get(d.reason, 0) + 1
        if self.deriver.due():
            self.deriver.flush()

    def _write(self, batch: Batch) -> None:
        delay, deadline = 0.5, time.monotonic() + self.config.store_retry_limit_s
        fault = self.fault
        failures = fault.times if fault and fault.point == "store_error" else 0
        failing = fault is not None and fault.batch == self.stats.batches + 1
        while True:
            try:
                started = time.perf_counter()
                write_batch(self.store, batch, derive=False)
                self.stats.observe_write(time.perf_counter() - started)
                if failing and failures > 0:  # the rows landed; the client hears an error
                    failures -= 1
                    raise StoreError("fault injection: the store's acknowledgement was lost")
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
            if self._quiet(f"delivery:{err.code()}"):
                log.error("publishing to %s failed: %s", msg.topic() if msg else "?", err)

    def _produce(self, items: Sequence[Any], dead: Sequence[Undecodable]) -> None:
        from jejak.lineage.store.retention import AlertResolution

        for item in items:
            if isinstance(item, AlertResolution):
                self._send(
                    self.config.alerts_topic,
                    item.alert_id.encode(),
                    json.dumps(item.to_dict(), ensure_ascii=False).encode(),
                    [("jejak.status", item.status.encode()), ("jejak.reason", b"resolution")],
                )
                continue
            alert: AlertRow = item
            # keyed by alert id: on a compacted topic the latest word on an alert is kept
            self._send(
                self.config.alerts_topic,
                alert.alert_id.encode(),
                json.dumps(alert.to_dict(), ensure_ascii=False).encode(),
                [
                    ("jejak.severity", alert.severity.encode()),
                    ("jejak.reason", alert.reason.encode()),
                    ("jejak.subject", alert.subject_id.encode()),
                ],
            )
        for d in dead:
            self._send(
                self.config.dead_letter_topic,
                d.key,
                d.value,
                [
                    *d.headers,
                    ("jejak.dlq.reason", d.reason.encode()),
                    ("jejak.dlq.detail", d.detail.encode()[:1000]),
                    ("jejak.dlq.topic", d.origin.topic.encode()),
                    ("jejak.dlq.partition", str(d.origin.partition).encode()),
                    ("jejak.dlq.offset", str(d.origin.offset).encode()),
                ],
            )

    def _send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, key=key, value=value, headers=headers, on_delivery=self._on_delivery
                )
                self._producer.poll(0)
                return
            except BufferError:  # the local queue is full (e.g. the broker is away): wait
                self._producer.poll(0.5)

    def _transact(
        self, items: Sequence[Any], dead: Sequence[Undecodable], msgs: Sequence[Any] | None
    ) -> bool:
        """Publish ``items`` and ``dead`` and commit the offsets of ``msgs``, all or nothing.

        Retried until the broker answers, however long it is away. Returns
        False (after rewinding to the batch) when the group says this consumer
        no longer owns the partitions, or when asked to stop meanwhile.
        """
        from confluent_kafka import KafkaException

        offsets = self._offsets(msgs) if msgs else []
        if not items and not dead and not offsets:
            return True
        delay, since = 0.5, time.monotonic()
        producer = self._producer
        while True:
            self._delivery_errors = []
            try:
                producer.begin_transaction()
                self._produce(items, dead)
                self._fault_at("after_publish")
                if offsets:
                    self._send_offsets(producer, offsets)
                self._fault_at("before_commit")
                self._commit_transaction()
                self.kafka_log.reachable()
                if time.monotonic() - since > 5:
                    log.warning(
                        "the broker answers again: published after %.0fs",
                        time.monotonic() - since,
                    )
                return True
            except _Stuck as exc:
                # librdkafka #5456/#5511: the call outlived its timeout; a new producer
                # with the same transactional id fences the stuck one and aborts its
                # transaction, and the batch is tried again
                log.warning("%s; replacing the alerts producer", exc)
                self.stats.publish_retries += 1
                self._producer = None
                self._open()
                producer = self._producer
                continue
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal() and err.name() in _FENCED:
                    raise BrokerError(
                        f"the alerts producer was fenced ({err.str()}): another consumer "
                        "with the same group.instance.id is running?"
                    ) from None
                if err.fatal():
                    # e.g. a transaction the restarted coordinator no longer knows: a new
                    # producer with the same transactional id aborts it and goes on
                    log.warning("alerts producer: %s; starting a new one", err.str())
                    self._new_producer()
                    producer = self._producer
                else:
                    self._abort()
                gone = err.name() in _GROUP_GONE
                if gone or self._stop.is_set():
                    log.warning("batch not committed (%s); it will be read again", err.str())
                    self._rewind(msgs or [])
                    return False
                self.stats.publish_retries += 1
                if self._quiet("transaction"):
                    log.warning(
                        "holding %d alert(s) and %d dead letter(s): %s; retrying until the "
                        "broker answers (repeats are not logged for 30s)",
                        len(items),
                        len(dead),
                        err.str(),
                    )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _send_offsets(self, producer: Any, offsets: list[Any]) -> None:
        """Send the batch's offsets into the transaction, with a timeout that holds.

        The produced messages are flushed first: the broker answering is checked
        right before, because librdkafka can block in
        ``send_offsets_to_transaction`` past its timeout, and after the broker
        is back, when the coordinator went away during the call (librdkafka
        issues #5456, #5511). The call runs in a thread of its own; if it does
        not return in time, :class:`_Stuck` makes the caller replace the producer.
        """
        from confluent_kafka import KafkaError, KafkaException

        if producer.flush(10) > 0:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "broker not answering"))
        metadata = self._consumer.consumer_group_metadata()
        box: list[BaseException] = []

        def call() -> None:
            try:
                producer.send_offsets_to_transaction(offsets, metadata, 30)
            except BaseException as exc:
                box.append(exc)

        thread = threading.Thread(target=call, name="jejak-send-offsets", daemon=True)
        thread.start()
        thread.join(45)
        if thread.is_alive():
            raise _Stuck("sending the offsets into the transaction took over 45s")
        if box:
            raise box[0]

    def _new_producer(self) -> None:
        old, self._producer = self._producer, None
        try:
            old.purge()
        except Exception:  # a producer in a fatal state may refuse even this
            log.debug("purging the old alerts producer failed", exc_info=True)
        del old
        self._open()

    def _commit_transaction(self) -> None:
        """Commit; a retriable error (a timeout, the broker away) is retried as is."""
        from confluent_kafka import KafkaException

        delay = 0.5
        while True:
            try:
                self._producer.commit_transaction(10)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal() or err.txn_requires_abort() or not err.retriable():
                    raise
                if self._quiet("commit"):
                    log.warning("committing the batch: %s; retrying", err.str())
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _abort(self) -> None:
        from confluent_kafka import KafkaException

        delay = 0.5
        while True:
            try:
                self._producer.abort_transaction(10)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal() and err.name() in _FENCED:
                    raise BrokerError(f"aborting a transaction: {err.str()}") from None
                if err.fatal():  # a new producer with our transactional id aborts it
                    self._new_producer()
                    return
                if not err.retriable() or self._stop.is_set():
                    return  # nothing to abort (no transaction begun), or we are going
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _rewind(self, msgs: Sequence[Any]) -> None:
        """Seek back to the first message of the batch on partitions still ours."""
        from confluent_kafka import KafkaException, TopicPartition

        first: dict[tuple[str, int], int] = {}
        for m in msgs:
            key = (m.topic(), m.partition())
            first[key] = min(first.get(key, m.offset()), m.offset())
        for (t, p), offset in first.items():
            try:
                self._consumer.seek(TopicPartition(t, p, offset))
            except KafkaException:
                pass  # no longer ours: its next owner starts from the committed offset

    @staticmethod
    def _offsets(msgs: Sequence[Any]) -> list[Any]:
        from confluent_kafka import TopicPartition

        last: dict[tuple[str, int], int] = {}
        for m in msgs:
            key = (m.topic(), m.partition())
            last[key] = max(last.get(key, -1), m.offset())
        return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
