"""Consensus of luck (SPEC section 3): seeds, lots, proof of work, the throttle and draws.

Sans-I/O: the node and the discrete-event simulator drive the same :class:`Draw` and
:class:`Lottery` objects, handing in verified messages and the current *adjusted* time (an
``int`` of milliseconds) and acting on the returned :class:`Decision`. Nothing here reads a
clock, draws random numbers or touches the network.

Encodings (recorded in docs/protocol.md):

* ``seed = SHA-256(b"daoli/seed" || parent_id || cycle)``, ``cycle`` as 8-byte big-endian
  unsigned (cycles and nonces are CBOR uints < 2^64, so 8 bytes always suffice).
* ``pow_hash = SHA-256(b"daoli/pow" || seed || miner_pubkey || nonce)``, nonce 8-byte BE;
  the work is valid iff ``int.from_bytes(pow_hash, "big") < pow_target``.
* ``lot = SHA-256(b"daoli/lot" || seed || miner_pubkey)``; lots compare as 256-bit
  big-endian integers, which for equal-length byte strings is plain ``bytes`` ordering.
* Luck is ordered by ``(cycle, lot)``: an earlier draw beats a later one, smaller lot wins.

The nonce does not enter the lot, so hashing more buys no better lot: one lot per key per
draw. Proof of work only prices *keys* (Sybil entries), not luck.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from daoli.core.clock import (
    cycle_of,
    cycle_start,
    first_cycle_starting_at_or_after,
    median_int,
)
from daoli.core.crypto import PUBKEY_LEN, SIG_LEN
from daoli.core.params import ChainParams
from daoli.core.ticket import Ticket
from daoli.errors import ConfigError

SEED_TAG = b"daoli/seed"
POW_TAG = b"daoli/pow"
LOT_TAG = b"daoli/lot"

MAX_U64 = (1 << 64) - 1
MAX_DIFFICULTY = (1 << 63) - 1
"""Largest difficulty a retarget may reach: chain parameters are integers < 2^63."""
DEFAULT_MAX_TRIES = 1 << 24
FUTURE_CYCLES = 1
"""A ticket may be for at most this many cycles after the one the node's clock is in."""
MIN_KEPT = 64
KEPT_PER_DIAMETER = 4
"""A draw keeps at most ``max_kept(diameter) = max(MIN_KEPT, KEPT_PER_DIAMETER * diameter)``
tickets: the luckiest ones. Peers with fast hardware could otherwise grow a draw without limit
during a stall. The winner, the lineup (``diameter - 1``) and failover to the ``r + 1``
luckiest for rounds ``r < max_kept`` only ever read the luckiest ``max_kept`` tickets."""


def max_kept(diameter: int) -> int:
    """How many tickets one draw keeps, and how many a lottery keeps before a later draw."""
    return max(MIN_KEPT, KEPT_PER_DIAMETER * diameter)


# --------------------------------------------------------------------------- hashes


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def seed(parent_id: bytes, cycle: int) -> bytes:
    """The draw's seed: everyone who finalized ``parent_id`` can compute it."""
    return hashlib.sha256(SEED_TAG + parent_id + _u64(cycle)).digest()


def pow_hash(seed: bytes, miner_pubkey: bytes, nonce: int) -> bytes:
    return hashlib.sha256(POW_TAG + seed + miner_pubkey + _u64(nonce)).digest()


def _target_bytes(target: int) -> bytes | None:
    """``target`` as 32 BE bytes, or ``None`` when every hash is below it (difficulty 1)."""
    if target >= 1 << 256:
        return None
    return target.to_bytes(32, "big")


def pow_ok(seed: bytes, miner_pubkey: bytes, nonce: int, target: int) -> bool:
    return int.from_bytes(pow_hash(seed, miner_pubkey, nonce), "big") < target


def lot(seed: bytes, miner_pubkey: bytes) -> bytes:
    """The key's lot in this draw; smaller is luckier."""
    return hashlib.sha256(LOT_TAG + seed + miner_pubkey).digest()


