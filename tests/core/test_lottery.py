"""Consensus of luck (SPEC 3): hashes, work, throttle, diameter, lineup, lottery, retarget."""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import statistics
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daoli.core.crypto import pubkey_from_secret
from daoli.core.lottery import (
    ACCEPT_QUIET,
    ACCEPT_RELAY,
    MAX_DIFFICULTY,
    R_BAD_SIG,
    R_DUPLICATE,
    R_FUTURE,
    R_LATE,
    R_NO_TIP,
    R_NO_WORK,
    R_NOT_COMPUTATION_LUCKY,
    R_NOT_OPEN,
    R_OUTRANKED,
    R_WRONG_CHAIN,
    R_WRONG_DRAW,
    R_WRONG_HEIGHT,
    R_WRONG_PARENT,
    Draw,
    Lottery,
    check_payroll,
    check_ticket,
    communication_lucky,
    computation_lucky,
    draw_window,
    epoch_retarget,
    estimate_time_ties,
    lot,
    luck_key,
    max_kept,
    mine,
    pow_hash,
    pow_ok,
    retarget,
    seed,
    throttle,
    time_ties_estimate,
)
from daoli.core.params import ChainParams
from daoli.core.ticket import Ticket
from daoli.errors import ConfigError

CHAIN = "daoli-test"
G = 1_000_000  # genesis_time_ms
P = ChainParams(pow_difficulty=64)  # cheap work for signed tickets in tests
PARENT = hashlib.sha256(b"parent").digest()
SPONSOR = pubkey_from_secret(b"\x55" * 32)


def secret(i: int) -> bytes:
    return (i + 1).to_bytes(32, "big")


def start_of(cycle: int, params: ChainParams = P) -> int:
    return G + cycle * params.cycle_ms


def make_ticket(i: int, *, cycle: int = 0, time_ms: int | None = None, height: int = 1,
                parent: bytes = PARENT, params: ChainParams = P, nonce: int | None = None,
                chain: str = CHAIN) -> Ticket:
    """A signed ticket with valid work by miner ``i``."""
    sk = secret(i)
    pk = pubkey_from_secret(sk)
    if nonce is None:
        found = mine(seed(parent, cycle), pk, params.pow_target)
        assert found is not None
        nonce = found
    t = start_of(cycle, params) + 10 if time_ms is None else time_ms
    return Ticket(chain, height, cycle, parent, pk, SPONSOR, nonce, t).signed(sk)


def fake_ticket(pk: bytes, *, cycle: int = 0, time_ms: int | None = None, height: int = 1,
                parent: bytes = PARENT) -> Ticket:
    """An unsigned ticket for bulk tests that pass ``verified=True``."""
    t = start_of(cycle) + 10 if time_ms is None else time_ms
    return Ticket(CHAIN, height, cycle, parent, pk, SPONSOR, 0, t)


def new_draw(cycle: int = 0, params: ChainParams = P, parent: bytes = PARENT) -> Draw:
    return Draw(chain_id=CHAIN, height=1, parent_id=parent, cycle=cycle, params=params,
                genesis_time_ms=G)


def rand_pk(rng: random.Random) -> bytes:
    return b"\x02" + rng.randbytes(32)


# --------------------------------------------------------------------------- hashes


