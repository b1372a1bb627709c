"""The decentralized clock (SPEC section 2): network-adjusted time and clock cycles.

Everything here is pure: callers hand in their local time (an ``int`` of milliseconds) and
get back decisions, so the node (wall clock) and the simulator (virtual clock) drive the very
same rules. Nothing here reads a clock.

Conventions, recorded in docs/protocol.md:

* A **median** of an even number of integers is the floor of the mean of the two middle
  values; integer arithmetic keeps two nodes with the same samples byte-identical.
* Cycle ``c`` spans ``[genesis_time_ms + c*cycle_ms, genesis_time_ms + (c+1)*cycle_ms)``.
  Times before genesis belong to no cycle: :func:`cycle_of` returns ``-1`` for all of them
  rather than raising, because a node whose clock runs before genesis is merely waiting.
* The genesis itself is treated as "cycle -1" wherever a parent cycle is needed, so the first
  block may record any cycle >= 0.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Sequence
from itertools import pairwise

from daoli.errors import ConfigError

DEFAULT_MAX_DRIFT_MS = 2_000
MIN_PEERS = 3
"""The adjusted clock moves only once this many distinct peers are counted (SPEC 2)."""
MAX_PEERS = 200
"""Peers remembered by :class:`AdjustedClock`; the least recently heard one is forgotten."""
GC_WINDOW = 11
"""``gc_cycle_ms`` looks at the last 11 block times, i.e. 10 gaps (SPEC 2)."""
GENESIS_CYCLE = -1
"""The cycle the genesis stands for when it is a block's parent."""


def median_int(values: Sequence[int]) -> int:
    """Median of a non-empty sequence, floor of the middle pair's mean for even lengths.

    An empty sequence is a caller bug, hence a plain ``ValueError``.
    """
    s = sorted(values)
    n = len(s)
    if n == 0:
        raise ValueError("median of an empty sequence")
    mid = n // 2
    if n % 2:
        return s[mid]
    return (s[mid - 1] + s[mid]) // 2


class AdjustedClock:
    """Local time plus the median offset of distinct peers' signed timestamps.

    Only the latest offset of each peer counts, so one chatty (or malicious) peer weighs as
    much as one quiet peer; an attacker needs to control half of the remembered peers to move
    the clock, and even then by at most ``max_drift_ms``. An observation whose offset exceeds
    ``max_drift_ms`` is ignored entirely and leaves that peer's previous sample untouched: a
    replayed old message (huge negative offset) must not be able to evict an honest sample.

    The offsets are kept in a sorted list next to the per-peer map, so ``observe`` costs a
    bisect and a short memmove and ``offset_ms`` is O(1): the simulator calls them per message.
    """

    __slots__ = ("_by_peer", "_max_drift", "_max_peers", "_min_peers", "_offset", "_sorted")

    def __init__(self, max_drift_ms: int = DEFAULT_MAX_DRIFT_MS, *,
                 max_peers: int = MAX_PEERS, min_peers: int = MIN_PEERS) -> None:
        if max_drift_ms < 0 or max_peers < 1 or min_peers < 1:
            raise ConfigError("max_drift_ms >= 0, max_peers >= 1 and min_peers >= 1 required")
        self._max_drift = max_drift_ms
        self._max_peers = max_peers
        self._min_peers = min_peers
        self._by_peer: OrderedDict[bytes, int] = OrderedDict()
        self._sorted: list[int] = []
        self._offset = 0
        """The median, recomputed when a sample changes: read far more often than written."""

    def observe(self, peer: bytes, msg_time_ms: int, local_now_ms: int) -> None:
        """Record that ``peer`` signed ``msg_time_ms`` and it reached us at ``local_now_ms``.

        ``peer`` is the key that signed the message (not the relaying connection), so a
        relayed message still counts for its author, and only once.
        """
        offset = msg_time_ms - local_now_ms
        if offset > self._max_drift or -offset > self._max_drift:
            return
        by_peer = self._by_peer
        srt = self._sorted
        old = by_peer.get(peer)
        if old is not None:
            del srt[bisect_left(srt, old)]
            by_peer.move_to_end(peer)
        elif len(by_peer) >= self._max_peers:
            _, evicted = by_peer.popitem(last=False)
            del srt[bisect_left(srt, evicted)]
        by_peer[peer] = offset
        insort(srt, offset)
        self._offset = self._median()

    def forget(self, peer: bytes) -> None:
        """Drop a peer's sample (e.g. a banned peer)."""
        old = self._by_peer.pop(peer, None)
        if old is not None:
            del self._sorted[bisect_left(self._sorted, old)]
            self._offset = self._median()

    @property
    def peer_count(self) -> int:
        return len(self._by_peer)

    def offset_ms(self) -> int:
        """The median offset, or 0 while fewer than ``min_peers`` distinct peers are counted."""
        return self._offset

    def _median(self) -> int:
        srt = self._sorted
        n = len(srt)
        if n < self._min_peers:
            return 0
        mid = n // 2
        if n % 2:
            return srt[mid]
        return (srt[mid - 1] + srt[mid]) // 2

    def now(self, local_now_ms: int) -> int:
        """Network-adjusted time for a given local time."""
        return local_now_ms + self._offset


