// SPDX-License-Identifier: MIT
/*
 * One device address shared by many processes (providers/rxe/share.c):
 * child processes that all use SOFTODP_DEVICES=srxe0=127.0.0.1 exchange
 * RC and UD traffic, and lose a client or the owner to kill -9. The test
 * process is the matchmaker: each child reports its QP through a pipe and
 * gets its peer's. Every wait is bounded.
 *
 * A child is this program run anew (fork, then exec of /proc/self/exe with
 * its plan in SODP_SHARE_CHILD, its pipes on CHILD_RFD and CHILD_WFD): the
 * test process has a device open, and a process with threads may fork but
 * its child may not start threads of its own until it execs.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <softodp/device.h>

#include "sodp_test.h"
#include "rxe_test_util.h"
#include "sodp_proc.h"
#include "rxe/rxe.h" /* QPN blocks, the owner socket name, the allocator */

#define ADDR1	  "srxe0=127.0.0.1"
#define ADDR2	  "srxe0=127.0.0.2"
#define LEN	  65536 /* bytes per WRITE / READ */
#define WAIT_MS	  20000 /* for a child's report or exit */
#define QKEY	  0x11111111
#define CHILD_RFD 3
#define CHILD_WFD 4
#define CHILD_ENV "SODP_SHARE_CHILD"

#define PERF                                                                           \
	SODP_BUILD_DIR "/tools/softodp_perf -t write_bw -s 65536 -n 300 --odp --check" \
		       " -m 4096"

/* What a child reports when its QP is ready, and what it learns of its peer. */
struct info {
	uint32_t qpn;
	uint32_t rkey;
	uint64_t addr;
	union ibv_gid gid;
	uint32_t seed;
};

struct child {
	pid_t pid;
	int to, from; /* pipes: test -> child, child -> test */
	struct info info;
};

enum role {
	ROLE_RC,   /* WRITE, SEND, READ to the peer, iters times, all checked */
	ROLE_UD,   /* UD SENDs both ways, with the GRH checked */
	ROLE_HOLD, /* a QP, no traffic: holds a block (and the address) until killed */
};

struct plan {
	enum role role;
	const char *devs;
	uint32_t seed;
	int iters;
	uint8_t timeout; /* RC ACK timeout; 0 for the tests' default */
	bool odp;
};

