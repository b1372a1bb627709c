"""Helpers for the simulator tests: small configs so the whole directory runs in a minute."""

from __future__ import annotations

from typing import Any

from daoli.sim.network import Partition
from daoli.sim.runner import SimConfig, World, build_report


def sim(**kw: Any) -> dict[str, Any]:
    """Run a simulation and return its report (without wall time, for comparisons)."""
    world = run_world(**kw)
    return build_report(world)


def run_world(**kw: Any) -> World:
    parts = kw.pop("partitions", ())
    cfg = SimConfig(partitions=tuple(Partition.parse(p) if isinstance(p, str) else p
                                     for p in parts), **kw)
    cfg.validate()
    world = World(cfg)
    world.run()
    return world
