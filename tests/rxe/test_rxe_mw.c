// SPDX-License-Identifier: MIT
/*
 * Memory windows between two softodp devices in one process: allocation,
 * type 1 binds (ibv_bind_mw), type 2 binds (IBV_WR_BIND_MW, ibv_wr_bind_mw),
 * remote access through a window, its revocation by LOCAL_INV and by
 * SEND_WITH_INV, and every refused bind or invalidation with the completion
 * status kernel rxe gives. A is the requester (srxe0), B owns the memory
 * and the windows (srxe1).
 */
#include <stdbool.h>
#include <stdio.h>

#include "sodp_test.h"
#include "rxe_test_util.h"

#define B_ACCESS                                                                     \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
	 IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_MW_BIND)
#define RW	(IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define WIN_OFF 4096
#define WIN_LEN 8192

static struct rt_side A, B;

static int pair_up_access(int b_access)
{
	if (rt_side_init(&A, "srxe0", IBV_QPT_RC, B_ACCESS, 16) ||
	    rt_side_init(&B, "srxe1", IBV_QPT_RC, b_access, 16))
		return -1;
	return rt_rc_connect(&A, &B, rt_default_opts(), 100, 200);
}

static int pair_up(void)
{
	return pair_up_access(B_ACCESS);
}

static void pair_down(void)
{
	rt_side_fini(&A);
	rt_side_fini(&B);
}

/*
 * A test between two fresh sides, A the requester on srxe0 and B the
 * responder on srxe1, their RC QPs connected; both are torn down after it.
 */
#define MW_TEST(name) SODP_FIXTURE_TEST(name, pair_up, pair_down)

static uint64_t b_addr(uint32_t off)
{
	return (uintptr_t)B.buf + off;
}

/* The status of the next completion on @s's CQ, -1 if none came. */
static int next_status(struct rt_side *s, enum ibv_wc_opcode *op)
{
	struct ibv_wc wc;

	if (rt_poll(s->cq, &wc) != 1)
		return -1;
	if (op)
		*op = wc.opcode;
	return wc.status;
}

/* Posts a type 2 bind (or any bind WR) on @qp; its completion status. */
static int post_bind(struct rt_side *s, struct ibv_qp *qp, struct ibv_mw *mw, uint32_t rkey,
		     struct ibv_mr *mr, uint64_t addr, uint64_t len, unsigned int access)
{
	struct ibv_send_wr wr, *bad;
	enum ibv_wc_opcode op;
	int st;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = 7;
	wr.opcode = IBV_WR_BIND_MW;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = rkey;
	wr.bind_mw.bind_info.mr = mr;
	wr.bind_mw.bind_info.addr = addr;
	wr.bind_mw.bind_info.length = len;
	wr.bind_mw.bind_info.mw_access_flags = access;
	if (ibv_post_send(qp, &wr, &bad))
		return -2;
	st = next_status(s, &op);
	if (st == IBV_WC_SUCCESS && op != IBV_WC_BIND_MW)
		return -3;
	return st;
}

/* Binds a fresh type 2 window over B's [WIN_OFF, WIN_OFF + WIN_LEN). */
static struct ibv_mw *bound_type2(unsigned int access, uint32_t *rkey)
{
	struct ibv_mw *mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);

	if (!mw)
		return NULL;
	*rkey = ibv_inc_rkey(mw->rkey);
	if (post_bind(&B, B.qp, mw, *rkey, B.mr, b_addr(WIN_OFF), WIN_LEN, access)) {
		ibv_dealloc_mw(mw);
		return NULL;
	}
	return mw;
}

/* ibv_bind_mw() of a type 1 window; its completion status. */
static int bind1(struct ibv_mw *mw, struct ibv_mr *mr, uint64_t addr, uint64_t len,
		 unsigned int access)
{
	struct ibv_mw_bind b;
	enum ibv_wc_opcode op;
	int ret, st;

	memset(&b, 0, sizeof(b));
	b.wr_id = 9;
	b.send_flags = IBV_SEND_SIGNALED;
	b.bind_info.mr = mr;
	b.bind_info.addr = addr;
	b.bind_info.length = len;
	b.bind_info.mw_access_flags = access;
	ret = ibv_bind_mw(B.qp, mw, &b);
	if (ret)
		return -100 - ret;
	st = next_status(&B, &op);
	if (st == IBV_WC_SUCCESS && op != IBV_WC_BIND_MW)
		return -3;
	return st;
}

/*
 * A: one @op of @len bytes at @raddr through a fresh type 2 window of
 * @access over B's [WIN_OFF, WIN_OFF + WIN_LEN); its status, -4 when the
 * window could not be bound.
 */