static int read_full(int fd, void *p, size_t n, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return read(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/* ---- the children ---- */

/*
 * Completions arrive in any order (the peer's SENDs land while a READ is
 * outstanding): each is counted by kind, receives kept, and a wait takes
 * one of the kind it wants.
 */
#define RECV_KEEP 16
static int seen_read, seen_send;
static struct ibv_wc recvs[RECV_KEEP];
static int nrecv;

static int wait_wc(struct rt_side *s, enum ibv_wc_opcode op, struct ibv_wc *out)
{
	uint64_t end = rt_ms() + WAIT_MS;
	struct ibv_wc wc;

	for (;;) {
		if (op == IBV_WC_RECV && nrecv) {
			if (out)
				*out = recvs[0];
			memmove(recvs, recvs + 1, --nrecv * sizeof(recvs[0]));
			return 0;
		}
		if (op == IBV_WC_RDMA_READ && seen_read) {
			seen_read--;
			return 0;
		}
		if (op == IBV_WC_SEND && seen_send) {
			seen_send--;
			return 0;
		}
		if (rt_ms() >= end || rt_poll(s->cq, &wc) != 1)
			return -1;
		if (wc.status != IBV_WC_SUCCESS) {
			fprintf(stderr, "child %d: completion %d status %s\n", (int)getpid(),
				wc.opcode, ibv_wc_status_str(wc.status));
			return -1;
		}
		if (wc.opcode == IBV_WC_RECV && nrecv < RECV_KEEP)
			recvs[nrecv++] = wc;
		else if (wc.opcode == IBV_WC_RDMA_READ)
			seen_read++;
		else if (wc.opcode == IBV_WC_SEND)
			seen_send++;
	}
}

/* Takes a SEND of the peer and posts its receive buffer again. */
static int rc_recv(struct rt_side *s)
{
	struct ibv_wc wc;

	if (wait_wc(s, IBV_WC_RECV, &wc))
		return -1;
	return rt_post_recv(s, wc.wr_id, 3 * LEN + (uint32_t)wc.wr_id * 64, 64);
}

/*
 * Buffer layout: [0, LEN) the child's own pattern (source of its WRITEs,
 * target of the peer's READs); [LEN, 2 LEN) where the peer WRITEs;
 * [2 LEN, 3 LEN) where its READs land; [3 LEN, ...) receive buffers.
 */
static int rc_traffic(struct rt_side *s, const struct plan *p, const struct info *peer)
{
	static uint8_t expect[LEN];
	struct rt_conn_opts o = *rt_default_opts();
	int i;

	if (p->timeout)
		o.timeout = p->timeout;
	o.mtu = IBV_MTU_4096;
	if (rt_rc_connect_qp(s->qp, peer->qpn, &peer->gid, p->seed, peer->seed, &o))
		return 20;
	/* a SEND that arrives before these gets an RNR NAK and is retried */
	for (i = 0; i < 4; i++)
		if (rt_post_recv(s, i, 3 * LEN + i * 64, 64))
			return 13;
	rt_fill(expect, LEN, peer->seed);
	for (i = 0; i < p->iters; i++) {
		memset(s->buf + 2 * LEN, 0, LEN);
		if (rt_post(s, IBV_WR_RDMA_WRITE, 0, LEN, peer->addr + LEN, peer->rkey) ||
		    rt_post(s, IBV_WR_SEND_WITH_IMM, 0, 64, 0, 0))
			return 21;
		if (rc_recv(s))
			return 22;
		/* the peer's WRITE was placed before its SEND arrived */
		if (memcmp(s->buf + LEN, expect, LEN))
			return 23;
		memset(s->buf + LEN, 0, LEN);
		if (rt_post(s, IBV_WR_RDMA_READ, 2 * LEN, LEN, peer->addr, peer->rkey) ||
		    wait_wc(s, IBV_WC_RDMA_READ, NULL))
			return 25;
		if (memcmp(s->buf + 2 * LEN, expect, LEN))
			return 26;
		/* the peer's next WRITE must not land before this one was checked */
		if (rt_post(s, IBV_WR_SEND, 0, 0, 0, 0) || rc_recv(s))
			return 27;
	}
	/* its own SENDs acknowledged: the peer may still wait for the last one */
	for (i = 0; i < 2 * p->iters; i++)
		if (wait_wc(s, IBV_WC_SEND, NULL))
			return 28;
	return 0;
}

static int ud_traffic(struct rt_side *s, const struct plan *p, const struct info *peer)
{
	struct ibv_ah *ah = rt_ah(s, &peer->gid);
	struct ibv_ah_attr back;
	uint8_t expect[256];
	struct ibv_wc wc;
	int i;

	if (!ah)
		return 30;
	rt_fill(expect, sizeof(expect), peer->seed);
	for (i = 0; i < p->iters; i++) {
		struct ibv_sge sge = {(uintptr_t)s->buf, sizeof(expect), s->mr->lkey};
		struct ibv_send_wr wr = {.sg_list = &sge,
					 .num_sge = 1,
					 .opcode = IBV_WR_SEND,
					 .send_flags = IBV_SEND_SIGNALED},
				   *bad;
		uint8_t *got;

		wr.wr.ud.ah = ah;
		wr.wr.ud.remote_qpn = peer->qpn;
		wr.wr.ud.remote_qkey = QKEY;
		if (ibv_post_send(s->qp, &wr, &bad) || wait_wc(s, IBV_WC_SEND, NULL))
			return 31;
		if (wait_wc(s, IBV_WC_RECV, &wc))
			return 32;
		if (!(wc.wc_flags & IBV_WC_GRH) || wc.src_qp != peer->qpn ||
		    wc.byte_len != RXE_GRH_LEN + sizeof(expect))
			return 33;
		got = s->buf + 3 * LEN + wc.wr_id * 512;
		if (memcmp(got + RXE_GRH_LEN, expect, sizeof(expect)))
			return 34;
		/* the address vector back to the sender, from the GRH: its GID */
		if (ibv_init_ah_from_wc(s->ctx, 1, &wc, (struct ibv_grh *)got, &back) ||
		    !back.is_global || memcmp(back.grh.dgid.raw, peer->gid.raw, 16))
			return 35;
		if (rt_post_recv(s, wc.wr_id, 3 * LEN + (uint32_t)wc.wr_id * 512, 512))
			return 36;
	}
	ibv_destroy_ah(ah);
	return 0;
}

static int child_main(const struct plan *p, int rfd, int wfd)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	struct info me, peer;
	struct rt_side s;
	char go;
	int i, ret;

	alarm(60);
	setenv("SOFTODP_DEVICES", p->devs, 1);
	if (p->odp)
		access |= IBV_ACCESS_ON_DEMAND;
	if (rt_side_init(&s, "srxe0", p->role == ROLE_UD ? IBV_QPT_UD : IBV_QPT_RC, access, 16))
		return 11;
	rt_fill(s.buf, LEN, p->seed);
	if (p->role == ROLE_UD) {
		if (rt_ud_ready(s.qp, p->seed))
			return 12;
		for (i = 0; i < 8; i++)
			if (rt_post_recv(&s, i, 3 * LEN + i * 512, 512))
				return 13;
	}
	memset(&me, 0, sizeof(me));
	me.qpn = s.qp->qp_num;
	me.rkey = s.mr->rkey;
	me.addr = (uintptr_t)s.buf;
	me.gid = s.gid;
	me.seed = p->seed;
	if (write(wfd, &me, sizeof(me)) != sizeof(me))
		return 14;
	if (p->role == ROLE_HOLD) {
		/* until the test says so, or kills it */
		ret = read_full(rfd, &go, 1, 60000) ? 15 : 0;
		rt_side_fini(&s);
		return ret;
	}
	if (read_full(rfd, &peer, sizeof(peer), WAIT_MS))
		return 16;
	ret = p->role == ROLE_UD ? ud_traffic(&s, p, &peer) : rc_traffic(&s, p, &peer);
	if (ret)
		return ret;
	/* done; stay until the peer is done too (its READs target this buffer) */
	if (write(wfd, "d", 1) != 1 || read_full(rfd, &go, 1, WAIT_MS))
		return 17;
	rt_side_fini(&s);
	return 0;
}

/* ---- the test's side ---- */

/* The child's exit status (0 = it checked everything), -1 if it did not exit in time. */
static int reap(struct child *c)
{
	uint64_t end = rt_ms() + WAIT_MS;
	int status;

	if (c->pid <= 0)
		return -1;
	while (rt_ms() < end) {
		pid_t r = waitpid(c->pid, &status, WNOHANG);

		if (r == c->pid) {
			close(c->to);
			close(c->from);
			c->pid = 0;
			if (WIFEXITED(status)) {
				if (WEXITSTATUS(status))
					printf("\n    child failed at step %d\n",
					       WEXITSTATUS(status));
				return WEXITSTATUS(status);
			}
			return 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &status, 0);
	c->pid = 0;
	return -1;
}

extern char **environ;

/*
 * The environment of a child with @p: this one's, with CHILD_ENV set to
 * "role:seed:iters:timeout:odp:devs". NULL when out of memory.
 */
static char **child_env(const struct plan *p, char *var, size_t len)
{
	size_t n = 0, i, j = 0;
	char **env;

	snprintf(var, len, CHILD_ENV "=%d:%u:%d:%u:%d:%s", (int)p->role, p->seed, p->iters,
		 p->timeout, p->odp, p->devs);
	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], CHILD_ENV "=", sizeof(CHILD_ENV)))
			env[j++] = environ[i];
	env[j] = var;
	return env;
}

