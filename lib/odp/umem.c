// SPDX-License-Identifier: MIT
/*
 * The umem: MTT, lifetime, access under the lock, invalidation, counters.
 * The protocol is documented once, in odp.h.
 *
 * The MTT is a table of 2 MiB blocks covering the umem's range rounded out
 * to 2 MiB. A block is either one large entry (order 9, or part of an order
 * 18 entry spanning 512 blocks), valid and possibly write-valid as a whole,
 * or a bitmap of 512 valid and 512 write-valid bits for its 4 KiB entries.
 * A lookup is one index and at most two bit tests for a packet; the table
 * costs 16 bytes per 2 MiB of registered range (8 MiB for 1 TiB, allocated
 * untouched), and the bitmaps appear only where small pages are mapped.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <softodp/hmm.h>

#include "odp_internal.h"
#include "log.h"

#define PIN_MAX_ATTEMPTS 16

static pid_t odp_pid;
static bool odp_use_pvm;
static pthread_once_t odp_once = PTHREAD_ONCE_INIT;

static void odp_fork_child(void)
{
	odp_pid = getpid();
	odp_worker_fork_child();
	odp_cache_fork_child();
}

/* Whether process_vm_readv() works on ourselves (seccomp may forbid it). */
static void odp_init(void)
{
	uint64_t src = 0x1234, dst = 0;
	struct iovec l = {&dst, sizeof(dst)}, r = {&src, sizeof(src)};

	odp_pid = getpid();
	odp_use_pvm = process_vm_readv(odp_pid, &l, 1, &r, 1, 0) == sizeof(dst) && dst == src;
	if (!odp_use_pvm)
		sodp_warn("odp: process_vm_readv unavailable, copies are not fault-safe\n");
	pthread_atfork(NULL, NULL, odp_fork_child);
}

void sodp_odp_fork_init(void)
{
	pthread_once(&odp_once, odp_init);
	sodp_hmm_fork_init();
}

/* ---- the MTT ---- */

static inline struct odp_blk *odp_blk_of(struct sodp_umem *u, uintptr_t va)
{
	return &u->blk[(va - u->base) >> ODP_BLK_SHIFT];
}

static inline unsigned int odp_pg_idx(uintptr_t va)
{
	return (va >> ODP_PAGE_SHIFT) & (ODP_BLK_PAGES - 1);
}

static inline bool odp_bit(const uint64_t *w, unsigned int i)
{
	return w[i / 64] >> (i % 64) & 1;
}

/* Whether every page of [va, va + len) is valid (and write-valid). Under lock. */
static bool odp_range_ok(struct sodp_umem *u, uintptr_t va, size_t len, bool write)
{
	uintptr_t a = odp_page_down(va), end = va + len;

	while (a < end) {
		struct odp_blk *b = odp_blk_of(u, a);
		uintptr_t blk_end = (a | (ODP_BLK_SIZE - 1)) + 1;

		if (b->flags & ODP_BLK_LARGE) {
			if (write && !(b->flags & ODP_BLK_WRITE))
				return false;
			a = blk_end;
			continue;
		}
		if (!b->pg)
			return false;
		for (; a < end && a < blk_end; a += ODP_PAGE_SIZE) {
			unsigned int i = odp_pg_idx(a);

			if (!odp_bit(b->pg, i) || (write && !odp_bit(b->pg + ODP_PG_WORDS, i)))
				return false;
		}
	}
	return true;
}

/* Notes that block @b holds entries, so that walks over the MTT visit it. */
static void odp_blk_used(struct sodp_umem *u, const struct odp_blk *b)
{
	size_t i = (size_t)(b - u->blk);

	if (i < u->used_lo)
		u->used_lo = i;
	if (i + 1 > u->used_hi)
		u->used_hi = i + 1;
}

static int odp_blk_small(struct odp_blk *b)
{
	if (!b->pg) {
		b->pg = calloc(2 * ODP_PG_WORDS, sizeof(uint64_t));
		if (!b->pg)
			return -ENOMEM;
	}
	return 0;
}

static void odp_pg_set(struct odp_blk *b, unsigned int i, bool write)
{
	uint64_t bit = 1ULL << (i % 64);

	if (!(b->pg[i / 64] & bit)) {
		b->pg[i / 64] |= bit;
		b->nvalid++;
	}
	if (write)
		b->pg[ODP_PG_WORDS + i / 64] |= bit;
	else
		b->pg[ODP_PG_WORDS + i / 64] &= ~bit;
}

