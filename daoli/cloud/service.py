"""The service API: what every DaoliCloud service stands on.

A service (storage, compute, the key-value example) is a :class:`Service`: a protocol id and
one ``handle(session, request)`` coroutine. Everything else is here, shared, so a new service
is a page of code:

**Leases.** The provider reads the chain through a :class:`LeaseSource` (``lease(id)``,
``height()``). It serves a lease only while it is active (``start <= height < end``), is
this provider's (``provider_pubkey`` is the provider's key), and its escrow can still pay
for what has been served and not yet billed. :class:`MemoryLeaseSource` is the in-memory
source of tests and devnets; :class:`ClientLeaseSource` adapts the node client.

**Authentication** (:func:`auth_bytes`). The buyer opens a stream and sends
``["hello", lease_id, buyer_nonce]``; the provider answers ``["challenge", provider_nonce,
provider_sig]`` and the buyer ``["auth", buyer_sig]``. Both sign::

    tag || CBOR(chain_id) || CBOR([provider_peer, buyer_peer, lease_id, protocol,
                                   buyer_nonce, provider_nonce])

with ``tag`` = ``b"daoli/cloud-auth/provider/v1"`` (signed with the lease's provider key) or
``b"daoli/cloud-auth/buyer/v1"`` (signed with the lease's buyer key). The peer ids are the
libp2p ids of the connection (Noise-authenticated), so a signature cannot be relayed to
another connection; the lease id and protocol keep it to one lease and one service; both
fresh 32-byte nonces keep it from being replayed; the role tags keep one side's signature
from ever serving as the other's, or as a transaction, vote or receipt signature (all of
which have other tags). Authentication is mutual: the buyer learns it talks to the lease's
provider, not just to some peer.

**Metering.** A session counts raw quantities per kind (:class:`Meter`): ``bytes_in``
(payload bytes the provider received and stored), ``bytes_out`` (payload bytes it sent),
``cpu_ms`` (CPU time of the buyer's processes, from the kernel), and service-defined kinds
(``kv_ops``). A :class:`Tariff` turns cumulative quantities into units:
``units(totals) = sum(totals[kind] // per_unit[kind])``; a receipt bills
``units(totals now) - units(totals at the last receipt)``, so rounding never loses or
double-counts a partial unit. Storage residency is not metered: the lease's
``price_per_block`` pays for the reservation; units pay for traffic and CPU.

**Receipts.** When a session's unreceipted units reach ``receipt_every``, before the next
request and at checkpoints inside long operations, the provider sends
``["receipt?", seq, units, totals]`` and the buyer answers ``["receipt", sig]`` (a
:func:`~daoli.core.market.make_receipt` signature) or ``["refuse", why]``. The provider
checks it with :func:`~daoli.core.market.verify_receipt` and queues it for submission.
Receipts are disjoint: the ledger bills each receipt's own ``units`` and takes each lease's
``seq`` strictly increasing, so every receipt must be submitted, in seq order (submitting a
later one first forfeits the earlier). The :class:`ReceiptBook` keeps them per lease in that
order until the submitter confirms them.

**Cut-off.** A lease whose unreceipted units (all its open sessions, plus what closed
sessions left unsigned) exceed ``max_unreceipted`` gets ``["err", "cut_off", ...]`` for every
request until the buyer signs the pending ask. Streaming operations call
:meth:`Session.checkpoint` after each chunk, so the bound is exceeded by at most one chunk or
one compute run (a run's CPU is capped by its own limits).

**Quotas** (:func:`quotas_for`), from the offer's resources, capped by the provider's
:class:`ProviderLimits`: storage bytes = ``disk_gib`` GiB; CPU = ``cpu_millicores`` (a
cgroup's ``cpu.max`` of millicores/1000 CPUs, and a run's RLIMIT_CPU of
``ceil(millicores/1000 * wall seconds)``); memory = ``mem_mib`` MiB (cgroup ``memory.max``
and the run's RLIMIT_AS, which counts address space, so it is a looser bound than RSS).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from daoli.cloud.proto import (
    IDLE_S,
    Channel,
    CloudError,
    ProtocolViolation,
    RawStream,
    Refused,
    err,
    expect,
)
from daoli.core import encoding as enc
from daoli.core.crypto import pubkey_from_secret, sign, signing_bytes, verify
from daoli.core.market import verify_receipt
from daoli.core.tx import UsageReceipt
from daoli.errors import TimedOut

log = logging.getLogger("daoli.cloud")

TAG_AUTH_PROVIDER = b"daoli/cloud-auth/provider/v1"
TAG_AUTH_BUYER = b"daoli/cloud-auth/buyer/v1"
NONCE_LEN = 32
LEASE_ID_LEN = 32

HANDSHAKE_S = 10.0
"""Each step of the handshake must arrive within this."""
RECEIPT_S = 10.0
"""A buyer asked for a receipt answers within this, or the session is closed."""
LEASE_RECHECK_S = 2.0
"""An open session re-reads its lease from the source at most this often."""
MAX_SESSIONS_PER_LEASE = 8
MAX_SESSIONS = 256
GIB = 1 << 30
MIB = 1 << 20

BYTES_IN = "bytes_in"
BYTES_OUT = "bytes_out"
CPU_MS = "cpu_ms"


# --- leases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """What the lease's offer sells (the lease record itself does not repeat it)."""

    cpu_millicores: int = 0
    mem_mib: int = 0
    disk_gib: int = 0
    net_mbps: int = 0


