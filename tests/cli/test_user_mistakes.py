"""User mistakes through the real entry point: one error line, the documented exit code, the
JSON error object with --json, no traceback, and nothing on disk changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daoli.core.genesis import Genesis
from daoli.core.params import ChainParams
from daoli.node.config import dump_genesis_toml


def daoli(*args: str, env: dict[str, str] | None = None,
          envb: dict[bytes, bytes] | None = None) -> subprocess.CompletedProcess[bytes]:
    full: dict[bytes, bytes] = {**os.environb, **(envb or {})}
    full.update({k.encode(): v.encode() for k, v in (env or {}).items()})
    return subprocess.run([sys.executable, "-m", "daoli.cli.app", *args], env=full,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                          check=False)


def assert_error(result: subprocess.CompletedProcess[bytes], code: int,
                 as_json: bool = False) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err, err
    assert result.returncode == code, err
    assert len(err.strip().splitlines()) == 1, err
    if as_json:
        doc = json.loads(result.stdout)
        assert set(doc) == {"error"} and set(doc["error"]) == {"message", "exit_code"}
        assert doc["error"]["exit_code"] == code
    return err


@pytest.mark.parametrize("args", [
    ["sim", "--trustees", "abc"],
    ["wallet", "new"],
    ["wallet", "new", "x", "--account", "-1"],
    ["chain", "new-genesis"],
])
def test_usage_errors_with_json_give_the_error_object(args: list[str]) -> None:
    assert_error(daoli(*args, "--json"), 2, as_json=True)


@pytest.mark.parametrize("option", ["--latency-ms", "--jitter-ms", "--loss", "--tx-rate"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_sim_refuses_non_finite_numbers(option: str, value: str) -> None:
    result = daoli("sim", "--heights", "1", option, value, "--json")
    assert option in assert_error(result, 2, as_json=True)


def test_new_genesis_out_unwritable_is_exit_2(tmp_path: Path) -> None:
    directory = tmp_path / "adir"
    directory.mkdir()
    (directory / "keep").write_text("x")
    assert_error(daoli("chain", "new-genesis", "--out", str(directory), "--force", "--json"),
                 2, as_json=True)
    assert (directory / "keep").read_text() == "x"
    assert_error(daoli("chain", "new-genesis", "--out", str(tmp_path / "no" / "g.toml")), 2)


def test_init_home_under_a_file_is_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_error(daoli("init", "--home", str(blocker / "home"), "--json"), 2, as_json=True)
    assert blocker.read_text() == "x"


def test_non_utf8_password_env_is_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = daoli("wallet", "new", "a", "--light-kdf", "--json",
                   envb={b"DAOLI_HOME": bytes(home), b"DAOLI_PASSWORD": b"p\xe9w"})
    assert "UTF-8" in assert_error(result, 2, as_json=True)
    assert not (home / "wallets" / "a.json").exists()


def test_genesis_time_beyond_u64_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "g.toml"
    assert_error(daoli("chain", "new-genesis", "--out", str(out), "--genesis-time-ms",
                       str(1 << 64), "--json"), 2, as_json=True)
    assert not out.exists()
    text = dump_genesis_toml(Genesis("net-1", 0, ChainParams()))
    out.write_text(text.replace("genesis_time_ms = 0", f"genesis_time_ms = {1 << 64}"))
    assert "genesis_time_ms" in assert_error(daoli("chain", "genesis", "--file", str(out)), 2)
    home = tmp_path / "n1"
    assert_error(daoli("init", "--home", str(home), "--genesis", str(out)), 2)
    assert not home.exists()


def test_wallet_list_survives_a_deeply_nested_file(tmp_path: Path) -> None:
    wallets = tmp_path / "home" / "wallets"
    wallets.mkdir(parents=True)
    (wallets / "deep.json").write_text("[" * 100_000)  # RecursionError or a segfault
    result = daoli("wallet", "list", "--json", env={"DAOLI_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr.decode()
    doc = json.loads(result.stdout)
    assert doc["wallets"] == [] and len(doc["unreadable"]) == 1
