# Sourced by the tests that open soft devices: re-runs the test in a network
# namespace of its own with its loopback up, and gives it a scratch directory.
# shellcheck shell=sh
if [ -z "${SOFTODP_TEST_IN_NETNS:-}" ]; then
	SOFTODP_TEST_IN_NETNS=1 exec unshare --net -- "$0" "$@"
fi
ip link set lo up
tmp=${AUTOPKGTEST_TMP:-$(mktemp -d)}

# fail MESSAGE [FILE...]: print the message and the files, then exit 1.
fail() {
	echo "FAIL: $1"
	shift
	for f in "$@"; do
		echo "---- $f"
		cat "$f"
	done
	exit 1
}

# run_pair PORT TOOL ARGS...: TOOL ARGS as a server on device srxe0 at
# 127.0.0.1 and as its client on srxe0 at 127.0.0.2, through softodp-run,
# each bounded to 60 s. Output in $tmp/srv and $tmp/cli; fails unless both
# exit 0.
run_pair() {
	port=$1
	shift
	timeout 60 softodp-run -d srxe0=127.0.0.1 "$@" -p "$port" >"$tmp/srv" 2>&1 &
	srv=$!
	# The client connects once the server listens on its TCP port.
	i=0
	until ss -ltn | grep -q ":$port "; do
		i=$((i + 1))
		kill -0 "$srv" 2>/dev/null || fail "$1 server exited before it listened" "$tmp/srv"
		[ "$i" -le 200 ] || fail "$1 server never listened on port $port" "$tmp/srv"
		sleep 0.05
	done
	cli_rc=0
	timeout 60 softodp-run -d srxe0=127.0.0.2 "$@" -p "$port" 127.0.0.1 >"$tmp/cli" 2>&1 ||
		cli_rc=$?
	srv_rc=0
	wait "$srv" || srv_rc=$?
	if [ "$cli_rc" -ne 0 ] || [ "$srv_rc" -ne 0 ]; then
		fail "$1: client exit $cli_rc, server exit $srv_rc" "$tmp/srv" "$tmp/cli"
	fi
}
