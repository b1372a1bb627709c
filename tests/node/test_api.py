"""The local API (docs/api.md) in-process over a real block store, and once over real TCP."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote as quote_path

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from daoli.core import ledger
from daoli.core.address import address_bytes_of, address_of
from daoli.core.block import Block
from daoli.core.crypto import pubkey_from_secret
from daoli.core.params import LI_PER_DLC
from daoli.core.ticket import Ticket
from daoli.core.tx import Evidence, Transaction, Transfer
from daoli.core.vote import CommitCertificate
from daoli.errors import ConfigError
from daoli.node import api
from daoli.node.api import (
    MAX_BATCH,
    MAX_BODY,
    Unavailable,
    build_app,
    ensure_token,
    openapi_document,
    serve_api,
)
from daoli.node.metrics import METRIC_NAMES, NodeMetrics
from daoli.node.views import dlc, tx_view
from daoli.store.blockstore import BlockStore
from tests.core.strategies import transactions
from tests.machine.harness import secret
from tests.node.api_fixtures import (
    AUTH,
    TOKEN,
    Chain,
    FakeNode,
    build_chain,
    client,
    open_store,
    transfer,
)

N_BLOCKS = 6


@pytest.fixture(scope="module")
def chain() -> Chain:
    return build_chain(N_BLOCKS)


@pytest.fixture(scope="module")
def full_store(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlockStore]:
    store, _ = open_store(tmp_path_factory.mktemp("api") / "data", chain, N_BLOCKS)
    with store:
        yield store


@pytest.fixture
def node(chain: Chain, full_store: BlockStore) -> FakeNode:
    return FakeNode(chain.genesis, full_store)


def run(node: FakeNode, fn: Callable[[httpx.AsyncClient], Awaitable[Any]], **kw: Any) -> Any:
    """``fn(client)`` under trio against a fresh app on ``node``."""
    app = build_app(node, TOKEN, **kw)

    async def main() -> Any:
        async with client(app) as c:
            return await fn(c)

    return trio.run(main)


def get(node: FakeNode, path: str, **kw: Any) -> httpx.Response:
    async def fn(c: httpx.AsyncClient) -> httpx.Response:
        return await c.get(path, **kw)
    return run(node, fn)  # type: ignore[no-any-return]


def post(node: FakeNode, path: str, **kw: Any) -> httpx.Response:
    async def fn(c: httpx.AsyncClient) -> httpx.Response:
        return await c.post(path, **kw)
    return run(node, fn)  # type: ignore[no-any-return]


def error_of(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "code"} and body["code"] == code
    assert "\n" not in body["error"] and "Traceback" not in body["error"]
    return str(body["error"])


# --- auth, errors, OpenAPI, metrics -----------------------------------------------------------


def test_auth_is_required_except_for_metrics(node: FakeNode) -> None:
    async def fn(c: httpx.AsyncClient) -> list[httpx.Response]:
        return [await c.get("/v1/status", headers={"Authorization": ""}),
                await c.get("/v1/status", headers={"Authorization": "Bearer " + "cd" * 32}),
                await c.get("/v1/status", headers={"Authorization": "Basic " + TOKEN}),
                await c.get("/v1/nowhere", headers={"Authorization": "Bearer x"}),
                await c.get("/openapi.json", headers={"Authorization": ""}),
                await c.get("/metrics", headers={"Authorization": ""}),
                await c.get("/v1/status", headers={"Authorization": "bearer " + TOKEN})]

    *refused, metrics, ok = run(node, fn)
    for r in refused:
        assert "token" in error_of(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
    assert metrics.status_code == 200 and "daoli_height" in metrics.text
    assert ok.status_code == 200 and ok.json()["chain_id"] == node.genesis.chain_id


def test_unknown_paths_methods_and_crashes_are_json(node: FakeNode,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    assert "/v1/nowhere" in error_of(get(node, "/v1/nowhere"), 404, "not_found")
    error_of(post(node, "/v1/status"), 405, "method_not_allowed")
    node.fail_status = RuntimeError("boom\nsecret detail")
    with caplog.at_level(logging.ERROR, logger="daoli.node.api"):
        text = error_of(get(node, "/v1/status"), 500, "internal")
    assert "boom" not in text and "secret" not in text
    assert any("boom" in r.getMessage() for r in caplog.records)
    node.fail_status = Unavailable("the node is starting")
    assert error_of(get(node, "/v1/status"), 503, "unavailable") == "the node is starting"


def test_openapi_lists_every_route(node: FakeNode) -> None:
    r = get(node, "/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1") and doc == json.loads(json.dumps(
        openapi_document()))
    app = build_app(node, TOKEN)
    routes = [route for route in app.routes if isinstance(route, Route)]
    assert len(routes) == len(api.OPS) >= 17
    for route in routes:
        assert route.path in doc["paths"], route.path
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in doc["paths"][route.path], (method, route.path)
    for path in ("/v1/status", "/v1/blocks/{ref}", "/v1/txs/{id}/wait", "/v1/events",
                 "/metrics", "/openapi.json", "/v1/lineup", "/v1/draw"):
        assert path in doc["paths"]
    assert doc["paths"]["/metrics"]["get"]["security"] == []


def test_metrics_text_names_every_metric(node: FakeNode) -> None:
    m = node.metrics
    m.set_height(7)
    m.set_round(2)
    m.set_peers(3)
    m.set_mempool(11)
    m.observe_rounds(1)
    m.dropped("bad_signature")
    m.dropped("no such reason")
    m.txs_finalized(5)
    m.block_applied(0.01)
    m.block_finalized()
    r = get(node, "/metrics", headers={})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    for name in METRIC_NAMES:
        assert name in r.text, name
    assert "daoli_height 7.0" in r.text
    assert 'daoli_dropped_total{reason="bad_signature"} 1.0' in r.text
    assert 'daoli_dropped_total{reason="other"} 1.0' in r.text
    assert "daoli_txs_finalized_total 5.0" in r.text
    # each node's registry is its own: a second one starts from zero
    assert b"daoli_height 0.0" in NodeMetrics().render()[0]


# --- reads ---------------------------------------------------------------------------------


def test_status_and_peers(node: FakeNode) -> None:
    s = get(node, "/v1/status").json()
    assert s["height"] == N_BLOCKS and s["tip_id"] == node.store.tip_id.hex()
    peers = get(node, "/v1/peers").json()["peers"]
    assert peers[0]["peer_id"] == "12D3KooWpeer"


def test_block_by_height_id_and_latest(node: FakeNode, chain: Chain) -> None:
    block, cert = chain.blocks[0]
    by_height = get(node, "/v1/blocks/1").json()
    assert by_height == get(node, f"/v1/blocks/{block.id.hex()}").json()
    assert Block.decode(bytes.fromhex(by_height["raw"])) == block
    assert by_height["id"] == block.id.hex() and by_height["height"] == 1
    assert by_height["parent_id"] == chain.genesis.id.hex()
    assert by_height["txs"] == [tx.id.hex() for tx in chain.early]
    assert by_height["n_txs"] == 3 and by_height["size"] == len(block.encoded)
    assert by_height["proposer"] == address_of(block.header.proposer_pubkey)
    assert by_height["proposer"].startswith("dlc1")
    assert by_height["winner"]["raw"] == block.header.winner_ticket.encoded.hex()
    assert by_height["winner"]["miner_pubkey"] == block.header.winner_ticket.miner_pubkey.hex()
    assert len(by_height["payroll"]) == len(block.payroll)
    c = by_height["certificate"]
    assert CommitCertificate.decode(bytes.fromhex(c["raw"])) == cert
    assert c["round"] == cert.round and c["signers"] == [pk.hex() for pk in cert.signers]
    latest = get(node, "/v1/blocks/latest").json()
    assert latest["height"] == N_BLOCKS and latest["id"] == node.store.tip_id.hex()


@pytest.mark.parametrize("ref", ["abc", "-1", "1.5", "0x01", "latest2", "9" * 21, "g" * 64])
def test_block_refs_that_are_not_refs(node: FakeNode, ref: str) -> None:
    error_of(get(node, f"/v1/blocks/{ref}"), 400, "bad_request")
    error_of(get(node, f"/v1/payroll/{ref}"), 400, "bad_request")


@pytest.mark.parametrize("ref", ["0", str(N_BLOCKS + 1), "18446744073709551615", "ab" * 32])
def test_blocks_that_do_not_exist(node: FakeNode, ref: str) -> None:
    error_of(get(node, f"/v1/blocks/{ref}"), 404, "not_found")
    error_of(get(node, f"/v1/payroll/{ref}"), 404, "not_found")


def test_genesis_id_is_not_a_block(node: FakeNode, chain: Chain) -> None:
    error_of(get(node, f"/v1/blocks/{chain.genesis.id.hex()}"), 404, "not_found")


def test_latest_before_any_block(chain: Chain, tmp_path: Path) -> None:
    store, _ = open_store(tmp_path / "data", chain, 0)
    with store:
        error_of(get(FakeNode(chain.genesis, store), "/v1/blocks/latest"), 404, "not_found")


def test_block_ranges(node: FakeNode, chain: Chain) -> None:
    blocks = get(node, "/v1/blocks", params={"from": 2, "to": 4}).json()["blocks"]
    assert [b["height"] for b in blocks] == [2, 3, 4]
    assert [b["id"] for b in blocks] == [b.id.hex() for b, _ in chain.blocks[1:4]]
    assert all(b["certificate"] is not None for b in blocks)
    whole = get(node, "/v1/blocks", params={"from": 0}).json()["blocks"]
    assert [b["height"] for b in whole] == list(range(1, N_BLOCKS + 1))
    assert get(node, "/v1/blocks", params={"from": 5, "to": 99}).json()["blocks"][-1][
        "height"] == N_BLOCKS
    assert get(node, "/v1/blocks", params={"from": N_BLOCKS + 1}).json() == {"blocks": []}
    error_of(get(node, "/v1/blocks"), 400, "bad_request")
    error_of(get(node, "/v1/blocks", params={"from": "x"}), 400, "bad_request")
    error_of(get(node, "/v1/blocks", params={"from": 3, "to": 2}), 400, "bad_request")
    error_of(get(node, "/v1/blocks", params={"from": 1, "to": "-2"}), 400, "bad_request")


def test_block_ranges_are_capped(node: FakeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "MAX_RANGE", 2)
    assert len(get(node, "/v1/blocks", params={"from": 1}).json()["blocks"]) == 2
    monkeypatch.setattr(api, "MAX_RANGE_BYTES", 1)  # still one block, never zero
    assert len(get(node, "/v1/blocks", params={"from": 1, "to": 2}).json()["blocks"]) == 1


def test_final_pending_and_unknown_transactions(node: FakeNode, chain: Chain) -> None:
    tx = chain.early[1]
    r = get(node, f"/v1/txs/{tx.id.hex()}").json()
    assert r["status"] == "final" and r["height"] == 1 and r["index"] == 1
    assert r["block_id"] == chain.blocks[0][0].id.hex()
    view = r["tx"]
    assert Transaction.decode(bytes.fromhex(view["raw"])) == tx
    assert view["type"] == "transfer" and view["nonce"] == 1
    assert view["fee"] == chain.genesis.params.min_fee and view["fee_dlc"] == "0.00001"
    assert view["sender"] == address_of(tx.sender_pubkey)
    assert view["body"] == {"to": chain.user, "amount": 1_001, "memo": b"memo".hex()}
    pending = transfer(chain.genesis, 2, 0)
    node.pool[pending.id] = pending
    r = get(node, f"/v1/txs/{pending.id.hex()}").json()
    assert r["status"] == "pending" and "height" not in r and r["tx"]["id"] == pending.id.hex()
    error_of(get(node, f"/v1/txs/{'00' * 32}"), 404, "not_found")
    error_of(get(node, "/v1/txs/xyz"), 400, "bad_request")
    error_of(get(node, f"/v1/txs/{'00' * 31}"), 400, "bad_request")


def test_accounts_by_address_and_pubkey(node: FakeNode, chain: Chain) -> None:
    pk = pubkey_from_secret(secret("trustee", 0))
    addr = address_of(pk)
    acct = ledger.read_account(node.store, address_bytes_of(pk))
    r = get(node, f"/v1/accounts/{addr}").json()
    assert r == {"address": addr, "balance": acct.balance, "balance_dlc": dlc(acct.balance),
                 "nonce": 3, "next_nonce": 3}
    pooled = transfer(chain.genesis, 0, 3)
    node.pool[pooled.id] = pooled
    assert get(node, f"/v1/accounts/{addr}").json()["next_nonce"] == 4
    assert get(node, f"/v1/accounts/{pk.hex()}").json()["next_nonce"] == 4
    # finalized but still being stored: out of the pool, not yet in the store's nonce
    del node.pool[pooled.id]
    node.storing.append(pooled)
    assert get(node, f"/v1/accounts/{addr}").json()["next_nonce"] == 4
    node.storing.clear()
    user = get(node, f"/v1/accounts/{chain.user}").json()
    assert user["balance"] == 1_000 + 1_001 + 1_002 + 7_000 and user["nonce"] == 0
    assert user["balance_dlc"] == "0.00010003"
    error_of(get(node, "/v1/accounts/dlc1notanaddress"), 400, "bad_request")
    error_of(get(node, f"/v1/accounts/04{'00' * 32}"), 400, "bad_request")


def test_payroll(node: FakeNode, chain: Chain) -> None:
    block = chain.blocks[2][0]
    r = get(node, "/v1/payroll/3").json()
    assert r["height"] == 3 and r["block_id"] == block.id.hex()
    assert Ticket.decode(bytes.fromhex(r["winner"]["raw"])) == block.header.winner_ticket
    assert [t["raw"] for t in r["payroll"]] == [t.encoded.hex() for t in block.payroll]
    assert r["payroll"][0]["sponsor"] == address_of(block.payroll[0].sponsor_pubkey)


def test_trustees(node: FakeNode) -> None:
    r = get(node, "/v1/trustees").json()
    assert r["height"] == N_BLOCKS
    assert r["epoch"] == N_BLOCKS // node.genesis.params.epoch_blocks
    assert len(r["trustees"]) == 4
    t = r["trustees"][0]
    assert t["active"] is True and t["status"] == "bonded"
    assert t["bond"] == node.genesis.params.min_bond and t["bond_dlc"] == "1000"
    assert t["address"] == address_of(bytes.fromhex(t["pubkey"]))
    assert {x["multiaddr"] for x in r["trustees"]} == {
        g.multiaddr for g in node.genesis.trustees}


def test_lineup(node: FakeNode) -> None:
    r = get(node, "/v1/lineup").json()
    assert r["height"] == N_BLOCKS and r["lineup"]
    untils = [e["until"] for e in r["lineup"]]
    assert untils == sorted(untils, reverse=True)
    for e in r["lineup"]:
        assert e["miner"] == address_of(bytes.fromhex(e["miner_pubkey"]))
        assert e["sponsor"].startswith("dlc1") and e["since"] <= e["until"]


def test_mempool(node: FakeNode, chain: Chain) -> None:
    assert get(node, "/v1/mempool").json() == {"count": 0, "bytes": 0, "txs": []}
    txs = [transfer(chain.genesis, 2, n) for n in range(3)]
    node.pool.update({tx.id: tx for tx in txs})
    r = get(node, "/v1/mempool").json()
    assert r == {"count": 3, "bytes": sum(len(tx.encoded) for tx in txs),
                 "txs": [tx.id.hex() for tx in txs]}


def test_draw(node: FakeNode) -> None:
    assert "draw" in error_of(get(node, "/v1/draw"), 503, "unavailable")
    node.open_draw = {"chain_id": node.genesis.chain_id, "height": 7, "cycle": 3,
                      "parent_id": "00" * 32, "seed": "11" * 32, "start_ms": 1, "phi_ms": 300,
                      "target": "ff" * 32, "difficulty": 1, "sponsor_pubkey": "02" * 33,
                      "now_ms": 5}
    assert get(node, "/v1/draw").json() == node.open_draw


# --- submitting ------------------------------------------------------------------------------


def test_submit_one_and_a_batch_in_order(node: FakeNode, chain: Chain) -> None:
    a, b = transfer(chain.genesis, 3, 0), transfer(chain.genesis, 3, 1)
    cheap = transfer(chain.genesis, 3, 2, fee=1)
    r = post(node, "/v1/txs", json={"tx": a.encoded.hex()})
    assert r.json() == {"results": [{"id": a.id.hex(), "status": "accepted"}]}
    batch = [b, a, cheap, chain.early[0]]
    r = post(node, "/v1/txs", json={"txs": [tx.encoded.hex().upper() for tx in batch]})
    assert r.json()["results"] == [
        {"id": b.id.hex(), "status": "accepted"}, {"id": a.id.hex(), "status": "known"},
        {"id": cheap.id.hex(), "status": "rejected", "reason": "fee_too_low"},
        {"id": chain.early[0].id.hex(), "status": "known"}]
    assert set(node.pool) == {a.id, b.id}


def test_submit_refuses_bad_bodies(node: FakeNode, chain: Chain) -> None:
    good = transfer(chain.genesis, 3, 0).encoded.hex()
    other_chain = transfer(chain.genesis, 3, 0, chain_id="other-chain").encoded.hex()
    cases: list[tuple[Any, str]] = [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"{}", "exactly one"),
        (json.dumps({"tx": good, "txs": [good]}).encode(), "exactly one"),
        (json.dumps({"tx": good, "extra": 1}).encode(), "unknown field"),
        (json.dumps({"tx": 5}).encode(), "tx[0]: expected a hex string"),
        (json.dumps({"tx": "abc"}).encode(), "not hex"),
        (json.dumps({"tx": "zz"}).encode(), "not hex"),
        (json.dumps({"tx": "ab cd"}).encode(), "not hex"),
        (json.dumps({"tx": "00"}).encode(), "tx[0]"),
        (json.dumps({"txs": [good, good[:-2]]}).encode(), "txs[1]"),
        (json.dumps({"txs": []}).encode(), "non-empty"),
        (json.dumps({"txs": good}).encode(), "non-empty list"),
        (json.dumps({"txs": [good] * (MAX_BATCH + 1)}).encode(), "at most"),
        (json.dumps({"tx": other_chain}).encode(), "other-chain"),
        (json.dumps({"tx": "00" * 20_000}).encode(), "over"),
        (b"[" * 100 + b"]" * 100, "nested"),
    ]
    for body, needle in cases:
        text = error_of(post(node, "/v1/txs", content=body), 400, "bad_request")
        assert needle in text, (needle, text)
    assert node.pool == {}


def test_body_size_limit(node: FakeNode) -> None:
    big = b" " * (MAX_BODY + 1)
    error_of(post(node, "/v1/txs", content=big), 413, "too_large")

    error_of(post(node, "/v1/tickets", content=big), 413, "too_large")


def test_body_size_limit_is_checked_while_reading(node: FakeNode) -> None:
    """A body without content-length that never ends: refused once over the limit, without
    reading the rest."""
    app = build_app(node, TOKEN)
    chunk = b" " * (1 << 20)
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/txs", "raw_path": b"/v1/txs",
             "query_string": b"", "root_path": "", "server": ("node", 80),
             "headers": [(b"authorization", f"Bearer {TOKEN}".encode()),
                         (b"transfer-encoding", b"chunked")]}
    async def main() -> None:
        with trio.fail_after(10):
            await app(scope, receive, send)

    trio.run(main)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "too_large"
    assert reads == MAX_BODY // len(chunk) + 1


def test_tickets(node: FakeNode, chain: Chain) -> None:
    tickets = [b.header.winner_ticket for b, _ in chain.blocks[:2]]
    r = post(node, "/v1/tickets", json={"tickets": [t.encoded.hex() for t in
                                                    [tickets[0], tickets[1], tickets[0]]]})
    assert r.json()["results"] == [{"id": tickets[0].id.hex(), "status": "accepted"},
                                   {"id": tickets[1].id.hex(), "status": "accepted"},
                                   {"id": tickets[0].id.hex(), "status": "known"}]
    assert node.tickets == [tickets[0], tickets[1], tickets[0]]
    foreign = replace(tickets[0], chain_id="other-chain")
    for body, needle in [({"tickets": [foreign.encoded.hex()]}, "other-chain"),
                         ({"tickets": [chain.early[0].encoded.hex()]}, "tickets[0]"),
                         ({"ticket": tickets[0].encoded.hex()}, "unknown field"),
                         ({}, "required"),
                         ({"tickets": ["00" * 2_000]}, "over")]:
        assert needle in error_of(post(node, "/v1/tickets", json=body), 400, "bad_request")


# --- waiting and events ------------------------------------------------------------------------


def test_wait_returns_at_once_when_final_and_checks_input(node: FakeNode, chain: Chain) -> None:
    tx = chain.early[0]
    r = get(node, f"/v1/txs/{tx.id.hex()}/wait", params={"timeout": 0})
    assert r.status_code == 200 and r.json()["status"] == "final"
    error_of(get(node, f"/v1/txs/{'00' * 32}/wait"), 404, "not_found")
    for bad in ("abc", "301", "-1", "1e3", "nan"):
        error_of(get(node, f"/v1/txs/{tx.id.hex()}/wait", params={"timeout": bad}), 400,
                 "bad_request")
    assert node.subscribers == []  # every subscription was given back


def test_wait_times_out_with_504(node: FakeNode, chain: Chain) -> None:
    pending = transfer(chain.genesis, 2, 0)
    node.pool[pending.id] = pending

    async def fn(c: httpx.AsyncClient) -> tuple[httpx.Response, float]:
        t0 = trio.current_time()
        r = await c.get(f"/v1/txs/{pending.id.hex()}/wait", params={"timeout": "0.3"})
        return r, trio.current_time() - t0

    r, elapsed = run(node, fn)
    assert "not final after 0.3 s" in error_of(r, 504, "timeout")
    assert 0.3 <= elapsed < 5


@pytest.mark.parametrize("drop_readers", [False, True])
def test_wait_answers_when_the_block_arrives(chain: Chain, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             drop_readers: bool) -> None:
    """The late transaction is pooled; its block is finalized while a client waits. With
    ``drop_readers`` the node closes the event channel first, and the wait falls back to
    reading the store."""
    monkeypatch.setattr(api, "POLL_S", 0.05)
    store, sc = open_store(tmp_path / "data", chain, chain.late_height - 1)
    with store:
        node = FakeNode(chain.genesis, store)
        node.pool[chain.late.id] = chain.late
        app = build_app(node, TOKEN)

        async def main() -> httpx.Response:
            async with client(app) as c, trio.open_nursery() as nursery:
                out: list[httpx.Response] = []

                async def wait() -> None:
                    out.append(await c.get(f"/v1/txs/{chain.late.id.hex()}/wait",
                                           params={"timeout": 20}))

                nursery.start_soon(wait)
                await node.until_asked(chain.late.id)  # the waiter saw it pending
                assert not out
                if drop_readers:
                    node.drop_readers()
                block, cert = chain.blocks[chain.late_height - 1]
                with trio.fail_after(5):
                    node.finalize(sc, block, cert)
                    while not out:
                        await trio.sleep(0.01)
                return out[0]

        r = trio.run(main)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "final" and body["height"] == chain.late_height
    assert body["id"] == chain.late.id.hex()


def test_wait_404_when_the_tx_leaves_the_pool(chain: Chain, node: FakeNode,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "POLL_S", 0.05)
    pending = transfer(chain.genesis, 2, 0)
    node.pool[pending.id] = pending

    async def fn(c: httpx.AsyncClient) -> httpx.Response:
        async with trio.open_nursery() as nursery:
            out: list[httpx.Response] = []

            async def wait() -> None:
                out.append(await c.get(f"/v1/txs/{pending.id.hex()}/wait"))

            nursery.start_soon(wait)
            await node.until_asked(pending.id)
            with trio.fail_after(5):
                node.pool.clear()  # evicted or replaced
                while not out:
                    await trio.sleep(0.01)
        return out[0]

    assert "left the mempool" in error_of(run(node, fn), 404, "not_found")


def test_events_stream_blocks_and_ends_when_the_node_drops_the_reader(
        node: FakeNode, chain: Chain) -> None:
    node.subscribed = trio.Event()
    block = chain.blocks[0][0]

    async def fn(c: httpx.AsyncClient) -> httpx.Response:
        async with trio.open_nursery() as nursery:
            out: list[httpx.Response] = []

            async def listen() -> None:
                out.append(await c.get("/v1/events"))

            nursery.start_soon(listen)
            assert node.subscribed is not None
            with trio.fail_after(5):
                await node.subscribed.wait()
                node.publish("block", {"height": 1, "id": block.id.hex(), "time_ms": 5,
                                       "n_txs": 3, "txs": [t.id.hex() for t in block.payload]})
                node.drop_readers()  # a reader too far behind is cut off
                while not out:
                    await trio.sleep(0.01)
        return out[0]

    r = run(node, fn)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    messages = [m for m in r.text.split("\n\n") if m.startswith("event:")]
    # the node queues one item per block; the stream writes its tx events after it
    assert len(messages) == 1 + len(block.payload)
    kind, data = messages[0].split("\n")
    assert kind == "event: block"
    assert json.loads(data.removeprefix("data: "))["txs"] == [t.id.hex() for t in block.payload]
    for m, t in zip(messages[1:], block.payload, strict=True):
        assert m == f'event: tx\ndata: {{"id":"{t.id.hex()}","height":1}}'

    assert node.subscribers == []


def test_events_ping_when_idle(node: FakeNode) -> None:
    node.subscribed = trio.Event()

    async def fn(c: httpx.AsyncClient) -> httpx.Response:
        async with trio.open_nursery() as nursery:
            out: list[httpx.Response] = []

            async def listen() -> None:
                out.append(await c.get("/v1/events"))

            nursery.start_soon(listen)
            assert node.subscribed is not None
            with trio.fail_after(5):
                await node.subscribed.wait()
                await trio.sleep(0.25)
                node.drop_readers()
                while not out:
                    await trio.sleep(0.01)
        return out[0]

    r = run(node, fn, ping_s=0.05)
    assert r.text.count(": ping\n\n") >= 2


# --- the token file ---------------------------------------------------------------------------


def test_token_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "api_token"
    token = ensure_token(path)
    assert len(token) == 64 and int(token, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == token + "\n"
    assert ensure_token(path) == token
    assert [p.name for p in tmp_path.iterdir()] == ["api_token"]  # no temporary left behind


def test_bad_token_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "api_token"
    path.write_text("ab" * 32 + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match=r"group or others.*chmod 600"):
        ensure_token(path)
    os.chmod(path, 0o600)
    assert ensure_token(path) == "ab" * 32
    for content in ("", "short\n", "zz" * 32 + "\n", "\n" + "ab" * 32):
        path.write_text(content)
        with pytest.raises(ConfigError, match="64 hex"):
            ensure_token(path)
    with pytest.raises(ConfigError, match="cannot create"):
        ensure_token(tmp_path / "missing-dir" / "api_token")
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="not a regular file"):
        ensure_token(tmp_path / "dir")


def test_build_app_refuses_an_empty_token(node: FakeNode) -> None:
    with pytest.raises(ConfigError):
        build_app(node, "")


# --- over real TCP ---------------------------------------------------------------------------


def test_serve_on_port_zero_and_shut_down(node: FakeNode) -> None:
    app = build_app(node, TOKEN)

    async def main() -> tuple[int, dict[str, Any], str, float]:
        shutdown = trio.Event()
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(
                lambda task_status: serve_api(app, "127.0.0.1", 0, shutdown=shutdown,
                                              task_status=task_status))
            assert host == "127.0.0.1" and port > 0
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}", headers=AUTH,
                                         timeout=5) as c:
                status = (await c.get("/v1/status")).json()
                unauthorized = await c.get("/v1/status", headers={"Authorization": ""})
                assert unauthorized.status_code == 401
                # a client that goes away gives its subscription back, from an event stream
                # or a wait (raw sockets: httpx leaves generators unclosed when a stream is
                # abandoned)
                pending = transfer(node.genesis, 2, 0)
                node.pool[pending.id] = pending
                for path, ready in [("/v1/events", b": connected"),
                                    (f"/v1/txs/{pending.id.hex()}/wait?timeout=60", None)]:
                    sock = await trio.open_tcp_stream(host, port)
                    async with sock:
                        await sock.send_all(f"GET {path} HTTP/1.1\r\nHost: node\r\n"
                                            f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
                        head = b""
                        with trio.fail_after(2):
                            while ready is not None and ready not in head:
                                head += await sock.receive_some()
                            while not node.subscribers:
                                await trio.sleep(0.01)
                    with trio.fail_after(2):
                        while node.subscribers:
                            await trio.sleep(0.01)
                # an event stream left open must not hold up the shutdown
                async with c.stream("GET", "/v1/events") as stream:
                    chunks = stream.aiter_text()  # read to its end below, so it is closed
                    first = await chunks.__anext__()
                    t0 = trio.current_time()
                    shutdown.set()
                    with trio.fail_after(2):
                        async for _ in chunks:
                            pass
            with trio.fail_after(2):
                while nursery.child_tasks:
                    await trio.sleep(0.01)
            return port, status, first, trio.current_time() - t0

    _, status, first, elapsed = trio.run(main)
    assert status["chain_id"] == node.genesis.chain_id
    assert first.startswith(": connected")
    assert elapsed < 2


def test_serve_reports_a_port_in_use(node: FakeNode) -> None:
    app = build_app(node, TOKEN)

    async def main() -> None:
        shutdown = trio.Event()
        async with trio.open_nursery() as nursery:
            _, port = await nursery.start(
                lambda task_status: serve_api(app, "127.0.0.1", 0, shutdown=shutdown,
                                              task_status=task_status))
            try:
                with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
                    await nursery.start(
                        lambda task_status: serve_api(app, "127.0.0.1", port,
                                                      shutdown=shutdown,
                                                      task_status=task_status))
            finally:
                shutdown.set()

    trio.run(main)


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(tx=transactions())
def test_tx_view_of_any_transaction(tx: Transaction) -> None:
    view = json.loads(json.dumps(tx_view(tx)))
    assert Transaction.decode(bytes.fromhex(view["raw"])) == tx
    assert view["type"] == tx.body.NAME and view["id"] == tx.id.hex()
    assert list(view["body"]) == [f.name for f in fields(tx.body)]  # type: ignore[arg-type]
    assert Decimal(view["fee_dlc"]) * LI_PER_DLC == tx.fee  # exact, no float
    if isinstance(tx.body, Transfer):
        assert view["body"]["to"].startswith("dlc1")
    if isinstance(tx.body, Evidence):
        assert view["body"]["vote_a"]["type"] in ("prevote", "precommit")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ref=st.text(min_size=1, max_size=80), body=st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["tx", "txs", "tickets", "x"]), inner, max_size=3), max_leaves=8))
def test_hostile_input_never_gives_500(chain: Chain, full_store: BlockStore, ref: str,
                                       body: Any) -> None:
    node = FakeNode(chain.genesis, full_store)
    path = quote_path(ref, safe="")

    async def fn(c: httpx.AsyncClient) -> list[httpx.Response]:
        return [await c.get(f"/v1/blocks/{path}"), await c.get(f"/v1/payroll/{path}"),
                await c.get(f"/v1/txs/{path}"), await c.get(f"/v1/accounts/{path}"),
                await c.get("/v1/blocks", params={"from": ref, "to": ref}),
                await c.get(f"/v1/txs/{'00' * 32}/wait", params={"timeout": ref}),
                await c.post("/v1/txs", json=body), await c.post("/v1/tickets", json=body)]

    for r in run(node, fn):
        assert r.status_code in (200, 400, 404), (r.status_code, r.text)
        if r.status_code != 200:
            assert "\n" not in r.json()["error"]
    assert node.pool == {} and node.tickets == []


def test_admin_net_sets_the_nodes_own_faults_and_checks_them(node: FakeNode) -> None:
    peer = "16Uiu2HAmEWQnHq2jLKJypwVnVoQeFCULuyop6atvq2eWjYSUjzNi"
    r = post(node, "/v1/admin/net", json={"blocked_peers": [peer], "delay_ms": 80,
                                          "loss": 0.01})
    assert r.status_code == 200, r.text
    assert r.json()["blocked_peers"] == [peer] and r.json()["delay_ms"] == 80.0
    assert get(node, "/v1/admin/net").json()["loss"] == 0.01
    for body, what in (({"blocked_peers": ["not a peer id!"]}, "blocked_peers"),
                       ({"blocked_peers": [peer] * 257}, "blocked_peers"),
                       ({"delay_ms": -1}, "delay_ms"), ({"loss": 1.5}, "loss"),
                       ({"loss": "1%"}, "loss"), ({"drop_all": True}, "unknown field"),
                       ([1, 2], "JSON object")):
        assert what in error_of(post(node, "/v1/admin/net", json=body), 400, "bad_request")
    assert node.shaping["delay_ms"] == 80.0  # refused changes changed nothing
