"""``daoli chain genesis`` and ``daoli chain new-genesis``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daoli.cli.app import app
from daoli.cli.chain import format_dlc, parse_amount
from daoli.core.address import address_bytes_of, address_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.errors import ConfigError
from daoli.node.config import dump_genesis_toml, load_genesis_file

runner = CliRunner()
PUB = pubkey_from_secret(b"\x05" * 32)
MULTIADDR = "/ip4/127.0.0.1/tcp/26656"


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env)


@pytest.fixture
def genesis() -> Genesis:
    p = ChainParams()
    return Genesis("net-7", 1_700_000_000_123, p,
                   (Allocation(address_bytes_of(PUB), 12 * LI_PER_DLC + 5),),
                   (GenesisTrustee(PUB, p.min_bond, MULTIADDR),))


@pytest.fixture
def home(tmp_path: Path, genesis: Genesis) -> Path:
    src = tmp_path / "g.toml"
    src.write_text(dump_genesis_toml(genesis))
    home = tmp_path / "home"
    result = invoke("init", "--home", str(home), "--genesis", str(src))
    assert result.exit_code == 0, result.output
    return home


def test_genesis_json_schema(home: Path, genesis: Genesis) -> None:
    result = invoke("chain", "genesis", "--home", str(home), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out == {
        "chain_id": "net-7",
        "genesis_time_ms": 1_700_000_000_123,
        "genesis_id": genesis.id.hex(),
        "params": ChainParams().to_dict(),
        "allocations": [{"address": address_of(PUB), "amount": 12 * LI_PER_DLC + 5}],
        "trustees": [{"pubkey": PUB.hex(), "address": address_of(PUB),
                      "bond": ChainParams().min_bond, "multiaddr": MULTIADDR}],
        "warnings": [],
    }


def test_genesis_human(home: Path, genesis: Genesis) -> None:
    result = invoke("chain", "genesis", "--home", str(home), env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for needle in ("net-7", "2023-11-14T22:13:20.123Z", "1700000000123", genesis.id.hex(),
                   "min_bond", "pow_difficulty", address_of(PUB), PUB.hex(), "12.00000005 DLC",
                   "1,000 DLC", MULTIADDR):
        assert needle in out, needle


def test_genesis_from_env_and_file(home: Path, genesis: Genesis, tmp_path: Path) -> None:
    result = invoke("chain", "genesis", "--json", env={"DAOLI_HOME": str(home)})
    assert result.exit_code == 0 and json.loads(result.stdout)["chain_id"] == "net-7"
    result = invoke("chain", "genesis", "--file", str(home / "genesis.toml"), "--json",
                    env={"DAOLI_HOME": str(tmp_path / "nowhere")})
    assert result.exit_code == 0 and json.loads(result.stdout)["genesis_id"] == genesis.id.hex()


def test_genesis_errors(tmp_path: Path) -> None:
    result = invoke("chain", "genesis", "--home", str(tmp_path / "none"))
    assert result.exit_code == 2 and "not an initialised node home" in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('chain_id = "a"\ngenesis_time_ms = 0\n[params]\nphi_ms = 5000\n')
    result = invoke("chain", "genesis", "--file", str(bad), "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["message"] == (
        f"{bad}: phi_ms + delta_ms must not exceed cycle_ms")
    assert len(result.stderr.strip().splitlines()) == 1


def test_new_genesis_then_init(tmp_path: Path) -> None:
    out = tmp_path / "devnet.toml"
    addr = address_of(PUB)
    result = invoke("chain", "new-genesis", "--out", str(out), "--chain-id", "devnet-3",
                    "--genesis-time-ms", "42000", "--trustee", f"{PUB.hex()}={MULTIADDR}",
                    "--alloc", f"{addr}=2.5DLC", "--json")
    assert result.exit_code == 0, result.output
    g = load_genesis_file(out)
    assert json.loads(result.stdout)["genesis_id"] == g.id.hex()
    assert json.loads(result.stdout)["file"] == str(out)
    assert g.chain_id == "devnet-3" and g.genesis_time_ms == 42000
    assert g.allocations == (Allocation(address_bytes_of(PUB), 250_000_000),)
    assert g.trustees == (GenesisTrustee(PUB, ChainParams().min_bond, MULTIADDR),)
    again = invoke("chain", "new-genesis", "--out", str(out))
    assert again.exit_code == 2 and "--force" in again.stderr
    result = invoke("init", "--home", str(tmp_path / "n1"), "--genesis", str(out))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--trustee", "zz=/ip4/1.2.3.4/tcp/1"],
        ["--trustee", f"{PUB.hex()}"],
        ["--trustee", f"{PUB.hex()}=/ip4/1.2.3.4/tcp/1", "--trustee",
         f"{PUB.hex()}=/ip4/1.2.3.4/tcp/2"],
        ["--alloc", "dlc1nope=5"],
        ["--alloc", f"{address_of(PUB)}=lots"],
        ["--chain-id", "UPPER"],
    ],
)
def test_new_genesis_bad_input(tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "g.toml"
    result = invoke("chain", "new-genesis", "--out", str(out), *args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_amounts() -> None:
    assert parse_amount("123") == 123
    assert parse_amount("1.5DLC") == 150_000_000
    assert parse_amount("1_000 dlc") == 1000 * LI_PER_DLC
    for bad in ("1.000000001DLC", "-1", "x", str(1 << 63)):
        with pytest.raises(ConfigError):
            parse_amount(bad)
    assert format_dlc(150_000_000) == "1.5 DLC"
    assert format_dlc(1_000_000 * LI_PER_DLC) == "1,000,000 DLC"


def test_new_genesis_writes_every_param_so_it_has_no_warnings(tmp_path: Path) -> None:
    out = tmp_path / "g.toml"
    result = invoke("chain", "new-genesis", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warnings"] == [] and result.stderr == ""
    warnings: list[str] = []
    load_genesis_file(out, warnings)
    assert warnings == []


def test_new_genesis_human_output(tmp_path: Path) -> None:
    out = tmp_path / "[b]g.toml"
    result = invoke("chain", "new-genesis", "--out", str(out), "--chain-id", "net-9",
                    env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    g = load_genesis_file(out)
    assert result.stdout == f"Wrote genesis of net-9 to {out} (genesis id {g.id.hex()})\n"
