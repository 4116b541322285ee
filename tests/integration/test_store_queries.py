"""The writer and the compliance queries against the real ClickHouse engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jejak.lineage.store import Store, connect, migrate
from jejak.lineage.store import queries as q
from jejak.lineage.store.chain import LogHead
from jejak.lineage.store.client import as_utc
from jejak.lineage.store.writer import Batch, Origin, write_batch
from jejak.schemas.models import Event, parse_event

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
S1 = "ps1_" + "s" * 32


@dataclass(frozen=True)
class V:
    decision: str
    basis: str | None = None
    reasons: tuple[str, ...] = ()
    policy_version: str = "test"


def ev(minutes: int, kind: str, **fields: object) -> Event:
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    return parse_event(
        {"event_id": f"e{minutes}", "kind": kind, "occurred_at": at, "subject_id": S1, **fields}
    )


@pytest.fixture
def store(clickhouse_dsn: str, store_database: str) -> Store:
    s = connect(clickhouse_dsn, store_database)
    migrate(s)
    return s


class Writer:
    """Adds events to one partition's chain, offsets counting up, as the consumer does."""

    def __init__(self) -> None:
        self.head = LogHead("events/privacy.events/0")
        self.batch = Batch()

    def add(self, event: Event, verdict: V, severity: str = "", summary: str = "") -> None:
        origin = Origin("privacy.events", 0, self.head.last_offset + 1)
        self.batch.add(self.head, event, verdict, origin, severity, summary)


def test_subject_report_disclosures_alerts_and_retried_writes(store: Store) -> None:
    batch = Writer()
    batch.add(
        ev(0, "collection", data_categories=["account.email", "account.phone"], source="user"),
        V("allowed", "A.1.1"),
    )
    batch.add(ev(1, "consent", scope="recipient:fin-1", action="granted"), V("recorded"))
    batch.add(
        ev(
            2,
            "use",
            data_categories=["account.email"],
            purpose="marketing.communications",
            channel="newsletter",
        ),
        V("allowed", "B.6"),
    )
    leak = ev(
        3,
        "disclosure",
        data_categories=["account.email"],
        purpose="marketing.advertising",
        recipient={"id": "broker-9", "kind": "data_broker"},
        transfer="sale",
    )
    leak_verdict = V("violation", None, ("disclosure_without_consent",))
    batch.add(leak, leak_verdict, "critical", "sold to a data broker without consent")
    batch.add(ev(4, "account_closed"), V("recorded"))
    batch.add(ev(5, "deletion", data_categories=["account.phone"]), V("recorded"))
    write_batch(store, batch.batch)
    write_batch(store, batch.batch)  # a retried insert of the same batch is dropped

    report = q.subject_report(store, S1)
    assert report.events == 6
    assert [r["category"] for r in report.collected] == ["account.email", "account.phone"]
    assert report.collected[0]["times"] == 1
    assert report.used[0]["purpose"] == "marketing.communications"
    assert report.disclosed[0]["recipient_id"] == "broker-9"
    assert report.disclosed[0]["violations"] == 1
    assert report.consents == [
        {
            "scope": "recipient:fin-1",
            "action": "granted",
            "since": T0 + timedelta(minutes=1),
            "event_ids": ["e1"],
        }
    ]
    assert report.collected[0]["event_ids"] == ["e0"]
    assert report.disclosed[0]["event_ids"] == ["e3"]
    assert [v["event_id"] for v in report.violations] == ["e3"]
    assert report.account_closed_at == T0 + timedelta(minutes=4)
    assert report.to_dict()["account_closed_at"] == "2026-05-01T08:04:00Z"

    assert q.disclosures(store, recipient_kind="data_broker")[0]["disclosures"] == 1
    assert q.disclosures(store, recipient_kind="payment_processor") == []
    alerts = q.violations(store, reason="disclosure_without_consent")
    assert [a["alert_id"] for a in alerts] == ["e3:disclosure_without_consent"]
    assert q.alert_summary(store)[0]["alerts"] == 1
    totals = q.totals(store)
    assert totals["events"] == 6 and totals["by_decision"]["violation"] == 1

    # section F: phone deleted one minute after closure, email never
    overdue = q.retention_overdue(
        store, after_closure=timedelta(days=30), now=T0 + timedelta(days=40)
    )
    assert [(r["category"], r["deleted_at"]) for r in overdue] == [("account.email", None)]
    assert (
        q.retention_overdue(store, after_closure=timedelta(days=30), now=T0 + timedelta(days=10))
        == []
    )


