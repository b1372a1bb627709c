"""Ledger state records: the values stored under the state's keys.

Each record is a canonical CBOR array whose first item is its type (16 upward; 1-15 are
wire objects). Records are decoded strictly like wire objects, because a state snapshot
fetched from a peer is untrusted input too, and one record must have exactly one encoding
or two nodes with the same ledger would disagree on the state root.

Types: 16 Account, 17 Trustee, 18 Tip, 19 TrusteeList, 20 Supply, 21 PendingReward,
22 BlockIdRecord, 23 PowState. The market (SPEC 6) uses 24 Offer, 25 Order, 26 Lease,
27 OfferBook, 28 OrderBook, 29 MarketDue, 30 MarketIndex; 31 stays reserved.
32-45 are wire messages (``wire.py``), so the lineup records (SPEC 5 "lineup duty") that came
after them take the next free numbers: 46 LineupEntry, 47 LineupBucket, 48 LineupHorizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any, ClassVar

from daoli.core import encoding as enc
from daoli.core.crypto import PUBKEY_LEN
from daoli.core.encoding import MAX_AMOUNT
from daoli.core.tx import MAX_ENDPOINT, MAX_MULTIADDR
from daoli.errors import DecodeError

# --- state keys ---------------------------------------------------------------------------

PREFIX_ACCOUNT = b"A"
PREFIX_TRUSTEE = b"T"
PREFIX_GLOBAL = b"G"
PREFIX_OFFER = b"O"
"""Market: live resource offers, by offer id."""
PREFIX_ORDER = b"R"
"""Market: open (unmatched) resource orders, by order id."""
PREFIX_LEASE = b"L"
"""Market: active leases, by lease id (= the id of its order)."""
PREFIX_LINEUP = b"P"
"""Lined-up payroll miners, by public key (SPEC 5 "lineup duty")."""
PREFIX_LINEUP_EXPIRY = b"Q"
"""The lineup's expiry index: one bucket per ``until`` height, 8 bytes big-endian, so key
order is expiry order and a block prunes exactly one bucket."""
PREFIX_UNCOMMITTED = b"N"
"""Entries stored with the state but left out of the state root (see ``state.py``)."""

KEY_TIP = PREFIX_GLOBAL + b"tip"
KEY_ACTIVE = PREFIX_GLOBAL + b"active"
KEY_PREV_ACTIVE = PREFIX_GLOBAL + b"prev_active"
KEY_TRUSTEE_INDEX = PREFIX_GLOBAL + b"trustees"
KEY_SUPPLY = PREFIX_GLOBAL + b"supply"
KEY_PENDING = PREFIX_GLOBAL + b"pending_trustee_reward"
KEY_POW = PREFIX_GLOBAL + b"pow"
KEY_LINEUP_HORIZON = PREFIX_GLOBAL + b"lineup"
KEY_TIP_ID = PREFIX_UNCOMMITTED + b"tip_id"


def account_key(address: bytes) -> bytes:
    return PREFIX_ACCOUNT + address


def trustee_key(pubkey: bytes) -> bytes:
    return PREFIX_TRUSTEE + pubkey


def lineup_key(miner_pubkey: bytes) -> bytes:
    return PREFIX_LINEUP + miner_pubkey


def lineup_expiry_key(until: int) -> bytes:
    """Big-endian, so that a store's key order over ``Q`` is the order of expiry."""
    return PREFIX_LINEUP_EXPIRY + until.to_bytes(8, "big")


# --- records ----------------------------------------------------------------------------


class Record:
    """Shared encode/decode plumbing; subclasses define TYPE, to_fields and from_fields."""

    TYPE: ClassVar[int]
    NAME: ClassVar[str]

    def to_fields(self) -> list[Any]:
        raise NotImplementedError

    @classmethod
    def from_fields(cls, f: list[Any]) -> Any:
        raise NotImplementedError

    def encode(self) -> bytes:
        return enc.encode(self.to_fields())

    @classmethod
    def decode(cls, data: bytes) -> Any:
        return enc.decode_object(data, cls.TYPE, cls.from_fields, cls.NAME)


