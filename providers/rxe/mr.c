// SPDX-License-Identifier: MIT
/*
 * Memory regions and every access the NIC makes to application memory.
 *
 * Pinned MRs: at registration the pages are faulted in through the HMM
 * mirror (sodp_hmm_range_fault with REQ_FAULT, plus REQ_WRITE when the access
 * flags let anyone write, as ib_umem_get() asks FOLL_WRITE), on a notifier
 * that lives only for the registration. Its map orders give the MTT: one
 * entry per order-aligned block (order 0, 9 or 18; seed 004), so a 1 GiB
 * THP-backed buffer takes 512 entries instead of 262144. A hole, a PROT_NONE
 * page or a read-only page with a write access is -EFAULT, as in the kernel.
 * Then the range is locked with mlock() as far as RLIMIT_MEMLOCK allows: all
 * of it, or (without CAP_IPC_LOCK, over the limit) the prefix the limit
 * leaves room for; the rest stays populated, resident in practice but not
 * guaranteed. sodp_mr_get_stats() (softodp/mr.h) reports both.
 *
 * The MTT is sorted and contiguous: a uniform-order MTT is indexed directly,
 * a mixed one through a per-2 MiB index of first entries (binary search was
 * 20x slower on a 1 GiB half-THP MTT; tests/bench/bench_mtt.c).
 * Userspace translation is the identity, so the lookup proves that the
 * address is covered and by which page size; rxe_mr_check() does it for
 * every access.
 *
 * Keys: lkey == rkey == (table index << 8) | generation byte, so a stale key
 * of a freed slot is rejected.
 *
 * Fault safety: the engine never dereferences an application address
 * directly for bulk data. Copies go through process_vm_readv/writev on our own
 * pid, which fail with EFAULT instead of raising SIGSEGV when the application
 * unmapped the buffer behind our back. That costs one syscall per packet
 * (not yet measured against a plain memcpy; a benchmark is still to be
 * written) but needs no signal handler in someone else's process: a
 * sigsetjmp-guarded memcpy would have to own SIGSEGV/SIGBUS process-wide and
 * coexist with whatever handlers the application installs. Where the syscall
 * is forbidden (seccomp), copies fall back to memcpy after the bounds and key
 * checks.
 *
 * Atomics must operate on the memory itself (so that atomics of two processes
 * on shared memory are atomic with respect to each other): they first probe
 * the 8 bytes with process_vm_readv, then use __atomic builtins.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <softodp/hmm.h>
#include <softodp/mr.h>

#include "rxe.h"
#include "log.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22
#define MADV_POPULATE_WRITE 23
#endif

#define RXE_PAGE	     4096UL
#define RXE_PAGE_SHIFT	     12
#define RXE_PIN_WINDOW	     16384 /* pages faulted per range_fault call (64 MiB) */
#define RXE_PIN_MAX_ATTEMPTS 16
#define RXE_PMD_ORDER	     9
#define RXE_PMD_SIZE	     (RXE_PAGE << RXE_PMD_ORDER)

int rxe_mr_table_init(struct rxe_dev *dev)
{
	dev->nr_mr = RXE_MAX_MR;
	dev->mr_tbl = calloc(dev->nr_mr, sizeof(*dev->mr_tbl));
	dev->next_mr = 1;
	dev->key_gen = 1;
	return dev->mr_tbl ? 0 : -ENOMEM;
}

void rxe_mr_table_fini(struct rxe_dev *dev)
{
	free(dev->mr_tbl);
	dev->mr_tbl = NULL;
}

struct rxe_mr *rxe_mr_lookup(struct rxe_dev *dev, uint32_t key)
{
	uint32_t idx = key >> 8;
	struct rxe_mr *mr;

	if (!idx || idx >= dev->nr_mr)
		return NULL;
	mr = dev->mr_tbl[idx];
	if (!mr || mr->ibmr.lkey != key)
		return NULL;
	return mr;
}

#define RXE_BLK_SHIFT 21	 /* the mixed-order index has one slot per 2 MiB */
#define RXE_BLK_LARGE (1U << 31) /* the slot's entry is of order 9 or more */

