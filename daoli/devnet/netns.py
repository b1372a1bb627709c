"""Real network isolation for a devnet: one Linux network namespace per node, joined by veth
pairs to a bridge the devnet owns, so partitions cut real links and ``tc`` shapes real packets.

Why namespaces: with every node on 127.0.0.1 a "partition" is only the nodes agreeing to
refuse each other, and shaping is only the nodes delaying their own messages. A namespace
gives each node its own interface and routing table, so the kernel enforces both.

Names are derived from the devnet directory alone (:class:`NetnsNames`: the first 6 hex
digits of the SHA-256 of the resolved path), so after the devnet command crashes another
one recomputes them and finds, or removes, exactly this devnet's objects
(:func:`cleanup_stale`) without touching another devnet's (a different tag) or anything
else on the host. Names stay within Linux's 15-character interface limit::

    namespace of node i     daoli-<tag>-<i>
    bridge (host)           dlb<tag>
    veth, host end          dl<tag>v<i>       (the end inside the namespace is eth0)

Address plan (:class:`NetnsPlan`): a private /24 ``10.<200..249>.<b>.0/24`` picked from the
tag, skipping /24s that overlap an address or a route already on the host (routes broader
than /16, such as a VPN's 10.0.0.0/8, are not a clash: our connected /24 only shadows 256 of
their addresses). Node i is ``.<i+1>`` on its eth0 (so at most 253 nodes); the bridge is
``.254`` on the host, which gives the host a connected route to every node: the devnet
command reaches node APIs directly. Namespaces have ``lo`` up and no default route, so a
node reaches its peers, the host, and nothing else. No interface of the devnet gets an IPv6
link-local address (``addrgenmode none``): IPv6 between namespaces would bypass the IPv4
routes that make partitions. Node processes must therefore listen on
their namespace address (or 0.0.0.0), not 127.0.0.1, which is each namespace's own loopback.

Partitions (:meth:`NetnsDevnet.partition`) are ``unreachable`` routes: in each namespace, an
``unreachable <peer>/32`` route for every node outside its group. There is no
iptables/nftables here, and this needs none: the /32 beats the connected /24, so a dial
fails at once with EHOSTUNREACH ("No route to host", what a real cut link reports) instead
of hanging, and since both sides carry the route no segment crosses in either direction,
so established connections between groups stall as on a real cut (the nodes notice by
their own timeouts). Host-to-node traffic is untouched (the host's address is never
blocked). Alternatives rejected: per-group bridges need the host's address on every bridge
(one subnet on several links); bridge port isolation only knows "isolated or not", not
groups; tc filters with drop actions need classifier modules this kernel may lack.
:meth:`NetnsDevnet.heal` removes only ``unreachable`` routes to this devnet's node
addresses, i.e. exactly what a partition adds, and is idempotent.

Bandwidth (:meth:`NetnsDevnet.limit`): a ``tbf`` qdisc on the host end of node i's veth
(everything sent to the node, host API traffic included) and on eth0 inside its namespace
(everything it sends). Delay and loss need ``sch_netem``, which some kernels lack:
:func:`netem_supported` tells the caller whether to fall back to the nodes' own shaping.

Every command runs without a shell, with a timeout, and every failure is a one-line
:class:`ConfigError` that names the command and the first line of its error output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from daoli.errors import ConfigError
from daoli.files import show

COMMAND_TIMEOUT_S = 10.0
"""Bound on every ``ip``/``tc`` call (they normally take milliseconds)."""
TAG_LEN = 6
"""Hex digits of the directory hash in every name: 16.7 million devnets before a clash."""
MAX_NODES = 253
"""Node addresses are .1 to .253 of the /24; .254 is the bridge."""
SUBNET_SECOND_OCTETS = range(200, 250)
"""Subnets are 10.<200..249>.<b>.0/24: far from the 10.0.x and 10.1.x most LANs and VPNs use."""
TBF_LATENCY = "200ms"
"""How long a packet may wait in the tbf queue before it is dropped (tbf needs a bound)."""
MIN_BURST = 16 * 1024
"""Smallest default tbf bucket, bytes: ten full-size packets, so TCP is not starved by a
bucket smaller than its bursts, yet a 1 Mbit/s limit lets only 0.13 s of traffic through
unshaped."""

_IFNAMSIZ = 15
_RATE_UNITS = {
    "bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9,
    "kibit": 2**10, "mibit": 2**20, "gibit": 2**30,
    "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9,
}
_RATE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_MIN_RATE = 1000
_MAX_RATE = 100 * 10**9


# --- names and addresses (pure) ----------------------------------------------------------------


def directory_tag(directory: Path | str) -> str:
    """The short hash that makes this devnet's names: of the resolved path, so ``./net`` and
    its absolute path (or a symlink to it) name the same devnet."""
    resolved = Path(directory).resolve()
    return hashlib.sha256(os.fsencode(resolved)).hexdigest()[:TAG_LEN]


@dataclass(frozen=True)
class NetnsNames:
    """Every kernel object name of one devnet, and the test of whether a name is one of them
    (exact patterns, so another devnet's objects are never matched)."""

    tag: str

    @classmethod
    def of(cls, directory: Path | str) -> NetnsNames:
        return cls(directory_tag(directory))

    @property
    def bridge(self) -> str:
        return f"dlb{self.tag}"

    def namespace(self, i: int) -> str:
        return f"daoli-{self.tag}-{i}"

    def host_veth(self, i: int) -> str:
        return f"dl{self.tag}v{i}"

    def namespace_index(self, name: str) -> int | None:
        """i when ``name`` is this devnet's namespace of node i."""
        m = re.fullmatch(rf"daoli-{self.tag}-(0|[1-9]\d*)", name)
        return int(m.group(1)) if m else None

    def owns_link(self, name: str) -> bool:
        """Whether ``name`` is this devnet's bridge or one of its host-side veths."""
        return name == self.bridge or re.fullmatch(rf"dl{self.tag}v(0|[1-9]\d*)", name) is not None


@dataclass(frozen=True)
class NetnsPlan:
    """Names plus the subnet chosen when the devnet was created and its number of nodes."""

    names: NetnsNames
    subnet: IPv4Network
    n_nodes: int

    def address(self, i: int) -> str:
        """Node i's address on its eth0."""
        return str(self.subnet.network_address + i + 1)

    @property
    def addresses(self) -> list[str]:
        return [self.address(i) for i in range(self.n_nodes)]

    @property
    def bridge_address(self) -> str:
        """The host's address on the bridge: what nodes see connections from the host come from."""
        return str(self.subnet.network_address + 254)

    def as_dict(self) -> dict[str, Any]:
        """For the devnet record (informative: the live objects are the truth)."""
        return {"tag": self.names.tag, "subnet": str(self.subnet), "bridge": self.names.bridge,
                "bridge_address": self.bridge_address,
                "namespaces": [self.names.namespace(i) for i in range(self.n_nodes)],
                "addresses": self.addresses}


def choose_subnet(tag: str, taken: Iterable[IPv4Network]) -> IPv4Network:
    """The tag's /24 in 10.200.0.0-10.249.255.0, or the next one (wrapping) that overlaps
    nothing in ``taken``; ConfigError when every one does."""
    taken = list(taken)
    count = len(SUBNET_SECOND_OCTETS) * 256
    start = int(tag, 16) % count
    for k in range(count):
        idx = (start + k) % count
        net = IPv4Network((f"10.{SUBNET_SECOND_OCTETS[0] + idx // 256}.{idx % 256}.0", 24))
        if not any(net.overlaps(t) for t in taken):
            return net
    raise ConfigError("no free /24 for the devnet's network in 10.200.0.0/16 to 10.249.0.0/16")


def parse_rate(rate: str | int) -> int:
    """A bandwidth in bits/s: an int is bits/s; a string needs a tc unit (``1mbit``,
    ``500kbit``, ``2mbps`` = bytes/s), since tc reads a bare number as bytes/s."""
    if isinstance(rate, bool):
        raise ConfigError(f"bad rate {show(rate)}: give bits/s or a value with a unit like 1mbit")
    if isinstance(rate, int):
        bits = rate
    else:
        m = _RATE_RE.fullmatch(rate.strip().lower())
        if m is None or m.group(2) not in _RATE_UNITS:
            raise ConfigError(f"bad rate {show(rate)!r}: expected e.g. 1mbit, 500kbit, 2mbps")
        bits = int(float(m.group(1)) * _RATE_UNITS[m.group(2)])
    if not _MIN_RATE <= bits <= _MAX_RATE:
        raise ConfigError(f"rate {show(rate)} out of range: 1kbit to 100gbit")
    return bits


def default_burst(bits_per_s: int) -> int:
    """tbf bucket in bytes: 10 ms of traffic (so timer granularity cannot starve fast links),
    at least :data:`MIN_BURST`."""
    return max(bits_per_s // 8 // 100, MIN_BURST)


def netem_args(delay_ms: float, jitter_ms: float, loss: float,
               rate_bits: int | None = None) -> list[str]:
    """The ``tc qdisc ... root`` arguments for a netem qdisc (empty: nothing to shape, no
    qdisc needed). Only a rate: a plain tbf, which every kernel has."""
    for v, what, hi in ((delay_ms, "delay", 60_000), (jitter_ms, "jitter", 60_000),
                        (loss, "loss", 1)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= hi:
            raise ConfigError(f"bad {what} {show(v)}: 0 to {hi}")
    if not (delay_ms or jitter_ms or loss):
        if rate_bits is None:
            return []
        return ["tbf", "rate", f"{rate_bits}bit", "burst", str(default_burst(rate_bits)),
                "latency", TBF_LATENCY]
    args = ["netem", "delay", f"{delay_ms:g}ms"]
    if jitter_ms:
        args.append(f"{jitter_ms:g}ms")
    if loss:
        args += ["loss", f"{loss * 100:g}%"]
    if rate_bits is not None:
        args += ["rate", f"{rate_bits}bit"]
    return args


def complete_groups(groups: Sequence[Sequence[int]], n_nodes: int) -> list[list[int]]:
    """The partition's groups with the nodes named in no group as one more group (the same
    rule as the devnet's application-level partition); ConfigError on bad input."""
    seen = [i for g in groups for i in g]
    for i in seen:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_nodes:
            raise ConfigError(f"no node {show(i)} in a devnet of {n_nodes} nodes")
    if len(set(seen)) != len(seen):
        raise ConfigError("a node is in two groups")
    rest = [i for i in range(n_nodes) if i not in seen]
    out = [list(g) for g in groups if g] + ([rest] if rest else [])
    if len(out) < 2:
        raise ConfigError("a partition needs at least two groups")
    return out


# --- commands ----------------------------------------------------------------------------------


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return show(lines[0]) if lines else "no error output"


def _command_text(argv: Sequence[str]) -> str:
    text = shlex.join(argv)
    return show(text if len(text) <= 100 else text[:97] + "...")


def _try(argv: Sequence[str], stdin: str | None = None) -> tuple[bool, str, str]:
    """(ok, stdout, first error line) of one bounded command; never raises."""
    try:
        proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return False, "", f"{show(argv[0])} is not installed"
    except subprocess.TimeoutExpired:
        return False, "", f"timed out after {COMMAND_TIMEOUT_S:.0f} s"
    except OSError as exc:
        return False, "", show(exc.strerror or exc)
    return proc.returncode == 0, proc.stdout, _first_line(proc.stderr or proc.stdout)


def _run(argv: Sequence[str], stdin: str | None = None) -> str:
    """stdout of a command that must succeed; ConfigError naming it otherwise."""
    ok, out, err = _try(argv, stdin)
    if not ok:
        raise ConfigError(f"'{_command_text(argv)}' failed: {err}")
    return out


def _json(argv: Sequence[str]) -> list[dict[str, Any]]:
    """A ``-j`` listing (iproute2 prints nothing at all for an empty one)."""
    out = _run(argv)
    try:
        data = json.loads(out) if out.strip() else []
    except json.JSONDecodeError:
        raise ConfigError(f"'{_command_text(argv)}' printed no JSON") from None
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _namespaces() -> list[str]:
    return [str(d["name"]) for d in _json(["ip", "-j", "netns", "list"]) if "name" in d]


def _links() -> list[str]:
    return [str(d["ifname"]) for d in _json(["ip", "-j", "link", "show"]) if "ifname" in d]


def _host_networks() -> list[IPv4Network]:
    """IPv4 networks the host already uses: every address's subnet and every route of /16 or
    narrower (default and broad catch-all routes are not clashes, see the module doc)."""
    nets: list[IPv4Network] = []
    for link in _json(["ip", "-j", "-4", "addr", "show"]):
        for a in link.get("addr_info", []):
            if isinstance(a, dict) and "local" in a and "prefixlen" in a:
                try:
                    nets.append(IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False))
                except ValueError:
                    continue
    for route in _json(["ip", "-j", "-4", "route", "show", "table", "all"]):
        dst = str(route.get("dst", "default"))
        try:
            net = IPv4Network(dst, strict=False)
        except ValueError:
            continue  # "default" and the like
        if net.prefixlen >= 16:
            nets.append(net)
    return nets


def _probe_namespace() -> str:
    return f"daoli-probe-{os.getpid()}-{secrets.token_hex(3)}"


def unavailable_reason() -> str | None:
    """Why netns mode cannot run here, in one line; None when it can. Tries the real thing
    (a throwaway namespace holding a veth pair, a bridge and a tbf qdisc), so a missing
    kernel module is found here rather than halfway through a devnet start."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"the '{tool}' command (iproute2) is not installed"
    ns = _probe_namespace()
    ok, _, err = _try(["ip", "netns", "add", ns])
    if not ok:
        return f"cannot create a network namespace: {err}"
    try:
        for what, argv in (
            ("a veth pair", ["ip", "-n", ns, "link", "add", "pa", "type", "veth", "peer",
                             "name", "pb"]),
            ("a bridge", ["ip", "-n", ns, "link", "add", "pbr", "type", "bridge"]),
            ("a tbf qdisc", ["tc", "-n", ns, "qdisc", "add", "dev", "pa", "root", "tbf",
                             "rate", "1mbit", "burst", "16384", "latency", TBF_LATENCY]),
        ):
            ok, _, err = _try(argv)
            if not ok:
                return f"cannot create {what}: {err}"
    finally:
        _try(["ip", "netns", "del", ns])
    return None


def netem_supported() -> bool:
    """Whether the kernel has ``sch_netem`` (delay, jitter, loss), tried on the loopback of a
    throwaway namespace; False when netns mode itself is unavailable."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    ns = _probe_namespace()
    if not _try(["ip", "netns", "add", ns])[0]:
        return False
    try:
        return _try(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay",
                     "1ms"])[0]
    finally:
        _try(["ip", "netns", "del", ns])


# --- one devnet's network ------------------------------------------------------------------------


class NetnsDevnet:
    """The namespaces, veths and bridge of the devnet in ``directory``.

    Constructing one touches nothing. :meth:`create` builds the network; on an object built
    for a directory whose network already exists (the devnet command restarted or crashed)
    every method works too: the plan is read back from the live bridge and namespaces.
    """

    def __init__(self, directory: Path | str) -> None:
        self.names = NetnsNames.of(directory)
        self._plan: NetnsPlan | None = None

    # -- state

    @property
    def plan(self) -> NetnsPlan:
        """The address plan; read from the live objects when this object did not create them."""
        if self._plan is None:
            self._plan = self._discover()
        return self._plan

    def _discover(self) -> NetnsPlan:
        missing = f"the devnet's network (bridge {self.names.bridge}) is not set up"
        if self.names.bridge not in _links():
            raise ConfigError(missing)
        subnet = None
        for link in _json(["ip", "-j", "-4", "addr", "show", "dev", self.names.bridge]):
            for a in link.get("addr_info", []):
                if isinstance(a, dict) and a.get("prefixlen") == 24 and "local" in a:
                    subnet = IPv4Network(f"{a['local']}/24", strict=False)
        indexes = [i for i in map(self.names.namespace_index, _namespaces()) if i is not None]
        if subnet is None or not indexes:
            raise ConfigError(missing)
        return NetnsPlan(self.names, subnet, max(indexes) + 1)

    def leftovers(self) -> list[str]:
        """Names of this devnet's namespaces and host links that exist now (sorted)."""
        found = [n for n in _namespaces() if self.names.namespace_index(n) is not None]
        found += [n for n in _links() if self.names.owns_link(n)]
        return sorted(found)

    def _node(self, i: int) -> NetnsPlan:
        plan = self.plan
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < plan.n_nodes:
            raise ConfigError(f"no node {show(i)} in a devnet of {plan.n_nodes} nodes")
        return plan

    def address(self, i: int) -> str:
        return self._node(i).address(i)

    # -- lifecycle

    def create(self, n_nodes: int) -> list[str]:
        """Build the bridge and ``n_nodes`` namespaces; the node addresses, node i at index i.

        Refuses (ConfigError, nothing touched) when objects of this devnet already exist:
        they may belong to a running devnet; remove them with :meth:`destroy` or
        :func:`cleanup_stale` once it is known not to be. On any other failure, or an
        interrupt, everything made so far is removed before the error propagates.
        """
        if isinstance(n_nodes, bool) or not isinstance(n_nodes, int) \
                or not 1 <= n_nodes <= MAX_NODES:
            raise ConfigError(f"a netns devnet has 1 to {MAX_NODES} nodes, not {show(n_nodes)}")
        left = self.leftovers()
        if left:
            more = f" and {len(left) - 3} more" if len(left) > 3 else ""
            raise ConfigError(f"this devnet's network already exists ({', '.join(left[:3])}{more})"
                              "; remove it first if no devnet is running")
        plan = NetnsPlan(self.names, choose_subnet(self.names.tag, _host_networks()), n_nodes)
        br = self.names.bridge
        try:
            _run(["ip", "link", "add", br, "type", "bridge"])
            _run(["ip", "addr", "add", f"{plan.bridge_address}/24", "dev", br])
            # addrgenmode before up, in its own call: the kernel applies "up" first
            _run(["ip", "link", "set", br, "addrgenmode", "none"])
            _run(["ip", "link", "set", br, "up"])
            for i in range(n_nodes):
                self._add_namespace(plan, i)
        except BaseException:
            self._plan = None
            with contextlib.suppress(ConfigError):  # the first error says more
                self.destroy()
            raise
        self._plan = plan
        return plan.addresses

    def planned(self, n_nodes: int) -> NetnsPlan:
        """The plan :meth:`create` would make now (nothing touched): a devnet writes its
        nodes' addresses into their settings before the network exists."""
        return NetnsPlan(self.names, choose_subnet(self.names.tag, _host_networks()), n_nodes)

    def _add_namespace(self, plan: NetnsPlan, i: int) -> None:
        ns, veth = self.names.namespace(i), self.names.host_veth(i)
        _run(["ip", "netns", "add", ns])
        _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0",
              "netns", ns])
        _run(["ip", "link", "set", veth, "master", self.names.bridge, "addrgenmode", "none"])
        _run(["ip", "link", "set", veth, "up"])
        _run(["ip", "-n", ns, "-batch", "-"],
             f"link set lo up\naddr add {plan.address(i)}/24 dev eth0\n"
             "link set eth0 addrgenmode none\nlink set eth0 up\n")

    def add(self) -> str:
        """One more node's namespace on the live bridge (``devnet add-node``); its address.
        On failure what was made of it is removed."""
        plan = self.plan
        i = plan.n_nodes
        if i >= MAX_NODES:
            raise ConfigError(f"a netns devnet has at most {MAX_NODES} nodes")
        grown = NetnsPlan(self.names, plan.subnet, i + 1)
        try:
            self._add_namespace(grown, i)
        except BaseException:
            _try(["ip", "link", "del", self.names.host_veth(i)])
            _try(["ip", "netns", "del", self.names.namespace(i)])
            raise
        self._plan = grown
        return grown.address(i)

    def destroy(self) -> list[str]:
        """Remove every object of this devnet that exists (by name, so it also cleans up after
        a crash); what it removed. Idempotent: objects already gone are no error.

        Host veths go first and explicitly: deleting a namespace frees its interfaces only
        asynchronously, and not at all while a process still runs in it, whereas deleting
        one end of a veth removes the pair at once. Processes still inside a namespace keep
        running, cut off; stopping them is the caller's job (before this).
        """
        removed: list[str] = []
        errors: list[str] = []

        def delete(name: str, argv: list[str]) -> None:
            ok, _, err = _try(argv)
            if ok:
                removed.append(name)
            else:
                errors.append(err)

        links = [n for n in _links() if self.names.owns_link(n)]
        for name in sorted(n for n in links if n != self.names.bridge):
            delete(name, ["ip", "link", "del", name])
        for name in sorted(n for n in _namespaces() if self.names.namespace_index(n) is not None):
            delete(name, ["ip", "netns", "del", name])
        if self.names.bridge in links:
            delete(self.names.bridge, ["ip", "link", "del", self.names.bridge])
        self._plan = None
        left = self.leftovers()
        if left:
            raise ConfigError(f"could not remove {', '.join(left)}: "
                              f"{errors[0] if errors else 'it came back'}")
        return removed

    # -- running things inside

    def wrap(self, i: int, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside node i's namespace. ``ip netns exec`` execs the program, so the
        PID of the process started from this is the program's own (safe to record and signal)."""
        self._node(i)
        return ["ip", "netns", "exec", self.names.namespace(i), *argv]

    # -- faults

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Cut every link between nodes of different groups (nodes in no group form one more
        group), replacing any earlier partition. See the module doc for the mechanism."""
        plan = self.plan
        full = complete_groups(groups, plan.n_nodes)
        group_of = {i: k for k, g in enumerate(full) for i in g}
        for i in range(plan.n_nodes):
            self._set_unreachable(i, {plan.address(j) for j in range(plan.n_nodes)
                                      if group_of[j] != group_of[i]})

    def heal(self) -> None:
        """Undo :meth:`partition`: remove exactly its routes. Idempotent."""
        for i in range(self.plan.n_nodes):
            self._set_unreachable(i, set())

    def _set_unreachable(self, i: int, targets: set[str]) -> None:
        ns = self.names.namespace(i)
        ours = set(self.plan.addresses)
        current = {str(r.get("dst")) for r in _json(["ip", "-n", ns, "-j", "route", "show",
                                                     "type", "unreachable"])}
        current = {a for a in current if a in ours}
        cmds = [f"route del unreachable {a}/32" for a in sorted(current - targets)]
        cmds += [f"route add unreachable {a}/32" for a in sorted(targets - current)]
        if cmds:
            _run(["ip", "-n", ns, "-batch", "-"], "\n".join(cmds) + "\n")

    def limit(self, i: int, rate: str | int, burst: int | None = None) -> None:
        """Limit node i to ``rate`` in each direction (see :func:`parse_rate`), with a token
        bucket of ``burst`` bytes (default :func:`default_burst`); replaces an earlier limit."""
        self._node(i)
        bits = parse_rate(rate)
        if burst is None:
            burst = default_burst(bits)
        elif isinstance(burst, bool) or not isinstance(burst, int) or not 2048 <= burst <= 1 << 30:
            raise ConfigError(f"bad burst {show(burst)}: 2048 bytes (above one packet) to 1 GiB")
        tbf = ["root", "tbf", "rate", f"{bits}bit", "burst", str(burst), "latency", TBF_LATENCY]
        _run(["tc", "qdisc", "replace", "dev", self.names.host_veth(i), *tbf])
        _run(["tc", "-n", self.names.namespace(i), "qdisc", "replace", "dev", "eth0", *tbf])

    def netem(self, i: int, delay_ms: float, jitter_ms: float, loss: float,
              rate: str | int | None = None) -> None:
        """Delay, jitter and loss of what node i sends, by ``sch_netem`` on its eth0 (the
        kernel must have it: :func:`netem_supported`), with netem's own ``rate`` for the
        outbound limit, and a tbf for the inbound one on the host end; all zero and no
        rate removes both."""
        self._node(i)
        ns, veth = self.names.namespace(i), self.names.host_veth(i)
        bits = None if rate is None else parse_rate(rate)
        args = netem_args(delay_ms, jitter_ms, loss, bits)
        if args:
            _run(["tc", "-n", ns, "qdisc", "replace", "dev", "eth0", "root", *args])
        else:
            self._delete_root(["tc", "-n", ns], "eth0", ("netem", "tbf"))
        if bits is None:
            self._delete_root(["tc"], veth, ("tbf",))
        else:
            _run(["tc", "qdisc", "replace", "dev", veth, "root", "tbf", "rate", f"{bits}bit",
                  "burst", str(default_burst(bits)), "latency", TBF_LATENCY])

    @staticmethod
    def _delete_root(prefix: list[str], dev: str, kinds: tuple[str, ...]) -> None:
        shown = _json([prefix[0], "-j", *prefix[1:], "qdisc", "show", "dev", dev, "root"])
        if any(q.get("kind") in kinds and q.get("root") for q in shown):
            _run([*prefix, "qdisc", "del", "dev", dev, "root"])

    def unlimit(self, i: int) -> None:
        """Remove node i's limit: only a tbf root qdisc, i.e. what :meth:`limit` adds.
        Idempotent."""
        self._node(i)
        for prefix, dev in ((["tc"], self.names.host_veth(i)),
                            (["tc", "-n", self.names.namespace(i)], "eth0")):
            shown = _json([prefix[0], "-j", *prefix[1:], "qdisc", "show", "dev", dev, "root"])
            if any(q.get("kind") == "tbf" and q.get("root") for q in shown):
                _run([*prefix, "qdisc", "del", "dev", dev, "root"])


def cleanup_stale(directory: Path | str) -> list[str]:
    """Remove whatever a crashed devnet command left of the network of ``directory`` (found by
    its deterministic names); what was removed. Call it only when no node of that devnet
    runs: it cannot tell a crashed devnet from a live one."""
    return NetnsDevnet(directory).destroy()

