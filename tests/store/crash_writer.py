"""A deterministic chain for the store tests, and the writer process the crash test kills.

Block ``h`` and its state diff are pure functions of ``h`` (and of the blocks before it), so
a test that reopens a killed store can recompute exactly what the store must hold after any
number of committed blocks.

Run as ``python crash_writer.py STORE_DIR MAX_HEIGHT``: opens (and if needed initialises)
the store, prints ``opened``, then commits blocks tip+1 .. MAX_HEIGHT as fast as it can,
printing each committed height on its own line right after its commit returns.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from daoli.core.block import Block, Header, last_commit_root, payload_root, payroll_root
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Genesis
from daoli.core.hashing import sha256
from daoli.core.params import ChainParams
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction, Transfer
from daoli.core.vote import PRECOMMIT, CommitCertificate, Vote

CHAIN_ID = "store-test"
MINER_SECRET = sha256(b"store-test miner")
TRUSTEE_SECRET = sha256(b"store-test trustee")
SENDER_SECRET = sha256(b"store-test sender")
MINER_PUB = pubkey_from_secret(MINER_SECRET)
TRUSTEE_PUB = pubkey_from_secret(TRUSTEE_SECRET)
SENDER_PUB = pubkey_from_secret(SENDER_SECRET)
TXS_PER_BLOCK = 3
GENESIS_TIME_MS = 1_700_000_000_000
_U64 = struct.Struct(">Q")


@dataclass(frozen=True)
class Diff:
    """Stand-in with the fields of ``daoli.core.state.StateDiff`` (the store duck-types it)."""

    writes: Mapping[bytes, bytes | None] = field(default_factory=dict)
    acc: bytes = b""
    root: bytes = b""


def make_genesis(chain_id: str = CHAIN_ID) -> Genesis:
    return Genesis(chain_id, GENESIS_TIME_MS, ChainParams())


def acc_of(height: int) -> bytes:
    return sha256(b"acc" + _U64.pack(height)) * 16


def root_of(height: int) -> bytes:
    return sha256(b"root" + _U64.pack(height))


def a_key(height: int) -> bytes:
    return b"A" + _U64.pack(height)


def genesis_diff() -> Diff:
    return Diff({b"C": _U64.pack(0), b"G": b"genesis"}, acc_of(0), root_of(0))


def diff_for(height: int) -> Diff:
    """Adds ``A<h>``, bumps the running counter ``C`` by h, and every third block deletes
    ``A<h-2>`` (and ``G`` at height 5), so replaying diffs exercises deletes too."""
    writes: dict[bytes, bytes | None] = {
        a_key(height): sha256(b"value" + _U64.pack(height)),
        b"C": _U64.pack(height * (height + 1) // 2),
    }
    if height % 3 == 0:
        writes[a_key(height - 2)] = None
    if height == 5:
        writes[b"G"] = None
    return Diff(writes, acc_of(height), root_of(height))


def expected_state(height: int) -> dict[bytes, bytes]:
    """The state after ``height`` blocks, by replaying the diffs."""
    state: dict[bytes, bytes] = {}
    for d in [genesis_diff()] + [diff_for(h) for h in range(1, height + 1)]:
        for k, v in d.writes.items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
    return state


def make_txs(height: int, count: int, chain_id: str = CHAIN_ID) -> tuple[Transaction, ...]:
    to = sha256(b"to")[:20]
    return tuple(
        Transaction(chain_id, SENDER_PUB, height * 100_000 + i, 1_000,
                    Transfer(to, height * 1_000 + i, b"")).signed(SENDER_SECRET)
        for i in range(count))


def make_block(height: int, parent_id: bytes, parent_cert: CommitCertificate | None,
               txs: tuple[Transaction, ...] | None = None, chain_id: str = CHAIN_ID) -> Block:
    payload = make_txs(height, TXS_PER_BLOCK, chain_id) if txs is None else txs
    time_ms = GENESIS_TIME_MS + height * 1_000
    ticket = Ticket(chain_id, height, height, parent_id, MINER_PUB, MINER_PUB, height,
                    time_ms).signed(MINER_SECRET)
    header = Header(chain_id, height, height, time_ms, parent_id, ticket,
                    payload_root(payload), payroll_root(()), root_of(height),
                    last_commit_root(parent_cert), MINER_PUB).signed(MINER_SECRET)
    return Block(header, payload, (), parent_cert)


def make_cert(block: Block, chain_id: str = CHAIN_ID) -> CommitCertificate:
    vote = Vote(chain_id, PRECOMMIT, block.height, 0, block.id, TRUSTEE_PUB,
                block.header.time_ms + 500).signed(TRUSTEE_SECRET)
    return CommitCertificate.from_votes([vote])


class Chain:
    """Blocks and certificates 1..n of the deterministic chain, built on demand and kept."""

    def __init__(self) -> None:
        self.genesis = make_genesis()
        self.blocks: list[Block] = []
        self.certs: list[CommitCertificate] = []

    def block(self, height: int) -> Block:
        while len(self.blocks) < height:
            h = len(self.blocks) + 1
            parent_id = self.blocks[-1].id if self.blocks else self.genesis.id
            parent_cert = self.certs[-1] if self.certs else None
            b = make_block(h, parent_id, parent_cert)
            self.blocks.append(b)
            self.certs.append(make_cert(b))
        return self.blocks[height - 1]

    def cert(self, height: int) -> CommitCertificate:
        self.block(height)
        return self.certs[height - 1]


def main(argv: list[str]) -> int:
    from daoli.store import BlockStore

    path, max_height = Path(argv[1]), int(argv[2])
    store = BlockStore.open(path)
    print("opened", flush=True)
    genesis = make_genesis()
    store.init_genesis(genesis, genesis_diff())
    height = store.tip_height
    parent_id = store.tip_id
    parent_cert = store.certificate(height) if height else None
    while height < max_height:
        height += 1
        block = make_block(height, parent_id, parent_cert)
        cert = make_cert(block)
        store.commit_block(block, cert, diff_for(height))
        print(height, flush=True)
        parent_id, parent_cert = block.id, cert
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
