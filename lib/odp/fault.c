// SPDX-License-Identifier: MIT
/*
 * Faults: the synchronous fault of a window around a miss, the fault worker
 * that resolves misses off the NIC's path, and prefetch.
 *
 * The window: a miss faults what the access still needs, up to
 * SODP_ODP_PREFETCH_MAX from the missing page, so a message takes one fault
 * rather than one per page; where the CPU maps the memory with huge pages,
 * faulting one page brings in its whole order-aligned block, which the MTT
 * then holds as one entry. Streams are faulted further ahead by the NIC's
 * sequential prefetch (providers/rxe/odp.c), not here: rounding every miss
 * up to megabytes would make sparse accesses allocate and zero far more
 * memory than they touch. The window is best effort: if any of it cannot
 * be faulted (a hole after the buffer, a read-only neighbour), only the
 * page that missed is faulted, and its error is the answer.
 *
 * The workers: two threads per process, started with the first submission.
 * One takes the faults an access waits for, in order; the other the
 * prefetches (SODP_FAULT_BACKGROUND), so that a miss never waits behind
 * megabytes being faulted ahead, which the kernel may take tens of
 * milliseconds to populate. A job is embedded by its user (struct sodp_fault)
 * and holds a reference on its umem while queued or running, so a umem can
 * be released with a fault in flight. The worker calls the job's done
 * callback without holding its queue lock; sodp_fault_cancel() waits until
 * that callback has returned, so the user can free the job's container
 * right after cancelling. Jobs submitted before a fork() are not run in the
 * child.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "odp_internal.h"
#include "log.h"

/*
 * The worker runs at a lower priority than the threads that move data: on
 * a machine with fewer cores than busy threads, zeroing pages for one cold
 * buffer must not take CPU time from the engines of every other QP.
 */
#define ODP_WORKER_NICE 0

#define ODP_FAULT_PREFETCH (1U << 30) /* counted as a prefetch, not a fault */
#define ODP_FAULT_REAP	   (1U << 31) /* free the emptied children of an implicit umem */

enum { FAULT_IDLE, FAULT_QUEUED, FAULT_RUNNING };
enum { WORKER_DEMAND, WORKER_BACKGROUND, WORKER_NR };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t queued;
	pthread_cond_t finished;
	struct list_head queue[WORKER_NR]; /* faults an access waits for; prefetches */
	/* running, until its done callback returned */
	struct sodp_fault *current[WORKER_NR];
	bool started[WORKER_NR];
	unsigned int gen; /* bumped in a fork child: older jobs are gone */
} worker = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.queued = PTHREAD_COND_INITIALIZER,
	.finished = PTHREAD_COND_INITIALIZER,
	.queue = {LIST_HEAD_INIT(worker.queue[WORKER_DEMAND]),
		  LIST_HEAD_INIT(worker.queue[WORKER_BACKGROUND])},
};

int odp_fault_one(struct sodp_umem *u, uintptr_t va, size_t len, unsigned int flags)
{
	uintptr_t s, e, ws, we;
	uint64_t req = 0;
	int ret;

	if (va < u->start || va >= u->end)
		return -EFAULT;
	s = odp_page_down(va);
	if (odp_is_revoked(u, s, s + ODP_PAGE_SIZE))
		return -EFAULT; /* a pinned registration whose memory went away */
	e = SODP_MIN(odp_page_up(va + SODP_MAX(len, (size_t)1)), u->end);
	if (e <= s)
		e = u->end;
	if (!(flags & SODP_FAULT_SNAPSHOT))
		req = SODP_PFN_REQ_FAULT | (flags & SODP_FAULT_WRITE ? SODP_PFN_REQ_WRITE : 0);
	if (!(flags & SODP_FAULT_AHEAD))
		return odp_fault_range(u, s, e, req);
	ws = s;
	we = SODP_MIN(e, s + SODP_ODP_PREFETCH_MAX);
	ret = odp_fault_range(u, ws, we, req);
	if (ret != -EFAULT && ret != -EPERM)
		return ret;
	return odp_fault_range(u, s, s + ODP_PAGE_SIZE, req);
}

int sodp_umem_fault(struct sodp_umem *u, uintptr_t va, size_t len, unsigned int flags)
{
	bool counted =
		!(flags & (SODP_FAULT_SNAPSHOT | ODP_FAULT_PREFETCH | SODP_FAULT_BACKGROUND));
	int ret = 0;

	if (counted)
		odp_count(u, faults, 1);
	else if ((flags & SODP_FAULT_BACKGROUND) && !(flags & ODP_FAULT_PREFETCH))
		odp_count(u, prefetches, 1); /* the NIC's own, ahead of a stream */
	if (!u->implicit) {
		ret = odp_fault_one(u, va, len, flags);
	} else {
		/* child by child; the window stays inside the first one */
		do {
			size_t n = sodp_umem_chunk(u, va, SODP_MAX(len, (size_t)1));
			/* a snapshot finds nothing where no child was made yet */
			struct sodp_umem *c =
				odp_implicit_child_get(u, va, !(flags & SODP_FAULT_SNAPSHOT));

			if (!c) {
				ret = flags & SODP_FAULT_SNAPSHOT ? 0 : -EFAULT;
				break;
			}
			ret = odp_fault_one(c, va, n, flags);
			odp_implicit_child_put(c);
			va += n;
			len -= SODP_MIN(len, n);
		} while (!ret && len && !(flags & SODP_FAULT_AHEAD));
	}
	if (counted) {
		if (ret)
			odp_count(u, fault_errors, 1);
		else
			odp_count(u, faults_handled, 1);
	}
	return ret;
}

/* ---- the worker ---- */

