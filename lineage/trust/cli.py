"""``jejak trust`` (the signing key) and ``jejak verify-proof`` (what a third party runs).

Thin adapters over :mod:`jejak.lineage.trust.keys` and
:mod:`jejak.lineage.trust.proof`; nothing here opens the store. The key file
and name default to the store's own (``JEJAK_TRUST__KEY_FILE``,
``JEJAK_TRUST__KEY_NAME``, else derived from ``JEJAK_STORE__DSN`` and the
database, see :func:`jejak.settings.trust_dir`).
"""

from __future__ import annotations

from pathlib import Path

import click

from jejak.errors import TrustError
from jejak.lineage.trust.keys import keygen, load_signer, load_verifier, public_key_path
from jejak.lineage.trust.proof import load_proof, verify_proof
from jejak.settings import Settings

database_option = click.option(
    "--database",
    default=None,
    help="The store whose key it is [JEJAK_STORE__DATABASE, default jejak].",
)


@click.group("trust")
def trust() -> None:
    """The key that signs the tamper-evident store's checkpoints."""


@trust.command("keygen")
@click.option(
    "--name",
    default=None,
    help="Key name, also the origin of its checkpoints "
    "[JEJAK_TRUST__KEY_NAME, default jejak-<database>].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Signer key file, written 0600; the verifier goes to FILE.pub "
    "[JEJAK_TRUST__KEY_FILE, default .jejak/trust/<database>/signing.key].",
)
@click.option(
    "--force", is_flag=True, help="Replace an existing key (old checkpoints need the old .pub)."
)
@database_option
def keygen_command(name: str | None, out: Path | None, force: bool, database: str | None) -> None:
    """Create an Ed25519 signing key; print its verifier key (name+keyid+key)."""
    settings = Settings.from_env()
    path = out or settings.trust.key_file_for(settings.store, database)
    name = name or settings.trust.key_name_for(settings.store, database)
    try:
        signer = keygen(path, name, force=force)
    except TrustError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"wrote signer key {path} (keep it secret) and verifier key {public_key_path(path)}",
        err=True,
    )
    click.echo(signer.verifier().to_string())


@trust.command("public-key")
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Signer key file [JEJAK_TRUST__KEY_FILE, default .jejak/trust/<database>/signing.key].",
)
@database_option
def public_key_command(key_file: Path | None, database: str | None) -> None:
    """Print the verifier key (name+keyid+key) to give whoever checks proofs."""
    settings = Settings.from_env()
    path = key_file or settings.trust.key_file_for(settings.store, database)
    try:
        signer = load_signer(path)
    except TrustError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(signer.verifier().to_string())


@click.command("verify-proof")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    required=True,
    metavar="KEY",
    help="The log's verifier key (name+keyid+key), or a file holding it.",
)
def verify_proof_command(file: Path, public_key: str) -> None:
    """Check an inclusion-proof FILE with the log's public key; exit 1 if it does not hold.

    Checks the checkpoint's signature, that its size is the proof's tree size,
    and that the row and audit path lead to its root hash. Needs no access to
    the store.
    """
    try:
        verifier = load_verifier(public_key)
        result = verify_proof(load_proof(file), verifier)
    except TrustError as exc:
        raise click.ClickException(str(exc)) from None
    if not result.ok:
        raise click.ClickException(f"{file}: {result.message}")
    click.echo(result.message)
