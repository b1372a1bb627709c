"""Each transaction signature is verified once per node (docs/protocol.md §15).

``apply_block``/``check_block``/``StoreChain`` take ``verified_txs``: ids whose signature the
caller verified already (the mempool's ``CachingVerifier``). Those signatures are skipped;
every other check, and the result, are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daoli.core import ledger
from daoli.core.blockbuild import check_block
from daoli.core.ledger import InvalidTransactionInBlock, apply_block
from daoli.core.tx import Transaction
from daoli.core.vote import Vote
from daoli.errors import InvalidBlock
from daoli.machine.ports import CachingVerifier, EcdsaVerifier, TrustingVerifier
from daoli.node.chain import StoreChain
from daoli.store.blockstore import BlockStore
from tests.core.ledger_factories import (
    GENESIS_TIME_MS,
    Chain,
    make_genesis,
    make_vote,
    transfer,
)

N_TXS = 12


class Counter:
    """Wraps ``ledger.verify`` (the transaction signature check) and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = ledger.verify

    def __call__(self, pubkey: bytes, sig: bytes, msg: bytes) -> bool:
        self.calls += 1
        return self.real(pubkey, sig, msg)


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    c = Counter()
    monkeypatch.setattr(ledger, "verify", c)
    yield c


def transfers(n: int = N_TXS) -> list[Transaction]:
    """n transfers from 5 senders, nonces in order."""
    nonces = dict.fromkeys(range(1, 6), 0)
    out = []
    for i in range(n):
        s = 1 + i % 5
        out.append(transfer(s, 1 + (i + 1) % 5, 1_000 + i, nonces[s]))
        nonces[s] += 1
    return out


def lucky(cycle: int) -> dict[str, int]:
    """Cycle and time of a ticket the lottery accepts: 10 ms into its draw."""
    return {"cycle": cycle, "time_ms": GENESIS_TIME_MS + cycle * 1_000 + 10}


def chain_with_block(txs: list[Transaction], **kw: Any) -> tuple[Chain, Any]:
    """A chain at height 1 (so the block carries a certificate to check as well) and block
    2 with ``txs``, both valid for ``check_block`` too (difficulty 1, tickets on time)."""
    chain = Chain(make_genesis(pow_difficulty=1))
    chain.next(**lucky(3))
    return chain, chain.build(txs, **lucky(4), **kw)


def test_verified_ids_skip_exactly_their_signature_checks(counter: Counter) -> None:
    txs = transfers()
    chain, block = chain_with_block(txs)
    full = apply_block(chain.state, chain.state.acc, chain.genesis, block)
    assert counter.calls == N_TXS
    counter.calls = 0
    skipped = apply_block(chain.state, chain.state.acc, chain.genesis, block,
                          verified_txs={tx.id for tx in txs})
    assert counter.calls == 0
    assert skipped.diff == full.diff and skipped.diff.root == block.header.state_root


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_subset_gives_the_same_result(counter: Counter, data: st.DataObject) -> None:
    txs = transfers()
    chain, block = chain_with_block(txs)
    subset = data.draw(st.sets(st.sampled_from([tx.id for tx in txs])))
    counter.calls = 0
    result = apply_block(chain.state, chain.state.acc, chain.genesis, block,
                         verified_txs=subset)
    assert counter.calls == N_TXS - len(subset)
    assert result.diff.root == block.header.state_root


def test_a_bad_signature_not_in_the_set_is_still_refused() -> None:
    txs = transfers()
    forged = replace(txs[5], sig=txs[4].sig)  # a valid signature, of another transaction
    txs[5] = forged
    chain, block = chain_with_block(txs)
    others = {tx.id for tx in txs if tx is not forged}
    for verified in (None, others, frozenset()):
        with pytest.raises(InvalidTransactionInBlock, match="tx 5: bad signature"):
            apply_block(chain.state, chain.state.acc, chain.genesis, block,
                        verified_txs=verified)
    reason = check_block(chain.state, chain.state.acc, chain.genesis, block,
                         verified_txs=others).reason
    assert reason == "tx 5: bad signature"
    # The set is trusted: an id in it is not checked again (the caller's promise).
    apply_block(chain.state, chain.state.acc, chain.genesis, block,
                verified_txs=others | {forged.id})


