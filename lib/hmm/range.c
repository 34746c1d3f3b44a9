// SPDX-License-Identifier: MIT
/*
 * hmm_range_fault(): fault pages in and snapshot the CPU page table; the
 * public sodp_hmm_range_fault() (mirror.c) is this plus the event sources'
 * bookkeeping.
 *
 * The range is walked VMA by VMA (hmm_vma_find) in chunks of at most
 * CHUNK_PAGES. For each chunk: snapshot, populate the pages whose request is
 * not met (MADV_POPULATE_READ / MADV_POPULATE_WRITE: the userspace
 * handle_mm_fault, which also breaks copy-on-write), snapshot again, and give
 * up with -EBUSY if the notifier sequence moved or the pages keep vanishing.
 *
 * Errors follow the kernel's hmm_range_fault(): a fault requested on a hole
 * or a PROT_NONE mapping is -EFAULT, a write fault on a mapping without
 * PROT_WRITE is -EPERM; a snapshot reports holes as 0 and PROT_NONE as ERROR
 * and succeeds. The mapping's protection is decided from the VMA, not from
 * madvise's errno, which is EINVAL for both PROT_NONE and read-only.
 *
 * WRITE is reported only where it can be proven from pagemap: the mapping is
 * writable and either shared, or the page is an anonymous page mapped by this
 * process alone (pagemap "exclusive", not a page-cache page). Such a page is
 * written in place; a zero page, a page-cache page under MAP_PRIVATE, or a
 * page still shared with a fork child would be copied first, so it is VALID
 * without WRITE. After a REQ_WRITE fault every page is proven writable.
 *
 * The map order comes from the VMA's page size for hugetlb (9 or 18), from
 * PAGEMAP_SCAN's PAGE_IS_HUGE for PMD-mapped THP, else from kpageflags when
 * privileged (a THP head with 512 contiguous present PFNs), else 0. Every
 * entry of an order-aligned block carries the same order and flags; a block
 * whose entries disagree is reported as order 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hmm_internal.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22
#define MADV_POPULATE_WRITE 23
#endif

#define CHUNK_PAGES  16384 /* 64 MiB: bounds the buffers and the -EBUSY latency */
#define SCAN_RUNS    256
#define MAX_ATTEMPTS 4
#define PFN_FLAGS    (SODP_PFN_VALID | SODP_PFN_WRITE | SODP_PFN_ERROR)
#define ENTRY_ZERO   (1ULL << 60) /* internal: the zero page, stripped on output */

unsigned long hmm_fault_gen;

enum req { REQ_NONE, REQ_READ, REQ_WRITE };

struct walk {
	struct sodp_hmm_range *r;
	uint8_t *reqs; /* the whole range's requests: output overwrites input */
	uint8_t *req;  /* this chunk's slice of reqs */
	uint64_t *pm;
	struct hmm_scan_run runs[SCAN_RUNS];
	bool fresh;
	bool faulted;
};

SODP_EXPORT unsigned int sodp_hmm_pfn_to_map_order(uint64_t hmm_pfn)
{
	return (unsigned int)((hmm_pfn & SODP_PFN_ORDER_MASK) >> SODP_PFN_ORDER_SHIFT);
}

static enum req req_of(const struct sodp_hmm_range *r, uint64_t in)
{
	uint64_t f = (in & r->pfn_flags_mask) | r->default_flags;

	if (!(f & SODP_PFN_REQ_FAULT))
		return REQ_NONE;
	return (f & SODP_PFN_REQ_WRITE) ? REQ_WRITE : REQ_READ;
}

static bool satisfied(enum req q, uint64_t out)
{
	if (q == REQ_NONE)
		return true;
	if (!(out & SODP_PFN_VALID))
		return false;
	return q == REQ_READ || (out & SODP_PFN_WRITE);
}

static void set_order(uint64_t *out, size_t n, unsigned int order)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (out[i] & SODP_PFN_VALID)
			out[i] = (out[i] & ~SODP_PFN_ORDER_MASK) |
				 ((uint64_t)order << SODP_PFN_ORDER_SHIFT);
}

/*
 * PAGEMAP_SCAN: PMD-mapped runs get order 9, zero-page runs lose WRITE.
 *
 * The scan covers the 2 MiB blocks around [s, e) as far as the VMA reaches:
 * the kernel splits a scan that ends inside a huge page into its PTEs and
 * would not call them huge, yet the order describes the whole mapping the
 * page belongs to, whatever part of it the caller asked about (as the
 * kernel's hmm_pfn_to_map_order() does).
 */
