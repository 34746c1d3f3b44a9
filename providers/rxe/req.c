// SPDX-License-Identifier: MIT
/*
 * The requester: turns send WQEs into request packets.
 *
 * Each WQE moves through POSTED -> STARTED (PSNs assigned, packets going out)
 * -> SENT (all packets out, waiting for the completer) -> DONE. The requester
 * keeps a cursor (wqe_idx, psn, offset); the completer rewinds it to the
 * oldest unacknowledged PSN on a NAK, an RNR NAK or a timeout (go-back-N),
 * and packets are rebuilt from the WQE, so nothing is kept for replay.
 *
 * Limits: at most RXE_MAX_INFLIGHT unacknowledged packets, and the
 * device's RC QPs together at most tx_window_max (rxe_req_window()); at most
 * max_rd_atomic outstanding READ/atomic/ATOMIC WRITE requests (kernel rxe
 * counts ATOMIC WRITE against the initiator depth too: the responder keeps
 * a resource for it), a FENCE waits for earlier ones. AckReq is set on the
 * last packet of a message and every RXE_MAX_PKT_PER_ACK packets within
 * one, as kernel rxe does.
 *
 * Local work requests (BIND_MW, LOCAL_INV) send nothing: the requester
 * executes one once every WQE before it has completed, and completes it at
 * once, so that completions stay in order and a window is bound (or
 * revoked) before any later request that uses its key leaves. A failed
 * bind completes IBV_WC_MW_BIND_ERR, a failed invalidation
 * IBV_WC_LOC_QP_OP_ERR, and the QP goes to the error state (kernel rxe's
 * rxe_do_local_ops()).
 */
#include <errno.h>
#include <string.h>

#include "rxe.h"

uint64_t rxe_timeout_ns(uint8_t timeout)
{
	/* 4.096 us * 2^timeout; 0 means wait forever */
	return timeout ? 4096ULL << timeout : 0;
}

/*
 * WQEs answered by a response of their own (READ response, atomic ACK)
 * rather than by an ACK, and which hold a responder resource.
 */
bool rxe_wqe_is_rd(const struct rxe_send_wqe *wqe)
{
	return wqe->opcode == IBV_WR_RDMA_READ || wqe->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
	       wqe->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD || wqe->opcode == IBV_WR_ATOMIC_WRITE;
}

/* The opcodes of a message's packets, by where the packet is in it. */
struct rxe_msg_opcodes {
	uint8_t only, first, middle, last;
};

static const struct rxe_msg_opcodes rxe_msg_send = {IB_OPCODE_SEND_ONLY, IB_OPCODE_SEND_FIRST,
						    IB_OPCODE_SEND_MIDDLE, IB_OPCODE_SEND_LAST};
static const struct rxe_msg_opcodes rxe_msg_send_imm = {IB_OPCODE_SEND_ONLY_WITH_IMMEDIATE,
							IB_OPCODE_SEND_FIRST, IB_OPCODE_SEND_MIDDLE,
							IB_OPCODE_SEND_LAST_WITH_IMMEDIATE};
static const struct rxe_msg_opcodes rxe_msg_send_inv = {IB_OPCODE_SEND_ONLY_WITH_INVALIDATE,
							IB_OPCODE_SEND_FIRST, IB_OPCODE_SEND_MIDDLE,
							IB_OPCODE_SEND_LAST_WITH_INVALIDATE};
static const struct rxe_msg_opcodes rxe_msg_write = {
	IB_OPCODE_RDMA_WRITE_ONLY, IB_OPCODE_RDMA_WRITE_FIRST, IB_OPCODE_RDMA_WRITE_MIDDLE,
	IB_OPCODE_RDMA_WRITE_LAST};
static const struct rxe_msg_opcodes rxe_msg_write_imm = {
	IB_OPCODE_RDMA_WRITE_ONLY_WITH_IMMEDIATE, IB_OPCODE_RDMA_WRITE_FIRST,
	IB_OPCODE_RDMA_WRITE_MIDDLE, IB_OPCODE_RDMA_WRITE_LAST_WITH_IMMEDIATE};

