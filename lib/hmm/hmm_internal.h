/* SPDX-License-Identifier: MIT */
/*
 * lib/hmm internals shared between its files. Nothing here is exported:
 * cross-file functions carry the hmm_ prefix and hidden visibility.
 *
 * Layers: who may call whom
 * -------------------------
 * A file calls only into the files of the layers below its own (and into
 * lib/util), never up, so the files form no cycle. As in the kernel's
 * mm/mmu_notifier.c, the notifier core knows nothing of the event sources
 * that call it, nor of who starts them.
 *
 *   5  mirror.c    the public entry points that drive the event sources:
 *                  sodp_interval_notifier_insert/remove() (start the sources
 *                  with the first notifier, register and unregister with
 *                  userfaultfd), sodp_hmm_range_fault() (the same
 *                  registration for what a fault found), sodp_hmm_shutdown(),
 *                  sodp_hmm_sources(), sodp_hmm_fork_init(), sodp_hmm_settled()
 *   4  hooks.c     the libc interposers                  } event sources: they
 *      fork.c      the pthread_atfork handlers           } call INTO notifier.c
 *   3  uffd.c      the userfaultfd event channel         } (hmm_inv_*)
 *   2  range.c     range fault and snapshot (pagemap.c, notifier.c)
 *   1  notifier.c  interval tree, sequence count, invalidation brackets
 *      pagemap.c   what /proc says about mappings and pages
 *   0  lock.c      hmm_lock();  counters.c: the counters
 *
 * Within a layer the files do not call each other. hooks.c and fork.c drive
 * uffd.c (deduplication, lifting a registration around a call, fork), which
 * is why uffd.c is a layer of its own; uffd.c reads range.c's fault
 * generation. A public function lives in the lowest file that can implement
 * it (read_begin/read_retry/set_seq in notifier.c, the map order and page
 * shift in range.c, the counters in counters.c); one that must drive a
 * source lives in mirror.c.
 *
 * Lock order
 * ----------
 * A lock is taken only while holding none, or only locks above it here:
 *
 *   uf.lock   uffd.c     registration state and extents
 *   exp_lock  uffd.c     the hooks' announcements (deduplication)
 *   hmm.lock  notifier.c interval tree, deferred list, sequence count
 *   pm_lock   pagemap.c  /proc descriptors and the parsed-maps cache
 *
 * hmm.lock and pm_lock are innermost: nothing called under either takes a
 * lib/hmm lock, so they never nest in each other. The fork prepare handler
 * holds uf.lock, exp_lock and hmm.lock, in that order, across fork().
 * Invalidate callbacks run with no lib/hmm lock held, inside an open
 * bracket; a user's own lock (the update lock the callback takes) therefore
 * always comes before lib/hmm's. Every lock is taken through hmm_lock().
 */
#ifndef SODP_HMM_INTERNAL_H
#define SODP_HMM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <softodp/hmm.h>

#include "clock.h"
#include "compiler.h"
#include "env.h"
#include "interval_tree.h"
#include "list.h"

#define HMM_PAGE_SHIFT 12
#define HMM_PAGE_SIZE  (1UL << HMM_PAGE_SHIFT)
#define HMM_PMD_ORDER  9
#define HMM_PUD_ORDER  18
/* Above any user address, 5-level paging included. */
#define HMM_USER_TOP (1ULL << 57)

static inline uintptr_t hmm_page_down(uintptr_t a)
{
	return a & ~(HMM_PAGE_SIZE - 1);
}

/* Rounds up; 0 if the result would wrap. */
static inline uintptr_t hmm_page_up(uintptr_t a)
{
	if (a > UINTPTR_MAX - (HMM_PAGE_SIZE - 1))
		return 0;
	return (a + HMM_PAGE_SIZE - 1) & ~(HMM_PAGE_SIZE - 1);
}

/* ---- lock.c (layer 0) ---- */

void hmm_lock(pthread_mutex_t *m);
void hmm_unlock(pthread_mutex_t *m);
/* For the calling thread only: hmm_lock() calls @wait while the mutex is taken. */
void hmm_lock_set_wait(void (*wait)(void));

/* ---- counters.c (layer 0) ---- */