static const struct rxe_mtt_entry *rxe_mtt_bsearch(const struct rxe_mr *mr, uint64_t va)
{
	const struct rxe_mtt_entry *mtt = mr->mtt;
	uint32_t lo = 0, hi = mr->nr_mtt;

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (mtt[mid].va <= va)
			lo = mid;
		else
			hi = mid;
	}
	return va - mtt[lo].va < (RXE_PAGE << mtt[lo].order) ? &mtt[lo] : NULL;
}

/*
 * The MTT entry whose block holds process address @va, or NULL when @va is
 * outside the MR's translation. A uniform order is indexed directly. Mixed
 * orders go through mtt_blk, the first entry of each 2 MiB block: that entry
 * is either a large one covering the whole block, or the first of a run of
 * contiguous 4 KiB entries, so the lookup stays O(1) (a binary search backs
 * it up should the run not be what it expects).
 */
const struct rxe_mtt_entry *rxe_mr_mtt_find(const struct rxe_mr *mr, uint64_t va)
{
	const struct rxe_mtt_entry *mtt = mr->mtt, *e;
	uint64_t base, k, j;

	if (!mr->nr_mtt || va < mtt[0].va)
		return NULL;
	if (mr->mtt_order >= 0) {
		k = (va - mtt[0].va) >> (RXE_PAGE_SHIFT + mr->mtt_order);
		return k < mr->nr_mtt ? &mtt[k] : NULL;
	}
	if (!mr->mtt_blk)
		return rxe_mtt_bsearch(mr, va);
	base = mtt[0].va & ~((1ULL << RXE_BLK_SHIFT) - 1);
	k = (va - base) >> RXE_BLK_SHIFT;
	if (k >= mr->nr_mtt_blk)
		return NULL;
	j = mr->mtt_blk[k];
	if ((j & ~RXE_BLK_LARGE) >= mr->nr_mtt)
		return rxe_mtt_bsearch(mr, va);
	if (j & RXE_BLK_LARGE) {
		e = &mtt[j & ~RXE_BLK_LARGE];
		return va - e->va < (RXE_PAGE << e->order) ? e : NULL;
	}
	/* a run of 4 KiB entries from the block's start (or the MR's) */
	j += (va - SODP_MAX(base + (k << RXE_BLK_SHIFT), mtt[0].va)) >> RXE_PAGE_SHIFT;
	if (j < mr->nr_mtt && mtt[j].va == (va & ~(RXE_PAGE - 1)))
		return &mtt[j];
	return rxe_mtt_bsearch(mr, va);
}

/* Builds mtt_blk for a mixed-order MTT; without it lookups binary-search. */
static void rxe_mtt_index(struct rxe_mr *mr)
{
	uint64_t base = mr->mtt[0].va & ~((1ULL << RXE_BLK_SHIFT) - 1), nblk, k, kb, ke;
	const struct rxe_mtt_entry *last = &mr->mtt[mr->nr_mtt - 1];
	uint32_t i;

	mr->mtt_blk = NULL;
	mr->nr_mtt_blk = 0;
	if (mr->mtt_order >= 0 || mr->nr_mtt >= RXE_BLK_LARGE)
		return;
	nblk = ((last->va + (RXE_PAGE << last->order) - 1 - base) >> RXE_BLK_SHIFT) + 1;
	mr->mtt_blk = malloc(nblk * sizeof(*mr->mtt_blk));
	if (!mr->mtt_blk)
		return;
	mr->nr_mtt_blk = nblk;
	memset(mr->mtt_blk, 0xff, nblk * sizeof(*mr->mtt_blk));
	for (i = 0; i < mr->nr_mtt; i++) {
		const struct rxe_mtt_entry *e = &mr->mtt[i];

		kb = (e->va - base) >> RXE_BLK_SHIFT;
		ke = SODP_MIN((e->va + (RXE_PAGE << e->order) - 1 - base) >> RXE_BLK_SHIFT,
			      nblk - 1);
		for (k = kb; k <= ke; k++)
			if (mr->mtt_blk[k] == UINT32_MAX)
				mr->mtt_blk[k] =
					i | (e->order >= RXE_PMD_ORDER ? RXE_BLK_LARGE : 0);
	}
}

/*
 * Checks an access of @len bytes at @iova through @mr for @pd with @access
 * rights. Returns 0 and the process address in *va, or -EACCES. The bound
 * checks are written so that no sum can wrap.
 */
