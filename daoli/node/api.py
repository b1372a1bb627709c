"""The node's local HTTP/JSON API (docs/api.md): Starlette on Hypercorn's trio worker.

The API runs in the node's own trio nursery, so every handler here runs on the node's event
loop. Three consequences shape this module:

* Handlers must not hold the loop for long: the node's ticket windows are a few hundred
  milliseconds. Work that grows with block size (decoding blocks, building their JSON) runs
  in worker threads (:func:`trio.to_thread.run_sync`; the LMDB store allows readers in any
  thread). Node state (mempool, peers, draw) is only touched on the loop itself.
* Nothing may escape as a traceback to a client or as noise on the node's stderr: every
  error is one JSON line ``{"error", "code"}``; an unexpected exception is a 500 of that shape
  and one log record for the operator.
* Long requests (``/v1/events``, ``/v1/txs/{id}/wait``) must end when the node stops, or
  Hypercorn's graceful shutdown would sit out its whole timeout: they run in cancel scopes
  that :func:`serve_api` cancels when its shutdown event fires.

The block explorer (docs/explorer.md) is three static files served from here without the
token: the page itself holds no chain data, and calls the guarded endpoints with the token the
user gives it, like any other client.

The node itself is reached only through :class:`NodeBackend`, so this module is tested with a
fake one on a real block store.
"""

from __future__ import annotations

import errno
import hmac
import importlib.resources
import json
import logging
import os
import re
import secrets
import socket
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, aclosing, contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

import hypercorn.trio
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daoli.core import encoding as enc
from daoli.core import ledger, market
from daoli.core.address import address_bytes_of, decode_address
from daoli.core.block import Block, Header
from daoli.core.crypto import PUBKEY_LEN
from daoli.core.genesis import Genesis
from daoli.core.ledger_types import KEY_OFFER_BOOK, PREFIX_LEASE, Lease, Offer, OfferBook
from daoli.core.ticket import Ticket
from daoli.core.tx import MAX_TX_BYTES, Transaction
from daoli.core.vote import CommitCertificate
from daoli.errors import AddressError, ConfigError, DaoliError, DecodeError, StoreError
from daoli.files import (
    MAX_SECRET_FILE,
    fsync_dir,
    os_error_text,
    parse_json,
    quote,
    read_text,
    show,
    write_all_and_sync,
)
from daoli.node.metrics import NodeMetrics
from daoli.node.views import (
    account_view,
    block_view,
    lease_view,
    lineup_entry_view,
    offer_view,
    order_view,
    payroll_view,
    trustee_view,
    tx_status_view,
)
from daoli.store.blockstore import BlockStore

if TYPE_CHECKING:  # trio's own TaskStatus is hidden from mypy by the trio-stubs libp2p pulls in
    from trio_typing import TaskStatus

log = logging.getLogger("daoli.node.api")

MAX_BODY = 8 * 1024 * 1024
"""Largest request body, checked while reading (a batch of 1,000 transactions fits)."""
MAX_BATCH = 1_000
"""Transactions or tickets per POST."""
MAX_RANGE = 100
"""Blocks per ``GET /v1/blocks`` range."""
MAX_RANGE_BYTES = 8 * 1024 * 1024
"""Encoded block bytes per range answer: 100 full blocks would be gigabytes of JSON, so an
answer stops early (after at least one block) and the client asks again from the next
height."""
MAX_WAIT_S = 300.0
DEFAULT_WAIT_S = 30.0
PING_S = 15.0
"""Seconds between ``: ping`` comments on an idle event stream (keeps proxies and client
read timeouts from closing it)."""
POLL_S = 1.0
"""A waiting request re-reads the store at least this often, in case it missed an event."""
MAX_MEMPOOL_IDS = 1_000
MAX_MARKET_LIST = 1_000
"""Offers, orders or leases per list answer (``limit``, default 100)."""
DEFAULT_MARKET_LIST = 100
TIP_READ_TRIES = 8
"""Attempts at reading several market records from one state before giving up (503)."""
MAX_STREAMS = 256
"""Event streams and waits open at once: each is a subscription the node feeds."""
MAX_TICKET_BYTES = 1_024
"""A ticket encodes to about 200 bytes; anything much larger is not one."""
EVENT_BATCH = 256
"""Events already queued are written to the socket together, up to this many."""

EXPLORER_FILES = {"index.html": "text/html; charset=utf-8",
                  "app.js": "text/javascript; charset=utf-8",
                  "style.css": "text/css; charset=utf-8"}
"""The explorer's files (daoli/node/explorer/) and their content types."""
EXPLORER_HEADERS = {
    # The page's own files and this API only: no inline script, no other origin, no framing.
    # User text (memos, names) is only ever inserted as text; this is the second line.
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}

TOKEN_HEX_LEN = 64
_TOKEN_RE = re.compile(r"[0-9a-fA-F]{64}\Z")
_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2})*\Z")
_ID_RE = re.compile(r"[0-9a-fA-F]{64}\Z")
_UINT_RE = re.compile(r"[0-9]{1,20}\Z")
_PEER_ID_RE = re.compile(r"[1-9A-HJ-NP-Za-km-z]{20,100}\Z")
"""A base58btc libp2p peer id (checked for shape only: the node compares it as text)."""
MAX_BLOCKED_PEERS = 256
_SECONDS_RE = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?\Z")
_MAX_U64 = (1 << 64) - 1

SUBMIT_STATUSES = ("accepted", "known", "rejected")

T = TypeVar("T")
EventChannel = trio.MemoryReceiveChannel[tuple[str, dict[str, Any]]]


class Unavailable(DaoliError):
    """Raised by a backend method to answer ``503 unavailable`` (the node is starting or
    stopping); the message is the one line the client sees."""


