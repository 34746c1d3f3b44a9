#!/usr/bin/env bash
# fuzz.sh [SECONDS]: build the receive-path fuzzer (ASan+UBSan, libFuzzer)
# and run it for SECONDS (default 60) from the seed corpus in tests/fuzz.
# New inputs go to build-fuzz/fuzz-corpus, a crashing input to
# build-fuzz/fuzz-artifacts; the exit status is the fuzzer's (0: nothing
# found). As root it runs in a network namespace of its own, since the
# fuzzer's two devices bind UDP port 4791 on 127.0.0.1 and 127.0.0.2.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
"$top/scripts/setup.sh"
"$top/scripts/build.sh" fuzz
dir=$top/build-fuzz
mkdir -p "$dir/fuzz-corpus" "$dir/fuzz-artifacts"
cp -n "$top"/tests/fuzz/corpus/* "$dir/fuzz-corpus/"
run=()
ns=
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
	ns=sodp-fuzz-$$
	ip netns add "$ns"
	trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
	ip netns exec "$ns" ip link set lo up
	run=(ip netns exec "$ns")
fi
echo "== fuzzing the receive path for $secs s =="
set +e
"${run[@]}" "$dir/tests/fuzz/fuzz_rx" "$dir/fuzz-corpus" -max_total_time="$secs" \
	-max_len=4200 -print_final_stats=1 -artifact_prefix="$dir/fuzz-artifacts/" \
	>"$dir/fuzz.log" 2>&1
rc=$?
set -e
grep -E 'DONE|^stat::' "$dir/fuzz.log" || tail -40 "$dir/fuzz.log"
if [ $rc -ne 0 ]; then
	tail -60 "$dir/fuzz.log"
	echo "fuzz: FAILED (exit $rc); the input is in $dir/fuzz-artifacts" >&2
fi
exit $rc
