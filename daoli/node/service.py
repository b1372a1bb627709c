"""``daoli node start``: the trio adapter around :class:`~daoli.machine.node.NodeMachine`.

The machine holds every node policy; this module only connects it to the world, exactly as
the simulator's :mod:`daoli.sim.nodes` does for simulated time:

* **Clock**: local time is the wall clock in ms; ``SetTimer`` effects go on a heap that the
  machine task sleeps on.
* **One machine task** takes every input in turn (gossip the network decoded, API
  submissions, own miners' tickets, sync replies, fetched blocks, due timers), calls the
  machine, and carries out the effects it returns, in order. ``PersistVote`` and
  ``PersistProposal`` are written (fsync) before the next effect; ``Commit`` writes the block
  in one LMDB transaction off the trio loop (a thread), and the task waits for it.
* **Network** (:mod:`daoli.net.p2p`): GossipSub relays what passes the topic validators, so
  the machine's relay effects for peers' messages (``GossipProposal`` in relay mode, tickets
  of other miners) need no second publish; own tickets, votes, proposals, announcements and
  API-submitted transactions (in batches) are published here.
* **Signatures are verified once**: the validators and the machine share one
  :class:`~daoli.machine.ports.CachingVerifier`, and the chain view reuses its transaction
  verdicts when a block is applied.

Nothing here decides what to vote, propose, relay or sync: a status reply from a peer is
handed to the machine as a sync check, which decides.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import itertools
import json
import logging
import math
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from daoli import __version__
from daoli.core import wire
from daoli.core.address import address_of
from daoli.core.block import Block
from daoli.core.clock import GC_WINDOW, cycle_of, gc_cycle_ms
from daoli.core.crypto import SECRET_LEN, pubkey_from_secret
from daoli.core.genesis import Genesis
from daoli.core.ledger import active_trustees
from daoli.core.lottery import lot, mine, seed
from daoli.core.reasons import DropReason
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction
from daoli.core.vote import CommitCertificate
from daoli.errors import ConfigError, DaoliError, InvalidKey, StoreError
from daoli.machine.effects import (
    PROPOSE_RELAY,
    Announce,
    Commit,
    DrawClosed,
    Dropped,
    EvidenceCreated,
    FetchBlock,
    GossipProposal,
    GossipTickets,
    GossipTxs,
    GossipVote,
    MineDraw,
    PersistProposal,
    PersistVote,
    Proposed,
    RegossipVotes,
    RequestSync,
    SetTimer,
    Synced,
)
from daoli.machine.node import MachineConfig, NodeMachine
from daoli.machine.ports import CachingVerifier, EcdsaVerifier, SecretSigner
from daoli.net.p2p import P2P, Inbound, NetConfig, Shaping, open_p2p
from daoli.node.api import build_app, ensure_token, serve_api
from daoli.node.chain import StoreChain
from daoli.node.config import MAX_LOCAL_MINERS, NodeConfig, check_multiaddr, parse_host_port
from daoli.node.home import Home
from daoli.node.metrics import NodeMetrics
from daoli.node.options import NodeOptions
from daoli.node.signfile import SIGN_STATE_FILE, SignStateFile
from daoli.store.blockstore import BlockStore

log = logging.getLogger("daoli.node")

EVENT_QUEUE = 20_000
SUBSCRIBER_QUEUE = 1_000
STATUS_POLL_S = 2.0
MINER_TAG = b"daoli/local-miner/v1"
LOG_FILE = "node.log"


SYNC_AHEAD = 2
"""Sync replies requested back to back from one peer (each up to 128 blocks): one is
fetched and decoded while the machine applies the other."""
PUBLISH_TX_BATCH = 256
"""Transactions per gossip message we publish (the wire allows 1,024): a receiver checks a
message's signatures in one go before anything else runs, about 15 ms for 256."""
TX_CHUNK = 32
"""Transactions handled between two looks at urgent inputs (about 2 ms of signature checks:
every hop of a consensus message through the node's tasks waits for the work between two
checkpoints)."""
BULK_HELD = 64
"""Transaction batches taken off the input channel ahead of handling them."""
SLOW_INPUT_S = 0.05
"""A machine input that holds the loop longer than this is logged (debug): what delays
consensus messages behind it."""


def _log_if_slow(t0: float, what: Any) -> None:
    took = time.perf_counter() - t0
    if took > SLOW_INPUT_S:
        log.debug("slow input: %s took %.0f ms", _describe(what), took * 1000)


def _describe(item: Any) -> str:
    if isinstance(item, Inbound):
        msg = item.message
        n = len(getattr(msg, "items", ()) or ())
        return f"{type(msg).__name__}" + (f" of {n}" if n else "")
    if isinstance(item, _Local):
        return f"local {item.kind} of {len(item.items)}"
    if isinstance(item, _Fetched):
        return f"fetched block {item.block.height} ({len(item.block.payload)} txs, " \
               f"{'proposal' if item.proposal else 'announced'})"
    if isinstance(item, _Synced | _Behind):
        return type(item).__name__
    return f"timer {item!r}"


def now_ms() -> float:
    return time.time() * 1000.0


