"""One node's consensus policy as a sans-I/O machine: events in, effects out.

In the spirit of h11's ``Connection``: :class:`NodeMachine` never reads a clock, opens a
socket, touches a disk or draws a random number. Its adapter hands it what happened (a
message from a peer, a timer that fired, tickets its miners found), each with the adapter's
*local* time, and carries out what it returns (gossip this, arm that timer, persist this
vote before sending it, commit this block). The simulator (:mod:`daoli.sim`) and the real
node (:mod:`daoli.node`) are both such adapters, so what the simulator shows about these
rules holds for the node: no rule of docs/protocol.md §15 is written anywhere else.

What the machine owns: the adjusted clock, the lottery on its finalized tip, the I-BFT
:class:`~daoli.core.ibft.HeightState` of the open height (and the previous one, which keeps
collecting late precommits for a fuller ``last_commit``), the mempool and its orphan buffer,
the proposals seen, messages for the next heights, and its crash-safe signing record.
What it is given (:mod:`daoli.machine.ports`): a chain view (validity and post-block state),
a signature verifier and a signer.

Policy hooks a Byzantine wrapper overrides (:mod:`daoli.machine.byzantine`) are the methods
whose names start with ``_policy_``; everything else is the honest protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from daoli.core import lottery as lt_
from daoli.core.block import Block, Header
from daoli.core.blockbuild import build_block, check_block_time
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
from daoli.core.lottery import Lottery, lot, seed
from daoli.core.mempool import NONCE_GAP, Mempool
from daoli.core.params import ChainParams
from daoli.core.reasons import DropReason
from daoli.core.ticket import Ticket
from daoli.core.tx import Evidence, Transaction
from daoli.core.vote import CommitCertificate, Vote
from daoli.errors import InvalidBlock
from daoli.machine.effects import (
    FLUSH,
    PROPOSE_OWN,
    PROPOSE_RELAY,
    PROPOSE_RESEND,
    Announce,
    BlockAnnounced,
    BlockFetched,
    CloseTimer,
    Commit,
    CycleTimer,
    DrawClosed,
    Dropped,
    Effect,
    EquivocationSeen,
    Event,
    EvidenceCreated,
    FetchBlock,
    FlushTimer,
    GossipProposal,
    GossipTickets,
    GossipTxs,
    GossipVote,
    IbftTimer,
    MineDraw,
    OwnProposalTimer,
    OwnTicket,
    OwnTicketsMined,
    PersistProposal,
    PersistVote,
    ProposalReceived,
    Proposed,
    RegossipTimer,
    RegossipVotes,
    RequestSync,
    SetTimer,
    Start,
    SyncCheckTimer,
    Synced,
    SyncReply,
    TicketItem,
    TicketsReceived,
    TimerFired,
    TxsReceived,
    VotesReceived,
    WithheldWinner,
)
from daoli.machine.ports import UNKNOWN_PARENT, ChainView, Signer, Verifier
from daoli.machine.signstate import SignState

Luck = tuple[int, bytes]

TICKET_REASONS: dict[str, DropReason] = {
    lt_.R_WRONG_CHAIN: DropReason.WRONG_CHAIN,
    lt_.R_WRONG_HEIGHT: DropReason.WRONG_HEIGHT,
    lt_.R_WRONG_PARENT: DropReason.WRONG_PARENT,
    lt_.R_WRONG_DRAW: DropReason.WRONG_DRAW,
    lt_.R_NOT_COMPUTATION_LUCKY: DropReason.NOT_COMPUTATION_LUCKY,
    lt_.R_LATE: DropReason.LATE,
    lt_.R_DUPLICATE: DropReason.DUPLICATE,
    lt_.R_NO_WORK: DropReason.NO_WORK,
    lt_.R_BAD_SIG: DropReason.BAD_SIGNATURE,
    lt_.R_NOT_OPEN: DropReason.NOT_OPEN,
    lt_.R_FUTURE: DropReason.FUTURE,
    lt_.R_NO_TIP: DropReason.NO_TIP,
    lt_.R_MALFORMED: DropReason.MALFORMED,
    lt_.R_OUTRANKED: DropReason.OUTRANKED,
}
"""The lottery's decisions as drop reasons (only faults become ``Dropped`` effects)."""

ADDED_TO_POOL = "pooled"
HELD = "held"
REFUSED = "refused"
MAX_ORPHANS = 10_000
"""Transactions held back for a missing earlier nonce (gossip reorders them)."""
MAX_FUTURE_TICKETS = 100_000
MAX_FUTURE_VOTES = 20_000
MAX_FUTURE_BLOCKS = 64
FUTURE_VOTE_HEIGHTS = 3
"""Votes up to this many heights ahead are kept for when the node gets there."""
FUTURE_BLOCK_HEIGHTS = 2


