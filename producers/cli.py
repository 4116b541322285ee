"""``jejak emit`` and ``jejak simulate``: thin command-line adapters over the SDK and the simulator.

Settings come from ``JEJAK_*`` variables (``jejak settings`` lists them);
options override them for one run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import click

from jejak.errors import InvalidEvent, JejakError
from jejak.producers.emitter import Emitter
from jejak.producers.sender import DeliveryStats
from jejak.producers.simulate import (
    DEFAULT_START,
    InjectedViolation,
    iter_simulation,
)
from jejak.producers.simulate import (
    simulate as run_simulation,
)
from jejak.producers.transports import FileTransportConfig, transport_kinds
from jejak.schemas.models import Event, event_from_json, event_to_json
from jejak.settings import Settings


def _settings(bootstrap: str | None, topic: str | None, service: str | None) -> Settings:
    settings = Settings.from_env()
    kafka = settings.kafka
    if bootstrap:
        kafka = kafka.model_copy(update={"bootstrap_servers": bootstrap})
    if topic:
        kafka = kafka.model_copy(update={"topic": topic})
    sdk = settings.sdk
    if service:
        sdk = sdk.model_copy(update={"service": service})
    return settings.model_copy(update={"kafka": kafka, "sdk": sdk})


def _emitter(settings: Settings, transport: str | None, out: Path | None) -> Emitter:
    kind = transport or settings.sdk.transport
    if kind == "file":
        if out is None:
            raise click.UsageError("--transport file needs --out FILE")
        return Emitter.from_settings(settings, transport=FileTransportConfig(path=out))
    return Emitter.from_settings(settings, transport=kind)


def _summary(stats: DeliveryStats, invalid: int | None = None) -> str:
    text = (
        f"sent {stats.accepted} (delivered {stats.delivered}, spooled {stats.spooled}, "
        f"failed {stats.failed}, waiting in spool {stats.spool_backlog})"
    )
    if invalid is not None:
        text += f", invalid {invalid}"
    return text


_common_options = [
    click.option("--bootstrap", help="Kafka bootstrap servers [JEJAK_KAFKA__BOOTSTRAP_SERVERS]"),
    click.option("--topic", help="topic to write to [JEJAK_KAFKA__TOPIC]"),
    click.option(
        "--transport",
        type=click.Choice(transport_kinds()),
        help="where events go [JEJAK_SDK__TRANSPORT, default kafka]",
    ),
    click.option("--out", "out", type=click.Path(path_type=Path), help="file for --transport file"),
    click.option(
        "--service", help="producer service stamped on events without one [JEJAK_SDK__SERVICE]"
    ),
    click.option(
        "--timeout",
        type=float,
        default=30.0,
        show_default=True,
        help="seconds to wait for delivery at the end",
    ),
]


def _with_common(func: Any) -> Any:
    for option in reversed(_common_options):
        func = option(func)
    return func


@click.command("emit")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@_with_common
@click.option(
    "--already-pseudonymous",
    is_flag=True,
    help="the subject ids are pseudonyms already (ps1_...): send them unhashed, "
    "and report and skip a line whose id is not one",
)
@click.option(
    "--pseudonymize",
    is_flag=True,
    hidden=True,
    help="deprecated: pseudonymising is the default now",
)
@click.pass_context
def emit(
    ctx: click.Context,
    file: IO[str],
    bootstrap: str | None,
    topic: str | None,
    transport: str | None,
    out: Path | None,
    service: str | None,
    timeout: float,
    already_pseudonymous: bool,
    pseudonymize: bool,
) -> None:
    """Send the JSON-lines events of FILE ("-" for stdin) through the SDK.

    Each line is one event in the JSON form. Subject ids are pseudonymised
    with JEJAK_SDK__PSEUDONYMIZATION_KEY (ids already in the ps1_ form pass
    unchanged); with --already-pseudonymous none is hashed and each must be a
    pseudonym. Invalid lines are reported on stderr with their line number and
    field, never the value, and the valid ones are still sent. Exits non-zero
    if any line was invalid or any event was not delivered (spooled events are
    sent by the next run on the same spool).
    """
    if pseudonymize:
        click.echo("--pseudonymize is deprecated and does nothing: it is the default", err=True)
        if already_pseudonymous:
            raise click.UsageError("--pseudonymize and --already-pseudonymous contradict")
    # None: raw ids are HMACed, ps1_ ids pass; False: ps1_ ids only (NotPseudonymous otherwise)
    mode: bool | None = False if already_pseudonymous else None
    settings = _settings(bootstrap, topic, service or "jejak-emit")
    name = getattr(file, "name", "-")
    invalid = 0
    try:
        emitter = _emitter(settings, transport, out)
    except JejakError as exc:
        raise click.ClickException(str(exc)) from exc
    with emitter:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                emitter.emit(event_from_json(line), pseudonymize=mode)
            except InvalidEvent as exc:  # NotPseudonymous too; the text never holds the value
                invalid += 1
                click.echo(f"{name}:{number}: {exc.field}: {exc.problem}", err=True)
        delivered = emitter.close(timeout)
    stats = emitter.stats()
    click.echo(_summary(stats, invalid), err=True)
    if invalid or not delivered:
        ctx.exit(1)


def _parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> date:
    if value is None:
        return DEFAULT_START
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2026-03-02") from exc


@click.command("simulate")
@click.option("--users", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="same seed, same traffic")
@click.option(
    "--start",
    callback=_parse_date,
    help=f"first day (Jakarta time) [default {DEFAULT_START.isoformat()}]",
)
@click.option(
    "--violation-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.02,
    show_default=True,
    help="share of data events that come with an injected violation",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, allow_dash=True),
    help="write JSON lines here ('-' for stdout, the default without --emit)",
)
@click.option(
    "--emit", "send", is_flag=True, help="send the events through the SDK (Kafka by default)"
)
@click.option(
    "--violations",
    "violations_file",
    type=click.Path(path_type=Path),
    help="also write the list of injected violations (JSON lines)",
)
@click.option("--bootstrap", help="Kafka bootstrap servers [JEJAK_KAFKA__BOOTSTRAP_SERVERS]")
@click.option("--topic", help="topic to write to [JEJAK_KAFKA__TOPIC]")
@click.option(
    "--transport", type=click.Choice(transport_kinds()), help="with --emit [default kafka]"
)
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="with --emit: delivery wait"
)
@click.pass_context
def simulate(
    ctx: click.Context,
    users: int,
    days: int,
    seed: int,
    start: date,
    violation_rate: float,
    out_file: Path | None,
    send: bool,
    violations_file: Path | None,
    bootstrap: str | None,
    topic: str | None,
    transport: str | None,
    timeout: float,
) -> None:
    """Generate realistic Smarty Indonesia marketplace traffic, deterministic for a seed.

    Sign-ups, logins, browsing, orders, payments and deliveries, reviews,
    support chats, newsletters and opt-outs, cookie and device choices,
    partner integrations, credit checks, legal requests, closures and
    deletions, with a share of injected violations, each tagged
    trace_id="sim-violation:<reason>:<scenario>".
    """
    violations: list[InjectedViolation] = []
    if send:
        settings = _settings(bootstrap, topic, None)
        simulation = run_simulation(
            users=users, days=days, seed=seed, start=start, violation_rate=violation_rate
        )
        violations = simulation.violations
        # with --transport file, --out is where the file transport writes
        via_file = (transport or settings.sdk.transport) == "file"
        delivered, stats = _emit_with_progress(
            settings, transport, simulation.events, timeout, out_file if via_file else None
        )
        click.echo(_summary(stats), err=True)
        if out_file is not None and not via_file:
            _write_events(out_file, simulation.events)
    else:
        count = _write_events(
            out_file or Path("-"),
            iter_simulation(
                users=users,
                days=days,
                seed=seed,
                start=start,
                violation_rate=violation_rate,
                violations=violations,
            ),
        )
        delivered = True
        click.echo(f"simulated {count} event(s)", err=True)
    click.echo(
        f"{users} user(s), {days} day(s) from {start.isoformat()}, seed {seed}: "
        f"{len(violations)} injected violation(s)",
        err=True,
    )
    if violations_file is not None:
        with violations_file.open("w", encoding="utf-8") as handle:
            for violation in violations:
                handle.write(json.dumps(_violation_dict(violation)) + "\n")
    if not delivered:
        ctx.exit(1)


def _violation_dict(violation: InjectedViolation) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": violation.event_id,
        "subject_id": violation.subject_id,
        "reason": violation.reason,
        "scenario": violation.scenario,
        "occurred_at": violation.occurred_at.isoformat(),
    }
    if violation.category is not None:
        data["category"] = violation.category
    return data


def _write_events(path: Path, events: Iterable[Event]) -> int:
    count = 0
    handle = sys.stdout if str(path) == "-" else path.open("w", encoding="utf-8")
    try:
        for event in events:
            handle.write(event_to_json(event))
            handle.write("\n")
            count += 1
    finally:
        if handle is not sys.stdout:
            handle.close()
        else:
            handle.flush()
    return count


def _emit_with_progress(
    settings: Settings, transport: str | None, events: list[Event], timeout: float, out: Path | None
) -> tuple[bool, DeliveryStats]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    try:
        emitter = _emitter(settings, transport, out)
    except JejakError as exc:
        raise click.ClickException(str(exc)) from exc
    started = datetime.now().astimezone()
    with (
        emitter,
        Progress(
            TextColumn("emitting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=_stderr_console(),
        ) as progress,
    ):
        task = progress.add_task("emit", total=len(events))
        emit = emitter.emit
        step = max(1, len(events) // 200)
        for index, event in enumerate(events, start=1):
            emit(event, pseudonymize=False)
            if index % step == 0:
                progress.update(task, completed=index)
        progress.update(task, completed=len(events))
        delivered = emitter.close(timeout)
    elapsed = (datetime.now().astimezone() - started).total_seconds()
    click.echo(f"emitted {len(events)} event(s) in {elapsed:.1f} s", err=True)
    return delivered, emitter.stats()


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)