@dataclass(frozen=True)
class Account(Record):
    """A balance and the next nonce the account must use.

    An account with balance 0 and nonce 0 is not stored (it equals an absent one); once its
    nonce is above 0 it is kept forever, or its old transactions could be replayed.
    """

    TYPE: ClassVar[int] = 16
    NAME: ClassVar[str] = "account"
    balance: int = 0
    nonce: int = 0

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.balance, self.nonce]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Account:
        enc.expect_len(f, 3, "account")
        return cls(enc.amount(f[1], "account.balance"), enc.uint(f[2], "account.nonce"))

    @property
    def is_empty(self) -> bool:
        return self.balance == 0 and self.nonce == 0


# Trustee status. Whether a BONDED trustee votes is decided by the active list, not here.
BONDED = 0
"""Bonded and a candidate for the active set at every epoch boundary."""
LEAVING = 1
"""Sent TrusteeLeave; leaves the active set at the next boundary."""
UNBONDING = 2
"""Out of the active set; the bond returns at the boundary of ``release_epoch``."""
SLASHED = 3
"""Bond taken by evidence; the record stays so the key can neither rejoin nor be slashed
twice."""
TRUSTEE_STATUSES = (BONDED, LEAVING, UNBONDING, SLASHED)
STATUS_NAMES = {BONDED: "bonded", LEAVING: "leaving", UNBONDING: "unbonding",
                SLASHED: "slashed"}


@dataclass(frozen=True)
class Trustee(Record):
    TYPE: ClassVar[int] = 17
    NAME: ClassVar[str] = "trustee"
    pubkey: bytes
    bond: int
    multiaddr: str
    status: int = BONDED
    join_height: int = 0
    join_index: int = 0
    """Position of the TrusteeJoin in its block (or in the genesis list): the tie-break."""
    release_epoch: int = 0
    """For UNBONDING: the epoch whose first boundary returns the bond."""

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.pubkey, self.bond, self.multiaddr, self.status,
                self.join_height, self.join_index, self.release_epoch]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Trustee:
        enc.expect_len(f, 8, "trustee")
        status = enc.uint(f[4], "trustee.status")
        if status not in TRUSTEE_STATUSES:
            raise DecodeError(f"trustee.status: unknown status {status}")
        return cls(enc.fixed_bytes(f[1], PUBKEY_LEN, "trustee.pubkey"),
                   enc.amount(f[2], "trustee.bond"),
                   enc.text(f[3], MAX_MULTIADDR, "trustee.multiaddr"), status,
                   enc.uint(f[5], "trustee.join_height"), enc.uint(f[6], "trustee.join_index"),
                   enc.uint(f[7], "trustee.release_epoch"))

    @property
    def rank_key(self) -> tuple[int, int, int, bytes]:
        """Active-set order: highest bond, then earliest join, then the smaller key."""
        return (-self.bond, self.join_height, self.join_index, self.pubkey)

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]


@dataclass(frozen=True)
class Tip(Record):
    """The last applied block. ``cycle`` is None for the genesis (height 0).

    ``block_id`` is not part of the encoded record: a block's id hashes its header, which
    holds the state root, so the root cannot commit to that id. It is stored under the
    uncommitted key ``KEY_TIP_ID`` instead and joined in by ``read_tip``.
    """

    TYPE: ClassVar[int] = 18
    NAME: ClassVar[str] = "tip"
    height: int
    block_id: bytes
    cycle: int | None
    time_ms: int

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.height, self.cycle, self.time_ms]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Tip:
        enc.expect_len(f, 4, "tip")
        cycle = None if f[2] is None else enc.uint(f[2], "tip.cycle")
        return cls(enc.uint(f[1], "tip.height"), b"", cycle, enc.uint(f[3], "tip.time_ms"))


@dataclass(frozen=True)
class BlockIdRecord(Record):
    TYPE: ClassVar[int] = 22
    NAME: ClassVar[str] = "block_id"
    block_id: bytes

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.block_id]

    @classmethod
    def from_fields(cls, f: list[Any]) -> BlockIdRecord:
        enc.expect_len(f, 2, "block_id")
        return cls(enc.fixed_bytes(f[1], 32, "block_id"))


