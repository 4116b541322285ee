"""Request cases on the policy's clocks: a pure function of the store's rows and a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jejak.lineage.policy import load_policies
from jejak.lineage.workspace.requests import cases, overdue_alerts

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
S = "ps1_" + "b" * 32


def sources(**kw: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    empty: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("events", "records", "reports", "erasures", "deletions", "withdrawals")
    }
    return {**empty, **kw}


def opened(kind: str, ref: str, status: str = "", at: datetime = T0) -> dict[str, Any]:
    return {
        "event_id": f"e-{ref}-{status}",
        "subject_id": S,
        "occurred_at": at,
        "request": kind,
        "request_ref": ref,
        "status": status,
    }


def test_every_request_kind_has_a_deadline_with_its_article() -> None:
    policy = load_policies().latest
    kinds = ("access", "rectification", "deletion", "consent_withdrawal", "objection", "suspension")
    assert set(policy.request_deadlines) == set(kinds)
    for kind in ("access", "rectification", "suspension"):
        assert policy.request_deadlines[kind].within_hours == 72
        assert policy.request_deadlines[kind].source.startswith("UU PDP Pasal")


def test_each_kind_closes_with_its_fulfilling_event() -> None:
    later = T0 + timedelta(hours=5)
    found = cases(
        sources(
            events=[
                opened("access", "A"),
                opened("deletion", "D1"),
                opened("deletion", "D2"),
                opened("consent_withdrawal", "W"),
                opened("rectification", "R"),
                opened("rectification", "R", "fulfilled", later),
                opened("objection", "O"),
            ],
            reports=[{"subject_id": S, "at": later, "reason": "A"}],
            erasures=[{"at": later, "request_ref": "D1"}],
            deletions=[{"subject_id": S, "at": later, "request_ref": "D2"}],
            withdrawals=[{"subject_id": S, "at": later, "scope": "processing:all"}],
        ),
        load_policies(),
    )
    state = {c.case_id: (c.status, c.closed_by) for c in found}
    assert state == {
        "A": ("fulfilled", "subject report"),
        "D1": ("fulfilled", "erasure"),
        "D2": ("fulfilled", "deletion event"),
        "W": ("fulfilled", "consent withdrawn"),
        "R": ("fulfilled", "status fulfilled"),
        "O": ("open", ""),
    }


def test_a_report_for_another_reason_or_before_the_request_does_not_close_it() -> None:
    found = cases(
        sources(
            events=[opened("access", "A")],
            reports=[
                {"subject_id": S, "at": T0 + timedelta(hours=1), "reason": "audit"},
                {"subject_id": S, "at": T0 - timedelta(hours=1), "reason": "A"},
            ],
        ),
        load_policies(),
    )
    assert [c.status for c in found] == ["open"]


def test_overdue_only_past_the_deadline_and_the_alert_names_no_subject() -> None:
    (case,) = cases(sources(events=[opened("access", "A")]), load_policies())
    assert case.deadline == T0 + timedelta(hours=72)
    assert overdue_alerts([case], T0 + timedelta(hours=72)) == []
    (alert,) = overdue_alerts([case], T0 + timedelta(hours=72, seconds=1))
    assert alert.severity == "high" and alert.reason == "subject_request_overdue"
    assert S not in alert.alert_id and S not in alert.summary
    assert "UU PDP Pasal 32" in alert.summary
    assert case.to_dict(T0 + timedelta(hours=80))["overdue"]


def test_a_version_1_request_is_its_own_case() -> None:
    event = {**opened("access", ""), "event_id": "e-1"}
    (case,) = cases(sources(events=[event]), load_policies())
    assert case.case_id == "e-1"
