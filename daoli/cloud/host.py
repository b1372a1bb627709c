"""A bare libp2p host for cloud services: TCP + Noise + Yamux, no pubsub.

The host of :func:`daoli.net.p2p.make_host` (the node's transports: Noise only, Yamux),
but without GossipSub: a provider or
a buyer has no business on the chain's topics. A provider that runs inside a node can
instead register its handlers on the node's host (:meth:`Provider.attach`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import multiaddr
import trio
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr

from daoli.cloud.proto import CloudError
from daoli.errors import TimedOut
from daoli.net.p2p import make_host, quiet_libp2p_logs

DIAL_TIMEOUT_S = 5.0

log = logging.getLogger("daoli.cloud")


@asynccontextmanager
async def open_cloud_host(node_secret: bytes, listen: str | None) -> AsyncIterator[Any]:
    """A running host with a stable peer id from 32 secret bytes; ``listen`` is a multiaddr
    (``/ip4/127.0.0.1/tcp/0``) or None for a dial-only host (a buyer)."""
    quiet_libp2p_logs()
    addrs = [multiaddr.Multiaddr(listen)] if listen else []
    host = make_host(create_new_key_pair(node_secret), addrs)
    async with host.run(addrs):
        yield host


def listen_addrs(host: Any) -> list[str]:
    """Dialable ``/ip4/.../tcp/.../p2p/<id>`` addresses of a host."""
    pid = host.get_id()
    return [str(a) if "/p2p/" in str(a) else f"{a}/p2p/{pid}" for a in host.get_addrs()]


async def dial(host: Any, addr: str, timeout: float = DIAL_TIMEOUT_S) -> str:
    """Connect to ``addr`` (with its ``/p2p/<id>``) and return the peer id; ``host.connect``
    can return without a connection (LIBP2P_NOTES), so the connection is checked."""
    try:
        info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
    except Exception as exc:  # noqa: BLE001 - multiaddr's many parse errors
        raise CloudError(f"not a /p2p/ multiaddr: {addr[:200]!r} ({exc})") from None
    try:
        with trio.fail_after(timeout):
            await host.connect(info)
    except trio.TooSlowError:
        raise TimedOut(f"no connection to {addr} within {timeout} s") from None
    except (trio.Cancelled, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - libp2p's dial errors
        raise CloudError(f"cannot connect to {addr}: {exc}") from None
    if info.peer_id not in host.get_connected_peers():
        raise CloudError(f"cannot connect to {addr}")
    return str(info.peer_id)


async def new_stream(host: Any, peer: str, protocol: str) -> Any:
    try:
        return await host.new_stream(ID.from_base58(peer), [TProtocol(protocol)])
    except (trio.Cancelled, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - protocol not supported, connection gone
        raise CloudError(f"cannot open {protocol} to {peer}: {exc}") from None


__all__ = ["dial", "listen_addrs", "new_stream", "open_cloud_host"]