def miner_secret(signer_secret: bytes, index: int) -> bytes:
    """Local miner key ``index`` of a node: derived from its signer key, so a restarted node
    mines to the same addresses (miner 0 is the signer key itself)."""
    if index == 0:
        return signer_secret
    for salt in range(256):
        s = hashlib.sha256(MINER_TAG + signer_secret + index.to_bytes(4, "big")
                           + bytes([salt])).digest()
        try:
            pubkey_from_secret(s)
        except InvalidKey:
            continue
        return s
    raise ConfigError("cannot derive a miner key")  # pragma: no cover - 2^-2048


@dataclass(frozen=True)
class _Local:
    """Inputs from this node (API, own miners) rather than a peer."""

    kind: str
    items: Sequence[Any]
    reply: trio.MemorySendChannel[list[tuple[str, str]]] | None = None
    height: int = 0


@dataclass(frozen=True)
class _Fetched:
    peer: str
    block: Block
    certificate: CommitCertificate | None = None
    proposal: bool = False
    """Fetched for a proposal announced by header (not asked for by the machine)."""


@dataclass(frozen=True)
class _Synced:
    peer: str
    entries: Sequence[tuple[Block, CommitCertificate, int]]


@dataclass(frozen=True)
class _Behind:
    peer: str
    height: int


