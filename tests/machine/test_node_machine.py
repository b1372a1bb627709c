"""NodeMachine at the machine level: each effect, the §15 policies, and crash-safe signing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from daoli.core.encoding import encode
from daoli.core.ibft import TimeoutKind
from daoli.core.reasons import DropReason
from daoli.core.vote import NIL, PRECOMMIT, PREVOTE, Vote
from daoli.machine import effects as fx
from daoli.machine.byzantine import (
    EquivocatingMachine,
    SilentMachine,
    VoteUnluckyMachine,
    WithholdingMachine,
    machine_class,
)
from daoli.machine.node import NodeMachine
from daoli.machine.signstate import SignState
from tests.machine.harness import GENESIS_MS, Net, of_type, secret


def run_heights(net: Net, heights: int, t_end: float = GENESIS_MS + 60_000) -> None:
    live = [i for i in range(net.n) if i not in net.down]
    net.run_until(t_end, stop=lambda: all(len(net.commits[i]) >= heights for i in live))


def test_start_arms_the_first_draw_and_regossip() -> None:
    net = Net()
    m = net.machines[0]
    eff = m.start(float(GENESIS_MS - 500))
    timers = [e.timer for e in eff if type(e) is fx.SetTimer]
    assert [type(t) for t in timers] == [fx.CycleTimer, fx.CloseTimer, fx.RegossipTimer]
    assert timers[0] == fx.CycleTimer(1, 0) and timers[1] == fx.CloseTimer(1, 0)
    assert m.height == 1 and m.tip_id == net.genesis.id
    # the first cycle starts at genesis; the close timer waits phi + delta after it
    p = net.genesis.params
    at = {type(e.timer): e.at_ms for e in eff if type(e) is fx.SetTimer}
    assert at[fx.CycleTimer] == GENESIS_MS
    assert at[fx.CloseTimer] == GENESIS_MS + p.phi_ms + p.delta_ms + 1


def test_a_cycle_start_hands_the_draw_to_the_miners() -> None:
    m = Net().machines[0]
    m.start(float(GENESIS_MS - 500))
    eff = m.on_timer(float(GENESIS_MS), fx.CycleTimer(1, 0))
    mine = [e for e in eff if type(e) is fx.MineDraw]
    assert len(mine) == 1 and mine[0].draw.cycle == 0 and mine[0].start_ms == GENESIS_MS
    assert any(type(e) is fx.SetTimer and e.timer == fx.CycleTimer(1, 1) for e in eff)
    assert m.on_timer(float(GENESIS_MS), fx.CycleTimer(2, 0)) == []  # another height: stale


def test_four_honest_machines_finalize_with_every_effect_in_order() -> None:
    net = Net()
    net.start()
    run_heights(net, 3)
    chains = [[c.block.id for c in net.commits[i][:3]] for i in range(4)]
    assert len(chains[0]) == 3 and all(c == chains[0] for c in chains)  # agreement
    for tp in (fx.MineDraw, fx.GossipTickets, fx.DrawClosed, fx.Proposed, fx.PersistProposal,
               fx.GossipProposal, fx.PersistVote, fx.GossipVote, fx.Commit, fx.Announce):
        assert of_type(net.log, tp), tp
    # every own vote is persisted before it is gossiped (crash-safe signing)
    for i in range(4):
        persisted: set[bytes] = set()
        for j, e in net.log:
            if j != i:
                continue
            if type(e) is fx.PersistVote:
                persisted.add(e.vote.id)
            elif type(e) is fx.GossipVote:
                assert e.vote.id in persisted
        own = [e for j, e in net.log if j == i and type(e) is fx.PersistProposal]
        for e in own:
            k = net.log.index((i, e))
            assert any(type(x) is fx.GossipProposal and x.block == e.block
                       for jj, x in net.log[k:] if jj == i)
    # the certificate of each block is a quorum of precommits for it
    c = net.commits[0][0]
    assert c.certificate.block_id == c.block.id and len(c.certificate.sigs) >= 3


def test_relayed_proposals_and_commits_carry_the_same_block() -> None:
    net = Net()
    net.start()
    run_heights(net, 1)
    relays = [e for e in of_type(net.log, fx.GossipProposal) if e.mode == fx.PROPOSE_RELAY]
    assert relays and all(e.block.id in net.hub.checks for e in relays)


def test_a_bad_vote_signature_is_dropped_and_named() -> None:
    net = Net()
    net.start()
    run_heights(net, 1)
    m = net.machines[0]
    forged = Vote(net.genesis.chain_id, PREVOTE, m.height, 0, NIL,
                  net.machines[1].pub, GENESIS_MS, bytes(64))
    eff = m.on_vote(net.now, "peer-x", forged)
    assert eff == [fx.Dropped("peer-x", DropReason.BAD_SIGNATURE, "vote")]


def test_a_forged_ticket_is_dropped_as_a_fault() -> None:
    net = Net()
    net.start()
    net.run_until(GENESIS_MS + 1)  # machines at height 1, draw 0 open
    m = net.machines[0]
    from daoli.core.crypto import pubkey_from_secret
    from daoli.core.lottery import lot
    from daoli.core.ticket import Ticket

    pk = pubkey_from_secret(secret("miner", 9))
    t = Ticket(net.genesis.chain_id, 1, 0, net.genesis.id, pk, net.machines[1].pub, 0,
               GENESIS_MS + 10, bytes(64))
    eff = m.on_tickets(GENESIS_MS + 12.0, "peer-y", [(t, t.id, lot(m.lottery.draw(0).seed, pk))])
    assert any(type(e) is fx.SetTimer and e.timer == fx.FLUSH for e in eff)
    flushed = m.on_timer(GENESIS_MS + 20.0, fx.FLUSH)
    assert [(type(e), e.peer, e.reason) for e in flushed] == [
        (fx.Dropped, "peer-y", DropReason.BAD_SIGNATURE)]


def test_invalid_and_orphan_proposals_are_dropped_with_reasons() -> None:
    net = Net()
    net.start()
    run_heights(net, 2)
    m = net.machines[0]
    good = net.commits[1][1].block  # height 2, which machine 0 already finalized
    # an orphan: a block two heights up whose parent we do not have
    bad_parent = replace(good.header, height=m.height, parent_id=b"\x07" * 32)
    orphan = replace(good, header=bad_parent)
    eff = m.on_proposal(net.now, "p", orphan)
    reasons = {e.reason for e in eff if type(e) is fx.Dropped}
    assert reasons <= {DropReason.UNKNOWN_PARENT, DropReason.INVALID_BLOCK} and reasons


def test_votes_from_a_higher_height_lead_to_a_sync_request() -> None:
    net = Net()
    net.down = {3}
    net.start()
    run_heights(net, 3)
    net.down = set()
    late = net.machines[3]
    net.carry_out(3, late.start(net.now))  # it comes up late, at height 1
    assert late.height == 1
    ahead = [e for j, e in net.log if j == 1 and type(e) is fx.GossipVote][-1].vote
    eff = late.on_vote(net.now, 1, ahead)
    sync = [e for e in eff if type(e) is fx.SetTimer and type(e.timer) is fx.SyncCheckTimer]
    assert sync and sync[0].timer.peer == 1
    req = late.on_timer(sync[0].at_ms, sync[0].timer)
    assert req == [fx.RequestSync(1, 1)]
    net.carry_out(3, req)
    net.run_until(net.now + 1_000, stop=lambda: late.height > 3)
    assert late.height >= 4
    assert of_type(net.log, fx.Synced, 3)
    ids = [c.block.id for c in net.commits[3][:3]]
    assert ids == [c.block.id for c in net.commits[0][:3]]


def test_an_announcement_of_the_next_block_finalizes_it() -> None:
    net = Net()
    net.start()
    run_heights(net, 1)
    fresh = Net()  # same genesis and keys: a machine that has seen nothing yet
    m = fresh.machines[2]
    m.start(net.now)
    c = net.commits[0][0]
    eff = m.on_announce(net.now, 0, c.block, c.certificate, c.round)
    # taken, and not announced again: the peers that sent it have it
    assert [type(e) for e in eff][:2] == [fx.Synced, fx.Commit]
    assert not [e for e in eff if type(e) in (fx.Announce, fx.RequestSync)]
    assert m.height == 2
    # a forged certificate is refused with a reason
    m2 = Net().machines[3]
    m2.start(net.now)
    forged = replace(c.certificate, sigs=c.certificate.sigs[:1])
    eff = m2.on_announce(net.now, 0, c.block, forged, c.round)
    assert [(type(e), e.reason) for e in eff] == [(fx.Dropped, DropReason.INVALID_CERTIFICATE)]
    # further ahead: a sync request to the announcer
    later = net.commits[0][0]
    m3 = Net().machines[1]
    m3.start(net.now)
    assert m3.on_announce(net.now, 0, replace(later.block, header=replace(
        later.block.header, height=5)), later.certificate, 0) == [fx.RequestSync(0, 1)]


def test_a_sync_reply_that_brought_blocks_asks_the_same_peer_for_more() -> None:
    net = Net()
    net.start()
    run_heights(net, 3)
    entries = [(c.block, c.certificate, c.round) for c in net.commits[0][:3]]
    m = Net().machines[2]
    m.start(net.now)
    eff = m.on_sync_reply(net.now, "peer-a", entries[:2], continue_sync=True)
    assert [e.height for e in eff if type(e) is fx.Synced] == [1, 2]
    assert [e for e in eff if type(e) is fx.RequestSync] == [fx.RequestSync("peer-a", 3)]
    assert not [e for e in eff if type(e) is fx.Announce]
    # nothing new in it: no request (the sync ends there)
    again = m.on_sync_reply(net.now, "peer-a", entries[:2], continue_sync=True)
    assert not [e for e in again if type(e) is fx.RequestSync]


def test_regossip_resends_own_votes_while_undecided() -> None:
    net = Net()
    net.down = {2, 3}  # no quorum: the height stays open
    net.start()
    net.run_until(GENESIS_MS + 5_000)
    regossip = of_type(net.log, fx.RegossipVotes, 0)
    assert regossip and all(v.trustee_pubkey == net.machines[0].pub
                            for e in regossip for v in e.votes)


def test_ibft_timeouts_are_timers_in_local_time() -> None:
    net = Net()
    net.down = {2, 3}
    net.start()
    net.run_until(GENESIS_MS + 3_000)
    kinds = {e.timer.kind for e in of_type(net.log, fx.SetTimer, 0)
             if type(e.timer) is fx.IbftTimer}
    assert TimeoutKind.PROPOSE in kinds


def test_equivocation_becomes_evidence() -> None:
    net = Net(machine_cls={1: EquivocatingMachine})
    net.start()
    run_heights(net, 2)
    assert of_type(net.log, fx.EquivocateVote, 1)
    seen = of_type(net.log, fx.EquivocationSeen)
    assert seen and all(e.vote_a.trustee_pubkey == net.machines[1].pub for e in seen)
    created = of_type(net.log, fx.EvidenceCreated)
    assert created and all(e.tx.verify_sig() for e in created)
    # each honest node reports a culprit once
    for i in (0, 2, 3):
        assert len(of_type(net.log, fx.EvidenceCreated, i)) <= 1


def test_withholding_and_silent_machines_never_propose() -> None:
    net = Net(machine_cls={1: WithholdingMachine, 2: SilentMachine})
    net.start()
    run_heights(net, 2)  # 3 of 4 voting: still live
    assert not of_type(net.log, fx.Proposed, 1)
    assert not [e for j, e in net.log if j == 2]
    assert len(net.commits[0]) >= 2


def test_vote_unlucky_never_certifies_what_it_dissented_from() -> None:
    net = Net(machine_cls={1: VoteUnluckyMachine})
    net.start()
    run_heights(net, 4)
    m = net.machines[1]
    for i in (0, 2, 3):
        for c in net.commits[i]:
            cert = c.block.last_commit
            if cert is not None and (cert.height, cert.round) in m.dissented:
                assert m.pub not in cert.signers


def test_machine_class_names_every_behaviour() -> None:
    assert machine_class("honest") is NodeMachine
    with pytest.raises(Exception, match="behaviour"):
        machine_class("nope")


# --- crash-safe signing ---------------------------------------------------------------------------


def test_sign_state_round_trips_and_refuses_conflicts() -> None:
    net = Net()
    net.start()
    run_heights(net, 1)
    m = net.machines[0]
    ss = m.sign_state
    assert ss.height >= 1 and ss.votes
    assert SignState.decode(ss.encode()) == ss
    # the assembled encoding is the canonical one, proposals included
    blocks = list(net.hub.blocks.values())
    assert blocks
    with_block = SignState(blocks[0].height, (), (blocks[0],))
    for state in (ss, with_block, SignState()):
        assert state.encoded == encode(state.to_fields())
    v = ss.votes[0]
    other = replace(v, block_id=b"\x05" * 32)
    assert ss.prior_vote(other) == v
    assert ss.prior_vote(replace(v, round=v.round + 7)) is None
    assert not ss.may_sign(ss.height - 1)


def test_a_restarted_trustee_repeats_its_vote_instead_of_signing_another() -> None:
    """Machine 0 prevotes for block A, 'crashes' (its persisted sign state survives), and is
    restarted at the same height. Offered only block B now, it must not prevote B."""
    net = Net()
    net.start()
    net.run_until(GENESIS_MS + 5_000, stop=lambda: bool(net.machines[0].sign_state.votes))
    m = net.machines[0]
    first = next(e.vote for e in of_type(net.log, fx.PersistVote, 0))
    saved = SignState.decode(m.sign_state.encode())
    restarted = net.restart(0, saved)
    signed = restarted._sign_vote(replace(first, block_id=b"\x09" * 32, sig=b""))
    assert signed == first  # the recorded vote, not a new signature for another block
    fresh = net.restart(0, SignState())
    other = fresh._sign_vote(replace(first, block_id=b"\x09" * 32, sig=b""))
    assert other != first and other.block_id == b"\x09" * 32  # without the record it would


def test_a_restarted_proposer_resends_its_block_instead_of_building_another() -> None:
    net = Net()
    net.start()
    run_heights(net, 1)
    proposals = of_type(net.log, fx.PersistProposal)
    assert proposals
    block = proposals[0].block
    ss = SignState().with_proposal(block)
    assert ss.prior_proposal(block.height, block.header.winner_ticket.id) == block
    assert ss.prior_proposal(block.height, b"\x00" * 32) is None


class _NetWithoutHub(Net):
    """Blocks are fetched only from what the machines hold (as real nodes serve them), not
    from the shared ledger hub: a block no running machine holds cannot be fetched."""

    def carry_out(self, i: int, effects: list[object]) -> None:
        rest = []
        for e in effects:
            if type(e) is fx.FetchBlock:
                self.log.append((i, e))
                found = next((self.machines[j].blocks[e.block_id] for j in self.others(i)
                              if e.block_id in self.machines[j].blocks), None)
                m = self.machines[i]
                self.at(self.now + 20, i, lambda m=m, e=e, b=found: m.on_fetched(
                    self.now, None, e.block_id, b))
            else:
                rest.append(e)
        super().carry_out(i, rest)


def test_every_trustee_restarting_after_a_quorum_precommitted_still_finishes_the_height(
        ) -> None:
    """All four stop right after three precommitted block X at height 2, before any stored
    it. Restarted on their sign states, they repeat their votes for X; X exists only in its
    proposer's record, so the proposer must hold and send it again, or no one can finish
    height 2 (what once stalled a resumed devnet)."""
    net = _NetWithoutHub()
    net.start()
    run_heights(net, 1)
    h = 2

    def precommitted() -> bool:
        signed = sum(any(v.height == h and v.vtype == PRECOMMIT and v.block_id != NIL
                         for v in m.sign_state.votes) for m in net.machines)
        return signed >= 3 and all(len(net.commits[i]) < h for i in range(net.n))

    net.run_until(GENESIS_MS + 60_000, stop=precommitted)
    assert precommitted()
    saved = [SignState.decode(m.sign_state.encode()) for m in net.machines]
    decided = {v.block_id for ss in saved for v in ss.votes
               if v.height == h and v.vtype == PRECOMMIT and v.block_id != NIL}
    net._q.clear()  # every machine stops: what was in flight is lost
    for i in range(net.n):
        net.restart(i, saved[i])
    net.run_until(net.now + 60_000, stop=lambda: min(net.heights()) >= h + 1)
    assert min(net.heights()) >= h + 1
    assert len({net.commits[i][h - 1].block.id for i in range(net.n)}) == 1
    assert net.commits[0][h - 1].block.id in decided


def test_precommit_record_survives_encoding() -> None:
    net = Net()
    net.start()
    run_heights(net, 1)
    votes = net.machines[0].sign_state.votes
    assert any(v.vtype == PRECOMMIT for v in SignState.decode(
        net.machines[0].sign_state.encode()).votes) or not votes


def test_handle_dispatches_events() -> None:
    net = Net()
    m = net.machines[0]
    assert m.handle(float(GENESIS_MS - 500), fx.Start())
    assert m.handle(float(GENESIS_MS), fx.TimerFired(fx.CycleTimer(1, 0)))
    with pytest.raises(TypeError):
        m.handle(0.0, object())  # type: ignore[arg-type]


def _net_hiding_proposals_from(victim: int) -> Net:
    net = Net()
    orig = net.carry_out

    def carry_out(i: int, effects: list[object]) -> None:
        kept = []
        for e in effects:
            if type(e) is fx.GossipProposal:
                for j in net.others(i):
                    if j != victim:
                        m = net.machines[j]
                        net.at(net.now + 20.0, j,
                               lambda m=m, b=e.block, i=i: m.on_proposal(net.now, i, b))
                net.log.append((i, e))
                continue
            kept.append(e)
        orig(i, kept)

    net.carry_out = carry_out  # type: ignore[method-assign]
    return net


def test_q_precommits_for_a_block_not_held_fetch_it() -> None:
    """Three trustees finalize a block a fourth never received: their precommits make it
    fetch the body (FetchBlock), and the fetched block is then finalized there too."""
    probe = Net()
    probe.start()
    run_heights(probe, 1)
    proposer = probe.commits[0][0].block.header.proposer_pubkey
    victim = next(i for i, m in enumerate(probe.machines) if m.pub != proposer)
    net = _net_hiding_proposals_from(victim)
    net.start()
    run_heights(net, 1)
    assert of_type(net.log, fx.FetchBlock, victim)
    assert net.commits[victim][0].block.id == net.commits[0][0].block.id


def test_withheld_winner_is_reported_and_the_lineup_finalizes() -> None:
    net = Net()
    for m in net.machines:
        m._skip_winner = lambda h: True
    net.start()
    run_heights(net, 1)
    withheld = of_type(net.log, fx.WithheldWinner)
    assert withheld and withheld[0].height == 1
    winner = net.commits[0][0].block.header.winner_ticket.miner_pubkey
    assert winner != withheld[0].miner_pubkey  # the next ticket of the lineup won


def test_an_equivocating_proposer_sends_two_blocks_for_one_ticket() -> None:
    net = Net(machine_cls=EquivocatingMachine)
    net.start()
    net.run_until(GENESIS_MS + 5_000, stop=lambda: bool(of_type(net.log,
                                                                  fx.EquivocateProposal)))
    parts = of_type(net.log, fx.EquivocateProposal)
    assert len(parts) >= 2
    a, b = parts[0], parts[1]
    assert {a.part, b.part} == {0, 1} and a.block.id != b.block.id
    assert a.block.header.winner_ticket == b.block.header.winner_ticket


def test_evidence_is_gossiped_as_a_transaction_batch() -> None:
    net = Net(machine_cls={1: EquivocatingMachine})
    net.start()
    run_heights(net, 2)
    created = {e.tx.id for e in of_type(net.log, fx.EvidenceCreated)}
    gossiped = {tx.id for e in of_type(net.log, fx.GossipTxs) for tx in e.txs}
    assert created and created <= gossiped


def test_below_its_recorded_height_a_trustee_only_observes() -> None:
    """A record from a later height than the chain the machine starts on (a store that lost
    blocks): it must not sign at the lower height, where it may already have signed."""
    net = Net()
    m = net.machines[0]
    m.sign_state = SignState(5)
    m.start(float(GENESIS_MS - 500))
    assert m.height == 1 and m.hs is not None and not m.hs.is_voter
    fresh = Net().machines[0]
    fresh.start(float(GENESIS_MS - 500))
    assert fresh.hs is not None and fresh.hs.is_voter


def test_a_machine_configured_not_to_vote_only_observes_and_still_follows() -> None:
    """``daoli node start --no-trustee``: a trustee key that must not vote here (it is
    voting elsewhere, or the operator wants a follower) signs nothing, and with three of
    four trustees voting the chain still finalizes and the observer follows it."""
    from daoli.machine.node import MachineConfig

    net = Net()
    m = net.machines[3]
    m.config = MachineConfig(vote=False)
    net.start()
    run_heights(net, 2)
    assert m.hs is not None and not m.hs.is_voter
    assert len(net.commits[3]) >= 2
    assert not [e for e in of_type(net.log, fx.GossipVote, 3)]
    assert not [e for e in of_type(net.log, fx.PersistVote, 3)]


def test_a_locally_submitted_transaction_gets_its_outcome_and_reason() -> None:
    """The API's admission is the machine's: the same pool rules as for a peer's, with the
    reason a submitter needs when refused."""
    from daoli.core.crypto import pubkey_from_secret
    from daoli.core.tx import Transaction, Transfer

    net = Net()
    m = net.machines[0]
    m.start(float(GENESIS_MS - 500))
    key = secret("trustee", 1)
    pub = pubkey_from_secret(key)
    cid = net.genesis.chain_id
    now = float(GENESIS_MS)

    def tx(nonce: int, fee: int = 1000, chain: str = cid) -> Transaction:
        return Transaction(chain, pub, nonce, fee, Transfer(bytes(20), 1)).signed(key)

    assert m.on_local_tx(now, tx(0)) == ("accepted", "")
    assert m.on_local_tx(now, tx(0)) == ("known", "")
    assert m.on_local_tx(now, tx(2)) == ("accepted", "")  # held until nonce 1 arrives
    assert m.on_local_tx(now, tx(2)) == ("known", "")
    assert m.on_local_tx(now, tx(1)) == ("accepted", "")
    assert {t.nonce for t in m.mempool.transactions()} == {0, 1, 2}  # the gap closed
    status, reason = m.on_local_tx(now, tx(3, fee=1))
    assert status == "rejected" and "min_fee" in reason
    status, reason = m.on_local_tx(now, tx(0, chain="other"))
    assert status == "rejected" and reason.startswith("wrong_chain")
    forged = replace(tx(4), sig=bytes(64))
    assert m.on_local_tx(now, forged) == ("rejected", "bad_signature")


def test_a_ticket_signature_checked_by_the_validator_is_not_checked_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A node's gossip validator and its lottery share one CachingVerifier: a ticket's
    signature is verified once, and a forgery is still refused by the lottery."""
    from daoli.core.crypto import pubkey_from_secret
    from daoli.core.lottery import lot, mine
    from daoli.core.ticket import Ticket
    from daoli.machine.ports import CachingVerifier, EcdsaVerifier

    net = Net()
    net.start()
    net.run_until(GENESIS_MS + 1)
    m = net.machines[0]
    m.verifier = CachingVerifier(EcdsaVerifier())
    draw = m.lottery.draw(0)
    assert draw is not None
    key = secret("miner", 9)
    pk = pubkey_from_secret(key)
    nonce = mine(draw.seed, pk, m.lottery.params.pow_target)
    assert nonce is not None
    good = Ticket(net.genesis.chain_id, 1, 0, net.genesis.id, pk, m.pub, nonce,
                  GENESIS_MS + 10).signed(key)
    calls: list[bytes] = []
    real = Ticket.verify_sig

    def counting(t: Ticket) -> bool:
        calls.append(t.id)
        return real(t)

    monkeypatch.setattr(Ticket, "verify_sig", counting)
    assert m.verifier.ticket(good)  # the validator, before GossipSub relays it
    m.on_tickets(GENESIS_MS + 12.0, "peer-x", [(good, good.id, lot(draw.seed, pk))])
    flushed = m.on_timer(GENESIS_MS + 20.0, fx.FLUSH)
    assert not [e for e in flushed if type(e) is fx.Dropped]
    assert len(draw) == 1 and calls == [good.id]  # accepted, verified once
    other = pubkey_from_secret(secret("miner", 8))
    work = mine(draw.seed, other, m.lottery.params.pow_target)
    assert work is not None
    forged = replace(good, miner_pubkey=other, nonce=work, sig=bytes(64))
    m.on_tickets(GENESIS_MS + 13.0, "peer-y", [(forged, forged.id, lot(draw.seed, other))])
    flushed = m.on_timer(GENESIS_MS + 21.0, fx.FLUSH)
    assert [(type(e), e.reason) for e in flushed if type(e) is fx.Dropped] == [
        (fx.Dropped, DropReason.BAD_SIGNATURE)]


