"""The ledger state machine: genesis, blocks and transactions applied to a key-value state.

Everything here is a pure function of (state, genesis, block): the state is only read, and a
successful application returns the change as a :class:`StateDiff` for the caller to store.
A rejected block or transaction raises and changes nothing, which is what lets the node try
a proposal against its finalized state without copying it.

Within one block every touched entry is decoded once into a working copy (the overlay), all
transactions mutate the copy, and only at the end is each changed entry encoded once and the
state accumulator moved once per changed key. That keeps the cost per transaction close to
the cost of checking its signature.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, TypeVar

from daoli.core.address import ADDRESS_LEN
from daoli.core.block import Block
from daoli.core.clock import median_int
from daoli.core.crypto import SIG_LEN, TAG_TX, verify
from daoli.core.encoding import MAX_AMOUNT, MAX_U64, encode
from daoli.core.genesis import Genesis
from daoli.core.ibft import quorum
from daoli.core.ledger_types import (
    BONDED,
    ID_LEN,
    KEY_ACTIVE,
    KEY_LINEUP_HORIZON,
    KEY_OFFER_BOOK,
    KEY_ORDER_BOOK,
    KEY_PENDING,
    KEY_POW,
    KEY_PREV_ACTIVE,
    KEY_SUPPLY,
    KEY_TIP,
    KEY_TIP_ID,
    KEY_TRUSTEE_INDEX,
    LEAVING,
    MAX_ACCOUNT_ITEMS,
    MAX_BOOK,
    MAX_DUE_PER_HEIGHT,
    PREFIX_ACCOUNT,
    PREFIX_GLOBAL,
    PREFIX_LEASE,
    PREFIX_ORDER,
    PREFIX_TRUSTEE,
    SLASHED,
    UNBONDING,
    Account,
    BlockIdRecord,
    Lease,
    LineupBucket,
    LineupEntry,
    LineupHorizon,
    MarketDue,
    MarketIndex,
    Offer,
    OfferBook,
    Order,
    OrderBook,
    PendingReward,
    PowState,
    Record,
    Supply,
    Tip,
    Trustee,
    TrusteeList,
    account_key,
    lease_key,
    lineup_expiry_key,
    lineup_key,
    market_due_key,
    market_index_key,
    offer_key,
    order_key,
    trustee_key,
)
from daoli.core.lottery import retarget, time_ties_estimate
from daoli.core.market import lease_end, settled_at, verify_receipt
from daoli.core.params import ChainParams
from daoli.core.rewards import equal_shares, split_subsidy, subsidy
from daoli.core.state import (
    ACC_BYTES,
    ACC_MASK,
    ELEMENT_TAG,
    EMPTY_ACC,
    MemoryState,
    StateDiff,
    StateReader,
    acc_to_int,
    int_to_acc,
    make_diff,
    state_root_of,
    update_acc,
)
from daoli.core.tx import (
    MAX_ENDPOINT,
    MAX_MULTIADDR,
    Body,
    Evidence,
    LeaseClose,
    OfferCancel,
    ResourceOffer,
    ResourceOrder,
    Transaction,
    Transfer,
    TrusteeJoin,
    TrusteeLeave,
    UsageReceipt,
)
from daoli.core.vote import CommitCertificate
from daoli.errors import DecodeError, InvalidBlock, InvalidTransaction

_ACCOUNT_TYPE = Account.TYPE
assert _ACCOUNT_TYPE == 0x10  # _encode_account and _decode_account hard-code it


def _address(pubkey: bytes) -> bytes:
    return hashlib.sha256(pubkey).digest()[:ADDRESS_LEN]


MIN_POW_DIFFICULTY = 1
"""Floor of a retarget. SPEC 3 only bounds each step (x0.5 to x2); a floor at the genesis
difficulty would stop a shrinking network from ever getting back to ``diameter`` time ties,
so none is kept beyond what makes a target well defined."""

ESTIMATE_CAP_DIAMETERS = 4
"""Time-tie estimates are stored saturated at ``4 * diameter`` (see :func:`_pow_step`)."""


class InvalidTransactionInBlock(InvalidBlock):
    """A block refused because of one of its transactions.

    ``tx_index`` is the position of that transaction in the payload, so a block builder can
    leave it out without parsing the message (which stays ``"tx <i>: <reason>"``).
    """

    def __init__(self, tx_index: int, reason: str) -> None:
        super().__init__(f"tx {tx_index}: {reason}")
        self.tx_index = tx_index
        self.reason = reason


# --- the overlay ----------------------------------------------------------------------------


class _Work:
    """Working copies of every entry a block touches, over a read-only base state.

    Accounts are kept as mutable ``[balance, nonce]`` lists because they are the hot path;
    other records are immutable dataclasses replaced on change.
    """

    __slots__ = ("accounts", "base", "records", "state")

    def __init__(self, state: StateReader) -> None:
        self.state = state
        self.base: dict[bytes, bytes | None] = {}
        self.accounts: dict[bytes, list[int]] = {}
        self.records: dict[bytes, Record | None] = {}

    def account(self, address: bytes) -> list[int]:
        acct = self.accounts.get(address)
        if acct is None:
            key = PREFIX_ACCOUNT + address
            raw = self.state.get(key)
            self.base[key] = raw
            acct = [0, 0] if raw is None else _decode_account(raw)
            self.accounts[address] = acct
        return acct

    def record(self, key: bytes, cls: type[Any]) -> Any:
        if key in self.records:
            return self.records[key]
        raw = self.state.get(key)
        self.base[key] = raw
        rec = None if raw is None else _decode_record(cls, raw)
        self.records[key] = rec
        return rec

    def put(self, key: bytes, rec: Record | None) -> None:
        if key not in self.base:
            self.base[key] = self.state.get(key)
        self.records[key] = rec

    def finish(self, acc: bytes) -> StateDiff:
        """Encode each changed entry once and move the accumulator once per changed key."""
        base = self.base
        writes: dict[bytes, bytes | None] = {}
        plus = minus = 0  # element sums added and removed, reduced once at the end
        account_element = _account_element
        for address, (balance, nonce) in self.accounts.items():
            key = PREFIX_ACCOUNT + address
            new = None if balance == 0 and nonce == 0 else _encode_account(balance, nonce)
            old = base[key]
            if new != old:
                writes[key] = new
                if old is not None:
                    minus += account_element(address, old)
                if new is not None:
                    plus += account_element(address, new)
        value = acc_to_int(acc) + plus - minus
        for key, rec in self.records.items():
            new = None if rec is None else rec.encode()
            old = base[key]
            if new != old:
                writes[key] = new
                value = update_acc(value, key, old, new)
        new_acc = int_to_acc(value & ACC_MASK)
        return StateDiff(MappingProxyType(writes), new_acc, state_root_of(new_acc))


_ACCOUNT_ELEMENT_PREFIX = ELEMENT_TAG + bytes((1 + ADDRESS_LEN,)) + PREFIX_ACCOUNT


def _account_element(address: bytes, value: bytes) -> int:
    """``state.element(b"A" + address, value)`` without the generic checks: the hot path."""
    digest = hashlib.shake_256(_ACCOUNT_ELEMENT_PREFIX + address + value).digest(ACC_BYTES)
    return int.from_bytes(digest, "little")


def _cbor_uint(value: int) -> bytes:
    """A CBOR unsigned integer in its shortest (canonical) form."""
    if value < 24:
        return bytes((value,))
    if value < 0x100:
        return bytes((0x18, value))
    if value < 0x10000:
        return b"\x19" + value.to_bytes(2, "big")
    if value < 0x100000000:
        return b"\x1a" + value.to_bytes(4, "big")
    return b"\x1b" + value.to_bytes(8, "big")


def _encode_account(balance: int, nonce: int) -> bytes:
    """The canonical encoding of ``Account(balance, nonce)``, built by hand."""
    return b"\x83\x10" + _cbor_uint(balance) + _cbor_uint(nonce)


def _read_uint(raw: bytes, pos: int) -> tuple[int, int]:
    """One CBOR unsigned integer at ``pos`` in shortest form: (value, next position)."""
    head = raw[pos]
    if head < 24:
        return head, pos + 1
    if 24 <= head <= 27:
        width = 1 << (head - 24)
        end = pos + 1 + width
        if end > len(raw):
            raise IndexError("truncated")
        value = int.from_bytes(raw[pos + 1 : end], "big")
        if value < (24 if width == 1 else 1 << (4 * width)):
            raise ValueError("not the shortest form")
        return value, end
    raise ValueError("not an unsigned integer")


def _decode_account(raw: bytes) -> list[int]:
    """``[balance, nonce]`` of an Account record, parsed by hand: the hottest read of a block.

    Exactly as strict as ``Account.decode`` (shape, ranges, shortest integer heads, no
    trailing bytes), at a fraction of its cost.
    """
    try:
        if raw[0] != 0x83 or raw[1] != _ACCOUNT_TYPE:
            raise ValueError("not an account record")
        balance, pos = _read_uint(raw, 2)
        nonce, pos = _read_uint(raw, pos)
        if pos != len(raw) or balance > MAX_AMOUNT:
            raise ValueError("bad account record")
    except (IndexError, ValueError):
        a = _decode_record(Account, raw)  # raises the precise error
        return [a.balance, a.nonce]
    return [balance, nonce]


def _decode_record(cls: type[Any], raw: bytes) -> Any:
    try:
        return cls.decode(raw)
    except DecodeError as exc:
        raise InvalidBlock(f"corrupt ledger state: {exc}") from None


class _Ctx:
    """Per-block (or per-check) context and the running totals of a block."""

    __slots__ = ("burned", "chain_id", "chain_prefix", "fees", "height", "min_fee", "params",
                 "slashed", "verified", "verify")

    def __init__(self, genesis: Genesis, height: int, verify: bool,
                 verified: Container[bytes] | None = None) -> None:
        self.chain_id = genesis.chain_id
        self.chain_prefix = encode(genesis.chain_id)
        self.params: ChainParams = genesis.params
        self.min_fee = genesis.params.min_fee
        self.height = height
        self.verify = verify
        self.verified = verified
        """Ids of transactions whose own signature the caller verified already."""
        self.fees = 0
        self.burned = 0
        self.slashed = 0


# --- transactions -------------------------------------------------------------------------


def _amount(value: Any, what: str) -> int:
    if type(value) is not int or value < 0 or value > MAX_AMOUNT:
        raise InvalidTransaction(f"{what} must be an integer in [0, 2^63 - 1]")
    return value


def _debit(acct: list[int], cost: int) -> None:
    if acct[0] < cost:
        raise InvalidTransaction(f"insufficient balance: has {acct[0]} li, needs {cost} li")
    acct[0] -= cost
    acct[1] += 1


def _credit_tx(acct: list[int], amount: int) -> None:
    if acct[0] + amount > MAX_AMOUNT:
        raise InvalidTransaction("the recipient's balance would exceed 2^63 - 1 li")
    acct[0] += amount


def _apply_transfer(work: _Work, ctx: _Ctx, tx: Transaction, acct: list[int],
                    index: int) -> None:
    body: Transfer = tx.body  # type: ignore[assignment]
    amount = _amount(body.amount, "amount")
    to = body.to
    if type(to) is not bytes or len(to) != ADDRESS_LEN:
        raise InvalidTransaction("transfer.to must be a 20-byte address")
    _debit(acct, tx.fee + amount)
    _credit_tx(work.account(to), amount)


def _apply_trustee_join(work: _Work, ctx: _Ctx, tx: Transaction, acct: list[int],
                        index: int) -> None:
    body: TrusteeJoin = tx.body  # type: ignore[assignment]
    bond = _amount(body.bond, "bond")
    if bond < ctx.params.min_bond:
        raise InvalidTransaction(f"bond {bond} li is below min_bond {ctx.params.min_bond} li")
    if type(body.multiaddr) is not str or len(body.multiaddr.encode()) > MAX_MULTIADDR:
        raise InvalidTransaction(f"multiaddr must be text of at most {MAX_MULTIADDR} bytes")
    pubkey = tx.sender_pubkey
    key = trustee_key(pubkey)
    if work.record(key, Trustee) is not None:
        raise InvalidTransaction("this key is already registered as a trustee (or was slashed)")
    _debit(acct, tx.fee + bond)
    work.put(key, Trustee(pubkey, bond, body.multiaddr, BONDED, ctx.height, index, 0))
    idx: TrusteeList = work.record(KEY_TRUSTEE_INDEX, TrusteeList) or TrusteeList()
    work.put(KEY_TRUSTEE_INDEX, TrusteeList.of((*idx.pubkeys, pubkey)))


def _apply_trustee_leave(work: _Work, ctx: _Ctx, tx: Transaction, acct: list[int],
                         index: int) -> None:
    pubkey = tx.sender_pubkey
    key = trustee_key(pubkey)
    rec: Trustee | None = work.record(key, Trustee)
    if rec is None:
        raise InvalidTransaction("the sender is not a registered trustee")
    if rec.status != BONDED:
        raise InvalidTransaction(f"the trustee is already {rec.status_name}")
    idx: TrusteeList = work.record(KEY_TRUSTEE_INDEX, TrusteeList) or TrusteeList()
    others = sum(1 for pk in idx.pubkeys if pk != pubkey
                 and work.record(trustee_key(pk), Trustee).status == BONDED)
    if others == 0:
        raise InvalidTransaction("the last bonded trustee cannot leave: the chain would halt")
    _debit(acct, tx.fee)
    work.put(key, replace(rec, status=LEAVING))


def _apply_evidence(work: _Work, ctx: _Ctx, tx: Transaction, acct: list[int],
                    index: int) -> None:
    body: Evidence = tx.body  # type: ignore[assignment]
    a, b = body.vote_a, body.vote_b
    if a.chain_id != ctx.chain_id or b.chain_id != ctx.chain_id:
        raise InvalidTransaction("evidence: votes are not for this chain")
    if a.trustee_pubkey != b.trustee_pubkey:
        raise InvalidTransaction("evidence: votes are by different trustees")
    if (a.height, a.round, a.vtype) != (b.height, b.round, b.vtype):
        raise InvalidTransaction("evidence: votes differ in height, round or type")
    if a.block_id == b.block_id:
        raise InvalidTransaction("evidence: votes are for the same block id")
    key = trustee_key(a.trustee_pubkey)
    rec: Trustee | None = work.record(key, Trustee)
    if rec is None:
        raise InvalidTransaction("evidence: the voter is not a registered trustee")
    if rec.status == SLASHED:
        raise InvalidTransaction("evidence: the trustee was already slashed")
    if ctx.verify and not (a.verify_sig() and b.verify_sig()):
        raise InvalidTransaction("evidence: a vote signature does not verify")
    _debit(acct, tx.fee)
    bond = rec.bond
    to_reporter = bond // 2
    _credit_tx(acct, to_reporter)
    work.put(key, replace(rec, bond=0, status=SLASHED))
    ctx.burned += bond - to_reporter
    ctx.slashed += bond


# --- the resource market (SPEC 6; docs/protocol.md §7 "Resource market") --------------------


def _market_corrupt(what: str) -> InvalidBlock:
    return InvalidBlock(f"corrupt ledger state: {what}")


def _uint(value: Any, what: str) -> int:
    if type(value) is not int or value < 0 or value > MAX_U64:
        raise InvalidTransaction(f"{what} must be an integer in [0, 2^64 - 1]")
    return value


def _credit_market(work: _Work, pubkey: bytes, amount: int) -> None:
    """Escrow going back to an account: it was held already, so it cannot overflow a
    balance unless the state is corrupt."""
    if amount == 0:
        return
    acct = work.account(_address(pubkey))
    if acct[0] + amount > MAX_AMOUNT:
        raise _market_corrupt("a market payment would push a balance past 2^63 - 1 li")
    acct[0] += amount


def _index_room(work: _Work, address: bytes, n: int = 1) -> bool:
    idx: MarketIndex | None = work.record(market_index_key(address), MarketIndex)
    return (0 if idx is None else idx.size) + n <= MAX_ACCOUNT_ITEMS


def _index_edit(work: _Work, address: bytes, field: str, item: bytes, add: bool) -> None:
    key = market_index_key(address)
    idx: MarketIndex = work.record(key, MarketIndex) or MarketIndex()
    ids: tuple[bytes, ...] = getattr(idx, field)
    if add:
        pos = bisect.bisect_left(ids, item)
        if pos < len(ids) and ids[pos] == item:
            raise _market_corrupt("a market id is indexed twice")
        new = (*ids[:pos], item, *ids[pos:])
    else:
        if item not in ids:
            raise _market_corrupt("the market index does not list a live object")
        new = tuple(i for i in ids if i != item)
    rec = replace(idx, **{field: new})
    work.put(key, rec if rec.size else None)


def _due_room(work: _Work, height: int) -> bool:
    due: MarketDue | None = work.record(market_due_key(height), MarketDue)
    return due is None or due.size < MAX_DUE_PER_HEIGHT


def _due_edit(work: _Work, height: int, field: str, item: bytes, add: bool) -> None:
    key = market_due_key(height)
    due: MarketDue = work.record(key, MarketDue) or MarketDue()
    ids: tuple[bytes, ...] = getattr(due, field)
    if add:
        new = tuple(sorted((*ids, item)))
    else:
        if item not in ids:
            raise _market_corrupt("the market deadline index does not list a live object")
        new = tuple(i for i in ids if i != item)
    rec = replace(due, **{field: new})
    work.put(key, rec if rec.size else None)


def _book_edit(work: _Work, key: bytes, cls: type[Any], entry: tuple[Any, ...],
               add: bool) -> None:
    book = work.record(key, cls)
    entries: tuple[Any, ...] = () if book is None else book.entries
    pos = bisect.bisect_left(entries, entry)
    present = pos < len(entries) and entries[pos] == entry
    if add == present:
        raise _market_corrupt("a market book does not match its records")
    new = (*entries[:pos], entry, *entries[pos:]) if add else (*entries[:pos],
                                                                *entries[pos + 1:])
    work.put(key, cls(new) if new else None)


def _book_len(work: _Work, key: bytes, cls: type[Any]) -> int:
    book = work.record(key, cls)
    return 0 if book is None else len(book.entries)


def _serves(offer: Offer, cpu: int, mem: int, disk: int, net: int, max_price: int,
            height: int) -> bool:
    """SPEC 6 matching, per offer: every requirement met, free capacity, unexpired, and a
    price within the order's maximum."""
    return (height < offer.expires_height and offer.active < offer.capacity
            and offer.price_per_block <= max_price and offer.cpu_millicores >= cpu
            and offer.mem_mib >= mem and offer.disk_gib >= disk and offer.net_mbps >= net)


