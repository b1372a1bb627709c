"""``daoli devnet up`` with real processes: seconds to the first finalized block and to
height 10 for a 4-node devnet (issue 15 targets: first block under 5 s), medians of
``--runs`` runs, the machine named.

    python -m bench.devnet [--runs 3] [--nodes 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.node import machine

DAOLI = [sys.executable, "-m", "daoli.cli.app"]


def one_run(root: Path, nodes: int) -> dict[str, float]:
    d = root / "net"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}
    t0 = time.monotonic()
    r = subprocess.run([*DAOLI, "--json", "devnet", "up", "--detach", "--nodes", str(nodes),
                        "--dir", str(d)], capture_output=True, text=True, env=env,
                       timeout=120, check=False)
    first = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    up = json.loads(r.stdout)
    try:
        n0 = up["nodes"][0]
        token = (Path(n0["home"]) / "api_token").read_text().split()[0]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            s = httpx.get(n0["api"] + "/v1/status", timeout=5,
                          headers={"Authorization": f"Bearer {token}"}).json()
            if s["height"] >= 10:
                break
            time.sleep(0.05)
        ten = time.monotonic() - t0
    finally:
        subprocess.run([*DAOLI, "devnet", "down", "--dir", str(d)], capture_output=True,
                       env=env, timeout=60, check=False)
    return {"first_block_s": first, "node_reported_first_block_s":
            float(up["seconds_to_first_block"]), "height_10_s": ten}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="daoli-bench-devnet-") as tmp:
        for i in range(args.runs):
            runs.append(one_run(Path(tmp) / str(i), args.nodes))
    res: dict[str, Any] = {"machine": machine(), "runs": runs, "nodes": args.nodes}
    for key in ("first_block_s", "node_reported_first_block_s", "height_10_s"):
        res[f"median_{key}"] = statistics.median(r[key] for r in runs)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"machine: {res['machine']}  (medians of {args.runs} runs, {args.nodes} nodes)")
    print(f"devnet up to first finalized block: {res['median_first_block_s']:.2f} s "
          f"(command start to return; nodes started to first block "
          f"{res['median_node_reported_first_block_s']:.2f} s; target < 5 s)")
    print(f"devnet up to height 10: {res['median_height_10_s']:.2f} s")


if __name__ == "__main__":
    main()
