/* SPDX-License-Identifier: MIT */
/*
 * softodp HMM: a userspace mirror of the process page tables.
 *
 * Interval notifiers tell a mirror user (an ODP memory region, a test device)
 * that part of the address space is about to change, and give it a sequence
 * count to validate what it learned from sodp_hmm_range_fault(). The design
 * is the kernel's mmu_interval_notifier + hmm_range_fault; see docs/DESIGN.md,
 * "The HMM contract". Every function is thread safe; invalidation callbacks
 * run on whichever thread detected the change (the thread calling munmap(),
 * mprotect(), fork()..., or the mirror's event thread).
 *
 * The usage protocol:
 *
 *	again:
 *		range.notifier_seq = sodp_interval_read_begin(&n);
 *		ret = sodp_hmm_range_fault(&range);
 *		if (ret == -EBUSY)
 *			goto again;
 *		if (ret)
 *			return ret;
 *		lock(update_lock);
 *		if (sodp_interval_read_retry(&n, range.notifier_seq)) {
 *			unlock(update_lock);
 *			goto again;
 *		}
 *		program translations from range.hmm_pfns;
 *		unlock(update_lock);
 *
 * and the callback takes update_lock, calls sodp_interval_set_seq(), drops
 * the translations in the range and returns true. A translation is thus
 * never used after the callback that invalidated it returns.
 */
#ifndef SOFTODP_HMM_H
#define SOFTODP_HMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Events, in the order of severity an invalidation callback may see. */
enum sodp_event {
	SODP_EVENT_UNMAP,      /* munmap, mremap source, MAP_FIXED over, shmdt, brk shrink */
	SODP_EVENT_CLEAR,      /* madvise DONTNEED/FREE/REMOVE: pages dropped, mapping stays */
	SODP_EVENT_PROTECTION, /* mprotect / pkey_mprotect downgrade */
	SODP_EVENT_FORK,       /* fork: private pages become copy-on-write */
	SODP_EVENT_RELEASE,    /* the mirror is shutting down */
};
#define SODP_EVENT_NR 5

struct sodp_notify_range {
	uintptr_t start, end; /* end exclusive */
	enum sodp_event event;
};

struct sodp_interval_notifier;

struct sodp_interval_notifier_ops {
	/*
	 * Called BEFORE the CPU mapping changes (hooks) or as soon as it is
	 * known (kernel event channel). Must take the user's update lock,
	 * call sodp_interval_set_seq(), tear down translations, return true.
	 * It must not call sodp_interval_notifier_remove() on @n nor
	 * sodp_interval_read_begin(): both wait for this very invalidation.
	 */
	bool (*invalidate)(struct sodp_interval_notifier *n, const struct sodp_notify_range *range,
			   unsigned long cur_seq);
};

/*
 * struct sodp_interval_notifier - one mirrored interval.
 *
 * Users embed it (container_of from the callback) and treat the contents as
 * opaque: lib/hmm owns every field from insert until remove returns. The
 * storage is sized and aligned for the library's private state.
 */
struct sodp_interval_notifier {
	union {
		uint64_t u64[16];
		void *ptr;
	} opaque;
};

/*
 * Mirror [start, start + length). Returns 0, or -EINVAL (NULL, zero length,
 * no ops/invalidate, wrap-around); nothing else, as it allocates nothing:
 * the notifier's storage is the caller's. The first insert starts the
 * mirror's event sources; one the mirror cannot start (no userfaultfd, say)
 * is left out, which sodp_hmm_sources() tells.
 */
int sodp_interval_notifier_insert(struct sodp_interval_notifier *n, uintptr_t start, size_t length,
				  const struct sodp_interval_notifier_ops *ops);
/* Stop mirroring; waits for a callback running on @n to finish. */
void sodp_interval_notifier_remove(struct sodp_interval_notifier *n);
/* Sequence to pass to range fault and to check with read_retry(). Waits
 * while an invalidation of @n is in progress. */
unsigned long sodp_interval_read_begin(struct sodp_interval_notifier *n);
/* True if @n was invalidated since read_begin() returned @seq. */
bool sodp_interval_read_retry(struct sodp_interval_notifier *n, unsigned long seq);
/* From the invalidate callback, under the user's update lock. */
void sodp_interval_set_seq(struct sodp_interval_notifier *n, unsigned long cur_seq);

/*
 * One entry per 4 KiB page. Input: 0 = snapshot, REQ_FAULT, REQ_FAULT|REQ_WRITE.
 * Output: VALID, WRITE, ERROR, the map order, and the PFN where the process
 * may read it (/proc/self/pagemap with CAP_SYS_ADMIN), else 0.
 *
 * WRITE means a write through the virtual address lands in the page this
 * entry describes, without a copy: the mapping is writable and the page is
 * shared-mapped or exclusively owned (not the zero page, not a
 * copy-on-write page still shared with another process or the page cache).
 */
#define SODP_PFN_VALID	     (1ULL << 63)
#define SODP_PFN_WRITE	     (1ULL << 62)
#define SODP_PFN_ERROR	     (1ULL << 61)
#define SODP_PFN_ORDER_SHIFT 53 /* 5-bit order field */
#define SODP_PFN_ORDER_MASK  (0x1FULL << SODP_PFN_ORDER_SHIFT)
#define SODP_PFN_PFN_MASK    ((1ULL << SODP_PFN_ORDER_SHIFT) - 1)
#define SODP_PFN_REQ_FAULT   SODP_PFN_VALID
#define SODP_PFN_REQ_WRITE   SODP_PFN_WRITE

