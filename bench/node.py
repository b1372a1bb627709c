"""Real node processes on 127.0.0.1: how fast a chain starts, finalizes and commits.

Measures, with medians over ``--runs`` runs (the machine is named in the output):

- **start to first finalized block**, for a one-node dev chain (``daoli init`` then
  ``daoli node start``) and a two-node network (both trustees), from process spawn to the
  first API status showing height >= 1;
- **transfer submit-to-final latency**, p50 and p99 over ``--latency-txs`` transfers sent one
  at a time through the API and waited for with ``/v1/txs/{id}/wait``;
- **committed transfers per second** of a one-node dev chain fed pre-signed transfers from
  ``--senders`` funded accounts in API batches of up to 1,000: transfers divided by the time
  from the first submit to the finalization of the last one;
- **idle RSS** of a one-node dev chain after it has run for a few seconds.

    python -m bench.node [--runs 3] [--transfers 5000] [--senders 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daoli.core.address import address_bytes_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation
from daoli.core.params import LI_PER_DLC
from daoli.core.tx import Transaction, Transfer
from tests.node.nodeproc import NodeProc, init_home, make_network, wait_for
from tests.node.test_node_process import dev_secret

LOOPBACK = ("--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0")


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {cpu or platform.processor()}, {os.cpu_count()} cores, " \
           f"Python {platform.python_version()}"


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


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


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
            assert res["status"] == "accepted", res
            st = node.get(f"/v1/txs/{res['id']}/wait", timeout=60)
            assert st["status"] == "final"
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
            assert not bad, bad[:3]
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
        assert node.proc is not None
        for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")
    finally:
        node.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--transfers", type=int, default=5000)
    ap.add_argument("--senders", type=int, default=100)
    ap.add_argument("--latency-txs", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res: dict[str, Any] = {"machine": machine(), "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="daoli-bench-") as tmp:
        root = Path(tmp)
        one, two, p50s, p99s, tps, rss = [], [], [], [], [], []
        for r in range(args.runs):
            one.append(start_to_first_block(root / f"s1-{r}", 1))
            two.append(start_to_first_block(root / f"s2-{r}", 2))
            a, b = latency(root / f"l-{r}", args.latency_txs)
            p50s.append(a)
            p99s.append(b)
            t = throughput(root / f"t-{r}", args.transfers, args.senders)
            tps.append(t["tps"])
            rss.append(idle_rss(root / f"r-{r}"))
            res.setdefault("throughput_runs", []).append(t)
    res.update({
        "start_to_first_block_s": {"1_node": statistics.median(one),
                                   "2_nodes": statistics.median(two)},
        "transfer_latency_s": {"p50": statistics.median(p50s), "p99": statistics.median(p99s)},
        "committed_transfers_per_s": statistics.median(tps),
        "idle_rss_mib": statistics.median(rss),
    })
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"machine: {res['machine']}  (medians of {args.runs} runs)")
    s = res["start_to_first_block_s"]
    print(f"start to first finalized block: 1 node {s['1_node']:.2f} s, "
          f"2 nodes {s['2_nodes']:.2f} s")
    lat = res["transfer_latency_s"]
    print(f"transfer submit-to-final: p50 {lat['p50'] * 1000:.0f} ms, "
          f"p99 {lat['p99'] * 1000:.0f} ms ({args.latency_txs} transfers)")
    print(f"committed transfers/s (one node, API batches of 1,000): "
          f"{res['committed_transfers_per_s']:.0f}")
    print(f"idle RSS: {res['idle_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
