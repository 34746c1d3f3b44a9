// SPDX-License-Identifier: MIT
/*
 * The device list and contexts.
 *
 * ibv_get_device_list() reads SOFTODP_DEVICES each time it is called, like
 * rdma-core rescans sysfs. A device, once seen, stays allocated for the life
 * of the process, so an opened context never outlives its ibv_device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "verbs.h"

/* The header wraps these exported names in inline helpers; this file defines them. */
#undef ibv_get_device_list

#define SODP_MAX_DEVICES     32
#define SODP_DEFAULT_DEVICES "srxe0=127.0.0.1"
#define SODP_DEV_NAME_PREFIX "softodp-"

static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct list_head dev_list = LIST_HEAD_INIT(dev_list);
static int dev_count;

/* Contexts this library opened, so entry points can reject foreign ones. */
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct list_head ctx_list = LIST_HEAD_INIT(ctx_list);

struct sodp_front_ctx {
	struct list_head node;
	struct sodp_front front;
	struct sodp_context ctx; /* last: ends with the application's ibv_context */
};

static struct sodp_device *find_or_add_device(const struct sodp_dev_config *cfg)
{
	struct sodp_device *d;

	list_for_each_entry (d, &dev_list, node) {
		if (!strcmp(d->cfg.name, cfg->name) &&
		    !memcmp(&d->cfg.addr, &cfg->addr, sizeof(cfg->addr))) {
			/* the environment as of this listing, for devices opened after it */
			d->cfg.icrc = cfg->icrc;
			d->cfg.impair = cfg->impair;
			d->cfg.report_stats = cfg->report_stats;
			return d;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->cfg = *cfg;
	d->index = dev_count++;
	d->ibdev.node_type = IBV_NODE_CA;
	d->ibdev.transport_type = IBV_TRANSPORT_IB;
	snprintf(d->ibdev.name, sizeof(d->ibdev.name), "%.63s", cfg->name);
	/*
	 * No uverbs file stands behind a userspace device. Its dev_name names
	 * it after softodp and the device, never uverbsN, so that a node made
	 * for programs that look for /dev/infiniband/<dev_name> (softodp-run
	 * --dev-nodes) can neither take nor be taken for a kernel device's.
	 */
	snprintf(d->ibdev.dev_name, sizeof(d->ibdev.dev_name), SODP_DEV_NAME_PREFIX "%.*s",
		 (int)(sizeof(d->ibdev.dev_name) - sizeof(SODP_DEV_NAME_PREFIX)), cfg->name);
	/* There is no sysfs for a userspace device; the paths say so. */
	snprintf(d->ibdev.dev_path, sizeof(d->ibdev.dev_path), "softodp:/%s", d->ibdev.dev_name);
	snprintf(d->ibdev.ibdev_path, sizeof(d->ibdev.ibdev_path), "softodp:/%.63s", cfg->name);
	list_add_tail(&d->node, &dev_list);
	return d;
}

SODP_EXPORT struct ibv_device **ibv_get_device_list(int *num_devices)
{
	struct sodp_dev_config cfg[SODP_MAX_DEVICES];
	const char *spec = getenv("SOFTODP_DEVICES");
	struct ibv_device **list;
	char err[256];
	int n, i;

	if (num_devices)
		*num_devices = 0;
	if (!spec || !*spec)
		spec = SODP_DEFAULT_DEVICES;
	n = sodp_parse_devices(spec, cfg, SODP_MAX_DEVICES, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "softodp: %s\n", err);
		errno = -n;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		int ret = sodp_resolve_device(&cfg[i], err, sizeof(err));

		if (ret) {
			fprintf(stderr, "softodp: %s\n", err);
			errno = -ret;
			return NULL;
		}
		sodp_config_env(&cfg[i]);
	}

	list = calloc(n + 1, sizeof(*list));
	if (!list) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&dev_lock);
	for (i = 0; i < n; i++) {
		struct sodp_device *d = find_or_add_device(&cfg[i]);

		if (!d) {
			pthread_mutex_unlock(&dev_lock);
			free(list);
			errno = ENOMEM;
			return NULL;
		}
		list[i] = &d->ibdev;
	}
	pthread_mutex_unlock(&dev_lock);
	if (num_devices)
		*num_devices = n;
	return list;
}

SODP_EXPORT void ibv_free_device_list(struct ibv_device **list)
{
	free(list);
}

