"""The event contract: pydantic models, Avro schemas and the codec.

Every collection, use and disclosure of personal data, and every consent
change, policy acceptance, subject request, deletion and account closure, is one
of the event models in :mod:`jejak.schemas.models`. Their names follow
``shared/design/policy-semantics.md`` §2 and §5 verbatim. Their Avro schemas
(package data in ``avro/``) are in :mod:`jejak.schemas.avro_schemas`, the codec
that turns events into Kafka payloads and back in :mod:`jejak.schemas.codec`,
and the rules for changing a schema in :mod:`jejak.schemas.compat`.
"""

from jejak.schemas.avro_schemas import AvroSchema, SchemaCatalog, fingerprint_of, schema_for
from jejak.schemas.codec import Codec, Framing, decode, encode
from jejak.schemas.models import (
    EVENT_KINDS,
    AccountClosed,
    Collection,
    Consent,
    Deletion,
    Disclosure,
    Event,
    PolicyAccepted,
    ProducerInfo,
    Recipient,
    SubjectRequest,
    Use,
    event_from_json,
    event_to_json,
    parse_event,
)

__all__ = [
    "EVENT_KINDS",
    "AccountClosed",
    "AvroSchema",
    "Codec",
    "Collection",
    "Consent",
    "Deletion",
    "Disclosure",
    "Event",
    "Framing",
    "PolicyAccepted",
    "ProducerInfo",
    "Recipient",
    "SchemaCatalog",
    "SubjectRequest",
    "Use",
    "decode",
    "encode",
    "event_from_json",
    "event_to_json",
    "fingerprint_of",
    "parse_event",
    "schema_for",
]
