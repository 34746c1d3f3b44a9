/* SPDX-License-Identifier: MIT */
/*
 * lib/hmm internals shared between its files. Nothing here is exported:
 * cross-file functions carry the hmm_ prefix and hidden visibility.
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

/* ---- notifier.c: interval notifiers and the invalidation path ---- */

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

/* Non-zero while any notifier exists: the hooks' only cost otherwise. */
extern int hmm_has_notifiers;

static inline bool hmm_mirror_active(void)
{
	return __atomic_load_n(&hmm_has_notifiers, __ATOMIC_RELAXED) != 0;
}

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
bool hmm_tree_overlaps(uintptr_t start, uintptr_t end);
/* Calls fn for every maximal [start, end) covered by notifiers inside [start, end). */
void hmm_tree_covered(uintptr_t start, uintptr_t end,
		      void (*fn)(uintptr_t s, uintptr_t e, void *arg), void *arg);
bool hmm_notifier_is_live(struct sodp_interval_notifier *n);

void hmm_notifier_fork_prepare(void);
void hmm_notifier_fork_parent(void);
void hmm_notifier_fork_child(void);

/* ---- locking shared with the uffd reader ---- */

/*
 * Every lib/hmm mutex is taken through hmm_lock(). On the userfaultfd reader
 * thread it keeps reading events while it waits, because a thread holding
 * the lock across fork() (the atfork prepare handler) is itself blocked until
 * the reader has read the FORK event.
 */
void hmm_lock(pthread_mutex_t *m);
void hmm_unlock(pthread_mutex_t *m);
extern __thread int hmm_tls_in_callback;

/* ---- pagemap.c: what the kernel says about pages and mappings ---- */

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

/* ---- uffd.c: the userfaultfd event channel ---- */

int hmm_uffd_start(void);
bool hmm_uffd_active(void);
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
void hmm_uffd_note_fork(void);
void hmm_uffd_stop(void);
void hmm_uffd_fork_prepare(void);
void hmm_uffd_fork_parent(void);
void hmm_uffd_fork_child(void);
void hmm_uffd_child_restart(void);

/* range.c: bumped by every range fault, read by the uffd deduplication. */
extern unsigned long hmm_fault_gen;

/* ---- hooks.c ---- */
bool hmm_hooks_enabled(void);
void hmm_hooks_reload_env(void);

/* ---- fork.c ---- */
void hmm_fork_install(void);
bool hmm_fork_installed(void);

/* ---- counters.c ---- */
void hmm_count_event(enum sodp_hmm_origin origin, enum sodp_event event);
void hmm_count_latency(uint64_t ns);
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

bool hmm_env_flag(const char *name);

#endif
