"""The FULL_TRANSITIVE checker and ``jejak schemas`` commands, on shipped and planted schemas."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from schemas_helpers import field_of, load_avsc, plant_old_disclosure, write_avsc

from jejak.cli import main
from jejak.schemas.avro_schemas import SchemaCatalog, shipped_catalog
from jejak.schemas.cli import schemas
from jejak.schemas.compat import Break, check_catalog, check_pair, reader_problems

AddVersion = Callable[[str, Callable[[dict[str, Any]], None]], Path]


def _breaks(folder: Path) -> list[Break]:
    return check_catalog(SchemaCatalog.load(folder))


def test_the_shipped_schemas_pass() -> None:
    assert check_catalog(shipped_catalog()) == []


def test_a_planted_compatible_evolution_passes(schema_dir: Path) -> None:
    plant_old_disclosure(schema_dir)
    assert _breaks(schema_dir) == []


def test_adding_a_nullable_field_with_a_default_passes(add_version: AddVersion) -> None:
    def add(d: dict[str, Any]) -> None:
        d["fields"].append(
            {"name": "campaign", "type": ["null", "string"], "default": None, "doc": "x"}
        )

    assert _breaks(add_version("use", add)) == []


# each: an edit that makes use.v2 from use.v1, the directions that break, and the path
PLANTED: dict[str, tuple[Callable[[dict[str, Any]], None], set[str], str]] = {
    "field added without default": (
        lambda d: d["fields"].append({"name": "campaign", "type": "string", "doc": "x"}),
        {"backward"},
        "campaign",
    ),
    "field removed without default": (
        lambda d: d.__setitem__("fields", [f for f in d["fields"] if f["name"] != "purpose"]),
        {"forward"},
        "purpose",
    ),
    "type changed": (
        lambda d: field_of(d, "purpose").__setitem__("type", "int"),
        {"backward", "forward"},
        "purpose",
    ),
    "made nullable: old readers cannot read null": (
        lambda d: field_of(d, "public").update(type=["null", "boolean"], default=None),
        {"forward"},
        "public",
    ),
    "nullable made required": (
        lambda d: (
            field_of(d, "channel").__setitem__("type", "string"),
            field_of(d, "channel").pop("default"),
        ),
        {"backward"},
        "channel",
    ),
    "timestamp unit changed": (
        lambda d: field_of(d, "occurred_at").__setitem__(
            "type", {"type": "long", "logicalType": "timestamp-micros"}
        ),
        {"backward", "forward"},
        "occurred_at",
    ),
    "nested field type changed": (
        lambda d: field_of(field_of(d, "producer")["type"][1], "version").__setitem__(
            "type", "long"
        ),
        {"backward", "forward"},
        "producer.version",
    ),
    "array items changed": (
        lambda d: field_of(d, "inputs").__setitem__("type", {"type": "array", "items": "long"}),
        {"backward", "forward"},
        "inputs[]",
    ),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_breaks_are_found(name: str, add_version: AddVersion) -> None:
    edit, directions, path = PLANTED[name]
    # (a changed Producer is also a shared-type break: tested on its own below)
    breaks = [b for b in _breaks(add_version("use", edit)) if b.direction != "shared_type"]
    assert {b.direction for b in breaks} == directions
    for found in breaks:
        assert (found.kind, found.old, found.new) == ("use", 1, 2)
        assert found.problem.path == path
        text = str(found)
        assert text.startswith("use v1 -> v2") and path in text


def test_transitive_a_break_with_an_older_version_counts(add_version: AddVersion) -> None:
    """v2 only rewords a doc, v3 drops a required field: v3 breaks with both v1 and v2."""
    add_version("use", lambda d: field_of(d, "channel").__setitem__("doc", "reworded"))
    folder = add_version(
        "use", lambda d: d.__setitem__("fields", [f for f in d["fields"] if f["name"] != "purpose"])
    )
    pairs = {(b.old, b.new) for b in _breaks(folder)}
    assert pairs == {(1, 3), (2, 3)}


def test_enum_and_record_rules() -> None:
    from jejak.schemas.avro_schemas import AvroSchema

    def schema(fields: list[dict[str, Any]], name: str = "R") -> AvroSchema:
        return AvroSchema.from_definition(
            "r", 1, {"type": "record", "name": name, "fields": fields}, name
        )

    colours = {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]}
    fewer = {"type": "enum", "name": "Colour", "symbols": ["RED"]}
    defaulted = {"type": "enum", "name": "Colour", "symbols": ["RED", "OTHER"], "default": "OTHER"}
    old = schema([{"name": "c", "type": colours}])
    assert [p.rule for p in reader_problems(schema([{"name": "c", "type": fewer}]), old)] == [
        "missing_symbol"
    ]
    assert reader_problems(schema([{"name": "c", "type": defaulted}]), old) == []
    assert reader_problems(old, schema([{"name": "c", "type": fewer}])) == []

    assert [p.rule for p in reader_problems(schema([], "S"), schema([]))] == ["name_changed"]
    aliased = AvroSchema.from_definition(
        "r", 2, {"type": "record", "name": "S", "aliases": ["R"], "fields": []}, "S"
    )
    assert reader_problems(aliased, schema([])) == []

    renamed_field = schema([{"name": "b", "type": "long", "aliases": ["a"]}])
    assert (
        reader_problems(renamed_field, schema([{"name": "a", "type": "int"}])) == []
    )  # int -> long
    assert [
        p.rule
        for p in reader_problems(
            schema([{"name": "a", "type": "int"}]), schema([{"name": "a", "type": "long"}])
        )
    ] == ["type_changed"]

    narrow = schema([{"name": "u", "type": ["null", "string"]}])
    wide = schema([{"name": "u", "type": ["null", "string", "long"]}])
    assert reader_problems(wide, narrow) == []
    problems = reader_problems(narrow, wide)
    assert [p.rule for p in problems] == ["union_branch"] and problems[0].path == "u"

    fixed4 = schema([{"name": "f", "type": {"type": "fixed", "name": "F", "size": 4}}])
    fixed8 = schema([{"name": "f", "type": {"type": "fixed", "name": "F", "size": 8}}])
    assert [p.rule for p in reader_problems(fixed8, fixed4)] == ["size_changed"]


def test_shared_named_types_must_match_across_kinds(schema_dir: Path) -> None:
    use = load_avsc(schema_dir, "use.v1.avsc")
    producer = field_of(use, "producer")["type"][1]
    producer["fields"].append({"name": "host", "type": ["null", "string"], "default": None})
    write_avsc(schema_dir, "use.v2.avsc", use)
    breaks = _breaks(schema_dir)
    assert [b.direction for b in breaks] == ["shared_type"]
    assert "dev.jejak.events.Producer differs" in str(breaks[0])


def test_check_pair_reports_both_directions() -> None:
    use = shipped_catalog().current("use")
    assert check_pair(use, use) == []


# ------------------------------------------------------------------ CLI


def test_cli_check_passes_on_the_shipped_schemas() -> None:
    result = CliRunner().invoke(schemas, ["check"])
    assert result.exit_code == 0, result.output
    assert "ok: 8 kinds, 9 schema versions" in result.output  # subject_request v2


def test_cli_check_fails_on_a_planted_break(add_version: AddVersion) -> None:
    folder = add_version("use", PLANTED["field added without default"][0])
    result = CliRunner().invoke(schemas, ["check", "--dir", str(folder)])
    assert result.exit_code == 1
    assert "use v1 -> v2 (backward): v2 adds field 'campaign' without a default" in result.output
    assert "1 incompatible schema change(s)" in result.output


def test_cli_check_names_a_removed_field(add_version: AddVersion) -> None:
    folder = add_version("use", PLANTED["field removed without default"][0])
    result = CliRunner().invoke(schemas, ["check", "--dir", str(folder)])
    assert result.exit_code == 1
    assert "v2 drops field 'purpose', which v1 requires" in result.output


def test_cli_through_the_jejak_entry_point(
    add_version: AddVersion, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = add_version("use", PLANTED["type changed"][0])
    with pytest.raises(SystemExit) as exited:
        main(["schemas", "check", "--dir", str(folder)])
    assert exited.value.code == 1
    assert "purpose: int is written but the reader expects string" in capsys.readouterr().err


def test_cli_list_and_show() -> None:
    runner = CliRunner()
    listed = runner.invoke(schemas, ["list"])
    assert listed.exit_code == 0
    assert "disclosure" in listed.output and "102acf0041c39c7a" in listed.output
    rows = [
        json.loads(line) for line in runner.invoke(schemas, ["list", "--json"]).output.splitlines()
    ]
    assert {r["kind"] for r in rows} == set(shipped_catalog().kinds)
    current = {r["kind"]: r["version"] for r in rows if r["current"]}
    assert current == {k: 2 if k == "subject_request" else 1 for k in shipped_catalog().kinds}

    shown = runner.invoke(schemas, ["show", "consent"])
    assert json.loads(shown.output) == shipped_catalog().current("consent").definition
    canonical = runner.invoke(schemas, ["show", "consent", "--canonical"])
    assert canonical.output.strip() == shipped_catalog().current("consent").canonical_form
    missing = runner.invoke(schemas, ["show", "purchase"])
    assert missing.exit_code == 1 and "known kinds" in missing.output
    bad_version = runner.invoke(schemas, ["show", "use", "--version", "9"])
    assert bad_version.exit_code == 1 and "versions 1 to 1" in bad_version.output


def test_cli_reports_a_broken_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(schemas, ["list", "--dir", str(tmp_path)])
    assert result.exit_code == 1 and "no <kind>.v<N>.avsc files" in result.output


def _named(name: str, namespace: str | None = None, aliases: list[str] | None = None) -> Any:
    from jejak.schemas.avro_schemas import AvroSchema

    definition: dict[str, Any] = {"type": "record", "name": name, "fields": []}
    if namespace is not None:
        definition["namespace"] = namespace
    if aliases is not None:
        definition["aliases"] = aliases
    return AvroSchema.from_definition("r", 1, definition, name)


# (reader, writer, compatible) by the rule of Java's SchemaCompatibility.schemaNameEquals:
# the same unqualified name, or the writer's full name among the reader's aliases. Java's
# checkReaderWriterCompatibility (Avro 1.12.0) gives the same answer for each row.
ALIASES = [
    (_named("New", "dev.jejak", ["Old"]), _named("Old", "dev.jejak"), True),
    (_named("New", "dev.jejak", ["dev.jejak.Old"]), _named("Old", "dev.jejak"), True),
    (_named("New", "dev.jejak", ["other.Old"]), _named("Old", "other"), True),
    (_named("New", "dev.jejak", ["other.Old"]), _named("Old", "dev.jejak"), False),
    (_named("New", "dev.jejak", ["Old"]), _named("Old", "other"), False),
    (_named("New", "dev.jejak", ["Old"]), _named("Old"), False),
    (_named("New", None, ["Old"]), _named("Old"), True),
    (_named("Same", "dev.jejak"), _named("Same", "other"), True),  # unqualified names match
]


@pytest.mark.parametrize(("reader", "writer", "compatible"), ALIASES)
def test_aliases_are_compared_by_full_name(reader: Any, writer: Any, compatible: bool) -> None:
    problems = reader_problems(reader, writer)
    if compatible:
        assert problems == []
    else:
        assert [p.rule for p in problems] == ["name_changed"]
        assert "alias of the full name" in problems[0].detail
