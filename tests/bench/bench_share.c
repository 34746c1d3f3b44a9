// SPDX-License-Identifier: MIT
/*
 * bench_share: the cost of the hop through the owner of a shared address
 * (providers/rxe/share.c). A server process on 127.0.0.1 and a client on
 * 127.0.0.2 run an RC SEND ping-pong (latency) and a stream of RDMA WRITEs
 * (bandwidth), twice: with the server the owner of 127.0.0.1, receiving
 * from UDP 4791 itself, and with the server a client of another process
 * that owns 127.0.0.1 and forwards it every packet. The client's side is
 * direct both times, so the difference is one forwarding hop per round
 * trip, and per data packet of the stream.
 *
 * Usage: bench_share [ITERS] (default 20000 ping-pongs, 20000 64 KiB WRITEs).
 * Run it in a network namespace of its own.
 */
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>

#include "rxe_test_util.h"

#define MSG   65536
#define DEPTH 16

struct info {
	uint32_t qpn, rkey;
	uint64_t addr;
	union ibv_gid gid;
};

struct result {
	double rtt_us;
	double mbps;
	double pkt_us; /* per 4 KiB packet of the stream */
};

static int read_full(int fd, void *p, size_t n)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, 60000) != 1)
		return -1;
	return read(fd, p, n) == (ssize_t)n ? 0 : -1;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int poll_one(struct rt_side *s, struct ibv_wc *wc)
{
	uint64_t end = rt_ms() + RT_WAIT_MS;

	while (rt_ms() < end) {
		int n = ibv_poll_cq(s->cq, 1, wc);

		if (n < 0)
			return -1;
		if (n)
			return wc->status == IBV_WC_SUCCESS ? 0 : -1;
	}
	return -1;
}

static int post_send(struct rt_side *s, enum ibv_wr_opcode op, uint32_t len, uint64_t raddr,
		     uint32_t rkey)
{
	return rt_post(s, op, 0, len, raddr, rkey);
}

/*
 * Joins @devs and reports its QP on @wfd; connects to the peer read from
 * @rfd, posts DEPTH receives at @recv_off and says so on @wfd.
 */
static int side_up(struct rt_side *s, const char *devs, int rfd, int wfd, uint32_t psn,
		   uint32_t peer_psn, uint32_t recv_off, struct info *peer)
{
	struct rt_conn_opts o = *rt_default_opts();
	struct info me;
	int i;

	setenv("SOFTODP_DEVICES", devs, 1);
	if (rt_side_init(s, "srxe0", IBV_QPT_RC, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
			 64))
		return -1;
	me.qpn = s->qp->qp_num;
	me.rkey = s->mr->rkey;
	me.addr = (uintptr_t)s->buf;
	me.gid = s->gid;
	if (write(wfd, &me, sizeof(me)) != sizeof(me) || read_full(rfd, peer, sizeof(*peer)))
		return -1;
	o.mtu = IBV_MTU_4096;
	o.timeout = 14;
	if (rt_rc_connect_qp(s->qp, peer->qpn, &peer->gid, psn, peer_psn, &o))
		return -1;
	for (i = 0; i < DEPTH; i++)
		if (rt_post_recv(s, i, recv_off, 64))
			return -1;
	return write(wfd, "r", 1) == 1 ? 0 : -1;
}

/*
 * One exchange of a ping-pong: SEND, then the peer's SEND (@first), or the
 * other way round. The SEND's completion is taken before the next one is
 * posted, so that each post finds its send queue idle and leaves at once.
 */
static int pong(struct rt_side *s, uint32_t recv_off, bool first)
{
	bool sent = false, got = false;
	struct ibv_wc wc;

	if (first && post_send(s, IBV_WR_SEND, 64, 0, 0))
		return -1;
	while (!got || (first && !sent)) {
		if (poll_one(s, &wc))
			return -1;
		if (wc.opcode == IBV_WC_SEND) {
			sent = true;
		} else if (wc.opcode == IBV_WC_RECV) {
			got = true;
			if (rt_post_recv(s, wc.wr_id, recv_off, 64))
				return -1;
		}
	}
	if (first)
		return 0;
	if (post_send(s, IBV_WR_SEND, 64, 0, 0))
		return -1;
	do {
		if (poll_one(s, &wc))
			return -1;
	} while (wc.opcode != IBV_WC_SEND);
	return 0;
}

