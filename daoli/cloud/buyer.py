"""The buyer's side: authenticate to a provider, use its services, sign honest receipts.

What a buyer can and cannot verify before it signs a receipt (``["receipt?", seq, units,
totals]``, ``totals`` the session's cumulative quantities by kind):

* ``bytes_in``: exactly. It counts the payload bytes it sent; the claim may not exceed it.
* ``bytes_out``: exactly. It counts the payload bytes it received (chunks, output).
* ``cpu_ms``: only a bound. The kernel's figure is on the provider's machine; the buyer
  accepts a run's reported ``cpu_ms`` up to what the lease sells in the wall time the buyer
  itself measured around the run (``wall_ms * cpu_millicores / 1000``, plus
  :data:`CPU_SLACK_MS`). A provider can overstate CPU up to that bound, never beyond.
* service kinds (``kv_ops``...): what the service's client :meth:`BuyerSession.observe`-d.
* ``units`` must equal ``tariff.units(totals) - tariff.units(totals at the last receipt)``
  with the tariff the buyer accepted (the provider states its tariff in ``welcome``; a
  buyer refuses a tariff other than the one it was configured with), and ``seq`` must be
  above every seq it signed before.

Receipts are disjoint (the ledger bills each one's own units), so signing never lets the
provider bill the same quantity twice. What a buyer cannot verify: that storage really keeps
its bytes (a ``get`` checks the digest of what comes back), or that its program ran on the
CPU share it paid for (the result is the program's own business to check).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from daoli.cloud.host import dial, new_stream, open_cloud_host
from daoli.cloud.proto import (
    CHUNK_BYTES,
    COMPUTE_PROTOCOL,
    STORAGE_PROTOCOL,
    Channel,
    CloudError,
    ProtocolViolation,
    RawStream,
    expect,
)
from daoli.cloud.service import (
    BYTES_IN,
    BYTES_OUT,
    CPU_MS,
    HANDSHAKE_S,
    NONCE_LEN,
    TAG_AUTH_BUYER,
    TAG_AUTH_PROVIDER,
    AuthContext,
    Meter,
    Tariff,
    totals_from_wire,
)
from daoli.cloud.storage import WINDOW_BYTES
from daoli.core.crypto import pubkey_from_secret
from daoli.core.market import make_receipt
from daoli.core.tx import UsageReceipt
from daoli.errors import TimedOut

REPLY_S = 30.0
"""How long the buyer waits for each frame of an answer."""
CPU_SLACK_MS = 20


@dataclass(frozen=True)
class BuyerLease:
    """What the buyer knows of its lease (from the chain, or the order it placed)."""

    lease_id: bytes
    buyer_secret: bytes
    chain_id: str
    provider_pubkey: bytes
    tariff: Tariff = field(default_factory=Tariff)
    """The only tariff this buyer accepts."""


@dataclass
class ReceiptSigner:
    """The buyer's receipts for one lease, across its sessions."""

    lease: BuyerLease
    signing: bool = True
    """False: refuse every receipt (tests use it to play a buyer that stops paying)."""
    last_seq: int = 0
    signed: list[UsageReceipt] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stored:
    name: str
    digest: bytes
    size: int


@dataclass(frozen=True)
class RunOutcome:
    code: int | None
    signal: int | None
    cpu_ms: int
    wall_ms: int
    reason: str
    truncated: bool
    stdout: bytes
    stderr: bytes


