#!/usr/bin/env bash
# demo.sh: set up, build, and run softodp's main job: two processes on
# loopback, each with its own soft RoCE device (127.0.0.1 and 127.0.0.2), a
# client writing with RDMA WRITE into a server's on-demand-paged memory
# (explicit and implicit ODP, and a pinned MR for comparison) while the
# server unmaps, remaps, madvise()s and mprotect()s it, then a report with
# the integrity verdict (build/tools/softodp_demo; softodp_demo(1)).
# Arguments go to softodp_demo (e.g. -s 256 for 256 MiB per phase).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
echo "softodp demo: building (scripts/build.sh plain)..."
"$top/scripts/build.sh" plain >/dev/null
demo=$top/build/tools/softodp_demo

version=$(sed -n 's/^project(softodp VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
echo "== softodp $version: two processes on loopback, server srxe0=127.0.0.1, client srxe0=127.0.0.2 =="
# Each device binds UDP 4791 on its address. As root the demo runs in a
# network namespace of its own, so that other users of those ports on this
# host do not matter; otherwise on the host's loopback.
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
	exec unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$demo" "$@"
fi
exec "$demo" "$@"