static int orders_from_scan(struct walk *w, uintptr_t s, uintptr_t e, const struct hmm_vma *vma,
			    uint64_t *out)
{
	const uintptr_t bmask = (HMM_PAGE_SIZE << HMM_PMD_ORDER) - 1;
	uintptr_t scan_e = SODP_MIN((e + bmask) & ~bmask, vma->end);
	uintptr_t pos = SODP_MAX(s & ~bmask, vma->start), walk_end;
	int n, i;

	while (pos < scan_e) {
		n = hmm_pagemap_scan(pos, scan_e, w->runs, SCAN_RUNS, &walk_end);
		if (n < 0)
			return n;
		for (i = 0; i < n; i++) {
			uintptr_t rs = SODP_MAX(w->runs[i].start, s),
				  re = SODP_MIN(w->runs[i].end, e);
			size_t a = (rs - s) >> HMM_PAGE_SHIFT, b = (re - s) >> HMM_PAGE_SHIFT, k;

			if (re <= rs)
				continue;
			if (w->runs[i].huge)
				set_order(out + a, b - a, HMM_PMD_ORDER);
			if (w->runs[i].zero)
				for (k = a; k < b; k++)
					out[k] |= ENTRY_ZERO;
		}
		if (walk_end <= pos)
			break;
		pos = walk_end;
	}
	return 0;
}

/*
 * Without PAGEMAP_SCAN: a 2 MiB block whose 512 pages are present with
 * contiguous PFNs starting at a THP head is one folio mapped with identical
 * permissions. Like the scan, this looks at every block the range touches,
 * whole, as far as the VMA reaches.
 */
static void orders_from_kpageflags(uintptr_t s, uintptr_t e, const struct hmm_vma *vma,
				   uint64_t *out)
{
	const uintptr_t bsz = HMM_PAGE_SIZE << HMM_PMD_ORDER;
	uint64_t pm[512];
	uintptr_t b;

	for (b = s & ~(bsz - 1); b < e; b += bsz) {
		uintptr_t rs = SODP_MAX(b, s), re = SODP_MIN(b + bsz, e);
		size_t first = (rs - s) >> HMM_PAGE_SHIFT, cnt = (re - rs) >> HMM_PAGE_SHIFT, k;
		uint64_t pfn0, kpf;
		bool ok;

		if (b < vma->start || b + bsz > vma->end || hmm_pagemap_read(b, 512, pm))
			continue;
		pfn0 = pm[0] & HMM_PM_PFN_MASK;
		ok = (pm[0] & HMM_PM_PRESENT) && pfn0 && !(pfn0 & 511);
		for (k = 1; ok && k < 512; k++)
			ok = (pm[k] & HMM_PM_PRESENT) && (pm[k] & HMM_PM_PFN_MASK) == pfn0 + k;
		if (!ok)
			continue;
		kpf = hmm_kpageflags(pfn0);
		if ((kpf & HMM_KPF_THP) && (kpf & HMM_KPF_COMPOUND_HEAD))
			set_order(out + first, cnt, HMM_PMD_ORDER);
		if (kpf & HMM_KPF_ZERO_PAGE)
			for (k = 0; k < cnt; k++)
				out[first + k] |= ENTRY_ZERO;
	}
}

/* Entries of one order-aligned block must agree; demote blocks that do not. */
static void orders_consistent(uintptr_t s, uint64_t *out, size_t n)
{
	size_t i = 0, j, end;

	while (i < n) {
		unsigned int order = sodp_hmm_pfn_to_map_order(out[i]);
		uintptr_t addr = s + (i << HMM_PAGE_SHIFT), bsz, bend;
		bool same = true;

		if (!order) {
			i++;
			continue;
		}
		bsz = HMM_PAGE_SIZE << order;
		bend = (addr & ~(bsz - 1)) + bsz;
		end = SODP_MIN(n, i + ((bend - addr) >> HMM_PAGE_SHIFT));
		for (j = i + 1; j < end && same; j++)
			same = sodp_hmm_pfn_to_map_order(out[j]) == order &&
			       (out[j] & PFN_FLAGS) == (out[i] & PFN_FLAGS);
		if (!same)
			for (j = i; j < end; j++)
				out[j] &= ~SODP_PFN_ORDER_MASK;
		i = end;
	}
}

