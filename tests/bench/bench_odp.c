// SPDX-License-Identifier: MIT
/*
 * On-demand paging against pinned memory, end to end: one process, two
 * softodp devices (srxe0 = 127.0.0.1 sends, srxe1 = 127.0.0.2 holds the
 * target MRs) and RC QPs between them (min_rnr_timer 1, rnr_retry 7,
 * max_rd_atomic 16, the largest path MTU the device reports up to 4096).
 * Every number is the median of BENCH_REPS runs and is printed as a ratio
 * against its baseline measured in the same run:
 *
 *  1. registration + deregistration time of fresh, untouched anonymous
 *     memory: 1 GiB pinned (which faults it in) against 1 GiB ODP, and ODP
 *     at 4 KiB, 1 GiB and 64 GiB (MAP_NORESERVE), which should be flat;
 *  2. 64 KiB RDMA WRITE bandwidth into a pinned region, a warm ODP region
 *     (touched before registering) and a cold ODP region (fresh, never
 *     touched, one per run), beside a first-touch memset of as much fresh
 *     memory; with 4 KiB pages (MADV_NOHUGEPAGE) and with THP
 *     (MADV_HUGEPAGE), saying how much THP the kernel gave, the cold
 *     target's fault and RNR NAK counters, and whether every byte landed;
 *  3. MTT entries of 1 GiB with 4 KiB pages and with THP, pinned and ODP
 *     after a synchronous ibv_advise_mr(PREFETCH_WRITE);
 *  4. no stall: QP pair A streaming into a warm pinned region alone, and
 *     beside QP pair B on the same two devices, A's longest wait for a
 *     completion showing a stall as such:
 *     a. B streams into 1 GiB of cold ODP memory, over the same window. A
 *        second baseline, A while B streams into warm pinned memory,
 *        separates sharing the devices from stalling on B's faults; here B
 *        faults once per fault window and takes half the engine, so this
 *        mostly measures the sharing;
 *     b. B writes one 4 KiB message, one at a time, at the start of each
 *        4 MiB slot of a fresh 1 GiB cold ODP region (256 slots), so that
 *        every message lands on memory never faulted and the fault worker
 *        allocates and zeroes about 4 MiB per message (the block a message
 *        missed, or the window the responder faults ahead of B's last
 *        WRITE, which reaches into the next slot), while B's own traffic is
 *        negligible: A's bandwidth against A alone isolates what B's faults
 *        cost A. The window closes when B has written every slot, or at
 *        the same limit as in 4a. B's messages completed, faults, RNR NAKs
 *        (a message that found its page missing) and pages faulted are
 *        printed.
 *
 * Pinned and warm targets are BENCH_WARM_LEN, cycled through, after one
 * untimed pass; a cold target is as large as one run's traffic, so every
 * WRITE lands on memory that was never touched.
 *
 * Every measurement is bounded in steps and in time (BENCH_LIMIT_MS); one
 * that runs out is printed as FAILED and the next one runs. A verbs call
 * that does not return within BENCH_STUCK_MS is reported by a watchdog
 * thread, which then ends the process.
 *
 * Usage: bench_odp (no arguments). It binds UDP port 4791 on 127.0.0.1 and
 * 127.0.0.2 (SOFTODP_DEVICES, unless already set), so run it in a network
 * namespace of its own when anything else may be using RoCE on the host:
 *
 *   ip netns add bench; ip netns exec bench ip link set lo up
 *   ip netns exec bench build/tests/bench/bench_odp
 *
 * Pinned registration of 1 GiB needs RLIMIT_MEMLOCK or CAP_IPC_LOCK to lock
 * it all; THP needs /sys/kernel/mm/transparent_hugepage/enabled at
 * "madvise" or "always". Exit status: 0 when it ran (whatever it measured),
 * 1 when the devices or QPs could not be set up, 3 from the watchdog.
 */
#include <endian.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <infiniband/verbs.h>

#include <softodp/mr.h>

#include "rxe_test_util.h"

#define KIB	   (1ULL << 10)
#define MIB	   (1ULL << 20)
#define GIB	   (1ULL << 30)
#define HPAGE_SIZE (2 * MIB) /* a PMD-mapped THP */

#define BENCH_REPS	  3			   /* runs per measurement; the median is printed */
#define BENCH_MSG	  (64 * KIB)		   /* one RDMA WRITE */
#define BENCH_DEPTH	  16			   /* WRITEs in flight per QP */
#define BENCH_SIGNAL	  4			   /* one WRITE in so many is signalled */
#define BENCH_TRAFFIC	  (256 * MIB)		   /* bytes written per bandwidth run */
#define BENCH_WARM_LEN	  (64 * MIB)		   /* pinned and warm targets, cycled through */
#define BENCH_MTT_LEN	  GIB			   /* region of the MTT census */
#define BENCH_BIG_ODP	  (64 * GIB)		   /* ODP registration flat in size */
#define BENCH_COLD_B	  GIB			   /* pair B's cold target in the no-stall check */
#define BENCH_WINDOW_MS	  1000			   /* no-stall window */
#define BENCH_LIMIT_MS	  60000			   /* a measurement taking longer failed */
#define BENCH_DRAIN_MS	  5000			   /* completions still owed after a run */
#define BENCH_STUCK_MS	  (BENCH_LIMIT_MS + 30000) /* a verbs call that never returns */
#define BENCH_MAX_STEPS	  (1ULL << 32)		   /* post/poll rounds of one run */
#define BENCH_IDLE_NS	  10000			   /* sleep when a round did nothing */
#define BENCH_TIMER_SLACK 1000			   /* ns; keeps BENCH_IDLE_NS short */
#define BENCH_PATTERN	  0x5a			   /* every byte the WRITEs carry */
#define BENCH_UNCHECKED	  UINT64_MAX		   /* a failed run's data is not checked */
#define BENCH_CQE	  256
#define BENCH_POLL	  16
#define BENCH_ENDLESS	  UINT64_MAX /* stream budget: until the window closes */
#define BENCH_ACK_TIMEOUT 14	     /* 4.096 us << 14 = 67 ms */
#define BENCH_RETRY	  7
#define BENCH_RNR_RETRY	  7 /* infinite */
#define BENCH_MIN_RNR	  1 /* 0.01 ms */

/*
 * 4b: pair B's cold target, BENCH_COLD_B, in slots of BENCH_SLOT_LEN (lib/odp's
 * SODP_ODP_PREFETCH_MAX, the most a fault window reaches ahead), with one
 * BENCH_SPARSE_MSG WRITE at the start of each.
 */
#define BENCH_SPARSE_MSG (4 * KIB)
#define BENCH_SLOT_LEN	 (4 * MIB)
#define BENCH_SLOTS	 (BENCH_COLD_B / BENCH_SLOT_LEN)

