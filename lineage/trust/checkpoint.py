"""C2SP tlog-checkpoints (https://c2sp.org/tlog-checkpoint): a signed tree head.

A checkpoint is a signed note (:mod:`jejak.lineage.trust.note`) whose text is::

    <origin>\\n
    <tree size, ASCII decimal, no leading zeros>\\n
    <base64 of the 32-byte RFC 9162 root hash>\\n
    [<extension line>\\n ...]

The origin names the log; the spec says the signing key's name SHOULD equal
it. Extension lines are optional and must be non-empty (the spec does not
recommend them: monitors cannot audit them). Parsing is strict: a size with a
sign, spaces, leading zeros or non-ASCII digits, a root that is not canonical
base64 of 32 bytes, or an empty extension line is refused, so one checkpoint
has exactly one text.

A checkpoint says "the log had ``size`` leaves and this root"; it is only
worth something once its signature is checked, which is why
:func:`open_checkpoint` verifies before it parses and :meth:`Checkpoint.parse`
is for text already verified (or for display).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from jejak.lineage.trust.errors import MalformedCheckpoint
from jejak.lineage.trust.merkle import HASH_SIZE
from jejak.lineage.trust.note import Signer, Verifier, open_note, sign_note

MAX_TREE_SIZE = 2**64 - 1
"""The largest size a checkpoint may carry (Go parses it as a uint64)."""


def _bad_line(line: str) -> bool:
    return not line or any(ord(c) < 0x20 for c in line)


@dataclass(frozen=True)
class Checkpoint:
    """The head of a log: ``origin``, ``size`` leaves, ``root_hash``, optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if _bad_line(self.origin):
            raise MalformedCheckpoint("the origin must be one non-empty line")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedCheckpoint(f"tree size {self.size} outside 0..2^64-1")
        if len(self.root_hash) != HASH_SIZE:
            raise MalformedCheckpoint(
                f"the root hash has {HASH_SIZE} bytes, not {len(self.root_hash)}"
            )
        if any(_bad_line(x) for x in self.extensions):
            raise MalformedCheckpoint("an extension line must be one non-empty line")

    def to_body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode("ascii")]
        return "".join(f"{line}\n" for line in [*lines, *self.extensions])

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """The checkpoint in a note text (not checking any signature: see :func:`open_checkpoint`)."""
        if not text.endswith("\n"):
            raise MalformedCheckpoint("the text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpoint("fewer than three lines (origin, size, root hash)")
        origin, size_line, root_line, *extensions = lines
        if not (size_line.isascii() and size_line.isdigit()) or (
            len(size_line) > 1 and size_line[0] == "0"
        ):
            raise MalformedCheckpoint("the tree size is not a decimal number without leading zeros")
        try:
            root_hash = base64.b64decode(root_line.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
            raise MalformedCheckpoint("the root hash is not standard base64") from exc
        if base64.b64encode(root_hash).decode("ascii") != root_line:
            raise MalformedCheckpoint("the root hash is not canonical base64")
        return cls(origin, int(size_line), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, *signers: Signer) -> str:
    """The signed note of ``checkpoint``: what the log publishes and stores."""
    return sign_note(checkpoint.to_body(), *signers)


def open_checkpoint(note: str | bytes, verifiers: Verifier | Iterable[Verifier]) -> Checkpoint:
    """The checkpoint in a signed note, after checking its signature (errors as :func:`open_note`)."""
    return Checkpoint.parse(open_note(note, verifiers).text)


def note_text(note: str) -> str:
    """The text of a signed note without checking it: to read a checkpoint's origin for display."""
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedCheckpoint("not a signed note (no blank line before the signatures)")
    return note[: split + 1]
