"""``SimConfig -> SimReport``: build a simulated network of trustees and miners, run it.

Determinism: every random choice comes from a ``random.Random`` seeded by
:func:`sub_seed` (the run's seed and a component name), the event queue breaks time ties by
scheduling order, and dicts and sets are only iterated in a deterministic order. Two runs
with the same config produce the same report, byte for byte, except ``wall_seconds``.

The simulator skips ECDSA (see :mod:`daoli.sim.nodes`); everything else -- lottery,
throttle, clocks, I-BFT, block building and checking, the ledger -- is the core code.
"""

from __future__ import annotations

import gc
import hashlib
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from daoli.core.address import address_bytes_of
from daoli.core.block import Block
from daoli.core.clock import median_int
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.lottery import Draw, mine, time_ties_estimate
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.core.rewards import split_subsidy
from daoli.core.ticket import Ticket
from daoli.core.tx import Evidence, Transaction
from daoli.core.vote import Vote
from daoli.errors import ConfigError
from daoli.machine.byzantine import machine_class
from daoli.machine.effects import DrawClosed, SetTimer
from daoli.machine.ports import TrustingVerifier
from daoli.sim.behaviours import (
    BEHAVIOURS,
    HONEST,
)
from daoli.sim.events import EventQueue
from daoli.sim.metrics import Metrics, histogram, summary
from daoli.sim.network import (
    LATENCY_KINDS,
    LatencyModel,
    Network,
    Partition,
    ShapedNetwork,
    sub_seed,
)
from daoli.sim.nodes import ChainEntry, LedgerHub, SimNode, SimSigner, sim_signature
from daoli.sim.workload import ACCOUNT_FUNDS, TxWorkload

GENESIS_TIME_MS = 1_000
"""Simulated time 0 is one second before genesis, so skewed clocks all start before it."""

TRUSTEE_FUNDS = 10 * LI_PER_DLC
"""Genesis balance of every trustee: fees for the evidence it may have to report before it
has earned anything (10,000 minimum fees)."""

PAYLOAD_MARGIN = 64 * 1024
"""Bytes of ``max_block_bytes`` a proposer keeps out of the mempool's selection for the
header, payroll and certificate (``build_block`` enforces the exact budget anyway)."""


@cache
def sim_key(role: str, index: int) -> tuple[bytes, bytes]:
    """A real secp256k1 key pair for a simulated participant, the same in every run.

    Lots are hashes of public keys, so keys must be real points; generating 10,000 of them
    costs about half a second, hence the cache across runs in one process (a pure function
    memoized, not shared mutable state).
    """
    secret = hashlib.sha256(f"daoli/sim/key/{role}/{index}".encode()).digest()
    return secret, pubkey_from_secret(secret)


# --- bounds -------------------------------------------------------------------------------
# Every option of ``daoli sim`` is checked here, in :meth:`SimConfig.validate`, so the CLI,
# the benchmarks and library callers agree; ``daoli sim --help`` states these same bounds
# (it is built from :data:`BOUNDS`).

MAX_TRUSTEES = ChainParams().max_trustees
"""100: a genesis lists at most ``max_trustees`` trustees (more are refused when the
simulated chain is made), so no larger simulation can exist."""
MAX_MINERS = 100_000
"""Ten times the largest benchmarked run; each miner's key costs about 50 us to make."""
MAX_HEIGHTS = 50_000
MAX_SEED = (1 << 64) - 1
MAX_DELAY_MS = 3_600_000
"""One hour: the most ``latency_ms``, ``jitter_ms``, ``clock_skew_ms``, ``relay_hold_ms``
and ``hash_time_ms`` may be (far beyond a 1 s cycle: larger values only stall a run)."""
MIN_HASH_TIME_MS = 0.001
MIN_HEAVY_RATE = 0.001
MAX_HEAVY_RATE = 1_000_000
MIN_TX_RATE = 0.001
MAX_TX_RATE = 10_000
"""A third of what 4 MiB blocks carry at one block a second (~29,000 142-byte transfers):
more would only grow the mempools."""
MAX_ACCOUNTS = 100_000
MAX_PARAM = (1 << 63) - 1
"""Chain parameters (difficulty, epoch length, diameter) are integers below 2^63."""
MAX_SIM_MS = 500_000_000
"""About 5.8 simulated days: more than 50,000 heights need, and below the 2^24 cycles
ticket keys (``mine_for``) can number."""
MAX_CYCLES = 1 << 24
"""Ticket keys in :meth:`World.mine_for` hold the cycle in 24 bits."""
MAX_PARTITIONS = 100
MAX_WORK = 100_000_000
"""Bound on :meth:`SimConfig.work`: a few minutes of a laptop's time at most for a run
that keeps finalizing (a stalled run does less work per simulated second)."""
MAX_NODES = 2 * MAX_TRUSTEES
"""Named nodes (:attr:`SimConfig.nodes`), trustees and followers together."""
MAX_FAULTS = 1_000
FAULT_ACTIONS = ("kill", "restart", "pause", "resume", "partition", "heal")
"""What a scheduled :class:`SimFault` does (the devnet manifest's fault actions)."""
NODE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _num(v: float) -> str:
    """A bound as ``--help`` and errors write it."""
    if v == MAX_SEED:
        return "2^64-1"
    if v == MAX_PARAM:
        return "2^63-1"
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:g}"


def _shown(value: object) -> str:
    """A rejected value, short enough for a one-line error."""
    if type(value) is int:
        return str(value) if value.bit_length() <= 80 else f"a {value.bit_length()}-bit integer"
    if type(value) is float:
        return repr(value)
    if type(value) is str:
        return repr(value if len(value) <= 40 else value[:40] + "...")
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class Bound:
    """The values one option may take: ``low <= value <= high`` (``high`` excluded with
    ``below_high``); ``zero`` also allows 0, an "off" value below ``low``."""

    option: str
    integer: bool
    low: float
    high: float
    below_high: bool = False
    zero: bool = False

    @property
    def span(self) -> str:
        """The range, as ``--help`` states it: ``1 to 100``."""
        hi = f"below {_num(self.high)}" if self.below_high else _num(self.high)
        text = f"{_num(self.low)} to {hi}"
        return f"0, or {text}" if self.zero else text

    def describe(self) -> str:
        noun = "an integer" if self.integer else "a finite number"
        hi = f"below {_num(self.high)}" if self.below_high else _num(self.high)
        text = f"{noun} from {_num(self.low)} to {hi}"
        return f"0 or {text}" if self.zero else text

    def check(self, value: object) -> None:
        ok = False
        if type(value) is int or (type(value) is float and not self.integer):
            assert isinstance(value, int | float)
            if type(value) is float and not math.isfinite(value):
                ok = False  # nan passes every comparison below as False; inf is not a count
            elif self.zero and value == 0:
                ok = True
            else:  # int against float compares exactly: no OverflowError for huge ints
                ok = self.low <= value and (value < self.high if self.below_high
                                            else value <= self.high)
        if not ok:
            raise ConfigError(f"{self.option} must be {self.describe()}, got {_shown(value)}")


