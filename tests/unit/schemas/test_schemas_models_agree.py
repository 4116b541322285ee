"""Each pydantic event model and its Avro schema agree field by field.

The models are the contract in Python and the schemas on the wire; a field that
exists in one and not the other, or is optional in one and required in the
other, would make valid events undecodable (or the other way round).
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from jejak.schemas.avro_schemas import shipped_catalog
from jejak.schemas.models import EVENT_KINDS

# filled in by the producer side rather than given a schema default: the
# schema requires them on the wire, the model computes them
COMPUTED = {"event_id", "kind"}


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        (inner,) = args
        return inner, nullable
    return annotation, False


def _base(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _check_type(where: str, annotation: Any, avro: Any, named: dict[str, Any]) -> None:
    annotation = _base(annotation)
    if isinstance(avro, str) and avro in named:
        avro = named[avro]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        assert isinstance(avro, dict) and avro["type"] == "record", where
        _check_record(where, annotation, avro, named)
    elif annotation is str:
        assert avro == "string", where
    elif annotation is bool:
        assert avro == "boolean", where
    elif annotation is datetime:
        assert avro == {"type": "long", "logicalType": "timestamp-millis"}, where
    elif typing.get_origin(annotation) is Literal:
        assert avro == "string", f"{where}: a closed set is a string checked by the model"
    elif typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        assert isinstance(avro, dict) and avro["type"] == "array", where
        _check_type(f"{where}[]", item, avro["items"], named)
    else:
        raise AssertionError(f"{where}: no Avro mapping for {annotation!r}")


def _model_default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def _check_record(
    where: str, model: type[BaseModel], record: dict[str, Any], named: dict[str, Any]
) -> None:
    avro_fields = {f["name"]: f for f in record["fields"]}
    assert set(model.model_fields) == set(avro_fields), (
        f"{where or model.__name__}: model-only {sorted(set(model.model_fields) - set(avro_fields))}, "
        f"schema-only {sorted(set(avro_fields) - set(model.model_fields))}"
    )
    for name, info in model.model_fields.items():
        field = avro_fields[name]
        path = f"{where}.{name}" if where else name
        inner, nullable = _strip_none(info.annotation)
        avro_type = field["type"]
        if nullable:
            assert isinstance(avro_type, list) and avro_type[0] == "null" and len(avro_type) == 2, (
                path
            )
            avro_type = avro_type[1]
        else:
            assert not isinstance(avro_type, list), (
                f"{path}: nullable in Avro, required in the model"
            )
        _check_type(path, inner, avro_type, named)
        if name in COMPUTED and not where:
            assert "default" not in field, path
        elif info.is_required():
            assert "default" not in field, f"{path}: required in the model, defaulted in Avro"
        else:
            assert "default" in field, f"{path}: optional in the model, required in Avro"
            assert field["default"] == _model_default(info), path


@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_model_and_schema_agree(kind: str) -> None:
    schema = shipped_catalog().current(kind)
    named = schema.parsed["__named_schemas"]
    _check_record("", EVENT_KINDS[kind], schema.definition, named)


@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_closed_sets_are_listed_in_the_doc(kind: str) -> None:
    """Strings that stand for a closed set say which values they take."""
    schema = shipped_catalog().current(kind)
    docs = {f["name"]: f["doc"] for f in schema.definition["fields"]}
    for name, info in EVENT_KINDS[kind].model_fields.items():
        annotation = _base(_strip_none(info.annotation)[0])
        if typing.get_origin(annotation) is Literal and name != "kind":
            for value in typing.get_args(annotation):
                assert f'"{value}"' in docs[name], f"{kind}.{name}: doc does not mention {value!r}"


def test_the_check_catches_a_mismatch() -> None:
    """Not vacuous: a field made required in the schema, or dropped, fails the check."""
    import copy

    schema = shipped_catalog().current("use")
    named = schema.parsed["__named_schemas"]
    broken = copy.deepcopy(schema.definition)
    channel = next(f for f in broken["fields"] if f["name"] == "channel")
    channel["type"], _ = "string", channel.pop("default")
    with pytest.raises(AssertionError, match="channel"):
        _check_record("", EVENT_KINDS["use"], broken, named)
    broken["fields"] = [f for f in broken["fields"] if f["name"] != "channel"]
    with pytest.raises(AssertionError, match="model-only"):
        _check_record("", EVENT_KINDS["use"], broken, named)
