// SPDX-License-Identifier: MIT
/*
 * The completer: consumes ACKs, NAKs, READ responses and atomic ACKs, retires
 * send WQEs in order, and runs the retransmission timer. An ATOMIC WRITE is
 * answered, as by kernel rxe, with an RDMA READ response of no data.
 *
 * comp.psn is the oldest PSN not yet acknowledged. An ACK for PSN p
 * acknowledges everything up to p (IBA 9.7.5.1.2). A READ response or an
 * atomic ACK implicitly acknowledges the SEND/WRITE requests before it; an
 * ACK whose PSN covers a READ or atomic request whose response never came
 * means the response was lost, so the requester goes back to it.
 *
 * Retry policy: a PSN sequence error NAK rewinds without using up retry_cnt
 * (the responder told us exactly where to resume); a timeout uses one retry;
 * an RNR NAK uses one rnr_retry (7 = unlimited) and pauses the requester for
 * the responder's RNR timer. Forward progress restores both counters.
 *
 * Duplicated and reordered responses: only a response that moves comp.psn
 * or retires a WQE is progress; a repeated ACK neither restores the retry
 * counters nor pushes the retransmission timer back. Responses older than
 * comp.psn are stale and dropped, and so is any response while no request
 * is outstanding or for a PSN never sent (rxe_comp_psn_ok()). One rewind
 * per event: a repeated sequence NAK for the PSN already rewound to
 * (comp.nak_seen), an RNR NAK while the requester is already paused for
 * one, or another ACK past a READ/atomic whose response is already being
 * asked for again (comp.read_gap) is a copy of something already acted on.
 */
#include <errno.h>
#include <string.h>

#include "rxe.h"

/*
 * IBA table 45: the time each value of an RNR NAK's 5-bit timer field asks
 * for, in units of 10 us. Code 0 is the longest, 655.36 ms.
 */
static const uint32_t rxe_rnr_10us[32] = {
	65536, 1,    2,	   3,	 4,    6,     8,     12,    16,	   24,	  32,
	48,    64,   96,   128,	 192,  256,   384,   512,   768,   1024,  1536,
	2048,  3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768, 49152,
};

uint64_t rxe_rnr_ns(uint8_t code)
{
	return (uint64_t)rxe_rnr_10us[code % ARRAY_SIZE(rxe_rnr_10us)] * 10000; /* ns in 10 us */
}

/* Posted WQEs are visible up to here (post_send publishes prod with release). */
static uint32_t rxe_sq_prod(struct rxe_qp *qp)
{
	return __atomic_load_n(&qp->sq.prod, __ATOMIC_ACQUIRE);
}

static bool rxe_outstanding(struct rxe_qp *qp)
{
	struct rxe_send_wqe *w;

	if (qp->sq.cons == rxe_sq_prod(qp))
		return false;
	w = rxe_wq_slot(&qp->sq, qp->sq.cons);
	return w->state == WQE_STARTED || w->state == WQE_SENT;
}

static void rxe_comp_progress(struct rxe_qp *qp, uint64_t now)
{
	qp->comp.retry_left = qp->attr.retry_cnt;
	qp->comp.rnr_left = qp->attr.rnr_retry;
	if (qp->comp.nak_seen && rxe_psn_after(qp->comp.psn, qp->comp.nak_psn))
		qp->comp.nak_seen = false;
	/* while paused for an RNR NAK the requester re-arms the timer */
	if (rxe_outstanding(qp) && qp->attr.timeout && !qp->req.rnr_wait)
		qp->comp.deadline = now + rxe_timeout_ns(qp->attr.timeout);
	else
		qp->comp.deadline = 0;
}

/* Snapshot of the completer's position, to tell progress from a repeat. */
struct rxe_comp_mark {
	uint32_t psn;
	uint32_t cons;
};

static struct rxe_comp_mark rxe_comp_mark(struct rxe_qp *qp)
{
	return (struct rxe_comp_mark){.psn = qp->comp.psn, .cons = qp->sq.cons};
}

/* Restores the retry counters and the timer if anything moved since @m. */
static void rxe_comp_progress_since(struct rxe_qp *qp, struct rxe_comp_mark m, uint64_t now)
{
	if (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_SQD)
		return;
	if (m.psn != qp->comp.psn || m.cons != qp->sq.cons)
		rxe_comp_progress(qp, now);
}

/* Fails the WQE at sq.cons with @st and moves the QP to error. */
static void rxe_comp_fail(struct rxe_qp *qp, enum ibv_wc_status st)
{
	if (qp->sq.cons != rxe_sq_prod(qp)) {
		struct rxe_send_wqe *w = rxe_wq_slot(&qp->sq, qp->sq.cons);

		rxe_send_complete(qp, w, st);
	}
	rxe_qp_error(qp);
}

