# Shared by examples/cloud-storage/run.sh and examples/cloud-compute/run.sh (sourced, not
# run): a one-node devnet in a temporary directory, alice as provider (offer + provider
# agent), bob as buyer (an order matched into a lease), balances before and after.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$root/.venv/bin:$PATH"

work=$(mktemp -d -t daoli-cloud-XXXXXX)
export DAOLI_DEVNET_DIR="$work/devnet"   # never the caller's own devnet: `down` removes it
provider_pid=""
cleanup() {
  if [ -n "$provider_pid" ]; then kill "$provider_pid" 2>/dev/null || true; wait "$provider_pid" 2>/dev/null || true; fi
  daoli devnet down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
balance() { daoli --json wallet balance "$1" | field '["balance"]'; }

cloud_setup() {
  step daoli devnet up devnet/single.toml --detach
  eval "$(daoli devnet env)"   # DAOLI_NODE, DAOLI_HOME (with the wallets), DAOLI_PASSWORD_FILE
  alice_before=$(balance alice); bob_before=$(balance bob)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  listen="/ip4/127.0.0.1/tcp/$port"
  endpoint=$(daoli --json provider id --wallet alice --listen "$listen" | field '["endpoint"]')
  printf '\n\033[1m$ daoli provider start --wallet alice --listen %s &\033[0m\n' "$listen"
  daoli provider start --wallet alice --listen "$listen" --data-dir "$work/provider" \
    > "$work/provider.log" 2>&1 &
  provider_pid=$!
  for _ in $(seq 1 100); do grep -q "serving at" "$work/provider.log" && break; sleep 0.1; done
  grep -q "serving at" "$work/provider.log" || { cat "$work/provider.log"; exit 1; }
  step daoli resource offer --cpu 1 --mem 256Mi --disk 1Gi --price 10 --unit-price 1000 \
    --endpoint "$endpoint" --wallet alice --wait
  printf '\n\033[1m$ daoli resource order --cpu 1 --mem 128Mi --max-price 10 --blocks 1000 --deposit 0.1DLC --wallet bob --wait\033[0m\n'
  lease=$(daoli --json resource order --cpu 1 --mem 128Mi --max-price 10 --blocks 1000 \
            --deposit 0.1DLC --wallet bob --wait | field '["lease"]["id"]')
  echo "lease: $lease"
}

cloud_finish() {
  # the provider submits bob's receipts on chain; wait until the last one is billed
  local top=$1
  for _ in $(seq 1 300); do
    [ "$(daoli --json resource lease show "$lease" | field '["last_seq"]')" -ge "$top" ] && break
    sleep 0.2
  done
  step daoli resource lease show "$lease"
  step daoli resource close "$lease" --wallet bob --wait
  alice_after=$(balance alice); bob_after=$(balance bob)
  python3 - "$alice_before" "$alice_after" "$bob_before" "$bob_after" <<'PY'
import sys
a0, a1, b0, b1 = map(int, sys.argv[1:])
print()
print(f"alice (provider): {a0:>22,} li -> {a1:>22,} li  ({a1 - a0:+,} li: paid per block and per receipt, less the fees of her offer and receipts)")
print(f"bob   (buyer):    {b0:>22,} li -> {b1:>22,} li  ({b1 - b0:+,} li: what the lease cost, plus the fees of the order and the close)")
PY
}
