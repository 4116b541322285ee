"""Event models built from decoded Avro records without pydantic's per-event validation.

Why: the consumer decodes every event it stores, and ``model_validate`` on a
record the compiled Avro reader has just produced was the largest single cost
of decoding (issue 10: about half of it). The reader already yields the
values in their final Python types (``str``, ``bool``, an aware ``datetime``,
lists, a dict per nested record), so most of pydantic's work is re-checking
types that cannot be wrong.

How: for each event model, one straight-line function is generated from the
model's own declarations (each field's annotation, its ``Field`` length
limits, its ``BeforeValidator``/``AfterValidator`` functions, ``Literal``
values, ``Optional``, ``list``, nested models). Nothing is declared twice: a
new rule on a field is picked up here by regenerating, and a construct this
compiler does not know leaves that model without a builder (always validated).
The function checks each value as the validating path would: the exact type
the reader yields, the lengths, the literal values, and each validator
function, called directly. If every check passes it builds the model as
``model_construct`` would (:func:`_instance`, the one place that writes
pydantic's instance attributes; a test pins it to ``model_validate``); if any
check fails it returns None, and the codec validates the record with pydantic,
which raises the error the dead letter names. So this path may refuse more
than validation does, never less, and what it builds equals what validation
builds (``tests/unit/schemas/test_schemas_trusted.py`` decodes simulated and
generated events both ways, and breaks each rule to see both paths agree).

Memo: a validator that is a pure function of its string (:data:`PURE_RULES`:
the dotted-name, scope, clause and personal-identifier rules) is not run again
for a value the same field has already accepted. Vocabulary (categories,
purposes, producer names and versions, dataset names) repeats across events,
ids do not; each field remembers at most :data:`MEMO_SIZE` values, the first it
sees, so memory stays bounded whatever arrives.
"""

from __future__ import annotations

import logging
import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeAlias

from annotated_types import MaxLen, MinLen
from pydantic import AfterValidator, BaseModel, BeforeValidator, PlainSerializer
from pydantic.fields import FieldInfo

from jejak.schemas.codegen import CodeWriter
from jejak.schemas.models import _clause, _dotted, _no_identifier, _scope

log = logging.getLogger(__name__)

Builder: TypeAlias = Callable[[dict[str, Any]], BaseModel | None]
"""``build(record)``: the model, or None when a check fails (then validate the record)."""

PURE_RULES: frozenset[Callable[[str], str]] = frozenset({_no_identifier, _dotted, _scope, _clause})
"""Validators whose verdict depends on the string alone: a field may remember what passed."""

MEMO_SIZE = 1024
"""Most values one field remembers as accepted (the first ones seen; then no more are added)."""

_CONFIG_HARMLESS = frozenset({"extra", "frozen", "hide_input_in_errors", "title"})
"""Model settings that change nothing for a record holding exactly the model's fields."""


class UnsupportedModel(Exception):
    """The model uses something the compiler does not handle: it is always validated."""


_new = object.__new__
_set = object.__setattr__


