"""Verdicts in words a compliance officer reads: what happened, why, and the clause's own text.

Each finding becomes one sentence naming the data, the recipient or the
consent at stake, followed by the clause it rests on, quoted in the policy's
language with its English gloss, so an explanation can be pasted into a
report without looking anything up.
"""

from __future__ import annotations

import textwrap
from datetime import datetime

from jejak.errors import PolicyNotFound
from jejak.lineage.policy import verdict as v
from jejak.lineage.policy.compiled import Policy, PolicySet
from jejak.lineage.policy.verdict import Finding, Verdict
from jejak.schemas.models import (
    Collection,
    Consent,
    Deletion,
    Disclosure,
    Event,
    PolicyAccepted,
    SubjectRequest,
    Use,
)

_QUOTE_LIMIT = 360
_WIDTH = 92


def when(at: datetime) -> str:
    """``2026-05-01 09:10 UTC``: how a person reads a timestamp."""
    return at.strftime("%Y-%m-%d %H:%M UTC")


def describe(event: Event) -> str:
    """One line saying what the event is, in plain words."""
    if isinstance(event, Collection):
        src = event.source + (f" ({event.source_partner})" if event.source_partner else "")
        return f"collection of {', '.join(event.data_categories)} from {src}"
    if isinstance(event, Use):
        extra = f" on channel {event.channel}" if event.channel else ""
        extra += ", shown publicly" if event.public else ""
        return f"use of {', '.join(event.data_categories)} for {event.purpose}{extra}"
    if isinstance(event, Disclosure):
        r = event.recipient
        sale = " (sold)" if event.transfer == "sale" else ""
        return (
            f"disclosure{sale} of {', '.join(event.data_categories)} to {r.id} ({r.kind}) "
            f"for {event.purpose}"
        )
    if isinstance(event, Consent):
        return f"consent {event.action}: {event.scope}"
    if isinstance(event, PolicyAccepted):
        return f"acceptance of policy version {event.policy_version}"
    if isinstance(event, SubjectRequest):
        return f"{event.request} request by the subject"
    if isinstance(event, Deletion):
        return f"deletion of {', '.join(event.data_categories)}"
    return "account closed"  # the last kind: AccountClosed


def _quote(policy: Policy | None, clause: str | None) -> list[str]:
    if policy is None or clause is None:
        return []
    text = policy.clause_text(clause)
    if text is None:
        return [f"{clause}: (no text for this clause in policy {policy.version})"]
    original = " ".join(text.text.split())
    if len(original) > _QUOTE_LIMIT:
        original = original[: _QUOTE_LIMIT - 1].rstrip() + "…"
    gloss = " ".join(text.gloss.split())
    return [
        *textwrap.wrap(f"{clause}: «{original}»", width=_WIDTH, subsequent_indent="  "),
        *textwrap.wrap(f"({gloss})", width=_WIDTH, initial_indent="  ", subsequent_indent="   "),
    ]


def _meaning(policy: Policy | None, scope: str | None) -> str:
    if policy is None or scope is None:
        return ""
    decl = policy.scope_decl(scope)
    return f" ({decl.meaning})" if decl is not None and decl.meaning else ""


def _still_allowed(policy: Policy | None) -> str:
    if policy is None:
        return "what the law requires"
    allowed = policy.document.stop_processing.still_allowed_purposes
    return ", ".join(allowed) if allowed else "nothing"