class Node:
    """One running node: machine, store, network, API. Use :func:`run_node`."""

    def __init__(self, home: Home, genesis: Genesis, config: NodeConfig, options: NodeOptions,
                 store: BlockStore) -> None:
        self.home = home
        self.genesis = genesis
        self.config = config
        self.options = options
        self.store = store
        self.metrics = NodeMetrics()
        secret = home.signer_secret()
        self.signer_secret = secret
        self.pub = pubkey_from_secret(secret)
        self.verifier = CachingVerifier(EcdsaVerifier())
        self.chain = StoreChain(store, genesis, verified_txs=self.verifier.verified_tx_ids)
        self.signfile = SignStateFile(home.path / SIGN_STATE_FILE)
        sign_state = self.signfile.load()
        self.machine = NodeMachine(genesis, self.chain, SecretSigner(secret), self.verifier,
                                   MachineConfig(vote=config.trustee,
                                                 trust_certificates=config.sync_trust_certificates),
                                   sign_state=sign_state)
        n_miners = config.mine if config.mine >= 0 else (
            1 if home.dev_password_file.exists() else 0)
        self.miners = [miner_secret(secret, i) for i in range(n_miners)]
        self.miner_pubs = [pubkey_from_secret(s) for s in self.miners]
        self.sponsor = config.sponsor
        self.timers: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()
        self.events_send, self.events_recv = trio.open_memory_channel[Any](EVENT_QUEUE)
        self._urgent: deque[Any] = deque()
        self._bulk: deque[Any] = deque()
        self.own_tickets: set[bytes] = set()
        self.subscribers: set[trio.MemorySendChannel[tuple[str, dict[str, Any]]]] = set()
        self.net: P2P | None = None
        self.nursery: trio.Nursery | None = None
        self.syncing = False
        self.sync_again: tuple[Any, int] | None = None
        self.fetching: set[bytes] = set()
        self.api_url = ""
        self.committing: dict[bytes, Transaction] = {}
        self.block_times: deque[int] = deque(maxlen=GC_WINDOW)
        tip = store.tip_height
        for h in range(max(1, tip - GC_WINDOW + 1), tip + 1):
            b = store.block_by_height(h)
            if b is not None:
                self.block_times.append(b.header.time_ms)

    # --- the machine task ----------------------------------------------------------------

    async def machine_loop(self) -> None:
        m = self.machine
        tip = self.store.tip_height
        if tip > 0:
            block = self.store.block_by_height(tip)
            cert = self.store.certificate(tip)
            if block is None or cert is None:
                raise StoreError(f"the store's tip {tip} has no block or certificate")
            await self.run_effects(m.start_at(now_ms(), block, cert, cert.round))
        else:
            await self.run_effects(m.start(now_ms()))
        self.metrics.set_height(self.store.tip_height)
        while True:
            await self._step()

    # Consensus inputs (tickets, votes, proposals, blocks, timers) go before transactions:
    # under a load of thousands of transactions a second, a ticket or vote queued behind a
    # second of signature checks arrives too late for its draw or round, trustees see
    # different lotteries, and heights need a second round. Transactions are handled in
    # chunks with the urgent inputs that arrived meanwhile handled between them.

    def _classify(self, item: Any) -> None:
        if (isinstance(item, Inbound) and isinstance(item.message, wire.TxBatch)) or (
                isinstance(item, _Local) and item.kind == "txs"):
            self._bulk.append(item)
        else:
            self._urgent.append(item)

    def _pull(self) -> None:
        """Move what the channel holds into the two queues (transactions up to BULK_HELD
        items: beyond that the channel's own bound holds the senders back)."""
        while len(self._bulk) < BULK_HELD:
            try:
                item = self.events_recv.receive_nowait()
            except trio.WouldBlock:
                return
            self._classify(item)

    async def _step(self) -> None:
        await self._fire_due_timers()
        if not self._urgent and not self._bulk:
            deadline = self.timers[0][0] if self.timers else math.inf
            wait_s = max(0.0, (deadline - now_ms()) / 1000.0) if deadline != math.inf \
                else 3600.0
            with trio.move_on_after(wait_s):
                self._classify(await self.events_recv.receive())
        self._pull()
        if self._urgent:
            await self._timed(self._urgent.popleft())
        elif self._bulk:
            await self._timed(self._bulk.popleft())

    async def _between_chunks(self) -> None:
        """Urgent inputs and due timers, between two chunks of transaction work (and a
        checkpoint, so the node's other tasks run too)."""
        await trio.sleep(0)
        await self._fire_due_timers()
        self._pull()
        budget = 1000
        while self._urgent and budget:
            budget -= 1
            await self._timed(self._urgent.popleft())
            await self._fire_due_timers()
            self._pull()

    async def _timed(self, item: Any) -> None:
        t0 = time.perf_counter()
        await self.handle(item)
        _log_if_slow(t0, item)

    async def _fire_due_timers(self) -> None:
        budget = 1000  # bounded: a flood of due timers cannot starve the inputs
        while self.timers and self.timers[0][0] <= now_ms() and budget:
            budget -= 1
            _, _, timer = heapq.heappop(self.timers)
            t0 = time.perf_counter()
            await self.run_effects(self.machine.on_timer(now_ms(), timer))
            _log_if_slow(t0, timer)

    async def handle(self, item: Any) -> None:
        m = self.machine
        now = now_ms()
        if isinstance(item, Inbound):
            await self._inbound(item, now)
        elif isinstance(item, _Local):
            await self._local(item, now)
        elif isinstance(item, _Fetched):
            self.fetching.discard(item.block.id)
            b = item.block
            if item.certificate is not None:
                await self.run_effects(m.on_announce(now, item.peer, b, item.certificate,
                                                     item.certificate.round))
            elif item.proposal:
                await self.run_effects(m.on_proposal(now, item.peer, b))
            else:
                await self.run_effects(m.on_fetched(now, item.peer, b.id, b))
        elif isinstance(item, _Synced):
            await self.run_effects(m.on_sync_reply(now, item.peer, item.entries,
                                                   continue_sync=True))
        elif isinstance(item, _Behind):
            await self.run_effects(m.on_sync_check(now, item.peer, item.height))

    async def _inbound(self, item: Inbound, now: float) -> None:
        m = self.machine
        msg = item.message
        peer = item.peer
        if isinstance(msg, wire.TxBatch):
            txs = msg.items
            for i in range(0, len(txs), TX_CHUNK):
                if i:
                    await self._between_chunks()
                await self.run_effects(m.on_txs(now_ms(), peer, txs[i:i + TX_CHUNK]))
            self.metrics.set_mempool(len(m.mempool))
        elif isinstance(msg, wire.TicketBatch):
            if log.isEnabledFor(logging.DEBUG):
                log.debug("tickets from %s: %s", peer, ", ".join(
                    f"{t.height}/{t.cycle}" for t in msg.items[:4]))
            items = [(t, t.id, lot(seed(t.parent_id, t.cycle), t.miner_pubkey))
                     for t in msg.items]
            await self.run_effects(m.on_tickets(now, peer, items))
        elif isinstance(msg, wire.VoteBatch):
            out = []
            for v in msg.items:
                out += m.on_vote(now, peer, v)
            await self.run_effects(out)
        elif isinstance(msg, wire.Proposal):
            await self.run_effects(m.on_proposal(now, peer, msg.block))
        elif isinstance(msg, wire.Announce):
            await self.run_effects(m.on_announce(now, peer, msg.block, msg.certificate,
                                                 msg.certificate.round))
        elif isinstance(msg, wire.CompactProposal):
            await self._compact_proposal(msg, peer, now)
        elif isinstance(msg, wire.ProposalHeader):
            self._spawn_fetch(msg.header.id, peer, proposal=True)
        elif isinstance(msg, wire.AnnounceHeader) and msg.header.height >= m.height:
            self._spawn_fetch(msg.header.id, peer, certificate=msg.certificate)

    async def _compact_proposal(self, msg: wire.CompactProposal, peer: Any, now: float) -> None:
        """Rebuild a compact proposal from the pool; fetch the whole block from the sender
        when a transaction is missing (docs/protocol.md, "Compact proposals")."""
        m = self.machine
        if msg.header.height != m.height or msg.block_id in m.proposal_ids:
            if msg.header.height > m.height:
                self._spawn_fetch(msg.block_id, peer, proposal=True)  # kept for later
            return
        pool = m.mempool
        got = msg.rebuild(lambda txid: pool.get(txid) or self.committing.get(txid))
        if isinstance(got, list):
            self.metrics.compact_proposal(False)
            log.debug("compact proposal %s: %d of %d transactions missing, fetching",
                      msg.block_id.hex()[:12], len(got), len(msg.tx_ids))
            self._spawn_fetch(msg.block_id, peer, proposal=True)
            return
        why = got.roots_match()
        if why is not None:  # the ids do not match the signed header: a forged relay
            if self.net is not None:
                self.net.fault(str(peer), DropReason.INVALID_BLOCK, f"compact proposal: {why}")
            return
        self.metrics.compact_proposal(True)
        await self.run_effects(m.on_proposal(now, peer, got))

    async def _local(self, item: _Local, now: float) -> None:
        m = self.machine
        if item.kind == "txs":
            results: list[tuple[str, str]] = []
            accepted: list[Transaction] = []
            for i, tx in enumerate(item.items):
                if i and not i % TX_CHUNK:
                    await self._between_chunks()
                results.append(m.on_local_tx(now_ms(), tx))
                if results[-1][0] == "accepted":
                    accepted.append(tx)
            self.metrics.set_mempool(len(m.mempool))
            if item.reply is not None:
                item.reply.send_nowait(results)
            await self._publish_txs(accepted)
        elif item.kind == "tickets":
            results = []
            entries = []
            adj = m.adj()
            for t in item.items:
                why = self._ticket_problem(t)
                if why is not None:
                    results.append(("rejected", why))
                    continue
                key = t.id
                if key in self.own_tickets:
                    results.append(("known", ""))
                    continue
                self.own_tickets.add(key)
                entries.append((t, key, lot(seed(t.parent_id, t.cycle), t.miner_pubkey), adj))
                results.append(("accepted", ""))
            if item.reply is not None:
                item.reply.send_nowait(results)
            if entries:
                await self.run_effects(m.on_own_tickets(now, m.height, entries))
        elif item.kind == "mined":
            log.debug("mined %d tickets for height %d", len(item.items), item.height)
            for e in item.items:
                self.own_tickets.add(e[1])
            await self.run_effects(m.on_own_tickets(now, item.height, item.items))

    def _ticket_problem(self, t: Ticket) -> str | None:
        m = self.machine
        if not self.sponsor:
            return "this node does not sponsor light miners (--no-sponsor)"
        if t.chain_id != self.genesis.chain_id:
            return DropReason.WRONG_CHAIN.value
        if t.sponsor_pubkey != self.pub:
            return "sponsor_pubkey is not this node's signer"
        if t.height != m.height:
            return DropReason.WRONG_HEIGHT.value
        if not self.verifier.ticket(t):
            return DropReason.BAD_SIGNATURE.value
        return None

    # --- effects -----------------------------------------------------------------------------

    async def run_effects(self, effects: list[Any]) -> None:
        # The machine pruned the pool of a finalized block's transactions before handing
        # back its Commit: until the store has the block, they still count as pending (an
        # API wait must never see them as neither pooled nor final).
        last_commit = None
        syncing = False
        for e in effects:
            if type(e) is Commit:
                last_commit = e
                for tx in e.block.payload:
                    self.committing[tx.id] = tx
            elif type(e) is Synced:
                syncing = True
        for e in effects:
            tp = type(e)
            if tp is SetTimer:
                heapq.heappush(self.timers, (e.at_ms, next(self._seq), e.timer))
            elif tp is GossipVote:
                v = e.vote
                log.debug("vote %d/%d %s %s", v.height, v.round, v.vtype,
                          v.block_id.hex()[:12] or "nil")
                await self._publish("vote", wire.VoteBatch((e.vote,)))
            elif tp is RegossipVotes:
                votes = list(e.votes)
                for i in range(0, len(votes), wire.MAX_VOTE_BATCH):
                    await self._publish("vote", wire.VoteBatch(tuple(
                        votes[i:i + wire.MAX_VOTE_BATCH])))
            elif tp is GossipTickets:
                own = [it[0] for it in e.items if it[1] in self.own_tickets]
                for i in range(0, len(own), wire.MAX_TICKET_BATCH):
                    await self._publish("ticket", wire.TicketBatch(tuple(
                        own[i:i + wire.MAX_TICKET_BATCH])))
                    log.debug("published %d tickets", len(own[i:i + wire.MAX_TICKET_BATCH]))
            elif tp is MineDraw:
                if self.miners and self.nursery is not None:
                    self.nursery.start_soon(self._mine, e.draw, e.start_ms)
            elif tp is PersistVote or tp is PersistProposal:
                await trio.to_thread.run_sync(self.signfile.save, self.machine.sign_state)
            elif tp is GossipProposal:
                if e.mode != PROPOSE_RELAY:
                    await self._publish("block", wire.block_message(e.block))
            elif tp is Commit:
                # a sync batch is flushed to disk once, with its last block: a crash loses
                # at most blocks the peers still hold, and the store stays a prefix
                await self._commit(e, durable=not syncing or e is last_commit)
            elif tp is Announce:
                await self._publish("block", wire.block_message(e.block, e.certificate))
            elif tp is GossipTxs:
                await self._publish_txs(list(e.txs))
            elif tp is FetchBlock:
                self._spawn_fetch(e.block_id, None)
            elif tp is RequestSync:
                self._spawn_sync(e.peer, e.from_height)
            elif tp is Dropped:
                if self.net is not None and e.peer is not None:
                    self.net.fault(str(e.peer), e.reason, e.what)  # counts, then scores
                else:
                    self.dropped("", e.reason, e.what)
            elif tp is Proposed:
                log.debug("proposed block %d %s", e.block.height, e.block.id.hex()[:12])
            elif tp is DrawClosed:
                pass
            elif tp is EvidenceCreated:
                log.warning("equivocation seen: evidence tx %s", e.tx.id.hex()[:16])
            elif tp is Synced:
                log.debug("synced block %d", e.height)

    async def _commit(self, e: Commit, durable: bool = True) -> None:
        t0 = time.perf_counter()
        try:
            await trio.to_thread.run_sync(self.chain.commit, e.block, e.certificate, durable)
        finally:
            for tx in e.block.payload:
                self.committing.pop(tx.id, None)
        self.metrics.block_applied(time.perf_counter() - t0)
        b = e.block
        n = len(b.payload)
        self.block_times.append(b.header.time_ms)
        self.metrics.block_finalized()
        self.metrics.set_height(b.height)
        self.metrics.observe_rounds(e.round + 1)
        self.metrics.txs_finalized(n)
        self.metrics.set_mempool(len(self.machine.mempool))
        log.info("finalized block %d %s (%d txs, round %d)", b.height, b.id.hex()[:12], n,
                 e.round)
        txids = [tx.id.hex() for tx in b.payload]
        # one queued item per block, however many transactions it has (the event stream
        # writes their ``tx`` events from it): a subscriber's queue counts blocks
        self._emit("block", {"height": b.height, "id": b.id.hex(),
                             "time_ms": b.header.time_ms, "n_txs": n, "txs": txids})
        if len(self.own_tickets) > 100_000:
            self.own_tickets.clear()

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        for ch in list(self.subscribers):
            try:
                ch.send_nowait((kind, data))
            except trio.WouldBlock:
                self.subscribers.discard(ch)
                ch.close()  # a reader that fell too far behind; it resumes by range
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.subscribers.discard(ch)

    async def _publish(self, kind: str, message: wire.GossipMessage) -> None:
        if self.net is not None:
            await self.net.publish(kind, message)

    async def _publish_txs(self, txs: list[Transaction]) -> None:
        """Transactions in batches within PUBLISH_TX_BATCH items and MAX_GOSSIP_BYTES."""
        batch: list[Transaction] = []
        size = 64
        for tx in txs:
            n = len(tx.encoded) + 8
            if batch and (len(batch) >= PUBLISH_TX_BATCH or size + n > wire.MAX_GOSSIP_BYTES):
                await self._publish("tx", wire.TxBatch(tuple(batch)))
                batch, size = [], 64
            batch.append(tx)
            size += n
        if batch:
            await self._publish("tx", wire.TxBatch(tuple(batch)))

    # --- mining --------------------------------------------------------------------------

    async def _mine(self, draw: Any, start_ms: int) -> None:
        """Own miners work on ``draw`` within its computing window, off the trio loop."""
        m = self.machine
        params = m.lottery.params
        target = params.pow_target
        phi_end = start_ms + params.phi_ms
        offset = m.clock._offset
        chain_id = self.genesis.chain_id

        def work() -> list[tuple[Ticket, bytes, bytes, int]]:
            out = []
            for sec, pub in zip(self.miners, self.miner_pubs, strict=True):
                nonce = None
                tries = 0
                while nonce is None and int(now_ms()) + offset < phi_end and tries < 64:
                    nonce = mine(draw.seed, pub, target, start_nonce=tries * 4096,
                                 max_tries=4096)
                    tries += 1
                t_ms = int(now_ms()) + offset
                if nonce is None or t_ms > phi_end:
                    continue
                t_ms = max(t_ms, start_ms)
                ticket = Ticket(chain_id, draw.height, draw.cycle, draw.parent_id, pub,
                                self.pub, nonce, t_ms).signed(sec)
                out.append((ticket, ticket.id, draw.lot_of(pub), t_ms))
            return out

        entries = await trio.to_thread.run_sync(work)
        if entries:
            await self.events_send.send(_Local("mined", entries, height=draw.height))

    # --- sync and fetch ----------------------------------------------------------------

    def _spawn_sync(self, peer: Any, from_height: int) -> None:
        if self.nursery is None or self.net is None:
            return
        if self.syncing:
            self.sync_again = (peer, from_height)  # asked while a sync runs: go on after it
            return
        self.syncing = True
        self.sync_again = None
        self.nursery.start_soon(self._sync, peer, from_height)

    async def _sync(self, peer: Any, from_height: int) -> None:
        """Up to SYNC_AHEAD replies from one peer, back to back: the next range is on its way
        while the machine applies the previous one."""
        net = self.net
        assert net is not None
        fetched_to = 0
        try:
            peers = [str(peer)] if peer is not None and str(peer) in net.connected() else []
            peers += [p for p in net.connected() if p not in peers]
            for p in peers[:4]:
                h = max(1, from_height)
                got = False
                for _ in range(SYNC_AHEAD):
                    try:
                        reply = await net.request(p, wire.SyncRequest(h, wire.MAX_SYNC_BLOCKS))
                    except (TimeoutError, ConnectionError, wire.WireError, DaoliError) as exc:
                        log.debug("sync from %s failed: %s", p, exc)
                        break
                    assert isinstance(reply, wire.SyncReply)
                    if not reply.entries:
                        break
                    entries = [(b, c, c.round) for b, c in reply.entries]
                    await self.events_send.send(_Synced(p, entries))
                    got = True
                    h = fetched_to = entries[-1][0].height + 1
                    if len(entries) < wire.MAX_SYNC_BLOCKS:
                        break
                if got:
                    return
        finally:
            self.syncing = False
            again, self.sync_again = self.sync_again, None
            if again is not None:  # from where this one stopped fetching, not re-fetching
                self._spawn_sync(again[0], max(again[1], self.machine.height, fetched_to))

    def _spawn_fetch(self, block_id: bytes, peer: str | None, *, proposal: bool = False,
                     certificate: CommitCertificate | None = None) -> None:
        if (not block_id or block_id in self.fetching or self.nursery is None
                or self.net is None):
            return
        self.fetching.add(block_id)
        self.nursery.start_soon(self._fetch, block_id, peer, proposal, certificate)

    async def _fetch(self, block_id: bytes, peer: str | None, proposal: bool,
                     certificate: CommitCertificate | None) -> None:
        net = self.net
        assert net is not None
        peers = ([peer] if peer else []) + [p for p in net.connected() if p != peer]
        for p in peers[:4]:
            t0 = time.perf_counter()
            try:
                reply = await net.request(p, wire.BlockRequest(block_id))
            except (TimeoutError, ConnectionError, wire.WireError, DaoliError) as exc:
                log.debug("fetch of %s from %s failed: %s", block_id.hex()[:12], p, exc)
                continue
            if isinstance(reply, wire.BlockReply) and reply.block is not None:
                log.debug("fetched block %s (%d txs) in %.0f ms", block_id.hex()[:12],
                          len(reply.block.payload), (time.perf_counter() - t0) * 1000)
                await self.events_send.send(_Fetched(p, reply.block, certificate, proposal))
                return
        self.fetching.discard(block_id)

    async def status_poll(self) -> None:
        """Ask peers where they are; a peer ahead is handed to the machine as a sync check."""
        net = self.net
        assert net is not None
        while True:
            await trio.sleep(STATUS_POLL_S)
            self.metrics.set_peers(len(net.connected()))
            for p in net.connected():
                try:
                    reply = await net.request(p, wire.StatusRequest(), timeout=3)
                except (TimeoutError, ConnectionError, DaoliError) as exc:
                    if isinstance(exc, wire.WireError) and exc.reason in (
                            DropReason.WRONG_CHAIN, DropReason.WRONG_GENESIS):
                        log.warning("peer %s is on another chain (%s): disconnecting", p, exc)
                    continue
                if isinstance(reply, wire.StatusReply) and reply.height >= self.machine.height:
                    await self.events_send.send(_Behind(p, reply.height + 1))

    # --- what the network asks (NetHandler) -------------------------------------------------

    def check(self, kind: str, peer: str, message: wire.GossipMessage) -> DropReason | None:
        v = self.verifier
        h = self.machine.height
        if isinstance(message, wire.TxBatch):
            for tx in message.items:
                if not v.tx(tx):
                    return DropReason.BAD_SIGNATURE
        elif isinstance(message, wire.VoteBatch):
            for vote in message.items:
                if vote.height + 1 < h:
                    return DropReason.STALE
                if not v.vote(vote):
                    return DropReason.BAD_SIGNATURE
        elif isinstance(message, wire.TicketBatch):
            for t in message.items:
                if t.height < h:
                    return DropReason.STALE
                if not v.ticket(t):  # remembered: the lottery asks the same verifier
                    return DropReason.BAD_SIGNATURE
        elif isinstance(message, wire.Proposal):
            if message.block.height + 1 < h:
                return DropReason.STALE
            if not message.block.header.verify_sig():
                return DropReason.BAD_SIGNATURE
        elif isinstance(message, wire.CompactProposal):
            if message.header.height + 1 < h:
                return DropReason.STALE
            if not message.header.verify_sig():
                return DropReason.BAD_SIGNATURE
        return None

    def status(self) -> wire.StatusReply:
        return wire.StatusReply(self.genesis.chain_id, self.genesis.id, self.store.tip_height,
                                self.store.tip_id)

    def sync_entries(self, from_height: int, count: int) -> list[wire.SyncEntry]:
        out: list[wire.SyncEntry] = []
        tip = self.store.tip_height
        for h in range(from_height, min(tip, from_height + count - 1) + 1):
            b = self.store.block_by_height(h)
            c = self.store.certificate(h)
            if b is None or c is None:
                break
            out.append((b, c))
        return out

    def block_by_id(self, block_id: bytes) -> Block | None:
        b = self.machine.blocks.get(block_id)
        return b if b is not None else self.store.block_by_id(block_id)

    def dropped(self, peer: str, reason: DropReason, what: str) -> None:
        self.metrics.dropped(reason.value)
        log.debug("dropped from %s: %s (%s)", peer, reason.value, what)

    # --- what the API asks (NodeBackend) ------------------------------------------------

    def status_view(self) -> dict[str, Any]:
        g = self.genesis
        m = self.machine
        tip = self.store.tip_height
        tip_block = self.store.block_by_height(tip) if tip else None
        trustees = active_trustees(self.store)
        net = self.net
        return {
            "chain_id": g.chain_id, "genesis_id": g.id.hex(), "height": tip,
            "tip_id": self.store.tip_id.hex(),
            "tip_time_ms": tip_block.header.time_ms if tip_block else g.genesis_time_ms,
            "cycle": cycle_of(m.adj(), g.genesis_time_ms, g.params.cycle_ms),
            "gc_cycle_ms": gc_cycle_ms(list(self.block_times)),
            "cycle_ms": g.params.cycle_ms,
            "min_fee": g.params.min_fee, "min_bond": g.params.min_bond,
            "round": m.hs.round if m.hs is not None else 0,
            "peers": len(net.connected()) if net else 0,
            "trustees": len(trustees), "trustee": self.pub in trustees,
            "mempool": len(m.mempool),
            "peer_id": str(net.peer_id) if net else "",
            "listen": net.listen_addrs() if net else [],
            "syncing": self.syncing, "version": __version__,
        }

    def peers_view(self) -> list[dict[str, Any]]:
        return self.net.peer_views() if self.net is not None else []

    def pooled(self, txid: bytes) -> Transaction | None:
        m = self.machine
        tx = m.mempool.get(txid) or self.committing.get(txid)
        if tx is None and m.n_orphans:
            tx = next((o for held in m.orphans.values() for o in held.values()
                       if o.id == txid), None)
        return tx

    def mempool_txs(self) -> list[Transaction]:
        return self.machine.mempool.transactions()

    def pending_senders(self) -> set[bytes]:
        senders = {tx.sender_pubkey for tx in self.machine.mempool.transactions()}
        senders.update(tx.sender_pubkey for tx in self.committing.values())
        return senders

    def pending_nonce(self, pubkey: bytes) -> int:
        m = self.machine
        n = m.nonce_of(pubkey)
        nonces = {tx.nonce for tx in m.mempool.transactions() if tx.sender_pubkey == pubkey}
        while n in nonces:
            n += 1
        return n

    def draw_view(self) -> dict[str, Any] | None:
        m = self.machine
        if not self.sponsor:
            return None
        adj = m.adj()
        d = m.lottery.mining_draw(adj)
        if d is None:
            return None
        p = m.lottery.params
        return {"chain_id": self.genesis.chain_id, "height": d.height, "cycle": d.cycle,
                "parent_id": d.parent_id.hex(), "seed": d.seed.hex(), "start_ms": d.start,
                "phi_ms": p.phi_ms, "target": f"{p.pow_target:064x}",
                "difficulty": p.pow_difficulty, "sponsor_pubkey": self.pub.hex(), "now_ms": adj}

    async def submit_txs(self, txs: Sequence[Transaction]) -> list[tuple[str, str]]:
        send, recv = trio.open_memory_channel[list[tuple[str, str]]](1)
        await self.events_send.send(_Local("txs", list(txs), send))
        return await recv.receive()

    async def submit_tickets(self, tickets: Sequence[Ticket]) -> list[tuple[str, str]]:
        send, recv = trio.open_memory_channel[list[tuple[str, str]]](1)
        await self.events_send.send(_Local("tickets", list(tickets), send))
        return await recv.receive()

    def net_shaping(self) -> dict[str, Any]:
        net = self.net
        if net is None:
            return Shaping().view()
        return {**net.shaping.view(), "shaped_drops": net.shaped_drops}

    def set_net_shaping(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Replace the given fields of the node's own network faults (checked by the API)."""
        net = self.net
        if net is not None:
            cur = net.shaping
            net.set_shaping(Shaping(
                blocked=frozenset(changes.get("blocked_peers", cur.blocked)),
                delay_ms=float(changes.get("delay_ms", cur.delay_ms)),
                jitter_ms=float(changes.get("jitter_ms", cur.jitter_ms)),
                loss=float(changes.get("loss", cur.loss))))
            log.warning("network faults now: %s", json.dumps(net.shaping.view()))
        return self.net_shaping()

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[tuple[str, dict[str, Any]]]]:
        send, recv = trio.open_memory_channel[tuple[str, dict[str, Any]]](SUBSCRIBER_QUEUE)
        self.subscribers.add(send)
        try:
            yield recv
        finally:
            self.subscribers.discard(send)
            send.close()


