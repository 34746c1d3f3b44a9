// SPDX-License-Identifier: MIT
/*
 * Protection domains. The front owns them; the provider may attach state.
 * A PD counts the objects created on it, and refuses to go while any remain.
 */
#include <stdlib.h>

#include "verbs.h"

struct sodp_pd {
	struct ibv_pd pd;
	unsigned int usecnt; /* MRs, QPs, SRQs, AHs on this PD */
};

static uint32_t pd_handle;

void sodp_pd_get(struct ibv_pd *pd)
{
	__atomic_fetch_add(&container_of(pd, struct sodp_pd, pd)->usecnt, 1, __ATOMIC_RELAXED);
}

void sodp_pd_put(struct ibv_pd *pd)
{
	__atomic_fetch_sub(&container_of(pd, struct sodp_pd, pd)->usecnt, 1, __ATOMIC_RELAXED);
}

SODP_EXPORT struct ibv_pd *ibv_alloc_pd(struct ibv_context *ibctx)
{
	struct sodp_context *ctx;
	struct sodp_pd *spd;
	int ret;

	if (!sodp_is_our_context(ibctx)) {
		errno = EINVAL;
		return NULL;
	}
	ctx = sodp_ctx(ibctx);
	spd = calloc(1, sizeof(*spd));
	if (!spd) {
		errno = ENOMEM;
		return NULL;
	}
	spd->pd.context = ibctx;
	spd->pd.handle = __atomic_add_fetch(&pd_handle, 1, __ATOMIC_RELAXED);
	if (ctx->ops->alloc_pd) {
		ret = ctx->ops->alloc_pd(&spd->pd);
		if (ret) {
			free(spd);
			errno = -ret;
			return NULL;
		}
	}
	return &spd->pd;
}

SODP_EXPORT int ibv_dealloc_pd(struct ibv_pd *pd)
{
	struct sodp_pd *spd;
	struct sodp_context *ctx;

	if (!pd || !sodp_is_our_context(pd->context))
		return EINVAL;
	spd = container_of(pd, struct sodp_pd, pd);
	if (__atomic_load_n(&spd->usecnt, __ATOMIC_RELAXED))
		return EBUSY;
	ctx = sodp_ctx(pd->context);
	if (ctx->ops->dealloc_pd)
		ctx->ops->dealloc_pd(pd);
	free(spd);
	return 0;
}

SODP_EXPORT struct ibv_pd *ibv_import_pd(struct ibv_context *ibctx, uint32_t pd_handle)
{
	errno = EOPNOTSUPP;
	return NULL;
}

SODP_EXPORT void ibv_unimport_pd(struct ibv_pd *pd)
{
}