/* In a child (CHILD_ENV set): runs its plan and exits, before CUnit's main. */
__attribute__((constructor)) static void child_entry(void)
{
	static char devs[128];
	const char *e = getenv(CHILD_ENV);
	int role, iters, odp, used = 0;
	unsigned int seed, timeout;
	struct plan p;

	if (!e)
		return;
	if (sscanf(e, "%d:%u:%d:%u:%d:%n", &role, &seed, &iters, &timeout, &odp, &used) != 5 ||
	    !used || strlen(e + used) >= sizeof(devs))
		_exit(120);
	strcpy(devs, e + used);
	unsetenv(CHILD_ENV);
	p = (struct plan){(enum role)role, devs, seed, iters, (uint8_t)timeout, odp != 0};
	_exit(child_main(&p, CHILD_RFD, CHILD_WFD));
}

/*
 * A pipe whose ends are close-on-exec and above the child's fixed numbers,
 * so that the child's dup2() to them clobbers neither end.
 */
static int pipe_above(int fds[2])
{
	int raw[2], i;

	if (pipe(raw))
		return -1;
	for (i = 0; i < 2; i++) {
		fds[i] = fcntl(raw[i], F_DUPFD_CLOEXEC, CHILD_WFD + 1);
		close(raw[i]);
	}
	if (fds[0] >= 0 && fds[1] >= 0)
		return 0;
	for (i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return -1;
}

/* Starts a child with @p and waits for its report (the QP it created). */
static int spawn(struct child *c, const struct plan *p)
{
	char *argv[] = {"test_share", NULL}, var[256], **env;
	int to[2], from[2];

	env = child_env(p, var, sizeof(var));
	if (!env)
		return -1;
	if (pipe_above(to) || pipe_above(from)) {
		free(env);
		return -1;
	}
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0) {
		free(env);
		return -1;
	}
	if (!c->pid) {
		if (dup2(to[0], CHILD_RFD) < 0 || dup2(from[1], CHILD_WFD) < 0)
			_exit(121);
		execve("/proc/self/exe", argv, env);
		_exit(122);
	}
	free(env);
	close(to[0]);
	close(from[1]);
	c->to = to[1];
	c->from = from[0];
	if (!read_full(c->from, &c->info, sizeof(c->info), WAIT_MS))
		return 0;
	printf("\n    a child did not start: status %d\n", reap(c));
	return -1;
}

