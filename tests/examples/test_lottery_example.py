"""The lottery example (examples/lottery): its pure rules, then the whole story on a devnet.

The rules are checked on hand-made blocks (real signed transactions, dummy headers): memo
grammar, the entry window and conditions, canonical order, the exactly uniform draw. The
integration test runs a one-node devnet with the example's manifest and compares what
``lottery.py verify`` prints with the rules applied to the blocks this test reads itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from itertools import product
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daoli.client import Client, token_from_home
from daoli.core.address import address_bytes_of, decode_address, encode_address
from daoli.core.block import Block, Header
from daoli.core.crypto import pubkey_from_secret
from daoli.core.ticket import Ticket
from daoli.core.tx import Transaction, Transfer, TrusteeLeave
from daoli.errors import ConfigError, DecodeError, ValidationError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lottery"


def _load_rules() -> ModuleType:
    """The example's rules module, loaded from its file (the example is no package)."""
    spec = importlib.util.spec_from_file_location("lottery_rules", EXAMPLE / "lottery_rules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("lottery_rules", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


lr: Any = _load_rules()

CHAIN = "devnet-test"
ORG, ALICE, BOB, CAROL, MINER = (i.to_bytes(32, "big") for i in (11, 12, 13, 14, 15))


def addr(secret: bytes) -> bytes:
    return address_bytes_of(pubkey_from_secret(secret))


def transfer(secret: bytes, to: bytes, amount: int, memo: bytes, nonce: int = 0) -> Transaction:
    return Transaction(CHAIN, pubkey_from_secret(secret), nonce, 1_000,
                       Transfer(to, amount, memo)).signed(secret)


def block(height: int, parent: bytes, txs: tuple[Transaction, ...] = (),
          miner: bytes = MINER, cycle: int | None = None) -> Block:
    """A block with a plausible winner ticket (its parent and cycle) and dummy roots: the
    rules read only heights, links, payloads and the winner ticket."""
    cyc = height + 1 if cycle is None else cycle
    ticket = Ticket(CHAIN, height, cyc, parent, pubkey_from_secret(miner),
                    pubkey_from_secret(miner), 0, 0, b"\0" * 64)
    z = b"\0" * 32
    header = Header(CHAIN, height, cyc, 1_000 * height, parent, ticket, z, z, z, z,
                    pubkey_from_secret(miner), b"\0" * 64)
    return Block(header, txs)


def chain(payloads: dict[int, tuple[Transaction, ...]], first: int, last: int,
          **at_draw: object) -> list[Block]:
    out: list[Block] = []
    parent = b"\x01" * 32
    for h in range(first, last + 1):
        kw = at_draw if h == last else {}
        b = block(h, parent, payloads.get(h, ()), **kw)  # type: ignore[arg-type]
        out.append(b)
        parent = b.id
    return out


RULES = lr.Rules("raffle", end=20, draw=22, payby=40, stake=100, prize=None)


def announcement(rules: lr.Rules = RULES) -> Transaction:
    return transfer(ORG, addr(ORG), 0, rules.memo())


def story(extra: dict[int, tuple[Transaction, ...]] | None = None, last: int = 22,
          **at_draw: object) -> tuple[lr.Lottery, list[Block]]:
    """Announced at 10; alice, bob, carol enter at 12, 12, 15; blocks 10..last."""
    ann = announcement()
    lid = ann.id
    payloads = {10: (ann,),
                12: (transfer(ALICE, addr(ORG), 100, lr.entry_memo(lid)),
                     transfer(BOB, addr(ORG), 150, lr.entry_memo(lid))),
                15: (transfer(CAROL, addr(ORG), 100, lr.entry_memo(lid)),)}
    for h, txs in (extra or {}).items():
        payloads[h] = payloads.get(h, ()) + txs
    blocks = chain(payloads, 10, last, **at_draw)
    return lr.lottery_in_block(blocks[0], lid), blocks


# --- memos --------------------------------------------------------------------------------------

names = st.text(alphabet="abcXYZ019._-", min_size=1, max_size=64)


@st.composite
def rules(draw: st.DrawFn) -> lr.Rules:
    end = draw(st.integers(0, 2**64 - 1 - 3))
    d = draw(st.integers(end + 2, 2**64 - 2))
    return lr.Rules(draw(names), end, d, draw(st.integers(d + 1, 2**64 - 1)),
                    draw(st.integers(0, 2**63 - 1)),
                    draw(st.none() | st.integers(1, 2**63 - 1)))


@given(rules())
def test_announcement_memo_round_trips_and_fits_a_transfer(r: lr.Rules) -> None:
    memo = r.memo()
    assert lr.parse_rules(memo) == r
    assert len(memo) <= 256


@given(st.binary(max_size=256))
def test_parsing_accepts_only_canonical_memos(memo: bytes) -> None:
    try:
        r = lr.parse_rules(memo)
    except DecodeError:
        return
    assert r.memo() == memo


@given(rules(), st.data())
def test_any_edit_of_a_memo_is_rejected_or_another_canonical_memo(r: lr.Rules,
                                                                  data: st.DataObject) -> None:
    memo = bytearray(r.memo())
    i = data.draw(st.integers(0, len(memo) - 1))
    memo[i] = data.draw(st.integers(0, 255))
    try:
        parsed = lr.parse_rules(bytes(memo))
    except DecodeError:
        return
    assert parsed.memo() == bytes(memo)


@pytest.mark.parametrize("memo", [
    b"", b"daoli-lottery/v1", b"daoli-lottery/v2 announce end=1 draw=3 payby=4 stake=0 "
    b"prize=pot name=x",
    b"daoli-lottery/v1 announce end=01 draw=3 payby=4 stake=0 prize=pot name=x",  # leading 0
    b"daoli-lottery/v1 announce end=1  draw=3 payby=4 stake=0 prize=pot name=x",  # 2 spaces
    b"daoli-lottery/v1 announce draw=3 end=1 payby=4 stake=0 prize=pot name=x",   # order
    b"daoli-lottery/v1 announce end=1 draw=3 payby=4 stake=0 prize=pot name=x ",  # trailing
    b"daoli-lottery/v1 announce end=1 draw=3 payby=4 stake=0 prize=pot name=a b",
    b"daoli-lottery/v1 announce end=1 draw=3 payby=4 stake=0 prize=pot name=\xc3\xa9",
    b"daoli-lottery/v1 announce end=1 draw=2 payby=4 stake=0 prize=pot name=x",   # D < E+2
    b"daoli-lottery/v1 announce end=1 draw=3 payby=3 stake=0 prize=pot name=x",   # P <= D
    b"daoli-lottery/v1 announce end=1 draw=3 payby=4 stake=0 prize=0 name=x",     # no prize
    b"daoli-lottery/v1 announce end=1 draw=3 payby=4 stake=9223372036854775808 prize=pot "
    b"name=x",                                                                    # > 2^63-1
    b"daoli-lottery/v1 announce end=18446744073709551615 draw=3 payby=4 stake=0 prize=pot "
    b"name=x",
    b"DAOLI-LOTTERY/V1 ANNOUNCE END=1 DRAW=3 PAYBY=4 STAKE=0 PRIZE=POT NAME=X",
])
def test_junk_announcements_are_rejected(memo: bytes) -> None:
    with pytest.raises(DecodeError):
        lr.parse_rules(memo)


def test_rules_refuse_a_draw_right_after_the_deadline() -> None:
    with pytest.raises(ConfigError, match="at least 2 blocks after"):
        lr.Rules("x", end=10, draw=11, payby=20)


def test_lottery_ids_from_people() -> None:
    assert lr.parse_lottery_id(" " + "AB" * 32 + "\n") == b"\xab" * 32
    for bad in ("", "ab" * 31, "zz" * 32, "ab" * 33, "0x" + "ab" * 31):
        with pytest.raises(ConfigError):
            lr.parse_lottery_id(bad)


def test_an_announcement_must_be_a_transfer_with_the_memo() -> None:
    leave = Transaction(CHAIN, pubkey_from_secret(ORG), 0, 1_000, TrusteeLeave()).signed(ORG)
    junk = transfer(ORG, addr(ORG), 0, b"daoli-lottery/v1 announce nonsense")
    b = block(5, b"\0" * 32, (leave, junk))
    with pytest.raises(DecodeError, match="trustee_leave"):
        lr.lottery_in_block(b, leave.id)
    with pytest.raises(DecodeError, match="not a daoli-lottery/v1 announcement"):
        lr.lottery_in_block(b, junk.id)
    with pytest.raises(DecodeError, match="does not hold"):
        lr.lottery_in_block(b, b"\x07" * 32)


# --- entries ------------------------------------------------------------------------------------


def test_the_story_counts_three_entries_in_canonical_order() -> None:
    lottery, blocks = story()
    assert lottery.organizer == addr(ORG) and (lottery.height, lottery.index) == (10, 0)
    entries, ignored = lr.scan_entries(lottery, blocks)
    assert [e.entrant for e in entries] == [addr(ALICE), addr(BOB), addr(CAROL)]
    assert [(e.height, e.index) for e in entries] == [(12, 0), (12, 1), (15, 0)]
    assert ignored == ()


def test_entries_that_break_a_rule_are_ignored_with_the_reason() -> None:
    lottery0, _ = story()
    memo = lr.entry_memo(lottery0.id)
    org = addr(ORG)
    lottery, blocks = story({
        10: (transfer(CAROL, org, 100, memo, nonce=1),),       # in the announcement's block,
        20: (transfer(CAROL, org, 100, memo, nonce=2),),       # after it: counts; at E: counts
        21: (transfer(ALICE, org, 100, memo, nonce=1),),       # after E
        13: (transfer(BOB, addr(ALICE), 100, memo, nonce=1),   # not to the organizer
             transfer(BOB, org, 99, memo, nonce=2),            # below the stake
             transfer(ORG, org, 100, memo, nonce=1),           # the organizer itself
             transfer(BOB, org, 100, memo.upper(), nonce=3),   # not the memo: not an entry
             transfer(BOB, org, 100, memo + b" ", nonce=4)),
    })
    entries, ignored = lr.scan_entries(lottery, blocks)
    assert [(e.height, e.index) for e in entries] == [(10, 1), (12, 0), (12, 1), (15, 0),
                                                      (20, 0)]
    assert [(x.height, x.reason) for x in ignored] == [
        (13, "not paid to the organizer"),
        (13, "pays 99 li, less than the stake of 100 li"),
        (13, "sent by the organizer, who cannot enter its own lottery"),
        (21, "final after the entry deadline (height 20)"),
    ]


def test_an_entry_before_the_announcement_does_not_count() -> None:
    ann = announcement()
    early = transfer(ALICE, addr(ORG), 100, lr.entry_memo(ann.id))
    b = block(10, b"\0" * 32, (early, ann))
    lottery = lr.lottery_in_block(b, ann.id)
    entries, ignored = lr.scan_entries(lottery, [b])
    assert entries == () and [x.reason for x in ignored] == ["final before the announcement"]


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.binary(min_size=32,
                                                                            max_size=32)),
                max_size=30, unique_by=lambda t: t[:2]), st.randoms())
