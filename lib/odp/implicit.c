// SPDX-License-Identifier: MIT
/*
 * Implicit ODP: one umem for the whole address space, [0, 2^57).
 *
 * The parent translates nothing itself. Its children are ODP umems of one
 * aligned GiB each (as mlx5's implicit MRs), created by the first fault in
 * their range and found through a two-level table indexed by va >> 30.
 *
 * Lifetimes:
 *  - the parent's lock guards the table, the child list and each child's
 *    busy count; a lookup for an access takes the child's lock before it
 *    drops the parent's (lock order parent -> child), so a child found is
 *    never freed under the access;
 *  - a fault pins its child with busy while it runs without locks;
 *  - a child's invalidate callback cannot take the parent's lock (it may run
 *    while a fault holds it); when the zap leaves the child empty it marks
 *    the child and queues the parent's reap job under reap_lock, a leaf
 *    that also orders it against the parent's release;
 *  - the reap (fault worker) unlinks the children still empty and idle and
 *    frees them; the parent's last reference frees the rest.
 */
#include <errno.h>
#include <stdlib.h>

#include "odp_internal.h"
#include "log.h"

#define ODP_CHILD_L2_SIZE (1UL << ODP_CHILD_L2_BITS)

static void odp_reap_done(struct sodp_fault *f, int result)
{
}

int sodp_umem_get_implicit(struct sodp_umem **out)
{
	struct sodp_umem *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->children = calloc(1UL << ODP_CHILD_L1_BITS, sizeof(*p->children));
	if (!p->children) {
		free(p);
		return -ENOMEM;
	}
	p->implicit = true;
	p->flags = SODP_UMEM_ODP;
	p->refs = 1;
	p->start = 0;
	p->end = 1ULL << ODP_VA_BITS;
	list_init(&p->child_list);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->reap_lock, NULL);
	sodp_fault_init(&p->reap, odp_reap_done);
	*out = p;
	return 0;
}

/* The table slot of the child holding @va; under lock. */
static struct sodp_umem **odp_child_slot(struct sodp_umem *p, uintptr_t va, bool alloc)
{
	uint64_t idx = va >> ODP_GIANT_SHIFT, l1 = idx >> ODP_CHILD_L2_BITS;

	if (va >= 1ULL << ODP_VA_BITS)
		return NULL;
	if (!p->children[l1]) {
		if (!alloc)
			return NULL;
		p->children[l1] = calloc(ODP_CHILD_L2_SIZE, sizeof(**p->children));
		if (!p->children[l1])
			return NULL;
	}
	return &p->children[l1][idx & (ODP_CHILD_L2_SIZE - 1)];
}

int odp_implicit_map_lock(struct sodp_umem *p, uintptr_t va, size_t len, bool write,
			  struct sodp_umem_map *m)
{
	struct sodp_umem **slot, *c;

	if (len && (va >> ODP_GIANT_SHIFT) != ((va + len - 1) >> ODP_GIANT_SHIFT))
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	slot = odp_child_slot(p, va, false);
	c = slot ? *slot : NULL;
	if (!c) {
		int ret = p->dead ? -EFAULT : -EAGAIN;

		pthread_mutex_unlock(&p->lock);
		return ret;
	}
	pthread_mutex_lock(&c->lock);
	pthread_mutex_unlock(&p->lock);
	return odp_map_locked_child(c, va, len, write, m);
}

/* The child holding @va, created if need be (@create), pinned for a fault. */
struct sodp_umem *odp_implicit_child_get(struct sodp_umem *p, uintptr_t va, bool create)
{
	struct sodp_umem **slot, *c = NULL;
	uintptr_t start = va & ~(ODP_GIANT_SIZE - 1);

	pthread_mutex_lock(&p->lock);
	if (p->dead)
		goto out;
	slot = odp_child_slot(p, va, create);
	if (!slot)
		goto out;
	c = *slot;
	if (!c && create) {
		c = odp_umem_alloc(start, start + ODP_GIANT_SIZE, SODP_UMEM_ODP);
		if (!c)
			goto out;
		c->parent = p;
		if (odp_umem_mirror(c)) {
			odp_umem_free(c);
			c = NULL;
			goto out;
		}
		*slot = c;
		list_add_tail(&c->child_node, &p->child_list);
		p->nr_children++;
		odp_count(p, children_created, 1);
	}
	if (c)
		c->busy++;
out:
	pthread_mutex_unlock(&p->lock);
	return c;
}

