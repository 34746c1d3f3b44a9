/* SPDX-License-Identifier: MIT */
/*
 * softodp memory-region introspection.
 *
 * A registered MR is translated by the soft NIC through its MTT: one entry
 * per order-aligned block of the registered range, at the largest page size
 * the CPU mapping guarantees (order 0 = 4 KiB PTE, 9 = 2 MiB PMD-mapped THP
 * or hugetlb page, 18 = 1 GiB hugetlb page; see DESIGN.md). An entry covers
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

struct sodp_mr_stats {
	uint64_t entries;				  /* MTT entries in all */
	uint64_t entries_by_order[SODP_MR_MAX_ORDER + 1]; /* entries of each map order */
	uint64_t length;				  /* registered bytes */
	/*
	 * Bytes locked with mlock() at registration, from the start of the
	 * range: all of it, or as much as RLIMIT_MEMLOCK left (without
	 * CAP_IPC_LOCK). The rest is populated but may be reclaimed.
	 */
	uint64_t locked_bytes;
};

/*
 * Fills @st for @mr, an MR registered with softodp. Returns 0, or -EINVAL
 * for NULL arguments. The counts are those of the MR's current translation
 * (after ibv_rereg_mr(), of the new one).
 */
int sodp_mr_get_stats(struct ibv_mr *mr, struct sodp_mr_stats *st);

#ifdef __cplusplus
}
#endif

#endif
