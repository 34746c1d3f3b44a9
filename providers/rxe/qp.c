// SPDX-License-Identifier: MIT
/*
 * Queue pairs: creation, the IBTA state machine of ibv_modify_qp (with the
 * required and optional attributes of every transition, IBA 11.2.6.1 /
 * table 91 as the kernel's ib_modify_qp_is_ok encodes them), posting of work
 * requests (ibv_post_send / ibv_post_recv and the ibv_wr_* interface), and
 * the error flush.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rxe.h"

/* ---- the modify_qp state table ---- */

struct rxe_qp_trans {
	bool valid;
	int req[3]; /* indexed by rxe_qpt_index(): RC, UC, UD */
	int opt[3];
};

static int rxe_qpt_index(enum ibv_qp_type t)
{
	return t == IBV_QPT_RC ? 0 : t == IBV_QPT_UC ? 1 : 2;
}

#define RC_UC_UD(rc, uc, ud) \
	{                    \
		rc, uc, ud   \
	}

static const struct rxe_qp_trans rxe_qp_table[IBV_QPS_ERR + 1][IBV_QPS_ERR + 1] = {
	[IBV_QPS_RESET] = {
		[IBV_QPS_RESET] = {.valid = true},
		[IBV_QPS_ERR] = {.valid = true},
		[IBV_QPS_INIT] = {
			.valid = true,
			.req = RC_UC_UD(IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS,
					IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS,
					IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY),
		},
	},
	[IBV_QPS_INIT] = {
		[IBV_QPS_RESET] = {.valid = true},
		[IBV_QPS_ERR] = {.valid = true},
		[IBV_QPS_INIT] = {
			.valid = true,
			.opt = RC_UC_UD(IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS,
					IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS,
					IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY),
		},
		[IBV_QPS_RTR] = {
			.valid = true,
			.req = RC_UC_UD(IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
						IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
						IBV_QP_MIN_RNR_TIMER,
					IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
						IBV_QP_RQ_PSN,
					0),
			.opt = RC_UC_UD(IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS | IBV_QP_PKEY_INDEX,
					IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS | IBV_QP_PKEY_INDEX,
					IBV_QP_PKEY_INDEX | IBV_QP_QKEY),
		},
	},
	[IBV_QPS_RTR] = {
		[IBV_QPS_RESET] = {.valid = true},
		[IBV_QPS_ERR] = {.valid = true},
		[IBV_QPS_RTS] = {
			.valid = true,
			.req = RC_UC_UD(IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
						IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC,
					IBV_QP_SQ_PSN, IBV_QP_SQ_PSN),
			.opt = RC_UC_UD(IBV_QP_CUR_STATE | IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS |
						IBV_QP_MIN_RNR_TIMER | IBV_QP_PATH_MIG_STATE,
					IBV_QP_CUR_STATE | IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS |
						IBV_QP_PATH_MIG_STATE,
					IBV_QP_CUR_STATE | IBV_QP_QKEY),
		},
	},
	[IBV_QPS_RTS] = {
		[IBV_QPS_RESET] = {.valid = true},
		[IBV_QPS_ERR] = {.valid = true},
		[IBV_QPS_RTS] = {
			.valid = true,
			.opt = RC_UC_UD(IBV_QP_CUR_STATE | IBV_QP_ACCESS_FLAGS | IBV_QP_ALT_PATH |
						IBV_QP_PATH_MIG_STATE | IBV_QP_MIN_RNR_TIMER,
					IBV_QP_CUR_STATE | IBV_QP_ACCESS_FLAGS | IBV_QP_ALT_PATH |
						IBV_QP_PATH_MIG_STATE,
					IBV_QP_CUR_STATE | IBV_QP_QKEY),
		},
		[IBV_QPS_SQD] = {
			.valid = true,
			.opt = RC_UC_UD(IBV_QP_EN_SQD_ASYNC_NOTIFY, IBV_QP_EN_SQD_ASYNC_NOTIFY,
					IBV_QP_EN_SQD_ASYNC_NOTIFY),
		},
	},
	[IBV_QPS_SQD] = {
		[IBV_QPS_RESET] = {.valid = true},
		[IBV_QPS_ERR] = {.valid = true},
		[IBV_QPS_RTS] = {
			.valid = true,
			.opt = RC_UC_UD(IBV_QP_CUR_STATE | IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS |
						IBV_QP_MIN_RNR_TIMER | IBV_QP_PATH_MIG_STATE,
					IBV_QP_CUR_STATE | IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS |
						IBV_QP_PATH_MIG_STATE,
					IBV_QP_CUR_STATE | IBV_QP_QKEY),
		},
		[IBV_QPS_SQD] = {
			.valid = true,
			.opt = RC_UC_UD(IBV_QP_PORT | IBV_QP_AV | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
						IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC |
						IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_ALT_PATH |
						IBV_QP_ACCESS_FLAGS | IBV_QP_PKEY_INDEX |
						IBV_QP_MIN_RNR_TIMER | IBV_QP_PATH_MIG_STATE,
					IBV_QP_AV | IBV_QP_ALT_PATH | IBV_QP_ACCESS_FLAGS |
						IBV_QP_PKEY_INDEX | IBV_QP_PATH_MIG_STATE,
					IBV_QP_PKEY_INDEX | IBV_QP_QKEY),
		},
	},
	[IBV_QPS_SQE] = {
		[IBV_QPS_RESET] = {.valid = true},
		[IBV_QPS_ERR] = {.valid = true},
		[IBV_QPS_RTS] = {
			.valid = true,
			.opt = RC_UC_UD(IBV_QP_CUR_STATE | IBV_QP_ACCESS_FLAGS | IBV_QP_MIN_RNR_TIMER,
					IBV_QP_CUR_STATE | IBV_QP_ACCESS_FLAGS,
					IBV_QP_CUR_STATE | IBV_QP_QKEY),
		},
	},
	[IBV_QPS_ERR] = {
		[IBV_QPS_RESET] = {.valid = true},
		[IBV_QPS_ERR] = {.valid = true},
	},
};

#define RXE_QP_ATTR_KNOWN                                                                     \
	(IBV_QP_STATE | IBV_QP_CUR_STATE | IBV_QP_EN_SQD_ASYNC_NOTIFY | IBV_QP_ACCESS_FLAGS | \
	 IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY | IBV_QP_AV | IBV_QP_PATH_MTU |        \
	 IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_RQ_PSN |               \
	 IBV_QP_MAX_QP_RD_ATOMIC | IBV_QP_ALT_PATH | IBV_QP_MIN_RNR_TIMER | IBV_QP_SQ_PSN |   \
	 IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_PATH_MIG_STATE | IBV_QP_CAP | IBV_QP_DEST_QPN)

/* ON_DEMAND is taken, as kernel providers take it: a QP's access has no ODP of its own. */
#define RXE_QP_ACCESS                                                                \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
	 IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_MW_BIND | IBV_ACCESS_ON_DEMAND)

/* ---- async events ---- */

void rxe_async_qp(struct rxe_qp *qp, enum ibv_event_type type)
{
	struct ibv_async_event ev = {.element.qp = &qp->ibqp.qp_base, .event_type = type};

	if (qp->ctx->front && qp->ctx->front->async_event)
		qp->ctx->front->async_event(qp->ctx, &ev);
}

