// SPDX-License-Identifier: MIT
/*
 * The responder: executes incoming requests (SEND into receive WQEs, RDMA
 * WRITE, READ, atomics) and queues its responses.
 *
 * Request processing is a sequence of checks, each a state:
 *   CHECK_PSN -> CHECK_OPCODE_SEQ -> CHECK_RESOURCE -> CHECK_RKEY -> EXECUTE
 *   -> COMPLETE, with exits to DUPLICATE, NAK_* and RNR. Remote access is
 * validated (rkey, PD, access rights of MR and QP, bounds) before any byte
 * of application memory is touched, and a RETH longer than a message may be
 * (RXE_MAX_MSG_SIZE, 2^31) is an invalid request, as kernel rxe's
 * check_length() finds it; packet counts are computed in 64 bits.
 *
 * Responses go through a per-QP FIFO (resp.q) so that they leave in PSN
 * order: READ responses are produced a budget at a time by
 * rxe_resp_send_queued(), and an ACK queued behind a READ waits for it.
 * Consecutive ACKs in the FIFO merge (ACK coalescing): one ACK per batch of
 * received packets acknowledges everything before it.
 *
 * READ and atomic requests are remembered in resp.res (max_dest_rd_atomic
 * entries) so that a duplicate is answered again: READs are re-executed,
 * atomics replay the saved original value instead of executing twice. A
 * duplicate of a READ whose answer is still queued or streaming moves that
 * answer back to the PSN asked for instead of queueing a second one, as
 * kernel rxe's responder restarts its current resource: a requester that
 * lost one packet of a long READ gets the rest once, not twice (or once
 * per timeout, each copy as long as the READ).
 * ATOMIC WRITE takes an entry too and a duplicate only repeats its response:
 * the 8 bytes are never stored twice (a later WRITE may have overwritten
 * them since).
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>

#include "rxe.h"
#include "log.h"

enum rxe_resp_result {
	RESP_DONE,	 /* executed, advance the PSN */
	RESP_DROP,	 /* ignore silently */
	RESP_RNR,	 /* no receive WQE */
	RESP_RNR_FAULT,	 /* the memory is being faulted in */
	RESP_NAK_INV,	 /* invalid request */
	RESP_NAK_ACCESS, /* remote access error */
	RESP_NAK_OP,	 /* remote operational error */
};

/* ---- response queue ---- */

static struct rxe_resp_entry *rxe_respq_at(struct rxe_resp_state *r, uint32_t i)
{
	return &r->q[i & (r->q_len - 1)];
}

/*
 * A new entry at the tail, or NULL when the queue is full. The answers of
 * the READ/atomic requests the requester may still send (rd_max, of which
 * rd_queued are queued) always find room: every other entry (@counted
 * false: ACKs, NAKs, replays of duplicates) leaves that many slots free.
 */
static struct rxe_resp_entry *rxe_respq_push(struct rxe_qp *qp, bool counted)
{
	struct rxe_resp_state *r = &qp->resp;
	uint32_t keep = counted || r->rd_queued >= r->rd_max ? 0 : r->rd_max - r->rd_queued;
	struct rxe_resp_entry *e;

	if (r->q_tail - r->q_head + keep >= r->q_len)
		return NULL;
	e = rxe_respq_at(r, r->q_tail);
	memset(e, 0, sizeof(*e));
	e->counted = counted;
	r->rd_queued += counted;
	r->q_tail++;
	return e;
}

static void rxe_queue_ack(struct rxe_qp *qp, uint32_t psn, uint8_t syndrome)
{
	struct rxe_resp_state *r = &qp->resp;
	struct rxe_resp_entry *e;

	if (r->q_tail != r->q_head) {
		e = rxe_respq_at(r, r->q_tail - 1);
		if (e->kind == RESP_ACK && syndrome == RXE_AETH_SYN_ACK_UNLIMITED &&
		    e->syndrome == syndrome) {
			e->psn = psn;
			e->msn = r->msn;
			return;
		}
	}
	e = rxe_respq_push(qp, false);
	if (!e)
		return; /* the requester's timer covers a lost ACK */
	e->kind = syndrome == RXE_AETH_SYN_ACK_UNLIMITED ? RESP_ACK : RESP_NAK;
	e->psn = psn;
	e->msn = r->msn;
	e->syndrome = syndrome;
}

static void rxe_queue_nak(struct rxe_qp *qp, uint32_t psn, uint8_t code)
{
	rxe_queue_ack(qp, psn, rxe_aeth_syn(RXE_AETH_NAK, code));
}

static void rxe_send_ack_pkt(struct rxe_qp *qp, struct rxe_resp_entry *e, uint8_t opcode)
{
	struct rxe_hdrs h;
	struct rxe_txbuf *tb;

	memset(&h, 0, sizeof(h));
	h.bth.opcode = opcode;
	h.bth.pkey = RXE_DEFAULT_PKEY;
	h.bth.qpn = qp->attr.dest_qp_num;
	h.bth.psn = e->psn;
	h.aeth.syndrome = e->kind == RESP_NAK ? e->syndrome : RXE_AETH_SYN_ACK_UNLIMITED;
	h.aeth.msn = e->msn;
	h.atmack_orig = e->orig;
	tb = rxe_tx_build(qp, &h, 0);
	if (tb)
		rxe_tx_send(qp, tb, &qp->av);
}