class TestHashes:
    def test_known_answers(self) -> None:
        pk = pubkey_from_secret(secret(0))
        assert pk.hex() == "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        s = seed(bytes(32), 1)
        assert s.hex() == "3b80c50bbb187dceda71b78ec33da73656a8d999245ebbb0c2c090eec26eaf94"
        assert pow_hash(s, pk, 7).hex() == (
            "22a30d9bf03fae7a72098343f232c8eb1f6acea05c2e1de53b21194b0c983145")
        assert lot(s, pk).hex() == (
            "34088f400d99f238b2f90a26cfa0c902d1a4f7b58af32e0bca69fa0694f1fc9c")

    def test_encodings_are_tagged_8_byte_big_endian(self) -> None:
        pk = pubkey_from_secret(secret(3))
        s = seed(PARENT, 258)
        assert s == hashlib.sha256(b"daoli/seed" + PARENT + b"\0\0\0\0\0\0\x01\x02").digest()
        assert pow_hash(s, pk, 5) == hashlib.sha256(
            b"daoli/pow" + s + pk + (5).to_bytes(8, "big")).digest()
        assert lot(s, pk) == hashlib.sha256(b"daoli/lot" + s + pk).digest()

    @given(st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1),
           st.integers(0, 2**64 - 1))
    def test_seed_separates_parents_and_cycles(self, parent: bytes, c1: int, c2: int) -> None:
        assert (seed(parent, c1) == seed(parent, c2)) == (c1 == c2)
        assert seed(parent, c1) != seed(bytes(a ^ 1 for a in parent), c1)

    def test_luck_key(self) -> None:
        t = make_ticket(1, cycle=3)
        assert luck_key(t) == (3, lot(seed(PARENT, 3), t.miner_pubkey))


class TestMine:
    def test_mine_finds_the_first_valid_nonce(self) -> None:
        s = seed(PARENT, 0)
        pk = pubkey_from_secret(secret(1))
        n = mine(s, pk, P.pow_target)
        assert n is not None and pow_ok(s, pk, n, P.pow_target)
        assert not any(pow_ok(s, pk, k, P.pow_target) for k in range(n))
        assert mine(s, pk, P.pow_target, start_nonce=n) == n
        nxt = mine(s, pk, P.pow_target, start_nonce=n + 1)
        assert nxt is not None and nxt > n

    def test_mine_gives_up(self) -> None:
        assert mine(seed(PARENT, 0), SPONSOR, target=1, max_tries=1_000) is None

    def test_difficulty_one_accepts_any_nonce(self) -> None:
        p1 = ChainParams(pow_difficulty=1)
        assert p1.pow_target == 1 << 256
        assert mine(seed(PARENT, 0), SPONSOR, p1.pow_target, start_nonce=42) == 42

    def test_work_rate_matches_difficulty(self) -> None:
        s = seed(PARENT, 9)
        pk = pubkey_from_secret(secret(2))
        hits = sum(pow_ok(s, pk, k, P.pow_target) for k in range(64 * 400))
        assert 300 < hits < 500  # expected 400 (one per 64 hashes)


# --------------------------------------------------------------------------- tickets


def chk(t: Ticket, **over: Any) -> str | None:
    kw: dict[str, Any] = {"chain_id": CHAIN, "parent_id": PARENT, "height": 1, "params": P}
    kw.update(over)
    return check_ticket(t, **kw)


class TestCheckTicket:
    def test_valid(self) -> None:
        t = make_ticket(1)
        assert chk(t) is None
        assert chk(t, genesis_time_ms=G, parent_cycle=-1) is None

    def test_wrong_context(self) -> None:
        t = make_ticket(1)
        assert chk(t, chain_id="other") == R_WRONG_CHAIN
        assert chk(t, height=2) == R_WRONG_HEIGHT
        assert chk(t, parent_id=bytes(32)) == R_WRONG_PARENT
        assert chk(t, parent_cycle=0) is not None

    def test_bad_signature_and_skip(self) -> None:
        t = replace(make_ticket(1), sponsor_pubkey=pubkey_from_secret(secret(9)))
        assert chk(t) == R_BAD_SIG
        assert chk(t, verify_sig=False) is None

    def test_insufficient_work(self) -> None:
        s = seed(PARENT, 0)
        pk = pubkey_from_secret(secret(1))
        bad = next(k for k in range(1_000) if not pow_ok(s, pk, k, P.pow_target))
        t = make_ticket(1, nonce=bad)
        assert chk(t) == R_NO_WORK
        # the retargeted difficulty is what counts
        hard = P.replace(pow_difficulty=2**40)
        assert chk(make_ticket(1), params=hard) == R_NO_WORK

    def test_time_window(self) -> None:
        s0 = start_of(0)
        late = make_ticket(1, time_ms=s0 + P.phi_ms + 1)
        early = make_ticket(1, time_ms=s0 - 1)
        edge = make_ticket(1, time_ms=s0 + P.phi_ms)
        for t in (late, early):
            assert chk(t, genesis_time_ms=G) == R_NOT_COMPUTATION_LUCKY
            assert chk(t) is None
        assert chk(edge, genesis_time_ms=G) is None


