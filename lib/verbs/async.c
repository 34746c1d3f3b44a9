// SPDX-License-Identifier: MIT
/*
 * Async events. The provider queues events from any thread; the application
 * reads them with ibv_get_async_event(), which blocks on the context's
 * async_fd unless the application made that descriptor non-blocking, as it
 * would with the kernel's uverbs file. The descriptor is the read end of a
 * pipe carrying one byte per queued event, so poll()/epoll work on it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "verbs.h"

/* Events beyond this many unread are dropped and logged, never blocking the NIC. */
#define SODP_MAX_ASYNC_EVENTS 4096

struct async_entry {
	struct list_head node;
	struct ibv_async_event ev;
};

int sodp_async_init(struct sodp_context *ctx)
{
	struct sodp_front *f = sodp_front_of(ctx);
	int fds[2];

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	pthread_mutex_init(&f->async_lock, NULL);
	list_init(&f->async_events);
	f->async_wfd = fds[1];
	ctx->vctx.context.async_fd = fds[0];
	return 0;
}

void sodp_async_fini(struct sodp_context *ctx)
{
	struct sodp_front *f = sodp_front_of(ctx);
	struct async_entry *e, *tmp;

	list_for_each_entry_safe (e, tmp, &f->async_events, node)
		free(e);
	close(f->async_wfd);
	close(ctx->vctx.context.async_fd);
	pthread_mutex_destroy(&f->async_lock);
}

void sodp_async_post(struct sodp_context *ctx, const struct ibv_async_event *ev)
{
	struct sodp_front *f = sodp_front_of(ctx);
	struct async_entry *e;
	char one = 1;

	pthread_mutex_lock(&f->async_lock);
	if (f->async_queued >= SODP_MAX_ASYNC_EVENTS) {
		pthread_mutex_unlock(&f->async_lock);
		sodp_warn("async event %s dropped: %u events unread",
			  ibv_event_type_str(ev->event_type), f->async_queued);
		return;
	}
	e = malloc(sizeof(*e));
	if (!e) {
		pthread_mutex_unlock(&f->async_lock);
		sodp_warn("async event %s dropped: out of memory",
			  ibv_event_type_str(ev->event_type));
		return;
	}
	e->ev = *ev;
	list_add_tail(&e->node, &f->async_events);
	f->async_queued++;
	if (write(f->async_wfd, &one, 1) != 1)
		sodp_warn("async event pipe is full");
	pthread_mutex_unlock(&f->async_lock);
}

SODP_EXPORT int ibv_get_async_event(struct ibv_context *ibctx, struct ibv_async_event *event)
{
	struct sodp_context *ctx;
	struct sodp_front *f;
	struct async_entry *e;
	char one;
	ssize_t n;

	if (!sodp_is_our_context(ibctx) || !event) {
		errno = EINVAL;
		return -1;
	}
	ctx = sodp_ctx(ibctx);
	f = sodp_front_of(ctx);
	do {
		n = read(ibctx->async_fd, &one, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		return -1; /* errno from read(), e.g. EAGAIN when non-blocking */

	pthread_mutex_lock(&f->async_lock);
	if (list_empty(&f->async_events)) {
		pthread_mutex_unlock(&f->async_lock);
		errno = EAGAIN;
		return -1;
	}
	e = list_first_entry(&f->async_events, struct async_entry, node);
	list_del_init(&e->node);
	f->async_queued--;
	pthread_mutex_unlock(&f->async_lock);
	*event = e->ev;
	free(e);
	return 0;
}

SODP_EXPORT void ibv_ack_async_event(struct ibv_async_event *event)
{
	struct ibv_cq *cq;

	if (!event)
		return;
	/*
	 * Destroy calls do not wait for acknowledgements: the object memory is
	 * the provider's and a destroyed object is never reported again. The
	 * counters are kept for applications that read them.
	 */
	switch (event->event_type) {
	case IBV_EVENT_CQ_ERR:
		cq = event->element.cq;
		pthread_mutex_lock(&cq->mutex);
		cq->async_events_completed++;
		pthread_cond_signal(&cq->cond);
		pthread_mutex_unlock(&cq->mutex);
		break;
	default:
		break;
	}
}