/*
 * Where the responder waits for a fault: RC answers RNR NAK (or pauses a
 * READ response) while the fault worker runs; UC and UD fault in line.
 */
static struct rxe_qp_fault *rxe_resp_fault(struct rxe_qp *qp)
{
	return qp->ibqp.qp_base.qp_type == IBV_QPT_RC ? &qp->resp_fault : NULL;
}

/* Copies a READ response's payload: 0, -EAGAIN (wait for a fault), -EFAULT. */
static int rxe_read_payload(struct rxe_qp *qp, struct rxe_resp_entry *e, void *buf, uint32_t len)
{
	struct rxe_mr *mr = rxe_rkey_mr(qp->dev, e->rkey, e->lkey);
	struct rxe_miss miss;
	int ret;

	if (!mr) /* deregistered or its window revoked while the response was queued */
		return -EFAULT;
	ret = rxe_mr_copy(mr, e->va, buf, len, e->resid - len, false, rxe_resp_fault(qp), &miss);
	return ret == -EAGAIN ? ret : ret ? -EFAULT : 0;
}

/*
 * One READ response packet: 1 when the READ is finished, 0 when more is to
 * come, -EAGAIN when its memory is being faulted (nothing was sent).
 */
static int rxe_send_read_pkt(struct rxe_qp *qp, struct rxe_resp_entry *e)
{
	uint32_t len = SODP_MIN(qp->mtu, e->resid);
	bool last = e->resid <= qp->mtu;
	struct rxe_hdrs h;
	struct rxe_txbuf *tb;
	int ret;

	memset(&h, 0, sizeof(h));
	if (!e->first_sent)
		h.bth.opcode = last ? IB_OPCODE_RC_RDMA_READ_RESPONSE_ONLY
				    : IB_OPCODE_RC_RDMA_READ_RESPONSE_FIRST;
	else
		h.bth.opcode = last ? IB_OPCODE_RC_RDMA_READ_RESPONSE_LAST
				    : IB_OPCODE_RC_RDMA_READ_RESPONSE_MIDDLE;
	h.bth.pkey = RXE_DEFAULT_PKEY;
	h.bth.qpn = qp->attr.dest_qp_num;
	h.bth.psn = e->psn;
	h.aeth.syndrome = RXE_AETH_SYN_ACK_UNLIMITED;
	h.aeth.msn = e->msn;
	tb = rxe_tx_build(qp, &h, len);
	if (!tb)
		return 1;
	ret = len ? rxe_read_payload(qp, e, tb->data + tb->hdr_len, len) : 0;
	if (ret == -EAGAIN)
		return ret; /* the packet is not committed: built again later */
	if (ret) {
		/* the memory went away under a valid rkey */
		e->kind = RESP_NAK;
		e->syndrome = rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_REM_ACCESS_ERROR);
		rxe_send_ack_pkt(qp, e, IB_OPCODE_RC_ACKNOWLEDGE);
		return 1;
	}
	rxe_tx_send(qp, tb, &qp->av);
	e->first_sent = true;
	e->va += len;
	e->resid -= len;
	e->psn = rxe_psn_add(e->psn, 1);
	return last;
}

/*
 * Sends queued responses of @qp, up to a budget. Engine, under dev->lock.
 * Returns true if something was sent.
 */
bool rxe_resp_send_queued(struct rxe_qp *qp)
{
	struct rxe_resp_state *r = &qp->resp;
	int budget = RXE_RESP_BUDGET;
	bool sent = false;

	while (budget > 0 && r->q_head != r->q_tail) {
		struct rxe_resp_entry *e = rxe_respq_at(r, r->q_head);
		int done = 1;

		switch (e->kind) {
		case RESP_ACK:
		case RESP_NAK:
			rxe_send_ack_pkt(qp, e, IB_OPCODE_RC_ACKNOWLEDGE);
			break;
		case RESP_ATOMIC:
			rxe_send_ack_pkt(qp, e, IB_OPCODE_RC_ATOMIC_ACKNOWLEDGE);
			break;
		case RESP_ATOMIC_WRITE:
			rxe_send_ack_pkt(qp, e, IB_OPCODE_RC_RDMA_READ_RESPONSE_ONLY);
			break;
		case RESP_READ:
			done = rxe_send_read_pkt(qp, e);
			if (done < 0)
				return sent; /* paused until its fault is done */
			break;
		}
		sent = true;
		budget--;
		if (done) {
			r->rd_queued -= e->counted;
			r->q_head++;
		}
	}
	return sent;
}

/* ---- receive WQEs ---- */

static bool rxe_get_recv_wqe(struct rxe_qp *qp)
{
	struct rxe_resp_state *r = &qp->resp;
	uint32_t cons, prod;

	if (r->have_wqe)
		return true;
	if (qp->srq) {
		if (!rxe_srq_take(qp->srq, &r->wqe))
			return false;
		r->from_srq = true;
	} else {
		cons = qp->rq.cons;
		prod = __atomic_load_n(&qp->rq.prod, __ATOMIC_ACQUIRE);
		if (cons == prod)
			return false;
		r->wqe = *(struct rxe_recv_wqe *)rxe_wq_slot(&qp->rq, cons);
		__atomic_store_n(&qp->rq.cons, cons + 1, __ATOMIC_RELEASE);
		r->from_srq = false;
	}
	r->have_wqe = true;
	r->offset = 0;
	return true;
}