def test_an_evidence_with_a_forged_vote_does_not_verify_as_a_transaction() -> None:
    """A node builds its proposals without checking signatures again: an Evidence whose
    votes do not verify must be refused at the door (gossip, API), or the block holding it
    would be refused by every validator, round after round."""
    from daoli.core.crypto import pubkey_from_secret
    from daoli.core.tx import Evidence, Transaction
    from daoli.machine.ports import CachingVerifier, EcdsaVerifier

    tkey = secret("trustee", 0)
    a = Vote("machine-test", PREVOTE, 3, 0, b"\x01" * 32, pubkey_from_secret(tkey),
             1_000).signed(tkey)
    b = Vote("machine-test", PREVOTE, 3, 0, b"\x02" * 32, pubkey_from_secret(tkey),
             1_000).signed(tkey)
    forged = replace(b, time_ms=5)  # its signature no longer matches
    reporter = secret("trustee", 1)

    def evidence(x: Vote, y: Vote) -> Transaction:
        return Transaction("machine-test", pubkey_from_secret(reporter), 0, 1_000,
                           Evidence(x, y)).signed(reporter)

    v = CachingVerifier(EcdsaVerifier())
    assert v.tx(evidence(a, b))
    bad = evidence(a, forged)
    assert bad.verify_sig()  # the envelope is fine: only the vote inside is forged
    assert not v.tx(bad) and bad.id not in v.verified_tx_ids