class ApiError(DaoliError):
    """A request the API refuses: HTTP ``status``, a ``code`` slug and one line of text."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _bad(message: str) -> NoReturn:
    raise ApiError(400, "bad_request", message)


def _not_found(message: str) -> NoReturn:
    raise ApiError(404, "not_found", message)


class NodeBackend(Protocol):
    """What the running node (``daoli.node.service``) gives the API.

    Every method is called on the node's trio loop. Ordering the API relies on: a finalized
    transaction is in ``store`` before ``pooled`` stops returning it (commit, then prune the
    pool), so a transaction is never briefly neither pending nor final.
    """

    genesis: Genesis
    store: BlockStore
    metrics: NodeMetrics

    def status(self) -> dict[str, Any]:
        """The Status object of docs/api.md, JSON-ready."""
        ...

    def peers(self) -> list[dict[str, Any]]: ...

    def pooled(self, txid: bytes) -> Transaction | None: ...

    def mempool_txs(self) -> list[Transaction]: ...

    def pending_senders(self) -> set[bytes]:
        """Public keys with transactions pooled, or finalized and still being stored: the
        store's nonce of those may be behind the node's own tip."""
        ...

    def pending_nonce(self, pubkey: bytes) -> int:
        """The next nonce of ``pubkey``, counting this node's pooled transactions."""
        ...

    def draw(self) -> dict[str, Any] | None:
        """The ``/v1/draw`` object; None when no draw is open."""
        ...

    async def submit_txs(self, txs: Sequence[Transaction]) -> list[tuple[str, str]]:
        """(status, reason) per transaction, in order: accepted, known or rejected."""
        ...

    async def submit_tickets(self, tickets: Sequence[Ticket]) -> list[tuple[str, str]]: ...

    def subscribe(self) -> AbstractContextManager[EventChannel]:
        """("block" | "tx", data) events of finalized blocks and transactions, in order. The
        node closes the channel when the reader falls too far behind."""
        ...

    def net_shaping(self) -> dict[str, Any]:
        """The node's own network faults: {"blocked_peers", "delay_ms", "jitter_ms",
        "loss", "shaped_drops"}."""
        ...

    def set_net_shaping(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Replace the given fields (already checked); the new :meth:`net_shaping`."""
        ...


# --- small helpers --------------------------------------------------------------------------


def _one_line(text: object, limit: int = 300) -> str:
    return " ".join(show(text).split())[:limit]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def _json(obj: Any, status: int = 200) -> Response:
    return Response(_dumps(obj), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> Response:
    return Response(_dumps({"error": _one_line(message), "code": code}), status_code=status,
                    media_type="application/json", headers=headers)


def _parse_hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        _bad(f"{what}: expected a hex string")
    if not _HEX_RE.match(value):
        _bad(f"{what}: not hex (an even number of 0-9, a-f)")
    return bytes.fromhex(value)


def _parse_id(text: str, what: str) -> bytes:
    if not _ID_RE.match(text):
        _bad(f"{what} {quote(text[:80])}: expected 64 hex characters")
    return bytes.fromhex(text)


def _parse_uint(text: str, what: str) -> int:
    if not _UINT_RE.match(text) or int(text) > _MAX_U64:
        _bad(f"{what} {quote(text[:40])}: expected a non-negative integer")
    return int(text)


def _parse_seconds(text: str | None, default: float, limit: float) -> float:
    if text is None:
        return default
    if not _SECONDS_RE.match(text) or float(text) > limit:
        _bad(f"timeout {quote(text[:40])}: expected seconds from 0 to {limit:g}")
    return float(text)


def _explorer_files() -> dict[str, bytes]:
    """The explorer's files, read once per app (a few tens of kB). A file missing from the
    installed package is left out and answers 404; the API itself works without them."""
    out: dict[str, bytes] = {}
    folder = importlib.resources.files("daoli.node").joinpath("explorer")
    for name in EXPLORER_FILES:
        try:
            out[name] = folder.joinpath(name).read_bytes()
        except OSError as exc:
            log.warning("explorer file %s unreadable: %s", name, os_error_text(exc))
    return out


def _to_store_error(fn: Callable[[bytes], T], raw: bytes, what: str) -> T:
    try:
        return fn(raw)
    except DecodeError as exc:
        raise StoreError(f"corrupt {what} in the store: {exc}") from None


# --- the endpoints --------------------------------------------------------------------------


class _Api:
    """The endpoints, bound to one backend; one instance per app."""

    def __init__(self, backend: NodeBackend, ping_s: float) -> None:
        self.backend = backend
        self.store = backend.store
        self.chain_id = backend.genesis.chain_id
        self.params = backend.genesis.params
        self.ping_s = ping_s
        self.closing = trio.Event()
        self._scopes: set[trio.CancelScope] = set()
        self._streams = 0
        self._limiter = trio.CapacityLimiter(4)
        self._block_id_at = lru_cache(maxsize=4096)(self._read_block_id)
        self._openapi = _dumps(openapi_document())
        self._explorer = _explorer_files()

    # --- plumbing ---------------------------------------------------------------------------

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run store-heavy work off the loop (bounded, so a burst of range queries cannot
        occupy every worker thread)."""
        return await trio.to_thread.run_sync(partial(fn, *args), limiter=self._limiter)

    def close(self) -> None:
        """The node is stopping: end every event stream and wait now."""
        self.closing.set()
        for scope in list(self._scopes):
            scope.cancel()

    @contextmanager
    def _long_request(self) -> Iterator[trio.CancelScope]:
        """A cancel scope for a request that may last long; :meth:`close` cancels it."""
        if self.closing.is_set():
            raise ApiError(503, "unavailable", "the node is stopping")
        if self._streams >= MAX_STREAMS:
            raise ApiError(503, "unavailable",
                           f"too many open event streams and waits (at most {MAX_STREAMS})")
        scope = trio.CancelScope()
        self._scopes.add(scope)
        self._streams += 1
        try:
            with scope:
                yield scope
        finally:
            self._scopes.discard(scope)
            self._streams -= 1

    async def _body(self, request: Request) -> Any:
        """The request's JSON object, read with the size limit enforced while reading."""
        length = request.headers.get("content-length", "")
        if _UINT_RE.match(length) and int(length) > MAX_BODY:
            raise ApiError(413, "too_large", f"request body over {MAX_BODY:,} bytes")
        chunks: list[bytes] = []
        total = 0
        async with aclosing(request.stream()) as stream:  # closed even when we stop early
            async for chunk in stream:
                total += len(chunk)
                if total > MAX_BODY:
                    raise ApiError(413, "too_large", f"request body over {MAX_BODY:,} bytes")
                chunks.append(chunk)
        try:
            data = parse_json(b"".join(chunks), "request body")
        except ConfigError as exc:
            _bad(str(exc))
        if not isinstance(data, dict):
            _bad("request body: expected a JSON object")
        return data

    def _tip_height(self) -> int:
        return self.store.tip_height

    def _height_of_ref(self, ref: str) -> int:
        """A block reference (height, 64-hex id or ``latest``) as a stored block's height."""
        if ref == "latest":
            height = self._tip_height()
            if height == 0:
                _not_found("no block is finalized yet")
            return height
        if len(ref) == 64:
            block_id = _parse_id(ref, "block id")
            h = self.store.height_of(block_id)
            if not h:  # 0 is the genesis id: not a block
                _not_found(f"no block with id {ref}")
            return h
        if not _UINT_RE.match(ref):
            _bad(f"block {quote(ref[:80])}: expected a height, a 64-hex block id or 'latest'")
        height = _parse_uint(ref, "height")
        if not 1 <= height <= self._tip_height():
            _not_found(f"no block at height {height}")
        return height

    def _block_at(self, height: int) -> Block:
        block = self.store.block_by_height(height)
        if block is None:
            _not_found(f"no block at height {height}")
        return block

    def _read_block_id(self, height: int) -> bytes:
        """The id of the stored block at ``height`` (cached: finalized blocks never change)."""
        raw = self.store.block_bytes_by_height(height)
        if raw is None:
            raise StoreError(f"the tx index points at missing block {height}")

        def header_of(data: bytes) -> Header:
            fields = enc.decode_raw(data, max_bytes=len(data))
            if not isinstance(fields, list) or len(fields) != 5:
                raise DecodeError("block: expected 5 fields")
            return enc.object_from_fields(fields[1], Header.TYPE, Header.from_fields,
                                          "block.header")

        return _to_store_error(header_of, raw, f"block at height {height}").id

    def _final_status(self, txid: bytes) -> dict[str, Any] | None:
        """TxStatus of a finalized transaction, None if the store has none (worker thread)."""
        loc = self.store.tx_location(txid)
        if loc is None:
            return None
        tx = self.store.transaction(txid)
        if tx is None:
            return None
        height, index = loc
        return tx_status_view(tx, final=(height, index, self._block_id_at(height)))

    async def _tx_status(self, txid: bytes) -> dict[str, Any] | None:
        """Final in the store, else pending in the pool, else None. The store is read again
        after the pool, in case the transaction was finalized (and pruned) in between. The
        index lookup is a quick LMDB read, done on the loop; only cutting the transaction
        out of its block goes to a thread."""
        for first in (True, False):
            if self.store.tx_location(txid) is not None:
                final = await self._in_thread(self._final_status, txid)
                if final is not None:
                    return final
            if first:
                tx = self.backend.pooled(txid)
                if tx is not None:
                    return tx_status_view(tx, final=None)
        return None

    # --- GET --------------------------------------------------------------------------------

    async def status(self, request: Request) -> Response:
        return _json(self.backend.status())

    async def peers(self, request: Request) -> Response:
        return _json({"peers": self.backend.peers()})

    def _block_json(self, height: int) -> bytes:
        block = self._block_at(height)
        cert_raw = self.store.certificate_bytes(height)
        cert = None if cert_raw is None else _to_store_error(
            CommitCertificate.decode, cert_raw, f"certificate at height {height}")
        return _dumps(block_view(block, cert))

    async def block(self, request: Request) -> Response:
        height = self._height_of_ref(request.path_params["ref"])
        body = await self._in_thread(self._block_json, height)
        return Response(body, media_type="application/json")

    def _range_json(self, start: int, end: int) -> bytes:
        blocks: list[dict[str, Any]] = []
        total = 0
        for raw, cert_raw in self.store.blocks_range(start, end + 1):
            if blocks and total + len(raw) > MAX_RANGE_BYTES:
                break
            block = _to_store_error(lambda b: Block.decode(b, max_bytes=len(b)), raw, "block")
            cert = None if cert_raw is None else _to_store_error(
                CommitCertificate.decode, cert_raw, "certificate")
            blocks.append(block_view(block, cert))
            total += len(raw)
        return _dumps({"blocks": blocks})

    async def blocks(self, request: Request) -> Response:
        q = request.query_params
        if "from" not in q:
            _bad("query parameter 'from' (a height) is required")
        start = max(_parse_uint(q["from"], "from"), 1)
        end = start + MAX_RANGE - 1
        if "to" in q:
            to = _parse_uint(q["to"], "to")
            if to < start:
                _bad(f"'to' ({to}) is below 'from' ({start})")
            end = min(end, to)
        end = min(end, self._tip_height())
        if end < start:
            return _json({"blocks": []})
        body = await self._in_thread(self._range_json, start, end)
        return Response(body, media_type="application/json")

    async def payroll(self, request: Request) -> Response:
        height = self._height_of_ref(request.path_params["ref"])
        block = await self._in_thread(self._block_at, height)
        return _json(payroll_view(block))

    async def tx(self, request: Request) -> Response:
        txid = _parse_id(request.path_params["id"], "transaction id")
        status = await self._tx_status(txid)
        if status is None:
            _not_found(f"transaction {txid.hex()} is neither pooled nor final")
        return _json(status)

    async def tx_wait(self, request: Request) -> Response:
        txid = _parse_id(request.path_params["id"], "transaction id")
        timeout = _parse_seconds(request.query_params.get("timeout"), DEFAULT_WAIT_S,
                                 MAX_WAIT_S)
        answer: list[Response] = []
        with self._long_request() as stopping, self.backend.subscribe() as events:
            # Hypercorn does not cancel a request whose client went away: watch for that
            # here, or a gone client would hold its subscription until the timeout.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_until_disconnect, request.receive, nursery.cancel_scope)
                answer.append(await self._wait_answer(txid, events, timeout))
                nursery.cancel_scope.cancel()
        if answer:
            return answer[0]
        if stopping.cancelled_caught:
            raise ApiError(503, "unavailable", "the node is stopping")
        return Response(status_code=204)  # the client is gone: nobody reads this

    async def _wait_answer(self, txid: bytes, events: EventChannel, timeout: float
                           ) -> Response:
        """The response of a wait, errors included (raised inside a nursery, they would
        arrive wrapped in an exception group)."""
        try:
            # subscribed first, so an event between this check and the wait is not missed
            status = await self._tx_status(txid)
            if status is None:
                _not_found(f"transaction {txid.hex()} is neither pooled nor final")
            if status["status"] == "final":
                return _json(status)
            with trio.move_on_after(timeout):
                return _json(await self._wait_final(txid, events))
            raise ApiError(504, "timeout", f"transaction {txid.hex()} is not final after "
                           f"{timeout:g} s")
        except (ApiError, Unavailable, StoreError) as exc:
            return _error_response(exc, "GET", f"/v1/txs/{txid.hex()}/wait")

    async def _wait_final(self, txid: bytes, events: EventChannel) -> dict[str, Any]:
        """Block until ``txid`` (pending now) is final. Woken by an event naming it, and at
        least every POLL_S (an event may have been missed, or the node may have closed the
        channel); 404 if it leaves the pool unfinalized (replaced or evicted)."""
        want = txid.hex()
        listening = True
        while True:
            with trio.move_on_after(POLL_S):
                while True:
                    if not listening:
                        await trio.sleep_forever()
                    try:
                        kind, data = await events.receive()
                    except (trio.EndOfChannel, trio.ClosedResourceError,
                            trio.BrokenResourceError):
                        listening = False
                        continue
                    if kind == "tx" and data.get("id") == want:
                        break
                    if kind == "block" and want in (data.get("txs") or ()):
                        break
            status = await self._tx_status(txid)
            if status is None:
                _not_found(f"transaction {want} left the mempool without being finalized")
            if status["status"] == "final":
                return status

    async def account(self, request: Request) -> Response:
        ref = request.path_params["address"]
        pubkey: bytes | None = None
        if len(ref) == 2 * PUBKEY_LEN and _HEX_RE.match(ref):
            pubkey = bytes.fromhex(ref)
            if pubkey[0] not in (2, 3):
                _bad(f"public key {quote(ref)}: not a compressed secp256k1 key")
            address = address_bytes_of(pubkey)
        else:
            try:
                address = decode_address(ref)
            except AddressError as exc:
                _bad(str(exc))
        account = ledger.read_account(self.store, address)
        if pubkey is None:
            pubkey = self._pooled_sender(address)
        next_nonce = account.nonce if pubkey is None else self.backend.pending_nonce(pubkey)
        return _json(account_view(address, account, next_nonce))

    def _pooled_sender(self, address: bytes) -> bytes | None:
        """The public key behind ``address`` among the senders of pooled transactions or of
        finalized ones still being stored (then the store's nonce lags the node's tip): the
        pool is keyed by key, a client may only know the address."""
        for pk in self.backend.pending_senders():
            if address_bytes_of(pk) == address:
                return pk
        return None

    async def lineup(self, request: Request) -> Response:
        height = self._tip_height()
        entries = ledger.read_lineup(self.store)
        entries.sort(key=lambda e: -e.until)  # the contract's order, whatever the ledger's
        return _json({"height": height, "lineup": [
            lineup_entry_view(e.miner_pubkey, e.sponsor_pubkey, e.since, e.until)
            for e in entries]})

    # --- the resource market (SPEC 6) ------------------------------------------------------

    def _at_tip(self, read: Callable[[int], T]) -> T:
        """``read(tip height)`` over one ledger state (worker thread).

        The store answers each key in its own read transaction, and a list answer reads many
        keys; a block commits its whole state change and its tip in one write transaction, so
        reads bracketed by two equal tip heights all saw the same state (a seqlock). A lease
        is shown settled to exactly that height.
        """
        for _ in range(TIP_READ_TRIES):
            height = self.store.tip_height
            value = read(height)
            if self.store.tip_height == height:
                return value
        raise ApiError(503, "unavailable", "the chain moved during every read; try again")

    def _account_ref(self, ref: str, what: str) -> bytes:
        """An account address from ``dlc1...`` text or a 66-hex compressed public key."""
        if len(ref) == 2 * PUBKEY_LEN and _HEX_RE.match(ref):
            pubkey = bytes.fromhex(ref)
            if pubkey[0] not in (2, 3):
                _bad(f"{what} {quote(ref)}: not a compressed secp256k1 key")
            return address_bytes_of(pubkey)
        try:
            return decode_address(ref)
        except AddressError as exc:
            _bad(f"{what}: {exc}")

    @staticmethod
    def _query(request: Request, allowed: Sequence[str]) -> dict[str, str]:
        """The query parameters, each at most once and each one this endpoint knows."""
        out: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            if key not in allowed:
                _bad(f"unknown query parameter {quote(key[:40])} (allowed: "
                     f"{', '.join(allowed)})")
            if key in out:
                _bad(f"query parameter {quote(key[:40])} given twice")
            out[key] = value
        return out

    @staticmethod
    def _limit(q: dict[str, str]) -> int:
        if "limit" not in q:
            return DEFAULT_MARKET_LIST
        limit = _parse_uint(q["limit"], "limit")
        if not 1 <= limit <= MAX_MARKET_LIST:
            _bad(f"limit {limit}: expected 1 to {MAX_MARKET_LIST}")
        return limit

    def _lined_up(self, pubkey: bytes, cache: dict[bytes, bool]) -> bool:
        if pubkey not in cache:
            cache[pubkey] = ledger.read_lineup_entry(self.store, pubkey) is not None
        return cache[pubkey]

    def _offers_json(self, provider: bytes | None, mins: tuple[int, int, int, int],
                     max_price: int | None, lined_up: bool | None, limit: int,
                     height: int) -> dict[str, Any]:
        if provider is not None:
            found = market.offers_of(self.store, provider)
            found.sort(key=lambda e: (e[1].price_per_block, e[1].height, e[1].index, e[0]))
            ids: list[tuple[bytes, Offer | None]] = [(i, o) for i, o in found]
        else:
            raw = self.store.get(KEY_OFFER_BOOK)
            book = _to_store_error(OfferBook.decode, raw, "offer book") if raw else None
            ids = [(e[3], None) for e in (book.entries if book is not None else ())
                   if max_price is None or e[0] <= max_price]
        out: list[dict[str, Any]] = []
        count = 0
        lineup: dict[bytes, bool] = {}
        for oid, offer in ids:
            if offer is None:
                offer = market.read_offer(self.store, oid)
                if offer is None:
                    raise StoreError(f"the offer book lists {oid.hex()}, which is not stored")
            if max_price is not None and offer.price_per_block > max_price:
                continue
            if any(have < want for have, want in zip(
                    (offer.cpu_millicores, offer.mem_mib, offer.disk_gib, offer.net_mbps),
                    mins, strict=True)):
                continue
            on_duty = self._lined_up(offer.provider_pubkey, lineup)
            if lined_up is not None and on_duty != lined_up:
                continue
            count += 1
            if len(out) < limit:
                out.append(offer_view(oid, offer, lined_up=on_duty))
        return {"height": height, "count": count, "offers": out}

    async def offers(self, request: Request) -> Response:
        q = self._query(request, ("provider", "min_cpu", "min_mem", "min_disk", "min_net",
                                  "max_price", "lined_up", "limit"))
        provider = self._account_ref(q["provider"], "provider") if "provider" in q else None
        mins = tuple(_parse_uint(q[k], k) if k in q else 0
                     for k in ("min_cpu", "min_mem", "min_disk", "min_net"))
        max_price = _parse_uint(q["max_price"], "max_price") if "max_price" in q else None
        lined_up: bool | None = None
        if "lined_up" in q:
            if q["lined_up"] not in ("true", "false"):
                _bad(f"lined_up {quote(q['lined_up'][:40])}: expected true or false")
            lined_up = q["lined_up"] == "true"
        limit = self._limit(q)
        body = await self._in_thread(self._at_tip, partial(
            self._offers_json, provider, (mins[0], mins[1], mins[2], mins[3]), max_price,
            lined_up, limit))
        return _json(body)

    async def offer(self, request: Request) -> Response:
        oid = _parse_id(request.path_params["id"], "offer id")

        def read(height: int) -> dict[str, Any] | None:
            offer = market.read_offer(self.store, oid)
            if offer is None:
                return None
            on_duty = ledger.read_lineup_entry(self.store, offer.provider_pubkey) is not None
            return offer_view(oid, offer, lined_up=on_duty)

        view = self._at_tip(read)
        if view is None:
            _not_found(f"no live offer {oid.hex()} (never made, cancelled or expired)")
        return _json(view)

    def _orders_json(self, buyer: bytes | None, limit: int, height: int) -> dict[str, Any]:
        found = market.orders_of(self.store, buyer) if buyer is not None \
            else market.read_orders(self.store)
        if buyer is not None:
            found.sort(key=lambda e: (e[1].height, e[1].index, e[0]))
        return {"height": height, "count": len(found),
                "orders": [order_view(i, o) for i, o in found[:limit]]}

    async def orders(self, request: Request) -> Response:
        q = self._query(request, ("buyer", "limit"))
        buyer = self._account_ref(q["buyer"], "buyer") if "buyer" in q else None
        limit = self._limit(q)
        body = await self._in_thread(self._at_tip, partial(self._orders_json, buyer, limit))
        return _json(body)

    async def order(self, request: Request) -> Response:
        oid = _parse_id(request.path_params["id"], "order id")

        def read(height: int) -> tuple[dict[str, Any] | None, bool]:
            order = market.read_order(self.store, oid)
            if order is not None:
                return order_view(oid, order), False
            return None, market.read_lease(self.store, oid) is not None

        view, leased = self._at_tip(read)
        if view is None:
            if leased:
                _not_found(f"order {oid.hex()} is matched: its lease is /v1/leases/{oid.hex()}")
            _not_found(f"no open order {oid.hex()} (never made, matched and closed, or "
                       "refunded at its expiry)")
        return _json(view)

    def _leases_json(self, provider: bytes | None, buyer: bytes | None,
                     account: bytes | None, limit: int, height: int) -> dict[str, Any]:
        anchor = account or provider or buyer
        found: list[tuple[bytes, Lease]]
        if anchor is not None:
            found = market.leases_of(self.store, anchor)
        else:  # every lease: walk the L prefix in id order, decoding only what is shown
            count = 0
            shown: list[dict[str, Any]] = []
            for key, raw in self.store.state_items(PREFIX_LEASE):
                count += 1
                if len(shown) < limit:
                    lease = _to_store_error(Lease.decode, raw, "lease")
                    shown.append(lease_view(key[len(PREFIX_LEASE):], lease, height))
            return {"height": height, "count": count, "leases": shown}
        if provider is not None:
            found = [(i, le) for i, le in found
                     if address_bytes_of(le.provider_pubkey) == provider]
        if buyer is not None:
            found = [(i, le) for i, le in found if address_bytes_of(le.buyer_pubkey) == buyer]
        found.sort(key=lambda e: e[0])
        return {"height": height, "count": len(found),
                "leases": [lease_view(i, le, height) for i, le in found[:limit]]}

    async def leases(self, request: Request) -> Response:
        q = self._query(request, ("provider", "buyer", "account", "limit"))
        who = {k: self._account_ref(q[k], k) if k in q else None
               for k in ("provider", "buyer", "account")}
        limit = self._limit(q)
        body = await self._in_thread(self._at_tip, partial(
            self._leases_json, who["provider"], who["buyer"], who["account"], limit))
        return _json(body)

    async def lease(self, request: Request) -> Response:
        lid = _parse_id(request.path_params["id"], "lease id")

        def read(height: int) -> dict[str, Any] | None:
            lease = market.read_lease(self.store, lid)
            return None if lease is None else lease_view(lid, lease, height)

        view = self._at_tip(read)
        if view is None:
            _not_found(f"no active lease {lid.hex()} (never opened, or closed)")
        return _json(view)

    async def trustees(self, request: Request) -> Response:
        height = self._tip_height()
        active = set(ledger.active_trustees(self.store))
        return _json({"height": height, "epoch": height // self.params.epoch_blocks,
                      "trustees": [trustee_view(t, active=t.pubkey in active)
                                   for t in ledger.read_trustees(self.store)]})

    async def mempool(self, request: Request) -> Response:
        txs = self.backend.mempool_txs()
        return _json({"count": len(txs), "bytes": sum(len(tx.encoded) for tx in txs),
                      "txs": [tx.id.hex() for tx in txs[:MAX_MEMPOOL_IDS]]})

    async def admin_net(self, request: Request) -> Response:
        return _json(self.backend.net_shaping())

    async def admin_set_net(self, request: Request) -> Response:
        body = await self._body(request)
        if not isinstance(body, dict):
            _bad("the body must be a JSON object")
        allowed = {"blocked_peers", "delay_ms", "jitter_ms", "loss"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            _bad(f"unknown field {_one_line(unknown[0], 40)} (allowed: "
                 f"{', '.join(sorted(allowed))})")
        changes: dict[str, Any] = {}
        if "blocked_peers" in body:
            peers = body["blocked_peers"]
            if (not isinstance(peers, list) or len(peers) > MAX_BLOCKED_PEERS
                    or not all(isinstance(p, str) and _PEER_ID_RE.match(p) for p in peers)):
                _bad(f"blocked_peers must be a list of at most {MAX_BLOCKED_PEERS} libp2p "
                     "peer ids")
            changes["blocked_peers"] = list(peers)
        for key, top in (("delay_ms", 60_000.0), ("jitter_ms", 60_000.0), ("loss", 1.0)):
            if key in body:
                v = body[key]
                if type(v) not in (int, float) or not 0 <= v <= top:
                    _bad(f"{key} must be a number from 0 to {top:g}")
                changes[key] = float(v)
        return _json(self.backend.set_net_shaping(changes))

    async def draw(self, request: Request) -> Response:
        draw = self.backend.draw()
        if draw is None:
            raise ApiError(503, "unavailable", "no draw is open right now; try again shortly")
        return _json(draw)

    async def events(self, request: Request) -> Response:
        if request.method == "HEAD":
            return Response(media_type="text/event-stream")
        return _EventStream(self)

    async def metrics(self, request: Request) -> Response:
        body, content_type = self.backend.metrics.render()
        return Response(body, headers={"content-type": content_type})

    async def openapi(self, request: Request) -> Response:
        return Response(self._openapi, media_type="application/json")

    def _explorer_file(self, name: str) -> Response:
        body = self._explorer.get(name)
        if body is None:
            _not_found(f"the explorer's {name} is not installed with this daoli package")
        return Response(body, headers={"content-type": EXPLORER_FILES[name],
                                       **EXPLORER_HEADERS})

    async def explorer(self, request: Request) -> Response:
        return self._explorer_file("index.html")

    async def explorer_js(self, request: Request) -> Response:
        return self._explorer_file("app.js")

    async def explorer_css(self, request: Request) -> Response:
        return self._explorer_file("style.css")

    # --- POST -------------------------------------------------------------------------------

    def _decode_items(self, items: Any, what: str, decode: Callable[[bytes], Any],
                      max_bytes: int) -> list[Any]:
        if not isinstance(items, list) or not items:
            _bad(f"{what}: expected a non-empty list of hex strings")
        if len(items) > MAX_BATCH:
            _bad(f"{what}: {len(items)} items, at most {MAX_BATCH} per request")
        out = []
        for i, item in enumerate(items):
            name = f"{what}[{i}]"
            if isinstance(item, str) and len(item) > 2 * max_bytes:
                _bad(f"{name}: over {max_bytes:,} bytes")
            try:
                obj = decode(_parse_hex(item, name))
            except DecodeError as exc:
                _bad(f"{name}: {exc}")
            if obj.chain_id != self.chain_id:
                _bad(f"{name}: for chain {quote(obj.chain_id)}, this node runs "
                     f"{quote(self.chain_id)}")
            out.append(obj)
        return out

    @staticmethod
    def _results(ids: list[bytes], results: list[tuple[str, str]]) -> Response:
        if len(results) != len(ids):
            raise RuntimeError(f"backend answered {len(results)} results for {len(ids)} items")
        out = []
        for item_id, (status, reason) in zip(ids, results, strict=True):
            if status not in SUBMIT_STATUSES:
                raise RuntimeError(f"backend answered unknown submit status {status!r}")
            entry = {"id": item_id.hex(), "status": status}
            if status == "rejected":
                entry["reason"] = _one_line(reason)
            out.append(entry)
        return _json({"results": out})

    async def submit_txs(self, request: Request) -> Response:
        body = await self._body(request)
        unknown = sorted(set(body) - {"tx", "txs"})
        if unknown:
            _bad(f"request body: unknown field {quote(unknown[0][:40])} (expected 'tx' or 'txs')")
        if ("tx" in body) == ("txs" in body):
            _bad("request body: give exactly one of 'tx' (hex) or 'txs' (a list of hex)")
        if "tx" in body:
            txs = self._decode_items([body["tx"]], "tx", Transaction.decode, MAX_TX_BYTES)
        else:
            txs = self._decode_items(body["txs"], "txs", Transaction.decode, MAX_TX_BYTES)
        results = await self.backend.submit_txs(txs)
        return self._results([tx.id for tx in txs], results)

    async def submit_tickets(self, request: Request) -> Response:
        body = await self._body(request)
        unknown = sorted(set(body) - {"tickets"})
        if unknown:
            _bad(f"request body: unknown field {quote(unknown[0][:40])} (expected 'tickets')")
        if "tickets" not in body:
            _bad("request body: 'tickets' (a list of hex) is required")
        tickets = self._decode_items(body["tickets"], "tickets", Ticket.decode,
                                     MAX_TICKET_BYTES)
        results = await self.backend.submit_tickets(tickets)
        return self._results([t.id for t in tickets], results)


class _EventStream(Response):
    """``GET /v1/events``: server-sent events from :meth:`NodeBackend.subscribe`.

    Not Starlette's StreamingResponse: the stream must end on any of three things (the
    client went away, the node closed the channel, the node is stopping), which a nursery
    and a cancel scope say directly.
    """

    def __init__(self, api: _Api) -> None:
        super().__init__(media_type="text/event-stream")
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = self.api
        with api._long_request(), api.backend.subscribe() as events:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),
            ]})
            await send({"type": "http.response.body", "body": b": connected\n\n",
                        "more_body": True})
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_until_disconnect, receive, nursery.cancel_scope)
                await self._pump(events, send)
                nursery.cancel_scope.cancel()
        # a client that went away gets this too; Hypercorn drops it quietly
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, events: EventChannel, send: Send) -> None:
        while True:
            batch: list[tuple[str, dict[str, Any]]] = []
            with trio.move_on_after(self.api.ping_s):
                try:
                    batch.append(await events.receive())
                    while len(batch) < EVENT_BATCH:
                        batch.append(events.receive_nowait())
                except trio.WouldBlock:
                    pass
                except (trio.EndOfChannel, trio.ClosedResourceError, trio.BrokenResourceError):
                    if batch:
                        await send(_sse_message(batch))
                    return
            await send(_sse_message(batch) if batch else
                       {"type": "http.response.body", "body": b": ping\n\n", "more_body": True})


