// SPDX-License-Identifier: MIT
/*
 * Packets from a hostile or confused peer (rxe_peer_util.h scripts it):
 * only the connected peer reaches an RC QP, and what it sends is checked
 * before it touches memory or the QP's state. Each test shows the packet
 * dropped (and counted, by reason) or refused on the wire, and the same
 * exchange done right still working.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "sodp_test.h"
#include "rxe_peer_util.h"

#define RP_ACCESS                                                                    \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
	 IBV_ACCESS_REMOTE_ATOMIC)

/* One victim at a time; a test that failed half-way leaves it for the next to close. */
static struct rp R;

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* The next packet the victim sends to the peer is an ACK of @psn with @syndrome. */
static bool peer_gets_ack(struct rp *r, uint32_t psn, uint8_t syndrome)
{
	uint8_t b[8192];
	struct rxe_pkt_info pi;

	if (rp_recv(&r->peer, b, sizeof(b), &pi, RT_WAIT_MS))
		return false;
	if (pi.opcode != IB_OPCODE_RC_ACKNOWLEDGE || pi.h.bth.psn != psn ||
	    pi.h.aeth.syndrome != syndrome) {
		printf("\n    got opcode %#x psn %#x syndrome %#x", pi.opcode, pi.h.bth.psn,
		       pi.h.aeth.syndrome);
		return false;
	}
	return true;
}

/* Nothing reaches the peer for 100 ms. */
static bool peer_gets_nothing(struct rp *r)
{
	uint8_t b[8192];
	struct rxe_pkt_info pi;

	return rp_recv(&r->peer, b, sizeof(b), &pi, 100) != 0;
}

/* The victim posts a 64-byte RDMA WRITE; returns the PSN the peer sees it at. */
/* The wr_id of the WRITE victim_write() posts. */
#define VICTIM_WR_ID 7

static int victim_write(struct rp *r, uint32_t *psn)
{
	struct ibv_sge sge = {(uintptr_t)r->buf + 4096, 64, r->mr->lkey};
	struct ibv_send_wr wr, *bad;
	struct rxe_pkt_info pi;
	uint8_t b[8192];

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = VICTIM_WR_ID;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = 0x10000;
	wr.wr.rdma.rkey = 0x1234;
	if (ibv_post_send(r->qp, &wr, &bad))
		return -1;
	if (rp_recv(&r->peer, b, sizeof(b), &pi, RT_WAIT_MS) ||
	    pi.opcode != IB_OPCODE_RC_RDMA_WRITE_ONLY)
		return -1;
	*psn = pi.h.bth.psn;
	return 0;
}

/*
 * An ACK or NAK (AETH @syn) for @psn sent to R's QP from @from: how many
 * more packets R's device then counted dropped for @why; -1 when it could
 * not be sent.
 */
static long ack_dropped(struct rp_sock *from, uint32_t psn, uint8_t syn, enum rxe_drop why)
{
	struct rxe_counters c0, c1;
	struct rxe_hdrs h;

	rp_ack_hdrs(&R, &h, psn, syn);
	rp_counters(&R, &c0);
	if (rp_send_wait(&R, from, &h, NULL, 0))
		return -1;
	rp_counters(&R, &c1);
	return (long)(c1.rx_drops[why] - c0.rx_drops[why]);
}

/*
 * The peer's ACK or NAK (AETH @syn) for @psn: the status of the completion
 * of the victim WRITE it makes; -1 when none came, -2 for another WR's.
 */
static int peer_ack_completion(uint32_t psn, uint8_t syn)
{
	struct rxe_hdrs h;
	struct ibv_wc wc;

	rp_ack_hdrs(&R, &h, psn, syn);
	if (rp_send_wait(&R, &R.peer, &h, NULL, 0) || rt_poll(R.cq, &wc) != 1)
		return -1;
	return wc.wr_id == VICTIM_WR_ID ? (int)wc.status : -2;
}

/* No completion arrives on the victim's CQ for 100 ms. */
static bool no_completion(struct rp *r)
{
	uint64_t end = rt_ms() + 100;
	struct ibv_wc wc;

	do {
		if (ibv_poll_cq(r->cq, 1, &wc))
			return false;
		usleep(1000);
	} while (rt_ms() < end);
	return true;
}

/* ---- the connection's addresses ---- */

static void test_write_from_a_stranger_is_dropped(void)
{
	uint8_t data[64];
	struct rxe_counters c0, c1;
	struct rxe_hdrs h;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	memset(data, 0xab, sizeof(data));
	rp_write_hdrs(&R, &h, 0, sizeof(data));
	rp_counters(&R, &c0);
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.stranger, &h, data, sizeof(data)), 0);
	rp_counters(&R, &c1);
	CU_ASSERT_EQUAL(c1.rx_drops[RXE_DROP_SRC_ADDR], c0.rx_drops[RXE_DROP_SRC_ADDR] + 1);
	CU_ASSERT(all_bytes(R.buf, sizeof(data), 0));
	CU_ASSERT(peer_gets_nothing(&R));
	/* the same packet from the connected peer is executed */
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT(all_bytes(R.buf, sizeof(data), 0xab));
	CU_ASSERT(peer_gets_ack(&R, RP_VICTIM_PSN, RXE_AETH_SYN_ACK_UNLIMITED));
	rp_close(&R);
}

static void test_nak_from_a_stranger_leaves_the_qp_in_rts(void)
{
	uint32_t psn;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	CU_ASSERT_EQUAL_FATAL(victim_write(&R, &psn), 0);
	CU_ASSERT_EQUAL(ack_dropped(&R.stranger, psn,
				    rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_REM_ACCESS_ERROR),
				    RXE_DROP_SRC_ADDR),
			1);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_RTS);
	CU_ASSERT(no_completion(&R));
	/* the peer's ACK completes the WRITE */
	CU_ASSERT_EQUAL(peer_ack_completion(psn, RXE_AETH_SYN_ACK_UNLIMITED), IBV_WC_SUCCESS);
	rp_close(&R);
}

/* ---- partitions and Q_Keys ---- */

static void test_pkey_match_follows_the_membership_rule(void)
{
	CU_ASSERT_TRUE(rxe_pkey_match(0xffff, 0xffff));
	CU_ASSERT_TRUE(rxe_pkey_match(0x7fff, 0xffff));	 /* limited with full */
	CU_ASSERT_TRUE(rxe_pkey_match(0xffff, 0x7fff));	 /* full with limited */
	CU_ASSERT_FALSE(rxe_pkey_match(0x7fff, 0x7fff)); /* two limited members */
	CU_ASSERT_TRUE(rxe_pkey_match(0x9234, 0x1234));
	CU_ASSERT_FALSE(rxe_pkey_match(0x1234, 0xffff)); /* another partition */
	CU_ASSERT_FALSE(rxe_pkey_match(0x0000, 0xffff)); /* the invalid partition */
	CU_ASSERT_FALSE(rxe_pkey_match(0x8000, 0xffff));
	CU_ASSERT_FALSE(rxe_pkey_match(0x8000, 0x8000));
}

