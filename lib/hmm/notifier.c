// SPDX-License-Identifier: MIT
/*
 * Interval notifiers: the userspace mmu_interval_notifier.
 *
 * The core of the mirror. It keeps the notifiers and the sequence count and
 * runs the callbacks of an invalidation bracket; it knows nothing of the
 * event sources (hooks.c, uffd.c, fork.c), which call into it, nor of
 * mirror.c, which starts them. Its only dependencies are lock.c, counters.c
 * and lib/util, so it can be driven directly, with no source running.
 *
 * Locking and sequence protocol
 * -----------------------------
 * hmm.lock protects the interval tree, the deferred list, `active` and the
 * transitions of `seq`. `seq` is even while no invalidation runs and odd
 * while at least one bracket (hmm_inv_open .. hmm_inv_close) is open; every
 * bracket of one odd period shares that odd value as cur_seq.
 *
 * While `active` is non-zero the tree does not change: inserts and removes
 * are queued on the deferred list and applied by the last bracket to close,
 * which then makes `seq` even and wakes waiters. This is what lets callbacks
 * run without hmm.lock held (they may block, fault, or unmap themselves).
 *
 * A notifier's own invalidate_seq is written only by its user, from the
 * callback, under the user's update lock (sodp_interval_set_seq()). A reader
 * takes read_begin(), faults, then under the same update lock checks
 * read_retry(): a changed value means a callback ran in between. read_begin()
 * waits while the notifier's seq equals the odd global seq, i.e. while an
 * invalidation that already reached this notifier is still in its bracket;
 * starting a fault then would only see the old mapping.
 */
#include <errno.h>
#include <stdlib.h>

#include "hmm_internal.h"
#include "log.h"

int hmm_has_notifiers;
static __thread int tls_in_callback;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wq;
	struct interval_tree_root tree;
	unsigned long seq;
	unsigned long active;
	struct list_head deferred;
	size_t nr; /* inserted and not removed, deferred or not */
} hmm = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wq = PTHREAD_COND_INITIALIZER,
	.tree = INTERVAL_TREE_ROOT_INIT,
	.seq = 2,
	.deferred = LIST_HEAD_INIT(hmm.deferred),
};

static unsigned long seq_load(void)
{
	return __atomic_load_n(&hmm.seq, __ATOMIC_ACQUIRE);
}

static void seq_store(unsigned long v)
{
	__atomic_store_n(&hmm.seq, v, __ATOMIC_RELEASE);
}

static void set_has_notifiers(void)
{
	__atomic_store_n(&hmm_has_notifiers, hmm.nr != 0, __ATOMIC_RELEASE);
}

static void apply_deferred(void)
{
	struct hmm_notifier *hn, *tmp;

	list_for_each_entry_safe (hn, tmp, &hmm.deferred, deferred) {
		list_del_init(&hn->deferred);
		if (hn->state == HMM_N_DEFERRED_INSERT) {
			interval_tree_insert(&hn->it, &hmm.tree);
			hn->state = HMM_N_IN_TREE;
		} else {
			interval_tree_remove(&hn->it, &hmm.tree);
			hn->state = HMM_N_IDLE;
		}
	}
}

/**
 * hmm_notifier_insert() - put a notifier in the tree
 * @n: caller-owned storage, unused until hmm_notifier_remove()
 * @start: first byte
 * @length: bytes, non-zero, start + length must not wrap
 * @ops: ops->invalidate is called for every change overlapping the interval
 *
 * Inserted during an invalidation, the notifier joins the tree when the last
 * bracket closes; its seq equals the odd global seq until then so that
 * read_begin() waits for the change to finish. Starts nothing: that is
 * sodp_interval_notifier_insert()'s part (mirror.c).
 *
 * Return: 0, -EINVAL. The storage is the caller's, so nothing is allocated.
 */
int hmm_notifier_insert(struct sodp_interval_notifier *n, uintptr_t start, size_t length,
			const struct sodp_interval_notifier_ops *ops)
{
	struct hmm_notifier *hn;

	if (!hmm_notifier_args_valid(n, start, length, ops))
		return -EINVAL;
	hn = hmm_notifier(n);
	hn->ops = ops;
	hn->start = start;
	hn->end = start + length; /* may be 0 for an interval ending at the top */
	hn->it.start = start;
	hn->it.last = start + (length - 1);
	list_init(&hn->deferred);

	hmm_lock(&hmm.lock);
	if (hmm.active) {
		hn->invalidate_seq = hmm.seq;
		hn->state = HMM_N_DEFERRED_INSERT;
		list_add_tail(&hn->deferred, &hmm.deferred);
	} else {
		hn->invalidate_seq = hmm.seq - 1;
		hn->state = HMM_N_IN_TREE;
		interval_tree_insert(&hn->it, &hmm.tree);
	}
	hmm.nr++;
	set_has_notifiers();
	hmm_unlock(&hmm.lock);
	return 0;
}