# --------------------------------------------------------------------------- throttle


class TestThrottle:
    def test_functions_exact_edges(self) -> None:
        s, phi, delta = 10_000, 300, 200
        assert not computation_lucky(s - 1, s, phi)
        assert computation_lucky(s, s, phi)
        assert computation_lucky(s + phi, s, phi)
        assert not computation_lucky(s + phi + 1, s, phi)
        assert communication_lucky(s + 50, s + 250, s, phi, delta)
        assert not communication_lucky(s + 50, s + 251, s, phi, delta)
        # the cap: a time stamped after the window still must arrive by start + phi + delta
        assert not communication_lucky(s + 450, s + 501, s, phi, delta)
        assert communication_lucky(s + 450, s + 500, s, phi, delta)
        assert throttle(s + phi, s + phi + delta, s, phi, delta) is None
        assert throttle(s + phi, s + phi + delta + 1, s, phi, delta) == R_LATE
        assert throttle(s + phi + 1, s + phi + 1, s, phi, delta) == R_NOT_COMPUTATION_LUCKY

    def test_draw_edges(self) -> None:
        d = new_draw(cycle=2)
        s, phi_end, deadline = draw_window(2, P, G)
        assert (d.start, d.phi_end, d.deadline) == (s, phi_end, deadline)
        rng = random.Random(1)

        def offer(time_ms: int, arrival: int) -> str | None:
            return d.offer(fake_ticket(rand_pk(rng), cycle=2, time_ms=time_ms), arrival,
                           verified=True).reason

        assert offer(s - 1, s) == R_NOT_COMPUTATION_LUCKY
        assert offer(s, s) is None
        assert offer(s, s + P.delta_ms) is None
        assert offer(s, s + P.delta_ms + 1) == R_LATE
        assert offer(phi_end, deadline) is None
        assert offer(phi_end, deadline + 1) == R_LATE
        assert offer(phi_end + 1, phi_end + 1) == R_NOT_COMPUTATION_LUCKY
        assert len(d) == 3

    def test_closed_and_computing(self) -> None:
        d = new_draw(cycle=1)
        assert not d.closed(d.deadline)
        assert d.closed(d.deadline + 1)
        assert d.computing(d.start) and d.computing(d.phi_end)
        assert not d.computing(d.start - 1) and not d.computing(d.phi_end + 1)

    def test_signed_ticket_checked_unless_verified(self) -> None:
        d = new_draw()
        good = make_ticket(1)
        forged = replace(make_ticket(2), time_ms=good.time_ms + 1)  # signature no longer fits
        assert d.offer(forged, good.time_ms + 5).reason == R_BAD_SIG
        assert d.offer(good, good.time_ms + 5) == ACCEPT_RELAY
        # a forgery cannot have blocked the real miner 2
        assert d.offer(make_ticket(2), good.time_ms + 5).accepted
        s = seed(PARENT, 0)
        pk3 = pubkey_from_secret(secret(3))
        bad = next(k for k in range(1_000) if not pow_ok(s, pk3, k, P.pow_target))
        assert d.offer(make_ticket(3, nonce=bad), good.time_ms + 5).reason == R_NO_WORK
        assert d.offer(make_ticket(3, nonce=bad), good.time_ms + 5, verified=True).accepted

    def test_routing_within_draw(self) -> None:
        d = new_draw(cycle=0)
        assert d.offer(make_ticket(1, cycle=1), start_of(1) + 20).reason == R_WRONG_DRAW
        assert d.offer(make_ticket(1, height=2), start_of(0) + 20).reason == R_WRONG_HEIGHT
        other = bytes(32)
        assert d.offer(make_ticket(1, parent=other), start_of(0) + 20).reason == R_WRONG_PARENT
        assert d.offer(make_ticket(1, chain="x"), start_of(0) + 20).reason == R_WRONG_CHAIN
        assert len(d) == 0