@dataclass(frozen=True)
class TrusteeList(Record):
    """A set of trustee public keys, sorted and unique (one encoding per set)."""

    TYPE: ClassVar[int] = 19
    NAME: ClassVar[str] = "trustee_list"
    pubkeys: tuple[bytes, ...] = ()

    def to_fields(self) -> list[Any]:
        return [self.TYPE, list(self.pubkeys)]

    @classmethod
    def from_fields(cls, f: list[Any]) -> TrusteeList:
        enc.expect_len(f, 2, "trustee_list")
        keys = [enc.fixed_bytes(k, PUBKEY_LEN, "trustee_list.pubkey")
                for k in enc.array(f[1], 1 << 20, "trustee_list")]
        if keys != sorted(set(keys)):
            raise DecodeError("trustee_list: keys must be sorted and unique")
        return cls(tuple(keys))

    @classmethod
    def of(cls, keys: Any) -> TrusteeList:
        return cls(tuple(sorted(set(keys))))

    @cached_property
    def as_set(self) -> frozenset[bytes]:
        return frozenset(self.pubkeys)


@dataclass(frozen=True)
class Supply(Record):
    """Supply counters. ``burned`` includes the burned half of slashes; ``slashed`` is the
    total of slashed bonds, kept for reporting only."""

    TYPE: ClassVar[int] = 20
    NAME: ClassVar[str] = "supply"
    genesis: int
    minted: int = 0
    burned: int = 0
    slashed: int = 0

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.genesis, self.minted, self.burned, self.slashed]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Supply:
        enc.expect_len(f, 5, "supply")
        return cls(enc.uint(f[1], "supply.genesis"), enc.uint(f[2], "supply.minted"),
                   enc.uint(f[3], "supply.burned"), enc.uint(f[4], "supply.slashed"))

    @property
    def total(self) -> int:
        """What must be held in balances, bonds and pending rewards together."""
        return self.genesis + self.minted - self.burned


@dataclass(frozen=True)
class PendingReward(Record):
    """The trustees' 30% of block ``height``'s subsidy, paid by block ``height + 1`` to the
    signers of its ``last_commit``."""

    TYPE: ClassVar[int] = 21
    NAME: ClassVar[str] = "pending_trustee_reward"
    height: int = 0
    amount: int = 0

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.height, self.amount]

    @classmethod
    def from_fields(cls, f: list[Any]) -> PendingReward:
        enc.expect_len(f, 3, "pending_trustee_reward")
        return cls(enc.uint(f[1], "pending.height"), enc.amount(f[2], "pending.amount"))


MAX_POW_ESTIMATES = 1 << 20
"""Decoding bound on the estimates list; the ledger holds it to ``epoch_blocks - 1``."""


@dataclass(frozen=True)
class PowState(Record):
    """The proof-of-work difficulty in effect for the next block, and the time-tie
    estimates of the blocks applied so far in the current epoch (oldest first).

    It is consensus state (every ticket of the next height is judged against
    ``difficulty``), so it is committed by the state root like any other record; the
    estimates ride along because the retarget at the boundary needs every block of the
    epoch, and re-reading old blocks would make applying a block depend on history.
    """

    TYPE: ClassVar[int] = 23
    NAME: ClassVar[str] = "pow"
    difficulty: int
    estimates: tuple[int, ...] = ()

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.difficulty, list(self.estimates)]

    @classmethod
    def from_fields(cls, f: list[Any]) -> PowState:
        enc.expect_len(f, 3, "pow")
        difficulty = enc.uint(f[1], "pow.difficulty", MAX_AMOUNT)
        if difficulty < 1:
            raise DecodeError("pow.difficulty: must be at least 1")
        estimates = tuple(enc.uint(e, "pow.estimate")
                          for e in enc.array(f[2], MAX_POW_ESTIMATES, "pow.estimates"))
        return cls(difficulty, estimates)


