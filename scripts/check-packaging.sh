#!/usr/bin/env bash
# check-packaging.sh: the Debian packages, checked as a user would get them.
#
#   1. dpkg-buildpackage -us -uc -b in a clean copy of the tree (only what git
#      tracks, plus new files it does not ignore): the package build runs the
#      test suite (debian/run-build-tests) and checks the symbols file;
#   2. lintian on the binary packages and on the source package: any error
#      fails, and so does any warning that no override covers; every override
#      must follow a comment that says why;
#   3. a fresh Debian bookworm root (mmdebstrap, about a minute): the packages
#      are installed there with `apt-get install ./*.deb`, which may pull
#      nothing but Debian packages, and the autopkgtest tests
#      (debian/tests/control) run there against the installed files, given
#      only debian/ and the test program's source, never the build tree.
#
# Root on Debian bookworm: installs what it needs with apt-get. Work happens
# under one temporary directory, removed at the end; the root's /proc, /sys
# and /dev/shm are mounted in a mount namespace of the check's own, so they
# go away with it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "check-packaging: needs root (apt-get, mmdebstrap, chroot)" >&2
	exit 1
fi

say() { printf '\n== %s ==\n' "$*"; }

work=$(mktemp -d /tmp/softodp-packaging.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT

# A copy of the tree as a clone of it would be, without build directories.
copy_tree() {
	mkdir -p "$1"
	git -C "$top" ls-files -z --cached --others --exclude-standard |
		(cd "$top" && tar --null -T - --ignore-failed-read -cf -) | tar -xf - -C "$1"
}

say "tools"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends autopkgtest build-essential debhelper \
	dpkg-dev git lintian mmdebstrap >/dev/null
copy_tree "$work/build/softodp"
apt-get build-dep -y -qq "$work/build/softodp" >/dev/null

say "dpkg-buildpackage -us -uc -b"
(cd "$work/build/softodp" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || {
	tail -n 200 "$work/build.log"
	echo "check-packaging: the package build failed" >&2
	exit 1
}
grep -E '^(dpkg-gensymbols|dpkg-shlibdeps): (warning|error)|tests passed|tests failed|skipping the tests' \
	"$work/build.log" || true
debs=()
for p in $(sed -n 's/^Package: //p' "$top/debian/control"); do
	debs+=("$(echo "$work"/build/"${p}"_*.deb)")
done

say "lintian"
copy_tree "$work/source/softodp"
(cd "$work/source" && dpkg-source -b softodp >/dev/null)
# Each override needs the comment above it that says why it is right.
for f in "$top"/debian/*.lintian-overrides "$top"/debian/source/lintian-overrides; do
	[ -f "$f" ] || continue
	awk -v f="${f#"$top"/}" '
		/^[[:space:]]*$/ { prev = ""; next }
		/^#/ { prev = "#"; next }
		prev != "#" { printf "check-packaging: %s:%d: override without a comment\n", f, NR; bad = 1 }
		{ prev = "o" }
		END { exit bad }' "$f"
done
lint_rc=0
lintian --display-info --pedantic --show-overrides --fail-on error,warning \
	"$work"/build/softodp_*.changes "$work"/source/softodp_*.dsc >"$work/lintian.txt" 2>&1 ||
	lint_rc=$?
grep -v '^running with root privileges' "$work/lintian.txt" || echo "(lintian: no tags)"
if [ "$lint_rc" -ne 0 ]; then
	echo "check-packaging: lintian found errors or un-overridden warnings" >&2
	exit 1
fi

say "package contents"
for deb in "${debs[@]}"; do
	echo "$(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"
	dpkg -c "$deb" | awk '{ $1 = $2 = $4 = $5 = ""; sub(/^ +/, ""); print "  " $0 }' |
		grep -v '/$'
done

say "a fresh bookworm root"
root=$work/root
mirror=/etc/apt/sources.list.d/debian.sources
[ -f "$mirror" ] || mirror="deb http://deb.debian.org/debian bookworm main"
mmdebstrap --quiet --variant=apt bookworm "$root" "$mirror"
mkdir -p "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"
copy_tree "$work/tests/softodp"
# autopkgtest gets the packaging and the test program's source, no more.
find "$work/tests/softodp" -mindepth 1 -maxdepth 1 ! -name debian ! -name tests -exec rm -rf {} +
find "$work/tests/softodp/tests" -mindepth 1 -maxdepth 1 ! -name compat -exec rm -rf {} +

# In a mount namespace of its own: proc, a read-only sysfs and a /dev/shm for
# the root, then apt-get and autopkgtest's chroot testbed.
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --mount --propagation private -- bash -c '
	set -euo pipefail
	root=$1 work=$2
	mount -t proc proc "$root/proc"
	mount -t sysfs -o ro sysfs "$root/sys"
	mount -t tmpfs tmpfs "$root/dev/shm"
	echo "== apt-get install ./*.deb =="
	chroot "$root" sh -c "apt-get update -qq && cd /tmp/debs &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y ./*.deb" \
		>"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
	sed -n "/NEW packages will be installed/,/upgraded/p" "$work/install.log"
	echo "== autopkgtest =="
	autopkgtest --output-dir "$work/autopkgtest" "$root"/tmp/debs/*.deb \
		"$work/tests/softodp/" -- chroot "$root" >"$work/autopkgtest.log" 2>&1
' sh "$root" "$work" || {
	[ -f "$work/autopkgtest.log" ] && tail -n 150 "$work/autopkgtest.log"
	echo "check-packaging: installing or testing the packages failed" >&2
	[ -f "$work/autopkgtest/summary" ] && cat "$work/autopkgtest/summary"
	exit 1
}
for out in "$work"/autopkgtest/*-stdout; do
	[ -s "$out" ] || continue
	echo "-- $(basename "$out" -stdout):"
	sed 's/^/   /' "$out"
done

say "autopkgtest summary"
cat "$work/autopkgtest/summary"
pass=$(grep -c ' PASS' "$work/autopkgtest/summary" || true)
fail=$(grep -vc ' PASS' "$work/autopkgtest/summary" || true)
echo "autopkgtest: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
