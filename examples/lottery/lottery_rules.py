"""The rules of ``daoli-lottery/v1``: pure functions from decoded blocks to a verified draw.

Everything a verifier decides lives here, and nothing here does I/O, reads a clock or draws a
random number, so two people who read the same blocks compute the same winner, and the tests
can check the rules on hand-made blocks. ``lottery.py`` only fetches blocks and prints.
README.md ("The rules") is the specification; this module is its reference implementation.

In short:

* The **announcement** is a transfer whose memo is
  ``daoli-lottery/v1 announce end=E draw=D payby=P stake=S prize=pot|N name=NAME``; its
  sender is the organizer and its transaction id is the lottery id.
* An **entry** is a transfer to the organizer of at least ``S`` li whose memo is
  ``daoli-lottery/v1 enter <lottery id hex>``, final after the announcement and at a height
  ``<= E``, sent by anyone but the organizer. Entries are ordered by (height, index in block).
* The **draw** hashes the lottery id, ``D`` and the *lot* of block ``D``'s winner ticket, and
  picks ``uniform_index(n, ...)`` by rejection sampling (no modulo bias).
* A **payout** is a transfer from the organizer to the winner with memo
  ``daoli-lottery/v1 payout <lottery id hex>``, final at a height in ``D+1..P``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import count, pairwise

from daoli.core.address import address_bytes_of
from daoli.core.block import Block
from daoli.core.encoding import MAX_AMOUNT, MAX_U64
from daoli.core.lottery import lot, seed
from daoli.core.tx import Transaction, Transfer
from daoli.errors import ConfigError, DecodeError, ValidationError

PROTOCOL = b"daoli-lottery/v1"
DRAW_TAG = b"daoli-lottery/v1/draw"
MIN_DRAW_GAP = 2
"""``D >= E + 2``: the parent of block D, whose id seeds D's draw, is built after entries
close, so no proposer can both choose the last entries and steer the randomness."""
MAX_NAME = 64
ID_LEN = 32
ADDRESS_LEN = 20

_UINT = rb"(0|[1-9][0-9]{0,19})"
_ANNOUNCE_RE = re.compile(
    rb"daoli-lottery/v1 announce end=" + _UINT + rb" draw=" + _UINT + rb" payby=" + _UINT
    + rb" stake=" + _UINT + rb" prize=(pot|" + _UINT[1:-1] + rb") name=([A-Za-z0-9._-]{1,64})")
_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ENTER = PROTOCOL + b" enter "
_PAYOUT = PROTOCOL + b" payout "


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


# --- the announcement ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """What an announcement fixes, before anyone enters.

    ``prize`` is a fixed amount in li, or None for "the pot": the sum of the counted entries'
    amounts. The constructor checks every rule, so a ``Rules`` is always one an honest
    verifier accepts, and ``parse_rules(r.memo()) == r``.
    """

    name: str
    end: int
    draw: int
    payby: int
    stake: int = 0
    prize: int | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        for what, value, top in (("end", self.end, MAX_U64), ("draw", self.draw, MAX_U64),
                                 ("payby", self.payby, MAX_U64),
                                 ("stake", self.stake, MAX_AMOUNT)):
            if type(value) is not int or not 0 <= value <= top:
                raise ConfigError(f"{what} must be an integer from 0 to {top}")
        if self.prize is not None and (type(self.prize) is not int
                                       or not 1 <= self.prize <= MAX_AMOUNT):
            raise ConfigError(f"a fixed prize must be an integer from 1 to {MAX_AMOUNT} li")
        if self.draw < self.end + MIN_DRAW_GAP:
            raise ConfigError(f"the draw block ({self.draw}) must be at least {MIN_DRAW_GAP} "
                              f"blocks after the entry deadline ({self.end})")
        if self.payby <= self.draw:
            raise ConfigError(f"the payout deadline ({self.payby}) must come after the draw "
                              f"block ({self.draw})")

    @property
    def prize_rule(self) -> str:
        return "pot" if self.prize is None else str(self.prize)

    def memo(self) -> bytes:
        """The canonical memo: the only byte string that parses to these rules."""
        return (b"%s announce end=%d draw=%d payby=%d stake=%d prize=%s name=%s" % (
            PROTOCOL, self.end, self.draw, self.payby, self.stake,
            self.prize_rule.encode(), self.name.encode()))


def check_name(name: str) -> str:
    """A lottery name: 1-64 of ``A-Z a-z 0-9 . _ -`` (no spaces, so the memo stays parseable
    and the name prints safely anywhere)."""
    if type(name) is not str or not _NAME_RE.fullmatch(name):
        raise ConfigError(f"a lottery name is 1-{MAX_NAME} characters from A-Z a-z 0-9 . _ -")
    return name


def parse_rules(memo: bytes) -> Rules:
    """The rules in an announcement memo; DecodeError for anything but a canonical one.

    The grammar admits one spelling per set of rules (single spaces, fixed field order,
    decimal integers without leading zeros), so parsing and ``Rules.memo`` are inverses.
    """
    if not isinstance(memo, bytes):
        raise DecodeError("an announcement memo is bytes")
    m = _ANNOUNCE_RE.fullmatch(memo)
    if m is None:
        raise DecodeError("the memo is not a daoli-lottery/v1 announcement")
    end, draw, payby, stake, prize, name = m.groups()
    try:
        return Rules(name.decode(), int(end), int(draw), int(payby), int(stake),
                     None if prize == b"pot" else int(prize))
    except ConfigError as exc:
        raise DecodeError(f"the announcement breaks a rule: {exc}") from None


# --- memos of entries and payouts ---------------------------------------------------------------


def entry_memo(lottery_id: bytes) -> bytes:
    return _ENTER + _check_id(lottery_id).hex().encode()


def payout_memo(lottery_id: bytes) -> bytes:
    return _PAYOUT + _check_id(lottery_id).hex().encode()


def _check_id(lottery_id: bytes) -> bytes:
    if not isinstance(lottery_id, bytes) or len(lottery_id) != ID_LEN:
        raise ConfigError(f"a lottery id is {ID_LEN} bytes (64 hex characters)")
    return lottery_id


def parse_lottery_id(text: str) -> bytes:
    """A lottery id typed by a person: 64 hex characters, either case."""
    t = text.strip() if isinstance(text, str) else ""
    if len(t) != 2 * ID_LEN or any(c not in "0123456789abcdefABCDEF" for c in t):
        raise ConfigError("a lottery id is 64 hex characters (the announcement's transaction "
                          "id)")
    return bytes.fromhex(t)


# --- where things are on the chain --------------------------------------------------------------


@dataclass(frozen=True)
class Lottery:
    """An announcement found on the chain: its id, organizer, position and rules."""

    id: bytes
    organizer: bytes
    """The announcement's sender address (20 bytes): entries pay it, payouts come from it."""
    height: int
    index: int
    rules: Rules


