// SPDX-License-Identifier: MIT
/*
 * Completion queues and completion channels.
 *
 * A channel's fd is the read end of a pipe: the provider signals an armed CQ
 * through sodp_cq_event(), which queues the CQ on its channel and writes one
 * byte, so the fd works with poll()/epoll and blocking reads alike. The queue,
 * not the pipe, carries the CQ pointers: destroying a CQ removes its queued
 * events, so ibv_get_cq_event() never returns a CQ that is gone.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "verbs.h"

struct sodp_channel {
	struct ibv_comp_channel ch;
	int wfd;
	pthread_mutex_t lock;
	struct list_head pending; /* struct cq_event */
};

struct cq_event {
	struct list_head node;
	struct ibv_cq *cq;
};

static struct sodp_channel *to_chan(struct ibv_comp_channel *ch)
{
	return container_of(ch, struct sodp_channel, ch);
}

SODP_EXPORT struct ibv_comp_channel *ibv_create_comp_channel(struct ibv_context *ibctx)
{
	struct sodp_channel *c;
	int fds[2];

	if (!sodp_is_our_context(ibctx)) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	if (pipe2(fds, O_CLOEXEC)) {
		free(c);
		return NULL;
	}
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	c->ch.context = ibctx;
	c->ch.fd = fds[0];
	c->ch.refcnt = 0;
	c->wfd = fds[1];
	pthread_mutex_init(&c->lock, NULL);
	list_init(&c->pending);
	return &c->ch;
}

SODP_EXPORT int ibv_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	struct sodp_channel *c;

	if (!ch || !sodp_is_our_context(ch->context))
		return EINVAL;
	c = to_chan(ch);
	pthread_mutex_lock(&ch->context->mutex);
	if (ch->refcnt) {
		pthread_mutex_unlock(&ch->context->mutex);
		return EBUSY;
	}
	pthread_mutex_unlock(&ch->context->mutex);
	close(ch->fd);
	close(c->wfd);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return 0;
}

void sodp_cq_event(struct ibv_cq *cq)
{
	struct sodp_channel *c;
	struct cq_event *e;
	char one = 1;

	if (!cq->channel)
		return;
	c = to_chan(cq->channel);
	e = malloc(sizeof(*e));
	if (!e) {
		sodp_warn("completion event of CQ %u lost: out of memory", cq->handle);
		return;
	}
	e->cq = cq;
	pthread_mutex_lock(&c->lock);
	list_add_tail(&e->node, &c->pending);
	if (write(c->wfd, &one, 1) != 1)
		sodp_warn("completion channel pipe is full");
	pthread_mutex_unlock(&c->lock);
}

