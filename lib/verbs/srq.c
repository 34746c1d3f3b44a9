// SPDX-License-Identifier: MIT
/*
 * Shared receive queue entry points.
 */
#include <string.h>

#include "verbs.h"

static struct ibv_srq *create_srq(struct ibv_context *ibctx, struct ibv_srq_init_attr_ex *attr)
{
	struct sodp_context *ctx;
	struct ibv_srq *srq;

	if (!sodp_is_our_context(ibctx) || !attr) {
		errno = EINVAL;
		return NULL;
	}
	if (attr->comp_mask & ~(IBV_SRQ_INIT_ATTR_TYPE | IBV_SRQ_INIT_ATTR_PD)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if ((attr->comp_mask & IBV_SRQ_INIT_ATTR_TYPE) && attr->srq_type != IBV_SRQT_BASIC) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (!(attr->comp_mask & IBV_SRQ_INIT_ATTR_PD) || !attr->pd || attr->pd->context != ibctx) {
		errno = EINVAL;
		return NULL;
	}
	ctx = sodp_ctx(ibctx);
	if (!ctx->ops->create_srq) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	srq = ctx->ops->create_srq(attr->pd, attr);
	if (!srq)
		return NULL;
	sodp_pd_get(attr->pd);
	return srq;
}

SODP_EXPORT struct ibv_srq *ibv_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *init)
{
	struct ibv_srq_init_attr_ex ex;
	struct ibv_srq *srq;

	if (!pd || !init) {
		errno = EINVAL;
		return NULL;
	}
	memset(&ex, 0, sizeof(ex));
	ex.srq_context = init->srq_context;
	ex.attr = init->attr;
	ex.comp_mask = IBV_SRQ_INIT_ATTR_PD;
	ex.pd = pd;
	srq = create_srq(pd->context, &ex);
	if (srq)
		init->attr = ex.attr;
	return srq;
}

struct ibv_srq *sodp_create_srq_ex(struct ibv_context *ibctx, struct ibv_srq_init_attr_ex *attr)
{
	return create_srq(ibctx, attr);
}

SODP_EXPORT int ibv_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr, int mask)
{
	struct sodp_context *ctx;

	if (!srq || !attr || !sodp_is_our_context(srq->context))
		return EINVAL;
	if (mask & ~(IBV_SRQ_MAX_WR | IBV_SRQ_LIMIT))
		return EINVAL;
	ctx = sodp_ctx(srq->context);
	if (!ctx->ops->modify_srq)
		return EOPNOTSUPP;
	return sodp_ret(ctx->ops->modify_srq(srq, attr, mask));
}

SODP_EXPORT int ibv_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr)
{
	struct sodp_context *ctx;

	if (!srq || !attr || !sodp_is_our_context(srq->context))
		return EINVAL;
	ctx = sodp_ctx(srq->context);
	if (!ctx->ops->query_srq)
		return EOPNOTSUPP;
	return sodp_ret(ctx->ops->query_srq(srq, attr));
}

SODP_EXPORT int ibv_destroy_srq(struct ibv_srq *srq)
{
	struct sodp_context *ctx;
	struct ibv_pd *pd;
	int ret;

	if (!srq || !sodp_is_our_context(srq->context))
		return EINVAL;
	ctx = sodp_ctx(srq->context);
	pd = srq->pd;
	if (!ctx->ops->destroy_srq)
		return EOPNOTSUPP;
	ret = ctx->ops->destroy_srq(srq);
	if (ret)
		return sodp_ret(ret);
	sodp_pd_put(pd);
	return 0;
}
