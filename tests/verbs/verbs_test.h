/* SPDX-License-Identifier: MIT */
/*
 * What the verbs suites share: the device they test, srxe0 on 127.0.0.1
 * (SOFTODP_DEVICES wins when it is set), opened once by a suite. A test
 * skips when it could not be opened (UDP 4791 on 127.0.0.1 taken by another
 * process).
 */
#ifndef SODP_VERBS_TEST_H
#define SODP_VERBS_TEST_H

#include <stdlib.h>
#include <infiniband/verbs.h>

#include "sodp_test.h"

/* The first device, opened; NULL when there is none or it cannot be opened. */
static inline struct ibv_context *vt_open_srxe0(void)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	int n;

	setenv("SOFTODP_DEVICES", "srxe0=127.0.0.1", 0);
	list = ibv_get_device_list(&n);
	if (!list)
		return NULL;
	if (n)
		ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	return ctx;
}

/* Closes what a suite opened, any of them NULL. */
static inline void vt_close(struct ibv_context *ctx, struct ibv_pd *pd, struct ibv_cq *cq)
{
	if (cq)
		ibv_destroy_cq(cq);
	if (pd)
		ibv_dealloc_pd(pd);
	if (ctx)
		ibv_close_device(ctx);
}

/* At the start of a test: skips it when the suite could not make what it needs. */
#define VT_NEED(ok)                                                                   \
	do {                                                                          \
		if (!(ok))                                                            \
			SODP_SKIP("cannot open srxe0 (UDP 4791 on 127.0.0.1 busy?)"); \
	} while (0)

#endif
