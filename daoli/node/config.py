"""The two TOML files of a node home: ``config.toml`` (node settings) and ``genesis.toml``.

Both are read strictly: a typo in a key must be an error, never silently become a default,
because a node that quietly ignores ``bootstrap_peer`` (singular) or ``[param]`` would run
with settings its operator did not choose. Every problem is one :class:`ConfigError` line
that names the file and the key, so ``daoli`` can print it and exit 2; values are described
by their TOML type or shown clipped and escaped, never as a Python ``repr`` of any length.

Only stdlib modules and ``tomli_w`` are imported at start-up (``multiaddr`` when a
multiaddr is checked): CLI start-up must stay fast.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
import socket
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w

from daoli.core.encoding import MAX_AMOUNT, MAX_U64
from daoli.core.genesis import CHAIN_ID_RE, Genesis
from daoli.core.params import LI_PER_DLC, ChainParams
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
MAX_LOCAL_MINERS = 64
"""Local miner keys a node mines with at most (``--mine``, ``mine``)."""

MAX_SHOWN = 60
"""Longest piece of a user's value quoted in a message (the rest becomes '...')."""
MAX_HOST_PORT = 1 + 253 + 1 + 1 + 5
"""``[`` host ``]`` ``:`` port: the longest host:port that can be valid."""

_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_HOST_PROTOCOLS = ("ip4", "ip6", "dns", "dns4", "dns6")


# --- showing values in messages --------------------------------------------------------------


