"""The resource market through a real node's API and ``daoli.client`` (SPEC 6, docs/api.md).

One dev node per module (``daoli init``, three local miners so the payroll lines up the
node's signer key). The signer key is a lined-up provider, a fresh key an ordinary one,
and the dev wallet the buyer: the dev wallet earns nothing else, so its balance is checked
to the li across an order, a usage receipt and a close.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from daoli.client import (
    AsyncClient,
    Client,
    LeaseInfo,
    NotFound,
    offer_body,
    order_body,
)
from daoli.core.address import address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.market import verify_receipt
from daoli.core.params import LI_PER_DLC
from daoli.node.config import NodeConfig, dump_config_toml
from daoli.node.home import Home
from daoli.wallet import WalletStore
from tests.node.nodeproc import NodeProc, free_port, init_home, wait_for

FEE = 1_000
TX_WAIT = 30.0


class Market:
    """The shared node, a client, and the three keys."""

    def __init__(self, node: NodeProc, home: Path) -> None:
        self.node = node
        self.client = Client(node.api, node.token, timeout=10)
        self.provider = Home(home).signer_secret()  # miner 0 of the node: lined up
        self.other = (0x5EED).to_bytes(32, "big")  # an ordinary provider, funded below
        self.buyer = WalletStore(home / "wallets").unlock("dev", Home(home).dev_password())

    def final(self, tx: Any) -> int:
        result = self.client.submit(tx)
        assert result.ok, result.reason
        status = self.client.wait_for_tx(tx.id, TX_WAIT)
        assert status.final and status.height is not None
        return status.height

    def balance(self, secret: bytes) -> int:
        return self.client.account(address_of(pubkey_from_secret(secret))).balance


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    home = tmp_path_factory.mktemp("market") / "home"
    init_home(home)
    cfg = NodeConfig(p2p_listen=f"/ip4/127.0.0.1/tcp/{free_port()}",
                     api_listen=f"127.0.0.1:{free_port()}")
    (home / "config.toml").write_text(dump_config_toml(cfg))
    node = NodeProc(home).start("--mine", "3")
    try:
        m = Market(node, home)
        signer = pubkey_from_secret(m.provider)
        wait_for("the signer key lined up",
                 lambda: any(e.miner_pubkey == signer for e in m.client.lineup().lineup), 60)
        m.final(m.client.transfer(m.buyer, address_of(pubkey_from_secret(m.other)),
                                  1_000 * LI_PER_DLC, FEE))
        yield m
        m.client.close()
    finally:
        node.stop()


def _get(m: Market, path: str, **params: Any) -> httpx.Response:
    return httpx.get(m.node.api + path, params=params, timeout=10,
                     headers={"Authorization": f"Bearer {m.node.token}"})


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "code"} and "\n" not in body["error"]
    return str(body["error"])


def test_offer_order_lease_receipt_close(market: Market) -> None:
    m, c = market, market.client
    tip = c.status().height
    # an ordinary provider, cheaper, and the lined-up one, dearer
    cheap = c.resource_offer(m.other, offer_body(2000, 4096, 100, 100, 2_000,
                                                 expires_height=tip + 1_000), FEE)
    dear = c.resource_offer(m.provider, offer_body(
        2000, 4096, 100, 100, 5_000, expires_height=tip + 1_000, unit_price=300, capacity=2,
        endpoint="https://p.example/[b]x"), FEE)
    m.final(cheap)
    m.final(dear)
    listed = c.offers()
    by_id = {o.id: o for o in listed.offers}
    assert {cheap.id, dear.id} <= set(by_id)
    assert by_id[dear.id].lined_up and not by_id[cheap.id].lined_up
    ids = [o.id for o in listed.offers]
    assert ids.index(cheap.id) < ids.index(dear.id)  # book order: cheapest first
    one = c.offer(dear.id)
    assert (one.provider_pubkey, one.price_per_block, one.unit_price, one.capacity,
            one.active, one.endpoint) == (pubkey_from_secret(m.provider), 5_000, 300, 2, 0,
                                          "https://p.example/[b]x")
    assert [o.id for o in c.offers(max_price=3_000).offers if o.id in by_id] == [cheap.id]
    assert [o.id for o in c.offers(provider=one.provider).offers] == [dear.id]
    assert dear.id in [o.id for o in c.offers(lined_up=True).offers]
    assert cheap.id not in [o.id for o in c.offers(lined_up=True).offers]
    assert c.offers(min_cpu=2001, min_mem=4096).count == 0
    assert c.offers(limit=1).offers[0].id == ids[0]

    # the buyer's order matches the lined-up provider although the other one is cheaper
    b0 = m.balance(m.buyer)
    deposit = 10_000 * 50
    order = c.resource_order(m.buyer, order_body(1000, 2048, 10, 10, 10_000, 50), FEE)
    start = m.final(order)
    assert m.balance(m.buyer) == b0 - FEE - deposit
    lease = c.lease(order.id)
    assert (lease.id, lease.order_id, lease.provider_pubkey, lease.buyer_pubkey) == (
        order.id, order.id, pubkey_from_secret(m.provider), pubkey_from_secret(m.buyer))
    assert (lease.price_per_block, lease.unit_price, lease.start, lease.end,
            lease.last_seq) == (5_000, 300, start, start + 50, 0)
    assert c.offer(dear.id).active == 1
    for found in (c.leases(account=lease.buyer), c.leases(provider=lease.provider),
                  c.leases(buyer=lease.buyer), c.leases()):
        assert order.id in [le.id for le in found.leases]
    assert order.id not in [le.id for le in c.leases(provider=lease.buyer).leases]
    assert "matched" in _error(_get(m, f"/v1/orders/{order.id.hex()}"), 404)
    with pytest.raises(NotFound):
        c.order(order.id)

    # settlement shows block by block, without any transaction
    wait_for("three blocks of lease", lambda: c.status().height >= start + 3, 30)
    now = c.lease(order.id)
    blocks = now.as_of - start
    assert blocks >= 3 and now.record.settled == start
    assert (now.paid, now.owed, now.escrow_left) == (5_000 * blocks, 5_000 * blocks,
                                                     deposit - 5_000 * blocks)

    # a usage receipt: signed by the buyer, submitted by the provider, billed at unit_price
    receipt = c.receipt(m.buyer, order.id, 7, 1)
    assert verify_receipt(pubkey_from_secret(m.buyer), c.chain_id(), receipt)
    billed = m.final(c.usage_receipt(m.provider, receipt, FEE))
    after = c.lease(order.id)
    assert after.last_seq == 1 and after.record.settled == billed
    assert after.record.paid == 5_000 * (billed - start) + 7 * 300
    assert after.paid == 5_000 * (after.as_of - start) + 7 * 300
    assert after.paid + after.escrow_left == deposit

    # the buyer closes: the provider is paid to the closing block, the rest comes back
    closed = m.final(c.lease_close(m.buyer, order.id, FEE))
    refund = deposit - 5_000 * (closed - start) - 7 * 300
    assert m.balance(m.buyer) == b0 - FEE - deposit - FEE + refund  # order fee, close fee
    with pytest.raises(NotFound):
        c.lease(order.id)
    assert c.offer(dear.id).active == 0
    assert order.id not in [le.id for le in c.leases(account=lease.buyer).leases]

    # the async client reads the same
    async def read() -> tuple[int, int]:
        async with AsyncClient(m.node.api, m.node.token) as ac:
            offers = await ac.offers(provider=one.provider)
            return len(offers.offers), (await ac.offer(dear.id)).price_per_block

    assert trio.run(read) == (1, 5_000)


def test_unmatched_order_stays_open(market: Market) -> None:
    m, c = market, market.client
    order = c.resource_order(m.buyer, order_body(10**9, 1, 0, 0, 1_000, 200), FEE)
    height = m.final(order)
    open_ = c.order(order.id)
    assert (open_.buyer_pubkey, open_.deposit, open_.expires_height) == (
        pubkey_from_secret(m.buyer), 200_000, height + 200)
    assert order.id in [o.id for o in c.orders().orders]
    assert order.id in [o.id for o in c.orders(buyer=open_.buyer).orders]
    assert order.id not in [o.id for o in c.orders(buyer=pubkey_from_secret(m.other)).orders]
    assert "never opened" in _error(_get(m, f"/v1/leases/{order.id.hex()}"), 404)


def test_lease_view_adds_up(market: Market) -> None:
    """A lease object that does not add up with its raw record is refused by the client."""
    m, c = market, market.client
    tip = c.status().height
    m.final(c.resource_offer(m.other, offer_body(1, 1, 1, 1, 100, expires_height=tip + 500,
                                                 capacity=1), FEE))
    order = c.resource_order(m.buyer, order_body(1, 1, 1, 1, 100, 20), FEE)
    m.final(order)
    data = _get(m, f"/v1/leases/{order.id.hex()}").json()
    assert LeaseInfo.from_json(data).paid + data["escrow_left"] == 2_000
    from daoli.client import BadResponse

    with pytest.raises(BadResponse):
        LeaseInfo.from_json({**data, "paid": data["paid"] + 1})


@pytest.mark.parametrize(("path", "params"), [
    ("/v1/offers", {"min_cpu": "-1"}), ("/v1/offers", {"limit": "0"}),
    ("/v1/offers", {"limit": "1001"}), ("/v1/offers", {"max_price": "1.5"}),
    ("/v1/offers", {"provider": "dlc1bogus"}), ("/v1/offers", {"lined_up": "maybe"}),
    ("/v1/offers", {"color": "red"}), ("/v1/offers", {"min_mem": "9" * 30}),
    ("/v1/orders", {"buyer": "02" + "00" * 31}), ("/v1/orders", {"provider": "x"}),
    ("/v1/leases", {"account": "04" + "11" * 32}), ("/v1/leases", {"limit": "x"}),
    ("/v1/offers/xyz", {}), ("/v1/orders/" + "0" * 63, {}), ("/v1/leases/" + "g" * 64, {}),
])
def test_bad_queries_are_400(market: Market, path: str, params: dict[str, str]) -> None:
    assert _error(_get(market, path, **params), 400)


def test_repeated_parameter_is_400(market: Market) -> None:
    r = httpx.get(market.node.api + "/v1/offers?limit=1&limit=2", timeout=10,
                  headers={"Authorization": f"Bearer {market.node.token}"})
    assert "twice" in _error(r, 400)


@pytest.mark.parametrize("kind", ["offers", "orders", "leases"])
def test_unknown_ids_are_404(market: Market, kind: str) -> None:
    assert _error(_get(market, f"/v1/{kind}/{'ab' * 32}"), 404)
    with pytest.raises(NotFound):
        getattr(market.client, kind[:-1])("ab" * 32)


def test_openapi_document_covers_the_market(market: Market) -> None:
    doc = _get(market, "/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for name in ("Offer", "Order", "Lease"):
        assert name in schemas
    for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(doc))):
        assert ref in schemas, ref
    for path in ("/v1/offers", "/v1/offers/{id}", "/v1/orders", "/v1/orders/{id}",
                 "/v1/leases", "/v1/leases/{id}"):
        op = doc["paths"][path]["get"]
        declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
        assert declared == {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}
        assert "200" in op["responses"] and "400" in op["responses"]
    # every view the node answered is described by its schema's required fields
    offers = _get(market, "/v1/offers").json()
    for item in offers["offers"]:
        assert set(schemas["Offer"]["required"]) == set(item)
