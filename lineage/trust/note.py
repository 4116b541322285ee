"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.

The byte formats are exactly those of Go's ``golang.org/x/mod/sumdb/note``, so
a note jejak signs opens with ``note.Open`` and a key jejak generates loads
with ``note.NewSigner`` / ``note.NewVerifier`` (the integration test
``tests/integration/test_trust_go.py`` checks this against the Go code).

A note is a text that ends in a newline, a blank line, then one or more
signature lines::

    <text, ending in \\n>
    \\n
    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\\n

(``—`` is U+2014 EM DASH, followed by a space.) The signature is over the text
only, final newline included. The whole note must be UTF-8 without ASCII
control characters other than newline.

Keys, in the ``sumdb/note`` strings (``hex`` lower case, base64 standard with
padding)::

    key id    = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]   (big-endian uint32)
    verifier  = <name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>
    signer    = PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>

A key name is non-empty, has no Unicode space and no ``+``. The ``0x01`` is
the signature type (Ed25519); the key id identifies a key, it does not
authenticate it: only the verifier's public key does.

Opening follows the spec (and ``note.Open``): signatures by unknown keys are
ignored; a signature by a known key (same name *and* key id) must verify or the
whole note is rejected (:class:`~jejak.lineage.trust.errors.BadSignature`); a
note with no signature by a known key is rejected
(:class:`~jejak.lineage.trust.errors.UnknownKey`); anything that is not a note
is :class:`~jejak.lineage.trust.errors.MalformedNote`. At most
:data:`MAX_SIGNATURES` signature lines are read.

Ed25519 is RFC 8032 (deterministic), through the ``cryptography`` package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from jejak.lineage.trust.errors import BadSignature, MalformedKey, MalformedNote, UnknownKey

ALG_ED25519 = 0x01
"""The signature type byte of Ed25519 in key ids and key strings."""

SIG_PREFIX = "\u2014 "
"""What every signature line starts with: EM DASH and a space."""

MAX_SIGNATURES = 100
"""Signature lines read before a note is refused (the spec asks for at least 16; Go reads 100)."""

# Unicode's White_Space property (what Go's unicode.IsSpace tests beyond Latin-1)
_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def is_valid_name(name: str) -> bool:
    """A usable key name: non-empty, no Unicode space, no ``+`` (``sumdb/note``'s rule)."""
    return bool(name) and "+" not in name and not any(c in _SPACES for c in name)


def check_name(name: str) -> str:
    """``name`` if it can be a key name, else :class:`MalformedKey` saying why not."""
    if not is_valid_name(name):
        raise MalformedKey(
            f"key name {name!r} is not usable: it must be non-empty, without spaces and without '+'"
        )
    return name


def key_id(name: str, public_key: bytes) -> int:
    """The 32-bit key id of an Ed25519 public key under ``name``."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError("not standard base64") from exc


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Verifier:
    """A public key by which notes are checked: ``name``, ``key_id`` and the 32-byte key."""

    name: str
    key_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        check_name(self.name)
        if len(self.public_key) != 32:
            raise MalformedKey(f"an Ed25519 public key has 32 bytes, not {len(self.public_key)}")
        if self.key_id != key_id(self.name, self.public_key):
            raise MalformedKey(f"key id {self.key_id:08x} does not belong to key {self.name}")

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> Verifier:
        """The verifier for a raw Ed25519 public key under ``name`` (its key id is derived)."""
        check_name(name)
        return cls(name, key_id(name, public_key), bytes(public_key))

    @property
    def ref(self) -> str:
        """``name+keyid``: how messages name this key (public, short)."""
        return f"{self.name}+{self.key_id:08x}"

    def to_string(self) -> str:
        """The verifier key string ``name+keyid+base64(0x01 || key)``."""
        return f"{self.ref}+{_b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def __str__(self) -> str:
        return self.to_string()

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer:
    """A private Ed25519 key with its name: signs notes. Its repr never shows the key."""

    __slots__ = ("_key", "key_id", "name", "public_key")

    def __init__(self, name: str, seed: bytes) -> None:
        check_name(name)
        if len(seed) != 32:
            raise MalformedKey(f"an Ed25519 private key seed has 32 bytes, not {len(seed)}")
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.public_key)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random key for ``name`` (the operating system's randomness)."""
        check_name(name)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, seed)

    @property
    def ref(self) -> str:
        """``name+keyid``, as in the verifier key string."""
        return f"{self.name}+{self.key_id:08x}"

    def verifier(self) -> Verifier:
        """The public half, to hand to whoever checks the notes."""
        return Verifier(self.name, self.key_id, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def to_string(self) -> str:
        """The SECRET signer key string ``PRIVATE+KEY+name+keyid+base64(0x01 || seed)``."""
        seed = self._key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.ref}+{_b64encode(bytes([ALG_ED25519]) + seed)}"

    def __repr__(self) -> str:
        return f"Signer({self.ref})"


def generate_key(name: str) -> tuple[str, str]:
    """A new key pair as ``(signer key string, verifier key string)``, like Go's ``note.GenerateKey``."""
    signer = Signer.generate(name)
    return signer.to_string(), signer.verifier().to_string()


def _split_key(text: str, parts: int, what: str) -> list[str]:
    fields = text.strip().split("+", parts - 1)
    if len(fields) != parts:
        raise MalformedKey(f"not a {what} key string ({parts} fields separated by '+')")
    return fields