/* ---- flush ---- */

static enum ibv_wc_opcode rxe_wc_opcode(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		return IBV_WC_RDMA_WRITE;
	case IBV_WR_RDMA_READ:
		return IBV_WC_RDMA_READ;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		return IBV_WC_COMP_SWAP;
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		return IBV_WC_FETCH_ADD;
	case IBV_WR_ATOMIC_WRITE:
		return IBV_WC_ATOMIC_WRITE;
	case IBV_WR_BIND_MW:
		return IBV_WC_BIND_MW;
	case IBV_WR_LOCAL_INV:
		return IBV_WC_LOCAL_INV;
	default:
		return IBV_WC_SEND;
	}
}

/*
 * A completion of @qp that its CQ had no room for: the CQ has raised
 * IBV_EVENT_CQ_ERR, and the QP, which lost the completion, goes to the
 * error state with IBV_EVENT_QP_FATAL (kernel rxe's responder goes to
 * error on RESPST_ERR_CQ_OVERFLOW; here the requester does too).
 */
void rxe_qp_cq_overrun(struct rxe_qp *qp)
{
	if (!qp->fatal) {
		qp->fatal = true;
		rxe_async_qp(qp, IBV_EVENT_QP_FATAL);
	}
	rxe_qp_error(qp);
}

/*
 * Completes the WQE at sq.cons with @st (under dev->lock, engine or flush).
 * Unsignalled successful WQEs retire without a completion.
 */
void rxe_send_complete(struct rxe_qp *qp, struct rxe_send_wqe *wqe, enum ibv_wc_status st)
{
	bool signal =
		st != IBV_WC_SUCCESS || qp->sq_sig_all || (wqe->send_flags & IBV_SEND_SIGNALED);
	struct rxe_cqe e = {
		.wr_id = wqe->wr_id,
		.status = st,
		.opcode = rxe_wc_opcode(wqe->opcode),
		.byte_len = wqe->length,
		.qp_num = qp->ibqp.qp_base.qp_num,
	};

	/*
	 * Free the slot before the completion is visible: an application
	 * that sees the CQE may post again at once and must find room.
	 */
	wqe->state = WQE_DONE;
	__atomic_store_n(&qp->sq.cons, qp->sq.cons + 1, __ATOMIC_RELEASE);
	e.sq_idle = qp->sq.cons == __atomic_load_n(&qp->sq.prod, __ATOMIC_ACQUIRE);
	if (signal && rxe_cq_post(qp->scq, &e, false) == -ENOSPC)
		rxe_qp_cq_overrun(qp);
}

/* Completes every outstanding WR with IBV_WC_WR_FLUSH_ERR. Under dev->lock. */
void rxe_qp_flush(struct rxe_qp *qp)
{
	uint32_t prod = __atomic_load_n(&qp->sq.prod, __ATOMIC_ACQUIRE);

	while (qp->sq.cons != prod) {
		struct rxe_send_wqe *wqe = rxe_wq_slot(&qp->sq, qp->sq.cons);

		rxe_send_complete(qp, wqe, wqe->err ? wqe->err : IBV_WC_WR_FLUSH_ERR);
	}
	qp->req.wqe_idx = qp->sq.cons;
	qp->comp.deadline = 0;
	qp->req.rnr_wait = false;

	if (qp->resp.have_wqe && !qp->resp.from_srq) {
		/* a SEND in progress already took its WQE from the ring */
		struct rxe_cqe e = {.wr_id = qp->resp.wqe.wr_id,
				    .status = IBV_WC_WR_FLUSH_ERR,
				    .opcode = IBV_WC_RECV,
				    .qp_num = qp->ibqp.qp_base.qp_num};

		rxe_cq_post(qp->rcq, &e, false);
	}
	qp->resp.have_wqe = false;
	if (!qp->srq) {
		prod = __atomic_load_n(&qp->rq.prod, __ATOMIC_ACQUIRE);
		while (qp->rq.cons != prod) {
			struct rxe_recv_wqe *w = rxe_wq_slot(&qp->rq, qp->rq.cons);
			struct rxe_cqe e = {.wr_id = w->wr_id,
					    .status = IBV_WC_WR_FLUSH_ERR,
					    .opcode = IBV_WC_RECV,
					    .qp_num = qp->ibqp.qp_base.qp_num};

			rxe_cq_post(qp->rcq, &e, false);
			__atomic_store_n(&qp->rq.cons, qp->rq.cons + 1, __ATOMIC_RELEASE);
		}
	}
}

static void rxe_qp_set_state(struct rxe_qp *qp, enum ibv_qp_state st)
{
	WRITE_ONCE(qp->state, st);
	qp->attr.qp_state = st;
	qp->ibqp.qp_base.state = st;
}

/*
 * The error state, entered by ibv_modify_qp() or a fatal error: every
 * outstanding WR completes with IBV_WC_WR_FLUSH_ERR, and a QP on an SRQ
 * raises IBV_EVENT_QP_LAST_WQE_REACHED once (IBA 11.5.2.3, 10.3.1).
 * Under dev->lock.
 */
static void rxe_qp_enter_error(struct rxe_qp *qp)
{
	rxe_qp_set_state(qp, IBV_QPS_ERR);
	rxe_qp_flush(qp);
	if (qp->srq && !qp->last_wqe_sent) {
		qp->last_wqe_sent = true;
		rxe_async_qp(qp, IBV_EVENT_QP_LAST_WQE_REACHED);
	}
}

/*
 * Moves the QP to the error state after a fatal transport error. The flush
 * may post to a full CQ and come back here: the state is ERR by then.
 */
void rxe_qp_error(struct rxe_qp *qp)
{
	if (qp->state != IBV_QPS_ERR)
		rxe_qp_enter_error(qp);
}

/* ---- create / destroy ---- */

#define RXE_SEND_OPS_RC                                                                          \
	(IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM | IBV_QP_EX_WITH_SEND |  \
	 IBV_QP_EX_WITH_SEND_WITH_IMM | IBV_QP_EX_WITH_RDMA_READ |                               \
	 IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP | IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |               \
	 IBV_QP_EX_WITH_SEND_WITH_INV | IBV_QP_EX_WITH_ATOMIC_WRITE | IBV_QP_EX_WITH_LOCAL_INV | \
	 IBV_QP_EX_WITH_BIND_MW)
#define RXE_SEND_OPS_UC                                                                         \
	(IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM | IBV_QP_EX_WITH_SEND | \
	 IBV_QP_EX_WITH_SEND_WITH_IMM | IBV_QP_EX_WITH_BIND_MW)
#define RXE_SEND_OPS_UD (IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM)

static void rxe_qp_ex_init(struct rxe_qp *qp);

/* Bytes of a path MTU (IBV_MTU_256 = 1 ... IBV_MTU_4096 = 5). */
static uint32_t rxe_mtu_bytes(enum ibv_mtu mtu)
{
	return 128u << mtu;
}

