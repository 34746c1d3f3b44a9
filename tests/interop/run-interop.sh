#!/usr/bin/env bash
# run-interop.sh: live interoperability test between softodp and the Linux
# kernel's rdma_rxe.
#
# Boots ../shared/rxe-vm's Debian guest (kernel rxe0 on 10.99.0.2, netdev
# MTU 4200 for path MTUs 1024 and 4096) inside netns rxevm, and runs unmodified Debian
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
#                  conventions (wire-check.py) as failures, not warnings;
#                  the departures the IBA allows (ACK coalescing, ...) are
#                  listed by name with their clause either way
#   --loss D,U,R   the loss cases' impairment, percent of RoCE packets in each
#                  direction dropped, duplicated and reordered (default 3,2,2;
#                  impair.bpf.c on the namespace's tap and bridge)
# Needs root (network namespaces), qemu-system-x86 and tshark (installed with
# apt-get when missing), ibverbs-utils and perftest, and ../shared/rxe-vm
# (RXE_VM_DIR; found beside this tree or beside the repository it was cloned
# from).
# Exit status: 0 all passed; 1 some failed, or a prerequisite that this
# machine could have is missing; 77 skipped, only where the test cannot run
# here at all: no root, no network namespaces or tap devices, or qemu /
# tshark neither installed nor installable. A skip prints
# "interop: SKIPPED: REASON" and is not a pass.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/interop
# rxe-vm: RXE_VM_DIR, else beside this tree, else beside the repository this
# clone came from (a CI clone elsewhere of a repository kept beside it).
rxevm=${RXE_VM_DIR:-}
if [ -z "$rxevm" ]; then
	rxevm=$top/../shared/rxe-vm
	origin=$(git -C "$top" remote get-url origin 2>/dev/null) || origin=
	if [ ! -d "$rxevm" ] && [ -d "$origin" ] && [ -d "$origin/../shared/rxe-vm" ]; then
		rxevm=$origin/../shared/rxe-vm
	fi
fi
NS=rxevm
HOST_ADDR=10.99.0.1
GUEST_ADDR=10.99.0.2
# guest netdev MTU: room for path MTU 4096 (the bridge and tap take 9000)
GUEST_MTU=4200

build=
out=
filter=
iters=20
tmo=60
deadline=1800
strict_wire=0
loss=3,2,2

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--out) out=$2; shift ;;
	--cases) filter=$2; shift ;;
	--iters) iters=$2; shift ;;
	--timeout) tmo=$2; shift ;;
	--deadline) deadline=$2; shift ;;
	--strict-wire) strict_wire=1 ;;
	--loss) loss=$2; shift ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
	*) echo "run-interop: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

say() { echo "interop: $*"; }
# skip: the test cannot run on this machine (exit 77, not a pass)
skip() { echo "interop: SKIPPED: $*" >&2; echo "0 passed, 0 failed (not run: $*)"; exit 77; }
# fail: the test could run here but something it needs is broken (exit 1)
fail() { echo "interop: FAIL: $*" >&2; echo "0 passed, 1 failed (not run: $*)"; exit 1; }

if [ -z "$build" ]; then
	for b in "$top/build-interop" "$top/build"; do
		[ -x "$b/examples/softodp-run" ] && { build=$b; break; }
	done
fi
run=${build:+$build/examples/softodp-run}
[ -n "$run" ] && [ -x "$run" ] ||
	fail "no softodp build (build/examples/softodp-run); build first or pass --build DIR"
build=$(cd "$build" && pwd)
run=$build/examples/softodp-run
out=${out:-$build/interop-run}

# --- prerequisites --------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace, tap devices); run it as root"
[ -d "$rxevm" ] || fail "rxe-vm not found at $rxevm (set RXE_VM_DIR to ../shared/rxe-vm)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun: qemu's tap networking is impossible here"
probe=rxevm-probe-$$
ip netns add "$probe" 2>/dev/null || skip "cannot create a network namespace (ip netns add)"
ip netns exec "$probe" ip tuntap add dev probetap mode tap 2>/dev/null ||
	{ ip netns del "$probe"; skip "cannot create a tap device in a network namespace"; }
ip netns del "$probe"

need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
for t in dumpcap editcap tshark; do
	command -v $t >/dev/null || { need_pkgs+=(tshark); break; }
