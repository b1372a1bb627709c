"""The node's libp2p side: one host, four GossipSub topics, and two request protocols.

Everything here follows ``shared/LIBP2P_NOTES.md`` (what py-libp2p 0.8.1 does by default that
silently loses messages):

* TCP + Noise + Yamux only (the default host also offers plaintext, secio and TLS).
* GossipSub advertises meshsub/1.1 only (1.2's IDONTWANT halves throughput), heartbeat 1 s,
  spam and adaptive-gossip protection off (they drop honest bursts and our own publishes),
  eclipse protection off (every devnet peer is 127.0.0.1).
* Subscriptions are drained by a dedicated task into this module's own bounded queue; a
  full queue drops and counts (``rate_limited``) instead of the library dropping silently.
* The pubsub stream handler and ``push_msg`` are guarded: in 0.8.1 one malformed protobuf
  frame raises out of the read loop and tears the whole host down. Here it resets that
  stream and counts a fault against the peer.
* Every topic has a validator that decodes the message (size first, then canonical CBOR,
  chain id) and asks the node (:class:`NetHandler.check`) about signatures and timing
  before GossipSub relays it; the decoded message is kept for delivery, so nothing is
  decoded twice. Own publishes are size-checked before they leave (``encode`` refuses over
  512 KiB) and skip the node's check.
* Request/response (``/daoli/status/1``, ``/daoli/sync/1``) runs on one long-lived stream
  per peer and protocol with length-prefixed frames (:mod:`daoli.core.wire`); every read has
  a deadline and every frame a length cap before anything is allocated.
* The node keeps its own reconnect loop: a static bootstrap list alone leaves a star and
  never retries a peer that was down at first (failed dials sit in a 60 s negative cache).

Peers misbehaving (a decoded message the node refuses as a fault, a malformed frame, an
unsolicited reply) lose score; below :data:`BAN_SCORE` they are disconnected and refused
for :data:`BAN_SECONDS`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.exceptions import ValidationError
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub, ValidationResult
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service

from daoli.core import wire
from daoli.core.reasons import DropReason

log = logging.getLogger("daoli.net")

GOSSIP_DEGREE = (6, 4, 12)
"""GossipSub D, D_low, D_high (the libp2p defaults)."""
HEARTBEAT_S = 1
INBOX_SIZE = 10_000
"""Decoded gossip messages waiting for the node; beyond it new ones are dropped and counted."""
DECODED_CACHE = 4_096
"""Messages decoded by a validator and not yet drained from the subscription."""
SEEN_CONTENTS = 20_000
"""Hashes of gossip payloads accepted lately: the same bytes again are a counted duplicate."""
MAX_DELAYED = 10_000
"""Publishes waiting out an emulated delay; beyond it they are dropped (counted)."""
RECONNECT_EVERY_S = 2.0
DIAL_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
IDLE_STREAM_S = 120.0
"""A request stream idle this long is closed (the peer reopens it when it needs one)."""
STALLED_FRAME_S = 10.0
"""A frame begun but not finished within this is a stalled stream: closed and counted."""
MAX_PENDING_REQUESTS = 64
BAN_SCORE = -50.0
BAN_SECONDS = 600.0
FAULT_PENALTY = 5.0


@dataclass(frozen=True, slots=True)
class Inbound:
    """A gossip message that passed validation, for the node (never one of our own)."""

    kind: str
    peer: str
    message: wire.GossipMessage


class NetHandler(Protocol):
    """What the network asks of the node. Called from validators and stream handlers, so
    every method must return quickly and never raise."""

    def check(self, kind: str, peer: str, message: wire.GossipMessage) -> DropReason | None:
        """Signatures and timing of a decoded gossip message: ``None`` to accept (GossipSub
        then relays it), else the reason it is refused."""

    def status(self) -> wire.StatusReply: ...

    def sync_entries(self, from_height: int, count: int) -> list[wire.SyncEntry]: ...

    def block_by_id(self, block_id: bytes) -> Any: ...

    def dropped(self, peer: str, reason: DropReason, what: str) -> None:
        """Count a refused input (the node's metrics)."""


@dataclass(frozen=True)
class NetConfig:
    node_secret: bytes
    listen: str
    bootstrap: tuple[str, ...]
    chain_id: str
    genesis_id: bytes
    max_block_bytes: int = wire.DEFAULT_MAX_BLOCK_BYTES


@dataclass
class Shaping:
    """Faults this node applies to itself (a devnet's partitions and WAN emulation on
    loopback, where the kernel cannot): peers it refuses, and delay and loss of what it
    publishes. Messages GossipSub relays for others are not delayed."""

    blocked: frozenset[str] = frozenset()
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0

    def view(self) -> dict[str, Any]:
        return {"blocked_peers": sorted(self.blocked), "delay_ms": self.delay_ms,
                "jitter_ms": self.jitter_ms, "loss": self.loss}


@dataclass
class PeerInfoView:
    score: float = 0.0
    banned_until: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)


