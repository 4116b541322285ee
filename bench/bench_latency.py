"""Produce → alert latency and consumer start-up: ``python -m bench.bench_latency``.

**Latency** (``--rate``, default 5,000 events/s): the real consumer runs in a
child process on a fresh topic and store; once its group is stable this
process produces a simulated stream at the given rate (ticks of 10 ms) and
reads the alerts topic, timing each alert from the produce call of its event
to the alert's arrival: p50 / p95 / p99 over every alert, per run.

**Start-up** (``--startup 1000000 10000000``): the consumer started against a
store of that many events (``bench.bench_queries`` builds and keeps them, with
every log's head signed), reading a fresh topic named ``bench`` whose
partitions continue the stored chains; timed from the start of the process's
consumer construction to the first batch written (``on_batch``), which
includes opening the store, reading the chain heads and the consent ledgers of
the batch's subjects. Before each run a short child puts the stored heads at
Kafka offset -1 (the previous run's rows are then history too) and names
subjects the store holds: each run's 2,000 events (a new simulated day, new
event ids) are theirs, so the ledgers read are real ones. Reported: wall clock
and the consumer process's CPU seconds at its first batch.

Needs a broker: ``--bootstrap`` (default ``$JEJAK_BENCH_KAFKA`` or 127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any


def _settings(bootstrap: str, topic: str, group: str, dsn: str, database: str) -> Any:
    from jejak.settings import KafkaSettings, SdkSettings, Settings, StoreSettings

    run = uuid.uuid4().hex[:8]
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=bootstrap,
            topic=topic,
            dead_letter_topic=f"{topic}.{run}.dlq",
            alerts_topic=f"{topic}.alerts",
            group_id=group,
        ),
        store=StoreSettings(dsn=dsn, database=database),  # type: ignore[arg-type]
        sdk=SdkSettings(allow_development_key=True),
    )


def consumer_child(args: argparse.Namespace) -> dict[str, Any]:
    """Run the real consumer; report when its first batch was written."""
    from jejak.consumers.pipeline import build_consumer
    from jejak.consumers.topics import ensure_topics
    from jejak.lineage.policy import load_policies
    from jejak.lineage.store import connect

    settings = _settings(args.bootstrap, args.topic, args.group, args.dsn, args.database)
    ensure_topics(settings.kafka)
    policies = load_policies()
    first: list[tuple[float, float]] = []
    t0, c0 = time.perf_counter(), time.process_time()
    store = connect(settings.store)
    with build_consumer(settings, store=store, policies=policies) as consumer:
        stats = consumer.run(
            max_messages=args.messages,
            idle_timeout_s=args.idle,
            on_batch=lambda _s: first or first.append((time.perf_counter(), time.process_time())),
        )
    return {
        "messages": stats.messages,
        "alerts": stats.alerts,
        "first_batch_s": (first[0][0] - t0) if first else None,
        "first_batch_cpu_s": (first[0][1] - c0) if first else None,
    }


def prepare_child(events: int) -> dict[str, Any]:
    """Make the stored chains continue at offset 0 of a new topic; name stored subjects."""
    from bench.bench_queries import build, head_offsets, open_store

    store = open_store(events)
    build(store, events, log=lambda line: print(line, file=sys.stderr))
    head_offsets(store)
    subjects = store.query_columns(
        "SELECT DISTINCT subject_id FROM {db}.bench_seed WHERE subject_id != '' ORDER BY 1",
        width=1,
    )[0]
    store.close()
    return {"subjects": list(subjects)}


def continuing_payloads(subjects: list[str], fresh: int, seed: int) -> list[tuple[bytes, bytes]]:
    """A simulated day whose users are these stored subjects (in pseudonym form)."""
    from jejak.producers.simulate import simulate
    from jejak.schemas.codec import Codec

    codec = Codec()
    events = simulate(users=max(50, fresh // 13), days=1, seed=seed, violation_rate=0.03).events
    who: dict[str, str] = {}
    out = []
    for e in events[:fresh]:
        sid = who.setdefault(e.subject_id, subjects[len(who) % len(subjects)])
        e = e.model_copy(update={"subject_id": sid})
        out.append((sid.encode(), codec.encode(e)))
    return out


def _stable(bootstrap: str, group: str, timeout: float = 60) -> None:
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for future in admin.describe_consumer_groups([group]).values():
            try:
                if future.result(10).state == ConsumerGroupState.STABLE:
                    return
            except Exception:  # not known yet
                pass
        time.sleep(0.2)
    raise SystemExit(f"consumer group {group} did not become stable in {timeout:.0f} s")


def _child(cmd: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=900)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        raise SystemExit(f"consumer child failed ({proc.returncode})")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def latency_run(bootstrap: str, rate: int, users: int, folder: Path) -> dict[str, Any]:
    from confluent_kafka import Consumer, Producer

    from bench.bench_consume import create_topic, simulated_payloads

    run = uuid.uuid4().hex[:8]
    topic, group = f"lat.{run}.events", f"lat-{run}"
    payloads = simulated_payloads(users)
    create_topic(bootstrap, topic)
    create_topic(bootstrap, f"{topic}.alerts")
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    done = threading.Event()

    def read_alerts() -> None:
        c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"lat-alerts-{run}",
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 5,
            }
        )
        c.subscribe([f"{topic}.alerts"])
        while not done.is_set():
            for m in c.consume(1000, 0.05):
                if not m.error() and m.value():
                    event_id = json.loads(m.value()).get("event_id")
                    if event_id:
                        arrived.setdefault(event_id, time.perf_counter())
        c.close()

    cmd = [sys.executable, "-m", "bench.bench_latency", "--child", "--bootstrap", bootstrap]
    cmd += ["--topic", topic, "--group", group, "--dsn", f"chdb://{folder}/lat-{run}"]
    cmd += ["--database", "bench", "--messages", str(len(payloads)), "--idle", "15"]
    proc = _child(cmd)
    _stable(bootstrap, group)
    reader = threading.Thread(target=read_alerts, daemon=True)
    reader.start()
    time.sleep(1)  # the alert reader's own group join
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    from jejak.schemas.codec import Codec

    codec = Codec()
    ids = [codec.decode(value).event_id for _, value in payloads]
    start = time.perf_counter()
    per_tick = max(1, rate // 100)
    for i in range(0, len(payloads), per_tick):
        due = start + i / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        for (key, value), event_id in zip(
            payloads[i : i + per_tick], ids[i : i + per_tick], strict=True
        ):
            sent[event_id] = time.perf_counter()
            producer.produce(topic, key=key, value=value)
        producer.poll(0)
    producer.flush(30)
    produced_s = time.perf_counter() - start
    child = _result(proc)
    time.sleep(1)
    done.set()
    reader.join(10)
    waits = sorted((arrived[e] - sent[e]) * 1000 for e in arrived if e in sent)
    if not waits:
        raise SystemExit("no alert arrived")

    def pct(p: float) -> float:
        return waits[min(len(waits) - 1, round(p / 100 * (len(waits) - 1)))]

    return {
        "events": len(payloads),
        "achieved_rate": len(payloads) / produced_s,
        "alerts": len(waits),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "consumer": child,
    }


def startup_run(bootstrap: str, events: int, fresh: int = 2000) -> dict[str, Any]:
    """The consumer against a stored history of ``events``, on a fresh topic ``bench``."""
    import random

    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

    from bench.bench_consume import create_topic
    from bench.bench_queries import ROOT, database_for

    prep = [sys.executable, "-m", "bench.bench_latency", "--prepare", str(events)]
    subjects = _result(_child(prep))["subjects"]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if "bench" in admin.list_topics(timeout=10).topics:
        for future in admin.delete_topics(["bench"]).values():
            future.result(30)
        time.sleep(2)
    create_topic(bootstrap, "bench")
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    payloads = continuing_payloads(subjects, fresh, random.randrange(1 << 30))
    for key, value in payloads:  # a simulated day can be a little short of ``fresh``
        producer.produce("bench", key=key, value=value)
    producer.flush(30)
    db = database_for(events)
    cmd = [sys.executable, "-m", "bench.bench_latency", "--child", "--bootstrap", bootstrap]
    cmd += ["--topic", "bench", "--group", f"startup-{uuid.uuid4().hex[:8]}"]
    cmd += ["--dsn", f"chdb://{ROOT.resolve()}/chdb-{db}", "--database", db]
    cmd += ["--messages", str(len(payloads)), "--idle", "90"]
    return _result(_child(cmd))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("JEJAK_BENCH_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--users", type=int, default=8000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--startup", type=int, nargs="*", default=[])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    for hidden in ("--topic", "--group", "--dsn", "--database"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--idle", type=float, default=15, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:
        print(json.dumps(prepare_child(args.prepare)), flush=True)
        return {}
    if args.child:
        print(json.dumps(consumer_child(args)), flush=True)
        return {}
    import tempfile

    out: dict[str, Any] = {"latency": [], "startup": {}}
    if args.runs:
        with tempfile.TemporaryDirectory(prefix="jejak-lat-") as tmp:
            for r in range(args.runs):
                res = latency_run(args.bootstrap, args.rate, args.users, Path(tmp))
                out["latency"].append(res)
                print(
                    f"  latency run {r + 1}: {res['achieved_rate']:,.0f} events/s produced, "
                    f"{res['alerts']:,} alerts: p50 {res['p50_ms']:.0f} ms, "
                    f"p95 {res['p95_ms']:.0f} ms, p99 {res['p99_ms']:.0f} ms",
                    flush=True,
                )
    for n in args.startup:
        for r in range(args.runs or 1):
            res = startup_run(args.bootstrap, n)
            out["startup"].setdefault(str(n), []).append(res)
            first, cpu = res["first_batch_s"], res["first_batch_cpu_s"]
            shown = "no batch" if first is None else f"{first:.2f} s ({cpu:.2f} CPU-s)"
            print(f"  start-up at {n:,} stored events, run {r + 1}: first batch {shown}")
    for n, runs in out["startup"].items():
        firsts = [r["first_batch_s"] for r in runs if r["first_batch_s"] is not None]
        if firsts:
            print(
                f"start-up at {int(n):,}: median {statistics.median(firsts):.2f} s "
                f"(min {min(firsts):.2f}, max {max(firsts):.2f}), "
                f"{len(runs) - len(firsts)} run(s) without a batch"
            )
    if out["latency"]:
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            values = [x[key] for x in out["latency"]]
            print(
                f"produce -> alert {key[:-3]}: median {statistics.median(values):.0f} ms "
                f"(min {min(values):.0f}, max {max(values):.0f})"
            )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
