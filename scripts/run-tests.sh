#!/usr/bin/env bash
# run-tests.sh [plain|asan|tsan|all]: set up, build and run the whole test suite.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
kinds=${1:-plain}
[ "$kinds" = all ] && kinds="plain asan tsan"
for kind in $kinds; do
	"$top/scripts/build.sh" "$kind"
	dir=$top/build
	[ "$kind" != plain ] && dir=$top/build-$kind
	echo "== softodp tests ($kind) =="
	(cd "$dir" && ctest --output-on-failure --timeout 600 -j2)
done
