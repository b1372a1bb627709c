"""``daoli devnet up --netns``: every node in its own network namespace (root, Linux), so a
partition cuts real links and a bandwidth limit shapes real packets; ``down`` (also after
the devnet command was SIGKILLed) leaves no process, namespace or bridge behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daoli.devnet import netns
from tests.devnet.devnetproc import DAOLI, Net, daoli, ok, wait_for

REASON = netns.unavailable_reason()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(REASON is not None, reason=f"--netns unavailable: {REASON}")]


SINK = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    with c:
        n = 0
        while b := c.recv(65536):
            n += len(b)
        c.sendall(str(n).encode())
"""
"""Counts what each connection sends until EOF and answers with the count."""


def send_s(host: str, port: int, size: int) -> float:
    """Seconds to send ``size`` bytes to the sink and hear it counted them all."""
    t0 = time.monotonic()
    with socket.create_connection((host, port), timeout=120) as c:
        c.sendall(b"x" * size)
        c.shutdown(socket.SHUT_WR)
        assert c.recv(64) == str(size).encode()
    return time.monotonic() - t0


def gone(pids: list[int]) -> bool:
    return all(not Path(f"/proc/{p}/cmdline").exists()
               or b"daoli" not in Path(f"/proc/{p}/cmdline").read_bytes() for p in pids)


def test_netns_partition_and_bandwidth_act_on_real_links(tmp_path: Path) -> None:
    d = tmp_path / "net"
    net = Net(d)
    names = netns.NetnsNames.of(d)
    try:
        up = ok("devnet", "up", "--netns", "--detach", "--dir", str(d))
        assert up["netns"] and len(up["nodes"]) == 4
        assert all(not n["api"].startswith("http://127.") for n in up["nodes"])
        assert len(netns.NetnsDevnet(d).leftovers()) == 9  # 4 namespaces, 4 veths, bridge
        wait_for("height 2", lambda: all((h or 0) >= 2 for h in net.heights().values()))
        # a 2+2 partition by the kernel: no quorum on either side
        ok("devnet", "partition", "n0,n1", "n2,n3", "--dir", str(d))
        routes = subprocess.run(["ip", "-n", names.namespace(0), "route"], capture_output=True,
                                text=True, timeout=10).stdout
        assert routes.count("unreachable") == 2
        start = max(h for h in net.heights().values() if h is not None)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            assert max(h for h in net.heights().values() if h is not None) <= start + 1
            time.sleep(0.5)
        ok("devnet", "heal", "--dir", str(d))
        wait_for("finality resumes", lambda: all((h or 0) >= start + 3
                                                 for h in net.heights().values()), 90)
        # a bandwidth limit shapes the node's real link: bytes sent from the host to a sink
        # in n1's namespace (beside the node, on its address) go at the limit
        n1 = next(n for n in net.status()["nodes"] if n["name"] == "n1")
        host = n1["api"].split("//")[1].rsplit(":", 1)[0]
        sink = subprocess.Popen(["ip", "netns", "exec", names.namespace(1), sys.executable,
                                 "-c", SINK, host, "7100"], stdout=subprocess.PIPE, text=True)
        try:
            assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
            fast = send_s(host, 7100, 512 * 1024)
            shaped = ok("devnet", "netem", "n1", "--rate", "1mbit", "--dir", str(d))
            assert shaped["rate"] == "1mbit"
            qdisc = subprocess.run(["tc", "qdisc", "show", "dev", names.host_veth(1)],
                                   capture_output=True, text=True, timeout=10).stdout
            assert "tbf" in qdisc and "1Mbit" in qdisc
            slow = send_s(host, 7100, 512 * 1024)
            # 1 Mbit/s is 125 KB/s: about 4 s for 512 KiB (the nodes' own gossip shares the
            # link, so a lower rate could leave the test little of it)
            assert slow > max(2.0, 10 * fast), (slow, fast)
        finally:
            sink.kill()
            sink.wait(10)
        ok("devnet", "netem", "n1", "--rate", "none", "--dir", str(d))
        assert "tbf" not in subprocess.run(["tc", "qdisc", "show", "dev", names.host_veth(1)],
                                           capture_output=True, text=True, timeout=10).stdout
        bad = daoli("devnet", "netem", "n1", "--rate", "fast", "--dir", str(d))
        assert bad.returncode == 2 and "bad rate" in bad.stderr
        pids = [n["pid"] for n in net.status()["nodes"]]
        down = ok("devnet", "down", "--dir", str(d))
        assert down["stopped"] == 4 and len(down["network_removed"]) == 9
        assert netns.NetnsDevnet(d).leftovers() == [] and gone(pids)
    finally:
        net.down()
        netns.cleanup_stale(d)


def test_netns_down_cleans_up_after_the_devnet_command_was_killed(tmp_path: Path) -> None:
    d = tmp_path / "net"
    net = Net(d)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}
    proc = subprocess.Popen([*DAOLI, "devnet", "up", "--nodes", "2", "--netns", "--dir",
                             str(d)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    try:
        wait_for("the devnet's record", lambda: (d / "devnet.json").exists(), 60)
        wait_for("both nodes final", lambda: all((h or 0) >= 1 for h in net.heights().values())
                 and len(net.heights()) == 2, 90)
        proc.send_signal(signal.SIGKILL)  # the dashboard dies: no cleanup of its own
        proc.wait(10)
        pids = [n["pid"] for n in net.status()["nodes"]]
        assert all(pids) and not gone(pids)  # nodes live on in their namespaces
        assert netns.NetnsDevnet(d).leftovers()
        down = ok("devnet", "down", "--dir", str(d))
        assert down["stopped"] == 2 and netns.NetnsDevnet(d).leftovers() == []
        assert gone(pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        net.down()
        netns.cleanup_stale(d)


def test_a_kept_netns_devnet_resumes_in_namespaces(tmp_path: Path) -> None:
    d = tmp_path / "net"
    d.mkdir()
    r = daoli("devnet", "up", "--netns", "--nodes", "1", "--dir", str(d / "x"), "--detach")
    try:
        assert r.returncode == 0, r.stderr
        ok("devnet", "down", "--keep-data", "--dir", str(d / "x"))
        again = daoli("devnet", "up", "--dir", str(d / "x"), "--detach", "--json")
        assert again.returncode == 0, again.stderr  # resumes in namespaces as made
        assert '"netns": true' in again.stdout
    finally:
        daoli("devnet", "down", "--dir", str(d / "x"))
        netns.cleanup_stale(d / "x")
