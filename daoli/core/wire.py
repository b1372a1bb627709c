"""Wire messages (SPEC section 7): every gossip envelope and request/response message.

One module for everything a node sends to a peer, sans-I/O. Each message is a frozen
dataclass and a canonical CBOR array led by its type tag (32 and up, after the protocol
objects' 1-7 and the ledger records' 16-31), so an envelope is encoded and decoded like every
protocol object. The byte layouts are in docs/wire.md.

- Gossip, one topic per chain and kind (:func:`topic`): ``tx`` carries :class:`TxBatch`,
  ``ticket`` :class:`TicketBatch`, ``vote`` :class:`VoteBatch`, ``block`` :class:`Proposal`,
  :class:`ProposalHeader`, :class:`Announce` and :class:`AnnounceHeader`. Transactions travel
  in batches: one gossip message per transaction caps a py-libp2p network at a few hundred
  transactions per second.
- Request/response over one long-lived stream per peer and protocol, as length-prefixed
  frames that carry a request id (:func:`encode_frame`, :class:`FrameDecoder`):
  ``/daoli/status/1`` (:class:`StatusRequest` -> :class:`StatusReply`) and ``/daoli/sync/1``
  (:class:`SyncRequest` -> :class:`SyncReply`, :class:`BlockRequest` -> :class:`BlockReply`).

Untrusted bytes enter through :func:`decode_gossip`, :func:`decode_request`,
:func:`decode_reply` and :meth:`FrameDecoder.feed`, which return a message (or frames) or
raise :class:`WireError`, whose ``reason`` is a :class:`~daoli.core.reasons.DropReason`;
nothing else escapes. Sizes are checked before anything is decoded, and again when encoding:
a message over its limit raises instead of encoding, so nothing oversized is ever published.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

from daoli.core import encoding as enc
from daoli.core.block import MAX_PAYLOAD_TXS, MAX_PAYROLL, Block, Header
from daoli.core.genesis import CHAIN_ID_RE
from daoli.core.params import ChainParams
from daoli.core.reasons import DropReason
from daoli.core.ticket import Ticket
from daoli.core.tx import MAX_TX_BYTES, Transaction
from daoli.core.vote import CommitCertificate, Vote
from daoli.errors import DecodeError

__all__ = [
    "DEFAULT_MAX_BLOCK_BYTES",
    "MAX_FRAME_PREFIX_BYTES",
    "MAX_GOSSIP_BYTES",
    "MAX_REPLY_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_REQUEST_ID",
    "MAX_SYNC_BLOCKS",
    "MAX_TICKET_BATCH",
    "MAX_TX_BATCH",
    "MAX_VOTE_BATCH",
    "MESSAGE_TYPES",
    "REQUEST_ID_BYTES",
    "STATUS_PROTOCOL",
    "SYNC_PROTOCOL",
    "TOPIC_KINDS",
    "Announce",
    "AnnounceHeader",
    "BlockReply",
    "BlockRequest",
    "BytesLike",
    "CompactProposal",
    "Frame",
    "FrameDecoder",
    "GossipMessage",
    "Message",
    "Proposal",
    "ProposalHeader",
    "Reply",
    "Request",
    "StatusReply",
    "StatusRequest",
    "SyncEntry",
    "SyncReply",
    "SyncRequest",
    "TicketBatch",
    "TxBatch",
    "VoteBatch",
    "WireError",
    "block_message",
    "decode_gossip",
    "decode_reply",
    "decode_request",
    "encode_frame",
    "topic",
    "topic_kind",
]

# --------------------------------------------------------------------------- limits

MAX_GOSSIP_BYTES = 512 * 1024
"""Largest gossip message (SPEC 7); py-libp2p resets a stream over its 1 MiB RPC limit."""

MAX_TX_BATCH = 1_024
"""Transactions per :class:`TxBatch`: about 50 ms of signature checks for the receiver."""

MAX_TICKET_BATCH = 64
"""Tickets per :class:`TicketBatch`: a draw keeps at most ``max(64, 4 * diameter)``."""

MAX_VOTE_BATCH = 256
"""Votes per :class:`VoteBatch`: a prevote and a precommit by each of 100 trustees, and more."""

MAX_SYNC_BLOCKS = 128
"""Blocks one :class:`SyncRequest` may ask for and one :class:`SyncReply` may carry."""

MAX_REQUEST_BYTES = 1_024
"""Largest request message; every request is a few dozen bytes."""

MAX_REPLY_BYTES = enc.MAX_DECODE_BYTES
"""Largest reply message (8 MiB): a sync reply is filled up to it, and always has room for a
block of the default ``max_block_bytes`` (4 MiB) with its certificate."""

DEFAULT_MAX_BLOCK_BYTES = ChainParams().max_block_bytes
"""The default block size cap; callers pass their chain's ``params.max_block_bytes``."""

REQUEST_ID_BYTES = 4
MAX_REQUEST_ID = (1 << 32) - 1
MAX_FRAME_PREFIX_BYTES = 9
"""A frame's length prefix is an unsigned varint (multiformats): at most 9 bytes, minimal."""

BytesLike = bytes | bytearray | memoryview

SYNC_PROTOCOL = "/daoli/sync/1"
STATUS_PROTOCOL = "/daoli/status/1"
TOPIC_KINDS = ("tx", "ticket", "vote", "block")