/* IBA table 45: 0.01 ms for code 1 up to 491.52 ms for 31; code 0 is the longest. */
static void test_rnr_timer_codes_follow_iba_table_45(void)
{
	unsigned int code;

	CU_ASSERT_EQUAL(rxe_rnr_ns(0), 655360000ULL);
	CU_ASSERT_EQUAL(rxe_rnr_ns(1), 10000ULL);
	CU_ASSERT_EQUAL(rxe_rnr_ns(14), 1280000ULL);
	CU_ASSERT_EQUAL(rxe_rnr_ns(18), 5120000ULL);
	CU_ASSERT_EQUAL(rxe_rnr_ns(31), 491520000ULL);
	for (code = 2; code < 32; code++)
		CU_ASSERT(rxe_rnr_ns((uint8_t)code) > rxe_rnr_ns((uint8_t)(code - 1)));
}

static uint32_t bad_pkey_cntr(struct ibv_context *ctx)
{
	struct ibv_port_attr pa;

	if (ibv_query_port(ctx, 1, &pa))
		return UINT32_MAX;
	return pa.bad_pkey_cntr;
}

static void test_write_with_pkey_zero_is_dropped(void)
{
	uint8_t data[64];
	struct rxe_counters c0, c1;
	struct rxe_hdrs h;
	uint32_t bad0;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	memset(data, 0xcd, sizeof(data));
	rp_write_hdrs(&R, &h, 0, sizeof(data));
	h.bth.pkey = 0x0000;
	rp_counters(&R, &c0);
	bad0 = bad_pkey_cntr(R.ctx);
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.peer, &h, data, sizeof(data)), 0);
	rp_counters(&R, &c1);
	CU_ASSERT_EQUAL(c1.rx_drops[RXE_DROP_PKEY], c0.rx_drops[RXE_DROP_PKEY] + 1);
	CU_ASSERT_EQUAL(bad_pkey_cntr(R.ctx), bad0 + 1);
	CU_ASSERT(all_bytes(R.buf, sizeof(data), 0));
	CU_ASSERT(peer_gets_nothing(&R));
	/* a limited member of the default partition talks to a full member */
	h.bth.pkey = 0x7fff;
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT(all_bytes(R.buf, sizeof(data), 0xcd));
	CU_ASSERT(peer_gets_ack(&R, RP_VICTIM_PSN, RXE_AETH_SYN_ACK_UNLIMITED));
	rp_close(&R);
}

/* A UD QP of the victim's, ready to send and receive (QKey 0), or NULL. */
static struct ibv_qp *victim_ud_qp(void)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = R.cq,
		.recv_cq = R.cq,
		.qp_type = IBV_QPT_UD,
		.cap = {.max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1}};
	struct ibv_qp *ud = ibv_create_qp(R.pd, &ia);

	if (ud && rt_ud_ready(ud, 0)) {
		ibv_destroy_qp(ud);
		ud = NULL;
	}
	return ud;
}

static void test_ud_send_with_a_foreign_pkey_or_qkey_is_dropped(void)
{
	static const uint16_t pkeys[] = {0x1234, 0x8000, 0xffff, 0xffff};
	static const uint32_t qkeys[] = {0x11111111, 0x11111111, 0x22222222, 0x11111111};
	static const enum rxe_drop why[] = {RXE_DROP_PKEY, RXE_DROP_PKEY, RXE_DROP_QKEY};
	struct rxe_counters c0, c1;
	struct ibv_qp *ud;
	struct rxe_hdrs h;
	uint8_t data[64];
	struct ibv_wc wc;
	unsigned int i;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	ud = victim_ud_qp();
	CU_ASSERT_PTR_NOT_NULL_FATAL(ud);
	{
		struct ibv_sge sge = {(uintptr_t)R.buf + 8192, RXE_GRH_LEN + sizeof(data),
				      R.mr->lkey};
		struct ibv_recv_wr wr = {.wr_id = 5, .sg_list = &sge, .num_sge = 1}, *bad;

		CU_ASSERT_EQUAL_FATAL(ibv_post_recv(ud, &wr, &bad), 0);
	}
	memset(data, 0x5e, sizeof(data));
	for (i = 0; i < ARRAY_SIZE(pkeys); i++) {
		memset(&h, 0, sizeof(h));
		h.bth.opcode = IB_OPCODE_UD_SEND_ONLY;
		h.bth.pkey = pkeys[i];
		h.bth.qpn = ud->qp_num;
		h.deth.qkey = qkeys[i];
		h.deth.sqp = 0x99;
		rp_counters(&R, &c0);
		/* UD has no connection: any address may send */
		CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.stranger, &h, data, sizeof(data)), 0);
		rp_counters(&R, &c1);
		if (i < ARRAY_SIZE(why)) {
			CU_ASSERT_EQUAL(c1.rx_drops[why[i]], c0.rx_drops[why[i]] + 1);
			CU_ASSERT_EQUAL(ibv_poll_cq(R.cq, 1, &wc), 0);
		}
	}
	CU_ASSERT_EQUAL_FATAL(rt_poll(R.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.wr_id, 5);
	CU_ASSERT_EQUAL(wc.byte_len, RXE_GRH_LEN + sizeof(data));
	CU_ASSERT_EQUAL(wc.src_qp, 0x99);
	ibv_destroy_qp(ud);
	rp_close(&R);
}

/* ---- responses the victim's requester did not ask for ---- */

/* The victim's requester still works: a WRITE the peer ACKs completes. */
static void check_write_completes(struct rp *r)
{
	struct rxe_hdrs h;
	struct ibv_wc wc;
	uint32_t psn;

	CU_ASSERT_EQUAL_FATAL(victim_write(r, &psn), 0);
	rp_ack_hdrs(r, &h, psn, RXE_AETH_SYN_ACK_UNLIMITED);
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(r, &r->peer, &h, NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(rt_poll(r->cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
}

static void test_naks_to_an_idle_qp_are_dropped(void)
{
	static const uint8_t codes[] = {RXE_NAK_INVALID_REQUEST, RXE_NAK_REM_ACCESS_ERROR,
					RXE_NAK_REM_OP_ERROR, RXE_NAK_INVALID_RD_REQUEST};
	struct rxe_counters c0, c1;
	struct rxe_hdrs h;
	int i;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	rp_counters(&R, &c0);
	/* from the peer's own address: blind, but not spoofed */
	for (i = 0; i < 32; i++) {
		uint32_t psn = rxe_psn_add(RP_PEER_PSN, i * 0x3ffff);

		rp_ack_hdrs(&R, &h, psn, rxe_aeth_syn(RXE_AETH_NAK, codes[i % ARRAY_SIZE(codes)]));
		CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.peer, &h, NULL, 0), 0);
	}
	rp_counters(&R, &c1);
	CU_ASSERT_EQUAL(c1.rx_drops[RXE_DROP_RESPONSE], c0.rx_drops[RXE_DROP_RESPONSE] + 32);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_RTS);
	CU_ASSERT(no_completion(&R));
	check_write_completes(&R);
	rp_close(&R);
}

static void test_ack_past_the_psns_sent_completes_nothing(void)
{
	uint32_t psn;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	CU_ASSERT_EQUAL_FATAL(victim_write(&R, &psn), 0);
	CU_ASSERT_EQUAL(ack_dropped(&R.peer, rxe_psn_add(psn, 100), RXE_AETH_SYN_ACK_UNLIMITED,
				    RXE_DROP_RESPONSE),
			1);
	CU_ASSERT(no_completion(&R));
	CU_ASSERT_EQUAL(peer_ack_completion(psn, RXE_AETH_SYN_ACK_UNLIMITED), IBV_WC_SUCCESS);
	rp_close(&R);
}

