"""A policy version as rows a person reads: clause, what it covers, under which conditions.

``jejak policy show`` renders these rows; ``--json`` prints them as they are.
:func:`clause_detail` gathers one clause: its text, its gloss and every rule
of the file that cites it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from jejak.lineage.policy.compiled import Policy


@dataclass(frozen=True, slots=True)
class Row:
    """One rule: the section it belongs to, its clause, what it covers, its conditions."""

    section: str
    clause: str
    what: str
    conditions: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _join(items: list[str] | tuple[str, ...]) -> str:
    return ", ".join(items)


def outline(policy: Policy) -> list[Row]:
    """Every rule of ``policy``, section by section, in the file's order."""
    doc = policy.document
    rows: list[Row] = []
    sensitive = doc.sensitive_categories.names
    for group in doc.categories:
        cond = f"from {_join(group.sources)}"
        if group.partner_kinds:
            cond += f" ({_join(group.partner_kinds)})"
        flagged = [n for n in group.names if policy.categories[n].sensitive]
        if flagged:
            cond += f"; sensitive: {_join(flagged)}"
        if group.see_also:
            cond += f"; see also {_join(group.see_also)}"
        rows.append(Row("collection", group.clause, _join(group.names), cond))
    for p in doc.purposes:
        also = f"see also {_join(p.see_also)}" if p.see_also else ""
        rows.append(Row("use", p.clause, p.name, also))
    gen = doc.disclosure
    cond = f"the subject granted {gen.with_permission}"
    if gen.permission_only_transfers:
        cond += f"; a {_join(gen.permission_only_transfers)} is allowed only this way"
    rows.append(Row("disclosure", gen.clause, "any recipient", cond))
    for e in policy.exceptions:
        parts = [f"purposes: {_join(e.purposes)}"]
        if e.categories_allowed is not None:
            parts.append(f"only categories: {_join(e.categories_allowed)}")
        if e.categories_forbidden:
            parts.append(f"never categories: {_join(e.categories_forbidden)}")
        for c in e.requires_consent:
            when = f" for {_join(c.when_purposes)}" if c.when_purposes else ""
            parts.append(f"needs {c.scope}{when}")
        if e.legal_request_required:
            parts.append("needs a legal request reference")
        rows.append(Row("disclosure", e.clause, _join(e.recipient_kinds), "; ".join(parts)))
    for lim in doc.sensitive_categories.disclosure_limits:
        rows.append(
            Row("sensitive", lim.clause, _join(lim.categories), f"only to {_join(lim.only_to)}")
        )
    if sensitive:
        ref = doc.sensitive_categories.reference or ""
        rows.append(Row("sensitive", "", _join(sensitive), " ".join(ref.split())))
    for d in doc.device_permissions:
        rows.append(
            Row(
                "consent",
                d.clause,
                f"collection of {_join(d.categories)}",
                f"needs {d.permission}, else permission_missing",
            )
        )
    for r in doc.consent_requirements:
        what = f"{'/'.join(r.applies_to)}"
        if r.purposes:
            what += f" for {_join(r.purposes)}"
        if r.categories:
            what += f" of {_join(r.categories)}"
        if r.public is not None:
            what += " shown publicly" if r.public else " not public"
        rows.append(Row("consent", r.clause, what, f"needs {r.requires}, else {r.otherwise}"))
    for s in doc.consent_scopes:
        cond = s.default + (f"; {s.meaning}" if s.meaning else "")
        if s.withdrawal_covers:
            cond += f"; withdrawing it withdraws {_join(s.withdrawal_covers)}"
        rows.append(Row("consent scope", s.clause, s.scope, cond))
    sp = doc.stop_processing
    still = _join(sp.still_allowed_purposes) or "nothing"
    rows.append(
        Row(
            "stop",
            sp.withdrawal_clause,
            f"{sp.withdrawal_scope} withdrawn",
            f"only {still} after it",
        )
    )
    rows.append(Row("stop", sp.account_closed_clause, "account closed", f"only {still} after it"))
    days = doc.retention.after_account_closure.days
    rows.append(
        Row(
            "retention",
            doc.retention.clause,
            "data of a closed account",
            f"deleted within {days} days of closure",
        )
    )
    for deadline in doc.subject_requests:
        rows.append(
            Row(
                "request",
                deadline.source,
                f"{deadline.request} request",
                f"answered within {deadline.within_hours} h",
            )
        )
    up = doc.updates
    how = (
        "continued use counts as acceptance"
        if up.continued_use_is_acceptance
        else ("each subject must accept explicitly")
    )
    rows.append(Row("updates", up.clause, f"new versions ({up.acceptance_scope})", how))
    return rows


def clause_detail(policy: Policy, clause: str) -> dict[str, Any] | None:
    """One clause: its original text, gloss, and the rules of the file citing it (None if absent)."""
    text = policy.clause_text(clause)
    if text is None:
        return None
    rules = [r.to_dict() for r in outline(policy) if r.clause == clause]
    cited_by = [name for name, info in policy.categories.items() if clause in info.see_also] + [
        p.name for p in policy.document.purposes if clause in p.see_also
    ]
    return {
        "clause": clause,
        "policy": policy.name,
        "version": policy.version,
        "text": " ".join(text.text.split()),
        "gloss": " ".join(text.gloss.split()),
        "rules": rules,
        "see_also_from": cited_by,
    }