@dataclass(frozen=True)
class LineupEntry(Record):
    """A payroll miner on lineup duty (SPEC 5): listed by ``daoli payroll``, preferred as a
    supplier in market matching, and a relay for light clients.

    ``since`` is the height of the newest block whose payroll listed the miner and
    ``sponsor_pubkey`` that ticket's sponsor (where light clients reach the miner); the
    duty covers the blocks ``since + 1`` to ``until``, and block ``until`` removes the entry.
    """

    TYPE: ClassVar[int] = 46
    NAME: ClassVar[str] = "lineup_entry"
    miner_pubkey: bytes
    sponsor_pubkey: bytes
    since: int
    until: int

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.miner_pubkey, self.sponsor_pubkey, self.since, self.until]

    @classmethod
    def from_fields(cls, f: list[Any]) -> LineupEntry:
        enc.expect_len(f, 5, "lineup_entry")
        since = enc.uint(f[3], "lineup_entry.since")
        until = enc.uint(f[4], "lineup_entry.until")
        if until <= since:
            raise DecodeError("lineup_entry: until must be after since")
        return cls(enc.fixed_bytes(f[1], PUBKEY_LEN, "lineup_entry.miner_pubkey"),
                   enc.fixed_bytes(f[2], PUBKEY_LEN, "lineup_entry.sponsor_pubkey"),
                   since, until)


@dataclass(frozen=True)
class LineupBucket(Record):
    """The miners whose lineup entry expires at one height (the key holds the height).

    Sorted and unique, for one encoding per set, and never empty: an empty bucket is
    deleted, so that the state (and its root) does not depend on how it got there.
    """

    TYPE: ClassVar[int] = 47
    NAME: ClassVar[str] = "lineup_bucket"
    miners: tuple[bytes, ...]

    def to_fields(self) -> list[Any]:
        return [self.TYPE, list(self.miners)]

    @classmethod
    def from_fields(cls, f: list[Any]) -> LineupBucket:
        enc.expect_len(f, 2, "lineup_bucket")
        keys = [enc.fixed_bytes(k, PUBKEY_LEN, "lineup_bucket.miner")
                for k in enc.array(f[1], 1 << 20, "lineup_bucket")]
        if not keys:
            raise DecodeError("lineup_bucket: an empty bucket is not stored")
        if keys != sorted(set(keys)):
            raise DecodeError("lineup_bucket: keys must be sorted and unique")
        return cls(tuple(keys))

    @classmethod
    def of(cls, keys: Any) -> LineupBucket:
        return cls(tuple(sorted(set(keys))))


@dataclass(frozen=True)
class LineupHorizon(Record):
    """The ``until`` of the most recently lined-up miners: every live entry expires in
    ``(tip height, horizon]``.

    Readers need it to find the live buckets without knowing ``lineup_blocks`` (a genesis
    parameter that the state does not hold). Absent until the first non-empty payroll, so
    chains whose blocks carry no payroll keep the state roots they had before the lineup.
    """

    TYPE: ClassVar[int] = 48
    NAME: ClassVar[str] = "lineup_horizon"
    until: int

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.until]

    @classmethod
    def from_fields(cls, f: list[Any]) -> LineupHorizon:
        enc.expect_len(f, 2, "lineup_horizon")
        return cls(enc.uint(f[1], "lineup_horizon.until"))


# --- the resource market (SPEC 6; docs/protocol.md §7 "Resource market") -------------------

PREFIX_MARKET_DUE = b"M"
"""The market's deadline index: one bucket per height, 8 bytes big-endian, listing the
leases, orders and offers that end at that height, so a block reads exactly one key to learn
what is due and never scans the market."""
PREFIX_MARKET_INDEX = b"I"
"""Per-account market index (by address): the live offers, open orders and active leases
an account takes part in, so an API lists them without scanning the state."""
KEY_OFFER_BOOK = PREFIX_GLOBAL + b"offers"
KEY_ORDER_BOOK = PREFIX_GLOBAL + b"orders"

ID_LEN = 32
MAX_BOOK = 65_536
"""Most open offers (and, separately, open orders) the chain holds at once: keeps each book
record far below the 8 MiB decoding bound, which a growing record must never reach (a state
record that cannot be decoded would halt the chain)."""
MAX_DUE_PER_HEIGHT = 65_536
"""Most ids (leases + orders + offers) one deadline bucket holds, for the same reason."""
MAX_ACCOUNT_ITEMS = 4_096
"""Most offers + orders + leases one account's market index holds."""