def msg_id(msg: rpc_pb2.Message) -> bytes:
    """Message ids are (origin, sequence number) hashed: a re-gossip by its origin is a new
    message (the machine re-sends votes while a height is open), and a relay of the same
    message by many peers is one. Duplicates across origins are the machine's to drop."""
    return hashlib.sha256(msg.from_id + b"/" + msg.seqno).digest()


CHECK_CHUNK = 32
"""Transaction signatures checked between two checkpoints (about 2 ms)."""
VALIDATION_TIMEOUT_S = 10.0
"""A validation still running after this refuses the message."""
BULK_QUEUE = 64
"""Peers' transaction batches waiting for validation (at most 512 KiB each)."""
PEER_QUEUE_RPCS = 256
"""Outbound RPCs queued per peer. py-libp2p 0.8.1 keeps 32 and drops what does not fit,
silently: under a few thousand transactions a second, batches filled the queues and tickets
and votes queued after them were dropped, reaching peers only by the next heartbeat's gossip
(up to a second late, after their draw had closed)."""


class _Queues(dict[Any, Any]):
    """``Pubsub.peer_queues``, giving each new per-peer queue PEER_QUEUE_RPCS places."""

    def __setitem__(self, peer: Any, queue: Any) -> None:
        inner = getattr(queue, "_queue", None)
        if inner is not None and hasattr(inner, "max_size"):
            inner.max_size = max(inner.max_size, PEER_QUEUE_RPCS)
        super().__setitem__(peer, queue)


class _DaoliGossipSub(GossipSub):
    """GossipSub sending consensus messages (tickets, votes, blocks) ahead of transaction
    batches: the per-peer queue's priority lane, which the library keeps for control
    messages, also carries them (a ticket is useless once its draw closed, a transaction
    waits for the next block anyway)."""

    urgent_topics: frozenset[str] = frozenset()

    def send_rpc(self, peer_id: ID, rpc: rpc_pb2.RPC, priority: bool = False) -> None:
        if not priority and rpc.publish and all(
                t in self.urgent_topics for m in rpc.publish for t in m.topicIDs):
            priority = True
        super().send_rpc(peer_id, rpc, priority)


