"""``jejak trust keygen|public-key`` and ``jejak verify-proof``, and the per-store key defaults."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from jejak.cli import cli
from jejak.lineage.trust import merkle
from jejak.lineage.trust.checkpoint import Checkpoint, sign_checkpoint
from jejak.lineage.trust.keys import load_signer
from jejak.lineage.trust.note import Signer
from jejak.lineage.trust.proof import build_proof, dumps_proof
from jejak.settings import (
    Settings,
    StoreSettings,
    default_checkpoint_dir,
    default_key_file,
    default_key_name,
)


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """None of the caller's JEJAK_* variables; the store in this test's folder."""
    for name in list(os.environ):
        if name.startswith("JEJAK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JEJAK_STORE__DSN", f"chdb://{tmp_path / 'state' / 'chdb'}")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_keygen_default_path_and_public_key(tmp_path: Path) -> None:
    result = run("trust", "keygen")
    assert result.exit_code == 0, result.output
    key = tmp_path / "state" / "trust" / "jejak" / "signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    vkey = result.stdout.strip()
    assert vkey.startswith("jejak-jejak+")
    assert str(key) in result.stderr
    assert (key.parent / "signing.key.pub").read_text().strip() == vkey
    assert run("trust", "public-key").stdout.strip() == vkey
    # a second keygen refuses, --force replaces
    again = run("trust", "keygen")
    assert again.exit_code == 1 and "already exists" in again.stderr
    forced = run("trust", "keygen", "--force")
    assert forced.exit_code == 0 and forced.stdout.strip() != vkey
    # the secret never reaches the terminal
    secret = load_signer(key).to_string()
    assert secret not in forced.output and secret.split("+", 4)[4] not in forced.output


def test_keygen_name_out_and_database(tmp_path: Path) -> None:
    out = tmp_path / "k" / "log.key"
    result = run("trust", "keygen", "--name", "example.org/audit", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("example.org/audit+")
    assert run("trust", "public-key", "--key", str(out)).stdout == result.stdout
    other = run("trust", "keygen", "--database", "audit")
    assert other.stdout.startswith("jejak-audit+")
    assert (tmp_path / "state" / "trust" / "audit" / "signing.key").exists()


def test_keygen_bad_name_and_missing_key() -> None:
    bad = run("trust", "keygen", "--name", "two words")
    assert bad.exit_code == 1 and "key name" in bad.stderr
    missing = run("trust", "public-key")
    assert missing.exit_code == 1 and "jejak trust keygen" in missing.stderr


def _proof_file(tmp_path: Path, signer: Signer) -> Path:
    rows = [f"row-{i}".encode() for i in range(6)]
    hashes = [merkle.leaf_hash(r) for r in rows]
    note = sign_checkpoint(Checkpoint(signer.name, 6, merkle.root(hashes)), signer)
    doc = build_proof(
        row=rows[4],
        leaf_index=4,
        audit_path=merkle.inclusion_proof(4, hashes),
        checkpoint=note,
        event_id="0190a0b2-0000-7000-8000-000000000004",
    )
    path = tmp_path / "proof.json"
    path.write_text(dumps_proof(doc), encoding="utf-8")
    return path


def test_verify_proof_ok_with_key_string_or_file(tmp_path: Path) -> None:
    signer = Signer.generate("jejak-cli")
    path = _proof_file(tmp_path, signer)
    vkey = signer.verifier().to_string()
    result = run("verify-proof", str(path), "--public-key", vkey)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "ok: event 0190a0b2-0000-7000-8000-000000000004 included at index 4 "
        "of tree size 6 under checkpoint jejak-cli\n"
    )
    pub = tmp_path / "log.pub"
    pub.write_text(vkey + "\n")
    assert run("verify-proof", str(path), "--public-key", str(pub)).exit_code == 0


def test_verify_proof_failures_exit_1_with_the_reason(tmp_path: Path) -> None:
    signer = Signer.generate("jejak-cli")
    path = _proof_file(tmp_path, signer)
    vkey = signer.verifier().to_string()

    wrong_key = run(
        "verify-proof", str(path), "--public-key", Signer.generate("x").verifier().to_string()
    )
    assert wrong_key.exit_code == 1 and "unknown_key" in wrong_key.stderr

    doc = json.loads(path.read_text())
    doc["row"] = "cm93LTU="  # base64 of another row
    path.write_text(json.dumps(doc))
    altered = run("verify-proof", str(path), "--public-key", vkey)
    assert altered.exit_code == 1 and "root_mismatch" in altered.stderr
    assert altered.stdout == ""

    bad_key = run("verify-proof", str(path), "--public-key", "nonsense")
    assert bad_key.exit_code == 1 and "key" in bad_key.stderr

    path.write_text("{")
    broken = run("verify-proof", str(path), "--public-key", vkey)
    assert broken.exit_code == 1 and "not UTF-8 JSON" in broken.stderr


def test_default_key_files_differ_per_store(tmp_path: Path) -> None:
    def store(dsn: str, database: str = "jejak") -> StoreSettings:
        return StoreSettings(dsn=dsn, database=database)  # type: ignore[arg-type]

    a = tmp_path / "a" / "chdb"
    stores = [
        store(f"chdb://{a}"),
        store(f"chdb://{a}", "audit"),
        store(f"chdb://{tmp_path / 'a' / 'other'}"),
        store(f"chdb://{tmp_path / 'b' / 'chdb'}"),
        store("https://u:pw@ch.example:8443/jejak"),
        store("https://u:pw@ch.example:8443/audit"),
        store("http://ch.example:8123"),
        store("http://other.example:8123"),
        store("chdb://:memory:"),
    ]
    files = [default_key_file(s) for s in stores]
    assert len(set(files)) == len(files)
    assert files[0] == tmp_path / "a" / "trust" / "jejak" / "signing.key"
    assert files[1] == tmp_path / "a" / "trust" / "audit" / "signing.key"
    assert files[2] == tmp_path / "a" / "trust" / "other.jejak" / "signing.key"
    # outside the chDB folder, and the checkpoints beside the key
    assert a not in files[0].parents
    assert default_checkpoint_dir(stores[0]) == files[0].parent / "checkpoints"
    # the database named in an http DSN wins over the setting, an explicit one over both
    assert default_key_name(stores[5]) == "jejak-audit"
    assert default_key_name(stores[5], "x") == "jejak-x"
    assert default_key_file(stores[0], "x") == tmp_path / "a" / "trust" / "x" / "signing.key"
    assert "pw" not in str(files[4])


def test_trust_settings_override_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JEJAK_TRUST__KEY_FILE", "/keys/log.key")
    monkeypatch.setenv("JEJAK_TRUST__KEY_NAME", "example.org/log")
    monkeypatch.setenv("JEJAK_TRUST__CHECKPOINT_EVERY_EVENTS", "500")
    s = Settings.from_env()
    assert s.trust.key_file_for(s.store) == Path("/keys/log.key")
    assert s.trust.key_name_for(s.store) == "example.org/log"
    assert s.trust.checkpoint_every_events == 500
    assert s.trust.checkpoint_every_s == 60
    assert s.trust.checkpoint_dir_for(s.store).name == "checkpoints"
