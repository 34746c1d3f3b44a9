// SPDX-License-Identifier: MIT
/*
 * Queue pair entry points: argument checks, then the provider, which owns
 * the state machine and every field of the QP.
 */
#include <string.h>

#include "verbs.h"

#define SODP_QP_INIT_ATTR_MASK \
	(IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_CREATE_FLAGS | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)

#define SODP_QP_SEND_OPS                                                                         \
	(IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM | IBV_QP_EX_WITH_SEND |  \
	 IBV_QP_EX_WITH_SEND_WITH_IMM | IBV_QP_EX_WITH_RDMA_READ |                               \
	 IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP | IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |               \
	 IBV_QP_EX_WITH_SEND_WITH_INV | IBV_QP_EX_WITH_ATOMIC_WRITE | IBV_QP_EX_WITH_LOCAL_INV | \
	 IBV_QP_EX_WITH_BIND_MW)

static bool cq_of(struct ibv_context *ibctx, struct ibv_cq *cq)
{
	return cq && cq->context == ibctx;
}

static struct ibv_qp *create_qp(struct ibv_context *ibctx, struct ibv_qp_init_attr_ex *attr)
{
	struct sodp_context *ctx;
	struct ibv_qp *qp;

	if (!sodp_is_our_context(ibctx) || !attr) {
		errno = EINVAL;
		return NULL;
	}
	ctx = sodp_ctx(ibctx);
	if (attr->comp_mask & ~SODP_QP_INIT_ATTR_MASK) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (!(attr->comp_mask & IBV_QP_INIT_ATTR_PD) || !attr->pd || attr->pd->context != ibctx) {
		errno = EINVAL;
		return NULL;
	}
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) && attr->create_flags) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) &&
	    (attr->send_ops_flags & ~(uint64_t)SODP_QP_SEND_OPS)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	switch (attr->qp_type) {
	case IBV_QPT_RC:
	case IBV_QPT_UC:
	case IBV_QPT_UD:
		break;
	default:
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (!cq_of(ibctx, attr->send_cq) || !cq_of(ibctx, attr->recv_cq)) {
		errno = EINVAL;
		return NULL;
	}
	if (attr->srq && attr->srq->context != ibctx) {
		errno = EINVAL;
		return NULL;
	}
	if (!ctx->ops->create_qp) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	qp = ctx->ops->create_qp(ctx, attr);
	if (!qp)
		return NULL;
	sodp_pd_get(attr->pd);
	sodp_stat_kick(ctx);
	return qp;
}

SODP_EXPORT struct ibv_qp *ibv_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *init)
{
	struct ibv_qp_init_attr_ex ex;
	struct ibv_qp *qp;

	if (!pd || !init) {
		errno = EINVAL;
		return NULL;
	}
	memset(&ex, 0, sizeof(ex));
	ex.qp_context = init->qp_context;
	ex.send_cq = init->send_cq;
	ex.recv_cq = init->recv_cq;
	ex.srq = init->srq;
	ex.cap = init->cap;
	ex.qp_type = init->qp_type;
	ex.sq_sig_all = init->sq_sig_all;
	ex.comp_mask = IBV_QP_INIT_ATTR_PD;
	ex.pd = pd;
	qp = create_qp(pd->context, &ex);
	if (qp)
		init->cap = ex.cap; /* what was really allocated */
	return qp;
}

struct ibv_qp *sodp_create_qp_ex(struct ibv_context *ibctx, struct ibv_qp_init_attr_ex *attr)
{
	return create_qp(ibctx, attr);
}

SODP_EXPORT struct ibv_qp_ex *ibv_qp_to_qp_ex(struct ibv_qp *qp)
{
	struct sodp_context *ctx;

	if (!qp || !sodp_is_our_context(qp->context))
		return NULL;
	ctx = sodp_ctx(qp->context);
	return ctx->ops->qp_to_qp_ex ? ctx->ops->qp_to_qp_ex(qp) : NULL;
}

SODP_EXPORT int ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask)
{
	struct sodp_context *ctx;

	if (!qp || !attr || !sodp_is_our_context(qp->context))
		return EINVAL;
	if (mask & ~((IBV_QP_RATE_LIMIT << 1) - 1))
		return EINVAL;
	ctx = sodp_ctx(qp->context);
	if (!ctx->ops->modify_qp)
		return EOPNOTSUPP;
	return sodp_ret(ctx->ops->modify_qp(qp, attr, mask));
}

SODP_EXPORT int ibv_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask,
			     struct ibv_qp_init_attr *init)
{
	struct sodp_context *ctx;

	if (!qp || !attr || !init || !sodp_is_our_context(qp->context))
		return EINVAL;
	ctx = sodp_ctx(qp->context);
	if (!ctx->ops->query_qp)
		return EOPNOTSUPP;
	return sodp_ret(ctx->ops->query_qp(qp, attr, mask, init));
}

SODP_EXPORT int ibv_query_qp_data_in_order(struct ibv_qp *qp, enum ibv_wr_opcode op, uint32_t flags)
{
	/*
	 * The NIC writes each packet's payload to memory in one copy, in PSN
	 * order, before it completes: data lands in order for every opcode.
	 */
	if (!qp || !sodp_is_our_context(qp->context) || flags)
		return 0;
	return 1;
}

SODP_EXPORT int ibv_destroy_qp(struct ibv_qp *qp)
{
	struct sodp_context *ctx;
	struct ibv_pd *pd;
	int ret;

	if (!qp || !sodp_is_our_context(qp->context))
		return EINVAL;
	ctx = sodp_ctx(qp->context);
	pd = qp->pd;
	if (!ctx->ops->destroy_qp)
		return EOPNOTSUPP;
	ret = ctx->ops->destroy_qp(qp);
	if (ret)
		return sodp_ret(ret);
	sodp_pd_put(pd);
	return 0;
}

SODP_EXPORT int ibv_attach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid)
{
	struct sodp_context *ctx;

	if (!qp || !gid || !sodp_is_our_context(qp->context))
		return EINVAL;
	if (qp->qp_type != IBV_QPT_UD)
		return EINVAL;
	ctx = sodp_ctx(qp->context);
	if (!ctx->ops->attach_mcast)
		return EOPNOTSUPP;
	return sodp_ret(ctx->ops->attach_mcast(qp, gid, lid));
}

SODP_EXPORT int ibv_detach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid)
{
	struct sodp_context *ctx;

	if (!qp || !gid || !sodp_is_our_context(qp->context))
		return EINVAL;
	ctx = sodp_ctx(qp->context);
	if (!ctx->ops->detach_mcast)
		return EOPNOTSUPP;
	return sodp_ret(ctx->ops->detach_mcast(qp, gid, lid));
}
