// SPDX-License-Identifier: MIT
/*
 * Memory registration entry points: argument checks, then the provider.
 *
 * Imported MRs: ibv_import_mr() gives a context of the registering
 * context's command file (ufile.c) a struct ibv_mr of its own for the MR,
 * with its keys, handle and length, and addr NULL as rdma-core documents.
 * The MR is the one the provider registered; the imported struct is a view
 * of it, kept in a struct sodp_mr_share with every other view of the same
 * MR. ibv_unimport_mr() frees a view; ibv_dereg_mr() through any of them
 * ends the MR for all: views of a deregistered MR may then only be
 * unimported. Deregistering through a view leaves the registering struct
 * to its owner, who still holds it: the MR is revoked at once (moved to a
 * PD no QP has, so that no key reaches it) and freed when its owner
 * deregisters or unimports it.
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

struct sodp_mr_share {
	struct list_head node; /* ufile->mr_shares */
	struct ibv_mr *mr;     /* as registered; NULL once deregistered */
	struct list_head views;
};

struct sodp_mr_view {
	struct ibv_mr mr;
	struct list_head node; /* share->views */
	struct sodp_mr_share *share;
};

/* The PD of a revoked MR: handle 0 is never a PD's, so it matches no QP. */
static struct ibv_pd revoked_pd;

/* The share holding @mr as its registered MR, or as one of its views. Under u->lock. */
static struct sodp_mr_share *find_share(struct sodp_ufile *u, const struct ibv_mr *mr,
					struct sodp_mr_view **view)
{
	struct sodp_mr_share *sh;
	struct sodp_mr_view *v;

	*view = NULL;
	list_for_each_entry (sh, &u->mr_shares, node) {
		if (sh->mr == mr)
			return sh;
		list_for_each_entry (v, &sh->views, node) {
			if (&v->mr == mr) {
				*view = v;
				return sh;
			}
		}
	}
	return NULL;
}

/* Frees @v; the share goes with its last view. Under u->lock. */
static void drop_view(struct sodp_mr_view *v)
{
	struct sodp_mr_share *sh = v->share;

	list_del_init(&v->node);
	free(v);
	if (list_empty(&sh->views)) {
		list_del_init(&sh->node);
		free(sh);
	}
}

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
	sodp_stat_kick(ctx);
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

/* Re-registers @mr, an MR as registered. Under its ufile's lock. */
static int rereg(struct ibv_mr *mr, int flags, struct ibv_pd *pd, void *addr, size_t length,
		 int access)
{
	struct ibv_pd *old_pd;
	struct sodp_context *ctx;
	int ret;

	if (!flags || (flags & ~IBV_REREG_MR_FLAGS_SUPPORTED))
		return IBV_REREG_MR_ERR_INPUT;
	if ((flags & IBV_REREG_MR_CHANGE_TRANSLATION) && (!addr || !length))
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

SODP_EXPORT int ibv_rereg_mr(struct ibv_mr *ibmr, int flags, struct ibv_pd *pd, void *addr,
			     size_t length, int access)
{
	struct sodp_mr_share *sh;
	struct sodp_mr_view *view;
	struct sodp_ufile *u;
	struct ibv_mr *mr;
	int ret;

	if (!ibmr || !sodp_is_our_context(ibmr->context))
		return IBV_REREG_MR_ERR_INPUT;
	if ((flags & IBV_REREG_MR_CHANGE_PD) && (!pd || pd->context != ibmr->context))
		return IBV_REREG_MR_ERR_INPUT;
	/* through a view, the registered MR changes */
	u = sodp_ufile_of(ibmr->context);
	pthread_mutex_lock(&u->lock);
	sh = find_share(u, ibmr, &view);
	mr = view ? sh->mr : ibmr;
	if (!mr || mr->pd == &revoked_pd) {
		pthread_mutex_unlock(&u->lock);
		return IBV_REREG_MR_ERR_INPUT;
	}
	ret = rereg(mr, flags, pd, addr, length, access);
	if (!ret && view) {
		view->mr.length = mr->length;
		if (flags & IBV_REREG_MR_CHANGE_PD)
			view->mr.pd = pd;
	}
	pthread_mutex_unlock(&u->lock);
	return ret;
}

/* Deregisters @mr, an MR as registered. Under its ufile's lock. */
static int dereg(struct ibv_mr *mr)
{
	struct sodp_context *ctx = sodp_ctx(mr->context);
	struct ibv_pd *pd = mr->pd;
	int ret;

	if (!ctx->ops->dereg_mr)
		return EOPNOTSUPP;
	ret = ctx->ops->dereg_mr(mr);
	if (ret)
		return sodp_ret(ret);
	if (pd != &revoked_pd)
		sodp_pd_put(pd);
	return 0;
}

/*
 * Ends the MR that @v is a view of while its owner still holds the
 * registering struct: revokes it and frees the view. Under u->lock.
 */
static int dereg_view(struct sodp_mr_view *v)
{
	struct ibv_mr *mr = v->share->mr;
	struct sodp_context *ctx;
	struct ibv_pd *pd;
	int ret;

	if (!mr || mr->pd == &revoked_pd)
		return EINVAL; /* already deregistered: only unimport is left */
	ctx = sodp_ctx(mr->context);
	pd = mr->pd;
	ret = ctx->ops->rereg_mr(mr, IBV_REREG_MR_CHANGE_PD, &revoked_pd, NULL, 0, 0);
	if (ret)
		return sodp_ret(ret);
	sodp_pd_put(pd);
	drop_view(v);
	return 0;
}

SODP_EXPORT int ibv_dereg_mr(struct ibv_mr *mr)
{
	struct sodp_mr_share *sh;
	struct sodp_mr_view *view;
	struct sodp_ufile *u;
	int ret;

	if (!mr || !sodp_is_our_context(mr->context))
		return EINVAL;
	u = sodp_ufile_of(mr->context);
	pthread_mutex_lock(&u->lock);
	sh = find_share(u, mr, &view);
	if (view) {
		ret = dereg_view(view);
	} else {
		ret = dereg(mr);
		if (!ret && sh) {
			/* its views stay, for unimport only */
			sh->mr = NULL;
		}
	}
	pthread_mutex_unlock(&u->lock);
	return ret;
}

/*
 * Memory windows. <infiniband/verbs.h> defines ibv_alloc_mw(),
 * ibv_dealloc_mw() and ibv_bind_mw() inline, calling these through the
 * context's ops; a window holds its PD as an MR does.
 */
struct ibv_mw *sodp_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type)
{
	struct sodp_context *ctx;
	struct ibv_mw *mw;

