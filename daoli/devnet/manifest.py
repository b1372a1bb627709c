"""Devnet manifests: one TOML file describing a local DaoliCloud network.

A manifest names the nodes and their roles, the chain's parameters, the prefunded wallets,
ports, per-node network shaping and a fault schedule. ``daoli devnet up FILE`` starts that
network as real processes; ``daoli sim --manifest FILE`` simulates the same one. Every field
is documented in docs/devnet.md; an unknown or invalid field is a one-line ConfigError
naming its place (``nodes[2].miners``).

Example (``devnet/local-4.toml``)::

    name = "local-4"
    nodes = 4                    # or [[nodes]] tables, one per node
    [defaults]
    miners = 2
    [[wallets]]
    name = "alice"
    balance = "1000000DLC"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from daoli.core.genesis import CHAIN_ID_RE
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.core.units import parse_amount
from daoli.errors import ConfigError, DaoliError
from daoli.files import MAX_CONFIG_FILE, parse_toml, quote, read_bytes, show
from daoli.node.config import MAX_LOCAL_MINERS

MAX_NODES = 64
NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,31}\Z")
WALLET_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
FAULT_ACTIONS = ("kill", "restart", "pause", "resume", "partition", "heal")
DEFAULT_WALLET_BALANCE = 1_000_000 * LI_PER_DLC
FAUCET_WALLET = "faucet"
FAUCET_BALANCE = 100_000_000 * LI_PER_DLC
"""The devnet's own funded account that ``devnet faucet`` pays from."""
SIGNER_WALLET = "signer"
"""In each node home: the node's own signer key as a wallet (for ``trustee join``)."""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    trustee: bool = True
    """A genesis trustee (votes from height 1)."""
    miners: int = 1
    """Local miner keys the node mines with."""
    sponsor: bool = True
    """Accepts light miners' tickets."""
    latency_ms: float = 0.0
    """Added to every message this node sends (applied by the node; 0: none)."""
    jitter_ms: float = 0.0
    loss: float = 0.0
    """Fraction of this node's outgoing gossip dropped (0 to 1)."""


@dataclass(frozen=True)
class WalletSpec:
    name: str
    balance: int = DEFAULT_WALLET_BALANCE


@dataclass(frozen=True)
class LightMinerSpec:
    wallet: str
    sponsor: str


@dataclass(frozen=True)
class FaultSpec:
    at_s: float
    """Seconds after the network's first finalized block."""
    action: str
    nodes: tuple[str, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    """For ``partition``: node groups that can talk only among themselves."""


@dataclass(frozen=True)
class Manifest:
    name: str
    chain_id: str
    nodes: tuple[NodeSpec, ...]
    params: ChainParams = field(default_factory=ChainParams)
    wallets: tuple[WalletSpec, ...] = ()
    light_miners: tuple[LightMinerSpec, ...] = ()
    faults: tuple[FaultSpec, ...] = ()
    base_port: int = 0
    """First port: node i listens for peers on base_port + 2i and serves its API on
    base_port + 2i + 1; 0: free ports chosen when the devnet is created."""
    source: str = ""

    @property
    def trustees(self) -> list[NodeSpec]:
        return [n for n in self.nodes if n.trustee]

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ConfigError(f"no node named {show(name)} in this devnet "
                          f"(nodes: {', '.join(n.name for n in self.nodes)})")


_TOP = ("name", "chain_id", "nodes", "defaults", "params", "wallets", "light_miners",
        "faults", "base_port")
_NODE_KEYS = tuple(f.name for f in fields(NodeSpec))
_PARAM_KEYS = tuple(f.name for f in fields(ChainParams))


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _only(table: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path or 'the manifest'} must be a table")
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise ConfigError(f"{_where(path, show(unknown[0]))}: unknown field (allowed: "
                          f"{', '.join(allowed)})")
    return table


def _int(v: Any, where: str, lo: int, hi: int) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise ConfigError(f"{where} must be an integer from {lo} to {hi}")
    return v


def _num(v: Any, where: str, lo: float, hi: float) -> float:
    if type(v) not in (int, float) or not lo <= float(v) <= hi:
        raise ConfigError(f"{where} must be a number from {lo:g} to {hi:g}")
    return float(v)


def _bool(v: Any, where: str) -> bool:
    if type(v) is not bool:
        raise ConfigError(f"{where} must be true or false")
    return bool(v)


def _name(v: Any, where: str, pattern: re.Pattern[str] = NAME_RE) -> str:
    if type(v) is not str or not pattern.match(v):
        what = ("1-32 of a-z, 0-9 and '-', starting with a letter" if pattern is NAME_RE
                else "1-64 of A-Z, a-z, 0-9, '_' and '-'")
        raise ConfigError(f"{where} must be a name of {what}")
    return v


def _duration(v: Any, where: str) -> float:
    """Seconds: a number, or text like "30s", "1500ms", "2m", "1h" (at most a day)."""
    if type(v) in (int, float):
        return _num(v, where, 0, 86_400)
    if type(v) is str:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*", v)
        if m:
            value = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0,
                                            None: 1.0}[m.group(2)]
            return _num(value, where, 0, 86_400)
    raise ConfigError(f"{where} must be a duration like 30, \"30s\", \"1500ms\", \"2m\" or \"1h\"")


