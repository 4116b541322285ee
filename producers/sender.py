"""The sender: gets encoded events to the transport, or to the spool, in order, never losing one.

Modes (one at a time, changed only by the sender itself)::

    DIRECT ──(broker down, delivery failed, queue full too long, fatal error)──> SPOOLING
    SPOOLING ──(nothing in flight and the transport's probe answers)──> REPLAYING
    REPLAYING ──(every spooled record read and delivered)──> DIRECT
    REPLAYING ──(a replayed record failed, broker down again)──> SPOOLING
        (the replay batch in flight is left to finish, not purged)

**Ordering.** All events of one subject share a Kafka key, hence a partition,
and must reach it in the order they were emitted. The sender keeps that order
through failures with three rules:

1. While the spool holds anything not yet delivered (SPOOLING and REPLAYING),
   *every* new event is appended to the spool, behind it, never sent directly.
   A restarted service whose spool is not empty therefore starts in SPOOLING.
2. On leaving DIRECT, whatever the transport still holds is purged (queued and
   in flight) and the purged messages, returned by their delivery reports in
   order, are spooled *before* any event that comes after the switch.
3. Replay reads the spool in append order, one batch at a time, through the
   same producer; DIRECT resumes only once the spool is read to its end and
   every replayed record is delivered.

The limit of these rules: delivery reports are asynchronous. If a message
times out while the broker is recovering, and the broker delivers a later
message of the same subject before the sender has seen that failure, the
failed message is spooled and replayed *after* the later one. No client-side
rule can prevent that without waiting for each report before the next send.

**Delivery guarantee: at-least-once, never at-most-once.** Every accepted
event is, at any instant, in exactly one stage: the in-memory queue, being
routed (taken off the queue by the sender thread, not yet handed over or
written), librdkafka's queue or in flight, delivered, the spool, or rejected
(a permanent error such as a message too large, written to
``<spool>/rejected`` and counted, never retried; or a spool that cannot be
written, logged and counted: the one way a running process loses an event).
:meth:`Sender.stats` reads the stages as one snapshot, so they always add up
to the accepted count (:class:`DeliveryStats`).

An event reaches the broker twice only when the sender gives up on a copy
the broker may already hold, and consumers deduplicate on ``event_id``.
That happens in these cases and no others:

* leaving DIRECT purges what is *in flight* (rule 2): a message sent to a
  broker that was still alive may have been written before the purge; it is
  spooled and sent again (the price of rule 2's order). A message produced
  while no broker was reachable was never in flight, so it is never doubled;
* a delivery that times out (``message.timeout.ms``) after its request
  reached the broker: a new event is spooled, a replayed record stays in the
  spool, and either is sent again;
* a replay batch in flight when the client fails fatally (it is purged before
  the client is rebuilt) or when the emitter closes before the batch is
  delivered (it is purged; its records stay in the spool for the next run),
  or a delivered batch not yet committed when the process is killed (one
  batch at most).

A replay batch is never purged because the broker looks unavailable
(librdkafka's "all brokers down" report can arrive after the broker is back):
the sender stops replaying and lets the batch finish on its own, delivered or
timed out, then probes again.

Events still in memory (this process's queue or librdkafka's) when the process
is killed with ``kill -9`` are lost: spooling every event up front would cost a
disk write per event on the happy path. A clean :meth:`Sender.shutdown` spools
whatever could not be delivered in time.

**Not blocking the service.** A service thread only appends to an in-memory
queue (:class:`SenderThread`); everything that can wait (librdkafka, the disk,
probes) happens on the sender thread. When the queue is over its bound the
service thread waits at most ``max_block_ms`` for room, then enqueues anyway.
"""

from __future__ import annotations

import atexit
import enum
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass

from jejak.errors import ConfigError, JejakError
from jejak.producers.spool import Position, Spool, SpoolRecord
from jejak.producers.transports import (
    OutMessage,
    Transport,
    TransportDown,
    TransportFull,
    TransportRejected,
)

log = logging.getLogger(__name__)