static void introduce(struct child *a, struct child *b)
{
	CU_ASSERT_EQUAL(write(a->to, &b->info, sizeof(b->info)), sizeof(b->info));
	CU_ASSERT_EQUAL(write(b->to, &a->info, sizeof(a->info)), sizeof(a->info));
}

/* Waits for a child to report its traffic done and checked: 0, or its failure. */
static int done(struct child *c)
{
	char d;

	if (read_full(c->from, &d, 1, WAIT_MS))
		return reap(c) ? reap(c) : -1;
	return 0;
}

/* Lets a child that is done exit, and reaps it. */
static int release(struct child *c)
{
	if (!c->pid || write(c->to, "x", 1) != 1)
		return -1;
	return reap(c);
}

/*
 * Waits for every child of @c to report done, then lets them all exit. A
 * child that exits while its peer waits for an ACK would leave that peer
 * retransmitting to a QP that no longer exists: a SEND's completion at the
 * receiver does not mean its ACK got through.
 */
static void finish_all(struct child *const *c, int n)
{
	int i;

	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(done(c[i]), 0);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(release(c[i]), 0);
}

static void kill9(struct child *c)
{
	int status;

	kill(c->pid, SIGKILL);
	waitpid(c->pid, &status, 0);
	close(c->to);
	close(c->from);
	c->pid = 0;
}

static uint32_t block_of(uint32_t qpn)
{
	return qpn >> RXE_QPN_BLOCK_SHIFT;
}