def test_canonical_order_does_not_depend_on_the_order_found(
        keys: list[tuple[int, int, bytes]], rnd: object) -> None:
    entries = [lr.Entry(h, i, tid, b"\0" * 20, 1) for h, i, tid in keys]
    shuffled = list(entries)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    ordered = lr.order_entries(shuffled)
    assert ordered == lr.order_entries(entries)
    assert [e.key for e in ordered] == sorted(e.key for e in entries)


# --- the draw -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("bits", "n"), [(3, 1), (3, 3), (3, 5), (3, 7), (4, 6), (5, 9)])
def test_uniform_index_is_exactly_uniform(bits: int, n: int) -> None:
    """Every pair of words (a first one, and a second for when the first is rejected) is
    equally likely; counting the outcomes over all pairs shows exact uniformity, where
    ``word % n`` alone would favour the small indices whenever n does not divide 2**bits."""
    outcomes = Counter(lr.uniform_index(n, iter(pair), bits)
                       for pair in product(range(2**bits), repeat=2)
                       if pair[0] < 2**bits - 2**bits % n or pair[1] < 2**bits - 2**bits % n)
    assert set(outcomes) == set(range(n))
    assert len(set(outcomes.values())) == 1


def test_uniform_index_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        lr.uniform_index(0, iter([1]))
    with pytest.raises(ValueError):
        lr.uniform_index(3, iter([2**256]))
    with pytest.raises(ValueError, match="ran out"):
        lr.uniform_index(3, iter([2**256 - 1]))  # rejected, and no word follows