static int a_rdma(enum ibv_wr_opcode op, uint64_t raddr, uint32_t rkey, uint32_t len);
static int through_type2(unsigned int access, enum ibv_wr_opcode op, uint64_t raddr, uint32_t len)
{
	uint32_t rkey;
	struct ibv_mw *mw = bound_type2(access, &rkey);
	int st;

	if (!mw)
		return -4;
	st = a_rdma(op, raddr, rkey, len);
	ibv_dealloc_mw(mw);
	return st;
}

/* A: one WRITE or READ of @len bytes at @raddr through @rkey; its status. */
static int a_rdma(enum ibv_wr_opcode op, uint64_t raddr, uint32_t rkey, uint32_t len)
{
	if (rt_post(&A, op, 0, len, raddr, rkey))
		return -2;
	return next_status(&A, NULL);
}

/* B: LOCAL_INV of @rkey; its completion status. */
static int local_inv(uint32_t rkey)
{
	struct ibv_send_wr wr, *bad;
	enum ibv_wc_opcode op;
	int st;

	memset(&wr, 0, sizeof(wr));
	wr.opcode = IBV_WR_LOCAL_INV;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.invalidate_rkey = rkey;
	if (ibv_post_send(B.qp, &wr, &bad))
		return -2;
	st = next_status(&B, &op);
	if (st == IBV_WC_SUCCESS && op != IBV_WC_LOCAL_INV)
		return -3;
	return st;
}

/* A: SEND_WITH_INV of @rkey into a receive B posted; A's status, B's WC. */
static int send_inv(uint32_t rkey, struct ibv_wc *bwc)
{
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge = {(uintptr_t)A.buf, 64, A.mr->lkey};
	int st;

	if (rt_post_recv(&B, 1, 0, 4096))
		return -2;
	memset(&wr, 0, sizeof(wr));
	wr.opcode = IBV_WR_SEND_WITH_INV;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.invalidate_rkey = rkey;
	if (ibv_post_send(A.qp, &wr, &bad))
		return -2;
	st = next_status(&A, NULL);
	if (rt_poll(B.cq, bwc) != 1)
		return -4;
	return st;
}

static enum ibv_qp_state qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_attr at;
	struct ibv_qp_init_attr ia;

	if (ibv_query_qp(qp, &at, IBV_QP_STATE, &ia))
		return IBV_QPS_UNKNOWN;
	return at.qp_state;
}

/* ---- allocation ---- */

MW_TEST(alloc_gives_keys_apart_from_mr_keys)
{
	struct ibv_mw *m1, *m2;

	m1 = ibv_alloc_mw(B.pd, IBV_MW_TYPE_1);
	m2 = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(m1 && m2);
	CU_ASSERT_EQUAL(m1->type, IBV_MW_TYPE_1);
	CU_ASSERT_EQUAL(m2->type, IBV_MW_TYPE_2);
	CU_ASSERT_PTR_EQUAL(m1->pd, B.pd);
	CU_ASSERT_NOT_EQUAL(m1->rkey, m2->rkey);
	CU_ASSERT_NOT_EQUAL(m1->rkey >> 8, B.mr->rkey >> 8);
	CU_ASSERT_NOT_EQUAL(m2->rkey >> 8, B.mr->rkey >> 8);
	CU_ASSERT_EQUAL(ibv_dealloc_mw(m1), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_mw(m2), 0);
}

MW_TEST(alloc_of_unknown_type_is_einval)
{
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_alloc_mw(B.pd, (enum ibv_mw_type)3));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_alloc_mw(B.pd, (enum ibv_mw_type)0));
	CU_ASSERT_EQUAL(errno, EINVAL);
}

MW_TEST(pd_with_a_window_is_busy)
{
	struct ibv_pd *pd;
	struct ibv_mw *mw;

	pd = ibv_alloc_pd(B.ctx);
	CU_ASSERT_FATAL(pd != NULL);
	mw = ibv_alloc_mw(pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(pd), EBUSY);
	CU_ASSERT_EQUAL(ibv_dealloc_mw(mw), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(pd), 0);
}

MW_TEST(query_device_reports_type1_and_type2b_windows)
{
	struct ibv_device_attr_ex ex;

	CU_ASSERT_FATAL(ibv_query_device_ex(B.ctx, NULL, &ex) == 0);
	CU_ASSERT(ex.orig_attr.max_mw > 0);
	CU_ASSERT(ex.orig_attr.device_cap_flags & IBV_DEVICE_MEM_WINDOW);
	CU_ASSERT(ex.orig_attr.device_cap_flags & IBV_DEVICE_MEM_WINDOW_TYPE_2B);
	CU_ASSERT(ex.device_cap_flags_ex & IBV_DEVICE_MEM_WINDOW_TYPE_2B);
}

/* ---- type 2 ---- */

