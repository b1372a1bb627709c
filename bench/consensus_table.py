"""The table of simulator results in docs/consensus.md, produced by running `daoli sim`'s
engine over a grid of network latencies and Byzantine behaviours.

    python bench/consensus_table.py [--seeds 3] [--trustees 10] [--miners 300] [--heights 40]

Prints a Markdown table (one row per setting, means over the seeds). With n trustees the
Byzantine rows use K = f = (n-1)//3, the most the protocol tolerates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from daoli.sim.runner import SimConfig, run

LATENCIES = [
    ("LAN: fixed 5 ms", dict(latency="fixed", latency_ms=5.0, jitter_ms=0.0)),
    ("WAN: lognormal 50 ms, jitter 30", dict(latency="lognormal", latency_ms=50.0, jitter_ms=30.0)),
    ("far: lognormal 150 ms, jitter 80, 2 % loss",
     dict(latency="lognormal", latency_ms=150.0, jitter_ms=80.0, loss=0.02)),
]
BEHAVIOURS = ["none", "silent", "equivocate", "vote-unlucky", "withhold-proposal", "late-tickets"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trustees", type=int, default=10)
    ap.add_argument("--miners", type=int, default=300)
    ap.add_argument("--heights", type=int, default=40)
    args = ap.parse_args()
    f = (args.trustees - 1) // 3
    print(f"{args.trustees} trustees (f = {f}), {args.miners} miners, {args.heights} heights, "
          f"seeds 1..{args.seeds}; means over seeds\n")
    print("| network | Byzantine (K) | finalized | cycles/block | rounds/height (mean, max) "
          "| relayed tickets/node/draw | messages/height | safety violations |")
    print("|---|---|---|---|---|---|---|---|")
    t0 = time.perf_counter()
    for lat_name, lat in LATENCIES:
        for behaviour in BEHAVIOURS:
            rows = []
            for seed in range(1, args.seeds + 1):
                cfg = SimConfig(trustees=args.trustees, miners=args.miners,
                                heights=args.heights, seed=seed,
                                byzantine=0 if behaviour == "none" else f,
                                behaviour="silent" if behaviour == "none" else behaviour,
                                **lat)  # type: ignore[arg-type]
                rows.append(run(cfg))
            fin = statistics.mean(r["heights_finalized"] / args.heights for r in rows)
            cpb = statistics.mean(r["cycles_per_block"]["mean"] for r in rows)
            rounds = [int(k) for r in rows for k, v in r["rounds_per_height"].items()
                      for _ in range(v)]
            relayed = statistics.mean(r["relayed_tickets_per_node_per_draw"]["mean"]
                                      for r in rows)
            msgs = statistics.mean(r["network"]["messages_sent"] / max(1, r["heights_finalized"])
                                   for r in rows)
            unsafe = sum(r["safety_violations"] for r in rows)
            byz = "none" if behaviour == "none" else f"{behaviour} ({f})"
            print(f"| {lat_name} | {byz} | {fin:.0%} | {cpb:.2f} | "
                  f"{statistics.mean(rounds) if rounds else 0:.2f}, {max(rounds, default=0)} | "
                  f"{relayed:.1f} | {msgs:,.0f} | {unsafe} |")
            sys.stdout.flush()
    print(f"\n(wall time {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
