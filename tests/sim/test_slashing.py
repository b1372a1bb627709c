"""Equivocation evidence becomes slashing: honest trustees report it as an Evidence
transaction, an honest proposer includes it, the ledger takes the culprit's bond (half to
the reporter) and drops the culprit from the active set at the next epoch boundary."""

from __future__ import annotations

import pytest

from daoli.core.ledger import audit_supply, quorum, read_trustee
from daoli.core.ledger_types import SLASHED
from daoli.core.tx import Evidence
from daoli.sim.runner import World, build_report
from tests.sim.conftest import run_world
from tests.sim.test_protocol import honest_chains_agree

SEEDS = range(8)

SLASH_WITHIN = 8
"""Heights by which every equivocator must be slashed: it equivocates from height 1, and
the report waits only for the next block an honest sponsor proposes."""


def check_slashed(world: World, report: dict[str, object], within: int) -> None:
    """Every equivocator slashed by ``within``, worse off net than any honest trustee, out
    of the final active set; safety held; the chain's slashes match the ledger's."""
    assert world.metrics.safety_violations == []
    honest_chains_agree(world)
    by_t = report["rewards_by_trustee"]
    assert isinstance(by_t, dict)
    byz = [v for v in by_t.values() if v["behaviour"] == "equivocate"]
    honest = [v for v in by_t.values() if v["behaviour"] == "honest"]
    assert byz and honest
    best_byz_net = max(v["net_li"] for v in byz)
    worst_honest_net = min(v["net_li"] for v in honest)
    assert best_byz_net < worst_honest_net
    for v in byz:
        assert v["slashed_at_height"] is not None and v["slashed_at_height"] <= within
        assert v["slashed_li"] == world.params.min_bond
        assert v["net_li"] == v["trustee_li"] - v["slashed_li"]
        assert v["evidence_reported"] == 0  # equivocators do not report
    for v in honest:
        assert v["slashed_li"] == 0 and v["slashed_at_height"] is None
    assert sum(v["evidence_reported"] for v in honest) == len(byz)  # one report per culprit
    assert sum(v["evidence_reward_li"] for v in honest) == len(byz) * world.params.min_bond // 2
    assert report["slashed_total_li"] == sum(v["slashed_li"] for v in by_t.values())
    by_b = report["rewards_by_behaviour"]
    assert isinstance(by_b, dict)
    assert by_b["equivocate"]["slashed"] == len(byz)
    assert by_b["honest"]["slashed"] == 0
    assert by_b["equivocate"]["net_li"] < by_b["honest"]["net_li"]


@pytest.mark.parametrize("seed", SEEDS)
def test_equivocators_are_slashed_and_removed(seed: int) -> None:
    heights, epoch = 20, 8
    world = run_world(trustees=7, miners=40, heights=heights, byzantine=2,
                      behaviour="equivocate", epoch_blocks=epoch, seed=seed)
    report = build_report(world)
    assert report["heights_finalized"] == heights
    assert all(len(nd.chain) == heights for nd in world.honest)
    check_slashed(world, report, SLASH_WITHIN)
    # Removed at the boundary after the slash; the machines then vote with 5 of 5 honest.
    last = world.canonical[heights].block
    final = world.hub.checks[last.id].result
    assert final is not None
    byz = {nd.pub for nd in world.nodes if not nd.honest}
    assert byz.isdisjoint(final.active_trustees)
    assert len(final.active_trustees) == 5
    # The final state: slashed records, the supply invariant.
    state = world.hub.state_after(last.id)
    for pk in byz:
        rec = read_trustee(state, pk)
        assert rec is not None and rec.status == SLASHED and rec.bond == 0
    assert audit_supply(state.items()).ok


def test_the_active_set_shrinks_to_a_smaller_quorum() -> None:
    """n = 4 with one equivocator: after its removal n = 3, f = 0, q = 3. The I-BFT machines
    of each height take their voters from the state after the previous block, so heights
    keep finalizing with every remaining trustee's precommit in each certificate."""
    heights, epoch = 16, 4
    world = run_world(trustees=4, miners=30, heights=heights, byzantine=1,
                      behaviour="equivocate", epoch_blocks=epoch, seed=3)
    report = build_report(world)
    assert report["heights_finalized"] == heights
    check_slashed(world, report, SLASH_WITHIN)
    slashed_at = max(v["slashed_at_height"] or 0
                     for v in report["rewards_by_trustee"].values())
    removed = -(-slashed_at // epoch) * epoch  # the boundary block that drops it
    assert removed < heights
    for h in range(removed + 2, heights + 1):
        cert = world.canonical[h].block.last_commit
        assert cert is not None
        assert len(cert.sigs) >= quorum(3) == 3
        culprits = {nd.pub for nd in world.nodes if not nd.honest}
        assert culprits.isdisjoint(s.trustee_pubkey for s in cert.sigs)


@pytest.mark.slow
def test_f_of_31_equivocators_with_loss_and_skew_are_all_slashed() -> None:
    world = run_world(trustees=31, miners=300, heights=20, byzantine=10,
                      behaviour="equivocate", latency="lognormal", latency_ms=40,
                      jitter_ms=30, loss=0.01, clock_skew_ms=150, offline_winner=0.1,
                      epoch_blocks=8, seed=7)
    report = build_report(world)
    assert report["heights_finalized"] == 20
    check_slashed(world, report, SLASH_WITHIN)


def test_only_honest_proposers_carry_evidence() -> None:
    """Byzantine proposers leave evidence out: every block carrying Evidence was proposed by
    an honest sponsor (the equivocators here are the only Byzantine trustees)."""
    world = run_world(trustees=7, miners=40, heights=12, byzantine=2, behaviour="equivocate",
                      seed=5)
    honest = {nd.pub for nd in world.honest}
    carried = 0
    for c in world.canonical.values():
        if any(type(tx.body) is Evidence for tx in c.block.payload):
            carried += 1
            assert c.block.header.proposer_pubkey in honest
    assert carried >= 1


def test_no_evidence_flag_keeps_equivocators_unpunished() -> None:
    world = run_world(trustees=7, miners=40, heights=10, byzantine=2, behaviour="equivocate",
                      evidence=False, seed=1)
    report = build_report(world)
    assert report["heights_finalized"] == 10 and report["safety_violations"] == 0
    assert report["equivocation_evidence"] > 0
    assert report["evidence_txs_created"] == 0 and report["slashed_total_li"] == 0
    assert report["rewards_by_behaviour"]["equivocate"]["slashed"] == 0


@pytest.mark.parametrize("behaviour", ["silent", "vote-unlucky", "withhold-proposal"])
def test_no_one_is_slashed_without_equivocation(behaviour: str) -> None:
    report = build_report(run_world(trustees=7, miners=40, heights=10, byzantine=2,
                                    behaviour=behaviour, seed=2))
    assert report["equivocation_evidence"] == 0
    assert report["evidence_txs_included"] == 0 and report["slashed_total_li"] == 0
