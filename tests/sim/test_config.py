"""SimConfig refuses values that would make a run meaningless, crash it or run it for ever;
the report it leads to never holds a negative or undefined figure."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from daoli.core.params import ChainParams
from daoli.errors import ConfigError
from daoli.sim.behaviours import BEHAVIOURS
from daoli.sim.network import LATENCY_KINDS, Partition
from daoli.sim.runner import (
    BOUNDS,
    GENESIS_TIME_MS,
    MAX_DELAY_MS,
    MAX_PARAM,
    MAX_PARTITIONS,
    MAX_SEED,
    MAX_SIM_MS,
    MAX_TRUSTEES,
    MAX_WORK,
    SimConfig,
    World,
    build_report,
    origin_ms,
    parse_partition,
    run,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("changes", [
    {"clock_skew_ms": -1.0}, {"max_sim_ms": -1}, {"latency_ms": math.inf},
    {"jitter_ms": math.nan}, {"loss": math.nan}, {"heavy_miner_rate": math.inf},
])
def test_bad_values_are_config_errors(changes: dict) -> None:
    with pytest.raises(ConfigError):
        SimConfig(**changes).validate()


def test_defaults_are_valid() -> None:
    SimConfig().validate()


def _above(bound: Any) -> int | float:
    """The smallest value past the upper bound."""
    if bound.below_high:
        return bound.high
    return bound.high + 1 if bound.integer else math.nextafter(float(bound.high), math.inf)


def _below(bound: Any) -> int | float:
    if bound.integer:
        return bound.low - 1
    return math.nextafter(float(bound.low), -math.inf)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_every_bound_holds_exactly_at_its_edges(name: str) -> None:
    """Each option alone, others at their defaults: both ends accepted, one step past them
    refused with a one-line message naming the option and its range."""
    bound = BOUNDS[name]
    top = math.nextafter(float(bound.high), 0.0) if bound.below_high else bound.high
    for ok in (bound.low, top) + ((0,) if bound.zero else ()):
        SimConfig(**{name: ok}).validate()
    bad_values = [v for v in (_above(bound), _below(bound)) if not (bound.zero and v == 0)]
    if bound.zero and not bound.integer:
        bad_values.append(1e-308)  # between the "off" value 0 and the smallest rate
    for bad in bad_values:
        with pytest.raises(ConfigError) as info:
            SimConfig(**{name: bad}).validate()
        message = str(info.value)
        assert "\n" not in message
        assert bound.option in message and bound.describe() in message


def test_trustee_limit_is_the_genesis_limit() -> None:
    """The documented limit is the one a genesis enforces: 100 builds, 101 is refused by
    SimConfig (before, 1,000 were 'allowed' and the genesis refused 101 with an error that
    named no option)."""
    assert MAX_TRUSTEES == ChainParams().max_trustees == 100
    cfg = SimConfig(trustees=MAX_TRUSTEES, miners=1, heights=1)
    cfg.validate()
    assert len(World(cfg).genesis.trustees) == MAX_TRUSTEES
    with pytest.raises(ConfigError, match="--trustees must be an integer from 1 to 100"):
        SimConfig(trustees=MAX_TRUSTEES + 1).validate()


FLOAT_FIELDS = sorted(name for name, b in BOUNDS.items() if not b.integer)
EXTREMES = [math.inf, -math.inf, math.nan, 1e308, -1e308, 1e-308, -1e-308, 5e-324,
            10 ** 400, -(10 ** 400)]


@pytest.mark.parametrize("name", FLOAT_FIELDS)
def test_extreme_numbers_are_refused_or_handled_never_crash(name: str) -> None:
    """inf, nan, 1e308, 1e-308 and huge integers give a ConfigError or a valid config,
    never OverflowError, ZeroDivisionError or a decimal error; work() stays finite."""
    for value in EXTREMES:
        cfg = SimConfig(**{name: value})
        try:
            cfg.validate()
        except ConfigError as exc:
            assert BOUNDS[name].option in str(exc) and len(str(exc)) < 200
        else:
            assert math.isfinite(cfg.work())


@pytest.mark.parametrize("changes", [
    {"trustees": True}, {"trustees": 4.0}, {"heights": "20"}, {"latency_ms": "5"},
    {"seed": MAX_SEED + 1}, {"seed": -1}, {"seed": 10 ** 5000}, {"pow": 1},
    {"byzantine": 5}, {"byzantine": -1}, {"byzantine": 1.0}, {"latency": "cauchy"},
    {"behaviour": "[/x]"}, {"pow_difficulty": MAX_PARAM + 1}, {"diameter": 0},
    {"tx_rate": 1e-308}, {"degree": 0}, {"cycle_ms": 0}, {"phi_ms": 2_000},
])
def test_wrong_types_and_values_are_config_errors(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        SimConfig(**changes).validate()
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_seed_takes_every_64_bit_value() -> None:
    for seed in (0, MAX_SEED):
        SimConfig(seed=seed).validate()


@pytest.mark.parametrize("text", [
    "1e308:5:2", "-1:5:2", "0:inf:2", "0:nan:2", "0:10:-2", "0:10:2.0", "9" * 5000 + ":1:2",
    "\u0663:5:2", " 1:5:2", "1_0:20:2", "0:10", "0:10:2:3", "", "0:10:2\n",
])
def test_malformed_partitions_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_partition(text)
    message = str(info.value)
    assert message.startswith("--partition") and len(message) < 300 and "\n" not in message


def test_partitions_are_bounded() -> None:
    assert parse_partition("5000:15000:2") == Partition(5000, 15000, 2)
    SimConfig(partitions=(Partition(0, MAX_SIM_MS, 4),)).validate()
    for p in (Partition(0, MAX_SIM_MS + 1, 2), Partition(10, 10, 2), Partition(0, 10, 5),
              Partition(0, 10, 1), Partition(-1, 10, 2), Partition(0, 10 ** 30, 2)):
        with pytest.raises(ConfigError, match="--partition"):
            SimConfig(partitions=(p,)).validate()
    with pytest.raises(ConfigError, match=f"at most {MAX_PARTITIONS}"):
        SimConfig(partitions=(Partition(0, 10, 2),) * (MAX_PARTITIONS + 1)).validate()


def test_simulated_time_bound_is_derived_and_capped() -> None:
    assert SimConfig().sim_bound_ms() == 291_000  # 1,000 + 20 x 13,000 + 30,000
    assert SimConfig(heights=10, partitions=(Partition(0, 50_000, 2),)).sim_bound_ms() \
        == 1_000 + 50_000 + 130_000 + 30_000
    assert SimConfig(max_sim_ms=5_000).sim_bound_ms() == 5_000
    assert SimConfig(heights=BOUNDS["heights"].high).sim_bound_ms() == MAX_SIM_MS


def _bench_configs() -> dict[str, tuple[SimConfig, float | None]]:
    spec = importlib.util.spec_from_file_location("bench_sim", ROOT / "bench" / "sim.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CONFIGS


def test_work_bound_admits_the_benchmarks_and_refuses_typos() -> None:
    for cfg, _ in _bench_configs().values():
        cfg.validate()  # bench/sim.py's runs, e.g. 100 trustees x 10,000 miners x 100 heights
    for typo in (SimConfig(trustees=100, miners=10_000, heights=1_000),
                 SimConfig(trustees=31, miners=1_000, heights=40_000),
                 SimConfig(miners=100_000, max_sim_ms=MAX_SIM_MS),
                 SimConfig(pow=True, hash_time_ms=0.001, heavy_miner_rate=1e6),
                 SimConfig(tx_rate=10_000, trustees=100, heights=100)):
        assert typo.work() > MAX_WORK
        with pytest.raises(ConfigError, match="the run is too large") as info:
            typo.validate()
        assert "--heights" in str(info.value) and "\n" not in str(info.value)


# --- the report ------------------------------------------------------------------------------

SIGNED = ("net_li",)
"""The only figures that may be negative: a trustee's reward minus its slashed bond."""


