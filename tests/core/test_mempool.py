"""The bounded mempool: admission, replacement, eviction, pruning and selection order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from daoli.core import mempool
from daoli.core.mempool import ADDED, REPLACED, Mempool
from daoli.core.tx import Transaction, Transfer
from tests.core.ledger_factories import CHAIN_ID, MIN_FEE, pk, transfer


def zero(_: bytes) -> int:
    return 0


def test_admission_rules() -> None:
    pool = Mempool(CHAIN_ID, MIN_FEE, max_per_sender=4)
    assert pool.add(transfer(1, 2, 5, nonce=0), zero).status == ADDED
    assert not pool.add(transfer(1, 2, 5, nonce=0), zero).ok  # same id
    assert "min_fee" in pool.add(transfer(2, 1, 5, nonce=0, fee=MIN_FEE - 1), zero).reason
    assert "gap" in pool.add(transfer(2, 1, 5, nonce=1), zero).reason
    assert "already used" in pool.add(transfer(3, 1, 5, nonce=0), lambda _: 1).reason
    assert "far ahead" in pool.add(transfer(3, 1, 5, nonce=9), lambda _: 5).reason
    assert "chain" in pool.add(transfer(3, 1, 5, nonce=0, chain_id="other"), zero).reason
    assert len(pool) == 1 and pool.size_bytes == len(transfer(1, 2, 5, nonce=0).encoded)


def test_replacement_needs_a_fee_bump() -> None:
    pool = Mempool(CHAIN_ID, MIN_FEE)
    first = transfer(1, 2, 5, nonce=0, fee=10_000)
    pool.add(first, zero)
    assert not pool.add(transfer(1, 2, 6, nonce=0, fee=10_999), zero).ok
    res = pool.add(transfer(1, 2, 6, nonce=0, fee=11_000), zero)
    assert res.status == REPLACED and res.evicted == (first,)
    assert first.id not in pool and len(pool) == 1


def test_eviction_prefers_low_fee_tails_and_refuses_worse_newcomers() -> None:
    one = len(transfer(1, 2, 5, nonce=0).encoded)
    pool = Mempool(CHAIN_ID, MIN_FEE, max_bytes=3 * one + 10)
    cheap = transfer(1, 2, 5, nonce=0, fee=2_000)
    pool.add(cheap, zero)
    pool.add(transfer(2, 1, 5, nonce=0, fee=5_000), zero)
    pool.add(transfer(3, 1, 5, nonce=0, fee=6_000), zero)
    assert not pool.add(transfer(4, 1, 5, nonce=0, fee=1_500), zero).ok
    res = pool.add(transfer(4, 1, 5, nonce=0, fee=9_000), zero)
    assert res.ok and res.evicted == (cheap,)
    assert pool.size_bytes <= pool.max_bytes


def test_selection_is_fee_ordered_and_nonce_ordered_per_sender() -> None:
    pool = Mempool(CHAIN_ID, MIN_FEE)
    pool.add(transfer(1, 2, 5, nonce=0, fee=1_000), zero)
    pool.add(transfer(1, 2, 5, nonce=1, fee=50_000), zero)  # rich, but behind a cheap one
    pool.add(transfer(2, 1, 5, nonce=0, fee=20_000), zero)
    pool.add(transfer(3, 1, 5, nonce=0, fee=10_000), zero)
    order = [(tx.sender_pubkey, tx.nonce) for tx in pool.select(zero, 1 << 20)]
    assert order == [(pk(2), 0), (pk(3), 0), (pk(1), 0), (pk(1), 1)]
    one = len(transfer(1, 2, 5, nonce=0).encoded)
    assert len(pool.select(zero, 2 * one + 1)) == 2
    assert len(pool.select(zero, 1 << 20, max_txs=3)) == 3


def test_prune_and_remove() -> None:
    pool = Mempool(CHAIN_ID, MIN_FEE)
    txs = [transfer(1, 2, 5, nonce=i) for i in range(4)]
    for tx in txs:
        assert pool.add(tx, zero).ok
    assert pool.prune(lambda _: 2) == 2
    assert [tx.nonce for tx in pool.transactions()] == [2, 3]
    assert pool.select(zero, 1 << 20) == []  # nonce 0 is not there: nothing executable
    assert [tx.nonce for tx in pool.select(lambda _: 2, 1 << 20)] == [2, 3]
    assert pool.remove([txs[3].id, b"nope"]) == 1 and len(pool) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 5), st.integers(1_000, 9_000)),
                max_size=40), st.integers(300, 3_000))
def test_bounds_and_selection_invariants(ops: list[tuple[int, int, int]], max_bytes: int) -> None:
    pool = Mempool(CHAIN_ID, MIN_FEE, max_bytes=max_bytes, max_txs=8, max_per_sender=4)
    for sender, nonce, fee in ops:
        pool.add(transfer(sender, 9, 1, nonce=nonce, fee=fee), zero)
        assert pool.size_bytes <= max_bytes and len(pool) <= 8
        assert pool.size_bytes == sum(len(t.encoded) for t in pool.transactions())
    chosen = pool.select(zero, 1 << 20)
    seen: dict[bytes, int] = {}
    for tx in chosen:
        assert tx.nonce == seen.get(tx.sender_pubkey, 0)  # consecutive from the ledger's nonce
        seen[tx.sender_pubkey] = tx.nonce + 1


def _unsigned(i: int, fee: int = MIN_FEE * 2, nonce: int = 0) -> Transaction:
    """A distinct sender per ``i`` (the pool leaves signatures to its caller)."""
    return Transaction(CHAIN_ID, i.to_bytes(33, "big"), nonce, fee,
                       Transfer(bytes(20), 1), bytes(64))


def test_a_refused_newcomer_to_a_full_pool_costs_linear_work(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A full pool used to build and sort a key for every sender on every add, so each
    hopeless min-fee transaction from a peer cost O(S log S) Python comparisons (a quarter
    of a second at 50,000 senders): a free CPU attack. Now one pass over cached keys."""
    senders = 2_000
    pool = Mempool(CHAIN_ID, MIN_FEE, max_txs=senders)
    for i in range(senders):
        assert pool.add(_unsigned(i), zero).ok
    calls = {"lt": 0, "init": 0}
    real_lt, real_init = mempool._Key.__lt__, mempool._Key.__init__

    def lt(self: object, other: object) -> bool:
        calls["lt"] += 1
        return real_lt(self, other)  # type: ignore[arg-type]

    def init(self: object, tx: Transaction) -> None:
        calls["init"] += 1
        real_init(self, tx)  # type: ignore[arg-type]

    monkeypatch.setattr(mempool._Key, "__lt__", lt)
    monkeypatch.setattr(mempool._Key, "__init__", init)
    res = pool.add(_unsigned(senders, fee=MIN_FEE), zero)
    assert not res.ok and "full" in res.reason
    assert calls["init"] <= 2 and calls["lt"] <= senders + 2
    # a better newcomer still evicts exactly the worst tail
    calls["lt"] = 0
    res = pool.add(_unsigned(senders + 1, fee=MIN_FEE * 3), zero)
    assert res.ok and len(res.evicted) == 1 and len(pool) == senders
    assert calls["lt"] <= 8 * senders


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 5), st.integers(1_000, 9_000),
                          st.booleans()), max_size=50))
def test_cached_tails_follow_every_change(ops: list[tuple[int, int, int, bool]]) -> None:
    """The eviction candidates (each sender's last transaction) stay exact through adds,
    replacements, evictions, removals and prunes."""
    pool = Mempool(CHAIN_ID, MIN_FEE, max_txs=6, max_per_sender=4)
    for sender, nonce, fee, prune in ops:
        pool.add(_unsigned(sender, fee=fee, nonce=nonce), zero)
        if prune and len(pool):
            pool.remove([pool.transactions()[0].id])
        expected = {s: txs[max(txs)].id for s, txs in pool._by_sender.items()}
        assert {s: k.txid for s, k in pool._tail.items()} == expected