def sender(tx: Transaction) -> bytes:
    return address_bytes_of(tx.sender_pubkey)


def lottery_in_block(block: Block, lottery_id: bytes) -> Lottery:
    """The lottery announced by transaction ``lottery_id`` of ``block``.

    DecodeError if the block does not hold that transaction, or it is no valid announcement:
    the verifier then reports the id as unknown (bad input), not a failed draw.
    """
    for index, tx in enumerate(block.payload):
        if tx.id == lottery_id:
            if not isinstance(tx.body, Transfer):
                raise DecodeError(f"transaction {lottery_id.hex()} is a {tx.body.NAME}, not "
                                  "a lottery announcement (a transfer)")
            rules = parse_rules(tx.body.memo)
            return Lottery(lottery_id, sender(tx), block.height, index, rules)
    raise DecodeError(f"block {block.height} does not hold transaction {lottery_id.hex()}")


@dataclass(frozen=True)
class Entry:
    """One ticket of the lottery: an entry transaction that counts."""

    height: int
    index: int
    tx_id: bytes
    entrant: bytes
    """The entry's sender address (20 bytes): who wins if this entry is drawn."""
    amount: int

    @property
    def key(self) -> tuple[int, int, bytes]:
        """Canonical order: (height, index in block); the id only breaks impossible ties."""
        return self.height, self.index, self.tx_id


