"""Typed, immutable views of the node API's answers (docs/api.md), parsed defensively.

Every ``from_json`` checks each field it reads (presence, JSON type, hex length, range) and
raises :class:`~daoli.client.errors.BadResponse` naming the field, so a node that answers
something unexpected is one clear line, never a ``KeyError`` deep in an application.

Protocol objects are decoded from their ``raw`` encoding with ``daoli.core`` (the API page
says to trust ``raw``): :class:`BlockInfo` carries the :class:`~daoli.core.block.Block`,
:class:`TxInfo` the :class:`~daoli.core.tx.Transaction`, :class:`TicketInfo` the
:class:`~daoli.core.ticket.Ticket`, and the ids the node states are checked against the
decoded objects. Unknown extra fields are ignored, so newer nodes stay readable.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from daoli.client.errors import BadResponse
from daoli.core.address import address_of
from daoli.core.block import Block
from daoli.core.ledger_types import Lease, Offer, Order
from daoli.core.lottery import seed as draw_seed
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction
from daoli.core.vote import CommitCertificate
from daoli.errors import DaoliError
from daoli.files import show

T = TypeVar("T")
_HEX_RE = re.compile(r"(?:[0-9a-f]{2})*")
_HEX_DIGITS_RE = re.compile(r"[0-9a-fA-F]{1,78}")
_MAX_SHOWN = 60


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "an unexpected value"


class Doc:
    """A JSON object from the node, read field by field with checks.

    ``where`` names the object in messages (``status``, ``block.winner``...).
    """

    __slots__ = ("data", "where")

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise BadResponse(f"node answer: {where} is {_describe(data)}, expected an object")
        self.data: dict[str, Any] = data
        self.where = where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}"

    def _bad(self, key: str, expected: str, value: Any) -> BadResponse:
        return BadResponse(f"node answer: {self._name(key)} is {_describe(value)}, "
                           f"expected {expected}")

    def get(self, key: str) -> Any:
        if key not in self.data:
            raise BadResponse(f"node answer: {self._name(key)} is missing")
        return self.data[key]

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def num(self, key: str, *, minimum: int | None = 0) -> int:
        value = self.get(key)
        if type(value) is not int:
            raise self._bad(key, "an integer", value)
        if minimum is not None and value < minimum:
            raise BadResponse(f"node answer: {self._name(key)} is {value}, below {minimum}")
        return value

    def opt_num(self, key: str, *, minimum: int | None = 0) -> int | None:
        return None if self.data.get(key) is None else self.num(key, minimum=minimum)

    def text(self, key: str, *, max_len: int = 4096) -> str:
        value = self.get(key)
        if type(value) is not str:
            raise self._bad(key, "a string", value)
        if len(value) > max_len:
            raise BadResponse(f"node answer: {self._name(key)} is longer than {max_len}")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self.data.get(key) is None else self.text(key)

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if type(value) is not bool:
            raise self._bad(key, "true or false", value)
        return value

    def hexbytes(self, key: str, length: int | None = None) -> bytes:
        return hex_bytes(self.get(key), self._name(key), length)

    def opt_hexbytes(self, key: str, length: int | None = None) -> bytes | None:
        return None if self.data.get(key) is None else self.hexbytes(key, length)

    def items(self, key: str) -> list[Any]:
        value = self.get(key)
        if type(value) is not list:
            raise self._bad(key, "an array", value)
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        out = []
        for i, item in enumerate(self.items(key)):
            if type(item) is not str:
                raise BadResponse(f"node answer: {self._name(key)}[{i}] is "
                                  f"{_describe(item)}, expected a string")
            out.append(item)
        return tuple(out)

    def hexes(self, key: str, length: int | None = None) -> tuple[bytes, ...]:
        return tuple(hex_bytes(item, f"{self._name(key)}[{i}]", length)
                     for i, item in enumerate(self.items(key)))

    def doc(self, key: str) -> Doc:
        return Doc(self.get(key), self._name(key))

    def docs(self, key: str) -> list[Doc]:
        return [Doc(item, f"{self._name(key)}[{i}]") for i, item in enumerate(self.items(key))]

    def decode(self, key: str, decoder: Callable[[bytes], T]) -> T:
        """``decoder(bytes.fromhex(self[key]))``: a DecodeError becomes BadResponse."""
        data = self.hexbytes(key)
        try:
            return decoder(data)
        except DaoliError as exc:
            raise BadResponse(f"node answer: {self._name(key)} does not decode: "
                              f"{show(str(exc))[:200]}") from None


def hex_bytes(value: Any, name: str, length: int | None = None) -> bytes:
    """Lower-case hex without ``0x`` (docs/api.md, Encodings) to bytes."""
    if type(value) is not str:
        raise BadResponse(f"node answer: {name} is {_describe(value)}, expected hex")
    if not _HEX_RE.fullmatch(value):
        raise BadResponse(f"node answer: {name} is not lower-case hex: "
                          f"{show(value[:_MAX_SHOWN])!r}")
    if length is not None and len(value) != 2 * length:
        raise BadResponse(f"node answer: {name} holds {len(value) // 2} bytes, "
                          f"expected {length}")
    return bytes.fromhex(value)


def _check_id(stated: bytes, actual: bytes, name: str) -> None:
    if stated != actual:
        raise BadResponse(f"node answer: {name} is {stated.hex()} but its raw encoding "
                          f"hashes to {actual.hex()}")


# --- node --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """``GET /v1/status``: where the node's chain is and how the node is doing."""

    chain_id: str
    genesis_id: bytes
    height: int
    tip_id: bytes
    tip_time_ms: int
    cycle: int
    gc_cycle_ms: int | None
    """Median gap of the last 11 block times; None until there are two blocks."""
    round: int
    peers: int
    trustees: int
    trustee: bool
    """Whether this node's signer key is an active trustee."""
    mempool: int
    peer_id: str
    listen: tuple[str, ...]
    syncing: bool
    version: str

    @classmethod
    def from_json(cls, data: Any) -> Status:
        d = Doc(data, "status")
        return cls(
            chain_id=d.text("chain_id", max_len=64), genesis_id=d.hexbytes("genesis_id", 32),
            height=d.num("height"), tip_id=d.hexbytes("tip_id", 32),
            tip_time_ms=d.num("tip_time_ms"), cycle=d.num("cycle", minimum=-1),
            gc_cycle_ms=d.opt_num("gc_cycle_ms"), round=d.num("round"), peers=d.num("peers"),
            trustees=d.num("trustees"), trustee=d.flag("trustee"), mempool=d.num("mempool"),
            peer_id=d.text("peer_id"), listen=d.texts("listen"), syncing=d.flag("syncing"),
            version=d.text("version"))