static void *odp_worker(void *arg)
{
	int which = (int)(intptr_t)arg;
	struct list_head *queue = &worker.queue[which];

	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), ODP_WORKER_NICE))
		sodp_dbg("odp: fault worker keeps its priority: %d\n", errno);
	pthread_mutex_lock(&worker.lock);
	for (;;) {
		void (*done)(struct sodp_fault * f, int result);
		struct sodp_fault *f;
		struct sodp_umem *u;
		unsigned int flags;
		uintptr_t va;
		size_t len;
		int ret = 0;

		while (list_empty(queue))
			pthread_cond_wait(&worker.queued, &worker.lock);
		f = list_first_entry(queue, struct sodp_fault, node);
		list_del_init(&f->node);
		/* idle again: the job may be submitted anew while it runs, so
		 * it runs on a copy of what was asked */
		f->state = FAULT_IDLE;
		worker.current[which] = f;
		u = f->umem;
		va = f->va;
		len = f->len;
		flags = f->flags;
		done = f->done;
		pthread_mutex_unlock(&worker.lock);

		if (flags & ODP_FAULT_REAP)
			odp_implicit_reap(u);
		else
			ret = sodp_umem_fault(u, va, len, flags);
		if (ret && __atomic_load_n(&u->dead, __ATOMIC_ACQUIRE))
			ret = -ESTALE;
		done(f, ret);
		odp_umem_put(u);

		pthread_mutex_lock(&worker.lock);
		worker.current[which] = NULL;
		pthread_cond_broadcast(&worker.finished);
	}
	return NULL;
}

/* Starts the workers not running yet; under worker.lock. */
static int odp_worker_start(void)
{
	pthread_attr_t attr;
	pthread_t t;
	int ret = 0;
	intptr_t i;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (i = 0; i < WORKER_NR && !ret; i++) {
		if (worker.started[i])
			continue;
		ret = pthread_create(&t, &attr, odp_worker, (void *)i);
		worker.started[i] = !ret;
	}
	pthread_attr_destroy(&attr);
	return -ret;
}

void sodp_fault_init(struct sodp_fault *f, void (*done)(struct sodp_fault *f, int result))
{
	list_init(&f->node);
	f->umem = NULL;
	f->state = FAULT_IDLE;
	f->done = done;
}

int sodp_fault_submit(struct sodp_fault *f, struct sodp_umem *u, uintptr_t va, size_t len,
		      unsigned int flags)
{
	int ret;

	pthread_mutex_lock(&worker.lock);
	if (f->state == FAULT_QUEUED && f->gen == worker.gen) {
		pthread_mutex_unlock(&worker.lock);
		return -EBUSY;
	}
	ret = odp_worker_start();
	if (ret) {
		pthread_mutex_unlock(&worker.lock);
		return ret;
	}
	odp_umem_get_ref(u);
	f->umem = u;
	f->va = va;
	f->len = len;
	f->flags = flags;
	f->gen = worker.gen;
	f->state = FAULT_QUEUED;
	list_add_tail(
		&f->node,
		&worker.queue[flags & (SODP_FAULT_BACKGROUND | ODP_FAULT_REAP) ? WORKER_BACKGROUND
									       : WORKER_DEMAND]);
	pthread_cond_broadcast(&worker.queued);
	pthread_mutex_unlock(&worker.lock);
	return 0;
}

void sodp_fault_cancel(struct sodp_fault *f)
{
	struct sodp_umem *drop = NULL;

	pthread_mutex_lock(&worker.lock);
	if (f->state == FAULT_QUEUED && f->gen == worker.gen) {
		list_del_init(&f->node);
		drop = f->umem;
	}
	f->state = FAULT_IDLE;
	while (worker.current[WORKER_DEMAND] == f || worker.current[WORKER_BACKGROUND] == f)
		pthread_cond_wait(&worker.finished, &worker.lock);
	pthread_mutex_unlock(&worker.lock);
	if (drop)
		odp_umem_put(drop);
}

/* In a fork child: the worker thread is the parent's. */
void odp_worker_fork_child(void)
{
	pthread_mutex_init(&worker.lock, NULL);
	pthread_cond_init(&worker.queued, NULL);
	pthread_cond_init(&worker.finished, NULL);
	list_init(&worker.queue[WORKER_DEMAND]);
	list_init(&worker.queue[WORKER_BACKGROUND]);
	worker.current[WORKER_DEMAND] = worker.current[WORKER_BACKGROUND] = NULL;
	worker.started[WORKER_DEMAND] = worker.started[WORKER_BACKGROUND] = false;
	worker.gen++;
}

void odp_schedule_reap(struct sodp_umem *p)
{
	if (sodp_fault_submit(&p->reap, p, 0, 0, ODP_FAULT_REAP) == -EAGAIN)
		sodp_dbg("odp: cannot start the fault worker to free implicit children\n");
}

/* ---- prefetch ---- */

static void odp_prefetch_done(struct sodp_fault *f, int result)
{
	free(f);
}

int sodp_umem_prefetch(struct sodp_umem *u, uintptr_t va, size_t len, bool write, bool no_fault,
		       bool sync)
{
	unsigned int flags = ODP_FAULT_PREFETCH | (write ? SODP_FAULT_WRITE : 0) |
			     (no_fault ? SODP_FAULT_SNAPSHOT : 0) |
			     (sync ? 0 : SODP_FAULT_BACKGROUND);
	struct sodp_fault *f;
	int ret;

	odp_count(u, prefetches, 1);
	if (sync) {
		ret = sodp_umem_fault(u, va, len, flags);
		return no_fault ? 0 : ret;
	}
	f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	sodp_fault_init(f, odp_prefetch_done);
	ret = sodp_fault_submit(f, u, va, len, flags);
	if (ret)
		free(f);
	return ret;
}
