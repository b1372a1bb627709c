"""``ledger`` (with :mod:`bench.block_apply`): the ledger alone, on one core (issue 2, item 9).

One run (:func:`one_run`) measures, on one core:

- ``raw_verify_per_s``: raw coincurve verifications, ``PublicKey(pk).verify(der_sig,
  digest)``, over ``txs`` distinct keys;
- ``transfers_applied_per_s``: a block of ``txs`` signed transfers between existing
  accounts, decoded from its bytes and applied by ``daoli.core.ledger.apply_block`` (every
  signature and the state root checked), as a node does on receipt; ``ratio_to_raw`` is its
  share of the raw rate (target >= 0.6: the ledger must not cost more than the signatures);
- ``blocks_committed_per_s``: ``blocks`` such blocks decoded, applied and each committed in
  one LMDB write transaction (``daoli.store.BlockStore.commit_block``, fsync on), and
  ``commit_block_ms``, the median time of ``commit_block`` alone.

Medians, min and max over several runs, with the machine named, come from the harness:

    python -m bench ledger [--runs 3] [--ledger-txs 1000] [--ledger-blocks 10]

(``python bench/ledger.py ...`` is the same command.)
"""

from __future__ import annotations

import hashlib
import statistics
import sys
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
    """Verifications per second of bare coincurve over ``n`` distinct keys and digests: the
    ceiling no Python code around it can beat."""
    items = []
    for i in range(n):
        key = PrivateKey(secret(i))
        digest = hashlib.sha256(b"raw %d" % i).digest()
        items.append((key.public_key.format(), key.sign(digest, hasher=None), digest))
    t = time.perf_counter()
    for pub, sig, digest in items:
        if not PublicKey(pub).verify(sig, digest, hasher=None):
            raise RuntimeError("raw verify failed")
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


def bench_commit(builder: ChainBuilder, root: Path) -> tuple[float, float]:
    """(blocks/s for decode+apply+commit, median ms of commit_block alone), on a fresh
    store under ``root``."""
    commit_times = []
    store = BlockStore.open(root / "data")
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


def one_run(root: Path, txs: int = 1_000, blocks: int = 10) -> dict[str, float]:
    """One measurement of each figure in the module docstring (building the chain, about
    ``blocks x txs`` signatures, is not timed)."""
    if txs < 1 or blocks < 2:
        raise ValueError("the ledger benchmark needs txs >= 1 and blocks >= 2")
    builder = ChainBuilder(txs)
    for _ in range(blocks):
        builder.next_block()
    # the state after block 1, so block 2 moves existing balances between existing accounts
    base = MemoryState()
    base.apply(genesis_diff(builder.genesis))
    base.apply(apply_block(base, base.acc, builder.genesis, Block.decode(builder.blocks[0])).diff)
    raw = raw_verify_rate(txs)
    applied = txs / bench_apply(builder, base, builder.blocks[1])
    bps, commit_ms = bench_commit(builder, root)
    return {"txs_per_block": txs, "raw_verify_per_s": raw, "transfers_applied_per_s": applied,
            "ratio_to_raw": applied / raw, "blocks_committed_per_s": bps,
            "commit_block_ms": commit_ms}


if __name__ == "__main__":  # python bench/ledger.py: the harness's ``ledger`` scenario
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.__main__ import main

    raise SystemExit(main(["ledger", *sys.argv[1:]]))