SODP_EXPORT int ibv_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **cq_context)
{
	struct sodp_channel *c;
	struct cq_event *e;
	char byte;
	ssize_t n;

	if (!ch || !cq || !cq_context) {
		errno = EINVAL;
		return -1;
	}
	c = to_chan(ch);
	for (;;) {
		n = read(ch->fd, &byte, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			return -1; /* errno from read(): EAGAIN when non-blocking */
		pthread_mutex_lock(&c->lock);
		if (!list_empty(&c->pending))
			break;
		/* The event's CQ was destroyed after it was queued: wait for the next. */
		pthread_mutex_unlock(&c->lock);
	}
	e = list_first_entry(&c->pending, struct cq_event, node);
	list_del_init(&e->node);
	pthread_mutex_unlock(&c->lock);
	*cq = e->cq;
	*cq_context = e->cq->cq_context;
	free(e);
	return 0;
}

SODP_EXPORT void ibv_ack_cq_events(struct ibv_cq *cq, unsigned int nevents)
{
	if (!cq)
		return;
	pthread_mutex_lock(&cq->mutex);
	cq->comp_events_completed += nevents;
	pthread_cond_signal(&cq->cond);
	pthread_mutex_unlock(&cq->mutex);
}

/*
 * Drops the queued, unread events of a destroyed CQ from its channel. Only
 * the pointer value is compared: the CQ itself is already freed.
 */
static void flush_cq_events(struct ibv_comp_channel *ch, const struct ibv_cq *cq)
{
	struct sodp_channel *c = to_chan(ch);
	struct cq_event *e, *tmp;

	pthread_mutex_lock(&c->lock);
	list_for_each_entry_safe (e, tmp, &c->pending, node) {
		if (e->cq == cq) {
			list_del_init(&e->node);
			free(e);
		}
	}
	pthread_mutex_unlock(&c->lock);
}

#define SODP_CQ_WC_FLAGS                                                        \
	(IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM | IBV_WC_EX_WITH_QP_NUM | \
	 IBV_WC_EX_WITH_SRC_QP | IBV_WC_EX_WITH_SLID | IBV_WC_EX_WITH_SL |      \
	 IBV_WC_EX_WITH_DLID_PATH_BITS)

static struct ibv_cq_ex *create_cq(struct ibv_context *ibctx, struct ibv_cq_init_attr_ex *attr)
{
	struct sodp_context *ctx;
	struct ibv_device_attr_ex dev;
	struct ibv_cq_ex *cq;

	if (!sodp_is_our_context(ibctx) || !attr) {
		errno = EINVAL;
		return NULL;
	}
	ctx = sodp_ctx(ibctx);
	if (attr->comp_mask & ~(IBV_CQ_INIT_ATTR_MASK_FLAGS | IBV_CQ_INIT_ATTR_MASK_PD)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) &&
	    (attr->flags & ~IBV_CREATE_CQ_ATTR_SINGLE_THREADED)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (attr->wc_flags & ~(uint64_t)SODP_CQ_WC_FLAGS) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	ctx->ops->query_device_ex(ctx, &dev);
	if (attr->cqe < 1 || attr->cqe > (uint32_t)dev.orig_attr.max_cqe) {
		errno = EINVAL;
		return NULL;
	}
	if (attr->comp_vector >= (uint32_t)ibctx->num_comp_vectors) {
		errno = EINVAL;
		return NULL;
	}
	if (attr->channel && attr->channel->context != ibctx) {
		errno = EINVAL;
		return NULL;
	}
	if (!ctx->ops->create_cq) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	cq = ctx->ops->create_cq(ctx, attr);
	if (!cq)
		return NULL;
	if (attr->channel) {
		pthread_mutex_lock(&ibctx->mutex);
		attr->channel->refcnt++;
		pthread_mutex_unlock(&ibctx->mutex);
	}
	return cq;
}

SODP_EXPORT struct ibv_cq *ibv_create_cq(struct ibv_context *ibctx, int cqe, void *cq_context,
					 struct ibv_comp_channel *channel, int comp_vector)
{
	struct ibv_cq_init_attr_ex attr = {
		.cqe = cqe < 0 ? 0 : (uint32_t)cqe,
		.cq_context = cq_context,
		.channel = channel,
		.comp_vector = comp_vector < 0 ? UINT32_MAX : (uint32_t)comp_vector,
		.wc_flags = IBV_WC_STANDARD_FLAGS,
	};
	struct ibv_cq_ex *cq = create_cq(ibctx, &attr);

	return cq ? ibv_cq_ex_to_cq(cq) : NULL;
}

struct ibv_cq_ex *sodp_create_cq_ex(struct ibv_context *ibctx, struct ibv_cq_init_attr_ex *attr)
{
	return create_cq(ibctx, attr);
}

SODP_EXPORT int ibv_resize_cq(struct ibv_cq *cq, int cqe)
{
	struct sodp_context *ctx;
	struct ibv_device_attr_ex dev;

	if (!cq || !sodp_is_our_context(cq->context))
		return EINVAL;
	ctx = sodp_ctx(cq->context);
	ctx->ops->query_device_ex(ctx, &dev);
	if (cqe < 1 || cqe > dev.orig_attr.max_cqe)
		return EINVAL;
	if (!ctx->ops->resize_cq)
		return EOPNOTSUPP;
	return sodp_ret(ctx->ops->resize_cq(cq, cqe));
}

SODP_EXPORT int ibv_destroy_cq(struct ibv_cq *cq)
{
	struct ibv_comp_channel *ch;
	struct sodp_context *ctx;
	struct ibv_context *ibctx;
	int ret;

	if (!cq || !sodp_is_our_context(cq->context))
		return EINVAL;
	ibctx = cq->context;
	ctx = sodp_ctx(ibctx);
	ch = cq->channel;
	if (!ctx->ops->destroy_cq)
		return EOPNOTSUPP;
	ret = ctx->ops->destroy_cq(cq);
	if (ret)
		return sodp_ret(ret);
	if (ch) {
		flush_cq_events(ch, cq);
		pthread_mutex_lock(&ibctx->mutex);
		ch->refcnt--;
		pthread_mutex_unlock(&ibctx->mutex);
	}
	return 0;
}
