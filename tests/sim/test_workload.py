"""The transaction workload (``--tx-rate``): mempools, payloads, pruning and the ledger.

Every transfer submitted early enough must be finalized exactly once, each sender's nonces
in order, and the final state must hold exactly the supply the counters say, whatever the
network does (loss, skew, Byzantine trustees) as long as K <= f.
"""

from __future__ import annotations

import json

import pytest

from daoli.core.ledger import audit_supply, read_account
from daoli.core.params import LI_PER_DLC
from daoli.core.tx import Transaction, Transfer
from daoli.sim.runner import SimConfig, World, build_report, run
from tests.sim.conftest import run_world
from tests.sim.test_protocol import honest_chains_agree

SETTLE_HEIGHTS = 4
"""A transfer submitted before the block ``SETTLE_HEIGHTS`` below the last was finalized
must be in the chain (a few blocks of slack for gossip and the proposer's timing)."""


def check_workload(world: World) -> dict[str, object]:
    heights = world.cfg.heights
    assert world.metrics.safety_violations == []
    honest_chains_agree(world)
    wl = world.workload
    assert wl is not None
    chain = [world.canonical[h].block for h in range(1, heights + 1)]
    included = [tx for b in chain for tx in b.payload if type(tx.body) is Transfer]
    ids = [tx.id for tx in included]
    assert len(ids) == len(set(ids))  # exactly once
    assert set(ids) <= set(wl.submitted_at)  # nothing made up
    cut = world.canonical[heights - SETTLE_HEIGHTS].at_ms
    early = [tx for tx in wl.submitted if wl.submitted_at[tx.id] < cut]
    assert len(early) > 50
    missing = [tx for tx in early if tx.id not in set(ids)]
    assert missing == []
    nonces: dict[bytes, int] = {}
    for b in chain:
        for tx in b.payload:
            assert tx.nonce == nonces.get(tx.sender_pubkey, 0)
            nonces[tx.sender_pubkey] = tx.nonce + 1
    state = world.hub.state_after(chain[-1].id)
    assert audit_supply(state.items()).ok
    for pk, n in nonces.items():
        assert read_account(state, world.address(pk)).nonce == n
    report = build_report(world)
    assert report["txs_included"] == len(included)
    assert report["txs_submitted"] == len(wl.submitted)
    assert report["tx_latency_ms"]["count"] == len(included)
    assert report["tx_latency_ms"]["min"] > 0
    assert report["txs_per_block"]["count"] == heights
    assert report["mempool_max"] >= report["txs_per_block"]["max"] > 0
    return report


@pytest.mark.parametrize("seed", range(4))
def test_transfers_finalize_exactly_once_in_nonce_order(seed: int) -> None:
    # 50 accounts at 40 tx/s: each sender has several transactions in flight at once,
    # reaching nodes out of order.
    world = run_world(trustees=7, miners=40, heights=20, tx_rate=40, accounts=50, seed=seed)
    check_workload(world)


@pytest.mark.parametrize("seed", range(4))
def test_transfers_survive_loss_skew_and_equivocators(seed: int) -> None:
    world = run_world(trustees=7, miners=40, heights=20, tx_rate=40, accounts=50, seed=seed,
                      loss=0.05, clock_skew_ms=200, latency="lognormal", jitter_ms=40,
                      byzantine=2, behaviour="equivocate", epoch_blocks=8)
    report = check_workload(world)
    assert report["rewards_by_behaviour"]["equivocate"]["slashed"] == 2


@pytest.mark.parametrize("behaviour", ["silent", "withhold-proposal", "vote-unlucky"])
def test_transfers_with_other_byzantine_behaviours(behaviour: str) -> None:
    world = run_world(trustees=7, miners=40, heights=15, tx_rate=30, accounts=100, seed=2,
                      loss=0.02, byzantine=2, behaviour=behaviour)
    check_workload(world)


def test_without_a_rate_there_is_no_workload() -> None:
    world = run_world(trustees=4, miners=20, heights=4, seed=1)
    assert world.workload is None
    r = build_report(world)
    assert r["txs_submitted"] == r["txs_included"] == r["mempool_max"] == 0
    assert r["txs_per_block"]["max"] == 0


def test_same_seed_same_report_with_transactions() -> None:
    cfg = SimConfig(trustees=7, miners=40, heights=8, seed=9, tx_rate=50, accounts=30,
                    loss=0.03, byzantine=2, behaviour="equivocate")
    a, b = run(cfg), run(cfg)
    a.pop("wall_seconds")
    b.pop("wall_seconds")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["txs_included"] > 0


def test_a_node_holds_back_a_transaction_until_its_nonce_gap_closes() -> None:
    world = World(SimConfig(trustees=4, miners=10, heights=2, tx_rate=1, accounts=2))
    node = world.nodes[0]
    node.start()
    m = node.m  # the node's machine holds the mempool policy under test
    wl = world.workload
    assert wl is not None
    sender, to = wl.pubkeys[0], wl.addresses[1]

    def tx(nonce: int) -> Transaction:
        return Transaction(world.chain_id, sender, nonce, world.params.min_fee,
                           Transfer(to, LI_PER_DLC), bytes(64))

    assert not m.add_tx(tx(2)) and not m.add_tx(tx(1))
    assert len(m.mempool) == 0 and m.n_orphans == 2
    assert m.add_tx(tx(0))  # closes the gap: 1 and 2 follow
    assert len(m.mempool) == 3 and m.n_orphans == 0 and not m.orphans
    assert [t.nonce for t in m.payload()] == [0, 1, 2]
