#!/usr/bin/env bash
# run-interop.sh: live interoperability test between softodp and the Linux
# kernel's rdma_rxe.
#
# Boots ../shared/rxe-vm's Debian guest (kernel rxe0 on 10.99.0.2, path MTU
# 1024 at netdev MTU 1500) inside netns rxevm, and runs unmodified Debian
# verbs binaries in pairs: one side under softodp-run on the host, inside the
# netns (SOFTODP_DEVICES=srxe0=10.99.0.1, GID index 0), the other on kernel
# rxe in the guest (GID index from gid_v4), in both directions:
#   ks  kernel server, softodp client
#   ss  softodp server, kernel client
# The host side of the tap is captured with dumpcap; every case's packets are
# cut out by time and their ICRC is recomputed by rxe-vm/roce-pcap-check.py.
#
# Usage: run-interop.sh [--build DIR] [--out DIR] [--cases REGEX]
#                       [--iters N] [--timeout S] [--deadline S]
#   --build DIR    softodp build tree with examples/softodp-run
#                  (default: build-interop, else build, beside this repo's top)
#   --out DIR      results: results.txt, logs, pcaps (default DIR/interop-run)
#   --cases REGEX  only the cases whose name matches (extended regex)
#   --iters N      iterations per case (default 20)
#   --timeout S    bound of one program run (default 60)
#   --deadline S   bound of the whole guest run (default 1800)
#   --strict-wire  count softodp's departures from kernel rxe's wire
#                  conventions (wire-check.py) as failures, not warnings
# Needs root (network namespaces), qemu-system-x86 and tshark (installed with
# apt-get when missing), ibverbs-utils and perftest.
# Exit status: 0 all passed, 1 some failed, 77 prerequisites missing.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/interop
rxevm=${RXE_VM_DIR:-$top/../shared/rxe-vm}
NS=rxevm
HOST_ADDR=10.99.0.1
GUEST_ADDR=10.99.0.2
MTU=1024

build=
out=
filter=
iters=20
tmo=60
deadline=1800
strict_wire=0

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--out) out=$2; shift ;;
	--cases) filter=$2; shift ;;
	--iters) iters=$2; shift ;;
	--timeout) tmo=$2; shift ;;
	--deadline) deadline=$2; shift ;;
	--strict-wire) strict_wire=1 ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
	*) echo "run-interop: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

say() { echo "interop: $*"; }
skip() { echo "interop: $*" >&2; echo "0 passed, 0 failed (not run: $*)"; exit 77; }

if [ -z "$build" ]; then
	for b in "$top/build-interop" "$top/build"; do
		[ -x "$b/examples/softodp-run" ] && { build=$b; break; }
	done
fi
run=${build:+$build/examples/softodp-run}
[ -n "$run" ] && [ -x "$run" ] ||
	skip "no softodp build (build/examples/softodp-run); build first or pass --build DIR"
build=$(cd "$build" && pwd)
run=$build/examples/softodp-run
out=${out:-$build/interop-run}

# --- prerequisites --------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace, tap devices); run it as root"
[ -d "$rxevm" ] || skip "rxe-vm not found at $rxevm (the shared tree beside the repo)"

need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
for t in dumpcap editcap tshark; do
	command -v $t >/dev/null || { need_pkgs+=(tshark); break; }
