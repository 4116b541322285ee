"""The console's policy data: the clauses an alert broke, read back from its summary line."""

from __future__ import annotations

from typing import Any

import pytest

from jejak.lineage.policy import load_policies
from jejak.lineage.workspace.console import broken_clauses, policy_text
from jejak.lineage.workspace.operations import ALERT_REASONS

POLICIES = load_policies()


def _alert(reason: str, summary: str, **extra: Any) -> dict[str, Any]:
    return {
        "reason": reason,
        "reasons": [reason],
        "summary": summary,
        "policy_version": "2026.1",
        **extra,
    }


@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        # the consumer's summary names each finding's clause: that one is quoted
        (
            _alert(
                "disclosure_without_consent",
                "disclosure of account.email to ads-co (promotion_partner) for "
                "marketing.advertising: disclosure_without_consent (C)",
            ),
            [("disclosure_without_consent", "C")],
        ),
        # two findings, two clauses; a word in brackets is never taken for a clause
        (
            _alert(
                "sensitive_category_not_allowed",
                "disclosure of payment.credit_card to x (promotion_partner) for m: "
                "sensitive_category_not_allowed (C.1); disclosure_without_consent (C)",
                reasons=["sensitive_category_not_allowed", "disclosure_without_consent"],
            ),
            [("sensitive_category_not_allowed", "C.1"), ("disclosure_without_consent", "C")],
        ),
        # the monitors' alerts name no clause: the policy's clause for the reason
        (_alert("retention_overdue", "account.email of a closed account not deleted"), [("retention_overdue", "F")]),
        (_alert("consent_withdrawn", "use of x for y: consent_withdrawn"), [("consent_withdrawn", "E.5")]),
        # a request deadline comes from the law, not from the policy text
        (
            _alert(
                "subject_request_overdue",
                "access request DSR-1 received 2026-05-01 10:00 UTC was due by 2026-05-04 10:00 "
                "UTC (UU PDP Pasal 32) and is still open",
            ),
            [("subject_request_overdue", "UU PDP Pasal 32")],
        ),
    ],
)  # fmt: skip
def test_broken_clauses(alert: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    got = broken_clauses(POLICIES, alert)
    assert [(c["reason"], c["clause"]) for c in got] == expected
    policy = POLICIES.latest
    for c in got:
        text = policy.clause_text(c["clause"])
        if text is not None:  # the policy's own sentence and its gloss, whitespace folded
            assert c["text"] == " ".join(text.text.split()) and c["text"]
            assert c["gloss"] == " ".join(text.gloss.split()) and c["gloss"]


def test_the_policy_text_has_every_clause_in_both_languages_and_every_reason() -> None:
    text = policy_text(POLICIES, None)
    assert text["version"] == POLICIES.latest.version
    assert set(text["clauses"]) == set(POLICIES.latest.clauses)
    assert all(c["text"] and c["gloss"] for c in text["clauses"].values())
    assert set(text["reasons"]) == set(ALERT_REASONS)
    for reason, info in text["reasons"].items():
        clause = info["clause"]
        assert clause is None or clause in text["clauses"], reason
    assert "account.email" in text["categories"]
