#!/usr/bin/env bash
# perftest_odp.sh [BUILD_DIR] [ROUNDS]: perftest's ib_write_bw, 64 KiB
# messages, pinned against --odp, between two processes under softodp-run
# in a private network namespace (root). Runs alternate pinned and ODP so
# that both see the same machine; prints each run's BW average, the medians
# and their ratio.
set -euo pipefail
build=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}
rounds=${2:-5}
run=$build/examples/softodp-run
ns=sodp-perftest-$$
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns exec "$ns" ip link set lo up

# one ib_write_bw run; prints its BW average in MB/s
bw() {
	local port=$1; shift
	ip netns exec "$ns" timeout 60 "$run" -d srxe0=127.0.0.1 ib_write_bw -F -s 65536 -n 5000 \
		-p "$port" "$@" >/dev/null 2>&1 &
	local srv=$!
	for _ in $(seq 1 100); do
		ip netns exec "$ns" ss -ltn | grep -q ":$port " && break
		sleep 0.05
	done
	ip netns exec "$ns" timeout 60 "$run" -d srxe0=127.0.0.2 ib_write_bw -F -s 65536 -n 5000 \
		-p "$port" "$@" 127.0.0.1 2>/dev/null | awk '$1 == 65536 { print $4 }'
	wait "$srv" || true
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

pinned=() odp=()
port=19500
for i in $(seq 1 "$rounds"); do
	p=$(bw $((port++)))
	o=$(bw $((port++)) --odp)
	printf 'round %d: pinned %s MB/s, odp %s MB/s\n' "$i" "${p:-FAILED}" "${o:-FAILED}"
	[ -n "$p" ] && pinned+=("$p")
	[ -n "$o" ] && odp+=("$o")
done
mp=$(printf '%s\n' "${pinned[@]}" | median)
mo=$(printf '%s\n' "${odp[@]}" | median)
printf 'median: pinned %s MB/s, odp %s MB/s, odp/pinned %s\n' "$mp" "$mo" \
	"$(awk -v a="$mo" -v b="$mp" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')"