def test_the_draw_follows_the_documented_formula() -> None:
    lid, lot_ = b"\x11" * 32, b"\x22" * 32
    h0 = hashlib.sha256(b"daoli-lottery/v1/draw" + lid + (22).to_bytes(8, "big") + lot_
                        + (3).to_bytes(8, "big") + (0).to_bytes(8, "big")).digest()
    assert lr.winner_index(lid, 22, lot_, 3) == int.from_bytes(h0, "big") % 3
    assert lr.winner_index(lid, 22, lot_, 0) is None


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32),
       st.integers(1, 10_000))
def test_the_draw_is_a_deterministic_index_in_range(lid: bytes, lot_: bytes, n: int) -> None:
    i = lr.winner_index(lid, 7, lot_, n)
    assert i is not None and 0 <= i < n and i == lr.winner_index(lid, 7, lot_, n)


def test_decide_draws_from_block_d_and_sums_the_pot() -> None:
    lottery, blocks = story()
    res = lr.decide(lottery, blocks)
    assert len(res.entries) == 3 and res.prize == 350
    assert res.lot == lr.draw_lot(blocks[-1]) and res.draw_block_id == blocks[-1].id
    assert res.index is not None and res.index == lr.winner_index(lottery.id, 22, res.lot, 3)
    assert res.winner == res.entries[res.index]
    assert lr.decide(lottery, blocks) == res                     # deterministic
    fixed = replace(lottery, rules=replace(lottery.rules, prize=7))
    assert lr.decide(fixed, blocks).prize == 7