BOUNDS: dict[str, Bound] = {
    "trustees": Bound("--trustees", True, 1, MAX_TRUSTEES),
    "miners": Bound("--miners", True, 1, MAX_MINERS),
    "heights": Bound("--heights", True, 1, MAX_HEIGHTS),
    "seed": Bound("--seed", True, 0, MAX_SEED),
    "latency_ms": Bound("--latency-ms", False, 0, MAX_DELAY_MS),
    "jitter_ms": Bound("--jitter-ms", False, 0, MAX_DELAY_MS),
    "loss": Bound("--loss", False, 0, 1, below_high=True),
    "clock_skew_ms": Bound("--clock-skew-ms", False, 0, MAX_DELAY_MS),
    "offline_winner": Bound("--offline-winner", False, 0, 1),
    "pow_difficulty": Bound("--pow-difficulty", True, 1, MAX_PARAM),
    "hash_time_ms": Bound("--hash-time-ms", False, MIN_HASH_TIME_MS, MAX_DELAY_MS),
    "epoch_blocks": Bound("--epoch-blocks", True, 1, MAX_PARAM),
    "heavy_miner_rate": Bound("--heavy-miner", False, MIN_HEAVY_RATE, MAX_HEAVY_RATE),
    "diameter": Bound("--diameter", True, 1, MAX_PARAM),
    "relay_hold_ms": Bound("--relay-hold-ms", False, 0, MAX_DELAY_MS),
    "max_sim_ms": Bound("--max-sim-ms", True, 1, MAX_SIM_MS, zero=True),
    "tx_rate": Bound("--tx-rate", False, MIN_TX_RATE, MAX_TX_RATE, zero=True),
    "accounts": Bound("--accounts", True, 1, MAX_ACCOUNTS),
    "degree": Bound("degree", True, 1, MAX_TRUSTEES),
}
"""Field of :class:`SimConfig` -> its bound (``byzantine``, ``latency``, ``behaviour`` and
``partitions`` depend on other fields or are not numbers: see :meth:`SimConfig.validate`)."""

_PARTITION = re.compile(r"([0-9]{1,19}):([0-9]{1,19}):([0-9]{1,19})")
PARTITION_SPAN = f"0 <= START < END <= {_num(MAX_SIM_MS)}, 2 <= GROUPS <= --trustees"


def parse_partition(text: str) -> Partition:
    """``START_MS:END_MS:GROUPS`` as the CLI takes it: ASCII digits only (no signs, spaces,
    exponents, ``inf`` or ``nan``); the ranges are :meth:`SimConfig.validate`'s."""
    m = _PARTITION.fullmatch(text)
    if m is None:
        raise ConfigError(f"--partition {_shown(text)}: expected START_MS:END_MS:GROUPS, "
                          f"three integers with {PARTITION_SPAN}")
    start, end, groups = (int(g) for g in m.groups())
    return Partition(start, end, groups)


@dataclass(frozen=True)
class SimNodeSpec:
    """One named node of :attr:`SimConfig.nodes`: a devnet manifest's node, as simulated.

    Its shaping applies to what it sends, as a node's own shaping does: each message from
    it takes ``latency_ms`` give or take ``jitter_ms`` (in the run's latency model) and is
    lost with probability ``loss``."""

    name: str
    trustee: bool = True
    """A genesis trustee; False: a follower (it sponsors its miners' tickets and proposes
    their blocks, but does not vote)."""
    miners: int = 1
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0