static void rxe_recv_complete(struct rxe_qp *qp, enum ibv_wc_status st, enum ibv_wc_opcode op,
			      uint32_t byte_len, struct rxe_pkt *pkt, unsigned int flags,
			      uint32_t src_qp)
{
	struct rxe_cqe e = {
		.wr_id = qp->resp.wqe.wr_id,
		.status = st,
		.opcode = op,
		.byte_len = byte_len,
		.qp_num = qp->ibqp.qp_base.qp_num,
		.src_qp = src_qp,
		.wc_flags = flags,
	};

	if (pkt && (pkt->pi.mask & RXE_IMMDT_MASK)) {
		e.imm_data = htobe32(pkt->pi.h.imm);
		e.wc_flags |= IBV_WC_WITH_IMM;
	} else if (pkt && (pkt->pi.mask & RXE_IETH_MASK)) {
		e.imm_data = pkt->pi.h.ieth_rkey; /* invalidated_rkey, host order */
		e.wc_flags |= IBV_WC_WITH_INV;
	}
	qp->resp.have_wqe = false;
	if (rxe_cq_post(qp->rcq, &e, pkt && pkt->pi.h.bth.se) == -ENOSPC)
		rxe_qp_cq_overrun(qp);
}

/* ---- UD ---- */

static uint16_t rxe_ip_csum(const void *hdr, unsigned int len)
{
	const uint8_t *p = hdr;
	uint32_t sum = 0;
	unsigned int i;

	for (i = 0; i < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The 40 bytes verbs put before a UD payload: a GRH, or an IPv4 header in
 * its last 20 bytes for IPv4 RoCEv2 (as rdma-core's rxe does). */
static void rxe_build_grh(struct rxe_pkt *pkt, uint8_t grh[RXE_GRH_LEN])
{
	uint32_t udp_len = 8 + pkt->pi.len;

	memset(grh, 0, RXE_GRH_LEN);
	if (pkt->src.ss_family == AF_INET) {
		struct iphdr ip;

		memset(&ip, 0, sizeof(ip));
		ip.version = 4;
		ip.ihl = 5;
		ip.tot_len = htons(20 + udp_len);
		ip.frag_off = htons(IP_DF);
		ip.ttl = 64;
		ip.protocol = IPPROTO_UDP;
		ip.saddr = ((struct sockaddr_in *)&pkt->src)->sin_addr.s_addr;
		ip.daddr = ((struct sockaddr_in *)&pkt->dst)->sin_addr.s_addr;
		ip.check = htons(rxe_ip_csum(&ip, sizeof(ip)));
		memcpy(grh + 20, &ip, sizeof(ip));
	} else {
		struct ip6_hdr ip6;

		memset(&ip6, 0, sizeof(ip6));
		ip6.ip6_flow = htonl(6u << 28);
		ip6.ip6_plen = htons(udp_len);
		ip6.ip6_nxt = IPPROTO_UDP;
		ip6.ip6_hlim = 64;
		ip6.ip6_src = ((struct sockaddr_in6 *)&pkt->src)->sin6_addr;
		ip6.ip6_dst = ((struct sockaddr_in6 *)&pkt->dst)->sin6_addr;
		memcpy(grh, &ip6, sizeof(ip6));
	}
}

static void rxe_resp_ud(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	struct rxe_recv_wqe *w = &qp->resp.wqe;
	uint8_t grh[RXE_GRH_LEN];
	struct ibv_pd *pd = qp->ibqp.qp_base.pd;
	int ret;

	/* its P_Key and Q_Key were checked on receipt (net.c) */
	if (pkt->pi.opcode != IB_OPCODE_UD_SEND_ONLY &&
	    pkt->pi.opcode != IB_OPCODE_UD_SEND_ONLY_WITH_IMMEDIATE)
		return;
	if (qp->state != IBV_QPS_RTR && qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_SQD &&
	    qp->state != IBV_QPS_SQE)
		return;
	if (!rxe_get_recv_wqe(qp))
		return; /* UD: no RNR, the datagram is dropped */
	if (RXE_GRH_LEN + pkt->pi.paylen > w->length) {
		rxe_recv_complete(qp, IBV_WC_LOC_LEN_ERR, IBV_WC_RECV, 0, NULL, 0,
				  pkt->pi.h.deth.sqp);
		return;
	}
	rxe_build_grh(pkt, grh);
	/* a datagram cannot wait: UD faults in line */
	ret = rxe_sge_copy(qp->dev, pd, w->sge, w->num_sge, 0, grh, RXE_GRH_LEN, true, NULL, NULL);
	if (!ret)
		ret = rxe_sge_copy(qp->dev, pd, w->sge, w->num_sge, RXE_GRH_LEN,
				   (void *)pkt->pi.payload, pkt->pi.paylen, true, NULL, NULL);
	if (ret) {
		rxe_recv_complete(qp, IBV_WC_LOC_PROT_ERR, IBV_WC_RECV, 0, NULL, 0,
				  pkt->pi.h.deth.sqp);
		return;
	}
	rxe_recv_complete(qp, IBV_WC_SUCCESS, IBV_WC_RECV, RXE_GRH_LEN + pkt->pi.paylen, pkt,
			  IBV_WC_GRH, pkt->pi.h.deth.sqp);
}

/* ---- RC / UC requests ---- */

static bool rxe_in_send(uint8_t op)
{
	op &= IB_OPCODE_OP_MASK;
	return op == IB_OPCODE_SEND_FIRST || op == IB_OPCODE_SEND_MIDDLE;
}

static bool rxe_in_write(uint8_t op)
{
	op &= IB_OPCODE_OP_MASK;
	return op == IB_OPCODE_RDMA_WRITE_FIRST || op == IB_OPCODE_RDMA_WRITE_MIDDLE;
}

/* CHECK_OPCODE_SEQ: FIRST/MIDDLE must be followed by MIDDLE/LAST of the same kind. */
static bool rxe_check_op_seq(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	uint8_t last = qp->resp.last_opcode;
	uint32_t m = pkt->pi.mask;

	if (last != RXE_OPCODE_NONE && rxe_in_send(last))
		return (m & RXE_SEND_MASK) && !(m & RXE_START_MASK);
	if (last != RXE_OPCODE_NONE && rxe_in_write(last))
		return (m & RXE_WRITE_MASK) && !(m & RXE_START_MASK);
	return m & RXE_START_MASK;
}

/* Payload length rules of IBA 9.7.4.1.4 against the path MTU. */
static bool rxe_check_len(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	uint32_t m = pkt->pi.mask;

	if (pkt->pi.paylen > qp->mtu)
		return false;
	if (!(m & RXE_END_MASK) && pkt->pi.paylen != qp->mtu)
		return false;
	return true;
}

/* The receive completion status of a failed copy into a receive WQE. */
static enum ibv_wc_status rxe_recv_copy_status(int err)
{
	switch (err) {
	case -ENOSPC:
		return IBV_WC_LOC_LEN_ERR;
	case -EACCES:
		return IBV_WC_LOC_PROT_ERR; /* key, PD or bounds of the SGE */
	default:
		return IBV_WC_LOC_QP_OP_ERR; /* memory that cannot be mapped (kernel rxe) */
	}
}

/*
 * The result of an access to the requester's target memory: done, an RNR
 * NAK while its fault is resolved (counted on the MR that missed), or a
 * remote access error.
 */
static enum rxe_resp_result rxe_resp_access(int ret, const struct rxe_miss *miss)
{
	if (!ret)
		return RESP_DONE;
	if (ret != -EAGAIN)
		return RESP_NAK_ACCESS;
	sodp_umem_count_rnr(miss->umem);
	return RESP_RNR_FAULT;
}

/*
 * The RNR NAK timer while a request waits for a page fault: min_rnr_timer
 * at first, then longer for every RNR NAK the same wait costs, up to
 * RXE_FAULT_RNR_MAX (the NAK gives the least time the requester waits; a
 * responder may ask for more than min_rnr_timer). Every RNR NAK makes the
 * requester send again all it had in flight, so a fault the kernel is slow
 * to serve (a huge page took up to 22 ms to populate here) must not cost a
 * resend of the whole window every 10 us. Code 0 (655 ms) is already the
 * longest.
 */
#define RXE_FAULT_RNR_MAX 14 /* 1.28 ms */

static uint8_t rxe_fault_rnr_timer(struct rxe_qp *qp)
{
	unsigned int min = qp->attr.min_rnr_timer, n = qp->resp.fault_rnrs;

	if (qp->resp.fault_rnrs < RXE_FAULT_RNR_MAX)
		qp->resp.fault_rnrs++;
	if (!min)
		return 0;
	return (uint8_t)SODP_MIN(min + 2 * n, SODP_MAX(min, (unsigned int)RXE_FAULT_RNR_MAX));
}

static enum rxe_resp_result rxe_do_send(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	struct rxe_resp_state *r = &qp->resp;
	struct rxe_miss miss;
	int ret;

	if (!rxe_get_recv_wqe(qp))
		return RESP_RNR;
	ret = rxe_sge_copy(qp->dev, qp->ibqp.qp_base.pd, r->wqe.sge, r->wqe.num_sge, r->offset,
			   (void *)pkt->pi.payload, pkt->pi.paylen, true, rxe_resp_fault(qp),
			   &miss);
	if (ret == -EAGAIN)
		return rxe_resp_access(ret, &miss);
	if (ret) {
		rxe_recv_complete(qp, rxe_recv_copy_status(ret), IBV_WC_RECV, 0, NULL, 0,
				  qp->attr.dest_qp_num);
		return ret == -ENOSPC ? RESP_NAK_INV : RESP_NAK_OP;
	}
	r->offset += pkt->pi.paylen;
	/*
	 * SEND_WITH_INV revokes a type 2 window bound to this QP; any other
	 * key (an MR's, a type 1 window's, a stale one) is the requester's
	 * error: the receive completes IBV_WC_REM_INV_REQ_ERR as in kernel
	 * rxe, the requester gets a Remote Operational Error NAK.
	 */
	if ((pkt->pi.mask & RXE_IETH_MASK) && rxe_invalidate_rkey(qp, pkt->pi.h.ieth_rkey, true)) {
		rxe_recv_complete(qp, IBV_WC_REM_INV_REQ_ERR, IBV_WC_RECV, 0, NULL, 0,
				  qp->attr.dest_qp_num);
		return RESP_NAK_OP;
	}
	if (pkt->pi.mask & RXE_END_MASK) {
		rxe_recv_complete(qp, IBV_WC_SUCCESS, IBV_WC_RECV, r->offset, pkt, 0,
				  qp->attr.dest_qp_num);
		r->msn++;
	}
	return RESP_DONE;
}

/* An MR's or a window's rkey (mw.c), and the QP's own remote access rights. */
static int rxe_check_rkey(struct rxe_qp *qp, uint32_t rkey, uint64_t va, uint64_t len,
			  unsigned int access, uintptr_t *out, uint32_t *lkey)
{
	if (!(qp->attr.qp_access_flags & access))
		return -EACCES;
	return rxe_rkey_check(qp, rkey, va, len, access, out, lkey);
}

static enum rxe_resp_result rxe_do_write(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	struct rxe_resp_state *r = &qp->resp;
	uint32_t m = pkt->pi.mask;
	bool imm = m & RXE_IMMDT_MASK;

	if (m & RXE_START_MASK) {
		const struct rxe_reth *reth = &pkt->pi.h.reth;
		uint32_t lkey = 0;
		uintptr_t va = 0;

		if (reth->len > RXE_MAX_MSG_SIZE)
			return RESP_NAK_INV;
		if (reth->len && rxe_check_rkey(qp, reth->rkey, reth->va, reth->len,
						IBV_ACCESS_REMOTE_WRITE, &va, &lkey))
			return RESP_NAK_ACCESS;
		if (imm && !rxe_get_recv_wqe(qp))
			return RESP_RNR;
		r->write_rkey = reth->rkey;
		r->write_lkey = lkey;
		r->write_va = va;
		r->write_resid = reth->len;
		r->write_len = reth->len;
	} else if (imm && !rxe_get_recv_wqe(qp)) {
		return RESP_RNR;
	}
	if (pkt->pi.paylen > r->write_resid ||
	    ((m & RXE_END_MASK) && pkt->pi.paylen != r->write_resid)) {
		sodp_dbg("qp %#x: WRITE psn %#x: %u bytes, %u left\n", qp->ibqp.qp_base.qp_num,
			 pkt->pi.h.bth.psn, pkt->pi.paylen, r->write_resid);
		return RESP_NAK_INV;
	}
	if (pkt->pi.paylen) {
		struct rxe_mr *mr = rxe_rkey_mr(qp->dev, r->write_rkey, r->write_lkey);
		enum rxe_resp_result res;
		struct rxe_miss miss;

		if (!mr) /* deregistered or its window revoked in the middle of the message */
			return RESP_NAK_ACCESS;
		res = rxe_resp_access(rxe_mr_copy(mr, r->write_va, (void *)pkt->pi.payload,
						  pkt->pi.paylen, r->write_resid - pkt->pi.paylen,
						  true, rxe_resp_fault(qp), &miss),
				      &miss);
		if (res != RESP_DONE)
			return res;
		if (m & RXE_START_MASK)
			rxe_prefetch_ahead(qp, mr, r->write_va, r->write_len);
	}
	r->write_va += pkt->pi.paylen;
	r->write_resid -= pkt->pi.paylen;
	if (m & RXE_END_MASK) {
		if (imm)
			rxe_recv_complete(qp, IBV_WC_SUCCESS, IBV_WC_RECV_RDMA_WITH_IMM,
					  r->write_len, pkt, 0, qp->attr.dest_qp_num);
		r->msn++;
	}
	return RESP_DONE;
}

static struct rxe_rd_res *rxe_res_new(struct rxe_qp *qp)
{
	struct rxe_resp_state *r = &qp->resp;
	struct rxe_rd_res *res;

	if (!r->nres)
		return NULL;
	res = &r->res[r->res_next++ % r->nres];
	memset(res, 0, sizeof(*res));
	res->valid = true;
	return res;
}

/*
 * Queues a response of @kind: the answer of a new request (@counted, which
 * always finds room) or a replay (NULL when there is none: the requester
 * asks again).
 */
static struct rxe_resp_entry *rxe_queue_resp(struct rxe_qp *qp, enum rxe_resp_kind kind,
					     uint32_t psn, uint32_t msn, bool counted)
{
	struct rxe_resp_entry *e = rxe_respq_push(qp, counted);

	if (e) {
		e->kind = kind;
		e->psn = psn;
		e->msn = msn;
	}
	return e;
}

static void rxe_queue_read(struct rxe_qp *qp, uint32_t psn, uint32_t rkey, uint32_t lkey,
			   uintptr_t va, uint32_t len, uint32_t msn, bool counted)
{
	struct rxe_resp_entry *e = rxe_queue_resp(qp, RESP_READ, psn, msn, counted);

	if (!e)
		return;
	e->rkey = rkey;
	e->lkey = lkey;
	e->va = va;
	e->resid = len;
}

/*
 * CHECK_RESOURCE of a READ, atomic or ATOMIC WRITE: the requester may have
 * as many unanswered as the responder resources it was given
 * (max_dest_rd_atomic, rounded up to a power of two as kernel rxe rounds
 * it, resp.rd_max); one more is an invalid request, as kernel rxe's
 * RESPST_ERR_TOO_MANY_RDMA_ATM_REQ (with max_dest_rd_atomic 0, any).
 */
static bool rxe_resp_rd_resource(struct rxe_qp *qp)
{
	if (qp->resp.rd_queued < qp->resp.rd_max)
		return true;
	sodp_dbg("qp %#x: more than %u READ/atomic requests unanswered\n", qp->ibqp.qp_base.qp_num,
		 qp->resp.rd_max);
	return false;
}

static enum rxe_resp_result rxe_do_read(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	const struct rxe_reth *reth = &pkt->pi.h.reth;
	struct rxe_rd_res *res;
	uint32_t npkts, lkey = 0;
	uintptr_t va = 0;

	if (!rxe_resp_rd_resource(qp))
		return RESP_NAK_INV;
	if (reth->len > RXE_MAX_MSG_SIZE)
		return RESP_NAK_INV;
	if (reth->len &&
	    rxe_check_rkey(qp, reth->rkey, reth->va, reth->len, IBV_ACCESS_REMOTE_READ, &va, &lkey))
		return RESP_NAK_ACCESS;
	npkts = reth->len ? (uint32_t)(((uint64_t)reth->len + qp->mtu - 1) / qp->mtu) : 1;
	res = rxe_res_new(qp);
	if (res) {
		res->first_psn = pkt->pi.h.bth.psn;
		res->last_psn = rxe_psn_add(pkt->pi.h.bth.psn, npkts - 1);
		res->va = reth->va;
		res->len = reth->len;
		res->rkey = reth->rkey;
	}
	qp->resp.msn++;
	if (res)
		res->msn = qp->resp.msn;
	rxe_queue_read(qp, pkt->pi.h.bth.psn, reth->rkey, lkey, va, reth->len, qp->resp.msn, true);
	qp->resp.psn = rxe_psn_add(pkt->pi.h.bth.psn, npkts);
	return RESP_DONE;
}

static void rxe_queue_atomic(struct rxe_qp *qp, uint32_t psn, uint64_t orig, uint32_t msn,
			     bool counted)
{
	struct rxe_resp_entry *e = rxe_queue_resp(qp, RESP_ATOMIC, psn, msn, counted);

	if (e)
		e->orig = orig;
}

/* An 8-byte atomic at @va through the MR of @lkey (already checked). */
static enum rxe_resp_result rxe_resp_atomic(struct rxe_qp *qp, uint32_t lkey, uintptr_t va,
					    enum sodp_atomic_op op, uint64_t cmp_add, uint64_t swap,
					    uint64_t *orig)
{
	struct rxe_miss miss;
	int ret = rxe_mr_atomic(rxe_mr_lookup(qp->dev, lkey), va, op, cmp_add, swap, orig,
				rxe_resp_fault(qp), &miss);

	return rxe_resp_access(ret, &miss);
}

static enum rxe_resp_result rxe_do_atomic(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	const struct rxe_atmeth *a = &pkt->pi.h.atmeth;
	enum rxe_resp_result ret;
	struct rxe_rd_res *res;
	uintptr_t va;
	uint64_t orig;
	uint32_t lkey;

	if (!rxe_resp_rd_resource(qp))
		return RESP_NAK_INV;
	if (a->va & 7)
		return RESP_NAK_INV;
	if (rxe_check_rkey(qp, a->rkey, a->va, 8, IBV_ACCESS_REMOTE_ATOMIC, &va, &lkey))
		return RESP_NAK_ACCESS;
	/* the AtomicETH's swap-or-add field is FETCH_ADD's addend (IBA 9.3.4) */
	if (pkt->pi.opcode == IB_OPCODE_RC_COMPARE_SWAP)
		ret = rxe_resp_atomic(qp, lkey, va, SODP_ATOMIC_CMP_SWAP, a->comp, a->swap_add,
				      &orig);
	else
		ret = rxe_resp_atomic(qp, lkey, va, SODP_ATOMIC_FETCH_ADD, a->swap_add, 0, &orig);
	if (ret != RESP_DONE)
		return ret;
	qp->resp.msn++;
	res = rxe_res_new(qp);
	if (res) {
		res->atomic = true;
		res->first_psn = res->last_psn = pkt->pi.h.bth.psn;
		res->orig = orig;
		res->msn = qp->resp.msn;
	}
	rxe_queue_atomic(qp, pkt->pi.h.bth.psn, orig, qp->resp.msn, true);
	qp->resp.psn = rxe_psn_add(pkt->pi.h.bth.psn, 1);
	return RESP_DONE;
}

static void rxe_queue_atomic_write(struct rxe_qp *qp, uint32_t psn, uint32_t msn, bool counted)
{
	rxe_queue_resp(qp, RESP_ATOMIC_WRITE, psn, msn, counted);
}

/*
 * ATOMIC WRITE: a RETH and exactly 8 bytes of payload, stored at the target
 * with one 64-bit write. The checks follow kernel rxe (check_resource(),
 * check_rkey(), atomic_write_reply()): a responder resource must exist, the
 * rkey must grant REMOTE_WRITE over the RETH's range (else remote access
 * error), the RETH length and the payload must both be 8 bytes, and the
 * target address must be 8-byte aligned (else invalid request). Nothing is
 * stored unless every check passed.
 */
static enum rxe_resp_result rxe_do_atomic_write(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	const struct rxe_reth *reth = &pkt->pi.h.reth;
	uint32_t psn = pkt->pi.h.bth.psn;
	enum rxe_resp_result ret;
	struct rxe_rd_res *res;
	uint64_t value, orig;
	uintptr_t va;
	uint32_t lkey;

	if (!rxe_resp_rd_resource(qp))
		return RESP_NAK_INV;
	if (rxe_check_rkey(qp, reth->rkey, reth->va, reth->len, IBV_ACCESS_REMOTE_WRITE, &va,
			   &lkey))
		return RESP_NAK_ACCESS;
	if (reth->len != sizeof(value) || pkt->pi.paylen != sizeof(value))
		return RESP_NAK_INV;
	if (va & (sizeof(value) - 1))
		return RESP_NAK_INV;
	memcpy(&value, pkt->pi.payload, sizeof(value));
	ret = rxe_resp_atomic(qp, lkey, va, SODP_ATOMIC_WRITE, value, 0, &orig);
	if (ret != RESP_DONE)
		return ret;
	qp->resp.msn++;
	res = rxe_res_new(qp);
	if (res) {
		res->atomic = true;
		res->atomic_write = true;
		res->first_psn = res->last_psn = psn;
		res->msn = qp->resp.msn;
	}
	rxe_queue_atomic_write(qp, psn, qp->resp.msn, true);
	qp->resp.psn = rxe_psn_add(psn, 1);
	return RESP_DONE;
}

/* The remembered READ/atomic whose PSN range holds @psn, or NULL. */
static struct rxe_rd_res *rxe_res_find(struct rxe_qp *qp, uint32_t psn, bool atomic)
{
	uint32_t i;

	for (i = 0; i < qp->resp.nres; i++) {
		struct rxe_rd_res *res = &qp->resp.res[i];

		if (res->valid && res->atomic == atomic && !rxe_psn_before(psn, res->first_psn) &&
		    !rxe_psn_after(psn, res->last_psn))
			return res;
	}
	return NULL;
}

/*
 * Replays of duplicates may use at most half of the response queue, so that
 * copies never crowd out the responses of new requests; a replay that does
 * not fit is dropped and the requester's timer asks again.
 */
static bool rxe_respq_room_for_replay(struct rxe_qp *qp)
{
	return qp->resp.q_tail - qp->resp.q_head < qp->resp.q_len / 2;
}

/* The queued answer of the READ remembered in @res, or NULL. */
static struct rxe_resp_entry *rxe_respq_find_read(struct rxe_qp *qp, const struct rxe_rd_res *res)
{
	struct rxe_resp_state *r = &qp->resp;
	uint32_t i;

	for (i = r->q_head; i != r->q_tail; i++) {
		struct rxe_resp_entry *e = rxe_respq_at(r, i);

		if (e->kind == RESP_READ && e->msn == res->msn && e->rkey == res->rkey)
			return e;
	}
	return NULL;
}

/*
 * DUPLICATE: a request before the expected PSN. It is answered again but
 * never executed twice (IBA 9.7.5.1.1, 9.7.5.1.6):
 *  - SEND / WRITE were executed: ACK the newest PSN again;
 *  - READ is served again from the remembered request; a retry may start
 *    inside the original range (the requester got part of the data) but must
 *    stay inside it;
 *  - an atomic replays the saved original value;
 *  - an ATOMIC WRITE is acknowledged again, without storing.
 * A READ/atomic no longer remembered is dropped, as kernel rxe does.
 */
static void rxe_resp_duplicate(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	uint32_t psn = pkt->pi.h.bth.psn;
	struct rxe_rd_res *res;

	if (pkt->pi.mask & RXE_READ_MASK) {
		const struct rxe_reth *reth = &pkt->pi.h.reth;
		uint32_t lkey = 0;
		uint64_t skip;
		uintptr_t va = 0;

		struct rxe_resp_entry *e;

		res = rxe_res_find(qp, psn, false);
		if (!res)
			return;
		skip = (uint64_t)rxe_psn_diff(psn, res->first_psn) * qp->mtu;
		if (reth->rkey != res->rkey || reth->va != res->va + skip ||
		    (uint64_t)reth->len + skip != res->len)
			return;
		if (reth->len && rxe_check_rkey(qp, reth->rkey, reth->va, reth->len,
						IBV_ACCESS_REMOTE_READ, &va, &lkey))
			return;
		e = rxe_respq_find_read(qp, res);
		if (e) {
			/* still being answered: answer again from @psn, once */
			e->psn = psn;
			e->lkey = lkey;
			e->va = va;
			e->resid = reth->len;
			e->first_sent = false;
			return;
		}
		if (rxe_respq_room_for_replay(qp))
			rxe_queue_read(qp, psn, reth->rkey, lkey, va, reth->len, res->msn, false);
		return;
	}
	if (pkt->pi.mask & (RXE_ATOMIC_MASK | RXE_ATOMIC_WRITE_MASK)) {
		bool write = pkt->pi.mask & RXE_ATOMIC_WRITE_MASK;

		res = rxe_res_find(qp, psn, true);
		if (!res || res->first_psn != psn || res->atomic_write != write ||
		    !rxe_respq_room_for_replay(qp))
			return;
		if (write)
			rxe_queue_atomic_write(qp, psn, res->msn, false);
		else
			rxe_queue_atomic(qp, psn, res->orig, res->msn, false);
		return;
	}
	/* SEND / WRITE already executed: acknowledge the newest PSN again */
	rxe_queue_ack(qp, rxe_psn_add(qp->resp.psn, -1), RXE_AETH_SYN_ACK_UNLIMITED);
}

/* Handles one request packet for @qp. Engine, under dev->lock. */
void rxe_responder(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	struct rxe_resp_state *r = &qp->resp;
	enum ibv_qp_type type = qp->ibqp.qp_base.qp_type;
	uint32_t psn = pkt->pi.h.bth.psn;
	enum rxe_resp_result res;
	uint8_t transport = pkt->pi.opcode & IB_OPCODE_TRANSPORT_MASK;
	int32_t d;

	if (type == IBV_QPT_UD) {
		rxe_resp_ud(qp, pkt);
		return;
	}
	if (qp->state != IBV_QPS_RTR && qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_SQD)
		return;
	if ((type == IBV_QPT_RC && transport != IB_OPCODE_RC) ||
	    (type == IBV_QPT_UC && transport != IB_OPCODE_UC))
		return;

	/* CHECK_PSN */
	d = rxe_psn_diff(psn, r->psn);
	if (type == IBV_QPT_RC) {
		if (d > 0) {
			if (!r->nak_seq_sent) {
				r->nak_seq_sent = true;
				rxe_queue_nak(qp, r->psn, RXE_NAK_PSN_SEQ_ERROR);
			}
			return;
		}
		if (d < 0) {
			rxe_resp_duplicate(qp, pkt);
			return;
		}
	} else if (d != 0) {
		/* UC: packets were lost; drop the message in progress */
		r->last_opcode = RXE_OPCODE_NONE;
		r->psn = psn;
		if (r->have_wqe)
			r->offset = 0;
	}
	r->nak_seq_sent = false;

	/* CHECK_OPCODE_SEQ and lengths */
	if (!rxe_check_op_seq(qp, pkt) || !rxe_check_len(qp, pkt)) {
		sodp_dbg("qp %#x: opcode %#x psn %#x after %#x len %u: bad sequence/length\n",
			 qp->ibqp.qp_base.qp_num, pkt->pi.opcode, psn, r->last_opcode,
			 pkt->pi.paylen);
		res = RESP_NAK_INV;
		goto result;
	}

	/* EXECUTE */
	if (pkt->pi.mask & RXE_SEND_MASK)
		res = rxe_do_send(qp, pkt);
	else if (pkt->pi.mask & RXE_WRITE_MASK)
		res = rxe_do_write(qp, pkt);
	else if (type == IBV_QPT_RC && (pkt->pi.mask & RXE_READ_MASK))
		res = rxe_do_read(qp, pkt);
	else if (type == IBV_QPT_RC && (pkt->pi.mask & RXE_ATOMIC_MASK))
		res = rxe_do_atomic(qp, pkt);
	else if (type == IBV_QPT_RC && (pkt->pi.mask & RXE_ATOMIC_WRITE_MASK))
		res = rxe_do_atomic_write(qp, pkt);
	else
		res = RESP_NAK_INV;

result:
	/* a receive completion found its CQ full: the QP is in error, nothing is answered */
	if (qp->state == IBV_QPS_ERR)
		return;
	/* COMPLETE, or one of the error exits */
	switch (res) {
	case RESP_DONE:
		r->fault_rnrs = 0;
		if (pkt->pi.mask & (RXE_SEND_MASK | RXE_WRITE_MASK)) {
			r->last_opcode =
				(pkt->pi.mask & RXE_END_MASK) ? RXE_OPCODE_NONE : pkt->pi.opcode;
			r->psn = rxe_psn_add(psn, 1);
			if (type == IBV_QPT_RC && pkt->pi.h.bth.ack_req)
				rxe_queue_ack(qp, psn, RXE_AETH_SYN_ACK_UNLIMITED);
		}
		break;
	case RESP_DROP:
		break;
	case RESP_RNR:
	case RESP_RNR_FAULT:
		if (type == IBV_QPT_RC)
			rxe_queue_ack(qp, psn,
				      rxe_aeth_syn(RXE_AETH_RNR_NAK,
						   res == RESP_RNR_FAULT ? rxe_fault_rnr_timer(qp)
									 : qp->attr.min_rnr_timer));
		else
			r->last_opcode = RXE_OPCODE_NONE; /* UC: the message is lost */
		break;
	case RESP_NAK_INV:
	case RESP_NAK_ACCESS:
	case RESP_NAK_OP:
		if (type != IBV_QPT_RC) {
			r->last_opcode = RXE_OPCODE_NONE;
			r->psn = rxe_psn_add(psn, 1);
			break;
		}
		rxe_queue_nak(qp, psn,
			      res == RESP_NAK_INV      ? RXE_NAK_INVALID_REQUEST
			      : res == RESP_NAK_ACCESS ? RXE_NAK_REM_ACCESS_ERROR
						       : RXE_NAK_REM_OP_ERROR);
		/* the responder's QP enters the error state too (IBA 9.9.2) */
		rxe_resp_send_queued(qp);
		rxe_qp_error(qp);
		break;
	}
}
