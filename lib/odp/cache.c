// SPDX-License-Identifier: MIT
/*
 * The translation cache of pinned memory, and pre-registration.
 *
 * Every pinned umem is in one per-process interval index while it has users
 * (`used`: MRs and pre-registrations). A pinned registration that a live
 * umem already covers, with the rights it needs and nothing of the range
 * revoked, is a lookup: the umem gains a user and a reference, and nothing
 * is faulted or locked again. So the second and every later registration of
 * translated memory -- the same buffer again, a buffer inside a larger MR or
 * inside a pre-registered arena -- costs the same for 4 KiB and 1 GiB.
 *
 * A request that no one umem covers builds a umem of its own, which may
 * overlap others. An MR is one key over one translation; merging the
 * overlapped umems into their union instead would fault and lock the whole
 * union again on a miss, or make an MR a list of translations. Overlaps are
 * rare in practice (registration caches above verbs and MPI register whole
 * buffers) and cost only a second MTT for the shared pages.
 *
 * The umem's reference count plays mm_iommu's `mapped`: faults in flight and
 * the NIC's accesses (which run under the umem's lock) hold it, so a
 * translation goes only when its last user and its last access are gone.
 *
 * mlock() does not nest in the kernel; the cache makes it nest. When the
 * last user of a umem goes, only the parts of its locked range that no
 * other cached umem has locked are unlocked, so deregistering one of two
 * overlapping MRs keeps the other's pages locked. The kernel counts a
 * locked page once however often it was locked, so RLIMIT_MEMLOCK is
 * charged once per page, and a cache hit locks nothing.
 *
 * A cache hit never returns memory that changed under it: an unmap revokes
 * the range in every umem over it (umem.c), and a lookup skips a umem with
 * any of the requested range revoked, so memory mapped again at the same
 * address gets a fresh translation.
 *
 * The index is the parent's: a fork child has no devices and inherits no
 * locks, so it starts with an empty index, and a pre-registration made
 * before the fork means nothing there.
 *
 * Lock order: cache.lock, then a umem's lock (odp_is_revoked()). The
 * invalidation callback never takes cache.lock.
 */
#include <errno.h>
#include <stdlib.h>

#include <softodp/prereg.h>

#include "odp_internal.h"
#include "log.h"

struct sodp_prereg {
	struct sodp_umem *umem;
	unsigned int gen; /* cache.gen when made */
};

static struct {
	pthread_mutex_t lock;
	struct interval_tree_root tree;
	unsigned int gen; /* bumped in a fork child */
	uint64_t hits, misses, live;
	uint64_t revocations; /* atomic */
} cache = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.tree = INTERVAL_TREE_ROOT_INIT,
};

static inline struct sodp_umem *node_umem(struct interval_tree_node *n)
{
	return container_of(n, struct sodp_umem, cache_node);
}

void odp_cache_fork_child(void)
{
	pthread_mutex_init(&cache.lock, NULL);
	cache.tree = (struct interval_tree_root)INTERVAL_TREE_ROOT_INIT;
	cache.gen++;
	cache.hits = cache.misses = cache.live = 0;
	cache.revocations = 0;
}

void odp_cache_count_revocation(void)
{
	__atomic_fetch_add(&cache.revocations, 1, __ATOMIC_RELAXED);
}

/* Can @u serve [start, end) with @flags? Under cache.lock. */
static bool odp_cache_serves(struct sodp_umem *u, uintptr_t start, uintptr_t end,
			     unsigned int flags)
{
	if (u->start > start || u->end < end)
		return false;
	if ((flags & SODP_UMEM_WRITABLE) && !(u->flags & SODP_UMEM_WRITABLE))
		return false;
	return !__atomic_load_n(&u->dead, __ATOMIC_ACQUIRE) && !odp_is_revoked(u, start, end);
}

struct sodp_umem *odp_cache_lookup(uintptr_t start, uintptr_t end, unsigned int flags)
{
	struct interval_tree_node *n;
	struct sodp_umem *hit = NULL;

	pthread_mutex_lock(&cache.lock);
	for (n = interval_tree_iter_first(&cache.tree, start, end - 1); n;
	     n = interval_tree_iter_next(n, start, end - 1)) {
		if (odp_cache_serves(node_umem(n), start, end, flags)) {
			hit = node_umem(n);
			hit->used++;
			odp_umem_get_ref(hit);
			break;
		}
	}
	if (hit)
		cache.hits++;
	else
		cache.misses++;
	pthread_mutex_unlock(&cache.lock);
	return hit;
}

