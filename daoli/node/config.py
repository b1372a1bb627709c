"""The two TOML files of a node home: ``config.toml`` (node settings) and ``genesis.toml``.

Both are read strictly: a typo in a key must be an error, never silently become a default,
because a node that quietly ignores ``bootstrap_peer`` (singular) or ``[param]`` would run
with settings its operator did not choose. Every problem is one :class:`ConfigError` line
that names the file, so ``daoli`` can print it and exit 2.

Only stdlib ``tomllib`` and ``tomli_w`` are imported: CLI start-up must stay fast.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w

from daoli.core.encoding import MAX_U64
from daoli.core.genesis import Genesis
from daoli.core.params import LI_PER_DLC
from daoli.core.tx import MAX_MULTIADDR
from daoli.errors import ConfigError, DaoliError

DEFAULT_P2P_PORT = 26656
DEFAULT_API_PORT = 26657
LOG_LEVELS = ("debug", "info", "warning", "error")

_HOSTPORT_RE = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+):(?P<port>[0-9]{1,5})$")


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
        _check_multiaddr(self.p2p_listen, "p2p_listen")
        if type(self.api_listen) is not str:
            raise ConfigError("api_listen must be a string host:port")
        m = _HOSTPORT_RE.match(self.api_listen)
        if m is None or int(m["port"]) > 65535:
            raise ConfigError(f"api_listen {self.api_listen!r}: expected host:port, "
                              f"e.g. 127.0.0.1:{DEFAULT_API_PORT}")
        if type(self.bootstrap_peers) is not tuple:
            raise ConfigError("bootstrap_peers must be an array of multiaddr strings")
        for i, peer in enumerate(self.bootstrap_peers):
            _check_multiaddr(peer, f"bootstrap_peers[{i}]")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log_level {self.log_level!r}: use one of {', '.join(LOG_LEVELS)}")

    @property
    def api_host(self) -> str:
        host = self.api_listen.rsplit(":", 1)[0]
        return host[1:-1] if host.startswith("[") else host

    @property
    def api_port(self) -> int:
        return int(self.api_listen.rsplit(":", 1)[1])

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


def _check_multiaddr(value: Any, name: str) -> None:
    if type(value) is not str or not value.startswith("/") or len(value) > MAX_MULTIADDR:
        raise ConfigError(f"{name} must be a multiaddr string such as "
                          f"/ip4/127.0.0.1/tcp/{DEFAULT_P2P_PORT}, got {value!r}")


# --- reading ---------------------------------------------------------------------------------


def read_toml(data: bytes, source: str) -> dict[str, Any]:
    """Parse TOML bytes; errors become one ConfigError line naming ``source``."""
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: bad TOML: {_one_line(str(exc))}") from None


def read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {str(path)!r} is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from None


def parse_genesis_toml(data: bytes, source: str) -> Genesis:
    """Validate a genesis file's bytes; every mistake is one line naming ``source``."""
    doc = read_toml(data, source)
    try:
        _precheck_genesis(doc)
        return Genesis.from_dict(doc)
    except DaoliError as exc:
        msg = _one_line(str(exc))
        msg = msg.removeprefix("genesis: ")
        raise ConfigError(f"{source}: {msg}") from None


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
            _check_multiaddr(t["multiaddr"], f"trustees[{i}].multiaddr")
        extra = sorted(set(t) - {"pubkey", "bond", "multiaddr"})
        if extra:
            raise ConfigError(f"trustees[{i}]: unknown key(s): {', '.join(extra)}")
    for i, a in enumerate(doc.get("allocations", [])):
        if isinstance(a, dict):
            extra = sorted(set(a) - {"address", "amount"})
            if extra:
                raise ConfigError(f"allocations[{i}]: unknown key(s): {', '.join(extra)}")


def load_genesis_file(path: Path) -> Genesis:
    return parse_genesis_toml(read_file(path, "genesis file"), str(path))


def parse_config_toml(data: bytes, source: str) -> NodeConfig:
    doc = read_toml(data, source)
    try:
        return NodeConfig.from_dict(doc)
    except DaoliError as exc:
        raise ConfigError(f"{source}: {_one_line(str(exc))}") from None


def load_config_file(path: Path) -> NodeConfig:
    return parse_config_toml(read_file(path, "config file"), str(path))


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
