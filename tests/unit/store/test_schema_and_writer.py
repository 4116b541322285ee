from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from jejak.cli import cli
from jejak.lineage.store.schema import TABLES, ddl
from jejak.lineage.store.writer import LINEAGE_COLUMNS, Batch, Origin
from jejak.schemas.models import parse_event

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class V:
    decision: str
    basis: str | None = None
    reasons: tuple[str, ...] = ()
    policy_version: str = "2026.1"


def test_every_table_folds_replays_by_event_id() -> None:
    for table in TABLES:
        sql = ddl("jejak", table)
        assert "ReplacingMergeTree" in sql
        if table != "dead_letters":
            assert "event_id" in sql.split("ORDER BY")[1] or "alert_id" in sql.split("ORDER BY")[1]


def test_cluster_ddl_is_replicated_and_the_shipped_file_is_current() -> None:
    assert "ReplicatedReplacingMergeTree" in ddl("jejak", "events", "c1")
    assert "ON CLUSTER c1" in ddl("jejak", "events", "c1")
    result = CliRunner().invoke(cli, ["store", "ddl", "--cluster", "jejak_cluster"])
    assert result.exit_code == 0, result.output
    shipped = (ROOT / "deploy" / "clickhouse" / "cluster.sql").read_text()
    assert result.output.strip() in shipped, "regenerate deploy/clickhouse/cluster.sql"


def test_a_disclosure_becomes_one_lineage_row_per_category() -> None:
    event = parse_event(
        {
            "event_id": "d1",
            "kind": "disclosure",
            "occurred_at": "2026-05-01T09:05:00Z",
            "subject_id": "p-1",
            "data_categories": ["transaction.amount", "payment.virtual_account"],
            "purpose": "transaction.fulfilment",
            "recipient": {"id": "bank-x", "kind": "payment_processor", "country": "ID"},
            "inputs": ["orders.payments"],
        }
    )
    batch = Batch()
    batch.add(event, V("allowed", "C.1"), Origin("privacy.events", 3, 99))
    assert len(batch.events) == 1 and batch.events[0][-3:] == ["privacy.events", 3, 99]
    rows = [dict(zip(LINEAGE_COLUMNS, r, strict=True)) for r in batch.lineage]
    assert [r["category"] for r in rows] == ["transaction.amount", "payment.virtual_account"]
    assert {r["recipient_id"] for r in rows} == {"bank-x"}
    assert {r["basis"] for r in rows} == {"C.1"}
    assert rows[0]["inputs"] == ["orders.payments"]
    assert batch.consents == []


def test_consents_and_policy_acceptances_feed_the_ledger() -> None:
    batch = Batch()
    batch.add(
        parse_event(
            {
                "event_id": "c1",
                "kind": "consent",
                "occurred_at": "2026-05-01T08:00:00Z",
                "subject_id": "p-1",
                "scope": "cookies:all",
                "action": "withdrawn",
            }
        ),
        V("recorded"),
    )
    batch.add(
        parse_event(
            {
                "event_id": "a1",
                "kind": "policy_accepted",
                "occurred_at": "2026-05-01T08:00:00Z",
                "subject_id": "p-1",
                "policy_version": "2026.1",
            }
        ),
        V("recorded"),
    )
    assert [(r[3], r[4]) for r in batch.consents] == [
        ("cookies:all", "withdrawn"),
        ("policy:2026.1", "granted"),
    ]
    assert batch.lineage == []
