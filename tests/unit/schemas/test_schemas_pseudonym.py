"""Pseudonyms: keyed, deterministic, recognisable, and the raw id never leaves."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from jejak.producers import Emitter, MemoryTransport, Pseudonym, Pseudonymizer, is_pseudonym
from jejak.schemas.models import Consent
from jejak.settings import SdkSettings


def test_deterministic_under_one_key_and_different_under_another() -> None:
    one, same, other = (
        Pseudonymizer("key-1"),
        Pseudonymizer(SecretStr("key-1")),
        Pseudonymizer("key-2"),
    )
    assert one.pseudonymize("budi@example.id") == same.pseudonymize("budi@example.id")
    assert one.pseudonymize("budi@example.id") != other.pseudonymize("budi@example.id")
    assert one.pseudonymize("budi@example.id") != one.pseudonymize("siti@example.id")


def test_the_module_function_agrees_with_the_class() -> None:
    from jejak.producers import pseudonymize

    assert pseudonymize("user-42", SecretStr("k")) == Pseudonymizer("k").pseudonymize("user-42")
    assert pseudonymize("user-42", b"k") == pseudonymize("user-42", "k")


def test_format_is_recognisable() -> None:
    pseudonym = Pseudonymizer("k").pseudonymize("user-42")
    assert isinstance(pseudonym, Pseudonym)
    assert pseudonym.startswith("ps1_") and len(pseudonym) == 36
    assert set(pseudonym[4:]) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert is_pseudonym(pseudonym) and is_pseudonym(str(pseudonym))
    assert not is_pseudonym("user-42") and not is_pseudonym("ps1_short")


def test_already_pseudonymous_ids_are_not_hashed_twice() -> None:
    pseudonymizer = Pseudonymizer("k")
    pseudonym = pseudonymizer("user-42")
    assert pseudonymizer(str(pseudonym)) == pseudonym
    assert pseudonymizer(Pseudonym("upstream-7f3a")) == "upstream-7f3a"  # wrapped: trusted as is
    assert pseudonymizer("user-42") == pseudonym  # cached answer is the same


def test_the_raw_id_is_not_in_the_bytes_sent() -> None:
    raw = "budi.santoso@example.id"
    memory = MemoryTransport()
    with Emitter(SdkSettings(service="svc", service_version="1"), transport=memory) as emitter:
        emitter.collection(subject_id=raw, data_categories=["account.email"], source="user")
        # a model built with the raw id: pseudonymised on the way out
        emitter.emit(_consent(raw))
        expected = emitter.pseudonymize(raw)
    for message in memory.messages:
        assert raw.encode() not in message.value
        assert raw.encode() not in message.key
        assert all(raw.encode() not in value for _, value in message.headers)
        assert message.key == expected.encode()
    assert {e.subject_id for e in memory.events} == {expected}


def _consent(subject: str) -> Consent:
    return Consent(
        subject_id=subject,
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
        scope="channel:newsletter",
        action="withdrawn",
    )