def clip(value: object, limit: int = MAX_SHOWN) -> str:
    """``value`` quoted, escaped and cut to about ``limit`` characters, for a message."""
    text = show(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return "'" + text + "'"


def describe(value: object) -> str:
    """What a TOML value is, for "must be X, got Y" messages (never a repr of any length)."""
    if type(value) is bool:
        return "a boolean"
    if type(value) is int:
        return "an integer"
    if type(value) is float:
        return "a float"
    if type(value) is str:
        return f"the string {clip(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (_dt.date, _dt.time)):  # datetime is a date
        return "a date or time"
    return "a " + type(value).__name__


def _names(names: list[str], limit: int = 5) -> str:
    """Key names for a message: each escaped and clipped, at most ``limit`` of them."""
    shown = ", ".join(show(n)[:MAX_SHOWN] for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --- addresses -------------------------------------------------------------------------------


def _host_name_problem(host: str, *, lower_case: bool) -> str | None:
    """Why ``host`` is not a DNS host name in canonical form, or None if it is one.

    RFC 1123 labels of letters, digits and '-', at most 253 characters, no trailing dot.
    Refused as well, because resolvers would read them as IPv4 addresses: a name whose last
    label is all digits (``1.2.3``) and any spelling ``inet_aton`` accepts (``0x7f.1``).
    """
    if not host.isascii():
        return "international host names must be written in punycode (xn--...)"
    if host.endswith(".") and len(host) > 1:
        return f"drop the trailing dot: write {clip(host[:-1])}"
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        return "is neither an IP address nor a host name"
    try:
        packed = socket.inet_aton(host)
    except OSError:
        pass
    else:
        if all(label.isdigit() for label in labels) and len(labels) == 4:
            return "is not an IPv4 address (write each number without leading zeros)"
        return (f"is a non-standard spelling of an IPv4 address; write "
                f"{socket.inet_ntoa(packed)}")
    if all(label.isdigit() for label in labels):
        return "is not an IPv4 address"
    if labels[-1].isdigit():
        return "is not a host name (its last label is all digits)"
    if lower_case and host != host.lower():
        return f"write host names in lower case: {clip(host.lower())}"
    return None


def _port(port_text: str, shown: str, allow_zero: bool) -> int:
    low = 0 if allow_zero else 1
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise ConfigError(f"{shown}: the port must be a number from {low} to 65535")
    port = int(port_text)
    if port > 65535 or port < low:
        raise ConfigError(f"{shown}: the port must be a number from {low} to 65535")
    if port_text != str(port):
        raise ConfigError(f"{shown}: write the port without leading zeros ({port})")
    return port


def parse_host_port(text: str, *, allow_port_zero: bool = True) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) to (host, port), or one ConfigError line.

    The host is an IPv4 address in dotted decimal (``999.999.999.999`` and ``01.2.3.4`` are
    not), an IPv6 address in brackets written as :mod:`ipaddress` prints it (compressed, lower
    case, no ``%scope``, not IPv4-mapped), or a DNS host name (see :func:`_host_name_problem`;
    letter case is free, as DNS ignores it). The port is decimal without leading zeros, from 0
    (any free port, when ``allow_port_zero``) or 1 to 65535. Nothing else: no spaces, no
    trailing garbage, one spelling per address.
    """
    if type(text) is not str:
        raise ConfigError(f"expected a host:port string, got {describe(text)}")
    shown = clip(text)
    if len(text) > MAX_HOST_PORT:
        raise ConfigError(f"{shown}: too long for a host:port ({len(text)} characters)")
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{shown}: expected host:port, e.g. 127.0.0.1:{DEFAULT_API_PORT}")
    port = _port(port_text, shown, allow_port_zero)
    if host.startswith("[") or host.endswith("]"):
        inner = host[1:-1] if host.startswith("[") and host.endswith("]") else None
        if inner is None or not inner or "[" in inner or "]" in inner:
            raise ConfigError(f"{shown}: expected [IPv6 address]:port")
        if "%" in inner:
            raise ConfigError(f"{shown}: IPv6 scope ids (%...) are not supported")
        try:
            address = ipaddress.IPv6Address(inner)
        except ValueError:
            raise ConfigError(f"{shown}: {clip(inner)} is not an IPv6 address") from None
        if address.ipv4_mapped is not None:
            raise ConfigError(f"{shown}: write the IPv4 address itself: "
                              f"{address.ipv4_mapped}:{port}")
        if str(address) != inner:
            raise ConfigError(f"{shown}: write the IPv6 address in its short form: "
                              f"[{address}]:{port}")
        return inner, port
    if ":" in host:
        raise ConfigError(f"{shown}: an IPv6 address goes in brackets, e.g. "
                          f"[::1]:{DEFAULT_API_PORT}")
    if host.replace(".", "").isascii() and host.replace(".", "").isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ConfigError(f"{shown}: {clip(host)} is not an IPv4 address") from None
        return host, port
    problem = _host_name_problem(host, lower_case=False)
    if problem is not None:
        subject = f"{clip(host)} " if problem.startswith("is ") else ""
        raise ConfigError(f"{shown}: {subject}{problem}")
    return host, port


def check_multiaddr(value: Any, name: str, *, listen: bool = False,
                    peer_id: bool | None = None) -> str:
    """A TCP multiaddr a node can listen on or dial, else one ConfigError line naming ``name``.

    Accepted: ``/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>`` optionally followed by
    ``/p2p/<peer id>``, in canonical form (what :mod:`multiaddr` prints back: no leading
    zeros, compressed lower-case IPv6, base58 peer ids), so consensus data such as a genesis
    trustee's address has exactly one spelling. DNS names are lower-case ASCII (punycode for
    international names), without a trailing dot, and never an IP address in disguise.

    A listen address (``listen``) may use port 0 (any free port) and the unspecified
    addresses 0.0.0.0 and ::, and never has a peer id; an address others dial has none of
    those. ``peer_id``: True requires ``/p2p/<peer id>`` (bootstrap peers), False forbids it,
    None (default) allows either; listen addresses default to False.
    """
    example = f"/ip4/127.0.0.1/tcp/{DEFAULT_P2P_PORT}"
    if type(value) is not str:
        raise ConfigError(f"{name} must be a multiaddr string such as {example}, "
                          f"got {describe(value)}")
    shown = clip(value)
    if not value.startswith("/"):
        raise ConfigError(f"{name} {shown} is not a multiaddr; expected e.g. {example}")
    if not value.isascii() or not value.isprintable():
        raise ConfigError(f"{name} {shown}: a multiaddr is printable ASCII (write "
                          "international host names in punycode, xn--...)")
    if len(value) > MAX_MULTIADDR:
        raise ConfigError(f"{name} {shown} is longer than {MAX_MULTIADDR} characters")
    shown = clip(value, MAX_MULTIADDR)
    from multiaddr import Multiaddr  # about 15 ms: only when a multiaddr is checked

    try:
        parsed = Multiaddr(value)
        parts = [(p.name, parsed.value_for_protocol(p.code)) for p in parsed.protocols()]
        canonical = str(parsed)
    except Exception as exc:  # noqa: BLE001 - the library raises several unrelated types
        detail = " ".join(str(exc).split())
        detail = detail.split(" (string:")[0].split(": ", 1)[-1]
        # the library's message repeats the value: keep the line short (one clip each)
        raise ConfigError(f"{name} {clip(value)} is not a valid multiaddr: "
                          f"{clip(detail)}") from None
    names = [p[0] for p in parts]
    if not (len(names) >= 2 and names[0] in _HOST_PROTOCOLS and names[1] == "tcp"
            and names[2:] in ([], ["p2p"])):
        raise ConfigError(f"{name} {shown}: expected /ip4/HOST/tcp/PORT (or ip6, dns, dns4, "
                          "dns6), optionally followed by /p2p/PEER_ID")
    kind, host = parts[0]
    port = int(parts[1][1])
    if kind in ("ip4", "ip6"):
        address = ipaddress.ip_address(host)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            raise ConfigError(f"{name} {shown}: write /ip4/{address.ipv4_mapped} instead")
        if address.is_unspecified and not listen:
            raise ConfigError(f"{name} {shown}: {host} is only for listening, not an "
                              "address others can dial")
    else:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            problem = _host_name_problem(str(host), lower_case=True)
        else:
            problem = "is an IP address: use /ip4/ or /ip6/"
        if problem is not None:
            subject = f"{clip(host)} " if problem.startswith("is ") else ""
            raise ConfigError(f"{name} {shown}: {subject}{problem}")
    if port == 0 and not listen:
        raise ConfigError(f"{name} {shown}: port 0 is only for listening")
    if peer_id is None and listen:
        peer_id = False
    has_peer = names[2:] == ["p2p"]
    if peer_id is True and not has_peer:
        raise ConfigError(f"{name} {shown}: add the peer's id, /p2p/PEER_ID")
    if peer_id is False and has_peer:
        raise ConfigError(f"{name} {shown}: "
                          + ("a listen address has no /p2p/ part" if listen
                             else "remove the /p2p/ part"))
    if canonical != value:
        raise ConfigError(f"{name} {shown} is not in canonical form; write "
                          f"{clip(canonical, MAX_MULTIADDR)}")
    return value


@dataclass(frozen=True)
class NodeConfig:
    """Settings of one node that are not part of consensus (so they live outside genesis)."""

    p2p_listen: str = f"/ip4/127.0.0.1/tcp/{DEFAULT_P2P_PORT}"
    """libp2p listen multiaddr (no /p2p/ part)."""
    api_listen: str = f"127.0.0.1:{DEFAULT_API_PORT}"
    """host:port of the local HTTP/JSON API (and /metrics)."""
    bootstrap_peers: tuple[str, ...] = ()
    """Multiaddrs with /p2p/<peer id>, dialled at start-up."""
    log_level: str = "info"
    trustee: bool = True
    """Vote when the signer key is an active trustee (``--no-trustee`` overrides)."""
    mine: int = -1
    """Local miner keys; -1: 1 on a chain this home created (it holds dev.password), else 0."""
    sponsor: bool = True
    """Accept tickets from light miners through the API."""
    sync_trust_certificates: bool = True
    """Catching up: apply a block whose commit certificate verifies against the trustees
    without verifying its transactions' signatures again (state roots are still checked;
    docs/protocol.md, "Sync trusting certificates"). False: verify everything."""

    def __post_init__(self) -> None:
        check_multiaddr(self.p2p_listen, "p2p_listen", listen=True)
        if type(self.api_listen) is not str:
            raise ConfigError(f"api_listen must be a host:port string, got "
                              f"{describe(self.api_listen)}")
        try:
            parse_host_port(self.api_listen)
        except ConfigError as exc:
            raise ConfigError(f"api_listen {exc}") from None
        if type(self.bootstrap_peers) is not tuple:
            raise ConfigError("bootstrap_peers must be an array of multiaddr strings")
        for i, peer in enumerate(self.bootstrap_peers):
            check_multiaddr(peer, f"bootstrap_peers[{i}]", peer_id=True)
        for key in ("trustee", "sponsor", "sync_trust_certificates"):
            if type(getattr(self, key)) is not bool:
                raise ConfigError(f"{key} must be true or false, got "
                                  f"{describe(getattr(self, key))}")
        if type(self.mine) is not int or not -1 <= self.mine <= MAX_LOCAL_MINERS:
            raise ConfigError(f"mine must be an integer from -1 (automatic) to "
                              f"{MAX_LOCAL_MINERS}, got {describe(self.mine)}")
        if type(self.log_level) is not str or self.log_level not in LOG_LEVELS:
            got = (clip(self.log_level) if type(self.log_level) is str
                   else describe(self.log_level))
            raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {got}")

    @property
    def api_host(self) -> str:
        return parse_host_port(self.api_listen)[0]

    @property
    def api_port(self) -> int:
        return parse_host_port(self.api_listen)[1]

    def to_dict(self) -> dict[str, Any]:
        return {"p2p_listen": self.p2p_listen, "api_listen": self.api_listen,
                "bootstrap_peers": list(self.bootstrap_peers), "log_level": self.log_level,
                "trustee": self.trustee, "mine": self.mine, "sponsor": self.sponsor,
                "sync_trust_certificates": self.sync_trust_certificates}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown key(s): {_names(unknown)}")
        values = dict(data)
        if "bootstrap_peers" in values:
            peers = values["bootstrap_peers"]
            if type(peers) is not list:
                raise ConfigError(f"bootstrap_peers must be an array of multiaddr strings, "
                                  f"got {describe(peers)}")
            values["bootstrap_peers"] = tuple(peers)
        for key in ("p2p_listen", "api_listen", "log_level"):
            if key in values and type(values[key]) is not str:
                raise ConfigError(f"{key} must be a string, got {describe(values[key])}")
        return cls(**values)


# --- reading ---------------------------------------------------------------------------------


def read_toml(data: bytes, source: str) -> dict[str, Any]:
    """Parse TOML bytes (nesting bounded); errors become one ConfigError line naming ``source``."""
    try:
        return parse_toml(data, source)
    except ValueError:
        # tomllib converts integers with int(), which refuses more than
        # sys.get_int_max_str_digits() digits with a ValueError (not a TOMLDecodeError)
        raise ConfigError(f"{source}: bad TOML: an integer has too many digits") from None


def read_file(path: Path, what: str, max_bytes: int = MAX_CONFIG_FILE) -> bytes:
    """A regular file of at most ``max_bytes``; every failure is one ConfigError line."""
    return read_bytes(path, what, max_bytes=max_bytes)


def parse_genesis_toml(data: bytes, source: str, warnings: list[str] | None = None
                       ) -> Genesis:
    """Validate a genesis file's bytes; every mistake is one line naming ``source`` and the key.

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


