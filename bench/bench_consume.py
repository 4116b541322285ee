"""The consumer against the bare loop and a Quix Streams app: ``python -m bench.bench_consume``.

One preloaded topic (a simulated marketplace, encoded by jejak's codec,
keyed by subject, 6 partitions); three contenders, each a fresh process with a
fresh consumer group and a fresh chDB folder, run in turn, interleaved
(rotating order), ``--runs`` times:

- **jejak**: the real consumer (``build_consumer(...).run``): decode and
  validate, judge, chain, one insert per batch, publish alerts, commit;
- **bare**: confluent-kafka poll of up to 5,000 messages, fastavro decode,
  one column-oriented insert of ten raw columns into chDB, synchronous commit;
- **quix**: a Quix Streams application (its own virtual environment from PyPI,
  ``.jejak/bench-quix-venv``) doing consume + the same Avro decode + a
  ``BatchingSink`` inserting the same columns (``bench/quix_app.py``).

Headline: events per CPU-second of the consumer process, every thread
counted (``getrusage(RUSAGE_SELF)`` in the child: chDB's and librdkafka's
threads included), from its first poll to its last commit. Also wall rate and
peak resident memory. Each child prints one JSON line; this parent prints
median / min / max and the ratios, and ``--json`` writes them.

Needs a broker: ``--bootstrap`` (default ``$JEJAK_BENCH_KAFKA`` or
127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

QUIX_VENV = Path(os.environ.get("JEJAK_BENCH_QUIX_VENV", ".jejak/bench-quix-venv"))
QUIX_PACKAGES = ("quixstreams", "fastavro", "clickhouse-connect")


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quix_python() -> Path:
    """The Quix venv's Python, created and filled from PyPI on first use."""
    python = QUIX_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {QUIX_VENV} (quixstreams from PyPI)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
    if subprocess.run([str(python), "-c", "import quixstreams, clickhouse_connect"]).returncode:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *QUIX_PACKAGES],
            check=True,
        )
    return python


def quix_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('quixstreams'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


# -- the parent: preload, run the contenders in turn, report ------------------------------------


def simulated_payloads(users: int, seed: int = 11) -> list[tuple[bytes, bytes]]:
    """(key, value) of a simulated marketplace, pseudonymous, encoded by jejak's codec."""
    from pydantic import SecretStr

    from jejak.producers.simulate import simulate
    from jejak.schemas.codec import Codec
    from jejak.schemas.pseudonym import pseudonymize

    key = SecretStr("bench")
    codec = Codec()
    out = []
    for e in simulate(users=users, days=1, seed=seed, violation_rate=0.03).events:
        e = e.model_copy(update={"subject_id": pseudonymize(e.subject_id, key)})
        out.append((e.subject_id.encode(), codec.encode(e)))
    return out


def export_schemas(path: Path) -> None:
    from jejak.schemas.codec import Codec

    schemas = {s.fingerprint.hex(): s.definition for s in Codec().catalog}
    path.write_text(json.dumps(schemas))


def create_topic(bootstrap: str, topic: str, partitions: int = 6) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)


def preload(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> None:
    from confluent_kafka import Producer

    create_topic(bootstrap, topic)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "zstd"}
    )
    for key, value in payloads:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(120)


