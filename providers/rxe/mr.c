// SPDX-License-Identifier: MIT
/*
 * Memory regions: keys, access checks, and every access the NIC makes to
 * application memory, through the MR's umem (lib/odp, whose header holds the
 * protocol).
 *
 * Pinned MRs fault their pages at registration (for writing when the access
 * flags let anyone write, as ib_umem_get() asks FOLL_WRITE) and lock them;
 * ODP MRs (IBV_ACCESS_ON_DEMAND) fault on first access; the implicit ODP MR
 * (addr NULL, length SIZE_MAX) covers the whole address space. Both kinds
 * translate through the same MTT of map-order entries (seed 004), so a
 * 1 GiB THP-backed buffer takes 512 entries.
 *
 * Keys: lkey == rkey == a generation (5 bits), the MR's table index (19
 * bits) and a random byte. The random byte, and at a slot's first use the
 * generation, keep a blind peer from guessing a key; the generation, one up
 * from the slot's previous key at each reuse, makes a slot's key differ from
 * each of its 31 previous ones, so that the stale key of a freed MR does not
 * reach the next MR in its slot (kernel rxe only draws a random byte other
 * than the last, rxe_get_next_key()). Slots are taken round robin: one comes
 * back only after every other free slot has been used. Memory windows
 * (mw.c) draw their keys from the same slots by the same rule, a slot
 * holding an MR or a window, never both; a bind changes only a window's
 * random byte, which is the consumer's.
 *
 * An access that finds a page missing returns -EAGAIN with a struct
 * rxe_miss; what that means on the wire is decided by the caller (odp.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <softodp/mr.h>

#include "rxe.h"
#include "log.h"

#define RXE_KEY_GEN_SHIFT (RXE_KEY_BYTE_BITS + RXE_KEY_IDX_BITS)
#define RXE_KEY_BYTE_MASK ((1u << RXE_KEY_BYTE_BITS) - 1)
_Static_assert(RXE_MAX_MR <= RXE_KEY_IDX_MASK, "an MR's index must fit in its key");

/* A new key for slot @idx, whose previous key was @last (0: none yet). */
static uint32_t rxe_key_next(uint32_t idx, uint32_t last)
{
	uint32_t r = rxe_random_u32();
	uint32_t gen = last ? (last >> RXE_KEY_GEN_SHIFT) + 1 : r >> RXE_KEY_BYTE_BITS;

	return gen << RXE_KEY_GEN_SHIFT | idx << RXE_KEY_BYTE_BITS | (r & RXE_KEY_BYTE_MASK);
}

/* Slot 0 is never used: RXE_MAX_MR slots from 1 on. */
int rxe_mr_table_init(struct rxe_dev *dev)
{
	dev->nr_mr = RXE_MAX_MR + 1;
	dev->mr_tbl = calloc(dev->nr_mr, sizeof(*dev->mr_tbl));
	dev->mr_keys = calloc(dev->nr_mr, sizeof(*dev->mr_keys));
	dev->mw_tbl = calloc(dev->nr_mr, sizeof(*dev->mw_tbl));
	dev->next_mr = 1;
	return dev->mr_tbl && dev->mr_keys && dev->mw_tbl ? 0 : -ENOMEM;
}

void rxe_mr_table_fini(struct rxe_dev *dev)
{
	free(dev->mr_tbl);
	free(dev->mr_keys);
	free(dev->mw_tbl);
	dev->mr_tbl = NULL;
	dev->mr_keys = NULL;
	dev->mw_tbl = NULL;
}

struct rxe_mr *rxe_mr_lookup(struct rxe_dev *dev, uint32_t key)
{
	uint32_t idx = rxe_key_idx(key);
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

