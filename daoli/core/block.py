"""Block headers and blocks: payload, payroll and the parent's commit certificate (SPEC 5)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, ClassVar

from daoli.core import encoding as enc
from daoli.core.crypto import PUBKEY_LEN, SIG_LEN, TAG_HEADER, sign, signing_bytes, verify
from daoli.core.hashing import EMPTY_ROOT, merkle_root
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction
from daoli.core.vote import CommitCertificate
from daoli.errors import DecodeError

MAX_PAYLOAD_TXS = 100_000
MAX_PAYROLL = 1_024


@dataclass(frozen=True)
class Header(enc.ProtocolObject):
    TYPE: ClassVar[int] = 5
    NAME: ClassVar[str] = "header"
    chain_id: str
    height: int
    cycle: int
    time_ms: int
    parent_id: bytes
    winner_ticket: Ticket
    payload_root: bytes
    payroll_root: bytes
    state_root: bytes
    last_commit_root: bytes
    proposer_pubkey: bytes
    proposer_sig: bytes = b""

    def unsigned_fields(self) -> list[Any]:
        return [self.TYPE, self.height, self.cycle, self.time_ms, self.parent_id,
                self.winner_ticket.to_fields(), self.payload_root, self.payroll_root,
                self.state_root, self.last_commit_root, self.proposer_pubkey]

    def signing_bytes(self) -> bytes:
        return signing_bytes(TAG_HEADER, self.chain_id, self.unsigned_fields())

    def signed(self, secret: bytes) -> Header:
        return replace(self, proposer_sig=sign(secret, self.signing_bytes()))

    def verify_sig(self) -> bool:
        return verify(self.proposer_pubkey, self.proposer_sig, self.signing_bytes())

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.chain_id, self.height, self.cycle, self.time_ms, self.parent_id,
                self.winner_ticket.to_fields(), self.payload_root, self.payroll_root,
                self.state_root, self.last_commit_root, self.proposer_pubkey, self.proposer_sig]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Header:
        enc.expect_len(f, 13, "header")
        h32 = enc.fixed_bytes
        return cls(
            chain_id=enc.text(f[1], 64, "header.chain_id"),
            height=enc.uint(f[2], "header.height"),
            cycle=enc.uint(f[3], "header.cycle"),
            time_ms=enc.uint(f[4], "header.time_ms"),
            parent_id=h32(f[5], 32, "header.parent_id"),
            winner_ticket=enc.object_from_fields(f[6], Ticket.TYPE, Ticket.from_fields,
                                                 "header.winner_ticket"),
            payload_root=h32(f[7], 32, "header.payload_root"),
            payroll_root=h32(f[8], 32, "header.payroll_root"),
            state_root=h32(f[9], 32, "header.state_root"),
            last_commit_root=h32(f[10], 32, "header.last_commit_root"),
            proposer_pubkey=h32(f[11], PUBKEY_LEN, "header.proposer_pubkey"),
            proposer_sig=h32(f[12], SIG_LEN, "header.proposer_sig"),
        )


def payload_root(payload: tuple[Transaction, ...] | list[Transaction]) -> bytes:
    return merkle_root([tx.id for tx in payload])


def payroll_root(payroll: tuple[Ticket, ...] | list[Ticket]) -> bytes:
    return merkle_root([t.id for t in payroll])


def last_commit_root(cert: CommitCertificate | None) -> bytes:
    return EMPTY_ROOT if cert is None else cert.id


@dataclass(frozen=True)
class Block(enc.ProtocolObject):
    TYPE: ClassVar[int] = 6
    NAME: ClassVar[str] = "block"
    header: Header
    payload: tuple[Transaction, ...] = ()
    payroll: tuple[Ticket, ...] = ()
    last_commit: CommitCertificate | None = None

    @property
    def id(self) -> bytes:
        return self.header.id

    @property
    def height(self) -> int:
        return self.header.height

    def roots_match(self) -> str | None:
        """None if the body matches the header's roots, else which root is wrong."""
        if payload_root(self.payload) != self.header.payload_root:
            return "payload_root does not match the payload"
        if payroll_root(self.payroll) != self.header.payroll_root:
            return "payroll_root does not match the payroll"
        if last_commit_root(self.last_commit) != self.header.last_commit_root:
            return "last_commit_root does not match last_commit"
        return None

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.header.to_fields(), [tx.to_fields() for tx in self.payload],
                [t.to_fields() for t in self.payroll],
                None if self.last_commit is None else self.last_commit.to_fields()]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Block:
        enc.expect_len(f, 5, "block")
        header = enc.object_from_fields(f[1], Header.TYPE, Header.from_fields, "block.header")
        payload = tuple(
            enc.object_from_fields(x, Transaction.TYPE, Transaction.from_fields, "block.tx")
            for x in enc.array(f[2], MAX_PAYLOAD_TXS, "block.payload"))
        payroll = tuple(
            enc.object_from_fields(x, Ticket.TYPE, Ticket.from_fields, "block.payroll")
            for x in enc.array(f[3], MAX_PAYROLL, "block.payroll"))
        last_commit = None if f[4] is None else enc.object_from_fields(
            f[4], CommitCertificate.TYPE, CommitCertificate.from_fields, "block.last_commit")
        return cls(header, payload, payroll, last_commit)

    @cached_property
    def encoded(self) -> bytes:
        """Assembled from the parts' cached encodings: equal to ``encode(to_fields())``, but
        every transaction and ticket is encoded once, and its id then costs one hash."""
        parts = [enc.array_header(5), enc.encode(self.TYPE), self.header.encoded,
                 enc.array_header(len(self.payload))]
        parts.extend(tx.encoded for tx in self.payload)
        parts.append(enc.array_header(len(self.payroll)))
        parts.extend(t.encoded for t in self.payroll)
        parts.append(enc.encode(None) if self.last_commit is None else self.last_commit.encoded)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes, max_bytes: int = enc.MAX_DECODE_BYTES) -> Block:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(f"block: expected bytes, got {type(data).__name__}")
        if len(data) > max_bytes:
            raise DecodeError(f"block: {len(data)} bytes exceeds the limit of {max_bytes}")
        return enc.decode_object(data, cls.TYPE, cls.from_fields, "block")
