// SPDX-License-Identifier: MIT
/* Every bad input gives a clear error and no crash. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "hmm_test.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Counts its calls, so a test can tell that a live notifier still works. */
struct counted {
	struct sodp_interval_notifier n;
	unsigned int calls;
};

static bool counted_invalidate(struct sodp_interval_notifier *n, const struct sodp_notify_range *r,
			       unsigned long cur_seq)
{
	struct counted *c = container_of(n, struct counted, n);

	(void)r;
	sodp_interval_set_seq(n, cur_seq);
	__atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
	return true;
}

static const struct sodp_interval_notifier_ops counted_ops = {.invalidate = counted_invalidate};
static const struct sodp_interval_notifier_ops no_callback_ops = {.invalidate = NULL};

#define POISON 0x5a

static bool all_bytes(const void *p, size_t len, unsigned char byte)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != byte)
			return false;
	return true;
}

/* Pages of [p, p + len) resident in memory. */
static size_t resident_pages(void *p, size_t len)
{
	unsigned char vec[64];
	size_t i, n = len / PAGE, in = 0;

	CU_ASSERT_FATAL(n <= sizeof(vec));
	CU_ASSERT_EQUAL_FATAL(mincore(p, len, vec), 0);
	for (i = 0; i < n; i++)
		in += vec[i] & 1;
	return in;
}

/*
 * -EINVAL, and the notifier's storage is left as it was: it is the
 * caller's, and a rejected insert never makes it a notifier. Run first in
 * its process, a rejected insert also starts none of the mirror's sources.
 */
static void test_insert_rejects_bad_arguments(void)
{
	bool started = sodp_hmm_sources() & SODP_HMM_SRC_ATFORK;
	struct sodp_interval_notifier n;
	uint64_t pfn = 0;
	struct sodp_hmm_range r = {
		.notifier = &n, .start = PAGE, .end = 2 * PAGE, .hmm_pfns = &pfn};

	memset(&n, POISON, sizeof(n));
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(NULL, 4096, 4096, &counted_ops), -EINVAL);
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(&n, 4096, 4096, NULL), -EINVAL);
	CU_ASSERT_TRUE(all_bytes(&n, sizeof(n), POISON));
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(&n, 4096, 4096, &no_callback_ops), -EINVAL);
	CU_ASSERT_TRUE(all_bytes(&n, sizeof(n), POISON));
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(&n, 4096, 0, &counted_ops), -EINVAL);
	CU_ASSERT_TRUE(all_bytes(&n, sizeof(n), POISON));
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(&n, UINTPTR_MAX - 10, 100, &counted_ops),
			-EINVAL);
	CU_ASSERT_TRUE(all_bytes(&n, sizeof(n), POISON));
	/* Not a notifier: a range fault through it is refused. */
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	if (!started)
		CU_ASSERT_FALSE(sodp_hmm_sources() & (SODP_HMM_SRC_ATFORK | SODP_HMM_SRC_UFFD));
}

/*
 * Every malformed range is -EINVAL before anything is done: the output
 * array keeps what the caller put there and no page is faulted in, though
 * each call asks for a write fault.
 */
static void test_range_fault_rejects_bad_ranges(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct sodp_interval_notifier never;
	struct counted c = {0};
	uint64_t pfns[4];
	struct sodp_hmm_range r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(&never, 0, sizeof(never));
	memset(pfns, POISON, sizeof(pfns));
	CU_ASSERT_EQUAL_FATAL(sodp_interval_notifier_insert(&c.n, (uintptr_t)p, len, &counted_ops),
			      0);
	r = (struct sodp_hmm_range){
		.notifier = &c.n,
		.notifier_seq = sodp_interval_read_begin(&c.n),
		.start = (uintptr_t)p,
		.end = (uintptr_t)p + len,
		.hmm_pfns = pfns,
		.default_flags = SODP_PFN_REQ_FAULT | SODP_PFN_REQ_WRITE,
	};
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(NULL), -EINVAL);
	r.notifier = NULL;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	r.notifier = &never;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	r.notifier = &c.n;
	r.hmm_pfns = NULL;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	r.hmm_pfns = pfns;
	r.start = (uintptr_t)p + 1;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	r.start = (uintptr_t)p;
	r.end = (uintptr_t)p + len - 1;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	r.end = r.start;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	r.end = r.start - PAGE;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	r.start = UINTPTR_MAX & ~(PAGE - 1);
	r.end = 0;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	r.start = (uintptr_t)1 << 60;
	r.end = r.start + PAGE;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	CU_ASSERT_TRUE(all_bytes(pfns, sizeof(pfns), POISON));
	CU_ASSERT_EQUAL(resident_pages(p, len), 0);
	CU_ASSERT_EQUAL(c.calls, 0);

	/* The same request on the well-formed range faults every page. */
	r.start = (uintptr_t)p;
	r.end = (uintptr_t)p + len;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), 0);
	CU_ASSERT_TRUE(!!(pfns[0] & SODP_PFN_WRITE));
	CU_ASSERT_EQUAL(resident_pages(p, len), 4);
	sodp_interval_notifier_remove(&c.n);
	/* Removed: the notifier no longer guards anything. */
	memset(pfns, POISON, sizeof(pfns));
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	CU_ASSERT_TRUE(all_bytes(pfns, sizeof(pfns), POISON));
	munmap(p, len);
}

