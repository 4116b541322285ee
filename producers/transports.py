"""Where the SDK sends events: a small registry of transports keyed by ``kind``.

Each transport is a config class (a pydantic model with a ``kind``) plus an
implementation, looked up by kind: ``kafka`` (the real thing, with the spool
as its fallback), ``spool`` (write to a durable spool directory only; the next
emitter with a Kafka transport on that directory ships it), ``file`` (JSON lines
of the JSON form), ``console`` (JSON lines on a stream) and ``memory`` (keeps
events in a list: the test double of this interface, shipped so that services
can test their own emitting code).

The contract a transport keeps with the sender (:mod:`jejak.producers.sender`):

* :meth:`Transport.send` hands one message over or raises
  :class:`TransportFull` (try again soon), :class:`TransportDown` (spool it) or
  :class:`TransportRejected` (never sendable: set aside as rejected);
* outcomes that arrive later (a broker's delivery report) are given to the
  :class:`TransportListener` from inside :meth:`Transport.poll`, never from
  another thread, so the sender sees every outcome in one place and in order;
* :meth:`Transport.pending` counts messages handed over and not yet resolved;
  once it is zero, every message not reported failed was delivered.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TextIO

from pydantic import BaseModel, ConfigDict, Field

from jejak.errors import ConfigError, JejakError, UnknownKind
from jejak.producers.spool import FsyncPolicy, Spool
from jejak.schemas.models import Event, event_to_dict

Header = tuple[str, bytes]


class TransportError(JejakError):
    """A transport could not take a message right now."""


class TransportFull(TransportError):
    """The transport's local queue is full: try again after :meth:`Transport.poll`."""


class TransportDown(TransportError):
    """The destination is unreachable: the sender spools until :meth:`Transport.probe` succeeds."""


class TransportRejected(TransportError):
    """This message can never be sent as it is (too large, invalid): retrying cannot help."""


class EventDecoder(Protocol):
    """Turns encoded bytes back into an event (for transports that write the JSON form)."""

    def decode(self, payload: bytes) -> Event: ...


class OutMessage:
    """One encoded event on its way out.

    It is also its own delivery callback: the Kafka transport passes the
    message object as librdkafka's ``on_delivery``, so a failed delivery report
    hands back the exact key, value and headers to spool (librdkafka's report
    carries no headers), at no extra allocation per event.
    """

    __slots__ = ("event", "headers", "key", "position", "sink", "value")

    def __init__(
        self,
        key: bytes,
        value: bytes,
        headers: list[Header],
        event: Event | None = None,
        position: Any = None,
    ) -> None:
        self.key = key
        self.value = value
        self.headers = headers
        self.event = event
        self.position = position
        """The spool position of a replayed message; ``None`` for a new one."""
        self.sink: Callable[[OutMessage, Any, Any], None] | None = None

    def __call__(self, err: Any, msg: Any) -> None:
        sink = self.sink
        if sink is not None:
            sink(self, err, msg)

    def __repr__(self) -> str:
        return f"OutMessage(key={self.key!r}, {len(self.value)} bytes, position={self.position})"


class TransportListener(Protocol):
    """What a transport reports back; called only from inside :meth:`Transport.poll`."""

    def failed(self, message: OutMessage, reason: str, retriable: bool) -> None:
        """A message handed over earlier was not delivered."""

    def unavailable(self, reason: str) -> None:
        """The destination became unreachable (e.g. all brokers down)."""

    def fatal(self, reason: str) -> None:
        """The transport is unusable until :meth:`Transport.reset`."""


