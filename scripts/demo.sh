#!/usr/bin/env bash
# demo.sh: set up, build, and run softodp's main job on this machine: two
# processes on loopback, each with its own soft RoCE device, moving data with
# unmodified rdma-core and perftest binaries, and a readable report.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
"$top/scripts/build.sh" plain >/dev/null
run=$top/build/examples/softodp-run
srv_dev=srxe0=127.0.0.1
cli_dev=srxe0=127.0.0.2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

version=$(sed -n 's/^project(softodp VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
echo "== softodp $version: two processes on loopback =="
echo "   server device $srv_dev, client device $cli_dev"
echo

echo "-- devices (ibv_devinfo) --"
"$run" -d "$srv_dev" ibv_devinfo -v | grep -E 'hca_id|transport|state:|active_mtu|link_layer|GID'
echo

# Runs "$@" as a server on $srv_dev and again as its client on $cli_dev,
# bounded in time; the client's output is left in $tmp/cli.
pair() {
	local port=$1
	shift
	timeout 60 "$run" -d "$srv_dev" "$@" -p "$port" >"$tmp/srv" 2>&1 &
	local srv=$!
	for _ in $(seq 1 100); do
		ss -ltn | grep -q ":$port " && break
		sleep 0.05
	done
	local rc=0
	timeout 60 "$run" -d "$cli_dev" "$@" -p "$port" 127.0.0.1 >"$tmp/cli" 2>&1 || rc=$?
	wait "$srv" || rc=$?
	return $rc
}

status=0
echo "-- RC SEND/RECV ping-pong, 1000 x 4 KiB, data validated (ibv_rc_pingpong -c) --"
if pair 18601 ibv_rc_pingpong -g 0 -c -n 1000; then
	grep -E 'bytes in|iters in' "$tmp/cli"
else
	echo "FAILED:"; cat "$tmp/cli" "$tmp/srv"; status=1
fi
echo
echo "-- RDMA WRITE bandwidth, 64 KiB messages (ib_write_bw -s 65536) --"
if pair 18602 ib_write_bw -F -s 65536; then
	awk '/#bytes/ { hdr = 1; print; next } hdr && NF >= 5 { print; hdr = 0 }' "$tmp/cli"
else
	echo "FAILED:"; cat "$tmp/cli" "$tmp/srv"; status=1
fi
echo
echo "-- RDMA WRITE latency, 2-byte messages (ib_write_lat) --"
if pair 18603 ib_write_lat -F; then
	awk '/#bytes/ { hdr = 1; print; next } hdr && NF >= 5 { print; hdr = 0 }' "$tmp/cli"
else
	echo "FAILED:"; cat "$tmp/cli" "$tmp/srv"; status=1
fi
echo
[ $status -eq 0 ] && echo "softodp: all transfers completed" || echo "softodp: some transfers FAILED"
exit $status
