// SPDX-License-Identifier: MIT
/*
 * Soak: mixed RC traffic on several QPs into ODP and pinned memory while
 * another thread keeps changing the mappings under it, every byte checked.
 *
 * Two devices in one process (srxe0 = 127.0.0.1 sends, srxe1 = 127.0.0.2
 * holds the targets). SOAK_QPS traffic threads, each with its own RC QP
 * pair, work on their own slots of two target regions on srxe1: an ODP MR
 * and a pinned MR. Each step takes one slot and does, in turn, an RDMA
 * WRITE of a fresh pattern (checked in the target), an RDMA READ of it back
 * (checked in the local buffer), a fetch-and-add on the slot's counter word
 * (the old value checked), or a SEND into an ODP receive buffer on srxe1
 * (checked there). The churn thread meanwhile picks slots at random, of
 * every thread, and takes them away for a moment: munmap and mmap again
 * (ODP only: unmapping pinned memory revokes it for good), MADV_DONTNEED
 * (ODP; the kernel refuses it on locked memory), mprotect to read-only and
 * back, or a fork whose child writes everywhere and exits. A slot is
 * churned only while no traffic is on it (a lock per slot), and since its
 * content is then lost the owner rewrites it before it checks it again; the
 * neighbours of a churned slot share its 2 MiB block and its MTT entries,
 * so traffic runs against invalidations, splits and refaults all the time.
 *
 * It reports the steps, bytes checked, completions, churn operations by
 * kind, the targets' fault and invalidation counters, and the process's
 * memory before and after (VmRSS after a warm-up pass, at the end, and the
 * mapping count). It fails (exit 1) on any data mismatch or unexpected
 * completion status, or on growth of resident memory beyond SOAK_RSS_SLACK
 * (but under AddressSanitizer, whose quarantine holds freed memory).
 *
 * Usage: soak [SECONDS] (default 60). It binds UDP port 4791 on 127.0.0.1
 * and 127.0.0.2: run it in a network namespace of its own (scripts/soak.sh
 * does).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <softodp/mr.h>

#include "rxe_test_util.h"

#define SOAK_QPS       4
#define SOAK_SLOT      (16 << 10) /* bytes per slot */
#define SOAK_SLOTS     64	  /* per QP and region */
#define SOAK_REGION    (SOAK_QPS * SOAK_SLOTS * SOAK_SLOT)
#define SOAK_RSS_SLACK (64 << 20)
/* AddressSanitizer keeps freed memory in quarantine: its growth is reported, not judged. */
#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif
#ifndef SOAK_ASAN
#define SOAK_ASAN 0
#endif
#define SOAK_STEP_WAIT 5000 /* ms: a completion later than this fails */
#define ACCESS_ALL                                                                   \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
	 IBV_ACCESS_REMOTE_ATOMIC)

enum region { R_ODP, R_PIN, NR_REGIONS };
enum churn { C_REMAP, C_DONTNEED, C_PROTECT, C_FORK, NR_CHURN };
static const char *const churn_name[NR_CHURN] = {"munmap+mmap", "MADV_DONTNEED", "mprotect",
						 "fork"};

struct slot {
	pthread_mutex_t lock;
	bool lost; /* churned since its owner last wrote it */
};

struct qp_pair {
	struct ibv_qp *a, *b;
	struct ibv_cq *acq, *bcq;
	struct ibv_mr *amr, *rbmr; /* A's buffer, B's receive buffer */
	uint8_t *abuf, *rbuf;
	unsigned int id;
	uint64_t steps, bytes, completions, errors;
	pthread_t thread;
};

static struct {
	struct ibv_context *ctx[2];
	struct ibv_pd *pd[2];
	union ibv_gid gid[2];
	uint8_t *region[NR_REGIONS];
	struct ibv_mr *mr[NR_REGIONS];
	struct slot slot[NR_REGIONS][SOAK_QPS * SOAK_SLOTS];
	struct qp_pair qp[SOAK_QPS];
	uint64_t churn[NR_CHURN];
	bool stop; /* atomic */
	uint64_t deadline;
} S;