MW_TEST(type2_window_grants_write_and_read_inside_it)
{
	struct ibv_mw *mw;
	uint32_t rkey;

	mw = bound_type2(RW, &rkey);
	CU_ASSERT_FATAL(mw != NULL);
	rt_fill(A.buf, 256, 3);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(WIN_OFF + 100), rkey, 256),
			IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(B.buf + WIN_OFF + 100, A.buf, 256), 0);
	rt_fill(B.buf + WIN_OFF + WIN_LEN - 512, 512, 9);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_READ, b_addr(WIN_OFF + WIN_LEN - 512), rkey, 512),
			IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf + WIN_OFF + WIN_LEN - 512, 512), 0);
	CU_ASSERT_EQUAL(qp_state(B.qp), IBV_QPS_RTS);
	ibv_dealloc_mw(mw);
}

MW_TEST(type2_write_before_the_window_is_rem_access_err)
{
	memset(B.buf, 0x5a, WIN_OFF);
	CU_ASSERT_EQUAL(through_type2(RW, IBV_WR_RDMA_WRITE, b_addr(WIN_OFF - 8), 16),
			IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_EQUAL(B.buf[WIN_OFF - 8], 0x5a);
}

MW_TEST(type2_read_past_the_window_is_rem_access_err)
{
	CU_ASSERT_EQUAL(through_type2(RW, IBV_WR_RDMA_READ, b_addr(WIN_OFF + WIN_LEN - 8), 16),
			IBV_WC_REM_ACCESS_ERR);
}

MW_TEST(type2_read_without_read_right_is_rem_access_err)
{
	CU_ASSERT_EQUAL(
		through_type2(IBV_ACCESS_REMOTE_WRITE, IBV_WR_RDMA_READ, b_addr(WIN_OFF), 16),
		IBV_WC_REM_ACCESS_ERR);
}

MW_TEST(type2_atomic_needs_the_atomic_right)
{
	*(uint64_t *)(B.buf + WIN_OFF) = 40;
	CU_ASSERT_EQUAL(through_type2(RW | IBV_ACCESS_REMOTE_ATOMIC, IBV_WR_ATOMIC_FETCH_AND_ADD,
				      b_addr(WIN_OFF), 8),
			IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(*(uint64_t *)A.buf, 40);
	CU_ASSERT_EQUAL(through_type2(RW, IBV_WR_ATOMIC_FETCH_AND_ADD, b_addr(WIN_OFF), 8),
			IBV_WC_REM_ACCESS_ERR);
}

MW_TEST(type2_window_is_usable_only_through_the_binding_qp)
{
	struct rt_side A2, B2;
	struct ibv_qp_init_attr ia;
	struct ibv_mw *mw;
	uint32_t rkey;

	mw = bound_type2(RW, &rkey);
	CU_ASSERT_FATAL(mw != NULL);
	/* a second connection between the same PDs */
	A2 = A;
	B2 = B;
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = A.cq;
	ia.recv_cq = A.cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 4;
	ia.cap.max_recv_wr = 4;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	A2.qp = ibv_create_qp(A.pd, &ia);
	ia.send_cq = B.cq;
	ia.recv_cq = B.cq;
	B2.qp = ibv_create_qp(B.pd, &ia);
	CU_ASSERT_FATAL(A2.qp && B2.qp);
	CU_ASSERT_FATAL(rt_rc_connect(&A2, &B2, rt_default_opts(), 300, 400) == 0);
	CU_ASSERT_EQUAL(rt_post(&A2, IBV_WR_RDMA_WRITE, 0, 16, b_addr(WIN_OFF), rkey), 0);
	CU_ASSERT_EQUAL(next_status(&A2, NULL), IBV_WC_REM_ACCESS_ERR);
	ibv_destroy_qp(A2.qp);
	ibv_destroy_qp(B2.qp);
	/* the QP that bound it still may */
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(WIN_OFF), rkey, 16), IBV_WC_SUCCESS);
	ibv_dealloc_mw(mw);
}

MW_TEST(type2_zero_based_window_takes_offsets)
{
	struct ibv_mw *mw;
	uint32_t rkey;

	mw = bound_type2(RW | IBV_ACCESS_ZERO_BASED, &rkey);
	CU_ASSERT_FATAL(mw != NULL);
	rt_fill(A.buf, 64, 5);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, 128, rkey, 64), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(B.buf + WIN_OFF + 128, A.buf, 64), 0);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, WIN_LEN - 32, rkey, 64), IBV_WC_REM_ACCESS_ERR);
	ibv_dealloc_mw(mw);
}

static void test_type2_bind_to_mr_without_mw_bind_is_mw_bind_err(void)
{
	struct ibv_mw *mw;

	CU_ASSERT_FATAL(pair_up_access(B_ACCESS & ~IBV_ACCESS_MW_BIND) == 0);
	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(
		post_bind(&B, B.qp, mw, ibv_inc_rkey(mw->rkey), B.mr, b_addr(WIN_OFF), WIN_LEN, RW),
		IBV_WC_MW_BIND_ERR);
	CU_ASSERT_EQUAL(qp_state(B.qp), IBV_QPS_ERR);
	ibv_dealloc_mw(mw);
	pair_down();
}

