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
 * is outstanding or for a PSN never sent (CHECK_PSN). One rewind
 * per event: a repeated sequence NAK for the PSN already rewound to
 * (comp.nak_seen), an RNR NAK while the requester is already paused for
 * one, or another ACK past a READ/atomic whose response is already being
 * asked for again (comp.read_gap) is a copy of something already acted on.
 *
 * Every response packet runs through one state machine (rxe_completer()),
 * each state a small function returning a later one in enum comp_state;
 * SOFTODP_LOG=debug traces them by name:
 *
 *   CHECK_PSN      in the window of what is outstanding, else DROP.
 *   CHECK_ACK      an ACK goes to ACK; a NAK, an RNR NAK or a response with
 *                  data first to IMPLICIT_ACK.
 *   IMPLICIT_ACK   the send WQEs before the packet's PSN are retired; then
 *                  RNR, NAK_PSN_SEQ, ERROR (any other NAK) or CHECK_WQE.
 *   CHECK_WQE      the WQE at the head is what the response answers: READ,
 *                  ATOMIC or ATOMIC_WRITE; else nothing waits for it.
 *   READ, ATOMIC, ATOMIC_WRITE
 *                  the response's data into the WQE, which completes.
 *   ACK            retires what the ACK covers; past a READ/atomic still
 *                  unanswered, asks again.
 *   NAK_PSN_SEQ    rewinds to the oldest unacknowledged PSN.
 *   RNR            pauses the requester, or fails the WQE when rnr_retry
 *                  is used up.
 *   ERROR          fails the WQE at the head (a fatal NAK, a response it
 *                  cannot take) and the QP with it.
 *   UPDATE         progress restores the retry counters and re-arms the
 *                  timer; an SQD QP whose send queue drained says so.
 *   DROP           counted as an unsolicited response (RXE_DROP_RESPONSE).
 *   DONE
 *
 * Packets of another transport or for a QP whose send queue does not run
 * (RTS, SQD) never get here: rxe_rx_accept() (net.c) drops them. The
 * retransmission timer is not a packet and has its own entry,
 * rxe_comp_timer().
 */
#include <errno.h>
#include <string.h>

#include "rxe.h"
#include "log.h"

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

/* ---- the states of one response packet ---- */

enum comp_state {
	CS_CHECK_PSN,
	CS_CHECK_ACK,
	CS_IMPLICIT_ACK,
	CS_CHECK_WQE,
	CS_READ,
	CS_ATOMIC,
	CS_ATOMIC_WRITE,
	CS_ACK,
	CS_NAK_PSN_SEQ,
	CS_RNR,
	CS_ERROR,
	CS_UPDATE,
	CS_DROP,
	CS_DONE,
	CS_NR,
};

static const char *const comp_state_name[CS_NR] = {
	[CS_CHECK_PSN] = "CHECK_PSN",
	[CS_CHECK_ACK] = "CHECK_ACK",
	[CS_IMPLICIT_ACK] = "IMPLICIT_ACK",
	[CS_CHECK_WQE] = "CHECK_WQE",
	[CS_READ] = "READ",
	[CS_ATOMIC] = "ATOMIC",
	[CS_ATOMIC_WRITE] = "ATOMIC_WRITE",
	[CS_ACK] = "ACK",
	[CS_NAK_PSN_SEQ] = "NAK_PSN_SEQ",
	[CS_RNR] = "RNR",
	[CS_ERROR] = "ERROR",
	[CS_UPDATE] = "UPDATE",
	[CS_DROP] = "DROP",
	[CS_DONE] = "DONE",
};

/* One response packet on its way through the states, on rxe_completer()'s stack. */
struct rxe_comp_pkt {
	struct rxe_qp *qp;
	struct rxe_pkt *pkt;
	uint64_t now;
	struct rxe_comp_mark mark; /* the position before the packet, to tell progress */
	enum ibv_wc_status status; /* ERROR: what the WQE at the head completes with */
};

static uint32_t rxe_comp_pkt_psn(const struct rxe_comp_pkt *c)
{
	return c->pkt->pi.h.bth.psn;
}

/* The WQE at the head of the send queue if it is being sent or answered, else NULL. */
static struct rxe_send_wqe *rxe_comp_head(struct rxe_qp *qp)
{
	struct rxe_send_wqe *w;

	if (qp->sq.cons == rxe_sq_prod(qp))
		return NULL;
	w = rxe_wq_slot(&qp->sq, qp->sq.cons);
	return w->state == WQE_STARTED || w->state == WQE_SENT ? w : NULL;
}

