"""RFC 9162 (Certificate Transparency v2) Merkle trees over SHA-256: roots and proofs.

The hashing is the one of RFC 6962/9162, so any transparency-log tool checks
what jejak writes (``github.com/transparency-dev/merkle`` with
``rfc6962.DefaultHasher``, Go's ``golang.org/x/mod/sumdb/tlog``)::

    leaf hash   = SHA-256(0x00 || leaf bytes)
    node hash   = SHA-256(0x01 || left || right)
    empty tree  = SHA-256("")
    MTH(D[n])   = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

The 0x00/0x01 prefixes keep a leaf from ever being read as an inner node
(second-preimage resistance). Every function here takes *leaf hashes*, not leaf
bytes: the store keeps one 32-byte hash per row and hashes the row once
(:func:`leaf_hash`).

Proofs, for a tree of ``size`` leaves:

- :func:`inclusion_proof` / :func:`verify_inclusion`: the audit path of one
  leaf, deepest sibling first (RFC 9162 §2.1.3; verification is the algorithm
  of §2.1.3.2);
- :func:`consistency_proof` / :func:`verify_consistency`: that the tree of
  ``old_size`` is a prefix of the tree of ``new_size`` (§2.1.4, §2.1.4.2). An
  empty old tree is consistent with every tree (empty proof), and equal sizes
  need an empty proof and equal roots, as in transparency-dev's verifier.

Cost. A proof is a list of roots of O(log n) disjoint subtrees, which together
cover fewer than n leaves; :func:`inclusion_ranges` and
:func:`consistency_ranges` name those subtrees as ``(start, end)`` leaf ranges
and :func:`subtree_root` hashes one of them. So a proof from the list of leaf
hashes costs fewer than n hashes and O(log n) memory beyond that list (the tree
is never materialised: subtrees are hashed level by level in 1024-leaf chunks).
A store that keeps roots of subtrees it has already hashed can answer the
ranges from them instead and call nothing here but the range functions.

Appending. :class:`CompactRange` is the writer's side: the roots of the perfect
subtrees covering leaves ``[0, size)`` (at most one per bit of ``size``, so
about 20 hashes for a million leaves), the same state as transparency-dev's
compact range from 0. ``append`` costs amortised two hashes, ``root`` at most
log n. Its state (``size`` and ``hashes``, or ``to_bytes``) is what a consumer
stores beside each checkpoint to resume a partition's tree after a restart.

Caller mistakes (an index outside the tree, a negative size) raise
``ValueError``; stored state that cannot be a tree raises
:class:`~jejak.lineage.trust.errors.MalformedCompactRange`; verification
functions answer ``False`` and never raise for a bad proof.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

from jejak.lineage.trust.errors import MalformedCompactRange

HASH_SIZE = 32
"""Bytes of a SHA-256 hash: leaf hashes, node hashes and roots."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the tree with no leaves (RFC 9162 §2.1.1)."""

_LEAF = b"\x00"
_NODE = b"\x01"
_CHUNK = 1024  # leaves hashed level by level at once: list speed, bounded memory

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The leaf hash of one entry's bytes: SHA-256(0x00 || data)."""
    return _sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: SHA-256(0x01 || left || right)."""
    return _sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` >= 2): the size of the left subtree."""
    return 1 << ((n - 1).bit_length() - 1)


def _levels_root(hashes: list[bytes]) -> bytes:
    """MTH of a non-empty list of leaf hashes, one level at a time.

    Pairing neighbours and promoting a lone last node to the next level builds
    exactly the tree of the recursive definition (its left subtrees are always
    perfect); the unit tests pin this against the recursive definition.
    """
    sha = _sha256
    node = _NODE
    while len(hashes) > 1:
        paired = [
            sha(node + hashes[i] + hashes[i + 1]).digest() for i in range(0, len(hashes) - 1, 2)
        ]
        if len(hashes) & 1:
            paired.append(hashes[-1])
        hashes = paired
    return hashes[0]