def test_the_draw_depends_on_block_d_winner_ticket_and_not_on_its_content() -> None:
    lottery, blocks = story()
    lots = {lr.decide(lottery, story(miner=m)[1]).lot
            for m in (MINER, ALICE, BOB, CAROL, ORG)}
    assert len(lots) == 5                                         # another miner: another lot
    other_cycle = lr.decide(lottery, story(cycle=99)[1])
    assert other_cycle.lot != lr.decide(lottery, blocks).lot
    winners = {lr.decide(lottery, story(miner=i.to_bytes(32, "big"))[1]).index
               for i in range(100, 140)}
    assert winners == {0, 1, 2}                                   # every entry can win
    # the proposer's free choices in block D (its payload, time) do not move the draw
    padded = list(blocks)
    d = padded[-1]
    padded[-1] = Block(replace(d.header, time_ms=d.header.time_ms + 123),
                       (transfer(ALICE, addr(BOB), 1, b"grind", nonce=9),))
    assert lr.decide(lottery, padded).lot == lr.decide(lottery, blocks).lot


def test_decide_needs_one_chain_through_block_d() -> None:
    lottery, blocks = story()
    with pytest.raises(ValidationError, match="needs blocks 10 to 22"):
        lr.decide(lottery, blocks[:-1])
    with pytest.raises(ValidationError, match="not a child"):
        lr.decide(lottery, [*blocks[:5], block(15, b"\x09" * 32), *blocks[6:]])
    with pytest.raises(ValidationError, match="followed by block"):
        lr.decide(lottery, [*blocks[:5], *blocks[6:]])


def test_payouts_count_from_the_organizer_to_the_winner_in_the_window() -> None:
    lottery, blocks = story()
    winner = lr.decide(lottery, blocks).winner
    assert winner is not None
    other = next(a for a in (addr(ALICE), addr(BOB), addr(CAROL)) if a != winner.entrant)
    memo = lr.payout_memo(lottery.id)
    late = story({23: (transfer(ORG, winner.entrant, 200, memo, nonce=1),
                       transfer(ORG, other, 350, memo, nonce=2),        # not the winner
                       transfer(ALICE, winner.entrant, 350, memo),      # not the organizer
                       transfer(ORG, winner.entrant, 350, b"prize", nonce=3)),  # no memo
                  24: (transfer(ORG, winner.entrant, 150, memo, nonce=4),)}, last=24)[1]
    res = lr.decide(lottery, late)
    assert [(p.height, p.amount) for p in res.payouts] == [(23, 200), (24, 150)]
    assert res.paid == res.prize == 350
    after = replace(lottery, rules=replace(lottery.rules, payby=23))
    assert lr.decide(after, late).paid == 200


