"""The node's Prometheus metrics, served at ``GET /metrics`` of the local API (docs/api.md).

Each :class:`NodeMetrics` owns its own ``CollectorRegistry`` instead of registering in
prometheus_client's process-wide default one: a test, a devnet or a benchmark may run several
nodes in one process, and the default registry refuses a second metric of the same name.
The node calls the small methods below from its trio loop; they are cheap (a lock and an
addition each), so nothing is batched.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from daoli.core.reasons import DropReason

OTHER_REASON = "other"
"""Label for a drop reason that is not a :class:`DropReason` value: labels stay a small, fixed
set however the node words a reason (unbounded label values would grow the registry forever)."""

ROUNDS_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32)
"""I-BFT rounds a height took: 1 is the happy path; more mean timeouts or failovers."""
APPLY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Seconds to check and store a finalized block: milliseconds when empty, up to seconds when
full (signature checks dominate)."""

METRIC_NAMES = (
    "daoli_height", "daoli_round", "daoli_peers", "daoli_mempool_txs",
    "daoli_rounds_per_height", "daoli_dropped_total", "daoli_txs_finalized_total",
    "daoli_block_apply_seconds", "daoli_blocks_finalized_total",
    "daoli_compact_proposals_total",
)
"""Every metric family this module exposes, as it appears in the text format."""


class NodeMetrics:
    """The metrics of one node, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._height = Gauge("daoli_height", "Height of the last finalized block.", registry=r)
        self._round = Gauge("daoli_round", "I-BFT round of the height being decided.",
                            registry=r)
        self._peers = Gauge("daoli_peers", "Connected libp2p peers.", registry=r)
        self._mempool = Gauge("daoli_mempool_txs", "Transactions in this node's mempool.",
                              registry=r)
        self._rounds = Histogram("daoli_rounds_per_height",
                                 "I-BFT rounds each finalized height took (1: first round).",
                                 buckets=ROUNDS_BUCKETS, registry=r)
        self._dropped = Counter("daoli_dropped", "Input dropped, by DropReason value.",
                                ["reason"], registry=r)
        self._txs = Counter("daoli_txs_finalized", "Transactions in finalized blocks.",
                            registry=r)
        self._apply = Histogram("daoli_block_apply_seconds",
                                "Seconds to check and store one finalized block.",
                                buckets=APPLY_BUCKETS, registry=r)
        self._blocks = Counter("daoli_blocks_finalized", "Blocks finalized by this node.",
                               registry=r)
        self._compact = Counter("daoli_compact_proposals",
                                "Compact proposals received, by whether the mempool held "
                                "every transaction (rebuilt) or the block was fetched.",
                                ["outcome"], registry=r)
        for outcome in ("rebuilt", "fetched"):
            self._compact.labels(outcome=outcome)
        self._reasons = frozenset(reason.value for reason in DropReason)
        # Every known reason shows from the start at 0, so rate() works from the first drop.
        for reason in sorted(self._reasons | {OTHER_REASON}):
            self._dropped.labels(reason=reason)

    def set_height(self, height: int) -> None:
        self._height.set(height)

    def set_round(self, round_: int) -> None:
        self._round.set(round_)

    def set_peers(self, n: int) -> None:
        self._peers.set(n)

    def set_mempool(self, n: int) -> None:
        self._mempool.set(n)

    def observe_rounds(self, n: int) -> None:
        """``n``: rounds the height just finalized took (its certificate's round + 1)."""
        self._rounds.observe(n)

    def dropped(self, reason: DropReason | str, n: int = 1) -> None:
        """Count ``n`` inputs dropped for ``reason`` (a DropReason or its value)."""
        value = reason.value if isinstance(reason, DropReason) else reason
        self._dropped.labels(reason=value if value in self._reasons else OTHER_REASON).inc(n)

    def txs_finalized(self, n: int) -> None:
        self._txs.inc(n)

    def block_applied(self, seconds: float) -> None:
        self._apply.observe(seconds)

    def compact_proposal(self, rebuilt: bool) -> None:
        self._compact.labels(outcome="rebuilt" if rebuilt else "fetched").inc()

    def block_finalized(self) -> None:
        self._blocks.inc()

    def render(self) -> tuple[bytes, str]:
        """(body, content type) of ``GET /metrics``: the classic 0.0.4 text format, which every
        Prometheus version scrapes."""
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


__all__ = ["METRIC_NAMES", "NodeMetrics"]