@dataclass(frozen=True)
class Peer:
    """One connected peer (``GET /v1/peers``)."""

    peer_id: str
    addrs: tuple[str, ...]
    direction: str | None

    @classmethod
    def from_json(cls, data: Any, where: str = "peer") -> Peer:
        d = Doc(data, where)
        return cls(d.text("peer_id"), d.texts("addrs"), d.opt_text("direction"))


# --- protocol objects --------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketInfo:
    """A lottery ticket as the API shows it; ``ticket`` is decoded from ``raw``."""

    ticket: Ticket
    miner: str
    """The miner's ``dlc1...`` address."""
    sponsor: str
    """The sponsor's ``dlc1...`` address."""

    @property
    def miner_pubkey(self) -> bytes:
        return self.ticket.miner_pubkey

    @property
    def sponsor_pubkey(self) -> bytes:
        return self.ticket.sponsor_pubkey

    @property
    def cycle(self) -> int:
        return self.ticket.cycle

    @property
    def nonce(self) -> int:
        return self.ticket.nonce

    @property
    def time_ms(self) -> int:
        return self.ticket.time_ms

    @classmethod
    def from_json(cls, data: Any, where: str = "ticket") -> TicketInfo:
        d = Doc(data, where)
        ticket = d.decode("raw", Ticket.decode)
        if d.hexbytes("miner_pubkey", 33) != ticket.miner_pubkey:
            raise BadResponse(f"node answer: {where}.miner_pubkey does not match its raw")
        return cls(ticket, d.text("miner"), d.text("sponsor"))


