"""``jejak policy``: show, validate, evaluate, explain, diff and replay privacy policies.

A thin adapter: reading JSON lines and printing tables happen here, every
decision is made by the library functions it calls. Tables for people by
default, ``--json`` for machines; ``evaluate`` always prints one JSON verdict
per line (its output is the fixture format).

Malformed input lines never stop a run: each gets one error line on stderr
(line number, field, problem) and no verdict, the rest is evaluated, and the
exit status is 1 so that a script notices (0 when every line was an event).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.table import Table

from jejak.errors import InvalidEvent, PolicyFileError, PolicyNotFound
from jejak.lineage.policy.compiled import Policy, PolicySet
from jejak.lineage.policy.diff import diff_policies
from jejak.lineage.policy.evaluator import Evaluator
from jejak.lineage.policy.explain import explain
from jejak.lineage.policy.loader import check_policy_path, load_policies, load_policy_or_latest
from jejak.lineage.policy.outline import clause_detail, outline
from jejak.lineage.policy.replay import ReplayReport, replay
from jejak.lineage.policy.verdict import Verdict
from jejak.schemas.models import Event, event_from_json

_POLICY_HELP = "policy file or folder of versions [default: the shipped Smarty Indonesia policy]"


def _policy_option(func: Any) -> Any:
    return click.option(
        "--policy",
        "policy_path",
        type=click.Path(exists=True, path_type=Path),
        default=None,
        envvar="JEJAK_POLICY__PATH",
        show_envvar=True,
        help=_POLICY_HELP,
    )(func)


def _console() -> Console:
    # no markup: policy texts and values such as "[user]" must print as they are
    return Console(highlight=False, soft_wrap=False, markup=False)


def _table(*columns: str, title: str | None = None) -> Table:
    """A table whose cells wrap (never cut with an ellipsis): names must stay whole."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


