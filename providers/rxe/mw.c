// SPDX-License-Identifier: MIT
/*
 * Memory windows: remote access to a part of an MR, granted and revoked
 * without registering again (IBA 10.6.7, as kernel rxe's rxe_mw.c).
 *
 * A window takes its key from the MR key table (mr.c): its index and the
 * rest of the key name the allocation, the low byte (RXE_MW_KEY_BYTE) is the
 * consumer's and changes at every bind (ibv_inc_rkey()).
 *
 *  - Type 1 is bound by ibv_bind_mw(), a bind WR on the send queue that
 *    moves the key byte up by one and completes IBV_WC_BIND_MW. It is VALID
 *    from allocation; a bind of length 0 leaves it bound to nothing. It can
 *    be neither zero based nor invalidated.
 *  - Type 2 (2B) is FREE until an IBV_WR_BIND_MW binds it, with the key the
 *    WR names, to the QP that posted it; only that QP's peer may use it.
 *    IBV_WR_LOCAL_INV on a QP of its PD, or a SEND_WITH_INV received on the
 *    QP it is bound to, returns it to FREE; it must be FREE to be bound.
 *
 * Binding checks (an error completes the bind with IBV_WC_MW_BIND_ERR and
 * moves the QP to the error state): the window is the one the WR names and
 * in the state its type requires, the QP, the window and the MR share a PD,
 * the MR was registered with IBV_ACCESS_MW_BIND and is not zero based, a
 * window granting remote write or atomic lies on an MR with local write,
 * and the range lies inside the MR.
 *
 * Invalidation rules: only a VALID type 2 window's current key may be
 * invalidated; the key of an MR, of a type 1 window, a stale key, or one of
 * a window of another PD (or, remotely, bound to another QP) is an error:
 * IBV_WC_LOC_QP_OP_ERR for LOCAL_INV, a Remote Operational Error NAK for
 * SEND_WITH_INV.
 *
 * An access through a window is checked against the window (state, key,
 * PD, QP for type 2, rights, bounds) and then against its MR's translation.
 * An MR with windows bound to it cannot be deregistered or re-registered
 * (EINVAL), and a QP destroyed with type 2 windows bound to it frees them,
 * so the window's MR and QP pointers never dangle. All of it under dev->lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rxe.h"
#include "log.h"

#define RXE_MW_KEY_BYTE 0xffu

/* The rights a bind may grant (IBV_ACCESS_ZERO_BASED only to type 2). */
#define RXE_MW_ACCESS                                                                  \
	(IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC | \
	 IBV_ACCESS_ZERO_BASED)

static struct rxe_mw *rxe_mw_at(struct rxe_dev *dev, uint32_t key)
{
	uint32_t idx = rxe_key_idx(key);

	if (!idx || idx >= dev->nr_mr)
		return NULL;
	return dev->mw_tbl[idx];
}

/* Drops the window's MR and QP and makes it grant nothing. */
static void rxe_mw_unbind(struct rxe_mw *mw)
{
	if (mw->mr)
		mw->mr->num_mw--;
	if (mw->qp)
		mw->qp->num_mw--;
	mw->mr = NULL;
	mw->qp = NULL;
	mw->access = 0;
	mw->addr = 0;
	mw->length = 0;
}

struct ibv_mw *rxe_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type)
{
	struct rxe_dev *dev = ctx_dev(sodp_ctx(pd->context));
	struct rxe_mw *mw;
	uint32_t key;
	int ret;

	if (type != IBV_MW_TYPE_1 && type != IBV_MW_TYPE_2) {
		errno = EINVAL;
		return NULL;
	}
	mw = calloc(1, sizeof(*mw));
	if (!mw) {
		errno = ENOMEM;
		return NULL;
	}
	rxe_dev_lock(dev);
	/* held to RXE_MAX_MW as the objects of pd.c are, and to a free key slot */
	ret = dev->nr_mw < RXE_MAX_MW ? rxe_key_alloc(dev, &key) : -ENOMEM;
	if (!ret) {
		dev->mw_tbl[rxe_key_idx(key)] = mw;
		dev->nr_mw++;
		mw->dev = dev;
		mw->key = key;
		mw->state = type == IBV_MW_TYPE_1 ? RXE_MW_VALID : RXE_MW_FREE;
		mw->ibmw.context = pd->context;
		mw->ibmw.pd = pd;
		mw->ibmw.rkey = key;
		mw->ibmw.handle = key;
		mw->ibmw.type = type;
	}
	pthread_mutex_unlock(&dev->lock);
	if (ret) {
		free(mw);
		errno = -ret;
		return NULL;
	}
	return &mw->ibmw;
}