def _lease_fits(work: _Work, offer: Offer, buyer_address: bytes, deposit: int,
                duration: int, height: int) -> bool:
    """Whether a lease on ``offer`` can be recorded: room in the provider's market index and
    in the deadline bucket of its end (the buyer's room is the caller's check)."""
    if _address(offer.provider_pubkey) != buyer_address and not _index_room(
            work, _address(offer.provider_pubkey)):
        return False
    end = lease_end(min(height + duration, MAX_U64), height, deposit, offer.price_per_block)
    return _due_room(work, end)


def _lined_up(work: _Work, pubkey: bytes) -> bool:
    """SPEC 5/6: a provider whose key is on lineup duty for the block being applied (the
    block's own lineup step runs after its transactions, so the state holds exactly the
    entries with ``until >= height``)."""
    return work.record(lineup_key(pubkey), LineupEntry) is not None


def _best_offer(work: _Work, ctx: _Ctx, body: ResourceOrder,
                buyer_address: bytes) -> tuple[bytes, Offer] | None:
    """The offer an order matches: lined-up providers first, then the lowest price, then the
    oldest offer (height, then position in its block), then the lowest id. The book is
    sorted by (price, height, index, id), so the first eligible offer of a lined-up provider
    is the best one, and without one the first eligible offer is; the walk stops at the
    order's maximum price."""
    book: OfferBook | None = work.record(KEY_OFFER_BOOK, OfferBook)
    if book is None:
        return None
    horizon: LineupHorizon | None = work.record(KEY_LINEUP_HORIZON, LineupHorizon)
    anyone_lined_up = horizon is not None and horizon.until >= ctx.height
    fallback: tuple[bytes, Offer] | None = None
    h = ctx.height
    for price, _, _, oid in book.entries:
        if price > body.max_price_per_block:
            break
        offer: Offer | None = work.record(offer_key(oid), Offer)
        if offer is None:
            raise _market_corrupt("the offer book lists a missing offer")
        if not _serves(offer, body.cpu_millicores, body.mem_mib, body.disk_gib,
                       body.net_mbps, body.max_price_per_block, h):
            continue
        if not _lease_fits(work, offer, buyer_address, body.deposit, body.duration_blocks, h):
            continue
        if not anyone_lined_up:
            return oid, offer
        if _lined_up(work, offer.provider_pubkey):
            return oid, offer
        if fallback is None:
            fallback = (oid, offer)
    return fallback


