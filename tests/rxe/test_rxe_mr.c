// SPDX-License-Identifier: MIT
/*
 * Pinned memory regions: the MTT built from the HMM mirror's map orders
 * (one entry per order-aligned block), the errors of ib_umem_get() for
 * memory that cannot be pinned as asked, and locking under RLIMIT_MEMLOCK.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <CUnit/CUnit.h>
#include <infiniband/verbs.h>

#include <softodp/mr.h>

#include "sodp_test.h"
#include "rxe_test_util.h"

#define PG  4096UL
#define HPG (2UL << 20)

static struct ibv_context *ctx;
static struct ibv_pd *pd;

static int suite_init(void)
{
	ctx = rt_open("srxe0");
	if (!ctx)
		return -1;
	pd = ibv_alloc_pd(ctx);
	return pd ? 0 : -1;
}

static int suite_fini(void)
{
	if (pd)
		ibv_dealloc_pd(pd);
	if (ctx)
		ibv_close_device(ctx);
	return 0;
}

/* @len bytes at a 2 MiB boundary, mapped private and anonymous. */
static uint8_t *map_aligned(size_t len)
{
	uint8_t *p =
		mmap(NULL, len + HPG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + HPG - 1) & ~(HPG - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + HPG - a);
	return a;
}

/* AnonHugePages of the VMA holding @addr, in kB (from /proc/self/smaps). */
static unsigned long thp_kb(const void *addr)
{
	unsigned long s, e, kb = 0;
	bool in = false;
	char line[256];
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return in ? kb : 0;
}

static struct sodp_mr_stats stats_of(struct ibv_mr *mr)
{
	struct sodp_mr_stats st;

	memset(&st, 0xff, sizeof(st));
	CU_ASSERT_EQUAL(sodp_mr_get_stats(mr, &st), 0);
	return st;
}

/*
 * The MR's translation covers @bytes: its entries by order add up to its
 * entry count, and the bytes they translate to @bytes (the blocks the MR
 * touches, whole).
 */
static void check_covers(const struct sodp_mr_stats *st, uint64_t bytes)
{
	uint64_t entries = 0, covered = 0;

	for (int o = 0; o <= SODP_MR_MAX_ORDER; o++) {
		entries += st->entries_by_order[o];
		covered += st->bytes_by_order[o];
	}
	CU_ASSERT_EQUAL(entries, st->entries);
	CU_ASSERT_EQUAL(covered, bytes);
}

static void test_4k_pages_give_one_order0_entry_per_page(void)
{
	size_t n = 64;
	uint8_t *p = map_aligned(n * PG);
	struct sodp_mr_stats st;
	struct ibv_mr *mr;

	CU_ASSERT_FATAL(p != NULL);
	madvise(p, n * PG, MADV_NOHUGEPAGE);
	mr = ibv_reg_mr(pd, p, n * PG, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	CU_ASSERT_FATAL(mr != NULL);
	st = stats_of(mr);
	CU_ASSERT_EQUAL(st.entries, n);
	CU_ASSERT_EQUAL(st.entries_by_order[0], n);
	CU_ASSERT_EQUAL(st.length, n * PG);
	CU_ASSERT_EQUAL(st.locked_bytes, n * PG); /* far below any limit */
	check_covers(&st, n * PG);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);

	/* An unaligned range takes the pages it touches. */
	mr = ibv_reg_mr(pd, p + 100, 2 * PG, IBV_ACCESS_LOCAL_WRITE);
	CU_ASSERT_FATAL(mr != NULL);
	st = stats_of(mr);
	CU_ASSERT_EQUAL(st.entries, 3);
	check_covers(&st, 3 * PG);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
	munmap(p, n * PG);
}

static void test_thp_region_gives_order9_entries(void)
{
	size_t len = 8 * HPG;
	uint8_t *p = map_aligned(len);
	struct sodp_mr_stats st;
	struct ibv_mr *mr;

	CU_ASSERT_FATAL(p != NULL);
	if (madvise(p, len, MADV_HUGEPAGE)) {
		munmap(p, len);
		SODP_SKIP("no MADV_HUGEPAGE");
	}
	memset(p, 1, len);
	if (thp_kb(p) < len / 1024) {
		munmap(p, len);
		SODP_SKIP("the kernel gave no (or not only) transparent huge pages");
	}
	mr = ibv_reg_mr(pd, p, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	CU_ASSERT_FATAL(mr != NULL);
	st = stats_of(mr);
	CU_ASSERT_EQUAL(st.entries, 8);
	CU_ASSERT_EQUAL(st.entries_by_order[9], 8);
	CU_ASSERT_EQUAL(st.bytes_by_order[9], len);
	check_covers(&st, len);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);

	/* A range inside one huge page still takes its whole block. */
	mr = ibv_reg_mr(pd, p + HPG + 3 * PG, 5 * PG, IBV_ACCESS_LOCAL_WRITE);
	CU_ASSERT_FATAL(mr != NULL);
	st = stats_of(mr);
	CU_ASSERT_EQUAL(st.entries, 1);
	CU_ASSERT_EQUAL(st.entries_by_order[9], 1);
	CU_ASSERT_EQUAL(st.bytes_by_order[9], HPG);
	check_covers(&st, HPG);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
	munmap(p, len);
}

