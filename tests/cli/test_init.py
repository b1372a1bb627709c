"""``daoli init``: files and modes, refusing to clobber, --genesis validation, exit codes."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daoli.cli.app import app
from daoli.core.address import address_bytes_of
from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Genesis
from daoli.core.params import LI_PER_DLC, ChainParams
from daoli.node.config import dump_genesis_toml
from daoli.node.home import Home

runner = CliRunner()
KEY_FILES = ("node_key", "signer_key")


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env)


def snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def genesis_file(tmp_path: Path) -> Path:
    g = Genesis("net-7", 1_700_000_000_000, ChainParams())
    path = tmp_path / "given.toml"
    path.write_text("# hand written\n" + dump_genesis_toml(g))
    return path


@pytest.fixture
def dev_home(tmp_path: Path) -> Path:
    pytest.importorskip("daoli.wallet.keystore")
    home = tmp_path / "node"
    result = invoke("init", "--home", str(home))
    assert result.exit_code == 0, result.output
    return home


def test_dev_init_makes_every_file_with_the_right_mode(dev_home: Path) -> None:
    assert mode(dev_home) == 0o700
    for name in (*KEY_FILES, "dev.password"):
        assert mode(dev_home / name) == 0o600, name
    for name in ("config.toml", "genesis.toml"):
        assert (dev_home / name).is_file()
    for name in KEY_FILES:
        assert len(bytes.fromhex((dev_home / name).read_text().strip())) == 32
    assert not (dev_home / "data").exists()
    assert not (dev_home / "api_token").exists()
    node, signer = ((dev_home / n).read_text() for n in KEY_FILES)
    assert node != signer


def test_dev_genesis_contents(dev_home: Path) -> None:
    keystore = pytest.importorskip("daoli.wallet.keystore")
    home = Home(dev_home)
    g = home.load_genesis()
    assert g.chain_id == "daoli-dev"
    assert g.genesis_time_ms % 1000 == 0
    assert g.params == ChainParams()
    assert len(g.trustees) == 1
    assert g.trustees[0].pubkey == home.signer_pubkey()
    assert g.trustees[0].bond == ChainParams().min_bond
    assert len(g.allocations) == 1
    password = (dev_home / "dev.password").read_text().strip()
    secret = keystore.WalletStore(dev_home / "wallets").unlock("dev", password)
    assert g.allocations[0].address == address_bytes_of(pubkey_from_secret(secret))
    assert g.allocations[0].amount == 1_000_000 * LI_PER_DLC


def test_second_init_refuses_and_changes_nothing(dev_home: Path) -> None:
    before = snapshot(dev_home)
    result = invoke("init", "--home", str(dev_home))
    assert result.exit_code == 2
    assert "already initialised" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(dev_home) == before


def test_force_replaces_keys_and_genesis_but_keeps_dev_wallet(dev_home: Path) -> None:
    before = snapshot(dev_home)
    result = invoke("init", "--home", str(dev_home), "--force", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["replaced"] is True and out["data_reset"] is False
    after = snapshot(dev_home)
    for name in (*KEY_FILES, "genesis.toml"):
        assert after[name] != before[name]
    assert after["wallets/dev.json"] == before["wallets/dev.json"]
    assert after["dev.password"] == before["dev.password"]


def test_force_with_data_dir_needs_reset_data(dev_home: Path) -> None:
    (dev_home / "data").mkdir()
    (dev_home / "data" / "blocks.mdb").write_bytes(b"precious")
    before = snapshot(dev_home)
    result = invoke("init", "--home", str(dev_home), "--force")
    assert result.exit_code == 2
    assert "--reset-data" in result.stderr
    assert snapshot(dev_home) == before
    result = invoke("init", "--home", str(dev_home), "--force", "--reset-data", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["data_reset"] is True
    assert not (dev_home / "data").exists()


def test_init_json_schema(tmp_path: Path) -> None:
    pytest.importorskip("daoli.wallet.keystore")
    result = invoke("init", "--home", str(tmp_path / "h"), "--chain-id", "mine-1", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"home", "chain_id", "genesis_id", "genesis_time_ms", "genesis_file",
                        "config_file", "node_key_file", "signer_key_file", "signer_pubkey",
                        "signer_address", "dev_wallet", "replaced", "data_reset", "warnings"}
    assert out["warnings"] == []
    assert out["chain_id"] == "mine-1"
    assert set(out["dev_wallet"]) == {"name", "address", "amount", "password_file"}
    g = Home(tmp_path / "h").load_genesis()
    assert out["genesis_id"] == g.id.hex()
    assert out["signer_address"].startswith("dlc1")


def test_init_with_genesis_copies_the_given_bytes(tmp_path: Path, genesis_file: Path) -> None:
    home = tmp_path / "h"
    result = invoke("init", "--home", str(home), "--genesis", str(genesis_file), "--json")
    assert result.exit_code == 0, result.output
    assert (home / "genesis.toml").read_bytes() == genesis_file.read_bytes()
    out = json.loads(result.stdout)
    assert out["dev_wallet"] is None and out["chain_id"] == "net-7"
    assert not (home / "wallets").exists() and not (home / "dev.password").exists()
    for name in KEY_FILES:
        assert mode(home / name) == 0o600


def test_p2p_and_api_listen_options(tmp_path: Path, genesis_file: Path) -> None:
    home = tmp_path / "h"
    result = invoke("init", "--home", str(home), "--genesis", str(genesis_file),
                    "--p2p-listen", "/ip4/127.0.0.1/tcp/4001", "--api-listen", "127.0.0.1:4002")
    assert result.exit_code == 0, result.output
    config = Home(home).load_config()
    assert config.p2p_listen == "/ip4/127.0.0.1/tcp/4001" and config.api_port == 4002
    bad = invoke("init", "--home", str(tmp_path / "x"), "--genesis", str(genesis_file),
                 "--api-listen", "nope")
    assert bad.exit_code == 2 and "--api-listen 'nope'" in bad.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'chain_id = "a\n', "bad TOML"),
        (b'chain_id = "a"\ngenesis_time_ms = 0\ncolour = "red"\n', "unknown key(s): colour"),
        (b'chain_id = "a"\ngenesis_time_ms = "noon"\n', "genesis_time_ms"),
        (b'chain_id = "a"\ngenesis_time_ms = 0\n[params]\nmin_fee = "x"\n', "min_fee"),
        (b'chain_id = "a"\ngenesis_time_ms = 0\n[[allocations]]\naddress = "dlc1xyz"\n'
         b"amount = 5\n", "allocations[0]"),
        (b'chain_id = "a"\ngenesis_time_ms = 0\n[[allocations]]\naddress = "bc1qqqq"\n'
         b"amount = 5\n", "allocations[0]"),
        (b"\xff", "UTF-8"),
    ],
)
def test_bad_genesis_file_is_exit_2_one_line(tmp_path: Path, content: bytes, needle: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(content)
    home = tmp_path / "h"
    result = invoke("init", "--home", str(home), "--genesis", str(bad))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and needle in lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not home.exists()


def test_missing_genesis_file_and_chain_id_conflict(tmp_path: Path, genesis_file: Path) -> None:
    result = invoke("init", "--home", str(tmp_path / "h"), "--genesis", str(tmp_path / "no"))
    assert result.exit_code == 2 and "does not exist" in result.stderr
    result = invoke("init", "--home", str(tmp_path / "h"), "--genesis", str(genesis_file),
                    "--chain-id", "x", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"error": {"message": result.stderr.split(": ", 1)[1]
                                                   .strip(), "exit_code": 2}}


def test_daoli_home_env(tmp_path: Path, genesis_file: Path) -> None:
    home = tmp_path / "from-env"
    result = invoke("init", "--genesis", str(genesis_file), env={"DAOLI_HOME": str(home)})
    assert result.exit_code == 0, result.output
    assert (home / "genesis.toml").exists()


# --- through main(), as a user runs it ---------------------------------------------------------


def run_cli(*args: str, env_home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("DAOLI_HOME", None)
    if env_home is not None:
        env["DAOLI_HOME"] = str(env_home)
    return subprocess.run([sys.executable, "-m", "daoli.cli.app", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_subprocess_exit_codes_and_one_stderr_line(tmp_path: Path, genesis_file: Path) -> None:
    home = tmp_path / "h"
    ok = run_cli("init", "--genesis", str(genesis_file), env_home=home)
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    again = run_cli("init", "--home", str(home), "--genesis", str(genesis_file))
    assert again.returncode == 2
    assert len(again.stderr.strip().splitlines()) == 1
    assert again.stderr.startswith("error: ") and "Traceback" not in again.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("chain_id = 5\ngenesis_time_ms = 0\n")
    res = run_cli("init", "--home", str(tmp_path / "h2"), "--genesis", str(bad))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"error: {bad}: chain_id must be a string, got an integer"]


@pytest.mark.parametrize("chain_id", ["BAD", ""])
def test_bad_chain_id_changes_nothing_on_disk(tmp_path: Path, chain_id: str) -> None:
    home = tmp_path / "h"
    result = invoke("init", "--home", str(home), "--chain-id", chain_id)
    assert result.exit_code == 2, result.output
    assert "chain_id" in result.stderr
    assert not home.exists()
    # the documented "nothing changed": the corrected command then works
    assert invoke("init", "--home", str(home), "--chain-id", "good").exit_code == 0


def test_reset_data_on_a_symlinked_data_dir_is_refused(dev_home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "big-disk"
    elsewhere.mkdir()
    (elsewhere / "data.mdb").write_bytes(b"precious")
    (dev_home / "data").symlink_to(elsewhere)
    before = snapshot(dev_home)
    result = invoke("init", "--home", str(dev_home), "--force", "--reset-data")
    assert result.exit_code == 2, result.output
    assert "symbolic link" in result.stderr
    assert snapshot(dev_home) == before
    assert (elsewhere / "data.mdb").read_bytes() == b"precious"


def test_reset_data_when_data_is_a_file(dev_home: Path) -> None:
    (dev_home / "data").write_bytes(b"junk")
    result = invoke("init", "--home", str(dev_home), "--force", "--reset-data", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["data_reset"] is True
    assert not (dev_home / "data").exists()


# --- --force is all or nothing ------------------------------------------------------------------


def entries(home: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``home`` with its mode, inode and bytes."""
    return {str(p.relative_to(home)): (p.lstat().st_mode, p.lstat().st_ino,
                                       p.read_bytes() if p.is_file() else b"")
            for p in sorted(home.rglob("*"))}