def luck_key(ticket: Ticket) -> tuple[int, bytes]:
    """Total order of luck across draws of one height: ``(cycle, lot)``, smaller is luckier."""
    return ticket.cycle, lot(seed(ticket.parent_id, ticket.cycle), ticket.miner_pubkey)


def mine(seed: bytes, miner_pubkey: bytes, target: int, start_nonce: int = 0,
         max_tries: int = DEFAULT_MAX_TRIES) -> int | None:
    """First nonce in ``[start_nonce, start_nonce + max_tries)`` whose work is valid.

    ``None`` if none is found, so a caller can mine in slices and check its clock in between.
    The caller builds and signs the :class:`Ticket`.
    """
    tb = _target_bytes(target)
    if tb is None:
        return start_nonce if start_nonce <= MAX_U64 else None
    base = hashlib.sha256(POW_TAG + seed + miner_pubkey)
    end = min(start_nonce + max_tries, MAX_U64 + 1)
    for nonce in range(start_nonce, end):
        h = base.copy()
        h.update(nonce.to_bytes(8, "big"))
        if h.digest() < tb:
            return nonce
    return None


# --------------------------------------------------------------------------- throttle


def draw_window(cycle: int, params: ChainParams, genesis_time_ms: int) -> tuple[int, int, int]:
    """``(start, start + phi_ms, start + phi_ms + delta_ms)`` of a draw, in adjusted ms."""
    start = cycle_start(cycle, genesis_time_ms, params.cycle_ms)
    return start, start + params.phi_ms, start + params.phi_ms + params.delta_ms


def computation_lucky(time_ms: int, start: int, phi_ms: int) -> bool:
    return start <= time_ms <= start + phi_ms


def communication_lucky(time_ms: int, arrival_ms: int, start: int, phi_ms: int,
                        delta_ms: int) -> bool:
    """Arrived (adjusted time) by ``min(time_ms + delta, start + phi + delta)``, inclusive."""
    return arrival_ms <= min(time_ms + delta_ms, start + phi_ms + delta_ms)


def throttle(time_ms: int, arrival_ms: int, start: int, phi_ms: int,
             delta_ms: int) -> str | None:
    """Why a ticket fails the time throttle, or ``None`` if it is a time tie candidate."""
    if not computation_lucky(time_ms, start, phi_ms):
        return R_NOT_COMPUTATION_LUCKY
    if not communication_lucky(time_ms, arrival_ms, start, phi_ms, delta_ms):
        return R_LATE
    return None


# --------------------------------------------------------------------------- objective checks


def _check_ticket(ticket: Ticket, sd: bytes, target: int, *, chain_id: str, parent_id: bytes,
                  height: int, verify_sig: bool) -> str | None:
    if ticket.chain_id != chain_id:
        return R_WRONG_CHAIN
    if ticket.height != height:
        return R_WRONG_HEIGHT
    if ticket.parent_id != parent_id:
        return R_WRONG_PARENT
    pk = ticket.miner_pubkey
    if len(pk) != PUBKEY_LEN or pk[0] not in (2, 3) or len(ticket.sponsor_pubkey) != PUBKEY_LEN:
        return R_MALFORMED
    if not 0 <= ticket.nonce <= MAX_U64 or not 0 <= ticket.cycle <= MAX_U64:
        return R_MALFORMED
    if int.from_bytes(pow_hash(sd, pk, ticket.nonce), "big") >= target:
        return R_NO_WORK
    if verify_sig and (len(ticket.sig) != SIG_LEN or not ticket.verify_sig()):
        return R_BAD_SIG
    return None