static uint8_t rxe_msg_opcode(const struct rxe_msg_opcodes *o, bool first, bool last)
{
	return first && last ? o->only : first ? o->first : last ? o->last : o->middle;
}

/* The opcode of @wqe's packet that is @first and/or @last of its message. */
static uint8_t rxe_req_opcode(struct rxe_qp *qp, struct rxe_send_wqe *wqe, bool first, bool last)
{
	uint8_t op;

	switch (wqe->opcode) {
	case IBV_WR_SEND:
		op = rxe_msg_opcode(&rxe_msg_send, first, last);
		break;
	case IBV_WR_SEND_WITH_IMM:
		op = rxe_msg_opcode(&rxe_msg_send_imm, first, last);
		break;
	case IBV_WR_SEND_WITH_INV:
		op = rxe_msg_opcode(&rxe_msg_send_inv, first, last);
		break;
	case IBV_WR_RDMA_WRITE:
		op = rxe_msg_opcode(&rxe_msg_write, first, last);
		break;
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		op = rxe_msg_opcode(&rxe_msg_write_imm, first, last);
		break;
	case IBV_WR_RDMA_READ:
		op = IB_OPCODE_RDMA_READ_REQUEST;
		break;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		op = IB_OPCODE_COMPARE_SWAP;
		break;
	case IBV_WR_ATOMIC_WRITE:
		op = IB_OPCODE_ATOMIC_WRITE;
		break;
	default:
		op = IB_OPCODE_FETCH_ADD;
		break;
	}
	return rxe_qp_transport(qp) | op;
}

/* Outstanding READ/atomic WQEs between the completer and the requester. */
static uint32_t rxe_rd_outstanding(struct rxe_qp *qp)
{
	uint32_t i, n = 0;

	for (i = qp->sq.cons; i != qp->req.wqe_idx; i++) {
		struct rxe_send_wqe *w = rxe_wq_slot(&qp->sq, i);

		if (w->state != WQE_DONE && rxe_wqe_is_rd(w))
			n++;
	}
	return n;
}

/*
 * rxe_req_rewind - move the requester cursor to @psn (go-back-N)
 *
 * The cursor (req.wqe_idx, req.psn, req.offset) names the next packet to
 * send. PSNs are bound to WQEs once, when a WQE is started, and a packet is
 * rebuilt from its WQE and its position in it: PSN first_psn + k is always
 * packet k of that WQE, with the same opcode (FIRST, MIDDLE, LAST, ONLY) and
 * the same RETH as the first time. A retransmission that resumes inside a
 * message therefore sends exactly what the responder expects at that PSN
 * (IBA 9.7.5.1; kernel rxe's req_retry() resumes the same way). A READ
 * resumed inside its response range is re-requested from there, with the
 * RETH moved forward (IBA 9.7.5.1.6).
 *
 * @psn may lie before the first unfinished WQE (it then resumes at that
 * WQE's first PSN) or, when the completer overtook the cursor, after it: the
 * cursor then jumps forward. Under dev->lock.
 */
void rxe_req_rewind(struct rxe_qp *qp, uint32_t psn)
{
	uint32_t i, prod = __atomic_load_n(&qp->sq.prod, __ATOMIC_ACQUIRE);

	qp->req.noack_pkts = 0;
	for (i = qp->sq.cons; i != prod; i++) {
		struct rxe_send_wqe *w = rxe_wq_slot(&qp->sq, i);

		if (w->state == WQE_POSTED)
			break;
		if (w->state == WQE_DONE)
			continue;
		if (rxe_psn_diff(psn, w->last_psn) > 0)
			continue;
		if (rxe_psn_before(psn, w->first_psn))
			psn = w->first_psn;
		qp->req.wqe_idx = i;
		qp->req.psn = psn;
		qp->req.offset = (uint32_t)rxe_psn_diff(psn, w->first_psn) * qp->mtu;
		return;
	}
	/*
	 * Nothing unacknowledged: the next new WQE starts at @psn, the PSN
	 * after the last acknowledged one. Keeping an older req.psn here would
	 * hand a new message PSNs the responder already consumed.
	 */
	qp->req.wqe_idx = i;
	qp->req.psn = psn;
	qp->req.offset = 0;
}

