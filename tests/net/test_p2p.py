"""The libp2p layer against real py-libp2p hosts on 127.0.0.1, in one trio run per test.

Covers the traps of shared/LIBP2P_NOTES.md: any start order meshes (own reconnect loop),
garbage on a topic is dropped, counted and not relayed, a malformed pubsub frame does not
kill the host, a hostile frame length on the sync stream is refused before allocation.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
import trio

from daoli.core import wire
from daoli.core.genesis import Genesis
from daoli.core.params import ChainParams
from daoli.core.reasons import DropReason
from daoli.core.tx import Transaction, Transfer
from daoli.net.p2p import NetConfig, open_p2p

pytestmark = pytest.mark.slow

GENESIS = Genesis("net-test", 1_700_000_000_000, ChainParams())


class Handler:
    def __init__(self) -> None:
        self.drops: list[tuple[str, DropReason, str]] = []

    def check(self, kind: str, peer: str, message: wire.GossipMessage) -> DropReason | None:
        return None

    def status(self) -> wire.StatusReply:
        return wire.StatusReply(GENESIS.chain_id, GENESIS.id, 0, GENESIS.id)

    def sync_entries(self, from_height: int, count: int) -> list[wire.SyncEntry]:
        return []

    def block_by_id(self, block_id: bytes) -> Any:
        return None

    def dropped(self, peer: str, reason: DropReason, what: str) -> None:
        self.drops.append((peer, reason, what))


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(i: int, listen_port: int = 0, bootstrap: tuple[str, ...] = (),
           chain_id: str = GENESIS.chain_id) -> NetConfig:
    return NetConfig(bytes([i + 1]) * 32, f"/ip4/127.0.0.1/tcp/{listen_port}", bootstrap,
                     chain_id, GENESIS.id)


def tx(nonce: int) -> Transaction:
    return Transaction(GENESIS.chain_id, bytes(33), nonce, 1000, Transfer(bytes(20), 5),
                       bytes(64))


async def until(what: str, cond: Callable[[], Any], timeout: float = 15) -> None:
    with trio.fail_after(timeout):
        while not cond():
            await trio.sleep(0.05)
    assert cond(), what


def run(fn: Callable[[], Any]) -> None:
    trio.run(fn)


def test_any_start_order_meshes_and_gossip_flows() -> None:
    async def main() -> None:
        p1 = port()
        h1, h2 = Handler(), Handler()
        from libp2p.crypto.secp256k1 import create_new_key_pair
        from libp2p.peer.id import ID
        id1 = ID.from_pubkey(create_new_key_pair(bytes([1]) * 32).public_key)
        addr1 = f"/ip4/127.0.0.1/tcp/{p1}/p2p/{id1}"
        # node 2 starts first and dials node 1, which is not up yet
        async with open_p2p(config(1, bootstrap=(addr1,)), h2) as n2:
            await trio.sleep(0.3)
            assert n2.connected() == []
            async with open_p2p(config(0, p1), h1) as n1:
                await until("the reconnect loop connects", lambda: n2.connected())
                assert str(n1.peer_id) in n2.connected()
                reply = await n2.request(str(n1.peer_id), wire.StatusRequest())
                assert isinstance(reply, wire.StatusReply) and reply.height == 0
                got = None
                with trio.fail_after(15):
                    while got is None:
                        await n1.publish("tx", wire.TxBatch((tx(0),)))
                        with trio.move_on_after(0.5):
                            got = await n2.inbox.receive()
                assert got.kind == "tx" and got.peer == str(n1.peer_id)
                assert isinstance(got.message, wire.TxBatch)
                assert got.message.items[0].nonce == 0
        assert not [d for d in h1.drops + h2.drops if d[1].is_fault]

    run(main)


def test_garbage_on_a_topic_is_dropped_counted_and_not_relayed() -> None:
    async def main() -> None:
        hs = [Handler() for _ in range(3)]
        async with open_p2p(config(0), hs[0]) as a:
            addr_a = a.listen_addrs()[0]
            async with open_p2p(config(1, bootstrap=(addr_a,)), hs[1]) as b:
                addr_b = b.listen_addrs()[0]
                async with open_p2p(config(2, bootstrap=(addr_b,)), hs[2]) as c:
                    await until("a line a-b-c", lambda: b.connected() and c.connected()
                                and len(b.connected()) == 2)
                    # a hostile publisher bypasses our own size and encoding checks
                    assert a.pubsub is not None
                    with trio.fail_after(20):
                        while not any(d[1] is DropReason.MALFORMED for d in hs[1].drops):
                            await a.pubsub.publish(a.topics["tx"], b"\xff garbage")
                            await trio.sleep(0.3)
                    # a valid one afterwards reaches c through b: the line works
                    got = None
                    with trio.fail_after(20):
                        while got is None:
                            await a.publish("tx", wire.TxBatch((tx(1),)))
                            with trio.move_on_after(0.5):
                                got = await c.inbox.receive()
                    assert isinstance(got.message, wire.TxBatch)
                    assert not any(d[1] is DropReason.MALFORMED for d in hs[2].drops)
                    assert b.peers[str(a.peer_id)].score < 0

    run(main)


def test_malformed_pubsub_frame_does_not_kill_the_host() -> None:
    async def main() -> None:
        h1, h2 = Handler(), Handler()
        async with open_p2p(config(0), h1) as n1, \
                open_p2p(config(1, bootstrap=(n1.listen_addrs()[0],)), h2) as n2:
            await until("connected", lambda: n2.connected())
            from libp2p.custom_types import TProtocol
            from libp2p.peer.id import ID
            stream = await n2.host.new_stream(ID.from_base58(str(n1.peer_id)),
                                              [TProtocol("/meshsub/1.1.0")])
            await stream.write(b"\x05\xff\xff\xff\xff\xff")  # a varint frame of junk protobuf
            await until("the bad frame is counted",
                        lambda: any(d[1] is DropReason.MALFORMED for d in h1.drops))
            # the host is alive: it still answers requests
            reply = await n2.request(str(n1.peer_id), wire.StatusRequest())
            assert isinstance(reply, wire.StatusReply)

    run(main)


def test_hostile_sync_frames_are_refused_before_allocation() -> None:
    async def main() -> None:
        h1, h2 = Handler(), Handler()
        async with open_p2p(config(0), h1) as n1, \
                open_p2p(config(1, bootstrap=(n1.listen_addrs()[0],)), h2) as n2:
            await until("connected", lambda: n2.connected())
            from libp2p.custom_types import TProtocol
            from libp2p.peer.id import ID
            stream = await n2.host.new_stream(ID.from_base58(str(n1.peer_id)),
                                              [TProtocol(wire.SYNC_PROTOCOL)])
            # a frame claiming 2^40 bytes
            await stream.write(b"\x80\x80\x80\x80\x80\x20")
            await until("the oversized frame is refused",
                        lambda: any(d[1] is DropReason.TOO_LARGE for d in h1.drops))
            reply = await n2.request(str(n1.peer_id), wire.SyncRequest(1, 4))
            assert isinstance(reply, wire.SyncReply) and reply.entries == ()

    run(main)


def test_a_peer_on_another_chain_is_refused() -> None:
    async def main() -> None:
        h1, h2 = Handler(), Handler()
        other = Genesis("other-chain", 1, ChainParams())

        class OtherHandler(Handler):
            def status(self) -> wire.StatusReply:
                return wire.StatusReply(other.chain_id, other.id, 0, other.id)

        h2 = OtherHandler()
        async with open_p2p(config(0), h1) as n1, \
                open_p2p(config(1, bootstrap=(n1.listen_addrs()[0],)), h2) as n2:
            await until("connected", lambda: n2.connected())
            with pytest.raises(wire.WireError) as err:
                await n1.request(str(n2.peer_id), wire.StatusRequest())
            assert err.value.reason in (DropReason.WRONG_CHAIN, DropReason.WRONG_GENESIS)

    run(main)
