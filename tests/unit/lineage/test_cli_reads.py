"""The command line never creates a store to read it, hints --raw, and reads times and codes once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jejak.cli import cli


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "not-a-store"
    monkeypatch.setenv("JEJAK_STORE__DSN", f"chdb://{folder}")
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ["query", "stats"],
        ["query", "violations", "--since", "7d"],
        ["query", "access-log"],
        ["requests"],
        ["token", "list"],
        ["report", "subject", "ps1_" + "a" * 32, "--reason", "DSR-1"],
    ],
)
def test_a_read_without_a_store_says_so_and_creates_nothing(nowhere: Path, args: list[str]) -> None:
    r = CliRunner().invoke(cli, args)
    assert r.exit_code != 0
    assert f"no jejak store at {nowhere.resolve()} (database jejak)" in str(r.exception)
    assert not nowhere.exists()


def test_a_raw_subject_id_gets_a_hint_and_is_never_repeated(nowhere: Path) -> None:
    for args in (
        ["query", "subject", "budi@example.com", "--reason", "DSR-1"],
        ["report", "subject", "budi@example.com", "--reason", "DSR-1"],
        ["query", "violations", "--subject", "budi@example.com", "--reason", "DSR-1"],
    ):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 2, r.output
        assert "--raw" in r.output and "budi@example.com" not in r.output
    assert not nowhere.exists()


def test_bad_options_are_refused_before_anything_is_opened(nowhere: Path) -> None:
    r = CliRunner().invoke(cli, ["query", "violations", "--code", "nope"])
    assert r.exit_code == 2 and "disclosure_without_consent" in r.output
    r = CliRunner().invoke(cli, ["query", "violations", "--since", "yesterday"])
    assert r.exit_code == 2 and "24h" in r.output
    r = CliRunner().invoke(cli, ["query", "violations", "--severity", "HIGH"])
    assert "no jejak store" in str(r.exception)  # HIGH was accepted; then no store
    assert not nowhere.exists()


def test_settings_show_the_values_in_effect_with_secrets_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JEJAK_API__TOKEN", "jjk_secret-token-value")
    monkeypatch.setenv("JEJAK_STORE__DSN", "http://jejak:hunter2@ch.example:8123/jejak")
    monkeypatch.setenv("JEJAK_API__PORT", "9000")
    r = CliRunner().invoke(cli, ["settings", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["variable"]: row for row in json.loads(r.output)}
    assert rows["JEJAK_API__PORT"] == {
        **rows["JEJAK_API__PORT"],
        "value": "9000",
        "source": "environment",
    }
    assert rows["JEJAK_API__TOKEN"]["value"] == "***"
    assert rows["JEJAK_STORE__DSN"]["value"] == "http://jejak:***@ch.example:8123/jejak"
    assert rows["JEJAK_KAFKA__TOPIC"]["source"] == "default"
    assert "hunter2" not in r.output and "secret-token" not in r.output
    table = CliRunner().invoke(cli, ["settings"])
    assert (
        table.exit_code == 0 and "JEJAK_API__PORT" in table.output and "hunter2" not in table.output
    )


def test_python_dash_m_jejak_runs_the_command_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jejak", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "jejak" in proc.stdout
