"""The inclusion-proof file: what a third party needs to check one row is in the log.

A JSON object (UTF-8)::

    {
      "format": "jejak-inclusion-proof/v1",
      "event_id": "…",                 for reading: not covered by the proof
      "origin": "…",                   for reading: must equal the checkpoint's origin
      "leaf_index": 41,                the row's position in the log (0-based)
      "tree_size": 1000,               the size of the checkpoint's tree
      "row": "<base64>",               the row's canonical bytes: the leaf data
      "audit_path": ["<base64>", …],   RFC 9162 audit path, deepest sibling first
      "checkpoint": "<signed note>"    the C2SP checkpoint, signature lines included
    }

:func:`verify_proof` checks, with nothing but the log's verifier key:

1. the checkpoint note is signed by that key (else ``unknown_key`` or
   ``bad_signature``: a forged or altered checkpoint);
2. its origin and size are the file's ``origin`` and ``tree_size``;
3. SHA-256(0x00 || row) and the audit path lead to the checkpoint's root
   hash (RFC 9162 §2.1.3.2); else ``root_mismatch`` (the row or the path was
   altered) or ``bad_path`` (the path cannot belong to that index and size).

What is proven is the row's bytes at ``leaf_index`` under a checkpoint the key
holder signed. ``event_id`` is a label for people: a checker that cares
decodes ``row`` (:attr:`ProofResult.row`) and compares the id inside it.
A failure is a :class:`ProofResult` with ``ok`` false and a ``reason`` from
:data:`REASONS`, never an exception; only an unusable verifier key raises
(:class:`~jejak.lineage.trust.errors.MalformedKey`). Messages never repeat
the row's contents.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jejak.lineage.trust.checkpoint import Checkpoint, note_text, open_checkpoint
from jejak.lineage.trust.errors import (
    BadSignature,
    MalformedCheckpoint,
    MalformedNote,
    MalformedProof,
    UnknownKey,
)
from jejak.lineage.trust.merkle import HASH_SIZE, inclusion_root, leaf_hash
from jejak.lineage.trust.note import Verifier, parse_verifier

PROOF_FORMAT = "jejak-inclusion-proof/v1"
"""The ``format`` field of the files this module writes (a file without one is read as v1)."""

REASONS: dict[str, str] = {
    "ok": "the row is in the log under the signed checkpoint",
    "malformed": "the file is not an inclusion proof",
    "unknown_key": "the checkpoint is not signed by the given key",
    "bad_signature": "the checkpoint's signature does not verify: it was altered or forged",
    "origin_mismatch": "the file's origin is not the checkpoint's",
    "size_mismatch": "the file's tree_size is not the checkpoint's size",
    "bad_path": "the audit path cannot belong to this leaf index and tree size",
    "root_mismatch": "the row and audit path do not lead to the checkpoint's root: "
    "the row or the path was altered",
}
"""Every ``ProofResult.reason``, with what it means."""


@dataclass(frozen=True)
class ProofResult:
    """The verdict on one proof file; ``detail`` is one line for people."""

    ok: bool
    reason: str
    detail: str
    event_id: str | None = None
    leaf_index: int | None = None
    tree_size: int | None = None
    checkpoint: Checkpoint | None = None
    row: bytes | None = None

    @property
    def message(self) -> str:
        if self.ok and self.checkpoint is not None:
            return (
                f"ok: event {self.event_id} included at index {self.leaf_index} "
                f"of tree size {self.tree_size} under checkpoint {self.checkpoint.origin}"
            )
        return f"rejected ({self.reason}): {self.detail}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_proof(
    *,
    row: bytes,
    leaf_index: int,
    audit_path: Sequence[bytes],
    checkpoint: str,
    event_id: str,
) -> dict[str, Any]:
    """The proof document for ``row`` at ``leaf_index`` under the signed ``checkpoint`` note.

    ``audit_path`` is :func:`~jejak.lineage.trust.merkle.inclusion_proof` of
    the leaf in the tree of the checkpoint's size. The path is checked against
    the checkpoint's root here (log n hashes), so a store bug surfaces as
    :class:`MalformedProof` instead of a file no one can verify; the signature
    is not checked (the caller signed it).
    """
    try:
        head = Checkpoint.parse(note_text(checkpoint))
    except MalformedCheckpoint as exc:
        raise MalformedProof("checkpoint", str(exc)) from exc
    got = inclusion_root(leaf_hash(row), leaf_index, head.size, audit_path)
    if got is None:
        raise MalformedProof(
            "audit_path", f"does not fit leaf {leaf_index} of a tree of {head.size} leaves"
        )
    if got != head.root_hash:
        raise MalformedProof("audit_path", "the row and path do not lead to the checkpoint's root")
    return {
        "format": PROOF_FORMAT,
        "event_id": event_id,
        "origin": head.origin,
        "leaf_index": leaf_index,
        "tree_size": head.size,
        "row": _b64(row),
        "audit_path": [_b64(h) for h in audit_path],
        "checkpoint": checkpoint,
    }


def dumps_proof(doc: Mapping[str, Any]) -> str:
    """The file text of a proof document (indented JSON, newline at the end)."""
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def load_proof(path: Path | str) -> dict[str, Any]:
    """A proof document from a file; :class:`MalformedProof` if it is not a JSON object."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MalformedProof("file", f"cannot read {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedProof("file", f"{path} is not UTF-8 JSON") from exc
    if not isinstance(doc, dict):
        raise MalformedProof("file", f"{path} does not hold a JSON object")
    return doc


def _str(doc: Mapping[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str):
        raise MalformedProof(name, "missing or not a JSON string")
    return value


def _count(doc: Mapping[str, Any], name: str) -> int:
    value = doc.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedProof(name, "missing or not a whole number >= 0")
    return value


def _decode(name: str, text: object) -> bytes:
    if not isinstance(text, str):
        raise MalformedProof(name, "must hold base64 strings")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise MalformedProof(name, "is not standard base64") from exc


def _parse(doc: Mapping[str, Any]) -> tuple[str, str | None, int, int, bytes, list[bytes], str]:
    fmt = doc.get("format", PROOF_FORMAT)
    if fmt != PROOF_FORMAT:
        raise MalformedProof("format", f"unknown format (this jejak reads {PROOF_FORMAT})")
    event_id = _str(doc, "event_id")
    origin = _str(doc, "origin") if "origin" in doc else None
    leaf_index = _count(doc, "leaf_index")
    tree_size = _count(doc, "tree_size")
    row = _decode("row", _str(doc, "row"))
    path = doc.get("audit_path")
    if not isinstance(path, list):
        raise MalformedProof("audit_path", "missing or not a list")
    audit_path = [_decode("audit_path", h) for h in path]
    if any(len(h) != HASH_SIZE for h in audit_path):
        raise MalformedProof("audit_path", f"every hash has {HASH_SIZE} bytes")
    checkpoint = _str(doc, "checkpoint")
    return event_id, origin, leaf_index, tree_size, row, audit_path, checkpoint


def verify_proof(doc: Mapping[str, Any], verifier_key: str | Verifier) -> ProofResult:
    """Check a proof document with the log's verifier key (string or :class:`Verifier`)."""
    verifier = parse_verifier(verifier_key) if isinstance(verifier_key, str) else verifier_key
    try:
        event_id, origin, index, size, row, path, note = _parse(doc)
    except MalformedProof as exc:
        return ProofResult(False, "malformed", str(exc))
    known: dict[str, Any] = {"event_id": event_id, "leaf_index": index, "tree_size": size}
    try:
        head = open_checkpoint(note, verifier)
    except UnknownKey as exc:
        return ProofResult(False, "unknown_key", str(exc), **known)
    except BadSignature as exc:
        return ProofResult(False, "bad_signature", str(exc), **known)
    except (MalformedNote, MalformedCheckpoint) as exc:
        return ProofResult(False, "malformed", f"checkpoint: {exc}", **known)
    known["checkpoint"] = head
    if origin is not None and origin != head.origin:
        return ProofResult(
            False, "origin_mismatch", f"file says {origin!r}, checkpoint {head.origin!r}", **known
        )
    if size != head.size:
        return ProofResult(
            False, "size_mismatch", f"file says {size}, checkpoint {head.size}", **known
        )
    got = inclusion_root(leaf_hash(row), index, size, path)
    if got is None:
        return ProofResult(
            False,
            "bad_path",
            f"{len(path)} hashes cannot be the path of leaf {index} in a tree of {size}",
            **known,
        )
    if got != head.root_hash:
        return ProofResult(False, "root_mismatch", REASONS["root_mismatch"], **known)
    return ProofResult(True, "ok", REASONS["ok"], row=row, **known)