class WireError(DecodeError):
    """Input dropped at the wire; ``reason`` says why (a metric label, and a peer-score
    input through ``reason.is_fault``). Raised, too, by an encoder whose message would
    exceed its size limit (reason ``too_large``)."""

    def __init__(self, reason: DropReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


def topic(chain_id: str, kind: str) -> str:
    """The gossip topic of ``kind`` (tx, ticket, vote, block) on ``chain_id``."""
    if kind not in TOPIC_KINDS:
        raise ValueError(f"unknown topic kind {kind!r}; expected one of {TOPIC_KINDS}")
    if not CHAIN_ID_RE.fullmatch(chain_id):
        raise ValueError(f"chain_id {chain_id!r}: use 1-63 of a-z, 0-9 and '-'")
    return f"/daoli/{chain_id}/{kind}"


def topic_kind(chain_id: str, name: str) -> str | None:
    """The kind of topic ``name`` on ``chain_id``, or None if it is not one of ours."""
    prefix = f"/daoli/{chain_id}/"
    if name.startswith(prefix) and name[len(prefix):] in TOPIC_KINDS:
        return name[len(prefix):]
    return None


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class _Context:
    """What the receiver knows to check an envelope against."""

    chain_id: str | None
    genesis_id: bytes | None = None
    max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES

    def chain(self, chain_id: str, what: str) -> None:
        if self.chain_id is not None and chain_id != self.chain_id:
            raise WireError(DropReason.WRONG_CHAIN,
                            f"{what}: chain id {enc.describe(chain_id)}")

    def block(self, block: Block, what: str) -> None:
        self.chain(block.header.chain_id, what)
        size = len(block.encoded)
        if size > self.max_block_bytes:
            raise WireError(DropReason.TOO_LARGE, f"{what}: block of {size} bytes exceeds "
                                                  f"max_block_bytes {self.max_block_bytes}")


_NO_CONTEXT = _Context(None)


class Message(enc.ProtocolObject):
    """Base of every wire message: a canonical CBOR array led by ``TYPE``, at most
    ``MAX_BYTES`` long. ``id`` (SHA-256 of the bytes) suits content-addressed gossip ids."""

    TYPE: ClassVar[int]
    NAME: ClassVar[str]
    MAX_BYTES: ClassVar[int]

    def _assemble(self) -> bytes:
        """The canonical encoding; containers assemble it from their items' cached ones."""
        return enc.encode(self.to_fields())

    @cached_property
    def encoded(self) -> bytes:
        data = self._assemble()
        if len(data) > self.MAX_BYTES:
            raise WireError(DropReason.TOO_LARGE, f"{self.NAME}: {len(data)} bytes exceeds "
                                                  f"the limit of {self.MAX_BYTES}")
        return data

    def _check(self, ctx: _Context) -> None:
        """Checks against what the receiver knows (chain id, genesis, block size cap)."""

    @classmethod
    def decode(cls, data: BytesLike, *, chain_id: str | None = None,
               max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> Self:
        """Decode ``data`` as this message alone (the chain id is checked if given)."""
        msg = _decode(data, (cls,), cls.MAX_BYTES, _Context(chain_id, None, max_block_bytes))
        return cast(Self, msg)


class GossipMessage(Message):
    MAX_BYTES: ClassVar[int] = MAX_GOSSIP_BYTES
    KIND: ClassVar[str]


class Request(Message):
    MAX_BYTES: ClassVar[int] = MAX_REQUEST_BYTES
    PROTOCOL: ClassVar[str]


class Reply(Message):
    MAX_BYTES: ClassVar[int] = MAX_REPLY_BYTES
    PROTOCOL: ClassVar[str]

    def _unsolicited(self, request: Request) -> str | None:
        """Why this reply does not answer ``request`` (None if it does)."""
        return None


_TAG_LEN = 2
"""Every type tag is in [24, 255]: a two-byte CBOR head."""


def _expect_array(value: Any, what: str) -> list[Any]:
    if type(value) is not list:
        raise DecodeError(f"{what}: expected an array")
    return value


# --- gossip: batches ------------------------------------------------------------------------

ItemT = TypeVar("ItemT", Transaction, Ticket, Vote)
"""The item type of a batch."""


@dataclass(frozen=True)
class _Batch(GossipMessage, Generic[ItemT]):
    """``[TYPE, [item, ...]]``: 1 to ``MAX_ITEMS`` distinct items, each nested as its own
    array (not as a byte string), so the batch is one canonical CBOR item."""

    ITEM: ClassVar[type[Transaction] | type[Ticket] | type[Vote]]
    MAX_ITEMS: ClassVar[int]
    MAX_ITEM_BYTES: ClassVar[int] = MAX_GOSSIP_BYTES

    items: tuple[ItemT, ...]

    def __post_init__(self) -> None:
        n = len(self.items)
        if n == 0:
            raise WireError(DropReason.EMPTY_BATCH, f"{self.NAME}: no items")
        if n > self.MAX_ITEMS:
            raise WireError(DropReason.BATCH_TOO_LONG,
                            f"{self.NAME}: {n} items, more than {self.MAX_ITEMS}")
        ids = set()
        for item in self.items:
            if len(item.encoded) > self.MAX_ITEM_BYTES:
                raise WireError(DropReason.TOO_LARGE, f"{self.NAME}: an item of "
                                f"{len(item.encoded)} bytes, over {self.MAX_ITEM_BYTES}")
            ids.add(item.id)
        if len(ids) != n:
            raise WireError(DropReason.DUPLICATE_IN_BATCH, f"{self.NAME}: repeats an item")

    def to_fields(self) -> list[Any]:
        return [self.TYPE, [item.to_fields() for item in self.items]]

    def _assemble(self) -> bytes:
        return b"".join([enc.array_header(2), enc.encode(self.TYPE),
                         enc.array_header(len(self.items)),
                         *(item.encoded for item in self.items)])

    @classmethod
    def from_fields(cls, f: list[Any]) -> Self:
        enc.expect_len(f, 2, cls.NAME)
        raw = _expect_array(f[1], cls.NAME)
        if not raw:
            raise WireError(DropReason.EMPTY_BATCH, f"{cls.NAME}: no items")
        if len(raw) > cls.MAX_ITEMS:
            raise WireError(DropReason.BATCH_TOO_LONG,
                            f"{cls.NAME}: {len(raw)} items, more than {cls.MAX_ITEMS}")
        item_cls = cls.ITEM
        what = f"{cls.NAME}.item"
        items: tuple[Any, ...] = tuple(
            enc.object_from_fields(x, item_cls.TYPE, item_cls.from_fields, what) for x in raw)
        return cls(items)

    def _check(self, ctx: _Context) -> None:
        if ctx.chain_id is not None:
            for item in self.items:
                ctx.chain(item.chain_id, self.NAME)

    @classmethod
    def pack(cls, items: Iterable[ItemT]) -> list[Self]:
        """Split ``items`` (in order, repeats dropped) into as few batches as the item and
        byte limits allow: what a node publishes."""
        out: list[Self] = []
        cur: list[ItemT] = []
        size = 1 + _TAG_LEN  # array head of 2 and the tag; the items' head is added below
        seen: set[bytes] = set()
        for item in items:
            if item.id in seen:
                continue
            seen.add(item.id)
            n = len(item.encoded)
            if cur and (len(cur) == cls.MAX_ITEMS or size + n
                        + len(enc.array_header(len(cur) + 1)) > cls.MAX_BYTES):
                out.append(cls(tuple(cur)))
                cur, size = [], 1 + _TAG_LEN
            cur.append(item)
            size += n
        if cur:
            out.append(cls(tuple(cur)))
        return out


@dataclass(frozen=True)
class TxBatch(_Batch[Transaction]):
    """1..MAX_TX_BATCH transactions on the ``tx`` topic; each at most 16 KiB."""

    TYPE: ClassVar[int] = 32
    NAME: ClassVar[str] = "tx_batch"
    KIND: ClassVar[str] = "tx"
    ITEM: ClassVar[type[Transaction]] = Transaction
    MAX_ITEMS: ClassVar[int] = MAX_TX_BATCH
    MAX_ITEM_BYTES: ClassVar[int] = MAX_TX_BYTES

    @property
    def txs(self) -> tuple[Transaction, ...]:
        return self.items


@dataclass(frozen=True)
class TicketBatch(_Batch[Ticket]):
    """1..MAX_TICKET_BATCH tickets on the ``ticket`` topic (a node relays its held tickets
    in lot order as one message)."""

    TYPE: ClassVar[int] = 33
    NAME: ClassVar[str] = "ticket_batch"
    KIND: ClassVar[str] = "ticket"
    ITEM: ClassVar[type[Ticket]] = Ticket
    MAX_ITEMS: ClassVar[int] = MAX_TICKET_BATCH

    @property
    def tickets(self) -> tuple[Ticket, ...]:
        return self.items


@dataclass(frozen=True)
class VoteBatch(_Batch[Vote]):
    """1..MAX_VOTE_BATCH votes on the ``vote`` topic (a trustee re-gossips its own votes of
    the open height every cycle as one message)."""

    TYPE: ClassVar[int] = 34
    NAME: ClassVar[str] = "vote_batch"
    KIND: ClassVar[str] = "vote"
    ITEM: ClassVar[type[Vote]] = Vote
    MAX_ITEMS: ClassVar[int] = MAX_VOTE_BATCH

    @property
    def votes(self) -> tuple[Vote, ...]:
        return self.items


# --- gossip: the block topic ----------------------------------------------------------------


def _block_field(value: Any, what: str) -> Block:
    return enc.object_from_fields(value, Block.TYPE, Block.from_fields, what)


def _header_field(value: Any, what: str) -> Header:
    return enc.object_from_fields(value, Header.TYPE, Header.from_fields, what)


def _cert_field(value: Any, what: str) -> CommitCertificate:
    return enc.object_from_fields(value, CommitCertificate.TYPE, CommitCertificate.from_fields,
                                  what)


def _certifies(cert: CommitCertificate, header: Header, what: str) -> None:
    if cert.block_id != header.id or cert.height != header.height:
        raise WireError(DropReason.INVALID_CERTIFICATE,
                        f"{what}: the certificate is for another block or height")


@dataclass(frozen=True)
class Proposal(GossipMessage):
    """``[35, block]``: a proposed block, whole (it must fit in one gossip message)."""

    TYPE: ClassVar[int] = 35
    NAME: ClassVar[str] = "proposal"
    KIND: ClassVar[str] = "block"
    block: Block

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.block.to_fields()]

    def _assemble(self) -> bytes:
        return enc.array_header(2) + enc.encode(self.TYPE) + self.block.encoded

    @classmethod
    def from_fields(cls, f: list[Any]) -> Proposal:
        enc.expect_len(f, 2, cls.NAME)
        return cls(_block_field(f[1], "proposal.block"))

    def _check(self, ctx: _Context) -> None:
        ctx.block(self.block, self.NAME)


@dataclass(frozen=True)
class ProposalHeader(GossipMessage):
    """``[36, header]``: a proposal too large for one gossip message; peers that want it
    fetch the body with a :class:`BlockRequest` for ``header.id``."""

    TYPE: ClassVar[int] = 36
    NAME: ClassVar[str] = "proposal_header"
    KIND: ClassVar[str] = "block"
    header: Header

    @property
    def block_id(self) -> bytes:
        return self.header.id

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.header.to_fields()]

    def _assemble(self) -> bytes:
        return enc.array_header(2) + enc.encode(self.TYPE) + self.header.encoded

    @classmethod
    def from_fields(cls, f: list[Any]) -> ProposalHeader:
        enc.expect_len(f, 2, cls.NAME)
        return cls(_header_field(f[1], "proposal_header.header"))

    def _check(self, ctx: _Context) -> None:
        ctx.chain(self.header.chain_id, self.NAME)


