#!/usr/bin/env bash
# Storage on a lease, start to finish, on a one-node devnet: alice offers disk and runs the
# provider agent, bob leases it, stores a file, lists and fetches it back (checked byte for
# byte), signing usage receipts that pay alice from the lease's escrow; bob closes the
# lease and the unused escrow comes back. Balances before and after are printed.
source "$(dirname "$0")/../cloud-lib.sh"
cd "$root"
cloud_setup
head -c 300000 /dev/urandom > "$work/photo.bin"
put=$(daoli --json cloud put "$lease" "$work/photo.bin" --wallet bob)
echo "$ daoli cloud put $lease photo.bin --wallet bob"
echo "$put"
step daoli cloud ls "$lease" --wallet bob
step daoli cloud get "$lease" photo.bin -o "$work/back.bin" --wallet bob
cmp "$work/photo.bin" "$work/back.bin" && echo "fetched file is identical"
cloud_finish "$(echo "$put" | field '["receipts"][-1]["seq"]')"