/* The server: answers @iters SENDs, then waits to be killed. */
static int server(int rfd, int wfd, int iters)
{
	struct rt_side s;
	struct info peer;
	int i;

	if (side_up(&s, "srxe0=127.0.0.1", rfd, wfd, 2, 1, 0, &peer))
		return 1;
	for (i = 0; i < iters; i++) {
		if (pong(&s, 0, false))
			return 3;
	}
	pause();
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int client(int rfd, int wfd, int iters, struct result *r)
{
	struct rt_side s;
	struct ibv_wc wc;
	struct info peer;
	double t0, *rtt;
	int i, posted = 0, done = 0;

	if (side_up(&s, "srxe0=127.0.0.2", rfd, wfd, 1, 2, MSG, &peer))
		return 1;
	rtt = calloc(iters, sizeof(*rtt));
	if (!rtt)
		return 4;
	for (i = 0; i < iters; i++) {
		t0 = now_us();
		if (pong(&s, MSG, true))
			return 5;
		rtt[i] = now_us() - t0;
	}
	/* the median: on a loaded host the mean is the scheduler's */
	qsort(rtt, iters, sizeof(*rtt), cmp_double);
	r->rtt_us = rtt[iters / 2];
	free(rtt);
	t0 = now_us();
	while (done < iters) {
		while (posted < iters && posted - done < DEPTH) {
			if (post_send(&s, IBV_WR_RDMA_WRITE, MSG, peer.addr, peer.rkey))
				return 7;
			posted++;
		}
		if (poll_one(&s, &wc))
			return 8;
		if (wc.opcode == IBV_WC_RDMA_WRITE)
			done++;
	}
	t0 = now_us() - t0;
	r->mbps = (double)iters * MSG / t0;
	r->pkt_us = t0 / ((double)iters * MSG / 4096);
	return 0;
}

/* A process that owns 127.0.0.1 and does nothing but forward. */
static int holder(int wfd)
{
	struct rt_side s;

	setenv("SOFTODP_DEVICES", "srxe0=127.0.0.1", 1);
	if (rt_side_init(&s, "srxe0", IBV_QPT_RC, IBV_ACCESS_LOCAL_WRITE, 1))
		return 1;
	if (write(wfd, "h", 1) != 1)
		return 2;
	pause();
	return 0;
}

static void stop(pid_t pid)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/*
 * One configuration: the server the owner of 127.0.0.1, or a client of a
 * holder that owns it. The client reports its result through a pipe.
 */
static int run(bool forwarded, int iters, struct result *r)
{
	int s2t[2], t2s[2], c2t[2], t2c[2], status, ret = -1;
	pid_t hp = 0, sp = 0, cp = 0;
	struct info si, ci;
	char x;

	if (pipe(s2t) || pipe(t2s) || pipe(c2t) || pipe(t2c))
		return -1;
	fflush(NULL);
	if (forwarded) {
		hp = fork();
		if (!hp)
			_exit(holder(s2t[1]));
		if (read_full(s2t[0], &x, 1))
			goto out;
	}
	sp = fork();
	if (!sp)
		_exit(server(t2s[0], s2t[1], iters));
	cp = fork();
	if (!cp) {
		struct result res;
		int rc = client(t2c[0], c2t[1], iters, &res);

		if (!rc && write(c2t[1], &res, sizeof(res)) != sizeof(res))
			rc = 10;
		_exit(rc);
	}
	/* the client connects once the server is ready for its first SEND */
	if (read_full(s2t[0], &si, sizeof(si)) || read_full(c2t[0], &ci, sizeof(ci)) ||
	    write(t2s[1], &ci, sizeof(ci)) != sizeof(ci) || read_full(s2t[0], &x, 1) ||
	    write(t2c[1], &si, sizeof(si)) != sizeof(si) || read_full(c2t[0], &x, 1))
		goto out;
	if (!read_full(c2t[0], r, sizeof(*r)))
		ret = 0;
	waitpid(cp, &status, 0);
	cp = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status))
		fprintf(stderr, "bench_share: the client failed at step %d\n", WEXITSTATUS(status));
out:
	stop(cp);
	stop(sp);
	stop(hp);
	return ret;
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 20000;
	struct result direct, fwd;

	if (iters <= 0 || run(false, iters, &direct) || run(true, iters, &fwd)) {
		fprintf(stderr, "bench_share: a run failed\n");
		return 1;
	}
	printf("receiver                 median RTT (us)   64 KiB WRITE MB/s   us per 4 KiB "
	       "packet\n");
	printf("owner of the address     %15.2f   %17.1f   %19.3f\n", direct.rtt_us, direct.mbps,
	       direct.pkt_us);
	printf("client (via the owner)   %15.2f   %17.1f   %19.3f\n", fwd.rtt_us, fwd.mbps,
	       fwd.pkt_us);
	printf("forwarding hop: %+.2f us per round trip, %+.3f us per 4 KiB data packet\n",
	       fwd.rtt_us - direct.rtt_us, fwd.pkt_us - direct.pkt_us);
	return 0;
}