MW_TEST(bind_writable_window_on_mr_without_local_write_is_mw_bind_err)
{
	struct ibv_mw *mw;
	struct ibv_mr *ro;

	ro = ibv_reg_mr(B.pd, B.buf, RT_BUF, IBV_ACCESS_REMOTE_READ | IBV_ACCESS_MW_BIND);
	CU_ASSERT_FATAL(ro != NULL);
	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(post_bind(&B, B.qp, mw, ibv_inc_rkey(mw->rkey), ro, b_addr(WIN_OFF),
				  WIN_LEN, IBV_ACCESS_REMOTE_WRITE),
			IBV_WC_MW_BIND_ERR);
	ibv_dealloc_mw(mw);
	CU_ASSERT_EQUAL(ibv_dereg_mr(ro), 0);
}

MW_TEST(type2_bind_outside_the_mr_is_mw_bind_err)
{
	struct ibv_mw *mw;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(post_bind(&B, B.qp, mw, ibv_inc_rkey(mw->rkey), B.mr, b_addr(RT_BUF - 4096),
				  8192, RW),
			IBV_WC_MW_BIND_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(type2_bind_of_a_bound_window_is_mw_bind_err)
{
	struct ibv_mw *mw;
	uint32_t rkey;

	mw = bound_type2(RW, &rkey);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(post_bind(&B, B.qp, mw, ibv_inc_rkey(rkey), B.mr, b_addr(0), 4096, RW),
			IBV_WC_MW_BIND_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(type2_zero_length_bind_is_mw_bind_err)
{
	struct ibv_mw *mw;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(post_bind(&B, B.qp, mw, ibv_inc_rkey(mw->rkey), B.mr, b_addr(0), 0, RW),
			IBV_WC_MW_BIND_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(bind_through_a_qp_of_another_pd_is_mw_bind_err)
{
	struct ibv_pd *pd2;
	struct ibv_mr *mr2;
	struct ibv_mw *mw;

	pd2 = ibv_alloc_pd(B.ctx);
	CU_ASSERT_FATAL(pd2 != NULL);
	mr2 = ibv_reg_mr(pd2, B.buf, RT_BUF, B_ACCESS);
	mw = ibv_alloc_mw(pd2, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mr2 && mw);
	CU_ASSERT_EQUAL(post_bind(&B, B.qp, mw, ibv_inc_rkey(mw->rkey), mr2, b_addr(0), 4096, RW),
			IBV_WC_MW_BIND_ERR);
	ibv_dealloc_mw(mw);
	ibv_dereg_mr(mr2);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(pd2), 0);
}

MW_TEST(bind_to_an_mr_of_another_pd_is_mw_bind_err)
{
	struct ibv_pd *pd2;
	struct ibv_mr *mr2;
	struct ibv_mw *mw;

	pd2 = ibv_alloc_pd(B.ctx);
	CU_ASSERT_FATAL(pd2 != NULL);
	mr2 = ibv_reg_mr(pd2, B.buf, RT_BUF, B_ACCESS);
	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mr2 && mw);
	CU_ASSERT_EQUAL(post_bind(&B, B.qp, mw, ibv_inc_rkey(mw->rkey), mr2, b_addr(0), 4096, RW),
			IBV_WC_MW_BIND_ERR);
	ibv_dealloc_mw(mw);
	ibv_dereg_mr(mr2);
	ibv_dealloc_pd(pd2);
}

MW_TEST(bind_wr_with_bad_arguments_is_einval)
{
	struct ibv_send_wr wr, *bad;
	struct ibv_qp_init_attr ia;
	struct ibv_mw *mw;
	struct ibv_qp *ud;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mw != NULL);
	memset(&wr, 0, sizeof(wr));
	wr.opcode = IBV_WR_BIND_MW;
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = ibv_inc_rkey(mw->rkey);
	wr.bind_mw.bind_info.mr = B.mr;
	wr.bind_mw.bind_info.addr = b_addr(0);
	wr.bind_mw.bind_info.length = 4096;
	/* a right a window cannot grant */
	wr.bind_mw.bind_info.mw_access_flags = IBV_ACCESS_MW_BIND;
	CU_ASSERT_EQUAL(ibv_post_send(B.qp, &wr, &bad), EINVAL);
	CU_ASSERT_PTR_EQUAL(bad, &wr);
	/* no window */
	wr.bind_mw.bind_info.mw_access_flags = RW;
	wr.bind_mw.mw = NULL;
	CU_ASSERT_EQUAL(ibv_post_send(B.qp, &wr, &bad), EINVAL);
	/* a range without an MR */
	wr.bind_mw.mw = mw;
	wr.bind_mw.bind_info.mr = NULL;
	CU_ASSERT_EQUAL(ibv_post_send(B.qp, &wr, &bad), EINVAL);
	/* a UD QP binds nothing */
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = B.cq;
	ia.recv_cq = B.cq;
	ia.qp_type = IBV_QPT_UD;
	ia.cap.max_send_wr = 1;
	ia.cap.max_recv_wr = 1;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	ud = ibv_create_qp(B.pd, &ia);
	CU_ASSERT_FATAL(ud != NULL);
	CU_ASSERT_FATAL(rt_ud_ready(ud, 0) == 0);
	wr.bind_mw.bind_info.mr = B.mr;
	CU_ASSERT_EQUAL(ibv_post_send(ud, &wr, &bad), EINVAL);
	wr.opcode = IBV_WR_LOCAL_INV;
	CU_ASSERT_EQUAL(ibv_post_send(ud, &wr, &bad), EINVAL);
	ibv_destroy_qp(ud);
	/* nothing was posted on the RC QP */
	CU_ASSERT_EQUAL(ibv_poll_cq(B.cq, 1, &(struct ibv_wc){0}), 0);
	CU_ASSERT_EQUAL(qp_state(B.qp), IBV_QPS_RTS);
	ibv_dealloc_mw(mw);
}

MW_TEST(mr_with_a_bound_window_cannot_be_deregistered)
{
	struct ibv_mw *mw;
	struct ibv_mr *mr2;
	uint32_t rkey;

	mr2 = ibv_reg_mr(B.pd, B.buf, RT_BUF, B_ACCESS);
	CU_ASSERT_FATAL(mr2 != NULL);
	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mw != NULL);
	rkey = ibv_inc_rkey(mw->rkey);
	CU_ASSERT_FATAL(post_bind(&B, B.qp, mw, rkey, mr2, b_addr(0), 4096, RW) == 0);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr2), EINVAL);
	CU_ASSERT_EQUAL(ibv_rereg_mr(mr2, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0,
				     IBV_ACCESS_LOCAL_WRITE),
			IBV_REREG_MR_ERR_CMD);
	CU_ASSERT_EQUAL(local_inv(rkey), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr2), 0);
	ibv_dealloc_mw(mw);
}

