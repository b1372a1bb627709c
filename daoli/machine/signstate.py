"""Crash-safe signing: what a trustee signed at its latest height, persisted before sending.

CometBFT keeps ``priv_validator_state.json`` for the same reason: a trustee killed after
signing a vote but before sending it, then restarted, must not sign a *different* vote for
the same (height, round, type): that is equivocation, and it is slashed. The machine emits
``PersistVote`` / ``PersistProposal`` before the matching gossip effect; the node writes
:meth:`SignState.encode` to disk with fsync before it carries out anything after it, and
hands the decoded state back to the machine at start.

Rules (also in docs/protocol.md):

* A vote for (h, r, type) already signed for another block id is not signed again: the
  recorded vote is used instead (so a restarted trustee repeats itself).
* Nothing is signed for a height below the recorded one.
* A proposal already made for a winner ticket at the recorded height is re-sent as it was,
  not rebuilt (a rebuilt block would differ in time or payload: two blocks for one ticket).

Only the latest height is kept: a finalized height can never be voted on again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from daoli.core import encoding as enc
from daoli.core.block import Block
from daoli.core.vote import Vote
from daoli.errors import DecodeError

MAX_VOTES = 4096
"""Own votes one height can hold: two per round, far more rounds than timeouts allow."""
MAX_PROPOSALS = 8
"""Own proposals one height can hold (one per winning ticket of this sponsor's miners)."""


@dataclass(frozen=True)
class SignState(enc.ProtocolObject):
    TYPE: ClassVar[int] = 40
    NAME: ClassVar[str] = "sign state"
    height: int = 0
    votes: tuple[Vote, ...] = ()
    proposals: tuple[Block, ...] = ()

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.height, [v.to_fields() for v in self.votes],
                [b.to_fields() for b in self.proposals]]

    @cached_property
    def encoded(self) -> bytes:
        """Assembled from the votes' and blocks' cached encodings (equal to
        ``encode(to_fields())``): the node writes this on every vote, and re-encoding a
        proposal's thousands of transactions each time held its loop for a tenth of a second
        under load."""
        return b"".join([enc.array_header(4), enc.encode(self.TYPE), enc.encode(self.height),
                         enc.array_header(len(self.votes)), *(v.encoded for v in self.votes),
                         enc.array_header(len(self.proposals)),
                         *(b.encoded for b in self.proposals)])

    @classmethod
    def from_fields(cls, f: list[Any]) -> SignState:
        enc.expect_len(f, 4, "sign state")
        height = enc.uint(f[1], "sign_state.height")
        votes = tuple(enc.object_from_fields(v, Vote.TYPE, Vote.from_fields, "sign_state.vote")
                      for v in enc.array(f[2], MAX_VOTES, "sign_state.votes"))
        blocks = tuple(
            enc.object_from_fields(b, Block.TYPE, Block.from_fields, "sign_state.proposal")
            for b in enc.array(f[3], MAX_PROPOSALS, "sign_state.proposals"))
        for v in votes:
            if v.height != height:
                raise DecodeError("sign state: a vote of another height")
        for b in blocks:
            if b.height != height:
                raise DecodeError("sign state: a proposal of another height")
        return cls(height, votes, blocks)

    # --- the rules ---------------------------------------------------------------------------

    def prior_vote(self, vote: Vote) -> Vote | None:
        """The vote already signed for ``vote``'s (height, round, type), if any."""
        if vote.height != self.height:
            return None
        for v in self.votes:
            if v.round == vote.round and v.vtype == vote.vtype:
                return v
        return None

    def may_sign(self, height: int) -> bool:
        return height >= self.height

    def prior_proposal(self, height: int, winner_id: bytes) -> Block | None:
        if height != self.height:
            return None
        for b in self.proposals:
            if b.header.winner_ticket.id == winner_id:
                return b
        return None

    def with_vote(self, vote: Vote) -> SignState:
        if vote.height > self.height:
            return SignState(vote.height, (vote,), ())
        if len(self.votes) >= MAX_VOTES:
            return self
        return SignState(self.height, (*self.votes, vote), self.proposals)

    def with_proposal(self, block: Block) -> SignState:
        if block.height > self.height:
            return SignState(block.height, (), (block,))
        if len(self.proposals) >= MAX_PROPOSALS:
            return self
        return SignState(self.height, self.votes, (*self.proposals, block))
