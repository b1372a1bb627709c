"""A real finalized chain on a real BlockStore, and a fake node backend over it, for the API
tests: the API is exercised against genuine blocks, certificates and transactions (signed with
real ECDSA by tests/machine/harness.py), while the node's moving parts (pool, peers, draw,
events) are plain Python the tests steer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio

from daoli.core.address import address_bytes_of, address_of
from daoli.core.block import Block
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Genesis
from daoli.core.ledger import read_account
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction, Transfer
from daoli.core.vote import CommitCertificate
from daoli.node.chain import StoreChain
from daoli.node.metrics import NodeMetrics
from daoli.store.blockstore import BlockStore
from tests.machine.harness import GENESIS_MS, Net, secret

TOKEN = "ab" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def transfer(genesis: Genesis, i: int, nonce: int, amount: int = 1_000, *,
             fee: int | None = None, chain_id: str | None = None) -> Transaction:
    """A signed transfer from trustee ``i``'s genesis account to a fixed user."""
    sk = secret("trustee", i)
    to = address_bytes_of(pubkey_from_secret(secret("user", 1)))
    return Transaction(chain_id or genesis.chain_id, pubkey_from_secret(sk), nonce,
                       genesis.params.min_fee if fee is None else fee,
                       Transfer(to, amount, b"memo"), b"").signed(sk)


@dataclass(frozen=True)
class Chain:
    genesis: Genesis
    blocks: list[tuple[Block, CommitCertificate]]
    early: list[Transaction]
    """Three transfers finalized in block 1."""
    late: Transaction
    """A transfer submitted after block 2 was finalized."""
    late_height: int

    @property
    def user(self) -> str:
        return address_of(pubkey_from_secret(secret("user", 1)))


def build_chain(n_blocks: int = 6) -> Chain:
    net = Net()
    net.start()
    genesis = net.genesis
    early = [transfer(genesis, 0, n, 1_000 + n) for n in range(3)]
    for i, m in enumerate(net.machines):
        net.at(GENESIS_MS + 100, i, lambda m=m: m.on_txs(net.now, None, early))
    net.run_until(GENESIS_MS + 60_000, stop=lambda: len(net.commits[0]) >= 2)
    late = transfer(genesis, 1, 0, 7_000)
    for i, m in enumerate(net.machines):
        net.at(net.now, i, lambda m=m: m.on_txs(net.now, None, [late]))
    net.run_until(GENESIS_MS + 120_000, stop=lambda: len(net.commits[0]) >= n_blocks)
    blocks = [(c.block, c.certificate) for c in net.commits[0][:n_blocks]]
    assert len(blocks) == n_blocks
    assert [tx.id for tx in blocks[0][0].payload] == [tx.id for tx in early]
    late_height = next(b.height for b, _ in blocks if late.id in {t.id for t in b.payload})
    return Chain(genesis, blocks, early, late, late_height)


def open_store(path: Path, chain: Chain, n: int) -> tuple[BlockStore, StoreChain]:
    """A store holding the first ``n`` blocks of ``chain`` (each with its certificate)."""
    store = BlockStore.open(path)
    sc = StoreChain(store, chain.genesis)
    for block, cert in chain.blocks[:n]:
        sc.commit(block, cert)
    return store, sc


