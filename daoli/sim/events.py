"""The discrete-event queue: one heap of ``(time_ms, seq, fn, a, b)`` tuples.

Events are plain tuples rather than objects because the simulator pushes millions of them;
``seq`` is a strictly increasing counter, so two events at the same time run in the order
they were scheduled and the heap never has to compare the callables (determinism does not
depend on object identity or hash order). Time is simulated milliseconds as a float;
nothing here sleeps.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

Handler = Callable[[Any, Any], None]


class EventQueue:
    """A deterministic scheduler of callbacks at simulated times."""

    __slots__ = ("_heap", "_seq", "events_run", "now")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Handler, Any, Any]] = []
        self._seq = 0
        self.now = 0.0
        self.events_run = 0

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, time_ms: float, fn: Handler, a: Any = None, b: Any = None) -> None:
        """Run ``fn(a, b)`` at simulated ``time_ms`` (never earlier than now)."""
        self._seq += 1
        heapq.heappush(self._heap, (time_ms if time_ms > self.now else self.now,
                                    self._seq, fn, a, b))

    def after(self, delay_ms: float, fn: Handler, a: Any = None, b: Any = None) -> None:
        self.at(self.now + delay_ms, fn, a, b)

    def run_until(self, end_ms: float, stop: Callable[[], bool] | None = None,
                  check_every: int = 4096) -> None:
        """Run events up to ``end_ms`` (inclusive), or until ``stop()`` returns True.

        ``stop`` is polled every ``check_every`` events, which keeps the hot loop cheap; the
        bound on simulated time is what guarantees termination.
        """
        heap = self._heap
        pop = heapq.heappop
        n = 0
        while heap:
            item = heap[0]
            if item[0] > end_ms:
                break
            pop(heap)
            self.now = item[0]
            item[2](item[3], item[4])
            n += 1
            if stop is not None and n % check_every == 0 and stop():
                break
        self.events_run += n
