"""``daoli devnet`` with real node processes on 127.0.0.1 (real LMDB, real libp2p), driven
through the real CLI the way a shell script would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

DAOLI = [sys.executable, "-m", "daoli.cli.app"]


def daoli(*args: str, env: dict[str, str] | None = None, timeout: float = 120
          ) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}
    return subprocess.run([*DAOLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**e, **(env or {})})


def ok(*args: str, env: dict[str, str] | None = None) -> Any:
    r = daoli("--json", *args, env=env)
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout)


def wait_for(what: str, cond: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = cond()
        except (httpx.HTTPError, KeyError, ValueError, OSError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Net:
    def __init__(self, d: Path) -> None:
        self.d = str(d)

    def status(self) -> dict[str, Any]:
        return dict(ok("devnet", "status", "--dir", self.d))

    def heights(self) -> dict[str, int | None]:
        return {n["name"]: n["height"] for n in self.status()["nodes"]}

    def block_id(self, node: dict[str, Any], h: int) -> str:
        tok = (Path(node["home"]) / "api_token").read_text().split()[0]
        r = httpx.get(f"{node['api']}/v1/blocks/{h}", timeout=5,
                      headers={"Authorization": f"Bearer {tok}"})
        r.raise_for_status()
        return str(r.json()["id"])

    def env(self, node: str = "n0") -> dict[str, str]:
        return dict(ok("devnet", "env", node, "--dir", self.d))

    def down(self) -> None:
        daoli("devnet", "down", "--dir", self.d)


def agree(net: Net) -> bool:
    nodes = [n for n in net.status()["nodes"] if n["alive"]]
    h = min(n["height"] for n in nodes)
    return len({net.block_id(n, k) for n in nodes for k in (max(1, h - 1), h)}) == 2


def test_up_transfers_kill_keep_and_down(tmp_path: Path) -> None:
    d = tmp_path / "net"
    net = Net(d)
    try:
        t0 = time.monotonic()
        up = ok("devnet", "up", "--detach", "--dir", str(d))
        assert up["created"] and len(up["nodes"]) == 4 and up["seconds_to_first_block"] > 0
        assert time.monotonic() - t0 < 60
        assert {n["name"] for n in up["nodes"]} == {"n0", "n1", "n2", "n3"}
        assert "/explorer#token=" in up["explorer"]
        # a second up on the same directory says so
        again = daoli("devnet", "up", "--detach", "--dir", str(d))
        assert again.returncode == 1 and "already running" in again.stderr
        wait_for("height 5 on all", lambda: all((h or 0) >= 5 for h in net.heights().values()))
        # transfers between prefunded accounts, through a node chosen by `devnet env`
        env = net.env("n2")
        sent = ok("wallet", "send", "alice", "bob", "12DLC", "--wait", "--timeout", "60",
                  env=env)
        for node in ("n0", "n1", "n3"):
            bal = ok("wallet", "balance", "bob", env=net.env(node))
            assert bal["balance"] == 1_000_012 * 10**8, bal
        assert sent["height"] >= 1
        paid = ok("devnet", "faucet", "carol", "3DLC", "--dir", str(d))
        assert paid["status"] == "final"
        # one trustee of four killed: finality goes on
        ok("devnet", "kill", "n3", "--dir", str(d))
        h = net.heights()["n0"] or 0
        wait_for("finality without n3", lambda: (net.heights()["n0"] or 0) >= h + 3)
        assert next(n for n in net.status()["nodes"] if n["name"] == "n3")["alive"] is False
        ok("devnet", "restart", "n3", "--dir", str(d))
        wait_for("n3 catches up", lambda: (lambda hs: hs["n3"] is not None
                                           and hs["n3"] >= (hs["n0"] or 0) - 1)(net.heights()))
        assert wait_for("all agree", lambda: agree(net))
        # down --keep-data, then up resumes the same chain at the same height or above
        before = max(h for h in net.heights().values() if h is not None)
        kept = ok("devnet", "down", "--keep-data", "--dir", str(d))
        assert kept["stopped"] == 4 and not kept["removed"]
        resumed = ok("devnet", "up", "--detach", "--dir", str(d))
        assert not resumed["created"] and resumed["chain_id"] == up["chain_id"]
        assert min(n["height"] for n in resumed["nodes"]) >= before - 1
        assert ok("wallet", "balance", "bob", env=net.env("n1"))["balance"] \
            == 1_000_012 * 10**8
        pids = [n["pid"] for n in resumed["nodes"]]
    finally:
        net.down()
    assert not d.exists()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or \
            Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"


def test_two_of_four_killed_halt_without_a_fork_and_restarting_resumes(
        tmp_path: Path) -> None:
    d = tmp_path / "net"
    net = Net(d)
    try:
        ok("devnet", "up", "--detach", "--dir", str(d))
        wait_for("height 3", lambda: all((h or 0) >= 3 for h in net.heights().values()))
        ok("devnet", "kill", "n2", "--dir", str(d))
        ok("devnet", "kill", "n3", "--dir", str(d))
        # q = 3 of 4: no block can be finalized; watch several cycles to see it hold
        start = max(h for h in net.heights().values() if h is not None)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            hs = [h for h in net.heights().values() if h is not None]
            assert max(hs) <= start + 1, "a block was finalized with 2 of 4 trustees"
            time.sleep(0.5)
        ok("devnet", "restart", "n2", "--dir", str(d))
        ok("devnet", "restart", "n3", "--dir", str(d))
        wait_for("finality resumes", lambda: all((h or 0) >= start + 3
                                                 for h in net.heights().values()), 90)
        assert wait_for("all agree", lambda: agree(net))
    finally:
        net.down()


def test_a_2_2_partition_halts_heal_resumes_and_every_block_agrees(tmp_path: Path) -> None:
    d = tmp_path / "net"
    net = Net(d)
    try:
        ok("devnet", "up", "--detach", "--dir", str(d))
        wait_for("height 2", lambda: all((h or 0) >= 2 for h in net.heights().values()))
        ok("devnet", "partition", "n0,n1", "n2,n3", "--dir", str(d))
        wait_for("each side sees only its own", lambda: all(
            n["peers"] == 1 for n in net.status()["nodes"]), 30)
        start = max(h for h in net.heights().values() if h is not None)
        deadline = time.monotonic() + 5  # several cycles: no side has q = 3 of 4
        while time.monotonic() < deadline:
            assert max(h for h in net.heights().values() if h is not None) <= start + 1
            time.sleep(0.5)
        shaped = ok("devnet", "netem", "n2", "--delay", "30ms", "--jitter", "10ms",
                    "--loss", "0%", "--dir", str(d))
        assert shaped["delay_ms"] == 30 and len(shaped["blocked_peers"]) == 2
        ok("devnet", "heal", "--dir", str(d))
        wait_for("finality resumes", lambda: all((h or 0) >= start + 3
                                                 for h in net.heights().values()), 90)
        nodes = net.status()["nodes"]
        top = min(n["height"] for n in nodes)
        for h in range(1, top + 1):
            assert len({net.block_id(n, h) for n in nodes}) == 1, f"fork at height {h}"
    finally:
        net.down()


def test_a_foreground_up_runs_the_manifests_fault_schedule(tmp_path: Path) -> None:
    manifest = tmp_path / "faults.toml"
    manifest.write_text("""name = "faults"