async def _until_disconnect(receive: Receive, scope: trio.CancelScope) -> None:
    """Cancel ``scope`` when the client goes away (the request body, if any, is skipped)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def _sse_message(batch: list[tuple[str, dict[str, Any]]]) -> Message:
    """A ``block`` item is written as its block event followed by one ``tx`` event per
    transaction (the node queues one item per block)."""
    parts: list[bytes] = []
    for kind, data in batch:
        parts.append(b"event: " + kind.encode("ascii", "replace") + b"\ndata: " + _dumps(data)
                     + b"\n\n")
        if kind == "block":
            height = data.get("height")
            parts.extend(b"event: tx\ndata: " + _dumps({"id": txid, "height": height})
                         + b"\n\n" for txid in data.get("txs") or ())
    return {"type": "http.response.body", "body": b"".join(parts), "more_body": True}


# --- the app --------------------------------------------------------------------------------


class _Guard:
    """Outermost middleware: the bearer token (all but the operations OPS marks ``auth=False``:
    ``/metrics`` and the explorer's static files) and the last line of defence, turning any
    unexpected exception into one logged 500 JSON line."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode("ascii")
        self.open_paths = frozenset(op.path for op in OPS if not op.auth)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, given = bytes(value).partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(),
                                                                           self.token)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if scope.get("path") not in self.open_paths and not self._authorized(scope):
                response = _error(401, "unauthorized", "missing or wrong API token (send "
                                  "'Authorization: Bearer <token>', token from <home>/api_token)",
                                  headers={"www-authenticate": "Bearer"})
                await response(scope, receive, tracking_send)
                return
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            return  # nobody left to answer
        except Exception as exc:  # the contract: a JSON line, never a traceback
            log.error("API %s %s failed: %s", scope.get("method"), show(scope.get("path")),
                      _one_line(f"{type(exc).__name__}: {exc}"), exc_info=exc)
            if not started:
                await _error(500, "internal", "internal error (see the node's log)")(
                    scope, receive, send)


