// SPDX-License-Identifier: MIT
/*
 * The synchronous event source: each interposed call runs the callbacks
 * before the real call. The probes read the memory from inside the callback
 * to prove it is still mapped (a read of unmapped memory would crash).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "hmm_test.h"

/* Inside the callback: the first byte of the range still reads its value. */
static void probe_still_mapped(struct dmirror *d, const struct sodp_notify_range *r)
{
	const volatile char *p = (const volatile char *)(r->start > d->start ? r->start : d->start);
	char want = *(const char *)d->probe_arg;

	/* Only the hooked call's own thread: later event deliveries may come
	 * after the memory is gone. */
	if (!pthread_equal(pthread_self(), d->owner))
		return;
	if (*p == want)
		d->probe_result++;
	else
		d->probe_result = -1000;
}

static char *mirrored(struct dmirror *d, size_t len, char fill)
{
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	static char want[256];

	if (!p)
		return NULL;
	memset(p, fill, len);
	want[(unsigned char)fill] = fill;
	if (dmirror_init(d, p, len))
		return NULL;
	if (dmirror_fault(d, (uintptr_t)p, len, true))
		return NULL;
	d->probe = probe_still_mapped;
	d->probe_arg = &want[(unsigned char)fill];
	return p;
}

static void test_munmap_invalidates_before_unmap(void)
{
	size_t len = 8 * PAGE;
	struct dmirror d;
	char *p = mirrored(&d, len, 'm');

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(munmap(p + 2 * PAGE, 2 * PAGE), 0);
	CU_ASSERT_EQUAL(d.probe_result, 1);
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_UNMAP), 1);
	CU_ASSERT_EQUAL(d.last.start, (uintptr_t)p + 2 * PAGE);
	CU_ASSERT_EQUAL(d.last.end, (uintptr_t)p + 4 * PAGE);
	CU_ASSERT_EQUAL(dmirror_entry(&d, (uintptr_t)p + 2 * PAGE), 0);
	CU_ASSERT_TRUE(!!(dmirror_entry(&d, (uintptr_t)p) & SODP_PFN_VALID));
	d.probe = NULL;
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_mremap_move_invalidates_old_range_before_move(void)
{
	size_t len = 4 * PAGE;
	struct dmirror d;
	char *p = mirrored(&d, len, 'r'), *q;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	q = mremap(p, len, 64 * PAGE, MREMAP_MAYMOVE);
	CU_ASSERT_FATAL(q != MAP_FAILED);
	CU_ASSERT_EQUAL(d.probe_result, 1);
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_UNMAP), 1);
	CU_ASSERT_EQUAL(q[PAGE], 'r');
	d.probe = NULL;
	dmirror_fini(&d);
	munmap(q, 64 * PAGE);
}

static void test_mremap_shrink_invalidates_tail_only(void)
{
	size_t len = 8 * PAGE;
	struct dmirror d;
	char *p = mirrored(&d, len, 's'), *q;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	q = mremap(p, len, 3 * PAGE, 0);
	CU_ASSERT_EQUAL_FATAL(q, p);
	CU_ASSERT_EQUAL(d.probe_result, 1);
	CU_ASSERT_EQUAL(d.last.start, (uintptr_t)p + 3 * PAGE);
	CU_ASSERT_TRUE(!!(dmirror_entry(&d, (uintptr_t)p + 2 * PAGE) & SODP_PFN_VALID));
	CU_ASSERT_EQUAL(dmirror_entry(&d, (uintptr_t)p + 3 * PAGE), 0);
	d.probe = NULL;
	dmirror_fini(&d);
	munmap(p, 3 * PAGE);
}

static void test_mremap_grow_in_place_does_not_invalidate(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(2 * len, PROT_READ | PROT_WRITE);
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	/* Free room right above the mirror, so the grow can stay in place. */
	CU_ASSERT_EQUAL_FATAL(munmap(p + len, len), 0);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	/* Without MREMAP_MAYMOVE the pages cannot move: nothing to tell. */
	CU_ASSERT_EQUAL(mremap(p, len, 2 * len, 0), p);
	CU_ASSERT_EQUAL(dmirror_invalidations(&d), 0);
	dmirror_fini(&d);
	munmap(p, 2 * len);
}