#define BENCH_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE)

enum bench_pages {
	PAGES_DEFAULT, /* no madvise */
	PAGES_4K,      /* MADV_NOHUGEPAGE */
	PAGES_THP,     /* MADV_HUGEPAGE, 2 MiB aligned */
};

static const char *const pages_name[] = {"default", "4 KiB", "THP"};

/* ---- time and the watchdog ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void idle(void)
{
	struct timespec ts = {0, BENCH_IDLE_NS};

	nanosleep(&ts, NULL);
}

/*
 * The watchdog: the main thread names the measurement it starts
 * (watch_begin) and clears it when done (watch_end). The measurement loops
 * enforce BENCH_LIMIT_MS themselves; the watchdog only catches a verbs call
 * that never returns, which no loop can, and ends the process.
 */
static struct {
	pthread_mutex_t lock;
	const char *what;
	uint64_t since;
} watch = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static void watch_begin(const char *what)
{
	pthread_mutex_lock(&watch.lock);
	watch.what = what;
	watch.since = now_ns();
	pthread_mutex_unlock(&watch.lock);
}

static void watch_end(void)
{
	watch_begin(NULL);
}

static void *watch_main(void *arg)
{
	(void)arg;
	for (;;) {
		const char *what;
		uint64_t since;

		sleep(1);
		pthread_mutex_lock(&watch.lock);
		what = watch.what;
		since = watch.since;
		pthread_mutex_unlock(&watch.lock);
		if (what && now_ns() - since > BENCH_STUCK_MS * 1000000ULL) {
			printf("\nFAILED: %s: no return from a verbs call in %d s; giving up\n",
			       what, BENCH_STUCK_MS / 1000);
			fflush(stdout);
			_exit(3);
		}
	}
	return NULL;
}

/* ---- samples: BENCH_REPS runs, their median ---- */

struct sample {
	double v[BENCH_REPS];
	int n;
	const char *fail; /* why a run failed, if one did */
};

static void sample_add(struct sample *s, double v)
{
	if (s->n < BENCH_REPS)
		s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of the runs that succeeded; NAN if none did. */
static double sample_median(const struct sample *s)
{
	double v[BENCH_REPS];

	if (!s->n)
		return NAN;
	memcpy(v, s->v, sizeof(v[0]) * s->n);
	qsort(v, s->n, sizeof(v[0]), cmp_double);
	return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

static void print_sample(const char *label, const struct sample *s, const char *unit)
{
	int i;

	printf("  %-44s ", label);
	if (!s->n) {
		printf("FAILED (%s)\n", s->fail ? s->fail : "no run");
		return;
	}
	printf("%10.3f %-5s  runs:", sample_median(s), unit);
	for (i = 0; i < s->n; i++)
		printf(" %.3f", s->v[i]);
	if (s->fail)
		printf("  (%d FAILED: %s)", BENCH_REPS - s->n, s->fail);
	printf("\n");
}

static void print_ratio(const char *label, double num, double den)
{
	printf("  %-44s ", label);
	if (isnan(num) || isnan(den) || den == 0)
		printf("%10s\n", "n/a");
	else
		printf(num / den >= 100 ? "%10.0f x\n" : "%10.3f x\n", num / den);
}

/* ---- memory ---- */

struct region {
	void *map; /* what mmap returned */
	size_t map_len;
	uint8_t *addr; /* @len bytes, 2 MiB aligned for THP */
	size_t len;
};

static int region_map(struct region *r, size_t len, enum bench_pages pages, bool noreserve)
{
	size_t slop = pages == PAGES_THP ? HPAGE_SIZE : 0;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0);

	memset(r, 0, sizeof(*r));
	r->map_len = len + slop;
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -errno;
	}
	r->addr = r->map;
	if (slop)
		r->addr = (uint8_t *)(((uintptr_t)r->map + slop - 1) & ~(uintptr_t)(slop - 1));
	r->len = len;
	if (pages == PAGES_THP && madvise(r->addr, len, MADV_HUGEPAGE))
		return -errno;
	if (pages == PAGES_4K && madvise(r->addr, len, MADV_NOHUGEPAGE))
		return -errno;
	return 0;
}

static void region_unmap(struct region *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
	memset(r, 0, sizeof(*r));
}

/* AnonHugePages of the mappings overlapping @r, from /proc/self/smaps; -1 if unknown. */
static long long region_thp_bytes(const struct region *r)
{
	uintptr_t lo = (uintptr_t)r->addr, hi = lo + r->len;
	unsigned long start, end;
	long long total = -1, kb;
	bool in = false;
	char line[512];
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in = start < hi && end > lo;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %lld kB", &kb) == 1)
			total = (total < 0 ? 0 : total) + kb * (long long)KIB;
	}
	fclose(f);
	return total;
}

static double first_touch_gbps(size_t len, enum bench_pages pages, long long *thp)
{
	struct region r;
	uint64_t t0, t1;

	if (region_map(&r, len, pages, false)) {
		region_unmap(&r);
		return NAN;
	}
	t0 = now_ns();
	memset(r.addr, 1, len);
	t1 = now_ns();
	*thp = region_thp_bytes(&r);
	region_unmap(&r);
	return len / ((t1 - t0) / 1e9) / 1e9;
}

/* Messages of [addr, addr + len) that do not hold what the WRITEs carried. */
static uint64_t bad_messages(const uint8_t *addr, size_t len)
{
	uint64_t bad = 0;
	size_t off, i;

	for (off = 0; off + BENCH_MSG <= len; off += BENCH_MSG) {
		for (i = 0; i < BENCH_MSG && addr[off + i] == BENCH_PATTERN; i++)
			;
		bad += i < BENCH_MSG;
	}
	return bad;
}

static void print_bad(const char *what, const uint64_t *bad, int n)
{
	int i;

	printf("    data check, %s (messages not as written) per run:", what);
	for (i = 0; i < n; i++) {
		if (bad[i] == BENCH_UNCHECKED)
			printf(" -");
		else
			printf(" %llu", (unsigned long long)bad[i]);
	}
	printf("\n");
}

/* ---- devices and QP pairs ---- */

struct bench_dev {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	union ibv_gid gid;
};

/* An RC QP on srxe0 (sends) connected to one on srxe1 (the target). */
struct bench_pair {
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2];
	uint8_t *src; /* BENCH_DEPTH messages, one per WRITE in flight */
	struct ibv_mr *src_mr;
	bool broken; /* completions lost: rebuild before use */
};

struct bench {
	struct bench_dev dev[2];
	enum ibv_mtu mtu;
	struct bench_pair a, b;
};

