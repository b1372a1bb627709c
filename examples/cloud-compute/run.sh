#!/usr/bin/env bash
# Compute on a lease, start to finish, on a one-node devnet: alice offers a CPU and runs the
# provider agent, bob leases it and runs commands there (confined: its own directory, the
# lease's CPU and memory as limits; CPU time metered by the provider's kernel), signing
# usage receipts that pay alice; bob closes the lease and the unused escrow comes back.
# Balances before and after are printed.
source "$(dirname "$0")/../cloud-lib.sh"
cd "$root"
cloud_setup
step daoli cloud run "$lease" --wallet bob -- python3 -c 'import platform; print("hello from", platform.node())'
printf '\n\033[1m$ daoli cloud run %s --wallet bob -- python3 -c <a second of busy work>\033[0m\n' "$lease"
ran=$(daoli --json cloud run "$lease" --wallet bob -- python3 -c \
        'import time; t=time.process_time(); n=0
while time.process_time() - t < 1.0: n += 1
print(n)')
echo "$ran" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("exit %s, cpu %s ms metered by the kernel, wall %s ms, receipts %s"
      % (d["code"], d["cpu_ms"], d["wall_ms"], d["receipts"]))'
cloud_finish "$(echo "$ran" | field '["receipts"][-1]["seq"]')"
