"""The node-facing commands (node, chain status, block, tx, payroll, trustee, wallet
balance|send, mine) against a stub node: a small HTTP server on 127.0.0.1, port 0, in a
thread, answering docs/api.md-shaped JSON built from real signed objects, and recording what
the CLI posts. The CLI runs in this process through :func:`daoli.cli.app.run` (what the
console script runs): exit codes, one-line errors, --json schemas, and the transactions and
tickets the CLI signs (decoded and verified here).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import types
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from daoli.cli.app import run
from daoli.core.address import address_of, encode_address
from daoli.core.crypto import pubkey_from_secret
from daoli.core.peerid import peer_id_of_secret
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction, Transfer, TrusteeJoin
from daoli.node.home import Home
from daoli.node.options import NodeOptions
from daoli.wallet import WalletStore
from tests.client.api_views import fixture, sse, tx_status_view
from tests.core.ledger_factories import CHAIN_ID, addr, pk, sk

PW = "pw for tests"
TOKEN = "c0ffee" * 8
ALICE, BOB = encode_address(addr(1)), encode_address(addr(2))
Route = Callable[[dict[str, list[str]], bytes], tuple[int, Any]]


class Events:
    """An event stream body; with ``pings`` the server then keeps sending ``: ping`` lines
    every 0.05 s for up to that many seconds (until the client goes away)."""

    def __init__(self, body: bytes, pings: float = 0.0) -> None:
        self.body = body
        self.pings = pings


class StubNode:
    """``routes[(method, path)]``: a JSON value (200), a Route, or :class:`Events`."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Any] = {}
        self.posts: list[tuple[str, Any]] = []
        self.auth: list[str | None] = []
        self.stop = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve("GET", b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self._serve("POST", self.rfile.read(length))

            def _serve(self, method: str, body: bytes) -> None:
                parts = urlsplit(self.path)
                stub.auth.append(self.headers.get("authorization"))
                if method == "POST":
                    stub.posts.append((parts.path, json.loads(body)))
                route = stub.routes.get((method, parts.path))
                if isinstance(route, Events):
                    self._events(route)
                    return
                if route is None:
                    status, doc = 404, {"error": f"no route {parts.path}", "code": "not_found"}
                elif callable(route):
                    status, doc = route(parse_qs(parts.query), body)
                else:
                    status, doc = 200, route
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _events(self, ev: Events) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                try:
                    self.wfile.write(ev.body)
                    self.wfile.flush()
                    waited = 0.0
                    while waited < ev.pings and not stub.stop.wait(0.05):
                        waited += 0.05
                        self.wfile.write(b": ping\n\n")
                        self.wfile.flush()
                except OSError:
                    pass  # the client went away

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def standard_routes(stub: StubNode) -> None:
    f = fixture()
    submitted: list[Any] = []

    def submit(query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        doc = json.loads(body)
        raws = doc.get("txs") or [doc["tx"]]
        txs = [Transaction.decode(bytes.fromhex(r)) for r in raws]
        submitted.extend(txs)
        return 200, {"results": [{"id": tx.id.hex(), "status": "accepted"} for tx in txs]}

    def tickets(query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        ts = [Ticket.decode(bytes.fromhex(r)) for r in json.loads(body)["tickets"]]
        return 200, {"results": [{"id": t.id.hex(), "status": "accepted"} for t in ts]}

    def draw(query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        import time

        return 200, f.draw(int(time.time() * 1000))

    stub.routes.update({
        ("GET", "/v1/status"): f.status(),
        ("GET", "/v1/peers"): {"peers": [{"peer_id": "16Uiu2HAmPeer", "addrs":
                                          ["/ip4/10.0.0.2/tcp/26656"], "direction": "out"}]},
        ("GET", "/v1/blocks/latest"): f.block(2),
        ("GET", "/v1/blocks/2"): f.block(2),
        ("GET", "/v1/blocks/1"): f.block(1),
        ("GET", "/v1/blocks"): lambda q, b: (200, {"blocks": [
            f.block(h) for h in range(int(q["from"][0]), min(int(q.get("to", ["2"])[0]), 2) + 1)
            if h >= 1]}),
        ("GET", f"/v1/txs/{f.tx.id.hex()}"): tx_status_view(f.tx, f.tip),
        ("GET", f"/v1/accounts/{ALICE}"): f.account(1, balance=10 * 10**8, next_nonce=5),
        ("GET", f"/v1/accounts/{BOB}"): f.account(2, balance=0, nonce=0, next_nonce=0),
        ("GET", "/v1/payroll/latest"): f.payroll(),
        ("GET", "/v1/lineup"): f.lineup(),
        ("GET", "/v1/trustees"): f.trustees(),
        ("GET", "/v1/draw"): draw,
        ("POST", "/v1/txs"): submit,
        ("POST", "/v1/tickets"): tickets,
    })


@pytest.fixture
def stub() -> Iterator[StubNode]:
    node = StubNode()
    standard_routes(node)
    yield node
    node.close()


@pytest.fixture(scope="module")
def wallets_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    store = WalletStore(home / "wallets")
    store.import_secret("alice", sk(1), PW, light_kdf=True)
    store.import_secret("bob", sk(2), PW, light_kdf=True)
    (home / "api_token").write_text(TOKEN + "\n")
    return home


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        wallets_home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def call(*args: str, node: str | None = None, env: dict[str, str] | None = None,
             home: Path | None = None) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        with monkeypatch.context() as m:
            for key in ("DAOLI_PASSWORD_FILE", "DAOLI_OUTPUT", "DAOLI_API_TOKEN", "DAOLI_NODE",
                        "NO_COLOR"):
                m.delenv(key, raising=False)
            m.setenv("DAOLI_HOME", str(home or wallets_home))
            m.setenv("DAOLI_PASSWORD", PW)
            m.setenv("COLUMNS", "200")
            if node is not None:
                m.setenv("DAOLI_NODE", node)
            for key, value in (env or {}).items():
                m.setenv(key, value)
            code = run(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["daoli", *args], code, out, err)

    return call


def ok(r: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    assert isinstance(doc, dict)
    return doc


def error(r: subprocess.CompletedProcess[str], code: int) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr, r.stdout)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# --- node ------------------------------------------------------------------------------------


def test_node_id_needs_no_node(cli: Callable[..., Any], tmp_path: Path) -> None:
    home = tmp_path / "n"
    Home.create(home, signer_secret=sk(7), node_secret=sk(8))
    doc = ok(cli("--json", "node", "id", home=home))
    assert doc == {"home": str(home.resolve()), "peer_id": peer_id_of_secret(sk(8)),
                   "signer_address": address_of(pk(7)), "signer_pubkey": pk(7).hex()}
    human = cli("node", "id", home=home)
    assert human.returncode == 0 and peer_id_of_secret(sk(8)) in human.stdout
    error(cli("node", "id", home=tmp_path / "nothing"), 2)


def test_status_schemas(cli: Callable[..., Any], stub: StubNode) -> None:
    keys = {"node", "chain_id", "genesis_id", "height", "tip_id", "tip_time_ms", "cycle",
            "gc_cycle_ms", "round", "peers", "trustees", "trustee", "mempool", "peer_id",
            "listen", "syncing", "version"}
    for cmd in (["node", "status"], ["chain", "status"]):
        doc = ok(cli("--json", *cmd, node=stub.url))
        assert set(doc) == keys
        assert (doc["chain_id"], doc["height"], doc["node"]) == (CHAIN_ID, 2, stub.url)
        human = cli(*cmd, node=stub.url)
        assert human.returncode == 0 and fixture().tip.id.hex() in human.stdout
    assert stub.auth[0] == f"Bearer {TOKEN}"
    peers = ok(cli("--json", "node", "peers", node=stub.url))
    assert peers == {"count": 1, "peers": [{"peer_id": "16Uiu2HAmPeer", "direction": "out",
                                            "addrs": ["/ip4/10.0.0.2/tcp/26656"]}]}


@pytest.mark.parametrize("argv", [
    ["node", "status"], ["chain", "status"], ["node", "peers"], ["block", "show"],
    ["block", "list"], ["block", "watch", "--count", "1"], ["tx", "show", "ab" * 32],
    ["payroll", "show"], ["payroll", "lineup"], ["trustee", "list"],
    ["wallet", "balance", "alice"], ["wallet", "send", "alice", "bob", "1DLC"],
    ["trustee", "leave", "--wallet", "alice"], ["mine", "--wallet", "alice", "--count", "1"],
])
def test_unreachable_node_is_exit_3(cli: Callable[..., Any], argv: list[str]) -> None:
    url = closed_port_url()
    line = error(cli(*argv, node=url), 3)
    assert url in line and "Errno" not in line
    r = cli("--json", *argv, node=url)
    error(r, 3)
    assert json.loads(r.stdout)["error"]["exit_code"] == 3


def test_api_token_and_401(cli: Callable[..., Any], stub: StubNode) -> None:
    stub.routes[("GET", "/v1/status")] = lambda q, b: (401, {"error": "wrong token",
                                                            "code": "unauthorized"})
    line = error(cli("node", "status", node=stub.url), 1)
    assert "wrong token" in line and "401" in line
    error(cli("node", "status", node=stub.url, env={"DAOLI_API_TOKEN": "from-env"}), 1)
    assert stub.auth == [f"Bearer {TOKEN}", "Bearer from-env"]
    error(cli("node", "status", node=stub.url, env={"DAOLI_API_TOKEN": "a b"}), 2)


def test_node_start_checks_then_runs_the_service(cli: Callable[..., Any], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "n"
    Home.create(home)
    calls: list[tuple[Path, NodeOptions]] = []

    def run_node(path: Path, options: NodeOptions) -> int:
        calls.append((path, options))
        return 0

    monkeypatch.setitem(sys.modules, "daoli.node.service",
                        types.SimpleNamespace(run_node=run_node))
    peer = "/ip4/10.0.0.1/tcp/26656/p2p/" + peer_id_of_secret(sk(3))
    r = cli("node", "start", "--listen", "/ip4/0.0.0.0/tcp/0", "--bootstrap", peer,
            "--api", "127.0.0.1:0", "--no-trustee", "--mine", "2", "--log-level", "debug",
            home=home)
    assert r.returncode == 0, r.stderr
    assert calls == [(home.resolve(), NodeOptions(
        listen="/ip4/0.0.0.0/tcp/0", bootstrap=(peer,), api="127.0.0.1:0", trustee=False,
        mine=2, sponsor=None, log_level="debug", json_output=False))]
    for bad in (["--listen", "/ip4/1.2.3.4"], ["--bootstrap", "/ip4/1.2.3.4/tcp/1"],
                ["--api", "nope"], ["--log-level", "loud"], ["--mine", "-1"]):
        error(cli("node", "start", *bad, home=home), 2)
    error(cli("node", "start", home=tmp_path / "empty"), 2)
    assert len(calls) == 1


# --- reading the chain -------------------------------------------------------------------------


BLOCK_KEYS = {"height", "id", "parent_id", "cycle", "time_ms", "proposer", "proposer_pubkey",
              "winner", "payroll", "txs", "n_txs", "state_root", "size", "certificate"}


def test_block_show_and_list(cli: Callable[..., Any], stub: StubNode) -> None:
    f = fixture()
    doc = ok(cli("--json", "block", "show", node=stub.url))
    assert set(doc) == BLOCK_KEYS
    assert doc["id"] == f.tip.id.hex() and doc["txs"] == [f.tx.id.hex()]
    assert len(doc["payroll"]) == 2 and doc["certificate"]["round"] == 0
    raw = ok(cli("--json", "block", "show", "2", "--raw", node=stub.url))
    assert bytes.fromhex(raw["raw"]) == f.tip.encoded
    human = cli("block", "show", "1", node=stub.url)
    assert human.returncode == 0 and f.blocks[0].id.hex() in human.stdout
    listed = ok(cli("--json", "block", "list", "--from", "1", "--to", "2", node=stub.url))
    assert [b["height"] for b in listed["blocks"]] == [1, 2] and listed["to"] == 2
    assert [b["height"] for b in ok(cli("--json", "block", "list", node=stub.url))["blocks"]] \
        == [1, 2]
    error(cli("block", "show", "3", node=stub.url), 1)  # 404 from the node
    for bad in (["block", "show", "tip"], ["block", "show", "-1"],
                ["block", "list", "--from", "5", "--to", "1"], ["tx", "show", "xyz"]):
        error(cli(*bad, node=stub.url), 2)


def test_tx_payroll_lineup_trustees(cli: Callable[..., Any], stub: StubNode) -> None:
    f = fixture()
    tx = ok(cli("--json", "tx", "show", f.tx.id.hex(), node=stub.url))
    assert (tx["status"], tx["height"], tx["index"], tx["type"]) == ("final", 2, 0, "transfer")
    assert tx["body"] == {"to": BOB, "amount": 5_000, "memo": ""}
    assert tx["sender"] == ALICE and tx["fee_dlc"] == "0.00001"
    payroll = ok(cli("--json", "payroll", "show", node=stub.url))
    assert payroll["winner"]["id"] == f.tip.header.winner_ticket.id.hex()
    assert [t["miner_pubkey"] for t in payroll["payroll"]] == [pk(203).hex(), pk(204).hex()]
    lineup = ok(cli("--json", "payroll", "lineup", node=stub.url))
    assert set(lineup["lineup"][0]) == {"miner", "miner_pubkey", "sponsor", "since", "until",
                                        "offers"}
    assert lineup["lineup"][0]["offers"] == []  # the stub has no /v1/offers: none shown
    trustees = ok(cli("--json", "trustee", "list", node=stub.url))
    assert trustees["trustees"][0]["bond_dlc"] == "1000" and trustees["epoch"] == 0
    for cmd in (["tx", "show", f.tx.id.hex()], ["payroll", "show"], ["payroll", "lineup"],
                ["trustee", "list"]):
        assert cli(*cmd, node=stub.url).returncode == 0


def test_block_watch(cli: Callable[..., Any], stub: StubNode) -> None:
    f = fixture()
    blocks = [("block", {"height": h, "id": f.blocks[h - 1].id.hex(), "time_ms": 1_000 + h,
                         "n_txs": len(f.blocks[h - 1].payload),
                         "txs": [t.id.hex() for t in f.blocks[h - 1].payload]}) for h in (1, 2)]
    stub.routes[("GET", "/v1/events")] = Events(
        sse(": ping", blocks[0], ("tx", {"id": f.tx.id.hex(), "height": 2}), blocks[1]),
        pings=30)
    r = cli("--json", "block", "watch", "--count", "2", node=stub.url)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["height"] for d in lines] == [1, 2] and lines[1]["txs"] == [f.tx.id.hex()]
    human = cli("block", "watch", "--count", "1", node=stub.url)
    assert human.returncode == 0 and f.blocks[0].id.hex() in human.stdout
    stub.routes[("GET", "/v1/events")] = Events(sse(": ping"), pings=30)
    assert "no event" in error(cli("block", "watch", "--timeout", "0.3", node=stub.url), 4)
    for bad in ("inf", "nan", "0", "-1"):
        error(cli("block", "watch", "--timeout", bad, node=stub.url), 2)


# --- signing and submitting --------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1.5DLC", "150000000", "150_000_000li", "1.5 dlc"])
def test_wallet_send_signs_the_right_transfer(cli: Callable[..., Any], stub: StubNode,
                                              amount: str) -> None:
    doc = ok(cli("--json", "wallet", "send", "alice", "bob", amount, "--memo", "rent",
                 node=stub.url))
    [(path, body)] = stub.posts
    tx = Transaction.decode(bytes.fromhex(body["tx"]))
    assert path == "/v1/txs" and tx.verify_sig()
    assert tx.sender_pubkey == pubkey_from_secret(sk(1)) and tx.chain_id == CHAIN_ID
    assert tx.nonce == 5  # the account's next_nonce, counting pooled transactions
    assert tx.fee == 1_000 and tx.body == Transfer(addr(2), 150_000_000, b"rent")
    assert doc == {"tx_id": tx.id.hex(), "from": ALICE, "from_wallet": "alice", "to": BOB,
                   "to_wallet": "bob", "amount": 150_000_000, "amount_dlc": "1.5",
                   "fee": 1_000, "fee_dlc": "0.00001", "nonce": 5, "memo": "rent",
                   "status": "accepted", "height": None}


def test_wallet_send_human_and_address(cli: Callable[..., Any], stub: StubNode) -> None:
    r = cli("wallet", "send", "alice", BOB, "2DLC", "--fee", "0.0001DLC", node=stub.url)
    assert r.returncode == 0, r.stderr
    tx = Transaction.decode(bytes.fromhex(stub.posts[0][1]["tx"]))
    assert tx.fee == 10_000 and tx.body.amount == 200_000_000  # type: ignore[attr-defined]
    out = " ".join(r.stdout.split())
    assert "2 DLC (200,000,000 li)" in out and tx.id.hex() in out


def test_wallet_send_wait(cli: Callable[..., Any], stub: StubNode) -> None:
    f = fixture()

    def wait(query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        tx = Transaction.decode(bytes.fromhex(stub.posts[-1][1]["tx"]))
        return 200, {**tx_status_view(tx, None), "status": "final", "height": 3, "index": 0,
                     "block_id": f.tip.id.hex()}

    original = stub.routes[("POST", "/v1/txs")]

    def submit(query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        tx = Transaction.decode(bytes.fromhex(json.loads(body)["tx"]))
        stub.routes[("GET", f"/v1/txs/{tx.id.hex()}/wait")] = wait
        result: tuple[int, Any] = original(query, body)
        return result

    stub.routes[("POST", "/v1/txs")] = submit
    doc = ok(cli("--json", "wallet", "send", "alice", "bob", "1DLC", "--wait", node=stub.url))
    assert (doc["status"], doc["height"]) == ("final", 3)

    def late(query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        tx = Transaction.decode(bytes.fromhex(json.loads(body)["tx"]))
        stub.routes[("GET", f"/v1/txs/{tx.id.hex()}/wait")] = lambda q, b: (
            504, {"error": "not final within 1 s", "code": "timeout"})
        result: tuple[int, Any] = original(query, body)
        return result

    stub.routes[("POST", "/v1/txs")] = late
    r = cli("--json", "wallet", "send", "alice", "bob", "1DLC", "--wait", "--timeout", "1",
            node=stub.url)
    error(r, 4)
    assert json.loads(r.stdout)["error"]["exit_code"] == 4


def test_wallet_send_refusals(cli: Callable[..., Any], stub: StubNode) -> None:
    # more than the balance (10 DLC): refused before a password is asked or anything is sent
    assert "less than" in error(cli("wallet", "send", "alice", "bob", "10DLC",
                                    node=stub.url), 1)
    for bad in (["alice", "bob", "1.5"], ["alice", "bob", "0"], ["alice", "nobody", "1DLC"],
                ["alice", "dlc1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqx", "1DLC"],
                ["ghost", "bob", "1DLC"], ["alice", "bob", "1DLC", "--fee", "-1"],
                ["alice", "bob", "1DLC", "--memo", "x" * 300],
                ["alice", "bob", "1DLC", "--timeout", "nan"]):
        error(cli("wallet", "send", *bad, node=stub.url), 2)
    error(cli("wallet", "send", "alice", "bob", "1DLC", node=stub.url,
              env={"DAOLI_PASSWORD": "wrong"}), 2)
    assert stub.posts == []
    stub.routes[("POST", "/v1/txs")] = lambda q, b: (200, {"results": [{
        "id": Transaction.decode(bytes.fromhex(json.loads(b)["tx"])).id.hex(),
        "status": "rejected", "reason": "fee below min_fee"}]})
    assert "fee below min_fee" in error(cli("wallet", "send", "alice", "bob", "1DLC",
                                            node=stub.url), 1)
    stub.routes[("POST", "/v1/txs")] = lambda q, b: (400, {"error": "tx: bad encoding",
                                                          "code": "bad_request"})
    assert "bad encoding" in error(cli("wallet", "send", "alice", "bob", "1DLC",
                                       node=stub.url), 2)


def test_wallet_balance(cli: Callable[..., Any], stub: StubNode) -> None:
    doc = ok(cli("--json", "wallet", "balance", "alice", node=stub.url))
    assert doc == {"address": ALICE, "wallet": "alice", "balance": 10 * 10**8,
                   "balance_dlc": "10", "nonce": 3, "next_nonce": 5}
    assert ok(cli("--json", "wallet", "balance", BOB, node=stub.url))["wallet"] is None
    human = cli("wallet", "balance", "alice", node=stub.url)
    assert "10 DLC (1,000,000,000 li)" in human.stdout
    error(cli("wallet", "balance", "dlc1nope", node=stub.url), 2)


def test_trustee_join_and_leave(cli: Callable[..., Any], stub: StubNode) -> None:
    doc = ok(cli("--json", "trustee", "join", "--wallet", "alice", "--bond", "5DLC",
                 node=stub.url))
    tx = Transaction.decode(bytes.fromhex(stub.posts[0][1]["tx"]))
    assert tx.verify_sig() and tx.nonce == 5 and tx.sender_pubkey == pk(1)
    multiaddr = "/ip4/127.0.0.1/tcp/26656/p2p/" + fixture().status()["peer_id"]
    assert tx.body == TrusteeJoin(5 * 10**8, multiaddr)
    assert doc["multiaddr"] == multiaddr and doc["bond_dlc"] == "5"
    left = ok(cli("--json", "trustee", "leave", "--wallet", "alice", node=stub.url))
    assert Transaction.decode(bytes.fromhex(stub.posts[1][1]["tx"])).body.NAME == \
        "trustee_leave" and left["tx_id"]
    error(cli("trustee", "join", "--wallet", "alice", "--bond", "5DLC", "--multiaddr", "/x",
              node=stub.url), 2)


def test_mine_sends_valid_tickets(cli: Callable[..., Any], stub: StubNode) -> None:
    f = fixture()
    doc = ok(cli("--json", "mine", "--wallet", "alice", "--count", "1", node=stub.url))
    [(path, body)] = stub.posts
    [ticket] = [Ticket.decode(bytes.fromhex(r)) for r in body["tickets"]]
    assert path == "/v1/tickets" and ticket.verify_sig()
    assert ticket.miner_pubkey == pk(1) and ticket.sponsor_pubkey == pk(202)
    assert (ticket.height, ticket.cycle, ticket.parent_id) == (3, 9, f.tip.id)
    assert (doc["sent"], doc["accepted"], doc["stopped"], doc["miner"]) == (1, 1, "count",
                                                                           ALICE)
    assert doc["sponsor"] == stub.url
    r = cli("mine", "--wallet", "alice", "--sponsor", stub.url, "--duration", "0.3",
            node="127.0.0.1:1")
    assert r.returncode == 0, r.stderr
    assert "done (duration)" in r.stdout
    error(cli("mine", "--wallet", "alice", "--duration", "inf", node=stub.url), 2)
    error(cli("mine", "--wallet", "alice", "--sponsor", "nope", node=stub.url), 2)


def test_commands_that_do_not_start_a_node_never_import_libp2p(tmp_path: Path) -> None:
    """``import libp2p`` costs about a second: only ``daoli node start`` may pay it."""
    home = tmp_path / "h"
    code = (
        "import sys; from daoli.cli.app import run\n"
        f"home = {str(home)!r}\n"
        "for args in (['init', '--home', home], ['node', 'id', '--home', home],\n"
        "             ['node', 'start', '--help'], ['chain', 'status', '--help'],\n"
        "             ['--node', 'http://127.0.0.1:9', 'chain', 'status', '--home', home],\n"
        "             ['wallet', 'list', '--home', home], ['mine', '--help']):\n"
        "    try:\n"
        "        run(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "sys.stderr.write('MODULES ' + str(sorted({m.split('.')[0] for m in sys.modules\n"
        "                                  if m.split('.')[0] in ('libp2p', 'multiaddr',\n"
        "                                  'fastecdsa', 'trio', 'hypercorn', 'starlette')})))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    line = [x for x in result.stderr.splitlines() if x.startswith("MODULES ")]
    assert line, result.stderr[-2000:]
    assert "libp2p" not in line[0] and "hypercorn" not in line[0], line[0]