done
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v ibv_rc_pingpong >/dev/null || need_pkgs+=(ibverbs-utils)
command -v ib_write_bw >/dev/null || need_pkgs+=(perftest)
command -v ss >/dev/null || need_pkgs+=(iproute2)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	say "installing ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		debconf-set-selections 2>/dev/null
	{ timeout 300 apt-get update -qq &&
		timeout 900 apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"; } \
		>/dev/null || skip "apt-get install ${need_pkgs[*]} failed"
fi

# Another rxe-vm run owns the namespace: run-guest.sh would delete it under
# that run, so wait for it to end instead.
for ((i = 0; i < 300; i++)); do
	ip netns list | grep -qw "^$NS" || break
	[ $i -eq 0 ] && say "netns $NS exists (another rxe-vm run?); waiting up to 300 s"
	sleep 1
done
ip netns list | grep -qw "^$NS" && skip "netns $NS is in use by another run"

rm -rf "$out"
mkdir -p "$out/share" "$out/cases"
share=$out/share
say "results in $out"

# --- cleanup: nothing survives this script --------------------------------------
bg_pids=()
guest_pid=
# The tree of processes below PID (timeout(1) moves its child into a process
# group of its own, so a process group kill would miss qemu).
tree_of() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do tree_of "$c"; done
	echo "$1"
}
kill_tree() {
	local p pids
	pids=$(tree_of "$1")
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
}
cleanup() {
	set +e
	[ -d "$share" ] && : > "$share/host.done"
	for p in "${bg_pids[@]}"; do kill_tree "$p"; done
	if [ -n "$guest_pid" ] && kill -0 "$guest_pid" 2>/dev/null; then
		kill_tree "$guest_pid"
		for ((i = 0; i < 100; i++)); do kill -0 "$guest_pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$guest_pid" 2>/dev/null && for p in $(tree_of "$guest_pid"); do kill -KILL "$p"; done
	fi
	wait 2>/dev/null
	# run-guest.sh deletes the namespace itself; this covers it being killed
	if [ "$netns_ours" = 1 ] && ip netns list | grep -qw "^$NS"; then ip netns del "$NS"; fi
}
netns_ours=0
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the guest --------------------------------------------------------------------
say "build-guest.sh (cached under ${RXE_VM_CACHE:-/var/cache/rxe-vm})"
timeout 900 "$rxevm/build-guest.sh" > "$out/build-guest.log" 2>&1 ||
	{ tail -20 "$out/build-guest.log" >&2; skip "build-guest.sh failed (see $out/build-guest.log)"; }

# The case table: NAME TOOL ARGS (both sides run the same arguments; -d, the
# GID index and -p are added per side).
bw="-F -m $MTU -n $iters"
{
	for s in 1 61 4096 65536; do echo "rc_pingpong_s$s ibv_rc_pingpong -c -m $MTU -n $iters -s $s"; done
	for s in 1 61 1024; do echo "ud_pingpong_s$s ibv_ud_pingpong -c -n $iters -s $s"; done
	for s in 1 61 4096 65536; do echo "srq_pingpong_s$s ibv_srq_pingpong -c -m $MTU -q 4 -n $iters -s $s"; done
	for t in write read send; do
		for s in 1 61 4096 65536; do echo "${t}_bw_s$s ib_${t}_bw $bw -s $s"; done
	done
	echo "atomic_fa ib_atomic_bw $bw -A FETCH_AND_ADD"
	echo "atomic_cs ib_atomic_bw $bw -A CMP_AND_SWAP"
	for s in 1 61 4096 65536; do echo "write_lat_s$s ib_write_lat $bw -s $s"; done
} | { if [ -n "$filter" ]; then grep -E "^[^ ]*($filter)[^ ]* "; else cat; fi; } > "$out/case-table.txt"
[ -s "$out/case-table.txt" ] || skip "no case matches '$filter'"

# cases.txt for the guest: INDEX ROLE PORT SECONDS TOOL ARGS
idx=0
: > "$share/cases.txt"
: > "$out/cases.txt"
while read -r name tool args; do
	for role in ks ss; do
		idx=$((idx + 1))
		echo "$idx $role $((18700 + idx)) $tmo $tool $args" >> "$share/cases.txt"
		echo "$idx $role $name" >> "$out/cases.txt"
	done
done < "$out/case-table.txt"
ncases=$idx
cp "$here/guest-run.sh" "$share/run.sh"

say "booting the guest ($ncases runs; deadline ${deadline}s)"
netns_ours=1
"$rxevm/run-guest.sh" --test share --share "$share" --nics 1 --quiet \
	--out "$out/guest" --capture "$out/host.pcapng" --timeout "$deadline" \
	> "$out/run-guest.log" 2>&1 &
guest_pid=$!
t_end=$(($(date +%s) + deadline))