int rxe_mr_check(struct rxe_mr *mr, struct ibv_pd *pd, uint64_t iova, uint64_t len,
		 unsigned int access, uintptr_t *va)
{
	uint64_t off;

	if (!mr || mr->ibmr.pd != pd)
		return -EACCES;
	if ((mr->access & access) != access)
		return -EACCES;
	if (iova < mr->iova)
		return -EACCES;
	off = iova - mr->iova;
	if (len > mr->length || off > mr->length - len)
		return -EACCES;
	*va = mr->va + off;
	/* The MTT covers the whole MR; a miss would be a broken invariant. */
	if (len && !rxe_mr_mtt_find(mr, *va))
		return -EACCES;
	return 0;
}

int rxe_copy_from_user(struct rxe_dev *dev, void *dst, uintptr_t src, size_t len)
{
	struct iovec l = {dst, len}, r = {(void *)src, len};

	if (!len)
		return 0;
	if (!dev->use_pvm) {
		memcpy(dst, (void *)src, len);
		return 0;
	}
	return process_vm_readv(dev->pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

int rxe_copy_to_user(struct rxe_dev *dev, uintptr_t dst, const void *src, size_t len)
{
	struct iovec l = {(void *)src, len}, r = {(void *)dst, len};

	if (!len)
		return 0;
	if (!dev->use_pvm) {
		memcpy((void *)dst, src, len);
		return 0;
	}
	return process_vm_writev(dev->pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

/*
 * Copies @len bytes between @buf and the scatter list @sge starting @offset
 * bytes into it, checking each touched element against its MR (PD, bounds,
 * LOCAL_WRITE when writing). One syscall for the whole list.
 * Returns 0, -EACCES (key or bounds), -ENOSPC (list too short), -EFAULT.
 */
int rxe_sge_copy(struct rxe_dev *dev, struct ibv_pd *pd, const struct ibv_sge *sge, uint32_t nsge,
		 uint32_t offset, void *buf, uint32_t len, bool to_sge)
{
	struct iovec remote[RXE_MAX_SGE];
	struct iovec local = {buf, len};
	uint32_t i, n = 0, left = len;
	ssize_t ret;

	for (i = 0; i < nsge && left; i++) {
		uint32_t take;
		uintptr_t va;
		int err;

		if (offset >= sge[i].length) {
			offset -= sge[i].length;
			continue;
		}
		take = SODP_MIN(sge[i].length - offset, left);
		err = rxe_mr_check(rxe_mr_lookup(dev, sge[i].lkey), pd, sge[i].addr + offset, take,
				   to_sge ? IBV_ACCESS_LOCAL_WRITE : 0, &va);
		if (err)
			return err;
		remote[n].iov_base = (void *)va;
		remote[n].iov_len = take;
		n++;
		left -= take;
		offset = 0;
	}
	if (left)
		return -ENOSPC;
	if (!len)
		return 0;
	if (!dev->use_pvm) {
		char *p = buf;

		for (i = 0; i < n; i++) {
			if (to_sge)
				memcpy(remote[i].iov_base, p, remote[i].iov_len);
			else
				memcpy(p, remote[i].iov_base, remote[i].iov_len);
			p += remote[i].iov_len;
		}
		return 0;
	}
	if (to_sge)
		ret = process_vm_writev(dev->pid, &local, 1, remote, n, 0);
	else
		ret = process_vm_readv(dev->pid, &local, 1, remote, n, 0);
	return ret == (ssize_t)len ? 0 : -EFAULT;
}

int rxe_atomic_op(struct rxe_dev *dev, uintptr_t va, bool cmp_swap, uint64_t cmp_add, uint64_t swap,
		  uint64_t *orig)
{
	uint64_t *p = (uint64_t *)va;
	uint64_t probe;

	if (rxe_copy_from_user(dev, &probe, va, sizeof(probe)))
		return -EFAULT;
	if (cmp_swap) {
		uint64_t expected = cmp_add;

		__atomic_compare_exchange_n(p, &expected, swap, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST);
		*orig = expected;
	} else {
		*orig = __atomic_fetch_add(p, cmp_add, __ATOMIC_SEQ_CST);
	}
	return 0;
}

/* ---- PD ---- */

int rxe_alloc_pd(struct ibv_pd *pd)
{
	return 0;
}

void rxe_dealloc_pd(struct ibv_pd *pd)
{
}

/* ---- registration ---- */

#define RXE_ACCESS_SUPPORTED                                                         \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
	 IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_MW_BIND | IBV_ACCESS_ZERO_BASED |     \
	 IBV_ACCESS_HUGETLB | IBV_ACCESS_OPTIONAL_RANGE)

static int rxe_access_valid(unsigned int access)
{
	if (access & ~RXE_ACCESS_SUPPORTED)
		return access & IBV_ACCESS_ON_DEMAND ? -EOPNOTSUPP : -EINVAL;
	/* IBTA: remote write or atomic needs local write */
	if ((access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) &&
	    !(access & IBV_ACCESS_LOCAL_WRITE))
		return -EINVAL;
	return 0;
}

/* The page-aligned span of the MR. */
static void rxe_mr_span(const struct rxe_mr *mr, uintptr_t *start, uintptr_t *end)
{
	*start = mr->va & ~(RXE_PAGE - 1);
	*end = (mr->va + mr->length + RXE_PAGE - 1) & ~(RXE_PAGE - 1);
}

/* What ib_umem_get() pins with FOLL_WRITE (ib_access_writable()). */
static bool rxe_access_writable(unsigned int access)
{
	return access & (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_MW_BIND);
}

struct rxe_mtt_builder {
	struct rxe_mtt_entry *mtt;
	uint32_t nr, cap;
};

/*
 * Appends the blocks of @n pages at @va described by @pfns. A block seen in
 * an earlier window (a 1 GiB block spans several) is not added twice.
 */
static int rxe_mtt_add(struct rxe_mtt_builder *b, uintptr_t va, const uint64_t *pfns, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned int order = sodp_hmm_pfn_to_map_order(pfns[i]);
		uint64_t page = va + i * RXE_PAGE, size, base, last_end = 0;

		if (order > SODP_MR_MAX_ORDER)
			order = 0;
		size = RXE_PAGE << order;
		base = page & ~(size - 1);
		if (b->nr)
			last_end = b->mtt[b->nr - 1].va + (RXE_PAGE << b->mtt[b->nr - 1].order);
		if (base < last_end && base + size > last_end) {
			/* The mapping changed between two windows (a THP was
			 * collapsed): keep the MTT contiguous with 4 KiB entries. */
			if (page < last_end) {
				i++;
				continue;
			}
			order = 0;
			size = RXE_PAGE;
			base = page;
		}
		if (base >= last_end) {
			if (b->nr == b->cap) {
				uint32_t cap = b->cap ? b->cap * 2 : 64;
				struct rxe_mtt_entry *m = realloc(b->mtt, cap * sizeof(*m));

				if (!m)
					return -ENOMEM;
				b->mtt = m;
				b->cap = cap;
			}
			b->mtt[b->nr].va = base;
			b->mtt[b->nr].order = (uint8_t)order;
			b->nr++;
		}
		/* next page after this block */
		i = (base + size - va) / RXE_PAGE;
	}
	return 0;
}

struct rxe_pin_notifier {
	struct sodp_interval_notifier n;
};

/*
 * A pinned MR follows no later change of the mapping (as a umem does not):
 * the notifier only tells the registration that what it read went stale.
 */
static bool rxe_pin_invalidate(struct sodp_interval_notifier *n,
			       const struct sodp_notify_range *range, unsigned long cur_seq)
{
	sodp_interval_set_seq(n, cur_seq);
	return true;
}

static const struct sodp_interval_notifier_ops rxe_pin_ops = {
	.invalidate = rxe_pin_invalidate,
};

/*
 * The mirror reports a PMD-mapped THP as order 0 when the range covers only
 * part of it (the MR starts or ends inside the huge page); the kernel's
 * hmm_range_fault() reports the mapping's order for any part. Learn it from
 * a snapshot of the whole 2 MiB block around [s, e)'s edge at @blk and, if
 * the block is one huge mapping with the flags faulted here, use order 9.
 */
static void rxe_mr_edge_order(struct rxe_pin_notifier *pn, uint64_t *pfns, uintptr_t s, uintptr_t e,
			      uintptr_t blk)
{
	uint64_t snap[1UL << RXE_PMD_ORDER];
	struct sodp_hmm_range range = {
		.notifier = &pn->n,
		.start = blk,
		.end = blk + RXE_PMD_SIZE,
		.hmm_pfns = snap,
	};
	const uint64_t flags = SODP_PFN_VALID | SODP_PFN_WRITE | SODP_PFN_ERROR;
	uintptr_t lo = SODP_MAX(blk, s), hi = SODP_MIN(blk + RXE_PMD_SIZE, e), a;

	if (sodp_hmm_pfn_to_map_order(pfns[(lo - s) / RXE_PAGE]))
		return;
	memset(snap, 0, sizeof(snap));
	range.notifier_seq = sodp_interval_read_begin(&pn->n);
	if (sodp_hmm_range_fault(&range))
		return;
	for (a = lo; a < hi; a += RXE_PAGE) {
		uint64_t f = pfns[(a - s) / RXE_PAGE], g = snap[(a - blk) / RXE_PAGE];

		if (sodp_hmm_pfn_to_map_order(g) != RXE_PMD_ORDER || (f & flags) != (g & flags))
			return;
	}
	for (a = lo; a < hi; a += RXE_PAGE) {
		uint64_t *f = &pfns[(a - s) / RXE_PAGE];

		*f = (*f & ~SODP_PFN_ORDER_MASK) |
		     ((uint64_t)RXE_PMD_ORDER << SODP_PFN_ORDER_SHIFT);
	}
}

/* Faults [s, e) in one window and appends its blocks; retries on -EBUSY. */
static int rxe_mr_fault_window(struct rxe_pin_notifier *pn, struct rxe_mtt_builder *b, uintptr_t s,
			       uintptr_t e, bool write, uint64_t *pfns)
{
	struct sodp_hmm_range range = {
		.notifier = &pn->n,
		.start = s,
		.end = e,
		.hmm_pfns = pfns,
		.default_flags = SODP_PFN_REQ_FAULT | (write ? SODP_PFN_REQ_WRITE : 0),
		.pfn_flags_mask = 0,
	};
	int attempt, ret = -EBUSY;

	for (attempt = 0; attempt < RXE_PIN_MAX_ATTEMPTS; attempt++) {
		range.notifier_seq = sodp_interval_read_begin(&pn->n);
		ret = sodp_hmm_range_fault(&range);
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;
		if (s & (RXE_PMD_SIZE - 1))
			rxe_mr_edge_order(pn, pfns, s, e, s & ~(RXE_PMD_SIZE - 1));
		if (e & (RXE_PMD_SIZE - 1))
			rxe_mr_edge_order(pn, pfns, s, e, e & ~(RXE_PMD_SIZE - 1));
		/* Nothing is programmed yet: checking after the copy suffices. */
		if (sodp_interval_read_retry(&pn->n, range.notifier_seq)) {
			ret = -EBUSY;
			continue;
		}
		return rxe_mtt_add(b, s, pfns, (e - s) / RXE_PAGE);
	}
	return ret;
}

/* Bytes of locked memory the process may still add, from /proc/self/status. */
static size_t rxe_memlock_room(void)
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
 * mlock() as much of [start, end) as RLIMIT_MEMLOCK allows. Privileged
 * processes (CAP_IPC_LOCK) lock it all; others past the limit lock the
 * prefix the limit leaves room for. Locking is best effort: memory that
 * stays unlocked is populated but can be reclaimed.
 */
static void rxe_mr_lock(struct rxe_mr *mr, uintptr_t start, uintptr_t end)
{
	size_t len = end - start, room;

	if (!mlock((void *)start, len)) {
		mr->locked = true;
		mr->locked_len = len;
		return;
	}
	room = rxe_memlock_room() & ~(RXE_PAGE - 1);
	if (room && room < len && !mlock((void *)start, room)) {
		mr->locked = true;
		mr->locked_len = room;
		sodp_dbg("rxe: MR %#lx+%zu: RLIMIT_MEMLOCK allows locking %zu bytes of it\n",
			 (unsigned long)start, len, room);
		return;
	}
	sodp_dbg("rxe: MR %#lx+%zu: not locked (%s)\n", (unsigned long)start, len, strerror(errno));
}

/*
 * Faults [va, va+length) in through the HMM mirror, builds the MTT from the
 * map orders and locks the range. Returns 0, -EFAULT (hole, PROT_NONE, or a
 * write access to read-only memory), -EAGAIN (the mapping kept changing),
 * -ENOMEM.
 */
static int rxe_mr_pin(struct rxe_mr *mr)
{
	struct rxe_mtt_builder b = {0};
	struct rxe_pin_notifier pn;
	uintptr_t start, end, s;
	bool write = rxe_access_writable(mr->access);
	uint64_t *pfns;
	uint32_t i;
	int ret;

	rxe_mr_span(mr, &start, &end);
	pfns = malloc(SODP_MIN((end - start) / RXE_PAGE, (size_t)RXE_PIN_WINDOW) * sizeof(*pfns));
	if (!pfns)
		return -ENOMEM;
	memset(&pn, 0, sizeof(pn));
	/* the edges' whole 2 MiB blocks may be snapshot (rxe_mr_edge_order) */
	ret = sodp_interval_notifier_insert(&pn.n, start & ~(RXE_PMD_SIZE - 1),
					    ((end + RXE_PMD_SIZE - 1) & ~(RXE_PMD_SIZE - 1)) -
						    (start & ~(RXE_PMD_SIZE - 1)),
					    &rxe_pin_ops);
	if (ret)
		goto out_free;
	for (s = start; s < end && !ret;) {
		/* windows aligned to 64 MiB never split a 2 MiB block */
		uintptr_t e = SODP_MIN(end, (s & ~(RXE_PIN_WINDOW * RXE_PAGE - 1)) +
						    RXE_PIN_WINDOW * RXE_PAGE);

		ret = rxe_mr_fault_window(&pn, &b, s, e, write, pfns);
		s = e;
	}
	sodp_interval_notifier_remove(&pn.n);
	if (ret == -EPERM) /* ib_umem_get(): FOLL_WRITE on a read-only VMA */
		ret = -EFAULT;
	else if (ret == -EBUSY)
		ret = -EAGAIN;
	if (ret)
		goto out_free;

	mr->mtt_order = b.mtt[0].order;
	for (i = 1; i < b.nr; i++)
		if (b.mtt[i].order != b.mtt[0].order)
			mr->mtt_order = -1;
	mr->mtt = realloc(b.mtt, b.nr * sizeof(*b.mtt)) ?: b.mtt;
	b.mtt = NULL;
	mr->nr_mtt = b.nr;
	rxe_mtt_index(mr);
	mr->locked = false;
	mr->locked_len = 0;
	rxe_mr_lock(mr, start, end);
out_free:
	free(b.mtt);
	free(pfns);
	return ret;
}

static void rxe_mr_unpin(struct rxe_mr *mr)
{
	uintptr_t start, end;

	rxe_mr_span(mr, &start, &end);
	/* mlock does not nest: an overlapping MR loses residency, not data */
	if (mr->locked)
		munlock((void *)start, mr->locked_len);
	free(mr->mtt);
	free(mr->mtt_blk);
	mr->mtt = NULL;
	mr->mtt_blk = NULL;
	mr->nr_mtt_blk = 0;
	mr->nr_mtt = 0;
	mr->locked = false;
	mr->locked_len = 0;
}

SODP_EXPORT int sodp_mr_get_stats(struct ibv_mr *ibmr, struct sodp_mr_stats *st)
{
	struct rxe_mr *mr;
	struct rxe_dev *dev;
	uint32_t i;

	if (!ibmr || !st)
		return -EINVAL;
	mr = to_rmr(ibmr);
	dev = mr->dev;
	memset(st, 0, sizeof(*st));
	/* rereg swaps the translation under dev->lock */
	pthread_mutex_lock(&dev->lock);
	st->entries = mr->nr_mtt;
	for (i = 0; i < mr->nr_mtt; i++)
		st->entries_by_order[mr->mtt[i].order]++;
	st->length = mr->length;
	st->locked_bytes = mr->locked ? mr->locked_len : 0;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/* Under dev->lock: a free slot and its key. */
static int rxe_mr_insert(struct rxe_dev *dev, struct rxe_mr *mr)
{
	uint32_t i, idx;

	for (i = 0; i < dev->nr_mr - 1; i++) {
		idx = dev->next_mr++;
		if (dev->next_mr >= dev->nr_mr)
			dev->next_mr = 1;
		if (!dev->mr_tbl[idx]) {
			uint32_t key = idx << 8 | dev->key_gen++;

			dev->mr_tbl[idx] = mr;
			mr->ibmr.lkey = key;
			mr->ibmr.rkey = key;
			return 0;
		}
	}
	return -ENOMEM;
}

struct ibv_mr *rxe_reg_mr(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova,
			  unsigned int access)
{
	struct rxe_dev *dev = ctx_dev(sodp_ctx(pd->context));
	struct rxe_mr *mr;
	int ret;

	ret = rxe_access_valid(access);
	if (ret)
		goto err;
	ret = -EINVAL;
	if (!length || length > RXE_MAX_MR_SIZE || (uintptr_t)addr + length < (uintptr_t)addr)
		goto err;
	if (iova + length < iova)
		goto err;
	ret = -ENOMEM;
	mr = calloc(1, sizeof(*mr));
	if (!mr)
		goto err;
	mr->dev = dev;
	mr->va = (uintptr_t)addr;
	mr->iova = iova;
	mr->length = length;
	mr->access = access;
	ret = rxe_mr_pin(mr);
	if (ret)
		goto err_free;
	mr->ibmr.context = pd->context;
	mr->ibmr.pd = pd;
	mr->ibmr.addr = addr;
	mr->ibmr.length = length;
	pthread_mutex_lock(&dev->lock);
	ret = rxe_mr_insert(dev, mr);
	pthread_mutex_unlock(&dev->lock);
	if (ret)
		goto err_unpin;
	mr->ibmr.handle = mr->ibmr.lkey;
	return &mr->ibmr;
err_unpin:
	rxe_mr_unpin(mr);
err_free:
	free(mr);
err:
	errno = -ret;
	return NULL;
}

int rxe_rereg_mr(struct ibv_mr *ibmr, int flags, struct ibv_pd *pd, void *addr, size_t length,
		 unsigned int access)
{
	struct rxe_mr *mr = to_rmr(ibmr), tmp;
	struct rxe_dev *dev = mr->dev;
	int ret;

	if (flags & ~(IBV_REREG_MR_CHANGE_TRANSLATION | IBV_REREG_MR_CHANGE_PD |
		      IBV_REREG_MR_CHANGE_ACCESS))
		return -EINVAL;
	if ((flags & IBV_REREG_MR_CHANGE_ACCESS) && (ret = rxe_access_valid(access)))
		return ret;
	if ((flags & IBV_REREG_MR_CHANGE_TRANSLATION) &&
	    (!length || (uintptr_t)addr + length < (uintptr_t)addr))
		return -EINVAL;
	tmp = *mr;
	if (flags & IBV_REREG_MR_CHANGE_ACCESS)
		tmp.access = access;
	if (flags & IBV_REREG_MR_CHANGE_TRANSLATION) {
		tmp.va = (uintptr_t)addr;
		tmp.iova = (uintptr_t)addr;
		tmp.length = length;
		tmp.mtt = NULL;
		ret = rxe_mr_pin(&tmp);
		if (ret)
			return ret;
	}
	pthread_mutex_lock(&dev->lock);
	if (flags & IBV_REREG_MR_CHANGE_TRANSLATION)
		rxe_mr_unpin(mr);
	mr->access = tmp.access;
	mr->va = tmp.va;
	mr->iova = tmp.iova;
	mr->length = tmp.length;
	mr->mtt = tmp.mtt;
	mr->nr_mtt = tmp.nr_mtt;
	mr->mtt_order = tmp.mtt_order;
	mr->mtt_blk = tmp.mtt_blk;
	mr->nr_mtt_blk = tmp.nr_mtt_blk;
	mr->locked = tmp.locked;
	mr->locked_len = tmp.locked_len;
	if (flags & IBV_REREG_MR_CHANGE_PD)
		mr->ibmr.pd = pd;
	mr->ibmr.addr = (void *)mr->va;
	mr->ibmr.length = mr->length;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

int rxe_dereg_mr(struct ibv_mr *ibmr)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	struct rxe_dev *dev = mr->dev;

	pthread_mutex_lock(&dev->lock);
	dev->mr_tbl[ibmr->lkey >> 8] = NULL;
	pthread_mutex_unlock(&dev->lock);
	rxe_mr_unpin(mr);
	free(mr);
	return 0;
}

int rxe_advise_mr(struct ibv_pd *pd, enum ibv_advise_mr_advice advice, uint32_t flags,
		  struct ibv_sge *sg_list, uint32_t num_sge)
{
	/* Pinned memory is always resident: prefetch has nothing to do. */
	if (advice != IBV_ADVISE_MR_ADVICE_PREFETCH &&
	    advice != IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE &&
	    advice != IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT)
		return -EINVAL;
	return -EOPNOTSUPP;
}