done
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v ibv_rc_pingpong >/dev/null || need_pkgs+=(ibverbs-utils)
command -v ib_write_bw >/dev/null || need_pkgs+=(perftest)
command -v ss >/dev/null || need_pkgs+=(iproute2)
# the loss cases' tc program: clang -target bpf, libbpf's headers, bpftool
command -v clang >/dev/null || need_pkgs+=(clang llvm)
[ -e /usr/include/bpf/bpf_helpers.h ] || need_pkgs+=(libbpf-dev)
command -v bpftool >/dev/null || need_pkgs+=(bpftool)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	say "installing ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		debconf-set-selections 2>/dev/null
	{ timeout 300 apt-get update -qq &&
		timeout 900 apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"; } \
		>/dev/null || true
fi
command -v qemu-system-x86_64 >/dev/null ||
	skip "qemu-system-x86 is not installed and apt-get could not install it"
command -v dumpcap >/dev/null && command -v editcap >/dev/null && command -v tshark >/dev/null ||
	skip "tshark is not installed and apt-get could not install it"
for t in python3 ibv_rc_pingpong ib_write_bw ss clang bpftool; do
	command -v $t >/dev/null || fail "$t missing and apt-get could not install it"
done

# Another rxe-vm run owns the namespace: run-guest.sh would delete it under
# that run, so wait for it to end instead.
for ((i = 0; i < 300; i++)); do
	ip netns list 2>/dev/null | grep -qw "^$NS" || break
	[ $i -eq 0 ] && say "netns $NS exists (another rxe-vm run?); waiting up to 300 s"
	sleep 1
done
ip netns list 2>/dev/null | grep -qw "^$NS" && fail "netns $NS is in use by another run"

rm -rf "$out"
mkdir -p "$out/share" "$out/cases"
share=$out/share
say "results in $out"

# --- cleanup: nothing survives this script --------------------------------------
bg_pids=()
guest_pid=
cap_pid=
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
	[ -n "$cap_pid" ] && kill -TERM "$cap_pid" 2>/dev/null
	if [ -n "$guest_pid" ] && kill -0 "$guest_pid" 2>/dev/null; then
		kill_tree "$guest_pid"
		for ((i = 0; i < 100; i++)); do kill -0 "$guest_pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$guest_pid" 2>/dev/null && for p in $(tree_of "$guest_pid"); do kill -KILL "$p"; done
	fi
	wait 2>/dev/null
	# run-guest.sh deletes the namespace itself; this covers it being killed
	if [ "$netns_ours" = 1 ] && ip netns list 2>/dev/null | grep -qw "^$NS"; then ip netns del "$NS"; fi
}
netns_ours=0
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the guest --------------------------------------------------------------------
say "build-guest.sh (cached under ${RXE_VM_CACHE:-/var/cache/rxe-vm})"
timeout 900 "$rxevm/build-guest.sh" > "$out/build-guest.log" 2>&1 ||
	{ tail -20 "$out/build-guest.log" >&2; fail "build-guest.sh failed (see $out/build-guest.log)"; }