static void test_nak_outside_the_window_is_dropped_and_inside_fails_the_wqe(void)
{
	const uint8_t access = rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_REM_ACCESS_ERROR);
	uint32_t psn;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	CU_ASSERT_EQUAL_FATAL(victim_write(&R, &psn), 0);
	CU_ASSERT_EQUAL(ack_dropped(&R.peer, rxe_psn_add(psn, 1), access, RXE_DROP_RESPONSE), 1);
	CU_ASSERT_EQUAL(ack_dropped(&R.peer, rxe_psn_add(psn, -1), access, RXE_DROP_RESPONSE), 1);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_RTS);
	CU_ASSERT(no_completion(&R));
	CU_ASSERT_EQUAL(peer_ack_completion(psn, access), IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_ERR);
	rp_close(&R);
}

/* ---- message lengths ---- */

#define BIG_MR (4ULL << 30)

/* A 4 GiB ODP MR of the victim, on memory nothing has touched. */
static struct ibv_mr *big_mr(uint8_t **mem)
{
	struct ibv_mr *mr;

	*mem = mmap(NULL, BIG_MR, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (*mem == MAP_FAILED)
		return NULL;
	mr = ibv_reg_mr(R.pd, *mem, BIG_MR, IBV_ACCESS_ON_DEMAND | RP_ACCESS);
	if (!mr)
		munmap(*mem, BIG_MR);
	return mr;
}

/* Ends a test with a big MR: the QP goes first, with what it still streams. */
static void big_mr_done(struct ibv_mr *mr, uint8_t *mem)
{
	ibv_destroy_qp(R.qp);
	R.qp = NULL;
	ibv_dereg_mr(mr);
	munmap(mem, BIG_MR);
	rp_close(&R);
}

/* The first packet the victim answers a READ of @len bytes at @mem with. */
static int read_answer(struct ibv_mr *mr, uint8_t *mem, uint32_t len, uint8_t *b, size_t size,
		       struct rxe_pkt_info *pi)
{
	struct rxe_hdrs h;

	rp_req_hdrs(&R, &h, IB_OPCODE_RC_RDMA_READ_REQUEST, R.next_psn);
	h.reth.va = (uintptr_t)mem;
	h.reth.rkey = mr->rkey;
	h.reth.len = len;
	if (rp_send(&R.peer, &h, NULL, 0))
		return -1;
	return rp_recv(&R.peer, b, size, pi, RT_WAIT_MS);
}

static void test_read_longer_than_2_pow_31_is_nak_invalid_request(void)
{
	struct rxe_pkt_info pi;
	struct ibv_mr *mr;
	uint8_t *mem, b[8192];

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	mr = big_mr(&mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	/* its packet count, 32 bits wide, wrapped to 0 */
	CU_ASSERT_EQUAL_FATAL(read_answer(mr, mem, 0xffffffff, b, sizeof(b), &pi), 0);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_ACKNOWLEDGE);
	CU_ASSERT_EQUAL(pi.h.bth.psn, RP_VICTIM_PSN);
	CU_ASSERT_EQUAL(pi.h.aeth.syndrome, rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_INVALID_REQUEST));
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_ERR);
	big_mr_done(mr, mem);
}

static void test_read_of_2_pow_31_bytes_is_answered(void)
{
	struct rxe_pkt_info pi;
	struct ibv_mr *mr;
	uint8_t *mem, b[8192];

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	mr = big_mr(&mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL_FATAL(read_answer(mr, mem + 4096, 1U << 31, b, sizeof(b), &pi), 0);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_RDMA_READ_RESPONSE_FIRST);
	CU_ASSERT_EQUAL(pi.h.bth.psn, RP_VICTIM_PSN);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_RTS);
	big_mr_done(mr, mem);
}

static void test_write_longer_than_2_pow_31_is_nak_invalid_request(void)
{
	struct rxe_pkt_info pi;
	struct rxe_hdrs h;
	struct ibv_mr *mr;
	uint8_t *mem, b[8192], data[1024];

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	mr = big_mr(&mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memset(data, 0x77, sizeof(data));
	rp_req_hdrs(&R, &h, IB_OPCODE_RC_RDMA_WRITE_FIRST, R.next_psn);
	h.reth.va = (uintptr_t)mem;
	h.reth.rkey = mr->rkey;
	h.reth.len = (1U << 31) + 1;
	CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT_EQUAL_FATAL(rp_recv(&R.peer, b, sizeof(b), &pi, RT_WAIT_MS), 0);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_ACKNOWLEDGE);
	CU_ASSERT_EQUAL(pi.h.aeth.syndrome, rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_INVALID_REQUEST));
	CU_ASSERT_EQUAL(mem[0], 0);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_ERR);
	big_mr_done(mr, mem);
}

/* ---- atomics ---- */

/*
 * FETCH_ADD's addend is the AtomicETH's swap-or-add field; kernel rxe sends
 * its compare field 0. Whatever the compare field holds, the word grows by
 * the addend and the answer carries the value before.
 */
static void test_fetch_add_adds_the_swap_add_field(void)
{
	uint64_t *word, orig = 100;
	struct rxe_pkt_info pi;
	struct rxe_hdrs h;
	uint8_t b[8192];
	int i;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	word = (uint64_t *)(R.buf + 512);
	*word = orig;
	for (i = 0; i < 2; i++) {
		rp_req_hdrs(&R, &h, IB_OPCODE_RC_FETCH_ADD, R.next_psn);
		h.atmeth.va = (uintptr_t)word;
		h.atmeth.rkey = R.mr->rkey;
		h.atmeth.swap_add = 5;
		h.atmeth.comp = i ? 0x7777 : 0; /* kernel rxe: 0; anything else is ignored */
		CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, NULL, 0), 0);
		CU_ASSERT_EQUAL_FATAL(rp_recv(&R.peer, b, sizeof(b), &pi, RT_WAIT_MS), 0);
		CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_ATOMIC_ACKNOWLEDGE);
		CU_ASSERT_EQUAL(pi.h.atmack_orig, orig);
		orig += 5;
		CU_ASSERT_EQUAL(*word, orig);
		R.next_psn = rxe_psn_add(R.next_psn, 1);
	}
	rp_close(&R);
}