@dataclass(frozen=True)
class CompactProposal(GossipMessage):
    """``[39, header, [tx_id, ...], [ticket, ...], last_commit | null]``: a proposal too
    large for one gossip message, with its payload as transaction ids (the idea of Bitcoin's
    BIP 152). Receivers rebuild the block from their mempools, where a transaction gossiped
    before is already decoded and verified, and fetch the whole block with a
    :class:`BlockRequest` only when one is missing. Replaces :class:`ProposalHeader` when it
    fits, which it does for up to about 15,000 transactions."""

    TYPE: ClassVar[int] = 39
    NAME: ClassVar[str] = "compact_proposal"
    KIND: ClassVar[str] = "block"
    header: Header
    tx_ids: tuple[bytes, ...]
    payroll: tuple[Ticket, ...]
    last_commit: CommitCertificate | None

    def __post_init__(self) -> None:
        if len(set(self.tx_ids)) != len(self.tx_ids):
            raise WireError(DropReason.DUPLICATE_IN_BATCH, f"{self.NAME}: repeats a tx id")

    @classmethod
    def of(cls, block: Block) -> CompactProposal:
        return cls(block.header, tuple(tx.id for tx in block.payload), block.payroll,
                   block.last_commit)

    @property
    def block_id(self) -> bytes:
        return self.header.id

    def rebuild(self, lookup: Any) -> Block | list[bytes]:
        """The block, with ``lookup(tx_id)`` giving each transaction (or None); else the ids
        it could not find. The caller checks the rebuilt block's roots against its header
        (:meth:`Block.roots_match`) before trusting the ids a relay handed it."""
        txs: list[Transaction] = []
        missing: list[bytes] = []
        for txid in self.tx_ids:
            tx = lookup(txid)
            if tx is None:
                missing.append(txid)
            elif not missing:
                txs.append(tx)
        if missing:
            return missing
        return Block(self.header, tuple(txs), self.payroll, self.last_commit)

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.header.to_fields(), list(self.tx_ids),
                [t.to_fields() for t in self.payroll],
                None if self.last_commit is None else self.last_commit.to_fields()]

    def _assemble(self) -> bytes:
        parts = [enc.array_header(5), enc.encode(self.TYPE), self.header.encoded,
                 enc.array_header(len(self.tx_ids))]
        head = enc.encode(bytes(32))[:-32]  # the byte-string head of a 32-byte id
        parts.extend(head + i for i in self.tx_ids)
        parts.append(enc.array_header(len(self.payroll)))
        parts.extend(t.encoded for t in self.payroll)
        parts.append(enc.encode(None) if self.last_commit is None else self.last_commit.encoded)
        return b"".join(parts)

    @classmethod
    def from_fields(cls, f: list[Any]) -> CompactProposal:
        enc.expect_len(f, 5, cls.NAME)
        header = _header_field(f[1], "compact_proposal.header")
        ids = tuple(enc.fixed_bytes(x, 32, "compact_proposal.tx_id")
                    for x in enc.array(f[2], MAX_PAYLOAD_TXS, "compact_proposal.tx_ids"))
        payroll = tuple(
            enc.object_from_fields(x, Ticket.TYPE, Ticket.from_fields, "compact_proposal.payroll")
            for x in enc.array(f[3], MAX_PAYROLL, "compact_proposal.payroll"))
        last_commit = None if f[4] is None else _cert_field(f[4], "compact_proposal.last_commit")
        return cls(header, ids, payroll, last_commit)

    def _check(self, ctx: _Context) -> None:
        ctx.chain(self.header.chain_id, self.NAME)