class BuyerSession:
    """One authenticated stream to a provider's service."""

    def __init__(self, stream: RawStream, signer: ReceiptSigner, protocol: str,
                 local_peer: str, remote_peer: str) -> None:
        self.channel = Channel(stream)
        self.signer = signer
        self.protocol = protocol
        self.local_peer = local_peer
        self.remote_peer = remote_peer
        self.observed = Meter()
        self.receipted: dict[str, int] = {}
        self.welcome: dict[str, Any] = {}
        self.lock = trio.Lock()

    @property
    def lease(self) -> BuyerLease:
        return self.signer.lease

    async def handshake(self) -> None:
        lease = self.lease
        nonce = secrets.token_bytes(NONCE_LEN)
        await self.channel.send(["hello", lease.lease_id, nonce])
        provider_nonce, provider_sig = expect(await self.channel.recv(HANDSHAKE_S),
                                              "challenge", 2)
        if type(provider_nonce) is not bytes or len(provider_nonce) != NONCE_LEN:
            raise ProtocolViolation("challenge: bad nonce")
        ctx = AuthContext(lease.chain_id, self.remote_peer, self.local_peer, lease.lease_id,
                          self.protocol, nonce, provider_nonce)
        if type(provider_sig) is not bytes or not ctx.verify(
                TAG_AUTH_PROVIDER, lease.provider_pubkey, provider_sig):
            raise CloudError("the peer is not this lease's provider (bad challenge signature)")
        await self.channel.send(["auth", ctx.sign(TAG_AUTH_BUYER, lease.buyer_secret)])
        (welcome,) = expect(await self.channel.recv(HANDSHAKE_S), "welcome", 1)
        if type(welcome) is not dict:
            raise ProtocolViolation("welcome: expected a map")
        if Tariff.from_wire(welcome.get("tariff")) != Tariff(tuple(sorted(
                lease.tariff.per_unit))):
            raise CloudError("the provider's tariff is not the one this buyer accepts")
        self.welcome = welcome

    def observe(self, kind: str, amount: int) -> None:
        """Record a quantity this buyer saw itself being served (its receipts' ceiling)."""
        self.observed.add(kind, amount)

    async def send(self, msg: list[Any]) -> None:
        await self.channel.send(msg)

    async def recv(self, timeout: float = REPLY_S) -> list[Any]:
        """The next message that is not a receipt request (those are answered here)."""
        while True:
            msg = await self.channel.recv(timeout)
            if msg[0] != "receipt?":
                return msg
            await self._answer(msg)

    def check_receipt(self, seq: Any, units: Any, totals: dict[str, int]) -> str | None:
        """Why this buyer must not sign (None: sign)."""
        if not self.signer.signing:
            return "this buyer signs no more receipts"
        if type(seq) is not int or seq <= self.signer.last_seq:
            return f"seq {seq!r} is not after {self.signer.last_seq}"
        if type(units) is not int or units < 1:
            return "units must be positive"
        for kind, n in self.receipted.items():
            if totals.get(kind, 0) < n:
                return f"{kind} went backwards"
        for kind, n in totals.items():
            if n > self.observed.totals.get(kind, 0):
                return f"{kind}: {n} claimed, {self.observed.totals.get(kind, 0)} seen"
        tariff = self.lease.tariff
        expected = tariff.units(totals) - tariff.units(self.receipted)
        if units != expected:
            return f"units {units} claimed, {expected} due"
        return None

    async def _answer(self, msg: list[Any]) -> None:
        seq, units, totals = expect(msg, "receipt?", 3)
        totals = totals_from_wire(totals)
        why = self.check_receipt(seq, units, totals)
        if why is not None:
            self.signer.refusals.append(why)
            await self.channel.send(["refuse", why])
            return
        lease = self.lease
        receipt = make_receipt(lease.buyer_secret, lease.chain_id, lease.lease_id, units, seq)
        await self.channel.send(["receipt", receipt.buyer_sig])
        self.signer.last_seq = seq
        self.signer.signed.append(receipt)
        self.receipted = totals

    async def bye(self) -> None:
        """End the session: the provider asks for its last receipt, then closes."""
        if self.channel.closed:
            return
        try:
            await self.send(["bye"])
            expect(await self.recv(), "bye", 0)
        finally:
            await self.channel.aclose()

    # --- storage -------------------------------------------------------------------------

    async def put_chunks(self, name: str, size: int, chunks: Iterator[bytes]) -> Stored:
        h = hashlib.sha256()
        await self.send(["put", name, size])
        expect(await self.recv(), "go", 0)
        sent = 0
        window = 0
        for data in chunks:
            if sent + len(data) > size:
                raise CloudError("the source grew while it was being sent")
            await self.send(["chunk", data])
            h.update(data)
            sent += len(data)
            window += len(data)
            self.observe(BYTES_IN, len(data))
            if window >= WINDOW_BYTES and sent < size:
                window = 0
                expect(await self.recv(), "more", 0)
        if sent != size:
            raise CloudError("the source shrank while it was being sent")
        digest, got_size = expect(await self.recv(), "stored", 2)
        if digest != h.digest() or got_size != size:
            raise ProtocolViolation("the provider stored something else than was sent")
        return Stored(name, digest, size)

    async def get_chunks(self, ref: str, sink: Callable[[bytes], object],
                         max_bytes: int) -> Stored:
        await self.send(["get", ref])
        digest, size = expect(await self.recv(), "meta", 2)
        if type(digest) is not bytes or len(digest) != 32 or type(size) is not int:
            raise ProtocolViolation("meta: bad digest or size")
        if size > max_bytes:
            raise CloudError(f"the object is {size} bytes, over the limit of {max_bytes}")
        h = hashlib.sha256()
        got = 0
        while True:
            msg = await self.recv()
            if msg[0] == "done":
                break
            (data,) = expect(msg, "chunk", 1)
            if type(data) is not bytes or got + len(data) > size:
                raise ProtocolViolation("get: more bytes than announced")
            self.observe(BYTES_OUT, len(data))
            h.update(data)
            got += len(data)
            sink(data)
        if got != size or h.digest() != digest:
            raise ProtocolViolation("get: the bytes do not match their digest")
        return Stored(ref, digest, size)

    async def ls(self) -> list[Stored]:
        await self.send(["ls"])
        (entries,) = expect(await self.recv(), "list", 1)
        if type(entries) is not list:
            raise ProtocolViolation("list: expected an array")
        out = []
        for e in entries:
            if type(e) is not list or len(e) != 3:
                raise ProtocolViolation("list: bad entry")
            out.append(Stored(str(e[0]), bytes(e[1]), int(e[2])))
        return out

    async def rm(self, name: str) -> None:
        await self.send(["rm", name])
        expect(await self.recv(), "ok", 0)

    # --- compute -------------------------------------------------------------------------

    async def run(self, argv: list[str], wall_s: float,
                  on_output: Callable[[int, bytes], Awaitable[None]] | None = None,
                  keep_bytes: int = 16 * 1024 * 1024) -> RunOutcome:
        out: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        started = trio.current_time()
        await self.send(["run", argv, max(1, int(wall_s * 1000))])
        while True:
            msg = await self.recv(timeout=wall_s + REPLY_S)
            if msg[0] == "exit":
                break
            fd, data = expect(msg, "out", 2)
            if fd not in (1, 2) or type(data) is not bytes or len(data) > CHUNK_BYTES:
                raise ProtocolViolation("out: bad frame")
            self.observe(BYTES_OUT, len(data))
            buf = out[fd]
            buf += data[:max(0, keep_bytes - len(buf))]
            if on_output is not None:
                await on_output(fd, data)
        (info,) = expect(msg, "exit", 1)
        wall_ms = math.ceil((trio.current_time() - started) * 1000)
        if type(info) is not dict:
            raise ProtocolViolation("exit: expected a map")
        cpu = info.get("cpu_ms")
        if type(cpu) is not int or cpu < 0:
            raise ProtocolViolation("exit: bad cpu_ms")
        millicores = self.welcome.get("cpu_millicores", 0)
        allowed = math.ceil(wall_ms * int(millicores) / 1000) + CPU_SLACK_MS
        self.observe(CPU_MS, min(cpu, allowed))
        code, sig = info.get("code"), info.get("signal")
        return RunOutcome(code if type(code) is int else None,
                          sig if type(sig) is int else None, cpu,
                          int(info.get("wall_ms") or 0), str(info.get("reason", ""))[:32],
                          bool(info.get("truncated")), bytes(out[1]), bytes(out[2]))


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while data := f.read(CHUNK_BYTES):
            yield data