/*
 * Programs the MTT from the pfns of [s, e). Under lock, after read_retry.
 * Returns the number of 4 KiB pages that became valid.
 */
static uint64_t odp_program(struct sodp_umem *u, uintptr_t s, uintptr_t e, const uint64_t *pfns)
{
	uint64_t added = 0;
	uintptr_t a = s;

	while (a < e) {
		uint64_t pfn = pfns[(a - s) >> ODP_PAGE_SHIFT];
		unsigned int order = sodp_hmm_pfn_to_map_order(pfn);
		bool write = pfn & SODP_PFN_WRITE;
		struct odp_blk *b = odp_blk_of(u, a);

		if (!(pfn & SODP_PFN_VALID) || (pfn & SODP_PFN_ERROR)) {
			a += ODP_PAGE_SIZE;
			continue;
		}
		if (order >= ODP_BLK_ORDER) {
			uintptr_t size =
				ODP_PAGE_SIZE
				<< (order >= ODP_GIANT_ORDER ? ODP_GIANT_ORDER : ODP_BLK_ORDER);
			uintptr_t lo = SODP_MAX(a & ~(size - 1), u->base);
			uintptr_t hi = SODP_MIN((a & ~(size - 1)) + size,
						u->base + u->nblk * ODP_BLK_SIZE);
			uintptr_t x;

			for (x = lo; x < hi; x += ODP_BLK_SIZE) {
				struct odp_blk *bb = odp_blk_of(u, x);

				if (!(bb->flags & ODP_BLK_LARGE))
					added += ODP_BLK_PAGES - bb->nvalid;
				odp_blk_used(u, bb);
				bb->flags = ODP_BLK_LARGE | (write ? ODP_BLK_WRITE : 0);
				bb->order =
					order >= ODP_GIANT_ORDER ? ODP_GIANT_ORDER : ODP_BLK_ORDER;
				bb->nvalid = 0;
				if (bb->pg)
					memset(bb->pg, 0, 2 * ODP_PG_WORDS * sizeof(uint64_t));
			}
			a = (a & ~(size - 1)) + size;
			continue;
		}
		if (b->flags & ODP_BLK_LARGE) {
			/* a large block seen as small pages now: it was split */
			a += ODP_PAGE_SIZE;
			continue;
		}
		if (odp_blk_small(b)) {
			a += ODP_PAGE_SIZE;
			continue;
		}
		if (!odp_bit(b->pg, odp_pg_idx(a)))
			added++;
		odp_blk_used(u, b);
		odp_pg_set(b, odp_pg_idx(a), write);
		a += ODP_PAGE_SIZE;
	}
	return added;
}

/* Turns the order-18 entry around block @x into order-9 entries. */
static void odp_demote_giant(struct sodp_umem *u, uintptr_t x)
{
	uintptr_t lo = SODP_MAX(x & ~(ODP_GIANT_SIZE - 1), u->base);
	uintptr_t hi = SODP_MIN((x & ~(ODP_GIANT_SIZE - 1)) + ODP_GIANT_SIZE,
				u->base + u->nblk * ODP_BLK_SIZE);

	for (x = lo; x < hi; x += ODP_BLK_SIZE) {
		struct odp_blk *b = odp_blk_of(u, x);

		if ((b->flags & ODP_BLK_LARGE) && b->order == ODP_GIANT_ORDER)
			b->order = ODP_BLK_ORDER;
	}
}

/*
 * Zaps [s, e) for @event: everything, or for FORK only write permission.
 * A large entry only partly inside is split into 4 KiB entries (an order-18
 * one first into order-9 ones). Under lock. Returns true if anything was
 * valid in the range.
 */
