"""``daoli sim`` on the command line: JSON schema, determinism, human output, errors."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from daoli.cli import sim as sim_cli

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
                 ["--byzantine", "9"], ["--tx-rate", "-1"], ["--accounts", "0"]):
        result = CliRunner().invoke(app(), ["sim", *args])
        assert result.exit_code != 0
        assert getattr(result.exception, "exit_code", 2) == 2


def test_same_seed_same_json_across_processes() -> None:
    """Hash randomization differs between processes; the report must not."""
    import os
    import subprocess
    import sys

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
