"""The two TOML files of a node home: ``config.toml`` (node settings) and ``genesis.toml``.

Both are read strictly: a typo in a key must be an error, never silently become a default,
because a node that quietly ignores ``bootstrap_peer`` (singular) or ``[param]`` would run
with settings its operator did not choose. Every problem is one :class:`ConfigError` line
that names the file, so ``daoli`` can print it and exit 2.

Only stdlib modules and ``tomli_w`` are imported at start-up (``multiaddr`` when a
multiaddr is checked): CLI start-up must stay fast.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w

from daoli.core.encoding import MAX_U64
from daoli.core.genesis import Genesis
from daoli.core.params import LI_PER_DLC
from daoli.core.tx import MAX_MULTIADDR
from daoli.errors import ConfigError, DaoliError
from daoli.files import (
    MAX_CONFIG_FILE,
    MAX_GENESIS_FILE,
    parse_toml,
    read_bytes,
    show,
)

DEFAULT_P2P_PORT = 26656
DEFAULT_API_PORT = 26657
LOG_LEVELS = ("debug", "info", "warning", "error")

_HOSTNAME_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_HOST_PROTOCOLS = ("ip4", "ip6", "dns", "dns4", "dns6")


def parse_host_port(text: str, *, allow_port_zero: bool = True) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) to (host, port), or one ConfigError line.

    The host is an IP literal (checked by :mod:`ipaddress`: ``999.999.999.999`` is not one)
    or a DNS name of RFC 1123 labels; the port is decimal in 0..65535 (0: any free port,
    when ``allow_port_zero``).
    """
    if type(text) is not str:
        raise ConfigError("expected a host:port string")
    shown = show(text)
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{shown!r}: expected host:port, e.g. 127.0.0.1:{DEFAULT_API_PORT}")
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise ConfigError(f"{shown!r}: the port must be a number from 0 to 65535")
    port = int(port_text)
    if port > 65535 or (port == 0 and not allow_port_zero):
        raise ConfigError(f"{shown!r}: the port must be a number from "
                          f"{0 if allow_port_zero else 1} to 65535")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ConfigError(f"{shown!r}: {show(host)} is not an IPv6 address") from None
        return host[1:-1], port
    if host.replace(".", "").isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ConfigError(f"{shown!r}: {show(host)} is not an IPv4 address") from None
        return host, port
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOSTNAME_LABEL_RE.match(label) for label in labels):
        raise ConfigError(f"{shown!r}: {show(host)} is neither an IP address nor a host name")
    return host, port


def check_multiaddr(value: Any, name: str, *, listen: bool = False) -> str:
    """A TCP multiaddr a node can listen on or dial, else one ConfigError line.

    Accepted: ``/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>`` optionally followed by
    ``/p2p/<peer id>``, written in canonical form (what :mod:`multiaddr` prints back), so
    consensus data such as a genesis trustee's address has one spelling. Port 0 is allowed
    only for a listen address (any free port).
    """
    if type(value) is not str or not value.startswith("/") or len(value) > MAX_MULTIADDR:
        raise ConfigError(f"{name} must be a multiaddr string such as "
                          f"/ip4/127.0.0.1/tcp/{DEFAULT_P2P_PORT}, got {show(repr(value))}")
    from multiaddr import Multiaddr  # about 15 ms: only when a multiaddr is checked

    try:
        parsed = Multiaddr(value)
        parts = [(p.name, parsed.value_for_protocol(p.code)) for p in parsed.protocols()]
    except Exception as exc:  # noqa: BLE001 - the library raises several unrelated types
        detail = " ".join(str(exc).split())
        detail = detail.split(": ", 1)[-1].split(" (string:")[0]
        raise ConfigError(f"{name} {show(value)!r} is not a valid multiaddr: "
                          f"{show(detail)}") from None
    names = [p[0] for p in parts]
    if not (names[:2] in ([h, "tcp"] for h in _HOST_PROTOCOLS)
            and names[2:] in ([], ["p2p"])):
        raise ConfigError(f"{name} {show(value)!r}: expected /ip4/HOST/tcp/PORT (or ip6, dns, "
                          "dns4, dns6), optionally followed by /p2p/PEER_ID")
    if int(parts[1][1]) == 0 and not listen:
        raise ConfigError(f"{name} {show(value)!r}: port 0 is only for listening")
    if str(parsed) != value:
        raise ConfigError(f"{name} {show(value)!r} is not in canonical form; write "
                          f"{show(str(parsed))!r}")
    return value


