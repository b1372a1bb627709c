"""The provider: cloud services served over libp2p.

``open_provider`` starts a bare host (:mod:`daoli.cloud.host`), registers one stream handler
per service (``/daoli/cloud/storage/1``, ``/daoli/cloud/compute/1`` and any others given),
and hands each stream to the :class:`~daoli.cloud.service.ServiceHost`, which authenticates,
meters, collects receipts and never lets a hostile stream raise into the host. A provider
inside a node process can :meth:`Provider.attach` to the node's host instead.

Chain wiring stays thin: the provider reads leases through a
:class:`~daoli.cloud.service.LeaseSource` and hands verified receipts, in seq order, to
``submit_receipt(lease, receipt)`` (an async callable that signs and submits a
``UsageReceipt`` transaction through the node client); until it succeeds a receipt stays
in ``provider.engine.receipts.pending(lease_id)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from libp2p.custom_types import TProtocol

from daoli.cloud.compute import CgroupV2, ComputeService
from daoli.cloud.host import listen_addrs, open_cloud_host
from daoli.cloud.proto import IDLE_S
from daoli.cloud.service import (
    LeaseSource,
    LeaseView,
    MeterPolicy,
    ProviderLimits,
    Service,
    ServiceHost,
)
from daoli.cloud.storage import StorageService
from daoli.core.tx import UsageReceipt

SubmitReceipt = Callable[[LeaseView, UsageReceipt], Awaitable[None]]


@dataclass(frozen=True)
class ProviderConfig:
    chain_id: str
    provider_secret: bytes
    """The key of the provider's offers and leases (signs the handshake; the receipts'
    submitter signs transactions with it)."""
    node_secret: bytes
    """32 bytes fixing the libp2p peer id (publish it in the offer's endpoint)."""
    data_dir: Path
    listen: str = "/ip4/127.0.0.1/tcp/0"
    limits: ProviderLimits = field(default_factory=ProviderLimits)
    policy: MeterPolicy = field(default_factory=MeterPolicy)
    idle_s: float = IDLE_S
    run_as: tuple[int, int] | None = None
    """Run compute under this uid/gid (recommended when the provider runs as root)."""
    use_cgroups: bool = True


def default_services(config: ProviderConfig) -> list[Service]:
    """Storage and compute under ``config.data_dir``."""
    cgroups = CgroupV2.detect() if config.use_cgroups else None
    return [StorageService(config.data_dir),
            ComputeService(config.data_dir, config.limits, cgroups, config.run_as)]


class Provider:
    """A running provider: its engine (leases, sessions, receipts) and its services."""

    def __init__(self, config: ProviderConfig, leases: LeaseSource,
                 services: Sequence[Service]) -> None:
        self.config = config
        self.engine = ServiceHost(config.chain_id, config.provider_secret, leases,
                                  config.limits, config.policy, config.idle_s)
        self.services = list(services)
        self.host: Any = None

    @property
    def peer_id(self) -> str:
        return str(self.host.get_id()) if self.host is not None else ""

    def addrs(self) -> list[str]:
        return listen_addrs(self.host) if self.host is not None else []

    def attach(self, host: Any) -> None:
        """Serve every service on ``host`` (this provider's own, or a node's)."""
        self.host = host
        local = str(host.get_id())
        for service in self.services:
            host.set_stream_handler(TProtocol(service.protocol), self._handler(service, local))

    def _handler(self, service: Service, local: str) -> Callable[[Any], Awaitable[None]]:
        async def handle(stream: Any) -> None:
            try:
                remote = str(stream.muxed_conn.peer_id)
            except Exception:  # noqa: BLE001 - a stream without a connection: nothing to do
                return
            await self.engine.serve(stream, service, local, remote)
        return handle


@asynccontextmanager
async def open_provider(config: ProviderConfig, leases: LeaseSource,
                        services: Sequence[Service] | None = None,
                        submit_receipt: SubmitReceipt | None = None) -> AsyncIterator[Provider]:
    """Start a provider listening on ``config.listen``; leave the block to stop it."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    provider = Provider(config, leases,
                        default_services(config) if services is None else services)
    async with open_cloud_host(config.node_secret, config.listen) as host:
        provider.attach(host)
        async with trio.open_nursery() as nursery:
            if submit_receipt is not None:
                nursery.start_soon(provider.engine.run_submitter, submit_receipt)
            try:
                yield provider
            finally:
                nursery.cancel_scope.cancel()


__all__ = ["Provider", "ProviderConfig", "SubmitReceipt", "default_services", "open_provider"]
