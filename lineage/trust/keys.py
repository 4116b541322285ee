"""Key files: the signer key string in a file only its owner can read, the verifier beside it.

``keygen(path, name)`` writes::

    path        PRIVATE+KEY+<name>+<keyid>+<base64>\\n   mode 0600 (the secret)
    path.pub    <name>+<keyid>+<base64>\\n               mode 0644 (hand it to verifiers)

The secret is written to a temporary file beside it (created 0600, so it is
never readable by others, not even for a moment), flushed to disk, then linked to
``path`` with ``os.link``, which fails if ``path`` exists: two processes
racing to create the key end with one complete key, never a torn or
overwritten one. ``force`` replaces an existing key (``os.replace``) — every
checkpoint signed before then can only be checked with the old ``.pub``, so
the CLI asks for it explicitly. Missing parent folders are created 0700.

:func:`ensure_key` is what a long-running writer calls at start: the key at
``path``, created first when there is none (it returns whether it did, so the
caller can log it). The ``.pub`` file is derived from the key and rewritten
when it is missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

from jejak.lineage.trust.errors import KeyFileError, MalformedKey
from jejak.lineage.trust.note import Signer, Verifier, parse_signer, parse_verifier

log = logging.getLogger(__name__)


def public_key_path(path: Path | str) -> Path:
    """Where the verifier key of the signer key file ``path`` lives: ``path`` + ``.pub``."""
    path = Path(path)
    return path.with_name(path.name + ".pub")


def _write_new(path: Path, text: str, mode: int, replace: bool) -> bool:
    """Write ``text`` to ``path`` whole; False if ``path`` exists and ``replace`` is not set."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)  # the umask may have taken bits away from a .pub
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(path.parent, f"cannot create the folder: {exc.strerror}") from exc


def _write_pub(path: Path, verifier: Verifier) -> None:
    pub = public_key_path(path)
    try:
        _write_new(pub, verifier.to_string() + "\n", 0o644, replace=True)
    except OSError as exc:
        raise KeyFileError(pub, f"cannot write the verifier key: {exc.strerror}") from exc


def keygen(path: Path | str, name: str, *, force: bool = False) -> Signer:
    """A new Ed25519 key named ``name`` in ``path`` (0600) and its verifier in ``path.pub``.

    Refuses (:class:`KeyFileError`) when ``path`` exists, unless ``force``.
    """
    path = Path(path)
    signer = Signer.generate(name)
    _make_parent(path)
    try:
        written = _write_new(path, signer.to_string() + "\n", 0o600, replace=force)
    except OSError as exc:
        raise KeyFileError(path, f"cannot write the key: {exc.strerror}") from exc
    if not written:
        raise KeyFileError(path, "a key already exists here (replace it with --force)")
    _write_pub(path, signer.verifier())
    return signer


def load_signer(path: Path | str) -> Signer:
    """The signer key in ``path``; warns when others than its owner may read the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise KeyFileError(path, "no key file (create one with 'jejak trust keygen')") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(path, "cannot read the key file") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "trust: key file %s may be read by others (mode %o); chmod 600 it", path, mode & 0o777
        )
    try:
        return parse_signer(text)
    except MalformedKey as exc:
        raise KeyFileError(path, f"not a signer key: {exc}") from exc


def ensure_key(path: Path | str, name: str) -> tuple[Signer, bool]:
    """The signer key in ``path``, created under ``name`` first if there is none.

    Returns ``(signer, created)``. An existing key keeps its own name
    (``signer.name``), whatever ``name`` says: the name is part of every
    checkpoint signed so far. A missing ``.pub`` is written again.
    """
    path = Path(path)
    created = False
    if not path.exists():
        try:
            keygen(path, name)
            created = True
        except KeyFileError:
            if not path.exists():  # not a lost race with another creator
                raise
    signer = load_signer(path)
    if not public_key_path(path).exists():
        _write_pub(path, signer.verifier())
    return signer, created


def load_verifier(key: str | Path) -> Verifier:
    """A verifier from a key string ``name+keyid+base64``, or from a file holding one."""
    if isinstance(key, str):
        try:
            return parse_verifier(key)
        except MalformedKey:
            if not Path(key).is_file():
                raise
    path = Path(key)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(path, "neither a verifier key string nor a readable file") from exc
    try:
        return parse_verifier(text)
    except MalformedKey as exc:
        raise KeyFileError(path, f"not a verifier key: {exc}") from exc