def _instance(cls: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """The model with ``values`` (every field, in field order), as ``model_validate`` leaves it.

    What ``model_construct`` does, minus its per-field alias and default
    lookups, which a record holding every field does not need; only for models
    :func:`compile_builder` accepted (no private attributes, no extra fields,
    no ``model_post_init``, not a root model).
    """
    m = _new(cls)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", set(values))
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


class _Gen(CodeWriter):
    """One model's builder being generated (:class:`CodeWriter` holds its source)."""

    def __init__(self) -> None:
        super().__init__({"_instance": _instance})

    # ------------------------------------------------------------- types

    def value(self, annotation: Any, metadata: list[Any], var: str, depth: int) -> None:
        """Code that checks (and, like the validators, may replace) ``var``, or returns None."""
        while typing.get_origin(annotation) is typing.Annotated:
            inner, *extra = typing.get_args(annotation)
            annotation, metadata = inner, [*extra, *metadata]
        lo, hi, before, after = _split(metadata)
        emit = self.emit
        if _is_union(annotation):
            branches = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(branches) != 1 or len(typing.get_args(annotation)) != 2:
                raise UnsupportedModel("a union other than X | None")
            if before or after:
                raise UnsupportedModel("validators on an optional field")
            inner_metadata: list[Any] = [MinLen(lo)] if lo else []
            if hi is not None:
                inner_metadata.append(MaxLen(hi))
            if inner_metadata and typing.get_origin(branches[0]) is typing.Annotated:
                raise UnsupportedModel("length limits both outside and inside an optional")
            emit(depth, f"if {var} is not None:")
            self.value(branches[0], inner_metadata, var, depth + 1)
            return
        if len(before) > 1:
            raise UnsupportedModel("more than one BeforeValidator")
        for rule in before:
            emit(depth, f"{var} = {self.constant(rule)}({var})")
        if annotation is str:
            self.text(var, lo, hi, after, depth)
            return
        if lo or hi is not None:
            if typing.get_origin(annotation) is not list:
                raise UnsupportedModel(f"length limits on {annotation!r}")
        if annotation is bool or annotation is datetime:
            emit(depth, f"if type({var}) is not {self.constant(annotation)}:")
            emit(depth + 1, "return None")
        elif typing.get_origin(annotation) is typing.Literal:
            allowed = typing.get_args(annotation)
            if not all(type(a) is str for a in allowed):
                raise UnsupportedModel("a Literal of anything but strings")
            emit(
                depth,
                f"if type({var}) is not str or {var} not in {self.constant(frozenset(allowed))}:",
            )
            emit(depth + 1, "return None")
        elif typing.get_origin(annotation) is list:
            (item_type,) = typing.get_args(annotation)
            emit(depth, f"if type({var}) is not list:")
            emit(depth + 1, "return None")
            self.length(var, lo, hi, depth)
            items, item = self.fresh("l"), self.fresh("i")
            emit(depth, f"{items} = []")
            emit(depth, f"for {item} in {var}:")
            self.value(item_type, [], item, depth + 1)
            emit(depth + 1, f"{items}.append({item})")
            emit(depth, f"{var} = {items}")
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            emit(depth, f"if type({var}) is not dict:")
            emit(depth + 1, "return None")
            self.model(annotation, var, var, depth)
        else:
            raise UnsupportedModel(f"type {annotation!r}")
        for rule in after:
            emit(depth, f"{var} = {self.constant(rule)}({var})")

    def text(self, var: str, lo: int, hi: int | None, after: list[Any], depth: int) -> None:
        emit = self.emit
        memo = after and all(rule in PURE_RULES for rule in after)
        if memo:
            seen = self.constant(set())
            emit(depth, f"if type({var}) is not str:")
            emit(depth + 1, "return None")
            emit(depth, f"if {var} not in {seen}:")
            depth += 1
        else:
            emit(depth, f"if type({var}) is not str:")
            emit(depth + 1, "return None")
        self.length(var, lo, hi, depth)
        if not after:
            return
        checked = self.fresh("w")
        emit(depth, f"{checked} = {var}")
        for rule in after:
            emit(depth, f"{checked} = {self.constant(rule)}({checked})")
        if memo:
            emit(depth, f"if {checked} is not {var}:")
            emit(depth + 1, f"{var} = {checked}")
            emit(depth, f"elif len({seen}) < {MEMO_SIZE}:")
            emit(depth + 1, f"{seen}.add({var})")
        else:
            emit(depth, f"{var} = {checked}")

    def length(self, var: str, lo: int, hi: int | None, depth: int) -> None:
        if hi is not None:
            self.emit(depth, f"if not {lo} <= len({var}) <= {hi}:")
            self.emit(depth + 1, "return None")
        elif lo:
            self.emit(depth, f"if len({var}) < {lo}:")
            self.emit(depth + 1, "return None")

    def model(self, cls: type[BaseModel], source: str, target: str, depth: int) -> None:
        """Code that builds ``cls`` from the dict in ``source`` into ``target``."""
        _check_model(cls)
        fields = cls.model_fields
        emit = self.emit
        emit(depth, f"if len({source}) != {len(fields)}:")  # extra or missing keys: validate
        emit(depth + 1, "return None")
        names: list[tuple[str, str]] = []
        for name, field in fields.items():
            _check_field(cls, name, field)
            var = self.fresh()
            emit(depth, f"{var} = {source}[{name!r}]")
            self.value(field.annotation, list(field.metadata), var, depth)
            names.append((name, var))
        values = ", ".join(f"{name!r}: {var}" for name, var in names)
        emit(depth, f"{target} = _instance({self.constant(cls)}, {{{values}}})")

    def build(self, name: str, source_name: str) -> Any:
        return self.function(name, source_name, {})


def _split(metadata: list[Any]) -> tuple[int, int | None, list[Any], list[Any]]:
    """(min length, max length, before validators, after validators) of a field's metadata.

    Length limits must come before any validator (as the models write them):
    pydantic applies limits that follow a validator to the validator's result.
    """
    flat: list[Any] = []
    for item in metadata:
        if isinstance(item, FieldInfo):  # Field(max_length=...) inside Annotated[...]
            if item.alias or item.validation_alias or item.discriminator:
                raise UnsupportedModel("an alias or discriminator inside a type")
            flat.extend(item.metadata)
        else:
            flat.append(item)
    lo, hi = 0, None
    before: list[Any] = []
    after: list[Any] = []
    for item in flat:
        if isinstance(item, MinLen | MaxLen):
            if before or after:
                raise UnsupportedModel("a length limit after a validator")
            if isinstance(item, MinLen):
                lo = max(lo, item.min_length)
            else:
                hi = item.max_length if hi is None else min(hi, item.max_length)
        elif isinstance(item, BeforeValidator):
            if after:
                raise UnsupportedModel("a BeforeValidator after an AfterValidator")
            before.append(item.func)
        elif isinstance(item, AfterValidator):
            after.append(item.func)
        elif isinstance(item, PlainSerializer):
            continue  # output only
        else:
            raise UnsupportedModel(f"field metadata {item!r}")
    return lo, hi, before, after


def _check_model(cls: type[BaseModel]) -> None:
    decorators = cls.__pydantic_decorators__
    if (
        decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
    ):
        raise UnsupportedModel(f"{cls.__name__} has validator methods")
    if cls.__pydantic_post_init__ or cls.__private_attributes__ or cls.__pydantic_root_model__:
        raise UnsupportedModel(f"{cls.__name__} has post-init, private attributes or a root")
    if cls.__pydantic_generic_metadata__["origin"] is not None:
        raise UnsupportedModel(f"{cls.__name__} is generic")
    for key, setting in cls.model_config.items():
        if key in _CONFIG_HARMLESS or (key == "str_strip_whitespace" and not setting):
            continue
        raise UnsupportedModel(f"{cls.__name__} sets {key}")
    if cls.model_config.get("extra") == "allow":
        raise UnsupportedModel(f"{cls.__name__} allows extra fields")


def _check_field(cls: type[BaseModel], name: str, field: FieldInfo) -> None:
    if field.alias is not None or field.validation_alias is not None:
        raise UnsupportedModel(f"{cls.__name__}.{name} has an alias")
    if field.discriminator is not None:
        raise UnsupportedModel(f"{cls.__name__}.{name} has a discriminator")


def compile_builder(cls: type[BaseModel]) -> Builder:
    """The builder of ``cls`` (see the module doc); :class:`UnsupportedModel` if there is none."""
    gen = _Gen()
    gen.emit(0, "def build(record):")
    gen.emit(1, "try:")
    gen.emit(2, "if type(record) is not dict:")
    gen.emit(3, "return None")
    gen.model(cls, "record", "result", 2)
    gen.emit(2, "return result")
    # a validator that refuses the value, or a key the record lacks: the validating
    # path decides, and raises the error it always raises
    gen.emit(1, "except Exception:")
    gen.emit(2, "return None")
    builder: Builder = gen.build("build", f"<event builder {cls.__name__}>")
    return builder


def builder_for(cls: type[BaseModel]) -> Builder | None:
    """The builder of ``cls``, or None (always validated) when it cannot be compiled."""
    try:
        return compile_builder(cls)
    except UnsupportedModel as exc:
        log.info("no trusted builder for %s (%s): every event is validated", cls.__name__, exc)
    except Exception as exc:  # not foreseen: validation, slower, rather than a crash
        log.warning(
            "no trusted builder for %s (%s: %s): every event is validated",
            cls.__name__,
            type(exc).__name__,
            exc,
        )
    return None
