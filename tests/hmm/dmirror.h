/* SPDX-License-Identifier: MIT */
/*
 * A test device that mirrors part of the address space the way a NIC would:
 * it keeps its own page table, filled through sodp_hmm_range_fault() under
 * the contract's sequence protocol, and reads/writes memory only through
 * entries of that table, under its lock (the kernel's test_hmm "dmirror").
 */
#ifndef SODP_TEST_DMIRROR_H
#define SODP_TEST_DMIRROR_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softodp/hmm.h>

struct dmirror;
typedef void (*dmirror_probe_fn)(struct dmirror *d, const struct sodp_notify_range *r);

struct dmirror {
	struct sodp_interval_notifier notifier;
	pthread_mutex_t lock; /* the update lock of the contract */
	uintptr_t start, end;
	size_t npages;
	uint64_t *pt; /* per page: the range-fault output, or 0 */
	/* Invalidation record, under lock. */
	unsigned long invalidations;
	unsigned long events[SODP_EVENT_NR];
	struct sodp_notify_range last;
	/* Called inside the callback before the table is torn down. */
	pthread_t owner; /* the thread that created the device */
	dmirror_probe_fn probe;
	void *probe_arg;
	int probe_result;
};

int dmirror_init(struct dmirror *d, void *addr, size_t len);
void dmirror_fini(struct dmirror *d);
/* Faults [addr, addr + len) into the table; 0 or the range-fault error. */
int dmirror_fault(struct dmirror *d, uintptr_t addr, size_t len, bool write);
/* Snapshots (no fault) into @out and the table. */
int dmirror_snapshot(struct dmirror *d, uintptr_t addr, size_t len, uint64_t *out);
/* Device access through the table, faulting missing entries. */
int dmirror_read(struct dmirror *d, uintptr_t addr, void *buf, size_t len);
int dmirror_write(struct dmirror *d, uintptr_t addr, const void *buf, size_t len);
unsigned long dmirror_invalidations(struct dmirror *d);
unsigned long dmirror_events(struct dmirror *d, enum sodp_event ev);
uint64_t dmirror_entry(struct dmirror *d, uintptr_t addr);

#endif
