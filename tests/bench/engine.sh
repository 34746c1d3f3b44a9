#!/usr/bin/env bash
# engine.sh [BUILD_DIR] [ROUNDS]: the engine against plain UDP, in one run.
#
# In a private network namespace (root) it measures, alternating so that all
# see the same machine, ROUNDS times (default 3) each:
#   - plain UDP on loopback (bench_udp): sendmmsg/recvmmsg throughput of
#     4160-byte datagrams, and the one-way latency of a 64-byte ping-pong
#     with both sides spinning on non-blocking receives;
#   - perftest under softodp-run between two processes (127.0.0.1 and
#     127.0.0.2): ib_write_bw -s 65536 pinned and --odp, ib_send_bw,
#     ib_read_bw, ib_write_bw -s 2 (message rate), ib_write_lat -s 8;
# then, once each, ib_write_bw -s 65536 with 1, 2, 4, 8 and 16 QPs with the
# CPU time both processes spent per GB moved, and 64 KiB WRITEs between two
# devices in one process with 1, 2, 4 and 8 QPs (softodp_odp_bench). It
# prints the medians and the ratios the engine is held to.
set -euo pipefail
build=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}
rounds=${2:-3}
run=$build/examples/softodp-run
udp=$build/tests/rxe/bench_udp
ns=sodp-engine-$$
tmp=$(mktemp -d)
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"' EXIT
ip netns exec "$ns" ip link set lo up
port=19600

# pt TOOL ARGS...: one perftest pair; the client's output in $tmp/cli, the
# CPU seconds (user + system) of both processes in $tmp/cpu
pt() {
	local tool=$1 p=$((port++))
	shift
	ip netns exec "$ns" /usr/bin/time -f '%U %S' -o "$tmp/cpu.s" timeout 60 \
		"$run" -d srxe0=127.0.0.1 "$tool" -F -p "$p" "$@" >/dev/null 2>&1 &
	local srv=$!
	for _ in $(seq 1 100); do
		ip netns exec "$ns" ss -ltn | grep -q ":$p " && break
		sleep 0.05
	done
	ip netns exec "$ns" /usr/bin/time -f '%U %S' -o "$tmp/cpu.c" timeout 60 \
		"$run" -d srxe0=127.0.0.2 "$tool" -F -p "$p" "$@" 127.0.0.1 >"$tmp/cli" 2>&1 || true
	wait "$srv" || true
	cat "$tmp/cpu.s" "$tmp/cpu.c" 2>/dev/null | awk '{ s += $1 + $2 } END { print s + 0 }' >"$tmp/cpu"
}

# field SIZE COLUMN: a column of the client's result line for SIZE
field() { awk -v s="$1" -v c="$2" '$1 == s { print $c; exit }' "$tmp/cli"; }

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "nan" }'; }

declare -A v
add() { v[$1]+="${2:-nan} "; }
med() { printf '%s\n' ${v[$1]} | grep -v nan | median; }

for r in $(seq 1 "$rounds"); do
	ip netns exec "$ns" "$udp" 1 >"$tmp/udp"
	add udp_bw "$(awk '/throughput/ { print $4 }' "$tmp/udp")"
	add udp_lat "$(awk '/spinning/ { for (i = 1; i < NF; i++) if ($i == "one-way") print $(i + 1) }' "$tmp/udp")"
	pt ib_write_bw -s 65536 -D 2
	add write "$(field 65536 4)"
	pt ib_write_bw -s 65536 -D 2 --odp
	add write_odp "$(field 65536 4)"
	pt ib_send_bw -s 65536 -D 2
	add send "$(field 65536 4)"
	pt ib_read_bw -s 65536 -D 2
	add read "$(field 65536 4)"
	pt ib_write_bw -s 2 -D 2
	add rate "$(field 2 5)"
	pt ib_write_lat -s 8 -n 20000
	add lat "$(field 8 5)"
	printf 'round %d: udp %s MB/s %s us | write %s odp %s send %s read %s MB/s | 2 B %s Mpps | lat %s us\n' \
		"$r" $(for k in udp_bw udp_lat write write_odp send read rate lat; do
			printf '%s\n' ${v[$k]} | tail -n 1
		done)
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a == a + 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "medians of $rounds rounds"
printf '%-34s %12s %12s %8s %s\n' measure softodp baseline ratio target
printf '%-34s %12s %12s %8s %s\n' "ib_write_bw -s 65536 (MB/s)" "$(med write)" "$(med udp_bw)" \
	"$(ratio "$(med write)" "$(med udp_bw)")" ">= 0.70 of UDP"
printf '%-34s %12s %12s %8s %s\n' "ib_write_lat -s 8 t_typical (us)" "$(med lat)" "$(med udp_lat)" \
	"$(ratio "$(med lat)" "$(med udp_lat)")" "<= 3 x UDP one-way"
printf '%-34s %12s %12s %8s %s\n' "ib_write_bw --odp (MB/s)" "$(med write_odp)" "$(med write)" \
	"$(ratio "$(med write_odp)" "$(med write)")" ">= 0.95 of pinned"
printf '%-34s %12s\n' "ib_send_bw -s 65536 (MB/s)" "$(med send)"
printf '%-34s %12s\n' "ib_read_bw -s 65536 (MB/s)" "$(med read)"
printf '%-34s %12s\n' "ib_write_bw -s 2 (Mpps)" "$(med rate)"

echo
echo "scaling: ib_write_bw -s 65536 -D 2, one run each"
printf '%-6s %12s %12s %14s\n' QPs MB/s Mpps "CPU s per GB"
for q in 1 2 4 8 16; do
	pt ib_write_bw -s 65536 -D 2 -q "$q"
	bw=$(field 65536 4)
	printf '%-6s %12s %12s %14s\n' "$q" "${bw:-failed}" "$(field 65536 5)" \
		"$(awk -v c="$(cat "$tmp/cpu")" -v b="${bw:-0}" 'BEGIN { if (b > 0) printf "%.2f", c / (b * 2 / 1000); else print "n/a" }')"
done

echo
echo "two devices in one process: 64 KiB WRITEs into a warm ODP MR (softodp_odp_bench --only=scale)"
ip netns exec "$ns" timeout 120 "$build/tools/softodp_odp_bench" --only=scale >"$tmp/one" 2>&1 || true
awk '/^Scaling with QPs/ { on = 1; next } on && NF == 2 { print }' "$tmp/one"
