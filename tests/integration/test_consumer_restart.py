"""A consumer restarted mid-stream judges as one that never stopped.

A new consumer process holds no consent state: it reads a subject's consent
ledger from the store the first time a batch brings one of their events. If
it judged with nothing, or with part of a ledger, or replayed it out of
order, verdicts after the restart would differ from those of one
uninterrupted run, which is the reference. The stream includes a consent
withdrawn before the restart (and granted before that) followed by a
disclosure after it, and a consent granted before the restart followed by a
disclosure after it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from pipeline_support import events, make_settings, produce
from pydantic import SecretStr

from jejak.consumers.pipeline import build_consumer
from jejak.consumers.topics import ensure_topics
from jejak.lineage.policy import load_policies
from jejak.lineage.policy.evaluator import Evaluator
from jejak.lineage.store import connect
from jejak.lineage.store import queries as q
from jejak.lineage.store.checkpoints import open_checkpointer
from jejak.lineage.store.verify import verify
from jejak.schemas.models import Event
from jejak.schemas.pseudonym import pseudonymize
from jejak.settings import Settings

pytestmark = pytest.mark.integration

Verdicts = dict[str, tuple[str, str, tuple[str, ...]]]


def _verdicts(settings: Settings) -> Verdicts:
    store = connect(settings.store)
    return {
        r["event_id"]: (r["decision"], r["basis"] or "", tuple(r["reasons"]))
        for r in q.verdicts(store)
    }


def _stream() -> tuple[list[Event], list[Event], Event, Event]:
    """(before the restart, after it, the disclosure after a withdrawal, the one after a grant)."""
    stream = events(users=150)
    half = len(stream) // 2
    before, after = stream[:half], stream[half:]
    # a disclosure that rests on the subject's consent to this recipient (basis C.2)
    template = next(
        e for e in stream if e.kind == "disclosure" and e.purpose == "marketing.contests"
    )
    accepted = next(e for e in stream if e.kind == "policy_accepted")
    granted = next(e for e in stream if e.kind == "consent" and e.action == "granted")
    scope = f"recipient:{template.recipient.id}"  # type: ignore[attr-defined]
    cut = before[-1].occurred_at

    def subject(name: str) -> str:
        return pseudonymize(f"restart-{name}", SecretStr("restart"))

    def copy(event: Event, sid: str, at: timedelta, **fields: object) -> Event:
        update = {"event_id": str(uuid.uuid4()), "subject_id": sid, "occurred_at": cut + at}
        return event.model_copy(update={**update, **fields})

    crafted: dict[str, Event] = {}
    for name, withdraw in (("withdrew", True), ("granted", False)):
        sid = subject(name)
        before.append(copy(accepted, sid, timedelta(hours=-3)))
        before.append(copy(granted, sid, timedelta(hours=-2), scope=scope, action="granted"))
        if withdraw:
            before.append(copy(granted, sid, timedelta(hours=-1), scope=scope, action="withdrawn"))
        crafted[name] = copy(template, sid, timedelta(hours=1))
        after.insert(0, crafted[name])
    return before, after, crafted["withdrew"], crafted["granted"]


def test_a_restart_mid_stream_gives_the_verdicts_of_an_uninterrupted_run(
    kafka_bootstrap: str, clickhouse_dsn: str
) -> None:
    before, after, withdrew, granted = _stream()
    # the premise: verdicts after the restart depend on state from before it
    policies = load_policies()
    whole = Evaluator(policies)
    reference_verdicts = [whole.evaluate(e) for e in [*before, *after]][len(before) :]
    blank = Evaluator(policies)
    without_state = [blank.evaluate(e) for e in after]
    differ = {
        e.event_id
        for e, a, b in zip(after, reference_verdicts, without_state, strict=True)
        if (a.decision, a.reasons) != (b.decision, b.reasons)
    }
    assert granted.event_id in differ and len(differ) > 5
    by_id = {v.event_id: v for v in reference_verdicts}
    assert by_id[withdrew.event_id].decision == "violation"
    assert by_id[granted.event_id].decision == "allowed"

    run = uuid.uuid4().hex[:8]
    restarted = make_settings(kafka_bootstrap, clickhouse_dsn, f"rs1_{run}", run=run)
    once = restarted.model_copy(
        update={
            "kafka": restarted.kafka.model_copy(update={"group_id": f"ops-{run}-once"}),
            "store": restarted.store.model_copy(update={"database": f"rs2_{run}"}),
        }
    )
    ensure_topics(restarted.kafka)

    # a consumer reads what was produced so far, and stops
    produce(kafka_bootstrap, restarted.kafka.topic, before)
    with build_consumer(restarted, batch_size=50) as first:
        assert first.run(idle_timeout_s=4).events == len(before)
    # more events; a new consumer (no state in memory) goes on where the first stopped
    produce(kafka_bootstrap, restarted.kafka.topic, after)
    with build_consumer(restarted, batch_size=50) as second:
        stats = second.run(idle_timeout_s=4)
    assert stats.events == len(after) and stats.replayed == 0

    # the reference: one consumer, never stopped, over the whole stream
    with build_consumer(once, batch_size=50) as only:
        assert only.run(idle_timeout_s=4).events == len(before) + len(after)
    reference = _verdicts(once)
    assert len(reference) == len(before) + len(after)
    assert _verdicts(restarted) == reference
    assert reference[withdrew.event_id][0] == "violation"
    assert reference[granted.event_id][0] == "allowed"

    # the chains went on from the heads read back at the restart
    store = connect(restarted.store)
    checkpointer = open_checkpointer(restarted, store)
    report = verify(store, checkpointer.signer.verifier(), export_dir=checkpointer.folder)
    assert report.ok, [f.to_dict() for f in report.findings]
