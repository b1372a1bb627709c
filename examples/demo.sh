#!/usr/bin/env bash
# The main demo: a throwaway development chain home, its genesis, and wallets.
# Runs in a temporary DAOLI_HOME that is removed afterwards; touches nothing else.
set -euo pipefail
export PATH="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin:$PATH"
export DAOLI_HOME; DAOLI_HOME=$(mktemp -d -t daoli-demo-XXXXXX)
trap 'rm -rf "$DAOLI_HOME"' EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step daoli init --chain-id daoli-demo
step daoli chain genesis
export DAOLI_PASSWORD=demo-password-not-secret
step daoli wallet new alice --light-kdf
step daoli wallet list
step daoli wallet address dev --json
