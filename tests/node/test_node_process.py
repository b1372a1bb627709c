"""Integration: real ``daoli node start`` processes on 127.0.0.1 (real LMDB, real libp2p).

Each test waits on conditions through the nodes' HTTP API with deadlines (never a bare
sleep), and stops its nodes by PID with SIGTERM, checking that they exit 0 within 2 s.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from daoli.core.address import address_bytes_of, address_of, decode_address, encode_address
from daoli.core.block import Block
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation
from daoli.core.params import LI_PER_DLC
from daoli.core.tx import MAX_MEMO, Transaction, Transfer
from daoli.core.wire import MAX_GOSSIP_BYTES
from daoli.node.home import Home
from daoli.wallet.keystore import decrypt_keystore, read_keystore_file
from tests.node.nodeproc import NodeProc, init_home, make_network, running, wait_for

pytestmark = pytest.mark.slow


def address_of_bytes(raw: bytes) -> str:
    return encode_address(raw)


def dev_secret(home: Path) -> bytes:
    ks = read_keystore_file(home / "wallets" / "dev.json")
    return decrypt_keystore(ks, Home(home).dev_password(), "wrong dev password")


def transfer(node: NodeProc, secret: bytes, to: bytes, amount: int, nonce: int,
             fee: int = 1000) -> str:
    chain_id = node.get("/v1/status")["chain_id"]
    tx = Transaction(chain_id, pubkey_from_secret(secret), nonce, fee,
                     Transfer(to, amount)).signed(secret)
    res = node.post("/v1/txs", {"tx": tx.encoded.hex()})["results"][0]
    assert res["status"] == "accepted", res
    return str(res["id"])


def balance(node: NodeProc, address: str) -> int:
    return int(node.get(f"/v1/accounts/{address}")["balance"])


def final(node: NodeProc, txid: str) -> bool:
    return bool(node.get(f"/v1/txs/{txid}")["status"] == "final")


def stop_all(nodes: list[NodeProc]) -> None:
    for n in nodes:
        t0 = time.monotonic()
        assert n.stop() == 0, n.stderr_tail()
        assert time.monotonic() - t0 < 2.5, "a node took over 2 s to stop"


def test_bare_init_is_a_working_dev_chain_that_moves_funds_exactly(tmp_path: Path) -> None:
    home = tmp_path / "dev"
    info = init_home(home)
    node = NodeProc(home, extra=("--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"))
    with running([node]):
        node.start()
        wait_for("block 2", lambda: node.height() >= 2, timeout=20)
        secret = dev_secret(home)
        dev_addr = info["dev_wallet"]["address"]
        assert address_of(pubkey_from_secret(secret)) == dev_addr
        before = balance(node, dev_addr)
        to = address_of(pubkey_from_secret(bytes([7]) * 32))
        txid = transfer(node, secret, decode_address(to), 150_000_000, nonce=0, fee=2_000)
        wait_for("the transfer is final", lambda: final(node, txid), timeout=20)
        assert balance(node, to) == 150_000_000
        assert balance(node, dev_addr) == before - 150_000_000 - 2_000
        st = node.get("/v1/txs/" + txid)
        assert st["height"] >= 1 and st["tx"]["type"] == "transfer"
        stop_all([node])
        # a restart continues from the store, and keeps finalizing
        h = max(1, int(st["height"]))
        node.start()
        wait_for("blocks after restart", lambda: node.height() > h + 1, timeout=20)
        assert balance(node, to) == 150_000_000
        stop_all([node])


@pytest.mark.parametrize("n", [2, 4])
def test_networks_finalize_in_any_start_order_and_agree(tmp_path: Path, n: int) -> None:
    nodes = make_network(tmp_path, n)
    with running(nodes):
        for node in reversed(nodes):  # the last node's peers are all down when it starts
            node.start()
        wait_for(f"{n} nodes past height 3",
                 lambda: all(nd.height() >= 3 for nd in nodes), timeout=60)
        # a transfer sent through one node is final and visible on all
        secret = dev_secret(nodes[0].home)
        to = address_of(pubkey_from_secret(bytes([9]) * 32))
        txid = transfer(nodes[-1], secret, decode_address(to), 42_000, nonce=0)
        wait_for("final everywhere", lambda: all(final(nd, txid) for nd in nodes), timeout=60)
        assert {balance(nd, to) for nd in nodes} == {42_000}
        h = min(nd.height() for nd in nodes)
        ids = {nd.get(f"/v1/blocks/{h}")["id"] for nd in nodes}
        assert len(ids) == 1, "nodes disagree on a finalized block"
        stop_all(nodes)


def test_a_killed_node_restarts_and_catches_up(tmp_path: Path) -> None:
    nodes = make_network(tmp_path, 4)
    with running(nodes):
        for node in nodes:
            node.start()
        wait_for("height 3", lambda: all(nd.height() >= 3 for nd in nodes), timeout=60)
        victim = nodes[3]
        victim.kill()  # SIGKILL: no flush, no goodbye
        h = nodes[0].height()
        wait_for("the others go on without it", lambda: nodes[0].height() >= h + 3,
                 timeout=60)
        victim.start()
        target = nodes[0].height()
        wait_for("the victim catches up", lambda: victim.height() >= target, timeout=60)
        bid = victim.get(f"/v1/blocks/{target}")["id"]
        assert bid == nodes[0].get(f"/v1/blocks/{target}")["id"]
        stop_all(nodes)


def test_a_late_node_syncs_from_height_0_and_then_votes(tmp_path: Path) -> None:
    nodes = make_network(tmp_path, 4)
    with running(nodes):
        for node in nodes[:3]:  # q = 3 of 4: the chain runs without node 3
            node.start()
        wait_for("height 6 without the fourth", lambda: nodes[0].height() >= 6, timeout=90)
        late = nodes[3]
        late.start()  # an empty store: everything from height 1 comes by sync
        target = nodes[0].height()
        wait_for("the late node catches up", lambda: late.height() >= target, timeout=60)
        assert (late.get(f"/v1/blocks/{target}")["id"]
                == nodes[0].get(f"/v1/blocks/{target}")["id"])
        pub = Home(late.home).signer_pubkey()

        def certified_by_late() -> bool:
            raw = nodes[0].get("/v1/blocks/latest")["raw"]
            cert = Block.decode(bytes.fromhex(raw)).last_commit
            return cert is not None and any(s.trustee_pubkey == pub for s in cert.sigs)

        wait_for("its precommits certify blocks", certified_by_late, timeout=60)
        stop_all(nodes)


def test_blocks_too_large_for_gossip_are_announced_by_header_and_fetched(
        tmp_path: Path) -> None:
    keys = [bytes([2]) + i.to_bytes(31, "big") for i in range(1, 41)]
    pubs = [pubkey_from_secret(k) for k in keys]
    allocs = tuple(Allocation(address_bytes_of(p), 100 * LI_PER_DLC) for p in pubs)
    nodes = make_network(tmp_path, 2, allocations=allocs)
    with running(nodes):
        for node in nodes:
            node.start()
        wait_for("height 2", lambda: all(nd.height() >= 2 for nd in nodes), timeout=60)
        chain_id = nodes[0].get("/v1/status")["chain_id"]
        to = address_bytes_of(pubkey_from_secret(bytes([3]) * 32))
        memo = b"m" * MAX_MEMO
        sent = 0
        sizes: list[int] = []
        # 2,000 transfers of ~440 bytes go into one block unless a draw closes while they
        # are being submitted (then two smaller ones): a few rounds, each through both
        # nodes so that whichever proposes holds them all
        for rnd in range(3):
            txs = [Transaction(chain_id, pubs[s], rnd * 50 + n, 1000,
                               Transfer(to, 1, memo)).signed(keys[s])
                   for n in range(50) for s in range(len(keys))]
            for node in nodes:
                for i in range(0, len(txs), 1000):
                    res = node.post("/v1/txs",
                                    {"txs": [t.encoded.hex() for t in txs[i:i + 1000]]})
                    assert all(r["status"] in ("accepted", "known") for r in res["results"])
            sent += len(txs)
            last = txs[-1].id.hex()
            wait_for("all final on the other node",
                     lambda last=last: final(nodes[1], last), timeout=90)
            sizes = [b["size"] for b in nodes[1].get("/v1/blocks", **{"from": 1})["blocks"]]
            if max(sizes) > MAX_GOSSIP_BYTES:
                break
        assert max(sizes) > MAX_GOSSIP_BYTES, sizes
        assert balance(nodes[1], address_of_bytes(to)) == sent
        stop_all(nodes)


@pytest.mark.parametrize("chain_id", ["other-chain", "devnet-test"])
def test_a_node_of_another_chain_or_genesis_is_refused(tmp_path: Path, chain_id: str) -> None:
    """Another chain id, or the same chain id with another genesis (same topics!)."""
    nodes = make_network(tmp_path / "a", 2)
    stranger_home = tmp_path / "stranger"
    init_home(stranger_home, "--chain-id", chain_id)
    stranger = NodeProc(stranger_home, extra=("--api", "127.0.0.1:0",
                                              "--listen", "/ip4/127.0.0.1/tcp/0"))
    with running([*nodes, stranger]):
        for node in nodes:
            node.start()
        boot = nodes[0].started["listen"][0]
        stranger.start("--bootstrap", boot)
        wait_for("the real chain goes on", lambda: nodes[0].height() >= 3, timeout=60)
        wait_for("the stranger is refused and disconnected",
                 lambda: stranger.get("/v1/status")["peers"] == 0
                 and "another chain" in stranger.stderr_tail(20_000), timeout=30)
        ours = nodes[0].get("/v1/status")["genesis_id"]
        assert stranger.get("/v1/status")["genesis_id"] != ours
        assert stranger.height() >= 1  # it runs its own chain, unharmed
        assert all(nd.get("/v1/status")["genesis_id"] == ours for nd in nodes)
        h = nodes[0].height()
        assert all(nd.get(f"/v1/blocks/{h}")["id"] == nodes[0].get(f"/v1/blocks/{h}")["id"]
                   for nd in nodes)
        stop_all([*nodes, stranger])
