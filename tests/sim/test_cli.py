"""``daoli sim`` on the command line: JSON schema, determinism, human output, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from daoli.cli import sim as sim_cli
from daoli.cli.app import app as main_app
from daoli.sim.runner import BOUNDS

REQUIRED = {"heights_finalized", "safety_violations", "cycles_per_block", "rounds_per_height",
            "relayed_tickets_per_node_per_draw", "wins_by_miner", "rewards_by_trustee",
            "wall_seconds", "time_ties_per_draw", "payroll_sizes", "rewards_by_behaviour",
            "pow_difficulty_by_epoch", "time_ties_median_by_epoch",
            "time_ties_estimate_median_by_epoch", "evidence_txs_created",
            "evidence_txs_included", "slashed_total_li", "txs_submitted", "txs_included",
            "txs_per_block", "tx_latency_ms", "mempool_max"}
BEHAVIOUR_KEYS = {"trustees", "mean_trustee_li", "min_trustee_li", "max_trustee_li", "slashed",
                  "slashed_li", "net_li", "min_net_li", "max_net_li", "mean_sponsor_li",
                  "mean_evidence_reward_li"}
TRUSTEE_KEYS = {"behaviour", "trustee_li", "sponsor_li", "certificates_signed", "miners",
                "slashed_li", "slashed_at_height", "net_li", "evidence_reported",
                "evidence_reward_li", "active_at_end"}


def app() -> typer.Typer:
    a = typer.Typer()
    a.command("sim")(sim_cli.sim)

    @a.callback()
    def _root() -> None:
        """test app"""

    return a


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app(), ["sim", *args])
    return result.exit_code, result.stdout


def test_json_has_the_schema_and_is_deterministic() -> None:
    args = ["--trustees", "4", "--miners", "30", "--heights", "5", "--seed", "7",
            "--latency", "normal", "--jitter-ms", "10", "--clock-skew-ms", "100",
            "--partition", "3000:5000:2", "--byzantine", "1", "--behaviour", "vote-unlucky",
            "--offline-winner", "0.3", "--json"]
    code, out = invoke(*args)
    assert code == 0, out
    a = json.loads(out)
    assert set(a) >= REQUIRED
    assert a["heights_finalized"] == 5 and a["safety_violations"] == 0
    assert a["skips_ecdsa"] is True
    assert all(set(v) == BEHAVIOUR_KEYS for v in a["rewards_by_behaviour"].values())
    assert all(set(v) == TRUSTEE_KEYS for v in a["rewards_by_trustee"].values())
    code, out2 = invoke(*args)
    b = json.loads(out2)
    a.pop("wall_seconds")
    b.pop("wall_seconds")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_human_output_mentions_the_essentials() -> None:
    code, out = invoke("--trustees", "4", "--miners", "20", "--heights", "3")
    assert code == 0, out
    assert "heights finalized" in out and "ECDSA skipped" in out and "safety" in out


def test_human_output_shows_slashing_and_the_workload() -> None:
    code, out = invoke("--trustees", "7", "--miners", "30", "--heights", "6", "--byzantine",
                       "2", "--behaviour", "equivocate", "--tx-rate", "20", "--accounts", "40",
                       "--seed", "3")
    assert code == 0, out
    for text in ("evidence txs created / finalized", "txs submitted / finalized",
                 "tx latency ms", "largest mempool", "slashed", "net", "1,000.00"):
        assert text in out, text


def test_json_with_a_workload_and_without_evidence() -> None:
    code, out = invoke("--trustees", "7", "--miners", "30", "--heights", "5", "--byzantine",
                       "2", "--behaviour", "equivocate", "--no-evidence", "--tx-rate", "10",
                       "--json")
    assert code == 0, out
    r = json.loads(out)
    assert r["config"]["tx_rate"] == 10 and r["config"]["evidence"] is False
    assert r["txs_included"] > 0 and r["slashed_total_li"] == 0


def test_bad_options_are_usage_errors() -> None:
    for args in (["--behaviour", "evil"], ["--partition", "9:1:2"], ["--latency", "cauchy"],
                 ["--byzantine", "9"], ["--tx-rate", "-1"], ["--accounts", "0"],
                 ["--trustees", "101"], ["--latency-ms", "nan"], ["--seed", "-1"],
                 ["--partition", "0:10:9"], ["--max-sim-ms", "500000001"]):
        result = CliRunner().invoke(app(), ["sim", *args])
        assert result.exit_code != 0
        assert getattr(result.exception, "exit_code", 2) == 2


def test_same_seed_same_json_across_processes() -> None:
    """Hash randomization differs between processes; the report must not."""
    import os

    code = ("import typer\nfrom daoli.cli import sim\napp = typer.Typer()\n"
            "app.command('sim')(sim.sim)\n@app.callback()\ndef cb() -> None: pass\napp()\n")
    outs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run(
            [sys.executable, "-c", code, "sim", "--trustees", "7", "--miners", "50",
             "--heights", "6", "--byzantine", "2", "--behaviour", "equivocate", "--loss",
             "0.05", "--json"], capture_output=True, text=True, env=env, timeout=120,
            check=True)
        report = json.loads(proc.stdout)
        report.pop("wall_seconds")
        outs.append(json.dumps(report, sort_keys=True))
    assert outs[0] == outs[1]


# --- hostile input: bounds, one-line errors, --help, markup-free output ----------------------


def daoli_sim(*args: str) -> tuple[int, str, str]:
    """``daoli sim ARGS --json`` through the real entry point, in a fresh process."""
    proc = subprocess.run([sys.executable, "-m", "daoli.cli.app", "sim", *args, "--json"],
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The same entry point (:func:`daoli.cli.app.run`) without a process start."""
    from daoli.cli.app import run as cli_run

    code = cli_run(["sim", *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(result: tuple[int, str, str], *needles: str) -> str:
    """Exit 2, exactly one line on stderr, exactly one ``{"error": ...}`` object on stdout."""
    code, out, err = result
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert out.count("\n") == 1, out
    doc = json.loads(out)
    assert set(doc) == {"error"} and doc["error"]["exit_code"] == 2
    message = doc["error"]["message"]
    for needle in needles:
        assert needle in message, (needle, message)
    assert len(message) < 300  # a 5,000-digit value is not echoed whole
    return message


HOSTILE = [
    (["--trustees", "101"], ["--trustees", "1 to 100", "got 101"]),
    (["--latency-ms", "inf"], ["--latency-ms", "finite", "0 to 3,600,000", "got inf"]),
    (["--jitter-ms", "1e308"], ["--jitter-ms", "got 1e+308"]),
    (["--partition", "0:1e308:2"], ["--partition", "START_MS:END_MS:GROUPS"]),
    (["--heights", "9" * 5000], ["--heights", "1 to 50,000"]),
    (["--heights", "2000", "--trustees", "100", "--miners", "10000"],
     ["the run is too large", "100,000,000", "--heights"]),
    (["--heights", "50001"], ["--heights", "1 to 50,000"]),
    (["--seed", str(2 ** 64)], ["--seed", "0 to 2^64-1"]),
    (["--seed", "-1"], ["--seed", "0 to 2^64-1", "got -1"]),
    (["--clock-skew-ms", "nan"], ["--clock-skew-ms", "got nan"]),
    (["--clock-skew-ms", "-inf"], ["--clock-skew-ms", "got -inf"]),
    (["--hash-time-ms", "1e-308"], ["--hash-time-ms", "0.001 to 3,600,000"]),
    (["--heavy-miner", "1e999999"], ["--heavy-miner", "got inf"]),
    (["--heavy-miner", "0"], ["--heavy-miner", "0.001 to 1,000,000"]),
    (["--loss", "1"], ["--loss", "0 to below 1"]),
    (["--offline-winner", "1.5"], ["--offline-winner", "0 to 1"]),
    (["--tx-rate", "-0.5"], ["--tx-rate", "0 or a finite number from 0.001 to 10,000"]),
    (["--tx-rate", "1e-308"], ["--tx-rate", "0.001 to 10,000"]),
    (["--byzantine", "5"], ["--byzantine", "0 to --trustees (4)"]),
    (["--pow-difficulty", str(2 ** 63)], ["--pow-difficulty", "1 to 2^63-1"]),
    (["--partition", "-1:5:2"], ["--partition", "START_MS:END_MS:GROUPS"]),
    (["--partition", "0:nan:2"], ["--partition", "START_MS:END_MS:GROUPS"]),
    (["--partition", "0:600000000:2"], ["--partition", "500,000,000"]),
    (["--partition", "0:100:5"], ["--partition", "GROUPS <= --trustees (4)"]),
    (["--max-sim-ms", "-1"], ["--max-sim-ms", "0 or an integer from 1 to 500,000,000"]),
    (["--pow", "--hash-time-ms", "0.001", "--heavy-miner", "1000000"],
     ["the run is too large", "hashes per draw"]),
    (["--trustees", "1e3"], ["--trustees", "expected an integer from 1 to 100"]),
    (["--miners", "\u0663"], ["--miners", "expected an integer"]),
    (["--behaviour", "[/x]"], ["--behaviour", "got '[/x]'"]),
]
"""Hostile values for ``daoli sim``: (arguments, what the one-line message must say)."""


@pytest.mark.parametrize(("args", "needles"), HOSTILE[:6])
def test_out_of_range_options_are_one_line_usage_errors(args: list[str],
                                                        needles: list[str]) -> None:
    assert_usage_error(daoli_sim(*args), *needles)


@pytest.mark.parametrize(("args", "needles"), HOSTILE)
def test_hostile_values_are_one_line_usage_errors_in_process(
        args: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(_in_process(capsys, *args, "--json"), *needles)


@pytest.mark.parametrize("name", sorted(n for n, b in BOUNDS.items()
                                         if b.option.startswith("--")))
def test_each_bound_is_enforced_through_the_cli(name: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The same check as the subprocess test, in-process (the real ``run`` entry point), for
    every bounded option: one past the documented maximum is exit 2 naming the range."""
    bound = BOUNDS[name]
    over = bound.high if bound.below_high else (bound.high + 1 if bound.integer
                                                else bound.high * 2)
    code, out, err = _in_process(capsys, bound.option, str(over), "--json")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    message = json.loads(out)["error"]["message"]
    assert bound.option in message and bound.span.split(" to ")[-1] in message


def _sim_command() -> Any:
    from typer.main import get_command

    from daoli.cli.app import app as root

    return get_command(root).commands["sim"]  # type: ignore[attr-defined]


def test_help_states_each_enforced_bound() -> None:
    """The documented range of every option is the enforced one: help text and SimConfig
    both come from BOUNDS, and the trustee limit is the genesis limit."""
    helps = {opt: p.help or "" for p in _sim_command().params for opt in p.opts}
    for bound in BOUNDS.values():
        if bound.option.startswith("--"):
            assert f"Range: {bound.span}." in helps[bound.option], bound.option
    assert "at most 100" in helps["--trustees"] and "1 to 100" in helps["--trustees"]
    assert "0 to --trustees" in helps["--byzantine"]
    assert "500,000,000" in helps["--partition"] and "GROUPS <= --trustees" in helps["--partition"]
    max_sim = helps["--max-sim-ms"]
    assert "0 derives it: 31,000 + 13,000 per height" in max_sim and "500,000,000" in max_sim


def test_help_has_examples_and_the_work_bound() -> None:
    result = CliRunner().invoke(main_app, ["sim", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Examples" in text and "daoli sim --trustees 31 --miners 1000" in text
    assert "at most 100,000,000" in text and "trustees^2 + miners + trustees x tx-rate" in text


def _report(**changes: Any) -> dict[str, Any]:
    code, out = invoke("--trustees", "4", "--miners", "10", "--heights", "1", "--json")
    assert code == 0, out
    report = json.loads(out)
    report.update(changes)
    return report


def _human_output(report: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """What ``_human`` prints, on a colour terminal (ANSI codes kept)."""
    import io

    from rich.console import Console

    from daoli.cli import common

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system="standard", width=120,
                      markup=False, emoji=False, highlight=False)
    monkeypatch.setattr(common, "stdout", console)
    monkeypatch.setattr(sim_cli, "stdout", console)
    sim_cli._human(report)
    return buf.getvalue()


def test_safety_violations_are_styled_not_marked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consoles have markup off: "[red]3[/red]" would print literally; a red Text does not."""
    out = _human_output(_report(safety_violations=3), monkeypatch)
    assert "[red]" not in out and "[/red]" not in out and "[green]" not in out
    assert "\x1b[31m3" in out  # red
    out = _human_output(_report(safety_violations=0), monkeypatch)
    assert "[green]" not in out and "\x1b[32m0" in out  # green


def test_human_output_has_no_undefined_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    report = _report(heights_finalized=0, seconds_per_block=None, sim_seconds=1_300_000.5)
    out = _human_output(report, monkeypatch)
    assert "None" not in out
    assert "1,300,000.5 s (no block finalized)" in out


def test_human_output_of_a_run_without_honest_trustees() -> None:
    code, out = invoke("--trustees", "4", "--miners", "5", "--heights", "1", "--byzantine", "4")
    assert code == 0, out
    assert "None" not in out and "no block finalized" in out and "-1" not in out


def test_minus_zero_is_zero_in_the_report() -> None:
    code, out = invoke("--trustees", "4", "--miners", "5", "--heights", "1", "--clock-skew-ms",
                       "-0", "--loss", "-0.0", "--json")
    assert code == 0, out
    assert "-0.0" not in out and json.loads(out)["config"]["clock_skew_ms"] == 0.0
