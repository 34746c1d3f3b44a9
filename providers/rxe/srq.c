// SPDX-License-Identifier: MIT
/*
 * Shared receive queues. Posting is the same ring as a QP's receive queue;
 * the responder of any attached QP takes WQEs from it. When the number of
 * posted WQEs falls below an armed limit, IBV_EVENT_SRQ_LIMIT_REACHED is
 * raised once and the limit disarms (IBTA 10.2.9.2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rxe.h"

int rxe_wq_init(struct rxe_wq *wq, uint32_t max_wr, uint32_t max_sge, size_t stride)
{
	memset(wq, 0, sizeof(*wq));
	wq->max_wr = max_wr;
	wq->max_sge = max_sge;
	wq->size = rxe_pow2_up(max_wr + 1);
	wq->stride = stride;
	wq->ring = calloc(wq->size, stride);
	if (!wq->ring)
		return -ENOMEM;
	pthread_mutex_init(&wq->lock, NULL);
	return 0;
}

void rxe_wq_fini(struct rxe_wq *wq)
{
	free(wq->ring);
	wq->ring = NULL;
	pthread_mutex_destroy(&wq->lock);
}

/* Posts receive WRs to @wq; shared by QPs and SRQs. Caller holds wq->lock. */
int rxe_wq_post_recv(struct rxe_wq *wq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr)
{
	uint32_t prod = wq->prod;

	for (; wr; wr = wr->next) {
		struct rxe_recv_wqe *wqe;
		uint64_t len = 0;
		uint32_t i;

		if (prod - __atomic_load_n(&wq->cons, __ATOMIC_ACQUIRE) >= wq->max_wr) {
			*bad_wr = wr;
			__atomic_store_n(&wq->prod, prod, __ATOMIC_RELEASE);
			return -ENOMEM;
		}
		if (wr->num_sge < 0 || (uint32_t)wr->num_sge > wq->max_sge ||
		    (wr->num_sge && !wr->sg_list)) {
			*bad_wr = wr;
			__atomic_store_n(&wq->prod, prod, __ATOMIC_RELEASE);
			return -EINVAL;
		}
		wqe = rxe_wq_slot(wq, prod);
		wqe->wr_id = wr->wr_id;
		wqe->num_sge = wr->num_sge;
		for (i = 0; i < (uint32_t)wr->num_sge; i++) {
			wqe->sge[i] = wr->sg_list[i];
			len += wr->sg_list[i].length;
		}
		/* a receive buffer may be larger than a message: saturate */
		wqe->length = (uint32_t)SODP_MIN(len, UINT32_MAX);
		prod++;
	}
	__atomic_store_n(&wq->prod, prod, __ATOMIC_RELEASE);
	return 0;
}

struct ibv_srq *rxe_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr_ex *attr)
{
	struct sodp_context *ctx = sodp_ctx(pd->context);
	struct rxe_dev *dev = ctx_dev(ctx);
	struct rxe_srq *srq;
	int ret = -EINVAL;

	if ((attr->comp_mask & IBV_SRQ_INIT_ATTR_TYPE) && attr->srq_type != IBV_SRQT_BASIC) {
		ret = -EOPNOTSUPP;
		goto err;
	}
	if (attr->comp_mask & ~(uint32_t)(IBV_SRQ_INIT_ATTR_TYPE | IBV_SRQ_INIT_ATTR_PD)) {
		ret = -EOPNOTSUPP;
		goto err;
	}
	if (!attr->attr.max_wr || attr->attr.max_wr > RXE_MAX_SRQ_WR ||
	    attr->attr.max_sge > RXE_MAX_SRQ_SGE || attr->attr.srq_limit > attr->attr.max_wr)
		goto err;
	ret = rxe_dev_take(dev, &dev->nr_srq, RXE_MAX_SRQ);
	if (ret)
		goto err;
	ret = -ENOMEM;
	srq = calloc(1, sizeof(*srq));
	if (!srq)
		goto err_give;
	if (!attr->attr.max_sge)
		attr->attr.max_sge = 1;
	ret = rxe_wq_init(&srq->rq, attr->attr.max_wr, attr->attr.max_sge,
			  sizeof(struct rxe_recv_wqe));
	if (ret) {
		free(srq);
		goto err_give;
	}
	srq->dev = dev;
	srq->ctx = ctx;
	srq->limit = attr->attr.srq_limit;
	srq->ibsrq.context = pd->context;
	srq->ibsrq.pd = pd;
	srq->ibsrq.srq_context = attr->srq_context;
	pthread_mutex_init(&srq->ibsrq.mutex, NULL);
	pthread_cond_init(&srq->ibsrq.cond, NULL);
	rxe_dev_lock(srq->dev);
	list_add_tail(&srq->node, &srq->dev->srqs);
	pthread_mutex_unlock(&srq->dev->lock);
	return &srq->ibsrq;
err_give:
	rxe_dev_give(dev, &dev->nr_srq);
err:
	errno = -ret;
	return NULL;
}

