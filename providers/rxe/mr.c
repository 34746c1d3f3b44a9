// SPDX-License-Identifier: MIT
/*
 * Memory regions and every access the NIC makes to application memory.
 *
 * Pinned MRs: at registration the pages are populated and, as far as
 * RLIMIT_MEMLOCK allows, locked with mlock(); past the limit they are only
 * populated (MADV_POPULATE_READ/WRITE), which keeps them resident in practice
 * but not guaranteed. The MTT holds one entry per 4 KiB page (no map orders
 * are known without the HMM mirror); its size is reported as nr_mtt.
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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "rxe.h"
#include "log.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ  22
#define MADV_POPULATE_WRITE 23
#endif

#define RXE_PAGE 4096UL

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

/* Populate and lock [addr, addr+length); fills the 4 KiB MTT. */
static int rxe_mr_pin(struct rxe_mr *mr)
{
	uintptr_t start = mr->va & ~(RXE_PAGE - 1);
	uintptr_t end = (mr->va + mr->length + RXE_PAGE - 1) & ~(RXE_PAGE - 1);
	size_t npages = (end - start) / RXE_PAGE, i;
	bool write = mr->access &
		     (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC);

	if (madvise((void *)start, end - start, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ)) {
		if (errno == EFAULT || errno == ENOMEM || errno == EPERM)
			return -EFAULT;
		/* EINVAL: kernel without MADV_POPULATE_*; mlock faults them in */
	}
	mr->locked = !mlock((void *)start, end - start);
	mr->mtt = malloc(npages * sizeof(*mr->mtt));
	if (!mr->mtt) {
		if (mr->locked)
			munlock((void *)start, end - start);
		return -ENOMEM;
	}
	for (i = 0; i < npages; i++) {
		mr->mtt[i].va = start + i * RXE_PAGE;
		mr->mtt[i].order = 0;
	}
	mr->nr_mtt = npages;
	return 0;
}

static void rxe_mr_unpin(struct rxe_mr *mr)
{
	uintptr_t start = mr->va & ~(RXE_PAGE - 1);
	uintptr_t end = (mr->va + mr->length + RXE_PAGE - 1) & ~(RXE_PAGE - 1);

	/* mlock does not nest: an overlapping MR loses residency, not data */
	if (mr->locked)
		munlock((void *)start, end - start);
	free(mr->mtt);
	mr->mtt = NULL;
	mr->nr_mtt = 0;
	mr->locked = false;
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
	mr->locked = tmp.locked;
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