/*
 * The completer may retire WQEs past a rewound cursor (a coalesced ACK
 * for packets sent before the rewind arrives after it). The cursor must then
 * move forward: its WQE slot may already be reused, and resuming the next
 * WQE with the old PSN and offset would bind PSNs to the wrong message.
 */
static void rxe_req_sync(struct rxe_qp *qp)
{
	struct rxe_send_wqe *w;

	if ((int32_t)(qp->req.wqe_idx - qp->sq.cons) < 0 ||
	    rxe_psn_before(qp->req.psn, qp->comp.psn)) {
		rxe_req_rewind(qp, qp->comp.psn);
		return;
	}
	if (qp->req.wqe_idx == __atomic_load_n(&qp->sq.prod, __ATOMIC_ACQUIRE))
		return;
	w = rxe_wq_slot(&qp->sq, qp->req.wqe_idx);
	if ((w->state == WQE_STARTED || w->state == WQE_SENT) &&
	    (uint32_t)rxe_psn_diff(qp->req.psn, w->first_psn) * qp->mtu != qp->req.offset)
		rxe_req_rewind(qp, qp->req.psn);
}

static uint32_t rxe_wqe_npkts(struct rxe_qp *qp, struct rxe_send_wqe *wqe)
{
	if (wqe->opcode == IBV_WR_ATOMIC_CMP_AND_SWP || wqe->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD)
		return 1;
	if (!wqe->length)
		return 1;
	return (uint32_t)(((uint64_t)wqe->length + qp->mtu - 1) / qp->mtu);
}

/*
 * Fills the payload of a request: 0, a work completion error status, or
 * -EAGAIN when a page of the local buffer must be faulted first (the QP is
 * parked until it is, odp.c).
 */
static int rxe_req_payload(struct rxe_qp *qp, struct rxe_send_wqe *wqe, uint8_t *dst,
			   uint32_t offset, uint32_t len)
{
	int ret;

	if (wqe->inline_data) {
		memcpy(dst, wqe->inline_buf + offset, len);
		return IBV_WC_SUCCESS;
	}
	ret = rxe_sge_copy(qp->dev, qp->ibqp.qp_base.pd, wqe->sge, wqe->num_sge, offset, dst, len,
			   false, &qp->req_fault, NULL);
	if (!ret || ret == -EAGAIN)
		return ret;
	return ret == -ENOSPC ? IBV_WC_LOC_LEN_ERR : IBV_WC_LOC_PROT_ERR;
}

/*
 * A READ, compare-and-swap or fetch-and-add WQE's local buffer must be
 * writable before the request leaves: its responses cannot be paused.
 * 0, -EAGAIN (parked for a fault), or a work completion error status. Key
 * and bounds errors are left to the completer, which reports them when the
 * response arrives.
 */
static int rxe_req_local_ready(struct rxe_qp *qp, struct rxe_send_wqe *wqe)
{
	uint32_t len = wqe->opcode == IBV_WR_RDMA_READ ? wqe->length : sizeof(uint64_t);
	struct rxe_miss miss;
	int ret = rxe_sge_probe(qp->dev, qp->ibqp.qp_base.pd, wqe->sge, wqe->num_sge, len, true,
				&qp->req_fault, &miss);

	if (ret == -EAGAIN)
		return ret;
	return ret == -EFAULT ? IBV_WC_LOC_PROT_ERR : 0;
}

/* A local error on a WQE: the QP goes to error; the flush reports @st for it. */
static void rxe_req_error(struct rxe_qp *qp, struct rxe_send_wqe *wqe, enum ibv_wc_status st)
{
	wqe->err = st;
	rxe_qp_error(qp);
}