@dataclass(frozen=True)
class MachineConfig:
    """Node policy knobs that are not chain parameters (each node may choose its own)."""

    relay_hold_ms: float = 5.0
    """Tickets are held this long and offered to the lottery in luck order, so a node
    relays closer to ``diameter`` tickets per draw."""
    regossip: bool = True
    """Re-gossip own votes and proposals every cycle while a height is open. A lossless
    simulated network may turn it off: nothing is ever lost there."""
    report_evidence: bool = True
    """Turn equivocation into ``Evidence`` transactions (the ledger slashes the culprit)."""
    halt_height: int | None = None
    """Stop after finalizing this height (the simulator's last height)."""
    payload_budget: int | None = None
    """Bytes of mempool transactions a proposal may carry; None: ``max_block_bytes`` less
    64 KiB for the header, payroll and certificate."""
    max_orphans: int = MAX_ORPHANS
    own_proposal_hold_ms: int | None = None
    """How long our own round-0 proposal waits before it counts for our early prevote
    (None: the chain's ``delta_ms``; 0: at once). See :meth:`NodeMachine._proposal`."""
    trust_certificates: bool = False
    """Sync: verify a block's commit certificate first and, when it holds, check the block
    without verifying its transactions' signatures (the node's ``sync_trust_certificates``;
    docs/protocol.md, "Sync trusting certificates")."""
    vote: bool = True
    """Vote (and sign proposals' precommits) when this node's key is an active trustee;
    False: follow the chain as an observer (``daoli node start --no-trustee``)."""


