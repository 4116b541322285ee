"""``jejak demo``: a day of the marketplace through the whole pipeline.

1. starts from empty demo topics and an empty demo database;
2. simulates a day of Smarty Indonesia traffic (sign-ups, orders, payments,
   deliveries, reviews, newsletters, cookie choices, partner integrations,
   credit checks, law-enforcement requests, closures; a share of them
   violations) and emits it through the producer SDK to Kafka, plus a few
   malformed messages a broken service might send;
3. runs the lineage consumer until it has caught up;
4. shows what a compliance officer would look at: the alerts, the worst
   violations, disclosures by recipient, one subject's lineage report, overdue
   retention and the dead letters.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from datetime import UTC, date, datetime

import click

from jejak.output import make_console, render
from jejak.settings import Settings

console = make_console()

DEMO_TOPICS = {
    "topic": "demo.privacy.events",
    "dead_letter_topic": "demo.privacy.events.dlq",
    "alerts_topic": "demo.privacy.alerts",
    "group_id": "jejak-demo",
}


def _step(text: str) -> None:
    console.rule(f"[bold cyan]{text}")


@click.command("demo")
@click.option("--users", default=400, show_default=True, help="Marketplace users to simulate.")
@click.option("--days", default=1, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--violation-rate", default=0.03, show_default=True, help="Share of injected violations."
)
@click.option("--database", default="jejak_demo", show_default=True, help="Demo database (reset).")
def demo(users: int, days: int, seed: int, violation_rate: float, database: str) -> None:
    """Replay a day of marketplace traffic through Kafka, the policy engine and ClickHouse."""
    from confluent_kafka import Producer

    from jejak.consumers.pipeline import build_consumer
    from jejak.consumers.topics import delete_topics, ensure_topics, topic_names
    from jejak.lineage.cli import print_subject_report
    from jejak.lineage.policy import load_policies
    from jejak.lineage.policy.taxonomy import within
    from jejak.lineage.store import connect
    from jejak.lineage.store import queries as q
    from jejak.lineage.store.checkpoints import open_checkpointer, trust_paths
    from jejak.lineage.store.erasure import erase
    from jejak.lineage.store.proofs import prove_event
    from jejak.lineage.store.verify import verify
    from jejak.lineage.trust.proof import verify_proof
    from jejak.producers import Emitter
    from jejak.producers.simulate import simulate

    base = Settings.from_env(sdk={"allow_development_key": True})  # a demo: the public key is fine
    kafka = base.kafka.model_copy(update=DEMO_TOPICS)
    settings = base.model_copy(update={"kafka": kafka})

    _step("1. Fresh demo topics and store")
    delete_topics(kafka, topic_names(kafka))
    ensure_topics(kafka)
    store = connect(settings.store, database)
    store.drop_database()
    store.ensure_database()
    # a fresh store starts a fresh signed history (its key is kept)
    _key_file, checkpoint_dir, _name = trust_paths(settings, store.database)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    policies = load_policies(settings.policy.path)
    console.print(
        f"Kafka {kafka.bootstrap_servers}: topics {', '.join(topic_names(kafka))}\n"
        f"Store {store.redacted_dsn}, database {store.database}\n"
        f"Policy versions: {', '.join(p.version for p in policies.versions)}"
    )

    _step("2. Product services emit a simulated day through the SDK")
    first_day = date(2026, 5, 4)
    simulation = simulate(
        users=users, days=days, seed=seed, start=first_day, violation_rate=violation_rate
    )
    events = simulation.events
    t0 = time.perf_counter()
    with Emitter.from_settings(settings, transport="kafka") as emitter:
        emitter.emit_many(events)
        delivered = emitter.flush(60)
    elapsed = time.perf_counter() - t0
    console.print(
        f"{len(events):,} events from {users} users over {days} day(s) emitted in {elapsed:.1f}s; "
        f"all delivered: {delivered}"
    )
    # a broken service, writing around the SDK
    raw = Producer(kafka.client_config())
    for value in (b"not avro at all", b"\xc3\x01" + b"\x00" * 8 + b"garbage", b""):
        raw.produce(kafka.topic, key=b"broken-service", value=value)
    raw.flush(10)
    console.print("plus 3 malformed messages from a service that bypassed the SDK")

    _step("3. The lineage consumer judges every event and writes the store")
    t0 = time.perf_counter()
    checkpointer = open_checkpointer(settings, store)
    with build_consumer(settings, store=store, policies=policies) as consumer:
        stats = consumer.run(idle_timeout_s=5.0, max_messages=len(events) + 3)
        elapsed = time.perf_counter() - t0
        retention_raised = consumer.run_monitor()  # section F, as it runs on its schedule
    console.print(
        f"{stats.messages:,} messages in {elapsed:.1f}s: {stats.events:,} events stored, "
        f"{stats.dead_letters} dead letters, decisions {dict(sorted(stats.decisions.items()))}, "
        f"{stats.alerts - retention_raised} alerts; the retention monitor raised {retention_raised} more"
    )

    _step("4. Alerts")
    injected = Counter(v.reason for v in simulation.violations if v.reason != "retention_overdue")
    detected = {a["event_id"] for a in q.violations(store, limit=1_000_000)}
    caught = Counter(
        v.reason
        for v in simulation.violations
        if v.reason != "retention_overdue" and v.event_id in detected
    )
    render(
        [
            {"injected violation": reason, "injected": n, "detected": caught[reason]}
            for reason, n in sorted(injected.items())
        ],
        title="The simulator's injected violations, and how many the pipeline caught",
        empty="(none injected)",
    )
    render(q.alert_summary(store), title="Alerts by severity and reason", empty="(no alerts)")
    render(
        q.violations(store, reason="disclosure_without_consent", limit=8),
        columns=[
            "severity",
            "occurred_at",
            "subject_id",
            "recipient_id",
            "recipient_kind",
            "summary",
        ],
        title="Disclosures without consent (the headline alert), latest",
        empty="(none)",
    )

    _step("5. Lineage")
    render(
        q.disclosures(store)[:12],
        columns=[
            "recipient_id",
            "recipient_kind",
            "purpose",
            "disclosures",
            "subjects",
            "bases",
            "violations",
        ],
        title="Who received personal data, for what, on which basis (top 12)",
    )
    worst = q.subjects_with_violations(store, limit=1)
    if worst:
        print_subject_report(q.subject_report(store, worst[0]["subject_id"]).to_dict())
    retention = policies.latest.retention_after_closure
    as_of = datetime.now(UTC)
    overdue = q.retention_overdue(store, after_closure=retention, now=as_of)
    render(
        overdue[:10],
        columns=["subject_id", "category", "closed_at", "deadline", "deleted_at", "days_overdue"],
        title=f"Retention (F): data not deleted within {retention.days} days of closure, "
        f"as of {as_of:%Y-%m-%d} ({len(overdue)} subject-categories, first 10)",
        empty="(none)",
    )
    planted = [v for v in simulation.violations if v.reason == "retention_overdue"]
    found = sum(
        1
        for v in planted
        if any(
            r["subject_id"] == v.subject_id
            and (v.category is None or within(r["category"], v.category))
            for r in overdue
        )
    )
    console.print(
        f"retention problems planted by the simulator: {len(planted)}, found by the monitor: {found}"
    )
    render(
        q.dead_letters(store),
        columns=["partition", "offset", "reason", "detail", "bytes"],
        title="Dead letters (also on the dead-letter topic, with the raw bytes)",
        empty="(none)",
    )
    _step("6. The trail as evidence: verify, prove, erase")
    checkpoints = consumer.stats.checkpoints
    report = verify(store, checkpointer.signer.verifier(), export_dir=checkpoint_dir)
    signed = sum(log.signed_size for log in report.logs.values())
    console.print(
        f"{checkpoints} checkpoint(s) signed by {checkpointer.signer.name} and exported to "
        f"{checkpoint_dir}; jejak verify: {report.rows:,} rows in {len(report.logs)} chained "
        f"logs, {signed:,} under signatures, {len(report.findings)} finding(s), "
        f"{report.seconds:.2f}s"
    )
    if worst:
        violation = q.violations(store, subject_id=worst[0]["subject_id"], limit=1)[0]
        doc = prove_event(store, violation["event_id"])
        ok = verify_proof(doc, checkpointer.signer.verifier().to_string()).ok
        console.print(
            f"inclusion proof of event {violation['event_id']}: leaf {doc['leaf_index']} of "
            f"{doc['tree_size']} under {doc['origin']}; checks out with the public key alone: {ok}"
        )
        before = q.totals(store)
        erased = erase(store, worst[0]["subject_id"], "DEMO-DSR-1", checkpointer=checkpointer)
        after = verify(store, checkpointer.signer.verifier(), export_dir=checkpoint_dir)
        console.print(
            f"erased that subject (request DEMO-DSR-1): {erased.events} events and "
            f"{erased.journal_records} journal records redacted; the subject's report now holds "
            f"{q.subject_report(store, worst[0]['subject_id']).events} events; event count "
            f"{before['events']:,} -> {q.totals(store)['events']:,}; jejak verify: "
            f"{len(after.findings)} finding(s), erasures listed: {len(after.erasures)}"
        )
    console.print(
        "\nExplore: JEJAK_STORE__DSN is the demo store; try\n"
        f"  .venv/bin/jejak query violations --database {database}\n"
        f"  .venv/bin/jejak query subject <subject id> --database {database}"
    )
    store.close()