class _GuardedPubsub(Pubsub):
    """Pubsub whose stream handler and message pipeline never raise into the host."""

    net: P2P | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.peer_queues = _Queues(self.peer_queues)
        self._bulk_send: trio.MemorySendChannel[tuple[ID, rpc_pb2.Message]] | None = None

    async def stream_handler(self, stream: Any) -> None:
        peer = str(stream.muxed_conn.peer_id)
        try:
            await super().stream_handler(stream)
        except Exception as exc:  # noqa: BLE001 - a hostile frame must not kill the host
            log.info("pubsub stream from %s closed: %s", peer, type(exc).__name__)
            if self.net is not None:
                self.net.fault(peer, DropReason.MALFORMED, "pubsub frame")
            with trio.move_on_after(1):
                with contextlib.suppress(Exception):
                    await stream.reset()
            with contextlib.suppress(Exception):
                self._handle_dead_peer(stream.muxed_conn.peer_id)

    async def validate_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        """The library's validation, for the validators this node registers, without its
        cost on refusal: py-libp2p 0.8.1 formats the whole protobuf message into
        every ValidationError (``f"... msg={msg}"``), which made refused duplicates of large
        messages about a tenth of a loaded node's CPU. Results are cached by message id as
        the library does."""
        mid = self._msg_id_constructor(msg)
        cached = self.validation_cache.get(mid)
        if cached is not None:
            if not cached.is_valid:
                raise ValidationError("refused before")
            return
        ok = True
        for tv in self.get_msg_validators(msg):
            ok = False  # unless it answers yes in time
            with trio.move_on_after(VALIDATION_TIMEOUT_S):
                answer = tv.validator(msg_forwarder, msg)
                ok = bool(await cast(Awaitable[bool], answer) if tv.is_async else answer)
            if not ok:
                break
        self.validation_cache.put(mid, ValidationResult(is_valid=ok, timestamp=time.time(),
                                                        error_message=None if ok else
                                                        "refused by a topic validator"))
        if not ok:
            raise ValidationError("refused by a topic validator")

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        """A peer's transaction batches are validated (signatures included, before any
        relay, as SPEC 7 asks) by one worker task in arrival order, off the stream's read
        loop: a ticket or vote read after a burst of batches from the same peer is handled
        at once instead of after every batch ahead of it is verified (measured under a
        20,000-transaction burst: tickets a second late, after their draw had closed)."""
        net = self.net
        if (net is not None and self._bulk_send is not None and msg_forwarder != self.my_id
                and net.bulk_topic in msg.topicIDs):
            await self._bulk_send.send((msg_forwarder, msg))  # bounded: backpressure
            return
        await self._push_now(msg_forwarder, msg)

    async def bulk_worker(self) -> None:
        """Validates and delivers queued transaction batches, one at a time."""
        send, recv = trio.open_memory_channel[tuple[ID, rpc_pb2.Message]](BULK_QUEUE)
        self._bulk_send = send
        try:
            async for forwarder, msg in recv:
                await self._push_now(forwarder, msg)
        finally:
            self._bulk_send = None

    async def _push_now(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        net = self.net
        if (net is not None and msg_forwarder != self.my_id and not self._is_msg_seen(msg)
                and net.known_content(msg.data)):
            # the same bytes again under another origin or sequence number: refused here,
            # before the library logs the whole payload in hex on its refusal path
            net.handler.dropped(str(msg_forwarder), DropReason.DUPLICATE,
                                net.kind_of(msg))
            return
        try:
            await super().push_msg(msg_forwarder, msg)
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - garbage keys or ids in a message
            log.debug("message from %s dropped: %s", msg_forwarder, exc)
            if self.net is not None:
                self.net.fault(str(msg_forwarder), DropReason.MALFORMED, "pubsub message")


class P2P:
    """One running libp2p node. Create with :func:`open_p2p`."""

    def __init__(self, config: NetConfig, handler: NetHandler) -> None:
        self.config = config
        self.handler = handler
        kp = create_new_key_pair(config.node_secret)
        self.key_pair = kp
        self.peer_id = ID.from_pubkey(kp.public_key)
        self.host: Any = None
        self.pubsub: _GuardedPubsub | None = None
        self.topics = {kind: wire.topic(config.chain_id, kind) for kind in wire.TOPIC_KINDS}
        self._kind_of = {t: k for k, t in self.topics.items()}
        self._contents: OrderedDict[bytes, None] = OrderedDict()
        self._decoded: OrderedDict[bytes, tuple[str, wire.GossipMessage]] = OrderedDict()
        self._send, self.inbox = trio.open_memory_channel[Inbound](INBOX_SIZE)
        self.peers: dict[str, PeerInfoView] = {}
        self._bootstrap: list[tuple[ID, Any]] = []
        for addr in config.bootstrap:
            info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
            if info.peer_id != self.peer_id:
                self._bootstrap.append((info.peer_id, info))
        self._streams: dict[tuple[str, str], _Client] = {}
        self._stream_locks: dict[tuple[str, str], trio.Lock] = {}
        self.nursery: trio.Nursery | None = None
        self.published = 0
        self.publish_errors = 0
        self.shaping = Shaping()
        self.shaped_drops = 0
        self._delayed = 0
        self._rng = random.Random()

    # --- identity and peers -------------------------------------------------------------

    def listen_addrs(self) -> list[str]:
        if self.host is None:
            return []
        return [f"{a}/p2p/{self.peer_id}" for a in self.host.get_addrs()
                if "/p2p/" not in str(a)] or [str(a) for a in self.host.get_addrs()]

    def connected(self) -> list[str]:
        if self.host is None:
            return []
        return [str(p) for p in self.host.get_connected_peers()]

    def peer_views(self) -> list[dict[str, Any]]:
        out = []
        store = self.host.get_peerstore() if self.host is not None else None
        for pid in (self.host.get_connected_peers() if self.host is not None else []):
            addrs: list[str] = []
            if store is not None:
                try:
                    addrs = [str(a) for a in store.addrs(pid)]
                except Exception:  # noqa: BLE001 - a peer without stored addresses
                    addrs = []
            view = self.peers.get(str(pid), PeerInfoView())
            out.append({"peer_id": str(pid), "addrs": addrs, "score": view.score})
        return out

    def fault(self, peer: str, reason: DropReason, what: str) -> None:
        """Count a refused input against ``peer``; ban it below BAN_SCORE."""
        self.handler.dropped(peer, reason, what)
        if not reason.is_fault or peer == str(self.peer_id):
            return
        view = self.peers.setdefault(peer, PeerInfoView())
        view.score -= FAULT_PENALTY
        if reason in (DropReason.WRONG_CHAIN, DropReason.WRONG_GENESIS):
            if view.score > BAN_SCORE:
                log.warning("peer %s is on another chain (%s): refusing it", peer, what)
            view.score = min(view.score, BAN_SCORE)  # another chain: nothing to talk about
        view.faults[reason.value] = view.faults.get(reason.value, 0) + 1
        if view.score <= BAN_SCORE and view.banned_until <= trio.current_time():
            view.banned_until = trio.current_time() + BAN_SECONDS
            log.warning("peer %s banned for %.0f s (score %.0f)", peer, BAN_SECONDS, view.score)
            if self.nursery is not None:
                self.nursery.start_soon(self._ban, peer)

    def set_shaping(self, shaping: Shaping) -> None:
        """Apply new faults now: blocked peers are disconnected at once."""
        self.shaping = shaping
        if self.nursery is not None:
            for peer in self.connected():
                if peer in shaping.blocked:
                    self.nursery.start_soon(self._disconnect, peer)

    async def _disconnect(self, peer: str) -> None:
        with trio.move_on_after(2), suppress(Exception):
            await self.host.disconnect(ID.from_base58(peer))

    def refused(self, peer: str) -> bool:
        """Banned for faults, or blocked by the node's own shaping (a partition)."""
        return peer in self.shaping.blocked or self.banned(peer)

    def banned(self, peer: str) -> bool:
        view = self.peers.get(peer)
        return view is not None and view.banned_until > trio.current_time()

    async def _ban(self, peer: str) -> None:
        pid = ID.from_base58(peer)
        if self.pubsub is not None:
            self.pubsub.add_to_blacklist(pid)
        with trio.move_on_after(2):
            with contextlib.suppress(Exception):
                await self.host.disconnect(pid)

    # --- gossip -------------------------------------------------------------------------

    def _validator(self, kind: str) -> Any:
        chain_id = self.config.chain_id
        max_block = self.config.max_block_bytes
        me = self.peer_id

        async def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            """Asynchronous so that a transaction batch's signature checks run in chunks
            with a checkpoint between them: every hop of a ticket or vote through this
            process (several tasks) waits for whatever runs between two checkpoints, and a
            whole batch of 256 checks held each hop for 15 ms."""
            peer = str(forwarder)
            try:
                digest = hashlib.sha256(msg.data).digest()
                if forwarder == me:
                    self._remember(digest)
                    return True  # our own publish, checked when built
                if self.refused(peer):
                    return False
                if digest in self._contents:
                    # The same bytes from another origin, or replayed with a new sequence
                    # number: nothing new for us, and nothing to relay again.
                    self.handler.dropped(peer, DropReason.DUPLICATE, kind)
                    return False
                try:
                    decoded = wire.decode_gossip(kind, msg.data, chain_id=chain_id,
                                                 max_block_bytes=max_block)
                except wire.WireError as exc:
                    self.fault(peer, exc.reason, f"{kind}: {exc}")
                    return False
                if isinstance(decoded, wire.TxBatch):
                    items = decoded.items
                    for i in range(0, len(items), CHECK_CHUNK):
                        if i:
                            await trio.sleep(0)
                        part = items[i:i + CHECK_CHUNK]
                        reason = self.handler.check(
                            kind, peer, decoded if len(part) == len(items) else
                            wire.TxBatch(part))
                        if reason is not None:
                            break
                else:
                    reason = self.handler.check(kind, peer, decoded)
                if reason is not None:
                    self.fault(peer, reason, kind)
                    return False
                if digest in self._contents:  # the same bytes validated meanwhile
                    self.handler.dropped(peer, DropReason.DUPLICATE, kind)
                    return False
                self._remember(digest)
                if kind != "tx":
                    log.debug("gossip %s from %s validated", type(decoded).__name__, peer[-6:])
                self._decoded[msg_id(msg)] = (peer, decoded)
                while len(self._decoded) > DECODED_CACHE:
                    self._decoded.popitem(last=False)
                return True
            except (trio.Cancelled, KeyboardInterrupt):
                raise
            except Exception as exc:
                log.exception("validator for %s failed: %s", kind, exc)
                return False

        return validate

    def known_content(self, data: bytes) -> bool:
        return hashlib.sha256(data).digest() in self._contents

    @property
    def bulk_topic(self) -> str:
        return self.topics["tx"]

    def kind_of(self, msg: rpc_pb2.Message) -> str:
        return next((self._kind_of[t] for t in msg.topicIDs if t in self._kind_of), "unknown")

    def _remember(self, digest: bytes) -> None:
        contents = self._contents
        contents[digest] = None
        if len(contents) > SEEN_CONTENTS:
            contents.popitem(last=False)

    async def publish(self, kind: str, message: wire.GossipMessage) -> bool:
        """Publish one message (already within MAX_GOSSIP_BYTES: encoding refuses more),
        through this node's own loss and delay when it has any (:class:`Shaping`)."""
        data = message.encoded
        if len(data) > wire.MAX_GOSSIP_BYTES or self.pubsub is None:
            self.publish_errors += 1
            return False
        sh = self.shaping
        if sh.loss and self._rng.random() < sh.loss:
            self.shaped_drops += 1
            return False
        if (sh.delay_ms or sh.jitter_ms) and self.nursery is not None:
            if self._delayed >= MAX_DELAYED:
                self.shaped_drops += 1
                return False
            delay = max(0.0, sh.delay_ms + self._rng.uniform(-sh.jitter_ms, sh.jitter_ms))
            self._delayed += 1
            self.nursery.start_soon(self._publish_later, kind, data, delay / 1000.0)
            return True
        return await self._publish_now(kind, data)

    async def _publish_later(self, kind: str, data: bytes, delay_s: float) -> None:
        try:
            await trio.sleep(delay_s)
            await self._publish_now(kind, data)
        finally:
            self._delayed -= 1

    async def _publish_now(self, kind: str, data: bytes) -> bool:
        assert self.pubsub is not None
        try:
            await self.pubsub.publish(self.topics[kind], data)
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - a publish failure must not stop the node
            self.publish_errors += 1
            log.warning("publish on %s failed: %s", kind, exc)
            return False
        self.published += 1
        return True

    async def _drain(self, kind: str, sub: Any) -> None:
        me = self.peer_id.to_bytes()
        while True:
            msg = await sub.get()
            if msg.from_id == me:
                continue
            got = self._decoded.pop(msg_id(msg), None)
            if got is None:
                continue  # validated long ago and evicted, or never ours to deliver
            peer, decoded = got
            try:
                self._send.send_nowait(Inbound(kind, peer, decoded))
            except trio.WouldBlock:
                self.handler.dropped(peer, DropReason.RATE_LIMITED, f"{kind}: inbox full")

    # --- request/response ------------------------------------------------------------------

    async def _serve(self, stream: Any) -> None:
        """One long-lived request stream from a peer: answer frames until idle or bad."""
        protocol = str(stream.get_protocol())
        peer = str(stream.muxed_conn.peer_id)
        decoder = wire.FrameDecoder(wire.MAX_REQUEST_BYTES)
        if peer in self.shaping.blocked:  # a partition; a banned peer may still learn why
            with trio.move_on_after(1), suppress(Exception):
                await stream.reset()
            return
        try:
            while True:
                limit = STALLED_FRAME_S if decoder.in_frame else IDLE_STREAM_S
                data = b""
                with trio.move_on_after(limit):
                    data = await _read(stream)
                if data == b"":
                    if decoder.in_frame:
                        self.fault(peer, DropReason.STALLED, protocol)
                    return
                for frame in decoder.feed(data):
                    request = wire.decode_request(protocol, frame.message)
                    reply = self._answer(request)
                    await stream.write(wire.encode_frame(frame.request_id, reply))
        except wire.WireError as exc:
            self.fault(peer, exc.reason, f"{protocol}: {exc}")
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - the peer went away mid-stream
            log.debug("request stream from %s ended: %s", peer, exc)
        finally:
            with trio.move_on_after(1):
                with contextlib.suppress(Exception):
                    await stream.close()

    def _answer(self, request: wire.Request) -> wire.Reply:
        h = self.handler
        if isinstance(request, wire.StatusRequest):
            return h.status()
        if isinstance(request, wire.SyncRequest):
            return wire.SyncReply.pack(h.sync_entries(request.from_height, request.count))
        if isinstance(request, wire.BlockRequest):
            return wire.BlockReply(h.block_by_id(request.block_id))
        raise wire.WireError(DropReason.UNKNOWN_TYPE, f"no answer to {request.NAME}")

    async def request(self, peer: str, request: wire.Request,
                      timeout: float = REQUEST_TIMEOUT_S) -> wire.Reply:
        """Send ``request`` to ``peer`` on its protocol's long-lived stream and wait for the
        answer. Raises TimeoutError, ConnectionError or WireError (counted as a fault)."""
        if peer in self.shaping.blocked:
            raise ConnectionError(f"peer {peer} is blocked (a partition)")
        key = (peer, request.PROTOCOL)
        lock = self._stream_locks.setdefault(key, trio.Lock())
        try:
            with trio.fail_after(timeout):
                async with lock:
                    client = self._streams.get(key)
                    if client is None or client.closed:
                        stream = await self.host.new_stream(ID.from_base58(peer),
                                                            [TProtocol(request.PROTOCOL)])
                        client = _Client(self, peer, stream, request.PROTOCOL)
                        self._streams[key] = client
                        assert self.nursery is not None
                        self.nursery.start_soon(client.read_loop)
                return await client.ask(request)
        except trio.TooSlowError:
            raise TimeoutError(f"{request.PROTOCOL} to {peer}: no answer in {timeout} s"
                               ) from None
        except (trio.Cancelled, KeyboardInterrupt, TimeoutError, wire.WireError,
                ConnectionError):
            raise
        except Exception as exc:  # noqa: BLE001 - libp2p's many stream and dial errors
            raise ConnectionError(f"{request.PROTOCOL} to {peer}: {exc}") from None

    # --- connecting ---------------------------------------------------------------------------

    async def _reconnect_loop(self) -> None:
        """Keep every bootstrap peer connected, whatever the start order."""
        while True:
            connected = set(self.host.get_connected_peers())
            for pid in connected:
                if str(pid) in self.shaping.blocked:
                    await self._disconnect(str(pid))
            for pid, info in self._bootstrap:
                if pid in connected or self.refused(str(pid)):
                    continue
                with contextlib.suppress(Exception):
                    self.host.get_network().unblock_peer(pid)
                with trio.move_on_after(DIAL_TIMEOUT_S):
                    try:
                        await self.host.connect(info)
                    except (trio.Cancelled, KeyboardInterrupt):
                        raise
                    except Exception as exc:  # noqa: BLE001 - down peers are normal
                        log.debug("dial %s failed: %s", pid, exc)
            await trio.sleep(RECONNECT_EVERY_S)


async def _read(stream: Any) -> bytes:
    try:
        data: bytes = await stream.read(65536)
    except (trio.Cancelled, KeyboardInterrupt):
        raise
    except Exception:  # noqa: BLE001 - EOF and resets end the stream alike
        return b""
    return data or b""


class _Client:
    """Our end of one long-lived request stream to a peer: frames out, replies matched by
    request id."""

    def __init__(self, net: P2P, peer: str, stream: Any, protocol: str) -> None:
        self.net = net
        self.peer = peer
        self.stream = stream
        self.protocol = protocol
        self.next_id = 1
        self.pending: dict[int, tuple[wire.Request, trio.MemorySendChannel[Any]]] = {}
        self.closed = False

    async def ask(self, request: wire.Request) -> wire.Reply:
        if len(self.pending) >= MAX_PENDING_REQUESTS:
            raise ConnectionError("too many requests in flight to this peer")
        rid = self.next_id
        self.next_id = 1 if rid >= wire.MAX_REQUEST_ID else rid + 1
        send, recv = trio.open_memory_channel[Any](1)
        self.pending[rid] = (request, send)
        try:
            await self.stream.write(wire.encode_frame(rid, request, wire.MAX_REQUEST_BYTES))
            result = await recv.receive()
        finally:
            self.pending.pop(rid, None)
        if isinstance(result, BaseException):
            raise result
        reply: wire.Reply = result
        return reply

    async def read_loop(self) -> None:
        decoder = wire.FrameDecoder(wire.MAX_REPLY_BYTES)
        cfg = self.net.config
        error: BaseException = ConnectionError("request stream closed")
        try:
            while True:
                limit = STALLED_FRAME_S if decoder.in_frame else (
                    IDLE_STREAM_S if not self.pending else REQUEST_TIMEOUT_S * 3)
                data = b""
                with trio.move_on_after(limit):
                    data = await _read(self.stream)
                if data == b"":
                    if decoder.in_frame:
                        self.net.fault(self.peer, DropReason.STALLED, self.protocol)
                    return
                for frame in decoder.feed(data):
                    entry = self.pending.get(frame.request_id)
                    if entry is None:
                        raise wire.WireError(DropReason.UNSOLICITED, "reply to no request")
                    request, send = entry
                    reply = wire.decode_reply(self.protocol, frame.message,
                                              chain_id=cfg.chain_id, genesis_id=cfg.genesis_id,
                                              request=request,
                                              max_block_bytes=cfg.max_block_bytes)
                    send.send_nowait(reply)
        except wire.WireError as exc:
            self.net.fault(self.peer, exc.reason, f"{self.protocol} reply: {exc}")
            error = exc
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - the peer went away
            error = ConnectionError(str(exc))
        finally:
            self.closed = True
            for _, send in list(self.pending.values()):
                with suppress(trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                    send.send_nowait(error)
            with trio.move_on_after(1):
                with contextlib.suppress(Exception):
                    await self.stream.reset()


def quiet_libp2p_logs(level: int = logging.INFO) -> None:
    """py-libp2p logs failed dials at ERROR and its auto-connector at INFO every few seconds,
    and its logger does not propagate: keep it at WARNING unless debugging."""
    lg = logging.getLogger("libp2p")
    lg.setLevel(max(level, logging.WARNING) if level > logging.DEBUG else logging.DEBUG)
    for name in ("libp2p.network.swarm", "libp2p.host.basic_host", "libp2p.pubsub.pubsub",
                 "libp2p.pubsub.gossipsub", "libp2p.network.auto_connector"):
        logging.getLogger(name).setLevel(logging.CRITICAL if level > logging.DEBUG
                                         else logging.DEBUG)


def make_host(key_pair: Any, listen: list[multiaddr.Multiaddr]) -> Any:
    """A libp2p host with the transports of every DaoliCloud host (shared/LIBP2P_NOTES.md):
    TCP, Noise only (the default host also accepts plaintext), Yamux; not yet running."""
    return new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(
            key_pair, noise_privkey=create_x25519_key_pair().private_key)},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        listen_addrs=listen,
    )


