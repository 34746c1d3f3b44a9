/* SPDX-License-Identifier: MIT */
/*
 * lib/odp's private state. The protocol is in odp.h.
 */
#ifndef SODP_ODP_INTERNAL_H
#define SODP_ODP_INTERNAL_H

#include <softodp/hmm.h>

#include <sys/syscall.h>
#include <unistd.h>

#include "odp.h"
#include "compiler.h"
#include "interval_tree.h"

#define ODP_PAGE_SHIFT	  12
#define ODP_PAGE_SIZE	  (1UL << ODP_PAGE_SHIFT)
#define ODP_BLK_ORDER	  9 /* a PMD: 2 MiB */
#define ODP_BLK_SHIFT	  (ODP_PAGE_SHIFT + ODP_BLK_ORDER)
#define ODP_BLK_SIZE	  (1UL << ODP_BLK_SHIFT)
#define ODP_BLK_PAGES	  (1U << ODP_BLK_ORDER)
#define ODP_PG_WORDS	  (ODP_BLK_PAGES / 64)
#define ODP_GIANT_ORDER	  18 /* a PUD: 1 GiB */
#define ODP_GIANT_SHIFT	  (ODP_PAGE_SHIFT + ODP_GIANT_ORDER)
#define ODP_GIANT_SIZE	  (1UL << ODP_GIANT_SHIFT)
#define ODP_FAULT_CHUNK	  16384	       /* pages per range_fault call (64 MiB) */
#define ODP_INIT_SNAPSHOT (16UL << 20) /* registration snapshots at most this */
#define ODP_SETTLE_SPINS  10000	       /* yields to wait for the mirror's reader */
#define ODP_VA_BITS	  57	       /* implicit ODP covers [0, 2^57) */
#define ODP_CHILD_L2_BITS 9
#define ODP_CHILD_L1_BITS (ODP_VA_BITS - ODP_GIANT_SHIFT - ODP_CHILD_L2_BITS)

#define ODP_BLK_LARGE (1U << 0) /* one entry of order 9 or 18 covers the block */
#define ODP_BLK_WRITE (1U << 1) /* ... and it is write-valid */

struct odp_blk {
	uint8_t flags;
	uint8_t order;	 /* of the large entry */
	uint16_t nvalid; /* valid 4 KiB entries */
	uint64_t *pg;	 /* NULL, or valid bits then write-valid bits */
};

/* Updated with relaxed atomics from any thread. */
struct odp_counters {
	uint64_t faults, faults_handled, fault_errors, pages_faulted, rnr, prefetches;
	uint64_t inval[SODP_MR_NR_EVENTS], inval_handled, revocations;
	uint64_t children_created, children_freed;
};

#define odp_count(u, field, n) __atomic_fetch_add(&(u)->ctr.field, (n), __ATOMIC_RELAXED)

struct sodp_umem {
	struct sodp_interval_notifier notifier;
	pthread_mutex_t lock; /* the MTT; NIC accesses in flight */
	unsigned int flags;
	int refs; /* the registration, queued faults, implicit lookups */
	bool dead;
	bool mirrored;
	uintptr_t start, end; /* page aligned */
	uintptr_t base;	      /* start rounded down to 2 MiB */
	size_t nblk;
	struct odp_blk *blk;
	size_t used_lo, used_hi; /* blocks [lo, hi) ever programmed: what walks visit */
	size_t locked_len;	 /* pinned: mlock()ed from start */
	struct odp_counters ctr;

	/* pinned: ranges unmapped since registration, never translated again */
	struct odp_range {
		uintptr_t s, e;
	} * revoked;
	size_t nr_revoked;
	uint64_t revoked_bytes;
	bool revoke_warned;
	uint32_t owner_key; /* names the MR in messages */

	/* pinned: in the translation cache (cache.c), under its lock */
	struct interval_tree_node cache_node;
	bool cached;
	int used;    /* MRs and pre-registrations using it */
	int preregs; /* of which pre-registrations */

