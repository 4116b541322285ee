"""Two consumers, one store, a rebalance mid-stream: verdicts as one consumer gives them.

A partition handed over in a rebalance carries its subjects' consent state
only through the store: its new owner reads the partition's chain head when
the group assigns it, and each subject's consent ledger when it first meets
them. If it judged with what it held before (nothing, or a stale copy),
disclosures after the hand-over would get other verdicts than in a run with a
single consumer, which is the reference.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest
from pipeline_support import events, make_settings, produce

from jejak.consumers.pipeline import build_consumer
from jejak.consumers.topics import ensure_topics
from jejak.consumers.worker import ConsumerStats, LineageConsumer
from jejak.lineage.store import connect
from jejak.lineage.store import queries as q
from jejak.lineage.store.checkpoints import open_checkpointer
from jejak.lineage.store.verify import verify
from jejak.settings import Settings

pytestmark = pytest.mark.integration


def _verdicts(settings: Settings) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    store = connect(settings.store)
    return {
        r["event_id"]: (r["decision"], r["basis"] or "", tuple(r["reasons"]))
        for r in q.verdicts(store)
    }


def _run(
    consumer: LineageConsumer,
    errors: list[BaseException],
    on_batch: Callable[[ConsumerStats], None] | None = None,
) -> None:
    try:
        consumer.run(idle_timeout_s=4, on_batch=on_batch)
    except BaseException as exc:  # the test thread reports it
        errors.append(exc)


def test_a_rebalance_mid_stream_gives_the_verdicts_of_a_single_consumer(
    kafka_bootstrap: str, clickhouse_dsn: str
) -> None:
    run = uuid.uuid4().hex[:8]
    single = make_settings(kafka_bootstrap, clickhouse_dsn, f"r1_{run}", run=run)
    ensure_topics(single.kafka)
    stream = events(users=150)
    produce(kafka_bootstrap, single.kafka.topic, stream)

    # the reference: one consumer reads everything
    with build_consumer(single, batch_size=100) as only:
        assert only.run(idle_timeout_s=4).events == len(stream)
    reference = _verdicts(single)
    assert len(reference) == len(stream)

    # the same stream, another group, another database: two consumers and a rebalance
    two = single.model_copy(
        update={
            "kafka": single.kafka.model_copy(update={"group_id": f"ops-{run}-two"}),
            "store": single.store.model_copy(update={"database": f"r2_{run}"}),
        }
    )
    store = connect(two.store)
    errors: list[BaseException] = []
    first = build_consumer(two, store=store, batch_size=50)
    second = build_consumer(two, store=store, batch_size=50)

    def pace(stats: ConsumerStats) -> None:
        # past a third, the first consumer slows down until the second has partitions,
        # so the hand-over happens mid-stream however long the group takes to rebalance
        if stats.messages >= len(stream) // 3 and not second.assigned:
            time.sleep(0.25)

    a = threading.Thread(target=_run, args=(first, errors, pace))
    a.start()
    deadline = time.monotonic() + 60
    while first.stats.messages < len(stream) // 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.stats.messages < len(stream), "the first consumer finished before the join"
    b = threading.Thread(target=_run, args=(second, errors))
    b.start()  # joins the group: partitions move from the first consumer to the second
    a.join(120)
    b.join(120)
    first.close()
    second.close()
    assert not errors, errors

    # a rebalance happened mid-stream: both wrote, nothing twice, nothing lost
    assert first.stats.events > 0 and second.stats.events > 0
    assert first.stats.events + second.stats.events == len(stream)
    assert _verdicts(two) == reference

    # the store is as evidence wants it: each chain whole, every row under a checkpoint
    checkpointer = open_checkpointer(two, store)
    report = verify(store, checkpointer.signer.verifier(), export_dir=checkpointer.folder)
    assert report.ok, [f.to_dict() for f in report.findings]