/* Two children running their plans against each other; both must check out. */
static void run_pair(struct child *a, struct child *b)
{
	struct child *both[] = {a, b};

	introduce(a, b);
	finish_all(both, 2);
}

static void test_two_processes_on_one_address_write_send_read(void)
{
	struct plan pa = {ROLE_RC, ADDR1, 0x11, 8, 0, true}, pb = pa;
	struct child a, b;

	pb.seed = 0x22;
	CU_ASSERT_EQUAL_FATAL(spawn(&a, &pa), 0);
	CU_ASSERT_EQUAL_FATAL(spawn(&b, &pb), 0);
	/* the first is the owner (block 0), the second a client */
	CU_ASSERT_EQUAL(block_of(a.info.qpn), 0);
	CU_ASSERT_NOT_EQUAL(block_of(b.info.qpn), 0);
	CU_ASSERT(!memcmp(&a.info.gid, &b.info.gid, sizeof(a.info.gid)));
	run_pair(&a, &b);
}

static void test_four_pairs_on_one_address_all_validate(void)
{
	struct child c[8], *all[8];
	int i;

	for (i = 0; i < 8; i++) {
		struct plan p = {ROLE_RC, ADDR1, 0x30 + (uint32_t)i, 6, 0, false};

		CU_ASSERT_EQUAL_FATAL(spawn(&c[i], &p), 0);
	}
	for (i = 0; i < 8; i += 2)
		introduce(&c[i], &c[i + 1]);
	for (i = 0; i < 8; i++)
		all[i] = &c[i];
	finish_all(all, 8);
}

/* A client on 127.0.0.1 and the owner of 127.0.0.2, both ways. */
static void test_client_talks_to_another_address_both_ways(void)
{
	struct plan ph = {ROLE_HOLD, ADDR1, 1, 0, 0, false};
	struct plan pa = {ROLE_RC, ADDR1, 0x41, 8, 0, false};
	struct plan pb = {ROLE_RC, ADDR2, 0x42, 8, 0, false};
	struct child h, a, b;

	CU_ASSERT_EQUAL_FATAL(spawn(&h, &ph), 0);
	CU_ASSERT_EQUAL_FATAL(spawn(&a, &pa), 0);
	CU_ASSERT_EQUAL_FATAL(spawn(&b, &pb), 0);
	CU_ASSERT_NOT_EQUAL(block_of(a.info.qpn), block_of(h.info.qpn)); /* a is a client */
	run_pair(&a, &b);
	CU_ASSERT_EQUAL(release(&h), 0);
}

static void test_ud_between_two_processes_on_one_address(void)
{
	struct plan pa = {ROLE_UD, ADDR1, 0x51, 4, 0, false}, pb = pa;
	struct child a, b;

	pb.seed = 0x52;
	CU_ASSERT_EQUAL_FATAL(spawn(&a, &pa), 0);
	CU_ASSERT_EQUAL_FATAL(spawn(&b, &pb), 0);
	run_pair(&a, &b);
}

/* The NO_QP drop count of @s's device. */
static uint64_t no_qp_drops(struct rt_side *s)
{
	struct sodp_device_counters c;

	if (sodp_device_get_counters(s->ctx, &c))
		return 0;
	return c.drops[SODP_DROP_NO_QP];
}

/* A UD SEND from @s to @qpn at @s's own address. */
static int ud_send_to(struct rt_side *s, struct ibv_ah *ah, uint32_t qpn)
{
	struct ibv_sge sge = {(uintptr_t)s->buf, 64, s->mr->lkey};
	struct ibv_send_wr wr = {.sg_list = &sge,
				 .num_sge = 1,
				 .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED},
			   *bad;
	struct ibv_wc wc;

	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = qpn;
	wr.wr.ud.remote_qkey = QKEY;
	if (ibv_post_send(s->qp, &wr, &bad) || rt_poll(s->cq, &wc) != 1)
		return -1;
	return wc.status == IBV_WC_SUCCESS ? 0 : -1;
}

