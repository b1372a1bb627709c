"""``daoli sim --manifest``: a devnet manifest simulated as ``daoli devnet up`` runs it.

Every shipped manifest runs to completion with the shape it describes (trustees,
followers, miners per node, parameters, per-node shaping, the fault schedule); options the
manifest sets are usage errors; a run is deterministic; runs without a manifest are
untouched (no new report keys).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from daoli.cli import sim as sim_cli
from daoli.core.params import ChainParams
from daoli.devnet.manifest import Manifest, load_manifest, parse_manifest
from daoli.errors import ConfigError
from daoli.sim.manifest import DEVNET_HASH_TIME_MS, manifest_config
from daoli.sim.runner import SimConfig, SimFault, SimNodeSpec, World, build_report, run

DEVNET = Path(__file__).resolve().parents[2] / "devnet"


def app() -> typer.Typer:
    a = typer.Typer()
    a.command("sim")(sim_cli.sim)

    @a.callback()
    def _root() -> None:
        """test app"""

    return a


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app(), ["sim", *args])
    return result.exit_code, result.stdout, result.stderr


def entry_point(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``daoli sim ARGS`` through the real entry point (errors become exit codes)."""
    from daoli.cli.app import run as cli_run

    code = cli_run(["sim", *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_usage_error(result: tuple[int, str, str], *needles: str) -> None:
    code, _, err = result
    assert "Traceback" not in err
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def shipped(name: str) -> Manifest:
    return load_manifest(DEVNET / name)


def simulate(m: Manifest, **kw: Any) -> dict[str, Any]:
    cfg = manifest_config(m, SimConfig(**kw)).config
    report = run(cfg)
    report.pop("wall_seconds")
    return report


# --- the shipped manifests ---------------------------------------------------------------------


def test_local_4_is_four_trustees_of_two_miners_on_loopback() -> None:
    r = simulate(shipped("local-4.toml"), heights=6)
    assert r["manifest"] == "local-4"
    assert r["heights_finalized"] == 6 and r["safety_violations"] == 0
    c = r["config"]
    assert (c["trustees"], c["miners"], r["followers"]) == (4, 8, 0)
    assert [v["miners"] for v in r["rewards_by_trustee"].values()] == [2, 2, 2, 2]
    assert [v["miners"] for v in r["nodes"].values()] == [2, 2, 2, 2]
    assert all(v["latency_ms"] == 0 and v["height"] == 6 for v in r["nodes"].values())
    assert c["params"] == json.loads(json.dumps(ChainParams().__dict__))  # SPEC defaults
    assert c["hash_time_ms"] == DEVNET_HASH_TIME_MS
    assert r["network"]["messages_lost"] == 0


def test_single_is_one_trustee_mining_alone() -> None:
    r = simulate(shipped("single.toml"), heights=5)
    assert r["heights_finalized"] == 5
    assert (r["config"]["trustees"], r["config"]["miners"]) == (1, 1)
    assert r["nodes"]["n0"]["blocks_proposed"] == 5
    assert r["network"]["messages_sent"] == 0  # nobody to talk to
    assert r["seconds_per_block"] < 1.0  # one cycle a block


def test_wan_7_takes_its_params_and_each_node_its_own_delay_and_loss() -> None:
    m = shipped("wan-7.toml")
    cfg = manifest_config(m, SimConfig(heights=4)).config
    assert cfg.chain_params() == m.params
    assert cfg.chain_params().timeout_propose_ms == 2000 and cfg.cycle_ms == 2000
    r = run(cfg)
    assert r["heights_finalized"] == 4 and r["safety_violations"] == 0
    assert r["nodes"]["tokyo"]["latency_ms"] == 120 and r["nodes"]["virginia"]["loss"] == 0.01
    assert 1.5 < r["seconds_per_block"] < 6.0  # cycles of 2 s
    # the delay of a message is its sender's: latency +- jitter (uniform, as a node draws it)
    w = World(cfg)
    tokyo, virginia = w.node_of["tokyo"], w.node_of["virginia"]
    sent = [w.net.delay(tokyo, virginia, 0.0) for _ in range(4000)]
    back = [w.net.delay(virginia, tokyo, 0.0) for _ in range(4000)]
    got = [d for d in sent if d is not None]
    assert min(got) >= 100 and max(got) <= 140 and abs(sum(got) / len(got) - 120) < 2
    got = [d for d in back if d is not None]
    assert min(got) >= 20 and max(got) <= 60 and abs(sum(got) / len(got) - 40) < 2
    lost = sent.count(None) + back.count(None)  # 1 % of 8,000: mean 80, sd ~8.9
    assert 40 <= lost <= 125


def test_chaos_halts_in_its_partition_and_resumes_at_the_heal() -> None:
    r = simulate(shipped("chaos.toml"), heights=70)
    assert r["heights_finalized"] == 70 and r["safety_violations"] == 0
    assert (r["config"]["trustees"], r["followers"]) == (4, 1)
    assert r["nodes"]["follower"]["trustee"] is False
    assert r["nodes"]["follower"]["height"] == 70
    faults = {f["action"]: f for f in r["faults"]}
    assert all(f["applied"] for f in r["faults"])
    # times count from the first finalized block
    first = r["faults_from_sim_seconds"]
    assert first == r["first_block_sim_seconds"]
    assert faults["kill"]["sim_seconds"] == pytest.approx(first + 10, abs=0.01)
    assert faults["heal"]["sim_seconds"] == pytest.approx(first + 65, abs=0.01)
    # 2 + 2 trustees: no side holds a quorum of 3, finality halts; it resumes after the heal
    part, heal = faults["partition"]["height"], faults["heal"]["height"]
    assert part >= 40 and heal - part <= 1
    assert r["heights_finalized"] > heal + 1
    # the killed node lost messages, was restarted on its chain and caught up
    assert r["messages_lost_at_killed_nodes"] > 0
    assert faults["restart"]["height"] > faults["kill"]["height"]
    assert all(v["height"] == 70 and v["state_at_end"] == "up" for v in r["nodes"].values())


def test_faults_after_the_run_are_reported_not_applied() -> None:
    r = simulate(shipped("chaos.toml"), heights=3)
    assert r["heights_finalized"] == 3
    assert [f["applied"] for f in r["faults"]] == [False] * 6
    assert all(f["sim_seconds"] is None and f["height"] is None for f in r["faults"])


# --- the mapping -------------------------------------------------------------------------------


def manifest(**doc: Any) -> Manifest:
    return parse_manifest({"name": "t", **doc})


def test_light_miners_join_their_sponsor_and_followers_keep_theirs() -> None:
    m = manifest(nodes=[{"name": "a", "miners": 1}, {"name": "b", "miners": 0},
                        {"name": "c", "trustee": False, "miners": 3},
                        {"name": "d", "miners": 0, "sponsor": False}],
                 wallets=[{"name": "w1"}, {"name": "w2"}],
                 light_miners=[{"wallet": "w1", "sponsor": "b"},
                               {"wallet": "w2", "sponsor": "b"},
                               {"wallet": "w1", "sponsor": "d"}])
    mr = manifest_config(m, SimConfig(heights=3))
    assert [(n.name, n.trustee, n.miners) for n in mr.config.nodes] == [
        ("a", True, 1), ("b", True, 2), ("c", False, 3), ("d", True, 0)]
    assert (mr.config.trustees, mr.config.miners) == (3, 6)
    assert any("sponsor = false" in n for n in mr.notes)
    assert any("followers (c)" in n for n in mr.notes)
    w = World(mr.config)
    assert [len(nd.miners) for nd in w.nodes] == [1, 2, 0, 3]  # trustees first, then c
    r = build_report(w)
    assert r["nodes"]["c"]["index"] == 3 and r["nodes"]["c"]["miners"] == 3


def test_a_manifest_without_miners_is_refused() -> None:
    with pytest.raises(ConfigError, match="no node has miners"):
        manifest_config(manifest(nodes=2, defaults={"miners": 0}))


def test_options_the_manifest_leaves_alone_are_kept() -> None:
    base = SimConfig(heights=9, seed=5, latency="normal", byzantine=1, tx_rate=3.0,
                     clock_skew_ms=40.0)
    cfg = manifest_config(shipped("local-4.toml"), base, hash_time_ms=0.5).config
    assert (cfg.heights, cfg.seed, cfg.latency, cfg.byzantine, cfg.tx_rate,
            cfg.clock_skew_ms, cfg.hash_time_ms) == (9, 5, "normal", 1, 3.0, 40.0, 0.5)
    assert (cfg.latency_ms, cfg.jitter_ms, cfg.loss, cfg.partitions) == (0, 0, 0, ())


def test_named_nodes_are_checked() -> None:
    nodes = (SimNodeSpec("a"), SimNodeSpec("b", trustee=False))
    ok = SimConfig(trustees=1, miners=2, nodes=nodes, latency_ms=0, jitter_ms=0)
    ok.validate()
    bad: dict[str, dict[str, Any]] = {
        "are trustees": {"trustees": 2},
        "add up": {"miners": 3},
        "per node": {"loss": 0.1},
        "no node named": {"faults": (SimFault(0, "kill", ("zz",)),)},
        "two partition groups": {"faults": (SimFault(0, "partition", (),
                                                     (("a",), ("a", "b"))),)},
        "action must be": {"faults": (SimFault(0, "explode", ("a",)),)},
    }
    for match, change in bad.items():
        with pytest.raises(ConfigError, match=match):
            SimConfig(**{**ok.__dict__, **change}).validate()
    with pytest.raises(ConfigError, match="used twice"):
        SimConfig(trustees=2, miners=2, nodes=(SimNodeSpec("a"), SimNodeSpec("a")),
                  latency_ms=0, jitter_ms=0).validate()
    with pytest.raises(ConfigError, match="need named nodes"):
        SimConfig(faults=(SimFault(0, "heal"),)).validate()


def test_runs_without_a_manifest_report_as_before() -> None:
    d = SimConfig().to_dict()
    assert not {"nodes", "faults", "params", "manifest"} & set(d)
    r = run(SimConfig(heights=2, miners=20))
    assert not {"manifest", "nodes", "faults", "followers"} & set(r)


def test_kill_without_restart_ends_the_run_without_that_node() -> None:
    m = manifest(nodes=4, faults=[{"at": 2, "action": "kill", "nodes": ["n3"]}])
    r = simulate(m, heights=8)
    assert r["heights_finalized"] == 8 and not r["liveness_bound_hit"]
    n3 = r["nodes"]["n3"]
    assert n3["state_at_end"] == "killed" and n3["height"] < 8


def test_losing_quorum_halts_until_a_restart_and_a_pause_holds_messages() -> None:
    m = manifest(nodes=4, faults=[
        {"at": 2, "action": "kill", "nodes": ["n2", "n3"]},
        {"at": 8, "action": "restart", "nodes": ["n2", "n3"]},
        {"at": 12, "action": "pause", "nodes": ["n1"]},
        {"at": 16, "action": "resume", "nodes": ["n1"]}])
    r = simulate(m, heights=25)
    f = r["faults"]
    assert f[1]["height"] - f[0]["height"] <= 1  # 2 of 4 trustees down: no quorum
    assert f[3]["height"] > f[2]["height"] + 2  # 3 of 4 still finalize during the pause
    assert r["heights_finalized"] == 25 and r["safety_violations"] == 0
    assert all(v["height"] == 25 for v in r["nodes"].values())


def test_nodes_named_in_no_partition_group_form_one_more_group() -> None:
    """As ``daoli devnet partition`` has it: n1, n2, n3 stay together, a quorum of 3."""
    m = manifest(nodes=[{"name": f"n{i}"} for i in range(4)] + [{"name": "f", "trustee": False}],
                 faults=[{"at": 2, "action": "partition", "groups": [["n0"], ["f"]]},
                         {"at": 10, "action": "heal"}])
    r = simulate(m, heights=15)
    part, heal = (f["height"] for f in r["faults"])
    assert heal - part >= 5  # finality went on in the third group
    assert r["heights_finalized"] == 15 and r["safety_violations"] == 0
    assert all(v["height"] == 15 for v in r["nodes"].values())  # n0 and f caught up


_ACTIONS = st.sampled_from(["kill", "restart", "pause", "resume"])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 12), _ACTIONS, st.sampled_from(["a", "b", "c", "f"])),
                max_size=5), st.integers(0, 2**32))