/* The victim's FETCH_ADD carries the addend in swap-or-add and 0 in compare, as kernel rxe's. */
static void test_fetch_add_is_sent_as_kernel_rxe_sends_it(void)
{
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad;
	struct rxe_pkt_info pi;
	uint8_t b[8192];

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	sge = (struct ibv_sge){(uintptr_t)R.buf + 4096, 8, R.mr->lkey};
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.atomic.remote_addr = 0x10000;
	wr.wr.atomic.rkey = 0x1234;
	wr.wr.atomic.compare_add = 9;
	wr.wr.atomic.swap = 0x5555; /* not FETCH_ADD's */
	CU_ASSERT_EQUAL_FATAL(ibv_post_send(R.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL_FATAL(rp_recv(&R.peer, b, sizeof(b), &pi, RT_WAIT_MS), 0);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_FETCH_ADD);
	CU_ASSERT_EQUAL(pi.h.atmeth.swap_add, 9);
	CU_ASSERT_EQUAL(pi.h.atmeth.comp, 0);
	rp_close(&R);
}

/* ---- page faults ---- */

/* Sends a 64-byte WRITE of 0x5a at @va through @rkey at @psn: the syndrome of the answer, or -1. */
static int write_once(uint32_t psn, void *va, uint32_t rkey)
{
	uint8_t data[64], b[8192];
	struct rxe_pkt_info pi;
	struct rxe_hdrs h;

	memset(data, 0x5a, sizeof(data));
	rp_req_hdrs(&R, &h, IB_OPCODE_RC_RDMA_WRITE_ONLY, psn);
	h.reth.va = (uintptr_t)va;
	h.reth.rkey = rkey;
	h.reth.len = sizeof(data);
	if (rp_send(&R.peer, &h, data, sizeof(data)) ||
	    rp_recv(&R.peer, b, sizeof(b), &pi, RT_WAIT_MS) ||
	    pi.opcode != IB_OPCODE_RC_ACKNOWLEDGE || pi.h.bth.psn != psn)
		return -1;
	return pi.h.aeth.syndrome;
}

/* write_once() again while the victim answers RNR NAK: the first other syndrome, or -1. */
static int write_until_not_rnr(uint32_t psn, void *va, uint32_t rkey)
{
	int i, syn = -1;

	for (i = 0; i < 200; i++) {
		syn = write_once(psn, va, rkey);
		if (syn < 0 || rxe_aeth_syn_type((uint8_t)syn) != RXE_AETH_RNR_NAK)
			return syn;
		usleep(5000);
	}
	return -1;
}

/*
 * A fault that failed fails the access it was for, not the next access of
 * the QP elsewhere: an access given up (or completed through pages mapped
 * meanwhile) must not pass its error on to another MR.
 */
static void test_a_failed_fault_fails_only_the_access_it_was_for(void)
{
	const size_t pg = 4096;
	uint8_t *a, *b;
	struct ibv_mr *mra, *mrb;
	struct sodp_mr_stats st;
	uint64_t end;
	int syn;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	a = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(a != MAP_FAILED && b != MAP_FAILED);
	mra = ibv_reg_mr(R.pd, a, 2 * pg, IBV_ACCESS_ON_DEMAND | RP_ACCESS);
	mrb = ibv_reg_mr(R.pd, b, 2 * pg, IBV_ACCESS_ON_DEMAND | RP_ACCESS);
	CU_ASSERT_FATAL(mra && mrb);
	/* a hole in A: its fault fails */
	CU_ASSERT_EQUAL_FATAL(munmap(a, pg), 0);

	/* the WRITE into the hole waits for its fault, which fails... */
	syn = write_once(R.next_psn, a, mra->rkey);
	CU_ASSERT_FATAL(syn >= 0 && rxe_aeth_syn_type((uint8_t)syn) == RXE_AETH_RNR_NAK);
	end = rt_ms() + RT_WAIT_MS;
	do {
		CU_ASSERT_EQUAL_FATAL(sodp_mr_get_stats(mra, &st), 0);
		usleep(1000);
	} while (!st.fault_errors && rt_ms() < end);
	CU_ASSERT_EQUAL_FATAL(st.fault_errors, 1);
	usleep(20000);
	/* ...and the peer sends another WRITE at that PSN, into B */
	syn = write_until_not_rnr(R.next_psn, b, mrb->rkey);
	CU_ASSERT_EQUAL(syn, RXE_AETH_SYN_ACK_UNLIMITED);
	CU_ASSERT(all_bytes(b, 64, 0x5a));
	R.next_psn = rxe_psn_add(R.next_psn, 1);

	/* the hole itself still fails: a remote access error */
	syn = write_until_not_rnr(R.next_psn, a, mra->rkey);
	CU_ASSERT_EQUAL(syn, rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_REM_ACCESS_ERROR));

	ibv_destroy_qp(R.qp);
	R.qp = NULL;
	ibv_dereg_mr(mra);
	ibv_dereg_mr(mrb);
	munmap(a + pg, pg);
	munmap(b, 2 * pg);
	rp_close(&R);
}

/* ---- responder resources ---- */

/*
 * Sends @n READs of 64 MiB each (their answers take a while) from the next
 * expected PSN on, and waits until the victim has taken them in.
 */
static int send_long_reads(struct ibv_mr *mr, uint8_t *mem, unsigned int n)
{
	const uint32_t len = 64U << 20;
	struct rxe_hdrs h;
	unsigned int i;

	for (i = 0; i < n; i++) {
		rp_req_hdrs(&R, &h, IB_OPCODE_RC_RDMA_READ_REQUEST, R.next_psn);
		h.reth.va = (uintptr_t)mem + (uint64_t)i * len;
		h.reth.rkey = mr->rkey;
		h.reth.len = len;
		if (rp_send_wait(&R, &R.peer, &h, NULL, 0))
			return -1;
		R.next_psn = rxe_psn_add(R.next_psn, len / 1024);
	}
	return 0;
}

static void test_reads_past_max_dest_rd_atomic_are_invalid_requests(void)
{
	struct ibv_mr *mr;
	uint8_t *mem;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 4);
	mr = big_mr(&mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL_FATAL(send_long_reads(mr, mem, 4), 0);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_RTS);
	/* a fifth while the four are being answered */
	CU_ASSERT_EQUAL_FATAL(send_long_reads(mr, mem, 1), 0);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_ERR);
	big_mr_done(mr, mem);
}

static void test_a_read_without_responder_resources_is_an_invalid_request(void)
{
	struct ibv_mr *mr;
	uint8_t *mem;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 0);
	mr = big_mr(&mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL_FATAL(send_long_reads(mr, mem, 1), 0);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_ERR);
	big_mr_done(mr, mem);
}

/* ---- retried READs ---- */

#define DUP_READ (64U << 20)

/* Waits until the victim has sent nothing for 300 ms; its tx_pkts then. */
static uint64_t tx_settled(void)
{
	struct rxe_counters c;
	uint64_t last = UINT64_MAX, end = rt_ms() + 30000;

	do {
		rp_drain(&R.peer);
		rp_counters(&R, &c);
		if (c.tx_pkts == last)
			break;
		last = c.tx_pkts;
		usleep(300000);
	} while (rt_ms() < end);
	return c.tx_pkts;
}

/*
 * The peer asks for a 64 MiB READ and at once asks again from 100 packets
 * in, as a requester that lost a response does. The victim answers from
 * there on once: it sends fewer packets than the READ and the retried part
 * together (two answers, the second queued behind the first).
 */
static void test_a_duplicate_read_restarts_its_answer_instead_of_adding_one(void)
{
	const uint32_t npkts = DUP_READ / 1024, skip = 100;
	struct rxe_counters c0;
	struct rxe_hdrs h;
	struct ibv_mr *mr;
	uint64_t sent;
	uint8_t *mem;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	mr = big_mr(&mem);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	rp_counters(&R, &c0);
	rp_req_hdrs(&R, &h, IB_OPCODE_RC_RDMA_READ_REQUEST, R.next_psn);
	h.reth.va = (uintptr_t)mem;
	h.reth.rkey = mr->rkey;
	h.reth.len = DUP_READ;
	CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, NULL, 0), 0);
	h.bth.psn = rxe_psn_add(R.next_psn, skip);
	h.reth.va += skip * 1024;
	h.reth.len -= skip * 1024;
	CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, NULL, 0), 0);
	sent = tx_settled() - c0.tx_pkts;
	printf("\n    %llu packets for a READ of %u", (unsigned long long)sent, npkts);
	CU_ASSERT(sent >= npkts - skip);
	CU_ASSERT(sent < 2 * npkts - skip);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_RTS);
	big_mr_done(mr, mem);
}

