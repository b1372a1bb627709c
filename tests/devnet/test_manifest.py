"""Devnet manifests: the shipped ones parse, and every kind of mistake is one line naming
its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from daoli.devnet.manifest import default_manifest, load_manifest, parse_manifest
from daoli.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["local-4", "single", "wan-7", "chaos"])
def test_shipped_manifests_parse(name: str) -> None:
    m = load_manifest(ROOT / "devnet" / f"{name}.toml")
    assert m.name == name and m.trustees and m.wallets


def test_local_4_is_the_documented_default() -> None:
    m = load_manifest(ROOT / "devnet" / "local-4.toml")
    assert len(m.nodes) == 4 and all(n.trustee and n.miners == 2 for n in m.nodes)
    assert [w.name for w in m.wallets] == ["alice", "bob", "carol"]
    d = default_manifest()
    assert [(n.trustee, n.miners) for n in d.nodes] == [(n.trustee, n.miners) for n in m.nodes]
    assert [w.name for w in d.wallets] == ["alice", "bob", "carol"]


def test_wan_and_chaos_carry_shaping_and_faults() -> None:
    wan = load_manifest(ROOT / "devnet" / "wan-7.toml")
    assert len(wan.nodes) == 7 and all(n.loss == 0.01 and n.latency_ms >= 40 for n in wan.nodes)
    chaos = load_manifest(ROOT / "devnet" / "chaos.toml")
    assert [f.action for f in chaos.faults] == ["kill", "restart", "pause", "resume",
                                                "partition", "heal"]
    assert chaos.faults[4].groups == (("a", "b"), ("c", "d", "follower"))
    assert not chaos.node("follower").trustee


@pytest.mark.parametrize("doc, message", [
    ({"nodez": 4}, "nodez: unknown field"),
    ({"nodes": 0}, "nodes must be an integer from 1 to 64"),
    ({"nodes": [{"name": "a", "miners": -1}]}, "nodes[0].miners must be an integer"),
    ({"nodes": [{"name": "a"}, {"name": "a"}]}, "node names must be unique"),
    ({"nodes": [{"name": "a", "trustee": False}]}, "at least one node must be a trustee"),
    ({"nodes": [{"name": "A b"}]}, "nodes[0].name must be a name"),
    ({"nodes": [{"name": "a", "colour": 1}]}, "nodes[0].colour: unknown field"),
    ({"params": {"cycle_ms": "fast"}}, "params.cycle_ms must be an integer"),
    ({"params": {"phi_ms": 900, "delta_ms": 200}}, "params: phi_ms + delta_ms"),
    ({"wallets": [{"name": "x", "balance": "lots"}]}, "wallets[0].balance must be an amount"),
    ({"wallets": [{"name": "faucet"}]}, "'faucet' is the devnet's own"),
    ({"wallets": [{"name": "signer"}]}, "'signer' is the devnet's own"),
    ({"faults": [{"at": "soon", "action": "kill", "nodes": ["n0"]}]}, "faults[0].at"),
    ({"faults": [{"at": 1, "action": "explode"}]}, "faults[0].action must be one of"),
    ({"faults": [{"at": 1, "action": "kill"}]}, "kill needs nodes"),
    ({"faults": [{"at": 1, "action": "partition", "groups": [["n0"]]}]}, "partition needs"),
    ({"faults": [{"at": 1, "action": "kill", "nodes": ["zz"]}]}, "no node"),
    ({"light_miners": [{"wallet": "w", "sponsor": "n0"}]}, "no wallet"),
    ({"base_port": 80}, "base_port must be 0"),
    ({"chain_id": "Bad Chain"}, "chain_id must be"),
])
def test_mistakes_are_one_line_errors(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_manifest(doc)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_broken_file_is_named(tmp_path: Path) -> None:
    f = tmp_path / "m.toml"
    f.write_text("nodes = [\n")
    with pytest.raises(ConfigError, match=r"m\.toml"):
        load_manifest(f)
    f.write_text("nodes = 4\nsurprise = true\n")
    with pytest.raises(ConfigError, match=r"m\.toml.*surprise: unknown field"):
        load_manifest(f)
