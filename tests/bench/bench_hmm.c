// SPDX-License-Identifier: MIT
/*
 * bench_hmm: what the userspace HMM mirror costs and delivers.
 *
 *  1. range fault throughput over 1 GiB (4 KiB pages, then THP), beside a
 *     first-touch memset of the same amount of fresh memory in the same run;
 *  2. snapshot throughput over the populated GiB;
 *  3. invalidation latency from the application's call to the callback,
 *     with 1 and with 10 000 notifiers (hooks), and through userfaultfd;
 *  4. what the mirror adds to munmap / madvise(DONTNEED) / mmap+munmap:
 *     raw system call, the hooked call with no mirror, on unmirrored memory
 *     while a mirror exists, and on mirrored memory.
 *
 * Usage: bench_hmm [iterations]   (default 20000 for the call costs)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <softodp/hmm.h>

#define PAGE 4096UL
#define MB   (1024UL * 1024)
#define GB   (1024UL * MB)

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct bnotifier {
	struct sodp_interval_notifier n;
	uint64_t last_cb_ns;
	unsigned long calls;
};

static bool bench_invalidate(struct sodp_interval_notifier *n, const struct sodp_notify_range *r,
			     unsigned long cur_seq)
{
	struct bnotifier *b = container_of(n, struct bnotifier, n);

	__atomic_store_n(&b->last_cb_ns, now_ns(), __ATOMIC_RELEASE);
	sodp_interval_set_seq(n, cur_seq);
	__atomic_fetch_add(&b->calls, 1, __ATOMIC_RELEASE);
	return true;
}

static const struct sodp_interval_notifier_ops bench_ops = {.invalidate = bench_invalidate};

static void *map_region(size_t len, bool thp)
{
	char *p = mmap(NULL, len + 2 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	uintptr_t a;

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	a = ((uintptr_t)p + 2 * MB - 1) & ~(2 * MB - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((void *)(a + len), (uintptr_t)p + len + 2 * MB - (a + len));
	madvise((void *)a, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return (void *)a;
}

static int range_fault(struct sodp_interval_notifier *n, void *p, size_t len, uint64_t flags,
		       uint64_t *pfns)
{
	struct sodp_hmm_range r = {
		.notifier = n,
		.start = (uintptr_t)p,
		.end = (uintptr_t)p + len,
		.hmm_pfns = pfns,
		.default_flags = flags,
	};
	int ret, tries = 0;

	do {
		r.notifier_seq = sodp_interval_read_begin(n);
		ret = sodp_hmm_range_fault(&r);
	} while (ret == -EBUSY && ++tries < 100);
	return ret;
}

static double gbps(size_t bytes, uint64_t ns)
{
	return (double)bytes / (double)ns; /* bytes per ns == GB/s */
}

static void bench_fault(bool thp)
{
	const size_t len = 1 * GB, n = len / PAGE;
	uint64_t *pfns = calloc(n, sizeof(*pfns)), t0, t_fault, t_memset, t_snap;
	char *a = map_region(len, thp), *b = map_region(len, thp);
	struct bnotifier nt = {0};
	size_t i, huge = 0;
	int ret;

	if (!pfns)
		exit(1);
	sodp_interval_notifier_insert(&nt.n, (uintptr_t)a, len, &bench_ops);

	t0 = now_ns();
	ret = range_fault(&nt.n, a, len, SODP_PFN_REQ_FAULT | SODP_PFN_REQ_WRITE, pfns);
	t_fault = now_ns() - t0;
	if (ret)
		printf("  range fault failed: %d\n", ret);

	t0 = now_ns();
	memset(b, 1, len);
	t_memset = now_ns() - t0;

	t0 = now_ns();
	ret = range_fault(&nt.n, a, len, 0, pfns);
	t_snap = now_ns() - t0;
	for (i = 0; i < n; i++)
		huge += sodp_hmm_pfn_to_map_order(pfns[i]) == 9;

	printf("%-4s  range fault (write) 1 GiB: %7.2f GB/s   first-touch memset: %7.2f GB/s"
	       "   ratio %.2f\n",
	       thp ? "THP" : "4K", gbps(len, t_fault), gbps(len, t_memset),
	       (double)t_memset / (double)t_fault);
	printf("%-4s  snapshot 1 GiB:            %7.2f GB/s   (%zu of %zu entries order 9, %s)\n",
	       thp ? "THP" : "4K", gbps(len, t_snap), huge, n, ret ? "error" : "ok");
	sodp_interval_notifier_remove(&nt.n);
	munmap(a, len);
	munmap(b, len);
	free(pfns);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *lat, size_t n)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("  %-44s p50 %7.2f us   p99 %7.2f us\n", what, lat[n / 2] / 1000.0,
	       lat[n * 99 / 100] / 1000.0);
}