MW_TEST(destroying_the_binding_qp_frees_its_type2_windows)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp *qp;
	struct ibv_mw *mw;
	struct ibv_mr *mr2;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = B.cq;
	ia.recv_cq = B.cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 4;
	ia.cap.max_recv_wr = 1;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	qp = ibv_create_qp(B.pd, &ia);
	CU_ASSERT_FATAL(qp != NULL);
	CU_ASSERT_FATAL(rt_rc_connect_qp(qp, A.qp->qp_num, &A.gid, 0, 0, rt_default_opts()) == 0);
	mr2 = ibv_reg_mr(B.pd, B.buf, RT_BUF, B_ACCESS);
	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mr2 && mw);
	CU_ASSERT_FATAL(post_bind(&B, qp, mw, ibv_inc_rkey(mw->rkey), mr2, b_addr(0), 4096, RW) ==
			0);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr2), EINVAL);
	CU_ASSERT_EQUAL(ibv_destroy_qp(qp), 0);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr2), 0);
	/* FREE again: it binds anew */
	CU_ASSERT_EQUAL(post_bind(&B, B.qp, mw, ibv_inc_rkey(ibv_inc_rkey(mw->rkey)), B.mr,
				  b_addr(0), 4096, RW),
			IBV_WC_SUCCESS);
	ibv_dealloc_mw(mw);
}