@dataclass(frozen=True)
class Ignored:
    """A transaction that names the lottery in an entry memo but does not count, and why."""

    height: int
    index: int
    tx_id: bytes
    entrant: bytes
    reason: str


def entry_rejection(lottery: Lottery, height: int, index: int, tx: Transaction) -> str | None:
    """None if this entry transaction (its memo already names the lottery) counts, else why
    not. The checks run in a fixed order, so every verifier gives the same reason."""
    body = tx.body
    assert isinstance(body, Transfer)
    rules = lottery.rules
    if (height, index) <= (lottery.height, lottery.index):
        return "final before the announcement"
    if height > rules.end:
        return f"final after the entry deadline (height {rules.end})"
    if body.to != lottery.organizer:
        return "not paid to the organizer"
    if body.amount < rules.stake:
        return f"pays {body.amount} li, less than the stake of {rules.stake} li"
    if sender(tx) == lottery.organizer:
        return "sent by the organizer, who cannot enter its own lottery"
    return None


def scan_entries(lottery: Lottery, blocks: Iterable[Block]
                 ) -> tuple[tuple[Entry, ...], tuple[Ignored, ...]]:
    """The counted entries in canonical order, and the ignored ones (in chain order).

    ``blocks`` may reach beyond the entry window: an entry outside it is reported as ignored.
    """
    memo = entry_memo(lottery.id)
    entries: list[Entry] = []
    ignored: list[Ignored] = []
    for block in blocks:
        for index, tx in enumerate(block.payload):
            if not isinstance(tx.body, Transfer) or tx.body.memo != memo:
                continue
            reason = entry_rejection(lottery, block.height, index, tx)
            if reason is None:
                entries.append(Entry(block.height, index, tx.id, sender(tx), tx.body.amount))
            else:
                ignored.append(Ignored(block.height, index, tx.id, sender(tx), reason))
    return order_entries(entries), tuple(ignored)


def order_entries(entries: Iterable[Entry]) -> tuple[Entry, ...]:
    return tuple(sorted(entries, key=lambda e: e.key))


# --- the draw -----------------------------------------------------------------------------------


def draw_lot(block: Block) -> bytes:
    """The lot of ``block``'s winner ticket: ``SHA-256("daoli/lot" || seed || miner_pubkey)``
    with ``seed = SHA-256("daoli/seed" || parent_id || u64(cycle))`` (SPEC section 3).

    Recomputed from the ticket, not read from anywhere. Neither the block's content nor the
    ticket's nonce or time enter it, so neither the proposer of this block nor its winning
    miner can grind it; only the parent's id (and the cycle) can move it.
    """
    ticket = block.header.winner_ticket
    return lot(seed(ticket.parent_id, ticket.cycle), ticket.miner_pubkey)


def draw_words(lottery_id: bytes, draw_height: int, lot_: bytes, n: int) -> Iterator[int]:
    """The words the draw reads: ``SHA-256(DRAW_TAG || id || u64(D) || lot || u64(n) || u64(i))``
    as 256-bit big-endian integers, for i = 0, 1, 2...; the first is almost surely the one."""
    prefix = DRAW_TAG + _check_id(lottery_id) + _u64(draw_height) + lot_ + _u64(n)
    for i in count():
        yield int.from_bytes(hashlib.sha256(prefix + _u64(i)).digest(), "big")


