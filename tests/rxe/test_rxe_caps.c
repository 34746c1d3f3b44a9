// SPDX-License-Identifier: MIT
/*
 * What ibv_query_device_ex() reports is what the device does: the extended
 * attributes agree with ibv_query_device(), every capability reported works,
 * and every feature reported absent is refused by its verb with EOPNOTSUPP.
 */
#include <fcntl.h>
#include <stdbool.h>

#include "sodp_test.h"
#include "rxe_test_util.h"

#define QKEY_GOOD 0x11111111
#define QKEY_BAD  0x22222222

static struct ibv_context *ctx;

static int suite_init(void)
{
	ctx = rt_open("srxe0");
	return 0;
}

static int suite_fini(void)
{
	if (ctx)
		ibv_close_device(ctx);
	ctx = NULL;
	return 0;
}

#define NEED_CTX()                                                                    \
	do {                                                                          \
		if (!ctx)                                                             \
			SODP_SKIP("cannot open srxe0 (UDP 4791 on 127.0.0.1 busy?)"); \
	} while (0)

static void query_both(struct ibv_device_attr *attr, struct ibv_device_attr_ex *ex)
{
	memset(attr, 0xa5, sizeof(*attr));
	memset(ex, 0xa5, sizeof(*ex));
	CU_ASSERT_EQUAL_FATAL(ibv_query_device(ctx, attr), 0);
	CU_ASSERT_EQUAL_FATAL(ibv_query_device_ex(ctx, NULL, ex), 0);
}

static void test_port_count_ex_equals_port_count(void)
{
	struct ibv_device_attr attr;
	struct ibv_device_attr_ex ex;

	NEED_CTX();
	query_both(&attr, &ex);
	CU_ASSERT_EQUAL(attr.phys_port_cnt, 1);
	CU_ASSERT_EQUAL(ex.phys_port_cnt_ex, attr.phys_port_cnt);
}

static void test_orig_attr_equals_query_device(void)
{
	struct ibv_device_attr attr;
	struct ibv_device_attr_ex ex;

	NEED_CTX();
	query_both(&attr, &ex);
	CU_ASSERT_EQUAL(memcmp(&ex.orig_attr, &attr, sizeof(attr)), 0);
}

/* The low 32 bits of device_cap_flags_ex are device_cap_flags (IBV_DEVICE_*). */
static void test_cap_flags_ex_extend_cap_flags(void)
{
	struct ibv_device_attr attr;
	struct ibv_device_attr_ex ex;

	NEED_CTX();
	query_both(&attr, &ex);
	CU_ASSERT_EQUAL((uint32_t)ex.device_cap_flags_ex, (uint32_t)attr.device_cap_flags);
}

static struct ibv_qp *ud_qp(struct ibv_pd *pd, struct ibv_cq *cq)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = cq;
	ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_UD;
	ia.cap.max_send_wr = 4;
	ia.cap.max_recv_wr = 4;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	return ibv_create_qp(pd, &ia);
}

/* Multicast limits are reported exactly when a UD QP can attach to a group. */
static void test_multicast_limits_match_attach(void)
{
	union ibv_gid mgid = {.raw = {0xff, 0x0e, [15] = 1}};
	struct ibv_device_attr attr;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	int ret;

	NEED_CTX();
	CU_ASSERT_EQUAL_FATAL(ibv_query_device(ctx, &attr), 0);
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cq);
	qp = ud_qp(pd, cq);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	ret = ibv_attach_mcast(qp, &mgid, 0);
	if (attr.max_mcast_grp > 0) {
		CU_ASSERT_EQUAL(ret, 0);
		CU_ASSERT(attr.max_mcast_qp_attach > 0);
		CU_ASSERT_EQUAL(ibv_detach_mcast(qp, &mgid, 0), 0);
	} else {
		CU_ASSERT_EQUAL(ret, EOPNOTSUPP);
		CU_ASSERT_EQUAL(attr.max_mcast_qp_attach, 0);
		CU_ASSERT_EQUAL(attr.max_total_mcast_qp_attach, 0);
	}
	CU_ASSERT_EQUAL(ibv_destroy_qp(qp), 0);
	CU_ASSERT_EQUAL(ibv_destroy_cq(cq), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(pd), 0);
}

