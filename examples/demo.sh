#!/usr/bin/env bash
# The main demo.
# 1. The consensus simulator: 31 trustees (10 of them Byzantine equivocators, the most
#    f = (31-1)//3 tolerates) and 1,000 miners over a lossy, jittery simulated network,
#    running the real core state machines. Extra arguments go to `daoli sim`.
# 2. A real local network: `daoli devnet up --demo` starts 4 trustee nodes (py-libp2p, LMDB,
#    each its own process) with wallets alice, bob and carol, streams transfers between them
#    for DEMO_SECONDS (default 60) and prints a summary and the explorer URL; then a few
#    commands against the live network, and `daoli devnet down` removes it all.
set -euo pipefail
export PATH="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin:$PATH"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step daoli sim --trustees 31 --miners 1000 --heights 100 --byzantine 10 \
  --behaviour equivocate --latency lognormal --latency-ms 40 --jitter-ms 30 \
  --loss 0.01 --clock-skew-ms 150 --offline-winner 0.1 --seed 7 "$@"

work=$(mktemp -d -t daoli-demo-XXXXXX)
export DAOLI_DEVNET_DIR="$work/devnet"
cleanup() {
  daoli devnet down >/dev/null 2>&1 || true  # stops the nodes by their recorded PIDs
  rm -rf "$work"
}
trap cleanup EXIT

step daoli devnet up --demo --duration "${DEMO_SECONDS:-60}" --detach
step daoli devnet status
eval "$(daoli devnet env n1)"   # DAOLI_NODE, DAOLI_HOME (with the wallets), password file
step daoli wallet balance alice
step daoli wallet send bob carol 2.5DLC --wait --timeout 30
step daoli block show latest
step daoli devnet down
