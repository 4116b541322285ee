"""SDK throughput: validate + encode + enqueue, events per second on one core.

    .venv/bin/python -m bench.bench_sdk [--events N] [--bootstrap HOST:PORT]

Three paths through :class:`jejak.producers.Emitter`, each with the ``memory``
transport (the SDK alone) and, when a broker answers, the ``kafka`` transport
(librdkafka's own threads do the sending):

* ``emit(model)``, ready: the caller built the model with a pseudonymous
  subject and its producer: no validation, no copy (the fast path);
* ``emit(model)``, raw: the SDK pseudonymises the subject and stamps the
  producer (one shallow copy);
* ``use(...)`` keyword arguments: the SDK validates (pydantic) as well.

Columns: ``emit/s`` the service thread's rate (the ``emit`` loop, wall
clock); ``CPU us/ev`` its own CPU time per event and ``1-core/s`` the rate that
makes; ``sender us/ev`` the CPU the sender thread spends per event (librdkafka's
``produce`` and delivery bookkeeping; with Kafka it shares the GIL with the
service thread); ``delivered/s`` the rate until ``flush`` confirms every event
delivered (Kafka: acks=all, idempotent, zstd). Each row is the best of
``--repeat`` runs, because other load on the machine shows in wall-clock
figures. The memory transport keeps only its last thousand messages here, so
the figure is the SDK's, not that of a list growing to 10^5 entries.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jejak.producers import Emitter, MemoryTransport
from jejak.schemas.models import Disclosure, Event, ProducerInfo, Recipient, Use
from jejak.schemas.pseudonym import Pseudonymizer
from jejak.settings import KafkaSettings, SdkSettings

SETTINGS = SdkSettings(service="bench", service_version="1", allow_development_key=True)
PRODUCER = ProducerInfo(service="bench", version="1")
BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _models(count: int, ready: bool) -> list[Event]:
    """A realistic mix: 3 uses (newsletter, personalisation, fulfilment) to 1 disclosure."""
    pseudonymizer = Pseudonymizer(SETTINGS.pseudonymization_key)
    subjects = [f"user-{i}" for i in range(5000)]
    if ready:
        subjects = [str(pseudonymizer.pseudonymize(s)) for s in subjects]
    producer = PRODUCER if ready else None
    events: list[Event] = []
    for n in range(count):
        subject = subjects[n % len(subjects)]
        at = BASE + timedelta(milliseconds=n)
        if n % 4 == 3:
            events.append(
                Disclosure(
                    subject_id=subject,
                    occurred_at=at,
                    producer=producer,
                    data_categories=["payment.virtual_account", "transaction.amount"],
                    purpose="transaction.fulfilment",
                    recipient=Recipient(id="pay-xendit-like", kind="payment_processor"),
                )
            )
        else:
            events.append(
                Use(
                    subject_id=subject,
                    occurred_at=at,
                    producer=producer,
                    data_categories=["account.email"],
                    purpose="marketing.communications",
                    channel="newsletter",
                )
            )
    return events


def _kwargs_calls(emitter: Emitter, count: int) -> Callable[[], None]:
    def run() -> None:
        use, disclosure = emitter.use, emitter.disclosure
        recipient = Recipient(id="pay-xendit-like", kind="payment_processor")
        for n in range(count):
            subject = f"user-{n % 5000}"
            if n % 4 == 3:
                disclosure(
                    subject_id=subject,
                    data_categories=["payment.virtual_account", "transaction.amount"],
                    purpose="transaction.fulfilment",
                    recipient=recipient,
                )
            else:
                use(
                    subject_id=subject,
                    data_categories=["account.email"],
                    purpose="marketing.communications",
                    channel="newsletter",
                )

    return run


def _measure(
    make_emitter: Callable[[], Emitter], work: Callable[[Emitter], Callable[[], None]], count: int
) -> dict[str, Any]:
    emitter = make_emitter()
    emitter.flush(10)  # connected, producer id acquired: not part of the figure
    run = work(emitter)
    gc.collect()
    gc.freeze()  # the prebuilt models are long-lived: keep the collector off them
    sender_clock = _sender_clock(emitter)
    sender_cpu = time.clock_gettime(sender_clock) if sender_clock is not None else 0.0
    wall, cpu = time.perf_counter(), time.thread_time()
    run()
    emit_wall, emit_cpu = time.perf_counter() - wall, time.thread_time() - cpu
    delivered = emitter.flush(120)
    total_wall = time.perf_counter() - wall
    if sender_clock is not None:
        sender_cpu = time.clock_gettime(sender_clock) - sender_cpu
    stats = emitter.stats()
    emitter.close()
    gc.unfreeze()
    return {
        "emit_rate": count / emit_wall,
        "emit_cpu_us": emit_cpu / count * 1e6,
        "cpu_rate": count / emit_cpu if emit_cpu else float("inf"),
        "delivered_rate": count / total_wall,
        "sender_cpu_us": sender_cpu / count * 1e6,
        "delivered": delivered and stats.delivered == count,
    }


def _sender_clock(emitter: Emitter) -> int | None:
    """The CPU clock of the emitter's sender thread (Linux), to count its share too."""
    thread = getattr(emitter._runner, "_thread", None)
    if thread is None or thread.ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return None
    return time.pthread_getcpuclockid(thread.ident)