def _node(table: Any, path: str, defaults: dict[str, Any]) -> NodeSpec:
    t = {**defaults, **_only(table, path, _NODE_KEYS)}
    if "name" not in t:
        raise ConfigError(f"{path}.name is missing")
    return NodeSpec(
        name=_name(t["name"], f"{path}.name"),
        trustee=_bool(t.get("trustee", True), f"{path}.trustee"),
        miners=_int(t.get("miners", 1), f"{path}.miners", 0, MAX_LOCAL_MINERS),
        sponsor=_bool(t.get("sponsor", True), f"{path}.sponsor"),
        latency_ms=_num(t.get("latency_ms", 0.0), f"{path}.latency_ms", 0, 10_000),
        jitter_ms=_num(t.get("jitter_ms", 0.0), f"{path}.jitter_ms", 0, 10_000),
        loss=_num(t.get("loss", 0.0), f"{path}.loss", 0, 1),
    )


def parse_manifest(doc: dict[str, Any], source: str = "manifest") -> Manifest:
    """A manifest from parsed TOML: every field checked, one-line errors."""
    _only(doc, "", _TOP)
    name = _name(doc.get("name", "devnet"), "name")
    chain_id = doc.get("chain_id", f"devnet-{name}")
    if type(chain_id) is not str or not CHAIN_ID_RE.match(chain_id):
        raise ConfigError("chain_id must be 1-63 of a-z, 0-9 and '-'")
    defaults = _only(doc.get("defaults", {}), "defaults",
                     tuple(k for k in _NODE_KEYS if k != "name"))
    raw_nodes = doc.get("nodes", 4)
    if type(raw_nodes) is int:
        count = _int(raw_nodes, "nodes", 1, MAX_NODES)
        nodes = tuple(_node({"name": f"n{i}"}, f"nodes[{i}]", defaults) for i in range(count))
    elif isinstance(raw_nodes, list):
        if not 1 <= len(raw_nodes) <= MAX_NODES:
            raise ConfigError(f"nodes must list 1 to {MAX_NODES} nodes")
        nodes = tuple(_node(t, f"nodes[{i}]", defaults) for i, t in enumerate(raw_nodes))
    else:
        raise ConfigError("nodes must be a count or an array of [[nodes]] tables")
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise ConfigError("node names must be unique")
    if not any(n.trustee for n in nodes):
        raise ConfigError("at least one node must be a trustee")
    ptable = _only(doc.get("params", {}), "params", _PARAM_KEYS)
    try:
        params = ChainParams(**{k: _int(v, f"params.{k}", 0, 2**63) for k, v in ptable.items()})
    except DaoliError as exc:
        raise ConfigError(f"params: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"params: {exc}") from None
    wallets = []
    raw_wallets = doc.get("wallets", [])
    if not isinstance(raw_wallets, list):
        raise ConfigError("wallets must be an array of [[wallets]] tables")
    for i, w in enumerate(raw_wallets):
        w = _only(w, f"wallets[{i}]", ("name", "balance"))
        wname = _name(w.get("name"), f"wallets[{i}].name", WALLET_RE)
        if wname in (FAUCET_WALLET, SIGNER_WALLET):
            raise ConfigError(f"wallets[{i}].name: {wname!r} is the devnet's own")
        bal = w.get("balance", DEFAULT_WALLET_BALANCE)
        try:
            amount = parse_amount(bal) if type(bal) is str else _int(bal, "x", 0, 2**63)
        except DaoliError:
            raise ConfigError(f"wallets[{i}].balance must be an amount like \"1000DLC\" or "
                              "an integer of li") from None
        wallets.append(WalletSpec(wname, amount))
    if len({w.name for w in wallets}) != len(wallets):
        raise ConfigError("wallet names must be unique")
    light = []
    for i, lm in enumerate(_list(doc.get("light_miners", []), "light_miners")):
        lm = _only(lm, f"light_miners[{i}]", ("wallet", "sponsor"))
        wallet = _name(lm.get("wallet"), f"light_miners[{i}].wallet", WALLET_RE)
        if wallet not in {w.name for w in wallets}:
            raise ConfigError(f"light_miners[{i}].wallet: no wallet {show(wallet)}")
        sponsor = _name(lm.get("sponsor"), f"light_miners[{i}].sponsor")
        if sponsor not in names:
            raise ConfigError(f"light_miners[{i}].sponsor: no node {show(sponsor)}")
        light.append(LightMinerSpec(wallet, sponsor))
    faults = []
    for i, f in enumerate(_list(doc.get("faults", []), "faults")):
        f = _only(f, f"faults[{i}]", ("at", "action", "nodes", "groups"))
        at = _duration(f.get("at"), f"faults[{i}].at")
        action = f.get("action")
        if action not in FAULT_ACTIONS:
            raise ConfigError(f"faults[{i}].action must be one of {', '.join(FAULT_ACTIONS)}")
        fnodes = tuple(_ref(n, f"faults[{i}].nodes", names)
                       for n in _list(f.get("nodes", []), f"faults[{i}].nodes"))
        groups = tuple(tuple(_ref(n, f"faults[{i}].groups", names)
                             for n in _list(g, f"faults[{i}].groups"))
                       for g in _list(f.get("groups", []), f"faults[{i}].groups"))
        if action in ("kill", "restart", "pause", "resume") and not fnodes:
            raise ConfigError(f"faults[{i}]: {action} needs nodes = [...]")
        if action == "partition" and len(groups) < 2:
            raise ConfigError(f"faults[{i}]: partition needs groups = [[...], [...]]")
        faults.append(FaultSpec(at, action, fnodes, groups))
    base_port = _int(doc.get("base_port", 0), "base_port", 0, 65535 - 2 * len(nodes))
    if 0 < base_port < 1024:
        raise ConfigError("base_port must be 0 (free ports) or at least 1024")
    return Manifest(name, chain_id, nodes, params, tuple(wallets), tuple(light),
                    tuple(sorted(faults, key=lambda x: x.at_s)), base_port, source)


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise ConfigError(f"{where} must be an array")
    return v


def _ref(v: Any, where: str, names: list[str]) -> str:
    if v not in names:
        raise ConfigError(f"{where}: no node {show(v)}")
    return str(v)


def load_manifest(path: Path) -> Manifest:
    data = read_bytes(path, "manifest", max_bytes=MAX_CONFIG_FILE)
    doc = parse_toml(data, quote(path))
    try:
        return parse_manifest(doc, str(path))
    except ConfigError as exc:
        raise ConfigError(f"manifest {quote(path)}: {exc}") from None


def default_manifest(nodes: int = 4) -> Manifest:
    """What ``devnet up`` runs without a file: like devnet/local-4.toml, ``nodes`` trustees."""
    return parse_manifest({"name": "local", "nodes": nodes, "defaults": {"miners": 2},
                           "wallets": [{"name": n} for n in ("alice", "bob", "carol")]},
                          "built-in")


__all__ = ["FAUCET_WALLET", "FaultSpec", "LightMinerSpec", "Manifest", "NodeSpec",
           "WalletSpec", "default_manifest", "load_manifest", "parse_manifest"]