def _error_response(exc: Exception, method: str, path: str) -> Response:
    """The JSON answer to one of the exceptions the API expects (raised anywhere)."""
    if isinstance(exc, ApiError):
        return _error(exc.status, exc.code, str(exc))
    if isinstance(exc, Unavailable):
        return _error(503, "unavailable", str(exc) or "the node is not ready")
    if isinstance(exc, StoreError):
        log.warning("API %s %s: store error: %s", method, show(path), _one_line(exc))
        return _error(500, "internal", f"store error: {exc}")
    raise exc  # pragma: no cover - callers pass only the classes above


async def _api_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError | Unavailable | StoreError):
        return _error_response(exc, request.method, request.url.path)
    if isinstance(exc, HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code,
                                                                  f"http_{exc.status_code}")
        text = {404: f"no such endpoint: {request.url.path}",
                405: f"method {request.method} not allowed on {request.url.path}"}.get(
                    exc.status_code, str(exc.detail))
        return _error(exc.status_code, code, text,
                      headers=None if exc.headers is None else dict(exc.headers))
    raise exc  # pragma: no cover - only registered for the classes above


@dataclass(frozen=True)
class _Op:
    method: str
    path: str
    handler: str
    summary: str
    ok: dict[str, Any]
    errors: tuple[int, ...] = ()
    params: tuple[dict[str, Any], ...] = ()
    body: dict[str, Any] | None = None
    auth: bool = True
    media: str = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": props,
            "required": [k for k in props if k not in optional]}


