"""The access report (UU PDP Pasal 32) for subjects fed through the real pipeline.

Two subjects' events go through the broker and the lineage consumer into the
store; the report of one names every event of that subject — in the trail and
in the lines that rest on them — and nothing of the other, in Bahasa Indonesia
and in English. Producing it is recorded in the access log and closes that
subject's open access request (the other subject's stays open).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import Producer
from pydantic import SecretStr

from jejak.cli import cli
from jejak.consumers.pipeline import build_consumer
from jejak.consumers.topics import ensure_topics
from jejak.lineage.policy import load_policies
from jejak.lineage.store import Store, connect, migrate
from jejak.lineage.store import workspace as ws
from jejak.lineage.workspace.auth import Caller
from jejak.lineage.workspace.operations import Document, Workspace
from jejak.schemas.codec import Codec
from jejak.schemas.models import event_from_json
from jejak.schemas.pseudonym import pseudonymize
from jejak.settings import KafkaSettings, SdkSettings, Settings, StoreSettings

pytestmark = pytest.mark.integration

KEY = SecretStr("report-test-key")
EXAMPLES = Path(__file__).resolve().parents[1] / "unit" / "lineage" / "data"
OFFICER = Caller("officer-ana", "officer")
NOW = datetime(2026, 5, 3, 9, 0, tzinfo=UTC)


def ps(raw: str) -> str:
    return pseudonymize(raw, KEY)


def _events_of_a(subject: str) -> list[dict[str, Any]]:
    """The contract's examples (12 events of every kind, four of them violations), and more."""
    lines = [json.loads(x) for x in (EXAMPLES / "policy-examples.jsonl").read_text().splitlines()]
    extra = [
        {"event_id": "ex-13", "kind": "policy_accepted", "occurred_at": "2026-05-01T07:00:00Z",
         "policy_version": "2026.1"},
        {"event_id": "ex-14", "kind": "consent", "occurred_at": "2026-05-01T07:30:00Z",
         "scope": "recipient:fin-1", "action": "granted"},
        {"event_id": "ex-15", "kind": "disclosure", "occurred_at": "2026-05-01T07:40:00Z",
         "data_categories": ["account.email"], "purpose": "service.financial_products",
         "recipient": {"id": "fin-1", "kind": "integrated_partner"}},
        {"event_id": "ex-16", "kind": "subject_request", "occurred_at": "2026-05-02T12:00:00Z",
         "request": "access", "request_ref": "DSR-2026-0042"},
        {"event_id": "ex-17", "kind": "deletion", "occurred_at": "2026-05-02T13:00:00Z",
         "data_categories": ["device_access.camera"]},
    ]  # fmt: skip
    return [{**e, "subject_id": subject} for e in lines + extra]


def _events_of_b(subject: str) -> list[dict[str, Any]]:
    return [
        {**e, "subject_id": subject}
        for e in (
            {"event_id": "bx-01", "kind": "collection", "occurred_at": "2026-05-01T08:00:00Z",
             "data_categories": ["account.username"], "source": "user"},
            {"event_id": "bx-02", "kind": "disclosure", "occurred_at": "2026-05-01T09:00:00Z",
             "data_categories": ["transaction.shipping_address"],
             "purpose": "transaction.fulfilment",
             "recipient": {"id": "kurir-b", "kind": "logistics_provider"}},
            {"event_id": "bx-03", "kind": "consent", "occurred_at": "2026-05-01T09:30:00Z",
             "scope": "cookies:analytics_demographics", "action": "withdrawn"},
            {"event_id": "bx-04", "kind": "subject_request", "occurred_at": "2026-05-02T12:00:00Z",
             "request": "access", "request_ref": "DSR-2026-0043"},
        )
    ]  # fmt: skip


@pytest.fixture
def settings(kafka_bootstrap: str, clickhouse_dsn: str, store_database: str) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=kafka_bootstrap,
            topic=f"report.{run}.events",
            dead_letter_topic=f"report.{run}.dlq",
            alerts_topic=f"report.{run}.alerts",
            group_id=f"report-{run}",
            partitions=3,
        ),
        store=StoreSettings(dsn=clickhouse_dsn, database=store_database),  # type: ignore[arg-type]
        sdk=SdkSettings(allow_development_key=True),
    )


