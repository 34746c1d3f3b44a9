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

/* The hooked call ran the callbacks once, with @event, before the change. */
static void assert_told_once_before(struct dmirror *d, enum sodp_event event)
{
	CU_ASSERT_EQUAL(d->probe_result, 1);
	CU_ASSERT_EQUAL(dmirror_events(d, event), 1);
	CU_ASSERT_EQUAL(dmirror_invalidations(d), 1);
}

#define NO_EVENT (-1)

/* What a call left mapped, for the caller to look at and unmap. */
struct after {
	char *map;
	size_t len;
};

/*
 * One interposed call on a mirrored interval of @pages pages, filled with
 * @fill and faulted in writable. @call makes the call and says whether it
 * returned what libc documents. With @event the mirror must have told its
 * notifier exactly once, before the call, over [@first, @last) (in pages
 * from the start) when @last is set; with NO_EVENT, not at all. @check
 * looks at what the caller sees afterwards.
 */
struct hook_case {
	const char *name;
	size_t pages;
	char fill;
	bool (*call)(char *p, size_t len, struct after *a);
	int event;
	size_t first, last;
	void (*check)(struct dmirror *d, char *p, const struct after *a);
};

static bool call_munmap_middle(char *p, size_t len, struct after *a)
{
	*a = (struct after){p, len};
	return munmap(p + 2 * PAGE, 2 * PAGE) == 0;
}

static void check_middle_dropped(struct dmirror *d, char *p, const struct after *a)
{
	(void)a;
	CU_ASSERT_EQUAL(dmirror_entry(d, (uintptr_t)p + 2 * PAGE), 0);
	CU_ASSERT_TRUE(!!(dmirror_entry(d, (uintptr_t)p) & SODP_PFN_VALID));
}

static bool call_mremap_move(char *p, size_t len, struct after *a)
{
	char *q = mremap(p, len, 64 * PAGE, MREMAP_MAYMOVE);

	*a = (struct after){q, 64 * PAGE};
	return q != MAP_FAILED;
}

static void check_data_moved(struct dmirror *d, char *p, const struct after *a)
{
	(void)d;
	(void)p;
	CU_ASSERT_EQUAL(a->map[PAGE], 'r');
}

static bool call_mremap_shrink(char *p, size_t len, struct after *a)
{
	*a = (struct after){p, 3 * PAGE};
	return mremap(p, len, 3 * PAGE, 0) == p;
}

static void check_tail_dropped(struct dmirror *d, char *p, const struct after *a)
{
	(void)a;
	CU_ASSERT_TRUE(!!(dmirror_entry(d, (uintptr_t)p + 2 * PAGE) & SODP_PFN_VALID));
	CU_ASSERT_EQUAL(dmirror_entry(d, (uintptr_t)p + 3 * PAGE), 0);
}

static bool call_madvise_dontneed(char *p, size_t len, struct after *a)
{
	*a = (struct after){p, len};
	return madvise(p, len, MADV_DONTNEED) == 0;
}

static void check_pages_dropped(struct dmirror *d, char *p, const struct after *a)
{
	(void)d;
	(void)a;
	CU_ASSERT_EQUAL(p[0], 0);
}

static bool call_madvise_free(char *p, size_t len, struct after *a)
{
	*a = (struct after){p, len};
	return madvise(p, len, MADV_FREE) == 0;
}

/* glibc's POSIX_MADV_DONTNEED does nothing, so it keeps the data. */
static bool call_madvise_willneed(char *p, size_t len, struct after *a)
{
	*a = (struct after){p, len};
	return madvise(p, len, MADV_WILLNEED) == 0 &&
	       posix_madvise(p, len, POSIX_MADV_DONTNEED) == 0;
}

static void check_data_kept(struct dmirror *d, char *p, const struct after *a)
{
	(void)d;
	(void)a;
	CU_ASSERT_EQUAL(p[0], 'w');
}

static bool call_mprotect_read_only(char *p, size_t len, struct after *a)
{
	*a = (struct after){p, len};
	return mprotect(p, len, PROT_READ) == 0;
}

static void check_write_fault_refused(struct dmirror *d, char *p, const struct after *a)
{
	CU_ASSERT_EQUAL(dmirror_fault(d, (uintptr_t)p, a->len, true), -EPERM);
}

static bool call_mprotect_add_exec(char *p, size_t len, struct after *a)
{
	*a = (struct after){p, len};
	return mprotect(p, len, PROT_READ | PROT_WRITE | PROT_EXEC) == 0;
}

static bool call_map_fixed_over_one_page(char *p, size_t len, struct after *a)
{
	*a = (struct after){p, len};
	return mmap(p + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		    -1, 0) == p + PAGE;
}

static void check_new_page_is_zero(struct dmirror *d, char *p, const struct after *a)
{
	(void)d;
	(void)a;
	CU_ASSERT_EQUAL(p[PAGE], 0);
}