def _numbers(value: Any, path: str = "") -> list[tuple[str, float]]:
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _numbers(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _numbers(v, f"{path}[{i}]")]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [(path, value)]
    return []


def assert_report_is_sane(report: dict[str, Any]) -> None:
    json.dumps(report, allow_nan=False)  # what emit() does: NaN or inf would raise here
    for path, value in _numbers(report):
        assert math.isfinite(value), (path, value)
        if not any(s in path for s in SIGNED):
            assert value >= 0, (path, value)
    assert report["sim_seconds"] >= 0
    spb = report["seconds_per_block"]
    assert (spb is None) == (report["heights_finalized"] == 0)


def test_clocks_ahead_of_true_time_give_no_negative_block_times() -> None:
    """Trustees whose clocks run ahead start the chain before the true genesis time; block
    times counted from that true time came out negative (e.g. -0.134 s/block). They now
    count from the first trustee's clock reading the genesis time."""
    for seed, skew in [(36, 1_500), (18, 3_000), *((s, 1_500) for s in range(8))]:
        cfg = SimConfig(trustees=4, miners=10, heights=1, seed=seed, clock_skew_ms=skew)
        world = World(cfg)
        ahead = max(0.0, *(n.skew for n in world.nodes))
        assert origin_ms(world) == max(0.0, GENESIS_TIME_MS - ahead)
        world.run()
        report = build_report(world)
        assert_report_is_sane(report)
        for c in world.canonical.values():
            assert c.at_ms >= origin_ms(world)


