// SPDX-License-Identifier: MIT
/*
 * The device limits ibv_query_device() advertises are the ones it keeps:
 * exactly max_X objects of each kind can exist at once on a device, and
 * one more fails with ENOMEM until one of them goes. Each test creates the
 * only objects of its kind on srxe0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

#include "sodp_test.h"
#include "verbs_test.h"

static struct ibv_context *ctx;
static struct ibv_device_attr da;

static int suite_init(void)
{
	ctx = vt_open_srxe0();
	if (ctx && ibv_query_device(ctx, &da)) {
		ibv_close_device(ctx);
		ctx = NULL;
	}
	return 0;
}

static int suite_fini(void)
{
	vt_close(ctx, NULL, NULL);
	return 0;
}

#define NEED_CTX() VT_NEED(ctx)

/*
 * The kinds of object, each made and destroyed the same way: make() returns
 * the object or NULL with errno, destroy() takes it back.
 */
struct kind {
	const char *name;
	void *(*make)(void);
	int (*destroy)(void *obj);
};

static struct ibv_pd *pd;
static struct ibv_cq *cq;
static char buf[4096] __attribute__((aligned(4096)));

static void *make_pd(void)
{
	return ibv_alloc_pd(ctx);
}

static int destroy_pd(void *o)
{
	return ibv_dealloc_pd(o);
}

static void *make_cq(void)
{
	return ibv_create_cq(ctx, 1, NULL, NULL, 0);
}

static int destroy_cq(void *o)
{
	return ibv_destroy_cq(o);
}

static void *make_srq(void)
{
	struct ibv_srq_init_attr sa = {.attr = {.max_wr = 1, .max_sge = 1}};

	return ibv_create_srq(pd, &sa);
}

static int destroy_srq(void *o)
{
	return ibv_destroy_srq(o);
}

static void *make_ah(void)
{
	struct ibv_ah_attr aa;

	memset(&aa, 0, sizeof(aa));
	aa.is_global = 1;
	aa.grh.dgid.raw[10] = aa.grh.dgid.raw[11] = 0xff;
	aa.grh.dgid.raw[12] = 127;
	aa.grh.dgid.raw[15] = 2;
	aa.grh.hop_limit = 1;
	aa.port_num = 1;
	return ibv_create_ah(pd, &aa);
}

static int destroy_ah(void *o)
{
	return ibv_destroy_ah(o);
}

static void *make_qp(void)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = cq;
	ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_UD;
	ia.cap.max_send_wr = 1;
	ia.cap.max_recv_wr = 1;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	return ibv_create_qp(pd, &ia);
}

static int destroy_qp(void *o)
{
	return ibv_destroy_qp(o);
}

static void *make_mr(void)
{
	return ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
}

static int destroy_mr(void *o)
{
	return ibv_dereg_mr(o);
}

static void *make_mw(void)
{
	return ibv_alloc_mw(pd, IBV_MW_TYPE_2);
}

static int destroy_mw(void *o)
{
	return ibv_dealloc_mw(o);
}

/*
 * Makes @max objects of @k, which must all succeed; one more must fail
 * with ENOMEM; after one is destroyed, one can be made again.
 */
static void check_limit(const struct kind *k, int max)
{
	void **obj = calloc((size_t)max + 1, sizeof(*obj));
	int n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_FATAL(max > 0);
	while (n < max && (obj[n] = k->make()))
		n++;
	if (n != max)
		printf("\n    %s: %d of %d made (%s)", k->name, n, max, strerror(errno));
	CU_ASSERT_EQUAL(n, max);
	errno = 0;
	obj[n] = k->make();
	CU_ASSERT_PTR_NULL(obj[n]);
	CU_ASSERT_EQUAL(errno, ENOMEM);
	if (obj[n])
		n++;
	if (n) {
		CU_ASSERT_EQUAL(k->destroy(obj[--n]), 0);
		obj[n] = k->make();
		CU_ASSERT_PTR_NOT_NULL(obj[n]);
		if (obj[n])
			n++;
	}
	while (n--)
		CU_ASSERT_EQUAL(k->destroy(obj[n]), 0);
	free(obj);
}

static void test_pds_past_max_pd_are_enomem(void)
{
	static const struct kind k = {"PD", make_pd, destroy_pd};

	NEED_CTX();
	check_limit(&k, da.max_pd);
}

static void test_cqs_past_max_cq_are_enomem(void)
{
	static const struct kind k = {"CQ", make_cq, destroy_cq};

	NEED_CTX();
	check_limit(&k, da.max_cq);
}

static void test_srqs_past_max_srq_are_enomem(void)
{
	static const struct kind k = {"SRQ", make_srq, destroy_srq};

	NEED_CTX();
	pd = ibv_alloc_pd(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	check_limit(&k, da.max_srq);
	ibv_dealloc_pd(pd);
}

static void test_ahs_past_max_ah_are_enomem(void)
{
	static const struct kind k = {"AH", make_ah, destroy_ah};

	NEED_CTX();
	pd = ibv_alloc_pd(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	check_limit(&k, da.max_ah);
	ibv_dealloc_pd(pd);
}

static void test_qps_past_max_qp_are_enomem(void)
{
	static const struct kind k = {"QP", make_qp, destroy_qp};
	struct ibv_qp *qp;

	NEED_CTX();
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 1, NULL, NULL, 0);
	CU_ASSERT_FATAL(pd && cq);
	qp = make_qp();
	if (!qp) {
		ibv_destroy_cq(cq);
		ibv_dealloc_pd(pd);
		SODP_SKIP("cannot start srxe0 (UDP 4791 on 127.0.0.1 busy?)");
	}
	ibv_destroy_qp(qp);
	check_limit(&k, da.max_qp);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
}

static void test_mrs_past_max_mr_are_enomem(void)
{
	static const struct kind k = {"MR", make_mr, destroy_mr};

	NEED_CTX();
	pd = ibv_alloc_pd(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	check_limit(&k, da.max_mr);
	ibv_dealloc_pd(pd);
}

static void test_mws_past_max_mw_are_enomem(void)
{
	static const struct kind k = {"MW", make_mw, destroy_mw};

	NEED_CTX();
	pd = ibv_alloc_pd(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	check_limit(&k, da.max_mw);
	ibv_dealloc_pd(pd);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"pds_past_max_pd_are_enomem", test_pds_past_max_pd_are_enomem},
		{"cqs_past_max_cq_are_enomem", test_cqs_past_max_cq_are_enomem},
		{"srqs_past_max_srq_are_enomem", test_srqs_past_max_srq_are_enomem},
		{"ahs_past_max_ah_are_enomem", test_ahs_past_max_ah_are_enomem},
		{"qps_past_max_qp_are_enomem", test_qps_past_max_qp_are_enomem},
		{"mrs_past_max_mr_are_enomem", test_mrs_past_max_mr_are_enomem},
		{"mws_past_max_mw_are_enomem", test_mws_past_max_mw_are_enomem},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_limits", suite_init, suite_fini, t);
}