/*
 * Retires WQEs acknowledged up to and including @psn. With @explicit_ack
 * (an ACK packet), a READ/atomic the ACK covers lost its response: returns
 * true so that the caller rewinds.
 */
static bool rxe_comp_ack(struct rxe_qp *qp, uint32_t psn, bool explicit_ack)
{
	while (qp->sq.cons != rxe_sq_prod(qp)) {
		struct rxe_send_wqe *w = rxe_wq_slot(&qp->sq, qp->sq.cons);

		if (w->state != WQE_STARTED && w->state != WQE_SENT)
			break;
		if (rxe_wqe_is_rd(w))
			return explicit_ack && !rxe_psn_before(psn, w->first_psn);
		if (w->state == WQE_SENT && !rxe_psn_before(psn, w->last_psn)) {
			qp->comp.psn = rxe_psn_add(w->last_psn, 1);
			rxe_send_complete(qp, w, IBV_WC_SUCCESS);
			continue;
		}
		if (!rxe_psn_before(psn, qp->comp.psn) && !rxe_psn_after(psn, w->last_psn))
			qp->comp.psn = rxe_psn_add(psn, 1);
		break;
	}
	return false;
}

static void rxe_comp_rewind(struct rxe_qp *qp)
{
	rxe_req_rewind(qp, qp->comp.psn);
}

/* One READ response: data for the READ at sq.cons, in PSN order. */
static void rxe_comp_read(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	uint32_t psn = pkt->pi.h.bth.psn;
	struct rxe_send_wqe *w;
	uint32_t off;
	int ret;

	if (rxe_psn_before(psn, qp->comp.psn))
		return; /* stale: a replayed or duplicated response */
	rxe_comp_ack(qp, rxe_psn_add(psn, -1), false);
	if (qp->sq.cons == rxe_sq_prod(qp))
		return;
	w = rxe_wq_slot(&qp->sq, qp->sq.cons);
	if (w->opcode != IBV_WR_RDMA_READ || (w->state != WQE_STARTED && w->state != WQE_SENT))
		return;
	if (rxe_psn_before(psn, w->first_psn) || rxe_psn_after(psn, w->last_psn))
		return;
	if (rxe_psn_after(psn, qp->comp.psn)) {
		/* a response went missing: ask again from the gap, once */
		if (!qp->comp.read_gap) {
			qp->comp.read_gap = true;
			rxe_comp_rewind(qp);
		}
		return;
	}
	qp->comp.read_gap = false;
	off = (uint32_t)rxe_psn_diff(psn, w->first_psn) * qp->mtu;
	if (off > w->length || pkt->pi.paylen > w->length - off ||
	    (psn != w->last_psn && pkt->pi.paylen != qp->mtu)) {
		rxe_comp_fail(qp, IBV_WC_BAD_RESP_ERR);
		return;
	}
	/* the requester faulted the buffer in before asking (rxe_req_local_ready) */
	ret = rxe_sge_copy(qp->dev, qp->ibqp.qp_base.pd, w->sge, w->num_sge, off,
			   (void *)pkt->pi.payload, pkt->pi.paylen, true, NULL, NULL);
	if (ret) {
		rxe_comp_fail(qp, ret == -ENOSPC ? IBV_WC_LOC_LEN_ERR : IBV_WC_LOC_PROT_ERR);
		return;
	}
	qp->comp.psn = rxe_psn_add(psn, 1);
	if (psn == w->last_psn && (pkt->pi.mask & RXE_END_MASK))
		rxe_send_complete(qp, w, IBV_WC_SUCCESS);
}

static void rxe_comp_atomic(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	uint32_t psn = pkt->pi.h.bth.psn;
	uint64_t orig = pkt->pi.h.atmack_orig;
	struct rxe_send_wqe *w;
	int ret;

	if (rxe_psn_before(psn, qp->comp.psn))
		return; /* stale */
	rxe_comp_ack(qp, rxe_psn_add(psn, -1), false);
	if (qp->sq.cons == rxe_sq_prod(qp))
		return;
	w = rxe_wq_slot(&qp->sq, qp->sq.cons);
	if ((w->opcode != IBV_WR_ATOMIC_CMP_AND_SWP && w->opcode != IBV_WR_ATOMIC_FETCH_AND_ADD) ||
	    w->first_psn != psn || (w->state != WQE_STARTED && w->state != WQE_SENT))
		return;
	ret = rxe_sge_copy(qp->dev, qp->ibqp.qp_base.pd, w->sge, w->num_sge, 0, &orig, sizeof(orig),
			   true, NULL, NULL);
	if (ret) {
		rxe_comp_fail(qp, ret == -ENOSPC ? IBV_WC_LOC_LEN_ERR : IBV_WC_LOC_PROT_ERR);
		return;
	}
	qp->comp.read_gap = false;
	qp->comp.psn = rxe_psn_add(psn, 1);
	rxe_send_complete(qp, w, IBV_WC_SUCCESS);
}

