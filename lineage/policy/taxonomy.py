"""Hierarchical names, written once: ``payment`` covers ``payment.credit_card``.

Categories, purposes and recipient kinds are dotted lower-case names; a prefix
names the whole family. A *pattern* is a name, a name followed by ``.*`` (the
same family, spelled the way compliance officers tend to write it), or ``*``
(everything). ``payment`` and ``payment.*`` are the same pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Annotated

from pydantic import AfterValidator

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
ANY = "*"


def check_name(value: str) -> str:
    """A dotted lower-case name such as ``account.email``, else a plain-words error."""
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a name this policy can use: write lower-case words joined "
            "by dots, such as 'account.email'"
        )
    return value


def check_pattern(value: str) -> str:
    """A name, a family (``payment`` or ``payment.*``) or ``*``."""
    if value == ANY:
        return value
    base = value[:-2] if value.endswith(".*") else value
    if not _NAME.match(base):
        raise ValueError(
            f"{value!r} is not a name or a family: write 'payment.credit_card', "
            "'payment' or 'payment.*' for the whole family, or '*' for everything"
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]
"""A dotted name (category, purpose, recipient kind, source, partner kind)."""
Pattern = Annotated[str, AfterValidator(check_pattern)]
"""A name, a family (``payment`` / ``payment.*``) or ``*``."""


def family(pattern: str) -> str:
    """The family a pattern names: ``payment.*`` -> ``payment``; ``*`` stays ``*``."""
    return pattern[:-2] if pattern.endswith(".*") else pattern


def within(name: str, pattern: str) -> bool:
    """Whether ``name`` is the pattern's family itself or a member of it."""
    base = family(pattern)
    return base == ANY or name == base or name.startswith(base + ".")


def overlaps(name: str, pattern: str) -> bool:
    """Whether ``name`` and the pattern share members.

    ``payment`` (a whole family, as an event may name it) overlaps the pattern
    ``payment.credit_card`` because the family contains card data; this is
    what a rule that *restricts* a category has to use.
    """
    base = family(pattern)
    return within(name, base) or (base != ANY and base.startswith(name + "."))


def within_any(name: str, patterns: Iterable[str]) -> bool:
    return any(within(name, p) for p in patterns)


def overlaps_any(name: str, patterns: Iterable[str]) -> bool:
    return any(overlaps(name, p) for p in patterns)


def lineage(name: str) -> Iterator[str]:
    """``a.b.c``, then ``a.b``, then ``a``: the name and every family above it."""
    while True:
        yield name
        dot = name.rfind(".")
        if dot < 0:
            return
        name = name[:dot]