_GENESIS_KEYS = ("chain_id", "genesis_time_ms", "params", "allocations", "trustees")
_PARAM_NAMES = tuple(ChainParams().to_dict())
_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2})*")
_MAX_ADDRESS = 100
"""Longer than any dlc1 address: such a value is refused without being decoded or echoed."""


def _precheck_genesis(doc: dict[str, Any]) -> None:
    """Every key and type of the TOML form, checked with messages that name the key and never
    echo a value of any length; Genesis.from_dict then checks meaning (addresses, keys,
    amounts, bonds)."""
    unknown = sorted(set(doc) - set(_GENESIS_KEYS))
    if unknown:
        raise ConfigError(f"unknown key(s): {_names(unknown)}")
    for key in ("chain_id", "genesis_time_ms"):
        if key not in doc:
            raise ConfigError(f"missing {key}")
    chain_id = doc["chain_id"]
    if type(chain_id) is not str:
        raise ConfigError(f"chain_id must be a string, got {describe(chain_id)}")
    if not CHAIN_ID_RE.match(chain_id):
        raise ConfigError(f"chain_id {clip(chain_id)}: use 1-63 of a-z, 0-9 and '-'")
    time_ms = doc["genesis_time_ms"]
    if type(time_ms) is not int or not 0 <= time_ms <= MAX_U64:
        # beyond 2^64 the genesis would encode as a CBOR bignum no node can decode back
        got = "" if type(time_ms) is int else f", got {describe(time_ms)}"
        raise ConfigError(f"genesis_time_ms must be an integer from 0 to 2^64 - 1{got}")
    params = doc.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"params must be a table ([params]), got {describe(params)}")
    unknown = sorted(set(params) - set(_PARAM_NAMES))
    if unknown:
        raise ConfigError(f"unknown parameter(s): {_names(unknown)}")
    for name, value in params.items():
        if type(value) is not int:
            raise ConfigError(f"params.{name} must be an integer, got {describe(value)}")
        if not 0 <= value < 1 << 63:
            raise ConfigError(f"params.{name} must be an integer from 0 to 2^63 - 1")
    for name in ("allocations", "trustees"):
        if name in doc and type(doc[name]) is not list:
            raise ConfigError(f"{name} must be an array of tables ([[{name}]]), "
                              f"got {describe(doc[name])}")
    for i, a in enumerate(doc.get("allocations", [])):
        where = f"allocations[{i}]"
        if not isinstance(a, dict):
            raise ConfigError(f"{where} must be a table, got {describe(a)}")
        _only_keys(a, where, ("address", "amount"))
        address = a["address"]
        if type(address) is not str:
            raise ConfigError(f"{where}.address must be a dlc1... string, got "
                              f"{describe(address)}")
        if len(address) > _MAX_ADDRESS:
            raise ConfigError(f"{where}.address {clip(address)} is not a dlc1 address "
                              f"({len(address)} characters)")
        _check_amount(a["amount"], f"{where}.amount")
    for i, t in enumerate(doc.get("trustees", [])):
        where = f"trustees[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{where} must be a table, got {describe(t)}")
        _only_keys(t, where, ("pubkey", "bond", "multiaddr"))
        pubkey = t["pubkey"]
        if type(pubkey) is not str:
            raise ConfigError(f"{where}.pubkey must be a hex string, got {describe(pubkey)}")
        if not _HEX_RE.fullmatch(pubkey):
            raise ConfigError(f"{where}.pubkey is not hex")
        if len(pubkey) != 66:
            raise ConfigError(f"{where}.pubkey must be 33 bytes (66 hex digits), "
                              f"not {len(pubkey) // 2}")
        _check_amount(t["bond"], f"{where}.bond")
        check_multiaddr(t["multiaddr"], f"{where}.multiaddr")


