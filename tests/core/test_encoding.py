"""Canonical CBOR and hostile input: every decode either returns the exact object or raises
DecodeError, never anything else, and never takes long.

The decoders are fed random bytes, random CBOR values, arrays that start with the right type
id, and valid encodings mutated at the byte level (bit flips, truncation, insertion,
replacement) and at the structure level (swapped, duplicated, deleted or wrongly-typed items,
non-shortest integer heads, indefinite lengths, tags, huge declared lengths). A
Hypothesis deadline catches slow paths; pytest-timeout catches outright hangs.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daoli.core import encoding as enc
from daoli.core.block import Block
from daoli.core.genesis import Genesis
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction
from daoli.core.vote import CommitCertificate, Vote
from daoli.errors import DecodeError
from tests.core.strategies import OBJECT_STRATEGIES

pytestmark = pytest.mark.timeout(120)

OBJECT_TYPES: list[type] = list(OBJECT_STRATEGIES)
IDS = [c.__name__ for c in OBJECT_TYPES]

FUZZ = settings(max_examples=60, deadline=2_000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TAGS = [0, 1, 2, 3, 4, 5, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 32, 33, 34, 35, 36, 37,
        256, 258, 259, 260, 261, 1004, 55799, 65536, (1 << 32) + 7, (1 << 64) - 1]
"""Tags cbor2 gives meaning to (datetimes, bignums, decimals, embedded CBOR, string refs,
value sharing, rationals, regexes, MIME, sets, IP addresses, self-describe) and a few it
does not."""


def check_decode(cls: type, data: bytes) -> Any | None:
    """Decode ``data`` as ``cls``: DecodeError (-> None) or an object that re-encodes to it.

    Any other exception propagates and fails the test.
    """
    try:
        obj = cls.decode(data)  # type: ignore[attr-defined]
    except DecodeError as exc:
        assert str(exc), "a DecodeError must say what is wrong"
        assert len(str(exc)) < 1_000, "error messages must stay short on hostile input"
        return None
    assert type(obj) is cls
    assert obj.encode() == data, "accepted a non-canonical encoding"
    return obj


def expect_decode_error(cls: type, data: bytes) -> None:
    with pytest.raises(DecodeError):
        cls.decode(data)  # type: ignore[attr-defined]


# --- a CBOR writer that can deviate from canonical form at one chosen node ----------------


def head(major: int, arg: int, width: int | None = None) -> bytes:
    """A CBOR head; ``width`` (0 = inline, 1, 2, 4, 8) forces a possibly non-shortest form."""
    if width is None:
        width = 0 if arg < 24 else 1 if arg < 1 << 8 else 2 if arg < 1 << 16 else (
            4 if arg < 1 << 32 else 8)
    if width == 0:
        return bytes([major << 5 | arg])
    info = {1: 24, 2: 25, 4: 26, 8: 27}[width]
    return bytes([major << 5 | info]) + arg.to_bytes(width, "big")


def canonical_width(arg: int) -> int:
    return 0 if arg < 24 else 1 if arg < 1 << 8 else 2 if arg < 1 << 16 else (
        4 if arg < 1 << 32 else 8)


Path = tuple[int, ...]


def render(node: Any, special: Callable[[Any], bytes] | None = None, target: Path | None = None,
           path: Path = ()) -> bytes:
    """Canonical encoding of a decoded tree, except ``special(node)`` at ``target``."""
    if special is not None and path == target:
        return special(node)
    if type(node) is list:
        return head(4, len(node)) + b"".join(
            render(child, special, target, (*path, i)) for i, child in enumerate(node))
    return cbor2.dumps(node, canonical=True)


def paths(node: Any, path: Path = ()) -> list[Path]:
    out = [path]
    if type(node) is list:
        for i, child in enumerate(node):
            out.extend(paths(child, (*path, i)))
    return out


def get(node: Any, path: Path) -> Any:
    for i in path:
        node = node[i]
    return node


def non_canonical_rendering(node: Any, choice: int, tag: int) -> bytes:
    """A rendering of ``node`` that is well-formed CBOR but never the canonical one."""
    kind = type(node)
    if choice == 0 and kind is int and node >= 0 and canonical_width(node) < 8:
        wider = [w for w in (1, 2, 4, 8) if w > canonical_width(node)]
        return head(0, node, wider[tag % len(wider)])
    if choice == 1 and kind in (bytes, str, list):
        major = {bytes: 2, str: 3, list: 4}[kind]
        if canonical_width(len(node)) < 8:
            body = node.encode() if kind is str else node if kind is bytes else b"".join(
                render(c) for c in node)
            return head(major, len(node), 8) + body
    if choice == 2 and kind in (bytes, str, list):  # indefinite length
        if kind is list:
            return b"\x9f" + b"".join(render(c) for c in node) + b"\xff"
        raw = node.encode() if kind is str else node
        major = 2 if kind is bytes else 3
        half = len(node) // 2
        chunks = [raw] if kind is str else [raw[:half], raw[half:]]
        return bytes([major << 5 | 31]) + b"".join(head(major, len(c)) + c
                                                   for c in chunks) + b"\xff"
    if choice == 3 and kind is int and node >= 0:  # the same number as a float
        return b"\xfb" + struct.pack(">d", float(node))
    # otherwise: wrap the node in a tag
    return head(6, tag) + render(node)


def huge_length_rendering(node: Any, length: int) -> bytes:
    """The node's content behind a head that declares far more than is there."""
    kind = type(node)
    major = {bytes: 2, str: 3, list: 4}.get(kind, 4)
    content = render(node)
    return head(major, length) + content[1:]


