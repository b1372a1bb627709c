"""The ledger running on the LMDB store reaches exactly the state it reaches in memory.

The node applies blocks with the store as the ledger's StateReader and commits the diff in
one write transaction; this holds the two layers to the same bytes, height by height,
including across a reopen, and checks the store refuses a block the ledger refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daoli.core.ledger import apply_block, audit_supply, genesis_diff
from daoli.core.state import compute_acc, state_root_of
from daoli.core.tx import TrusteeJoin
from daoli.errors import InvalidBlock
from daoli.store import BlockStore
from tests.core.ledger_factories import Chain, make_genesis, pk, sign_tx, transfer


def _commit(store: BlockStore, chain: Chain, block) -> None:  # type: ignore[no-untyped-def]
    result = apply_block(store, store.state_acc, chain.genesis, block)
    store.commit_block(block, None, result.diff)


def test_ledger_on_store_matches_memory_block_by_block(tmp_path: Path) -> None:
    chain = Chain(make_genesis(epoch_blocks=3, min_bond=1000))
    path = tmp_path / "data"
    store = BlockStore.open(path)
    store.init_genesis(chain.genesis, genesis_diff(chain.genesis))
    assert store.state_root == chain.state.root
    nonce = {1: 0, 2: 0}
    for h in range(1, 9):
        txs = [transfer(1, 3 + h % 4, 1_000 * h, nonce[1]), transfer(2, 1, 7 * h, nonce[2])]
        nonce[1] += 1
        nonce[2] += 1
        if h == 2:  # a join that activates at the epoch boundary (height 3)
            txs.append(sign_tx(4, TrusteeJoin(5_000, "/ip4/127.0.0.1/tcp/9"), 0))
        block = chain.build(txs, payroll=[30 + h, 40 + h])
        chain.apply(block)
        _commit(store, chain, block)
        assert store.tip_height == h and store.tip_id == block.id
        assert store.state_root == chain.state.root == block.header.state_root
        assert dict(store.state_items()) == dict(chain.state.items())
        if h == 4:  # reopen in the middle: the state and accumulator come back intact
            store.close()
            store = BlockStore.open(path)
    assert state_root_of(compute_acc(store.state_items())) == store.state_root
    assert audit_supply(store.state_items()).ok
    assert b"T" + pk(4) in dict(store.state_items(b"T"))  # the join is on disk
    store.close()


def test_a_block_the_ledger_refuses_leaves_the_store_unchanged(tmp_path: Path) -> None:
    chain = Chain()
    with BlockStore.open(tmp_path / "data") as store:
        store.init_genesis(chain.genesis, genesis_diff(chain.genesis))
        good = chain.build([transfer(1, 2, 5, 0)])
        chain.apply(good)
        _commit(store, chain, good)
        before = (store.tip_height, store.state_root, dict(store.state_items()))
        replay = chain.build([transfer(1, 2, 5, 0)])  # nonce 0 again
        with pytest.raises(InvalidBlock, match="already used"):
            _commit(store, chain, replay)
        assert (store.tip_height, store.state_root, dict(store.state_items())) == before
