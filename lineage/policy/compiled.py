"""A validated policy file turned into lookup tables, and the set of versions in force.

Everything the engine asks per event is answered here from dicts and sets
built once per version: which clause declares a category (with family
matching, memoised), a scope's default, which scopes cover which. The engine
itself caches a *plan* per event shape on the :class:`VersionView` of the
version in force, so that nothing is recomputed for the thousandth event that
looks like the first.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from jejak.errors import PolicyNotFound
from jejak.lineage.policy.model import (
    ClauseText,
    ConsentScopeDecl,
    DisclosureException,
    PolicyDocument,
    PurposeDecl,
    RecipientKindDecl,
    RequestDeadline,
    clause_key,
)
from jejak.lineage.policy.state import SubjectState
from jejak.lineage.policy.taxonomy import lineage, overlaps_any, within_any
from jejak.lineage.policy.verdict import ACCOUNT_CLOSED, CONSENT_WITHDRAWN, Finding

_MEMO_LIMIT: Final = 10_000
"""Bound on memoised look-ups of names seen in events (names come from producers)."""

BEGINNING: Final = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """What the policy says about one category name (or family) as events use it."""

    name: str
    """The declared category that answers for it (itself, its declared ancestor, or the family)."""
    clause: str
    see_also: tuple[str, ...]
    sources: frozenset[str]
    partner_kinds: frozenset[str]
    sensitive: bool
    family: bool = False
    """True when the event named a whole family (``payment``) rather than one category."""


class Policy:
    """One version of a policy, ready for the engine: the document plus its lookup tables."""

    def __init__(self, document: PolicyDocument, path: Path | None = None) -> None:
        self.document = document
        self.path = path
        self.name: str = document.policy
        self.version: str = document.version
        self.effective_from: datetime = document.effective_from
        self.clauses: Mapping[str, ClauseText] = document.clauses

        sensitive = document.sensitive_categories.names
        self.categories: dict[str, CategoryInfo] = {}
        for group in document.categories:
            for name in group.names:
                self.categories[name] = CategoryInfo(
                    name=name,
                    clause=group.clause,
                    see_also=tuple(group.see_also),
                    sources=frozenset(group.sources),
                    partner_kinds=frozenset(group.partner_kinds),
                    sensitive=within_any(name, sensitive),
                )
        self.sources: dict[str, frozenset[str]] = {
            s.name: frozenset(p.name for p in s.partner_kinds) for s in document.sources
        }
        self.purposes: dict[str, PurposeDecl] = {p.name: p for p in document.purposes}
        self.recipient_kinds: dict[str, RecipientKindDecl] = {
            r.name: r for r in document.recipient_kinds
        }
        # "the first in clause order if several do" (policy-semantics §4)
        self.exceptions: tuple[DisclosureException, ...] = tuple(
            sorted(document.disclosure_exceptions, key=lambda e: clause_key(e.clause))
        )
        self.scopes: dict[str, ConsentScopeDecl] = {}
        self.scope_families: dict[str, ConsentScopeDecl] = {}
        covered_by: dict[str, list[str]] = {}
        for decl in document.consent_scopes:
            if decl.scope.endswith(":*"):
                self.scope_families[decl.scope[:-1]] = decl
            else:
                self.scopes[decl.scope] = decl
            for child in decl.withdrawal_covers:
                covered_by.setdefault(child, []).append(decl.scope)
        self.covered_by: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in covered_by.items()}
        self.retention_after_closure: timedelta = document.retention.after_account_closure
        self.request_deadlines: dict[str, RequestDeadline] = {
            d.request: d for d in document.subject_requests
        }
        stop = document.stop_processing
        self.stop_scope: str = stop.withdrawal_scope
        # the findings of rule 1 are the same every time: built once
        self.withdrawn_finding = Finding(
            CONSENT_WITHDRAWN, stop.withdrawal_clause, stop.withdrawal_scope
        )
        self.closed_finding = Finding(ACCOUNT_CLOSED, stop.account_closed_clause)
        # sections named by the clauses of their first entries: "A" for categories, "B" for purposes
        self.category_section: str = clause_key(document.categories[0].clause)[0]
        self.purpose_section: str = clause_key(document.purposes[0].clause)[0]
        self._category_memo: dict[str, CategoryInfo | None] = {}
        self._defaults: dict[str, bool] = {}
        self._alone: PolicySet | None = None
        self.stop_by_default: bool = not self.default_granted(self.stop_scope)
        """Whether processing stops for a subject who never said anything (an opt-in E.5 scope)."""

    def __repr__(self) -> str:
        return f"Policy({self.name!r}, version={self.version!r}, effective_from={self.effective_from.isoformat()})"

    # -- vocabulary -------------------------------------------------------------------------

    def category(self, name: str) -> CategoryInfo | None:
        """The declaration that covers ``name``: exact, a declared family above it, or a family.

        ``account.email.primary`` is covered by ``account.email``; ``payment``
        (the whole family) by its members, with the first member's clause.
        """
        memo = self._category_memo
        if name in memo:
            return memo[name]
        info = self._resolve_category(name)
        if len(memo) < _MEMO_LIMIT:
            memo[name] = info
        return info

    def _resolve_category(self, name: str) -> CategoryInfo | None:
        for candidate in lineage(name):
            info = self.categories.get(candidate)
            if info is not None:
                return info
        members = [c for n, c in self.categories.items() if n.startswith(name + ".")]
        if not members:
            return None
        return CategoryInfo(
            name=name,
            clause=members[0].clause,
            see_also=members[0].see_also,
            sources=frozenset().union(*(m.sources for m in members)),
            partner_kinds=frozenset().union(*(m.partner_kinds for m in members)),
            sensitive=any(m.sensitive for m in members),
            family=True,
        )

    def purpose(self, name: str) -> PurposeDecl | None:
        """The declared purpose ``name`` is (or is a narrower form of)."""
        for candidate in lineage(name):
            decl = self.purposes.get(candidate)
            if decl is not None:
                return decl
        return None

    def recipient_kind(self, name: str) -> RecipientKindDecl | None:
        for candidate in lineage(name):
            decl = self.recipient_kinds.get(candidate)
            if decl is not None:
                return decl
        return None

    def is_sensitive(self, category: str) -> bool:
        info = self.category(category)
        if info is not None:
            return info.sensitive
        return overlaps_any(category, self.document.sensitive_categories.names)

    def clause_text(self, clause: str | None) -> ClauseText | None:
        return None if clause is None else self.clauses.get(clause)

    # -- consent ----------------------------------------------------------------------------

    def scope_decl(self, scope: str) -> ConsentScopeDecl | None:
        """The declaration of ``scope``: exact, else its kind's family (``recipient:*``)."""
        decl = self.scopes.get(scope)
        if decl is None:
            colon = scope.find(":")
            if colon >= 0:
                decl = self.scope_families.get(scope[: colon + 1])
        return decl

    def default_granted(self, scope: str) -> bool:
        """Whether ``scope`` counts as granted before the subject says anything.

        Opt-out scopes are granted, opt-in scopes are not; a scope the policy
        does not declare is treated as opt-in (nothing is assumed).
        """
        value = self._defaults.get(scope)
        if value is None:
            decl = self.scope_decl(scope)
            value = decl is not None and decl.default == "opt-out"
            if len(self._defaults) < _MEMO_LIMIT:
                self._defaults[scope] = value
        return value

    def granted(self, state: SubjectState | None, scope: str, at: datetime) -> bool:
        """Whether ``scope`` is in effect for the subject at ``at``.

        The subject's last action at or before ``at`` wins, else the default;
        and a scope covered by another (``cookies:ad_personalization`` by
        ``cookies:all``) is off while the covering one is withdrawn.
        """
        value: bool | None = None
        if state is not None:
            ledger = state.ledgers.get(scope)
            if ledger is not None:
                times = ledger.times
                # the common case first: the consent was given before the event
                value = ledger.values[-1] if at >= times[-1] else ledger.value_at(at)
        if value is None:
            value = self._defaults.get(scope)
            if value is None:
                value = self.default_granted(scope)
        if value and scope in self.covered_by:
            for parent in self.covered_by[scope]:
                if not self.granted(state, parent, at):
                    return False
        return value

    def retention_deadline(self, closed_at: datetime) -> datetime:
        """F: when data of an account closed at ``closed_at`` must be deleted at the latest."""
        return closed_at + self.retention_after_closure