static bool odp_zap(struct sodp_umem *u, uintptr_t s, uintptr_t e, enum sodp_event event)
{
	uintptr_t lo = u->base + u->used_lo * ODP_BLK_SIZE,
		  hi = u->base + u->used_hi * ODP_BLK_SIZE;
	uintptr_t a;
	bool wp_only = event == SODP_EVENT_FORK, hit = false;

	s = SODP_MAX(odp_page_down(s), lo);
	e = SODP_MIN(odp_page_up(e), hi);
	for (a = s; a < e;) {
		struct odp_blk *b = odp_blk_of(u, a);
		uintptr_t bs = a & ~(ODP_BLK_SIZE - 1), be = bs + ODP_BLK_SIZE;
		uintptr_t zs = SODP_MAX(s, bs), ze = SODP_MIN(e, be), x;

		if (b->flags & ODP_BLK_LARGE) {
			hit = true;
			if (b->order == ODP_GIANT_ORDER &&
			    (s > (bs & ~(ODP_GIANT_SIZE - 1)) ||
			     e < (bs & ~(ODP_GIANT_SIZE - 1)) + ODP_GIANT_SIZE))
				odp_demote_giant(u, bs);
			if (zs == bs && ze == be) {
				if (wp_only)
					b->flags &= ~ODP_BLK_WRITE;
				else
					b->flags = 0;
				a = be;
				continue;
			}
			/* split: the rest of the block stays valid as 4 KiB entries */
			if (odp_blk_small(b)) {
				b->flags = 0; /* cannot split: drop the whole block */
				a = be;
				continue;
			}
			for (x = SODP_MAX(bs, u->start); x < SODP_MIN(be, u->end);
			     x += ODP_PAGE_SIZE)
				odp_pg_set(b, odp_pg_idx(x), b->flags & ODP_BLK_WRITE);
			b->flags = 0;
		}
		if (b->pg) {
			for (x = zs; x < ze; x += ODP_PAGE_SIZE) {
				unsigned int i = odp_pg_idx(x);
				uint64_t bit = 1ULL << (i % 64);

				if (!(b->pg[i / 64] & bit))
					continue;
				hit = true;
				b->pg[ODP_PG_WORDS + i / 64] &= ~bit;
				if (!wp_only) {
					b->pg[i / 64] &= ~bit;
					b->nvalid--;
				}
			}
		}
		a = be;
	}
	return hit;
}

/* Whether nothing in the MTT is valid. Under lock. */
bool odp_mtt_is_empty(struct sodp_umem *u)
{
	size_t i;

	for (i = u->used_lo; i < u->used_hi; i++)
		if ((u->blk[i].flags & ODP_BLK_LARGE) || u->blk[i].nvalid)
			return false;
	return true;
}

static void odp_mtt_free(struct sodp_umem *u)
{
	size_t i;

	if (!u->blk)
		return;
	for (i = u->used_lo; i < u->used_hi; i++)
		free(u->blk[i].pg);
	free(u->blk);
	u->blk = NULL;
}

/* Whether any of [s, e) of a pinned umem was revoked. Under lock. */
static bool odp_revoked_locked(const struct sodp_umem *u, uintptr_t s, uintptr_t e)
{
	size_t i;

	for (i = 0; i < u->nr_revoked; i++)
		if (u->revoked[i].s < e && s < u->revoked[i].e)
			return true;
	return false;
}

/* The bytes of [s, e) revoked in a pinned umem. Under lock. */
static uint64_t odp_revoked_bytes_in(const struct sodp_umem *u, uintptr_t s, uintptr_t e)
{
	uint64_t n = 0;
	size_t i;

	if (u->revoked_bytes && !u->nr_revoked) /* all of it: the list could not grow */
		return SODP_MIN(e, u->end) - SODP_MAX(s, u->start);
	for (i = 0; i < u->nr_revoked; i++) {
		uintptr_t a = SODP_MAX(s, u->revoked[i].s), b = SODP_MIN(e, u->revoked[i].e);

		if (a < b)
			n += b - a;
	}
	return n;
}

bool odp_is_revoked(struct sodp_umem *u, uintptr_t s, uintptr_t e)
{
	bool ret;

	if (!u->nr_revoked) /* racy peek: a revocation takes the lock too */
		return false;
	pthread_mutex_lock(&u->lock);
	ret = odp_revoked_locked(u, s, e);
	pthread_mutex_unlock(&u->lock);
	return ret;
}

/*
 * Revokes [s, e) of a pinned umem: the memory registered there is gone, and
 * whatever is mapped there later was never registered. Under lock. Returns
 * the bytes newly revoked. Should the list not grow, the whole umem goes.
 */