@dataclass(frozen=True)
class CertificateInfo:
    """A block's own commit certificate (the one stored with it)."""

    certificate: CommitCertificate

    @property
    def round(self) -> int:
        return self.certificate.round

    @property
    def signers(self) -> list[bytes]:
        return self.certificate.signers

    @classmethod
    def from_json(cls, data: Any, where: str = "certificate") -> CertificateInfo:
        d = Doc(data, where)
        return cls(d.decode("raw", CommitCertificate.decode))


@dataclass(frozen=True)
class BlockInfo:
    """A finalized block: the decoded :class:`~daoli.core.block.Block` and its certificate.

    The convenience fields come from the decoded block, not from the JSON view beside it;
    the view's ``id`` and ``height`` are checked against it.
    """

    block: Block
    certificate: CertificateInfo | None
    proposer: str
    """The proposer's ``dlc1...`` address."""
    winner: TicketInfo
    payroll: tuple[TicketInfo, ...]
    size: int
    """Bytes of the canonical encoding."""

    @property
    def height(self) -> int:
        return self.block.height

    @property
    def id(self) -> bytes:
        return self.block.id

    @property
    def parent_id(self) -> bytes:
        return self.block.header.parent_id

    @property
    def cycle(self) -> int:
        return self.block.header.cycle

    @property
    def time_ms(self) -> int:
        return self.block.header.time_ms

    @property
    def state_root(self) -> bytes:
        return self.block.header.state_root

    @property
    def tx_ids(self) -> list[bytes]:
        return [tx.id for tx in self.block.payload]

    @classmethod
    def from_json(cls, data: Any, where: str = "block") -> BlockInfo:
        d = Doc(data, where)
        block = d.decode("raw", Block.decode)
        _check_id(d.hexbytes("id", 32), block.id, f"{where}.id")
        if d.num("height") != block.height:
            raise BadResponse(f"node answer: {where}.height is {d.num('height')} but its raw "
                              f"block is at height {block.height}")
        cert = None if d.data.get("certificate") is None else CertificateInfo.from_json(
            d.get("certificate"), f"{where}.certificate")
        if cert is not None and cert.certificate.block_id != block.id:
            raise BadResponse(f"node answer: {where}.certificate is for another block")
        return cls(block, cert, d.text("proposer"),
                   TicketInfo.from_json(d.get("winner"), f"{where}.winner"),
                   tuple(TicketInfo.from_json(t.data, t.where) for t in d.docs("payroll")),
                   len(block.encoded))


@dataclass(frozen=True)
class TxInfo:
    """A transaction; ``tx`` is decoded from ``raw`` (``tx.body`` is the typed body)."""

    tx: Transaction
    type: str
    """Body name: transfer, trustee_join, ..."""
    sender: str
    """The sender's ``dlc1...`` address."""

    @property
    def id(self) -> bytes:
        return self.tx.id

    @property
    def nonce(self) -> int:
        return self.tx.nonce

    @property
    def fee(self) -> int:
        return self.tx.fee

    @classmethod
    def from_json(cls, data: Any, where: str = "tx") -> TxInfo:
        d = Doc(data, where)
        tx = d.decode("raw", Transaction.decode)
        _check_id(d.hexbytes("id", 32), tx.id, f"{where}.id")
        return cls(tx, d.text("type"), d.text("sender"))


TX_STATUSES = ("pending", "final")