def test_any_fault_schedule_is_safe_and_live_once_nodes_are_back(
        schedule: list[tuple[int, str, str]], seed: int) -> None:
    faults = [{"at": at, "action": action, "nodes": [node]} for at, action, node in schedule]
    faults += [{"at": 14, "action": "restart", "nodes": ["a", "b", "c", "f"]},
               {"at": 15, "action": "heal"}]
    m = manifest(nodes=[{"name": "a"}, {"name": "b"}, {"name": "c"},
                        {"name": "f", "trustee": False}],
                 defaults={"latency_ms": 5, "jitter_ms": 2}, faults=faults)
    r = simulate(m, heights=20, seed=seed)
    assert r["safety_violations"] == 0
    assert r["heights_finalized"] == 20 and not r["liveness_bound_hit"]
    assert all(v["height"] == 20 and v["state_at_end"] == "up" for v in r["nodes"].values())


# --- the command -------------------------------------------------------------------------------


def test_cli_json_names_the_manifest_and_is_deterministic() -> None:
    args = ["--manifest", str(DEVNET / "chaos.toml"), "--heights", "4", "--seed", "11",
            "--json"]
    code, out, _ = invoke(*args)
    assert code == 0, out
    a = json.loads(out)
    assert a["manifest"] == "chaos" and a["config"]["manifest"] == "chaos"
    assert a["heights_finalized"] == 4
    assert any("followers" in n for n in a["manifest_notes"])
    code, out2, _ = invoke(*args)
    b = json.loads(out2)
    a.pop("wall_seconds")
    b.pop("wall_seconds")
    assert a == b
    code, out3, _ = invoke(*args[:-2], "12", "--json")
    c = json.loads(out3)
    assert c["wins_by_miner"] != a["wins_by_miner"] or c["events"] != a["events"]


