"""Simulated trustee/sponsor nodes driving the real core state machines.

Each :class:`SimNode` owns what a real node owns -- an :class:`AdjustedClock`, a
:class:`Lottery` on its finalized tip, one :class:`HeightState` per height, its finalized
chain -- and reacts to deliveries and timers scheduled on the shared event queue. Blocks are
built with :func:`build_block` and judged with :func:`check_block`, on the ledger's
``MemoryState``.

Two shortcuts keep 100 trustees and 10,000 miners within a minute, and neither changes a
decision:

* **No ECDSA.** Signatures are deterministic 64-byte stand-ins and every state machine is
  told messages are already verified; keys are real secp256k1 keys (they feed lots).
* **One ledger per block.** Objective validity (``check_block``) and the state after a block
  depend only on (parent state, block), so the :class:`LedgerHub` computes them once per
  block id and every node that asks gets the same answer it would have computed itself.

Transactions: every node keeps a :class:`Mempool` (plus a small buffer of transactions that
arrived ahead of a missing nonce, adopted when the gap closes); a proposer draws its payload
from its own pool, and every finalized block prunes it. Honest trustees turn the first
equivocation they see against a trustee into an ``Evidence`` transaction, which the ledger
turns into a slash (one report per culprit per network, see ``World.evidence_by``).

Proof of work follows the ledger: every node mines and judges tickets at the difficulty in
effect on its tip (``BlockResult.pow_difficulty``, which the ledger retargets every epoch).
Without ``--pow`` the work is *modelled* (a miner's time is exponential with mean
``difficulty * hash_time_ms / rate``, nonce 0), so blocks are checked as if at difficulty 1,
exactly as signatures are skipped; with ``--pow`` nonces are ground and checked for real.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from daoli.core.block import Block, Header
from daoli.core.blockbuild import BlockCheck, build_block, check_block
from daoli.core.clock import AdjustedClock, cycle_start
from daoli.core.genesis import Genesis
from daoli.core.ibft import (
    Broadcast,
    Decide,
    EnterRound,
    Equivocation,
    HeightState,
    MissingBlock,
    ScheduleTimeout,
    should_propose,
)
from daoli.core.ledger import (
    active_trustees,
    genesis_diff,
    read_account,
    read_pow_difficulty,
    verify_commit_certificate,
)
from daoli.core.lottery import Lottery, lot, seed
from daoli.core.mempool import Mempool
from daoli.core.state import MemoryState
from daoli.core.ticket import Ticket
from daoli.core.tx import Evidence, Transaction
from daoli.core.vote import NIL, CommitCertificate, Vote
from daoli.errors import InvalidBlock
from daoli.sim.behaviours import (
    EQUIVOCATE,
    HONEST,
    LATE_EXTRA_MS,
    LATE_TICKETS,
    SILENT,
    WITHHOLD,
)

if TYPE_CHECKING:
    from daoli.sim.runner import World

Luck = tuple[int, bytes]

MAX_ORPHANS = 10_000
"""Transactions a node holds back for a missing earlier nonce (gossip reorders them)."""


class LedgerHub:
    """Block validity and post-block states, computed once per block id for all nodes.

    ``check_difficulty`` is passed to ``check_block``: None checks work at the difficulty in
    effect (real grinding), 1 skips it (modelled work).
    """

    def __init__(self, genesis: Genesis, check_difficulty: int | None = None) -> None:
        self.genesis = genesis
        self.check_difficulty = check_difficulty
        g = MemoryState()
        g.apply(genesis_diff(genesis))
        self.states: dict[bytes, MemoryState] = {genesis.id: g}
        self.state_height: dict[bytes, int] = {genesis.id: 0}
        self.difficulty: dict[bytes, int] = {genesis.id: read_pow_difficulty(g)}
        """block id -> the proof-of-work difficulty in effect on top of that block."""
        self.voters: dict[bytes, tuple[bytes, ...]] = {genesis.id: tuple(active_trustees(g))}
        self.nonces: dict[bytes, dict[bytes, int]] = {}
        """block id -> sender -> next nonce on top of that block: filled lazily by the
        mempools of every node on that tip (one ledger read per sender and tip)."""
        self.blocks: dict[bytes, Block] = {}
        self.checks: dict[bytes, BlockCheck] = {}
        self.lucks: dict[bytes, Luck] = {}
        self.applies = 0

    def add(self, block: Block) -> bytes:
        bid = block.id
        if bid not in self.blocks:
            self.blocks[bid] = block
            w = block.header.winner_ticket
            self.lucks[bid] = (w.cycle, lot(seed(w.parent_id, w.cycle), w.miner_pubkey))
        return bid

    def check(self, block: Block) -> BlockCheck:
        bid = block.id
        c = self.checks.get(bid)
        if c is None:
            parent = self.states.get(block.header.parent_id)
            if parent is None:
                return BlockCheck("unknown parent")  # not cached: the parent may come later
            self.applies += 1
            c = check_block(parent, parent.acc, self.genesis, block, verify_signatures=False,
                            pow_difficulty=self.check_difficulty)
            self.checks[bid] = c
        return c

    def state_after(self, bid: bytes) -> MemoryState:
        st = self.states.get(bid)
        if st is None:
            block = self.blocks[bid]
            chk = self.checks[bid]
            assert chk.result is not None
            st = self.states[block.header.parent_id].copy()
            st.apply(chk.result.diff)
            self.states[bid] = st
            self.state_height[bid] = block.height
            self.voters[bid] = tuple(chk.result.active_trustees)
            self.difficulty[bid] = chk.result.pow_difficulty
        return st

    def prune(self, below_height: int) -> None:
        """Forget states no node can build on any more (heights < ``below_height``)."""
        dead = [b for b, h in self.state_height.items() if h < below_height]
        for b in dead:
            del self.states[b]
            del self.state_height[b]
            self.difficulty.pop(b, None)
            self.nonces.pop(b, None)


@dataclass(frozen=True, slots=True)
class ChainEntry:
    block: Block
    cert: CommitCertificate
    round: int


class SimNode:
    """One trustee, which is also a sponsor for the miners attached to it."""

    def __init__(self, world: World, idx: int, pubkey: bytes, behaviour: str,
                 skew_ms: float) -> None:
        self.w = world
        self.idx = idx
        self.pub = pubkey
        self.behaviour = behaviour
        self.honest = behaviour == HONEST
        self.silent = behaviour == SILENT
        self.skew = skew_ms
        p = world.params
        self.clock = AdjustedClock(p.max_drift_ms)
        self.lottery = Lottery(chain_id=world.genesis.chain_id, params=p,
                               genesis_time_ms=world.genesis.genesis_time_ms)
        self.miners: list[int] = []
        fake = world.fake_sig(pubkey)
        self._vote_sig = fake
        self._header_sig = fake
        self.chain: list[ChainEntry] = []
        self.hs: HeightState | None = None
        self.prev_hs: HeightState | None = None
        self.prev_cert: CommitCertificate | None = None
        self.prev_round = 0
        self.height = 0
        self.tip_id = b""
        self.tip_cycle = -1
        self.state: MemoryState | None = None
        self.seen: set[int] = set()
        self.buf: list[tuple[int, bytes, int, Ticket, int]] = []
        self.flush_pending = False
        self.relays: dict[int, int] = {}
        self.cut: dict[int, bytes] = {}
        """draw -> lot of a ticket kept quiet there: anything less lucky cannot matter."""
        self.quiet: dict[int, int] = {}
        self.closed_with_ties = False
        self.proposal_ids: set[bytes] = set()
        self.proposed: set[bytes] = set()
        self.my_proposals: list[Block] = []
        self.offline_height = -1
        self.future_tickets: list[tuple[Ticket, int, bytes]] = []
        self.future_votes: list[Vote] = []
        self.future_blocks: list[Block] = []
        self.fetching: set[bytes] = set()
        self.sync_pending = False
        self.halted = False
        self.ticket_extra_ms = (p.delta_ms + LATE_EXTRA_MS) if behaviour == LATE_TICKETS else 0
        self.rng = random.Random(world.sub_seed(f"node/{idx}"))
        self.mempool = Mempool(world.chain_id, p.min_fee)
        self.orphans: dict[bytes, dict[int, Transaction]] = {}
        """sender -> nonce -> a transaction the pool refused for a gap, kept until it closes."""
        self.n_orphans = 0
        self._nonces: dict[bytes, int] = {}
        """sender -> next nonce on our tip (a cache, emptied with every new tip)."""
        self.tx_nonce = 0
        self.evidence_sent = 0
        self.dissented: set[tuple[int, int]] = set()
        """(height, round) where the precommit we sent differed from the one our own I-BFT
        machine recorded (``vote-unlucky``): that recorded precommit was never cast."""

    # --- time -------------------------------------------------------------------------

    def adj(self) -> int:
        """Network-adjusted time now, in integer ms (what the state machines see)."""
        return int(self.w.q.now + self.skew) + self.clock.offset_ms()

    def to_sim(self, adjusted_ms: float) -> float:
        return adjusted_ms - self.skew - self.clock.offset_ms()

    def observe(self, peer: bytes, msg_time_ms: int) -> None:
        self.clock.observe(peer, msg_time_ms, int(self.w.q.now + self.skew))

    # --- signing (fast stand-ins: the simulator does not run ECDSA) -----------------------

    def sign_vote(self, v: Vote) -> Vote:
        return Vote(v.chain_id, v.vtype, v.height, v.round, v.block_id, v.trustee_pubkey,
                    v.time_ms, self._vote_sig)

    def sign_header(self, h: Header) -> Header:
        return replace(h, proposer_sig=self._header_sig)

    # --- chain ------------------------------------------------------------------------

    def start(self) -> None:
        if self.silent:
            return
        self.set_tip(None)

    def set_tip(self, block: Block | None) -> None:
        w = self.w
        hub = w.hub
        if block is None:
            g = w.genesis
            tip_h, tip_id, tip_cycle, self.state = 0, g.id, -1, hub.states[g.id]
        else:
            tip_h, tip_id, tip_cycle = block.height, block.id, block.header.cycle
            self.state = hub.state_after(tip_id)
        nonces = hub.nonces.get(tip_id)
        if nonces is None:
            nonces = hub.nonces[tip_id] = {}
        self._nonces = nonces
        if len(self.mempool) or self.orphans:
            self.refresh_pool()
        self.height = tip_h + 1
        self.tip_id = tip_id
        self.tip_cycle = tip_cycle
        now = self.adj()
        self.lottery.set_tip(tip_h, tip_id, tip_cycle, now,
                             params=w.params_at(hub.difficulty[tip_id]))
        self.hs = HeightState(w.genesis.chain_id, self.height, tip_id, self.pub,
                              self.sign_vote, hub.voters[tip_id], w.params)
        self.seen = set()
        self.buf = []
        self.relays = {}
        self.cut = {}
        self.quiet = {}
        self.closed_with_ties = False
        self.proposal_ids = set()
        self.proposed = set()
        self.my_proposals = []
        c = self.lottery.first_cycle
        q = w.q
        h = self.height
        q.at(self.to_sim(cycle_start(c, w.gtime, w.params.cycle_ms)), self.on_cycle_start, h, c)
        q.at(self.to_sim(cycle_start(c, w.gtime, w.params.cycle_ms) + w.close_after),
             self.on_close, h, c)
        if w.retransmit:
            q.after(w.params.cycle_ms, self.on_regossip, h, None)
        # Messages for this height that arrived while we were still on the previous one.
        tickets, self.future_tickets = self.future_tickets, []
        votes, self.future_votes = self.future_votes, []
        blocks, self.future_blocks = self.future_blocks, []
        keep_t = [e for e in tickets if e[0].height == h]
        if keep_t:
            self.on_tickets(keep_t, None)
        for b in blocks:
            if b.height == h:
                self.on_proposal(b, None)
            elif b.height > h:
                self.future_blocks.append(b)
        for v in votes:
            if v.height >= h:
                self.on_vote(v, None)

    def finalize(self, block: Block, cert: CommitCertificate, round_: int) -> None:
        self.chain.append(ChainEntry(block, cert, round_))
        self.w.on_finalized(self, block, round_)
        self.prev_hs = self.hs
        self.prev_cert = cert
        self.prev_round = round_
        if block.height >= self.w.cfg.heights:
            # The run's last height: stop here (every later event sees a stale height).
            self.halted = True
            self.height = block.height + 1
            self.hs = None
            # No later height will carry news of this one, so announce the commit (the
            # /block topic of a real node) to whoever has not finalized it yet.
            w = self.w
            for peer in w.active:
                if peer is not self and not peer.halted:
                    d = w.net.delay(self.idx, peer.idx, w.q.now)
                    if d is not None:
                        w.q.at(w.q.now + d, peer.on_sync_reply, self.idx, None)
            return
        if self.dissented:
            self.dissented = {k for k in self.dissented if k[0] >= block.height}
        self.set_tip(block)

    def last_commit(self) -> CommitCertificate | None:
        """The fullest certificate we hold for the tip: every agreeing trustee gets paid."""
        if self.height == 1:
            return None
        cert = None
        if self.prev_hs is not None and self.prev_hs.height == self.height - 1:
            cert = self.prev_hs.certificate(self.prev_round, self.tip_id)
        if cert is None:
            cert = self.prev_cert
        if cert is not None and (cert.height, cert.round) in self.dissented:
            cert = self.without_own_sig(cert)
        return cert

    def without_own_sig(self, cert: CommitCertificate) -> CommitCertificate | None:
        """``cert`` less our own precommit, which a dissenter never sent: putting it in its
        own proposals would pay it the trustee reward it dissented out of (and be an
        undetected equivocation). None if the rest is below quorum: the block cannot be
        built without a precommit we did not cast, so a non-equivocating dissenter does
        not propose."""
        sigs = tuple(s for s in cert.sigs if s.trustee_pubkey != self.pub)
        q = self.prev_hs.q if self.prev_hs is not None else 0
        if len(sigs) < q or not sigs:
            return None
        return replace(cert, sigs=sigs)

    # --- the lottery: own miners, gossip, throttle ------------------------------------------

    def on_cycle_start(self, h: int, c: int) -> None:
        if h != self.height or self.closed_with_ties:
            return
        w = self.w
        start = cycle_start(c, w.gtime, w.params.cycle_ms)
        w.q.at(self.to_sim(start + w.params.cycle_ms), self.on_cycle_start, h, c + 1)
        draw = self.lottery.draw(c)
        if draw is None or not self.miners:
            return
        w.mine_for(self, draw, start)

    def on_own_tickets(self, entries: list[tuple[Ticket, int, bytes, int]], h: int) -> None:
        """A batch of our own miners' tickets, each with its adjusted arrival time."""
        if h != self.height:
            return
        seen = self.seen
        buf = self.buf
        for t, key, lt, arrival in entries:
            if key not in seen:
                seen.add(key)
                buf.append((t.cycle, lt, key, t, arrival))
        self.flush(None, None)

    def on_tickets(self, items: list[tuple[Ticket, int, bytes]], _: Any) -> None:
        """Gossiped tickets from a peer (deduplicated here, before the state machine).

        A ticket less lucky than one this node already kept quiet (not relayed) in the same
        draw can never be relayed, win or be lined up here (the luckiest set only improves),
        so it is counted as a time tie and not handed to the lottery at all.
        """
        if self.silent or self.halted:
            return
        seen = self.seen
        h = self.height
        cut = self.cut
        now = self.adj()
        delta = self.w.params.delta_ms
        fresh = False
        for item in items:
            key = item[1]
            if key in seen:
                continue
            t = item[0]
            if t.height != h:
                if t.height == h + 1 and len(self.future_tickets) < 100_000:
                    self.future_tickets.append(item)
                continue
            seen.add(key)
            c = t.cycle
            th = cut.get(c)
            if th is not None and item[2] > th:
                if now <= t.time_ms + delta:
                    self.quiet[c] = self.quiet.get(c, 0) + 1
                continue
            self.buf.append((c, item[2], key, t, now))
            fresh = True
        if fresh and not self.flush_pending:
            self.flush_pending = True
            self.w.q.after(self.w.hold_ms, self.flush, None, None)

    def flush(self, _a: Any, _b: Any) -> None:
        """Offer held tickets in luck order; relay those the throttle says to relay."""
        self.flush_pending = False
        buf = self.buf
        if not buf:
            return
        self.buf = []
        if len(buf) > 1:
            buf.sort()
        offer = self.lottery.offer
        relayed: list[tuple[Ticket, int, bytes]] = []
        observe = self.clock.observe
        local = int(self.w.q.now + self.skew)
        relays = self.relays
        cut = self.cut
        quiet = self.quiet
        delta = self.w.params.delta_ms
        for cyc, lt, key, t, arrival in buf:
            th = cut.get(cyc)
            if th is not None and lt > th:
                # A time tie only if it passed the throttle (the lottery drops late ones).
                if arrival <= t.time_ms + delta:
                    quiet[cyc] = quiet.get(cyc, 0) + 1
                continue
            d = offer(t, arrival, True, lt)
            if d.relay:
                # Relayed tickets are the node's clock samples: a bounded number per draw.
                observe(t.miner_pubkey, t.time_ms, local)
                relayed.append((t, key, lt))
                relays[cyc] = relays.get(cyc, 0) + 1
            elif d.accepted:
                cut[cyc] = lt
        if relayed:
            self.w.gossip_tickets(self, relayed)

    def on_close(self, h: int, c: int) -> None:
        """The throttle of draw ``c`` closed: record it, and start voting if there is luck."""
        if h != self.height:
            return
        w = self.w
        ties = 0
        for d in self.lottery.draws():
            if d.cycle == c:
                ties = len(d)
        relays = self.relays.pop(c, 0)
        ties += self.quiet.pop(c, 0)
        if ties or relays:
            w.metrics.ties_per_draw.append(ties)
            w.metrics.ties_by_epoch.setdefault((h - 1) // w.params.epoch_blocks, []).append(ties)
            w.metrics.relays_per_draw.append(relays)
        hs = self.hs
        assert hs is not None
        winner = self.lottery.winner()
        if winner is not None:
            self.closed_with_ties = True
        if not hs.started and (winner is not None or hs.luckiest_valid() is not None):
            best = None
            if winner is not None:
                best = (winner.cycle, lot(seed(winner.parent_id, winner.cycle),
                                          winner.miner_pubkey))
            self.handle(hs.start(self.adj(), best))
        if self.height == h and not self.closed_with_ties:
            start = cycle_start(c + 1, w.gtime, w.params.cycle_ms)
            w.q.at(self.to_sim(start + w.close_after), self.on_close, h, c + 1)
        self.lottery.prune(self.adj())

    # --- proposals ----------------------------------------------------------------------

    def maybe_propose(self, r: int) -> None:
        if self.behaviour in (SILENT, WITHHOLD) or self.offline_height == self.height:
            return
        hs = self.hs
        assert hs is not None
        top = self.lottery.luckiest(r + 1)
        for rank, t in enumerate(top):
            if t.sponsor_pubkey != self.pub or t.miner_pubkey in self.proposed:
                continue
            if r == 0 and rank == 0 and self.w.winner_offline(self.height):
                self.offline_height = self.height
                self.w.offline.setdefault(self.height, self.w.miner_index[t.miner_pubkey])
                return
            luck = (t.cycle, lot(seed(t.parent_id, t.cycle), t.miner_pubkey))
            if should_propose(r, rank, hs.luckier_valid_than(luck)):
                self.propose(t)
        if r > 0 and self.my_proposals and self.w.retransmit:
            for b in self.my_proposals:
                self.w.broadcast_block(self, b, only_missing=True)

    def propose(self, ticket: Ticket) -> None:
        w = self.w
        self.proposed.add(ticket.miner_pubkey)
        state = self.state
        assert state is not None
        try:
            built = build_block(state, state.acc, w.genesis, winner=ticket,
                                payroll=self.lottery.lineup(ticket), txs=self.payload(),
                                last_commit=self.last_commit(), time_ms=self.adj(),
                                sign=self.sign_header, verify_signatures=False)
        except InvalidBlock:
            return
        block = built.block
        w.hub.add(block)
        w.metrics.proposals += 1
        self.my_proposals.append(block)
        if self.behaviour == EQUIVOCATE:
            twin = replace(block.header, time_ms=block.header.time_ms + 1)
            try:
                other = build_block(state, state.acc, w.genesis, winner=ticket,
                                    payroll=block.payroll, txs=block.payload,
                                    last_commit=block.last_commit,
                                    time_ms=twin.time_ms, sign=self.sign_header,
                                    verify_signatures=False).block
            except InvalidBlock:
                other = block
            w.hub.add(other)
            w.broadcast_block(self, block, half=0)
            w.broadcast_block(self, other, half=1)
            return
        w.broadcast_block(self, block)

    def on_proposal(self, block: Block, _: Any) -> None:
        if self.silent or self.halted:
            return
        h = block.height
        if h != self.height:
            if self.height < h <= self.height + 2 and len(self.future_blocks) < 64:
                self.future_blocks.append(block)
            return
        bid = block.id
        if bid in self.proposal_ids:
            return
        self.proposal_ids.add(bid)
        hdr = block.header
        self.observe(hdr.proposer_pubkey, hdr.time_ms)
        w = self.w
        chk = w.hub.check(block)
        now = self.adj()
        valid = (chk.reason is None and hdr.parent_id == self.tip_id
                 and hdr.time_ms <= now + w.params.max_drift_ms)
        if valid and self.behaviour != EQUIVOCATE:
            w.relay_block(self, block)  # proposals are gossiped whole (SPEC 4)
        hs = self.hs
        assert hs is not None
        self.handle(hs.on_proposal(bid, w.hub.lucks[bid], valid, now))

    def on_fetched(self, bid: bytes, _: Any) -> None:
        self.fetching.discard(bid)
        block = self.w.hub.blocks.get(bid)
        if block is not None:
            self.on_proposal(block, None)

    # --- votes ----------------------------------------------------------------------------

    def on_vote(self, vote: Vote, _: Any) -> None:
        if self.silent or self.halted:
            return
        h = vote.height
        self.observe(vote.trustee_pubkey, vote.time_ms)
        if h == self.height:
            hs = self.hs
            assert hs is not None
            self.handle(hs.on_vote(vote, self.adj()))
        elif h == self.height - 1:
            if self.prev_hs is not None and self.prev_hs.height == h:
                self.prev_hs.on_vote(vote, self.adj())  # late precommits: a fuller certificate
        elif h > self.height:
            if h <= self.height + 3 and len(self.future_votes) < 20_000:
                self.future_votes.append(vote)
            if h > self.height and not self.sync_pending:
                self.sync_pending = True
                w = self.w
                w.q.after(w.params.timeout_propose_ms, self.on_sync_check,
                          w.trustee_index[vote.trustee_pubkey], h)

    def on_timeout(self, arg: tuple[Any, int, int], _: Any) -> None:
        kind, h, r = arg
        hs = self.hs
        if hs is None or h != self.height:
            return
        self.handle(hs.on_timeout(kind, h, r, self.adj()))

    def on_regossip(self, h: int, _: Any) -> None:
        """Periodic re-gossip while a height is undecided (GossipSub's message cache does this
        for a real node): votes and proposals lost to loss or a partition are sent again to
        peers still at this height, which is what lets rounds resume after a partition heals
        (Tendermint's timers wait for q votes, so nothing else would)."""
        hs = self.hs
        if hs is None or h != self.height or hs.decision is not None:
            return
        w = self.w
        w.retransmit_votes(self, [v for v in hs.my_votes() if v.round >= hs.round - 1])
        for b in self.my_proposals:
            w.broadcast_block(self, b, only_missing=True)
        w.q.after(w.params.cycle_ms, self.on_regossip, h, None)

    def handle(self, effects: list[Any]) -> None:
        w = self.w
        hs = self.hs
        for e in effects:
            tp = type(e)
            if tp is Broadcast:
                w.broadcast_vote(self, e.vote)
            elif tp is ScheduleTimeout:
                w.q.at(self.to_sim(e.at_ms), self.on_timeout, (e.kind, e.height, e.round), None)
            elif tp is EnterRound:
                if e.height == self.height:
                    self.maybe_propose(e.round)
            elif tp is MissingBlock:
                self.fetch(e.block_id)
            elif tp is Equivocation:
                w.metrics.equivocation_evidence += 1
                if self.honest and w.report_evidence:
                    self.report(e)
            elif tp is Decide:
                pass
        if hs is not self.hs or hs is None:
            return
        d = hs.decision
        if d is not None and hs.holds_valid(d.block_id):
            self.finalize(w.hub.blocks[d.block_id], d.certificate, d.round)

    def fetch(self, bid: bytes) -> None:
        if bid in self.fetching or (bid in self.proposal_ids and self.hs is not None \
                and self.hs.holds_valid(bid)):
            return
        self.fetching.add(bid)
        w = self.w
        w.metrics.fetches += 1
        rtt = 2 * w.net.latency.sample()
        w.q.after(rtt, self.on_fetched, bid, None)

    # --- transactions ---------------------------------------------------------------------

    def nonce_of(self, pub: bytes) -> int:
        """The next nonce our tip's ledger expects from ``pub`` (what the mempool needs)."""
        n = self._nonces.get(pub)
        if n is None:
            st = self.state
            n = 0 if st is None else read_account(st, self.w.address(pub)).nonce
            self._nonces[pub] = n
        return n

    def on_tx(self, tx: Transaction, _: Any) -> None:
        if not self.silent and not self.halted:
            self.add_tx(tx)

    def add_tx(self, tx: Transaction) -> bool:
        """Admit ``tx`` to our pool; one that arrived ahead of a missing nonce waits aside."""
        res = self.mempool.add(tx, self.nonce_of)
        sender = tx.sender_pubkey
        if res.ok:
            self.w.note_pool(len(self.mempool))
            if sender in self.orphans:
                self.adopt(sender)
            return True
        if (tx.nonce > self.nonce_of(sender) and tx.id not in self.mempool
                and self.n_orphans < MAX_ORPHANS):
            pending = self.orphans.setdefault(sender, {})
            if tx.nonce not in pending:
                pending[tx.nonce] = tx
                self.n_orphans += 1
        return False

    def adopt(self, sender: bytes) -> None:
        """Move ``sender``'s held-back transactions into the pool while the gap is closed."""
        pending = self.orphans[sender]
        base = self.nonce_of(sender)
        pool = self.mempool
        for n in sorted(pending):
            tx = pending[n]
            if n >= base and tx.id not in pool:
                if not pool.add(tx, self.nonce_of).ok:
                    break  # still a gap (or no room): keep it and the later ones
                self.w.note_pool(len(pool))
            del pending[n]
            self.n_orphans -= 1
        if not pending:
            del self.orphans[sender]

    def refresh_pool(self) -> None:
        """A new tip: drop what it made stale, adopt what it unblocked."""
        self.mempool.prune(self.nonce_of)
        for sender in sorted(self.orphans):
            self.adopt(sender)

    def payload(self) -> list[Transaction]:
        """What a proposal of ours carries: the pool's selection (Byzantine proposers leave
        evidence out, which a single honest proposer later makes up for)."""
        if not len(self.mempool):
            return []
        txs = self.mempool.select(self.nonce_of, self.w.payload_budget)
        if not self.honest:
            txs = [tx for tx in txs if type(tx.body) is not Evidence]
        return txs

    def report(self, e: Equivocation) -> None:
        """The first equivocation seen against a trustee becomes an Evidence transaction
        from our account, pooled here and gossiped to every pool."""
        w = self.w
        culprit = e.vote_a.trustee_pubkey
        if culprit in w.evidence_by or culprit == self.pub:
            return
        w.evidence_by[culprit] = self.idx
        nonce = max(self.tx_nonce, self.nonce_of(self.pub))
        self.tx_nonce = nonce + 1
        tx = Transaction(w.chain_id, self.pub, nonce, w.params.min_fee,
                         Evidence(e.vote_a, e.vote_b), self._vote_sig)
        self.evidence_sent += 1
        w.metrics.evidence_txs += 1
        self.add_tx(tx)
        w.gossip_tx(self, tx)

    # --- catching up --------------------------------------------------------------------

    def on_sync_check(self, peer: int, h: int) -> None:
        self.sync_pending = False
        if self.height >= h:
            return
        w = self.w
        w.metrics.syncs += 1
        w.q.after(2 * w.net.latency.sample(), self.on_sync_reply, peer, None)

    def on_sync_reply(self, peer: int, _: Any) -> None:
        """Blocks and certificates the peer finalized above our tip, checked and applied."""
        if self.halted or self.silent:
            return
        w = self.w
        source = w.nodes[peer].chain
        while self.height - 1 < len(source):
            entry = source[self.height - 1]
            block = entry.block
            if block.header.parent_id != self.tip_id:
                return
            chk = w.hub.check(block)
            if chk.reason is not None:
                return
            try:
                verify_commit_certificate(entry.cert, w.genesis.chain_id, block.height,
                                          block.id, w.hub.voters[self.tip_id],
                                          verify_signatures=False)
            except InvalidBlock:
                return
            w.metrics.synced_blocks += 1
            self.finalize(block, entry.cert, entry.round)


def equivocating_twin(vote: Vote, other: bytes, sig: bytes) -> Vote:
    return Vote(vote.chain_id, vote.vtype, vote.height, vote.round, other,
                vote.trustee_pubkey, vote.time_ms, sig)


def dissent_target(node: SimNode, vote: Vote) -> bytes:
    """The block a ``vote-unlucky`` trustee votes for: the least lucky other valid proposal,
    or nil."""
    hub = node.w.hub
    best: tuple[Luck, bytes] | None = None
    for bid in sorted(node.proposal_ids):
        if bid == vote.block_id or node.hs is None or not node.hs.holds_valid(bid):
            continue
        cand = (hub.lucks[bid], bid)
        if best is None or cand > best:
            best = cand
    return NIL if best is None else best[1]


def conflicting_target(node: SimNode, vote: Vote) -> bytes:
    """What an equivocating trustee tells the other half: another proposal, else nil (or,
    for a nil vote, any proposal)."""
    for bid in sorted(node.proposal_ids):
        if bid != vote.block_id:
            return bid
    return NIL if vote.block_id != NIL else b"\x00" * 32


__all__ = ["ChainEntry", "LedgerHub", "SimNode", "conflicting_target", "dissent_target",
           "equivocating_twin"]
