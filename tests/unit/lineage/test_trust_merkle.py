"""RFC 9162 Merkle trees: pinned against the RFC's recursive definitions, written out here.

``_mth``, ``_path`` and ``_subproof`` are MTH, PATH and SUBPROOF of RFC 9162
§2.1 transcribed as directly as possible (slow, recursive, over leaf *bytes*),
so the fast code in :mod:`jejak.lineage.trust.merkle` is checked against an
independent reading of the RFC, for every index and every consistency pair of
small trees.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jejak.lineage.trust import merkle
from jejak.lineage.trust.errors import MalformedCompactRange
from jejak.lineage.trust.merkle import CompactRange


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(d: list[bytes]) -> bytes:
    if not d:
        return _sha(b"")
    if len(d) == 1:
        return _sha(b"\x00" + d[0])
    k = _k(len(d))
    return _sha(b"\x01" + _mth(d[:k]) + _mth(d[k:]))


def _path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return _path(m, d[:k]) + [_mth(d[k:])]
    return _path(m - k, d[k:]) + [_mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [_mth(d)]
    k = _k(len(d))
    if m <= k:
        return _subproof(m, d[:k], b) + [_mth(d[k:])]
    return _subproof(m - k, d[k:], False) + [_mth(d[:k])]


def _leaves(n: int) -> list[bytes]:
    # distinct leaves of different lengths, the first one empty
    return [bytes(range(i % 7)) + i.to_bytes(2, "big") if i else b"" for i in range(n)]


TREES = {n: _leaves(n) for n in range(71)}
HASHES = {n: [merkle.leaf_hash(x) for x in d] for n, d in TREES.items()}


def test_known_values() -> None:
    # independent of any code here: SHA-256("") and the RFC 6962 test vector of
    # the empty-leaf hash (certificate-transparency-go's merkle tests)
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.root([]) == merkle.EMPTY_ROOT
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


def test_rfc6962_reference_roots() -> None:
    # the 8 leaves and roots of certificate-transparency's RFC 6962 test vectors
    leaves = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ]
    roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    hashes = [merkle.leaf_hash(x) for x in leaves]
    for n in range(1, 9):
        assert merkle.root(hashes, n).hex() == roots[n - 1]


@pytest.mark.parametrize("n", range(71))
def test_root_and_every_inclusion_proof_match_the_rfc(n: int) -> None:
    d, hashes = TREES[n], HASHES[n]
    head = merkle.root(hashes)
    assert head == _mth(d)
    assert CompactRange.from_leaf_hashes(hashes).root() == head
    for i in range(n):
        proof = merkle.inclusion_proof(i, hashes)
        assert proof == _path(i, d), (n, i)
        assert [
            merkle.subtree_root(hashes, a, b) for a, b in merkle.inclusion_ranges(i, n)
        ] == proof
        assert merkle.verify_inclusion(hashes[i], i, n, proof, head)
        assert merkle.inclusion_root(hashes[i], i, n, proof) == head
        # the same proof does not hold for another leaf, index or size
        if n > 1:
            other = (i + 1) % n
            assert not merkle.verify_inclusion(hashes[other], i, n, proof, head)
            assert not merkle.verify_inclusion(hashes[i], other, n, proof, head)
            assert not merkle.verify_inclusion(hashes[i], i, n, proof[:-1], head)
        assert not merkle.verify_inclusion(hashes[i], i, n, [*proof, head], head)


@pytest.mark.parametrize("new", range(41))
def test_every_consistency_proof_matches_the_rfc(new: int) -> None:
    d, hashes = TREES[new], HASHES[new]
    new_root = merkle.root(hashes)
    for old in range(new + 1):
        old_root = merkle.root(hashes, old)
        proof = merkle.consistency_proof(old, hashes)
        want = _subproof(old, d, True) if 0 < old < new else []
        assert proof == want, (old, new)
        assert merkle.verify_consistency(old, new, old_root, new_root, proof), (old, new)
        if 0 < old < new:
            assert not merkle.verify_consistency(old, new, new_root, new_root, proof)
            assert not merkle.verify_consistency(old, new, old_root, old_root, proof)
            assert not merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])
            assert not merkle.verify_consistency(old, new, old_root, new_root, [])


def test_consistency_edge_cases() -> None:
    hashes = HASHES[10]
    r5, r10 = merkle.root(hashes, 5), merkle.root(hashes)
    assert merkle.verify_consistency(0, 10, merkle.EMPTY_ROOT, r10, [])
    assert not merkle.verify_consistency(0, 10, merkle.EMPTY_ROOT, r10, [r5])
    assert merkle.verify_consistency(10, 10, r10, r10, [])
    assert not merkle.verify_consistency(10, 10, r5, r10, [])
    assert not merkle.verify_consistency(10, 10, r10, r10, [r10])
    assert not merkle.verify_consistency(10, 5, r10, r5, [])
    assert not merkle.verify_consistency(5, 10, r5, r10, [b"short"])
    # a proof for a smaller tree may be asked for from a longer list of leaves
    assert merkle.consistency_proof(3, hashes, 7) == merkle.consistency_proof(3, hashes[:7])
    assert merkle.inclusion_proof(2, hashes, 7) == merkle.inclusion_proof(2, hashes[:7])


def test_bad_arguments_raise_and_bad_proofs_answer_false() -> None:
    hashes = HASHES[5]
    with pytest.raises(ValueError):
        merkle.inclusion_proof(5, hashes)
    with pytest.raises(ValueError):
        merkle.inclusion_proof(0, hashes, 6)
    with pytest.raises(ValueError):
        merkle.consistency_proof(6, hashes)
    with pytest.raises(ValueError):
        merkle.subtree_root(hashes, 3, 2)
    head = merkle.root(hashes)
    assert not merkle.verify_inclusion(hashes[0], 5, 5, [], head)
    assert not merkle.verify_inclusion(hashes[0], -1, 5, [], head)
    assert not merkle.verify_inclusion(b"x", 0, 1, [], b"x")
    assert merkle.inclusion_root(hashes[0], 0, 5, [b"\x00" * 31] * 3) is None


def test_large_chunked_tree_matches_the_compact_range() -> None:
    # several 1024-leaf chunks and a partial one: the chunked path of subtree_root
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(5000)]
    cr = CompactRange()
    for h in hashes[:4097]:
        cr.append(h)
    assert cr.root() == merkle.root(hashes, 4097)
    cr.extend(hashes[4097:])
    assert cr.root() == merkle.root(hashes)
    proof = merkle.inclusion_proof(4321, hashes)
    assert merkle.verify_inclusion(hashes[4321], 4321, 5000, proof, cr.root())
    proof = merkle.consistency_proof(3000, hashes)
    assert merkle.verify_consistency(3000, 5000, merkle.root(hashes, 3000), cr.root(), proof)
    assert merkle.subtree_root(hashes, 1000, 4500) == _mth_of_hashes(hashes[1000:4500])


def _mth_of_hashes(hashes: list[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _k(len(hashes))
    return _sha(b"\x01" + _mth_of_hashes(hashes[:k]) + _mth_of_hashes(hashes[k:]))


def test_compact_range_state_round_trips() -> None:
    cr = CompactRange()
    assert cr.root() == merkle.EMPTY_ROOT
    assert CompactRange.from_bytes(cr.to_bytes()) == cr
    for n, h in enumerate(HASHES[70], start=1):
        cr.append(h)
        size, hashes = cr.state()
        assert size == n and len(hashes) == n.bit_count()
        resumed = CompactRange.restore(size, hashes)
        assert resumed == cr and resumed.root() == merkle.root(HASHES[70], n)
        assert CompactRange.from_bytes(cr.to_bytes()) == cr
    copy = cr.copy()
    copy.append(HASHES[70][0])
    assert copy != cr and copy.size == cr.size + 1


def test_compact_range_append_data_returns_the_leaf_hash() -> None:
    cr = CompactRange()
    assert cr.append_data(b"row") == merkle.leaf_hash(b"row")
    assert cr.root() == merkle.leaf_hash(b"row")
    with pytest.raises(ValueError):
        cr.append(b"not 32 bytes")


@pytest.mark.parametrize(
    ("size", "hashes"),
    [
        (-1, []),
        (3, [b"\x00" * 32]),
        (2, [b"\x00" * 32, b"\x00" * 32]),
        (1, [b"\x00" * 31]),
    ],
)
def test_restore_refuses_state_no_tree_has(size: int, hashes: list[bytes]) -> None:
    with pytest.raises(MalformedCompactRange):
        CompactRange.restore(size, hashes)


def test_from_bytes_refuses_torn_state() -> None:
    data = CompactRange.from_leaf_hashes(HASHES[3]).to_bytes()
    for cut in (data[:7], data[:-1], data[:-32]):
        with pytest.raises(MalformedCompactRange):
            CompactRange.from_bytes(cut)


@settings(max_examples=60, deadline=None)
@given(
    leaves=st.lists(st.binary(max_size=12), min_size=1, max_size=300),
    cut=st.integers(min_value=0),
    data=st.data(),
)
def test_append_restore_append_equals_the_root(
    leaves: list[bytes], cut: int, data: st.DataObject
) -> None:
    hashes = [merkle.leaf_hash(x) for x in leaves]
    cut %= len(hashes) + 1
    first = CompactRange.from_leaf_hashes(hashes[:cut])
    resumed = CompactRange.from_bytes(first.to_bytes())
    resumed.extend(hashes[cut:])
    head = merkle.root(hashes)
    assert resumed.root() == head
    i = data.draw(st.integers(0, len(hashes) - 1))
    assert merkle.verify_inclusion(
        hashes[i], i, len(hashes), merkle.inclusion_proof(i, hashes), head
    )
    if cut:
        proof = merkle.consistency_proof(cut, hashes)
        assert merkle.verify_consistency(cut, len(hashes), first.root(), head, proof)


@pytest.mark.parametrize(("first", "then"), [(0, 1), (0, 70), (1, 1), (5, 27), (64, 65), (63, 1)])
def test_extend_is_append_in_one_loop(first: int, then: int) -> None:
    leaves = [merkle.leaf_hash(b"%d" % i) for i in range(first + then)]
    one_by_one, bulk = merkle.CompactRange(), merkle.CompactRange()
    for h in leaves:
        one_by_one.append(h)
    bulk.extend(leaves[:first])
    bulk.extend(leaves[first:])
    assert bulk == one_by_one and bulk.size == first + then
    assert bulk.root() == merkle.root(leaves)
    with pytest.raises(ValueError):
        bulk.extend([b"short"])
    assert bulk.size == first + then  # a refused leaf changes nothing
