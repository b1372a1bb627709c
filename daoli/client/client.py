"""``Client`` (blocking) and ``AsyncClient`` (asyncio or trio) for a node's local API.

Both speak docs/api.md with httpx and share everything but the I/O: request building, error
mapping and response parsing live in :class:`_Base`, so the two cannot drift apart. Every
method returns a frozen dataclass from :mod:`daoli.client.types` and every failure is a
:class:`daoli.errors.DaoliError` with the CLI's exit code:

* :class:`~daoli.errors.NodeUnreachable` (3): connection refused, DNS failure, a timeout
  while connecting, a connection lost mid-answer;
* :class:`~daoli.client.errors.NodeTimeout` (4): ``504 timeout``, or no answer in time;
* :class:`~daoli.client.errors.ApiError` (1; 2 for ``400``/``413``), with
  :class:`~daoli.client.errors.Unauthorized` (401) and :class:`~daoli.client.errors.NotFound`
  (404) as subclasses;
* :class:`~daoli.client.errors.BadResponse` (1): an answer that breaks the contract.

Answers are read with a size limit (``max_response``), so a misbehaving server cannot make
the client buffer without bound.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import AsyncGenerator, Generator, Iterable, Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from daoli.client.errors import (
    ApiError,
    BadResponse,
    NodeTimeout,
    NodeUnreachable,
    NotFound,
    Unauthorized,
)
from daoli.client.sse import SseParser
from daoli.client.types import (
    Account,
    BlockEvent,
    BlockInfo,
    Doc,
    Draw,
    Event,
    LeaseInfo,
    Leases,
    Lineup,
    Mempool,
    OfferInfo,
    Offers,
    OrderInfo,
    Orders,
    Payroll,
    Peer,
    Status,
    SubmitResult,
    Trustees,
    TxEvent,
    TxStatus,
)
from daoli.core.address import ADDRESS_LEN, address_bytes_of, decode_address, encode_address
from daoli.core.crypto import PUBKEY_LEN, pubkey_from_secret
from daoli.core.encoding import MAX_AMOUNT, MAX_U64
from daoli.core.market import make_receipt
from daoli.core.ticket import Ticket
from daoli.core.tx import (
    MAX_ENDPOINT,
    MAX_MEMO,
    Body,
    LeaseClose,
    OfferCancel,
    ResourceOffer,
    ResourceOrder,
    Transaction,
    Transfer,
    TrusteeJoin,
    TrusteeLeave,
    UsageReceipt,
)
from daoli.errors import ConfigError, DaoliError
from daoli.files import parse_json, show

DEFAULT_TIMEOUT = 10.0
MAX_RESPONSE = 1 << 30
"""Largest answer read (100 blocks of 4 MiB are 800 MiB as hex)."""
MAX_BATCH = 1_000
"""Transactions per ``POST /v1/txs`` (docs/api.md, Limits); longer batches are split."""
MAX_BLOCK_RANGE = 100
MAX_SERVER_WAIT = 300.0
"""The longest single wait the node grants; longer waits are made of several."""
EVENT_READ_TIMEOUT = 60.0
"""Without an idle timeout, the event stream counts as dead after this long without a byte
(the node sends ``: ping`` every 15 s)."""
_HEIGHT_RE = re.compile(r"0|[1-9][0-9]{0,19}")
_ID_RE = re.compile(r"[0-9a-fA-F]{64}")


# --- inputs ------------------------------------------------------------------------------------


def block_ref(ref: int | str | bytes) -> str:
    """A block reference for the URL: a height, a 32-byte id (bytes or 64 hex) or ``latest``.

    Anything else is a ConfigError (exit 2): it is the caller's input, not the node's fault.
    """
    if isinstance(ref, bool):
        pass
    elif isinstance(ref, int):
        if 0 <= ref <= MAX_U64:
            return str(ref)
    elif isinstance(ref, bytes):
        if len(ref) == 32:
            return ref.hex()
    elif isinstance(ref, str):
        text = ref.strip()
        if text.lower() == "latest":
            return "latest"
        if _HEIGHT_RE.fullmatch(text) and int(text) <= MAX_U64:
            return text
        if _ID_RE.fullmatch(text):
            return text.lower()
    raise ConfigError(f"block {show(str(ref))[:80]!r}: expected a height, a 64-hex block id "
                      "or 'latest'")


def tx_ref(tx_id: str | bytes) -> str:
    """A transaction id for the URL: 32 bytes, or 64 hex characters."""
    if isinstance(tx_id, bytes) and len(tx_id) == 32:
        return tx_id.hex()
    if isinstance(tx_id, str) and _ID_RE.fullmatch(tx_id.strip()):
        return tx_id.strip().lower()
    raise ConfigError(f"transaction id {show(str(tx_id))[:80]!r}: expected 64 hex characters")


def address_text(address: str | bytes) -> str:
    """A ``dlc1...`` address from text (checked) or from its 20 bytes."""
    if isinstance(address, bytes):
        return encode_address(address)
    decode_address(address)
    return address


def _account_ref(value: str | bytes) -> str:
    """The ``{address}`` of ``/v1/accounts``: an address, or a public key's 66 hex."""
    if isinstance(value, bytes) and len(value) == PUBKEY_LEN:
        return value.hex()
    return address_text(value)