/*
 * A mirrored interval and its notifier's sequence, to show that a call
 * changed nothing: the sequence has not moved, no callback ran, and the
 * notifier still hears of a change.
 */
struct witness {
	struct counted c;
	char *p;
	size_t len;
	unsigned long seq;
};

static void witness_start(struct witness *w)
{
	w->len = 4 * PAGE;
	w->p = map_anon(w->len, PROT_READ | PROT_WRITE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w->p);
	memset(&w->c, 0, sizeof(w->c));
	CU_ASSERT_EQUAL_FATAL(
		sodp_interval_notifier_insert(&w->c.n, (uintptr_t)w->p, w->len, &counted_ops), 0);
	w->seq = sodp_interval_read_begin(&w->c.n);
}

static void witness_check_unchanged_and_finish(struct witness *w)
{
	CU_ASSERT_EQUAL(w->c.calls, 0);
	CU_ASSERT_FALSE(sodp_interval_read_retry(&w->c.n, w->seq));
	CU_ASSERT_EQUAL(madvise(w->p, w->len, MADV_DONTNEED), 0);
	CU_ASSERT_EQUAL(w->c.calls, 1);
	CU_ASSERT_TRUE(sodp_interval_read_retry(&w->c.n, w->seq));
	sodp_interval_notifier_remove(&w->c.n);
	munmap(w->p, w->len);
}

/* A zeroed notifier that was never inserted: the storage and the mirror stay as they were. */
static void test_remove_of_never_inserted_notifier_changes_nothing(void)
{
	struct sodp_interval_notifier n;
	struct witness w;
	uint64_t pfn;
	struct sodp_hmm_range r = {.notifier = &n, .hmm_pfns = &pfn};

	witness_start(&w);
	memset(&n, 0, sizeof(n));
	sodp_interval_notifier_remove(&n);
	CU_ASSERT_TRUE(all_bytes(&n, sizeof(n), 0));
	r.start = (uintptr_t)w.p;
	r.end = r.start + PAGE;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	witness_check_unchanged_and_finish(&w);
}

static void test_remove_of_null_changes_nothing(void)
{
	struct witness w;

	witness_start(&w);
	sodp_interval_notifier_remove(NULL);
	witness_check_unchanged_and_finish(&w);
}

/* Removed twice over the same interval: the second removal touches neither it nor the other. */
static void test_second_remove_changes_nothing(void)
{
	struct counted gone = {0};
	struct witness w;

	witness_start(&w);
	CU_ASSERT_EQUAL_FATAL(
		sodp_interval_notifier_insert(&gone.n, (uintptr_t)w.p, w.len, &counted_ops), 0);
	sodp_interval_notifier_remove(&gone.n);
	sodp_interval_notifier_remove(&gone.n);
	witness_check_unchanged_and_finish(&w);
	CU_ASSERT_EQUAL(gone.calls, 0);
}

static void test_counters_reject_null(void)
{
	CU_ASSERT_EQUAL(sodp_hmm_get_counters(NULL), -EINVAL);
}

static void test_pfn_to_map_order_decodes_field(void)
{
	CU_ASSERT_EQUAL(sodp_hmm_pfn_to_map_order(0), 0);
	CU_ASSERT_EQUAL(sodp_hmm_pfn_to_map_order(SODP_PFN_VALID | (9ULL << 53) | 12345), 9);
	CU_ASSERT_EQUAL(sodp_hmm_pfn_to_map_order(SODP_PFN_VALID | SODP_PFN_WRITE | (18ULL << 53)),
			18);
	CU_ASSERT_EQUAL(sodp_hmm_pfn_to_map_order(SODP_PFN_ORDER_MASK), 31);
}

static const struct sodp_test_case input_tests[] = {
	{"test_insert_rejects_bad_arguments", test_insert_rejects_bad_arguments},
	{"test_range_fault_rejects_bad_ranges", test_range_fault_rejects_bad_ranges},
	{"test_remove_of_never_inserted_notifier_changes_nothing",
	 test_remove_of_never_inserted_notifier_changes_nothing},
	{"test_remove_of_null_changes_nothing", test_remove_of_null_changes_nothing},
	{"test_second_remove_changes_nothing", test_second_remove_changes_nothing},
	{"test_counters_reject_null", test_counters_reject_null},
	{"test_pfn_to_map_order_decodes_field", test_pfn_to_map_order_decodes_field},
	{NULL, NULL},
};

void hmm_register_input_tests(void)
{
	sodp_add_suite("hmm_input", NULL, NULL, input_tests);
}
