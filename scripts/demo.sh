#!/usr/bin/env bash
# demo.sh: set up, build, and run softodp's main job on this machine,
# printing a readable report.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
"$top/scripts/build.sh" plain >/dev/null
run=$top/build/examples/softodp-run

echo "== softodp $(cat "$top/CMakeLists.txt" | sed -n 's/^project(softodp VERSION \([0-9.]*\).*/\1/p') =="
echo
echo "-- devices offered to two processes on loopback (ibv_devices) --"
"$run" -d srxe0=127.0.0.1 ibv_devices
"$run" -d srxe0=127.0.0.2 ibv_devices | tail -n +3
echo
echo "-- port and GID of srxe0 (ibv_devinfo) --"
"$run" -d srxe0=127.0.0.1 ibv_devinfo | grep -E 'hca_id|transport|state|active_mtu|link_layer|GID'