static uint64_t odp_revoke(struct sodp_umem *u, uintptr_t s, uintptr_t e)
{
	struct odp_range *r;
	uint64_t before = u->revoked_bytes;
	size_t i, j;

	s = SODP_MAX(odp_page_down(s), u->start);
	e = SODP_MIN(odp_page_up(e), u->end);
	if (s >= e)
		return 0;
	r = realloc(u->revoked, (u->nr_revoked + 1) * sizeof(*r));
	if (!r) {
		__atomic_store_n(&u->dead, true, __ATOMIC_RELEASE);
		before = u->revoked_bytes;
		u->revoked_bytes = u->end - u->start;
		return u->revoked_bytes - before;
	}
	u->revoked = r;
	r[u->nr_revoked++] = (struct odp_range){s, e};
	/* merge what overlaps or touches, and recount */
	for (i = 0; i < u->nr_revoked; i++)
		for (j = i + 1; j < u->nr_revoked;) {
			if (r[j].s <= r[i].e && r[i].s <= r[j].e) {
				r[i].s = SODP_MIN(r[i].s, r[j].s);
				r[i].e = SODP_MAX(r[i].e, r[j].e);
				r[j] = r[--u->nr_revoked];
				j = i + 1;
				continue;
			}
			j++;
		}
	u->revoked_bytes = 0;
	for (i = 0; i < u->nr_revoked; i++)
		u->revoked_bytes += r[i].e - r[i].s;
	return u->revoked_bytes - before;
}

static bool odp_invalidate(struct sodp_interval_notifier *n, const struct sodp_notify_range *range,
			   unsigned long cur_seq)
{
	struct sodp_umem *u = container_of(n, struct sodp_umem, notifier);
	bool hit, empty = false, warn = false;
	uint64_t revoked = 0;

	pthread_mutex_lock(&u->lock);
	sodp_interval_set_seq(n, cur_seq);
	hit = odp_zap(u, range->start, range->end, range->event);
	if (hit && u->parent && range->event != SODP_EVENT_FORK)
		empty = odp_mtt_is_empty(u);
	if (!(u->flags & SODP_UMEM_ODP) && range->event == SODP_EVENT_UNMAP && !u->dead) {
		revoked = odp_revoke(u, range->start, range->end);
		warn = revoked && !u->revoke_warned;
		u->revoke_warned |= warn;
	}
	pthread_mutex_unlock(&u->lock);
	if (range->event < SODP_MR_NR_EVENTS)
		odp_count(u, inval[range->event], 1);
	if (hit)
		odp_count(u, inval_handled, 1);
	if (revoked) {
		odp_count(u, revocations, 1);
		odp_cache_count_revocation();
	}
	if (warn)
		sodp_warn("MR with lkey %#x: %#lx-%#lx of its pinned memory was unmapped; access "
			  "there fails from now on (re-register the memory to use it)\n",
			  u->owner_key, (unsigned long)SODP_MAX(range->start, u->start),
			  (unsigned long)SODP_MIN(range->end, u->end));
	if (empty)
		odp_implicit_child_emptied(u);
	return true;
}

static const struct sodp_interval_notifier_ops odp_notifier_ops = {
	.invalidate = odp_invalidate,
};

/* ---- faulting ---- */

/* Forgets what a fault found in revoked ranges of [s, e); under lock. */
static void odp_drop_revoked(struct sodp_umem *u, uintptr_t s, uintptr_t e, uint64_t *pfns)
{
	size_t i;

	for (i = 0; i < u->nr_revoked; i++) {
		uintptr_t a = SODP_MAX(s, u->revoked[i].s), b = SODP_MIN(e, u->revoked[i].e);

		for (; a < b; a += ODP_PAGE_SIZE)
			pfns[(a - s) >> ODP_PAGE_SHIFT] = 0;
	}
}

/*
 * One range_fault + program of [s, e) (at most ODP_FAULT_CHUNK pages),
 * retried while the notifier's sequence moves. No lock held on entry.
 */
static int odp_fault_chunk(struct sodp_umem *u, uintptr_t s, uintptr_t e, uint64_t req,
			   uint64_t *pfns)
{
	struct sodp_hmm_range range = {
		.notifier = &u->notifier,
		.start = s,
		.end = e,
		.hmm_pfns = pfns,
		.default_flags = req,
		.pfn_flags_mask = 0,
	};
	size_t n = (e - s) >> ODP_PAGE_SHIFT;
	int attempt, ret = -EBUSY;

	for (attempt = 0; attempt < PIN_MAX_ATTEMPTS; attempt++) {
		uint64_t added;

		memset(pfns, 0, n * sizeof(*pfns));
		range.notifier_seq = sodp_interval_read_begin(&u->notifier);
		ret = sodp_hmm_range_fault(&range);
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;
		pthread_mutex_lock(&u->lock);
		if (sodp_interval_read_retry(&u->notifier, range.notifier_seq)) {
			pthread_mutex_unlock(&u->lock);
			ret = -EBUSY;
			continue;
		}
		if (u->dead) {
			pthread_mutex_unlock(&u->lock);
			return -EFAULT;
		}
		if (u->nr_revoked)
			odp_drop_revoked(u, s, e, pfns);
		added = odp_program(u, s, e, pfns);
		pthread_mutex_unlock(&u->lock);
		odp_count(u, pages_faulted, added);
		return 0;
	}
	return -EAGAIN;
}

