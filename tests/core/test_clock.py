"""The decentralized clock (SPEC 2): adjusted time, cycles, header time rules."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daoli.core.clock import (
    MAX_PEERS,
    AdjustedClock,
    check_header_time,
    cycle_of,
    cycle_start,
    empty_cycles,
    first_cycle_starting_at_or_after,
    gc_cycle_ms,
    median_int,
    skipped_cycles,
)
from daoli.errors import ConfigError


def peer(i: int) -> bytes:
    return i.to_bytes(4, "big")


class TestAdjustedClock:
    def test_no_peers_no_offset(self) -> None:
        c = AdjustedClock()
        assert c.offset_ms() == 0
        assert c.now(12_345) == 12_345

    def test_moves_only_with_three_distinct_peers(self) -> None:
        c = AdjustedClock()
        c.observe(peer(1), 1_500, 1_000)
        c.observe(peer(2), 1_500, 1_000)
        assert c.offset_ms() == 0  # two peers are not enough
        c.observe(peer(3), 1_500, 1_000)
        assert c.offset_ms() == 500
        assert c.now(10_000) == 10_500

    def test_same_peer_counts_once_latest_wins(self) -> None:
        c = AdjustedClock()
        for t in (1_100, 1_200, 1_300, 1_400):
            c.observe(peer(1), t, 1_000)
        assert c.peer_count == 1
        assert c.offset_ms() == 0
        c.observe(peer(2), 900, 1_000)
        c.observe(peer(3), 950, 1_000)
        # peer 1's latest offset is +400; offsets {400, -100, -50} -> median -50
        assert c.offset_ms() == -50

    def test_median_odd_and_even(self) -> None:
        c = AdjustedClock()
        for i, off in enumerate((10, -30, 50)):
            c.observe(peer(i), 1_000 + off, 1_000)
        assert c.offset_ms() == 10
        c.observe(peer(9), 1_020, 1_000)  # {-30, 10, 20, 50}: floor((10 + 20) / 2)
        assert c.offset_ms() == 15
        c.observe(peer(10), 1_000 - 31, 1_000)  # {-31, -30, 10, 20, 50}
        assert c.offset_ms() == 10

    def test_even_median_floors_negative(self) -> None:
        c = AdjustedClock()
        for i, off in enumerate((-3, -2, 0, 5)):
            c.observe(peer(i), 1_000 + off, 1_000)
        assert c.offset_ms() == -1  # floor((-2 + 0) / 2)
        c.forget(peer(3))
        c.forget(peer(2))
        c.observe(peer(5), 1_000 - 1, 1_000)  # {-3, -2, -1}
        assert c.offset_ms() == -2

    def test_drift_beyond_max_is_ignored(self) -> None:
        c = AdjustedClock(max_drift_ms=2_000)
        c.observe(peer(1), 3_001, 1_000)  # +2001: ignored
        c.observe(peer(2), -1_001, 1_000)  # -2001: ignored
        assert c.peer_count == 0
        c.observe(peer(3), 3_000, 1_000)  # exactly +2000 counts
        c.observe(peer(4), -1_000, 1_000)  # exactly -2000 counts
        c.observe(peer(5), 1_000, 1_000)
        assert c.peer_count == 3
        assert c.offset_ms() == 0

    def test_ignored_observation_keeps_previous_sample(self) -> None:
        c = AdjustedClock()
        for i in range(3):
            c.observe(peer(i), 1_100, 1_000)
        # a replayed old message from peer 0 must not evict its honest sample
        c.observe(peer(0), 1_000 - 60_000, 1_000)
        assert c.peer_count == 3
        assert c.offset_ms() == 100

    def test_bounded_peers_least_recent_forgotten(self) -> None:
        c = AdjustedClock(max_peers=5)
        for i in range(5):
            c.observe(peer(i), 1_000 + 1_000, 1_000)  # five peers at +1000
        c.observe(peer(0), 2_000, 1_000)  # refresh peer 0: now peer 1 is least recent
        for i in range(10, 13):
            c.observe(peer(i), 1_000 - 1_000, 1_000)  # three newcomers at -1000
        assert c.peer_count == 5
        # peers 1, 2, 3 were evicted: left are 4 (+1000), 0 (+1000) and three at -1000
        assert c.offset_ms() == -1_000
        assert MAX_PEERS == 200

    def test_bad_config(self) -> None:
        with pytest.raises(ConfigError):
            AdjustedClock(max_drift_ms=-1)
        with pytest.raises(ConfigError):
            AdjustedClock(max_peers=0)

    @given(st.lists(st.tuples(st.integers(0, 30), st.integers(-3_000, 3_000)), max_size=80))
    def test_matches_reference_median(self, obs: list[tuple[int, int]]) -> None:
        c = AdjustedClock(max_drift_ms=2_000, max_peers=20)
        latest: dict[int, int] = {}
        order: list[int] = []
        for p, off in obs:
            c.observe(peer(p), 50_000 + off, 50_000)
            if abs(off) > 2_000:
                continue
            if p in latest:
                order.remove(p)
            elif len(latest) >= 20:
                del latest[order.pop(0)]
            latest[p] = off
            order.append(p)
        expected = median_int(list(latest.values())) if len(latest) >= 3 else 0
        assert c.offset_ms() == expected
        assert c.peer_count == len(latest)
        assert abs(c.offset_ms()) <= 2_000

    def test_minority_cannot_move_clock(self) -> None:
        rng = random.Random(7)
        c = AdjustedClock()
        for i in range(60):  # honest peers within +-20 ms
            c.observe(peer(i), 10_000 + rng.randint(-20, 20), 10_000)
        for i in range(100, 159):  # 59 liars pushing +2000
            c.observe(peer(i), 12_000, 10_000)
        assert -20 <= c.offset_ms() <= 20


class TestCycles:
    def test_cycle_of_and_start(self) -> None:
        g, cm = 1_000_000, 1_000
        assert cycle_of(g, g, cm) == 0
        assert cycle_of(g + 999, g, cm) == 0
        assert cycle_of(g + 1_000, g, cm) == 1
        assert cycle_of(g - 1, g, cm) == -1
        assert cycle_of(0, g, cm) == -1
        assert cycle_start(0, g, cm) == g
        assert cycle_start(7, g, cm) == g + 7_000

    @given(st.integers(0, 10**12), st.integers(0, 10**12), st.integers(1, 10**6))
    def test_cycle_roundtrip(self, g: int, dt: int, cm: int) -> None:
        c = cycle_of(g + dt, g, cm)
        assert cycle_start(c, g, cm) <= g + dt < cycle_start(c + 1, g, cm)

    def test_first_cycle_starting_at_or_after(self) -> None:
        g, cm = 5_000, 1_000
        assert first_cycle_starting_at_or_after(0, g, cm) == 0
        assert first_cycle_starting_at_or_after(g, g, cm) == 0
        assert first_cycle_starting_at_or_after(g + 1, g, cm) == 1
        assert first_cycle_starting_at_or_after(g + 1_000, g, cm) == 1
        assert first_cycle_starting_at_or_after(g + 1_001, g, cm) == 2


class TestHeaderTime:
    def test_ok(self) -> None:
        assert check_header_time(5, 10_000, 4, 9_000, 9_500, 2_000) is None
        assert check_header_time(0, 1, None, None, 0, 2_000) is None

    def test_cycle_must_increase(self) -> None:
        assert check_header_time(4, 10_000, 4, 9_000, 10_000, 2_000) is not None
        assert check_header_time(3, 10_000, 4, 9_000, 10_000, 2_000) is not None
        assert check_header_time(-1, 10_000, None, None, 10_000, 2_000) is not None

    def test_time_must_increase(self) -> None:
        assert check_header_time(5, 9_000, 4, 9_000, 10_000, 2_000) is not None
        assert check_header_time(5, 9_001, 4, 9_000, 10_000, 2_000) is None

    def test_future_edge(self) -> None:
        assert check_header_time(5, 12_000, 4, 9_000, 10_000, 2_000) is None
        reason = check_header_time(5, 12_001, 4, 9_000, 10_000, 2_000)
        assert reason is not None and "ahead" in reason


class TestStats:
    def test_gc_cycle_ms(self) -> None:
        assert gc_cycle_ms([]) is None
        assert gc_cycle_ms([5]) is None
        assert gc_cycle_ms([0, 1_000]) == 1_000
        assert gc_cycle_ms([0, 1_000, 3_000, 4_000]) == 1_000
        # only the last 11 times (10 gaps) count: an old huge gap is forgotten
        times = [0, 1_000_000] + [1_000_000 + 2_000 * i for i in range(1, 11)]
        assert gc_cycle_ms(times) == 2_000
        # even number of gaps: floor of the middle pair's mean
        assert gc_cycle_ms([0, 1_000, 2_000, 4_001, 7_000]) == 1_500

    def test_empty_cycles(self) -> None:
        assert empty_cycles(5, 5) == 0
        assert empty_cycles(5, 6) == 0
        assert empty_cycles(5, 9) == 3
        assert empty_cycles(-1, 0) == 0
        assert skipped_cycles([1, 2, 5, 6, 10]) == 5
        assert skipped_cycles([3]) == 0

    def test_median_int(self) -> None:
        assert median_int([3]) == 3
        assert median_int([3, 1, 2]) == 2
        assert median_int([1, 4]) == 2
        with pytest.raises(ValueError):
            median_int([])