static void rxe_qp_reset_state(struct rxe_qp *qp)
{
	memset(&qp->req, 0, sizeof(qp->req));
	memset(&qp->comp, 0, sizeof(qp->comp));
	qp->resp.psn = 0;
	qp->resp.msn = 0;
	qp->resp.nak_seq_sent = false;
	qp->resp.fault_rnrs = 0;
	qp->resp.last_opcode = RXE_OPCODE_NONE;
	qp->resp.have_wqe = false;
	qp->resp.q_head = qp->resp.q_tail = 0;
	qp->resp.rd_queued = 0;
	if (qp->resp.res)
		memset(qp->resp.res, 0, qp->resp.nres * sizeof(*qp->resp.res));
	qp->resp.res_next = 0;
	qp->sq.prod = qp->sq.cons = 0;
	qp->rq.prod = qp->rq.cons = 0;
	qp->last_wqe_sent = false;
	qp->fatal = false;
	__atomic_store_n(&qp->req_fault.err, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&qp->resp_fault.err, 0, __ATOMIC_RELAXED);
	rxe_cq_clean(qp->scq, qp->ibqp.qp_base.qp_num);
	if (qp->rcq != qp->scq)
		rxe_cq_clean(qp->rcq, qp->ibqp.qp_base.qp_num);
}

/*
 * QPNs: a new QP takes a free slot of dev->qp_tbl picked at random, and a
 * QPN picked at random among that slot's in the process's block
 * (dev->qpn_base + RXE_QPN_FIRST + slot + k * RXE_QP_TBL, up to the end of
 * the block and RXE_QPN_LAST; share.c) other than the slot's previous one.
 * So a blind peer cannot guess a QPN, and packets meant for a destroyed QP
 * do not reach the next QP in its slot. Under dev->lock; 0 when all slots
 * are taken.
 */
static uint32_t rxe_qpn_alloc(struct rxe_dev *dev)
{
	uint32_t start = rxe_random_u32() % RXE_QP_TBL, i, slot = 0, n, qpn, first, last;

	for (i = 0; i < RXE_QP_TBL; i++) {
		slot = (start + i) % RXE_QP_TBL;
		if (!dev->qp_tbl[slot])
			break;
	}
	if (i == RXE_QP_TBL)
		return 0;
	first = dev->qpn_base + RXE_QPN_FIRST + slot;
	last = SODP_MIN(dev->qpn_base | RXE_QPN_LOW_MASK, RXE_QPN_LAST);
	n = (last - first) / RXE_QP_TBL + 1; /* the slot's QPNs */
	qpn = first + rxe_random_u32() % n * RXE_QP_TBL;
	if (qpn == dev->qp_last[slot])
		qpn = qpn + RXE_QP_TBL <= last ? qpn + RXE_QP_TBL : first;
	dev->qp_last[slot] = qpn;
	return qpn;
}

/*
 * Creation in three steps, as the kernel's rxe_qp_chk_init / rxe_qp_init_req
 * / rxe_qp_init_resp: the attributes are checked against the device's
 * limits with no side effect (rxe_qp_chk_init()); the work queues are
 * allocated (rxe_qp_alloc_queues()); the QP's state is set up
 * (rxe_qp_init_state()); only then does it get a QPN and become visible to
 * the engine (rxe_qp_publish()).
 */
static int rxe_qp_chk_init(const struct ibv_qp_init_attr_ex *attr)
{
	const struct ibv_qp_cap *cap = &attr->cap;
	uint64_t ops_ok;

	if (attr->comp_mask & ~(uint32_t)(IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_CREATE_FLAGS |
					  IBV_QP_INIT_ATTR_SEND_OPS_FLAGS))
		return -EOPNOTSUPP;
	/* no create flag has a meaning here (kernel rxe takes none either) */
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) && attr->create_flags)
		return -EOPNOTSUPP;
	if (attr->qp_type != IBV_QPT_RC && attr->qp_type != IBV_QPT_UD &&
	    attr->qp_type != IBV_QPT_UC)
		return -EOPNOTSUPP;
	ops_ok = attr->qp_type == IBV_QPT_RC   ? RXE_SEND_OPS_RC
		 : attr->qp_type == IBV_QPT_UC ? RXE_SEND_OPS_UC
					       : RXE_SEND_OPS_UD;
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) && (attr->send_ops_flags & ~ops_ok))
		return -EOPNOTSUPP;
	if (!(attr->comp_mask & IBV_QP_INIT_ATTR_PD) || !attr->pd)
		return -EINVAL;
	if (!attr->send_cq || !attr->recv_cq)
		return -EINVAL;
	if (cap->max_send_wr > RXE_MAX_QP_WR || cap->max_send_sge > RXE_MAX_SGE ||
	    cap->max_inline_data > RXE_MAX_INLINE_DATA)
		return -EINVAL;
	if (!attr->srq && (cap->max_recv_wr > RXE_MAX_QP_WR || cap->max_recv_sge > RXE_MAX_SGE))
		return -EINVAL;
	return 0;
}

/*
 * The send queue, and the receive queue unless an SRQ stands in for it.
 * A depth or scatter length of 0 gets 1; *cap is updated to what the QP
 * has, which the caller reports back. 0 or -ENOMEM.
 */
static int rxe_qp_alloc_queues(struct rxe_qp *qp, struct ibv_qp_cap *cap, bool srq)
{
	int ret;

	cap->max_send_wr = SODP_MAX(cap->max_send_wr, 1u);
	cap->max_send_sge = SODP_MAX(cap->max_send_sge, 1u);
	ret = rxe_wq_init(&qp->sq, cap->max_send_wr, cap->max_send_sge,
			  sizeof(struct rxe_send_wqe));
	if (ret)
		return ret;
	if (srq) {
		cap->max_recv_wr = 0;
		cap->max_recv_sge = 0;
		ret = rxe_wq_init(&qp->rq, 1, 1, sizeof(struct rxe_recv_wqe));
	} else {
		cap->max_recv_wr = SODP_MAX(cap->max_recv_wr, 1u);
		cap->max_recv_sge = SODP_MAX(cap->max_recv_sge, 1u);
		ret = rxe_wq_init(&qp->rq, cap->max_recv_wr, cap->max_recv_sge,
				  sizeof(struct rxe_recv_wqe));
	}
	if (ret)
		rxe_wq_fini(&qp->sq);
	return ret;
}

/* Everything but the QPN, before the engine can see the QP in dev->qps. */
static void rxe_qp_init_state(struct rxe_qp *qp, struct sodp_context *ctx,
			      const struct ibv_qp_init_attr_ex *attr)
{
	struct ibv_qp *ibqp = &qp->ibqp.qp_base;

	qp->max_inline = RXE_MAX_INLINE_DATA;
	qp->dev = ctx_dev(ctx);
	qp->ctx = ctx;
	qp->scq = to_rcq(attr->send_cq);
	qp->rcq = to_rcq(attr->recv_cq);
	qp->srq = attr->srq ? to_rsrq(attr->srq) : NULL;
	qp->sq_sig_all = attr->sq_sig_all;
	qp->resp.last_opcode = RXE_OPCODE_NONE;
	if (attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) {
		qp->send_ops = true;
		qp->send_ops_flags = attr->send_ops_flags;
	}
	ibqp->context = &ctx->vctx.context;
	ibqp->qp_context = attr->qp_context;
	ibqp->pd = attr->pd;
	ibqp->send_cq = attr->send_cq;
	ibqp->recv_cq = attr->recv_cq;
	ibqp->srq = attr->srq;
	ibqp->qp_type = attr->qp_type;
	pthread_mutex_init(&ibqp->mutex, NULL);
	pthread_cond_init(&ibqp->cond, NULL);
	rxe_qp_set_state(qp, IBV_QPS_RESET);
	qp->attr.cap = attr->cap;
	qp->attr.port_num = 1;
	qp->attr.path_mtu = RXE_DEFAULT_PATH_MTU;
	qp->mtu = rxe_mtu_bytes(RXE_DEFAULT_PATH_MTU);
	rxe_qp_ex_init(qp);
	rxe_qp_fault_init(qp);
}

