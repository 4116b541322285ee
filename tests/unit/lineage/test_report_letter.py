"""The access report built from a trail: every event cited, nothing invented, safe HTML, two languages."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import DATA, shipped_data, write_policy

from jejak.lineage.policy import PolicySet, load_policies
from jejak.lineage.policy.loader import check_policy_file
from jejak.lineage.policy.verdict import REASONS as ENGINE_REASONS
from jejak.lineage.report import LANGS, build_letter, render_html
from jejak.lineage.report.i18n import ACTIONS, DECISIONS, KINDS, REASONS, REQUESTS, TEXT, label

SUBJECT = "ps1_" + "a" * 32
NOW = datetime(2026, 5, 3, 9, 0, tzinfo=UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def trail_of_examples() -> list[dict[str, Any]]:
    """The contract's examples as the store returns them (a row per event, with its verdict)."""
    expected = {
        e["event_id"]: e
        for e in map(json.loads, (DATA / "policy-examples.expected.jsonl").read_text().splitlines())
    }
    rows = []
    for e in map(json.loads, (DATA / "policy-examples.jsonl").read_text().splitlines()):
        verdict = expected[e["event_id"]]
        rows.append(
            {
                "event_id": e["event_id"],
                "kind": e["kind"],
                "occurred_at": _at(e["occurred_at"]),
                "categories": e.get("data_categories", []),
                "source": e.get("source", ""),
                "source_partner": "",
                "purpose": e.get("purpose", ""),
                "channel": e.get("channel", ""),
                "recipient_id": e.get("recipient", {}).get("id", ""),
                "recipient_kind": e.get("recipient", {}).get("kind", ""),
                "scope": e.get("scope", ""),
                "action": e.get("action", ""),
                "request": "",
                "request_ref": "",
                "decision": verdict["decision"],
                "basis": verdict["basis"] or "",
                "reasons": verdict["reasons"],
                "policy_version": "2026.1",
                "claimed_policy_version": "",
            }
        )
    return rows


@pytest.fixture(scope="module")
def shipped() -> PolicySet:
    return load_policies()


def letter(shipped: PolicySet, trail: list[dict[str, Any]], lang: str = "id") -> dict[str, Any]:
    return build_letter(
        trail,
        shipped,
        subject_id=SUBJECT,
        lang=lang,
        request_ref="DSR-1",
        generated_at=NOW,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("lang", LANGS)
def test_every_event_is_cited_and_every_line_rests_on_events(shipped: PolicySet, lang: str) -> None:
    trail = trail_of_examples()
    ids = {e["event_id"] for e in trail}
    data = letter(shipped, trail, lang)
    assert [r["event_id"] for r in data["trail"]] == [e["event_id"] for e in trail]
    lines = data["held"] + data["purposes"] + data["disclosures"] + data["consents"]
    assert lines and all(line["event_ids"] and set(line["event_ids"]) <= ids for line in lines)
    html = render_html(data)
    assert set(re.findall(r"<code>(ex-\d+)</code>", html)) == ids
    assert f'<html lang="{lang}">' in html


def test_plain_words_from_the_policy_in_the_readers_language(shipped: PolicySet) -> None:
    trail = trail_of_examples()
    id_, en = letter(shipped, trail, "id"), letter(shipped, trail, "en")
    phone = next(r for r in id_["held"] if r["category"]["code"] == "account.phone")
    assert phone["category"]["label"] == "Nomor telepon"
    assert [b["clause"] for b in phone["basis"]] == ["A.1.1"]
    assert phone["basis"][0]["text"].startswith("Membuat atau memperbarui akun")
    assert (
        next(r for r in en["held"] if r["category"]["code"] == "account.phone")["category"]["label"]
        == "Phone number"
    )
    bank = next(d for d in en["disclosures"] if d["recipient"]["id"] == "bank-x")
    assert bank["recipient"]["label"] == "Payment processor"
    assert any(c["sensitive"] for c in bank["categories"])  # payment.* is specific data
    promo = next(d for d in en["disclosures"] if d["recipient"]["id"] == "promo-co")
    assert promo["flagged"] == 1 and promo["basis"] == []
    row = next(r for r in en["trail"] if r["event_id"] == "ex-07")
    assert row["decision"] == "violation" and row["reasons"] == ["disclosed without your consent"]
    scopes = {c["scope"]: c["label"] for c in en["consents"]}
    assert scopes["device:camera"] == "Camera permission"
    html = render_html(id_)
    assert "Rekam jejak pemrosesan" in html and "Nomor telepon" in html


def test_values_from_events_never_become_markup(shipped: PolicySet) -> None:
    trail = trail_of_examples()
    evil = "<script>alert(1)</script>"
    trail[5] = {**trail[5], "recipient_id": evil, "categories": ['x"><img src=x>']}
    html = render_html(letter(shipped, trail, "en"))
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)  # nothing fetched from anywhere


def test_a_subject_with_no_events_is_told_so(shipped: PolicySet) -> None:
    data = letter(shipped, [], "en")
    assert data["events"] == 0 and data["trail"] == []
    assert "We hold no record" in render_html(data)


def test_the_two_languages_have_the_same_words() -> None:
    for table in (TEXT, KINDS, ACTIONS, REQUESTS, DECISIONS, REASONS):
        assert set(table["id"]) == set(table["en"])
    assert set(REASONS["en"]) == set(ENGINE_REASONS)


def test_the_shipped_policy_labels_everything_it_declares(shipped: PolicySet) -> None:
    policy = shipped.latest
    doc = policy.document
    declared = {
        "categories": set(policy.categories),
        "purposes": set(policy.purposes),
        "recipient_kinds": set(policy.recipient_kinds),
        "sources": {s.name for s in doc.sources},
        "partner_kinds": {p.name for s in doc.sources for p in s.partner_kinds},
        "consent_scopes": {s.scope for s in doc.consent_scopes},
    }
    for section, names in declared.items():
        labels = getattr(doc.labels, section)
        assert names, section
        assert names <= set(labels), (section, sorted(names - set(labels)))
        for name in names:
            for lang in LANGS:
                assert label(doc, section, name, lang) != name or section == "sources", (name, lang)
    assert label(doc, "categories", "payment.credit_card.visa", "en") == "Credit card"
    assert (
        label(doc, "consent_scopes", "recipient:bank-x", "id") == "Izin berbagi data dengan: bank-x"
    )


def test_a_label_for_something_not_declared_is_refused(tmp_path: Path) -> None:
    data = shipped_data()
    data["labels"]["purposes"]["marketing.comunications"] = {"id": "x", "en": "y"}
    problems = [str(p) for p in check_policy_file(write_policy(tmp_path / "p.yaml", data))]
    assert len(problems) == 1 and "labels.purposes[marketing.comunications]" in problems[0]
    assert "did you mean 'marketing.communications'" in problems[0]
    data = shipped_data()
    data["labels"]["categories"]["account.username"] = {"id": "Nama pengguna"}
    problems = [str(p) for p in check_policy_file(write_policy(tmp_path / "q.yaml", data))]
    assert problems == [
        f"{tmp_path / 'q.yaml'}: labels.categories[account.username].en: is required but missing"
    ]