struct sodp_hmm_range {
	struct sodp_interval_notifier *notifier;
	unsigned long notifier_seq;
	uintptr_t start, end; /* page aligned, end exclusive */
	uint64_t *hmm_pfns;
	uint64_t default_flags, pfn_flags_mask;
};

/*
 * 0, or -EFAULT (no mapping / PROT_NONE / cannot be made valid),
 * -EPERM (write requested on a read-only mapping), -EBUSY (sequence moved:
 * call read_begin again and retry), -EINVAL, -ENOMEM.
 */
int sodp_hmm_range_fault(struct sodp_hmm_range *range);
unsigned int sodp_hmm_pfn_to_map_order(uint64_t hmm_pfn);
/*
 * The smallest page shift of the mappings covering [start, end): 12, or 21
 * and 30 for hugetlb. 0, or -EFAULT when part of it is unmapped, -EINVAL.
 */
int sodp_hmm_page_shift(uintptr_t start, uintptr_t end, unsigned int *shift);

/*
 * The mirror's pthread_atfork handlers are installed with the first
 * notifier. A layer that takes lib/hmm's locks under locks of its own calls
 * this before installing its own handlers, so that its prepare handler runs
 * first (prepare handlers run in reverse order of installation).
 */
void sodp_hmm_fork_init(void);

/*
 * False while the userfaultfd channel holds events it has read but not yet
 * delivered: an unmap by a call the hooks do not see (free() inside libc)
 * is then done, its notifiers not yet told, and the address may already be
 * mapped again. A user of the mirror that reaches memory by address waits
 * for true before trusting its translations.
 */
bool sodp_hmm_settled(void);

/* Which event and information sources the mirror is using. */
#define SODP_HMM_SRC_HOOKS	   (1U << 0) /* libc interposition (munmap, madvise, ...) */
#define SODP_HMM_SRC_UFFD	   (1U << 1) /* userfaultfd event channel */
#define SODP_HMM_SRC_ATFORK	   (1U << 2) /* pthread_atfork handlers */
#define SODP_HMM_SRC_PAGEMAP_SCAN  (1U << 3) /* PAGEMAP_SCAN ioctl (huge, zero page) */
#define SODP_HMM_SRC_PAGEMAP	   (1U << 4) /* /proc/self/pagemap entries */
#define SODP_HMM_SRC_PFN	   (1U << 5) /* PFNs readable (CAP_SYS_ADMIN) */
#define SODP_HMM_SRC_KPAGEFLAGS	   (1U << 6) /* /proc/kpageflags (THP without PAGEMAP_SCAN) */
#define SODP_HMM_SRC_PROCMAP_QUERY (1U << 7) /* PROCMAP_QUERY ioctl, else parsed maps */
/*
 * Environment knobs, read when the mirror starts: SOFTODP_HMM_NO_UFFD=1,
 * SOFTODP_HMM_NO_PAGEMAP_SCAN=1, SOFTODP_HMM_NO_PROCMAP_QUERY=1,
 * SOFTODP_HMM_NO_HOOKS=1 (hooks pass straight through), SOFTODP_HMM_NO_PFN=1.
 */
unsigned int sodp_hmm_sources(void);

/* Where an invalidation came from, for the counters. */
enum sodp_hmm_origin {
	SODP_HMM_FROM_HOOK,   /* interposed libc call, before the call */
	SODP_HMM_FROM_UFFD,   /* userfaultfd event the hooks missed */
	SODP_HMM_FROM_ATFORK, /* pthread_atfork prepare */
	SODP_HMM_FROM_API,    /* sodp_hmm_shutdown() */
};
#define SODP_HMM_ORIGIN_NR 4

struct sodp_hmm_counters {
	/* invalidations that reached at least one notifier */
	uint64_t events[SODP_HMM_ORIGIN_NR][SODP_EVENT_NR];
	uint64_t callbacks;	/* invalidate() calls */
	uint64_t uffd_events;	/* every userfaultfd event read */
	uint64_t uffd_dedup;	/* ... already delivered by a hook */
	uint64_t hook_misses;	/* ... missed by the hooks, delivered by uffd */
	uint64_t faults;	/* range_fault calls that had to populate pages */
	uint64_t snapshots;	/* range_fault calls that only read the page tables */
	uint64_t pages_faulted; /* pages populated */
	uint64_t ebusy;		/* range_fault returning -EBUSY */
	uint64_t maps_reads;	/* full /proc/self/maps parses (fallback) */
	uint64_t inval_latency_count;
	uint64_t inval_latency_p50_ns; /* detection to last callback returned */
	uint64_t inval_latency_p99_ns;
	uint64_t inval_latency_max_ns;
};

/* 0, or -EINVAL for NULL. */
int sodp_hmm_get_counters(struct sodp_hmm_counters *c);
void sodp_hmm_reset_counters(void);

/*
 * Delivers SODP_EVENT_RELEASE over every notifier's whole interval and stops
 * the event thread. Notifiers stay inserted and must still be removed.
 */
void sodp_hmm_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif
