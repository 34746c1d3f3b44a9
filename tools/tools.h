/* SPDX-License-Identifier: MIT */
/*
 * What softodp_perf and softodp_odp_bench share: clocks, sizes, payload
 * patterns, RC QP setup over the public verbs API, and softodp's own
 * counters.
 *
 * The tools use <infiniband/verbs.h> only, so that they build and run
 * against rdma-core's libibverbs as well as against softodp. softodp's
 * extensions (sodp_mr_get_stats(), sodp_prereg()) are looked up at run time
 * with dlsym(RTLD_DEFAULT, ...): present when the process runs on softodp
 * (linked, or preloaded by softodp-run), absent on rdma-core, where the
 * tools leave out what needs them.
 */
#ifndef SODP_TOOLS_H
#define SODP_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <infiniband/verbs.h>

/* ---- command lines ---- */

/* The tools' exit status for bad options. */
#define TL_EXIT_USAGE 2

/*
 * The tool's name and its usage text, given once by main() before options
 * are read. tl_die_usage() prints "NAME: message", a blank line and the
 * usage on stderr, and exits TL_EXIT_USAGE.
 */
void tl_usage_init(const char *progname, void (*usage)(FILE *f));
void tl_die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/*
 * What a getopt_long() loop (optstring starting with ':', opterr 0) does
 * with any option but its own, @c: -h prints the usage on stdout and exits
 * 0; a missing value or an unknown option is tl_die_usage().
 */
void tl_opt_other(int c, char **argv) __attribute__((noreturn));
/* @s, a decimal number from @min to @max; anything else is tl_die_usage() naming @opt. */
long tl_parse_int(const char *opt, const char *s, long min, long max);

#define TL_PAGE_SIZE (4096UL)
#define TL_HUGE_SIZE (2UL << 20)

uint64_t tl_now_ns(void);

/* "4096", "64K", "2M", "16G" (binary multiples): 0, or -EINVAL. */
int tl_parse_size(const char *s, uint64_t *out);
/* "4 KiB", "2 MiB", "16 GiB", or bytes, into @buf. */
const char *tl_size_str(uint64_t bytes, char *buf, size_t len);

static inline uint64_t tl_round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

/*
 * Payload patterns: byte i of a message seeded @seed is a function of both,
 * so that a message landing in the wrong place or torn shows up.
 * tl_pattern_check() returns the offset of the first wrong byte, or -1.
 */
void tl_pattern_fill(void *buf, size_t len, uint64_t seed);
long tl_pattern_check(const void *buf, size_t len, uint64_t seed);

/* ---- devices and RC QPs ---- */

/* The device named @name, or the first one; NULL with a message on stderr. */
struct ibv_context *tl_open_device(const char *name);

/* Reports whether the device registers on demand, and implicitly. */
bool tl_odp_supported(struct ibv_context *ctx, bool implicit);

/* What one side of an RC connection tells the other. */
struct tl_endpoint {
	uint32_t qpn;
	uint32_t psn;
	uint16_t lid;
	union ibv_gid gid;
};

struct tl_path {
	uint8_t port;
	int gid_index;
	enum ibv_mtu mtu;
	uint8_t rd_atomic; /* READs and atomics in flight, each way */
	uint8_t timeout;   /* the ACK timeout, 4.096 us * 2^timeout; 0: perftest's 14 */
};

/* The MTU of @mtu bytes (256 ... 4096), or 0 for anything else. */
enum ibv_mtu tl_mtu_from_bytes(int mtu);
int tl_mtu_bytes(enum ibv_mtu mtu);

/*
 * An RC QP on @send_cq / @recv_cq, moved to INIT with every remote access
 * allowed; @local filled for the peer. NULL with a message on stderr.
 */
struct ibv_qp *tl_create_rc_qp(struct ibv_pd *pd, struct ibv_cq *send_cq, struct ibv_cq *recv_cq,
			       uint32_t max_send_wr, uint32_t max_recv_wr,
			       const struct tl_path *path, struct tl_endpoint *local);
/*
 * Moves @qp to RTR and RTS towards @remote, with the retry policy of
 * perftest (7 retries, infinite RNR retry) so that ODP faults on the peer
 * are waited out. 0, or an errno with a message on stderr.
 */
int tl_connect_rc_qp(struct ibv_qp *qp, const struct tl_endpoint *local,
		     const struct tl_endpoint *remote, const struct tl_path *path);

/* "fe80...": 32 hex digits, and back; tl_gid_parse returns 0 or -EINVAL. */
void tl_gid_format(const union ibv_gid *gid, char out[33]);
int tl_gid_parse(const char *s, union ibv_gid *gid);

/* ---- softodp's counters ---- */

/* The map orders whose MTT entries the tools report: 4 KiB, 2 MiB, 1 GiB. */
#define TL_NR_ORDERS 3
extern const unsigned int tl_orders[TL_NR_ORDERS];

/* A NIC's MTT entry: the tools count MTT memory at this size per entry. */
#define TL_MTT_ENTRY_BYTES 8

struct tl_odp_counters {
	uint64_t faults;
	uint64_t faults_handled;
	uint64_t fault_errors;
	uint64_t pages_faulted;
	uint64_t rnr_naks;
	uint64_t prefetches;
	uint64_t invalidations;
	uint64_t entries;
	uint64_t entries_by_order[TL_NR_ORDERS];
	uint64_t bytes_by_order[TL_NR_ORDERS];
};

/* True when the process runs on softodp (its counters can be read). */
bool tl_on_softodp(void);
/* @mr's counters: 0, or -ENOSYS when not on softodp, or its error. */
int tl_mr_counters(struct ibv_mr *mr, struct tl_odp_counters *c);
/* "faults=N faults_handled=N ..." and back (0, or -EINVAL). */
void tl_counters_format(const struct tl_odp_counters *c, char *buf, size_t len);
int tl_counters_parse(const char *s, struct tl_odp_counters *c);
/* @c as the members of a JSON object, no braces. */
void tl_counters_json(const struct tl_odp_counters *c, char *buf, size_t len);

/*
 * softodp's pre-registration of an arena (<softodp/prereg.h>): 0, -ENOSYS
 * when not on softodp, or its error.
 */
int tl_prereg(void *addr, size_t length, void **handle);
int tl_prereg_release(void *handle);

#endif