/* Completion timestamps: a CQ asks for them only if the device has a clock. */
static void test_completion_timestamps_refused_without_clock(void)
{
	struct ibv_cq_init_attr_ex ca = {
		.cqe = 4,
		.wc_flags = IBV_WC_STANDARD_FLAGS | IBV_WC_EX_WITH_COMPLETION_TIMESTAMP,
	};
	struct ibv_device_attr_ex ex;
	struct ibv_cq_ex *cq;

	NEED_CTX();
	CU_ASSERT_EQUAL_FATAL(ibv_query_device_ex(ctx, NULL, &ex), 0);
	errno = 0;
	cq = ibv_create_cq_ex(ctx, &ca);
	if (ex.completion_timestamp_mask) {
		CU_ASSERT(ex.hca_core_clock > 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(cq);
		CU_ASSERT_EQUAL(ibv_destroy_cq(ibv_cq_ex_to_cq(cq)), 0);
		return;
	}
	CU_ASSERT_EQUAL(ex.hca_core_clock, 0);
	CU_ASSERT_PTR_NULL(cq);
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);
	ca.wc_flags = IBV_WC_STANDARD_FLAGS | IBV_WC_EX_WITH_COMPLETION_TIMESTAMP_WALLCLOCK;
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_create_cq_ex(ctx, &ca));
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);
}

/* Each extended-only feature reported as absent is refused by its verb. */
static void test_absent_features_are_refused(void)
{
	struct ibv_alloc_dm_attr dma = {.length = 64};
	struct ibv_modify_cq_attr mca = {.attr_mask = IBV_CQ_ATTR_MODERATE,
					 .moderate = {.cq_count = 1, .cq_period = 1}};
	struct ibv_xrcd_init_attr xa = {.comp_mask =
						IBV_XRCD_INIT_ATTR_FD | IBV_XRCD_INIT_ATTR_OFLAGS,
					.fd = -1,
					.oflags = O_CREAT};
	struct ibv_device_attr_ex ex;
	struct ibv_qp_init_attr_ex qa;
	struct ibv_srq_init_attr_ex sa;
	struct ibv_wq_init_attr wa;
	struct ibv_pd *pd;
	struct ibv_cq *cq;

	NEED_CTX();
	CU_ASSERT_EQUAL_FATAL(ibv_query_device_ex(ctx, NULL, &ex), 0);
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cq);

	CU_ASSERT_EQUAL(ex.max_dm_size, 0);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_alloc_dm(ctx, &dma));
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);

	CU_ASSERT_EQUAL(ex.cq_mod_caps.max_cq_count, 0);
	CU_ASSERT_EQUAL(ex.cq_mod_caps.max_cq_period, 0);
	CU_ASSERT_EQUAL(ibv_modify_cq(cq, &mca), EOPNOTSUPP);

	CU_ASSERT_EQUAL(ex.raw_packet_caps, 0);
	CU_ASSERT_EQUAL(ex.tso_caps.max_tso, 0);
	memset(&qa, 0, sizeof(qa));
	qa.qp_type = IBV_QPT_RAW_PACKET;
	qa.send_cq = cq;
	qa.recv_cq = cq;
	qa.cap.max_send_wr = 1;
	qa.cap.max_send_sge = 1;
	qa.comp_mask = IBV_QP_INIT_ATTR_PD;
	qa.pd = pd;
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_create_qp_ex(ctx, &qa));
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);
	qa.qp_type = IBV_QPT_UD;
	qa.comp_mask |= IBV_QP_INIT_ATTR_MAX_TSO_HEADER;
	qa.max_tso_header = 64;
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_create_qp_ex(ctx, &qa));
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);

	CU_ASSERT_EQUAL(ex.tm_caps.max_num_tags, 0);
	memset(&sa, 0, sizeof(sa));
	sa.attr.max_wr = 4;
	sa.attr.max_sge = 1;
	sa.comp_mask = IBV_SRQ_INIT_ATTR_TYPE | IBV_SRQ_INIT_ATTR_PD | IBV_SRQ_INIT_ATTR_CQ |
		       IBV_SRQ_INIT_ATTR_TM;
	sa.srq_type = IBV_SRQT_TM;
	sa.pd = pd;
	sa.cq = cq;
	sa.tm_cap.max_num_tags = 1;
	sa.tm_cap.max_ops = 1;
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_create_srq_ex(ctx, &sa));
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);

	CU_ASSERT_EQUAL(ex.xrc_odp_caps, 0);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_open_xrcd(ctx, &xa));
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);

	CU_ASSERT_EQUAL(ex.max_wq_type_rq, 0);
	CU_ASSERT_EQUAL(ex.rss_caps.max_rwq_indirection_tables, 0);
	memset(&wa, 0, sizeof(wa));
	wa.wq_type = IBV_WQT_RQ;
	wa.max_wr = 1;
	wa.max_sge = 1;
	wa.pd = pd;
	wa.cq = cq;
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_create_wq(ctx, &wa));
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);

	CU_ASSERT_EQUAL(ex.packet_pacing_caps.qp_rate_limit_max, 0);
	CU_ASSERT_EQUAL(ex.pci_atomic_caps.fetch_add, 0);
	CU_ASSERT_EQUAL(ex.pci_atomic_caps.swap, 0);
	CU_ASSERT_EQUAL(ex.pci_atomic_caps.compare_swap, 0);

	CU_ASSERT_EQUAL(ibv_destroy_cq(cq), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(pd), 0);
}

