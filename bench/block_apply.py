"""Block application with and without ``verified_txs`` (verify each signature once per node).

Builds one block of N signed transfers (default 1,000) between funded accounts and times
``daoli.core.ledger.apply_block`` on it (state root checked, header, ticket and certificate
signatures verified) in three ways:

- ``verify all``: every transaction signature verified, as before;
- ``verified_txs``: every id in the set (the mempool verified them at admission), so none
  is verified again;
- ``cold cache``: admission through a ``CachingVerifier`` (N ECDSA verifications) followed
  by the apply with its ``verified_tx_ids``: the total a node pays per transaction now.

Prints medians of several runs and the machine. ``--json`` prints one object.

    python bench/block_apply.py [--runs 5] [--txs 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

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
from daoli.machine.ports import CachingVerifier, EcdsaVerifier

CHAIN = "bench"
T0 = 1_700_000_000_000
TRUSTEE = (7_000_000).to_bytes(32, "big")
MINER = (7_000_001).to_bytes(32, "big")


def secret(i: int) -> bytes:
    return (i + 1).to_bytes(32, "big")


def make_block(genesis: Genesis, state: MemoryState, height: int, parent: bytes,
               txs: tuple[Transaction, ...]) -> Block:
    miner = pubkey_from_secret(MINER)
    ticket = Ticket(CHAIN, height, height, parent, miner, miner, 0,
                    T0 + height * 1_000).signed(MINER)
    cert = None
    if height > 1:
        vote = Vote(CHAIN, PRECOMMIT, height - 1, 0, parent, pubkey_from_secret(TRUSTEE),
                    T0 + height * 1_000).signed(TRUSTEE)
        cert = CommitCertificate.from_votes([vote])

    def make(root: bytes) -> Block:
        header = Header(CHAIN, height, height, T0 + height * 1_000, parent, ticket,
                        payload_root(txs), payroll_root(()), root, last_commit_root(cert),
                        miner).signed(MINER)
        return Block(header, txs, (), cert)

    draft = apply_block(state, state.acc, genesis, make(EMPTY_ROOT), check_state_root=False,
                        verify_signatures=False)
    return make(draft.diff.root)


def setup(n: int) -> tuple[Genesis, MemoryState, bytes]:
    """Genesis and the state after block 1 (so the benchmarked block 2 carries a
    certificate), and block 2's encoding: n transfers between existing accounts."""
    pubs = [pubkey_from_secret(secret(i)) for i in range(n)]
    addrs = [address_bytes_of(p) for p in pubs]
    params = ChainParams()
    genesis = Genesis(CHAIN, T0, params,
                      tuple(Allocation(a, 1_000 * LI_PER_DLC) for a in addrs),
                      (GenesisTrustee(pubkey_from_secret(TRUSTEE), params.min_bond,
                                      "/ip4/127.0.0.1/tcp/1"),))
    state = MemoryState()
    state.apply(genesis_diff(genesis))
    b1 = make_block(genesis, state, 1, genesis.id, ())
    state.apply(apply_block(state, state.acc, genesis, b1).diff)
    txs = tuple(Transaction(CHAIN, pubs[i], 0, 1_000,
                            Transfer(addrs[(i * 7 + 1) % n], 1_000 + i)).signed(secret(i))
                for i in range(n))
    b2 = make_block(genesis, state, 2, b1.id, txs)
    return genesis, state, b2.encode()


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


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
            "platform": platform.platform(), "node": platform.node()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--txs", type=int, default=1_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.runs < 1 or args.txs < 1:
        ap.error("need --runs >= 1 and --txs >= 1")
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    log(f"building a block of {args.txs} signed transfers ...")
    genesis, state, data = setup(args.txs)

    full, skip, cold = [], [], []
    for run in range(args.runs):
        # a freshly decoded block each time: no cached ids or encodings carried over
        block = Block.decode(data)
        full.append(timed(lambda b=block: apply_block(state, state.acc, genesis, b)))
        block = Block.decode(data)
        ids = frozenset(tx.id for tx in block.payload)
        skip.append(timed(lambda b=block, ids=ids: apply_block(state, state.acc, genesis, b,
                                                               verified_txs=ids)))
        block = Block.decode(data)
        verifier = CachingVerifier(EcdsaVerifier())

        def admit_then_apply(b: Block = block, v: CachingVerifier = verifier) -> None:
            for tx in b.payload:
                if not v.tx(tx):
                    raise SystemExit("a benchmark transaction did not verify")
            apply_block(state, state.acc, genesis, b, verified_txs=v.verified_tx_ids)

        cold.append(timed(admit_then_apply))
        log(f"run {run + 1}/{args.runs}: verify all {full[-1] * 1e3:.1f} ms, "
            f"verified_txs {skip[-1] * 1e3:.1f} ms, admit + apply {cold[-1] * 1e3:.1f} ms")
    f_m, s_m, c_m = (statistics.median(x) for x in (full, skip, cold))
    out = {
        "machine": machine(), "runs": args.runs, "txs_per_block": args.txs,
        "apply_verify_all_ms": round(f_m * 1e3, 2),
        "apply_verified_txs_ms": round(s_m * 1e3, 2),
        "admit_then_apply_ms": round(c_m * 1e3, 2),
        "speedup": round(f_m / s_m, 2),
    }
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        m = out["machine"]
        print(f"machine: {m['node']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}")
        print(f"medians of {args.runs} runs, apply_block on a block of {args.txs} transfers:")
        print(f"  every signature verified   {f_m * 1e3:>9.1f} ms  "
              f"({args.txs / f_m:>9,.0f} tx/s)")
        print(f"  with verified_txs          {s_m * 1e3:>9.1f} ms  "
              f"({args.txs / s_m:>9,.0f} tx/s)  x{f_m / s_m:.1f}")
        print(f"  admission + apply (cold)   {c_m * 1e3:>9.1f} ms  "
              f"(what a node now pays per block's transactions, once)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
