"""Lottery tickets (SPEC section 3): a miner's signed entry in one draw."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from daoli.core import encoding as enc
from daoli.core.crypto import PUBKEY_LEN, SIG_LEN, TAG_TICKET, sign, signing_bytes, verify


@dataclass(frozen=True)
class Ticket(enc.ProtocolObject):
    TYPE: ClassVar[int] = 2
    NAME: ClassVar[str] = "ticket"
    chain_id: str
    height: int
    cycle: int
    parent_id: bytes
    miner_pubkey: bytes
    sponsor_pubkey: bytes
    nonce: int
    time_ms: int
    sig: bytes = b""

    def unsigned_fields(self) -> list[Any]:
        return [self.TYPE, self.height, self.cycle, self.parent_id, self.miner_pubkey,
                self.sponsor_pubkey, self.nonce, self.time_ms]

    def signing_bytes(self) -> bytes:
        return signing_bytes(TAG_TICKET, self.chain_id, self.unsigned_fields())

    def signed(self, secret: bytes) -> Ticket:
        return replace(self, sig=sign(secret, self.signing_bytes()))

    def verify_sig(self) -> bool:
        return verify(self.miner_pubkey, self.sig, self.signing_bytes())

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.chain_id, self.height, self.cycle, self.parent_id,
                self.miner_pubkey, self.sponsor_pubkey, self.nonce, self.time_ms, self.sig]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Ticket:
        enc.expect_len(f, 10, "ticket")
        return cls(
            chain_id=enc.text(f[1], 64, "ticket.chain_id"),
            height=enc.uint(f[2], "ticket.height"),
            cycle=enc.uint(f[3], "ticket.cycle"),
            parent_id=enc.fixed_bytes(f[4], 32, "ticket.parent_id"),
            miner_pubkey=enc.fixed_bytes(f[5], PUBKEY_LEN, "ticket.miner_pubkey"),
            sponsor_pubkey=enc.fixed_bytes(f[6], PUBKEY_LEN, "ticket.sponsor_pubkey"),
            nonce=enc.uint(f[7], "ticket.nonce"),
            time_ms=enc.uint(f[8], "ticket.time_ms"),
            sig=enc.fixed_bytes(f[9], SIG_LEN, "ticket.sig"),
        )