# --- the encoder ---------------------------------------------------------------------------


def test_encode_is_rfc8949_canonical() -> None:
    """Shortest integer heads, definite lengths, maps sorted by encoded key (RFC 8949 4.2.1)."""
    assert enc.encode(0) == b"\x00"
    assert enc.encode(23) == b"\x17"
    assert enc.encode(24) == b"\x18\x18"
    assert enc.encode(255) == b"\x18\xff"
    assert enc.encode(256) == b"\x19\x01\x00"
    assert enc.encode(65_536) == b"\x1a\x00\x01\x00\x00"
    assert enc.encode(1 << 32) == b"\x1b\x00\x00\x00\x01\x00\x00\x00\x00"
    assert enc.encode(enc.MAX_U64) == b"\x1b" + b"\xff" * 8
    assert enc.encode([1, b"ab", "c", None, True, False]) == bytes.fromhex("860142616261 63f6f5f4"
                                                                           .replace(" ", ""))
    assert enc.encode({"b": 1, "a": 2, 10: 3}) == bytes.fromhex("a30a03616102616201")


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 64), enc.MAX_U64) | st.binary(max_size=40)
    | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.integers(-1000, 1000) | st.text(max_size=5) | st.binary(max_size=5),
                      children, max_size=4),
    max_leaves=25,
)
"""Plain CBOR data: exactly the subset decode_raw admits."""


