// SPDX-License-Identifier: MIT
/*
 * Memory registration entry points: argument checks, then the provider.
 */
#include <stdlib.h>

#include "verbs.h"

/* The header wraps these exported names in inline helpers; this file defines them. */
#undef ibv_reg_mr
#undef ibv_reg_mr_iova

/* Every access bit the verbs define; the optional ones may be ignored. */
#define SODP_ACCESS_MANDATORY                                                        \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
	 IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_MW_BIND | IBV_ACCESS_ZERO_BASED |     \
	 IBV_ACCESS_ON_DEMAND | IBV_ACCESS_HUGETLB)

static int check_access(unsigned int access)
{
	if (access & ~(SODP_ACCESS_MANDATORY | IBV_ACCESS_OPTIONAL_RANGE))
		return -EINVAL;
	/* Remote write or atomic access requires local write, as IBTA says. */
	if ((access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)) &&
	    !(access & IBV_ACCESS_LOCAL_WRITE))
		return -EINVAL;
	return 0;
}

SODP_EXPORT struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
					    uint64_t iova, unsigned int access)
{
	struct sodp_context *ctx;
	struct ibv_mr *mr;
	int ret;

	if (!pd || !sodp_is_our_context(pd->context)) {
		errno = EINVAL;
		return NULL;
	}
	ret = check_access(access);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	/* Implicit ODP (addr NULL, length SIZE_MAX) is the only zero-address case. */
	if (!length || (!addr && !(access & IBV_ACCESS_ON_DEMAND))) {
		errno = EINVAL;
		return NULL;
	}
	ctx = sodp_ctx(pd->context);
	if (!ctx->ops->reg_mr) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	mr = ctx->ops->reg_mr(pd, addr, length, iova, access & SODP_ACCESS_MANDATORY);
	if (!mr)
		return NULL;
	sodp_pd_get(pd);
	return mr;
}

SODP_EXPORT struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access)
{
	return ibv_reg_mr_iova2(pd, addr, length, (uintptr_t)addr, (unsigned int)access);
}

SODP_EXPORT struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr, size_t length,
					   uint64_t iova, int access)
{
	return ibv_reg_mr_iova2(pd, addr, length, iova, (unsigned int)access);
}

SODP_EXPORT struct ibv_mr *ibv_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset, size_t length,
					     uint64_t iova, int fd, int access)
{
	/* A dma-buf needs a kernel importer; nothing here can map one. */
	errno = EOPNOTSUPP;
	return NULL;
}

SODP_EXPORT int ibv_rereg_mr(struct ibv_mr *mr, int flags, struct ibv_pd *pd, void *addr,
			     size_t length, int access)
{
	struct ibv_pd *old_pd;
	struct sodp_context *ctx;
	int ret;

	if (!mr || !sodp_is_our_context(mr->context))
		return IBV_REREG_MR_ERR_INPUT;
	if (!flags || (flags & ~IBV_REREG_MR_FLAGS_SUPPORTED))
		return IBV_REREG_MR_ERR_INPUT;
	if ((flags & IBV_REREG_MR_CHANGE_TRANSLATION) && (!addr || !length))
		return IBV_REREG_MR_ERR_INPUT;
	if ((flags & IBV_REREG_MR_CHANGE_PD) && (!pd || pd->context != mr->context))
		return IBV_REREG_MR_ERR_INPUT;
	if ((flags & IBV_REREG_MR_CHANGE_ACCESS) && check_access(access))
		return IBV_REREG_MR_ERR_INPUT;
	ctx = sodp_ctx(mr->context);
	if (!ctx->ops->rereg_mr) {
		errno = EOPNOTSUPP;
		return IBV_REREG_MR_ERR_INPUT;
	}
	old_pd = mr->pd;
	ret = ctx->ops->rereg_mr(mr, flags, pd, addr, length, (unsigned int)access);
	if (ret) {
		errno = -ret;
		return IBV_REREG_MR_ERR_CMD;
	}
	if (mr->pd != old_pd) {
		sodp_pd_get(mr->pd);
		sodp_pd_put(old_pd);
	}
	return 0;
}

SODP_EXPORT int ibv_dereg_mr(struct ibv_mr *mr)
{
	struct sodp_context *ctx;
	struct ibv_pd *pd;
	int ret;

	if (!mr || !sodp_is_our_context(mr->context))
		return EINVAL;
	ctx = sodp_ctx(mr->context);
	pd = mr->pd;
	if (!ctx->ops->dereg_mr)
		return EOPNOTSUPP;
	ret = ctx->ops->dereg_mr(mr);
	if (ret)
		return sodp_ret(ret);
	sodp_pd_put(pd);
	return 0;
}

int sodp_advise_mr(struct ibv_pd *pd, enum ibv_advise_mr_advice advice, uint32_t flags,
		   struct ibv_sge *sg_list, uint32_t num_sge)
{
	struct sodp_context *ctx;

	if (!pd || !sodp_is_our_context(pd->context))
		return EINVAL;
	if (advice != IBV_ADVISE_MR_ADVICE_PREFETCH &&
	    advice != IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE &&
	    advice != IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT)
		return EOPNOTSUPP;
	if (flags & ~IBV_ADVISE_MR_FLAG_FLUSH)
		return EINVAL;
	if (!num_sge)
		return 0;
	if (!sg_list)
		return EINVAL;
	ctx = sodp_ctx(pd->context);
	if (!ctx->ops->advise_mr)
		return EOPNOTSUPP;
	return sodp_ret(ctx->ops->advise_mr(pd, advice, flags, sg_list, num_sge));
}

SODP_EXPORT struct ibv_mr *ibv_import_mr(struct ibv_pd *pd, uint32_t mr_handle)
{
	errno = EOPNOTSUPP;
	return NULL;
}

SODP_EXPORT void ibv_unimport_mr(struct ibv_mr *mr)
{
}

SODP_EXPORT struct ibv_dm *ibv_import_dm(struct ibv_context *ibctx, uint32_t dm_handle)
{
	errno = EOPNOTSUPP;
	return NULL;
}

SODP_EXPORT void ibv_unimport_dm(struct ibv_dm *dm)
{
}
