"""The transaction workload (``--tx-rate``): transfers among funded genesis accounts.

A Poisson stream of ``rate`` transfers per simulated second, each from a random account of
the pool to a random account (itself possibly), submitted to a random non-silent node's
mempool and gossiped from there to every other node's. Signatures are deterministic 64-byte
stand-ins (the simulator verifies none); the workload keeps each sender's next nonce, as a
wallet does, so a sender's transactions can reach a node out of order (gossip reorders
them) but never with a nonce used twice.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING, Any

from daoli.core.params import LI_PER_DLC
from daoli.core.tx import Transaction, Transfer

if TYPE_CHECKING:
    from daoli.sim.runner import World

ACCOUNT_FUNDS = 10_000 * LI_PER_DLC
"""Genesis balance of every workload account: thousands of transfers' worth."""

MAX_AMOUNT = LI_PER_DLC
"""A transfer moves between 1 li and 1 DLC: accounts never run dry in a run."""


class TxWorkload:
    """Generates the transfers and remembers when each was submitted (for latencies)."""

    def __init__(self, world: World, rate_per_s: float, pubkeys: list[bytes],
                 addresses: list[bytes]) -> None:
        self.w = world
        self.mean_gap_ms = 1000.0 / rate_per_s
        self.pubkeys = pubkeys
        self.addresses = addresses
        self.nonces = [0] * len(pubkeys)
        self.rng = random.Random(world.sub_seed("txs"))
        self.submitted_at: dict[bytes, float] = {}
        """tx id -> simulated time it reached its first node."""
        self.submitted: list[Transaction] = []
        self._sig_prefix = f"daoli/sim/tx-sig/{world.seed}/".encode()

    def start(self, at_ms: float) -> None:
        self.w.q.at(at_ms + self.rng.expovariate(1.0 / self.mean_gap_ms), self.on_tick)

    def on_tick(self, _a: Any, _b: Any) -> None:
        w = self.w
        rng = self.rng
        if w.active:
            k = len(self.submitted)
            i = rng.randrange(len(self.pubkeys))
            to = self.addresses[rng.randrange(len(self.addresses))]
            fee = w.params.min_fee + rng.randrange(w.params.min_fee + 1)
            sig = hashlib.sha512(self._sig_prefix + str(k).encode()).digest()
            tx = Transaction(w.chain_id, self.pubkeys[i], self.nonces[i], fee,
                             Transfer(to, rng.randrange(1, MAX_AMOUNT + 1)), sig)
            self.nonces[i] += 1
            node = w.active[rng.randrange(len(w.active))]
            self.submitted.append(tx)
            self.submitted_at[tx.id] = w.q.now
            node.on_tx(tx, None)
            w.gossip_tx(node, tx)
        w.q.after(rng.expovariate(1.0 / self.mean_gap_ms), self.on_tick)


__all__ = ["ACCOUNT_FUNDS", "TxWorkload"]