/* A window may be freed while bound: its MR and QP let go of it. */
int rxe_dealloc_mw(struct ibv_mw *ibmw)
{
	struct rxe_mw *mw = to_rmw(ibmw);
	struct rxe_dev *dev = mw->dev;

	rxe_dev_lock(dev);
	rxe_mw_unbind(mw);
	dev->mw_tbl[rxe_key_idx(mw->key)] = NULL;
	dev->nr_mw--;
	pthread_mutex_unlock(&dev->lock);
	free(mw);
	return 0;
}

/*
 * ibv_bind_mw() for a type 1 window: a bind WR with the key byte one up,
 * which the window's rkey shows at once (rdma-core's rxe does the same).
 * The inline verb has checked the type and the MR's PD. 0 or a negative
 * errno of ibv_post_send().
 */
int rxe_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw, struct ibv_mw_bind *bind)
{
	struct ibv_send_wr wr, *bad;
	int ret;

	/* type 1 windows are never zero based (o10-36.2.2) */
	if (bind->bind_info.mw_access_flags & ~(RXE_MW_ACCESS & ~IBV_ACCESS_ZERO_BASED))
		return -EINVAL;
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = bind->wr_id;
	wr.opcode = IBV_WR_BIND_MW;
	wr.send_flags = bind->send_flags;
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = ibv_inc_rkey(mw->rkey);
	wr.bind_mw.bind_info = bind->bind_info;
	ret = rxe_post_send(qp, &wr, &bad);
	if (ret)
		return -ret;
	mw->rkey = wr.bind_mw.rkey;
	return 0;
}

/*
 * Post-time checks of a bind WR (rxe_fill_wqe()), on what the caller gave:
 * a window of this device, rights a window may have, an MR for a non-empty
 * range. 0 or -EINVAL.
 */
int rxe_mw_bind_args(struct rxe_qp *qp, const struct ibv_send_wr *wr)
{
	const struct ibv_mw_bind_info *bi = &wr->bind_mw.bind_info;

	if (!wr->bind_mw.mw || to_rmw(wr->bind_mw.mw)->dev != qp->dev)
		return -EINVAL;
	if (bi->mw_access_flags & ~RXE_MW_ACCESS)
		return -EINVAL;
	if (!bi->mr && (bi->addr || bi->length))
		return -EINVAL;
	if (bi->mr && to_rmr(bi->mr)->dev != qp->dev)
		return -EINVAL;
	return 0;
}

static int rxe_mw_check_bind(struct rxe_qp *qp, const struct rxe_send_wqe *wqe, struct rxe_mw *mw,
			     struct rxe_mr *mr)
{
	unsigned int access = wqe->bind_access;

	if (!rxe_pd_same(mw->ibmw.pd, qp->ibqp.qp_base.pd))
		return -EINVAL;
	if (mw->ibmw.type == IBV_MW_TYPE_1) {
		if (mw->state != RXE_MW_VALID || (access & IBV_ACCESS_ZERO_BASED))
			return -EINVAL;
	} else {
		/* a type 2 window is bound once, to something (o10-37.2.30, .40) */
		if (mw->state != RXE_MW_FREE || !mr)
			return -EINVAL;
	}
	if (!mr)
		return 0;
	if (!rxe_pd_same(mr->ibmr.pd, mw->ibmw.pd))
		return -EINVAL;
	if ((mr->access & IBV_ACCESS_ZERO_BASED) || !(mr->access & IBV_ACCESS_MW_BIND))
		return -EINVAL;
	if ((access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) &&
	    !(mr->access & IBV_ACCESS_LOCAL_WRITE))
		return -EINVAL;
	/* the range lies in the MR; written so that nothing wraps */
	if (wqe->remote_addr < mr->iova || wqe->bind_len > mr->length ||
	    wqe->remote_addr - mr->iova > mr->length - wqe->bind_len)
		return -EINVAL;
	return 0;
}

/* Executes a bind WR (requester, under dev->lock): 0 or -EINVAL. */
int rxe_mw_bind_wqe(struct rxe_qp *qp, const struct rxe_send_wqe *wqe)
{
	struct rxe_mw *mw = rxe_mw_at(qp->dev, wqe->mw_rkey);
	struct rxe_mr *mr = NULL;
	int ret;

	/* the window the WR named: not one allocated in its slot since */
	if (!mw || (mw->key & ~RXE_MW_KEY_BYTE) != (wqe->mw_rkey & ~RXE_MW_KEY_BYTE))
		return -EINVAL;
	if (wqe->bind_len) {
		mr = rxe_mr_lookup(qp->dev, wqe->mr_lkey);
		if (!mr)
			return -EINVAL;
	}
	ret = rxe_mw_check_bind(qp, wqe, mw, mr);
	if (ret) {
		sodp_dbg("qp %#x: bind of mw %#x refused\n", qp->ibqp.qp_base.qp_num, mw->key);
		return ret;
	}
	rxe_mw_unbind(mw);
	mw->key = (mw->key & ~RXE_MW_KEY_BYTE) | (wqe->rkey & RXE_MW_KEY_BYTE);
	mw->state = RXE_MW_VALID;
	mw->access = wqe->bind_access;
	mw->addr = wqe->remote_addr;
	mw->length = wqe->bind_len;
	if (mr) {
		mw->mr = mr;
		mr->num_mw++;
	}
	if (mw->ibmw.type == IBV_MW_TYPE_2) {
		mw->qp = qp;
		qp->num_mw++;
	}
	return 0;
}

