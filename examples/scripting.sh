#!/usr/bin/env bash
# Driving `daoli` from a shell script: --json output, DAOLI_PASSWORD, and exit codes.
# Scripts say where a new wallet's recovery phrase goes: --mnemonic-out FILE (a new 0600
# file), or --discard-mnemonic for a throwaway key; it is never printed to a pipe.
# Runs in a temporary DAOLI_HOME that is removed afterwards.
set -euo pipefail
export PATH="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin:$PATH"
export DAOLI_HOME; DAOLI_HOME=$(mktemp -d -t daoli-script-XXXXXX)
trap 'rm -rf "$DAOLI_HOME"' EXIT
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

daoli init --chain-id daoli-script --json | json '["genesis_id"]'
export DAOLI_PASSWORD=not-a-secret
unset DAOLI_PASSWORD_FILE  # it would take precedence over DAOLI_PASSWORD
daoli wallet new alice --light-kdf --discard-mnemonic --json | json '["address"]'
daoli wallet new bob --light-kdf --mnemonic-out "$DAOLI_HOME/bob.phrase" --json >/dev/null
echo "bob's recovery phrase: $(wc -w < "$DAOLI_HOME/bob.phrase" | tr -d ' ') words in a" \
  "$(ls -l "$DAOLI_HOME/bob.phrase" | cut -c1-10) file"

# a private key goes to a pipe only when asked with --yes
daoli wallet export alice --yes --json | json '["address"]'

# a second wallet with the same name is bad input: exit code 2, and a JSON error object
set +e
out=$(daoli wallet new alice --light-kdf --discard-mnemonic --json 2>/dev/null); code=$?
set -e
echo "exit $code: $(echo "$out" | json '["error"]["message"]')"
[ "$code" -eq 2 ]

# the simulator's report is one JSON object; the same seed gives the same report
a=$(daoli sim --trustees 4 --miners 50 --heights 10 --seed 3 --json | json '["wins_by_miner"]')
b=$(daoli sim --trustees 4 --miners 50 --heights 10 --seed 3 --json | json '["wins_by_miner"]')
[ "$a" = "$b" ] && echo "same seed, same winners: $a"