def offer_key(offer_id: bytes) -> bytes:
    return PREFIX_OFFER + offer_id


def order_key(order_id: bytes) -> bytes:
    return PREFIX_ORDER + order_id


def lease_key(lease_id: bytes) -> bytes:
    return PREFIX_LEASE + lease_id


def market_due_key(height: int) -> bytes:
    """Big-endian, so that key order over ``M`` is deadline order."""
    return PREFIX_MARKET_DUE + height.to_bytes(8, "big")


def market_index_key(address: bytes) -> bytes:
    return PREFIX_MARKET_INDEX + address


def _ids(value: Any, limit: int, what: str) -> tuple[bytes, ...]:
    """A sorted, duplicate-free array of 32-byte ids (one encoding per set)."""
    ids = [enc.fixed_bytes(i, ID_LEN, what) for i in enc.array(value, limit, what)]
    if any(a >= b for a, b in pairwise(ids)):
        raise DecodeError(f"{what}: ids must be sorted and unique")
    return tuple(ids)


@dataclass(frozen=True)
class Offer(Record):
    """A live ResourceOffer, under ``O`` ‖ offer id (the id of the offering transaction).

    ``height``/``index`` place the offering transaction (its block and position in it): the
    "oldest offer" of SPEC 6. ``active`` counts the leases open on it, at most ``capacity``.
    """

    TYPE: ClassVar[int] = 24
    NAME: ClassVar[str] = "offer"
    provider_pubkey: bytes
    cpu_millicores: int
    mem_mib: int
    disk_gib: int
    net_mbps: int
    price_per_block: int
    unit_price: int
    capacity: int
    expires_height: int
    endpoint: str
    height: int
    index: int
    active: int = 0

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.provider_pubkey, self.cpu_millicores, self.mem_mib,
                self.disk_gib, self.net_mbps, self.price_per_block, self.unit_price,
                self.capacity, self.expires_height, self.endpoint, self.height, self.index,
                self.active]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Offer:
        enc.expect_len(f, 14, "offer")
        u = enc.uint
        rec = cls(enc.fixed_bytes(f[1], PUBKEY_LEN, "offer.provider_pubkey"),
                  u(f[2], "offer.cpu_millicores"), u(f[3], "offer.mem_mib"),
                  u(f[4], "offer.disk_gib"), u(f[5], "offer.net_mbps"),
                  enc.amount(f[6], "offer.price_per_block"), enc.amount(f[7], "offer.unit_price"),
                  u(f[8], "offer.capacity"), u(f[9], "offer.expires_height"),
                  enc.text(f[10], MAX_ENDPOINT, "offer.endpoint"), u(f[11], "offer.height"),
                  u(f[12], "offer.index"), u(f[13], "offer.active"))
        if rec.capacity < 1 or rec.active > rec.capacity:
            raise DecodeError("offer: needs 1 <= capacity and active <= capacity")
        if rec.expires_height <= rec.height:
            raise DecodeError("offer: expires_height must be after its height")
        return rec

    @property
    def book_entry(self) -> tuple[int, int, int]:
        """(price, height, index): the offer book's order after lined-up providers."""
        return (self.price_per_block, self.height, self.index)


