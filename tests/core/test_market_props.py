"""Property tests for the resource market: random sequences of offers, orders, receipts,
closes and cancels over random blocks (some lining providers up), checked after every block.

* coins are conserved exactly: the market only moves coins between its users and escrow,
  so users' balances plus escrow fall by exactly the fees they paid;
* the supply audit holds (balances + bonds + pending + escrow = genesis + minted - burned)
  and what is held changes only by the block's subsidy minus its burns;
* every live lease has paid + escrow == its order's deposit, so no provider is ever paid more
  than the buyer escrowed;
* a second, independent chain fed the same blocks reaches the same state and root;
* ``check_block`` and ``apply_block`` agree on every block.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from daoli.core.blockbuild import check_block
from daoli.core.ledger import apply_block, audit_supply, read_account, read_tip
from daoli.core.ledger_types import Lease, Order
from daoli.core.lottery import lot, seed
from daoli.core.market import make_receipt, read_lease, read_offer
from daoli.core.tx import (
    LeaseClose,
    OfferCancel,
    ResourceOffer,
    ResourceOrder,
    Transaction,
)
from daoli.errors import InvalidBlock
from tests.core.ledger_factories import (
    CHAIN_ID,
    GENESIS_TIME_MS,
    SPONSOR,
    Chain,
    addr,
    make_genesis,
    pk,
    sign_tx,
    sk,
)

USERS = (1, 2, 3, 4, 5)
WINNERS = tuple(i for i in range(201, 260) if i != SPONSOR)
"""Candidate winners: one whose lot is before the payroll miner's is picked per block."""


@dataclass(frozen=True)
class Op:
    kind: str
    sender: int
    a: int
    b: int
    c: int
    pick: int


ops = st.builds(
    Op,
    kind=st.sampled_from(["offer", "offer", "order", "order", "order", "close", "receipt",
                          "receipt", "cancel"]),
    sender=st.sampled_from(USERS),
    a=st.integers(0, 4),
    b=st.integers(0, 400),
    c=st.integers(0, 3_000),
    pick=st.integers(0, 1_000),
)
blocks = st.lists(st.tuples(st.lists(ops, max_size=6),
                            st.sampled_from([(), (), (1,), (2,), (5,)])),
                  min_size=1, max_size=8)