	if (!mr || !rxe_pd_same(mr->ibmr.pd, pd))
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

static void rxe_miss_set(struct rxe_miss *miss, struct rxe_mr *mr, uintptr_t va, size_t len,
			 bool write)
{
	if (!miss)
		return;
	miss->umem = mr->umem;
	miss->va = va;
	miss->len = len;
	miss->write = write;
}

struct rxe_mr_op {
	struct rxe_mr *mr;
	uintptr_t va;
	void *buf;
	size_t len;
	size_t ahead; /* bytes after these that the same message will need */
	bool to_mr;
	/* atomics */
	enum sodp_atomic_op op;
	uint64_t cmp_add, swap, *orig;
};

static int rxe_mr_copy_once(void *arg, struct rxe_miss *miss)
{
	struct rxe_mr_op *o = arg;
	uintptr_t at = o->va;
	int ret = sodp_umem_copy(o->mr->umem, o->va, o->buf, o->len, o->to_mr, &at);

	if (ret == -EAGAIN)
		rxe_miss_set(miss, o->mr, at, o->len - (at - o->va) + o->ahead, o->to_mr);
	return ret == -EINVAL ? -EFAULT : ret;
}

/*
 * Copies @len bytes between @buf and process address @va of @mr (checked).
 * A miss asks for the @ahead bytes after them too (the rest of the message,
 * checked with it), so that a message takes one fault, not one per packet.
 */
int rxe_mr_copy(struct rxe_mr *mr, uintptr_t va, void *buf, size_t len, size_t ahead, bool to_mr,
		struct rxe_qp_fault *qf, struct rxe_miss *miss)
{
	struct rxe_mr_op o = {
		.mr = mr,
		.va = va,
		.buf = buf,
		.len = len,
		.ahead = ahead,
		.to_mr = to_mr,
	};

	return rxe_access(qf, rxe_mr_copy_once, &o, miss);
}

/*
 * Copies between [va, va + total) of @mr (checked) and the @n buffers of
 * @iov with one system call: 0, or an error after which the caller copies
 * piece by piece with rxe_mr_copy(), which faults and reports precisely.
 */
int rxe_mr_copyv(struct rxe_mr *mr, uintptr_t va, const struct iovec *iov, unsigned int n,
		 bool to_mr)
{
	return sodp_umem_copyv(mr->umem, va, iov, n, to_mr);
}

/* Whether [va, va + len) of @mr is mapped (for writing) right now. */
bool rxe_mr_mapped(struct rxe_mr *mr, uintptr_t va, size_t len, bool write)
{
	while (len) {
		size_t n = sodp_umem_chunk(mr->umem, va, len);
		struct sodp_umem_map m;

		if (sodp_umem_map_lock(mr->umem, va, n, write, &m))
			return false;
		sodp_umem_unlock(&m);
		va += n;
		len -= n;
	}
	return true;
}

static int rxe_mr_atomic_once(void *arg, struct rxe_miss *miss)
{
	struct rxe_mr_op *o = arg;
	struct sodp_umem_map m;
	int ret = sodp_umem_map_lock(o->mr->umem, o->va, sizeof(uint64_t), true, &m);

	if (ret == -EAGAIN)
		rxe_miss_set(miss, o->mr, o->va, sizeof(uint64_t), true);
	if (ret)
		return ret == -EINVAL ? -EFAULT : ret;
	ret = sodp_umem_atomic_locked(&m, o->va, o->op, o->cmp_add, o->swap, o->orig);
	sodp_umem_unlock(&m);
	return ret;
}

/*
 * An 8-byte atomic at @va of @mr, on memory write-valid in the MTT, under
 * the umem's lock: a write-protected or unmapped target is a miss to fault,
 * never a signal.
 */
int rxe_mr_atomic(struct rxe_mr *mr, uintptr_t va, enum sodp_atomic_op op, uint64_t cmp_add,
		  uint64_t swap, uint64_t *orig, struct rxe_qp_fault *qf, struct rxe_miss *miss)
{
	struct rxe_mr_op o = {
		.mr = mr,
		.va = va,
		.op = op,
		.cmp_add = cmp_add,
		.swap = swap,
		.orig = orig,
	};

	return rxe_access(qf, rxe_mr_atomic_once, &o, miss);
}

/* A scatter list access: a copy to or from @buf, or a probe (@buf NULL). */
struct rxe_sge_op {
	struct rxe_dev *dev;
	struct ibv_pd *pd;
	const struct ibv_sge *sge;
	uint32_t nsge, offset, len;
	char *buf;
	bool write; /* into the scatter list */
};

/*
 * Walks the part of the scatter list from offset for len bytes, checking
 * each element against its MR (PD, bounds, LOCAL_WRITE when writing), and
 * copies or probes each piece. 0, -EACCES, -ENOSPC, -EAGAIN or -EFAULT.
 */
static int rxe_sge_once(void *arg, struct rxe_miss *miss)
{
	struct rxe_sge_op *o = arg;
	uint32_t i, left = o->len, done = 0, offset = o->offset;

	for (i = 0; i < o->nsge && left; i++) {
		const struct ibv_sge *sge = &o->sge[i];
		struct rxe_mr *mr;
		uint32_t take;
		uintptr_t va;
		int err;

		if (offset >= sge->length) {
			offset -= sge->length;
			continue;
		}
		take = SODP_MIN(sge->length - offset, left);
		mr = rxe_mr_lookup(o->dev, sge->lkey);
		err = rxe_mr_check(mr, o->pd, sge->addr + offset, take,
				   o->write ? IBV_ACCESS_LOCAL_WRITE : 0, &va);
		if (err)
			return err;
		if (o->buf) {
			/* a miss asks for the rest of this element too */
			struct rxe_mr_op c = {
				.mr = mr,
				.va = va,
				.buf = o->buf + done,
				.len = take,
				.ahead = sge->length - offset - take,
				.to_mr = o->write,
			};

			err = rxe_mr_copy_once(&c, miss);
		} else if (!rxe_mr_mapped(mr, va, take, o->write)) {
			rxe_miss_set(miss, mr, va, take, o->write);
			err = -EAGAIN;
		}
		if (err)
			return err;
		left -= take;
		done += take;
		offset = 0;
	}
	return left ? -ENOSPC : 0;
}

/* Copies @len bytes between @buf and the scatter list @sge from @offset on. */
int rxe_sge_copy(struct rxe_dev *dev, struct ibv_pd *pd, const struct ibv_sge *sge, uint32_t nsge,
		 uint32_t offset, void *buf, uint32_t len, bool to_sge, struct rxe_qp_fault *qf,
		 struct rxe_miss *miss)
{
	struct rxe_sge_op o = {
		.dev = dev,
		.pd = pd,
		.sge = sge,
		.nsge = nsge,
		.offset = offset,
		.len = len,
		.buf = buf,
		.write = to_sge,
	};
	struct rxe_miss unused;

