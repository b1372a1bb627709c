"""``node``: real node processes on 127.0.0.1: how fast a chain starts, finalizes and commits.

One run (:func:`one_run`) measures:

- ``start_1_node_s``, ``start_2_nodes_s``: **start to first finalized block**, for a
  one-node dev chain (``daoli init`` then ``daoli node start``) and a two-node network
  (both trustees), from process spawn to the first API status showing height >= 1;
- ``latency_p50_ms``, ``latency_p99_ms``: **transfer submit-to-final latency** over
  ``latency_txs`` transfers sent one at a time through the API and waited for with
  ``/v1/txs/{id}/wait``;
- ``node_tps``: **committed transfers per second** of a one-node dev chain fed ``transfers``
  pre-signed transfers from ``senders`` funded accounts in API batches of up to 1,000:
  transfers divided by the time from the first submit to the finalization of the last one
  (with ``node_submit_seconds``, ``node_blocks_used``);
- ``idle_rss_mib``: **idle RSS** of a one-node dev chain after it has run for a few seconds.

Medians, min and max over several runs, with the machine named, come from the harness:

    python -m bench node [--runs 3] [--node-transfers 5000] [--senders 100] [--latency-txs 30]

(``python -m bench.node ...`` is the same command.)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile, proc_rss_mib
from daoli.core.address import address_bytes_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation
from daoli.core.params import LI_PER_DLC
from daoli.core.tx import Transaction, Transfer
from tests.node.nodeproc import NodeProc, init_home, make_network, wait_for
from tests.node.test_node_process import dev_secret

LOOPBACK = ("--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0")


def start_to_first_block(root: Path, n: int) -> float:
    if n == 1:
        init_home(root / "dev")
        nodes = [NodeProc(root / "dev", extra=LOOPBACK)]
    else:
        nodes = make_network(root, n)
    t0 = time.monotonic()
    try:
        for node in nodes:
            node.start()
        wait_for("first block", lambda: all(nd.height() >= 1 for nd in nodes),
                 timeout=60, every=0.02)
        return time.monotonic() - t0
    finally:
        for node in nodes:
            node.kill()


def latency(root: Path, count: int) -> tuple[float, float]:
    home = root / "lat"
    init_home(home)
    node = NodeProc(home, extra=LOOPBACK)
    try:
        node.start()
        wait_for("block 1", lambda: node.height() >= 1, timeout=30)
        secret = dev_secret(home)
        pub = pubkey_from_secret(secret)
        chain_id = node.get("/v1/status")["chain_id"]
        to = address_bytes_of(pubkey_from_secret(bytes([5]) * 32))
        times = []
        for nonce in range(count):
            tx = Transaction(chain_id, pub, nonce, 1000, Transfer(to, 1)).signed(secret)
            t0 = time.monotonic()
            res = node.post("/v1/txs", {"tx": tx.encoded.hex()})["results"][0]
            if res["status"] != "accepted":
                raise RuntimeError(f"transfer refused: {res}")
            st = node.get(f"/v1/txs/{res['id']}/wait", timeout=60)
            if st["status"] != "final":
                raise RuntimeError(f"transfer not final: {st}")
            times.append(time.monotonic() - t0)
        return percentile(times, 0.5), percentile(times, 0.99)
    finally:
        node.kill()


def throughput(root: Path, total: int, senders: int) -> dict[str, Any]:
    keys = [bytes([1]) + i.to_bytes(31, "big") for i in range(1, senders + 1)]
    pubs = [pubkey_from_secret(k) for k in keys]
    allocs = tuple(Allocation(address_bytes_of(p), 1_000 * LI_PER_DLC) for p in pubs)
    (node,) = make_network(root, 1, chain_id="bench-tps", allocations=allocs)
    try:
        node.start()
        wait_for("block 1", lambda: node.height() >= 1, timeout=30)
        chain_id = node.get("/v1/status")["chain_id"]
        per = total // senders
        to = address_bytes_of(pubkey_from_secret(bytes([6]) * 32))
        txs = [Transaction(chain_id, pubs[s], n, 1000, Transfer(to, 1)).signed(keys[s])
               for n in range(per) for s in range(senders)]
        start_height = node.height()
        t0 = time.monotonic()
        for i in range(0, len(txs), 1000):
            res = node.post("/v1/txs", {"txs": [t.encoded.hex() for t in txs[i:i + 1000]]})
            bad = [r for r in res["results"] if r["status"] != "accepted"]
            if bad:
                raise RuntimeError(f"{len(bad)} transfers refused, e.g. {bad[:3]}")
        submitted = time.monotonic() - t0
        last = txs[-1].id.hex()
        wait_for("every transfer final",
                 lambda: node.get(f"/v1/txs/{last}")["status"] == "final"
                 and node.get("/v1/mempool")["count"] == 0, timeout=300, every=0.02)
        elapsed = time.monotonic() - t0
        blocks = node.get("/v1/blocks", **{"from": start_height + 1})["blocks"]
        in_blocks = sum(b["n_txs"] for b in blocks)
        return {"transfers": len(txs), "seconds": elapsed, "submit_seconds": submitted,
                "tps": len(txs) / elapsed, "blocks_used": sum(1 for b in blocks if b["n_txs"]),
                "counted_in_blocks": in_blocks}
    finally:
        node.kill()


def idle_rss(root: Path, seconds: float = 8.0) -> float:
    home = root / "idle"
    init_home(home)
    node = NodeProc(home, extra=LOOPBACK)
    try:
        node.start()
        wait_for("block 1", lambda: node.height() >= 1, timeout=30)
        time.sleep(seconds)  # a benchmark's settling time, not a test's wait
        rss = proc_rss_mib(node.proc.pid) if node.proc is not None else None
        if rss is None:
            raise RuntimeError("the idle node is gone")
        return rss
    finally:
        node.kill()


def one_run(root: Path, transfers: int = 5_000, senders: int = 100,
            latency_txs: int = 30) -> dict[str, float]:
    if senders < 1 or transfers < senders or latency_txs < 1:
        raise ValueError("the node benchmark needs senders >= 1, transfers >= senders and "
                         "latency_txs >= 1")
    one = start_to_first_block(root / "s1", 1)
    two = start_to_first_block(root / "s2", 2)
    p50, p99 = latency(root / "lat", latency_txs)
    t = throughput(root / "tps", transfers, senders)
    return {"start_1_node_s": one, "start_2_nodes_s": two, "latency_p50_ms": p50 * 1e3,
            "latency_p99_ms": p99 * 1e3, "node_tps": t["tps"], "node_transfers": t["transfers"],
            "node_submit_seconds": t["submit_seconds"], "node_blocks_used": t["blocks_used"],
            "idle_rss_mib": idle_rss(root)}


if __name__ == "__main__":  # python -m bench.node: the harness's ``node`` scenario
    from bench.__main__ import main

    raise SystemExit(main(["node", *sys.argv[1:]]))