/*
 * LOCAL_INV (@remote false) or SEND_WITH_INV (@remote true) of @rkey
 * through @qp, under dev->lock: 0, or -EINVAL when @rkey may not be
 * invalidated (the rules at the top).
 */
int rxe_invalidate_rkey(struct rxe_qp *qp, uint32_t rkey, bool remote)
{
	struct rxe_mw *mw = rxe_mw_at(qp->dev, rkey);

	if (!mw || mw->key != rkey)
		return -EINVAL; /* unknown, stale, or an MR's */
	if (mw->ibmw.type == IBV_MW_TYPE_1 || mw->state != RXE_MW_VALID)
		return -EINVAL;
	if (!rxe_pd_same(mw->ibmw.pd, qp->ibqp.qp_base.pd) || (remote && mw->qp != qp))
		return -EINVAL;
	rxe_mw_unbind(mw);
	mw->state = RXE_MW_FREE;
	return 0;
}

/* @qp is being destroyed (under dev->lock): its type 2 windows become FREE. */
void rxe_mw_qp_gone(struct rxe_qp *qp)
{
	struct rxe_dev *dev = qp->dev;
	uint32_t i;

	for (i = 1; qp->num_mw && i < dev->nr_mr; i++) {
		struct rxe_mw *mw = dev->mw_tbl[i];

		if (mw && mw->qp == qp) {
			rxe_mw_unbind(mw);
			mw->state = RXE_MW_FREE;
		}
	}
}

/* The window of @rkey if it grants @access to @qp's peer, else NULL. */
static struct rxe_mw *rxe_mw_usable(struct rxe_qp *qp, uint32_t rkey, unsigned int access)
{
	struct rxe_mw *mw = rxe_mw_at(qp->dev, rkey);

	if (!mw || mw->key != rkey || mw->state != RXE_MW_VALID || !mw->mr)
		return NULL;
	if (!rxe_pd_same(mw->ibmw.pd, qp->ibqp.qp_base.pd))
		return NULL;
	if (mw->ibmw.type == IBV_MW_TYPE_2 && mw->qp != qp)
		return NULL;
	if ((mw->access & access) != access)
		return NULL;
	return mw;
}

/*
 * Checks a remote access of @len bytes at @va through @rkey, an MR's or a
 * window's, for @qp's peer (the responder, under dev->lock). Returns 0, the
 * process address in *va_out and the lkey of the MR underneath in *lkey, or
 * -EACCES. A zero-based window takes @va as an offset into it.
 */
int rxe_rkey_check(struct rxe_qp *qp, uint32_t rkey, uint64_t va, uint64_t len, unsigned int access,
		   uintptr_t *va_out, uint32_t *lkey)
{
	struct rxe_mr *mr = rxe_mr_lookup(qp->dev, rkey);
	struct ibv_pd *pd = qp->ibqp.qp_base.pd;
	struct rxe_mw *mw;
	uint64_t off;

	if (mr) {
		*lkey = mr->ibmr.lkey;
		return rxe_mr_check(mr, pd, va, len, access, va_out);
	}
	mw = rxe_mw_usable(qp, rkey, access);
	if (!mw)
		return -EACCES;
	if (mw->access & IBV_ACCESS_ZERO_BASED) {
		off = va;
	} else {
		if (va < mw->addr)
			return -EACCES;
		off = va - mw->addr;
	}
	if (len > mw->length || off > mw->length - len)
		return -EACCES;
	*lkey = mw->mr->ibmr.lkey;
	/* the window grants the rights; the MR bounds the translation */
	return rxe_mr_check(mw->mr, pd, mw->addr + off, len, 0, va_out);
}

/*
 * The MR a continuing access (the next packet of a WRITE, of a READ
 * response) goes through: @rkey's MR, or the MR of @rkey's window while it
 * is still valid under that key, provided it is still the MR of @lkey
 * that rxe_rkey_check() found. NULL once the MR is gone or the window was
 * invalidated, rebound or freed.
 */
struct rxe_mr *rxe_rkey_mr(struct rxe_dev *dev, uint32_t rkey, uint32_t lkey)
{
	struct rxe_mr *mr = rxe_mr_lookup(dev, rkey);
	struct rxe_mw *mw;

	if (mr)
		return mr->ibmr.lkey == lkey ? mr : NULL;
	mw = rxe_mw_at(dev, rkey);
	if (!mw || mw->key != rkey || mw->state != RXE_MW_VALID || !mw->mr ||
	    mw->mr->ibmr.lkey != lkey)
		return NULL;
	return mw->mr;
}
