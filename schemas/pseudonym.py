"""Pseudonymous subject ids: raw ids never leave the service.

Part of the event contract: the SDK makes pseudonyms, and compliance staff
make the same pseudonym from a raw id to look a person up in the lineage.

A pseudonym is ``ps1_`` followed by 32 lower-case base32 characters (RFC 4648
alphabet ``a-z2-7``, no padding): the first 160 bits of
HMAC-SHA-256(key, raw id as UTF-8). For example::

    ps1_5m2xq3k0...   (36 characters in all)

Why this shape:

* **keyed** (HMAC, not a bare hash): without the key nobody can test a guessed
  e-mail address or phone number against the pseudonyms in Kafka or the store;
* **deterministic**: the same person always gets the same pseudonym under one
  key, so their events share a Kafka key (one partition, in order) and the
  lineage store can answer "everything about subject X";
* **recognisable**: the ``ps1_`` prefix and fixed length let the SDK tell an
  id that is already pseudonymous from a raw one, so nothing is hashed twice,
  and let a reviewer see at a glance that no raw id reached a topic. The ``1``
  is the format version; a new format gets a new prefix;
* **160 bits** keep ids short for ClickHouse keys while collisions stay out of
  reach (birthday bound around 2^80 subjects).

To look a person up, compliance staff pseudonymise the raw id with the same
key (``jejak`` queries accept either form).

**Only this form is accepted downstream.** The consumer calls
:func:`require_pseudonym` on every decoded event and dead-letters one whose
subject id is not in the ``ps1_`` form (:class:`~jejak.errors.NotPseudonymous`,
reason ``not_pseudonymous``): it cannot tell a pseudonym made some other way
from a raw id, and a raw id must never reach the store.

**The key is a secret.** The default key in :class:`~jejak.settings.SdkSettings`
is public, so under it anyone can recompute a pseudonym from a guessed raw id.
:func:`check_key` refuses it unless ``allow_development_key`` is set (the demo
and the tests set it); the SDK's emitter calls it when it starts, the consumer
too.
"""

from __future__ import annotations

import base64
import functools
import hmac
import logging
import re
from collections.abc import Callable

from pydantic import SecretStr

from jejak.errors import ConfigError, NotPseudonymous
from jejak.settings import DEVELOPMENT_KEY, SdkSettings

log = logging.getLogger(__name__)

PREFIX = "ps1_"
_PATTERN = re.compile(r"ps1_[a-z2-7]{32}")
_DIGEST_BYTES = 20  # 160 bits -> exactly 32 base32 characters, no padding


class Pseudonym(str):
    """A subject id that is already pseudonymous: the SDK passes it through unhashed.

    Plain strings in the ``ps1_`` format are recognised without the wrapper; the
    wrapper marks one made elsewhere (an upstream service with the same key). It
    must still be in the ``ps1_`` format: the SDK refuses any other
    (:class:`~jejak.errors.NotPseudonymous`), because the consumer would.
    """

    __slots__ = ()


def is_pseudonym(value: str) -> bool:
    """True for a string in the ``ps1_`` format (wrapped in :class:`Pseudonym` or not)."""
    return isinstance(value, str) and _PATTERN.fullmatch(value) is not None


def require_pseudonym(value: object, field: str = "subject_id") -> None:
    """Raise :class:`~jejak.errors.NotPseudonymous` unless ``value`` is in the ``ps1_`` format.

    For decoded events (the consumer) and ids a caller says are pseudonymous
    (``jejak emit --already-pseudonymous``, the SDK's ``subject_pseudonym``).
    The error names ``field`` and the expected form, never the value.
    """
    if not isinstance(value, str) or _PATTERN.fullmatch(value) is None:
        raise NotPseudonymous(field)