/*
 * Whether the response may answer something: a request must be
 * outstanding, and its PSN must lie between the oldest unacknowledged PSN
 * and the last PSN given to a request (kernel rxe's completer finds no WQE,
 * or a PSN past it, and drops the packet). The responder never answers
 * anything else, so whatever else arrives is a stale copy or forged: an
 * ACK, NAK or RNR NAK out of that window neither retires a WQE nor fails
 * one, and cannot take an idle QP to the error state.
 */
static enum comp_state rxe_comp_check_psn(struct rxe_comp_pkt *c)
{
	struct rxe_qp *qp = c->qp;
	uint32_t psn = rxe_comp_pkt_psn(c);

	if (rxe_outstanding(qp) && !rxe_psn_before(psn, qp->comp.psn) &&
	    !rxe_psn_after(psn, qp->req.last_psn))
		return CS_CHECK_ACK;
	return CS_DROP;
}

/* What the packet is: an ACK goes its own way, the rest acknowledge what came before them. */
static enum comp_state rxe_comp_check_ack(struct rxe_comp_pkt *c)
{
	switch (c->pkt->pi.opcode) {
	case IB_OPCODE_RC_ACKNOWLEDGE:
		switch (rxe_aeth_syn_type(c->pkt->pi.h.aeth.syndrome)) {
		case RXE_AETH_ACK:
			return CS_ACK;
		case RXE_AETH_RNR_NAK:
		case RXE_AETH_NAK:
			return CS_IMPLICIT_ACK;
		default:
			return CS_UPDATE; /* a reserved syndrome: nothing to act on */
		}
	case IB_OPCODE_RC_ATOMIC_ACKNOWLEDGE:
	case IB_OPCODE_RC_RDMA_READ_RESPONSE_ONLY:
	case IB_OPCODE_RC_RDMA_READ_RESPONSE_FIRST:
	case IB_OPCODE_RC_RDMA_READ_RESPONSE_MIDDLE:
	case IB_OPCODE_RC_RDMA_READ_RESPONSE_LAST:
		return CS_IMPLICIT_ACK;
	default:
		return CS_UPDATE;
	}
}

/*
 * A response, NAK or RNR NAK for PSN p acknowledges the requests before p
 * (IBA 9.7.5.1.2); then the packet is acted on for itself.
 */
static enum comp_state rxe_comp_implicit_ack(struct rxe_comp_pkt *c)
{
	static const enum ibv_wc_status st[] = {
		[RXE_NAK_INVALID_REQUEST] = IBV_WC_REM_INV_REQ_ERR,
		[RXE_NAK_REM_ACCESS_ERROR] = IBV_WC_REM_ACCESS_ERR,
		[RXE_NAK_REM_OP_ERROR] = IBV_WC_REM_OP_ERR,
		[RXE_NAK_INVALID_RD_REQUEST] = IBV_WC_REM_INV_RD_REQ_ERR,
	};
	uint8_t syn = c->pkt->pi.h.aeth.syndrome, code = rxe_aeth_syn_value(syn);

	rxe_comp_ack(c->qp, rxe_psn_add(rxe_comp_pkt_psn(c), -1), false);
	if (c->pkt->pi.opcode != IB_OPCODE_RC_ACKNOWLEDGE)
		return CS_CHECK_WQE;
	if (rxe_aeth_syn_type(syn) == RXE_AETH_RNR_NAK)
		return CS_RNR;
	if (code == RXE_NAK_PSN_SEQ_ERROR)
		return CS_NAK_PSN_SEQ;
	c->status = code < ARRAY_SIZE(st) && st[code] ? st[code] : IBV_WC_REM_OP_ERR;
	return CS_ERROR;
}

/*
 * The WQE at the head is what the response answers: an atomic ACK its
 * atomic, a READ response of no data its ATOMIC WRITE (kernel rxe's
 * send_read_response_ack()), any other READ response a READ whose PSNs
 * hold it. Anything else answers nothing that is still waiting.
 */
static enum comp_state rxe_comp_check_wqe(struct rxe_comp_pkt *c)
{
	struct rxe_send_wqe *w = rxe_comp_head(c->qp);
	uint32_t psn = rxe_comp_pkt_psn(c);

	if (!w)
		return CS_UPDATE;
	if (c->pkt->pi.opcode == IB_OPCODE_RC_ATOMIC_ACKNOWLEDGE)
		return (w->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
			w->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) &&
				       w->first_psn == psn
			       ? CS_ATOMIC
			       : CS_UPDATE;
	if (w->opcode == IBV_WR_ATOMIC_WRITE)
		return c->pkt->pi.opcode == IB_OPCODE_RC_RDMA_READ_RESPONSE_ONLY &&
				       w->first_psn == psn
			       ? CS_ATOMIC_WRITE
			       : CS_UPDATE;
	if (w->opcode != IBV_WR_RDMA_READ || rxe_psn_before(psn, w->first_psn) ||
	    rxe_psn_after(psn, w->last_psn))
		return CS_UPDATE;
	return CS_READ;
}

