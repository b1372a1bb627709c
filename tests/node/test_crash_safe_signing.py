"""A trustee SIGKILLed between persisting its vote and sending it never signs a conflicting
vote after a restart (CometBFT's priv_validator_state, done by NodeMachine + SignStateFile)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daoli.core.vote import PREVOTE, Vote
from daoli.errors import ConfigError
from daoli.machine.signstate import SignState
from daoli.node.signfile import SignStateFile

ROOT = Path(__file__).resolve().parents[2]


def driver(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.node.sign_driver", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def wait_line(p: subprocess.Popen[str], prefix: str, timeout: float = 120) -> str:
    assert p.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line.split()[1]
    err = p.stderr.read() if p.stderr else ""
    raise AssertionError(f"no {prefix} line (exit {p.poll()}): {err}")


def sent_votes(args: list[str]) -> list[Vote]:
    p = driver(*args)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    return [Vote.decode(bytes.fromhex(line.split()[1])) for line in out.splitlines()
            if line.startswith("SENT ")]


@pytest.mark.slow
def test_sigkill_between_persist_and_send_then_restart(tmp_path: Path) -> None:
    record = tmp_path / "sign_state"
    first = driver("first", str(record))
    try:
        persisted = Vote.decode(bytes.fromhex(wait_line(first, "PERSISTED ")))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    # the vote was signed and is on disk, but no one ever saw it
    state = SignStateFile(record).load()
    assert persisted in state.votes and state.height == persisted.height

    restarted = sent_votes(["second", str(record)])
    same_step = [v for v in restarted if (v.height, v.round, v.vtype)
                 == (persisted.height, persisted.round, persisted.vtype)]
    assert same_step, "the restarted trustee should vote again at that step"
    assert all(v == persisted for v in same_step), "it must repeat, not sign anew"

    # Without the record the same restart signs a different prevote, which is what the
    # record prevents (the first run prevoted a proposal this lone restart never sees).
    control = sent_votes(["second", str(tmp_path / "no-record")])
    other = [v for v in control if (v.height, v.round, v.vtype)
             == (persisted.height, persisted.round, persisted.vtype)]
    assert persisted.vtype == PREVOTE
    assert other and other[0].block_id != persisted.block_id


def test_a_corrupt_record_refuses_to_start(tmp_path: Path) -> None:
    f = tmp_path / "sign_state"
    f.write_bytes(b"\x00garbage")
    with pytest.raises(ConfigError, match="refusing to start"):
        SignStateFile(f).load()


def test_save_is_atomic_and_round_trips(tmp_path: Path) -> None:
    f = SignStateFile(tmp_path / "sign_state")
    assert f.load() == SignState()
    s = SignState(3)
    f.save(s)
    assert f.load() == s
    assert not (tmp_path / "sign_state.tmp").exists()
    assert (tmp_path / "sign_state").stat().st_mode & 0o777 == 0o600