def test_cli_human_output_shows_nodes_faults_and_notes() -> None:
    code, out, _ = invoke("--manifest", str(DEVNET / "chaos.toml"), "--heights", "12")
    assert code == 0, out
    assert "manifest chaos: 4 trustees, 1 follower, 5 miners" in out
    assert "follower" in out and "+10 s kill d: at" in out
    assert "+65 s heal: not reached" in out
    assert "note: " in out


@pytest.mark.parametrize("option", [
    ["--trustees", "3"], ["--miners", "10"], ["--latency-ms", "5"], ["--jitter-ms", "1"],
    ["--loss", "0.1"], ["--partition", "1000:2000:2"], ["--pow-difficulty", "8"],
    ["--epoch-blocks", "4"], ["--diameter", "4"]])
def test_cli_options_the_manifest_sets_are_usage_errors(
        option: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    one_line_usage_error(entry_point(capsys, "--manifest", str(DEVNET / "local-4.toml"),
                                     *option), option[0], "--manifest")


def test_cli_options_equal_to_their_default_still_conflict(
        capsys: pytest.CaptureFixture[str]) -> None:
    one_line_usage_error(entry_point(capsys, "--trustees", "4", "--manifest",
                                     str(DEVNET / "local-4.toml"), "--json"), "--trustees")


def test_cli_bad_manifests_are_one_line_errors(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[nodes]]\nname = "a"\nminers = 99\n')
    one_line_usage_error(entry_point(capsys, "--manifest", str(bad)), "nodes[0].miners")
    idle = tmp_path / "idle.toml"
    idle.write_text('name = "idle"\nnodes = 2\n[defaults]\nminers = 0\n')
    one_line_usage_error(entry_point(capsys, "--manifest", str(idle)), "no node has miners")
    code, _, err = entry_point(capsys, "--manifest", str(tmp_path / "missing.toml"))
    assert code != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    one_line_usage_error(entry_point(capsys, "--manifest", ""), "empty")


def test_cli_options_it_leaves_alone_combine() -> None:
    code, out, _ = invoke("--manifest", str(DEVNET / "local-4.toml"), "--heights", "3",
                          "--latency", "normal", "--clock-skew-ms", "50", "--byzantine", "1",
                          "--behaviour", "silent", "--hash-time-ms", "0.01", "--json")
    assert code == 0, out
    r = json.loads(out)
    assert r["heights_finalized"] == 3
    c = r["config"]
    assert (c["latency"], c["byzantine"], c["hash_time_ms"]) == ("normal", 1, 0.01)
    assert math.isclose(c["clock_skew_ms"], 50)