@dataclass(frozen=True)
class Announce(GossipMessage):
    """``[37, block, certificate]``: a finalized block with the certificate that finalized
    it (what a laggard at the last height has to go on)."""

    TYPE: ClassVar[int] = 37
    NAME: ClassVar[str] = "announce"
    KIND: ClassVar[str] = "block"
    block: Block
    certificate: CommitCertificate

    def __post_init__(self) -> None:
        _certifies(self.certificate, self.block.header, self.NAME)

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.block.to_fields(), self.certificate.to_fields()]

    def _assemble(self) -> bytes:
        return (enc.array_header(3) + enc.encode(self.TYPE) + self.block.encoded
                + self.certificate.encoded)

    @classmethod
    def from_fields(cls, f: list[Any]) -> Announce:
        enc.expect_len(f, 3, cls.NAME)
        return cls(_block_field(f[1], "announce.block"),
                   _cert_field(f[2], "announce.certificate"))

    def _check(self, ctx: _Context) -> None:
        ctx.block(self.block, self.NAME)


@dataclass(frozen=True)
class AnnounceHeader(GossipMessage):
    """``[38, header, certificate]``: a finalized block too large for one gossip message;
    peers fetch the body with a :class:`BlockRequest` for ``block_id``."""

    TYPE: ClassVar[int] = 38
    NAME: ClassVar[str] = "announce_header"
    KIND: ClassVar[str] = "block"
    header: Header
    certificate: CommitCertificate

    def __post_init__(self) -> None:
        _certifies(self.certificate, self.header, self.NAME)

    @property
    def block_id(self) -> bytes:
        return self.header.id

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.header.to_fields(), self.certificate.to_fields()]

    def _assemble(self) -> bytes:
        return (enc.array_header(3) + enc.encode(self.TYPE) + self.header.encoded
                + self.certificate.encoded)

    @classmethod
    def from_fields(cls, f: list[Any]) -> AnnounceHeader:
        enc.expect_len(f, 3, cls.NAME)
        return cls(_header_field(f[1], "announce_header.header"),
                   _cert_field(f[2], "announce_header.certificate"))

    def _check(self, ctx: _Context) -> None:
        ctx.chain(self.header.chain_id, self.NAME)