class _Backend:
    """The API's view of a node (the names docs/api.md's server expects)."""

    def __init__(self, node: Node) -> None:
        self._n = node
        self.genesis = node.genesis
        self.store = node.store
        self.metrics = node.metrics

    def status(self) -> dict[str, Any]:
        return self._n.status_view()

    def peers(self) -> list[dict[str, Any]]:
        return self._n.peers_view()

    def pooled(self, txid: bytes) -> Transaction | None:
        return self._n.pooled(txid)

    def mempool_txs(self) -> list[Transaction]:
        return self._n.mempool_txs()

    def pending_senders(self) -> set[bytes]:
        return self._n.pending_senders()

    def pending_nonce(self, pubkey: bytes) -> int:
        return self._n.pending_nonce(pubkey)

    def draw(self) -> dict[str, Any] | None:
        return self._n.draw_view()

    async def submit_txs(self, txs: Sequence[Transaction]) -> list[tuple[str, str]]:
        return await self._n.submit_txs(txs)

    async def submit_tickets(self, tickets: Sequence[Ticket]) -> list[tuple[str, str]]:
        return await self._n.submit_tickets(tickets)

    def subscribe(self) -> Any:
        return self._n.subscribe()

    def net_shaping(self) -> dict[str, Any]:
        return self._n.net_shaping()

    def set_net_shaping(self, changes: dict[str, Any]) -> dict[str, Any]:
        return self._n.set_net_shaping(changes)