def _broker_answers(bootstrap: str) -> bool:
    try:
        from confluent_kafka.admin import AdminClient

        AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=3)
        return True
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the best is shown")
    args = parser.parse_args()
    count = args.events

    ready, raw = _models(count, ready=True), _models(count, ready=False)

    def emit_all(events: list[Event]) -> Callable[[Emitter], Callable[[], None]]:
        def work(emitter: Emitter) -> Callable[[], None]:
            emit = emitter.emit

            def run() -> None:
                for event in events:
                    emit(event)

            return run

        return work

    paths: list[tuple[str, Callable[[Emitter], Callable[[], None]]]] = [
        ("emit(model), ready", emit_all(ready)),
        ("emit(model), raw subject", emit_all(raw)),
        ("use()/disclosure() kwargs", lambda e: _kwargs_calls(e, count)),
    ]

    def memory_emitter() -> Emitter:
        memory = MemoryTransport()
        # keep the last thousand only: measure the SDK, not the cost of a list of 10^5 messages
        memory.messages = deque(maxlen=1000)  # type: ignore[assignment]
        return Emitter(SETTINGS, transport=memory, background=True)

    transports: list[tuple[str, Callable[[], Emitter]]] = [("memory", memory_emitter)]
    spool_root = Path(tempfile.mkdtemp(prefix="jejak-bench-"))
    topic = f"bench.sdk.{uuid.uuid4().hex[:8]}"
    if _broker_answers(args.bootstrap):

        def kafka_emitter() -> Emitter:
            settings = SETTINGS.model_copy(update={"spool_dir": spool_root / uuid.uuid4().hex[:6]})
            return Emitter(
                settings, kafka=KafkaSettings(bootstrap_servers=args.bootstrap, topic=topic)
            )

        transports.append(("kafka", kafka_emitter))
    else:
        print(f"(no broker at {args.bootstrap}: kafka transport skipped)")

    print(
        f"jejak SDK benchmark: {count:,} events per run, best of {args.repeat}, "
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU(s)"
    )
    print(
        f"{'transport':9} {'path':28} {'emit/s':>10} {'CPU us/ev':>10} {'1-core/s':>10} "
        f"{'sender us/ev':>12} {'delivered/s':>12}"
    )
    try:
        _run_rows(transports, paths, count, args.repeat)
    finally:
        if len(transports) > 1:
            _delete_topic(args.bootstrap, topic)
        shutil.rmtree(spool_root, ignore_errors=True)


def _delete_topic(bootstrap: str, topic: str) -> None:
    """The benchmark's topic is scratch: leave the broker as it was (best effort)."""
    from confluent_kafka.admin import AdminClient

    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the result
        admin.delete_topics([topic])[topic].result(10)
    except Exception as exc:
        print(f"(could not delete {topic}: {exc})")


def _run_rows(
    transports: list[tuple[str, Callable[[], Emitter]]],
    paths: list[tuple[str, Callable[[Emitter], Callable[[], None]]]],
    count: int,
    repeat: int,
) -> None:
    for transport_name, make in transports:
        for path_name, work in paths:
            runs = [_measure(make, work, count) for _ in range(repeat)]
            result = max(runs, key=lambda r: r["emit_rate"])  # the least disturbed run
            delivered = (
                f"{result['delivered_rate']:>12,.0f}" if result["delivered"] else "  NOT ALL"
            )
            print(
                f"{transport_name:9} {path_name:28} {result['emit_rate']:>10,.0f} "
                f"{result['emit_cpu_us']:>10.2f} {result['cpu_rate']:>10,.0f} "
                f"{result['sender_cpu_us']:>12.2f} {delivered}"
            )


if __name__ == "__main__":
    main()
