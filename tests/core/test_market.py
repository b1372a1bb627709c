"""Unit tests for the resource market in the ledger (SPEC 6, docs/protocol.md §7 "Resource
market"): every rule and every rejection, each checked against exact balances."""

from __future__ import annotations

import pytest

from daoli.core.ledger import audit_supply, check_transaction, read_account
from daoli.core.ledger_types import (
    KEY_OFFER_BOOK,
    KEY_ORDER_BOOK,
    PREFIX_LEASE,
    PREFIX_MARKET_DUE,
    PREFIX_MARKET_INDEX,
    PREFIX_OFFER,
    PREFIX_ORDER,
    Lease,
    MarketDue,
    Offer,
    OfferBook,
    Order,
    market_due_key,
)
from daoli.core.market import (
    leases_of,
    make_receipt,
    max_spend,
    offers_of,
    orders_of,
    read_lease,
    read_market_due,
    read_offer,
    read_offers,
    read_order,
    read_orders,
    receipt_signing_bytes,
    settled_at,
    verify_receipt,
)
from daoli.core.tx import (
    LeaseClose,
    OfferCancel,
    ResourceOffer,
    ResourceOrder,
    Transaction,
    Transfer,
    UsageReceipt,
)
from daoli.errors import InvalidBlock, InvalidTransaction
from tests.core.ledger_factories import (
    CHAIN_ID,
    DEFAULT_BALANCE,
    MIN_FEE,
    Chain,
    addr,
    pk,
    sign_tx,
    sk,
)

P1, P2, B1, B2, OTHER = 1, 2, 3, 4, 5


class Market:
    """A chain plus per-key nonces, so a test reads as a list of market actions."""

    def __init__(self, **params: int) -> None:
        from tests.core.ledger_factories import make_genesis
        self.chain = Chain(make_genesis(**params)) if params else Chain()  # type: ignore[arg-type]
        self.nonces: dict[int, int] = {}

    def tx(self, sender: int, body: object, *, chain_id: str = CHAIN_ID) -> Transaction:
        n = self.nonces.get(sender, 0)
        self.nonces[sender] = n + 1
        return sign_tx(sender, body, n, chain_id=chain_id)  # type: ignore[arg-type]

    def offer(self, sender: int = P1, *, cpu: int = 1000, mem: int = 1024, disk: int = 10,
              net: int = 100, price: int = 100, unit: int = 7, capacity: int = 1,
              expires: int = 1000, endpoint: str = "https://p.example") -> Transaction:
        return self.tx(sender, ResourceOffer(cpu, mem, disk, net, price, unit, capacity,
                                             expires, endpoint))

    def order(self, sender: int = B1, *, cpu: int = 500, mem: int = 512, disk: int = 5,
              net: int = 10, max_price: int = 200, duration: int = 10,
              deposit: int = 10_000) -> Transaction:
        return self.tx(sender, ResourceOrder(cpu, mem, disk, net, max_price, duration,
                                             deposit))

    def block(self, *txs: Transaction, **kw: object) -> int:
        """Apply a block of ``txs``; returns its height."""
        self.chain.next(list(txs), **kw)
        self.chain.check_invariants()
        return self.chain.height

    def reject(self, tx: Transaction, match: str) -> None:
        """``tx`` is refused alone in the next block, which changes nothing; its nonce is
        given back."""
        before = self.chain.snapshot()
        with pytest.raises(InvalidBlock, match=match):
            self.chain.apply(self.chain.build([tx]))
        assert self.chain.snapshot() == before
        self.nonces[next(i for i in range(1, 400) if pk(i) == tx.sender_pubkey)] -= 1

    def balance(self, i: int) -> int:
        return read_account(self.chain.state, addr(i)).balance

    @property
    def state(self):  # type: ignore[no-untyped-def]
        return self.chain.state


def market_keys(state) -> list[bytes]:  # type: ignore[no-untyped-def]
    prefixes = (PREFIX_OFFER, PREFIX_ORDER, PREFIX_LEASE, PREFIX_MARKET_DUE,
                PREFIX_MARKET_INDEX)
    return [k for k, _ in state.items()
            if k[:1] in prefixes or k in (KEY_OFFER_BOOK, KEY_ORDER_BOOK)]