/* Waits until the NO_QP drops exceed @before; false after 2 s. */
static bool dropped_since(struct rt_side *s, uint64_t before)
{
	uint64_t end = rt_ms() + 2000;

	while (rt_ms() < end) {
		if (no_qp_drops(s) > before)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * The test process owns the address; a client holding a QP dies while two
 * other clients move data. They finish; a packet for the dead QPN is
 * dropped and counted by the owner (it was forwarded, not dropped, while
 * the client lived); a newcomer does not get the dead client's block.
 */
static void test_client_killed_frees_its_block_into_quarantine(void)
{
	struct plan pk = {ROLE_HOLD, ADDR1, 1, 0, 0, false};
	struct plan pa = {ROLE_RC, ADDR1, 0x61, 40, 0, false}, pb = pa;
	struct child k, a, b, n;
	struct rt_side s;
	struct ibv_ah *ah;
	uint64_t before;

	setenv("SOFTODP_DEVICES", ADDR1, 1);
	if (rt_side_init(&s, "srxe0", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16) ||
	    rt_ud_ready(s.qp, 1) || !(ah = rt_ah(&s, &s.gid))) {
		rt_side_fini(&s);
		SODP_SKIP("cannot start srxe0 on 127.0.0.1");
	}
	CU_ASSERT_EQUAL(block_of(s.qp->qp_num), 0);
	pb.seed = 0x62;
	CU_ASSERT_EQUAL_FATAL(spawn(&k, &pk), 0);
	CU_ASSERT_EQUAL_FATAL(spawn(&a, &pa), 0);
	CU_ASSERT_EQUAL_FATAL(spawn(&b, &pb), 0);
	introduce(&a, &b);

	/* alive: the owner forwards to the client's block */
	before = no_qp_drops(&s);
	CU_ASSERT_EQUAL(ud_send_to(&s, ah, k.info.qpn), 0);
	CU_ASSERT(!dropped_since(&s, before));

	kill9(&k);
	finish_all((struct child *[]){&a, &b}, 2);

	before = no_qp_drops(&s);
	CU_ASSERT_EQUAL(ud_send_to(&s, ah, k.info.qpn), 0);
	CU_ASSERT(dropped_since(&s, before));

	CU_ASSERT_EQUAL_FATAL(spawn(&n, &pk), 0);
	CU_ASSERT_NOT_EQUAL(block_of(n.info.qpn), block_of(k.info.qpn));
	CU_ASSERT_EQUAL(release(&n), 0);
	ibv_destroy_ah(ah);
	rt_side_fini(&s);
}

/*
 * The owner dies while two clients move data with a 67 ms ACK timeout: one
 * of them takes the address over, the other registers again, RC
 * retransmission covers the gap, and a newcomer still joins, with a block
 * that is none of theirs nor the dead owner's.
 */
static void test_owner_killed_mid_transfer_clients_complete(void)
{
	struct plan po = {ROLE_HOLD, ADDR1, 1, 0, 0, false};
	struct plan pa = {ROLE_RC, ADDR1, 0x71, 60, 14, false}, pb = pa;
	struct child o, a, b, n;

	pb.seed = 0x72;
	CU_ASSERT_EQUAL_FATAL(spawn(&o, &po), 0);
	CU_ASSERT_EQUAL_FATAL(spawn(&a, &pa), 0);
	CU_ASSERT_EQUAL_FATAL(spawn(&b, &pb), 0);
	introduce(&a, &b);
	usleep(30000);
	kill9(&o);
	CU_ASSERT_EQUAL(done(&a), 0);
	CU_ASSERT_EQUAL(done(&b), 0);

	/* a and b still live: one of them owns the address now */
	CU_ASSERT_EQUAL_FATAL(spawn(&n, &po), 0);
	CU_ASSERT_NOT_EQUAL(block_of(n.info.qpn), block_of(o.info.qpn));
	CU_ASSERT_NOT_EQUAL(block_of(n.info.qpn), block_of(a.info.qpn));
	CU_ASSERT_NOT_EQUAL(block_of(n.info.qpn), block_of(b.info.qpn));
	CU_ASSERT_EQUAL(release(&n), 0);
	CU_ASSERT_EQUAL(release(&a), 0);
	CU_ASSERT_EQUAL(release(&b), 0);
}

/*
 * Two processes that are not root share an address: softodp_perf server
 * (the owner) and client, both as nobody when the test runs as root,
 * writing ODP memory with every byte checked. Fresh processes: a fork
 * child of this one would inherit root's page-table mirror.
 */
static void test_unprivileged_processes_share_an_address(void)
{
	static struct sodp_proc r;
	const char *as = geteuid() ? "" : "setpriv --reuid=nobody --regid=nogroup --clear-groups";
	int st;

	if (!geteuid() && system("command -v setpriv >/dev/null 2>&1"))
		SODP_SKIP("setpriv is not installed");
	/* a build tree under a private directory (a package build's) is root's alone */
	if (!geteuid() &&
	    system("setpriv --reuid=nobody --regid=nogroup --clear-groups test -x " SODP_BUILD_DIR
		   "/tools/softodp_perf"))
		SODP_SKIP("nobody cannot run the build tree's softodp_perf");
	st = sodp_run(&r, 60,
		      "%s env SOFTODP_DEVICES=" ADDR1 " " PERF " -p 18600 >/dev/null 2>&1 & "
		      "for i in $(seq 1 100); do ss -ltn | grep -q :18600 && break; "
		      "sleep 0.05; done; "
		      "%s env SOFTODP_DEVICES=" ADDR1 " " PERF " -p 18600 127.0.0.1 && "
		      "%s id -un && wait $!",
		      as, as, as);
	if (st)
		printf("\n%s%s\n", r.out, r.err);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "#bytes"));
	if (!geteuid())
		CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "nobody"));
}

