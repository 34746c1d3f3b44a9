// SPDX-License-Identifier: MIT
/*
 * ibv_create_qp_ex() with IBV_QP_INIT_ATTR_CREATE_FLAGS: create_flags 0
 * creates an RC, UC or UD QP as if the bit were absent, and ibv_query_qp()
 * reports what was created; a create flag softodp does not support fails
 * with EOPNOTSUPP and leaves nothing behind.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

#include "sodp_test.h"
#include "verbs_test.h"

static struct ibv_context *ctx;

static int suite_init(void)
{
	ctx = vt_open_srxe0();
	return 0;
}

static int suite_fini(void)
{
	vt_close(ctx, NULL, NULL);
	return 0;
}

#define NEED_CTX() VT_NEED(ctx)

static void init_attr(struct ibv_qp_init_attr_ex *a, enum ibv_qp_type t, struct ibv_pd *pd,
		      struct ibv_cq *scq, struct ibv_cq *rcq)
{
	memset(a, 0, sizeof(*a));
	a->qp_type = t;
	a->send_cq = scq;
	a->recv_cq = rcq;
	a->cap.max_send_wr = 7;
	a->cap.max_recv_wr = 5;
	a->cap.max_send_sge = 3;
	a->cap.max_recv_sge = 2;
	a->cap.max_inline_data = 64;
	a->sq_sig_all = 1;
	a->qp_context = a;
	a->comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_CREATE_FLAGS;
	a->create_flags = 0;
	a->pd = pd;
}

static void create_and_query(enum ibv_qp_type t)
{
	struct ibv_qp_init_attr_ex a;
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr qa;
	struct ibv_pd *pd;
	struct ibv_cq *scq, *rcq;
	struct ibv_qp *qp;

	NEED_CTX();
	pd = ibv_alloc_pd(ctx);
	scq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	rcq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(scq);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rcq);
	init_attr(&a, t, pd, scq, rcq);
	qp = ibv_create_qp_ex(ctx, &a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	CU_ASSERT_EQUAL(qp->qp_type, t);
	CU_ASSERT_PTR_EQUAL(qp->pd, pd);
	CU_ASSERT_PTR_EQUAL(qp->qp_context, &a);
	CU_ASSERT_EQUAL(qp->state, IBV_QPS_RESET);

	memset(&init, 0xa5, sizeof(init));
	CU_ASSERT_EQUAL_FATAL(ibv_query_qp(qp, &qa, IBV_QP_STATE | IBV_QP_CAP, &init), 0);
	CU_ASSERT_EQUAL(qa.qp_state, IBV_QPS_RESET);
	CU_ASSERT_EQUAL(init.qp_type, t);
	CU_ASSERT_PTR_EQUAL(init.send_cq, scq);
	CU_ASSERT_PTR_EQUAL(init.recv_cq, rcq);
	CU_ASSERT_PTR_NULL(init.srq);
	CU_ASSERT_PTR_EQUAL(init.qp_context, &a);
	CU_ASSERT_EQUAL(init.sq_sig_all, 1);
	/* at least what was asked, and what the create returned */
	CU_ASSERT(init.cap.max_send_wr >= 7);
	CU_ASSERT(init.cap.max_recv_wr >= 5);
	CU_ASSERT(init.cap.max_send_sge >= 3);
	CU_ASSERT(init.cap.max_recv_sge >= 2);
	CU_ASSERT(init.cap.max_inline_data >= 64);
	CU_ASSERT_EQUAL(init.cap.max_send_wr, a.cap.max_send_wr);
	CU_ASSERT_EQUAL(init.cap.max_recv_wr, a.cap.max_recv_wr);
	CU_ASSERT_EQUAL(init.cap.max_inline_data, a.cap.max_inline_data);
	CU_ASSERT_EQUAL(memcmp(&qa.cap, &init.cap, sizeof(init.cap)), 0);

	CU_ASSERT_EQUAL(ibv_destroy_qp(qp), 0);
	CU_ASSERT_EQUAL(ibv_destroy_cq(scq), 0);
	CU_ASSERT_EQUAL(ibv_destroy_cq(rcq), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(pd), 0);
}

static void test_rc_with_create_flags_zero(void)
{
	create_and_query(IBV_QPT_RC);
}

static void test_uc_with_create_flags_zero(void)
{
	create_and_query(IBV_QPT_UC);
}