# --- offers ------------------------------------------------------------------------------


def test_offer_is_recorded_under_its_transaction_id_and_indexed() -> None:
    m = Market()
    tx = m.offer(capacity=2, expires=50)
    h = m.block(tx)
    offer = read_offer(m.state, tx.id)
    assert offer == Offer(pk(P1), 1000, 1024, 10, 100, 100, 7, 2, 50, "https://p.example", h, 0,
                          0)
    assert m.balance(P1) == DEFAULT_BALANCE - MIN_FEE
    assert read_offers(m.state) == [(tx.id, offer)]
    assert offers_of(m.state, addr(P1)) == [(tx.id, offer)]
    assert read_market_due(m.state, 50) == MarketDue(offers=(tx.id,))


@pytest.mark.parametrize("kw, match", [
    ({"capacity": 0}, "capacity must be at least 1"),
    ({"expires": 1}, "expires_height 1 is not after this block"),
    ({"expires": 0}, "not after this block"),
])
def test_bad_offers_are_refused(kw: dict[str, int], match: str) -> None:
    m = Market()
    m.reject(m.offer(**kw), match)  # type: ignore[arg-type]


def test_offer_expires_at_its_height_and_then_matches_nothing() -> None:
    m = Market()
    tx = m.offer(expires=3)
    m.block(tx)
    m.block()
    assert read_offer(m.state, tx.id) is not None
    m.block()  # height 3: expired after its transactions
    assert read_offer(m.state, tx.id) is None
    assert market_keys(m.state) == []
    order = m.order()
    m.block(order)
    assert read_order(m.state, order.id) is not None  # no match: stays open


def test_an_offer_cannot_serve_in_its_expiry_block() -> None:
    m = Market()
    m.block(m.offer(expires=2))
    order = m.order()
    m.block(order)  # height 2 == expires_height: the offer is no longer eligible
    assert read_lease(m.state, order.id) is None
    assert read_order(m.state, order.id) is not None


def test_cancel_only_by_the_provider_once_and_leases_run_on() -> None:
    m = Market()
    offer = m.offer(capacity=3)
    order = m.order(duration=5, deposit=10_000)
    m.block(offer, order)
    m.reject(m.tx(B1, OfferCancel(offer.id)), "only the offer's provider")
    m.block(m.tx(P1, OfferCancel(offer.id)))
    assert read_offer(m.state, offer.id) is None
    assert offers_of(m.state, addr(P1)) == []
    assert read_lease(m.state, order.id) is not None  # the lease runs on
    m.reject(m.tx(P1, OfferCancel(offer.id)), "unknown offer")
    m.block(m.order(B2))  # nothing to match any more
    start = read_lease(m.state, order.id).start  # type: ignore[union-attr]
    m.chain.advance_to(start + 5)
    assert read_lease(m.state, order.id) is None
    assert m.balance(P1) == DEFAULT_BALANCE - 2 * MIN_FEE + 5 * 100


# --- orders and matching ---------------------------------------------------------------------


def test_order_without_a_match_is_escrowed_then_refunded_exactly() -> None:
    m = Market()
    order = m.order(duration=3, deposit=12_345)
    h = m.block(order)
    assert m.balance(B1) == DEFAULT_BALANCE - MIN_FEE - 12_345
    rec = read_order(m.state, order.id)
    assert rec is not None and rec.expires_height == h + 3
    assert orders_of(m.state, addr(B1)) == [(order.id, rec)]
    assert read_orders(m.state) == [(order.id, rec)]
    assert audit_supply(m.state.items()).escrow == 12_345
    m.chain.advance_to(h + 2)
    assert read_order(m.state, order.id) is not None
    m.block()
    assert read_order(m.state, order.id) is None
    assert m.balance(B1) == DEFAULT_BALANCE - MIN_FEE
    assert market_keys(m.state) == []


@pytest.mark.parametrize("kw, match", [
    ({"duration": 0}, "duration_blocks must be at least 1"),
    ({"max_price": 101, "deposit": 100}, "does not cover one block"),
    ({"deposit": DEFAULT_BALANCE}, "insufficient balance"),
])
def test_bad_orders_are_refused(kw: dict[str, int], match: str) -> None:
    m = Market()
    m.reject(m.order(**kw), match)


