"""The scenarios of ``python -m bench``: what one run of each does, and which of the numbers
it returns are its metrics, with the issue's targets.

A scenario's ``run`` does ONE run in a fresh temporary directory and returns a flat dict:
numbers (``None`` for "not measured"), plus at most a few strings (``note``) or one-level
dicts of numbers (tps' ``cpu_cores`` and ``rss_mib``). The harness (:mod:`bench.__main__`)
repeats it, takes medians, min and max, and judges the medians against the targets. Each
scenario's module is imported only when it runs: ``tps`` and ``node`` import the node
stack, ``sync`` may not exist yet, and ``--list`` should cost nothing.

:data:`SCENARIOS` is in the order the harness runs them, whatever order they are asked for
in: ``tps`` comes before ``verify-limit``, which divides the committed tx/s of the same
invocation by the verification ceiling it measures.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Op = Literal[">=", ">", "<=", "<"]
Better = Literal["higher", "lower"]
Raw = dict[str, Any]
"""One run's result: a flat dict of numbers (and the odd note or dict of numbers)."""

DEFAULT_SIM_CONFIGS = ("t31", "t100")


@dataclass(frozen=True)
class Metric:
    """One number a scenario reports. ``target`` is ``(op, value)``: the median meets it when
    ``median op value`` holds. ``better`` says which way is an improvement (``None`` for a
    count or a setting, e.g. how many transfers a run sent)."""

    key: str
    label: str
    unit: str
    target: tuple[Op, float] | None = None
    better: Better | None = None

    def __post_init__(self) -> None:
        if self.target is not None:
            op = self.target[0]
            if op not in (">=", ">", "<=", "<"):
                raise ValueError(f"{self.key}: unknown target operator {op!r}")
            if self.better is not None and (op[0] == ">") != (self.better == "higher"):
                raise ValueError(f"{self.key}: target {op} contradicts better={self.better}")

    def meets(self, value: float | None) -> bool | None:
        """Whether ``value`` meets the target; ``None`` without a target or a value."""
        if self.target is None or value is None:
            return None
        op, bound = self.target
        if op == ">=":
            return value >= bound
        if op == ">":
            return value > bound
        if op == "<=":
            return value <= bound
        return value < bound


