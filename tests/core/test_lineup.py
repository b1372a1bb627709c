"""Lineup duty in the ledger state (SPEC 5, docs/protocol.md §7 "Lineup duty").

The property tests drive the real ledger with random payrolls and compare it after every
block with a model written from the rule alone: after block H, a miner is lined up iff it
was in the payroll of one of the blocks H - lineup_blocks + 1 .. H, with ``since`` the newest
such block, ``until = since + lineup_blocks`` and that ticket's sponsor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daoli.core import ledger
from daoli.core.block import Block
from daoli.core.ledger import (
    audit_supply,
    read_lineup,
    read_lineup_entry,
    total_supply,
)
from daoli.core.ledger_types import (
    KEY_LINEUP_HORIZON,
    PREFIX_LINEUP,
    PREFIX_LINEUP_EXPIRY,
    LineupBucket,
    LineupEntry,
    LineupHorizon,
    lineup_expiry_key,
    lineup_key,
)
from daoli.core.state import MemoryState, compute_acc
from daoli.errors import DecodeError, InvalidBlock
from daoli.node.chain import StoreChain
from daoli.store.blockstore import BlockStore
from tests.core.ledger_factories import SPONSOR, Chain, make_genesis, pk
from tests.machine.harness import GENESIS_MS, Net

POOL = tuple(range(300, 312))
"""Payroll miners (ids with secrets known to ledger_factories; none is the winner)."""
SPONSORS = (SPONSOR, 203)


@dataclass(frozen=True)
class Step:
    payroll: tuple[int, ...]
    sponsor: int


steps = st.lists(
    st.builds(Step, st.lists(st.sampled_from(POOL), unique=True, max_size=5).map(tuple),
              st.sampled_from(SPONSORS)),
    min_size=1, max_size=14)


def model(history: list[Step], lineup_blocks: int) -> list[LineupEntry]:
    """The lineup after the last block of ``history`` (block i + 1 is ``history[i]``)."""
    height = len(history)
    newest: dict[int, tuple[int, int]] = {}
    for h, step in enumerate(history, start=1):
        for m in step.payroll:
            newest[m] = (h, step.sponsor)
    entries = [LineupEntry(pk(m), pk(s), h, h + lineup_blocks)
               for m, (h, s) in newest.items()
               if lineup_blocks > 0 and h + lineup_blocks > height]
    return sorted(entries, key=lambda e: (-e.until, e.miner_pubkey))


def lineup_keys(state: MemoryState) -> dict[bytes, bytes]:
    return {k: v for k, v in state.items()
            if k[:1] in (PREFIX_LINEUP, PREFIX_LINEUP_EXPIRY) or k == KEY_LINEUP_HORIZON}


def assert_matches_model(state: MemoryState, history: list[Step], lineup_blocks: int) -> None:
    expected = model(history, lineup_blocks)
    assert read_lineup(state) == expected
    for m in POOL:
        want = next((e for e in expected if e.miner_pubkey == pk(m)), None)
        assert read_lineup_entry(state, pk(m)) == want
    # the stored index is exactly the entries' until values, and nothing is left over
    stored = lineup_keys(state)
    buckets: dict[int, list[bytes]] = {}
    for e in expected:
        buckets.setdefault(e.until, []).append(e.miner_pubkey)
    want_keys = {lineup_key(e.miner_pubkey): e.encode() for e in expected}
    want_keys |= {lineup_expiry_key(u): LineupBucket.of(ms).encode()
                  for u, ms in buckets.items()}
    last = max((h for h, s in enumerate(history, start=1) if s.payroll), default=None)
    if last is not None and lineup_blocks > 0:
        want_keys[KEY_LINEUP_HORIZON] = LineupHorizon(last + lineup_blocks).encode()
    assert stored == want_keys


def run(history: list[Step], lineup_blocks: int, check_each: bool = True) -> Chain:
    chain = Chain(make_genesis(lineup_blocks=lineup_blocks))
    for i, step in enumerate(history):
        chain.apply(chain.build(payroll=step.payroll, sponsor=step.sponsor),
                    verify_signatures=False)
        if check_each:
            assert_matches_model(chain.state, history[: i + 1], lineup_blocks)
            chain.check_invariants()  # supply audit and a from-scratch accumulator
    return chain


_SETTINGS = settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(history=steps, lineup_blocks=st.integers(0, 5))
def test_entries_are_exactly_the_payrolls_of_the_last_lineup_blocks(
        history: list[Step], lineup_blocks: int) -> None:
    run(history, lineup_blocks)


@_SETTINGS
@given(history=steps, lineup_blocks=st.integers(1, 5))
def test_two_stores_applying_the_same_blocks_agree(history: list[Step],
                                                   lineup_blocks: int) -> None:
    a = run(history, lineup_blocks, check_each=False)
    b = Chain(a.genesis)
    for block in a.blocks:
        b.apply(block)  # signatures verified this time
    assert list(b.state.items()) == list(a.state.items())
    assert b.state.root == a.state.root
    assert compute_acc(b.state.items()) == b.state.acc


@_SETTINGS
@given(history=steps, lineup_blocks=st.integers(1, 5))
def test_expiry_removes_every_entry_and_bucket(history: list[Step], lineup_blocks: int) -> None:
    chain = run(history, lineup_blocks, check_each=False)
    for _ in range(lineup_blocks):
        chain.apply(chain.build(), verify_signatures=False)
        history = [*history, Step((), SPONSOR)]
        assert_matches_model(chain.state, history, lineup_blocks)
    assert read_lineup(chain.state) == []
    left = lineup_keys(chain.state)
    assert all(k == KEY_LINEUP_HORIZON for k in left)  # only the horizon stays behind


@_SETTINGS
@given(history=steps, lineup_blocks=st.integers(0, 5))
def test_supply_is_unaffected(history: list[Step], lineup_blocks: int) -> None:
    """The lineup moves no coin: balances and supply counters are those of the same chain
    under another lineup_blocks (whose state differs only in the lineup keys)."""
    a = run(history, lineup_blocks, check_each=False)
    b = run(history, lineup_blocks + 3, check_each=False)
    assert audit_supply(a.state.items()).ok and audit_supply(b.state.items()).ok
    assert total_supply(a.state) == total_supply(b.state)
    assert audit_supply(a.state.items()) == audit_supply(b.state.items())

    def coins(state: MemoryState) -> dict[bytes, bytes]:
        return {k: v for k, v in state.items() if k[:1] in (b"A", b"T")}

    assert coins(a.state) == coins(b.state)


def test_a_refreshed_miner_takes_the_newest_sponsor_since_and_until() -> None:
    chain = Chain(make_genesis(lineup_blocks=4))
    chain.next(payroll=(300, 301), sponsor=SPONSOR)
    chain.next(payroll=(301,), sponsor=203)
    assert read_lineup(chain.state) == [
        LineupEntry(pk(301), pk(203), 2, 6),  # latest until first
        LineupEntry(pk(300), pk(SPONSOR), 1, 5),
    ]
    # the old bucket lost the refreshed miner, the new bucket holds it
    assert LineupBucket.decode(chain.state.get(lineup_expiry_key(5)) or b"") == \
        LineupBucket((pk(300),))
    assert LineupBucket.decode(chain.state.get(lineup_expiry_key(6)) or b"") == \
        LineupBucket((pk(301),))
    chain.advance_to(4)
    assert [e.miner_pubkey for e in read_lineup(chain.state)] == [pk(301), pk(300)]
    chain.next()  # block 5 ends 300's duty
    assert read_lineup(chain.state) == [LineupEntry(pk(301), pk(203), 2, 6)]
    assert chain.state.get(lineup_expiry_key(5)) is None
    chain.next()  # block 6 ends 301's
    assert read_lineup(chain.state) == [] and read_lineup_entry(chain.state, pk(301)) is None
    chain.check_invariants()


def test_a_miner_lined_up_by_the_block_that_ends_its_duty_stays() -> None:
    chain = Chain(make_genesis(lineup_blocks=2))
    chain.next(payroll=(300,))
    chain.next()
    chain.next(payroll=(300,))  # block 3 ends the duty of block 1 and starts a new one
    assert read_lineup(chain.state) == [LineupEntry(pk(300), pk(SPONSOR), 3, 5)]
    assert chain.state.get(lineup_expiry_key(3)) is None


def test_blocks_without_payroll_write_no_lineup_key() -> None:
    """So a chain that never had a payroll keeps the state roots it had before the lineup."""
    chain = Chain()
    for _ in range(3):
        result = chain.next()
        assert not any(k[:1] in (b"P", b"Q") or k == KEY_LINEUP_HORIZON
                       for k in result.diff.writes)


def test_a_corrupt_expiry_index_refuses_the_block() -> None:
    chain = Chain(make_genesis(lineup_blocks=2))
    chain.next(payroll=(300,))
    bad = chain.state.copy()
    # the bucket due at height 3 names a miner whose entry says otherwise
    bad._data[lineup_expiry_key(3)] = LineupBucket((pk(301),)).encode()
    chain.next()
    block = chain.build()
    with pytest.raises(InvalidBlock, match="corrupt ledger state"):
        ledger.apply_block(_after(bad, chain.blocks[-1], chain), bad.acc, chain.genesis, block,
                           check_state_root=False)


def _after(state: MemoryState, block: Block, chain: Chain) -> MemoryState:
    """``state`` with ``block`` (block 2, empty payroll) applied, unchecked."""
    result = ledger.apply_block(state, state.acc, chain.genesis, block, check_state_root=False)
    out = state.copy()
    out.apply(result.diff)
    return out


def test_records_decode_strictly() -> None:
    e = LineupEntry(pk(300), pk(SPONSOR), 7, 71)
    assert LineupEntry.decode(e.encode()) == e
    assert e.encode()[:2] == b"\x85\x18"  # array of 5, type 46 as 0x18 0x2e
    with pytest.raises(DecodeError, match="until"):
        LineupEntry.decode(LineupEntry(pk(300), pk(SPONSOR), 7, 7).encode())
    with pytest.raises(DecodeError, match="empty"):
        LineupBucket.decode(LineupBucket(()).encode())
    with pytest.raises(DecodeError, match="sorted"):
        LineupBucket.decode(LineupBucket(tuple(sorted((pk(300), pk(301)), reverse=True)))
                            .encode())
    assert LineupHorizon.decode(LineupHorizon(65).encode()) == LineupHorizon(65)
    assert lineup_expiry_key(65) == b"Q" + bytes(7) + b"\x41"
    assert lineup_key(pk(300)) == b"P" + pk(300)


# --- a real network: NodeMachines, real ECDSA, real lottery payrolls -----------------------


def test_a_real_network_lines_up_its_payrolls_and_a_store_agrees(tmp_path: Path) -> None:
    net = Net()
    net.start()
    net.run_until(GENESIS_MS + 60_000, stop=lambda: len(net.commits[0]) >= 5)
    commits = net.commits[0][:5]
    blocks = [c.block for c in commits]
    assert any(b.payroll for b in blocks), "the harness should produce payrolls"
    lineup_blocks = net.genesis.params.lineup_blocks
    expected: dict[bytes, LineupEntry] = {}
    for b in blocks:
        for t in b.payroll:
            expected[t.miner_pubkey] = LineupEntry(t.miner_pubkey, t.sponsor_pubkey,
                                                   b.height, b.height + lineup_blocks)
    tip = blocks[-1].id
    hub_state = net.hub.state_after(tip)
    want = sorted(expected.values(), key=lambda e: (-e.until, e.miner_pubkey))
    assert read_lineup(hub_state) == want
    # a node's LMDB store, replaying the same blocks with real signature checks, agrees
    with BlockStore.open(tmp_path / "data") as store:
        chain = StoreChain(store, net.genesis)
        for c in commits:
            chain.commit(c.block, c.certificate)
        assert store.state_root == hub_state.root
        assert read_lineup(chain.state_after(tip)) == want
        assert audit_supply(store.state_items()).ok
        assert {k for k, _ in store.state_items(b"P")} == {lineup_key(m) for m in expected}
