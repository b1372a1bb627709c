#!/usr/bin/env bash
# A publicly verifiable lottery, start to finish, on a one-node devnet (examples/lottery/
# README.md says how it works): the organizer announces it on chain, alice, bob and carol
# enter, block D draws the winner, anyone re-verifies the draw from the chain alone, and the
# organizer pays the prize (which `verify` then shows). Everything runs in a temporary
# devnet directory that is removed at the end, whatever happens.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PATH="$(cd "$here/../.." && pwd)/.venv/bin:$PATH"

work=$(mktemp -d -t daoli-lottery-XXXXXX)
export DAOLI_DEVNET_DIR="$work/devnet"   # never the caller's own devnet: `down` removes it
cleanup() {
  daoli devnet down >/dev/null 2>&1 || true  # stops the node by its recorded PID
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
lottery() { python "$here/lottery.py" "$@"; }
json() { python -c "import json,sys; print(json.load(sys.stdin)$1)"; }

step daoli devnet up "$here/devnet.toml" --detach
eval "$(daoli devnet env)"   # DAOLI_NODE, DAOLI_HOME (with the wallets), DAOLI_PASSWORD_FILE

printf '\n\033[1m$ lottery announce ...\033[0m\n'
id=$(lottery announce --wallet organizer --name spring-raffle --end +10 --draw +2 \
       --payby +30 --stake 1DLC --json | json '["lottery_id"]')
echo "lottery id: $id"

# three entrants at once (each its own sender, so their nonces do not collide)
pids=()
for who in alice bob carol; do
  printf '\033[1m$ lottery enter %s --wallet %s\033[0m\n' "${id:0:16}..." "$who"
  lottery enter "$id" --wallet "$who" & pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid"; done

step lottery status "$id"
step lottery verify "$id" --wait 60
step lottery payout "$id" --wallet organizer
winner=$(lottery verify "$id" --json | json '["winner"]["entrant"]')
paid=$(lottery verify "$id" --json | json '["payout"]["status"]')
name=$winner
for who in alice bob carol; do
  if [ "$(daoli --json wallet address "$who" | json '["address"]')" = "$winner" ]; then
    name=$who
  fi
done
step daoli wallet balance "$winner"
step daoli devnet down
echo
echo "lottery $id: the winner is $name ($winner); prize $paid"
