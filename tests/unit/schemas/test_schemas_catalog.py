"""The shipped Avro schemas: one per kind, documented, fingerprinted, evolvable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form
from schemas_helpers import SHIPPED, field_of, load_avsc, write_avsc

from jejak.errors import SchemaError
from jejak.schemas import EVENT_KINDS, fingerprint_of, schema_for
from jejak.schemas.avro_schemas import (
    NAMESPACE,
    SchemaCatalog,
    canonical_fingerprint,
    shipped_catalog,
)

PINNED_FINGERPRINTS = {
    "account_closed": "113aa39f507fa655",
    "collection": "7ee440308bf76c2b",
    "consent": "a9151568f25065be",
    "deletion": "fc3add61e46ef732",
    "disclosure": "102acf0041c39c7a",
    "policy_accepted": "5da118a1e779516c",
    "subject_request": "8c1eb91201dce8bb",  # v2: request_ref and status
    "use": "1f9734c6a2c53c0d",
}


def test_one_schema_per_event_kind() -> None:
    assert set(shipped_catalog().kinds) == set(EVENT_KINDS)


def test_fingerprints_are_pinned() -> None:
    """A changed fingerprint is a new wire format: it needs a new version file."""
    assert {k: fingerprint_of(k) for k in EVENT_KINDS} == PINNED_FINGERPRINTS


def test_fingerprint_is_crc64_avro_of_the_parsing_canonical_form() -> None:
    # the Avro specification's test vector: "null" -> 7195948357588979594 (Java long)
    assert canonical_fingerprint('"null"') == (7195948357588979594).to_bytes(8, "little")
    for schema in shipped_catalog():
        raw = json.loads(Path(schema.source).read_text(encoding="utf-8"))
        canonical = to_parsing_canonical_form(raw)
        assert schema.canonical_form == canonical
        assert schema.fingerprint_hex == fingerprint(canonical, "CRC-64-AVRO")
        assert len(schema.fingerprint) == 8


def test_schema_for_and_versions() -> None:
    use = schema_for("use")
    assert use is shipped_catalog().current("use") is schema_for("use", 1)
    assert use.full_name == f"{NAMESPACE}.Use"
    assert use.label == "use.v1"
    with pytest.raises(SchemaError, match="known kinds"):
        schema_for("purchase")
    with pytest.raises(SchemaError, match="versions 1 to 1"):
        schema_for("use", 2)


def _walk_fields(record: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    for field in record["fields"]:
        where = f"{path}{field['name']}"
        found.append((where, field))
        types = field["type"] if isinstance(field["type"], list) else [field["type"]]
        for t in types:
            if isinstance(t, dict) and t.get("type") == "record":
                found.extend(_walk_fields(t, f"{where}."))
    return found


@pytest.mark.parametrize("name", sorted(p.name for p in SHIPPED.glob("*.avsc")))
def test_every_record_and_field_has_a_doc(name: str) -> None:
    definition = load_avsc(SHIPPED, name)
    assert definition["namespace"] == NAMESPACE
    assert definition.get("doc")
    for where, field in _walk_fields(definition):
        assert field.get("doc"), f"{name}: {where} has no doc"


@pytest.mark.parametrize("name", sorted(p.name for p in SHIPPED.glob("*.avsc")))
def test_nullable_fields_are_null_first_and_default_null(name: str) -> None:
    """Null first, default null: the field can later be removed or added compatibly."""
    for where, field in _walk_fields(load_avsc(SHIPPED, name)):
        if isinstance(field["type"], list):
            assert field["type"][0] == "null", f"{name}: {where}"
            assert "default" in field and field["default"] is None, f"{name}: {where}"


def test_shared_named_types_are_identical_in_every_file() -> None:
    producers = set()
    for name in SHIPPED.glob("*.avsc"):
        producer = field_of(load_avsc(SHIPPED, name.name), "producer")
        producers.add(json.dumps(producer, sort_keys=True))
    assert len(producers) == 1


def test_envelope_comes_first_in_the_same_order() -> None:
    envelope = [
        "event_id",
        "kind",
        "occurred_at",
        "subject_id",
        "producer",
        "trace_id",
        "policy_version",
    ]
    for schema in shipped_catalog():
        names = [f["name"] for f in schema.definition["fields"]]
        assert names[: len(envelope)] == envelope, schema.label
        occurred_at = field_of(schema.definition, "occurred_at")
        assert occurred_at["type"] == {"type": "long", "logicalType": "timestamp-millis"}


def test_loading_refuses_broken_folders(schema_dir: Path) -> None:
    (schema_dir / "use.v3.avsc").write_text((schema_dir / "use.v1.avsc").read_text())
    with pytest.raises(SchemaError, match=r"use: versions must run 1, 2, 3"):
        SchemaCatalog.load(schema_dir)
    (schema_dir / "use.v3.avsc").unlink()

    renamed = load_avsc(schema_dir, "use.v1.avsc")
    renamed["name"] = "Usage"
    write_avsc(schema_dir, "use.v2.avsc", renamed)
    with pytest.raises(SchemaError, match="must keep the record name"):
        SchemaCatalog.load(schema_dir)
    (schema_dir / "use.v2.avsc").unlink()

    (schema_dir / "use.latest.avsc").write_text("{}")
    with pytest.raises(SchemaError, match=r"named <kind>\.v<N>\.avsc"):
        SchemaCatalog.load(schema_dir)
    (schema_dir / "use.latest.avsc").unlink()

    (schema_dir / "use.v2.avsc").write_text("{not json")
    with pytest.raises(SchemaError, match="use.v2.avsc: cannot read"):
        SchemaCatalog.load(schema_dir)
    (schema_dir / "use.v2.avsc").write_text(
        '{"type": "record", "name": "Use", "fields": [{"name": "x", "type": "strin"}]}'
    )
    with pytest.raises(SchemaError, match="not a valid Avro schema"):
        SchemaCatalog.load(schema_dir)
    (schema_dir / "use.v2.avsc").write_text('"string"')
    with pytest.raises(SchemaError, match="must be an Avro record"):
        SchemaCatalog.load(schema_dir)


def test_a_doc_only_version_shares_the_fingerprint(schema_dir: Path) -> None:
    edited = load_avsc(schema_dir, "use.v1.avsc")
    edited["doc"] = "Reworded."
    write_avsc(schema_dir, "use.v2.avsc", edited)
    catalog = SchemaCatalog.load(schema_dir)
    v1, v2 = catalog.versions("use")
    assert v1.fingerprint == v2.fingerprint
    assert catalog.by_fingerprint(v1.fingerprint) is v2