def _open_lease(work: _Work, h: int, lease_id: bytes, offer_id: bytes, offer: Offer,
                buyer_pubkey: bytes, deposit: int, duration: int) -> None:
    """Record a lease (its escrow is the deposit, already held) and take one unit of the
    offer's capacity. It runs ``duration`` blocks from this one, paid block by block."""
    duration_end = min(h + duration, MAX_U64)
    end = lease_end(duration_end, h, deposit, offer.price_per_block)
    work.put(lease_key(lease_id),
             Lease(offer_id, offer.provider_pubkey, buyer_pubkey, offer.price_per_block,
                   offer.unit_price, h, duration_end, end, deposit, 0, h, 0))
    work.put(offer_key(offer_id), replace(offer, active=offer.active + 1))
    provider_address = _address(offer.provider_pubkey)
    buyer_address = _address(buyer_pubkey)
    _index_edit(work, provider_address, "leases", lease_id, True)
    if buyer_address != provider_address:
        _index_edit(work, buyer_address, "leases", lease_id, True)
    _due_edit(work, end, "leases", lease_id, True)


def _settle(work: _Work, lease: Lease, h: int) -> Lease:
    """Lazy settlement: the blocks owed since ``settled`` move from escrow to the provider."""
    lease, pay = settled_at(lease, h)
    _credit_market(work, lease.provider_pubkey, pay)
    return lease


def _close_lease(work: _Work, lease_id: bytes, lease: Lease, h: int, *,
                 unschedule: bool) -> None:
    """Settle up to ``h``, return what is left of the escrow to the buyer, free the offer's
    capacity (if the offer is still live) and forget the lease."""
    lease = _settle(work, lease, h)
    _credit_market(work, lease.buyer_pubkey, lease.escrow)
    work.put(lease_key(lease_id), None)
    if unschedule:
        _due_edit(work, lease.end, "leases", lease_id, False)
    offer: Offer | None = work.record(offer_key(lease.offer_id), Offer)
    if offer is not None:
        if offer.active < 1:
            raise _market_corrupt("an offer counts fewer leases than are open on it")
        work.put(offer_key(lease.offer_id), replace(offer, active=offer.active - 1))
    provider_address = _address(lease.provider_pubkey)
    buyer_address = _address(lease.buyer_pubkey)
    _index_edit(work, provider_address, "leases", lease_id, False)
    if buyer_address != provider_address:
        _index_edit(work, buyer_address, "leases", lease_id, False)