@dataclass
class FakeNode:
    """The NodeBackend protocol, with a dict for a pool and lists the tests can read."""

    genesis: Genesis
    store: BlockStore
    metrics: NodeMetrics = field(default_factory=NodeMetrics)
    pool: dict[bytes, Transaction] = field(default_factory=dict)
    open_draw: dict[str, Any] | None = None
    tickets: list[Ticket] = field(default_factory=list)
    subscribers: list[trio.MemorySendChannel[tuple[str, dict[str, Any]]]] = field(
        default_factory=list)
    subscribed: trio.Event | None = None
    """Set (if given) whenever a reader subscribes: lets a test publish only once the
    request under test is listening."""
    fail_status: BaseException | None = None
    storing: list[Transaction] = field(default_factory=list)
    """Finalized transactions the node is still writing to its store (``pending_nonce``
    counts them, the store does not yet)."""
    pooled_asked: list[bytes] = field(default_factory=list)
    """Every id ``pooled`` was asked about: tells a test a waiter has looked."""

    def status(self) -> dict[str, Any]:
        if self.fail_status is not None:
            raise self.fail_status
        return {"chain_id": self.genesis.chain_id, "genesis_id": self.genesis.id.hex(),
                "height": self.store.tip_height, "tip_id": self.store.tip_id.hex(),
                "tip_time_ms": 0, "cycle": 1, "gc_cycle_ms": 1_000, "round": 0, "peers": 0,
                "trustees": 4, "trustee": False, "mempool": len(self.pool), "peer_id": "12D3",
                "listen": [], "syncing": False, "version": "test"}

    def peers(self) -> list[dict[str, Any]]:
        return [{"peer_id": "12D3KooWpeer", "addrs": ["/ip4/127.0.0.1/tcp/4001"],
                 "direction": "outbound"}]

    def pooled(self, txid: bytes) -> Transaction | None:
        self.pooled_asked.append(txid)
        return self.pool.get(txid)

    async def until_asked(self, txid: bytes) -> None:
        """Wait (bounded) until a request has asked the pool about ``txid``."""
        with trio.fail_after(5):
            while txid not in self.pooled_asked:
                await trio.sleep(0.005)

    def mempool_txs(self) -> list[Transaction]:
        return list(self.pool.values())

    def pending_senders(self) -> set[bytes]:
        return {tx.sender_pubkey for tx in [*self.pool.values(), *self.storing]}

    def pending_nonce(self, pubkey: bytes) -> int:
        nonce = read_account(self.store, address_bytes_of(pubkey)).nonce
        return nonce + sum(1 for tx in [*self.pool.values(), *self.storing]
                           if tx.sender_pubkey == pubkey)

    def draw(self) -> dict[str, Any] | None:
        return self.open_draw

    async def submit_txs(self, txs: Sequence[Transaction]) -> list[tuple[str, str]]:
        out = []
        for tx in txs:
            await trio.lowlevel.checkpoint()
            if tx.fee < self.genesis.params.min_fee:
                out.append(("rejected", "fee_too_low"))
            elif tx.id in self.pool or self.store.tx_location(tx.id) is not None:
                out.append(("known", ""))
            else:
                self.pool[tx.id] = tx
                out.append(("accepted", ""))
        return out

    async def submit_tickets(self, tickets: Sequence[Ticket]) -> list[tuple[str, str]]:
        out = []
        for t in tickets:
            known = t in self.tickets
            self.tickets.append(t)
            out.append(("known", "") if known else ("accepted", ""))
        return out

    shaping: dict[str, Any] = field(default_factory=lambda: {
        "blocked_peers": [], "delay_ms": 0.0, "jitter_ms": 0.0, "loss": 0.0,
        "shaped_drops": 0})

    def net_shaping(self) -> dict[str, Any]:
        return dict(self.shaping)

    def set_net_shaping(self, changes: dict[str, Any]) -> dict[str, Any]:
        self.shaping.update(changes)
        return dict(self.shaping)

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[tuple[str, dict[str, Any]]]]:
        send, recv = trio.open_memory_channel[tuple[str, dict[str, Any]]](1_000)
        self.subscribers.append(send)
        if self.subscribed is not None:
            self.subscribed.set()
        try:
            with recv:
                yield recv
        finally:
            if send in self.subscribers:
                self.subscribers.remove(send)
            send.close()

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        for s in list(self.subscribers):
            s.send_nowait((kind, data))

    def drop_readers(self) -> None:
        """What the node does to readers that fall behind: close their channels."""
        for s in self.subscribers:
            s.close()
        self.subscribers.clear()

    def finalize(self, sc: StoreChain, block: Block, cert: CommitCertificate) -> None:
        """Commit like the node does (store first, then prune the pool) and announce it."""
        sc.commit(block, cert)
        for tx in block.payload:
            self.pool.pop(tx.id, None)
        self.publish("block", {"height": block.height, "id": block.id.hex(),
                               "time_ms": block.header.time_ms, "n_txs": len(block.payload),
                               "txs": [tx.id.hex() for tx in block.payload]})


def client(app: Any, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node",
                             headers=AUTH if headers is None else headers, timeout=10)