# The case table, one line per case: NAME|TOOL|ARGS|HOST ARGS|PATH MTU.
# Both sides run TOOL ARGS (-d, the GID index and -p are added per side);
# HOST ARGS go to softodp's side only: its ODP flags, since the 6.1 kernel's
# rxe has no ODP and keeps pinned memory. PATH MTU is what the tool asks for
# (-m), or for UD the ports' active MTU; wire-check.py holds the packets to it.
# Iterations are what the time budget trims (--iters); every case stays.
n=$iters
nbig=$(((iters + 4) / 5))
[ $nbig -lt 5 ] && nbig=5 # perftest's least
big=4194304 # several MiB: thousands of packets per message
{
	for m in 1024 4096; do
		sizes="1 61 $((m - 1)) 4096 65536"
		[ $m = 4096 ] && sizes="1 $((m - 1)) 65536"
		sfx=; [ $m = 4096 ] && sfx=_m4096
		for s in $sizes; do
			echo "rc_pingpong${sfx}_s$s|ibv_rc_pingpong|-c -m $m -n $n -s $s||$m"
		done
		for t in write read send; do
			for s in $sizes; do echo "${t}_bw${sfx}_s$s|ib_${t}_bw|-F -m $m -n $n -s $s||$m"; done
		done
	done
	# UD takes the active MTU of both ports: 4096 at the guest's netdev MTU
	for s in 1 61 1024 4096; do echo "ud_pingpong_s$s|ibv_ud_pingpong|-c -n $n -s $s||4096"; done
	for s in 1 61 4096 65536; do
		echo "srq_pingpong_s$s|ibv_srq_pingpong|-c -m 1024 -q 4 -n $n -s $s||1024"
	done
	echo "atomic_fa|ib_atomic_bw|-F -m 1024 -n $n -A FETCH_AND_ADD||1024"
	echo "atomic_cs|ib_atomic_bw|-F -m 1024 -n $n -A CMP_AND_SWAP||1024"
	for s in 1 61 4096 65536; do echo "write_lat_s$s|ib_write_lat|-F -m 1024 -n $n -s $s||1024"; done
	# several MiB per message
	# (READ with one outstanding request: perftest's default, the device's
	# maximum, asks for every iteration's 4 MiB at once)
	echo "rc_pingpong_s4m|ibv_rc_pingpong|-c -m 1024 -n $nbig -s $big||1024"
	for t in write send; do echo "${t}_bw_s4m|ib_${t}_bw|-F -m 1024 -n $nbig -s $big||1024"; done
	echo "read_bw_s4m|ib_read_bw|-F -m 1024 -n $nbig -s $big --outs 1||1024"
	# softodp's memory on demand (explicit -o, implicit -O, prefetched -P).
	# Atomics on ODP memory run softodp_perf on both sides (the guest's is
	# built against rdma-core's libibverbs): perftest refuses --odp with
	# atomics ("ODP does not support ATOMICS for now"). --check verifies the
	# final count of every target word.
	for a in FETCH_AND_ADD CMP_AND_SWAP; do
		echo "atomic_odp_$a|softodp_perf|-t atomic_bw -A $a -m 1024 -n $n --check|--odp|1024"
	done
	for s in 4096 65536; do
		echo "rc_pingpong_odp_s$s|ibv_rc_pingpong|-c -m 1024 -n $n -s $s|-o|1024"
		echo "rc_pingpong_iodp_s$s|ibv_rc_pingpong|-c -m 1024 -n $n -s $s|-O|1024"
	done
	echo "rc_pingpong_odp_prefetch_s65536|ibv_rc_pingpong|-c -m 1024 -n $n -s 65536|-o -P|1024"
	echo "rc_pingpong_iodp_prefetch_s65536|ibv_rc_pingpong|-c -m 1024 -n $n -s 65536|-O -P|1024"
	echo "rc_pingpong_odp_m4096_s65536|ibv_rc_pingpong|-c -m 4096 -n $n -s 65536|-o|4096"
	for t in write read send; do
		echo "${t}_bw_odp_s65536|ib_${t}_bw|-F -m 1024 -n $n -s 65536|--odp|1024"
	done
	# READ of a cold ODP buffer: in the ss run the kernel reads 4 MiB that
	# softodp has never touched for the NIC (RNR NAKs or faults in line)
	echo "read_bw_odp_cold_s4m|ib_read_bw|-F -m 1024 -n $nbig -s $big --outs 1|--odp|1024"
	echo "write_lat_odp_s4096|ib_write_lat|-F -m 1024 -n $n -s 4096|--odp|1024"
	# RC under loss, duplication and reordering in both directions (last:
	# the impairment is attached before the first of them); -c validates
	echo "loss_rc_pingpong_s65536|ibv_rc_pingpong|-c -m 1024 -n $n -s 65536||1024|loss"
	echo "loss_rc_pingpong_m4096_s65536|ibv_rc_pingpong|-c -m 4096 -n $n -s 65536||4096|loss"
	echo "loss_rc_pingpong_odp_s65536|ibv_rc_pingpong|-c -m 1024 -n $n -s 65536|-o|1024|loss"
	echo "loss_srq_pingpong_s65536|ibv_srq_pingpong|-c -m 1024 -q 4 -n $n -s 65536||1024|loss"
	for t in write read send; do
		echo "loss_${t}_bw_s65536|ib_${t}_bw|-F -m 1024 -n $n -s 65536||1024|loss"
	done
	echo "loss_atomic_fa|ib_atomic_bw|-F -m 1024 -n $n -A FETCH_AND_ADD||1024|loss"
	echo "loss_atomic_cs|ib_atomic_bw|-F -m 1024 -n $n -A CMP_AND_SWAP||1024|loss"
	for a in FETCH_AND_ADD CMP_AND_SWAP; do
		echo "loss_atomic_odp_$a|softodp_perf|-t atomic_bw -A $a -m 1024 -n $n --check|--odp|1024|loss"
	done
} | { if [ -n "$filter" ]; then grep -E "^[^|]*($filter)[^|]*[|]"; else cat; fi; } > "$out/case-table.txt"
[ -s "$out/case-table.txt" ] || fail "no case matches '$filter'"

