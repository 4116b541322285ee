"""The producer SDK: what a product service calls to report personal-data events.

    from jejak.producers import Emitter

    # JEJAK_SDK__SERVICE=checkout, JEJAK_SDK__PSEUDONYMIZATION_KEY=<a secret>, ...
    with Emitter.from_settings(Settings.from_env()) as emitter:
        emitter.disclosure(
            subject_id=user.id,                       # raw: pseudonymised here, never sent
            data_categories=["payment.credit_card"],
            purpose="transaction.fulfilment",
            recipient=Recipient(id="pay-xendit-like", kind="payment_processor"),
        )

One method per event kind takes keyword arguments; :meth:`Emitter.emit` takes
a model built by the caller. Either way the event is validated before
anything is sent (:class:`~jejak.errors.InvalidEvent` names the field),
stamped with an ``event_id`` (a UUID unless given), ``occurred_at`` (now, UTC,
milliseconds, unless given) and the producer (service and version from the
settings), its subject id pseudonymised (see :mod:`jejak.schemas.pseudonym`),
encoded by the codec, and queued for the sender (:mod:`jejak.producers.sender`),
which delivers it or spools it; the call itself never waits on the network.

Nothing personal leaves except as a pseudonym: every other string field is
refused when it looks like an e-mail address, a phone number or a long number
(:func:`jejak.schemas.models.personal_identifier`), and no error repeats the
value. An emitter refuses to start with the public development key unless
``allow_development_key`` is set (:func:`jejak.schemas.pseudonym.check_key`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from jejak.errors import InvalidEvent
from jejak.producers.sender import (
    DeliveryStats,
    EmitterClosed,
    InlineRunner,
    Sender,
    SenderThread,
    register_exit_flush,
)
from jejak.producers.spool import Spool
from jejak.producers.transports import (
    OutMessage,
    Transport,
    TransportConfig,
    TransportContext,
    create_transport,
    transport_config,
)
from jejak.schemas.models import (
    AccountClosed,
    Collection,
    Consent,
    ConsentAction,
    Deletion,
    Disclosure,
    Event,
    PolicyAccepted,
    ProducerInfo,
    Recipient,
    RequestKind,
    Source,
    SubjectRequest,
    Transfer,
    Use,
    invalid_event,
)
from jejak.schemas.pseudonym import Pseudonym, Pseudonymizer, check_key, require_pseudonym
from jejak.settings import KafkaSettings, SdkSettings, Settings

Header = tuple[str, bytes]
_EVENT_TYPES: tuple[type[BaseModel], ...] = (
    Collection,
    Use,
    Disclosure,
    Consent,
    PolicyAccepted,
    SubjectRequest,
    Deletion,
    AccountClosed,
)
_EVENT_TYPE_SET = frozenset(_EVENT_TYPES)


class EventCodec(Protocol):
    """What the emitter needs from :class:`jejak.schemas.codec.Codec`."""

    def encode(self, event: BaseModel) -> bytes: ...

    def decode(self, payload: bytes) -> Event: ...

    def headers(self, event: BaseModel) -> list[tuple[str, bytes]]: ...


def new_event_id() -> str:
    """A random (version 4) UUID as a string, twice as fast as ``str(uuid.uuid4())``."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _now() -> datetime:
    return datetime.now(UTC)


def _replace(event: BaseModel, updates: dict[str, Any]) -> Any:
    """A copy of a validated model with some fields replaced by values already valid.

    ``model_copy(update=...)`` does the same at more than twice the cost; the
    values put here (a pseudonym, the producer info) are valid by construction.
    """
    cls = type(event)
    new = cls.__new__(cls)
    fields = dict(event.__dict__)
    fields.update(updates)
    object.__setattr__(new, "__dict__", fields)
    object.__setattr__(
        new, "__pydantic_fields_set__", event.__pydantic_fields_set__ | updates.keys()
    )
    object.__setattr__(new, "__pydantic_extra__", None)
    object.__setattr__(new, "__pydantic_private__", None)
    return new


