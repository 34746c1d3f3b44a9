// SPDX-License-Identifier: MIT
/*
 * The notifier core alone: notifiers inserted with hmm_notifier_insert() and
 * ranges invalidated with hmm_inv_*(), as an event source does, in a
 * process where no event source ever starts. This binary never calls
 * sodp_interval_notifier_insert(), and every test checks that the
 * userfaultfd thread and the atfork handlers are still absent at its end.
 *
 * The intervals are addresses below mmap_min_addr, where nothing is mapped:
 * the core only compares numbers, and no real mapping change can reach them.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hmm_internal.h"
#include "sodp_test.h"

#define PG		     0x1000UL
#define WAIT_BLOCKED_US	     50000 /* how long a waiter must stay blocked */
#define UFFD_THREAD_NAME     "sodp-uffd"
#define UFFD_THREAD_NAME_LEN (sizeof(UFFD_THREAD_NAME) - 1)

struct rec {
	struct sodp_interval_notifier n;
	unsigned int calls;
	struct sodp_notify_range last;
	unsigned long cur_seq;
	struct rec *remove_in_callback; /* removed from this one's callback */
};

static bool rec_invalidate(struct sodp_interval_notifier *n, const struct sodp_notify_range *r,
			   unsigned long cur_seq)
{
	struct rec *c = container_of(n, struct rec, n);

	sodp_interval_set_seq(n, cur_seq);
	__atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
	c->last = *r;
	c->cur_seq = cur_seq;
	if (c->remove_in_callback) {
		CU_ASSERT_TRUE(hmm_notifier_remove(&c->remove_in_callback->n));
		c->remove_in_callback = NULL;
	}
	return true;
}

static const struct sodp_interval_notifier_ops rec_ops = {.invalidate = rec_invalidate};

static unsigned int calls_of(struct rec *c)
{
	return __atomic_load_n(&c->calls, __ATOMIC_RELAXED);
}

static void insert(struct rec *c, uintptr_t start, uintptr_t end)
{
	memset(c, 0, sizeof(*c));
	CU_ASSERT_EQUAL_FATAL(hmm_notifier_insert(&c->n, start, end - start, &rec_ops), 0);
}

/* Threads of this process whose name is the userfaultfd reader's. */
static int uffd_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int found = 0;

	if (!d)
		return -1;
	/* Bounded by the directory, which lists this process's threads. */
	while ((e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, UFFD_THREAD_NAME, UFFD_THREAD_NAME_LEN))
			found++;
		fclose(f);
	}
	closedir(d);
	return found;
}

static void assert_no_source_started(void)
{
	CU_ASSERT_FALSE(hmm_uffd_active());
	CU_ASSERT_FALSE(hmm_fork_installed());
	CU_ASSERT_EQUAL(uffd_threads(), 0);
}

static void test_insert_and_invalidate_start_no_event_source(void)
{
	struct rec a;
	struct hmm_inv inv;

	insert(&a, 1 * PG, 3 * PG);
	CU_ASSERT_TRUE(hmm_mirror_active());
	CU_ASSERT_TRUE(
		hmm_inv_begin(&inv, 1 * PG, 2 * PG, SODP_EVENT_UNMAP, SODP_HMM_FROM_HOOK, 0));
	hmm_inv_close(&inv);
	CU_ASSERT_EQUAL(calls_of(&a), 1);
	assert_no_source_started();
	CU_ASSERT_TRUE(hmm_notifier_remove(&a.n));
	CU_ASSERT_FALSE(hmm_mirror_active());
	assert_no_source_started();
}

static void test_invalidate_calls_only_overlapping_notifiers(void)
{
	struct rec a, b, c;
	struct sodp_hmm_counters before, after;
	struct hmm_inv inv;

	insert(&a, 1 * PG, 3 * PG);
	insert(&b, 2 * PG, 5 * PG);
	insert(&c, 8 * PG, 10 * PG);
	CU_ASSERT_EQUAL(sodp_hmm_get_counters(&before), 0);
	CU_ASSERT_TRUE(
		hmm_inv_begin(&inv, 2 * PG, 4 * PG, SODP_EVENT_CLEAR, SODP_HMM_FROM_HOOK, 0));
	hmm_inv_close(&inv);
	CU_ASSERT_EQUAL(sodp_hmm_get_counters(&after), 0);

	CU_ASSERT_EQUAL(calls_of(&a), 1);
	CU_ASSERT_EQUAL(calls_of(&b), 1);
	CU_ASSERT_EQUAL(calls_of(&c), 0);
	CU_ASSERT_EQUAL(a.last.start, 2 * PG);
	CU_ASSERT_EQUAL(a.last.end, 4 * PG);
	CU_ASSERT_EQUAL(a.last.event, SODP_EVENT_CLEAR);
	CU_ASSERT_EQUAL(b.cur_seq, a.cur_seq);
	/* One event that reached notifiers, one callback per notifier reached. */
	CU_ASSERT_EQUAL(after.callbacks - before.callbacks, 2);
	CU_ASSERT_EQUAL(after.events[SODP_HMM_FROM_HOOK][SODP_EVENT_CLEAR] -
				before.events[SODP_HMM_FROM_HOOK][SODP_EVENT_CLEAR],
			1);
	hmm_notifier_remove(&a.n);
	hmm_notifier_remove(&b.n);
	hmm_notifier_remove(&c.n);
	assert_no_source_started();
}