# cases.txt for the guest: INDEX ROLE PORT SECONDS TOOL ARGS
idx=0
: > "$share/cases.txt"
: > "$out/cases.txt"
# cases.txt here: INDEX ROLE NAME PATH-MTU LOSS(0/1) HOST-ARGS...
while IFS='|' read -r name tool args hargs mtu lossy; do
	for role in ks ss; do
		idx=$((idx + 1))
		echo "$idx $role $((18700 + idx)) $tmo $tool $args" >> "$share/cases.txt"
		echo "$idx $role $name $mtu $([ "$lossy" = loss ] && echo 1 || echo 0) $hargs" >> "$out/cases.txt"
	done
done < "$out/case-table.txt"
ncases=$idx
cp "$here/guest-run.sh" "$share/run.sh"

say "booting the guest ($ncases runs; deadline ${deadline}s)"
netns_ours=1
"$rxevm/run-guest.sh" --test share --share "$share" --nics 1 --quiet --append "rxemtu=$GUEST_MTU" \
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

# The checks read the bridge's capture: on br-rxe both directions are seen as
# their sender sent them, before the loss cases' impairment (which acts on
# rxetap0's egress and br-rxe's ingress, after the bridge's packet taps).
# run-guest.sh's capture of rxetap0 (host.pcapng) is what the guest received.
ip netns exec "$NS" dumpcap -q -i br-rxe -f "udp port 4791 or icmp" -w "$out/bridge.pcapng" \
	> /dev/null 2> "$out/dumpcap-bridge.log" &
cap_pid=$!
for ((i = 0; i < 50; i++)); do [ -s "$out/bridge.pcapng" ] && break; sleep 0.1; done

# impair_on: compile impair.bpf.c with the --loss rates and attach it; on
# failure impair_err says why, and every loss case fails unrun.
impaired=0
impair_err=
impair_on() {
	local d u r ppm=() arch
	impaired=1
	IFS=, read -r d u r <<< "$loss"
	for v in "$d" "$u" "$r"; do ppm+=("$(awk -v p="${v:-0}" 'BEGIN { printf "%d", p * 10000 }')"); done
	arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
	say "loss cases: dropping $d%, duplicating $u%, reordering $r% of RoCE packets each way"
	if ! clang -O2 -g -target bpf -mcpu=v3 -I"/usr/include/$arch" -Wall -Werror \
		-DDROP_PPM="${ppm[0]}" -DDUP_PPM="${ppm[1]}" -DREORDER_PPM="${ppm[2]}" \
		-c "$here/impair.bpf.c" -o "$out/impair.bpf.o" > "$out/impair.log" 2>&1; then
		impair_err="impair.bpf.c did not compile (see $out/impair.log)"
		return
	fi
	ip netns exec "$NS" sh -e -c "
		tc qdisc add dev rxetap0 clsact
		tc filter add dev rxetap0 egress bpf da obj '$out/impair.bpf.o' sec egress
		tc qdisc add dev br-rxe clsact
		tc filter add dev br-rxe ingress bpf da obj '$out/impair.bpf.o' sec ingress
		tc filter show dev rxetap0 egress
		tc filter show dev br-rxe ingress" >> "$out/impair.log" 2>&1 ||
		impair_err="tc could not attach impair.bpf.o (see $out/impair.log)"
}

