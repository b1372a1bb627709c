"""``daoli.devnet.netns`` on real network namespaces: small Python programs run inside them
through ``wrap()`` talk TCP, and the tests check that partitions and limits act on real
packets and that nothing of a devnet survives ``destroy()``. The name, address-plan and
input-checking tests need no root."""

from __future__ import annotations

import errno
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daoli.devnet import netns
from daoli.devnet.netns import NetnsDevnet, NetnsNames
from daoli.errors import ConfigError

REASON = netns.unavailable_reason()
needs_netns = pytest.mark.skipif(REASON is not None, reason=f"netns mode unavailable: {REASON}")

PORT = 7000

SERVER = r"""
import socket, sys, threading
def serve(c):
    with c:
        n = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
        c.sendall(str(n).encode())
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""
"""Counts what a connection sends until EOF and answers with the count."""

CLIENT = r"""
import json, socket, sys, time
addr, port, size, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
try:
    c = socket.create_connection((addr, port), timeout=timeout)
    if len(sys.argv) > 5:
        print(json.dumps({"connected": True}), flush=True)
        sys.stdin.readline()
    t0 = time.monotonic()
    c.sendall(b"x" * size)
    c.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        b = c.recv(64)
        if not b:
            break
        reply += b
    out = {"ok": reply == str(size).encode(), "seconds": time.monotonic() - t0}
except OSError as e:
    out = {"ok": False, "error": type(e).__name__, "errno": e.errno}
print(json.dumps(out), flush=True)
"""
"""Sends ``size`` bytes, waits for the count; with a 6th argument it pauses after connecting
until a line arrives on stdin. Prints one JSON line."""


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """One stdout line of ``proc``, waited for with a deadline."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no output within {timeout} s"
    return proc.stdout.readline()


def transfer(net: NetnsDevnet, src: int | None, dst: str, size: int = 4,
             timeout: float = 2.0) -> dict[str, Any]:
    """Run the client from node ``src`` (None: the host) to ``dst``:PORT."""
    argv = [sys.executable, "-c", CLIENT, dst, str(PORT), str(size), str(timeout)]
    cmd = argv if src is None else net.wrap(src, argv)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    assert r.returncode == 0, r.stderr
    result: dict[str, Any] = json.loads(r.stdout)
    return result


def reaches(net: NetnsDevnet, src: int | None, dst: int) -> bool:
    return bool(transfer(net, src, net.address(dst))["ok"])


def throughput(net: NetnsDevnet, src: int, dst: int, size: int) -> float:
    """Bits per second of a ``size``-byte transfer from node src to node dst."""
    r = transfer(net, src, net.address(dst), size, timeout=30)
    assert r["ok"], r
    return size * 8 / float(r["seconds"])


@pytest.fixture
def net(tmp_path: Path) -> Iterator[NetnsDevnet]:
    d = tmp_path / "devnet"
    d.mkdir()
    n = NetnsDevnet(d)
    n.create(3)
    try:
        yield n
    finally:
        netns.cleanup_stale(d)


