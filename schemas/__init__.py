"""The event contract: pydantic models, Avro schemas and the codec.

Every collection, use and disclosure of personal data, and every consent
change, policy acceptance, subject request, deletion and account closure, is one
of the event models in :mod:`jejak.schemas.models`. Their names follow
``shared/design/policy-semantics.md`` §2 and §5 verbatim.
"""

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
    "Collection",
    "Consent",
    "Deletion",
    "Disclosure",
    "Event",
    "PolicyAccepted",
    "ProducerInfo",
    "Recipient",
    "SubjectRequest",
    "Use",
    "event_from_json",
    "event_to_json",
    "parse_event",
]
