"""The example scripts in examples/ run as documented (they are what users copy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("DAOLI_HOME", None)
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
def test_demo_runs_the_simulator_then_a_live_dev_chain() -> None:
    result = _run("examples/demo.sh", "--heights", "10")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "heights finalized" in out and "10 / 10" in out
    assert "Initialised node home" in out and "1,000,000 DLC" in out
    assert '"name": "dev"' in out
    assert "recovery phrase written to" in out and "(mode 0600)" in out
    # the chain live: a real node finalizes blocks, moves 25 DLC, and stops cleanly
    assert '"event": "started"' in out
    assert "final at height" in out
    assert "alice (dlc1" in out and ": 25 DLC (2,500,000,000 li)" in out
    assert out.rstrip().endswith("node stopped")