# --------------------------------------------------------------------------- luck, not work


class TestLuckNotWork:
    def test_more_nonces_same_lot_one_entry(self) -> None:
        d = new_draw()
        s = seed(PARENT, 0)
        pk = pubkey_from_secret(secret(7))
        nonces: list[int] = []
        n = 0
        while len(nonces) < 20:
            found = mine(s, pk, P.pow_target, start_nonce=n)
            assert found is not None
            nonces.append(found)
            n = found + 1
        tickets = [make_ticket(7, nonce=k) for k in nonces]
        assert {luck_key(t) for t in tickets} == {(0, lot(s, pk))}
        decisions = [d.offer(t, t.time_ms + 1) for t in tickets]
        assert decisions[0].accepted
        assert all(x.reason == R_DUPLICATE and not x.relay for x in decisions[1:])
        assert d.offer(make_ticket(8), start_of(0) + 11).accepted
        assert len(d) == 2
        assert sorted(t.miner_pubkey for t in d.time_ties()) == sorted(
            [pk, pubkey_from_secret(secret(8))])


# --------------------------------------------------------------------------- diameter


def expected_relays(n: int, d: int) -> float:
    """Exact expectation: record d-th order statistics in a random permutation."""
    return d + d * sum(1 / i for i in range(d + 1, n + 1))


class TestDiameter:
    def test_relays_bounded_by_diameter_log(self) -> None:
        n, d = 5_000, 16
        approx = d * (1 + math.log(n / d))
        assert 100 < approx < 110  # SPEC: about 108
        counts = []
        for s in range(5):
            rng = random.Random(s)
            draw = new_draw(params=P.replace(pow_difficulty=1))
            relays = 0
            for _ in range(n):
                dec = draw.offer(fake_ticket(rand_pk(rng)), start_of(0) + 20, verified=True)
                assert dec.accepted or dec.reason == R_OUTRANKED
                assert dec in (ACCEPT_RELAY, ACCEPT_QUIET) or not dec.relay
                relays += dec.relay
            assert draw.kept == draw.max_kept == max_kept(d) and len(draw) == n
            assert d <= relays < n
            counts.append(relays)
        mean = statistics.fmean(counts)
        assert abs(mean - approx) <= 0.2 * approx, counts
        assert abs(mean - expected_relays(n, d)) <= 0.2 * expected_relays(n, d)

    def test_first_diameter_always_relayed_then_only_luckier(self) -> None:
        rng = random.Random(3)
        draw = new_draw()
        tickets = [fake_ticket(rand_pk(rng)) for _ in range(200)]
        held: list[bytes] = []
        for i, t in enumerate(tickets):
            lt = draw.lot_of(t.miner_pubkey)
            dec = draw.offer(t, start_of(0) + 20, verified=True)
            should = i < draw.diameter or lt < sorted(held)[draw.diameter - 1]
            assert dec.relay == should
            held.append(lt)

    def test_relays_in_lot_order_reach_diameter_exactly(self) -> None:
        rng = random.Random(4)
        draw = new_draw()
        tickets = [fake_ticket(rand_pk(rng)) for _ in range(300)]
        tickets.sort(key=lambda t: draw.lot_of(t.miner_pubkey))
        relays = sum(draw.offer(t, start_of(0) + 20, verified=True).relay for t in tickets)
        assert relays == draw.diameter


# --------------------------------------------------------------------------- lineup, payroll


def full_draw(n: int = 20, cycle: int = 0) -> tuple[Draw, list[Ticket]]:
    d = new_draw(cycle=cycle)
    tickets = [make_ticket(i, cycle=cycle) for i in range(n)]
    for t in tickets:
        assert d.offer(t, t.time_ms + 1).accepted
    return d, tickets


