// SPDX-License-Identifier: MIT
/*
 * The responder: executes incoming requests (SEND into receive WQEs, RDMA
 * WRITE, READ, atomics, ATOMIC WRITE) and queues its responses.
 *
 * Every request packet runs through one state machine (rxe_responder()):
 * each state is a small function that returns the next, and every state
 * returns a later one in enum resp_state than itself, so a packet always
 * reaches RS_DONE. The states, in that order:
 *
 *   CHECK_PSN          RC: a PSN past the expected one is a sequence error,
 *                      NAKed once and then dropped until the expected PSN
 *                      comes; one before it is a duplicate. UC: a gap
 *                      abandons the message in progress. UD: no sequence.
 *   CHECK_OP_SEQ       FIRST/MIDDLE go on with MIDDLE/LAST of the same kind.
 *   CHECK_OP_VALID     an operation the QP's transport executes.
 *   CHECK_RESOURCE     a responder resource for a READ, atomic or ATOMIC
 *                      WRITE; a receive WQE for what consumes one (SEND,
 *                      WRITE with immediate), else RNR.
 *   CHECK_LENGTH       payload against the path MTU (IBA 9.7.4.1.4), a
 *                      READ/WRITE RETH against RXE_MAX_MSG_SIZE (2^31).
 *   CHECK_RKEY         rkey, PD, access rights of MR and QP, bounds; then a
 *                      WRITE's payload against what its RETH announced, an
 *                      ATOMIC WRITE's 8 bytes and an atomic's alignment.
 *   EXECUTE            moves the bytes; READ/atomic take a resource entry.
 *                      A receive WQE a SEND cannot fill completes in error
 *                      (then RC NAKs); a UD datagram's only so completes.
 *   COMPLETE           the end of a message completes its receive WQE; the
 *                      expected PSN and MSN move on.
 *   ACKNOWLEDGE        RC: queues the ACK (if AckReq), READ response, atomic
 *                      ACK or ATOMIC WRITE response.
 *   DUPLICATE_REQUEST  answered again, never executed twice (see below).
 *   ODP_MISS           EXECUTE found a page of an ODP MR missing: RC answers
 *                      RNR NAK, with a timer that grows while the fault
 *                      worker resolves it, and the requester sends again.
 *   ERR_PSN_SEQ        NAK PSN sequence error for the expected PSN.
 *   ERR_RNR            RNR NAK with the QP's min_rnr_timer.
 *   ERR_INVALID_REQUEST, ERR_LENGTH, ERR_RKEY_VIOLATION,
 *   ERR_REMOTE_OPERATIONAL
 *                      RC: NAK invalid request, invalid request, remote
 *                      access error, remote operational error; the
 *                      responder's QP enters the error state too (IBA
 *                      9.9.2). UC abandons the message, UD the datagram:
 *                      an unacknowledged transport answers nothing.
 *   ERR_CQ_OVERFLOW    a receive completion found its CQ full: the QP is
 *                      in error and nothing is answered.
 *   DROP               the packet is ignored without an answer and counted
 *                      (dev->resp_drops): a repeated sequence error, a
 *                      duplicate READ/atomic with nothing to replay, every
 *                      UC/UD error above, a UD datagram with no receive
 *                      WQE or longer than the port's MTU.
 *   DONE
 *
 * The checks run in the order of kernel rxe's responder: resources before
 * keys, so that a SEND or WRITE with immediate that finds no receive WQE
 * gets RNR NAK whatever else is wrong with it (the requester sends it again
 * and then learns the rest), while a WRITE, which consumes no receive WQE,
 * is refused for its rkey. Remote access is validated before any byte of
 * application memory is touched; packet counts are computed in 64 bits.
 * Packets of another transport, for a QP in a state that takes no request,
 * or from another address or partition never get here: rxe_rx_accept()
 * (net.c) drops and counts them by reason. SOFTODP_LOG=debug traces every
 * state a packet goes through.
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

enum resp_state {
	RS_CHECK_PSN,
	RS_CHECK_OP_SEQ,
	RS_CHECK_OP_VALID,
	RS_CHECK_RESOURCE,
	RS_CHECK_LENGTH,
	RS_CHECK_RKEY,
	RS_EXECUTE,
	RS_COMPLETE,
	RS_ACKNOWLEDGE,
	RS_DUPLICATE_REQUEST,
	RS_ODP_MISS,
	RS_ERR_PSN_SEQ,
	RS_ERR_RNR,
	RS_ERR_INVALID_REQUEST,
	RS_ERR_LENGTH,
	RS_ERR_RKEY_VIOLATION,
	RS_ERR_REMOTE_OPERATIONAL,
	RS_ERR_CQ_OVERFLOW,
	RS_DROP,
	RS_DONE,
	RS_NR,
};

static const char *const resp_state_name[RS_NR] = {
	[RS_CHECK_PSN] = "CHECK_PSN",
	[RS_CHECK_OP_SEQ] = "CHECK_OP_SEQ",
	[RS_CHECK_OP_VALID] = "CHECK_OP_VALID",
	[RS_CHECK_RESOURCE] = "CHECK_RESOURCE",
	[RS_CHECK_LENGTH] = "CHECK_LENGTH",
	[RS_CHECK_RKEY] = "CHECK_RKEY",
	[RS_EXECUTE] = "EXECUTE",
	[RS_COMPLETE] = "COMPLETE",
	[RS_ACKNOWLEDGE] = "ACKNOWLEDGE",
	[RS_DUPLICATE_REQUEST] = "DUPLICATE_REQUEST",
	[RS_ODP_MISS] = "ODP_MISS",
	[RS_ERR_PSN_SEQ] = "ERR_PSN_SEQ",
	[RS_ERR_RNR] = "ERR_RNR",
	[RS_ERR_INVALID_REQUEST] = "ERR_INVALID_REQUEST",
	[RS_ERR_LENGTH] = "ERR_LENGTH",
	[RS_ERR_RKEY_VIOLATION] = "ERR_RKEY_VIOLATION",
	[RS_ERR_REMOTE_OPERATIONAL] = "ERR_REMOTE_OPERATIONAL",
	[RS_ERR_CQ_OVERFLOW] = "ERR_CQ_OVERFLOW",
	[RS_DROP] = "DROP",
	[RS_DONE] = "DONE",
};

/*
 * One request packet on its way through the states: what the checks found
 * out, for the states after them. It lives on rxe_responder()'s stack and
 * is passed to every state; nothing of it outlives the packet.
 */
