"""Key files: written 0600 and whole, never overwritten unless asked, created on demand."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from jejak.lineage.trust.errors import KeyFileError, MalformedKey
from jejak.lineage.trust.keys import (
    ensure_key,
    keygen,
    load_signer,
    load_verifier,
    public_key_path,
)
from jejak.lineage.trust.note import open_note, sign_note


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_writes_the_secret_0600_and_the_verifier_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "trust" / "db" / "signing.key"
    signer = keygen(path, "jejak-db")
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert path.read_text() == signer.to_string() + "\n"
    pub = public_key_path(path)
    assert pub == tmp_path / "trust" / "db" / "signing.key.pub"
    assert pub.read_text() == signer.verifier().to_string() + "\n"
    assert load_signer(path).to_string() == signer.to_string()
    assert load_verifier(pub) == signer.verifier()
    assert load_verifier(str(pub)) == signer.verifier()
    assert load_verifier(signer.verifier().to_string()) == signer.verifier()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_keygen_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    first = keygen(path, "a")
    with pytest.raises(KeyFileError, match="already exists"):
        keygen(path, "b")
    assert load_signer(path).to_string() == first.to_string()
    second = keygen(path, "b", force=True)
    assert load_signer(path).to_string() == second.to_string() != first.to_string()
    assert load_verifier(public_key_path(path)) == second.verifier()
    assert _mode(path) == 0o600


def test_ensure_key_creates_once(tmp_path: Path) -> None:
    path = tmp_path / "k" / "signing.key"
    signer, created = ensure_key(path, "jejak-x")
    assert created and signer.name == "jejak-x"
    again, created = ensure_key(path, "another-name")
    assert not created
    assert again.to_string() == signer.to_string()  # an existing key keeps its name
    public_key_path(path).unlink()
    ensure_key(path, "jejak-x")
    assert load_verifier(public_key_path(path)) == signer.verifier()


def test_a_key_from_file_signs_notes_the_pub_file_opens(tmp_path: Path) -> None:
    signer = keygen(tmp_path / "s.key", "n")
    signed = sign_note("t\n", load_signer(tmp_path / "s.key"))
    assert open_note(signed, load_verifier(tmp_path / "s.key.pub")).text == "t\n"
    assert signer.name == "n"


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="jejak trust keygen"):
        load_signer(tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_text("PRIVATE+KEY+x+00000000+AAAA\n")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError) as caught:
        load_signer(bad)
    assert "AAAA" not in str(caught.value)
    with pytest.raises(MalformedKey):
        load_verifier("not-a-key-and-not-a-file")
    with pytest.raises(KeyFileError):
        load_verifier(bad)


def test_a_readable_key_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.key"
    keygen(path, "n")
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="jejak.lineage.trust.keys"):
        load_signer(path)
    assert "may be read by others" in caplog.text
    assert load_signer(path).to_string() not in caplog.text


def test_keygen_refuses_a_bad_name(tmp_path: Path) -> None:
    with pytest.raises(MalformedKey):
        keygen(tmp_path / "s.key", "two words")
    assert not (tmp_path / "s.key").exists()
