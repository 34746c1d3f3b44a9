/* SPDX-License-Identifier: MIT */
/*
 * The stat segment: what a process with a softodp device open publishes for
 * `softodp stat` (tools/softodp.c) to read, in a file of its own,
 * /dev/shm/softodp-<euid>-<pid> (lib/verbs/stat.c makes and removes it).
 *
 * The layout is a contract between the library and the reader of the same
 * version: every field is a uint64_t or a char array of a multiple of eight
 * bytes, so that both sides copy records word by word with atomic accesses.
 *
 * Torn reads: the header and every device record carry a sequence count,
 * odd while the publisher writes the record. A reader copies the record
 * between two reads of its count and retries until both are the same even
 * number; the publisher never waits for a reader, and takes no lock a
 * reader could hold.
 *
 * Liveness: the header names the process and its start time (field 22 of
 * /proc/<pid>/stat); a segment whose process is gone, or whose PID now
 * belongs to a process started at another time, is stale and a reader
 * removes it.
 */
#ifndef SODP_STAT_REC_H
#define SODP_STAT_REC_H

#include <stddef.h>
#include <stdint.h>

#define SODP_STAT_MAGIC	      0x3154415453504f53ULL /* "SOPSTAT1" */
#define SODP_STAT_VERSION     1
#define SODP_STAT_PREFIX      "softodp-"
#define SODP_STAT_DIR	      "/dev/shm"
#define SODP_STAT_MAX_DEVS    4
#define SODP_STAT_MAX_QPS     64 /* listed per device; the count says how many exist */
#define SODP_STAT_MAX_MRS     64
#define SODP_STAT_NAME_LEN    64
#define SODP_STAT_ADDR_LEN    48 /* an IPv6 address in text */
#define SODP_STAT_COMM_LEN    16
#define SODP_STAT_NR_DROPS    16
#define SODP_STAT_NR_ORDERS   3 /* MTT entries of 4 KiB, 2 MiB and 1 GiB */
#define SODP_STAT_NR_EVENTS   5 /* enum sodp_event of <softodp/hmm.h> */
#define SODP_STAT_INTERVAL_MS 100

/* The map order of column @i of the MTT census: 0, 9, 18. */
#define SODP_STAT_ORDER(i) ((i)*9)

enum sodp_stat_mr_kind {
	SODP_STAT_MR_PINNED,
	SODP_STAT_MR_ODP,
	SODP_STAT_MR_IMPLICIT,
};

struct sodp_stat_qp {
	uint64_t qpn;
	uint64_t type;	   /* enum ibv_qp_type */
	uint64_t state;	   /* enum ibv_qp_state */
	uint64_t sq_psn;   /* the next PSN the requester sends */
	uint64_t rq_psn;   /* the PSN the responder expects */
	uint64_t dest_qpn; /* RC/UC: the connected QP */
};

struct sodp_stat_mr {
	uint64_t lkey;
	uint64_t iova;
	uint64_t length;
	uint64_t kind; /* enum sodp_stat_mr_kind */
	uint64_t entries[SODP_STAT_NR_ORDERS];
	uint64_t faults;
	uint64_t pages_faulted;
	uint64_t rnr_naks;
	uint64_t invalidations; /* of every event */
};

struct sodp_stat_dev {
	uint64_t seq;
	char name[SODP_STAT_NAME_LEN];
	char addr[SODP_STAT_ADDR_LEN];
	/* packet counters (<softodp/device.h>) */
	uint64_t rx_packets, tx_packets, rx_dropped;
	uint64_t drops[SODP_STAT_NR_DROPS]; /* by enum sodp_drop_reason */
	/* ODP counters of every MR of the device, deregistered ones included */
	uint64_t faults, faults_handled, fault_errors, pages_faulted;
	uint64_t rnr_naks, prefetches;
	uint64_t invalidations[SODP_STAT_NR_EVENTS]; /* by enum sodp_event */
	uint64_t entries[SODP_STAT_NR_ORDERS];	     /* MTT of the live MRs */
	uint64_t nr_qps, nr_mrs;		     /* that exist; the first ones are listed */
	struct sodp_stat_qp qps[SODP_STAT_MAX_QPS];
	struct sodp_stat_mr mrs[SODP_STAT_MAX_MRS];
};

struct sodp_stat_seg {
	/* written once; magic last, so that a reader sees all or nothing */
	uint64_t magic;
	uint64_t version;
	uint64_t size; /* of the segment */
	uint64_t pid, uid;
	uint64_t start_time; /* clock ticks after boot, as /proc/<pid>/stat */
	char comm[SODP_STAT_COMM_LEN];
	/* published at every interval, under seq */
	uint64_t seq;
	uint64_t published_ns; /* CLOCK_REALTIME */
	uint64_t publishes;
	uint64_t nr_devs;
	uint64_t hmm_events[SODP_STAT_NR_EVENTS]; /* the memory mirror's, of every origin */
	uint64_t hmm_callbacks, hmm_hook_misses;
	struct sodp_stat_dev devs[SODP_STAT_MAX_DEVS];
};

_Static_assert(sizeof(struct sodp_stat_dev) % sizeof(uint64_t) == 0, "words");
_Static_assert(sizeof(struct sodp_stat_seg) % sizeof(uint64_t) == 0, "words");

/* The words of a record after its sequence count: what the seqlock covers. */
#define SODP_STAT_DEV_WORDS ((sizeof(struct sodp_stat_dev) - sizeof(uint64_t)) / sizeof(uint64_t))
#define SODP_STAT_HDR_WORDS                                                             \
	((offsetof(struct sodp_stat_seg, devs) - offsetof(struct sodp_stat_seg, seq)) / \
		 sizeof(uint64_t) -                                                     \
	 1)

#endif