def _address_bytes(address: str | bytes) -> bytes:
    if isinstance(address, bytes):
        if len(address) != ADDRESS_LEN:
            raise ConfigError(f"an address holds {ADDRESS_LEN} bytes, got {len(address)}")
        return address
    return decode_address(address)


def _amount(value: int, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_AMOUNT:
        raise ConfigError(f"{what} must be an integer number of li from 0 to {MAX_AMOUNT}")
    return value


def _check_timeout(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{what} must be a positive, finite number of seconds")
    return float(value)


def sign_transaction(chain_id: str, secret: bytes, body: Body, fee: int,
                     nonce: int) -> Transaction:
    """A transaction of ``body`` from the key ``secret``, signed for ``chain_id``."""
    _amount(fee, "fee")
    if type(nonce) is not int or not 0 <= nonce <= MAX_U64:
        raise ConfigError("nonce must be an integer from 0 to 2^64 - 1")
    return Transaction(chain_id, pubkey_from_secret(secret), nonce, fee, body).signed(secret)


def transfer_body(to: str | bytes, amount: int, memo: bytes = b"") -> Transfer:
    """The body of a transfer; checks the address, amount and memo (at most 256 bytes)."""
    if not isinstance(memo, bytes) or len(memo) > MAX_MEMO:
        raise ConfigError(f"memo must be at most {MAX_MEMO} bytes")
    return Transfer(_address_bytes(to), _amount(amount, "amount"), memo)


def trustee_join_body(bond: int, multiaddr: str) -> TrusteeJoin:
    return TrusteeJoin(_amount(bond, "bond"), multiaddr)


def _uint(value: int, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_U64:
        raise ConfigError(f"{what} must be an integer from 0 to 2^64 - 1")
    return value


def _id_bytes(value: str | bytes, what: str) -> bytes:
    """A 32-byte market id (offer, order or lease) from bytes or 64 hex characters."""
    if isinstance(value, bytes) and len(value) == 32:
        return value
    if isinstance(value, str) and _ID_RE.fullmatch(value.strip()):
        return bytes.fromhex(value.strip())
    raise ConfigError(f"{what} {show(str(value))[:80]!r}: expected 64 hex characters")


def _account_param(value: str | bytes, what: str) -> str:
    """A query value naming an account: a ``dlc1`` address (text or 20 bytes) or a 33-byte
    compressed public key."""
    if isinstance(value, bytes) and len(value) == PUBKEY_LEN:
        return value.hex()
    try:
        return address_text(value)
    except DaoliError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def offer_body(cpu_millicores: int, mem_mib: int, disk_gib: int, net_mbps: int,
               price_per_block: int, *, expires_height: int, unit_price: int = 0,
               capacity: int = 1, endpoint: str = "") -> ResourceOffer:
    """The body of a ResourceOffer: what a provider sells, at ``price_per_block`` li per
    block plus ``unit_price`` li per metered unit (usage receipts), for up to ``capacity``
    leases at once, until block ``expires_height`` (which must be above the tip)."""
    if not isinstance(endpoint, str):
        raise ConfigError("endpoint must be text")
    try:
        size = len(endpoint.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigError("endpoint is not valid UTF-8 text") from None
    if size > MAX_ENDPOINT:
        raise ConfigError(f"endpoint is {size} bytes; at most {MAX_ENDPOINT}")
    if _uint(capacity, "capacity") < 1:
        raise ConfigError("capacity must be at least 1")
    return ResourceOffer(_uint(cpu_millicores, "cpu_millicores"), _uint(mem_mib, "mem_mib"),
                         _uint(disk_gib, "disk_gib"), _uint(net_mbps, "net_mbps"),
                         _amount(price_per_block, "price_per_block"),
                         _amount(unit_price, "unit_price"), capacity,
                         _uint(expires_height, "expires_height"), endpoint)


def order_body(cpu_millicores: int, mem_mib: int, disk_gib: int, net_mbps: int,
               max_price_per_block: int, duration_blocks: int,
               deposit: int | None = None) -> ResourceOrder:
    """The body of a ResourceOrder for ``duration_blocks`` blocks at most
    ``max_price_per_block`` li a block. ``deposit`` (escrowed at once; default: max price x
    blocks, enough for the whole duration at the highest price) must cover one block."""
    price = _amount(max_price_per_block, "max_price_per_block")
    if _uint(duration_blocks, "duration_blocks") < 1:
        raise ConfigError("duration_blocks must be at least 1")
    if deposit is None:
        deposit = price * duration_blocks
        if deposit > MAX_AMOUNT:
            raise ConfigError("max_price_per_block x duration_blocks is more than any balance "
                              "can hold: give a smaller deposit")
    if _amount(deposit, "deposit") < price:
        raise ConfigError("deposit must be at least max_price_per_block (one block)")
    return ResourceOrder(_uint(cpu_millicores, "cpu_millicores"), _uint(mem_mib, "mem_mib"),
                         _uint(disk_gib, "disk_gib"), _uint(net_mbps, "net_mbps"), price,
                         duration_blocks, deposit)


def offer_cancel_body(offer_id: str | bytes) -> OfferCancel:
    return OfferCancel(_id_bytes(offer_id, "offer id"))


def lease_close_body(lease_id: str | bytes) -> LeaseClose:
    return LeaseClose(_id_bytes(lease_id, "lease id"))


def usage_receipt_body(buyer_secret: bytes, chain_id: str, lease_id: str | bytes, units: int,
                       seq: int) -> UsageReceipt:
    """A usage receipt signed by the **buyer** (``daoli.core.market.make_receipt``): it
    acknowledges ``units`` of metered use, billed at the lease's ``unit_price``. The provider
    submits it in its own transaction (:meth:`Client.usage_receipt`); ``seq`` must be above
    the lease's ``last_seq`` and is billed once."""
    if _uint(seq, "seq") < 1:
        raise ConfigError("seq must be at least 1 (receipt numbers start above 0)")
    return make_receipt(buyer_secret, chain_id, _id_bytes(lease_id, "lease id"),
                        _uint(units, "units"), seq)


def _market_params(**given: Any) -> dict[str, str]:
    """Query parameters of the market lists, checked; None values are left out."""
    out: dict[str, str] = {}
    for key, value in given.items():
        if value is None:
            continue
        if key in ("provider", "buyer", "account"):
            out[key] = _account_param(value, key)
        elif key == "lined_up":
            if not isinstance(value, bool):
                raise ConfigError("lined_up must be True, False or None")
            out[key] = "true" if value else "false"
        elif key == "limit":
            if type(value) is not int or not 1 <= value <= 1_000:
                raise ConfigError("limit must be an integer from 1 to 1000")
            out[key] = str(value)
        else:
            out[key] = str(_uint(value, key))
    return out


# --- the shared part ---------------------------------------------------------------------------


def _os_reason(exc: BaseException) -> str:
    """The OS-level reason behind an httpx error, as short lower-case text (no errno)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.strerror:
            return cur.strerror.lower()
        cur = cur.__cause__ or cur.__context__
    text = re.sub(r"\[Errno -?\d+\]\s*", "", str(exc)).strip()
    return show(text.splitlines()[0].lower())[:120] if text else type(exc).__name__.lower()


def _server_error(status: int, body: bytes, url: str) -> DaoliError:
    """The error for a non-2xx answer: ``{"error", "code"}`` when the body has them."""
    message, code = "", ""
    try:
        doc = json.loads(body[:65536]) if body else None
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict):
        if isinstance(doc.get("error"), str):
            message = doc["error"]
        if isinstance(doc.get("code"), str):
            code = doc["code"]
    message = show(" ".join(message.split()))[:300]
    code = show(code)[:40] or {400: "bad_request", 401: "unauthorized", 404: "not_found",
                               413: "too_large", 503: "unavailable",
                               504: "timeout"}.get(status, "error")
    if status == 504:
        return NodeTimeout(f"the node at {url} timed out: {message or 'a wait ran out'}")
    if status == 401:
        return Unauthorized(status, code, message or "the API token is missing or wrong "
                            "(it is the first line of <home>/api_token, or $DAOLI_API_TOKEN)")
    if status == 404:
        return NotFound(status, code, message or "not found")
    return ApiError(status, code, message or f"the node at {url} refused the request")


def _json_of(status: int, body: bytes, url: str) -> Any:
    if not 200 <= status < 300:
        raise _server_error(status, body, url)
    return parse_json(body, f"the answer of the node at {url}", error=BadResponse)


def _results(data: Any, sent: Sequence[bytes]) -> list[SubmitResult]:
    d = Doc(data, "submit")
    results = [SubmitResult.from_json(r.data, r.where) for r in d.docs("results")]
    if len(results) != len(sent):
        raise BadResponse(f"node answer: {len(results)} results for {len(sent)} items")
    for i, (r, item_id) in enumerate(zip(results, sent, strict=True)):
        if r.id != item_id:
            raise BadResponse(f"node answer: result {i} is for {r.id.hex()}, not for "
                              f"{item_id.hex()}")
    return results


def _event(name: str, data: str) -> Event | None:
    if name not in ("block", "tx"):
        return None  # newer event kinds are for newer clients
    doc = parse_json(data, f"event {name}", error=BadResponse)
    return BlockEvent.from_json(doc) if name == "block" else TxEvent.from_json(doc)


class _Base:
    """URL, token and timeouts, plus everything that does not do I/O."""

    def __init__(self, url: str, token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        text = url.strip() if isinstance(url, str) else ""
        if text and "://" not in text:
            text = "http://" + text
        text = text.rstrip("/") if not text.endswith("://") else text
        try:
            parsed = httpx.URL(text)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise ConfigError(f"node URL {show(str(url))[:80]!r} is not a URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(f"node URL {show(str(url))[:80]!r}: expected "
                              "http://host:port")
        self.url = text
        self.token = token
        self.timeout = _check_timeout(timeout, "timeout")
        self._chain_id: str | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _timeout(self, read: float | None = None) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=read if read is not None else self.timeout)

    def _transport_error(self, exc: Exception, read: float | None = None) -> DaoliError:
        if isinstance(exc, httpx.ConnectTimeout):
            return NodeUnreachable(f"cannot reach the node at {self.url}: no answer to the "
                                   f"connection within {self.timeout:g} s")
        if isinstance(exc, httpx.ConnectError):
            return NodeUnreachable(f"cannot reach the node at {self.url}: {_os_reason(exc)}")
        if isinstance(exc, httpx.TimeoutException):
            wait = read if read is not None else self.timeout
            return NodeTimeout(f"the node at {self.url} did not answer within {wait:g} s")
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return ConfigError(f"node URL {self.url}: {_os_reason(exc)}")
        return NodeUnreachable(f"lost the connection to the node at {self.url}: "
                               f"{_os_reason(exc)}")

    @staticmethod
    def _read_limit(total: int, chunk: bytes) -> int:
        total += len(chunk)
        if total > MAX_RESPONSE:
            raise BadResponse(f"node answer: larger than {MAX_RESPONSE:,} bytes")
        return total

    @staticmethod
    def _wait_slices(timeout: float) -> float:
        return min(timeout, MAX_SERVER_WAIT)

    @staticmethod
    def _tx_body(txs: Sequence[Transaction]) -> list[bytes]:
        for tx in txs:
            if not isinstance(tx, Transaction):
                raise ConfigError("submit: expected daoli.core.tx.Transaction objects")
        return [tx.encoded for tx in txs]


_Json = Any


class Client(_Base):
    """A blocking client for one node's API.

    >>> with Client("http://127.0.0.1:26657", token) as node:  # doctest: +SKIP
    ...     print(node.status().height)

    ``token`` is the node's API token (see :func:`daoli.client.token_from_home`);
    ``timeout`` bounds connecting and each answer, in seconds (waits get their own).
    ``transport`` is for tests (``httpx.MockTransport``).
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 *, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(url, token, timeout)
        self._http = httpx.Client(base_url=self.url, transport=transport,
                                  timeout=self._timeout(), follow_redirects=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                 body: Any = None, read: float | None = None) -> _Json:
        content = None if body is None else json.dumps(body).encode()
        headers = self._headers()
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            with self._http.stream(method, path, params=params, content=content,
                                   headers=headers, timeout=self._timeout(read)) as resp:
                chunks: list[bytes] = []
                total = 0
                for chunk in resp.iter_bytes():
                    total = self._read_limit(total, chunk)
                    chunks.append(chunk)
                status = resp.status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._transport_error(exc, read) from None
        return _json_of(status, b"".join(chunks), self.url)

    def _get(self, path: str, **kw: Any) -> _Json:
        return self._request("GET", path, **kw)

    # --- node ---------------------------------------------------------------------------------

    def status(self) -> Status:
        """Chain tip, clock cycle, peers, trustees and mempool size of the node."""
        status = Status.from_json(self._get("/v1/status"))
        self._chain_id = status.chain_id
        return status

    def chain_id(self) -> str:
        """The node's chain id (asked once, then remembered)."""
        if self._chain_id is None:
            self.status()
        assert self._chain_id is not None
        return self._chain_id

    def peers(self) -> list[Peer]:
        d = Doc(self._get("/v1/peers"), "peers")
        return [Peer.from_json(p.data, p.where) for p in d.docs("peers")]

    # --- chain --------------------------------------------------------------------------------

    def block(self, ref: int | str | bytes = "latest") -> BlockInfo:
        """A block by height, id or ``"latest"``, decoded (``.block``) and checked."""
        return BlockInfo.from_json(self._get(f"/v1/blocks/{block_ref(ref)}"))

    def blocks(self, from_: int, to: int | None = None) -> list[BlockInfo]:
        """Blocks ``from_``..``to`` inclusive (the node returns at most 100, up to its tip)."""
        params = {"from": block_ref(from_)}
        if to is not None:
            params["to"] = block_ref(to)
        d = Doc(self._get("/v1/blocks", params=params), "blocks")
        return [BlockInfo.from_json(b.data, b.where) for b in d.docs("blocks")]

    def tx(self, tx_id: str | bytes) -> TxStatus:
        """A pooled or final transaction; :class:`NotFound` if the node knows neither."""
        return TxStatus.from_json(self._get(f"/v1/txs/{tx_ref(tx_id)}"))

    def wait_for_tx(self, tx_id: str | bytes, timeout: float = 30.0) -> TxStatus:
        """Block until the transaction is final; :class:`NodeTimeout` after ``timeout`` s."""
        ref = tx_ref(tx_id)
        deadline = time.monotonic() + _check_timeout(timeout, "timeout")
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NodeTimeout(f"transaction {ref} was not final within {timeout:g} s")
            wait = self._wait_slices(left)
            try:
                return TxStatus.from_json(self._get(
                    f"/v1/txs/{ref}/wait", params={"timeout": f"{max(wait, 0.001):.3f}"},
                    read=wait + self.timeout))
            except NodeTimeout:
                if deadline - time.monotonic() <= 0.05:
                    raise NodeTimeout(f"transaction {ref} was not final within "
                                      f"{timeout:g} s") from None

    def account(self, address: str | bytes) -> Account:
        """Balance and nonces of a ``dlc1...`` address (or its 20 bytes), or of a 33-byte
        public key: the node then counts the key's pooled transactions in ``next_nonce``
        from its own chain view, which is the safe way to pick a nonce while earlier
        transactions of the key are being finalized."""
        return Account.from_json(self._get(f"/v1/accounts/{_account_ref(address)}"))

    def payroll(self, ref: int | str | bytes = "latest") -> Payroll:
        return Payroll.from_json(self._get(f"/v1/payroll/{block_ref(ref)}"))

    def lineup(self) -> Lineup:
        return Lineup.from_json(self._get("/v1/lineup"))

    def trustees(self) -> Trustees:
        return Trustees.from_json(self._get("/v1/trustees"))

    def mempool(self) -> Mempool:
        return Mempool.from_json(self._get("/v1/mempool"))

    def draw(self) -> Draw:
        """The lottery draw a light miner should work on now (see ``daoli mine``)."""
        return Draw.from_json(self._get("/v1/draw"))

    # --- the resource market ------------------------------------------------------------------

    def offers(self, *, provider: str | bytes | None = None, min_cpu: int | None = None,
               min_mem: int | None = None, min_disk: int | None = None,
               min_net: int | None = None, max_price: int | None = None,
               lined_up: bool | None = None, limit: int | None = None) -> Offers:
        """Live offers at the tip, cheapest first (then oldest); filters are ANDed.
        ``provider``: an address (text or 20 bytes) or a 33-byte public key; resources in
        millicores, MiB, GiB and Mbit/s; ``max_price`` in li per block."""
        return Offers.from_json(self._get("/v1/offers", params=_market_params(
            provider=provider, min_cpu=min_cpu, min_mem=min_mem, min_disk=min_disk,
            min_net=min_net, max_price=max_price, lined_up=lined_up, limit=limit)))

    def offer(self, offer_id: str | bytes) -> OfferInfo:
        """One live offer; :class:`NotFound` once cancelled or expired."""
        ref = _id_bytes(offer_id, "offer id").hex()
        return OfferInfo.from_json(self._get(f"/v1/offers/{ref}"))

    def orders(self, *, buyer: str | bytes | None = None, limit: int | None = None) -> Orders:
        """Open (unmatched) orders, oldest first."""
        return Orders.from_json(self._get("/v1/orders", params=_market_params(
            buyer=buyer, limit=limit)))

    def order(self, order_id: str | bytes) -> OrderInfo:
        """One open order; :class:`NotFound` once matched (see :meth:`lease` with the same
        id) or refunded."""
        ref = _id_bytes(order_id, "order id").hex()
        return OrderInfo.from_json(self._get(f"/v1/orders/{ref}"))

    def leases(self, *, provider: str | bytes | None = None, buyer: str | bytes | None = None,
               account: str | bytes | None = None, limit: int | None = None) -> Leases:
        """Active leases settled to the tip, by id; ``account`` finds both roles."""
        return Leases.from_json(self._get("/v1/leases", params=_market_params(
            provider=provider, buyer=buyer, account=account, limit=limit)))

    def lease(self, lease_id: str | bytes) -> LeaseInfo:
        """One active lease settled to the tip (its id is its order's id); :class:`NotFound`
        once closed."""
        ref = _id_bytes(lease_id, "lease id").hex()
        return LeaseInfo.from_json(self._get(f"/v1/leases/{ref}"))

    # --- submitting ---------------------------------------------------------------------------

    def submit(self, tx: Transaction) -> SubmitResult:
        """Hand one signed transaction to the node's mempool (and the network)."""
        body = self._tx_body([tx])
        data = self._request("POST", "/v1/txs", body={"tx": body[0].hex()})
        return _results(data, [tx.id])[0]

    def submit_batch(self, txs: Iterable[Transaction]) -> list[SubmitResult]:
        """Submit many transactions; one result each, in order (split into batches of
        1,000 as the node requires)."""
        items = list(txs)
        raw = self._tx_body(items)
        out: list[SubmitResult] = []
        for i in range(0, len(items), MAX_BATCH):
            data = self._request("POST", "/v1/txs",
                                 body={"txs": [r.hex() for r in raw[i:i + MAX_BATCH]]})
            out += _results(data, [tx.id for tx in items[i:i + MAX_BATCH]])
        return out

    def submit_tickets(self, tickets: Iterable[Ticket]) -> list[SubmitResult]:
        """Hand tickets signed by a light miner to the node, which sponsors them."""
        items = list(tickets)
        data = self._request("POST", "/v1/tickets",
                             body={"tickets": [t.encoded.hex() for t in items]})
        return _results(data, [t.id for t in items])

    # --- building and signing -----------------------------------------------------------------

    def next_nonce(self, address: str | bytes) -> int:
        return self.account(address).next_nonce

    def sign(self, secret: bytes, body: Body, fee: int, nonce: int | None = None
             ) -> Transaction:
        """A signed transaction of ``body`` for this node's chain; the nonce defaults to the
        sender's ``next_nonce`` (which counts the node's pooled transactions)."""
        if nonce is None:
            nonce = self.next_nonce(encode_address(_sender(secret)))
        return sign_transaction(self.chain_id(), secret, body, fee, nonce)

    def transfer(self, secret: bytes, to: str | bytes, amount: int, fee: int,
                 nonce: int | None = None, memo: bytes = b"") -> Transaction:
        """A signed transfer of ``amount`` li to ``to`` (not yet submitted)."""
        return self.sign(secret, transfer_body(to, amount, memo), fee, nonce)

    def trustee_join(self, secret: bytes, bond: int, multiaddr: str, fee: int,
                     nonce: int | None = None) -> Transaction:
        return self.sign(secret, trustee_join_body(bond, multiaddr), fee, nonce)

    def trustee_leave(self, secret: bytes, fee: int, nonce: int | None = None) -> Transaction:
        return self.sign(secret, TrusteeLeave(), fee, nonce)

    def resource_offer(self, secret: bytes, body: ResourceOffer, fee: int,
                       nonce: int | None = None) -> Transaction:
        """A signed ResourceOffer (build ``body`` with :func:`offer_body`); the offer's id
        is the transaction's id."""
        return self.sign(secret, body, fee, nonce)

    def resource_order(self, secret: bytes, body: ResourceOrder, fee: int,
                       nonce: int | None = None) -> Transaction:
        """A signed ResourceOrder (:func:`order_body`); its id is the order's id and, once
        matched, the lease's id."""
        return self.sign(secret, body, fee, nonce)

    def offer_cancel(self, secret: bytes, offer_id: str | bytes, fee: int,
                     nonce: int | None = None) -> Transaction:
        return self.sign(secret, offer_cancel_body(offer_id), fee, nonce)

    def lease_close(self, secret: bytes, lease_id: str | bytes, fee: int,
                    nonce: int | None = None) -> Transaction:
        """Close a lease (its provider or its buyer): the provider is paid to this block and
        the escrow left returns to the buyer."""
        return self.sign(secret, lease_close_body(lease_id), fee, nonce)

    def receipt(self, buyer_secret: bytes, lease_id: str | bytes, units: int, seq: int
                ) -> UsageReceipt:
        """A usage receipt signed by the buyer for this node's chain, to hand to the
        provider (see :func:`usage_receipt_body`)."""
        return usage_receipt_body(buyer_secret, self.chain_id(), lease_id, units, seq)

    def usage_receipt(self, provider_secret: bytes, receipt: UsageReceipt, fee: int,
                      nonce: int | None = None) -> Transaction:
        """The provider's transaction carrying a buyer-signed receipt."""
        if not isinstance(receipt, UsageReceipt):
            raise ConfigError("usage_receipt: expected a daoli.core.tx.UsageReceipt")
        return self.sign(provider_secret, receipt, fee, nonce)

    # --- events -------------------------------------------------------------------------------

    def events(self, idle_timeout: float | None = None
               ) -> Generator[Event, None, None]:
        """Finalized blocks and transactions as they happen (``GET /v1/events``).

        Runs until the caller stops iterating. With ``idle_timeout``, :class:`NodeTimeout`
        when no event came for that long (checked whenever bytes arrive; the node pings
        every 15 s). The end of the stream is :class:`NodeUnreachable`.
        """
        read = _check_timeout(idle_timeout, "idle timeout") if idle_timeout is not None \
            else EVENT_READ_TIMEOUT
        headers = {**self._headers(), "Accept": "text/event-stream"}
        try:
            with self._http.stream("GET", "/v1/events", headers=headers,
                                   timeout=self._timeout(read)) as resp:
                if resp.status_code != 200:
                    body = b""
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) > 65536:
                            break
                    raise _server_error(resp.status_code, body, self.url)
                parser = SseParser()
                last = time.monotonic()
                for chunk in resp.iter_bytes():
                    for name, data in parser.feed(chunk):
                        event = _event(name, data)
                        if event is not None:
                            last = time.monotonic()
                            yield event
                    if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                        raise NodeTimeout(f"no event from the node at {self.url} within "
                                          f"{idle_timeout:g} s")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            if isinstance(exc, httpx.ReadTimeout) and idle_timeout is not None:
                raise NodeTimeout(f"no event from the node at {self.url} within "
                                  f"{idle_timeout:g} s") from None
            raise self._transport_error(exc, read) from None
        raise NodeUnreachable(f"the node at {self.url} ended the event stream")


def _sender(secret: bytes) -> bytes:
    return address_bytes_of(pubkey_from_secret(secret))


class AsyncClient(_Base):
    """The same API as :class:`Client`, with ``await``; runs under asyncio and trio (httpx
    uses anyio). Use ``async with AsyncClient(url, token) as node: ...``."""

    def __init__(self, url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(url, token, timeout)
        self._http = httpx.AsyncClient(base_url=self.url, transport=transport,
                                       timeout=self._timeout(), follow_redirects=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                       body: Any = None, read: float | None = None) -> _Json:
        content = None if body is None else json.dumps(body).encode()
        headers = self._headers()
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._http.stream(method, path, params=params, content=content,
                                         headers=headers, timeout=self._timeout(read)) as resp:
                chunks: list[bytes] = []
                total = 0
                async for chunk in resp.aiter_bytes():
                    total = self._read_limit(total, chunk)
                    chunks.append(chunk)
                status = resp.status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._transport_error(exc, read) from None
        return _json_of(status, b"".join(chunks), self.url)

    async def _get(self, path: str, **kw: Any) -> _Json:
        return await self._request("GET", path, **kw)

    async def status(self) -> Status:
        status = Status.from_json(await self._get("/v1/status"))
        self._chain_id = status.chain_id
        return status

    async def chain_id(self) -> str:
        if self._chain_id is None:
            await self.status()
        assert self._chain_id is not None
        return self._chain_id

    async def peers(self) -> list[Peer]:
        d = Doc(await self._get("/v1/peers"), "peers")
        return [Peer.from_json(p.data, p.where) for p in d.docs("peers")]

    async def block(self, ref: int | str | bytes = "latest") -> BlockInfo:
        return BlockInfo.from_json(await self._get(f"/v1/blocks/{block_ref(ref)}"))

    async def blocks(self, from_: int, to: int | None = None) -> list[BlockInfo]:
        params = {"from": block_ref(from_)}
        if to is not None:
            params["to"] = block_ref(to)
        d = Doc(await self._get("/v1/blocks", params=params), "blocks")
        return [BlockInfo.from_json(b.data, b.where) for b in d.docs("blocks")]

    async def tx(self, tx_id: str | bytes) -> TxStatus:
        return TxStatus.from_json(await self._get(f"/v1/txs/{tx_ref(tx_id)}"))

    async def wait_for_tx(self, tx_id: str | bytes, timeout: float = 30.0) -> TxStatus:
        ref = tx_ref(tx_id)
        deadline = time.monotonic() + _check_timeout(timeout, "timeout")
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NodeTimeout(f"transaction {ref} was not final within {timeout:g} s")
            wait = self._wait_slices(left)
            try:
                return TxStatus.from_json(await self._get(
                    f"/v1/txs/{ref}/wait", params={"timeout": f"{max(wait, 0.001):.3f}"},
                    read=wait + self.timeout))
            except NodeTimeout:
                if deadline - time.monotonic() <= 0.05:
                    raise NodeTimeout(f"transaction {ref} was not final within "
                                      f"{timeout:g} s") from None

    async def account(self, address: str | bytes) -> Account:
        return Account.from_json(await self._get(f"/v1/accounts/{_account_ref(address)}"))

    async def payroll(self, ref: int | str | bytes = "latest") -> Payroll:
        return Payroll.from_json(await self._get(f"/v1/payroll/{block_ref(ref)}"))

    async def lineup(self) -> Lineup:
        return Lineup.from_json(await self._get("/v1/lineup"))

    async def trustees(self) -> Trustees:
        return Trustees.from_json(await self._get("/v1/trustees"))

    async def mempool(self) -> Mempool:
        return Mempool.from_json(await self._get("/v1/mempool"))

    async def draw(self) -> Draw:
        return Draw.from_json(await self._get("/v1/draw"))

    async def offers(self, *, provider: str | bytes | None = None, min_cpu: int | None = None,
                     min_mem: int | None = None, min_disk: int | None = None,
                     min_net: int | None = None, max_price: int | None = None,
                     lined_up: bool | None = None, limit: int | None = None) -> Offers:
        return Offers.from_json(await self._get("/v1/offers", params=_market_params(
            provider=provider, min_cpu=min_cpu, min_mem=min_mem, min_disk=min_disk,
            min_net=min_net, max_price=max_price, lined_up=lined_up, limit=limit)))

    async def offer(self, offer_id: str | bytes) -> OfferInfo:
        ref = _id_bytes(offer_id, "offer id").hex()
        return OfferInfo.from_json(await self._get(f"/v1/offers/{ref}"))

    async def orders(self, *, buyer: str | bytes | None = None, limit: int | None = None
                     ) -> Orders:
        return Orders.from_json(await self._get("/v1/orders", params=_market_params(
            buyer=buyer, limit=limit)))

    async def order(self, order_id: str | bytes) -> OrderInfo:
        ref = _id_bytes(order_id, "order id").hex()
        return OrderInfo.from_json(await self._get(f"/v1/orders/{ref}"))

    async def leases(self, *, provider: str | bytes | None = None,
                     buyer: str | bytes | None = None, account: str | bytes | None = None,
                     limit: int | None = None) -> Leases:
        return Leases.from_json(await self._get("/v1/leases", params=_market_params(
            provider=provider, buyer=buyer, account=account, limit=limit)))

    async def lease(self, lease_id: str | bytes) -> LeaseInfo:
        ref = _id_bytes(lease_id, "lease id").hex()
        return LeaseInfo.from_json(await self._get(f"/v1/leases/{ref}"))

    async def submit(self, tx: Transaction) -> SubmitResult:
        body = self._tx_body([tx])
        data = await self._request("POST", "/v1/txs", body={"tx": body[0].hex()})
        return _results(data, [tx.id])[0]

    async def submit_batch(self, txs: Iterable[Transaction]) -> list[SubmitResult]:
        items = list(txs)
        raw = self._tx_body(items)
        out: list[SubmitResult] = []
        for i in range(0, len(items), MAX_BATCH):
            data = await self._request("POST", "/v1/txs",
                                       body={"txs": [r.hex() for r in raw[i:i + MAX_BATCH]]})
            out += _results(data, [tx.id for tx in items[i:i + MAX_BATCH]])
        return out

    async def submit_tickets(self, tickets: Iterable[Ticket]) -> list[SubmitResult]:
        items = list(tickets)
        data = await self._request("POST", "/v1/tickets",
                                   body={"tickets": [t.encoded.hex() for t in items]})
        return _results(data, [t.id for t in items])

    async def next_nonce(self, address: str | bytes) -> int:
        return (await self.account(address)).next_nonce

    async def sign(self, secret: bytes, body: Body, fee: int, nonce: int | None = None
                   ) -> Transaction:
        if nonce is None:
            nonce = await self.next_nonce(encode_address(_sender(secret)))
        return sign_transaction(await self.chain_id(), secret, body, fee, nonce)

    async def transfer(self, secret: bytes, to: str | bytes, amount: int, fee: int,
                       nonce: int | None = None, memo: bytes = b"") -> Transaction:
        return await self.sign(secret, transfer_body(to, amount, memo), fee, nonce)

    async def trustee_join(self, secret: bytes, bond: int, multiaddr: str, fee: int,
                           nonce: int | None = None) -> Transaction:
        return await self.sign(secret, trustee_join_body(bond, multiaddr), fee, nonce)

    async def trustee_leave(self, secret: bytes, fee: int, nonce: int | None = None
                            ) -> Transaction:
        return await self.sign(secret, TrusteeLeave(), fee, nonce)

    async def resource_offer(self, secret: bytes, body: ResourceOffer, fee: int,
                             nonce: int | None = None) -> Transaction:
        return await self.sign(secret, body, fee, nonce)

    async def resource_order(self, secret: bytes, body: ResourceOrder, fee: int,
                             nonce: int | None = None) -> Transaction:
        return await self.sign(secret, body, fee, nonce)

    async def offer_cancel(self, secret: bytes, offer_id: str | bytes, fee: int,
                           nonce: int | None = None) -> Transaction:
        return await self.sign(secret, offer_cancel_body(offer_id), fee, nonce)

    async def lease_close(self, secret: bytes, lease_id: str | bytes, fee: int,
                          nonce: int | None = None) -> Transaction:
        return await self.sign(secret, lease_close_body(lease_id), fee, nonce)

    async def receipt(self, buyer_secret: bytes, lease_id: str | bytes, units: int, seq: int
                      ) -> UsageReceipt:
        return usage_receipt_body(buyer_secret, await self.chain_id(), lease_id, units, seq)

    async def usage_receipt(self, provider_secret: bytes, receipt: UsageReceipt, fee: int,
                            nonce: int | None = None) -> Transaction:
        if not isinstance(receipt, UsageReceipt):
            raise ConfigError("usage_receipt: expected a daoli.core.tx.UsageReceipt")
        return await self.sign(provider_secret, receipt, fee, nonce)

    async def events(self, idle_timeout: float | None = None
                     ) -> AsyncGenerator[Event, None]:
        """See :meth:`Client.events`; use ``async for event in node.events(): ...`` and
        close it (``aclosing``) if you stop early under trio."""
        read = _check_timeout(idle_timeout, "idle timeout") if idle_timeout is not None \
            else EVENT_READ_TIMEOUT
        headers = {**self._headers(), "Accept": "text/event-stream"}
        try:
            async with self._http.stream("GET", "/v1/events", headers=headers,
                                         timeout=self._timeout(read)) as resp:
                if resp.status_code != 200:
                    body = b""
                    async for chunk in resp.aiter_bytes():
                        body += chunk
                        if len(body) > 65536:
                            break
                    raise _server_error(resp.status_code, body, self.url)
                parser = SseParser()
                last = time.monotonic()
                async for chunk in resp.aiter_bytes():
                    for name, data in parser.feed(chunk):
                        event = _event(name, data)
                        if event is not None:
                            last = time.monotonic()
                            yield event
                    if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                        raise NodeTimeout(f"no event from the node at {self.url} within "
                                          f"{idle_timeout:g} s")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            if isinstance(exc, httpx.ReadTimeout) and idle_timeout is not None:
                raise NodeTimeout(f"no event from the node at {self.url} within "
                                  f"{idle_timeout:g} s") from None
            raise self._transport_error(exc, read) from None
        raise NodeUnreachable(f"the node at {self.url} ended the event stream")


__all__ = ["DEFAULT_TIMEOUT", "AsyncClient", "Client", "address_text", "block_ref",
           "lease_close_body", "offer_body", "offer_cancel_body", "order_body",
           "sign_transaction", "transfer_body", "trustee_join_body", "tx_ref",
           "usage_receipt_body"]