static void odp_child_free(struct sodp_umem *p, struct sodp_umem *c)
{
	int i;

	/* what the child counted stays with the parent */
	odp_count(p, pages_faulted, READ_ONCE(c->ctr.pages_faulted));
	for (i = 0; i < SODP_MR_NR_EVENTS; i++)
		odp_count(p, inval[i], READ_ONCE(c->ctr.inval[i]));
	odp_count(p, inval_handled, READ_ONCE(c->ctr.inval_handled));
	odp_umem_free(c);
}

/* Unlinks @c from @p if it is idle and empty; under p->lock. */
static bool odp_child_unlink_if_empty(struct sodp_umem *p, struct sodp_umem *c)
{
	bool empty;

	if (c->busy)
		return false;
	pthread_mutex_lock(&c->lock);
	empty = odp_mtt_is_empty(c);
	pthread_mutex_unlock(&c->lock);
	if (!empty)
		return false;
	*odp_child_slot(p, c->start, false) = NULL;
	list_del_init(&c->child_node);
	p->nr_children--;
	odp_count(p, children_freed, 1);
	return true;
}

/*
 * Ends a fault's use of @c. A child the fault left empty (the peer asked
 * for an address nothing maps) goes at once: a remote peer must not be able
 * to make the parent keep a child for every GiB it names.
 */
void odp_implicit_child_put(struct sodp_umem *c)
{
	struct sodp_umem *p = c->parent;
	bool gone;

	pthread_mutex_lock(&p->lock);
	c->busy--;
	gone = odp_child_unlink_if_empty(p, c);
	pthread_mutex_unlock(&p->lock);
	if (gone)
		odp_child_free(p, c);
}

/* From @c's invalidate callback, no lock held. */
void odp_implicit_child_emptied(struct sodp_umem *c)
{
	struct sodp_umem *p = c->parent;

	__atomic_store_n(&c->emptied, true, __ATOMIC_RELEASE);
	pthread_mutex_lock(&p->reap_lock);
	if (!p->dead)
		odp_schedule_reap(p);
	pthread_mutex_unlock(&p->reap_lock);
}

/* Fault worker: frees the children that invalidation left empty. */
void odp_implicit_reap(struct sodp_umem *p)
{
	struct sodp_umem *c, *tmp;
	struct list_head dead = LIST_HEAD_INIT(dead);

	pthread_mutex_lock(&p->lock);
	list_for_each_entry_safe (c, tmp, &p->child_list, child_node) {
		if (!__atomic_exchange_n(&c->emptied, false, __ATOMIC_ACQ_REL))
			continue;
		if (odp_child_unlink_if_empty(p, c))
			list_add_tail(&c->child_node, &dead);
	}
	pthread_mutex_unlock(&p->lock);
	list_for_each_entry_safe (c, tmp, &dead, child_node) {
		list_del_init(&c->child_node);
		odp_child_free(p, c);
	}
}

void odp_implicit_release(struct sodp_umem *p)
{
	pthread_mutex_lock(&p->reap_lock);
	pthread_mutex_lock(&p->lock);
	__atomic_store_n(&p->dead, true, __ATOMIC_RELEASE); /* the fault worker reads it unlocked */
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_unlock(&p->reap_lock);
	sodp_fault_cancel(&p->reap);
}

/* The last reference: no fault runs, nothing can look a child up. */
void odp_implicit_free(struct sodp_umem *p)
{
	struct sodp_umem *c, *tmp;
	uint64_t l1;

	list_for_each_entry_safe (c, tmp, &p->child_list, child_node) {
		list_del_init(&c->child_node);
		odp_umem_free(c);
	}
	for (l1 = 0; l1 < 1UL << ODP_CHILD_L1_BITS; l1++)
		free(p->children[l1]);
	free(p->children);
	pthread_mutex_destroy(&p->reap_lock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void odp_implicit_stats(struct sodp_umem *p, struct sodp_mr_stats *st)
{
	struct sodp_umem *c;

	pthread_mutex_lock(&p->lock);
	/* children_freed moves with nr_children, under the lock */
	odp_counters_add(&p->ctr, st);
	st->children_live = p->nr_children;
	list_for_each_entry (c, &p->child_list, child_node) {
		int i;

		/* a child counts what its notifier and its faults saw */
		st->pages_faulted += READ_ONCE(c->ctr.pages_faulted);
		for (i = 0; i < SODP_MR_NR_EVENTS; i++)
			st->invalidations[i] += READ_ONCE(c->ctr.inval[i]);
		st->invalidations_handled += READ_ONCE(c->ctr.inval_handled);
		pthread_mutex_lock(&c->lock);
		odp_census(c, st, c->start, c->end);
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&p->lock);
}
