// SPDX-License-Identifier: MIT
/*
 * softodp_perf: perftest-style bandwidth and latency tests over RC QPs,
 * with ODP memory registration as a first-class option.
 *
 * One binary, server and client: `softodp_perf -t TEST` on the server,
 * `softodp_perf -t TEST SERVER` on the client, the same options on both
 * (they are compared). The connection data and every synchronisation go
 * over one TCP connection (ctrl.h); the RDMA traffic over RoCE.
 *
 * Memory: each QP has a region of two areas of `slots` message slots. The
 * target area (offset 0) is what the peer's NIC reaches remotely (WRITE and
 * atomic target, READ source, receive buffers); the local area is what the
 * QP's own NIC uses (WRITE and SEND source, READ destination, atomic
 * result). Messages cycle over the slots. Every size is a round of its own:
 * both sides map and register fresh memory, so that the counters read at
 * the end of a round are that round's.
 *
 * Windows: a pass of `slots` messages on every QP. The bandwidth tests run
 * one untimed pass first, so that ODP memory is warm; with --cold the
 * server maps fresh memory over its target areas before every timed window
 * (mmap MAP_FIXED: the MR follows the mapping, the pages are new), and the
 * time the client waits for that is left out of the measurement. The
 * latency tests take a fresh slot per iteration with --cold instead.
 *
 * Protocol (client -> server, one line each, server's answer after ->):
 *   HELLO <options>          -> OK | ERR <why>
 *   QP <i> <qpn> <psn> <lid> <gid>, for each QP, both ways
 *   SIZE <bytes> <addr> <rkey> -> MR <addr> <rkey> <region> <slots> <slot>
 *   REMAP <count per QP>     -> OK | FAIL <why>   (--cold, between windows)
 *   END <count per QP>       -> DONE ok | DONE FAIL <why>, then STATS ...
 *   BYE
 * Counts are the messages each QP sent since the last REMAP (or the start
 * of the round), which tell the server what to verify (--check).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctrl.h"
#include "tools.h"

#define DEFAULT_PORT	    18515
#define MAX_QPS		    64
#define TX_DEPTH	    128
#define RX_DEPTH	    256
#define RD_ATOMIC	    16
#define AREA_TARGET	    (16UL << 20) /* a bandwidth test's slots fill about this much */
#define LAT_COLD_MAX	    (1UL << 30)	 /* the most a cold latency test maps per area */
#define SWEEP_MIN	    2
#define SWEEP_MAX	    (8UL << 20)
#define ACCEPT_TIMEOUT_MS   300000
#define CONNECT_TIMEOUT_MS  30000
#define REPLY_TIMEOUT_MS    120000
#define COMMAND_TIMEOUT_MS  600000
#define PROGRESS_TIMEOUT_NS (30ULL * 1000000000ULL) /* no completion for this long: fail */
#define MEGA		    (1024.0 * 1024.0)

enum test {
	T_WRITE_BW,
	T_READ_BW,
	T_SEND_BW,
	T_ATOMIC_BW,
	T_WRITE_LAT,
	T_READ_LAT,
	T_SEND_LAT,
	NR_TESTS,
};

static const struct test_desc {
	const char *name;
	const char *title;
	bool lat;
	uint64_t default_iters;
} tests[NR_TESTS] = {
	[T_WRITE_BW] = {"write_bw", "RDMA_Write BW Test", false, 5000},
	[T_READ_BW] = {"read_bw", "RDMA_Read BW Test", false, 5000},
	[T_SEND_BW] = {"send_bw", "Send BW Test", false, 5000},
	[T_ATOMIC_BW] = {"atomic_bw", NULL /* names its operation */, false, 5000},
	[T_WRITE_LAT] = {"write_lat", "RDMA_Write Latency Test", true, 1000},
	[T_READ_LAT] = {"read_lat", "RDMA_Read Latency Test", true, 1000},
	[T_SEND_LAT] = {"send_lat", "Send Latency Test", true, 1000},
};

enum odp_mode { ODP_OFF, ODP_EXPLICIT, ODP_IMPLICIT };
static const char *const odp_names[] = {"pinned", "odp", "implicit"};

enum prefetch { PF_NONE, PF_SYNC, PF_ASYNC, PF_NOFAULT };
static const char *const prefetch_names[] = {"none", "sync", "async", "nofault"};

struct opts {
	enum test test;
	const char *dev;
	const char *server; /* NULL: this is the server */
	int ib_port;
	uint64_t size;
	bool size_set;
	uint64_t iters;
	bool iters_set;
	int duration; /* seconds, 0: run iters */
	int qps;
	int gid_index;
	bool all;
	bool report_gbits;
	enum odp_mode odp;
	bool hugepages;
	int port;
	int mtu; /* bytes, 0: the port's active MTU */
	enum prefetch prefetch;
	bool cold;
	bool json;
	bool check;
	bool cmp_swap; /* atomic_bw: COMPARE_AND_SWAP instead of FETCH_AND_ADD */
	bool atomic_set;
};

/* The layout of one round's memory (see the file's header). */
struct geom {
	uint64_t size;
	uint64_t slot;	 /* bytes per slot */
	uint64_t slots;	 /* slots per area */
	uint64_t area;	 /* bytes per area */
	uint64_t region; /* bytes per QP: two areas */
};

struct perf {
	struct opts *o;
	bool server;
	struct ctrl ctrl;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *scq, *rcq;
	struct ibv_qp *qp[MAX_QPS];
	struct tl_endpoint local[MAX_QPS], remote[MAX_QPS];
	struct tl_path path;

	/* the round */
	struct geom g;
	uint8_t *buf;
	size_t buf_len;
	struct ibv_mr *mr;
	uint64_t remote_addr;
	uint32_t remote_rkey;
	uint64_t count[MAX_QPS];	 /* messages per QP since the last remap */
	uint64_t recv_next[MAX_QPS];	 /* the next receive's index, per QP */
	uint64_t received[MAX_QPS];	 /* receive completions, per QP */
	uint64_t received_base[MAX_QPS]; /* ... at the last remap */
	char fail[256];			 /* the first verification failure */
};

struct result {
	uint64_t size;
	uint64_t iters;
	double bw_peak, bw_avg, msg_rate;			   /* MB/s (2^20 bytes), Mpps */
	double t_min, t_max, t_typical, t_avg, t_stdev, p99, p999; /* usec */
	bool checked;
	bool have_counters;
	struct tl_odp_counters mine, peer;
};