enum hmm_counter {
	HMM_C_CALLBACKS,
	HMM_C_UFFD_EVENTS,
	HMM_C_UFFD_DEDUP,
	HMM_C_HOOK_MISSES,
	HMM_C_FAULTS,
	HMM_C_SNAPSHOTS,
	HMM_C_PAGES_FAULTED,
	HMM_C_EBUSY,
	HMM_C_MAPS_READS,
	HMM_C_NR,
};
void hmm_count(enum hmm_counter c, uint64_t n);
void hmm_count_event(enum sodp_hmm_origin origin, enum sodp_event event);
void hmm_count_latency(uint64_t ns);

/* ---- notifier.c (layer 1): interval notifiers and the invalidation path ---- */

enum hmm_notifier_state {
	HMM_N_IDLE, /* not inserted, or removed */
	HMM_N_IN_TREE,
	HMM_N_DEFERRED_INSERT, /* inserted during an invalidation */
	HMM_N_DEFERRED_REMOVE, /* removed during an invalidation */
};

/* The private layout behind struct sodp_interval_notifier. */
struct hmm_notifier {
	struct interval_tree_node it; /* [start, end - 1] */
	const struct sodp_interval_notifier_ops *ops;
	unsigned long invalidate_seq;
	struct list_head deferred;
	uintptr_t start, end;
	unsigned int state;
};

_Static_assert(sizeof(struct hmm_notifier) <= sizeof(struct sodp_interval_notifier),
	       "struct sodp_interval_notifier too small for the private state");
_Static_assert(_Alignof(struct hmm_notifier) <= _Alignof(struct sodp_interval_notifier),
	       "struct sodp_interval_notifier under-aligned");

static inline struct hmm_notifier *hmm_notifier(struct sodp_interval_notifier *n)
{
	return (struct hmm_notifier *)(void *)n->opaque.u64;
}

/* The pages a notifier covers, [*s, *e); *e is 0 when they reach the top. */
static inline void hmm_notifier_pages(struct sodp_interval_notifier *n, uintptr_t *s, uintptr_t *e)
{
	struct hmm_notifier *hn = hmm_notifier(n);

	*s = hmm_page_down(hn->start);
	*e = hmm_page_up(hn->it.last + 1);
}

/* Non-zero while any notifier exists: the hooks' only cost otherwise. */
extern int hmm_has_notifiers;

static inline bool hmm_mirror_active(void)
{
	return __atomic_load_n(&hmm_has_notifiers, __ATOMIC_RELAXED) != 0;
}

/* What insert accepts: storage, a callback, a non-empty interval that does not wrap. */
static inline bool hmm_notifier_args_valid(const struct sodp_interval_notifier *n, uintptr_t start,
					   size_t length,
					   const struct sodp_interval_notifier_ops *ops)
{
	return n && ops && ops->invalidate && length && start <= UINTPTR_MAX - (length - 1);
}

/*
 * The core's own insert and remove: the tree and the sequence only, no
 * event source. 0 or -EINVAL; remove returns false when @n was not inserted.
 */
int hmm_notifier_insert(struct sodp_interval_notifier *n, uintptr_t start, size_t length,
			const struct sodp_interval_notifier_ops *ops);
bool hmm_notifier_remove(struct sodp_interval_notifier *n);
bool hmm_notifier_is_live(struct sodp_interval_notifier *n);

/*
 * One invalidation bracket, the kernel's invalidate_range_start/end: between
 * open and close the global sequence is odd, read_begin() waits and the tree
 * is frozen (inserts and removes are deferred), so callbacks can be called
 * without holding the lock and a fault racing the change cannot validate.
 */
struct hmm_inv {
	enum sodp_event event;
	enum sodp_hmm_origin origin;
	unsigned long cur_seq;
	uint64_t t0;
	bool open;
	bool hit; /* some callback ran */
};

/* Opens a bracket if [start, end) overlaps a notifier and runs its callbacks. */
bool hmm_inv_begin(struct hmm_inv *inv, uintptr_t start, uintptr_t end, enum sodp_event event,
		   enum sodp_hmm_origin origin, uint64_t t0);
/* Opens a bracket unconditionally; then hmm_inv_range() any number of times. */
void hmm_inv_open(struct hmm_inv *inv, enum sodp_event event, enum sodp_hmm_origin origin,
		  uint64_t t0);
bool hmm_inv_range(struct hmm_inv *inv, uintptr_t start, uintptr_t end);
void hmm_inv_close(struct hmm_inv *inv);
/* One whole bracket over every notifier; true if a callback ran. */
bool hmm_inv_all(enum sodp_event event, enum sodp_hmm_origin origin, uint64_t t0);
bool hmm_tree_overlaps(uintptr_t start, uintptr_t end);
/* Calls fn for every maximal [start, end) covered by notifiers inside [start, end). */
void hmm_tree_covered(uintptr_t start, uintptr_t end,
		      void (*fn)(uintptr_t s, uintptr_t e, void *arg), void *arg);

