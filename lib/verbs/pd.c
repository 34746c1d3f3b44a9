// SPDX-License-Identifier: MIT
/*
 * Protection domains. The front owns them; the provider may attach state.
 * A PD counts the objects created on it, and refuses to go while any remain.
 * Contexts sharing a command file (ufile.c) share PDs: ibv_import_pd().
 */
#include <stdlib.h>

#include "verbs.h"

/*
 * A PD as the device knows it. Every context of its ufile sees it through a
 * struct sodp_pd of its own: the one ibv_alloc_pd() returned, and one per
 * ibv_import_pd(). All carry the PD's handle, which is unique in the
 * process, so the provider tells PDs apart by handle.
 */
struct sodp_pd_obj {
	struct list_head node; /* ufile->pds, while the PD exists */
	uint32_t handle;
	unsigned int usecnt; /* MRs, QPs, SRQs, AHs on this PD */
	unsigned int views;  /* struct sodp_pd pointing here, under the ufile's lock */
	bool dead;	     /* deallocated: its views may only be unimported */
};

struct sodp_pd {
	struct ibv_pd pd;
	struct sodp_pd_obj *obj;
};

static uint32_t pd_handle;

static struct sodp_pd_obj *obj_of(struct ibv_pd *pd)
{
	return container_of(pd, struct sodp_pd, pd)->obj;
}

void sodp_pd_get(struct ibv_pd *pd)
{
	__atomic_fetch_add(&obj_of(pd)->usecnt, 1, __ATOMIC_RELAXED);
}

void sodp_pd_put(struct ibv_pd *pd)
{
	__atomic_fetch_sub(&obj_of(pd)->usecnt, 1, __ATOMIC_RELAXED);
}

static struct sodp_pd *new_view(struct ibv_context *ibctx, struct sodp_pd_obj *obj)
{
	struct sodp_pd *spd = calloc(1, sizeof(*spd));

	if (!spd)
		return NULL;
	spd->pd.context = ibctx;
	spd->pd.handle = obj->handle;
	spd->obj = obj;
	obj->views++;
	return spd;
}

/* Drops a view; the PD goes with its last view once deallocated. Under u->lock. */
static void drop_view(struct sodp_pd *spd)
{
	struct sodp_pd_obj *obj = spd->obj;

	free(spd);
	if (!--obj->views && obj->dead)
		free(obj);
}

SODP_EXPORT struct ibv_pd *ibv_alloc_pd(struct ibv_context *ibctx)
{
	struct sodp_context *ctx;
	struct sodp_pd_obj *obj;
	struct sodp_ufile *u;
	struct sodp_pd *spd;
	int ret;

	if (!sodp_is_our_context(ibctx)) {
		errno = EINVAL;
		return NULL;
	}
	ctx = sodp_ctx(ibctx);
	u = sodp_ufile_of(ibctx);
	obj = calloc(1, sizeof(*obj));
	if (!obj) {
		errno = ENOMEM;
		return NULL;
	}
	obj->handle = __atomic_add_fetch(&pd_handle, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&u->lock);
	spd = new_view(ibctx, obj);
	pthread_mutex_unlock(&u->lock);
	if (!spd) {
		free(obj);
		errno = ENOMEM;
		return NULL;
	}
	if (ctx->ops->alloc_pd) {
		ret = ctx->ops->alloc_pd(&spd->pd);
		if (ret) {
			free(spd);
			free(obj);
			errno = -ret;
			return NULL;
		}
	}
	pthread_mutex_lock(&u->lock);
	list_add_tail(&obj->node, &u->pds);
	pthread_mutex_unlock(&u->lock);
	return &spd->pd;
}

SODP_EXPORT int ibv_dealloc_pd(struct ibv_pd *pd)
{
	struct sodp_context *ctx;
	struct sodp_pd_obj *obj;
	struct sodp_ufile *u;

	if (!pd || !sodp_is_our_context(pd->context))
		return EINVAL;
	u = sodp_ufile_of(pd->context);
	obj = obj_of(pd);
	pthread_mutex_lock(&u->lock);
	if (obj->dead) {
		pthread_mutex_unlock(&u->lock);
		return EINVAL;
	}
	if (__atomic_load_n(&obj->usecnt, __ATOMIC_RELAXED)) {
		pthread_mutex_unlock(&u->lock);
		return EBUSY;
	}
	obj->dead = true;
	list_del_init(&obj->node);
	ctx = sodp_ctx(pd->context);
	if (ctx->ops->dealloc_pd)
		ctx->ops->dealloc_pd(pd);
	drop_view(container_of(pd, struct sodp_pd, pd));
	pthread_mutex_unlock(&u->lock);
	return 0;
}

/*
 * Another view of a PD of @ibctx's command file (allocated on any of its
 * contexts); EINVAL for a handle that names none.
 */
SODP_EXPORT struct ibv_pd *ibv_import_pd(struct ibv_context *ibctx, uint32_t handle)
{
	struct sodp_pd_obj *obj;
	struct sodp_ufile *u;
	struct sodp_pd *spd = NULL;

	if (!sodp_is_our_context(ibctx)) {
		errno = EINVAL;
		return NULL;
	}
	u = sodp_ufile_of(ibctx);
	pthread_mutex_lock(&u->lock);
	list_for_each_entry (obj, &u->pds, node) {
		if (obj->handle == handle) {
			spd = new_view(ibctx, obj);
			if (!spd)
				errno = ENOMEM;
			break;
		}
	}
	if (&obj->node == &u->pds)
		errno = EINVAL;
	pthread_mutex_unlock(&u->lock);
	return spd ? &spd->pd : NULL;
}

/* Frees this context's view of the PD; the PD itself stays. */
SODP_EXPORT void ibv_unimport_pd(struct ibv_pd *pd)
{
	struct sodp_ufile *u;

	if (!pd || !sodp_is_our_context(pd->context))
		return;
	u = sodp_ufile_of(pd->context);
	pthread_mutex_lock(&u->lock);
	drop_view(container_of(pd, struct sodp_pd, pd));
	pthread_mutex_unlock(&u->lock);
}

void sodp_pd_release_all(struct sodp_ufile *u)
{
	struct sodp_pd_obj *obj, *tmp;

	/*
	 * A view still held now belongs to a closed context: the verbs refuse
	 * it without reaching its PD.
	 */
	list_for_each_entry_safe (obj, tmp, &u->pds, node) {
		list_del_init(&obj->node);
		free(obj);
	}
}
