"""Counters the simulator keeps while it runs, and the statistics the report shows."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def summary(values: list[int] | list[float]) -> dict[str, float]:
    """mean / median / min / max / count of a sample (zeros for an empty one)."""
    if not values:
        return {"count": 0, "mean": 0.0, "median": 0.0, "min": 0.0, "max": 0.0}
    s = sorted(values)
    n = len(s)
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return {"count": n, "mean": round(sum(s) / n, 3), "median": float(med),
            "min": float(s[0]), "max": float(s[-1])}


def histogram(values: list[int]) -> dict[str, int]:
    """Value -> count, keys as strings in numeric order (a stable JSON shape)."""
    c = Counter(values)
    return {str(k): c[k] for k in sorted(c)}


@dataclass
class Metrics:
    """Raw observations; :meth:`as_dict` is what goes into the report."""

    # safety: height -> set of block ids finalized there by honest nodes
    decided: dict[int, set[bytes]] = field(default_factory=dict)
    safety_violations: list[int] = field(default_factory=list)
    relays_per_draw: list[int] = field(default_factory=list)
    ties_per_draw: list[int] = field(default_factory=list)
    ties_by_epoch: dict[int, list[int]] = field(default_factory=dict)
    """The same observations keyed by the epoch of the height drawn for (0 = heights
    1..epoch_blocks): what retargeting is meant to move toward ``diameter``."""
    tickets_generated: int = 0
    ticket_msgs_sent: int = 0
    """Ticket deliveries, one per (ticket, neighbour); includes those skipped because the
    neighbour already held the ticket (they would have been duplicates)."""
    ticket_msgs_skipped: int = 0
    vote_msgs_sent: int = 0
    proposals: int = 0
    proposals_invalid: int = 0
    equivocation_evidence: int = 0
    evidence_txs: int = 0
    """Evidence transactions honest trustees created (at most one per culprit)."""
    syncs: int = 0
    synced_blocks: int = 0
    fetches: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    """Input the machines refused as a fault of the sender, by DropReason value."""

    def record_decision(self, height: int, block_id: bytes) -> None:
        ids = self.decided.setdefault(height, set())
        if block_id not in ids:
            ids.add(block_id)
            if len(ids) == 2:
                self.safety_violations.append(height)

    def as_dict(self) -> dict[str, Any]:
        return {
            "relayed_tickets_per_node_per_draw": summary(self.relays_per_draw),
            "time_ties_per_draw": summary(self.ties_per_draw),
            "tickets_generated": self.tickets_generated,
            "ticket_messages_sent": self.ticket_msgs_sent,
            "ticket_messages_skipped_as_duplicates": self.ticket_msgs_skipped,
            "vote_messages_sent": self.vote_msgs_sent,
            "proposals": self.proposals,
            "proposals_invalid": self.proposals_invalid,
            "equivocation_evidence": self.equivocation_evidence,
            "evidence_txs_created": self.evidence_txs,
            "syncs": self.syncs,
            "synced_blocks": self.synced_blocks,
            "block_fetches": self.fetches,
        }