struct rxe_resp_req {
	struct rxe_qp *qp;
	struct rxe_pkt *pkt;
	uintptr_t va;	      /* READ, atomic, ATOMIC WRITE: the target (CHECK_RKEY) */
	uint32_t lkey;	      /* the MR under the rkey (CHECK_RKEY) */
	uint32_t npkts;	      /* PSNs the request takes: a READ's responses, else 1 */
	uint64_t orig;	      /* atomic: the value found at the target (EXECUTE) */
	struct rxe_miss miss; /* ODP_MISS: what EXECUTE found missing */
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

static void rxe_resp_unhold(struct rxe_qp *qp)
{
	if (!qp->resp.ack_held_ns)
		return;
	qp->resp.ack_held_ns = 0;
	if (qp->resp.ack_polled)
		__atomic_sub_fetch(&qp->dev->acks_held, 1, __ATOMIC_RELAXED);
	qp->resp.ack_polled = false;
	qp->resp.ack_timer = false;
}

/*
 * The application is done with @qp (it destroys it, or moves it to error
 * or reset): an ACK that waits leaves now. A peer that sent its last
 * request and waits for its ACK (ibv_rc_pingpong's last SEND) would
 * otherwise retransmit to a QP that is gone. Under dev->lock.
 */
void rxe_resp_release_ack(struct rxe_qp *qp)
{
	if (!qp->resp.ack_held_ns)
		return;
	qp->resp.ack_release = true;
	rxe_resp_send_queued(qp);
	rxe_tx_flush(qp->dev);
}

/*
 * The requester of @qp starts a message: if the responder's last ACK left
 * alone shortly before, that request answered the peer's, and ACKs of @qp
 * will wait for the answers from now on (rxe_resp_hold_ack()).
 */
void rxe_resp_note_answer(struct rxe_qp *qp, uint64_t now)
{
	struct rxe_resp_state *r = &qp->resp;

	if (r->ack_sent_ns && now - r->ack_sent_ns < qp->dev->ack_hold_ns)
		r->pingpong = true;
	r->ack_sent_ns = 0;
	if (r->ack_held_ns) {
		uint64_t until = r->ack_held_ns + qp->dev->ack_hold_ns;
		bool timed = r->ack_timer;

		/* the answer it waited for: the ACK follows it */
		rxe_resp_unhold(qp);
		r->ack_release = true;
		/* a timer set for the wait only would wake the engine for nothing */
		if (timed && qp->dev->timer_at == until)
			rxe_timer_disarm(qp->dev);
	}
}

/*
 * Whether the ACK that is all @qp has to send waits for a post.
 *
 * In a ping-pong the application answers each request it receives with a
 * request of its own; an ACK sent alone reaches the peer after the peer
 * application took its last completion and left the library to spin on
 * memory, so the peer's background thread must wake for the request that
 * follows. Sent in the batch of the answer instead, the ACK and the
 * answer reach the peer together while it polls for the ACK, and nobody
 * sleeps on either side.
 *
 * So an ACK waits, as IBTA 9.7.5.1.2 lets a responder coalesce, for the
 * next request its QP starts, and leaves right behind it in the same
 * transmit batch (rxe_resp_note_answer(), then the round's or the post's
 * rxe_resp_send_queued()). It waits when a polling caller's round found
 * the request, or, like TCP's delayed ACK in ping-pong mode, when the
 * QP's last request answered an ACK within dev->ack_hold_ns
 * (RXE_ACK_HOLD_NS). It waits at most that long: the caller's rounds send
 * it then, and an ACK that waited its time out ends the ping-pong. Should
 * the application stop polling, a round of the background thread sends
 * it; that round comes within RXE_CALLER_GRACE_MAX_NS when the thread
 * sleeps for a polling caller (engine_timed), else the timer is armed for
 * the end of the wait (ack_timer). A peer's ACK timeout shorter than that
 * costs a retransmission, nothing else. Destroying the QP, or moving it to
 * error or reset, sends what waits (rxe_resp_release_ack()). A NAK, a
 * READ or an atomic response never waits.
 *
 * With ib_write_lat -s 8 on two vCPUs (tests/bench/engine.sh): t_typical
 * 11.9 -> 4.9 us, plain UDP one-way 1.7 us.
 */
static bool rxe_resp_hold_ack(struct rxe_qp *qp)
{
	struct rxe_resp_state *r = &qp->resp;
	struct rxe_dev *dev = qp->dev;
	uint64_t now;

	if (r->ack_release || r->q_tail - r->q_head != 1 ||
	    rxe_respq_at(r, r->q_head)->kind != RESP_ACK) {
		r->ack_release = false;
		rxe_resp_unhold(qp);
		return false;
	}
	now = sodp_now_ns();
	if (!r->ack_held_ns) {
		if (!dev->caller_round && !r->pingpong) {
			r->ack_sent_ns = now;
			return false;
		}
		r->ack_held_ns = now;
		r->ack_polled = dev->caller_round;
		if (r->ack_polled)
			__atomic_add_fetch(&dev->acks_held, 1, __ATOMIC_RELAXED);
	} else if (now - r->ack_held_ns >= dev->ack_hold_ns) {
		rxe_resp_unhold(qp);
		r->pingpong = false;
		return false;
	}
	if (!dev->caller_round || !__atomic_load_n(&dev->engine_timed, __ATOMIC_SEQ_CST)) {
		r->ack_timer = true;
		rxe_timer_arm(dev, r->ack_held_ns + dev->ack_hold_ns);
	}
	return true;
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

	if (rxe_resp_hold_ack(qp))
		return false;
	while (budget > 0 && r->q_head != r->q_tail) {
		struct rxe_resp_entry *e = rxe_respq_at(r, r->q_head);
		int done = 1;

		if (!rxe_tx_room(qp->dev))
			break; /* a full socket: the rest waits for it to drain */
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

/* ---- receive completions ---- */

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

	if (pkt && qp->ibqp.qp_base.qp_type == IBV_QPT_UD)
		e.sl = pkt->src.ss_family == AF_INET ? RXE_WC_SL_ROCE_IPV4 : RXE_WC_SL_ROCE_IPV6;
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

/* ---- helpers of the states ---- */

static enum ibv_qp_type rxe_resp_type(const struct rxe_resp_req *q)
{
	return q->qp->ibqp.qp_base.qp_type;
}

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

/* The path MTU a request's payload is held to: a UD QP has no path, only its port. */
static uint32_t rxe_resp_mtu(struct rxe_qp *qp)
{
	if (qp->ibqp.qp_base.qp_type == IBV_QPT_UD)
		return 128u << qp->dev->active_mtu; /* enum ibv_mtu to bytes */
	return qp->mtu;
}

/*
 * UC: the message in progress is lost. Its receive WQE, if it took one,
 * is kept for the next message and filled again from its start.
 */
static void rxe_resp_abandon_msg(struct rxe_qp *qp)
{
	qp->resp.last_opcode = RXE_OPCODE_NONE;
	if (qp->resp.have_wqe)
		qp->resp.offset = 0;
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
 * Where a failed access to the requester's target memory goes: an ODP miss
 * to wait for, or a remote access error (the memory cannot be had).
 */
static enum resp_state rxe_resp_access_failed(int ret)
{
	return ret == -EAGAIN ? RS_ODP_MISS : RS_ERR_RKEY_VIOLATION;
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

/* An MR's or a window's rkey (mw.c), and the QP's own remote access rights. */
static int rxe_check_rkey(struct rxe_qp *qp, uint32_t rkey, uint64_t va, uint64_t len,
			  unsigned int access, uintptr_t *out, uint32_t *lkey)
{
	if (!(qp->attr.qp_access_flags & access))
		return -EACCES;
	return rxe_rkey_check(qp, rkey, va, len, access, out, lkey);
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

static void rxe_queue_atomic(struct rxe_qp *qp, uint32_t psn, uint64_t orig, uint32_t msn,
			     bool counted)
{
	struct rxe_resp_entry *e = rxe_queue_resp(qp, RESP_ATOMIC, psn, msn, counted);

	if (e)
		e->orig = orig;
}

static void rxe_queue_atomic_write(struct rxe_qp *qp, uint32_t psn, uint32_t msn, bool counted)
{
	rxe_queue_resp(qp, RESP_ATOMIC_WRITE, psn, msn, counted);
}

/* ---- the checks ---- */

static enum resp_state rxe_resp_check_psn(struct rxe_resp_req *q)
{
	struct rxe_resp_state *r = &q->qp->resp;
	uint32_t psn = q->pkt->pi.h.bth.psn;
	int32_t d = rxe_psn_diff(psn, r->psn);

	switch (rxe_resp_type(q)) {
	case IBV_QPT_RC:
		if (d > 0)
			return r->nak_seq_sent ? RS_DROP : RS_ERR_PSN_SEQ;
		if (d < 0)
			return RS_DUPLICATE_REQUEST;
		r->nak_seq_sent = false;
		return RS_CHECK_OP_SEQ;
	case IBV_QPT_UC:
		if (d) {
			/* packets were lost: the message in progress with them */
			rxe_resp_abandon_msg(q->qp);
			r->psn = psn;
		}
		return RS_CHECK_OP_SEQ;
	default:
		return RS_CHECK_OP_SEQ;
	}
}

/* FIRST/MIDDLE must be followed by MIDDLE/LAST of the same kind; UD sends ONLY. */
static enum resp_state rxe_resp_check_op_seq(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	uint8_t last = qp->resp.last_opcode;
	uint32_t m = q->pkt->pi.mask;
	bool ok;

	if (rxe_resp_type(q) == IBV_QPT_UD)
		return RS_CHECK_OP_VALID;
	if (last != RXE_OPCODE_NONE && rxe_in_send(last))
		ok = (m & RXE_SEND_MASK) && !(m & RXE_START_MASK);
	else if (last != RXE_OPCODE_NONE && rxe_in_write(last))
		ok = (m & RXE_WRITE_MASK) && !(m & RXE_START_MASK);
	else
		ok = m & RXE_START_MASK;
	if (ok)
		return RS_CHECK_OP_VALID;
	sodp_dbg("qp %#x: opcode %#x psn %#x after %#x: out of sequence\n", qp->ibqp.qp_base.qp_num,
		 q->pkt->pi.opcode, q->pkt->pi.h.bth.psn, last);
	return RS_ERR_INVALID_REQUEST;
}

/* What each transport executes: RC everything, UC sends and writes, UD sends. */
static enum resp_state rxe_resp_check_op_valid(struct rxe_resp_req *q)
{
	uint32_t m = q->pkt->pi.mask;

	switch (rxe_resp_type(q)) {
	case IBV_QPT_RC:
		m &= RXE_SEND_MASK | RXE_WRITE_MASK | RXE_READ_MASK | RXE_ATOMIC_MASK |
		     RXE_ATOMIC_WRITE_MASK;
		break;
	case IBV_QPT_UC:
		m &= RXE_SEND_MASK | RXE_WRITE_MASK;
		break;
	default:
		return m & RXE_SEND_MASK ? RS_CHECK_RESOURCE : RS_DROP;
	}
	return m ? RS_CHECK_RESOURCE : RS_ERR_INVALID_REQUEST;
}

/*
 * The receive WQE of a SEND or of a WRITE with immediate: a message takes
 * one at its first packet that needs it and keeps it (resp.have_wqe) to
 * its end, or until the WQE completes in error.
 */
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

/*
 * A READ, atomic or ATOMIC WRITE needs a responder resource: the requester
 * may have as many unanswered as the resources it was given
 * (max_dest_rd_atomic, rounded up to a power of two as kernel rxe rounds
 * it, resp.rd_max); one more is an invalid request, as kernel rxe's
 * RESPST_ERR_TOO_MANY_RDMA_ATM_REQ (with max_dest_rd_atomic 0, any).
 * A SEND or WRITE with immediate needs a receive WQE, else RNR.
 */
static enum resp_state rxe_resp_check_resource(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	uint32_t m = q->pkt->pi.mask;

	if (m & (RXE_READ_MASK | RXE_ATOMIC_MASK | RXE_ATOMIC_WRITE_MASK)) {
		if (qp->resp.rd_queued < qp->resp.rd_max)
			return RS_CHECK_LENGTH;
		sodp_dbg("qp %#x: more than %u READ/atomic requests unanswered\n",
			 qp->ibqp.qp_base.qp_num, qp->resp.rd_max);
		return RS_ERR_INVALID_REQUEST;
	}
	if ((m & (RXE_SEND_MASK | RXE_RWR_MASK)) && !rxe_get_recv_wqe(qp))
		return RS_ERR_RNR;
	return RS_CHECK_LENGTH;
}

/*
 * Payload length rules of IBA 9.7.4.1.4 against the path MTU, and a RETH
 * no longer than a message may be (RXE_MAX_MSG_SIZE), as kernel rxe's
 * check_length() finds it.
 */
static enum resp_state rxe_resp_check_length(struct rxe_resp_req *q)
{
	const struct rxe_pkt_info *pi = &q->pkt->pi;
	uint32_t mtu = rxe_resp_mtu(q->qp);

	if (pi->paylen > mtu || (!(pi->mask & RXE_END_MASK) && pi->paylen != mtu)) {
		sodp_dbg("qp %#x: opcode %#x psn %#x: %u bytes, path MTU %u\n",
			 q->qp->ibqp.qp_base.qp_num, pi->opcode, pi->h.bth.psn, pi->paylen, mtu);
		return RS_ERR_LENGTH;
	}
	if ((pi->mask & (RXE_READ_MASK | RXE_WRITE_MASK)) && (pi->mask & RXE_RETH_MASK) &&
	    pi->h.reth.len > RXE_MAX_MSG_SIZE)
		return RS_ERR_LENGTH;
	return RS_CHECK_RKEY;
}

/*
 * A WRITE's first packet checks its RETH and starts the message (resp.write_*);
 * every packet must then fit what is left of it, and the last one fill it.
 */
static enum resp_state rxe_resp_check_write(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	struct rxe_resp_state *r = &qp->resp;
	const struct rxe_pkt_info *pi = &q->pkt->pi;

	if (pi->mask & RXE_START_MASK) {
		const struct rxe_reth *reth = &pi->h.reth;
		uint32_t lkey = 0;
		uintptr_t va = 0;

		if (reth->len && rxe_check_rkey(qp, reth->rkey, reth->va, reth->len,
						IBV_ACCESS_REMOTE_WRITE, &va, &lkey))
			return RS_ERR_RKEY_VIOLATION;
		r->write_rkey = reth->rkey;
		r->write_lkey = lkey;
		r->write_va = va;
		r->write_resid = reth->len;
		r->write_len = reth->len;
	}
	if (pi->paylen > r->write_resid ||
	    ((pi->mask & RXE_END_MASK) && pi->paylen != r->write_resid)) {
		sodp_dbg("qp %#x: WRITE psn %#x: %u bytes, %u left\n", qp->ibqp.qp_base.qp_num,
			 pi->h.bth.psn, pi->paylen, r->write_resid);
		return RS_ERR_LENGTH;
	}
	return RS_EXECUTE;
}

/*
 * Remote access: the rkey names an MR or a window of the QP's PD that
 * grants the access over the whole range, and the QP grants it too (else
 * remote access error). An ATOMIC WRITE then carries exactly 8 bytes, as
 * its RETH must say (else invalid request, as kernel rxe's check_rkey()
 * and atomic_write_reply()), and an atomic target is 8-byte aligned.
 */
static enum resp_state rxe_resp_check_rkey(struct rxe_resp_req *q)
{
	const struct rxe_pkt_info *pi = &q->pkt->pi;
	const struct rxe_reth *reth = &pi->h.reth;
	const struct rxe_atmeth *a = &pi->h.atmeth;
	struct rxe_qp *qp = q->qp;

	if (pi->mask & RXE_WRITE_MASK)
		return rxe_resp_check_write(q);
	if (pi->mask & RXE_READ_MASK) {
		if (reth->len && rxe_check_rkey(qp, reth->rkey, reth->va, reth->len,
						IBV_ACCESS_REMOTE_READ, &q->va, &q->lkey))
			return RS_ERR_RKEY_VIOLATION;
		q->npkts =
			reth->len ? (uint32_t)(((uint64_t)reth->len + qp->mtu - 1) / qp->mtu) : 1;
		return RS_EXECUTE;
	}
	if (pi->mask & RXE_ATOMIC_MASK) {
		if (rxe_check_rkey(qp, a->rkey, a->va, sizeof(uint64_t), IBV_ACCESS_REMOTE_ATOMIC,
				   &q->va, &q->lkey))
			return RS_ERR_RKEY_VIOLATION;
		return a->va & (sizeof(uint64_t) - 1) ? RS_ERR_INVALID_REQUEST : RS_EXECUTE;
	}
	if (pi->mask & RXE_ATOMIC_WRITE_MASK) {
		if (rxe_check_rkey(qp, reth->rkey, reth->va, reth->len, IBV_ACCESS_REMOTE_WRITE,
				   &q->va, &q->lkey))
			return RS_ERR_RKEY_VIOLATION;
		if (reth->len != sizeof(uint64_t) || pi->paylen != sizeof(uint64_t))
			return RS_ERR_LENGTH;
		return q->va & (sizeof(uint64_t) - 1) ? RS_ERR_INVALID_REQUEST : RS_EXECUTE;
	}
	return RS_EXECUTE;
}

/* ---- execution ---- */

/* A UD datagram: the GRH (or IPv4 header) and the payload, faulted in line. */
static enum resp_state rxe_resp_execute_ud(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	struct rxe_pkt *pkt = q->pkt;
	struct rxe_recv_wqe *w = &qp->resp.wqe;
	struct ibv_pd *pd = qp->ibqp.qp_base.pd;
	uint8_t grh[RXE_GRH_LEN];
	int ret;

	if (RXE_GRH_LEN + pkt->pi.paylen > w->length) {
		rxe_recv_complete(qp, IBV_WC_LOC_LEN_ERR, IBV_WC_RECV, 0, NULL, 0,
				  pkt->pi.h.deth.sqp);
		return RS_DONE;
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
		return RS_DONE;
	}
	return RS_COMPLETE;
}

/*
 * A SEND packet into the receive WQE. A copy that fails completes the WQE
 * in error; so does a SEND_WITH_INV whose key is not a type 2 window bound
 * to this QP (an MR's, a type 1 window's, a stale one): the requester's
 * error, IBV_WC_REM_INV_REQ_ERR at the receiver as in kernel rxe.
 */
static enum resp_state rxe_resp_execute_send(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	struct rxe_pkt *pkt = q->pkt;
	struct rxe_resp_state *r = &qp->resp;
	int ret;

	ret = rxe_sge_copy(qp->dev, qp->ibqp.qp_base.pd, r->wqe.sge, r->wqe.num_sge, r->offset,
			   (void *)pkt->pi.payload, pkt->pi.paylen, true, rxe_resp_fault(qp),
			   &q->miss);
	if (ret == -EAGAIN)
		return RS_ODP_MISS;
	if (ret) {
		rxe_recv_complete(qp, rxe_recv_copy_status(ret), IBV_WC_RECV, 0, NULL, 0,
				  qp->attr.dest_qp_num);
		return ret == -ENOSPC ? RS_ERR_LENGTH : RS_ERR_REMOTE_OPERATIONAL;
	}
	r->offset += pkt->pi.paylen;
	if ((pkt->pi.mask & RXE_IETH_MASK) && rxe_invalidate_rkey(qp, pkt->pi.h.ieth_rkey, true)) {
		rxe_recv_complete(qp, IBV_WC_REM_INV_REQ_ERR, IBV_WC_RECV, 0, NULL, 0,
				  qp->attr.dest_qp_num);
		return RS_ERR_REMOTE_OPERATIONAL;
	}
	return RS_COMPLETE;
}

/*
 * A WRITE packet into the target. The MR is looked up again for every
 * packet: it may have been deregistered, or its window revoked, since the
 * message began.
 */
static enum resp_state rxe_resp_execute_write(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	struct rxe_resp_state *r = &qp->resp;
	const struct rxe_pkt_info *pi = &q->pkt->pi;
	struct rxe_mr *mr;
	int ret;

	if (pi->paylen) {
		mr = rxe_rkey_mr(qp->dev, r->write_rkey, r->write_lkey);
		if (!mr)
			return RS_ERR_RKEY_VIOLATION;
		ret = rxe_mr_copy(mr, r->write_va, (void *)pi->payload, pi->paylen,
				  r->write_resid - pi->paylen, true, rxe_resp_fault(qp), &q->miss);
		if (ret)
			return rxe_resp_access_failed(ret);
		if (pi->mask & RXE_START_MASK)
			rxe_prefetch_ahead(qp, mr, r->write_va, r->write_len);
	}
	r->write_va += pi->paylen;
	r->write_resid -= pi->paylen;
	return RS_COMPLETE;
}

/* A READ is answered from ACKNOWLEDGE on; here it is remembered for its duplicates. */
static enum resp_state rxe_resp_execute_read(struct rxe_resp_req *q)
{
	const struct rxe_pkt_info *pi = &q->pkt->pi;
	struct rxe_rd_res *res = rxe_res_new(q->qp);

	if (res) {
		res->first_psn = pi->h.bth.psn;
		res->last_psn = rxe_psn_add(pi->h.bth.psn, q->npkts - 1);
		res->va = pi->h.reth.va;
		res->len = pi->h.reth.len;
		res->rkey = pi->h.reth.rkey;
		res->msn = q->qp->resp.msn + 1;
	}
	return RS_COMPLETE;
}

/*
 * An atomic, or an ATOMIC WRITE (one 64-bit store), through the MR of the
 * checked rkey; remembered with its original value for its duplicates.
 */
static enum resp_state rxe_resp_execute_atomic(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	const struct rxe_pkt_info *pi = &q->pkt->pi;
	bool write = pi->mask & RXE_ATOMIC_WRITE_MASK;
	enum sodp_atomic_op op;
	uint64_t cmp_add, swap = 0;
	struct rxe_rd_res *res;
	int ret;

	if (write) {
		op = SODP_ATOMIC_WRITE;
		memcpy(&cmp_add, pi->payload, sizeof(cmp_add));
	} else if (pi->opcode == IB_OPCODE_RC_COMPARE_SWAP) {
		op = SODP_ATOMIC_CMP_SWAP;
		cmp_add = pi->h.atmeth.comp;
		swap = pi->h.atmeth.swap_add;
	} else {
		/* the AtomicETH's swap-or-add field is FETCH_ADD's addend (IBA 9.3.4) */
		op = SODP_ATOMIC_FETCH_ADD;
		cmp_add = pi->h.atmeth.swap_add;
	}
	ret = rxe_mr_atomic(rxe_mr_lookup(qp->dev, q->lkey), q->va, op, cmp_add, swap, &q->orig,
			    rxe_resp_fault(qp), &q->miss);
	if (ret)
		return rxe_resp_access_failed(ret);
	res = rxe_res_new(qp);
	if (res) {
		res->atomic = true;
		res->atomic_write = write;
		res->first_psn = res->last_psn = pi->h.bth.psn;
		res->orig = q->orig;
		res->msn = qp->resp.msn + 1;
	}
	return RS_COMPLETE;
}

static enum resp_state rxe_resp_execute(struct rxe_resp_req *q)
{
	uint32_t m = q->pkt->pi.mask;

	if (m & RXE_SEND_MASK)
		return rxe_resp_type(q) == IBV_QPT_UD ? rxe_resp_execute_ud(q)
						      : rxe_resp_execute_send(q);
	if (m & RXE_WRITE_MASK)
		return rxe_resp_execute_write(q);
	if (m & RXE_READ_MASK)
		return rxe_resp_execute_read(q);
	return rxe_resp_execute_atomic(q); /* CHECK_OP_VALID let nothing else through */
}

/*
 * The request is done. A message that ends here completes its receive WQE
 * (SEND, WRITE with immediate) and counts in the MSN, as does every READ
 * and atomic; the expected PSN moves past the request.
 */
static enum resp_state rxe_resp_complete(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	struct rxe_pkt *pkt = q->pkt;
	struct rxe_resp_state *r = &qp->resp;
	uint32_t m = pkt->pi.mask;

	if (rxe_resp_type(q) == IBV_QPT_UD) {
		rxe_recv_complete(qp, IBV_WC_SUCCESS, IBV_WC_RECV, RXE_GRH_LEN + pkt->pi.paylen,
				  pkt, IBV_WC_GRH, pkt->pi.h.deth.sqp);
		return qp->state == IBV_QPS_ERR ? RS_ERR_CQ_OVERFLOW : RS_ACKNOWLEDGE;
	}
	if (m & RXE_END_MASK) {
		if (m & RXE_SEND_MASK)
			rxe_recv_complete(qp, IBV_WC_SUCCESS, IBV_WC_RECV, r->offset, pkt, 0,
					  qp->attr.dest_qp_num);
		else if ((m & RXE_WRITE_MASK) && (m & RXE_IMMDT_MASK))
			rxe_recv_complete(qp, IBV_WC_SUCCESS, IBV_WC_RECV_RDMA_WITH_IMM,
					  r->write_len, pkt, 0, qp->attr.dest_qp_num);
		r->msn++;
	}
	if (qp->state == IBV_QPS_ERR)
		return RS_ERR_CQ_OVERFLOW;
	r->fault_rnrs = 0;
	if (m & (RXE_SEND_MASK | RXE_WRITE_MASK))
		r->last_opcode = (m & RXE_END_MASK) ? RXE_OPCODE_NONE : pkt->pi.opcode;
	r->psn = rxe_psn_add(pkt->pi.h.bth.psn, q->npkts);
	return RS_ACKNOWLEDGE;
}

/* RC answers: a READ with its data, an atomic with its ACK, the rest if asked to. */
static enum resp_state rxe_resp_acknowledge(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	const struct rxe_pkt_info *pi = &q->pkt->pi;
	uint32_t psn = pi->h.bth.psn;

	if (rxe_resp_type(q) != IBV_QPT_RC)
		return RS_DONE;
	if (pi->mask & RXE_READ_MASK)
		rxe_queue_read(qp, psn, pi->h.reth.rkey, q->lkey, q->va, pi->h.reth.len,
			       qp->resp.msn, true);
	else if (pi->mask & RXE_ATOMIC_MASK)
		rxe_queue_atomic(qp, psn, q->orig, qp->resp.msn, true);
	else if (pi->mask & RXE_ATOMIC_WRITE_MASK)
		rxe_queue_atomic_write(qp, psn, qp->resp.msn, true);
	else if (pi->h.bth.ack_req)
		rxe_queue_ack(qp, psn, RXE_AETH_SYN_ACK_UNLIMITED);
	return RS_DONE;
}

/* ---- duplicates ---- */

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
 * A duplicate READ is served again from the remembered request; a retry may
 * start inside the original range (the requester got part of the data) but
 * must stay inside it, and its rkey must still grant the access.
 */
static enum resp_state rxe_resp_duplicate_read(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	const struct rxe_reth *reth = &q->pkt->pi.h.reth;
	uint32_t psn = q->pkt->pi.h.bth.psn;
	struct rxe_resp_entry *e;
	struct rxe_rd_res *res;
	uint32_t lkey = 0;
	uintptr_t va = 0;
	uint64_t skip;

	res = rxe_res_find(qp, psn, false);
	if (!res)
		return RS_DROP;
	skip = (uint64_t)rxe_psn_diff(psn, res->first_psn) * qp->mtu;
	if (reth->rkey != res->rkey || reth->va != res->va + skip ||
	    (uint64_t)reth->len + skip != res->len)
		return RS_DROP;
	if (reth->len &&
	    rxe_check_rkey(qp, reth->rkey, reth->va, reth->len, IBV_ACCESS_REMOTE_READ, &va, &lkey))
		return RS_DROP;
	e = rxe_respq_find_read(qp, res);
	if (e) {
		/* still being answered: answer again from @psn, once */
		e->psn = psn;
		e->lkey = lkey;
		e->va = va;
		e->resid = reth->len;
		e->first_sent = false;
		return RS_DONE;
	}
	if (!rxe_respq_room_for_replay(qp))
		return RS_DROP;
	rxe_queue_read(qp, psn, reth->rkey, lkey, va, reth->len, res->msn, false);
	return RS_DONE;
}

/*
 * DUPLICATE_REQUEST: a request before the expected PSN. It is answered
 * again but never executed twice (IBA 9.7.5.1.1, 9.7.5.1.6):
 *  - SEND / WRITE were executed: ACK the newest PSN again;
 *  - READ is served again (rxe_resp_duplicate_read());
 *  - an atomic replays the saved original value;
 *  - an ATOMIC WRITE is acknowledged again, without storing.
 * A READ/atomic no longer remembered is dropped, as kernel rxe does.
 */
static enum resp_state rxe_resp_duplicate(struct rxe_resp_req *q)
{
	struct rxe_qp *qp = q->qp;
	const struct rxe_pkt_info *pi = &q->pkt->pi;
	uint32_t psn = pi->h.bth.psn;
	struct rxe_rd_res *res;
	bool write;

	if (pi->mask & RXE_READ_MASK)
		return rxe_resp_duplicate_read(q);
	if (!(pi->mask & (RXE_ATOMIC_MASK | RXE_ATOMIC_WRITE_MASK))) {
		/* SEND / WRITE already executed: acknowledge the newest PSN again */
		rxe_queue_ack(qp, rxe_psn_add(qp->resp.psn, -1), RXE_AETH_SYN_ACK_UNLIMITED);
		return RS_DONE;
	}
	write = pi->mask & RXE_ATOMIC_WRITE_MASK;
	res = rxe_res_find(qp, psn, true);
	if (!res || res->first_psn != psn || res->atomic_write != write ||
	    !rxe_respq_room_for_replay(qp))
		return RS_DROP;
	if (write)
		rxe_queue_atomic_write(qp, psn, res->msn, false);
	else
		rxe_queue_atomic(qp, psn, res->orig, res->msn, false);
	return RS_DONE;
}

/* ---- the exits ---- */

/* A page of an ODP MR is being faulted in (counted on the MR that missed). */
static enum resp_state rxe_resp_odp_miss(struct rxe_resp_req *q)
{
	sodp_umem_count_rnr(q->miss.umem);
	if (rxe_resp_type(q) != IBV_QPT_RC) {
		rxe_resp_abandon_msg(q->qp);
		return RS_DROP;
	}
	rxe_queue_ack(q->qp, q->pkt->pi.h.bth.psn,
		      rxe_aeth_syn(RXE_AETH_RNR_NAK, rxe_fault_rnr_timer(q->qp)));
	return RS_DONE;
}

/* Sent once until the expected PSN arrives: CHECK_PSN drops what follows. */
static enum resp_state rxe_resp_err_psn_seq(struct rxe_resp_req *q)
{
	q->qp->resp.nak_seq_sent = true;
	rxe_queue_nak(q->qp, q->qp->resp.psn, RXE_NAK_PSN_SEQ_ERROR);
	return RS_DONE;
}

static enum resp_state rxe_resp_err_rnr(struct rxe_resp_req *q)
{
	if (rxe_resp_type(q) != IBV_QPT_RC) {
		if (rxe_resp_type(q) == IBV_QPT_UC)
			rxe_resp_abandon_msg(q->qp);
		return RS_DROP;
	}
	rxe_queue_ack(q->qp, q->pkt->pi.h.bth.psn,
		      rxe_aeth_syn(RXE_AETH_RNR_NAK, q->qp->attr.min_rnr_timer));
	return RS_DONE;
}

/*
 * A fatal error of the request: RC NAKs it with @code and the responder's
 * QP enters the error state too (IBA 9.9.2); UC abandons the message and
 * UD the datagram, silently.
 */
static enum resp_state rxe_resp_fatal(struct rxe_resp_req *q, uint8_t code)
{
	struct rxe_qp *qp = q->qp;

	/* a receive completion of this request found its CQ full */
	if (qp->state == IBV_QPS_ERR)
		return RS_ERR_CQ_OVERFLOW;
	switch (rxe_resp_type(q)) {
	case IBV_QPT_RC:
		rxe_queue_nak(qp, q->pkt->pi.h.bth.psn, code);
		rxe_resp_send_queued(qp);
		rxe_qp_error(qp);
		return RS_DONE;
	case IBV_QPT_UC:
		rxe_resp_abandon_msg(qp);
		qp->resp.psn = rxe_psn_add(q->pkt->pi.h.bth.psn, 1);
		return RS_DROP;
	default:
		return RS_DROP;
	}
}

static enum resp_state rxe_resp_err_invalid_request(struct rxe_resp_req *q)
{
	return rxe_resp_fatal(q, RXE_NAK_INVALID_REQUEST);
}

static enum resp_state rxe_resp_err_length(struct rxe_resp_req *q)
{
	return rxe_resp_fatal(q, RXE_NAK_INVALID_REQUEST);
}

static enum resp_state rxe_resp_err_rkey_violation(struct rxe_resp_req *q)
{
	return rxe_resp_fatal(q, RXE_NAK_REM_ACCESS_ERROR);
}

static enum resp_state rxe_resp_err_remote_operational(struct rxe_resp_req *q)
{
	return rxe_resp_fatal(q, RXE_NAK_REM_OP_ERROR);
}

/* rxe_qp_cq_overrun() has moved the QP to the error state: nothing to answer. */
static enum resp_state rxe_resp_err_cq_overflow(struct rxe_resp_req *q)
{
	(void)q;
	return RS_DONE;
}

static enum resp_state rxe_resp_drop(struct rxe_resp_req *q)
{
	q->qp->dev->resp_drops++;
	return RS_DONE;
}

static enum resp_state (*const resp_state_fn[RS_NR])(struct rxe_resp_req *q) = {
	[RS_CHECK_PSN] = rxe_resp_check_psn,
	[RS_CHECK_OP_SEQ] = rxe_resp_check_op_seq,
	[RS_CHECK_OP_VALID] = rxe_resp_check_op_valid,
	[RS_CHECK_RESOURCE] = rxe_resp_check_resource,
	[RS_CHECK_LENGTH] = rxe_resp_check_length,
	[RS_CHECK_RKEY] = rxe_resp_check_rkey,
	[RS_EXECUTE] = rxe_resp_execute,
	[RS_COMPLETE] = rxe_resp_complete,
	[RS_ACKNOWLEDGE] = rxe_resp_acknowledge,
	[RS_DUPLICATE_REQUEST] = rxe_resp_duplicate,
	[RS_ODP_MISS] = rxe_resp_odp_miss,
	[RS_ERR_PSN_SEQ] = rxe_resp_err_psn_seq,
	[RS_ERR_RNR] = rxe_resp_err_rnr,
	[RS_ERR_INVALID_REQUEST] = rxe_resp_err_invalid_request,
	[RS_ERR_LENGTH] = rxe_resp_err_length,
	[RS_ERR_RKEY_VIOLATION] = rxe_resp_err_rkey_violation,
	[RS_ERR_REMOTE_OPERATIONAL] = rxe_resp_err_remote_operational,
	[RS_ERR_CQ_OVERFLOW] = rxe_resp_err_cq_overflow,
	[RS_DROP] = rxe_resp_drop,
};

/*
 * Handles one request packet for @qp: runs the states from CHECK_PSN until
 * DONE. Engine, under dev->lock.
 */
void rxe_responder(struct rxe_qp *qp, struct rxe_pkt *pkt)
{
	struct rxe_resp_req q = {.qp = qp, .pkt = pkt, .npkts = 1};
	bool trace = sodp_log_enabled(SODP_LOG_DEBUG);
	enum resp_state s = RS_CHECK_PSN;

	while (s != RS_DONE) {
		if (trace)
			sodp_dbg("qp %#x: %s psn %#x: %s\n", qp->ibqp.qp_base.qp_num,
				 rxe_opcode_name(pkt->pi.opcode), pkt->pi.h.bth.psn,
				 resp_state_name[s]);
		s = resp_state_fn[s](&q);
	}
}