/* Executes the local WQE at the head of the send queue and completes it. */
static void rxe_req_local(struct rxe_qp *qp, struct rxe_send_wqe *wqe)
{
	if (wqe->opcode == IBV_WR_BIND_MW) {
		if (rxe_mw_bind_wqe(qp, wqe)) {
			rxe_req_error(qp, wqe, IBV_WC_MW_BIND_ERR);
			return;
		}
	} else if (rxe_invalidate_rkey(qp, wqe->invalidate_rkey, false)) {
		rxe_req_error(qp, wqe, IBV_WC_LOC_QP_OP_ERR);
		return;
	}
	qp->req.wqe_idx++;
	rxe_send_complete(qp, wqe, IBV_WC_SUCCESS);
}

/* Sends a UD WQE: 0, -EAGAIN (parked for a fault), -EIO (the WQE failed). */
static int rxe_req_ud(struct rxe_qp *qp, struct rxe_send_wqe *wqe)
{
	struct rxe_hdrs h;
	struct rxe_txbuf *tb;
	int st;

	memset(&h, 0, sizeof(h));
	h.bth.opcode = rxe_req_opcode(qp, wqe, true, true);
	h.bth.pkey = RXE_DEFAULT_PKEY;
	h.bth.qpn = wqe->remote_qpn;
	h.bth.psn = qp->req.psn;
	h.bth.se = !!(wqe->send_flags & IBV_SEND_SOLICITED);
	h.deth.qkey = (wqe->remote_qkey & RXE_QKEY_USE_QP) ? qp->attr.qkey : wqe->remote_qkey;
	h.deth.sqp = qp->ibqp.qp_base.qp_num;
	h.imm = be32toh(wqe->imm_data);
	tb = rxe_tx_build(qp, &h, wqe->length);
	if (!tb) {
		rxe_req_error(qp, wqe, IBV_WC_LOC_QP_OP_ERR);
		return -EIO;
	}
	st = rxe_req_payload(qp, wqe, tb->data + tb->hdr_len, 0, wqe->length);
	if (st == -EAGAIN)
		return st; /* the packet is not committed: built again later */
	if (st) {
		rxe_req_error(qp, wqe, st);
		return -EIO;
	}
	rxe_tx_send(qp, tb, &wqe->av);
	qp->req.psn = rxe_psn_add(qp->req.psn, 1);
	qp->req.wqe_idx++;
	/* UD completes once on the wire */
	rxe_send_complete(qp, wqe, IBV_WC_SUCCESS);
	return 0;
}

/* The BTH fields every request packet of @qp at the cursor shares. */
static void rxe_req_hdrs_init(struct rxe_qp *qp, struct rxe_hdrs *h)
{
	memset(h, 0, sizeof(*h));
	h->bth.pkey = RXE_DEFAULT_PKEY;
	h->bth.qpn = qp->attr.dest_qp_num;
	h->bth.psn = qp->req.psn;
}

/*
 * The headers of the SEND or WRITE packet of @wqe at message offset @off,
 * on top of rxe_req_hdrs_init(); counts it towards the next AckReq. Returns
 * its payload length; *last: it ends the message.
 */
static uint32_t rxe_req_data_hdrs(struct rxe_qp *qp, struct rxe_send_wqe *wqe, uint32_t off,
				  struct rxe_hdrs *h, bool *last)
{
	uint32_t len = SODP_MIN(qp->mtu, wqe->length - off);

	*last = off + len == wqe->length;
	h->bth.opcode = rxe_req_opcode(qp, wqe, off == 0, *last);
	h->bth.se = *last && (wqe->send_flags & IBV_SEND_SOLICITED);
	if (qp->ibqp.qp_base.qp_type == IBV_QPT_RC) {
		h->bth.ack_req = *last || qp->req.noack_pkts + 1 >= RXE_MAX_PKT_PER_ACK;
		qp->req.noack_pkts = h->bth.ack_req ? 0 : qp->req.noack_pkts + 1;
	}
	h->reth.va = wqe->remote_addr;
	h->reth.rkey = wqe->rkey;
	h->reth.len = wqe->length;
	h->imm = be32toh(wqe->imm_data);
	h->ieth_rkey = wqe->invalidate_rkey;
	return len;
}