# impair_stats: the impairment's counters per direction, from its maps
impair_stats() {
	local m
	for m in out_stats in_stats; do
		bpftool -j map dump name "$m" 2>/dev/null | python3 -c '
import json, sys
def num(x):  # without BTF bpftool prints the bytes, little-endian
    return int.from_bytes(bytes(int(b, 16) for b in x), "little") if isinstance(x, list) else int(x)
v = [0] * 5
for e in json.load(sys.stdin):
    if isinstance(e, dict) and "key" in e:
        v[num(e["key"])] += num(e["value"])
print("%s: %d seen, %d dropped (%.1f%%), %d duplicated, %d reordered" % (
    sys.argv[1], v[0], v[1], 100.0 * v[1] / max(v[0], 1), v[2], v[4]))' \
		"$([ $m = out_stats ] && echo "softodp -> kernel" || echo "kernel -> softodp")"
	done
}
# impair_events: every drop, duplication, hold and release of the impairment,
# one line each in time order: the wall-clock time (the captures' clock),
# the direction, what was done, and the packet's opcode, dest QPN and PSN.
# The first line counts them: "# impairment events: N logged of M".
impair_events() {
	{
		bpftool -j map dump name nevents 2>/dev/null
		printf '\0'
		bpftool -j map dump name events 2>/dev/null
	} | python3 -c '
import json, sys, time
off = time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)
def elements(d):  # one map: its elements; several (one per hook): a list of maps
    return [m["elements"] for m in d] if d and "elements" in d[0] else [d]
counts, events = (json.loads(x) for x in sys.stdin.read().split("\0", 1))
total = sum(e["formatted"]["value"] for m in elements(counts) for e in m)
what = {0: "dropped", 1: "duplicated", 2: "held", 3: "released"}
ev = sorted((v["ns"], v["what"], v["opcode"], v["dqpn"], v["psn"])
            for m in elements(events) for v in (e["formatted"]["value"] for e in m) if v["ns"])
print("# impairment events: %d logged of %d" % (len(ev), total))
for ns, w, op, dqpn, psn in ev:
    print("%.6f %s %-10s opcode 0x%02x dqpn 0x%06x psn 0x%06x" % (
        off + ns / 1e9, "kernel->softodp" if w & 0x10 else "softodp->kernel",
        what.get(w & 0xf, "?"), op, dqpn, psn))'
}
# softodp_perf: softodp's side runs the build against rdma-core's
# libibverbs under softodp-run, as the guest does on kernel rxe.
perf_ib=$build/tools/softodp_perf_ibverbs
if [ -x "$perf_ib" ]; then
	cp "$perf_ib" "$share/softodp_perf"
fi
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
	read -r _ _ name _ lossy hargs < <(awk -v i="$idx" '$1 == i' "$out/cases.txt")
	[ "$lossy" = 1 ] && [ "$impaired" = 0 ] && impair_on
	label="$name/$role"
	hlog=$out/cases/$idx.host.log
	glog=$share/$idx.guest.log
	t0[$idx]=$(date +%s.%N)
	gidopt=-x
	case $tool in ibv_*) gidopt=-g ;; esac
	[ "$tool" = softodp_perf ] && tool=$share/softodp_perf
	hrc=
	note=
	if [ "$(date +%s)" -ge "$t_end" ] || ! kill -0 "$guest_pid" 2>/dev/null; then
		hrc=124
		note="not run: guest ended or deadline"
	elif [ ! -x "$tool" ] && [ "$tool" = "$share/softodp_perf" ]; then
		hrc=125
		note="not run: $perf_ib was not built (rdma-core's libibverbs-dev missing)"
	elif [ "$lossy" = 1 ] && [ -n "$impair_err" ]; then
		hrc=125
		note="not run: $impair_err"
	elif [ "$role" = ks ]; then
		# kernel server in the guest, softodp client on the host
		if wait_file "$share/$idx.ready" 30; then
			host_cmd "$tool" -d srxe0 $gidopt 0 $args $hargs -p "$port" "$GUEST_ADDR" > "$hlog" 2>&1
			hrc=$?
		else
			hrc=125
			note="kernel server did not listen"
		fi
	else
		# softodp server on the host, kernel client in the guest
		host_cmd "$tool" -d srxe0 $gidopt 0 $args $hargs -p "$port" > "$hlog" 2>&1 &
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
	rcs[$idx]=$hrc
	rcg[$idx]=$grc
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

if [ "$impaired" = 1 ] && [ -z "$impair_err" ]; then
	impair_stats | sed 's/^/interop: impairment /' | tee -a "$out/results.txt"
	impair_events > "$out/impair-events.txt"
fi
kill -TERM "$cap_pid" 2>/dev/null
wait "$cap_pid" 2>/dev/null
cap_pid=
: > "$share/host.done"
say "waiting for the guest to power off"
for ((i = 0; i < 600; i++)); do kill -0 "$guest_pid" 2>/dev/null || break; sleep 0.1; done
wait "$guest_pid" 2>/dev/null
guest_pid=
netns_ours=0
cp "$out/guest/serial.log" "$out/serial.log" 2>/dev/null