MW_TEST(wr_bind_mw_and_wr_local_inv_work_through_qp_ex)
{
	struct ibv_qp_init_attr_ex ia;
	struct ibv_mw_bind_info bi;
	struct ibv_qp_ex *qpx;
	struct ibv_qp *qp;
	struct ibv_mw *mw;
	enum ibv_wc_opcode op;
	uint32_t rkey;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = B.cq;
	ia.recv_cq = B.cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 4;
	ia.cap.max_recv_wr = 1;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	ia.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	ia.pd = B.pd;
	ia.send_ops_flags = IBV_QP_EX_WITH_BIND_MW | IBV_QP_EX_WITH_LOCAL_INV;
	qp = ibv_create_qp_ex(B.ctx, &ia);
	CU_ASSERT_FATAL(qp != NULL);
	CU_ASSERT_FATAL(rt_rc_connect_qp(qp, A.qp->qp_num, &A.gid, 0, 0, rt_default_opts()) == 0);
	qpx = ibv_qp_to_qp_ex(qp);
	CU_ASSERT_FATAL(qpx != NULL);
	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mw != NULL);
	rkey = ibv_inc_rkey(mw->rkey);
	bi = (struct ibv_mw_bind_info){B.mr, b_addr(0), 4096, RW};
	ibv_wr_start(qpx);
	qpx->wr_id = 1;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_bind_mw(qpx, mw, rkey, &bi);
	qpx->wr_id = 2;
	ibv_wr_local_inv(qpx, rkey);
	CU_ASSERT_EQUAL_FATAL(ibv_wr_complete(qpx), 0);
	CU_ASSERT_EQUAL(next_status(&B, &op), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(op, IBV_WC_BIND_MW);
	CU_ASSERT_EQUAL(next_status(&B, &op), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(op, IBV_WC_LOCAL_INV);
	/* the window is FREE again: the MR under it can go */
	ibv_destroy_qp(qp);
	ibv_dealloc_mw(mw);
}

/* ---- invalidation ---- */

MW_TEST(local_inv_revokes_a_type2_window)
{
	struct ibv_mw *mw;
	uint32_t rkey;

	mw = bound_type2(RW, &rkey);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(WIN_OFF), rkey, 16), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(local_inv(rkey), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(WIN_OFF), rkey, 16),
			IBV_WC_REM_ACCESS_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(local_inv_of_an_mr_rkey_is_loc_qp_op_err)
{
	CU_ASSERT_EQUAL(local_inv(B.mr->rkey), IBV_WC_LOC_QP_OP_ERR);
	CU_ASSERT_EQUAL(qp_state(B.qp), IBV_QPS_ERR);
}

MW_TEST(local_inv_of_a_type1_window_is_loc_qp_op_err)
{
	struct ibv_mw *mw;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_1);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_FATAL(bind1(mw, B.mr, b_addr(0), 4096, RW) == IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(local_inv(mw->rkey), IBV_WC_LOC_QP_OP_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(local_inv_of_a_free_window_is_loc_qp_op_err)
{
	struct ibv_mw *mw;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(local_inv(mw->rkey), IBV_WC_LOC_QP_OP_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(send_with_inv_revokes_a_type2_window)
{
	struct ibv_wc wc;
	struct ibv_mw *mw;
	uint32_t rkey;

	mw = bound_type2(RW, &rkey);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(send_inv(rkey, &wc), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_RECV);
	CU_ASSERT(wc.wc_flags & IBV_WC_WITH_INV);
	CU_ASSERT_EQUAL(wc.invalidated_rkey, rkey);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(WIN_OFF), rkey, 16),
			IBV_WC_REM_ACCESS_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(send_with_inv_of_an_mr_rkey_is_rem_op_err)
{
	struct ibv_wc wc;

	CU_ASSERT_EQUAL(send_inv(B.mr->rkey, &wc), IBV_WC_REM_OP_ERR);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_INV_REQ_ERR);
	CU_ASSERT_EQUAL(qp_state(B.qp), IBV_QPS_ERR);
}

MW_TEST(send_with_inv_of_a_type1_window_is_rem_op_err)
{
	struct ibv_wc wc;
	struct ibv_mw *mw;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_1);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_FATAL(bind1(mw, B.mr, b_addr(0), 4096, RW) == IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(send_inv(mw->rkey, &wc), IBV_WC_REM_OP_ERR);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_INV_REQ_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(send_with_inv_of_an_invalidated_key_is_rem_op_err)
{
	struct ibv_wc wc;
	struct ibv_mw *mw;
	uint32_t rkey;

	mw = bound_type2(RW, &rkey);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(local_inv(rkey), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(send_inv(rkey, &wc), IBV_WC_REM_OP_ERR);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_INV_REQ_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(rebound_type2_window_answers_only_its_new_key)
{
	struct ibv_mw *mw;
	uint32_t rkey, rkey2;

	mw = bound_type2(RW, &rkey);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(local_inv(rkey), IBV_WC_SUCCESS);
	rkey2 = ibv_inc_rkey(rkey);
	CU_ASSERT_EQUAL(post_bind(&B, B.qp, mw, rkey2, B.mr, b_addr(0), 4096, RW), 0);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(0), rkey2, 16), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(0), rkey, 16), IBV_WC_REM_ACCESS_ERR);
	ibv_dealloc_mw(mw);
}

/* ---- type 1 ---- */

MW_TEST(type1_bind_grants_access_under_the_next_key)
{
	struct ibv_mw *mw;
	uint32_t old;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_1);
	CU_ASSERT_FATAL(mw != NULL);
	old = mw->rkey;
	CU_ASSERT_EQUAL(bind1(mw, B.mr, b_addr(WIN_OFF), WIN_LEN, RW), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(mw->rkey, ibv_inc_rkey(old));
	rt_fill(A.buf, 128, 11);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(WIN_OFF), mw->rkey, 128), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(B.buf + WIN_OFF, A.buf, 128), 0);
	ibv_dealloc_mw(mw);
}

MW_TEST(unbound_type1_window_grants_nothing)
{
	struct ibv_mw *mw;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_1);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(0), mw->rkey, 16), IBV_WC_REM_ACCESS_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(type1_rebind_revokes_the_previous_key)
{
	struct ibv_mw *mw;
	uint32_t first;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_1);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_FATAL(bind1(mw, B.mr, b_addr(0), 4096, RW) == IBV_WC_SUCCESS);
	first = mw->rkey;
	CU_ASSERT_FATAL(bind1(mw, B.mr, b_addr(8192), 4096, RW) == IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(8192), mw->rkey, 16), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(0), first, 16), IBV_WC_REM_ACCESS_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(type1_zero_length_bind_unbinds)
{
	struct ibv_mw *mw;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_1);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_FATAL(bind1(mw, B.mr, b_addr(0), 4096, RW) == IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(bind1(mw, NULL, 0, 0, RW), IBV_WC_SUCCESS);
	/* nothing holds the MR any more */
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(0), mw->rkey, 16), IBV_WC_REM_ACCESS_ERR);
	ibv_dealloc_mw(mw);
}

