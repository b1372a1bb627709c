"""The resource market's pure side (SPEC 6): receipt signatures, settlement arithmetic and
read helpers over a ledger state.

The ledger (``ledger.py``) applies the market's transactions; everything here is shared with
the CLI, the API and the services, which must sign receipts, show what a lease owes, and
list offers, orders and leases exactly as the ledger will judge them. It only reads: every
helper takes a :class:`~daoli.core.state.StateReader` (an overlay or a snapshot serves).
docs/protocol.md §7 "Resource market" is the normative text.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from daoli.core.crypto import TAG_RECEIPT, sign, signing_bytes, verify
from daoli.core.ledger_types import (
    KEY_OFFER_BOOK,
    KEY_ORDER_BOOK,
    Lease,
    MarketDue,
    MarketIndex,
    Offer,
    OfferBook,
    Order,
    OrderBook,
    Record,
    lease_key,
    market_due_key,
    market_index_key,
    offer_key,
    order_key,
)
from daoli.core.state import StateReader
from daoli.core.tx import (
    ResourceOrder,
    Transaction,
    Transfer,
    TrusteeJoin,
    UsageReceipt,
)

# --- usage receipts ---------------------------------------------------------------------------


def receipt_signing_bytes(chain_id: str, lease_id: bytes, units: int, seq: int) -> bytes:
    """What the buyer signs to acknowledge ``units`` of use under receipt number ``seq``:
    ``b"daoli/receipt/v1" || CBOR(chain_id) || CBOR([8, lease_id, units, seq])``.

    The tag keeps a receipt signature from ever being a transaction or vote signature; the
    chain id keeps it on one chain; the lease id on one lease; and the ledger takes each
    ``seq`` once per lease (strictly increasing), so a provider cannot bill it twice.
    """
    return signing_bytes(TAG_RECEIPT, chain_id, [UsageReceipt.KIND, lease_id, units, seq])


def sign_receipt(buyer_secret: bytes, chain_id: str, lease_id: bytes, units: int,
                 seq: int) -> bytes:
    """The buyer's 64-byte signature over :func:`receipt_signing_bytes`."""
    return sign(buyer_secret, receipt_signing_bytes(chain_id, lease_id, units, seq))


def make_receipt(buyer_secret: bytes, chain_id: str, lease_id: bytes, units: int,
                 seq: int) -> UsageReceipt:
    """A UsageReceipt body signed by the buyer, for the provider to submit."""
    return UsageReceipt(lease_id, units, seq,
                        sign_receipt(buyer_secret, chain_id, lease_id, units, seq))


def verify_receipt(buyer_pubkey: bytes, chain_id: str, receipt: UsageReceipt) -> bool:
    """Whether ``receipt.buyer_sig`` is the buyer's signature of this receipt on this chain."""
    return verify(buyer_pubkey, receipt.buyer_sig,
                  receipt_signing_bytes(chain_id, receipt.lease_id, receipt.units, receipt.seq))


# --- settlement arithmetic ----------------------------------------------------------------


