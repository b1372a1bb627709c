"""The market on a real devnet (two trustee nodes, real LMDB and libp2p), with exact balances
at every step: an offer, an order matched into a lease, settlement over blocks, a usage
receipt signed by the buyer and submitted by the provider, and the buyer's close with the
unused escrow refunded; a receipt the provider forged is never billed. Neither wallet
mines, so every li they gain or lose is the market's or a fee."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from daoli.client import Client, NotFound, offer_body, order_body
from daoli.core.params import ChainParams
from daoli.wallet.keystore import WalletStore
from tests.devnet.devnetproc import Net, ok, wait_for

pytestmark = pytest.mark.slow

PRICE = 7  # li per block
UNIT = 1_000  # li per metered unit
DEPOSIT = 100_000
UNITS = 13


def test_offer_order_settle_receipt_close_with_exact_balances(tmp_path: Path) -> None:
    manifest = tmp_path / "market.toml"
    manifest.write_text("""name = "market"
nodes = 2
[[wallets]]
name = "alice"
[[wallets]]
name = "bob"
""")
    d = tmp_path / "net"
    net = Net(d)
    try:
        up = ok("devnet", "up", str(manifest), "--detach", "--dir", str(d))
        n0, n1 = up["nodes"]
        password = (d / "wallets.password").read_text().splitlines()[0]
        store = WalletStore(Path(n0["home"]) / "wallets")
        alice, bob = store.unlock("alice", password), store.unlock("bob", password)
        a = Client(n0["api"], (Path(n0["home"]) / "api_token").read_text().split()[0])
        b = Client(n1["api"], (Path(n1["home"]) / "api_token").read_text().split()[0])
        fee = ChainParams().min_fee
        a_addr = ok("wallet", "address", "alice", env=net.env("n0"))["address"]
        b_addr = ok("wallet", "address", "bob", env=net.env("n0"))["address"]

        def bal(addr: str) -> int:
            return a.account(addr).balance

        def final_at(client: Client, txid: bytes) -> int:
            """The height ``txid`` is final at, once both nodes have stored it (balances are
            read from one node, the next step may go through the other)."""
            height = client.wait_for_tx(txid, timeout=60).height
            assert height is not None
            for other in (a, b):
                assert other.wait_for_tx(txid, timeout=60).height == height
            return height

        a0, b0 = bal(a_addr), bal(b_addr)
        # 1. alice offers: she pays the fee, nothing else moves
        tip = a.status().height
        offer = a.resource_offer(alice, offer_body(2000, 2048, 10, 10, PRICE,
                                                   expires_height=tip + 10_000,
                                                   unit_price=UNIT), fee)
        assert a.submit(offer).ok
        a.wait_for_tx(offer.id, timeout=60)
        assert (bal(a_addr), bal(b_addr)) == (a0 - fee, b0)
        # 2. bob orders through the other node: matched at once, the deposit escrowed
        order = b.resource_order(bob, order_body(1000, 1024, 1, 1, PRICE, 10_000, DEPOSIT),
                                 fee)
        assert b.submit(order).ok
        start = final_at(b, order.id)
        lease = b.lease(order.id)
        assert (lease.start, lease.offer_id, lease.price_per_block) == (start, offer.id, PRICE)
        assert (bal(a_addr), bal(b_addr)) == (a0 - fee, b0 - fee - DEPOSIT)
        # 3. settlement over blocks: what is owed grows by the price each block, lazily
        wait_for("five blocks of the lease", lambda: a.status().height >= start + 5)
        lease = a.lease(order.id)
        assert lease.paid == PRICE * (lease.as_of - start)
        assert lease.paid + lease.escrow_left == DEPOSIT
        assert bal(a_addr) == a0 - fee  # nothing moved yet: settlement waits for a touch
        # 4. a receipt: bob signs, alice submits; the lease settles to that block and bills
        receipt = b.receipt(bob, order.id, UNITS, 1)
        rtx = a.usage_receipt(alice, receipt, fee)
        assert a.submit(rtx).ok
        at = final_at(a, rtx.id)
        assert a.lease(order.id).last_seq == 1
        earned = PRICE * (at - start) + UNITS * UNIT
        assert bal(a_addr) == a0 - 2 * fee + earned
        # a provider that lies about usage is not paid without the buyer's signature: a
        # receipt alice signs herself for 1,000 more units is never final, never billed
        forged = a.receipt(alice, order.id, 1_000, 2)
        lie = a.usage_receipt(alice, forged, fee)
        a.submit(lie)
        now = a.status().height
        wait_for("three more blocks", lambda: a.status().height >= now + 3)
        assert a.lease(order.id).last_seq == 1
        with contextlib.suppress(NotFound):  # dropped from the pool: not final either
            assert a.tx(lie.id).status != "final"
        assert bal(a_addr) == a0 - 2 * fee + earned
        # 5. bob closes: alice is paid to that block, the rest comes back to bob
        close = b.lease_close(bob, order.id, fee)
        assert b.submit(close).ok
        end = final_at(b, close.id)
        paid = PRICE * (end - start) + UNITS * UNIT
        assert bal(a_addr) == a0 - 2 * fee + paid
        assert bal(b_addr) == b0 - 2 * fee - paid
        assert order.id.hex() not in {x.id.hex() for x in b.leases(account=b_addr).leases}
    finally:
        net.down()
