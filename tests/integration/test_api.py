"""The query API and web page over the real ClickHouse engine, and the CLI through it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from jejak.cli import cli
from jejak.lineage.api import QueryServer
from jejak.lineage.policy import load_policies
from jejak.lineage.service import LocalQueries, QueryError, RemoteQueries
from jejak.lineage.store import connect, migrate
from jejak.lineage.store.chain import LogHead
from jejak.lineage.store.writer import Batch, Origin, write_batch
from jejak.schemas.models import parse_event

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class V:
    decision: str
    basis: str | None = None
    reasons: tuple[str, ...] = ()
    policy_version: str = "2026.1"


@pytest.fixture
def server(clickhouse_dsn: str, store_database: str) -> Iterator[QueryServer]:
    store = connect(clickhouse_dsn, store_database)
    migrate(store)
    leak = parse_event(
        {
            "event_id": "d1",
            "kind": "disclosure",
            "occurred_at": "2026-05-01T10:00:00Z",
            "subject_id": "ps1/odd id",
            "data_categories": ["account.email"],
            "purpose": "marketing.advertising",
            "recipient": {"id": "broker-9", "kind": "data_broker"},
        }
    )
    batch = Batch()
    batch.add(
        LogHead("events/privacy.events/0"),
        leak,
        V("violation", None, ("disclosure_without_consent",)),
        Origin("privacy.events", 0, 0),
        "critical",
        "to a data broker",
    )
    write_batch(store, batch)
    srv = QueryServer(LocalQueries(store, load_policies()), "127.0.0.1", 0).start()
    yield srv
    srv.stop()
    store.close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_endpoints_answer_what_the_store_holds(server: QueryServer) -> None:
    remote = RemoteQueries(server.url)
    assert remote.stats()["events"] == 1
    assert remote.alerts()[0]["reason"] == "disclosure_without_consent"
    v = remote.violations(severity="critical")
    assert [a["alert_id"] for a in v] == ["d1:disclosure_without_consent"]
    assert v[0]["occurred_at"] == "2026-05-01T10:00:00Z"
    assert remote.violations(since=datetime(2026, 6, 1, tzinfo=UTC)) == []
    assert remote.disclosures(recipient_kind="data_broker")[0]["recipient_id"] == "broker-9"
    report = remote.subject("ps1/odd id")  # quoted in the path
    assert report["disclosed"][0]["recipient_id"] == "broker-9"
    assert remote.retention() == [] and remote.dead_letters() == []


def test_bad_requests_are_clear_and_the_page_is_served(server: QueryServer) -> None:
    status, body = get(f"{server.url}/api/violations?limit=zero")
    assert status == 400 and "limit" in json.loads(body)["error"]
    status, body = get(f"{server.url}/api/violations?since=yesterday")
    assert status == 400 and "ISO 8601" in json.loads(body)["error"]
    assert get(f"{server.url}/api/nothing")[0] == 404
    assert get(f"{server.url}/healthz") == (200, b'{"status": "ok"}')
    status, page = get(f"{server.url}/")
    assert status == 200 and b"<title>jejak" in page and b"api/violations" in page
    with pytest.raises(QueryError, match="400"):
        RemoteQueries(server.url).violations(limit=0)


def test_the_cli_queries_through_the_api(server: QueryServer) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["query", "violations", "--api", server.url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["recipient_id"] == "broker-9"
    result = runner.invoke(cli, ["query", "subject", "ps1/odd id", "--api", server.url])
    assert result.exit_code == 0, result.output
    assert "broker-9" in result.output and "Who received it" in result.output


def test_an_unreachable_api_is_a_clear_error() -> None:
    with pytest.raises(QueryError, match="cannot reach the query API"):
        RemoteQueries("http://127.0.0.1:9").stats()