def _sentence(finding: Finding, policy: Policy | None, event: Event | None) -> str:
    item, scope, reason = finding.item, finding.scope, finding.reason
    what = event.kind if event is not None else "event"
    if reason == v.CONSENT_WITHDRAWN:
        return (
            f"The subject had withdrawn all consent ({scope}) before this {what}; after that only "
            f"{_still_allowed(policy)} may be served."
        )
    if reason == v.ACCOUNT_CLOSED:
        return (
            f"The subject's account was closed before this {what}; after closure only "
            f"{_still_allowed(policy)} may be served."
        )
    if reason == v.UNDECLARED_PURPOSE:
        return f"The purpose {item} is not one this policy version declares."
    if reason == v.UNDECLARED_CATEGORY:
        return f"The data category {item} is not one this policy version declares."
    if reason == v.UNDECLARED_SOURCE:
        return f"The policy does not allow collecting {item}."
    if reason == v.POLICY_NOT_IN_FORCE:
        return (
            f"Not yet allowed when it happened: {item}; the version that allows it had not "
            "taken effect."
        )
    if reason == v.PERMISSION_MISSING:
        return (
            f"Collecting {item} needs the device permission {scope}{_meaning(policy, scope)}, "
            "which the subject had not granted at that time."
        )
    if reason == v.OPTED_OUT:
        return (
            f"The subject had opted out of {scope}{_meaning(policy, scope)} before this "
            f"{what} ({item})."
        )
    if reason == v.CONSENT_MISSING:
        return (
            f"This {what} ({item}) needs the subject's consent {scope}"
            f"{_meaning(policy, scope)}, which they had not given."
        )
    if reason == v.SENSITIVE_CATEGORY_NOT_ALLOWED:
        recipient = (
            f" a {event.recipient.kind}" if isinstance(event, Disclosure) else " this recipient"
        )
        return (
            f"{item} is sensitive personal data, and the policy does not allow disclosing it "
            f"to{recipient}."
        )
    if reason == v.LEGAL_REQUEST_MISSING:
        return (
            f"A disclosure to a {item} under {finding.clause} needs the reference of the legal "
            "request, and the event carries none."
        )
    if reason == v.DISCLOSURE_WITHOUT_CONSENT:
        return (
            f"No exception of section C covers this disclosure to a {item}, and the subject "
            f"had not granted {scope}: personal data was disclosed without consent."
        )
    return f"{reason}: {item or scope or ''}".strip()


def _allowed_sentence(verdict: Verdict, policy: Policy | None, event: Event | None) -> str:
    basis = verdict.basis
    if isinstance(event, Disclosure):
        if policy is not None and basis == policy.document.disclosure.clause:
            scope = policy.document.disclosure.with_permission.replace(
                "{recipient}", event.recipient.id
            )
            return (
                f"The subject had granted {scope}, so the general rule of section C "
                "(disclosure with permission) allows it."
            )
        return (
            f"Exception {basis} covers disclosing this to a {event.recipient.kind} "
            f"for {event.purpose}."
        )
    if isinstance(event, Use):
        return f"The policy allows using this data for {event.purpose}."
    if isinstance(event, Collection):
        return f"The policy allows collecting this data from the source {event.source}."
    return ""


def _policy(verdict: Verdict, policies: PolicySet | Policy | None) -> Policy | None:
    if policies is None:
        return None
    if isinstance(policies, Policy):
        return policies
    if verdict.policy_version is None:
        return policies.earliest
    try:
        return policies.get(verdict.policy_version)
    except PolicyNotFound:
        return None


def explain(
    verdict: Verdict, policies: PolicySet | Policy | None = None, event: Event | None = None
) -> str:
    """The verdict as a short report: the event, the decision, each reason and its clause text.

    ``policies`` supplies the clause texts (the version named in the verdict
    is used); ``event`` the details of what happened. Both are optional.
    """
    policy = _policy(verdict, policies)
    version = verdict.policy_version or "none in force"
    subject = f"subject {verdict.subject_id}, {when(verdict.occurred_at)}, policy {version}"
    head = describe(event) if event is not None else verdict.kind
    lines = [f"{verdict.event_id}: {head}", f"  {subject}"]
    if verdict.decision == v.ALLOWED:
        lines.append(
            f"  ALLOWED under {verdict.basis}. {_allowed_sentence(verdict, policy, event)}"
        )
        lines += ["    " + q for q in _quote(policy, verdict.basis)]
    elif verdict.decision == v.RECORDED:
        lines.append("  RECORDED: not a use of data; kept in the lineage, nothing to judge.")
    else:
        lines.append(f"  VIOLATION ({verdict.severity}): {', '.join(verdict.reasons)}")
        for finding in verdict.findings:
            sentence = textwrap.fill(
                _sentence(finding, policy, event),
                width=_WIDTH + 4,
                initial_indent="  - ",
                subsequent_indent="    ",
            )
            lines.append(sentence)
            lines += ["      " + q for q in _quote(policy, finding.clause)]
    lines += [f"  note: {n}" for n in verdict.notes]
    return "\n".join(lines)