@dataclass(frozen=True)
class Order(Record):
    """An open (not yet matched) ResourceOrder, under ``R`` ‖ order id (the id of the
    ordering transaction). ``deposit`` is held in escrow; the order is refunded by block
    ``expires_height`` = its height + duration_blocks (capped at 2^64 - 1)."""

    TYPE: ClassVar[int] = 25
    NAME: ClassVar[str] = "order"
    buyer_pubkey: bytes
    cpu_millicores: int
    mem_mib: int
    disk_gib: int
    net_mbps: int
    max_price_per_block: int
    duration_blocks: int
    deposit: int
    height: int
    index: int
    expires_height: int

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.buyer_pubkey, self.cpu_millicores, self.mem_mib,
                self.disk_gib, self.net_mbps, self.max_price_per_block, self.duration_blocks,
                self.deposit, self.height, self.index, self.expires_height]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Order:
        enc.expect_len(f, 12, "order")
        u = enc.uint
        rec = cls(enc.fixed_bytes(f[1], PUBKEY_LEN, "order.buyer_pubkey"),
                  u(f[2], "order.cpu_millicores"), u(f[3], "order.mem_mib"),
                  u(f[4], "order.disk_gib"), u(f[5], "order.net_mbps"),
                  enc.amount(f[6], "order.max_price_per_block"),
                  u(f[7], "order.duration_blocks"), enc.amount(f[8], "order.deposit"),
                  u(f[9], "order.height"), u(f[10], "order.index"),
                  u(f[11], "order.expires_height"))
        if rec.duration_blocks < 1 or rec.expires_height <= rec.height:
            raise DecodeError("order: duration_blocks must be at least 1")
        if rec.deposit < rec.max_price_per_block:
            raise DecodeError("order: deposit must cover max_price_per_block")
        return rec


@dataclass(frozen=True)
class Lease(Record):
    """An active lease, under ``L`` ‖ lease id, which is the id of its order (one order makes
    at most one lease, so the buyer finds the lease of an order by the order's id).

    Settlement is lazy: the lease has paid for the blocks up to ``settled``; touched at height
    h it owes ``price_per_block * (h - settled)`` more. ``end`` is the height whose block
    settles and closes it: ``min(duration_end, settled + escrow // price_per_block)``, so the
    escrow always covers the blocks up to ``end``. ``paid`` is what the provider received so
    far (blocks and receipts); ``last_seq`` the sequence of the last receipt billed (0: none).
    """

    TYPE: ClassVar[int] = 26
    NAME: ClassVar[str] = "lease"
    offer_id: bytes
    provider_pubkey: bytes
    buyer_pubkey: bytes
    price_per_block: int
    unit_price: int
    start: int
    duration_end: int
    end: int
    escrow: int
    paid: int = 0
    settled: int = 0
    last_seq: int = 0

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.offer_id, self.provider_pubkey, self.buyer_pubkey,
                self.price_per_block, self.unit_price, self.start, self.duration_end, self.end,
                self.escrow, self.paid, self.settled, self.last_seq]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Lease:
        enc.expect_len(f, 13, "lease")
        u = enc.uint
        rec = cls(enc.fixed_bytes(f[1], ID_LEN, "lease.offer_id"),
                  enc.fixed_bytes(f[2], PUBKEY_LEN, "lease.provider_pubkey"),
                  enc.fixed_bytes(f[3], PUBKEY_LEN, "lease.buyer_pubkey"),
                  enc.amount(f[4], "lease.price_per_block"), enc.amount(f[5], "lease.unit_price"),
                  u(f[6], "lease.start"), u(f[7], "lease.duration_end"), u(f[8], "lease.end"),
                  enc.amount(f[9], "lease.escrow"), enc.amount(f[10], "lease.paid"),
                  u(f[11], "lease.settled"), u(f[12], "lease.last_seq"))
        if not rec.start <= rec.settled <= rec.end <= rec.duration_end:
            raise DecodeError("lease: needs start <= settled <= end <= duration_end")
        return rec


@dataclass(frozen=True)
class OfferBook(Record):
    """Every live offer as ``(price_per_block, height, index, offer_id)``, sorted: matching
    walks it cheapest first and stops at the order's maximum price. Never empty (absent)."""

    TYPE: ClassVar[int] = 27
    NAME: ClassVar[str] = "offer_book"
    entries: tuple[tuple[int, int, int, bytes], ...]

    def to_fields(self) -> list[Any]:
        return [self.TYPE, [list(e) for e in self.entries]]

    @classmethod
    def from_fields(cls, f: list[Any]) -> OfferBook:
        enc.expect_len(f, 2, "offer_book")
        out: list[tuple[int, int, int, bytes]] = []
        for e in enc.array(f[1], MAX_BOOK, "offer_book"):
            e = enc.array(e, 4, "offer_book.entry")
            enc.expect_len(e, 4, "offer_book.entry")
            out.append((enc.amount(e[0], "offer_book.price"), enc.uint(e[1], "offer_book.height"),
                        enc.uint(e[2], "offer_book.index"),
                        enc.fixed_bytes(e[3], ID_LEN, "offer_book.offer_id")))
        if not out or any(a >= b for a, b in pairwise(out)):
            raise DecodeError("offer_book: entries must be sorted, unique and not empty")
        return cls(tuple(out))


