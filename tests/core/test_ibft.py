"""The I-BFT state machine: unit rules, Tendermint locking, and small deterministic networks."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, replace

import pytest

from daoli.core.crypto import pubkey_from_secret
from daoli.core.hashing import sha256
from daoli.core.ibft import (
    ADDED,
    CONFLICT,
    DUPLICATE,
    IGNORED,
    MAX_EXTRA_VOTES,
    MAX_PROPOSALS,
    MAX_ROUNDS_AHEAD,
    Broadcast,
    Decide,
    Effect,
    EnterRound,
    Equivocation,
    HeightState,
    Luck,
    MissingBlock,
    ScheduleTimeout,
    Step,
    TimeoutKind,
    VoteBook,
    max_faulty,
    quorum,
    secret_signer,
    should_propose,
    timeout_ms,
)
from daoli.core.params import ChainParams
from daoli.core.tx import Evidence
from daoli.core.vote import NIL, PRECOMMIT, PREVOTE, Vote

CHAIN = "daoli-test"
H = 7
PARENT = sha256(b"parent")
PARAMS = ChainParams()
FAKE_SIG = b"\x01" * 64
B = sha256(b"block B")
C = sha256(b"block C")
LUCK_B: Luck = (5, b"\x20" * 32)
LUCK_C: Luck = (5, b"\x10" * 32)  # C is luckier than B


def fake_sign(v: Vote) -> Vote:
    return replace(v, sig=FAKE_SIG)


def fake_pubs(n: int) -> list[bytes]:
    return [b"\x02" + bytes([i + 1]) * 32 for i in range(n)]


def mk(n: int = 4, me: int = 0, **kw: object) -> tuple[HeightState, list[bytes]]:
    pubs = fake_pubs(n)
    hs = HeightState(CHAIN, H, PARENT, pubs[me], fake_sign, pubs, PARAMS, **kw)  # type: ignore[arg-type]
    return hs, pubs


def v(pub: bytes, vtype: int, rnd: int, bid: bytes, height: int = H, chain: str = CHAIN) -> Vote:
    return Vote(chain, vtype, height, rnd, bid, pub, 0, FAKE_SIG)


def sent(effects: list[Effect]) -> list[Vote]:
    return [e.vote for e in effects if isinstance(e, Broadcast)]


def timers(effects: list[Effect]) -> list[ScheduleTimeout]:
    return [e for e in effects if isinstance(e, ScheduleTimeout)]


def feed(hs: HeightState, votes: list[Vote], now: int = 0) -> list[Effect]:
    out: list[Effect] = []
    for x in votes:
        out += hs.on_vote(x, now)
    return out


# --- arithmetic and helpers ---------------------------------------------------------------


def test_fault_tolerance_arithmetic() -> None:
    assert [(max_faulty(n), quorum(n)) for n in (1, 2, 3, 4, 5, 7, 10, 100)] == [
        (0, 1), (0, 2), (0, 3), (1, 3), (1, 4), (2, 5), (3, 7), (33, 67)]


def test_timeouts_grow_by_delta() -> None:
    p = ChainParams(timeout_propose_ms=1000, timeout_prevote_ms=400, timeout_precommit_ms=300,
                    timeout_delta_ms=250)
    assert [timeout_ms(p, TimeoutKind.PROPOSE, r) for r in range(3)] == [1000, 1250, 1500]
    assert timeout_ms(p, TimeoutKind.PREVOTE, 2) == 900
    assert timeout_ms(p, TimeoutKind.PRECOMMIT, 1) == 550


def test_should_propose() -> None:
    assert should_propose(0, 0, False)
    assert not should_propose(0, 1, False)
    assert should_propose(1, 1, False)
    assert not should_propose(1, 1, True)
    assert not should_propose(1, 2, False)
    assert should_propose(3, 2, False)
    assert not should_propose(0, -1, False)


# --- vote book ----------------------------------------------------------------------------


def test_vote_book_tallies_and_ignores_strangers() -> None:
    pubs = fake_pubs(4)
    book = VoteBook(CHAIN, H, pubs)
    assert book.add(v(pubs[0], PREVOTE, 0, B)).status == ADDED
    r = book.add(v(pubs[1], PREVOTE, 0, B))
    assert (r.status, r.supporters, r.total) == (ADDED, 2, 2)
    r = book.add(v(pubs[2], PREVOTE, 0, NIL))
    assert (r.supporters, r.total) == (1, 3)
    assert book.add(v(pubs[1], PREVOTE, 0, B)).status == DUPLICATE
    assert book.add(v(b"\x03" + b"\x09" * 32, PREVOTE, 0, B)).status == IGNORED
    assert book.add(v(pubs[3], PREVOTE, 0, B, height=H + 1)).status == IGNORED
    assert book.add(v(pubs[3], PREVOTE, 0, B, chain="other")).status == IGNORED
    assert book.count(0, PREVOTE, B) == 2 and book.total(0, PREVOTE) == 3
    assert book.tally(0, PREVOTE) == {B: 2, NIL: 1}
    assert book.voters_in_round(0) == 3 and book.voters_in_round(1) == 0


def test_vote_book_equivocation_evidence() -> None:
    pubs = fake_pubs(4)
    book = VoteBook(CHAIN, H, pubs)
    book.known.update({B, C})
    a = v(pubs[1], PRECOMMIT, 2, B)
    b = v(pubs[1], PRECOMMIT, 2, C)
    assert book.add(a).status == ADDED
    res = book.add(b)
    assert res.status == CONFLICT and res.evidence == (a, b)
    body = Evidence(*res.evidence)  # the ledger's tx body takes the pair as is
    assert body.vote_a.block_id != body.vote_b.block_id
    # counted for both blocks (see VoteBook), but the trustee is one voter of the round
    assert (res.supporters, res.total) == (1, 1)
    assert book.count(2, PRECOMMIT, B) == book.count(2, PRECOMMIT, C) == 1
    assert book.add(b).status == DUPLICATE
    # a third block id: counted, but the evidence was already reported
    res = book.add(v(pubs[1], PRECOMMIT, 2, NIL))
    assert res.status == CONFLICT and res.evidence is None and res.supporters == 1
    assert book.add(v(pubs[1], PREVOTE, 2, NIL)).status == ADDED
    assert book.add(v(pubs[1], PREVOTE, 2, B)).evidence is not None
    assert len(book.evidence) == 2
    assert book.total(2, PRECOMMIT) == 1 and book.voters_in_round(2) == 1
    assert [x.block_id for x in book.first_votes(2, PRECOMMIT)] == [B]


def test_vote_book_caps_conflicting_votes_for_unknown_blocks() -> None:
    pubs = fake_pubs(4)
    book = VoteBook(CHAIN, H, pubs)
    book.add(v(pubs[1], PREVOTE, 0, B))
    junk = [sha256(bytes([i])) for i in range(MAX_EXTRA_VOTES + 3)]
    counted = [book.add(v(pubs[1], PREVOTE, 0, j)).supporters for j in junk]
    assert counted == [1] * MAX_EXTRA_VOTES + [0] * 3
    book.known.add(C)
    assert book.add(v(pubs[1], PREVOTE, 0, C)).supporters == 1, "known proposals always count"
    assert book.add(v(pubs[1], PREVOTE, 0, NIL)).supporters == 1


# --- single trustee: rounds and timeouts --------------------------------------------------


def test_no_proposal_nil_votes_and_round_change_with_growing_timeouts() -> None:
    hs, pubs = mk()
    eff = hs.start(0)
    assert EnterRound(H, 0, 0) in eff
    assert timers(eff) == [ScheduleTimeout(TimeoutKind.PROPOSE, H, 0, 1000)]
    now = 0
    for r in range(3):
        eff = hs.on_timeout(TimeoutKind.PROPOSE, H, r, now + timeout_ms(PARAMS,
                                                                         TimeoutKind.PROPOSE, r))
        now += timeout_ms(PARAMS, TimeoutKind.PROPOSE, r)
        assert [(x.vtype, x.round, x.block_id) for x in sent(eff)] == [(PREVOTE, r, NIL)]
        # two more nil prevotes: q nil prevotes -> precommit nil at once
        eff = feed(hs, [v(pubs[1], PREVOTE, r, NIL), v(pubs[2], PREVOTE, r, NIL)], now)
        assert [(x.vtype, x.block_id) for x in sent(eff)] == [(PRECOMMIT, NIL)]
        eff = feed(hs, [v(pubs[1], PRECOMMIT, r, NIL), v(pubs[3], PRECOMMIT, r, NIL)], now)
        (t,) = timers(eff)
        assert (t.kind, t.round, t.at_ms - now) == (TimeoutKind.PRECOMMIT, r, 500 + 500 * r)
        now = t.at_ms
        eff = hs.on_timeout(TimeoutKind.PRECOMMIT, H, r, now)
        assert EnterRound(H, r + 1, now) in eff
        (t,) = timers(eff)
        assert t.at_ms - now == 1000 + 500 * (r + 1)
    assert hs.round == 3 and hs.decision is None


def test_prevote_timeout_starts_after_q_prevotes_of_any_kind() -> None:
    hs, pubs = mk()
    hs.start(0)
    hs.on_proposal(B, LUCK_B, True, 10)
    eff = hs.on_timeout(TimeoutKind.PROPOSE, H, 0, 1000)
    assert [x.block_id for x in sent(eff)] == [B]
    eff = feed(hs, [v(pubs[1], PREVOTE, 0, NIL)], 1010)
    assert not timers(eff)
    eff = feed(hs, [v(pubs[2], PREVOTE, 0, C)], 1020)  # 3 prevotes, no polka
    assert timers(eff) == [ScheduleTimeout(TimeoutKind.PREVOTE, H, 0, 1520)]
    eff = hs.on_timeout(TimeoutKind.PREVOTE, H, 0, 1520)
    assert [(x.vtype, x.block_id) for x in sent(eff)] == [(PRECOMMIT, NIL)]
    assert hs.locked_id is None


def test_stale_and_foreign_timeouts_do_nothing() -> None:
    hs, _ = mk()
    hs.start(0)
    assert hs.on_timeout(TimeoutKind.PROPOSE, H + 1, 0, 5000) == []
    assert hs.on_timeout(TimeoutKind.PROPOSE, H, 1, 5000) == []
    assert hs.on_timeout(TimeoutKind.PREVOTE, H, 0, 5000) == []  # still in propose step
    assert hs.step == Step.PROPOSE


def test_round0_prevotes_luckiest_valid_proposal() -> None:
    hs, _ = mk()
    hs.start(0)
    hs.on_proposal(B, LUCK_B, True, 1)
    hs.on_proposal(C, LUCK_C, False, 2)  # luckier but invalid
    hs.on_proposal(sha256(b"D"), (6, b"\x00" * 32), True, 3)  # later draw: less lucky
    eff = hs.on_timeout(TimeoutKind.PROPOSE, H, 0, 1000)
    assert [x.block_id for x in sent(eff)] == [B]


def test_early_prevote_when_proposal_matches_best_ticket() -> None:
    hs, _ = mk()
    eff = hs.start(0, best_luck=LUCK_C)
    assert not sent(eff)
    assert not sent(hs.on_proposal(B, LUCK_B, True, 5)), "B is less lucky than a known ticket"
    eff = hs.on_proposal(C, LUCK_C, True, 7)
    assert [(x.vtype, x.block_id, x.time_ms) for x in sent(eff)] == [(PREVOTE, C, 7)]
    assert sent(hs.on_timeout(TimeoutKind.PROPOSE, H, 0, 1000)) == []


def test_round_r_prevotes_most_prevoted_of_previous_round_ties_luckier() -> None:
    hs, pubs = mk(n=7)  # q = 5
    hs.start(0)
    d = sha256(b"D")
    luck_d = (5, b"\x05" * 32)
    for bid, luck in ((B, LUCK_B), (C, LUCK_C), (d, luck_d)):
        hs.on_proposal(bid, luck, True, 0)
    hs.on_timeout(TimeoutKind.PROPOSE, H, 0, 1000)  # prevotes d (luckiest)
    # round 0 prevotes: d 1 (mine), B 3, C 2 -> B had the most
    feed(hs, [v(pubs[1], PREVOTE, 0, B), v(pubs[2], PREVOTE, 0, B), v(pubs[3], PREVOTE, 0, B),
              v(pubs[4], PREVOTE, 0, C), v(pubs[5], PREVOTE, 0, C)], 1000)
    hs.on_timeout(TimeoutKind.PREVOTE, H, 0, 2000)
    feed(hs, [v(p, PRECOMMIT, 0, NIL) for p in pubs[1:5]], 2000)
    hs.on_timeout(TimeoutKind.PRECOMMIT, H, 0, 2500)
    eff = hs.on_timeout(TimeoutKind.PROPOSE, H, 1, 4000)
    assert [(x.round, x.block_id) for x in sent(eff)] == [(1, B)]
    # a tie in round 1 between C and B (3 each incl. mine): the luckier C wins in round 2
    feed(hs, [v(pubs[1], PREVOTE, 1, B), v(pubs[2], PREVOTE, 1, B), v(pubs[3], PREVOTE, 1, C),
              v(pubs[4], PREVOTE, 1, C), v(pubs[5], PREVOTE, 1, C)], 4000)
    hs.on_timeout(TimeoutKind.PREVOTE, H, 1, 5000)
    feed(hs, [v(p, PRECOMMIT, 1, NIL) for p in pubs[1:5]], 5000)
    hs.on_timeout(TimeoutKind.PRECOMMIT, H, 1, 6000)
    eff = hs.on_timeout(TimeoutKind.PROPOSE, H, 2, 9000)
    assert [(x.round, x.block_id) for x in sent(eff)] == [(2, C)]


# --- locking (Tendermint) ------------------------------------------------------------------


def lock_on_b_in_round0(hs: HeightState, pubs: list[bytes]) -> None:
    hs.start(0)
    hs.on_proposal(B, LUCK_B, True, 10)
    assert [x.block_id for x in sent(hs.on_timeout(TimeoutKind.PROPOSE, H, 0, 1000))] == [B]
    eff = feed(hs, [v(pubs[1], PREVOTE, 0, B), v(pubs[2], PREVOTE, 0, B)], 1100)
    assert [(x.vtype, x.block_id) for x in sent(eff)] == [(PRECOMMIT, B)]
    assert (hs.locked_round, hs.locked_id) == (0, B)
    eff = feed(hs, [v(pubs[1], PRECOMMIT, 0, NIL), v(pubs[2], PRECOMMIT, 0, NIL)], 1200)
    (t,) = timers(eff)
    eff = hs.on_timeout(TimeoutKind.PRECOMMIT, H, 0, t.at_ms)
    # locked with the block in hand: the round-1 prevote cannot change, so it goes out at once
    assert [(x.vtype, x.round, x.block_id) for x in sent(eff)] == [(PREVOTE, 1, B)]


def test_locked_keeps_prevoting_b_without_polka_for_c() -> None:
    hs, pubs = mk()
    lock_on_b_in_round0(hs, pubs)
    hs.on_proposal(C, LUCK_C, True, 1800)  # a luckier block shows up: irrelevant when locked
    eff = feed(hs, [v(pubs[1], PREVOTE, 1, C), v(pubs[2], PREVOTE, 1, C)], 1900)
    assert not sent(eff) and timers(eff)[0].kind == TimeoutKind.PREVOTE
    eff = hs.on_timeout(TimeoutKind.PREVOTE, H, 1, timers(eff)[0].at_ms)
    assert [(x.vtype, x.block_id) for x in sent(eff)] == [(PRECOMMIT, NIL)]
    assert (hs.locked_round, hs.locked_id) == (0, B)
    eff = feed(hs, [v(pubs[1], PRECOMMIT, 1, NIL), v(pubs[2], PRECOMMIT, 1, NIL)], 3000)
    eff = hs.on_timeout(TimeoutKind.PRECOMMIT, H, 1, timers(eff)[0].at_ms)
    assert [(x.vtype, x.round, x.block_id) for x in sent(eff)] == [(PREVOTE, 2, B)]


def test_polka_for_c_in_later_round_relocks_while_prevoting() -> None:
    hs, pubs = mk()
    lock_on_b_in_round0(hs, pubs)
    hs.on_proposal(C, LUCK_C, True, 1800)
    eff = feed(hs, [v(pubs[1], PREVOTE, 1, C), v(pubs[2], PREVOTE, 1, C),
                    v(pubs[3], PREVOTE, 1, C)], 1900)
    assert [(x.vtype, x.round, x.block_id) for x in sent(eff)] == [(PRECOMMIT, 1, C)]
    assert (hs.locked_round, hs.locked_id) == (1, C)


def test_late_polka_for_c_unlocks_in_next_round() -> None:
    hs, pubs = mk()
    lock_on_b_in_round0(hs, pubs)
    hs.on_proposal(C, LUCK_C, True, 1800)
    eff = feed(hs, [v(pubs[1], PREVOTE, 1, C), v(pubs[2], PREVOTE, 1, C)], 1900)
    hs.on_timeout(TimeoutKind.PREVOTE, H, 1, timers(eff)[0].at_ms)  # precommit nil
    eff = feed(hs, [v(pubs[3], PREVOTE, 1, C)], 3000)  # polka for C, too late to precommit it
    assert not sent(eff)
    assert (hs.locked_round, hs.locked_id) == (0, B) and hs.polka(1) == C
    eff = feed(hs, [v(pubs[1], PRECOMMIT, 1, NIL), v(pubs[2], PRECOMMIT, 1, NIL)], 3000)
    eff = hs.on_timeout(TimeoutKind.PRECOMMIT, H, 1, timers(eff)[0].at_ms)
    assert [(x.vtype, x.round, x.block_id) for x in sent(eff)] == [(PREVOTE, 2, C)]


def test_polka_for_unknown_block_asks_for_it_and_prevotes_nil() -> None:
    hs, pubs = mk()
    lock_on_b_in_round0(hs, pubs)
    eff = feed(hs, [v(pubs[1], PREVOTE, 1, C), v(pubs[2], PREVOTE, 1, C),
                    v(pubs[3], PREVOTE, 1, C)], 1900)
    assert MissingBlock(C) in eff and not sent(eff)  # cannot precommit a block it lacks
    eff = hs.on_timeout(TimeoutKind.PREVOTE, H, 1, 4000)
    assert [(x.vtype, x.block_id) for x in sent(eff)] == [(PRECOMMIT, NIL)]
    eff = feed(hs, [v(pubs[1], PRECOMMIT, 1, NIL), v(pubs[2], PRECOMMIT, 1, NIL)], 4000)
    hs.on_timeout(TimeoutKind.PRECOMMIT, H, 1, 5000)
    eff = hs.on_timeout(TimeoutKind.PROPOSE, H, 2, 7000)
    assert [(x.round, x.block_id) for x in sent(eff)] == [(2, NIL)]
    eff = hs.on_proposal(C, LUCK_C, True, 7001)  # arriving now changes nothing in round 2
    assert not sent(eff)


def test_polka_seen_before_block_arrives_precommits_on_arrival() -> None:
    hs, pubs = mk()
    hs.start(0)
    hs.on_timeout(TimeoutKind.PROPOSE, H, 0, 1000)  # nil: nothing held
    eff = feed(hs, [v(p, PREVOTE, 0, B) for p in pubs[1:]], 1100)
    assert MissingBlock(B) in eff and not sent(eff)
    eff = hs.on_proposal(B, LUCK_B, True, 1200)
    assert [(x.vtype, x.block_id) for x in sent(eff)] == [(PRECOMMIT, B)]
    assert hs.locked_id == B


# --- bounded proposals ---------------------------------------------------------------------


def junk(tag: str, i: int) -> bytes:
    return sha256(f"{tag}{i}".encode())


def unlucky(i: int) -> Luck:
    return (50, i.to_bytes(32, "big"))


def test_proposals_beyond_the_bound_do_not_grow_memory() -> None:
    hs, _ = mk()
    assert hs.max_proposals == MAX_PROPOSALS == 256
    hs.start(0)
    for i in range(2_000):  # invalid ones (even claiming great luck) stop being recorded
        hs.on_proposal(junk("bad", i), (0, b""), False, 1)
    assert len(hs.book.known) == MAX_PROPOSALS
    for i in range(2_000):  # valid unlucky ones replace invalid ones, then one another
        hs.on_proposal(junk("ok", i), unlucky(i), True, 2)
        assert len(hs.book.known) <= MAX_PROPOSALS
    held = [i for i in range(2_000) if hs.holds_valid(junk("ok", i))]
    assert held == list(range(MAX_PROPOSALS))  # the luckiest valid ones
    assert hs.luckiest_valid() == (unlucky(0), junk("ok", 0))
    hs.on_proposal(junk("bad", 1), LUCK_B, True, 3)
    assert hs.holds_valid(junk("bad", 1))  # a luckier valid block always gets in ...
    assert not hs.holds_valid(junk("ok", MAX_PROPOSALS - 1))  # ... and the worst goes
    assert len(hs.book.known) == MAX_PROPOSALS
    # an invalid id recorded earlier still upgrades to valid without growing anything
    hs2, _ = mk(max_proposals=2)
    hs2.on_proposal(B, LUCK_B, False, 0)
    hs2.on_proposal(C, LUCK_C, False, 0)
    hs2.on_proposal(B, LUCK_B, True, 0)
    assert hs2.holds_valid(B) and hs2.book.known == {B, C}


def test_bound_never_forgets_the_lock_or_a_polka_block() -> None:
    hs, pubs = mk(max_proposals=4)
    lock_on_b_in_round0(hs, pubs)
    for i in range(50):  # luckier valid blocks: the lock's block B stays
        hs.on_proposal(junk("lucky", i), (0, i.to_bytes(32, "big")), True, 1800)
    assert hs.holds_valid(B) and len(hs.book.known) == 4
    assert hs.luckiest_valid() == ((0, bytes(32)), junk("lucky", 0))
    # an unlucky block forgotten here that then gets a polka is fetched and taken back
    d = sha256(b"D")
    hs.on_proposal(d, unlucky(1), True, 1850)
    assert not hs.holds_valid(d)
    eff = feed(hs, [v(p, PREVOTE, 1, d) for p in pubs[1:]], 1900)
    assert MissingBlock(d) in eff
    eff = hs.on_proposal(d, unlucky(1), True, 1950)
    assert hs.holds_valid(d) and [(x.vtype, x.block_id) for x in sent(eff)] == [(PRECOMMIT, d)]
    assert hs.holds_valid(B) and len(hs.book.known) <= 4 + 1


@pytest.mark.parametrize("seed", range(6))  # seeds 0, 3, 5 decide in round 1
def test_proposal_flood_changes_no_decision(seed: int) -> None:
    """Scripted: every trustee is flooded with invalid blocks claiming the best luck and
    valid but unlucky ones; a tight bound decides exactly as an unbounded machine."""
    results = []
    for bound in (16, 10**9):
        ps = props(3, set={0: {"online": False}})  # failover to the runner-up in round 1
        net = Network(4, ps, seed=seed)
        for m in net.machines.values():
            m.max_proposals = bound
        for j in net.machines:
            for i in range(300):  # valid ones luckier and luckier: the bound keeps evicting
                net.push((i * 7919 + 31 * j) % 3000, "proposal", j,
                         (junk("bad", i), (0, b""), False))
                net.push(100 + 9 * (299 - i) + j, "proposal", j,
                         (junk("ok", i), unlucky(i), True))
        net.run()
        for m in net.machines.values():
            assert len(m.book.known) == min(bound, len(m.book.known)) and (
                bound > 600 or len(m.book.known) == bound)
        results.append({i: (d.round, d.block_id) for i, d in net.decisions.items()})
        one_vote_per_round(net)
    assert results[0] == results[1] and len(results[0]) == 4
    assert len({b for _, b in results[0].values()}) == 1


# --- one vote per (round, type) ------------------------------------------------------------


def test_at_most_one_prevote_and_precommit_per_round_under_duplicate_triggers() -> None:
    hs, pubs = mk()
    mine: list[Vote] = []
    mine += sent(hs.start(0))
    mine += sent(hs.start(5))
    mine += sent(hs.on_timeout(TimeoutKind.PROPOSE, H, 0, 1000))  # nil
    mine += sent(hs.on_timeout(TimeoutKind.PROPOSE, H, 0, 1001))
    mine += sent(hs.on_proposal(B, LUCK_B, True, 1002))  # too late for round 0's prevote
    for x in list(mine):
        mine += sent(hs.on_vote(x, 1003))  # our own votes echoed back
    for _ in range(2):
        mine += sent(feed(hs, [v(pubs[1], PREVOTE, 0, B), v(pubs[2], PREVOTE, 0, B)], 1004))
    mine += sent(hs.on_timeout(TimeoutKind.PREVOTE, H, 0, 1600))
    mine += sent(feed(hs, [v(pubs[3], PREVOTE, 0, B)], 1700))  # now a polka for B
    mine += sent(hs.on_timeout(TimeoutKind.PREVOTE, H, 0, 1800))
    keys = [(x.round, x.vtype) for x in mine]
    assert sorted(keys) == [(0, PREVOTE), (0, PRECOMMIT)]
    assert len(hs.my_votes()) == 2


# --- rounds: skipping ahead, late commits ------------------------------------------------


def test_f_plus_one_votes_for_a_later_round_skip_ahead() -> None:
    hs, pubs = mk()  # f = 1
    hs.start(0)
    eff = hs.on_vote(v(pubs[1], PREVOTE, 3, NIL), 50)
    assert not any(isinstance(e, EnterRound) for e in eff) and hs.round == 0
    eff = hs.on_vote(v(pubs[1], PRECOMMIT, 3, NIL), 60)  # same trustee: still one voter
    assert hs.round == 0
    eff = hs.on_vote(v(pubs[2], PRECOMMIT, 3, NIL), 70)
    assert EnterRound(H, 3, 70) in eff and hs.round == 3
    assert ScheduleTimeout(TimeoutKind.PROPOSE, H, 3, 70 + 1000 + 3 * 500) in eff


def test_start_late_joins_the_round_others_are_in() -> None:
    hs, pubs = mk()
    feed(hs, [v(pubs[1], PREVOTE, 2, NIL), v(pubs[2], PREVOTE, 2, NIL)], 0)
    eff = hs.start(100)
    assert EnterRound(H, 2, 100) in eff and hs.round == 2


def test_far_future_votes_are_not_stored_but_still_pull_ahead() -> None:
    hs, pubs = mk()
    hs.start(0)
    far = MAX_ROUNDS_AHEAD + 10
    hs.on_vote(v(pubs[1], PREVOTE, far, NIL), 1)
    assert hs.book.voters_in_round(far) == 0 and hs.round == 0
    eff = hs.on_vote(v(pubs[2], PREVOTE, far + 5, NIL), 2)
    assert hs.round == far and EnterRound(H, far, 2) in eff


def test_late_precommits_of_an_older_round_still_decide() -> None:
    hs, pubs = mk()
    hs.start(0)
    feed(hs, [v(pubs[1], PREVOTE, 2, NIL), v(pubs[2], PREVOTE, 2, NIL)], 10)
    assert hs.round == 2
    eff = feed(hs, [v(p, PRECOMMIT, 0, B) for p in pubs[1:]], 20)
    (d,) = [e for e in eff if isinstance(e, Decide)]
    assert (d.height, d.round, d.block_id) == (H, 0, B)
    assert d.certificate.round == 0 and len(d.certificate.sigs) == 3
    assert MissingBlock(B) in eff
    assert hs.on_timeout(TimeoutKind.PROPOSE, H, 2, 5000) == [], "a decided instance is done"


def test_observer_tallies_and_decides_but_never_signs() -> None:
    pubs = fake_pubs(4)
    hs = HeightState(CHAIN, H, PARENT, None, None, pubs, PARAMS)
    hs.start(0)
    hs.on_proposal(B, LUCK_B, True, 0)
    eff = hs.on_timeout(TimeoutKind.PROPOSE, H, 0, 1000)
    eff += feed(hs, [v(p, PREVOTE, 0, B) for p in pubs[:3]], 1000)
    eff += feed(hs, [v(p, PRECOMMIT, 0, B) for p in pubs[:3]], 1000)
    assert not sent(eff) and hs.decision is not None and hs.decision.block_id == B
    full = feed(hs, [v(pubs[3], PRECOMMIT, 0, B)], 1100)
    assert full == [] and len(hs.decision.certificate.sigs) == 3
    cert = hs.certificate(0, B)
    assert cert is not None and len(cert.sigs) == 4  # late precommit joins the full certificate


def test_signature_checking_is_optional_and_drops_bad_votes() -> None:
    secrets = [bytes([i + 1]) * 32 for i in range(4)]
    pubs = [pubkey_from_secret(s) for s in secrets]
    hs = HeightState(CHAIN, H, PARENT, pubs[0], secret_signer(secrets[0]), pubs, PARAMS,
                     verify_sigs=True)
    good = Vote(CHAIN, PREVOTE, H, 0, B, pubs[1], 5).signed(secrets[1])
    forged = Vote(CHAIN, PREVOTE, H, 0, B, pubs[2], 5).signed(secrets[3])
    hs.on_vote(good, 0)
    hs.on_vote(forged, 0)
    assert hs.book.total(0, PREVOTE) == 1


# --- a deterministic network harness ------------------------------------------------------


@dataclass
class Proposal:
    block_id: bytes
    luck: Luck
    rank: int
    valid: bool = True
    online: bool = True


@dataclass(order=True)
class Event:
    at: int
    seq: int
    kind: str = field(compare=False)
    node: int = field(compare=False)
    data: tuple = field(compare=False, default=())


class Network:
    """n trustees at one height, wired by their effects through a seeded delay model.

    ``silent`` trustees never act; ``equivocators`` run the honest machine but send every
    vote first to the even-numbered trustees and a conflicting twin first to the odd-numbered
    ones; relaying brings each the other version later, as gossip would.
    Sponsors propose by ``should_propose`` when the first trustee enters a round.
    """

    def __init__(self, n: int, proposals: list[Proposal], *, seed: int = 0,
                 silent: tuple[int, ...] = (), equivocators: tuple[int, ...] = (),
                 real_keys: bool = False, best_luck: bool = False, max_delay: int = 60,
                 params: ChainParams = PARAMS, scatter_ms: int = 0,
                 chaos: tuple[int, ...] = (), drop: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.n = n
        if real_keys:
            secrets = [sha256(b"trustee" + bytes([i])) for i in range(n)]
            self.pubs = [pubkey_from_secret(s) for s in secrets]
            signers = [secret_signer(s) for s in secrets]
        else:
            self.pubs = fake_pubs(n)
            signers = [fake_sign] * n
        self.silent = set(silent)
        self.equivocators = set(equivocators)
        self.max_delay = max_delay
        self.proposals = proposals
        self.scatter_ms = scatter_ms
        self.chaos = set(chaos)
        self.drop = drop
        self.proposed: set[int] = set()
        self.rounds_entered: set[int] = set()
        self.machines = {
            i: HeightState(CHAIN, H, PARENT, self.pubs[i], signers[i], self.pubs, params)
            for i in range(n) if i not in self.silent}
        self.signers = signers
        self.decisions: dict[int, Decide] = {}
        self.evidence: list[Equivocation] = []
        self.sent: dict[int, list[Vote]] = {i: [] for i in range(n)}
        self.queue: list[Event] = []
        self.seq = 0
        self.events = 0
        luck = min(p.luck for p in proposals if p.online) if proposals and best_luck else None
        for i in self.machines:
            self.push(self.rng.randrange(0, 20), "start", i, (luck,))

    @property
    def honest(self) -> list[int]:
        return [i for i in self.machines if i not in self.equivocators | self.chaos]

    def push(self, at: int, kind: str, node: int, data: tuple = ()) -> None:
        self.seq += 1
        heapq.heappush(self.queue, Event(at, self.seq, kind, node, data))

    def delay(self) -> int:
        return 1 + self.rng.randrange(self.max_delay)

    def run(self, limit_ms: int = 200_000, settle_ms: int = 0) -> None:
        """Until every honest trustee decided (plus ``settle_ms`` for stragglers) or
        ``limit_ms``."""
        settled = False
        while self.queue:
            if not settled and all(i in self.decisions for i in self.honest):
                settled = True
                limit_ms = min(limit_ms, self.queue[0].at + settle_ms)
            ev = heapq.heappop(self.queue)
            if ev.at > limit_ms:
                break
            self.events += 1
            m = self.machines[ev.node]
            if ev.kind == "start":
                eff = m.start(ev.at, *ev.data)
            elif ev.kind == "vote":
                eff = m.on_vote(ev.data[0], ev.at)
            elif ev.kind == "proposal":
                eff = m.on_proposal(*ev.data, ev.at)
            else:
                eff = m.on_timeout(*ev.data, ev.at)
            self.apply(ev.node, ev.at, eff)

    def apply(self, i: int, now: int, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, Broadcast):
                self.broadcast(i, now, e.vote)
            elif isinstance(e, ScheduleTimeout):
                self.push(e.at_ms, "timeout", i, (e.kind, e.height, e.round))
            elif isinstance(e, EnterRound):
                self.enter_round(e.round, now)
            elif isinstance(e, Decide):
                self.decisions[i] = e
                # a node announces what it committed, with the certificate, to its peers
                for j in self.machines:
                    if j != i and self.rng.random() >= self.drop:
                        for x in e.certificate.votes(CHAIN):
                            self.push(now + self.delay(), "vote", j, (x,))
            elif isinstance(e, Equivocation):
                self.evidence.append(e)

    def broadcast(self, i: int, now: int, vote: Vote) -> None:
        if i in self.chaos:
            return
        self.sent[i].append(vote)
        twin = vote
        if i in self.equivocators:
            other = next((p.block_id for p in self.proposals if p.block_id != vote.block_id),
                         sha256(b"evil"))
            twin = self.signers[i](replace(vote, block_id=other, sig=b""))
        for j in self.machines:
            if j != i and self.rng.random() >= self.drop:
                first, second = (twin, vote) if j % 2 else (vote, twin)
                self.push(now + self.delay(), "vote", j, (first,))
                if twin is not vote:  # gossip relays the other version a little later
                    self.push(now + self.max_delay + self.delay(), "vote", j, (second,))

    def enter_round(self, r: int, now: int) -> None:
        if r in self.rounds_entered:
            return
        self.rounds_entered.add(r)
        ids = [p.block_id for p in self.proposals] + [NIL]
        for i in self.chaos:  # prevote and precommit two blocks to two halves, at once
            a, b = self.rng.sample(ids, 2)
            for vtype in (PREVOTE, PRECOMMIT):
                va = self.signers[i](Vote(CHAIN, vtype, H, r, a, self.pubs[i], now))
                vb = self.signers[i](Vote(CHAIN, vtype, H, r, b, self.pubs[i], now))
                for j in self.machines:
                    if j != i and self.rng.random() >= self.drop:
                        self.push(now + self.delay(), "vote", j, (va if j % 2 else vb,))
        for k, p in enumerate(self.proposals):
            if k in self.proposed or not p.online:
                continue
            luckier = any(q.online and q.valid and q.luck < p.luck and self.proposals.index(q)
                          in self.proposed for q in self.proposals)
            if self.scatter_ms or should_propose(r, p.rank, luckier):
                self.proposed.add(k)
                for j in self.machines:
                    at = now + self.delay() + self.rng.randrange(self.scatter_ms + 1)
                    self.push(at, "proposal", j, (p.block_id, p.luck, p.valid))

    def agreed(self) -> bytes:
        ids = {self.decisions[i].block_id for i in self.honest if i in self.decisions}
        assert len(ids) <= 1, "two honest trustees decided different blocks"
        return ids.pop() if ids else NIL


def props(k: int, **overrides: dict[int, dict[str, bool]]) -> list[Proposal]:
    out = [Proposal(sha256(b"blk" + bytes([i])), (9, bytes([16 * (i + 1)]) * 32), i)
           for i in range(k)]
    for i, kw in overrides.get("set", {}).items():
        for name, val in kw.items():
            setattr(out[i], name, val)
    return out


def one_vote_per_round(net: Network) -> None:
    for i in net.honest:
        keys = [(x.round, x.vtype) for x in net.sent[i]]
        assert len(keys) == len(set(keys)), f"trustee {i} signed twice in one round"


def test_happy_path_four_trustees_decide_in_round0_with_a_valid_certificate() -> None:
    ps = props(3)
    net = Network(4, ps, real_keys=True)
    net.run()
    assert sorted(net.decisions) == [0, 1, 2, 3]
    assert net.agreed() == ps[0].block_id
    for d in net.decisions.values():
        cert = d.certificate
        assert (d.round, cert.height, cert.round, cert.block_id) == (0, H, 0, ps[0].block_id)
        assert len(cert.sigs) >= 3 and set(cert.signers) <= set(net.pubs)
        assert all(x.verify_sig() for x in cert.votes(CHAIN))
    one_vote_per_round(net)


def test_early_prevote_with_known_best_ticket_is_faster() -> None:
    slow, fast = Network(4, props(2)), Network(4, props(2), best_luck=True)
    slow.run()
    fast.run()
    assert slow.agreed() == fast.agreed() == props(1)[0].block_id
    t_slow = max(x.time_ms for votes in slow.sent.values() for x in votes)
    t_fast = max(x.time_ms for votes in fast.sent.values() for x in votes)
    assert t_fast < t_slow - 500


@pytest.mark.parametrize("n", [4, 7])
@pytest.mark.parametrize("seed", range(5))
def test_one_silent_trustee_honest_agree(n: int, seed: int) -> None:
    ps = props(3)
    net = Network(n, ps, seed=seed, silent=(seed % n,))
    net.run()
    assert sorted(net.decisions) == net.honest
    assert net.agreed() == ps[0].block_id
    one_vote_per_round(net)


def test_offline_winner_fails_over_to_next_luckiest_in_round1() -> None:
    ps = props(3, set={0: {"online": False}})
    net = Network(4, ps)
    net.run()
    assert net.agreed() == ps[1].block_id
    assert {d.round for d in net.decisions.values()} == {1}


def test_invalid_winner_is_skipped() -> None:
    ps = props(3, set={0: {"valid": False}})
    net = Network(7, ps, seed=3)
    net.run()
    assert net.agreed() == ps[1].block_id


def test_no_proposals_no_decision_rounds_keep_moving() -> None:
    net = Network(4, [])
    net.run(limit_ms=30_000)
    assert net.decisions == {}
    assert min(m.round for m in net.machines.values()) >= 3


@pytest.mark.parametrize("n", [4, 7])
@pytest.mark.parametrize("seed", range(8))
def test_equivocating_trustee_cannot_split_honest(n: int, seed: int) -> None:
    ps = props(2)
    net = Network(n, ps, seed=seed, equivocators=(seed % n,), max_delay=400)
    net.run(settle_ms=2_000)
    assert net.agreed() != NIL
    assert sorted(i for i in net.decisions if i in net.honest) == net.honest
    assert net.evidence, "the equivocation must be detected"
    culprit = net.pubs[seed % n]
    assert all(e.vote_a.trustee_pubkey == culprit for e in net.evidence)
    one_vote_per_round(net)


@pytest.mark.parametrize("seed", range(40))
def test_scattered_proposals_slow_links_and_equivocators_still_agree(seed: int) -> None:
    """Every sponsor proposes at once and blocks reach trustees at scattered times, with
    delays near the timeouts and f equivocators: votes split, rounds fail, locks form and
    move; honest trustees must still decide, and decide alike."""
    n = 4 if seed % 2 else 7
    ps = props(4)
    byz = (seed % n,) if n == 4 else (seed % n, (seed + 3) % n)
    net = Network(n, ps, seed=seed, max_delay=900, equivocators=byz, scatter_ms=2_500)
    net.run(limit_ms=2_000_000)
    assert net.agreed() != NIL
    assert sorted(i for i in net.decisions if i in net.honest) == net.honest
    one_vote_per_round(net)


def test_hundred_trustees_decide_alike_with_a_fake_signer() -> None:
    net = Network(100, props(2), seed=1, max_delay=30)
    net.run()
    assert len(net.decisions) == 100 and net.agreed() == props(1)[0].block_id
    assert net.events > 10_000


def fuzz_net(seed: int, drop: float) -> Network:
    """n in {4, 7, 10} with f Byzantine trustees, some equivocating around the honest
    machine, some voting two random blocks to two halves in every round ("chaos")."""
    n = (4, 7, 10)[seed % 3]
    byz = tuple((seed + 3 * k) % n for k in range(max_faulty(n)))
    eq = byz[: (len(byz) + seed % 2) // 2]
    chaos = tuple(b for b in byz if b not in eq)
    return Network(n, props(3), seed=seed, max_delay=(300, 900, 2000)[seed % 3],
                   equivocators=eq, chaos=chaos, scatter_ms=(0, 1000, 2500, 5000)[seed % 4],
                   drop=drop)


@pytest.mark.parametrize("seed", range(60))
def test_fuzz_safety_with_byzantine_trustees_and_message_loss(seed: int) -> None:
    net = fuzz_net(seed, drop=(0.2, 0.5)[seed % 2])
    net.run(limit_ms=3_000_000)
    net.agreed()  # raises on disagreement; with loss a decision is not guaranteed
    one_vote_per_round(net)


@pytest.mark.parametrize("seed", range(40))
def test_fuzz_liveness_with_byzantine_trustees_without_loss(seed: int) -> None:
    net = fuzz_net(seed, drop=0.0)
    net.run(limit_ms=3_000_000)
    assert net.agreed() != NIL
    assert sorted(i for i in net.decisions if i in net.honest) == net.honest


def test_laggard_decides_from_a_relayed_certificate() -> None:
    ps = props(2)
    net = Network(4, ps, real_keys=True)
    net.run()
    cert = net.decisions[0].certificate
    late = HeightState(CHAIN, H, PARENT, None, None, net.pubs, PARAMS, verify_sigs=True)
    eff: list[Effect] = []
    for x in cert.votes(CHAIN):
        eff += late.on_vote(x, 0)
    (d,) = [e for e in eff if isinstance(e, Decide)]
    assert d.block_id == ps[0].block_id and d.certificate.sigs == cert.sigs[:3]
