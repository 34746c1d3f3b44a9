// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmirror.h"

#define PAGE	    4096UL
#define MAX_RETRIES 1000

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static bool dmirror_invalidate(struct sodp_interval_notifier *n, const struct sodp_notify_range *r,
			       unsigned long cur_seq)
{
	struct dmirror *d = container_of(n, struct dmirror, notifier);
	uintptr_t s = r->start > d->start ? r->start : d->start;
	uintptr_t e = r->end < d->end ? r->end : d->end;
	size_t i;

	pthread_mutex_lock(&d->lock);
	if (d->probe)
		d->probe(d, r);
	sodp_interval_set_seq(n, cur_seq);
	for (i = (s - d->start) / PAGE; s < e && i < d->npages && d->start + i * PAGE < e; i++) {
		/* A fork only revokes write access: the pages stay where they are. */
		if (r->event == SODP_EVENT_FORK)
			d->pt[i] &= ~SODP_PFN_WRITE;
		else
			d->pt[i] = 0;
	}
	d->invalidations++;
	d->events[r->event]++;
	d->last = *r;
	pthread_mutex_unlock(&d->lock);
	return true;
}

static const struct sodp_interval_notifier_ops dmirror_ops = {
	.invalidate = dmirror_invalidate,
};

int dmirror_init(struct dmirror *d, void *addr, size_t len)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->start = (uintptr_t)addr;
	d->end = d->start + len;
	d->npages = (len + PAGE - 1) / PAGE;
	d->owner = pthread_self();
	d->pt = calloc(d->npages ? d->npages : 1, sizeof(*d->pt));
	if (!d->pt)
		return -ENOMEM;
	return sodp_interval_notifier_insert(&d->notifier, d->start, len, &dmirror_ops);
}

void dmirror_fini(struct dmirror *d)
{
	sodp_interval_notifier_remove(&d->notifier);
	free(d->pt);
	d->pt = NULL;
	pthread_mutex_destroy(&d->lock);
}

static int do_range(struct dmirror *d, uintptr_t addr, size_t len, uint64_t flags, uint64_t *out)
{
	size_t n = len / PAGE, i;
	uint64_t *pfns = calloc(n ? n : 1, sizeof(*pfns));
	struct sodp_hmm_range range = {
		.notifier = &d->notifier,
		.start = addr,
		.end = addr + len,
		.hmm_pfns = pfns,
		.default_flags = flags,
	};
	int tries, ret = -EBUSY;

	if (!pfns)
		return -ENOMEM;
	for (tries = 0; tries < MAX_RETRIES; tries++) {
		range.notifier_seq = sodp_interval_read_begin(&d->notifier);
		memset(pfns, 0, n * sizeof(*pfns));
		ret = sodp_hmm_range_fault(&range);
		if (ret == -EBUSY)
			continue;
		if (ret)
			break;
		pthread_mutex_lock(&d->lock);
		if (sodp_interval_read_retry(&d->notifier, range.notifier_seq)) {
			pthread_mutex_unlock(&d->lock);
			ret = -EBUSY;
			continue;
		}
		for (i = 0; i < n; i++)
			d->pt[(addr - d->start) / PAGE + i] = pfns[i];
		pthread_mutex_unlock(&d->lock);
		if (out)
			memcpy(out, pfns, n * sizeof(*pfns));
		break;
	}
	free(pfns);
	return ret;
}

int dmirror_fault(struct dmirror *d, uintptr_t addr, size_t len, bool write)
{
	return do_range(d, addr, len, SODP_PFN_REQ_FAULT | (write ? SODP_PFN_REQ_WRITE : 0), NULL);
}

int dmirror_snapshot(struct dmirror *d, uintptr_t addr, size_t len, uint64_t *out)
{
	return do_range(d, addr, len, 0, out);
}

static int access_pages(struct dmirror *d, uintptr_t addr, void *buf, size_t len, bool write)
{
	size_t done = 0;
	int tries = 0, ret;

	while (done < len) {
		uintptr_t a = addr + done, page = a & ~(PAGE - 1);
		size_t n = PAGE - (a - page), idx = (page - d->start) / PAGE;
		uint64_t need = SODP_PFN_VALID | (write ? SODP_PFN_WRITE : 0);

		if (n > len - done)
			n = len - done;
		pthread_mutex_lock(&d->lock);
		if ((d->pt[idx] & need) == need) {
			/* The entry is valid under the lock: the page is mapped. */
			if (write)
				memcpy((void *)a, (const char *)buf + done, n);
			else
				memcpy((char *)buf + done, (const void *)a, n);
			pthread_mutex_unlock(&d->lock);
			done += n;
			tries = 0;
			continue;
		}
		pthread_mutex_unlock(&d->lock);
		if (++tries > MAX_RETRIES)
			return -EBUSY;
		ret = dmirror_fault(d, page, PAGE, write);
		if (ret)
			return ret;
	}
	return 0;
}

int dmirror_read(struct dmirror *d, uintptr_t addr, void *buf, size_t len)
{
	return access_pages(d, addr, buf, len, false);
}

int dmirror_write(struct dmirror *d, uintptr_t addr, const void *buf, size_t len)
{
	return access_pages(d, addr, (void *)buf, len, true);
}

unsigned long dmirror_invalidations(struct dmirror *d)
{
	unsigned long v;

	pthread_mutex_lock(&d->lock);
	v = d->invalidations;
	pthread_mutex_unlock(&d->lock);
	return v;
}

unsigned long dmirror_events(struct dmirror *d, enum sodp_event ev)
{
	unsigned long v;

	pthread_mutex_lock(&d->lock);
	v = d->events[ev];
	pthread_mutex_unlock(&d->lock);
	return v;
}

uint64_t dmirror_entry(struct dmirror *d, uintptr_t addr)
{
	uint64_t v;

	pthread_mutex_lock(&d->lock);
	v = d->pt[(addr - d->start) / PAGE];
	pthread_mutex_unlock(&d->lock);
	return v;
}
