// SPDX-License-Identifier: MIT
/*
 * What a blind peer would have to guess: MR keys and QPNs are not a
 * sequence to be read off the previous one, and an MR, memory window or QP
 * that takes a freed slot does not answer to the key or QPN the freed one
 * had.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

#include "sodp_test.h"
#include "verbs_test.h"
#include "rxe.h"

#define NKEYS  256
#define REUSES 32 /* a slot's key differs from each of its previous 31 (mr.c) */

static struct rxe_dev *dev_of(struct ibv_context *ctx)
{
	return ctx_dev(sodp_ctx(ctx));
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* How many of @n values are what the one before would predict (+@step). */
static unsigned int guessable(const uint32_t *v, unsigned int n, uint32_t step, uint32_t mask)
{
	unsigned int i, hits = 0;

	for (i = 1; i < n; i++)
		hits += ((v[i - 1] + step) & mask) == (v[i] & mask);
	return hits;
}

static bool distinct(const uint32_t *v, unsigned int n)
{
	uint32_t *s = malloc(n * sizeof(*s));
	unsigned int i;
	bool ok = true;

	if (!s)
		return false;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_u32);
	for (i = 1; i < n; i++)
		ok &= s[i] != s[i - 1];
	free(s);
	return ok;
}

static void test_mr_keys_are_unique_and_not_read_off_the_last(void)
{
	static char buf[4096] __attribute__((aligned(4096)));
	struct ibv_context *ctx = vt_open_srxe0();
	struct ibv_mr *mr[NKEYS];
	uint32_t key[NKEYS];
	struct ibv_pd *pd;
	unsigned int i, n = 0;

	if (!ctx)
		SODP_SKIP("cannot open srxe0");
	pd = ibv_alloc_pd(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	for (i = 0; i < NKEYS; i++) {
		mr[i] = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
		if (!mr[i])
			break;
		CU_ASSERT_EQUAL(mr[i]->lkey, mr[i]->rkey);
		key[n++] = mr[i]->rkey;
	}
	CU_ASSERT_EQUAL(n, NKEYS);
	CU_ASSERT_TRUE(distinct(key, n));
	/* each MR's key byte is drawn anew: about 1 in 256 lines up by chance */
	CU_ASSERT(guessable(key, n, 0x101, UINT32_MAX) <= 8);
	CU_ASSERT(guessable(key, n, 1, 0xff) <= 8);
	while (n--)
		ibv_dereg_mr(mr[n]);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
}

/*
 * The table is filled but for two slots; the test then frees the MR in one
 * of them after 255 registrations in the other, so that the next MR takes
 * the freed slot with that many registrations in between (a key byte that
 * counts registrations comes round to the same value). The new key differs
 * from every earlier key of the slot, and no earlier key finds an MR.
 */
static void test_a_reused_mr_slot_never_matches_a_stale_key(void)
{
	static char buf[4096] __attribute__((aligned(4096)));
	struct ibv_context *ctx = vt_open_srxe0();
	struct ibv_device_attr da;
	struct ibv_mr **all, *x, *z = NULL, *m;
	uint32_t keys[REUSES + 1], slot;
	unsigned int i, j, n = 0;
	struct ibv_pd *pd;

	if (!ctx)
		SODP_SKIP("cannot open srxe0");
	CU_ASSERT_EQUAL_FATAL(ibv_query_device(ctx, &da), 0);
	pd = ibv_alloc_pd(ctx);
	all = calloc((size_t)da.max_mr + 1, sizeof(*all));
	CU_ASSERT_FATAL(pd && all);
	while (n <= (unsigned int)da.max_mr &&
	       (all[n] = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE)))
		n++;
	CU_ASSERT_EQUAL(n, (unsigned int)da.max_mr);
	CU_ASSERT_FATAL(n >= 2);
	ibv_dereg_mr(all[--n]);
	ibv_dereg_mr(all[--n]);
	x = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	slot = rxe_key_idx(x->rkey);
	keys[0] = x->rkey;
	for (i = 1; i <= REUSES; i++) {
		for (j = 0; j < 255; j++) {
			m = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
			CU_ASSERT_PTR_NOT_NULL_FATAL(m);
			if (j < 254)
				ibv_dereg_mr(m);
			else
				z = m;
		}
		ibv_dereg_mr(x);
		x = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
		CU_ASSERT_PTR_NOT_NULL_FATAL(x);
		CU_ASSERT_EQUAL_FATAL(rxe_key_idx(x->rkey), slot); /* the only free slot */
		keys[i] = x->rkey;
		CU_ASSERT_TRUE(distinct(keys, i + 1));
		for (j = 0; j < i; j++)
			CU_ASSERT_PTR_NULL(rxe_mr_lookup(dev_of(ctx), keys[j]));
		CU_ASSERT_PTR_EQUAL(rxe_mr_lookup(dev_of(ctx), x->rkey), x);
		ibv_dereg_mr(z);
	}
	ibv_dereg_mr(x);
	while (n--)
		ibv_dereg_mr(all[n]);
	free(all);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
}

/*
 * Windows take their keys from the MR slots by the same rule: with one slot
 * left free, a window and an MR take it in turn; no key it gives out
 * matches an earlier one outside the low byte (a window's, which its
 * consumer sets at each bind), and no earlier key finds an MR or a window.
 */