@dataclass(frozen=True)
class LeaseView:
    """A lease as the provider needs it, as of the source's current height."""

    id: bytes
    provider_pubkey: bytes
    buyer_pubkey: bytes
    unit_price: int
    price_per_block: int
    start: int
    end: int
    escrow_left: int
    last_seq: int
    active: bool
    resources: Resources = Resources()


class LeaseSource(Protocol):
    """Where the provider reads leases: the chain through a node, or memory in tests.

    ``lease`` returns None for a lease that does not exist or is closed; it raises
    :class:`~daoli.cloud.proto.CloudError` when the source itself is unavailable."""

    async def lease(self, lease_id: bytes) -> LeaseView | None: ...

    async def height(self) -> int: ...


class MemoryLeaseSource:
    """A lease source held in memory: tests, devnets and examples set leases and height."""

    def __init__(self, leases: Mapping[bytes, LeaseView] | None = None, height: int = 0
                 ) -> None:
        self.leases: dict[bytes, LeaseView] = dict(leases or {})
        self.tip = height

    def put(self, lease: LeaseView) -> None:
        self.leases[lease.id] = lease

    async def lease(self, lease_id: bytes) -> LeaseView | None:
        return self.leases.get(lease_id)

    async def height(self) -> int:
        return self.tip


class ClientLeaseSource:
    """Adapter for the node client (``Client.lease(lease_id) -> LeaseInfo``), to plug in
    once it exists; nothing here imports it.

    ``fetch_lease`` is a blocking callable such as ``client.lease`` (run in a worker thread
    so the provider's event loop never blocks), returning an object with the attributes
    ``id, provider_pubkey, buyer_pubkey, unit_price, price_per_block, start, end,
    escrow_left, last_seq`` and optionally ``active`` (default true: the node only returns
    active leases) and ``offer_id``. A lookup that raises an exception whose class name is
    ``NotFound`` means "no such lease". ``fetch_height`` is e.g.
    ``lambda: client.status().height``. ``resources`` maps the lease to what its offer sold:
    the provider knows its own offers (the offer may have expired since the lease was made),
    e.g. ``lambda info: my_offers[info.offer_id]``.
    """

    def __init__(self, fetch_lease: Callable[[bytes], Any], fetch_height: Callable[[], int],
                 resources: Callable[[Any], Resources]) -> None:
        self.fetch_lease = fetch_lease
        self.fetch_height = fetch_height
        self.resources = resources

    async def lease(self, lease_id: bytes) -> LeaseView | None:
        try:
            info = await trio.to_thread.run_sync(self.fetch_lease, lease_id)
        except Exception as exc:  # noqa: BLE001 - the client's errors, whatever they are
            if type(exc).__name__ == "NotFound":
                return None
            raise CloudError(f"lease source unavailable: {exc}") from None
        if info is None:
            return None
        try:
            return LeaseView(
                id=bytes(info.id), provider_pubkey=bytes(info.provider_pubkey),
                buyer_pubkey=bytes(info.buyer_pubkey), unit_price=int(info.unit_price),
                price_per_block=int(info.price_per_block), start=int(info.start),
                end=int(info.end), escrow_left=int(info.escrow_left),
                last_seq=int(info.last_seq), active=bool(getattr(info, "active", True)),
                resources=self.resources(info))
        except Exception as exc:  # noqa: BLE001 - a malformed answer is the source's fault
            raise CloudError(f"lease source answered something unreadable: {exc}") from None

    async def height(self) -> int:
        try:
            return int(await trio.to_thread.run_sync(self.fetch_height))
        except Exception as exc:  # noqa: BLE001
            raise CloudError(f"lease source unavailable: {exc}") from None