def _only_keys(table: dict[str, Any], where: str, keys: tuple[str, ...]) -> None:
    extra = sorted(set(table) - set(keys))
    if extra:
        raise ConfigError(f"{where}: unknown key(s): {_names(extra)}")
    for key in keys:
        if key not in table:
            raise ConfigError(f"{where} lacks {key}")


def _check_amount(value: Any, where: str) -> None:
    if type(value) is not int:
        raise ConfigError(f"{where} must be an integer amount in li, got {describe(value)}")
    if not 0 <= value <= MAX_AMOUNT:
        raise ConfigError(f"{where} must be an amount from 0 to 2^63 - 1 li")


def load_genesis_file(path: Path, warnings: list[str] | None = None) -> Genesis:
    """Read and validate a genesis file (at most MAX_GENESIS_FILE bytes, regular files only)."""
    return parse_genesis_toml(read_file(path, "genesis file", MAX_GENESIS_FILE), show(path),
                              warnings)


def parse_config_toml(data: bytes, source: str) -> NodeConfig:
    doc = read_toml(data, source)
    try:
        return NodeConfig.from_dict(doc)
    except DaoliError as exc:
        raise ConfigError(f"{source}: {_one_line(str(exc))}") from None


def load_config_file(path: Path) -> NodeConfig:
    """Read and validate config.toml (at most MAX_CONFIG_FILE bytes, regular files only)."""
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
# sync_trust_certificates  true: when catching up, a block whose commit certificate verifies
#                  is applied without re-verifying its transactions' signatures (roots checked)
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