def test_the_retention_monitor_raises_each_overdue_category_once(store: Store) -> None:
    from jejak.lineage.policy import load_policies
    from jejak.lineage.store.retention import record, retention_alerts

    policies = load_policies()
    batch = Writer()
    batch.add(
        ev(0, "collection", data_categories=["account.email", "log.ip"], source="user"),
        V("allowed", "A.1.1"),
    )
    batch.add(ev(10, "account_closed"), V("recorded"))
    batch.add(ev(20, "deletion", data_categories=["log"]), V("recorded"))
    write_batch(store, batch.batch)

    assert retention_alerts(store, policies, now=T0 + timedelta(days=29)) == []
    alerts = retention_alerts(store, policies, now=T0 + timedelta(days=31))
    assert [(a.categories, a.reason, a.severity) for a in alerts] == [
        (("account.email",), "retention_overdue", "medium")
    ]
    assert alerts[0].policy_version == policies.in_force(T0).version
    assert "account.email" in alerts[0].summary and "(F)" in alerts[0].summary
    record(store, alerts)
    assert retention_alerts(store, policies, now=T0 + timedelta(days=31)) == []
    assert q.violations(store, reason="retention_overdue")[0]["subject_id"] == S1


# The report as seven queries over the derived views: the definition the one-read
# subject report (and the API's answer) must keep giving, line for line.
_REFERENCE = {
    "collected": """SELECT category, source, source_partner, count() AS times,
                  min(occurred_at) AS first_at, max(occurred_at) AS last_at,
                  arraySort(groupUniqArray(basis)) AS bases,
                  countIf(decision = 'violation') AS violations,
                  arraySort(groupUniqArray(event_id)) AS event_ids
           FROM {db}.lineage WHERE subject_id = {s:String} AND kind = 'collection'
           GROUP BY category, source, source_partner
           ORDER BY category, source, source_partner""",
    "used": """SELECT purpose, arraySort(groupUniqArray(category)) AS categories,
                  uniqExact(event_id) AS times, max(occurred_at) AS last_at,
                  arraySort(groupUniqArray(basis)) AS bases,
                  uniqExactIf(event_id, decision = 'violation') AS violations,
                  arraySort(groupUniqArray(event_id)) AS event_ids
           FROM {db}.lineage WHERE subject_id = {s:String} AND kind = 'use'
           GROUP BY purpose ORDER BY purpose""",
    "disclosed": """SELECT recipient_id, recipient_kind, purpose,
                  arraySort(groupUniqArray(category)) AS categories,
                  uniqExact(event_id) AS times, max(occurred_at) AS last_at,
                  arraySort(groupUniqArray(basis)) AS bases,
                  uniqExactIf(event_id, decision = 'violation') AS violations,
                  arraySort(groupUniqArray(event_id)) AS event_ids
           FROM {db}.lineage WHERE subject_id = {s:String} AND kind = 'disclosure'
           GROUP BY recipient_id, recipient_kind, purpose
           ORDER BY recipient_id, purpose, recipient_kind""",
    "deleted": """SELECT category, max(occurred_at) AS deleted_at,
                  arraySort(groupUniqArray(event_id)) AS event_ids
           FROM {db}.lineage WHERE subject_id = {s:String} AND kind = 'deletion'
           GROUP BY category ORDER BY category""",
    "consents": """SELECT scope, argMax(action, (occurred_at, partition, seq)) AS action,
                  max(occurred_at) AS since, arraySort(groupArray(event_id)) AS event_ids
           FROM {db}.consents WHERE subject_id = {s:String} AND scope != ''
           GROUP BY scope ORDER BY scope""",
    "violations": """SELECT event_id, kind, occurred_at, reasons, policy_version
           FROM {db}.events WHERE subject_id = {s:String} AND decision = 'violation'
           ORDER BY occurred_at, event_id""",
}