def _remove_offer(work: _Work, offer_id: bytes, offer: Offer, *, unschedule: bool) -> None:
    """Take an offer off the market (cancel or expiry); its leases run on unchanged."""
    work.put(offer_key(offer_id), None)
    _book_edit(work, KEY_OFFER_BOOK, OfferBook, (*offer.book_entry, offer_id), False)
    _index_edit(work, _address(offer.provider_pubkey), "offers", offer_id, False)
    if unschedule:
        _due_edit(work, offer.expires_height, "offers", offer_id, False)


def _remove_order(work: _Work, order_id: bytes, order: Order, *, unschedule: bool) -> None:
    """Take an open order off the book (matched or expired); the caller moves the deposit."""
    work.put(order_key(order_id), None)
    _book_edit(work, KEY_ORDER_BOOK, OrderBook, (order.height, order.index, order_id), False)
    _index_edit(work, _address(order.buyer_pubkey), "orders", order_id, False)
    if unschedule:
        _due_edit(work, order.expires_height, "orders", order_id, False)


def _apply_offer(work: _Work, ctx: _Ctx, tx: Transaction, acct: list[int],
                 index: int) -> None:
    body: ResourceOffer = tx.body  # type: ignore[assignment]
    for name in ("cpu_millicores", "mem_mib", "disk_gib", "net_mbps", "capacity",
                 "expires_height"):
        _uint(getattr(body, name), name)
    _amount(body.price_per_block, "price_per_block")
    _amount(body.unit_price, "unit_price")
    if type(body.endpoint) is not str or len(body.endpoint.encode()) > MAX_ENDPOINT:
        raise InvalidTransaction(f"endpoint must be text of at most {MAX_ENDPOINT} bytes")
    if body.capacity < 1:
        raise InvalidTransaction("offer capacity must be at least 1")
    h = ctx.height
    if body.expires_height <= h:
        raise InvalidTransaction(f"offer expires_height {body.expires_height} is not after "
                                 f"this block ({h})")
    provider = tx.sender_pubkey
    paddr = _address(provider)
    if not _index_room(work, paddr):
        raise InvalidTransaction(f"the provider already has {MAX_ACCOUNT_ITEMS} market "
                                 f"offers, orders and leases")
    if _book_len(work, KEY_OFFER_BOOK, OfferBook) >= MAX_BOOK:
        raise InvalidTransaction(f"the offer book is full ({MAX_BOOK} offers)")
    if not _due_room(work, body.expires_height):
        raise InvalidTransaction(f"too many market deadlines at height {body.expires_height}")
    _debit(acct, tx.fee)
    offer_id = tx.id
    offer = Offer(provider, body.cpu_millicores, body.mem_mib, body.disk_gib, body.net_mbps,
                  body.price_per_block, body.unit_price, body.capacity, body.expires_height,
                  body.endpoint, h, index, 0)
    work.put(offer_key(offer_id), offer)
    _book_edit(work, KEY_OFFER_BOOK, OfferBook, (*offer.book_entry, offer_id), True)
    _index_edit(work, paddr, "offers", offer_id, True)
    _due_edit(work, body.expires_height, "offers", offer_id, True)
    # Open orders wait for offers: a new one serves them oldest first while it has room.
    orders: OrderBook | None = work.record(KEY_ORDER_BOOK, OrderBook)
    for _, _, order_id in (orders.entries if orders is not None else ()):
        if offer.active >= offer.capacity:
            break
        order: Order | None = work.record(order_key(order_id), Order)
        if order is None:
            raise _market_corrupt("the order book lists a missing order")
        if h >= order.expires_height:
            continue  # refunded by this very block
        if not _serves(offer, order.cpu_millicores, order.mem_mib, order.disk_gib,
                       order.net_mbps, order.max_price_per_block, h):
            continue
        baddr = _address(order.buyer_pubkey)
        if not _lease_fits(work, offer, baddr, order.deposit, order.duration_blocks, h):
            continue
        _remove_order(work, order_id, order, unschedule=True)
        _open_lease(work, h, order_id, offer_id, offer, order.buyer_pubkey, order.deposit,
                    order.duration_blocks)
        offer = work.record(offer_key(offer_id), Offer)


def _apply_order(work: _Work, ctx: _Ctx, tx: Transaction, acct: list[int],
                 index: int) -> None:
    body: ResourceOrder = tx.body  # type: ignore[assignment]
    for name in ("cpu_millicores", "mem_mib", "disk_gib", "net_mbps", "duration_blocks"):
        _uint(getattr(body, name), name)
    max_price = _amount(body.max_price_per_block, "max_price_per_block")
    deposit = _amount(body.deposit, "deposit")
    if body.duration_blocks < 1:
        raise InvalidTransaction("order duration_blocks must be at least 1")
    if deposit < max_price:
        raise InvalidTransaction(f"deposit {deposit} li does not cover one block at "
                                 f"max_price_per_block {max_price} li")
    buyer = tx.sender_pubkey
    baddr = _address(buyer)
    if not _index_room(work, baddr):
        raise InvalidTransaction(f"the buyer already has {MAX_ACCOUNT_ITEMS} market "
                                 f"offers, orders and leases")
    _debit(acct, tx.fee + deposit)  # escrowed at once
    h = ctx.height
    order_id = tx.id
    match = _best_offer(work, ctx, body, baddr)
    if match is not None:
        offer_id, offer = match
        _open_lease(work, h, order_id, offer_id, offer, buyer, deposit, body.duration_blocks)
        return
    if _book_len(work, KEY_ORDER_BOOK, OrderBook) >= MAX_BOOK:
        raise InvalidTransaction(f"no offer matches and the order book is full "
                                 f"({MAX_BOOK} orders)")
    expires = min(h + body.duration_blocks, MAX_U64)
    if not _due_room(work, expires):
        raise InvalidTransaction(f"no offer matches and there are too many market "
                                 f"deadlines at height {expires}")
    work.put(order_key(order_id),
             Order(buyer, body.cpu_millicores, body.mem_mib, body.disk_gib, body.net_mbps,
                   max_price, body.duration_blocks, deposit, h, index, expires))
    _book_edit(work, KEY_ORDER_BOOK, OrderBook, (h, index, order_id), True)
    _index_edit(work, baddr, "orders", order_id, True)
    _due_edit(work, expires, "orders", order_id, True)


def _live_lease(work: _Work, lease_id: Any) -> Lease:
    if type(lease_id) is not bytes or len(lease_id) != ID_LEN:
        raise InvalidTransaction("lease_id must be 32 bytes")
    lease: Lease | None = work.record(lease_key(lease_id), Lease)
    if lease is None:
        raise InvalidTransaction("unknown lease (never opened, or already closed)")
    return lease


def _apply_lease_close(work: _Work, ctx: _Ctx, tx: Transaction, acct: list[int],
                       index: int) -> None:
    body: LeaseClose = tx.body  # type: ignore[assignment]
    lease = _live_lease(work, body.lease_id)
    if tx.sender_pubkey not in (lease.provider_pubkey, lease.buyer_pubkey):
        raise InvalidTransaction("only the lease's provider or buyer can close it")
    _debit(acct, tx.fee)
    _close_lease(work, body.lease_id, lease, ctx.height, unschedule=True)


