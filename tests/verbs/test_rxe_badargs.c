// SPDX-License-Identifier: MIT
/*
 * Bad arguments to the provider-backed verbs get the errno rdma-core
 * documents, never a crash: QP creation limits and the modify_qp state
 * table, posting in the wrong state or with the wrong opcode, MR access
 * rules, CQ/SRQ/AH limits, destroying objects still in use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

#include "sodp_test.h"
#include "verbs_test.h"

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq *cq;
static char buf[65536] __attribute__((aligned(4096)));

static int suite_init(void)
{
	ctx = vt_open_srxe0();
	if (!ctx)
		return 0;
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	return 0;
}

static int suite_fini(void)
{
	vt_close(ctx, pd, cq);
	return 0;
}

/* Every test here needs the device, a PD and a CQ. */
#define NEED_CTX() VT_NEED(ctx != NULL && pd != NULL && cq != NULL)

static struct ibv_qp *mkqp(enum ibv_qp_type t, uint32_t wr, uint32_t sge, uint32_t inl)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = cq;
	ia.recv_cq = cq;
	ia.qp_type = t;
	ia.cap.max_send_wr = wr;
	ia.cap.max_recv_wr = wr;
	ia.cap.max_send_sge = sge;
	ia.cap.max_recv_sge = sge;
	ia.cap.max_inline_data = inl;
	return ibv_create_qp(pd, &ia);
}

static void test_create_qp_beyond_caps_is_einval(void)
{
	struct ibv_device_attr da;

	NEED_CTX();
	CU_ASSERT_EQUAL_FATAL(ibv_query_device(ctx, &da), 0);
	errno = 0;
	CU_ASSERT_PTR_NULL(mkqp(IBV_QPT_RC, da.max_qp_wr + 1, 1, 0));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(mkqp(IBV_QPT_RC, 4, da.max_sge + 1, 0));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(mkqp(IBV_QPT_RC, 4, 1, 1 << 20));
	CU_ASSERT_EQUAL(errno, EINVAL);
}

static void test_modify_qp_invalid_transitions_are_einval(void)
{
	struct ibv_qp_attr at;
	struct ibv_qp *qp;

	NEED_CTX();
	qp = mkqp(IBV_QPT_RC, 4, 1, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	memset(&at, 0, sizeof(at));
	/* RESET -> RTR skips INIT */
	at.qp_state = IBV_QPS_RTR;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at, IBV_QP_STATE), EINVAL);
	/* RESET -> INIT without the required attributes */
	at.qp_state = IBV_QPS_INIT;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at, IBV_QP_STATE), EINVAL);
	/* an attribute the transition does not allow (RQ PSN at INIT) */
	at.port_num = 1;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at,
				      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
					      IBV_QP_ACCESS_FLAGS | IBV_QP_RQ_PSN),
			EINVAL);
	/* bad port */
	at.port_num = 2;
	CU_ASSERT_EQUAL(
		ibv_modify_qp(qp, &at,
			      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS),
		EINVAL);
	at.port_num = 1;
	CU_ASSERT_EQUAL(
		ibv_modify_qp(qp, &at,
			      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS),
		0);
	/* INIT -> RTR needs the AV, MTU, QPN, PSN, rd_atomic and RNR timer */
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = IBV_MTU_1024;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_PATH_MTU), EINVAL);
	/* a non-global AH on RoCE, a bad MTU, a too large QPN */
	at.dest_qp_num = 0x12;
	at.ah_attr.port_num = 1;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at,
				      IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
					      IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
					      IBV_QP_MIN_RNR_TIMER),
			EINVAL);
	at.ah_attr.is_global = 1;
	at.ah_attr.grh.dgid.raw[10] = 0xff;
	at.ah_attr.grh.dgid.raw[11] = 0xff;
	at.ah_attr.grh.dgid.raw[12] = 127;
	at.ah_attr.grh.dgid.raw[15] = 2;
	at.path_mtu = 9;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at,
				      IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
					      IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
					      IBV_QP_MIN_RNR_TIMER),
			EINVAL);
	at.path_mtu = IBV_MTU_1024;
	at.dest_qp_num = 1 << 24;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at,
				      IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
					      IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
					      IBV_QP_MIN_RNR_TIMER),
			EINVAL);
	at.dest_qp_num = 0x12;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at,
				      IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
					      IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
					      IBV_QP_MIN_RNR_TIMER),
			0);
	/* RTR -> RTS: retry_cnt is 3 bits */
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	at.retry_cnt = 8;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at,
				      IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
					      IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
					      IBV_QP_MAX_QP_RD_ATOMIC),
			EINVAL);
	/* wrong current state */
	at.retry_cnt = 7;
	at.cur_qp_state = IBV_QPS_INIT;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at,
				      IBV_QP_STATE | IBV_QP_CUR_STATE | IBV_QP_TIMEOUT |
					      IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
					      IBV_QP_MAX_QP_RD_ATOMIC),
			EINVAL);
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at,
				      IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
					      IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
					      IBV_QP_MAX_QP_RD_ATOMIC),
			0);
	{
		struct ibv_qp_init_attr init;

		CU_ASSERT_EQUAL(ibv_query_qp(qp, &at, IBV_QP_STATE, &init), 0);
		CU_ASSERT_EQUAL(at.qp_state, IBV_QPS_RTS);
		CU_ASSERT_EQUAL(at.dest_qp_num, 0x12);
		CU_ASSERT_EQUAL(init.qp_type, IBV_QPT_RC);
	}
	/* any state -> ERR -> RESET */
	at.qp_state = IBV_QPS_ERR;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at, IBV_QP_STATE), 0);
	at.qp_state = IBV_QPS_RTS;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at, IBV_QP_STATE), EINVAL);
	at.qp_state = IBV_QPS_RESET;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at, IBV_QP_STATE), 0);
	CU_ASSERT_EQUAL(ibv_destroy_qp(qp), 0);
}

