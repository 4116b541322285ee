"""``jejak emit`` and ``jejak simulate`` through click's test runner (file transport, no broker)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jejak.cli import cli
from jejak.schemas.models import event_from_json
from jejak.schemas.pseudonym import Pseudonymizer

PSEUDONYM = "ps1_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
GOOD = (
    '{"event_id": "c-1", "kind": "consent", "occurred_at": "2026-03-01T09:00:00Z", '
    f'"subject_id": "{PSEUDONYM}", "scope": "recipient:partner-fintech-1", "action": "granted"}}'
)
BAD_FIELD = (
    '{"event_id": "d-1", "kind": "disclosure", "occurred_at": "2026-03-01T10:00:00Z", "subject_id": "u-1", '
    '"data_categories": ["account.email"], "purpose": "service.financial_products", "recipient": {"id": "p"}}'
)
RAW_SUBJECT = (
    '{"event_id": "k-1", "kind": "collection", "occurred_at": "2026-03-01T08:00:00Z", "subject_id": "u-1", '
    '"data_categories": ["location.geo"], "source": "recorded"}'
)


DEV_KEY = "jejak-development-key-change-me"  # the settings' default, allowed in these tests


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads JEJAK_* variables: none of the caller's, and the public key allowed."""
    for name in list(os.environ):
        if name.startswith("JEJAK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JEJAK_SDK__ALLOW_DEVELOPMENT_KEY", "true")


def _run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_emit_reports_bad_lines_with_number_and_field_and_sends_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([GOOD, BAD_FIELD, "", "{not json", RAW_SUBJECT]) + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = _run("emit", str(source), "--transport", "file", "--out", str(out))
    assert code == 1
    assert f"{source}:2: recipient.kind: Field required" in err
    assert f"{source}:4: event: not JSON" in err
    assert "sent 2 (delivered 2, spooled 0, failed 0, waiting in spool 0), invalid 2" in err
    sent = [event_from_json(line) for line in out.read_text().splitlines()]
    assert [e.event_id for e in sent] == ["c-1", "k-1"]
    assert sent[0].subject_id == PSEUDONYM  # already a pseudonym: passed unchanged
    assert sent[1].subject_id == Pseudonymizer(DEV_KEY).pseudonymize("u-1")  # by default
    assert sent[0].producer is not None and sent[0].producer.service == "jejak-emit"


