"""The workspace API over the real ClickHouse engine: roles, the access log, triage, requests.

A real uvicorn server on a free port, a real store, tokens made the way an
operator makes them; the clock of the workspace is controlled by the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from jejak.cli import cli
from jejak.lineage.api import ApiServer
from jejak.lineage.policy import load_policies
from jejak.lineage.store import Store, connect, migrate
from jejak.lineage.store.chain import load_heads
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.verify import verify
from jejak.lineage.store.writer import Batch, Origin, write_batch
from jejak.lineage.trust.note import Signer
from jejak.lineage.workspace import auth
from jejak.lineage.workspace.client import ApiError, RemoteWorkspace
from jejak.lineage.workspace.operations import OPERATIONS, Operation, Workspace
from jejak.schemas.models import parse_event
from jejak.settings import ApiSettings

pytestmark = pytest.mark.integration

TOPIC = "privacy.events"
ALICE = "ps1_" + "a" * 32
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
ROLES = ("officer", "analyst", "auditor")


@dataclass(frozen=True)
class V:
    decision: str
    basis: str | None = None
    reasons: tuple[str, ...] = ()
    policy_version: str = "2026.1"


@dataclass
class Clock:
    now: datetime = T0 + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    store: Store
    workspace: Workspace
    server: ApiServer
    clock: Clock
    signer: Signer
    folder: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30, **kw)

    def verify_clean(self) -> None:
        report = verify(self.store, self.signer.verifier(), export_dir=self.folder)
        assert report.ok, [f.to_dict() for f in report.findings]


def _events() -> list[tuple[dict[str, Any], V, str]]:
    return [
        (
            {
                "event_id": "d1",
                "kind": "disclosure",
                "occurred_at": "2026-05-01T10:00:00Z",
                "subject_id": ALICE,
                "data_categories": ["account.email"],
                "purpose": "marketing.advertising",
                "recipient": {"id": "broker-9", "kind": "data_broker"},
            },
            V("violation", None, ("disclosure_without_consent",)),
            "critical",
        ),
        (
            {
                "event_id": "r1",
                "kind": "subject_request",
                "occurred_at": "2026-05-01T10:00:00Z",
                "subject_id": ALICE,
                "request": "access",
                "request_ref": "DSR-2026-0001",
            },
            V("recorded"),
            "",
        ),
    ]


@pytest.fixture
def desk(clickhouse_dsn: str, store_database: str, tmp_path: Path) -> Iterator[Desk]:
    store = connect(clickhouse_dsn, store_database)
    migrate(store)
    signer = Signer.generate(f"jejak-{store_database}")
    folder = tmp_path / "checkpoints"
    checkpointer = Checkpointer(store, signer, signer.name, folder)
    heads = load_heads(store, TOPIC, [0])
    batch = Batch()
    for offset, (data, verdict, severity) in enumerate(_events()):
        batch.add(
            heads[0], parse_event(data), verdict, Origin(TOPIC, 0, offset), severity, "to a broker"
        )
    write_batch(store, batch)
    checkpointer.sign(heads.values())
    clock = Clock()
    workspace = Workspace(store, load_policies(), checkpointer=checkpointer, clock=clock)
    tokens = {
        role: auth.create_token(store, f"{role}-1", role, by="test", checkpointer=checkpointer)
        for role in ROLES
    }
    server = ApiServer(workspace, "127.0.0.1", 0, ApiSettings(max_body_bytes=4096)).start()
    yield Desk(store, workspace, server, clock, signer, tmp_path / "checkpoints", tokens)
    server.stop()
    store.close()


# -- the endpoint x role matrix -----------------------------------------------------------------

_n = count()


def _example(op: Operation, desk: Desk) -> tuple[str, dict[str, Any]]:
    """A valid call of ``op``: its path and its query parameters or JSON body."""
    n = next(_n)
    values: dict[str, Any] = {
        "subject_report": {"subject_id": ALICE, "reason": "DSR-2026-0001"},
        "subject_letter": {"subject_id": ALICE, "reason": "DSR-2026-0001", "lang": "en"},
        "violations": {"subject": ALICE, "reason": "DSR-2026-0001"},
        "alert": {"alert_id": "d1:disclosure_without_consent"},
        "triage": {"alert_id": "d1:disclosure_without_consent", "status": "acknowledged"},
        "record_request": {"subject_id": ALICE, "request": "objection", "request_ref": f"L-{n}"},
        "create_token": {"name": f"extra-{n}", "role": "analyst"},
        "revoke_token": {"name": f"spare-{n}"},
        "requests": {"open": "true"},
    }.get(op.name, {})
    if op.name == "revoke_token":
        auth.create_token(
            desk.store, f"spare-{n}", "analyst", by="test", checkpointer=desk.workspace.checkpointer
        )
    path = op.path
    for key in op.path_params:
        path = path.replace("{" + key + "}", str(values.pop(key)))
    return path, values


def _send(client: httpx.Client, op: Operation, path: str, values: dict[str, Any]) -> httpx.Response:
    if op.method == "GET":
        return client.get(path, params=values)
    return client.post(path, json=values)


def _allowed(op: Operation, role: str) -> bool:
    if op.subject is not None:  # the matrix example is subject-level: officers only
        return role == "officer"
    return role in op.roles


def test_every_endpoint_answers_each_role_as_declared(desk: Desk) -> None:
    seen = 0
    for op in OPERATIONS:
        path, values = _example(op, desk)
        with desk.client() as anonymous:
            r = _send(anonymous, op, path, values)
            assert r.status_code == 401, (op.name, r.text)
            assert "error" in r.json()
        for role in ROLES:
            path, values = _example(op, desk)
            with desk.client(role) as client:
                r = _send(client, op, path, values)
            expected = 200 if _allowed(op, role) else 403
            assert r.status_code == expected, (op.name, role, r.text)
            seen += 1
    assert seen == 3 * len(OPERATIONS) >= 3 * 19
    # the analyst's answers never carry a subject id
    with desk.client("analyst") as analyst:
        for op in OPERATIONS:
            if "analyst" in op.roles:
                path, values = _example(op, desk)
                assert ALICE not in _send(analyst, op, path, values).text, op.name
    with desk.client() as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
    desk.verify_clean()


def test_a_wrong_or_revoked_token_is_401(desk: Desk) -> None:
    with desk.client() as c:
        assert c.get("/api/stats", headers={"Authorization": "Bearer jjk_nope"}).status_code == 401
        assert c.get("/api/stats", headers={"Authorization": "Basic x"}).status_code == 401
    auth.revoke_token(desk.store, "analyst-1", by="test", checkpointer=desk.workspace.checkpointer)
    with desk.client("analyst") as analyst:
        assert analyst.get("/api/stats").status_code == 401


# -- the access log ---------------------------------------------------------------------------


def test_every_officer_read_of_a_subject_is_logged_and_cannot_be_changed(desk: Desk) -> None:
    with desk.client("officer") as officer:
        no_reason = officer.get(f"/api/subjects/{ALICE}")
        assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]
        report = officer.get(f"/api/subjects/{ALICE}", params={"reason": "DSR-2026-0001"})
        assert report.status_code == 200
        line = report.json()["disclosed"][0]
        assert line["recipient_id"] == "broker-9" and line["event_ids"] == ["d1"]
        by_subject = officer.get("/api/violations", params={"subject": ALICE, "reason": "audit-7"})
        assert by_subject.status_code == 200 and len(by_subject.json()) == 1
        assert officer.get("/api/violations").status_code == 200  # not subject-level: not logged
        log = officer.get("/api/access-log").json()
    assert [(r["endpoint"], r["reason"], r["subject_id"], r["token"]) for r in log] == [
        ("violations", "audit-7", ALICE, "officer-1"),
        ("subject_report", "DSR-2026-0001", ALICE, "officer-1"),
    ]
    with desk.client("auditor") as auditor:
        assert len(auditor.get("/api/access-log").json()) == 2
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            r = auditor.request(method, "/api/access-log", json={})
            assert r.status_code == 405 and "error" in r.json()
    with desk.client("officer") as officer:
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            assert officer.request(method, "/api/access-log", json={}).status_code == 405
    # no operation writes the access log: only subject-level reads do, as a side effect
    assert all(op.path != "/api/access-log" for op in OPERATIONS if op.method != "GET")
    # the records are in the chained journal, signed: verify checks them
    records = desk.store.query("SELECT count() AS n FROM {db}.journal WHERE record_kind = 'access'")
    assert records[0]["n"] == 2
    desk.verify_clean()


def test_a_read_whose_log_record_cannot_be_written_gets_no_answer(desk: Desk) -> None:
    """The record is written before the answer is computed: no record, no answer."""
    from jejak.lineage.workspace.auth import BadRequest

    with pytest.raises(BadRequest):
        desk.workspace.call(
            "subject_report",
            auth.Caller("officer-1", "officer"),
            {"subject_id": ALICE, "reason": "  "},
        )
    with desk.client("officer") as officer:
        assert officer.get("/api/access-log").json() == []


# -- triage -----------------------------------------------------------------------------------


def test_a_triage_round_trip_shows_in_listings_and_in_the_chain(desk: Desk) -> None:
    alert = "d1:disclosure_without_consent"

    def listed(officer: httpx.Client, status: str) -> list[str]:
        return [
            a["alert_id"] for a in officer.get("/api/violations", params={"status": status}).json()
        ]

    with desk.client("officer") as officer:
        assert listed(officer, "open") == [alert]
        for status, comment in (
            ("acknowledged", "looking"),
            ("resolved", "partner contract ended"),
            ("reopened", "seen again"),
        ):
            r = officer.post(
                f"/api/alerts/{alert}/status", json={"status": status, "comment": comment}
            )
            assert r.status_code == 200, r.text
            shown = "open" if status == "reopened" else status
            assert r.json()["status"] == shown
            assert listed(officer, shown) == [alert]
            others = {"open", "acknowledged", "resolved"} - {shown}
            assert all(listed(officer, s) == [] for s in others)
        assert (
            officer.post(f"/api/alerts/{alert}/status", json={"status": "closed"}).status_code
            == 422
        )
        assert (
            officer.post("/api/alerts/nope/status", json={"status": "resolved"}).status_code == 404
        )
        history = officer.get(f"/api/alerts/{alert}").json()["history"]
        counts = officer.get("/api/alerts").json()
    assert [(h["status"], h["author"]) for h in history] == [
        ("acknowledged", "officer-1"),
        ("resolved", "officer-1"),
        ("reopened", "officer-1"),
    ]
    assert counts == [
        {
            "severity": "critical",
            "reason": "disclosure_without_consent",
            "status": "open",
            "alerts": 1,
            "first_at": "2026-05-01T10:00:00Z",
            "last_at": "2026-05-01T10:00:00Z",
        }
    ]
    with desk.client("auditor") as auditor:
        r = auditor.post(f"/api/alerts/{alert}/status", json={"status": "resolved"})
        assert r.status_code == 403
    bodies = desk.store.query(
        "SELECT body FROM {db}.journal WHERE record_kind = 'triage' ORDER BY seq"
    )
    assert len(bodies) == 3 and all(ALICE not in b["body"] for b in bodies)
    desk.verify_clean()


def test_the_cli_triages_and_lists_through_the_api(desk: Desk) -> None:
    runner = CliRunner()
    base = ["--api", desk.server.url, "--token", desk.tokens["officer"]]
    r = runner.invoke(
        cli, ["alerts", "ack", "d1:disclosure_without_consent", "--comment", "mine", *base]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["query", "violations", "--status", "acknowledged", "--json", *base])
    assert r.exit_code == 0, r.output
    assert [a["alert_id"] for a in json.loads(r.output)] == ["d1:disclosure_without_consent"]
    r = runner.invoke(cli, ["query", "subject", ALICE, "--reason", "DSR-2026-0001", *base])
    assert r.exit_code == 0, r.output
    assert "broker-9" in r.output and "Who received it" in r.output
    r = runner.invoke(cli, ["query", "subject", ALICE, *base])
    assert r.exit_code != 0 and "reason" in str(r.exception)
    r = runner.invoke(cli, ["requests", "--json", *base])
    assert json.loads(r.output)[0]["status"] == "fulfilled"  # the report answered DSR-2026-0001
    analyst = ["--api", desk.server.url, "--token", desk.tokens["analyst"]]
    r = runner.invoke(cli, ["query", "violations", *analyst])
    assert r.exit_code != 0 and "403" in str(r.exception)


# -- data-subject requests on the policy's clock ----------------------------------------------


def test_request_clocks_and_the_overdue_alert(desk: Desk) -> None:
    with desk.client("officer") as officer:
        (case,) = officer.get("/api/requests").json()
        assert case["case_id"] == "DSR-2026-0001" and case["status"] == "open"
        assert case["deadline"] == "2026-05-04T10:00:00Z"  # 3 x 24 hours (UU PDP Pasal 32)
        assert case["hours_left"] == 71.0 and not case["overdue"]
        assert case["source"] == "UU PDP Pasal 32"
        assert desk.workspace.check_requests() == []
        desk.clock.now = T0 + timedelta(hours=73)
        (case,) = officer.get("/api/requests", params={"open": "true"}).json()
        assert case["overdue"] and case["hours_left"] == -1.0
        (raised,) = desk.workspace.check_requests()
        assert raised.severity == "high" and raised.reason == "subject_request_overdue"
        assert desk.workspace.check_requests() == []  # once
        (alert,) = officer.get("/api/violations", params={"code": "subject_request_overdue"}).json()
        assert alert["severity"] == "high" and alert["status"] == "open"
        assert ALICE not in alert["alert_id"]
        # the report read for the request closes the case, late
        officer.get(f"/api/subjects/{ALICE}", params={"reason": "DSR-2026-0001"})
        (case,) = officer.get("/api/requests").json()
        assert (
            case["status"] == "fulfilled" and case["late"] and case["closed_by"] == "subject report"
        )
        assert officer.get("/api/requests", params={"open": "true"}).json() == []
        # a case received by letter, and its rectification recorded
        r = officer.post(
            "/api/requests",
            json={"subject_id": ALICE, "request": "rectification", "request_ref": "L-9"},
        )
        assert r.status_code == 200
        assert [
            c["case_id"] for c in officer.get("/api/requests", params={"open": "true"}).json()
        ] == ["L-9"]
        officer.post(
            "/api/requests",
            json={
                "subject_id": ALICE,
                "request": "rectification",
                "request_ref": "L-9",
                "status": "fulfilled",
            },
        )
        assert officer.get("/api/requests", params={"open": "true"}).json() == []
    desk.verify_clean()


# -- hardening --------------------------------------------------------------------------------


def test_hardening(desk: Desk) -> None:
    with desk.client("officer") as c:
        rebound = c.get("/api/stats", headers={"Host": "attacker.example"})
        assert rebound.status_code == 400 and "Host" in rebound.json()["error"]
        assert (
            c.get("/api/stats", headers={"Host": f"localhost:{desk.server.port}"}).status_code
            == 200
        )
        ok = c.get("/api/stats")
        assert ok.status_code == 200 and "server" not in ok.headers
        assert ok.headers["x-content-type-options"] == "nosniff"
        unknown = c.get("/api/stats", params={"drop": "table"})
        assert unknown.status_code == 422 and "drop" in unknown.json()["error"]
        assert c.get("/api/violations", params={"limit": "zero"}).status_code == 422
        assert c.get("/api/violations", params={"since": "yesterday"}).status_code == 422
        big = c.post("/api/requests", content=b"{" + b" " * 5000 + b"}")
        assert big.status_code == 413 and "error" in big.json()
        assert c.get("/api/nothing").status_code == 404 and c.get("/api/nothing").json()["error"]
        assert c.delete("/api/stats").status_code == 405
        assert c.post("/api/requests", content=b"not json").status_code == 400
        page = c.get("/")
        assert page.status_code == 200 and b"<title>jejak" in page.content
        assert "content-security-policy" in page.headers
        doc = c.get("/openapi.json").json()
        assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert "/api/subjects/{subject_id}" in doc["paths"]


def test_the_client_is_derived_from_the_operations(desk: Desk) -> None:
    remote = RemoteWorkspace(desk.server.url, desk.tokens["auditor"])
    assert remote.call("stats")["events"] == 2
    assert remote.call("me") == {"name": "auditor-1", "role": "auditor"}
    with pytest.raises(ApiError, match="403"):
        remote.call("subject_report", {"subject_id": ALICE, "reason": "x"})
    with pytest.raises(ApiError, match="cannot reach"):
        RemoteWorkspace("http://127.0.0.1:9", "jjk_x").call("stats")


def test_tokens_from_the_command_line(
    desk: Desk, clickhouse_dsn: str, store_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not clickhouse_dsn.startswith("chdb://"):
        pytest.skip("the CLI opens the store itself (embedded chDB in this process)")
    monkeypatch.setenv("JEJAK_STORE__DSN", clickhouse_dsn)
    monkeypatch.setenv("JEJAK_TRUST__KEY_FILE", str(desk.folder.parent / "cli.key"))
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "token",
            "create",
            "--name",
            "officer-2",
            "--role",
            "officer",
            "--database",
            store_database,
        ],
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("jjk_") and "\n" not in token
    with desk.client() as c:
        me = c.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {"name": "officer-2", "role": "officer"}
    listed = runner.invoke(cli, ["token", "list", "--json", "--database", store_database])
    assert token not in listed.output
    assert {t["name"] for t in json.loads(listed.stdout)} >= {"officer-1", "officer-2"}
    assert (
        runner.invoke(cli, ["token", "revoke", "officer-2", "--database", store_database]).exit_code
        == 0
    )
    with desk.client() as c:
        assert c.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    stored = desk.store.query("SELECT body FROM {db}.journal WHERE record_kind = 'token_created'")
    assert all(token not in r["body"] and "jjk_" not in r["body"] for r in stored)


def test_an_erasure_reaches_the_workspace_records(desk: Desk) -> None:
    from jejak.lineage.store.erasure import erase

    with desk.client("officer") as officer:
        officer.get(f"/api/subjects/{ALICE}", params={"reason": "DSR-2026-0001"})
        officer.post(
            "/api/alerts/d1:disclosure_without_consent/status", json={"status": "acknowledged"}
        )
    erase(desk.store, ALICE, "DSR-2026-0002", checkpointer=desk.workspace.checkpointer)
    rows = desk.store.query("SELECT subject_id, body FROM {db}.journal")
    assert rows and all(ALICE not in r["subject_id"] + r["body"] for r in rows)
    with desk.client("auditor") as auditor:
        (read,) = auditor.get("/api/access-log").json()
    assert read["subject_id"].startswith("erased:") and read["reason"] == "DSR-2026-0001"
    desk.verify_clean()