	if (!len)
		return 0;
	return rxe_access(qf, rxe_sge_once, &o, miss ? miss : &unused);
}

int rxe_sge_probe(struct rxe_dev *dev, struct ibv_pd *pd, const struct ibv_sge *sge, uint32_t nsge,
		  uint32_t len, bool write, struct rxe_qp_fault *qf, struct rxe_miss *miss)
{
	struct rxe_sge_op o = {
		.dev = dev,
		.pd = pd,
		.sge = sge,
		.nsge = nsge,
		.len = len,
		.write = write,
	};

	return rxe_access(qf, rxe_sge_once, &o, miss);
}

/* ---- registration ---- */

/* What ib_umem_get() pins with FOLL_WRITE (ib_access_writable()). */
static bool rxe_access_writable(unsigned int access)
{
	return access & (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_MW_BIND);
}

static unsigned int rxe_umem_flags(unsigned int access)
{
	return (access & IBV_ACCESS_ON_DEMAND ? SODP_UMEM_ODP : 0) |
	       (rxe_access_writable(access) ? SODP_UMEM_WRITABLE : 0) |
	       (access & IBV_ACCESS_HUGETLB ? SODP_UMEM_HUGETLB : 0);
}

static bool rxe_is_implicit(const void *addr, size_t length, unsigned int access)
{
	return (access & IBV_ACCESS_ON_DEMAND) && !addr && length == SIZE_MAX;
}

/*
 * The translation of a registration: implicit ODP for (NULL, SIZE_MAX) with
 * iova 0, else [addr, addr + length). 0, -EINVAL, -EFAULT, -EAGAIN, -ENOMEM.
 */
static int rxe_umem_for(void *addr, size_t length, uint64_t iova, unsigned int access,
			struct sodp_umem **out)
{
	if (rxe_is_implicit(addr, length, access))
		return iova ? -EINVAL : sodp_umem_get_implicit(out);
	if (!length || length > RXE_MAX_MR_SIZE || (uintptr_t)addr + length < (uintptr_t)addr)
		return -EINVAL;
	if (iova + (length - 1) < iova) /* the last byte may be at 2^64 - 1 */
		return -EINVAL;
	return sodp_umem_get((uintptr_t)addr, length, rxe_umem_flags(access), out);
}

/*
 * Under dev->lock: the key of a slot free in both the MR and the window
 * table, which the caller fills at rxe_key_idx(*key). 0 or -ENOMEM.
 */
int rxe_key_alloc(struct rxe_dev *dev, uint32_t *key)
{
	uint32_t i, idx;

	for (i = 0; i < dev->nr_mr - 1; i++) {
		idx = dev->next_mr++;
		if (dev->next_mr >= dev->nr_mr)
			dev->next_mr = 1;
		if (!dev->mr_tbl[idx] && !dev->mw_tbl[idx]) {
			*key = rxe_key_next(idx, dev->mr_keys[idx]);
			dev->mr_keys[idx] = *key;
			return 0;
		}
	}
	return -ENOMEM;
}

/* Under dev->lock: a free slot and its key. */
static int rxe_mr_insert(struct rxe_dev *dev, struct rxe_mr *mr)
{
	uint32_t key;
	int ret = rxe_key_alloc(dev, &key);

	if (ret)
		return ret;
	dev->mr_tbl[rxe_key_idx(key)] = mr;
	mr->ibmr.lkey = key;
	mr->ibmr.rkey = key;
	return 0;
}

/*
 * Registration and re-registration take @access as the front checked it
 * (lib/verbs/mr.c, where the kernel's verbs core checks it above every
 * driver, ib_check_mr_access()): known bits only, and REMOTE_WRITE or
 * REMOTE_ATOMIC only with LOCAL_WRITE (IBTA).
 */
struct ibv_mr *rxe_reg_mr(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova,
			  unsigned int access)
{
	struct rxe_dev *dev = ctx_dev(sodp_ctx(pd->context));
	struct rxe_mr *mr;
	int ret;

	ret = -ENOMEM;
	mr = calloc(1, sizeof(*mr));
	if (!mr)
		goto err;
	ret = rxe_umem_for(addr, length, iova, access, &mr->umem);
	if (ret)
		goto err_free;
	mr->dev = dev;
	mr->va = (uintptr_t)addr;
	mr->iova = iova;
	mr->length = length;
	mr->access = access;
	mr->ibmr.context = pd->context;
	mr->ibmr.pd = pd;
	mr->ibmr.addr = addr;
	mr->ibmr.length = length;
	pthread_mutex_lock(&dev->lock);
	ret = rxe_mr_insert(dev, mr);
	pthread_mutex_unlock(&dev->lock);
	if (ret)
		goto err_release;
	sodp_umem_set_owner(mr->umem, mr->ibmr.lkey);
	mr->ibmr.handle = mr->ibmr.lkey;
	return &mr->ibmr;
err_release:
	sodp_umem_release(mr->umem);
err_free:
	free(mr);
err:
	errno = -ret;
	return NULL;
}

int rxe_rereg_mr(struct ibv_mr *ibmr, int flags, struct ibv_pd *pd, void *addr, size_t length,
		 unsigned int access)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	struct rxe_dev *dev = mr->dev;
	struct sodp_umem *umem = NULL, *old = NULL;
	unsigned int new_access = mr->access;
	uintptr_t va = mr->va;
	size_t len = mr->length;
	int ret;

