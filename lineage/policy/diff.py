"""What changed between two policy versions, section by section, in the policy's own terms.

Each section of the file is reduced to ``key -> fields`` (a category's
clause, sources and sensitivity; an exception's recipients, purposes and
conditions; a scope's default), so that a change reads as "consent scope
channel:newsletter: default opt-out -> opt-in" rather than as a text diff.
Quotes and notes are left out: they explain rules, they are not rules. The
clause texts are compared on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from jejak.lineage.policy.compiled import Policy

ChangeKind = Literal["added", "removed", "changed"]

_PROSE = {"quote", "note", "why"}


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: in ``section``, the entry ``key`` was added, removed or changed."""

    section: str
    key: str
    change: ChangeKind
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "key": self.key,
            "change": self.change,
            "before": self.before,
            "after": self.after,
        }

    def summary(self) -> str:
        """``default: opt-out -> opt-in`` for a change; the fields for an addition or removal."""
        if self.change == "changed" and self.before is not None and self.after is not None:
            return "; ".join(
                f"{k}: {_show(self.before.get(k))} -> {_show(self.after.get(k))}"
                for k in self.after
            )
        data = self.after if self.change == "added" else self.before
        return "; ".join(f"{k}: {_show(val)}" for k, val in (data or {}).items())


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    old_version: str
    new_version: str
    changes: list[Change] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "changes": [c.to_dict() for c in self.changes],
        }

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0}
        for c in self.changes:
            out[c.change] += 1
        return out


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + "; ".join(_show(x) for x in value) + "]"
    return str(value)


def _plain(value: Any) -> Any:
    """Without prose (quotes, notes, reasons why) and without empty fields, at every depth."""
    if isinstance(value, dict):
        return {
            k: _plain(v) for k, v in value.items() if k not in _PROSE and v not in (None, [], {})
        }
    if isinstance(value, list):
        return [_plain(x) for x in value]
    return value


def _dump(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = _plain(model.model_dump(mode="json"))
    return data


def _keyed(entries: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Entries by key; a repeated key (two exceptions under one clause) gets ``#2``, ``#3``."""
    out: dict[str, dict[str, Any]] = {}
    for key, data in entries:
        name, n = key, 1
        while name in out:
            n += 1
            name = f"{key} #{n}"
        out[name] = data
    return out


def _sections(policy: Policy) -> dict[str, dict[str, dict[str, Any]]]:
    doc = policy.document
    return {
        "policy": {
            "version": {"version": doc.version},
            "effective_from": {"effective_from": doc.effective_from.isoformat()},
            "title": {"title": doc.title},
        },
        "sources": {
            s.name: _plain({"clause": s.clause, "partner_kinds": [p.name for p in s.partner_kinds]})
            for s in doc.sources
        },
        "categories": {
            name: _plain(
                {
                    "clause": info.clause,
                    "see_also": list(info.see_also),
                    "sources": sorted(info.sources),
                    "partner_kinds": sorted(info.partner_kinds),
                    "sensitive": info.sensitive,
                }
            )
            for name, info in policy.categories.items()
        },
        "sensitive disclosure limits": _keyed(
            [
                (", ".join(lim.categories), _dump(lim))
                for lim in doc.sensitive_categories.disclosure_limits
            ]
        ),
        "purposes": {p.name: _dump(p) for p in doc.purposes},
        "recipient kinds": {r.name: _dump(r) for r in doc.recipient_kinds},
        "disclosure (general rule)": {"C": _dump(doc.disclosure)},
        "disclosure exceptions": _keyed([(e.clause, _dump(e)) for e in doc.disclosure_exceptions]),
        "consent scopes": {s.scope: _dump(s) for s in doc.consent_scopes},
        "device permissions": _keyed([(d.permission, _dump(d)) for d in doc.device_permissions]),
        "consent requirements": _keyed(
            [(f"{r.clause} {r.requires}", _dump(r)) for r in doc.consent_requirements]
        ),
        "stop processing": {"E.5/F": _dump(doc.stop_processing)},
        "retention": {
            "after_account_closure": {
                "days": doc.retention.after_account_closure.days,
                "clause": doc.retention.clause,
            }
        },
        "subject request deadlines": {d.request: _dump(d) for d in doc.subject_requests},
        "updates": {"G": _dump(doc.updates)},
        "clauses": {
            cid: {"text": " ".join(t.text.split()), "gloss": t.gloss}
            for cid, t in doc.clauses.items()
        },
    }


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """Every rule added, removed or changed from ``old`` to ``new``, section by section."""
    changes: list[Change] = []
    before_all, after_all = _sections(old), _sections(new)
    for section, before in before_all.items():
        after = after_all[section]
        for key, data in before.items():
            if key not in after:
                changes.append(Change(section, key, "removed", before=data))
            elif after[key] != data:
                fields = [k for k in {**data, **after[key]} if data.get(k) != after[key].get(k)]
                changes.append(
                    Change(
                        section,
                        key,
                        "changed",
                        before={k: data.get(k) for k in fields},
                        after={k: after[key].get(k) for k in fields},
                    )
                )
        for key, data in after.items():
            if key not in before:
                changes.append(Change(section, key, "added", after=data))
    return PolicyDiff(old.version, new.version, changes)
