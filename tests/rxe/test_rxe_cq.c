// SPDX-License-Identifier: MIT
/*
 * ibv_resize_cq(): a CQ grows and shrinks, reports at least the entries
 * asked for, and never shrinks below the completions it holds (queued, or
 * owed for work already posted), keeping them all.
 */
#include "sodp_test.h"
#include "rxe_test_util.h"

#define NSEND 6

static struct rt_side A, B;

/*
 * A's RC QP points at B's QP, which stays in RESET and drops everything:
 * A's sends stay outstanding until A's QP is moved to the error state.
 */
static int silent_pair_up(void)
{
	struct rt_conn_opts o = *rt_default_opts();

	if (rt_side_init(&A, "srxe0", IBV_QPT_RC, o.access, 4) ||
	    rt_side_init(&B, "srxe1", IBV_QPT_RC, o.access, 4))
		return -1;
	o.timeout = 20; /* 4 s per try, well past the test */
	o.retry_cnt = 0;
	return rt_rc_connect_qp(A.qp, B.qp->qp_num, &B.gid, 1, 1, &o);
}

static void pair_down(void)
{
	rt_side_fini(&A);
	rt_side_fini(&B);
}

#define PAIR_OR_SKIP()                                                            \
	do {                                                                      \
		if (silent_pair_up()) {                                           \
			pair_down();                                              \
			SODP_SKIP("cannot bind UDP 4791 on 127.0.0.1/127.0.0.2"); \
		}                                                                 \
	} while (0)

static void post_sends(int n)
{
	int i;

	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND, 0, 64, 0, 0), 0);
}

static void to_error(struct ibv_qp *qp)
{
	struct ibv_qp_attr at = {.qp_state = IBV_QPS_ERR};

	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at, IBV_QP_STATE), 0);
}

/* Polls exactly @n completions of @status, and then nothing more. */
static void expect_completions(struct ibv_cq *cq, int n, enum ibv_wc_status status)
{
	struct ibv_wc wc;
	int i;

	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL_FATAL(rt_poll(cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, status);
		CU_ASSERT_EQUAL(wc.qp_num, A.qp->qp_num);
	}
	CU_ASSERT_EQUAL(ibv_poll_cq(cq, 1, &wc), 0);
}

static void test_grow_and_shrink_report_at_least_what_was_asked(void)
{
	PAIR_OR_SKIP();
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, 1), 0);
	CU_ASSERT(A.cq->cqe >= 1);
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, 1000), 0);
	CU_ASSERT(A.cq->cqe >= 1000);
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, 7), 0);
	CU_ASSERT(A.cq->cqe >= 7);
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, 0), EINVAL);
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, -1), EINVAL);
	CU_ASSERT(A.cq->cqe >= 7);
	pair_down();
}

/* Completions owed for posted sends count as held, though none arrived yet. */
static void test_shrink_below_owed_completions_is_einval(void)
{
	int cqe;

	PAIR_OR_SKIP();
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, 16), 0);
	post_sends(NSEND);
	cqe = A.cq->cqe;
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, NSEND - 1), EINVAL);
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, 1), EINVAL);
	CU_ASSERT_EQUAL(A.cq->cqe, cqe);
	/* every owed completion still fits and arrives */
	to_error(A.qp);
	expect_completions(A.cq, NSEND, IBV_WC_WR_FLUSH_ERR);
	pair_down();
}

/* Queued completions count too, and a failed shrink keeps them in order. */
static void test_shrink_below_queued_completions_keeps_them(void)
{
	struct ibv_wc wc;
	int i;

	PAIR_OR_SKIP();
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, 16), 0);
	post_sends(NSEND);
	to_error(A.qp);
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, NSEND - 1), EINVAL);
	CU_ASSERT(A.cq->cqe >= 16);
	for (i = 0; i < NSEND; i++) {
		CU_ASSERT_EQUAL_FATAL(rt_poll(A.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_WR_FLUSH_ERR);
		CU_ASSERT_EQUAL(wc.wr_id, IBV_WR_SEND);
	}
	CU_ASSERT_EQUAL(ibv_poll_cq(A.cq, 1, &wc), 0);
	pair_down();
}

/* Exactly as many entries as held is enough; the completions survive the move. */
static void test_shrink_to_what_is_held_moves_the_completions(void)
{
	PAIR_OR_SKIP();
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, 64), 0);
	post_sends(NSEND);
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, NSEND), 0);
	CU_ASSERT(A.cq->cqe >= NSEND);
	to_error(A.qp);
	expect_completions(A.cq, NSEND, IBV_WC_WR_FLUSH_ERR);
	CU_ASSERT_EQUAL(ibv_resize_cq(A.cq, 1), 0);
	pair_down();
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"grow_and_shrink_report_at_least_what_was_asked",
		 test_grow_and_shrink_report_at_least_what_was_asked},
		{"shrink_below_owed_completions_is_einval",
		 test_shrink_below_owed_completions_is_einval},
		{"shrink_below_queued_completions_keeps_them",
		 test_shrink_below_queued_completions_keeps_them},
		{"shrink_to_what_is_held_moves_the_completions",
		 test_shrink_to_what_is_held_moves_the_completions},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_cq", NULL, NULL, t);
}
