"""``python -m bench``: medians, min, max and verdicts come out right, the JSON document keeps
its schema, and a bad name or a failing scenario is reported, not a traceback."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.__main__ import SCHEMA, aggregate, main, run_all
from bench.scenarios import SCENARIOS, Metric, Options, Scenario, run_verify_limit, select

ROOT = Path(__file__).resolve().parents[2]


def _fake(name: str, runs: list[dict[str, Any] | Exception],
          metrics: tuple[Metric, ...] = ()) -> Scenario:
    """A scenario returning ``runs`` one after the other (an exception is raised)."""
    it = iter(runs)

    def run(opts: Options, root: Path) -> dict[str, Any]:
        assert root.is_dir()  # each run gets its own fresh directory
        r = next(it)
        if isinstance(r, Exception):
            raise r
        return r

    return Scenario(name, f"fake {name}", run, metrics)


FAST = Metric("rate", "rate", "/s", (">=", 10.0), "higher")
SLOW = Metric("lag", "lag", "s", ("<", 1.5), "lower")


def test_median_min_max_and_verdicts() -> None:
    sc = _fake("x", [], (FAST, SLOW, Metric("n", "count", "")))
    runs = [{"rate": 9.0, "lag": 1.0, "n": 3, "cpu": {"a": 0.5, "b": 1.5}, "note": "hi"},
            {"rate": 12.0, "lag": 2.0, "n": 3, "cpu": {"a": 0.7, "b": 1.0}},
            {"rate": 11.0, "lag": 1.4, "n": 3, "cpu": {"a": 0.6, "b": 2.0}, "extra_ms": 4}]
    m = aggregate(sc, runs)
    assert list(m)[:3] == ["rate", "lag", "n"]  # declared first, in order
    assert (m["rate"]["median"], m["rate"]["min"], m["rate"]["max"]) == (11.0, 9.0, 12.0)
    assert m["rate"]["met"] is True and m["rate"]["target"] == {"op": ">=", "value": 10.0}
    assert (m["lag"]["median"], m["lag"]["met"]) == (1.4, True)
    assert m["n"]["met"] is None and m["n"]["target"] is None
    # undeclared numbers and one-level dicts of numbers are summarized too, strings are not
    assert m["cpu.a"]["median"] == 0.6 and m["cpu.b"]["max"] == 2.0
    assert m["extra_ms"]["median"] == 4.0 and m["extra_ms"]["unit"] == "ms"
    assert "note" not in m


def test_missed_targets_both_ways_and_missing_values() -> None:
    sc = _fake("x", [], (FAST, SLOW))
    m = aggregate(sc, [{"rate": 5.0, "lag": 1.5}, {"rate": 9.9, "lag": 3.0},
                       {"rate": math.nan, "lag": None}])
    assert (m["rate"]["median"], m["rate"]["met"]) == (pytest.approx(7.45), False)
    assert (m["lag"]["median"], m["lag"]["met"]) == (2.25, False)  # "<": 1.5 itself misses
    empty = aggregate(sc, [])
    assert empty["rate"] == {**empty["rate"], "median": None, "min": None, "max": None,
                             "met": None}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=9),
       st.floats(-1e9, 1e9, allow_nan=False))
def test_verdict_is_the_median_against_the_target(values: list[float], bound: float) -> None:
    hi = Metric("v", "v", "", (">=", bound), "higher")
    lo = Metric("v", "v", "", ("<=", bound), "lower")
    runs = [{"v": v} for v in values]
    a, b = aggregate(_fake("h", [], (hi,)), runs)["v"], aggregate(_fake("l", [], (lo,)), runs)["v"]
    assert a["min"] <= a["median"] <= a["max"]
    assert a["met"] == (a["median"] >= bound) and b["met"] == (b["median"] <= bound)


def test_a_target_must_agree_with_better() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        Metric("x", "x", "", (">=", 1), "lower")


def test_registry_order_and_all() -> None:
    names = [s.name for s in SCENARIOS]
    assert names == ["tps", "verify-limit", "startup", "sync", "sim", "ledger", "node"]
    assert [s.name for s in select(["verify-limit", "tps", "tps"])] == ["tps", "verify-limit"]
    assert [s.name for s in select(["all"])] == names
    with pytest.raises(KeyError):
        select(["tps", "nosuch"])


def test_a_failing_scenario_is_recorded_and_the_others_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _fake("good", [{"rate": 20.0}] * 3, (FAST,))
    bad = _fake("bad", [{"rate": 1.0}, RuntimeError("disk on fire\nsecond line")], (FAST,))
    out = tmp_path / "r.json"
    code = main(["bad", "good", "--json", str(out)], registry=(bad, good), log=lambda s: None)
    assert code == 1
    doc = json.loads(out.read_text())
    assert doc["scenarios"]["bad"]["error"] == "RuntimeError: disk on fire"
    assert doc["scenarios"]["bad"]["runs"] == [{"rate": 1.0}]  # the run before it is kept
    assert doc["scenarios"]["good"]["error"] is None
    assert doc["scenarios"]["good"]["metrics"]["rate"]["met"] is True
    err = capsys.readouterr().err
    assert "bench: bad failed: RuntimeError: disk on fire" in err and "Traceback" not in err


def test_check_turns_a_missed_target_into_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    def scenario() -> Scenario:
        return _fake("s", [{"rate": 1.0}] * 3, (FAST,))

    assert main(["s"], registry=(scenario(),), log=lambda s: None) == 0
    assert main(["s", "--check"], registry=(scenario(),), log=lambda s: None) == 1
    assert "targets missed: s.rate" in capsys.readouterr().err


def test_user_text_is_never_markup(capsys: pytest.CaptureFixture[str]) -> None:
    sc = _fake("m", [{"[bold]x[/bold]": 1.0, "note": "[red]n[/red]"}])
    assert main(["m", "--runs", "1"], registry=(sc,), log=lambda s: None) == 0
    out = capsys.readouterr().out
    assert "[bold]x[/bold]" in out and "[red]n[/red]" in out


def test_later_scenarios_see_earlier_runs() -> None:
    seen: list[Any] = []

    def first(opts: Options, root: Path) -> dict[str, Any]:
        return {"tps": 100.0 + opts.run_index}

    def second(opts: Options, root: Path) -> dict[str, Any]:
        seen.append(dict(opts.earlier))
        return {}

    doc = run_all([Scenario("a", "", first, ()), Scenario("b", "", second, ())], Options(), 2,
                  log=lambda s: None)
    assert doc["scenarios"]["a"]["metrics"]["tps"]["median"] == 100.5
    assert seen[0]["a"] == [{"tps": 100.0}, {"tps": 101.0}]


def test_verify_limit_alone_reports_a_rate_and_no_ratio(tmp_path: Path) -> None:
    raw = run_verify_limit(Options(verify_txs=200), tmp_path)
    assert raw["verify_per_s_per_core"] > 0 and raw["coincurve_verify_per_s"] > 0
    assert raw["ratio"] is None and "run with tps" in raw["note"]


def test_verify_limit_ratio_uses_the_tps_median(tmp_path: Path) -> None:
    earlier = {"tps": [{"tps": 1_000.0, "nodes": 4}, {"tps": 3_000.0, "nodes": 4},
                       {"tps": 2_000.0, "nodes": 4}]}
    raw = run_verify_limit(Options(verify_txs=200, earlier=earlier), tmp_path)
    ceiling = raw["cores"] * raw["verify_per_s_per_core"] / 4
    assert raw["tps_median"] == 2_000.0
    assert raw["ratio"] == pytest.approx(2_000.0 / ceiling)


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)


def test_cli_ledger_writes_the_json_document(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = _bench("ledger", "verify-limit", "--runs", "1", "--ledger-txs", "40",
               "--ledger-blocks", "3", "--verify-txs", "100", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "medians want --runs >= 3" in r.stderr and "ledger run 1/1" in r.stderr
    assert r.stdout.startswith("machine: ")
    doc = json.loads(out.read_text())
    assert doc["schema"] == SCHEMA and doc["runs"] == 1
    assert {"cpu", "cores", "python", "libp2p"} <= doc["machine"].keys()
    assert doc["started"].endswith("+00:00")
    assert list(doc["scenarios"]) == ["verify-limit", "ledger"]
    led = doc["scenarios"]["ledger"]
    assert set(led) == {"summary", "metrics", "runs", "seconds", "error"}
    assert led["error"] is None and len(led["runs"]) == 1 and led["seconds"] > 0
    m = led["metrics"]["transfers_applied_per_s"]
    assert set(m) == {"label", "unit", "better", "median", "min", "max", "target", "met"}
    assert m["median"] > 0 and m["min"] == m["max"] == m["median"]
    assert led["metrics"]["ratio_to_raw"]["target"] == {"op": ">=", "value": 0.6}
    vl = doc["scenarios"]["verify-limit"]["metrics"]
    assert vl["verify_per_s_per_core"]["median"] > 0
    assert vl["ratio"]["median"] is None and vl["ratio"]["met"] is None


def test_cli_json_to_stdout_keeps_stdout_pure() -> None:
    r = _bench("ledger", "--runs", "1", "--ledger-txs", "20", "--ledger-blocks", "2",
               "--json", "-")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["schema"] == SCHEMA
    assert "machine: " in r.stderr  # the tables went to stderr


@pytest.mark.parametrize(("args", "message"), [
    (["nosuch"], "unknown scenario 'nosuch'"),
    ([], "name at least one scenario"),
    (["ledger", "--runs", "0"], "must be at least 1"),
    (["tps", "--transfers", "5", "--senders", "10"], "--transfers >= --senders"),
    (["sim", "--sim-configs", "t31,huge"], "unknown --sim-configs huge"),
    (["ledger", "--json", "/nonexistent/dir/x.json"], "no directory for --json"),
])
def test_cli_bad_command_lines_exit_2_with_one_line(args: list[str], message: str) -> None:
    r = _bench(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert r.stdout == ""


def test_cli_list_names_every_scenario() -> None:
    r = _bench("--list")
    assert r.returncode == 0
    assert [line.split()[0] for line in r.stdout.splitlines()] == [s.name for s in SCENARIOS]


def test_sync_scenario_runs_when_bench_sync_exists(tmp_path: Path) -> None:
    if importlib.util.find_spec("bench.sync") is None:
        pytest.skip("bench/sync.py is not there yet")
    r = _bench("sync", "--runs", "1", "--sync-blocks", "20", "--json", str(tmp_path / "s.json"))
    assert r.returncode == 0, r.stderr
    sc = json.loads((tmp_path / "s.json").read_text())["scenarios"]["sync"]
    assert sc["metrics"]["trusted_blocks_per_s"]["median"] > 0
