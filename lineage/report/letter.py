"""The access report of UU PDP Pasal 32 as data: built from one subject's processing trail.

Input: the subject's events in time order, each with its verdict
(:func:`jejak.lineage.store.queries.subject_trail`), and the policy versions.
Output: a JSON-ready dict in the reader's language, which :mod:`.html` turns
into a letter and ``--format json`` returns as it is.

Why from the trail alone: every line is an aggregate *of trail events*, so
each line's ``event_ids`` are a subset of the trail, every trail event is
cited in the trail section, and no line can name anything the trail does not
hold — in particular nothing about another person (the trail is read by this
subject's id only). Producing a report is an access-log record and may close an
access request; that happens in the workspace (``subject_letter``), not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from jejak.errors import PolicyNotFound
from jejak.lineage.policy import Policy, PolicySet
from jejak.lineage.policy.model import clause_key
from jejak.lineage.report.i18n import (
    ACTIONS,
    DECISIONS,
    KINDS,
    REASONS,
    REQUESTS,
    Lang,
    label,
    t,
    when,
    word,
)

FORMAT_VERSION = 1
CONSENT_KINDS = ("consent", "policy_accepted", "account_closed")


def _policy(policies: PolicySet, version: str | None) -> Policy:
    if version:
        try:
            return policies.get(version)
        except PolicyNotFound:
            pass
    return policies.latest


class _Clauses:
    """The clauses a report cites, with their text from the version that judged the event."""

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        self.cited: dict[tuple[str, str], dict[str, str]] = {}

    def cite(self, clause: str, version: str | None) -> dict[str, str]:
        policy = _policy(self.policies, version)
        text = policy.clauses.get(clause)
        entry = {
            "clause": clause,
            "policy_version": policy.version,
            "text": text.text if text else "",
            "gloss": text.gloss if text else "",
        }
        self.cited.setdefault((policy.version, clause), entry)
        return entry

    def annex(self) -> list[dict[str, str]]:
        return [self.cited[k] for k in sorted(self.cited, key=lambda k: (k[0], clause_key(k[1])))]


def _ids(events: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({e["event_id"] for e in events})


def _span(events: Sequence[dict[str, Any]]) -> tuple[datetime, datetime]:
    times = [e["occurred_at"] for e in events]
    return min(times), max(times)


def build_letter(
    trail: Sequence[dict[str, Any]],
    policies: PolicySet,
    *,
    subject_id: str,
    lang: Lang,
    request_ref: str | None,
    generated_at: datetime,
) -> dict[str, Any]:
    """The report, JSON-ready; ``trail`` holds this subject's events only, oldest first."""
    doc = policies.latest.document
    clauses = _Clauses(policies)

    def cat(code: str) -> dict[str, Any]:
        info = _policy(policies, None).category(code)
        return {
            "code": code,
            "label": label(doc, "categories", code, lang),
            "sensitive": bool(info and info.sensitive),
        }

    def basis_of(events: Sequence[dict[str, Any]]) -> tuple[list[dict[str, str]], int]:
        seen: dict[tuple[str, str], dict[str, str]] = {}
        flagged = 0
        for e in events:
            if e["decision"] == "violation":
                flagged += 1
            elif e["basis"]:
                entry = clauses.cite(e["basis"], e["policy_version"])
                seen.setdefault((entry["policy_version"], e["basis"]), entry)
        return [seen[k] for k in sorted(seen, key=lambda k: clause_key(k[1]))], flagged

    def reasons(e: dict[str, Any]) -> list[str]:
        return [word(REASONS, lang, r) for r in e["reasons"]]

    # 1. the data held: per category and source
    held_groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for e in trail:
        if e["kind"] == "collection":
            for c in e["categories"]:
                held_groups.setdefault((c, e["source"], e["source_partner"]), []).append(e)
    held = []
    for (code, source, partner), events in sorted(held_groups.items()):
        basis, flagged = basis_of(events)
        first, last = _span(events)
        held.append(
            {
                "category": cat(code),
                "source": {
                    "code": source,
                    "label": label(doc, "sources", source, lang),
                    "partner": partner,
                },
                "times": len(events),
                "first_at": first,
                "last_at": last,
                "basis": basis,
                "flagged": flagged,
                "event_ids": _ids(events),
            }
        )

    # 2. the purposes
    used_groups: dict[str, list[dict[str, Any]]] = {}
    for e in trail:
        if e["kind"] == "use":
            used_groups.setdefault(e["purpose"], []).append(e)
    purposes = []
    for code, events in sorted(used_groups.items()):
        basis, flagged = basis_of(events)
        first, last = _span(events)
        purposes.append(
            {
                "purpose": {"code": code, "label": label(doc, "purposes", code, lang)},
                "categories": [
                    cat(c) for c in sorted({c for e in events for c in e["categories"]})
                ],
                "times": len(events),
                "first_at": first,
                "last_at": last,
                "basis": basis,
                "flagged": flagged,
                "event_ids": _ids(events),
            }
        )

    # 3. the disclosures, with the consent a disclosure to that recipient rests on
    disclosed_groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for e in trail:
        if e["kind"] == "disclosure":
            key = (e["recipient_id"], e["recipient_kind"], e["purpose"])
            disclosed_groups.setdefault(key, []).append(e)
    disclosures = []
    for (rid, rkind, purpose), events in sorted(disclosed_groups.items()):
        basis, flagged = basis_of(events)
        first, last = _span(events)
        scope = f"recipient:{rid}"
        grants = [
            e
            for e in trail
            if e["kind"] == "consent" and e["scope"] == scope and e["occurred_at"] <= last
        ]
        disclosures.append(
            {
                "recipient": {
                    "id": rid,
                    "kind": rkind,
                    "label": label(doc, "recipient_kinds", rkind, lang),
                },
                "purpose": {"code": purpose, "label": label(doc, "purposes", purpose, lang)},
                "categories": [
                    cat(c) for c in sorted({c for e in events for c in e["categories"]})
                ],
                "times": len(events),
                "first_at": first,
                "last_at": last,
                "basis": basis,
                "consents": [
                    {
                        "scope": scope,
                        "label": label(doc, "consent_scopes", scope, lang),
                        "action": g["action"],
                        "action_label": word(ACTIONS, lang, g["action"]),
                        "at": g["occurred_at"],
                        "event_id": g["event_id"],
                    }
                    for g in grants
                ],
                "flagged": flagged,
                "event_ids": _ids(events),
            }
        )

    # 4. the consent history: every consent, policy acceptance and account closure
    consents = []
    for e in trail:
        if e["kind"] not in CONSENT_KINDS:
            continue
        if e["kind"] == "consent":
            scope, what = e["scope"], label(doc, "consent_scopes", e["scope"], lang)
            action = e["action"]
        elif e["kind"] == "policy_accepted":
            scope = f"policy:{e['claimed_policy_version']}"
            what = label(doc, "consent_scopes", scope, lang)
            action = "accepted"
        else:
            scope, what, action = "", word(KINDS, lang, "account_closed"), ""
        consents.append(
            {
                "at": e["occurred_at"],
                "scope": scope,
                "label": what,
                "action": action,
                "action_label": word(ACTIONS, lang, action) if action else "",
                "event_ids": [e["event_id"]],
            }
        )

    # 5. deletions
    deleted_groups: dict[str, list[dict[str, Any]]] = {}
    for e in trail:
        if e["kind"] == "deletion":
            for c in e["categories"]:
                deleted_groups.setdefault(c, []).append(e)
    deletions = [
        {
            "category": cat(code),
            "deleted_at": _span(events)[1],
            "request_refs": sorted({e["request_ref"] for e in events if e["request_ref"]}),
            "event_ids": _ids(events),
        }
        for code, events in sorted(deleted_groups.items())
    ]

    # 6. the subject's own requests
    requests = [
        {
            "at": e["occurred_at"],
            "request": e["request"],
            "request_label": word(REQUESTS, lang, e["request"]),
            "request_ref": e["request_ref"],
            "status": e["action"] or "received",
            "status_label": word(REQUESTS, lang, e["action"] or "received"),
            "event_ids": [e["event_id"]],
        }
        for e in trail
        if e["kind"] == "subject_request"
    ]

    # 7. the processing trail: every event, in words
    rows = []
    for e in trail:
        decision = e["decision"] or "recorded"
        cited = clauses.cite(e["basis"], e["policy_version"]) if e["basis"] else None
        rows.append(
            {
                "event_id": e["event_id"],
                "at": e["occurred_at"],
                "kind": e["kind"],
                "kind_label": word(KINDS, lang, e["kind"]),
                "what": _describe(e, doc, lang),
                "decision": decision,
                "decision_label": word(DECISIONS, lang, decision),
                "basis": cited["clause"] if cited else "",
                "reasons": reasons(e),
            }
        )

    closed = [e["occurred_at"] for e in trail if e["kind"] == "account_closed"]
    span: tuple[datetime | None, datetime | None] = _span(trail) if trail else (None, None)
    versions = sorted({e["policy_version"] for e in trail if e["policy_version"]})
    return {
        "report": "jejak.access_report",
        "format_version": FORMAT_VERSION,
        "lang": lang,
        "law": "UU No. 27 Tahun 2022 (UU PDP) Pasal 32",
        "subject_id": subject_id,
        "request_ref": request_ref or "",
        "generated_at": generated_at,
        "policy": {
            "title": doc.title,
            "name": doc.policy,
            "versions": versions or [policies.latest.version],
        },
        "events": len(trail),
        "first_at": span[0],
        "last_at": span[1],
        "account_closed_at": min(closed) if closed else None,
        "held": held,
        "purposes": purposes,
        "disclosures": disclosures,
        "consents": consents,
        "deletions": deletions,
        "requests": requests,
        "trail": rows,
        "clauses": clauses.annex(),
    }


