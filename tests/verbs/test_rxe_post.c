// SPDX-License-Identifier: MIT
/*
 * What ibv_post_send(), ibv_post_recv(), ibv_post_srq_recv() and the
 * ibv_wr_* calls refuse before anything reaches the wire: a message longer
 * than the port's max_msg_sz however its scatter list adds up, and scatter
 * lists, inline data or a bad_wr pointer the caller did not provide. Each
 * is EINVAL with *bad_wr at the WR, never a crash. The QPs are connected to a QPN nobody serves; nothing
 * these tests post is meant to be sent.
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
static struct ibv_port_attr port;

static int suite_init(void)
{
	ctx = vt_open_srxe0();
	if (!ctx)
		return 0;
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	if (ibv_query_port(ctx, 1, &port))
		port.max_msg_sz = 0;
	return 0;
}

static int suite_fini(void)
{
	vt_close(ctx, pd, cq);
	return 0;
}

/* An RC QP in RTS towards QPN 0x123 at 127.0.0.2, with send_ops for ibv_wr_*. */
static struct ibv_qp *rc_qp(void)
{
	struct ibv_qp_init_attr_ex ia;
	struct ibv_qp_attr at;
	struct ibv_qp *qp;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = cq;
	ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 16;
	ia.cap.max_recv_wr = 16;
	ia.cap.max_send_sge = 4;
	ia.cap.max_recv_sge = 4;
	ia.cap.max_inline_data = 64;
	ia.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	ia.pd = pd;
	ia.send_ops_flags =
		IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_RDMA_READ | IBV_QP_EX_WITH_RDMA_WRITE;
	qp = ibv_create_qp_ex(ctx, &ia);
	if (!qp)
		return NULL;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	at.qp_access_flags = IBV_ACCESS_LOCAL_WRITE;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		goto err;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = IBV_MTU_1024;
	at.dest_qp_num = 0x123;
	at.max_dest_rd_atomic = 1;
	at.ah_attr.is_global = 1;
	at.ah_attr.grh.dgid.raw[10] = at.ah_attr.grh.dgid.raw[11] = 0xff;
	at.ah_attr.grh.dgid.raw[12] = 127;
	at.ah_attr.grh.dgid.raw[15] = 2;
	at.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		goto err;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	at.timeout = 14;
	at.max_rd_atomic = 1;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				  IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
		goto err;
	return qp;
err:
	ibv_destroy_qp(qp);
	return NULL;
}

#define QP_OR_SKIP(qp)                                                                 \
	do {                                                                           \
		if (!ctx || !pd || !cq || !((qp) = rc_qp()))                           \
			SODP_SKIP("cannot start srxe0 (UDP 4791 on 127.0.0.1 busy?)"); \
	} while (0)

/* Posts one WR of @op over @n scatter elements of @len bytes each. */
static int post_sges(struct ibv_qp *qp, enum ibv_wr_opcode op, int n, uint32_t len,
		     struct ibv_send_wr **bad)
{
	static struct ibv_send_wr wr;
	struct ibv_sge sge[4];
	int i;

	for (i = 0; i < n; i++) {
		sge[i].addr = 0x10000000ULL * (i + 1);
		sge[i].length = len;
		sge[i].lkey = 0x1234;
	}
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = sge;
	wr.num_sge = n;
	wr.opcode = op;
	wr.wr.rdma.remote_addr = 0x10000;
	wr.wr.rdma.rkey = 0x5678;
	*bad = NULL;
	return ibv_post_send(qp, &wr, bad) == 0 ? 0 : (*bad == &wr ? -1 : -2);
}

/* ---- message length ---- */

static void test_sges_adding_up_past_max_msg_sz_are_einval(void)
{
	struct ibv_send_wr *bad;
	struct ibv_qp *qp;

	QP_OR_SKIP(qp);
	CU_ASSERT_EQUAL(port.max_msg_sz, 1U << 31);
	/* 2 x 2^31 is 0 in 32 bits; 3 x 0x60000000 is 0x20000000 */
	CU_ASSERT_EQUAL(post_sges(qp, IBV_WR_RDMA_READ, 2, 1U << 31, &bad), -1);
	CU_ASSERT_EQUAL(post_sges(qp, IBV_WR_SEND, 3, 0x60000000, &bad), -1);
	CU_ASSERT_EQUAL(post_sges(qp, IBV_WR_RDMA_WRITE, 1, (1U << 31) + 1, &bad), -1);
	ibv_destroy_qp(qp);
}

static void test_sges_adding_up_to_max_msg_sz_are_posted(void)
{
	struct ibv_send_wr *bad;
	struct ibv_qp *qp;

	QP_OR_SKIP(qp);
	CU_ASSERT_EQUAL(post_sges(qp, IBV_WR_RDMA_WRITE, 2, 1U << 30, &bad), 0);
	ibv_destroy_qp(qp);
}

static void test_wr_sge_list_adding_up_past_max_msg_sz_is_einval(void)
{
	struct ibv_sge sge[2] = {{0x10000000, 1U << 31, 0x1234}, {0x20000000, 1U << 31, 0x1234}};
	struct ibv_qp_ex *qx;
	struct ibv_qp *qp;

	QP_OR_SKIP(qp);
	qx = ibv_qp_to_qp_ex(qp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qx);
	ibv_wr_start(qx);
	ibv_wr_rdma_read(qx, 0x5678, 0x10000);
	ibv_wr_set_sge_list(qx, 2, sge);
	CU_ASSERT_EQUAL(ibv_wr_complete(qx), EINVAL);
	ibv_destroy_qp(qp);
}

