"""A hostile peer against a real node process: malformed, oversized and replayed gossip,
and a broken pubsub frame, are dropped and counted (``/metrics``), the node keeps
finalizing blocks, and the peer loses its connection once its score is spent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from daoli.core import wire
from daoli.core.genesis import Genesis
from daoli.core.reasons import DropReason
from daoli.net.p2p import NetConfig, open_p2p
from daoli.node.home import Home
from tests.node.nodeproc import NodeProc, init_home, running, wait_for

pytestmark = pytest.mark.slow


class Quiet:
    def check(self, kind: str, peer: str, message: wire.GossipMessage) -> DropReason | None:
        return None

    def __init__(self, genesis: Genesis) -> None:
        self.g = genesis

    def status(self) -> wire.StatusReply:
        return wire.StatusReply(self.g.chain_id, self.g.id, 0, self.g.id)

    def sync_entries(self, from_height: int, count: int) -> list[wire.SyncEntry]:
        return []

    def block_by_id(self, block_id: bytes) -> Any:
        return None

    def dropped(self, peer: str, reason: DropReason, what: str) -> None:
        pass


def drops(node: NodeProc) -> dict[str, float]:
    text = httpx.get(node.api + "/metrics", timeout=10).text
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r'^daoli_dropped_total\{reason="([a-z_]+)"\} ([0-9.e+]+)$', text, re.M)}


def test_hostile_gossip_is_dropped_counted_and_harmless(tmp_path: Path) -> None:
    home = tmp_path / "victim"
    init_home(home)
    node = NodeProc(home, extra=("--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"))
    genesis = Home(home).load_genesis()
    with running([node]):
        node.start()
        target = node.started["listen"][0]
        wait_for("block 1", lambda: node.height() >= 1, timeout=20)

        async def attack() -> None:
            cfg = NetConfig(bytes([0x42]) * 32, "/ip4/127.0.0.1/tcp/0", (target,),
                            genesis.chain_id, genesis.id)
            async with open_p2p(cfg, Quiet(genesis)) as evil:
                with trio.fail_after(15):
                    while not evil.connected():
                        await trio.sleep(0.05)
                assert evil.pubsub is not None
                ps = evil.pubsub
                # a real vote of the node, captured to be replayed
                sub_votes = evil.inbox
                await trio.sleep(1.5)  # one GossipSub heartbeat: join the mesh
                captured = None
                with trio.fail_after(15):
                    while captured is None:
                        got = await sub_votes.receive()
                        if got.kind == "vote":
                            captured = got.message.encoded
                for _ in range(3):
                    await ps.publish(evil.topics["tx"], b"\x82\x18\x20 not cbor at all")
                    await ps.publish(evil.topics["vote"], b"\x00" * (wire.MAX_GOSSIP_BYTES + 10))
                    await ps.publish(evil.topics["vote"], captured)  # replay
                    await trio.sleep(0.2)

        trio.run(attack)
        wait_for("malformed, oversized and replayed gossip counted",
                 lambda: (d := drops(node)).get("malformed", 0) >= 1
                 and d.get("too_large", 0) >= 1 and d.get("duplicate", 0) >= 1, timeout=20)
        h = node.height()
        wait_for("the node keeps finalizing", lambda: node.height() >= h + 2, timeout=20)
        assert node.stop() == 0