def test_fee_plus_deposit_must_be_payable() -> None:
    m = Market()
    exact = m.order(deposit=DEFAULT_BALANCE - MIN_FEE)
    check_transaction(m.state, m.chain.genesis, exact, 1)
    over = Market().order(deposit=DEFAULT_BALANCE - MIN_FEE + 1)
    with pytest.raises(InvalidTransaction, match="insufficient balance"):
        check_transaction(m.state, m.chain.genesis, over, 1)
    assert max_spend(exact) == DEFAULT_BALANCE
    assert max_spend(m.tx(1, Transfer(addr(2), 5))) == MIN_FEE + 5
    assert max_spend(m.tx(1, LeaseClose(bytes(32)))) == MIN_FEE


def test_order_matching_opens_a_lease_under_the_order_id() -> None:
    m = Market()
    offer = m.offer(price=100, unit=7, capacity=1)
    order = m.order(duration=10, deposit=10_000)
    h = m.block(offer, order)
    lease = read_lease(m.state, order.id)
    assert lease == Lease(offer.id, pk(P1), pk(B1), 100, 7, h, h + 10, h + 10, 10_000, 0, h, 0)
    assert read_order(m.state, order.id) is None
    assert read_offer(m.state, offer.id).active == 1  # type: ignore[union-attr]
    assert leases_of(m.state, addr(P1)) == leases_of(m.state, addr(B1)) == [(order.id, lease)]
    assert read_market_due(m.state, h + 10) == MarketDue(leases=(order.id,))
    # capacity 1 is taken: the next order waits
    second = m.order(B2)
    m.block(second)
    assert read_order(m.state, second.id) is not None


@pytest.mark.parametrize("field", ["cpu", "mem", "disk", "net"])
def test_every_requirement_must_be_met(field: str) -> None:
    m = Market()
    m.block(m.offer(cpu=100, mem=100, disk=100, net=100))
    order = m.order(**{"cpu": 100, "mem": 100, "disk": 100, "net": 100, field: 101})
    m.block(order)
    assert read_lease(m.state, order.id) is None


def test_price_above_the_maximum_does_not_match() -> None:
    m = Market()
    m.block(m.offer(price=201))
    order = m.order(max_price=200)
    m.block(order)
    assert read_lease(m.state, order.id) is None


def provider_of(m: Market, order: Transaction) -> bytes:
    lease = read_lease(m.state, order.id)
    assert lease is not None
    return lease.provider_pubkey


def test_lowest_price_then_oldest_offer_wins() -> None:
    m = Market()
    m.block(m.offer(P1, price=150))
    m.block(m.offer(P2, price=120), m.offer(OTHER, price=120))
    order = m.order()
    m.block(order)
    assert provider_of(m, order) == pk(P2)  # cheapest; P2 came first in the block
    order2 = m.order(B2)
    m.block(order2)
    assert provider_of(m, order2) == pk(OTHER)
    order3 = m.order(B2)
    m.block(order3)
    assert provider_of(m, order3) == pk(P1)


def test_lined_up_providers_come_first() -> None:
    m = Market()
    m.block(m.offer(P1, price=100), m.offer(P2, price=180, expires=10))
    m.block(payroll=[P2])  # P2 is lined up from the next block on
    order = m.order()
    m.block(order)
    assert provider_of(m, order) == pk(P2)


def test_lineup_duty_ends_and_price_rules_again() -> None:
    m = Market(lineup_blocks=2)
    m.block(m.offer(P1, price=100, capacity=5), m.offer(P2, price=180, capacity=5))
    h = m.block(payroll=[P2])
    m.chain.advance_to(h + 2)  # duty covers h + 1 .. h + 2, removed by block h + 2
    order = m.order()
    m.block(order)
    assert provider_of(m, order) == pk(P1)


def test_open_order_is_served_by_a_later_offer_oldest_first() -> None:
    m = Market()
    old, young = m.order(B1), m.order(B2)
    m.block(old)
    m.block(young)
    offer = m.offer(capacity=1)
    h = m.block(offer)
    lease = read_lease(m.state, old.id)
    assert lease is not None and lease.start == h and lease.end == h + 10
    assert read_order(m.state, old.id) is None
    assert read_order(m.state, young.id) is not None
    assert read_market_due(m.state, 1 + 10) is None  # the old order's refund is unscheduled


