"""Byzantine trustees as wrappers around the honest :class:`NodeMachine`.

A Byzantine node runs the same honest state machines internally; its misbehaviour is what
it does on the wire (or fails to do), which is all other nodes can ever observe. Each
behaviour overrides only the machine's ``_policy_*`` hooks, so the simulator and, later,
real nodes started with ``--behaviour`` (the reliability issue) misbehave in exactly the
same way:

* ``silent``: crashed or absent. It handles nothing and sends nothing.
* ``equivocate``: every vote it casts also exists in a conflicting twin (another proposal,
  or nil); when it proposes, it proposes two different blocks for the same ticket. How the
  two reach the network is the adapter's business (the simulator sends each to a part).
* ``vote-unlucky``: dissents consistently: prevotes and precommits the *least* lucky valid
  proposal it holds (nil if it holds just one), one vote per step, no equivocation. Its own
  proposals certify the parent without its own precommit (the one its I-BFT machine
  recorded was never sent), and it does not propose when the others' precommits fall short.
* ``withhold-proposal``: votes honestly but never proposes, even when its miner won.
* ``late-tickets``: relays every ticket ``delta_ms + 100`` ms late, so other nodes find them
  not communication-lucky and drop them.
"""

from __future__ import annotations

from typing import Any

from daoli.core.block import Block
from daoli.core.ticket import Ticket
from daoli.core.vote import NIL, PRECOMMIT, Vote
from daoli.errors import ConfigError
from daoli.machine.effects import (
    Effect,
    EquivocateProposal,
    EquivocateVote,
    GossipVote,
)
from daoli.machine.node import NodeMachine

HONEST = "honest"
SILENT = "silent"
EQUIVOCATE = "equivocate"
VOTE_UNLUCKY = "vote-unlucky"
WITHHOLD = "withhold-proposal"
LATE_TICKETS = "late-tickets"

BEHAVIOURS = (SILENT, EQUIVOCATE, VOTE_UNLUCKY, WITHHOLD, LATE_TICKETS)

LATE_EXTRA_MS = 100
"""``late-tickets`` delay beyond ``delta_ms``: enough to miss every communication window."""


def equivocating_twin(vote: Vote, other: bytes, sig: bytes) -> Vote:
    return Vote(vote.chain_id, vote.vtype, vote.height, vote.round, other,
                vote.trustee_pubkey, vote.time_ms, sig)


class SilentMachine(NodeMachine):
    """Crashed or absent: every event is ignored."""

    honest = False

    def handle(self, now: float, event: Any) -> list[Effect]:
        return []

    def start(self, now: float) -> list[Effect]:
        return []

    def _policy_may_propose(self) -> bool:
        return False


class WithholdingMachine(NodeMachine):
    honest = False

    def _policy_may_propose(self) -> bool:
        return False


class LateTicketsMachine(NodeMachine):
    honest = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticket_delay_ms = self.params.delta_ms + LATE_EXTRA_MS


class EquivocatingMachine(NodeMachine):
    honest = False

    def _conflicting_target(self, vote: Vote) -> bytes:
        """Another proposal, else nil (or, for a nil vote, any block id)."""
        for bid in sorted(self.proposal_ids):
            if bid != vote.block_id:
                return bid
        return NIL if vote.block_id != NIL else b"\x00" * 32

    def _policy_out_vote(self, vote: Vote, out: list[Effect]) -> None:
        twin = self.signer.sign_vote(
            equivocating_twin(vote, self._conflicting_target(vote), b""))
        out.append(EquivocateVote(vote, twin))

    def _policy_relays_proposals(self) -> bool:
        return False

    def _policy_publish_proposal(self, block: Block, ticket: Ticket, out: list[Effect]
                                 ) -> None:
        twin_time = block.header.time_ms + 1
        other = self._build(ticket, twin_time, copy_of=block) or block
        out.append(EquivocateProposal(block, 0))
        out += self._proposal(None, block, own=True)
        out.append(EquivocateProposal(other, 1))


class VoteUnluckyMachine(NodeMachine):
    honest = False

    def _dissent_target(self, vote: Vote) -> bytes:
        """The least lucky other valid proposal held, or nil."""
        best: tuple[tuple[int, bytes], bytes] | None = None
        hs = self.hs
        for bid in sorted(self.proposal_ids):
            if bid == vote.block_id or hs is None or not hs.holds_valid(bid):
                continue
            cand = (self.lucks[bid], bid)
            if best is None or cand > best:
                best = cand
        return NIL if best is None else best[1]

    def _policy_out_vote(self, vote: Vote, out: list[Effect]) -> None:
        target = self._dissent_target(vote) if vote.block_id != NIL else NIL
        if target != vote.block_id:
            if vote.vtype == PRECOMMIT:
                self.dissented.add((vote.height, vote.round))
            vote = self.signer.sign_vote(equivocating_twin(vote, target, b""))
        out.append(GossipVote(vote))


MACHINES: dict[str, type[NodeMachine]] = {
    HONEST: NodeMachine,
    SILENT: SilentMachine,
    EQUIVOCATE: EquivocatingMachine,
    VOTE_UNLUCKY: VoteUnluckyMachine,
    WITHHOLD: WithholdingMachine,
    LATE_TICKETS: LateTicketsMachine,
}


def machine_class(behaviour: str) -> type[NodeMachine]:
    """The machine class for ``behaviour`` (``honest`` or one of :data:`BEHAVIOURS`)."""
    try:
        return MACHINES[behaviour]
    except KeyError:
        raise ConfigError(f"behaviour {behaviour!r}: choose one of "
                          f"{', '.join(BEHAVIOURS)}") from None


__all__ = ["BEHAVIOURS", "EQUIVOCATE", "HONEST", "LATE_EXTRA_MS", "LATE_TICKETS", "MACHINES",
           "SILENT", "VOTE_UNLUCKY", "WITHHOLD", "machine_class"]