# --- the whole story on a devnet ----------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(*args: str, env: dict[str, str], timeout: float = 60
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT, check=False)


def _lottery(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _run(sys.executable, str(EXAMPLE / "lottery.py"), *args, env=env)


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The example's one-node devnet; the environment ``devnet env`` gives, stopped after."""
    env = _env()
    d = str(tmp_path / "devnet")
    daoli = [sys.executable, "-m", "daoli.cli.app"]
    up = _run(*daoli, "devnet", "up", str(EXAMPLE / "devnet.toml"), "--detach", "--dir", d,
              env=env, timeout=120)
    try:
        assert up.returncode == 0, up.stderr[-2000:]
        shown = _run(*daoli, "--json", "devnet", "env", "--dir", d, env=env)
        assert shown.returncode == 0, shown.stderr
        yield {**env, **json.loads(shown.stdout)}
    finally:
        _run(*daoli, "devnet", "down", "--dir", d, env=env)


@pytest.mark.slow
def test_verify_prints_the_winner_the_rules_draw_from_the_blocks(
        devnet: dict[str, str]) -> None:
    ann = _lottery("announce", "--wallet", "organizer", "--name", "test-raffle", "--end", "+9",
                   "--draw", "+3", "--stake", "1DLC", "--payby", "+20", "--json", env=devnet)
    assert ann.returncode == 0, ann.stderr
    lottery_id = json.loads(ann.stdout)["lottery_id"]
    enters = [subprocess.Popen([sys.executable, str(EXAMPLE / "lottery.py"), "enter",
                                lottery_id, "--wallet", who, "--json"], env=devnet, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for who in ("alice", "bob", "carol")]
    outs = [p.communicate(timeout=60) for p in enters]
    assert all(p.returncode == 0 for p in enters), [err for _, err in outs]
    entered = {json.loads(out)["entrant"] for out, _ in outs}

    early = _lottery("verify", lottery_id, env=devnet)
    assert early.returncode == 1 and "block(s) to go" in early.stderr     # D is not final yet

    done = _lottery("verify", lottery_id, "--wait", "30", "--json", env=devnet)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)

    # the same draw, from blocks this test reads itself
    node = Client(devnet["DAOLI_NODE"], token_from_home(Path(devnet["DAOLI_HOME"])))
    with node:
        found = node.tx(bytes.fromhex(lottery_id))
        assert found.height is not None
        lottery = lr.lottery_in_block(node.block(found.height).block, bytes.fromhex(lottery_id))
        blocks = [b.block for b in node.blocks(lottery.height, lottery.rules.draw)]
    res = lr.decide(lottery, blocks)
    assert res.winner is not None and len(res.entries) == 3
    assert {encode_address(e.entrant) for e in res.entries} == entered
    assert shown["winner"]["entrant"] == encode_address(res.winner.entrant)
    assert shown["winner"]["position"] == res.index
    assert shown["draw_block"]["lot"] == res.lot.hex()
    assert shown["prize"] == 3 * 10**8 and shown["payout"]["status"] == "due"
    decode_address(shown["organizer"])

    human = _lottery("verify", lottery_id, env=devnet)
    assert f"winner: {encode_address(res.winner.entrant)}" in human.stdout

    unknown = _lottery("verify", "ab" * 32, env=devnet)
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1 and "unknown lottery" in unknown.stderr
    assert unknown.stdout == ""
    not_a_lottery = _lottery("verify", entered_tx(outs), env=devnet)
    assert not_a_lottery.returncode == 2 and "is not a lottery" in not_a_lottery.stderr
    bad = _lottery("verify", "xyz", env=devnet)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def entered_tx(outs: list[tuple[str, str]]) -> str:
    return str(json.loads(outs[0][0])["tx_id"])
