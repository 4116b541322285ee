"""The Emitter: validation before sending, defaults, headers and key, one method per kind."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from jejak.errors import ConfigError, InvalidEvent, NotPseudonymous
from jejak.producers import (
    Emitter,
    EmitterClosed,
    MemoryTransport,
    Pseudonym,
    Pseudonymizer,
    new_event_id,
)
from jejak.producers.transports import MemoryTransportConfig, OutMessage
from jejak.schemas.codec import HEADER_KIND, HEADER_SCHEMA, default_codec
from jejak.schemas.models import Consent, ProducerInfo, Recipient, Use
from jejak.settings import SdkSettings

SETTINGS = SdkSettings(service="checkout", service_version="1.4.2", allow_development_key=True)
NOW = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def memory() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def emitter(memory: MemoryTransport) -> Emitter:
    return Emitter(SETTINGS, transport=memory, clock=lambda: NOW)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda e: e.collection(
                subject_id="u", data_categories=["Account Email"], source="user"
            ),
            "data_categories.0",
        ),
        (
            lambda e: e.collection(subject_id="u", data_categories=[], source="user"),
            "data_categories",
        ),
        (
            lambda e: e.collection(
                subject_id="u", data_categories=["account.email"], source="friend"
            ),
            "source",
        ),
        (lambda e: e.use(data_categories=["account.email"], purpose="b.1"), "subject_id"),
        (
            lambda e: e.use(subject_id="", data_categories=["account.email"], purpose="marketing"),
            "subject_id",
        ),
        (
            lambda e: e.use(
                subject_id="u",
                data_categories=["account.email"],
                purpose="marketing",
                occurred_at=datetime(2026, 3, 2),  # noqa: DTZ001 - naive on purpose
            ),
            "occurred_at",
        ),
        (
            lambda e: e.disclosure(
                subject_id="u",
                data_categories=["account.email"],
                purpose="x",
                recipient={"id": "r"},
            ),
            "recipient.kind",
        ),
        (
            lambda e: e.disclosure(
                subject_id="u",
                data_categories=["account.email"],
                purpose="x",
                recipient=Recipient(id="r", kind="vendor"),
                transfer="gift",  # type: ignore[arg-type]
            ),
            "transfer",
        ),
        (lambda e: e.consent(subject_id="u", scope="recipient:p", action="maybe"), "action"),  # type: ignore[arg-type]
        (lambda e: e.consent(subject_id="u", scope="has space", action="granted"), "scope"),
        (lambda e: e.subject_request(subject_id="u", request="forget-me"), "request"),  # type: ignore[arg-type]
        (lambda e: e.policy_accepted(subject_id="u", policy_version=""), "policy_version"),
        (
            lambda e: e.consent(
                subject_id="u", subject_pseudonym="ps1_x", scope="public_review", action="granted"
            ),
            "subject_id",
        ),
        (lambda e: e.emit({"kind": "use"}), "event"),  # type: ignore[arg-type]
    ],
)
def test_invalid_events_name_the_field_and_nothing_is_sent(
    emitter: Emitter, memory: MemoryTransport, call: object, field: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        call(emitter)  # type: ignore[operator]
    assert caught.value.field == field
    assert memory.messages == []


def test_defaults_event_id_time_and_producer(emitter: Emitter, memory: MemoryTransport) -> None:
    event_id = emitter.consent(subject_id="u-1", scope="channel:newsletter", action="withdrawn")
    event = memory.events[0]
    assert event.event_id == event_id and uuid.UUID(event_id).version == 4
    assert event.occurred_at == datetime(2026, 3, 2, 9, 30, 15, 123000, tzinfo=UTC)  # UTC, ms
    assert event.producer == ProducerInfo(service="checkout", version="1.4.2")


def test_given_id_and_time_are_kept_and_converted_to_utc(
    emitter: Emitter, memory: MemoryTransport
) -> None:
    wib = timezone(timedelta(hours=7))
    emitter.account_closed(
        subject_id="u-1", event_id="close-1", occurred_at=datetime(2026, 3, 2, 16, 0, tzinfo=wib)
    )
    assert memory.events[0].event_id == "close-1"
    assert memory.events[0].occurred_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_new_event_ids_are_unique_uuid4() -> None:
    ids = {new_event_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in list(ids)[:100])


def test_headers_name_kind_schema_and_framing_and_the_key_is_the_pseudonym(
    emitter: Emitter, memory: MemoryTransport
) -> None:
    emitter.use(
        subject_id="u-1", data_categories=["account.email"], purpose="contact.transactional"
    )
    message = memory.messages[0]
    headers = dict(message.headers)
    codec = default_codec()
    assert headers[HEADER_KIND] == b"use"
    assert headers[HEADER_SCHEMA] == codec.catalog.current("use").fingerprint_hex.encode()
    assert headers["content-type"] == b"application/vnd.jejak.event+avro; framing=single-object"
    assert message.key == emitter.pseudonymize("u-1").encode()
    assert codec.decode(message.value) == memory.events[0]


def test_one_method_per_kind(emitter: Emitter, memory: MemoryTransport) -> None:
    subject = {"subject_id": "u-9"}
    emitter.collection(**subject, data_categories=["log.ip"], source="recorded")
    emitter.use(
        **subject,
        data_categories=["account.email"],
        purpose="marketing.communications",
        channel="newsletter",
    )
    emitter.disclosure(
        **subject,
        data_categories=["transaction.shipping_address"],
        purpose="transaction.fulfilment",
        recipient=Recipient(id="jne-logistics", kind="logistics_provider"),
    )
    emitter.consent(**subject, scope="recipient:partner-kredivo-like", action="granted")
    emitter.policy_accepted(**subject, policy_version="2026.1")
    emitter.subject_request(**subject, request="access")
    emitter.deletion(**subject, data_categories=["account"])
    emitter.account_closed(**subject)
    assert [e.kind for e in memory.events] == [
        "collection",
        "use",
        "disclosure",
        "consent",
        "policy_accepted",
        "subject_request",
        "deletion",
        "account_closed",
    ]
    assert len({e.subject_id for e in memory.events}) == 1


def test_emit_a_model_stamps_producer_and_pseudonymises(
    emitter: Emitter, memory: MemoryTransport
) -> None:
    model = Use(
        subject_id="raw-7",
        occurred_at=NOW,
        data_categories=["usage.preferences"],
        purpose="service.operations",
    )
    emitter.emit(model)
    sent = memory.events[0]
    assert sent.subject_id == emitter.pseudonymize("raw-7")
    assert sent.producer == ProducerInfo(service="checkout", version="1.4.2")
    assert sent.event_id == model.event_id
    assert model.subject_id == "raw-7" and model.producer is None  # the caller's model is untouched


def test_emit_keeps_pseudonyms_and_an_explicit_producer(
    emitter: Emitter, memory: MemoryTransport
) -> None:
    pseudonym = emitter.pseudonymize("raw-7")
    upstream = Pseudonymizer("an-upstream-service-key").pseudonymize("raw-8")
    own = ProducerInfo(service="batch-job", version="9")
    model = Consent(
        subject_id=pseudonym, occurred_at=NOW, scope="public_review", action="granted", producer=own
    )
    emitter.emit(model)
    emitter.emit(model.model_copy(update={"subject_id": str(upstream)}), pseudonymize=False)
    emitter.emit(model, pseudonymize=True)  # forced: the HMAC of the pseudonym
    first, second, third = memory.events
    assert first is model  # nothing to change: sent as it is (the fast path)
    assert second.subject_id == upstream
    assert third.subject_id == emitter.pseudonymize(str(pseudonym))


def test_pseudonymize_false_refuses_a_raw_id_without_repeating_it(
    emitter: Emitter, memory: MemoryTransport
) -> None:
    model = Consent(
        subject_id="budi@example.id", occurred_at=NOW, scope="public_review", action="granted"
    )
    with pytest.raises(NotPseudonymous) as caught:
        emitter.emit(model, pseudonymize=False)
    assert caught.value.field == "subject_id" and caught.value.reason == "not_pseudonymous"
    assert "budi" not in str(caught.value)
    assert memory.events == []


def test_subject_pseudonym_and_pseudonym_wrapper_pass_through(
    emitter: Emitter, memory: MemoryTransport
) -> None:
    upstream = str(Pseudonymizer("an-upstream-service-key").pseudonymize("crm-1234"))
    emitter.consent(subject_pseudonym=upstream, scope="public_review", action="granted")
    emitter.consent(subject_id=Pseudonym(upstream), scope="public_review", action="withdrawn")
    assert [e.subject_id for e in memory.events] == [upstream, upstream]


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.consent(subject_pseudonym="crm-hash-1234", scope="x", action="granted"),
        lambda e: e.consent(subject_id=Pseudonym("crm-hash-1234"), scope="x", action="granted"),
    ],
)
def test_a_pseudonym_in_another_form_is_refused(
    emitter: Emitter, memory: MemoryTransport, call: Any
) -> None:
    """The consumer dead-letters any subject id not in the ps1_ form: refuse it here, first."""
    with pytest.raises(NotPseudonymous) as caught:
        call(emitter)
    assert "crm-hash-1234" not in str(caught.value)
    assert memory.events == []


def test_the_public_development_key_is_refused_unless_allowed(
    memory: MemoryTransport, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError) as caught:
        Emitter(SdkSettings(), transport=memory)
    assert "JEJAK_SDK__PSEUDONYMIZATION_KEY" in str(caught.value)
    assert "JEJAK_SDK__ALLOW_DEVELOPMENT_KEY" in str(caught.value)
    with pytest.raises(ConfigError):
        Emitter(transport=memory)  # no settings: the defaults, the public key
    with caplog.at_level(logging.WARNING, logger="jejak.schemas.pseudonym"):
        Emitter(SdkSettings(allow_development_key=True), transport=memory).close()
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "public development key" in caplog.records[0].getMessage()
    caplog.clear()
    secret = SdkSettings(pseudonymization_key=SecretStr("a-real-secret-key-0f3a9c"))
    with caplog.at_level(logging.WARNING, logger="jejak.schemas.pseudonym"):
        Emitter(secret, transport=memory).close()
    assert caplog.records == []


@pytest.mark.parametrize(
    "value", ["budi.santoso@example.id", "+62 812-3456-7890", "0812-3456-7890", "3201234567890123"]
)
def test_personal_data_in_a_free_text_field_is_refused_and_not_repeated(
    emitter: Emitter, memory: MemoryTransport, value: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        emitter.use(
            subject_id="u-1", data_categories=["account.email"], purpose="marketing", trace_id=value
        )
    assert caught.value.field == "trace_id"
    assert "looks like" in caught.value.problem
    assert value not in str(caught.value)
    assert value not in repr(caught.value.__cause__)  # pydantic's own text hides the input
    assert memory.events == []


def test_context_manager_closes_and_emit_after_close_fails(memory: MemoryTransport) -> None:
    with Emitter(SETTINGS, transport=memory) as emitter:
        emitter.account_closed(subject_id="u-1")
    assert emitter.close() is True  # idempotent
    with pytest.raises(EmitterClosed):
        emitter.account_closed(subject_id="u-1")
    stats = emitter.stats()
    assert (stats.accepted, stats.delivered, stats.spooled, stats.failed) == (1, 1, 0, 0)


def test_from_settings_uses_the_sdk_section(memory: MemoryTransport) -> None:
    from jejak.settings import Settings

    settings = Settings(
        sdk=SdkSettings(service="from-settings", service_version="3", allow_development_key=True)
    )
    with Emitter.from_settings(settings, transport=memory) as emitter:
        emitter.account_closed(subject_id="u-1")
    assert memory.events[0].producer == ProducerInfo(service="from-settings", version="3")


def test_an_emit_racing_close_is_refused_not_lost(tmp_path: Path) -> None:
    """An emit past its closed check while close() runs must not vanish silently."""
    codec = default_codec()
    entered, gate = threading.Event(), threading.Event()

    class SlowCodec:
        framing = getattr(codec, "framing", None)

        def encode(self, event: Any) -> bytes:
            if getattr(event, "trace_id", None) == "slow":
                entered.set()
                gate.wait(5)
            return codec.encode(event)

        def decode(self, payload: bytes) -> Any:
            return codec.decode(payload)

        def headers(self, event: Any) -> list[tuple[str, bytes]]:
            return codec.headers(event)

    memory = MemoryTransport()
    emitter = Emitter(
        SETTINGS, transport=memory, codec=SlowCodec(), background=True, spool=tmp_path / "spool"
    )
    emitter.consent(subject_id="u1", scope="recipient:partner-1", action="granted")
    outcome: dict[str, object] = {}

    def late() -> None:
        try:
            outcome["id"] = emitter.consent(
                subject_id="u1", scope="recipient:partner-1", action="withdrawn", trace_id="slow"
            )
        except EmitterClosed as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=late)
    thread.start()
    assert entered.wait(5)
    assert emitter.close(timeout=1) is True  # the granted consent was delivered
    gate.set()
    thread.join(5)
    assert isinstance(outcome.get("error"), EmitterClosed)  # told, not silently dropped
    assert len(memory.messages) == 1
    assert emitter.stats().queued == 0


def test_close_reports_an_event_spooled_by_the_shutdown(tmp_path: Path) -> None:
    """close() judges the state after the shutdown, not the flush before it."""
    memory = MemoryTransport(MemoryTransportConfig(hold=True))
    emitter = Emitter(SETTINGS, transport=memory, background=True, spool=tmp_path / "spool")
    runner = emitter._runner
    original_close = runner.close

    def close_after_a_late_emit(timeout: float) -> None:
        # an event accepted between the flush and the stop: held in flight, then spooled
        runner.submit(OutMessage(b"k", b"late", []))
        original_close(timeout)

    runner.close = close_after_a_late_emit  # type: ignore[method-assign]
    assert emitter.close(timeout=1) is False
    stats = emitter.stats()
    assert (stats.queued, stats.spool_backlog, stats.spooled) == (0, 1, 1)