static void test_mixed_region_gives_mixed_orders(void)
{
	size_t len = 2 * HPG;
	uint8_t *p = map_aligned(len);
	struct sodp_mr_stats st;
	struct ibv_mr *mr;

	CU_ASSERT_FATAL(p != NULL);
	/* first 2 MiB huge, the second 2 MiB in 4 KiB pages */
	if (madvise(p, HPG, MADV_HUGEPAGE) || madvise(p + HPG, HPG, MADV_NOHUGEPAGE)) {
		munmap(p, len);
		SODP_SKIP("no MADV_HUGEPAGE");
	}
	memset(p, 1, len);
	if (thp_kb(p) < HPG / 1024) {
		munmap(p, len);
		SODP_SKIP("the kernel gave no transparent huge page");
	}
	/* from the middle of the huge page to the middle of the small ones */
	mr = ibv_reg_mr(pd, p + HPG / 2, HPG, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	CU_ASSERT_FATAL(mr != NULL);
	st = stats_of(mr);
	CU_ASSERT_EQUAL(st.entries_by_order[9], 1);
	CU_ASSERT_EQUAL(st.entries_by_order[0], 256);
	CU_ASSERT_EQUAL(st.entries, 257);
	check_covers(&st, HPG + HPG / 2);

	/* rereg to 4 KiB pages only: the counters follow the new translation */
	CU_ASSERT_EQUAL(ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_TRANSLATION, NULL, p + HPG, 16 * PG,
				     IBV_ACCESS_LOCAL_WRITE),
			0);
	st = stats_of(mr);
	CU_ASSERT_EQUAL(st.entries, 16);
	CU_ASSERT_EQUAL(st.entries_by_order[0], 16);
	CU_ASSERT_EQUAL(st.entries_by_order[9], 0);
	check_covers(&st, 16 * PG);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
	munmap(p, len);
}

static void test_prot_none_hole_is_efault(void)
{
	uint8_t *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ibv_mr *mr;

	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT_EQUAL_FATAL(mprotect(p + PG, PG, PROT_NONE), 0);
	errno = 0;
	mr = ibv_reg_mr(pd, p, 3 * PG, IBV_ACCESS_LOCAL_WRITE);
	CU_ASSERT_PTR_NULL(mr);
	CU_ASSERT_EQUAL(errno, EFAULT);
	errno = 0;
	mr = ibv_reg_mr(pd, p, 3 * PG, 0);
	CU_ASSERT_PTR_NULL(mr);
	CU_ASSERT_EQUAL(errno, EFAULT);
	/* an unmapped hole too */
	CU_ASSERT_EQUAL(munmap(p + PG, PG), 0);
	errno = 0;
	mr = ibv_reg_mr(pd, p, 3 * PG, 0);
	CU_ASSERT_PTR_NULL(mr);
	CU_ASSERT_EQUAL(errno, EFAULT);
	munmap(p, 3 * PG);
}

static void test_write_access_to_readonly_memory_is_efault(void)
{
	uint8_t *p = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sodp_mr_stats st;
	struct ibv_mr *mr;

	CU_ASSERT_FATAL(p != MAP_FAILED);
	/* ib_umem_get() pins with FOLL_WRITE: -EFAULT on a read-only VMA */
	errno = 0;
	mr = ibv_reg_mr(pd, p, 4 * PG, IBV_ACCESS_LOCAL_WRITE);
	CU_ASSERT_PTR_NULL(mr);
	CU_ASSERT_EQUAL(errno, EFAULT);
	errno = 0;
	mr = ibv_reg_mr(pd, p, 4 * PG, IBV_ACCESS_MW_BIND);
	CU_ASSERT_PTR_NULL(mr);
	CU_ASSERT_EQUAL(errno, EFAULT);
	/* reading it is fine */
	mr = ibv_reg_mr(pd, p, 4 * PG, IBV_ACCESS_REMOTE_READ);
	CU_ASSERT_FATAL(mr != NULL);
	st = stats_of(mr);
	CU_ASSERT_EQUAL(st.entries, 4);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
	munmap(p, 4 * PG);
}

#define CHILD_NO_MLOCK 100

/* VmLck of this process, in kB. */
static unsigned long vmlck_kb(void)
{
	unsigned long kb = 0;
	char line[128];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Drops CAP_IPC_LOCK from the effective set: mlock then obeys the limit. */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_IPC_LOCK / 32].effective &= ~(1U << (CAP_IPC_LOCK % 32));
	return syscall(SYS_capset, &h, d) ? -1 : 0;
}

/*
 * In a child (the limit and the capability change are process wide):
 * RLIMIT_MEMLOCK of 256 KiB. A 64 KiB MR is locked whole; a 1 MiB MR still
 * registers with its full MTT, locked only as far as the limit leaves room.
 * Returns the failing step, 0 on success.
 */
