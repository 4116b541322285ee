"""``jejak emit`` and ``jejak simulate``: thin command-line adapters over the SDK and the simulator.

Settings come from ``JEJAK_*`` variables (``jejak settings`` lists them);
options override them for one run.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

import click

from jejak.cli_options import output_path
from jejak.errors import InvalidEvent, JejakError
from jejak.producers.emitter import Emitter
from jejak.producers.sender import DeliveryStats
from jejak.producers.simulate import (
    DEFAULT_START,
    InjectedViolation,
    iter_simulation,
)
from jejak.producers.transports import FileTransportConfig, transport_kinds
from jejak.schemas.models import Event, TimeWindow, event_from_json, event_to_json
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
    click.option(
        "--out",
        "out",
        type=click.Path(path_type=Path),
        callback=output_path,
        help="file for --transport file",
    ),
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
@click.argument("file", type=click.File("rb"))
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
    file: IO[bytes],
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

    Each line is one event in the JSON form, in UTF-8. Subject ids are
    pseudonymised with JEJAK_SDK__PSEUDONYMIZATION_KEY (ids already in the ps1_
    form pass unchanged); with --already-pseudonymous none is hashed and each
    must be a pseudonym. occurred_at is RFC 3339 with a zone
    (2026-05-01T08:00:00Z), not before JEJAK_EVENTS__EARLIEST and not more than
    JEJAK_EVENTS__MAX_FUTURE_S ahead. An invalid line (not UTF-8, not JSON, a
    field that breaks the contract) is reported on stderr with its line number
    and field, never the value, and the other lines are still sent. Exits
    non-zero if any line was invalid or any event was not delivered (spooled
    events are sent by the next run on the same spool). On a terminal, a
    progress bar shows how much of FILE is read.
    """
    if pseudonymize:
        click.echo("--pseudonymize is deprecated and does nothing: it is the default", err=True)
        if already_pseudonymous:
            raise click.UsageError("--pseudonymize and --already-pseudonymous contradict")
    # None: raw ids are HMACed, ps1_ ids pass; False: ps1_ ids only (NotPseudonymous otherwise)
    mode: bool | None = False if already_pseudonymous else None
    settings = _settings(bootstrap, topic, service or "jejak-emit")
    window = TimeWindow.from_settings(settings.events)
    name = getattr(file, "name", "-")
    if name == "<stdin>":
        name = "-"
    invalid = 0
    try:
        emitter = _emitter(settings, transport, out)
    except JejakError as exc:
        raise click.ClickException(str(exc)) from exc
    with emitter, _progress("emitting", _size(file), _terminal(), unit="bytes") as advance:
        for number, raw in enumerate(file, start=1):
            advance(len(raw))
            try:
                event = _event_of_line(raw, number)
                if event is None:
                    continue
                window.check(event, datetime.now(UTC))
                emitter.emit(event, pseudonymize=mode)
            except InvalidEvent as exc:  # NotPseudonymous too; the text never holds the value
                invalid += 1
                click.echo(f"{name}:{number}: {exc.field}: {exc.problem}", err=True)
        delivered = emitter.close(timeout)
    stats = emitter.stats()
    click.echo(_summary(stats, invalid), err=True)
    if invalid or not delivered:
        ctx.exit(1)


def _event_of_line(raw: bytes, number: int) -> Event | None:
    """The event on one line of bytes, None for a blank line; :class:`InvalidEvent` if bad.

    Decoded line by line, so one byte that is not UTF-8 costs only its own line
    (a byte order mark on the first line is allowed).
    """
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(
            "event", f"not UTF-8 text (a bad byte at byte {exc.start + 1} of the line)"
        ) from exc
    if not text.strip():
        return None
    return event_from_json(text)


