"""``sim``: ``daoli sim`` against its speed targets (one process, simulated ECDSA).

:data:`CONFIGS` names the simulations and their targets (SPEC of the simulator task):
``t31``, 31 trustees, 1,000 miners, 1,000 heights < 60 s; ``t100``, 100 trustees, 10,000
miners, 100 heights < 60 s. ``small`` (no target) is a quick check; ``t31tx`` (no target)
adds the transaction workload, 100 transfers per simulated second, to show what mempools and
payloads cost.

One run (:func:`one_run`) runs each named config once, each a fresh World in this process,
and returns for each NAME: ``NAME_seconds`` (wall time), ``NAME_heights_finalized``,
``NAME_safety_violations`` (must be 0) and ``NAME_events_per_s``. Key generation is cached
after the first World, so a scenario's first run can be slower than the next ones (each
run is in the JSON document's ``runs``).

    python -m bench sim [--runs 3]       # t31 and t100, medians, min and max
    python bench/sim.py                  # the same command
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from daoli.sim.runner import SimConfig, run

CONFIGS: dict[str, tuple[SimConfig, float | None]] = {
    "small": (SimConfig(trustees=7, miners=100, heights=100, seed=1), None),
    "t31": (SimConfig(trustees=31, miners=1_000, heights=1_000, seed=1), 60.0),
    "t100": (SimConfig(trustees=100, miners=10_000, heights=100, seed=1), 60.0),
    "t31tx": (SimConfig(trustees=31, miners=1_000, heights=100, seed=1, tx_rate=100.0), None),
}
SCALE_TARGETS = ("t31", "t100")
"""The configs the ``sim`` scenario runs: the two with a target."""


def one_run(names: Sequence[str] = SCALE_TARGETS) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in names:
        cfg, _ = CONFIGS[name]
        t0 = time.perf_counter()
        report = run(cfg)
        seconds = time.perf_counter() - t0
        out[f"{name}_seconds"] = seconds
        out[f"{name}_heights_finalized"] = report["heights_finalized"]
        out[f"{name}_safety_violations"] = report["safety_violations"]
        out[f"{name}_events_per_s"] = report["events"] / seconds
    return out


if __name__ == "__main__":  # python bench/sim.py: the harness's ``sim`` scenario
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.__main__ import main

    raise SystemExit(main(["sim", *sys.argv[1:]]))