/* ---- the order of the responder's checks ---- */

/* A WRITE consumes no receive WQE: an empty receive queue does not hide its bad rkey. */
static void test_write_with_a_bad_rkey_to_an_empty_rq_is_nak_remote_access_error(void)
{
	uint8_t data[64];
	struct rxe_hdrs h;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	memset(data, 0x6b, sizeof(data));
	rp_write_hdrs(&R, &h, 0, sizeof(data));
	h.reth.rkey = R.mr->rkey ^ (1u << RXE_KEY_BYTE_BITS); /* another slot of the key table */
	CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT(peer_gets_ack(&R, RP_VICTIM_PSN,
				rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_REM_ACCESS_ERROR)));
	CU_ASSERT(all_bytes(R.buf, sizeof(data), 0));
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_ERR);
	rp_close(&R);
}

/* Posts one receive of @len bytes at @off of the victim's buffer. */
static int victim_post_recv(struct rp *r, uint64_t wr_id, struct ibv_qp *qp, uint32_t off,
			    uint32_t len)
{
	struct ibv_sge sge = {(uintptr_t)r->buf + off, len, r->mr->lkey};
	struct ibv_recv_wr wr = {.wr_id = wr_id, .sg_list = &sge, .num_sge = 1}, *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

static void test_send_to_an_empty_rq_is_rnr_nak_with_the_min_rnr_timer(void)
{
	struct ibv_qp_attr at = {.min_rnr_timer = 14};
	uint8_t data[64];
	struct rxe_hdrs h;
	struct ibv_wc wc;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	CU_ASSERT_EQUAL_FATAL(ibv_modify_qp(R.qp, &at, IBV_QP_MIN_RNR_TIMER), 0);
	memset(data, 0x3e, sizeof(data));
	rp_req_hdrs(&R, &h, IB_OPCODE_RC_SEND_ONLY, R.next_psn);
	CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT(peer_gets_ack(&R, RP_VICTIM_PSN, rxe_aeth_syn(RXE_AETH_RNR_NAK, 14)));
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_RTS);
	CU_ASSERT(no_completion(&R));
	/* sent again once a receive is posted, it is delivered */
	CU_ASSERT_EQUAL_FATAL(victim_post_recv(&R, 11, R.qp, 8192, 256), 0);
	CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT(peer_gets_ack(&R, RP_VICTIM_PSN, RXE_AETH_SYN_ACK_UNLIMITED));
	CU_ASSERT_EQUAL_FATAL(rt_poll(R.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.wr_id, 11);
	CU_ASSERT_EQUAL(wc.byte_len, sizeof(data));
	CU_ASSERT(all_bytes(R.buf + 8192, sizeof(data), 0x3e));
	rp_close(&R);
}

/*
 * A WRITE with immediate needs a receive WQE: the resource is checked
 * before the rkey, so with none posted it is RNR NAKed whatever its rkey;
 * sent again with a receive posted, its bad rkey is found.
 */
static void test_write_with_immediate_and_a_bad_rkey_to_an_empty_rq_is_rnr_nak(void)
{
	uint8_t data[64];
	struct rxe_hdrs h;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	memset(data, 0x4d, sizeof(data));
	rp_write_hdrs(&R, &h, 0, sizeof(data));
	h.bth.opcode = IB_OPCODE_RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE;
	h.imm = 0x12345678;
	h.reth.rkey = R.mr->rkey ^ (1u << RXE_KEY_BYTE_BITS);
	CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT(peer_gets_ack(&R, RP_VICTIM_PSN, rxe_aeth_syn(RXE_AETH_RNR_NAK, 1)));
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_RTS);
	CU_ASSERT_EQUAL_FATAL(victim_post_recv(&R, 12, R.qp, 8192, 256), 0);
	CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT(peer_gets_ack(&R, RP_VICTIM_PSN,
				rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_REM_ACCESS_ERROR)));
	CU_ASSERT(all_bytes(R.buf, sizeof(data), 0));
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_ERR);
	rp_close(&R);
}

/* ---- requests dropped without an answer ---- */

static uint64_t resp_drops(struct rp *r)
{
	struct rxe_counters c;

	rp_counters(r, &c);
	return c.resp_drops;
}

static void test_requests_past_a_nakd_sequence_gap_are_dropped_and_counted(void)
{
	uint8_t data[64];
	struct rxe_hdrs h;
	uint64_t d0;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	memset(data, 0x2a, sizeof(data));
	d0 = resp_drops(&R);
	rp_write_hdrs(&R, &h, 0, sizeof(data));
	h.bth.psn = rxe_psn_add(RP_VICTIM_PSN, 1);
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT(peer_gets_ack(&R, RP_VICTIM_PSN,
				rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_PSN_SEQ_ERROR)));
	CU_ASSERT_EQUAL(resp_drops(&R), d0);
	/* the requester already knows where to resume: no second NAK */
	h.bth.psn = rxe_psn_add(RP_VICTIM_PSN, 2);
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT(peer_gets_nothing(&R));
	CU_ASSERT_EQUAL(resp_drops(&R), d0 + 1);
	CU_ASSERT(all_bytes(R.buf, sizeof(data), 0));
	/* the expected PSN is executed */
	h.bth.psn = RP_VICTIM_PSN;
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.peer, &h, data, sizeof(data)), 0);
	CU_ASSERT(peer_gets_ack(&R, RP_VICTIM_PSN, RXE_AETH_SYN_ACK_UNLIMITED));
	CU_ASSERT(all_bytes(R.buf, sizeof(data), 0x2a));
	rp_close(&R);
}

/* The peer receives a READ response ONLY for @psn. */
static bool peer_gets_read_response(struct rp *r, uint32_t psn)
{
	uint8_t b[8192];
	struct rxe_pkt_info pi;

	if (rp_recv(&r->peer, b, sizeof(b), &pi, RT_WAIT_MS))
		return false;
	return pi.opcode == IB_OPCODE_RC_RDMA_READ_RESPONSE_ONLY && pi.h.bth.psn == psn;
}

static void test_a_duplicate_read_of_another_range_is_dropped_and_counted(void)
{
	struct rxe_hdrs h;
	uint64_t d0;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	rp_req_hdrs(&R, &h, IB_OPCODE_RC_RDMA_READ_REQUEST, R.next_psn);
	h.reth.va = (uintptr_t)R.buf;
	h.reth.rkey = R.mr->rkey;
	h.reth.len = 64;
	CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, NULL, 0), 0);
	CU_ASSERT(peer_gets_read_response(&R, RP_VICTIM_PSN));
	d0 = resp_drops(&R);
	/* the same PSN for bytes the READ did not ask for */
	h.reth.va += 64;
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.peer, &h, NULL, 0), 0);
	CU_ASSERT(peer_gets_nothing(&R));
	CU_ASSERT_EQUAL(resp_drops(&R), d0 + 1);
	/* a true duplicate is answered again */
	h.reth.va -= 64;
	CU_ASSERT_EQUAL_FATAL(rp_send(&R.peer, &h, NULL, 0), 0);
	CU_ASSERT(peer_gets_read_response(&R, RP_VICTIM_PSN));
	CU_ASSERT_EQUAL(resp_drops(&R), d0 + 1);
	CU_ASSERT_EQUAL(rp_qp_state(R.qp), IBV_QPS_RTS);
	rp_close(&R);
}

