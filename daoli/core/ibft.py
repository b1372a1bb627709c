"""The I-BFT round state machine of one trustee at one height (SPEC section 4), sans I/O.

The rules are Tendermint's (Buchman, Kwon, Milosevic, "The latest gossip on BFT consensus",
2018, the algorithm CometBFT implements) with one change: there is no rotating proposer.
Any sponsor whose ticket is lucky enough may propose, so a round can hold several proposals
and a trustee *chooses* what to prevote by luck and by the previous round's prevotes.

The machine never reads a clock, sends a message or checks a block. The caller feeds it
events (``start``, ``on_proposal``, ``on_vote``, ``on_timeout``), each with the current
adjusted time, and carries out the effects it returns: broadcast a signed vote, arm a
timer, record a decision. That keeps the node and the simulator on the very same rules and
lets tests drive every interleaving deterministically.

Choices the SPEC leaves open (also written down in docs/protocol.md):

* Prevote timing: at ``timeout_propose(r)`` expiry, or earlier when the choice cannot
  change any more: a proof-of-lock (POL) block is held, or, in round 0, a valid proposal
  at least as lucky as the luckiest ticket this trustee holds (``best_luck``) is present.
* Proof of lock: a trustee prevotes the block of the latest polka (q prevotes for one
  block) of an earlier round it has seen, if it holds that block valid; a lock is that
  same polka seen when it precommitted, so "locked on B prevotes only B until a polka for
  another block in a later round" follows, exactly as Tendermint's ``lockedRound <= vr``.
  Unlocked trustees follow the same POL rule: it is what makes honest trustees that hold
  different locks converge (the SPEC's "most prevotes in round r-1" alone can deadlock).
* Timers follow Tendermint: ``timeout_prevote(r)`` starts once the trustee has prevoted
  and seen q prevotes of any kind for r; ``timeout_precommit(r)`` starts once it has seen
  q precommits of any kind for r; expiry moves to round r+1.
* A decision needs q precommits for one block id in *any* round, whether or not the block
  has arrived: q precommits contain an honest one, and honest trustees precommit only
  blocks they checked. The caller fetches a missing block (``MissingBlock``).
* f+1 distinct voters in a higher round make the trustee skip to that round.
* An equivocator's votes count for every block id it signed (see ``VoteBook``).

What the caller owes the machine (the node's gossip layer, or the simulator): every vote
and proposal eventually reaches every trustee (relay what you accept, re-gossip
``my_votes()`` while a height is open), and a trustee that decided keeps announcing the
block with ``Decide.certificate`` to peers still at that height, since it signs nothing
more there. Without that, a trustee that missed a few votes can wait forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from daoli.core.params import ChainParams
from daoli.core.vote import NIL, PRECOMMIT, PREVOTE, CommitCertificate, Vote

Luck = tuple[int, bytes]
"""``(cycle, lot)`` of a block's winner ticket: the smaller, the luckier (SPEC 3)."""

Signer = Callable[[Vote], Vote]
"""Returns the vote with its ``sig`` filled in; injectable so simulators can sign fast."""

MAX_ROUNDS_AHEAD = 64
"""Votes this many rounds past the current one are not stored, only used to skip ahead:
a Byzantine trustee must not make honest ones store votes for unbounded rounds."""

MAX_PROPOSALS = 256
"""Distinct block ids one height records from ``on_proposal`` (``VoteBook.known`` and the
valid ones). A proposer can sign any number of blocks for one ticket, and peers can send any
number of invalid ones, so beyond this the height keeps only what can matter: see
``HeightState.on_proposal``."""


class Step(IntEnum):
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


class TimeoutKind(IntEnum):
    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


# --- effects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broadcast:
    """Gossip this vote (already signed) to every trustee; it is already counted here."""

    vote: Vote


@dataclass(frozen=True)
class ScheduleTimeout:
    """Call ``on_timeout(kind, height, round, at_ms)`` at adjusted time ``at_ms``."""

    kind: TimeoutKind
    height: int
    round: int
    at_ms: int


@dataclass(frozen=True)
class EnterRound:
    """The trustee entered ``round``: sponsors may now propose for it (``should_propose``)."""

    height: int
    round: int
    at_ms: int