static int bench_dev_open(struct bench_dev *d, const char *name)
{
	d->ctx = rt_open(name);
	if (!d->ctx) {
		fprintf(stderr, "cannot open %s (SOFTODP_DEVICES?)\n", name);
		return -1;
	}
	d->pd = ibv_alloc_pd(d->ctx);
	if (!d->pd || ibv_query_gid(d->ctx, 1, 0, &d->gid)) {
		fprintf(stderr, "%s: no PD or GID\n", name);
		return -1;
	}
	return 0;
}

static void bench_dev_close(struct bench_dev *d)
{
	if (d->pd)
		ibv_dealloc_pd(d->pd);
	if (d->ctx)
		ibv_close_device(d->ctx);
	memset(d, 0, sizeof(*d));
}

static void pair_destroy(struct bench_pair *p)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (p->qp[i])
			ibv_destroy_qp(p->qp[i]);
		if (p->cq[i])
			ibv_destroy_cq(p->cq[i]);
	}
	if (p->src_mr)
		ibv_dereg_mr(p->src_mr);
	free(p->src);
	memset(p, 0, sizeof(*p));
}

static int pair_create(struct bench *b, struct bench_pair *p)
{
	struct rt_conn_opts o = {
		.timeout = BENCH_ACK_TIMEOUT,
		.retry_cnt = BENCH_RETRY,
		.rnr_retry = BENCH_RNR_RETRY,
		.min_rnr_timer = BENCH_MIN_RNR,
		.mtu = b->mtu,
		.access = BENCH_ACCESS,
	};
	struct ibv_qp_init_attr ia;
	int i;

	memset(p, 0, sizeof(*p));
	p->src = aligned_alloc(4096, BENCH_DEPTH * BENCH_MSG);
	if (!p->src)
		goto err;
	memset(p->src, BENCH_PATTERN, BENCH_DEPTH * BENCH_MSG);
	p->src_mr =
		ibv_reg_mr(b->dev[0].pd, p->src, BENCH_DEPTH * BENCH_MSG, IBV_ACCESS_LOCAL_WRITE);
	if (!p->src_mr)
		goto err;
	for (i = 0; i < 2; i++) {
		p->cq[i] = ibv_create_cq(b->dev[i].ctx, BENCH_CQE, NULL, NULL, 0);
		if (!p->cq[i])
			goto err;
		memset(&ia, 0, sizeof(ia));
		ia.send_cq = p->cq[i];
		ia.recv_cq = p->cq[i];
		ia.qp_type = IBV_QPT_RC;
		ia.cap.max_send_wr = BENCH_DEPTH;
		ia.cap.max_recv_wr = 1;
		ia.cap.max_send_sge = 1;
		ia.cap.max_recv_sge = 1;
		p->qp[i] = ibv_create_qp(b->dev[i].pd, &ia);
		if (!p->qp[i])
			goto err;
	}
	for (i = 0; i < 2; i++)
		if (rt_rc_connect_qp(p->qp[i], p->qp[1 - i]->qp_num, &b->dev[1 - i].gid, i + 1,
				     2 - i, &o))
			goto err;
	return 0;
err:
	fprintf(stderr, "cannot set up an RC QP pair: %s\n", strerror(errno));
	pair_destroy(p);
	return -1;
}

/* A pair that lost completions is replaced before its next run. */
static int pair_ready(struct bench *b, struct bench_pair *p)
{
	if (p->qp[0] && !p->broken)
		return 0;
	pair_destroy(p);
	return pair_create(b, p);
}

/* ---- streams of WRITEs ---- */

/*
 * How a stream writes: messages of @msg bytes, @stride apart in the target,
 * posted in chains of @chain WRs whose last one is signalled (an RC
 * completion retires the unsignalled WRs before it), at most @depth in
 * flight. @chain is at most BENCH_SIGNAL and divides @depth.
 */
struct stream_shape {
	uint32_t msg;
	size_t stride;
	unsigned int chain;
	unsigned int depth;
};

/* Back to back 64 KiB WRITEs: the bandwidth streams. */
static const struct stream_shape shape_dense = {BENCH_MSG, BENCH_MSG, BENCH_SIGNAL, BENCH_DEPTH};

/* One small WRITE per BENCH_SLOT_LEN, one at a time: fresh memory for each. */
static const struct stream_shape shape_sparse = {BENCH_SPARSE_MSG, BENCH_SLOT_LEN, 1, 1};

/*
 * One QP pair writing messages of @shape into [raddr, raddr + rlen),
 * cycling through it.
 */
struct stream {
	struct bench_pair *p;
	const struct stream_shape *shape;
	uint64_t raddr;
	size_t rlen;
	uint32_t rkey;
	uint64_t budget;	 /* bytes to write, or BENCH_ENDLESS */
	uint64_t posted;	 /* bytes posted */
	uint64_t done;		 /* bytes completed */
	uint64_t done_in_window; /* bytes completed when the window closed */
	size_t off;		 /* next target offset */
	unsigned int inflight;	 /* WRs posted and not completed */
	unsigned int slot;	 /* next source message */
	uint64_t last_cqe;	 /* ns: the window's start, then the last completion */
	uint64_t max_gap;	 /* ns: longest wait for a completion in the window */
	bool stopped;		 /* post nothing more */
	const char *fail;
};

static void stream_init(struct stream *s, struct bench_pair *p, const struct stream_shape *shape,
			const void *addr, size_t len, uint32_t rkey, uint64_t budget)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->shape = shape;
	s->raddr = (uintptr_t)addr;
	s->rlen = len;
	s->rkey = rkey;
	s->budget = budget;
}

static bool stream_complete(const struct stream *s)
{
	return s->posted >= s->budget && !s->inflight;
}

static int stream_post_chain(struct stream *s)
{
	const struct stream_shape *sh = s->shape;
	struct ibv_send_wr wr[BENCH_SIGNAL], *bad;
	struct ibv_sge sge[BENCH_SIGNAL];
	unsigned int i;

	memset(wr, 0, sizeof(wr));
	for (i = 0; i < sh->chain; i++) {
		sge[i].addr = (uintptr_t)s->p->src + (uint64_t)s->slot * BENCH_MSG;
		sge[i].length = sh->msg;
		sge[i].lkey = s->p->src_mr->lkey;
		s->slot = (s->slot + 1) % BENCH_DEPTH;
		wr[i].sg_list = &sge[i];
		wr[i].num_sge = 1;
		wr[i].opcode = IBV_WR_RDMA_WRITE;
		wr[i].wr.rdma.remote_addr = s->raddr + s->off;
		wr[i].wr.rdma.rkey = s->rkey;
		wr[i].next = i + 1 < sh->chain ? &wr[i + 1] : NULL;
		wr[i].send_flags = i + 1 < sh->chain ? 0 : IBV_SEND_SIGNALED;
		s->off += sh->stride;
		if (s->off + sh->msg > s->rlen)
			s->off = 0;
	}
	if (ibv_post_send(s->p->qp[0], wr, &bad))
		return -1;
	s->inflight += sh->chain;
	s->posted += (uint64_t)sh->chain * sh->msg;
	return 0;
}

