"""Bad settings and options give one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from jejak.cli import main
from jejak.cli_options import describe_validation_error, json_objects, output_path
from jejak.settings import Settings


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    code = caught.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "JEJAK_API__PORT",
            "99999",
            "jejak: error: invalid setting JEJAK_API__PORT: "
            "Input should be less than or equal to 65535",
        ),
        ("JEJAK_KAFKA__PARTITIONS", "none", "invalid setting JEJAK_KAFKA__PARTITIONS: Input"),
        ("JEJAK_API__ALLOWED_HOSTS", "[not json", "invalid setting: error parsing value"),
        ("JEJAK_EVENTS__EARLIEST", "1800-01-01T00:00:00Z", "JEJAK_EVENTS__EARLIEST: must be"),
    ],
)
def test_a_bad_setting_is_one_clear_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    source = tmp_path / "in.jsonl"
    source.write_text("")
    code, err = _main(capsys, "emit", str(source), "--transport", "console")
    assert code == 1
    assert message in err
    assert "Traceback" not in err and "input_value" not in err


def test_a_secret_setting_that_is_wrong_is_not_repeated(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JEJAK_KAFKA__SASL_PASSWORD", '{"a-secret-password": 1}')
    monkeypatch.setenv("JEJAK_KAFKA__PARTITIONS", "0")
    code, err = _main(capsys, "emit", "-", "--transport", "console")
    assert code == 1 and "JEJAK_KAFKA__PARTITIONS" in err
    assert "a-secret-password" not in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_file_that_cannot_be_written_is_one_clear_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = _main(capsys, "simulate", "--users", "2", "--out", "/dev/full")
    assert code == 1
    assert err.startswith("jejak: error: No space left on device") and "Traceback" not in err


def test_describe_validation_error_names_fields_without_input() -> None:
    with pytest.raises(Exception) as caught:
        Settings(api={"port": 99999, "host": 5})  # type: ignore[arg-type]
    text = describe_validation_error(caught.value)  # type: ignore[arg-type]
    assert text.startswith("invalid settings:")
    assert "JEJAK_API__PORT: Input should be less than or equal to 65535" in text
    assert "99999" not in text


@click.command()
@click.option("--sink", "sinks", multiple=True, callback=json_objects)
@click.option("--out", type=click.Path(path_type=Path, allow_dash=True), callback=output_path)
def _probe(sinks: list[dict[str, Any]], out: Path | None) -> None:
    click.echo(f"{sinks} {out}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sink", "not json"], "Invalid value for '--sink': the value is not JSON (Expecting"),
        (["--sink", "[1]"], "the value is JSON but not an object"),
        (["--sink", '{"kind": "log"}', "--sink", "{"], "value 2 is not JSON"),
        (["--out", "{tmp}/missing/x.jsonl"], "folder '{tmp}/missing' does not exist"),
        (["--out", "{tmp}"], "'{tmp}' is a folder, not a file"),
    ],
)
def test_option_checks(tmp_path: Path, args: list[str], message: str) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(_probe, args)
    assert result.exit_code == 2
    assert message.replace("{tmp}", str(tmp_path)) in result.stderr


def test_good_options_pass(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _probe, ["--sink", '{"kind": "log"}', "--out", str(tmp_path / "x.jsonl")]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"[{{'kind': 'log'}}] {tmp_path / 'x.jsonl'}\n"
    assert CliRunner().invoke(_probe, ["--out", "-"]).stdout == "[] -\n"
