"""``tps``: committed transfers per second of a real 4-node devnet with BFT finality.

One run: ``daoli devnet up --detach`` from ``devnet/local-4.toml`` (4 trustee nodes on
127.0.0.1), alice funds ``senders`` fresh accounts in one block, the bench pre-signs
``transfers`` transfers (``transfers / senders`` nonces each) and submits them in batches of
up to 1,000 through all nodes' APIs at once (each sender always through the same node, in
nonce order), as fast as the nodes accept them. It follows node 0's event stream and
reports:

- committed tx/s: transfers / (finalization of the last one - the first submit);
- submit-to-final latency p50 and p99, in ms and in cycles (a transfer's submit time is when
  its batch was sent; its final time when node 0 announced its block);
- CPU share by process (utime + stime over the run, in cores) and each node's RSS after.

Every transfer must be final exactly once, or the run fails.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    DAOLI,
    clean_env,
    percentile,
    proc_cpu_s,
    proc_rss_mib,
    start_profilers,
    stop_profilers,
)
from daoli.client import BlockEvent, Client
from daoli.core.address import address_bytes_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.params import LI_PER_DLC
from daoli.core.tx import Transaction, Transfer
from daoli.devnet.runner import Devnet
from daoli.node.home import Home
from daoli.wallet.keystore import WalletStore
from tests.node.nodeproc import wait_for

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "devnet" / "local-4.toml"
BATCH = 1_000
FEE = 1_000


class Follower(threading.Thread):
    """Reads node 0's event stream; records when each transaction's block was announced."""

    def __init__(self, api: str, token: str | None, sender_of: dict[bytes, bytes]) -> None:
        super().__init__(daemon=True)
        self.sender_of = sender_of
        self.finals: collections.Counter[bytes] = collections.Counter()
        self.client = Client(api, token, timeout=10.0)
        self.final_at: dict[bytes, float] = {}
        self.heights: dict[int, float] = {}
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.ready = threading.Event()

    def finals_of(self, sender: bytes) -> int:
        return self.finals[sender]

    def run(self) -> None:
        try:
            for ev in self.client.events(idle_timeout=30.0):
                self.ready.set()
                if self.stop.is_set():
                    return
                if isinstance(ev, BlockEvent):
                    now = time.monotonic()
                    self.heights[ev.height] = now
                    for txid in ev.txs:
                        if txid not in self.final_at:
                            self.final_at[txid] = now
                            sender = self.sender_of.get(txid)
                            if sender is not None:
                                self.finals[sender] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            if not self.stop.is_set():
                self.error = exc
        finally:
            self.ready.set()


def one_run(root: Path, transfers: int = 20_000, senders: int = 100,
            manifest: Path = MANIFEST, keep: bool = False,
            profile: Path | None = None, rate: float | None = None) -> dict[str, Any]:
    d = root / "net"
    env = clean_env()
    r = subprocess.run([*DAOLI, "--json", "devnet", "up", "--detach", str(manifest),
                        "--dir", str(d)], capture_output=True, text=True, env=env,
                       timeout=180, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"devnet up failed: {r.stderr.strip()[-2000:]}")
    try:
        return _measure(d, transfers, senders, profile, rate)
    finally:
        subprocess.run([*DAOLI, "devnet", "down", "--dir", str(d),
                        *(["--keep-data"] if keep else [])], capture_output=True,
                       env=env, timeout=120, check=False)


def _measure(d: Path, transfers: int, senders: int, profile: Path | None,
             rate: float | None = None) -> dict[str, Any]:
    net = Devnet.load(d)
    recs = net.running()
    pids = {rec.name: rec.pid for rec in recs if rec.pid}
    clients = [Client(rec.api, net.token(rec), timeout=60.0) for rec in recs]
    c0 = clients[0]
    status = c0.status()
    chain_id = status.chain_id
    cycle_ms = Home(Path(recs[0].home)).load_genesis().params.cycle_ms
    alice = WalletStore(Path(recs[0].home) / "wallets").unlock("alice", net.password())
    alice_pub = pubkey_from_secret(alice)
    tag = os.urandom(8)  # fresh senders each run, also on a devnet used before
    keys = [hashlib.sha256(b"bench-tps/" + tag + i.to_bytes(4, "big")).digest()
            for i in range(senders)]
    pubs = [pubkey_from_secret(k) for k in keys]
    per = transfers // senders
    # fund the senders in one batch and wait until every node has it
    nonce0 = c0.account(address_bytes_of(alice_pub)).next_nonce
    fund = [Transaction(chain_id, alice_pub, nonce0 + i, FEE,
                        Transfer(address_bytes_of(p), per * (FEE + 10) + LI_PER_DLC)
                        ).signed(alice) for i, p in enumerate(pubs)]
    funded_at = 0
    for k in range(0, len(fund), 50):
        res = c0.submit_batch(fund[k:k + 50])
        bad = [x for x in res if not x.ok]
        if bad:
            raise RuntimeError(f"funding refused: {bad[:2]}")
        funded_at = c0.wait_for_tx(fund[k:k + 50][-1].id, timeout=60).height or 0
    wait_for("funding on every node",
             lambda: all(c.status().height >= funded_at for c in clients), 60, every=0.05)
    to = address_bytes_of(pubkey_from_secret(bytes([9]) * 32))
    # pre-sign: sender s goes through node s % nodes, nonces in order
    n = len(clients)
    per_node: list[list[Transaction]] = [[] for _ in range(n)]
    for nonce in range(per):
        for s in range(senders):
            per_node[s % n].append(
                Transaction(chain_id, pubs[s], nonce, FEE, Transfer(to, 10)).signed(keys[s]))
    all_ids = [tx.id for txs in per_node for tx in txs]
    follower = Follower(recs[0].api, net.token(recs[0]),
                        {tx.id: tx.sender_pubkey for txs in per_node for tx in txs})
    follower.start()
    follower.ready.wait(10)
    spies = start_profilers(profile, pids) if profile is not None else []
    cpu0 = {name: proc_cpu_s(pid) for name, pid in pids.items()}
    self0 = os.times()
    sent_at: dict[bytes, float] = {}
    refused: list[str] = []
    lock = threading.Lock()

    sender_index = {p: s for s, p in enumerate(pubs)}
    window = 64
    def submit(i: int) -> None:
        """Batches of up to 1,000, each sender kept within the mempool's window of
        ``window`` nonces past its last final one (what a node accepts from one sender)."""
        queues = {s: collections.deque(tx for tx in per_node[i] if tx.sender_pubkey == pubs[s])
                  for s in range(i, senders, n)}
        with httpx.Client(base_url=recs[i].api, timeout=120.0,
                          headers={"Authorization": f"Bearer {net.token(recs[i])}"}) as http:
            start = time.monotonic()
            deadline = start + 600
            sent = 0
            while any(queues.values()) and time.monotonic() < deadline:
                chunk: list[Transaction] = []
                room = BATCH
                if rate:  # paced: this node's share of ``rate`` so far, less what it sent
                    room = min(BATCH, int(rate / n * (time.monotonic() - start)) - sent)
                for s, q in queues.items():
                    limit = follower.finals_of(pubs[s]) + window
                    for tx in q:
                        if tx.nonce >= limit or len(chunk) >= room:
                            break
                        chunk.append(tx)
                if not chunk:
                    time.sleep(0.01)
                    continue
                t = time.monotonic()
                resp = http.post("/v1/txs", json={"txs": [tx.encoded.hex() for tx in chunk]})
                resp.raise_for_status()
                done = 0
                for tx, x in zip(chunk, resp.json()["results"], strict=True):
                    if x["status"] in ("accepted", "known"):
                        with lock:
                            sent_at[tx.id] = t
                        done += 1
                        sent += 1
                        q = queues[sender_index[tx.sender_pubkey]]
                        if q and q[0].id == tx.id:
                            q.popleft()
                    elif "too far ahead" in str(x.get("reason")):
                        continue
                    else:
                        with lock:
                            refused.append(f"{x['status']}: {x.get('reason')}")
                        return
                if not done:
                    time.sleep(0.01)

    t0 = time.monotonic()
    threads = [threading.Thread(target=submit, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    submitted = time.monotonic() - t0
    if refused:
        raise RuntimeError(f"{len(refused)} transfers refused, e.g. {refused[:3]}")
    ids = set(all_ids)
    wait_for("every transfer final",
             lambda: follower.error is not None or ids <= follower.final_at.keys(),
             timeout=300, every=0.05)
    if follower.error is not None:
        raise RuntimeError(f"event stream: {follower.error}")
    last = max(follower.final_at[i] for i in all_ids)
    elapsed = last - t0
    cpu = {name: (proc_cpu_s(pid) - cpu0[name]) / elapsed for name, pid in pids.items()}
    self1 = os.times()
    cpu["bench"] = ((self1.user - self0.user) + (self1.system - self0.system)) / elapsed
    follower.stop.set()
    stop_profilers(spies)
    lat = [follower.final_at[i] - sent_at[i] for i in all_ids]
    rss = {name: proc_rss_mib(pid) for name, pid in pids.items()}
    heights = sorted(h for h in follower.heights)
    return {
        "transfers": len(all_ids), "senders": senders, "nodes": n,
        "tps": len(all_ids) / elapsed, "seconds": elapsed, "submit_seconds": submitted,
        "submit_rate": len(all_ids) / submitted,
        "p50_ms": percentile(lat, 0.5) * 1000, "p99_ms": percentile(lat, 0.99) * 1000,
        "p50_cycles": percentile(lat, 0.5) * 1000 / cycle_ms,
        "p99_cycles": percentile(lat, 0.99) * 1000 / cycle_ms,
        "blocks": len(heights), "cpu_cores": cpu, "rss_mib": rss,
        "max_node_rss_mib": max((v for v in rss.values() if v is not None), default=None),
        "cycle_ms": cycle_ms,
    }


if __name__ == "__main__":  # a single run, the devnet kept in argv[2] for its logs
    import shutil
    keep = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/daoli-bench-tps")
    shutil.rmtree(keep, ignore_errors=True)
    print(json.dumps(one_run(keep, int(sys.argv[1]) if len(sys.argv) > 1 else 20_000,
                             keep=True, profile=keep / "profiles"),
                     indent=2))