static const char *progname = "softodp_perf";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS]                 server\n"
		"       %s [OPTIONS] SERVER          client (SERVER: the server's host name or "
		"address)\n"
		"\n"
		"Measures RDMA bandwidth or latency between two processes over RC QPs, as\n"
		"perftest does, with ODP memory registration, prefetch and first-touch\n"
		"(--cold) measurements. Both sides take the same options.\n"
		"\n"
		"  -t, --test=TEST        write_bw (default), read_bw, send_bw, atomic_bw,\n"
		"                         write_lat, read_lat, send_lat\n"
		"  -d, --ib-dev=NAME      the RDMA device (default: the first)\n"
		"  -i, --ib-port=N        its port (default 1)\n"
		"  -x, --gid-index=N      the GID index of the port (default 0)\n"
		"  -m, --mtu=BYTES        path MTU: 256, 512, 1024, 2048, 4096 (default: the "
		"port's)\n"
		"  -s, --size=BYTES       message size (default 65536 for _bw, 2 for _lat;\n"
		"                         suffixes K, M, G)\n"
		"  -a, --all              every size from 2 bytes to 8 MiB, by powers of two\n"
		"  -n, --iters=N          messages per QP (default 5000 for _bw, 1000 for _lat)\n"
		"  -D, --duration=SEC     run for SEC seconds instead of -n messages\n"
		"  -q, --qp=N             QPs (default 1, at most %d; _lat tests: 1)\n"
		"  -p, --port=PORT        the TCP port of the connection (default %d)\n"
		"  -A, --atomic_type=TYPE atomic_bw: FETCH_AND_ADD (default) or CMP_AND_SWAP\n"
		"  -F, --CPU-freq         accepted for perftest compatibility (no CPU frequency "
		"check)\n"
		"      --report_gbits     bandwidth in Gb/s instead of MB/s\n"
		"      --odp[=explicit|implicit]\n"
		"                         register the buffers on demand (IBV_ACCESS_ON_DEMAND);\n"
		"                         implicit: one MR over the whole address space\n"
		"      --prefetch=sync|async|nofault\n"
		"                         ibv_advise_mr() the buffers after registration (and "
		"after\n"
		"                         every --cold remap): sync = PREFETCH(_WRITE) with\n"
		"                         IBV_ADVISE_MR_FLAG_FLUSH, async = without it, nofault =\n"
		"                         PREFETCH_NO_FAULT (needs --odp)\n"
		"      --cold             a never-touched target for every window: the server "
		"maps\n"
		"                         fresh memory over it (needs --odp); _lat: a fresh slot "
		"per\n"
		"                         iteration\n"
		"      --use_hugepages    back the buffers with hugetlb pages (MAP_HUGETLB)\n"
		"      --check            fill payloads with a pattern and verify every byte "
		"received\n"
		"      --json             print a JSON document, one object per size, on stdout\n"
		"  -h, --help             this help\n"
		"\n"
		"On softodp, the ODP counters of both sides (faults, RNR NAKs, prefetches,\n"
		"invalidations, MTT entries) are reported with each size.\n"
		"Exit status: 0, 1 for a failed run or verification, 2 for bad options.\n",
		progname, progname, MAX_QPS, DEFAULT_PORT);
}

enum {
	OPT_REPORT_GBITS = 256,
	OPT_ODP,
	OPT_PREFETCH,
	OPT_COLD,
	OPT_HUGEPAGES,
	OPT_CHECK,
	OPT_JSON,
};

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"test", required_argument, NULL, 't'},
		{"ib-dev", required_argument, NULL, 'd'},
		{"ib-port", required_argument, NULL, 'i'},
		{"gid-index", required_argument, NULL, 'x'},
		{"mtu", required_argument, NULL, 'm'},
		{"size", required_argument, NULL, 's'},
		{"all", no_argument, NULL, 'a'},
		{"iters", required_argument, NULL, 'n'},
		{"duration", required_argument, NULL, 'D'},
		{"qp", required_argument, NULL, 'q'},
		{"port", required_argument, NULL, 'p'},
		{"CPU-freq", no_argument, NULL, 'F'},
		{"report_gbits", no_argument, NULL, OPT_REPORT_GBITS},
		{"odp", optional_argument, NULL, OPT_ODP},
		{"prefetch", required_argument, NULL, OPT_PREFETCH},
		{"cold", no_argument, NULL, OPT_COLD},
		{"use_hugepages", no_argument, NULL, OPT_HUGEPAGES},
		{"atomic_type", required_argument, NULL, 'A'},
		{"check", no_argument, NULL, OPT_CHECK},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, i;

	*o = (struct opts){.test = T_WRITE_BW, .ib_port = 1, .qps = 1, .port = DEFAULT_PORT};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:d:i:x:m:s:an:D:q:p:A:Fh", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			for (i = 0; i < NR_TESTS; i++)
				if (!strcmp(optarg, tests[i].name))
					break;
			if (i == NR_TESTS)
				tl_die_usage("unknown test '%s'", optarg);
			o->test = (enum test)i;
			break;
		case 'd':
			o->dev = optarg;
			break;
		case 'i':
			o->ib_port = (int)tl_parse_int("-i", optarg, 1, 255);
			break;
		case 'x':
			o->gid_index = (int)tl_parse_int("-x", optarg, 0, 255);
			break;
		case 'm':
			o->mtu = (int)tl_parse_int("-m", optarg, 256, 4096);
			if (!tl_mtu_from_bytes(o->mtu))
				tl_die_usage("-m wants 256, 512, 1024, 2048 or 4096, not %s",
					     optarg);
			break;
		case 's':
			if (tl_parse_size(optarg, &o->size) || !o->size || o->size > (1ULL << 31))
				tl_die_usage("-s wants a size from 1 byte to 2 GiB, not '%s'",
					     optarg);
			o->size_set = true;
			break;
		case 'a':
			o->all = true;
			break;
		case 'n':
			o->iters = (uint64_t)tl_parse_int("-n", optarg, 1, 1000000000L);
			o->iters_set = true;
			break;
		case 'D':
			o->duration = (int)tl_parse_int("-D", optarg, 1, 86400);
			break;
		case 'q':
			o->qps = (int)tl_parse_int("-q", optarg, 1, MAX_QPS);
			break;
		case 'p':
			o->port = (int)tl_parse_int("-p", optarg, 1, 65535);
			break;
		case 'F':
			break;
		case 'A':
			if (!strcmp(optarg, "CMP_AND_SWAP"))
				o->cmp_swap = true;
			else if (strcmp(optarg, "FETCH_AND_ADD"))
				tl_die_usage("-A wants FETCH_AND_ADD or CMP_AND_SWAP, not '%s'",
					     optarg);
			o->atomic_set = true;
			break;
		case OPT_REPORT_GBITS:
			o->report_gbits = true;
			break;
		case OPT_ODP:
			if (!optarg || !strcmp(optarg, "explicit"))
				o->odp = ODP_EXPLICIT;
			else if (!strcmp(optarg, "implicit"))
				o->odp = ODP_IMPLICIT;
			else
				tl_die_usage("--odp wants explicit or implicit, not '%s'", optarg);
			break;
		case OPT_PREFETCH:
			for (i = PF_SYNC; i <= PF_NOFAULT; i++)
				if (!strcmp(optarg, prefetch_names[i]))
					break;
			if (i > PF_NOFAULT)
				tl_die_usage("--prefetch wants sync, async or nofault, not '%s'",
					     optarg);
			o->prefetch = (enum prefetch)i;
			break;
		case OPT_COLD:
			o->cold = true;
			break;
		case OPT_HUGEPAGES:
			o->hugepages = true;
			break;
		case OPT_CHECK:
			o->check = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		default:
			tl_opt_other(c, argv);
		}
	}
	if (optind < argc)
		o->server = argv[optind++];
	if (optind < argc)
		tl_die_usage("one server address only, not also '%s'", argv[optind]);

	if (o->all && o->size_set)
		tl_die_usage("-a and -s exclude each other");
	if (o->duration && o->iters_set)
		tl_die_usage("-D and -n exclude each other");
	if (tests[o->test].lat && o->qps != 1)
		tl_die_usage("the latency tests use one QP (-q 1)");
	if (o->test == T_ATOMIC_BW) {
		if ((o->size_set && o->size != 8) || o->all)
			tl_die_usage("atomic_bw moves 8 bytes: -s 8 or no -s, and no -a");
		o->size = 8;
	} else if (o->atomic_set) {
		tl_die_usage("-A is for atomic_bw");
	}
	if (o->cold && o->odp == ODP_OFF)
		tl_die_usage("--cold needs --odp: memory mapped anew under a pinned MR is never "
			     "registered");
	if (o->prefetch != PF_NONE && o->odp == ODP_OFF)
		tl_die_usage("--prefetch needs --odp (ibv_advise_mr works on ODP MRs)");
	if (o->cold && tests[o->test].lat && o->duration)
		tl_die_usage("--cold latency tests take a slot per iteration: use -n, not -D");
	if (!o->size_set && o->test != T_ATOMIC_BW)
		o->size = tests[o->test].lat ? 2 : 65536;
	if (!o->iters_set)
		o->iters = tests[o->test].default_iters;
}

/* ---- memory ---- */