class TestLineup:
    def test_ordering(self) -> None:
        d, tickets = full_draw()
        ties = d.time_ties()
        lots = [d.lot_of(t.miner_pubkey) for t in ties]
        assert lots == sorted(lots) and len(set(lots)) == len(lots)
        assert set(ties) == set(tickets)
        assert d.winner() == ties[0] == min(tickets, key=luck_key)
        assert d.lineup() == ties[1:P.diameter]
        assert len(d.lineup()) == P.diameter - 1
        assert d.lineup(max_len=3) == ties[1:4]
        assert d.lineup(max_len=100) == ties[1:P.diameter]
        assert d.lineup(max_len=0) == []
        # failover: the lineup of the runner-up starts after the runner-up
        assert d.lineup(after=ties[1]) == ties[2:P.diameter + 1]
        assert [lt for lt, _ in d.ranked()] == lots

    def test_empty(self) -> None:
        d = new_draw()
        assert d.winner() is None and d.time_ties() == [] and d.lineup() == []

    def test_winner_without_ranking_cache(self) -> None:
        d, tickets = full_draw(5)
        assert d.winner() == min(tickets, key=luck_key)


@pytest.fixture(scope="module")
def block() -> tuple[Ticket, list[Ticket], list[Ticket]]:
    """Winner, payroll and all time ties of one draw of 20 signed tickets."""
    d, _ = full_draw(20)
    w = d.winner()
    assert w is not None
    return w, d.lineup(), d.time_ties()


class TestCheckPayroll:

    def test_valid(self, block: tuple[Ticket, list[Ticket], list[Ticket]]) -> None:
        w, payroll, _ = block
        assert check_payroll(w, payroll, P, G) is None
        assert check_payroll(w, payroll[:3], P, G) is None
        assert check_payroll(w, [], P, G) is None
        assert check_payroll(w, payroll[::2], P, G) is None  # gaps cannot be judged
        assert check_payroll(w, payroll, P, G, chain_id=CHAIN, verify_sig=False) is None

    def test_rejections(self, block: tuple[Ticket, list[Ticket], list[Ticket]]) -> None:
        w, payroll, ties = block
        assert "diameter" in (check_payroll(w, ties[1:P.diameter + 1], P, G) or "")
        swapped = [payroll[1], payroll[0], *payroll[2:]]
        assert "increasing" in (check_payroll(w, swapped, P, G) or "")
        assert "twice" in (check_payroll(w, [payroll[0], payroll[0]], P, G) or "")
        assert check_payroll(ties[1], [w], P, G) is not None  # winner must be luckiest
        wi = next(i for i in range(20) if pubkey_from_secret(secret(i)) == w.miner_pubkey)
        again = mine(seed(PARENT, 0), w.miner_pubkey, P.pow_target, start_nonce=w.nonce + 1)
        same_key = make_ticket(wi, nonce=again)
        assert same_key.miner_pubkey == w.miner_pubkey and same_key != w
        assert check_payroll(w, [same_key], P, G) is not None
        assert check_payroll(w, payroll, P, G, chain_id="other") is not None
        other_cycle = make_ticket(30, cycle=1)
        assert "draw" in (check_payroll(w, [other_cycle], P, G) or "")
        other_parent = make_ticket(31, parent=bytes(32))
        assert check_payroll(w, [other_parent], P, G) is not None
        forged = replace(payroll[0], time_ms=payroll[0].time_ms + 1)
        assert "signature" in (check_payroll(w, [forged, *payroll[1:]], P, G) or "")
        outside = make_ticket(32, time_ms=start_of(0) + P.phi_ms + 1)
        assert "computation" in (check_payroll(w, [outside], P, G) or "")
        hard = P.replace(pow_difficulty=2**40)
        assert "work" in (check_payroll(w, payroll, hard, G) or "")


# --------------------------------------------------------------------------- lottery


def new_lottery(finalized_at: int = G, tip_cycle: int = -1) -> Lottery:
    lt = Lottery(chain_id=CHAIN, params=P, genesis_time_ms=G)
    lt.set_tip(0, PARENT, tip_cycle, finalized_at)
    return lt


