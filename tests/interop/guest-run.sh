# guest-run.sh: the guest half of run-interop.sh (busybox sh, runs in the
# rxe-vm guest as /mnt/host/run.sh). Kernel rxe0 (10.99.0.2) plays one side
# of every case of cases.txt; softodp on the host (10.99.0.1) plays the other.
#
# cases.txt lines: INDEX ROLE PORT SECONDS TOOL ARGS...
#   ROLE ks: the kernel is the server; the guest starts it and writes
#            INDEX.ready once it listens, the host then runs its client.
#   ROLE ss: softodp is the server; the guest waits for INDEX.go from the
#            host, then runs the client towards 10.99.0.1.
# The guest writes INDEX.rc (exit code) and INDEX.guest.log for each case.
# Every wait is bounded, so the guest powers off even if the host goes away
# (the host writes host.done when it stops early).
. /tests/lib.sh
S=/mnt/host

G=$(gid_v4 rxe0) || { say "interop: no IPv4 RoCE v2 GID on rxe0"; exit 1; }
show_gids rxe0
echo "$G" > $S/guest.gid
ibv_devinfo -v -d rxe0 > $S/guest-devinfo.txt 2>&1
ip -s link show eth0 > $S/guest-link-before.txt 2>&1
: > $S/guest.up
say "interop: rxe0 IPv4 RoCE v2 GID index $G, waiting for the host"

# wait_file FILE SECONDS: 0 once FILE exists, 1 on timeout or host.done
wait_file() {
	local i=0 n=$(($2 * 10))
	while [ ! -e "$1" ]; do
		[ -e $S/host.done ] && return 1
		[ $i -ge $n ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

while read -r idx role port secs tool args; do
	[ -n "$idx" ] || continue
	[ -e $S/host.done ] && break
	gidopt=-x
	case $tool in ibv_*) gidopt=-g ;; esac
	# softodp_perf is not in the guest: the host puts a build against
	# rdma-core's libibverbs in the share
	[ "$tool" = softodp_perf ] && tool=$S/softodp_perf
	cmd="$tool -d rxe0 $gidopt $G $args -p $port"
	log=$S/$idx.guest.log
	if [ "$role" = ks ]; then
		say "interop: case $idx kernel server: $cmd"
		timeout "$secs" $cmd > $log 2>&1 &
		pid=$!
		if wait_port "$port"; then
			: > $S/$idx.ready
		else
			say "interop: case $idx: server is not listening"
		fi
		wait $pid
		rc=$?
	elif wait_file $S/$idx.go "$secs"; then
		say "interop: case $idx kernel client: $cmd 10.99.0.1"
		timeout "$secs" $cmd 10.99.0.1 > $log 2>&1
		rc=$?
	else
		echo "interop: no go from the host" > $log
		rc=125
	fi
	echo "$rc" > $S/$idx.rc.tmp && mv $S/$idx.rc.tmp $S/$idx.rc
	say "interop: case $idx exit code $rc"
done < $S/cases.txt

rdma statistic show link rxe0/1 > $S/guest-stats.txt 2>&1
ip -s link show eth0 > $S/guest-link-after.txt 2>&1
dmesg | grep -i rxe > $S/guest-dmesg.txt 2>&1
: > $S/guest.done
say "interop: guest done"
exit 0