/* Faults [s, e) (page aligned, inside the umem) in chunks. */
int odp_fault_range(struct sodp_umem *u, uintptr_t s, uintptr_t e, uint64_t req)
{
	uint64_t stack[ODP_BLK_PAGES], *pfns = stack;
	size_t cap = ODP_BLK_PAGES;
	int ret = 0;

	if ((e - s) >> ODP_PAGE_SHIFT > ODP_BLK_PAGES) {
		cap = SODP_MIN((e - s) >> ODP_PAGE_SHIFT, (size_t)ODP_FAULT_CHUNK);
		pfns = malloc(cap * sizeof(*pfns));
		if (!pfns)
			return -ENOMEM;
	}
	while (s < e && !ret) {
		/* chunks aligned to their size never split a 2 MiB block */
		uintptr_t ce = SODP_MIN(e, (s & ~(cap * ODP_PAGE_SIZE - 1)) + cap * ODP_PAGE_SIZE);

		ret = odp_fault_chunk(u, s, ce, req, pfns);
		s = ce;
	}
	if (pfns != stack)
		free(pfns);
	return ret;
}

/* ---- lifetime ---- */

static size_t odp_memlock_room(void)
{
	struct rlimit rl;
	unsigned long long vmlck = 0;
	char line[128];
	FILE *f;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return SIZE_MAX;
	f = fopen("/proc/self/status", "re");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "VmLck: %llu kB", &vmlck) == 1)
				break;
		fclose(f);
	}
	vmlck *= 1024;
	return rl.rlim_cur > vmlck ? (size_t)(rl.rlim_cur - vmlck) : 0;
}

/*
 * mlock() as much of a pinned umem as RLIMIT_MEMLOCK allows: all of it with
 * CAP_IPC_LOCK or room enough, else the prefix the limit leaves room for.
 * Memory left unlocked is populated but may be reclaimed; the next access
 * after reclaim refaults it.
 */
static void odp_mlock(struct sodp_umem *u)
{
	size_t len = u->end - u->start, room;

	if (!odp_mlock_range(u->start, len)) {
		u->locked_len = len;
		return;
	}
	room = odp_memlock_room() & ~(ODP_PAGE_SIZE - 1);
	if (room && room < len && !odp_mlock_range(u->start, room)) {
		u->locked_len = room;
		sodp_dbg("odp: %#lx+%zu: RLIMIT_MEMLOCK allows locking %zu bytes of it\n",
			 (unsigned long)u->start, len, room);
		return;
	}
	sodp_dbg("odp: %#lx+%zu: not locked (%s)\n", (unsigned long)u->start, len, strerror(errno));
}

struct sodp_umem *odp_umem_alloc(uintptr_t start, uintptr_t end, unsigned int flags)
{
	struct sodp_umem *u;

	pthread_once(&odp_once, odp_init);
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->flags = flags;
	u->refs = 1;
	u->start = start;
	u->end = end;
	u->base = start & ~(ODP_BLK_SIZE - 1);
	u->nblk = (odp_blk_up(end) - u->base) >> ODP_BLK_SHIFT;
	u->used_lo = u->nblk;
	u->used_hi = 0;
	pthread_mutex_init(&u->lock, NULL);
	u->blk = calloc(u->nblk, sizeof(*u->blk));
	if (!u->blk) {
		pthread_mutex_destroy(&u->lock);
		free(u);
		return NULL;
	}
	return u;
}

/*
 * Mirrors the umem's blocks: whole 2 MiB blocks, as its MTT covers them. A
 * large entry speaks for its whole block, so a change to the part of a huge
 * page outside the registration (an munmap that splits it) must take the
 * entry down too.
 */
int odp_umem_mirror(struct sodp_umem *u)
{
	int ret = sodp_interval_notifier_insert(&u->notifier, u->base, u->nblk * ODP_BLK_SIZE,
						&odp_notifier_ops);

	if (!ret)
		u->mirrored = true;
	return ret;
}

