"""The store's tables are declared once; DDL, rows and canonical bytes derive from that."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from jejak.cli import cli
from jejak.lineage.store.canonical import canonical_sql, commitment, encoder, netstring
from jejak.lineage.store.chain import EVENT_CHAINER, LogHead
from jejak.lineage.store.tables import (
    EVENTS,
    JOURNAL,
    TABLES,
    VIEWS,
    Source,
    cluster_ddl,
    create_sql,
    row_of,
)
from jejak.lineage.trust.merkle import leaf_hash, root
from jejak.schemas.models import parse_event

ROOT = Path(__file__).resolve().parents[3]
SUBJECT = "ps1_" + "a" * 32


@dataclass(frozen=True)
class V:
    decision: str
    basis: str | None = None
    reasons: tuple[str, ...] = ()
    policy_version: str = "2026.1"


DISCLOSURE = parse_event(
    {
        "event_id": "d1",
        "kind": "disclosure",
        "occurred_at": "2026-05-01T09:05:00.250Z",
        "subject_id": SUBJECT,
        "trace_id": "trace-7",
        "data_categories": ["transaction.amount", "payment.virtual_account"],
        "purpose": "transaction.fulfilment",
        "recipient": {"id": "bank-x", "kind": "payment_processor", "country": "ID"},
        "inputs": ["orders.payments"],
    }
)


def test_the_ddl_of_every_table_comes_from_its_declaration() -> None:
    for table in TABLES:
        sql = create_sql(table, "jejak")
        for column in table.columns:
            assert f"`{column.name}` {column.type}" in sql, (table.name, column.name)
        assert f"ORDER BY {table.order_by}" in sql
    assert "PARTITION BY toYYYYMM(occurred_at)" in create_sql(EVENTS, "jejak")
    # the event log is append-only: nothing folds or replaces its rows
    assert "ENGINE = MergeTree" in create_sql(EVENTS, "jejak")
    assert "ENGINE = MergeTree" in create_sql(JOURNAL, "jejak")


def test_cluster_ddl_is_replicated_sharded_by_subject_and_the_shipped_file_is_current() -> None:
    statements = cluster_ddl("jejak", "c1")
    events_local = next(s for s in statements if "jejak.events_local ON CLUSTER c1 (" in s)
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/jejak/events'" in events_local
    assert any(
        "ENGINE = Distributed(c1, jejak, events_local, cityHash64(subject_id))" in s
        for s in statements
    )
    assert len([s for s in statements if "MATERIALIZED VIEW" in s]) == len(
        [v for v in VIEWS if v.target is not None]
    )
    result = CliRunner().invoke(cli, ["store", "ddl", "--cluster", "jejak_cluster"])
    assert result.exit_code == 0, result.output
    shipped = (ROOT / "deploy" / "clickhouse" / "cluster.sql").read_text()
    assert result.output.strip() in shipped, "regenerate deploy/clickhouse/cluster.sql"


def test_an_event_becomes_one_row_in_the_declared_column_order() -> None:
    row = row_of(Source(DISCLOSURE, V("allowed", "C.1"), "", ""))
    values = dict(zip(EVENTS.written_names, row, strict=True))
    assert values["event_id"] == "d1"
    assert values["recipient_id"] == "bank-x" and values["recipient_country"] == "ID"
    assert values["data_categories"] == ["transaction.amount", "payment.virtual_account"]
    assert values["basis"] == "C.1" and values["decision"] == "allowed"
    assert values["inputs"] == ["orders.payments"]
    assert values["scope"] == "" and values["action"] == ""
    # chain columns are the chain writer's
    assert values["seq"] is None and values["row_hash"] is None


def _chained(offsets: tuple[int, ...]) -> tuple[LogHead, list[dict[str, object]]]:
    head = LogHead("events/privacy.events/0")
    rows = []
    for offset in offsets:
        row = row_of(Source(DISCLOSURE, V("allowed", "C.1"), "", ""))
        row[0:3] = ["privacy.events", 0, offset]
        EVENT_CHAINER.chain(head, row)
        rows.append(dict(zip(EVENTS.written_names, row, strict=True)))
    return head, rows


def test_chaining_links_rows_and_commits_to_the_subject_through_a_salted_hash() -> None:
    head, rows = _chained((5, 9))
    assert [r["seq"] for r in rows] == [0, 1]
    assert rows[0]["prev_hash"] == bytes(32)
    assert rows[1]["prev_hash"] == rows[0]["row_hash"]
    # the canonical bytes never hold the subject id, the trace id or the salt
    canonical = [EVENT_CHAINER.canonical([r[n] for n in EVENTS.written_names]) for r in rows]
    assert SUBJECT.encode() not in canonical[0] and b"trace-7" not in canonical[0]
    salt = rows[0]["subject_salt"]
    assert isinstance(salt, bytes)
    assert len(salt) == 16
    assert rows[0]["subject_commitment"] == commitment(salt, [SUBJECT, "trace-7", ""])
    assert rows[0]["subject_commitment"] != rows[1]["subject_commitment"]  # a salt per row
    leaves = [leaf_hash(c) for c in canonical]
    assert head.tree.root() == root(leaves)
    prev = rows[0]["row_hash"]
    assert isinstance(prev, bytes)
    link = hashlib.sha256(prev + leaves[1]).digest()
    assert rows[1]["row_hash"] == link


def test_canonical_bytes_are_netstrings_of_the_chained_columns_in_order() -> None:
    names = [c.name for c in JOURNAL.canonical]
    assert names == ["seq", "record_id", "record_kind", "recorded_at", "subject_commitment", "body"]
    at = datetime(1970, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC)
    got = encoder(JOURNAL)([3, "r", "alert", at, bytes(32), "{}"])
    assert got == b"journal/v1\n" + b"".join(
        netstring(v) for v in (b"3", b"r", b"alert", b"1500", bytes(32), b"{}")
    )
    # the SQL twin names the same columns in the same order
    sql = canonical_sql(JOURNAL)
    positions = [sql.index(f"`{n}`") for n in names]
    assert positions == sorted(positions)


def test_the_compiled_row_makers_and_encoders_equal_the_plain_reference() -> None:
    from jejak.lineage.store.canonical import reference_encoder
    from jejak.lineage.store.tables import row_maker
    from jejak.schemas.models import EVENT_KINDS

    examples = ROOT / "tests" / "unit" / "lineage" / "data" / "policy-examples.jsonl"
    events = [parse_event(json.loads(line)) for line in examples.read_text().splitlines()]
    envelope = {"occurred_at": "2026-05-01T08:00:00Z", "subject_id": SUBJECT}
    events += [
        parse_event({**envelope, "kind": "policy_accepted", "policy_version": "2026.1"}),
        parse_event({**envelope, "kind": "deletion", "data_categories": ["account"]}),
        parse_event({**envelope, "kind": "subject_request", "request": "access"}),
        DISCLOSURE.model_copy(update={"producer": None, "legal_request_ref": None}),
    ]
    assert {e.kind for e in events} == set(EVENT_KINDS)
    for verdict in (V("allowed", "C.1"), V("violation", None, ("a", "b"), "2026.2")):
        for event in events:
            source = Source(event, verdict, "high", "s")
            assert row_maker(EVENTS, type(event))(source) == row_of(source), event.kind
            row = row_of(source)
            row[0:4] = ["t", 1, 2, 3]
            row[EVENTS.written_names.index("subject_commitment")] = b"\x01" * 32
            values = [row[EVENTS.written_names.index(c.name)] for c in EVENTS.canonical]
            assert encoder(EVENTS)(values) == reference_encoder(EVENTS)(values)