/*
 * Sends up to @max packets of @wqe at the requester cursor, none of them
 * its last, with their payloads read by one rxe_mr_copyv() instead of a
 * system call each: a 4 KiB payload costs 636 ns read with a
 * process_vm_readv() of its own, 360 ns read with fifteen others in one
 * (tests/bench/bench_copy), and ib_write_bw -s 65536 went from 1437-1499
 * to 1699-1741 MB/s. Only for a SEND or WRITE from one scatter
 * element. Returns how many packets left; 0 when the caller must send the
 * next one alone (rxe_req_packet(), which faults and fails precisely), the
 * cursor unchanged.
 */
static unsigned int rxe_req_data_run(struct rxe_qp *qp, struct rxe_send_wqe *wqe, unsigned int max)
{
	struct iovec iov[RXE_REQ_RUN];
	struct rxe_txbuf *tb[RXE_REQ_RUN];
	uint32_t psn = qp->req.psn, off = qp->req.offset, noack = qp->req.noack_pkts, left;
	const struct ibv_sge *sge = &wqe->sge[0];
	unsigned int i, n;
	struct rxe_mr *mr;
	uintptr_t va;

	if (wqe->inline_data || wqe->num_sge != 1 || sge->length != wqe->length ||
	    rxe_qp_fault_pending(&qp->req_fault))
		return 0;
	switch (wqe->opcode) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
	case IBV_WR_SEND_WITH_INV:
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		break;
	default:
		return 0;
	}
	/* every packet but the last is a full MTU */
	left = (wqe->length - off + qp->mtu - 1) / qp->mtu;
	if (left < 3)
		return 0;
	n = SODP_MIN(SODP_MIN(max, left - 1), SODP_MIN(rxe_tx_room_ahead(qp->dev), RXE_REQ_RUN));
	if (n < 2)
		return 0;
	mr = rxe_mr_lookup(qp->dev, sge->lkey);
	if (rxe_mr_check(mr, qp->ibqp.qp_base.pd, sge->addr + off, (uint64_t)n * qp->mtu, 0, &va))
		return 0;
	for (i = 0; i < n; i++) {
		struct rxe_hdrs h;
		bool last;
		uint32_t len;

		rxe_req_hdrs_init(qp, &h);
		len = rxe_req_data_hdrs(qp, wqe, qp->req.offset, &h, &last);
		tb[i] = rxe_tx_build_nth(qp, &h, len, i);
		if (!tb[i])
			goto undo;
		iov[i].iov_base = tb[i]->data + tb[i]->hdr_len;
		iov[i].iov_len = len;
		qp->req.psn = rxe_psn_add(qp->req.psn, 1);
		qp->req.offset += len;
	}
	if (rxe_mr_copyv(mr, va, iov, n, false))
		goto undo;
	for (i = 0; i < n; i++)
		rxe_tx_send(qp, tb[i], &qp->av);
	return n;
undo:
	qp->req.psn = psn;
	qp->req.offset = off;
	qp->req.noack_pkts = noack;
	return 0;
}

/*
 * Sends the next packet of @wqe at the requester cursor: 0, -EAGAIN (parked
 * for a fault, the cursor unchanged) or -EIO (the WQE failed).
 */