void hmm_notifier_fork_prepare(void);
void hmm_notifier_fork_parent(void);
void hmm_notifier_fork_child(void);

/* ---- pagemap.c (layer 1): what the kernel says about pages and mappings ---- */

struct hmm_vma {
	uintptr_t start, end;
	unsigned int prot; /* PROT_READ | PROT_WRITE | PROT_EXEC */
	bool shared;
	unsigned int page_shift; /* 12, 21 (2 MiB hugetlb), 30 (1 GiB hugetlb) */
	uint64_t inode;
	uint32_t dev_major, dev_minor;
};

/* The VMA containing @addr, else the next one: 0, -ENOENT (none), <0. */
int hmm_vma_find(uintptr_t addr, struct hmm_vma *vma, bool fresh);
void hmm_maps_invalidate(void);

#define HMM_PM_PRESENT	 (1ULL << 63)
#define HMM_PM_SWAPPED	 (1ULL << 62)
#define HMM_PM_FILE	 (1ULL << 61)
#define HMM_PM_EXCLUSIVE (1ULL << 56)
#define HMM_PM_PFN_MASK	 ((1ULL << 55) - 1)

int hmm_pagemap_read(uintptr_t start, size_t npages, uint64_t *out);

/* Page runs from PAGEMAP_SCAN: only present pages are reported. */
struct hmm_scan_run {
	uintptr_t start, end;
	bool huge, zero;
};
/* Returns the number of runs (>= 0), or -EOPNOTSUPP when the scan is unavailable. */
int hmm_pagemap_scan(uintptr_t start, uintptr_t end, struct hmm_scan_run *runs, size_t max,
		     uintptr_t *walk_end);
/* kpageflags of @pfn, or 0 when unreadable. */
uint64_t hmm_kpageflags(uint64_t pfn);
#define HMM_KPF_COMPOUND_HEAD (1ULL << 15)
#define HMM_KPF_HUGE	      (1ULL << 17)
#define HMM_KPF_THP	      (1ULL << 22)
#define HMM_KPF_ZERO_PAGE     (1ULL << 24)

unsigned int hmm_pagemap_sources(void);
void hmm_pagemap_fork_child(void);
void hmm_pagemap_reload_env(void);

/* ---- range.c (layer 2) ---- */

/* sodp_hmm_range_fault() without the event sources: the same contract. */
int hmm_range_fault(struct sodp_hmm_range *range);
/* Bumped by every range fault, read by the uffd deduplication. */
extern unsigned long hmm_fault_gen;

/* ---- uffd.c (layer 3): the userfaultfd event channel ---- */

int hmm_uffd_start(void);
void hmm_uffd_stop(void);
bool hmm_uffd_active(void);
/* False while events read from the channel are not delivered yet. */
bool hmm_uffd_settled(void);
/* Registers the VMAs that overlap [start, end), each whole, if not yet registered. */
void hmm_uffd_register(uintptr_t start, uintptr_t end);
/* Unregisters the registered VMAs around [start, end) that no notifier overlaps. */
void hmm_uffd_unregister_idle(uintptr_t start, uintptr_t end);
/* The kernel dropped these VMAs (unmapped): forget their registration. */
void hmm_uffd_forget(uintptr_t start, uintptr_t end);
/* Lifts the registration of [*ls, *le) inside [start, end) around a hooked call. */
bool hmm_uffd_lift(uintptr_t start, uintptr_t end, uintptr_t *ls, uintptr_t *le);
void hmm_uffd_relift(uintptr_t ls, uintptr_t le);
/* The hooks announce what they deliver so the reader can deduplicate. */
int hmm_uffd_expect(uintptr_t start, uintptr_t end);
void hmm_uffd_expect_done(int slot);
void hmm_uffd_fork_prepare(void);
void hmm_uffd_fork_parent(void);
void hmm_uffd_fork_child(void);
/* In a fork child, the first mirror call opens the child's own channel. */
void hmm_uffd_child_restart(void);

/* ---- hooks.c (layer 4) ---- */

bool hmm_hooks_enabled(void);
void hmm_hooks_reload_env(void);

/* ---- fork.c (layer 4) ---- */

void hmm_fork_install(void);
bool hmm_fork_installed(void);

#endif