def _arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_S = {"type": "string"}
_I = {"type": "integer"}
_N = {"type": "number"}
_B = {"type": "boolean"}
_HEX = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}


def _p(name: str, where: str, desc: str, schema: dict[str, Any] | None = None,
       required: bool | None = None) -> dict[str, Any]:
    return {"name": name, "in": where, "description": desc, "schema": schema or _S,
            "required": where == "path" if required is None else required}


_REF_PARAM = _p("ref", "path", "a height, a 64-hex block id, or 'latest'")
_ID_PARAM = _p("id", "path", "transaction id (64 hex)")
_LIMIT_PARAM = _p("limit", "query", "at most this many items (1 to 1000, default 100); "
                  "count says how many matched", _I)

OPS: tuple[_Op, ...] = (
    _Op("GET", "/v1/status", "status", "Node status", _ref("Status")),
    _Op("GET", "/v1/peers", "peers", "Connected peers",
        _obj({"peers": _arr(_obj({"peer_id": _S, "addrs": _arr(_S), "direction": _S},
                                 ("direction",)))})),
    _Op("GET", "/v1/blocks", "blocks", "Finalized blocks by height range",
        _obj({"blocks": _arr(_ref("Block"))}), (400,),
        (_p("from", "query", "first height", _I, True),
         _p("to", "query", "last height (default from+99; capped at the tip, 100 blocks "
            "and 8 MiB of blocks)", _I))),
    _Op("GET", "/v1/blocks/{ref}", "block", "One finalized block", _ref("Block"),
        (400, 404), (_REF_PARAM,)),
    _Op("GET", "/v1/txs/{id}", "tx", "A transaction's status", _ref("TxStatus"), (400, 404),
        (_ID_PARAM,)),
    _Op("GET", "/v1/txs/{id}/wait", "tx_wait", "Wait until a transaction is final",
        _ref("TxStatus"), (400, 404, 503, 504),
        (_ID_PARAM, _p("timeout", "query", "seconds, at most 300 (default 30)",
                       {"type": "number"}))),
    _Op("POST", "/v1/txs", "submit_txs", "Submit signed transactions",
        _obj({"results": _arr(_ref("SubmitResult"))}), (400, 413),
        body=_obj({"tx": _HEX, "txs": _arr(_HEX)}, ("tx", "txs"))),
    _Op("GET", "/v1/accounts/{address}", "account", "An account at the tip",
        _ref("Account"), (400,),
        (_p("address", "path", "a dlc1 address, or a 66-hex compressed public key"),)),
    _Op("GET", "/v1/payroll/{ref}", "payroll", "A block's winner and payroll",
        _obj({"height": _I, "block_id": _S, "winner": _ref("Ticket"),
              "payroll": _arr(_ref("Ticket"))}), (400, 404), (_REF_PARAM,)),
    _Op("GET", "/v1/lineup", "lineup", "Miners lined up at the tip",
        _obj({"height": _I, "lineup": _arr(_obj({"miner": _S, "miner_pubkey": _S,
                                                  "sponsor": _S, "since": _I,
                                                  "until": _I}))})),
    _Op("GET", "/v1/offers", "offers", "Live resource offers at the tip, cheapest first",
        _obj({"height": _I, "count": _I, "offers": _arr(_ref("Offer"))}), (400,),
        (_p("provider", "query", "only this provider: a dlc1 address or a 66-hex public key"),
         _p("min_cpu", "query", "at least this many millicores", _I),
         _p("min_mem", "query", "at least this many MiB of memory", _I),
         _p("min_disk", "query", "at least this many GiB of disk", _I),
         _p("min_net", "query", "at least this many Mbit/s", _I),
         _p("max_price", "query", "price_per_block at most this many li", _I),
         _p("lined_up", "query", "true: only lined-up providers; false: only the others",
            {"type": "string", "enum": ["true", "false"]}),
         _LIMIT_PARAM)),
    _Op("GET", "/v1/offers/{id}", "offer", "One live offer", _ref("Offer"), (400, 404),
        (_p("id", "path", "offer id: its ResourceOffer transaction id (64 hex)"),)),
    _Op("GET", "/v1/orders", "orders", "Open (unmatched) orders at the tip, oldest first",
        _obj({"height": _I, "count": _I, "orders": _arr(_ref("Order"))}), (400,),
        (_p("buyer", "query", "only this buyer: a dlc1 address or a 66-hex public key"),
         _LIMIT_PARAM)),
    _Op("GET", "/v1/orders/{id}", "order", "One open order", _ref("Order"), (400, 404),
        (_p("id", "path", "order id: its ResourceOrder transaction id (64 hex)"),)),
    _Op("GET", "/v1/leases", "leases", "Active leases at the tip, by id",
        _obj({"height": _I, "count": _I, "leases": _arr(_ref("Lease"))}), (400,),
        (_p("provider", "query", "only leases of this provider (address or public key)"),
         _p("buyer", "query", "only leases of this buyer (address or public key)"),
         _p("account", "query", "leases where this account is provider or buyer"),
         _LIMIT_PARAM)),
    _Op("GET", "/v1/leases/{id}", "lease", "One active lease, settled to the tip",
        _ref("Lease"), (400, 404),
        (_p("id", "path", "lease id: the id of the order it came from (64 hex)"),)),
    _Op("GET", "/v1/trustees", "trustees", "Trustees at the tip",
        _obj({"height": _I, "epoch": _I, "trustees": _arr(_ref("Trustee"))})),
    _Op("GET", "/v1/mempool", "mempool", "This node's mempool",
        _obj({"count": _I, "bytes": _I, "txs": _arr(_S)})),
    _Op("GET", "/v1/draw", "draw", "The draw a light miner should work on", _ref("Draw"),
        (503,)),
    _Op("POST", "/v1/tickets", "submit_tickets", "Submit light-miner tickets",
        _obj({"results": _arr(_ref("SubmitResult"))}), (400, 413),
        body=_obj({"tickets": _arr(_HEX)})),
    _Op("GET", "/v1/admin/net", "admin_net", "This node's own network faults (devnets)",
        _ref("NetShaping")),
    _Op("POST", "/v1/admin/net", "admin_set_net",
        "Set this node's own network faults: blocked peers (a partition), delay, jitter and "
        "loss of what it publishes", _ref("NetShaping"), (400, 413),
        body=_obj({"blocked_peers": _arr(_S), "delay_ms": _N, "jitter_ms": _N, "loss": _N},
                  optional=("blocked_peers", "delay_ms", "jitter_ms", "loss"))),
    _Op("GET", "/v1/events", "events", "Server-sent events: finalized blocks and txs",
        {"type": "string"}, (503,), media="text/event-stream"),
    _Op("GET", "/metrics", "metrics", "Prometheus metrics (no token)", {"type": "string"},
        auth=False, media="text/plain"),
    _Op("GET", "/openapi.json", "openapi", "This document", {"type": "object"}),
    _Op("GET", "/explorer", "explorer", "The block explorer page (no token: it asks for one "
        "and calls this API with it)", {"type": "string"}, (404,), auth=False,
        media="text/html"),
    _Op("GET", "/explorer/app.js", "explorer_js", "The explorer's script (no token)",
        {"type": "string"}, (404,), auth=False, media="text/javascript"),
    _Op("GET", "/explorer/style.css", "explorer_css", "The explorer's style sheet (no token)",
        {"type": "string"}, (404,), auth=False, media="text/css"),
)