static bool is_our_device(struct ibv_device *ibdev)
{
	struct sodp_device *d;
	bool found = false;

	if (!ibdev)
		return false;
	pthread_mutex_lock(&dev_lock);
	list_for_each_entry (d, &dev_list, node) {
		if (&d->ibdev == ibdev) {
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&dev_lock);
	return found;
}

SODP_EXPORT const char *ibv_get_device_name(struct ibv_device *device)
{
	if (!is_our_device(device)) {
		errno = EINVAL;
		return NULL;
	}
	return device->name;
}

SODP_EXPORT __be64 ibv_get_device_guid(struct ibv_device *device)
{
	if (!is_our_device(device)) {
		errno = EINVAL;
		return 0;
	}
	return to_sdev(device)->cfg.node_guid;
}

SODP_EXPORT int ibv_get_device_index(struct ibv_device *device)
{
	if (!is_our_device(device)) {
		errno = EINVAL;
		return -1;
	}
	return to_sdev(device)->index;
}

bool sodp_is_our_context(struct ibv_context *ibctx)
{
	struct sodp_front_ctx *fc;
	bool found = false;

	if (!ibctx)
		return false;
	pthread_mutex_lock(&ctx_lock);
	list_for_each_entry (fc, &ctx_list, node) {
		if (&fc->ctx.vctx.context == ibctx) {
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&ctx_lock);
	return found;
}

struct sodp_front *sodp_front_of(struct sodp_context *ctx)
{
	return &container_of(ctx, struct sodp_front_ctx, ctx)->front;
}

static const struct sodp_front_ops front_ops = {
	.async_event = sodp_async_post,
	.cq_event = sodp_cq_event,
};

/*
 * A context on @device through the command file @u, whose descriptor @cmd_fd
 * it owns once it exists. NULL with errno on failure (@cmd_fd is then left
 * open and @u's reference untouched).
 */
static struct ibv_context *open_context(struct ibv_device *device, struct sodp_ufile *u, int cmd_fd)
{
	struct sodp_front_ctx *fc;
	struct sodp_context *ctx;
	int ret;

	fc = calloc(1, sizeof(*fc));
	if (!fc) {
		errno = ENOMEM;
		return NULL;
	}
	fc->front.ufile = u;
	ctx = &fc->ctx;
	ctx->cfg = &to_sdev(device)->cfg;
	ctx->ops = &rxe_provider_ops;
	ctx->front = &front_ops;
	ctx->vctx.context.device = device;
	ctx->vctx.context.cmd_fd = cmd_fd;
	ctx->vctx.context.num_comp_vectors = 1;
	ctx->vctx.context.abi_compat = __VERBS_ABI_IS_EXTENDED;
	ctx->vctx.sz = sizeof(ctx->vctx);
	pthread_mutex_init(&ctx->vctx.context.mutex, NULL);
	sodp_init_context_ops(ctx);

	ret = sodp_async_init(ctx);
	if (ret)
		goto err_free;
	ret = ctx->ops->open(ctx);
	if (ret)
		goto err_async;

	pthread_mutex_lock(&ctx_lock);
	list_add_tail(&fc->node, &ctx_list);
	pthread_mutex_unlock(&ctx_lock);
	sodp_stat_context_open(ctx);
	return &ctx->vctx.context;

err_async:
	sodp_async_fini(ctx);
err_free:
	pthread_mutex_destroy(&ctx->vctx.context.mutex);
	free(fc);
	errno = -ret;
	return NULL;
}

SODP_EXPORT struct ibv_context *ibv_open_device(struct ibv_device *device)
{
	struct ibv_context *ibctx;
	struct sodp_ufile *u;
	int fd, ret;

	if (!is_our_device(device)) {
		errno = ENODEV;
		return NULL;
	}
	ret = sodp_ufile_create(device, &fd, &u);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	ibctx = open_context(device, u, fd);
	if (!ibctx) {
		ret = errno;
		close(fd);
		sodp_ufile_put(u);
		errno = ret;
	}
	return ibctx;
}

SODP_EXPORT int ibv_close_device(struct ibv_context *ibctx)
{
	struct sodp_front_ctx *fc;
	struct sodp_context *ctx;

	if (!sodp_is_our_context(ibctx)) {
		errno = EINVAL;
		return -1;
	}
	ctx = sodp_ctx(ibctx);
	fc = container_of(ctx, struct sodp_front_ctx, ctx);
	pthread_mutex_lock(&ctx_lock);
	list_del_init(&fc->node);
	pthread_mutex_unlock(&ctx_lock);

	sodp_stat_context_close(ctx);
	ctx->ops->close(ctx);
	sodp_async_fini(ctx);
	close(ibctx->cmd_fd);
	sodp_ufile_put(fc->front.ufile);
	pthread_mutex_destroy(&ibctx->mutex);
	free(fc);
	return 0;
}

/*
 * A context sharing the command file @cmd_fd is a descriptor of (the caller
 * dup()s a context's cmd_fd); the new context owns @cmd_fd. ufile.c says
 * which descriptors are accepted.
 */
SODP_EXPORT struct ibv_context *ibv_import_device(int cmd_fd)
{
	struct ibv_context *ibctx;
	struct sodp_ufile *u;
	int ret;

	ret = sodp_ufile_find(cmd_fd, &u);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	ibctx = open_context(u->device, u, cmd_fd);
	if (!ibctx) {
		ret = errno;
		sodp_ufile_put(u);
		errno = ret;
	}
	return ibctx;
}
