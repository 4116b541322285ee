"""The verdict record (policy-semantics §4), reason codes and their severity.

:class:`Verdict` is built once per event on the engine's hot path, so it is a
``NamedTuple``: immutable, typed, and about ten times cheaper to build than a
frozen dataclass (a frozen dataclass sets every field through
``object.__setattr__``). Being a tuple, two verdicts compare equal field by
field; treat it as a record, never as a sequence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal, NamedTuple

from jejak.schemas.models import format_timestamp

Decision = Literal["allowed", "violation", "recorded"]
Severity = Literal["critical", "high", "medium", "low"]

ALLOWED: Final = "allowed"
VIOLATION: Final = "violation"
RECORDED: Final = "recorded"

# Reason codes, in the order policy-semantics §3 introduces them.
CONSENT_WITHDRAWN: Final = "consent_withdrawn"
ACCOUNT_CLOSED: Final = "account_closed"
UNDECLARED_PURPOSE: Final = "undeclared_purpose"
UNDECLARED_CATEGORY: Final = "undeclared_category"
UNDECLARED_SOURCE: Final = "undeclared_source"
POLICY_NOT_IN_FORCE: Final = "policy_not_in_force"
PERMISSION_MISSING: Final = "permission_missing"
OPTED_OUT: Final = "opted_out"
CONSENT_MISSING: Final = "consent_missing"
SENSITIVE_CATEGORY_NOT_ALLOWED: Final = "sensitive_category_not_allowed"
LEGAL_REQUEST_MISSING: Final = "legal_request_missing"
DISCLOSURE_WITHOUT_CONSENT: Final = "disclosure_without_consent"
RETENTION_OVERDUE: Final = "retention_overdue"
"""Raised by the retention monitor (F) against the store, never by :func:`evaluate`."""
SUBJECT_REQUEST_OVERDUE: Final = "subject_request_overdue"
"""Raised by the request monitor against the store: a data-subject request past its UU PDP deadline."""

REASONS: Final[tuple[str, ...]] = (
    CONSENT_WITHDRAWN,
    ACCOUNT_CLOSED,
    UNDECLARED_PURPOSE,
    UNDECLARED_CATEGORY,
    UNDECLARED_SOURCE,
    POLICY_NOT_IN_FORCE,
    PERMISSION_MISSING,
    OPTED_OUT,
    CONSENT_MISSING,
    SENSITIVE_CATEGORY_NOT_ALLOWED,
    LEGAL_REQUEST_MISSING,
    DISCLOSURE_WITHOUT_CONSENT,
)
"""Every reason code the engine gives, in rule order."""

_SEVERITY: Final[dict[str, Severity]] = {
    # The headline alert: personal data left the company with no exception and no consent.
    DISCLOSURE_WITHOUT_CONSENT: "critical",
    # Data went, or was processed, where the subject or the law clearly said no.
    SENSITIVE_CATEGORY_NOT_ALLOWED: "high",
    CONSENT_WITHDRAWN: "high",
    ACCOUNT_CLOSED: "high",
    # The law's clock ran out on a person's request (UU PDP Pasal 30-32, 40, 41).
    SUBJECT_REQUEST_OVERDUE: "high",
    LEGAL_REQUEST_MISSING: "high",
    UNDECLARED_PURPOSE: "high",
    # A choice of the subject was ignored, or data the policy does not list was taken.
    PERMISSION_MISSING: "medium",
    OPTED_OUT: "medium",
    CONSENT_MISSING: "medium",
    UNDECLARED_CATEGORY: "medium",
    UNDECLARED_SOURCE: "medium",
    RETENTION_OVERDUE: "medium",
    # Usually a service that shipped ahead of the policy version that allows it.
    POLICY_NOT_IN_FORCE: "low",
}
_RANK: Final[dict[str, int]] = {"critical": 3, "high": 2, "medium": 1, "low": 0}
_ORDERED: Final[tuple[Severity, ...]] = ("low", "medium", "high", "critical")


def severity(reason: str) -> Severity:
    """How urgent an alert with this reason is; ``disclosure_without_consent`` alone is critical.

    An unknown reason code (a newer producer of alerts than this table) is
    ``high``: over-alerting is the safer mistake for a compliance team.
    """
    return _SEVERITY.get(reason, "high")


def highest_severity(reasons: tuple[str, ...] | list[str]) -> Severity | None:
    """The most urgent severity among ``reasons``; ``None`` when there are none."""
    if not reasons:
        return None
    return _ORDERED[max(_RANK[severity(r)] for r in reasons)]


class Finding(NamedTuple):
    """One broken rule: its reason code, the clause it comes from, and what was at stake.

    ``scope`` is the consent scope that was missing or withdrawn (the one the
    subject would have to give for the event to be allowed), ``item`` the
    category, purpose, source or recipient the rule is about.
    """

    reason: str
    clause: str | None
    scope: str | None = None
    item: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "reason": self.reason,
            "clause": self.clause,
            "scope": self.scope,
            "item": self.item,
        }


class Verdict(NamedTuple):
    """The engine's judgement of one event (policy-semantics §4).

    ``reasons`` holds each reason code once, the primary first; ``findings``
    holds every broken rule with its clause (two missing device permissions
    are two findings and one reason). ``notes`` are informational only, such
    as a producer-claimed ``basis`` that differs from the engine's: they
    never change the decision.
    """

    event_id: str
    decision: Decision
    basis: str | None
    reasons: tuple[str, ...]
    policy_version: str | None
    subject_id: str
    kind: str
    occurred_at: datetime
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def is_violation(self) -> bool:
        return self.decision == VIOLATION

    @property
    def severity(self) -> Severity | None:
        """The alert severity: the highest among the reasons (``None`` unless a violation)."""
        return highest_severity(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """The output form of ``jejak policy evaluate`` (one JSON object per event)."""
        return {
            "event_id": self.event_id,
            "decision": self.decision,
            "basis": self.basis,
            "reasons": list(self.reasons),
            "policy_version": self.policy_version,
            "kind": self.kind,
            "subject_id": self.subject_id,
            "occurred_at": format_timestamp(self.occurred_at),
            "severity": self.severity,
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }
