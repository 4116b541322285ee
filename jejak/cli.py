"""The ``jejak`` command line: a thin adapter over the sub-packages.

Each command group lives with the code it drives and is imported only when it
is invoked, so a service that installed only the SDK (``jejak[sdk]``) can run
``jejak emit`` without ClickHouse or chDB on the machine.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click
from pydantic import ValidationError
from pydantic_settings import SettingsError

from jejak import __version__
from jejak.cli_options import describe_validation_error
from jejak.errors import JejakError
from jejak.settings import describe

log = logging.getLogger(__name__)

# name -> "module:attribute" of a click command or group
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "schemas": ("jejak.schemas.cli:schemas", "Avro schemas: list, show, check compatibility."),
    "emit": ("jejak.producers.cli:emit", "Send JSON-lines events through the SDK."),
    "simulate": ("jejak.producers.cli:simulate", "Generate realistic marketplace traffic."),
    "policy": (
        "jejak.lineage.policy.cli:policy",
        "Show, evaluate, explain, diff and replay policies.",
    ),
    "topics": ("jejak.consumers.cli:topics", "Create the Kafka topics jejak uses."),
    "consume": ("jejak.consumers.cli:consume", "Run the lineage consumer (Kafka -> ClickHouse)."),
    "store": ("jejak.lineage.store.cli:store", "Create and inspect the lineage store."),
    "query": ("jejak.lineage.cli:query", "Ask the lineage store the compliance questions."),
    "report": (
        "jejak.lineage.cli:report",
        "Reports people can send: a subject's access report (UU PDP Pasal 32).",
    ),
    "serve": ("jejak.lineage.cli:serve", "Serve the workspace API and web page over the store."),
    "alerts": ("jejak.lineage.cli:alerts", "Triage alerts: ack, assign, resolve, reopen."),
    "requests": ("jejak.lineage.cli:requests", "Data-subject request cases and their deadlines."),
    "token": (
        "jejak.lineage.cli:token_group",
        "API tokens of the workspace: create, list, revoke.",
    ),
    "demo": ("jejak.consumers.demo:demo", "Replay a day of traffic through the whole pipeline."),
    "verify": (
        "jejak.lineage.store.cli:verify",
        "Recompute the store's hash chains and signed checkpoints; write inclusion proofs.",
    ),
    "erase": (
        "jejak.lineage.store.cli:erase",
        "Erase a data subject from the store, keeping the trail verifiable.",
    ),
    "trust": ("jejak.lineage.trust.cli:trust", "The key that signs the store's checkpoints."),
    "verify-proof": (
        "jejak.lineage.trust.cli:verify_proof_command",
        "Check an inclusion-proof file with the log's public key.",
    ),
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            target, _ = LAZY_COMMANDS[cmd_name]
            module_name, attr = target.split(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise click.ClickException(
                    f"'jejak {cmd_name}' needs a part of jejak that is not installed "
                    f"({exc.name}); install jejak[server] or jejak[sdk]"
                ) from exc
            command = getattr(module, attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{target} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in sorted(LAZY_COMMANDS.items())]
        rows += [(name, cmd.get_short_help_str()) for name, cmd in sorted(self.commands.items())]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


def _settings_epilog() -> str:
    lines = ["Settings (environment variables):", ""]
    for var, default, description in describe():
        lines.append(f"  {var}  [{default}]  {description}".rstrip())
    return "\n".join(lines)


@click.group(cls=LazyGroup, epilog=None)
@click.version_option(__version__, prog_name="jejak")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """jejak: privacy audit and data lineage for personal-data events.

    Run `jejak settings` to see every setting, the variable that sets it and
    its default.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command("settings")
@click.option("--json", "as_json", is_flag=True, help="JSON for machines.")
def settings_command(as_json: bool) -> None:
    """Every setting: the value in effect, where it comes from, its default and meaning.

    Secrets (keys, passwords, tokens, a DSN's password) are shown masked.
    """
    import json
    import os

    from jejak.output import render
    from jejak.settings import Settings

    effective = _effective(Settings.from_env())
    rows = [
        {
            "variable": var,
            "value": effective.get(var, ""),
            "source": "environment" if var in os.environ else "default",
            "default": default,
            "meaning": meaning,
        }
        for var, default, meaning in describe()
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    render(rows, columns=["variable", "value", "source", "meaning"], title="jejak settings")


def _effective(model: Any, prefix: str = "JEJAK_") -> dict[str, str]:
    """``JEJAK_…`` variable -> the value in effect, as text, secrets masked."""
    from pydantic import BaseModel, SecretStr

    from jejak.settings import redact_dsn

    out: dict[str, str] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        var = f"{prefix}{name.upper()}"
        if isinstance(value, BaseModel):
            out.update(_effective(value, f"{var}__"))
        elif isinstance(value, SecretStr):
            secret = value.get_secret_value()
            out[var] = redact_dsn(secret) if name == "dsn" else ("***" if secret else "")
        elif value is None:
            out[var] = ""
        elif isinstance(value, list | tuple | set | frozenset):
            out[var] = ", ".join(str(v) for v in value)
        else:
            out[var] = str(value)
    return out


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry: errors become one clear message and exit 1, never a traceback.

    Besides jejak's own errors: a ``JEJAK_*`` setting that is not valid (pydantic's
    error, turned into "invalid setting JEJAK_API__PORT: ..." without the value,
    which may be a secret) and a file that cannot be opened or written. With
    ``-vv`` the traceback is logged too.
    """
    try:
        return cli.main(args=argv, prog_name="jejak", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except JejakError as exc:
        _fail(str(exc), exc)
    except ValidationError as exc:
        _fail(describe_validation_error(exc), exc)
    except SettingsError as exc:  # a JSON-valued setting that is not JSON, e.g. ALLOWED_HOSTS
        _fail(f'invalid setting: {exc} (a list-valued variable takes JSON: \'["a", "b"]\')', exc)
    except OSError as exc:  # a file or folder that is not there, or not ours to write
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or type(exc).__name__}{where}", exc)


def _fail(message: str, exc: BaseException) -> None:
    log.debug("the error in full", exc_info=exc)
    click.echo(f"jejak: error: {message}", err=True)
    sys.exit(1)