def _size(file: IO[bytes]) -> int | None:
    """The size of a regular file (for a progress bar), None for a pipe or a terminal."""
    try:
        info = os.fstat(file.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if info.st_size and not file.isatty() else None


def _terminal(events_to_stdout: bool = False) -> Any:
    """The console to draw progress bars on: stderr when it is a terminal, else None.

    None as well when the events themselves go to stdout on the same terminal:
    the bar would be drawn into them.
    """
    if not _isatty(sys.stderr) or (events_to_stdout and _isatty(sys.stdout)):
        return None
    from rich.console import Console

    return Console(stderr=True)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextmanager
def _progress(
    label: str, total: int | None, console: Any, *, unit: str = "events"
) -> Iterator[Callable[[int], None]]:
    """``advance(n)`` for a rich progress bar on ``console``; a no-op without one.

    Advances are added up and handed to rich at most every 1/200 of the total
    (or every 1,000 units without one): rich takes a lock per update, too much
    per event at 100,000 events a second.
    """
    if console is None:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [TextColumn(label), BarColumn()]
    if total:
        columns += [TaskProgressColumn(), TimeRemainingColumn()]
    else:
        columns += [TextColumn(f"{{task.completed:,.0f}} {unit}"), TimeElapsedColumn()]
    step = max(1, total // 200) if total else 1000
    pending = 0

    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)

        def advance(n: int) -> None:
            nonlocal pending
            pending += n
            if pending >= step:
                progress.advance(task, pending)
                pending = 0

        yield advance
        progress.advance(task, pending)


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
    callback=output_path,
    help="write JSON lines here ('-' for stdout, the default without --emit)",
)
@click.option(
    "--emit", "send", is_flag=True, help="send the events through the SDK (Kafka by default)"
)
@click.option(
    "--violations",
    "violations_file",
    type=click.Path(path_type=Path),
    callback=output_path,
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
    events = iter_simulation(
        users=users,
        days=days,
        seed=seed,
        start=start,
        violation_rate=violation_rate,
        violations=violations,
    )
    if send:
        settings = _settings(bootstrap, topic, None)
        _warn_outside_window(settings, start, days)
        # with --transport file, --out is where the file transport writes
        via_file = (transport or settings.sdk.transport) == "file"
        copy = None if via_file else out_file
        delivered, stats = _emit_with_progress(
            settings, transport, events, timeout, out_file if via_file else None, copy
        )
        click.echo(_summary(stats), err=True)
    else:
        target = out_file or Path("-")
        with _progress("simulating", None, _terminal(str(target) == "-")) as advance:
            count = _write_events(target, events, advance)
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


def _warn_outside_window(settings: Settings, start: date, days: int) -> None:
    """Simulated days outside JEJAK_EVENTS__* are sent, but the consumer will refuse them."""
    window = TimeWindow.from_settings(settings.events)
    first = datetime.combine(start, time(), UTC) - timedelta(days=1)  # history and zones
    last = datetime.combine(start + timedelta(days=days), time(), UTC)
    now = datetime.now(UTC)
    if window.problem(first, now) is not None or window.problem(last, now) is not None:
        click.echo(
            f"warning: the simulated period ({start.isoformat()}, {days} day(s)) reaches "
            "outside the occurred_at window of JEJAK_EVENTS__EARLIEST and "
            "JEJAK_EVENTS__MAX_FUTURE_S; the consumer dead-letters such events as invalid",
            err=True,
        )


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


def _write_events(
    path: Path, events: Iterable[Event], advance: Callable[[int], None] = lambda n: None
) -> int:
    count = 0
    handle = sys.stdout if str(path) == "-" else path.open("w", encoding="utf-8")
    try:
        for event in events:
            handle.write(event_to_json(event))
            handle.write("\n")
            count += 1
            advance(1)
    finally:
        if handle is not sys.stdout:
            handle.close()
        else:
            handle.flush()
    return count


def _emit_with_progress(
    settings: Settings,
    transport: str | None,
    events: Iterable[Event],
    timeout: float,
    out: Path | None,
    copy: Path | None,
) -> tuple[bool, DeliveryStats]:
    """Emit the events as they are generated (one day in memory at a time), also
    writing them to ``copy`` if given; a progress bar on a terminal."""
    try:
        emitter = _emitter(settings, transport, out)
    except JejakError as exc:
        raise click.ClickException(str(exc)) from exc
    started = datetime.now(UTC)
    count = 0
    handle = (
        None
        if copy is None
        else sys.stdout
        if str(copy) == "-"
        else copy.open("w", encoding="utf-8")
    )
    try:
        events_to_stdout = copy is not None and str(copy) == "-"
        with emitter, _progress("emitting", None, _terminal(events_to_stdout)) as advance:
            emit = emitter.emit
            for event in events:
                emit(event, pseudonymize=False)
                if handle is not None:
                    handle.write(event_to_json(event) + "\n")
                count += 1
                advance(1)
            delivered = emitter.close(timeout)
    finally:
        if handle is not None and handle is not sys.stdout:
            handle.close()
    elapsed = (datetime.now(UTC) - started).total_seconds()
    click.echo(f"emitted {count} event(s) in {elapsed:.1f} s", err=True)
    return delivered, emitter.stats()