class TransportConfig(BaseModel):
    """Base of every transport's config: the ``kind`` selects the implementation."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    kind: str


@dataclass(frozen=True)
class TransportContext:
    """What a transport may need from the emitter that builds it."""

    client_id: str = "jejak-sdk"
    decoder: EventDecoder | None = None


class Transport(ABC):
    """A destination for encoded events (see the module doc for the contract)."""

    kind: ClassVar[str]
    needs_event: ClassVar[bool] = False
    """True when it writes the event itself (the JSON form), not the encoded bytes."""
    background: ClassVar[bool] = False
    """True when sending is asynchronous and the emitter should run a sender thread."""
    wants_spool: ClassVar[bool] = False
    """True when the emitter should open the settings' spool as fallback by default."""

    def __init__(self) -> None:
        self.listener: TransportListener | None = None

    def bind(self, listener: TransportListener) -> None:
        """Register the sender that receives outcomes."""
        self.listener = listener

    @abstractmethod
    def send(self, message: OutMessage) -> None:
        """Hand one message over; :class:`TransportFull` or :class:`TransportDown` if it cannot."""

    def send_many(self, messages: Sequence[OutMessage], start: int) -> int:
        """Hand over ``messages[start:]`` until one cannot be; returns the index of that one
        (``len(messages)`` if all went). The sender retries that one with :meth:`send`, so
        a transport needs no error handling here; this is only the fast path."""
        send = self.send
        index = start
        try:
            for index in range(start, len(messages)):
                send(messages[index])
        except Exception:
            return index
        return len(messages)

    def poll(self, timeout: float = 0.0) -> None:
        """Serve outcomes (delivery reports, errors) to the listener."""
        return None

    def pending(self) -> int:
        """Messages handed over and not yet resolved."""
        return 0

    def purge(self) -> None:
        """Give every pending message back as failed (retriable), at the next :meth:`poll`."""
        return None

    def probe(self, timeout: float) -> bool:
        """Whether the destination answers now (the sender calls this to leave the spool)."""
        return True

    def reset(self) -> None:
        """Rebuild the client after a fatal error."""
        return None

    def close(self) -> None:
        """Release the client; pending messages must have been resolved or purged."""
        return None


# -- registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    config: Callable[[], type[TransportConfig]]
    factory: Callable[[Any, TransportContext], Transport]


_REGISTRY: dict[str, _Entry] = {}


def register_transport(
    kind: str,
    config: type[TransportConfig] | Callable[[], type[TransportConfig]],
    factory: Callable[[Any, TransportContext], Transport],
) -> None:
    """Register (or replace) a transport kind: its config class and a factory.

    ``config`` may be a zero-argument callable returning the class, so that a
    kind whose client library is optional (``kafka``) is imported only when used.
    """
    if isinstance(config, type):
        cls = config
        _REGISTRY[kind] = _Entry(lambda: cls, factory)
    else:
        _REGISTRY[kind] = _Entry(config, factory)


def transport_kinds() -> list[str]:
    """Every registered kind, sorted."""
    return sorted(_REGISTRY)


def _entry(kind: str) -> _Entry:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise UnknownKind("transport", kind, list(_REGISTRY)) from None


def transport_config(kind: str, **fields: Any) -> TransportConfig:
    """The config of ``kind`` with ``fields``; :class:`UnknownKind` lists the known kinds."""
    cls = _entry(kind).config()
    return cls(kind=kind, **fields)


def create_transport(
    config: TransportConfig | str, context: TransportContext | None = None
) -> Transport:
    """The transport a config (or a bare kind, with defaults) describes."""
    if isinstance(config, str):
        config = transport_config(config)
    return _entry(config.kind).factory(config, context or TransportContext())


# -- memory --------------------------------------------------------------------------------


class MemoryTransportConfig(TransportConfig):
    kind: Literal["memory"] = "memory"
    hold: bool = Field(
        False, description="keep sent messages pending until release()/fail_pending()"
    )