def _key_bytes(name: str, hash16: str, key64: str, what: str) -> tuple[int, bytes]:
    check_name(name)
    if len(hash16) != 8 or any(c not in "0123456789abcdefABCDEF" for c in hash16):
        raise MalformedKey(f"{what} key {name}: the key id is not 8 hex digits")
    try:
        raw = _b64decode(key64)
    except ValueError as exc:
        raise MalformedKey(f"{what} key {name}: the key is not standard base64") from exc
    if not raw:
        raise MalformedKey(f"{what} key {name}: the key is empty")
    if raw[0] != ALG_ED25519:
        raise MalformedKey(f"{what} key {name}: unknown signature type {raw[0]:#04x} (want 0x01)")
    if len(raw) != 33:
        raise MalformedKey(f"{what} key {name}: an Ed25519 key has 32 bytes, not {len(raw) - 1}")
    return int(hash16, 16), raw[1:]


def parse_verifier(vkey: str) -> Verifier:
    """The verifier of a key string ``name+keyid+base64(0x01 || key)`` (``note.NewVerifier``)."""
    name, hash16, key64 = _split_key(vkey, 3, "verifier")
    kid, public_key = _key_bytes(name, hash16, key64, "verifier")
    if kid != key_id(name, public_key):
        raise MalformedKey(f"verifier key {name}: the key id {hash16} does not match the key")
    return Verifier(name, kid, public_key)


def parse_signer(skey: str) -> Signer:
    """The signer of a key string ``PRIVATE+KEY+name+keyid+base64(0x01 || seed)`` (``note.NewSigner``).

    Error messages never repeat the key material.
    """
    private, key, name, hash16, key64 = _split_key(skey, 5, "signer")
    if (private, key) != ("PRIVATE", "KEY"):
        raise MalformedKey("not a signer key string (it must start with PRIVATE+KEY+)")
    kid, seed = _key_bytes(name, hash16, key64, "signer")
    signer = Signer(name, seed)
    if kid != signer.key_id:
        raise MalformedKey(f"signer key {name}: the key id {hash16} does not match the key")
    return signer


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: who signed (name, key id) and the base64 as written."""

    name: str
    key_id: int
    base64: str

    @property
    def ref(self) -> str:
        return f"{self.name}+{self.key_id:08x}"


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the signatures verified, and those by keys not known."""

    text: str
    sigs: tuple[Signature, ...]
    unverified_sigs: tuple[Signature, ...] = ()


def _check_text(text: str, what: str) -> bytes:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedNote(f"{what} is not valid UTF-8") from exc
    if any(c < 0x20 and c != 0x0A for c in data):
        raise MalformedNote(f"{what} holds an ASCII control character other than newline")
    return data


def sign_note(text: str, *signers: Signer) -> str:
    """The signed note of ``text`` (which must end in a newline) by each of ``signers``."""
    if not signers:
        raise ValueError("sign_note needs at least one signer")
    data = _check_text(text, "note text")
    if not text.endswith("\n"):
        raise MalformedNote("note text must end with a newline")
    lines = []
    for signer in signers:
        sig = signer.key_id.to_bytes(4, "big") + signer.sign(data)
        lines.append(f"{SIG_PREFIX}{signer.name} {_b64encode(sig)}\n")
    return text + "\n" + "".join(lines)


def _known(verifiers: Verifier | Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    listed = [verifiers] if isinstance(verifiers, Verifier) else list(verifiers)
    known: dict[tuple[str, int], Verifier] = {}
    for v in listed:
        other = known.setdefault((v.name, v.key_id), v)
        if other.public_key != v.public_key:
            raise MalformedKey(f"two different verifier keys are both named {v.ref}")
    return known


def open_note(message: str | bytes, verifiers: Verifier | Iterable[Verifier]) -> Note:
    """Parse a signed note and check its signatures against ``verifiers`` (``note.Open``).

    Returns the note when at least one known key signed it and every known
    key's signature verifies; raises :class:`MalformedNote`,
    :class:`UnknownKey` or :class:`BadSignature` otherwise.
    """
    known = _known(verifiers)
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedNote("not valid UTF-8") from exc
    _check_text(message, "note")
    split = message.rfind("\n\n")
    if split < 0:
        raise MalformedNote("no blank line before the signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNote("the signature block is empty or does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"more than {MAX_SIGNATURES} signatures")
    text_bytes = text.encode("utf-8")
    sigs: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    seen_lines: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.startswith(SIG_PREFIX):
            raise MalformedNote(f"signature line {number} does not start with an em dash and space")
        name, _, b64 = line[len(SIG_PREFIX) :].partition(" ")
        try:
            raw = _b64decode(b64)
        except ValueError:
            raw = b""
        if not is_valid_name(name) or not b64 or len(raw) < 5:
            raise MalformedNote(f"signature line {number} is not '— <name> <base64>'")
        signature = Signature(name, int.from_bytes(raw[:4], "big"), b64)
        verifier = known.get((name, signature.key_id))
        if verifier is None:
            if line not in seen_lines:
                seen_lines.add(line)
                unverified.append(signature)
            continue
        if (name, signature.key_id) in seen:
            continue
        seen.add((name, signature.key_id))
        if not verifier.verify(text_bytes, raw[4:]):
            raise BadSignature(verifier.ref)
        sigs.append(signature)
    if not sigs:
        raise UnknownKey(sorted(v.ref for v in known.values()), [s.ref for s in unverified])
    return Note(text, tuple(sigs), tuple(unverified))
