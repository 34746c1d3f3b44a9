// SPDX-License-Identifier: MIT
/*
 * The userfaultfd channel: what the hooks cannot see reaches the callbacks
 * anyway and is counted as a miss; what they saw is not delivered twice.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hmm_test.h"

static bool invalidated(void *arg)
{
	return dmirror_invalidations(arg) > 0;
}

static bool hook_missed(void *arg)
{
	struct sodp_hmm_counters c;

	sodp_hmm_get_counters(&c);
	return c.hook_misses > 0;
}

/* The 256-page mapping at @arg carries no userfaultfd registration. */
static bool unregistered(void *arg)
{
	struct vma_stats st;

	return !vma_stats(arg, 256 * PAGE, &st) && st.vmas && !st.uffd_wp;
}

static void test_sources_follow_environment(void)
{
	unsigned int s = sodp_hmm_sources();

	CU_ASSERT_TRUE(s & SODP_HMM_SRC_HOOKS);
	CU_ASSERT_TRUE(s & SODP_HMM_SRC_ATFORK);
	CU_ASSERT_TRUE(s & SODP_HMM_SRC_PAGEMAP);
	if (getenv("SOFTODP_HMM_NO_UFFD"))
		CU_ASSERT_FALSE(s & SODP_HMM_SRC_UFFD);
	if (getenv("SOFTODP_HMM_NO_PAGEMAP_SCAN"))
		CU_ASSERT_FALSE(s & SODP_HMM_SRC_PAGEMAP_SCAN);
	if (getenv("SOFTODP_HMM_NO_PROCMAP_QUERY"))
		CU_ASSERT_FALSE(s & SODP_HMM_SRC_PROCMAP_QUERY);
	if (!getenv("SOFTODP_HMM_NO_UFFD") && geteuid() == 0)
		CU_ASSERT_TRUE(s & SODP_HMM_SRC_UFFD); /* root may always open one */
}

static void test_free_of_large_malloc_reaches_callback_via_uffd(void)
{
	size_t len = 8 * MB;
	struct sodp_hmm_counters c;
	struct dmirror d;
	uintptr_t s, e;
	char *p;

	if (!have_source(SODP_HMM_SRC_UFFD))
		SODP_SKIP("userfaultfd channel not active");
	/* A fixed threshold: glibc's dynamic one could move the block to the heap. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	p = malloc(len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(p, 'm', len);
	s = ((uintptr_t)p + PAGE - 1) & ~(PAGE - 1);
	e = ((uintptr_t)p + len) & ~(PAGE - 1);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, (void *)s, e - s), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, s, e - s, true), 0);
	sodp_hmm_reset_counters();
	free(p); /* glibc's internal munmap: no hook sees it */
	CU_ASSERT_TRUE(wait_until(invalidated, &d, 5000));
	CU_ASSERT_TRUE(wait_until(hook_missed, NULL, 5000));
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_UNMAP), 1);
	sodp_hmm_get_counters(&c);
	CU_ASSERT_TRUE(c.hook_misses >= 1);
	CU_ASSERT_TRUE(c.events[SODP_HMM_FROM_UFFD][SODP_EVENT_UNMAP] >= 1);
	dmirror_fini(&d);
}

