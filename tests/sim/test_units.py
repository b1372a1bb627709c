"""The simulator's building blocks: event order, network model, overlay, config checks."""

from __future__ import annotations

import random
import statistics

import pytest

from daoli.errors import ConfigError
from daoli.sim.events import EventQueue
from daoli.sim.network import (
    LatencyModel,
    Network,
    Partition,
    build_overlay,
    partition_groups,
    sub_seed,
)
from daoli.sim.runner import SimConfig


def test_events_run_in_time_then_schedule_order() -> None:
    q = EventQueue()
    out: list[tuple[float, str]] = []

    def rec(tag: str, _: object) -> None:
        out.append((q.now, tag))

    q.at(5, rec, "b")
    q.at(1, rec, "a")
    q.at(5, rec, "c")  # same time: after "b", which was scheduled first
    q.at(9, lambda a, b: q.after(1, rec, "late"), None)
    q.run_until(100)
    assert out == [(1, "a"), (5, "b"), (5, "c"), (10, "late")]
    assert q.events_run == 5 and len(q) == 0


def test_run_until_bounds_time_and_honours_stop() -> None:
    q = EventQueue()
    count = [0]

    def tick(_a: object, _b: object) -> None:
        count[0] += 1
        q.after(1, tick)

    q.at(0, tick)
    q.run_until(50)
    assert count[0] == 51 and q.now == 50
    q.run_until(10_000, stop=lambda: count[0] >= 60, check_every=1)
    assert count[0] == 60


@pytest.mark.parametrize("kind", ["fixed", "uniform", "normal", "lognormal"])
def test_latency_models_are_positive_and_centred(kind: str) -> None:
    m = LatencyModel(kind, 50, 20, random.Random(1))
    xs = [m.sample() for _ in range(4000)]
    assert min(xs) > 0
    centre = statistics.median(xs)
    assert 40 < centre < 60
    if kind == "fixed":
        assert set(xs) == {50.0}


def test_overlay_is_connected_sparse_and_seeded() -> None:
    adj = build_overlay(100, 8, random.Random(3))
    assert adj == build_overlay(100, 8, random.Random(3))
    assert all(i not in nb for i, nb in enumerate(adj))
    assert all(j in adj[k] for j in range(100) for k in adj[j])  # undirected
    assert 7 <= statistics.mean(len(nb) for nb in adj) <= 10
    seen, todo = {0}, [0]
    while todo:
        for k in adj[todo.pop()]:
            if k not in seen:
                seen.add(k)
                todo.append(k)
    assert len(seen) == 100


def test_partitions_cut_across_groups_only_in_their_window() -> None:
    net = Network(10, seed=1, partitions=[Partition.parse("100:200:2")])
    groups = partition_groups(10, 2, random.Random(sub_seed(1, "partitions")))
    a = 0
    b = next(i for i in range(10) if groups[i] != groups[a])
    c = next(i for i in range(1, 10) if groups[i] == groups[a])
    assert net.cut(a, b, 150) and not net.cut(a, c, 150)
    assert not net.cut(a, b, 99) and not net.cut(a, b, 200)
    assert net.delay(a, b, 150) is None and net.delay(a, b, 250) is not None
    assert net.last_heal_ms() == 200


def test_loss_rate_is_respected() -> None:
    net = Network(4, seed=2, loss=0.25)
    lost = sum(net.delay(0, 1, 0) is None for _ in range(8000))
    assert 1700 < lost < 2300


@pytest.mark.parametrize("text", ["1:2", "a:b:c", "10:5:2", "0:10:1", "-1:5:2"])
def test_bad_partitions_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        Partition.parse(text)


@pytest.mark.parametrize("kw", [{"trustees": 0}, {"byzantine": 5}, {"behaviour": "evil"},
                                {"offline_winner": 2.0}, {"heavy_miner_rate": 0},
                                {"hash_time_ms": 0}, {"epoch_blocks": 0}, {"tx_rate": -1.0},
                                {"accounts": 0}])
def test_bad_configs_are_config_errors(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SimConfig(**kw).validate()  # type: ignore[arg-type]
