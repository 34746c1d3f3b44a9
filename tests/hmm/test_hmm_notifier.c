// SPDX-License-Identifier: MIT
/*
 * Interval notifiers: the sequence protocol, many and overlapping notifiers,
 * remove waiting for a running callback, deferred insert.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hmm_test.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct counting {
	struct sodp_interval_notifier n;
	unsigned long calls;
	enum sodp_event last;
};

static bool counting_invalidate(struct sodp_interval_notifier *n, const struct sodp_notify_range *r,
				unsigned long cur_seq)
{
	struct counting *c = container_of(n, struct counting, n);

	sodp_interval_set_seq(n, cur_seq);
	__atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&c->last, r->event, __ATOMIC_RELAXED);
	return true;
}

static const struct sodp_interval_notifier_ops counting_ops = {.invalidate = counting_invalidate};

static unsigned long calls_of(struct counting *c)
{
	return __atomic_load_n(&c->calls, __ATOMIC_RELAXED);
}

static void test_read_retry_true_after_invalidation(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct counting c = {0};
	unsigned long seq;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(sodp_interval_notifier_insert(&c.n, (uintptr_t)p, len, &counting_ops),
			      0);
	seq = sodp_interval_read_begin(&c.n);
	CU_ASSERT_FALSE(sodp_interval_read_retry(&c.n, seq));
	CU_ASSERT_EQUAL(madvise(p, PAGE, MADV_DONTNEED), 0);
	CU_ASSERT_TRUE(sodp_interval_read_retry(&c.n, seq));
	seq = sodp_interval_read_begin(&c.n);
	CU_ASSERT_FALSE(sodp_interval_read_retry(&c.n, seq));
	sodp_interval_notifier_remove(&c.n);
	munmap(p, len);
}

static void test_range_fault_returns_ebusy_when_sequence_moved(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	uint64_t pfns[4] = {0};
	struct counting c = {0};
	struct sodp_hmm_range r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(sodp_interval_notifier_insert(&c.n, (uintptr_t)p, len, &counting_ops),
			      0);
	r = (struct sodp_hmm_range){
		.notifier = &c.n,
		.notifier_seq = sodp_interval_read_begin(&c.n),
		.start = (uintptr_t)p,
		.end = (uintptr_t)p + len,
		.hmm_pfns = pfns,
		.default_flags = SODP_PFN_REQ_FAULT,
	};
	CU_ASSERT_EQUAL(mprotect(p, len, PROT_READ), 0);
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), -EBUSY);
	r.notifier_seq = sodp_interval_read_begin(&c.n);
	CU_ASSERT_EQUAL(sodp_hmm_range_fault(&r), 0);
	sodp_interval_notifier_remove(&c.n);
	munmap(p, len);
}

static void test_ten_thousand_notifiers_each_invalidated(void)
{
	const size_t nr = 10000, len = nr * PAGE;
	struct counting *c = calloc(nr, sizeof(*c));
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	size_t i, hit = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (i = 0; i < nr; i++)
		CU_ASSERT_EQUAL_FATAL(sodp_interval_notifier_insert(&c[i].n,
								    (uintptr_t)p + i * PAGE, PAGE,
								    &counting_ops),
				      0);
	/* One page: exactly one notifier. */
	CU_ASSERT_EQUAL(madvise(p + 777 * PAGE, PAGE, MADV_DONTNEED), 0);
	for (i = 0; i < nr; i++)
		hit += calls_of(&c[i]);
	CU_ASSERT_EQUAL(hit, 1);
	CU_ASSERT_EQUAL(calls_of(&c[777]), 1);
	/* All of it: every notifier once. */
	CU_ASSERT_EQUAL(madvise(p, len, MADV_DONTNEED), 0);
	for (i = 0; i < nr; i++)
		CU_ASSERT_EQUAL(calls_of(&c[i]), i == 777 ? 2 : 1);
	for (i = 0; i < nr; i++)
		sodp_interval_notifier_remove(&c[i].n);
	free(c);
	munmap(p, len);
}

static void test_overlapping_notifiers_all_invalidated(void)
{
	size_t len = 64 * PAGE, i;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct counting c[8];

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(c, 0, sizeof(c));
	/* Nested and staggered intervals, some sub-page. */
	for (i = 0; i < 8; i++)
		CU_ASSERT_EQUAL_FATAL(
			sodp_interval_notifier_insert(&c[i].n, (uintptr_t)p + i * 4 * PAGE + i,
						      len - i * 8 * PAGE - 2 * i, &counting_ops),
			0);
	CU_ASSERT_EQUAL(madvise(p + 30 * PAGE, 2 * PAGE, MADV_DONTNEED), 0);
	for (i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(calls_of(&c[i]), 1);
	/* Only the outermost covers the first page. */
	CU_ASSERT_EQUAL(madvise(p, PAGE, MADV_DONTNEED), 0);
	CU_ASSERT_EQUAL(calls_of(&c[0]), 2);
	for (i = 1; i < 8; i++)
		CU_ASSERT_EQUAL(calls_of(&c[i]), 1);
	for (i = 0; i < 8; i++)
		sodp_interval_notifier_remove(&c[i].n);
	munmap(p, len);
}

static void test_unrelated_munmap_does_not_call_callback(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE), *q = map_anon(len, PROT_READ | PROT_WRITE);
	struct counting c = {0};

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL_FATAL(sodp_interval_notifier_insert(&c.n, (uintptr_t)p, len, &counting_ops),
			      0);
	CU_ASSERT_EQUAL(munmap(q, len), 0);
	CU_ASSERT_EQUAL(calls_of(&c), 0);
	sodp_interval_notifier_remove(&c.n);
	munmap(p, len);
}