def _apply_receipt(work: _Work, ctx: _Ctx, tx: Transaction, acct: list[int],
                   index: int) -> None:
    body: UsageReceipt = tx.body  # type: ignore[assignment]
    lease = _live_lease(work, body.lease_id)
    if tx.sender_pubkey != lease.provider_pubkey:
        raise InvalidTransaction("only the lease's provider submits its usage receipts")
    units = _uint(body.units, "units")
    seq = _uint(body.seq, "seq")
    if seq <= lease.last_seq:
        raise InvalidTransaction(f"receipt seq {seq} is not after the last billed "
                                 f"({lease.last_seq})")
    if type(body.buyer_sig) is not bytes or len(body.buyer_sig) != SIG_LEN:
        raise InvalidTransaction("buyer_sig must be 64 bytes")
    # Always checked, also when a proposer builds without checking signatures: the buyer's
    # signature depends on the lease in the state, so no stateless check before the block
    # could catch a forged receipt, and a block holding one would be refused by everyone.
    if not verify_receipt(lease.buyer_pubkey, ctx.chain_id, body):
        raise InvalidTransaction("the receipt is not signed by the lease's buyer")
    h = ctx.height
    settled, pay = settled_at(lease, h)
    bill = min(units * settled.unit_price, settled.escrow)
    escrow = settled.escrow - bill
    new_end = lease_end(settled.duration_end, h, escrow, settled.price_per_block)
    old_end = lease.end
    if new_end != old_end and not _due_room(work, new_end):
        raise InvalidTransaction(f"too many market deadlines at height {new_end}")
    _debit(acct, tx.fee)
    _credit_market(work, lease.provider_pubkey, pay + bill)
    lease = replace(settled, escrow=escrow, paid=settled.paid + bill, last_seq=seq,
                    end=new_end)
    work.put(lease_key(body.lease_id), lease)
    if new_end != old_end:
        _due_edit(work, old_end, "leases", body.lease_id, False)
        _due_edit(work, new_end, "leases", body.lease_id, True)


def _apply_offer_cancel(work: _Work, ctx: _Ctx, tx: Transaction, acct: list[int],
                        index: int) -> None:
    body: OfferCancel = tx.body  # type: ignore[assignment]
    oid = body.offer_id
    if type(oid) is not bytes or len(oid) != ID_LEN:
        raise InvalidTransaction("offer_id must be 32 bytes")
    offer: Offer | None = work.record(offer_key(oid), Offer)
    if offer is None:
        raise InvalidTransaction("unknown offer (never made, expired or cancelled)")
    if tx.sender_pubkey != offer.provider_pubkey:
        raise InvalidTransaction("only the offer's provider can cancel it")
    _debit(acct, tx.fee)
    _remove_offer(work, oid, offer, unschedule=True)


def _market_step(work: _Work, height: int) -> None:
    """Deadlines of this block, after its transactions: leases whose end is this height are
    settled and closed, open orders that expire now are refunded, offers that expire now are
    removed, in that order, each list by id. One key read when nothing is due."""
    key = market_due_key(height)
    due: MarketDue | None = work.record(key, MarketDue)
    if due is None:
        return
    for lid in due.leases:
        lease: Lease | None = work.record(lease_key(lid), Lease)
        if lease is None or lease.end != height:
            raise _market_corrupt("the market deadline index does not match a lease")
        _close_lease(work, lid, lease, height, unschedule=False)
    for oid in due.orders:
        order: Order | None = work.record(order_key(oid), Order)
        if order is None or order.expires_height != height:
            raise _market_corrupt("the market deadline index does not match an order")
        _remove_order(work, oid, order, unschedule=False)
        _credit_market(work, order.buyer_pubkey, order.deposit)
    for fid in due.offers:
        offer: Offer | None = work.record(offer_key(fid), Offer)
        if offer is None or offer.expires_height != height:
            raise _market_corrupt("the market deadline index does not match an offer")
        _remove_offer(work, fid, offer, unschedule=False)
    work.put(key, None)


_Handler = Callable[[_Work, _Ctx, Transaction, list[int], int], None]

_HANDLERS: dict[type[Body], _Handler] = {
    Transfer: _apply_transfer,
    TrusteeJoin: _apply_trustee_join,
    TrusteeLeave: _apply_trustee_leave,
    Evidence: _apply_evidence,
    ResourceOffer: _apply_offer,
    ResourceOrder: _apply_order,
    LeaseClose: _apply_lease_close,
    UsageReceipt: _apply_receipt,
    OfferCancel: _apply_offer_cancel,
}
TX_HANDLERS: Mapping[type[Body], _Handler] = MappingProxyType(_HANDLERS)
"""One handler per body type: the single place where a transaction kind is enabled."""


_SIG_TAIL = 2 + SIG_LEN  # a 64-byte CBOR byte string: head 0x58 0x40, then the signature


def _tx_signing_bytes(tx: Transaction, ctx: _Ctx) -> bytes:
    """``tx.signing_bytes()``, cut out of the encoding the payload root already computed.

    The envelope is ``[1, chain_id, kind, sender, nonce, fee, body, sig]`` and the signed
    array is ``[1, kind, sender, nonce, fee, body]``: the same encoded items minus the chain
    id and the signature, under a 6-item head. Canonical CBOR being a concatenation of its
    items' encodings, this slice is exact; anything unusual falls back to re-encoding.
    """
    encoded = tx.encoded
    start = 2 + len(ctx.chain_prefix)
    if (len(tx.sig) == SIG_LEN and encoded[0] == 0x88 and encoded[1] == 0x01
            and encoded[2:start] == ctx.chain_prefix and len(encoded) > start + _SIG_TAIL):
        return TAG_TX + ctx.chain_prefix + b"\x86\x01" + encoded[start:-_SIG_TAIL]
    return tx.signing_bytes()


def _apply_tx(work: _Work, ctx: _Ctx, tx: Transaction, index: int) -> None:
    """Check and apply one transaction; cheap checks first, the signature last."""
    if tx.chain_id != ctx.chain_id:
        raise InvalidTransaction(f"chain id {tx.chain_id!r} is not {ctx.chain_id!r}")
    fee = tx.fee
    if type(fee) is not int or fee < ctx.min_fee or fee > MAX_AMOUNT:
        raise InvalidTransaction(f"fee {fee!r} is below min_fee {ctx.min_fee} li or invalid")
    handler = _HANDLERS.get(type(tx.body))
    if handler is None:
        raise InvalidTransaction(f"unknown transaction body {type(tx.body).__name__}")
    acct = work.account(_address(tx.sender_pubkey))
    nonce = tx.nonce
    if nonce != acct[1]:
        if type(nonce) is int and nonce < acct[1]:
            raise InvalidTransaction(f"nonce {nonce} was already used (next is {acct[1]})")
        raise InvalidTransaction(f"nonce {nonce!r} is out of order (next is {acct[1]})")
    if nonce >= MAX_U64:
        raise InvalidTransaction("nonce space exhausted")
    # A transaction id hashes the whole canonical encoding, signature included, so an id
    # the caller verified names exactly these signing bytes, this key and this signature.
    if (ctx.verify and (ctx.verified is None or tx.id not in ctx.verified)
            and not verify(tx.sender_pubkey, tx.sig, _tx_signing_bytes(tx, ctx))):
        raise InvalidTransaction("bad signature")
    handler(work, ctx, tx, acct, index)
    ctx.fees += fee


def check_transaction(state: StateReader, genesis: Genesis, tx: Transaction, height: int,
                      *, nonce_ahead: int = 0, verify_signatures: bool = True) -> None:
    """Whether ``tx`` would apply as the first transaction of block ``height``.

    For the mempool. ``nonce_ahead`` lets a sender queue up to that many transactions past
    its next nonce; they are checked against its current balance, and the block builder
    re-checks them in order.
    """
    work = _Work(state)
    ctx = _Ctx(genesis, height, verify_signatures)
    if nonce_ahead > 0 and type(tx.nonce) is int:
        acct = work.account(_address(tx.sender_pubkey))
        if acct[1] < tx.nonce <= acct[1] + nonce_ahead:
            acct[1] = tx.nonce
    _apply_tx(work, ctx, tx, 0)