# --- quotas and tariff ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderLimits:
    """The provider's own caps, whatever a lease says (its disk, its machine)."""

    max_storage_bytes: int = 64 * GIB
    max_cpu_millicores: int = 64_000
    max_mem_bytes: int = 64 * GIB
    max_run_s: float = 600.0
    max_output_bytes: int = 64 * MIB
    max_file_bytes: int = 1 * GIB
    max_procs: int = 64


@dataclass(frozen=True)
class Quotas:
    """What one lease may use at this provider (see the module docstring for the mapping)."""

    storage_bytes: int
    cpu_millicores: int
    mem_bytes: int


def quotas_for(lease: LeaseView, limits: ProviderLimits) -> Quotas:
    r = lease.resources
    return Quotas(storage_bytes=min(r.disk_gib * GIB, limits.max_storage_bytes),
                  cpu_millicores=min(r.cpu_millicores, limits.max_cpu_millicores),
                  mem_bytes=min(r.mem_mib * MIB, limits.max_mem_bytes))


@dataclass(frozen=True)
class Tariff:
    """How raw quantities become billable units: ``per_unit`` is (kind, quantity per unit)
    pairs. Kinds without an entry are counted but not billed."""

    per_unit: tuple[tuple[str, int], ...] = ((BYTES_IN, 64 * 1024), (BYTES_OUT, 64 * 1024),
                                             (CPU_MS, 100))

    def __post_init__(self) -> None:
        for kind, per in self.per_unit:
            if type(kind) is not str or type(per) is not int or per < 1:
                raise ValueError(f"tariff entry {kind!r}: quantity per unit must be >= 1")

    def units(self, totals: Mapping[str, int]) -> int:
        return sum(totals.get(kind, 0) // per for kind, per in self.per_unit)

    def to_wire(self) -> dict[str, int]:
        return dict(self.per_unit)

    @classmethod
    def from_wire(cls, value: Any) -> Tariff:
        if type(value) is not dict or len(value) > 32:
            raise ProtocolViolation("tariff: expected a map of at most 32 kinds")
        pairs = []
        for kind, per in sorted(value.items()):
            if type(kind) is not str or len(kind) > 32 or type(per) is not int or per < 1:
                raise ProtocolViolation("tariff: bad entry")
            pairs.append((kind, per))
        return cls(tuple(pairs))


@dataclass(frozen=True)
class MeterPolicy:
    """When to ask for receipts and when to stop serving."""

    tariff: Tariff = Tariff()
    receipt_every: int = 16
    """Ask for a receipt once a session has this many unreceipted units."""
    max_unreceipted: int = 64
    """Refuse service to a lease with more unreceipted units than this."""

    def __post_init__(self) -> None:
        if not 1 <= self.receipt_every <= self.max_unreceipted:
            raise ValueError("need 1 <= receipt_every <= max_unreceipted")


def totals_from_wire(value: Any) -> dict[str, int]:
    if type(value) is not dict or len(value) > 32:
        raise ProtocolViolation("totals: expected a map of at most 32 kinds")
    out: dict[str, int] = {}
    for kind, n in value.items():
        if type(kind) is not str or len(kind) > 32 or type(n) is not int or n < 0 \
                or n > enc.MAX_U64:
            raise ProtocolViolation("totals: bad entry")
        out[kind] = n
    return out


@dataclass
class Meter:
    """Raw quantities served in one session, by kind (only ever grows)."""

    totals: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, amount: int) -> None:
        if amount < 0:
            raise ValueError("metered amounts are never negative")
        if amount:
            self.totals[kind] = self.totals.get(kind, 0) + amount


