"""SimConfig refuses values that would make a run meaningless or non-deterministic."""

from __future__ import annotations

import math

import pytest

from daoli.errors import ConfigError
from daoli.sim.runner import SimConfig


@pytest.mark.parametrize("changes", [
    {"clock_skew_ms": -1.0}, {"max_sim_ms": -1}, {"latency_ms": math.inf},
    {"jitter_ms": math.nan}, {"loss": math.nan}, {"heavy_miner_rate": math.inf},
])
def test_bad_values_are_config_errors(changes: dict) -> None:
    with pytest.raises(ConfigError):
        SimConfig(**changes).validate()


def test_defaults_are_valid() -> None:
    SimConfig().validate()