class MemoryTransport(Transport):
    """Keeps what it is sent in :attr:`messages` (and the events in :attr:`events`).

    The test double of the transport interface. Besides recording, it can
    play the parts a real broker plays, so the sender's fallback logic is
    testable without one: :meth:`go_down` / :meth:`come_up` (unreachable,
    reported at the next poll), ``hold=True`` with :meth:`release` /
    :meth:`fail_pending` (messages in flight, then delivered or failed), and
    :attr:`capacity` (a full local queue).
    """

    kind: ClassVar[str] = "memory"
    needs_event: ClassVar[bool] = True

    def __init__(
        self, config: MemoryTransportConfig | None = None, decoder: EventDecoder | None = None
    ) -> None:
        super().__init__()
        self.hold = (config or MemoryTransportConfig()).hold
        self.decoder = decoder
        self.messages: list[OutMessage] = []
        self.in_flight: list[OutMessage] = []
        self.capacity: int | None = None
        self.down = False
        self._down_reported = True
        self._failures: list[tuple[OutMessage, str, bool]] = []
        self._fatal: str | None = None
        self.resets = 0
        self._lock = threading.Lock()

    @property
    def events(self) -> list[Event]:
        """The delivered events, decoded where they came from the spool."""
        out: list[Event] = []
        for message in self.messages:
            if message.event is not None:
                out.append(message.event)
            elif self.decoder is not None:
                out.append(self.decoder.decode(message.value))
        return out

    def send(self, message: OutMessage) -> None:
        with self._lock:
            if self.down:
                raise TransportDown("memory transport is down")
            if self.capacity is not None and len(self.in_flight) >= self.capacity:
                raise TransportFull("memory transport queue is full")
            if self.hold:
                self.in_flight.append(message)
            else:
                self.messages.append(message)

    def go_down(self) -> None:
        """Unreachable from now on; the listener hears it at the next poll."""
        with self._lock:
            self.down = True
            self._down_reported = False

    def come_up(self) -> None:
        with self._lock:
            self.down = False

    def fail_fatally(self, reason: str = "_FATAL") -> None:
        """A fatal client error (as an idempotent producer can raise), reported at the next poll."""
        with self._lock:
            self._fatal = reason

    def reset(self) -> None:
        self.resets += 1

    def release(self) -> None:
        """Deliver everything in flight."""
        with self._lock:
            self.messages.extend(self.in_flight)
            self.in_flight.clear()

    def fail_pending(
        self,
        reason: str = "_MSG_TIMED_OUT",
        only: Callable[[OutMessage], bool] | None = None,
        retriable: bool = True,
    ) -> None:
        """Fail what is in flight (or the messages ``only`` picks), reported at the next poll;
        with ``release`` for the rest, a broker that loses some messages of a batch."""
        with self._lock:
            failing = [m for m in self.in_flight if only is None or only(m)]
            self._failures.extend((m, reason, retriable) for m in failing)
            self.in_flight = [m for m in self.in_flight if not (only is None or only(m))]

    def purge(self) -> None:
        self.fail_pending("_PURGE_QUEUE")

    def poll(self, timeout: float = 0.0) -> None:
        with self._lock:
            failures, self._failures = self._failures, []
            report_down = self.down and not self._down_reported
            self._down_reported = True
            fatal, self._fatal = self._fatal, None
        listener = self.listener
        if listener is None:
            return
        if fatal is not None:
            listener.fatal(fatal)
        if report_down:
            listener.unavailable("memory transport is down")
        for message, reason, retriable in failures:
            listener.failed(message, reason, retriable)

    def pending(self) -> int:
        return len(self.in_flight) + len(self._failures)

    def probe(self, timeout: float) -> bool:
        return not self.down


# -- file and console: the JSON form -------------------------------------------------------


def _json_line(message: OutMessage, decoder: EventDecoder | None) -> str:
    event = message.event
    if event is None:
        if decoder is None:
            raise ConfigError("a replayed message needs a decoder to be written as JSON")
        event = decoder.decode(message.value)
    return json.dumps(event_to_dict(event), ensure_ascii=False, separators=(", ", ": ")) + "\n"


class FileTransportConfig(TransportConfig):
    kind: Literal["file"] = "file"
    path: Path = Field(Path("events.jsonl"), description="JSON-lines file, appended to")
    fsync: bool = Field(False, description="fsync at every flush")


