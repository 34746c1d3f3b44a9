#!/usr/bin/env bash
# build.sh [plain|asan|tsan]: configure and build softodp into build[-asan|-tsan].
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-plain}
case "$kind" in
plain) dir=$top/build; san= ;;
asan) dir=$top/build-asan; san=address ;;
tsan) dir=$top/build-tsan; san=thread ;;
*) echo "usage: $0 [plain|asan|tsan]" >&2; exit 2 ;;
esac
cc=${CC:-cc}
# TSan needs clang's runtime on bookworm's kernel address layout.
[ "$kind" = tsan ] && cc=${CC:-clang}
cmake -S "$top" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DSOFTODP_WERROR=ON \
	-DSOFTODP_SANITIZE="$san" >/dev/null
cmake --build "$dir" -j"$(nproc)"
