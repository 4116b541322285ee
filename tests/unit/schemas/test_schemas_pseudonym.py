"""Pseudonyms: keyed, deterministic, recognisable, and the raw id never leaves."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from jejak.errors import ConfigError, InvalidEvent, NotPseudonymous
from jejak.producers import Emitter, MemoryTransport, Pseudonym, Pseudonymizer, is_pseudonym
from jejak.schemas.models import Consent
from jejak.schemas.pseudonym import check_key, require_pseudonym
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
    upstream = Pseudonymizer("upstream-key").pseudonymize("user-42")
    assert pseudonymizer(Pseudonym(str(upstream))) == upstream  # wrapped: not hashed again
    assert pseudonymizer("user-42") == pseudonym  # cached answer is the same


def test_a_wrapped_id_in_another_form_is_refused() -> None:
    with pytest.raises(NotPseudonymous) as caught:
        Pseudonymizer("k")(Pseudonym("upstream-7f3a"))
    assert "upstream-7f3a" not in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        "user-123",
        "budi.santoso@example.id",
        "+62 812-3456-7890",
        "ps1_short",
        "PS1_" + "a" * 32,
        "ps1_" + "a" * 31 + "1",  # 1 is not in the base32 alphabet
        "ps1_" + "a" * 32 + "\n",
        "",
        None,
        42,
    ],
)
def test_require_pseudonym_refuses_anything_else_without_repeating_it(value: object) -> None:
    with pytest.raises(NotPseudonymous) as caught:
        require_pseudonym(value, "subject_id")
    assert isinstance(caught.value, InvalidEvent) and caught.value.field == "subject_id"
    assert caught.value.reason == "not_pseudonymous"
    if isinstance(value, str) and value:
        assert value not in str(caught.value)


def test_require_pseudonym_accepts_the_ps1_form_and_names_the_field() -> None:
    require_pseudonym(Pseudonymizer("k").pseudonymize("user-42"))
    require_pseudonym(str(Pseudonymizer("k").pseudonymize("user-42")))
    with pytest.raises(NotPseudonymous, match="^recipient_subject: is not a pseudonym"):
        require_pseudonym("user-42", "recipient_subject")


def test_check_key_refuses_the_public_key_unless_allowed(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match="JEJAK_SDK__ALLOW_DEVELOPMENT_KEY=true"):
        check_key(SdkSettings())
    explicit = SdkSettings(pseudonymization_key=SecretStr("jejak-development-key-change-me"))
    with pytest.raises(ConfigError, match="JEJAK_SDK__PSEUDONYMIZATION_KEY"):
        check_key(explicit)  # set on purpose is no better than the default
    with caplog.at_level(logging.WARNING, logger="jejak.schemas.pseudonym"):
        check_key(SdkSettings(allow_development_key=True))
        check_key(
            SdkSettings(pseudonymization_key=SecretStr("a-secret"), allow_development_key=True)
        )
        check_key(SdkSettings(pseudonymization_key=SecretStr("a-secret")))
    assert len(caplog.records) == 1  # only the public key in use warns
    assert "jejak-development-key-change-me" not in caplog.text  # nor is the key logged


def test_the_raw_id_is_not_in_the_bytes_sent() -> None:
    raw = "budi.santoso@example.id"
    memory = MemoryTransport()
    settings = SdkSettings(service="svc", service_version="1", allow_development_key=True)
    with Emitter(settings, transport=memory) as emitter:
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