/*
 * A UD datagram longer than the port's MTU is dropped without consuming
 * the receive WQE, which the next datagram of the right size fills.
 */
static void test_ud_send_longer_than_the_port_mtu_is_dropped_and_counted(void)
{
	static uint8_t data[RP_MAX_PAYLOAD];
	struct ibv_port_attr pa;
	struct ibv_qp *ud;
	struct rxe_hdrs h;
	struct ibv_wc wc;
	uint32_t mtu;
	uint64_t d0;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	CU_ASSERT_EQUAL_FATAL(ibv_query_port(R.ctx, 1, &pa), 0);
	mtu = 128u << pa.active_mtu;
	CU_ASSERT_FATAL(mtu + 4 <= sizeof(data));
	ud = victim_ud_qp();
	CU_ASSERT_PTR_NOT_NULL_FATAL(ud);
	CU_ASSERT_EQUAL_FATAL(victim_post_recv(&R, 6, ud, 8192, RXE_GRH_LEN + mtu + 64), 0);
	memset(data, 0x71, sizeof(data));
	memset(&h, 0, sizeof(h));
	h.bth.opcode = IB_OPCODE_UD_SEND_ONLY;
	h.bth.pkey = RXE_DEFAULT_PKEY;
	h.bth.qpn = ud->qp_num;
	h.deth.qkey = 0x11111111;
	h.deth.sqp = 0x99;
	d0 = resp_drops(&R);
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.stranger, &h, data, mtu + 4), 0);
	CU_ASSERT(no_completion(&R));
	CU_ASSERT_EQUAL(resp_drops(&R), d0 + 1);
	CU_ASSERT_EQUAL_FATAL(rp_send_wait(&R, &R.stranger, &h, data, mtu), 0);
	CU_ASSERT_EQUAL_FATAL(rt_poll(R.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.wr_id, 6);
	CU_ASSERT_EQUAL(wc.byte_len, RXE_GRH_LEN + mtu);
	CU_ASSERT_EQUAL(resp_drops(&R), d0 + 1);
	ibv_destroy_qp(ud);
	rp_close(&R);
}

/* ---- the send window ---- */

#define WIN_QPS	 4
#define WIN_PKTS 256 /* packets of each QP's WRITE: more than either window */
/* 4.3 s: no retry runs out while the test holds its ACKs back */
#define WIN_TIMEOUT 20

/* The distinct request PSNs the peer saw, per QP (dest QPN RP_PEER_QPN + i). */
struct win_seen {
	uint8_t psn[WIN_QPS][WIN_PKTS];
	unsigned int count[WIN_QPS], total;
	bool stray; /* a PSN past the WRITE, or an unknown QPN */
};

/*
 * Receives what the victim sends until @total distinct request PSNs were
 * seen (at most RT_WAIT_MS), then 100 ms more: the requester keeps within
 * its window, so nothing new may come (retransmissions repeat PSNs).
 */
static void win_collect(struct rp *r, struct win_seen *w, unsigned int total)
{
	uint64_t end = rt_ms() + RT_WAIT_MS, settle = 0;
	struct rxe_pkt_info pi;
	uint8_t b[8192];

	for (;;) {
		uint64_t now = rt_ms();
		uint32_t q, off;

		if (!settle && (w->total >= total || now >= end))
			settle = now + 100;
		if (settle && now >= settle)
			return;
		if (rp_recv(&r->peer, b, sizeof(b), &pi, 10))
			continue;
		q = pi.h.bth.qpn - RP_PEER_QPN;
		off = (pi.h.bth.psn - RP_PEER_PSN) & RXE_PSN_MASK;
		if (q >= WIN_QPS || off >= WIN_PKTS) {
			w->stray = true;
			continue;
		}
		if (!w->psn[q][off]) {
			w->psn[q][off] = 1;
			w->count[q]++;
			w->total++;
		}
	}
}

/* An RC QP of the victim's connected to peer QPN RP_PEER_QPN + @i, or NULL. */
static struct ibv_qp *win_qp(struct rp *r, unsigned int i)
{
	struct ibv_qp *qp = rp_create_qp(r, 4);

	if (qp && rp_connect_qp(qp, RP_ACCESS, 16, RP_PEER_QPN + i, WIN_TIMEOUT)) {
		ibv_destroy_qp(qp);
		qp = NULL;
	}
	return qp;
}

/* Posts an RDMA WRITE of @len bytes from the start of r->buf on @qp; 0 or -1. */
static int win_write(struct rp *r, struct ibv_qp *qp, uint32_t len)
{
	struct ibv_sge sge = {(uintptr_t)r->buf, len, r->mr->lkey};
	struct ibv_send_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = 0x10000;
	wr.wr.rdma.rkey = 0x1234;
	return ibv_post_send(qp, &wr, &bad) ? -1 : 0;
}

/* The peer ACKs @qp's requests up to the one @n packets after its first. */
static int win_ack(struct rp *r, struct ibv_qp *qp, uint32_t n)
{
	struct rxe_hdrs h;

	rp_ack_hdrs(r, &h, (RP_PEER_PSN + n - 1) & RXE_PSN_MASK, RXE_AETH_SYN_ACK_UNLIMITED);
	h.bth.qpn = qp->qp_num;
	return rp_send_wait(r, &r->peer, &h, NULL, 0);
}