static int rxe_req_packet(struct rxe_qp *qp, struct rxe_send_wqe *wqe)
{
	bool rc = qp->ibqp.qp_base.qp_type == IBV_QPT_RC;
	uint32_t off = qp->req.offset, len = 0, noack = qp->req.noack_pkts;
	bool last = true;
	struct rxe_hdrs h;
	struct rxe_txbuf *tb;
	int st;

	rxe_req_hdrs_init(qp, &h);

	if (wqe->opcode == IBV_WR_RDMA_READ) {
		h.bth.opcode = rxe_req_opcode(qp, wqe, true, true);
		h.bth.ack_req = true;
		h.reth.va = wqe->remote_addr + off;
		h.reth.rkey = wqe->rkey;
		h.reth.len = wqe->length - off;
	} else if (wqe->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
		   wqe->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		h.bth.opcode = rxe_req_opcode(qp, wqe, true, true);
		h.bth.ack_req = true;
		h.atmeth.va = wqe->remote_addr;
		h.atmeth.rkey = wqe->rkey;
		/* FETCH_ADD: the addend in swap-or-add, compare 0 (as kernel rxe) */
		if (wqe->opcode == IBV_WR_ATOMIC_CMP_AND_SWP) {
			h.atmeth.swap_add = wqe->swap;
			h.atmeth.comp = wqe->compare_add;
		} else {
			h.atmeth.swap_add = wqe->compare_add;
			h.atmeth.comp = 0;
		}
	} else if (wqe->opcode == IBV_WR_ATOMIC_WRITE) {
		/* one packet, RETH and the 8 bytes; never solicited (kernel rxe) */
		len = wqe->length;
		h.bth.opcode = rxe_req_opcode(qp, wqe, true, true);
		h.bth.ack_req = true;
		h.reth.va = wqe->remote_addr;
		h.reth.rkey = wqe->rkey;
		h.reth.len = wqe->length;
	} else {
		len = rxe_req_data_hdrs(qp, wqe, off, &h, &last);
	}
	tb = rxe_tx_build(qp, &h, len);
	if (!tb) {
		rxe_req_error(qp, wqe, IBV_WC_LOC_QP_OP_ERR);
		return -EIO;
	}
	if (len) {
		st = rxe_req_payload(qp, wqe, tb->data + tb->hdr_len, off, len);
		if (st == -EAGAIN) {
			qp->req.noack_pkts = noack;
			return st;
		}
		if (st) {
			rxe_req_error(qp, wqe, st);
			return -EIO;
		}
	}
	rxe_tx_send(qp, tb, &qp->av);

	if (wqe->opcode == IBV_WR_RDMA_READ) {
		qp->req.psn = rxe_psn_add(wqe->last_psn, 1);
		last = true;
	} else {
		qp->req.psn = rxe_psn_add(qp->req.psn, 1);
		qp->req.offset += len;
	}
	if (last) {
		if (wqe->state == WQE_STARTED)
			wqe->state = WQE_SENT;
		qp->req.wqe_idx++;
		qp->req.offset = 0;
		if (!rc && wqe->state != WQE_DONE)
			rxe_send_complete(qp, wqe, IBV_WC_SUCCESS); /* UC: no ACK */
	}
	return 0;
}

/*
 * Opens the device's window for a pass of the requesters: tx_window_max
 * less the packets its RC QPs have unacknowledged. Under dev->lock.
 */
void rxe_req_window(struct rxe_dev *dev)
{
	int w = dev->tx_window_max;
	struct rxe_qp *qp;

	list_for_each_entry (qp, &dev->qps, node) {
		int32_t d;

		/* a QP in error or reset has nothing in flight, whatever its PSNs say */
		if (qp->ibqp.qp_base.qp_type != IBV_QPT_RC ||
		    (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_SQD))
			continue;
		d = rxe_psn_diff(qp->req.psn, qp->comp.psn);
		if (d > 0)
			w -= SODP_MIN(d, RXE_MAX_INFLIGHT);
	}
	dev->tx_window = w;
}

/*
 * One requester pass for @qp; returns true if it sent anything. Runs on the
 * engine under dev->lock.
 */