/* Posts what the window allows and reaps completions; returns the work done. */
static int stream_step(struct stream *s)
{
	struct ibv_wc wc[BENCH_POLL];
	int i, n, work = 0;

	while (!s->stopped && !s->fail && s->posted < s->budget &&
	       s->inflight + s->shape->chain <= s->shape->depth) {
		if (stream_post_chain(s)) {
			s->fail = "ibv_post_send failed";
			break;
		}
		work++;
	}
	n = ibv_poll_cq(s->p->cq[0], BENCH_POLL, wc);
	if (n < 0) {
		s->fail = "ibv_poll_cq failed";
		return work;
	}
	if (n > 0 && !s->stopped) {
		uint64_t t = now_ns();

		if (t - s->last_cqe > s->max_gap)
			s->max_gap = t - s->last_cqe;
		s->last_cqe = t;
	}
	for (i = 0; i < n; i++) {
		if (wc[i].status != IBV_WC_SUCCESS && !s->fail)
			s->fail = ibv_wc_status_str(wc[i].status);
		s->inflight -= s->shape->chain;
		s->done += (uint64_t)s->shape->chain * s->shape->msg;
	}
	return work + n;
}

/*
 * Runs @n streams together until @window_ms has passed (0: no window),
 * @until has completed (NULL: every stream has), or BENCH_LIMIT_MS.
 * Returns the seconds the window lasted, each stream's done_in_window set,
 * and drains what is still in flight. A stream that failed or could not be
 * drained marks its pair broken. Returns -1 on failure (the stream says why).
 */
static double streams_run(struct stream **s, int n, unsigned int window_ms, struct stream *until)
{
	uint64_t t0 = now_ns(), t = t0, end, steps;
	bool failed = false, all;
	int i, work;

	for (i = 0; i < n; i++)
		s[i]->last_cqe = t0;
	for (steps = 0; steps < BENCH_MAX_STEPS; steps++) {
		for (i = 0, work = 0, all = true; i < n; i++) {
			work += stream_step(s[i]);
			failed |= !!s[i]->fail;
			all &= stream_complete(s[i]);
		}
		t = now_ns();
		if (failed)
			break;
		if (window_ms && t - t0 >= window_ms * 1000000ULL)
			break;
		if (until ? stream_complete(until) : (!window_ms && all))
			break;
		if (t - t0 >= BENCH_LIMIT_MS * 1000000ULL) {
			for (i = 0; i < n; i++)
				s[i]->fail = "timeout";
			failed = true;
			break;
		}
		if (!work)
			idle();
	}
	if (steps == BENCH_MAX_STEPS) {
		for (i = 0; i < n; i++)
			s[i]->fail = "too many steps";
		failed = true;
	}
	for (i = 0; i < n; i++) {
		s[i]->done_in_window = s[i]->done;
		s[i]->stopped = true;
	}
	end = now_ns() + BENCH_DRAIN_MS * 1000000ULL;
	for (steps = 0; steps < BENCH_MAX_STEPS && now_ns() < end; steps++) {
		for (i = 0, all = true, work = 0; i < n; i++) {
			if (s[i]->inflight && !s[i]->fail)
				work += stream_step(s[i]);
			all &= !s[i]->inflight || s[i]->fail;
		}
		if (all)
			break;
		if (!work)
			idle();
	}
	for (i = 0; i < n; i++) {
		if (s[i]->inflight && !s[i]->fail)
			s[i]->fail = "completions missing after the run";
		if (s[i]->fail)
			s[i]->p->broken = true;
	}
	return failed ? -1 : (t - t0) / 1e9;
}

/* One stream of @budget bytes alone; GB/s or NAN (and the reason in @fail). */
static double stream_gbps(struct bench *b, struct bench_pair *p, const void *addr, size_t len,
			  uint32_t rkey, uint64_t budget, const char **fail)
{
	struct stream s, *sp = &s;
	double secs;

	if (pair_ready(b, p)) {
		*fail = "no QP pair";
		return NAN;
	}
	stream_init(&s, p, &shape_dense, addr, len, rkey, budget);
	secs = streams_run(&sp, 1, 0, NULL);
	if (secs < 0) {
		*fail = s.fail;
		return NAN;
	}
	return s.done_in_window / secs / 1e9;
}

static struct ibv_mr *reg_target(struct bench *b, void *addr, size_t len, bool odp)
{
	struct ibv_mr *mr = ibv_reg_mr(b->dev[1].pd, addr, len,
				       BENCH_ACCESS | (odp ? IBV_ACCESS_ON_DEMAND : 0));

	if (!mr)
		printf("  ibv_reg_mr(%s, %zu MiB): %s\n", odp ? "ODP" : "pinned",
		       (size_t)(len / MIB), strerror(errno));
	return mr;
}

static void mr_stats(struct ibv_mr *mr, struct sodp_mr_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (sodp_mr_get_stats(mr, st))
		printf("  sodp_mr_get_stats failed\n");
}

/* ---- 1. registration ---- */

/* ibv_reg_mr + ibv_dereg_mr of fresh memory, in ms; NAN on failure. */
static double reg_dereg_ms(struct bench *b, size_t len, bool odp, bool noreserve)
{
	struct ibv_mr *mr;
	struct region r;
	uint64_t t0, t1;

	if (region_map(&r, len, PAGES_DEFAULT, noreserve)) {
		printf("  mmap(%zu MiB): %s\n", (size_t)(len / MIB), strerror(errno));
		return NAN;
	}
	t0 = now_ns();
	mr = reg_target(b, r.addr, len, odp);
	if (mr)
		ibv_dereg_mr(mr);
	t1 = now_ns();
	region_unmap(&r);
	return mr ? (t1 - t0) / 1e6 : NAN;
}

