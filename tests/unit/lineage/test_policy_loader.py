"""The policy file: the shipped Smarty policy is complete, and broken files say where and why."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import SHIPPED_FILE, SHIPPED_FOLDER, shipped_data, write_policy

from jejak.errors import PolicyFileError
from jejak.lineage.policy import (
    PolicySet,
    check_policy_path,
    load_policies,
    load_policy,
    load_policy_or_latest,
)
from jejak.lineage.policy.taxonomy import lineage, overlaps, within

# policy-semantics §1
CLAUSE_IDS = (
    [f"A.1.{i}" for i in range(1, 8)]
    + [f"A.2.{i}" for i in range(1, 6)]
    + [f"A.3.{i}" for i in range(1, 7)]
    + [f"B.{i}" for i in range(1, 9)]
    + ["B.2.1", "B.2.2", "B.2.3", "B.3.1", "B.3.2", "B.3.3", "C"]
    + [f"C.{i}" for i in range(1, 9)]
    + [f"D.{i}" for i in range(1, 6)]
    + [f"E.{i}" for i in range(1, 6)]
    + ["F", "G"]
)

# policy-semantics §2: (category, clause, source)
CATEGORIES = [
    *[
        (f"account.{n}", "A.1.1", "user")
        for n in (
            "username",
            "email",
            "phone",
            "password",
            "address",
            "photo",
            "birth_date",
            "gender",
        )
    ],
    ("support.conversation", "A.1.2", "user"),
    ("survey.response", "A.1.3", "user"),
    *[
        (f"interaction.{n}", "A.1.4", "user")
        for n in ("message", "product_discussion", "review", "rating", "resolution_case")
    ],
    *[
        (f"transaction.{n}", "A.1.5", "user")
        for n in ("items", "shipping_address", "payment_channel", "amount", "datetime")
    ],
    *[
        (f"payment.{n}", "A.1.6", "user")
        for n in (
            "bank_account",
            "credit_card",
            "virtual_account",
            "instant_payment",
            "internet_banking",
            "retail_outlet",
        )
    ],
    *[
        (f"device_access.{n}", "A.1.7", "user")
        for n in ("camera", "contacts", "storage", "microphone")
    ],
    *[(f"location.{n}", "A.2.1", "recorded") for n in ("ip", "wifi", "geo")],
    ("activity.timestamps", "A.2.2", "recorded"),
    ("usage.preferences", "A.2.3", "recorded"),
    ("usage.identifiers", "A.2.3", "recorded"),
    *[
        (f"device.{n}", "A.2.4", "recorded")
        for n in (
            "model",
            "os",
            "software",
            "imei",
            "language",
            "id",
            "ad_id",
            "serial",
            "motion",
            "network",
        )
    ],
    *[
        (f"log.{n}", "A.2.5", "recorded")
        for n in ("ip", "access_time", "pages", "app_activity", "browser", "referrer")
    ],
    ("partner.service_data", "A.3.1", "third_party"),
    ("partner.login_profile", "A.3.2", "third_party"),
    ("credit.report", "A.3.3", "third_party"),
    ("financial.partner_data", "A.3.4", "third_party"),
    ("marketing.provider_data", "A.3.5", "third_party"),
    ("public.data", "A.3.6", "third_party"),
    ("analytics.demographics", "D.4", "recorded"),
]

PURPOSES = {
    "transaction.fulfilment": "B.1",
    "service.financial_products": "B.2.1",
    "service.personalization": "B.2.2",
    "service.operations": "B.2.3",
    "support.customer_service": "B.3",
    "contact.transactional": "B.4",
    "research.development": "B.5",
    "marketing.communications": "B.6",
    "marketing.contests": "B.6",
    "marketing.advertising": "B.6",
    "security.fraud_monitoring": "B.7",
    "legal.compliance": "B.8",
}

RECIPIENT_KINDS = {
    "payment_processor": "C.1",
    "logistics_provider": "C.1",
    "infrastructure_provider": "C.1",
    "integrated_partner": "C.2",
    "promotion_partner": "C.2",
    "vendor": "C.4",
    "consultant": "C.4",
    "marketing_partner": "C.4",
    "research_firm": "C.4",
    "public": "C.5",
    "affiliate": "C.6",
    "credit_bureau": "C.7",
    "law_enforcement": "C.8",
    "regulator": "C.8",
}

SCOPE_DEFAULTS = {
    "policy:2026.1": False,
    "recipient:any-id": False,
    "channel:newsletter": True,
    "channel:review": True,
    "channel:product_discussion": True,
    "channel:private_message": True,
    "channel:admin_message": True,
    "cookies:analytics_demographics": True,
    "cookies:ad_personalization": True,
    "cookies:all": True,
    "device:camera": False,
    "device:contacts": False,
    "device:storage": False,
    "device:microphone": False,
    "device:location": False,
    "public_review": False,
    "processing:all": True,
}


# -- the shipped policy --------------------------------------------------------------------------


def test_every_clause_of_the_semantics_is_in_the_policy(policies: PolicySet) -> None:
    clauses = policies.latest.clauses
    missing = [c for c in CLAUSE_IDS if c not in clauses]
    assert missing == []
    for cid in CLAUSE_IDS:
        assert clauses[cid].text.strip() and clauses[cid].gloss.strip()


def test_clause_texts_are_quoted_from_the_seed(policies: PolicySet) -> None:
    """Every quoted clause text (ellipses aside) appears in the seed policy, word for word."""
    seed = (Path(__file__).parent / "data" / "privacy-policy-smarty-indonesia.txt").read_text(
        encoding="utf-8"
    )
    seed_words = " ".join(seed.split())
    for cid, text in policies.latest.clauses.items():
        for piece in " ".join(text.text.split()).split("[...]"):
            piece = piece.strip()
            if piece:
                assert piece in seed_words, cid


@pytest.mark.parametrize(("name", "clause", "source"), CATEGORIES, ids=[c[0] for c in CATEGORIES])
def test_categories_of_the_semantics(
    policies: PolicySet, name: str, clause: str, source: str
) -> None:
    info = policies.latest.category(name)
    assert info is not None and info.name == name
    assert info.clause == clause
    assert source in info.sources


def test_sensitive_categories(policies: PolicySet) -> None:
    policy = policies.latest
    flagged = {n for n, info in policy.categories.items() if info.sensitive}
    assert flagged == {n for n, _, _ in CATEGORIES if n.startswith("payment.")} | {
        "credit.report",
        "financial.partner_data",
        "location.geo",
    }


def test_sensitivity_of_names_as_events_use_them(policies: PolicySet) -> None:
    policy = policies.latest
    assert policy.is_sensitive("payment.credit_card")
    assert policy.is_sensitive("payment")  # the family holds card data
    assert policy.is_sensitive("location.geo.precise")
    assert not policy.is_sensitive("location.ip")
    assert not policy.is_sensitive("unknown.thing")


def test_purposes_recipients_and_scopes(policies: PolicySet) -> None:
    policy = policies.latest
    assert {n: p.clause for n, p in policy.purposes.items()} == PURPOSES
    assert {n: r.clause for n, r in policy.recipient_kinds.items()} == RECIPIENT_KINDS
    assert policy.recipient_kind("data_broker") is None
    assert {s: policy.default_granted(s) for s in SCOPE_DEFAULTS} == SCOPE_DEFAULTS
    assert policy.covered_by["cookies:ad_personalization"] == ("cookies:all",)
    assert policy.retention_after_closure.days == 30


def test_shipped_policy_validates_and_loads_from_the_package() -> None:
    assert check_policy_path(SHIPPED_FOLDER) == []
    assert check_policy_path(SHIPPED_FILE) == []
    shipped = load_policies()
    assert [p.version for p in shipped] == ["2026.1"]
    assert shipped.latest.effective_from.isoformat() == "2026-01-01T00:00:00+07:00"
    assert load_policies(SHIPPED_FILE).latest.version == "2026.1"
    assert load_policy_or_latest(None).version == "2026.1"
    assert load_policy_or_latest(SHIPPED_FOLDER).version == "2026.1"


def test_taxonomy() -> None:
    assert within("payment.credit_card", "payment")
    assert within("payment.credit_card", "payment.*")
    assert within("payment", "payment.*")
    assert not within("payments.x", "payment")
    assert within("anything.at.all", "*")
    assert overlaps("payment", "payment.credit_card")
    assert not within("payment", "payment.credit_card")
    assert list(lineage("a.b.c")) == ["a.b.c", "a.b", "a"]


# -- broken files --------------------------------------------------------------------------------


def _broken(tmp_path: Path, change: Any) -> list[PolicyFileError]:
    data = shipped_data()
    change(data)
    path = write_policy(tmp_path / "policy.yaml", data)
    return check_policy_path(path)


def _one(problems: list[PolicyFileError]) -> tuple[str, str]:
    assert len(problems) >= 1, "expected a problem"
    return problems[0].where, problems[0].problem


def test_undeclared_recipient_kind_in_an_exception(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["disclosure_exceptions"][3]["recipient_kinds"][0] = "vendr"

    where, problem = _one(_broken(tmp_path, change))
    assert where == "disclosure_exceptions[3].recipient_kinds[0]"
    assert "'vendr'" in problem and "not declared" in problem


def test_misspelt_field_gets_a_suggestion(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["disclosure_exceptions"][0]["recipient_kind"] = d["disclosure_exceptions"][0].pop(
            "recipient_kinds"
        )

    problems = _broken(tmp_path, change)
    by_where = {p.where: p.problem for p in problems}
    assert by_where["disclosure_exceptions[0].recipient_kinds"] == "is required but missing"
    assert "did you mean 'recipient_kinds'" in by_where["disclosure_exceptions[0].recipient_kind"]


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        (lambda d: d.update(version=2026.1), "version", "in quotes"),
        (lambda d: d.update(effective_from="2026-01-01"), "effective_from", "time zone"),
        (
            lambda d: d["consent_scopes"][2].update(default="optin"),
            "consent_scopes[2].default",
            "'opt-in' or 'opt-out'",
        ),
        (
            lambda d: d["categories"][0]["names"].append("Account.Email"),
            "categories[0].names[8]",
            "lower-case words joined by dots",
        ),
        (lambda d: d["purposes"][0].update(clause="B.9"), "purposes[0].clause", "clauses table"),
        (
            lambda d: d["categories"][1]["names"].append("account.email"),
            "categories[1].names[1]",
            "declared twice (also at categories[0].names[1])",
        ),
        (
            lambda d: d["disclosure_exceptions"][0]["purposes"].append("shipping.*"),
            "disclosure_exceptions[0].purposes[2]",
            "matches no declared purpose",
        ),
        (
            lambda d: d["disclosure_exceptions"][1]["requires_consent"][0].update(
                scope="recipient:{channel}"
            ),
            "disclosure_exceptions[1].requires_consent[0].scope",
            "cannot be filled in here",
        ),
        (
            lambda d: d["device_permissions"][0].update(permission="device:kamera"),
            "device_permissions[0].permission",
            "not declared under consent_scopes",
        ),
        (
            lambda d: d["retention"].update(after_account_closure="thirty"),
            "retention.after_account_closure",
            "number of days",
        ),
        (
            lambda d: d["categories"][12].update(partner_kinds=[]),
            "categories[12].partner_kinds",
            "which partner kinds",
        ),
        (
            lambda d: d["consent_requirements"][0].update(otherwise="denied"),
            "consent_requirements[0].otherwise",
            "must be one of",
        ),
        (lambda d: d.pop("stop_processing"), "stop_processing", "required"),
        (
            lambda d: d["sensitive_categories"]["disclosure_limits"][0].update(only_to=["bank"]),
            "sensitive_categories.disclosure_limits[0].only_to[0]",
            "not declared",
        ),
    ],
    ids=[
        "version-number",
        "date-without-time",
        "default",
        "name",
        "clause",
        "duplicate-category",
        "purpose-pattern",
        "placeholder",
        "scope",
        "days",
        "partner-kinds",
        "reason",
        "missing-section",
        "sensitive-limit",
    ],
)
def test_problems_in_plain_words(tmp_path: Path, change: Any, where: str, words: str) -> None:
    problems = _broken(tmp_path, change)
    assert any(p.where == where and words in p.problem for p in problems), [
        (p.where, p.problem) for p in problems
    ]


def test_retention_accepts_days_in_words(tmp_path: Path) -> None:
    data = shipped_data()
    data["retention"]["after_account_closure"] = "45 days"
    policy = load_policy(write_policy(tmp_path / "p.yaml", data))
    assert policy.retention_after_closure.days == 45


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    text = SHIPPED_FILE.read_text(encoding="utf-8").replace(
        "gloss: Credit bureaus (LPIP), for creditworthiness.",
        "gloss: Credit bureaus: for creditworthiness.",
    )
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyFileError) as caught:
        load_policy(path)
    assert caught.value.where.startswith("line ")
    assert "double quotes" in caught.value.problem
    assert caught.value.path == path


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    text = SHIPPED_FILE.read_text(encoding="utf-8").replace("  A.1.2:\n", "  A.1.1:\n", 1)
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    (problem,) = check_policy_path(path)
    assert "appears twice" in problem.problem and problem.where.startswith("line ")


def test_not_a_mapping_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    assert "field: value" in check_policy_path(path)[0].problem
    assert check_policy_path(tmp_path / "absent.yaml")[0].problem == "does not exist"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no policy files" in check_policy_path(empty)[0].problem
    with pytest.raises(PolicyFileError, match="no policy files"):
        load_policies(empty)
    with pytest.raises(PolicyFileError, match="does not exist"):
        load_policies(tmp_path / "nowhere")


def test_a_folder_holds_distinct_versions_of_one_policy(tmp_path: Path) -> None:
    shutil.copy(SHIPPED_FILE, tmp_path / "a.yaml")
    shutil.copy(SHIPPED_FILE, tmp_path / "b.yaml")
    problems = check_policy_path(tmp_path)
    assert {p.where for p in problems} == {"version", "effective_from"}
    assert all(p.path == tmp_path / "b.yaml" for p in problems)
    with pytest.raises(PolicyFileError):
        load_policies(tmp_path)