# --- authentication -----------------------------------------------------------------------


def auth_bytes(tag: bytes, chain_id: str, provider_peer: str, buyer_peer: str,
               lease_id: bytes, protocol: str, buyer_nonce: bytes,
               provider_nonce: bytes) -> bytes:
    """What each side signs in the handshake (see the module docstring)."""
    if tag not in (TAG_AUTH_PROVIDER, TAG_AUTH_BUYER):
        raise ValueError("unknown authentication tag")
    return signing_bytes(tag, chain_id, [provider_peer, buyer_peer, lease_id, protocol,
                                         buyer_nonce, provider_nonce])


@dataclass(frozen=True)
class AuthContext:
    """Everything a handshake signature is bound to."""

    chain_id: str
    provider_peer: str
    buyer_peer: str
    lease_id: bytes
    protocol: str
    buyer_nonce: bytes
    provider_nonce: bytes

    def message(self, tag: bytes) -> bytes:
        return auth_bytes(tag, self.chain_id, self.provider_peer, self.buyer_peer,
                          self.lease_id, self.protocol, self.buyer_nonce, self.provider_nonce)

    def sign(self, tag: bytes, secret: bytes) -> bytes:
        return sign(secret, self.message(tag))

    def verify(self, tag: bytes, pubkey: bytes, sig: bytes) -> bool:
        return verify(pubkey, sig, self.message(tag))


def lease_refusal(lease: LeaseView | None, height: int, provider_pubkey: bytes) -> Refused | None:
    """Why this provider must not serve ``lease`` at ``height`` (None: serve it)."""
    if lease is None:
        return Refused("no_lease", "no such active lease")
    if lease.provider_pubkey != provider_pubkey:
        return Refused("wrong_provider", "this lease belongs to another provider")
    if not lease.active or height >= lease.end:
        return Refused("expired", f"the lease ended at height {lease.end}")
    if height < lease.start:
        return Refused("expired", f"the lease starts at height {lease.start}")
    return None


# --- receipts ---------------------------------------------------------------------------------


@dataclass
class _LeaseAccount:
    """The provider's running state for one lease (shared by its sessions)."""

    lease: LeaseView
    last_seq: int
    lock: trio.Lock = field(default_factory=trio.Lock)
    sessions: set[Session] = field(default_factory=set)
    debt_units: int = 0
    """Units served in closed sessions that the buyer never signed for (they still count
    toward the cut-off bound)."""
    pending_units: int = 0
    """Units of receipts signed but not yet confirmed submitted."""

    def unreceipted(self) -> int:
        return self.debt_units + sum(s.unreceipted_units() for s in self.sessions)