	if (flags & ~(IBV_REREG_MR_CHANGE_TRANSLATION | IBV_REREG_MR_CHANGE_PD |
		      IBV_REREG_MR_CHANGE_ACCESS))
		return -EINVAL;
	if (flags & IBV_REREG_MR_CHANGE_ACCESS)
		new_access = access;
	if (flags & IBV_REREG_MR_CHANGE_TRANSLATION) {
		if (!length || (uintptr_t)addr + length < (uintptr_t)addr)
			return -EINVAL;
		va = (uintptr_t)addr;
		len = length;
	}
	if ((flags & IBV_REREG_MR_CHANGE_TRANSLATION) ||
	    rxe_umem_flags(new_access) != rxe_umem_flags(mr->access)) {
		if (rxe_is_implicit((void *)mr->va, mr->length, mr->access) !=
		    rxe_is_implicit((void *)va, len, new_access))
			return -EINVAL;
		ret = rxe_umem_for((void *)va, len,
				   rxe_is_implicit((void *)va, len, new_access) ? 0 : va,
				   new_access, &umem);
		if (ret)
			return ret;
	}
	if (umem)
		sodp_umem_set_owner(umem, mr->ibmr.lkey);
	pthread_mutex_lock(&dev->lock);
	if (mr->num_mw) {
		/* a bound window's range and rights were checked against this MR */
		pthread_mutex_unlock(&dev->lock);
		sodp_umem_release(umem);
		return -EINVAL;
	}
	if (umem) {
		old = mr->umem;
		mr->umem = umem;
		mr->va = va;
		mr->iova = rxe_is_implicit((void *)va, len, new_access) ? 0 : va;
		mr->length = len;
	}
	mr->access = new_access;
	if (flags & IBV_REREG_MR_CHANGE_PD)
		mr->ibmr.pd = pd;
	mr->ibmr.addr = (void *)mr->va;
	mr->ibmr.length = mr->length;
	pthread_mutex_unlock(&dev->lock);
	sodp_umem_release(old);
	return 0;
}

