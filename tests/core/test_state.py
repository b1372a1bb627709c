"""The state map, its AdHash accumulator and the ledger's state records."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daoli.core.encoding import encode
from daoli.core.ledger_types import (
    BONDED,
    KEY_TIP_ID,
    SLASHED,
    Account,
    BlockIdRecord,
    PendingReward,
    Supply,
    Tip,
    Trustee,
    TrusteeList,
)
from daoli.core.state import (
    ACC_BYTES,
    EMPTY_ACC,
    MemoryState,
    compute_acc,
    element,
    int_to_acc,
    is_committed,
    make_diff,
    state_root_of,
    update_acc,
)
from daoli.errors import DecodeError

keys = st.binary(min_size=1, max_size=40).filter(lambda k: k[:1] != b"N")
values = st.binary(min_size=1, max_size=60)


def test_element_is_the_documented_construction() -> None:
    key, value = b"Aabc", b"\x83\x10\x01\x02"
    digest = hashlib.shake_256(b"daoli/state/v1" + bytes([4]) + key + value).digest(512)
    assert element(key, value) == int.from_bytes(digest, "little")


def test_root_is_tagged_sha256_of_the_accumulator() -> None:
    assert len(EMPTY_ACC) == ACC_BYTES == 512
    assert state_root_of(EMPTY_ACC) == hashlib.sha256(b"daoli/state-root/v1" + EMPTY_ACC).digest()
    assert MemoryState().root == state_root_of(EMPTY_ACC)


def test_key_length_byte_separates_key_from_value() -> None:
    assert element(b"ab", b"c") != element(b"a", b"bc")


def test_update_add_then_remove_returns_to_start() -> None:
    acc = 12345
    acc2 = update_acc(acc, b"k", None, b"v")
    assert acc2 != acc
    assert update_acc(acc2, b"k", b"v", None) == acc
    assert update_acc(acc, b"k", b"v", b"v") == acc


def test_uncommitted_keys_do_not_move_the_accumulator() -> None:
    assert not is_committed(KEY_TIP_ID)
    assert update_acc(7, KEY_TIP_ID, None, b"x") == 7
    assert compute_acc([(KEY_TIP_ID, b"x")]) == EMPTY_ACC


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(keys, st.one_of(st.none(), values)), max_size=30),
       st.lists(st.tuples(keys, st.one_of(st.none(), values)), max_size=30))
def test_incremental_equals_from_scratch(first: list, second: list) -> None:
    state = MemoryState()
    for batch in (first, second):
        diff = make_diff(state, state.acc, dict(batch))
        for k, v in diff.writes.items():
            assert state.get(k) != v  # only real changes are listed
        state.apply(diff)
        assert state.acc == compute_acc(state.items())
        assert state.root == diff.root == state_root_of(state.acc)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(keys, values, max_size=20), st.randoms(use_true_random=False))
def test_accumulator_ignores_insertion_order(entries: dict, rnd) -> None:
    items = list(entries.items())
    shuffled = items[:]
    rnd.shuffle(shuffled)
    assert compute_acc(items) == compute_acc(shuffled)


def test_memory_state_apply_delete_and_sorted_items() -> None:
    s = MemoryState()
    s.apply(make_diff(s, s.acc, {b"b": b"2", b"a": b"1"}))
    assert list(s.items()) == [(b"a", b"1"), (b"b", b"2")]
    s.apply(make_diff(s, s.acc, {b"a": None, b"zz": None}))
    assert list(s.items()) == [(b"b", b"2")]
    assert s.acc == compute_acc(s.items())
    assert make_diff(s, s.acc, {b"b": b"2"}).writes == {}


def test_int_to_acc_reduces_modulo() -> None:
    assert int_to_acc(1 << 4096) == EMPTY_ACC
    assert int_to_acc(-1) == b"\xff" * 512


RECORDS = [
    Account(5, 7),
    Trustee(b"\x02" * 33, 10**11, "/ip4/127.0.0.1/tcp/1", BONDED, 3, 1, 0),
    Trustee(b"\x03" * 33, 0, "", SLASHED, 0, 0, 9),
    Tip(0, b"", None, 1_000),
    Tip(9, b"", 17, 2_000),
    TrusteeList((b"\x02" * 33, b"\x03" * 33)),
    Supply(100, 5, 2, 1),
    PendingReward(4, 30),
    BlockIdRecord(b"\x01" * 32),
]


@pytest.mark.parametrize("rec", RECORDS, ids=lambda r: type(r).__name__)
def test_records_round_trip(rec) -> None:
    data = rec.encode()
    assert type(rec).decode(data) == rec
    assert data[1] == type(rec).TYPE >= 16  # array head, then the type integer


def test_record_decoding_is_strict() -> None:
    with pytest.raises(DecodeError):
        Account.decode(encode([16, 1]))
    with pytest.raises(DecodeError):
        Account.decode(encode([17, 1, 2]))
    with pytest.raises(DecodeError):
        Account.decode(encode([16, 1 << 63, 0]))  # above the amount range
    with pytest.raises(DecodeError):
        Account.decode(b"\x83\x10\x18\x01\x00")  # 1 in a non-shortest head
    with pytest.raises(DecodeError):
        TrusteeList.decode(encode([19, [b"\x03" * 33, b"\x02" * 33]]))  # unsorted
    with pytest.raises(DecodeError):
        Trustee.decode(encode([17, b"\x02" * 33, 1, "", 9, 0, 0, 0]))  # unknown status