def check_key(settings: SdkSettings) -> None:
    """Refuse the public development key unless the settings allow it; warn when they do.

    Called where pseudonyms are made or relied on: the SDK's emitter when it is
    built, and the consumer when it starts. Under the public key a pseudonym is
    no protection (anyone can HMAC a guessed e-mail address and compare), so the
    key must be set to a secret shared by every producer and the lineage tools.
    """
    if settings.pseudonymization_key.get_secret_value() != DEVELOPMENT_KEY:
        return
    if not settings.allow_development_key:
        raise ConfigError(
            "the pseudonymization key is the public development key, under which anyone "
            "can recompute a pseudonym from a raw id. Set JEJAK_SDK__PSEUDONYMIZATION_KEY "
            "to a secret (the same in every producer and in the lineage tools), e.g. the "
            "output of: python -c 'import secrets; print(secrets.token_urlsafe(32))'. "
            "For demos and tests only, set JEJAK_SDK__ALLOW_DEVELOPMENT_KEY=true "
            "(SdkSettings(allow_development_key=True)) to accept it."
        )
    log.warning(
        "pseudonymising with the public development key (JEJAK_SDK__ALLOW_DEVELOPMENT_KEY "
        "is set): pseudonyms made now protect no one; set JEJAK_SDK__PSEUDONYMIZATION_KEY "
        "before real data flows"
    )


class Pseudonymizer:
    """HMAC-SHA-256 pseudonyms under one key, with a bounded cache of recent subjects.

    The cache matters on the hot path: a service emits many events for the
    same few active subjects, and a dict hit is ten times cheaper than an HMAC.
    """

    def __init__(self, key: SecretStr | str | bytes, *, cache_size: int = 65_536) -> None:
        raw_key = _key_bytes(key)
        self._pseudonymize: Callable[[str], Pseudonym] = functools.lru_cache(maxsize=cache_size)(
            functools.partial(_pseudonym, raw_key)
        )
        # what __call__ answered recently, raw or already pseudonymous: one dict lookup
        self._cache: dict[str, Pseudonym] = {}
        self._cache_size = cache_size
        self.cached: Callable[[str], Pseudonym | None] = self._cache.get
        """What :meth:`__call__` answered for an id recently, or ``None``: the cheapest lookup."""

    def pseudonymize(self, raw_id: str) -> Pseudonym:
        """The pseudonym of a raw subject id (never the raw id, whatever its shape)."""
        return self._pseudonymize(raw_id)

    def __call__(self, subject_id: str) -> Pseudonym:
        """``subject_id`` as a pseudonym: already-pseudonymous ids pass, raw ids are HMACed."""
        cached = self._cache.get(subject_id)
        if cached is not None:
            return cached
        if isinstance(subject_id, Pseudonym):
            require_pseudonym(subject_id)  # a wrapped id in any other form would be dead-lettered
            return subject_id
        if (
            len(subject_id) == 36
            and subject_id.startswith(PREFIX)
            and _PATTERN.fullmatch(subject_id)
        ):
            result = Pseudonym(subject_id)
        else:
            result = self._pseudonymize(subject_id)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()  # cheaper than LRU bookkeeping on every hit
        self._cache[subject_id] = result
        return result


def pseudonymize(raw_id: str, key: SecretStr | str | bytes) -> Pseudonym:
    """The pseudonym of one raw id under ``key`` (for tools that look a subject up once)."""
    return _pseudonym(_key_bytes(key), raw_id)


def _key_bytes(key: SecretStr | str | bytes) -> bytes:
    if isinstance(key, SecretStr):
        key = key.get_secret_value()
    raw_key = key.encode() if isinstance(key, str) else bytes(key)
    if not raw_key:
        raise ValueError("the pseudonymization key must not be empty")
    return raw_key


def _pseudonym(key: bytes, raw_id: str) -> Pseudonym:
    digest = hmac.digest(key, raw_id.encode("utf-8"), "sha256")[:_DIGEST_BYTES]
    return Pseudonym(PREFIX + base64.b32encode(digest).decode("ascii").lower())