def check_ticket(ticket: Ticket, *, chain_id: str, parent_id: bytes, height: int,
                 params: ChainParams, verify_sig: bool = True,
                 genesis_time_ms: int | None = None,
                 parent_cycle: int | None = None) -> str | None:
    """Objective validity of a ticket: structure, draw, proof of work and signature.

    ``params.pow_difficulty`` must be the difficulty in effect for ``height`` (after any
    retarget; pass ``params.replace(pow_difficulty=d)``). With ``genesis_time_ms`` the ticket's
    own time must also be computation-lucky (``start <= time_ms <= start + phi``); with
    ``parent_cycle`` its cycle must come after the parent's. Communication luck depends on
    arrival time and is judged by :class:`Draw`, not here. Returns the reason, or ``None``.
    """
    if parent_cycle is not None and ticket.cycle <= parent_cycle:
        return "cycle is not after the parent's"
    if genesis_time_ms is not None:
        start = cycle_start(ticket.cycle, genesis_time_ms, params.cycle_ms)
        if not computation_lucky(ticket.time_ms, start, params.phi_ms):
            return R_NOT_COMPUTATION_LUCKY
    sd = seed(parent_id, ticket.cycle)
    return _check_ticket(ticket, sd, params.pow_target, chain_id=chain_id, parent_id=parent_id,
                         height=height, verify_sig=verify_sig)


def check_payroll(winner: Ticket, payroll: Sequence[Ticket], params: ChainParams,
                  genesis_time_ms: int, *, chain_id: str | None = None,
                  verify_sig: bool = True) -> str | None:
    """Check a block's winner ticket and payroll from the block alone (SPEC 3, 5).

    Every ticket must be valid (work, signature, computation-lucky time) and of the winner's
    draw (chain, height, parent, cycle); the payroll holds at most ``diameter - 1`` tickets of
    distinct miners whose lots strictly increase after the winner's lot. A strictly increasing
    lot sequence also rules out a second ticket by the winner's or any repeated key, since one
    key has one lot per draw. Completeness (that no luckier loser was left out) cannot be
    judged objectively; the reward rules make leaving losers out pointless instead.
    ``chain_id`` defaults to the winner's (the caller compares it with the header's).
    """
    if len(payroll) > params.diameter - 1:
        return f"payroll has {len(payroll)} tickets, more than diameter - 1"
    cid = winner.chain_id if chain_id is None else chain_id
    sd = seed(winner.parent_id, winner.cycle)
    target = params.pow_target
    start, phi_end, _ = draw_window(winner.cycle, params, genesis_time_ms)
    prev_lot = b""
    seen: set[bytes] = set()
    for i, t in enumerate((winner, *payroll)):
        what = "winner ticket" if i == 0 else f"payroll ticket {i - 1}"
        if t.cycle != winner.cycle:
            return f"{what}: not of the winner's draw"
        if not start <= t.time_ms <= phi_end:
            return f"{what}: {R_NOT_COMPUTATION_LUCKY}"
        reason = _check_ticket(t, sd, target, chain_id=cid, parent_id=winner.parent_id,
                               height=winner.height, verify_sig=verify_sig)
        if reason is not None:
            return f"{what}: {reason}"
        if t.miner_pubkey in seen:
            return f"{what}: miner appears twice"
        seen.add(t.miner_pubkey)
        this_lot = lot(sd, t.miner_pubkey)
        if this_lot <= prev_lot:
            return f"{what}: lots are not strictly increasing"
        prev_lot = this_lot
    return None


# --------------------------------------------------------------------------- decisions

R_WRONG_CHAIN = "wrong chain"
R_WRONG_HEIGHT = "wrong height"
R_WRONG_PARENT = "wrong parent"
R_WRONG_DRAW = "wrong draw"
R_NOT_COMPUTATION_LUCKY = "not computation-lucky"
R_LATE = "not communication-lucky (late)"
R_DUPLICATE = "duplicate miner in this draw"
R_NO_WORK = "insufficient proof of work"
R_BAD_SIG = "bad signature"
R_NOT_OPEN = "draw not open on this node"
R_FUTURE = "cycle too far in the future"
R_NO_TIP = "no tip set"
R_MALFORMED = "malformed ticket"
R_OUTRANKED = "outranked by the luckiest tickets kept"
"""A valid time tie that cannot matter here: its draw already keeps ``max_kept`` luckier
tickets, or earlier draws of the height do. Never relayed (it could never be relayed anyway)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with an offered ticket. ``relay`` implies ``accepted``."""

    accepted: bool
    relay: bool
    reason: str | None = None


