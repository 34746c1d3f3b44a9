// SPDX-License-Identifier: MIT
/*
 * ibv_rereg_mr() under traffic, and what an error leaves behind. After a
 * rereg, a request that the MR no longer allows fails at both ends with the
 * status the peer expects (the WQE a NAK names gets its status, the ones
 * behind it are flushed); the QPs are then reset and reconnected, and
 * traffic through the re-registered MR works. Resetting a QP drops the
 * completions it left unpolled, so that the next poll sees new work. Each
 * case runs on a pinned and on an ODP MR.
 */
#include <stdbool.h>

#include "sodp_test.h"
#include "rxe_test_util.h"

#define MSG  1024
#define NBUF (64 * 1024)

static struct rt_side A, B; /* A sends; B's MR is re-registered */

static int pair_up(int mr_access)
{
	const struct rt_conn_opts *o = rt_default_opts();

	if (rt_side_init(&A, "srxe0", IBV_QPT_RC, mr_access, 16) ||
	    rt_side_init(&B, "srxe1", IBV_QPT_RC, mr_access, 16))
		return -1;
	return rt_rc_connect(&A, &B, o, 100, 200);
}

static void pair_down(void)
{
	rt_side_fini(&A);
	rt_side_fini(&B);
}

#define PAIR_OR_SKIP(access)                                                      \
	do {                                                                      \
		if (pair_up(access)) {                                            \
			pair_down();                                              \
			SODP_SKIP("cannot bind UDP 4791 on 127.0.0.1/127.0.0.2"); \
		}                                                                 \
	} while (0)

#define ACCESS_REMOTE                                                                \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
	 IBV_ACCESS_REMOTE_ATOMIC)

static int post_recv_at(struct rt_side *s, uint64_t wr_id, void *addr, uint32_t lkey)
{
	struct ibv_sge sge = {(uintptr_t)addr, MSG, lkey};
	struct ibv_recv_wr wr = {.wr_id = wr_id, .sg_list = &sge, .num_sge = 1}, *bad;

	return ibv_post_recv(s->qp, &wr, &bad);
}

static int post_send_at(struct rt_side *s, uint64_t wr_id, enum ibv_wr_opcode op, void *addr,
			uint32_t lkey, uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = {(uintptr_t)addr, MSG, lkey};
	struct ibv_send_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = wr_id;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return ibv_post_send(s->qp, &wr, &bad);
}

static void expect_wc(struct ibv_cq *cq, uint64_t wr_id, enum ibv_wc_status status)
{
	struct ibv_wc wc;

	CU_ASSERT_EQUAL_FATAL(rt_poll(cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.wr_id, wr_id);
	CU_ASSERT_EQUAL(wc.status, status);
}

/* The first completion of @cq is @wr_id's and an error; the rest stays unpolled. */
static void expect_first_error(struct ibv_cq *cq, uint64_t wr_id)
{
	struct ibv_wc wc;

	CU_ASSERT_EQUAL_FATAL(rt_poll(cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.wr_id, wr_id);
	CU_ASSERT_NOT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_NOT_EQUAL(wc.status, IBV_WC_WR_FLUSH_ERR);
}

static void reconnect(void)
{
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, rt_default_opts(), 300, 400), 0);
}

/*
 * A SEND from A lands in @dst (B's MR) and B's reply SEND from @dst lands
 * in A's buffer: traffic in both directions, every completion a success.
 */
