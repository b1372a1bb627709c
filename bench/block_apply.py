"""Block application with and without ``verified_txs`` (verify each signature once per node);
part of the harness's ``ledger`` scenario.

One run (:func:`one_run`) builds one block of ``txs`` signed transfers (default 1,000)
between funded accounts and times ``daoli.core.ledger.apply_block`` on it (state root
checked, header, ticket and certificate signatures verified) in three ways:

- ``apply_verify_all_ms``: every transaction signature verified, as before;
- ``apply_verified_txs_ms``: every id in the set (the mempool verified them at admission),
  so none is verified again; ``speedup`` is the first over this one;
- ``admit_then_apply_ms``: admission through a ``CachingVerifier`` (``txs`` ECDSA
  verifications) followed by the apply with its ``verified_tx_ids``: the total a node pays
  per block's transactions now.

Medians, min and max over several runs, with the machine named, come from the harness:

    python -m bench ledger [--runs 3] [--ledger-txs 1000]

(``python bench/block_apply.py ...`` is the same command.)
"""

from __future__ import annotations

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


def one_run(txs: int = 1_000) -> dict[str, float]:
    """One timing of each way (building the block is not timed); each on a freshly decoded
    block, so no cached ids or encodings carry over from one to the next."""
    if txs < 1:
        raise ValueError("the block-apply benchmark needs txs >= 1")
    genesis, state, data = setup(txs)
    block = Block.decode(data)
    full = timed(lambda: apply_block(state, state.acc, genesis, block))
    block = Block.decode(data)
    ids = frozenset(tx.id for tx in block.payload)
    skip = timed(lambda: apply_block(state, state.acc, genesis, block, verified_txs=ids))
    block = Block.decode(data)
    verifier = CachingVerifier(EcdsaVerifier())

    def admit_then_apply() -> None:
        for tx in block.payload:
            if not verifier.tx(tx):
                raise RuntimeError("a benchmark transaction did not verify")
        apply_block(state, state.acc, genesis, block, verified_txs=verifier.verified_tx_ids)

    cold = timed(admit_then_apply)
    return {"apply_verify_all_ms": full * 1e3, "apply_verified_txs_ms": skip * 1e3,
            "admit_then_apply_ms": cold * 1e3, "speedup": full / skip,
            "apply_verified_txs_per_s": txs / skip}


if __name__ == "__main__":  # python bench/block_apply.py: the harness's ``ledger`` scenario
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.__main__ import main

    raise SystemExit(main(["ledger", *sys.argv[1:]]))
