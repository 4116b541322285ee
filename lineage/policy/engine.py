"""The policy engine: ``evaluate(event, state, policies) -> Verdict``, pure and fast.

The rules are policy-semantics §3, applied in its order; every constant they
need (which clause declares a category, which exceptions a recipient kind can
use, which consent scopes a use depends on) comes from the policy file, never
from code that knows Smarty's clause ids.

Speed comes from splitting the work in two. Everything that depends only on
the *shape* of an event (its kind, categories, purpose, source, channel,
recipient kind, transfer) and on the policy version is computed once into a
:class:`_Plan` and cached on the version's :class:`VersionView`. Per event,
only what depends on the subject's consent as of ``occurred_at`` remains: a
handful of ledger look-ups, then one tuple for the verdict.

Reasons accumulate: every rule that fails contributes a finding, in rule
order, so the first reason is the primary one and the others are still on
record. One exception: when a disclosure claims a legal-request exception
(C.8) without the reference, ``legal_request_missing`` *is* why it is not
covered, and ``disclosure_without_consent`` is not added on top.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from jejak.lineage.policy import verdict as v
from jejak.lineage.policy.compiled import Policy, PolicySet, VersionView
from jejak.lineage.policy.state import SubjectState
from jejak.lineage.policy.taxonomy import ANY, family, overlaps_any, within, within_any
from jejak.lineage.policy.verdict import Finding, Verdict
from jejak.schemas.models import Collection, Disclosure, Event, Use

_PLAN_LIMIT: Final = 50_000
"""Distinct event shapes cached per version before the cache starts over."""

_RECIPIENT: Final = "{recipient}"
_NO_FINDINGS: tuple[Finding, ...] = ()
_NO_REASONS: tuple[str, ...] = ()
_new_verdict = tuple.__new__

# a consent check of a collection or use: (scope, reason, clause, item)
_Check = tuple[str, str, str, str | None]
# a consent scope, or a template split around {recipient}: (prefix, suffix or None)
_Scope = tuple[str, str | None]
# a disclosure exception that matches the event's shape: (clause, consent scopes it needs)
_Candidate = tuple[str, tuple[_Scope, ...]]


class _Plan:
    """What a version decides about one event shape before looking at consent."""

    __slots__ = (
        "basis",
        "candidates",
        "checks",
        "coverage",
        "exempt",
        "general",
        "general_clause",
        "sale",
        "stateless",
        "static",
    )

    def __init__(self) -> None:
        self.exempt = False  # purpose still allowed after E.5 withdrawal / F closure
        self.static: tuple[Finding, ...] = ()  # findings that do not depend on consent
        self.checks: tuple[_Check, ...] = ()
        self.basis: str | None = None
        self.coverage = False  # a disclosure whose coverage (C.1-C.8 / C) must be worked out
        self.sale = False  # a transfer only the subject's permission allows
        self.candidates: tuple[_Candidate, ...] = ()
        self.general: _Scope | None = None  # the permission scope (recipient:{recipient})
        self.general_clause: str | None = None
        # the findings for a subject with no consent history, once worked out
        self.stateless: tuple[Finding, ...] | None = None


# -- building plans (once per event shape and version) -------------------------------------------


def _vocabulary(
    view: VersionView, categories: tuple[str, ...], purpose: str | None, kind: str | None
) -> list[Finding]:
    """Rules 2 and 3: undeclared purposes and categories, and those only declared later (G)."""
    policy = view.policy
    g = policy.document.updates.clause
    found: list[Finding] = []
    later: list[Finding] = []
    if purpose is not None and policy.purpose(purpose) is None:
        nxt = view.later_purpose(purpose)
        if nxt is None:
            found.append(Finding(v.UNDECLARED_PURPOSE, policy.purpose_section, None, purpose))
        else:
            later.append(
                Finding(v.POLICY_NOT_IN_FORCE, g, None, f"purpose {purpose} ({nxt.version})")
            )
    for name in categories:
        if policy.category(name) is None:
            nxt = view.later_category(name)
            if nxt is None:
                found.append(Finding(v.UNDECLARED_CATEGORY, policy.category_section, None, name))
            else:
                later.append(
                    Finding(v.POLICY_NOT_IN_FORCE, g, None, f"category {name} ({nxt.version})")
                )
    if kind is not None and policy.recipient_kind(kind) is None:
        nxt = view.later_recipient_kind(kind)
        if nxt is not None:
            later.append(
                Finding(v.POLICY_NOT_IN_FORCE, g, None, f"recipient kind {kind} ({nxt.version})")
            )
    return found + later


def _purpose_matches(policy: Policy, purpose: str, patterns: list[str]) -> bool:
    """``*`` is any *declared* purpose; otherwise hierarchical matching."""
    for p in patterns:
        if family(p) == ANY:
            if policy.purpose(purpose) is not None:
                return True
        elif within(purpose, p):
            return True
    return False


def _exempt(policy: Policy, purpose: str | None) -> bool:
    allowed = policy.document.stop_processing.still_allowed_purposes
    return purpose is not None and within_any(purpose, allowed)


def _requirement_checks(
    policy: Policy,
    kind: str,
    categories: tuple[str, ...],
    purpose: str | None,
    public: bool | None,
    channel: str | None,
) -> list[_Check]:
    checks: list[_Check] = []
    for req in policy.document.consent_requirements:
        if kind not in req.applies_to:
            continue
        if req.purposes and (
            purpose is None or not _purpose_matches(policy, purpose, req.purposes)
        ):
            continue
        hit = next((c for c in categories if overlaps_any(c, req.categories)), None)
        if req.categories and hit is None:
            continue
        if req.public is not None and bool(public) != req.public:
            continue
        scope = req.requires
        if "{channel}" in scope:
            if channel is None:
                continue  # no channel, no subscription to respect
            scope = scope.replace("{channel}", channel)
        checks.append((scope, req.otherwise, req.clause, hit or purpose))
    return checks


def _plan_collection(view: VersionView, event: Collection, categories: tuple[str, ...]) -> _Plan:
    policy = view.policy
    plan = _Plan()
    static = _vocabulary(view, categories, None, None)
    section = policy.category_section
    partners_of_source = policy.sources.get(event.source)
    for name in categories:
        info = policy.category(name)
        if info is None:
            continue
        if partners_of_source is None or event.source not in info.sources:
            static.append(
                Finding(v.UNDECLARED_SOURCE, section, None, f"{name} from {event.source}")
            )
        elif (
            partners_of_source
            and info.partner_kinds
            and event.source_partner not in info.partner_kinds
        ):
            partner = event.source_partner or "an unnamed partner"
            static.append(
                Finding(
                    v.UNDECLARED_SOURCE, section, None, f"{name} from {event.source} ({partner})"
                )
            )
    checks: list[_Check] = []
    for perm in policy.document.device_permissions:
        for name in categories:
            if overlaps_any(name, perm.categories):
                checks.append((perm.permission, v.PERMISSION_MISSING, perm.clause, name))
                break
    checks += _requirement_checks(policy, "collection", categories, None, None, None)
    plan.static = tuple(static)
    plan.checks = _unique(checks)
    first = policy.category(categories[0])
    plan.basis = first.clause if first is not None else None
    return plan


def _plan_use(view: VersionView, event: Use, categories: tuple[str, ...]) -> _Plan:
    policy = view.policy
    plan = _Plan()
    plan.exempt = _exempt(policy, event.purpose)
    plan.static = tuple(_vocabulary(view, categories, event.purpose, None))
    plan.checks = _unique(
        _requirement_checks(policy, "use", categories, event.purpose, event.public, event.channel)
    )
    decl = policy.purpose(event.purpose)
    plan.basis = decl.clause if decl is not None else None
    return plan


def _plan_disclosure(view: VersionView, event: Disclosure, categories: tuple[str, ...]) -> _Plan:
    policy = view.policy
    doc = policy.document
    purpose, kind = event.purpose, event.recipient.kind
    has_ref = event.legal_request_ref is not None
    plan = _Plan()
    plan.exempt = _exempt(policy, purpose)
    static = _vocabulary(view, categories, purpose, kind)
    # sensitive categories that may only go to some recipient kinds
    for limit in doc.sensitive_categories.disclosure_limits:
        if not within_any(kind, limit.only_to):
            for name in categories:
                if overlaps_any(name, limit.categories):
                    static.append(
                        Finding(v.SENSITIVE_CATEGORY_NOT_ALLOWED, limit.clause, None, name)
                    )
    # an exception that needs a legal request, claimed without one
    plan.coverage = True
    if not has_ref:
        for exc in policy.exceptions:
            if (
                exc.legal_request_required
                and within_any(kind, exc.recipient_kinds)
                and _purpose_matches(policy, purpose, exc.purposes)
            ):
                # C.8 then does not cover it; the sale rule, the other exceptions
                # and consent are still checked, in the contract's order
                static.append(Finding(v.LEGAL_REQUEST_MISSING, exc.clause, None, kind))
                break
    plan.static = tuple(static)
    plan.general = _split(doc.disclosure.with_permission)
    plan.general_clause = doc.disclosure.clause
    plan.sale = event.transfer in doc.disclosure.permission_only_transfers
    candidates: list[_Candidate] = []
    for exc in policy.exceptions:
        if not within_any(kind, exc.recipient_kinds):
            continue
        if not _purpose_matches(policy, purpose, exc.purposes):
            continue
        if exc.categories_allowed is not None and not all(
            within_any(c, exc.categories_allowed) for c in categories
        ):
            continue
        if any(overlaps_any(c, exc.categories_forbidden) for c in categories):
            continue
        if exc.legal_request_required and not has_ref:
            continue
        scopes = tuple(
            _split(cond.scope)
            for cond in exc.requires_consent
            if not cond.when_purposes or _purpose_matches(policy, purpose, cond.when_purposes)
        )
        candidates.append((exc.clause, scopes))
        if not scopes:
            break  # covered whatever the consent: later exceptions cannot be the basis
    plan.candidates = tuple(candidates)
    return plan


def _split(template: str) -> _Scope:
    """``recipient:{recipient}`` -> ``("recipient:", "")``; a plain scope -> ``(scope, None)``."""
    if _RECIPIENT not in template:
        return template, None
    prefix, _, suffix = template.partition(_RECIPIENT)
    return prefix, suffix


def _unique(checks: list[_Check]) -> tuple[_Check, ...]:
    seen: set[tuple[str, str]] = set()
    out: list[_Check] = []
    for check in checks:
        key = (check[0], check[1])
        if key not in seen:
            seen.add(key)
            out.append(check)
    return tuple(out)


def _build(view: VersionView, event: Collection | Use | Disclosure, key: tuple[Any, ...]) -> _Plan:
    categories: tuple[str, ...] = key[1]
    if event.kind == "collection":
        plan = _plan_collection(view, event, categories)
    elif event.kind == "use":
        plan = _plan_use(view, event, categories)
    else:
        plan = _plan_disclosure(view, event, categories)
    plans = view.plans
    if len(plans) >= _PLAN_LIMIT:
        plans.clear()
    plans[key] = plan
    return plan


# -- evaluating ----------------------------------------------------------------------------------


def evaluate(event: Event, state: SubjectState | None, policies: PolicySet | Policy) -> Verdict:
    """Judge one event against the policy version in force at its ``occurred_at``.

    ``state`` is the subject's consent state (``None`` when nothing is known
    about them: every scope at its default). The function has no side
    effects: consent, acceptance and closure events are ``recorded`` here,
    and applying them to the state is the caller's job (see
    :class:`~jejak.lineage.policy.evaluator.Evaluator`).
    """
    # This is the hot path: event kinds are told apart by their tag, not by
    # isinstance (pydantic's metaclass makes isinstance checks slow), and
    # everything that does not depend on consent comes from the cached plan.
    if policies.__class__ is not PolicySet:
        policies = PolicySet.of(policies)
    at = event.occurred_at
    last = policies.last_view
    view: VersionView | None = last
    if not (last.start <= at and (last.end is None or at < last.end)):
        view = policies.view_at(at)
    if event.kind == "collection":
        key: tuple[Any, ...] = (
            "c",
            tuple(event.data_categories),
            event.source,
            event.source_partner,
        )
    elif event.kind == "use":
        key = ("u", tuple(event.data_categories), event.purpose, event.channel, event.public)
    elif event.kind == "disclosure":
        key = (
            "d",
            tuple(event.data_categories),
            event.purpose,
            event.recipient.kind,
            event.transfer,
            event.legal_request_ref is not None,
        )
    else:
        return _recorded(event, view, policies)
    if view is None:
        return _before_first(event, policies)
    plan: _Plan | None = view.plans.get(key)
    if plan is None:
        plan = _build(view, event, key)
    policy = view.policy
    basis = plan.basis
    if state is None and not plan.coverage:
        # nothing known about the subject: every scope at its default, the same at any time
        found = plan.stateless
        if found is None:
            found = plan.stateless = tuple(_consent_findings(plan, policy, None, at))
    else:
        findings = _consent_findings(plan, policy, state, at)
        if plan.coverage and event.kind == "disclosure":
            recipient = event.recipient.id
            basis = _coverage(plan, policy, state, at, recipient)
            if basis is None:
                general = plan.general
                needed = None if general is None else _scope(general, recipient)
                findings.append(
                    Finding(
                        v.DISCLOSURE_WITHOUT_CONSENT,
                        plan.general_clause,
                        needed,
                        event.recipient.kind,
                    )
                )
        found = tuple(findings) if findings else _NO_FINDINGS

    notes = (
        _notes(event, None if found else basis, policy)
        if event.basis or event.policy_version
        else ()
    )
    if not found:
        return _new_verdict(
            Verdict,
            (
                event.event_id,
                v.ALLOWED,
                basis,
                _NO_REASONS,
                policy.version,
                event.subject_id,
                event.kind,
                at,
                _NO_FINDINGS,
                notes,
            ),
        )
    if len(found) == 1:
        reasons: tuple[str, ...] = (found[0].reason,)
    else:
        reasons = tuple(dict.fromkeys(f.reason for f in found))
    return _new_verdict(
        Verdict,
        (
            event.event_id,
            v.VIOLATION,
            None,
            reasons,
            policy.version,
            event.subject_id,
            event.kind,
            at,
            found,
            notes,
        ),
    )


def _consent_findings(
    plan: _Plan, policy: Policy, state: SubjectState | None, at: datetime
) -> list[Finding]:
    """Rule 1, the plan's static findings, then its consent checks, in rule order."""
    findings: list[Finding] = []
    if state is not None and not plan.exempt:
        # after E.5 withdrawal or F closure, only the exempt purposes
        stop = policy.stop_scope
        if (stop in state.ledgers or policy.stop_by_default) and not policy.granted(
            state, stop, at
        ):
            findings.append(policy.withdrawn_finding)
        closed = state.closed_at
        if closed is not None and closed <= at:
            findings.append(policy.closed_finding)
    if plan.static:
        findings.extend(plan.static)
    for scope, reason, clause, item in plan.checks:
        if not policy.granted(state, scope, at):
            findings.append(Finding(reason, clause, scope, item))
    return findings


