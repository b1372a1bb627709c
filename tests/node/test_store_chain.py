"""StoreChain: the node's chain view on LMDB agrees with the in-memory one block by block."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from daoli.errors import StoreError
from daoli.machine.ports import UNKNOWN_PARENT
from daoli.node.chain import StoreChain
from daoli.store.blockstore import BlockStore
from tests.machine.harness import GENESIS_MS, Net, make_genesis


def finalized_chain(heights: int) -> Net:
    net = Net()
    net.start()
    net.run_until(GENESIS_MS + 60_000, stop=lambda: len(net.commits[0]) >= heights)
    return net


def test_replaying_finalized_blocks_gives_the_same_states(tmp_path: Path) -> None:
    net = finalized_chain(4)
    with BlockStore.open(tmp_path / "data") as store:
        chain = StoreChain(store, net.genesis)
        assert store.tip_id == net.genesis.id
        for c in net.commits[0][:4]:
            block = c.block
            # checked on the tip, before commit: the overlay answers like the memory chain
            assert chain.check(block).ok
            assert chain.voters_after(block.id) == list(net.hub.voters_after(block.id))
            assert chain.difficulty_after(block.id) == net.hub.difficulty_after(block.id)
            assert chain.state_after(block.id).acc == net.hub.state_after(block.id).acc
            chain.commit(block, c.certificate)
            assert store.tip_id == block.id
            assert store.state_acc == net.hub.state_after(block.id).acc
        m = net.machines[1]
        tip = net.commits[0][3].block.id
        assert chain.next_nonce(tip, m.pub) == net.hub.next_nonce(tip, m.pub)


def test_unknown_parents_and_invalid_blocks(tmp_path: Path) -> None:
    net = finalized_chain(2)
    b1, b2 = net.commits[0][0].block, net.commits[0][1].block
    with BlockStore.open(tmp_path / "data") as store:
        chain = StoreChain(store, net.genesis)
        assert chain.check(b2).reason == UNKNOWN_PARENT  # its parent is not held yet
        assert chain.check(b1).ok and chain.check(b2).ok  # now it is (as an overlay)
        forged = replace(b1, header=replace(b1.header, proposer_sig=bytes(64)))
        assert not chain.check(forged).ok  # real signatures are checked
        with pytest.raises(StoreError):
            chain.commit(forged, net.commits[0][0].certificate)
        with pytest.raises(StoreError):
            chain.state_after(b"\x01" * 32)


def test_a_store_of_another_chain_is_refused(tmp_path: Path) -> None:
    with BlockStore.open(tmp_path / "data") as store:
        StoreChain(store, make_genesis(4))
        with pytest.raises(StoreError, match="another chain"):
            StoreChain(store, make_genesis(4, chain_id="other-chain"))


def test_trusting_signatures_skips_only_the_transactions_signatures(tmp_path: Path) -> None:
    """``check(block, trust_signatures=True)`` (sync under a verified certificate): a
    transaction with a forged signature passes, a wrong state root still does not."""
    from daoli.core.address import address_bytes_of
    from daoli.core.blockbuild import build_block
    from daoli.core.crypto import pubkey_from_secret
    from daoli.core.tx import Transaction, Transfer
    from tests.machine.harness import secret

    net = finalized_chain(1)
    b1 = net.commits[0][0].block
    i = next(k for k, m in enumerate(net.machines) if m.pub == b1.header.proposer_pubkey)
    sk = secret("trustee", i)
    payer = pubkey_from_secret(secret("trustee", 0))
    tx = Transaction(net.genesis.chain_id, payer, 0, net.genesis.params.min_fee,
                     Transfer(address_bytes_of(pubkey_from_secret(sk)), 5))
    forged = replace(tx, sig=bytes([7]) * 64)
    with BlockStore.open(tmp_path / "data") as store:
        chain = StoreChain(store, net.genesis)
        state = chain.state_after(store.tip_id)
        built = build_block(state, state.acc, net.genesis, winner=b1.header.winner_ticket,
                            payroll=b1.payroll, txs=[forged], last_commit=None,
                            time_ms=b1.header.time_ms, sign=lambda h: h.signed(sk),
                            verify_signatures=False)
        block = built.block
        assert block.payload == (forged,)
        trusting = StoreChain(store, net.genesis)
        assert "signature" in (chain.check(block).reason or "")
        assert trusting.check(block, trust_signatures=True).ok
        bad_root = replace(block, header=replace(block.header, state_root=bytes(32)).signed(sk))
        assert not StoreChain(store, net.genesis).check(bad_root, trust_signatures=True).ok