/* Fills out[] for [s, e), all inside @vma. */
static int snapshot(struct walk *w, uintptr_t s, uintptr_t e, const struct hmm_vma *vma,
		    uint64_t *out)
{
	size_t n = (e - s) >> HMM_PAGE_SHIFT, i;
	bool writable = vma->prot & PROT_WRITE;
	unsigned int srcs;
	int ret;

	if (!(vma->prot & PROT_READ)) {
		for (i = 0; i < n; i++)
			out[i] = SODP_PFN_ERROR;
		return 0;
	}
	ret = hmm_pagemap_read(s, n, w->pm);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		uint64_t pm = w->pm[i], v;

		if (!(pm & HMM_PM_PRESENT)) {
			out[i] = 0;
			continue;
		}
		v = SODP_PFN_VALID | (pm & HMM_PM_PFN_MASK & SODP_PFN_PFN_MASK);
		if (writable && (vma->shared || (!(pm & HMM_PM_FILE) && (pm & HMM_PM_EXCLUSIVE))))
			v |= SODP_PFN_WRITE;
		out[i] = v;
	}

	srcs = hmm_pagemap_sources();
	if (vma->page_shift > HMM_PAGE_SHIFT)
		set_order(out, n, vma->page_shift - HMM_PAGE_SHIFT);
	else if (srcs & SODP_HMM_SRC_PAGEMAP_SCAN)
		ret = orders_from_scan(w, s, e, vma, out);
	else if (srcs & SODP_HMM_SRC_KPAGEFLAGS)
		orders_from_kpageflags(s, e, vma, out);
	if (ret && ret != -EOPNOTSUPP)
		return ret;
	for (i = 0; i < n; i++)
		if (out[i] & ENTRY_ZERO)
			out[i] &= ~(ENTRY_ZERO | SODP_PFN_WRITE);
	orders_consistent(s, out, n);
	return 0;
}

static int populate(uintptr_t s, uintptr_t e, bool write)
{
	int tries, err = 0;

	for (tries = 0; tries < 8; tries++) {
		if (!syscall(SYS_madvise, s, e - s,
			     write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ))
			return 0;
		err = errno;
		if (err != EINTR && err != EAGAIN)
			break;
	}
	switch (err) {
	case EINTR:
	case EAGAIN:
		return -EBUSY;
	case EINVAL:
		return -EINVAL; /* the caller re-reads the VMA to tell why */
	default:
		/* ENOMEM: a hole appeared; EFAULT, EHWPOISON: no page can back it. */
		return -EFAULT;
	}
}

/* madvise said EINVAL: decide from the current VMA what the caller is told. */
static int classify_einval(uintptr_t s, bool write)
{
	struct hmm_vma vma;

	if (hmm_vma_find(s, &vma, true) || vma.start > s)
		return -EFAULT;
	if (!(vma.prot & PROT_READ))
		return -EFAULT;
	if (write && !(vma.prot & PROT_WRITE))
		return -EPERM;
	return -EFAULT; /* VM_IO / VM_PFNMAP and friends */
}

static bool seq_moved(const struct sodp_hmm_range *r)
{
	return sodp_interval_read_retry(r->notifier, r->notifier_seq);
}

/* Populates every run of pages whose request out[] does not meet. */
static int fault_unsatisfied(struct walk *w, uintptr_t s, size_t n, const uint64_t *out)
{
	size_t i = 0, j;
	int ret;

	while (i < n) {
		enum req q = w->req[i];

		if (satisfied(q, out[i])) {
			i++;
			continue;
		}
		for (j = i + 1; j < n && w->req[j] == q && !satisfied(q, out[j]); j++)
			;
		ret = populate(s + (i << HMM_PAGE_SHIFT), s + (j << HMM_PAGE_SHIFT),
			       q == REQ_WRITE);
		if (ret == -EINVAL)
			ret = classify_einval(s + (i << HMM_PAGE_SHIFT), q == REQ_WRITE);
		if (ret)
			return ret;
		hmm_count(HMM_C_PAGES_FAULTED, j - i);
		w->faulted = true;
		i = j;
	}
	return 0;
}

static int do_chunk(struct walk *w, uintptr_t s, uintptr_t e, const struct hmm_vma *vma)
{
	struct sodp_hmm_range *r = w->r;
	size_t n = (e - s) >> HMM_PAGE_SHIFT, first = (s - r->start) >> HMM_PAGE_SHIFT, i;
	uint64_t *out = r->hmm_pfns + first;
	bool any = false, any_write = false;
	int attempt, ret;

	w->req = w->reqs + first;
	for (i = 0; i < n; i++) {
		any |= w->req[i] != REQ_NONE;
		any_write |= w->req[i] == REQ_WRITE;
	}
	if (any && !(vma->prot & PROT_READ))
		return -EFAULT;
	if (any_write && !(vma->prot & PROT_WRITE))
		return -EPERM;

	for (attempt = 0;; attempt++) {
		ret = snapshot(w, s, e, vma, out);
		if (ret)
			return ret;
		if (!any)
			return 0;
		for (i = 0; i < n && satisfied(w->req[i], out[i]); i++)
			;
		if (i == n)
			return 0;
		if (attempt == MAX_ATTEMPTS || seq_moved(r))
			return -EBUSY;
		/* out[] now holds output: fault from the saved requests. */
		ret = fault_unsatisfied(w, s, n, out);
		if (ret)
			return ret;
	}
}