struct ibv_mr *rxe_find_mr(struct sodp_context *ctx, uint32_t handle)
{
	struct rxe_dev *dev = ctx_dev(ctx);
	struct rxe_mr *mr;

	pthread_mutex_lock(&dev->lock);
	mr = rxe_mr_lookup(dev, handle);
	pthread_mutex_unlock(&dev->lock);
	return mr ? &mr->ibmr : NULL;
}

/* Adds the counters of @a to @st (the MTT census only with @census). */
static void rxe_stats_add(struct sodp_mr_stats *st, const struct sodp_mr_stats *a, bool census)
{
	int i;

	if (census) {
		st->entries += a->entries;
		for (i = 0; i <= SODP_MR_MAX_ORDER; i++) {
			st->entries_by_order[i] += a->entries_by_order[i];
			st->bytes_by_order[i] += a->bytes_by_order[i];
		}
		st->length += a->length;
		st->locked_bytes += a->locked_bytes;
		st->odp += a->odp;
		st->implicit += a->implicit;
		st->children_live += a->children_live;
	}
	st->faults += a->faults;
	st->faults_handled += a->faults_handled;
	st->fault_errors += a->fault_errors;
	st->pages_faulted += a->pages_faulted;
	st->rnr_naks += a->rnr_naks;
	st->prefetches += a->prefetches;
	for (i = 0; i < SODP_MR_NR_EVENTS; i++)
		st->invalidations[i] += a->invalidations[i];
	st->invalidations_handled += a->invalidations_handled;
	st->revocations += a->revocations;
	st->revoked += a->revoked;
	if (census)
		st->revoked_bytes += a->revoked_bytes;
	st->children_created += a->children_created;
	st->children_freed += a->children_freed;
}

/* Under dev->lock (rereg swaps the translation under it). */
static void rxe_mr_stats(struct rxe_mr *mr, struct sodp_mr_stats *st)
{
	memset(st, 0, sizeof(*st));
	sodp_umem_stats(mr->umem, mr->va, mr->length, st);
	st->length = mr->length;
}

int rxe_dereg_mr(struct ibv_mr *ibmr)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	struct rxe_dev *dev = mr->dev;
	struct sodp_mr_stats st;

	pthread_mutex_lock(&dev->lock);
	if (mr->num_mw) {
		/* windows are bound to it (IBA 10.6.7.2.6, kernel rxe_dereg_mr()) */
		pthread_mutex_unlock(&dev->lock);
		return -EINVAL;
	}
	dev->mr_tbl[rxe_key_idx(ibmr->lkey)] = NULL;
	rxe_mr_stats(mr, &st);
	rxe_stats_add(&dev->mr_retired, &st, false);
	pthread_mutex_unlock(&dev->lock);
	sodp_umem_release(mr->umem);
	free(mr);
	return 0;
}

