"""Signed notes and key strings: the sumdb/note formats, round trips and every way to fail.

The fixed keys and signatures below come from the ``golang.org/x/mod/sumdb/note``
documentation and tests (the "PeterNeumann" key and the "If you think
cryptography is the answer..." note), so they pin jejak's bytes to Go's
independently of jejak's own code.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jejak.errors import JejakError, TrustError
from jejak.lineage.trust import note
from jejak.lineage.trust.errors import BadSignature, MalformedKey, MalformedNote, UnknownKey
from jejak.lineage.trust.note import (
    Signer,
    Verifier,
    generate_key,
    open_note,
    parse_signer,
    parse_verifier,
    sign_note,
)

# from the package documentation of golang.org/x/mod/sumdb/note
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIGNED = (
    GO_TEXT
    + "\n"
    + "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_go_documentation_keys_and_note() -> None:
    signer = parse_signer(GO_SKEY)
    verifier = parse_verifier(GO_VKEY)
    assert signer.ref == verifier.ref == "PeterNeumann+c74f20a3"
    assert signer.verifier() == verifier
    assert signer.to_string() == GO_SKEY
    assert verifier.to_string() == GO_VKEY == str(verifier)
    # Ed25519 is deterministic: the same key signs the same text to the same bytes
    assert sign_note(GO_TEXT, signer) == GO_SIGNED
    opened = open_note(GO_SIGNED, verifier)
    assert opened.text == GO_TEXT
    assert [s.ref for s in opened.sigs] == ["PeterNeumann+c74f20a3"]
    assert opened.unverified_sigs == ()


def test_key_id_is_the_spec_formula() -> None:
    import hashlib

    verifier = parse_verifier(GO_VKEY)
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + verifier.public_key).digest()
    assert (
        verifier.key_id
        == int.from_bytes(digest[:4], "big")
        == note.key_id("PeterNeumann", verifier.public_key)
    )


def test_generated_keys_round_trip_and_sign() -> None:
    skey, vkey = generate_key("jejak-test")
    signer, verifier = parse_signer(skey), parse_verifier(vkey)
    assert skey.startswith("PRIVATE+KEY+jejak-test+") and vkey.startswith("jejak-test+")
    assert vkey.split("+")[1] == f"{signer.key_id:08x}"
    assert parse_signer(signer.to_string()).to_string() == skey
    assert signer.verifier() == verifier
    signed = sign_note("hello\n", signer)
    assert open_note(signed.encode(), [verifier]).text == "hello\n"
    assert skey not in repr(signer) and skey.split("+", 4)[4] not in repr(signer)


@pytest.mark.parametrize(
    "text",
    [
        "hello\n",
        "one\n\ntwo with a blank line\n",
        "ends in a blank line\n\n",
        "unicode: Yogyakarta — café ✓\n",
        "\n",
    ],
)
def test_texts_round_trip(text: str) -> None:
    signer = Signer.generate("n")
    assert open_note(sign_note(text, signer), signer.verifier()).text == text


def test_several_signers_and_unknown_ones_are_kept_apart() -> None:
    a, b = Signer.generate("a.example/log"), Signer.generate("b.example/witness")
    signed = sign_note("x\n", a, b)
    opened = open_note(signed, b.verifier())
    assert [s.name for s in opened.sigs] == ["b.example/witness"]
    assert [s.name for s in opened.unverified_sigs] == ["a.example/log"]
    opened = open_note(signed, [a.verifier(), b.verifier()])
    assert len(opened.sigs) == 2


def test_a_key_that_did_not_sign_is_unknown() -> None:
    signer, other = Signer.generate("log"), Signer.generate("log")
    with pytest.raises(UnknownKey) as caught:
        open_note(sign_note("x\n", signer), other.verifier())
    assert caught.value.seen == [signer.ref]
    assert caught.value.expected == [other.ref]
    assert isinstance(caught.value, TrustError) and isinstance(caught.value, JejakError)


def test_same_name_and_id_but_another_key_is_a_bad_signature() -> None:
    # the spec: name and id identify the key; a known pair that fails to verify rejects the note
    signer = Signer.generate("log")
    signed = sign_note("x\n", signer)
    assert signed.count("\u2014") == 1
    line = signed.splitlines()[-1]
    raw = bytearray(base64.b64decode(line.split(" ")[-1]))
    raw[10] ^= 1
    forged = signed.replace(line.split(" ")[-1], base64.b64encode(bytes(raw)).decode())
    with pytest.raises(BadSignature):
        open_note(forged, signer.verifier())


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.replace("answer", "ANSWER", 1),  # text altered
        lambda s: "X" + s,  # text altered at the start
        lambda s: s.replace("problem,", "problem;", 1),
    ],
)
def test_tampered_text_fails(change: object) -> None:
    assert callable(change)
    with pytest.raises(BadSignature):
        open_note(change(GO_SIGNED), parse_verifier(GO_VKEY))


@pytest.mark.parametrize(
    "message",
    [
        "no signatures\n",  # no blank line
        GO_TEXT + "\n",  # a blank line and nothing after
        GO_SIGNED[:-1],  # signature block does not end in a newline
        GO_SIGNED.replace("\u2014 ", "- "),  # a hyphen, not an em dash
        GO_SIGNED.replace("\u2014 PeterNeumann ", "\u2014 PeterNeumann"),  # no space
        GO_SIGNED.replace("PeterNeumann x08", "Peter+Neumann x08"),  # '+' in the name
        GO_SIGNED.replace("x08go", "x08g!"),  # not base64
        GO_TEXT + "\n\u2014 PeterNeumann AAAA\n",  # fewer than 5 bytes
        GO_SIGNED.replace("answer", "ans\tw"),  # a control character
        GO_SIGNED.replace("answer", "ans\rw"),
        GO_TEXT + "\n" + "\u2014 PeterNeumann AAAAAAAA\n" * 101,  # too many signatures
    ],
)
def test_malformed_notes(message: str) -> None:
    with pytest.raises(MalformedNote):
        open_note(message, parse_verifier(GO_VKEY))


def test_invalid_utf8_is_malformed() -> None:
    with pytest.raises(MalformedNote):
        open_note(GO_SIGNED.encode() + b"\xff", parse_verifier(GO_VKEY))


def test_duplicate_lines_are_read_once() -> None:
    lines = GO_SIGNED.splitlines(keepends=True)
    doubled = "".join(lines) + lines[-1]
    opened = open_note(doubled, parse_verifier(GO_VKEY))
    assert len(opened.sigs) == 1


def test_sign_refuses_what_no_one_could_open() -> None:
    signer = Signer.generate("n")
    with pytest.raises(MalformedNote):
        sign_note("no final newline", signer)
    with pytest.raises(MalformedNote):
        sign_note("bell \x07\n", signer)
    with pytest.raises(ValueError):
        sign_note("x\n")


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # 7 hex digits
        "PeterNeumann+c74f20ag+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ApAc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # type 0x02
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy",  # short key
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad padding
        GO_SKEY,
    ],
)
def test_malformed_verifier_keys(vkey: str) -> None:
    with pytest.raises(MalformedKey):
        parse_verifier(vkey)


@pytest.mark.parametrize(
    "skey",
    [
        GO_VKEY,
        GO_SKEY.replace("PRIVATE+KEY", "PRIVATE+KEX"),
        GO_SKEY.replace("c74f20a3", "c74f20a4"),  # id of another key
        GO_SKEY[:-4],
    ],
)
def test_malformed_signer_keys_never_echo_the_secret(skey: str) -> None:
    with pytest.raises(MalformedKey) as caught:
        parse_signer(skey)
    assert GO_SKEY.split("+", 4)[4] not in str(caught.value)


def test_hex_key_id_in_upper_case_is_read() -> None:
    assert parse_verifier(GO_VKEY.replace("c74f20a3", "C74F20A3")) == parse_verifier(GO_VKEY)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\u3000b", "a\nb"])
def test_unusable_key_names(name: str) -> None:
    assert not note.is_valid_name(name)
    with pytest.raises(MalformedKey):
        Signer.generate(name)


def test_two_verifiers_with_one_name_and_id_are_refused() -> None:
    v = parse_verifier(GO_VKEY)
    impostor = object.__new__(Verifier)
    object.__setattr__(impostor, "name", v.name)
    object.__setattr__(impostor, "key_id", v.key_id)
    object.__setattr__(impostor, "public_key", bytes(32))
    with pytest.raises(MalformedKey):
        open_note(GO_SIGNED, [v, impostor])


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), min_codepoint=0x20) | st.just("\n"),
        max_size=200,
    )
)
def test_any_valid_text_round_trips(text: str) -> None:
    signer = Signer.generate("prop")
    text = text + "\n"
    assert open_note(sign_note(text, signer), signer.verifier()).text == text
