#!/usr/bin/env bash
# Installs what building and testing softodp needs on Debian bookworm.
# As root it uses apt-get; otherwise it names the missing packages and stops.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libibverbs-dev ibverbs-utils perftest
      libcunit1-dev iproute2 tshark clang libclang-rt-14-dev man-db gnuplot-nox)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "softodp setup: missing Debian packages: ${missing[*]}" >&2
	echo "softodp setup: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
