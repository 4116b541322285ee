"""What a new policy version would change: past events judged again, and who must be asked.

Before a new version takes effect, compliance wants to know which of last
month's events it would have judged differently, under which clauses, and
which subjects would have to give (or give again) a consent for their data to
keep flowing. :func:`replay` answers that from a stream of past events: each
event is judged by the version that was in force (``old``) and by the new
version as if it had been in force all along, with one consent state shared by
both (consent is a fact about the subject, not about the policy).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jejak.lineage.policy.compiled import Policy, PolicySet
from jejak.lineage.policy.engine import evaluate
from jejak.lineage.policy.state import STATE_KINDS, SubjectState
from jejak.lineage.policy.verdict import Verdict
from jejak.schemas.models import Event, format_timestamp

ACCEPTANCE_REQUIRED = "acceptance_required"
"""Why a subject appears in the needs when the new version is not accepted by continued use (G)."""


def _brief(verdict: Verdict) -> dict[str, Any]:
    return {
        "decision": verdict.decision,
        "basis": verdict.basis,
        "reasons": list(verdict.reasons),
        "policy_version": verdict.policy_version,
    }


@dataclass(frozen=True, slots=True)
class VerdictChange:
    """One past event whose verdict the new version changes."""

    old: Verdict
    new: Verdict

    @property
    def transition(self) -> str:
        return f"{self.old.decision} -> {self.new.decision}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.new.event_id,
            "subject_id": self.new.subject_id,
            "kind": self.new.kind,
            "occurred_at": format_timestamp(self.new.occurred_at),
            "old": _brief(self.old),
            "new": _brief(self.new),
        }


@dataclass(slots=True)
class ConsentNeed:
    """A consent a subject would have to give under the new version, and why."""

    subject_id: str
    scope: str
    reasons: list[str] = field(default_factory=list)
    clauses: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "scope": self.scope,
            "reasons": self.reasons,
            "clauses": self.clauses,
            "events": len(self.event_ids),
            "event_ids": self.event_ids,
        }


@dataclass(slots=True)
class ReplayReport:
    """Everything :func:`replay` found, with counts for a summary and details for follow-up."""

    old_versions: list[str]
    new_version: str
    events: int = 0
    judged: int = 0
    changes: list[VerdictChange] = field(default_factory=list)
    transitions: Counter[str] = field(default_factory=Counter)
    introduced: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    """(reason, clause) of findings the new version adds, counted per event."""
    resolved: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    """(reason, clause) of findings the new version no longer makes."""
    basis_changes: Counter[tuple[str | None, str | None]] = field(default_factory=Counter)
    """(old basis, new basis) of events allowed by both versions, under different clauses."""
    needs: dict[tuple[str, str], ConsentNeed] = field(default_factory=dict)

    @property
    def subjects(self) -> list[str]:
        """Subjects who would have to give a consent, sorted."""
        return sorted({subject for subject, _ in self.needs})

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_versions": self.old_versions,
            "new_version": self.new_version,
            "events": self.events,
            "judged": self.judged,
            "changed": len(self.changes),
            "transitions": dict(self.transitions),
            "introduced": [
                {"reason": r, "clause": c, "events": n}
                for (r, c), n in self.introduced.most_common()
            ],
            "resolved": [
                {"reason": r, "clause": c, "events": n} for (r, c), n in self.resolved.most_common()
            ],
            "basis_changes": [
                {"old": o, "new": n, "events": k} for (o, n), k in self.basis_changes.most_common()
            ],
            "subjects_needing_consent": self.subjects,
            "needs": [n.to_dict() for n in self.needs.values()],
            "changes": [c.to_dict() for c in self.changes],
        }


def _need(
    report: ReplayReport, subject: str, scope: str, reason: str, clause: str | None
) -> ConsentNeed:
    need = report.needs.get((subject, scope))
    if need is None:
        need = report.needs[(subject, scope)] = ConsentNeed(subject, scope)
    if reason not in need.reasons:
        need.reasons.append(reason)
    if clause is not None and clause not in need.clauses:
        need.clauses.append(clause)
    return need


def replay(events: Iterable[Event], old: PolicySet | Policy, new: Policy) -> ReplayReport:
    """Judge ``events`` (stream order) by ``old`` as it was in force and by ``new`` throughout."""
    old_set = PolicySet.of(old)
    new_set = PolicySet.pinned(new)
    report = ReplayReport([p.version for p in old_set], new.version)
    states: dict[str, SubjectState] = {}
    active: set[str] = set()
    for event in events:
        report.events += 1
        state = states.get(event.subject_id)
        if event.kind in STATE_KINDS:
            if state is None:
                state = states[event.subject_id] = SubjectState(event.subject_id)
            state.apply(event)
            continue
        before = evaluate(event, state, old_set)
        after = evaluate(event, state, new_set)
        if before.decision == "recorded":
            continue
        report.judged += 1
        active.add(event.subject_id)
        if (before.decision, before.basis, set(before.reasons)) == (
            after.decision,
            after.basis,
            set(after.reasons),
        ):
            continue
        report.changes.append(VerdictChange(before, after))
        report.transitions[f"{before.decision} -> {after.decision}"] += 1
        if before.decision == after.decision == "allowed":
            report.basis_changes[(before.basis, after.basis)] += 1
        old_findings = {(f.reason, f.scope, f.item) for f in before.findings}
        new_findings = {(f.reason, f.scope, f.item) for f in after.findings}
        for f in after.findings:
            if (f.reason, f.scope, f.item) not in old_findings:
                report.introduced[(f.reason, f.clause)] += 1
                if f.scope is not None:
                    need = _need(report, event.subject_id, f.scope, f.reason, f.clause)
                    need.event_ids.append(event.event_id)
        for f in before.findings:
            if (f.reason, f.scope, f.item) not in new_findings:
                report.resolved[(f.reason, f.clause)] += 1
    updates = new.document.updates
    if not updates.continued_use_is_acceptance:
        scope = updates.acceptance_scope.replace("{version}", new.version)
        for subject in sorted(active):
            state = states.get(subject)
            ledger = state.ledger(scope) if state is not None else None
            if ledger is None or not ledger.values[-1]:
                _need(report, subject, scope, ACCEPTANCE_REQUIRED, updates.clause)
    return report
