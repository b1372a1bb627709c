"""Deterministic CBOR (RFC 8949 section 4.2) for every protocol object.

Each object is a CBOR array whose first item is a type/version integer. Decoding is strict:
the bytes must decode, have the right shape and types, and re-encode to exactly the same
bytes, so that an object id (the SHA-256 of its encoding) is unique. Only plain CBOR is read
(integers, strings, arrays, maps, simple values; no tags, no indefinite lengths), checked
before cbor2 sees it. Every failure of untrusted input surfaces as
:class:`daoli.errors.DecodeError` and nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any, ClassVar, Self, TypeVar

import cbor2

from daoli.errors import DecodeError

MAX_U64 = (1 << 64) - 1
MAX_AMOUNT = (1 << 63) - 1
"""Amounts are non-negative integers below 2^63 (SPEC section 1)."""

MAX_DECODE_BYTES = 8 * 1024 * 1024
"""Nothing this protocol decodes is larger than a maximal block plus framing."""

T = TypeVar("T")


def encode(value: Any) -> bytes:
    """Canonical CBOR of a tree of ints, bytes, str, bool, None, lists and dicts."""
    return cbor2.dumps(value, canonical=True)


class ProtocolObject:
    """What every protocol object shares: one canonical encoding, cached; an id that is its
    SHA-256; and a strict ``decode``. Subclasses are frozen dataclasses that define ``TYPE``,
    ``NAME``, ``to_fields`` and ``from_fields``."""

    TYPE: ClassVar[int]
    NAME: ClassVar[str]

    def to_fields(self) -> list[Any]:
        raise NotImplementedError

    @classmethod
    def from_fields(cls, fields: list[Any]) -> Self:
        raise NotImplementedError

    @cached_property
    def encoded(self) -> bytes:
        return encode(self.to_fields())

    def encode(self) -> bytes:
        return self.encoded

    @cached_property
    def id(self) -> bytes:
        """SHA-256 of the canonical encoding (SPEC section 1)."""
        return hashlib.sha256(self.encoded).digest()

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return decode_object(data, cls.TYPE, cls.from_fields, cls.NAME)


def array_header(n: int) -> bytes:
    """Canonical CBOR head of an array of ``n`` items.

    Lets a container's encoding be assembled from its items' cached encodings (a block from
    its transactions'), so each item is encoded once and its id comes for free.
    """
    if n < 24:
        return bytes((0x80 + n,))
    if n < 0x100:
        return bytes((0x98, n))
    if n < 0x10000:
        return b"\x99" + n.to_bytes(2, "big")
    if n < 0x100000000:
        return b"\x9a" + n.to_bytes(4, "big")
    return b"\x9b" + n.to_bytes(8, "big")


def decode_raw(data: bytes, max_bytes: int = MAX_DECODE_BYTES) -> Any:
    """Decode untrusted bytes into plain CBOR values; any failure is a DecodeError.

    The bytes are first checked by :func:`check_well_formed`, which admits only the plain
    subset this protocol writes (no tags, no indefinite lengths, shortest heads, bounded depth,
    one item and nothing after it). That matters because cbor2 implements many tags: value
    sharing (28/29) lets a few hundred bytes describe a DAG whose repr or traversal is
    exponential, tag 35 compiles a regular expression, tag 36 runs the e-mail parser, bignums
    make integers that ``repr`` refuses to print. cbor2 still raises a zoo of exceptions on
    what remains (bad UTF-8, bad simple values...), which is why the net is wide here and only
    here.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise DecodeError(f"encoding of {len(data)} bytes exceeds the limit of {max_bytes}")
    check_well_formed(data)
    try:
        return cbor2.loads(data)
    except Exception as exc:  # noqa: BLE001 - untrusted input: every failure is a DecodeError
        raise DecodeError(f"malformed CBOR: {type(exc).__name__}: {exc}"[:200]) from None


MAX_DEPTH = 32
"""Deepest nesting of arrays/maps accepted; protocol objects nest at most 6 deep."""

_MIN_ARG = {24: 24, 25: 1 << 8, 26: 1 << 16, 27: 1 << 32}
"""Smallest argument that needs each head width: anything below is a non-shortest head."""


def check_well_formed(data: bytes) -> None:
    """Raise DecodeError unless ``data`` is exactly one item of the plain CBOR subset.

    Iterative (an explicit stack, not recursion) and linear in the number of items, and every
    declared length is checked against the bytes that remain, so hostile input can neither
    exhaust the stack nor make anything allocate more than the input's size. Written for
    speed (it runs over every block received): locals only, the common one-byte heads first.
    """
    n = len(data)
    pos = 0
    # items still expected in each open container; a map's entry counts keys and values, and
    # its depth is recorded in ``maps`` so keys can be recognised (odd remaining counts)
    remaining = [1]
    maps: set[int] = set()
    min_arg = _MIN_ARG
    while remaining:
        left = remaining[-1]
        if left == 0:
            depth = len(remaining)
            remaining.pop()
            maps.discard(depth)
            continue
        remaining[-1] = left - 1
        if pos >= n:
            raise DecodeError("malformed CBOR: truncated")
        head = data[pos]
        pos += 1
        major = head >> 5
        info = head & 0x1F
        if info < 24:
            arg = info
        elif info <= 27:
            width = 1 << (info - 24)
            end = pos + width
            if end > n:
                raise DecodeError("malformed CBOR: truncated")
            arg = int.from_bytes(data[pos:end], "big")
            pos = end
            if major != 7 and arg < min_arg[info]:
                raise DecodeError("malformed CBOR: integer or length not in its shortest form")
        elif info == 31:
            raise DecodeError("malformed CBOR: indefinite lengths are not allowed")
        else:
            raise DecodeError(f"malformed CBOR: reserved header byte 0x{head:02x}")
        if maps and major > 3 and left % 2 == 0 and len(remaining) in maps:
            raise DecodeError("malformed CBOR: map keys must be integers or strings")
        if major == 2 or major == 3:
            if arg > n - pos:
                raise DecodeError("malformed CBOR: string longer than the input")
            pos += arg
        elif major == 4 or major == 5:
            count = arg if major == 4 else 2 * arg
            if count > n - pos:  # every item takes at least one byte
                raise DecodeError("malformed CBOR: container longer than the input")
            if len(remaining) > MAX_DEPTH:
                raise DecodeError(f"malformed CBOR: nested deeper than {MAX_DEPTH}")
            remaining.append(count)
            if major == 5:
                maps.add(len(remaining))
        elif major == 6:
            raise DecodeError(f"malformed CBOR: tag {arg} is not allowed")
    if pos != n:
        raise DecodeError(f"malformed CBOR: {n - pos} bytes after the end of the item")


def describe(value: Any) -> str:
    """A short description of an untrusted value, safe to put in an error message.

    Never ``repr`` a decoded container: its size is attacker-controlled, and a huge integer's
    repr raises ValueError in Python 3.11+ (the int/str conversion limit).
    """
    if value is None or type(value) is bool:
        return repr(value)
    if type(value) is int:
        return repr(value) if value.bit_length() <= 64 else "an integer beyond 64 bits"
    if type(value) in (bytes, str):
        shown = repr(value[:32])
        return f"{shown}..." if len(value) > 32 else shown
    if type(value) is list:
        return f"an array of {len(value)} items"
    return f"a value of type {type(value).__name__}"


def decode_object(
    data: bytes, type_id: int, from_fields: Callable[[list[Any]], T], name: str
) -> T:
    """Decode ``data`` as the object with leading ``type_id`` and check it is canonical."""
    data = bytes(data) if isinstance(data, bytearray | memoryview) else data
    fields = decode_raw(data)
    obj = object_from_fields(fields, type_id, from_fields, name)
    if obj.encode() != data:  # type: ignore[attr-defined]
        raise DecodeError(f"{name}: not the canonical encoding")
    return obj


def object_from_fields(
    fields: Any, type_id: int, from_fields: Callable[[list[Any]], T], name: str
) -> T:
    """Build a nested object from decoded fields, turning every shape error into DecodeError."""
    if not isinstance(fields, list) or not fields:
        raise DecodeError(f"{name}: expected a non-empty array")
    if type(fields[0]) is not int or fields[0] != type_id:
        raise DecodeError(f"{name}: expected type {type_id}, got {describe(fields[0])}")
    try:
        return from_fields(fields)
    except DecodeError:
        raise
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise DecodeError(f"{name}: {exc}"[:200]) from None


# --- field checkers: each returns the value or raises DecodeError naming the field ---------


def expect_len(fields: Sequence[Any], n: int, name: str) -> None:
    if len(fields) != n:
        raise DecodeError(f"{name}: expected {n} fields, got {len(fields)}")


def uint(value: Any, field: str, maximum: int = MAX_U64) -> int:
    if type(value) is not int or value < 0 or value > maximum:
        raise DecodeError(f"{field}: expected an integer in [0, {maximum}], got {describe(value)}")
    return value


def amount(value: Any, field: str) -> int:
    return uint(value, field, MAX_AMOUNT)


def fixed_bytes(value: Any, n: int, field: str) -> bytes:
    if type(value) is not bytes or len(value) != n:
        raise DecodeError(f"{field}: expected {n} bytes")
    return value


def var_bytes(value: Any, max_len: int, field: str) -> bytes:
    if type(value) is not bytes or len(value) > max_len:
        raise DecodeError(f"{field}: expected at most {max_len} bytes")
    return value


def text(value: Any, max_len: int, field: str) -> str:
    if type(value) is not str or len(value.encode()) > max_len:
        raise DecodeError(f"{field}: expected text of at most {max_len} bytes")
    return value


def array(value: Any, max_len: int, field: str) -> list[Any]:
    if type(value) is not list or len(value) > max_len:
        raise DecodeError(f"{field}: expected an array of at most {max_len} items")
    return value


def boolean(value: Any, field: str) -> bool:
    if type(value) is not bool:
        raise DecodeError(f"{field}: expected a boolean")
    return value
