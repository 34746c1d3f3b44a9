#!/usr/bin/env bash
# build.sh [plain|asan|tsan|fuzz]: configure and build softodp into
# build[-asan|-tsan|-fuzz]. fuzz is ASan+UBSan with libFuzzer (clang).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-plain}
case "$kind" in
plain) dir=$top/build; san= ;;
asan) dir=$top/build-asan; san=address ;;
tsan) dir=$top/build-tsan; san=thread ;;
fuzz) dir=$top/build-fuzz; san=address ;;
*) echo "usage: $0 [plain|asan|tsan|fuzz]" >&2; exit 2 ;;
esac
cc=${CC:-cc}
# TSan needs clang's runtime on bookworm's kernel address layout.
# libFuzzer is clang's.
[ "$kind" = tsan ] || [ "$kind" = fuzz ] && cc=${CC:-clang}
fuzz=OFF
[ "$kind" = fuzz ] && fuzz=ON
cmake -S "$top" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DSOFTODP_WERROR=ON \
	-DSOFTODP_SANITIZE="$san" -DSOFTODP_FUZZ=$fuzz >/dev/null
cmake --build "$dir" -j"$(nproc)"