ACCEPT_RELAY = Decision(True, True)
ACCEPT_QUIET = Decision(True, False)
_DROPS = {r: Decision(False, False, r) for r in (
    R_WRONG_CHAIN, R_WRONG_HEIGHT, R_WRONG_PARENT, R_WRONG_DRAW, R_NOT_COMPUTATION_LUCKY,
    R_LATE, R_DUPLICATE, R_NO_WORK, R_BAD_SIG, R_NOT_OPEN, R_FUTURE, R_NO_TIP, R_MALFORMED,
    R_OUTRANKED)}


def _drop(reason: str) -> Decision:
    d = _DROPS.get(reason)
    return d if d is not None else Decision(False, False, reason)


# --------------------------------------------------------------------------- one draw


class Draw:
    """One draw, ``(height, parent, cycle)``, as seen by one node.

    Relaying is immediate: a ticket is relayed iff, when it arrives, it is among the
    ``diameter`` luckiest tickets this node holds for the draw (ties of arrival are broken by
    arrival order). With N tickets in random order of luck that is about
    ``diameter * (1 + ln(N / diameter))`` relays. Holding tickets to relay them in lot order
    would come closer to ``diameter`` but delays every ticket; it is left to a caller who
    wants it (it can hold, then offer in lot order).

    Memory is bounded: only the ``max_kept`` luckiest tickets (and their miners) are kept.
    When full, a valid ticket not luckier than the worst kept is dropped as ``R_OUTRANKED``
    and a luckier one evicts the worst kept. Eviction is monotone (the worst kept lot only
    falls), so an evicted miner offering again is outranked again, and the ``diameter``
    luckiest, hence every relay decision, are exactly those of an unbounded draw.
    ``len(draw)`` (and ``ties``) counts every valid time tie judged, outranked ones included,
    i.e. what an unbounded draw would hold (the simulator's time-tie metrics read it; a miner
    outranked twice is counted twice, as it is not remembered); ``kept`` is how many are held.
    """

    __slots__ = ("_by_miner", "_chain_id", "_kept", "_lot_base", "_pow_base", "_ranked",
                 "_target_bytes", "cycle", "deadline", "delta_ms", "diameter", "height",
                 "max_kept", "parent_id", "phi_end", "seed", "start", "ties")

    def __init__(self, *, chain_id: str, height: int, parent_id: bytes, cycle: int,
                 params: ChainParams, genesis_time_ms: int) -> None:
        self._chain_id = chain_id
        self.height = height
        self.parent_id = parent_id
        self.cycle = cycle
        self.seed = seed(parent_id, cycle)
        self.start, self.phi_end, self.deadline = draw_window(cycle, params, genesis_time_ms)
        self.delta_ms = params.delta_ms
        self.diameter = params.diameter
        self._target_bytes = _target_bytes(params.pow_target)
        self._pow_base = hashlib.sha256(POW_TAG + self.seed)
        self._lot_base = hashlib.sha256(LOT_TAG + self.seed)
        self.max_kept = max_kept(params.diameter)
        self.ties = 0
        self._by_miner: dict[bytes, tuple[bytes, Ticket]] = {}
        self._kept: list[tuple[bytes, bytes]] = []
        """``(lot, miner)`` of every kept ticket, luckiest first."""
        self._ranked: list[tuple[bytes, Ticket]] | None = None

    def lot_of(self, miner_pubkey: bytes) -> bytes:
        h = self._lot_base.copy()
        h.update(miner_pubkey)
        return h.digest()

    def pow_ok(self, miner_pubkey: bytes, nonce: int) -> bool:
        tb = self._target_bytes
        if tb is None:
            return True
        h = self._pow_base.copy()
        h.update(miner_pubkey)
        h.update(nonce.to_bytes(8, "big"))
        return h.digest() < tb

    def offer(self, ticket: Ticket, arrival_ms: int, verified: bool = False,
              lot: bytes | None = None,
              sig_ok: Callable[[Ticket], bool] | None = None) -> Decision:
        """Judge a ticket that reached this node at adjusted time ``arrival_ms``.

        ``verified=True`` says the caller already checked this ticket's work and signature
        (e.g. with :func:`check_ticket`); both are then skipped, and a ``lot`` the caller
        computed for it is trusted. Routing, throttle and duplicate rules always apply.
        ``sig_ok`` replaces ``ticket.verify_sig`` at the same step (a node's verifier that
        remembers the verdicts its gossip validator reached). Dropped tickets are never
        relayed.
        """
        if ticket.cycle != self.cycle:
            return _drop(R_WRONG_DRAW)
        if ticket.height != self.height:
            return _drop(R_WRONG_HEIGHT)
        if ticket.parent_id != self.parent_id:
            return _drop(R_WRONG_PARENT)
        if ticket.chain_id != self._chain_id:
            return _drop(R_WRONG_CHAIN)
        t = ticket.time_ms
        if t < self.start or t > self.phi_end:
            return _drop(R_NOT_COMPUTATION_LUCKY)
        # t <= phi_end makes t + delta <= deadline, so the min() of SPEC 3 is t + delta here.
        if arrival_ms > t + self.delta_ms:
            return _drop(R_LATE)
        pk = ticket.miner_pubkey
        if pk in self._by_miner:
            # Checked before the signature, but only ever against a ticket that was fully
            # checked, so a forgery cannot block the real miner.
            return _drop(R_DUPLICATE)
        if not verified:
            if len(pk) != PUBKEY_LEN or not 0 <= ticket.nonce <= MAX_U64:
                return _drop(R_MALFORMED)
            if not self.pow_ok(pk, ticket.nonce):
                return _drop(R_NO_WORK)
            if not (ticket.verify_sig() if sig_ok is None else sig_ok(ticket)):
                return _drop(R_BAD_SIG)
            lot = None
        if lot is None:
            lot = self.lot_of(pk)
        self.ties += 1
        kept = self._kept
        if len(kept) >= self.max_kept:
            if lot >= kept[-1][0]:
                return _drop(R_OUTRANKED)
            del self._by_miner[kept.pop()[1]]
        self._by_miner[pk] = (lot, ticket)
        self._ranked = None
        entry = (lot, pk)
        pos = bisect_left(kept, entry)
        kept.insert(pos, entry)
        # Among the ``diameter`` luckiest held: the same test as against an unbounded draw,
        # since max_kept >= diameter and only tickets outside the luckiest max_kept are gone.
        return ACCEPT_RELAY if pos < self.diameter else ACCEPT_QUIET

    def __len__(self) -> int:
        return self.ties

    @property
    def kept(self) -> int:
        """Tickets held: at most ``max_kept``."""
        return len(self._kept)

    def closed(self, adjusted_now_ms: int) -> bool:
        """True once ``start + phi + delta`` has passed: no further ticket can be a tie."""
        return adjusted_now_ms > self.deadline

    def computing(self, adjusted_now_ms: int) -> bool:
        """True while a freshly mined ticket would still be computation-lucky."""
        return self.start <= adjusted_now_ms <= self.phi_end

    def _ranking(self) -> list[tuple[bytes, Ticket]]:
        if self._ranked is None:
            by_miner = self._by_miner
            self._ranked = [(lt, by_miner[pk][1]) for lt, pk in self._kept]
        return self._ranked

    def time_ties(self) -> list[Ticket]:
        """Kept tickets (at most ``max_kept``), luckiest first."""
        return [t for _, t in self._ranking()]

    def ranked(self) -> list[tuple[bytes, Ticket]]:
        """``(lot, ticket)`` pairs, luckiest first (a fresh list)."""
        return list(self._ranking())

    def winner(self) -> Ticket | None:
        if not self._kept:
            return None
        return self._by_miner[self._kept[0][1]][1]

    def lot_of_ticket(self, ticket: Ticket) -> bytes:
        held = self._by_miner.get(ticket.miner_pubkey)
        return held[0] if held is not None else self.lot_of(ticket.miner_pubkey)

    def lineup(self, max_len: int | None = None, after: Ticket | None = None) -> list[Ticket]:
        """The time ties after ``after`` (default: the winner), in lot order: a payroll.

        At most ``diameter - 1`` (and at most ``max_len``) tickets. Passing a failover winner
        as ``after`` gives that winner's payroll.
        """
        limit = self.diameter - 1 if max_len is None else min(max_len, self.diameter - 1)
        if limit <= 0 or not self._by_miner:
            return []
        ranked = self._ranking()
        if after is None:
            return [t for _, t in ranked[1:1 + limit]]
        after_lot = self.lot_of_ticket(after)
        out: list[Ticket] = []
        for lt, t in ranked:
            if lt > after_lot:
                out.append(t)
                if len(out) == limit:
                    break
        return out