class ReceiptBook:
    """Verified receipts per lease, in seq order, until submitted on chain."""

    def __init__(self) -> None:
        self._pending: dict[bytes, list[UsageReceipt]] = {}
        self._send, self._recv = trio.open_memory_channel[tuple[LeaseView, UsageReceipt]](
            1024)

    def add(self, lease: LeaseView, receipt: UsageReceipt) -> None:
        self._pending.setdefault(receipt.lease_id, []).append(receipt)
        try:
            self._send.send_nowait((lease, receipt))
        except trio.WouldBlock:
            log.warning("receipt submission queue full: lease %s seq %d kept pending",
                        receipt.lease_id.hex()[:16], receipt.seq)

    def pending(self, lease_id: bytes) -> list[UsageReceipt]:
        """Receipts of ``lease_id`` not yet confirmed submitted, oldest (lowest seq) first."""
        return list(self._pending.get(lease_id, ()))

    def leases(self) -> list[bytes]:
        return [k for k, v in self._pending.items() if v]

    def submitted(self, receipt: UsageReceipt) -> None:
        """Forget ``receipt`` (and any older one of its lease): it is on its way on chain."""
        rs = self._pending.get(receipt.lease_id, [])
        self._pending[receipt.lease_id] = [r for r in rs if r.seq > receipt.seq]

    async def run_submitter(self, submit: Callable[[LeaseView, UsageReceipt], Awaitable[None]],
                            on_done: Callable[[UsageReceipt], None] | None = None) -> None:
        """Submit receipts as they are accepted, in order. A failed submission stays in
        :meth:`pending` (and is logged); later ones are still tried, since the chain may
        already have billed the failed one."""
        async for lease, receipt in self._recv:
            try:
                await submit(lease, receipt)
            except (trio.Cancelled, KeyboardInterrupt):
                raise
            except Exception as exc:  # noqa: BLE001 - a node or mempool refusal
                log.warning("submitting receipt %d of lease %s failed: %s", receipt.seq,
                            receipt.lease_id.hex()[:16], exc)
                continue
            (on_done or self.submitted)(receipt)


# --- sessions ---------------------------------------------------------------------------------


class Session:
    """One authenticated conversation with a lease's buyer, as a service sees it."""

    def __init__(self, host: ServiceHost, channel: Channel, account: _LeaseAccount,
                 protocol: str, peer: str) -> None:
        self.host = host
        self.channel = channel
        self.account = account
        self.protocol = protocol
        self.peer = peer
        self.meter = Meter()
        self.receipted: dict[str, int] = {}
        self.lease_checked = trio.current_time()

    @property
    def lease(self) -> LeaseView:
        return self.account.lease

    @property
    def quotas(self) -> Quotas:
        return quotas_for(self.account.lease, self.host.limits)

    def charge(self, kind: str, amount: int) -> None:
        """Meter ``amount`` of ``kind`` served to this buyer."""
        self.meter.add(kind, amount)

    def unreceipted_units(self) -> int:
        t = self.host.policy.tariff
        return t.units(self.meter.totals) - t.units(self.receipted)

    async def recv(self, timeout: float = IDLE_S) -> list[Any]:
        return await self.channel.recv(timeout)

    async def send(self, msg: list[Any]) -> None:
        await self.channel.send(msg)

    async def checkpoint(self) -> None:
        """Inside a long operation: ask for a receipt when due; raise Refused(cut_off) when
        the lease is over its bound of unreceipted units after that.

        Call it only where the buyer is waiting for the service's next frame (between the
        chunks of a download, before ``more`` in an upload): the ask is answered from the
        buyer's read loop. Between requests the host itself asks."""
        policy = self.host.policy
        if self.unreceipted_units() >= policy.receipt_every:
            await self.settle()
        if self.account.unreceipted() > policy.max_unreceipted:
            raise Refused("cut_off", f"{self.account.unreceipted()} units served without a "
                                     f"receipt (bound {policy.max_unreceipted})")

    async def settle(self) -> bool:
        """Ask the buyer to sign for everything this session served since its last receipt.
        True when it signed (or nothing was owed)."""
        async with self.account.lock:
            units = self.unreceipted_units()
            if units <= 0:
                return True
            totals = dict(self.meter.totals)
            seq = self.account.last_seq + 1
            await self.send(["receipt?", seq, units, totals])
            reply = await self.channel.recv(RECEIPT_S)
            if reply[0] == "refuse":
                log.info("buyer of lease %s refused receipt %d", self.lease.id.hex()[:16], seq)
                return False
            (sig,) = expect(reply, "receipt", 1)
            receipt = UsageReceipt(self.lease.id, units, seq, sig if type(sig) is bytes else b"")
            if not verify_receipt(self.lease.buyer_pubkey, self.host.chain_id, receipt):
                raise ProtocolViolation("the receipt is not signed by the lease's buyer")
            self.account.last_seq = seq
            self.account.pending_units += units
            self.receipted = totals
            self.host.receipts.add(self.lease, receipt)
            return True


