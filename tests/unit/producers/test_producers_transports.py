"""The transport registry and the memory, file, console and spool transports."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from jejak.errors import UnknownKind
from jejak.producers import (
    ConsoleTransport,
    Emitter,
    MemoryTransport,
    OutMessage,
    Spool,
    SpoolTransport,
    Transport,
    TransportConfig,
    create_transport,
    register_transport,
    transport_config,
    transport_kinds,
)
from jejak.producers.transports import ConsoleTransportConfig, FileTransportConfig
from jejak.schemas.models import event_from_json
from jejak.settings import SdkSettings

SETTINGS = SdkSettings(service="checkout", service_version="1.4.2", allow_development_key=True)
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _emit_three(emitter: Emitter) -> list[str]:
    return [
        emitter.collection(
            subject_id="u-1", data_categories=["account.email"], source="user", occurred_at=AT
        ),
        emitter.consent(
            subject_id="u-1", scope="channel:newsletter", action="withdrawn", occurred_at=AT
        ),
        emitter.disclosure(
            subject_id="u-2",
            data_categories=["payment.credit_card"],
            purpose="transaction.fulfilment",
            recipient={"id": "pay-xendit-like", "kind": "payment_processor"},
            occurred_at=AT,
        ),
    ]


def test_the_registry_knows_the_five_kinds() -> None:
    assert transport_kinds() == ["console", "file", "kafka", "memory", "spool"]
    assert isinstance(create_transport("memory"), MemoryTransport)
    assert transport_config("file", path=Path("x.jsonl")).kind == "file"


def test_an_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(UnknownKind) as caught:
        transport_config("carrier-pigeon")
    assert caught.value.known == transport_kinds()
    assert "console, file, kafka, memory, spool" in str(caught.value)
    with pytest.raises(UnknownKind):
        Emitter(SETTINGS, transport="carrier-pigeon")


def test_a_new_kind_can_be_registered() -> None:
    class NullConfig(TransportConfig):
        kind: Literal["null"] = "null"

    class NullTransport(Transport):
        kind: ClassVar[str] = "null"

        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def send(self, message: OutMessage) -> None:
            self.count += 1

    register_transport("null", NullConfig, lambda config, context: NullTransport())
    try:
        transport = create_transport("null")
        assert isinstance(transport, NullTransport)
        with Emitter(SETTINGS, transport=transport) as emitter:
            _emit_three(emitter)
        assert transport.count == 3
    finally:
        from jejak.producers import transports

        transports._REGISTRY.pop("null")


def test_memory_keeps_messages_and_events() -> None:
    memory = MemoryTransport()
    with Emitter(SETTINGS, transport=memory) as emitter:
        ids = _emit_three(emitter)
    assert [e.event_id for e in memory.events] == ids
    assert [e.kind for e in memory.events] == ["collection", "consent", "disclosure"]
    assert all(m.value.startswith(b"\xc3\x01") for m in memory.messages)  # Avro single-object


def test_file_writes_the_json_form_one_event_per_line(tmp_path: Path) -> None:
    path = tmp_path / "out" / "events.jsonl"
    with Emitter(SETTINGS, transport=FileTransportConfig(path=path)) as emitter:
        ids = _emit_three(emitter)
    lines = path.read_text().splitlines()
    events = [event_from_json(line) for line in lines]
    assert [e.event_id for e in events] == ids
    assert events[0].producer is not None and events[0].producer.service == "checkout"
    assert events[2].subject_id.startswith("ps1_")


def test_file_appends_and_a_kind_string_works(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for _ in range(2):
        with Emitter(
            SETTINGS, transport=create_transport(FileTransportConfig(path=path))
        ) as emitter:
            _emit_three(emitter)
    assert len(path.read_text().splitlines()) == 6


def test_console_writes_json_lines_to_its_stream() -> None:
    stream = io.StringIO()
    with Emitter(
        SETTINGS, transport=ConsoleTransport(ConsoleTransportConfig(), stream=stream)
    ) as emitter:
        ids = _emit_three(emitter)
    assert [event_from_json(line).event_id for line in stream.getvalue().splitlines()] == ids


def test_spool_transport_writes_a_spool_the_next_emitter_replays(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    settings = SETTINGS.model_copy(update={"spool_dir": directory})
    with Emitter(settings, transport="spool") as emitter:
        assert isinstance(emitter.transport, SpoolTransport)
        ids = _emit_three(emitter)
    with Spool(directory) as spool:
        assert spool.pending == 3
    # a later emitter with a real destination on the same directory ships them first, in order
    memory = MemoryTransport(decoder=None)
    with Emitter(settings, transport=memory, spool=True, probe_interval=0) as emitter:
        memory.decoder = emitter.codec
        later = emitter.account_closed(subject_id="u-3", occurred_at=AT)
        assert emitter.flush(5)
        stats = emitter.stats()
    assert [e.event_id for e in memory.events] == [*ids, later]
    assert stats.replayed == 4 and stats.spool_backlog == 0  # the new one queued behind them