static void test_madvise_dontneed_clears_before_call(void)
{
	size_t len = 8 * PAGE;
	struct dmirror d;
	char *p = mirrored(&d, len, 'd');

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(madvise(p, len, MADV_DONTNEED), 0);
	CU_ASSERT_EQUAL(d.probe_result, 1);
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_CLEAR), 1);
	CU_ASSERT_EQUAL(p[0], 0); /* the pages really were dropped after */
	d.probe = NULL;
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_madvise_free_clears_before_call(void)
{
	size_t len = 8 * PAGE;
	struct dmirror d;
	char *p = mirrored(&d, len, 'f');

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(madvise(p, len, MADV_FREE), 0);
	CU_ASSERT_EQUAL(d.probe_result, 1);
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_CLEAR), 1);
	d.probe = NULL;
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_madvise_willneed_does_not_invalidate(void)
{
	size_t len = 8 * PAGE;
	struct dmirror d;
	char *p = mirrored(&d, len, 'w');

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(madvise(p, len, MADV_WILLNEED), 0);
	CU_ASSERT_EQUAL(posix_madvise(p, len, POSIX_MADV_DONTNEED), 0);
	CU_ASSERT_EQUAL(dmirror_invalidations(&d), 0);
	CU_ASSERT_EQUAL(p[0], 'w'); /* glibc semantics: POSIX_MADV_DONTNEED keeps data */
	d.probe = NULL;
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_mprotect_downgrade_invalidates_before_call(void)
{
	size_t len = 4 * PAGE;
	struct dmirror d;
	char *p = mirrored(&d, len, 'p');

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(mprotect(p, len, PROT_READ), 0);
	CU_ASSERT_EQUAL(d.probe_result, 1);
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_PROTECTION), 1);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), -EPERM);
	d.probe = NULL;
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_mprotect_upgrade_does_not_invalidate(void)
{
	size_t len = 4 * PAGE;
	struct dmirror d;
	char *p = mirrored(&d, len, 'u');

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(mprotect(p, len, PROT_READ | PROT_WRITE | PROT_EXEC), 0);
	CU_ASSERT_EQUAL(dmirror_invalidations(&d), 0);
	d.probe = NULL;
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_map_fixed_over_mirror_invalidates_before_call(void)
{
	size_t len = 4 * PAGE;
	struct dmirror d;
	char *p = mirrored(&d, len, 'x'), *q;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	q = mmap(p + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0);
	CU_ASSERT_EQUAL_FATAL(q, p + PAGE);
	CU_ASSERT_EQUAL(d.probe_result, 1);
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_UNMAP), 1);
	CU_ASSERT_EQUAL(q[0], 0);
	d.probe = NULL;
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_shmdt_invalidates_before_detach(void)
{
	size_t len = 4 * PAGE;
	int id = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600);
	static char want = 'h';
	struct dmirror d;
	char *p;

	if (id < 0)
		SODP_SKIP("no SysV shared memory");
	p = shmat(id, NULL, 0);
	shmctl(id, IPC_RMID, NULL);
	CU_ASSERT_FATAL(p != (void *)-1);
	memset(p, 'h', len);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	d.probe = probe_still_mapped;
	d.probe_arg = &want;
	CU_ASSERT_EQUAL(shmdt(p), 0);
	CU_ASSERT_EQUAL(d.probe_result, 1);
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_UNMAP), 1);
	d.probe = NULL;
	dmirror_fini(&d);
}

static void test_sbrk_shrink_invalidates_before_call(void)
{
	static char want = 's';
	struct dmirror d;
	char *top;

	/*
	 * Everything that allocates happens before the break moves, so that
	 * malloc never extends the heap between our grow and our shrink.
	 */
	top = (char *)(((uintptr_t)sbrk(0) + 2 * PAGE - 1) & ~(PAGE - 1));
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, top, PAGE), 0);
	d.probe = probe_still_mapped;
	d.probe_arg = &want;
	if (sbrk(16 * PAGE) == (void *)-1) {
		d.probe = NULL;
		dmirror_fini(&d);
		SODP_SKIP("no brk heap");
	}
	memset(top, 's', PAGE);
	CU_ASSERT_NOT_EQUAL(sbrk(-16 * (intptr_t)PAGE), (void *)-1);
	CU_ASSERT_EQUAL(d.probe_result, 1);
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_UNMAP), 1);
	d.probe = NULL;
	dmirror_fini(&d);
}