nodes = 4
[[faults]]
at = "1s"
action = "kill"
nodes = ["n3"]
[[faults]]
at = "3s"
action = "restart"
nodes = ["n3"]
[[faults]]
at = "5s"
action = "partition"
groups = [["n0", "n1"], ["n2", "n3"]]
[[faults]]
at = "7s"
action = "heal"
""")
    d = tmp_path / "net"
    net = Net(d)
    e = {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}
    proc = subprocess.Popen([*DAOLI, "devnet", "up", str(manifest), "--dir", str(d)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("fault at 7 s: heal" in x
                                                       for x in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        faults = [x.strip() for x in lines if x.startswith("fault at")]
        assert faults == ["fault at 1 s: kill n3", "fault at 3 s: restart n3",
                          "fault at 5 s: partition n0,n1 | n2,n3", "fault at 7 s: heal"], lines
        h = max(x for x in net.heights().values() if x is not None)
        wait_for("finality after heal", lambda: all((x or 0) >= h + 2
                                                    for x in net.heights().values()), 60)
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the dashboard stops every node
        assert proc.wait(30) == 0
        assert net.status()["running"] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        net.down()


def test_light_miners_of_a_manifest_mine_for_their_sponsor(tmp_path: Path) -> None:
    manifest = tmp_path / "light.toml"
    manifest.write_text("""name = "light"
[[nodes]]
name = "a"
miners = 0
[[wallets]]
name = "alice"
[[light_miners]]
wallet = "alice"
sponsor = "a"
""")
    d = tmp_path / "net"
    net = Net(d)
    try:
        up = ok("devnet", "up", str(manifest), "--detach", "--dir", str(d))
        assert up["nodes"][0]["height"] >= 1  # only the light miner can have won it
        alice = ok("wallet", "address", "alice", env=net.env("a"))["address"]
        node = net.status()["nodes"][0]
        tok = (Path(node["home"]) / "api_token").read_text().split()[0]
        blk = httpx.get(f"{node['api']}/v1/blocks/1", timeout=5,
                        headers={"Authorization": f"Bearer {tok}"}).json()
        assert blk["winner"]["miner"] == alice
        state = json.loads((d / "devnet.json").read_text())
        pids = list(state["light_miners"].values())
        assert len(pids) == 1 and Path(f"/proc/{pids[0]}").exists()
        ok("devnet", "down", "--dir", str(d))
        assert not Path(f"/proc/{pids[0]}/cmdline").exists() or \
            b"mine" not in Path(f"/proc/{pids[0]}/cmdline").read_bytes()
    finally:
        net.down()


def test_status_of_no_devnet_is_one_line(tmp_path: Path) -> None:
    r = daoli("devnet", "status", "--dir", str(tmp_path / "none"))
    assert r.returncode == 2 and "no devnet in" in r.stderr and "Traceback" not in r.stderr