static void send_both_ways(void *dst, int seed)
{
	struct ibv_wc wc;

	rt_fill(A.buf, MSG, seed);
	CU_ASSERT_EQUAL(post_recv_at(&B, 40, dst, B.mr->lkey), 0);
	CU_ASSERT_EQUAL(post_recv_at(&A, 41, A.buf + MSG, A.mr->lkey), 0);
	CU_ASSERT_EQUAL(post_send_at(&A, 42, IBV_WR_SEND, A.buf, A.mr->lkey, 0, 0), 0);
	expect_wc(A.cq, 42, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(rt_poll(B.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.wr_id, 40);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.byte_len, MSG);
	CU_ASSERT_EQUAL(memcmp(dst, A.buf, MSG), 0);
	CU_ASSERT_EQUAL(post_send_at(&B, 43, IBV_WR_SEND, dst, B.mr->lkey, 0, 0), 0);
	expect_wc(B.cq, 43, IBV_WC_SUCCESS);
	expect_wc(A.cq, 41, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(A.buf + MSG, A.buf, MSG), 0);
}

/* An RDMA WRITE from A into @dst, through B's rkey. */
static void write_into(void *dst, int seed)
{
	rt_fill(A.buf, MSG, seed);
	CU_ASSERT_EQUAL(post_send_at(&A, 50, IBV_WR_RDMA_WRITE, A.buf, A.mr->lkey, (uintptr_t)dst,
				     B.mr->rkey),
			0);
	expect_wc(A.cq, 50, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(dst, A.buf, MSG), 0);
}

/*
 * CHANGE_TRANSLATION: a receive posted into the old buffer is now outside
 * the MR. The SEND that reaches it fails at B and A sees a remote operation
 * error; after a reset, SENDs through the new buffer work.
 */
static void rereg_translation(int odp)
{
	uint8_t *nb;

	PAIR_OR_SKIP(ACCESS_REMOTE | odp);
	nb = aligned_alloc(4096, NBUF);
	CU_ASSERT_PTR_NOT_NULL_FATAL(nb);
	memset(nb, 0, NBUF);
	CU_ASSERT_EQUAL(post_recv_at(&B, 1, B.buf, B.mr->lkey), 0);
	CU_ASSERT_EQUAL(ibv_rereg_mr(B.mr, IBV_REREG_MR_CHANGE_TRANSLATION, NULL, nb, NBUF, 0), 0);
	CU_ASSERT_PTR_EQUAL(B.mr->addr, nb);
	CU_ASSERT_EQUAL(B.mr->length, NBUF);
	CU_ASSERT_EQUAL(post_recv_at(&A, 2, A.buf + MSG, A.mr->lkey), 0);
	CU_ASSERT_EQUAL(post_recv_at(&B, 3, nb, B.mr->lkey), 0);
	CU_ASSERT_EQUAL(post_send_at(&A, 4, IBV_WR_SEND, A.buf, A.mr->lkey, 0, 0), 0);
	expect_wc(A.cq, 4, IBV_WC_REM_OP_ERR);
	expect_first_error(B.cq, 1);
	reconnect();
	send_both_ways(nb, 1);
	send_both_ways(nb + MSG, 2);
	pair_down();
	free(nb);
}

static void test_rereg_translation_pinned(void)
{
	rereg_translation(0);
}

static void test_rereg_translation_odp(void)
{
	rereg_translation(IBV_ACCESS_ON_DEMAND);
}

/*
 * CHANGE_PD: B's receive names an MR of another PD now, a remote operation
 * error for A. Moved back to the QP's PD after a reset, the MR works.
 */
static void rereg_pd(int odp)
{
	struct ibv_pd *npd;

	PAIR_OR_SKIP(ACCESS_REMOTE | odp);
	send_both_ways(B.buf, 3);
	npd = ibv_alloc_pd(B.ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(npd);
	CU_ASSERT_EQUAL(ibv_rereg_mr(B.mr, IBV_REREG_MR_CHANGE_PD, npd, NULL, 0, 0), 0);
	CU_ASSERT_PTR_EQUAL(B.mr->pd, npd);
	CU_ASSERT_EQUAL(post_recv_at(&A, 2, A.buf + MSG, A.mr->lkey), 0);
	CU_ASSERT_EQUAL(post_recv_at(&B, 1, B.buf, B.mr->lkey), 0);
	CU_ASSERT_EQUAL(post_send_at(&A, 4, IBV_WR_SEND, A.buf, A.mr->lkey, 0, 0), 0);
	expect_wc(A.cq, 4, IBV_WC_REM_OP_ERR);
	expect_first_error(B.cq, 1);
	reconnect();
	CU_ASSERT_EQUAL(ibv_rereg_mr(B.mr, IBV_REREG_MR_CHANGE_PD, B.pd, NULL, 0, 0), 0);
	send_both_ways(B.buf, 4);
	/* the MR keeps the PD it is on from going */
	CU_ASSERT_EQUAL(ibv_rereg_mr(B.mr, IBV_REREG_MR_CHANGE_PD, npd, NULL, 0, 0), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(npd), EBUSY);
	CU_ASSERT_EQUAL(ibv_rereg_mr(B.mr, IBV_REREG_MR_CHANGE_PD, B.pd, NULL, 0, 0), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(npd), 0);
	pair_down();
}

static void test_rereg_pd_pinned(void)
{
	rereg_pd(0);
}

static void test_rereg_pd_odp(void)
{
	rereg_pd(IBV_ACCESS_ON_DEMAND);
}

/*
 * CHANGE_ACCESS: without REMOTE_WRITE an RDMA WRITE is a remote access
 * error; with it again (after a reset) the WRITE lands.
 */
static void rereg_access(int odp)
{
	PAIR_OR_SKIP(ACCESS_REMOTE | odp);
	write_into(B.buf, 5);
	CU_ASSERT_EQUAL(ibv_rereg_mr(B.mr, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0,
				     IBV_ACCESS_LOCAL_WRITE | odp),
			0);
	CU_ASSERT_EQUAL(post_send_at(&A, 6, IBV_WR_RDMA_WRITE, A.buf, A.mr->lkey, (uintptr_t)B.buf,
				     B.mr->rkey),
			0);
	expect_wc(A.cq, 6, IBV_WC_REM_ACCESS_ERR);
	reconnect();
	CU_ASSERT_EQUAL(
		ibv_rereg_mr(B.mr, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0, ACCESS_REMOTE | odp),
		0);
	write_into(B.buf + MSG, 6);
	send_both_ways(B.buf + 2 * MSG, 7);
	pair_down();
}

static void test_rereg_access_pinned(void)
{
	rereg_access(0);
}

static void test_rereg_access_odp(void)
{
	rereg_access(IBV_ACCESS_ON_DEMAND);
}

/*
 * All three at once: a new buffer on another PD without remote write
 * refuses A's WRITE; moved back to the QP's PD with remote write, the new
 * buffer takes WRITEs and SENDs.
 */
static void rereg_combined(int odp)
{
	struct ibv_pd *npd;
	uint8_t *nb;

	PAIR_OR_SKIP(ACCESS_REMOTE | odp);
	nb = aligned_alloc(4096, NBUF);
	CU_ASSERT_PTR_NOT_NULL_FATAL(nb);
	memset(nb, 0, NBUF);
	npd = ibv_alloc_pd(B.ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(npd);
	CU_ASSERT_EQUAL(ibv_rereg_mr(B.mr,
				     IBV_REREG_MR_CHANGE_TRANSLATION | IBV_REREG_MR_CHANGE_PD |
					     IBV_REREG_MR_CHANGE_ACCESS,
				     npd, nb, NBUF, IBV_ACCESS_LOCAL_WRITE | odp),
			0);
	CU_ASSERT_EQUAL(post_send_at(&A, 7, IBV_WR_RDMA_WRITE, A.buf, A.mr->lkey, (uintptr_t)nb,
				     B.mr->rkey),
			0);
	expect_wc(A.cq, 7, IBV_WC_REM_ACCESS_ERR);
	reconnect();
	CU_ASSERT_EQUAL(ibv_rereg_mr(B.mr, IBV_REREG_MR_CHANGE_PD | IBV_REREG_MR_CHANGE_ACCESS,
				     B.pd, NULL, 0, ACCESS_REMOTE | odp),
			0);
	write_into(nb, 8);
	send_both_ways(nb + MSG, 9);
	/* the old buffer is outside the MR now */
	CU_ASSERT_EQUAL(post_send_at(&A, 8, IBV_WR_RDMA_WRITE, A.buf, A.mr->lkey, (uintptr_t)B.buf,
				     B.mr->rkey),
			0);
	expect_wc(A.cq, 8, IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(npd), 0);
	pair_down();
	free(nb);
}

static void test_rereg_combined_pinned(void)
{
	rereg_combined(0);
}

static void test_rereg_combined_odp(void)
{
	rereg_combined(IBV_ACCESS_ON_DEMAND);
}

/*
 * Three SENDs, the second into a receive B cannot use: the first succeeds,
 * the second gets the NAK's status, the third is flushed.
 */
static void test_nak_status_goes_to_the_wqe_it_names(void)
{
	PAIR_OR_SKIP(ACCESS_REMOTE);
	CU_ASSERT_EQUAL(post_recv_at(&B, 1, B.buf, B.mr->lkey), 0);
	CU_ASSERT_EQUAL(post_recv_at(&B, 2, B.buf, B.mr->lkey + 0x100), 0);
	CU_ASSERT_EQUAL(post_recv_at(&B, 3, B.buf, B.mr->lkey), 0);
	CU_ASSERT_EQUAL(post_send_at(&A, 11, IBV_WR_SEND, A.buf, A.mr->lkey, 0, 0), 0);
	CU_ASSERT_EQUAL(post_send_at(&A, 12, IBV_WR_SEND, A.buf, A.mr->lkey, 0, 0), 0);
	CU_ASSERT_EQUAL(post_send_at(&A, 13, IBV_WR_SEND, A.buf, A.mr->lkey, 0, 0), 0);
	expect_wc(A.cq, 11, IBV_WC_SUCCESS);
	expect_wc(A.cq, 12, IBV_WC_REM_OP_ERR);
	expect_wc(A.cq, 13, IBV_WC_WR_FLUSH_ERR);
	expect_wc(B.cq, 1, IBV_WC_SUCCESS);
	expect_wc(B.cq, 2, IBV_WC_LOC_PROT_ERR);
	expect_wc(B.cq, 3, IBV_WC_WR_FLUSH_ERR);
	pair_down();
}

/*
 * RESET drops the QP's unpolled completions from its CQ, and only its own:
 * another QP's completions in the same CQ stay, in order.
 */
static void test_reset_drops_the_qps_unpolled_completions(void)
{
	struct ibv_qp_attr err = {.qp_state = IBV_QPS_ERR}, reset = {.qp_state = IBV_QPS_RESET};
	struct ibv_qp_init_attr ia;
	struct ibv_qp *other;
	struct ibv_wc wc;
	int i;

	PAIR_OR_SKIP(ACCESS_REMOTE);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = A.cq;
	ia.recv_cq = A.cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 4;
	ia.cap.max_recv_wr = 4;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	other = ibv_create_qp(A.pd, &ia);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	CU_ASSERT_EQUAL(rt_rc_connect_qp(other, B.qp->qp_num, &B.gid, 1, 1, rt_default_opts()), 0);
	for (i = 0; i < 3; i++) {
		struct ibv_sge sge = {(uintptr_t)A.buf, MSG, A.mr->lkey};
		struct ibv_recv_wr wr = {.wr_id = 60 + i, .sg_list = &sge, .num_sge = 1}, *bad;

		CU_ASSERT_EQUAL(post_recv_at(&A, 70 + i, A.buf, A.mr->lkey), 0);
		CU_ASSERT_EQUAL(ibv_post_recv(other, &wr, &bad), 0);
	}
	CU_ASSERT_EQUAL(ibv_modify_qp(A.qp, &err, IBV_QP_STATE), 0);
	CU_ASSERT_EQUAL(ibv_modify_qp(other, &err, IBV_QP_STATE), 0);
	CU_ASSERT_EQUAL(ibv_modify_qp(A.qp, &reset, IBV_QP_STATE), 0);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL_FATAL(rt_poll(A.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.qp_num, other->qp_num);
		CU_ASSERT_EQUAL(wc.wr_id, (uint64_t)(60 + i));
		CU_ASSERT_EQUAL(wc.status, IBV_WC_WR_FLUSH_ERR);
	}
	CU_ASSERT_EQUAL(ibv_poll_cq(A.cq, 1, &wc), 0);
	CU_ASSERT_EQUAL(ibv_destroy_qp(other), 0);
	pair_down();
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"rereg_translation_pinned", test_rereg_translation_pinned},
		{"rereg_translation_odp", test_rereg_translation_odp},
		{"rereg_pd_pinned", test_rereg_pd_pinned},
		{"rereg_pd_odp", test_rereg_pd_odp},
		{"rereg_access_pinned", test_rereg_access_pinned},
		{"rereg_access_odp", test_rereg_access_odp},
		{"rereg_combined_pinned", test_rereg_combined_pinned},
		{"rereg_combined_odp", test_rereg_combined_odp},
		{"nak_status_goes_to_the_wqe_it_names", test_nak_status_goes_to_the_wqe_it_names},
		{"reset_drops_the_qps_unpolled_completions",
		 test_reset_drops_the_qps_unpolled_completions},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_rereg", NULL, NULL, t);
}