static void test_hooks_set_errno_like_libc(void)
{
	size_t len = 4 * PAGE;
	struct dmirror d;
	char *p = mirrored(&d, len, 'e');

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	errno = 0;
	CU_ASSERT_EQUAL(munmap(p + 1, PAGE), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(mprotect(p + 1, PAGE, PROT_READ), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(madvise(p, len, 12345), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_EQUAL(mmap(p, len, PROT_READ, MAP_PRIVATE | MAP_FIXED, -1, 0), MAP_FAILED);
	CU_ASSERT_EQUAL(errno, EBADF);
	errno = 0;
	CU_ASSERT_EQUAL(mremap(p + 1, PAGE, 2 * PAGE, MREMAP_MAYMOVE), MAP_FAILED);
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 1234;
	CU_ASSERT_EQUAL(posix_madvise(p + 1, PAGE, POSIX_MADV_WILLNEED), EINVAL);
	CU_ASSERT_EQUAL(errno, 1234);
	CU_ASSERT_EQUAL(munmap(NULL, 0), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	d.probe = NULL;
	dmirror_fini(&d);
	munmap(p, len);
}

struct racer {
	char *p;
	size_t len;
	int go;
};

static void *unmap_later(void *arg)
{
	struct racer *r = arg;

	while (!__atomic_load_n(&r->go, __ATOMIC_SEQ_CST))
		sched_yield();
	usleep(100);
	munmap(r->p, r->len);
	return NULL;
}

static void test_read_racing_munmap_gets_data_or_clean_error(void)
{
	size_t len = 64 * PAGE;
	int round, i;

	for (round = 0; round < 20; round++) {
		struct racer r = {map_anon(len, PROT_READ | PROT_WRITE), len, 0};
		struct dmirror d;
		char buf[PAGE];
		pthread_t t;

		CU_ASSERT_PTR_NOT_NULL_FATAL(r.p);
		memset(r.p, 'q', len);
		CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, r.p, len), 0);
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, unmap_later, &r), 0);
		__atomic_store_n(&r.go, 1, __ATOMIC_SEQ_CST);
		for (i = 0; i < 2000; i++) {
			int ret = dmirror_read(&d, (uintptr_t)r.p + (size_t)(i % 64) * PAGE, buf,
					       sizeof(buf));

			if (ret) {
				CU_ASSERT_EQUAL(ret, -EFAULT);
				break;
			}
			CU_ASSERT_EQUAL(buf[0], 'q');
			CU_ASSERT_EQUAL(buf[PAGE - 1], 'q');
		}
		pthread_join(t, NULL);
		dmirror_fini(&d);
	}
}

static const struct sodp_test_case hook_tests[] = {
	{"test_munmap_invalidates_before_unmap", test_munmap_invalidates_before_unmap},
	{"test_mremap_move_invalidates_old_range_before_move",
	 test_mremap_move_invalidates_old_range_before_move},
	{"test_mremap_shrink_invalidates_tail_only", test_mremap_shrink_invalidates_tail_only},
	{"test_mremap_grow_in_place_does_not_invalidate",
	 test_mremap_grow_in_place_does_not_invalidate},
	{"test_madvise_dontneed_clears_before_call", test_madvise_dontneed_clears_before_call},
	{"test_madvise_free_clears_before_call", test_madvise_free_clears_before_call},
	{"test_madvise_willneed_does_not_invalidate", test_madvise_willneed_does_not_invalidate},
	{"test_mprotect_downgrade_invalidates_before_call",
	 test_mprotect_downgrade_invalidates_before_call},
	{"test_mprotect_upgrade_does_not_invalidate", test_mprotect_upgrade_does_not_invalidate},
	{"test_map_fixed_over_mirror_invalidates_before_call",
	 test_map_fixed_over_mirror_invalidates_before_call},
	{"test_shmdt_invalidates_before_detach", test_shmdt_invalidates_before_detach},
	{"test_sbrk_shrink_invalidates_before_call", test_sbrk_shrink_invalidates_before_call},
	{"test_hooks_set_errno_like_libc", test_hooks_set_errno_like_libc},
	{"test_read_racing_munmap_gets_data_or_clean_error",
	 test_read_racing_munmap_gets_data_or_clean_error},
	{NULL, NULL},
};

void hmm_register_hook_tests(void)
{
	sodp_add_suite("hmm_hooks", NULL, NULL, hook_tests);
}