void odp_umem_free(struct sodp_umem *u)
{
	if (u->mirrored)
		sodp_interval_notifier_remove(&u->notifier);
	odp_mtt_free(u);
	free(u->revoked);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

static int odp_check_hugetlb(uintptr_t start, uintptr_t end)
{
	unsigned int shift;

	if (sodp_hmm_page_shift(start, end, &shift) || shift <= ODP_PAGE_SHIFT)
		return -EINVAL;
	return 0;
}

/*
 * Waits, bounded, until the mirror has delivered every event it read: a
 * translation is not trusted while an unmap may be pending in it
 * (sodp_hmm_settled()). The reader never waits for a NIC thread.
 */
static bool odp_settled(void)
{
	int i;

	for (i = 0; i < ODP_SETTLE_SPINS; i++) {
		if (sodp_hmm_settled())
			return true;
		sched_yield();
	}
	return false;
}

int sodp_umem_get(uintptr_t va, size_t length, unsigned int flags, struct sodp_umem **out)
{
	uintptr_t start, end;
	struct sodp_umem *u;
	int ret;

	if (!length || va + length < va || odp_page_up(va + length) < va)
		return -EINVAL;
	start = odp_page_down(va);
	end = odp_page_up(va + length);
	if ((flags & SODP_UMEM_HUGETLB) && odp_check_hugetlb(start, end))
		return -EINVAL;
	/* an unmap the mirror has read but not delivered may hide in the cache */
	if (!(flags & SODP_UMEM_ODP) && odp_settled()) {
		u = odp_cache_lookup(start, end, flags);
		if (u) {
			*out = u;
			return 0;
		}
	}
	u = odp_umem_alloc(start, end, flags);
	if (!u)
		return -ENOMEM;
	ret = odp_umem_mirror(u);
	if (ret)
		goto err;
	if (flags & SODP_UMEM_ODP) {
		/* what is already mapped, in bounded time (kernel rxe_odp_init_pages) */
		odp_fault_range(u, start, SODP_MIN(end, start + ODP_INIT_SNAPSHOT), 0);
		*out = u;
		return 0;
	}
	ret = odp_fault_range(u, start, end,
			      SODP_PFN_REQ_FAULT |
				      (flags & SODP_UMEM_WRITABLE ? SODP_PFN_REQ_WRITE : 0));
	if (ret == -EPERM) /* ib_umem_get(): FOLL_WRITE on a read-only VMA */
		ret = -EFAULT;
	if (ret)
		goto err;
	odp_mlock(u);
	odp_cache_insert(u);
	*out = u;
	return 0;
err:
	odp_umem_free(u);
	return ret;
}

void odp_umem_get_ref(struct sodp_umem *u)
{
	__atomic_fetch_add(&u->refs, 1, __ATOMIC_RELAXED);
}

void odp_umem_put(struct sodp_umem *u)
{
	if (__atomic_sub_fetch(&u->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (u->implicit)
		odp_implicit_free(u);
	else
		odp_umem_free(u);
}

/* The last user is gone: the translation stops; faults in flight may finish. */
void odp_umem_retire(struct sodp_umem *u)
{
	pthread_mutex_lock(&u->lock);
	__atomic_store_n(&u->dead, true, __ATOMIC_RELEASE);
	odp_zap(u, u->start, u->end, SODP_EVENT_RELEASE);
	pthread_mutex_unlock(&u->lock);
	odp_umem_put(u);
}

void sodp_umem_release(struct sodp_umem *u)
{
	if (!u)
		return;
	if (u->implicit) {
		odp_implicit_release(u);
		odp_umem_put(u);
		return;
	}
	/* a pinned umem others still use only loses this user's reference */
	if (!sodp_umem_is_odp(u) && !odp_cache_put(u)) {
		odp_umem_put(u);
		return;
	}
	odp_umem_retire(u);
}

struct sodp_umem *sodp_umem_hold(struct sodp_umem *u)
{
	odp_umem_get_ref(u);
	return u;
}

void sodp_umem_put(struct sodp_umem *u)
{
	odp_umem_put(u);
}

void sodp_umem_set_owner(struct sodp_umem *u, uint32_t key)
{
	uint32_t none = 0;

	__atomic_compare_exchange_n(&u->owner_key, &none, key, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

bool sodp_umem_is_odp(const struct sodp_umem *u)
{
	return u->flags & SODP_UMEM_ODP;
}

/* ---- access ---- */

size_t sodp_umem_chunk(const struct sodp_umem *u, uintptr_t va, size_t len)
{
	if (!u->implicit)
		return len;
	return SODP_MIN(len, ODP_GIANT_SIZE - (va & (ODP_GIANT_SIZE - 1)));
}

int sodp_umem_map_lock(struct sodp_umem *u, uintptr_t va, size_t len, bool write,
		       struct sodp_umem_map *m)
{
	if (!odp_settled())
		return -EAGAIN;
	if (u->implicit)
		return odp_implicit_map_lock(u, va, len, write, m);
	if (va < u->start || len > u->end - va)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	if (u->dead) {
		pthread_mutex_unlock(&u->lock);
		return -EFAULT;
	}
	if (len && !odp_range_ok(u, va, len, write)) {
		pthread_mutex_unlock(&u->lock);
		return -EAGAIN;
	}
	m->locked = u;
	return 0;
}

/* map_lock of an implicit child, entered with its lock held. */
int odp_map_locked_child(struct sodp_umem *c, uintptr_t va, size_t len, bool write,
			 struct sodp_umem_map *m)
{
	if (len && !odp_range_ok(c, va, len, write)) {
		pthread_mutex_unlock(&c->lock);
		return -EAGAIN;
	}
	m->locked = c;
	return 0;
}

void sodp_umem_unlock(struct sodp_umem_map *m)
{
	pthread_mutex_unlock(&m->locked->lock);
	m->locked = NULL;
}

/*
 * Copies between [va, va + total) and the @n buffers of @iov in order, total
 * being their length together; the range is mapped under a umem lock the
 * caller holds. 0 or -EFAULT.
 */
static int odp_copy_iov_locked(uintptr_t va, const struct iovec *iov, unsigned int n, size_t total,
			       bool to_umem)
{
	struct iovec r = {(void *)va, total};
	char *p = (char *)va;
	unsigned int i;
	ssize_t done;

	if (!total)
		return 0;
	if (odp_use_pvm) {
		done = to_umem ? process_vm_writev(odp_pid, iov, n, &r, 1, 0)
			       : process_vm_readv(odp_pid, iov, n, &r, 1, 0);
		return done == (ssize_t)total ? 0 : -EFAULT;
	}
	for (i = 0; i < n; p += iov[i].iov_len, i++) {
		if (to_umem)
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
		else
			memcpy(iov[i].iov_base, p, iov[i].iov_len);
	}
	return 0;
}

int sodp_umem_copy_locked(struct sodp_umem_map *m, uintptr_t va, void *buf, size_t len,
			  bool to_umem)
{
	struct iovec l = {buf, len};

	return odp_copy_iov_locked(va, &l, 1, len, to_umem);
}

int sodp_umem_atomic_locked(struct sodp_umem_map *m, uintptr_t va, enum sodp_atomic_op op,
			    uint64_t cmp_add, uint64_t swap, uint64_t *orig)
{
	uint64_t *p = (uint64_t *)va, probe, expected = cmp_add;

	if (va & 7)
		return -EINVAL;
	/* the entry is write-valid under the lock; the probe catches what no
	 * event source has reported yet */
	if (sodp_umem_copy_locked(m, va, &probe, sizeof(probe), false))
		return -EFAULT;
	switch (op) {
	case SODP_ATOMIC_CMP_SWAP:
		__atomic_compare_exchange_n(p, &expected, swap, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST);
		*orig = expected;
		break;
	case SODP_ATOMIC_FETCH_ADD:
		*orig = __atomic_fetch_add(p, cmp_add, __ATOMIC_SEQ_CST);
		break;
	case SODP_ATOMIC_WRITE:
		__atomic_store_n(p, cmp_add, __ATOMIC_SEQ_CST);
		*orig = 0;
		break;
	}
	return 0;
}

int sodp_umem_copy(struct sodp_umem *u, uintptr_t va, void *buf, size_t len, bool to_umem,
		   uintptr_t *miss)
{
	char *p = buf;

	while (len) {
		size_t n = sodp_umem_chunk(u, va, len);
		struct sodp_umem_map m;
		int ret = sodp_umem_map_lock(u, va, n, to_umem, &m);

		if (ret) {
			if (ret == -EAGAIN && miss)
				*miss = va;
			return ret;
		}
		ret = sodp_umem_copy_locked(&m, va, p, n, to_umem);
		sodp_umem_unlock(&m);
		if (ret)
			return ret;
		va += n;
		p += n;
		len -= n;
	}
	return 0;
}

int sodp_umem_copyv(struct sodp_umem *u, uintptr_t va, const struct iovec *iov, unsigned int n,
		    bool to_umem)
{
	struct sodp_umem_map m;
	size_t total = 0;
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (!total)
		return 0;
	if (sodp_umem_chunk(u, va, total) != total)
		return -E2BIG;
	ret = sodp_umem_map_lock(u, va, total, to_umem, &m);
	if (ret)
		return ret;
	ret = odp_copy_iov_locked(va, iov, n, total, to_umem);
	sodp_umem_unlock(&m);
	return ret;
}

/* ---- counters ---- */

void sodp_umem_count_rnr(struct sodp_umem *u)
{
	odp_count(u, rnr, 1);
}

/*
 * Adds the census of @u's MTT over [s, e) to @st: the large entries whose
 * blocks it touches (an order-18 entry once), and its valid 4 KiB entries.
 * Under u->lock.
 */
void odp_census(struct sodp_umem *u, struct sodp_mr_stats *st, uintptr_t s, uintptr_t e)
{
	uintptr_t last_giant = UINTPTR_MAX;
	size_t i, lo, hi;

	s = SODP_MAX(s, u->base);
	e = SODP_MIN(e, u->base + u->nblk * ODP_BLK_SIZE);
	if (s >= e)
		return;
	lo = SODP_MAX((s - u->base) >> ODP_BLK_SHIFT, u->used_lo);
	hi = SODP_MIN(((e - 1 - u->base) >> ODP_BLK_SHIFT) + 1, u->used_hi);
	for (i = lo; i < hi; i++) {
		const struct odp_blk *b = &u->blk[i];
		uintptr_t bs = u->base + (i << ODP_BLK_SHIFT), a, ae;

		if (b->flags & ODP_BLK_LARGE) {
			uintptr_t giant = bs & ~(ODP_GIANT_SIZE - 1);

			st->bytes_by_order[b->order] += ODP_BLK_SIZE;
			if (b->order == ODP_BLK_ORDER || giant != last_giant) {
				st->entries_by_order[b->order]++;
				st->entries++;
			}
			if (b->order != ODP_BLK_ORDER)
				last_giant = giant;
			continue;
		}
		if (!b->nvalid)
			continue;
		for (a = SODP_MAX(bs, odp_page_down(s)), ae = SODP_MIN(bs + ODP_BLK_SIZE, e);
		     a < ae; a += ODP_PAGE_SIZE) {
			if (!odp_bit(b->pg, odp_pg_idx(a)))
				continue;
			st->entries_by_order[0]++;
			st->entries++;
			st->bytes_by_order[0] += ODP_PAGE_SIZE;
		}
	}
}

void odp_counters_add(const struct odp_counters *c, struct sodp_mr_stats *st)
{
	int i;

	st->faults += READ_ONCE(c->faults);
	st->faults_handled += READ_ONCE(c->faults_handled);
	st->fault_errors += READ_ONCE(c->fault_errors);
	st->pages_faulted += READ_ONCE(c->pages_faulted);
	st->rnr_naks += READ_ONCE(c->rnr);
	st->prefetches += READ_ONCE(c->prefetches);
	for (i = 0; i < SODP_MR_NR_EVENTS; i++)
		st->invalidations[i] += READ_ONCE(c->inval[i]);
	st->invalidations_handled += READ_ONCE(c->inval_handled);
	st->revocations += READ_ONCE(c->revocations);
	st->children_created += READ_ONCE(c->children_created);
	st->children_freed += READ_ONCE(c->children_freed);
}

void sodp_umem_stats(struct sodp_umem *u, uintptr_t va, size_t len, struct sodp_mr_stats *st)
{
	uintptr_t locked_end;

	st->odp = sodp_umem_is_odp(u);
	st->implicit = u->implicit;
	if (u->implicit) {
		odp_implicit_stats(u, st);
		return;
	}
	odp_counters_add(&u->ctr, st);
	pthread_mutex_lock(&u->lock);
	odp_census(u, st, va, va + len);
	st->revoked_bytes = odp_revoked_bytes_in(u, odp_page_down(va), odp_page_up(va + len));
	st->revoked = st->revoked_bytes != 0;
	pthread_mutex_unlock(&u->lock);
	locked_end = u->start + __atomic_load_n(&u->locked_len, __ATOMIC_RELAXED);
	if (locked_end > va)
		st->locked_bytes = SODP_MIN(locked_end, va + len) - va;
}