@asynccontextmanager
async def open_p2p(config: NetConfig, handler: NetHandler,
                   log_level: int = logging.INFO) -> AsyncIterator[P2P]:
    """Start the host, subscribe, begin dialling; leave the block to stop everything."""
    quiet_libp2p_logs(log_level)
    net = P2P(config, handler)
    listen = [multiaddr.Multiaddr(config.listen)]
    host = make_host(net.key_pair, listen)
    net.host = host
    d, d_low, d_high = GOSSIP_DEGREE
    router = _DaoliGossipSub([PROTOCOL_ID_V11], d, d_low, d_high,
                             heartbeat_interval=HEARTBEAT_S, adaptive_gossip_enabled=False,
                             spam_protection_enabled=False, eclipse_protection_enabled=False,
                             max_messages_per_topic_per_second=math.inf)
    router.urgent_topics = frozenset(t for k, t in net.topics.items() if k != "tx")
    pubsub = _GuardedPubsub(host, router, msg_id_constructor=msg_id,
                            max_inbound_rpc_size=wire.MAX_GOSSIP_BYTES + 64 * 1024)
    pubsub.net = net
    net.pubsub = pubsub
    for proto in (wire.SYNC_PROTOCOL, wire.STATUS_PROTOCOL):
        host.set_stream_handler(TProtocol(proto), net._serve)
    async with host.run(listen), background_trio_service(pubsub), \
            background_trio_service(router):
        await pubsub.wait_until_ready()
        async with trio.open_nursery() as nursery:
            net.nursery = nursery
            for kind, name in net.topics.items():
                pubsub.set_topic_validator(name, net._validator(kind), True)
                sub = await pubsub.subscribe(name)
                nursery.start_soon(net._drain, kind, sub)
            nursery.start_soon(net._reconnect_loop)
            nursery.start_soon(pubsub.bulk_worker)
            try:
                yield net
            finally:
                nursery.cancel_scope.cancel()


def peer_addr(listen_addrs: Sequence[str]) -> str | None:
    """The first dialable listen address (what a devnet hands its peers as bootstrap)."""
    return next(iter(listen_addrs), None)


__all__ = ["P2P", "Inbound", "NetConfig", "NetHandler", "make_host", "open_p2p", "peer_addr",
           "quiet_libp2p_logs"]