static void test_raw_munmap_counted_as_hook_miss(void)
{
	size_t len = 8 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct sodp_hmm_counters c;
	struct dmirror d;

	if (!have_source(SODP_HMM_SRC_UFFD)) {
		munmap(p, len);
		SODP_SKIP("userfaultfd channel not active");
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	sodp_hmm_reset_counters();
	CU_ASSERT_EQUAL(syscall(SYS_munmap, p, len), 0);
	CU_ASSERT_TRUE(wait_until(invalidated, &d, 5000));
	/* The reader counts the miss after the callback has returned. */
	CU_ASSERT_TRUE(wait_until(hook_missed, NULL, 5000));
	sodp_hmm_get_counters(&c);
	CU_ASSERT_EQUAL(c.hook_misses, 1);
	CU_ASSERT_EQUAL(c.events[SODP_HMM_FROM_UFFD][SODP_EVENT_UNMAP], 1);
	CU_ASSERT_EQUAL(c.events[SODP_HMM_FROM_HOOK][SODP_EVENT_UNMAP], 0);
	dmirror_fini(&d);
}

static void test_raw_madvise_dontneed_reaches_callback(void)
{
	size_t len = 8 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	if (!have_source(SODP_HMM_SRC_UFFD)) {
		munmap(p, len);
		SODP_SKIP("userfaultfd channel not active");
	}
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	CU_ASSERT_EQUAL(syscall(SYS_madvise, p, len, MADV_DONTNEED), 0);
	CU_ASSERT_TRUE(wait_until(invalidated, &d, 5000));
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_CLEAR), 1);
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_raw_mremap_move_reaches_callback(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE), *q;
	struct dmirror d;
	void *remapped;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	if (!have_source(SODP_HMM_SRC_UFFD)) {
		munmap(p, len);
		SODP_SKIP("userfaultfd channel not active");
	}
	memset(p, 'r', len);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	q = (char *)syscall(SYS_mremap, p, len, 256 * PAGE, MREMAP_MAYMOVE);
	CU_ASSERT_FATAL(q != MAP_FAILED);
	if (q == p) {
		dmirror_fini(&d);
		munmap(q, 256 * PAGE);
		SODP_SKIP("mremap grew in place");
	}
	CU_ASSERT_TRUE(wait_until(invalidated, &d, 5000));
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_UNMAP), 1);
	CU_ASSERT_EQUAL(q[0], 'r');
	/* The VMA moved with its registration; no notifier there, so it goes. */
	remapped = q;
	CU_ASSERT_TRUE(wait_until(unregistered, remapped, 5000));
	dmirror_fini(&d);
	munmap(q, 256 * PAGE);
}

static void test_hooked_munmap_is_not_delivered_twice(void)
{
	size_t len = 8 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct sodp_hmm_counters c;
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	if (!have_source(SODP_HMM_SRC_UFFD)) {
		munmap(p, len);
		SODP_SKIP("userfaultfd channel not active");
	}
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	sodp_hmm_reset_counters();
	CU_ASSERT_EQUAL(munmap(p, len), 0);
	CU_ASSERT_EQUAL(dmirror_invalidations(&d), 1);
	/*
	 * The hook lifts the registration for its own call, so the kernel has
	 * nothing to send; if it did, the reader would deduplicate it.
	 */
	CU_ASSERT_FALSE(wait_until(hook_missed, NULL, 50));
	sodp_hmm_get_counters(&c);
	CU_ASSERT_EQUAL(c.hook_misses, 0);
	CU_ASSERT_EQUAL(c.uffd_events, c.uffd_dedup);
	CU_ASSERT_EQUAL(c.events[SODP_HMM_FROM_HOOK][SODP_EVENT_UNMAP], 1);
	CU_ASSERT_EQUAL(dmirror_invalidations(&d), 1);
	dmirror_fini(&d);
}

/*
 * Registration is by whole VMAs: a mirror of a few unaligned pages inside a
 * large THP-backed mapping leaves it one VMA of huge pages, and a raw unmap
 * of part of the mirror, which no hook sees, still reaches the callback.
 */