/* One READ response: data for the READ at the head, in PSN order. */
static enum comp_state rxe_comp_do_read(struct rxe_comp_pkt *c)
{
	struct rxe_qp *qp = c->qp;
	struct rxe_pkt *pkt = c->pkt;
	struct rxe_send_wqe *w = rxe_comp_head(qp);
	uint32_t psn = rxe_comp_pkt_psn(c), off;
	int ret;

	if (rxe_psn_after(psn, qp->comp.psn)) {
		/* a response went missing: ask again from the gap, once */
		if (!qp->comp.read_gap) {
			qp->comp.read_gap = true;
			rxe_comp_rewind(qp);
		}
		return CS_UPDATE;
	}
	qp->comp.read_gap = false;
	off = (uint32_t)rxe_psn_diff(psn, w->first_psn) * qp->mtu;
	if (off > w->length || pkt->pi.paylen > w->length - off ||
	    (psn != w->last_psn && pkt->pi.paylen != qp->mtu)) {
		c->status = IBV_WC_BAD_RESP_ERR;
		return CS_ERROR;
	}
	/* the requester faulted the buffer in before asking (rxe_req_local_ready) */
	ret = rxe_sge_copy(qp->dev, qp->ibqp.qp_base.pd, w->sge, w->num_sge, off,
			   (void *)pkt->pi.payload, pkt->pi.paylen, true, NULL, NULL);
	if (ret) {
		c->status = ret == -ENOSPC ? IBV_WC_LOC_LEN_ERR : IBV_WC_LOC_PROT_ERR;
		return CS_ERROR;
	}
	qp->comp.psn = rxe_psn_add(psn, 1);
	if (psn == w->last_psn && (pkt->pi.mask & RXE_END_MASK))
		rxe_send_complete(qp, w, IBV_WC_SUCCESS);
	return CS_UPDATE;
}

/* An atomic ACK: the original value into the atomic at the head. */
static enum comp_state rxe_comp_do_atomic(struct rxe_comp_pkt *c)
{
	struct rxe_qp *qp = c->qp;
	struct rxe_send_wqe *w = rxe_comp_head(qp);
	uint64_t orig = c->pkt->pi.h.atmack_orig;
	int ret;

	ret = rxe_sge_copy(qp->dev, qp->ibqp.qp_base.pd, w->sge, w->num_sge, 0, &orig, sizeof(orig),
			   true, NULL, NULL);
	if (ret) {
		c->status = ret == -ENOSPC ? IBV_WC_LOC_LEN_ERR : IBV_WC_LOC_PROT_ERR;
		return CS_ERROR;
	}
	qp->comp.read_gap = false;
	qp->comp.psn = rxe_psn_add(rxe_comp_pkt_psn(c), 1);
	rxe_send_complete(qp, w, IBV_WC_SUCCESS);
	return CS_UPDATE;
}

/* The READ response of no data that completes the ATOMIC WRITE at the head. */
static enum comp_state rxe_comp_do_atomic_write(struct rxe_comp_pkt *c)
{
	struct rxe_qp *qp = c->qp;

	qp->comp.read_gap = false;
	qp->comp.psn = rxe_psn_add(rxe_comp_pkt_psn(c), 1);
	rxe_send_complete(qp, rxe_comp_head(qp), IBV_WC_SUCCESS);
	return CS_UPDATE;
}

/* An ACK for PSN p: everything up to p is acknowledged. */
static enum comp_state rxe_comp_do_ack(struct rxe_comp_pkt *c)
{
	struct rxe_qp *qp = c->qp;

	if (!rxe_comp_ack(qp, rxe_comp_pkt_psn(c), true))
		return CS_UPDATE;
	/*
	 * The responder got past a READ/atomic whose response is missing:
	 * lost, or still behind this ACK on a reordering path. Ask again
	 * (the responder replays it), once until a response arrives.
	 */
	if (!qp->comp.read_gap) {
		qp->comp.read_gap = true;
		rxe_comp_rewind(qp);
	}
	return CS_UPDATE;
}

static enum comp_state rxe_comp_nak_psn_seq(struct rxe_comp_pkt *c)
{
	struct rxe_qp *qp = c->qp;
	uint32_t psn = rxe_comp_pkt_psn(c);