/* A callback that blocks until released, to catch remove() in the act. */
struct slow {
	struct sodp_interval_notifier n;
	int entered, release, finished;
};

static bool slow_invalidate(struct sodp_interval_notifier *n, const struct sodp_notify_range *r,
			    unsigned long cur_seq)
{
	struct slow *s = container_of(n, struct slow, n);
	int i;

	sodp_interval_set_seq(n, cur_seq);
	__atomic_store_n(&s->entered, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 5000 && !__atomic_load_n(&s->release, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	__atomic_store_n(&s->finished, 1, __ATOMIC_SEQ_CST);
	return true;
}

static const struct sodp_interval_notifier_ops slow_ops = {.invalidate = slow_invalidate};

struct slow_job {
	char *p;
	size_t len;
};

static void *dontneed_thread(void *arg)
{
	struct slow_job *j = arg;

	madvise(j->p, j->len, MADV_DONTNEED);
	return NULL;
}

static bool entered(void *arg)
{
	return __atomic_load_n(&((struct slow *)arg)->entered, __ATOMIC_SEQ_CST);
}

struct remover {
	struct slow *s;
	int done;
};

static void *remove_thread(void *arg)
{
	struct remover *r = arg;

	sodp_interval_notifier_remove(&r->s->n);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_remove_waits_for_running_callback(void)
{
	size_t len = 4 * PAGE;
	struct slow_job job = {map_anon(len, PROT_READ | PROT_WRITE), len};
	struct slow s = {0};
	struct remover rm = {&s, 0};
	pthread_t t1, t2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(job.p);
	CU_ASSERT_EQUAL_FATAL(sodp_interval_notifier_insert(&s.n, (uintptr_t)job.p, len, &slow_ops),
			      0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t1, NULL, dontneed_thread, &job), 0);
	CU_ASSERT_FATAL(wait_until(entered, &s, 5000));
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t2, NULL, remove_thread, &rm), 0);
	usleep(20000);
	/* The callback is still running: remove() must not have returned. */
	CU_ASSERT_EQUAL(__atomic_load_n(&rm.done, __ATOMIC_SEQ_CST), 0);
	__atomic_store_n(&s.release, 1, __ATOMIC_SEQ_CST);
	pthread_join(t2, NULL);
	CU_ASSERT_EQUAL(__atomic_load_n(&s.finished, __ATOMIC_SEQ_CST), 1);
	pthread_join(t1, NULL);
	munmap(job.p, len);
}

static void test_insert_during_invalidation_is_deferred(void)
{
	size_t len = 4 * PAGE;
	struct slow_job job = {map_anon(len, PROT_READ | PROT_WRITE), len};
	struct slow s = {0};
	struct counting c = {0};
	unsigned long seq;
	pthread_t t1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(job.p);
	CU_ASSERT_EQUAL_FATAL(sodp_interval_notifier_insert(&s.n, (uintptr_t)job.p, len, &slow_ops),
			      0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t1, NULL, dontneed_thread, &job), 0);
	CU_ASSERT_FATAL(wait_until(entered, &s, 5000));
	/* Inserted mid-invalidation: joins when it ends, read_begin waits for that. */
	CU_ASSERT_EQUAL(sodp_interval_notifier_insert(&c.n, (uintptr_t)job.p, len, &counting_ops),
			0);
	__atomic_store_n(&s.release, 1, __ATOMIC_SEQ_CST);
	seq = sodp_interval_read_begin(&c.n);
	CU_ASSERT_EQUAL(__atomic_load_n(&s.finished, __ATOMIC_SEQ_CST), 1);
	pthread_join(t1, NULL);
	CU_ASSERT_EQUAL(calls_of(&c), 0);
	CU_ASSERT_EQUAL(madvise(job.p, PAGE, MADV_DONTNEED), 0);
	CU_ASSERT_EQUAL(calls_of(&c), 1);
	CU_ASSERT_TRUE(sodp_interval_read_retry(&c.n, seq));
	sodp_interval_notifier_remove(&c.n);
	sodp_interval_notifier_remove(&s.n);
	munmap(job.p, len);
}

static void test_concurrent_faults_and_invalidations_converge(void)
{
	size_t len = 64 * PAGE;
	struct slow_job job = {map_anon(len, PROT_READ | PROT_WRITE), len};
	struct dmirror d;
	pthread_t t;
	int i, j;

	CU_ASSERT_PTR_NOT_NULL_FATAL(job.p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, job.p, len), 0);
	for (i = 0; i < 50; i++) {
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, dontneed_thread, &job), 0);
		for (j = 0; j < 4; j++)
			CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)job.p, len, true), 0);
		pthread_join(t, NULL);
	}
	dmirror_fini(&d);
	munmap(job.p, len);
}

static const struct sodp_test_case notifier_tests[] = {
	{"test_read_retry_true_after_invalidation", test_read_retry_true_after_invalidation},
	{"test_range_fault_returns_ebusy_when_sequence_moved",
	 test_range_fault_returns_ebusy_when_sequence_moved},
	{"test_ten_thousand_notifiers_each_invalidated",
	 test_ten_thousand_notifiers_each_invalidated},
	{"test_overlapping_notifiers_all_invalidated", test_overlapping_notifiers_all_invalidated},
	{"test_unrelated_munmap_does_not_call_callback",
	 test_unrelated_munmap_does_not_call_callback},
	{"test_remove_waits_for_running_callback", test_remove_waits_for_running_callback},
	{"test_insert_during_invalidation_is_deferred",
	 test_insert_during_invalidation_is_deferred},
	{"test_concurrent_faults_and_invalidations_converge",
	 test_concurrent_faults_and_invalidations_converge},
	{NULL, NULL},
};

void hmm_register_notifier_tests(void)
{
	sodp_add_suite("hmm_notifier", NULL, NULL, notifier_tests);
}
