// SPDX-License-Identifier: MIT
/* Every bad input gives a clear error and no crash. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "hmm_test.h"

static bool nop_invalidate(struct sodp_interval_notifier *n, const struct sodp_notify_range *r,
			   unsigned long cur_seq)
{
	sodp_interval_set_seq(n, cur_seq);
	return true;
}

static const struct sodp_interval_notifier_ops nop_ops = {.invalidate = nop_invalidate};
static const struct sodp_interval_notifier_ops no_callback_ops = {.invalidate = NULL};

static void test_insert_rejects_bad_arguments(void)
{
	struct sodp_interval_notifier n;

	memset(&n, 0, sizeof(n));
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(NULL, 4096, 4096, &nop_ops), -EINVAL);
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(&n, 4096, 4096, NULL), -EINVAL);
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(&n, 4096, 4096, &no_callback_ops), -EINVAL);
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(&n, 4096, 0, &nop_ops), -EINVAL);
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(&n, UINTPTR_MAX - 10, 100, &nop_ops),
			-EINVAL);
}

static void test_range_fault_rejects_bad_ranges(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct sodp_interval_notifier n, never;
	uint64_t pfns[4];
	struct sodp_hmm_range r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(&never, 0, sizeof(never));
	CU_ASSERT_EQUAL_FATAL(sodp_interval_notifier_insert(&n, (uintptr_t)p, len, &nop_ops), 0);
	r = (struct sodp_hmm_range){
		.notifier = &n,
		.notifier_seq = sodp_interval_read_begin(&n),
		.start = (uintptr_t)p,
		.end = (uintptr_t)p + len,
		.hmm_pfns = pfns,
	};
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(NULL), -EINVAL);
	r.notifier = NULL;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	r.notifier = &never;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	r.notifier = &n;
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
	r.start = (uintptr_t)p;
	r.end = (uintptr_t)p + len;
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), 0);
	sodp_interval_notifier_remove(&n);
	/* Removed: the notifier no longer guards anything. */
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EINVAL);
	munmap(p, len);
}

static void test_remove_of_never_inserted_notifier_is_harmless(void)
{
	struct sodp_interval_notifier n;

	memset(&n, 0, sizeof(n));
	sodp_interval_notifier_remove(&n);
	sodp_interval_notifier_remove(NULL);
	CU_PASS("no crash");
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
	{"test_remove_of_never_inserted_notifier_is_harmless",
	 test_remove_of_never_inserted_notifier_is_harmless},
	{"test_counters_reject_null", test_counters_reject_null},
	{"test_pfn_to_map_order_decodes_field", test_pfn_to_map_order_decodes_field},
	{NULL, NULL},
};

void hmm_register_input_tests(void)
{
	sodp_add_suite("hmm_input", NULL, NULL, input_tests);
}