MW_TEST(type1_bind_with_bad_arguments_is_refused_at_post)
{
	struct ibv_mw *m1, *m2;
	struct ibv_pd *pd2;
	struct ibv_mr *mr2;
	uint32_t key;

	m1 = ibv_alloc_mw(B.pd, IBV_MW_TYPE_1);
	m2 = ibv_alloc_mw(B.pd, IBV_MW_TYPE_2);
	pd2 = ibv_alloc_pd(B.ctx);
	CU_ASSERT_FATAL(m1 && m2 && pd2);
	mr2 = ibv_reg_mr(pd2, B.buf, 4096, B_ACCESS);
	CU_ASSERT_FATAL(mr2 != NULL);
	key = m1->rkey;
	/* a type 1 window is never zero based (o10-36.2.2) */
	CU_ASSERT_EQUAL(bind1(m1, B.mr, b_addr(0), 4096, RW | IBV_ACCESS_ZERO_BASED),
			-100 - EINVAL);
	/* a right a window cannot grant */
	CU_ASSERT_EQUAL(bind1(m1, B.mr, b_addr(0), 4096, IBV_ACCESS_LOCAL_WRITE), -100 - EINVAL);
	/* the MR of another PD (the inline verb's check) */
	CU_ASSERT_EQUAL(bind1(m1, mr2, b_addr(0), 4096, RW), -100 - EPERM);
	/* ibv_bind_mw() binds type 1 only */
	CU_ASSERT_EQUAL(bind1(m2, B.mr, b_addr(0), 4096, RW), -100 - EINVAL);
	CU_ASSERT_EQUAL(m1->rkey, key);
	CU_ASSERT_EQUAL(qp_state(B.qp), IBV_QPS_RTS);
	ibv_dereg_mr(mr2);
	ibv_dealloc_mw(m1);
	ibv_dealloc_mw(m2);
	ibv_dealloc_pd(pd2);
}

MW_TEST(type1_bind_through_a_qp_of_another_pd_is_mw_bind_err)
{
	struct ibv_pd *pd2;
	struct ibv_mr *mr2;
	struct ibv_mw *mw;

	pd2 = ibv_alloc_pd(B.ctx);
	CU_ASSERT_FATAL(pd2 != NULL);
	mr2 = ibv_reg_mr(pd2, B.buf, RT_BUF, B_ACCESS);
	mw = ibv_alloc_mw(pd2, IBV_MW_TYPE_1);
	CU_ASSERT_FATAL(mr2 && mw);
	CU_ASSERT_EQUAL(bind1(mw, mr2, b_addr(0), 4096, RW), IBV_WC_MW_BIND_ERR);
	ibv_dealloc_mw(mw);
	ibv_dereg_mr(mr2);
	ibv_dealloc_pd(pd2);
}

