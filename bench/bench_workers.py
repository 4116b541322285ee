"""``jejak consume --workers N``, 1 against 2: ``python -m bench.bench_workers``.

One preloaded topic (the simulated marketplace of ``bench_consume``, 6
partitions); each run is the real command, ``python -m jejak consume
--no-serve --workers N --max-messages <all>``, in a fresh process with a
fresh consumer group and a fresh chDB folder, the contenders interleaved
(rotating order), ``--runs`` times.

Measured from outside, two ways:

- **whole command** (start-up included: Python, imports, the store opened and
  migrated, the workers spawned, the group joined and rebalanced): wall
  time, and CPU time of every process (``RUSAGE_CHILDREN`` of this parent
  after the command ends: the command's and its workers', every thread,
  chDB's and librdkafka's included);
- **steady**: while it runs, this parent samples the group's committed
  offsets and the CPU time of the command's process tree (``/proc``, Linux)
  every 0.25 s; between 30% and 95% of the topic committed (past the start
  and the rebalances of joining workers), the events per second of wall time
  and the CPU microseconds per event.

Reported: median / min / max over the rounds.

Needs a broker: ``--bootstrap`` (default ``$JEJAK_BENCH_KAFKA`` or
127.0.0.1:9092). Several ``jejak consume`` processes against a ClickHouse
server are not measured here.
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
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.bench_consume import preload, simulated_payloads


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds so far of a process and its descendants, every thread (``/proc``)."""
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += used.get(pid, 0.0)
        todo += [child for child, p in parent.items() if p == pid]
    return total


def committed(watcher: Any, topic: str, partitions: int = 6) -> int:
    """Messages the group has committed on the topic (its offsets, summed)."""
    from confluent_kafka import TopicPartition

    tps = watcher.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=5)
    return sum(max(tp.offset, 0) for tp in tps)


def consume(bootstrap: str, topic: str, n: int, workers: int, folder: Path) -> dict[str, Any]:
    """One ``jejak consume --workers N`` over the whole topic: its totals, wall and CPU."""
    from confluent_kafka import Consumer

    run = uuid.uuid4().hex[:8]
    group = f"bench-{run}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JEJAK_")}
    env.update(
        JEJAK_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
        JEJAK_KAFKA__TOPIC=topic,
        JEJAK_KAFKA__GROUP_ID=group,
        JEJAK_KAFKA__DEAD_LETTER_TOPIC=f"bench.{run}.dlq",
        JEJAK_KAFKA__ALERTS_TOPIC=f"bench.{run}.alerts",
        JEJAK_STORE__DSN=f"chdb://{folder}",
        JEJAK_STORE__DATABASE="bench",
        JEJAK_SDK__ALLOW_DEVELOPMENT_KEY="true",
        JEJAK_CONSUMER__PROGRESS_EVERY_S="0",
    )
    cmd = [sys.executable, "-m", "jejak", "consume", "--no-serve", "--workers", str(workers)]
    cmd += ["--max-messages", str(n), "--idle-timeout", "30", "--retention-every", "0"]
    # reads the group's offsets without joining it (no subscription)
    watcher = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    samples: list[tuple[float, int, float]] = []
    c0, w0 = children_cpu(), time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()
    output: list[str] = []
    reader = threading.Thread(
        target=lambda: (output.extend(proc.communicate()), done.set()), daemon=True
    )
    reader.start()
    while not done.wait(0.25):
        samples.append((time.perf_counter(), committed(watcher, topic), tree_cpu(proc.pid)))
    c1, w1 = children_cpu(), time.perf_counter()
    watcher.close()
    out, err = output
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        sys.stderr.write(err[-3000:])
        raise SystemExit(f"jejak consume --workers {workers} failed ({proc.returncode})")
    totals = json.loads(lines[-1])
    first = next(x for x in samples if x[1] >= 0.30 * n)
    last = next((x for x in samples if x[1] >= 0.95 * n), samples[-1])
    events = last[1] - first[1]
    return {
        "messages": totals["messages"],
        "events": totals["events"],
        "per_worker": [w.get("messages", 0) for w in totals.get("workers", [])],
        "cpu_s": c1 - c0,
        "wall_s": w1 - w0,
        "steady_rate": events / (last[0] - first[0]),
        "steady_cpu_us": (last[2] - first[2]) / events * 1e6,
    }


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("JEJAK_BENCH_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    topic = f"bench.{uuid.uuid4().hex[:8]}.events"
    payloads = simulated_payloads(args.users)
    n = len(payloads)
    print(f"preloading {n:,} events into {topic} (6 partitions)", flush=True)
    preload(args.bootstrap, topic, payloads)
    results: dict[int, list[dict[str, Any]]] = {w: [] for w in args.workers}
    with tempfile.TemporaryDirectory(prefix="jejak-bench-workers-") as tmp:
        for r in range(args.runs):
            k = r % len(args.workers)
            for workers in args.workers[k:] + args.workers[:k]:
                res = consume(args.bootstrap, topic, n, workers, Path(tmp) / f"w{workers}-{r}")
                results[workers].append(res)
                print(
                    f"  run {r + 1} workers={workers}: steady {res['steady_rate']:>6,.0f} "
                    f"events/s wall, {res['steady_cpu_us']:>4.0f} CPU-us/event; whole "
                    f"{res['messages'] / res['wall_s']:>6,.0f} events/s wall, "
                    f"{res['cpu_s'] / res['messages'] * 1e6:>4.0f} CPU-us/event "
                    f"({res['wall_s']:.1f} s wall, {res['cpu_s']:.1f} CPU-s; per worker "
                    f"{res['per_worker'] or [res['messages']]})",
                    flush=True,
                )
    summary: dict[str, Any] = {"events": n, "runs": args.runs}
    for workers, runs in results.items():
        figures = summary[f"workers_{workers}"] = {
            "steady_events_per_s_wall": stats([x["steady_rate"] for x in runs]),
            "steady_cpu_us_per_event": stats([x["steady_cpu_us"] for x in runs]),
            "whole_events_per_s_wall": stats([x["messages"] / x["wall_s"] for x in runs]),
            "whole_cpu_us_per_event": stats([x["cpu_s"] / x["messages"] * 1e6 for x in runs]),
            "whole_wall_s": stats([x["wall_s"] for x in runs]),
        }
        for what in ("steady", "whole"):
            f = figures[f"{what}_events_per_s_wall"]
            c = figures[f"{what}_cpu_us_per_event"]
            print(
                f"workers={workers} {what}: {f['median']:,.0f} events/s wall "
                f"({f['min']:,.0f} - {f['max']:,.0f}); {c['median']:.0f} CPU-us/event "
                f"({c['min']:.0f} - {c['max']:.0f})"
            )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
