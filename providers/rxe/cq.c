// SPDX-License-Identifier: MIT
/*
 * Completion queues: a ring filled by the engine, drained by ibv_poll_cq()
 * or the ibv_cq_ex start_poll/next_poll/end_poll iterator.
 *
 * The ring has one producer and, per poll, one consumer. The producer is
 * whoever runs the engine (the engine thread, or an application thread
 * driving progress), so it is serialised by dev->lock and never takes
 * cq->lock. `prod` and `cons` are published with release stores and read
 * with acquire loads: the producer writes an entry, then `prod`; the
 * consumer reads entries below `prod`, then moves `cons`. cq->lock only
 * serialises consumers among themselves (several threads polling one CQ,
 * the start_poll/end_poll iterator) and against what rewrites the ring
 * under dev->lock (rxe_cq_clean(), resize); a poll of an empty CQ takes no
 * lock at all, and a CQ created IBV_CREATE_CQ_ATTR_SINGLE_THREADED none to
 * poll either.
 *
 * Notification: ibv_req_notify_cq() arms the CQ; the first completion that
 * matches (any for NEXT; solicited or in error for SOLICITED) disarms it and
 * calls front->cq_event(), which makes the completion channel readable. The
 * producer reads `armed` after publishing the entry and the consumer arms
 * before polling again (the verbs contract), both sequentially consistent,
 * so a completion is either seen by that poll or notified.
 * A full ring sets the overflow state and raises IBV_EVENT_CQ_ERR; the QP
 * whose completion it could not take goes to the error state
 * (rxe_qp_cq_overrun()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rxe.h"

#define RXE_WC_FLAGS                                                            \
	(IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM | IBV_WC_EX_WITH_QP_NUM | \
	 IBV_WC_EX_WITH_SRC_QP | IBV_WC_EX_WITH_SLID | IBV_WC_EX_WITH_SL |      \
	 IBV_WC_EX_WITH_DLID_PATH_BITS)

static void rxe_cqe_to_wc(const struct rxe_cqe *e, struct ibv_wc *wc)
{
	memset(wc, 0, sizeof(*wc));
	wc->wr_id = e->wr_id;
	wc->status = e->status;
	wc->opcode = e->opcode;
	wc->vendor_err = e->vendor_err;
	wc->byte_len = e->byte_len;
	wc->imm_data = e->imm_data;
	wc->qp_num = e->qp_num;
	wc->src_qp = e->src_qp;
	wc->wc_flags = e->wc_flags;
	wc->sl = e->sl;
}

static inline uint32_t rxe_cq_prod(struct rxe_cq *cq)
{
	return __atomic_load_n(&cq->prod, __ATOMIC_ACQUIRE);
}

static inline void rxe_cq_consumer_lock(struct rxe_cq *cq)
{
	if (!cq->single_threaded)
		pthread_mutex_lock(&cq->lock);
}

static inline void rxe_cq_consumer_unlock(struct rxe_cq *cq)
{
	if (!cq->single_threaded)
		pthread_mutex_unlock(&cq->lock);
}

/* Takes up to @num_entries completions; the caller holds the consumer side. */
static int rxe_cq_take(struct rxe_cq *cq, int num_entries, struct ibv_wc *wc)
{
	uint32_t cons = cq->cons, prod = rxe_cq_prod(cq);
	bool idle = false;
	int n = 0;

	while (n < num_entries && cons != prod) {
		const struct rxe_cqe *e = &cq->ring[cons & (cq->size - 1)];

		rxe_cqe_to_wc(e, &wc[n]);
		idle |= e->sq_idle;
		cons++;
		n++;
	}
	__atomic_store_n(&cq->cons, cons, __ATOMIC_RELEASE);
	if (idle)
		rxe_progress_sq_idle(cq->dev);
	return n;
}

static bool rxe_cq_empty(struct rxe_cq *cq)
{
	return __atomic_load_n(&cq->cons, __ATOMIC_RELAXED) == rxe_cq_prod(cq);
}

/*
 * An application polling an empty CQ is waiting for the device: it drives
 * the engine itself for a round (rxe_progress()) and looks again.
 */
int rxe_poll_cq(struct ibv_cq *ibcq, int num_entries, struct ibv_wc *wc)
{
	struct rxe_cq *cq = to_rcq(ibcq);
	int n = 0;

	if (num_entries < 0)
		return -EINVAL;
	if (!num_entries)
		return 0;
	if (rxe_cq_empty(cq) && (!rxe_progress(cq->dev, true) || rxe_cq_empty(cq)))
		return 0;
	rxe_cq_consumer_lock(cq);
	n = rxe_cq_take(cq, num_entries, wc);
	rxe_cq_consumer_unlock(cq);
	return n;
}

