"""``daoli devnet`` with real node processes on 127.0.0.1 (real LMDB, real libp2p), driven
through the real CLI the way a shell script would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.devnet.devnetproc import DAOLI, Net, agree, daoli, ok, wait_for

pytestmark = pytest.mark.slow


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


def test_a_detached_devnet_runs_its_fault_schedule_and_down_stops_it(tmp_path: Path) -> None:
    manifest = tmp_path / "faults.toml"
    manifest.write_text("""name = "detached-faults"
nodes = 4
[[faults]]
at = "1s"
action = "kill"
nodes = ["n3"]
[[faults]]
at = "2s"
action = "restart"
nodes = ["n3"]
[[faults]]
at = "1h"
action = "pause"
nodes = ["n0"]
""")
    d = tmp_path / "net"
    net = Net(d)
    try:
        up = ok("devnet", "up", str(manifest), "--detach", "--dir", str(d))
        sched = up["fault_scheduler_pid"]
        assert sched and Path(f"/proc/{sched}").exists()
        old_n3 = next(n["pid"] for n in up["nodes"] if n["name"] == "n3")
        done = wait_for("two faults done", lambda: (lambda f: f if len(f["done"]) == 2
                                                    else None)(net.status()["faults"]), 60)
        assert [x["result"] for x in done["done"]] == ["kill n3", "restart n3"]
        assert all(x["ok"] for x in done["done"]) and done["scheduler_running"]
        # the restarted node's new PID was recorded by the scheduler, and it follows again
        n3 = next(n for n in net.status()["nodes"] if n["name"] == "n3")
        assert n3["alive"] and n3["pid"] != old_n3
        h = max(x for x in net.heights().values() if x is not None)
        wait_for("n3 follows", lambda: (net.heights()["n3"] or 0) >= h + 1)
        down = ok("devnet", "down", "--dir", str(d))
        assert down["stopped"] == 4
        assert not Path(f"/proc/{sched}/cmdline").exists() or \
            b"run-faults" not in Path(f"/proc/{sched}/cmdline").read_bytes()
    finally:
        net.down()


def test_add_node_trustee_bonds_and_votes(tmp_path: Path) -> None:
    manifest = tmp_path / "grow.toml"
    manifest.write_text("""name = "grow"
nodes = 3
[params]
epoch_blocks = 4
[[wallets]]
name = "alice"
""")
    d = tmp_path / "net"
    net = Net(d)
    try:
        ok("devnet", "up", str(manifest), "--detach", "--dir", str(d))
        wait_for("height 2", lambda: all((h or 0) >= 2 for h in net.heights().values()))
        added = ok("devnet", "add-node", "--trustee", "--wait-votes", "--timeout", "120",
                   "--dir", str(d))
        assert added["name"] == "n3" and added["height"] >= 2
        bond = added["trustee"]
        assert bond["height"] >= 1 and bond["voted_height"] > bond["height"]
        # its signature is in that block's canonical certificate, read from another node
        from daoli.client import Client

        node = next(n for n in net.status()["nodes"] if n["name"] == "n0")
        tok = (Path(node["home"]) / "api_token").read_text().split()[0]
        cert = Client(node["api"], tok).block(bond["voted_height"] + 1).block.last_commit
        assert cert is not None and bytes.fromhex(bond["pubkey"]) in cert.signers
        trustees = ok("trustee", "list", env=net.env("n1"))["trustees"]
        assert any(t["pubkey"] == bond["pubkey"] and t["active"] for t in trustees)
        st = net.status()
        assert st["running"] == 4 and [n["name"] for n in st["nodes"]][-1] == "n3"
        # a name that exists is refused in one line
        r = daoli("devnet", "add-node", "--name", "n1", "--dir", str(d))
        assert r.returncode == 2 and "already a node n1" in r.stderr
        pids = [n["pid"] for n in st["nodes"]]
        assert ok("devnet", "down", "--dir", str(d))["stopped"] == 4
        assert all(not Path(f"/proc/{p}/cmdline").exists()
                   or b"node" not in Path(f"/proc/{p}/cmdline").read_bytes() for p in pids)
    finally:
        net.down()


def test_a_snapshot_restores_the_chain_elsewhere(tmp_path: Path) -> None:
    manifest = tmp_path / "snap.toml"
    manifest.write_text("""name = "snap"
nodes = 2
[[wallets]]
name = "alice"
[[wallets]]
name = "bob"
""")
    d, d2 = tmp_path / "net", tmp_path / "restored"
    net, net2 = Net(d), Net(d2)
    snap = tmp_path / "s.tar.gz"
    try:
        up = ok("devnet", "up", str(manifest), "--detach", "--dir", str(d))
        ok("wallet", "send", "alice", "bob", "7DLC", "--wait", "--timeout", "60",
           env=net.env("n0"))
        taken = ok("devnet", "snapshot", str(snap), "--dir", str(d))
        assert snap.stat().st_mode & 0o777 == 0o600 and taken["chain_id"] == up["chain_id"]
        at = min(taken["heights"].values())
        assert at >= 1
        ok("wallet", "send", "alice", "bob", "5DLC", "--wait", "--timeout", "60",
           env=net.env("n1"))
        again = daoli("devnet", "snapshot", str(snap), "--dir", str(d))
        assert again.returncode == 2 and "--force" in again.stderr
        net.down()
        restored = ok("devnet", "up", "--from-snapshot", str(snap), "--detach", "--dir",
                      str(d2))
        assert restored["chain_id"] == up["chain_id"] and restored["created"]
        assert min(n["height"] for n in restored["nodes"]) >= at + 1  # and it moves on
        assert ok("wallet", "balance", "bob", env=net2.env("n1"))["balance"] \
            == 1_000_007 * 10**8
        wait_for("the restored chain finalizes", lambda: all(
            (h or 0) >= at + 3 for h in net2.heights().values()))
        # restoring into a devnet directory, or from something that is no snapshot: 1 line
        r = daoli("devnet", "up", "--from-snapshot", str(snap), "--detach", "--dir", str(d2))
        assert r.returncode == 2 and "already holds a devnet" in r.stderr
        junk = tmp_path / "junk.tar.gz"
        junk.write_bytes(b"not a tarball")
        r = daoli("devnet", "up", "--from-snapshot", str(junk), "--dir", str(tmp_path / "x"))
        assert r.returncode == 2 and "not a devnet snapshot" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
    finally:
        net.down()
        net2.down()