@pytest.fixture
def fed(settings: Settings) -> tuple[Store, str, str, set[str], set[str]]:
    """Both subjects' events sent through Kafka and consumed into the store."""
    a, b = ps("alice@example.com"), ps("bob@example.com")
    events = [event_from_json(json.dumps(e)) for e in _events_of_a(a) + _events_of_b(b)]
    ensure_topics(settings.kafka)
    codec = Codec()
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    for event in events:
        producer.produce(
            settings.kafka.topic,
            key=event.subject_id.encode(),
            value=codec.encode(event),
            headers=codec.headers(event),
        )
    assert producer.flush(30) == 0
    store = connect(settings.store)
    migrate(store)
    with build_consumer(settings, store=store, batch_size=7) as consumer:
        stats = consumer.run(idle_timeout_s=3, max_messages=len(events))
    assert stats.events == len(events)
    ids_a = {e.event_id for e in events if e.subject_id == a}
    ids_b = {e.event_id for e in events if e.subject_id == b}
    return store, a, b, ids_a, ids_b


def _cited(html: str) -> set[str]:
    return set(re.findall(r"<code>((?:ex|bx)-\d+)</code>", html))


def test_the_report_names_every_event_of_its_subject_and_none_of_another(
    fed: tuple[Store, str, str, set[str], set[str]],
) -> None:
    store, a, b, ids_a, ids_b = fed
    workspace = Workspace(store, load_policies(), clock=lambda: NOW)
    opened = {c.case_id: c.status for c in workspace.request_cases()}
    assert opened == {"DSR-2026-0042": "open", "DSR-2026-0043": "open"}

    pages = {}
    for lang in ("id", "en"):
        answer = workspace.call(
            "subject_letter",
            OFFICER,
            {"subject_id": a, "reason": "DSR-2026-0042", "lang": lang, "format": "html"},
        )
        assert isinstance(answer, Document) and answer.media_type.startswith("text/html")
        html = pages[lang] = answer.content
        assert _cited(html) == ids_a  # every event of the subject, and no other
        assert b not in html and "kurir-b" not in html
        assert f'<html lang="{lang}">' in html
        assert "<script" not in html and "http://" not in html and "https://" not in html
        assert "@media print" in html
    assert "Rekam jejak pemrosesan" in pages["id"] and "Nomor telepon" in pages["id"]
    assert "Processing trail" in pages["en"] and "Phone number" in pages["en"]
    # the clause text in the reader's language: the Indonesian original, the English gloss
    assert "verifikasi pembayaran" in pages["id"] and "payment verification" in pages["en"]

    data = workspace.call(
        "subject_letter", OFFICER, {"subject_id": a, "reason": "DSR-2026-0042", "format": "json"}
    )
    assert data["subject_id"] == a and data["events"] == len(ids_a)
    assert {r["event_id"] for r in data["trail"]} == ids_a
    lines = data["held"] + data["purposes"] + data["disclosures"] + data["consents"]
    lines += data["deletions"] + data["requests"]
    assert all(line["event_ids"] and set(line["event_ids"]) <= ids_a for line in lines)
    assert {i for line in lines for i in line["event_ids"]} == ids_a - {"ex-11"} | {"ex-11"}
    fin = next(d for d in data["disclosures"] if d["recipient"]["id"] == "fin-1")
    assert [b["clause"] for b in fin["basis"]] == ["C.2"]
    assert [c["event_id"] for c in fin["consents"]] == ["ex-14"]  # the consent it rests on
    promo = next(d for d in data["disclosures"] if d["recipient"]["id"] == "promo-co")
    assert promo["flagged"] == 1 and not promo["basis"]

    # the read is in the access log, and it answered the open access request
    log = ws.access_log(store, subject_id=a)
    assert {(r["endpoint"], r["reason"]) for r in log} == {("subject_letter", "DSR-2026-0042")}
    assert len(log) == 3
    cases = {c.case_id: c for c in workspace.request_cases()}
    assert cases["DSR-2026-0042"].status == "fulfilled"
    assert cases["DSR-2026-0042"].closed_by == "subject report"
    assert cases["DSR-2026-0043"].status == "open"

    # the other subject's report, likewise, names only its own events
    other = workspace.call(
        "subject_letter", OFFICER, {"subject_id": b, "reason": "DSR-2026-0043", "lang": "en"}
    )
    assert _cited(other.content) == ids_b and a not in other.content