@pytest.mark.parametrize("failing", [1, 3, 4])
def test_force_keeps_the_old_home_when_a_rename_fails(dev_home: Path, failing: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    before = entries(dev_home)
    real_replace = os.replace
    calls = []

    def flaky(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) == failing:
            raise OSError(errno.EROFS, "Read-only file system")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", flaky)
    result = invoke("init", "--home", str(dev_home), "--force", "--json")
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    target = ["node_key", "signer_key", "config.toml", "genesis.toml"][failing - 1]
    message = f"cannot replace '{dev_home / target}': read-only file system"
    assert result.stderr.strip().splitlines() == [f"error: {message}"]
    assert json.loads(result.stdout) == {"error": {"message": message, "exit_code": 2}}
    assert entries(dev_home) == before  # the same files, byte for byte; nothing left over
    # and the home still works: the same command, without the failure, goes through
    assert invoke("init", "--home", str(dev_home), "--force").exit_code == 0


def test_human_output_is_plain_text(tmp_path: Path, genesis_file: Path) -> None:
    home = tmp_path / "[bold]h"
    result = invoke("init", "--home", str(home), "--genesis", str(genesis_file),
                    env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Initialised node home {home} for chain net-7"
    assert lines[1].startswith("  genesis id   ") and lines[2].startswith("  signer       dlc1")