	if (!pd || !sodp_is_our_context(pd->context) ||
	    (type != IBV_MW_TYPE_1 && type != IBV_MW_TYPE_2)) {
		errno = EINVAL;
		return NULL;
	}
	ctx = sodp_ctx(pd->context);
	mw = ctx->ops->alloc_mw(pd, type);
	if (mw)
		sodp_pd_get(pd);
	return mw;
}

int sodp_dealloc_mw(struct ibv_mw *mw)
{
	struct sodp_context *ctx;
	struct ibv_pd *pd;
	int ret;

	if (!mw || !sodp_is_our_context(mw->context))
		return EINVAL;
	ctx = sodp_ctx(mw->context);
	pd = mw->pd;
	ret = ctx->ops->dealloc_mw(mw);
	if (ret)
		return sodp_ret(ret);
	sodp_pd_put(pd);
	return 0;
}

int sodp_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw, struct ibv_mw_bind *bind)
{
	struct sodp_context *ctx;

	if (!qp || !mw || !bind || !sodp_is_our_context(mw->context) || qp->context != mw->context)
		return EINVAL;
	ctx = sodp_ctx(mw->context);
	return sodp_ret(ctx->ops->bind_mw(qp, mw, bind));
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

/*
 * A view, in @pd's context, of the MR with handle @mr_handle registered on
 * a context of the same command file; EINVAL for a handle that names none.
 */
SODP_EXPORT struct ibv_mr *ibv_import_mr(struct ibv_pd *pd, uint32_t mr_handle)
{
	struct sodp_mr_share *sh, *known;
	struct sodp_mr_view *v, *unused;
	struct sodp_context *ctx;
	struct sodp_ufile *u;
	struct ibv_mr *mr;

	if (!pd || !sodp_is_our_context(pd->context)) {
		errno = EINVAL;
		return NULL;
	}
	ctx = sodp_ctx(pd->context);
	u = sodp_ufile_of(pd->context);
	if (!ctx->ops->find_mr) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	sh = calloc(1, sizeof(*sh));
	if (!v || !sh) {
		free(v);
		free(sh);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&u->lock);
	mr = ctx->ops->find_mr(ctx, mr_handle);
	/* an MR of this command file, registered by a context still open */
	if (!mr || mr->pd == &revoked_pd || !sodp_is_our_context(mr->context) ||
	    sodp_ufile_of(mr->context) != u) {
		pthread_mutex_unlock(&u->lock);
		free(v);
		free(sh);
		errno = EINVAL;
		return NULL;
	}
	known = find_share(u, mr, &unused);
	if (known) {
		free(sh);
		sh = known;
	} else {
		sh->mr = mr;
		list_init(&sh->views);
		list_add_tail(&sh->node, &u->mr_shares);
	}
	v->share = sh;
	v->mr.context = pd->context;
	v->mr.pd = pd;
	v->mr.addr = NULL;
	v->mr.length = mr->length;
	v->mr.handle = mr->handle;
	v->mr.lkey = mr->lkey;
	v->mr.rkey = mr->rkey;
	list_add_tail(&v->node, &sh->views);
	pthread_mutex_unlock(&u->lock);
	return &v->mr;
}

/*
 * Frees a view from ibv_import_mr(). On the registering struct it finishes
 * an MR that was deregistered through a view (the struct's owner lets it
 * go); an MR still registered has nothing to unimport there.
 */
SODP_EXPORT void ibv_unimport_mr(struct ibv_mr *mr)
{
	struct sodp_mr_share *sh;
	struct sodp_mr_view *view;
	struct sodp_ufile *u;

	if (!mr || !sodp_is_our_context(mr->context))
		return;
	u = sodp_ufile_of(mr->context);
	pthread_mutex_lock(&u->lock);
	sh = find_share(u, mr, &view);
	if (view) {
		drop_view(view);
	} else if (mr->pd == &revoked_pd && !dereg(mr) && sh) {
		sh->mr = NULL;
	}
	pthread_mutex_unlock(&u->lock);
}

void sodp_mr_release_shares(struct sodp_ufile *u)
{
	struct sodp_mr_share *sh, *tmp;
	struct sodp_mr_view *v, *vtmp;

	list_for_each_entry_safe (sh, tmp, &u->mr_shares, node) {
		list_for_each_entry_safe (v, vtmp, &sh->views, node)
			free(v);
		free(sh);
	}
}

SODP_EXPORT struct ibv_dm *ibv_import_dm(struct ibv_context *ibctx, uint32_t dm_handle)
{
	errno = EOPNOTSUPP;
	return NULL;
}

SODP_EXPORT void ibv_unimport_dm(struct ibv_dm *dm)
{
}