/*
 * A READ response of no data that answers the ATOMIC WRITE at the head of
 * the send queue (kernel rxe's send_read_response_ack()). Returns false
 * when the head WQE is not an ATOMIC WRITE: the packet is then a READ's.
 */
static bool rxe_comp_atomic_write(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	uint32_t psn = pkt->pi.h.bth.psn;
	struct rxe_send_wqe *w;

	if (rxe_psn_before(psn, qp->comp.psn))
		return false; /* stale: rxe_comp_read() ignores it too */
	rxe_comp_ack(qp, rxe_psn_add(psn, -1), false);
	if (qp->sq.cons == rxe_sq_prod(qp))
		return true;
	w = rxe_wq_slot(&qp->sq, qp->sq.cons);
	if (w->opcode != IBV_WR_ATOMIC_WRITE)
		return false;
	if (w->first_psn != psn || (w->state != WQE_STARTED && w->state != WQE_SENT))
		return true;
	qp->comp.read_gap = false;
	qp->comp.psn = rxe_psn_add(psn, 1);
	rxe_send_complete(qp, w, IBV_WC_SUCCESS);
	return true;
}

/* An ACK for @psn: everything up to it is acknowledged. */
static void rxe_comp_explicit_ack(struct rxe_qp *qp, uint32_t psn)
{
	if (rxe_psn_before(psn, rxe_psn_add(qp->comp.psn, -1)))
		return; /* stale */
	if (!rxe_comp_ack(qp, psn, true))
		return;
	/*
	 * The responder got past a READ/atomic whose response is missing:
	 * lost, or still behind this ACK on a reordering path. Ask again
	 * (the responder replays it), once until a response arrives.
	 */
	if (!qp->comp.read_gap) {
		qp->comp.read_gap = true;
		rxe_comp_rewind(qp);
	}
}

static void rxe_comp_nak(struct rxe_qp *qp, uint32_t psn, uint8_t code, uint64_t now)
{
	static const enum ibv_wc_status st[] = {
		[RXE_NAK_INVALID_REQUEST] = IBV_WC_REM_INV_REQ_ERR,
		[RXE_NAK_REM_ACCESS_ERROR] = IBV_WC_REM_ACCESS_ERR,
		[RXE_NAK_REM_OP_ERROR] = IBV_WC_REM_OP_ERR,
		[RXE_NAK_INVALID_RD_REQUEST] = IBV_WC_REM_INV_RD_REQ_ERR,
	};

	if (rxe_psn_before(psn, qp->comp.psn))
		return; /* stale */
	rxe_comp_ack(qp, rxe_psn_add(psn, -1), false);
	if (code == RXE_NAK_PSN_SEQ_ERROR) {
		/*
		 * The responder NAKs a sequence error once until it receives
		 * @psn, so a second NAK for the PSN we already went back to
		 * is a copy; going back again would only resend more.
		 */
		if (qp->comp.nak_seen && qp->comp.nak_psn == psn)
			return;
		qp->comp.nak_seen = true;
		qp->comp.nak_psn = psn;
		/*
		 * Resume from the oldest unacknowledged PSN, not from @psn: a
		 * READ or atomic before @psn may still miss its response.
		 */
		rxe_comp_rewind(qp);
		if (qp->attr.timeout && !qp->req.rnr_wait)
			qp->comp.deadline = now + rxe_timeout_ns(qp->attr.timeout);
		return;
	}
	rxe_comp_fail(qp, code < ARRAY_SIZE(st) && st[code] ? st[code] : IBV_WC_REM_OP_ERR);
}

static void rxe_comp_rnr(struct rxe_qp *qp, uint32_t psn, uint8_t timer, uint64_t now,
			 struct rxe_comp_mark m)
{
	if (rxe_psn_before(psn, qp->comp.psn))
		return; /* stale */
	rxe_comp_ack(qp, rxe_psn_add(psn, -1), false);
	/* what the RNR NAK implicitly acknowledges is progress */
	rxe_comp_progress_since(qp, m, now);
	/*
	 * The requester is already paused for an RNR NAK: this one is a copy
	 * of it, or was sent for a packet that was in flight with it. Either
	 * way it must not use up another rnr_retry.
	 */
	if (qp->req.rnr_wait)
		return;
	if (qp->comp.rnr_left != 7) {
		if (!qp->comp.rnr_left) {
			rxe_comp_fail(qp, IBV_WC_RNR_RETRY_EXC_ERR);
			return;
		}
		qp->comp.rnr_left--;
	}
	rxe_comp_rewind(qp);
	qp->comp.nak_seen = false;
	qp->req.rnr_wait = true;
	qp->req.rnr_until = now + rxe_rnr_ns(timer);
	qp->comp.deadline = 0;
}