@dataclass(frozen=True)
class OrderBook(Record):
    """Every open order as ``(height, index, order_id)``, sorted: oldest first, the order in
    which a new offer serves them. Never empty (absent)."""

    TYPE: ClassVar[int] = 28
    NAME: ClassVar[str] = "order_book"
    entries: tuple[tuple[int, int, bytes], ...]

    def to_fields(self) -> list[Any]:
        return [self.TYPE, [list(e) for e in self.entries]]

    @classmethod
    def from_fields(cls, f: list[Any]) -> OrderBook:
        enc.expect_len(f, 2, "order_book")
        out: list[tuple[int, int, bytes]] = []
        for e in enc.array(f[1], MAX_BOOK, "order_book"):
            e = enc.array(e, 3, "order_book.entry")
            enc.expect_len(e, 3, "order_book.entry")
            out.append((enc.uint(e[0], "order_book.height"), enc.uint(e[1], "order_book.index"),
                        enc.fixed_bytes(e[2], ID_LEN, "order_book.order_id")))
        if not out or any(a >= b for a, b in pairwise(out)):
            raise DecodeError("order_book: entries must be sorted, unique and not empty")
        return cls(tuple(out))


@dataclass(frozen=True)
class MarketDue(Record):
    """What ends at one height (the key holds it): leases to settle and close, orders to
    refund, offers to remove. Each list sorted and unique; never all empty (absent)."""

    TYPE: ClassVar[int] = 29
    NAME: ClassVar[str] = "market_due"
    leases: tuple[bytes, ...] = ()
    orders: tuple[bytes, ...] = ()
    offers: tuple[bytes, ...] = ()

    def to_fields(self) -> list[Any]:
        return [self.TYPE, list(self.leases), list(self.orders), list(self.offers)]

    @classmethod
    def from_fields(cls, f: list[Any]) -> MarketDue:
        enc.expect_len(f, 4, "market_due")
        rec = cls(_ids(f[1], MAX_DUE_PER_HEIGHT, "market_due.leases"),
                  _ids(f[2], MAX_DUE_PER_HEIGHT, "market_due.orders"),
                  _ids(f[3], MAX_DUE_PER_HEIGHT, "market_due.offers"))
        if rec.size == 0 or rec.size > MAX_DUE_PER_HEIGHT:
            raise DecodeError("market_due: empty or too large")
        return rec

    @property
    def size(self) -> int:
        return len(self.leases) + len(self.orders) + len(self.offers)


@dataclass(frozen=True)
class MarketIndex(Record):
    """One account's live market objects: offers it made, its open orders, and the leases
    where it is the provider or the buyer. Each list sorted and unique; never all empty."""

    TYPE: ClassVar[int] = 30
    NAME: ClassVar[str] = "market_index"
    offers: tuple[bytes, ...] = ()
    orders: tuple[bytes, ...] = ()
    leases: tuple[bytes, ...] = ()

    def to_fields(self) -> list[Any]:
        return [self.TYPE, list(self.offers), list(self.orders), list(self.leases)]

    @classmethod
    def from_fields(cls, f: list[Any]) -> MarketIndex:
        enc.expect_len(f, 4, "market_index")
        rec = cls(_ids(f[1], MAX_ACCOUNT_ITEMS, "market_index.offers"),
                  _ids(f[2], MAX_ACCOUNT_ITEMS, "market_index.orders"),
                  _ids(f[3], MAX_ACCOUNT_ITEMS, "market_index.leases"))
        if rec.size == 0 or rec.size > MAX_ACCOUNT_ITEMS:
            raise DecodeError("market_index: empty or too large")
        return rec

    @property
    def size(self) -> int:
        return len(self.offers) + len(self.orders) + len(self.leases)