static void test_change_outside_every_notifier_leaves_sequence_alone(void)
{
	struct rec a;
	struct sodp_hmm_counters before, after;
	struct hmm_inv inv;
	unsigned long seq;

	insert(&a, 1 * PG, 3 * PG);
	seq = sodp_interval_read_begin(&a.n);
	CU_ASSERT_EQUAL(sodp_hmm_get_counters(&before), 0);
	CU_ASSERT_FALSE(
		hmm_inv_begin(&inv, 3 * PG, 6 * PG, SODP_EVENT_UNMAP, SODP_HMM_FROM_HOOK, 0));
	CU_ASSERT_FALSE(inv.open);
	hmm_inv_close(&inv);
	CU_ASSERT_EQUAL(sodp_hmm_get_counters(&after), 0);
	CU_ASSERT_EQUAL(calls_of(&a), 0);
	CU_ASSERT_FALSE(sodp_interval_read_retry(&a.n, seq));
	CU_ASSERT_EQUAL(sodp_interval_read_begin(&a.n), seq);
	CU_ASSERT_EQUAL(after.callbacks, before.callbacks);
	hmm_notifier_remove(&a.n);
	assert_no_source_started();
}

static void test_sequence_odd_in_bracket_and_read_retry_true_after(void)
{
	struct rec a, c;
	struct hmm_inv inv;
	unsigned long seq_a, seq_c, first;

	insert(&a, 1 * PG, 3 * PG);
	insert(&c, 8 * PG, 10 * PG);
	seq_a = sodp_interval_read_begin(&a.n);
	seq_c = sodp_interval_read_begin(&c.n);
	CU_ASSERT_FALSE(sodp_interval_read_retry(&a.n, seq_a));

	CU_ASSERT_TRUE(
		hmm_inv_begin(&inv, 1 * PG, 2 * PG, SODP_EVENT_PROTECTION, SODP_HMM_FROM_HOOK, 0));
	CU_ASSERT_EQUAL(a.cur_seq & 1, 1);
	CU_ASSERT_EQUAL(inv.cur_seq, a.cur_seq);
	CU_ASSERT_TRUE(sodp_interval_read_retry(&a.n, seq_a));
	hmm_inv_close(&inv);
	first = a.cur_seq;

	/* After the bracket: the new sequence validates, the old one does not. */
	CU_ASSERT_TRUE(sodp_interval_read_retry(&a.n, seq_a));
	seq_a = sodp_interval_read_begin(&a.n);
	CU_ASSERT_EQUAL(seq_a, first);
	CU_ASSERT_FALSE(sodp_interval_read_retry(&a.n, seq_a));
	/* The notifier the change did not reach keeps its sequence. */
	CU_ASSERT_FALSE(sodp_interval_read_retry(&c.n, seq_c));

	/* The next invalidation period has a different odd value. */
	CU_ASSERT_TRUE(
		hmm_inv_begin(&inv, 1 * PG, 2 * PG, SODP_EVENT_UNMAP, SODP_HMM_FROM_HOOK, 0));
	hmm_inv_close(&inv);
	CU_ASSERT_EQUAL(a.cur_seq & 1, 1);
	CU_ASSERT_NOT_EQUAL(a.cur_seq, first);
	CU_ASSERT_TRUE(sodp_interval_read_retry(&a.n, seq_a));
	hmm_notifier_remove(&a.n);
	hmm_notifier_remove(&c.n);
	assert_no_source_started();
}

struct reader {
	struct rec *c;
	unsigned long seq;
	int done;
};

static void *read_begin_thread(void *arg)
{
	struct reader *r = arg;

	r->seq = sodp_interval_read_begin(&r->c->n);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_read_begin_waits_while_bracket_that_reached_it_is_open(void)
{
	struct rec a;
	struct hmm_inv inv;
	struct reader r = {.c = &a};
	pthread_t t;

	insert(&a, 1 * PG, 3 * PG);
	CU_ASSERT_TRUE(
		hmm_inv_begin(&inv, 1 * PG, 3 * PG, SODP_EVENT_UNMAP, SODP_HMM_FROM_HOOK, 0));
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, read_begin_thread, &r), 0);
	usleep(WAIT_BLOCKED_US);
	CU_ASSERT_EQUAL(__atomic_load_n(&r.done, __ATOMIC_SEQ_CST), 0);
	hmm_inv_close(&inv);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(r.done, 1);
	CU_ASSERT_EQUAL(r.seq, a.cur_seq);
	CU_ASSERT_FALSE(sodp_interval_read_retry(&a.n, r.seq));
	hmm_notifier_remove(&a.n);
	assert_no_source_started();
}