def run_child(cmd: list[str]) -> dict[str, Any]:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        sys.stderr.write(out.stderr[-3000:])
        raise SystemExit(f"{cmd[:4]} failed ({out.returncode})")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=8000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("JEJAK_BENCH_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument("--only", nargs="+", default=["jejak", "bare", "quix"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--schemas", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child = {"bare": bare_child, "jejak": jejak_child}[args.child]
        print(json.dumps(child(args)), flush=True)
        return {}

    run = uuid.uuid4().hex[:8]
    topic = f"bench.{run}.events"
    payloads = simulated_payloads(args.users)
    n = len(payloads)
    print(f"preloading {n:,} events into {topic} (6 partitions)", flush=True)
    preload(args.bootstrap, topic, payloads)
    python = quix_python() if "quix" in args.only else None
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in args.only}
    with tempfile.TemporaryDirectory(prefix="jejak-bench-") as tmp:
        schemas = Path(tmp) / "schemas.json"
        export_schemas(schemas)
        for r in range(args.runs):
            order = args.only[r % len(args.only) :] + args.only[: r % len(args.only)]
            for name in order:
                folder = Path(tmp) / f"{name}-{r}"
                common = [args.bootstrap, topic, f"bench-{run}-{name}-{r}", str(n)]
                if name == "quix":
                    assert python is not None
                    here = Path(__file__).with_name("quix_app.py")
                    cmd = [str(python), str(here), *common, str(schemas), str(folder)]
                else:
                    cmd = [sys.executable, "-m", "bench.bench_consume", "--child", name]
                    cmd += ["--bootstrap", args.bootstrap, "--topic", topic]
                    cmd += ["--messages", str(n), "--schemas", str(schemas)]
                    cmd += ["--folder", str(folder), "--users", f"{r}"]  # run number
                res = run_child(cmd)
                res["rate_cpu"] = res["messages"] / res["cpu_s"]
                res["rate_wall"] = res["messages"] / res["wall_s"]
                results[name].append(res)
                print(
                    f"  run {r + 1} {name:<6} {res['rate_cpu']:>9,.0f} events/CPU-s "
                    f"({res['cpu_s']:.1f} CPU-s, {res['wall_s']:.1f} s wall, "
                    f"{res['peak_rss_mb']:.0f} MB peak, {res['stored']:,} stored)",
                    flush=True,
                )
    summary: dict[str, Any] = {"events": n, "runs": args.runs}
    if python is not None:
        summary["quixstreams"] = quix_version(python)
    for name, runs in results.items():
        summary[name] = {
            "events_per_cpu_s": stats([x["rate_cpu"] for x in runs]),
            "events_per_s_wall": stats([x["rate_wall"] for x in runs]),
            "peak_rss_mb": stats([x["peak_rss_mb"] for x in runs]),
        }
        f = summary[name]["events_per_cpu_s"]
        print(
            f"{name:<6} events/CPU-s median {f['median']:,.0f} "
            f"(min {f['min']:,.0f}, max {f['max']:,.0f}); peak "
            f"{summary[name]['peak_rss_mb']['median']:.0f} MB"
        )
    for other in ("bare", "quix"):
        if "jejak" in results and other in results:
            ratios = [
                j["rate_cpu"] / o["rate_cpu"]
                for j, o in zip(results["jejak"], results[other], strict=True)
            ]
            summary[f"ratio_jejak_{other}"] = stats(ratios)
            print(
                f"jejak / {other}: median {statistics.median(ratios):.2f} "
                f"(min {min(ratios):.2f}, max {max(ratios):.2f}), per interleaved round"
            )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


# -- the children ------------------------------------------------------------------------------


def bare_child(args: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import Consumer

    sys.path.insert(0, str(Path(__file__).parent))
    import rawsink

    schemas = rawsink.load_schemas(args.schemas)
    sink = rawsink.Sink(args.folder)
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"bare-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([args.topic])
    c0, w0 = cpu(), time.perf_counter()
    seen = 0
    while seen < args.messages:
        messages = consumer.consume(5000, 0.5)
        good = [m for m in messages if not m.error()]
        if not good:
            continue
        records = [rawsink.decode(m.value(), schemas) for m in good]
        sink.insert(rawsink.columns(records, [(m.partition(), m.offset()) for m in good]))
        consumer.commit(asynchronous=False)
        seen += len(good)
    c1, w1 = cpu(), time.perf_counter()
    consumer.close()
    return {
        "messages": seen,
        "stored": sink.count(),
        "cpu_s": c1 - c0,
        "wall_s": w1 - w0,
        "peak_rss_mb": peak_mb(),
    }


def jejak_child(args: argparse.Namespace) -> dict[str, Any]:
    from jejak.consumers.pipeline import build_consumer
    from jejak.consumers.topics import ensure_topics
    from jejak.lineage.policy import load_policies
    from jejak.lineage.store import connect, migrate
    from jejak.settings import KafkaSettings, SdkSettings, Settings, StoreSettings

    run = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap_servers=args.bootstrap,
        topic=args.topic,
        dead_letter_topic=f"bench.{run}.dlq",
        alerts_topic=f"bench.{run}.alerts",
        group_id=f"jejak-{run}",
    )
    dsn = f"chdb://{args.folder}"
    settings = Settings(
        kafka=kafka,
        store=StoreSettings(dsn=dsn, database="bench"),  # type: ignore[arg-type]
        sdk=SdkSettings(allow_development_key=True),
    )
    policies = load_policies()
    store = connect(dsn, "bench")
    migrate(store)  # the layout is made before the clock starts, as for the references
    ensure_topics(kafka)
    c0, w0 = cpu(), time.perf_counter()
    with build_consumer(settings, store=store, policies=policies) as consumer:
        stats_ = consumer.run(max_messages=args.messages, idle_timeout_s=20)
    c1, w1 = cpu(), time.perf_counter()
    stored = int(store.query("SELECT count() AS n FROM {db}.events")[0]["n"])
    return {
        "messages": stats_.messages,
        "stored": stored,
        "cpu_s": c1 - c0,
        "wall_s": w1 - w0,
        "peak_rss_mb": peak_mb(),
    }


if __name__ == "__main__":
    main(sys.argv[1:])