class NodeMachine:
    """One trustee (and sponsor of its miners) as a deterministic state machine.

    Every ``on_*`` method takes ``now``, the adapter's local clock in ms, and returns the
    effects to carry out, in order. ``handle(event)`` is the same for adapters that prefer
    event objects.
    """

    honest = True
    """False in Byzantine wrappers: they neither re-gossip votes nor report evidence, and
    leave evidence out of their proposals."""
    ticket_delay_ms = 0
    """Extra delay before relaying tickets (the ``late-tickets`` wrapper sets it)."""

    def __init__(self, genesis: Genesis, chain: ChainView, signer: Signer, verifier: Verifier,
                 config: MachineConfig | None = None, *, sign_state: SignState | None = None,
                 skip_winner: Callable[[int], bool] | None = None,
                 evidence_gate: Callable[[bytes], bool] | None = None) -> None:
        self.genesis = genesis
        self.params: ChainParams = genesis.params
        self.chain = chain
        self.signer = signer
        self.pub = signer.pubkey
        self.verifier = verifier
        self.config = config or MachineConfig()
        self.sign_state = sign_state or SignState()
        self._skip_winner = skip_winner
        self._evidence_gate = evidence_gate
        p = self.params
        self.chain_id = genesis.chain_id
        self.gtime = genesis.genesis_time_ms
        self.close_after = p.phi_ms + p.delta_ms + 1
        self.own_hold_ms = (p.delta_ms if self.config.own_proposal_hold_ms is None
                            else self.config.own_proposal_hold_ms)
        self.payload_budget = (self.config.payload_budget if self.config.payload_budget
                               is not None else max(0, p.max_block_bytes - 64 * 1024))
        self.clock = AdjustedClock(p.max_drift_ms)
        self.lottery = Lottery(chain_id=self.chain_id, params=p,
                               genesis_time_ms=self.gtime)
        self.mempool = Mempool(self.chain_id, p.min_fee)
        self.local = 0
        """The adapter's local clock at the event being handled, in whole ms."""
        self.now_f = 0.0
        self.height = 0
        self.tip_id = b""
        self.tip_cycle = -1
        self.tip_time_ms: int | None = None
        self.hs: HeightState | None = None
        self.prev_hs: HeightState | None = None
        self.prev_cert: CommitCertificate | None = None
        self.prev_round = 0
        self.halted = False
        self.started = False
        self.seen: set[Hashable] = set()
        """Ticket keys seen at this height (the adapter may read it to skip resends)."""
        self.buf: list[tuple[int, bytes, Hashable, Ticket, int, Any]] = []
        """Tickets held for the relay batch: (cycle, lot, key, ticket, arrival, peer)."""
        self.flush_pending = False
        self.relays: dict[int, int] = {}
        self.cut: dict[int, bytes] = {}
        """draw -> lot of a ticket kept quiet there: anything less lucky cannot matter."""
        self.quiet: dict[int, int] = {}
        self.closed_with_ties = False
        self.proposal_ids: set[bytes] = set()
        self.blocks: dict[bytes, Block] = {}
        """Proposals of the open height by id (for finalizing, and fetch replies)."""
        self.lucks: dict[bytes, Luck] = {}
        self.proposed: set[bytes] = set()
        self.my_proposals: list[Block] = []
        self.offline_height = -1
        self.future_tickets: list[TicketItem] = []
        self.future_votes: list[tuple[Any, Vote]] = []
        self.future_blocks: list[tuple[Any, Block]] = []
        self.fetching: set[bytes] = set()
        self.sync_pending = False
        self.orphans: dict[bytes, dict[int, Transaction]] = {}
        """sender -> nonce -> a transaction the pool refused for a gap, kept until it closes."""
        self.n_orphans = 0
        self.tx_nonce = 0
        self.reported: set[bytes] = set()
        self.dissented: set[tuple[int, int]] = set()
        """(height, round) where the precommit sent differed from the one the I-BFT machine
        recorded (``vote-unlucky``): that recorded precommit was never cast."""

    # --- time --------------------------------------------------------------------------------

    def adj(self) -> int:
        """Network-adjusted time now, in integer ms (what the rules see)."""
        return self.local + self.clock._offset

    def to_local(self, adjusted_ms: float) -> float:
        """The local time at which the adjusted clock shows ``adjusted_ms`` (offset as now)."""
        return adjusted_ms - self.clock.offset_ms()

    def _tick(self, now: float) -> None:
        self.now_f = now
        self.local = int(now)

    def _after(self, delay_ms: float, timer: Any) -> SetTimer:
        return SetTimer(self.now_f + delay_ms, timer)

    def _observe(self, peer_key: bytes, msg_time_ms: int) -> None:
        self.clock.observe(peer_key, msg_time_ms, self.local)

    def _at(self, adjusted_ms: float, timer: Any) -> SetTimer:
        return SetTimer(self.to_local(adjusted_ms), timer)

    # --- the single entry point --------------------------------------------------------------

    def handle(self, now: float, event: Event) -> list[Effect]:
        """Dispatch ``event`` to its ``on_*`` method."""
        if isinstance(event, TimerFired):
            return self.on_timer(now, event.timer)
        if isinstance(event, TicketsReceived):
            return self.on_tickets(now, event.peer, event.items)
        if isinstance(event, OwnTicketsMined):
            return self.on_own_tickets(now, event.height, event.entries)
        if isinstance(event, ProposalReceived):
            return self.on_proposal(now, event.peer, event.block)
        if isinstance(event, VotesReceived):
            out: list[Effect] = []
            for v in event.votes:
                out += self.on_vote(now, event.peer, v)
            return out
        if isinstance(event, TxsReceived):
            return self.on_txs(now, event.peer, event.txs)
        if isinstance(event, BlockFetched):
            return self.on_fetched(now, event.peer, event.block.id, event.block)
        if isinstance(event, SyncReply):
            return self.on_sync_reply(now, event.peer, event.entries)
        if isinstance(event, BlockAnnounced):
            return self.on_announce(now, event.peer, event.block, event.certificate,
                                    event.round)
        if isinstance(event, Start):
            return self.start(now)
        raise TypeError(f"not a machine event: {event!r}")

    def on_timer(self, now: float, timer: Any) -> list[Effect]:
        tp = type(timer)
        if tp is FlushTimer:
            return self.on_flush(now)
        if tp is CycleTimer:
            return self.on_cycle_start(now, timer.height, timer.cycle)
        if tp is CloseTimer:
            return self.on_close(now, timer.height, timer.cycle)
        if tp is IbftTimer:
            return self.on_ibft_timeout(now, timer)
        if tp is RegossipTimer:
            return self.on_regossip(now, timer.height)
        if tp is OwnProposalTimer:
            return self.on_own_proposal_due(now, timer.height, timer.block_id)
        if tp is SyncCheckTimer:
            return self.on_sync_check(now, timer.peer, timer.height)
        raise TypeError(f"not a machine timer: {timer!r}")

    # --- chain -------------------------------------------------------------------------------

    def start(self, now: float) -> list[Effect]:
        """Begin on the genesis (a restarted node: on the tip its chain view was given)."""
        self._tick(now)
        self.started = True
        out: list[Effect] = []
        self._set_tip(None, out)
        return out

    def start_at(self, now: float, tip: Block, cert: CommitCertificate, round_: int
                 ) -> list[Effect]:
        """Begin on a finalized ``tip`` (a node restarting on its store)."""
        self._tick(now)
        self.started = True
        self.prev_cert = cert
        self.prev_round = round_
        out: list[Effect] = []
        self._set_tip(tip, out)
        return out

    def _set_tip(self, block: Block | None, out: list[Effect]) -> None:
        chain = self.chain
        if block is None:
            g = self.genesis
            tip_h, tip_id, tip_cycle, tip_time = 0, g.id, -1, None
        else:
            tip_h, tip_id, tip_cycle = block.height, block.id, block.header.cycle
            tip_time = block.header.time_ms
        self.height = tip_h + 1
        self.tip_id = tip_id
        self.tip_cycle = tip_cycle
        self.tip_time_ms = tip_time
        if len(self.mempool) or self.orphans:
            self._refresh_pool()
        now = self.adj()
        difficulty = chain.difficulty_after(tip_id)
        params = self.params if difficulty == self.params.pow_difficulty else \
            self.params.replace(pow_difficulty=difficulty)
        self.lottery.set_tip(tip_h, tip_id, tip_cycle, now, params=params)
        # Below the signing record's height (a restart on a store that lost blocks) this
        # node only observes: it must not sign again where it may already have signed.
        me = self.pub if self.config.vote and self.sign_state.may_sign(self.height) else None
        self.hs = HeightState(self.chain_id, self.height, tip_id, me, self._sign_vote,
                              chain.voters_after(tip_id), self.params)
        self.seen = set()
        self.buf = []
        self.relays = {}
        self.cut = {}
        self.quiet = {}
        self.closed_with_ties = False
        self.proposal_ids = set()
        self.blocks = {}
        self.lucks = {}
        self.proposed = set()
        self.my_proposals = []
        c = self.lottery.first_cycle
        h = self.height
        p = self.params
        start = cycle_start(c, self.gtime, p.cycle_ms)
        out.append(self._at(start, CycleTimer(h, c)))
        out.append(self._at(start + self.close_after, CloseTimer(h, c)))
        if self.config.regossip:
            out.append(self._after(p.cycle_ms, RegossipTimer(h)))
        # A restart in the middle of this height: the blocks we proposed before are held
        # again and sent again. Our recorded votes may be for one of them, and the others'
        # too: if a quorum precommitted it before every node stopped, no one else has it
        # (received proposals live in memory only), and the height could never finish.
        if self.sign_state.height == h:
            for b in self.sign_state.proposals:
                if b.header.parent_id == tip_id and b.id not in self.proposal_ids:
                    self.my_proposals.append(b)
                    out.append(GossipProposal(b, PROPOSE_RESEND))
                    out += self._proposal(None, b, own=True)
        # Messages for this height that arrived while we were still on the previous one.
        tickets, self.future_tickets = self.future_tickets, []
        votes, self.future_votes = self.future_votes, []
        blocks, self.future_blocks = self.future_blocks, []
        keep_t = [e for e in tickets if e[0].height == h]
        if keep_t:
            out += self._tickets(None, keep_t)
        for peer, b in blocks:
            if b.height == h:
                out += self._proposal(peer, b)
            elif b.height > h:
                self.future_blocks.append((peer, b))
        for peer, v in votes:
            if v.height >= h:
                out += self._vote(peer, v)

    def _finalize(self, block: Block, cert: CommitCertificate, round_: int,
                  out: list[Effect], announce: bool = True) -> None:
        """``announce``: False for a block that came finalized from a peer (a sync reply or
        an announcement), which the peers that sent it hold already."""
        out.append(Commit(block, cert, round_))
        if announce:
            out.append(Announce(block, cert, round_))
        self.prev_hs = self.hs
        self.prev_cert = cert
        self.prev_round = round_
        halt = self.config.halt_height
        if halt is not None and block.height >= halt:
            self.halted = True
            self.height = block.height + 1
            self.hs = None
            return
        if self.dissented:
            self.dissented = {k for k in self.dissented if k[0] >= block.height}
        self._set_tip(block, out)

    def last_commit(self) -> CommitCertificate | None:
        """The fullest certificate held for the tip: every agreeing trustee gets paid."""
        if self.height == 1:
            return None
        cert = None
        if self.prev_hs is not None and self.prev_hs.height == self.height - 1:
            cert = self.prev_hs.certificate(self.prev_round, self.tip_id)
        if cert is None:
            cert = self.prev_cert
        if cert is not None and (cert.height, cert.round) in self.dissented:
            cert = self._without_own_sig(cert)
        return cert

    def _without_own_sig(self, cert: CommitCertificate) -> CommitCertificate | None:
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

    # --- signing (crash-safe) ------------------------------------------------------------------

    def _sign_vote(self, vote: Vote) -> Vote:
        """Sign through the record: a (height, round, type) signed before (possibly before a
        crash) gets the recorded vote back, never a conflicting one."""
        prior = self.sign_state.prior_vote(vote)
        if prior is not None:
            return prior
        signed = self.signer.sign_vote(vote)
        self.sign_state = self.sign_state.with_vote(signed)
        return signed

    def _sign_header(self, header: Header) -> Header:
        return self.signer.sign_header(header)

    # --- the lottery: own miners, gossip, throttle ----------------------------------------------

    def on_cycle_start(self, now: float, h: int, c: int) -> list[Effect]:
        if h != self.height or self.closed_with_ties:
            return []
        self._tick(now)
        p = self.params
        start = cycle_start(c, self.gtime, p.cycle_ms)
        out: list[Effect] = [self._at(start + p.cycle_ms, CycleTimer(h, c + 1))]
        draw = self.lottery.draw(c)
        if draw is not None:
            out.append(MineDraw(draw, start))
        return out

    def on_own_tickets(self, now: float, h: int, entries: Sequence[OwnTicket]
                       ) -> list[Effect]:
        """A batch of our own miners' tickets, each with its adjusted arrival time."""
        if h != self.height or self.halted:
            return []
        self._tick(now)
        seen = self.seen
        buf = self.buf
        for t, key, lt, arrival in entries:
            if key not in seen:
                seen.add(key)
                buf.append((t.cycle, lt, key, t, arrival, None))
        return self.on_flush(now)

    def on_tickets(self, now: float, peer: Any, items: Sequence[TicketItem]) -> list[Effect]:
        """Gossiped tickets from a peer (deduplicated here, before the lottery)."""
        if self.halted or not self.started:
            return []
        self.now_f = now  # _tick, inlined: the simulator's hottest path
        self.local = int(now)
        return self._tickets(peer, items)

    def _tickets(self, peer: Any, items: Sequence[TicketItem]) -> list[Effect]:
        """A ticket less lucky than one this node already kept quiet (not relayed) in the same
        draw can never be relayed, win or be lined up here (the luckiest set only improves),
        so it is counted as a time tie and not handed to the lottery at all."""
        seen = self.seen
        h = self.height
        cut = self.cut
        now = self.local + self.clock._offset
        delta = self.params.delta_ms
        out: list[Effect] = []
        fresh = False
        for item in items:
            key = item[1]
            if key in seen:
                continue
            t = item[0]
            if t.height != h:
                if t.height == h + 1 and len(self.future_tickets) < MAX_FUTURE_TICKETS:
                    self.future_tickets.append(item)
                continue
            seen.add(key)
            c = t.cycle
            th = cut.get(c)
            if th is not None and item[2] > th:
                if now <= t.time_ms + delta:
                    self.quiet[c] = self.quiet.get(c, 0) + 1
                continue
            self.buf.append((c, item[2], key, t, now, peer))
            fresh = True
        if fresh and not self.flush_pending:
            self.flush_pending = True
            out.append(self._after(self.config.relay_hold_ms, FLUSH))
        return out

    def on_flush(self, now: float) -> list[Effect]:
        """Offer held tickets in luck order; relay those the throttle says to relay."""
        self.flush_pending = False
        buf = self.buf
        if not buf:
            return []
        self._tick(now)
        self.buf = []
        if len(buf) > 1:
            buf.sort()
        offer = self.lottery.offer
        relayed: list[TicketItem] = []
        observe = self.clock.observe
        local = self.local
        relays = self.relays
        cut = self.cut
        quiet = self.quiet
        delta = self.params.delta_ms
        trusted = self.verifier.trusted
        sig_ok = None if trusted else self.verifier.ticket
        out: list[Effect] = []
        for cyc, lt, key, t, arrival, peer in buf:
            th = cut.get(cyc)
            if th is not None and lt > th:
                # A time tie only if it passed the throttle (the lottery drops late ones).
                if arrival <= t.time_ms + delta:
                    quiet[cyc] = quiet.get(cyc, 0) + 1
                continue
            d = offer(t, arrival, trusted, lt, sig_ok)
            if d.reason is not None:
                reason = TICKET_REASONS.get(d.reason, DropReason.MALFORMED)
                if reason.is_fault:
                    out.append(Dropped(peer, reason, "ticket: " + d.reason))
                continue
            if d.relay:
                # Relayed tickets are the node's clock samples: a bounded number per draw.
                observe(t.miner_pubkey, t.time_ms, local)
                relayed.append((t, key, lt))
                relays[cyc] = relays.get(cyc, 0) + 1
            elif d.accepted:
                cut[cyc] = lt
        if relayed:
            out.append(GossipTickets(relayed, self.ticket_delay_ms))
        return out

    def on_close(self, now: float, h: int, c: int) -> list[Effect]:
        """The throttle of draw ``c`` closed: record it, and start voting if there is luck."""
        if h != self.height or self.halted:
            return []
        self._tick(now)
        out: list[Effect] = []
        ties = 0
        for d in self.lottery.draws():
            if d.cycle == c:
                ties = len(d)
        relays = self.relays.pop(c, 0)
        ties += self.quiet.pop(c, 0)
        if ties or relays:
            out.append(DrawClosed(h, c, ties, relays))
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
            self._ibft(hs.start(self.adj(), best), out)
        if self.height == h and not self.closed_with_ties:
            start = cycle_start(c + 1, self.gtime, self.params.cycle_ms)
            out.append(self._at(start + self.close_after, CloseTimer(h, c + 1)))
        self.lottery.prune(self.adj())
        return out

    # --- proposals -------------------------------------------------------------------------------

    def _policy_may_propose(self) -> bool:
        return True

    def _maybe_propose(self, r: int, out: list[Effect]) -> None:
        if not self._policy_may_propose() or self.offline_height == self.height:
            return
        hs = self.hs
        assert hs is not None
        top = self.lottery.luckiest(r + 1)
        for rank, t in enumerate(top):
            if t.sponsor_pubkey != self.pub or t.miner_pubkey in self.proposed:
                continue
            if (r == 0 and rank == 0 and self._skip_winner is not None
                    and self._skip_winner(self.height)):
                self.offline_height = self.height
                out.append(WithheldWinner(self.height, t.miner_pubkey))
                return
            luck = (t.cycle, lot(seed(t.parent_id, t.cycle), t.miner_pubkey))
            if should_propose(r, rank, hs.luckier_valid_than(luck)):
                self._propose(t, out)
        if r > 0 and self.my_proposals and self.config.regossip:
            for b in self.my_proposals:
                out.append(GossipProposal(b, PROPOSE_RESEND))

    def _build(self, ticket: Ticket, time_ms: int, copy_of: Block | None = None
               ) -> Block | None:
        """Build and sign a proposal for ``ticket`` on our tip; ``copy_of`` takes payload,
        payroll and ``last_commit`` from another block (an equivocator's twin)."""
        state = self.chain.state_after(self.tip_id)
        if copy_of is None:
            payroll: Sequence[Ticket] = self.lottery.lineup(ticket)
            txs: Sequence[Transaction] = self.payload()
            last_commit = self.last_commit()
        else:
            payroll, txs, last_commit = copy_of.payroll, copy_of.payload, copy_of.last_commit
        try:
            built = build_block(state, state.acc, self.genesis, winner=ticket, payroll=payroll,
                                txs=txs, last_commit=last_commit, time_ms=time_ms,
                                sign=self._sign_header, verify_signatures=False)
        except InvalidBlock:
            return None
        return built.block

    def _propose(self, ticket: Ticket, out: list[Effect]) -> None:
        self.proposed.add(ticket.miner_pubkey)
        block = self.sign_state.prior_proposal(self.height, ticket.id)
        if block is None:
            block = self._build(ticket, self.adj())
            if block is None:
                return
            self.sign_state = self.sign_state.with_proposal(block)
            out.append(PersistProposal(block))
        self.my_proposals.append(block)
        out.append(Proposed(block))
        self._policy_publish_proposal(block, ticket, out)

    def _policy_publish_proposal(self, block: Block, ticket: Ticket, out: list[Effect]) -> None:
        out.append(GossipProposal(block, PROPOSE_OWN))
        out += self._proposal(None, block, own=True)

    def on_proposal(self, now: float, peer: Any, block: Block) -> list[Effect]:
        if self.halted or not self.started:
            return []
        self._tick(now)
        return self._proposal(peer, block)

    def _proposal(self, peer: Any, block: Block, own: bool = False) -> list[Effect]:
        h = block.height
        if h != self.height:
            if self.height < h <= self.height + FUTURE_BLOCK_HEIGHTS and \
                    len(self.future_blocks) < MAX_FUTURE_BLOCKS:
                self.future_blocks.append((peer, block))
            return []
        bid = block.id
        if bid in self.proposal_ids:
            return []
        self.proposal_ids.add(bid)
        hdr = block.header
        self._observe(hdr.proposer_pubkey, hdr.time_ms)
        out: list[Effect] = []
        chk = self.chain.check(block)
        now = self.adj()
        valid = chk.reason is None and hdr.parent_id == self.tip_id
        if valid:
            why = check_block_time(block, self.tip_cycle, self.tip_time_ms, now,
                                   self.params.max_drift_ms)
            if why is not None:
                valid = False
                out.append(Dropped(peer, DropReason.FUTURE, why))
        elif not own:
            reason = (DropReason.UNKNOWN_PARENT if chk.reason == UNKNOWN_PARENT
                      else DropReason.INVALID_BLOCK)
            out.append(Dropped(peer, reason, chk.reason or "wrong parent"))
        w = hdr.winner_ticket
        luck = (w.cycle, lot(seed(w.parent_id, w.cycle), w.miner_pubkey))
        self.blocks[bid] = block
        self.lucks[bid] = luck
        if valid and self._policy_relays_proposals():
            # proposals are gossiped whole (SPEC 4); our own too, to neighbours that lack it
            out.append(GossipProposal(block, PROPOSE_RELAY))
        hs = self.hs
        assert hs is not None
        hold = self.own_hold_ms
        if own and valid and hold and hs.round == 0 and hs.n > 1:
            # Our own proposal joins the vote only after ``hold``: under load the draw's
            # tickets reach trustees late, each thinks its own ticket the luckiest, and
            # trustees that prevoted their own proposals at once split round 0. Waiting
            # lets a luckier peer's proposal (its ticket inside) arrive first; other
            # trustees' early prevotes, which suffice when views agree, are not delayed.
            out.append(self._at(now + hold, OwnProposalTimer(h, bid)))
            return out
        self._ibft(hs.on_proposal(bid, luck, valid, now), out)
        return out

    def on_own_proposal_due(self, now: float, h: int, bid: bytes) -> list[Effect]:
        if self.halted or h != self.height or self.hs is None or bid not in self.blocks:
            return []
        self._tick(now)
        out: list[Effect] = []
        self._ibft(self.hs.on_proposal(bid, self.lucks[bid], True, self.adj()), out)
        return out

    def _policy_relays_proposals(self) -> bool:
        return True

    def on_fetched(self, now: float, peer: Any, block_id: bytes, block: Block | None
                   ) -> list[Effect]:
        """The reply to ``FetchBlock(block_id)`` (None: the peer did not have it)."""
        self.fetching.discard(block_id)
        if block is None or block.id != block_id:
            return []
        return self.on_proposal(now, peer, block)

    # --- votes -------------------------------------------------------------------------------

    def on_vote(self, now: float, peer: Any, vote: Vote) -> list[Effect]:
        if self.halted or not self.started:
            return []
        self._tick(now)
        if not self.verifier.vote(vote):
            return [Dropped(peer, DropReason.BAD_SIGNATURE, "vote")]
        return self._vote(peer, vote)

    def _vote(self, peer: Any, vote: Vote) -> list[Effect]:
        h = vote.height
        self._observe(vote.trustee_pubkey, vote.time_ms)
        out: list[Effect] = []
        if h == self.height:
            hs = self.hs
            assert hs is not None
            self._ibft(hs.on_vote(vote, self.adj()), out)
        elif h == self.height - 1:
            if self.prev_hs is not None and self.prev_hs.height == h:
                self.prev_hs.on_vote(vote, self.adj())  # late precommits: a fuller certificate
        elif h > self.height:
            if h <= self.height + FUTURE_VOTE_HEIGHTS and \
                    len(self.future_votes) < MAX_FUTURE_VOTES:
                self.future_votes.append((peer, vote))
            if not self.sync_pending:
                self.sync_pending = True
                out.append(self._after(self.params.timeout_propose_ms, SyncCheckTimer(peer, h)))
        return out

    def on_ibft_timeout(self, now: float, timer: IbftTimer) -> list[Effect]:
        hs = self.hs
        if hs is None or timer.height != self.height or self.halted:
            return []
        self._tick(now)
        out: list[Effect] = []
        self._ibft(hs.on_timeout(timer.kind, timer.height, timer.round, self.adj()), out)
        return out

    def on_regossip(self, now: float, h: int) -> list[Effect]:
        """Periodic re-gossip while a height is undecided (GossipSub's message cache does
        part of this): votes and proposals lost to loss or a partition are sent again to
        peers still at this height, which is what lets rounds resume after a partition heals
        (Tendermint's timers wait for q votes, so nothing else would)."""
        hs = self.hs
        if hs is None or h != self.height or hs.decision is not None or self.halted:
            return []
        self._tick(now)
        out: list[Effect] = []
        if self.honest:
            votes = [v for v in hs.my_votes() if v.round >= hs.round - 1]
            if votes:
                out.append(RegossipVotes(votes))
        for b in self.my_proposals:
            out.append(GossipProposal(b, PROPOSE_RESEND))
        out.append(self._after(self.params.cycle_ms, RegossipTimer(h)))
        return out

    def _policy_out_vote(self, vote: Vote, out: list[Effect]) -> None:
        out.append(GossipVote(vote))

    def _ibft(self, effects: list[Any], out: list[Effect]) -> None:
        hs = self.hs
        for e in effects:
            tp = type(e)
            if tp is Broadcast:
                out.append(PersistVote(e.vote))
                self._policy_out_vote(e.vote, out)
            elif tp is ScheduleTimeout:
                out.append(self._at(e.at_ms, IbftTimer(e.kind, e.height, e.round)))
            elif tp is EnterRound:
                if e.height == self.height:
                    self._maybe_propose(e.round, out)
            elif tp is MissingBlock:
                self._fetch(e.block_id, out)
            elif tp is Equivocation:
                out.append(EquivocationSeen(e.vote_a, e.vote_b))
                if self.honest and self.config.report_evidence:
                    self._report(e, out)
            elif tp is Decide:
                pass
        if hs is not self.hs or hs is None:
            return
        d = hs.decision
        if d is not None and hs.holds_valid(d.block_id):
            self._finalize(self.blocks[d.block_id], d.certificate, d.round, out)

    def _fetch(self, bid: bytes, out: list[Effect]) -> None:
        if bid in self.fetching or (bid in self.proposal_ids and self.hs is not None
                                    and self.hs.holds_valid(bid)):
            return
        self.fetching.add(bid)
        out.append(FetchBlock(bid))

    # --- transactions ------------------------------------------------------------------------

    def nonce_of(self, pub: bytes) -> int:
        """The next nonce our tip's ledger expects from ``pub`` (what the mempool needs)."""
        return self.chain.next_nonce(self.tip_id, pub)

    def on_txs(self, now: float, peer: Any, txs: Sequence[Transaction]) -> list[Effect]:
        if self.halted or not self.started:
            return []
        out: list[Effect] = []
        verify = self.verifier.tx
        for tx in txs:
            if not verify(tx):
                out.append(Dropped(peer, DropReason.BAD_SIGNATURE, "transaction"))
                continue
            self.add_tx(tx)
        return out

    def add_tx(self, tx: Transaction) -> bool:
        """Admit ``tx`` to our pool; one that arrived ahead of a missing nonce waits aside."""
        return self._admit(tx)[0] == ADDED_TO_POOL

    def _admit(self, tx: Transaction) -> tuple[str, str]:
        """(pooled | held | refused, the mempool's reason when not pooled)."""
        res = self.mempool.add(tx, self.nonce_of)
        sender = tx.sender_pubkey
        if res.ok:
            if sender in self.orphans:
                self._adopt(sender)
            return ADDED_TO_POOL, ""
        if res.reason.startswith(NONCE_GAP) and self.n_orphans < self.config.max_orphans:
            pending = self.orphans.setdefault(sender, {})
            if tx.nonce not in pending:
                pending[tx.nonce] = tx
                self.n_orphans += 1
            return HELD, res.reason
        return REFUSED, res.reason

    def on_local_tx(self, now: float, tx: Transaction) -> tuple[str, str]:
        """A transaction submitted to this node (its API): admitted by the same rules as a
        peer's, with the outcome for the submitter: ``accepted`` (pooled, or held for a
        missing earlier nonce), ``known`` or ``rejected`` with a one-line reason. The
        adapter publishes accepted ones (peers' transactions are relayed by gossip)."""
        self._tick(now)
        if tx.chain_id != self.chain_id:
            return "rejected", f"{DropReason.WRONG_CHAIN.value}: chain id {tx.chain_id!r}"
        if tx.id in self.mempool or any(o.id == tx.id for o in
                                        self.orphans.get(tx.sender_pubkey, {}).values()):
            return "known", ""
        if not self.verifier.tx(tx):
            return "rejected", DropReason.BAD_SIGNATURE.value
        outcome, reason = self._admit(tx)
        if outcome == REFUSED:
            return "rejected", reason
        return "accepted", ""

    def _adopt(self, sender: bytes) -> None:
        """Move ``sender``'s held-back transactions into the pool while the gap is closed."""
        pending = self.orphans[sender]
        base = self.nonce_of(sender)
        pool = self.mempool
        for n in sorted(pending):
            tx = pending[n]
            if n >= base and tx.id not in pool and not pool.add(tx, self.nonce_of).ok:
                break  # still a gap (or no room): keep it and the later ones
            del pending[n]
            self.n_orphans -= 1
        if not pending:
            del self.orphans[sender]

    def _refresh_pool(self) -> None:
        """A new tip: drop what it made stale, adopt what it unblocked."""
        self.mempool.prune(self.nonce_of)
        for sender in sorted(self.orphans):
            self._adopt(sender)

    def payload(self) -> list[Transaction]:
        """What a proposal of ours carries: the pool's selection (Byzantine proposers leave
        evidence out, which a single honest proposer later makes up for)."""
        if not len(self.mempool):
            return []
        txs = self.mempool.select(self.nonce_of, self.payload_budget)
        if not self.honest:
            txs = [tx for tx in txs if type(tx.body) is not Evidence]
        return txs

    def _report(self, e: Equivocation, out: list[Effect]) -> None:
        """The first equivocation seen against a trustee becomes an Evidence transaction
        from our account, pooled here and gossiped."""
        culprit = e.vote_a.trustee_pubkey
        if culprit == self.pub or culprit in self.reported:
            return
        self.reported.add(culprit)
        if self._evidence_gate is not None and not self._evidence_gate(culprit):
            return
        nonce = max(self.tx_nonce, self.nonce_of(self.pub))
        self.tx_nonce = nonce + 1
        tx = self.signer.sign_tx(Transaction(self.chain_id, self.pub, nonce, self.params.min_fee,
                                             Evidence(e.vote_a, e.vote_b), bytes(64)))
        out.append(EvidenceCreated(tx))
        self.add_tx(tx)
        out.append(GossipTxs((tx,)))

    # --- catching up ---------------------------------------------------------------------------

    def on_sync_check(self, now: float, peer: Any, h: int) -> list[Effect]:
        self.sync_pending = False
        if self.height >= h or self.halted:
            return []
        return [RequestSync(peer, self.height)]

    def on_announce(self, now: float, peer: Any, block: Block, cert: CommitCertificate,
                    round_: int) -> list[Effect]:
        """A finalized block announced on ``/block``: taken if it is our next block, a reason
        to sync from the announcer if it is further ahead, ignored if we have it."""
        if self.halted or not self.started or block.height < self.height:
            return []
        if block.height == self.height:
            return self.on_sync_reply(now, peer, ((block, cert, round_),))
        if self.sync_pending:
            return []
        self._tick(now)
        return [RequestSync(peer, self.height)]

    def on_sync_reply(self, now: float, peer: Any,
                      entries: Sequence[tuple[Block, CommitCertificate, int]],
                      continue_sync: bool = False) -> list[Effect]:
        """Blocks and certificates a peer finalized above our tip, checked and applied in
        order (an announcement on ``/block`` is a reply of one entry). ``continue_sync``
        (a reply to our request): when it brought blocks, ask the same peer for the next
        ones at once rather than at its next status answer."""
        if self.halted or not self.started:
            return []
        self._tick(now)
        out: list[Effect] = []
        applied = 0
        for block, cert, round_ in entries:
            if self.halted:
                break
            if block.height < self.height:
                continue
            if block.height > self.height or block.header.parent_id != self.tip_id:
                break
            trust = self.config.trust_certificates
            if trust and not self._certified(peer, block, cert, out):
                break
            chk = self.chain.check(block, trust_signatures=trust)
            if chk.reason is not None:
                out.append(Dropped(peer, DropReason.INVALID_BLOCK, chk.reason))
                break
            if not trust and not self._certified(peer, block, cert, out):
                break
            out.append(Synced(block.height))
            self._finalize(block, cert, round_, out, announce=False)
            applied += 1
        if continue_sync and applied and not self.halted:
            out.append(RequestSync(peer, self.height))
        return out


    def _certified(self, peer: Any, block: Block, cert: CommitCertificate,
                   out: list[Effect]) -> bool:
        """``cert`` finalizes ``block`` with a quorum of the trustees after our tip."""
        try:
            self.verifier.certificate(cert, self.chain_id, block.height, block.id,
                                      self.chain.voters_after(self.tip_id))
        except InvalidBlock as exc:
            out.append(Dropped(peer, DropReason.INVALID_CERTIFICATE, str(exc)))
            return False
        return True


__all__ = ["PROPOSE_OWN", "PROPOSE_RELAY", "PROPOSE_RESEND", "MachineConfig", "NodeMachine"]