static void bench_registration(struct bench *b)
{
	static const struct {
		const char *label;
		size_t len;
		bool odp, noreserve;
	} cases[] = {
		{"pinned 1 GiB", GIB, false, false},
		{"ODP 4 KiB", 4 * KIB, true, false},
		{"ODP 1 GiB", GIB, true, false},
		{"ODP 64 GiB (MAP_NORESERVE)", BENCH_BIG_ODP, true, true},
	};
	struct sample s[4];
	int i, rep;

	printf("\n1. Registration + deregistration of fresh, untouched anonymous memory\n");
	memset(s, 0, sizeof(s));
	for (rep = 0; rep < BENCH_REPS; rep++) {
		for (i = 0; i < 4; i++) {
			double ms;

			watch_begin(cases[i].label);
			ms = reg_dereg_ms(b, cases[i].len, cases[i].odp, cases[i].noreserve);
			watch_end();
			if (isnan(ms))
				s[i].fail = "ibv_reg_mr failed";
			else
				sample_add(&s[i], ms);
		}
	}
	for (i = 0; i < 4; i++)
		print_sample(cases[i].label, &s[i], "ms");
	print_ratio("pinned / ODP at 1 GiB", sample_median(&s[0]), sample_median(&s[2]));
	print_ratio("ODP 1 GiB / ODP 4 KiB", sample_median(&s[2]), sample_median(&s[1]));
	print_ratio("ODP 64 GiB / ODP 4 KiB", sample_median(&s[3]), sample_median(&s[1]));
}

/* ---- 2. WRITE bandwidth ---- */

static void print_thp(const char *what, long long bytes, size_t len)
{
	if (bytes < 0)
		printf("    %-42s AnonHugePages unknown\n", what);
	else
		printf("    %-42s AnonHugePages %lld of %zu MiB (%.0f%%)\n", what,
		       bytes / (long long)MIB, (size_t)(len / MIB), 100.0 * bytes / len);
}

/* Pinned or warm ODP: touched, registered, one untimed pass, then the runs. */
static void bw_resident(struct bench *b, enum bench_pages pages, bool odp, struct sample *s,
			long long *thp, struct sodp_mr_stats *warmup, struct sodp_mr_stats *st)
{
	const char *fail = NULL;
	struct ibv_mr *mr;
	struct region r;
	int rep;

	*thp = -1;
	if (region_map(&r, BENCH_WARM_LEN, pages, false)) {
		s->fail = "mmap failed";
		goto out;
	}
	memset(r.addr, 1, r.len);
	*thp = region_thp_bytes(&r);
	mr = reg_target(b, r.addr, r.len, odp);
	if (!mr) {
		s->fail = "ibv_reg_mr failed";
		goto out;
	}
	watch_begin(odp ? "WRITE into warm ODP" : "WRITE into pinned");
	stream_gbps(b, &b->a, r.addr, r.len, mr->rkey, BENCH_TRAFFIC, &fail);
	mr_stats(mr, warmup);
	for (rep = 0; rep < BENCH_REPS; rep++) {
		double v = stream_gbps(b, &b->a, r.addr, r.len, mr->rkey, BENCH_TRAFFIC, &fail);

		if (isnan(v))
			s->fail = fail;
		else
			sample_add(s, v);
	}
	watch_end();
	mr_stats(mr, st);
	ibv_dereg_mr(mr);
out:
	region_unmap(&r);
}

struct cold_run {
	uint64_t faults, rnr_naks, pages_faulted, bad;
	long long thp;
};

/* Cold ODP: a fresh region per run, never touched, as large as the traffic. */
static void bw_cold(struct bench *b, enum bench_pages pages, struct sample *s, struct cold_run *cr)
{
	struct sodp_mr_stats st;
	const char *fail = NULL;
	struct ibv_mr *mr;
	struct region r;
	int rep;

	for (rep = 0; rep < BENCH_REPS; rep++) {
		double v;

		cr[rep].thp = -1;
		if (region_map(&r, BENCH_TRAFFIC, pages, false)) {
			s->fail = "mmap failed";
			region_unmap(&r);
			continue;
		}
		mr = reg_target(b, r.addr, r.len, true);
		if (!mr) {
			s->fail = "ibv_reg_mr failed";
			region_unmap(&r);
			continue;
		}
		watch_begin("WRITE into cold ODP");
		v = stream_gbps(b, &b->a, r.addr, r.len, mr->rkey, BENCH_TRAFFIC, &fail);
		watch_end();
		if (isnan(v))
			s->fail = fail;
		else
			sample_add(s, v);
		mr_stats(mr, &st);
		cr[rep].faults = st.faults;
		cr[rep].rnr_naks = st.rnr_naks;
		cr[rep].pages_faulted = st.pages_faulted;
		cr[rep].thp = region_thp_bytes(&r);
		cr[rep].bad = isnan(v) ? BENCH_UNCHECKED : bad_messages(r.addr, r.len);
		ibv_dereg_mr(mr);
		region_unmap(&r);
	}
}

static void bench_bandwidth(struct bench *b, enum bench_pages pages)
{
	struct sample pinned = {0}, warm = {0}, cold = {0}, touch = {0};
	struct sodp_mr_stats pst, wst, pwu, wwu;
	struct cold_run cr[BENCH_REPS];
	uint64_t bad[BENCH_REPS];
	long long pthp, wthp, mthp = -1;
	double best;
	int rep;

	printf("\n2. 64 KiB RDMA WRITE bandwidth, %s pages (%s), %llu MiB per run, "
	       "%d in flight, signalled every %d\n",
	       pages_name[pages], pages == PAGES_THP ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE",
	       BENCH_TRAFFIC / MIB, BENCH_DEPTH, BENCH_SIGNAL);
	memset(cr, 0, sizeof(cr));
	for (rep = 0; rep < BENCH_REPS; rep++)
		cr[rep].bad = BENCH_UNCHECKED;
	memset(&pst, 0, sizeof(pst));
	memset(&wst, 0, sizeof(wst));
	memset(&wwu, 0, sizeof(wwu));
	bw_resident(b, pages, false, &pinned, &pthp, &pwu, &pst);
	bw_resident(b, pages, true, &warm, &wthp, &wwu, &wst);
	bw_cold(b, pages, &cold, cr);
	for (rep = 0; rep < BENCH_REPS; rep++) {
		double v = first_touch_gbps(BENCH_TRAFFIC, pages, &mthp);

		if (isnan(v))
			touch.fail = "mmap failed";
		else
			sample_add(&touch, v);
	}
	print_sample("pinned (64 MiB, cycled)", &pinned, "GB/s");
	print_sample("warm ODP (64 MiB, touched, cycled)", &warm, "GB/s");
	print_sample("cold ODP (256 MiB fresh per run)", &cold, "GB/s");
	print_sample("first-touch memset (256 MiB fresh)", &touch, "GB/s");
	print_ratio("warm ODP / pinned", sample_median(&warm), sample_median(&pinned));
	best = fmin(sample_median(&warm), sample_median(&touch));
	print_ratio("cold ODP / min(warm ODP, memset)", sample_median(&cold), best);
	printf("    cold ODP target per run:");
	for (rep = 0; rep < BENCH_REPS; rep++)
		printf("%s faults %llu, rnr_naks %llu, pages_faulted %llu", rep ? ";" : "",
		       (unsigned long long)cr[rep].faults, (unsigned long long)cr[rep].rnr_naks,
		       (unsigned long long)cr[rep].pages_faulted);
	printf("\n    warm ODP target: untimed warm-up pass faults %llu, rnr_naks %llu; "
	       "timed runs faults %llu, rnr_naks %llu\n",
	       (unsigned long long)wwu.faults, (unsigned long long)wwu.rnr_naks,
	       (unsigned long long)(wst.faults - wwu.faults),
	       (unsigned long long)(wst.rnr_naks - wwu.rnr_naks));
	for (rep = 0; rep < BENCH_REPS; rep++)
		bad[rep] = cr[rep].bad;
	print_bad("cold ODP target", bad, BENCH_REPS);
	printf("    MTT after the runs: pinned %llu entries (order0 %llu, order9 %llu), "
	       "warm ODP %llu entries (order0 %llu, order9 %llu)\n",
	       (unsigned long long)pst.entries, (unsigned long long)pst.entries_by_order[0],
	       (unsigned long long)pst.entries_by_order[9], (unsigned long long)wst.entries,
	       (unsigned long long)wst.entries_by_order[0],
	       (unsigned long long)wst.entries_by_order[9]);
	print_thp("pinned target:", pthp, BENCH_WARM_LEN);
	print_thp("warm ODP target:", wthp, BENCH_WARM_LEN);
	print_thp("cold ODP target after the last run:", cr[BENCH_REPS - 1].thp, BENCH_TRAFFIC);
	print_thp("memset region:", mthp, BENCH_TRAFFIC);
}

