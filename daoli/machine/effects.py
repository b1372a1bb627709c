"""What a :class:`~daoli.machine.node.NodeMachine` is handed (events) and hands back (effects).

Every type is a small frozen dataclass with slots: the simulator creates millions of them.
Times in effects are the node's *local* clock (what its adapter schedules against: wall time
for a node, simulated time plus skew in the simulator); the machine converts them from the
network-adjusted time its rules use, so an adapter never needs to know the clock offset.

``peer`` is opaque to the machine: whatever the adapter uses to name the sender of a message
(a libp2p peer id, a simulator index). The machine only hands it back, in ``RequestSync`` and
``Dropped``, so the adapter can ask that peer or lower its score.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from daoli.core.block import Block
from daoli.core.ibft import TimeoutKind
from daoli.core.lottery import Draw
from daoli.core.reasons import DropReason
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction
from daoli.core.vote import CommitCertificate, Vote

Peer = Hashable
TicketItem = tuple[Ticket, Hashable, bytes]
"""(ticket, deduplication key, lot): the adapter computes the key (a ticket id, or the
simulator's cheap integer) and the lot once, so each node does not hash them again."""
OwnTicket = tuple[Ticket, Hashable, bytes, int]
"""A ticket of this node's own miners with its arrival in adjusted ms."""


# --- timers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CycleTimer:
    """Cycle ``cycle`` of ``height`` starts: hand the draw to the miners."""

    height: int
    cycle: int


@dataclass(frozen=True, slots=True)
class CloseTimer:
    """The throttle of draw ``cycle`` at ``height`` has closed (phi + delta after its start)."""

    height: int
    cycle: int


@dataclass(frozen=True, slots=True)
class FlushTimer:
    """Offer the held tickets to the lottery, in luck order."""


@dataclass(frozen=True, slots=True)
class IbftTimer:
    kind: TimeoutKind
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class OwnProposalTimer:
    """Our own round-0 proposal ``block_id`` at ``height`` may now be prevoted."""

    height: int
    block_id: bytes


@dataclass(frozen=True, slots=True)
class RegossipTimer:
    """Re-gossip own votes and proposals while ``height`` is undecided."""

    height: int


@dataclass(frozen=True, slots=True)
class SyncCheckTimer:
    """Votes for ``height`` came from ``peer``: if still behind now, sync from it."""

    peer: Any
    height: int


Timer = CycleTimer | CloseTimer | FlushTimer | IbftTimer | RegossipTimer | SyncCheckTimer
FLUSH = FlushTimer()


# --- effects ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Call back with ``TimerFired(timer)`` at local time ``at_ms`` (never earlier)."""

    at_ms: float
    timer: Timer


@dataclass(frozen=True, slots=True)
class MineDraw:
    """Draw ``draw`` opened at adjusted ``start_ms``: the node's miners may work on it."""

    draw: Draw
    start_ms: int


@dataclass(frozen=True, slots=True)
class GossipTickets:
    """Relay these tickets on the ``/ticket`` topic, ``delay_ms`` from now."""

    items: Sequence[TicketItem]
    delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class PersistVote:
    """Write this own vote durably (fsync) *before* carrying out the effects after it.

    A trustee killed between signing and sending must find it at restart, or it could sign a
    conflicting vote for the same (height, round, type): see :mod:`daoli.machine.signstate`.
    """

    vote: Vote


@dataclass(frozen=True, slots=True)
class PersistProposal:
    """Write this own proposal durably before gossiping it (one block per winning ticket)."""

    block: Block


@dataclass(frozen=True, slots=True)
class GossipVote:
    vote: Vote


@dataclass(frozen=True, slots=True)
class EquivocateVote:
    """A Byzantine wrapper's two conflicting votes, for different parts of the network."""

    vote: Vote
    other: Vote


@dataclass(frozen=True, slots=True)
class RegossipVotes:
    """Own votes of the open height, sent again to peers still at it (GossipSub's cache)."""

    votes: Sequence[Vote]


PROPOSE_OWN = 0
PROPOSE_RELAY = 1
PROPOSE_RESEND = 2


@dataclass(frozen=True, slots=True)
class GossipProposal:
    """A proposal on the ``/block`` topic: ``mode`` is PROPOSE_OWN (we built it),
    PROPOSE_RELAY (a valid one from a peer) or PROPOSE_RESEND (ours again, to peers that
    lack it)."""

    block: Block
    mode: int


@dataclass(frozen=True, slots=True)
class EquivocateProposal:
    """A Byzantine wrapper's block for one part (0 or 1) of the network; the other part gets
    a different block for the same ticket."""

    block: Block
    part: int


@dataclass(frozen=True, slots=True)
class GossipTxs:
    """Transactions on the ``/tx`` topic (one batch message on a real node)."""

    txs: Sequence[Transaction]


@dataclass(frozen=True, slots=True)
class Commit:
    """``block`` is final with ``certificate``: store it (one write transaction) and report."""

    block: Block
    certificate: CommitCertificate
    round: int


@dataclass(frozen=True, slots=True)
class Announce:
    """Announce a finalized block with its certificate on ``/block``: all a laggard at the
    last open height has to go on."""

    block: Block
    certificate: CommitCertificate
    round: int


@dataclass(frozen=True, slots=True)
class FetchBlock:
    """q precommits name a block this node does not hold: fetch its body by request."""

    block_id: bytes


@dataclass(frozen=True, slots=True)
class RequestSync:
    """Ask ``peer`` for finalized blocks and certificates from ``from_height`` on."""

    peer: Any
    from_height: int


@dataclass(frozen=True, slots=True)
class Dropped:
    """Input from ``peer`` was refused: count it by reason and lower the peer's score."""

    peer: Any
    reason: DropReason
    what: str


@dataclass(frozen=True, slots=True)
class DrawClosed:
    """Throttle statistics of one draw on this node (time ties, tickets relayed)."""

    height: int
    cycle: int
    ties: int
    relays: int


@dataclass(frozen=True, slots=True)
class Proposed:
    block: Block


@dataclass(frozen=True, slots=True)
class WithheldWinner:
    """Fault injection: the luckiest ticket's sponsor (this node) did not propose."""

    height: int
    miner_pubkey: bytes


@dataclass(frozen=True, slots=True)
class EquivocationSeen:
    vote_a: Vote
    vote_b: Vote


@dataclass(frozen=True, slots=True)
class EvidenceCreated:
    """This node turned an equivocation into an ``Evidence`` transaction (also gossiped)."""

    tx: Transaction


@dataclass(frozen=True, slots=True)
class Synced:
    """A block was finalized from a sync reply or an announcement."""

    height: int


Effect = (SetTimer | MineDraw | GossipTickets | PersistVote | PersistProposal | GossipVote
          | EquivocateVote | RegossipVotes | GossipProposal | EquivocateProposal | GossipTxs
          | Commit | Announce | FetchBlock | RequestSync | Dropped | DrawClosed | Proposed
          | WithheldWinner | EquivocationSeen | EvidenceCreated | Synced)


# --- events (for adapters that prefer one entry point: NodeMachine.handle) ---------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Begin at the tip the chain view holds."""


@dataclass(frozen=True, slots=True)
class TimerFired:
    timer: Timer


@dataclass(frozen=True, slots=True)
class TicketsReceived:
    peer: Any
    items: Sequence[TicketItem]


@dataclass(frozen=True, slots=True)
class OwnTicketsMined:
    height: int
    entries: Sequence[OwnTicket]


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    peer: Any
    block: Block


@dataclass(frozen=True, slots=True)
class VotesReceived:
    peer: Any
    votes: Sequence[Vote]


@dataclass(frozen=True, slots=True)
class TxsReceived:
    peer: Any
    txs: Sequence[Transaction]


@dataclass(frozen=True, slots=True)
class BlockFetched:
    peer: Any
    block: Block


@dataclass(frozen=True, slots=True)
class SyncReply:
    """Finalized (block, certificate, round) entries from ``peer``, lowest height first
    (an announcement is a reply of one entry)."""

    peer: Any
    entries: Sequence[tuple[Block, CommitCertificate, int]]


@dataclass(frozen=True, slots=True)
class BlockAnnounced:
    """A finalized block with its certificate, announced by ``peer`` on ``/block``."""

    peer: Any
    block: Block
    certificate: CommitCertificate
    round: int


Event = (Start | TimerFired | TicketsReceived | OwnTicketsMined | ProposalReceived
         | VotesReceived | TxsReceived | BlockFetched | SyncReply | BlockAnnounced)