MW_TEST(deallocated_window_grants_nothing)
{
	struct ibv_mw *mw;
	uint32_t rkey;

	mw = ibv_alloc_mw(B.pd, IBV_MW_TYPE_1);
	CU_ASSERT_FATAL(mw != NULL);
	CU_ASSERT_FATAL(bind1(mw, B.mr, b_addr(0), 4096, RW) == IBV_WC_SUCCESS);
	rkey = mw->rkey;
	CU_ASSERT_EQUAL(ibv_dealloc_mw(mw), 0);
	CU_ASSERT_EQUAL(a_rdma(IBV_WR_RDMA_WRITE, b_addr(0), rkey, 16), IBV_WC_REM_ACCESS_ERR);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"alloc_gives_keys_apart_from_mr_keys", test_alloc_gives_keys_apart_from_mr_keys},
		{"alloc_of_unknown_type_is_einval", test_alloc_of_unknown_type_is_einval},
		{"pd_with_a_window_is_busy", test_pd_with_a_window_is_busy},
		{"query_device_reports_type1_and_type2b_windows",
		 test_query_device_reports_type1_and_type2b_windows},
		{"type2_window_grants_write_and_read_inside_it",
		 test_type2_window_grants_write_and_read_inside_it},
		{"type2_write_before_the_window_is_rem_access_err",
		 test_type2_write_before_the_window_is_rem_access_err},
		{"type2_read_past_the_window_is_rem_access_err",
		 test_type2_read_past_the_window_is_rem_access_err},
		{"type2_read_without_read_right_is_rem_access_err",
		 test_type2_read_without_read_right_is_rem_access_err},
		{"type2_atomic_needs_the_atomic_right", test_type2_atomic_needs_the_atomic_right},
		{"type2_window_is_usable_only_through_the_binding_qp",
		 test_type2_window_is_usable_only_through_the_binding_qp},
		{"type2_zero_based_window_takes_offsets",
		 test_type2_zero_based_window_takes_offsets},
		{"type2_bind_to_mr_without_mw_bind_is_mw_bind_err",
		 test_type2_bind_to_mr_without_mw_bind_is_mw_bind_err},
		{"bind_writable_window_on_mr_without_local_write_is_mw_bind_err",
		 test_bind_writable_window_on_mr_without_local_write_is_mw_bind_err},
		{"type2_bind_outside_the_mr_is_mw_bind_err",
		 test_type2_bind_outside_the_mr_is_mw_bind_err},
		{"type2_bind_of_a_bound_window_is_mw_bind_err",
		 test_type2_bind_of_a_bound_window_is_mw_bind_err},
		{"type2_zero_length_bind_is_mw_bind_err",
		 test_type2_zero_length_bind_is_mw_bind_err},
		{"bind_through_a_qp_of_another_pd_is_mw_bind_err",
		 test_bind_through_a_qp_of_another_pd_is_mw_bind_err},
		{"bind_to_an_mr_of_another_pd_is_mw_bind_err",
		 test_bind_to_an_mr_of_another_pd_is_mw_bind_err},
		{"bind_wr_with_bad_arguments_is_einval", test_bind_wr_with_bad_arguments_is_einval},
		{"mr_with_a_bound_window_cannot_be_deregistered",
		 test_mr_with_a_bound_window_cannot_be_deregistered},
		{"destroying_the_binding_qp_frees_its_type2_windows",
		 test_destroying_the_binding_qp_frees_its_type2_windows},
		{"wr_bind_mw_and_wr_local_inv_work_through_qp_ex",
		 test_wr_bind_mw_and_wr_local_inv_work_through_qp_ex},
		{"local_inv_revokes_a_type2_window", test_local_inv_revokes_a_type2_window},
		{"local_inv_of_an_mr_rkey_is_loc_qp_op_err",
		 test_local_inv_of_an_mr_rkey_is_loc_qp_op_err},
		{"local_inv_of_a_type1_window_is_loc_qp_op_err",
		 test_local_inv_of_a_type1_window_is_loc_qp_op_err},
		{"local_inv_of_a_free_window_is_loc_qp_op_err",
		 test_local_inv_of_a_free_window_is_loc_qp_op_err},
		{"send_with_inv_revokes_a_type2_window", test_send_with_inv_revokes_a_type2_window},
		{"send_with_inv_of_an_mr_rkey_is_rem_op_err",
		 test_send_with_inv_of_an_mr_rkey_is_rem_op_err},
		{"send_with_inv_of_a_type1_window_is_rem_op_err",
		 test_send_with_inv_of_a_type1_window_is_rem_op_err},
		{"send_with_inv_of_an_invalidated_key_is_rem_op_err",
		 test_send_with_inv_of_an_invalidated_key_is_rem_op_err},
		{"rebound_type2_window_answers_only_its_new_key",
		 test_rebound_type2_window_answers_only_its_new_key},
		{"type1_bind_grants_access_under_the_next_key",
		 test_type1_bind_grants_access_under_the_next_key},
		{"unbound_type1_window_grants_nothing", test_unbound_type1_window_grants_nothing},
		{"type1_rebind_revokes_the_previous_key",
		 test_type1_rebind_revokes_the_previous_key},
		{"type1_zero_length_bind_unbinds", test_type1_zero_length_bind_unbinds},
		{"type1_bind_with_bad_arguments_is_refused_at_post",
		 test_type1_bind_with_bad_arguments_is_refused_at_post},
		{"type1_bind_through_a_qp_of_another_pd_is_mw_bind_err",
		 test_type1_bind_through_a_qp_of_another_pd_is_mw_bind_err},
		{"deallocated_window_grants_nothing", test_deallocated_window_grants_nothing},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_mw", NULL, NULL, t);
}
