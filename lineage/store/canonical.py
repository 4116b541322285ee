"""The canonical byte form of a chained row, in Python and in ClickHouse SQL, from one declaration.

A chained row's **canonical bytes** are::

    <table>/v1\\n  netstring(value_1)  netstring(value_2) ...

over the table's chained, non-redactable columns in declaration order
(:attr:`Table.canonical`), where ``netstring(b) = <decimal length of b>:<b>``
and each value is first written as text:

=================  ==========================================================
column type        text
=================  ==========================================================
String             the UTF-8 bytes as stored
integer            decimal (``-1``, ``42``)
Bool               ``1`` or ``0``
DateTime64(3)      milliseconds since 1970-01-01T00:00:00Z, decimal
Array(String)      the concatenated netstrings of the items
=================  ==========================================================

The redactable columns (subject id, trace id, legal request reference) are
not in the canonical bytes. Instead ``subject_commitment`` is, and it is
``hex(SHA-256(salt || netstring(v_1) || netstring(v_2) ...))`` over the
redactable values with a random 16-byte salt kept in ``subject_salt``. An
erasure blanks the values and destroys the salt: the commitment (and with it
the chain) is unchanged, and nobody can test a pseudonym against it any more.

Hashes (RFC 9162 for the leaf, a plain SHA-256 link for the chain)::

    leaf_hash = SHA-256(0x00 || canonical bytes)
    row_hash  = SHA-256(prev_hash || leaf_hash)         prev of seq 0: 32 zero bytes

The same form is produced by :func:`encoder` (the writer) and by
:func:`canonical_sql` (``jejak verify`` recomputes every leaf inside
ClickHouse, so verification reads hashes, not rows). A test pins the two to
each other on the real engine.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from jejak.lineage.store.tables import Table

GENESIS = bytes(32)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
SALT_BYTES = 16


def netstring(data: bytes) -> bytes:
    return b"%d:%b" % (len(data), data)


def millis(value: datetime) -> int:
    """Milliseconds since the epoch; naive datetimes (as ClickHouse returns them) are UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MS


def _text(column_type: str) -> Callable[[Any], bytes]:
    if column_type.startswith("Array("):
        inner = _text(column_type[len("Array(") : -1])
        return lambda items: b"".join(netstring(inner(item)) for item in items)
    if column_type.startswith("DateTime64"):
        return lambda v: b"%d" % millis(v)
    if column_type == "Bool":
        return lambda v: b"1" if v else b"0"
    if column_type.lstrip("U").startswith("Int"):
        return lambda v: b"%d" % v
    return lambda v: v.encode()


def tag(table: Table) -> bytes:
    return f"{table.name}/v1\n".encode()


def encoder(table: Table) -> Callable[[Sequence[Any]], bytes]:
    """``values -> canonical bytes``; ``values`` are the canonical columns' values, in order."""
    head = tag(table)
    texts = [_text(c.type) for c in table.canonical]

    def encode(values: Sequence[Any]) -> bytes:
        return head + b"".join(netstring(text(v)) for text, v in zip(texts, values, strict=True))

    return encode


def commitment(salt: bytes, values: Sequence[str]) -> str:
    """The salted commitment to a row's redactable values ('' when they are all empty)."""
    if not any(values):
        return ""
    return hashlib.sha256(salt + b"".join(netstring(v.encode()) for v in values)).hexdigest()


def new_salt(values: Sequence[str]) -> bytes:
    return os.urandom(SALT_BYTES) if any(values) else b""


def leaf_hash(canonical: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + canonical).digest()


def link(prev: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(prev + leaf).digest()


# -- the same in ClickHouse SQL ---------------------------------------------------------


def _ns_sql(expr: str) -> str:
    return f"concat(toString(length({expr})), ':', {expr})"


def _text_sql(column_type: str, expr: str) -> str:
    if column_type.startswith("Array("):
        inner = _text_sql(column_type[len("Array(") : -1], "x")
        return f"arrayStringConcat(arrayMap(x -> {_ns_sql(inner)}, {expr}))"
    if column_type.startswith("DateTime64"):
        return f"toString(toUnixTimestamp64Milli({expr}))"
    if column_type == "Bool":
        return f"if({expr}, '1', '0')"
    return f"toString({expr})"


def canonical_sql(table: Table) -> str:
    """A SQL expression over a row of ``table`` giving its canonical bytes."""
    parts = [_ns_sql(_text_sql(c.type, f"`{c.name}`")) for c in table.canonical]
    head = tag(table).decode().replace("\n", "\\n")
    return f"concat('{head}', {', '.join(parts)})"


def leaf_hash_sql(table: Table) -> str:
    return f"lower(hex(SHA256(concat(char(0), {canonical_sql(table)}))))"


def commitment_sql(table: Table) -> str:
    """SQL recomputing ``subject_commitment`` from the salt and the redactable values."""
    values = [_ns_sql(f"`{c.name}`") for c in table.redactable]
    return (
        f"if(subject_salt = '', '', lower(hex(SHA256(concat(unhex(subject_salt), "
        f"{', '.join(values)})))))"
    )
