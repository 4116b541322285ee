"""C2SP tlog-checkpoints: the body format, strict parsing, signing and opening."""

from __future__ import annotations

import base64

import pytest

from jejak.lineage.trust import merkle
from jejak.lineage.trust.checkpoint import Checkpoint, note_text, open_checkpoint, sign_checkpoint
from jejak.lineage.trust.errors import BadSignature, MalformedCheckpoint, UnknownKey
from jejak.lineage.trust.note import Signer

# the example of the tlog-checkpoint spec
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_spec_example_parses_and_writes_back() -> None:
    cp = Checkpoint.parse(SPEC_BODY)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.to_body() == SPEC_BODY


def test_extension_lines_round_trip() -> None:
    cp = Checkpoint("jejak-test/p0", 3, merkle.EMPTY_ROOT, ("time 1700000000", "x"))
    assert cp.to_body().endswith("\ntime 1700000000\nx\n")
    assert Checkpoint.parse(cp.to_body()) == cp


def test_empty_tree() -> None:
    cp = Checkpoint("o", 0, merkle.EMPTY_ROOT)
    assert cp.to_body() == "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    assert Checkpoint.parse(cp.to_body()) == cp


@pytest.mark.parametrize(
    "body",
    [
        "",
        "origin\n",
        "origin\n5\n",
        "\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",  # empty origin
        "o\n05\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",  # leading zero
        "o\n+5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n 5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n\u0665\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",  # Arabic-Indic five
        "o\n18446744073709551616\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",  # 2^64
        "o\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",  # no padding
        "o\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n",  # not canonical
        "o\n5\nAAAA\n",  # not 32 bytes
        "o\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",  # empty extension line
        "o\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",  # no final newline
    ],
)
def test_malformed_bodies(body: str) -> None:
    with pytest.raises(MalformedCheckpoint):
        Checkpoint.parse(body)


def test_construction_refuses_what_would_frame_another_checkpoint() -> None:
    with pytest.raises(MalformedCheckpoint):
        Checkpoint("evil\n999", 1, merkle.EMPTY_ROOT)
    with pytest.raises(MalformedCheckpoint):
        Checkpoint("o", 1, merkle.EMPTY_ROOT, ("a\nb",))
    with pytest.raises(MalformedCheckpoint):
        Checkpoint("o", -1, merkle.EMPTY_ROOT)
    with pytest.raises(MalformedCheckpoint):
        Checkpoint("o", 1, b"short")


def test_sign_and_open() -> None:
    signer = Signer.generate("jejak-test")
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(7)]
    cp = Checkpoint("jejak-test", 7, merkle.root(hashes))
    signed = sign_checkpoint(cp, signer)
    assert signed.startswith(cp.to_body() + "\n\u2014 jejak-test ")
    assert note_text(signed) == cp.to_body()
    assert open_checkpoint(signed, signer.verifier()) == cp
    assert open_checkpoint(signed.encode(), [signer.verifier()]) == cp


def test_a_forged_checkpoint_fails() -> None:
    signer = Signer.generate("jejak-test")
    cp = Checkpoint("jejak-test", 7, merkle.EMPTY_ROOT)
    signed = sign_checkpoint(cp, signer)
    with pytest.raises(BadSignature):
        open_checkpoint(signed.replace("\n7\n", "\n8\n", 1), signer.verifier())
    with pytest.raises(UnknownKey):
        open_checkpoint(signed, Signer.generate("jejak-test").verifier())


def test_note_text_of_something_else() -> None:
    with pytest.raises(MalformedCheckpoint):
        note_text("o\n1\n")