def start_servers(net: NetnsDevnet, nodes: Sequence[int]) -> list[subprocess.Popen[str]]:
    procs = []
    for i in nodes:
        p = subprocess.Popen(net.wrap(i, [sys.executable, "-c", SERVER, net.address(i),
                                          str(PORT)]),
                             stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert read_line(p, 10) == "ready\n"
        # ip netns exec execs: the PID we hold is the server's own
        cmdline = Path(f"/proc/{p.pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[0] == os.fsencode(sys.executable) and cmdline[1] == b"-c"
    return procs


def stop(procs: Sequence[subprocess.Popen[str]]) -> None:
    for p in procs:
        p.kill()
        p.wait(10)
        if p.stdout is not None:
            p.stdout.close()


@pytest.fixture
def servers(net: NetnsDevnet) -> Iterator[NetnsDevnet]:
    """``net`` with a SERVER listening on every node's address."""
    procs = start_servers(net, range(net.plan.n_nodes))
    try:
        yield net
    finally:
        stop(procs)


def ip_json(*args: str) -> list[dict[str, Any]]:
    out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    data: list[dict[str, Any]] = json.loads(out) if out.strip() else []
    return data


def host_names() -> set[str]:
    """Every namespace and host link name that exists now."""
    return ({d["name"] for d in ip_json("netns", "list")}
            | {d["ifname"] for d in ip_json("link", "show")})


# --- no root needed ----------------------------------------------------------------------------


def test_names_are_deterministic_short_and_exclusive(tmp_path: Path) -> None:
    d = tmp_path / "net"
    d.mkdir()
    (tmp_path / "link").symlink_to(d)
    names = NetnsNames.of(d)
    assert len(names.tag) == 6 and int(names.tag, 16) >= 0
    assert NetnsNames.of(tmp_path / "link") == names
    assert NetnsNames.of(tmp_path / "net" / ".." / "net") == names
    assert NetnsNames.of(tmp_path / "other") != names
    for i in (0, 9, 10, netns.MAX_NODES - 1):
        assert len(names.host_veth(i)) <= 15
        assert names.owns_link(names.host_veth(i))
        assert names.namespace_index(names.namespace(i)) == i
    assert len(names.bridge) <= 15 and names.owns_link(names.bridge)
    other = NetnsNames("b" + names.tag[:5] if names.tag[0] != "b" else "c" + names.tag[:5])
    for foreign in (other.bridge, other.host_veth(0), f"dl{names.tag}v", f"dl{names.tag}v01",
                    f"{names.host_veth(1)}x", "eth0", f"dlb{names.tag}0"):
        assert not names.owns_link(foreign), foreign
    for foreign in (other.namespace(0), f"daoli-{names.tag}-01", f"daoli-{names.tag}-",
                    f"daoli-{names.tag}-1-x", f"daoli-probe-{names.tag}"):
        assert names.namespace_index(foreign) is None, foreign


def test_address_plan() -> None:
    plan = netns.NetnsPlan(NetnsNames("abcdef"), IPv4Network("10.201.7.0/24"), 3)
    assert plan.addresses == ["10.201.7.1", "10.201.7.2", "10.201.7.3"]
    assert plan.bridge_address == "10.201.7.254"
    assert plan.as_dict()["namespaces"] == ["daoli-abcdef-0", "daoli-abcdef-1", "daoli-abcdef-2"]


nets = st.builds(lambda a, b, c, p: IPv4Network((f"{a}.{b}.{c}.0", p), strict=False),
                 st.sampled_from([10, 192, 172]), st.integers(195, 255), st.integers(0, 255),
                 st.integers(16, 32))


@given(st.text("0123456789abcdef", min_size=6, max_size=6), st.lists(nets, max_size=20))
def test_choose_subnet_avoids_what_the_host_uses(tag: str, taken: list[IPv4Network]) -> None:
    net = netns.choose_subnet(tag, taken)
    assert net.prefixlen == 24 and net.subnet_of(IPv4Network("10.0.0.0/8"))
    assert 200 <= net.network_address.packed[1] <= 249
    assert not any(net.overlaps(t) for t in taken)
    assert netns.choose_subnet(tag, taken) == net
    if not taken:
        assert netns.choose_subnet(tag, [net.supernet(new_prefix=20)]) != net


def test_choose_subnet_wraps_and_runs_out() -> None:
    last = IPv4Network("10.249.255.0/24")
    tag = format((50 * 256 - 1), "06x")  # the last candidate
    assert netns.choose_subnet(tag, []) == last
    assert netns.choose_subnet(tag, [last]) == IPv4Network("10.200.0.0/24")
    with pytest.raises(ConfigError, match="no free /24"):
        netns.choose_subnet(tag, [IPv4Network("10.192.0.0/10")])


@pytest.mark.parametrize(("rate", "bits"), [
    (1_000_000, 1_000_000), ("1mbit", 1_000_000), ("500kbit", 500_000), ("2mbps", 16_000_000),
    ("1.5 Mbit", 1_500_000), ("1kibit", 1024), ("1gbit", 10**9)])
def test_parse_rate(rate: str | int, bits: int) -> None:
    assert netns.parse_rate(rate) == bits


@pytest.mark.parametrize("rate", ["1000", "fast", "1 furlong", "-1mbit", "", 10, 10**12, True])
def test_parse_rate_refuses(rate: str | int) -> None:
    with pytest.raises(ConfigError) as e:
        netns.parse_rate(rate)
    assert "\n" not in str(e.value)


def test_complete_groups() -> None:
    assert netns.complete_groups([[0], [1, 2]], 3) == [[0], [1, 2]]
    assert netns.complete_groups([[2]], 4) == [[2], [0, 1, 3]]
    for bad, match in (([[0], [0, 1]], "two groups"), ([[0, 1, 2]], "two groups"),
                       ([], "two groups"), ([[0], [3]], "no node 3")):
        with pytest.raises(ConfigError, match=match):
            netns.complete_groups(bad, 3)


def test_default_burst() -> None:
    assert netns.default_burst(1_000_000) == netns.MIN_BURST
    assert netns.default_burst(10**9) == 10**9 // 800


# --- real namespaces ---------------------------------------------------------------------------


@needs_netns
def test_create_wires_every_node(servers: NetnsDevnet) -> None:
    net = servers
    plan = net.plan
    assert net.leftovers() == sorted(
        [net.names.bridge] + [net.names.namespace(i) for i in range(3)]
        + [net.names.host_veth(i) for i in range(3)])
    for i in range(3):
        links = {d["ifname"]: d for d in ip_json("-n", net.names.namespace(i), "addr", "show")}
        assert set(links) == {"lo", "eth0"}
        assert "UP" in links["lo"]["flags"] and "UP" in links["eth0"]["flags"]
        # IPv4 only: IPv6 link-local traffic would not see the partition routes
        assert [(a["family"], a["local"], a["prefixlen"]) for a in links["eth0"]["addr_info"]
                ] == [("inet", plan.address(i), 24)]
    bridge = ip_json("addr", "show", "dev", net.names.bridge)[0]
    assert [(a["family"], a["local"]) for a in bridge["addr_info"]] == [
        ("inet", plan.bridge_address)]
    assert plan.bridge_address == net.address(0)[:-1] + "254"
    for i in range(3):
        assert ip_json("addr", "show", "dev", net.names.host_veth(i))[0]["addr_info"] == []
    assert reaches(net, 0, 1) and reaches(net, 2, 0)
    for i in range(3):
        assert reaches(net, None, i)  # the host, through the bridge's connected route
    # no default route: a node reaches its devnet and nothing else
    outside = transfer(net, 0, "198.51.100.1", timeout=1)
    assert outside["errno"] == errno.ENETUNREACH


@needs_netns
def test_partition_cuts_real_links_and_heal_restores(servers: NetnsDevnet) -> None:
    net = servers
    # a connection made before the partition, paused until told to send
    held = subprocess.Popen(net.wrap(0, [sys.executable, "-c", CLIENT, net.address(1),
                                         str(PORT), "4", "1.5", "pause"]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(read_line(held, 10)) == {"connected": True}
        net.partition([[0], [1, 2]])
        assert held.stdin is not None
        held.stdin.write("go\n")
        held.stdin.flush()
        stalled = json.loads(read_line(held, 10))
        assert stalled["ok"] is False and stalled["error"] == "TimeoutError"
    finally:
        stop([held])
    t0 = time.monotonic()
    refused = transfer(net, 0, net.address(1), timeout=5)
    assert refused["errno"] == errno.EHOSTUNREACH
    assert time.monotonic() - t0 < 3  # fails at once, not by timing out
    assert transfer(net, 2, net.address(0), timeout=5)["errno"] == errno.EHOSTUNREACH
    assert reaches(net, 1, 2) and reaches(net, 2, 1)
    assert all(reaches(net, None, i) for i in range(3))
    # a new partition replaces the old one
    net.partition([[2]])
    assert reaches(net, 0, 1) and not reaches(net, 1, 2) and not reaches(net, 2, 0)
    net.heal()
    net.heal()
    assert reaches(net, 0, 1) and reaches(net, 1, 2) and reaches(net, 2, 0)
    for i in range(3):
        routes = ip_json("-n", net.names.namespace(i), "route", "show", "type", "unreachable")
        assert routes == []
    with pytest.raises(ConfigError, match="two groups"):
        net.partition([[0, 1, 2]])


@needs_netns
def test_limit_shapes_both_directions(servers: NetnsDevnet) -> None:
    net = servers
    size = 512 * 1024
    fast = throughput(net, 0, 1, size)
    net.limit(1, "1mbit")
    to_node = throughput(net, 0, 1, size)
    from_node = throughput(net, 1, 0, size // 2)
    assert to_node < 1.5e6 and from_node < 1.5e6, (to_node, from_node)
    assert fast > 10 * to_node, (fast, to_node)
    assert throughput(net, 0, 2, size) > 10 * to_node  # other nodes are not limited
    net.limit(1, 4_000_000, burst=32 * 1024)  # replaces
    net.unlimit(1)
    net.unlimit(1)
    assert throughput(net, 0, 1, size) > 10 * to_node
    assert throughput(net, 1, 0, size) > 10 * to_node
    for bad in ("1000", "zero"):
        with pytest.raises(ConfigError, match="rate"):
            net.limit(1, bad)
    with pytest.raises(ConfigError, match="no node 3"):
        net.limit(3, "1mbit")


@needs_netns
def test_destroy_and_crash_cleanup(tmp_path: Path, net: NetnsDevnet) -> None:
    names = set(net.leftovers())
    assert len(names) == 7 and names <= host_names()
    # create refuses over an existing network, and leaves it alone
    with pytest.raises(ConfigError, match="already exists"):
        NetnsDevnet(tmp_path / "devnet").create(2)
    assert set(net.leftovers()) == names
    # a "crash": the object is gone, a new one finds the network by name
    plan = net.plan
    del net
    again = NetnsDevnet(tmp_path / "devnet")
    assert again.plan == plan
    assert again.wrap(2, ["true"]) == ["ip", "netns", "exec", plan.names.namespace(2), "true"]
    assert sorted(netns.cleanup_stale(tmp_path / "devnet")) == sorted(names)
    assert again.leftovers() == []
    assert not names & host_names()
    assert again.destroy() == []  # harmless when already gone
    with pytest.raises(ConfigError, match="not set up"):
        again.wrap(0, ["true"])
    assert again.create(2) == plan.addresses[:2] and len(again.leftovers()) == 5
    # a node still running (its devnet command killed) does not keep anything on the host
    procs = start_servers(again, [0])
    try:
        again.destroy()
        assert again.leftovers() == [] and procs[0].poll() is None
    finally:
        stop(procs)


@needs_netns
def test_failed_create_removes_what_it_made(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    d = NetnsDevnet(tmp_path)
    real = netns._run

    def failing(argv: Sequence[str], stdin: str | None = None) -> str:
        if d.names.host_veth(1) in argv and "add" in argv:
            return real(["ip", "link", "add", "x" * 20, "type", "bridge"])
        return real(argv, stdin)

    monkeypatch.setattr(netns, "_run", failing)
    with pytest.raises(ConfigError) as e:
        d.create(3)
    message = str(e.value)
    assert "\n" not in message and "'ip link add" in message and "failed: " in message
    assert d.leftovers() == []


@needs_netns
def test_two_devnets_do_not_interfere(tmp_path: Path) -> None:
    a, b = NetnsDevnet(tmp_path / "a"), NetnsDevnet(tmp_path / "b")
    a.create(2)
    try:
        b.create(2)
        try:
            assert a.names.tag != b.names.tag and a.plan.subnet != b.plan.subnet
            assert not set(a.leftovers()) & set(b.leftovers())
            procs = start_servers(a, [0, 1]) + start_servers(b, [0, 1])
            try:
                assert transfer(a, 0, b.address(1), timeout=1)["errno"] == errno.ENETUNREACH
                a.partition([[0], [1]])
                assert not reaches(a, 0, 1) and reaches(b, 0, 1)
                a.limit(0, "1mbit")
                assert b.plan == NetnsDevnet(tmp_path / "b").plan
                a.destroy()
                assert a.leftovers() == [] and len(b.leftovers()) == 5
                assert reaches(b, 0, 1) and reaches(b, None, 1)
            finally:
                stop(procs)
        finally:
            b.destroy()
    finally:
        a.destroy()


def test_netem_args() -> None:
    assert netns.netem_args(0, 0, 0) == []
    assert netns.netem_args(0, 0, 0, 1_000_000)[:3] == ["tbf", "rate", "1000000bit"]
    assert netns.netem_args(80, 20, 0.01) == ["netem", "delay", "80ms", "20ms", "loss", "1%"]
    assert netns.netem_args(80, 0, 0, 2_000_000) == ["netem", "delay", "80ms", "rate",
                                                     "2000000bit"]
    for bad in ((-1, 0, 0), (0, 0, 2), (True, 0, 0), (float("nan"), 0, 0)):
        with pytest.raises(ConfigError):
            netns.netem_args(*bad)


@needs_netns
def test_add_grows_a_live_network(servers: NetnsDevnet) -> None:
    before = servers.plan.n_nodes
    addr = servers.add()
    assert addr == servers.plan.address(before) and servers.plan.n_nodes == before + 1
    assert servers.names.namespace(before) in servers.leftovers()
    out = subprocess.run(servers.wrap(before, ["ip", "-4", "-o", "addr", "show", "eth0"]),
                         capture_output=True, text=True, timeout=10)
    assert addr in out.stdout