def uniform_index(n: int, words: Iterable[int], bits: int = 256) -> int:
    """An index in ``range(n)`` from uniform ``bits``-bit words, exactly uniform.

    Rejection sampling: a word at or above ``limit = 2**bits - 2**bits % n`` is skipped, so
    every index is hit by exactly ``limit // n`` words of the accepted range. With 256-bit
    words a rejection has probability below ``n / 2**256``: it never happens in practice, but
    the result is unbiased by construction, not by approximation.
    """
    if type(n) is not int or n < 1:
        raise ValueError("uniform_index needs n >= 1")
    space = 1 << bits
    limit = space - space % n
    for word in words:
        if not 0 <= word < space:
            raise ValueError(f"a word is not a {bits}-bit unsigned integer")
        if word < limit:
            return word % n
    raise ValueError("the words ran out before one was accepted")


def winner_index(lottery_id: bytes, draw_height: int, lot_: bytes, n: int) -> int | None:
    """The index of the winning entry among ``n`` in canonical order; None without entries."""
    if n == 0:
        return None
    return uniform_index(n, draw_words(lottery_id, draw_height, lot_, n))


# --- the whole verification ---------------------------------------------------------------------


@dataclass(frozen=True)
class Payout:
    height: int
    index: int
    tx_id: bytes
    amount: int


@dataclass(frozen=True)
class Result:
    """A verified draw: everything the verifier prints."""

    lottery: Lottery
    entries: tuple[Entry, ...]
    ignored: tuple[Ignored, ...]
    draw_block_id: bytes
    draw_miner: bytes
    """The public key of block D's winning miner."""
    draw_cycle: int
    lot: bytes
    index: int | None
    winner: Entry | None
    prize: int
    """In li: the fixed prize, or the pot (the sum of the counted entries' amounts)."""
    payouts: tuple[Payout, ...]
    """The payout transfers to the winner found so far, in chain order."""

    @property
    def paid(self) -> int:
        return sum(p.amount for p in self.payouts)


def check_segment(blocks: Sequence[Block]) -> None:
    """The blocks are consecutive heights, each the child of the one before (one chain)."""
    for prev, block in pairwise(blocks):
        if block.height != prev.height + 1:
            raise ValidationError(f"block {prev.height} is followed by block {block.height}, "
                                  f"not {prev.height + 1}")
        if block.header.parent_id != prev.id:
            raise ValidationError(f"block {block.height} is not a child of block {prev.height}")


def find_payouts(lottery: Lottery, winner: bytes, blocks: Iterable[Block]) -> tuple[Payout, ...]:
    """Transfers from the organizer to ``winner`` with the payout memo, final in D+1..P."""
    memo = payout_memo(lottery.id)
    out = []
    for block in blocks:
        if not lottery.rules.draw < block.height <= lottery.rules.payby:
            continue
        for index, tx in enumerate(block.payload):
            body = tx.body
            if isinstance(body, Transfer) and body.memo == memo and body.to == winner \
                    and sender(tx) == lottery.organizer:
                out.append(Payout(block.height, index, tx.id, body.amount))
    return tuple(out)


def decide(lottery: Lottery, blocks: Sequence[Block]) -> Result:
    """The draw of ``lottery`` from the chain segment ``blocks``.

    ``blocks`` must run from the announcement's height through block D at least (more is fine:
    later blocks add payouts, up to P). ValidationError if they do not, or do not link up.
    """
    rules = lottery.rules
    if not blocks or blocks[0].height != lottery.height or blocks[-1].height < rules.draw:
        raise ValidationError(f"the draw needs blocks {lottery.height} to {rules.draw}")
    check_segment(blocks)
    draw_block = blocks[rules.draw - lottery.height]
    entries, ignored = scan_entries(lottery, blocks)
    lot_ = draw_lot(draw_block)
    index = winner_index(lottery.id, rules.draw, lot_, len(entries))
    winner = None if index is None else entries[index]
    prize = rules.prize if rules.prize is not None else sum(e.amount for e in entries)
    payouts = () if winner is None else find_payouts(lottery, winner.entrant, blocks)
    ticket = draw_block.header.winner_ticket
    return Result(lottery, entries, ignored, draw_block.id, ticket.miner_pubkey, ticket.cycle,
                  lot_, index, winner, prize, payouts)