bool rxe_requester(struct rxe_qp *qp, uint64_t now)
{
	uint32_t prod = __atomic_load_n(&qp->sq.prod, __ATOMIC_ACQUIRE);
	bool rc = qp->ibqp.qp_base.qp_type == IBV_QPT_RC;
	int budget = RXE_REQ_BUDGET, room;
	unsigned int n;
	bool sent = false;

	if (qp->state == IBV_QPS_ERR) {
		if (qp->sq.cons != prod) {
			rxe_qp_flush(qp);
			return true;
		}
		return false;
	}
	if (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_SQD)
		return false;
	if (rxe_qp_fault_pending(&qp->req_fault))
		return false; /* parked: the fault's completion rings the doorbell */
	if (qp->req.rnr_wait) {
		if (now < qp->req.rnr_until)
			return false;
		qp->req.rnr_wait = false;
	}
	if (rc)
		rxe_req_sync(qp);
	while (budget > 0 && qp->req.wqe_idx != prod && qp->state != IBV_QPS_ERR) {
		struct rxe_send_wqe *wqe = rxe_wq_slot(&qp->sq, qp->req.wqe_idx);
		int ret;

		if (!rxe_tx_room(qp->dev))
			break; /* a full socket: the engine goes on once it drains */

		if (wqe->state == WQE_DONE) {
			qp->req.wqe_idx++;
			continue;
		}
		if (wqe->state == WQE_POSTED) {
			if (qp->state == IBV_QPS_SQD)
				break;
			if (rxe_wqe_is_local(wqe)) {
				if (qp->req.wqe_idx != qp->sq.cons)
					break; /* until the WQEs before it complete */
				rxe_req_local(qp, wqe);
				budget--;
				sent = true;
				continue;
			}
			if (qp->ibqp.qp_base.qp_type == IBV_QPT_UD) {
				ret = rxe_req_ud(qp, wqe);
				if (ret == -EAGAIN)
					return sent || !rxe_qp_fault_pending(&qp->req_fault);
				budget--;
				sent = true;
				continue;
			}
			if (rxe_wqe_is_rd(wqe) &&
			    rxe_rd_outstanding(qp) >= SODP_MAX(1u, qp->attr.max_rd_atomic))
				break;
			if ((wqe->send_flags & IBV_SEND_FENCE) && rxe_rd_outstanding(qp))
				break;
			if (rxe_wqe_is_rd(wqe) && wqe->opcode != IBV_WR_ATOMIC_WRITE &&
			    !wqe->inline_data) {
				ret = rxe_req_local_ready(qp, wqe);
				if (ret == -EAGAIN)
					return sent || !rxe_qp_fault_pending(&qp->req_fault);
				if (ret) {
					rxe_req_error(qp, wqe, ret);
					return true;
				}
			}
			rxe_resp_note_answer(qp, now);
			wqe->npkts = rxe_wqe_npkts(qp, wqe);
			wqe->first_psn = qp->req.psn;
			wqe->last_psn = rxe_psn_add(qp->req.psn, wqe->npkts - 1);
			qp->req.last_psn = wqe->last_psn;
			wqe->state = WQE_STARTED;
			qp->req.offset = 0;
		}
		room = budget;
		if (rc) {
			int32_t inflight = rxe_psn_diff(qp->req.psn, qp->comp.psn);

			if (inflight >= RXE_MAX_INFLIGHT || qp->dev->tx_window <= 0)
				break;
			room = SODP_MIN(room,
					SODP_MIN(RXE_MAX_INFLIGHT - inflight, qp->dev->tx_window));
		}
		n = rxe_req_data_run(qp, wqe, (unsigned int)room);
		if (!n) {
			ret = rxe_req_packet(qp, wqe);
			if (ret == -EAGAIN)
				return sent || !rxe_qp_fault_pending(&qp->req_fault);
			if (ret)
				return true;
			n = 1;
		}
		sent = true;
		budget -= (int)n;
		if (rc)
			qp->dev->tx_window -= (int)n;
		if (rc && !qp->comp.deadline)
			qp->comp.deadline = now + rxe_timeout_ns(qp->attr.timeout);
		if (rc && !rxe_timeout_ns(qp->attr.timeout))
			qp->comp.deadline = 0;
	}
	return sent || budget == 0;
}
