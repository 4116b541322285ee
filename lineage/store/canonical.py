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
FixedString(n)     its n bytes (a hash)
integer            decimal (``-1``, ``42``)
Bool               ``1`` or ``0``
DateTime64(3)      milliseconds since 1970-01-01T00:00:00Z, decimal
Array(String)      the concatenated netstrings of the items
=================  ==========================================================

The redactable columns (subject id, trace id, legal request reference) are
not in the canonical bytes. Instead ``subject_commitment`` is, and it is
``hex(SHA-256(salt || netstring(v_1) || netstring(v_2) ...))`` over the
redactable values with a random 16-byte salt kept in ``subject_salt``
(stored as 32 raw bytes; a row that names nobody has 32 zero bytes, and its
salt is 16 zero bytes, as is the salt an erasure destroyed). An
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
import threading
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
    if column_type.startswith("FixedString"):
        return lambda v: v
    return lambda v: v.encode()


def tag(table: Table) -> bytes:
    return f"{table.name}/v1\n".encode()


def reference_encoder(table: Table) -> Callable[[Sequence[Any]], bytes]:
    """``values -> canonical bytes``, written plainly: what :func:`encoder` must equal."""
    head = tag(table)
    texts = [_text(c.type) for c in table.canonical]

    def encode(values: Sequence[Any]) -> bytes:
        return head + b"".join(netstring(text(v)) for text, v in zip(texts, values, strict=True))

    return encode


def _text_code(column_type: str, expr: str) -> str:
    if column_type.startswith("Array("):
        inner = _text_code(column_type[len("Array(") : -1], "y")
        return f'b"".join([b"%d:%b" % (len(z), z) for z in [{inner} for y in {expr}]])'
    if column_type.startswith("DateTime64"):
        return f'b"%d" % millis({expr})'
    if column_type == "Bool":
        return f'(b"1" if {expr} else b"0")'
    if column_type.lstrip("U").startswith("Int"):
        return f'b"%d" % {expr}'
    if column_type.startswith("FixedString"):
        return expr
    return f"{expr}.encode()"


def encoder(
    table: Table, positions: Sequence[int] | None = None
) -> Callable[[Sequence[Any]], bytes]:
    """``values -> canonical bytes``, compiled from the declaration into one function.

    ``values`` are the canonical columns' values, in order; or, with
    ``positions``, a whole row in which the canonical columns sit at those
    indexes (the writer passes its rows as they are). Equal to
    :func:`reference_encoder` (a test pins the two together).
    """
    columns = table.canonical
    at = list(positions) if positions is not None else list(range(len(columns)))
    lines = [f"    x{i} = {_text_code(c.type, f'v[{at[i]}]')}" for i, c in enumerate(columns)]
    args = ", ".join(f"len(x{i}), x{i}" for i in range(len(columns)))
    code = "def encode(v):\n" + "\n".join(lines) + f"\n    return FORMAT % ({args})\n"
    env: dict[str, Any] = {"FORMAT": tag(table) + b"%d:%b" * len(columns), "millis": millis}
    exec(compile(code, f"<canonical encoder {table.name}>", "exec"), env)
    return env["encode"]  # type: ignore[no-any-return]


NO_SUBJECT = bytes(32)
NO_SALT = bytes(SALT_BYTES)


def commitment(salt: bytes, values: Sequence[str]) -> bytes:
    """The salted commitment to a row's redactable values (zeros when they are all empty)."""
    if not any(values):
        return NO_SUBJECT
    return hashlib.sha256(salt + b"".join(netstring(v.encode()) for v in values)).digest()


class _Salts(threading.local):
    """Salts cut from one ``os.urandom`` draw of 4,096 at a time, per thread.

    A draw per row was a system call (which releases the GIL) for every event:
    about 9% of the consumer's samples. The bytes are the same kernel randomness.
    """

    def __init__(self) -> None:
        self.pool = b""
        self.at = 0

    def take(self) -> bytes:
        if self.at >= len(self.pool):
            self.pool, self.at = os.urandom(SALT_BYTES * 4096), 0
        self.at += SALT_BYTES
        return self.pool[self.at - SALT_BYTES : self.at]


_SALTS = _Salts()
# a forked child must not hand out the salts its parent has already drawn
os.register_at_fork(after_in_child=lambda: setattr(_SALTS, "pool", b""))


def new_salt(values: Sequence[str]) -> bytes:
    return _SALTS.take() if any(values) else NO_SALT


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
    if column_type.startswith("FixedString"):
        return expr  # toString() would drop trailing zero bytes; concat keeps them all
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
        f"if(empty(subject_salt), toFixedString('', 32), SHA256(concat(subject_salt, "
        f"{', '.join(values)})))"
    )