/* Call to callback, through the madvise hook, with @nr one-page notifiers. */
static void bench_hook_latency(size_t nr, size_t iters)
{
	struct bnotifier *nt = calloc(nr, sizeof(*nt));
	char *p = map_region(nr * PAGE, false);
	uint64_t *lat = calloc(iters, sizeof(*lat));
	char what[64];
	size_t i;

	for (i = 0; i < nr; i++)
		sodp_interval_notifier_insert(&nt[i].n, (uintptr_t)p + i * PAGE, PAGE, &bench_ops);
	for (i = 0; i < iters; i++) {
		size_t k = (i * 7919) % nr;
		uint64_t t0;

		p[k * PAGE] = 1;
		t0 = now_ns();
		madvise(p + k * PAGE, PAGE, MADV_DONTNEED);
		lat[i] = __atomic_load_n(&nt[k].last_cb_ns, __ATOMIC_ACQUIRE) - t0;
	}
	snprintf(what, sizeof(what), "hook -> callback, %zu notifier%s:", nr, nr > 1 ? "s" : "");
	report(what, lat, iters);
	for (i = 0; i < nr; i++)
		sodp_interval_notifier_remove(&nt[i].n);
	munmap(p, nr * PAGE);
	free(lat);
	free(nt);
}

/* Raw madvise: only the userfaultfd reader sees it. */
static void bench_uffd_latency(size_t iters)
{
	struct bnotifier nt = {0};
	char *p = map_region(PAGE, false);
	uint64_t *lat = calloc(iters, sizeof(*lat)), pfn;
	size_t i, got = 0;

	if (!(sodp_hmm_sources() & SODP_HMM_SRC_UFFD)) {
		printf("  userfaultfd channel not active\n");
		return;
	}
	sodp_interval_notifier_insert(&nt.n, (uintptr_t)p, PAGE, &bench_ops);
	for (i = 0; i < iters; i++) {
		unsigned long before = __atomic_load_n(&nt.calls, __ATOMIC_ACQUIRE);
		uint64_t t0, deadline;

		range_fault(&nt.n, p, PAGE, SODP_PFN_REQ_FAULT | SODP_PFN_REQ_WRITE, &pfn);
		t0 = now_ns();
		syscall(SYS_madvise, p, PAGE, MADV_DONTNEED);
		deadline = t0 + 100000000ULL;
		while (__atomic_load_n(&nt.calls, __ATOMIC_ACQUIRE) == before &&
		       now_ns() < deadline)
			;
		if (__atomic_load_n(&nt.calls, __ATOMIC_ACQUIRE) != before)
			lat[got++] = __atomic_load_n(&nt.last_cb_ns, __ATOMIC_ACQUIRE) - t0;
	}
	if (got)
		report("raw syscall -> userfaultfd -> callback:", lat, got);
	sodp_interval_notifier_remove(&nt.n);
	munmap(p, PAGE);
	free(lat);
}

enum op { OP_MUNMAP, OP_MADVISE, OP_CYCLE };
enum mode { M_RAW, M_HOOK_NO_MIRROR, M_HOOK_UNMIRRORED, M_HOOK_MIRRORED };

static const char *op_name[] = {"munmap 1 page", "madvise(DONTNEED) 1 page", "mmap+munmap 1 page"};
static const char *mode_name[] = {"raw syscall, no mirror", "hooked, no notifier",
				  "hooked, unmirrored memory", "hooked, mirrored memory"};

static void *do_mmap(enum mode m, void *addr, int flags)
{
	if (m == M_RAW)
		return (void *)syscall(SYS_mmap, addr, PAGE, PROT_READ | PROT_WRITE, flags, -1, 0);
	return mmap(addr, PAGE, PROT_READ | PROT_WRITE, flags, -1, 0);
}

static void do_munmap(enum mode m, void *p)
{
	if (m == M_RAW)
		syscall(SYS_munmap, p, PAGE);
	else
		munmap(p, PAGE);
}

static void do_madvise(enum mode m, void *p)
{
	if (m == M_RAW)
		syscall(SYS_madvise, p, PAGE, MADV_DONTNEED);
	else
		madvise(p, PAGE, MADV_DONTNEED);
}

