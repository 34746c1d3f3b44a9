// SPDX-License-Identifier: MIT
/*
 * What a page missing from an MR's translation means for the NIC.
 *
 * First, in line and cheap: a no-fault snapshot of the window around the
 * miss takes what the CPU already maps (memory touched after registration,
 * or refaulted by the CPU after an invalidation), and the access is retried.
 * Otherwise the page must be faulted, which may mean allocating and zeroing
 * megabytes; that never happens on the engine's path for RC:
 *  - the responder answers the request with an RNR NAK (the requester
 *    retries after min_rnr_timer) and queues the fault on lib/odp's fault
 *    worker; a READ response stops its QP's response queue until the fault
 *    is done, with no NAK;
 *  - the requester parks the QP until the fault is done;
 *  - when the fault fails, the next miss of that side of the QP, if it is
 *    in the page that failed, takes the error: remote access error NAK,
 *    or a local protection error;
 *  - a WRITE that continues the previous one on its QP (a stream) faults
 *    up to RXE_STREAM_LEAD ahead of itself.
 * Each QP has one fault in flight per side (qp->req_fault, qp->resp_fault),
 * plus a best-effort prefetch ahead of a WRITE stream (qp->ahead_fault)
 * whose failures are not recorded. Where the wire offers no way to wait (UD
 * and UC receives, READ responses and atomic ACKs arriving at the
 * requester) the fault is resolved in line.
 *
 * The worker's completion callback only stores the result and rings the
 * device's doorbell: it takes no lock, so a QP can cancel its faults while
 * holding dev->lock.
 */
#include <errno.h>

#include "rxe.h"
#include "log.h"

/*
 * How far a WRITE stream is faulted ahead of itself: twice the fault
 * window, so that the worker is done before the stream arrives even when it
 * had to wait for a CPU. A stream that catches up with its prefetch gets an
 * RNR NAK, and the requester then sends again everything it had in flight.
 */
#define RXE_STREAM_LEAD (4 * SODP_ODP_PREFETCH_MAX)

static void rxe_qp_fault_done(struct sodp_fault *f, int result)
{
	struct rxe_qp_fault *qf = container_of(f, struct rxe_qp_fault, f);

	/* a mapping that kept changing is retried, not an error; a released
	 * registration is nobody's error */
	if (qf->keep_err && result != -EAGAIN && result != -ESTALE)
		__atomic_store_n(&qf->err, result, __ATOMIC_RELEASE);
	__atomic_store_n(&qf->pending, 0, __ATOMIC_RELEASE);
	rxe_doorbell(qf->dev);
}

static void rxe_qp_fault_one_init(struct rxe_qp *qp, struct rxe_qp_fault *qf, bool keep_err)
{
	sodp_fault_init(&qf->f, rxe_qp_fault_done);
	qf->dev = qp->dev;
	qf->pending = 0;
	qf->err = 0;
	qf->keep_err = keep_err;
}

void rxe_qp_fault_init(struct rxe_qp *qp)
{
	rxe_qp_fault_one_init(qp, &qp->req_fault, true);
	rxe_qp_fault_one_init(qp, &qp->resp_fault, true);
	rxe_qp_fault_one_init(qp, &qp->ahead_fault, false);
}

/* Waits for the QP's faults; afterwards no callback touches it. */
void rxe_qp_fault_cancel(struct rxe_qp *qp)
{
	sodp_fault_cancel(&qp->req_fault.f);
	sodp_fault_cancel(&qp->resp_fault.f);
	sodp_fault_cancel(&qp->ahead_fault.f);
	qp->req_fault.pending = qp->resp_fault.pending = qp->ahead_fault.pending = 0;
	qp->req_fault.err = qp->resp_fault.err = 0;
}

bool rxe_qp_fault_pending(struct rxe_qp_fault *qf)
{
	return __atomic_load_n(&qf->pending, __ATOMIC_ACQUIRE);
}

enum rxe_miss_action {
	RXE_MISS_RETRY, /* the page is mapped now: access again */
	RXE_MISS_WAIT,	/* a fault is on its way: park (requester) or RNR NAK (responder) */
	RXE_MISS_ERROR, /* the memory cannot be made accessible */
};

static unsigned int rxe_miss_flags(const struct rxe_miss *miss)
{
	return (miss->write ? SODP_FAULT_WRITE : 0) | SODP_FAULT_AHEAD;
}

/*
 * Takes what is already mapped where the access missed; true if all of
 * what it needs (in one umem chunk) is valid now. Checking less would retry
 * an access that still misses further on.
 */
static bool rxe_miss_snapshot(struct rxe_miss *miss)
{
	struct sodp_umem_map m;
	size_t len = SODP_MIN(miss->len ? miss->len : 1, SODP_ODP_PREFETCH_MAX);

	len = sodp_umem_chunk(miss->umem, miss->va, len);
	sodp_umem_fault(miss->umem, miss->va, len, SODP_FAULT_SNAPSHOT);
	if (sodp_umem_map_lock(miss->umem, miss->va, len, miss->write, &m))
		return false;
	sodp_umem_unlock(&m);
	return true;
}