SODP_EXPORT int sodp_mr_get_stats(struct ibv_mr *ibmr, struct sodp_mr_stats *st)
{
	struct rxe_mr *mr;

	if (!ibmr || !st)
		return -EINVAL;
	mr = to_rmr(ibmr);
	pthread_mutex_lock(&mr->dev->lock);
	rxe_mr_stats(mr, st);
	pthread_mutex_unlock(&mr->dev->lock);
	return 0;
}

SODP_EXPORT int sodp_device_get_mr_stats(struct ibv_context *ctx, struct sodp_mr_stats *st)
{
	struct sodp_mr_stats one;
	struct rxe_dev *dev;
	uint32_t i;

	if (!ctx || !st)
		return -EINVAL;
	dev = ctx_dev(sodp_ctx(ctx));
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&dev->lock);
	rxe_stats_add(st, &dev->mr_retired, false);
	for (i = 1; i < dev->nr_mr; i++) {
		if (!dev->mr_tbl[i])
			continue;
		rxe_mr_stats(dev->mr_tbl[i], &one);
		rxe_stats_add(st, &one, true);
	}
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/*
 * ibv_advise_mr(): every SGE is checked first (unknown lkey EINVAL, another
 * PD's MR or PREFETCH_WRITE without local write EPERM, outside the MR
 * EFAULT), then the ODP ones are prefetched: with IBV_ADVISE_MR_FLAG_FLUSH
 * in this thread, returning the first error; without it on the fault
 * worker, best effort. A pinned MR is already resident: nothing to do.
 */
int rxe_advise_mr(struct ibv_pd *pd, enum ibv_advise_mr_advice advice, uint32_t flags,
		  struct ibv_sge *sg_list, uint32_t num_sge)
{
	struct rxe_dev *dev = ctx_dev(sodp_ctx(pd->context));
	bool write = advice == IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE;
	bool no_fault = advice == IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT;
	bool sync = flags & IBV_ADVISE_MR_FLAG_FLUSH;
	struct sodp_umem **umem;
	uintptr_t *va;
	uint32_t i;
	int ret = 0;

	if (advice != IBV_ADVISE_MR_ADVICE_PREFETCH && !write && !no_fault)
		return -EOPNOTSUPP;
	if (flags & ~IBV_ADVISE_MR_FLAG_FLUSH)
		return -EINVAL;
	if (!num_sge)
		return 0;
	if (!sg_list)
		return -EINVAL;
	umem = calloc(num_sge, sizeof(*umem));
	va = calloc(num_sge, sizeof(*va));
	if (!umem || !va) {
		ret = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < num_sge && !ret; i++) {
		struct rxe_mr *mr = rxe_mr_lookup(dev, sg_list[i].lkey);

		if (!mr)
			ret = -EINVAL;
		else if (!rxe_pd_same(mr->ibmr.pd, pd))
			ret = -EPERM;
		else if (write && !(mr->access & IBV_ACCESS_LOCAL_WRITE))
			ret = -EPERM;
		else if (rxe_mr_check(mr, pd, sg_list[i].addr, sg_list[i].length, 0, &va[i]))
			ret = -EFAULT;
		else if (sodp_umem_is_odp(mr->umem))
			umem[i] = sodp_umem_hold(mr->umem);
	}
	pthread_mutex_unlock(&dev->lock);
	for (i = 0; i < num_sge; i++) {
		if (!umem[i])
			continue;
		if (!ret && sg_list[i].length)
			ret = sodp_umem_prefetch(umem[i], va[i], sg_list[i].length, write, no_fault,
						 sync);
		if (!sync)
			ret = 0; /* best effort */
		sodp_umem_put(umem[i]);
	}
out:
	free(umem);
	free(va);
	return ret;
}