def _fold(stack: Sequence[bytes]) -> bytes:
    """Combine perfect-subtree roots (largest, leftmost first) into the root of the whole range."""
    if not stack:
        return EMPTY_ROOT
    acc = stack[-1]
    for h in reversed(stack[:-1]):
        acc = node_hash(h, acc)
    return acc


def _check_size(size: int | None, available: int) -> int:
    if size is None:
        return available
    if not 0 <= size <= available:
        raise ValueError(f"tree size {size} outside 0..{available} (the leaf hashes given)")
    return size


def subtree_root(leaf_hashes: Sequence[bytes], start: int = 0, end: int | None = None) -> bytes:
    """MTH of the leaves ``[start, end)``: the root of that range as a tree of its own.

    For the ranges a proof needs (:func:`inclusion_ranges`,
    :func:`consistency_ranges`) this is the root of a node of the big tree.
    Costs ``end - start - 1`` hashes and O(log n) memory.
    """
    end = len(leaf_hashes) if end is None else end
    if not 0 <= start <= end <= len(leaf_hashes):
        raise ValueError(f"leaf range [{start}, {end}) outside 0..{len(leaf_hashes)}")
    if start == end:
        return EMPTY_ROOT
    # full chunks are perfect subtrees: keep them as a compact range of chunk roots
    stack: list[bytes] = []
    chunks = 0
    pos = start
    while end - pos >= _CHUNK:
        h = _levels_root(list(leaf_hashes[pos : pos + _CHUNK]))
        n = chunks
        while n & 1:
            h = node_hash(stack.pop(), h)
            n >>= 1
        stack.append(h)
        chunks += 1
        pos += _CHUNK
    if pos < end:
        # the partial last chunk's own root folds in last: its subtrees are all smaller
        stack.append(_levels_root(list(leaf_hashes[pos:end])))
    return _fold(stack)


def root(leaf_hashes: Sequence[bytes], size: int | None = None) -> bytes:
    """The tree head (MTH) of the first ``size`` leaves (all of them by default)."""
    return subtree_root(leaf_hashes, 0, _check_size(size, len(leaf_hashes)))


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots make the audit path of leaf ``index`` (RFC 9162 PATH).

    In proof order: the sibling of the leaf first, the sibling just below the
    root last.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def inclusion_proof(
    index: int, leaf_hashes: Sequence[bytes], size: int | None = None
) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves (default: all)."""
    size = _check_size(size, len(leaf_hashes))
    return [subtree_root(leaf_hashes, a, b) for a, b in inclusion_ranges(index, size)]


def inclusion_root(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root that ``proof`` leads to from ``leaf_hash`` (RFC 9162 §2.1.3.2), or None.

    None when the proof cannot belong to leaf ``index`` of a tree of ``size``
    leaves at all: wrong number of hashes, a hash that is not 32 bytes, an
    index outside the tree. A proof of the right shape always yields a root,
    which the caller compares with the one it trusts.
    """
    if not 0 <= index < size or len(leaf_hash) != HASH_SIZE:
        return None
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0 or len(p) != HASH_SIZE:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf ``index`` of the tree of ``size`` leaves with head ``root``
    is ``leaf_hash`` (RFC 9162 §2.1.3.2)."""
    computed = inclusion_root(leaf_hash, index, size, proof)
    return computed is not None and hmac.compare_digest(computed, root)


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots make the consistency proof old -> new (RFC 9162 PROOF).

    Empty when ``old_size`` is 0 or equals ``new_size``.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        # the old tree's last subtree; left out when it is the whole old tree,
        # whose root the verifier already has
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def consistency_proof(
    old_size: int, leaf_hashes: Sequence[bytes], new_size: int | None = None
) -> list[bytes]:
    """The proof that the tree of ``old_size`` leaves is a prefix of the tree of ``new_size``
    (default: all the leaf hashes given)."""
    new_size = _check_size(new_size, len(leaf_hashes))
    return [subtree_root(leaf_hashes, a, b) for a, b in consistency_ranges(old_size, new_size)]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree ``old_root`` (``old_size`` leaves) is a prefix of the
    tree ``new_root`` (``new_size`` leaves), by RFC 9162 §2.1.4.2."""
    if not 0 <= old_size <= new_size:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old tree is a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)