@dataclass(frozen=True)
class Decide:
    """q precommits for ``block_id`` at ``round``: the block is final (instant finality)."""

    height: int
    round: int
    block_id: bytes
    certificate: CommitCertificate


@dataclass(frozen=True)
class Equivocation:
    """Two signed votes by one trustee for different block ids at one (height, round, type):
    the body of an ``Evidence`` transaction (``daoli.core.tx.Evidence(vote_a, vote_b)``)."""

    vote_a: Vote
    vote_b: Vote


@dataclass(frozen=True)
class MissingBlock:
    """A polka or commit names a block this trustee does not hold (valid): fetch it."""

    block_id: bytes


Effect = Broadcast | ScheduleTimeout | EnterRound | Decide | Equivocation | MissingBlock


# --- arithmetic -------------------------------------------------------------------------


def max_faulty(n: int) -> int:
    """f = (n-1)//3: the Byzantine trustees n trustees tolerate."""
    return (n - 1) // 3 if n > 0 else 0


def quorum(n: int) -> int:
    """q = n - f = floor(2n/3) + 1: two quorums then share more than f trustees, so at least
    one honest one, for every n.

    SPEC 4 writes q = 2f+1, which is the same number exactly when n = 3f+1 (n = 4: q = 3) but
    is unsafe otherwise: with n = 3, f = 0 and 2f+1 = 1, so every trustee would finalize on its
    own vote (the simulator found conflicting finalized blocks once slashing shrank a set of 4
    to 3). See docs/protocol.md section 10.
    """
    if n < 1:
        raise ValueError("a quorum needs at least one trustee")
    return n - max_faulty(n)


def timeout_ms(params: ChainParams, kind: TimeoutKind, round_: int) -> int:
    """Timeouts grow linearly with the round so that, once the network is timely, some round
    lasts long enough for every honest message to arrive (Tendermint's liveness argument)."""
    base = {TimeoutKind.PROPOSE: params.timeout_propose_ms,
            TimeoutKind.PREVOTE: params.timeout_prevote_ms,
            TimeoutKind.PRECOMMIT: params.timeout_precommit_ms}[kind]
    return base + round_ * params.timeout_delta_ms


def should_propose(round_: int, my_ticket_rank: int, luckier_valid_proposal_seen: bool) -> bool:
    """Whether a sponsor should have its block out in ``round_`` (SPEC 4, step 1).

    ``my_ticket_rank`` is its miner's ticket's 0-based rank among the time ties it holds
    (0 = luckiest). Round 0: only the luckiest. Round r > 0: the r+1 luckiest, unless a valid
    proposal for a luckier ticket already reached it ("multi-core" failover). Proposals are
    remembered across rounds, so a caller broadcasts each block once, however often this
    says yes.
    """
    if my_ticket_rank < 0 or round_ < 0:
        return False
    if round_ == 0:
        return my_ticket_rank == 0
    return my_ticket_rank <= round_ and not luckier_valid_proposal_seen


# --- the vote book ----------------------------------------------------------------------

ADDED = 0
DUPLICATE = 1
IGNORED = 2
CONFLICT = 3

MAX_EXTRA_VOTES = 4
"""Conflicting votes one trustee may have counted per (round, type) for block ids this node
has not seen proposed; votes for nil and for known proposals are always counted."""


class VoteAdd(NamedTuple):
    """What ``VoteBook.add`` did.

    ``status``: ADDED (a trustee's first vote of its (round, type)), CONFLICT (another
    vote of the same trustee for a different block id), DUPLICATE or IGNORED. ``supporters``
    is the number of trustees with a vote for the vote's block id after the add (0 if it was
    not counted) and ``total`` the number of trustees with any vote of that (round, type);
    ``evidence`` is set on a trustee's first conflict per (round, type).
    """

    status: int
    supporters: int
    total: int
    evidence: tuple[Vote, Vote] | None


_IGNORED = VoteAdd(IGNORED, 0, 0, None)
_DUPLICATE = VoteAdd(DUPLICATE, 0, 0, None)


