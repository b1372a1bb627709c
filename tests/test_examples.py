"""The example scripts in examples/ run as documented (they are what users copy)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    extra = env or {}
    env = dict(os.environ)
    env.update(extra)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("DAOLI_HOME", None)
    env.pop("DAOLI_DEVNET_DIR", None)
    env.pop("DAOLI_NODE", None)
    env.pop("DAOLI_PASSWORD", None)
    env["DAOLI_PASSWORD_FILE"] = "/nonexistent"  # the scripts must not depend on the caller's
    return subprocess.run(["bash", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.slow
def test_scripting_example() -> None:
    result = _run("examples/scripting.sh")
    assert result.returncode == 0, result.stderr
    assert "exit 2: wallet 'alice' already exists" in result.stdout
    # scripts name the phrase's destination: a new 0600 file (never stdout)
    assert "bob's recovery phrase: 24 words in a -rw------- file" in result.stdout
    assert "same seed, same winners" in result.stdout


@pytest.mark.slow
def test_demo_runs_the_simulator_then_a_devnet_with_a_workload() -> None:
    result = _run("examples/demo.sh", "--heights", "10", env={"DEMO_SECONDS": "8"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "heights finalized" in out and "10 / 10" in out
    assert "demo summary:" in out and "transfers sent" in out
    assert "/explorer#token=" in out
    m = re.search(r"demo summary: (\d+) transfers sent, (\d+) final", out)
    assert m is not None, out[-3000:]
    assert int(m.group(1)) > 0 and int(m.group(2)) > 0
    market = re.search(r"(\d+) market transactions, (\d+|None) leases active", out)
    assert market is not None and int(market.group(1)) > 0, out[-3000:]
    assert "alice (dlc1" in out and "final at height" in out
    assert "stopped 4 nodes; removed" in out


@pytest.mark.slow
def test_cloud_storage_example_stores_fetches_and_pays() -> None:
    result = _run("examples/cloud-storage/run.sh")
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    out = result.stdout
    assert "fetched file is identical" in out
    m = re.search(r"alice \(provider\):\s+([\d,]+) li -> \s*([\d,]+) li", out)
    assert m is not None, out[-3000:]
    assert int(m.group(2).replace(",", "")) > int(m.group(1).replace(",", ""))


@pytest.mark.slow
def test_cloud_compute_example_runs_and_meters_cpu() -> None:
    result = _run("examples/cloud-compute/run.sh")
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    out = result.stdout
    assert "hello from" in out
    m = re.search(r"exit 0, cpu (\d+) ms metered by the kernel", out)
    assert m is not None and int(m.group(1)) >= 500, out[-3000:]
    assert "bob   (buyer):" in out


@pytest.mark.slow
def test_lottery_example_draws_and_pays() -> None:
    result = _run("examples/lottery/run.sh")
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    assert "the winner is " in result.stdout and "prize paid" in result.stdout
