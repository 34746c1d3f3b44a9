/* SPDX-License-Identifier: MIT */
/*
 * The one clock of softodp: CLOCK_MONOTONIC in nanoseconds. Timers,
 * timeouts and latencies are differences of its values; it never goes back
 * and does not count wall-clock steps. The engine's timerfd uses the same
 * clock, so a deadline computed from it can arm that timer directly.
 */
#ifndef SODP_UTIL_CLOCK_H
#define SODP_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t sodp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