/* Gives @qp a QPN and the engine sight of it: 0, or -ENOMEM with no QPN left. */
static int rxe_qp_publish(struct rxe_dev *dev, struct rxe_qp *qp)
{
	uint32_t qpn;

	rxe_dev_lock(dev);
	qpn = rxe_qpn_alloc(dev);
	if (!qpn) {
		pthread_mutex_unlock(&dev->lock);
		return -ENOMEM;
	}
	qp->ibqp.qp_base.qp_num = qpn;
	qp->ibqp.qp_base.handle = qpn;
	dev->qp_tbl[rxe_qpn_slot(qpn)] = qp;
	list_add_tail(&qp->node, &dev->qps);
	qp->scq->users++;
	qp->rcq->users++;
	if (qp->srq)
		qp->srq->users++;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

struct ibv_qp *rxe_create_qp(struct sodp_context *ctx, struct ibv_qp_init_attr_ex *attr)
{
	struct rxe_dev *dev = ctx_dev(ctx);
	struct rxe_qp *qp;
	int ret;

	ret = rxe_qp_chk_init(attr);
	if (ret)
		goto err;
	ret = rxe_dev_start(dev);
	if (ret)
		goto err;
	ret = -ENOMEM;
	qp = calloc(1, sizeof(*qp));
	if (!qp)
		goto err;
	ret = rxe_qp_alloc_queues(qp, &attr->cap, attr->srq);
	if (ret)
		goto err_free;
	attr->cap.max_inline_data = RXE_MAX_INLINE_DATA;
	rxe_qp_init_state(qp, ctx, attr);
	ret = rxe_qp_publish(dev, qp);
	if (ret)
		goto err_queues;
	return &qp->ibqp.qp_base;
err_queues:
	rxe_wq_fini(&qp->rq);
	rxe_wq_fini(&qp->sq);
err_free:
	free(qp);
err:
	errno = -ret;
	return NULL;
}

int rxe_destroy_qp(struct ibv_qp *ibqp)
{
	struct rxe_qp *qp = to_rqp(ibqp);
	struct rxe_dev *dev = qp->dev;

	rxe_dev_lock(dev);
	rxe_mw_qp_gone(qp);
	rxe_resp_release_ack(qp);
	dev->qp_tbl[rxe_qpn_slot(ibqp->qp_num)] = NULL;
	list_del_init(&qp->node);
	qp->scq->users--;
	qp->rcq->users--;
	if (qp->srq)
		qp->srq->users--;
	pthread_mutex_unlock(&dev->lock);
	rxe_qp_fault_cancel(qp);
	rxe_wq_fini(&qp->sq);
	rxe_wq_fini(&qp->rq);
	free(qp->resp.res);
	free(qp->resp.q);
	free(qp);
	return 0;
}

/* ---- modify / query ---- */

static int rxe_check_attr(struct rxe_qp *qp, const struct ibv_qp_attr *attr, int mask)
{
	if ((mask & IBV_QP_PORT) && attr->port_num != 1)
		return -EINVAL;
	if ((mask & IBV_QP_PKEY_INDEX) && attr->pkey_index >= RXE_MAX_PKEYS)
		return -EINVAL;
	if ((mask & IBV_QP_ACCESS_FLAGS) && (attr->qp_access_flags & ~RXE_QP_ACCESS))
		return -EINVAL;
	if ((mask & IBV_QP_PATH_MTU) &&
	    (attr->path_mtu < IBV_MTU_256 || attr->path_mtu > IBV_MTU_4096 ||
	     attr->path_mtu > qp->dev->active_mtu))
		return -EINVAL;
	if ((mask & IBV_QP_TIMEOUT) && attr->timeout > RXE_MAX_TIMEOUT)
		return -EINVAL;
	if ((mask & IBV_QP_RETRY_CNT) && attr->retry_cnt > RXE_MAX_RETRY_CNT)
		return -EINVAL;
	if ((mask & IBV_QP_RNR_RETRY) && attr->rnr_retry > RXE_MAX_RETRY_CNT)
		return -EINVAL;
	if ((mask & IBV_QP_MIN_RNR_TIMER) && attr->min_rnr_timer > RXE_MAX_RNR_TIMER)
		return -EINVAL;
	if ((mask & IBV_QP_MAX_QP_RD_ATOMIC) && attr->max_rd_atomic > RXE_MAX_QP_RD_ATOM)
		return -EINVAL;
	if ((mask & IBV_QP_MAX_DEST_RD_ATOMIC) && attr->max_dest_rd_atomic > RXE_MAX_QP_RD_ATOM)
		return -EINVAL;
	if ((mask & IBV_QP_DEST_QPN) && attr->dest_qp_num > RXE_QPN_MASK)
		return -EINVAL;
	if ((mask & IBV_QP_CAP) &&
	    (attr->cap.max_send_wr > qp->sq.max_wr || attr->cap.max_recv_wr > qp->rq.max_wr))
		return -EINVAL;
	if ((mask & IBV_QP_PATH_MIG_STATE) && attr->path_mig_state != IBV_MIG_MIGRATED)
		return -EINVAL;
	if (mask & IBV_QP_ALT_PATH)
		return -EINVAL; /* no alternate paths on RoCE here */
	return 0;
}

/*
 * The responder resources of an RC QP: @max_dest_rd_atomic READ/atomic
 * requests may be unanswered at once, rounded up to a power of two as
 * kernel rxe rounds them (so that a kernel requester, which rounds its
 * max_rd_atomic the same way, never exceeds them); as many are remembered
 * for duplicates; and the response queue has room for all their answers,
 * an ACK or NAK between each two, and replays. The queue keeps the
 * responses still pending. Under dev->lock; 0 or -ENOMEM.
 */
static int rxe_resp_resources(struct rxe_qp *qp, uint8_t max_dest_rd_atomic)
{
	struct rxe_resp_state *r = &qp->resp;
	uint32_t rd_max = max_dest_rd_atomic ? rxe_pow2_up(max_dest_rd_atomic) : 0;
	uint32_t pending = r->q_tail - r->q_head, nres = rd_max ? rd_max : 1, len, i;
	struct rxe_resp_entry *q;
	struct rxe_rd_res *res;

	len = rxe_pow2_up(2 * rd_max + RXE_RESPQ_SLACK + pending);
	res = calloc(nres, sizeof(*res));
	q = calloc(len, sizeof(*q));
	if (!res || !q) {
		free(res);
		free(q);
		return -ENOMEM;
	}
	for (i = 0; i < pending; i++)
		q[i] = r->q[(r->q_head + i) & (r->q_len - 1)];
	free(r->q);
	free(r->res);
	r->q = q;
	r->q_len = len;
	r->q_head = 0;
	r->q_tail = pending;
	r->rd_max = rd_max;
	r->res = res;
	r->nres = nres;
	r->res_next = 0;
	return 0;
}

/*
 * Whether @mask may move @qp from its state to *next (IBA 11.2.6.1, table
 * 91: the attributes each transition requires and those it allows), and
 * whether every attribute in @mask is one the QP can take. No side effect;
 * under dev->lock. 0 or -EINVAL.
 */
static int rxe_qp_chk_attr(struct rxe_qp *qp, const struct ibv_qp_attr *attr, int mask,
			   enum ibv_qp_state *next)
{
	int ti = rxe_qpt_index(qp->ibqp.qp_base.qp_type);
	enum ibv_qp_state cur = qp->state;
	const struct rxe_qp_trans *t;

	if ((mask & IBV_QP_CUR_STATE) && attr->cur_qp_state != cur &&
	    !(cur == IBV_QPS_SQE && attr->cur_qp_state == IBV_QPS_SQE))
		return -EINVAL;
	*next = (mask & IBV_QP_STATE) ? attr->qp_state : cur;
	if ((unsigned int)*next > IBV_QPS_ERR || (unsigned int)cur > IBV_QPS_ERR)
		return -EINVAL;
	t = &rxe_qp_table[cur][*next];
	if (!t->valid)
		return -EINVAL;
	if ((mask & t->req[ti]) != t->req[ti])
		return -EINVAL;
	if (mask & ~(t->req[ti] | t->opt[ti] | IBV_QP_STATE | IBV_QP_CAP))
		return -EINVAL;
	return rxe_check_attr(qp, attr, mask);
}

/* Copies the attributes in @mask into @qp (checked; @av from attr->ah_attr). */
static void rxe_qp_set_attr(struct rxe_qp *qp, const struct ibv_qp_attr *attr, int mask,
			    const struct rxe_av *av)
{
	if (mask & IBV_QP_ACCESS_FLAGS)
		qp->attr.qp_access_flags = attr->qp_access_flags;
	if (mask & IBV_QP_PKEY_INDEX)
		qp->attr.pkey_index = attr->pkey_index;
	if (mask & IBV_QP_PORT)
		qp->attr.port_num = attr->port_num;
	if (mask & IBV_QP_QKEY)
		qp->attr.qkey = attr->qkey;
	if (mask & IBV_QP_AV) {
		qp->attr.ah_attr = attr->ah_attr;
		qp->av = *av;
	}
	if (mask & IBV_QP_PATH_MTU) {
		qp->attr.path_mtu = attr->path_mtu;
		qp->mtu = rxe_mtu_bytes(attr->path_mtu);
	}
	if (mask & IBV_QP_TIMEOUT)
		qp->attr.timeout = attr->timeout;
	if (mask & IBV_QP_RETRY_CNT) {
		qp->attr.retry_cnt = attr->retry_cnt;
		qp->comp.retry_left = attr->retry_cnt;
	}
	if (mask & IBV_QP_RNR_RETRY) {
		qp->attr.rnr_retry = attr->rnr_retry;
		qp->comp.rnr_left = attr->rnr_retry;
	}
	if (mask & IBV_QP_MIN_RNR_TIMER)
		qp->attr.min_rnr_timer = attr->min_rnr_timer;
	if (mask & IBV_QP_MAX_QP_RD_ATOMIC)
		qp->attr.max_rd_atomic = attr->max_rd_atomic;
	if (mask & IBV_QP_MAX_DEST_RD_ATOMIC)
		qp->attr.max_dest_rd_atomic = attr->max_dest_rd_atomic;
	if (mask & IBV_QP_DEST_QPN) {
		qp->attr.dest_qp_num = attr->dest_qp_num;
		qp->sport = rxe_rc_sport(qp->ibqp.qp_base.qp_num, attr->dest_qp_num);
	}
	if (mask & IBV_QP_RQ_PSN) {
		qp->attr.rq_psn = attr->rq_psn & RXE_PSN_MASK;
		qp->resp.psn = qp->attr.rq_psn;
	}
	if (mask & IBV_QP_SQ_PSN) {
		qp->attr.sq_psn = attr->sq_psn & RXE_PSN_MASK;
		qp->req.psn = qp->attr.sq_psn;
		qp->req.last_psn = rxe_psn_add(qp->attr.sq_psn, -1);
		qp->comp.psn = qp->attr.sq_psn;
	}
	if (mask & IBV_QP_EN_SQD_ASYNC_NOTIFY)
		qp->attr.en_sqd_async_notify = attr->en_sqd_async_notify;
}

/* Moves @qp from @cur to @next, with what entering @next does. */
static void rxe_qp_set_next_state(struct rxe_qp *qp, enum ibv_qp_state cur, enum ibv_qp_state next)
{
	if (next == IBV_QPS_RESET || next == IBV_QPS_ERR)
		rxe_resp_release_ack(qp);
	if (next == IBV_QPS_RESET) {
		rxe_qp_reset_state(qp);
	} else if (next == IBV_QPS_ERR) {
		rxe_qp_enter_error(qp);
	} else if (next == IBV_QPS_RTR && cur == IBV_QPS_INIT) {
		qp->resp.last_opcode = RXE_OPCODE_NONE;
		qp->resp.msn = 0;
	} else if (next == IBV_QPS_RTS && cur == IBV_QPS_RTR) {
		qp->req.wqe_idx = qp->sq.cons;
		qp->comp.retry_left = qp->attr.retry_cnt;
		qp->comp.rnr_left = qp->attr.rnr_retry;
	}
	qp->sq_draining = next == IBV_QPS_SQD;
	rxe_qp_set_state(qp, next);
}

/*
 * ibv_modify_qp() in two phases, as the kernel's rxe_qp_chk_attr() and
 * rxe_qp_from_attr(): everything that can fail, with no side effect (the
 * transition, the attribute values, the address vector), then the
 * responder resources, the one allocation, and only when they exist the
 * attributes and the state. A failed modify leaves the QP as it was.
 */
int rxe_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask)
{
	struct rxe_qp *qp = to_rqp(ibqp);
	struct rxe_dev *dev = qp->dev;
	enum ibv_qp_state cur, next;
	struct rxe_av av;
	int ret;

	if (mask & ~RXE_QP_ATTR_KNOWN)
		return -EOPNOTSUPP;
	rxe_dev_lock(dev);
	cur = qp->state;
	ret = rxe_qp_chk_attr(qp, attr, mask, &next);
	if (!ret && (mask & IBV_QP_AV))
		ret = rxe_av_from_ah_attr(&av, &attr->ah_attr, dev);
	if (!ret && (mask & IBV_QP_MAX_DEST_RD_ATOMIC) && ibqp->qp_type == IBV_QPT_RC)
		ret = rxe_resp_resources(qp, attr->max_dest_rd_atomic);
	if (!ret) {
		rxe_qp_set_attr(qp, attr, mask, &av);
		if (mask & IBV_QP_STATE)
			rxe_qp_set_next_state(qp, cur, next);
	}
	pthread_mutex_unlock(&dev->lock);
	if (!ret)
		rxe_doorbell(dev);
	return ret;
}

