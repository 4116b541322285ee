"""Decoding treats bad input as data; a registry outage is retried, never dead-lettered."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from jejak.consumers.worker import Decoded, Undecodable, decode_message
from jejak.schemas.codec import Codec, RegistryUnavailable
from jejak.schemas.models import Event, parse_event

SUBJECT = "ps1_" + "q" * 32
EVENT = parse_event(
    {
        "event_id": "c1",
        "kind": "consent",
        "occurred_at": "2026-05-01T08:00:00Z",
        "subject_id": SUBJECT,
        "scope": "cookies:all",
        "action": "withdrawn",
    }
)


@dataclass
class Msg:
    """A received message as the consumer sees it (topic, partition, offset, key, value, headers)."""

    _value: bytes | None
    _headers: list[tuple[str, bytes]] = field(default_factory=list)

    def topic(self) -> str:
        return "privacy.events"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 17

    def key(self) -> bytes:
        return SUBJECT.encode()

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers


def test_a_good_message_decodes() -> None:
    item = decode_message(Codec(), Msg(Codec().encode(EVENT)))
    assert isinstance(item, Decoded)
    assert item.event == EVENT
    assert (item.origin.partition, item.origin.offset) == (2, 17)


@pytest.mark.parametrize(
    ("value", "reason"),
    [(b"", "empty"), (None, "empty"), (b"{json}", "bad magic"), (b"\xc3\x01\x00", "truncated")],
)
def test_bad_messages_become_data_with_a_reason(value: bytes | None, reason: str) -> None:
    item = decode_message(Codec(), Msg(value, [("h", b"1")]))
    assert isinstance(item, Undecodable)
    assert reason in item.reason
    assert item.headers == [("h", b"1")]
    assert item.value == value


class FlakyRegistry:
    def __init__(self, failures: int) -> None:
        self.failures = failures

    def decode(self, payload: bytes) -> Event:
        if self.failures:
            self.failures -= 1
            raise RegistryUnavailable("registry unavailable", "connection refused")
        return EVENT


def test_a_registry_outage_is_retried_not_dead_lettered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jejak.consumers.worker.time.sleep", lambda s: None)
    item = decode_message(FlakyRegistry(2), Msg(b"\x00\x00\x00\x00\x01body"))
    assert isinstance(item, Decoded)


def test_a_registry_that_stays_away_stops_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jejak.consumers.worker.time.sleep", lambda s: None)
    with pytest.raises(RegistryUnavailable):
        decode_message(FlakyRegistry(10**9), Msg(b"\x00\x00\x00\x00\x01body"), retry_for_s=0)


def test_a_raw_subject_id_is_dead_lettered_without_its_key_and_value() -> None:
    raw = EVENT.model_copy(update={"subject_id": "user-123"})
    payload = Codec().encode(raw)
    item = decode_message(Codec(), Msg(payload, [("h", b"1")]))
    assert isinstance(item, Undecodable)
    assert item.reason == "not_pseudonymous"
    assert item.key is None and item.value is None  # both carry the raw id
    assert "user-123" not in item.detail
    assert item.headers == [("h", b"1")]
    assert (item.origin.partition, item.origin.offset) == (2, 17)


def test_an_e_mail_address_in_a_free_text_field_is_dead_lettered_without_the_message() -> None:
    # a service writing around the SDK: model_construct skips the SDK's validation
    leaky = EVENT.model_construct(**{**EVENT.__dict__, "trace_id": "siti.canary@example.co.id"})
    payload = Codec().encode(leaky)
    assert b"siti.canary" in payload
    item = decode_message(Codec(), Msg(payload))
    assert isinstance(item, Undecodable)
    assert item.reason == "personal_data"
    assert item.key is None and item.value is None
    assert "canary" not in item.detail and "trace_id" in item.detail


def test_an_event_outside_the_accepted_time_window_is_dead_lettered_as_invalid() -> None:
    from datetime import UTC, datetime

    from jejak.schemas.models import TimeWindow

    payload = Codec().encode(EVENT)  # occurred 2026-05-01
    late = TimeWindow(earliest=datetime(2026, 6, 1, tzinfo=UTC))
    item = decode_message(Codec(), Msg(payload), window=late)
    assert isinstance(item, Undecodable)
    assert item.reason == "InvalidEvent" and "occurred_at" in item.detail
    assert item.value == payload  # nothing personal in it: kept for repair
    assert isinstance(decode_message(Codec(), Msg(payload), window=TimeWindow()), Decoded)