@dataclass(frozen=True)
class TxStatus:
    """``GET /v1/txs/{id}``: a transaction pooled (``pending``) or in a block (``final``)."""

    id: bytes
    status: str
    height: int | None
    index: int | None
    block_id: bytes | None
    tx: TxInfo

    @property
    def final(self) -> bool:
        return self.status == "final"

    @classmethod
    def from_json(cls, data: Any) -> TxStatus:
        d = Doc(data, "tx_status")
        status = d.text("status")
        if status not in TX_STATUSES:
            raise BadResponse(f"node answer: tx_status.status is {show(status[:20])!r}, "
                              "expected pending or final")
        tx = TxInfo.from_json(d.get("tx"), "tx_status.tx")
        _check_id(d.hexbytes("id", 32), tx.id, "tx_status.id")
        final = status == "final"
        return cls(tx.id, status,
                   d.num("height") if final else d.opt_num("height"),
                   d.num("index") if final else d.opt_num("index"),
                   d.hexbytes("block_id", 32) if final else d.opt_hexbytes("block_id", 32), tx)


SUBMIT_STATUSES = ("accepted", "known", "rejected")


@dataclass(frozen=True)
class SubmitResult:
    """What the node did with one submitted transaction or ticket, in submission order."""

    id: bytes
    status: str
    """``accepted``, ``known`` (already had it) or ``rejected``."""
    reason: str | None
    """Why it was rejected (a DropReason value or a mempool reason), else None."""

    @property
    def ok(self) -> bool:
        """Accepted now or earlier: the node holds it."""
        return self.status in ("accepted", "known")

    @classmethod
    def from_json(cls, data: Any, where: str = "result") -> SubmitResult:
        d = Doc(data, where)
        status = d.text("status")
        if status not in SUBMIT_STATUSES:
            raise BadResponse(f"node answer: {where}.status is {show(status[:20])!r}, "
                              "expected accepted, known or rejected")
        reason = d.opt_text("reason")
        return cls(d.hexbytes("id", 32), status, reason)


# --- state -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """``GET /v1/accounts/{address}``; amounts in li."""

    address: str
    balance: int
    nonce: int
    """The ledger's next nonce for this sender at the tip."""
    next_nonce: int
    """The nonce a new transaction should use: also counts this node's pooled ones."""

    @classmethod
    def from_json(cls, data: Any) -> Account:
        d = Doc(data, "account")
        return cls(d.text("address"), d.num("balance"), d.num("nonce"), d.num("next_nonce"))


@dataclass(frozen=True)
class Payroll:
    """``GET /v1/payroll/{ref}``: a block's winner ticket and payroll (SPEC 5)."""

    height: int
    block_id: bytes
    winner: TicketInfo
    payroll: tuple[TicketInfo, ...]

    @classmethod
    def from_json(cls, data: Any) -> Payroll:
        d = Doc(data, "payroll")
        return cls(d.num("height"), d.hexbytes("block_id", 32),
                   TicketInfo.from_json(d.get("winner"), "payroll.winner"),
                   tuple(TicketInfo.from_json(t.data, t.where) for t in d.docs("payroll")))


@dataclass(frozen=True)
class LineupEntry:
    """A miner lined up at the tip (SPEC 5)."""

    miner: str
    miner_pubkey: bytes
    sponsor: str
    since: int
    until: int

    @classmethod
    def from_json(cls, data: Any, where: str) -> LineupEntry:
        d = Doc(data, where)
        return cls(d.text("miner"), d.hexbytes("miner_pubkey", 33), d.text("sponsor"),
                   d.num("since"), d.num("until"))


@dataclass(frozen=True)
class Lineup:
    """``GET /v1/lineup``: miners lined up at the tip, lowest ``until`` last."""

    height: int
    lineup: tuple[LineupEntry, ...]

    @classmethod
    def from_json(cls, data: Any) -> Lineup:
        d = Doc(data, "lineup")
        return cls(d.num("height"),
                   tuple(LineupEntry.from_json(e.data, e.where) for e in d.docs("lineup")))


@dataclass(frozen=True)
class TrusteeInfo:
    """One trustee record (``GET /v1/trustees``); ``bond`` in li."""

    pubkey: bytes
    address: str
    bond: int
    multiaddr: str
    status: str
    active: bool
    join_height: int

    @classmethod
    def from_json(cls, data: Any, where: str) -> TrusteeInfo:
        d = Doc(data, where)
        return cls(d.hexbytes("pubkey", 33), d.text("address"), d.num("bond"), d.text("multiaddr"),
                   d.text("status"), d.flag("active"), d.num("join_height"))