class World:
    def __init__(self) -> None:
        self.chain = Chain(make_genesis(balances={i: 10**7 for i in USERS}, lineup_blocks=3))
        self.twin = Chain(self.chain.genesis)
        self.nonces = dict.fromkeys(USERS, 0)
        self.offers: list[tuple[int, bytes]] = []
        self.orders: list[tuple[int, bytes]] = []
        self.deposits: dict[bytes, int] = {}

    def key_of(self, pubkey: bytes) -> int:
        return next(i for i in USERS if pk(i) == pubkey)

    def make(self, op: Op) -> tuple[int, Transaction] | None:
        """The op as a signed transaction, mostly sent by whoever may send it (op.a == 4:
        by the generated sender, usually a stranger)."""
        h = self.chain.height + 1
        sender = op.sender
        if op.kind == "offer":
            body: object = ResourceOffer(op.a * 100, op.a, op.a, op.a, op.b, op.c % 50,
                                         1 + op.a % 3, h + op.pick % 12 - 1, "e")
        elif op.kind == "order":
            body = ResourceOrder(op.a * 100, op.a, op.a, op.a, op.b, op.pick % 9,
                                 op.c * (1 + op.pick % 4))
        elif op.kind == "cancel":
            if not self.offers:
                return None
            oid = self.offers[op.pick % len(self.offers)][1]
            body = OfferCancel(oid)
            offer = read_offer(self.chain.state, oid)
            if offer is not None and op.a != 4:
                sender = self.key_of(offer.provider_pubkey)
        else:
            if not self.orders:
                return None
            _, lid = self.orders[op.pick % len(self.orders)]
            lease = read_lease(self.chain.state, lid)
            if op.kind == "close":
                body = LeaseClose(lid)
                if lease is not None and op.a != 4:
                    sender = self.key_of(lease.provider_pubkey if op.a % 2
                                         else lease.buyer_pubkey)
            else:
                last = 0 if lease is None else lease.last_seq
                buyer = 3 if lease is None else self.key_of(lease.buyer_pubkey)
                if lease is not None and op.a != 4:
                    sender = self.key_of(lease.provider_pubkey)
                signer = buyer if op.a != 3 else 4
                seq = (last + 1, last + 1, last, last + 3)[op.c % 4]
                body = make_receipt(sk(signer), CHAIN_ID, lid, op.b, seq)
        return sender, sign_tx(sender, body, self.nonces[sender])  # type: ignore[arg-type]

    def build(self, txs: list[Transaction], payroll: tuple[int, ...]):  # type: ignore[no-untyped-def]
        tip = read_tip(self.chain.state)
        assert tip is not None
        cycle = 0 if tip.cycle is None else tip.cycle + 1
        time_ms = GENESIS_TIME_MS + cycle * 1_000 + 1
        sd = seed(tip.block_id, cycle)
        winner = next((w for w in WINNERS
                       if all(lot(sd, pk(w)) < lot(sd, pk(p)) for p in payroll)), None)
        if winner is None:  # the payroll miner is luckier than every candidate: no payroll
            winner, payroll = WINNERS[0], ()
        return self.chain.build(txs, miner=winner, sponsor=SPONSOR, payroll=payroll,
                                cycle=cycle, time_ms=time_ms)

    def valid(self, txs: list[Transaction]) -> bool:
        block = self.build(txs, ())
        try:
            apply_block(self.chain.state, self.chain.state.acc, self.chain.genesis, block,
                        check_state_root=False)
        except InvalidBlock:
            return False
        return True


def held_by_users(chain: Chain) -> int:
    return (sum(read_account(chain.state, addr(i)).balance for i in USERS)
            + audit_supply(chain.state.items()).escrow)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
@given(blocks)
def test_random_market_activity_keeps_every_invariant(plan) -> None:  # type: ignore[no-untyped-def]
    w = World()
    for block_ops, payroll in plan:
        txs: list[Transaction] = []
        for op in block_ops:
            made = w.make(op)
            if made is not None and w.valid([*txs, made[1]]):
                txs.append(made[1])
                w.nonces[made[0]] += 1
        block = w.build(txs, payroll)
        before_users = held_by_users(w.chain)
        before = audit_supply(w.chain.state.items())
        check = check_block(w.chain.state, w.chain.state.acc, w.chain.genesis, block,
                            pow_difficulty=1)
        assert check.ok, check.reason
        result = w.chain.apply(block)
        assert check.result is not None and check.result.diff == result.diff
        w.twin.apply(block)
        assert w.twin.state.root == w.chain.state.root
        assert list(w.twin.state.items()) == list(w.chain.state.items())
        w.chain.check_invariants()
        after = audit_supply(w.chain.state.items())
        assert after.held - before.held == result.subsidy - result.burned
        fees = sum(tx.fee for tx in txs)
        earned = sum(result.rewards.get(addr(i), 0) for i in USERS)  # payroll shares
        assert held_by_users(w.chain) == before_users - fees + earned
        h = w.chain.height
        for tx in txs:
            event(f"applied {tx.body.NAME}")
            if isinstance(tx.body, ResourceOffer):
                w.offers.append((h, tx.id))
            elif isinstance(tx.body, ResourceOrder):
                w.orders.append((h, tx.id))
                w.deposits[tx.id] = tx.body.deposit
        if any(k[:1] == b"L" for k, _ in w.chain.state.items()):
            event("a lease is open")
        for key, raw in w.chain.state.items():
            if key[:1] == b"L":
                lease = Lease.decode(raw)
                deposit = w.deposits[key[1:]]
                assert lease.paid + lease.escrow == deposit
                assert lease.paid <= deposit
            elif key[:1] == b"R":
                assert Order.decode(raw).deposit == w.deposits[key[1:]]