def block_message(block: Block, certificate: CommitCertificate | None = None) -> GossipMessage:
    """What to publish on the block topic: the whole block when the message fits in
    MAX_GOSSIP_BYTES; else, for a proposal, its :class:`CompactProposal` when that fits,
    and otherwise its header. With a certificate it is an announcement of a finalized block,
    without one a proposal."""
    size = 1 + _TAG_LEN + len(block.encoded)
    if certificate is None:
        if size <= MAX_GOSSIP_BYTES:
            return Proposal(block)
        try:
            compact = CompactProposal.of(block)
            _ = compact.encoded  # checked against MAX_GOSSIP_BYTES
        except WireError:  # too many ids, or a payload repeating one (an invalid block)
            return ProposalHeader(block.header)
        return compact
    if size + len(certificate.encoded) <= MAX_GOSSIP_BYTES:
        return Announce(block, certificate)
    return AnnounceHeader(block.header, certificate)


# --- request/response -----------------------------------------------------------------------


@dataclass(frozen=True)
class StatusRequest(Request):
    """``[40]``: ask a peer for its status."""

    TYPE: ClassVar[int] = 40
    NAME: ClassVar[str] = "status_request"
    PROTOCOL: ClassVar[str] = STATUS_PROTOCOL

    def to_fields(self) -> list[Any]:
        return [self.TYPE]

    @classmethod
    def from_fields(cls, f: list[Any]) -> StatusRequest:
        enc.expect_len(f, 1, cls.NAME)
        return cls()


@dataclass(frozen=True)
class StatusReply(Reply):
    """``[41, chain_id, genesis_id, height, tip_id]``: the peer's finalized tip (height 0
    and the genesis id before block 1)."""

    TYPE: ClassVar[int] = 41
    NAME: ClassVar[str] = "status_reply"
    PROTOCOL: ClassVar[str] = STATUS_PROTOCOL
    chain_id: str
    genesis_id: bytes
    height: int
    tip_id: bytes

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.chain_id, self.genesis_id, self.height, self.tip_id]

    @classmethod
    def from_fields(cls, f: list[Any]) -> StatusReply:
        enc.expect_len(f, 5, cls.NAME)
        return cls(enc.text(f[1], 64, "status.chain_id"),
                   enc.fixed_bytes(f[2], 32, "status.genesis_id"),
                   enc.uint(f[3], "status.height"),
                   enc.fixed_bytes(f[4], 32, "status.tip_id"))

    def _check(self, ctx: _Context) -> None:
        ctx.chain(self.chain_id, self.NAME)
        if ctx.genesis_id is not None and self.genesis_id != ctx.genesis_id:
            raise WireError(DropReason.WRONG_GENESIS, f"{self.NAME}: another genesis")

    def _unsolicited(self, request: Request) -> str | None:
        return None if type(request) is StatusRequest else "not a status request"