int rxe_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask,
		 struct ibv_qp_init_attr *init)
{
	struct rxe_qp *qp = to_rqp(ibqp);

	rxe_dev_lock(qp->dev);
	*attr = qp->attr;
	attr->qp_state = qp->state;
	attr->cur_qp_state = qp->state;
	attr->sq_draining = qp->state == IBV_QPS_SQD && qp->sq.cons != qp->sq.prod;
	attr->cap.max_send_wr = qp->sq.max_wr;
	attr->cap.max_send_sge = qp->sq.max_sge;
	attr->cap.max_recv_wr = qp->srq ? 0 : qp->rq.max_wr;
	attr->cap.max_recv_sge = qp->srq ? 0 : qp->rq.max_sge;
	attr->cap.max_inline_data = qp->max_inline;
	pthread_mutex_unlock(&qp->dev->lock);
	if (init) {
		memset(init, 0, sizeof(*init));
		init->qp_context = ibqp->qp_context;
		init->send_cq = ibqp->send_cq;
		init->recv_cq = ibqp->recv_cq;
		init->srq = ibqp->srq;
		init->cap = attr->cap;
		init->qp_type = ibqp->qp_type;
		init->sq_sig_all = qp->sq_sig_all;
	}
	return 0;
}

/* ---- posting ---- */