class EmitterClosed(JejakError):
    """``emit`` after ``close`` (or racing it: the event was not taken)."""


class Mode(enum.Enum):
    DIRECT = "direct"
    SPOOLING = "spooling"
    REPLAYING = "replaying"


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Counters of one emitter, read as one snapshot.

    Every event ``emit`` accepted is, at any instant, in exactly one stage of
    this ledger::

        accepted == queued + routing + sent + spooled + rejected

    (:attr:`accounted` adds up the right-hand side). ``spooled`` is where an
    event leaves this ledger for the spool's: from there it is replayed
    (``replayed``, part of ``delivered``) or fails for good on replay (part of
    ``failed``). The sum holds in every snapshot; the split between ``sent``
    and ``queued`` (in flight) is exact once :meth:`Emitter.flush` has
    returned True.
    """

    accepted: int
    """Events accepted by ``emit`` (valid, encoded, queued)."""
    queued: int
    """Events in the in-memory queue or in flight in the transport."""
    routing: int
    """Events the sender took off the queue and has not yet handed to the transport,
    written to the spool or rejected (e.g. a batch on its way to a slow disk)."""
    sent: int
    """Events delivered straight by the transport, never spooled."""
    spooled: int
    """Events this process wrote to the spool because the transport could not take them."""
    rejected: int
    """Events that failed for good before reaching the spool (refused by the
    transport, or the spool could not be written)."""
    delivered: int
    """Events confirmed delivered by the transport: ``sent`` plus ``replayed``."""
    replayed: int
    """Spooled records (from this run or an earlier one) delivered from the spool."""
    failed: int
    """Events rejected permanently: ``rejected`` plus spooled records that failed for
    good on replay (kept in ``<spool>/rejected`` when there is a spool)."""
    spool_backlog: int
    """Records in the spool not delivered yet (from any run)."""
    mode: str

    @property
    def accounted(self) -> int:
        """The stages of the ledger added up: equal to :attr:`accepted` in every snapshot."""
        return self.queued + self.routing + self.sent + self.spooled + self.rejected

    @property
    def all_delivered(self) -> bool:
        return (
            self.queued == 0 and self.routing == 0 and self.spool_backlog == 0 and self.failed == 0
        )


class Sender:
    """The single-threaded state machine described in the module doc.

    Call :meth:`route` with new messages and :meth:`service` regularly, from one
    thread (:class:`SenderThread` does both). The transport reports outcomes
    through :meth:`failed`, :meth:`unavailable` and :meth:`fatal`, only from
    inside its ``poll``, which the sender calls; so all state changes here
    happen on that one thread.

    The counters behind :meth:`stats` are the one thing other threads read.
    Each move of events from one stage of the ledger (see :class:`DeliveryStats`)
    to the next updates them under ``books``, a lock held for the bookkeeping
    and the hand-over to the transport only, never for disk writes or waits.
    """

    def __init__(
        self,
        transport: Transport,
        spool: Spool | None = None,
        *,
        probe_interval: float = 1.0,
        probe_timeout: float = 1.0,
        replay_batch: int = 2_000,
        full_wait: float = 0.5,
        settle_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.spool = spool
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self.replay_batch = replay_batch
        self.full_wait = full_wait
        self.settle_timeout = settle_timeout
        self.clock = clock
        self.mode = Mode.SPOOLING if spool is not None and spool.pending else Mode.DIRECT
        self.books = threading.RLock()
        self._purge_needed = False
        self._reset_needed = False
        self._next_probe = 0.0
        # the ledger of new messages (changed under self.books; see DeliveryStats):
        # taken == routing + (handed - returned) + spooled + rejected
        self._taken = 0  # taken off the runner's queue, or routed directly
        self._routing = 0  # of those: not handed over, spooled or rejected yet
        self._handed = 0  # handed to the transport
        self._returned = 0  # of those, reported failed (and then spooled or rejected)
        self._spooled = 0
        self._rejected_new = 0
        self._replayed = 0
        self._failed = 0  # rejected new messages and replayed records
        self._batch: list[tuple[SpoolRecord, bool]] | None = None  # (record, already delivered)
        self._carry: list[SpoolRecord] = []
        self._replay_failures: set[Position] = set()
        self._replay_rejected: set[Position] = set()  # resolved by rejection, not delivery
        self._delivered_beyond: set[Position] = set()
        self._rejected: Spool | None = None
        self._spool_buffer: list[OutMessage] = []  # new messages on their way to the spool
        transport.bind(self)
        if self.mode is Mode.SPOOLING:
            log.info(
                "spool holds %d record(s): new events queue behind them",
                spool.pending if spool else 0,
            )

    # -- what the transport reports (from inside transport.poll) --------------------------

    def failed(self, message: OutMessage, reason: str, retriable: bool) -> None:
        if message.position is not None:
            if not retriable:
                # replaying it again would fail again, forever: set it aside and let
                # the checkpoint move past it (the batch is settled in _settle_batch)
                self._reject([OutMessage(message.key, message.value, message.headers)], reason)
                self._replay_rejected.add(message.position)
                return
            # a replayed record: it stays in the spool; the batch is settled in _replay_step
            self._replay_failures.add(message.position)
            if self.mode is Mode.REPLAYING:
                self._enter_spooling(f"replay failed: {reason}")
            return
        with self.books:  # back from the transport, on its way to the spool or rejection
            self._returned += 1
            self._routing += 1
        if not retriable or self.spool is None:
            self._reject([message], reason, new=True)
            return
        # buffered, not written here: the purge of rule 2 returns thousands of messages
        # one report at a time, and _poll writes them all with one append
        self._spool_buffer.append(message)
        if self.mode is Mode.DIRECT:
            self._enter_spooling(f"delivery failed: {reason}")

    def unavailable(self, reason: str) -> None:
        if self.spool is None:
            log.warning("transport unavailable (%s) and no spool to fall back on", reason)
            return
        if self.mode is not Mode.SPOOLING:
            self._enter_spooling(reason)

    def fatal(self, reason: str) -> None:
        log.error("transport failed fatally (%s): rebuilding it", reason)
        self._reset_needed = True
        if self.spool is not None:
            self._enter_spooling(reason)
        else:
            self._purge_needed = True

    # -- routing new messages ------------------------------------------------------------

    def take(self, queue: deque[OutMessage], limit: int) -> list[OutMessage]:
        """Pop up to ``limit`` messages off a runner's queue for :meth:`route` (``taken=True``).

        Popped and counted as routing under one lock, so a :meth:`stats` snapshot
        sees each message either in the queue or in the sender, never in neither.
        """
        batch: list[OutMessage] = []
        popleft = queue.popleft
        with self.books:
            try:
                while len(batch) < limit:
                    batch.append(popleft())
            except IndexError:
                pass
            self._taken += len(batch)
            self._routing += len(batch)
        return batch

    def route(self, messages: Sequence[OutMessage], *, taken: bool = False) -> None:
        """Send (DIRECT) or spool (otherwise) new messages, in order.

        ``taken``: the messages came from :meth:`take` and are counted already.
        """
        if not taken:
            with self.books:
                self._taken += len(messages)
                self._routing += len(messages)
        index, count = 0, len(messages)
        while index < count:
            if self.mode is not Mode.DIRECT:
                self._spool_buffer.extend(messages[index:])
                break
            # fast path: hand over as many as the transport takes, then look at the one it did not
            with self.books:
                handed = self.transport.send_many(messages, index)
                self._handed += handed - index
                self._routing -= handed - index
            index = handed
            if index < count:
                self._route_one(messages[index])
                index += 1
        self._flush_spool_buffer()

    def _route_one(self, message: OutMessage) -> None:
        """One message in DIRECT mode, with every way a send can fail handled."""
        try:
            self._send_new(message)
            return
        except TransportFull:
            if self._wait_for_room(message):
                return
            self._enter_spooling_or_reject(message, "local queue full")
        except TransportDown as exc:
            self._enter_spooling_or_reject(message, str(exc))
        except Exception as exc:  # a message the client refuses outright (TransportRejected)
            self._reject([message], f"{type(exc).__name__}: {exc}", new=True)
            return
        if self.spool is not None:
            self._settle()  # rule 2: what the transport held goes first
            self._spool_buffer.append(message)

    def _send_new(self, message: OutMessage) -> None:
        """Hand one new message over (raises what :meth:`Transport.send` raises)."""
        with self.books:
            self.transport.send(message)
            self._handed += 1
            self._routing -= 1

    def _enter_spooling_or_reject(self, message: OutMessage, reason: str) -> None:
        if self.spool is None:
            self._reject([message], reason, new=True)
        else:
            self._enter_spooling(reason)

    def _wait_for_room(self, message: OutMessage) -> bool:
        deadline = self.clock() + self.full_wait
        while self.clock() < deadline and self.mode is Mode.DIRECT:
            self._poll(0.005)
            try:
                self._send_new(message)
            except TransportFull:
                continue
            except TransportDown:
                return False
            except TransportRejected as exc:
                self._reject([message], str(exc), new=True)
                return True
            return True
        return False

    def _enter_spooling(self, reason: str) -> None:
        if self.spool is None:
            return
        if self.mode is Mode.DIRECT:
            # rule 2: what the transport holds is purged and spooled before anything newer.
            # Not from REPLAYING: a replay batch in flight is left to finish, since its
            # records are still in the spool (nothing newer can overtake them), and a
            # purge would send again whatever the broker had already taken.
            self._purge_needed = True
        if self.mode is not Mode.SPOOLING:
            log.warning(
                "events go to the spool %s until Kafka is back: %s", self.spool.directory, reason
            )
        self.mode = Mode.SPOOLING
        self._next_probe = self.clock() + self.probe_interval

    def _poll(self, timeout: float) -> None:
        """Serve the transport's reports, then spool what they gave back, in their order."""
        self.transport.poll(timeout)
        self._flush_spool_buffer()

    def _settle(self) -> None:
        """Purge the transport and spool what it returns, before anything newer (rule 2)."""
        if not self._purge_needed:
            return
        self._purge_needed = False
        self._flush_spool_buffer()
        self.transport.purge()
        deadline = self.clock() + self.settle_timeout
        self._poll(0)
        while self.transport.pending() > 0 and self.clock() < deadline:
            self._poll(0.01)
        if self.transport.pending():
            log.warning("%d message(s) still in flight after a purge", self.transport.pending())

    def _flush_spool_buffer(self) -> None:
        if not self._spool_buffer:
            return
        buffer, self._spool_buffer = self._spool_buffer, []
        if self.spool is None:
            self._reject(buffer, "no spool", new=True)
            return
        try:
            self.spool.append_many((m.key, m.value, m.headers) for m in buffer)
        except (OSError, ConfigError) as exc:  # a full or failing disk, a closed spool
            log.error("cannot write the spool %s: %s", self.spool.directory, exc)
            with self.books:
                self._routing -= len(buffer)
                self._rejected_new += len(buffer)
                self._failed += len(buffer)
            return
        with self.books:
            self._routing -= len(buffer)
            self._spooled += len(buffer)

    def _reject(self, messages: Sequence[OutMessage], reason: str, *, new: bool = False) -> None:
        """Set messages aside for good; ``new``: routing messages (else replayed records)."""
        with self.books:
            if new:
                self._routing -= len(messages)
                self._rejected_new += len(messages)
            self._failed += len(messages)
        log.error("%d event(s) rejected: %s", len(messages), reason)
        if self.spool is None:
            return
        try:
            if self._rejected is None:
                self._rejected = Spool(self.spool.directory / "rejected", fsync=self.spool.fsync)
            self._rejected.append_many((m.key, m.value, m.headers) for m in messages)
        except (OSError, Exception) as exc:  # never let bookkeeping raise into librdkafka
            log.error("cannot keep rejected events: %s", exc)

    # -- the periodic part ---------------------------------------------------------------

    def service(self) -> None:
        """Serve reports, settle transitions, probe, replay; call it often."""
        self._poll(0)
        self._settle()
        if self._reset_needed:
            self._reset_needed = False
            self.transport.purge()
            self._poll(0)
            self.transport.reset()  # may serve the old client's last reports
            self._flush_spool_buffer()
        if self._batch is not None:
            self._settle_batch()
        if self.spool is None:
            return
        self.spool.sync_if_due()
        if self.mode is Mode.SPOOLING and self.clock() >= self._next_probe:
            self._next_probe = self.clock() + self.probe_interval
            if self.transport.pending() == 0 and self._batch is None:
                if self.transport.probe(self.probe_timeout):
                    log.info(
                        "transport answers again: replaying %d spooled record(s)",
                        self.spool.pending,
                    )
                    self.mode = Mode.REPLAYING
        if self.mode is Mode.REPLAYING:
            self._replay_step()

    def _replay_step(self) -> None:
        spool = self.spool
        if spool is None or self._batch is not None:
            return
        if not self._carry and spool.unread == 0:
            if spool.pending == 0:
                log.info("spool drained: sending directly again")
                self.mode = Mode.DIRECT
            return
        records = self._carry or spool.read(self.replay_batch)
        self._carry = []
        batch: list[tuple[SpoolRecord, bool]] = []
        # under the books: a stats snapshot must not take these for new messages in flight
        with self.books:
            for index, record in enumerate(records):
                if record.position in self._delivered_beyond:
                    batch.append((record, True))
                    continue
                try:
                    self.transport.send(
                        OutMessage(
                            record.key, record.value, list(record.headers), position=record.position
                        )
                    )
                except TransportFull:
                    self._carry = list(records[index:])
                    break
                except TransportRejected as exc:
                    # never sendable: set aside, so the replay (and the spool) moves past it
                    self._reject(
                        [OutMessage(record.key, record.value, list(record.headers))], str(exc)
                    )
                    self._replay_rejected.add(record.position)
                except TransportDown as exc:
                    self._replay_failures.add(record.position)
                    self._carry = []
                    batch.append((record, False))
                    self._enter_spooling(str(exc))
                    break
                batch.append((record, False))
            self._batch = batch
        self._settle_batch()

    def _settle_batch(self) -> None:
        """Once the replay batch is resolved: commit what was delivered, rewind on failure."""
        batch, spool = self._batch, self.spool
        if batch is None or spool is None or self.transport.pending() > 0:
            return
        self._batch = None
        failures, self._replay_failures = self._replay_failures, set()
        rejected, self._replay_rejected = self._replay_rejected, set()
        commit_to: Position | None = None
        failed_at: int | None = None
        for index, (record, _) in enumerate(batch):
            if record.position in failures:
                failed_at = index
                break
            commit_to = record.end
        delivered_now = 0
        for index, (record, already) in enumerate(batch):
            if already:
                continue
            was_rejected = record.position in rejected  # resolved, but not delivered
            if failed_at is not None and index >= failed_at:
                if record.position not in failures:
                    delivered_now += not was_rejected
                    self._delivered_beyond.add(record.position)
                continue
            delivered_now += not was_rejected
        self._replayed += delivered_now
        if commit_to is not None:
            spool.commit(commit_to)
            self._delivered_beyond = {p for p in self._delivered_beyond if p >= commit_to}
        if failed_at is not None or failures:
            self._carry = []
            spool.rewind()
            if self.mode is Mode.REPLAYING:
                self._enter_spooling("replay failed")
        elif self.mode is Mode.REPLAYING and not self._carry and spool.pending == 0:
            log.info("spool drained: sending directly again")
            self.mode = Mode.DIRECT

    # -- state ---------------------------------------------------------------------------

    def idle(self) -> bool:
        """Nothing in flight, nothing to replay: everything accepted so far is resolved."""
        return (
            self.transport.pending() == 0
            and self._batch is None
            and self._routing == 0
            and not self._spool_buffer
            and (self.spool is None or self.spool.pending == 0)
        )

    def in_flight(self) -> int:
        """New messages handed to the transport and not resolved yet.

        The transport's count can include reports not served yet (librdkafka counts
        error and log events too), so it is capped at what was handed over: a
        snapshot may then show a delivered message as still in flight, never an
        event twice. Zero while a replay batch is out: only replayed records are
        in flight then (replay starts with nothing in flight, and new events go
        to the spool until it ends).
        """
        if self._batch is not None:
            return 0
        return min(self.transport.pending(), self._handed - self._returned)

    def stats(self, queue: Sized = ()) -> DeliveryStats:
        """One consistent snapshot of the counters (see :class:`DeliveryStats`).

        ``queue``: the runner's queue of accepted messages not taken yet; its
        length is read under the same lock as the rest, so that every accepted
        event is counted in exactly one stage.
        """
        with self.books:
            queued = len(queue)
            in_flight = self.in_flight()
            sent = self._handed - self._returned - in_flight
            return DeliveryStats(
                accepted=self._taken + queued,
                queued=queued + in_flight,
                routing=self._routing,
                sent=sent,
                spooled=self._spooled,
                rejected=self._rejected_new,
                delivered=sent + self._replayed,
                replayed=self._replayed,
                failed=self._failed,
                spool_backlog=self.spool.pending if self.spool is not None else 0,
                mode=self.mode.value,
            )

    def shutdown(self) -> None:
        """Spool whatever the transport still holds, make the spool durable, close both."""
        if self._batch is not None and self.transport.pending() == 0:
            # a replay batch already delivered: commit it, or a restart sends it again
            self._poll(0)
            self._settle_batch()
        self._flush_spool_buffer()
        if self.transport.pending() and self.spool is not None:
            if self.mode is Mode.DIRECT:
                self._enter_spooling("closing with undelivered events")
            self._purge_needed = True
            self._settle()
            if self._batch is not None:
                self._settle_batch()
        try:
            self.transport.close()
        finally:
            self._flush_spool_buffer()  # reports the close may have served
            if self.spool is not None:
                self.spool.close()
            if self._rejected is not None:
                self._rejected.close()


