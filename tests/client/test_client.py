"""``daoli.client`` against canned answers (httpx.MockTransport): typed parsing of every
endpoint, malformed answers as one-line BadResponse errors, HTTP status mapping to exit codes,
an unreachable node, transaction building, batching, events, and the async client under trio.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from daoli.client import (
    ApiError,
    AsyncClient,
    BadResponse,
    BlockEvent,
    Client,
    NodeTimeout,
    NodeUnreachable,
    NotFound,
    TxEvent,
    Unauthorized,
    block_ref,
    token_from_home,
)
from daoli.client.sse import SseParser
from daoli.core.address import encode_address
from daoli.core.tx import Transaction, Transfer, TrusteeJoin
from daoli.errors import (
    EXIT_FAILED,
    EXIT_TIMEOUT,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    AddressError,
    ConfigError,
)
from tests.client.api_views import fixture, sse, tx_status_view
from tests.core.ledger_factories import CHAIN_ID, addr, pk, sk, transfer

URL = "http://node.test:26657"
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, token: str | None = "tok") -> Client:
    return Client(URL, token, timeout=5, transport=httpx.MockTransport(handler))


def answer(routes: dict[str, Any], seen: list[httpx.Request] | None = None) -> Handler:
    """Serve ``routes[path]`` (a JSON value, or an httpx.Response) for every method."""

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        value = routes.get(request.url.path)
        if value is None:
            return httpx.Response(404, json={"error": f"no route {request.url.path}",
                                             "code": "not_found"})
        if isinstance(value, httpx.Response):
            return value
        if callable(value):
            return value(request)  # type: ignore[no-any-return]
        return httpx.Response(200, json=value)

    return handle


# --- typed answers ---------------------------------------------------------------------------


def test_status_and_token_header() -> None:
    f = fixture()
    seen: list[httpx.Request] = []
    with client(answer({"/v1/status": f.status()}, seen)) as node:
        s = node.status()
    assert s.chain_id == CHAIN_ID and s.height == 2 and s.tip_id == f.tip.id
    assert s.listen == ("/ip4/127.0.0.1/tcp/26656",) and s.trustee is True
    assert seen[0].headers["authorization"] == "Bearer tok"


def test_block_decodes_raw_and_checks_id() -> None:
    f = fixture()
    with client(answer({"/v1/blocks/2": f.block(2), "/v1/blocks/latest": f.block(2)})) as node:
        b = node.block(2)
        assert node.block().id == b.id
    assert b.block == f.tip and b.id == f.tip.id
    assert b.tx_ids == [f.tx.id] and len(b.payroll) == 2
    assert b.certificate is not None and b.certificate.certificate.block_id == b.id
    bad = f.block(2)
    bad["id"] = f.block(1)["id"]
    with client(answer({"/v1/blocks/2": bad})) as node, pytest.raises(BadResponse) as err:
        node.block(2)
    assert "raw encoding hashes to" in str(err.value)


def test_blocks_tx_account_payroll_lineup_trustees_mempool() -> None:
    f = fixture()
    routes = {
        "/v1/blocks": {"blocks": [f.block(1), f.block(2)]},
        f"/v1/txs/{f.tx.id.hex()}": tx_status_view(f.tx, f.tip),
        f"/v1/accounts/{encode_address(addr(1))}": f.account(1),
        "/v1/payroll/latest": f.payroll(),
        "/v1/lineup": f.lineup(),
        "/v1/trustees": f.trustees(),
        "/v1/mempool": {"count": 1, "bytes": 200, "txs": [f.tx.id.hex()]},
        "/v1/peers": {"peers": [{"peer_id": "16Uiu2HAm", "addrs": ["/ip4/1.2.3.4/tcp/1"]}]},
    }
    seen: list[httpx.Request] = []
    with client(answer(routes, seen)) as node:
        assert [b.height for b in node.blocks(1, 2)] == [1, 2]
        assert seen[-1].url.params["from"] == "1" and seen[-1].url.params["to"] == "2"
        s = node.tx(f.tx.id)
        assert s.final and s.height == 2 and s.index == 0 and s.tx.tx == f.tx
        assert isinstance(s.tx.tx.body, Transfer)
        acc = node.account(addr(1))
        assert (acc.balance, acc.nonce, acc.next_nonce) == (10**14, 3, 5)
        p = node.payroll()
        assert p.winner.ticket == f.tip.header.winner_ticket
        assert [t.ticket for t in p.payroll] == list(f.tip.payroll)
        assert len(node.lineup().lineup) == 2
        ts = node.trustees()
        assert ts.trustees[0].pubkey == pk(101) and ts.trustees[0].active
        m = node.mempool()
        assert (m.count, m.bytes, m.txs) == (1, 200, (f.tx.id,))
        assert node.peers()[0].direction is None


def test_draw_checks_its_seed_and_reads_target_forms() -> None:
    f = fixture()
    for target in (1 << 200, str(1 << 200), hex(1 << 200), f"{1 << 200:064x}"):
        with client(answer({"/v1/draw": f.draw(1_000, target, 1 << 56)})) as node:
            assert node.draw().target == 1 << 200
    with client(answer({"/v1/draw": f.draw(1_000, 1 << 200, 3)})) as node, \
            pytest.raises(BadResponse):
        node.draw()  # the target does not match the difficulty
    bad = f.draw(1_000)
    bad["seed"] = "00" * 32
    with client(answer({"/v1/draw": bad})) as node, pytest.raises(BadResponse):
        node.draw()
    for target in ("-1", "1e9", "", 0, None, "١٢"):
        routes = {"/v1/draw": f.draw(1_000, target)}  # type: ignore[arg-type]
        with client(answer(routes)) as node, pytest.raises(BadResponse):
            node.draw()


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda d: d.pop("height"), "status.height is missing"),
    (lambda d: d.update(height="2"), "status.height is a string"),
    (lambda d: d.update(height=True), "status.height is a boolean"),
    (lambda d: d.update(height=-1), "below 0"),
    (lambda d: d.update(tip_id="zz"), "not lower-case hex"),
    (lambda d: d.update(tip_id="ab"), "holds 1 bytes, expected 32"),
    (lambda d: d.update(listen=[1]), "status.listen[0] is an integer"),
    (lambda d: d.update(trustee="yes"), "expected true or false"),
])
def test_malformed_answers_are_one_line(mutate: Callable[[dict[str, Any]], Any],
                                        needle: str) -> None:
    doc = fixture().status()
    mutate(doc)
    with client(answer({"/v1/status": doc})) as node, pytest.raises(BadResponse) as err:
        node.status()
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert err.value.exit_code == EXIT_FAILED


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b"{\"a\": NaN}",
                                  b"[" * 100 + b"]" * 100, b"\xff\xfe"])
def test_non_json_or_wrong_shape(body: bytes) -> None:
    routes = {"/v1/status": httpx.Response(200, content=body)}
    with client(answer(routes)) as node, pytest.raises(BadResponse):
        node.status()


def test_bad_raw_is_bad_response() -> None:
    doc = fixture().block(2)
    doc["raw"] = doc["raw"][:-2]
    with client(answer({"/v1/blocks/2": doc})) as node, pytest.raises(BadResponse) as err:
        node.block(2)
    assert "block.raw does not decode" in str(err.value)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "cls", "code"), [
    (400, ApiError, EXIT_USAGE), (401, Unauthorized, EXIT_FAILED), (404, NotFound, EXIT_FAILED),
    (413, ApiError, EXIT_USAGE), (503, ApiError, EXIT_FAILED), (500, ApiError, EXIT_FAILED),
    (504, NodeTimeout, EXIT_TIMEOUT),
])
def test_status_codes_map_to_errors(status: int, cls: type[Exception], code: int) -> None:
    resp = httpx.Response(status, json={"error": "it went\nwrong", "code": "slug"})
    with client(answer({"/v1/status": resp})) as node, pytest.raises(cls) as err:
        node.status()
    assert err.value.exit_code == code  # type: ignore[attr-defined]
    assert "\n" not in str(err.value) and "it went wrong" in str(err.value)
    if isinstance(err.value, ApiError):
        assert (err.value.status, err.value.code) == (status, "slug")


def test_401_without_a_body_explains_the_token() -> None:
    node = client(answer({"/v1/status": httpx.Response(401)}), token=None)
    with node, pytest.raises(Unauthorized) as err:
        node.status()
    assert "api_token" in str(err.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_node() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with Client(url, "t", timeout=5) as node, pytest.raises(NodeUnreachable) as err:
        node.status()
    assert err.value.exit_code == EXIT_UNREACHABLE
    assert url in str(err.value) and "Errno" not in str(err.value)


def test_read_timeout_is_node_timeout() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("too slow", request=request)

    with client(slow) as node, pytest.raises(NodeTimeout) as err:
        node.status()
    assert err.value.exit_code == EXIT_TIMEOUT


@pytest.mark.parametrize("ref", ["-1", "abc", "1.5", "0x10", "01", "ab" * 31, True, -3,
                                 b"short", "1" * 30])
def test_bad_block_refs_are_usage_errors(ref: Any) -> None:
    with pytest.raises(ConfigError):
        block_ref(ref)


def test_good_block_refs() -> None:
    assert block_ref(0) == "0" and block_ref("latest") == "latest"
    assert block_ref("AB" * 32) == "ab" * 32 and block_ref(b"\x01" * 32) == "01" * 32


@pytest.mark.parametrize("url", ["", "ftp://x", "http://", "::::"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        Client(url)


# --- building, signing, submitting ----------------------------------------------------------


def test_transfer_uses_chain_id_and_next_nonce() -> None:
    f = fixture()
    sender = encode_address(addr(1))
    posted: list[dict[str, Any]] = []

    def submit(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posted.append(body)
        tx = Transaction.decode(bytes.fromhex(body["tx"]))
        return httpx.Response(200, json={"results": [{"id": tx.id.hex(), "status":
                                                      "accepted"}]})

    routes = {"/v1/status": f.status(), f"/v1/accounts/{sender}": f.account(1, next_nonce=9),
              "/v1/txs": submit}
    with client(answer(routes)) as node:
        tx = node.transfer(sk(1), encode_address(addr(2)), 150_000_000, 1_000, memo=b"hi")
        assert tx.chain_id == CHAIN_ID and tx.nonce == 9 and tx.verify_sig()
        assert tx.body == Transfer(addr(2), 150_000_000, b"hi")
        result = node.submit(tx)
        assert result.ok and result.id == tx.id
        join = node.trustee_join(sk(1), 10**11, "/ip4/1.2.3.4/tcp/1", 1_000, nonce=10)
        assert join.body == TrusteeJoin(10**11, "/ip4/1.2.3.4/tcp/1") and join.nonce == 10
    assert Transaction.decode(bytes.fromhex(posted[0]["tx"])) == tx
    with pytest.raises(AddressError):
        client(answer(routes)).transfer(sk(1), "dlc1nope", 1, 1_000, nonce=0)
    with pytest.raises(ConfigError):
        client(answer(routes)).transfer(sk(1), addr(2), -1, 1_000, nonce=0)


def test_submit_batch_splits_and_checks_results() -> None:
    txs = [transfer(1, 2, 1, n) for n in range(1_001)]
    sizes: list[int] = []

    def submit(request: httpx.Request) -> httpx.Response:
        raw = json.loads(request.content)["txs"]
        sizes.append(len(raw))
        ids = [Transaction.decode(bytes.fromhex(r)).id.hex() for r in raw]
        return httpx.Response(200, json={"results": [
            {"id": i, "status": "rejected", "reason": "nonce_gap"} for i in ids]})

    with client(answer({"/v1/txs": submit})) as node:
        results = node.submit_batch(txs)
    assert sizes == [1_000, 1] and len(results) == 1_001
    assert results[5].id == txs[5].id and results[5].reason == "nonce_gap" and not results[5].ok

    def wrong(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": []})

    with client(answer({"/v1/txs": wrong})) as node, pytest.raises(BadResponse):
        node.submit(txs[0])


def test_wait_for_tx() -> None:
    f = fixture()
    seen: list[httpx.Request] = []
    path = f"/v1/txs/{f.tx.id.hex()}/wait"
    with client(answer({path: tx_status_view(f.tx, f.tip)}, seen)) as node:
        assert node.wait_for_tx(f.tx.id, timeout=12).final
    assert float(seen[0].url.params["timeout"]) == pytest.approx(12, abs=0.1)
    late = httpx.Response(504, json={"error": "not final", "code": "timeout"})
    with client(answer({path: late})) as node, pytest.raises(NodeTimeout):
        node.wait_for_tx(f.tx.id, timeout=0.2)
    with pytest.raises(ConfigError):
        client(answer({})).wait_for_tx(f.tx.id, timeout=float("nan"))


# --- events ----------------------------------------------------------------------------------


def _stream(body: bytes) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type":
                                                           "text/event-stream"})
    return handle


def test_events_parse_blocks_and_txs_and_end() -> None:
    f = fixture()
    body = sse(": ping", ("block", {"height": 2, "id": f.tip.id.hex(), "time_ms": 5,
                                    "n_txs": 1, "txs": [f.tx.id.hex()]}),
               ("future_kind", {"x": 1}), ("tx", {"id": f.tx.id.hex(), "height": 2}))
    with client(answer({"/v1/events": _stream(body)})) as node:
        stream = node.events()
        events = [next(stream), next(stream)]
        with pytest.raises(NodeUnreachable):
            next(stream)  # the stream ended
    assert events == [BlockEvent(2, f.tip.id, 5, 1, (f.tx.id,)), TxEvent(f.tx.id, 2)]


def test_events_error_status() -> None:
    with client(answer({"/v1/events": httpx.Response(401)})) as node, \
            pytest.raises(Unauthorized):
        next(node.events())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.booleans())
def test_sse_parser_is_chunking_independent(cuts: list[int], crlf: bool) -> None:
    body = sse(": ping", ("block", {"height": 1}), ("tx", {"id": "x"}), ": ping",
               ("block", {"height": 2, "multi": "a"}))
    if crlf:
        body = body.replace(b"\n", b"\r\n")
    whole = SseParser().feed(body)
    parser = SseParser()
    got: list[tuple[str, str]] = []
    pos = 0
    for n in cuts:
        got += parser.feed(body[pos:pos + n])
        pos += n
    got += parser.feed(body[pos:])
    assert got == whole and [e for e, _ in whole] == ["block", "tx", "block"]


def test_sse_parser_bounds_lines() -> None:
    with pytest.raises(BadResponse):
        SseParser(max_line=100).feed(b"data: " + b"x" * 200)


# --- async, under trio -------------------------------------------------------------------------


def test_async_client_under_trio() -> None:
    f = fixture()
    sender = encode_address(addr(1))
    body = sse(("block", {"height": 2, "id": f.tip.id.hex(), "time_ms": 5, "n_txs": 0,
                          "txs": []}))
    routes: dict[str, Any] = {"/v1/status": f.status(), "/v1/blocks/2": f.block(2),
                              f"/v1/accounts/{sender}": f.account(1, next_nonce=4),
                              "/v1/events": _stream(body),
                              "/v1/draw": httpx.Response(503, json={"error": "no draw",
                                                                    "code": "unavailable"})}

    async def main() -> None:
        async with AsyncClient(URL, "tok", transport=httpx.MockTransport(answer(routes))
                               ) as node:
            assert (await node.status()).height == 2
            assert (await node.block(2)).block == f.tip
            tx = await node.transfer(sk(1), addr(2), 10, 1_000)
            assert tx.nonce == 4 and tx.verify_sig() and tx.chain_id == CHAIN_ID
            stream = node.events()
            event = await stream.__anext__()
            await stream.aclose()
            assert isinstance(event, BlockEvent) and event.id == f.tip.id
            with pytest.raises(ApiError) as err:
                await node.draw()
            assert err.value.status == 503

    trio.run(main)


def test_async_unreachable_under_trio() -> None:
    async def main() -> None:
        async with AsyncClient(f"http://127.0.0.1:{_closed_port()}", None) as node:
            with pytest.raises(NodeUnreachable):
                await node.status()

    trio.run(main)


# --- token -------------------------------------------------------------------------------------


def test_token_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAOLI_API_TOKEN", raising=False)
    assert token_from_home(tmp_path) is None
    (tmp_path / "api_token").write_text("a" * 64 + "\n")
    assert token_from_home(tmp_path) == "a" * 64
    monkeypatch.setenv("DAOLI_API_TOKEN", "from-env")
    assert token_from_home(tmp_path) == "from-env"
    monkeypatch.delenv("DAOLI_API_TOKEN")
    (tmp_path / "api_token").write_text("\n")
    with pytest.raises(ConfigError):
        token_from_home(tmp_path)
    (tmp_path / "api_token").unlink()
    (tmp_path / "api_token").mkdir()
    with pytest.raises(ConfigError):
        token_from_home(tmp_path)
    monkeypatch.setenv("DAOLI_API_TOKEN", "bad token\r\nX-Evil: 1")
    with pytest.raises(ConfigError):
        token_from_home(tmp_path)
