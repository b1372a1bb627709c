"""The genesis: chain id, start time, parameters, allocations and the first trustees.

Its canonical encoding is hashed into the genesis id, which is the parent id of block 1, so
two nodes with different genesis files can never agree on a block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from daoli.core import encoding as enc
from daoli.core.address import decode_address, encode_address
from daoli.core.crypto import PUBKEY_LEN, check_pubkey
from daoli.core.params import ChainParams
from daoli.core.tx import MAX_MULTIADDR
from daoli.errors import ConfigError, DaoliError, DecodeError, InvalidKey

CHAIN_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
"""1 to 63 of a-z, 0-9 and '-', starting with a letter or digit (use with ``match``: ``\\Z``, not
``$``, so a trailing newline is refused)."""


@dataclass(frozen=True)
class Allocation:
    address: bytes
    amount: int


@dataclass(frozen=True)
class GenesisTrustee:
    pubkey: bytes
    bond: int
    multiaddr: str


@dataclass(frozen=True)
class Genesis(enc.ProtocolObject):
    TYPE: ClassVar[int] = 7
    NAME: ClassVar[str] = "genesis"
    chain_id: str
    genesis_time_ms: int
    params: ChainParams
    allocations: tuple[Allocation, ...] = ()
    trustees: tuple[GenesisTrustee, ...] = ()

    def __post_init__(self) -> None:
        if type(self.genesis_time_ms) is not int or not 0 <= self.genesis_time_ms <= enc.MAX_U64:
            raise ConfigError("genesis_time_ms must be an integer in [0, 2^64)")
        if not CHAIN_ID_RE.match(self.chain_id):
            raise ConfigError(f"chain_id {self.chain_id!r}: use 1-63 of a-z, 0-9 and '-'")
        addrs = [a.address for a in self.allocations]
        if len(set(addrs)) != len(addrs):
            raise ConfigError("genesis allocates to one address twice")
        keys = [t.pubkey for t in self.trustees]
        if len(set(keys)) != len(keys):
            raise ConfigError("genesis lists one trustee twice")
        for k in keys:  # a trustee whose key is not a curve point could never sign a vote
            try:
                check_pubkey(k)
            except InvalidKey as exc:
                raise ConfigError(f"genesis trustee {k.hex()[:16]}...: {exc}") from None
        for t in self.trustees:
            if t.bond < self.params.min_bond:
                raise ConfigError(f"trustee bond {t.bond} is below min_bond")
        if len(self.trustees) > self.params.max_trustees:
            raise ConfigError("genesis lists more than max_trustees trustees")
        total = sum(a.amount for a in self.allocations) + sum(t.bond for t in self.trustees)
        if total + self.params.max_issuance > enc.MAX_AMOUNT:
            raise ConfigError("genesis supply plus all future block rewards exceeds 2^63 - 1 li")

    def to_fields(self) -> list[Any]:
        return [self.TYPE, self.chain_id, self.genesis_time_ms, self.params.to_fields(),
                [[a.address, a.amount] for a in self.allocations],
                [[t.pubkey, t.bond, t.multiaddr] for t in self.trustees]]

    @classmethod
    def from_fields(cls, f: list[Any]) -> Genesis:
        enc.expect_len(f, 6, "genesis")
        allocs = []
        for a in enc.array(f[4], 1 << 20, "genesis.allocations"):
            enc.expect_len(enc.array(a, 2, "allocation"), 2, "allocation")
            allocs.append(Allocation(enc.fixed_bytes(a[0], 20, "allocation.address"),
                                     enc.amount(a[1], "allocation.amount")))
        trustees = []
        for t in enc.array(f[5], 10_000, "genesis.trustees"):
            enc.expect_len(enc.array(t, 3, "trustee"), 3, "trustee")
            trustees.append(GenesisTrustee(enc.fixed_bytes(t[0], PUBKEY_LEN, "trustee.pubkey"),
                                           enc.amount(t[1], "trustee.bond"),
                                           enc.text(t[2], MAX_MULTIADDR, "trustee.multiaddr")))
        try:
            return cls(enc.text(f[1], 64, "genesis.chain_id"), enc.uint(f[2], "genesis.time"),
                       ChainParams.from_fields(f[3]), tuple(allocs), tuple(trustees))
        except ConfigError as exc:
            raise DecodeError(str(exc)) from None


    # --- the TOML form users edit ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "genesis_time_ms": self.genesis_time_ms,
            "params": self.params.to_dict(),
            "allocations": [{"address": encode_address(a.address), "amount": a.amount}
                            for a in self.allocations],
            "trustees": [{"pubkey": t.pubkey.hex(), "bond": t.bond, "multiaddr": t.multiaddr}
                         for t in self.trustees],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Genesis:
        """Parse the TOML form; every mistake is a ConfigError naming the entry."""
        known = {"chain_id", "genesis_time_ms", "params", "allocations", "trustees"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"genesis: unknown key(s): {', '.join(unknown)}")
        try:
            chain_id = data["chain_id"]
            time_ms = data["genesis_time_ms"]
        except KeyError as exc:
            raise ConfigError(f"genesis: missing {exc.args[0]}") from None
        if type(chain_id) is not str:
            raise ConfigError("genesis: chain_id must be a string")
        if type(time_ms) is not int or time_ms < 0:
            raise ConfigError("genesis: genesis_time_ms must be a non-negative integer")
        params = ChainParams.from_dict(_table(data.get("params", {}), "params"))
        allocs = []
        for i, a in enumerate(data.get("allocations", [])):
            a = _table(a, f"allocations[{i}]")
            try:
                allocs.append(Allocation(decode_address(a["address"]),
                                         _amount(a["amount"], f"allocations[{i}].amount")))
            except KeyError as exc:
                raise ConfigError(f"genesis: allocations[{i}] lacks {exc.args[0]}") from None
            except DaoliError as exc:
                raise ConfigError(f"genesis: allocations[{i}]: {exc}") from None
        trustees = []
        for i, t in enumerate(data.get("trustees", [])):
            t = _table(t, f"trustees[{i}]")
            try:
                pubkey = check_pubkey(bytes.fromhex(t["pubkey"]))
                trustees.append(GenesisTrustee(pubkey, _amount(t["bond"], f"trustees[{i}].bond"),
                                               str(t["multiaddr"])))
            except KeyError as exc:
                raise ConfigError(f"genesis: trustees[{i}] lacks {exc.args[0]}") from None
            except (ValueError, TypeError, DaoliError) as exc:
                raise ConfigError(f"genesis: trustees[{i}]: {exc}") from None
        return cls(chain_id, time_ms, params, tuple(allocs), tuple(trustees))


def _table(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"genesis: {name} must be a table")
    return value


def _amount(value: Any, name: str) -> int:
    if type(value) is not int or value < 0 or value > enc.MAX_AMOUNT:
        raise ConfigError(f"genesis: {name} must be an integer amount in li")
    return value