@dataclass(frozen=True)
class Trustees:
    height: int
    epoch: int
    trustees: tuple[TrusteeInfo, ...]

    @classmethod
    def from_json(cls, data: Any) -> Trustees:
        d = Doc(data, "trustees")
        return cls(d.num("height"), d.num("epoch"),
                   tuple(TrusteeInfo.from_json(t.data, t.where) for t in d.docs("trustees")))


@dataclass(frozen=True)
class Mempool:
    """``GET /v1/mempool``: pool size and (at most 1,000) transaction ids."""

    count: int
    bytes: int
    """Total encoded size of the pooled transactions."""
    txs: tuple[builtins.bytes, ...]

    @classmethod
    def from_json(cls, data: Any) -> Mempool:
        d = Doc(data, "mempool")
        return cls(d.num("count"), d.num("bytes"), d.hexes("txs", 32))


@dataclass(frozen=True)
class Draw:
    """``GET /v1/draw``: the lottery draw a light miner should work on now.

    ``seed`` is checked against ``SHA-256("daoli/seed" || parent_id || cycle)``, so a miner
    never burns work on a seed that cannot win. ``now_ms`` is the node's adjusted time when
    it answered: tickets must carry a ``time_ms`` in ``[start_ms, start_ms + phi_ms]`` by
    that clock.
    """

    chain_id: str
    height: int
    cycle: int
    parent_id: bytes
    seed: bytes
    start_ms: int
    phi_ms: int
    target: int
    """Proof of work is valid when the 256-bit big-endian hash is below this."""
    difficulty: int
    sponsor_pubkey: bytes
    now_ms: int

    @property
    def end_ms(self) -> int:
        """The last adjusted millisecond a ticket of this draw may be found at."""
        return self.start_ms + self.phi_ms

    @classmethod
    def from_json(cls, data: Any) -> Draw:
        d = Doc(data, "draw")
        draw = cls(
            chain_id=d.text("chain_id", max_len=64), height=d.num("height"),
            cycle=d.num("cycle"), parent_id=d.hexbytes("parent_id", 32),
            seed=d.hexbytes("seed", 32), start_ms=d.num("start_ms"), phi_ms=d.num("phi_ms"),
            target=_target(d, d.num("difficulty", minimum=1)),
            difficulty=d.num("difficulty", minimum=1),
            sponsor_pubkey=d.hexbytes("sponsor_pubkey", 33),
            now_ms=d.num("now_ms"))
        if draw_seed(draw.parent_id, draw.cycle) != draw.seed:
            raise BadResponse("node answer: draw.seed is not the seed of its parent_id and "
                              "cycle")
        return draw


def _target(d: Doc, difficulty: int) -> int:
    """``target``, which must be ``2**256 // difficulty`` (SPEC 3, ChainParams.pow_target).

    docs/api.md leaves its JSON form open, and a 256-bit number does not survive every JSON
    parser, so it may come as an integer or as text: decimal, ``0x`` + hex, or bare hex. Bare
    text of digits alone reads both ways; the difficulty decides which reading is meant.
    """
    value = d.get("target")
    readings: set[int] = set()
    if type(value) is int:
        readings.add(value)
    elif type(value) is str and 0 < len(value) <= 80 and value.isascii():
        if value.startswith("0x") and _HEX_DIGITS_RE.fullmatch(value[2:]):
            readings.add(int(value[2:], 16))
        else:
            if value.isdigit():
                readings.add(int(value, 10))
            if _HEX_DIGITS_RE.fullmatch(value):
                readings.add(int(value, 16))
    else:
        raise BadResponse(f"node answer: draw.target is {_describe(value)}, expected an "
                          "integer")
    expected = (1 << 256) // difficulty
    if expected not in readings:
        raise BadResponse("node answer: draw.target is not 2^256 // draw.difficulty")
    return expected


# --- the resource market ------------------------------------------------------------------