# --- running ------------------------------------------------------------------------------


def _settings(home: Home, options: NodeOptions) -> NodeConfig:
    config = home.load_config()
    listen = options.listen or config.p2p_listen
    check_multiaddr(listen, "--listen", listen=True)
    api = options.api or config.api_listen
    try:
        parse_host_port(api)
    except ConfigError as exc:
        raise ConfigError(f"--api {exc}") from None
    boot = tuple(config.bootstrap_peers) + tuple(options.bootstrap)
    for i, b in enumerate(options.bootstrap):
        check_multiaddr(b, f"--bootstrap[{i}]", peer_id=True)
    level = options.log_level or config.log_level
    mine = config.mine if options.mine is None else options.mine
    if not -1 <= mine <= MAX_LOCAL_MINERS:
        raise ConfigError(f"--mine must be from 0 to {MAX_LOCAL_MINERS}")
    return NodeConfig(p2p_listen=listen, api_listen=api, bootstrap_peers=boot, log_level=level,
                      trustee=config.trustee if options.trustee is None else options.trustee,
                      mine=mine,
                      sponsor=config.sponsor if options.sponsor is None else options.sponsor)


def _setup_logging(home: Home, level_name: str) -> int:
    level = getattr(logging, level_name.upper(), logging.INFO)
    root = logging.getLogger("daoli")
    root.setLevel(level)
    root.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    root.addHandler(err)
    try:
        fh = logging.FileHandler(home.path / LOG_FILE, encoding="utf-8")
        fh.setFormatter(fmt)
        root.addHandler(fh)
    except OSError as exc:
        log.warning("cannot write %s: %s", home.path / LOG_FILE, exc)
    root.propagate = False
    return level