class FileTransport(Transport):
    """Appends the JSON form of each event, one per line (``jejak emit`` reads it back)."""

    kind: ClassVar[str] = "file"
    needs_event: ClassVar[bool] = True

    def __init__(self, config: FileTransportConfig, decoder: EventDecoder | None = None) -> None:
        super().__init__()
        self.config = config
        self.decoder = decoder
        config.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = config.path.open("a", encoding="utf-8")

    def send(self, message: OutMessage) -> None:
        if self._file is None:
            raise TransportDown(f"file transport {self.config.path} is closed")
        try:
            self._file.write(_json_line(message, self.decoder))
        except OSError as exc:
            raise TransportDown(f"cannot write {self.config.path}: {exc.strerror}") from exc

    def poll(self, timeout: float = 0.0) -> None:
        if self._file is not None:
            self._file.flush()
            if self.config.fsync:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self.poll()
            self._file.close()
            self._file = None


class ConsoleTransportConfig(TransportConfig):
    kind: Literal["console"] = "console"
    stream: Literal["stdout", "stderr"] = "stdout"


class ConsoleTransport(Transport):
    """Writes the JSON form of each event on stdout (or stderr): for trying the SDK out."""

    kind: ClassVar[str] = "console"
    needs_event: ClassVar[bool] = True

    def __init__(
        self,
        config: ConsoleTransportConfig | None = None,
        decoder: EventDecoder | None = None,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__()
        config = config or ConsoleTransportConfig()
        self.decoder = decoder
        self.stream = stream or (sys.stdout if config.stream == "stdout" else sys.stderr)

    def send(self, message: OutMessage) -> None:
        self.stream.write(_json_line(message, self.decoder))

    def poll(self, timeout: float = 0.0) -> None:
        self.stream.flush()


# -- spool ---------------------------------------------------------------------------------


class SpoolTransportConfig(TransportConfig):
    kind: Literal["spool"] = "spool"
    directory: Path = Field(Path(".jejak/spool"), description="spool directory")
    fsync: FsyncPolicy = "batch"


class SpoolTransport(Transport):
    """Writes every message to a durable spool directory and nothing else.

    For a service that must never wait on the network: a later emitter with
    the ``kafka`` transport opened on the same directory replays it to Kafka,
    in order, before anything new.
    """

    kind: ClassVar[str] = "spool"

    def __init__(
        self, config: SpoolTransportConfig | None = None, spool: Spool | None = None
    ) -> None:
        super().__init__()
        config = config or SpoolTransportConfig()
        self.spool = spool or Spool(config.directory, fsync=config.fsync)

    def send(self, message: OutMessage) -> None:
        self.spool.append(message.key, message.value, message.headers)

    def poll(self, timeout: float = 0.0) -> None:
        self.spool.sync_if_due()

    def close(self) -> None:
        self.spool.close()


def _kafka_config() -> type[TransportConfig]:
    try:
        module = importlib.import_module("jejak.producers.kafka_transport")
    except ImportError as exc:
        raise ConfigError(
            f"the kafka transport needs confluent-kafka ({exc.name} is missing): install jejak[sdk]"
        ) from exc
    config: type[TransportConfig] = module.KafkaTransportConfig
    return config


def _kafka_factory(config: Any, context: TransportContext) -> Transport:
    from jejak.producers.kafka_transport import KafkaTransport

    return KafkaTransport(config, client_id=context.client_id)


register_transport("memory", MemoryTransportConfig, lambda c, ctx: MemoryTransport(c, ctx.decoder))
register_transport("file", FileTransportConfig, lambda c, ctx: FileTransport(c, ctx.decoder))
register_transport(
    "console", ConsoleTransportConfig, lambda c, ctx: ConsoleTransport(c, ctx.decoder)
)
register_transport("spool", SpoolTransportConfig, lambda c, ctx: SpoolTransport(c))
register_transport("kafka", _kafka_config, _kafka_factory)