@dataclass(frozen=True)
class NodeConfig:
    """Settings of one node that are not part of consensus (so they live outside genesis)."""

    p2p_listen: str = f"/ip4/127.0.0.1/tcp/{DEFAULT_P2P_PORT}"
    """libp2p listen multiaddr."""
    api_listen: str = f"127.0.0.1:{DEFAULT_API_PORT}"
    """host:port of the local HTTP/JSON API (and /metrics)."""
    bootstrap_peers: tuple[str, ...] = ()
    """Multiaddrs (with /p2p/<peer id>) dialled at start-up."""
    log_level: str = "info"

    def __post_init__(self) -> None:
        check_multiaddr(self.p2p_listen, "p2p_listen", listen=True)
        if type(self.api_listen) is not str:
            raise ConfigError("api_listen must be a string host:port")
        try:
            parse_host_port(self.api_listen)
        except ConfigError as exc:
            raise ConfigError(f"api_listen {exc}") from None
        if type(self.bootstrap_peers) is not tuple:
            raise ConfigError("bootstrap_peers must be an array of multiaddr strings")
        for i, peer in enumerate(self.bootstrap_peers):
            check_multiaddr(peer, f"bootstrap_peers[{i}]")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log_level {self.log_level!r}: use one of {', '.join(LOG_LEVELS)}")

    @property
    def api_host(self) -> str:
        return parse_host_port(self.api_listen)[0]

    @property
    def api_port(self) -> int:
        return parse_host_port(self.api_listen)[1]

    def to_dict(self) -> dict[str, Any]:
        return {"p2p_listen": self.p2p_listen, "api_listen": self.api_listen,
                "bootstrap_peers": list(self.bootstrap_peers), "log_level": self.log_level}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown key(s): {', '.join(unknown)}")
        values = dict(data)
        if "bootstrap_peers" in values:
            peers = values["bootstrap_peers"]
            if type(peers) is not list:
                raise ConfigError("bootstrap_peers must be an array of multiaddr strings")
            values["bootstrap_peers"] = tuple(peers)
        for key in ("p2p_listen", "api_listen", "log_level"):
            if key in values and type(values[key]) is not str:
                raise ConfigError(f"{key} must be a string, got {values[key]!r}")
        return cls(**values)


# --- reading ---------------------------------------------------------------------------------


def read_toml(data: bytes, source: str) -> dict[str, Any]:
    """Parse TOML bytes (nesting bounded); errors become one ConfigError line naming ``source``."""
    return parse_toml(data, source)


def read_file(path: Path, what: str, max_bytes: int = MAX_CONFIG_FILE) -> bytes:
    """A regular file of at most ``max_bytes``; every failure is one ConfigError line."""
    return read_bytes(path, what, max_bytes=max_bytes)


def parse_genesis_toml(data: bytes, source: str, warnings: list[str] | None = None
                       ) -> Genesis:
    """Validate a genesis file's bytes; every mistake is one line naming ``source``.

    Parameters the file leaves out take their defaults, which is legal but easy to get wrong
    (a file cut short inside ``[params]`` looks the same): each such case appends one line
    to ``warnings`` when given.
    """
    doc = read_toml(data, source)
    try:
        _precheck_genesis(doc)
        genesis = Genesis.from_dict(doc)
    except DaoliError as exc:
        msg = _one_line(str(exc))
        msg = msg.removeprefix("genesis: ")
        raise ConfigError(f"{source}: {msg}") from None
    if warnings is not None:
        given = doc.get("params", {})
        missing = [name for name in genesis.params.to_dict() if name not in given]
        if missing:
            shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more"
                                              if len(missing) > 6 else "")
            warnings.append(f"{source}: [params] leaves {len(missing)} parameter(s) to their "
                            f"defaults: {shown}")
    return genesis