/* Connects to the owner's control socket of 127.0.0.1. */
static int owner_socket(void)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int n = snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "%s127.0.0.1",
			 RXE_SHARE_NAME_PREFIX);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&un, offsetof(struct sockaddr_un, sun_path) + 1 + n)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether the owner closed @fd within 2 s. */
static bool disconnected(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint8_t buf[256];
	uint64_t end = rt_ms() + 2000;

	while (rt_ms() < end) {
		if (poll(&p, 1, 100) != 1)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN))
			return true;
	}
	return false;
}

/*
 * Garbage, a registration of the wrong size, and a message after a valid
 * registration: each gets the sender disconnected; the owner goes on
 * serving its clients.
 */
static void test_garbage_on_the_owner_socket_disconnects_the_sender(void)
{
	static const uint32_t reg[4] = {0x534f4401, 1, RXE_SHARE_NO_BLOCK, 0};
	struct plan pa = {ROLE_RC, ADDR1, 0x91, 4, 0, false}, pb = pa;
	uint8_t junk[100];
	uint32_t answer[4];
	struct child a, b;
	struct rt_side s;
	int fd;

	setenv("SOFTODP_DEVICES", ADDR1, 1);
	if (rt_side_init(&s, "srxe0", IBV_QPT_RC, IBV_ACCESS_LOCAL_WRITE, 16)) {
		rt_side_fini(&s);
		SODP_SKIP("cannot start srxe0 on 127.0.0.1");
	}
	rt_fill(junk, sizeof(junk), 3);
	fd = owner_socket();
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(send(fd, junk, sizeof(junk), 0), sizeof(junk));
	CU_ASSERT(disconnected(fd));
	close(fd);

	fd = owner_socket();
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(send(fd, reg, sizeof(reg) - 1, 0), sizeof(reg) - 1);
	CU_ASSERT(disconnected(fd));
	close(fd);

	fd = owner_socket();
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(send(fd, reg, sizeof(reg), 0), sizeof(reg));
	CU_ASSERT_EQUAL(read_full(fd, answer, sizeof(answer), 2000), 0);
	CU_ASSERT_EQUAL(answer[0], 0x534f4402);
	CU_ASSERT(answer[2] > 0 && answer[2] < RXE_SHARE_BLOCKS);
	CU_ASSERT_EQUAL(send(fd, junk, 1, 0), 1);
	CU_ASSERT(disconnected(fd));
	close(fd);

	pb.seed = 0x92;
	CU_ASSERT_EQUAL_FATAL(spawn(&a, &pa), 0);
	CU_ASSERT_EQUAL_FATAL(spawn(&b, &pb), 0);
	run_pair(&a, &b);
	rt_side_fini(&s);
}

