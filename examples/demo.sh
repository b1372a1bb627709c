#!/usr/bin/env bash
# The main demo.
# 1. The consensus simulator: 31 trustees (10 of them Byzantine equivocators, the most
#    f = (31-1)//3 tolerates) and 1,000 miners over a lossy, jittery simulated network,
#    running the real core state machines. Extra arguments go to `daoli sim`.
# 2. A throwaway development chain home, its genesis, and wallets, in a temporary
#    DAOLI_HOME that is removed afterwards.
set -euo pipefail
export PATH="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin:$PATH"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step daoli sim --trustees 31 --miners 1000 --heights 100 --byzantine 10 \
  --behaviour equivocate --latency lognormal --latency-ms 40 --jitter-ms 30 \
  --loss 0.01 --clock-skew-ms 150 --offline-winner 0.1 --seed 7 "$@"

export DAOLI_HOME; DAOLI_HOME=$(mktemp -d -t daoli-demo-XXXXXX)
trap 'rm -rf "$DAOLI_HOME"' EXIT
step daoli init --chain-id daoli-demo
step daoli chain genesis
export DAOLI_PASSWORD=demo-password-not-secret
unset DAOLI_PASSWORD_FILE  # it would take precedence over DAOLI_PASSWORD
# the recovery phrase goes to a terminal or to a new 0600 file, never into a pipe or a log
step daoli wallet new alice --light-kdf --mnemonic-out "$DAOLI_HOME/alice.phrase"
step daoli wallet list
step daoli wallet address dev --json