/* Resolves @miss in the calling (engine) thread. */
static enum rxe_miss_action rxe_miss_inline(struct rxe_miss *miss)
{
	if (rxe_miss_snapshot(miss))
		return RXE_MISS_RETRY;
	return sodp_umem_fault(miss->umem, miss->va, miss->len, rxe_miss_flags(miss))
		       ? RXE_MISS_ERROR
		       : RXE_MISS_RETRY;
}

/*
 * Whether the failure of @qf's last fault is @miss's: the fault failed on
 * its first page (the rest of its window is best effort), so an access of
 * that page of that registration fails. Any other miss (the failed access
 * was given up, or completed through pages mapped meanwhile) faults anew.
 */
static bool rxe_fault_failed_at(const struct rxe_qp_fault *qf, const struct rxe_miss *miss)
{
	const struct sodp_fault *f = &qf->f;

	return f->umem == miss->umem && miss->va >= f->va &&
	       miss->va < f->va + SODP_MAX(f->len, (size_t)1);
}

/* Resolves @miss for one side of a QP, off the engine's path if need be. */
static enum rxe_miss_action rxe_miss_async(struct rxe_qp_fault *qf, struct rxe_miss *miss)
{
	if (rxe_qp_fault_pending(qf))
		return RXE_MISS_WAIT;
	if (__atomic_exchange_n(&qf->err, 0, __ATOMIC_ACQ_REL) && rxe_fault_failed_at(qf, miss))
		return RXE_MISS_ERROR;
	if (rxe_miss_snapshot(miss))
		return RXE_MISS_RETRY;
	__atomic_store_n(&qf->pending, 1, __ATOMIC_RELEASE);
	if (sodp_fault_submit(&qf->f, miss->umem, miss->va, miss->len, rxe_miss_flags(miss))) {
		__atomic_store_n(&qf->pending, 0, __ATOMIC_RELEASE);
		return rxe_miss_inline(miss);
	}
	return RXE_MISS_WAIT;
}

/**
 * rxe_access() - run an access to registered memory until it stops missing
 * @qf: the side of the QP that waits for a fault, or NULL to fault in line
 * @fn: the access; 0, an error, or -EAGAIN with *miss filled in
 * @arg: its argument
 * @miss: where the last miss is left
 *
 * Return: what @fn returned; -EAGAIN when the access must wait for @qf's
 * fault (or lost too many races with invalidations: try again later);
 * -EFAULT when the missing memory cannot be made accessible.
 */
int rxe_access(struct rxe_qp_fault *qf, int (*fn)(void *arg, struct rxe_miss *miss), void *arg,
	       struct rxe_miss *miss)
{
	int i, ret = -EAGAIN;

	for (i = 0; i < RXE_MISS_TRIES; i++) {
		ret = fn(arg, miss);
		if (ret != -EAGAIN)
			return ret;
		switch (qf ? rxe_miss_async(qf, miss) : rxe_miss_inline(miss)) {
		case RXE_MISS_RETRY:
			continue;
		case RXE_MISS_WAIT:
			return -EAGAIN;
		case RXE_MISS_ERROR:
			return -EFAULT;
		}
	}
	return -EAGAIN;
}

/*
 * A WRITE of [va, va + len) into @mr started. If it continues the QP's
 * previous one (a stream), the first part of the RXE_STREAM_LEAD after it
 * that is not mapped yet is faulted now, one fault window at a time in the
 * background, so that the stream finds it ready; a WRITE elsewhere
 * prefetches nothing.
 */
void rxe_prefetch_ahead(struct rxe_qp *qp, struct rxe_mr *mr, uintptr_t va, size_t len)
{
	uintptr_t next = va + len, end, at;
	bool stream = va == qp->resp.write_next;

	qp->resp.write_next = next;
	if (!stream || !sodp_umem_is_odp(mr->umem) || rxe_qp_fault_pending(&qp->ahead_fault))
		return;
	if (next < va || next >= mr->va + mr->length)
		return;
	end = next + SODP_MIN(mr->va + mr->length - next, (uint64_t)RXE_STREAM_LEAD);
	for (at = next; at < end; at += SODP_ODP_PREFETCH_MAX)
		if (!rxe_mr_mapped(mr, at, 1, true))
			break;
	if (at >= end)
		return;
	__atomic_store_n(&qp->ahead_fault.pending, 1, __ATOMIC_RELEASE);
	if (sodp_fault_submit(&qp->ahead_fault.f, mr->umem, at,
			      SODP_MIN(end - at, SODP_ODP_PREFETCH_MAX),
			      SODP_FAULT_WRITE | SODP_FAULT_BACKGROUND))
		__atomic_store_n(&qp->ahead_fault.pending, 0, __ATOMIC_RELEASE);
}
