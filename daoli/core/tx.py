"""Transactions (SPEC section 6): one envelope, nine kinds of body.

The envelope is ``[1, chain_id, kind, sender_pubkey, nonce, fee, body, sig]``; each body is
an array of its fields in the order SPEC.md lists them. The signature commits to everything
but itself, behind the ``daoli/tx/v1`` tag and the chain id.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from daoli.core import encoding as enc
from daoli.core.address import ADDRESS_LEN
from daoli.core.crypto import PUBKEY_LEN, SIG_LEN, TAG_TX, sign, signing_bytes, verify
from daoli.core.vote import Vote
from daoli.errors import DecodeError

MAX_MEMO = 256
MAX_MULTIADDR = 256
MAX_ENDPOINT = 256
MAX_TX_BYTES = 16 * 1024


class Body:
    """Base of transaction bodies; subclasses are frozen dataclasses with a KIND."""

    KIND: ClassVar[int]
    NAME: ClassVar[str]

    def to_fields(self) -> list[Any]:
        return [getattr(self, f.name) for f in fields(self)]  # type: ignore[arg-type]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Body:
        raise NotImplementedError


@dataclass(frozen=True)
class Transfer(Body):
    KIND: ClassVar[int] = 1
    NAME: ClassVar[str] = "transfer"
    to: bytes
    amount: int
    memo: bytes = b""

    @classmethod
    def from_fields(cls, f: list[Any]) -> Transfer:
        enc.expect_len(f, 3, "transfer")
        return cls(enc.fixed_bytes(f[0], ADDRESS_LEN, "transfer.to"),
                   enc.amount(f[1], "transfer.amount"),
                   enc.var_bytes(f[2], MAX_MEMO, "transfer.memo"))


@dataclass(frozen=True)
class TrusteeJoin(Body):
    KIND: ClassVar[int] = 2
    NAME: ClassVar[str] = "trustee_join"
    bond: int
    multiaddr: str

    @classmethod
    def from_fields(cls, f: list[Any]) -> TrusteeJoin:
        enc.expect_len(f, 2, "trustee_join")
        return cls(enc.amount(f[0], "trustee_join.bond"),
                   enc.text(f[1], MAX_MULTIADDR, "trustee_join.multiaddr"))


@dataclass(frozen=True)
class TrusteeLeave(Body):
    KIND: ClassVar[int] = 3
    NAME: ClassVar[str] = "trustee_leave"

    @classmethod
    def from_fields(cls, f: list[Any]) -> TrusteeLeave:
        enc.expect_len(f, 0, "trustee_leave")
        return cls()


@dataclass(frozen=True)
class Evidence(Body):
    KIND: ClassVar[int] = 4
    NAME: ClassVar[str] = "evidence"
    vote_a: Vote
    vote_b: Vote

    def to_fields(self) -> list[Any]:
        return [self.vote_a.to_fields(), self.vote_b.to_fields()]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Evidence:
        enc.expect_len(f, 2, "evidence")
        return cls(enc.object_from_fields(f[0], Vote.TYPE, Vote.from_fields, "evidence.vote_a"),
                   enc.object_from_fields(f[1], Vote.TYPE, Vote.from_fields, "evidence.vote_b"))


@dataclass(frozen=True)
class ResourceOffer(Body):
    KIND: ClassVar[int] = 5
    NAME: ClassVar[str] = "resource_offer"
    cpu_millicores: int
    mem_mib: int
    disk_gib: int
    net_mbps: int
    price_per_block: int
    unit_price: int
    capacity: int
    expires_height: int
    endpoint: str

    @classmethod
    def from_fields(cls, f: list[Any]) -> ResourceOffer:
        enc.expect_len(f, 9, "resource_offer")
        u = enc.uint
        return cls(u(f[0], "offer.cpu_millicores"), u(f[1], "offer.mem_mib"),
                   u(f[2], "offer.disk_gib"), u(f[3], "offer.net_mbps"),
                   enc.amount(f[4], "offer.price_per_block"), enc.amount(f[5], "offer.unit_price"),
                   u(f[6], "offer.capacity"), u(f[7], "offer.expires_height"),
                   enc.text(f[8], MAX_ENDPOINT, "offer.endpoint"))


@dataclass(frozen=True)
class ResourceOrder(Body):
    KIND: ClassVar[int] = 6
    NAME: ClassVar[str] = "resource_order"
    cpu_millicores: int
    mem_mib: int
    disk_gib: int
    net_mbps: int
    max_price_per_block: int
    duration_blocks: int
    deposit: int

    @classmethod
    def from_fields(cls, f: list[Any]) -> ResourceOrder:
        enc.expect_len(f, 7, "resource_order")
        u = enc.uint
        return cls(u(f[0], "order.cpu_millicores"), u(f[1], "order.mem_mib"),
                   u(f[2], "order.disk_gib"), u(f[3], "order.net_mbps"),
                   enc.amount(f[4], "order.max_price_per_block"),
                   u(f[5], "order.duration_blocks"), enc.amount(f[6], "order.deposit"))


@dataclass(frozen=True)
class LeaseClose(Body):
    KIND: ClassVar[int] = 7
    NAME: ClassVar[str] = "lease_close"
    lease_id: bytes

    @classmethod
    def from_fields(cls, f: list[Any]) -> LeaseClose:
        enc.expect_len(f, 1, "lease_close")
        return cls(enc.fixed_bytes(f[0], 32, "lease_close.lease_id"))


@dataclass(frozen=True)
class UsageReceipt(Body):
    KIND: ClassVar[int] = 8
    NAME: ClassVar[str] = "usage_receipt"
    lease_id: bytes
    units: int
    seq: int
    buyer_sig: bytes

    @classmethod
    def from_fields(cls, f: list[Any]) -> UsageReceipt:
        enc.expect_len(f, 4, "usage_receipt")
        return cls(enc.fixed_bytes(f[0], 32, "receipt.lease_id"),
                   enc.uint(f[1], "receipt.units"), enc.uint(f[2], "receipt.seq"),
                   enc.fixed_bytes(f[3], SIG_LEN, "receipt.buyer_sig"))


@dataclass(frozen=True)
class OfferCancel(Body):
    KIND: ClassVar[int] = 9
    NAME: ClassVar[str] = "offer_cancel"
    offer_id: bytes

    @classmethod
    def from_fields(cls, f: list[Any]) -> OfferCancel:
        enc.expect_len(f, 1, "offer_cancel")
        return cls(enc.fixed_bytes(f[0], 32, "offer_cancel.offer_id"))


BODY_TYPES: dict[int, type[Body]] = {
    b.KIND: b for b in (Transfer, TrusteeJoin, TrusteeLeave, Evidence, ResourceOffer,
                        ResourceOrder, LeaseClose, UsageReceipt, OfferCancel)
}
BODY_BY_NAME: dict[str, type[Body]] = {b.NAME: b for b in BODY_TYPES.values()}


@dataclass(frozen=True)
class Transaction(enc.ProtocolObject):
    TYPE: ClassVar[int] = 1
    NAME: ClassVar[str] = "tx"
    chain_id: str
    sender_pubkey: bytes
    nonce: int
    fee: int
    body: Body
    sig: bytes = b""

    @property
    def kind(self) -> int:
        return self.body.KIND

    def unsigned_fields(self) -> list[Any]:
        return [self.TYPE, self.kind, self.sender_pubkey, self.nonce, self.fee,
                self.body.to_fields()]

    def signing_bytes(self) -> bytes:
        return signing_bytes(TAG_TX, self.chain_id, self.unsigned_fields())

    def signed(self, secret: bytes) -> Transaction:
        return replace(self, sig=sign(secret, self.signing_bytes()))

    def verify_sig(self) -> bool:
        return verify(self.sender_pubkey, self.sig, self.signing_bytes())

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.chain_id, self.kind, self.sender_pubkey, self.nonce, self.fee,
                self.body.to_fields(), self.sig]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Transaction:
        enc.expect_len(f, 8, "tx")
        kind = enc.uint(f[2], "tx.kind")
        body_type = BODY_TYPES.get(kind)
        if body_type is None:
            raise DecodeError(f"tx.kind: unknown transaction kind {kind}")
        body_fields = enc.array(f[6], 16, "tx.body")
        return cls(
            chain_id=enc.text(f[1], 64, "tx.chain_id"),
            sender_pubkey=enc.fixed_bytes(f[3], PUBKEY_LEN, "tx.sender_pubkey"),
            nonce=enc.uint(f[4], "tx.nonce"),
            fee=enc.amount(f[5], "tx.fee"),
            body=body_type.from_fields(body_fields),
            sig=enc.fixed_bytes(f[7], SIG_LEN, "tx.sig"),
        )

    @classmethod
    def decode(cls, data: bytes) -> Transaction:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise enc.DecodeError(f"tx: expected bytes, got {type(data).__name__}")
        if len(data) > MAX_TX_BYTES:
            raise DecodeError(f"tx: {len(data)} bytes exceeds the limit of {MAX_TX_BYTES}")
        return enc.decode_object(data, cls.TYPE, cls.from_fields, "tx")
