"""The ledger state as a key-value map, and its incremental state root.

The state root must not cost a pass over every entry per block, so it is derived from an
additive multiset hash (AdHash) kept alongside the state: each live entry maps to a
4096-bit element, the accumulator is their sum modulo 2^4096, and changing an entry
subtracts its old element and adds its new one. Work per block is proportional to the
entries it changes. Wagner's k-tree algorithm finds a colliding multiset for a modulus of
2^n in about 2^(2*sqrt(n)) operations, 2^128 for n = 4096, which is why the modulus is so
wide. The root is SHA-256 over a tag and the accumulator, so a root is 32 bytes like every
other hash in the protocol.

Keys starting with ``PREFIX_UNCOMMITTED`` (``b"N"``) are stored but not accumulated: the
only such entry is the tip's block id, which cannot be committed by the root that its own
header carries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from daoli.core.ledger_types import PREFIX_UNCOMMITTED

ACC_BITS = 4096
ACC_BYTES = ACC_BITS // 8
ACC_MASK = (1 << ACC_BITS) - 1
ELEMENT_TAG = b"daoli/state/v1"
ROOT_TAG = b"daoli/state-root/v1"
EMPTY_ACC = bytes(ACC_BYTES)
_UNCOMMITTED = PREFIX_UNCOMMITTED[0]


class StateReader(Protocol):
    def get(self, key: bytes) -> bytes | None:
        """Raw canonical-CBOR value bytes, or None if the key is absent."""
        ...


def is_committed(key: bytes) -> bool:
    """Whether the entry under ``key`` counts in the state root."""
    return not key or key[0] != _UNCOMMITTED


def element(key: bytes, value: bytes) -> int:
    """The AdHash element of one entry; the key length byte keeps key and value apart."""
    if len(key) > 255:
        raise ValueError("state keys are at most 255 bytes")
    h = hashlib.shake_256(ELEMENT_TAG + bytes((len(key),)) + key + value)
    return int.from_bytes(h.digest(ACC_BYTES), "little")


def acc_to_int(acc: bytes) -> int:
    if len(acc) != ACC_BYTES:
        raise ValueError(f"a state accumulator is {ACC_BYTES} bytes, got {len(acc)}")
    return int.from_bytes(acc, "little")


def int_to_acc(value: int) -> bytes:
    return (value & ACC_MASK).to_bytes(ACC_BYTES, "little")


def state_root_of(acc: bytes) -> bytes:
    if len(acc) != ACC_BYTES:
        raise ValueError(f"a state accumulator is {ACC_BYTES} bytes, got {len(acc)}")
    return hashlib.sha256(ROOT_TAG + acc).digest()


def compute_acc(items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The accumulator of a whole state, from scratch: for checks and tests, not per block."""
    total = 0
    for key, value in items:
        if is_committed(key):
            total += element(key, value)
    return int_to_acc(total)


def update_acc(acc: int, key: bytes, old: bytes | None, new: bytes | None) -> int:
    """Move ``acc`` (as an int) from ``key -> old`` to ``key -> new``."""
    if old == new or not is_committed(key):
        return acc
    if old is not None:
        acc -= element(key, old)
    if new is not None:
        acc += element(key, new)
    return acc & ACC_MASK


@dataclass(frozen=True)
class StateDiff:
    """What applying something changed: only keys whose value really changed."""

    writes: Mapping[bytes, bytes | None]
    """key -> new value bytes; None deletes the key."""
    acc: bytes
    """The accumulator after, ``ACC_BYTES`` long."""
    root: bytes
    """The 32-byte state root after."""


def make_diff(base: StateReader, acc: bytes, writes: Mapping[bytes, bytes | None]) -> StateDiff:
    """A diff from ``base`` (whose accumulator is ``acc``) to ``base`` updated by ``writes``.

    Keys whose new value equals the current one are dropped, so a diff lists real changes.
    """
    value = acc_to_int(acc)
    real: dict[bytes, bytes | None] = {}
    for key, new in writes.items():
        old = base.get(key)
        if old == new:
            continue
        real[key] = new
        value = update_acc(value, key, old, new)
    new_acc = int_to_acc(value)
    return StateDiff(MappingProxyType(real), new_acc, state_root_of(new_acc))


class MemoryState:
    """An in-memory StateReader with its accumulator: for tests and the simulator."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self.acc: bytes = EMPTY_ACC

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    @property
    def root(self) -> bytes:
        return state_root_of(self.acc)

    def apply(self, diff: StateDiff) -> None:
        for key, value in diff.writes.items():
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value
        self.acc = diff.acc

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(sorted(self._data.items()))

    def __len__(self) -> int:
        return len(self._data)

    def copy(self) -> MemoryState:
        other = MemoryState()
        other._data = dict(self._data)
        other.acc = self.acc
        return other