_TICKET = _obj({"miner": _S, "miner_pubkey": _S, "sponsor": _S, "sponsor_pubkey": _S,
                "cycle": _I, "nonce": _I, "time_ms": _I, "raw": _HEX})
_SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": _S, "code": _S}),
    "NetShaping": _obj({"blocked_peers": _arr(_S), "delay_ms": _N, "jitter_ms": _N,
                        "loss": _N, "shaped_drops": _I}),
    "Status": _obj({"chain_id": _S, "genesis_id": _S, "height": _I, "tip_id": _S,
                    "tip_time_ms": _I, "cycle": _I, "gc_cycle_ms": _I, "round": _I,
                    "peers": _I, "trustees": _I, "trustee": _B, "mempool": _I,
                    "peer_id": _S, "listen": _arr(_S), "syncing": _B, "version": _S}),
    "Ticket": _TICKET,
    "Certificate": _obj({"round": _I, "signers": _arr(_S), "raw": _HEX}),
    "Block": _obj({"height": _I, "id": _S, "parent_id": _S, "cycle": _I, "time_ms": _I,
                   "proposer": _S, "proposer_pubkey": _S, "winner": _ref("Ticket"),
                   "txs": _arr(_S), "n_txs": _I, "payroll": _arr(_ref("Ticket")),
                   "state_root": _S, "size": _I,
                   "certificate": {"oneOf": [_ref("Certificate"), {"type": "null"}]},
                   "raw": _HEX}),
    "Tx": _obj({"id": _S, "type": _S, "sender": _S, "sender_pubkey": _S, "nonce": _I,
                "fee": _I, "fee_dlc": _S, "body": {"type": "object"}, "raw": _HEX}),
    "TxStatus": _obj({"id": _S, "status": {"enum": ["pending", "final"]}, "height": _I,
                      "index": _I, "block_id": _S, "tx": _ref("Tx")},
                     ("height", "index", "block_id")),
    "SubmitResult": _obj({"id": _S, "status": {"enum": list(SUBMIT_STATUSES)},
                          "reason": _S}, ("reason",)),
    "Account": _obj({"address": _S, "balance": _I, "balance_dlc": _S, "nonce": _I,
                     "next_nonce": _I}),
    "Trustee": _obj({"pubkey": _S, "address": _S, "bond": _I, "bond_dlc": _S,
                     "multiaddr": _S, "status": _S, "active": _B, "join_height": _I}),
    "Offer": _obj({"id": _S, "provider": _S, "provider_pubkey": _S, "cpu_millicores": _I,
                   "mem_mib": _I, "disk_gib": _I, "net_mbps": _I, "price_per_block": _I,
                   "price_per_block_dlc": _S, "unit_price": _I, "unit_price_dlc": _S,
                   "capacity": _I, "active": _I, "expires_height": _I, "endpoint": _S,
                   "height": _I, "index": _I, "lined_up": _B, "raw": _HEX}),
    "Order": _obj({"id": _S, "buyer": _S, "buyer_pubkey": _S, "cpu_millicores": _I,
                   "mem_mib": _I, "disk_gib": _I, "net_mbps": _I, "max_price_per_block": _I,
                   "max_price_per_block_dlc": _S, "duration_blocks": _I, "deposit": _I,
                   "deposit_dlc": _S, "height": _I, "index": _I, "expires_height": _I,
                   "raw": _HEX}),
    "Lease": _obj({"id": _S, "order_id": _S, "offer_id": _S, "provider": _S,
                   "provider_pubkey": _S, "buyer": _S, "buyer_pubkey": _S,
                   "price_per_block": _I, "price_per_block_dlc": _S, "unit_price": _I,
                   "unit_price_dlc": _S, "start": _I, "duration_end": _I, "end": _I,
                   "settled": _I, "as_of": _I, "paid": _I, "paid_dlc": _S, "owed": _I,
                   "owed_dlc": _S, "escrow_left": _I, "escrow_left_dlc": _S, "last_seq": _I,
                   "raw": _HEX}),
    "Draw": _obj({"chain_id": _S, "height": _I, "cycle": _I, "parent_id": _S, "seed": _S,
                  "start_ms": _I, "phi_ms": _I, "target": _S, "difficulty": _I,
                  "sponsor_pubkey": _S, "now_ms": _I}),
}
_STATUS_TEXT = {400: "bad_request", 401: "unauthorized", 404: "not_found", 413: "too_large",
                503: "unavailable", 504: "timeout"}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route, from the same table the routes come from."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPS:
        responses: dict[str, Any] = {"200": {"description": "OK", "content": {
            op.media: {"schema": op.ok}}}}
        for status in (*op.errors, *((401,) if op.auth else ())):
            responses[str(status)] = {"description": _STATUS_TEXT[status], "content": {
                "application/json": {"schema": _ref("Error")}}}
        entry: dict[str, Any] = {"operationId": op.handler, "summary": op.summary,
                                 "responses": responses}
        if op.params:
            entry["parameters"] = list(op.params)
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": op.body}}}
        if not op.auth:
            entry["security"] = []
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "DaoliCloud node API", "version": "1",
                 "description": "The local API of a daoli node (docs/api.md)."},
        "servers": [{"url": "http://127.0.0.1:26657"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": _SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }


def build_app(backend: NodeBackend, token: str, *, ping_s: float = PING_S) -> Starlette:
    """The API app for ``backend``; requests need ``Authorization: Bearer <token>``.

    ``ping_s``: seconds between ``: ping`` comments on an idle event stream (tests shorten
    it).
    """
    if not isinstance(token, str) or not token.isascii() or not token.strip():
        raise ConfigError("the API token must be non-empty ASCII text")
    api = _Api(backend, ping_s)
    routes: list[BaseRoute] = [Route(op.path, getattr(api, op.handler), methods=[op.method],
                                     name=op.handler) for op in OPS]
    handlers: dict[Any, Any] = {cls: _api_error for cls in (ApiError, Unavailable, StoreError,
                                                            HTTPException)}
    app = Starlette(routes=routes, middleware=[Middleware(_Guard, token=token)],
                    exception_handlers=handlers)
    # A path with a trailing slash is a 404, not a redirect to another path: clients of
    # this API are programs, and a redirect would carry the bearer token elsewhere.
    app.router.redirect_slashes = False
    app.state.daoli_api = api
    return app


def stop_streams(app: Starlette) -> None:
    """End the app's event streams and waits now (the node is stopping); :func:`serve_api`
    calls it when its shutdown event fires."""
    api = getattr(app.state, "daoli_api", None)
    if isinstance(api, _Api):
        api.close()


# --- serving --------------------------------------------------------------------------------


def _bind_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _OwnSocketConfig(HypercornConfig):
    """Hypercorn's config, serving a socket bound here instead of binding its own.

    Binding here gives a one-line error for a port in use (Hypercorn's own bind raises from
    deep inside its nurseries and leaks the socket), and the exact address bound, which is
    what makes port 0 usable.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def create_sockets(self) -> Sockets:
        return Sockets([], [self._sock], [])


async def _listen_socket(host: str, port: int) -> socket.socket:
    where = _bind_text(host, port)
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                              flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"cannot listen on {where} for the API: cannot resolve "
                          f"{quote(host)} ({_one_line(exc)})") from None
    if not infos:  # pragma: no cover - getaddrinfo raises instead
        raise ConfigError(f"cannot listen on {where} for the API: no address")
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(addr)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {where} for the API: "
                          f"{os_error_text(exc)}") from None
    return sock


async def serve_api(app: Starlette, host: str, port: int, *, shutdown: trio.Event,
                    task_status: TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED
                    ) -> None:
    """Serve ``app`` on ``host:port`` until ``shutdown`` is set.

    ``task_status.started`` gets the (host, port) actually bound, so port 0 works (tests, a
    devnet of many nodes); a port that cannot be bound is a one-line ConfigError. Hypercorn
    logs to the ``daoli.node.api.server`` logger, never per request. Open event streams and
    waits are ended as soon as ``shutdown`` is set, so shutting down takes milliseconds.
    """
    sock = await _listen_socket(host, port)
    try:
        bound = sock.getsockname()
        config = _OwnSocketConfig(sock)
        config.accesslog = None
        config.errorlog = logging.getLogger("daoli.node.api.server")
        config.include_server_header = False
        config.graceful_timeout = 2.0
        config.keep_alive_timeout = 5.0

        async def trigger() -> None:
            await shutdown.wait()
            stop_streams(app)

        asgi: Any = app  # a Starlette app is an ASGI app; Hypercorn's alias does not say so
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(hypercorn.trio.serve, asgi, config,
                                        shutdown_trigger=trigger))
            task_status.started((str(bound[0]), int(bound[1])))
    finally:
        sock.close()


# --- the token file -------------------------------------------------------------------------


def _stat_token(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"API token file {quote(path)}: {os_error_text(exc)}") from None


def _read_token(path: Path, st: os.stat_result) -> str:
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"API token file {quote(path)} is not a regular file")
    if st.st_mode & 0o077:
        raise ConfigError(f"API token file {quote(path)} is open to group or others (mode "
                          f"{stat.S_IMODE(st.st_mode):04o}): run chmod 600 on it")
    text = read_text(path, "API token file", max_bytes=MAX_SECRET_FILE)
    lines = text.splitlines()
    token = lines[0].strip() if lines else ""
    if not _TOKEN_RE.match(token):
        raise ConfigError(f"API token file {quote(path)}: the first line is not "
                          f"{TOKEN_HEX_LEN} hex characters (delete the file to get a new one)")
    return token


def ensure_token(path: Path) -> str:
    """The API token in ``path`` (its first line, 64 hex), made first if the file is missing.

    A new token is written to a temporary file with mode 0600 and fsynced, then hard-linked
    into place: the token file is either absent or whole, and two processes racing to create
    it agree on one token (the loser reads the winner's). A token file that group or others
    may read is refused, not silently fixed: someone may already have read it.
    """
    path = Path(path)
    st = _stat_token(path)
    if st is not None:
        return _read_token(path, st)
    token = secrets.token_hex(TOKEN_HEX_LEN // 2)
    tmp = path.with_name(f".{path.name}.new-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create API token file {quote(path)}: "
                          f"{os_error_text(exc)}") from None
    try:
        try:
            os.fchmod(fd, 0o600)
            write_all_and_sync(fd, (token + "\n").encode("ascii"))
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            st = _stat_token(path)
            if st is None:  # pragma: no cover - created and removed again in between
                raise ConfigError(f"API token file {quote(path)} keeps changing") from None
            return _read_token(path, st)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
                raise
            os.rename(tmp, path)  # a file system without hard links: last writer wins
        fsync_dir(path.parent, best_effort=True)
        return token
    except OSError as exc:
        raise ConfigError(f"cannot write API token file {quote(path)}: "
                          f"{os_error_text(exc)}") from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        except OSError as exc:  # pragma: no cover - the directory turned read-only
            log.warning("could not remove %s: %s", show(tmp), os_error_text(exc))


__all__ = ["MAX_BATCH", "MAX_BODY", "MAX_RANGE", "MAX_WAIT_S", "OPS", "ApiError",
           "NodeBackend", "Unavailable", "build_app", "ensure_token", "openapi_document",
           "serve_api", "stop_streams"]
