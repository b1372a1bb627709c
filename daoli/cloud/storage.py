"""Content-addressed storage on a lease: put, get, ls, rm.

On disk, under the provider's data dir: ``storage/<lease id hex>/objects/<sha256 hex>`` and
``storage/<lease id hex>/index.cbor`` (user-facing name -> digest and size). Every path is
built from hex the provider computed, never from anything the buyer sent, so path traversal
is impossible by construction: a name such as ``../../etc/passwd`` is only an index key.
Identical content under several names is stored once.

Quota: a put declares its size first, and is refused unless the lease's stored bytes, the
bytes other puts in flight have reserved, and this size fit in ``Quotas.storage_bytes``;
a body longer than declared is refused as it arrives. Metered: ``bytes_in`` for what a put
received, ``bytes_out`` for what a get sent.

Wire (``/daoli/cloud/storage/1``), after the handshake of :mod:`daoli.cloud.service`:

* ``["put", name, size]`` -> ``["go"]``; then the buyer sends ``["chunk", data]`` frames, at
  most :data:`WINDOW_BYTES` before it waits for ``["more"]`` (the provider may ask for a
  receipt between windows), until ``size`` bytes -> ``["stored", digest, size]``.
* ``["get", ref]`` (a name, or ``"sha256:<hex>"``) -> ``["meta", digest, size]``, chunks,
  then ``["done"]``; the buyer checks the digest of what it received.
* ``["ls"]`` -> ``["list", [[name, digest, size], ...]]``; ``["rm", name]`` -> ``["ok"]``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from daoli.cloud.proto import CHUNK_BYTES, STORAGE_PROTOCOL, ProtocolViolation, Refused, expect
from daoli.cloud.service import BYTES_IN, BYTES_OUT, Session
from daoli.core import encoding as enc
from daoli.errors import DecodeError

WINDOW_BYTES = 16 * CHUNK_BYTES
"""A put pauses for ``["more"]`` after this much: the provider's chance to ask for a receipt,
so a large upload cannot run past the cut-off bound."""
MAX_NAME_BYTES = 1024
MAX_NAMES = 100_000
MAX_LIST = 4_000
"""Entries one ``ls`` answer carries (a frame holds a chunk's worth)."""
_DIGEST_REF = re.compile(r"sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class Entry:
    name: str
    digest: bytes
    size: int


def check_name(name: Any) -> str:
    if type(name) is not str or not name or len(name.encode()) > MAX_NAME_BYTES:
        raise Refused("bad_request", f"a name is 1 to {MAX_NAME_BYTES} bytes of text")
    if "\x00" in name:
        raise Refused("bad_request", "a name cannot contain NUL")
    return name


class LeaseStore:
    """One lease's objects and index. Not safe for concurrent puts by itself: the service
    holds its lock around index updates and reserves quota for puts in flight."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self.index_path = root / "index.cbor"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp.iterdir():  # puts cut short by a crash
            stale.unlink(missing_ok=True)
        self.index: dict[str, tuple[bytes, int]] = self._load()
        self.reserved = 0
        self.lock = trio.Lock()

    def _load(self) -> dict[str, tuple[bytes, int]]:
        if not self.index_path.exists():
            return {}
        try:
            raw = enc.decode_raw(self.index_path.read_bytes())
            return {check_name(n): (enc.fixed_bytes(d, 32, "digest"), enc.uint(s, "size"))
                    for n, d, s in raw}
        except (DecodeError, Refused, ValueError, TypeError) as exc:
            raise OSError(f"corrupt storage index {self.index_path}: {exc}") from None

    def _save(self) -> None:
        tmp = self.index_path.with_suffix(".tmp")
        tmp.write_bytes(enc.encode([[n, d, s] for n, (d, s) in sorted(self.index.items())]))
        os.replace(tmp, self.index_path)

    def used(self) -> int:
        """Bytes stored: each distinct object once."""
        return sum(dict(self.index.values()).values())

    def object_path(self, digest: bytes) -> Path:
        return self.objects / digest.hex()

    def entries(self) -> list[Entry]:
        return [Entry(n, d, s) for n, (d, s) in sorted(self.index.items())]

    def resolve(self, ref: str) -> tuple[bytes, int]:
        m = _DIGEST_REF.fullmatch(ref)
        if m is not None:
            digest = bytes.fromhex(m.group(1))
            for d, s in self.index.values():
                if d == digest:
                    return d, s
        elif ref in self.index:
            return self.index[ref]
        raise Refused("not_found", "no such object")

    def commit(self, name: str, tmp: Path, digest: bytes, size: int) -> None:
        target = self.object_path(digest)
        if target.exists():
            tmp.unlink(missing_ok=True)
        else:
            os.replace(tmp, target)
        old = self.index.get(name)
        self.index[name] = (digest, size)
        self._save()
        if old is not None:
            self._collect(old[0])

    def remove(self, name: str) -> None:
        old = self.index.pop(name, None)
        if old is None:
            raise Refused("not_found", "no such object")
        self._save()
        self._collect(old[0])

    def _collect(self, digest: bytes) -> None:
        if all(d != digest for d, _ in self.index.values()):
            self.object_path(digest).unlink(missing_ok=True)


class StorageService:
    """The storage service of a provider whose data lives under ``data_dir``."""

    protocol = STORAGE_PROTOCOL

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._stores: dict[bytes, LeaseStore] = {}

    def store(self, lease_id: bytes) -> LeaseStore:
        st = self._stores.get(lease_id)
        if st is None:
            st = self._stores[lease_id] = LeaseStore(self.data_dir / "storage" / lease_id.hex())
        return st

    async def handle(self, session: Session, request: list[Any]) -> None:
        verb = request[0]
        st = self.store(session.lease.id)
        if verb == "put":
            name, size = expect(request, "put", 2)
            await self._put(session, st, check_name(name), size)
        elif verb == "get":
            (ref,) = expect(request, "get", 1)
            await self._get(session, st, check_name(ref))
        elif verb == "ls":
            expect(request, "ls", 0)
            listing = [[e.name, e.digest, e.size] for e in st.entries()[:MAX_LIST]]
            await session.send(["list", listing])
        elif verb == "rm":
            (name,) = expect(request, "rm", 1)
            async with st.lock:
                st.remove(check_name(name))
            await session.send(["ok"])
        else:
            raise Refused("bad_request", f"unknown storage request {str(verb)[:32]!r}")

    async def _put(self, session: Session, st: LeaseStore, name: str, size: Any) -> None:
        if type(size) is not int or size < 0:
            raise Refused("bad_request", "put: size must be a non-negative integer")
        quota = session.quotas.storage_bytes
        async with st.lock:
            if name not in st.index and len(st.index) >= MAX_NAMES:
                raise Refused("quota", f"at most {MAX_NAMES} names per lease")
            free = quota - st.used() - st.reserved
            if size > free:
                raise Refused("quota", f"{size} bytes do not fit: {max(free, 0)} of {quota} "
                                       "bytes free on this lease")
            st.reserved += size
        tmp = st.tmp / secrets.token_hex(8)
        try:
            await session.send(["go"])
            h = hashlib.sha256()
            got = 0
            window = 0
            with tmp.open("wb") as f:
                while got < size:
                    (data,) = expect(await session.recv(), "chunk", 1)
                    if type(data) is not bytes or not data or len(data) > CHUNK_BYTES:
                        raise ProtocolViolation("put: a chunk is 1 to 64 KiB of bytes")
                    if got + len(data) > size:
                        raise ProtocolViolation("put: more bytes than declared")
                    f.write(data)
                    h.update(data)
                    got += len(data)
                    window += len(data)
                    session.charge(BYTES_IN, len(data))
                    if window >= WINDOW_BYTES and got < size:
                        window = 0
                        await session.checkpoint()
                        await session.send(["more"])
            digest = h.digest()
            async with st.lock:
                st.commit(name, tmp, digest, size)
            await session.send(["stored", digest, size])
        finally:
            st.reserved -= size
            tmp.unlink(missing_ok=True)

    async def _get(self, session: Session, st: LeaseStore, ref: str) -> None:
        digest, size = st.resolve(ref)
        try:
            f = st.object_path(digest).open("rb")
        except OSError:
            raise Refused("not_found", "the object is gone") from None
        with f:
            await session.send(["meta", digest, size])
            while True:
                data = f.read(CHUNK_BYTES)
                if not data:
                    break
                await session.send(["chunk", data])
                session.charge(BYTES_OUT, len(data))
                await session.checkpoint()
        await session.send(["done"])


__all__ = ["MAX_NAME_BYTES", "WINDOW_BYTES", "Entry", "LeaseStore", "StorageService",
           "check_name"]