def _check_party(d: Doc, key: str, pubkey: bytes) -> str:
    """The ``dlc1`` address the node states for ``pubkey``, checked against the key."""
    stated = d.text(key)
    if stated != address_of(pubkey):
        raise BadResponse(f"node answer: {d.where}.{key} is not the address of "
                          f"{d.where}.{key}_pubkey")
    return stated


@dataclass(frozen=True)
class OfferInfo:
    """A live resource offer (``GET /v1/offers[/{id}]``); ``record`` is decoded from ``raw``.

    Resources: ``cpu_millicores``, ``mem_mib``, ``disk_gib``, ``net_mbps``; prices in li.
    ``lined_up``: the provider's key is on lineup duty at the tip, so the next block's
    matching prefers it (SPEC 5 and 6).
    """

    id: bytes
    record: Offer
    provider: str
    lined_up: bool

    @property
    def provider_pubkey(self) -> bytes:
        return self.record.provider_pubkey

    @property
    def cpu_millicores(self) -> int:
        return self.record.cpu_millicores

    @property
    def mem_mib(self) -> int:
        return self.record.mem_mib

    @property
    def disk_gib(self) -> int:
        return self.record.disk_gib

    @property
    def net_mbps(self) -> int:
        return self.record.net_mbps

    @property
    def price_per_block(self) -> int:
        return self.record.price_per_block

    @property
    def unit_price(self) -> int:
        return self.record.unit_price

    @property
    def capacity(self) -> int:
        return self.record.capacity

    @property
    def active(self) -> int:
        """Leases open on it now (at most ``capacity``)."""
        return self.record.active

    @property
    def expires_height(self) -> int:
        return self.record.expires_height

    @property
    def endpoint(self) -> str:
        return self.record.endpoint

    @property
    def height(self) -> int:
        """The height of the block that made the offer."""
        return self.record.height

    @classmethod
    def from_json(cls, data: Any, where: str = "offer") -> OfferInfo:
        d = Doc(data, where)
        rec: Offer = d.decode("raw", Offer.decode)
        if d.num("price_per_block") != rec.price_per_block or d.num("active") != rec.active:
            raise BadResponse(f"node answer: {where} does not match its raw record")
        return cls(d.hexbytes("id", 32), rec, _check_party(d, "provider", rec.provider_pubkey),
                   d.flag("lined_up"))


@dataclass(frozen=True)
class OrderInfo:
    """An open (unmatched) order (``GET /v1/orders[/{id}]``); ``record`` from ``raw``. Once
    matched, the order is gone and its lease has the order's id."""

    id: bytes
    record: Order
    buyer: str

    @property
    def buyer_pubkey(self) -> bytes:
        return self.record.buyer_pubkey

    @property
    def max_price_per_block(self) -> int:
        return self.record.max_price_per_block

    @property
    def duration_blocks(self) -> int:
        return self.record.duration_blocks

    @property
    def deposit(self) -> int:
        return self.record.deposit

    @property
    def expires_height(self) -> int:
        """The block that refunds the deposit if nothing matched before."""
        return self.record.expires_height

    @classmethod
    def from_json(cls, data: Any, where: str = "order") -> OrderInfo:
        d = Doc(data, where)
        rec: Order = d.decode("raw", Order.decode)
        if d.num("deposit") != rec.deposit:
            raise BadResponse(f"node answer: {where} does not match its raw record")
        return cls(d.hexbytes("id", 32), rec, _check_party(d, "buyer", rec.buyer_pubkey))


