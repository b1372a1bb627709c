"""Benchmark of ``daoli sim`` against its speed targets (one process, simulated ECDSA).

    python bench/sim.py               # every config below, 3 runs each
    python bench/sim.py --repeat 1    # one run each
    python bench/sim.py --only small  # just one config (small | t31 | t100 | t31tx)

Targets (SPEC of the simulator task): 31 trustees, 1,000 miners, 1,000 heights < 60 s; 100
trustees, 10,000 miners, 100 heights < 60 s. ``t31tx`` (no target) adds the transaction
workload, 100 transfers per simulated second, to show what mempools and payloads cost. Each
run is a fresh World in this process; key generation is cached after the first run, so the
first run of a config is reported too.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

from daoli.sim.runner import SimConfig, run

CONFIGS: dict[str, tuple[SimConfig, float | None]] = {
    "small": (SimConfig(trustees=7, miners=100, heights=100, seed=1), None),
    "t31": (SimConfig(trustees=31, miners=1_000, heights=1_000, seed=1), 60.0),
    "t100": (SimConfig(trustees=100, miners=10_000, heights=100, seed=1), 60.0),
    "t31tx": (SimConfig(trustees=31, miners=1_000, heights=100, seed=1, tx_rate=100.0), None),
}


def machine() -> str:
    return (f"{platform.platform()} | {platform.processor() or platform.machine()} | "
            f"{os.cpu_count()} CPUs | Python {platform.python_version()} "
            f"({platform.python_implementation()})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=sorted(CONFIGS), action="append")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    failed = False
    for name in args.only or list(CONFIGS):
        cfg, target = CONFIGS[name]
        times: list[float] = []
        report = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            report = run(cfg)
            times.append(time.perf_counter() - t0)
        assert report is not None
        med = statistics.median(times)
        verdict = ""
        if target is not None:
            ok = med < target
            failed |= not ok
            verdict = f"  target < {target:.0f} s: {'MET' if ok else 'MISSED'}"
        print(f"{name}: {cfg.trustees} trustees, {cfg.miners} miners, {cfg.heights} heights: "
              f"median {med:.2f} s over {len(times)} runs "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)}){verdict}")
        print(f"    finalized {report['heights_finalized']}, safety violations "
              f"{report['safety_violations']}, events {report['events']:,}, "
              f"{report['events'] / med:,.0f} events/s, relays/node/draw "
              f"{report['relayed_tickets_per_node_per_draw']['mean']}")
        if cfg.tx_rate:
            print(f"    txs finalized {report['txs_included']:,} of {report['txs_submitted']:,}, "
                  f"per block {report['txs_per_block']['mean']}, latency median "
                  f"{report['tx_latency_ms']['median']:.0f} ms, largest mempool "
                  f"{report['mempool_max']:,}")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