static void test_post_in_reset_and_bad_opcode_are_einval(void)
{
	struct ibv_sge sge = {(uintptr_t)buf, 16, 0};
	struct ibv_send_wr wr, *bad = NULL;
	struct ibv_recv_wr rwr = {.sg_list = &sge, .num_sge = 1}, *rbad = NULL;
	struct ibv_qp_attr at;
	struct ibv_qp *qp;

	NEED_CTX();
	qp = mkqp(IBV_QPT_UD, 4, 1, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	CU_ASSERT_EQUAL(ibv_post_send(qp, &wr, &bad), EINVAL);
	CU_ASSERT_PTR_EQUAL(bad, &wr);
	CU_ASSERT_EQUAL(ibv_post_recv(qp, &rwr, &rbad), EINVAL);
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	at.qkey = 0x1234;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at,
				      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY),
			0);
	at.qp_state = IBV_QPS_RTR;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at, IBV_QP_STATE), 0);
	at.qp_state = IBV_QPS_RTS;
	CU_ASSERT_EQUAL(ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_SQ_PSN), 0);
	/* UD cannot RDMA WRITE; a UD send needs an AH; too many SGEs */
	wr.opcode = IBV_WR_RDMA_WRITE;
	CU_ASSERT_EQUAL(ibv_post_send(qp, &wr, &bad), EINVAL);
	wr.opcode = IBV_WR_SEND;
	CU_ASSERT_EQUAL(ibv_post_send(qp, &wr, &bad), EINVAL);
	wr.num_sge = 5;
	CU_ASSERT_EQUAL(ibv_post_send(qp, &wr, &bad), EINVAL);
	rwr.num_sge = 5;
	CU_ASSERT_EQUAL(ibv_post_recv(qp, &rwr, &rbad), EINVAL);
	CU_ASSERT_EQUAL(ibv_destroy_qp(qp), 0);
}