# --- blocks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockResult:
    diff: StateDiff
    block_id: bytes
    height: int
    fees: int
    """All transaction fees, paid to the winner."""
    subsidy: int
    """Minted by this block."""
    rewards: Mapping[bytes, int]
    """Address -> li this block credited as rewards: subsidy shares (winner, sponsor,
    payroll), fees (to the winner), and the parent's trustee reward (to its signers)."""
    trustee_reward_paid: int
    trustee_reward_pending: int
    """This block's trustee share, to be paid by the next block."""
    burned: int
    """Burned by this block: rounding leftovers, an empty payroll, half of each slash."""
    slashed: int
    bonds_returned: Mapping[bytes, int]
    epoch_boundary: bool
    active_trustees: tuple[bytes, ...]
    """The set that votes on the next block."""
    pow_difficulty: int
    """The proof-of-work difficulty in effect for the next block (after any retarget)."""


def _cbor_head_len(n: int) -> int:
    return 1 if n < 24 else 2 if n < 256 else 3 if n < 65536 else 5 if n < 1 << 32 else 9


def block_size(block: Block) -> int:
    """The length of ``block.encode()``, from the cached encodings of its parts.

    A CBOR array is its head followed by its items' encodings, so this is exact, and it
    reuses the transaction encodings that the payload root needs anyway.
    """
    cached = block.__dict__.get("encoded")
    if cached is not None:
        return len(cached)
    size = 2 + len(block.header.encoded)  # array(5) head + the type integer 6
    size += _cbor_head_len(len(block.payload)) + sum(len(tx.encoded) for tx in block.payload)
    size += _cbor_head_len(len(block.payroll)) + sum(len(t.encoded) for t in block.payroll)
    size += 1 if block.last_commit is None else len(block.last_commit.encoded)
    return size


def verify_commit_certificate(cert: CommitCertificate, chain_id: str, height: int,
                              block_id: bytes, voters: Iterable[bytes], *,
                              verify_signatures: bool = True) -> None:
    """Raise InvalidBlock unless ``cert`` holds a quorum of valid precommits by ``voters``
    for ``block_id`` at ``height``."""
    voter_set = set(voters)
    if not voter_set:
        raise InvalidBlock("certificate: there are no trustees to certify a block")
    if cert.height != height:
        raise InvalidBlock(f"certificate: height {cert.height}, expected {height}")
    if cert.block_id != block_id:
        raise InvalidBlock("certificate: certifies another block")
    seen: set[bytes] = set()
    for s in cert.sigs:
        if s.trustee_pubkey not in voter_set:
            raise InvalidBlock("certificate: a signer is not in the voting trustee set")
        if s.trustee_pubkey in seen:
            raise InvalidBlock("certificate: a trustee signs twice")
        seen.add(s.trustee_pubkey)
    q = quorum(len(voter_set))
    if len(seen) < q:
        raise InvalidBlock(f"certificate: {len(seen)} signatures, quorum is {q}")
    if verify_signatures:
        for vote in cert.votes(chain_id):
            if not vote.verify_sig():
                raise InvalidBlock("certificate: a precommit signature does not verify")


def _check_header(state: StateReader, genesis: Genesis, block: Block, verify: bool) -> Tip:
    h = block.header
    if h.chain_id != genesis.chain_id:
        raise InvalidBlock(f"chain id {h.chain_id!r} is not {genesis.chain_id!r}")
    tip = read_tip(state)
    if tip is None:
        raise InvalidBlock("the state holds no genesis")
    if h.height != tip.height + 1:
        raise InvalidBlock(f"height {h.height} does not follow the tip {tip.height}")
    if h.parent_id != tip.block_id:
        raise InvalidBlock("parent_id is not the tip's block id")
    if tip.cycle is None:
        if h.time_ms < tip.time_ms:
            raise InvalidBlock("time_ms is before the genesis time")
    else:
        if h.cycle <= tip.cycle:
            raise InvalidBlock(f"cycle {h.cycle} is not after the parent's {tip.cycle}")
        if h.time_ms <= tip.time_ms:
            raise InvalidBlock("time_ms is not after the parent's")
    size = block_size(block)
    if size > genesis.params.max_block_bytes:
        raise InvalidBlock(f"block of {size} bytes exceeds max_block_bytes")
    wrong = block.roots_match()
    if wrong is not None:
        raise InvalidBlock(wrong)
    t = h.winner_ticket
    if (t.chain_id, t.height, t.cycle, t.parent_id) != (h.chain_id, h.height, h.cycle,
                                                        h.parent_id):
        raise InvalidBlock("the winner ticket is not for this chain, height, cycle and parent")
    if h.proposer_pubkey != t.sponsor_pubkey:
        raise InvalidBlock("the proposer is not the winner ticket's sponsor")
    if len(block.payroll) > genesis.params.diameter - 1:
        raise InvalidBlock(f"payroll holds more than diameter - 1 = "
                           f"{genesis.params.diameter - 1} tickets")
    miners = {t.miner_pubkey}
    for p in block.payroll:
        if (p.chain_id, p.height, p.cycle, p.parent_id) != (t.chain_id, t.height, t.cycle,
                                                            t.parent_id):
            raise InvalidBlock("a payroll ticket is not from the winner's draw")
        if p.miner_pubkey in miners:
            raise InvalidBlock("a miner appears twice among the winner and the payroll")
        miners.add(p.miner_pubkey)
    if verify:
        if not h.verify_sig():
            raise InvalidBlock("bad proposer signature")
        if not t.verify_sig():
            raise InvalidBlock("bad winner ticket signature")
        for p in block.payroll:
            if not p.verify_sig():
                raise InvalidBlock("bad payroll ticket signature")
    return tip


def _credit_block(work: _Work, rewards: dict[bytes, int], address: bytes, amount: int) -> None:
    if amount == 0:
        return
    acct = work.account(address)
    if acct[0] + amount > MAX_AMOUNT:
        raise InvalidBlock("a reward would push a balance past 2^63 - 1 li")
    acct[0] += amount
    rewards[address] = rewards.get(address, 0) + amount