def test_header_ticket_and_certificate_checks_are_unchanged() -> None:
    txs = transfers()
    chain, block = chain_with_block(txs)
    ids = {tx.id for tx in txs}
    bad_header = replace(block, header=replace(block.header, proposer_sig=bytes(64)))
    with pytest.raises(InvalidBlock, match="proposer signature"):
        apply_block(chain.state, chain.state.acc, chain.genesis, bad_header, verified_txs=ids)
    cert = block.last_commit
    assert cert is not None
    bad_cert = replace(cert, sigs=tuple(replace(s, sig=bytes(64)) for s in cert.sigs))
    rebuilt = chain.build(txs, last_commit=bad_cert, **lucky(4))
    with pytest.raises(InvalidBlock, match="does not verify"):
        apply_block(chain.state, chain.state.acc, chain.genesis, rebuilt, verified_txs=ids)


def test_check_block_and_store_chain_pass_the_set_on(counter: Counter,
                                                     tmp_path: Path) -> None:
    txs = transfers()
    chain = Chain(make_genesis(pow_difficulty=1))
    block1 = chain.build(**lucky(3))
    with BlockStore.open(tmp_path / "data") as store:
        verified = {tx.id for tx in txs}
        sc = StoreChain(store, chain.genesis, verified_txs=verified)
        assert sc.check(block1).ok
        chain.apply(block1)
        sc.commit(block1, chain.tip_cert())
        block2 = chain.build(txs, **lucky(4))
        counter.calls = 0
        c = sc.check(block2)
        assert c.ok, c.reason
        assert counter.calls == 0
        plain = check_block(chain.state, chain.state.acc, chain.genesis, block2)
        assert plain.ok and counter.calls == N_TXS
        assert plain.result is not None and c.result is not None
        assert plain.result.diff == c.result.diff


# --- CachingVerifier ------------------------------------------------------------------------


class CountingVerifier:
    trusted = False

    def __init__(self) -> None:
        self.inner = EcdsaVerifier()
        self.txs = 0
        self.votes = 0
        self.certs = 0

    def tx(self, tx: Transaction) -> bool:
        self.txs += 1
        return self.inner.tx(tx)

    def vote(self, vote: Vote) -> bool:
        self.votes += 1
        return self.inner.vote(vote)

    def certificate(self, *args: Any) -> None:
        self.certs += 1
        self.inner.certificate(*args)


def test_caching_verifier_remembers_verdicts_and_exposes_the_good_ids() -> None:
    inner = CountingVerifier()
    v = CachingVerifier(inner)
    good, other = transfers(2)
    bad = replace(good, sig=other.sig)
    assert v.tx(good) and v.tx(good) and v.tx(Transaction.decode(good.encode()))
    assert not v.tx(bad) and not v.tx(bad)
    assert inner.txs == 2  # one check per distinct id, refusals included
    assert good.id in v.verified_tx_ids
    assert bad.id not in v.verified_tx_ids and other.id not in v.verified_tx_ids
    assert "not bytes" not in v.verified_tx_ids  # type: ignore[operator]
    assert v.cached_txs == 2 and v.trusted is False
    assert CachingVerifier(TrustingVerifier()).trusted is True


def test_caching_verifier_is_bounded_and_forgets_the_oldest_first() -> None:
    inner = CountingVerifier()
    v = CachingVerifier(inner, max_txs=3)
    txs = transfers(5)
    for tx in txs:
        assert v.tx(tx)
    assert v.cached_txs == 3
    assert [tx.id in v.verified_tx_ids for tx in txs] == [False, False, True, True, True]
    inner.txs = 0
    assert v.tx(txs[4]) and inner.txs == 0  # still remembered
    assert v.tx(txs[0]) and inner.txs == 1  # forgotten: verified again, then remembered
    assert txs[0].id in v.verified_tx_ids and txs[2].id not in v.verified_tx_ids
    with pytest.raises(ValueError):
        CachingVerifier(inner, max_txs=0)


def test_caching_verifier_caches_votes_and_delegates_certificates() -> None:
    inner = CountingVerifier()
    v = CachingVerifier(inner, max_votes=2)
    vote = make_vote(101, 3, b"\x01" * 32)
    forged = replace(vote, sig=make_vote(101, 3, b"\x02" * 32).sig)
    assert v.vote(vote) and v.vote(vote) and not v.vote(forged) and not v.vote(forged)
    assert inner.votes == 2 and v.cached_votes == 2
    assert vote.id not in v.verified_tx_ids  # votes never count as verified transactions
    chain = Chain()
    chain.next()
    cert = chain.tip_cert()
    tip = ledger.read_tip(chain.state)
    assert tip is not None
    voters = ledger.prev_active_trustees(chain.state)
    for _ in range(2):
        v.certificate(cert, chain.genesis.chain_id, tip.height, tip.block_id, voters)
    assert inner.certs == 2  # not cached
    with pytest.raises(InvalidBlock):
        v.certificate(cert, chain.genesis.chain_id, tip.height, b"\x00" * 32, voters)