/* ---- what the caller did not provide ---- */

static void test_a_null_sg_list_with_sges_is_einval(void)
{
	struct ibv_send_wr wr, *bad;
	struct ibv_qp *qp;

	QP_OR_SKIP(qp);
	memset(&wr, 0, sizeof(wr));
	wr.opcode = IBV_WR_SEND;
	wr.num_sge = 2;
	wr.sg_list = NULL;
	bad = NULL;
	CU_ASSERT_EQUAL(ibv_post_send(qp, &wr, &bad), EINVAL);
	CU_ASSERT_PTR_EQUAL(bad, &wr);
	wr.send_flags = IBV_SEND_INLINE;
	bad = NULL;
	CU_ASSERT_EQUAL(ibv_post_send(qp, &wr, &bad), EINVAL);
	CU_ASSERT_PTR_EQUAL(bad, &wr);
	ibv_destroy_qp(qp);
}

static void test_inline_data_from_address_zero_is_einval(void)
{
	struct ibv_sge sge = {0, 16, 0};
	struct ibv_send_wr wr, *bad;
	struct ibv_qp *qp;

	QP_OR_SKIP(qp);
	memset(&wr, 0, sizeof(wr));
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_INLINE;
	wr.num_sge = 1;
	wr.sg_list = &sge;
	bad = NULL;
	CU_ASSERT_EQUAL(ibv_post_send(qp, &wr, &bad), EINVAL);
	CU_ASSERT_PTR_EQUAL(bad, &wr);
	/* and across the end of the address space */
	sge.addr = UINT64_MAX - 7;
	bad = NULL;
	CU_ASSERT_EQUAL(ibv_post_send(qp, &wr, &bad), EINVAL);
	CU_ASSERT_PTR_EQUAL(bad, &wr);
	ibv_destroy_qp(qp);
}

static void test_a_null_recv_sg_list_with_sges_is_einval(void)
{
	struct ibv_srq_init_attr sa = {.attr = {.max_wr = 4, .max_sge = 2}};
	struct ibv_recv_wr wr, *bad;
	struct ibv_srq *srq;
	struct ibv_qp *qp;

	QP_OR_SKIP(qp);
	memset(&wr, 0, sizeof(wr));
	wr.num_sge = 2;
	bad = NULL;
	CU_ASSERT_EQUAL(ibv_post_recv(qp, &wr, &bad), EINVAL);
	CU_ASSERT_PTR_EQUAL(bad, &wr);
	srq = ibv_create_srq(pd, &sa);
	CU_ASSERT_PTR_NOT_NULL_FATAL(srq);
	bad = NULL;
	CU_ASSERT_EQUAL(ibv_post_srq_recv(srq, &wr, &bad), EINVAL);
	CU_ASSERT_PTR_EQUAL(bad, &wr);
	ibv_destroy_srq(srq);
	ibv_destroy_qp(qp);
}

static void test_posting_without_a_bad_wr_pointer_is_einval(void)
{
	struct ibv_sge sge = {0x10000, 64, 0x1234};
	struct ibv_send_wr swr = {.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND};
	struct ibv_recv_wr rwr = {.sg_list = &sge, .num_sge = 1};
	struct ibv_qp *qp;

	QP_OR_SKIP(qp);
	CU_ASSERT_EQUAL(ibv_post_send(qp, &swr, NULL), EINVAL);
	CU_ASSERT_EQUAL(ibv_post_recv(qp, &rwr, NULL), EINVAL);
	ibv_destroy_qp(qp);
}

static void test_wr_null_sge_or_inline_lists_are_einval(void)
{
	struct ibv_qp_ex *qx;
	struct ibv_qp *qp;

	QP_OR_SKIP(qp);
	qx = ibv_qp_to_qp_ex(qp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qx);
	ibv_wr_start(qx);
	ibv_wr_send(qx);
	ibv_wr_set_sge_list(qx, 2, NULL);
	CU_ASSERT_EQUAL(ibv_wr_complete(qx), EINVAL);
	ibv_wr_start(qx);
	ibv_wr_send(qx);
	ibv_wr_set_inline_data_list(qx, 2, NULL);
	CU_ASSERT_EQUAL(ibv_wr_complete(qx), EINVAL);
	ibv_wr_start(qx);
	ibv_wr_send(qx);
	ibv_wr_set_inline_data(qx, NULL, 16);
	CU_ASSERT_EQUAL(ibv_wr_complete(qx), EINVAL);
	ibv_destroy_qp(qp);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"sges_adding_up_past_max_msg_sz_are_einval",
		 test_sges_adding_up_past_max_msg_sz_are_einval},
		{"sges_adding_up_to_max_msg_sz_are_posted",
		 test_sges_adding_up_to_max_msg_sz_are_posted},
		{"wr_sge_list_adding_up_past_max_msg_sz_is_einval",
		 test_wr_sge_list_adding_up_past_max_msg_sz_is_einval},
		{"a_null_sg_list_with_sges_is_einval", test_a_null_sg_list_with_sges_is_einval},
		{"inline_data_from_address_zero_is_einval",
		 test_inline_data_from_address_zero_is_einval},
		{"a_null_recv_sg_list_with_sges_is_einval",
		 test_a_null_recv_sg_list_with_sges_is_einval},
		{"posting_without_a_bad_wr_pointer_is_einval",
		 test_posting_without_a_bad_wr_pointer_is_einval},
		{"wr_null_sge_or_inline_lists_are_einval",
		 test_wr_null_sge_or_inline_lists_are_einval},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_post", suite_init, suite_fini, t);
}
