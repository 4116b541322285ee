"""Tampering with the store, as a database administrator could, is found and named by verify.

Each test writes a small store the way the consumer does (two partitions'
chains, a journal record, signed checkpoints stored and exported), changes it
with plain SQL on the real engine, and checks that ``verify`` reports the
change as the right kind of finding, with the event ids it concerns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from jejak.lineage.store import Store, connect, migrate
from jejak.lineage.store.chain import events_log, load_heads
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.erasure import erase
from jejak.lineage.store.proofs import prove_event
from jejak.lineage.store.verify import Report, verify
from jejak.lineage.store.writer import Batch, JournalRecord, Origin, append_journal, write_batch
from jejak.lineage.trust.note import Signer
from jejak.lineage.trust.proof import verify_proof
from jejak.schemas.models import parse_event

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
ALICE = "ps1_" + "a" * 32
BOB = "ps1_" + "b" * 32
TOPIC = "privacy.events"


@dataclass(frozen=True)
class V:
    decision: str
    basis: str | None = None
    reasons: tuple[str, ...] = ()
    policy_version: str = "2026.1"


@dataclass
class Trail:
    store: Store
    signer: Signer
    folder: Path
    checkpointer: Checkpointer

    def verify(self) -> Report:
        return verify(self.store, self.signer.verifier(), export_dir=self.folder)

    def sql(self, statement: str) -> None:
        """What a DBA with write access can do."""
        self.store.command(statement, settings={"mutations_sync": 2})

    def kinds(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for f in self.verify().findings:
            found.setdefault(f.kind, set()).update(f.event_ids)
        return found


def _event(n: int, subject: str) -> tuple[object, V]:
    at = (T0 + timedelta(minutes=n)).isoformat()
    if n % 3 == 2:
        return (
            parse_event(
                {
                    "event_id": f"e{n}",
                    "kind": "disclosure",
                    "occurred_at": at,
                    "subject_id": subject,
                    "trace_id": f"tr-{n}",
                    "data_categories": ["account.email"],
                    "purpose": "marketing.advertising",
                    "recipient": {"id": "broker-9", "kind": "data_broker"},
                    "transfer": "sale",
                }
            ),
            V("violation", None, ("disclosure_without_consent",)),
        )
    return (
        parse_event(
            {
                "event_id": f"e{n}",
                "kind": "collection",
                "occurred_at": at,
                "subject_id": subject,
                "data_categories": ["account.phone"],
                "source": "user",
            }
        ),
        V("allowed", "A.1.1"),
    )


def write_trail(store: Store, checkpointer: Checkpointer, first: int, count: int) -> None:
    heads = load_heads(store, TOPIC, [0, 1])
    batch = Batch()
    for n in range(first, first + count):
        partition = n % 2
        event, verdict = _event(n, ALICE if partition == 0 else BOB)
        head = heads[partition]
        severity = "critical" if verdict.decision == "violation" else ""
        batch.add(
            head, event, verdict, Origin(TOPIC, partition, head.last_offset + 3), severity, "x"
        )
    write_batch(store, batch)
    checkpointer.sign(heads.values())


@pytest.fixture
def trail(clickhouse_dsn: str, store_database: str, tmp_path: Path) -> Iterator[Trail]:
    store = connect(clickhouse_dsn, store_database)
    migrate(store)
    signer = Signer.generate(f"jejak-{store_database}")
    folder = tmp_path / "checkpoints"
    checkpointer = Checkpointer(store, signer, signer.name, folder)
    write_trail(store, checkpointer, 0, 12)
    write_trail(store, checkpointer, 12, 8)  # a second checkpoint on each log
    append_journal(
        store,
        [JournalRecord("note", "note:1", {"what": "a journal record"}, subject_id=ALICE)],
        checkpointer,
    )
    yield Trail(store, signer, folder, checkpointer)
    store.close()


def test_a_clean_store_verifies(trail: Trail) -> None:
    report = trail.verify()
    assert report.ok, report.findings
    assert report.rows == 21
    assert report.logs[events_log(TOPIC, 0)].signed_size == 10
    assert report.logs[events_log(TOPIC, 0)].checkpoints == 2
    assert report.logs["journal"].rows == 1


def test_an_edited_row_is_named(trail: Trail) -> None:
    trail.sql("ALTER TABLE {db}.events UPDATE decision = 'allowed' WHERE event_id = 'e2'")
    assert trail.kinds()["edited_row"] == {"e2"}


def test_a_changed_subject_field_breaks_its_commitment(trail: Trail) -> None:
    trail.sql("ALTER TABLE {db}.events UPDATE trace_id = 'tr-other' WHERE event_id = 'e5'")
    assert trail.kinds() == {"subject_changed": {"e5"}}


def test_a_deleted_row_is_named_with_its_neighbours(trail: Trail) -> None:
    trail.sql("ALTER TABLE {db}.events DELETE WHERE event_id = 'e6'")
    kinds = trail.kinds()
    assert kinds["deleted_rows"] == {"e4", "e8"}  # the rows around the gap in partition 0
    assert "broken_link" in kinds


def test_a_forged_row_in_the_middle_is_a_conflict(trail: Trail) -> None:
    trail.sql(
        "INSERT INTO {db}.events SELECT * REPLACE ('allowed' AS decision, 'forged' AS event_id) "
        "FROM (SELECT * FROM {db}.events WHERE event_id = 'e4')"
    )
    kinds = trail.kinds()
    assert {"e4", "forged"} <= kinds["conflicting_rows"], kinds


def test_a_second_row_for_an_event_id_is_named(trail: Trail) -> None:
    trail.sql(
        "INSERT INTO {db}.events SELECT * REPLACE (toUInt64(999) AS seq) "
        "FROM {db}.events WHERE event_id = 'e3'"
    )
    kinds = trail.kinds()
    assert kinds["duplicate_event"] == {"e3"}


def test_reordered_rows_are_named(trail: Trail) -> None:
    trail.sql(
        "ALTER TABLE {db}.events UPDATE seq = multiIf(event_id = 'e2', 2, event_id = 'e4', 1, seq) "
        "WHERE event_id IN ('e2', 'e4')"
    )
    kinds = trail.kinds()
    assert {"e2", "e4"} <= kinds["reordered_rows"]
    assert {"e2", "e4"} <= kinds["edited_row"]


def test_a_truncated_tail_is_found(trail: Trail) -> None:
    trail.sql("ALTER TABLE {db}.events DELETE WHERE partition = 1 AND seq >= 7")
    kinds = trail.kinds()
    assert "truncated_tail" in kinds
    assert kinds["truncated_tail"] == {"e13"}  # the last row left


def test_a_partition_dropped_whole_is_found(trail: Trail) -> None:
    trail.sql("ALTER TABLE {db}.events DELETE WHERE partition = 1")
    report = trail.verify()
    assert [(f.kind, f.log) for f in report.findings] == [("log_dropped", events_log(TOPIC, 1))]


def test_a_replaced_checkpoint_and_a_forged_signature_are_found(trail: Trail) -> None:
    other = Signer.generate(trail.signer.name)  # same name, another key
    from jejak.lineage.trust.checkpoint import Checkpoint, sign_checkpoint

    fake = sign_checkpoint(
        Checkpoint(f"{trail.signer.name}/{events_log(TOPIC, 0)}", 10, b"\x01" * 32), other
    )
    trail.store.command(
        "ALTER TABLE {db}.checkpoints UPDATE note = {n:String} WHERE log = {l:String} "
        "AND tree_size = 10",
        {"n": fake, "l": events_log(TOPIC, 0)},
        settings={"mutations_sync": 2},
    )
    kinds = trail.kinds()
    assert "replaced_checkpoint" in kinds
    assert "forged_signature" in kinds


def test_a_forged_signature_on_an_exported_checkpoint_is_found(trail: Trail) -> None:
    path = next(trail.folder.rglob("00000000000000000010.checkpoint"))
    text = path.read_text()
    body, sig = text.rsplit(" ", 1)
    flipped = ("B" if sig[5] != "B" else "C").join((sig[:5], sig[6:]))
    path.write_text(f"{body} {flipped}")
    kinds = trail.kinds()
    assert "forged_signature" in kinds
    assert "replaced_checkpoint" in kinds


def test_a_checkpoint_deleted_from_the_store_is_found(trail: Trail) -> None:
    trail.sql("ALTER TABLE {db}.checkpoints DELETE WHERE tree_size = 6")
    assert "checkpoint_removed" in trail.kinds()


def test_a_lawful_erasure_verifies_and_keeps_every_count(trail: Trail) -> None:
    from jejak.lineage.store import queries as q
    from jejak.lineage.store.writer import AlertRow, alert_record

    overdue = AlertRow(
        alert_id=f"{ALICE}:account.phone:retention_overdue",
        event_id="",
        subject_id=ALICE,
        kind="retention",
        occurred_at=T0,
        severity="medium",
        reason="retention_overdue",
        reasons=("retention_overdue",),
        categories=("account.phone",),
        purpose="",
        recipient_id="",
        recipient_kind="",
        policy_version="2026.1",
        summary="account.phone of a closed account was due for deletion",
    )
    append_journal(trail.store, [alert_record(overdue)], trail.checkpointer)
    assert [a["alert_id"] for a in q.violations(trail.store, reason="retention_overdue")] == [
        overdue.alert_id
    ]
    before = q.totals(trail.store)
    alerts_before = q.alert_summary(trail.store)
    result = erase(trail.store, ALICE, "DSR-2026-7", checkpointer=trail.checkpointer)
    assert (result.events, result.journal_records) == (10, 2)
    report = trail.verify()
    assert report.ok, report.findings
    assert [e["request_ref"] for e in report.erasures] == ["DSR-2026-7"]
    after = q.totals(trail.store)
    assert {k: v for k, v in after.items() if k != "subjects"} == {
        k: v for k, v in before.items() if k != "subjects"
    }
    assert [a["alerts"] for a in q.alert_summary(trail.store)] == [
        a["alerts"] for a in alerts_before
    ]
    # the pseudonym is nowhere any more, in any table
    for table in ("events", "journal", "lineage", "consents", "alerts", "dead_letters"):
        rows = trail.store.query(
            f"SELECT count() AS n FROM {{db}}.{table} WHERE position(toString(tuple(*)), "
            "{s:String}) > 0",
            {"s": ALICE},
        )
        assert rows[0]["n"] == 0, table
    assert q.subject_report(trail.store, ALICE).events == 0
    # erasing again finds nothing left; the trail still verifies
    assert erase(trail.store, ALICE, "DSR-2026-7", checkpointer=trail.checkpointer).events == 0
    assert trail.verify().ok


def test_an_unlawful_redaction_is_found(trail: Trail) -> None:
    trail.sql(
        "ALTER TABLE {db}.events UPDATE trace_id = '', erasure_ref = 'erasure:made-up' "
        "WHERE event_id = 'e2'"
    )
    assert trail.kinds()["unknown_erasure"] == {"e2"}


def test_an_inclusion_proof_checks_out_with_the_public_key_alone(trail: Trail) -> None:
    doc = prove_event(trail.store, "e8")
    result = verify_proof(doc, trail.signer.verifier().to_string())
    assert result.ok, result.reason
    assert (doc["leaf_index"], doc["tree_size"]) == (4, 10)
    import base64

    row = base64.b64decode(doc["row"])
    assert ALICE.encode() not in row  # the proof carries the commitment, never the subject
    altered = dict(doc, row=base64.b64encode(row.replace(b"violation", b"violatioN")).decode())
    assert not verify_proof(altered, trail.signer.verifier().to_string()).ok


def test_verify_from_the_command_line_exits_1_on_a_finding(
    trail: Trail, clickhouse_dsn: str, store_database: str, tmp_path: Path
) -> None:
    if not clickhouse_dsn.startswith("chdb://"):
        pytest.skip("the CLI opens the store itself (embedded chDB in this process)")
    from jejak.cli import cli

    pub = tmp_path / "signing.pub"
    pub.write_text(trail.signer.verifier().to_string())
    env = {
        "JEJAK_STORE__DSN": clickhouse_dsn,
        "JEJAK_TRUST__CHECKPOINT_DIR": str(trail.folder),
    }
    args = ["verify", "--database", store_database, "--public-key", str(pub)]
    ok = CliRunner().invoke(cli, args, env=env)
    assert ok.exit_code == 0, ok.output
    assert "ok: every chain links" in ok.output
    proof = tmp_path / "proof.json"
    made = CliRunner().invoke(cli, [*args[:3], "--event", "e9", "--proof", str(proof)], env=env)
    assert made.exit_code == 0, made.output
    checked = CliRunner().invoke(cli, ["verify-proof", str(proof), "--public-key", str(pub)])
    assert checked.exit_code == 0, checked.output
    trail.sql("ALTER TABLE {db}.events DELETE WHERE event_id = 'e9'")
    bad = CliRunner().invoke(cli, args, env=env)
    assert bad.exit_code == 1
    assert "deleted_rows" in bad.output and "e9" not in bad.output.split("deleted_rows")[0]


def test_verify_since_checks_what_followed_the_checkpoint_before_that_time(trail: Trail) -> None:
    later = datetime.now(UTC) + timedelta(seconds=1)
    import time as clock

    clock.sleep(1.2)  # checkpoints made from now on are signed after `later`
    write_trail(trail.store, trail.checkpointer, 20, 6)
    quick = verify(trail.store, trail.signer.verifier(), export_dir=trail.folder, since=later)
    assert quick.ok, quick.findings
    assert quick.rows == 6  # only the rows after the checkpoints signed before `later`
    # an edit after that checkpoint is found; one before it only by the full check
    trail.sql("ALTER TABLE {db}.events UPDATE decision = 'allowed' WHERE event_id = 'e23'")
    trail.sql("ALTER TABLE {db}.events UPDATE decision = 'allowed' WHERE event_id = 'e2'")
    quick = verify(trail.store, trail.signer.verifier(), export_dir=trail.folder, since=later)
    assert {f.event_ids for f in quick.findings if f.kind == "edited_row"} == {("e23",)}, quick
    assert {"e2", "e23"} <= trail.kinds()["edited_row"]