int rxe_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr, int mask)
{
	struct rxe_srq *srq = to_rsrq(ibsrq);
	struct rxe_dev *dev = srq->dev;
	int ret = 0;

	if (mask & ~(IBV_SRQ_MAX_WR | IBV_SRQ_LIMIT))
		return -EINVAL;
	rxe_dev_lock(dev);
	pthread_mutex_lock(&srq->rq.lock);
	if (mask & IBV_SRQ_MAX_WR) {
		uint32_t posted = srq->rq.prod - srq->rq.cons, i;
		struct rxe_wq nwq;

		if (!attr->max_wr || attr->max_wr > RXE_MAX_SRQ_WR || attr->max_wr < posted) {
			ret = -EINVAL;
			goto out;
		}
		nwq = srq->rq;
		nwq.size = rxe_pow2_up(attr->max_wr + 1);
		nwq.ring = calloc(nwq.size, nwq.stride);
		if (!nwq.ring) {
			ret = -ENOMEM;
			goto out;
		}
		for (i = 0; i < posted; i++)
			memcpy(rxe_wq_slot(&nwq, i), rxe_wq_slot(&srq->rq, srq->rq.cons + i),
			       nwq.stride);
		free(srq->rq.ring);
		srq->rq.ring = nwq.ring;
		srq->rq.size = nwq.size;
		srq->rq.max_wr = attr->max_wr;
		srq->rq.cons = 0;
		srq->rq.prod = posted;
	}
	if (mask & IBV_SRQ_LIMIT) {
		if (attr->srq_limit > srq->rq.max_wr) {
			ret = -EINVAL;
			goto out;
		}
		srq->limit = attr->srq_limit;
	}
out:
	pthread_mutex_unlock(&srq->rq.lock);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int rxe_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr)
{
	struct rxe_srq *srq = to_rsrq(ibsrq);

	attr->max_wr = srq->rq.max_wr;
	attr->max_sge = srq->rq.max_sge;
	attr->srq_limit = srq->limit;
	return 0;
}

int rxe_destroy_srq(struct ibv_srq *ibsrq)
{
	struct rxe_srq *srq = to_rsrq(ibsrq);
	struct rxe_dev *dev = srq->dev;

	rxe_dev_lock(dev);
	if (srq->users) {
		pthread_mutex_unlock(&dev->lock);
		return -EBUSY;
	}
	list_del_init(&srq->node);
	dev->nr_srq--;
	pthread_mutex_unlock(&dev->lock);
	rxe_wq_fini(&srq->rq);
	free(srq);
	return 0;
}

int rxe_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr)
{
	struct rxe_srq *srq = to_rsrq(ibsrq);
	int ret;

	if (!bad_wr)
		return EINVAL;
	*bad_wr = NULL;
	pthread_mutex_lock(&srq->rq.lock);
	ret = rxe_wq_post_recv(&srq->rq, wr, bad_wr);
	pthread_mutex_unlock(&srq->rq.lock);
	return -ret;
}

/* Engine, under dev->lock: takes the oldest WQE, raises the limit event. */
bool rxe_srq_take(struct rxe_srq *srq, struct rxe_recv_wqe *out)
{
	struct rxe_wq *wq = &srq->rq;
	uint32_t cons = wq->cons, prod;

	pthread_mutex_lock(&wq->lock);
	prod = __atomic_load_n(&wq->prod, __ATOMIC_ACQUIRE);
	if (cons == prod) {
		pthread_mutex_unlock(&wq->lock);
		return false;
	}
	*out = *(struct rxe_recv_wqe *)rxe_wq_slot(wq, cons);
	__atomic_store_n(&wq->cons, cons + 1, __ATOMIC_RELEASE);
	if (srq->limit && prod - (cons + 1) < srq->limit) {
		struct ibv_async_event ev = {.element.srq = &srq->ibsrq,
					     .event_type = IBV_EVENT_SRQ_LIMIT_REACHED};

		srq->limit = 0;
		pthread_mutex_unlock(&wq->lock);
		if (srq->ctx->front && srq->ctx->front->async_event)
			srq->ctx->front->async_event(srq->ctx, &ev);
		return true;
	}
	pthread_mutex_unlock(&wq->lock);
	return true;
}