/* Which opcodes each transport takes, as kernel rxe's rxe_wr_opcode_info. */
static bool rxe_opcode_ok(struct rxe_qp *qp, enum ibv_wr_opcode op)
{
	switch (qp->ibqp.qp_base.qp_type) {
	case IBV_QPT_UD:
		return op == IBV_WR_SEND || op == IBV_WR_SEND_WITH_IMM;
	case IBV_QPT_UC:
		return op == IBV_WR_SEND || op == IBV_WR_SEND_WITH_IMM || op == IBV_WR_RDMA_WRITE ||
		       op == IBV_WR_RDMA_WRITE_WITH_IMM || op == IBV_WR_BIND_MW;
	default:
		return op == IBV_WR_SEND || op == IBV_WR_SEND_WITH_IMM ||
		       op == IBV_WR_SEND_WITH_INV || op == IBV_WR_RDMA_WRITE ||
		       op == IBV_WR_RDMA_WRITE_WITH_IMM || op == IBV_WR_RDMA_READ ||
		       op == IBV_WR_ATOMIC_CMP_AND_SWP || op == IBV_WR_ATOMIC_FETCH_AND_ADD ||
		       op == IBV_WR_ATOMIC_WRITE || op == IBV_WR_BIND_MW || op == IBV_WR_LOCAL_INV;
	}
}

/* Work requests the requester executes itself: nothing goes on the wire. */
bool rxe_wqe_is_local(const struct rxe_send_wqe *wqe)
{
	return wqe->opcode == IBV_WR_BIND_MW || wqe->opcode == IBV_WR_LOCAL_INV;
}

/* A bind or local invalidate WR: what it names, no scatter list. */
static int rxe_fill_local_wqe(struct rxe_qp *qp, struct rxe_send_wqe *wqe,
			      const struct ibv_send_wr *wr)
{
	const struct ibv_mw_bind_info *bi = &wr->bind_mw.bind_info;
	int ret;

	wqe->num_sge = 0;
	wqe->length = 0;
	if (wr->opcode == IBV_WR_LOCAL_INV) {
		wqe->invalidate_rkey = wr->invalidate_rkey;
		return 0;
	}
	ret = rxe_mw_bind_args(qp, wr);
	if (ret)
		return ret;
	wqe->mw_rkey = wr->bind_mw.mw->rkey;
	wqe->rkey = wr->bind_mw.rkey;
	wqe->mr_lkey = bi->mr ? bi->mr->lkey : 0;
	wqe->remote_addr = bi->addr;
	wqe->bind_len = bi->length;
	wqe->bind_access = bi->mw_access_flags;
	return 0;
}

static bool rxe_is_atomic(enum ibv_wr_opcode op)
{
	return op == IBV_WR_ATOMIC_CMP_AND_SWP || op == IBV_WR_ATOMIC_FETCH_AND_ADD;
}

/* Bytes an ATOMIC WRITE stores at the target (IBA 1.5, kernel rxe). */
#define RXE_ATOMIC_WRITE_LEN 8

/* Checks a filled WQE; 0 or a negative errno for the post path. */
static int rxe_wqe_check(struct rxe_qp *qp, struct rxe_send_wqe *wqe)
{
	if (!rxe_opcode_ok(qp, wqe->opcode))
		return -EINVAL;
	if (wqe->num_sge > qp->sq.max_sge)
		return -EINVAL;
	if (wqe->inline_data && (wqe->opcode == IBV_WR_RDMA_READ || rxe_is_atomic(wqe->opcode)))
		return -EINVAL;
	if (rxe_is_atomic(wqe->opcode) && (wqe->num_sge != 1 || wqe->length < 8))
		return -EINVAL;
	/*
	 * ATOMIC WRITE carries exactly the 8 bytes its scatter list (or
	 * inline data) describes: the responder NAKs any other length.
	 */
	if (wqe->opcode == IBV_WR_ATOMIC_WRITE && wqe->length != RXE_ATOMIC_WRITE_LEN)
		return -EINVAL;
	if (wqe->length > RXE_MAX_MSG_SIZE)
		return -EINVAL;
	if (qp->ibqp.qp_base.qp_type == IBV_QPT_UD &&
	    wqe->length > rxe_mtu_bytes(qp->dev->active_mtu))
		return -EINVAL;
	if (rxe_is_atomic(wqe->opcode))
		wqe->length = 8;
	return 0;
}

/*
 * Whether the CPU may copy @len bytes of inline data from @addr: not from
 * address 0 and not across the end of the address space (a caller's bad
 * pointer is EINVAL, as far as it can be told, not a crash).
 */
static bool rxe_inline_src_ok(uintptr_t addr, size_t len)
{
	return !len || (addr && addr + len > addr);
}

static int rxe_fill_wqe(struct rxe_qp *qp, struct rxe_send_wqe *wqe, struct ibv_send_wr *wr)
{
	uint64_t len = 0; /* of up to RXE_MAX_SGE lengths of 32 bits: no wrap */
	uint32_t i;

	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->sq.max_sge)
		return -EINVAL;
	if (wr->num_sge && !wr->sg_list)
		return -EINVAL;
	/* before the union in wr->wr is read as the opcode's member */
	if (!rxe_opcode_ok(qp, wr->opcode))
		return -EINVAL;
	wqe->wr_id = wr->wr_id;
	wqe->opcode = wr->opcode;
	wqe->send_flags = wr->send_flags;
	wqe->imm_data = wr->imm_data;
	wqe->inline_data = false;
	wqe->num_sge = 0;
	wqe->state = WQE_POSTED;
	wqe->err = 0;
	if (rxe_wqe_is_local(wqe))
		return rxe_fill_local_wqe(qp, wqe, wr);
	if (wr->opcode == IBV_WR_SEND_WITH_INV)
		wqe->invalidate_rkey = wr->invalidate_rkey;
	if (rxe_is_atomic(wr->opcode)) {
		wqe->remote_addr = wr->wr.atomic.remote_addr;
		wqe->rkey = wr->wr.atomic.rkey;
		wqe->compare_add = wr->wr.atomic.compare_add;
		wqe->swap = wr->wr.atomic.swap;
	} else {
		wqe->remote_addr = wr->wr.rdma.remote_addr;
		wqe->rkey = wr->wr.rdma.rkey;
	}
	if (qp->ibqp.qp_base.qp_type == IBV_QPT_UD) {
		if (!wr->wr.ud.ah)
			return -EINVAL;
		wqe->av = to_rah(wr->wr.ud.ah)->av;
		wqe->remote_qpn = wr->wr.ud.remote_qpn;
		wqe->remote_qkey = wr->wr.ud.remote_qkey;
	}
	if ((wr->send_flags & IBV_SEND_INLINE) && wr->opcode != IBV_WR_RDMA_READ &&
	    !rxe_is_atomic(wr->opcode)) {
		for (i = 0; i < (uint32_t)wr->num_sge; i++) {
			const struct ibv_sge *sge = &wr->sg_list[i];

			if (sge->length > qp->max_inline - len)
				return -EINVAL;
			if (!rxe_inline_src_ok(sge->addr, sge->length))
				return -EINVAL;
			memcpy(wqe->inline_buf + len, (void *)(uintptr_t)sge->addr, sge->length);
			len += sge->length;
		}
		wqe->inline_data = true;
	} else {
		for (i = 0; i < (uint32_t)wr->num_sge; i++) {
			wqe->sge[i] = wr->sg_list[i];
			len += wr->sg_list[i].length;
		}
		wqe->num_sge = wr->num_sge;
	}
	if (len > RXE_MAX_MSG_SIZE)
		return -EINVAL;
	wqe->length = (uint32_t)len;
	return rxe_wqe_check(qp, wqe);
}