static const struct hook_case hook_cases[] = {
	{"test_munmap_invalidates_before_unmap", 8, 'm', call_munmap_middle, SODP_EVENT_UNMAP, 2, 4,
	 check_middle_dropped},
	{"test_mremap_move_invalidates_old_range_before_move", 4, 'r', call_mremap_move,
	 SODP_EVENT_UNMAP, 0, 4, check_data_moved},
	{"test_mremap_shrink_invalidates_tail_only", 8, 's', call_mremap_shrink, SODP_EVENT_UNMAP,
	 3, 8, check_tail_dropped},
	{"test_madvise_dontneed_clears_before_call", 8, 'd', call_madvise_dontneed,
	 SODP_EVENT_CLEAR, 0, 8, check_pages_dropped},
	{"test_madvise_free_clears_before_call", 8, 'f', call_madvise_free, SODP_EVENT_CLEAR, 0, 8,
	 NULL},
	{"test_madvise_willneed_does_not_invalidate", 8, 'w', call_madvise_willneed, NO_EVENT, 0, 0,
	 check_data_kept},
	{"test_mprotect_downgrade_invalidates_before_call", 4, 'p', call_mprotect_read_only,
	 SODP_EVENT_PROTECTION, 0, 4, check_write_fault_refused},
	{"test_mprotect_upgrade_does_not_invalidate", 4, 'u', call_mprotect_add_exec, NO_EVENT, 0,
	 0, NULL},
	{"test_map_fixed_over_mirror_invalidates_before_call", 4, 'x', call_map_fixed_over_one_page,
	 SODP_EVENT_UNMAP, 1, 2, check_new_page_is_zero},
};

/* Every hook_cases test runs this; the name CUnit runs it under picks the case. */
static void run_hook_case(void)
{
	const char *name = CU_get_current_test()->pName;
	const struct hook_case *c = NULL;
	struct after a = {NULL, 0};
	struct dmirror d;
	size_t i, len;
	char *p;

	for (i = 0; i < sizeof(hook_cases) / sizeof(hook_cases[0]) && !c; i++)
		if (!strcmp(hook_cases[i].name, name))
			c = &hook_cases[i];
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	len = c->pages * PAGE;
	p = mirrored(&d, len, c->fill);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);

	CU_ASSERT_TRUE(c->call(p, len, &a));
	if (c->event == NO_EVENT) {
		CU_ASSERT_EQUAL(dmirror_invalidations(&d), 0);
	} else {
		assert_told_once_before(&d, (enum sodp_event)c->event);
	}
	if (c->event != NO_EVENT && c->last) {
		CU_ASSERT_EQUAL(d.last.start, (uintptr_t)p + c->first * PAGE);
		CU_ASSERT_EQUAL(d.last.end, (uintptr_t)p + c->last * PAGE);
	}
	if (c->check)
		c->check(&d, p, &a);
	d.probe = NULL;
	dmirror_fini(&d);
	if (a.map && a.map != MAP_FAILED)
		munmap(a.map, a.len);
	else
		munmap(p, len);
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
	assert_told_once_before(&d, SODP_EVENT_UNMAP);
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
	assert_told_once_before(&d, SODP_EVENT_UNMAP);
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

/* Tests whose set-up is their own. */
static const struct sodp_test_case other_tests[] = {
	{"test_mremap_grow_in_place_does_not_invalidate",
	 test_mremap_grow_in_place_does_not_invalidate},
	{"test_shmdt_invalidates_before_detach", test_shmdt_invalidates_before_detach},
	{"test_sbrk_shrink_invalidates_before_call", test_sbrk_shrink_invalidates_before_call},
	{"test_hooks_set_errno_like_libc", test_hooks_set_errno_like_libc},
	{"test_read_racing_munmap_gets_data_or_clean_error",
	 test_read_racing_munmap_gets_data_or_clean_error},
	{NULL, NULL},
};

#define NR_HOOK_CASES  (sizeof(hook_cases) / sizeof(hook_cases[0]))
#define NR_OTHER_TESTS (sizeof(other_tests) / sizeof(other_tests[0]))

/* One CUnit test per case of the table, named for its behaviour, then the others. */
static struct sodp_test_case hook_tests[NR_HOOK_CASES + NR_OTHER_TESTS];

void hmm_register_hook_tests(void)
{
	size_t i, n = 0;

	for (i = 0; i < NR_HOOK_CASES; i++)
		hook_tests[n++] = (struct sodp_test_case){hook_cases[i].name, run_hook_case};
	for (i = 0; i < NR_OTHER_TESTS; i++)
		hook_tests[n++] = other_tests[i];
	sodp_add_suite("hmm_hooks", NULL, NULL, hook_tests);
}