int rxe_req_notify_cq(struct ibv_cq *ibcq, int solicited_only)
{
	struct rxe_cq *cq = to_rcq(ibcq);
	int want = solicited_only ? 2 : 1, cur = 0;

	/* NEXT (1) is never weakened to SOLICITED (2) */
	while (!__atomic_compare_exchange_n(&cq->armed, &cur, want, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST)) {
		if (cur == 1 || cur == want)
			break;
	}
	rxe_progress_idle(cq->dev);
	return 0;
}

/*
 * Adds one completion; called by the engine (or a flush) under dev->lock.
 * Returns -ENOSPC when the ring is full: the CQ is then in error.
 */
int rxe_cq_post(struct rxe_cq *cq, const struct rxe_cqe *cqe, bool solicited)
{
	uint32_t prod = cq->prod, cons = __atomic_load_n(&cq->cons, __ATOMIC_ACQUIRE);
	int armed;

	if (prod - cons >= cq->max + 1 || prod - cons >= cq->size) {
		if (!cq->overflow) {
			cq->overflow = true;
			if (cq->ctx->front && cq->ctx->front->async_event) {
				struct ibv_async_event ev = {.element.cq =
								     (struct ibv_cq *)&cq->ibcq,
							     .event_type = IBV_EVENT_CQ_ERR};

				cq->ctx->front->async_event(cq->ctx, &ev);
			}
		}
		return -ENOSPC;
	}
	cq->ring[prod & (cq->size - 1)] = *cqe;
	__atomic_store_n(&cq->prod, prod + 1, __ATOMIC_SEQ_CST);
	armed = __atomic_load_n(&cq->armed, __ATOMIC_SEQ_CST);
	if (armed != 1 && !(armed == 2 && (solicited || cqe->status != IBV_WC_SUCCESS)))
		return 0;
	if (!__atomic_compare_exchange_n(&cq->armed, &armed, 0, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST))
		return 0;
	if (cq->ctx->front && cq->ctx->front->cq_event)
		cq->ctx->front->cq_event((struct ibv_cq *)&cq->ibcq);
	return 0;
}

/*
 * Removes the completions of QP @qpn from @cq, keeping the others in
 * order. A QP moved to RESET leaves nothing behind it: its WQEs are gone,
 * and so are the completions (flushes, errors) the application did not
 * poll, so that the QP starts again on a clean CQ, as rdma-core's mlx4 and
 * mlx5 providers clean it. Under dev->lock (modify_qp).
 */
void rxe_cq_clean(struct rxe_cq *cq, uint32_t qpn)
{
	uint32_t from, to;

	pthread_mutex_lock(&cq->lock);
	to = cq->prod;
	for (from = cq->prod; from != cq->cons;) {
		struct rxe_cqe *e = &cq->ring[--from & (cq->size - 1)];

		if (e->qp_num != qpn)
			cq->ring[--to & (cq->size - 1)] = *e;
	}
	__atomic_store_n(&cq->cons, to, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&cq->lock);
}

/* ---- the extended poll interface ---- */

static inline struct rxe_cq *ex_to_rcq(struct ibv_cq_ex *ex)
{
	return container_of(ex, struct rxe_cq, ibcq);
}

static void rxe_cq_ex_load(struct rxe_cq *cq)
{
	cq->cur = &cq->ring[cq->cons & (cq->size - 1)];
	cq->ibcq.status = cq->cur->status;
	cq->ibcq.wr_id = cq->cur->wr_id;
}

static int rxe_start_poll(struct ibv_cq_ex *ex, struct ibv_poll_cq_attr *attr)
{
	struct rxe_cq *cq = ex_to_rcq(ex);

	if (attr->comp_mask)
		return EINVAL;
	if (rxe_cq_empty(cq) && (!rxe_progress(cq->dev, true) || rxe_cq_empty(cq))) {
		cq->cur = NULL;
		return ENOENT;
	}
	rxe_cq_consumer_lock(cq);
	if (cq->cons == rxe_cq_prod(cq)) {
		cq->cur = NULL;
		rxe_cq_consumer_unlock(cq);
		return ENOENT;
	}
	rxe_cq_ex_load(cq);
	return 0;
}

static int rxe_next_poll(struct ibv_cq_ex *ex)
{
	struct rxe_cq *cq = ex_to_rcq(ex);

	__atomic_store_n(&cq->cons, cq->cons + 1, __ATOMIC_RELEASE);
	if (cq->cons == rxe_cq_prod(cq)) {
		cq->cur = NULL;
		return ENOENT;
	}
	rxe_cq_ex_load(cq);
	return 0;
}