/*
 * Whether a response for @psn may answer something: a request must be
 * outstanding, and @psn must lie between the oldest unacknowledged PSN and
 * the last PSN given to a request (kernel rxe's completer finds no WQE, or
 * a PSN past it, and drops the packet). The responder never answers
 * anything else, so whatever else arrives is a stale copy or forged: an
 * ACK, NAK or RNR NAK out of that window neither retires a WQE nor fails
 * one, and cannot take an idle QP to the error state.
 */
static bool rxe_comp_psn_ok(struct rxe_qp *qp, uint32_t psn)
{
	return rxe_outstanding(qp) && !rxe_psn_before(psn, qp->comp.psn) &&
	       !rxe_psn_after(psn, qp->req.last_psn);
}

/* Handles one response packet for @qp. Engine, under dev->lock. */
void rxe_completer(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	uint32_t psn = pkt->pi.h.bth.psn;
	uint8_t syn = pkt->pi.h.aeth.syndrome;
	uint64_t now = rxe_now();
	struct rxe_comp_mark m = rxe_comp_mark(qp);

	if (qp->ibqp.qp_base.qp_type != IBV_QPT_RC)
		return;
	if (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_SQD)
		return;
	if ((pkt->pi.opcode & IB_OPCODE_TRANSPORT_MASK) != IB_OPCODE_RC)
		return;
	if (!rxe_comp_psn_ok(qp, psn)) {
		qp->dev->rx_drops[RXE_DROP_RESPONSE]++;
		return;
	}
	switch (pkt->pi.opcode) {
	case IB_OPCODE_RC_ACKNOWLEDGE:
		switch (rxe_aeth_syn_type(syn)) {
		case RXE_AETH_ACK:
			rxe_comp_explicit_ack(qp, psn);
			break;
		case RXE_AETH_RNR_NAK:
			rxe_comp_rnr(qp, psn, rxe_aeth_syn_value(syn), now, m);
			m = rxe_comp_mark(qp); /* progress already accounted */
			break;
		case RXE_AETH_NAK:
			rxe_comp_nak(qp, psn, rxe_aeth_syn_value(syn), now);
			break;
		default:
			break;
		}
		break;
	case IB_OPCODE_RC_ATOMIC_ACKNOWLEDGE:
		rxe_comp_atomic(qp, pkt);
		break;
	case IB_OPCODE_RC_RDMA_READ_RESPONSE_ONLY:
		if (rxe_comp_atomic_write(qp, pkt))
			break;
		rxe_comp_read(qp, pkt);
		break;
	case IB_OPCODE_RC_RDMA_READ_RESPONSE_FIRST:
	case IB_OPCODE_RC_RDMA_READ_RESPONSE_MIDDLE:
	case IB_OPCODE_RC_RDMA_READ_RESPONSE_LAST:
		rxe_comp_read(qp, pkt);
		break;
	default:
		break;
	}
	rxe_comp_progress_since(qp, m, now);
	if (qp->state == IBV_QPS_SQD && !rxe_outstanding(qp) && qp->attr.en_sqd_async_notify &&
	    qp->sq_draining) {
		qp->sq_draining = false;
		rxe_async_qp(qp, IBV_EVENT_SQ_DRAINED);
	}
}

/* The retransmission timer of @qp. */
void rxe_comp_timer(struct rxe_qp *qp, uint64_t now)
{
	if (!qp->comp.deadline || now < qp->comp.deadline)
		return;
	if (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_SQD) {
		qp->comp.deadline = 0;
		return;
	}
	if (!rxe_outstanding(qp) || qp->req.rnr_wait) {
		qp->comp.deadline = 0;
		return;
	}
	if (!qp->comp.retry_left) {
		rxe_comp_fail(qp, IBV_WC_RETRY_EXC_ERR);
		return;
	}
	qp->comp.retry_left--;
	qp->comp.read_gap = false;
	qp->comp.nak_seen = false;
	rxe_comp_rewind(qp);
	qp->comp.deadline = now + rxe_timeout_ns(qp->attr.timeout);
}