def _simulated(store: Store, derived: tuple[bool, ...] = (True,)) -> None:
    """A simulated stream in ``len(derived)`` batches, each derived at once or left to later."""
    from jejak.lineage.policy import Evaluator, load_policies
    from jejak.producers.simulate import simulate

    evaluator = Evaluator(load_policies())
    heads = {p: LogHead(f"events/privacy.events/{p}") for p in range(3)}
    events = simulate(users=40, days=2, seed=5, violation_rate=0.1).events
    size = -(-len(events) // len(derived))
    for i, derive in enumerate(derived):
        batch = Batch()
        for event in events[i * size : (i + 1) * size]:
            p = sum(event.subject_id.encode()) % 3
            origin = Origin("privacy.events", p, heads[p].last_offset + 1)
            verdict = evaluator.evaluate(event)
            severity = "high" if verdict.decision == "violation" else ""
            batch.add(heads[p], event, verdict, origin, severity, "s" if severity else "")
        write_batch(store, batch, derive=derive)


def test_the_one_read_subject_report_equals_the_report_over_the_views(store: Store) -> None:
    _simulated(store)
    subjects = [r["subject_id"] for r in store.query("SELECT DISTINCT subject_id FROM {db}.events")]
    assert len(subjects) > 30
    sections = 0
    for subject in subjects:
        report = q.subject_report(store, subject).to_dict()
        for section, sql in _REFERENCE.items():
            expected = q.plain(
                [{k: as_utc(v) for k, v in r.items()} for r in store.query(sql, {"s": subject})]
            )
            for line in expected:
                if "reasons" in line:
                    line["reasons"] = list(line["reasons"])
            assert report[section] == expected, (subject, section)
            sections += bool(expected)
        meta = store.query(
            "SELECT count() AS n, minIf(occurred_at, kind = 'account_closed') AS closed, "
            "countIf(kind = 'account_closed') AS closures FROM {db}.events "
            "WHERE subject_id = {s:String}",
            {"s": subject},
        )[0]
        assert report["events"] == meta["n"]
        closed = q.plain(as_utc(meta["closed"])) if meta["closures"] else None
        assert report["account_closed_at"] == closed
    assert sections > 100  # most sections of most subjects had lines to compare
    assert q.subject_report(store, "ps1_" + "0" * 32).to_dict()["events"] == 0


# The aggregate questions as full scans of the log and its views: what the
# projection-backed queries must keep answering.
_DISCLOSURES = (
    "SELECT recipient_id, recipient_kind, purpose, "
    "arraySort(groupUniqArray(category)) AS categories, "
    "uniqExact(event_id) AS disclosures, uniqExact(subject_id) AS subjects, "
    "arraySort(groupUniqArray(basis)) AS bases, "
    "uniqExactIf(event_id, decision = 'violation') AS violations, "
    "min(occurred_at) AS first_at, max(occurred_at) AS last_at "
    "FROM {db}.lineage WHERE kind = 'disclosure' {where}"
    "GROUP BY recipient_id, recipient_kind, purpose "
    "ORDER BY violations DESC, disclosures DESC, recipient_id, purpose, recipient_kind"
)
_ALERT_SUMMARY = (
    "SELECT severity, reason, count() AS alerts, uniqExact(subject_id) AS subjects, "
    "min(occurred_at) AS first_at, max(occurred_at) AS last_at "
    "FROM {db}.alerts GROUP BY severity, reason ORDER BY severity, reason"
)


def _same_aggregates(store: Store) -> None:
    def by_key(rows: list[dict[str, object]], *key: str) -> list[dict[str, object]]:
        return sorted(rows, key=lambda r: tuple(str(r[k]) for k in key))

    disclosure_key = ("recipient_id", "recipient_kind", "purpose")
    expected = store.rows(_DISCLOSURES.replace("{where}", ""))
    assert len(expected) > 3
    assert by_key(q.disclosures(store), *disclosure_key) == by_key(expected, *disclosure_key)
    kind = expected[0]["recipient_kind"]
    assert by_key(q.disclosures(store, recipient_kind=kind), *disclosure_key) == by_key(
        [r for r in expected if r["recipient_kind"] == kind], *disclosure_key
    )
    since = T0 - timedelta(days=400)
    windowed = store.rows(
        _DISCLOSURES.replace("{where}", "AND occurred_at >= {since:DateTime64(3, 'UTC')} "),
        {"since": since},
    )
    assert by_key(q.disclosures(store, since=since), *disclosure_key) == by_key(
        windowed, *disclosure_key
    )
    summary = store.rows(_ALERT_SUMMARY)
    assert summary
    assert by_key(q.alert_summary(store), "severity", "reason") == by_key(
        summary, "severity", "reason"
    )
    subjects = store.query("SELECT uniqExact(subject_id) AS n FROM {db}.events")[0]["n"]
    assert q.totals(store)["subjects"] == subjects


def test_aggregates_derived_per_batch_or_many_batches_later_equal_the_full_scans(
    store: Store,
) -> None:
    from jejak.lineage.store.derive import catch_up_all, finish_all

    _simulated(store, derived=(False, False, False, False))  # as the consumer writes
    assert store.query("SELECT count() AS n FROM {db}.alerts")[0]["n"] == 0  # not derived yet
    assert catch_up_all(store) == store.query("SELECT count() AS n FROM {db}.events")[0]["n"]
    _same_aggregates(store)
    counts = {
        t: store.query(f"SELECT count() AS n FROM {{db}}.{t}")[0]["n"]
        for t in ("alerts", "daily", "recipients")
    }
    assert all(counts.values()), counts
    # deriving again (a restart's catch-up, a crash's unfinished derivation run again) adds
    # nothing, however the log's parts were merged meanwhile
    store.command("OPTIMIZE TABLE {db}.events FINAL")
    assert catch_up_all(store) == 0
    finish_all(store)
    assert counts == {
        t: store.query(f"SELECT count() AS n FROM {{db}}.{t}")[0]["n"] for t in counts
    }
    _same_aggregates(store)
    plan = "\n".join(
        str(next(iter(r.values())))
        for r in store.query(
            "EXPLAIN SELECT severity, reason, subject_id, count() FROM {db}.alerts "
            "GROUP BY severity, reason, subject_id"
        )
    )
    assert "by_reason" in plan  # the alert counts read the projection, not the alerts


# The layout of version 3, as that release created it: the event log's materialized
# views and aggregate projection, which version 4 replaces by range derivations.
_V3_VIEWS = {
    "consents_mv": "CREATE MATERIALIZED VIEW {db}.consents_mv TO {db}.consents AS "
    "SELECT topic, partition, seq, event_id, subject_id, occurred_at, scope, action, "
    "producer_service FROM {db}.events "
    "WHERE kind IN ('consent', 'policy_accepted', 'account_closed')",
    "alerts_mv": "CREATE MATERIALIZED VIEW {db}.alerts_mv TO {db}.alerts AS "
    "SELECT concat(event_id, ':', reasons[1]) AS alert_id, event_id, subject_id, kind, "
    "occurred_at, severity, reasons[1] AS reason, reasons, data_categories AS categories, "
    "purpose, recipient_id, recipient_kind, policy_version, summary, 'event' AS origin, "
    "ingested_at AS raised_at FROM {db}.events "
    "WHERE decision = 'violation' AND length(reasons) > 0",
    "daily_mv": "CREATE MATERIALIZED VIEW {db}.daily_mv TO {db}.daily AS "
    "SELECT day, kind, decision, basis, reason, first_reason, recipient_id, "
    "recipient_kind, purpose, events FROM (SELECT toDate(occurred_at) AS day, kind, "
    "decision, basis, arrayJoin(arrayEnumerate(if(empty(reasons), [''], reasons))) AS n, "
    "if(empty(reasons), '', reasons[n]) AS reason, toUInt8(n = 1) AS first_reason, "
    "recipient_id, recipient_kind, purpose, count() AS events "
    "FROM {db}.events WHERE erasure_ref = '' "
    "GROUP BY day, kind, decision, basis, n, reason, recipient_id, recipient_kind, purpose)",
}
_V3_CONSENTS = (
    "CREATE TABLE {db}.consents (topic LowCardinality(String), partition Int32, seq UInt64, "
    "event_id String, subject_id String, occurred_at DateTime64(3, 'UTC'), scope String, "
    "action LowCardinality(String), producer_service LowCardinality(String)) "
    "ENGINE = MergeTree ORDER BY (topic, partition, subject_id, seq)"
)
_V3_PROJECTION = (
    "ALTER TABLE {db}.events ADD PROJECTION by_recipient (SELECT kind, recipient_id, "
    "recipient_kind, purpose, subject_id, count(), countIf(decision = 'violation'), "
    "min(occurred_at), max(occurred_at), groupUniqArrayArray(data_categories), "
    "groupUniqArray(basis) GROUP BY kind, recipient_id, recipient_kind, purpose, subject_id)"
)


def test_a_version_3_store_derives_by_range_and_keeps_its_answers(
    clickhouse_dsn: str, store_database: str
) -> None:
    from jejak.lineage.store.migrations import version

    store = connect(clickhouse_dsn, store_database)
    migrate(store)
    store.command("DROP TABLE {db}.recipients")
    store.command("DROP TABLE {db}.derivations")
    store.command("DROP VIEW {db}.consents")
    store.command(_V3_CONSENTS)
    store.command(_V3_PROJECTION)
    for sql in _V3_VIEWS.values():
        store.command(sql)
    store.command("DELETE FROM {db}.schema_migrations WHERE version >= 4")
    _simulated(store, derived=(False, False))  # derived by version 3's views as written
    assert version(store) == 3
    alerts = store.query("SELECT alert_id FROM {db}.alerts ORDER BY alert_id")
    assert alerts

    assert [m.version for m in migrate(store)] == [4, 5]
    assert "by_recipient" not in str(store.command("SHOW CREATE TABLE {db}.events"))
    views = {
        r["name"]
        for r in store.query(
            "SELECT name FROM system.tables WHERE database = {d:String} "
            "AND engine = 'MaterializedView'",
            {"d": store_database},
        )
    }
    assert views == {"journal_alerts_mv"}
    assert store.query("SELECT alert_id FROM {db}.alerts ORDER BY alert_id") == alerts
    _same_aggregates(store)
    store.close()


def test_an_erasure_between_a_write_and_its_derivation_counts_each_row_once(
    store: Store, tmp_path: Path
) -> None:
    from jejak.lineage.store.checkpoints import Checkpointer
    from jejak.lineage.store.derive import catch_up_all
    from jejak.lineage.store.erasure import erase
    from jejak.lineage.trust.note import Signer

    _simulated(store, derived=(True, False))  # the second half still waits for its derivation
    subject = store.query(
        "SELECT subject_id FROM {db}.events WHERE decision = 'violation' "
        "GROUP BY subject_id ORDER BY count() DESC LIMIT 1"
    )[0]["subject_id"]
    events_before = store.query("SELECT count() AS n FROM {db}.events")[0]["n"]
    signer = Signer.generate("jejak-test")
    erase(store, subject, "DSR-2", checkpointer=Checkpointer(store, signer, signer.name, tmp_path))
    catch_up_all(store)
    for table in ("events", "consents", "alerts", "recipients"):  # consents: a view of the log
        assert not store.query(
            f"SELECT 1 FROM {{db}}.{table} WHERE subject_id = {{s:String}} LIMIT 1", {"s": subject}
        ), table
    assert q.totals(store)["events"] == events_before
    alerts = store.query("SELECT count() AS n FROM {db}.alerts WHERE origin = 'event'")[0]["n"]
    violations = store.query(
        "SELECT count() AS n FROM {db}.events WHERE decision = 'violation' AND length(reasons) > 0"
    )[0]["n"]
    assert alerts == violations
    _same_aggregates(store)


def test_an_erased_subject_leaves_no_trace_in_the_aggregates(store: Store, tmp_path: Path) -> None:
    from jejak.lineage.store.checkpoints import Checkpointer
    from jejak.lineage.store.erasure import erase
    from jejak.lineage.trust.note import Signer

    _simulated(store)
    subject = store.query(
        "SELECT subject_id FROM {db}.alerts GROUP BY subject_id ORDER BY count() DESC LIMIT 1"
    )[0]["subject_id"]
    subjects_before = q.totals(store)["subjects"]
    signer = Signer.generate("jejak-test")
    erase(store, subject, "DSR-1", checkpointer=Checkpointer(store, signer, signer.name, tmp_path))
    for sql in (
        "SELECT subject_id FROM {db}.events GROUP BY subject_id",
        "SELECT subject_id, count() FROM {db}.events WHERE kind = 'disclosure' "
        "GROUP BY kind, recipient_id, recipient_kind, purpose, subject_id",
        "SELECT subject_id, count() FROM {db}.alerts GROUP BY severity, reason, subject_id",
    ):
        assert subject not in {r["subject_id"] for r in store.query(sql)}, sql
    # the erased rows count once, under the erasure's name
    assert q.totals(store)["subjects"] == subjects_before
    _same_aggregates(store)


def test_string_lists_reach_the_engine_intact(store: Store) -> None:
    values = ["a", "x'y", "b\\c", "tab\there", "nl\nx", "bq`", "{db}", "{x:String}", "ünï", ""]
    [echoed] = store.query_columns("SELECT arrayJoin({@v})", width=1, strings={"v": values})
    assert list(echoed) == values
    assert q.stored_event_ids(store, ["{db}", "x'y"]) == set()
    # one pass: a value that reads like another placeholder stays a value
    [left, right] = store.query_columns(
        "SELECT {@v}, {@w}", width=2, strings={"v": ["{@w}", "'"], "w": ["b"]}
    )
    assert list(left[0]) == ["{@w}", "'"] and list(right[0]) == ["b"]


def test_an_erasure_interrupted_and_run_again_leaves_nothing_and_counts_hold(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jejak.errors import StoreError
    from jejak.lineage.store import erasure
    from jejak.lineage.store.checkpoints import Checkpointer
    from jejak.lineage.trust.note import Signer

    _simulated(store, derived=(True, True))
    subject = store.query(
        "SELECT subject_id FROM {db}.events WHERE decision = 'violation' "
        "GROUP BY subject_id ORDER BY count() DESC LIMIT 1"
    )[0]["subject_id"]
    events_before = q.totals(store)["events"]
    signer = Signer.generate("jejak-test")
    checkpointer = Checkpointer(store, signer, signer.name, tmp_path)

    def crash(*_: object) -> None:
        raise StoreError("the process died here")

    with monkeypatch.context() as m:  # after the originals went, before the derived rows
        m.setattr(erasure, "_drop_derived_rows", crash)
        with pytest.raises(StoreError):
            erasure.erase(store, subject, "DSR-3", checkpointer=checkpointer)
    erasure.erase(store, subject, "DSR-3", checkpointer=checkpointer)  # run again
    for table in ("events", "consents", "alerts", "recipients"):
        assert not store.query(
            f"SELECT 1 FROM {{db}}.{table} WHERE subject_id = {{s:String}} LIMIT 1", {"s": subject}
        ), table
    assert q.totals(store)["events"] == events_before
    _same_aggregates(store)
