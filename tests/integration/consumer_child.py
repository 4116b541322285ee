"""A consumer process for the fault tests: ``jejak consume`` itself, killed and restarted.

chDB opens one data folder per process, so the store of a consumer in a child
process is read back in another child (``report``). Settings come from the
environment the test gives the child.

    python consumer_child.py consume [--broken] -- <jejak arguments>
    python consumer_child.py report

``--broken`` is the deliberately wrong consumer the checks must catch: it
commits a batch's offsets before writing it (so a crash in between loses it).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any


def _commit_first() -> None:
    from confluent_kafka import TopicPartition

    from jejak.consumers.worker import LineageConsumer

    process = LineageConsumer.process

    def broken(self: LineageConsumer, msgs: Any) -> None:
        last: dict[tuple[str, int], int] = {}
        for m in msgs:
            last[(m.topic(), m.partition())] = max(
                last.get((m.topic(), m.partition()), -1), m.offset()
            )
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
        self._consumer.commit(offsets=offsets, asynchronous=False)
        process(self, msgs)

    LineageConsumer.process = broken  # type: ignore[method-assign]


def consume(args: list[str]) -> None:
    from jejak.cli import cli

    if args and args[0] == "--broken":
        _commit_first()
        args = args[1:]
    if args and args[0] == "--":
        args = args[1:]
    cli.main(args=args, prog_name="jejak")


def report() -> None:
    from jejak.lineage.store import connect
    from jejak.lineage.store import queries as q
    from jejak.lineage.store.checkpoints import open_checkpointer
    from jejak.lineage.store.verify import verify
    from jejak.settings import Settings

    settings = Settings.from_env()
    store = connect(settings.store)
    checkpointer = open_checkpointer(settings, store)
    result = verify(store, checkpointer.signer.verifier(), export_dir=checkpointer.folder)
    out = {
        "events": Counter(r["event_id"] for r in q.verdicts(store)),
        "alerts": sorted(a["alert_id"] for a in q.violations(store, limit=1_000_000)),
        "dead_letters": q.totals(store)["dead_letters"],
        "verify": [f.to_dict() for f in result.findings],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "consume":
        consume(sys.argv[2:])
    else:
        report()