static void test_small_unaligned_mirror_keeps_thp_vma_whole_and_gets_raw_munmap(void)
{
	size_t len = 8 * MB;
	char *p = map_anon_aligned(len, 2 * MB, PROT_READ | PROT_WRITE);
	uintptr_t s = (uintptr_t)p + 3 * MB + 5 * PAGE, gone = s + 2 * PAGE;
	struct sodp_hmm_counters c;
	struct sodp_notify_range last;
	struct vma_stats st;
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	if (!have_source(SODP_HMM_SRC_UFFD) || !thp_available()) {
		munmap(p, len);
		SODP_SKIP("needs the userfaultfd channel and THP");
	}
	CU_ASSERT_EQUAL_FATAL(madvise(p, len, MADV_HUGEPAGE), 0);
	memset(p, 1, len);
	CU_ASSERT_EQUAL(vma_stats(p, len, &st), 0);
	CU_ASSERT_EQUAL(st.vmas, 1);
	CU_ASSERT_EQUAL(st.anon_huge_kb, len / 1024);

	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, (void *)s, 8 * PAGE), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, s, 8 * PAGE, true), 0);
	CU_ASSERT_EQUAL(vma_stats(p, len, &st), 0);
	CU_ASSERT_EQUAL(st.vmas, 1);
	CU_ASSERT_EQUAL(st.uffd_wp, 1);
	CU_ASSERT_EQUAL(st.anon_huge_kb, len / 1024);

	sodp_hmm_reset_counters();
	CU_ASSERT_EQUAL(syscall(SYS_munmap, gone, 2 * PAGE), 0);
	CU_ASSERT_TRUE(wait_until(invalidated, &d, 5000));
	CU_ASSERT_TRUE(wait_until(hook_missed, NULL, 5000));
	pthread_mutex_lock(&d.lock);
	last = d.last;
	pthread_mutex_unlock(&d.lock);
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_UNMAP), 1);
	CU_ASSERT_EQUAL(last.start, gone);
	CU_ASSERT_EQUAL(last.end, gone + 2 * PAGE);
	sodp_hmm_get_counters(&c);
	CU_ASSERT_EQUAL(c.hook_misses, 1);
	CU_ASSERT_EQUAL(c.events[SODP_HMM_FROM_UFFD][SODP_EVENT_UNMAP], 1);
	dmirror_fini(&d);
	munmap(p, len);
}

/*
 * The registration goes with the last notifier in the VMA, in every piece
 * the VMA was split into meanwhile, so that it merges with its neighbours
 * again; while another notifier is in it, it stays.
 */
static void test_last_notifier_removed_unregisters_every_piece_of_its_vma(void)
{
	size_t len = 64 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct vma_stats st;
	struct dmirror a, b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	if (!have_source(SODP_HMM_SRC_UFFD)) {
		munmap(p, len);
		SODP_SKIP("userfaultfd channel not active");
	}
	/* Read-only, so that no writable neighbour merges into the VMA. */
	CU_ASSERT_EQUAL_FATAL(mprotect(p, len, PROT_READ), 0);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&a, p + 4 * PAGE, 2 * PAGE), 0);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&b, p + 10 * PAGE, 2 * PAGE), 0);
	CU_ASSERT_EQUAL(vma_stats(p, len, &st), 0);
	CU_ASSERT_EQUAL(st.vmas, 1);
	CU_ASSERT_EQUAL(st.uffd_wp, 1);
	/* Split the registered VMA in three; b stays in the middle piece. */
	CU_ASSERT_EQUAL(mprotect(p + 8 * PAGE, 8 * PAGE, PROT_NONE), 0);
	CU_ASSERT_EQUAL(vma_stats(p, len, &st), 0);
	CU_ASSERT_EQUAL(st.vmas, 3);
	CU_ASSERT_EQUAL(st.uffd_wp, 3);
	dmirror_fini(&a);
	CU_ASSERT_EQUAL(vma_stats(p, len, &st), 0);
	CU_ASSERT_EQUAL(st.uffd_wp, 1);
	dmirror_fini(&b);
	CU_ASSERT_EQUAL(mprotect(p + 8 * PAGE, 8 * PAGE, PROT_READ), 0);
	CU_ASSERT_EQUAL(vma_stats(p, len, &st), 0);
	CU_ASSERT_EQUAL(st.uffd_wp, 0);
	CU_ASSERT_EQUAL(st.vmas, 1);
	munmap(p, len);
}

/*
 * A hooked MADV_DONTNEED lifts the registration of what it zaps for the
 * call and puts it back, mirrored or not: the VMA is one registered VMA
 * again afterwards, and the kernel sent no event for the reader to wait on.
 */
