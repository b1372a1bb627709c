"""Shared helpers of the cloud tests: keys, leases, and in-memory streams to a ServiceHost."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing

from daoli.cloud.buyer import Buyer, BuyerLease
from daoli.cloud.proto import RawStream
from daoli.cloud.service import LeaseView, Resources, Service, ServiceHost
from daoli.core.crypto import pubkey_from_secret

CHAIN = "cloud-test"
PROVIDER = bytes([7]) * 32
BUYER = bytes([9]) * 32
OTHER = bytes([11]) * 32
LEASE_ID = bytes([1]) * 32


def make_lease(lease_id: bytes = LEASE_ID, buyer: bytes = BUYER, provider: bytes = PROVIDER,
               start: int = 0, end: int = 1_000, unit_price: int = 1,
               escrow: int = 10**12, last_seq: int = 0, active: bool = True,
               resources: Resources = Resources(1000, 256, 1)) -> LeaseView:
    return LeaseView(lease_id, pubkey_from_secret(provider), pubkey_from_secret(buyer),
                     unit_price, 1, start, end, escrow, last_seq, active, resources)


def buyer_lease(lease_id: bytes = LEASE_ID, secret: bytes = BUYER,
                provider: bytes = PROVIDER, **kw: Any) -> BuyerLease:
    return BuyerLease(lease_id, secret, CHAIN, pubkey_from_secret(provider), **kw)


class Pipe:
    """A trio memory stream with libp2p's stream methods."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    async def read(self, n: int | None = None) -> bytes:
        try:
            data: bytes = await self.stream.receive_some(n)
        except trio.ClosedResourceError:
            return b""
        return data

    async def write(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def close(self) -> None:
        await self.stream.aclose()

    async def reset(self) -> None:
        await self.stream.aclose()


@asynccontextmanager
async def memory_buyer(engine: ServiceHost, services: Mapping[str, Service],
                       lease: BuyerLease) -> AsyncIterator[Buyer]:
    """A Buyer whose every session is an in-memory stream served by ``engine``."""
    async with trio.open_nursery() as nursery:
        async def opener(protocol: str) -> tuple[RawStream, str, str]:
            a, b = trio.testing.memory_stream_pair()
            nursery.start_soon(engine.serve, Pipe(b), services[protocol], "prov-peer",
                               "buyer-peer")
            return Pipe(a), "buyer-peer", "prov-peer"

        buyer = Buyer(lease, opener)
        try:
            yield buyer
        finally:
            with trio.move_on_after(5):
                await buyer.aclose()


def trio_test(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test under trio (no pytest-trio here); fixtures and parameters pass."""
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        trio.run(functools.partial(fn, *args, **kwargs))
    return run
