"""``startup``: ``daoli devnet up`` with real processes, to the first finalized block and to
height 10 (issue 15 target: first block under 5 s).

One run (:func:`one_run`) starts a ``nodes``-node devnet with ``devnet up --detach`` and
returns ``first_block_s`` (command start to its return, which waits for the first finalized
block), ``node_reported_first_block_s`` (what the command reports: nodes started to first
block) and ``height_10_s`` (command start to node 0's API showing height 10), then takes the
devnet down.

    python -m bench startup [--runs 3]    # medians, min and max, the machine named
    python -m bench.devnet                # the same command
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import DAOLI, clean_env

HEIGHT = 10
TIMEOUT_S = 120.0


def one_run(root: Path, nodes: int = 4) -> dict[str, float]:
    d = root / "net"
    env = clean_env()
    t0 = time.monotonic()
    r = subprocess.run([*DAOLI, "--json", "devnet", "up", "--detach", "--nodes", str(nodes),
                        "--dir", str(d)], capture_output=True, text=True, env=env,
                       timeout=TIMEOUT_S, check=False)
    first = time.monotonic() - t0
    try:
        if r.returncode != 0:
            lines = r.stderr.strip().splitlines() or [f"exit code {r.returncode}"]
            raise RuntimeError(f"devnet up failed: {lines[-1]}")
        up = json.loads(r.stdout)
        n0 = up["nodes"][0]
        token = (Path(n0["home"]) / "api_token").read_text().split()[0]
        deadline = time.monotonic() + TIMEOUT_S
        with httpx.Client(base_url=n0["api"], timeout=5,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            while http.get("/v1/status").json()["height"] < HEIGHT:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no height {HEIGHT} after {TIMEOUT_S:g} s")
                time.sleep(0.05)  # polling a live chain, with a deadline above
        ten = time.monotonic() - t0
    finally:
        subprocess.run([*DAOLI, "devnet", "down", "--dir", str(d)], capture_output=True,
                       env=env, timeout=60, check=False)
    return {"nodes": nodes, "first_block_s": first,
            "node_reported_first_block_s": float(up["seconds_to_first_block"]),
            "height_10_s": ten}


if __name__ == "__main__":  # python -m bench.devnet: the harness's ``startup`` scenario
    from bench.__main__ import main

    raise SystemExit(main(["startup", *sys.argv[1:]]))