def test_clocks_far_behind_report_the_time_simulated() -> None:
    """Clocks far behind leave the queue idle past the bound: the run still simulated up to
    the bound (sim_seconds was -1.0, from the idle queue's time 0)."""
    cfg = SimConfig(trustees=4, miners=10, heights=1, seed=2, clock_skew_ms=1_000_000,
                    max_sim_ms=20_000)
    world = World(cfg)
    assert all(n.skew < -30_000 for n in world.nodes)  # this seed: every clock far behind
    world.run()
    report = build_report(world)
    assert_report_is_sane(report)
    assert report["heights_finalized"] == 0
    assert report["sim_seconds"] == (20_000 - GENESIS_TIME_MS) / 1000


def test_no_honest_trustee_gives_a_zero_not_negative_time() -> None:
    report = run(SimConfig(trustees=4, miners=5, heights=2, byzantine=4))
    assert_report_is_sane(report)
    assert report["sim_seconds"] == 0 and report["seconds_per_block"] is None


_MS = st.sampled_from([0.0, 1e-308, 0.05, 1.0, 50.0, 1_000.0, 100_000.0, float(MAX_DELAY_MS)])


@st.composite
def extreme_configs(draw: st.DrawFn) -> SimConfig:
    partitions: tuple[Partition, ...] = ()
    if draw(st.booleans()):
        start = draw(st.integers(0, 5_000))
        partitions = (Partition(start, draw(st.integers(start + 1, 20_000)),
                                draw(st.integers(2, 4))),)
    return SimConfig(
        trustees=4, miners=draw(st.integers(5, 20)), heights=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, MAX_SEED)), latency=draw(st.sampled_from(LATENCY_KINDS)),
        latency_ms=draw(_MS), jitter_ms=draw(_MS), clock_skew_ms=draw(_MS),
        relay_hold_ms=draw(_MS),
        loss=draw(st.sampled_from([0.0, 1e-308, 0.1, 0.5, 0.9, math.nextafter(1.0, 0.0)])),
        partitions=partitions, byzantine=draw(st.integers(0, 4)),
        behaviour=draw(st.sampled_from(BEHAVIOURS)),
        offline_winner=draw(st.sampled_from([0.0, 1e-308, 0.5, 1.0])),
        pow=draw(st.booleans()),
        pow_difficulty=draw(st.sampled_from([1, 16, 1 << 20, MAX_PARAM])),
        hash_time_ms=draw(st.sampled_from([0.001, 1.0, 10.0, 10_000.0, float(MAX_DELAY_MS)])),
        heavy_miner_rate=draw(st.sampled_from([0.001, 1.0, 1_000.0, 1e6])),
        epoch_blocks=draw(st.sampled_from([1, 2, 32, MAX_PARAM])),
        diameter=draw(st.sampled_from([1, 16, 1_000, MAX_PARAM])),
        max_sim_ms=draw(st.sampled_from([0, 1, 1_000, 20_000])),
        evidence=draw(st.booleans()),
        tx_rate=draw(st.sampled_from([0.0, 0.001, 1.0, 100.0])),
        accounts=draw(st.integers(1, 50)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extreme_configs())
def test_reports_of_extreme_configs_are_finite_and_non_negative(cfg: SimConfig) -> None:
    try:
        cfg.validate()
    except ConfigError:
        assume(False)
    assume(cfg.work() <= 500_000)  # a tenth of a second at most
    assert_report_is_sane(run(cfg))