def _content_type(codec: object) -> bytes:
    framing = getattr(codec, "framing", None)
    framing_name = str(getattr(framing, "value", framing) or "single-object")
    return f"application/vnd.jejak.event+avro; framing={framing_name}".encode()


class Emitter:
    """Validates, pseudonymises, encodes and sends personal-data events (see the module doc).

    ``transport``: a :class:`Transport`, its config, or a kind (``kafka``,
    ``spool``, ``file``, ``console``, ``memory``); by default the kind in
    ``settings.transport``. ``spool``: the fallback spool (a :class:`Spool`, a
    directory, ``True`` for ``settings.spool_dir``, ``False`` for none); by
    default transports that want one (``kafka``) get ``settings.spool_dir``.
    ``background``: run the sender on its own thread (default: when the
    transport is asynchronous, i.e. Kafka). A context manager: leaving it
    closes the emitter, which flushes and spools what is left.

    :class:`~jejak.errors.ConfigError` if the settings hold the public
    development key and do not allow it (:func:`~jejak.schemas.pseudonym.check_key`).
    """

    def __init__(
        self,
        settings: SdkSettings | None = None,
        *,
        kafka: KafkaSettings | None = None,
        transport: Transport | TransportConfig | str | None = None,
        codec: EventCodec | None = None,
        spool: Spool | Path | str | bool | None = None,
        background: bool | None = None,
        message_timeout_ms: int | None = None,
        probe_interval: float | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.settings = settings or SdkSettings()
        check_key(self.settings)
        if codec is None:
            from jejak.schemas.codec import default_codec

            codec = default_codec()
        self.codec = codec
        self._encode = codec.encode
        self._clock = clock
        self._pseudonymizer = Pseudonymizer(self.settings.pseudonymization_key)
        self._cached_pseudonym = self._pseudonymizer.cached
        self._producer = ProducerInfo(
            service=self.settings.service, version=self.settings.service_version
        )
        self._content_type = _content_type(codec)
        self._headers: dict[str, list[Header]] = {}

        if message_timeout_ms is None:
            message_timeout_ms = self.settings.message_timeout_ms
        if probe_interval is None:
            probe_interval = self.settings.probe_interval_s
        self.transport = self._make_transport(transport, kafka, message_timeout_ms)
        self._needs_event = self.transport.needs_event
        self.spool = self._make_spool(spool)
        self.sender = Sender(self.transport, self.spool, probe_interval=probe_interval)
        if background is None:
            background = self.transport.background
        self._runner: SenderThread | InlineRunner
        if background:
            self._runner = SenderThread(
                self.sender,
                max_queue=self.settings.queue_buffering_max_messages,
                max_block_ms=self.settings.max_block_ms,
            )
        else:
            self._runner = InlineRunner(self.sender)
        self._submit = self._runner.submit
        self._closed = False
        self._close_lock = threading.Lock()
        self._failed_at_last_flush = 0
        self._unregister_exit = register_exit_flush(self._close_at_exit)

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Emitter:
        """An emitter from the full settings (the SDK section and the Kafka section)."""
        kwargs.setdefault("kafka", settings.kafka)
        return cls(settings.sdk, **kwargs)

    # -- construction helpers ------------------------------------------------------------

    def _make_transport(
        self,
        transport: Transport | TransportConfig | str | None,
        kafka: KafkaSettings | None,
        message_timeout_ms: int,
    ) -> Transport:
        if isinstance(transport, Transport):
            return transport
        settings = self.settings
        context = TransportContext(client_id=settings.service, decoder=self.codec)
        if isinstance(transport, TransportConfig):
            return create_transport(transport, context)
        kind = transport or settings.transport
        if kind == "kafka":
            config = transport_config(
                "kafka",
                kafka=kafka or KafkaSettings(),
                linger_ms=settings.linger_ms,
                compression=settings.compression,
                queue_buffering_max_messages=settings.queue_buffering_max_messages,
                message_timeout_ms=message_timeout_ms,
            )
        elif kind == "spool":
            config = transport_config("spool", directory=settings.spool_dir, fsync=settings.fsync)
        else:
            config = transport_config(kind)
        return create_transport(config, context)

    def _make_spool(self, spool: Spool | Path | str | bool | None) -> Spool | None:
        if isinstance(spool, Spool):
            return spool
        if spool is None:
            spool = self.transport.wants_spool
        if spool is False:
            return None
        directory = self.settings.spool_dir if spool is True else Path(spool)
        return Spool(directory, fsync=self.settings.fsync)

    # -- the hot path ----------------------------------------------------------------------

    def emit(self, event: Event, *, pseudonymize: bool | None = None) -> str:
        """Send an event the caller built; returns its ``event_id``.

        A model instance is trusted as validated (pydantic did it when it was
        built), so this is the fast path. ``pseudonymize``: ``None`` (default)
        pseudonymises a raw ``subject_id`` and passes one that is already a
        pseudonym (the ``ps1_`` format); ``True`` always applies the HMAC;
        ``False`` sends the id as it is, which must then be in the ``ps1_``
        format (:class:`~jejak.errors.NotPseudonymous` otherwise).
        """
        if self._closed:
            raise EmitterClosed("the emitter is closed")
        if type(event) not in _EVENT_TYPE_SET and not isinstance(event, _EVENT_TYPES):
            raise InvalidEvent("event", f"{type(event).__name__} is not a jejak event model")
        fields = event.__dict__
        subject = fields["subject_id"]
        if pseudonymize is None:
            pseudonym: str | None = self._cached_pseudonym(subject)
            if pseudonym is None:
                pseudonym = self._pseudonymizer(subject)
        elif pseudonymize:
            pseudonym = self._pseudonymizer.pseudonymize(subject)
        else:
            require_pseudonym(subject)
            pseudonym = subject
        if fields["producer"] is None:
            event = _replace(event, {"subject_id": pseudonym, "producer": self._producer})
        elif pseudonym != subject:
            event = _replace(event, {"subject_id": pseudonym})
        # the rest is _send, inlined: this is the path a busy service calls per event
        kind: str = event.kind
        headers = self._headers.get(kind)
        if headers is None:
            headers = self._headers_for(event)
        # The message key is the pseudonymous subject id: Kafka keeps one key on one
        # partition, so every event of a data subject (consents, then the uses and
        # disclosures that depend on them) reaches the consumers in the order emitted.
        self._submit(
            OutMessage(
                pseudonym.encode(),
                self._encode(event),
                headers,
                event if self._needs_event else None,
            )
        )
        event_id: str = event.event_id
        return event_id

    def emit_many(self, events: Iterable[Event], *, pseudonymize: bool | None = None) -> int:
        """:meth:`emit` each event in order; returns how many."""
        count = 0
        emit = self.emit
        for event in events:
            emit(event, pseudonymize=pseudonymize)
            count += 1
        return count

    def _headers_for(self, event: BaseModel) -> list[Header]:
        # one list per kind, shared by its messages: librdkafka copies headers
        headers = [*self.codec.headers(event), ("content-type", self._content_type)]
        self._headers[event.kind] = headers  # type: ignore[attr-defined]
        return headers

    def _send(self, event: Any) -> str:
        kind: str = event.kind
        headers = self._headers.get(kind) or self._headers_for(event)
        subject: str = event.subject_id
        # The message key is the pseudonymous subject id (see emit): one subject, one
        # partition, so a subject's events stay in the order they were emitted.
        self._submit(
            OutMessage(
                subject.encode(), self._encode(event), headers, event if self._needs_event else None
            )
        )
        event_id: str = event.event_id
        return event_id

    def _build(
        self,
        cls: type[BaseModel],
        subject_id: str | None,
        subject_pseudonym: str | None,
        occurred_at: datetime | None,
        event_id: str | None,
        fields: dict[str, Any],
    ) -> str:
        if self._closed:
            raise EmitterClosed("the emitter is closed")
        if subject_pseudonym is not None:
            if subject_id is not None:
                raise InvalidEvent("subject_id", "give subject_id or subject_pseudonym, not both")
            require_pseudonym(subject_pseudonym, "subject_pseudonym")
            subject: str = Pseudonym(subject_pseudonym)
        elif subject_id is not None:
            if not isinstance(subject_id, str) or not subject_id:
                raise InvalidEvent("subject_id", "must be a non-empty string")
            subject = self._pseudonymizer(subject_id)
        else:
            raise InvalidEvent("subject_id", "missing (or give subject_pseudonym)")
        data = {k: v for k, v in fields.items() if v is not None}
        data["event_id"] = event_id if event_id is not None else new_event_id()
        data["occurred_at"] = occurred_at if occurred_at is not None else self._clock()
        data["subject_id"] = str(subject)
        data["producer"] = self._producer
        try:
            event = cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_event(exc) from exc
        return self._send(event)

    # -- one method per kind -----------------------------------------------------------------

    def collection(
        self,
        *,
        data_categories: Sequence[str],
        source: Source,
        subject_id: str | None = None,
        subject_pseudonym: str | None = None,
        source_partner: str | None = None,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
        basis: str | None = None,
        inputs: Sequence[str] = (),
        outputs: Sequence[str] = (),
        trace_id: str | None = None,
        policy_version: str | None = None,
    ) -> str:
        """Personal data collected (section A); returns the ``event_id``."""
        return self._build(
            Collection,
            subject_id,
            subject_pseudonym,
            occurred_at,
            event_id,
            {
                "data_categories": list(data_categories),
                "source": source,
                "source_partner": source_partner,
                "basis": basis,
                "inputs": list(inputs),
                "outputs": list(outputs),
                "trace_id": trace_id,
                "policy_version": policy_version,
            },
        )

    def use(
        self,
        *,
        data_categories: Sequence[str],
        purpose: str,
        subject_id: str | None = None,
        subject_pseudonym: str | None = None,
        channel: str | None = None,
        public: bool = False,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
        basis: str | None = None,
        inputs: Sequence[str] = (),
        outputs: Sequence[str] = (),
        trace_id: str | None = None,
        policy_version: str | None = None,
    ) -> str:
        """Personal data used for a purpose (sections B, D, E); returns the ``event_id``."""
        return self._build(
            Use,
            subject_id,
            subject_pseudonym,
            occurred_at,
            event_id,
            {
                "data_categories": list(data_categories),
                "purpose": purpose,
                "channel": channel,
                "public": public,
                "basis": basis,
                "inputs": list(inputs),
                "outputs": list(outputs),
                "trace_id": trace_id,
                "policy_version": policy_version,
            },
        )

    def disclosure(
        self,
        *,
        data_categories: Sequence[str],
        purpose: str,
        recipient: Recipient | dict[str, Any],
        subject_id: str | None = None,
        subject_pseudonym: str | None = None,
        transfer: Transfer = "share",
        legal_request_ref: str | None = None,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
        basis: str | None = None,
        inputs: Sequence[str] = (),
        outputs: Sequence[str] = (),
        trace_id: str | None = None,
        policy_version: str | None = None,
    ) -> str:
        """Personal data disclosed to a recipient (section C); returns the ``event_id``."""
        return self._build(
            Disclosure,
            subject_id,
            subject_pseudonym,
            occurred_at,
            event_id,
            {
                "data_categories": list(data_categories),
                "purpose": purpose,
                "recipient": recipient,
                "transfer": transfer,
                "legal_request_ref": legal_request_ref,
                "basis": basis,
                "inputs": list(inputs),
                "outputs": list(outputs),
                "trace_id": trace_id,
                "policy_version": policy_version,
            },
        )

    def consent(
        self,
        *,
        scope: str,
        action: ConsentAction,
        subject_id: str | None = None,
        subject_pseudonym: str | None = None,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
        trace_id: str | None = None,
        policy_version: str | None = None,
    ) -> str:
        """A consent scope granted or withdrawn; returns the ``event_id``."""
        return self._build(
            Consent,
            subject_id,
            subject_pseudonym,
            occurred_at,
            event_id,
            {
                "scope": scope,
                "action": action,
                "trace_id": trace_id,
                "policy_version": policy_version,
            },
        )

    def policy_accepted(
        self,
        *,
        policy_version: str,
        subject_id: str | None = None,
        subject_pseudonym: str | None = None,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
        trace_id: str | None = None,
    ) -> str:
        """The subject accepted a policy version (G); returns the ``event_id``."""
        return self._build(
            PolicyAccepted,
            subject_id,
            subject_pseudonym,
            occurred_at,
            event_id,
            {"policy_version": policy_version, "trace_id": trace_id},
        )

    def subject_request(
        self,
        *,
        request: RequestKind,
        subject_id: str | None = None,
        subject_pseudonym: str | None = None,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
        trace_id: str | None = None,
        policy_version: str | None = None,
    ) -> str:
        """A data-subject request (access, rectification, deletion); returns the ``event_id``."""
        return self._build(
            SubjectRequest,
            subject_id,
            subject_pseudonym,
            occurred_at,
            event_id,
            {"request": request, "trace_id": trace_id, "policy_version": policy_version},
        )

    def deletion(
        self,
        *,
        data_categories: Sequence[str],
        subject_id: str | None = None,
        subject_pseudonym: str | None = None,
        request_ref: str | None = None,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
        trace_id: str | None = None,
        policy_version: str | None = None,
    ) -> str:
        """Personal data deleted (F); returns the ``event_id``."""
        return self._build(
            Deletion,
            subject_id,
            subject_pseudonym,
            occurred_at,
            event_id,
            {
                "data_categories": list(data_categories),
                "request_ref": request_ref,
                "trace_id": trace_id,
                "policy_version": policy_version,
            },
        )

    def account_closed(
        self,
        *,
        subject_id: str | None = None,
        subject_pseudonym: str | None = None,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
        trace_id: str | None = None,
        policy_version: str | None = None,
    ) -> str:
        """The subject's account was closed (F: retention starts); returns the ``event_id``."""
        return self._build(
            AccountClosed,
            subject_id,
            subject_pseudonym,
            occurred_at,
            event_id,
            {"trace_id": trace_id, "policy_version": policy_version},
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def pseudonymize(self, raw_id: str) -> Pseudonym:
        """The pseudonym this emitter gives ``raw_id`` (to look a subject up, or to log it)."""
        return self._pseudonymizer.pseudonymize(raw_id)

    def stats(self) -> DeliveryStats:
        """Delivered / spooled / failed counters (exact once :meth:`flush` returned True)."""
        return self._runner.stats()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait up to ``timeout`` s for every event so far to be delivered (spooled ones
        included, if the broker is back); True if all were and none was rejected since
        the last flush. Never needed per event: the transport batches on its own."""
        delivered = self._runner.flush(timeout)
        failed = self.sender.stats().failed
        clean = failed == self._failed_at_last_flush
        self._failed_at_last_flush = failed
        return delivered and clean

    def close(self, timeout: float = 10.0) -> bool:
        """Flush (up to ``timeout`` s), then stop: what is still undelivered is spooled.

        Returns whether everything was delivered; ``stats()`` stays readable.
        """
        with self._close_lock:
            if self._closed:
                return self.stats().all_delivered
            delivered = self.flush(timeout)
            self._closed = True
            self._runner.close(max(timeout, 5.0))
            self._unregister_exit()
            # judged after the shutdown: an event that raced close() and was spooled
            # by it, or is still queued because the thread did not stop, is undelivered
            after = self.stats()
            return (
                delivered
                and after.queued == 0
                and after.routing == 0
                and after.spool_backlog == 0
                and after.failed == self._failed_at_last_flush
            )

    def _close_at_exit(self) -> None:
        if not self._closed:
            self.close(timeout=5.0)

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
