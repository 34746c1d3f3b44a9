// SPDX-License-Identifier: MIT
/*
 * Counters: relaxed atomics, read without stopping anyone. The invalidation
 * latency (detection to the last callback returning) goes into a log-linear
 * histogram: 4 sub-buckets per power of two, so a percentile is within 25%.
 * Every file of lib/hmm counts; this one calls none of them.
 */
#include <errno.h>
#include <string.h>

#include "hmm_internal.h"

#define LAT_SUB	    4
#define LAT_BUCKETS (64 * LAT_SUB)

static struct {
	uint64_t events[SODP_HMM_ORIGIN_NR][SODP_EVENT_NR];
	uint64_t c[HMM_C_NR];
	uint64_t lat[LAT_BUCKETS];
	uint64_t lat_count;
	uint64_t lat_max;
} ctr;

static void add(uint64_t *p, uint64_t n)
{
	__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void hmm_count_event(enum sodp_hmm_origin origin, enum sodp_event event)
{
	add(&ctr.events[origin][event], 1);
}

void hmm_count(enum hmm_counter c, uint64_t n)
{
	add(&ctr.c[c], n);
}

static unsigned int lat_bucket(uint64_t ns)
{
	unsigned int log;

	if (ns < LAT_SUB)
		return (unsigned int)ns;
	log = 63 - (unsigned int)__builtin_clzll(ns);
	/* The two bits below the leading one pick the sub-bucket. */
	return log * LAT_SUB + (unsigned int)((ns >> (log - 2)) & (LAT_SUB - 1));
}

/* Upper edge of a bucket, the value a percentile reports. */
static uint64_t lat_bucket_top(unsigned int b)
{
	unsigned int log = b / LAT_SUB, sub = b % LAT_SUB;

	if (b < LAT_SUB)
		return b;
	return (1ULL << log) + ((uint64_t)(sub + 1) << (log - 2)) - 1;
}

void hmm_count_latency(uint64_t ns)
{
	uint64_t max = load(&ctr.lat_max);

	add(&ctr.lat[lat_bucket(ns)], 1);
	add(&ctr.lat_count, 1);
	while (ns > max && !__atomic_compare_exchange_n(&ctr.lat_max, &max, ns, false,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static uint64_t percentile(const uint64_t *hist, uint64_t total, unsigned int pct)
{
	uint64_t want = (total * pct + 99) / 100, seen = 0;
	unsigned int b;

	if (!total)
		return 0;
	for (b = 0; b < LAT_BUCKETS; b++) {
		seen += hist[b];
		if (seen >= want)
			return lat_bucket_top(b);
	}
	return lat_bucket_top(LAT_BUCKETS - 1);
}

SODP_EXPORT int sodp_hmm_get_counters(struct sodp_hmm_counters *c)
{
	uint64_t hist[LAT_BUCKETS], total = 0;
	unsigned int i, j;

	if (!c)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	for (i = 0; i < SODP_HMM_ORIGIN_NR; i++)
		for (j = 0; j < SODP_EVENT_NR; j++)
			c->events[i][j] = load(&ctr.events[i][j]);
	c->callbacks = load(&ctr.c[HMM_C_CALLBACKS]);
	c->uffd_events = load(&ctr.c[HMM_C_UFFD_EVENTS]);
	c->uffd_dedup = load(&ctr.c[HMM_C_UFFD_DEDUP]);
	c->hook_misses = load(&ctr.c[HMM_C_HOOK_MISSES]);
	c->faults = load(&ctr.c[HMM_C_FAULTS]);
	c->snapshots = load(&ctr.c[HMM_C_SNAPSHOTS]);
	c->pages_faulted = load(&ctr.c[HMM_C_PAGES_FAULTED]);
	c->ebusy = load(&ctr.c[HMM_C_EBUSY]);
	c->maps_reads = load(&ctr.c[HMM_C_MAPS_READS]);
	for (i = 0; i < LAT_BUCKETS; i++) {
		hist[i] = load(&ctr.lat[i]);
		total += hist[i];
	}
	c->inval_latency_count = total;
	c->inval_latency_p50_ns = percentile(hist, total, 50);
	c->inval_latency_p99_ns = percentile(hist, total, 99);
	c->inval_latency_max_ns = load(&ctr.lat_max);
	return 0;
}

SODP_EXPORT void sodp_hmm_reset_counters(void)
{
	unsigned int i, j;

	for (i = 0; i < SODP_HMM_ORIGIN_NR; i++)
		for (j = 0; j < SODP_EVENT_NR; j++)
			__atomic_store_n(&ctr.events[i][j], 0, __ATOMIC_RELAXED);
	for (i = 0; i < HMM_C_NR; i++)
		__atomic_store_n(&ctr.c[i], 0, __ATOMIC_RELAXED);
	for (i = 0; i < LAT_BUCKETS; i++)
		__atomic_store_n(&ctr.lat[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ctr.lat_count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ctr.lat_max, 0, __ATOMIC_RELAXED);
}
