"""BlockStore: round trips, indexes, refusals that change nothing, reopening, iteration."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daoli.core.genesis import Genesis
from daoli.core.hashing import sha256
from daoli.errors import StoreError
from daoli.store import BlockStore
from tests.store import crash_writer as cw

CHAIN = cw.Chain()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BlockStore]:
    with BlockStore.open(tmp_path / "data") as s:
        yield s


@pytest.fixture
def ready(store: BlockStore) -> BlockStore:
    store.init_genesis(CHAIN.genesis, cw.genesis_diff())
    return store


def commit_upto(store: BlockStore, height: int, with_cert: bool = True) -> None:
    for h in range(store.tip_height + 1, height + 1):
        store.commit_block(CHAIN.block(h), CHAIN.cert(h) if with_cert else None, cw.diff_for(h))


def snapshot(store: BlockStore) -> tuple[object, ...]:
    """Everything observable, to show a refused write changed nothing."""
    return (store.stats(), store.tip_height, store.tip_id, store.state_acc, store.state_root,
            list(store.state_items()), list(store.blocks_range(0, 1 << 32)))


# --- genesis ------------------------------------------------------------------------------


def test_fresh_store_is_empty(store: BlockStore) -> None:
    assert store.genesis() is None
    assert store.get(b"C") is None
    assert store.block_by_height(1) is None
    assert list(store.state_items()) == []
    with pytest.raises(StoreError, match="no genesis"):
        _ = store.tip_height
    with pytest.raises(StoreError, match="no genesis"):
        store.commit_block(CHAIN.block(1), CHAIN.cert(1), cw.diff_for(1))
    assert store.stats()["blocks"] == 0


def test_init_genesis_records_state_and_tip(ready: BlockStore) -> None:
    assert ready.genesis() == CHAIN.genesis
    assert ready.tip_height == 0
    assert ready.tip_id == CHAIN.genesis.id
    assert ready.height_of(CHAIN.genesis.id) == 0
    assert ready.block_by_id(CHAIN.genesis.id) is None
    assert ready.block_by_height(0) is None
    assert dict(ready.state_items()) == cw.expected_state(0)
    assert ready.state_acc == cw.acc_of(0)
    assert ready.state_root == cw.root_of(0)


def test_init_genesis_is_idempotent_but_refuses_another(ready: BlockStore) -> None:
    commit_upto(ready, 2)
    before = snapshot(ready)
    ready.init_genesis(CHAIN.genesis, cw.Diff({b"X": b"ignored"}, b"a", b"r"))
    assert snapshot(ready) == before
    other = cw.make_genesis("other-chain")
    with pytest.raises(StoreError, match="different genesis"):
        ready.init_genesis(other, cw.genesis_diff())
    assert snapshot(ready) == before


# --- commits and reads --------------------------------------------------------------------


def test_commit_round_trip_and_indexes(ready: BlockStore) -> None:
    commit_upto(ready, 6)
    assert ready.tip_height == 6
    assert ready.tip_id == CHAIN.block(6).id
    for h in range(1, 7):
        block, cert = CHAIN.block(h), CHAIN.cert(h)
        assert ready.block_bytes_by_height(h) == block.encode()
        assert ready.block_by_height(h) == block
        assert ready.block_by_id(block.id) == block
        assert ready.height_of(block.id) == h
        assert ready.certificate(h) == cert
        assert ready.certificate_bytes(h) == cert.encode()
        for pos, tx in enumerate(block.payload):
            assert ready.tx_location(tx.id) == (h, pos)
            assert ready.transaction(tx.id) == tx
    assert ready.block_by_height(7) is None
    assert ready.block_by_height(1 << 70) is None
    assert ready.certificate(-1) is None
    assert len(list(ready.blocks_range(-5, 1 << 70))) == 6
    assert ready.certificate(7) is None
    assert ready.height_of(sha256(b"nope")) is None
    assert ready.block_by_id(sha256(b"nope")) is None
    assert ready.tx_location(sha256(b"nope")) is None
    assert ready.transaction(sha256(b"nope")) is None
    assert ready.height_of(b"short") is None
    assert ready.state_acc == cw.acc_of(6)
    assert ready.state_root == cw.root_of(6)
    assert dict(ready.state_items()) == cw.expected_state(6)
    stats = ready.stats()
    assert (stats["blocks"], stats["certs"], stats["ids"], stats["txs"]) == (6, 6, 7, 18)


def test_state_deletes_apply(ready: BlockStore) -> None:
    commit_upto(ready, 2)
    assert ready.get(cw.a_key(1)) is not None
    assert ready.get(b"G") == b"genesis"
    commit_upto(ready, 3)  # height 3 deletes A<1>
    assert ready.get(cw.a_key(1)) is None
    assert ready.get(cw.a_key(3)) == sha256(b"value" + (3).to_bytes(8, "big"))
    commit_upto(ready, 5)  # height 5 deletes G
    assert ready.get(b"G") is None
    assert ready.get(b"C") == (15).to_bytes(8, "big")
    assert ready.get(b"") is None


def test_delete_of_missing_key_is_harmless(ready: BlockStore) -> None:
    diff = cw.Diff({b"never-there": None, b"k": b"v"}, cw.acc_of(1), cw.root_of(1))
    ready.commit_block(CHAIN.block(1), CHAIN.cert(1), diff)
    assert ready.get(b"k") == b"v"
    assert ready.tip_height == 1


@pytest.mark.parametrize("height", [0, 1, 2, 4])
def test_refuses_wrong_height(ready: BlockStore, height: int) -> None:
    commit_upto(ready, 2)
    before = snapshot(ready)
    block = CHAIN.block(height) if height else cw.make_block(0, CHAIN.genesis.id, None)
    with pytest.raises(StoreError, match="does not extend the tip"):
        ready.commit_block(block, None, cw.diff_for(max(height, 1)))
    assert snapshot(ready) == before


def test_refuses_wrong_parent(ready: BlockStore) -> None:
    commit_upto(ready, 2)
    before = snapshot(ready)
    orphan = cw.make_block(3, sha256(b"some other block"), CHAIN.cert(2))
    with pytest.raises(StoreError, match="parent"):
        ready.commit_block(orphan, cw.make_cert(orphan), cw.diff_for(3))
    assert snapshot(ready) == before
    # block 1 must name the genesis as parent
    fresh_parent = cw.make_block(1, sha256(b"not genesis"), None)
    with pytest.raises(StoreError):
        ready.commit_block(fresh_parent, None, cw.diff_for(1))
    assert snapshot(ready) == before


def test_refuses_certificate_for_another_block(ready: BlockStore) -> None:
    before = snapshot(ready)
    with pytest.raises(StoreError, match="certificate"):
        ready.commit_block(CHAIN.block(1), CHAIN.cert(2), cw.diff_for(1))
    assert snapshot(ready) == before


def test_failure_inside_the_transaction_writes_nothing(ready: BlockStore) -> None:
    """LMDB refuses an empty key only after the block, ids and txs were put: all of it must
    be rolled back with the write transaction."""
    commit_upto(ready, 1)
    before = snapshot(ready)
    bad = cw.Diff({b"ok": b"1", b"": b"empty key"}, cw.acc_of(2), cw.root_of(2))
    with pytest.raises(StoreError):
        ready.commit_block(CHAIN.block(2), CHAIN.cert(2), bad)
    assert snapshot(ready) == before
    assert ready.get(b"ok") is None
    commit_upto(ready, 2)
    assert ready.tip_height == 2


def test_certificate_may_arrive_later(ready: BlockStore) -> None:
    commit_upto(ready, 3, with_cert=False)
    assert ready.certificate(2) is None
    assert [c for _, c in ready.blocks_range(1, 4)] == [None, None, None]
    ready.set_certificate(2, CHAIN.cert(2))
    assert ready.certificate(2) == CHAIN.cert(2)
    # replacing is allowed (e.g. a certificate with more signatures)
    ready.set_certificate(2, CHAIN.cert(2))
    with pytest.raises(StoreError):
        ready.set_certificate(2, CHAIN.cert(3))  # height mismatch
    with pytest.raises(StoreError):
        ready.set_certificate(4, CHAIN.cert(4))  # beyond the tip
    wrong = cw.make_cert(cw.make_block(2, sha256(b"x"), None))
    with pytest.raises(StoreError, match="no stored block"):
        ready.set_certificate(2, wrong)
    assert ready.certificate(2) == CHAIN.cert(2)
    assert ready.certificate(4) is None


def test_blocks_range(ready: BlockStore) -> None:
    commit_upto(ready, 5)
    got = list(ready.blocks_range(2, 4))
    assert got == [(CHAIN.block(h).encode(), CHAIN.cert(h).encode()) for h in (2, 3)]
    assert len(list(ready.blocks_range(0, 100))) == 5
    assert list(ready.blocks_range(6, 10)) == []
    assert list(ready.blocks_range(4, 4)) == []
    assert list(ready.blocks_range(5, 1)) == []


def test_state_items_prefix_iteration(tmp_path: Path) -> None:
    writes: dict[bytes, bytes | None] = {b"P" + i.to_bytes(2, "big"): b"%d" % i
                                         for i in range(2_500)}
    writes.update({b"O": b"o", b"Q": b"q", b"PA": b"pa", b"\xff": b"ff", b"\xff\xff": b"ffff"})
    with BlockStore.open(tmp_path / "d") as s:
        s.init_genesis(CHAIN.genesis, cw.Diff(writes, cw.acc_of(0), cw.root_of(0)))
        everything = list(s.state_items())
        assert everything == sorted((k, v) for k, v in writes.items() if v is not None)
        p_items = list(s.state_items(b"P"))
        assert len(p_items) == 2_501  # 2,500 two-byte suffixes plus b"PA"
        assert p_items == [(k, v) for k, v in everything if k.startswith(b"P")]
        assert list(s.state_items(b"PA")) == [(b"PA", b"pa")]
        assert list(s.state_items(b"\xff")) == [(b"\xff", b"ff"), (b"\xff\xff", b"ffff")]
        assert list(s.state_items(b"Z")) == []
        assert list(s.state_items(b"P\x00\x05")) == [(b"P\x00\x05", b"5")]


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "data"
    with BlockStore.open(path) as s:
        s.init_genesis(CHAIN.genesis, cw.genesis_diff())
        commit_upto(s, 4)
        before = snapshot(s)
    with BlockStore.open(path) as s:
        assert snapshot(s) == before
        assert s.genesis() == CHAIN.genesis
        commit_upto(s, 5)
        assert s.tip_height == 5
    with BlockStore.open(path, readonly=True) as ro:
        assert ro.tip_height == 5
        assert dict(ro.state_items()) == cw.expected_state(5)
        with pytest.raises(StoreError, match="read-only"):
            ro.commit_block(CHAIN.block(6), None, cw.diff_for(6))


def test_second_instance_in_one_process_is_refused(tmp_path: Path) -> None:
    """LMDB forbids opening one environment twice in a process (its locks are per process);
    a read-only reader belongs in another process (e.g. the CLI next to a running node)."""
    path = tmp_path / "data"
    with BlockStore.open(path) as w:
        with pytest.raises(StoreError):
            BlockStore.open(path, readonly=True)
        assert w.genesis() is None


def test_reader_in_another_process_sees_commits(tmp_path: Path) -> None:
    path = tmp_path / "data"
    script = ("import sys; from pathlib import Path; from daoli.store import BlockStore\n"
              "with BlockStore.open(Path(sys.argv[1]), readonly=True) as s:\n"
              "    print(s.tip_height, s.tip_id.hex())\n")
    with BlockStore.open(path) as w:
        w.init_genesis(CHAIN.genesis, cw.genesis_diff())
        commit_upto(w, 3)
        out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                             text=True, timeout=60, check=True).stdout.split()
        assert out == ["3", CHAIN.block(3).id.hex()]


def test_map_grows_when_full(tmp_path: Path) -> None:
    with BlockStore.open(tmp_path / "d", map_size=256 * 1024) as s:
        s.init_genesis(CHAIN.genesis, cw.genesis_diff())
        parent, pc = CHAIN.genesis.id, None
        txs = cw.make_txs(1, 400)
        for h in range(1, 9):  # ~60 KB per block: several times the initial map
            block = cw.make_block(h, parent, pc, txs if h == 1 else ())
            s.commit_block(block, None, cw.Diff({b"k%d" % h: b"x" * 20_000}, b"a", b"r"))
            parent, pc = block.id, None
        assert s.tip_height == 8
        assert s.stats()["map_size"] > 256 * 1024
        assert s.transaction(txs[399].id) == txs[399]


# --- refusing things that are not (usable) stores -----------------------------------------


def test_open_refuses_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"hello")
    with pytest.raises(StoreError, match="file"):
        BlockStore.open(f)


def test_open_refuses_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a store")
    with pytest.raises(StoreError, match="not empty"):
        BlockStore.open(tmp_path)
    with pytest.raises(StoreError, match="no store"):
        BlockStore.open(tmp_path / "missing", readonly=True)


def test_open_refuses_corrupt_file(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    (d / "data.mdb").write_bytes(b"\x5a" * 65536)
    with pytest.raises(StoreError, match=r"cannot open|corrupt"):
        BlockStore.open(d)
    with pytest.raises(StoreError):
        BlockStore.open(d, readonly=True)


def test_open_refuses_foreign_lmdb(tmp_path: Path) -> None:
    import lmdb

    d = tmp_path / "data"
    env = lmdb.open(str(d), max_dbs=2)
    with env.begin(write=True) as txn:
        txn.put(b"someone-else", b"data")
    env.close()
    with pytest.raises(StoreError, match="not a daoli store"):
        BlockStore.open(d)


def test_open_refuses_second_writer(tmp_path: Path) -> None:
    path = tmp_path / "data"
    with BlockStore.open(path), pytest.raises(StoreError, match="locked"):
        BlockStore.open(path)
    with BlockStore.open(path) as again:  # the lock went with the first instance
        assert again.genesis() is None


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    s = BlockStore.open(tmp_path / "data")
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.get(b"C")
    with pytest.raises(StoreError, match="closed"):
        s.init_genesis(CHAIN.genesis, cw.genesis_diff())


def test_other_genesis_chain_is_independent(tmp_path: Path) -> None:
    """A store keeps only one chain: block 1 of another genesis does not link."""
    other = Genesis("other-chain", cw.GENESIS_TIME_MS, CHAIN.genesis.params)
    with BlockStore.open(tmp_path / "d") as s:
        s.init_genesis(other, cw.genesis_diff())
        with pytest.raises(StoreError, match="parent"):
            s.commit_block(CHAIN.block(1), None, cw.diff_for(1))


# --- the state is exactly the replay of the diffs -----------------------------------------

_keys = st.binary(min_size=1, max_size=3)
_diffs = st.lists(st.dictionaries(_keys, st.none() | st.binary(max_size=8), max_size=8),
                  min_size=1, max_size=6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(diffs=_diffs, prefix=st.binary(max_size=2))
def test_state_matches_replayed_diffs(diffs: list[dict[bytes, bytes | None]],
                                      prefix: bytes) -> None:
    model: dict[bytes, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp, BlockStore.open(Path(tmp) / "d") as s:
        for h, writes in enumerate(diffs):
            diff = cw.Diff(writes, cw.acc_of(h), cw.root_of(h))
            if h == 0:
                s.init_genesis(CHAIN.genesis, diff)
            else:
                s.commit_block(CHAIN.block(h), CHAIN.cert(h), diff)
            for k, v in writes.items():
                if v is None:
                    model.pop(k, None)
                else:
                    model[k] = v
        assert list(s.state_items()) == sorted(model.items())
        assert list(s.state_items(prefix)) == sorted(
            (k, v) for k, v in model.items() if k.startswith(prefix))
        for k in {k for w in diffs for k in w}:
            assert s.get(k) == model.get(k)
        assert s.state_acc == cw.acc_of(len(diffs) - 1)


class _EmptyDiff:
    writes: dict[bytes, bytes | None] = {}  # noqa: RUF012 - read-only stand-in
    acc = bytes(32)
    root = bytes(32)


def test_genesis_over_8_mib_reads_back(tmp_path: Path) -> None:
    from daoli.core.genesis import Allocation
    from daoli.core.params import ChainParams

    allocs = tuple(Allocation(i.to_bytes(20, "big"), 1 << 40) for i in range(1, 290_000))
    g = Genesis("big", 0, ChainParams(), allocs)
    assert len(g.encode()) > 8 * 1024 * 1024
    with BlockStore.open(tmp_path / "data") as s:
        s.init_genesis(g, _EmptyDiff())
    with BlockStore.open(tmp_path / "data", readonly=True) as s:
        stored = s.genesis()
        assert stored is not None and stored.id == g.id


def test_genesis_that_cannot_decode_is_not_stored(store: BlockStore) -> None:
    from daoli.core.params import ChainParams

    # Genesis itself now refuses such a time; build one past its checks, as a buggy or
    # hostile caller could, to show the store still never keeps what it cannot read back
    g = Genesis("x", 0, ChainParams())
    object.__setattr__(g, "genesis_time_ms", 1 << 64)  # encodes as a CBOR bignum
    with pytest.raises(StoreError, match="genesis"):
        store.init_genesis(g, _EmptyDiff())
    assert store.genesis() is None
    assert store.stats()["meta"] == 1  # only the format marker