static void test_send_queue_full_is_enomem(void)
{
	struct ibv_qp *qp;
	struct ibv_recv_wr rwr[3], *rbad;
	struct ibv_sge sge = {(uintptr_t)buf, 16, 0};
	struct ibv_qp_attr at;
	int i;

	NEED_CTX();
	qp = mkqp(IBV_QPT_RC, 2, 1, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	CU_ASSERT_EQUAL(
		ibv_modify_qp(qp, &at,
			      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS),
		0);
	for (i = 0; i < 3; i++) {
		memset(&rwr[i], 0, sizeof(rwr[i]));
		rwr[i].sg_list = &sge;
		rwr[i].num_sge = 1;
		rwr[i].next = i < 2 ? &rwr[i + 1] : NULL;
	}
	CU_ASSERT_EQUAL(ibv_post_recv(qp, rwr, &rbad), ENOMEM);
	CU_ASSERT_PTR_EQUAL(rbad, &rwr[2]);
	CU_ASSERT_EQUAL(ibv_destroy_qp(qp), 0);
}

static void test_mr_access_rules(void)
{
	struct ibv_mr *mr;

	NEED_CTX();
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_REMOTE_WRITE));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_REMOTE_ATOMIC));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_reg_mr(pd, buf, 0, IBV_ACCESS_LOCAL_WRITE));
	CU_ASSERT_EQUAL(errno, EINVAL);
	/* an address with nothing mapped behind it */
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_reg_mr(pd, (void *)0x1000, 4096, IBV_ACCESS_LOCAL_WRITE));
	CU_ASSERT_EQUAL(errno, EFAULT);
	/* optional bits are accepted and ignored */
	mr = ibv_reg_mr(pd, buf, sizeof(buf),
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
				IBV_ACCESS_RELAXED_ORDERING);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(mr->lkey, mr->rkey);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
}

static void test_cq_srq_ah_limits(void)
{
	struct ibv_srq_init_attr sa = {.attr = {.max_wr = 1 << 30, .max_sge = 1}};
	struct ibv_srq_attr sat;
	struct ibv_ah_attr aa;
	struct ibv_srq *srq;
	struct ibv_qp_init_attr ia;
	struct ibv_qp *qp;
	struct ibv_cq *c2;

	NEED_CTX();
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_create_cq(ctx, 0, NULL, NULL, 0));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_create_srq(pd, &sa));
	CU_ASSERT_EQUAL(errno, EINVAL);
	sa.attr.max_wr = 8;
	sa.attr.srq_limit = 9;
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_create_srq(pd, &sa));
	CU_ASSERT_EQUAL(errno, EINVAL);
	sa.attr.srq_limit = 0;
	srq = ibv_create_srq(pd, &sa);
	CU_ASSERT_PTR_NOT_NULL_FATAL(srq);
	sat.srq_limit = 100;
	CU_ASSERT_EQUAL(ibv_modify_srq(srq, &sat, IBV_SRQ_LIMIT), EINVAL);
	/* a CQ and an SRQ in use cannot be destroyed */
	c2 = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = c2;
	ia.recv_cq = c2;
	ia.srq = srq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 1;
	ia.cap.max_send_sge = 1;
	qp = ibv_create_qp(pd, &ia);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	CU_ASSERT_EQUAL(ibv_destroy_cq(c2), EBUSY);
	CU_ASSERT_EQUAL(ibv_destroy_srq(srq), EBUSY);
	CU_ASSERT_EQUAL(ibv_destroy_qp(qp), 0);
	CU_ASSERT_EQUAL(ibv_destroy_srq(srq), 0);
	CU_ASSERT_EQUAL(ibv_resize_cq(c2, 64), 0);
	CU_ASSERT_EQUAL(ibv_destroy_cq(c2), 0);
	/* RoCE AHs need a GRH; an IPv6 GID cannot reach an IPv4 device */
	memset(&aa, 0, sizeof(aa));
	aa.port_num = 1;
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_create_ah(pd, &aa));
	CU_ASSERT(errno == EINVAL);
	aa.is_global = 1;
	aa.grh.dgid.raw[0] = 0xfe;
	aa.grh.dgid.raw[1] = 0x80;
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_create_ah(pd, &aa));
	CU_ASSERT(errno == EINVAL);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"create_qp_beyond_caps_is_einval", test_create_qp_beyond_caps_is_einval},
		{"modify_qp_invalid_transitions_are_einval",
		 test_modify_qp_invalid_transitions_are_einval},
		{"post_in_reset_and_bad_opcode_are_einval",
		 test_post_in_reset_and_bad_opcode_are_einval},
		{"send_queue_full_is_enomem", test_send_queue_full_is_enomem},
		{"mr_access_rules", test_mr_access_rules},
		{"cq_srq_ah_limits", test_cq_srq_ah_limits},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_badargs", suite_init, suite_fini, t);
}
