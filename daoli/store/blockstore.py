"""The node's block store: finalized blocks, their certificates, indexes and the ledger state.

Everything a finalized block changes is written in ONE LMDB write transaction (SPEC 8), so a
crash, a kill or a full disk leaves the store exactly at the previous block or the new one,
never in between. LMDB is copy-on-write with a single writer: readers never block the writer
and always see a whole committed transaction.

Layout (named sub-databases; heights are 8-byte big-endian so LMDB's key order is height
order and range scans are cursor walks):

========  ==============================  ==========================================
db        key                             value
========  ==============================  ==========================================
meta      ``format``                      ``daoli-store/1``
meta      ``genesis``                     canonical genesis encoding
meta      ``tip``                         height (8) || block id (32); genesis id at 0
meta      ``acc`` / ``root``              state accumulator / state root after tip
blocks    height (8)                      canonical block encoding
ids       block id (32)                   height (8); the genesis id maps to 0
certs     height (8)                      canonical commit certificate encoding
txs       tx id (32)                      height (8) || position in payload (4)
state     ledger key                      ledger value
========  ==============================  ==========================================

The store checks only what keeps it self-consistent (heights chain, parents link, a
certificate names its block). Consensus validity is the ledger's and the node's job.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast

import lmdb

from daoli.core import encoding as enc
from daoli.core.block import Block
from daoli.core.genesis import Genesis
from daoli.core.hashing import sha256
from daoli.core.tx import Transaction
from daoli.core.vote import CommitCertificate
from daoli.errors import DecodeError, StoreError

FORMAT = b"daoli-store/1"
"""Written once at creation; a store with another value is refused rather than misread."""

DEFAULT_MAP_SIZE = 1 << 34
"""16 GiB of address space. The file is sparse, so this costs nothing until used, and the
store doubles it by itself when it fills up."""

LOCK_FILE = "writer.lock"
_STORE_FILES = frozenset({"data.mdb", "lock.mdb", LOCK_FILE})
_DB_NAMES = (b"meta", b"blocks", b"ids", b"certs", b"txs", b"state")

_K_FORMAT = b"format"
_K_GENESIS = b"genesis"
_K_TIP = b"tip"
_K_ACC = b"acc"
_K_ROOT = b"root"

_HEIGHT = struct.Struct(">Q")
_NO_HEIGHT = 1 << 64
_TXLOC = struct.Struct(">QI")
_MAX_GROWTHS = 8
_RANGE_CHUNK_BYTES = 4 * 1024 * 1024
_STATE_CHUNK_ITEMS = 1024

T = TypeVar("T")


class StateDiffLike(Protocol):
    """What the store needs from ``daoli.core.state.StateDiff`` (duck-typed on purpose, so
    the store does not depend on the ledger's module layout)."""

    @property
    def writes(self) -> Mapping[bytes, bytes | None]: ...

    @property
    def acc(self) -> bytes: ...

    @property
    def root(self) -> bytes: ...


def _h(height: int) -> bytes:
    return _HEIGHT.pack(height)


class BlockStore:
    """An open LMDB block store; also a ``StateReader`` over the state after the tip.

    One writer per directory: a second writable open, from this process or another, is
    refused with StoreError, and LMDB allows no second instance of any kind in one process.
    Read-only instances in other processes (the CLI beside a running node) are fine. Each
    call uses its own short transaction, so an instance may be shared between threads;
    writes from several threads are serialised by LMDB.
    """

    def __init__(self, path: Path, env: lmdb.Environment, dbs: dict[bytes, Any],
                 lock_fd: int | None, readonly: bool) -> None:
        """Use :meth:`open`."""
        self.path = path
        self.readonly = readonly
        self._env: lmdb.Environment | None = env
        self._meta = dbs[b"meta"]
        self._blocks = dbs[b"blocks"]
        self._ids = dbs[b"ids"]
        self._certs = dbs[b"certs"]
        self._txs = dbs[b"txs"]
        self._state = dbs[b"state"]
        self._dbs = dbs
        self._lock_fd = lock_fd
        self._genesis: Genesis | None = None

    # --- opening and closing ----------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, map_size: int = DEFAULT_MAP_SIZE,
             readonly: bool = False) -> BlockStore:
        """Open the store in directory ``path``, creating it (and parents) unless readonly.

        Refuses a path that is a file, a non-empty directory that holds no store, an LMDB
        file that is corrupt or not ours, and a store another writer has open.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise StoreError(f"{path}: not a store directory (it is a file)")
        if readonly:
            if not (path / "data.mdb").is_file():
                raise StoreError(f"{path}: no store here (data.mdb missing)")
        else:
            if path.is_dir() and not (path / "data.mdb").exists():
                extra = sorted(p.name for p in path.iterdir() if p.name not in _STORE_FILES)
                if extra:
                    raise StoreError(f"{path}: directory is not empty and holds no store "
                                     f"(found {extra[0]!r})")
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path}: cannot create store directory: {exc}") from None
        lock_fd = None if readonly else _take_writer_lock(path)
        try:
            # no sync on commit: each durable write flushes explicitly (env.sync), so a
            # node catching up flushes once per batch of blocks instead of once per block
            env = lmdb.open(str(path), map_size=map_size, subdir=True, readonly=readonly,
                            max_dbs=len(_DB_NAMES), sync=False, metasync=True, lock=True,
                            create=not readonly)
        except lmdb.Error as exc:
            _release(lock_fd)
            raise StoreError(f"{path}: cannot open store: {_lmdb_msg(exc)}") from None
        try:
            dbs = _open_dbs(env, path, readonly)
        except BaseException:
            env.close()
            _release(lock_fd)
            raise
        return cls(path, env, dbs, lock_fd, readonly)

    def copy_to(self, directory: Path) -> None:
        """A consistent, compacted copy of the store in (empty) ``directory``: LMDB copies
        from one read transaction, so a node may go on writing meanwhile (devnet
        snapshots)."""
        try:
            self._live_env().copy(str(directory), compact=True)
        except lmdb.Error as exc:
            raise StoreError(f"{self.path}: cannot copy the store: {_lmdb_msg(exc)}") from None

    def close(self) -> None:
        """Close the environment and release the writer lock; safe to call twice."""
        if self._env is not None:
            if not self.readonly:
                with contextlib.suppress(lmdb.Error):
                    self._env.sync(True)  # what non-durable commits left unflushed
            self._env.close()
            self._env = None
        _release(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> BlockStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- writes -----------------------------------------------------------------------------

    def init_genesis(self, genesis: Genesis, diff: StateDiffLike) -> None:
        """Record the genesis and the state it creates; a no-op if this genesis is already
        recorded (so a node can call it on every start), StoreError if another one is."""
        encoded = genesis.encode()
        gid = genesis.id
        # A genesis the store could not read back would leave a store no node can reopen.
        _decode(_decode_genesis, encoded, "genesis (not stored)")

        def write(txn: lmdb.Transaction) -> None:
            existing = txn.get(_K_GENESIS, db=self._meta)
            if existing is not None:
                if existing != encoded:
                    raise StoreError("store already holds a different genesis "
                                     f"(stored id {_genesis_id_hex(bytes(existing))}, "
                                     f"given {gid.hex()})")
                return
            txn.put(_K_GENESIS, encoded, db=self._meta)
            txn.put(gid, _h(0), db=self._ids)
            self._put_state(txn, diff, _h(0) + gid)

        self._write(write)
        self._genesis = None

    def commit_block(self, block: Block, cert: CommitCertificate | None,
                     diff: StateDiffLike, *, durable: bool = True) -> None:
        """Append a finalized block with its certificate (if known yet), its transactions'
        index entries and its state changes, all in one write transaction, flushed to disk
        before returning unless ``durable`` is False (then the next durable write, or
        :meth:`close`, flushes it; a process crash loses nothing, an OS crash may lose the
        unflushed tail of blocks but never leaves half a block: LMDB's ordered writes).

        StoreError, with nothing written, unless the block extends the tip.
        """
        height = block.height
        bid = block.id
        if cert is not None:
            _check_cert(cert, height, bid)
        encoded = block.encode()
        hkey = _h(height)
        tx_ids = [tx.id for tx in block.payload]
        parent = block.header.parent_id

        def write(txn: lmdb.Transaction) -> None:
            tip = txn.get(_K_TIP, db=self._meta)
            if tip is None:
                raise StoreError("store has no genesis: call init_genesis first")
            tip_height = _HEIGHT.unpack_from(tip)[0]
            if height != tip_height + 1:
                raise StoreError(f"block at height {height} does not extend the tip at "
                                 f"height {tip_height}")
            if parent != tip[8:]:
                raise StoreError(f"block {bid.hex()[:16]} at height {height}: parent "
                                 f"{parent.hex()[:16]} is not the tip {tip[8:].hex()[:16]}")
            if not txn.put(bid, hkey, db=self._ids, overwrite=False):
                raise StoreError(f"block {bid.hex()[:16]} is already stored")
            if not txn.put(hkey, encoded, db=self._blocks, append=True):
                raise StoreError(f"a block is already stored at height {height}")
            if cert is not None:
                txn.put(hkey, cert.encode(), db=self._certs)
            txs = self._txs
            for pos, tid in enumerate(tx_ids):
                txn.put(tid, _TXLOC.pack(height, pos), db=txs)
            self._put_state(txn, diff, hkey + bid)

        self._write(write, durable)

    def set_certificate(self, height: int, cert: CommitCertificate) -> None:
        """Store or replace the certificate of a stored block: a certificate often arrives
        with the next block (its ``last_commit``), after the block itself was committed."""

        def write(txn: lmdb.Transaction) -> None:
            stored = txn.get(cert.block_id, db=self._ids)
            if not 1 <= height < _NO_HEIGHT or stored != _h(height):
                raise StoreError(f"no stored block {cert.block_id.hex()[:16]} at height "
                                 f"{height} for this certificate")
            txn.put(_h(height), cert.encode(), db=self._certs)

        if cert.height != height:
            raise StoreError(f"certificate is for height {cert.height}, not {height}")
        self._write(write)

    def _put_state(self, txn: lmdb.Transaction, diff: StateDiffLike, tip: bytes) -> None:
        state = self._state
        for key in sorted(diff.writes):
            value = diff.writes[key]
            if value is None:
                txn.delete(key, db=state)
            else:
                txn.put(key, value, db=state)
        meta = self._meta
        txn.put(_K_ACC, bytes(diff.acc), db=meta)
        txn.put(_K_ROOT, bytes(diff.root), db=meta)
        txn.put(_K_TIP, tip, db=meta)

    def _write(self, fn: Callable[[lmdb.Transaction], None], durable: bool = True) -> None:
        """Run ``fn`` in one write transaction; any exception aborts all of it. ``durable``:
        flushed to disk (fsync) before returning, with every earlier unflushed write.

        A full map is not an error worth stopping a node for: the map is doubled and the
        whole transaction retried (LMDB lets the writer grow the map between transactions).
        """
        env = self._live_env()
        if self.readonly:
            raise StoreError(f"{self.path}: store is open read-only")
        for _ in range(_MAX_GROWTHS + 1):
            try:
                with env.begin(write=True) as txn:
                    fn(txn)
                if durable:
                    env.sync(True)
                return
            except lmdb.MapFullError:
                env.set_mapsize(env.info()["map_size"] * 2)
            except lmdb.BadValsizeError as exc:
                raise StoreError(f"key or value size rejected: {_lmdb_msg(exc)}") from None
            except lmdb.Error as exc:
                raise StoreError(f"write failed: {_lmdb_msg(exc)}") from None
        raise StoreError(f"{self.path}: store is full even after growing the map")

    # --- reads ------------------------------------------------------------------------------

    def _live_env(self) -> lmdb.Environment:
        if self._env is None:
            raise StoreError(f"{self.path}: store is closed")
        return self._env

    @contextlib.contextmanager
    def _reading(self) -> Iterator[lmdb.Transaction]:
        """A read transaction; LMDB errors become StoreError, and a map grown by another
        process (MDB_MAP_RESIZED) is adopted instead of failing."""
        env = self._live_env()
        try:
            try:
                txn = env.begin()
            except lmdb.MapResizedError:
                env.set_mapsize(0)
                txn = env.begin()
            with txn:
                yield txn
        except lmdb.Error as exc:
            raise StoreError(f"read failed: {_lmdb_msg(exc)}") from None

    def _get(self, key: bytes, db: Any) -> bytes | None:
        with self._reading() as txn:
            return cast("bytes | None", txn.get(key, db=db))

    def get(self, key: bytes) -> bytes | None:
        """The state value of ``key`` after the tip (``StateReader``)."""
        if not key:
            return None
        return self._get(key, self._state)

    def state_items(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """State entries whose key starts with ``prefix``, in key order.

        Read in chunks, each in its own short read transaction, so a slow consumer never
        pins old pages; a block committed meanwhile may be seen part-way through.
        """
        start = prefix
        while True:
            chunk: list[tuple[bytes, bytes]] = []
            with self._reading() as txn:
                cur = txn.cursor(db=self._state)
                ok = cur.set_range(start) if start else cur.first()
                while ok and len(chunk) < _STATE_CHUNK_ITEMS:
                    key = cast(bytes, cur.key())
                    if not key.startswith(prefix):
                        ok = False
                        break
                    chunk.append((key, cast(bytes, cur.value())))
                    ok = cur.next()
            yield from chunk
            if not ok:
                return
            start = chunk[-1][0] + b"\x00"

    def _tip(self) -> bytes:
        tip = self._get(_K_TIP, self._meta)
        if tip is None:
            raise StoreError(f"{self.path}: store has no genesis yet")
        return tip

    @property
    def tip_height(self) -> int:
        """Height of the last committed block; 0 when only the genesis is stored."""
        return int(_HEIGHT.unpack_from(self._tip())[0])

    @property
    def tip_id(self) -> bytes:
        """Id of the last committed block, or the genesis id at height 0."""
        return self._tip()[8:]

    @property
    def state_acc(self) -> bytes:
        acc = self._get(_K_ACC, self._meta)
        if acc is None:
            raise StoreError(f"{self.path}: store has no genesis yet")
        return acc

    @property
    def state_root(self) -> bytes:
        root = self._get(_K_ROOT, self._meta)
        if root is None:
            raise StoreError(f"{self.path}: store has no genesis yet")
        return root

    def genesis(self) -> Genesis | None:
        if self._genesis is None:
            raw = self._get(_K_GENESIS, self._meta)
            if raw is None:
                return None
            self._genesis = _decode(_decode_genesis, raw, "genesis")
        return self._genesis

    def block_bytes_by_height(self, height: int) -> bytes | None:
        if not 1 <= height < _NO_HEIGHT:
            return None
        return self._get(_h(height), self._blocks)

    def block_by_height(self, height: int) -> Block | None:
        raw = self.block_bytes_by_height(height)
        if raw is None:
            return None
        return _decode(lambda b: Block.decode(b, max_bytes=len(b)), raw,
                       f"block at height {height}")

    def height_of(self, block_id: bytes) -> int | None:
        """Height of a stored block; 0 for the genesis id."""
        if len(block_id) != 32:
            return None
        raw = self._get(block_id, self._ids)
        return None if raw is None else int(_HEIGHT.unpack(raw)[0])

    def block_by_id(self, block_id: bytes) -> Block | None:
        height = self.height_of(block_id)
        return None if not height else self.block_by_height(height)

    def certificate_bytes(self, height: int) -> bytes | None:
        return None if not 1 <= height < _NO_HEIGHT else self._get(_h(height), self._certs)

    def certificate(self, height: int) -> CommitCertificate | None:
        raw = self.certificate_bytes(height)
        if raw is None:
            return None
        return _decode(CommitCertificate.decode, raw, f"certificate at height {height}")

    def tx_location(self, tx_id: bytes) -> tuple[int, int] | None:
        """(height, position in the block's payload) of a committed transaction."""
        if len(tx_id) != 32:
            return None
        raw = self._get(tx_id, self._txs)
        if raw is None:
            return None
        height, pos = _TXLOC.unpack(raw)
        return int(height), int(pos)

    def transaction(self, tx_id: bytes) -> Transaction | None:
        """A committed transaction, cut out of its block without building the whole block."""
        loc = self.tx_location(tx_id)
        if loc is None:
            return None
        height, pos = loc
        raw = self.block_bytes_by_height(height)
        if raw is None:
            raise StoreError(f"tx index points at missing block {height}")
        try:
            fields = enc.decode_raw(raw, max_bytes=len(raw))
            tx = enc.object_from_fields(fields[2][pos], Transaction.TYPE,
                                        Transaction.from_fields, "tx")
        except (DecodeError, IndexError, TypeError) as exc:
            raise StoreError(f"corrupt block at height {height}: {exc}") from None
        if tx.id != tx_id:
            raise StoreError(f"tx index for {tx_id.hex()[:16]} points at another transaction")
        return tx

    def blocks_range(self, start: int, end: int) -> Iterator[tuple[bytes, bytes | None]]:
        """(block bytes, certificate bytes or None) for heights ``start <= h < end`` that are
        stored, in height order: what a syncing peer is sent.

        Read in chunks of a few MiB, each in its own short read transaction.
        """
        h = max(start, 1)
        end = min(end, _NO_HEIGHT)
        while h < end:
            chunk: list[tuple[bytes, bytes | None]] = []
            size = 0
            gap = False
            with self._reading() as txn:
                while h < end and size < _RANGE_CHUNK_BYTES:
                    block = txn.get(_h(h), db=self._blocks)
                    if block is None:
                        gap = True
                        break
                    chunk.append((cast(bytes, block), cast("bytes | None",
                                                           txn.get(_h(h), db=self._certs))))
                    size += len(block)
                    h += 1
            yield from chunk
            if gap:
                return

    def stats(self) -> dict[str, int]:
        """Entry counts per sub-database and bytes in use: for status output and tests."""
        env = self._live_env()
        out: dict[str, int] = {}
        with self._reading() as txn:
            for name in _DB_NAMES:
                out[name.decode()] = int(txn.stat(self._dbs[name])["entries"])
        info = env.info()
        out["map_size"] = int(info["map_size"])
        out["used_bytes"] = int((info["last_pgno"] + 1) * env.stat()["psize"])
        return out


# --- helpers --------------------------------------------------------------------------------


def _open_dbs(env: lmdb.Environment, path: Path, readonly: bool) -> dict[bytes, Any]:
    """Open (or, for a fresh file, create in one transaction) the named sub-databases."""
    try:
        with env.begin() as txn:
            names = set(txn.cursor().iternext(keys=True, values=False))
        if not names:
            if readonly:
                raise StoreError(f"{path}: not a store (empty LMDB file)")
            with env.begin(write=True) as txn:
                dbs = {n: env.open_db(n, txn=txn, create=True) for n in _DB_NAMES}
                txn.put(_K_FORMAT, FORMAT, db=dbs[b"meta"])
            return dbs
        if not names <= set(_DB_NAMES) or b"meta" not in names:
            raise StoreError(f"{path}: not a daoli store (unexpected LMDB contents)")
        if names != set(_DB_NAMES):
            raise StoreError(f"{path}: store is incomplete (missing sub-databases)")
        # Without a txn argument the handles are opened in a transaction of py-lmdb's own
        # that it commits, which keeps them valid in a read-only environment too.
        dbs = {n: env.open_db(n, create=False) for n in _DB_NAMES}
        with env.begin() as txn:
            fmt = txn.get(_K_FORMAT, db=dbs[b"meta"])
        if fmt != FORMAT:
            raise StoreError(f"{path}: unsupported store format {fmt!r}")
        return dbs
    except lmdb.Error as exc:
        raise StoreError(f"{path}: corrupt store: {_lmdb_msg(exc)}") from None


def _take_writer_lock(path: Path) -> int:
    """flock a file beside the data so two writers (two nodes on one home, or one process
    opening twice) are refused up front; the kernel drops the lock if the holder dies."""
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the writer lock: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StoreError(f"{path}: store is locked: another process or instance has it "
                         "open") from None
    return fd


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _check_cert(cert: CommitCertificate, height: int, block_id: bytes) -> None:
    if cert.height != height or cert.block_id != block_id:
        raise StoreError(f"certificate (height {cert.height}, block {cert.block_id.hex()[:16]})"
                         f" is not for block {block_id.hex()[:16]} at height {height}")


def _decode(fn: Callable[[bytes], T], raw: bytes, what: str) -> T:
    try:
        return fn(raw)
    except DecodeError as exc:
        raise StoreError(f"corrupt {what}: {exc}") from None


def _decode_genesis(raw: bytes) -> Genesis:
    """Genesis.decode without its 8 MiB bound: the genesis may list up to 2^20 allocations,
    and bytes the store wrote itself are not a peer's."""
    fields = enc.decode_raw(raw, max_bytes=len(raw))
    genesis = enc.object_from_fields(fields, Genesis.TYPE, Genesis.from_fields, "genesis")
    if genesis.encode() != raw:
        raise DecodeError("genesis: not the canonical encoding")
    return genesis


def _genesis_id_hex(encoded: bytes) -> str:
    return sha256(encoded).hex()


def _lmdb_msg(exc: lmdb.Error) -> str:
    return " ".join(str(exc).split())[:200]