static void test_hooked_dontneed_leaves_registered_vma_whole_without_events(void)
{
	size_t len = 64 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct sodp_hmm_counters c;
	struct vma_stats st;
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	if (!have_source(SODP_HMM_SRC_UFFD)) {
		munmap(p, len);
		SODP_SKIP("userfaultfd channel not active");
	}
	memset(p, 'z', len);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p + 8 * PAGE, 8 * PAGE), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p + 8 * PAGE, 8 * PAGE, true), 0);
	sodp_hmm_reset_counters();
	CU_ASSERT_EQUAL(madvise(p + 10 * PAGE, 2 * PAGE, MADV_DONTNEED), 0);
	CU_ASSERT_EQUAL(madvise(p + 40 * PAGE, 2 * PAGE, MADV_DONTNEED), 0);
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_CLEAR), 1);
	CU_ASSERT_EQUAL(vma_stats(p, len, &st), 0);
	CU_ASSERT_EQUAL(st.vmas, 1);
	CU_ASSERT_EQUAL(st.uffd_wp, 1);
	CU_ASSERT_FALSE(wait_until(hook_missed, NULL, 50));
	sodp_hmm_get_counters(&c);
	CU_ASSERT_EQUAL(c.uffd_events, 0);
	CU_ASSERT_EQUAL(p[40 * PAGE], 0);
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_counters_record_latency_and_faults(void)
{
	size_t len = 8 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct sodp_hmm_counters c;
	struct dmirror d;
	uint64_t out[8];

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	sodp_hmm_reset_counters();
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	CU_ASSERT_EQUAL(dmirror_snapshot(&d, (uintptr_t)p, len, out), 0);
	CU_ASSERT_EQUAL(madvise(p, len, MADV_DONTNEED), 0);
	CU_ASSERT_EQUAL(sodp_hmm_get_counters(&c), 0);
	CU_ASSERT_EQUAL(c.faults, 1);
	CU_ASSERT_EQUAL(c.snapshots, 1);
	CU_ASSERT_EQUAL(c.pages_faulted, 8);
	CU_ASSERT_EQUAL(c.events[SODP_HMM_FROM_HOOK][SODP_EVENT_CLEAR], 1);
	CU_ASSERT_EQUAL(c.callbacks, 1);
	CU_ASSERT_EQUAL(c.inval_latency_count, 1);
	CU_ASSERT_TRUE(c.inval_latency_p50_ns > 0);
	CU_ASSERT_TRUE(c.inval_latency_p99_ns >= c.inval_latency_p50_ns);
	sodp_hmm_reset_counters();
	sodp_hmm_get_counters(&c);
	CU_ASSERT_EQUAL(c.faults + c.snapshots + c.callbacks + c.inval_latency_count, 0);
	dmirror_fini(&d);
	munmap(p, len);
}

static const struct sodp_test_case uffd_tests[] = {
	{"test_sources_follow_environment", test_sources_follow_environment},
	{"test_free_of_large_malloc_reaches_callback_via_uffd",
	 test_free_of_large_malloc_reaches_callback_via_uffd},
	{"test_raw_munmap_counted_as_hook_miss", test_raw_munmap_counted_as_hook_miss},
	{"test_raw_madvise_dontneed_reaches_callback", test_raw_madvise_dontneed_reaches_callback},
	{"test_raw_mremap_move_reaches_callback", test_raw_mremap_move_reaches_callback},
	{"test_hooked_munmap_is_not_delivered_twice", test_hooked_munmap_is_not_delivered_twice},
	{"test_small_unaligned_mirror_keeps_thp_vma_whole_and_gets_raw_munmap",
	 test_small_unaligned_mirror_keeps_thp_vma_whole_and_gets_raw_munmap},
	{"test_last_notifier_removed_unregisters_every_piece_of_its_vma",
	 test_last_notifier_removed_unregisters_every_piece_of_its_vma},
	{"test_hooked_dontneed_leaves_registered_vma_whole_without_events",
	 test_hooked_dontneed_leaves_registered_vma_whole_without_events},
	{"test_counters_record_latency_and_faults", test_counters_record_latency_and_faults},
	{NULL, NULL},
};

void hmm_register_uffd_tests(void)
{
	sodp_add_suite("hmm_uffd", NULL, NULL, uffd_tests);
}