/* ---- 3. MTT census ---- */

static void mtt_one(struct bench *b, enum bench_pages pages, bool odp)
{
	struct sodp_mr_stats st;
	struct ibv_sge sge;
	struct ibv_mr *mr;
	struct region r;
	uint64_t t0, t1;
	int ret = 0;

	printf("  %-7s %-22s ", pages_name[pages], odp ? "ODP + PREFETCH_WRITE" : "pinned");
	if (region_map(&r, BENCH_MTT_LEN, pages, false)) {
		printf("mmap failed\n");
		goto out;
	}
	watch_begin("MTT census");
	t0 = now_ns();
	mr = ibv_reg_mr(b->dev[1].pd, r.addr, r.len,
			BENCH_ACCESS | (odp ? IBV_ACCESS_ON_DEMAND : 0));
	if (mr && odp) {
		sge.addr = (uintptr_t)r.addr;
		sge.length = r.len;
		sge.lkey = mr->lkey;
		ret = ibv_advise_mr(b->dev[1].pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
	}
	t1 = now_ns();
	watch_end();
	if (!mr) {
		printf("ibv_reg_mr: %s\n", strerror(errno));
		goto out;
	}
	mr_stats(mr, &st);
	printf("%8llu %8llu %8llu %8llu %9.1f ms   THP %4lld MiB%s%s\n",
	       (unsigned long long)st.entries, (unsigned long long)st.entries_by_order[0],
	       (unsigned long long)st.entries_by_order[9],
	       (unsigned long long)st.entries_by_order[18], (t1 - t0) / 1e6,
	       region_thp_bytes(&r) / (long long)MIB, ret ? "  ibv_advise_mr: " : "",
	       ret ? strerror(ret) : "");
	ibv_dereg_mr(mr);
out:
	region_unmap(&r);
}

static void bench_mtt(struct bench *b)
{
	printf("\n3. MTT entries of 1 GiB of fresh memory (one run each)\n");
	printf("  %-7s %-22s %8s %8s %8s %8s %12s\n", "pages", "registration", "entries", "order0",
	       "order9", "order18", "reg+advise");
	mtt_one(b, PAGES_4K, false);
	mtt_one(b, PAGES_THP, false);
	mtt_one(b, PAGES_4K, true);
	mtt_one(b, PAGES_THP, true);
}

/* ---- 4. no stall: 4a, B streaming ---- */

/* Where and how one QP pair writes: a region, its rkey, the shape, how much to write. */
struct target {
	const void *addr;
	size_t len;
	uint32_t rkey;
	const struct stream_shape *shape;
	uint64_t budget; /* bytes; BENCH_ENDLESS: for the whole window */
};

struct no_stall {
	struct sample a_bw, a_gap_ms, b_bw;
};

/* One run's window: how long it lasted, and the bytes B completed in it and in all. */
struct no_stall_window {
	double secs;
	uint64_t b_in_window;
	uint64_t b_done; /* after the drain; BENCH_UNCHECKED if the run failed */
};

/*
 * Pair A into @ta for BENCH_WINDOW_MS, alone or beside pair B into @tb; the
 * window closes early when B has written its budget. A's bandwidth and
 * longest wait for a completion, and B's bandwidth, over the window; the
 * window itself in @w (may be NULL).
 */
static void no_stall_run(struct bench *b, const struct target *ta, const struct target *tb,
			 struct no_stall *ns, struct no_stall_window *w)
{
	struct stream sa, sb, *s[2] = {&sa, &sb};
	double secs;

	memset(&sb, 0, sizeof(sb));
	if (w) {
		memset(w, 0, sizeof(*w));
		w->b_done = BENCH_UNCHECKED;
	}
	if (pair_ready(b, &b->a) || (tb && pair_ready(b, &b->b))) {
		ns->a_bw.fail = ns->a_gap_ms.fail = ns->b_bw.fail = "no QP pair";
		return;
	}
	stream_init(&sa, &b->a, ta->shape, ta->addr, ta->len, ta->rkey, ta->budget);
	if (tb)
		stream_init(&sb, &b->b, tb->shape, tb->addr, tb->len, tb->rkey, tb->budget);
	secs = streams_run(s, tb ? 2 : 1, BENCH_WINDOW_MS,
			   tb && tb->budget != BENCH_ENDLESS ? &sb : NULL);
	if (secs < 0) {
		ns->a_bw.fail = sa.fail ? sa.fail : sb.fail;
		ns->a_gap_ms.fail = ns->b_bw.fail = ns->a_bw.fail;
		return;
	}
	sample_add(&ns->a_bw, sa.done_in_window / secs / 1e9);
	sample_add(&ns->a_gap_ms, sa.max_gap / 1e6);
	if (tb)
		sample_add(&ns->b_bw, sb.done_in_window / secs / 1e9);
	if (w) {
		w->secs = secs;
		w->b_in_window = sb.done_in_window;
		w->b_done = sb.done;
	}
}

/* A resident target of BENCH_WARM_LEN: touched, then registered pinned. */
static int warm_pinned(struct bench *b, struct region *r, struct ibv_mr **mr, struct target *t)
{
	*mr = NULL;
	if (region_map(r, BENCH_WARM_LEN, PAGES_DEFAULT, false))
		return -1;
	memset(r->addr, 1, r->len);
	*mr = reg_target(b, r->addr, r->len, false);
	if (!*mr)
		return -1;
	t->addr = r->addr;
	t->len = r->len;
	t->rkey = (*mr)->rkey;
	t->shape = &shape_dense;
	t->budget = BENCH_ENDLESS;
	return 0;
}

/*
 * Pair B's cold target: @r fresh, 4 KiB pages, never touched, registered
 * ODP; B writes it in @shape, @budget bytes. NULL (and why in @fail) if it
 * cannot be had.
 */
static struct ibv_mr *cold_target(struct bench *b, struct region *r,
				  const struct stream_shape *shape, uint64_t budget,
				  struct target *t, const char **fail)
{
	struct ibv_mr *mr;

	if (region_map(r, BENCH_COLD_B, PAGES_4K, false)) {
		*fail = "mmap failed";
		region_unmap(r);
		return NULL;
	}
	mr = reg_target(b, r->addr, r->len, true);
	if (!mr) {
		*fail = "ibv_reg_mr failed";
		region_unmap(r);
		return NULL;
	}
	t->addr = r->addr;
	t->len = r->len;
	t->rkey = mr->rkey;
	t->shape = shape;
	t->budget = budget;
	return mr;
}

static void bench_no_stall(struct bench *b)
{
	struct no_stall alone, beside_pinned, beside_cold;
	uint64_t faults[BENCH_REPS] = {0}, rnr[BENCH_REPS] = {0};
	uint64_t bad[BENCH_REPS];
	struct no_stall_window win[BENCH_REPS];
	struct ibv_mr *amr = NULL, *bpmr = NULL, *bmr;
	struct region ar, bpr, br;
	struct target ta, tbp, tb;
	struct sodp_mr_stats st;
	int rep;

	printf("\n4a. No stall, B streaming: pair A into %llu MiB of warm pinned memory; pair B "
	       "streams into %llu MiB of cold ODP (4 KiB pages, new per run)\n",
	       BENCH_WARM_LEN / MIB, BENCH_COLD_B / MIB);
	for (rep = 0; rep < BENCH_REPS; rep++)
		bad[rep] = BENCH_UNCHECKED;
	memset(win, 0, sizeof(win));
	memset(&alone, 0, sizeof(alone));
	memset(&beside_pinned, 0, sizeof(beside_pinned));
	memset(&beside_cold, 0, sizeof(beside_cold));
	memset(&bpr, 0, sizeof(bpr));
	if (warm_pinned(b, &ar, &amr, &ta) || warm_pinned(b, &bpr, &bpmr, &tbp)) {
		printf("  FAILED: no pinned target\n");
		goto out;
	}
	for (rep = 0; rep < BENCH_REPS; rep++) {
		watch_begin("no stall: A alone");
		no_stall_run(b, &ta, NULL, &alone, NULL);
		watch_begin("no stall: A beside B into pinned");
		no_stall_run(b, &ta, &tbp, &beside_pinned, NULL);
		watch_end();

		bmr = cold_target(b, &br, &shape_dense, BENCH_COLD_B, &tb, &beside_cold.a_bw.fail);
		if (!bmr)
			continue;
		watch_begin("no stall: A beside B into cold ODP");
		no_stall_run(b, &ta, &tb, &beside_cold, &win[rep]);
		watch_end();
		mr_stats(bmr, &st);
		faults[rep] = st.faults;
		rnr[rep] = st.rnr_naks;
		/* B's budget is its region: what it completed is a prefix of it */
		bad[rep] = win[rep].b_done == BENCH_UNCHECKED
				   ? BENCH_UNCHECKED
				   : bad_messages(br.addr, win[rep].b_done);
		ibv_dereg_mr(bmr);
		region_unmap(&br);
	}
	print_sample("A alone", &alone.a_bw, "GB/s");
	print_sample("A while B streams into warm pinned", &beside_pinned.a_bw, "GB/s");
	print_sample("A while B streams into cold ODP", &beside_cold.a_bw, "GB/s");
	print_sample("  B into warm pinned, same window", &beside_pinned.b_bw, "GB/s");
	print_sample("  B into cold ODP, same window", &beside_cold.b_bw, "GB/s");
	print_sample("A's longest completion wait, alone", &alone.a_gap_ms, "ms");
	print_sample("  beside B into warm pinned", &beside_pinned.a_gap_ms, "ms");
	print_sample("  beside B into cold ODP", &beside_cold.a_gap_ms, "ms");
	print_ratio("A while B streams cold ODP / A alone", sample_median(&beside_cold.a_bw),
		    sample_median(&alone.a_bw));
	print_ratio("A: B into cold ODP / B into warm pinned", sample_median(&beside_cold.a_bw),
		    sample_median(&beside_pinned.a_bw));
	printf("    cold window per run (s, until B wrote 1 GiB or %d ms):", BENCH_WINDOW_MS);
	for (rep = 0; rep < BENCH_REPS; rep++)
		printf(" %.3f", win[rep].secs);
	printf("\n    B's cold target per run:");
	for (rep = 0; rep < BENCH_REPS; rep++)
		printf("%s faults %llu, rnr_naks %llu", rep ? ";" : "",
		       (unsigned long long)faults[rep], (unsigned long long)rnr[rep]);
	printf("\n");
	print_bad("B's cold target, completed part", bad, BENCH_REPS);
out:
	if (bpmr)
		ibv_dereg_mr(bpmr);
	if (amr)
		ibv_dereg_mr(amr);
	region_unmap(&bpr);
	region_unmap(&ar);
}

/* ---- 4b. no stall: B faulting slot by slot ---- */

/*
 * Of the first @messages slots of B's sparse target, those whose message
 * does not hold what B wrote, or whose next byte (zeroed by the fault, never
 * written) is not 0.
 */
static uint64_t sparse_bad(const uint8_t *addr, uint64_t messages)
{
	uint64_t bad = 0, k;
	size_t i;

	for (k = 0; k < messages; k++) {
		const uint8_t *m = addr + k * BENCH_SLOT_LEN;

		for (i = 0; i < BENCH_SPARSE_MSG && m[i] == BENCH_PATTERN; i++)
			;
		bad += i < BENCH_SPARSE_MSG || m[BENCH_SPARSE_MSG];
	}
	return bad;
}

static void print_per_run(const char *what, const uint64_t *v)
{
	int rep;

	printf("    %s per run:", what);
	for (rep = 0; rep < BENCH_REPS; rep++) {
		if (v[rep] == BENCH_UNCHECKED)
			printf(" -");
		else
			printf(" %llu", (unsigned long long)v[rep]);
	}
	printf("\n");
}

/*
 * Pair A as in 4a; pair B writes one BENCH_SPARSE_MSG message at the start
 * of each BENCH_SLOT_LEN slot of a fresh cold ODP region, one at a time, so
 * that every message needs memory faulted for it (by its own miss, or by
 * the window faulted ahead of the one before) while B's own traffic is
 * negligible: what A loses here is what the faults cost it. The window
 * closes when B has written every slot, or at BENCH_WINDOW_MS.
 */
static void bench_no_stall_sparse(struct bench *b)
{
	struct no_stall alone, beside;
	uint64_t faults[BENCH_REPS], rnr[BENCH_REPS], pages[BENCH_REPS];
	uint64_t msgs[BENCH_REPS], bad[BENCH_REPS];
	struct no_stall_window win[BENCH_REPS];
	struct ibv_mr *amr = NULL, *bmr;
	struct sodp_mr_stats st;
	struct region ar, br;
	struct target ta, tb;
	int rep;

	printf("\n4b. No stall, sparse faults: pair A into %llu MiB of warm pinned memory; pair B "
	       "writes one %llu KiB message at a time into each %llu MiB slot of %llu MiB of cold "
	       "ODP (%llu slots, 4 KiB pages, new per run)\n",
	       BENCH_WARM_LEN / MIB, BENCH_SPARSE_MSG / KIB, BENCH_SLOT_LEN / MIB,
	       BENCH_COLD_B / MIB, BENCH_SLOTS);
	for (rep = 0; rep < BENCH_REPS; rep++)
		faults[rep] = rnr[rep] = pages[rep] = msgs[rep] = bad[rep] = BENCH_UNCHECKED;
	memset(win, 0, sizeof(win));
	memset(&alone, 0, sizeof(alone));
	memset(&beside, 0, sizeof(beside));
	if (warm_pinned(b, &ar, &amr, &ta)) {
		printf("  FAILED: no pinned target\n");
		goto out;
	}
	for (rep = 0; rep < BENCH_REPS; rep++) {
		watch_begin("no stall, sparse: A alone");
		no_stall_run(b, &ta, NULL, &alone, NULL);
		watch_end();

		bmr = cold_target(b, &br, &shape_sparse, BENCH_SLOTS * BENCH_SPARSE_MSG, &tb,
				  &beside.a_bw.fail);
		if (!bmr)
			continue;
		watch_begin("no stall, sparse: A beside B faulting slot by slot");
		no_stall_run(b, &ta, &tb, &beside, &win[rep]);
		watch_end();
		mr_stats(bmr, &st);
		faults[rep] = st.faults;
		rnr[rep] = st.rnr_naks;
		pages[rep] = st.pages_faulted;
		if (win[rep].b_done != BENCH_UNCHECKED) {
			msgs[rep] = win[rep].b_in_window / BENCH_SPARSE_MSG;
			/* one at a time, slot after slot: what completed is a prefix */
			bad[rep] = sparse_bad(br.addr, win[rep].b_done / BENCH_SPARSE_MSG);
		}
		ibv_dereg_mr(bmr);
		region_unmap(&br);
	}
	print_sample("A alone", &alone.a_bw, "GB/s");
	print_sample("A while B faults slot by slot", &beside.a_bw, "GB/s");
	print_sample("A's longest completion wait, alone", &alone.a_gap_ms, "ms");
	print_sample("  beside B faulting slot by slot", &beside.a_gap_ms, "ms");
	print_ratio("A while B faults slot by slot / A alone", sample_median(&beside.a_bw),
		    sample_median(&alone.a_bw));
	printf("    sparse window per run (s, until B wrote %llu slots or %d ms):", BENCH_SLOTS,
	       BENCH_WINDOW_MS);
	for (rep = 0; rep < BENCH_REPS; rep++)
		printf(" %.3f", win[rep].secs);
	printf("\n    B's mean time per message per run (ms):");
	for (rep = 0; rep < BENCH_REPS; rep++) {
		if (msgs[rep] == BENCH_UNCHECKED || !msgs[rep])
			printf(" -");
		else
			printf(" %.3f", win[rep].secs * 1e3 / msgs[rep]);
	}
	printf("\n");
	print_per_run("B's messages completed in the window", msgs);
	print_per_run("B's target: faults", faults);
	print_per_run("B's target: rnr_naks", rnr);
	print_per_run("B's target: pages_faulted", pages);
	print_bad("B's sparse target, completed slots", bad, BENCH_REPS);
out:
	if (amr)
		ibv_dereg_mr(amr);
	region_unmap(&ar);
}

/* ---- main ---- */

static int bench_open(struct bench *b)
{
	struct ibv_port_attr pa;
	int i;

	memset(b, 0, sizeof(*b));
	if (bench_dev_open(&b->dev[0], "srxe0") || bench_dev_open(&b->dev[1], "srxe1"))
		return -1;
	b->mtu = IBV_MTU_4096;
	for (i = 0; i < 2; i++) {
		if (ibv_query_port(b->dev[i].ctx, 1, &pa)) {
			fprintf(stderr, "ibv_query_port failed\n");
			return -1;
		}
		if (pa.active_mtu < b->mtu)
			b->mtu = pa.active_mtu;
	}
	if (pair_create(b, &b->a) || pair_create(b, &b->b))
		return -1;
	return 0;
}

static void bench_close(struct bench *b)
{
	pair_destroy(&b->a);
	pair_destroy(&b->b);
	bench_dev_close(&b->dev[0]);
	bench_dev_close(&b->dev[1]);
}

int main(int argc, char **argv)
{
	struct bench b;
	pthread_t t;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: bench_odp (see the header of tests/bench/bench_odp.c)\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	prctl(PR_SET_TIMERSLACK, BENCH_TIMER_SLACK);
	if (pthread_create(&t, NULL, watch_main, NULL) || pthread_detach(t)) {
		fprintf(stderr, "cannot start the watchdog\n");
		return 1;
	}
	watch_begin("setup");
	if (bench_open(&b)) {
		bench_close(&b);
		return 1;
	}
	watch_end();
	printf("bench_odp: srxe0 (127.0.0.1) -> srxe1 (127.0.0.2), RC, path MTU %d, "
	       "min_rnr_timer %d, rnr_retry %d; median of %d runs, ratios against baselines "
	       "of this run\n",
	       128 << b.mtu, BENCH_MIN_RNR, BENCH_RNR_RETRY, BENCH_REPS);
	bench_registration(&b);
	bench_bandwidth(&b, PAGES_4K);
	bench_bandwidth(&b, PAGES_THP);
	bench_mtt(&b);
	bench_no_stall(&b);
	bench_no_stall_sparse(&b);
	bench_close(&b);
	return 0;
}
