/* SPDX-License-Identifier: MIT */
/*
 * Internal declarations of the verbs front (lib/verbs). Everything exported
 * from here is an ibv_* entry point with a symbol version from
 * libsoftodp.map; these helpers stay inside the library.
 */
#ifndef SODP_VERBS_H
#define SODP_VERBS_H

#include <errno.h>
#include <pthread.h>
#include <sys/types.h>

#include "driver.h"
#include "compiler.h"
#include "list.h"

/* A soft RoCE device known to this process. Devices are never freed. */
struct sodp_device {
	struct ibv_device ibdev; /* what ibv_get_device_list() returns */
	struct sodp_dev_config cfg;
	int index; /* ibv_get_device_index() */
	struct list_head node;
};

static inline struct sodp_device *to_sdev(struct ibv_device *d)
{
	return container_of(d, struct sodp_device, ibdev);
}

/*
 * Parses a SOFTODP_DEVICES string into configs. Returns the number of
 * entries, or a negative errno; on error, @err (if not NULL) receives a
 * one-line message naming the bad entry.
 */
int sodp_parse_devices(const char *spec, struct sodp_dev_config *out, int max, char *err,
		       size_t errlen);
/* Resolves the interface, MTU, MAC, GID and GUID of cfg->addr. */
int sodp_resolve_device(struct sodp_dev_config *cfg, char *err, size_t errlen);
/* Reads SOFTODP_ICRC, SOFTODP_IMPAIR and SOFTODP_STATS into @cfg. */
void sodp_config_env(struct sodp_dev_config *cfg);

/* True when @ctx is a context this library created. */
bool sodp_is_our_context(struct ibv_context *ctx);

/* Async events: the context's queue behind ibv_get_async_event(). */
int sodp_async_init(struct sodp_context *ctx);
void sodp_async_fini(struct sodp_context *ctx);
void sodp_async_post(struct sodp_context *ctx, const struct ibv_async_event *ev);

/* Completion events: what the provider signals on an armed CQ. */
void sodp_cq_event(struct ibv_cq *cq);

/*
 * The command file behind cmd_fd, shared by a context and those imported
 * from it, with the objects they share (ufile.c).
 */
struct sodp_ufile {
	struct list_head node; /* every ufile of the process */
	unsigned int refs;     /* contexts on it */
	struct ibv_device *device;
	dev_t st_dev; /* the memfd's identity */
	ino_t st_ino;
	pid_t pid; /* the process whose objects these are */
	pthread_mutex_t lock;
	struct list_head pds;	    /* struct sodp_pd_obj (pd.c) */
	struct list_head mr_shares; /* struct sodp_mr_share (mr.c) */
};

/* A new command file for @device: its memfd in *fd_out. 0 or a negative errno. */
int sodp_ufile_create(struct ibv_device *device, int *fd_out, struct sodp_ufile **out);
/*
 * The ufile @fd is a descriptor of, with a reference taken: 0, -EOPNOTSUPP
 * for another process's command file, -EINVAL for anything else.
 */
int sodp_ufile_find(int fd, struct sodp_ufile **out);
void sodp_ufile_put(struct sodp_ufile *u);
/* Frees what a ufile still holds once no context uses it. */
void sodp_pd_release_all(struct sodp_ufile *u);
void sodp_mr_release_shares(struct sodp_ufile *u);

/* The front's own state beside the provider's in struct sodp_context. */
struct sodp_front {
	pthread_mutex_t async_lock;
	struct list_head async_events;
	int async_wfd; /* write end; vctx.context.async_fd reads */
	unsigned int async_queued;
	struct sodp_ufile *ufile;
	pid_t stat_pid; /* the process whose stat segment counts the context, or 0 */
};

struct sodp_front *sodp_front_of(struct sodp_context *ctx);
/* Points the context's ops tables at the front and the provider. */
void sodp_init_context_ops(struct sodp_context *ctx);

/* The stat segment (stat.c): a context opened, a context about to close. */
void sodp_stat_context_open(struct sodp_context *ctx);
void sodp_stat_context_close(struct sodp_context *ctx);
/* A QP or MR was made on @ctx: the segment is worth refreshing from now on. */
void sodp_stat_kick(struct sodp_context *ctx);

/* Objects on a PD keep it from being deallocated. */
void sodp_pd_get(struct ibv_pd *pd);
void sodp_pd_put(struct ibv_pd *pd);
/* The ufile of a context this library created. */
static inline struct sodp_ufile *sodp_ufile_of(struct ibv_context *ibctx)
{
	return sodp_front_of(sodp_ctx(ibctx))->ufile;
}

/* The extended verbs reached through struct verbs_context. */
int sodp_query_device_ex(struct ibv_context *ibctx, const struct ibv_query_device_ex_input *input,
			 struct ibv_device_attr_ex *attr, size_t attr_size);
int sodp_query_port(struct ibv_context *ibctx, uint8_t port, struct ibv_port_attr *attr,
		    size_t attr_size);
int sodp_advise_mr(struct ibv_pd *pd, enum ibv_advise_mr_advice advice, uint32_t flags,
		   struct ibv_sge *sg_list, uint32_t num_sge);
/* Memory windows: inline verbs reach these through ibv_context_ops. */
struct ibv_mw *sodp_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type);
int sodp_dealloc_mw(struct ibv_mw *mw);
int sodp_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw, struct ibv_mw_bind *bind);
struct ibv_cq_ex *sodp_create_cq_ex(struct ibv_context *ibctx, struct ibv_cq_init_attr_ex *attr);
struct ibv_qp *sodp_create_qp_ex(struct ibv_context *ibctx, struct ibv_qp_init_attr_ex *attr);
struct ibv_srq *sodp_create_srq_ex(struct ibv_context *ibctx, struct ibv_srq_init_attr_ex *attr);

/* Sets errno from a negative errno return and gives the verbs positive one. */
static inline int sodp_ret(int ret)
{
	if (ret < 0) {
		errno = -ret;
		return -ret;
	}
	return 0;
}

#endif