@given(cbor_values)
@settings(max_examples=150, deadline=2_000)
def test_plain_values_round_trip_through_decode_raw(value: Any) -> None:
    data = enc.encode(value)
    enc.check_well_formed(data)
    back = enc.decode_raw(data)
    assert back == value or (isinstance(value, float) and math.isnan(value))
    assert enc.encode(back) == data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (b"\x82\x01", "longer than the input"),
        (b"\x82\x01\x19\x01", "truncated"),
        (b"\x18", "truncated"),
        (b"\x1b\x00\x00", "truncated"),
        (b"\x00\x00", "after the end"),
        (b"\x80\x80", "after the end"),
        (b"\x18\x17", "shortest"),
        (b"\x19\x00\xff", "shortest"),
        (b"\x1a\x00\x00\xff\xff", "shortest"),
        (b"\x1b\x00\x00\x00\x00\xff\xff\xff\xff", "shortest"),
        (b"\x38\x00", "shortest"),
        (b"\x58\x01\x00", "shortest"),
        (b"\x98\x01\x00", "shortest"),
        (b"\x9f\x00\xff", "indefinite"),
        (b"\x5f\x41\x00\xff", "indefinite"),
        (b"\x7f\x61a\xff", "indefinite"),
        (b"\xbf\x00\x00\xff", "indefinite"),
        (b"\xff", "indefinite"),
        (b"\x1c", "reserved"),
        (b"\x5d", "reserved"),
        (b"\xfc", "reserved"),
        (b"\xc2\x41\x01", "tag 2"),
        (b"\xd8\x1c\x81\x00", "tag 28"),
        (b"\xd9\xd9\xf7\x00", "tag 55799"),
        (b"\x5b" + b"\xff" * 8, "longer than the input"),
        (b"\x7a\xff\xff\xff\xff", "longer than the input"),
        (b"\x9b" + b"\xff" * 8, "longer than the input"),
        (b"\xbb" + b"\x7f" + b"\xff" * 7, "longer than the input"),
        (b"\x9a\x00\x01\x00\x00" + b"\x00" * 100, "longer than the input"),
        (b"\xa1\x80\x00", "map keys"),
        (b"\xa1\xa0\x00", "map keys"),
        (b"\x81" * 100_000, "deeper"),
    ],
)
def test_check_well_formed_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        enc.check_well_formed(data)
    with pytest.raises(DecodeError):
        enc.decode_raw(data)


def test_decode_raw_rejects_non_bytes_and_oversized_input() -> None:
    for bad in (None, "00", 0, [0]):
        with pytest.raises(DecodeError, match="expected bytes"):
            enc.decode_raw(bad)  # type: ignore[arg-type]
    with pytest.raises(DecodeError, match="exceeds the limit"):
        enc.decode_raw(b"\x40" * 11, max_bytes=10)
    assert enc.decode_raw(bytearray(b"\x82\x01\x02")) == [1, 2]
    assert enc.decode_raw(memoryview(b"\x41\x07")) == b"\x07"


@pytest.mark.timeout(30)
def test_decode_raw_is_linear_on_a_maximal_flat_array() -> None:
    """A container bound check must not make a big legitimate input quadratic (a quadratic
    scan of 200,000 items would run for minutes and hit the timeout)."""
    data = enc.encode([[i, b"x" * 8] for i in range(100_000)])
    assert len(enc.decode_raw(data)) == 100_000


def test_describe_never_reprs_hostile_values() -> None:
    assert enc.describe(5) == "5"
    assert enc.describe(1 << 70) == "an integer beyond 64 bits"
    assert enc.describe(10 ** 5000) == "an integer beyond 64 bits"  # repr() would raise
    assert enc.describe(b"a" * 1000).endswith("...")
    assert len(enc.describe("é" * 10_000)) < 100
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert enc.describe(cyclic) == "an array of 1 items"
    assert enc.describe(3.5) == "a value of type float"


def test_field_checkers() -> None:
    assert enc.uint(0, "f") == 0
    assert enc.uint(enc.MAX_U64, "f") == enc.MAX_U64
    for bad in (-1, enc.MAX_U64 + 1, True, 1.0, "1", None, b"\x01"):
        with pytest.raises(DecodeError, match=r"^f:"):
            enc.uint(bad, "f")
    assert enc.amount(enc.MAX_AMOUNT, "a") == enc.MAX_AMOUNT
    with pytest.raises(DecodeError, match=r"^a:"):
        enc.amount(enc.MAX_AMOUNT + 1, "a")
    assert enc.fixed_bytes(b"12", 2, "b") == b"12"
    for bad in (b"1", b"123", bytearray(b"12"), "12"):
        with pytest.raises(DecodeError, match=r"^b:"):
            enc.fixed_bytes(bad, 2, "b")
    assert enc.var_bytes(b"", 3, "v") == b""
    with pytest.raises(DecodeError):
        enc.var_bytes(b"1234", 3, "v")
    assert enc.text("ab", 2, "t") == "ab"
    with pytest.raises(DecodeError, match="text"):
        enc.text("é", 1, "t")  # 2 bytes of UTF-8: the limit is on bytes, not characters
    with pytest.raises(DecodeError):
        enc.array((1,), 3, "l")
    with pytest.raises(DecodeError):
        enc.array([1, 2, 3, 4], 3, "l")
    assert enc.boolean(False, "x") is False
    with pytest.raises(DecodeError):
        enc.boolean(0, "x")
    enc.expect_len([1, 2], 2, "x")
    with pytest.raises(DecodeError, match="expected 3 fields"):
        enc.expect_len([1, 2], 3, "x")