class TestLottery:
    def test_no_tip(self) -> None:
        lt = Lottery(chain_id=CHAIN, params=P, genesis_time_ms=G)
        assert lt.offer(make_ticket(1), G + 20).reason == R_NO_TIP
        assert lt.draw(0) is None and lt.winner() is None

    def test_first_cycle(self) -> None:
        assert new_lottery(G, -1).first_cycle == 0
        assert new_lottery(start_of(5), 3).first_cycle == 5  # starting at that ms counts
        assert new_lottery(start_of(5) + 1, 3).first_cycle == 6
        assert new_lottery(start_of(2), 7).first_cycle == 8  # must be after the tip's cycle

    def test_routing(self) -> None:
        lt = new_lottery(start_of(3) + 400, tip_cycle=2)  # first draw: cycle 4
        s4 = start_of(4)
        assert lt.offer(make_ticket(1, cycle=3), start_of(3) + 450).reason == R_NOT_OPEN
        assert lt.offer(make_ticket(1, cycle=4, height=2), s4 + 20).reason == R_WRONG_HEIGHT
        t_other = make_ticket(1, cycle=4, parent=bytes(32))
        assert lt.offer(t_other, s4 + 20).reason == R_WRONG_PARENT
        assert lt.offer(make_ticket(1, cycle=4, chain="x"), s4 + 20).reason == R_WRONG_CHAIN
        assert lt.draws() == []
        assert lt.offer(make_ticket(1, cycle=4), s4 + 20) == ACCEPT_RELAY
        # a ticket for the next cycle from a clock a little ahead is kept ...
        early = make_ticket(2, cycle=5, time_ms=start_of(5))
        assert lt.offer(early, start_of(5) - 50).accepted
        # ... but not one two cycles ahead
        assert lt.offer(make_ticket(3, cycle=6), s4 + 20).reason == R_FUTURE
        # late tickets for a draw never seen do not create it
        assert lt.offer(make_ticket(4, cycle=7), start_of(8) + 600).reason == R_LATE
        assert [d.cycle for d in lt.draws()] == [4, 5]

    def test_luckiest_across_draws(self) -> None:
        lt = new_lottery()
        t0 = [make_ticket(i, cycle=0) for i in range(3)]
        t1 = [make_ticket(i, cycle=1) for i in range(3, 8)]
        for t in t1:  # later draw first, to show cycle order wins over arrival
            assert lt.offer(t, t.time_ms + 5).accepted
        assert lt.winner() == min(t1, key=luck_key)
        for t in t0:
            assert lt.offer(t, t.time_ms + 5).accepted
        ranked = sorted(t0 + t1, key=luck_key)
        assert lt.winner() == ranked[0] and ranked[0].cycle == 0
        assert lt.luckiest(4) == ranked[:4]
        assert lt.luckiest(100) == ranked
        # lineup stays within the winner's draw
        assert lt.lineup(ranked[0]) == ranked[1:3]
        assert lt.lineup(ranked[0], max_len=1) == ranked[1:2]
        assert lt.lineup(ranked[3]) == ranked[4:]
        assert lt.lineup(make_ticket(1, cycle=0, height=5)) == []

    def test_mining_draw_and_prune(self) -> None:
        lt = new_lottery()
        d = lt.mining_draw(start_of(2) + 100)
        assert d is not None and d.cycle == 2
        assert lt.mining_draw(start_of(2) + P.phi_ms + 1) is None
        assert lt.mining_draw(G - 5) is None
        t = make_ticket(1, cycle=3)
        assert lt.offer(t, t.time_ms + 1).accepted
        lt.prune(start_of(3) + 100)  # draw 2 closed and empty: gone; draw 3 has a ticket
        assert [x.cycle for x in lt.draws()] == [3]
        lt.prune(start_of(10))
        assert [x.cycle for x in lt.draws()] == [3]  # time ties kept across rounds

    def test_new_tip_resets(self) -> None:
        lt = new_lottery()
        t = make_ticket(1, cycle=0)
        assert lt.offer(t, t.time_ms + 1).accepted
        new_parent = hashlib.sha256(b"block 1").digest()
        lt.set_tip(1, new_parent, 0, start_of(1) + 900, params=P.replace(diameter=4))
        assert lt.height == 2 and lt.first_cycle == 2 and lt.draws() == []
        assert lt.offer(t, t.time_ms + 1).reason == R_WRONG_HEIGHT
        d = lt.draw(2)
        assert d is not None and d.diameter == 4 and d.seed == seed(new_parent, 2)