# --- settlement ----------------------------------------------------------------------------


def open_lease(m: Market, *, price: int = 100, unit: int = 7, duration: int = 10,
               deposit: int = 10_000) -> tuple[Transaction, int]:
    offer = m.offer(price=price, unit=unit, capacity=4)
    order = m.order(duration=duration, deposit=deposit, max_price=max(price, 1))
    h = m.block(offer, order)
    return order, h


@pytest.mark.parametrize("closer", [B1, P1])
def test_close_by_either_party_settles_and_refunds_exactly(closer: int) -> None:
    m = Market()
    order, h = open_lease(m)
    m.chain.advance_to(h + 3)
    m.block(m.tx(closer, LeaseClose(order.id)))  # height h + 4
    paid = 4 * 100
    fees_p1 = MIN_FEE * (2 if closer == P1 else 1)
    fees_b1 = MIN_FEE * (2 if closer == B1 else 1)
    assert m.balance(P1) == DEFAULT_BALANCE - fees_p1 + paid
    assert m.balance(B1) == DEFAULT_BALANCE - fees_b1 - paid
    assert read_lease(m.state, order.id) is None
    assert leases_of(m.state, addr(B1)) == []
    m.reject(m.tx(closer, LeaseClose(order.id)), "unknown lease")


def test_only_the_parties_may_close() -> None:
    m = Market()
    order, _ = open_lease(m)
    m.reject(m.tx(OTHER, LeaseClose(order.id)), "only the lease's provider or buyer")


def test_lease_runs_its_duration_and_pays_every_block() -> None:
    m = Market()
    order, h = open_lease(m, duration=5, deposit=10_000)
    m.chain.advance_to(h + 4)
    assert read_lease(m.state, order.id) is not None
    m.block()
    assert read_lease(m.state, order.id) is None
    assert m.balance(P1) == DEFAULT_BALANCE - MIN_FEE + 500
    assert m.balance(B1) == DEFAULT_BALANCE - MIN_FEE - 500
    assert market_keys(m.state) != []  # the offer is still there
    assert read_offer(m.state, read_offers(m.state)[0][0]).active == 0  # type: ignore[union-attr]


def test_escrow_running_out_closes_the_lease_at_a_known_height() -> None:
    m = Market()
    order, h = open_lease(m, price=300, duration=100, deposit=1_000)
    lease = read_lease(m.state, order.id)
    assert lease is not None and lease.end == h + 3  # 1000 // 300 blocks
    m.chain.advance_to(h + 2)
    assert read_lease(m.state, order.id) is not None
    m.block()
    assert read_lease(m.state, order.id) is None
    assert m.balance(P1) == DEFAULT_BALANCE - MIN_FEE + 900
    assert m.balance(B1) == DEFAULT_BALANCE - MIN_FEE - 900  # 100 li came back


def test_settled_at_is_what_the_ledger_will_pay() -> None:
    m = Market()
    order, h = open_lease(m)
    lease = read_lease(m.state, order.id)
    assert lease is not None
    view, pay = settled_at(lease, h + 3)
    assert pay == 300 and view.escrow == 10_000 - 300 and view.settled == h + 3
    _, pay_late = settled_at(lease, h + 1000)
    assert pay_late == 1000  # never past the end


# --- receipts ------------------------------------------------------------------------------


def receipt(m: Market, lease_id: bytes, units: int, seq: int, *, signer: int = B1,
            chain_id: str = CHAIN_ID, sender: int = P1) -> Transaction:
    return m.tx(sender, make_receipt(sk(signer), chain_id, lease_id, units, seq))


def test_receipt_signing_bytes_are_tagged_and_verifiable() -> None:
    lid = bytes(range(32))
    sb = receipt_signing_bytes("testnet", lid, 5, 1)
    assert sb.startswith(b"daoli/receipt/v1" + b"\x67testnet" + b"\x84\x08\x58\x20" + lid)
    r = make_receipt(sk(B1), "testnet", lid, 5, 1)
    assert verify_receipt(pk(B1), "testnet", r)
    assert not verify_receipt(pk(B2), "testnet", r)
    assert not verify_receipt(pk(B1), "othernet", r)


