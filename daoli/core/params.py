"""Chain parameters: every number SPEC.md names, with its default, fixed at genesis.

Parameters live in the genesis so that two nodes on one chain cannot disagree about them.
Defaults not given by SPEC.md are justified in docs/protocol.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from daoli.core.encoding import uint
from daoli.errors import ConfigError, DecodeError

LI_PER_DLC = 100_000_000
"""1 DLC = 10^8 li, the base unit."""


@dataclass(frozen=True)
class ChainParams:
    # decentralized clock (SPEC 2)
    cycle_ms: int = 1_000
    max_drift_ms: int = 2_000
    # lottery (SPEC 3)
    phi_ms: int = 300
    delta_ms: int = 200
    diameter: int = 16
    pow_difficulty: int = 4_096
    """Expected hashes per ticket; ``pow_target = 2**256 // pow_difficulty``."""
    epoch_blocks: int = 32
    # trustees (SPEC 4)
    min_bond: int = 1_000 * LI_PER_DLC
    unbond_epochs: int = 2
    max_trustees: int = 100
    timeout_propose_ms: int = 1_000
    timeout_prevote_ms: int = 500
    timeout_precommit_ms: int = 500
    timeout_delta_ms: int = 500
    # blocks and rewards (SPEC 5)
    block_reward: int = 50 * LI_PER_DLC
    halving_blocks: int = 4_000_000
    lineup_blocks: int = 64
    max_block_bytes: int = 4 * 1024 * 1024
    # ledger (SPEC 6)
    min_fee: int = 1_000

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if type(v) is not int or v < 0 or v >= 1 << 63:
                raise ConfigError(f"parameter {f.name} must be a non-negative integer < 2^63")
        for name in ("cycle_ms", "diameter", "pow_difficulty", "epoch_blocks", "max_trustees",
                     "halving_blocks", "max_block_bytes"):
            if getattr(self, name) == 0:
                raise ConfigError(f"parameter {name} must be positive")
        if self.phi_ms + self.delta_ms > self.cycle_ms:
            raise ConfigError("phi_ms + delta_ms must not exceed cycle_ms")

    @property
    def pow_target(self) -> int:
        return (1 << 256) // self.pow_difficulty

    @property
    def max_issuance(self) -> int:
        """Every coin block subsidies can ever mint (all halvings summed).

        Genesis keeps its supply plus this below 2^63, so no balance can ever overflow and no
        block can be made invalid by the rewards it pays."""
        return sum((self.block_reward >> k) * self.halving_blocks for k in range(64))

    def to_fields(self) -> list[int]:
        """Parameters in declaration order: the canonical encoding inside the genesis."""
        return [getattr(self, f.name) for f in dataclasses.fields(self)]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> ChainParams:
        names = [f.name for f in dataclasses.fields(cls)]
        if type(fields) is not list or len(fields) != len(names):
            raise DecodeError(f"params: expected {len(names)} values")
        values = {n: uint(v, f"params.{n}") for n, v in zip(names, fields, strict=True)}
        try:
            return cls(**values)
        except ConfigError as exc:
            raise DecodeError(str(exc)) from None

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChainParams:
        """From a TOML table; unknown names are an error (a typo must not become a default)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown parameter(s): {', '.join(unknown)}")
        for k, v in data.items():
            if type(v) is not int:
                raise ConfigError(f"parameter {k} must be an integer, got {v!r}")
        return cls(**data)

    def replace(self, **changes: int) -> ChainParams:
        return dataclasses.replace(self, **changes)
