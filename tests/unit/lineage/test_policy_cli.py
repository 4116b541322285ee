"""``jejak policy``: show, validate, evaluate, explain, diff, replay through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from policy_helpers import DATA, SHIPPED_FILE, SHIPPED_FOLDER, shipped_data, write_policy

from jejak.cli import cli
from jejak.lineage.policy.cli import policy

EXAMPLES = DATA / "policy-examples.jsonl"
EXPECTED = [
    json.loads(x) for x in (DATA / "policy-examples.expected.jsonl").read_text().splitlines()
]


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(policy, list(args), input=stdin, catch_exceptions=False)


def test_registered_as_jejak_policy() -> None:
    result = CliRunner().invoke(cli, ["policy", "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    for command in ("show", "validate", "evaluate", "explain", "diff", "replay"):
        assert command in result.output


def test_evaluate_prints_the_expected_verdicts() -> None:
    result = run("evaluate", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert [{k: v[k] for k in want} for v, want in zip(got, EXPECTED, strict=True)] == EXPECTED
    assert result.stderr == ""


def test_evaluate_reports_a_malformed_line_and_goes_on(tmp_path: Path) -> None:
    lines = EXAMPLES.read_text().splitlines()
    broken = json.loads(lines[4])
    del broken["purpose"]
    mixed = [lines[0], "{not json", json.dumps(broken), "", lines[5]]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(mixed) + "\n")
    result = run("evaluate", str(path))
    assert result.exit_code == 1
    ids = [json.loads(line)["event_id"] for line in result.stdout.splitlines()]
    assert ids == ["ex-01", "ex-06"]
    errors = result.stderr.splitlines()
    assert errors[0].startswith("line 2: event: not JSON")
    assert errors[1].startswith("line 3: purpose:")
    assert "2 line(s) could not be evaluated" in errors[2]


def test_evaluate_reads_stdin() -> None:
    result = run("evaluate", "-", stdin=EXAMPLES.read_text())
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 12


def test_evaluate_with_another_policy(tmp_path: Path) -> None:
    data = shipped_data()
    data["version"] = "9.9"
    folder = tmp_path / "policy"
    write_policy(folder / "v.yaml", data)
    result = run("evaluate", str(EXAMPLES), "--policy", str(folder))
    assert {json.loads(x)["policy_version"] for x in result.stdout.splitlines()} == {"9.9"}


def test_explain_a_file_quotes_the_clauses() -> None:
    result = run("explain", str(EXAMPLES))
    assert result.exit_code == 0
    text = result.stdout
    assert "ex-07: disclosure of account.email, usage.preferences to promo-co" in text
    assert "VIOLATION (critical): disclosure_without_consent" in text
    assert "recipient:promo-co" in text
    assert "«Smarty Indonesia menjamin tidak ada penjualan" in text
    assert "ALLOWED under C.8" in text


def test_explain_one_event_and_violations_only() -> None:
    event = json.dumps(
        {
            "event_id": "x-1",
            "kind": "collection",
            "occurred_at": "2026-05-01T08:00:00Z",
            "subject_id": "p-9",
            "data_categories": ["location.geo"],
            "source": "recorded",
        }
    )
    result = run("explain", "--event", event)
    assert result.exit_code == 0
    assert "device:location" in result.stdout and "E.1" in result.stdout
    only = run("explain", str(EXAMPLES), "--violations-only")
    assert [line.split(":")[0] for line in only.stdout.splitlines() if line.startswith("ex-")] == [
        "ex-02",
        "ex-07",
        "ex-09",
        "ex-12",
    ]
    bad = run("explain", "--event", "{}")
    assert bad.exit_code != 0
    neither = run("explain")
    assert neither.exit_code == 2


def test_show_the_policy_and_one_clause() -> None:
    result = run("show")
    assert result.exit_code == 0
    assert "2026.1" in result.stdout and "C.8" in result.stdout
    clause = run("show", "--clause", "C.2")
    assert (
        "Smarty Indonesia dapat menyediakan" in clause.stdout
        and "integrated_partner" in clause.stdout
    )
    as_json = json.loads(run("show", "--json").stdout)
    assert as_json["version"] == "2026.1"
    assert {r["clause"] for r in as_json["rules"]} >= {"A.1.1", "B.8", "C", "C.8", "E.4", "F", "G"}
    detail = json.loads(run("show", "--clause", "E.4", "--json").stdout)
    assert detail["clause"] == "E.4" and detail["rules"]
    missing = run("show", "--clause", "Z.9")
    assert missing.exit_code == 1 and "no clause" in missing.output


def test_validate(tmp_path: Path) -> None:
    good = run("validate", str(SHIPPED_FOLDER))
    assert good.exit_code == 0 and good.stdout.startswith("ok:")
    data = shipped_data()
    data["disclosure_exceptions"][3]["recipient_kinds"][0] = "vendr"
    data["purposes"][0]["clause"] = "B.99"
    path = write_policy(tmp_path / "bad.yaml", data)
    bad = run("validate", str(path))
    assert bad.exit_code == 1
    assert (
        f"{path}: disclosure_exceptions[3].recipient_kinds[0]: recipient kind 'vendr'" in bad.stderr
    )
    assert "purposes[0].clause" in bad.stderr
    assert "2 problem(s) found" in bad.stderr


def test_a_broken_policy_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("policy: x\n", encoding="utf-8")
    result = run("evaluate", str(EXAMPLES), "--policy", str(path))
    assert result.exit_code == 1
    assert "is required but missing" in result.output


def test_diff(versions_dir: Path) -> None:
    old, new = str(versions_dir / "2026-01-01.yaml"), str(versions_dir / "2026-07-01.yaml")
    result = run("diff", old, new)
    assert result.exit_code == 0
    assert "2026.1 -> 2026.2" in result.stdout
    assert "fintech_lender" in result.stdout and "added" in result.stdout
    data = json.loads(run("diff", old, new, "--json").stdout)
    keys = {(c["section"], c["key"], c["change"]) for c in data["changes"]}
    assert ("consent scopes", "channel:newsletter", "changed") in keys
    same = run("diff", str(SHIPPED_FILE), str(SHIPPED_FOLDER))
    assert "no differences" in same.stdout


@pytest.fixture
def history(tmp_path: Path) -> Path:
    events = [
        {
            "event_id": "h-1",
            "kind": "use",
            "occurred_at": "2026-05-01T09:00:00Z",
            "subject_id": "a",
            "data_categories": ["account.email"],
            "purpose": "marketing.communications",
            "channel": "newsletter",
        },
        {
            "event_id": "h-2",
            "kind": "disclosure",
            "occurred_at": "2026-05-01T09:05:00Z",
            "subject_id": "a",
            "data_categories": ["transaction.amount"],
            "purpose": "service.operations",
            "recipient": {"id": "smarty-pay", "kind": "affiliate"},
        },
        {
            "event_id": "h-3",
            "kind": "use",
            "occurred_at": "2026-05-01T09:10:00Z",
            "subject_id": "b",
            "data_categories": ["account.email"],
            "purpose": "service.operations",
        },
    ]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n{broken\n")
    return path


def test_replay_table_and_json(history: Path, versions_dir: Path) -> None:
    new = str(versions_dir / "2026-07-01.yaml")
    result = run("replay", str(history), "--policy", new)
    assert result.exit_code == 1  # the broken last line
    assert "line 4: event: not JSON" in result.stderr
    out = result.stdout
    assert "Replay under 2026.2" in out and "2 would change" in out
    assert "recipient:smarty-pay" in out and "channel:newsletter" in out
    assert "allowed -> violation" in out
    data = json.loads(run("replay", str(history), "--policy", new, "--json").stdout)
    assert data["changed"] == 2
    assert data["subjects_needing_consent"] == ["a"]
    assert {c["event_id"] for c in data["changes"]} == {"h-1", "h-2"}
    change = next(c for c in data["changes"] if c["event_id"] == "h-2")
    assert change["old"] == {
        "decision": "allowed",
        "basis": "C.6",
        "reasons": [],
        "policy_version": "2026.1",
    }
    assert change["new"]["reasons"] == ["disclosure_without_consent"]
    nothing = run("replay", str(history), "--policy", str(SHIPPED_FILE))
    assert "no verdict would change" in nothing.stdout