class VoteBook:
    """Votes of one height, by (round, type, block id, trustee), tallied incrementally.

    Every operation on the hot path is a few dict lookups, so a node with 100 trustees can
    absorb every vote of a height without recounting.

    An equivocating trustee's votes are counted for *every* block id it signed, not just
    the first to arrive (CometBFT gets the same effect with its peer-maj23 messages).
    Counting only first arrivals would let it show one half of the trustees a polka and the
    other half none, forever: a liveness attack. It is safe, because q signatures for a
    block are a polka (or a commit) whoever else the signers also voted for: two quorums
    for different blocks in one round would need f+1 equivocators. ``total`` counts
    trustees once, so timers cannot be hurried by equivocation. To bound memory, conflicting
    votes for block ids nobody proposed to this node (``known``) are capped per trustee.
    """

    def __init__(self, chain_id: str, height: int, voters: Iterable[bytes]) -> None:
        self.chain_id = chain_id
        self.height = height
        self.voters: frozenset[bytes] = frozenset(voters)
        self.n = len(self.voters)
        self.f = max_faulty(self.n)
        self.q = quorum(self.n)
        self.known: set[bytes] = set()
        """Block ids proposed to this node; the state machine fills it, with at most
        ``HeightState.max_proposals`` of them (plus blocks its vote rules pin)."""
        self._first: dict[tuple[int, int], dict[bytes, Vote]] = {}
        self._blocks: dict[tuple[int, int], dict[bytes, dict[bytes, Vote]]] = {}
        self._round_voters: dict[int, set[bytes]] = {}
        self._conflicted: set[tuple[int, int, bytes]] = set()
        self._extra: dict[tuple[int, int, bytes], int] = {}
        self.evidence: list[tuple[Vote, Vote]] = []

    def add(self, vote: Vote) -> VoteAdd:
        pub = vote.trustee_pubkey
        if (vote.height != self.height or vote.chain_id != self.chain_id
                or pub not in self.voters):
            return _IGNORED
        key = (vote.round, vote.vtype)
        first = self._first.get(key)
        if first is None:
            first = self._first[key] = {}
            self._blocks[key] = {}
        bid = vote.block_id
        blocks = self._blocks[key]
        prev = first.get(pub)
        if prev is None:
            first[pub] = vote
            signers = blocks.get(bid)
            if signers is None:
                signers = blocks[bid] = {}
            signers[pub] = vote
            rv = self._round_voters.get(vote.round)
            if rv is None:
                rv = self._round_voters[vote.round] = set()
            rv.add(pub)
            return VoteAdd(ADDED, len(signers), len(first), None)
        if prev.block_id == bid:
            return _DUPLICATE
        signers = blocks.get(bid)
        if signers is not None and pub in signers:
            return _DUPLICATE
        ckey = (vote.round, vote.vtype, pub)
        evidence = None
        if ckey not in self._conflicted:
            self._conflicted.add(ckey)
            evidence = (prev, vote)
            self.evidence.append(evidence)
        if bid and bid not in self.known:
            extra = self._extra.get(ckey, 0)
            if extra >= MAX_EXTRA_VOTES:
                return VoteAdd(CONFLICT, 0, len(first), evidence)
            self._extra[ckey] = extra + 1
        if signers is None:
            signers = blocks[bid] = {}
        signers[pub] = vote
        return VoteAdd(CONFLICT, len(signers), len(first), evidence)

    def count(self, round_: int, vtype: int, block_id: bytes) -> int:
        blocks = self._blocks.get((round_, vtype))
        signers = None if blocks is None else blocks.get(block_id)
        return 0 if signers is None else len(signers)

    def total(self, round_: int, vtype: int) -> int:
        first = self._first.get((round_, vtype))
        return 0 if first is None else len(first)

    def tally(self, round_: int, vtype: int) -> dict[bytes, int]:
        """Block id -> number of trustees that voted for it (nil is ``NIL``)."""
        return {b: len(s) for b, s in self._blocks.get((round_, vtype), {}).items()}

    def votes(self, round_: int, vtype: int, block_id: bytes) -> list[Vote]:
        """The counted votes for ``block_id`` at (round, type), one per trustee."""
        return list(self._blocks.get((round_, vtype), {}).get(block_id, {}).values())

    def first_votes(self, round_: int, vtype: int) -> list[Vote]:
        """Each trustee's first vote of (round, type)."""
        return list(self._first.get((round_, vtype), {}).values())

    def voters_in_round(self, round_: int) -> int:
        """Distinct trustees with any counted vote in ``round_``."""
        rv = self._round_voters.get(round_)
        return 0 if rv is None else len(rv)

    def rounds(self) -> list[int]:
        return sorted(self._round_voters)