def test_the_command_line_writes_the_letter(
    fed: tuple[Store, str, str, set[str], set[str]],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, a, _b, ids_a, _ids_b = fed
    monkeypatch.setenv("JEJAK_STORE__DSN", settings.store.dsn.get_secret_value())
    monkeypatch.setenv("JEJAK_STORE__DATABASE", store.database)
    monkeypatch.setenv("JEJAK_SDK__PSEUDONYMIZATION_KEY", KEY.get_secret_value())
    monkeypatch.setenv("JEJAK_SDK__ALLOW_DEVELOPMENT_KEY", "true")
    monkeypatch.setenv("JEJAK_TRUST__KEY_FILE", str(tmp_path / "trust" / "signing.key"))
    monkeypatch.setenv("JEJAK_TRUST__CHECKPOINT_DIR", str(tmp_path / "trust" / "checkpoints"))
    out = tmp_path / "letter.html"
    runner = CliRunner()
    args = ["report", "subject", "alice@example.com", "--raw", "--lang", "id"]
    r = runner.invoke(cli, [*args, "--reason", "DSR-2026-0042", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert _cited(out.read_text(encoding="utf-8")) == ids_a
    assert "alice@example.com" not in r.output and "alice@example.com" not in out.read_text()
    r = runner.invoke(cli, [*args, "--reason", "DSR-2026-0042", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert {row["event_id"] for row in json.loads(r.output)["trail"]} == ids_a
    # a raw id without --raw is refused with a hint, not answered "nothing held"
    r = runner.invoke(cli, ["report", "subject", "alice@example.com", "--reason", "DSR-1"])
    assert r.exit_code != 0 and "--raw" in r.output and "alice@example.com" not in r.output


def test_the_api_serves_the_letter_to_officers_only(
    fed: tuple[Store, str, str, set[str], set[str]],
) -> None:
    import httpx

    from jejak.lineage.api import ApiServer
    from jejak.lineage.workspace import auth
    from jejak.lineage.workspace.client import RemoteWorkspace
    from jejak.settings import ApiSettings

    store, a, b, ids_a, _ids_b = fed
    workspace = Workspace(store, load_policies(), clock=lambda: NOW)
    officer = auth.create_token(store, "officer-r", "officer", by="test")
    analyst = auth.create_token(store, "analyst-r", "analyst", by="test")
    server = ApiServer(workspace, "127.0.0.1", 0, ApiSettings()).start()
    try:
        path = f"{server.url}/api/subjects/{a}/report"
        with httpx.Client(headers={"Authorization": f"Bearer {officer}"}) as c:
            r = c.get(path, params={"reason": "DSR-2026-0042", "lang": "id"})
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/html")
            assert "DSR-2026-0042" in r.headers["content-disposition"]
            assert "script" not in r.headers["content-security-policy"].replace("'none'", "")
            assert _cited(r.text) == ids_a and b not in r.text
            assert c.get(path).status_code == 400  # no reason, no read
            raw = c.get(
                f"{server.url}/api/subjects/budi@example.com/report", params={"reason": "x"}
            )
            assert raw.status_code == 422 and "budi" not in raw.text
            as_json = c.get(path, params={"reason": "DSR-2026-0042", "format": "json"}).json()
            assert {row["event_id"] for row in as_json["trail"]} == ids_a
        denied = httpx.get(
            path, params={"reason": "x"}, headers={"Authorization": f"Bearer {analyst}"}
        )
        assert denied.status_code == 403
        letter = RemoteWorkspace(server.url, officer).call(
            "subject_letter", {"subject_id": a, "reason": "DSR-2026-0042", "lang": "en"}
        )
        assert isinstance(letter, Document) and _cited(letter.content) == ids_a
    finally:
        server.stop()