def cycle_of(t_ms: int, genesis_time_ms: int, cycle_ms: int) -> int:
    """The clock cycle containing adjusted time ``t_ms``; ``-1`` for any time before genesis."""
    if t_ms < genesis_time_ms:
        return -1
    return (t_ms - genesis_time_ms) // cycle_ms


def cycle_start(cycle: int, genesis_time_ms: int, cycle_ms: int) -> int:
    """Adjusted time at which ``cycle`` begins (its draw opens)."""
    return genesis_time_ms + cycle * cycle_ms


def first_cycle_starting_at_or_after(t_ms: int, genesis_time_ms: int, cycle_ms: int) -> int:
    """Smallest cycle whose start is >= ``t_ms`` (0 for any time up to genesis)."""
    if t_ms <= genesis_time_ms:
        return 0
    return -((genesis_time_ms - t_ms) // cycle_ms)


def check_header_time(cycle: int, time_ms: int, parent_cycle: int | None,
                      parent_time_ms: int | None, adjusted_now_ms: int,
                      max_drift_ms: int) -> str | None:
    """SPEC 2's header time rules; the reason the header breaks one, or ``None`` if it is fine.

    A ``None`` parent cycle/time means the parent is the genesis: any cycle >= 0 and any
    time >= 0 then pass the monotonicity rules. The future rule depends on the local adjusted
    clock, so it is the only subjective part; a syncing node checking old blocks passes its
    current adjusted time, which every past header satisfies.
    """
    if cycle < 0:
        return "cycle is negative"
    if parent_cycle is not None and cycle <= parent_cycle:
        return f"cycle {cycle} is not after the parent's cycle {parent_cycle}"
    if parent_time_ms is not None and time_ms <= parent_time_ms:
        return f"time {time_ms} is not after the parent's time {parent_time_ms}"
    if time_ms > adjusted_now_ms + max_drift_ms:
        return f"time {time_ms} is more than {max_drift_ms} ms ahead of adjusted time"
    return None


def gc_cycle_ms(block_times: Sequence[int]) -> int | None:
    """The observed cycle: median gap between the last 11 block times (``None`` if < 2 blocks).

    ``block_times`` are the ``time_ms`` of consecutive blocks, oldest first; only the last
    ``GC_WINDOW`` are used, so a node reports the recent pace and not the chain's history.
    """
    tail = block_times[-GC_WINDOW:]
    if len(tail) < 2:
        return None
    return median_int([b - a for a, b in pairwise(tail)])


def empty_cycles(tip_cycle: int, now_cycle: int) -> int:
    """Whole cycles that ended after the tip's cycle without producing the next block.

    The cycle in progress is not counted: its draw may still yield the block.
    """
    return max(0, now_cycle - tip_cycle - 1)


def skipped_cycles(block_cycles: Sequence[int]) -> int:
    """Cycles without a block between consecutive recorded cycles (oldest first)."""
    return sum(max(0, b - a - 1) for a, b in pairwise(block_cycles))
