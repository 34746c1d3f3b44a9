#!/usr/bin/env bash
# soak.sh [SECONDS]: mixed RC traffic into ODP and pinned memory against
# mapping churn (tests/soak/soak.c) for SECONDS (default 120), every byte
# checked, memory before and after reported. As root it runs in a network
# namespace of its own (the soak's devices bind UDP port 4791).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-120}
"$top/scripts/setup.sh"
"$top/scripts/build.sh" plain >/dev/null
run=()
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
	ns=sodp-soak-$$
	ip netns add "$ns"
	trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
	ip netns exec "$ns" ip link set lo up
	run=(ip netns exec "$ns")
fi
echo "== soak for $secs s =="
"${run[@]}" "$top/build/tests/soak/soak" "$secs"