def _scope(template: _Scope, recipient: str) -> str:
    prefix, suffix = template
    return prefix if suffix is None else prefix + recipient + suffix


def _coverage(
    plan: _Plan, policy: Policy, state: SubjectState | None, at: datetime, recipient: str
) -> str | None:
    """The clause that covers a disclosure (C.1-C.8, or C with permission), or None."""
    general = plan.general
    if plan.sale:
        if general is not None and policy.granted(state, _scope(general, recipient), at):
            return plan.general_clause
        return None
    for clause, scopes in plan.candidates:
        for template in scopes:
            if not policy.granted(state, _scope(template, recipient), at):
                break
        else:
            return clause
    if general is not None and policy.granted(state, _scope(general, recipient), at):
        return plan.general_clause
    return None


def _notes(event: Event, basis: str | None, policy: Policy) -> tuple[str, ...]:
    """Informational remarks on what the producer claimed; they never change the decision."""
    notes: list[str] = []
    claimed = getattr(event, "basis", None)
    if claimed:
        if claimed not in policy.clauses:
            notes.append(
                f"the producer claimed basis {claimed}, which is not a clause of policy {policy.version}"
            )
        elif basis is None:
            notes.append(f"the producer claimed basis {claimed}, but the event is not allowed")
        elif claimed != basis:
            notes.append(
                f"the producer claimed basis {claimed}; the policy allows it under {basis}"
            )
    believed = event.policy_version
    if believed and believed != policy.version and event.kind != "policy_accepted":
        notes.append(f"the producer believed policy {believed} was in force; {policy.version} was")
    return tuple(notes)