# --------------------------------------------------------------------------- per-node lottery


class Lottery:
    """All draws for the next height on this node's finalized tip.

    With tip P (height h-1) finalized at adjusted time F, the draws for height h are the
    cycles ``c > P.cycle`` with ``cycle_start(c) >= F`` (SPEC 3: cycles that *start after* the
    node finalized P; a cycle starting at the very millisecond counts). Tickets for an
    earlier cycle are dropped: that draw was already running when this node learnt P. Tickets
    for a cycle more than ``FUTURE_CYCLES`` (1) after the one containing their arrival are
    dropped as from the future; tickets for the next cycle are kept (their time must still be
    inside that cycle's window, so they can only come from clocks that run a little ahead).

    Draws are created on demand and kept until the tip moves, so a height without a
    finalized block keeps its time ties across rounds; :meth:`prune` forgets closed empty ones
    (and creating a draw from a peer's ticket prunes first, so peers cannot pile up empty
    draws). For the genesis as tip use ``tip_cycle=-1`` and ``finalized_at_ms=genesis_time_ms``.

    Memory is bounded during a stall too: luck is ordered by ``(cycle, lot)``, so once the
    draws before cycle ``c`` hold ``max_kept`` tickets together, no ticket of ``c`` or later
    can be among the ``max_kept`` luckiest of the height (failover reads at most that many).
    Such a draw is *out of reach*: its tickets are dropped as ``R_OUTRANKED`` and it is
    forgotten once earlier draws fill. Hence at most ``2 * max_kept - 1`` tickets in at most
    ``max_kept`` non-empty draws per height.
    """

    __slots__ = ("_draws", "_ordered", "chain_id", "first_cycle", "genesis_time_ms",
                 "height", "max_kept", "params", "parent_id", "tip_cycle")

    def __init__(self, *, chain_id: str, params: ChainParams, genesis_time_ms: int) -> None:
        self.chain_id = chain_id
        self.params = params
        self.max_kept = max_kept(params.diameter)
        self.genesis_time_ms = genesis_time_ms
        self.height: int | None = None
        self.parent_id = b""
        self.tip_cycle = -1
        self.first_cycle = 0
        self._draws: dict[int, Draw] = {}
        self._ordered: list[int] | None = None

    def set_tip(self, tip_height: int, tip_id: bytes, tip_cycle: int, finalized_at_ms: int,
                params: ChainParams | None = None) -> None:
        """Move to a new finalized tip; all draws of the previous height are dropped.

        ``params`` replaces the parameters (e.g. after a difficulty retarget).
        """
        if params is not None:
            self.params = params
            self.max_kept = max_kept(params.diameter)
        self.height = tip_height + 1
        self.parent_id = tip_id
        self.tip_cycle = tip_cycle
        self.first_cycle = max(tip_cycle + 1, first_cycle_starting_at_or_after(
            finalized_at_ms, self.genesis_time_ms, self.params.cycle_ms))
        self._draws = {}
        self._ordered = None

    def draw(self, cycle: int) -> Draw | None:
        """The draw for ``cycle`` (created if needed), or ``None`` if it is not a draw here."""
        if self.height is None or cycle < self.first_cycle:
            return None
        d = self._draws.get(cycle)
        if d is None:
            d = Draw(chain_id=self.chain_id, height=self.height, parent_id=self.parent_id,
                     cycle=cycle, params=self.params, genesis_time_ms=self.genesis_time_ms)
            self._draws[cycle] = d
            self._ordered = None
        return d

    def mining_draw(self, adjusted_now_ms: int) -> Draw | None:
        """The draw a miner should work on now: the current cycle, if still computing."""
        c = cycle_of(adjusted_now_ms, self.genesis_time_ms, self.params.cycle_ms)
        if c < self.first_cycle:
            return None
        d = self.draw(c)
        return d if d is not None and d.computing(adjusted_now_ms) else None

    def offer(self, ticket: Ticket, arrival_ms: int, verified: bool = False,
              lot: bytes | None = None,
              sig_ok: Callable[[Ticket], bool] | None = None) -> Decision:
        """Route a ticket to its draw and judge it there (see :meth:`Draw.offer`)."""
        if self.height is None:
            return _drop(R_NO_TIP)
        if ticket.chain_id != self.chain_id:
            return _drop(R_WRONG_CHAIN)
        if ticket.height != self.height:
            return _drop(R_WRONG_HEIGHT)
        if ticket.parent_id != self.parent_id:
            return _drop(R_WRONG_PARENT)
        c = ticket.cycle
        d = self._draws.get(c)
        if d is None:
            if c < self.first_cycle:
                return _drop(R_NOT_OPEN)
            p = self.params
            g = self.genesis_time_ms
            if c > cycle_of(arrival_ms, g, p.cycle_ms) + FUTURE_CYCLES:
                return _drop(R_FUTURE)
            if arrival_ms > cycle_start(c, g, p.cycle_ms) + p.phi_ms + p.delta_ms:
                return _drop(R_LATE)  # do not create a draw that can never hold a ticket
            if self._out_of_reach(c):
                return _drop(R_OUTRANKED)
            self.prune(arrival_ms)
            d = self.draw(c)
            assert d is not None
        elif len(self._draws) > 1 and self._out_of_reach(c):
            return _drop(R_OUTRANKED)
        decision = d.offer(ticket, arrival_ms, verified, lot, sig_ok)
        if decision.accepted and len(self._draws) > 1:
            self._drop_out_of_reach()
        return decision

    def _out_of_reach(self, cycle: int) -> bool:
        """Do the draws before ``cycle`` already hold ``max_kept`` tickets together?"""
        held = 0
        for d in self.draws():
            if d.cycle >= cycle:
                return False
            held += d.kept
            if held >= self.max_kept:
                return True
        return False

    def _drop_out_of_reach(self) -> None:
        held = 0
        ordered = self.draws()
        for i, d in enumerate(ordered):
            if held >= self.max_kept:
                for late in ordered[i:]:
                    del self._draws[late.cycle]
                self._ordered = None
                return
            held += d.kept

    def draws(self) -> list[Draw]:
        """Existing draws, earliest cycle first."""
        if self._ordered is None:
            self._ordered = sorted(self._draws)
        return [self._draws[c] for c in self._ordered]

    def luckiest(self, k: int = 1) -> list[Ticket]:
        """The ``k`` luckiest time ties across this height's draws, by ``(cycle, lot)``.

        Round r of I-BFT asks for ``k = r + 1``. Open draws count too: the caller decides when
        to ask (after the throttle of the draw it cares about has closed).
        """
        out: list[Ticket] = []
        for d in self.draws():
            if len(out) >= k:
                break
            if d.kept:
                out.extend(d.time_ties()[:k - len(out)])
        return out

    def winner(self) -> Ticket | None:
        for d in self.draws():
            w = d.winner()
            if w is not None:
                return w
        return None

    def lineup(self, winner: Ticket, max_len: int | None = None) -> list[Ticket]:
        """The payroll for ``winner``: later time ties of the same draw only, in lot order."""
        if winner.height != self.height or winner.parent_id != self.parent_id:
            return []
        d = self._draws.get(winner.cycle)
        return [] if d is None else d.lineup(max_len, after=winner)

    def prune(self, adjusted_now_ms: int) -> None:
        """Forget closed draws that hold no ticket (they can never matter again)."""
        dead = [c for c, d in self._draws.items() if not d.kept and d.closed(adjusted_now_ms)]
        for c in dead:
            del self._draws[c]
        if dead:
            self._ordered = None


