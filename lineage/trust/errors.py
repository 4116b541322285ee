"""How the trust layer fails: one :class:`~jejak.errors.TrustError` subclass per way.

A verifier has to tell a forged checkpoint (:class:`BadSignature`) from one it
was simply given the wrong key for (:class:`UnknownKey`) and from bytes that
are not a note at all (:class:`MalformedNote`), so each is its own class and a
caller catches exactly the ones it can act on. Messages name keys by their
public ``name+keyid`` and never repeat note text, row bytes or secret keys.
"""

from __future__ import annotations

from pathlib import Path

from jejak.errors import TrustError


class MalformedKey(TrustError):
    """A signer or verifier key string that is not in the ``sumdb/note`` format."""


class KeyFileError(TrustError):
    """A key file that cannot be written or read (exists, missing, unreadable)."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


class MalformedNote(TrustError):
    """Bytes that are not a signed note (C2SP signed-note); ``problem`` says what is wrong."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"malformed note: {problem}")
        self.problem = problem


class UnknownKey(TrustError):
    """A well-formed note that carries no signature from any key the verifier knows.

    ``seen`` lists the ``name+keyid`` of the signatures it does carry, so the
    message shows which key signed it instead of the one that was expected.
    """

    def __init__(self, expected: list[str], seen: list[str]) -> None:
        want = ", ".join(expected) or "(none)"
        got = ", ".join(seen) or "(none)"
        super().__init__(f"note has no signature by a known key: expected {want}; signed by {got}")
        self.expected, self.seen = expected, seen


class BadSignature(TrustError):
    """A signature by a known key that does not verify: the note was altered or forged."""

    def __init__(self, key: str) -> None:
        super().__init__(f"invalid signature for key {key}: the note was altered or forged")
        self.key = key


class MalformedCheckpoint(TrustError):
    """A note text that is not a C2SP tlog-checkpoint body."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"malformed checkpoint: {problem}")
        self.problem = problem


class MalformedProof(TrustError):
    """An inclusion-proof document that is missing a field or has one of the wrong form."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"malformed proof: {field}: {problem}")
        self.field, self.problem = field, problem


class MalformedCompactRange(TrustError):
    """A stored compact range (size and subtree roots) that cannot be the state of any tree."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"malformed compact range: {problem}")
        self.problem = problem