static void test_an_rc_qp_keeps_at_most_128_packets_unacknowledged(void)
{
	static struct win_seen w;
	struct ibv_qp *qp;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	memset(&w, 0, sizeof(w));
	qp = win_qp(&R, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	CU_ASSERT_EQUAL_FATAL(win_write(&R, qp, WIN_PKTS * 1024), 0);
	win_collect(&R, &w, RXE_MAX_INFLIGHT);
	CU_ASSERT_FALSE(w.stray);
	CU_ASSERT_EQUAL(w.count[0], RXE_MAX_INFLIGHT);
	CU_ASSERT_EQUAL(w.psn[0][RXE_MAX_INFLIGHT - 1], 1);
	/* an ACK of the first 64 lets exactly 64 more go */
	CU_ASSERT_EQUAL_FATAL(win_ack(&R, qp, 64), 0);
	win_collect(&R, &w, RXE_MAX_INFLIGHT + 64);
	CU_ASSERT_FALSE(w.stray);
	CU_ASSERT_EQUAL(w.count[0], RXE_MAX_INFLIGHT + 64);
	ibv_destroy_qp(qp);
	rp_close(&R);
}

static void test_a_device_keeps_at_most_its_window_unacknowledged(void)
{
	static struct win_seen w;
	struct ibv_qp *qp[WIN_QPS];
	unsigned int i, window;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	memset(&w, 0, sizeof(w));
	window = (unsigned int)rp_dev(R.ctx)->tx_window_max;
	/* the bound under test binds: the QPs' own windows add up to more */
	CU_ASSERT_FATAL(window >= RXE_DEV_MIN_INFLIGHT && window < WIN_QPS * RXE_MAX_INFLIGHT);
	for (i = 0; i < WIN_QPS; i++) {
		qp[i] = win_qp(&R, i);
		CU_ASSERT_PTR_NOT_NULL_FATAL(qp[i]);
	}
	for (i = 0; i < WIN_QPS; i++)
		CU_ASSERT_EQUAL_FATAL(win_write(&R, qp[i], WIN_PKTS * 1024), 0);
	win_collect(&R, &w, window);
	CU_ASSERT_FALSE(w.stray);
	CU_ASSERT_EQUAL(w.total, window);
	for (i = 0; i < WIN_QPS; i++)
		CU_ASSERT(w.count[i] <= RXE_MAX_INFLIGHT);
	/* what one QP had acknowledged, the others may send */
	for (i = 0; i < WIN_QPS && !w.count[i]; i++)
		;
	CU_ASSERT_FATAL(i < WIN_QPS);
	{
		unsigned int before = w.total, acked = w.count[i];

		CU_ASSERT_EQUAL_FATAL(win_ack(&R, qp[i], acked), 0);
		win_collect(&R, &w, before + acked);
		CU_ASSERT_EQUAL(w.total, before + acked);
	}
	for (i = 0; i < WIN_QPS; i++)
		ibv_destroy_qp(qp[i]);
	rp_close(&R);
}

static void test_a_qp_in_error_holds_none_of_the_device_window(void)
{
	static struct win_seen w;
	struct ibv_qp_attr at = {.qp_state = IBV_QPS_ERR};
	struct ibv_qp *qp[WIN_QPS];
	unsigned int i, window, later;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	memset(&w, 0, sizeof(w));
	window = (unsigned int)rp_dev(R.ctx)->tx_window_max;
	for (i = 0; i < WIN_QPS; i++) {
		qp[i] = win_qp(&R, i);
		CU_ASSERT_PTR_NOT_NULL_FATAL(qp[i]);
	}
	/* the first two QPs take what they can of the window, and fail */
	for (i = 0; i < 2; i++)
		CU_ASSERT_EQUAL_FATAL(win_write(&R, qp[i], WIN_PKTS * 1024), 0);
	win_collect(&R, &w, SODP_MIN(window, 2 * RXE_MAX_INFLIGHT));
	CU_ASSERT_EQUAL(w.total, SODP_MIN(window, 2 * RXE_MAX_INFLIGHT));
	for (i = 0; i < 2; i++)
		CU_ASSERT_EQUAL_FATAL(ibv_modify_qp(qp[i], &at, IBV_QP_STATE), 0);
	/* the other two have the whole window */
	later = SODP_MIN(window, 2 * RXE_MAX_INFLIGHT);
	for (i = 2; i < WIN_QPS; i++)
		CU_ASSERT_EQUAL_FATAL(win_write(&R, qp[i], WIN_PKTS * 1024), 0);
	win_collect(&R, &w, w.total + later);
	CU_ASSERT_FALSE(w.stray);
	CU_ASSERT_EQUAL(w.count[2] + w.count[3], later);
	for (i = 0; i < WIN_QPS; i++)
		ibv_destroy_qp(qp[i]);
	rp_close(&R);
}

/*
 * A 100-packet WRITE leaves in order: PSNs one after another, FIRST,
 * MIDDLE ... LAST, AckReq on the 64th and the last packet, and each
 * packet's payload the part of the buffer at its offset (the requester
 * reads runs of packets with one copy).
 */
static void test_a_long_write_leaves_packet_by_packet_in_order(void)
{
	enum { PKTS = 100, MTU = 1024 };
	struct rxe_pkt_info pi;
	struct ibv_qp *qp;
	uint8_t b[8192];
	unsigned int i, bad = 0;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	for (i = 0; i < PKTS * MTU; i++)
		R.buf[i] = (uint8_t)(i * 7 + i / MTU);
	qp = win_qp(&R, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	CU_ASSERT_EQUAL_FATAL(win_write(&R, qp, PKTS * MTU), 0);
	for (i = 0; i < PKTS; i++) {
		uint8_t want = i == 0	       ? IB_OPCODE_RC_RDMA_WRITE_FIRST
			       : i == PKTS - 1 ? IB_OPCODE_RC_RDMA_WRITE_LAST
					       : IB_OPCODE_RC_RDMA_WRITE_MIDDLE;

		CU_ASSERT_EQUAL_FATAL(rp_recv(&R.peer, b, sizeof(b), &pi, RT_WAIT_MS), 0);
		if (pi.h.bth.psn != ((RP_PEER_PSN + i) & RXE_PSN_MASK) || pi.opcode != want ||
		    pi.h.bth.ack_req != (i == 63 || i == PKTS - 1) || pi.paylen != MTU ||
		    memcmp(pi.payload, R.buf + i * MTU, MTU)) {
			printf("\n    packet %u: psn %#x opcode %#x ack_req %d paylen %u", i,
			       pi.h.bth.psn, pi.opcode, pi.h.bth.ack_req, pi.paylen);
			bad++;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	ibv_destroy_qp(qp);
	rp_close(&R);
}

/* ---- ACKs that wait for the answer (resp.c, rxe_resp_hold_ack()) ---- */

/*
 * Puts the victim's QP in ping-pong mode, where a lone ACK waits up to
 * @hold_ns for the application's next post: what it enters on its own
 * when it answers an ACKed request at once.
 */
static void ack_wait_mode(struct rp *r, uint64_t hold_ns)
{
	struct rxe_dev *dev = rp_dev(r->ctx);

	rxe_dev_lock(dev);
	dev->ack_hold_ns = hold_ns;
	to_rqp(r->qp)->resp.pingpong = true;
	pthread_mutex_unlock(&dev->lock);
}

static void ack_wait_default(struct rp *r)
{
	struct rxe_dev *dev = rp_dev(r->ctx);

	rxe_dev_lock(dev);
	dev->ack_hold_ns = RXE_ACK_HOLD_NS;
	pthread_mutex_unlock(&dev->lock);
}

/* The peer WRITEs 8 bytes at the start of the victim's buffer, and it takes them in. */
static int ack_wait_write(struct rp *r)
{
	uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct rxe_hdrs h;

	rp_write_hdrs(r, &h, 0, sizeof(data));
	return rp_send_wait(r, &r->peer, &h, data, sizeof(data));
}

/* Whether the next packet the peer gets within @ms is the ACK of PSN @psn. */
static bool ack_arrives(struct rp *r, uint32_t psn, int ms)
{
	struct rxe_pkt_info pi;
	uint8_t b[8192];

	return !rp_recv(&r->peer, b, sizeof(b), &pi, ms) && pi.opcode == IB_OPCODE_RC_ACKNOWLEDGE &&
	       pi.h.aeth.syndrome == RXE_AETH_SYN_ACK_UNLIMITED && pi.h.bth.psn == psn;
}

static void test_a_waiting_ack_leaves_right_after_the_answer(void)
{
	struct rxe_pkt_info pi;
	uint8_t b[8192];

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	ack_wait_mode(&R, 10ULL * 1000000000ULL);
	CU_ASSERT_EQUAL_FATAL(ack_wait_write(&R), 0);
	/* nothing while the application has not answered */
	CU_ASSERT_NOT_EQUAL(rp_recv(&R.peer, b, sizeof(b), &pi, 100), 0);
	CU_ASSERT_EQUAL_FATAL(win_write(&R, R.qp, 64), 0);
	CU_ASSERT_EQUAL_FATAL(rp_recv(&R.peer, b, sizeof(b), &pi, RT_WAIT_MS), 0);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_RDMA_WRITE_ONLY);
	CU_ASSERT(ack_arrives(&R, R.next_psn, RT_WAIT_MS));
	ack_wait_default(&R);
	rp_close(&R);
}

static void test_a_waiting_ack_leaves_at_the_end_of_its_wait_and_ends_the_ping_pong(void)
{
	struct rxe_dev *dev;
	bool pingpong;

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	dev = rp_dev(R.ctx);
	ack_wait_mode(&R, 2000000);
	CU_ASSERT_EQUAL_FATAL(ack_wait_write(&R), 0);
	/* the application posts nothing, and does not poll */
	CU_ASSERT(ack_arrives(&R, R.next_psn, RT_WAIT_MS));
	rxe_dev_lock(dev);
	pingpong = to_rqp(R.qp)->resp.pingpong;
	pthread_mutex_unlock(&dev->lock);
	CU_ASSERT_FALSE(pingpong);
	ack_wait_default(&R);
	rp_close(&R);
}

static void test_destroying_a_qp_sends_the_ack_that_waits(void)
{
	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	ack_wait_mode(&R, 10ULL * 1000000000ULL);
	CU_ASSERT_EQUAL_FATAL(ack_wait_write(&R), 0);
	CU_ASSERT_EQUAL(ibv_destroy_qp(R.qp), 0);
	R.qp = NULL;
	CU_ASSERT(ack_arrives(&R, R.next_psn, 2000));
	ack_wait_default(&R);
	rp_close(&R);
}

static void test_moving_a_qp_to_error_sends_the_ack_that_waits(void)
{
	struct ibv_qp_attr at = {.qp_state = IBV_QPS_ERR};

	RP_OPEN_OR_SKIP(&R, RP_ACCESS, 16);
	ack_wait_mode(&R, 10ULL * 1000000000ULL);
	CU_ASSERT_EQUAL_FATAL(ack_wait_write(&R), 0);
	CU_ASSERT_EQUAL(ibv_modify_qp(R.qp, &at, IBV_QP_STATE), 0);
	CU_ASSERT(ack_arrives(&R, R.next_psn, 2000));
	ack_wait_default(&R);
	rp_close(&R);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"write_from_a_stranger_is_dropped", test_write_from_a_stranger_is_dropped},
		{"nak_from_a_stranger_leaves_the_qp_in_rts",
		 test_nak_from_a_stranger_leaves_the_qp_in_rts},
		{"pkey_match_follows_the_membership_rule",
		 test_pkey_match_follows_the_membership_rule},
		{"rnr_timer_codes_follow_iba_table_45", test_rnr_timer_codes_follow_iba_table_45},
		{"write_with_pkey_zero_is_dropped", test_write_with_pkey_zero_is_dropped},
		{"ud_send_with_a_foreign_pkey_or_qkey_is_dropped",
		 test_ud_send_with_a_foreign_pkey_or_qkey_is_dropped},
		{"naks_to_an_idle_qp_are_dropped", test_naks_to_an_idle_qp_are_dropped},
		{"ack_past_the_psns_sent_completes_nothing",
		 test_ack_past_the_psns_sent_completes_nothing},
		{"nak_outside_the_window_is_dropped_and_inside_fails_the_wqe",
		 test_nak_outside_the_window_is_dropped_and_inside_fails_the_wqe},
		{"read_longer_than_2_pow_31_is_nak_invalid_request",
		 test_read_longer_than_2_pow_31_is_nak_invalid_request},
		{"read_of_2_pow_31_bytes_is_answered", test_read_of_2_pow_31_bytes_is_answered},
		{"write_longer_than_2_pow_31_is_nak_invalid_request",
		 test_write_longer_than_2_pow_31_is_nak_invalid_request},
		{"fetch_add_adds_the_swap_add_field", test_fetch_add_adds_the_swap_add_field},
		{"fetch_add_is_sent_as_kernel_rxe_sends_it",
		 test_fetch_add_is_sent_as_kernel_rxe_sends_it},
		{"a_failed_fault_fails_only_the_access_it_was_for",
		 test_a_failed_fault_fails_only_the_access_it_was_for},
		{"a_duplicate_read_restarts_its_answer_instead_of_adding_one",
		 test_a_duplicate_read_restarts_its_answer_instead_of_adding_one},
		{"reads_past_max_dest_rd_atomic_are_invalid_requests",
		 test_reads_past_max_dest_rd_atomic_are_invalid_requests},
		{"a_read_without_responder_resources_is_an_invalid_request",
		 test_a_read_without_responder_resources_is_an_invalid_request},
		{"write_with_a_bad_rkey_to_an_empty_rq_is_nak_remote_access_error",
		 test_write_with_a_bad_rkey_to_an_empty_rq_is_nak_remote_access_error},
		{"send_to_an_empty_rq_is_rnr_nak_with_the_min_rnr_timer",
		 test_send_to_an_empty_rq_is_rnr_nak_with_the_min_rnr_timer},
		{"write_with_immediate_and_a_bad_rkey_to_an_empty_rq_is_rnr_nak",
		 test_write_with_immediate_and_a_bad_rkey_to_an_empty_rq_is_rnr_nak},
		{"requests_past_a_nakd_sequence_gap_are_dropped_and_counted",
		 test_requests_past_a_nakd_sequence_gap_are_dropped_and_counted},
		{"a_duplicate_read_of_another_range_is_dropped_and_counted",
		 test_a_duplicate_read_of_another_range_is_dropped_and_counted},
		{"an_rc_qp_keeps_at_most_128_packets_unacknowledged",
		 test_an_rc_qp_keeps_at_most_128_packets_unacknowledged},
		{"a_device_keeps_at_most_its_window_unacknowledged",
		 test_a_device_keeps_at_most_its_window_unacknowledged},
		{"a_qp_in_error_holds_none_of_the_device_window",
		 test_a_qp_in_error_holds_none_of_the_device_window},
		{"a_long_write_leaves_packet_by_packet_in_order",
		 test_a_long_write_leaves_packet_by_packet_in_order},
		{"ud_send_longer_than_the_port_mtu_is_dropped_and_counted",
		 test_ud_send_longer_than_the_port_mtu_is_dropped_and_counted},
		{"a_waiting_ack_leaves_right_after_the_answer",
		 test_a_waiting_ack_leaves_right_after_the_answer},
		{"a_waiting_ack_leaves_at_the_end_of_its_wait_and_ends_the_ping_pong",
		 test_a_waiting_ack_leaves_at_the_end_of_its_wait_and_ends_the_ping_pong},
		{"destroying_a_qp_sends_the_ack_that_waits",
		 test_destroying_a_qp_sends_the_ack_that_waits},
		{"moving_a_qp_to_error_sends_the_ack_that_waits",
		 test_moving_a_qp_to_error_sends_the_ack_that_waits},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_peer", NULL, NULL, t);
}