# --------------------------------------------------------------------------- retargeting


def estimate_time_ties(k: int, kth_lot: bytes, diameter: int) -> int:
    """How many time ties a draw had, from a block showing its ``k`` luckiest lots.

    When ``k < diameter`` the block shows every tie (a full payroll would be longer), so ``k``
    *is* the count. Otherwise the payroll is capped and the count is estimated from the k-th
    smallest lot: for N uniform lots its median is about ``(k - 1/3) / N`` of 2^256, hence
    ``N ~ (3k - 1) * 2^256 / (3 * (lot + 1))``, never less than ``k``. This is median-unbiased,
    which suits the median the retarget takes over an epoch; counting ``payroll + 1`` alone
    could never report more than ``diameter`` and so could never raise the difficulty.
    """
    if k < diameter:
        return k
    lot_int = int.from_bytes(kth_lot, "big")
    return max(k, ((3 * k - 1) << 256) // (3 * (lot_int + 1)))


def time_ties_estimate(winner: Ticket, payroll: Sequence[Ticket], diameter: int) -> int:
    """:func:`estimate_time_ties` for a block's winner and payroll (in lot order)."""
    last = payroll[-1] if payroll else winner
    return estimate_time_ties(1 + len(payroll),
                              lot(seed(last.parent_id, last.cycle), last.miner_pubkey),
                              diameter)


def retarget(old_difficulty: int, median_time_ties: int, diameter: int,
             min_difficulty: int = 1) -> int:
    """Next ``pow_difficulty`` so the median number of time ties tends to ``diameter``.

    Once work is the bottleneck, ties are proportional to ``1 / difficulty``, so the new
    difficulty is ``old * median_time_ties // diameter`` (floor), clamped to
    ``[max(min_difficulty, old // 2), min(2 * old, MAX_DIFFICULTY)]``: at most x0.5 to x2 per
    retarget. Pure integer math, so every node computes the same value.
    """
    if old_difficulty < 1 or diameter < 1 or median_time_ties < 0 or min_difficulty < 1:
        raise ConfigError("retarget: difficulty, diameter >= 1 and time ties >= 0 required")
    lo = max(min_difficulty, old_difficulty // 2, 1)
    hi = max(min(2 * old_difficulty, MAX_DIFFICULTY), lo)
    new = old_difficulty * median_time_ties // diameter
    return min(max(new, lo), hi)


def epoch_retarget(old_difficulty: int, blocks: Iterable[tuple[Ticket, Sequence[Ticket]]],
                   diameter: int, min_difficulty: int = 1) -> int:
    """Retarget from an epoch's blocks, each given as ``(winner_ticket, payroll)``.

    The measure is the median of :func:`time_ties_estimate` over the epoch's blocks; an epoch
    without blocks keeps the difficulty.
    """
    estimates = [time_ties_estimate(w, p, diameter) for w, p in blocks]
    if not estimates:
        return old_difficulty
    return retarget(old_difficulty, median_int(estimates), diameter, min_difficulty)