def apply_block(state: StateReader, acc: bytes, genesis: Genesis, block: Block, *,
                check_state_root: bool = True, verify_signatures: bool = True,
                verified_txs: Container[bytes] | None = None) -> BlockResult:
    """Validate ``block`` on ``state`` (whose accumulator is ``acc``) and return its effect.

    Order: header and body checks, the parent's certificate, the transactions in order,
    the market's deadlines (SPEC 6), rewards, the lineup (SPEC 5), epoch processing at a
    boundary, the proof-of-work step (this block's time-tie estimate; the retarget at a
    boundary), then the state root.
    Raises InvalidBlock (and changes nothing) on any failure; a refused transaction raises
    :class:`InvalidTransactionInBlock`, which carries its index.

    ``verified_txs`` holds ids of transactions whose signature the caller has verified
    already (a node's mempool did at admission): their signature is not checked again,
    which is most of the cost of a block. Everything else about them is, and so are the
    header, ticket, certificate and Evidence vote signatures. The result does not depend
    on it, as long as every id in it really was verified.
    """
    h = block.header
    tip = _check_header(state, genesis, block, verify_signatures)
    height = h.height
    work = _Work(state)
    active: TrusteeList = work.record(KEY_ACTIVE, TrusteeList) or TrusteeList()
    prev_active: TrusteeList = work.record(KEY_PREV_ACTIVE, TrusteeList) or TrusteeList()
    cert = block.last_commit
    if height == 1:
        if cert is not None:
            raise InvalidBlock("block 1 has no parent block to certify")
    elif cert is None:
        raise InvalidBlock("last_commit is required from height 2 on")
    else:
        verify_commit_certificate(cert, genesis.chain_id, tip.height, tip.block_id,
                                  prev_active.pubkeys, verify_signatures=verify_signatures)

    ctx = _Ctx(genesis, height, verify_signatures, verified_txs)
    apply_tx = _apply_tx
    for i, tx in enumerate(block.payload):
        try:
            apply_tx(work, ctx, tx, i)
        except InvalidTransaction as exc:
            raise InvalidTransactionInBlock(i, str(exc)) from None
    _market_step(work, height)

    # rewards (SPEC 5)
    rewards: dict[bytes, int] = {}
    minted = subsidy(genesis.params, height)
    split = split_subsidy(minted)
    burned = ctx.burned + split.burned
    t = h.winner_ticket
    _credit_block(work, rewards, _address(t.miner_pubkey), split.winner + ctx.fees)
    _credit_block(work, rewards, _address(t.sponsor_pubkey), split.sponsor)
    each, rest = equal_shares(split.payroll, len(block.payroll))
    burned += rest
    for p in block.payroll:
        _credit_block(work, rewards, _address(p.miner_pubkey), each)
    pending: PendingReward = work.record(KEY_PENDING, PendingReward) or PendingReward()
    signers = cert.signers if cert is not None else []
    each, rest = equal_shares(pending.amount, len(signers))
    burned += rest
    for pk in signers:
        _credit_block(work, rewards, _address(pk), each)
    work.put(KEY_PENDING, PendingReward(height, split.trustees))

    _lineup_step(work, genesis.params, block, height)

    # epoch boundary (SPEC 4)
    boundary = height % genesis.params.epoch_blocks == 0
    returned: dict[bytes, int] = {}
    new_active = _epoch(work, genesis.params, height, returned) if boundary else active
    difficulty = _pow_step(work, genesis.params, block, height, boundary)

    supply: Supply = work.record(KEY_SUPPLY, Supply) or Supply(0)
    work.put(KEY_SUPPLY, Supply(supply.genesis, supply.minted + minted,
                                supply.burned + burned, supply.slashed + ctx.slashed))
    work.put(KEY_PREV_ACTIVE, active)
    work.put(KEY_ACTIVE, new_active)
    work.put(KEY_TIP, Tip(height, b"", h.cycle, h.time_ms))
    work.put(KEY_TIP_ID, BlockIdRecord(block.id))
    diff = work.finish(acc)
    if check_state_root and diff.root != h.state_root:
        raise InvalidBlock("state_root does not match the state after the block")
    return BlockResult(
        diff=diff, block_id=block.id, height=height, fees=ctx.fees, subsidy=minted,
        rewards=MappingProxyType(rewards), trustee_reward_paid=pending.amount - rest,
        trustee_reward_pending=split.trustees, burned=burned, slashed=ctx.slashed,
        bonds_returned=MappingProxyType(returned), epoch_boundary=boundary,
        active_trustees=new_active.pubkeys, pow_difficulty=difficulty)


def _lineup_corrupt() -> InvalidBlock:
    return InvalidBlock("corrupt ledger state: the lineup expiry index does not match "
                        "its entries")


def _lineup_step(work: _Work, params: ChainParams, block: Block, height: int) -> None:
    """SPEC 5 lineup duty: expire the duties that end with this block, then line up this
    block's payroll until ``height + lineup_blocks``.

    Runs after the transactions, so the block's own transactions (market matching) see
    the lineup of the blocks before it. Every live entry expires after the
    tip, so the only bucket due is this height's: pruning costs what expires, not the size
    of the lineup. A miner already lined up is moved to the new bucket (its ``until`` is
    always the later one), with the sponsor and ``since`` of this payroll.
    """
    due_key = lineup_expiry_key(height)
    due: LineupBucket | None = work.record(due_key, LineupBucket)
    if due is not None:
        for miner in due.miners:
            key = lineup_key(miner)
            entry: LineupEntry | None = work.record(key, LineupEntry)
            if entry is None or entry.until != height:
                raise _lineup_corrupt()
            work.put(key, None)
        work.put(due_key, None)
    if params.lineup_blocks == 0 or not block.payroll:
        return
    until = min(height + params.lineup_blocks, MAX_U64)
    for p in block.payroll:
        miner = p.miner_pubkey
        key = lineup_key(miner)
        old: LineupEntry | None = work.record(key, LineupEntry)
        if old is not None and old.until != until:
            if old.until > until:
                raise _lineup_corrupt()
            old_key = lineup_expiry_key(old.until)
            bucket: LineupBucket | None = work.record(old_key, LineupBucket)
            if bucket is None or miner not in bucket.miners:
                raise _lineup_corrupt()
            rest = tuple(m for m in bucket.miners if m != miner)
            work.put(old_key, LineupBucket(rest) if rest else None)
        work.put(key, LineupEntry(miner, p.sponsor_pubkey, height, until))
    new_key = lineup_expiry_key(until)
    current: LineupBucket | None = work.record(new_key, LineupBucket)
    members = (*(current.miners if current is not None else ()),
               *(p.miner_pubkey for p in block.payroll))
    work.put(new_key, LineupBucket.of(members))
    work.put(KEY_LINEUP_HORIZON, LineupHorizon(until))


def _pow_step(work: _Work, params: ChainParams, block: Block, height: int,
              boundary: bool) -> int:
    """Record this block's time-tie estimate; at a boundary, retarget and start afresh.

    The estimate is saturated at ``4 * diameter``. That changes no retarget: the result is
    monotone in the median and already capped at x2 once the median reaches
    ``2 * diameter``, and a median (even one averaging a capped and an uncapped middle
    value, (a + 4d) // 2 >= 2d) of saturated values reaches that exactly when the raw one
    does. It keeps the record a few dozen bytes instead of 2^256-sized integers.
    Returns the difficulty in effect for the next block.
    """
    rec: PowState | None = work.record(KEY_POW, PowState)
    if rec is None:
        raise InvalidBlock("corrupt ledger state: no proof-of-work record")
    if len(rec.estimates) != (height - 1) % params.epoch_blocks:
        raise InvalidBlock("corrupt ledger state: proof-of-work estimates do not match "
                           "the height")
    d = params.diameter
    t = block.header.winner_ticket
    estimate = min(time_ties_estimate(t, block.payroll, d), ESTIMATE_CAP_DIAMETERS * d)
    estimates = (*rec.estimates, estimate)
    if boundary:
        rec = PowState(retarget(rec.difficulty, median_int(estimates), d, MIN_POW_DIFFICULTY))
    else:
        rec = PowState(rec.difficulty, estimates)
    work.put(KEY_POW, rec)
    return rec.difficulty


def _epoch(work: _Work, params: ChainParams, height: int,
           returned: dict[bytes, int]) -> TrusteeList:
    """Boundary processing: leavers start unbonding, due bonds return, slashed trustees
    drop out, and the active set is chosen afresh among the bonded."""
    epoch = height // params.epoch_blocks
    idx: TrusteeList = work.record(KEY_TRUSTEE_INDEX, TrusteeList) or TrusteeList()
    keep: list[bytes] = []
    candidates: list[Trustee] = []
    for pk in idx.pubkeys:
        key = trustee_key(pk)
        rec: Trustee = work.record(key, Trustee)
        if rec.status == SLASHED:
            continue  # record kept (no rejoin, no second slash) but no longer indexed
        if rec.status == LEAVING:
            rec = replace(rec, status=UNBONDING, release_epoch=epoch + params.unbond_epochs)
            work.put(key, rec)
        if rec.status == UNBONDING and epoch >= rec.release_epoch:
            address = _address(pk)
            _credit_block(work, returned, address, rec.bond)
            work.put(key, None)
            continue
        keep.append(pk)
        if rec.status == BONDED:
            candidates.append(rec)
    candidates.sort(key=lambda r: r.rank_key)
    work.put(KEY_TRUSTEE_INDEX, TrusteeList.of(keep))
    return TrusteeList.of(r.pubkey for r in candidates[: params.max_trustees])