def _bytes_chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), CHUNK_BYTES):
        yield data[i:i + CHUNK_BYTES]


class Buyer:
    """A buyer connected to one provider for one lease. Create with :func:`open_buyer`
    (or :meth:`with_opener` for any stream source, as tests do)."""

    def __init__(self, lease: BuyerLease,
                 opener: Callable[[str], Awaitable[tuple[RawStream, str, str]]]) -> None:
        if pubkey_from_secret(lease.buyer_secret) == lease.provider_pubkey:
            raise CloudError("buyer and provider keys are the same")
        self.signer = ReceiptSigner(lease)
        self._opener = opener
        self._sessions: dict[str, BuyerSession] = {}
        self._lock = trio.Lock()

    async def session(self, protocol: str) -> BuyerSession:
        """The open, authenticated session for ``protocol`` (opened on first use)."""
        async with self._lock:
            s = self._sessions.get(protocol)
            if s is not None and not s.channel.closed:
                return s
            stream, local, remote = await self._opener(protocol)
            s = BuyerSession(stream, self.signer, protocol, local, remote)
            try:
                await s.handshake()
            except BaseException:
                await s.channel.abort()
                raise
            self._sessions[protocol] = s
            return s

    async def _call(self, protocol: str, fn: Callable[[BuyerSession], Awaitable[Any]]) -> Any:
        s = await self.session(protocol)
        async with s.lock:
            try:
                return await fn(s)
            except (ProtocolViolation, TimedOut):
                await s.channel.abort()
                raise

    async def put(self, name: str, data: bytes) -> Stored:
        result: Stored = await self._call(
            STORAGE_PROTOCOL, lambda s: s.put_chunks(name, len(data), _bytes_chunks(data)))
        return result

    async def put_file(self, name: str, path: Path) -> Stored:
        size = path.stat().st_size
        result: Stored = await self._call(
            STORAGE_PROTOCOL, lambda s: s.put_chunks(name, size, _file_chunks(path)))
        return result

    async def get(self, ref: str, max_bytes: int = 256 * 1024 * 1024) -> bytes:
        buf = bytearray()
        await self._call(STORAGE_PROTOCOL, lambda s: s.get_chunks(ref, buf.extend, max_bytes))
        return bytes(buf)

    async def get_file(self, ref: str, path: Path, max_bytes: int = 1 << 40) -> Stored:
        with path.open("wb") as f:
            result: Stored = await self._call(
                STORAGE_PROTOCOL, lambda s: s.get_chunks(ref, f.write, max_bytes))
        return result

    async def ls(self) -> list[Stored]:
        result: list[Stored] = await self._call(STORAGE_PROTOCOL, lambda s: s.ls())
        return result

    async def rm(self, name: str) -> None:
        await self._call(STORAGE_PROTOCOL, lambda s: s.rm(name))

    async def run(self, argv: list[str], wall_s: float = 60.0,
                  on_output: Callable[[int, bytes], Awaitable[None]] | None = None
                  ) -> RunOutcome:
        result: RunOutcome = await self._call(
            COMPUTE_PROTOCOL, lambda s: s.run(argv, wall_s, on_output))
        return result

    async def aclose(self) -> None:
        """Say goodbye on every session (settling the last receipts), then close."""
        for s in list(self._sessions.values()):
            with trio.move_on_after(HANDSHAKE_S):
                try:
                    await s.bye()
                except (CloudError, TimedOut):
                    await s.channel.abort()
        self._sessions.clear()


@asynccontextmanager
async def open_buyer(lease: BuyerLease, provider_addr: str,
                     node_secret: bytes | None = None) -> AsyncIterator[Buyer]:
    """Connect to the provider at ``provider_addr`` (a ``/p2p/`` multiaddr) and yield a
    :class:`Buyer`; leaving the block settles and closes its sessions. ``node_secret`` fixes
    the buyer's libp2p identity (random by default: it need not be stable)."""
    async with open_cloud_host(node_secret or secrets.token_bytes(32), None) as host:
        peer = await dial(host, provider_addr)
        local = str(host.get_id())

        async def opener(protocol: str) -> tuple[RawStream, str, str]:
            stream = await new_stream(host, peer, protocol)
            return stream, local, peer

        buyer = Buyer(lease, opener)
        try:
            yield buyer
        finally:
            await buyer.aclose()


__all__ = ["Buyer", "BuyerLease", "BuyerSession", "ReceiptSigner", "RunOutcome", "Stored",
           "open_buyer"]
