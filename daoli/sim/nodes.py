"""Simulated trustee/sponsor nodes: a thin adapter around :class:`NodeMachine`.

All node policy lives in :mod:`daoli.machine`; this module only connects a machine to the
simulated world: it hands the machine deliveries and timers at the node's local time
(simulated time plus its clock skew), and carries out the effects it returns on the event
queue and the simulated network.

Two shortcuts keep 100 trustees and 10,000 miners within a minute, and neither changes a
decision:

* **No ECDSA.** Signatures are deterministic 64-byte stand-ins (:class:`SimSigner`) and the
  machine is given a :class:`~daoli.machine.ports.TrustingVerifier`; keys are real
  secp256k1 keys (they feed lots).
* **One ledger per block.** Objective validity (``check_block``) and the state after a block
  depend only on (parent state, block), so the :class:`LedgerHub` (the machines' shared
  :class:`~daoli.machine.ports.ChainView`) computes them once per block id; each machine
  still judges a proposal's time rules on its own adjusted clock.

Proof of work follows the ledger: every node mines and judges tickets at the difficulty in
effect on its tip. Without ``--pow`` the work is *modelled* (a miner's time is exponential
with mean ``difficulty * hash_time_ms / rate``, nonce 0), so blocks are checked as if at
difficulty 1, exactly as signatures are skipped; with ``--pow`` nonces are ground and
checked for real.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from daoli.core.block import Block, Header
from daoli.core.tx import Transaction
from daoli.core.vote import CommitCertificate, Vote
from daoli.machine.byzantine import HONEST, SILENT, machine_class
from daoli.machine.effects import (
    PROPOSE_OWN,
    PROPOSE_RELAY,
    Announce,
    Commit,
    DrawClosed,
    Dropped,
    EquivocateProposal,
    EquivocateVote,
    EquivocationSeen,
    EvidenceCreated,
    FetchBlock,
    GossipProposal,
    GossipTickets,
    GossipTxs,
    GossipVote,
    MineDraw,
    PersistProposal,
    PersistVote,
    Proposed,
    RegossipVotes,
    RequestSync,
    SetTimer,
    Synced,
    WithheldWinner,
)
from daoli.machine.memchain import MemoryChain
from daoli.machine.node import MachineConfig, NodeMachine
from daoli.machine.ports import TrustingVerifier

if TYPE_CHECKING:
    from daoli.sim.runner import World

Luck = tuple[int, bytes]


LedgerHub = MemoryChain
"""The simulator's name for the shared chain view."""


class SimSigner:
    """Deterministic 64-byte stand-in signatures (the simulator runs no ECDSA)."""

    def __init__(self, pubkey: bytes, sig: bytes) -> None:
        self.pubkey = pubkey
        self._sig = sig

    def sign_vote(self, v: Vote) -> Vote:
        return Vote(v.chain_id, v.vtype, v.height, v.round, v.block_id, v.trustee_pubkey,
                    v.time_ms, self._sig)

    def sign_header(self, h: Header) -> Header:
        return replace(h, proposer_sig=self._sig)

    def sign_tx(self, tx: Transaction) -> Transaction:
        return replace(tx, sig=self._sig)


@dataclass(frozen=True, slots=True)
class ChainEntry:
    block: Block
    cert: CommitCertificate
    round: int


