// SPDX-License-Identifier: MIT
/*
 * fork: pthread_atfork handlers, installed with the first device.
 *
 * The rule for a child: it keeps none of the parent's devices. A kernel RDMA
 * device does not work in a fork child until the child opens it again, and
 * softodp gives the same answer, for a stronger reason: the parent's device
 * is a thread and sockets of the parent, and two processes cannot both run
 * it. Every device the child inherits becomes an orphan:
 *  - it has no engine thread (the thread is the parent's), so nothing in the
 *    child, the exit-time destructor included, stops or joins one;
 *  - the child closes its copies of the device's sockets and doorbell
 *    eventfd. They share open file descriptions with the parent's, so
 *    closing them leaves the parent's working, while keeping them would let
 *    the child read datagrams meant for the parent's engine, keep UDP 4791
 *    bound after the parent closed the device, keep the parent's link to
 *    the owner of the address (or its clients' links) open after the parent
 *    closed it, and ring the parent's doorbell from its own post_send. The copies live until the child
 *    handler has run, before fork() returns in the child: a parent that
 *    binds the address again right after fork waits until then;
 *  - it leaves the device list, so a device the child opens after fork is a
 *    new one that joins the address on its first QP as any other process
 *    does (share.c): a client of the parent while the parent owns it;
 *  - the inherited contexts and verbs objects may be released (destroy,
 *    dereg, close: they free the child's copies and touch nothing of the
 *    parent's); creating a QP on them fails with EIO; work posted on an
 *    inherited QP is never executed and never completes.
 * The child does not get the parent's packets, connections or completions:
 * a process that needs RDMA after fork opens a device in the child.
 *
 * prepare (parent, before fork): takes rxe_devs_lock, then every device's
 * dev->lock in list order (the lock order of rxe.h), with rxe_dev_lock() so
 * that a busy or spinning engine lets go between rounds. With them held no
 * engine is inside a round and no control verb is changing a table or an
 * object list, so the child copies consistent device state.
 *
 * parent: releases them.
 *
 * child: re-initialises every provider lock it can reach (the list lock,
 * each dev->lock, each QP's and SRQ's queue locks and each CQ's lock: a
 * parent thread in post_send or poll_cq at fork time leaves its copy held
 * forever), marks each device an orphan with no engine thread, closes the
 * device's descriptors and empties the device list. Queue and CQ locks are
 * not taken by prepare: the rings they guard are never run in the child, so
 * the child needs those locks free, not the rings consistent.
 *
 * lib/odp and lib/hmm have their own handlers, installed first
 * (sodp_odp_fork_init()), so that this prepare runs before theirs: the
 * engine calls into lib/hmm under dev->lock (snapshots and in-line faults),
 * so dev->lock must be taken before lib/hmm's locks, never after.
 */
#include <unistd.h>

#include "rxe.h"
#include "log.h"

static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	struct rxe_dev *dev;

	pthread_mutex_lock(&rxe_devs_lock);
	list_for_each_entry (dev, &rxe_devs, node)
		rxe_dev_lock(dev);
}

static void fork_parent(void)
{
	struct rxe_dev *dev;

	list_for_each_entry (dev, &rxe_devs, node)
		pthread_mutex_unlock(&dev->lock);
	pthread_mutex_unlock(&rxe_devs_lock);
}

/* The child's copy of @dev: free locks, no engine, no descriptors. */
static void fork_child_orphan(struct rxe_dev *dev)
{
	struct rxe_qp *qp;
	struct rxe_srq *srq;
	struct rxe_cq *cq;

	pthread_mutex_init(&dev->lock, NULL);
	dev->lock_waiters = 0;
	list_for_each_entry (qp, &dev->qps, node) {
		pthread_mutex_init(&qp->sq.lock, NULL);
		pthread_mutex_init(&qp->rq.lock, NULL);
	}
	list_for_each_entry (srq, &dev->srqs, node)
		pthread_mutex_init(&srq->rq.lock, NULL);
	list_for_each_entry (cq, &dev->cqs, node)
		pthread_mutex_init(&cq->lock, NULL);

	dev->orphan = true;
	dev->thread_started = false;
	/* post_send rings the doorbell only while the engine sleeps */
	dev->sleeping = 0;
	rxe_net_close(dev);
	if (dev->efd >= 0)
		close(dev->efd);
	dev->efd = -1;
	if (dev->tfd >= 0)
		close(dev->tfd);
	dev->tfd = -1;
}

static void fork_child(void)
{
	struct rxe_dev *dev, *tmp;

	list_for_each_entry_safe (dev, tmp, &rxe_devs, node) {
		fork_child_orphan(dev);
		list_del_init(&dev->node);
	}
	pthread_mutex_init(&rxe_devs_lock, NULL);
}

static void install(void)
{
	sodp_odp_fork_init();
	if (pthread_atfork(fork_prepare, fork_parent, fork_child))
		sodp_warn("rxe: pthread_atfork failed: a fork child may hang at exit\n");
}

/* Called before the first device is created, never under rxe_devs_lock. */
void rxe_fork_install(void)
{
	pthread_once(&install_once, install);
}
