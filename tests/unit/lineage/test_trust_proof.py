"""The inclusion-proof file: round trip, and one test per way a proof is rejected.

``CASES`` is table-driven; ``test_the_table_reaches_every_reason`` checks it
covers every reason :func:`verify_proof` can give.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jejak.lineage.trust import merkle
from jejak.lineage.trust.checkpoint import Checkpoint, sign_checkpoint
from jejak.lineage.trust.errors import MalformedKey, MalformedProof
from jejak.lineage.trust.note import Signer, sign_note
from jejak.lineage.trust.proof import (
    PROOF_FORMAT,
    REASONS,
    build_proof,
    dumps_proof,
    load_proof,
    verify_proof,
)

SIGNER = Signer.generate("jejak-test/p3")
OTHER = Signer.generate("jejak-test/p3")
ROWS = [f'{{"event_id":"ev-{i}","n":{i}}}'.encode() for i in range(13)]
HASHES = [merkle.leaf_hash(r) for r in ROWS]
HEAD = Checkpoint("jejak-test/p3", len(ROWS), merkle.root(HASHES))
NOTE = sign_checkpoint(HEAD, SIGNER)


def make(index: int = 5, rows: list[bytes] = ROWS, note: str = NOTE) -> dict[str, Any]:
    return build_proof(
        row=rows[index],
        leaf_index=index,
        audit_path=merkle.inclusion_proof(index, [merkle.leaf_hash(r) for r in rows]),
        checkpoint=note,
        event_id=f"ev-{index}",
    )


def test_round_trip_through_the_file(tmp_path: Path) -> None:
    for index in range(len(ROWS)):
        doc = make(index)
        path = tmp_path / f"{index}.json"
        path.write_text(dumps_proof(doc), encoding="utf-8")
        loaded = load_proof(path)
        assert loaded == doc
        result = verify_proof(loaded, SIGNER.verifier().to_string())
        assert result.ok, result.message
        assert result.reason == "ok"
        assert result.row == ROWS[index]
        assert result.message == (
            f"ok: event ev-{index} included at index {index} of tree size 13 "
            "under checkpoint jejak-test/p3"
        )


def test_the_document_fields() -> None:
    doc = make(5)
    assert doc["format"] == PROOF_FORMAT
    assert doc["origin"] == "jejak-test/p3"
    assert doc["tree_size"] == 13 and doc["leaf_index"] == 5
    assert base64.b64decode(doc["row"]) == ROWS[5]
    assert doc["checkpoint"] == NOTE
    assert [base64.b64decode(h) for h in doc["audit_path"]] == merkle.inclusion_proof(5, HASHES)


def _set(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc.update(changes)

    return change


def _del(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.pop(field)


def _row(doc: dict[str, Any]) -> None:
    row = base64.b64decode(doc["row"]).replace(b'"n":5', b'"n":6')
    doc["row"] = base64.b64encode(row).decode()


def _path_hash(doc: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(doc["audit_path"][1]))
    raw[0] ^= 0xFF
    doc["audit_path"][1] = base64.b64encode(bytes(raw)).decode()


def _forged_size(doc: dict[str, Any]) -> None:
    doc["checkpoint"] = doc["checkpoint"].replace("\n13\n", "\n14\n", 1)
    doc["tree_size"] = 14


def _resigned(doc: dict[str, Any]) -> None:
    # a checkpoint for a tree with the altered row, signed by someone else's key
    rows = list(ROWS)
    rows[5] = rows[5].replace(b'"n":5', b'"n":6')
    forged = make(
        5,
        rows,
        sign_checkpoint(
            Checkpoint(HEAD.origin, 13, merkle.root([merkle.leaf_hash(r) for r in rows])), OTHER
        ),
    )
    doc.update(forged)


def _stale_checkpoint(doc: dict[str, Any]) -> None:
    older = Checkpoint(HEAD.origin, 12, merkle.root(HASHES, 12))
    doc["checkpoint"] = sign_checkpoint(older, SIGNER)


def _other_origin_checkpoint(doc: dict[str, Any]) -> None:
    doc["checkpoint"] = sign_checkpoint(Checkpoint("elsewhere", 13, HEAD.root_hash), SIGNER)


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("altered row", _row, "root_mismatch"),
    ("altered path hash", _path_hash, "root_mismatch"),
    ("other leaf index", _set(leaf_index=4), "root_mismatch"),
    ("path one hash short", lambda d: d["audit_path"].pop(), "bad_path"),
    ("index beyond the tree", _set(leaf_index=13), "bad_path"),
    ("forged checkpoint size", _forged_size, "bad_signature"),
    ("checkpoint signed by another key", _resigned, "unknown_key"),
    ("tree_size not the checkpoint's", _set(tree_size=12), "size_mismatch"),
    ("checkpoint of an older tree", _stale_checkpoint, "size_mismatch"),
    ("origin not the checkpoint's", _set(origin="elsewhere"), "origin_mismatch"),
    ("checkpoint of another origin", _other_origin_checkpoint, "origin_mismatch"),
    ("no row", _del("row"), "malformed"),
    ("row not base64", _set(row="!!"), "malformed"),
    ("index a string", _set(leaf_index="5"), "malformed"),
    ("index a boolean", _set(leaf_index=True), "malformed"),
    ("negative size", _set(tree_size=-1), "malformed"),
    ("path not a list", _set(audit_path="x"), "malformed"),
    (
        "path hash of 31 bytes",
        lambda d: d["audit_path"].__setitem__(0, "A" * 40 + "AA=="),
        "malformed",
    ),
    ("unknown format", _set(format="jejak-inclusion-proof/v9"), "malformed"),
    ("no event id", _del("event_id"), "malformed"),
    ("checkpoint not a note", _set(checkpoint="jejak-test/p3\n13\n"), "malformed"),
    ("checkpoint body not a checkpoint", _set(checkpoint=sign_note("x\n", SIGNER)), "malformed"),
]


@pytest.mark.parametrize(("what", "change", "reason"), CASES, ids=[c[0] for c in CASES])
def test_rejected(what: str, change: Callable[[dict[str, Any]], None], reason: str) -> None:
    doc = json.loads(json.dumps(make(5)))
    change(doc)
    result = verify_proof(doc, SIGNER.verifier())
    assert not result.ok, what
    assert result.reason == reason, result.detail
    assert result.message.startswith(f"rejected ({reason}): ")
    assert result.row is None
    # no part of the row in any message
    assert '"n":' not in result.message and "ev-5" not in result.detail


def test_the_table_reaches_every_reason() -> None:
    assert {reason for _, _, reason in CASES} | {"ok"} == set(REASONS)


def test_a_file_without_format_or_origin_is_read() -> None:
    doc = make(2)
    del doc["format"], doc["origin"]
    assert verify_proof(doc, SIGNER.verifier()).ok


def test_a_wrong_key_string_raises() -> None:
    with pytest.raises(MalformedKey):
        verify_proof(make(1), "not-a-key")


def test_build_refuses_a_path_that_does_not_lead_to_the_checkpoint() -> None:
    with pytest.raises(MalformedProof):
        build_proof(
            row=ROWS[4],
            leaf_index=5,
            audit_path=merkle.inclusion_proof(5, HASHES),
            checkpoint=NOTE,
            event_id="ev-5",
        )
    with pytest.raises(MalformedProof):
        build_proof(row=ROWS[5], leaf_index=5, audit_path=[], checkpoint=NOTE, event_id="ev-5")
    with pytest.raises(MalformedProof):
        build_proof(row=ROWS[5], leaf_index=5, audit_path=[], checkpoint="x", event_id="ev-5")


def test_proof_against_an_older_checkpoint_from_a_longer_log() -> None:
    # the store has more rows than its last checkpoint covers: prove against the checkpoint
    older = Checkpoint(HEAD.origin, 9, merkle.root(HASHES, 9))
    doc = build_proof(
        row=ROWS[7],
        leaf_index=7,
        audit_path=merkle.inclusion_proof(7, HASHES, 9),
        checkpoint=sign_checkpoint(older, SIGNER),
        event_id="ev-7",
    )
    assert doc["tree_size"] == 9
    assert verify_proof(doc, SIGNER.verifier()).ok


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", "\udcff"])
def test_load_refuses_what_is_not_a_json_object(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(MalformedProof):
        load_proof(path)
    with pytest.raises(MalformedProof):
        load_proof(tmp_path / "missing.json")