def _precheck_genesis(doc: dict[str, Any]) -> None:
    """Type checks Genesis.from_dict leaves to Python (which would give unhelpful errors)."""
    time_ms = doc.get("genesis_time_ms")
    if type(time_ms) is int and time_ms > MAX_U64:
        # the genesis would encode as a CBOR bignum, which no node can decode back
        raise ConfigError("genesis_time_ms must be an integer below 2^64")
    for name in ("allocations", "trustees"):
        if name in doc and type(doc[name]) is not list:
            raise ConfigError(f"{name} must be an array of tables ([[{name}]])")
    for i, t in enumerate(doc.get("trustees", [])):
        if not isinstance(t, dict):
            continue  # from_dict names it
        if "pubkey" in t:
            if type(t["pubkey"]) is not str:
                raise ConfigError(f"trustees[{i}].pubkey must be a hex string")
            try:
                bytes.fromhex(t["pubkey"])
            except ValueError:
                raise ConfigError(f"trustees[{i}].pubkey is not hex") from None
        if "multiaddr" in t:
            check_multiaddr(t["multiaddr"], f"trustees[{i}].multiaddr")
        extra = sorted(set(t) - {"pubkey", "bond", "multiaddr"})
        if extra:
            raise ConfigError(f"trustees[{i}]: unknown key(s): {', '.join(extra)}")
    for i, a in enumerate(doc.get("allocations", [])):
        if isinstance(a, dict):
            extra = sorted(set(a) - {"address", "amount"})
            if extra:
                raise ConfigError(f"allocations[{i}]: unknown key(s): {', '.join(extra)}")


def load_genesis_file(path: Path, warnings: list[str] | None = None) -> Genesis:
    return parse_genesis_toml(read_file(path, "genesis file", MAX_GENESIS_FILE), show(path),
                              warnings)


def parse_config_toml(data: bytes, source: str) -> NodeConfig:
    doc = read_toml(data, source)
    try:
        return NodeConfig.from_dict(doc)
    except DaoliError as exc:
        raise ConfigError(f"{source}: {_one_line(str(exc))}") from None


def load_config_file(path: Path) -> NodeConfig:
    return parse_config_toml(read_file(path, "config file"), show(path))


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- writing ---------------------------------------------------------------------------------

_GENESIS_HEADER = """\
# DaoliCloud genesis. Every node of a chain must use a genesis with the same content:
# its canonical CBOR encoding is hashed into the genesis id, the parent of block 1.
# Amounts and bonds are integers in li (1 DLC = 100000000 li); times are Unix milliseconds.
# [params] lists every chain parameter explicitly, defaults included.
"""

_CONFIG_HEADER = """\
# DaoliCloud node settings (not consensus: each node chooses its own).
# p2p_listen       libp2p listen multiaddr
# api_listen       host:port of the local HTTP/JSON API and /metrics (keep it on 127.0.0.1)
# bootstrap_peers  multiaddrs with /p2p/<peer id> dialled at start-up
# log_level        debug | info | warning | error
"""


def dump_genesis_toml(genesis: Genesis) -> str:
    """The TOML form, laid out for people: params first, then one table per entry."""
    d = genesis.to_dict()
    out = [_GENESIS_HEADER, "\n",
           tomli_w.dumps({"chain_id": d["chain_id"], "genesis_time_ms": d["genesis_time_ms"]}),
           "\n[params]\n", tomli_w.dumps(d["params"])]
    if not d["allocations"]:
        out.append("\n# no [[allocations]]\n")
    for a in d["allocations"]:
        out += ["\n[[allocations]]\n", tomli_w.dumps({"address": a["address"]}),
                _amount_line("amount", a["amount"])]
    if not d["trustees"]:
        out.append("\n# no [[trustees]]\n")
    for t in d["trustees"]:
        out += ["\n[[trustees]]\n", tomli_w.dumps({"pubkey": t["pubkey"]}),
                _amount_line("bond", t["bond"]), tomli_w.dumps({"multiaddr": t["multiaddr"]})]
    return "".join(out)


def _amount_line(key: str, li: int) -> str:
    whole, frac = divmod(li, LI_PER_DLC)
    dlc = f"{whole}.{frac:08d}".rstrip("0").rstrip(".")
    return f"{key} = {li}  # {dlc} DLC\n"


def dump_config_toml(config: NodeConfig) -> str:
    return _CONFIG_HEADER + "\n" + tomli_w.dumps(config.to_dict())