static long status_kb(const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && sscanf(line + n, ": %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static long map_count(void)
{
	char line[512];
	long n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

static uint8_t *slot_addr(enum region r, unsigned int s)
{
	return S.region[r] + (size_t)s * SOAK_SLOT;
}

static int pair_init(struct qp_pair *p, unsigned int id)
{
	struct ibv_qp_init_attr ia = {
		.cap = {.max_send_wr = 16, .max_recv_wr = 16, .max_send_sge = 1, .max_recv_sge = 1},
		.qp_type = IBV_QPT_RC,
	};
	/* the pingpongs' and perftest's ACK timeout (67 ms): a fork stops the engine a while */
	struct rt_conn_opts o = *rt_default_opts();

	o.timeout = 14;
	p->id = id;
	p->acq = ibv_create_cq(S.ctx[0], 64, NULL, NULL, 0);
	p->bcq = ibv_create_cq(S.ctx[1], 64, NULL, NULL, 0);
	p->abuf = mmap(NULL, SOAK_SLOT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p->rbuf = mmap(NULL, SOAK_SLOT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!p->acq || !p->bcq || p->abuf == MAP_FAILED || p->rbuf == MAP_FAILED)
		return -1;
	p->amr = ibv_reg_mr(S.pd[0], p->abuf, SOAK_SLOT, ACCESS_ALL);
	p->rbmr = ibv_reg_mr(S.pd[1], p->rbuf, SOAK_SLOT, ACCESS_ALL | IBV_ACCESS_ON_DEMAND);
	ia.send_cq = ia.recv_cq = p->acq;
	p->a = ibv_create_qp(S.pd[0], &ia);
	ia.send_cq = ia.recv_cq = p->bcq;
	p->b = ibv_create_qp(S.pd[1], &ia);
	if (!p->amr || !p->rbmr || !p->a || !p->b)
		return -1;
	return rt_rc_connect_qp(p->a, p->b->qp_num, &S.gid[1], 1000 * id, 2000 * id, &o) ||
	       rt_rc_connect_qp(p->b, p->a->qp_num, &S.gid[0], 2000 * id, 1000 * id, &o);
}

/* Waits for one completion of @cq; returns its status, or -1 on timeout. */
static int wait_one(struct ibv_cq *cq)
{
	uint64_t end = rt_ms() + SOAK_STEP_WAIT;
	struct ibv_wc wc;
	int n;

	do {
		n = ibv_poll_cq(cq, 1, &wc);
		if (n > 0)
			return wc.status;
		if (n < 0)
			return -1;
	} while (rt_ms() < end);
	return -1;
}

static int post(struct qp_pair *p, enum ibv_wr_opcode op, uint32_t len, uint64_t raddr,
		uint32_t rkey, uint64_t add)
{
	struct ibv_sge sge = {(uintptr_t)p->abuf, len, p->amr->lkey};
	struct ibv_send_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rkey;
		wr.wr.atomic.compare_add = add;
	} else {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	if (ibv_post_send(p->a, &wr, &bad))
		return -1;
	p->completions++;
	return wait_one(p->acq);
}

static void fill(uint8_t *b, size_t n, uint64_t seed)
{
	size_t i;

	for (i = 0; i < n; i += 8) {
		uint64_t v = seed * 0x9e3779b97f4a7c15ULL + i;

		memcpy(b + i, &v, 8);
	}
}

static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
	return !memcmp(a, b, n);
}

static void fail(struct qp_pair *p, const char *what, enum region r, unsigned int s, int st)
{
	p->errors++;
	fprintf(stderr, "soak: QP %u, %s slot %u: %s (status %d)\n", p->id,
		r == R_ODP ? "ODP" : "pinned", s, what, st);
}

/* One step on slot @s of region @r, which the caller holds. */
static void step(struct qp_pair *p, enum region r, unsigned int s, uint64_t n)
{
	struct slot *sl = &S.slot[r][s];
	uint8_t *t = slot_addr(r, s);
	uint8_t expect[SOAK_SLOT];
	uint32_t rkey = S.mr[r]->rkey;
	uint64_t seed = n * SOAK_QPS + p->id, old;
	int st;

	/* the counter word is the slot's last 8 bytes; the pattern is the rest */
	if (sl->lost || n % 4 == 0) {
		fill(p->abuf, SOAK_SLOT - 8, seed);
		memset(p->abuf + SOAK_SLOT - 8, 0, 8);
		st = post(p, IBV_WR_RDMA_WRITE, SOAK_SLOT, (uintptr_t)t, rkey, 0);
		if (st != IBV_WC_SUCCESS)
			return fail(p, "WRITE", r, s, st);
		if (!same(t, p->abuf, SOAK_SLOT))
			return fail(p, "WRITE landed wrong", r, s, 0);
		p->bytes += SOAK_SLOT;
		sl->lost = false;
		return;
	}
	memcpy(expect, t, SOAK_SLOT);
	switch (n % 4) {
	case 1:
		memset(p->abuf, 0xa5, SOAK_SLOT);
		st = post(p, IBV_WR_RDMA_READ, SOAK_SLOT, (uintptr_t)t, rkey, 0);
		if (st != IBV_WC_SUCCESS)
			return fail(p, "READ", r, s, st);
		if (!same(p->abuf, expect, SOAK_SLOT))
			return fail(p, "READ returned wrong data", r, s, 0);
		p->bytes += SOAK_SLOT;
		break;
	case 2:
		memcpy(&old, t + SOAK_SLOT - 8, 8);
		st = post(p, IBV_WR_ATOMIC_FETCH_AND_ADD, 8, (uintptr_t)t + SOAK_SLOT - 8, rkey, 3);
		if (st != IBV_WC_SUCCESS)
			return fail(p, "FETCH_AND_ADD", r, s, st);
		if (memcmp(p->abuf, &old, 8))
			return fail(p, "FETCH_AND_ADD returned a wrong value", r, s, 0);
		old += 3;
		if (memcmp(t + SOAK_SLOT - 8, &old, 8))
			return fail(p, "FETCH_AND_ADD left a wrong value", r, s, 0);
		p->bytes += 16;
		break;
	case 3: {
		struct ibv_sge sge = {(uintptr_t)p->rbuf, SOAK_SLOT, p->rbmr->lkey};
		struct ibv_recv_wr rwr = {.sg_list = &sge, .num_sge = 1}, *bad;

		fill(p->abuf, SOAK_SLOT, seed ^ 0x55);
		if (ibv_post_recv(p->b, &rwr, &bad))
			return fail(p, "post_recv", r, s, -1);
		st = post(p, IBV_WR_SEND, SOAK_SLOT, 0, 0, 0);
		if (st != IBV_WC_SUCCESS)
			return fail(p, "SEND", r, s, st);
		st = wait_one(p->bcq);
		if (st != IBV_WC_SUCCESS)
			return fail(p, "receive", r, s, st);
		if (!same(p->rbuf, p->abuf, SOAK_SLOT))
			return fail(p, "SEND landed wrong", r, s, 0);
		p->bytes += SOAK_SLOT;
		break;
	}
	}
}

static void *traffic(void *arg)
{
	struct qp_pair *p = arg;
	unsigned int seed = p->id + 1;
	uint64_t n;

	for (n = 0;
	     !__atomic_load_n(&S.stop, __ATOMIC_RELAXED) && rt_ms() < S.deadline && !p->errors;
	     n++) {
		enum region r = n % 2 ? R_PIN : R_ODP;
		unsigned int s = (p->id - 1) * SOAK_SLOTS + rand_r(&seed) % SOAK_SLOTS;

		pthread_mutex_lock(&S.slot[r][s].lock);
		step(p, r, s, n / 2);
		pthread_mutex_unlock(&S.slot[r][s].lock);
		p->steps++;
	}
	return NULL;
}

static void churn_fork(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		memset(S.region[R_ODP], 0x77, SOAK_REGION);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
}

static void churn_slot(enum churn c, enum region r, unsigned int s)
{
	uint8_t *t = slot_addr(r, s);

	switch (c) {
	case C_REMAP:
		munmap(t, SOAK_SLOT);
		if (mmap(t, SOAK_SLOT, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != t) {
			fprintf(stderr, "soak: mmap again: %s\n", strerror(errno));
			abort();
		}
		break;
	case C_DONTNEED:
		madvise(t, SOAK_SLOT, MADV_DONTNEED);
		break;
	case C_PROTECT:
		mprotect(t, SOAK_SLOT, PROT_READ);
		sched_yield();
		mprotect(t, SOAK_SLOT, PROT_READ | PROT_WRITE);
		break;
	default:
		break;
	}
	S.slot[r][s].lost = true;
}

static void *churner(void *arg)
{
	unsigned int seed = 12345;
	uint64_t n;

	for (n = 0; !__atomic_load_n(&S.stop, __ATOMIC_RELAXED) && rt_ms() < S.deadline; n++) {
		enum churn c = rand_r(&seed) % (NR_CHURN * 16);
		enum region r = rand_r(&seed) % 2 ? R_PIN : R_ODP;
		unsigned int s = rand_r(&seed) % (SOAK_QPS * SOAK_SLOTS);

		if (c >= NR_CHURN) /* forks are rarer than the rest */
			c = c % (NR_CHURN - 1);
		if (r == R_PIN && (c == C_REMAP || c == C_DONTNEED))
			c = C_PROTECT;
		if (c == C_FORK) {
			churn_fork();
			S.churn[c]++;
			continue;
		}
		pthread_mutex_lock(&S.slot[r][s].lock);
		churn_slot(c, r, s);
		pthread_mutex_unlock(&S.slot[r][s].lock);
		S.churn[c]++;
		usleep(200);
	}
	return NULL;
}

static int setup(void)
{
	const char *name[2] = {"srxe0", "srxe1"};
	int i, r;

	for (i = 0; i < 2; i++) {
		S.ctx[i] = rt_open(name[i]);
		if (!S.ctx[i] || !(S.pd[i] = ibv_alloc_pd(S.ctx[i])) ||
		    ibv_query_gid(S.ctx[i], 1, 0, &S.gid[i]))
			return -1;
	}
	for (r = 0; r < NR_REGIONS; r++) {
		S.region[r] = mmap(NULL, SOAK_REGION, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (S.region[r] == MAP_FAILED)
			return -1;
		S.mr[r] = ibv_reg_mr(S.pd[1], S.region[r], SOAK_REGION,
				     ACCESS_ALL | (r == R_ODP ? IBV_ACCESS_ON_DEMAND : 0));
		if (!S.mr[r])
			return -1;
		for (i = 0; i < SOAK_QPS * SOAK_SLOTS; i++) {
			pthread_mutex_init(&S.slot[r][i].lock, NULL);
			S.slot[r][i].lost = true;
		}
	}
	for (i = 0; i < SOAK_QPS; i++)
		if (pair_init(&S.qp[i], i + 1))
			return -1;
	return 0;
}

static void print_mr(const char *what, struct ibv_mr *mr)
{
	struct sodp_mr_stats st;

	memset(&st, 0, sizeof(st));
	if (sodp_mr_get_stats(mr, &st))
		return;
	printf("  %-7s MR: %llu faults, %llu pages faulted, %llu RNR NAKs, invalidations "
	       "unmap %llu clear %llu protection %llu fork %llu, revoked %llu\n",
	       what, (unsigned long long)st.faults, (unsigned long long)st.pages_faulted,
	       (unsigned long long)st.rnr_naks, (unsigned long long)st.invalidations[0],
	       (unsigned long long)st.invalidations[1], (unsigned long long)st.invalidations[2],
	       (unsigned long long)st.invalidations[3], (unsigned long long)st.revoked);
}

int main(int argc, char **argv)
{
	uint64_t steps = 0, bytes = 0, completions = 0, errors = 0, t0;
	long rss_warm, rss_end, maps_warm, maps_end;
	int secs = argc > 1 ? atoi(argv[1]) : 60;
	pthread_t ch;
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (secs <= 0 || setup()) {
		fprintf(stderr, "soak: cannot set up (usage: soak [SECONDS])\n");
		return 2;
	}
	/* warm-up: every slot written once, so that the baseline holds it all */
	S.deadline = UINT64_MAX;
	for (i = 0; i < SOAK_QPS; i++) {
		unsigned int s;

		for (s = 0; s < SOAK_SLOTS; s++) {
			step(&S.qp[i], R_ODP, i * SOAK_SLOTS + s, 0);
			step(&S.qp[i], R_PIN, i * SOAK_SLOTS + s, 0);
		}
	}
	rss_warm = status_kb("VmRSS");
	maps_warm = map_count();
	printf("soak: %d s, %d QPs, %u KiB slots, an ODP and a pinned target of %u MiB each\n",
	       secs, SOAK_QPS, SOAK_SLOT >> 10, SOAK_REGION >> 20);
	t0 = rt_ms();
	S.deadline = t0 + (uint64_t)secs * 1000;
	for (i = 0; i < SOAK_QPS; i++)
		pthread_create(&S.qp[i].thread, NULL, traffic, &S.qp[i]);
	pthread_create(&ch, NULL, churner, NULL);
	for (i = 0; i < SOAK_QPS; i++)
		pthread_join(S.qp[i].thread, NULL);
	__atomic_store_n(&S.stop, true, __ATOMIC_RELAXED);
	pthread_join(ch, NULL);
	rss_end = status_kb("VmRSS");
	maps_end = map_count();
	for (i = 0; i < SOAK_QPS; i++) {
		steps += S.qp[i].steps;
		bytes += S.qp[i].bytes;
		completions += S.qp[i].completions;
		errors += S.qp[i].errors;
	}
	printf("  ran %.1f s: %llu steps, %llu completions, %.1f MiB checked, %llu errors\n",
	       (rt_ms() - t0) / 1000.0, (unsigned long long)steps, (unsigned long long)completions,
	       bytes / 1048576.0, (unsigned long long)errors);
	printf("  churn:");
	for (i = 0; i < NR_CHURN; i++)
		printf(" %s %llu", churn_name[i], (unsigned long long)S.churn[i]);
	printf("\n");
	print_mr("ODP", S.mr[R_ODP]);
	print_mr("pinned", S.mr[R_PIN]);
	printf("  memory: VmRSS %ld kB after warm-up, %ld kB at the end (%+ld kB); "
	       "mappings %ld, %ld\n",
	       rss_warm, rss_end, rss_end - rss_warm, maps_warm, maps_end);
	if (errors) {
		printf("soak: FAILED: %llu errors\n", (unsigned long long)errors);
		return 1;
	}
	if (rss_end - rss_warm > (SOAK_RSS_SLACK >> 10) && !SOAK_ASAN) {
		printf("soak: FAILED: resident memory grew by %ld kB\n", rss_end - rss_warm);
		return 1;
	}
	printf("soak: passed\n");
	return 0;
}
