"""Trustee votes (prevote, precommit) and the commit certificate made of precommits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from daoli.core import encoding as enc
from daoli.core.crypto import PUBKEY_LEN, SIG_LEN, TAG_VOTE, sign, signing_bytes, verify
from daoli.errors import DecodeError, InvalidConsensusMessage

PREVOTE = 1
PRECOMMIT = 2
VOTE_TYPES = (PREVOTE, PRECOMMIT)
NIL = b""
"""``block_id`` of a vote for nothing."""

MAX_CERT_SIGNATURES = 1_000


def _block_id(value: Any, field: str) -> bytes:
    if type(value) is not bytes or len(value) not in (0, 32):
        raise DecodeError(f"{field}: expected 32 bytes or empty (nil)")
    return value


@dataclass(frozen=True)
class Vote(enc.ProtocolObject):
    TYPE: ClassVar[int] = 3
    NAME: ClassVar[str] = "vote"
    chain_id: str
    vtype: int
    height: int
    round: int
    block_id: bytes
    trustee_pubkey: bytes
    time_ms: int
    sig: bytes = b""

    def unsigned_fields(self) -> list[Any]:
        return [self.TYPE, self.vtype, self.height, self.round, self.block_id,
                self.trustee_pubkey, self.time_ms]

    def signing_bytes(self) -> bytes:
        return signing_bytes(TAG_VOTE, self.chain_id, self.unsigned_fields())

    def signed(self, secret: bytes) -> Vote:
        return _replace_sig(self, sign(secret, self.signing_bytes()))

    def verify_sig(self) -> bool:
        return verify(self.trustee_pubkey, self.sig, self.signing_bytes())

    @property
    def is_nil(self) -> bool:
        return self.block_id == NIL

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.chain_id, self.vtype, self.height, self.round, self.block_id,
                self.trustee_pubkey, self.time_ms, self.sig]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Vote:
        enc.expect_len(f, 9, "vote")
        vtype = enc.uint(f[2], "vote.vtype")
        if vtype not in VOTE_TYPES:
            raise DecodeError(f"vote.vtype: unknown vote type {vtype}")
        return cls(
            chain_id=enc.text(f[1], 64, "vote.chain_id"),
            vtype=vtype,
            height=enc.uint(f[3], "vote.height"),
            round=enc.uint(f[4], "vote.round"),
            block_id=_block_id(f[5], "vote.block_id"),
            trustee_pubkey=enc.fixed_bytes(f[6], PUBKEY_LEN, "vote.trustee_pubkey"),
            time_ms=enc.uint(f[7], "vote.time_ms"),
            sig=enc.fixed_bytes(f[8], SIG_LEN, "vote.sig"),
        )


def _replace_sig(vote: Vote, sig: bytes) -> Vote:
    return Vote(vote.chain_id, vote.vtype, vote.height, vote.round, vote.block_id,
                vote.trustee_pubkey, vote.time_ms, sig)


@dataclass(frozen=True)
class CommitSig:
    """One trustee's precommit inside a certificate; the rest of the vote is shared."""

    trustee_pubkey: bytes
    time_ms: int
    sig: bytes


@dataclass(frozen=True)
class CommitCertificate(enc.ProtocolObject):
    """q precommits for one block at one (height, round): proof that the block is final.

    Signatures are sorted by trustee public key and unique, so a certificate for a given set
    of votes has one encoding.
    """

    TYPE: ClassVar[int] = 4
    NAME: ClassVar[str] = "certificate"
    height: int
    round: int
    block_id: bytes
    sigs: tuple[CommitSig, ...]

    def votes(self, chain_id: str) -> list[Vote]:
        return [Vote(chain_id, PRECOMMIT, self.height, self.round, self.block_id,
                     s.trustee_pubkey, s.time_ms, s.sig) for s in self.sigs]

    @property
    def signers(self) -> list[bytes]:
        return [s.trustee_pubkey for s in self.sigs]

    @classmethod
    def from_votes(cls, votes: list[Vote]) -> CommitCertificate:
        if not votes:
            raise InvalidConsensusMessage("a certificate needs at least one precommit")
        v0 = votes[0]
        by_key: dict[bytes, CommitSig] = {}
        for v in votes:
            if (v.vtype, v.height, v.round, v.block_id) != (PRECOMMIT, v0.height, v0.round,
                                                           v0.block_id):
                raise InvalidConsensusMessage(
                    "certificate votes must be precommits for one block and round")
            by_key[v.trustee_pubkey] = CommitSig(v.trustee_pubkey, v.time_ms, v.sig)
        sigs = tuple(by_key[k] for k in sorted(by_key))
        return cls(v0.height, v0.round, v0.block_id, sigs)

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.height, self.round, self.block_id,
                [[s.trustee_pubkey, s.time_ms, s.sig] for s in self.sigs]]

    @classmethod
    def from_fields(cls, f: list[Any]) -> CommitCertificate:
        enc.expect_len(f, 5, "certificate")
        block_id = enc.fixed_bytes(f[3], 32, "certificate.block_id")
        sigs = []
        for item in enc.array(f[4], MAX_CERT_SIGNATURES, "certificate.sigs"):
            s = enc.array(item, 3, "certificate.sig")
            enc.expect_len(s, 3, "certificate.sig")
            sigs.append(CommitSig(enc.fixed_bytes(s[0], PUBKEY_LEN, "certificate.pubkey"),
                                  enc.uint(s[1], "certificate.time_ms"),
                                  enc.fixed_bytes(s[2], SIG_LEN, "certificate.sig")))
        keys = [s.trustee_pubkey for s in sigs]
        if keys != sorted(set(keys)):
            raise DecodeError("certificate: signatures must be sorted by key and unique")
        return cls(enc.uint(f[1], "certificate.height"), enc.uint(f[2], "certificate.round"),
                   block_id, tuple(sigs))