# --- hostile input to every object decoder ------------------------------------------------


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@given(data=st.binary(max_size=600))
@settings(max_examples=80, deadline=2_000)
def test_random_bytes(cls: type, data: bytes) -> None:
    check_decode(cls, data)


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@given(value=cbor_values)
@settings(max_examples=60, deadline=2_000)
def test_random_cbor_values(cls: type, value: Any) -> None:
    assert check_decode(cls, enc.encode(value)) is None


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@given(items=st.lists(cbor_values, max_size=14), tagged=st.booleans())
@settings(max_examples=80, deadline=2_000)
def test_arrays_with_the_right_type_id(cls: type, items: list[Any], tagged: bool) -> None:
    """Gets past the type check, so every field checker sees garbage of every type."""
    data = enc.encode([cls.TYPE, *items])  # type: ignore[attr-defined]
    if tagged:
        data = b"\xd8\x18" + head(2, len(data)) + data
    check_decode(cls, data)


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@given(st.data())
@settings(FUZZ)
def test_byte_level_mutations(cls: type, data: st.DataObject) -> None:
    original = data.draw(OBJECT_STRATEGIES[cls](), label="object").encode()
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        op = data.draw(st.sampled_from(["flip", "truncate", "insert", "replace", "delete",
                                        "duplicate"]), label="op")
        n = len(mutated)
        i = data.draw(st.integers(0, max(n - 1, 0)), label="at")
        if op == "flip" and n:
            mutated[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        elif op == "truncate":
            del mutated[i:]
        elif op == "insert":
            mutated[i:i] = data.draw(st.binary(min_size=1, max_size=9), label="bytes")
        elif op == "replace" and n:
            mutated[i] = data.draw(st.integers(0, 255), label="byte")
        elif op == "delete":
            del mutated[i:i + data.draw(st.integers(1, 9), label="len")]
        elif op == "duplicate":
            chunk = mutated[i:i + data.draw(st.integers(1, 40), label="len")]
            mutated[i:i] = chunk
    result = check_decode(cls, bytes(mutated))
    if bytes(mutated) != original and result is not None:
        assert result != cls.decode(original)  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@given(st.data())
@settings(FUZZ)
def test_structural_mutations(cls: type, data: st.DataObject) -> None:
    """Rearranged or retyped items: either still a valid object (e.g. two u64 fields swapped)
    whose encoding is exactly the input, or a DecodeError."""
    obj = data.draw(OBJECT_STRATEGIES[cls](), label="object")
    tree = cbor2.loads(obj.encode())
    assert render(tree) == obj.encode()  # the test's writer agrees with the encoder
    lists = [p for p in paths(tree) if type(get(tree, p)) is list]
    target = data.draw(st.sampled_from(lists), label="container")
    node = get(tree, target)
    op = data.draw(st.sampled_from(["swap", "duplicate", "delete", "insert", "replace",
                                    "wrap", "unwrap"]), label="op")
    n = len(node)
    i = data.draw(st.integers(0, max(n - 1, 0)), label="i")
    j = data.draw(st.integers(0, max(n - 1, 0)), label="j")
    if op == "swap" and n:
        node[i], node[j] = node[j], node[i]
    elif op == "duplicate" and n:
        node.insert(i, node[j])
    elif op == "delete" and n:
        del node[i]
    elif op == "insert":
        node.insert(i, data.draw(cbor_values, label="value"))
    elif op == "replace" and n:
        node[i] = data.draw(cbor_values, label="value")
    elif op == "wrap" and n:
        node[i] = [node[i]]
    elif op == "unwrap" and n and type(node[i]) is list and len(node[i]) == 1:
        node[i] = node[i][0]
    mutated = enc.encode(tree)
    result = check_decode(cls, mutated)
    if mutated != obj.encode() and result is not None:
        assert result != obj


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@given(st.data())
@settings(FUZZ)
def test_non_canonical_renderings_are_rejected(cls: type, data: st.DataObject) -> None:
    """Non-shortest heads, indefinite lengths, ints as floats and tags anywhere in the tree:
    the bytes are well-formed CBOR for the same values, but never canonical, so never accepted
    (otherwise one object would have two ids)."""
    obj = data.draw(OBJECT_STRATEGIES[cls](), label="object")
    tree = cbor2.loads(obj.encode())
    target = data.draw(st.sampled_from(paths(tree)), label="node")
    choice = data.draw(st.integers(0, 4), label="rendering")
    tag = data.draw(st.sampled_from(TAGS), label="tag")
    mutated = render(tree, lambda n: non_canonical_rendering(n, choice, tag), target)
    assert mutated != obj.encode()
    expect_decode_error(cls, mutated)


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@given(st.data())
@settings(FUZZ)
def test_huge_declared_lengths(cls: type, data: st.DataObject) -> None:
    obj = data.draw(OBJECT_STRATEGIES[cls](), label="object")
    tree = cbor2.loads(obj.encode())
    target = data.draw(st.sampled_from(paths(tree)), label="node")
    length = data.draw(st.sampled_from([1 << 31, (1 << 32) - 1, 1 << 40, (1 << 63) - 1,
                                        enc.MAX_U64, 10**7]), label="length")
    mutated = render(tree, lambda n: huge_length_rendering(n, length), target)
    expect_decode_error(cls, mutated)


def shared_dag(levels: int) -> bytes:
    """Value sharing (tags 28/29): ``levels`` nested pairs whose two halves are one object, so
    a few bytes per level describe a tree of 2**levels leaves."""
    out = b"\xd8\x1c\x80"
    for level in range(levels):
        # 28([inner, 29(index of inner)]); shared indexes count outer objects first
        out = b"\xd8\x1c\x82" + out + b"\xd8\x1d" + head(0, levels - level)
    return out


HOSTILE = {
    "deep definite arrays": b"\x81" * 100_000,
    "deep indefinite arrays": b"\x9f" * 100_000,
    "deep maps": b"\xa1\x00" * 50_000,
    "deep tags": b"\xd8\x1c" * 50_000 + b"\x00",
    "deep bignum tags": b"\xc2" * 100_000,
    "deep self-describe": b"\xd9\xd9\xf7" * 30_000 + b"\x80",
    "exponential shared DAG as type id": b"\x81" + shared_dag(80),
    "exponential shared DAG as a field": b"\x82\x01" + shared_dag(80),
    "self-referencing array": b"\xd8\x1c\x82\x01\xd8\x1d\x00",
    "huge bytes": b"\x5b\x7f" + b"\xff" * 7,
    "huge text": b"\x7b\x00\x00\x00\x01\x00\x00\x00\x00",
    "huge array": b"\x9b" + b"\xff" * 8,
    "huge map": b"\xbb" + b"\xff" * 8,
    "huge array in array": b"\x82\x01\x9a\xff\xff\xff\xff",
    "bignum type id": b"\x82\xc2\x5a\x00\x00\x40\x00" + b"\x01" * 16384 + b"\x00",
    "regex": b"\x82\x01\xd8\x23" + enc.encode("(((a*)*)*)*" * 20 + "b"),
    "mime": b"\x82\x01\xd8\x24\x61\x0a",
    "datetime overflow": b"\x82\x01\xc1\x1b\x7f\xff\xff\xff\xff\xff\xff\xff",
    "decimal overflow": b"\x82\x01\xc4\x82\x1b\x7f\xff\xff\xff\xff\xff\xff\xff\x01",
    "bigfloat overflow": b"\x82\x01\xc5\x82\x1b\x7f\xff\xff\xff\xff\xff\xff\xff\x01",
    "rational 1/0": b"\x82\x01\xd8\x1e\x82\x01\x00",
    "string reference namespace": b"\xd9\x01\x00\x82\x01\xd8\x19\x00",
    "set of arrays": b"\x82\x01\xd9\x01\x02\x81\x80",
    "embedded cbor": b"\xd8\x18\x43\x81\x01\x00",
    "invalid utf-8": b"\x82\x01\x62\xc3\x28",
    "utf-8 surrogate": b"\x82\x01\x63\xed\xa0\x80",
    "float type id": b"\x82\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00\x00",
    "undefined": b"\xf7",
    "simple value 255": b"\xf8\xff",
    "simple value in 2 bytes below 32": b"\xf8\x10",
    "break": b"\xff",
    "empty": b"",
}


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.timeout(10)
def test_hostile_inputs(cls: type, name: str) -> None:
    expect_decode_error(cls, HOSTILE[name])


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.timeout(10)
def test_hostile_inputs_to_decode_raw(name: str) -> None:
    """Plain values (a float, ``undefined``) are fine for decode_raw; the rest is an error."""
    try:
        value = enc.decode_raw(HOSTILE[name])
    except DecodeError:
        pass
    else:
        assert enc.check_well_formed(HOSTILE[name]) is None
        assert name in ("float type id", "undefined", "simple value 255"), value


@pytest.mark.timeout(10)
def test_shared_dag_in_a_field_does_not_explode() -> None:
    """Regression: a value-sharing DAG in a u64 field used to be repr()'d into the error
    message, which takes 2**levels steps (the original decoder hung here)."""
    tx_fields = [1, "c", 1, b"\x02" * 33, 0, 0, [b"\x00" * 20, 1, b""], b"\x00" * 64]
    tree_bytes = enc.encode(tx_fields)
    nonce_at = tree_bytes.index(b"\x02" * 33) + 33
    data = tree_bytes[:nonce_at] + shared_dag(60) + tree_bytes[nonce_at + 1:]
    expect_decode_error(Transaction, data)


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@given(st.data())
@settings(max_examples=30, deadline=2_000)
def test_one_type_never_decodes_as_another(cls: type, data: st.DataObject) -> None:
    """Type ids keep objects apart: a vote's bytes are never a valid ticket, and so on."""
    other = data.draw(st.sampled_from([c for c in OBJECT_TYPES if c is not cls]))
    obj = data.draw(OBJECT_STRATEGIES[other]())
    expect_decode_error(cls, obj.encode())


@pytest.mark.parametrize("cls", OBJECT_TYPES, ids=IDS)
@given(st.data())
@settings(max_examples=5, deadline=None)
def test_decode_accepts_bytearray_and_memoryview(cls: type, data: st.DataObject) -> None:
    obj = data.draw(OBJECT_STRATEGIES[cls]())
    raw = obj.encode()
    assert cls.decode(bytearray(raw)) == obj  # type: ignore[attr-defined]
    assert cls.decode(memoryview(raw)) == obj  # type: ignore[attr-defined]


def test_type_ids_are_distinct_and_leading() -> None:
    ids = {c.TYPE for c in OBJECT_TYPES}  # type: ignore[attr-defined]
    assert len(ids) == len(OBJECT_TYPES)
    assert {Transaction.TYPE, Ticket.TYPE, Vote.TYPE, CommitCertificate.TYPE, Block.TYPE,
            Genesis.TYPE} <= ids