static void test_ud_with_create_flags_zero(void)
{
	create_and_query(IBV_QPT_UD);
}

/* With the extended post API too: both optional masks at once. */
static void test_create_flags_zero_with_send_ops(void)
{
	struct ibv_qp_init_attr_ex a;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;

	NEED_CTX();
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cq);
	init_attr(&a, IBV_QPT_RC, pd, cq, cq);
	a.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	a.send_ops_flags = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_RDMA_WRITE;
	qp = ibv_create_qp_ex(ctx, &a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	CU_ASSERT_PTR_NOT_NULL(ibv_qp_to_qp_ex(qp));
	CU_ASSERT_EQUAL(ibv_destroy_qp(qp), 0);
	CU_ASSERT_EQUAL(ibv_destroy_cq(cq), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(pd), 0);
}

/*
 * Every create flag is refused (softodp supports none), for every QP type,
 * without a trace: the PD and CQs it named can go at once.
 */
static void test_unsupported_create_flags_are_refused_without_side_effects(void)
{
	static const uint32_t flags[] = {
		IBV_QP_CREATE_BLOCK_SELF_MCAST_LB,   IBV_QP_CREATE_SCATTER_FCS,
		IBV_QP_CREATE_CVLAN_STRIPPING,	     IBV_QP_CREATE_SOURCE_QPN,
		IBV_QP_CREATE_PCI_WRITE_END_PADDING, 1u << 20,
	};
	static const enum ibv_qp_type types[] = {IBV_QPT_RC, IBV_QPT_UC, IBV_QPT_UD};
	struct ibv_qp_init_attr_ex a;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	size_t i, j;

	NEED_CTX();
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cq);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		for (j = 0; j < sizeof(flags) / sizeof(flags[0]); j++) {
			init_attr(&a, types[i], pd, cq, cq);
			a.create_flags = flags[j];
			a.source_qpn = 0x100;
			errno = 0;
			CU_ASSERT_PTR_NULL(ibv_create_qp_ex(ctx, &a));
			CU_ASSERT(errno == EOPNOTSUPP || errno == EINVAL);
		}
	}
	CU_ASSERT_EQUAL(ibv_destroy_cq(cq), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(pd), 0);
}

/*
 * rdma-core's ODP tests put IBV_ACCESS_ON_DEMAND in a QP's access flags, as
 * kernel providers accept: it is taken (a QP's access has no ODP of its
 * own) and reported back; a flag no verbs version defines is refused.
 */
static void test_modify_qp_takes_on_demand_in_access_flags(void)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr qa;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_qp_init_attr_ex a;
	unsigned int access =
		IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_ON_DEMAND;

	NEED_CTX();
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cq);
	init_attr(&a, IBV_QPT_RC, pd, cq, cq);
	qp = ibv_create_qp_ex(ctx, &a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	memset(&qa, 0, sizeof(qa));
	qa.qp_state = IBV_QPS_INIT;
	qa.port_num = 1;
	qa.qp_access_flags = 1u << 30;
	CU_ASSERT_EQUAL(
		ibv_modify_qp(qp, &qa,
			      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS),
		EINVAL);
	qa.qp_access_flags = access;
	CU_ASSERT_EQUAL(
		ibv_modify_qp(qp, &qa,
			      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS),
		0);
	CU_ASSERT_EQUAL(ibv_query_qp(qp, &qa, IBV_QP_ACCESS_FLAGS, &init), 0);
	CU_ASSERT_EQUAL(qa.qp_access_flags, access);
	CU_ASSERT_EQUAL(ibv_destroy_qp(qp), 0);
	CU_ASSERT_EQUAL(ibv_destroy_cq(cq), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(pd), 0);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"rc_with_create_flags_zero", test_rc_with_create_flags_zero},
		{"uc_with_create_flags_zero", test_uc_with_create_flags_zero},
		{"ud_with_create_flags_zero", test_ud_with_create_flags_zero},
		{"create_flags_zero_with_send_ops", test_create_flags_zero_with_send_ops},
		{"unsupported_create_flags_are_refused_without_side_effects",
		 test_unsupported_create_flags_are_refused_without_side_effects},
		{"modify_qp_takes_on_demand_in_access_flags",
		 test_modify_qp_takes_on_demand_in_access_flags},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_qp_create", suite_init, suite_fini, t);
}