@dataclass(frozen=True)
class Options:
    """What the command line sets for the runs; ``run_index`` and ``earlier`` are set by
    the harness for each run (``earlier``: the raw runs of the scenarios already done in
    this invocation, by name)."""

    transfers: int = 20_000
    senders: int = 100
    sync_blocks: int = 5_000
    profile: Path | None = None
    verify_txs: int = 5_000
    ledger_txs: int = 1_000
    ledger_blocks: int = 10
    node_transfers: int = 5_000
    latency_txs: int = 30
    startup_nodes: int = 4
    sim_configs: tuple[str, ...] = DEFAULT_SIM_CONFIGS
    run_index: int = 0
    earlier: Mapping[str, Sequence[Raw]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.senders < 1 or self.transfers < self.senders:
            raise ValueError("need --senders >= 1 and --transfers >= --senders")
        if self.node_transfers < self.senders:
            raise ValueError("need --node-transfers >= --senders")
        for name in ("sync_blocks", "verify_txs", "ledger_txs", "latency_txs"):
            if getattr(self, name) < 1:
                raise ValueError(f"need --{name.replace('_', '-')} >= 1")
        if self.ledger_blocks < 2:
            raise ValueError("need --ledger-blocks >= 2")
        if self.startup_nodes < 1:
            raise ValueError("need --startup-nodes >= 1")
        if not self.sim_configs:
            raise ValueError("need at least one --sim-configs name")


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    run: Callable[[Options, Path], Raw]
    metrics: tuple[Metric, ...]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# --- tps and verify-limit ------------------------------------------------------------------

def run_tps(opts: Options, root: Path) -> Raw:
    from bench import tps

    profile = (opts.profile / f"tps-run{opts.run_index + 1}") if opts.profile else None
    return tps.one_run(root, transfers=opts.transfers, senders=opts.senders, profile=profile)


def _signed_transactions(n: int) -> list[Any]:
    """``n`` transfers from ``n`` distinct keys, decoded from their bytes as a node gets
    them (no encoding or id cached on the objects)."""
    from daoli.core.address import address_bytes_of
    from daoli.core.crypto import pubkey_from_secret
    from daoli.core.tx import Transaction, Transfer

    to = address_bytes_of(pubkey_from_secret(hashlib.sha256(b"bench-verify/to").digest()))
    out = []
    for i in range(n):
        key = hashlib.sha256(b"bench-verify/%d" % i).digest()
        tx = Transaction("bench-verify", pubkey_from_secret(key), i, 1_000,
                         Transfer(to, 1 + i)).signed(key)
        out.append(Transaction.decode(tx.encoded))
    return out


def verify_rates(n: int) -> Raw:
    """Verifications per second on this core: ``Transaction.verify_sig`` (what a node's
    verifier calls: signing bytes, SHA-256, secp256k1), ``daoli.core.crypto.verify`` on the
    prepared bytes, and bare coincurve (as ``bench/ledger.py``)."""
    from bench.ledger import raw_verify_rate
    from daoli.core.crypto import verify

    txs = _signed_transactions(n)
    t = time.perf_counter()
    for tx in txs:
        if not tx.verify_sig():
            raise RuntimeError("a benchmark transaction did not verify")
    tx_rate = n / (time.perf_counter() - t)
    items = [(tx.sender_pubkey, tx.sig, tx.signing_bytes()) for tx in txs]
    t = time.perf_counter()
    for pub, sig, msg in items:
        if not verify(pub, sig, msg):
            raise RuntimeError("a benchmark signature did not verify")
    crypto_rate = n / (time.perf_counter() - t)
    return {"verify_txs": n, "verify_per_s_per_core": tx_rate,
            "crypto_verify_per_s": crypto_rate, "coincurve_verify_per_s": raw_verify_rate(n)}


def run_verify_limit(opts: Options, root: Path) -> Raw:
    """The ratio asks how close the devnet comes to the ceiling set by signatures alone:
    every node verifies every transaction once, so ``cores`` cores shared by ``nodes``
    nodes commit at most ``cores x verify rate / nodes`` tx/s."""
    out = verify_rates(opts.verify_txs)
    cores = os.cpu_count() or 1
    out["cores"] = cores
    tps_runs = [r for r in opts.earlier.get("tps", ()) if _number(r.get("tps")) is not None]
    if not tps_runs:
        out.update(tps_median=None, nodes=None, verify_ceiling_tps=None, ratio=None,
                   note="ratio: run with tps")
        return out
    tps = statistics.median(float(r["tps"]) for r in tps_runs)
    nodes = int(tps_runs[0]["nodes"])
    ceiling = cores * out["verify_per_s_per_core"] / nodes
    out.update(tps_median=tps, nodes=nodes, verify_ceiling_tps=ceiling, ratio=tps / ceiling)
    return out


# --- the others ----------------------------------------------------------------------------

def run_startup(opts: Options, root: Path) -> Raw:
    from bench import devnet

    return devnet.one_run(root, opts.startup_nodes)


def run_sync(opts: Options, root: Path) -> Raw:
    try:
        sync: Any = importlib.import_module("bench.sync")
    except ModuleNotFoundError as exc:
        if exc.name != "bench.sync":
            raise
        raise RuntimeError("bench/sync.py is not there yet") from None
    result: Raw = sync.one_run(root, blocks=opts.sync_blocks)
    return result


def run_sim(opts: Options, root: Path) -> Raw:
    from bench import sim

    return dict(sim.one_run(opts.sim_configs))


def run_ledger(opts: Options, root: Path) -> Raw:
    from bench import block_apply, ledger

    out: Raw = dict(ledger.one_run(root, opts.ledger_txs, opts.ledger_blocks))
    out.update(block_apply.one_run(opts.ledger_txs))
    return out


def run_node(opts: Options, root: Path) -> Raw:
    from bench import node

    return dict(node.one_run(root, opts.node_transfers, opts.senders, opts.latency_txs))


def _m(key: str, label: str, unit: str, better: Better | None = None,
       target: tuple[Op, float] | None = None) -> Metric:
    return Metric(key, label, unit, target, better)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("tps", "committed transfers/s of a 4-node devnet with BFT finality", run_tps, (
        _m("tps", "committed transfers", "tx/s", "higher", (">=", 2_000)),
        _m("p50_cycles", "submit-to-final p50", "cycles", "lower", ("<=", 1.5)),
        _m("p99_cycles", "submit-to-final p99", "cycles", "lower"),
        _m("p50_ms", "submit-to-final p50", "ms", "lower"),
        _m("p99_ms", "submit-to-final p99", "ms", "lower"),
        _m("submit_rate", "accepted by the APIs", "tx/s", "higher"),
        _m("max_node_rss_mib", "largest node RSS after", "MiB", "lower", ("<", 200)),
        _m("blocks", "blocks announced", ""),
    )),
    Scenario("verify-limit", "signature verifications per core, and tps against that ceiling",
             run_verify_limit, (
        _m("verify_per_s_per_core", "Transaction.verify_sig", "/s/core", "higher"),
        _m("crypto_verify_per_s", "daoli.core.crypto.verify", "/s/core", "higher"),
        _m("coincurve_verify_per_s", "bare coincurve verify", "/s/core", "higher"),
        _m("tps_median", "tps median of this invocation", "tx/s", "higher"),
        _m("verify_ceiling_tps", "cores x verify rate / nodes", "tx/s", "higher"),
        _m("ratio", "tps / that ceiling", "", "higher", (">=", 0.2)),
    )),
    Scenario("startup", "devnet up (4 nodes) to the first finalized block and height 10",
             run_startup, (
        _m("first_block_s", "devnet up to first final block", "s", "lower", ("<", 5.0)),
        _m("node_reported_first_block_s", "nodes started to first block", "s", "lower"),
        _m("height_10_s", "devnet up to height 10", "s", "lower"),
    )),
    Scenario("sync", "a fresh node catching up on a stored chain", run_sync, (
        _m("trusted_blocks_per_s", "trusting certificates", "blocks/s", "higher",
           (">=", 1_000)),
        _m("verified_blocks_per_s", "verifying every block", "blocks/s", "higher"),
        _m("trusted_seconds", "trusting certificates", "s", "lower"),
        _m("verified_seconds", "verifying every block", "s", "lower"),
    )),
    Scenario("sim", "the simulator's two scale targets (t31, t100 in bench/sim.py)", run_sim, (
        _m("t31_seconds", "31 trustees, 1,000 miners, 1,000 heights", "s", "lower",
           ("<", 60.0)),
        _m("t100_seconds", "100 trustees, 10,000 miners, 100 heights", "s", "lower",
           ("<", 60.0)),
        _m("t31_safety_violations", "t31 safety violations", "", "lower", ("<=", 0)),
        _m("t100_safety_violations", "t100 safety violations", "", "lower", ("<=", 0)),
    )),
    Scenario("ledger", "the ledger on one core: verify, apply, commit to LMDB", run_ledger, (
        _m("raw_verify_per_s", "bare coincurve verify", "/s", "higher"),
        _m("transfers_applied_per_s", "transfers applied, all verified", "tx/s", "higher"),
        _m("ratio_to_raw", "applied / raw verify", "", "higher", (">=", 0.6)),
        _m("apply_verified_txs_per_s", "applied with verified_txs", "tx/s", "higher"),
        _m("admit_then_apply_ms", "admission + apply of a block", "ms", "lower"),
        _m("blocks_committed_per_s", "blocks committed (fsync on)", "blocks/s", "higher"),
        _m("commit_block_ms", "commit_block alone", "ms", "lower"),
    )),
    Scenario("node", "real node processes: start, latency, one node's tx/s, idle RSS",
             run_node, (
        _m("start_1_node_s", "1 node: start to first block", "s", "lower"),
        _m("start_2_nodes_s", "2 nodes: start to first block", "s", "lower"),
        _m("latency_p50_ms", "single transfer to final p50", "ms", "lower"),
        _m("latency_p99_ms", "single transfer to final p99", "ms", "lower"),
        _m("node_tps", "committed transfers, 1 node", "tx/s", "higher"),
        _m("idle_rss_mib", "idle RSS", "MiB", "lower"),
    )),
)


def select(names: Sequence[str],
           registry: Sequence[Scenario] = SCENARIOS) -> list[Scenario]:
    """The named scenarios (``all``: every one) in the registry's order, each once; an
    unknown name raises ``KeyError`` with that name."""
    known = {s.name for s in registry}
    for name in names:
        if name != "all" and name not in known:
            raise KeyError(name)
    wanted = known if "all" in names else set(names)
    return [s for s in registry if s.name in wanted]
