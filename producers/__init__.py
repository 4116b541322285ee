"""The producer SDK product services use to report personal-data events.

:class:`Emitter` is the entry point; transports, the spool and pseudonyms are
the parts it is built from, exported for services that configure or test them.
"""

from jejak.producers.emitter import Emitter, EventCodec, new_event_id
from jejak.producers.sender import DeliveryStats, EmitterClosed, Mode
from jejak.producers.spool import Spool
from jejak.producers.transports import (
    ConsoleTransport,
    FileTransport,
    MemoryTransport,
    OutMessage,
    SpoolTransport,
    Transport,
    TransportConfig,
    TransportDown,
    TransportFull,
    create_transport,
    register_transport,
    transport_config,
    transport_kinds,
)
from jejak.schemas.pseudonym import Pseudonym, Pseudonymizer, is_pseudonym, pseudonymize

__all__ = [
    "ConsoleTransport",
    "DeliveryStats",
    "Emitter",
    "EmitterClosed",
    "EventCodec",
    "FileTransport",
    "MemoryTransport",
    "Mode",
    "OutMessage",
    "Pseudonym",
    "Pseudonymizer",
    "Spool",
    "SpoolTransport",
    "Transport",
    "TransportConfig",
    "TransportDown",
    "TransportFull",
    "create_transport",
    "is_pseudonym",
    "new_event_id",
    "pseudonymize",
    "register_transport",
    "transport_config",
    "transport_kinds",
]
