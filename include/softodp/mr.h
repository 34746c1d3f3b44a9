/* SPDX-License-Identifier: MIT */
/*
 * softodp memory-region introspection.
 *
 * A registered MR is translated by the soft NIC through its MTT: one entry
 * per order-aligned block of the registered range, at the largest page size
 * the CPU mapping guarantees (order 0 = 4 KiB PTE, 9 = 2 MiB PMD-mapped THP
 * or hugetlb page, 18 = 1 GiB hugetlb page; see docs/DESIGN.md). An entry covers
 * its whole block even when the MR starts or ends inside it, as a NIC's
 * large page entry does.
 */
#ifndef SOFTODP_MR_H
#define SOFTODP_MR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ibv_mr;

#define SODP_MR_MAX_ORDER 31
#define SODP_MR_NR_EVENTS 5 /* enum sodp_event of <softodp/hmm.h> */

struct sodp_mr_stats {
	uint64_t entries;				  /* MTT entries in all */
	uint64_t entries_by_order[SODP_MR_MAX_ORDER + 1]; /* entries of each map order */
	uint64_t length;				  /* registered bytes */
	/*
	 * Bytes of the MR locked with mlock(), from the start of the range:
	 * all of it, or as much as RLIMIT_MEMLOCK left (without CAP_IPC_LOCK)
	 * when its translation was made. The rest is populated but may be
	 * reclaimed.
	 */
	uint64_t locked_bytes;

	/* Bytes of the MR's blocks translated by entries of each order. */
	uint64_t bytes_by_order[SODP_MR_MAX_ORDER + 1];
	uint64_t odp;	   /* 1 for an ODP MR (explicit or implicit) */
	uint64_t implicit; /* 1 for an implicit ODP MR */
	/*
	 * Page faults: accesses that found a page missing from the MTT and
	 * asked for it (faults), those resolved (faults_handled) or not
	 * (fault_errors), and the 4 KiB pages they made valid (pages_faulted,
	 * a 2 MiB entry counting 512). RNR NAKs the responder sent while a
	 * fault was being resolved. Prefetches: ibv_advise_mr() ranges, and
	 * the windows the NIC faults ahead of a stream of WRITEs.
	 */
	uint64_t faults;
	uint64_t faults_handled;
	uint64_t fault_errors;
	uint64_t pages_faulted;
	uint64_t rnr_naks;
	uint64_t prefetches;
	/*
	 * Invalidations delivered by the memory mirror, by event (indexed by
	 * enum sodp_event: UNMAP, CLEAR, PROTECTION, FORK, RELEASE), and those
	 * that found translations to take down (handled).
	 */
	uint64_t invalidations[SODP_MR_NR_EVENTS];
	uint64_t invalidations_handled;
	/*
	 * Pinned MRs: memory unmapped under the registration is revoked for
	 * good (access there fails; a later mapping at the same address was
	 * never registered). The unmaps that revoked part of the MR's
	 * translation, the bytes of the MR revoked, and 1 for an MR with any
	 * part revoked (summed per device: how many MRs were revoked).
	 *
	 * Pinned MRs over memory that is already translated share the
	 * translation (softodp/prereg.h): the counters above (faults,
	 * invalidations, revocations) are the translation's; the census,
	 * locked and revoked bytes are the MR's own range.
	 */
	uint64_t revocations;
	uint64_t revoked_bytes;
	uint64_t revoked;
	/* Implicit ODP: 1 GiB children alive, created and freed so far. */
	uint64_t children_live;
	uint64_t children_created;
	uint64_t children_freed;
};

/*
 * Fills @st for @mr, an MR registered with softodp (the struct ibv_reg_mr()
 * returned, not one from ibv_import_mr()). Returns 0, or -EINVAL for NULL
 * arguments. The MTT census is that of the MR's current
 * translation (after ibv_rereg_mr(), of the new one); for an ODP MR it
 * changes as pages are faulted and invalidated.
 */
int sodp_mr_get_stats(struct ibv_mr *mr, struct sodp_mr_stats *st);

/*
 * The same counters summed over every MR registered on @ctx's device in
 * this process since it was opened, deregistered ones included (their MTT
 * census is 0). Returns 0, or -EINVAL.
 */
struct ibv_context;
int sodp_device_get_mr_stats(struct ibv_context *ctx, struct sodp_mr_stats *st);

#ifdef __cplusplus
}
#endif

#endif