@dataclass(frozen=True)
class SyncRequest(Request):
    """``[42, from_height, count]``: finalized blocks ``from_height`` (>= 1) onwards, with
    their certificates; 1 <= count <= MAX_SYNC_BLOCKS."""

    TYPE: ClassVar[int] = 42
    NAME: ClassVar[str] = "sync_request"
    PROTOCOL: ClassVar[str] = SYNC_PROTOCOL
    from_height: int
    count: int

    def __post_init__(self) -> None:
        if self.from_height < 1:
            raise WireError(DropReason.MALFORMED, f"{self.NAME}: heights start at 1")
        if self.count < 1:
            raise WireError(DropReason.EMPTY_BATCH, f"{self.NAME}: count 0")
        if self.count > MAX_SYNC_BLOCKS:
            raise WireError(DropReason.BATCH_TOO_LONG,
                            f"{self.NAME}: count {self.count} over {MAX_SYNC_BLOCKS}")

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.from_height, self.count]

    @classmethod
    def from_fields(cls, f: list[Any]) -> SyncRequest:
        enc.expect_len(f, 3, cls.NAME)
        return cls(enc.uint(f[1], "sync.from_height"), enc.uint(f[2], "sync.count"))


SyncEntry = tuple[Block, CommitCertificate]


@dataclass(frozen=True)
class SyncReply(Reply):
    """``[43, [[block, certificate], ...]]``: 0..MAX_SYNC_BLOCKS finalized blocks of
    consecutive heights, each with a certificate for it; empty when the peer has none of
    the requested heights. Never over MAX_REPLY_BYTES: see :meth:`pack`."""

    TYPE: ClassVar[int] = 43
    NAME: ClassVar[str] = "sync_reply"
    PROTOCOL: ClassVar[str] = SYNC_PROTOCOL
    entries: tuple[SyncEntry, ...]

    def __post_init__(self) -> None:
        if len(self.entries) > MAX_SYNC_BLOCKS:
            raise WireError(DropReason.BATCH_TOO_LONG, f"{self.NAME}: {len(self.entries)} "
                                                       f"blocks, more than {MAX_SYNC_BLOCKS}")
        prev: int | None = None
        for block, cert in self.entries:
            _certifies(cert, block.header, self.NAME)
            if prev is not None and block.height != prev + 1:
                raise WireError(DropReason.MALFORMED,
                                f"{self.NAME}: heights are not consecutive")
            prev = block.height

    def to_fields(self) -> list[Any]:
        return [self.TYPE, [[b.to_fields(), c.to_fields()] for b, c in self.entries]]

    def _assemble(self) -> bytes:
        pair = enc.array_header(2)
        parts = [enc.array_header(2), enc.encode(self.TYPE), enc.array_header(len(self.entries))]
        for block, cert in self.entries:
            parts += (pair, block.encoded, cert.encoded)
        return b"".join(parts)

    @classmethod
    def from_fields(cls, f: list[Any]) -> SyncReply:
        enc.expect_len(f, 2, cls.NAME)
        raw = _expect_array(f[1], "sync_reply.entries")
        if len(raw) > MAX_SYNC_BLOCKS:
            raise WireError(DropReason.BATCH_TOO_LONG,
                            f"{cls.NAME}: {len(raw)} blocks, more than {MAX_SYNC_BLOCKS}")
        entries = []
        for item in raw:
            pair = _expect_array(item, "sync_reply.entry")
            enc.expect_len(pair, 2, "sync_reply.entry")
            entries.append((_block_field(pair[0], "sync_reply.block"),
                            _cert_field(pair[1], "sync_reply.certificate")))
        return cls(tuple(entries))

    @classmethod
    def pack(cls, entries: Iterable[SyncEntry], max_bytes: int = MAX_REPLY_BYTES) -> SyncReply:
        """The longest prefix of ``entries`` (at most MAX_SYNC_BLOCKS) whose reply fits in
        ``max_bytes`` (capped at MAX_REPLY_BYTES): what a node answers a sync request with."""
        max_bytes = min(max_bytes, MAX_REPLY_BYTES)
        taken: list[SyncEntry] = []
        size = 1 + _TAG_LEN
        for block, cert in entries:
            if len(taken) == MAX_SYNC_BLOCKS:
                break
            n = 1 + len(block.encoded) + len(cert.encoded)
            if size + n + len(enc.array_header(len(taken) + 1)) > max_bytes:
                break
            taken.append((block, cert))
            size += n
        return cls(tuple(taken))

    def _check(self, ctx: _Context) -> None:
        for block, _ in self.entries:
            ctx.block(block, self.NAME)

    def _unsolicited(self, request: Request) -> str | None:
        if type(request) is not SyncRequest:
            return "not a sync request"
        if len(self.entries) > request.count:
            return "more blocks than requested"
        if self.entries and self.entries[0][0].height != request.from_height:
            return "does not start at the requested height"
        return None


@dataclass(frozen=True)
class BlockRequest(Request):
    """``[44, block_id]``: one block by id (a proposal or announcement seen by header)."""

    TYPE: ClassVar[int] = 44
    NAME: ClassVar[str] = "block_request"
    PROTOCOL: ClassVar[str] = SYNC_PROTOCOL
    block_id: bytes

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.block_id]

    @classmethod
    def from_fields(cls, f: list[Any]) -> BlockRequest:
        enc.expect_len(f, 2, cls.NAME)
        return cls(enc.fixed_bytes(f[1], 32, "block_request.block_id"))


@dataclass(frozen=True)
class BlockReply(Reply):
    """``[45, block | null]``: the requested block, or null when the peer does not have it."""

    TYPE: ClassVar[int] = 45
    NAME: ClassVar[str] = "block_reply"
    PROTOCOL: ClassVar[str] = SYNC_PROTOCOL
    block: Block | None

    def to_fields(self) -> list[Any]:
        return [self.TYPE, None if self.block is None else self.block.to_fields()]

    def _assemble(self) -> bytes:
        body = enc.encode(None) if self.block is None else self.block.encoded
        return enc.array_header(2) + enc.encode(self.TYPE) + body

    @classmethod
    def from_fields(cls, f: list[Any]) -> BlockReply:
        enc.expect_len(f, 2, cls.NAME)
        return cls(None if f[1] is None else _block_field(f[1], "block_reply.block"))

    def _check(self, ctx: _Context) -> None:
        if self.block is not None:
            ctx.block(self.block, self.NAME)

    def _unsolicited(self, request: Request) -> str | None:
        if type(request) is not BlockRequest:
            return "not a block request"
        if self.block is not None and self.block.id != request.block_id:
            return "another block than requested"
        return None


# --------------------------------------------------------------------------- decoding

MESSAGE_TYPES: dict[int, type[Message]] = {
    m.TYPE: m for m in (TxBatch, TicketBatch, VoteBatch, Proposal, ProposalHeader, Announce,
                        AnnounceHeader, CompactProposal, StatusRequest, StatusReply,
                        SyncRequest, SyncReply, BlockRequest, BlockReply)
}
"""Every wire message by type tag."""

_GOSSIP: dict[str, tuple[type[Message], ...]] = {
    kind: tuple(m for m in MESSAGE_TYPES.values()
                if issubclass(m, GossipMessage) and kind == m.KIND)
    for kind in TOPIC_KINDS
}
_REQUESTS: dict[str, tuple[type[Message], ...]] = {
    p: tuple(m for m in MESSAGE_TYPES.values() if issubclass(m, Request) and p == m.PROTOCOL)
    for p in (SYNC_PROTOCOL, STATUS_PROTOCOL)
}
_REPLIES: dict[str, tuple[type[Message], ...]] = {
    p: tuple(m for m in MESSAGE_TYPES.values() if issubclass(m, Reply) and p == m.PROTOCOL)
    for p in (SYNC_PROTOCOL, STATUS_PROTOCOL)
}