int rxe_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr)
{
	struct rxe_qp *qp = to_rqp(ibqp);
	enum ibv_qp_state st = READ_ONCE(qp->state);
	uint32_t prod, before;
	int ret = 0;

	if (!bad_wr)
		return EINVAL;
	*bad_wr = NULL;
	if (st == IBV_QPS_RESET || st == IBV_QPS_INIT || st == IBV_QPS_RTR) {
		*bad_wr = wr;
		return EINVAL;
	}
	pthread_mutex_lock(&qp->sq.lock);
	prod = before = qp->sq.prod;
	for (; wr; wr = wr->next) {
		if (prod - __atomic_load_n(&qp->sq.cons, __ATOMIC_ACQUIRE) >= qp->sq.max_wr) {
			ret = ENOMEM;
			break;
		}
		ret = -rxe_fill_wqe(qp, rxe_wq_slot(&qp->sq, prod), wr);
		if (ret)
			break;
		prod++;
	}
	if (ret)
		*bad_wr = wr;
	if (prod != qp->sq.prod) {
		__atomic_store_n(&qp->sq.prod, prod, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&qp->sq.lock);
		rxe_kick(qp, before);
	} else {
		pthread_mutex_unlock(&qp->sq.lock);
	}
	return ret;
}

int rxe_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr)
{
	struct rxe_qp *qp = to_rqp(ibqp);
	int ret;

	if (!bad_wr)
		return EINVAL;
	*bad_wr = NULL;
	if (qp->srq || READ_ONCE(qp->state) == IBV_QPS_RESET) {
		*bad_wr = wr;
		return EINVAL;
	}
	pthread_mutex_lock(&qp->rq.lock);
	ret = rxe_wq_post_recv(&qp->rq, wr, bad_wr);
	pthread_mutex_unlock(&qp->rq.lock);
	if (READ_ONCE(qp->state) == IBV_QPS_ERR)
		rxe_doorbell(qp->dev);
	return -ret;
}

int rxe_attach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid)
{
	return -EOPNOTSUPP;
}

int rxe_detach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid)
{
	return -EOPNOTSUPP;
}

/* ---- ibv_wr_* ---- */

static inline struct rxe_qp *ex_to_rqp(struct ibv_qp_ex *ex)
{
	return container_of(ex, struct rxe_qp, ibqp);
}

static struct rxe_send_wqe *rxe_wr_new(struct ibv_qp_ex *ex, enum ibv_wr_opcode op)
{
	struct rxe_qp *qp = ex_to_rqp(ex);
	uint32_t idx = qp->sq.prod + qp->wr_pending;
	struct rxe_send_wqe *wqe;

	qp->wr_cur = NULL;
	if (qp->wr_err)
		return NULL;
	if (idx - __atomic_load_n(&qp->sq.cons, __ATOMIC_ACQUIRE) >= qp->sq.max_wr) {
		qp->wr_err = ENOMEM;
		return NULL;
	}
	wqe = rxe_wq_slot(&qp->sq, idx);
	memset(wqe, 0, offsetof(struct rxe_send_wqe, sge));
	wqe->wr_id = ex->wr_id;
	wqe->send_flags = ex->wr_flags;
	wqe->opcode = op;
	wqe->state = WQE_POSTED;
	qp->wr_pending++;
	qp->wr_cur = wqe;
	return wqe;
}

static void rxe_wr_send(struct ibv_qp_ex *ex)
{
	rxe_wr_new(ex, IBV_WR_SEND);
}

static void rxe_wr_send_imm(struct ibv_qp_ex *ex, __be32 imm)
{
	struct rxe_send_wqe *w = rxe_wr_new(ex, IBV_WR_SEND_WITH_IMM);

	if (w)
		w->imm_data = imm;
}

static void rxe_wr_send_inv(struct ibv_qp_ex *ex, uint32_t rkey)
{
	struct rxe_send_wqe *w = rxe_wr_new(ex, IBV_WR_SEND_WITH_INV);

	if (w)
		w->invalidate_rkey = rkey;
}

static void rxe_wr_rdma_write(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t addr)
{
	struct rxe_send_wqe *w = rxe_wr_new(ex, IBV_WR_RDMA_WRITE);

	if (w) {
		w->rkey = rkey;
		w->remote_addr = addr;
	}
}

static void rxe_wr_rdma_write_imm(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t addr, __be32 imm)
{
	struct rxe_send_wqe *w = rxe_wr_new(ex, IBV_WR_RDMA_WRITE_WITH_IMM);

	if (w) {
		w->rkey = rkey;
		w->remote_addr = addr;
		w->imm_data = imm;
	}
}

static void rxe_wr_rdma_read(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t addr)
{
	struct rxe_send_wqe *w = rxe_wr_new(ex, IBV_WR_RDMA_READ);

	if (w) {
		w->rkey = rkey;
		w->remote_addr = addr;
	}
}

static void rxe_wr_cmp_swp(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t addr, uint64_t compare,
			   uint64_t swap)
{
	struct rxe_send_wqe *w = rxe_wr_new(ex, IBV_WR_ATOMIC_CMP_AND_SWP);

	if (w) {
		w->rkey = rkey;
		w->remote_addr = addr;
		w->compare_add = compare;
		w->swap = swap;
	}
}

static void rxe_wr_fetch_add(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t addr, uint64_t add)
{
	struct rxe_send_wqe *w = rxe_wr_new(ex, IBV_WR_ATOMIC_FETCH_AND_ADD);

	if (w) {
		w->rkey = rkey;
		w->remote_addr = addr;
		w->compare_add = add;
	}
}

/* The 8 bytes at @atomic_wr are taken now, as inline data would be. */
static void rxe_wr_atomic_write(struct ibv_qp_ex *ex, uint32_t rkey, uint64_t addr,
				const void *atomic_wr)
{
	struct rxe_send_wqe *w = rxe_wr_new(ex, IBV_WR_ATOMIC_WRITE);

	if (w) {
		w->rkey = rkey;
		w->remote_addr = addr;
		memcpy(w->inline_buf, atomic_wr, RXE_ATOMIC_WRITE_LEN);
		w->inline_data = true;
		w->length = RXE_ATOMIC_WRITE_LEN;
	}
}

