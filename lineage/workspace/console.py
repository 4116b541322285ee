"""What the console shows of the policy: clause texts, and the clauses an alert says were broken.

An alert row keeps its findings in words only: its ``summary`` is
``"<what happened>: <reason> (<clause>); <reason> (<clause>)"``
(:func:`jejak.consumers.pipeline.alert_summary`). :func:`broken_clauses`
reads the clause ids back from that line, keeps only ids the policy version
of the alert declares (so a word in brackets is never taken for a clause),
and falls back to the clause the policy names for the reason itself (the
general disclosure rule for ``disclosure_without_consent``, E.5 for a
withdrawal, ...) when the line names none, as the monitors' alerts do.

Each clause comes with the policy's own sentence (Indonesian) and its English
gloss, from the policy file; nothing here is translated by jejak.
"""

from __future__ import annotations

import re
from typing import Any

from jejak.errors import PolicyNotFound
from jejak.lineage.policy import REASONS, Policy, PolicySet, severity
from jejak.lineage.policy import verdict as v

_FINDING = re.compile(r"([a-z_]+) \(([A-Z](?:\.\d+)*)\)")


def policy_of(policies: PolicySet, version: str | None) -> Policy:
    """The version named (an alert's), else the latest."""
    if version:
        try:
            return policies.get(version)
        except PolicyNotFound:
            pass
    return policies.latest


def _reason_clause(policy: Policy, reason: str) -> str | None:
    doc = policy.document
    return {
        v.CONSENT_WITHDRAWN: doc.stop_processing.withdrawal_clause,
        v.ACCOUNT_CLOSED: doc.stop_processing.account_closed_clause,
        v.UNDECLARED_PURPOSE: policy.purpose_section,
        v.UNDECLARED_CATEGORY: policy.category_section,
        v.UNDECLARED_SOURCE: policy.category_section,
        v.POLICY_NOT_IN_FORCE: doc.updates.clause,
        v.DISCLOSURE_WITHOUT_CONSENT: doc.disclosure.clause,
        v.RETENTION_OVERDUE: doc.retention.clause,
    }.get(reason)


def _clause(policy: Policy, reason: str, clause: str) -> dict[str, Any]:
    text = policy.clause_text(clause)
    return {
        "reason": reason,
        "clause": clause,
        "text": " ".join(text.text.split()) if text else "",
        "gloss": " ".join(text.gloss.split()) if text else "",
    }


def broken_clauses(policies: PolicySet, alert: dict[str, Any]) -> list[dict[str, Any]]:
    """Each broken rule of an alert row: reason, clause id, the clause's text and gloss."""
    policy = policy_of(policies, alert.get("policy_version"))
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    summary = str(alert.get("summary") or "")
    _, _, findings = summary.rpartition(": ")
    for reason, clause in _FINDING.findall(findings):
        if clause in policy.clauses and (reason, clause) not in seen:
            seen.add((reason, clause))
            out.append(_clause(policy, reason, clause))
    named = {reason for reason, _ in seen}
    for reason in alert.get("reasons") or [alert.get("reason")]:
        if not reason or reason in named:
            continue
        clause = _reason_clause(policy, reason)
        if clause is not None and (reason, clause) not in seen:
            seen.add((reason, clause))
            out.append(_clause(policy, reason, clause))
        elif clause is None:
            deadline = (
                _deadline_source(policy, alert) if reason == v.SUBJECT_REQUEST_OVERDUE else ""
            )
            out.append({"reason": reason, "clause": deadline, "text": "", "gloss": ""})
    return out


def _deadline_source(policy: Policy, alert: dict[str, Any]) -> str:
    """The article of the law behind a request deadline (not a clause of the policy text)."""
    for deadline in policy.request_deadlines.values():
        if str(alert.get("summary") or "").startswith(f"{deadline.request} request "):
            return deadline.source
    return ""


def policy_text(policies: PolicySet, version: str | None) -> dict[str, Any]:
    """One policy version as the console reads it: clauses, reasons, and its vocabulary."""
    policy = policy_of(policies, version)
    doc = policy.document
    reasons = [*REASONS, v.RETENTION_OVERDUE, v.SUBJECT_REQUEST_OVERDUE]
    return {
        "policy": policy.name,
        "version": policy.version,
        "versions": [p.version for p in policies],
        "title": doc.title,
        "language": doc.language,
        "effective_from": policy.effective_from,
        "clauses": {
            cid: {"text": " ".join(c.text.split()), "gloss": " ".join(c.gloss.split())}
            for cid, c in doc.clauses.items()
        },
        "reasons": {
            r: {"severity": severity(r), "clause": _reason_clause(policy, r)} for r in reasons
        },
        "categories": {name: info.clause for name, info in sorted(policy.categories.items())},
        "purposes": {p.name: p.clause for p in doc.purposes},
        "recipient_kinds": {r.name: r.clause for r in doc.recipient_kinds},
        "labels": _labels(doc),
    }


def _labels(doc: Any) -> dict[str, Any]:
    """Plain-language names of the policy's codes (``labels:`` in the policy file), if any."""
    labels = getattr(doc, "labels", None)
    return labels.model_dump() if labels is not None else {}