class CompactRange:
    """The appending side of a tree: roots of the perfect subtrees covering ``[0, size)``.

    ``hashes`` holds one root per set bit of ``size``, largest (leftmost)
    first, exactly like transparency-dev's ``compact.Range`` starting at 0.
    That is all the state needed to keep appending and to compute the root of
    the tree so far, so a consumer keeps one per partition and persists
    ``(size, hashes)`` (or :meth:`to_bytes`) to resume after a restart with
    :meth:`restore` / :meth:`from_bytes`.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> list[bytes]:
        """A copy of the subtree roots, largest first (one per set bit of :attr:`size`)."""
        return list(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf, given its leaf hash (:func:`leaf_hash` of its bytes)."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, not {len(leaf_hash)}")
        h = bytes(leaf_hash)
        n = self._size
        while n & 1:  # each trailing one bit of the old size is a subtree to merge with
            h = node_hash(self._hashes.pop(), h)
            n >>= 1
        self._hashes.append(h)
        self._size += 1

    def append_data(self, data: bytes) -> bytes:
        """Add the next leaf by its bytes; returns its leaf hash (to store with the row)."""
        h = leaf_hash(data)
        self.append(h)
        return h

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append several leaf hashes in order: :meth:`append` in one loop, for bulk use.

        The same steps as ``append`` per leaf, with the look-ups hoisted out of
        the loop (``jejak verify`` extends by whole logs); a test pins the two
        to each other.
        """
        hashes, n, sha, node = self._hashes, self._size, _sha256, _NODE
        pop, push = hashes.pop, hashes.append
        try:
            for leaf in leaf_hashes:
                if len(leaf) != HASH_SIZE:
                    raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, not {len(leaf)}")
                h, m = bytes(leaf), n
                while m & 1:
                    h = sha(node + pop() + h).digest()
                    m >>= 1
                push(h)
                n += 1
        finally:
            self._size = n

    def root(self) -> bytes:
        """The tree head of the leaves so far (:data:`EMPTY_ROOT` when there are none)."""
        return _fold(self._hashes)

    def copy(self) -> CompactRange:
        return CompactRange.restore(self._size, self._hashes)

    def state(self) -> tuple[int, list[bytes]]:
        """``(size, hashes)``: what to persist to :meth:`restore` this range later."""
        return self._size, list(self._hashes)

    @classmethod
    def restore(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """The range of a stored :meth:`state`; refuses one that no tree can have."""
        if size < 0:
            raise MalformedCompactRange(f"negative size {size}")
        want = size.bit_count()
        if len(hashes) != want:
            raise MalformedCompactRange(
                f"a tree of {size} leaves has {want} subtree roots, not {len(hashes)}"
            )
        if any(len(h) != HASH_SIZE for h in hashes):
            raise MalformedCompactRange(f"a subtree root has {HASH_SIZE} bytes")
        cr = cls()
        cr._size = size
        cr._hashes = [bytes(h) for h in hashes]
        return cr

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> CompactRange:
        """The range after appending ``leaf_hashes`` to an empty tree."""
        cr = cls()
        cr.extend(leaf_hashes)
        return cr

    def to_bytes(self) -> bytes:
        """A compact binary state: the size as 8 bytes big-endian, then the subtree roots."""
        return self._size.to_bytes(8, "big") + b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        """The range stored by :meth:`to_bytes`."""
        if len(data) < 8 or (len(data) - 8) % HASH_SIZE:
            raise MalformedCompactRange(f"{len(data)} bytes is not 8 + a multiple of {HASH_SIZE}")
        size = int.from_bytes(data[:8], "big")
        body = data[8:]
        hashes = [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)]
        return cls.restore(size, hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()[:16]}…)"