async def _serve(home: Home, options: NodeOptions, genesis: Genesis, config: NodeConfig,
                 store: BlockStore, level: int) -> None:
    node = Node(home, genesis, config, options, store)
    token = ensure_token(home.api_token_file)
    node_secret = home.node_secret()
    if len(node_secret) != SECRET_LEN:
        raise ConfigError("node key must be 32 bytes")
    net_cfg = NetConfig(node_secret, config.p2p_listen, config.bootstrap_peers,
                        genesis.chain_id, genesis.id, genesis.params.max_block_bytes)
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        node.nursery = nursery
        async with open_p2p(net_cfg, node, level) as net:
            node.net = net
            app = build_app(_Backend(node), token)
            host, port = parse_host_port(config.api_listen)
            serve = functools.partial(serve_api, shutdown=shutdown)
            bound = await nursery.start(serve, app, host, port)
            node.api_url = f"http://{bound[0]}:{bound[1]}"
            listen = net.listen_addrs()
            started: dict[str, Any] = {"event": "started", "peer_id": str(net.peer_id),
                       "listen": listen, "api": node.api_url,
                       "chain_id": genesis.chain_id, "height": store.tip_height,
                       "signer": address_of(node.pub), "miners": len(node.miners)}
            if options.json_output:
                print(json.dumps(started), flush=True)
            else:
                print(f"node {started['peer_id']} on chain {genesis.chain_id} at height "
                      f"{store.tip_height}\n  p2p {' '.join(listen)}\n"
                      f"  api {node.api_url}\n  explorer {node.api_url}/explorer#token={token}",
                      flush=True)
            log.info("started: %s", json.dumps(started))

            async def drain() -> None:
                async for item in net.inbox:
                    await node.events_send.send(item)

            async with trio.open_nursery() as inner:
                inner.start_soon(node.machine_loop)
                inner.start_soon(drain)
                inner.start_soon(node.status_poll)
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for signum in signals:
                        log.info("stopping on %s", signal.Signals(signum).name)
                        break
                shutdown.set()
                inner.cancel_scope.cancel()
        nursery.cancel_scope.cancel()


def run_node(home_path: Path, options: NodeOptions) -> int:
    """Run a node in the foreground until SIGINT/SIGTERM; the exit code."""
    home = Home(home_path)
    try:
        genesis = home.load_genesis()
        config = _settings(home, options)
    except DaoliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    level = _setup_logging(home, config.log_level)
    # trio restores the previous handlers on exit: ours, so a second SIGTERM (GNU timeout
    # sends two) during the final flush cannot kill the process half-way.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        store = BlockStore.open(home.data_dir)
    except DaoliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        trio.run(_serve, home, options, genesis, config, store, level)
    except DaoliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        log.info("stopped at height %d", store.tip_height)
        store.close()
    return 0


__all__ = ["Node", "miner_secret", "run_node"]