# --- genesis ------------------------------------------------------------------------------


def genesis_diff(genesis: Genesis) -> StateDiff:
    """The state of height 0, from an empty state."""
    empty = MemoryState()
    work = _Work(empty)
    for a in genesis.allocations:
        acct = work.account(a.address)
        acct[0] += a.amount
    for i, gt in enumerate(genesis.trustees):
        work.put(trustee_key(gt.pubkey),
                 Trustee(gt.pubkey, gt.bond, gt.multiaddr, BONDED, 0, i, 0))
    ranked = sorted(genesis.trustees, key=lambda gt: -gt.bond)  # stable: list order breaks ties
    work.put(KEY_TRUSTEE_INDEX, TrusteeList.of(gt.pubkey for gt in genesis.trustees))
    work.put(KEY_ACTIVE, TrusteeList.of(gt.pubkey
                                        for gt in ranked[: genesis.params.max_trustees]))
    work.put(KEY_PREV_ACTIVE, TrusteeList())
    total = sum(a.amount for a in genesis.allocations) + sum(t.bond for t in genesis.trustees)
    work.put(KEY_SUPPLY, Supply(total))
    work.put(KEY_PENDING, PendingReward(0, 0))
    work.put(KEY_POW, PowState(genesis.params.pow_difficulty))
    work.put(KEY_TIP, Tip(0, b"", None, genesis.genesis_time_ms))
    work.put(KEY_TIP_ID, BlockIdRecord(genesis.id))
    return work.finish(EMPTY_ACC)


# --- reads --------------------------------------------------------------------------------


_R = TypeVar("_R", bound=Record)


def _read(state: StateReader, key: bytes, cls: type[_R]) -> _R | None:
    raw = state.get(key)
    return None if raw is None else cls.decode(raw)


def read_account(state: StateReader, address: bytes) -> Account:
    return _read(state, account_key(address), Account) or Account()


def read_tip(state: StateReader) -> Tip | None:
    tip: Tip | None = _read(state, KEY_TIP, Tip)
    if tip is None:
        return None
    rec: BlockIdRecord | None = _read(state, KEY_TIP_ID, BlockIdRecord)
    return replace(tip, block_id=b"" if rec is None else rec.block_id)


def read_trustee(state: StateReader, pubkey: bytes) -> Trustee | None:
    return _read(state, trustee_key(pubkey), Trustee)


def read_trustees(state: StateReader) -> list[Trustee]:
    """Every indexed trustee (bonded, leaving or unbonding), by public key."""
    idx: TrusteeList = _read(state, KEY_TRUSTEE_INDEX, TrusteeList) or TrusteeList()
    return [t for pk in idx.pubkeys if (t := read_trustee(state, pk)) is not None]


def active_trustees(state: StateReader) -> list[bytes]:
    """The trustees that vote on the next block, sorted by public key."""
    return list((_read(state, KEY_ACTIVE, TrusteeList) or TrusteeList()).pubkeys)


def prev_active_trustees(state: StateReader) -> list[bytes]:
    """The trustees that voted on the tip block (the signers allowed in the next
    block's ``last_commit``)."""
    return list((_read(state, KEY_PREV_ACTIVE, TrusteeList) or TrusteeList()).pubkeys)


def total_supply(state: StateReader) -> Supply:
    return _read(state, KEY_SUPPLY, Supply) or Supply(0)


def read_pending_reward(state: StateReader) -> PendingReward:
    return _read(state, KEY_PENDING, PendingReward) or PendingReward()


def read_pow_state(state: StateReader) -> PowState | None:
    """Difficulty in effect and the current epoch's time-tie estimates (None: no genesis)."""
    rec: PowState | None = _read(state, KEY_POW, PowState)
    return rec


def read_pow_difficulty(state: StateReader) -> int:
    """The proof-of-work difficulty every ticket for the next height must meet."""
    rec = read_pow_state(state)
    if rec is None:
        raise InvalidBlock("the state holds no proof-of-work record (no genesis?)")
    return rec.difficulty


def read_lineup_entry(state: StateReader, miner_pubkey: bytes) -> LineupEntry | None:
    """The lineup duty of ``miner_pubkey`` after the tip, or None if it is not lined up."""
    return _read(state, lineup_key(miner_pubkey), LineupEntry)


def read_lineup(state: StateReader) -> list[LineupEntry]:
    """Every miner lined up after the tip (SPEC 5), latest ``until`` first, then by key.

    Walks the expiry buckets from the horizon down to the tip: at most ``lineup_blocks``
    reads plus one per entry, with nothing but ``get`` (an overlay or a snapshot serves).
    """
    tip = _read(state, KEY_TIP, Tip)
    horizon: LineupHorizon | None = _read(state, KEY_LINEUP_HORIZON, LineupHorizon)
    if tip is None or horizon is None:
        return []
    out: list[LineupEntry] = []
    for until in range(horizon.until, tip.height, -1):
        bucket: LineupBucket | None = _read(state, lineup_expiry_key(until), LineupBucket)
        if bucket is None:
            continue
        for miner in bucket.miners:
            entry = read_lineup_entry(state, miner)
            if entry is None or entry.until != until:
                raise DecodeError("corrupt ledger state: the lineup expiry index does not "
                                  "match its entries")
            out.append(entry)
    return out


@dataclass(frozen=True)
class SupplyAudit:
    balances: int
    bonds: int
    pending: int
    expected: int
    """genesis + minted - burned, from the supply counters."""
    escrow: int = 0
    """Held by the market: open orders' deposits and active leases' escrow."""

    @property
    def held(self) -> int:
        return self.balances + self.bonds + self.pending + self.escrow

    @property
    def ok(self) -> bool:
        return self.held == self.expected


def audit_supply(items: Iterable[tuple[bytes, bytes]]) -> SupplyAudit:
    """Sum every holding in a whole state: balances, bonds, the pending trustee reward and
    the market's escrow (a full pass: for tests and checks, not per block)."""
    balances = bonds = pending = escrow = 0
    expected = 0
    for key, value in items:
        prefix = key[:1]
        if prefix == PREFIX_ACCOUNT:
            balances += Account.decode(value).balance
        elif prefix == PREFIX_TRUSTEE:
            bonds += Trustee.decode(value).bond
        elif prefix == PREFIX_ORDER:
            escrow += Order.decode(value).deposit
        elif prefix == PREFIX_LEASE:
            escrow += Lease.decode(value).escrow
        elif prefix == PREFIX_GLOBAL:
            if key == KEY_PENDING:
                pending += PendingReward.decode(value).amount
            elif key == KEY_SUPPLY:
                expected = Supply.decode(value).total
    return SupplyAudit(balances, bonds, pending, expected, escrow)


__all__ = [
    "ESTIMATE_CAP_DIAMETERS",
    "MIN_POW_DIFFICULTY",
    "TX_HANDLERS",
    "BlockResult",
    "InvalidTransactionInBlock",
    "SupplyAudit",
    "active_trustees",
    "apply_block",
    "audit_supply",
    "block_size",
    "check_transaction",
    "genesis_diff",
    "make_diff",
    "prev_active_trustees",
    "quorum",
    "read_account",
    "read_lineup",
    "read_lineup_entry",
    "read_pending_reward",
    "read_pow_difficulty",
    "read_pow_state",
    "read_tip",
    "read_trustee",
    "read_trustees",
    "total_supply",
    "verify_commit_certificate",
]