static int memlock_child(void)
{
	struct rlimit rl = {256 << 10, 256 << 10};
	struct sodp_mr_stats st;
	struct ibv_mr *small, *big;
	uint8_t *p;

	if (drop_ipc_lock())
		return 1;
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return 2;
	p = mmap(NULL, (1 << 20) + (64 << 10), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return 3;
	madvise(p, (1 << 20) + (64 << 10), MADV_NOHUGEPAGE);
	small = ibv_reg_mr(pd, p, 64 << 10, IBV_ACCESS_LOCAL_WRITE);
	if (!small || sodp_mr_get_stats(small, &st))
		return 4;
	if (!vmlck_kb())
		return CHILD_NO_MLOCK;
	if (st.locked_bytes != 64 << 10)
		return 5;
	big = ibv_reg_mr(pd, p + (64 << 10), 1 << 20, IBV_ACCESS_LOCAL_WRITE);
	if (!big || sodp_mr_get_stats(big, &st))
		return 6;
	if (st.entries != 256 || st.entries_by_order[0] != 256)
		return 7;
	if (st.locked_bytes == 0 || st.locked_bytes > (192 << 10))
		return 8;
	if (ibv_dereg_mr(big) || ibv_dereg_mr(small))
		return 9;
	return 0;
}

/* Runs @child in a child process (the limit and the capability change are process wide). */
static void run_memlock_child(int (*child)(void))
{
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (!pid)
		_exit(child());
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	if (WEXITSTATUS(status) == CHILD_NO_MLOCK)
		SODP_SKIP("mlock() locks nothing here");
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	if (WEXITSTATUS(status))
		printf("\n    child failed at step %d\n", WEXITSTATUS(status));
}

static void test_memlock_limit_locks_a_prefix(void)
{
	run_memlock_child(memlock_child);
}

/*
 * In a child: RLIMIT_MEMLOCK of 1 MiB. Two pinned MRs of 768 KiB that
 * overlap by 512 KiB lock 1 MiB between them, each whole; ten more
 * registrations of the first range lock nothing more; deregistering the
 * first keeps the second locked. Returns the failing step, 0 on success.
 */
static int memlock_once_child(void)
{
	const size_t k = 1024, len = 768 * k;
	struct rlimit rl = {1024 * k, 1024 * k};
	struct ibv_mr *a, *b, *again[10];
	struct sodp_mr_stats st;
	uint8_t *p;
	int i;

	if (drop_ipc_lock() || setrlimit(RLIMIT_MEMLOCK, &rl))
		return 1;
	p = mmap(NULL, 2048 * k, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	madvise(p, 2048 * k, MADV_NOHUGEPAGE);
	a = ibv_reg_mr(pd, p, len, IBV_ACCESS_LOCAL_WRITE);
	b = ibv_reg_mr(pd, p + 256 * k, len, IBV_ACCESS_LOCAL_WRITE);
	if (!a || !b)
		return 3;
	if (!vmlck_kb())
		return CHILD_NO_MLOCK;
	if (sodp_mr_get_stats(b, &st) || st.locked_bytes != len || vmlck_kb() != 1024)
		return 4;
	for (i = 0; i < 10; i++) {
		again[i] = ibv_reg_mr(pd, p, len, IBV_ACCESS_LOCAL_WRITE);
		if (!again[i] || sodp_mr_get_stats(again[i], &st) || st.locked_bytes != len)
			return 5;
	}
	if (vmlck_kb() != 1024)
		return 6;
	for (i = 0; i < 10; i++)
		if (ibv_dereg_mr(again[i]))
			return 7;
	if (ibv_dereg_mr(a) || vmlck_kb() != 768)
		return 8;
	if (ibv_dereg_mr(b) || vmlck_kb() != 0)
		return 9;
	return 0;
}

static void test_memlock_limit_is_charged_once_per_page(void)
{
	run_memlock_child(memlock_once_child);
}

static void test_stats_reject_null(void)
{
	struct sodp_mr_stats st;

	CU_ASSERT_EQUAL(sodp_mr_get_stats(NULL, &st), -EINVAL);
}

void sodp_tests_register(void)
{
	/* The fork test runs first, while this process has no mirror thread
	 * yet: ThreadSanitizer cannot start threads after a multi-threaded
	 * fork, and the child's registration starts the mirror. */
	static const struct sodp_test_case t[] = {
		{"memlock_limit_locks_a_prefix", test_memlock_limit_locks_a_prefix},
		{"memlock_limit_is_charged_once_per_page",
		 test_memlock_limit_is_charged_once_per_page},
		{"4k_pages_give_one_order0_entry_per_page",
		 test_4k_pages_give_one_order0_entry_per_page},
		{"thp_region_gives_order9_entries", test_thp_region_gives_order9_entries},
		{"mixed_region_gives_mixed_orders", test_mixed_region_gives_mixed_orders},
		{"prot_none_hole_is_efault", test_prot_none_hole_is_efault},
		{"write_access_to_readonly_memory_is_efault",
		 test_write_access_to_readonly_memory_is_efault},
		{"stats_reject_null", test_stats_reject_null},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_mr", suite_init, suite_fini, t);
}