def test_receipts_bill_units_at_the_unit_price() -> None:
    m = Market()
    order, _ = open_lease(m, price=100, unit=7, deposit=10_000)
    m.block(receipt(m, order.id, 10, 1))  # the next block
    lease = read_lease(m.state, order.id)
    assert lease is not None
    assert lease.paid == 100 + 70 and lease.escrow == 10_000 - 170 and lease.last_seq == 1
    assert m.balance(P1) == DEFAULT_BALANCE - 2 * MIN_FEE + 170
    m.block(receipt(m, order.id, 1, 5))  # seq may skip, never repeat
    assert read_lease(m.state, order.id).last_seq == 5  # type: ignore[union-attr]


def test_bad_receipts_are_refused() -> None:
    m = Market()
    order, _ = open_lease(m)
    other_order = m.order(B2)
    m.block(other_order)
    m.block(receipt(m, order.id, 1, 3))
    m.reject(receipt(m, order.id, 1, 3), "seq 3 is not after the last billed")  # replay
    m.reject(receipt(m, order.id, 1, 2), "seq 2 is not after")  # out of order
    m.reject(receipt(m, order.id, 1, 4, signer=B2), "not signed by the lease's buyer")
    m.reject(receipt(m, order.id, 1, 4, chain_id="othernet"), "not signed by the lease's buyer")
    foreign = make_receipt(sk(B2), CHAIN_ID, other_order.id, 1, 4)  # other lease's receipt
    m.reject(m.tx(P1, UsageReceipt(order.id, 1, 4, foreign.buyer_sig)), "not signed")
    m.reject(receipt(m, order.id, 1, 4, sender=B1), "only the lease's provider")
    m.reject(receipt(m, bytes(32), 1, 4), "unknown lease")


def test_a_receipt_never_bills_more_than_the_escrow_and_ends_the_lease() -> None:
    m = Market()
    order, _ = open_lease(m, price=100, unit=1_000, deposit=1_000, duration=50)
    m.block(receipt(m, order.id, 10**6, 1))  # next block: owes 100, bills 900
    assert read_lease(m.state, order.id) is None  # escrow 0: closed by this very block
    assert m.balance(P1) == DEFAULT_BALANCE - 2 * MIN_FEE + 1_000
    assert m.balance(B1) == DEFAULT_BALANCE - MIN_FEE - 1_000


def test_a_receipt_brings_the_end_forward() -> None:
    m = Market()
    order, h = open_lease(m, price=100, unit=100, deposit=1_000, duration=50)
    assert read_lease(m.state, order.id).end == h + 10  # type: ignore[union-attr]
    m.block(receipt(m, order.id, 5, 1))  # h + 1: pays 100 + 500, 400 left: 4 blocks
    lease = read_lease(m.state, order.id)
    assert lease is not None and lease.end == h + 5
    assert read_market_due(m.state, h + 10) is None
    assert read_market_due(m.state, h + 5) == MarketDue(leases=(order.id,))
    m.chain.advance_to(h + 5)
    assert read_lease(m.state, order.id) is None
    assert m.balance(P1) == DEFAULT_BALANCE - 2 * MIN_FEE + 1_000


# --- the rest of the ledger is untouched ---------------------------------------------------


def test_blocks_without_market_transactions_write_no_market_key() -> None:
    m = Market()
    m.block(m.tx(1, Transfer(addr(2), 5)))
    m.block()
    assert market_keys(m.state) == []
    assert m.state.get(market_due_key(2)) is None


def test_market_records_are_strictly_decoded() -> None:
    m = Market()
    offer = m.offer()
    m.block(offer)
    raw = m.state.get(KEY_OFFER_BOOK)
    assert raw is not None and OfferBook.decode(raw).entries[0][3] == offer.id
    order = m.order(max_price=50)
    m.block(order)
    raw_order = m.state.get(PREFIX_ORDER + order.id)
    assert raw_order is not None and Order.decode(raw_order).deposit == 10_000
