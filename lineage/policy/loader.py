"""Reading policy files: YAML in, :class:`Policy` out, or errors a compliance officer can fix.

Every problem is a :class:`~jejak.errors.PolicyFileError` with the file, the
place inside it (``disclosure_exceptions[3].recipient_kinds[0]``) and the
problem in plain words. :func:`check_policy_file` collects *all* problems of a
file (for ``jejak policy validate``); :func:`load_policy` raises the first.
Beyond the shape of each field, the cross-references are checked: every cited
clause is in the ``clauses:`` table, every recipient kind or scope an exception
names is declared, every pattern matches something, nothing is declared twice.
"""

from __future__ import annotations

import difflib
import logging
import typing
from collections.abc import Iterable, Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from jejak.errors import PolicyFileError
from jejak.lineage.policy.compiled import Policy, PolicySet
from jejak.lineage.policy.model import PolicyDocument, placeholders
from jejak.lineage.policy.taxonomy import overlaps
from jejak.schemas.models import Source, Transfer

log = logging.getLogger(__name__)

SHIPPED_POLICY: Final = "smarty-indonesia"
"""The policy jejak ships, in ``jejak.lineage/policies/<name>/``, one file per version."""

_SUFFIXES: Final = (".yaml", ".yml")
_TRANSFERS: Final = frozenset(get_args(Transfer))
_EVENT_SOURCES: Final = frozenset(get_args(Source))


# -- YAML ----------------------------------------------------------------------------------------


_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """A safe loader (libyaml's when installed) that refuses duplicate keys.

    PyYAML silently keeps the last of two equal keys; in a policy file that
    would drop a clause or a rule without a word.
    """


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"{key!r} appears twice in the same section; keep one",
                key_node.start_mark,
            )
        seen[key] = key_node
    mapping: dict[Any, Any] = loader.construct_mapping(node)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)

_YAML_HINTS: Final = {
    "mapping values are not allowed": (
        "a text contains ': ' (colon and space); put the whole text in double quotes"
    ),
    "cannot start any token": (
        "a tab, or a text starting with a character such as @ or `; indent with spaces and "
        "put such texts in double quotes"
    ),
    "expected <block end>": "the indentation is uneven; line entries up with spaces",
    "did not find expected key": "the indentation is uneven; line entries up with spaces",
}


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        problem = exc.problem or "not valid YAML"
        hint = next((h for k, h in _YAML_HINTS.items() if k in problem), None)
        raise PolicyFileError(
            path, where, f"the file is not valid YAML: {problem}" + (f" ({hint})" if hint else "")
        ) from exc
    except yaml.YAMLError as exc:
        raise PolicyFileError(path, "file", f"the file is not valid YAML: {exc}") from exc


# -- pydantic errors in plain words --------------------------------------------------------------