def lease_end(duration_end: int, settled: int, escrow: int, price_per_block: int) -> int:
    """The height whose block settles and closes a lease: its duration's end, or the last
    block its escrow still pays for, whichever comes first (a free lease only by duration)."""
    if price_per_block == 0:
        return duration_end
    return min(duration_end, settled + escrow // price_per_block)


def owed_at(lease: Lease, height: int) -> int:
    """What the lease owes its provider for the blocks after ``settled`` up to ``height``
    (never past ``end``), capped by its escrow."""
    blocks = max(0, min(height, lease.end) - lease.settled)
    return min(lease.price_per_block * blocks, lease.escrow)


def settled_at(lease: Lease, height: int) -> tuple[Lease, int]:
    """The lease settled up to ``height`` and the amount that moved to the provider.

    This is the lazy settlement the ledger performs when a lease is touched; an API calls it
    to show a lease "as of now" without writing anything.
    """
    pay = owed_at(lease, height)
    upto = max(lease.settled, min(height, lease.end))
    return replace(lease, escrow=lease.escrow - pay, paid=lease.paid + pay, settled=upto), pay


def max_spend(tx: Transaction) -> int:
    """The most a transaction can take from its sender's balance: fee plus amount, bond or
    deposit (a ResourceOrder escrows its deposit at once); every other kind just the fee.

    For admission policies that estimate what a sender can pay; the ledger decides.
    """
    body = tx.body
    if isinstance(body, Transfer):
        return tx.fee + body.amount
    if isinstance(body, TrusteeJoin):
        return tx.fee + body.bond
    if isinstance(body, ResourceOrder):
        return tx.fee + body.deposit
    return tx.fee


# --- reads ----------------------------------------------------------------------------------

_R = TypeVar("_R", bound=Record)


def _read(state: StateReader, key: bytes, cls: type[_R]) -> _R | None:
    raw = state.get(key)
    return None if raw is None else cls.decode(raw)


def read_offer(state: StateReader, offer_id: bytes) -> Offer | None:
    """A live offer (None once cancelled, expired, or never made)."""
    return _read(state, offer_key(offer_id), Offer)


def read_order(state: StateReader, order_id: bytes) -> Order | None:
    """An open order (None once matched, which made lease ``order_id``, or refunded)."""
    return _read(state, order_key(order_id), Order)


def read_lease(state: StateReader, lease_id: bytes) -> Lease | None:
    """An active lease as last settled (None once closed); see :func:`settled_at`."""
    return _read(state, lease_key(lease_id), Lease)


def read_offers(state: StateReader) -> list[tuple[bytes, Offer]]:
    """Every live offer with its id, in book order: cheapest, then oldest, then lowest id."""
    book = _read(state, KEY_OFFER_BOOK, OfferBook)
    out: list[tuple[bytes, Offer]] = []
    for *_, oid in (book.entries if book is not None else ()):
        offer = read_offer(state, oid)
        if offer is not None:
            out.append((oid, offer))
    return out


def read_orders(state: StateReader) -> list[tuple[bytes, Order]]:
    """Every open order with its id, oldest first."""
    book = _read(state, KEY_ORDER_BOOK, OrderBook)
    out: list[tuple[bytes, Order]] = []
    for *_, oid in (book.entries if book is not None else ()):
        order = read_order(state, oid)
        if order is not None:
            out.append((oid, order))
    return out


def read_market_index(state: StateReader, address: bytes) -> MarketIndex:
    """The ids of an account's live offers, open orders and leases (both roles)."""
    return _read(state, market_index_key(address), MarketIndex) or MarketIndex()


def offers_of(state: StateReader, address: bytes) -> list[tuple[bytes, Offer]]:
    return [(i, o) for i in read_market_index(state, address).offers
            if (o := read_offer(state, i)) is not None]


def orders_of(state: StateReader, address: bytes) -> list[tuple[bytes, Order]]:
    return [(i, o) for i in read_market_index(state, address).orders
            if (o := read_order(state, i)) is not None]


def leases_of(state: StateReader, address: bytes) -> list[tuple[bytes, Lease]]:
    """Active leases where ``address`` is the provider or the buyer, by lease id."""
    return [(i, le) for i in read_market_index(state, address).leases
            if (le := read_lease(state, i)) is not None]


def read_market_due(state: StateReader, height: int) -> MarketDue | None:
    """What block ``height`` will settle, refund and remove (None: nothing)."""
    return _read(state, market_due_key(height), MarketDue)


__all__ = [
    "lease_end",
    "leases_of",
    "make_receipt",
    "max_spend",
    "offers_of",
    "orders_of",
    "owed_at",
    "read_lease",
    "read_market_due",
    "read_market_index",
    "read_offer",
    "read_offers",
    "read_order",
    "read_orders",
    "receipt_signing_bytes",
    "settled_at",
    "sign_receipt",
    "verify_receipt",
]
