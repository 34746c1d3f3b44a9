// SPDX-License-Identifier: MIT
/*
 * The ops tables inside the application's context. The inline verbs of
 * <infiniband/verbs.h> call straight through them: the data path
 * (post_send, post_recv, poll_cq, req_notify_cq, post_srq_recv) goes to the
 * provider with no front in between; the extended verbs go to the front,
 * which checks their arguments first.
 */
#include "verbs.h"

/* Until the provider implements a data-path op, calling it fails cleanly. */
static int no_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	if (bad)
		*bad = wr;
	return EOPNOTSUPP;
}

static int no_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	if (bad)
		*bad = wr;
	return EOPNOTSUPP;
}

static int no_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	if (bad)
		*bad = wr;
	return EOPNOTSUPP;
}

static int no_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	return -EOPNOTSUPP;
}

static int no_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
	return EOPNOTSUPP;
}

void sodp_init_context_ops(struct sodp_context *ctx)
{
	const struct sodp_provider_ops *p = ctx->ops;
	struct ibv_context_ops *o = &ctx->vctx.context.ops;
	struct verbs_context *v = &ctx->vctx;

	o->post_send = p->post_send ? p->post_send : no_post_send;
	o->post_recv = p->post_recv ? p->post_recv : no_post_recv;
	o->post_srq_recv = p->post_srq_recv ? p->post_srq_recv : no_post_srq_recv;
	o->poll_cq = p->poll_cq ? p->poll_cq : no_poll_cq;
	o->req_notify_cq = p->req_notify_cq ? p->req_notify_cq : no_req_notify_cq;
	/* ibv_alloc_mw() fails with EOPNOTSUPP by itself when this is NULL */
	o->alloc_mw = p->alloc_mw ? sodp_alloc_mw : NULL;
	o->dealloc_mw = sodp_dealloc_mw;
	o->bind_mw = sodp_bind_mw;

	v->query_port = sodp_query_port;
	v->query_device_ex = sodp_query_device_ex;
	v->advise_mr = sodp_advise_mr;
	v->create_cq_ex = sodp_create_cq_ex;
	v->create_qp_ex = sodp_create_qp_ex;
	v->create_srq_ex = sodp_create_srq_ex;
}
