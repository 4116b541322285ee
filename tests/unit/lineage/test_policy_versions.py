"""Versions (G): each event is judged by the version in force when it happened; diff and replay."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from policy_helpers import closed, consent, dis, ev, use

from jejak.errors import PolicyNotFound
from jejak.lineage.policy import (
    Evaluator,
    Policy,
    PolicySet,
    diff_policies,
    evaluate,
    load_policy,
    replay,
)

JUNE = "2026-06-15T10:00:00Z"
AUGUST = "2026-08-15T10:00:00Z"


def test_in_force_and_latest(two_versions: PolicySet) -> None:
    assert [p.version for p in two_versions] == ["2026.1", "2026.2"]
    assert two_versions.latest.version == "2026.2"
    assert two_versions.in_force(datetime(2026, 6, 30, 16, 59, tzinfo=UTC)).version == "2026.1"
    assert two_versions.in_force(datetime(2026, 6, 30, 17, 0, tzinfo=UTC)).version == "2026.2"
    with pytest.raises(PolicyNotFound, match="takes effect"):
        two_versions.in_force(datetime(2025, 1, 1, tzinfo=UTC))
    assert two_versions.get("2026.2") is two_versions.latest
    with pytest.raises(PolicyNotFound, match="2030.1"):
        two_versions.get("2030.1")


@pytest.mark.parametrize(
    ("fields", "item"),
    [
        (
            {
                "kind": "use",
                "data_categories": ["account.email"],
                "purpose": "service.credit_scoring",
            },
            "purpose service.credit_scoring (2026.2)",
        ),
        (
            {"kind": "collection", "data_categories": ["identity.ktp"], "source": "user"},
            "category identity.ktp (2026.2)",
        ),
        (
            {
                "kind": "disclosure",
                "data_categories": ["account.email"],
                "purpose": "service.financial_products",
                "recipient": {"id": "lender-1", "kind": "fintech_lender"},
            },
            "recipient kind fintech_lender (2026.2)",
        ),
    ],
    ids=["purpose", "category", "recipient-kind"],
)
def test_only_in_a_later_version_is_policy_not_in_force(
    two_versions: PolicySet, fields: dict[str, object], item: str
) -> None:
    kind = str(fields.pop("kind"))
    early = ev(kind, at=JUNE, **fields)
    verdict = evaluate(early, None, two_versions)
    assert verdict.policy_version == "2026.1"
    assert verdict.reasons[0] == "policy_not_in_force"
    assert verdict.findings[0].item == item
    assert verdict.findings[0].clause == "G"
    late = ev(kind, at=AUGUST, **fields)
    after = evaluate(late, None, two_versions)
    assert after.policy_version == "2026.2"
    assert "policy_not_in_force" not in after.reasons


def test_the_later_version_allows_what_it_adds(two_versions: PolicySet) -> None:
    event = ev(
        "disclosure",
        at=AUGUST,
        data_categories=["transaction.amount"],
        purpose="service.credit_scoring",
        recipient={"id": "lender-1", "kind": "fintech_lender"},
    )
    verdict = evaluate(event, None, two_versions)
    assert (verdict.decision, verdict.basis) == ("allowed", "C.9")


def test_never_declared_stays_undeclared(two_versions: PolicySet) -> None:
    verdict = evaluate(
        ev("use", at=JUNE, data_categories=["account.email"], purpose="profiling.resale"),
        None,
        two_versions,
    )
    assert verdict.reasons == ("undeclared_purpose",)


def test_changed_rules_apply_from_their_date(two_versions: PolicySet) -> None:
    fields = {
        "data_categories": ["transaction.amount"],
        "purpose": "service.operations",
        "recipient": {"id": "aff-1", "kind": "affiliate"},
    }
    june = evaluate(ev("disclosure", at=JUNE, **fields), None, two_versions)
    august = evaluate(ev("disclosure", at=AUGUST, **fields), None, two_versions)
    assert (june.decision, june.basis) == ("allowed", "C.6")
    assert august.reasons == ("disclosure_without_consent",)
    newsletter = {
        "data_categories": ["account.email"],
        "purpose": "marketing.communications",
        "channel": "newsletter",
    }
    assert evaluate(ev("use", at=JUNE, **newsletter), None, two_versions).decision == "allowed"
    assert evaluate(ev("use", at=AUGUST, **newsletter), None, two_versions).reasons == (
        "opted_out",
    )


def test_one_evaluator_crosses_the_boundary(two_versions: PolicySet) -> None:
    evaluator = Evaluator(two_versions)
    versions = [
        evaluator.evaluate(
            ev("collection", at=when, data_categories=["account.email"], source="user")
        ).policy_version
        for when in (JUNE, AUGUST, JUNE)
    ]
    assert versions == ["2026.1", "2026.2", "2026.1"]


def test_retention_deadline_follows_the_version(two_versions: PolicySet) -> None:
    closed_at = datetime(2026, 8, 1, tzinfo=UTC)
    assert two_versions.get("2026.1").retention_deadline(closed_at).day == 31
    assert two_versions.get("2026.2").retention_deadline(closed_at).day == 15


def test_diff_lists_what_changed(two_versions: PolicySet) -> None:
    result = diff_policies(two_versions.get("2026.1"), two_versions.get("2026.2"))
    found = {(c.section, c.key, c.change) for c in result.changes}
    assert ("purposes", "service.credit_scoring", "added") in found
    assert ("categories", "identity.ktp", "added") in found
    assert ("recipient kinds", "fintech_lender", "added") in found
    assert ("disclosure exceptions", "C.9", "added") in found
    assert ("disclosure exceptions", "C.6", "changed") in found
    assert ("consent scopes", "channel:newsletter", "changed") in found
    assert ("retention", "after_account_closure", "changed") in found
    assert ("policy", "version", "changed") in found
    assert ("clauses", "C.9", "added") in found
    scope = next(c for c in result.changes if c.key == "channel:newsletter")
    assert scope.before == {"default": "opt-out"} and scope.after == {"default": "opt-in"}
    assert "default: opt-out -> opt-in" in scope.summary()
    assert not any(c.change == "removed" for c in result.changes)
    reverse = diff_policies(two_versions.get("2026.2"), two_versions.get("2026.1"))
    assert ("purposes", "service.credit_scoring", "removed") in {
        (c.section, c.key, c.change) for c in reverse.changes
    }
    same = diff_policies(two_versions.latest, two_versions.latest)
    assert same.changes == []


def test_replay_finds_changed_verdicts_and_who_must_consent(
    policies: PolicySet, two_versions: PolicySet
) -> None:
    new = two_versions.get("2026.2")
    events = [
        ev(
            "use",
            subject="a",
            data_categories=["account.email"],
            purpose="marketing.communications",
            channel="newsletter",
        ),
        dis(["transaction.amount"], "service.operations", "affiliate", "aff-1", subject="a"),
        consent("recipient:aff-1", subject="b"),
        dis(["transaction.amount"], "service.operations", "affiliate", "aff-1", subject="b"),
        use(["account.email"], "service.operations", subject="c"),
        closed(subject="d"),
        use(["account.email"], "service.operations", subject="d"),
    ]
    report = replay(events, policies, new)
    assert report.events == 7 and report.judged == 5
    assert report.old_versions == ["2026.1"] and report.new_version == "2026.2"
    changed = {(c.new.event_id, c.transition) for c in report.changes}
    # b had given the affiliate permission, so C.6 still covers them; c and d are unaffected
    assert changed == {
        (events[0].event_id, "allowed -> violation"),
        (events[1].event_id, "allowed -> violation"),
    }
    assert report.subjects == ["a"]
    scopes = {n.scope: n for (_, _), n in report.needs.items()}
    assert set(scopes) == {"channel:newsletter", "recipient:aff-1"}
    assert scopes["recipient:aff-1"].reasons == ["disclosure_without_consent"]
    assert scopes["recipient:aff-1"].clauses == ["C"]
    assert scopes["channel:newsletter"].reasons == ["opted_out"]
    assert report.transitions["allowed -> violation"] == 2
    assert report.introduced[("disclosure_without_consent", "C")] == 1
    data = report.to_dict()
    assert data["changed"] == len(report.changes)
    assert data["subjects_needing_consent"] == ["a"]


def test_replay_when_acceptance_must_be_explicit(
    policies: PolicySet, two_versions: PolicySet
) -> None:
    data = two_versions.get("2026.2").document.model_copy(
        update={
            "updates": two_versions.get("2026.2").document.updates.model_copy(
                update={"continued_use_is_acceptance": False}
            )
        }
    )
    strict = Policy(data)
    events = [
        use(["account.email"], "service.operations", subject="x"),
        ev("policy_accepted", subject="y", policy_version="2026.2"),
        use(["account.email"], "service.operations", subject="y"),
    ]
    report = replay(events, policies, strict)
    assert [(s, n.scope, n.reasons) for (s, _), n in report.needs.items()] == [
        ("x", "policy:2026.2", ["acceptance_required"])
    ]


def test_load_policy_of_one_version_file(versions_dir: Path) -> None:
    policy = load_policy(versions_dir / "2026-07-01.yaml")
    assert policy.version == "2026.2"
