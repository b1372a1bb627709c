"""The binary Merkle root of block payloads and payrolls.

Checked against an independent recursive implementation of RFC 6962's Merkle Tree Hash
(section 2.1), which the iterative promote-the-odd-node code must equal for every size.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daoli.core.block import payload_root, payroll_root
from daoli.core.hashing import EMPTY_ROOT, merkle_root, sha256

leaves_32 = st.lists(st.binary(min_size=32, max_size=32), max_size=70)


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(x: bytes) -> bytes:
    return h(b"\x00" + x)


def node(a: bytes, b: bytes) -> bytes:
    return h(b"\x01" + a + b)


def rfc6962_mth(items: list[bytes]) -> bytes:
    """MTH(D[n]): split at the largest power of two smaller than n (RFC 6962, 2.1)."""
    n = len(items)
    if n == 0:
        return h(b"")
    if n == 1:
        return leaf(items[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return node(rfc6962_mth(items[:k]), rfc6962_mth(items[k:]))


def ids(n: int) -> list[bytes]:
    return [sha256(i.to_bytes(4, "big")) for i in range(n)]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert payload_root(()) == payroll_root([]) == EMPTY_ROOT


def test_small_trees_by_hand() -> None:
    a, b, c, d, e = ids(5)
    assert merkle_root([a]) == leaf(a)
    assert merkle_root([a]) != a  # a single leaf is still hashed (domain-separated)
    assert merkle_root([a, b]) == node(leaf(a), leaf(b))
    assert merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c))  # c promoted
    assert merkle_root([a, b, c, d]) == node(node(leaf(a), leaf(b)), node(leaf(c), leaf(d)))
    assert merkle_root([a, b, c, d, e]) == node(
        node(node(leaf(a), leaf(b)), node(leaf(c), leaf(d))), leaf(e))


@pytest.mark.parametrize("n", range(0, 40))
def test_equals_rfc6962_for_every_size(n: int) -> None:
    assert merkle_root(ids(n)) == rfc6962_mth(ids(n))


@given(leaves_32)
@settings(max_examples=150, deadline=None)
def test_equals_rfc6962(leaves: list[bytes]) -> None:
    assert merkle_root(leaves) == rfc6962_mth(leaves)


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40))
@settings(max_examples=150, deadline=None)
def test_duplicating_the_last_leaf_changes_the_root(leaves: list[bytes]) -> None:
    """Unlike Bitcoin (CVE-2012-2459), [.., x] and [.., x, x] have different roots."""
    assert merkle_root([*leaves, leaves[-1]]) != merkle_root(leaves)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 9, 33])
def test_odd_and_even_counts_with_a_repeated_tail(n: int) -> None:
    items = ids(n)
    roots = {merkle_root(items + [items[-1]] * extra) for extra in range(4)}
    assert len(roots) == 4


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=2, max_size=40, unique=True),
       st.data())
@settings(max_examples=150, deadline=None)
def test_order_matters(leaves: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(leaves) - 1))
    j = data.draw(st.integers(0, len(leaves) - 1).filter(lambda x: x != i))
    swapped = list(leaves)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    assert merkle_root(swapped) != merkle_root(leaves)


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=20),
       st.binary(min_size=32, max_size=32))
@settings(max_examples=100, deadline=None)
def test_any_changed_or_dropped_leaf_changes_the_root(leaves: list[bytes], other: bytes) -> None:
    root = merkle_root(leaves)
    if other != leaves[0]:
        assert merkle_root([other, *leaves[1:]]) != root
    assert merkle_root(leaves[:-1]) != root


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    """An inner node can't pass for a leaf: a 64-byte 'leaf' equal to two child hashes
    does not reproduce the parent (second-preimage resistance of the tree)."""
    a, b = ids(2)
    assert merkle_root([leaf(a) + leaf(b)]) != merkle_root([a, b])
    assert merkle_root([node(leaf(a), leaf(b))]) != merkle_root([a, b])


def test_root_is_32_bytes_and_deterministic() -> None:
    for n in (0, 1, 2, 100, 1000):
        root = merkle_root(ids(n))
        assert len(root) == 32
        assert root == merkle_root(ids(n))
