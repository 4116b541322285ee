"""A store made by the first release's DDL migrates in place and keeps its data."""

from __future__ import annotations

from pathlib import Path

import pytest

from jejak.lineage.store import connect, migrate
from jejak.lineage.store import queries as q
from jejak.lineage.store.checkpoints import Checkpointer, sign_all
from jejak.lineage.store.migrations import CURRENT_VERSION, version
from jejak.lineage.store.verify import verify
from jejak.lineage.trust.note import Signer

pytestmark = pytest.mark.integration

V1 = Path(__file__).parent / "data" / "store_v1.sql"


def test_a_version_1_store_is_converted_in_place(
    clickhouse_dsn: str, store_database: str, tmp_path: Path
) -> None:
    store = connect(clickhouse_dsn, store_database)
    for line in V1.read_text().splitlines():
        if line and not line.startswith("--"):
            store.command(line.rstrip(";"))
    legacy = store.query(
        "SELECT event_id, decision, basis, reasons FROM {db}.verdicts FINAL ORDER BY event_id"
    )
    legacy_alerts = store.query("SELECT alert_id FROM {db}.alerts FINAL ORDER BY alert_id")
    assert len(legacy) == 12

    ran = migrate(store)
    assert [m.version for m in ran] == [2, 3, 4, 5]
    assert version(store) == CURRENT_VERSION
    tables = {
        r["name"]
        for r in store.query(
            "SELECT name FROM system.tables WHERE database = {d:String}", {"d": store_database}
        )
    }
    assert not {t for t in tables if t.startswith("legacy_v1_")}
    assert "verdicts" not in tables

    # every event once, with the verdict it had; every alert; the dead letter
    got = sorted(
        (r["event_id"], r["decision"], r["basis"], list(r["reasons"])) for r in q.verdicts(store)
    )
    assert got == [(r["event_id"], r["decision"], r["basis"], list(r["reasons"])) for r in legacy]
    alerts = store.query("SELECT alert_id FROM {db}.alerts ORDER BY alert_id")
    assert alerts == legacy_alerts
    assert q.totals(store)["dead_letters"] == 1
    assert q.totals(store)["events"] == 12

    # the converted history goes under a signature and verifies
    signer = Signer.generate("jejak-migrated")
    folder = tmp_path / "checkpoints"
    assert sign_all(store, Checkpointer(store, signer, signer.name, folder)) == 3
    report = verify(store, signer.verifier(), export_dir=folder)
    assert report.ok, report.findings
    assert report.rows == 13  # 12 events in two partitions, 1 retention alert in the journal

    assert migrate(store) == []  # and a second start has nothing to do
    store.close()