# --------------------------------------------------------------------------- bounded memory


class TestBoundedMemory:
    def test_max_kept(self) -> None:
        assert max_kept(1) == max_kept(16) == 64 and max_kept(17) == 68 and max_kept(100) == 400

    def test_flooded_draw_same_outcome_as_unbounded(self) -> None:
        """10,000 valid tickets: memory stays at max_kept; winner, lineup, failover order
        and every relay decision equal those of an unbounded draw (all lots, sorted)."""
        rng = random.Random(7)
        lt = new_lottery()
        d = lt.draw(0)
        assert d is not None and d.max_kept == 64 and d.diameter == 16
        top: list[int] = []  # max-heap (negated) of the unbounded draw's diameter luckiest
        offered: list[tuple[bytes, Ticket]] = []
        for i in range(10_000):
            t = fake_ticket(rand_pk(rng))
            lt_ = d.lot_of(t.miner_pubkey)
            v = int.from_bytes(lt_, "big")
            should_relay = len(top) < d.diameter or v < -top[0]
            if len(top) < d.diameter:
                heapq.heappush(top, -v)
            elif v < -top[0]:
                heapq.heapreplace(top, -v)
            dec = lt.offer(t, start_of(0) + 20, verified=True)
            assert dec.relay == should_relay, i
            assert dec.accepted or dec.reason == R_OUTRANKED
            if i < d.diameter:
                assert dec == ACCEPT_RELAY
            assert d.kept <= d.max_kept
            offered.append((lt_, t))
        offered.sort(key=lambda e: e[0])
        ref = [t for _, t in offered]
        assert d.kept == d.max_kept and len(d) == d.ties == 10_000
        assert d.winner() == lt.winner() == ref[0]
        assert d.lineup() == lt.lineup(ref[0]) == ref[1:d.diameter]
        assert d.time_ties() == ref[:d.max_kept]
        assert d.ranked() == offered[:d.max_kept]
        for r in range(d.max_kept):  # failover of round r: the r+1 luckiest
            assert lt.luckiest(r + 1) == ref[:r + 1]
            # the failover winner's full payroll while r <= max_kept - diameter; later a
            # (still valid) prefix of it
            assert lt.lineup(ref[r]) == ref[r + 1:min(r + d.diameter, d.max_kept)]
        # an evicted miner stays out (the worst kept lot only falls); kept ones are duplicates
        assert d.offer(ref[-1], start_of(0) + 20, verified=True).reason == R_OUTRANKED
        assert d.offer(ref[0], start_of(0) + 20, verified=True).reason == R_DUPLICATE
        assert d.offer(ref[d.max_kept], start_of(0) + 20, verified=True).reason == R_OUTRANKED
        assert len(d) == 10_002 and d.kept == d.max_kept

    def test_later_draws_out_of_reach(self) -> None:
        """Once earlier draws hold max_kept tickets, later draws can never supply one of the
        max_kept luckiest of the height: their tickets are refused and they are dropped."""
        rng = random.Random(8)
        lt = new_lottery()
        k = lt.max_kept
        early = [fake_ticket(rand_pk(rng), cycle=1, time_ms=start_of(1)) for _ in range(5)]
        for t in early:  # a clock a little ahead: cycle 1 is open during cycle 0
            assert lt.offer(t, start_of(0) + 20, verified=True).accepted
        zero = [fake_ticket(rand_pk(rng)) for _ in range(k - 1)]
        for t in zero:
            assert lt.offer(t, start_of(0) + 20, verified=True).accepted
        assert [x.cycle for x in lt.draws()] == [0, 1]
        ref = sorted(zero + early, key=luck_key)[:k]
        assert lt.luckiest(k) == ref
        last = fake_ticket(rand_pk(rng))
        assert lt.offer(last, start_of(0) + 20, verified=True).accepted
        assert [x.cycle for x in lt.draws()] == [0]  # draw 1 is out of reach now
        assert lt.luckiest(k) == sorted([*zero, last], key=luck_key)
        late = fake_ticket(rand_pk(rng), cycle=1, time_ms=start_of(1) + 5)
        assert lt.offer(late, start_of(1) + 10, verified=True).reason == R_OUTRANKED
        assert [x.cycle for x in lt.draws()] == [0]

    def test_peers_cannot_pile_up_empty_draws(self) -> None:
        lt = new_lottery()
        for c in range(200):
            bad = fake_ticket(rand_pk(random.Random(c)), cycle=c)
            assert not lt.offer(bad, start_of(c) + 20).accepted  # unsigned: a new empty draw
            assert len(lt.draws()) <= 2