static void test_insert_during_bracket_joins_when_it_closes(void)
{
	struct rec a, late;
	struct hmm_inv inv;

	insert(&a, 1 * PG, 3 * PG);
	hmm_inv_open(&inv, SODP_EVENT_UNMAP, SODP_HMM_FROM_HOOK, 0);
	insert(&late, 1 * PG, 3 * PG);
	CU_ASSERT_TRUE(hmm_notifier_is_live(&late.n));
	/* The tree is frozen while the bracket is open. */
	CU_ASSERT_TRUE(hmm_inv_range(&inv, 1 * PG, 3 * PG));
	CU_ASSERT_EQUAL(calls_of(&a), 1);
	CU_ASSERT_EQUAL(calls_of(&late), 0);
	hmm_inv_close(&inv);

	CU_ASSERT_TRUE(
		hmm_inv_begin(&inv, 1 * PG, 3 * PG, SODP_EVENT_UNMAP, SODP_HMM_FROM_HOOK, 0));
	hmm_inv_close(&inv);
	CU_ASSERT_EQUAL(calls_of(&a), 2);
	CU_ASSERT_EQUAL(calls_of(&late), 1);
	hmm_notifier_remove(&a.n);
	hmm_notifier_remove(&late.n);
	assert_no_source_started();
}

static void test_remove_from_a_callback_takes_effect_when_bracket_closes(void)
{
	struct rec a, b;
	struct hmm_inv inv;

	insert(&a, 1 * PG, 3 * PG);
	insert(&b, 5 * PG, 7 * PG);
	a.remove_in_callback = &b;
	hmm_inv_open(&inv, SODP_EVENT_UNMAP, SODP_HMM_FROM_HOOK, 0);
	CU_ASSERT_TRUE(hmm_inv_range(&inv, 1 * PG, 3 * PG));
	/* Removed, not yet out of the frozen tree: still called in this bracket. */
	CU_ASSERT_FALSE(hmm_notifier_is_live(&b.n));
	CU_ASSERT_TRUE(hmm_inv_range(&inv, 5 * PG, 7 * PG));
	CU_ASSERT_EQUAL(calls_of(&b), 1);
	hmm_inv_close(&inv);

	CU_ASSERT_FALSE(
		hmm_inv_begin(&inv, 5 * PG, 7 * PG, SODP_EVENT_UNMAP, SODP_HMM_FROM_HOOK, 0));
	CU_ASSERT_EQUAL(calls_of(&b), 1);
	CU_ASSERT_FALSE(hmm_notifier_remove(&b.n));
	hmm_notifier_remove(&a.n);
	assert_no_source_started();
}

static void test_inv_all_calls_every_notifier_once_over_everything(void)
{
	struct rec a, b;

	insert(&a, 1 * PG, 3 * PG);
	insert(&b, 8 * PG, 10 * PG);
	CU_ASSERT_TRUE(hmm_inv_all(SODP_EVENT_RELEASE, SODP_HMM_FROM_API, 0));
	CU_ASSERT_EQUAL(calls_of(&a), 1);
	CU_ASSERT_EQUAL(calls_of(&b), 1);
	CU_ASSERT_EQUAL(a.last.start, 0);
	CU_ASSERT_EQUAL(a.last.end, UINTPTR_MAX);
	CU_ASSERT_EQUAL(b.last.event, SODP_EVENT_RELEASE);
	hmm_notifier_remove(&a.n);
	hmm_notifier_remove(&b.n);
	CU_ASSERT_FALSE(hmm_inv_all(SODP_EVENT_RELEASE, SODP_HMM_FROM_API, 0));
	assert_no_source_started();
}

static const struct sodp_test_case core_tests[] = {
	{"test_insert_and_invalidate_start_no_event_source",
	 test_insert_and_invalidate_start_no_event_source},
	{"test_invalidate_calls_only_overlapping_notifiers",
	 test_invalidate_calls_only_overlapping_notifiers},
	{"test_change_outside_every_notifier_leaves_sequence_alone",
	 test_change_outside_every_notifier_leaves_sequence_alone},
	{"test_sequence_odd_in_bracket_and_read_retry_true_after",
	 test_sequence_odd_in_bracket_and_read_retry_true_after},
	{"test_read_begin_waits_while_bracket_that_reached_it_is_open",
	 test_read_begin_waits_while_bracket_that_reached_it_is_open},
	{"test_insert_during_bracket_joins_when_it_closes",
	 test_insert_during_bracket_joins_when_it_closes},
	{"test_remove_from_a_callback_takes_effect_when_bracket_closes",
	 test_remove_from_a_callback_takes_effect_when_bracket_closes},
	{"test_inv_all_calls_every_notifier_once_over_everything",
	 test_inv_all_calls_every_notifier_once_over_everything},
	{NULL, NULL},
};

void sodp_tests_register(void)
{
	sodp_add_suite("hmm_core", NULL, NULL, core_tests);
}