def _decode(data: Any, allowed: Sequence[type[Message]], max_bytes: int,
            ctx: _Context) -> Message:
    """The one decoding path: size, well-formedness, type tag, shape, canonical form, then
    the receiver's checks. Every failure is a WireError with its reason."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise WireError(DropReason.MALFORMED, f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise WireError(DropReason.TOO_LARGE,
                        f"{len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        fields = enc.decode_raw(data, max_bytes)
    except DecodeError as exc:
        raise WireError(DropReason.MALFORMED, str(exc)) from None
    if type(fields) is not list or not fields or type(fields[0]) is not int:
        raise WireError(DropReason.MALFORMED, "expected an array led by a type tag")
    cls = MESSAGE_TYPES.get(fields[0])
    if cls is None:
        raise WireError(DropReason.UNKNOWN_TYPE, f"type tag {enc.describe(fields[0])}")
    if cls not in allowed:
        raise WireError(DropReason.WRONG_TOPIC, f"{cls.NAME} does not belong here")
    try:
        msg = cls.from_fields(fields)
    except WireError:
        raise
    except DecodeError as exc:
        raise WireError(DropReason.MALFORMED, str(exc)) from None
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise WireError(DropReason.MALFORMED, f"{cls.NAME}: {exc}"[:200]) from None
    if msg.encoded != data:
        raise WireError(DropReason.NOT_CANONICAL, f"{cls.NAME}: not the canonical encoding")
    msg._check(ctx)
    return msg


def decode_gossip(kind: str, data: BytesLike, *, chain_id: str,
                  max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> GossipMessage:
    """Decode a message received on the ``kind`` topic of ``chain_id``.

    Refused: over MAX_GOSSIP_BYTES (before decoding), not well-formed or canonical, a type
    that does not belong on this topic, an item for another chain, a block over
    ``max_block_bytes``, a certificate that does not match its block.
    """
    allowed = _GOSSIP.get(kind)
    if allowed is None:
        raise ValueError(f"unknown topic kind {kind!r}; expected one of {TOPIC_KINDS}")
    msg = _decode(data, allowed, MAX_GOSSIP_BYTES, _Context(chain_id, None, max_block_bytes))
    return cast(GossipMessage, msg)


def decode_request(protocol: str, data: BytesLike) -> Request:
    """Decode a request frame's message received on ``protocol`` (at most
    MAX_REQUEST_BYTES)."""
    allowed = _REQUESTS.get(protocol)
    if allowed is None:
        raise ValueError(f"unknown protocol {protocol!r}")
    return cast(Request, _decode(data, allowed, MAX_REQUEST_BYTES, _NO_CONTEXT))


def decode_reply(protocol: str, data: BytesLike, *, chain_id: str,
                 genesis_id: bytes | None = None, request: Request | None = None,
                 max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES,
                 max_bytes: int = MAX_REPLY_BYTES) -> Reply:
    """Decode a reply frame's message received on ``protocol``.

    With ``request`` (the one sent under the frame's request id) the reply must answer it:
    the matching type, and for a sync reply no more blocks than asked for, starting at the
    requested height; for a block reply the requested block or null (else ``unsolicited``).
    With ``genesis_id``, a status reply must name it. ``max_bytes`` can only lower the
    MAX_REPLY_BYTES cap.
    """
    allowed = _REPLIES.get(protocol)
    if allowed is None:
        raise ValueError(f"unknown protocol {protocol!r}")
    ctx = _Context(chain_id, genesis_id, max_block_bytes)
    reply = cast(Reply, _decode(data, allowed, min(max_bytes, MAX_REPLY_BYTES), ctx))
    if request is not None:
        why = reply._unsolicited(request)
        if why is not None:
            raise WireError(DropReason.UNSOLICITED, f"{reply.NAME}: {why}")
    return reply


# --------------------------------------------------------------------------- framing


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a request/response stream: a request id and one message's bytes."""

    request_id: int
    message: bytes


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_frame(request_id: int, message: bytes | Message,
                 max_message_bytes: int = MAX_REPLY_BYTES) -> bytes:
    """``uvarint(4 + len(message)) || request_id (4 bytes, big-endian) || message``.

    A reply carries the request id of the request it answers. Raises WireError
    (``too_large``) for a message over ``max_message_bytes``.
    """
    if isinstance(message, Message):
        message = message.encoded
    if type(request_id) is not int or not 0 <= request_id <= MAX_REQUEST_ID:
        raise ValueError(f"request id must be in [0, {MAX_REQUEST_ID}]")
    if not message:
        raise ValueError("a frame carries a non-empty message")
    if len(message) > max_message_bytes:
        raise WireError(DropReason.TOO_LARGE, f"frame message of {len(message)} bytes "
                                              f"exceeds the limit of {max_message_bytes}")
    return (_uvarint(REQUEST_ID_BYTES + len(message))
            + request_id.to_bytes(REQUEST_ID_BYTES, "big") + message)


class FrameDecoder:
    """Sans-I/O reader of one stream's frames: feed it the bytes as they arrive, get back
    every frame they complete.

    A length prefix over ``max_message_bytes`` (plus the request id) is refused as soon as
    its value is certain, before any of the frame is buffered, so a hostile declared length
    costs nothing; what is buffered never exceeds one frame plus the bytes of the current
    ``feed``. After a WireError the decoder is spent (every further ``feed`` raises it
    again): close the stream. A caller that reads with a deadline uses ``in_frame`` to tell
    a stalled frame from an idle stream, and calls :meth:`eof` when the stream ends.
    """

    def __init__(self, max_message_bytes: int) -> None:
        if max_message_bytes < 1:
            raise ValueError("max_message_bytes must be positive")
        self.max_message_bytes = max_message_bytes
        self._max_len = REQUEST_ID_BYTES + max_message_bytes
        self._buf = bytearray()
        self._need: int | None = None  # length of the frame in progress, once its prefix is in
        self._error: WireError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for the frame in progress."""
        return len(self._buf)

    @property
    def in_frame(self) -> bool:
        """True between the first byte of a frame and its last."""
        return bool(self._buf) or self._need is not None

    def feed(self, data: BytesLike) -> list[Frame]:
        if self._error is not None:
            raise self._error
        try:
            return self._feed(data)
        except WireError as exc:
            self._error = exc
            self._buf = bytearray()
            self._need = None
            raise

    def eof(self) -> None:
        """The stream ended: raise WireError (``malformed``) if it ended inside a frame."""
        if self._error is not None:
            raise self._error
        if self.in_frame:
            self._error = WireError(DropReason.MALFORMED, "the stream ended inside a frame")
            raise self._error

    def _feed(self, data: BytesLike) -> list[Frame]:
        buf = self._buf
        buf += data
        end = len(buf)
        pos = 0
        frames: list[Frame] = []
        with memoryview(buf) as view:  # one copy per frame; released before buf shrinks
            while True:
                need = self._need
                if need is None:
                    parsed = self._prefix(view, pos, end)
                    if parsed is None:
                        break
                    need, pos = parsed
                    self._need = need
                if end - pos < need:
                    break
                rid = int.from_bytes(view[pos:pos + REQUEST_ID_BYTES], "big")
                frames.append(Frame(rid, bytes(view[pos + REQUEST_ID_BYTES:pos + need])))
                pos += need
                self._need = None
        if pos:
            del buf[:pos]
        return frames

    def _prefix(self, buf: memoryview, pos: int, end: int) -> tuple[int, int] | None:
        """Parse a length prefix at ``pos``: (length, position after it), or None while
        incomplete. Minimal encoding only; refused as soon as the length must be too large
        (a minimal varint with a continuation bit after k bytes is at least 2^(7k))."""
        limit = self._max_len
        value = 0
        shift = 0
        i = pos
        while i < end:
            b = buf[i]
            i += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                if b == 0 and shift:
                    raise WireError(DropReason.MALFORMED, "frame length not in minimal form")
                if value > limit:
                    raise WireError(DropReason.TOO_LARGE, f"frame of {value} bytes exceeds "
                                                          f"the limit of {limit}")
                if value <= REQUEST_ID_BYTES:
                    raise WireError(DropReason.MALFORMED, "frame too short for a message")
                return value, i
            shift += 7
            if value > limit or 1 << shift > limit:
                raise WireError(DropReason.TOO_LARGE, f"frame length exceeds the limit of "
                                                      f"{limit}")
            if i - pos >= MAX_FRAME_PREFIX_BYTES:
                raise WireError(DropReason.MALFORMED, "frame length prefix too long")
        return None