def test_emit_already_pseudonymous_skips_raw_ids_by_line_without_the_value(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([GOOD, RAW_SUBJECT, _line(subject_id="budi@example.id")]) + "\n")
    out = tmp_path / "out.jsonl"
    code, stdout, err = _run(
        "emit", str(source), "--transport", "file", "--out", str(out), "--already-pseudonymous"
    )
    assert code == 1
    assert f"{source}:2: subject_id: is not a pseudonym" in err
    assert f"{source}:3: subject_id: is not a pseudonym" in err
    assert "u-1" not in err + stdout and "budi" not in err + stdout
    assert "sent 1 " in err and "invalid 2" in err
    assert [event_from_json(line).subject_id for line in out.read_text().splitlines()] == [
        PSEUDONYM
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("trace_id", "budi.santoso@example.id"),
        ("trace_id", "+62 812-3456-7890"),
        ("legal_request_ref", "0812-3456-7890"),
        ("channel", "3201234567890123"),
    ],
)
def test_emit_reports_personal_data_in_free_text_without_the_value(
    tmp_path: Path, field: str, value: str
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(_line(**{field: value}) + "\n")
    out = tmp_path / "out.jsonl"
    code, stdout, err = _run("emit", str(source), "--transport", "file", "--out", str(out))
    assert code == 1
    assert f"{source}:1: {field}: looks like" in err
    assert value not in err + stdout
    assert out.read_text() == ""


def test_emit_refuses_the_public_key_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JEJAK_SDK__ALLOW_DEVELOPMENT_KEY")
    source = tmp_path / "in.jsonl"
    source.write_text(GOOD + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = _run("emit", str(source), "--transport", "file", "--out", str(out))
    assert code == 1
    assert "public development key" in err and "JEJAK_SDK__PSEUDONYMIZATION_KEY" in err
    assert not out.exists() or out.read_text() == ""
    monkeypatch.setenv("JEJAK_SDK__PSEUDONYMIZATION_KEY", "a-real-secret-for-this-test")
    code, _, err = _run("emit", str(source), "--transport", "file", "--out", str(out))
    assert code == 0, err


def test_emit_pseudonymize_is_a_deprecated_no_op(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(RAW_SUBJECT + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = _run(
        "emit", str(source), "--transport", "file", "--out", str(out), "--pseudonymize"
    )
    assert code == 0, err
    assert "--pseudonymize is deprecated" in err
    sent = event_from_json(out.read_text().splitlines()[0])
    assert sent.subject_id == Pseudonymizer(DEV_KEY).pseudonymize("u-1")


def _line(**fields: str) -> str:
    """A valid disclosure as one JSON line, with some fields replaced."""
    event = {
        "event_id": "d-2",
        "kind": "disclosure",
        "occurred_at": "2026-03-01T10:00:00Z",
        "subject_id": PSEUDONYM,
        "data_categories": ["account.email"],
        "purpose": "service.financial_products",
        "recipient": {"id": "partner-fintech-1", "kind": "fintech_partner"},
    }
    if "channel" in fields:
        event = {**event, "kind": "use", "purpose": "marketing.communications"}
        del event["recipient"]
    return json.dumps({**event, **fields})


def test_emit_reads_stdin(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code, _, err = _run("emit", "-", "--transport", "file", "--out", str(out), input=GOOD + "\n")
    assert code == 0, err
    assert len(out.read_text().splitlines()) == 1


def test_emit_file_transport_needs_out(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(GOOD + "\n")
    code, _, err = _run("emit", str(source), "--transport", "file")
    assert code == 2 and "--out" in err


def test_simulate_is_deterministic_and_writes_the_violation_list(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    violations = tmp_path / "violations.jsonl"
    args = ["simulate", "--users", "40", "--days", "2", "--seed", "5", "--violation-rate", "0.2"]
    code, _, err = _run(*args, "--out", str(first), "--violations", str(violations))
    assert code == 0, err
    assert _run(*args, "--out", str(second))[0] == 0
    assert first.read_bytes() == second.read_bytes()
    listed = [json.loads(line) for line in violations.read_text().splitlines()]
    assert listed and {"event_id", "reason", "scenario", "subject_id"} <= set(listed[0])
    events = {
        event_from_json(line).event_id: event_from_json(line)
        for line in first.read_text().splitlines()
    }
    for item in listed:
        assert (
            events[item["event_id"]].trace_id
            == f"sim-violation:{item['reason']}:{item['scenario']}"
        )
    assert "40 user(s), 2 day(s) from 2026-03-02, seed 5" in err


def test_simulate_emit_through_the_sdk(tmp_path: Path) -> None:
    out = tmp_path / "sent.jsonl"
    args = ["simulate", "--users", "20", "--seed", "1", "--emit", "--transport", "file"]
    code, _, err = _run(*args, "--timeout", "5")
    assert code == 2 and "--out" in err  # the file transport needs a path
    code, _, err = _run(*args, "--out", str(out))
    assert code == 0, err
    assert "sent " in err and "failed 0" in err
    code, stdout, _ = _run("simulate", "--users", "20", "--seed", "1")
    assert code == 0
    assert [event_from_json(line) for line in out.read_text().splitlines()] == [
        event_from_json(line) for line in stdout.splitlines()
    ]


def test_simulate_start_date(tmp_path: Path) -> None:
    code, stdout, err = _run("simulate", "--users", "5", "--start", "2026-04-01")
    assert code == 0 and "from 2026-04-01" in err
    assert any('"occurred_at": "2026-04-01' in line for line in stdout.splitlines())


def test_simulate_rejects_a_bad_date() -> None:
    code, _, err = _run("simulate", "--users", "5", "--start", "1 April")
    assert code == 2 and "not a date" in err


# ------------------------------------------------------------------ bad input, clear errors


def _consent(number: int, occurred_at: Any = "2026-03-01T09:00:00Z") -> str:
    return json.dumps(
        {
            "event_id": f"c-{number}",
            "kind": "consent",
            "occurred_at": occurred_at,
            "subject_id": PSEUDONYM,
            "scope": "marketing",
            "action": "granted",
        }
    )


def _sent(out: Path) -> list[str]:
    return [event_from_json(line).event_id for line in out.read_text().splitlines()]


def test_emit_reports_a_line_that_is_not_utf8_and_sends_every_other(tmp_path: Path) -> None:
    lines = [_consent(n).encode() for n in range(1, 41)]
    lines[24] = lines[24].replace(b"marketing", b"market\xffing")  # line 25
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")  # a BOM on line 1 is fine
    out = tmp_path / "out.jsonl"
    code, _, err = _run("emit", str(source), "--transport", "file", "--out", str(out))
    assert code == 1
    assert f"{source}:25: event: not UTF-8 text" in err
    assert "Traceback" not in err
    assert _sent(out) == [f"c-{n}" for n in range(1, 41) if n != 25]
    assert "invalid 1" in err


@pytest.mark.parametrize(
    ("occurred_at", "problem"),
    [
        (1234567890, "occurred_at: must be an RFC 3339 time with a zone"),
        ("1234567890", "occurred_at: is not an RFC 3339 time with a zone"),
        ("2026-03-01T09:00:00", "occurred_at: is not an RFC 3339 time with a zone"),
        ("1800-01-01T00:00:00Z", "occurred_at: is outside the years 1900 to 2299"),
        ("9999-01-01T00:00:00Z", "occurred_at: is outside the years 1900 to 2299"),
        ("1999-12-31T23:59:59Z", "occurred_at: is before 2000-01-01T00:00:00Z"),
        ("2200-01-01T00:00:00Z", "occurred_at: is more than 86400 s in the future"),
    ],
)
def test_emit_accepts_only_documented_times_within_the_window(
    tmp_path: Path, occurred_at: Any, problem: str
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([_consent(1), _consent(2, occurred_at), _consent(3)]) + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = _run("emit", str(source), "--transport", "file", "--out", str(out))
    assert code == 1
    assert f"{source}:2: {problem}" in err
    assert _sent(out) == ["c-1", "c-3"]


def test_the_window_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JEJAK_EVENTS__EARLIEST", "1990-01-01T00:00:00Z")
    source = tmp_path / "in.jsonl"
    source.write_text(_consent(1, "1995-06-01T00:00:00Z") + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = _run("emit", str(source), "--transport", "file", "--out", str(out))
    assert code == 0, err
    assert _sent(out) == ["c-1"]


@pytest.mark.parametrize(
    "args",
    [
        ["emit", "{source}", "--transport", "file", "--out", "{missing}/out.jsonl"],
        ["simulate", "--users", "2", "--out", "{missing}/day.jsonl"],
        ["simulate", "--users", "2", "--violations", "{missing}/v.jsonl"],
    ],
    ids=["emit --out", "simulate --out", "simulate --violations"],
)
def test_an_output_folder_that_does_not_exist_is_a_usage_error(
    tmp_path: Path, args: list[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(_consent(1) + "\n")
    missing = tmp_path / "no-such-folder"
    args = [a.format(source=source, missing=missing) for a in args]
    code, _, err = _run(*args)
    assert code == 2
    assert f"folder '{missing}' does not exist" in err
    assert not missing.exists()


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "sent.jsonl"
    code, _, err = _run(
        "simulate", "--users", "20", "--emit", "--transport", "file", "--out", str(out)
    )
    assert code == 0, err
    assert "━" not in err and "emitting" not in err.replace("emitted", "")


def test_the_progress_bar_on_a_terminal() -> None:
    from io import StringIO

    from rich.console import Console

    from jejak.producers.cli import _progress

    screen = StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with _progress("emitting", 1000, console, unit="bytes") as advance:
        for _ in range(100):
            advance(10)
    assert "emitting" in screen.getvalue() and "100%" in screen.getvalue()
    with _progress("simulating", None, None) as advance:  # no console: nothing drawn
        advance(5)