static void geometry(const struct opts *o, uint64_t size, struct geom *g)
{
	uint64_t page = o->hugepages ? TL_HUGE_SIZE : TL_PAGE_SIZE;

	g->size = size;
	/* A cold slot shares no page with another: each one is a first touch. */
	g->slot = tl_round_up(size < 8 ? 8 : size, o->cold ? page : 64);
	if (tests[o->test].lat) {
		g->slots = o->cold ? o->iters : 1;
	} else {
		g->slots = AREA_TARGET / g->slot;
		if (g->slots < 2)
			g->slots = 2;
		if (g->slots > TX_DEPTH)
			g->slots = TX_DEPTH;
	}
	g->area = tl_round_up(g->slots * g->slot, page);
	g->region = 2 * g->area;
}

static uint8_t *target_slot(struct perf *p, int qp, uint64_t slot)
{
	return p->buf + (uint64_t)qp * p->g.region + slot * p->g.slot;
}

static uint8_t *local_slot(struct perf *p, int qp, uint64_t slot)
{
	return p->buf + (uint64_t)qp * p->g.region + p->g.area + slot * p->g.slot;
}

static uint64_t remote_target(struct perf *p, int qp, uint64_t slot)
{
	return p->remote_addr + (uint64_t)qp * p->g.region + slot * p->g.slot;
}

static int map_flags(const struct opts *o)
{
	return MAP_PRIVATE | MAP_ANONYMOUS | (o->hugepages ? MAP_HUGETLB : 0);
}

/* Maps fresh memory over every target area: the pages are new, the MR stays. */
static int remap_targets(struct perf *p)
{
	for (int k = 0; k < p->o->qps; k++) {
		void *a = target_slot(p, k, 0);

		if (mmap(a, p->g.area, PROT_READ | PROT_WRITE, map_flags(p->o) | MAP_FIXED, -1,
			 0) != a) {
			fprintf(stderr, "%s: mmap over the target: %s\n", progname,
				strerror(errno));
			return -1;
		}
	}
	return 0;
}

static uint64_t pattern_seed(int qp, uint64_t slot)
{
	return ((uint64_t)qp << 32) | slot;
}

/* What the side that supplies payloads puts in its slots (--check). */
static void fill_sources(struct perf *p)
{
	enum test t = p->o->test;

	if (!p->o->check)
		return;
	for (int k = 0; k < p->o->qps; k++)
		for (uint64_t s = 0; s < p->g.slots; s++) {
			if ((t == T_WRITE_BW || t == T_SEND_BW) && !p->server)
				tl_pattern_fill(local_slot(p, k, s), p->g.size, pattern_seed(k, s));
			if ((t == T_READ_BW || t == T_READ_LAT) && p->server)
				tl_pattern_fill(target_slot(p, k, s), p->g.size,
						pattern_seed(k, s));
		}
}

static int prefetch(struct perf *p)
{
	static const enum ibv_advise_mr_advice advice[] = {
		[PF_SYNC] = IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		[PF_ASYNC] = IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		[PF_NOFAULT] = IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
	};
	enum prefetch pf = p->o->prefetch;
	int ret;

	if (pf == PF_NONE)
		return 0;
	for (int k = 0; k < p->o->qps; k++) {
		struct ibv_sge sge = {.addr = (uintptr_t)target_slot(p, k, 0),
				      .length = (uint32_t)p->g.region,
				      .lkey = p->mr->lkey};

		ret = ibv_advise_mr(p->pd, advice[pf], pf == PF_SYNC ? IBV_ADVISE_MR_FLAG_FLUSH : 0,
				    &sge, 1);
		if (ret) {
			fprintf(stderr, "%s: ibv_advise_mr(%s): %s\n", progname, prefetch_names[pf],
				strerror(ret));
			return -1;
		}
	}
	return 0;
}

static int round_setup(struct perf *p, uint64_t size)
{
	const struct opts *o = p->o;
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
		     IBV_ACCESS_REMOTE_ATOMIC;

	geometry(o, size, &p->g);
	if (tests[o->test].lat && o->cold && p->g.area > LAT_COLD_MAX) {
		fprintf(stderr,
			"%s: --cold with -n %" PRIu64 " of %" PRIu64
			" bytes maps more than 1 GiB: use a smaller -n\n",
			progname, o->iters, size);
		return -1;
	}
	p->buf_len = p->g.region * (uint64_t)o->qps;
	p->buf = mmap(NULL, p->buf_len, PROT_READ | PROT_WRITE, map_flags(o), -1, 0);
	if (p->buf == MAP_FAILED) {
		p->buf = NULL;
		fprintf(stderr, "%s: cannot map %zu bytes%s: %s\n", progname, p->buf_len,
			o->hugepages ? " of hugetlb pages (see /proc/sys/vm/nr_hugepages)" : "",
			strerror(errno));
		return -1;
	}
	if (o->odp == ODP_IMPLICIT)
		p->mr = ibv_reg_mr(p->pd, NULL, SIZE_MAX, access | IBV_ACCESS_ON_DEMAND);
	else
		p->mr = ibv_reg_mr(p->pd, p->buf, p->buf_len,
				   access | (o->odp ? IBV_ACCESS_ON_DEMAND : 0));
	if (!p->mr) {
		fprintf(stderr, "%s: ibv_reg_mr(%s, %zu bytes): %s\n", progname, odp_names[o->odp],
			p->buf_len, strerror(errno));
		return -1;
	}
	fill_sources(p);
	memset(p->count, 0, sizeof(p->count));
	memset(p->recv_next, 0, sizeof(p->recv_next));
	memset(p->received, 0, sizeof(p->received));
	memset(p->received_base, 0, sizeof(p->received_base));
	p->fail[0] = '\0';
	return prefetch(p);
}

static void round_teardown(struct perf *p)
{
	if (p->mr)
		ibv_dereg_mr(p->mr);
	p->mr = NULL;
	if (p->buf)
		munmap(p->buf, p->buf_len);
	p->buf = NULL;
}

static const char *atomic_name(const struct opts *o)
{
	return o->cmp_swap ? "CMP_AND_SWAP" : "FETCH_AND_ADD";
}

/* ---- work requests ---- */

static int post_recv(struct perf *p, int k)
{
	uint64_t slot = p->recv_next[k] % p->g.slots;
	struct ibv_sge sge = {.addr = (uintptr_t)target_slot(p, k, slot),
			      .length = (uint32_t)p->g.size,
			      .lkey = p->mr->lkey};
	struct ibv_recv_wr wr = {.wr_id = (uint64_t)k, .sg_list = &sge, .num_sge = 1}, *bad;
	int ret = ibv_post_recv(p->qp[k], &wr, &bad);

	if (ret)
		fprintf(stderr, "%s: ibv_post_recv: %s\n", progname, strerror(ret));
	else
		p->recv_next[k]++;
	return ret;
}

/*
 * Posts message @idx of QP @k (counted from when its targets were last
 * fresh), from and to slot @idx % slots. A COMPARE_AND_SWAP chain counts
 * each slot up by one, as FETCH_AND_ADD does: message @idx expects the
 * count that the ones before it to its slot left, which RC's in-order
 * execution of a QP's atomics guarantees, so one failed swap shows in the
 * slot's final count.
 */
static int post_send(struct perf *p, int k, uint64_t idx, uint64_t wr_id)
{
	enum test t = p->o->test;
	uint64_t slot = idx % p->g.slots;
	struct ibv_sge sge = {.addr = (uintptr_t)local_slot(p, k, slot),
			      .length = (uint32_t)p->g.size,
			      .lkey = p->mr->lkey};
	struct ibv_send_wr wr = {.wr_id = wr_id,
				 .sg_list = &sge,
				 .num_sge = 1,
				 .send_flags = IBV_SEND_SIGNALED},
			   *bad;
	int ret;

	switch (t) {
	case T_WRITE_BW:
	case T_WRITE_LAT:
		wr.opcode = IBV_WR_RDMA_WRITE;
		break;
	case T_READ_BW:
	case T_READ_LAT:
		wr.opcode = IBV_WR_RDMA_READ;
		break;
	case T_SEND_BW:
	case T_SEND_LAT:
		wr.opcode = IBV_WR_SEND;
		break;
	case T_ATOMIC_BW:
		wr.wr.atomic.remote_addr = remote_target(p, k, slot);
		wr.wr.atomic.rkey = p->remote_rkey;
		if (p->o->cmp_swap) {
			wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
			wr.wr.atomic.compare_add = idx / p->g.slots;
			wr.wr.atomic.swap = idx / p->g.slots + 1;
		} else {
			wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
			wr.wr.atomic.compare_add = 1;
		}
		sge.length = 8;
		break;
	default:
		return EINVAL;
	}
	if (wr.opcode == IBV_WR_RDMA_WRITE || wr.opcode == IBV_WR_RDMA_READ) {
		wr.wr.rdma.remote_addr = remote_target(p, k, slot);
		wr.wr.rdma.rkey = p->remote_rkey;
	}
	ret = ibv_post_send(p->qp[k], &wr, &bad);
	if (ret)
		fprintf(stderr, "%s: ibv_post_send: %s\n", progname, strerror(ret));
	return ret;
}