class _Input:
    """JSON lines in, events out; malformed lines reported on stderr and counted."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.bad = 0

    def __iter__(self) -> Iterator[Event]:
        for number, line in enumerate(self.stream, start=1):
            if not line.strip():
                continue
            try:
                yield event_from_json(line)
            except InvalidEvent as exc:
                self.bad += 1
                click.echo(f"line {number}: {exc.field}: {exc.problem}", err=True)

    def exit(self) -> None:
        if self.bad:
            click.echo(f"{self.bad} line(s) could not be evaluated", err=True)
            click.get_current_context().exit(1)


def _set(policy_path: Path | None) -> PolicySet:
    try:
        return load_policies(policy_path)
    except PolicyFileError as exc:
        raise click.ClickException(f"{exc.path}: {exc.where}: {exc.problem}") from exc


def _one(path: Path) -> Policy:
    try:
        return load_policy_or_latest(path)
    except PolicyFileError as exc:
        raise click.ClickException(f"{exc.path}: {exc.where}: {exc.problem}") from exc


@click.group("policy")
def policy() -> None:
    """Show, validate, evaluate, explain, diff and replay privacy policies."""


@policy.command("show")
@_policy_option
@click.option("--version", "version", default=None, help="a version id [default: the latest]")
@click.option("--clause", default=None, help="show one clause (e.g. C.2) with its text")
@click.option("--json", "as_json", is_flag=True, help="JSON for machines")
def show(policy_path: Path | None, version: str | None, clause: str | None, as_json: bool) -> None:
    """The rules of a policy version: clause, what, conditions."""
    policies = _set(policy_path)
    try:
        chosen = policies.get(version) if version else policies.latest
    except PolicyNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    if clause is not None:
        detail = clause_detail(chosen, clause)
        if detail is None:
            raise click.ClickException(
                f"policy {chosen.version} has no clause {clause!r}; "
                f"it has {', '.join(sorted(chosen.clauses))}"
            )
        if as_json:
            _json(detail)
            return
        console = _console()
        console.print(f"{clause} — {chosen.name} {chosen.version}", style="bold")
        console.print(f"«{detail['text']}»")
        console.print(detail["gloss"], style="italic")
        if detail["rules"]:
            _rows_table(console, detail["rules"], title="Rules citing it")
        if detail["see_also_from"]:
            console.print(f"see also from: {', '.join(detail['see_also_from'])}")
        return
    rows = [r.to_dict() for r in outline(chosen)]
    if as_json:
        _json(
            {
                "policy": chosen.name,
                "version": chosen.version,
                "effective_from": chosen.effective_from.isoformat(),
                "versions": [
                    {"version": p.version, "effective_from": p.effective_from.isoformat()}
                    for p in policies
                ],
                "rules": rows,
            }
        )
        return
    console = _console()
    console.print(
        f"{chosen.document.title} — {chosen.name} version {chosen.version}, "
        f"in force from {chosen.effective_from.isoformat()}",
        style="bold",
    )
    if len(policies) > 1:
        console.print(
            "versions: " + ", ".join(f"{p.version} ({p.effective_from.date()})" for p in policies)
        )
    _rows_table(console, rows)


def _rows_table(console: Console, rows: list[dict[str, str]], title: str | None = None) -> None:
    table = _table("section", "clause", "what", "conditions", title=title)
    for r in rows:
        table.add_row(r["section"], r["clause"], r["what"], r["conditions"])
    console.print(table)


@policy.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
def validate(path: Path) -> None:
    """Check a policy file (or a folder of versions); every problem with its place, exit 1 if any."""
    problems = check_policy_path(path)
    if not problems:
        policies = load_policies(path)
        versions = ", ".join(f"{p.version} (from {p.effective_from.isoformat()})" for p in policies)
        click.echo(f"ok: {path}: policy {policies.name}, version(s) {versions}")
        return
    for problem in problems:
        click.echo(f"{problem.path}: {problem.where}: {problem.problem}", err=True)
    click.echo(f"{len(problems)} problem(s) found", err=True)
    click.get_current_context().exit(1)


@policy.command("evaluate")
@click.argument("events", type=click.File("r", encoding="utf-8"))
@_policy_option
def evaluate_command(events: IO[str], policy_path: Path | None) -> None:
    """Judge JSON-lines events in order ('-' for stdin): one JSON verdict per line.

    A malformed line gets an error line on stderr instead (line number and
    field) and the rest is still evaluated; the exit status is then 1.
    """
    evaluator = Evaluator(_set(policy_path))
    source = _Input(events)
    for event in source:
        click.echo(json.dumps(evaluator.evaluate(event).to_dict(), ensure_ascii=False))
    source.exit()


@policy.command("explain")
@click.argument("events", type=click.File("r", encoding="utf-8"), required=False)
@click.option("--event", "event_json", default=None, help="one event as JSON instead of a file")
@click.option("--violations-only", is_flag=True, help="explain only the violations")
@_policy_option
def explain_command(
    events: IO[str] | None, event_json: str | None, violations_only: bool, policy_path: Path | None
) -> None:
    """The verdicts of JSON-lines events in plain words, quoting the clauses."""
    if (events is None) == (event_json is None):
        raise click.UsageError("give a FILE of JSON lines ('-' for stdin) or --event JSON")
    policies = _set(policy_path)
    evaluator = Evaluator(policies)
    if event_json is not None:
        try:
            single = event_from_json(event_json)
        except InvalidEvent as exc:
            raise click.ClickException(f"--event: {exc.field}: {exc.problem}") from exc
        click.echo(explain(evaluator.evaluate(single), policies, single))
        return
    source = _Input(events if events is not None else sys.stdin)
    first = True
    for event in source:
        verdict = evaluator.evaluate(event)
        if violations_only and not verdict.is_violation:
            continue
        if not first:
            click.echo("")
        first = False
        click.echo(explain(verdict, policies, event))
    source.exit()


@policy.command("diff")
@click.argument("old", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="JSON for machines")
def diff_command(old: Path, new: Path, as_json: bool) -> None:
    """What changed from OLD to NEW (files, or folders: their latest versions)."""
    result = diff_policies(_one(old), _one(new))
    if as_json:
        _json(result.to_dict())
        return
    console = _console()
    counts = result.counts()
    console.print(
        f"{result.old_version} -> {result.new_version}: {counts['added']} added, "
        f"{counts['removed']} removed, {counts['changed']} changed",
        style="bold",
    )
    if not result.changes:
        console.print("no differences")
        return
    table = _table("section", "entry", "change", "details")
    for c in result.changes:
        table.add_row(c.section, c.key, c.change, c.summary())
    console.print(table)


@policy.command("replay")
@click.argument("events", type=click.File("r", encoding="utf-8"))
@click.option(
    "--policy",
    "new_path",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="the new version: a file, or a folder (its latest version)",
)
@click.option(
    "--old",
    "old_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    envvar="JEJAK_POLICY__PATH",
    show_envvar=True,
    help="the versions the events were judged by [default: the shipped policy]",
)
@click.option("--limit", default=50, show_default=True, help="changed events listed in the table")
@click.option("--json", "as_json", is_flag=True, help="JSON for machines")
def replay_command(
    events: IO[str], new_path: Path, old_path: Path | None, limit: int, as_json: bool
) -> None:
    """Which past events the new version would judge differently, and who must consent again."""
    new = _one(new_path)
    source = _Input(events)
    report = replay(source, _set(old_path), new)
    if as_json:
        _json(report.to_dict())
    else:
        _replay_tables(report, limit)
    source.exit()


def _replay_tables(report: ReplayReport, limit: int) -> None:
    console = _console()
    console.print(
        f"Replay under {report.new_version} (was: {', '.join(report.old_versions)}): "
        f"{report.events} events read, {report.judged} judged, {len(report.changes)} would change",
        style="bold",
    )
    if not report.changes:
        console.print("no verdict would change")
        return
    table = _table("change", "events", title="Verdict changes")
    for transition, n in report.transitions.most_common():
        table.add_row(transition, str(n))
    console.print(table)
    table = _table("effect", "reason", "clause", "events", title="By reason and clause")
    for (reason, clause), n in report.introduced.most_common():
        table.add_row("new", reason, clause or "", str(n))
    for (reason, clause), n in report.resolved.most_common():
        table.add_row("gone", reason, clause or "", str(n))
    for (was, now), n in report.basis_changes.most_common():
        table.add_row("basis", f"{was or '-'} -> {now or '-'}", "", str(n))
    console.print(table)
    if report.needs:
        table = _table(
            "subject",
            "consent needed",
            "why",
            "clauses",
            "events",
            title=f"Subjects who would need to consent ({len(report.subjects)})",
        )
        for need in sorted(report.needs.values(), key=lambda n: (n.subject_id, n.scope)):
            table.add_row(
                need.subject_id,
                need.scope,
                ", ".join(need.reasons),
                ", ".join(need.clauses),
                str(len(need.event_ids)),
            )
        console.print(table)
    table = _table(
        "event",
        "subject",
        "kind",
        "occurred",
        "before",
        "after",
        title=f"Changed events (first {min(limit, len(report.changes))} of {len(report.changes)})",
    )
    for change in report.changes[:limit]:
        old, new = change.old, change.new
        table.add_row(
            new.event_id,
            new.subject_id,
            new.kind,
            new.occurred_at.strftime("%Y-%m-%d %H:%M"),
            _brief(old),
            _brief(new),
        )
    console.print(table)


def _brief(verdict: Verdict) -> str:
    if verdict.decision == "allowed":
        return f"allowed ({verdict.basis})"
    return f"{verdict.decision}: {', '.join(verdict.reasons)}"