def where(loc: Iterable[int | str]) -> str:
    """``('disclosure_exceptions', 3, 'recipient_kinds', 0)`` -> ``disclosure_exceptions[3].recipient_kinds[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (the key itself)"
        elif "." in part or ":" in part or " " in part:
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "file"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that the location ``loc`` points into (for did-you-mean hints)."""
    model: type[BaseModel] = PolicyDocument
    for part in loc:
        if isinstance(part, int) or part not in model.model_fields:
            continue
        annotation: Any = model.model_fields[part].annotation
        found: type[BaseModel] | None = None
        stack = [annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                found = t
                break
            stack.extend(typing.get_args(t))
        if found is None:
            return None
        model = found
    return model


def _plain_problem(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    loc = err["loc"]
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        model = _model_at(tuple(loc[:-1]))
        known = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = f" (known fields here: {', '.join(known)})" if known and not close else ""
        return f"is not a field this policy format knows{hint}{listing}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind in ("string_type", "string_sub_type"):
        return "must be a text"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "must be a list, such as [a, b] or one '- item' per line"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a section of 'field: value' lines"
    if kind == "literal_error":
        return f"must be one of: {ctx.get('expected', '')}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind.startswith("datetime") or kind.startswith("timezone"):
        return "must be a date and time with a time zone, such as 2026-01-01T00:00:00+07:00"
    return str(err["msg"])


# -- cross-references ----------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, at: str, problem: str) -> None:
        self.items.append((at, problem))


def _matches(pattern: str, names: Iterable[str]) -> bool:
    """Whether a pattern names at least one of ``names`` (or a family of them)."""
    return any(overlaps(n, pattern) for n in names)


def _cross_check(doc: PolicyDocument) -> list[tuple[str, str]]:
    """Every reference inside the file points at something the file declares."""
    out = _Problems()
    clauses = set(doc.clauses)

    def clause(at: str, cid: str) -> None:
        if cid not in clauses:
            out.add(
                at,
                f"cites clause {cid!r}, which is not in the clauses table; add it there with its text",
            )

    def unique(at: str, name: str, seen: dict[str, str], what: str) -> None:
        if name in seen:
            out.add(at, f"{what} {name!r} is declared twice (also at {seen[name]})")
        else:
            seen[name] = at

    # sources and partner kinds
    sources: dict[str, str] = {}
    partner_kinds: dict[str, str] = {}
    for i, s in enumerate(doc.sources):
        unique(f"sources[{i}].name", s.name, sources, "source")
        clause(f"sources[{i}].clause", s.clause)
        if s.name not in _EVENT_SOURCES:
            out.add(
                f"sources[{i}].name",
                f"events cannot carry the source {s.name!r}; they use {', '.join(sorted(_EVENT_SOURCES))}",
            )
        for j, pk in enumerate(s.partner_kinds):
            unique(f"sources[{i}].partner_kinds[{j}].name", pk.name, partner_kinds, "partner kind")
            clause(f"sources[{i}].partner_kinds[{j}].clause", pk.clause)
    with_partners = {s.name for s in doc.sources if s.partner_kinds}

    # categories
    categories: dict[str, str] = {}
    for i, g in enumerate(doc.categories):
        at = f"categories[{i}]"
        clause(f"{at}.clause", g.clause)
        for j, c in enumerate(g.see_also):
            clause(f"{at}.see_also[{j}]", c)
        for j, n in enumerate(g.names):
            unique(f"{at}.names[{j}]", n, categories, "category")
        for j, src in enumerate(g.sources):
            if src not in sources:
                out.add(f"{at}.sources[{j}]", f"source {src!r} is not declared under sources")
        for j, partner in enumerate(g.partner_kinds):
            if partner not in partner_kinds:
                out.add(
                    f"{at}.partner_kinds[{j}]",
                    f"partner kind {partner!r} is not declared under sources",
                )
        if with_partners & set(g.sources) and not g.partner_kinds:
            out.add(
                f"{at}.partner_kinds",
                f"data from {', '.join(sorted(with_partners & set(g.sources)))} must say which partner "
                "kinds it may come from",
            )
        if g.partner_kinds and not with_partners & set(g.sources):
            out.add(
                f"{at}.partner_kinds", "partner kinds only make sense for a source with partners"
            )

    def category_patterns(at: str, patterns: Iterable[str]) -> None:
        for j, p in enumerate(patterns):
            if not _matches(p, categories):
                out.add(f"{at}[{j}]", f"{p!r} matches no declared category")

    purposes: dict[str, str] = {}
    for i, p in enumerate(doc.purposes):
        unique(f"purposes[{i}].name", p.name, purposes, "purpose")
        clause(f"purposes[{i}].clause", p.clause)
        for j, c in enumerate(p.see_also):
            clause(f"purposes[{i}].see_also[{j}]", c)

    def purpose_patterns(at: str, patterns: Iterable[str]) -> None:
        for j, p in enumerate(patterns):
            if not _matches(p, purposes):
                out.add(f"{at}[{j}]", f"{p!r} matches no declared purpose")

    kinds: dict[str, str] = {}
    for i, r in enumerate(doc.recipient_kinds):
        unique(f"recipient_kinds[{i}].name", r.name, kinds, "recipient kind")
        clause(f"recipient_kinds[{i}].clause", r.clause)

    def recipient_kinds(at: str, names: Iterable[str]) -> None:
        for j, k in enumerate(names):
            if k not in kinds:
                out.add(f"{at}[{j}]", f"recipient kind {k!r} is not declared under recipient_kinds")

    # consent scopes
    scopes: dict[str, str] = {}
    for i, decl in enumerate(doc.consent_scopes):
        unique(f"consent_scopes[{i}].scope", decl.scope, scopes, "consent scope")
        clause(f"consent_scopes[{i}].clause", decl.clause)

    def scope_declared(at: str, template: str, allowed: set[str]) -> None:
        extra = [p for p in placeholders(template) if p not in allowed]
        if extra:
            known = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
            out.add(at, f"{{{extra[0]}}} cannot be filled in here (possible here: {known})")
            return
        concrete = template.split("{", 1)[0]
        if "{" in template:
            kind = concrete.split(":", 1)[0] + ":"
            ok = kind + "*" in scopes or any(s.startswith(kind) for s in scopes)
        else:
            kind = concrete.split(":", 1)[0] + ":*"
            ok = concrete in scopes or kind in scopes
        if not ok:
            out.add(at, f"consent scope {template!r} is not declared under consent_scopes")

    for i, decl in enumerate(doc.consent_scopes):
        for j, child in enumerate(decl.withdrawal_covers):
            if child not in scopes:
                out.add(f"consent_scopes[{i}].withdrawal_covers[{j}]", f"{child!r} is not declared")
            if child == decl.scope:
                out.add(
                    f"consent_scopes[{i}].withdrawal_covers[{j}]", "a scope cannot cover itself"
                )

    # sensitive data
    sens = doc.sensitive_categories
    category_patterns("sensitive_categories.names", sens.names)
    for i, lim in enumerate(sens.disclosure_limits):
        at = f"sensitive_categories.disclosure_limits[{i}]"
        clause(f"{at}.clause", lim.clause)
        category_patterns(f"{at}.categories", lim.categories)
        recipient_kinds(f"{at}.only_to", lim.only_to)

    # disclosure
    clause("disclosure.clause", doc.disclosure.clause)
    scope_declared("disclosure.with_permission", doc.disclosure.with_permission, {"recipient"})
    for j, t in enumerate(doc.disclosure.permission_only_transfers):
        if t not in _TRANSFERS:
            out.add(
                f"disclosure.permission_only_transfers[{j}]",
                f"events know the transfers {', '.join(sorted(_TRANSFERS))}, not {t!r}",
            )
    for i, e in enumerate(doc.disclosure_exceptions):
        at = f"disclosure_exceptions[{i}]"
        clause(f"{at}.clause", e.clause)
        recipient_kinds(f"{at}.recipient_kinds", e.recipient_kinds)
        purpose_patterns(f"{at}.purposes", e.purposes)
        category_patterns(f"{at}.categories_allowed", e.categories_allowed or [])
        category_patterns(f"{at}.categories_forbidden", e.categories_forbidden)
        for j, cond in enumerate(e.requires_consent):
            scope_declared(f"{at}.requires_consent[{j}].scope", cond.scope, {"recipient"})
            purpose_patterns(f"{at}.requires_consent[{j}].when_purposes", cond.when_purposes)

    for i, d in enumerate(doc.device_permissions):
        clause(f"device_permissions[{i}].clause", d.clause)
        category_patterns(f"device_permissions[{i}].categories", d.categories)
        scope_declared(f"device_permissions[{i}].permission", d.permission, set())

    for i, req in enumerate(doc.consent_requirements):
        at = f"consent_requirements[{i}]"
        clause(f"{at}.clause", req.clause)
        purpose_patterns(f"{at}.purposes", req.purposes)
        category_patterns(f"{at}.categories", req.categories)
        allowed = {"channel"} if req.applies_to == ["use"] else set()
        scope_declared(f"{at}.requires", req.requires, allowed)
        if "collection" in req.applies_to and req.purposes:
            out.add(
                f"{at}.purposes",
                "a collection has no purpose, so this rule would never apply to one",
            )

    sp = doc.stop_processing
    clause("stop_processing.withdrawal_clause", sp.withdrawal_clause)
    clause("stop_processing.account_closed_clause", sp.account_closed_clause)
    scope_declared("stop_processing.withdrawal_scope", sp.withdrawal_scope, set())
    purpose_patterns("stop_processing.still_allowed_purposes", sp.still_allowed_purposes)
    clause("retention.clause", doc.retention.clause)
    requests: dict[str, str] = {}
    for i, deadline in enumerate(doc.subject_requests):
        unique(f"subject_requests[{i}].request", deadline.request, requests, "request kind")
    clause("updates.clause", doc.updates.clause)
    scope_declared("updates.acceptance_scope", doc.updates.acceptance_scope, {"version"})

    # plain-language labels: each names something declared above
    families = {c.split(".")[0] for c in categories}
    label_targets: dict[str, set[str]] = {
        "categories": set(categories) | families,
        "purposes": set(purposes),
        "recipient_kinds": set(kinds),
        "sources": set(sources),
        "partner_kinds": set(partner_kinds),
        "consent_scopes": set(scopes),
    }
    for section, known in label_targets.items():
        for name in getattr(doc.labels, section):
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                out.add(
                    f"labels.{section}[{name}]",
                    f"{name!r} is not declared in this file, so it needs no label{hint}",
                )
    return out.items


# -- files ---------------------------------------------------------------------------------------


def _document_problems(
    data: Any, path: Path
) -> tuple[PolicyDocument | None, list[PolicyFileError]]:
    if not isinstance(data, dict):
        return None, [
            PolicyFileError(path, "file", "a policy file must be a set of 'field: value' lines")
        ]
    try:
        doc = PolicyDocument.model_validate(data)
    except ValidationError as exc:
        return None, [
            PolicyFileError(path, where(err["loc"]), _plain_problem(err)) for err in exc.errors()
        ]
    return doc, [PolicyFileError(path, at, problem) for at, problem in _cross_check(doc)]


def _read(
    source: Path | Traversable, label: Path
) -> tuple[PolicyDocument | None, list[PolicyFileError]]:
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [PolicyFileError(label, "file", f"cannot be read: {exc}")]
    try:
        data = _parse_yaml(text, label)
    except PolicyFileError as exc:
        return None, [exc]
    return _document_problems(data, label)


def check_policy_file(path: Path) -> list[PolicyFileError]:
    """Every problem of one policy file (empty when it is valid)."""
    return _read(path, path)[1]


def load_policy(path: Path | str) -> Policy:
    """One policy version from its YAML file; the first problem is raised as PolicyFileError."""
    path = Path(path)
    doc, problems = _read(path, path)
    if problems or doc is None:
        raise problems[0]
    return Policy(doc, path)


def _entries(folder: Path | Traversable) -> list[Path | Traversable]:
    return sorted(
        (e for e in folder.iterdir() if e.is_file() and e.name.endswith(_SUFFIXES)),
        key=lambda e: e.name,
    )


def _set_problems(policies: list[Policy]) -> list[PolicyFileError]:
    """Versions of one folder must be one policy, with distinct versions and dates."""
    problems: list[PolicyFileError] = []
    by_version: dict[str, Policy] = {}
    by_date: dict[Any, Policy] = {}
    for p in policies:
        label = p.path or Path(p.version)
        if p.name != policies[0].name:
            problems.append(
                PolicyFileError(
                    label,
                    "policy",
                    f"is {p.name!r} but {policies[0].path} is {policies[0].name!r}; "
                    "a folder holds the versions of one policy",
                )
            )
        if p.version in by_version:
            problems.append(
                PolicyFileError(
                    label,
                    "version",
                    f"{p.version!r} is also the version of {by_version[p.version].path}",
                )
            )
        by_version.setdefault(p.version, p)
        if p.effective_from in by_date:
            problems.append(
                PolicyFileError(
                    label,
                    "effective_from",
                    f"{p.effective_from.isoformat()} is also when {by_date[p.effective_from].path} "
                    "takes effect; two versions cannot start at the same moment",
                )
            )
        by_date.setdefault(p.effective_from, p)
    return problems


def _load_all(
    entries: Iterable[tuple[Path | Traversable, Path]],
) -> tuple[list[Policy], list[PolicyFileError]]:
    policies: list[Policy] = []
    problems: list[PolicyFileError] = []
    for source, label in entries:
        doc, found = _read(source, label)
        problems.extend(found)
        if doc is not None and not found:
            policies.append(Policy(doc, label))
    if policies and not problems:
        problems.extend(_set_problems(policies))
    return policies, problems


def _folder_entries(folder: Path) -> Iterator[tuple[Path | Traversable, Path]]:
    for entry in _entries(folder):
        yield entry, folder / entry.name


def check_policy_path(path: Path | str) -> list[PolicyFileError]:
    """Every problem of a policy file, or of every version in a folder (``jejak policy validate``)."""
    path = Path(path)
    if path.is_dir():
        entries = list(_folder_entries(path))
        if not entries:
            return [PolicyFileError(path, "folder", "contains no policy files (*.yaml)")]
        return _load_all(entries)[1]
    if not path.exists():
        return [PolicyFileError(path, "file", "does not exist")]
    return check_policy_file(path)


def _shipped_folder() -> Path | Traversable:
    return resources.files("jejak.lineage") / "policies" / SHIPPED_POLICY


def load_policies(path: Path | str | None = None) -> PolicySet:
    """Every version of a policy: a folder of YAML files, a single file, or (None) the shipped one.

    ``None`` is the Smarty Indonesia policy that ships inside the package
    (``jejak.lineage/policies/smarty-indonesia``), found through
    ``importlib.resources`` so it works from a wheel as well as a checkout.
    """
    if path is None:
        folder = _shipped_folder()
        label = Path(str(folder))
        policies, problems = _load_all((e, label / e.name) for e in _entries(folder))
        if not policies and not problems:
            problems = [PolicyFileError(label, "folder", "contains no policy files (*.yaml)")]
    else:
        path = Path(path)
        if path.is_dir():
            entries = list(_folder_entries(path))
            if not entries:
                raise PolicyFileError(path, "folder", "contains no policy files (*.yaml)")
            policies, problems = _load_all(entries)
        elif path.exists():
            policies, problems = [load_policy(path)], []
        else:
            raise PolicyFileError(path, "file", "does not exist")
    if problems:
        raise problems[0]
    log.debug("loaded policy %s versions %s", policies[0].name, [p.version for p in policies])
    return PolicySet(policies)


def load_policy_or_latest(path: Path | str | None) -> Policy:
    """A file's version, or a folder's (or the shipped policy's) latest version."""
    if path is not None and Path(path).is_file():
        return load_policy(path)
    return load_policies(path).latest