class VersionView:
    """One version as it stands within a :class:`PolicySet`: its time span and what comes later.

    ``plans`` is the engine's cache of per-event-shape work (see
    :mod:`jejak.lineage.policy.engine`); it lives here because it depends
    on the later versions too (``policy_not_in_force``).
    """

    __slots__ = ("end", "later", "plans", "policy", "start")

    def __init__(
        self, policy: Policy, start: datetime, end: datetime | None, later: tuple[Policy, ...]
    ) -> None:
        self.policy = policy
        self.start = start
        self.end = end
        self.later = later
        self.plans: dict[tuple[Any, ...], Any] = {}

    def later_category(self, name: str) -> Policy | None:
        """The first later version that declares category ``name``, if any."""
        return next((p for p in self.later if p.category(name) is not None), None)

    def later_purpose(self, name: str) -> Policy | None:
        return next((p for p in self.later if p.purpose(name) is not None), None)

    def later_recipient_kind(self, name: str) -> Policy | None:
        return next((p for p in self.later if p.recipient_kind(name) is not None), None)


class PolicySet:
    """The versions of one policy, each in force from its effective date until the next (G).

    ``PolicySet.pinned(policy)`` is a set whose one version is in force at
    every time: what-if questions ("judge last year's events by the draft")
    use it.
    """

    def __init__(self, policies: Iterable[Policy], *, pinned: bool = False) -> None:
        versions = tuple(sorted(policies, key=lambda p: p.effective_from))
        if not versions:
            raise PolicyNotFound("no policy version was given")
        seen: set[str] = set()
        for p in versions:
            if p.version in seen:
                raise ValueError(f"policy version {p.version!r} appears twice")
            seen.add(p.version)
        if pinned and len(versions) != 1:
            raise ValueError("only a single version can be pinned")
        self.versions: tuple[Policy, ...] = versions
        self.pinned_version: bool = pinned
        # in UTC, like event times: datetimes with the same tzinfo compare fastest
        self._starts = [BEGINNING if pinned else p.effective_from.astimezone(UTC) for p in versions]
        self._views = tuple(
            VersionView(
                p,
                self._starts[i],
                self._starts[i + 1] if i + 1 < len(versions) else None,
                versions[i + 1 :],
            )
            for i, p in enumerate(versions)
        )
        self.last_view: VersionView = self._views[-1]
        """The version most recently asked for: events come in time order, mostly."""

    @classmethod
    def pinned(cls, policy: Policy) -> PolicySet:
        return cls([policy], pinned=True)

    @classmethod
    def of(cls, policies: PolicySet | Policy) -> PolicySet:
        """``policies`` as a set; a lone :class:`Policy` is in force from its effective date."""
        if isinstance(policies, PolicySet):
            return policies
        if policies._alone is None:
            policies._alone = cls([policies])
        return policies._alone

    @property
    def name(self) -> str:
        return self.versions[0].name

    @property
    def latest(self) -> Policy:
        """The version with the latest effective date (possibly not yet in force)."""
        return self.versions[-1]

    @property
    def earliest(self) -> Policy:
        return self.versions[0]

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.versions)

    def __len__(self) -> int:
        return len(self.versions)

    def __repr__(self) -> str:
        return f"PolicySet({self.name!r}, versions={[p.version for p in self.versions]!r})"

    def get(self, version: str) -> Policy:
        """The version called ``version``; :class:`PolicyNotFound` if there is none."""
        for p in self.versions:
            if p.version == version:
                return p
        known = ", ".join(p.version for p in self.versions)
        raise PolicyNotFound(f"policy {self.name} has no version {version!r} (known: {known})")

    def in_force(self, at: datetime) -> Policy:
        """The version in force at ``at``; :class:`PolicyNotFound` before the first one."""
        view = self.view_at(at)
        if view is None:
            raise PolicyNotFound(
                f"no version of policy {self.name} is in force at {at.isoformat()}: the first, "
                f"{self.earliest.version}, takes effect at {self.earliest.effective_from.isoformat()}"
            )
        return view.policy

    def view_at(self, at: datetime) -> VersionView | None:
        """The version in force at ``at`` with its span and later versions (engine use)."""
        view = self.last_view
        if view.start <= at and (view.end is None or at < view.end):
            return view
        i = bisect_right(self._starts, at)
        if i == 0:
            return None
        view = self._views[i - 1]
        self.last_view = view
        return view