/**
 * hmm_notifier_remove() - take a notifier out of the tree
 * @n: an inserted notifier
 *
 * When an invalidation is running the removal is deferred and this waits
 * until every open bracket has closed, so no callback runs on @n once it
 * returns and the caller may free it. From inside a callback it cannot wait
 * for its own bracket: it then only queues the removal (the caller must keep
 * @n alive until that invalidation ends).
 *
 * Return: false, touching nothing, when @n is NULL or not inserted.
 */
bool hmm_notifier_remove(struct sodp_interval_notifier *n)
{
	struct hmm_notifier *hn;
	unsigned long wait_seq = 0;

	if (!n)
		return false;
	hn = hmm_notifier(n);
	hmm_lock(&hmm.lock);
	switch (hn->state) {
	case HMM_N_IN_TREE:
		if (hmm.active) {
			hn->state = HMM_N_DEFERRED_REMOVE;
			list_add_tail(&hn->deferred, &hmm.deferred);
			wait_seq = hmm.seq;
		} else {
			interval_tree_remove(&hn->it, &hmm.tree);
			hn->state = HMM_N_IDLE;
		}
		break;
	case HMM_N_DEFERRED_INSERT:
		list_del_init(&hn->deferred);
		hn->state = HMM_N_IDLE;
		break;
	default:
		hmm_unlock(&hmm.lock);
		sodp_info("hmm: removing a notifier that is not inserted");
		return false;
	}
	hmm.nr--;
	set_has_notifiers();
	if (wait_seq && tls_in_callback) {
		sodp_info("hmm: notifier removed from an invalidate callback; not waiting");
		wait_seq = 0;
	}
	while (wait_seq && hmm.seq == wait_seq)
		pthread_cond_wait(&hmm.wq, &hmm.lock);
	hmm_unlock(&hmm.lock);
	return true;
}

SODP_EXPORT unsigned long sodp_interval_read_begin(struct sodp_interval_notifier *n)
{
	struct hmm_notifier *hn = hmm_notifier(n);
	unsigned long seq = __atomic_load_n(&hn->invalidate_seq, __ATOMIC_ACQUIRE);

	/*
	 * Equal to the odd global seq: a callback already ran on @n in the
	 * current invalidation period, whose mapping change may not be done.
	 */
	if (seq == seq_load()) {
		hmm_lock(&hmm.lock);
		while (hmm.seq == seq)
			pthread_cond_wait(&hmm.wq, &hmm.lock);
		hmm_unlock(&hmm.lock);
	}
	return seq;
}

SODP_EXPORT bool sodp_interval_read_retry(struct sodp_interval_notifier *n, unsigned long seq)
{
	return __atomic_load_n(&hmm_notifier(n)->invalidate_seq, __ATOMIC_ACQUIRE) != seq;
}

SODP_EXPORT void sodp_interval_set_seq(struct sodp_interval_notifier *n, unsigned long cur_seq)
{
	__atomic_store_n(&hmm_notifier(n)->invalidate_seq, cur_seq, __ATOMIC_RELEASE);
}

bool hmm_notifier_is_live(struct sodp_interval_notifier *n)
{
	unsigned int st = __atomic_load_n(&hmm_notifier(n)->state, __ATOMIC_RELAXED);

	return st == HMM_N_IN_TREE || st == HMM_N_DEFERRED_INSERT;
}

static bool overlaps_locked(uintptr_t start, uintptr_t end)
{
	return end > start && interval_tree_iter_first(&hmm.tree, start, end - 1);
}

bool hmm_tree_overlaps(uintptr_t start, uintptr_t end)
{
	bool ret;

	hmm_lock(&hmm.lock);
	ret = overlaps_locked(start, end);
	hmm_unlock(&hmm.lock);
	return ret;
}

void hmm_tree_covered(uintptr_t start, uintptr_t end,
		      void (*fn)(uintptr_t s, uintptr_t e, void *arg), void *arg)
{
	struct interval_tree_node *it;
	uintptr_t cs = 0, ce = 0;
	bool have = false;

	if (end <= start)
		return;
	hmm_lock(&hmm.lock);
	for (it = interval_tree_iter_first(&hmm.tree, start, end - 1); it;
	     it = interval_tree_iter_next(it, start, end - 1)) {
		uintptr_t s = hmm_page_down(SODP_MAX((uintptr_t)it->start, start));
		uintptr_t e = it->last >= end - 1 ? end : hmm_page_up(it->last + 1);

		if (!e || e > end)
			e = end;
		if (have && s <= ce) {
			if (e > ce)
				ce = e;
			continue;
		}
		if (have)
			fn(cs, ce, arg);
		cs = s;
		ce = e;
		have = true;
	}
	if (have)
		fn(cs, ce, arg);
	hmm_unlock(&hmm.lock);
}