@dataclass(frozen=True)
class SimFault:
    """A scheduled fault of named nodes, ``at_ms`` after the run's first finalized block
    (a devnet manifest's ``[[faults]]``: its times count from the first block too).

    ``kill``: the node's process is gone (messages to it are lost, its timers and miners
    stop) until ``restart`` starts a fresh machine on its chain (its signing record kept, as
    a node's store keeps it). ``pause``: the node is frozen (what reaches it waits) until
    ``resume`` delivers it. ``partition``: only nodes of one group reach each other (the
    nodes in no group form one more group, as ``daoli devnet partition`` has it) until
    ``heal``."""

    at_ms: int
    action: str
    nodes: tuple[str, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class SimConfig:
    trustees: int = 4
    miners: int = 100
    heights: int = 20
    seed: int = 1
    latency: str = "uniform"
    latency_ms: float = 50.0
    jitter_ms: float = 20.0
    loss: float = 0.0
    clock_skew_ms: float = 0.0
    partitions: tuple[Partition, ...] = ()
    byzantine: int = 0
    behaviour: str = "silent"
    offline_winner: float = 0.0
    """Fraction of heights in which the luckiest ticket's sponsor does not propose."""
    pow: bool = False
    """Grind and check real nonces; without it work is modelled (see ``hash_time_ms``)."""
    pow_difficulty: int = 16
    """Genesis difficulty; the ledger retargets it every ``epoch_blocks``."""
    heavy_miner_rate: float = 1.0
    """Hash rate of miner 0 relative to the others (the "luck, not work" experiment)."""
    hash_time_ms: float = 10.0
    """Simulated time one hash costs a unit-rate miner: a ticket at difficulty D takes an
    exponential time of mean ``D * hash_time_ms / rate`` (D expected hashes). The default
    makes a ticket cost 160 ms at the default genesis difficulty, about half of ``phi_ms``,
    so ~85 % of the miners are time ties at first and retargeting (x2 per epoch at most)
    visibly pulls the ties toward ``diameter`` over the next epochs."""
    epoch_blocks: int = 32
    degree: int = 8
    relay_hold_ms: float = 5.0
    max_sim_ms: int = 0
    """0: derived from heights, timeouts and partitions (:meth:`derived_max_sim_ms`)."""
    cycle_ms: int = 1_000
    phi_ms: int = 300
    delta_ms: int = 200
    diameter: int = 16
    evidence: bool = True
    """Honest trustees report equivocation as Evidence transactions (the ledger slashes)."""
    tx_rate: float = 0.0
    """Workload transfers per simulated second (0: none)."""
    accounts: int = 1_000
    """Funded genesis accounts the workload sends from and to (only with ``tx_rate``)."""
    nodes: tuple[SimNodeSpec, ...] = ()
    """Named nodes, each with its own miners and shaping (a devnet manifest: see
    :mod:`daoli.sim.manifest`). Empty: ``trustees`` anonymous trustees over which the
    ``miners`` are spread at random, every message shaped by ``latency_ms``, ``jitter_ms``
    and ``loss``. Set: ``trustees`` and ``miners`` must be their totals, and ``latency_ms``,
    ``jitter_ms``, ``loss`` and ``partitions`` 0 and empty (shaping and partitions are
    per node and in ``faults``)."""
    faults: tuple[SimFault, ...] = ()
    """A fault schedule of the named nodes (only with ``nodes``)."""
    params: ChainParams | None = None
    """The genesis parameters; None: the defaults. ``cycle_ms``, ``phi_ms``, ``delta_ms``,
    ``diameter``, ``pow_difficulty`` and ``epoch_blocks`` above override its values."""
    manifest: str = ""
    """The name of the devnet manifest this run simulates ("": none)."""

    def validate(self) -> None:
        """Refuse values a run cannot handle, or that would make it run for ever, with a
        one-line :class:`ConfigError` naming the option and its allowed range."""
        for name, bound in BOUNDS.items():
            bound.check(getattr(self, name))
        if type(self.byzantine) is not int or not 0 <= self.byzantine <= self.trustees:
            raise ConfigError(f"--byzantine must be an integer from 0 to --trustees "
                              f"({self.trustees}), got {_shown(self.byzantine)}")
        if self.latency not in LATENCY_KINDS:
            raise ConfigError(f"--latency must be one of {', '.join(LATENCY_KINDS)}, "
                              f"got {_shown(self.latency)}")
        if self.behaviour not in BEHAVIOURS:
            raise ConfigError(f"--behaviour must be one of {', '.join(BEHAVIOURS)}, "
                              f"got {_shown(self.behaviour)}")
        for name in ("pow", "evidence"):
            if type(getattr(self, name)) is not bool:
                raise ConfigError(f"{name} must be True or False")
        self._check_partitions()
        self._check_nodes()
        self._check_faults()
        if self.params is not None and not isinstance(self.params, ChainParams):
            raise ConfigError(f"params must be ChainParams, got {_shown(self.params)}")
        if type(self.manifest) is not str or len(self.manifest) > 64:
            raise ConfigError("manifest must be a name of at most 64 characters")
        self.chain_params()  # cycle_ms, phi_ms, delta_ms: ChainParams' own checks
        self._check_work()

    def _check_partitions(self) -> None:
        parts = self.partitions
        if not isinstance(parts, tuple | list) or len(parts) > MAX_PARTITIONS:
            raise ConfigError(f"--partition: at most {MAX_PARTITIONS} partitions")
        for p in parts:
            if not isinstance(p, Partition):
                raise ConfigError(f"--partition: expected a Partition, got {_shown(p)}")
            s, e, g = p.start_ms, p.end_ms, p.groups
            if not (all(type(x) is int for x in (s, e, g)) and 0 <= s < e <= MAX_SIM_MS
                    and 2 <= g <= self.trustees):
                raise ConfigError(f"--partition {_shown(s)}:{_shown(e)}:{_shown(g)}: need "
                                  f"{PARTITION_SPAN} ({self.trustees})")

    def _check_nodes(self) -> None:
        nodes = self.nodes
        if not nodes:
            return
        if not isinstance(nodes, tuple | list) or len(nodes) > MAX_NODES:
            raise ConfigError(f"nodes: at most {MAX_NODES} named nodes")
        names: set[str] = set()
        for i, nd in enumerate(nodes):
            if not isinstance(nd, SimNodeSpec):
                raise ConfigError(f"nodes[{i}]: expected a SimNodeSpec, got {_shown(nd)}")
            if type(nd.name) is not str or not NODE_NAME.fullmatch(nd.name):
                raise ConfigError(f"nodes[{i}].name must be 1-64 of A-Z, a-z, 0-9, '_', '.' "
                                  f"and '-', got {_shown(nd.name)}")
            if nd.name in names:
                raise ConfigError(f"nodes[{i}].name: {nd.name!r} is used twice")
            names.add(nd.name)
            if type(nd.trustee) is not bool:
                raise ConfigError(f"nodes[{i}].trustee must be True or False")
            where = f"nodes[{i}] ({nd.name})"
            Bound(f"{where} miners", True, 0, MAX_MINERS).check(nd.miners)
            Bound(f"{where} latency_ms", False, 0, MAX_DELAY_MS).check(nd.latency_ms)
            Bound(f"{where} jitter_ms", False, 0, MAX_DELAY_MS).check(nd.jitter_ms)
            Bound(f"{where} loss", False, 0, 1).check(nd.loss)
        trustees = sum(1 for nd in nodes if nd.trustee)
        if trustees != self.trustees:
            raise ConfigError(f"nodes: {trustees} are trustees, but trustees is {self.trustees}")
        miners = sum(nd.miners for nd in nodes)
        if miners != self.miners:
            raise ConfigError(f"nodes: their miners add up to {miners}, but miners is "
                              f"{self.miners}")
        if self.latency_ms or self.jitter_ms or self.loss or self.partitions:
            raise ConfigError("with named nodes, latency_ms, jitter_ms and loss are per node "
                              "and partitions are faults: set them to 0 and ()")

    def _check_faults(self) -> None:
        faults = self.faults
        if not faults:
            return
        if not self.nodes:
            raise ConfigError("faults need named nodes (nodes)")
        if not isinstance(faults, tuple | list) or len(faults) > MAX_FAULTS:
            raise ConfigError(f"faults: at most {MAX_FAULTS}")
        names = {nd.name for nd in self.nodes}
        for i, f in enumerate(faults):
            if not isinstance(f, SimFault):
                raise ConfigError(f"faults[{i}]: expected a SimFault, got {_shown(f)}")
            if type(f.at_ms) is not int or not 0 <= f.at_ms <= MAX_SIM_MS:
                raise ConfigError(f"faults[{i}].at_ms must be an integer from 0 to "
                                  f"{_num(MAX_SIM_MS)}, got {_shown(f.at_ms)}")
            if f.action not in FAULT_ACTIONS:
                raise ConfigError(f"faults[{i}].action must be one of "
                                  f"{', '.join(FAULT_ACTIONS)}, got {_shown(f.action)}")
            listed = [*f.nodes, *(n for g in f.groups for n in g)]
            for name in listed:
                if type(name) is not str or name not in names:
                    raise ConfigError(f"faults[{i}]: no node named {_shown(name)}")
            if f.action in ("kill", "restart", "pause", "resume") and not f.nodes:
                raise ConfigError(f"faults[{i}]: {f.action} needs nodes")
            if f.action == "partition":
                if len(f.groups) < 2:
                    raise ConfigError(f"faults[{i}]: partition needs two or more groups")
                in_groups = [n for g in f.groups for n in g]
                if len(set(in_groups)) != len(in_groups):
                    raise ConfigError(f"faults[{i}]: a node is in two partition groups")

    def derived_max_sim_ms(self) -> int:
        """The bound on simulated time when ``max_sim_ms`` is 0: one second before genesis,
        the last partition's end (or the last fault's time and one height for the first
        block), 4 cycles and 3 rounds of timeouts per height, and 30 s more; at most
        :data:`MAX_SIM_MS`."""
        p = self.chain_params()
        heal = max((q.end_ms for q in self.partitions), default=0)
        if self.faults:  # counted from the first block, which takes a height at most
            heal = max(heal, max(f.at_ms for f in self.faults) + per_height_ms(p))
        return min(MAX_SIM_MS, GENESIS_TIME_MS + heal + self.heights * per_height_ms(p)
                   + 30_000)

    def sim_bound_ms(self) -> int:
        """The bound on simulated time the run uses (``max_sim_ms``, or derived)."""
        return self.max_sim_ms or self.derived_max_sim_ms()

    def work(self) -> float:
        """An upper estimate of the run's cost: simulated cycles (the bound on simulated
        time) times, per cycle, ``trustees^2`` (votes) + the mining work (one draw per
        miner; with ``pow``, every hash a miner may try in a draw) + ``trustees * tx_rate``
        (each transfer reaches every trustee)."""
        cycles = self.sim_bound_ms() / self.cycle_ms
        return cycles * self.work_per_cycle()

    def work_per_cycle(self) -> float:
        mining: float = self.miners
        if self.pow:  # as mine_for grinds: up to phi_ms * rate / hash_time_ms + 1 nonces
            def tries(rate: float) -> int:
                return int(self.phi_ms * rate / self.hash_time_ms) + 1

            mining = (self.miners - 1) * tries(1.0) + tries(self.heavy_miner_rate)
        votes = self.trustees * len(self.nodes) if self.nodes else self.trustees ** 2
        return votes + mining + self.trustees * self.tx_rate

    def _check_work(self) -> None:
        cycles = self.sim_bound_ms() / self.cycle_ms
        if cycles >= MAX_CYCLES:
            raise ConfigError(f"--max-sim-ms: at most {MAX_CYCLES - 1:,} cycles of "
                              f"{self.cycle_ms:,} ms can be simulated")
        work = self.work()
        if work > MAX_WORK:
            bound = self.sim_bound_ms()
            what = "hashes per draw" if self.pow else "miners"
            raise ConfigError(
                f"the run is too large: {bound / self.cycle_ms:,.0f} simulated cycles "
                f"(--max-sim-ms{'' if self.max_sim_ms else ', derived'}: {bound:,} ms) x "
                f"{self.work_per_cycle():,.0f} (trustees^2 + "
                f"{what} + trustees x tx-rate) = {work:,.0f}, above {MAX_WORK:,}: lower "
                "--heights, --max-sim-ms, --trustees, --miners or --tx-rate")

    def chain_params(self) -> ChainParams:
        if self.params is not None:
            return self.params.replace(
                cycle_ms=self.cycle_ms, phi_ms=self.phi_ms, delta_ms=self.delta_ms,
                diameter=self.diameter, pow_difficulty=self.pow_difficulty,
                epoch_blocks=self.epoch_blocks)
        return ChainParams(cycle_ms=self.cycle_ms, phi_ms=self.phi_ms, delta_ms=self.delta_ms,
                           diameter=self.diameter, pow_difficulty=self.pow_difficulty,
                           epoch_blocks=self.epoch_blocks)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["partitions"] = [f"{p.start_ms}:{p.end_ms}:{p.groups}" for p in self.partitions]
        for name in ("nodes", "faults", "params", "manifest"):
            if not getattr(self, name):  # absent unless used: older reports stay as they were
                del d[name]
        return d


def per_height_ms(p: ChainParams) -> int:
    """Simulated time a height may take before the derived bound gives up: 4 cycles and 3
    rounds of timeouts (13,000 ms with the default parameters)."""
    return 4 * p.cycle_ms + 3 * (p.timeout_propose_ms + p.timeout_prevote_ms
                                 + p.timeout_precommit_ms + 2 * p.timeout_delta_ms)


UP, KILLED, PAUSED = "up", "killed", "paused"


class ScheduledNode(SimNode):
    """A named node that faults can kill, restart, pause and resume (see :class:`SimFault`).

    Every delivery and timer passes :meth:`_gate`: a paused node holds them until it is
    resumed (a stopped process's sockets and timers wait for it), a killed one loses them.
    Timers carry the machine's generation, so none set before a kill fires after the
    restart (a new process has only the timers it sets itself).
    """

    def __init__(self, world: World, idx: int, pubkey: bytes, behaviour: str,
                 skew_ms: float) -> None:
        super().__init__(world, idx, pubkey, behaviour, skew_ms)
        self.state = UP
        self.generation = 0
        self.held: list[tuple[Callable[[Any, Any], None], Any, Any]] = []

    # --- faults --------------------------------------------------------------------------------

    def fault(self, action: str) -> None:
        {"kill": self.kill, "restart": self.restart, "pause": self.pause,
         "resume": self.resume}[action]()

    def _set(self, state: str) -> None:
        self.state = state
        net = self.w.shaped
        assert net is not None
        net.down[self.idx] = state != UP

    def kill(self) -> None:
        if self.state != KILLED:
            self.held = []
            self.generation += 1
            self._set(KILLED)

    def pause(self) -> None:
        if self.state == UP:
            self._set(PAUSED)

    def resume(self) -> None:
        if self.state == PAUSED:
            self._set(UP)
            held, self.held = self.held, []
            for fn, a, b in held:
                if self.state == UP:
                    fn(a, b)

    def restart(self) -> None:
        """A new process on the node's chain: a fresh machine (clock, mempool, lottery)
        started on its tip, keeping what a node keeps on disk (its signing record); like a
        node's status poll, it then asks the highest live peer for what it missed."""
        self.kill()
        self._set(UP)
        w = self.w
        old = self.m
        idx = self.idx
        self.m = machine_class(self.behaviour)(
            w.genesis, w.hub, SimSigner(self.pub, w.fake_sig(self.pub)), TrustingVerifier(),
            old.config, sign_state=old.sign_state, skip_winner=w.winner_offline,
            evidence_gate=lambda culprit: w.claim_evidence(culprit, idx))
        if self.silent:
            return
        if self.chain and self.chain[-1].block.height >= w.cfg.heights:
            self.m.halted = True  # it had finalized the run's last height: nothing to do
            return
        if self.chain:
            tip = self.chain[-1]
            self.run(self.m.start_at(self.local(), tip.block, tip.cert, tip.round))
        else:
            self.run(self.m.start(self.local()))
        self._catch_up()

    def _catch_up(self) -> None:
        w = self.w
        peers = [nd for nd in w.nodes if nd is not self and isinstance(nd, ScheduledNode)
                 and nd.state == UP and not nd.silent]
        if not peers:
            return
        best = max(peers, key=lambda nd: (len(nd.chain), -nd.idx))
        if len(best.chain) <= len(self.chain):
            return
        now = w.q.now
        ask = w.net.delay(self.idx, best.idx, now)
        reply = w.net.delay(best.idx, self.idx, now)
        if ask is not None and reply is not None:
            w.q.at(now + ask + reply, self.on_sync_from, best.idx, None)

    # --- the gate ------------------------------------------------------------------------------

    def _gate(self, fn: Callable[[Any, Any], None], a: Any, b: Any) -> bool:
        """True: handle it now. Paused: held for the resume. Killed: lost."""
        if self.state == UP:
            return True
        if self.state == PAUSED:
            self.held.append((fn, a, b))
        else:
            self.w.down_drops += 1
        return False

    def run(self, effects: list[Any]) -> None:
        start = 0
        for k, e in enumerate(effects):
            if type(e) is SetTimer:
                if k > start:
                    super().run(effects[start:k])
                start = k + 1
                self.w.q.at(e.at_ms - self.skew, self._timer, e.timer, self.generation)
        if start == 0:
            super().run(effects)
        elif start < len(effects):
            super().run(effects[start:])

    def _timer(self, timer: Any, generation: int) -> None:
        if generation == self.generation and self._gate(super().on_timer, timer, None):
            super().on_timer(timer, None)

    def on_timer(self, timer: Any, b: Any) -> None:
        if self._gate(super().on_timer, timer, b):
            super().on_timer(timer, b)

    def on_own_tickets(self, batch: list[Any], h: int) -> None:
        if self._gate(super().on_own_tickets, batch, h):
            super().on_own_tickets(batch, h)

    def on_tickets(self, items: list[Any], peer: Any) -> None:
        if self._gate(super().on_tickets, items, peer):
            super().on_tickets(items, peer)

    def on_proposal(self, block: Block, peer: Any) -> None:
        if self._gate(super().on_proposal, block, peer):
            super().on_proposal(block, peer)

    def on_vote(self, vote: Vote, peer: Any) -> None:
        if self._gate(super().on_vote, vote, peer):
            super().on_vote(vote, peer)

    def on_votes(self, votes: Sequence[Vote], peer: Any) -> None:
        if self._gate(super().on_votes, votes, peer):
            super().on_votes(votes, peer)

    def on_tx(self, tx: Transaction, peer: Any) -> None:
        if self._gate(super().on_tx, tx, peer):
            super().on_tx(tx, peer)

    def on_fetched(self, bid: bytes, peer: Any) -> None:
        if self._gate(super().on_fetched, bid, peer):
            super().on_fetched(bid, peer)

    def on_announce(self, entry: ChainEntry, peer: int) -> None:
        if self._gate(super().on_announce, entry, peer):
            super().on_announce(entry, peer)

    def on_sync_from(self, peer: int, b: Any) -> None:
        source = self.w.nodes[peer]
        net = self.w.shaped
        if (isinstance(source, ScheduledNode) and source.state != UP) or (
                net is not None and net.cut(self.idx, peer, self.w.q.now)):
            return  # a down peer does not answer, nor one across a partition
        if self._gate(super().on_sync_from, peer, b):
            super().on_sync_from(peer, b)


@dataclass
class _Canon:
    block: Block
    round: int
    at_ms: float


@dataclass
class World:
    """Everything the nodes share: queue, network, ledger hub, metrics, participants."""

    cfg: SimConfig
    q: EventQueue = field(default_factory=EventQueue)
    metrics: Metrics = field(default_factory=Metrics)

    def __post_init__(self) -> None:
        cfg = self.cfg
        self.seed = cfg.seed
        self.params = cfg.chain_params()
        self.hold_ms = cfg.relay_hold_ms
        self.gtime = GENESIS_TIME_MS
        n, m = cfg.trustees, cfg.miners
        # Named nodes (a manifest): trustees take indices 0..n-1, followers the rest.
        specs = [*(s for s in cfg.nodes if s.trustee), *(s for s in cfg.nodes if not s.trustee)]
        self.specs: list[SimNodeSpec] = specs
        total = len(specs) or n
        tkeys = [sim_key("trustee", i) for i in range(n)]
        self.trustee_pub = [pk for _, pk in tkeys]
        self.trustee_index = {pk: i for i, pk in enumerate(self.trustee_pub)}
        follower_pub = [sim_key("follower", k)[1] for k in range(total - n)]
        self._addr: dict[bytes, bytes] = {}
        # Followers get fees too: they report equivocation like any node.
        allocs = [Allocation(self.address(pk), TRUSTEE_FUNDS)
                  for pk in (*self.trustee_pub, *follower_pub)]
        account_pub: list[bytes] = []
        if cfg.tx_rate > 0:
            account_pub = [sim_key("account", i)[1] for i in range(cfg.accounts)]
            allocs += [Allocation(self.address(pk), ACCOUNT_FUNDS) for pk in account_pub]
        self.genesis = Genesis(
            f"sim-{cfg.seed % 10**12}", GENESIS_TIME_MS, self.params, tuple(allocs),
            tuple(GenesisTrustee(pk, self.params.min_bond, f"/sim/{i}")
                  for i, pk in enumerate(self.trustee_pub)))
        self.chain_id = self.genesis.chain_id
        self.shaped: ShapedNetwork | None = None
        self.net: Network
        if specs:
            self.shaped = ShapedNetwork(
                [(s.latency_ms, s.jitter_ms, s.loss) for s in specs], seed=cfg.seed,
                latency=cfg.latency, degree=cfg.degree)
            self.net = self.shaped
        else:
            self.net = Network(n, seed=cfg.seed, latency=cfg.latency,
                               latency_ms=cfg.latency_ms, jitter_ms=cfg.jitter_ms, loss=cfg.loss,
                               partitions=cfg.partitions, degree=cfg.degree)
        # A real node always re-gossips; named nodes are simulated as the devnet runs them.
        self.retransmit = bool(specs) or cfg.loss > 0 or bool(cfg.partitions)
        self.hub = LedgerHub(self.genesis, None if cfg.pow else 1, self.address)
        self.evidence_by: dict[bytes, int] = {}
        """culprit -> the node that reported it: one Evidence transaction per culprit per
        network (the ledger refuses a second one, so more would only cost fees)."""
        self.payload_budget = max(0, self.params.max_block_bytes - PAYLOAD_MARGIN)
        self.mempool_max = 0
        # participants
        rng = random.Random(self.sub_seed("roles"))
        order = list(range(n))
        rng.shuffle(order)
        byz = set(order[: cfg.byzantine])
        skew_rng = random.Random(self.sub_seed("skew"))
        pubs = [*self.trustee_pub, *follower_pub]
        node_class = ScheduledNode if specs else SimNode
        self.nodes: list[SimNode] = [
            node_class(self, i, pubs[i], cfg.behaviour if i in byz else HONEST,
                       skew_rng.uniform(-cfg.clock_skew_ms, cfg.clock_skew_ms))
            for i in range(total)]
        self.trustee_nodes = self.nodes[:n]
        self.miner_pub = [sim_key("miner", j)[1] for j in range(m)]
        self.miner_index = {pk: j for j, pk in enumerate(self.miner_pub)}
        self.miner_rate = [cfg.heavy_miner_rate if j == 0 else 1.0 for j in range(m)]
        self.miner_sig = [sim_signature(pk) for pk in self.miner_pub]
        if specs:  # each named node its own miners, numbered node by node
            first = 0
            for nd, spec in zip(self.nodes, specs, strict=True):
                nd.miners.extend(range(first, first + spec.miners))
                first += spec.miners
        else:
            arng = random.Random(self.sub_seed("attach"))
            for j in range(m):
                self.nodes[arng.randrange(n)].miners.append(j)
        self.miner_rng = random.Random(self.sub_seed("mining"))
        self.miner_latency = LatencyModel(cfg.latency, cfg.latency_ms, cfg.jitter_ms,
                                          random.Random(self.sub_seed("miner-latency")))
        self.canonical: dict[int, _Canon] = {}
        self._announced: dict[int, set[int]] = {}
        """height -> peers an announcement of that height was sent to (one each)."""
        self.offline: dict[int, int] = {}
        """height -> miner whose sponsor withheld its winning proposal there."""
        self.active = [nd for nd in self.nodes if not nd.silent]
        self.honest = [nd for nd in self.nodes if nd.honest]
        self.node_of = {s.name: i for i, s in enumerate(specs)}
        # The run ends when every honest node has finalized the last height, except nodes
        # the fault schedule leaves down (they cannot get there).
        down = self._down_at_end()
        self.targets: set[int] | None = None
        if down and any(nd.idx not in down for nd in self.honest):
            self.targets = {nd.idx for nd in self.honest if nd.idx not in down}
        self.target = len(self.targets) if self.targets is not None else len(self.honest)
        self.fault_log: list[dict[str, Any]] = [
            {"at_s": f.at_ms / 1000, "action": f.action, "nodes": list(f.nodes),
             "groups": [list(g) for g in f.groups], "applied": False, "at_sim_ms": None,
             "height": None} for f in cfg.faults]
        self.faults_from_ms: float | None = None
        """When the first block was finalized: the fault schedule counts from there."""
        self.down_drops = 0
        """Messages that reached a killed node (lost with it)."""
        self.done = 0
        self._prune_at = 32
        self.workload: TxWorkload | None = None
        if cfg.tx_rate > 0:
            self.workload = TxWorkload(self, cfg.tx_rate, account_pub,
                                       [self.address(pk) for pk in account_pub])

    # --- the fault schedule (named nodes) ------------------------------------------------------

    def _down_at_end(self) -> set[int]:
        """Nodes the schedule leaves killed or paused (its last word on them)."""
        state: dict[str, str] = {}
        for f in self.cfg.faults:
            for name in f.nodes:
                if f.action in ("kill", "pause"):
                    if not (f.action == "pause" and state.get(name) == "kill"):
                        state[name] = f.action
                elif f.action == "restart" or (f.action == "resume"
                                               and state.get(name) == "pause"):
                    state[name] = "up"
        return {self.node_of[name] for name, st in state.items() if st != "up"}

    def _start_faults(self) -> None:
        now = self.q.now
        self.faults_from_ms = now
        for k, f in enumerate(self.cfg.faults):
            self.q.at(now + f.at_ms, self._apply_fault, k, None)

    def _apply_fault(self, k: int, _: Any) -> None:
        f = self.cfg.faults[k]
        shaped = self.shaped
        assert shaped is not None
        targets = [self.nodes[self.node_of[name]] for name in f.nodes]
        for nd in targets:
            assert isinstance(nd, ScheduledNode)
            nd.fault(f.action)
        if f.action == "partition":
            group = [len(f.groups)] * len(self.nodes)  # the nodes named in no group
            for g, names in enumerate(f.groups):
                for name in names:
                    group[self.node_of[name]] = g
            shaped.partition(group)
        elif f.action == "heal":
            shaped.heal()
        height = 0
        while height + 1 in self.canonical:
            height += 1
        self.fault_log[k].update(applied=True, at_sim_ms=self.q.now, height=height)

    # --- helpers the nodes call -------------------------------------------------------------

    def sub_seed(self, name: str) -> int:
        return sub_seed(self.seed, name)

    def address(self, pubkey: bytes) -> bytes:
        """The account address of ``pubkey`` (cached: a SHA-256 per lookup adds up)."""
        a = self._addr.get(pubkey)
        if a is None:
            a = self._addr[pubkey] = address_bytes_of(pubkey)
        return a

    def note_pool(self, size: int) -> None:
        if size > self.mempool_max:
            self.mempool_max = size

    def gossip_tx(self, node: SimNode, tx: Transaction) -> None:
        """A transaction reached ``node``: gossip it to every other node's pool."""
        i = node.idx
        q = self.q
        now = q.now
        delay = self.net.delay
        for peer in self.active:
            if peer.idx != i:
                d = delay(i, peer.idx, now)
                if d is not None:
                    q.at(now + d, peer.on_tx, tx, i)

    @staticmethod
    def fake_sig(pubkey: bytes) -> bytes:
        return sim_signature(pubkey)

    def winner_offline(self, height: int) -> bool:
        p = self.cfg.offline_winner
        if p <= 0:
            return False
        h = hashlib.sha256(f"{self.seed}/offline/{height}".encode()).digest()
        return int.from_bytes(h[:8], "big") < p * (1 << 64)

    def mine_for(self, node: SimNode, draw: Draw, start: int) -> None:
        """The node's miners work on ``draw`` and hand their tickets to it, in batches.

        Work is at the difficulty in effect on the node's tip. Modelled: an exponential time
        of mean ``difficulty * hash_time_ms / rate``. Ground: the first valid nonce times
        ``hash_time_ms / rate``, giving up once a ticket could no longer be in time.
        """
        cfg = self.cfg
        phi_ms = self.params.phi_ms
        phi_end = start + phi_ms
        rng = self.miner_rng
        expo = rng.expovariate
        lat = self.miner_latency.sample
        params = node.m.lottery.params
        per_hash = cfg.hash_time_ms
        mean = params.pow_difficulty * per_hash
        h, c, parent = draw.height, draw.cycle, draw.parent_id
        base_key = (h << 48) | (c << 24)
        chain_id = self.chain_id
        sponsor = node.pub
        pubs, rates, sigs = self.miner_pub, self.miner_rate, self.miner_sig
        lot_of = draw.lot_of
        target = params.pow_target
        entries: list[tuple[float, Ticket, int, bytes]] = []
        for j in node.miners:
            pk = pubs[j]
            if cfg.pow:
                tries = int(phi_ms * rates[j] / per_hash) + 1
                found = mine(draw.seed, pk, target, max_tries=tries)
                if found is None:
                    continue  # no valid nonce within the window: no ticket this draw
                nonce = found
                compute = (nonce + 1) * per_hash / rates[j]
            else:
                nonce = 0
                compute = expo(rates[j] / mean)
            t_ms = start + int(compute)
            if t_ms > phi_end:
                continue  # too slow this draw: the miner does not bother
            arrival = t_ms + lat()
            entries.append((arrival, Ticket(chain_id, h, c, parent, pk, sponsor, nonce, t_ms,
                                            sigs[j]), base_key | j, lot_of(pk)))
        self.metrics.tickets_generated += len(entries)
        entries.sort(key=lambda e: e[0])
        hold = self.hold_ms
        q = self.q
        batch: list[tuple[Ticket, int, bytes, int]] = []
        end = -1.0
        for arrival, t, key, lt in entries:
            if arrival > end:
                if batch:
                    q.at(node.to_sim(end), node.on_own_tickets, batch, h)
                batch = []
                end = arrival + hold
            batch.append((t, key, lt, int(arrival)))
        if batch:
            q.at(node.to_sim(end), node.on_own_tickets, batch, h)

    def gossip_tickets(self, node: SimNode, relayed: Sequence[tuple[Ticket, Any, bytes]],
                       extra_ms: int = 0) -> None:
        """Relayed tickets to the node's overlay neighbours that do not hold them yet."""
        i = node.idx
        q = self.q
        now = q.now
        delay = self.net.delay
        nodes = self.nodes
        k = len(relayed)
        sent = skipped = 0
        for j in self.net.overlay[i]:
            peer = nodes[j]
            sent += k
            seen = peer.m.seen
            items = [e for e in relayed if e[1] not in seen]
            skipped += k - len(items)
            if items and not peer.silent:
                d = delay(i, j, now)
                if d is not None:
                    q.at(now + d + extra_ms, peer.on_tickets, items, i)
        self.metrics.ticket_msgs_sent += sent
        self.metrics.ticket_msgs_skipped += skipped

    def broadcast_vote(self, node: SimNode, vote: Vote) -> None:
        i = node.idx
        q = self.q
        now = q.now
        delay = self.net.delay
        self.metrics.vote_msgs_sent += len(self.nodes) - 1
        for peer in self.active:
            j = peer.idx
            if j != i:
                d = delay(i, j, now)
                if d is not None:
                    q.at(now + d, peer.on_vote, vote, i)

    def broadcast_equivocation(self, node: SimNode, vote: Vote, other: Vote) -> None:
        """An equivocator's two votes: a third of the trustees get the vote, a third the
        conflicting one, a third both (as gossip relaying would eventually show them). Which
        third a trustee falls in turns with every vote, as gossip paths do, so every trustee
        sometimes sees both (and can report the equivocation)."""
        i = node.idx
        q = self.q
        now = q.now
        delay = self.net.delay
        self.metrics.vote_msgs_sent += len(self.nodes) - 1
        for peer in self.active:
            j = peer.idx
            if j == i:
                continue
            third = (j + vote.height + vote.round + vote.vtype) % 3
            for v in ((vote,), (other,), (vote, other))[third]:
                d = delay(i, j, now)
                if d is not None:
                    q.at(now + d, peer.on_vote, v, i)

    def retransmit_votes(self, node: SimNode, votes: Sequence[Vote]) -> None:
        """Re-gossip of our votes of the current round to peers still at that height (what
        GossipSub's message cache does): lost votes must not stall a round for ever. One
        delivery per peer carries them all."""
        i = node.idx
        q = self.q
        now = q.now
        h = votes[0].height
        batch = tuple(votes)
        for peer in self.active:
            if peer.idx != i and peer.m.height == h:
                d = self.net.delay(i, peer.idx, now)
                if d is not None:
                    q.at(now + d, peer.on_votes, batch, i)

    def broadcast_block(self, node: SimNode, block: Block, half: int | None = None,
                        only_missing: bool = False) -> None:
        i = node.idx
        q = self.q
        now = q.now
        bid = block.id
        for peer in self.active:
            j = peer.idx
            if j == i or (half is not None and j & 1 != half):
                continue
            if only_missing and bid in peer.m.proposal_ids:
                continue
            d = self.net.delay(i, j, now)
            if d is not None:
                q.at(now + d, peer.on_proposal, block, i)

    def relay_block(self, node: SimNode, block: Block) -> None:
        """Gossip a valid proposal over the overlay to neighbours that do not hold it."""
        i = node.idx
        q = self.q
        now = q.now
        bid = block.id
        nodes = self.nodes
        for j in self.net.overlay[i]:
            peer = nodes[j]
            if peer.silent or bid in peer.m.proposal_ids:
                continue
            d = self.net.delay(i, j, now)
            if d is not None:
                q.at(now + d, peer.on_proposal, block, i)

    def announce(self, node: SimNode, entry: ChainEntry) -> None:
        """A finalized block on ``/block``, to the peers that have not finalized it.

        Each peer gets one announcement per height, as GossipSub's seen-cache would let
        through one copy (announcements of one block by many finalizers are one topic's
        traffic); a lost one leaves the peer open to the next announcer's."""
        i = node.idx
        q = self.q
        now = q.now
        h = entry.block.height
        told = self._announced.get(h)
        if told is None:
            told = self._announced[h] = set()
            self._announced.pop(h - 3, None)
        for peer in self.active:
            j = peer.idx
            if peer is not node and j not in told and not peer.m.halted and peer.m.height <= h:
                d = self.net.delay(i, j, now)
                if d is not None:
                    told.add(j)
                    q.at(now + d, peer.on_announce, entry, i)

    def on_draw_closed(self, e: DrawClosed) -> None:
        m = self.metrics
        m.ties_per_draw.append(e.ties)
        m.ties_by_epoch.setdefault((e.height - 1) // self.params.epoch_blocks, []).append(e.ties)
        m.relays_per_draw.append(e.relays)

    def claim_evidence(self, culprit: bytes, reporter: int) -> bool:
        """One Evidence transaction per culprit per network: the ledger refuses a second
        one, so more would only cost fees (``evidence_by`` records who reported)."""
        if culprit in self.evidence_by:
            return False
        self.evidence_by[culprit] = reporter
        return True

    def on_finalized(self, node: SimNode, block: Block, round_: int) -> None:
        if not node.honest:
            return
        h = block.height
        self.metrics.record_decision(h, block.id)
        if h not in self.canonical:
            self.canonical[h] = _Canon(block, round_, self.q.now)
            if h == 1 and self.fault_log:
                self._start_faults()
        if h == self.cfg.heights and (self.targets is None or node.idx in self.targets):
            self.done += 1
        if h >= self._prune_at:
            self._prune_at = h + 32
            low = min(nd.height for nd in self.active) - 2
            if low > 0:
                self.hub.prune(low)

    # --- the run ----------------------------------------------------------------------------

    def max_sim_ms(self) -> float:
        return float(self.cfg.sim_bound_ms())

    def run(self, progress: Callable[[int, int], None] | None = None) -> None:
        for nd in self.nodes:
            nd.start()
        if self.workload is not None:
            self.workload.start(GENESIS_TIME_MS)
        end = self.max_sim_ms()
        target = self.target
        chunk = 10 * self.params.cycle_ms
        t = 0.0
        q = self.q

        def stop() -> bool:
            return self.done >= target

        while t < end and not stop() and len(q):
            t = min(t + chunk, end)
            q.run_until(t, stop)
            if progress is not None:
                progress(min(len(self.canonical), self.cfg.heights), self.cfg.heights)


def run(cfg: SimConfig, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run one simulation and return its report (a JSON-ready dict)."""
    cfg.validate()
    wall0 = time.perf_counter()
    # The run allocates tens of millions of short-lived, acyclic tuples and messages; the
    # cyclic collector would rescan them for nothing (a quarter of the run time). Reference
    # counting frees them anyway, and the collector is restored (and run) afterwards.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        world = World(cfg)
        world.run(progress)
        report = build_report(world)
    finally:
        if was_enabled:
            gc.enable()
    report["wall_seconds"] = round(time.perf_counter() - wall0, 3)
    return report


def pow_report(w: World, chain: list[_Canon]) -> dict[str, list[Any]]:
    """Per epoch of the finalized chain: the difficulty in effect, the median time ties per
    draw the nodes saw, and the median of the ledger's own per-block estimates (what the
    retarget at the end of that epoch used, before saturation)."""
    p = w.params
    e_len = p.epoch_blocks
    epochs = (len(chain) + e_len - 1) // e_len
    difficulty: list[int | None] = []
    seen: list[float | None] = []
    estimated: list[int] = []
    for e in range(epochs):
        d: int | None = p.pow_difficulty
        if e > 0:
            chk = w.hub.checks.get(chain[e * e_len - 1].block.id)
            d = chk.result.pow_difficulty if chk is not None and chk.result else None
        difficulty.append(d)
        ties = w.metrics.ties_by_epoch.get(e)
        seen.append(summary(ties)["median"] if ties else None)
        blocks = chain[e * e_len:(e + 1) * e_len]
        estimated.append(median_int([time_ties_estimate(c.block.header.winner_ticket,
                                                        c.block.payroll, p.diameter)
                                     for c in blocks]))
    return {"pow_difficulty_by_epoch": difficulty, "time_ties_median_by_epoch": seen,
            "time_ties_estimate_median_by_epoch": estimated}


def evidence_report(w: World, chain: list[_Canon]) -> dict[str, Any]:
    """Who was slashed (and at which height), who reported, from the finalized chain.

    A slash takes the culprit's whole bond; bonds never change in the simulator, so that is
    its genesis bond (``slashed_total_li`` is the ledger's own count, to cross-check).
    """
    n = w.cfg.trustees
    bond = {t.pubkey: t.bond for t in w.genesis.trustees}
    slashed_li = [0] * n
    slashed_at: list[int | None] = [None] * n
    reported = [0] * n
    reward_li = [0] * n
    total = 0
    for c in chain:
        b = c.block
        chk = w.hub.checks.get(b.id)
        if chk is not None and chk.result is not None:
            total += chk.result.slashed
        for tx in b.payload:
            body = tx.body
            if type(body) is not Evidence:
                continue
            culprit = w.trustee_index.get(body.vote_a.trustee_pubkey)
            if culprit is None:
                continue
            amount = bond[body.vote_a.trustee_pubkey]
            slashed_li[culprit] += amount
            slashed_at[culprit] = b.height
            reporter = w.trustee_index.get(tx.sender_pubkey)
            if reporter is not None:
                reported[reporter] += 1
                reward_li[reporter] += amount // 2
    return {"slashed_li": slashed_li, "slashed_at": slashed_at, "reported": reported,
            "reward_li": reward_li, "slashed_total_li": total}


def tx_report(w: World, chain: list[_Canon]) -> dict[str, Any]:
    """The workload's numbers: inclusion, block fill, latency submit -> finalized, pools."""
    wl = w.workload
    submitted = wl.submitted_at if wl is not None else {}
    per_block: list[int] = []
    latency: list[float] = []
    for c in chain:
        per_block.append(len(c.block.payload))
        if submitted:
            for tx in c.block.payload:
                t0 = submitted.get(tx.id)
                if t0 is not None:
                    latency.append(round(c.at_ms - t0, 3))
    return {"txs_submitted": len(submitted), "txs_included": len(latency),
            "txs_per_block": summary(per_block), "tx_latency_ms": summary(latency),
            "mempool_max": w.mempool_max}


def origin_ms(w: World) -> float:
    """When the first trustee's clock read the genesis time: the report's times count from
    here. Clocks running ahead start the chain before the true genesis time
    (``GENESIS_TIME_MS``), and counting from that gave negative block times."""
    return max(0.0, min(float(GENESIS_TIME_MS),
                        *(GENESIS_TIME_MS - nd.skew for nd in w.trustee_nodes)))


def end_ms(w: World) -> float:
    """The simulated time the run reached. ``q.now`` is the last event's time; a run stopped
    by its bound while events were still pending simulated up to the bound (clocks far
    behind can leave the queue idle past it, and ``q.now`` stayed 0: a negative time)."""
    q = w.q
    finished = w.done >= w.target
    return q.now if finished or not len(q) else max(q.now, w.max_sim_ms())


def build_report(w: World) -> dict[str, Any]:
    cfg = w.cfg
    m = w.metrics
    canon = w.canonical
    heights = 0
    while heights + 1 in canon:
        heights += 1
    chain = [canon[h] for h in range(1, heights + 1)]
    origin = origin_ms(w)
    cycles: list[int] = []
    prev_cycle = -1
    for c in chain:
        cycles.append(c.block.header.cycle - prev_cycle)
        prev_cycle = c.block.header.cycle
    rounds = [c.round for c in chain]
    payrolls = [len(c.block.payroll) for c in chain]
    wins: dict[int, int] = {}
    trustee_li = [0] * cfg.trustees
    sponsor_li = [0] * cfg.trustees
    certs_signed = [0] * cfg.trustees
    for c in chain:
        b = c.block
        wmin = w.miner_index.get(b.header.winner_ticket.miner_pubkey, -1)
        wins[wmin] = wins.get(wmin, 0) + 1
        chk = w.hub.checks.get(b.id)
        if chk is None or chk.result is None:
            continue
        res = chk.result
        sp = w.trustee_index.get(b.header.proposer_pubkey)
        if sp is not None:
            sponsor_li[sp] += split_subsidy(res.subsidy).sponsor
        if b.last_commit is not None and b.last_commit.sigs:
            each = res.trustee_reward_paid // len(b.last_commit.sigs)
            for s in b.last_commit.sigs:
                ti = w.trustee_index.get(s.trustee_pubkey)
                if ti is not None:
                    trustee_li[ti] += each
                    certs_signed[ti] += 1
    ev = evidence_report(w, chain)
    slashed_li = ev["slashed_li"]
    net = [trustee_li[i] - slashed_li[i] for i in range(cfg.trustees)]
    final_voters: set[bytes] = set()
    if chain:
        last = w.hub.checks.get(chain[-1].block.id)
        if last is not None and last.result is not None:
            final_voters = set(last.result.active_trustees)
    by_trustee = {str(i): {"behaviour": nd.behaviour, "trustee_li": trustee_li[i],
                           "sponsor_li": sponsor_li[i], "certificates_signed": certs_signed[i],
                           "miners": len(nd.miners), "slashed_li": slashed_li[i],
                           "slashed_at_height": ev["slashed_at"][i], "net_li": net[i],
                           "evidence_reported": ev["reported"][i],
                           "evidence_reward_li": ev["reward_li"][i],
                           "active_at_end": nd.pub in final_voters}
                  for i, nd in enumerate(w.trustee_nodes)}
    by_behaviour: dict[str, dict[str, float]] = {}
    for beh in (HONEST, *BEHAVIOURS):
        group = [i for i, nd in enumerate(w.trustee_nodes) if nd.behaviour == beh]
        if group:
            k = len(group)
            by_behaviour[beh] = {
                "trustees": k,
                "mean_trustee_li": round(sum(trustee_li[i] for i in group) / k, 1),
                "min_trustee_li": min(trustee_li[i] for i in group),
                "max_trustee_li": max(trustee_li[i] for i in group),
                "mean_sponsor_li": round(sum(sponsor_li[i] for i in group) / k, 1),
                "mean_evidence_reward_li": round(sum(ev["reward_li"][i] for i in group) / k, 1),
                "slashed": sum(1 for i in group if ev["slashed_at"][i] is not None),
                "slashed_li": round(sum(slashed_li[i] for i in group) / k, 1),
                "net_li": round(sum(net[i] for i in group) / k, 1),
                "min_net_li": min(net[i] for i in group),
                "max_net_li": max(net[i] for i in group),
            }
    offline = sorted(h for h in w.offline if h <= heights)
    failovers = []
    for h in offline:
        c = canon[h]
        winner = w.miner_index.get(c.block.header.winner_ticket.miner_pubkey, -1)
        failovers.append({"height": h, "withheld_miner": w.offline[h],
                          "winner_miner": winner, "round": c.round})
    honest_heights = [len(nd.chain) for nd in w.honest]
    pow_by_epoch = pow_report(w, chain)
    report: dict[str, Any] = {
        "config": cfg.to_dict(),
        "skips_ecdsa": True,
        "heights_finalized": heights,
        "honest_min_height": min(honest_heights) if honest_heights else 0,
        "safety_violations": len(m.safety_violations),
        "safety_violation_heights": m.safety_violations[:100],
        "cycles_per_block": summary(cycles),
        "rounds_per_height": histogram(rounds),
        "payroll_sizes": summary(payrolls),
        "wins_by_miner": {str(k): wins[k] for k in sorted(wins)},
        "rewards_by_trustee": by_trustee,
        "rewards_by_behaviour": by_behaviour,
        "offline_winner_heights": failovers,
        "sim_seconds": round(max(0.0, end_ms(w) - origin) / 1000.0, 3),
        "events": w.q.events_run,
        "network": {"messages_sent": w.net.sent, "messages_lost": w.net.lost},
        "ledger_applies": w.hub.applies,
    }
    report.update(m.as_dict())
    report.update(pow_by_epoch)
    report["evidence_txs_included"] = sum(ev["reported"])
    report["slashed_total_li"] = ev["slashed_total_li"]
    report.update(tx_report(w, chain))
    if chain:
        span = chain[-1].at_ms - origin
        report["seconds_per_block"] = round(span / 1000.0 / len(chain), 3)
    else:
        report["seconds_per_block"] = None
    report["f"] = (cfg.trustees - 1) // 3
    report["liveness_bound_hit"] = heights < cfg.heights
    if w.specs:
        report.update(nodes_report(w, chain, origin))
    return report


def nodes_report(w: World, chain: list[_Canon], origin: float) -> dict[str, Any]:
    """Named nodes (a manifest): each node's part, and what the fault schedule did.

    ``faults`` lists every scheduled fault with ``applied`` (false: the run ended first),
    the simulated second it struck (counted as ``sim_seconds`` is) and ``height``, the
    finalized height then: a partition that halts finality shows the same height at the
    partition and at its heal."""
    sponsor_li: dict[int, int] = {}
    proposed: dict[int, int] = {}
    by_pub = {nd.pub: nd.idx for nd in w.nodes}
    for c in chain:
        i = by_pub.get(c.block.header.proposer_pubkey)
        if i is None:
            continue
        proposed[i] = proposed.get(i, 0) + 1
        chk = w.hub.checks.get(c.block.id)
        if chk is not None and chk.result is not None:
            sponsor_li[i] = sponsor_li.get(i, 0) + split_subsidy(chk.result.subsidy).sponsor
    nodes = {}
    for nd, spec in zip(w.nodes, w.specs, strict=True):
        state = nd.state if isinstance(nd, ScheduledNode) else UP
        nodes[spec.name] = {"index": nd.idx, "trustee": spec.trustee, "miners": spec.miners,
                            "latency_ms": spec.latency_ms, "jitter_ms": spec.jitter_ms,
                            "loss": spec.loss, "height": len(nd.chain),
                            "blocks_proposed": proposed.get(nd.idx, 0),
                            "sponsor_li": sponsor_li.get(nd.idx, 0), "state_at_end": state}
    faults = []
    for entry in w.fault_log:
        at = entry["at_sim_ms"]
        faults.append({k: v for k, v in entry.items() if k != "at_sim_ms"}
                      | {"sim_seconds": None if at is None
                         else round(max(0.0, at - origin) / 1000.0, 3)})
    first = w.faults_from_ms
    return {"manifest": w.cfg.manifest, "nodes": nodes,
            "followers": sum(1 for s in w.specs if not s.trustee),
            "first_block_sim_seconds": (None if not chain else
                                        round(max(0.0, chain[0].at_ms - origin) / 1000.0, 3)),
            "faults_from_sim_seconds": (None if first is None else
                                        round(max(0.0, first - origin) / 1000.0, 3)),
            "faults": faults, "messages_lost_at_killed_nodes": w.down_drops}