static int wc_ok(const struct ibv_wc *wc)
{
	if (wc->status == IBV_WC_SUCCESS)
		return 0;
	fprintf(stderr, "%s: completion error: %s (vendor error %u)\n", progname,
		ibv_wc_status_str(wc->status), wc->vendor_err);
	return -1;
}

static int qp_index(struct perf *p, uint32_t qp_num)
{
	for (int k = 0; k < p->o->qps; k++)
		if (p->qp[k]->qp_num == qp_num)
			return k;
	return -1;
}

static void set_fail(struct perf *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_fail(struct perf *p, const char *fmt, ...)
{
	va_list ap;

	if (p->fail[0])
		return;
	va_start(ap, fmt);
	vsnprintf(p->fail, sizeof(p->fail), fmt, ap);
	va_end(ap);
}

static void check_payload(struct perf *p, const uint8_t *buf, uint64_t len, uint64_t seed,
			  const char *what)
{
	long bad = tl_pattern_check(buf, len, seed);

	if (bad >= 0)
		set_fail(p, "%s: byte %ld of a %" PRIu64 "-byte message is wrong", what, bad, len);
}

/* ---- bandwidth ---- */

struct bw_clock {
	uint64_t active_ns; /* time in timed windows */
	uint64_t messages;  /* messages completed in them, all QPs */
	double peak;	    /* the best window, bytes per ns */
};

/*
 * One window on the client: every QP sends until it has sent @limit
 * messages more (or, with a deadline, until then), and all complete; @clk
 * (unless NULL) keeps the best rate of a stretch. Returns the messages
 * completed, or -1.
 */
static int64_t bw_window(struct perf *p, uint64_t limit, uint64_t deadline, bool *stopped,
			 struct bw_clock *clk)
{
	int q = p->o->qps;
	/* The peak: the best stretch of a pass over the slots of every QP. */
	uint64_t chunk = p->g.slots * (uint64_t)q, chunk_done = 0, chunk_start = tl_now_ns();
	uint64_t posted[MAX_QPS] = {0}, done[MAX_QPS] = {0};
	uint64_t total_posted = 0, total_done = 0, last_progress = tl_now_ns();
	struct ibv_wc wc[32];
	bool stop = false;

	for (;;) {
		for (int k = 0; k < q && !stop; k++)
			while (posted[k] < limit && posted[k] - done[k] < TX_DEPTH) {
				uint64_t idx = p->count[k] + posted[k];

				if (post_send(p, k, idx, (uint64_t)k))
					return -1;
				posted[k]++;
				total_posted++;
			}
		if (total_done == total_posted)
			break;
		int n = ibv_poll_cq(p->scq, 32, wc);

		if (n < 0) {
			fprintf(stderr, "%s: ibv_poll_cq failed\n", progname);
			return -1;
		}
		for (int i = 0; i < n; i++) {
			int k = (int)wc[i].wr_id;

			if (wc_ok(&wc[i]))
				return -1;
			done[k]++;
			total_done++;
			if (p->o->check && p->o->test == T_READ_BW) {
				uint64_t slot = (p->count[k] + done[k] - 1) % p->g.slots;

				check_payload(p, local_slot(p, k, slot), p->g.size,
					      pattern_seed(k, slot), "RDMA READ data");
			}
		}
		if (n) {
			last_progress = tl_now_ns();
			if (clk && total_done - chunk_done >= chunk) {
				double rate = (double)(total_done - chunk_done) *
					      (double)p->g.size /
					      (double)(last_progress - chunk_start + 1);

				if (rate > clk->peak)
					clk->peak = rate;
				chunk_done = total_done;
				chunk_start = last_progress;
			}
			if (deadline && !stop && last_progress >= deadline)
				stop = *stopped = true;
		} else if (tl_now_ns() - last_progress > PROGRESS_TIMEOUT_NS) {
			fprintf(stderr, "%s: no completion for %llu s\n", progname,
				PROGRESS_TIMEOUT_NS / 1000000000ULL);
			return -1;
		}
	}
	for (int k = 0; k < q; k++)
		p->count[k] += posted[k];
	return (int64_t)total_done;
}

static int send_counts(struct perf *p, const char *verb)
{
	char line[CTRL_LINE_MAX];
	size_t n;

	n = (size_t)snprintf(line, sizeof(line), "%s", verb);
	for (int k = 0; k < p->o->qps; k++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %" PRIu64, p->count[k]);
	memset(p->count, 0, sizeof(p->count));
	return ctrl_send(&p->ctrl, "%s", line);
}

static int expect_reply(struct perf *p, const char *ok)
{
	char line[CTRL_LINE_MAX];
	int ret = ctrl_recv(&p->ctrl, line, sizeof(line), REPLY_TIMEOUT_MS);

	if (ret) {
		fprintf(stderr, "%s: no answer from the server: %s\n", progname, strerror(-ret));
		return -1;
	}
	if (strcmp(line, ok)) {
		fprintf(stderr, "%s: server: %s\n", progname, line);
		return -1;
	}
	return 0;
}

static int client_bw(struct perf *p, struct result *r)
{
	const struct opts *o = p->o;
	uint64_t deadline = 0, per_qp = o->iters;
	struct bw_clock clk = {0};
	bool stopped = false;

	/* The warm-up pass: untimed, it leaves ODP memory faulted in. */
	if (bw_window(p, p->g.slots, 0, &stopped, NULL) < 0)
		return -1;
	if (o->cold && (send_counts(p, "REMAP") || expect_reply(p, "OK")))
		return -1;
	if (o->duration)
		deadline = tl_now_ns() + (uint64_t)o->duration * 1000000000ULL;
	while (!stopped && (o->duration || per_qp)) {
		uint64_t limit = o->duration ? UINT64_MAX : per_qp;
		uint64_t t0, dt;
		int64_t n;

		if (o->cold && limit > p->g.slots)
			limit = p->g.slots;
		t0 = tl_now_ns();
		n = bw_window(p, limit, deadline, &stopped, &clk);
		if (n < 0)
			return -1;
		dt = tl_now_ns() - t0;
		clk.active_ns += dt;
		clk.messages += (uint64_t)n;
		if (!o->duration)
			per_qp -= limit;
		if (o->cold && !stopped && (o->duration || per_qp) &&
		    (send_counts(p, "REMAP") || expect_reply(p, "OK")))
			return -1;
	}
	r->iters = clk.messages / (uint64_t)o->qps;
	r->bw_avg = clk.active_ns ? (double)clk.messages * (double)p->g.size /
					    ((double)clk.active_ns / 1e9) / MEGA
				  : 0;
	r->bw_peak = clk.peak * 1e9 / MEGA;
	if (r->bw_peak < r->bw_avg)
		r->bw_peak = r->bw_avg;
	r->msg_rate = clk.active_ns ? (double)clk.messages / ((double)clk.active_ns / 1e3) : 0;
	return 0;
}

/* ---- latency ---- */

static uint8_t marker(uint64_t i)
{
	return (uint8_t)(i % 255 + 1);
}

/* Completions of sends nobody waits for: polled as they come, bounded. */
static int reap_sends(struct perf *p, uint64_t *outstanding, bool all)
{
	uint64_t last = tl_now_ns();
	struct ibv_wc wc[16];

	while (*outstanding) {
		int n = ibv_poll_cq(p->scq, 16, wc);

		if (n < 0)
			return -1;
		for (int i = 0; i < n; i++)
			if (wc_ok(&wc[i]))
				return -1;
		*outstanding -= (uint64_t)n;
		if (n)
			last = tl_now_ns();
		if (!all && *outstanding < TX_DEPTH / 2)
			return 0;
		if (!n && tl_now_ns() - last > PROGRESS_TIMEOUT_NS) {
			fprintf(stderr, "%s: a send never completed\n", progname);
			return -1;
		}
	}
	return 0;
}

/* Waits for one completion on @cq: 0, or -1 (error or no progress). */
static int wait_one(struct perf *p, struct ibv_cq *cq, struct ibv_wc *wc)
{
	uint64_t start = 0;
	unsigned int spins = 0;

	for (;;) {
		int n = ibv_poll_cq(cq, 1, wc);

		if (n < 0)
			return -1;
		if (n)
			return wc_ok(wc);
		if (!(++spins & 0xfff)) {
			uint64_t now = tl_now_ns();

			if (!start)
				start = now;
			else if (now - start > PROGRESS_TIMEOUT_NS) {
				fprintf(stderr, "%s: no completion for %llu s\n", progname,
					PROGRESS_TIMEOUT_NS / 1000000000ULL);
				return -1;
			}
		}
	}
}

/*
 * Sets the payload of a message: the pattern of iteration @i (--check),
 * and in its last byte the marker the write_lat receiver polls.
 */
static void lat_payload(struct perf *p, uint8_t *slot, uint64_t i)
{
	if (p->o->check)
		tl_pattern_fill(slot, p->g.size, pattern_seed(0, i));
	if (p->o->test == T_WRITE_LAT)
		slot[p->g.size - 1] = marker(i);
}

static void lat_verify(struct perf *p, const uint8_t *slot, uint64_t i, const char *what)
{
	uint64_t len = p->g.size - (p->o->test == T_WRITE_LAT ? 1 : 0);

	if (p->o->check)
		check_payload(p, slot, len, pattern_seed(0, i), what);
}

/*
 * Waits until the write of iteration @i landed in @slot: 0, 1 when
 * @ctrl_line received a control line instead (the server's END), or -1.
 */
static int wait_marker(struct perf *p, volatile uint8_t *last, uint64_t i, char *ctrl_line)
{
	uint64_t start = 0;
	unsigned int spins = 0;

	while (*last != marker(i)) {
		if (++spins & 0x3fff)
			continue;
		if (ctrl_line && !ctrl_recv(&p->ctrl, ctrl_line, CTRL_LINE_MAX, 0))
			return 1;
		uint64_t now = tl_now_ns();

		if (!start)
			start = now;
		else if (now - start > PROGRESS_TIMEOUT_NS) {
			fprintf(stderr, "%s: the peer's write never arrived\n", progname);
			return -1;
		}
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return 0;
}

/* Waits for a receive completion; on the server, also for a control line. */
static int wait_recv(struct perf *p, struct ibv_wc *wc, char *ctrl_line)
{
	uint64_t start = 0;
	unsigned int spins = 0;

	for (;;) {
		int n = ibv_poll_cq(p->rcq, 1, wc);

		if (n < 0)
			return -1;
		if (n)
			return wc_ok(wc);
		if (++spins & 0x3fff)
			continue;
		if (ctrl_line && !ctrl_recv(&p->ctrl, ctrl_line, CTRL_LINE_MAX, 0))
			return 1;
		uint64_t now = tl_now_ns();

		if (!start)
			start = now;
		else if (now - start > PROGRESS_TIMEOUT_NS) {
			fprintf(stderr, "%s: no message for %llu s\n", progname,
				PROGRESS_TIMEOUT_NS / 1000000000ULL);
			return -1;
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double percentile(const uint64_t *sorted, uint64_t n, double pct)
{
	uint64_t idx = (uint64_t)ceil(pct / 100.0 * (double)n);

	return (double)sorted[idx ? idx - 1 : 0] / 1e3;
}

static void lat_stats(uint64_t *ns, uint64_t n, struct result *r)
{
	double sum = 0, sq = 0;

	r->iters = n;
	if (!n)
		return;
	qsort(ns, n, sizeof(*ns), cmp_u64);
	for (uint64_t i = 0; i < n; i++)
		sum += (double)ns[i] / 1e3;
	r->t_avg = sum / (double)n;
	for (uint64_t i = 0; i < n; i++)
		sq += ((double)ns[i] / 1e3 - r->t_avg) * ((double)ns[i] / 1e3 - r->t_avg);
	r->t_stdev = sqrt(sq / (double)n);
	r->t_min = (double)ns[0] / 1e3;
	r->t_max = (double)ns[n - 1] / 1e3;
	r->t_typical = percentile(ns, n, 50);
	r->p99 = percentile(ns, n, 99);
	r->p999 = percentile(ns, n, 99.9);
}

static int client_lat(struct perf *p, struct result *r)
{
	const struct opts *o = p->o;
	enum test t = o->test;
	uint64_t cap = o->duration ? 1 << 16 : o->iters, n = 0, outstanding = 0;
	uint64_t deadline = o->duration ? tl_now_ns() + (uint64_t)o->duration * 1000000000ULL : 0;
	uint64_t *ns = malloc(cap * sizeof(*ns));
	struct ibv_wc wc;
	int ret = -1;

	if (!ns)
		return -1;
	for (uint64_t i = 0; o->duration ? tl_now_ns() < deadline : i < o->iters; i++) {
		uint64_t slot = i % p->g.slots, t0, t1;

		lat_payload(p, local_slot(p, 0, slot), i);
		t0 = tl_now_ns();
		if (post_send(p, 0, i, 0))
			goto out;
		switch (t) {
		case T_WRITE_LAT:
			outstanding++;
			if (wait_marker(p, target_slot(p, 0, slot) + p->g.size - 1, i, NULL))
				goto out;
			t1 = tl_now_ns();
			lat_verify(p, target_slot(p, 0, slot), i, "RDMA WRITE data");
			if (reap_sends(p, &outstanding, false))
				goto out;
			break;
		case T_READ_LAT:
			if (wait_one(p, p->scq, &wc))
				goto out;
			t1 = tl_now_ns();
			if (o->check)
				check_payload(p, local_slot(p, 0, slot), p->g.size,
					      pattern_seed(0, slot), "RDMA READ data");
			break;
		default: /* T_SEND_LAT */
			outstanding++;
			if (wait_recv(p, &wc, NULL))
				goto out;
			t1 = tl_now_ns();
			lat_verify(p, target_slot(p, 0, p->received[0] % p->g.slots), i,
				   "SEND data");
			p->received[0]++;
			if (post_recv(p, 0) || reap_sends(p, &outstanding, false))
				goto out;
			break;
		}
		/* Round trips are halved, as perftest reports them; a READ is one. */
		if (n == cap) {
			uint64_t *more = realloc(ns, 2 * cap * sizeof(*ns));

			if (!more)
				goto out;
			ns = more;
			cap *= 2;
		}
		ns[n++] = t == T_READ_LAT ? t1 - t0 : (t1 - t0) / 2;
	}
	if (reap_sends(p, &outstanding, true))
		goto out;
	p->count[0] = n;
	lat_stats(ns, n, r);
	ret = 0;
out:
	free(ns);
	return ret;
}

/* ---- the server's side of a round ---- */

/* Verifies what the client's WRITEs or atomics left in the targets (--check). */
static void server_verify_targets(struct perf *p, const uint64_t *counts)
{
	enum test t = p->o->test;

	if (!p->o->check)
		return;
	for (int k = 0; k < p->o->qps; k++) {
		uint64_t c = counts[k];

		for (uint64_t s = 0; s < p->g.slots && s < c; s++) {
			if (t == T_WRITE_BW) {
				check_payload(p, target_slot(p, k, s), p->g.size,
					      pattern_seed(k, s), "RDMA WRITE data");
			} else if (t == T_ATOMIC_BW) {
				uint64_t want = (c - s - 1) / p->g.slots + 1, got;

				memcpy(&got, target_slot(p, k, s), sizeof(got));
				if (got != want)
					set_fail(p,
						 "%s target of QP %d slot %" PRIu64
						 " holds %" PRIu64 ", not %" PRIu64,
						 atomic_name(p->o), k, s, got, want);
			}
		}
	}
}

static int parse_counts(struct perf *p, const char *s, uint64_t *counts)
{
	for (int k = 0; k < p->o->qps; k++) {
		int used;

		if (sscanf(s, " %" SCNu64 "%n", &counts[k], &used) != 1)
			return -1;
		s += used;
	}
	return 0;
}

static int server_drain_recvs(struct perf *p, const uint64_t *counts);

/* After REMAP: verify, map fresh targets, answer, then prefetch them. */
static int server_remap(struct perf *p, const char *args)
{
	uint64_t counts[MAX_QPS];

	if (parse_counts(p, args, counts)) {
		ctrl_send(&p->ctrl, "FAIL bad REMAP");
		return -1;
	}
	/* Every message of the window is in: the client saw it acknowledged. */
	if (p->o->test == T_SEND_BW && server_drain_recvs(p, counts))
		return -1;
	server_verify_targets(p, counts);
	if (remap_targets(p)) {
		ctrl_send(&p->ctrl, "FAIL cannot remap");
		return -1;
	}
	fill_sources(p);
	if (ctrl_send(&p->ctrl, "%s", p->fail[0] ? p->fail : "OK"))
		return -1;
	return prefetch(p);
}

/* Polls the receive CQ once, verifying and re-posting: the completions, or -1. */
static int server_poll_recvs(struct perf *p)
{
	struct ibv_wc wc[32];
	int n = ibv_poll_cq(p->rcq, 32, wc);

	for (int i = 0; i < n; i++) {
		int k = qp_index(p, wc[i].qp_num);

		if (wc_ok(&wc[i]) || k < 0)
			return -1;
		if (p->o->check) {
			uint64_t s = p->received[k] % p->g.slots;

			check_payload(p, target_slot(p, k, s), p->g.size, pattern_seed(k, s),
				      "SEND data");
		}
		p->received[k]++;
		if (post_recv(p, k))
			return -1;
	}
	return n;
}

/* Waits until every QP received @counts messages since the last remap. */
static int server_drain_recvs(struct perf *p, const uint64_t *counts)
{
	uint64_t last = tl_now_ns();

	for (;;) {
		bool all = true;
		int n;

		for (int k = 0; k < p->o->qps; k++)
			all &= p->received[k] - p->received_base[k] >= counts[k];
		if (all) {
			memcpy(p->received_base, p->received, sizeof(p->received));
			return 0;
		}
		n = server_poll_recvs(p);
		if (n < 0)
			return -1;
		if (n)
			last = tl_now_ns();
		else if (tl_now_ns() - last > PROGRESS_TIMEOUT_NS) {
			fprintf(stderr, "%s: messages the client sent never arrived\n", progname);
			return -1;
		}
	}
}

/* Receives the client's SEND messages until END, answering REMAPs. */
static int server_send_bw(struct perf *p, char *line)
{
	uint64_t counts[MAX_QPS];

	for (;;) {
		int ret;

		if (server_poll_recvs(p) < 0)
			return -1;
		ret = ctrl_recv(&p->ctrl, line, CTRL_LINE_MAX, 0);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret)
			return -1;
		if (!strncmp(line, "REMAP", 5)) {
			if (server_remap(p, line + 5))
				return -1;
			continue;
		}
		if (strncmp(line, "END", 3) || parse_counts(p, line + 3, counts))
			return -1;
		return server_drain_recvs(p, counts);
	}
}

/* The server's half of write_lat and send_lat: answer every ping until END. */
static int server_pingpong(struct perf *p, char *line)
{
	uint64_t outstanding = 0;
	struct ibv_wc wc;

	for (uint64_t i = 0;; i++) {
		uint64_t slot = i % p->g.slots;
		int ret;

		if (p->o->test == T_WRITE_LAT)
			ret = wait_marker(p, target_slot(p, 0, slot) + p->g.size - 1, i, line);
		else
			ret = wait_recv(p, &wc, line);
		if (ret < 0)
			return -1;
		if (ret == 1) /* the client's END */
			return reap_sends(p, &outstanding, true);
		if (p->o->test == T_WRITE_LAT) {
			lat_verify(p, target_slot(p, 0, slot), i, "RDMA WRITE data");
		} else {
			lat_verify(p, target_slot(p, 0, p->received[0] % p->g.slots), i,
				   "SEND data");
			p->received[0]++;
			if (post_recv(p, 0))
				return -1;
		}
		lat_payload(p, local_slot(p, 0, slot), i);
		if (post_send(p, 0, i, 0))
			return -1;
		outstanding++;
		if (reap_sends(p, &outstanding, false))
			return -1;
	}
}

static int send_stats(struct perf *p)
{
	struct tl_odp_counters c;
	char text[1024];

	if (tl_mr_counters(p->mr, &c))
		return ctrl_send(&p->ctrl, "STATS none");
	tl_counters_format(&c, text, sizeof(text));
	return ctrl_send(&p->ctrl, "STATS %s", text);
}

/* ---- output ---- */

static const char *const dashes =
	"---------------------------------------------------------------------------------------";

static void print_header(struct perf *p)
{
	const struct opts *o = p->o;
	char mode[64];

	if (o->json)
		return;
	snprintf(mode, sizeof(mode), "%s%s%s", odp_names[o->odp], o->hugepages ? ", hugetlb" : "",
		 o->cold ? ", cold" : "");
	printf("%s\n", dashes);
	if (tests[o->test].title)
		printf("                    %s\n", tests[o->test].title);
	else
		printf("                    Atomic %s BW Test\n", atomic_name(o));
	printf(" Device         : %-12s Number of qps   : %d\n",
	       ibv_get_device_name(p->ctx->device), o->qps);
	printf(" Mtu            : %-4d[B]      GID index       : %d\n", tl_mtu_bytes(p->path.mtu),
	       o->gid_index);
	printf(" Memory         : %-22s Prefetch : %s\n", mode, prefetch_names[o->prefetch]);
	printf(" Data check     : %-12s Role            : %s\n", o->check ? "ON" : "OFF",
	       p->server ? "server" : "client");
	printf("%s\n", dashes);
	if (p->server)
		return;
	if (tests[o->test].lat)
		printf(" #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    "
		       "t_avg[usec]    t_stdev[usec]   99%% percentile[usec]   99.9%% "
		       "percentile[usec] \n");
	else
		printf(" #bytes     #iterations    BW peak[%s]    BW average[%s]   MsgRate[Mpps]\n",
		       o->report_gbits ? "Gb/sec" : "MB/sec",
		       o->report_gbits ? "Gb/sec" : "MB/sec");
	fflush(stdout);
}

static double bw_unit(const struct opts *o, double mbps)
{
	return o->report_gbits ? mbps * MEGA * 8 / 1e9 : mbps;
}

static void print_row(const struct opts *o, const struct result *r)
{
	if (o->json)
		return;
	if (tests[o->test].lat)
		printf(" %-7" PRIu64 " %-7" PRIu64 "          %-7.2f        %-7.2f      %-7.2f  "
		       "\t       %-7.2f     \t%-7.2f\t\t%-7.2f  \t\t%-7.2f\n",
		       r->size, r->iters, r->t_min, r->t_max, r->t_typical, r->t_avg, r->t_stdev,
		       r->p99, r->p999);
	else
		printf(" %-7" PRIu64 "    %-10" PRIu64
		       "     %-7.2f            %-7.2f\t\t   %-7.6f\n",
		       r->size, r->iters, bw_unit(o, r->bw_peak), bw_unit(o, r->bw_avg),
		       r->msg_rate);
	fflush(stdout);
}

static void print_counters_table(const struct opts *o, const struct result *res, int n)
{
	if (o->json || !n || !res[0].have_counters)
		return;
	printf("%s\n ODP counters of each round (MR of each side)\n", dashes);
	printf(" #bytes     side    faults   pages_faulted  rnr_naks  prefetches  invalidations  "
	       "mtt_4K  mtt_2M  mtt_1G\n");
	for (int i = 0; i < n; i++)
		for (int s = 0; s < 2; s++) {
			const struct tl_odp_counters *c = s ? &res[i].peer : &res[i].mine;

			printf(" %-10" PRIu64 " %-7s %-8" PRIu64 " %-14" PRIu64 " %-9" PRIu64
			       " %-11" PRIu64 " %-14" PRIu64 " %-7" PRIu64 " %-7" PRIu64 " %" PRIu64
			       "\n",
			       res[i].size, s ? "server" : "client", c->faults, c->pages_faulted,
			       c->rnr_naks, c->prefetches, c->invalidations, c->entries_by_order[0],
			       c->entries_by_order[1], c->entries_by_order[2]);
		}
}

static void print_json(struct perf *p, const struct result *res, int n)
{
	const struct opts *o = p->o;
	char c1[1024], c2[1024];

	printf("{\n  \"tool\": \"softodp_perf\",\n  \"test\": \"%s\",\n  \"device\": \"%s\",\n"
	       "  \"qps\": %d,\n  \"mtu\": %d,\n  \"memory\": \"%s\",\n  \"hugepages\": %s,\n"
	       "  \"prefetch\": \"%s\",\n  \"cold\": %s,\n  \"check\": %s,\n  \"softodp\": %s,\n"
	       "  \"results\": [",
	       tests[o->test].name, ibv_get_device_name(p->ctx->device), o->qps,
	       tl_mtu_bytes(p->path.mtu), odp_names[o->odp], o->hugepages ? "true" : "false",
	       prefetch_names[o->prefetch], o->cold ? "true" : "false", o->check ? "true" : "false",
	       tl_on_softodp() ? "true" : "false");
	for (int i = 0; i < n; i++) {
		const struct result *r = &res[i];

		printf("%s\n    {\"bytes\": %" PRIu64 ", \"iterations\": %" PRIu64, i ? "," : "",
		       r->size, r->iters);
		if (tests[o->test].lat)
			printf(", \"t_min_us\": %.3f, \"t_max_us\": %.3f, \"t_typical_us\": %.3f, "
			       "\"t_avg_us\": %.3f, \"t_stdev_us\": %.3f, \"p50_us\": %.3f, "
			       "\"p99_us\": %.3f, \"p99_9_us\": %.3f, \"max_us\": %.3f",
			       r->t_min, r->t_max, r->t_typical, r->t_avg, r->t_stdev, r->t_typical,
			       r->p99, r->p999, r->t_max);
		else
			printf(", \"bw_peak_MBps\": %.3f, \"bw_avg_MBps\": %.3f, "
			       "\"bw_avg_Gbps\": %.4f, \"msg_rate_Mpps\": %.6f",
			       r->bw_peak, r->bw_avg, r->bw_avg * MEGA * 8 / 1e9, r->msg_rate);
		printf(", \"check\": \"%s\"", r->checked ? "passed" : "off");
		if (r->have_counters) {
			tl_counters_json(&r->mine, c1, sizeof(c1));
			tl_counters_json(&r->peer, c2, sizeof(c2));
			printf(",\n     \"odp\": {\"client\": {%s},\n             \"server\": "
			       "{%s}}",
			       c1, c2);
		}
		printf("}");
	}
	printf("\n  ]\n}\n");
}

/* ---- setup ---- */

static int setup_verbs(struct perf *p)
{
	const struct opts *o = p->o;
	struct ibv_port_attr port;

	p->ctx = tl_open_device(o->dev);
	if (!p->ctx)
		return -1;
	if (o->odp && !tl_odp_supported(p->ctx, o->odp == ODP_IMPLICIT)) {
		fprintf(stderr, "%s: %s does not support %s ODP\n", progname,
			ibv_get_device_name(p->ctx->device),
			o->odp == ODP_IMPLICIT ? "implicit" : "explicit");
		return -1;
	}
	if (ibv_query_port(p->ctx, (uint8_t)o->ib_port, &port)) {
		fprintf(stderr, "%s: ibv_query_port(%d): %s\n", progname, o->ib_port,
			strerror(errno));
		return -1;
	}
	p->path = (struct tl_path){.port = (uint8_t)o->ib_port,
				   .gid_index = o->gid_index,
				   .mtu = o->mtu ? tl_mtu_from_bytes(o->mtu) : port.active_mtu,
				   .rd_atomic = RD_ATOMIC};
	p->pd = ibv_alloc_pd(p->ctx);
	p->scq = p->pd ? ibv_create_cq(p->ctx, TX_DEPTH * o->qps, NULL, NULL, 0) : NULL;
	p->rcq = p->scq ? ibv_create_cq(p->ctx, RX_DEPTH * o->qps, NULL, NULL, 0) : NULL;
	if (!p->rcq) {
		fprintf(stderr, "%s: cannot allocate a PD and CQs: %s\n", progname,
			strerror(errno));
		return -1;
	}
	for (int k = 0; k < o->qps; k++) {
		p->qp[k] = tl_create_rc_qp(p->pd, p->scq, p->rcq, TX_DEPTH, RX_DEPTH, &p->path,
					   &p->local[k]);
		if (!p->qp[k])
			return -1;
	}
	return 0;
}

static void teardown_verbs(struct perf *p)
{
	round_teardown(p);
	for (int k = 0; k < MAX_QPS; k++)
		if (p->qp[k])
			ibv_destroy_qp(p->qp[k]);
	if (p->rcq)
		ibv_destroy_cq(p->rcq);
	if (p->scq)
		ibv_destroy_cq(p->scq);
	if (p->pd)
		ibv_dealloc_pd(p->pd);
	if (p->ctx)
		ibv_close_device(p->ctx);
}

/* What both sides must agree on. */
static void hello_line(const struct opts *o, char *buf, size_t len)
{
	snprintf(buf, len,
		 "HELLO test=%s qps=%d size=%" PRIu64 " all=%d iters=%" PRIu64
		 " duration=%d cold=%d check=%d",
		 tests[o->test].name, o->qps, o->size, o->all, o->iters, o->duration, o->cold,
		 o->check);
}

static int exchange_qps(struct perf *p)
{
	char line[CTRL_LINE_MAX], gid[33];

	for (int k = 0; k < p->o->qps; k++) {
		tl_gid_format(&p->local[k].gid, gid);
		if (ctrl_send(&p->ctrl, "QP %d %u %u %u %s", k, p->local[k].qpn, p->local[k].psn,
			      p->local[k].lid, gid))
			return -1;
	}
	for (int k = 0; k < p->o->qps; k++) {
		struct tl_endpoint *r = &p->remote[k];
		unsigned int lid;
		int idx;

		if (ctrl_recv(&p->ctrl, line, sizeof(line), REPLY_TIMEOUT_MS) ||
		    sscanf(line, "QP %d %u %u %u %32s", &idx, &r->qpn, &r->psn, &lid, gid) != 5 ||
		    idx != k || tl_gid_parse(gid, &r->gid)) {
			fprintf(stderr, "%s: bad connection data from the peer: '%s'\n", progname,
				line);
			return -1;
		}
		r->lid = (uint16_t)lid;
		if (tl_connect_rc_qp(p->qp[k], &p->local[k], r, &p->path))
			return -1;
	}
	return 0;
}

static uint64_t next_size(const struct opts *o, uint64_t size)
{
	if (!o->all)
		return 0;
	return size < SWEEP_MAX ? size * 2 : 0;
}

static int run_client(struct perf *p)
{
	const struct opts *o = p->o;
	char line[CTRL_LINE_MAX];
	struct result res[32];
	int nres = 0, ret;
	bool failed = false;

	ret = ctrl_connect(&p->ctrl, o->server, o->port, CONNECT_TIMEOUT_MS);
	if (ret) {
		fprintf(stderr, "%s: cannot connect to %s port %d: %s\n", progname, o->server,
			o->port, strerror(-ret));
		return 1;
	}
	hello_line(o, line, sizeof(line));
	if (ctrl_send(&p->ctrl, "%s", line) || expect_reply(p, "OK"))
		return 1;
	if (exchange_qps(p))
		return 1;
	print_header(p);
	for (uint64_t size = o->all ? SWEEP_MIN : o->size; size; size = next_size(o, size)) {
		struct result *r = &res[nres++];

		memset(r, 0, sizeof(*r));
		r->size = size;
		if (round_setup(p, size) ||
		    ctrl_send(&p->ctrl, "SIZE %" PRIu64 " %" PRIx64 " %" PRIx32, size,
			      (uint64_t)(uintptr_t)p->buf, p->mr->rkey) ||
		    ctrl_recv(&p->ctrl, line, sizeof(line), REPLY_TIMEOUT_MS)) {
			fprintf(stderr, "%s: the round of %" PRIu64 " bytes did not start\n",
				progname, size);
			return 1;
		}
		if (o->test == T_SEND_LAT)
			for (int i = 0; i < RX_DEPTH; i++)
				if (post_recv(p, 0))
					return 1;
		{
			uint64_t region, slots, slot;

			if (sscanf(line,
				   "MR %" SCNx64 " %" SCNx32 " %" SCNu64 " %" SCNu64 " %" SCNu64,
				   &p->remote_addr, &p->remote_rkey, &region, &slots, &slot) != 5 ||
			    region != p->g.region || slots != p->g.slots || slot != p->g.slot) {
				fprintf(stderr, "%s: server: %s\n", progname, line);
				return 1;
			}
		}
		ret = tests[o->test].lat ? client_lat(p, r) : client_bw(p, r);
		if (ret)
			return 1;
		if (send_counts(p, "END") ||
		    ctrl_recv(&p->ctrl, line, sizeof(line), REPLY_TIMEOUT_MS)) {
			fprintf(stderr, "%s: no answer from the server\n", progname);
			return 1;
		}
		if (strcmp(line, "DONE ok")) {
			fprintf(stderr, "%s: server: %s\n", progname, line);
			failed = true;
		}
		if (p->fail[0]) {
			fprintf(stderr, "%s: %s\n", progname, p->fail);
			failed = true;
		}
		r->checked = o->check && !failed;
		if (ctrl_recv(&p->ctrl, line, sizeof(line), REPLY_TIMEOUT_MS) ||
		    strncmp(line, "STATS ", 6)) {
			fprintf(stderr, "%s: no counters from the server\n", progname);
			return 1;
		}
		r->have_counters = !tl_mr_counters(p->mr, &r->mine) &&
				   !tl_counters_parse(line + 6, &r->peer) &&
				   strcmp(line + 6, "none");
		if (!r->have_counters) {
			memset(&r->mine, 0, sizeof(r->mine));
			memset(&r->peer, 0, sizeof(r->peer));
		}
		print_row(o, r);
		round_teardown(p);
		if (failed)
			break;
	}
	ctrl_send(&p->ctrl, "BYE");
	if (o->json)
		print_json(p, res, nres);
	else {
		print_counters_table(o, res, nres);
		printf("%s\n", dashes);
	}
	return failed ? 1 : 0;
}

static int run_server(struct perf *p)
{
	const struct opts *o = p->o;
	char line[CTRL_LINE_MAX], mine[CTRL_LINE_MAX];
	int ret;

	ret = ctrl_accept(&p->ctrl, o->port, ACCEPT_TIMEOUT_MS);
	if (ret) {
		fprintf(stderr, "%s: no client on port %d: %s\n", progname, o->port,
			strerror(-ret));
		return 1;
	}
	hello_line(o, mine, sizeof(mine));
	if (ctrl_recv(&p->ctrl, line, sizeof(line), REPLY_TIMEOUT_MS))
		return 1;
	if (strcmp(line, mine)) {
		fprintf(stderr, "%s: the client's options differ:\n  client: %s\n  server: %s\n",
			progname, line + 6, mine + 6);
		ctrl_send(&p->ctrl, "ERR the options differ: server has %s", mine + 6);
		return 1;
	}
	if (ctrl_send(&p->ctrl, "OK") || exchange_qps(p))
		return 1;
	print_header(p);
	for (;;) {
		uint64_t size, counts[MAX_QPS];

		ret = ctrl_recv(&p->ctrl, line, sizeof(line), COMMAND_TIMEOUT_MS);
		if (ret) {
			fprintf(stderr, "%s: the client went away: %s\n", progname, strerror(-ret));
			return 1;
		}
		if (!strcmp(line, "BYE"))
			return 0;
		if (sscanf(line, "SIZE %" SCNu64 " %" SCNx64 " %" SCNx32, &size, &p->remote_addr,
			   &p->remote_rkey) != 3) {
			fprintf(stderr, "%s: unexpected '%s' from the client\n", progname, line);
			return 1;
		}
		if (round_setup(p, size)) {
			ctrl_send(&p->ctrl, "ERR the server cannot set up %" PRIu64 " bytes", size);
			return 1;
		}
		/* Receives are posted before the client may send. */
		if (o->test == T_SEND_BW || o->test == T_SEND_LAT)
			for (int k = 0; k < o->qps; k++)
				for (int i = 0; i < RX_DEPTH; i++)
					if (post_recv(p, k))
						return 1;
		if (ctrl_send(&p->ctrl,
			      "MR %" PRIx64 " %" PRIx32 " %" PRIu64 " %" PRIu64 " %" PRIu64,
			      (uint64_t)(uintptr_t)p->buf, p->mr->rkey, p->g.region, p->g.slots,
			      p->g.slot))
			return 1;
		/* The round: serve it until the client's END. */
		line[0] = '\0';
		if (o->test == T_SEND_BW)
			ret = server_send_bw(p, line);
		else if (o->test == T_WRITE_LAT || o->test == T_SEND_LAT)
			ret = server_pingpong(p, line);
		else
			for (ret = 0; !ret;) {
				ret = ctrl_recv(&p->ctrl, line, sizeof(line), COMMAND_TIMEOUT_MS);
				if (!ret && !strncmp(line, "REMAP", 5))
					ret = server_remap(p, line + 5);
				else
					break;
			}
		if (ret || strncmp(line, "END", 3) || parse_counts(p, line + 3, counts)) {
			fprintf(stderr, "%s: the round of %" PRIu64 " bytes failed%s%s\n", progname,
				size, line[0] ? " at " : "", line);
			return 1;
		}
		server_verify_targets(p, counts);
		if (p->fail[0])
			fprintf(stderr, "%s: %s\n", progname, p->fail);
		if (ctrl_send(&p->ctrl, "DONE %s%s", p->fail[0] ? "FAIL " : "ok", p->fail) ||
		    send_stats(p))
			return 1;
		if (!o->json) {
			struct tl_odp_counters c;

			if (!tl_mr_counters(p->mr, &c))
				printf(" %" PRIu64 " bytes: faults %" PRIu64
				       ", pages faulted %" PRIu64 ", RNR NAKs %" PRIu64
				       ", invalidations %" PRIu64 "\n",
				       size, c.faults, c.pages_faulted, c.rnr_naks,
				       c.invalidations);
			else
				printf(" %" PRIu64 " bytes: done\n", size);
			fflush(stdout);
		}
		round_teardown(p);
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	struct perf p = {.o = &o, .ctrl = {.fd = -1}};
	int ret;

	tl_usage_init(progname, usage);
	parse_opts(argc, argv, &o);
	p.server = !o.server;
	signal(SIGPIPE, SIG_IGN);
	if (setup_verbs(&p)) {
		teardown_verbs(&p);
		return 1;
	}
	ret = p.server ? run_server(&p) : run_client(&p);
	ctrl_close(&p.ctrl);
	teardown_verbs(&p);
	return ret;
}