def _recorded(event: Event, view: VersionView | None, policies: PolicySet) -> Verdict:
    notes: tuple[str, ...] = ()
    policy = view.policy if view is not None else None
    if policy is not None:
        if event.kind == "consent" and policy.scope_decl(event.scope) is None:
            notes = (f"consent scope {event.scope} is not declared in policy {policy.version}",)
        elif event.kind == "policy_accepted" and event.policy_version not in {
            p.version for p in policies
        }:
            notes = (f"policy version {event.policy_version} is not a known version",)
    return _new_verdict(
        Verdict,
        (
            event.event_id,
            v.RECORDED,
            None,
            _NO_REASONS,
            policy.version if policy is not None else None,
            event.subject_id,
            event.kind,
            event.occurred_at,
            _NO_FINDINGS,
            notes,
        ),
    )


def _before_first(event: Event, policies: PolicySet) -> Verdict:
    """An event from before the first version took effect: nothing allowed it yet (G)."""
    first = policies.earliest
    finding = Finding(
        v.POLICY_NOT_IN_FORCE,
        first.document.updates.clause,
        None,
        f"no policy version was in force yet (the first, {first.version}, takes effect "
        f"{first.effective_from.isoformat()})",
    )
    return Verdict(
        event.event_id,
        v.VIOLATION,
        None,
        (v.POLICY_NOT_IN_FORCE,),
        None,
        event.subject_id,
        event.kind,
        event.occurred_at,
        (finding,),
        (),
    )
