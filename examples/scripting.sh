#!/usr/bin/env bash
# Driving `daoli` from a shell script: --json output, DAOLI_PASSWORD, and exit codes.
# Runs in a temporary DAOLI_HOME that is removed afterwards.
set -euo pipefail
export PATH="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin:$PATH"
export DAOLI_HOME; DAOLI_HOME=$(mktemp -d -t daoli-script-XXXXXX)
trap 'rm -rf "$DAOLI_HOME"' EXIT
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

daoli init --chain-id daoli-script --json | json '["genesis_id"]'
export DAOLI_PASSWORD=not-a-secret
daoli wallet new alice --light-kdf --json | json '["address"]'

# a second wallet with the same name is bad input: exit code 2, and a JSON error object
set +e
out=$(daoli wallet new alice --light-kdf --json 2>/dev/null); code=$?
set -e
echo "exit $code: $(echo "$out" | json '["error"]["message"]')"
[ "$code" -eq 2 ]

# the simulator's report is one JSON object; the same seed gives the same report
a=$(daoli sim --trustees 4 --miners 50 --heights 10 --seed 3 --json | json '["wins_by_miner"]')
b=$(daoli sim --trustees 4 --miners 50 --heights 10 --seed 3 --json | json '["wins_by_miner"]')
[ "$a" = "$b" ] && echo "same seed, same winners: $a"
