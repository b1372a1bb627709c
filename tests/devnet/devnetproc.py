"""Driving ``daoli devnet`` the way a shell script would: the real CLI in subprocesses,
JSON out, conditions waited on with timeouts (shared by the devnet tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

DAOLI = [sys.executable, "-m", "daoli.cli.app"]


def daoli(*args: str, env: dict[str, str] | None = None, timeout: float = 120
          ) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}
    return subprocess.run([*DAOLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**e, **(env or {})})


def ok(*args: str, env: dict[str, str] | None = None) -> Any:
    r = daoli("--json", *args, env=env)
    assert r.returncode == 0, r.stderr + r.stdout + log_tails(args)
    return json.loads(r.stdout)


def log_tails(args: tuple[str, ...], lines: int = 15) -> str:
    """The last lines of every node log of the devnet a failed command named (--dir): what
    a failure in CI needs to be understood after the test removed the directory."""
    if "--dir" not in args or args.index("--dir") + 1 >= len(args):
        return ""
    d = Path(args[args.index("--dir") + 1])
    out = []
    for log in sorted(d.glob("*/node.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"\n--- {log}:\n" + "\n".join(tail))
    return "".join(out)


def wait_for(what: str, cond: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = cond()
        except (httpx.HTTPError, KeyError, ValueError, OSError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Net:
    def __init__(self, d: Path) -> None:
        self.d = str(d)

    def status(self) -> dict[str, Any]:
        return dict(ok("devnet", "status", "--dir", self.d))

    def heights(self) -> dict[str, int | None]:
        return {n["name"]: n["height"] for n in self.status()["nodes"]}

    def block_id(self, node: dict[str, Any], h: int) -> str:
        tok = (Path(node["home"]) / "api_token").read_text().split()[0]
        r = httpx.get(f"{node['api']}/v1/blocks/{h}", timeout=5,
                      headers={"Authorization": f"Bearer {tok}"})
        r.raise_for_status()
        return str(r.json()["id"])

    def env(self, node: str = "n0") -> dict[str, str]:
        return dict(ok("devnet", "env", node, "--dir", self.d))

    def down(self) -> None:
        daoli("devnet", "down", "--dir", self.d)


def agree(net: Net) -> bool:
    nodes = [n for n in net.status()["nodes"] if n["alive"]]
    h = min(n["height"] for n in nodes)
    return len({net.block_id(n, k) for n in nodes for k in (max(1, h - 1), h)}) == 2
