"""One root error, subclasses per concern, always chained (``raise ... from exc``).

A policy violation is a *result* (a verdict), never an exception.
"""

from __future__ import annotations

from pathlib import Path


class JejakError(Exception):
    """Root of every error jejak raises."""


class ConfigError(JejakError):
    """Settings that cannot work (a bad DSN, a missing key, an unknown kind)."""


class UnknownKind(ConfigError):
    """A pluggable part (transport, sink, framing) was asked for by an unknown kind."""

    def __init__(self, what: str, kind: str, known: list[str]) -> None:
        super().__init__(f"unknown {what} kind {kind!r}; known kinds: {', '.join(sorted(known))}")
        self.what, self.kind, self.known = what, kind, sorted(known)


class InvalidEvent(JejakError):
    """An event that does not satisfy the contract; ``field`` names what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


class PersonalDataRefused(InvalidEvent):
    """A field other than ``subject_id`` holds what looks like a personal identifier.

    The message names the field and the rule, never the value; a consumer
    dead-letters such an event as ``personal_data`` without its key and value.
    """

    reason = "personal_data"


class NotPseudonymous(InvalidEvent):
    """A subject id that is not in pseudonym form: a raw id must never reach the store.

    The message names the field and the expected form, never the value (it is
    probably a raw id, an e-mail address or a phone number). ``reason`` is the
    code a consumer dead-letters the event with.
    """

    reason = "not_pseudonymous"

    def __init__(self, field: str = "subject_id") -> None:
        super().__init__(
            field,
            "is not a pseudonym ('ps1_' and 32 base32 characters); "
            "raw ids must be pseudonymised by the SDK before they are sent",
        )


class SchemaError(JejakError):
    """An Avro schema that cannot be loaded, or an incompatible schema change."""


class UndecodableEvent(JejakError):
    """Bytes that are not a jejak event; ``reason`` says why, in a word or two."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


class UnknownFingerprint(UndecodableEvent):
    """A single-object-encoded payload whose schema fingerprint we do not know."""


class TruncatedPayload(UndecodableEvent):
    """A payload that ends before its header or body does."""


class BadMagic(UndecodableEvent):
    """A payload that starts with neither framing's magic bytes."""


class PolicyFileError(JejakError):
    """A policy file a compliance officer edited is wrong: where, and what."""

    def __init__(self, path: Path | str, where: str, problem: str) -> None:
        super().__init__(f"{path}: {where}: {problem}")
        self.path, self.where, self.problem = Path(path), where, problem


class PolicyNotFound(JejakError):
    """No policy version is in force at the time asked for, or none is loaded."""


class StoreError(JejakError):
    """The lineage store (ClickHouse) failed; messages never carry credentials."""


class BrokerError(JejakError):
    """Kafka could not be reached or refused an operation."""


class TrustError(JejakError):
    """A key, signed note, checkpoint or proof of the tamper-evident store cannot be trusted.

    The subclasses (one per way it fails) live in :mod:`jejak.lineage.trust.errors`.
    """