class Service(Protocol):
    """A service: its libp2p protocol id, and what it does with one request of a session.

    ``handle`` reads the rest of the request from the session (``session.recv()``), answers
    with ``session.send``, meters with ``session.charge`` and calls ``session.checkpoint()``
    inside long operations (only while the buyer awaits its next frame). Raising
    :class:`~daoli.cloud.proto.Refused` answers ``["err", code, message]`` and keeps the
    session; any other error closes it. Charge only what was served: the buyer signs for
    what it saw, so a charge for a refused request makes it refuse the next receipt."""

    protocol: str

    async def handle(self, session: Session, request: list[Any]) -> None: ...


class ServiceHost:
    """The provider's engine, independent of the network: authenticates buyers, checks
    leases, runs sessions of the services, meters and collects receipts."""

    def __init__(self, chain_id: str, provider_secret: bytes, leases: LeaseSource,
                 limits: ProviderLimits = ProviderLimits(),
                 policy: MeterPolicy = MeterPolicy(), idle_s: float = IDLE_S) -> None:
        self.chain_id = chain_id
        self.provider_secret = provider_secret
        self.provider_pubkey = pubkey_from_secret(provider_secret)
        self.leases = leases
        self.limits = limits
        self.policy = policy
        self.idle_s = idle_s
        self.receipts = ReceiptBook()
        self.accounts: dict[bytes, _LeaseAccount] = {}
        self.sessions = 0
        self.refusals: dict[str, int] = {}

    def receipt_submitted(self, receipt: UsageReceipt) -> None:
        """The receipt reached the chain's mempool: stop counting it against the escrow
        (the chain's ``escrow_left`` will)."""
        self.receipts.submitted(receipt)
        acct = self.accounts.get(receipt.lease_id)
        if acct is not None:
            acct.pending_units = max(0, acct.pending_units - receipt.units)

    async def run_submitter(self, submit: Callable[[LeaseView, UsageReceipt], Awaitable[None]]
                            ) -> None:
        """Submit accepted receipts in order (run it in the provider's nursery)."""
        await self.receipts.run_submitter(submit, self.receipt_submitted)

    def unreceipted(self, lease_id: bytes) -> int:
        acct = self.accounts.get(lease_id)
        return 0 if acct is None else acct.unreceipted()

    def _count(self, code: str) -> None:
        self.refusals[code] = self.refusals.get(code, 0) + 1

    async def _check(self, lease_id: bytes) -> LeaseView:
        lease = await self.leases.lease(lease_id)
        height = await self.leases.height()
        why = lease_refusal(lease, height, self.provider_pubkey)
        if why is not None:
            raise why
        assert lease is not None
        return lease

    async def serve(self, stream: RawStream, service: Service, local_peer: str,
                    remote_peer: str) -> None:
        """Serve one stream to its end. Never raises (but for cancellation): a hostile or
        broken peer gets a refusal or a closed stream."""
        channel = Channel(stream)
        session: Session | None = None
        try:
            if self.sessions >= MAX_SESSIONS:
                raise Refused("busy", "too many sessions")
            session = await self._handshake(channel, service.protocol, local_peer, remote_peer)
            await self._loop(session, service)
        except Refused as exc:
            self._count(exc.code)
            with trio.move_on_after(2):
                with contextlib.suppress(CloudError):
                    await channel.send(err(exc.code, exc.message))
        except (ProtocolViolation, TimedOut) as exc:
            self._count("violation")
            log.info("cloud session from %s closed: %s", remote_peer, exc)
        except CloudError as exc:
            self._count("unavailable")
            log.warning("cloud session from %s failed: %s", remote_peer, exc)
            with trio.move_on_after(2):
                with contextlib.suppress(CloudError):
                    await channel.send(err("unavailable", "the provider cannot check leases now"))
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception:
            self._count("internal")
            log.exception("cloud session from %s crashed", remote_peer)
        finally:
            if session is not None:
                self._end(session)
            await channel.aclose()

    async def _handshake(self, channel: Channel, protocol: str, local_peer: str,
                         remote_peer: str) -> Session:
        lease_id, buyer_nonce = expect(await channel.recv(HANDSHAKE_S), "hello", 2)
        if type(lease_id) is not bytes or len(lease_id) != LEASE_ID_LEN:
            raise Refused("bad_request", "hello: lease id must be 32 bytes")
        if type(buyer_nonce) is not bytes or len(buyer_nonce) != NONCE_LEN:
            raise Refused("bad_request", "hello: nonce must be 32 bytes")
        lease = await self._check(lease_id)
        ctx = AuthContext(self.chain_id, local_peer, remote_peer, lease_id, protocol,
                          buyer_nonce, secrets.token_bytes(NONCE_LEN))
        await channel.send(["challenge", ctx.provider_nonce,
                            ctx.sign(TAG_AUTH_PROVIDER, self.provider_secret)])
        (sig,) = expect(await channel.recv(HANDSHAKE_S), "auth", 1)
        if type(sig) is not bytes or not ctx.verify(TAG_AUTH_BUYER, lease.buyer_pubkey, sig):
            raise Refused("not_buyer", "the caller does not hold this lease's buyer key")
        acct = self.accounts.get(lease_id)
        if acct is None:
            acct = self.accounts[lease_id] = _LeaseAccount(lease, lease.last_seq)
        acct.lease = lease
        acct.last_seq = max(acct.last_seq, lease.last_seq)
        if len(acct.sessions) >= MAX_SESSIONS_PER_LEASE:
            raise Refused("busy", "too many sessions on this lease")
        session = Session(self, channel, acct, protocol, remote_peer)
        acct.sessions.add(session)
        self.sessions += 1
        q = session.quotas
        await channel.send(["welcome", {
            "tariff": self.policy.tariff.to_wire(), "receipt_every": self.policy.receipt_every,
            "max_unreceipted": self.policy.max_unreceipted, "last_seq": acct.last_seq,
            "storage_bytes": q.storage_bytes, "cpu_millicores": q.cpu_millicores,
            "mem_bytes": q.mem_bytes}])
        return session

    def _end(self, session: Session) -> None:
        acct = session.account
        if session in acct.sessions:
            acct.sessions.discard(session)
            acct.debt_units += max(0, session.unreceipted_units())
            self.sessions -= 1

    async def _loop(self, session: Session, service: Service) -> None:
        policy = self.policy
        while True:
            msg = await session.recv(self.idle_s)
            if msg[0] == "bye":
                await session.settle()
                await session.send(["bye"])
                return
            if msg[0] in ("receipt", "refuse"):
                raise ProtocolViolation("a receipt nobody asked for")
            try:
                await self._refresh(session)
                if session.unreceipted_units() >= policy.receipt_every:
                    await session.settle()
                acct = session.account
                if acct.unreceipted() > policy.max_unreceipted:
                    raise Refused("cut_off", f"{acct.unreceipted()} units served without a "
                                             f"receipt (bound {policy.max_unreceipted})")
                owed = (acct.pending_units + acct.unreceipted()) * acct.lease.unit_price
                if acct.lease.unit_price and owed >= acct.lease.escrow_left:
                    raise Refused("escrow", "the lease's escrow cannot pay for more")
                await service.handle(session, msg)
            except Refused as exc:
                if exc.code == "expired":
                    raise
                self._count(exc.code)
                await session.send(err(exc.code, exc.message))

    async def _refresh(self, session: Session) -> None:
        now = trio.current_time()
        if now - session.lease_checked < LEASE_RECHECK_S:
            return
        session.account.lease = await self._check(session.lease.id)
        session.lease_checked = now


__all__ = [
    "BYTES_IN",
    "BYTES_OUT",
    "CPU_MS",
    "TAG_AUTH_BUYER",
    "TAG_AUTH_PROVIDER",
    "AuthContext",
    "ClientLeaseSource",
    "LeaseSource",
    "LeaseView",
    "MemoryLeaseSource",
    "Meter",
    "MeterPolicy",
    "ProviderLimits",
    "Quotas",
    "ReceiptBook",
    "Resources",
    "Service",
    "ServiceHost",
    "Session",
    "Tariff",
    "auth_bytes",
    "lease_refusal",
    "quotas_for",
    "totals_from_wire",
]