static void test_a_reused_slot_never_gives_a_window_a_stale_key(void)
{
	static char buf[4096] __attribute__((aligned(4096)));
	struct ibv_context *ctx = vt_open_srxe0();
	uint32_t keys[REUSES], slot = 0;
	struct ibv_device_attr da;
	struct rxe_dev *dev;
	unsigned int i, j, n = 0;
	struct ibv_mr **all;
	struct ibv_pd *pd;

	if (!ctx)
		SODP_SKIP("cannot open srxe0");
	dev = dev_of(ctx);
	CU_ASSERT_EQUAL_FATAL(ibv_query_device(ctx, &da), 0);
	pd = ibv_alloc_pd(ctx);
	all = calloc((size_t)da.max_mr + 1, sizeof(*all));
	CU_ASSERT_FATAL(pd && all);
	while (n < (unsigned int)da.max_mr - 1 &&
	       (all[n] = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE)))
		n++;
	CU_ASSERT_EQUAL_FATAL(n, (unsigned int)da.max_mr - 1);
	for (i = 0; i < REUSES; i++) {
		struct ibv_mw *w = NULL;
		struct ibv_mr *m = NULL;

		if (i % 2 == 0) {
			w = ibv_alloc_mw(pd, IBV_MW_TYPE_2);
			CU_ASSERT_PTR_NOT_NULL_FATAL(w);
			keys[i] = w->rkey;
		} else {
			m = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
			CU_ASSERT_PTR_NOT_NULL_FATAL(m);
			keys[i] = m->rkey;
		}
		if (!i)
			slot = rxe_key_idx(keys[0]);
		CU_ASSERT_EQUAL(rxe_key_idx(keys[i]), slot); /* the only free slot */
		for (j = 0; j < i; j++) {
			CU_ASSERT_NOT_EQUAL(keys[j] >> RXE_KEY_BYTE_BITS,
					    keys[i] >> RXE_KEY_BYTE_BITS);
			CU_ASSERT_PTR_NULL(rxe_mr_lookup(dev, keys[j]));
		}
		if (w) {
			CU_ASSERT_PTR_EQUAL(dev->mw_tbl[slot], to_rmw(w));
			CU_ASSERT_EQUAL(ibv_dealloc_mw(w), 0);
		} else {
			CU_ASSERT_EQUAL(ibv_dereg_mr(m), 0);
		}
	}
	while (n--)
		ibv_dereg_mr(all[n]);
	free(all);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
}

static struct ibv_qp *ud_qp(struct ibv_pd *pd, struct ibv_cq *cq)
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

/*
 * The QP table filled: QPNs are unique and not in sequence; then the QP
 * in one slot is destroyed and created again, and never gets back the QPN
 * it had just before.
 */
static void test_qpns_are_not_in_sequence_and_a_reused_slot_gets_a_new_qpn(void)
{
	struct ibv_context *ctx = vt_open_srxe0();
	struct ibv_device_attr da;
	struct ibv_qp **qp;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	uint32_t *qpn, last;
	unsigned int i, n = 0, reused = 0;

	if (!ctx)
		SODP_SKIP("cannot open srxe0");
	CU_ASSERT_EQUAL_FATAL(ibv_query_device(ctx, &da), 0);
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 1, NULL, NULL, 0);
	qp = calloc((size_t)da.max_qp + 1, sizeof(*qp));
	qpn = calloc((size_t)da.max_qp + 1, sizeof(*qpn));
	CU_ASSERT_FATAL(pd && cq && qp && qpn);
	qp[0] = ud_qp(pd, cq);
	if (!qp[0]) {
		free(qp);
		free(qpn);
		ibv_destroy_cq(cq);
		ibv_dealloc_pd(pd);
		ibv_close_device(ctx);
		SODP_SKIP("cannot start srxe0 (UDP 4791 on 127.0.0.1 busy?)");
	}
	qpn[n++] = qp[0]->qp_num;
	while (n <= (unsigned int)da.max_qp && (qp[n] = ud_qp(pd, cq)))
		qpn[n] = qp[n]->qp_num, n++;
	CU_ASSERT_EQUAL(n, (unsigned int)da.max_qp);
	CU_ASSERT_TRUE(distinct(qpn, n));
	CU_ASSERT(guessable(qpn, n, 1, UINT32_MAX) <= 8);
	for (i = 0; i < n; i++)
		CU_ASSERT(qpn[i] >= RXE_QPN_FIRST && qpn[i] <= RXE_QPN_LAST);
	for (i = 0; i < 64 && n; i++) {
		last = qp[n - 1]->qp_num;
		CU_ASSERT_EQUAL_FATAL(ibv_destroy_qp(qp[n - 1]), 0);
		qp[n - 1] = ud_qp(pd, cq);
		CU_ASSERT_PTR_NOT_NULL_FATAL(qp[n - 1]);
		/* the only free slot, so the same one; another QPN in it */
		CU_ASSERT_EQUAL(rxe_qpn_slot(qp[n - 1]->qp_num), rxe_qpn_slot(last));
		reused += qp[n - 1]->qp_num != last;
	}
	CU_ASSERT_EQUAL(reused, 64);
	while (n--)
		ibv_destroy_qp(qp[n]);
	free(qp);
	free(qpn);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"mr_keys_are_unique_and_not_read_off_the_last",
		 test_mr_keys_are_unique_and_not_read_off_the_last},
		{"a_reused_mr_slot_never_matches_a_stale_key",
		 test_a_reused_mr_slot_never_matches_a_stale_key},
		{"a_reused_slot_never_gives_a_window_a_stale_key",
		 test_a_reused_slot_never_gives_a_window_a_stale_key},
		{"qpns_are_not_in_sequence_and_a_reused_slot_gets_a_new_qpn",
		 test_qpns_are_not_in_sequence_and_a_reused_slot_gets_a_new_qpn},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_keys", NULL, NULL, t);
}
