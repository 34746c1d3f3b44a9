// SPDX-License-Identifier: MIT
/*
 * The provider's part of the stat segment (providers/stat_rec.h): a
 * snapshot of every device of the process, its counters, QPs and MRs.
 *
 * It runs on the front's publisher, a few times a second, never on the data
 * path: each device is read under rxe_dev_lock() (the engine steps aside
 * for one round), in the lock order of rxe.h (rxe_devs_lock, then
 * dev->lock, then the umem locks the MTT census takes). Its cost is that
 * of the census: one visit per valid 4 KiB page of the listed MRs, none per
 * large entry.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "rxe.h"
#include "stat_rec.h"

_Static_assert(RXE_DROP_NR <= SODP_STAT_NR_DROPS, "a drop reason without a stat slot");
_Static_assert(SODP_MR_NR_EVENTS == SODP_STAT_NR_EVENTS, "an event without a stat slot");

static void stat_addr(const struct rxe_dev *dev, char *buf, size_t len)
{
	const struct sockaddr_storage *ss = &dev->addr;
	const void *a = ss->ss_family == AF_INET6
				? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
				: (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

static void stat_qps(struct rxe_dev *dev, struct sodp_stat_dev *out)
{
	struct rxe_qp *qp;

	list_for_each_entry (qp, &dev->qps, node) {
		struct sodp_stat_qp *q;

		if (out->nr_qps++ >= SODP_STAT_MAX_QPS)
			continue;
		q = &out->qps[out->nr_qps - 1];
		q->qpn = qp->ibqp.qp_base.qp_num;
		q->type = qp->ibqp.qp_base.qp_type;
		q->state = qp->state;
		q->sq_psn = qp->req.psn;
		q->rq_psn = qp->resp.psn;
		q->dest_qpn = qp->ibqp.qp_base.qp_type == IBV_QPT_UD ? 0 : qp->attr.dest_qp_num;
	}
}

static void stat_add_counters(struct sodp_stat_dev *out, const struct sodp_mr_stats *st)
{
	out->faults += st->faults;
	out->faults_handled += st->faults_handled;
	out->fault_errors += st->fault_errors;
	out->pages_faulted += st->pages_faulted;
	out->rnr_naks += st->rnr_naks;
	out->prefetches += st->prefetches;
	for (int e = 0; e < SODP_STAT_NR_EVENTS; e++)
		out->invalidations[e] += st->invalidations[e];
}

static void stat_mrs(struct rxe_dev *dev, struct sodp_stat_dev *out)
{
	struct sodp_mr_stats st;
	uint32_t i;

	stat_add_counters(out, &dev->mr_retired);
	for (i = 1; i < dev->nr_mr; i++) {
		struct rxe_mr *mr = dev->mr_tbl[i];
		struct sodp_stat_mr *m;

		if (!mr)
			continue;
		memset(&st, 0, sizeof(st));
		sodp_umem_stats(mr->umem, mr->va, mr->length, &st);
		stat_add_counters(out, &st);
		for (int o = 0; o < SODP_STAT_NR_ORDERS; o++)
			out->entries[o] += st.entries_by_order[SODP_STAT_ORDER(o)];
		if (out->nr_mrs++ >= SODP_STAT_MAX_MRS)
			continue;
		m = &out->mrs[out->nr_mrs - 1];
		m->lkey = mr->ibmr.lkey;
		m->iova = mr->iova;
		m->length = mr->length;
		m->kind = st.implicit ? SODP_STAT_MR_IMPLICIT
			  : st.odp    ? SODP_STAT_MR_ODP
				      : SODP_STAT_MR_PINNED;
		for (int o = 0; o < SODP_STAT_NR_ORDERS; o++)
			m->entries[o] = st.entries_by_order[SODP_STAT_ORDER(o)];
		m->faults = st.faults;
		m->pages_faulted = st.pages_faulted;
		m->rnr_naks = st.rnr_naks;
		for (int e = 0; e < SODP_STAT_NR_EVENTS; e++)
			m->invalidations += st.invalidations[e];
	}
}

/*
 * rxe_stat_snapshot() - the devices of this process, into @out
 * @out: up to @max records, zeroed by the caller (their seq is not touched)
 *
 * Returns how many records were filled. Devices inherited through fork()
 * are not in the list (fork.c), so a child reports only its own.
 */
unsigned int rxe_stat_snapshot(struct sodp_stat_dev *out, unsigned int max)
{
	struct rxe_dev *dev;
	unsigned int n = 0;

	pthread_mutex_lock(&rxe_devs_lock);
	list_for_each_entry (dev, &rxe_devs, node) {
		struct sodp_stat_dev *d = &out[n];

		if (n == max)
			break;
		if (dev->orphan)
			continue;
		snprintf(d->name, sizeof(d->name), "%s", dev->name);
		stat_addr(dev, d->addr, sizeof(d->addr));
		/* one hold of the lock per device: the engine steps aside once */
		rxe_dev_lock(dev);
		d->rx_packets = dev->rx_pkts;
		d->tx_packets = dev->tx_pkts;
		for (int i = 0; i < RXE_DROP_NR; i++) {
			d->drops[i] = dev->rx_drops[i];
			d->rx_dropped += dev->rx_drops[i];
		}
		stat_qps(dev, d);
		stat_mrs(dev, d);
		pthread_mutex_unlock(&dev->lock);
		n++;
	}
	pthread_mutex_unlock(&rxe_devs_lock);
	return n;
}