	/* an implicit child */
	struct sodp_umem *parent;
	struct list_head child_node; /* parent->child_list, under the parent's lock */
	int busy;		     /* faults using the child, under the parent's lock */
	bool emptied;		     /* invalidation left it empty: reap it (atomic) */

	/* the implicit parent */
	bool implicit;
	struct sodp_umem ***children; /* [L1][L2] by 1 GiB index, under lock */
	struct list_head child_list;
	uint64_t nr_children;
	pthread_mutex_t reap_lock; /* leaf: dead vs scheduling a reap */
	struct sodp_fault reap;
};

/*
 * mlock()/munlock() by system call: the sanitizers' interceptors make the
 * library calls no-ops (they guard mlockall() of the shadow memory), and a
 * pinned MR must be locked in every build.
 */
static inline int odp_mlock_range(uintptr_t a, size_t len)
{
	return (int)syscall(SYS_mlock, a, len);
}

static inline void odp_munlock_range(uintptr_t a, size_t len)
{
	syscall(SYS_munlock, a, len);
}

static inline uintptr_t odp_page_down(uintptr_t a)
{
	return a & ~(ODP_PAGE_SIZE - 1);
}

static inline uintptr_t odp_page_up(uintptr_t a)
{
	return (a + ODP_PAGE_SIZE - 1) & ~(ODP_PAGE_SIZE - 1);
}

static inline uintptr_t odp_blk_up(uintptr_t a)
{
	return (a + ODP_BLK_SIZE - 1) & ~(ODP_BLK_SIZE - 1);
}

/* umem.c */
struct sodp_umem *odp_umem_alloc(uintptr_t start, uintptr_t end, unsigned int flags);
int odp_umem_mirror(struct sodp_umem *u);
void odp_umem_free(struct sodp_umem *u);
void odp_umem_get_ref(struct sodp_umem *u);
void odp_umem_put(struct sodp_umem *u);
int odp_fault_range(struct sodp_umem *u, uintptr_t s, uintptr_t e, uint64_t req);
bool odp_is_revoked(struct sodp_umem *u, uintptr_t s, uintptr_t e);
int odp_map_locked_child(struct sodp_umem *c, uintptr_t va, size_t len, bool write,
			 struct sodp_umem_map *m);
bool odp_mtt_is_empty(struct sodp_umem *u);
void odp_census(struct sodp_umem *u, struct sodp_mr_stats *st, uintptr_t s, uintptr_t e);
void odp_counters_add(const struct odp_counters *c, struct sodp_mr_stats *st);

/* cache.c */
struct sodp_umem *odp_cache_lookup(uintptr_t start, uintptr_t end, unsigned int flags);
void odp_cache_insert(struct sodp_umem *u);
bool odp_cache_put(struct sodp_umem *u);
void odp_cache_count_revocation(void);
void odp_cache_fork_child(void);
void odp_umem_retire(struct sodp_umem *u);

/* fault.c */
void odp_worker_fork_child(void);
void odp_schedule_reap(struct sodp_umem *p);
int odp_fault_one(struct sodp_umem *u, uintptr_t va, size_t len, unsigned int flags);

/* implicit.c */
int odp_implicit_map_lock(struct sodp_umem *p, uintptr_t va, size_t len, bool write,
			  struct sodp_umem_map *m);
struct sodp_umem *odp_implicit_child_get(struct sodp_umem *p, uintptr_t va, bool create);
void odp_implicit_child_put(struct sodp_umem *c);
void odp_implicit_child_emptied(struct sodp_umem *c);
void odp_implicit_release(struct sodp_umem *p);
void odp_implicit_reap(struct sodp_umem *p);
void odp_implicit_free(struct sodp_umem *p);
void odp_implicit_stats(struct sodp_umem *p, struct sodp_mr_stats *st);

#endif