void hmm_inv_open(struct hmm_inv *inv, enum sodp_event event, enum sodp_hmm_origin origin,
		  uint64_t t0)
{
	inv->event = event;
	inv->origin = origin;
	inv->t0 = t0 ? t0 : sodp_now_ns();
	inv->hit = false;
	inv->open = true;
	hmm_lock(&hmm.lock);
	if (hmm.active++ == 0)
		seq_store(hmm.seq | 1);
	inv->cur_seq = hmm.seq;
	hmm_unlock(&hmm.lock);
}

/* Tree frozen by the open bracket: walk it without the lock. */
bool hmm_inv_range(struct hmm_inv *inv, uintptr_t start, uintptr_t end)
{
	struct sodp_notify_range r = {.start = start, .end = end, .event = inv->event};
	struct interval_tree_node *it;
	uint64_t calls = 0;

	if (end <= start)
		return false;
	tls_in_callback++;
	for (it = interval_tree_iter_first(&hmm.tree, start, end - 1); it;
	     it = interval_tree_iter_next(it, start, end - 1)) {
		struct hmm_notifier *hn = container_of(it, struct hmm_notifier, it);
		struct sodp_interval_notifier *n =
			container_of((void *)hn, struct sodp_interval_notifier, opaque);

		if (!hn->ops->invalidate(n, &r, inv->cur_seq))
			sodp_info("hmm: invalidate callback returned false");
		calls++;
	}
	tls_in_callback--;
	if (calls) {
		hmm_count(HMM_C_CALLBACKS, calls);
		if (!inv->hit)
			hmm_count_event(inv->origin, inv->event);
		inv->hit = true;
	}
	return calls != 0;
}

void hmm_inv_close(struct hmm_inv *inv)
{
	if (!inv->open)
		return;
	if (inv->hit)
		hmm_count_latency(sodp_now_ns() - inv->t0);
	inv->open = false;
	hmm_lock(&hmm.lock);
	if (--hmm.active == 0) {
		apply_deferred();
		seq_store(hmm.seq + 1);
		pthread_cond_broadcast(&hmm.wq);
	}
	hmm_unlock(&hmm.lock);
}

/**
 * hmm_inv_begin() - the event sources' entry point
 *
 * Checks for an overlapping notifier first so that changes to unmirrored
 * memory cost one lock round trip and leave the sequence alone. On true the
 * callbacks have run and the caller must hmm_inv_close() after the change.
 */
bool hmm_inv_begin(struct hmm_inv *inv, uintptr_t start, uintptr_t end, enum sodp_event event,
		   enum sodp_hmm_origin origin, uint64_t t0)
{
	inv->open = false;
	inv->hit = false;
	if (end <= start)
		return false;
	hmm_lock(&hmm.lock);
	if (!overlaps_locked(start, end)) {
		hmm_unlock(&hmm.lock);
		return false;
	}
	inv->event = event;
	inv->origin = origin;
	inv->t0 = t0 ? t0 : sodp_now_ns();
	inv->open = true;
	if (hmm.active++ == 0)
		seq_store(hmm.seq | 1);
	inv->cur_seq = hmm.seq;
	hmm_unlock(&hmm.lock);
	hmm_inv_range(inv, start, end);
	return true;
}

/**
 * hmm_inv_all() - one bracket over the whole address space
 *
 * Every notifier's callback runs once, over the whole range; for what no
 * source can narrow down: a fork nobody announced, the mirror's release.
 * Return: true if a callback ran.
 */
bool hmm_inv_all(enum sodp_event event, enum sodp_hmm_origin origin, uint64_t t0)
{
	struct hmm_inv inv;
	bool hit;

	hmm_inv_open(&inv, event, origin, t0);
	hit = hmm_inv_range(&inv, 0, UINTPTR_MAX);
	hmm_inv_close(&inv);
	return hit;
}

/*
 * fork: the prepare handler holds hmm.lock across fork() so the child copies
 * a consistent tree; brackets opened by threads that do not exist in the
 * child are forgotten there.
 */
void hmm_notifier_fork_prepare(void)
{
	hmm_lock(&hmm.lock);
}

void hmm_notifier_fork_parent(void)
{
	hmm_unlock(&hmm.lock);
}

void hmm_notifier_fork_child(void)
{
	pthread_mutex_init(&hmm.lock, NULL);
	pthread_cond_init(&hmm.wq, NULL);
	hmm.active = 0;
	apply_deferred();
	hmm.seq = (hmm.seq | 1) + 1;
	set_has_notifiers();
}
