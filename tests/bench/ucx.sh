#!/usr/bin/env bash
# ucx.sh [BUILD_DIR]: ucx_perftest tag_lat and tag_bw over softodp beside
# UCX's own transports, in one run, between two processes of this host:
#   softodp  UCX_TLS=rc_v,self  (rc_verbs on srxe0:1, UD for wire-up), through
#            softodp-run --dev-nodes, the processes on 127.0.0.1 and 127.0.0.2
#   tcp      UCX_TLS=tcp,self   UCX_NET_DEVICES=lo
#   posix    UCX_TLS=posix,self (shared memory, POSIX shm_open)
#   sysv     UCX_TLS=sysv,self  (shared memory, System V segments)
# at 8 B, 64 KiB and 1 MiB. It prints, per test and size, the median latency
# (tag_lat, usec) or the average bandwidth (tag_bw, MB/s) of each. Run it in
# a network namespace of its own (softodp binds UDP 4791 on 127.0.0.1/2):
#   ip netns add u && ip netns exec u ip link set lo up
#   ip netns exec u tests/bench/ucx.sh build
set -euo pipefail
build=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}
run="$build/examples/softodp-run --dev-nodes"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in ucx_perftest ss python3; do
	command -v $t >/dev/null || { echo "ucx.sh: $t is not installed" >&2; exit 77; }
done

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# one TRANSPORT TEST SIZE ITERS: prints the client's Final line's figure
one() {
	local tr=$1 test=$2 size=$3 iters=$4 port i=0 srv cli
	port=$(free_port)
	case $tr in
	softodp)
		srv="env UCX_TLS=rc_v,self UCX_NET_DEVICES=srxe0:1 $run -d srxe0=127.0.0.1"
		cli="env UCX_TLS=rc_v,self UCX_NET_DEVICES=srxe0:1 $run -d srxe0=127.0.0.2" ;;
	tcp) srv="env UCX_TLS=tcp,self UCX_NET_DEVICES=lo"; cli=$srv ;;
	*) srv="env UCX_TLS=$tr,self"; cli=$srv ;;
	esac
	timeout 120 $srv ucx_perftest -p "$port" >"$tmp/srv" 2>&1 &
	while [ $i -lt 300 ] && ! ss -Hltn "sport = :$port" | grep -q .; do
		sleep 0.1
		i=$((i + 1))
	done
	timeout 120 $cli ucx_perftest -p "$port" -t "$test" -s "$size" -n "$iters" \
		127.0.0.1 >"$tmp/cli" 2>&1 || true
	wait || true
	# Final: iters, lat 50%, lat avg, lat overall, bw avg, bw overall, ...
	awk -v t="$test" '/^Final:/ { print (t == "tag_lat") ? $3 : $6; f = 1 }
		END { if (!f) print "failed" }' "$tmp/cli"
}

printf '%-8s %8s %12s %12s %12s %12s\n' test size softodp tcp posix sysv
for test in tag_lat tag_bw; do
	for size in 8 65536 1048576; do
		iters=1000
		[ "$size" = 1048576 ] && iters=50
		[ "$test" = tag_bw ] && [ "$size" = 8 ] && iters=20000
		line=$(printf '%-8s %8s' "$test" "$size")
		for tr in softodp tcp posix sysv; do
			line="$line $(printf '%12s' "$(one $tr $test $size $iters)")"
		done
		echo "$line"
	done
done
echo "(tag_lat: median latency in usec; tag_bw: average bandwidth in MB/s)"