static void rxe_end_poll(struct ibv_cq_ex *ex)
{
	struct rxe_cq *cq = ex_to_rcq(ex);

	if (cq->cur)
		__atomic_store_n(&cq->cons, cq->cons + 1, __ATOMIC_RELEASE);
	cq->cur = NULL;
	rxe_cq_consumer_unlock(cq);
}

static enum ibv_wc_opcode rxe_read_opcode(struct ibv_cq_ex *ex)
{
	return ex_to_rcq(ex)->cur->opcode;
}

static uint32_t rxe_read_vendor_err(struct ibv_cq_ex *ex)
{
	return ex_to_rcq(ex)->cur->vendor_err;
}

static uint32_t rxe_read_byte_len(struct ibv_cq_ex *ex)
{
	return ex_to_rcq(ex)->cur->byte_len;
}

static __be32 rxe_read_imm_data(struct ibv_cq_ex *ex)
{
	return ex_to_rcq(ex)->cur->imm_data;
}

static uint32_t rxe_read_qp_num(struct ibv_cq_ex *ex)
{
	return ex_to_rcq(ex)->cur->qp_num;
}

static uint32_t rxe_read_src_qp(struct ibv_cq_ex *ex)
{
	return ex_to_rcq(ex)->cur->src_qp;
}

static unsigned int rxe_read_wc_flags(struct ibv_cq_ex *ex)
{
	return ex_to_rcq(ex)->cur->wc_flags;
}

static uint32_t rxe_read_slid(struct ibv_cq_ex *ex)
{
	return 0;
}

static uint8_t rxe_read_sl(struct ibv_cq_ex *ex)
{
	return ex_to_rcq(ex)->cur->sl;
}

static uint8_t rxe_read_dlid_path_bits(struct ibv_cq_ex *ex)
{
	return 0;
}

/* ---- create / resize / destroy ---- */

struct ibv_cq_ex *rxe_create_cq(struct sodp_context *ctx, const struct ibv_cq_init_attr_ex *attr)
{
	struct rxe_dev *dev = ctx_dev(ctx);
	struct rxe_cq *cq;
	int ret = -EINVAL;

	if (attr->cqe < 1 || attr->cqe > RXE_MAX_CQE - 1)
		goto err;
	if (attr->comp_vector >= (uint32_t)ctx->vctx.context.num_comp_vectors &&
	    attr->comp_vector != 0)
		goto err;
	ret = -EOPNOTSUPP;
	if (attr->wc_flags & ~(uint64_t)RXE_WC_FLAGS)
		goto err;
	if (attr->comp_mask & ~(uint32_t)(IBV_CQ_INIT_ATTR_MASK_FLAGS | IBV_CQ_INIT_ATTR_MASK_PD))
		goto err;
	if ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) &&
	    (attr->flags & ~(uint32_t)IBV_CREATE_CQ_ATTR_SINGLE_THREADED))
		goto err;
	ret = rxe_dev_take(dev, &dev->nr_cq, RXE_MAX_CQ);
	if (ret)
		goto err;
	ret = -ENOMEM;
	cq = calloc(1, sizeof(*cq));
	if (!cq)
		goto err_give;
	cq->size = rxe_pow2_up(attr->cqe + 1);
	cq->max = attr->cqe;
	cq->ring = calloc(cq->size, sizeof(*cq->ring));
	if (!cq->ring) {
		free(cq);
		goto err_give;
	}
	cq->dev = dev;
	cq->ctx = ctx;
	cq->wc_flags = attr->wc_flags;
	cq->single_threaded = (attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) &&
			      (attr->flags & IBV_CREATE_CQ_ATTR_SINGLE_THREADED);
	pthread_mutex_init(&cq->lock, NULL);

	cq->ibcq.context = &ctx->vctx.context;
	cq->ibcq.channel = attr->channel;
	cq->ibcq.cq_context = attr->cq_context;
	cq->ibcq.cqe = attr->cqe;
	pthread_mutex_init(&cq->ibcq.mutex, NULL);
	pthread_cond_init(&cq->ibcq.cond, NULL);
	cq->ibcq.start_poll = rxe_start_poll;
	cq->ibcq.next_poll = rxe_next_poll;
	cq->ibcq.end_poll = rxe_end_poll;
	cq->ibcq.read_opcode = rxe_read_opcode;
	cq->ibcq.read_vendor_err = rxe_read_vendor_err;
	cq->ibcq.read_wc_flags = rxe_read_wc_flags;
	if (attr->wc_flags & IBV_WC_EX_WITH_BYTE_LEN)
		cq->ibcq.read_byte_len = rxe_read_byte_len;
	if (attr->wc_flags & IBV_WC_EX_WITH_IMM)
		cq->ibcq.read_imm_data = rxe_read_imm_data;
	if (attr->wc_flags & IBV_WC_EX_WITH_QP_NUM)
		cq->ibcq.read_qp_num = rxe_read_qp_num;
	if (attr->wc_flags & IBV_WC_EX_WITH_SRC_QP)
		cq->ibcq.read_src_qp = rxe_read_src_qp;
	if (attr->wc_flags & IBV_WC_EX_WITH_SLID)
		cq->ibcq.read_slid = rxe_read_slid;
	if (attr->wc_flags & IBV_WC_EX_WITH_SL)
		cq->ibcq.read_sl = rxe_read_sl;
	if (attr->wc_flags & IBV_WC_EX_WITH_DLID_PATH_BITS)
		cq->ibcq.read_dlid_path_bits = rxe_read_dlid_path_bits;
	rxe_dev_lock(cq->dev);
	list_add_tail(&cq->node, &cq->dev->cqs);
	pthread_mutex_unlock(&cq->dev->lock);
	return &cq->ibcq;