# --- the capture: per-case pcaps and the ICRC of every packet -------------------
icrc_line="ICRC: no capture"
if [ -s "$out/bridge.pcapng" ] &&
	timeout 120 editcap -F pcap "$out/bridge.pcapng" "$out/bridge.pcap" 2>/dev/null; then
	: > "$out/icrc-bad.txt"
	timeout 300 python3 "$here/split-cases.py" "$out/bridge.pcap" "$out/case-times.txt" \
		"$out/cases" > "$out/split-cases.txt" 2>&1
	while read -r idx role name a b verdict <&3; do
		p=$out/cases/$idx-$name-$role
		[ -s "$p.pcap" ] || continue
		timeout 120 python3 "$rxevm/roce-pcap-check.py" -v "$p.pcap" > "$p.txt" 2>&1
		grep -E 'BAD' "$p.txt" | sed "s|^|$name/$role: |" >> "$out/icrc-bad.txt"
	done 3< "$out/case-times.txt"
	# A pingpong under loss where one side passed and the other failed its
	# last send (retry counter exceeded, or stopped by its time bound while
	# it retransmitted): last-ack.py tells from the capture and the
	# impairment's log whether every answer to that send was lost. The
	# tools have no closing handshake, so the side left waiting then
	# retries towards a QP that no longer exists. Only then the case
	# passes, with a note.
	while read -r idx role name a b verdict <&3; do
		[ "$verdict" = FAIL ] || continue
		read -r _ _ _ _ lossy _ < <(awk -v i="$idx" '$1 == i' "$out/cases.txt")
		read -r _ _ _ _ tool _ < <(awk -v i="$idx" '$1 == i' "$share/cases.txt")
		[ "$lossy" = 1 ] && [ -s "$out/impair-events.txt" ] || continue
		case $tool in ibv_rc_pingpong | ibv_srq_pingpong) ;; *) continue ;; esac
		if [ "${rcs[$idx]}" != 0 ] && [ "${rcg[$idx]}" = 0 ]; then
			failed=softodp frc=${rcs[$idx]} flog=$out/cases/$idx.host.log
		elif [ "${rcg[$idx]}" != 0 ] && [ "${rcs[$idx]}" = 0 ]; then
			failed=kernel frc=${rcg[$idx]} flog=$out/cases/$idx.guest.log
		else
			continue
		fi
		case $frc in
		124 | 143) ;;
		*) grep -q 'transport retry counter exceeded' "$flog" 2>/dev/null || continue ;;
		esac
		p=$out/cases/$idx-$name-$role.pcap
		[ -s "$p" ] || continue
		why=$(timeout 120 python3 "$here/last-ack.py" --softodp "$HOST_ADDR" --failed "$failed" \
			"$p" "$out/impair-events.txt") || continue
		sed -i "s|^FAIL $name/$role  \(.*\)\$|PASS $name/$role  \1  (last send unacknowledged: see NOTE)|" \
			"$out/results.txt"
		echo "NOTE $name/$role: $failed's last send failed after its peer had ended; $why" |
			tee -a "$out/results.txt"
		pass=$((pass + 1))
		fail=$((fail - 1))
	done 3< "$out/case-times.txt"
	# every RoCE packet of the run, by sender
	timeout 300 python3 "$rxevm/roce-pcap-check.py" -v "$out/bridge.pcap" > "$out/roce.txt" 2>&1
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
	wargs=()
	while read -r idx role name mtu _; do
		p=$out/cases/$idx-$name-$role.pcap
		[ -s "$p" ] && wargs+=(--mtu "$mtu" "$p")
	done < "$out/cases.txt"
	timeout 300 python3 "$here/wire-check.py" --self "$HOST_ADDR" "${wargs[@]}" \
		> "$out/wire-check.txt" 2>&1
	while read -r verdict check who okn _ devn _ why; do
		[ "$who" = "$HOST_ADDR" ] || continue
		case $verdict in
		ALLOW) echo "NOTE wire:$check  $devn softodp packets differ, allowed: $why" ;;
		DEV)
			if [ "$strict_wire" = 1 ]; then
				echo "FAIL wire:$check  $devn softodp packets differ from kernel rxe's convention"
			else
				echo "WARN wire:$check  $devn softodp packets differ from kernel rxe's convention"
			fi
			;;
		esac
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
