// SPDX-License-Identifier: MIT
/*
 * The translation cache of pinned memory: what a pinned ibv_reg_mr() costs
 * the first time, again over memory already registered, and inside a
 * pre-registered arena (softodp/prereg.h), for 4 KiB, 256 MiB and 1 GiB of
 * fresh anonymous memory. Every number is a median of its runs, and the
 * ratios are against the first registration of the same size measured in
 * the same run:
 *
 *  first    ibv_reg_mr() of fresh, untouched memory (faults it in, locks it)
 *           and its ibv_dereg_mr(), timed separately; BENCH_FIRST runs, each
 *           on a fresh mapping;
 *  repeat   ibv_reg_mr() of the same range while a first MR over it lives,
 *           BENCH_REPEAT times, each MR deregistered after the timing;
 *  arena    ibv_reg_mr() of the range inside a pre-registration of it
 *           (sodp_prereg() time printed too), BENCH_REPEAT times.
 *
 * It also prints the cache's counters at the end. A failed call is
 * printed as FAILED with its errno, and the next measurement runs.
 *
 * Usage: bench_regcache (no arguments). It opens srxe0 on 127.0.0.1, which
 * binds UDP port 4791: run it in a network namespace of its own when
 * anything else may be using RoCE on the host:
 *
 *   ip netns add bench; ip netns exec bench ip link set lo up
 *   ip netns exec bench build/tests/bench/bench_regcache
 *
 * Locking 1 GiB needs RLIMIT_MEMLOCK or CAP_IPC_LOCK. Exit status: 0 when
 * it ran, 1 when the device could not be opened.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include <infiniband/verbs.h>
#include <softodp/prereg.h>

#include "rxe_test_util.h"

#define BENCH_FIRST  3
#define BENCH_REPEAT 1000
#define MIB	     (1UL << 20)
#define PINNED	     (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

struct row {
	const char *name;
	size_t len;
	double first_ns, first_dereg_ns, repeat_ns, arena_ns, prereg_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Fresh, untouched anonymous memory of at least 2 MiB. */
static void *fresh(size_t len)
{
	void *p = mmap(NULL, len < 2 * MIB ? 2 * MIB : len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		printf("  mmap(%zu MiB): FAILED: %s\n", len / MIB, strerror(errno));
		return NULL;
	}
	return p;
}

static void unmap(void *p, size_t len)
{
	munmap(p, len < 2 * MIB ? 2 * MIB : len);
}

/* Median time of BENCH_REPEAT registrations of [p, p + len), each undone after. */
static double repeated_reg_ns(struct ibv_pd *pd, void *p, size_t len)
{
	static double v[BENCH_REPEAT];
	int i, n = 0;

	for (i = 0; i < BENCH_REPEAT; i++) {
		uint64_t t0 = now_ns();
		struct ibv_mr *mr = ibv_reg_mr(pd, p, len, PINNED);
		uint64_t t1 = now_ns();

		if (!mr) {
			printf("  ibv_reg_mr(%zu bytes) again: FAILED: %s\n", len, strerror(errno));
			break;
		}
		v[n++] = (double)(t1 - t0);
		ibv_dereg_mr(mr);
	}
	return median(v, n);
}

static void measure(struct ibv_pd *pd, struct row *r)
{
	double first[BENCH_FIRST], dereg[BENCH_FIRST], repeat[BENCH_FIRST];
	struct sodp_prereg *arena;
	int i, n = 0;
	uint64_t t0;
	void *p;

	for (i = 0; i < BENCH_FIRST; i++) {
		struct ibv_mr *mr;

		p = fresh(r->len);
		if (!p)
			return;
		t0 = now_ns();
		mr = ibv_reg_mr(pd, p, r->len, PINNED);
		first[n] = (double)(now_ns() - t0);
		if (!mr) {
			printf("  ibv_reg_mr(%s): FAILED: %s\n", r->name, strerror(errno));
			unmap(p, r->len);
			return;
		}
		repeat[n] = repeated_reg_ns(pd, p, r->len);
		t0 = now_ns();
		ibv_dereg_mr(mr);
		dereg[n++] = (double)(now_ns() - t0);
		unmap(p, r->len);
	}
	r->first_ns = median(first, n);
	r->first_dereg_ns = median(dereg, n);
	r->repeat_ns = median(repeat, n);

	p = fresh(r->len);
	if (!p)
		return;
	t0 = now_ns();
	i = sodp_prereg(p, r->len, &arena);
	r->prereg_ns = (double)(now_ns() - t0);
	if (i) {
		printf("  sodp_prereg(%s): FAILED: %s\n", r->name, strerror(-i));
	} else {
		r->arena_ns = repeated_reg_ns(pd, p, r->len);
		sodp_prereg_release(arena);
	}
	unmap(p, r->len);
}

static void print_time(double ns)
{
	if (!ns)
		printf(" %12s", "FAILED");
	else if (ns >= 1e6)
		printf(" %9.2f ms", ns / 1e6);
	else
		printf(" %9.2f us", ns / 1e3);
}

static void print_ratio(double num, double den)
{
	if (!num || !den)
		printf(" %10s", "n/a");
	else
		printf(" %9.0fx", num / den);
}

int main(void)
{
	struct row rows[] = {
		{"4 KiB", 4096},
		{"256 MiB", 256 * MIB},
		{"1 GiB", 1024 * MIB},
	};
	struct sodp_cache_stats st;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ctx = rt_open("srxe0");
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	if (!pd) {
		fprintf(stderr, "cannot open srxe0 or allocate a PD (SOFTODP_DEVICES?)\n");
		return 1;
	}
	printf("Pinned ibv_reg_mr() of fresh anonymous memory: first registration, again over "
	       "a live one, inside a pre-registered arena (medians: first of %d runs, the others "
	       "of %d)\n\n",
	       BENCH_FIRST, BENCH_REPEAT);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		measure(pd, &rows[i]);

	printf("  %-8s %12s %12s %12s %12s %12s %10s %10s\n", "size", "first reg", "first dereg",
	       "repeat reg", "prereg", "arena reg", "first/rep", "first/arena");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct row *r = &rows[i];

		printf("  %-8s", r->name);
		print_time(r->first_ns);
		print_time(r->first_dereg_ns);
		print_time(r->repeat_ns);
		print_time(r->prereg_ns);
		print_time(r->arena_ns);
		print_ratio(r->first_ns, r->repeat_ns);
		print_ratio(r->first_ns, r->arena_ns);
		printf("\n");
	}
	printf("\n  repeat reg, 1 GiB / 4 KiB: %.2f    arena reg, 1 GiB / 4 KiB: %.2f\n",
	       rows[0].repeat_ns ? rows[2].repeat_ns / rows[0].repeat_ns : 0,
	       rows[0].arena_ns ? rows[2].arena_ns / rows[0].arena_ns : 0);
	if (!sodp_translation_cache_stats(&st))
		printf("  cache: %llu hits, %llu misses, %llu translations live, %llu bytes "
		       "locked\n",
		       (unsigned long long)st.hits, (unsigned long long)st.misses,
		       (unsigned long long)st.translations, (unsigned long long)st.bytes_locked);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	return 0;
}