class SenderThread:
    """Runs a :class:`Sender` on its own thread; service threads only append to a queue.

    The queue is the handoff that keeps a service call short: ``submit`` is a
    ``deque.append`` (atomic under the GIL), and the sender thread is woken
    only when it sleeps.
    """

    def __init__(
        self,
        sender: Sender,
        *,
        max_queue: int = 100_000,
        max_block_ms: int = 50,
        idle_wait: float = 0.005,
        drain_batch: int = 5_000,
        wake_at: int = 500,
    ) -> None:
        self.sender = sender
        self.wake_at = wake_at
        self.max_queue = max_queue
        self.max_block = max_block_ms / 1000
        self.idle_wait = idle_wait
        self.drain_batch = drain_batch
        self._queue: deque[OutMessage] = deque()
        self._wake = threading.Event()
        self._sleeping = False
        self._stop = False
        self._stopped = False  # set before the last drain: a later submit is refused
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._flush_requests = 0
        self._routing = False
        self._sync_requested = False
        self._last_overflow_log = 0.0
        self._thread = threading.Thread(target=self._run, name="jejak-sender", daemon=True)
        self._thread.start()

    def submit(self, message: OutMessage) -> None:
        """Queue one message; waits at most ``max_block_ms`` when the queue is over its bound."""
        queue = self._queue
        if len(queue) >= self.max_queue:
            self._wait_for_room()
        queue.append(message)
        if self._stopped:
            self._refuse_late(message)
        if self._sleeping and len(queue) >= self.wake_at:
            self._wake.set()

    def _refuse_late(self, message: OutMessage) -> None:
        """A submit that raced the stop: whoever takes the message off the queue owns it.

        The sender thread sets ``_stopped`` before its last drain; ``deque.remove``
        and ``popleft`` are atomic, so either that drain routed the message (it is
        delivered or spooled) or it is removed here and the caller is told.
        """
        try:
            self._queue.remove(message)
        except ValueError:
            return  # the last drain took it
        raise EmitterClosed("the emitter is closed")

    def _wait_for_room(self) -> None:
        deadline = time.monotonic() + self.max_block
        self._wake.set()
        while len(self._queue) >= self.max_queue and time.monotonic() < deadline:
            time.sleep(0.0005)
        if len(self._queue) >= self.max_queue:
            now = time.monotonic()
            if now - self._last_overflow_log > 10:
                self._last_overflow_log = now
                log.warning(
                    "sender queue over its bound (%d): enqueuing anyway after %d ms",
                    self.max_queue,
                    int(self.max_block * 1000),
                )

    def queued(self) -> int:
        return len(self._queue)

    def stats(self) -> DeliveryStats:
        """The sender's counters with this queue, as one snapshot."""
        return self.sender.stats(self._queue)

    def _run(self) -> None:
        sender, queue = self.sender, self._queue
        while True:
            self._routing = True  # before popping: flush must not see "queue empty" too early
            batch = sender.take(queue, self.drain_batch)
            try:
                if batch:
                    sender.route(batch, taken=True)
                sender.service()
                if self._sync_requested and sender.spool is not None:
                    self._sync_requested = False
                    sender.spool.sync()
            except Exception:  # the sender thread must survive anything one batch does
                log.exception("jejak sender: unexpected error (continuing)")
                time.sleep(0.1)
            self._routing = False
            if self._flush_requests:
                with self._idle:
                    self._idle.notify_all()
            if self._stop and not queue:
                break
            if not batch:
                self._sleeping = True
                if not queue:
                    self._wake.wait(self.idle_wait)
                self._wake.clear()
                self._sleeping = False
        # An emit that passed its closed check before close() may append now: refuse
        # what comes after this flag, route what came before it, then shut down.
        self._stopped = True
        try:
            late = sender.take(queue, sys.maxsize)
            if late:
                sender.route(late, taken=True)
        except Exception:
            log.exception("jejak sender: error while routing the last events")
        try:
            sender.shutdown()
        except Exception:
            log.exception("jejak sender: error while shutting down")

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until everything queued is resolved; True if it all was delivered."""
        deadline = time.monotonic() + timeout
        with self._idle:
            self._flush_requests += 1
            self._sync_requested = True
            try:
                while True:
                    if not self._queue and not self._routing and self.sender.idle():
                        return True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._thread.is_alive():
                        return False
                    self._wake.set()
                    self._idle.wait(min(remaining, 0.05))
            finally:
                self._flush_requests -= 1

    def close(self, timeout: float) -> None:
        """Stop the thread after it routed the queue; undelivered events end up in the spool."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error(
                "jejak sender did not stop within %.1f s; %d event(s) still queued",
                timeout,
                len(self._queue),
            )


class InlineRunner:
    """Runs a :class:`Sender` on the caller's thread: for synchronous transports and tests."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self._lock = threading.RLock()
        self._stopped = False

    def submit(self, message: OutMessage) -> None:
        with self._lock:
            if self._stopped:
                raise EmitterClosed("the emitter is closed")
            self.sender.route((message,))
            self.sender.service()

    def queued(self) -> int:
        return 0

    def stats(self) -> DeliveryStats:
        return self.sender.stats()

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self.sender.service()
                if self.sender.spool is not None:
                    self.sender.spool.sync()
                if self.sender.idle():
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)

    def close(self, timeout: float) -> None:
        with self._lock:
            self._stopped = True
            self.sender.shutdown()


Runner = SenderThread | InlineRunner


def register_exit_flush(close: Callable[[], object]) -> Callable[[], None]:
    """Close at interpreter exit if the owner forgot to; returns the unregister function."""
    atexit.register(close)
    return lambda: atexit.unregister(close)