/* ---- the block allocator ---- */

static void test_blocks_go_never_held_first_then_least_recently_freed(void)
{
	int holder[RXE_SHARE_BLOCKS];
	uint64_t freed[RXE_SHARE_BLOCKS] = {0};
	const uint64_t s = 1000000000ULL, now = 1000 * s;
	uint32_t b;

	for (b = 0; b < RXE_SHARE_BLOCKS; b++)
		holder[b] = -1;
	holder[0] = -2;
	holder[1] = 0;
	CU_ASSERT_EQUAL(rxe_share_pick_block(holder, freed, now), 2);
	freed[2] = now - 100 * s; /* freed long ago, but another was never held */
	CU_ASSERT_EQUAL(rxe_share_pick_block(holder, freed, now), 3);
	for (b = 3; b < RXE_SHARE_BLOCKS; b++)
		freed[b] = now - 50 * s;
	freed[7] = now - 200 * s;
	CU_ASSERT_EQUAL(rxe_share_pick_block(holder, freed, now), 7);
}

static void test_freed_blocks_stay_in_quarantine(void)
{
	int holder[RXE_SHARE_BLOCKS];
	uint64_t freed[RXE_SHARE_BLOCKS];
	const uint64_t s = 1000000000ULL, now = 1000 * s;
	uint32_t b;

	for (b = 0; b < RXE_SHARE_BLOCKS; b++) {
		holder[b] = 0;
		freed[b] = 0;
	}
	CU_ASSERT_EQUAL(rxe_share_pick_block(holder, freed, now), RXE_SHARE_NO_BLOCK);
	holder[9] = -1;
	freed[9] = now - 1 * s;
	CU_ASSERT_EQUAL(rxe_share_pick_block(holder, freed, now), RXE_SHARE_NO_BLOCK);
	freed[9] = now - 31 * s;
	CU_ASSERT_EQUAL(rxe_share_pick_block(holder, freed, now), 9);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case blocks[] = {
		{"never_held_first_then_least_recently_freed",
		 test_blocks_go_never_held_first_then_least_recently_freed},
		{"freed_blocks_stay_in_quarantine", test_freed_blocks_stay_in_quarantine},
		{NULL, NULL},
	};
	static const struct sodp_test_case procs[] = {
		{"two_processes_on_one_address_write_send_read",
		 test_two_processes_on_one_address_write_send_read},
		{"four_pairs_on_one_address_all_validate",
		 test_four_pairs_on_one_address_all_validate},
		{"client_talks_to_another_address_both_ways",
		 test_client_talks_to_another_address_both_ways},
		{"ud_between_two_processes_on_one_address",
		 test_ud_between_two_processes_on_one_address},
		{"client_killed_frees_its_block_into_quarantine",
		 test_client_killed_frees_its_block_into_quarantine},
		{"owner_killed_mid_transfer_clients_complete",
		 test_owner_killed_mid_transfer_clients_complete},
		{"unprivileged_processes_share_an_address",
		 test_unprivileged_processes_share_an_address},
		{"garbage_on_the_owner_socket_disconnects_the_sender",
		 test_garbage_on_the_owner_socket_disconnects_the_sender},
		{NULL, NULL},
	};

	sodp_add_suite("share_blocks", NULL, NULL, blocks);
	sodp_add_suite("share_processes", NULL, NULL, procs);
}