class SimNode:
    """One trustee (also a sponsor for the miners attached to it): a machine on the world."""

    def __init__(self, world: World, idx: int, pubkey: bytes, behaviour: str,
                 skew_ms: float) -> None:
        self.w = world
        self.idx = idx
        self.pub = pubkey
        self.behaviour = behaviour
        self.honest = behaviour == HONEST
        self.silent = behaviour == SILENT
        self.skew = skew_ms
        self.miners: list[int] = []
        self.chain: list[ChainEntry] = []
        self.evidence_sent = 0
        cfg = world.cfg
        config = MachineConfig(relay_hold_ms=cfg.relay_hold_ms, regossip=world.retransmit,
                               report_evidence=cfg.evidence, halt_height=cfg.heights,
                               payload_budget=world.payload_budget)
        self.m: NodeMachine = machine_class(behaviour)(
            world.genesis, world.hub, SimSigner(pubkey, world.fake_sig(pubkey)),
            TrustingVerifier(), config, skip_winner=world.winner_offline,
            evidence_gate=lambda culprit: world.claim_evidence(culprit, idx))

    # --- what the world reads ------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self.m.height

    @property
    def halted(self) -> bool:
        return self.m.halted

    def local(self) -> float:
        """This node's local clock: simulated time plus its skew."""
        return self.w.q.now + self.skew

    def to_sim(self, adjusted_ms: float) -> float:
        return self.m.to_local(adjusted_ms) - self.skew

    # --- deliveries and timers (EventQueue handlers take two arguments) ------------------------

    def start(self) -> None:
        if not self.silent:
            self.run(self.m.start(self.local()))

    def on_timer(self, timer: Any, _: Any) -> None:
        self.run(self.m.on_timer(self.local(), timer))

    def on_own_tickets(self, batch: list[Any], h: int) -> None:
        self.run(self.m.on_own_tickets(self.local(), h, batch))

    def on_tickets(self, items: list[Any], peer: Any) -> None:
        if not self.silent:
            eff = self.m.on_tickets(self.w.q.now + self.skew, peer, items)
            if eff:
                self.run(eff)

    def on_proposal(self, block: Block, peer: Any) -> None:
        if not self.silent:
            self.run(self.m.on_proposal(self.local(), peer, block))

    def on_vote(self, vote: Vote, peer: Any) -> None:
        if not self.silent:
            eff = self.m.on_vote(self.w.q.now + self.skew, peer, vote)
            if eff:
                self.run(eff)

    def on_votes(self, votes: Sequence[Vote], peer: Any) -> None:
        """Several votes in one delivery (a re-gossip batch)."""
        if not self.silent:
            on_vote = self.m.on_vote
            now = self.w.q.now + self.skew
            for vote in votes:
                eff = on_vote(now, peer, vote)
                if eff:
                    self.run(eff)

    def on_tx(self, tx: Transaction, peer: Any) -> None:
        if not self.silent:
            self.run(self.m.on_txs(self.local(), peer, (tx,)))
            self.w.note_pool(len(self.m.mempool))

    def on_fetched(self, bid: bytes, peer: Any) -> None:
        self.run(self.m.on_fetched(self.local(), peer, bid, self.w.hub.blocks.get(bid)))

    def on_announce(self, entry: ChainEntry, peer: int) -> None:
        if not self.silent and not self.m.halted and entry.block.height >= self.m.height:
            self.run(self.m.on_announce(self.local(), peer, entry.block, entry.cert,
                                        entry.round))

    def on_sync_from(self, peer: int, _: Any) -> None:
        """A sync reply: what ``peer`` finalized from our next height on."""
        if self.silent or self.m.halted:
            return
        source = self.w.nodes[peer].chain
        start = self.m.height - 1
        if start < len(source):
            entries = [(e.block, e.cert, e.round) for e in source[start:]]
            self.run(self.m.on_sync_reply(self.local(), peer, entries))

    # --- effects ---------------------------------------------------------------------------------

    def run(self, effects: list[Any]) -> None:
        w = self.w
        for e in effects:
            tp = type(e)
            if tp is SetTimer:
                w.q.at(e.at_ms - self.skew, self.on_timer, e.timer)
            elif tp is GossipVote:
                w.broadcast_vote(self, e.vote)
            elif tp is GossipTickets:
                w.gossip_tickets(self, e.items, e.delay_ms)
            elif tp is MineDraw:
                if self.miners:
                    w.mine_for(self, e.draw, e.start_ms)
            elif tp is PersistVote or tp is PersistProposal:
                pass  # nothing crashes in the simulator
            elif tp is GossipProposal:
                if e.mode == PROPOSE_OWN:
                    w.broadcast_block(self, e.block)
                elif e.mode == PROPOSE_RELAY:
                    w.relay_block(self, e.block)
                else:
                    w.broadcast_block(self, e.block, only_missing=True)
            elif tp is RegossipVotes:
                w.retransmit_votes(self, e.votes)
            elif tp is DrawClosed:
                w.on_draw_closed(e)
            elif tp is Commit:
                self.chain.append(ChainEntry(e.block, e.certificate, e.round))
                w.on_finalized(self, e.block, e.round)
            elif tp is Announce:
                w.announce(self, self.chain[-1])
            elif tp is Proposed:
                w.hub.add(e.block)
                w.metrics.proposals += 1
            elif tp is EquivocateVote:
                w.broadcast_equivocation(self, e.vote, e.other)
            elif tp is EquivocateProposal:
                w.hub.add(e.block)
                w.broadcast_block(self, e.block, half=e.part)
            elif tp is GossipTxs:
                for tx in e.txs:
                    w.gossip_tx(self, tx)
            elif tp is FetchBlock:
                w.metrics.fetches += 1
                w.q.after(2 * w.net.latency.sample(), self.on_fetched, e.block_id, None)
            elif tp is RequestSync:
                w.metrics.syncs += 1
                w.q.after(2 * w.net.latency.sample(), self.on_sync_from, e.peer, None)
            elif tp is Synced:
                w.metrics.synced_blocks += 1
            elif tp is EquivocationSeen:
                w.metrics.equivocation_evidence += 1
            elif tp is EvidenceCreated:
                self.evidence_sent += 1
                w.metrics.evidence_txs += 1
                w.note_pool(len(self.m.mempool))
            elif tp is WithheldWinner:
                w.offline.setdefault(e.height, w.miner_index[e.miner_pubkey])
            elif tp is Dropped:
                w.metrics.dropped[e.reason.value] += 1


def sim_signature(pubkey: bytes) -> bytes:
    return hashlib.sha512(b"daoli/sim/fake-sig" + pubkey).digest()


__all__ = ["ChainEntry", "LedgerHub", "SimNode", "SimSigner", "sim_signature"]
