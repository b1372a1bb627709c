#!/usr/bin/env bash
# The main demo.
# 1. The consensus simulator: 31 trustees (10 of them Byzantine equivocators, the most
#    f = (31-1)//3 tolerates) and 1,000 miners over a lossy, jittery simulated network,
#    running the real core state machines. Extra arguments go to `daoli sim`.
# 2. A throwaway development chain home, its genesis, and wallets, in a temporary
#    DAOLI_HOME that is removed afterwards.
# 3. That chain live: a real node (py-libp2p, LMDB, the local API) finalizing a block per
#    second; a transfer sent and waited for, balances, blocks; then the node is stopped.
set -euo pipefail
export PATH="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin:$PATH"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step daoli sim --trustees 31 --miners 1000 --heights 100 --byzantine 10 \
  --behaviour equivocate --latency lognormal --latency-ms 40 --jitter-ms 30 \
  --loss 0.01 --clock-skew-ms 150 --offline-winner 0.1 --seed 7 "$@"

export DAOLI_HOME; DAOLI_HOME=$(mktemp -d -t daoli-demo-XXXXXX)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ]; then kill -TERM "$node_pid" 2>/dev/null || true; wait "$node_pid" || true; fi
  rm -rf "$DAOLI_HOME"
}
trap cleanup EXIT
step daoli init --chain-id daoli-demo
step daoli chain genesis
export DAOLI_PASSWORD=demo-password-not-secret
unset DAOLI_PASSWORD_FILE  # it would take precedence over DAOLI_PASSWORD
# the recovery phrase goes to a terminal or to a new 0600 file, never into a pipe or a log
step daoli wallet new alice --light-kdf --mnemonic-out "$DAOLI_HOME/alice.phrase"
step daoli wallet list
step daoli wallet address dev --json

# 3. the dev chain, live (ports chosen by the OS; the start-up line names them)
printf '\n\033[1m$ daoli node start --json --api 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 &\033[0m\n'
daoli node start --json --api 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 \
  > "$DAOLI_HOME/node.out" 2> "$DAOLI_HOME/node.err" &
node_pid=$!
for _ in $(seq 1 300); do  # at most 30 s for the node to come up
  [ -s "$DAOLI_HOME/node.out" ] && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$DAOLI_HOME/node.err" >&2; exit 1; }
  sleep 0.1
done
head -n 1 "$DAOLI_HOME/node.out"
export DAOLI_NODE; DAOLI_NODE=$(python3 -c \
  'import json,sys; print(json.loads(open(sys.argv[1]).readline())["api"])' "$DAOLI_HOME/node.out")
export DAOLI_PASSWORD_FILE="$DAOLI_HOME/dev.password"  # the dev wallet's password
step daoli block watch --count 2 --timeout 30
step daoli wallet send dev alice 25DLC --wait --timeout 30
step daoli wallet balance alice
step daoli chain status
step daoli block show latest
kill -TERM "$node_pid"; wait "$node_pid"; node_pid=""
echo "node stopped"
