"""Regression tests for defects found reviewing the simulator's metrics and behaviours."""

from __future__ import annotations

import pytest

from daoli.core.ticket import Ticket
from daoli.sim.runner import SimConfig, World
from tests.sim.conftest import run_world, sim


@pytest.mark.parametrize("seed", [2, 3])
def test_a_vote_unlucky_trustee_never_certifies_a_block_it_dissented_from(seed: int) -> None:
    """Its I-BFT machine records the honest precommit it then does not send; that phantom
    precommit must not reach the certificates it puts in its own proposals (it would pay
    itself the trustee reward the behaviour exists to forfeit)."""
    w = run_world(trustees=4, miners=60, heights=20, seed=seed, byzantine=1,
                  behaviour="vote-unlucky")
    byz = next(nd for nd in w.nodes if nd.behaviour == "vote-unlucky")
    own_blocks = [c.block for c in w.canonical.values()
                  if c.block.header.proposer_pubkey == byz.pub]
    assert own_blocks, "the dissenter should still propose when its miners win"
    for c in w.canonical.values():
        cert = c.block.last_commit
        assert cert is None or byz.pub not in cert.signers


def _late_ticket_world() -> tuple[World, Ticket, int]:
    w = World(SimConfig(trustees=4, miners=4, heights=2, seed=1))
    node = w.nodes[0]
    node.start()
    m = node.m  # the node's machine holds the policy under test
    c = m.lottery.first_cycle
    start = w.gtime + c * w.params.cycle_ms
    t = Ticket(w.chain_id, m.height, c, m.tip_id, w.miner_pub[0], node.pub, 0,
               start + 10, w.miner_sig[0])
    return w, t, c


def test_a_late_ticket_below_the_cut_is_not_counted_as_a_time_tie() -> None:
    """Tickets held for the relay batch are judged against the cut when flushed: one that
    missed the communication window is dropped by the lottery, so it is no time tie."""
    w, t, c = _late_ticket_world()
    m = w.nodes[0].m
    m.cut[c] = b"\x00" * 32
    late = t.time_ms + w.params.delta_ms + 1
    m.buf = [(c, b"\x01" * 32, 1, t, late, None)]
    m.on_flush(w.q.now)
    assert m.quiet.get(c, 0) == 0
    m.buf = [(c, b"\x01" * 32, 2, t, t.time_ms + w.params.delta_ms, None)]
    m.on_flush(w.q.now)
    assert m.quiet.get(c, 0) == 1


def test_rewards_by_behaviour_show_what_withholding_costs() -> None:
    """``withhold-proposal`` votes honestly, so its trustee reward matches the honest one:
    what it forfeits is the sponsor share, which the per-behaviour summary must show."""
    r = sim(trustees=4, miners=60, heights=20, seed=2, byzantine=1,
            behaviour="withhold-proposal")
    by_b = r["rewards_by_behaviour"]
    assert by_b["withhold-proposal"]["mean_sponsor_li"] == 0
    assert by_b["honest"]["mean_sponsor_li"] > 0
    assert "mean_evidence_reward_li" in by_b["honest"]