/*
 * IBV_DEVICE_BAD_QKEY_CNTR promises that a datagram dropped for its Q_Key
 * is counted in the port's qkey_viol_cntr.
 */
static void test_qkey_violation_counter_counts_if_reported(void)
{
	struct rt_side a = {0}, b = {0};
	struct ibv_device_attr attr;
	struct ibv_port_attr pa;
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad;
	struct ibv_ah *ah;
	struct ibv_wc wc;

	if (rt_side_init(&a, "srxe0", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 4) ||
	    rt_side_init(&b, "srxe1", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 4) ||
	    rt_ud_ready(a.qp, 1) || rt_ud_ready(b.qp, 2)) {
		rt_side_fini(&a);
		rt_side_fini(&b);
		SODP_SKIP("cannot bind UDP 4791 on 127.0.0.1/127.0.0.2");
	}
	CU_ASSERT_EQUAL_FATAL(ibv_query_device(b.ctx, &attr), 0);
	CU_ASSERT_EQUAL(rt_post_recv(&b, 1, 0, 4096), 0);
	ah = rt_ah(&a, &b.gid);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ah);
	sge = (struct ibv_sge){(uintptr_t)a.buf, 64, a.mr->lkey};
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = b.qp->qp_num;
	wr.wr.ud.remote_qkey = QKEY_BAD;
	CU_ASSERT_EQUAL(ibv_post_send(a.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL(rt_poll(a.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	/* a datagram with the right Q_Key behind it: the bad one was handled first */
	wr.wr.ud.remote_qkey = QKEY_GOOD;
	CU_ASSERT_EQUAL(ibv_post_send(a.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL(rt_poll(a.cq, &wc), 1);
	CU_ASSERT_EQUAL(rt_poll(b.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(ibv_query_port(b.ctx, 1, &pa), 0);
	if (attr.device_cap_flags & IBV_DEVICE_BAD_QKEY_CNTR) {
		CU_ASSERT(pa.qkey_viol_cntr >= 1);
	} else {
		CU_ASSERT_EQUAL(pa.qkey_viol_cntr, 0);
	}
	ibv_destroy_ah(ah);
	rt_side_fini(&a);
	rt_side_fini(&b);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"port_count_ex_equals_port_count", test_port_count_ex_equals_port_count},
		{"orig_attr_equals_query_device", test_orig_attr_equals_query_device},
		{"cap_flags_ex_extend_cap_flags", test_cap_flags_ex_extend_cap_flags},
		{"multicast_limits_match_attach", test_multicast_limits_match_attach},
		{"completion_timestamps_refused_without_clock",
		 test_completion_timestamps_refused_without_clock},
		{"absent_features_are_refused", test_absent_features_are_refused},
		{NULL, NULL},
	};
	static const struct sodp_test_case traffic[] = {
		{"qkey_violation_counter_counts_if_reported",
		 test_qkey_violation_counter_counts_if_reported},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_caps", suite_init, suite_fini, t);
	sodp_add_suite("rxe_caps_traffic", NULL, NULL, traffic);
}