	/*
	 * The responder NAKs a sequence error once until it receives @psn,
	 * so a second NAK for the PSN we already went back to is a copy;
	 * going back again would only resend more.
	 */
	if (qp->comp.nak_seen && qp->comp.nak_psn == psn)
		return CS_UPDATE;
	qp->comp.nak_seen = true;
	qp->comp.nak_psn = psn;
	/*
	 * Resume from the oldest unacknowledged PSN, not from @psn: a READ or
	 * atomic before @psn may still miss its response.
	 */
	rxe_comp_rewind(qp);
	if (qp->attr.timeout && !qp->req.rnr_wait)
		qp->comp.deadline = c->now + rxe_timeout_ns(qp->attr.timeout);
	return CS_UPDATE;
}

static enum comp_state rxe_comp_rnr(struct rxe_comp_pkt *c)
{
	struct rxe_qp *qp = c->qp;

	/* what the RNR NAK implicitly acknowledges is progress, accounted here */
	rxe_comp_progress_since(qp, c->mark, c->now);
	c->mark = rxe_comp_mark(qp);
	/*
	 * The requester is already paused for an RNR NAK: this one is a copy
	 * of it, or was sent for a packet that was in flight with it. Either
	 * way it must not use up another rnr_retry.
	 */
	if (qp->req.rnr_wait)
		return CS_UPDATE;
	if (qp->comp.rnr_left != 7) {
		if (!qp->comp.rnr_left) {
			c->status = IBV_WC_RNR_RETRY_EXC_ERR;
			return CS_ERROR;
		}
		qp->comp.rnr_left--;
	}
	rxe_comp_rewind(qp);
	qp->comp.nak_seen = false;
	qp->req.rnr_wait = true;
	qp->req.rnr_until = c->now + rxe_rnr_ns(rxe_aeth_syn_value(c->pkt->pi.h.aeth.syndrome));
	qp->comp.deadline = 0;
	return CS_UPDATE;
}

static enum comp_state rxe_comp_error(struct rxe_comp_pkt *c)
{
	rxe_comp_fail(c->qp, c->status);
	return CS_UPDATE;
}

/* Progress restores the retry counters; a drained send queue tells SQD's waiter. */
static enum comp_state rxe_comp_update(struct rxe_comp_pkt *c)
{
	struct rxe_qp *qp = c->qp;

	rxe_comp_progress_since(qp, c->mark, c->now);
	if (qp->state == IBV_QPS_SQD && !rxe_outstanding(qp) && qp->attr.en_sqd_async_notify &&
	    qp->sq_draining) {
		qp->sq_draining = false;
		rxe_async_qp(qp, IBV_EVENT_SQ_DRAINED);
	}
	return CS_DONE;
}

static enum comp_state rxe_comp_drop(struct rxe_comp_pkt *c)
{
	c->qp->dev->rx_drops[RXE_DROP_RESPONSE]++;
	return CS_DONE;
}

static enum comp_state (*const comp_state_fn[CS_NR])(struct rxe_comp_pkt *c) = {
	[CS_CHECK_PSN] = rxe_comp_check_psn,
	[CS_CHECK_ACK] = rxe_comp_check_ack,
	[CS_IMPLICIT_ACK] = rxe_comp_implicit_ack,
	[CS_CHECK_WQE] = rxe_comp_check_wqe,
	[CS_READ] = rxe_comp_do_read,
	[CS_ATOMIC] = rxe_comp_do_atomic,
	[CS_ATOMIC_WRITE] = rxe_comp_do_atomic_write,
	[CS_ACK] = rxe_comp_do_ack,
	[CS_NAK_PSN_SEQ] = rxe_comp_nak_psn_seq,
	[CS_RNR] = rxe_comp_rnr,
	[CS_ERROR] = rxe_comp_error,
	[CS_UPDATE] = rxe_comp_update,
	[CS_DROP] = rxe_comp_drop,
};

/*
 * Handles one response packet for @qp: runs the states from CHECK_PSN until
 * DONE. Engine, under dev->lock.
 */
void rxe_completer(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	struct rxe_comp_pkt c = {
		.qp = qp, .pkt = pkt, .now = sodp_now_ns(), .mark = rxe_comp_mark(qp)};
	bool trace = sodp_log_enabled(SODP_LOG_DEBUG);
	enum comp_state s = CS_CHECK_PSN;

	while (s != CS_DONE) {
		if (trace)
			sodp_dbg("qp %#x: %s psn %#x: %s\n", qp->ibqp.qp_base.qp_num,
				 rxe_opcode_name(pkt->pi.opcode), pkt->pi.h.bth.psn,
				 comp_state_name[s]);
		s = comp_state_fn[s](&c);
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
