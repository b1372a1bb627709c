"""The simulated network: latency, jitter, loss, partitions, clock skew and the overlay.

All randomness comes from ``random.Random`` instances seeded from the run's seed, one per
purpose, so changing (say) the loss rate does not reshuffle the overlay or the skews.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from daoli.errors import ConfigError

LATENCY_KINDS = ("fixed", "uniform", "normal", "lognormal")
MIN_LATENCY_MS = 0.05
"""A message never arrives in zero time: keeps causality strict in the event order."""


def sub_seed(seed: int, name: str) -> int:
    """A per-component seed: the run's seed and a component name, mixed by ``random``'s
    own string seeding (deterministic across runs and platforms for str/int inputs)."""
    return random.Random(f"{seed}/{name}").getrandbits(64)


@dataclass(frozen=True)
class Partition:
    """From ``start_ms`` to ``end_ms`` the nodes are split into ``groups`` groups that cannot
    talk to each other (messages sent across groups in that window are lost)."""

    start_ms: int
    end_ms: int
    groups: int

    @classmethod
    def parse(cls, text: str) -> Partition:
        """``START_MS:END_MS:GROUPS``, e.g. ``5000:15000:2``."""
        parts = text.split(":")
        if len(parts) != 3:
            raise ConfigError(f"partition {text!r}: expected START_MS:END_MS:GROUPS")
        try:
            start, end, groups = (int(p) for p in parts)
        except ValueError:
            raise ConfigError(f"partition {text!r}: expected three integers") from None
        if start < 0 or end <= start or groups < 2:
            raise ConfigError(f"partition {text!r}: need 0 <= START < END and GROUPS >= 2")
        return cls(start, end, groups)


class LatencyModel:
    """One-way message delay in ms: ``base`` plus jitter shaped by the chosen distribution.

    * ``fixed``: exactly ``latency_ms`` (jitter ignored);
    * ``uniform``: uniform in ``[latency_ms - jitter, latency_ms + jitter]``;
    * ``normal``: Gaussian with mean ``latency_ms`` and deviation ``jitter``;
    * ``lognormal``: log-normal with median ``latency_ms`` and a shape such that the
      deviation is about ``jitter`` (heavy right tail, like real WANs).

    Every sample is clamped to at least ``MIN_LATENCY_MS``.
    """

    __slots__ = ("_mu", "_sigma", "jitter", "kind", "latency", "rng", "sample")

    def __init__(self, kind: str, latency_ms: float, jitter_ms: float, rng: random.Random) -> None:
        if kind not in LATENCY_KINDS:
            raise ConfigError(f"latency {kind!r}: choose one of {', '.join(LATENCY_KINDS)}")
        if latency_ms < 0 or jitter_ms < 0:
            raise ConfigError("latency and jitter must be non-negative")
        self.kind = kind
        self.latency = float(latency_ms)
        self.jitter = float(jitter_ms)
        self.rng = rng
        self._mu = math.log(max(self.latency, MIN_LATENCY_MS))
        self._sigma = 0.0
        if kind == "lognormal" and self.latency > 0:
            # sd of a lognormal with median m and shape s: m*sqrt(e^{s^2}(e^{s^2}-1)); solve
            # roughly with s = jitter/latency for small ratios (good enough for a model).
            self._sigma = min(self.jitter / max(self.latency, MIN_LATENCY_MS), 3.0)
        self.sample = {
            "fixed": self._fixed, "uniform": self._uniform, "normal": self._normal,
            "lognormal": self._lognormal,
        }[kind]

    def _fixed(self) -> float:
        return max(self.latency, MIN_LATENCY_MS)

    def _uniform(self) -> float:
        v = self.latency + (self.rng.random() * 2.0 - 1.0) * self.jitter
        return v if v > MIN_LATENCY_MS else MIN_LATENCY_MS

    def _normal(self) -> float:
        v = self.rng.gauss(self.latency, self.jitter)
        return v if v > MIN_LATENCY_MS else MIN_LATENCY_MS

    def _lognormal(self) -> float:
        v = math.exp(self._mu + self._sigma * self.rng.gauss(0.0, 1.0))
        return v if v > MIN_LATENCY_MS else MIN_LATENCY_MS


def build_overlay(n: int, degree: int, rng: random.Random) -> list[list[int]]:
    """A sparse, connected, undirected random overlay (like a GossipSub mesh).

    A random Hamiltonian cycle guarantees connectivity; random extra edges then bring every
    node up to about ``degree`` neighbours. Neighbour lists are sorted (deterministic order).
    """
    if n <= 1:
        return [[] for _ in range(n)]
    if degree >= n - 1:
        return [[j for j in range(n) if j != i] for i in range(n)]
    adj: list[set[int]] = [set() for _ in range(n)]
    order = list(range(n))
    rng.shuffle(order)
    for k in range(n):
        a, b = order[k], order[(k + 1) % n]
        if a != b:
            adj[a].add(b)
            adj[b].add(a)
    for i in range(n):
        tries = 0
        while len(adj[i]) < degree and tries < 10 * n:
            tries += 1
            j = rng.randrange(n)
            if j == i or j in adj[i] or len(adj[j]) >= degree + 2:
                continue
            adj[i].add(j)
            adj[j].add(i)
    return [sorted(s) for s in adj]


def partition_groups(n: int, groups: int, rng: random.Random) -> list[int]:
    """Group index of each node: a seeded shuffle cut into ``groups`` near-equal parts."""
    order = list(range(n))
    rng.shuffle(order)
    group = [0] * n
    for rank, node in enumerate(order):
        group[node] = rank * groups // n
    return group


class Network:
    """Delays and drops between node indices; knows partitions and the gossip overlay."""

    def __init__(self, n: int, *, seed: int, latency: str = "uniform", latency_ms: float = 50.0,
                 jitter_ms: float = 20.0, loss: float = 0.0,
                 partitions: Sequence[Partition] = (), degree: int = 8) -> None:
        if not 0.0 <= loss < 1.0:
            raise ConfigError("loss must be in [0, 1)")
        self.n = n
        self.loss = loss
        self.latency = LatencyModel(latency, latency_ms, jitter_ms,
                                    random.Random(sub_seed(seed, "latency")))
        self._loss_rng = random.Random(sub_seed(seed, "loss"))
        self.overlay = build_overlay(n, degree, random.Random(sub_seed(seed, "overlay")))
        prng = random.Random(sub_seed(seed, "partitions"))
        self.partitions = [(p.start_ms, p.end_ms, partition_groups(n, p.groups, prng))
                           for p in sorted(partitions, key=lambda p: (p.start_ms, p.end_ms))]
        self.sent = 0
        self.lost = 0

    def cut(self, a: int, b: int, t_ms: float) -> bool:
        """True if a partition separates ``a`` and ``b`` at time ``t_ms``."""
        for start, end, group in self.partitions:
            if start <= t_ms < end and group[a] != group[b]:
                return True
        return False

    def delay(self, a: int, b: int, t_ms: float) -> float | None:
        """The delay of one message from ``a`` to ``b`` sent at ``t_ms``, or None if lost."""
        self.sent += 1
        if self.partitions and self.cut(a, b, t_ms):
            self.lost += 1
            return None
        if self.loss and self._loss_rng.random() < self.loss:
            self.lost += 1
            return None
        return self.latency.sample()

    def partitioned_at(self, t_ms: float) -> bool:
        return any(start <= t_ms < end for start, end, _ in self.partitions)

    def last_heal_ms(self) -> int:
        return max((end for _, end, _ in self.partitions), default=0)


class ShapedNetwork(Network):
    """A network shaped per sender, as a devnet manifest shapes it: a message from node
    ``a`` takes ``a``'s own delay (``latency_ms`` and ``jitter_ms`` in the chosen latency
    model) and is lost with ``a``'s own ``loss``, which is what a node's shaping does to
    what it sends. Partitions are switched on and off while the run goes (a manifest's
    fault schedule counts from the first finalized block, known only then), and a node
    that is down (killed or paused) sends nothing.

    ``latency`` (the model every point-to-point exchange without a sender of its own
    samples: a block fetch, a sync request and its reply) has the nodes' mean latency and
    jitter. A subclass, so the plain :class:`Network`'s hot path (and every existing run's
    random draws) stays exactly as it was.
    """

    def __init__(self, shapes: Sequence[tuple[float, float, float]], *, seed: int,
                 latency: str = "uniform", degree: int = 8) -> None:
        n = len(shapes)
        if n == 0:
            raise ConfigError("a shaped network needs at least one node")
        super().__init__(n, seed=seed, latency=latency,
                         latency_ms=sum(s[0] for s in shapes) / n,
                         jitter_ms=sum(s[1] for s in shapes) / n, loss=0.0, degree=degree)
        for i, (lat, jit, loss) in enumerate(shapes):
            if lat < 0.0 or jit < 0.0 or not 0.0 <= loss <= 1.0:
                raise ConfigError(f"node {i}: latency and jitter must be non-negative and "
                                  "loss from 0 to 1")
        self.senders = [LatencyModel(latency, lat, jit,
                                     random.Random(sub_seed(seed, f"latency/{i}")))
                        for i, (lat, jit, _) in enumerate(shapes)]
        self.node_loss = [loss for _, _, loss in shapes]
        self.groups: list[int] | None = None
        """Group of each node while a partition holds (None: none holds)."""
        self.down = [False] * n

    def partition(self, groups: Sequence[int]) -> None:
        """Split the nodes: from now on only nodes of one group reach each other."""
        if len(groups) != self.n:
            raise ConfigError(f"a partition needs the group of each of the {self.n} nodes")
        self.groups = list(groups)

    def heal(self) -> None:
        self.groups = None

    def cut(self, a: int, b: int, t_ms: float) -> bool:
        g = self.groups
        return g is not None and g[a] != g[b]

    def delay(self, a: int, b: int, t_ms: float) -> float | None:
        self.sent += 1
        g = self.groups
        if self.down[a] or (g is not None and g[a] != g[b]):
            self.lost += 1
            return None
        loss = self.node_loss[a]
        if loss and self._loss_rng.random() < loss:
            self.lost += 1
            return None
        return self.senders[a].sample()

    def partitioned_at(self, t_ms: float) -> bool:
        """Whether a partition holds now (``t_ms`` is ignored: partitions here are live)."""
        return self.groups is not None
