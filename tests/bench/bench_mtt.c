// SPDX-License-Identifier: MIT
/*
 * MTT of pinned MRs: entries and registration time of a region backed by
 * 4 KiB pages, by THP, and by both (alternating 2 MiB blocks), and the rate
 * of translation lookups (rxe_mr_mapped: map-and-lock of one page through
 * the umem's MTT) and of full access checks (rxe_mr_check).
 *
 * Usage: bench_mtt [MiB] (default 1024). Needs THP in "madvise" or "always"
 * mode for the huge cases; reports what the kernel actually gave.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <infiniband/verbs.h>

#include <softodp/mr.h>

#include "rxe.h"

#define PG	   4096UL
#define HPG	   (2UL << 20)
#define NR_LOOKUPS (1 << 24)

enum backing { SMALL, HUGE, MIXED };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint8_t *map_region(size_t len, enum backing b)
{
	uint8_t *p = mmap(NULL, len + HPG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			  0),
		*a;
	size_t off;

	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + HPG - 1) & ~(HPG - 1));
	for (off = 0; off < len; off += HPG) {
		bool huge = b == HUGE || (b == MIXED && !(off / HPG % 2));

		madvise(a + off, HPG, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	}
	memset(a, 1, len);
	return a;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void run(struct ibv_pd *pd, size_t len, enum backing b)
{
	static const char *const names[] = {"4k", "thp", "mixed"};
	struct sodp_mr_stats st;
	struct ibv_mr *ibmr;
	struct rxe_mr *mr;
	uint8_t *a = map_region(len, b);
	uint64_t seed = 88172645463325252ULL, hits = 0, sink = 0;
	double t0, t_reg, t_find, t_check;
	int i;

	if (!a) {
		perror("mmap");
		return;
	}
	t0 = now_s();
	ibmr = ibv_reg_mr(pd, a, len,
			  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				  IBV_ACCESS_REMOTE_READ);
	t_reg = now_s() - t0;
	if (!ibmr) {
		perror("ibv_reg_mr");
		return;
	}
	mr = to_rmr(ibmr);
	sodp_mr_get_stats(ibmr, &st);

	t0 = now_s();
	for (i = 0; i < NR_LOOKUPS; i++) {
		hits += rxe_mr_mapped(mr, (uintptr_t)a + xorshift(&seed) % len, 1, false);
	}
	t_find = now_s() - t0;

	t0 = now_s();
	for (i = 0; i < NR_LOOKUPS; i++) {
		uintptr_t va;

		hits += !rxe_mr_check(mr, pd, (uintptr_t)a + xorshift(&seed) % (len - 4096), 4096,
				      IBV_ACCESS_LOCAL_WRITE, &va);
		sink += va;
	}
	t_check = now_s() - t0;

	printf("%-5s %6zu MiB: entries %8llu (order0 %llu, order9 %llu, order18 %llu), "
	       "locked %llu MiB, reg %.1f ms, find %.1f M/s, check %.1f M/s%s\n",
	       names[b], len >> 20, (unsigned long long)st.entries,
	       (unsigned long long)st.entries_by_order[0],
	       (unsigned long long)st.entries_by_order[9],
	       (unsigned long long)st.entries_by_order[18],
	       (unsigned long long)st.locked_bytes >> 20, t_reg * 1e3, NR_LOOKUPS / t_find / 1e6,
	       NR_LOOKUPS / t_check / 1e6, hits == 2ULL * NR_LOOKUPS ? "" : " (MISSES!)");
	if (sink == 42)
		printf("\n");
	ibv_dereg_mr(ibmr);
	munmap(a, len);
}

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoull(argv[1], NULL, 0) : 1024) << 20;
	struct ibv_device **list;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	int n;

	list = ibv_get_device_list(&n);
	if (!list || !n) {
		fprintf(stderr, "no softodp device\n");
		return 1;
	}
	ctx = ibv_open_device(list[0]);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	if (!pd) {
		fprintf(stderr, "cannot open %s\n", ibv_get_device_name(list[0]));
		return 1;
	}
	run(pd, len, SMALL);
	run(pd, len, HUGE);
	run(pd, len, MIXED);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	return 0;
}