# --- the state machine ------------------------------------------------------------------


class HeightState:
    """One trustee's I-BFT instance for one height; see the module docstring for the rules.

    ``my_pubkey=None`` (or a key outside ``voters``) makes an observer: it tallies votes and
    decides like a trustee but never signs, which is what a non-trustee full node runs.
    Create a fresh instance per height; a decided instance stops voting.
    """

    def __init__(self, chain_id: str, height: int, parent_id: bytes,
                 my_pubkey: bytes | None, sign: Signer | None, voters: Sequence[bytes],
                 params: ChainParams, *, verify_sigs: bool = False,
                 max_proposals: int = MAX_PROPOSALS) -> None:
        self.chain_id = chain_id
        self.height = height
        self.parent_id = parent_id
        self.params = params
        self.book = VoteBook(chain_id, height, voters)
        self.n, self.f, self.q = self.book.n, self.book.f, self.book.q
        self.my_pubkey = my_pubkey
        self._sign = sign
        self.is_voter = my_pubkey is not None and my_pubkey in self.book.voters
        if self.is_voter and sign is None:
            raise ValueError("a voting trustee needs a signer")
        self.verify_sigs = verify_sigs
        if max_proposals < 1:
            raise ValueError("max_proposals must be at least 1")
        self.max_proposals = max_proposals

        self.started = False
        self.round = 0
        self.step = Step.PROPOSE
        self.locked_round = -1
        self.locked_id: bytes | None = None
        self.decision: Decide | None = None
        self.best_luck: Luck | None = None

        self._valid: dict[bytes, Luck] = {}
        self._invalid: dict[bytes, None] = {}
        """Known ids held invalid, oldest first: the first to forget when full."""
        self._luckiest: tuple[Luck, bytes] | None = None
        self._polkas: dict[int, bytes] = {}
        self._nil_polkas: set[int] = set()
        self._prevote_timer: set[int] = set()
        self._precommit_timer: set[int] = set()
        self._my_votes: dict[tuple[int, int], Vote] = {}
        self._far_round: dict[bytes, int] = {}
        self._evaluating = False
        self._dirty = False

    # --- queries ---

    def holds_valid(self, block_id: bytes) -> bool:
        return block_id in self._valid

    def luckiest_valid(self) -> tuple[Luck, bytes] | None:
        """(luck, block id) of the luckiest valid proposal held, ties broken by block id."""
        return self._luckiest

    def luckier_valid_than(self, luck: Luck) -> bool:
        """For ``should_propose``: has a valid proposal luckier than ``luck`` reached us?"""
        return self._luckiest is not None and self._luckiest[0] < luck

    def my_votes(self) -> list[Vote]:
        """Every vote this trustee signed at this height, by (round, type): for re-gossip
        (lost messages would otherwise stall a round) and for a double-sign guard on disk."""
        return [self._my_votes[k] for k in sorted(self._my_votes)]

    def polka(self, round_: int) -> bytes | None:
        """The block id with q prevotes in ``round_``, if any was seen."""
        return self._polkas.get(round_)

    def certificate(self, round_: int, block_id: bytes) -> CommitCertificate | None:
        """Every precommit seen so far for ``block_id`` at ``round_`` (late ones included),
        or None below q: a proposer puts the fullest one in ``last_commit`` so that every
        agreeing trustee is paid."""
        votes = self.book.votes(round_, PRECOMMIT, block_id)
        if not block_id or len(votes) < self.q:
            return None
        return CommitCertificate.from_votes(votes)

    # --- events ---

    def start(self, now_ms: int, best_luck: Luck | None = None) -> list[Effect]:
        """Begin round 0 (the caller calls this once the draw's throttle has closed).

        ``best_luck`` is the luck of the luckiest time tie this trustee holds: a valid
        proposal at least that lucky lets it prevote at once instead of at the timeout.
        If f+1 trustees are already voting in a later round, it starts there instead.
        """
        eff: list[Effect] = []
        if self.started:
            return eff
        self.started = True
        if best_luck is not None:
            self.best_luck = best_luck
        if self.decision is not None:
            return eff
        target = 0
        for r in self.book.rounds():
            if r > target and self.book.voters_in_round(r) >= self.f + 1:
                target = r
        far = sorted(self._far_round.values(), reverse=True)
        if len(far) > self.f:
            target = max(target, far[self.f])
        self._start_round(target, now_ms, eff)
        return eff

    def on_proposal(self, block_id: bytes, luck: Luck, valid: bool,
                    now_ms: int) -> list[Effect]:
        """A proposal (a whole block) arrived; the caller checked it objectively.

        Proposals are kept for the whole height, so a block proposed in round 0 can still
        be prevoted in round 3. Validity only ever upgrades: it is objective, so a later
        ``valid=True`` means an earlier check lacked something (e.g. the block's parent).

        At most ``max_proposals`` distinct ids are recorded. Beyond that a new id is recorded
        only by forgetting another: an invalid one first (oldest first); a valid one only if
        the newcomer is valid and luckier than it (by ``(luck, block id)``), the worst such
        going. Blocks named by a polka, the lock, a decision, this trustee's own votes or
        any prevote of the current or previous round are *pinned*: never forgotten, and
        recorded when valid even beyond the bound (polka and decision blocks are what
        ``MissingBlock`` asks the caller to fetch). So the luckiest valid proposals, and the
        blocks the vote rules read, stay; the excess over the bound is at most the pinned
        blocks, which the stored votes already bound.
        """
        eff: list[Effect] = []
        if block_id in self._valid:
            return eff
        known = self.book.known
        if block_id not in known:
            if len(known) >= self.max_proposals and not self._make_room(block_id, luck, valid):
                return eff
            known.add(block_id)
            if not valid:
                self._invalid[block_id] = None
                return eff
        elif not valid:
            return eff
        self._invalid.pop(block_id, None)
        self._valid[block_id] = luck
        cand = (luck, block_id)
        if self._luckiest is None or cand < self._luckiest:
            self._luckiest = cand
        self._evaluate(now_ms, eff)
        return eff

    def _pinned(self) -> set[bytes]:
        """Blocks a vote rule of this trustee can still pick, or the caller must fetch: the
        round-(r+1) prevote may follow round r's prevotes, so those of the current and the
        previous round pin their blocks too (else each trustee would keep only its own)."""
        pins = set(self._polkas.values())
        for r in (self.round - 1, self.round):
            pins.update(self.book.tally(r, PREVOTE))
        pins.update(v.block_id for v in self._my_votes.values())
        if self.locked_id is not None:
            pins.add(self.locked_id)
        if self.decision is not None:
            pins.add(self.decision.block_id)
        return pins

    def _make_room(self, block_id: bytes, luck: Luck, valid: bool) -> bool:
        """Forget one recorded proposal for ``block_id``, or say it is not worth recording."""
        pins = self._pinned()
        pinned = block_id in pins
        if self._invalid and (valid or pinned):
            old = next(iter(self._invalid))
            del self._invalid[old]
            self.book.known.discard(old)
            return True
        if not valid:
            return False
        worst: tuple[Luck, bytes] | None = None
        for bid, lk in self._valid.items():
            if bid not in pins and (worst is None or (lk, bid) > worst):
                worst = (lk, bid)
        if worst is None:
            return pinned  # everything held is pinned: only another pinned block comes in
        if not pinned and worst <= (luck, block_id):
            return False
        del self._valid[worst[1]]
        self.book.known.discard(worst[1])
        if self._luckiest is not None and self._luckiest[1] == worst[1]:
            self._luckiest = min(((lk, b) for b, lk in self._valid.items()), default=None)
        return True

    def on_vote(self, vote: Vote, now_ms: int) -> list[Effect]:
        """A vote from the network. Votes for other chains, heights, or from non-voters are
        ignored; signatures are checked here only if ``verify_sigs`` (else by the caller)."""
        eff: list[Effect] = []
        if self.verify_sigs and not vote.verify_sig():
            return eff
        self._ingest(vote, now_ms, eff)
        return eff

    def on_timeout(self, kind: TimeoutKind, height: int, round_: int,
                   now_ms: int) -> list[Effect]:
        """A timer from ``ScheduleTimeout`` fired; stale ones (old round or step) do nothing."""
        eff: list[Effect] = []
        if height != self.height or round_ != self.round or not self.started:
            return eff
        if self.decision is not None:
            return eff
        if kind == TimeoutKind.PROPOSE:
            if self.step == Step.PROPOSE:
                self._prevote(self._prevote_choice(round_), now_ms, eff)
        elif kind == TimeoutKind.PREVOTE:
            if self.step == Step.PREVOTE:
                self._precommit(NIL, now_ms, eff)
        elif kind == TimeoutKind.PRECOMMIT:
            self._start_round(round_ + 1, now_ms, eff)
        return eff

    # --- internals ---

    def _ingest(self, vote: Vote, now: int, eff: list[Effect]) -> None:
        r = vote.round
        if r > self.round + MAX_ROUNDS_AHEAD:
            self._note_far_vote(vote, now, eff)
            return
        _, count, total, evidence = self.book.add(vote)
        if evidence is not None:
            eff.append(Equivocation(*evidence))
        if count == 0:
            return
        bid = vote.block_id
        if vote.vtype == PREVOTE:
            if count == self.q:
                if bid:
                    self._polkas.setdefault(r, bid)
                    if bid not in self._valid:
                        eff.append(MissingBlock(bid))
                else:
                    self._nil_polkas.add(r)
                if r == self.round:
                    self._evaluate(now, eff)
            elif total == self.q and r == self.round:
                self._evaluate(now, eff)
        else:
            if count == self.q and bid:
                self._decide(r, bid, eff)
            elif total == self.q and r == self.round:
                self._evaluate(now, eff)
        if (r > self.round and self.started and self.decision is None
                and self.book.voters_in_round(r) == self.f + 1):
            self._start_round(r, now, eff)

    def _note_far_vote(self, vote: Vote, now: int, eff: list[Effect]) -> None:
        """Votes far ahead are not stored; each voter's highest such round is, so that f+1 of
        them still pull a trustee that slept through many rounds back into step."""
        pub = vote.trustee_pubkey
        if (vote.chain_id != self.chain_id or vote.height != self.height
                or pub not in self.book.voters):
            return
        if vote.round <= self._far_round.get(pub, -1):
            return
        self._far_round[pub] = vote.round
        if not self.started or self.decision is not None:
            return
        ahead = sorted((r for r in self._far_round.values() if r > self.round), reverse=True)
        if len(ahead) >= self.f + 1:
            self._start_round(ahead[self.f], now, eff)

    def _start_round(self, r: int, now: int, eff: list[Effect]) -> None:
        self.round = r
        self.step = Step.PROPOSE
        self._far_round = {k: v for k, v in self._far_round.items() if v > r + MAX_ROUNDS_AHEAD}
        eff.append(EnterRound(self.height, r, now))
        eff.append(ScheduleTimeout(TimeoutKind.PROPOSE, self.height, r,
                                   now + timeout_ms(self.params, TimeoutKind.PROPOSE, r)))
        self._evaluate(now, eff)

    def _evaluate(self, now: int, eff: list[Effect]) -> None:
        """Re-check every rule of the current round; re-entrant calls just mark it dirty."""
        if self._evaluating:
            self._dirty = True
            return
        self._evaluating = True
        try:
            while True:
                self._dirty = False
                self._evaluate_once(now, eff)
                if not self._dirty:
                    break
        finally:
            self._evaluating = False

    def _evaluate_once(self, now: int, eff: list[Effect]) -> None:
        if not self.started or self.decision is not None:
            return
        r = self.round
        if self.step == Step.PROPOSE:
            early = self._early_prevote(r)
            if early is not None:
                self._prevote(early, now, eff)
        if self.step == Step.PREVOTE:
            polka = self._polkas.get(r)
            if polka is not None and polka in self._valid:
                self.locked_round, self.locked_id = r, polka
                self._precommit(polka, now, eff)
            elif r in self._nil_polkas:
                self._precommit(NIL, now, eff)
            elif r not in self._prevote_timer and self.book.total(r, PREVOTE) >= self.q:
                self._prevote_timer.add(r)
                eff.append(ScheduleTimeout(TimeoutKind.PREVOTE, self.height, r,
                                           now + timeout_ms(self.params, TimeoutKind.PREVOTE, r)))
        if r not in self._precommit_timer and self.book.total(r, PRECOMMIT) >= self.q:
            self._precommit_timer.add(r)
            eff.append(ScheduleTimeout(TimeoutKind.PRECOMMIT, self.height, r,
                                       now + timeout_ms(self.params, TimeoutKind.PRECOMMIT, r)))

    def _latest_pol(self, r: int) -> tuple[int, bytes] | None:
        best: tuple[int, bytes] | None = None
        for vr, bid in self._polkas.items():
            if vr < r and (best is None or vr > best[0]):
                best = (vr, bid)
        return best

    def _early_prevote(self, r: int) -> bytes | None:
        """The prevote, if it can no longer change before ``timeout_propose(r)``."""
        pol = self._latest_pol(r)
        if pol is not None:
            return pol[1] if pol[1] in self._valid else None
        if (r == 0 and self.best_luck is not None and self._luckiest is not None
                and self._luckiest[0] <= self.best_luck):
            return self._luckiest[1]
        return None

    def _prevote_choice(self, r: int) -> bytes:
        """SPEC 4 step 2, with the POL rule of the module docstring taking precedence."""
        pol = self._latest_pol(r)
        if pol is not None:
            return pol[1] if pol[1] in self._valid else NIL
        if self.locked_id is not None:  # a lock always comes with its polka; kept for safety
            return self.locked_id
        if r > 0:
            best: tuple[int, Luck, bytes] | None = None
            for bid, count in self.book.tally(r - 1, PREVOTE).items():
                luck = self._valid.get(bid)
                if bid and luck is not None:
                    cand = (-count, luck, bid)
                    if best is None or cand < best:
                        best = cand
            if best is not None:
                return best[2]
        return NIL if self._luckiest is None else self._luckiest[1]

    def _prevote(self, block_id: bytes, now: int, eff: list[Effect]) -> None:
        self.step = Step.PREVOTE
        self._cast(PREVOTE, block_id, now, eff)
        self._evaluate(now, eff)

    def _precommit(self, block_id: bytes, now: int, eff: list[Effect]) -> None:
        self.step = Step.PRECOMMIT
        self._cast(PRECOMMIT, block_id, now, eff)
        self._evaluate(now, eff)

    def _cast(self, vtype: int, block_id: bytes, now: int, eff: list[Effect]) -> None:
        """Sign and count our own vote; the (round, type) guard is what makes this trustee
        honest whatever sequence of events reaches it."""
        if not self.is_voter or self.decision is not None:
            return
        key = (self.round, vtype)
        if key in self._my_votes:
            return
        assert self._sign is not None and self.my_pubkey is not None
        vote = self._sign(Vote(self.chain_id, vtype, self.height, self.round, block_id,
                               self.my_pubkey, now))
        self._my_votes[key] = vote
        eff.append(Broadcast(vote))
        self._ingest(vote, now, eff)

    def _decide(self, r: int, block_id: bytes, eff: list[Effect]) -> None:
        if self.decision is not None:
            return
        cert = CommitCertificate.from_votes(self.book.votes(r, PRECOMMIT, block_id))
        self.decision = Decide(self.height, r, block_id, cert)
        if block_id not in self._valid:
            eff.append(MissingBlock(block_id))
        eff.append(self.decision)


def secret_signer(secret: bytes) -> Signer:
    """The real signer: secp256k1 over the vote's domain-tagged signing bytes."""
    def sign(vote: Vote) -> Vote:
        return vote.signed(secret)
    return sign