void odp_cache_insert(struct sodp_umem *u)
{
	pthread_mutex_lock(&cache.lock);
	u->cache_node.start = u->start;
	u->cache_node.last = u->end - 1;
	u->used = 1;
	u->cached = true;
	interval_tree_insert(&u->cache_node, &cache.tree);
	cache.live++;
	pthread_mutex_unlock(&cache.lock);
}

/*
 * Unlocks what of [s, e) no cached umem has locked: the gaps between the
 * locked ranges of the umems over it, visited in ascending start order.
 * Under cache.lock, with the departing umem already out of the index.
 */
static void odp_cache_unlock_uncovered(uintptr_t s, uintptr_t e)
{
	struct interval_tree_node *n;
	uintptr_t a = s;

	for (n = interval_tree_iter_first(&cache.tree, s, e - 1); n && a < e;
	     n = interval_tree_iter_next(n, s, e - 1)) {
		struct sodp_umem *o = node_umem(n);
		uintptr_t ls = o->start, le = o->start + o->locked_len;

		if (le <= a)
			continue;
		if (ls > a)
			odp_munlock_range(a, SODP_MIN(ls, e) - a);
		a = SODP_MAX(a, le);
	}
	if (a < e)
		odp_munlock_range(a, e - a);
}

/*
 * Drops a user of a cached umem. True for the last one: the umem has left
 * the index, its pages are unlocked but for what other umems locked, and
 * the caller retires it.
 */
static bool odp_cache_put_locked(struct sodp_umem *u)
{
	size_t locked;

	if (--u->used)
		return false;
	interval_tree_remove(&u->cache_node, &cache.tree);
	u->cached = false;
	cache.live--;
	locked = u->locked_len;
	if (locked)
		odp_cache_unlock_uncovered(u->start, u->start + locked);
	__atomic_store_n(&u->locked_len, 0, __ATOMIC_RELAXED);
	return true;
}

bool odp_cache_put(struct sodp_umem *u)
{
	bool last;

	pthread_mutex_lock(&cache.lock);
	last = odp_cache_put_locked(u);
	pthread_mutex_unlock(&cache.lock);
	return last;
}

SODP_EXPORT int sodp_translation_cache_stats(struct sodp_cache_stats *st)
{
	struct interval_tree_node *n;
	uintptr_t covered = 0; /* locked bytes are counted from here on */

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&cache.lock);
	st->hits = cache.hits;
	st->misses = cache.misses;
	st->translations = cache.live;
	st->bytes_locked = 0;
	for (n = interval_tree_first(&cache.tree); n; n = interval_tree_next(n)) {
		struct sodp_umem *u = node_umem(n);
		uintptr_t s = SODP_MAX(u->start, covered), e = u->start + u->locked_len;

		if (e > s)
			st->bytes_locked += e - s;
		covered = SODP_MAX(covered, e);
	}
	pthread_mutex_unlock(&cache.lock);
	st->revocations = __atomic_load_n(&cache.revocations, __ATOMIC_RELAXED);
	return 0;
}

/* ---- pre-registration ---- */

SODP_EXPORT int sodp_prereg(void *addr, size_t length, struct sodp_prereg **out)
{
	struct sodp_prereg *p;
	int ret;

	if (!out)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ret = sodp_umem_get((uintptr_t)addr, length, SODP_UMEM_WRITABLE, &p->umem);
	if (ret) {
		free(p);
		return ret;
	}
	pthread_mutex_lock(&cache.lock);
	p->umem->preregs++;
	p->gen = cache.gen;
	pthread_mutex_unlock(&cache.lock);
	*out = p;
	return 0;
}

SODP_EXPORT int sodp_prereg_release(struct sodp_prereg *p)
{
	struct sodp_umem *u;
	bool last;

	if (!p)
		return -EINVAL;
	u = p->umem;
	pthread_mutex_lock(&cache.lock);
	if (p->gen != cache.gen) { /* made before a fork: nothing of it is here */
		pthread_mutex_unlock(&cache.lock);
		free(p);
		return 0;
	}
	if (u->used > u->preregs) {
		pthread_mutex_unlock(&cache.lock);
		return -EBUSY;
	}
	u->preregs--;
	last = odp_cache_put_locked(u);
	pthread_mutex_unlock(&cache.lock);
	free(p);
	if (last)
		odp_umem_retire(u);
	else
		odp_umem_put(u);
	return 0;
}