# --------------------------------------------------------------------------- retarget


class TestRetarget:
    def test_steady(self) -> None:
        assert retarget(4_096, 16, 16) == 4_096

    def test_proportional_and_clamped(self) -> None:
        assert retarget(4_096, 24, 16) == 6_144
        assert retarget(4_096, 10, 16) == 2_560
        assert retarget(4_096, 1_000, 16) == 8_192
        assert retarget(4_096, 0, 16) == 2_048
        assert retarget(4_096, 4, 16) == 2_048
        assert retarget(1, 0, 16) == 1
        assert retarget(3, 0, 16) == 1
        assert retarget(4_096, 0, 16, min_difficulty=3_000) == 3_000
        assert retarget(MAX_DIFFICULTY - 5, 10**9, 16) == MAX_DIFFICULTY
        with pytest.raises(ConfigError):
            retarget(0, 16, 16)

    @given(st.integers(1, MAX_DIFFICULTY), st.integers(0, 10**7), st.integers(1, 1_024))
    def test_bounds_property(self, old: int, ties: int, d: int) -> None:
        new = retarget(old, ties, d)
        assert max(1, old // 2) <= new <= min(2 * old, MAX_DIFFICULTY)
        if ties > d:
            assert new >= old
        if ties < d:
            assert new <= old

    def test_estimate_exact_below_diameter(self) -> None:
        assert estimate_time_ties(5, b"\xff" * 32, 16) == 5
        assert estimate_time_ties(16, b"\xff" * 32, 16) == 16  # never below k

    @settings(deadline=None, max_examples=5)
    @given(st.integers(200, 3_000))
    def test_estimate_median_unbiased(self, n: int) -> None:
        rng = random.Random(n)
        d = 16
        ests = []
        for _ in range(201):
            lots = sorted(rng.randbytes(32) for _ in range(n))
            ests.append(estimate_time_ties(d, lots[d - 1], d))
        assert abs(statistics.median(ests) - n) <= 0.12 * n

    def test_block_estimate_and_epoch(self) -> None:
        d, _ = full_draw(20)
        w = d.winner()
        assert w is not None
        assert time_ties_estimate(w, d.lineup(max_len=5), 16) == 6
        full = d.lineup()
        assert time_ties_estimate(w, full, 16) == estimate_time_ties(
            16, d.lot_of(full[-1].miner_pubkey), 16)
        assert epoch_retarget(4_096, [], 16) == 4_096
        assert epoch_retarget(4_096, [(w, d.lineup(max_len=3))] * 3, 16) == 2_048

    def test_closed_loop_converges_to_diameter(self) -> None:
        """Miners who each find a ticket within phi with probability 1 - exp(-H/D)."""
        rng = random.Random(11)
        miners, hashes_in_phi, d, epoch = 400, 5_000, 16, 32
        difficulty = 64
        medians = []
        for _ in range(25):
            ests = []
            p = 1 - math.exp(-hashes_in_phi / difficulty)
            for _ in range(epoch):
                ties = sum(rng.random() < p for _ in range(miners))
                if ties == 0:
                    ests.append(0)
                    continue
                lots = sorted(rng.randbytes(32) for _ in range(ties))
                k = min(ties, d)
                ests.append(estimate_time_ties(k, lots[k - 1], d))
            medians.append(statistics.median(ests))
            difficulty = retarget(difficulty, int(statistics.median(ests)), d)
        # after settling, the median number of time ties hovers around the diameter
        assert all(d / 2 <= m <= 2 * d for m in medians[-5:]), medians