err_give:
	rxe_dev_give(dev, &dev->nr_cq);
err:
	errno = -ret;
	return NULL;
}

/*
 * Completions the engine owes @cq for work already handed to it: every
 * signalled send WQE (all of them on an sq_sig_all QP) completes, with
 * success or an error, and so does a receive WQE a SEND is being written
 * into. Posted receive WQEs no request has reached are not counted: they
 * complete only if a peer sends. Under dev->lock, which the engine holds
 * while it retires WQEs.
 */
static uint32_t rxe_cq_owed(struct rxe_cq *cq)
{
	struct rxe_qp *qp;
	uint32_t n = 0;

	list_for_each_entry (qp, &cq->dev->qps, node) {
		uint32_t i, prod = __atomic_load_n(&qp->sq.prod, __ATOMIC_ACQUIRE);

		if (qp->rcq == cq && qp->resp.have_wqe)
			n++;
		if (qp->scq != cq)
			continue;
		for (i = qp->sq.cons; i != prod; i++) {
			const struct rxe_send_wqe *w = rxe_wq_slot(&qp->sq, i);

			if (w->state != WQE_DONE &&
			    (qp->sq_sig_all || (w->send_flags & IBV_SEND_SIGNALED)))
				n++;
		}
	}
	return n;
}

/*
 * A CQ shrinks only to hold what it holds: the completions queued in it and
 * those owed to it (rxe_cq_owed()), else -EINVAL and nothing changes. The
 * owed ones count because the engine completes asynchronously: a send
 * posted just before the resize would otherwise overflow the smaller CQ.
 */
int rxe_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct rxe_cq *cq = to_rcq(ibcq);
	struct rxe_dev *dev = cq->dev;
	struct rxe_cqe *ring;
	uint32_t size, i, n;

	if (cqe < 1 || cqe > RXE_MAX_CQE - 1)
		return -EINVAL;
	size = rxe_pow2_up(cqe + 1);
	ring = calloc(size, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	pthread_mutex_lock(&dev->lock);
	pthread_mutex_lock(&cq->lock);
	n = cq->prod - cq->cons;
	if (n + rxe_cq_owed(cq) > (uint32_t)cqe) {
		pthread_mutex_unlock(&cq->lock);
		pthread_mutex_unlock(&dev->lock);
		free(ring);
		return -EINVAL;
	}
	for (i = 0; i < n; i++)
		ring[i] = cq->ring[(cq->cons + i) & (cq->size - 1)];
	free(cq->ring);
	cq->ring = ring;
	cq->size = size;
	cq->max = cqe;
	__atomic_store_n(&cq->cons, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&cq->prod, n, __ATOMIC_RELEASE);
	cq->ibcq.cqe = cqe;
	pthread_mutex_unlock(&cq->lock);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

int rxe_destroy_cq(struct ibv_cq *ibcq)
{
	struct rxe_cq *cq = to_rcq(ibcq);
	struct rxe_dev *dev = cq->dev;

	rxe_dev_lock(dev);
	if (cq->users) {
		pthread_mutex_unlock(&dev->lock);
		return -EBUSY;
	}
	list_del_init(&cq->node);
	dev->nr_cq--;
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_destroy(&cq->lock);
	free(cq->ring);
	free(cq);
	return 0;
}