static void rxe_wr_bind_mw(struct ibv_qp_ex *ex, struct ibv_mw *mw, uint32_t rkey,
			   const struct ibv_mw_bind_info *info)
{
	struct rxe_qp *qp = ex_to_rqp(ex);
	struct rxe_send_wqe *w = rxe_wr_new(ex, IBV_WR_BIND_MW);
	struct ibv_send_wr wr;

	if (!w)
		return;
	memset(&wr, 0, sizeof(wr));
	wr.opcode = IBV_WR_BIND_MW;
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = rkey;
	if (info)
		wr.bind_mw.bind_info = *info;
	if (!info || rxe_fill_local_wqe(qp, w, &wr))
		qp->wr_err = EINVAL;
}

static void rxe_wr_local_inv(struct ibv_qp_ex *ex, uint32_t rkey)
{
	struct rxe_send_wqe *w = rxe_wr_new(ex, IBV_WR_LOCAL_INV);

	if (w)
		w->invalidate_rkey = rkey;
}

static void rxe_wr_set_ud_addr(struct ibv_qp_ex *ex, struct ibv_ah *ah, uint32_t remote_qpn,
			       uint32_t remote_qkey)
{
	struct rxe_qp *qp = ex_to_rqp(ex);
	struct rxe_send_wqe *w = qp->wr_cur;

	if (!w)
		return;
	if (!ah) {
		qp->wr_err = EINVAL;
		return;
	}
	w->av = to_rah(ah)->av;
	w->remote_qpn = remote_qpn;
	w->remote_qkey = remote_qkey;
}

static void rxe_wr_set_sge(struct ibv_qp_ex *ex, uint32_t lkey, uint64_t addr, uint32_t length)
{
	struct rxe_send_wqe *w = ex_to_rqp(ex)->wr_cur;

	if (!w)
		return;
	w->inline_data = false;
	w->num_sge = 1;
	w->sge[0].lkey = lkey;
	w->sge[0].addr = addr;
	w->sge[0].length = length;
	w->length = length;
}

static void rxe_wr_set_sge_list(struct ibv_qp_ex *ex, size_t num, const struct ibv_sge *sg)
{
	struct rxe_qp *qp = ex_to_rqp(ex);
	struct rxe_send_wqe *w = qp->wr_cur;
	uint64_t len = 0;
	size_t i;

	if (!w)
		return;
	if (num > qp->sq.max_sge || (num && !sg)) {
		qp->wr_err = EINVAL;
		return;
	}
	w->inline_data = false;
	w->num_sge = num;
	for (i = 0; i < num; i++) {
		w->sge[i] = sg[i];
		len += sg[i].length;
	}
	if (len > RXE_MAX_MSG_SIZE)
		qp->wr_err = EINVAL;
	w->length = (uint32_t)len;
}

static void rxe_wr_set_inline_data_list(struct ibv_qp_ex *ex, size_t num,
					const struct ibv_data_buf *buf)
{
	struct rxe_qp *qp = ex_to_rqp(ex);
	struct rxe_send_wqe *w = qp->wr_cur;
	size_t i, len = 0;

	if (!w)
		return;
	if (num && !buf) {
		qp->wr_err = EINVAL;
		return;
	}
	for (i = 0; i < num; i++) {
		if (buf[i].length > qp->max_inline - len ||
		    !rxe_inline_src_ok((uintptr_t)buf[i].addr, buf[i].length)) {
			qp->wr_err = EINVAL;
			return;
		}
		memcpy(w->inline_buf + len, buf[i].addr, buf[i].length);
		len += buf[i].length;
	}
	w->inline_data = true;
	w->num_sge = 0;
	w->length = len;
}

static void rxe_wr_set_inline_data(struct ibv_qp_ex *ex, void *addr, size_t length)
{
	struct ibv_data_buf b = {.addr = addr, .length = length};

	rxe_wr_set_inline_data_list(ex, 1, &b);
}

static void rxe_wr_start(struct ibv_qp_ex *ex)
{
	struct rxe_qp *qp = ex_to_rqp(ex);

	pthread_mutex_lock(&qp->sq.lock);
	qp->wr_pending = 0;
	qp->wr_err = 0;
	qp->wr_cur = NULL;
}

static int rxe_wr_complete(struct ibv_qp_ex *ex)
{
	struct rxe_qp *qp = ex_to_rqp(ex);
	enum ibv_qp_state st = READ_ONCE(qp->state);
	uint32_t i;
	int ret = qp->wr_err;
	uint32_t before = qp->sq.prod;

	if (!ret && (st == IBV_QPS_RESET || st == IBV_QPS_INIT || st == IBV_QPS_RTR))
		ret = EINVAL;
	for (i = 0; !ret && i < qp->wr_pending; i++)
		ret = -rxe_wqe_check(qp, rxe_wq_slot(&qp->sq, qp->sq.prod + i));
	if (!ret && qp->wr_pending)
		__atomic_store_n(&qp->sq.prod, qp->sq.prod + qp->wr_pending, __ATOMIC_RELEASE);
	qp->wr_pending = 0;
	qp->wr_cur = NULL;
	pthread_mutex_unlock(&qp->sq.lock);
	if (!ret)
		rxe_kick(qp, before);
	return ret;
}

static void rxe_wr_abort(struct ibv_qp_ex *ex)
{
	struct rxe_qp *qp = ex_to_rqp(ex);

	qp->wr_pending = 0;
	qp->wr_cur = NULL;
	pthread_mutex_unlock(&qp->sq.lock);
}

static void rxe_qp_ex_init(struct rxe_qp *qp)
{
	struct ibv_qp_ex *ex = &qp->ibqp;

	ex->wr_send = rxe_wr_send;
	ex->wr_send_imm = rxe_wr_send_imm;
	ex->wr_send_inv = rxe_wr_send_inv;
	ex->wr_rdma_write = rxe_wr_rdma_write;
	ex->wr_rdma_write_imm = rxe_wr_rdma_write_imm;
	ex->wr_rdma_read = rxe_wr_rdma_read;
	ex->wr_atomic_cmp_swp = rxe_wr_cmp_swp;
	ex->wr_atomic_fetch_add = rxe_wr_fetch_add;
	ex->wr_atomic_write = rxe_wr_atomic_write;
	ex->wr_bind_mw = rxe_wr_bind_mw;
	ex->wr_local_inv = rxe_wr_local_inv;
	ex->wr_set_ud_addr = rxe_wr_set_ud_addr;
	ex->wr_set_sge = rxe_wr_set_sge;
	ex->wr_set_sge_list = rxe_wr_set_sge_list;
	ex->wr_set_inline_data = rxe_wr_set_inline_data;
	ex->wr_set_inline_data_list = rxe_wr_set_inline_data_list;
	ex->wr_start = rxe_wr_start;
	ex->wr_complete = rxe_wr_complete;
	ex->wr_abort = rxe_wr_abort;
}

struct ibv_qp_ex *rxe_qp_to_qp_ex(struct ibv_qp *ibqp)
{
	struct rxe_qp *qp = to_rqp(ibqp);

	return qp->send_ops ? &qp->ibqp : NULL;
}