/* Mean ns per timed call of @op in @mode. */
static double call_cost(enum op op, enum mode m, size_t iters)
{
	const int anon = MAP_PRIVATE | MAP_ANONYMOUS;
	struct bnotifier nt = {0};
	char *slot = map_region(PAGE, false), *p;
	uint64_t total = 0, t0, pfn;
	size_t i;

	/* The mirrored case keeps one notifier over a fixed one-page slot. */
	if (m == M_HOOK_MIRRORED)
		sodp_interval_notifier_insert(&nt.n, (uintptr_t)slot, PAGE, &bench_ops);
	for (i = 0; i < iters; i++) {
		bool fixed = m == M_HOOK_MIRRORED;

		switch (op) {
		case OP_MUNMAP:
			p = fixed ? do_mmap(m, slot, anon | MAP_FIXED) : do_mmap(m, NULL, anon);
			p[0] = 1;
			if (fixed)
				range_fault(&nt.n, p, PAGE, SODP_PFN_REQ_FAULT, &pfn);
			t0 = now_ns();
			do_munmap(m, p);
			total += now_ns() - t0;
			break;
		case OP_MADVISE:
			p = slot;
			p[0] = 1;
			if (fixed)
				range_fault(&nt.n, p, PAGE, SODP_PFN_REQ_FAULT, &pfn);
			t0 = now_ns();
			do_madvise(m, p);
			total += now_ns() - t0;
			break;
		case OP_CYCLE:
			t0 = now_ns();
			p = fixed ? do_mmap(m, slot, anon | MAP_FIXED) : do_mmap(m, NULL, anon);
			do_munmap(m, p);
			total += now_ns() - t0;
			break;
		}
	}
	if (m == M_HOOK_MIRRORED)
		sodp_interval_notifier_remove(&nt.n);
	if (op == OP_MADVISE)
		munmap(slot, PAGE);
	return (double)total / (double)iters;
}

static void bench_call_costs(size_t iters)
{
	double cost[3][4];
	struct bnotifier elsewhere = {0};
	char *far = map_region(PAGE, false);
	int op, m;

	/* Before any notifier: the hooks' fast path. */
	for (op = 0; op < 3; op++) {
		cost[op][M_RAW] = call_cost(op, M_RAW, iters);
		cost[op][M_HOOK_NO_MIRROR] = call_cost(op, M_HOOK_NO_MIRROR, iters);
	}
	/* A mirror elsewhere arms the hooks; then unmirrored and mirrored memory. */
	sodp_interval_notifier_insert(&elsewhere.n, (uintptr_t)far, PAGE, &bench_ops);
	for (op = 0; op < 3; op++) {
		cost[op][M_HOOK_UNMIRRORED] = call_cost(op, M_HOOK_UNMIRRORED, iters);
		cost[op][M_HOOK_MIRRORED] = call_cost(op, M_HOOK_MIRRORED, iters / 10);
	}
	sodp_interval_notifier_remove(&elsewhere.n);

	printf("  %-26s", "ns per call");
	for (m = 0; m < 4; m++)
		printf(" %26s", mode_name[m]);
	printf("\n");
	for (op = 0; op < 3; op++) {
		printf("  %-26s", op_name[op]);
		for (m = 0; m < 4; m++)
			printf(" %17.0f (%+5.0f)", cost[op][m], cost[op][m] - cost[op][M_RAW]);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	size_t iters = argc > 1 ? strtoul(argv[1], NULL, 0) : 20000;
	struct sodp_hmm_counters c;

	if (!iters)
		iters = 20000;
	printf("== call costs (before any mirror exists, then with one) ==\n");
	bench_call_costs(iters);
	printf("== range fault / snapshot ==\n");
	bench_fault(false);
	bench_fault(true);
	printf("== invalidation latency ==\n");
	bench_hook_latency(1, iters);
	bench_hook_latency(10000, iters);
	bench_uffd_latency(iters / 10);
	sodp_hmm_get_counters(&c);
	printf("== counters ==\n  sources %#x  callbacks %llu  uffd events %llu (dedup %llu, "
	       "hook misses %llu)  callback latency p50 %llu ns p99 %llu ns\n",
	       sodp_hmm_sources(), (unsigned long long)c.callbacks,
	       (unsigned long long)c.uffd_events, (unsigned long long)c.uffd_dedup,
	       (unsigned long long)c.hook_misses, (unsigned long long)c.inval_latency_p50_ns,
	       (unsigned long long)c.inval_latency_p99_ns);
	return 0;
}
