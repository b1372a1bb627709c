"""Ledger benchmark (issue 2, item 9).

Measures, on one core:
- raw coincurve verify rate: ``PublicKey(pk).verify(der_sig, digest)`` over distinct keys;
- transfers applied per second including signature verification: a block of 1,000 signed
  transfers between existing accounts, decoded from its bytes and applied by
  ``daoli.core.ledger.apply_block`` (state root checked), as a node does on receipt;
- blocks of 1,000 transfers committed per second: decode + apply + one LMDB write
  transaction per block (``daoli.store.BlockStore.commit_block``), fsync on.

Target: transfers/s >= 60 % of the raw verify rate. Prints medians of several runs and the
machine. ``--json`` prints one object.

    python bench/ledger.py [--runs 7] [--blocks 10] [--txs 1000] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from coincurve import PrivateKey, PublicKey

from daoli.core.address import address_bytes_of
from daoli.core.block import Block, Header, last_commit_root, payload_root, payroll_root
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.hashing import EMPTY_ROOT
from daoli.core.ledger import apply_block, genesis_diff
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.core.state import MemoryState
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction, Transfer
from daoli.core.vote import PRECOMMIT, CommitCertificate, Vote
from daoli.store import BlockStore

CHAIN = "bench"
T0 = 1_700_000_000_000
TRUSTEE = (7_000_000).to_bytes(32, "big")
MINER = (7_000_001).to_bytes(32, "big")


def secret(i: int) -> bytes:
    return (i + 1).to_bytes(32, "big")


def raw_verify_rate(n: int) -> float:
    items = []
    for i in range(n):
        key = PrivateKey(secret(i))
        digest = hashlib.sha256(b"raw %d" % i).digest()
        items.append((key.public_key.format(), key.sign(digest, hasher=None), digest))
    t = time.perf_counter()
    for pub, sig, digest in items:
        if not PublicKey(pub).verify(sig, digest, hasher=None):
            raise SystemExit("raw verify failed")
    return n / (time.perf_counter() - t)


class ChainBuilder:
    """Builds a chain of blocks of ``txs`` transfers each, among ``txs`` funded accounts."""

    def __init__(self, txs: int) -> None:
        self.n = txs
        self.pubs = [pubkey_from_secret(secret(i)) for i in range(txs)]
        self.addrs = [address_bytes_of(p) for p in self.pubs]
        params = ChainParams()
        self.trustee_pub = pubkey_from_secret(TRUSTEE)
        self.miner_pub = pubkey_from_secret(MINER)
        self.genesis = Genesis(
            CHAIN, T0, params,
            tuple(Allocation(a, 1_000 * LI_PER_DLC) for a in self.addrs),
            (GenesisTrustee(self.trustee_pub, params.min_bond, "/ip4/127.0.0.1/tcp/1"),))
        self.state = MemoryState()
        self.state.apply(genesis_diff(self.genesis))
        self.blocks: list[bytes] = []
        self.prev: tuple[int, bytes] = (0, self.genesis.id)

    def next_block(self) -> bytes:
        h = len(self.blocks) + 1
        parent = self.prev[1]
        txs = tuple(
            Transaction(CHAIN, self.pubs[i], h - 1, 1_000,
                        Transfer(self.addrs[(i * 7 + h) % self.n], 1_000 + i)).signed(secret(i))
            for i in range(self.n))
        ticket = Ticket(CHAIN, h, h, parent, self.miner_pub, self.miner_pub, 0,
                        T0 + h * 1_000).signed(MINER)
        cert = None
        if h > 1:
            vote = Vote(CHAIN, PRECOMMIT, h - 1, 0, parent, self.trustee_pub,
                        T0 + h * 1_000).signed(TRUSTEE)
            cert = CommitCertificate.from_votes([vote])

        def make(root: bytes) -> Block:
            header = Header(CHAIN, h, h, T0 + h * 1_000, parent, ticket, payload_root(txs),
                            payroll_root(()), root, last_commit_root(cert),
                            self.miner_pub).signed(MINER)
            return Block(header, txs, (), cert)

        draft = make(EMPTY_ROOT)
        result = apply_block(self.state, self.state.acc, self.genesis, draft,
                             check_state_root=False, verify_signatures=False)
        block = make(result.diff.root)
        self.state.apply(apply_block(self.state, self.state.acc, self.genesis, block).diff)
        self.blocks.append(block.encode())
        self.prev = (h, block.id)
        return self.blocks[-1]


def bench_apply(builder: ChainBuilder, base: MemoryState, block_bytes: bytes) -> float:
    """Seconds to decode and apply one block, signatures and state root checked."""
    t = time.perf_counter()
    block = Block.decode(block_bytes)
    apply_block(base, base.acc, builder.genesis, block)
    return time.perf_counter() - t


def bench_commit(builder: ChainBuilder) -> tuple[float, float]:
    """(blocks/s for decode+apply+commit, median ms of commit_block alone)."""
    commit_times = []
    with tempfile.TemporaryDirectory(prefix="daoli-bench-") as tmp:
        store = BlockStore.open(Path(tmp) / "data")
        try:
            store.init_genesis(builder.genesis, genesis_diff(builder.genesis))
            t = time.perf_counter()
            for data in builder.blocks:
                block = Block.decode(data)
                result = apply_block(store, store.state_acc, builder.genesis, block)
                c = time.perf_counter()
                store.commit_block(block, None, result.diff)
                commit_times.append(time.perf_counter() - c)
            elapsed = time.perf_counter() - t
        finally:
            store.close()
    return len(builder.blocks) / elapsed, statistics.median(commit_times) * 1e3


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--txs", type=int, default=1_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.runs < 1 or args.blocks < 2 or args.txs < 1:
        ap.error("need --runs >= 1, --blocks >= 2, --txs >= 1")

    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    log(f"building {args.blocks} blocks of {args.txs} signed transfers ...")
    builder = ChainBuilder(args.txs)
    for _ in range(args.blocks):
        builder.next_block()
    # state after block 1, so block 2 moves existing balances between existing accounts
    base = MemoryState()
    base.apply(genesis_diff(builder.genesis))
    base.apply(apply_block(base, base.acc, builder.genesis, Block.decode(builder.blocks[0])).diff)

    raw, applied, commits, commit_ms = [], [], [], []
    for run in range(args.runs):
        raw.append(raw_verify_rate(args.txs))
        applied.append(args.txs / bench_apply(builder, base, builder.blocks[1]))
        bps, cms = bench_commit(builder)
        commits.append(bps)
        commit_ms.append(cms)
        log(f"run {run + 1}/{args.runs}: raw {raw[-1]:,.0f}/s  applied {applied[-1]:,.0f} tx/s"
            f"  committed {commits[-1]:.1f} blocks/s")
    raw_m, app_m = statistics.median(raw), statistics.median(applied)
    out = {
        "machine": machine(),
        "runs": args.runs,
        "txs_per_block": args.txs,
        "raw_verify_per_s": round(raw_m),
        "transfers_applied_per_s": round(app_m),
        "ratio_to_raw": round(app_m / raw_m, 3),
        "target_ratio": 0.6,
        "meets_target": app_m >= 0.6 * raw_m,
        "blocks_committed_per_s": round(statistics.median(commits), 2),
        "commit_block_ms": round(statistics.median(commit_ms), 2),
    }
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        m = out["machine"]
        print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}")
        print(f"medians of {args.runs} runs, blocks of {args.txs} transfers:")
        print(f"  raw coincurve verify      {raw_m:>10,.0f} /s")
        print(f"  transfers applied         {app_m:>10,.0f} /s  ({app_m / raw_m:.0%} of raw; "
              f"target 60%: {'met' if out['meets_target'] else 'NOT met'})")
        print(f"  blocks committed to LMDB  {out['blocks_committed_per_s']:>10} /s "
              f"(decode + apply + commit; commit alone {out['commit_block_ms']} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
