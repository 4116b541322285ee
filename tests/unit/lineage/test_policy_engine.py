"""The decision rules of policy-semantics §3 against the shipped Smarty policy, case by case.

Each case is: what the subject did before (consent events), the event, and
the verdict it must get. Two meta-tests check that the table reaches every
reason code and every clause the policy can give as a basis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from policy_helpers import DATA, T, closed, col, consent, dis, ev, use, withdraw

from jejak.lineage.policy import (
    REASONS,
    Evaluator,
    PolicySet,
    SubjectState,
    Verdict,
    evaluate,
    severity,
)
from jejak.lineage.policy.verdict import highest_severity
from jejak.schemas.models import Event, event_from_json

LATER = "2026-05-01T11:00:00Z"


@dataclass
class Case:
    name: str
    event: Event
    decision: str
    basis: str | None = None
    reasons: list[str] = field(default_factory=list)
    before: list[Event] = field(default_factory=list)


def allowed(name: str, event: Event, basis: str, *before: Event) -> Case:
    return Case(name, event, "allowed", basis, [], list(before))


def violation(name: str, event: Event, reasons: list[str], *before: Event) -> Case:
    return Case(name, event, "violation", None, reasons, list(before))


CASES: list[Case] = [
    # -- collection (section A) --------------------------------------------------------------
    allowed("A.1.1 account data from the user", col(["account.email"]), "A.1.1"),
    allowed("A.1.1 / E.3 birth date", col(["account.birth_date"]), "A.1.1"),
    allowed("A.1.2 customer service", col(["support.conversation"]), "A.1.2"),
    allowed("A.1.3 survey", col(["survey.response"]), "A.1.3"),
    allowed("A.1.4 review", col(["interaction.review"]), "A.1.4"),
    allowed("A.1.5 transaction", col(["transaction.shipping_address"]), "A.1.5"),
    allowed("A.1.6 credit card", col(["payment.credit_card"]), "A.1.6"),
    allowed(
        "A.1.7 microphone with permission",
        col(["device_access.microphone"]),
        "A.1.7",
        consent("device:microphone"),
    ),
    violation(
        "E.1 camera without permission", col(["device_access.camera"]), ["permission_missing"]
    ),
    violation(
        "E.1 permission withdrawn before",
        col(["device_access.contacts"]),
        ["permission_missing"],
        consent("device:contacts", at="2026-05-01T08:00:00Z"),
        withdraw("device:contacts"),
    ),
    allowed(
        "A.1.7 storage with permission",
        col(["device_access.storage"]),
        "A.1.7",
        consent("device:storage"),
    ),
    violation(
        "E.1 permission granted after the event",
        col(["device_access.storage"]),
        ["permission_missing"],
        consent("device:storage", at=LATER),
    ),
    allowed("A.2.1 IP location", col(["location.ip"], "recorded"), "A.2.1"),
    violation(
        "E.1 geo-location needs device:location",
        col(["location.geo"], "recorded"),
        ["permission_missing"],
    ),
    allowed(
        "A.2.1 geo-location with device:location",
        col(["location.geo"], "recorded"),
        "A.2.1",
        consent("device:location"),
    ),
    allowed("A.2.2 timestamps", col(["activity.timestamps"], "recorded"), "A.2.2"),
    allowed("A.2.3 usage", col(["usage.identifiers"], "recorded"), "A.2.3"),
    allowed("A.2.4 device", col(["device.imei"], "recorded"), "A.2.4"),
    allowed("A.2.5 log", col(["log.referrer"], "recorded"), "A.2.5"),
    allowed(
        "several categories: the first one's clause",
        col(["device.model", "log.ip"], "recorded"),
        "A.2.4",
    ),
    allowed(
        "A.3.1 partner data",
        col(["partner.service_data"], "third_party", source_partner="logistics_partner"),
        "A.3.1",
    ),
    allowed(
        "A.3.2 login partner",
        col(["partner.login_profile"], "third_party", source_partner="login_partner"),
        "A.3.2",
    ),
    allowed(
        "A.3.3 credit bureau",
        col(["credit.report"], "third_party", source_partner="credit_bureau"),
        "A.3.3",
    ),
    allowed(
        "A.3.4 financial partner",
        col(["financial.partner_data"], "third_party", source_partner="financial_partner"),
        "A.3.4",
    ),
    allowed(
        "A.3.5 marketing provider",
        col(["marketing.provider_data"], "third_party", source_partner="marketing_provider"),
        "A.3.5",
    ),
    allowed(
        "A.3.6 public source",
        col(["public.data"], "third_party", source_partner="public_source"),
        "A.3.6",
    ),
    violation(
        "A.3 credit report from the wrong partner",
        col(["credit.report"], "third_party", source_partner="marketing_provider"),
        ["undeclared_source"],
    ),
    violation(
        "A.3 third-party data without a partner kind",
        col(["credit.report"], "third_party"),
        ["undeclared_source"],
    ),
    violation(
        "A account data recorded instead of given",
        col(["account.email"], "recorded"),
        ["undeclared_source"],
    ),
    violation("A undeclared category", col(["biometric.face"]), ["undeclared_category"]),
    allowed("a whole family", col(["payment"]), "A.1.6"),
    allowed("narrower than a declared category", col(["account.email.primary"]), "A.1.1"),
    allowed("D.4 analytics demographics", col(["analytics.demographics"], "recorded"), "D.4"),
    violation(
        "D.4 analytics demographics opted out",
        col(["analytics.demographics"], "recorded"),
        ["opted_out"],
        withdraw("cookies:analytics_demographics"),
    ),
    violation(
        "D.3 all cookies refused covers D.4",
        col(["analytics.demographics"], "recorded"),
        ["opted_out"],
        withdraw("cookies:all"),
    ),
    violation(
        "F collection after closure",
        col(["account.email"]),
        ["account_closed"],
        closed(),
    ),
    violation(
        "E.5 collection after withdrawing everything",
        col(["account.email"]),
        ["consent_withdrawn"],
        withdraw("processing:all"),
    ),
    # -- use (sections B, D, E) --------------------------------------------------------------
    allowed("B.1", use(["transaction.items"], "transaction.fulfilment"), "B.1"),
    allowed("B.2.1", use(["account.email"], "service.financial_products"), "B.2.1"),
    allowed("B.2.2", use(["usage.preferences"], "service.personalization"), "B.2.2"),
    allowed("B.2.3", use(["log.app_activity"], "service.operations"), "B.2.3"),
    allowed("B.3", use(["support.conversation"], "support.customer_service"), "B.3"),
    allowed("B.4", use(["account.phone"], "contact.transactional"), "B.4"),
    allowed("B.5", use(["usage.preferences"], "research.development"), "B.5"),
    allowed("B.6 communications", use(["account.email"], "marketing.communications"), "B.6"),
    allowed("B.6 contests", use(["account.email"], "marketing.contests"), "B.6"),
    allowed("B.6 advertising", use(["usage.preferences"], "marketing.advertising"), "B.6"),
    allowed("B.7", use(["transaction.amount"], "security.fraud_monitoring"), "B.7"),
    allowed("B.8", use(["account.phone"], "legal.compliance"), "B.8"),
    violation(
        "B undeclared purpose", use(["account.email"], "profiling.resale"), ["undeclared_purpose"]
    ),
    violation(
        "B and A undeclared: purpose first",
        use(["biometric.face"], "profiling.resale"),
        ["undeclared_purpose", "undeclared_category"],
    ),
    allowed(
        "E.4 newsletter subscribed by default",
        use(["account.email"], "marketing.communications", channel="newsletter"),
        "B.6",
    ),
    violation(
        "E.4 newsletter unsubscribed",
        use(["account.email"], "marketing.communications", channel="newsletter"),
        ["opted_out"],
        withdraw("channel:newsletter"),
    ),
    allowed(
        "E.4 unsubscribed after the message",
        use(["account.email"], "marketing.communications", channel="newsletter"),
        "B.6",
        withdraw("channel:newsletter", at=LATER),
    ),
    allowed(
        "E.4 subscribed again",
        use(["account.email"], "marketing.communications", channel="admin_message"),
        "B.6",
        withdraw("channel:admin_message", at="2026-05-01T08:00:00Z"),
        consent("channel:admin_message"),
    ),
    allowed(
        "E.4 transactional messages are never blocked",
        use(["account.email"], "contact.transactional", channel="newsletter"),
        "B.4",
        withdraw("channel:newsletter"),
    ),
    violation(
        "E.4 any other channel follows the same opt-out",
        use(["account.phone"], "marketing.communications", channel="sms"),
        ["opted_out"],
        withdraw("channel:sms"),
    ),
    violation(
        "D.5 ads on usage data with ad personalisation off",
        use(["usage.preferences"], "marketing.advertising"),
        ["opted_out"],
        withdraw("cookies:ad_personalization"),
    ),
    violation(
        "D.5 ads on log data with all cookies refused",
        use(["log.pages"], "marketing.advertising"),
        ["opted_out"],
        withdraw("cookies:all"),
    ),
    allowed(
        "D.5 ads on account data are not interest-based",
        use(["account.email"], "marketing.advertising"),
        "B.6",
        withdraw("cookies:ad_personalization"),
    ),
    allowed(
        "D.3 cookies accepted again",
        use(["analytics.demographics"], "marketing.advertising"),
        "B.6",
        withdraw("cookies:all", at="2026-05-01T08:00:00Z"),
        consent("cookies:all"),
    ),
    violation(
        "E.2 public review without consent",
        use(["interaction.review"], "service.operations", public=True),
        ["consent_missing"],
    ),
    allowed(
        "E.2 public rating with consent",
        use(["interaction.rating"], "service.operations", public=True),
        "B.2.3",
        consent("public_review"),
    ),
    allowed(
        "E.2 a review used privately needs nothing",
        use(["interaction.review"], "service.operations"),
        "B.2.3",
    ),
    violation(
        "E.5 use after withdrawing everything",
        use(["account.email"], "marketing.communications"),
        ["consent_withdrawn"],
        withdraw("processing:all"),
    ),
    allowed(
        "E.5 legal compliance still allowed",
        use(["account.phone"], "legal.compliance"),
        "B.8",
        withdraw("processing:all"),
    ),
    allowed(
        "E.5 consent given again",
        use(["account.email"], "service.operations"),
        "B.2.3",
        withdraw("processing:all", at="2026-05-01T08:00:00Z"),
        consent("processing:all"),
    ),
    violation(
        "F use after closure",
        use(["account.email"], "service.operations"),
        ["account_closed"],
        closed(),
    ),
    allowed(
        "F closed only after the use",
        use(["account.email"], "service.operations"),
        "B.2.3",
        closed(at=LATER),
    ),
    allowed(
        "F legal compliance after closure",
        use(["account.email"], "legal.compliance"),
        "B.8",
        closed(),
    ),
    violation(
        "E.5 and F together",
        use(["account.email"], "service.operations"),
        ["consent_withdrawn", "account_closed"],
        withdraw("processing:all"),
        closed(),
    ),
    # -- disclosure (section C) --------------------------------------------------------------
    allowed(
        "C.1 payment processor",
        dis(["transaction.amount"], "transaction.fulfilment", "payment_processor"),
        "C.1",
    ),
    allowed(
        "C.1 logistics for a service.* purpose",
        dis(["transaction.shipping_address"], "service.operations", "logistics_provider"),
        "C.1",
    ),
    allowed(
        "C.1 infrastructure",
        dis(["log.ip"], "service.operations", "infrastructure_provider"),
        "C.1",
    ),
    violation(
        "C.1 does not cover marketing",
        dis(["account.email"], "marketing.advertising", "payment_processor"),
        ["disclosure_without_consent"],
    ),
    allowed(
        "C.2 integrated partner with consent",
        dis(["account.email"], "service.financial_products", "integrated_partner", "fin-1"),
        "C.2",
        consent("recipient:fin-1"),
    ),
    violation(
        "C.2 integrated partner without consent",
        dis(["account.email"], "service.financial_products", "integrated_partner", "fin-1"),
        ["disclosure_without_consent"],
    ),
    violation(
        "C.2 consent for another recipient does not count",
        dis(["account.email"], "marketing.contests", "promotion_partner", "promo-2"),
        ["disclosure_without_consent"],
        consent("recipient:promo-1"),
    ),
    violation(
        "C.2 consent withdrawn",
        dis(["account.email"], "marketing.contests", "promotion_partner", "promo-1"),
        ["disclosure_without_consent"],
        consent("recipient:promo-1", at="2026-05-01T08:00:00Z"),
        withdraw("recipient:promo-1"),
    ),
    allowed(
        "C.3 logistics solving a problem",
        dis(["account.phone"], "support.customer_service", "logistics_provider"),
        "C.3",
    ),
    allowed(
        "C.3 payment processor, transactional contact",
        dis(["account.email"], "contact.transactional", "payment_processor"),
        "C.3",
    ),
    allowed("C.4 vendor", dis(["log.app_activity"], "service.operations", "vendor"), "C.4"),
    allowed(
        "C.4 research firm",
        dis(["survey.response"], "research.development", "research_firm"),
        "C.4",
    ),
    allowed(
        "C.4 marketing partner for marketing",
        dis(["usage.preferences"], "marketing.advertising", "marketing_partner"),
        "C.4",
    ),
    violation(
        "C.4 marketing after ad personalisation was turned off",
        dis(["usage.preferences"], "marketing.advertising", "marketing_partner", "mp-1"),
        ["disclosure_without_consent"],
        withdraw("cookies:ad_personalization"),
    ),
    violation(
        "C.4 marketing after all cookies were refused",
        dis(["account.email"], "marketing.contests", "consultant", "cons-1"),
        ["disclosure_without_consent"],
        withdraw("cookies:all"),
    ),
    allowed(
        "C.4 non-marketing is not affected by the ad choice",
        dis(["account.email"], "service.operations", "consultant"),
        "C.4",
        withdraw("cookies:ad_personalization"),
    ),
    allowed(
        "C general rule: explicit permission beats the ad choice",
        dis(["usage.preferences"], "marketing.advertising", "marketing_partner", "mp-1"),
        "C",
        withdraw("cookies:ad_personalization"),
        consent("recipient:mp-1"),
    ),
    allowed(
        "C.5 own public conversation",
        dis(["interaction.message", "support.conversation"], "support.customer_service", "public"),
        "C.5",
    ),
    violation(
        "C.5 does not cover account data",
        dis(["account.email"], "support.customer_service", "public"),
        ["disclosure_without_consent"],
    ),
    allowed("C.6 affiliate", dis(["transaction.amount"], "service.operations", "affiliate"), "C.6"),
    allowed(
        "C.7 credit bureau",
        dis(["transaction.amount"], "service.financial_products", "credit_bureau"),
        "C.7",
    ),
    violation(
        "C.7 credit bureau for marketing",
        dis(["account.email"], "marketing.communications", "credit_bureau"),
        ["disclosure_without_consent"],
    ),
    allowed(
        "C.8 law enforcement with a legal request",
        dis(["account.phone"], "legal.compliance", "law_enforcement", legal_request_ref="B-1/2026"),
        "C.8",
    ),
    allowed(
        "C.8 regulator with a legal request",
        dis(["transaction.amount"], "legal.compliance", "regulator", legal_request_ref="OJK-7"),
        "C.8",
    ),
    violation(
        "C.8 without the legal request, and no consent: not covered either",
        dis(["account.phone"], "legal.compliance", "law_enforcement"),
        ["legal_request_missing", "disclosure_without_consent"],
    ),
    violation(
        "a sale to law enforcement without a request or consent breaks the sale rule too",
        dis(["account.email"], "legal.compliance", "law_enforcement", transfer="sale"),
        ["legal_request_missing", "disclosure_without_consent"],
    ),
    violation(
        "C.8 claimed without a request, even with permission",
        dis(["account.phone"], "legal.compliance", "law_enforcement", "police-1"),
        ["legal_request_missing"],
        consent("recipient:police-1"),
    ),
    allowed(
        "C with permission, undeclared recipient kind",
        dis(["account.email"], "service.operations", "data_broker", "db-1"),
        "C",
        consent("recipient:db-1"),
    ),
    violation(
        "C undeclared recipient kind without permission",
        dis(["account.email"], "service.operations", "data_broker", "db-1"),
        ["disclosure_without_consent"],
    ),
    violation(
        "C sale: no exception covers a sale",
        dis(["transaction.amount"], "service.operations", "affiliate", "aff-1", transfer="sale"),
        ["disclosure_without_consent"],
    ),
    allowed(
        "C sale with permission",
        dis(["transaction.amount"], "service.operations", "affiliate", "aff-1", transfer="sale"),
        "C",
        consent("recipient:aff-1"),
    ),
    allowed(
        "C.1 credit card to its processor",
        dis(["payment.credit_card"], "transaction.fulfilment", "payment_processor"),
        "C.1",
    ),
    violation(
        "C.1 credit card to an affiliate",
        dis(["payment.credit_card"], "service.operations", "affiliate"),
        ["sensitive_category_not_allowed"],
    ),
    violation(
        "C.1 the whole payment family includes card data",
        dis(["payment"], "service.operations", "vendor"),
        ["sensitive_category_not_allowed"],
    ),
    violation(
        "C.1 card data, even with permission",
        dis(["payment.credit_card"], "service.operations", "data_broker", "db-1"),
        ["sensitive_category_not_allowed"],
        consent("recipient:db-1"),
    ),
    violation(
        "card data to a broker without permission: both reasons, sensitive first",
        dis(["payment.credit_card"], "service.operations", "data_broker", "db-1"),
        ["sensitive_category_not_allowed", "disclosure_without_consent"],
    ),
    violation(
        "F disclosure after closure, even if covered",
        dis(["transaction.amount"], "service.operations", "affiliate"),
        ["account_closed"],
        closed(),
    ),
    allowed(
        "F legal disclosure after closure",
        dis(["account.phone"], "legal.compliance", "regulator", legal_request_ref="OJK-8"),
        "C.8",
        closed(),
    ),
    violation(
        "B undeclared purpose is not covered by 'any declared purpose'",
        dis(["account.email"], "profiling.resale", "affiliate"),
        ["undeclared_purpose", "disclosure_without_consent"],
    ),
]


def _run(case: Case, policies: PolicySet) -> Verdict:
    evaluator = Evaluator(policies)
    for event in case.before:
        assert evaluator.evaluate(event).decision == "recorded"
    return evaluator.evaluate(case.event)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule(case: Case, policies: PolicySet) -> None:
    verdict = _run(case, policies)
    assert (verdict.decision, verdict.basis, list(verdict.reasons)) == (
        case.decision,
        case.basis,
        case.reasons,
    ), verdict.findings
    assert verdict.policy_version == "2026.1"
    assert verdict.event_id == case.event.event_id
    if case.decision == "violation":
        assert verdict.findings and verdict.findings[0].reason == case.reasons[0]
        assert all(f.clause for f in verdict.findings)


def test_the_table_reaches_every_reason_code() -> None:
    reached = {r for c in CASES for r in c.reasons}
    # policy_not_in_force needs two versions: tests/unit/lineage/test_policy_versions.py
    assert set(REASONS) - reached == {"policy_not_in_force"}


def test_the_table_reaches_every_clause_that_can_be_a_basis(policies: PolicySet) -> None:
    doc = policies.latest.document
    bases = {g.clause for g in doc.categories} | {p.clause for p in doc.purposes}
    bases |= {e.clause for e in doc.disclosure_exceptions} | {doc.disclosure.clause}
    reached = {c.basis for c in CASES if c.basis}
    assert bases - reached == set()
    # and every clause that can make a violation
    deciding = {d.clause for d in doc.device_permissions} | {
        r.clause for r in doc.consent_requirements
    }
    deciding |= {lim.clause for lim in doc.sensitive_categories.disclosure_limits}
    assert deciding <= {"E.1", "E.2", "E.4", "D.4", "D.5", "C.1"}


def test_worked_examples(policies: PolicySet) -> None:
    """policy-semantics §6: the shared examples get exactly the expected verdicts."""
    lines = (DATA / "policy-examples.jsonl").read_text().splitlines()
    expected = [
        json.loads(x) for x in (DATA / "policy-examples.expected.jsonl").read_text().splitlines()
    ]
    evaluator = Evaluator(policies)
    got = [evaluator.evaluate(event_from_json(line)).to_dict() for line in lines]
    assert len(got) == len(expected) == 12
    for verdict, want in zip(got, expected, strict=True):
        assert {k: verdict[k] for k in want} == want


def test_recorded_kinds(policies: PolicySet) -> None:
    for event in [
        consent("channel:newsletter"),
        ev("policy_accepted", policy_version="2026.1"),
        ev("subject_request", request="access"),
        ev("deletion", data_categories=["account"]),
        closed(),
    ]:
        verdict = evaluate(event, None, policies)
        assert (verdict.decision, verdict.basis, verdict.reasons) == ("recorded", None, ())
        assert verdict.policy_version == "2026.1"


def test_evaluate_is_pure(policies: PolicySet) -> None:
    state = SubjectState("s-1")
    evaluate(withdraw("processing:all"), state, policies)
    assert state.scopes == []
    verdict = evaluate(use(["account.email"], "service.operations"), state, policies)
    assert verdict.decision == "allowed"


def test_a_lone_policy_works_as_a_set(policies: PolicySet) -> None:
    verdict = evaluate(col(["account.email"]), None, policies.latest)
    assert verdict.basis == "A.1.1"


def test_before_the_first_version_nothing_is_in_force(policies: PolicySet) -> None:
    early = ev(
        "collection", at="2025-06-01T00:00:00Z", data_categories=["account.email"], source="user"
    )
    verdict = evaluate(early, None, policies)
    assert verdict.decision == "violation"
    assert verdict.reasons == ("policy_not_in_force",)
    assert verdict.policy_version is None
    recorded = evaluate(
        ev("consent", at="2025-06-01T00:00:00Z", scope="public_review", action="granted"),
        None,
        policies,
    )
    assert (recorded.decision, recorded.policy_version) == ("recorded", None)


def test_effective_date_is_midnight_in_jakarta(policies: PolicySet) -> None:
    just_after = ev(
        "collection", at="2025-12-31T17:00:00Z", data_categories=["account.email"], source="user"
    )
    just_before = ev(
        "collection", at="2025-12-31T16:59:59Z", data_categories=["account.email"], source="user"
    )
    assert evaluate(just_after, None, policies).decision == "allowed"
    assert evaluate(just_before, None, policies).reasons == ("policy_not_in_force",)


def test_claimed_basis_is_checked_never_trusted(policies: PolicySet) -> None:
    right = evaluate(col(["account.email"], basis="A.1.1"), None, policies)
    assert right.notes == ()
    wrong = evaluate(
        dis(["transaction.amount"], "transaction.fulfilment", "payment_processor", basis="C.6"),
        None,
        policies,
    )
    assert (wrong.decision, wrong.basis) == ("allowed", "C.1")
    assert "claimed basis C.6" in wrong.notes[0]
    bad = evaluate(
        dis(["account.email"], "marketing.contests", "promotion_partner", basis="C.2"),
        None,
        policies,
    )
    assert bad.decision == "violation"
    assert "not allowed" in bad.notes[0]
    covered_but_sensitive = evaluate(
        dis(["payment.credit_card"], "service.operations", "affiliate", basis="C.6"), None, policies
    )
    assert covered_but_sensitive.notes == (
        "the producer claimed basis C.6, but the event is not allowed",
    )
    unknown = evaluate(col(["account.email"], basis="A.9"), None, policies)
    assert unknown.decision == "allowed" and "not a clause" in unknown.notes[0]


def test_producer_policy_version_is_noted(policies: PolicySet) -> None:
    verdict = evaluate(col(["account.email"], policy_version="2025.9"), None, policies)
    assert verdict.decision == "allowed"
    assert "2025.9" in verdict.notes[0]


def test_undeclared_consent_scope_is_noted(policies: PolicySet) -> None:
    verdict = evaluate(consent("telepathy:on"), None, policies)
    assert verdict.decision == "recorded" and "not declared" in verdict.notes[0]


def test_findings_keep_every_missing_permission(policies: PolicySet) -> None:
    verdict = evaluate(col(["device_access.camera", "device_access.microphone"]), None, policies)
    assert verdict.reasons == ("permission_missing",)
    assert [f.scope for f in verdict.findings] == ["device:camera", "device:microphone"]
    assert [f.clause for f in verdict.findings] == ["E.1", "E.1"]


def test_disclosure_without_consent_names_the_scope_needed(policies: PolicySet) -> None:
    verdict = evaluate(
        dis(["account.email"], "marketing.contests", "promotion_partner", "promo-9"), None, policies
    )
    (finding,) = verdict.findings
    assert (finding.clause, finding.scope, finding.item) == (
        "C",
        "recipient:promo-9",
        "promotion_partner",
    )


def test_verdict_to_dict_is_the_evaluate_output(policies: PolicySet) -> None:
    data = evaluate(col(["device_access.camera"], event_id="k-9"), None, policies).to_dict()
    assert data["event_id"] == "k-9"
    assert data["decision"] == "violation"
    assert data["basis"] is None
    assert data["reasons"] == ["permission_missing"]
    assert data["policy_version"] == "2026.1"
    assert data["occurred_at"] == T
    assert data["severity"] == "medium"
    json.dumps(data)


def test_severity() -> None:
    assert severity("disclosure_without_consent") == "critical"
    assert all(severity(r) != "critical" for r in REASONS if r != "disclosure_without_consent")
    assert {severity(r) for r in REASONS} <= {"critical", "high", "medium", "low"}
    assert severity("something_new") == "high"
    assert highest_severity(("opted_out", "disclosure_without_consent")) == "critical"
    assert highest_severity(()) is None


def test_plans_are_cached_per_event_shape(policies: PolicySet) -> None:
    view = policies.view_at(
        ev("collection", data_categories=["account.email"], source="user").occurred_at
    )
    assert view is not None
    evaluate(col(["survey.response"]), None, policies)
    size = len(view.plans)
    for _ in range(3):
        evaluate(col(["survey.response"]), None, policies)
    assert len(view.plans) == size
