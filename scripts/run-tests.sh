#!/usr/bin/env bash
# run-tests.sh [plain|asan|tsan|all|interop]: set up, build and run the test suite.
#   plain    the whole suite, -Wall -Wextra -Werror (the default; what CI runs)
#   asan     the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan     the whole suite under ThreadSanitizer (clang)
#   all      plain, asan and tsan in turn
#   interop  live interoperability with the kernel's rdma_rxe in a qemu guest
#            (root; boots ../shared/rxe-vm; a few minutes)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
kinds=${1:-plain}
[ "$kinds" = all ] && kinds="plain asan tsan"
for kind in $kinds; do
	if [ "$kind" = interop ]; then
		"$top/scripts/build.sh" plain
		cmake -S "$top" -B "$top/build" -DSOFTODP_INTEROP=ON >/dev/null
		echo "== softodp interop tests =="
		(cd "$top/build" && ctest -L interop --output-on-failure)
		cmake -S "$top" -B "$top/build" -DSOFTODP_INTEROP=OFF >/dev/null
		continue
	fi
	"$top/scripts/build.sh" "$kind"
	dir=$top/build
	[ "$kind" != plain ] && dir=$top/build-$kind
	echo "== softodp tests ($kind) =="
	(cd "$dir" && ctest --output-on-failure --timeout 1500 -j2)
done