def _describe(e: dict[str, Any], doc: Any, lang: Lang) -> str:
    """One event in a sentence a data subject can read."""
    cats = ", ".join(label(doc, "categories", c, lang) for c in e["categories"])
    kind = e["kind"]
    if kind == "collection":
        return f"{cats} — {label(doc, 'sources', e['source'], lang)}" + (
            f" ({e['source_partner']})" if e["source_partner"] else ""
        )
    if kind == "use":
        return f"{label(doc, 'purposes', e['purpose'], lang)}: {cats}"
    if kind == "disclosure":
        to = f"{e['recipient_id']} ({label(doc, 'recipient_kinds', e['recipient_kind'], lang)})"
        return f"{to} — {label(doc, 'purposes', e['purpose'], lang)}: {cats}"
    if kind == "consent":
        return (
            f"{label(doc, 'consent_scopes', e['scope'], lang)}: {word(ACTIONS, lang, e['action'])}"
        )
    if kind == "policy_accepted":
        return label(doc, "consent_scopes", f"policy:{e['claimed_policy_version']}", lang)
    if kind == "subject_request":
        status = word(REQUESTS, lang, e["action"] or "received")
        ref = f" {e['request_ref']}" if e["request_ref"] else ""
        return f"{word(REQUESTS, lang, e['request'])}{ref}: {status}"
    if kind == "deletion":
        return cats
    if kind == "account_closed":
        return t(lang, "closed", at=when(e["occurred_at"], lang))
    return str(kind)