@dataclass(frozen=True)
class LeaseInfo:
    """An active lease settled to ``as_of`` (the tip) (``GET /v1/leases[/{id}]``).

    ``record`` is the lease as stored (settled lazily, so its ``paid`` and ``escrow`` lag);
    ``paid`` and ``escrow_left`` are as of ``as_of``, ``owed`` the part of ``paid`` not yet
    moved to the provider. ``paid + escrow_left`` is the buyer's deposit. The lease id is
    its order's id.
    """

    id: bytes
    record: Lease
    provider: str
    buyer: str
    as_of: int
    paid: int
    owed: int
    escrow_left: int

    @property
    def order_id(self) -> bytes:
        return self.id

    @property
    def offer_id(self) -> bytes:
        return self.record.offer_id

    @property
    def provider_pubkey(self) -> bytes:
        return self.record.provider_pubkey

    @property
    def buyer_pubkey(self) -> bytes:
        return self.record.buyer_pubkey

    @property
    def price_per_block(self) -> int:
        return self.record.price_per_block

    @property
    def unit_price(self) -> int:
        return self.record.unit_price

    @property
    def start(self) -> int:
        return self.record.start

    @property
    def end(self) -> int:
        """The height whose block settles and closes the lease (unless closed before)."""
        return self.record.end

    @property
    def duration_end(self) -> int:
        return self.record.duration_end

    @property
    def last_seq(self) -> int:
        """The sequence number of the last usage receipt billed (0: none)."""
        return self.record.last_seq

    @classmethod
    def from_json(cls, data: Any, where: str = "lease") -> LeaseInfo:
        d = Doc(data, where)
        rec: Lease = d.decode("raw", Lease.decode)
        paid, owed, left = d.num("paid"), d.num("owed"), d.num("escrow_left")
        if paid + left != rec.paid + rec.escrow or paid - owed != rec.paid:
            raise BadResponse(f"node answer: {where}.paid, owed and escrow_left do not add "
                              "up with its raw record")
        return cls(d.hexbytes("id", 32), rec, _check_party(d, "provider", rec.provider_pubkey),
                   _check_party(d, "buyer", rec.buyer_pubkey), d.num("as_of"), paid, owed,
                   left)


@dataclass(frozen=True)
class Offers:
    """``GET /v1/offers``: ``count`` offers matched the filters, ``offers`` the first
    ``limit`` of them."""

    height: int
    count: int
    offers: tuple[OfferInfo, ...]

    @classmethod
    def from_json(cls, data: Any) -> Offers:
        d = Doc(data, "offers")
        return cls(d.num("height"), d.num("count"),
                   tuple(OfferInfo.from_json(o.data, o.where) for o in d.docs("offers")))


@dataclass(frozen=True)
class Orders:
    height: int
    count: int
    orders: tuple[OrderInfo, ...]

    @classmethod
    def from_json(cls, data: Any) -> Orders:
        d = Doc(data, "orders")
        return cls(d.num("height"), d.num("count"),
                   tuple(OrderInfo.from_json(o.data, o.where) for o in d.docs("orders")))


@dataclass(frozen=True)
class Leases:
    height: int
    count: int
    leases: tuple[LeaseInfo, ...]

    @classmethod
    def from_json(cls, data: Any) -> Leases:
        d = Doc(data, "leases")
        return cls(d.num("height"), d.num("count"),
                   tuple(LeaseInfo.from_json(o.data, o.where) for o in d.docs("leases")))


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockEvent:
    """``event: block``: a block was finalized (events come in height order)."""

    height: int
    id: bytes
    time_ms: int
    n_txs: int
    txs: tuple[bytes, ...]

    @classmethod
    def from_json(cls, data: Any) -> BlockEvent:
        d = Doc(data, "event block")
        return cls(d.num("height"), d.hexbytes("id", 32), d.num("time_ms"), d.num("n_txs"),
                   d.hexes("txs", 32))


@dataclass(frozen=True)
class TxEvent:
    """``event: tx``: a transaction was finalized at ``height``."""

    id: bytes
    height: int

    @classmethod
    def from_json(cls, data: Any) -> TxEvent:
        d = Doc(data, "event tx")
        return cls(d.hexbytes("id", 32), d.num("height"))


Event = BlockEvent | TxEvent

__all__ = [
    "Account", "BlockEvent", "BlockInfo", "CertificateInfo", "Doc", "Draw", "Event",
    "LeaseInfo", "Leases", "Lineup", "LineupEntry", "Mempool", "OfferInfo", "Offers",
    "OrderInfo", "Orders", "Payroll", "Peer", "Status", "SubmitResult", "TicketInfo",
    "TrusteeInfo", "Trustees", "TxEvent", "TxInfo", "TxStatus", "hex_bytes",
]