# wait_file FILE SECONDS: 0 once FILE exists; gives up early if the guest ends
wait_file() {
	local n=$(($2 * 10)) i=0
	while [ ! -e "$1" ]; do
		kill -0 "$guest_pid" 2>/dev/null || return 1
		[ $i -ge $n ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

wait_file "$share/guest.up" 180 || {
	cat "$out/run-guest.log" >&2
	tail -30 "$out/guest/serial.log" >&2 2>/dev/null
	echo "interop: the guest did not come up"
	echo "0 passed, $ncases failed"
	exit 1
}
G=$(cat "$share/guest.gid")
say "guest up: rxe0 GID index $G; softodp srxe0=$HOST_ADDR GID index 0"
ip netns exec "$NS" env SOFTODP_DEVICES=srxe0=$HOST_ADDR "$run" ibv_devinfo -v \
	> "$out/softodp-devinfo.txt" 2>&1

host_cmd() { # TOOL ARGS... (run inside the netns under softodp-run)
	ip netns exec "$NS" env SOFTODP_DEVICES=srxe0=$HOST_ADDR timeout "$tmo" "$run" "$@" < /dev/null
}

listening() { # PORT
	ip netns exec "$NS" ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# numbers CLIENT_LOG: the figures the tool printed, on one line
numbers() {
	awk '
	/bytes in .* seconds =/ { bw = $(NF - 1) " Mbit/s" }
	/iters in .* seconds =/ { lat = $(NF - 1) " us/iter" }
	/^ *#bytes/ { hdr = $0; next }
	hdr != "" && $1 ~ /^[0-9]+$/ && NF >= 5 {
		if (hdr ~ /BW average/) bwp = "BW avg " $4 " MB/s, " $5 " Mpps"
		else if (hdr ~ /t_typical/) bwp = "t_typical " $5 " us, t_avg " $6 " us"
		hdr = ""
	}
	END {
		s = bwp
		if (bw != "") s = bw ", " lat
		print s
	}' "$1" 2>/dev/null
}

declare -A t0 t1 rcs rcg
pass=0
fail=0
: > "$out/results.txt"
while read -r idx role port secs tool args <&3; do
	name=$(awk -v i="$idx" '$1 == i { print $3 }' "$out/cases.txt")
	label="$name/$role"
	hlog=$out/cases/$idx.host.log
	glog=$share/$idx.guest.log
	t0[$idx]=$(date +%s.%N)
	gidopt=-x
	case $tool in ibv_*) gidopt=-g ;; esac
	hrc=
	note=
	if [ "$(date +%s)" -ge "$t_end" ] || ! kill -0 "$guest_pid" 2>/dev/null; then
		hrc=124
		note="not run: guest ended or deadline"
	elif [ "$role" = ks ]; then
		# kernel server in the guest, softodp client on the host
		if wait_file "$share/$idx.ready" 30; then
			host_cmd "$tool" -d srxe0 $gidopt 0 $args -p "$port" "$GUEST_ADDR" > "$hlog" 2>&1
			hrc=$?
		else
			hrc=125
			note="kernel server did not listen"
		fi
	else
		# softodp server on the host, kernel client in the guest
		host_cmd "$tool" -d srxe0 $gidopt 0 $args -p "$port" > "$hlog" 2>&1 &
		spid=$!
		bg_pids=("$spid")
		for ((i = 0; i < 100; i++)); do
			listening "$port" && break
			kill -0 "$spid" 2>/dev/null || break
			sleep 0.1
		done
		if listening "$port"; then : > "$share/$idx.go"; else note="softodp server did not listen"; fi
		wait "$spid"
		hrc=$?
		bg_pids=()
	fi
	if [ -n "$note" ] && [ "$hrc" != 0 ]; then : > "$share/$idx.go"; fi
	grc=
	if wait_file "$share/$idx.rc" $((secs + 15)); then grc=$(cat "$share/$idx.rc"); else grc=timeout; fi
	t1[$idx]=$(date +%s.%N)
	cp "$glog" "$out/cases/$idx.guest.log" 2>/dev/null
	if [ "$role" = ks ]; then clog=$hlog; else clog=$out/cases/$idx.guest.log; fi
	nums=$(numbers "$clog")
	if [ "$hrc" = 0 ] && [ "$grc" = 0 ]; then
		pass=$((pass + 1))
		line="PASS $label  softodp rc=$hrc kernel rc=$grc  $nums"
	else
		fail=$((fail + 1))
		line="FAIL $label  softodp rc=$hrc kernel rc=$grc${note:+ ($note)}"
	fi
	echo "$line" | tee -a "$out/results.txt"
	printf '%s %s %s %s %s %s\n' "$idx" "$role" "$name" "${t0[$idx]}" "${t1[$idx]}" \
		"${line%% *}" >> "$out/case-times.txt"
done 3< "$share/cases.txt"

: > "$share/host.done"
say "waiting for the guest to power off"
for ((i = 0; i < 600; i++)); do kill -0 "$guest_pid" 2>/dev/null || break; sleep 0.1; done
wait "$guest_pid" 2>/dev/null
guest_pid=
netns_ours=0
cp "$out/guest/serial.log" "$out/serial.log" 2>/dev/null

# --- the capture: per-case pcaps and the ICRC of every packet -------------------
icrc_line="ICRC: no capture"
if [ -s "$out/host.pcapng" ] &&
	timeout 120 editcap -F pcap "$out/host.pcapng" "$out/host.pcap" 2>/dev/null; then
	: > "$out/icrc-bad.txt"
	while read -r idx role name a b verdict <&3; do
		p=$out/cases/$idx-$name-$role
		timeout 120 tshark -r "$out/host.pcap" -F pcap -w "$p.pcap" \
			-Y "udp.dstport == 4791 && frame.time_epoch >= $a && frame.time_epoch <= $b" \
			2>/dev/null
		timeout 120 python3 "$rxevm/roce-pcap-check.py" -v "$p.pcap" > "$p.txt" 2>&1
		grep -E 'BAD' "$p.txt" | sed "s|^|$name/$role: |" >> "$out/icrc-bad.txt"
	done 3< "$out/case-times.txt"
	# every RoCE packet of the run, by sender
	timeout 120 tshark -r "$out/host.pcap" -F pcap -w "$out/roce.pcap" -Y "udp.dstport == 4791" 2>/dev/null
	timeout 300 python3 "$rxevm/roce-pcap-check.py" -v "$out/roce.pcap" > "$out/roce.txt" 2>&1
	icrc_line=$(awk -v h="$HOST_ADDR" '
		/^  #[0-9]+ / {
			split($2, ad, "->")
			who = (ad[1] == h) ? "softodp" : "kernel"
			if ($0 ~ /icrc=ok/) good[who]++; else bad[who]++
		}
		END {
			printf "ICRC: softodp packets %d good, %d bad; kernel packets %d good, %d bad",
				good["softodp"], bad["softodp"], good["kernel"], bad["kernel"]
		}' "$out/roce.txt")
fi
echo "interop: $icrc_line" | tee -a "$out/results.txt"

# Conventions of kernel rxe's wire format that interop does not depend on
# (UDP source port, ACK per AckReq, ...): reported, failures only with
# --strict-wire.
if ls "$out"/cases/*.pcap >/dev/null 2>&1; then
	timeout 300 python3 "$here/wire-check.py" --self "$HOST_ADDR" --mtu "$MTU" \
		$(ls -v "$out"/cases/*.pcap) > "$out/wire-check.txt" 2>&1
	while read -r verdict check who okn _ devn _; do
		[ "$who" = "$HOST_ADDR" ] && [ "$verdict" = DEV ] || continue
		if [ "$strict_wire" = 1 ]; then
			echo "FAIL wire:$check  $devn softodp packets differ from kernel rxe's convention"
		else
			echo "WARN wire:$check  $devn softodp packets differ from kernel rxe's convention"
		fi
	done < "$out/wire-check.txt" | tee -a "$out/results.txt"
	[ "$strict_wire" = 1 ] && fail=$((fail + $(grep -c '^FAIL wire:' "$out/results.txt")))
	say "wire conventions: $out/wire-check.txt"
fi
if grep -q 'softodp packets [0-9]* good, [1-9]' <<< "$icrc_line"; then
	fail=$((fail + 1))
	echo "FAIL icrc  softodp packets with a bad ICRC:" | tee -a "$out/results.txt"
	grep "#[0-9]* $HOST_ADDR->" "$out/roce.txt" | grep BAD | head -20 | tee -a "$out/results.txt"
elif grep -q 'softodp packets [1-9]' <<< "$icrc_line"; then
	pass=$((pass + 1))
	echo "PASS icrc  every softodp packet has a good ICRC" | tee -a "$out/results.txt"
fi
echo "$pass passed, $fail failed" | tee -a "$out/results.txt"
[ "$fail" -eq 0 ]