static int walk_range(struct walk *w)
{
	struct sodp_hmm_range *r = w->r;
	uintptr_t addr = r->start;
	struct hmm_vma vma;
	int ret;

	while (addr < r->end) {
		uintptr_t stop;

		ret = hmm_vma_find(addr, &vma, w->fresh);
		if (ret && ret != -ENOENT)
			return ret;
		if (ret == -ENOENT || vma.start > addr) {
			/* A hole: fine for a snapshot, -EFAULT for a fault. */
			stop = (ret == -ENOENT || vma.start > r->end) ? r->end : vma.start;
			for (; addr < stop; addr += HMM_PAGE_SIZE) {
				uint64_t *p = &r->hmm_pfns[(addr - r->start) >> HMM_PAGE_SHIFT];

				if (w->reqs[(addr - r->start) >> HMM_PAGE_SHIFT] != REQ_NONE)
					return -EFAULT;
				*p = 0;
			}
			continue;
		}
		stop = SODP_MIN(vma.end, r->end);
		if (stop - addr > (uintptr_t)CHUNK_PAGES << HMM_PAGE_SHIFT)
			stop = addr + ((uintptr_t)CHUNK_PAGES << HMM_PAGE_SHIFT);
		ret = do_chunk(w, addr, stop, &vma);
		if (ret)
			return ret;
		if (seq_moved(r))
			return -EBUSY;
		addr = stop;
	}
	return 0;
}

/**
 * hmm_range_fault() - fault and snapshot a range for a mirror
 * @range: notifier and notifier_seq from sodp_interval_read_begin(),
 *	   page-aligned [start, end), one hmm_pfns entry per page holding the
 *	   request (combined with default_flags and pfn_flags_mask)
 *
 * Return: 0 with every entry filled in; -EBUSY when the notifier's sequence
 * moved (read_begin again); -EFAULT, -EPERM as described above; -EINVAL for
 * a bad range; -ENOMEM.
 */
int hmm_range_fault(struct sodp_hmm_range *range)
{
	struct walk *w;
	size_t npages, cap, i;
	int ret;

	if (!range || !range->notifier || !range->hmm_pfns)
		return -EINVAL;
	if ((range->start | range->end) & (HMM_PAGE_SIZE - 1) || range->end <= range->start)
		return -EINVAL;
	if (range->end > HMM_USER_TOP)
		return -EINVAL;
	if (!hmm_notifier_is_live(range->notifier))
		return -EINVAL;
	__atomic_fetch_add(&hmm_fault_gen, 1, __ATOMIC_SEQ_CST);
	if (seq_moved(range)) {
		hmm_count(HMM_C_EBUSY, 1);
		return -EBUSY;
	}

	npages = (range->end - range->start) >> HMM_PAGE_SHIFT;
	cap = SODP_MIN(npages, (size_t)CHUNK_PAGES);
	w = malloc(sizeof(*w) + cap * sizeof(uint64_t) + npages);
	if (!w)
		return -ENOMEM;
	w->r = range;
	w->pm = (uint64_t *)(w + 1);
	w->reqs = (uint8_t *)(w->pm + cap);
	for (i = 0; i < npages; i++)
		w->reqs[i] = (uint8_t)req_of(range, range->hmm_pfns[i]);
	w->fresh = false;
	w->faulted = false;

	ret = walk_range(w);
	if ((ret == -EFAULT || ret == -EPERM) &&
	    !(hmm_pagemap_sources() & SODP_HMM_SRC_PROCMAP_QUERY)) {
		/* The parsed-maps cache may be stale: confirm before failing. */
		w->fresh = true;
		ret = walk_range(w);
	}
	if (!ret && seq_moved(range))
		ret = -EBUSY;

	hmm_count(w->faulted ? HMM_C_FAULTS : HMM_C_SNAPSHOTS, 1);
	if (ret == -EBUSY)
		hmm_count(HMM_C_EBUSY, 1);
	free(w);
	return ret;
}

/**
 * sodp_hmm_page_shift() - the page size the CPU maps a range with
 * @start, @end: the range, end exclusive
 * @shift: set to the smallest page shift of the VMAs covering it (12 for
 *	   ordinary memory, 21 or 30 for hugetlb)
 *
 * Return: 0; -EFAULT when part of the range is not mapped; -EINVAL.
 */
SODP_EXPORT int sodp_hmm_page_shift(uintptr_t start, uintptr_t end, unsigned int *shift)
{
	struct hmm_vma vma;
	unsigned int min = 0;
	uintptr_t a = start;

	if (!shift || end <= start)
		return -EINVAL;
	while (a < end) {
		if (hmm_vma_find(a, &vma, true) || vma.start > a)
			return -EFAULT;
		if (!min || vma.page_shift < min)
			min = vma.page_shift;
		a = vma.end;
	}
	*shift = min;
	return 0;
}
