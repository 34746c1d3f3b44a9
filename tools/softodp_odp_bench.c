// SPDX-License-Identifier: MIT
/*
 * softodp_odp_bench: what on-demand paging costs and saves, side by side, in
 * one run of one process.
 *
 * Both ends live in this process: a requester on one device and a responder
 * on another (on softodp, srxe0=127.0.0.1 and srxe1=127.0.0.2 unless
 * SOFTODP_DEVICES says otherwise), joined by RC QPs. The requester's source
 * buffer is pinned and warm; what changes between measurements is the
 * responder's target memory: how it is registered (pinned, explicit ODP,
 * implicit ODP, inside a pre-registered arena) and what backs it (4 KiB
 * pages, transparent huge pages, hugetlb pages).
 *
 * Sections (each can be chosen with --only):
 *   reg    registration + deregistration time, 4 KiB ... 16 GiB
 *   bw     RDMA WRITE bandwidth by message size into first-touch (cold) and
 *          warm memory of each kind
 *   inval  invalidation under traffic: MADV_DONTNEED or a remap of a
 *          registered range while WRITEs are in flight, and the time to the
 *          next WRITE that succeeds
 *   mtt    MTT entries and MTT memory per page size (sodp_mr_get_stats)
 *   scale  1 ... 1000 MRs, 1 ... 8 QPs
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools.h"

#define MAX_QPS		    8
#define SEND_DEPTH	    64
#define MAX_MSG		    (4UL << 20)
#define PROGRESS_TIMEOUT_NS (30ULL * 1000000000ULL)
#define MEGA		    (1024.0 * 1024.0)
#define DEFAULT_DEVICES	    "srxe0=127.0.0.1,srxe1=127.0.0.2"
#define NONE		    (-1.0) /* a measurement skipped */

enum section { S_REG, S_BW, S_INVAL, S_MTT, S_SCALE, NR_SECTIONS };
static const char *const section_names[NR_SECTIONS] = {"reg", "bw", "inval", "mtt", "scale"};

enum backing { B_4K, B_THP, B_HUGETLB };

struct opts {
	bool quick;
	bool json;
	const char *plot;
	const char *dev, *peer_dev;
	int gid_index;
	bool sections[NR_SECTIONS];
};

struct bench {
	struct opts *o;
	struct ibv_context *ctx[2]; /* requester, responder */
	struct ibv_pd *pd[2];
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2][MAX_QPS];
	uint8_t *src;
	struct ibv_mr *src_mr;
	bool softodp;
	uint64_t region; /* bytes of a bandwidth target */
	/* hugetlb pages this run added to nr_hugepages, given back at the end */
	long hugetlb_added;
	char hugetlb_note[160];
	uint64_t pin_budget;
	FILE *out; /* the table, or NULL with --json */
};

static const char *progname = "softodp_odp_bench";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS]\n"
		"\n"
		"Measures, in one process with two RDMA devices joined by RC QPs, what\n"
		"on-demand paging costs and saves: registration time of pinned, explicit\n"
		"ODP, implicit ODP and pre-registered memory from 4 KiB to 16 GiB; RDMA WRITE\n"
		"bandwidth into first-touch and warm memory of 4 KiB pages, THP and hugetlb\n"
		"pages; invalidation under traffic; MTT entries per page size; and scaling\n"
		"with MRs and QPs.\n"
		"\n"
		"      --quick            small sizes and counts (seconds, for tests)\n"
		"      --json             a JSON document on stdout instead of tables\n"
		"      --plot=FILE.png    draw bandwidth against message size (gnuplot)\n"
		"      --only=SECTIONS    run these, comma-separated: reg,bw,inval,mtt,scale\n"
		"  -d, --ib-dev=NAME      the requester's device (default: the first)\n"
		"      --peer-dev=NAME    the responder's device (default: the second, or the\n"
		"                         first again when there is one)\n"
		"  -x, --gid-index=N      the GID index of port 1 (default 0)\n"
		"  -h, --help             this help\n"
		"\n"
		"On softodp, without SOFTODP_DEVICES, the devices are %s.\n"
		"Exit status: 0, 1 for a failed measurement, 2 for bad options.\n",
		progname, DEFAULT_DEVICES);
}

enum { OPT_QUICK = 256, OPT_JSON, OPT_PLOT, OPT_ONLY, OPT_PEER };

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"quick", no_argument, NULL, OPT_QUICK},
		{"json", no_argument, NULL, OPT_JSON},
		{"plot", required_argument, NULL, OPT_PLOT},
		{"only", required_argument, NULL, OPT_ONLY},
		{"ib-dev", required_argument, NULL, 'd'},
		{"peer-dev", required_argument, NULL, OPT_PEER},
		{"gid-index", required_argument, NULL, 'x'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool only = false;
	int c;

	*o = (struct opts){0};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:x:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_QUICK:
			o->quick = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_PLOT:
			o->plot = optarg;
			if (!*optarg)
				tl_die_usage("--plot wants a file name");
			break;
		case OPT_ONLY: {
			char *list = strdup(optarg), *save = NULL;

			only = true;
			for (char *s = strtok_r(list, ",", &save); s;
			     s = strtok_r(NULL, ",", &save)) {
				int i;

				for (i = 0; i < NR_SECTIONS; i++)
					if (!strcmp(s, section_names[i]))
						break;
				if (i == NR_SECTIONS)
					tl_die_usage("--only: unknown section '%s'", s);
				o->sections[i] = true;
			}
			free(list);
			break;
		}
		case 'd':
			o->dev = optarg;
			break;
		case OPT_PEER:
			o->peer_dev = optarg;
			break;
		case 'x':
			o->gid_index = (int)tl_parse_int("-x", optarg, 0, 255);
			break;
		default:
			tl_opt_other(c, argv);
		}
	}
	if (optind < argc)
		tl_die_usage("unexpected argument '%s'", argv[optind]);
	if (!only)
		for (int i = 0; i < NR_SECTIONS; i++)
			o->sections[i] = true;
	if (o->plot && !o->sections[S_BW])
		tl_die_usage("--plot draws the bw section: add bw to --only");
}

/* ---- setup ---- */

static struct ibv_context *open_nth(const char *name, int nth)
{
	struct ibv_device **list;
	struct ibv_context *ctx;
	int n;

	if (name)
		return tl_open_device(name);
	list = ibv_get_device_list(&n);
	if (!list || !n) {
		fprintf(stderr, "%s: no RDMA device\n", progname);
		if (list)
			ibv_free_device_list(list);
		return NULL;
	}
	ctx = ibv_open_device(list[nth < n ? nth : 0]);
	if (!ctx)
		fprintf(stderr, "%s: cannot open %s: %s\n", progname,
			ibv_get_device_name(list[nth < n ? nth : 0]), strerror(errno));
	ibv_free_device_list(list);
	return ctx;
}

static int setup(struct bench *b)
{
	struct tl_endpoint ep[2][MAX_QPS];
	struct ibv_port_attr port;
	struct tl_path path;

	b->ctx[0] = open_nth(b->o->dev, 0);
	b->ctx[1] = b->ctx[0] ? open_nth(b->o->peer_dev, 1) : NULL;
	if (!b->ctx[1])
		return -1;
	if (!tl_odp_supported(b->ctx[1], true)) {
		fprintf(stderr, "%s: %s does not support explicit and implicit ODP\n", progname,
			ibv_get_device_name(b->ctx[1]->device));
		return -1;
	}
	if (ibv_query_port(b->ctx[0], 1, &port)) {
		fprintf(stderr, "%s: ibv_query_port: %s\n", progname, strerror(errno));
		return -1;
	}
	/*
	 * A 1 s ACK timeout: the responder runs in this process, so a slow
	 * fault there (a sanitizer build, a loaded machine) holds back its
	 * ACKs as well.
	 */
	path = (struct tl_path){.port = 1,
				.gid_index = b->o->gid_index,
				.mtu = port.active_mtu,
				.rd_atomic = 16,
				.timeout = 18};
	for (int s = 0; s < 2; s++) {
		b->pd[s] = ibv_alloc_pd(b->ctx[s]);
		b->cq[s] = b->pd[s] ? ibv_create_cq(b->ctx[s], SEND_DEPTH * MAX_QPS, NULL, NULL, 0)
				    : NULL;
		if (!b->cq[s]) {
			fprintf(stderr, "%s: cannot allocate a PD and a CQ: %s\n", progname,
				strerror(errno));
			return -1;
		}
		for (int k = 0; k < MAX_QPS; k++) {
			b->qp[s][k] = tl_create_rc_qp(b->pd[s], b->cq[s], b->cq[s], SEND_DEPTH, 1,
						      &path, &ep[s][k]);
			if (!b->qp[s][k])
				return -1;
		}
	}
	for (int s = 0; s < 2; s++)
		for (int k = 0; k < MAX_QPS; k++)
			if (tl_connect_rc_qp(b->qp[s][k], &ep[s][k], &ep[!s][k], &path))
				return -1;
	b->src = mmap(NULL, MAX_MSG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->src == MAP_FAILED)
		return -1;
	tl_pattern_fill(b->src, MAX_MSG, 1);
	b->src_mr = ibv_reg_mr(b->pd[0], b->src, MAX_MSG, IBV_ACCESS_LOCAL_WRITE);
	if (!b->src_mr) {
		fprintf(stderr, "%s: ibv_reg_mr(source): %s\n", progname, strerror(errno));
		return -1;
	}
	b->softodp = tl_on_softodp();
	return 0;
}

static void teardown(struct bench *b)
{
	if (b->src_mr)
		ibv_dereg_mr(b->src_mr);
	if (b->src && b->src != MAP_FAILED)
		munmap(b->src, MAX_MSG);
	for (int s = 0; s < 2; s++) {
		for (int k = 0; k < MAX_QPS; k++)
			if (b->qp[s][k])
				ibv_destroy_qp(b->qp[s][k]);
		if (b->cq[s])
			ibv_destroy_cq(b->cq[s]);
		if (b->pd[s])
			ibv_dealloc_pd(b->pd[s]);
		if (b->ctx[s])
			ibv_close_device(b->ctx[s]);
	}
}

/* ---- memory ---- */

static uint64_t meminfo(const char *key)
{
	char line[256];
	unsigned long long v = 0;
	size_t l = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, l) && line[l] == ':') {
			sscanf(line + l + 1, "%llu", &v);
			break;
		}
	fclose(f);
	return (uint64_t)v;
}

static long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -errno;
	ret = fprintf(f, "%ld\n", v) < 0 ? -EIO : 0;
	if (fclose(f))
		ret = -errno;
	return ret;
}

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

/*
 * Makes @bytes of 2 MiB hugetlb pages free, raising nr_hugepages when it
 * may (restored by hugetlb_restore()). True when they are there; otherwise
 * the note says why not.
 */
static bool hugetlb_reserve(struct bench *b, uint64_t bytes)
{
	long need = (long)(bytes / TL_HUGE_SIZE), free_pages, now;

	if (meminfo("Hugepagesize") != TL_HUGE_SIZE / 1024) {
		snprintf(b->hugetlb_note, sizeof(b->hugetlb_note),
			 "the default hugetlb page is not 2 MiB");
		return false;
	}
	free_pages = (long)meminfo("HugePages_Free");
	if (free_pages >= need)
		return true;
	now = read_long(NR_HUGEPAGES);
	if (now < 0 || write_long(NR_HUGEPAGES, now + need - free_pages)) {
		snprintf(b->hugetlb_note, sizeof(b->hugetlb_note),
			 "%ld free hugetlb pages, %ld needed, and %s cannot be raised", free_pages,
			 need, NR_HUGEPAGES);
		return false;
	}
	b->hugetlb_added += need - free_pages;
	free_pages = (long)meminfo("HugePages_Free");
	if (free_pages < need) {
		snprintf(b->hugetlb_note, sizeof(b->hugetlb_note),
			 "raising %s gave %ld free hugetlb pages of %ld needed", NR_HUGEPAGES,
			 free_pages, need);
		return false;
	}
	snprintf(b->hugetlb_note, sizeof(b->hugetlb_note),
		 "%s raised by %ld pages for this run, and lowered again", NR_HUGEPAGES,
		 b->hugetlb_added);
	return true;
}

/* Gives back the pages this run added (others may have raised it meanwhile). */
static void hugetlb_restore(struct bench *b)
{
	long now = read_long(NR_HUGEPAGES);

	if (!b->hugetlb_added)
		return;
	if (now < 0 ||
	    write_long(NR_HUGEPAGES, now > b->hugetlb_added ? now - b->hugetlb_added : 0))
		fprintf(stderr, "%s: could not lower %s by %ld\n", progname, NR_HUGEPAGES,
			b->hugetlb_added);
	b->hugetlb_added = 0;
}

/* Fresh, untouched memory of @len bytes, 2 MiB aligned; NULL on failure. */
static void *map_backing(uint64_t len, enum backing kind)
{
	uint64_t span = len + TL_HUGE_SIZE;
	uint8_t *p, *a;

	if (kind == B_HUGETLB) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)tl_round_up((uintptr_t)p, TL_HUGE_SIZE);
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + len, (size_t)(p + span - (a + len)));
	if (madvise(a, len, kind == B_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)) {
		munmap(a, len);
		return NULL;
	}
	return a;
}

static int access_flags(void)
{
	return IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
}

enum reg_kind { R_PINNED, R_ODP, R_IMPLICIT };

static struct ibv_mr *reg(struct bench *b, void *addr, uint64_t len, enum reg_kind kind)
{
	struct ibv_mr *mr;

	if (kind == R_IMPLICIT)
		mr = ibv_reg_mr(b->pd[1], NULL, SIZE_MAX, access_flags() | IBV_ACCESS_ON_DEMAND);
	else
		mr = ibv_reg_mr(b->pd[1], addr, len,
				access_flags() | (kind == R_ODP ? IBV_ACCESS_ON_DEMAND : 0));
	if (!mr)
		fprintf(stderr, "%s: ibv_reg_mr(%" PRIu64 " bytes): %s\n", progname, len,
			strerror(errno));
	return mr;
}

/* Says which target a failed pass went to, with its MR's fault counters. */
static void report_failure(struct ibv_mr *mr, const char *what)
{
	struct tl_odp_counters c;

	if (!tl_mr_counters(mr, &c))
		fprintf(stderr,
			"%s: %s failed; its MR: faults %" PRIu64 ", handled %" PRIu64
			", errors %" PRIu64 ", pages faulted %" PRIu64 ", invalidations %" PRIu64
			"\n",
			progname, what, c.faults, c.faults_handled, c.fault_errors, c.pages_faulted,
			c.invalidations);
	else
		fprintf(stderr, "%s: %s failed\n", progname, what);
}

/* ---- traffic ---- */

struct target {
	uint64_t addr;
	uint64_t len;
	uint32_t rkey;
};

/*
 * WRITEs of @msg bytes over @nt targets (each filled message by message in
 * turn, round robin over the targets), spread over @nqp QPs, SEND_DEPTH in
 * flight on each. 0 and the elapsed time, or -1.
 */
static int write_pass(struct bench *b, const struct target *t, int nt, uint64_t msg, int nqp,
		      uint64_t *ns)
{
	uint64_t per = t[0].len / msg, total = per * (uint64_t)nt, posted = 0, done = 0;
	uint64_t inflight[MAX_QPS] = {0}, start = tl_now_ns(), last = start;
	struct ibv_wc wc[32];

	while (done < total) {
		for (int k = 0; k < nqp && posted < total; k++)
			while (inflight[k] < SEND_DEPTH && posted < total) {
				const struct target *tg = &t[posted % (uint64_t)nt];
				struct ibv_sge sge = {.addr = (uintptr_t)b->src,
						      .length = (uint32_t)msg,
						      .lkey = b->src_mr->lkey};
				struct ibv_send_wr wr = {.wr_id = (uint64_t)k,
							 .sg_list = &sge,
							 .num_sge = 1,
							 .opcode = IBV_WR_RDMA_WRITE,
							 .send_flags = IBV_SEND_SIGNALED,
							 .wr.rdma = {.remote_addr = tg->addr +
										    (posted /
										     (uint64_t)nt) *
											    msg,
								     .rkey = tg->rkey}},
						   *bad;
				int ret = ibv_post_send(b->qp[0][k], &wr, &bad);

				if (ret) {
					fprintf(stderr, "%s: ibv_post_send: %s\n", progname,
						strerror(ret));
					return -1;
				}
				inflight[k]++;
				posted++;
				if (nqp > 1)
					break;
			}
		int n = ibv_poll_cq(b->cq[0], 32, wc);

		if (n < 0)
			return -1;
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				fprintf(stderr, "%s: WRITE completion: %s\n", progname,
					ibv_wc_status_str(wc[i].status));
				return -1;
			}
			inflight[wc[i].wr_id]--;
			done++;
		}
		if (n)
			last = tl_now_ns();
		else if (tl_now_ns() - last > PROGRESS_TIMEOUT_NS) {
			fprintf(stderr, "%s: no WRITE completed for 30 s\n", progname);
			return -1;
		}
	}
	*ns = tl_now_ns() - start;
	return 0;
}

static double mbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / ((double)ns / 1e9) / MEGA : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

/* ---- output helpers ---- */

static void print_cell(FILE *f, double v, int width, const char *fmt)
{
	char buf[32];

	if (v == NONE)
		snprintf(buf, sizeof(buf), "-");
	else
		snprintf(buf, sizeof(buf), fmt, v);
	fprintf(f, " %*s", width, buf);
}

static void json_num(const char *name, double v, bool last)
{
	if (v == NONE)
		printf("\"%s\": null%s", name, last ? "" : ", ");
	else
		printf("\"%s\": %.3f%s", name, v, last ? "" : ", ");
}

static void heading(struct bench *b, const char *title)
{
	if (b->out)
		fprintf(b->out, "\n%s\n", title);
}

/* ---- reg: registration and deregistration ---- */

struct reg_row {
	uint64_t bytes;
	double pinned, odp, implicit, prereg; /* microseconds, or NONE */
};

static double time_reg(struct bench *b, void *addr, uint64_t len, enum reg_kind kind, int reps)
{
	double v[8];

	for (int i = 0; i < reps; i++) {
		uint64_t t0 = tl_now_ns();
		struct ibv_mr *mr = reg(b, addr, len, kind);

		if (!mr)
			return NONE;
		ibv_dereg_mr(mr);
		v[i] = (double)(tl_now_ns() - t0) / 1e3;
	}
	return median(v, reps);
}

static int bench_reg(struct bench *b)
{
	static const uint64_t full[] = {4ULL << 10,   64ULL << 10, 1ULL << 20, 16ULL << 20,
					256ULL << 20, 1ULL << 30,  4ULL << 30, 16ULL << 30};
	static const uint64_t quick[] = {4ULL << 10, 64ULL << 10, 1ULL << 20, 16ULL << 20};
	const uint64_t *sizes = b->o->quick ? quick : full;
	int n = b->o->quick ? 4 : 8;
	struct reg_row rows[8];
	char sz[32], budget[32];

	for (int i = 0; i < n; i++) {
		uint64_t len = sizes[i];
		int reps = len >= (256ULL << 20) ? 1 : 5;
		struct reg_row *r = &rows[i];
		void *mem = map_backing(len, B_4K);

		if (!mem) {
			fprintf(stderr, "%s: cannot map %" PRIu64 " bytes\n", progname, len);
			return -1;
		}
		r->bytes = len;
		r->odp = time_reg(b, mem, len, R_ODP, reps);
		r->implicit = time_reg(b, mem, len, R_IMPLICIT, reps);
		r->pinned = r->prereg = NONE;
		if (len <= b->pin_budget) {
			void *arena;

			r->pinned = time_reg(b, mem, len, R_PINNED, reps);
			/* The pages stay: an arena over them, then MRs inside it. */
			if (b->softodp && !tl_prereg(mem, len, &arena)) {
				r->prereg = time_reg(b, mem, len, R_PINNED, reps);
				tl_prereg_release(arena);
			}
		}
		munmap(mem, len);
		if (r->odp == NONE || r->implicit == NONE)
			return -1;
	}
	if (b->o->json) {
		printf(",\n  \"registration\": [");
		for (int i = 0; i < n; i++) {
			printf("%s\n    {\"bytes\": %" PRIu64 ", ", i ? "," : "", rows[i].bytes);
			json_num("pinned_us", rows[i].pinned, false);
			json_num("odp_us", rows[i].odp, false);
			json_num("implicit_us", rows[i].implicit, false);
			json_num("prereg_us", rows[i].prereg, true);
			printf("}");
		}
		printf("\n  ],\n  \"pin_budget_bytes\": %" PRIu64, b->pin_budget);
		return 0;
	}
	heading(b, "Registration + deregistration [usec, median]");
	fprintf(b->out, " %10s %12s %12s %12s %12s\n", "size", "pinned", "odp", "implicit",
		"in arena");
	for (int i = 0; i < n; i++) {
		fprintf(b->out, " %10s", tl_size_str(rows[i].bytes, sz, sizeof(sz)));
		print_cell(b->out, rows[i].pinned, 12, "%.1f");
		print_cell(b->out, rows[i].odp, 12, "%.1f");
		print_cell(b->out, rows[i].implicit, 12, "%.1f");
		print_cell(b->out, rows[i].prereg, 12, "%.1f");
		fprintf(b->out, "\n");
	}
	fprintf(b->out,
		" pinned and in arena: sizes above %s (a quarter of MemAvailable, at most 4 GiB) "
		"are skipped (-);\n ODP and implicit need no backing; implicit covers the whole "
		"address space at any size;\n in arena: pinned MRs inside a sodp_prereg() arena "
		"(softodp only).\n",
		tl_size_str(b->pin_budget, budget, sizeof(budget)));
	return 0;
}

/* ---- bw: bandwidth into cold and warm memory ---- */

enum bw_col {
	C_PINNED,
	C_ODP_WARM,
	C_ODP_COLD,
	C_IMPLICIT_WARM,
	C_IMPLICIT_COLD,
	C_THP_WARM,
	C_THP_COLD,
	C_HUGETLB_WARM,
	C_HUGETLB_COLD,
	NR_COLS,
};

static const char *const col_names[NR_COLS] = {
	"pinned",   "odp_warm", "odp_cold",	"implicit_warm", "implicit_cold",
	"thp_warm", "thp_cold", "hugetlb_warm", "hugetlb_cold",
};

struct bw_row {
	uint64_t msg;
	double v[NR_COLS]; /* MB/s, or NONE */
};

/* One kind of target: a cold pass, then a warm one (pinned: warm only). */
static int bw_kind(struct bench *b, uint64_t msg, enum reg_kind kind, enum backing backing,
		   double *warm, double *cold)
{
	void *mem = map_backing(b->region, backing);
	struct ibv_mr *mr;
	struct target t;
	uint64_t ns;
	int ret = -1;

	if (!mem && backing == B_HUGETLB) {
		/* Another process took the free pages: skip, with a note. */
		snprintf(b->hugetlb_note, sizeof(b->hugetlb_note), "mmap(MAP_HUGETLB): %s",
			 strerror(errno));
		return 0;
	}
	if (!mem) {
		fprintf(stderr, "%s: cannot map the target: %s\n", progname, strerror(errno));
		return -1;
	}
	mr = reg(b, mem, b->region, kind);
	if (!mr)
		goto out;
	t = (struct target){.addr = (uintptr_t)mem, .len = b->region, .rkey = mr->rkey};
	if (cold) {
		if (write_pass(b, &t, 1, msg, 1, &ns))
			goto out_mr;
		*cold = mbps(b->region, ns);
	}
	if (write_pass(b, &t, 1, msg, 1, &ns))
		goto out_mr;
	*warm = mbps(b->region, ns);
	ret = 0;
out_mr:
	if (ret) {
		char what[128];

		snprintf(what, sizeof(what), "WRITEs of %" PRIu64 " bytes into %s memory (%s)", msg,
			 kind == R_PINNED ? "pinned"
			 : kind == R_ODP  ? "ODP"
					  : "implicit ODP",
			 backing == B_4K    ? "4 KiB pages"
			 : backing == B_THP ? "THP"
					    : "hugetlb");
		report_failure(mr, what);
	}
	ibv_dereg_mr(mr);
out:
	munmap(mem, b->region);
	return ret;
}

static int plot(struct bench *b, const struct bw_row *rows, int n);

static int bench_bw(struct bench *b)
{
	static const uint64_t full[] = {4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20};
	static const uint64_t quick[] = {4 << 10, 64 << 10, 1 << 20};
	const uint64_t *sizes = b->o->quick ? quick : full;
	int n = b->o->quick ? 3 : 6;
	bool hugetlb = hugetlb_reserve(b, b->region);
	struct bw_row rows[6];
	char sz[32];

	for (int i = 0; i < n; i++) {
		struct bw_row *r = &rows[i];

		r->msg = sizes[i];
		for (int c = 0; c < NR_COLS; c++)
			r->v[c] = NONE;
		if (bw_kind(b, r->msg, R_PINNED, B_4K, &r->v[C_PINNED], NULL) ||
		    bw_kind(b, r->msg, R_ODP, B_4K, &r->v[C_ODP_WARM], &r->v[C_ODP_COLD]) ||
		    bw_kind(b, r->msg, R_IMPLICIT, B_4K, &r->v[C_IMPLICIT_WARM],
			    &r->v[C_IMPLICIT_COLD]) ||
		    bw_kind(b, r->msg, R_ODP, B_THP, &r->v[C_THP_WARM], &r->v[C_THP_COLD]) ||
		    (hugetlb && bw_kind(b, r->msg, R_ODP, B_HUGETLB, &r->v[C_HUGETLB_WARM],
					&r->v[C_HUGETLB_COLD])))
			return -1;
	}
	hugetlb_restore(b);
	if (b->o->json) {
		printf(",\n  \"bandwidth_region_bytes\": %" PRIu64 ",\n  \"hugetlb\": \"%s\","
		       "\n  \"bandwidth\": [",
		       b->region,
		       hugetlb && rows[0].v[C_HUGETLB_COLD] != NONE ? "used" : b->hugetlb_note);
		for (int i = 0; i < n; i++) {
			printf("%s\n    {\"bytes\": %" PRIu64 ", ", i ? "," : "", rows[i].msg);
			for (int c = 0; c < NR_COLS; c++) {
				char name[48];

				snprintf(name, sizeof(name), "%s_MBps", col_names[c]);
				json_num(name, rows[i].v[c], c == NR_COLS - 1);
			}
			printf("}");
		}
		printf("\n  ]");
	} else {
		char region[32];

		heading(b, "RDMA WRITE bandwidth into the target [MB/sec]");
		fprintf(b->out, " %8s", "message");
		for (int c = 0; c < NR_COLS; c++)
			fprintf(b->out, " %13s", col_names[c]);
		fprintf(b->out, "\n");
		for (int i = 0; i < n; i++) {
			fprintf(b->out, " %8s", tl_size_str(rows[i].msg, sz, sizeof(sz)));
			for (int c = 0; c < NR_COLS; c++)
				print_cell(b->out, rows[i].v[c], 13, "%.1f");
			fprintf(b->out, "\n");
		}
		fprintf(b->out,
			" one pass over a %s target per column: cold = its first touch, warm = "
			"the pass after;\n odp, implicit: 4 KiB pages; thp: "
			"madvise(MADV_HUGEPAGE), "
			"2 MiB aligned; hugetlb: MAP_HUGETLB\n hugetlb: %s\n",
			tl_size_str(b->region, region, sizeof(region)),
			hugetlb && rows[0].v[C_HUGETLB_COLD] != NONE ? "used" : "skipped");
		if (b->hugetlb_note[0])
			fprintf(b->out, " (%s)\n", b->hugetlb_note);
	}
	return b->o->plot ? plot(b, rows, n) : 0;
}

/* gnuplot draws bandwidth against message size: pinned, ODP warm, ODP cold. */
static int plot(struct bench *b, const struct bw_row *rows, int n)
{
	static const enum bw_col cols[] = {C_PINNED, C_ODP_WARM, C_ODP_COLD, C_THP_COLD,
					   C_IMPLICIT_COLD};
	static const char *const titles[] = {"pinned", "ODP, warm", "ODP, cold (first touch)",
					     "ODP on THP, cold", "implicit ODP, cold"};
	FILE *g = popen("gnuplot", "w");
	int ret;

	if (!g) {
		fprintf(stderr, "%s: cannot run gnuplot: %s\n", progname, strerror(errno));
		return -1;
	}
	fprintf(g,
		"set terminal pngcairo size 1000,640 font 'sans,11'\n"
		"set output '%s'\n"
		"set title 'RDMA WRITE bandwidth into a %" PRIu64
		" MiB target (softodp\\_odp\\_bench)'\n"
		"set xlabel 'message size (log scale)'\n"
		"set ylabel 'bandwidth [MB/s]'\n"
		"set logscale x 2\n"
		"set yrange [0:*]\n"
		"set grid\n"
		"set key top left box opaque\n",
		b->o->plot, b->region >> 20);
	fprintf(g, "set xtics (");
	for (int i = 0; i < n; i++) {
		char sz[32];

		fprintf(g, "%s'%s' %" PRIu64, i ? ", " : "",
			tl_size_str(rows[i].msg, sz, sizeof(sz)), rows[i].msg);
	}
	fprintf(g, ")\nplot ");
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
		fprintf(g, "%s'-' using 1:2 with linespoints lw 2 pt %zu title '%s'", c ? ", " : "",
			c + 5, titles[c]);
	fprintf(g, "\n");
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
		for (int i = 0; i < n; i++)
			fprintf(g, "%" PRIu64 " %.3f\n", rows[i].msg, rows[i].v[cols[c]]);
		fprintf(g, "e\n");
	}
	ret = pclose(g);
	if (ret) {
		fprintf(stderr, "%s: gnuplot failed (exit %d)\n", progname,
			WIFEXITED(ret) ? WEXITSTATUS(ret) : -1);
		return -1;
	}
	if (b->out)
		fprintf(b->out, " plot: %s\n", b->o->plot);
	return 0;
}

/* ---- inval: invalidation under traffic ---- */

enum inval_method { I_DONTNEED, I_REMAP };

/*
 * WRITEs in flight into a warm ODP target while the range is invalidated;
 * the time of the call, and from its return to the completion of the next
 * WRITE posted after it (which must fault the page in again).
 */
static int inval_sample(struct bench *b, void *mem, struct ibv_mr *mr, uint64_t len,
			enum inval_method how, double *call_us, double *next_us)
{
	uint64_t msg = 64 << 10, inflight = 0, t0, t1, last;
	struct ibv_wc wc[32];

	/* WRITEs into the first half; the one after the call goes to the end. */
	for (uint64_t off = 0; off + msg <= len / 2 && inflight < SEND_DEPTH / 2;
	     off += msg, inflight++) {
		struct ibv_sge sge = {.addr = (uintptr_t)b->src,
				      .length = (uint32_t)msg,
				      .lkey = b->src_mr->lkey};
		struct ibv_send_wr wr = {.sg_list = &sge,
					 .num_sge = 1,
					 .opcode = IBV_WR_RDMA_WRITE,
					 .send_flags = IBV_SEND_SIGNALED,
					 .wr.rdma = {.remote_addr = (uintptr_t)mem + off,
						     .rkey = mr->rkey}},
				   *bad;

		if (ibv_post_send(b->qp[0][0], &wr, &bad))
			return -1;
	}
	t0 = tl_now_ns();
	if (how == I_DONTNEED ? madvise(mem, len, MADV_DONTNEED)
			      : (mmap(mem, len, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != mem)) {
		fprintf(stderr, "%s: invalidating the target: %s\n", progname, strerror(errno));
		return -1;
	}
	t1 = tl_now_ns();
	{
		struct ibv_sge sge = {.addr = (uintptr_t)b->src,
				      .length = (uint32_t)msg,
				      .lkey = b->src_mr->lkey};
		struct ibv_send_wr wr = {.wr_id = 1,
					 .sg_list = &sge,
					 .num_sge = 1,
					 .opcode = IBV_WR_RDMA_WRITE,
					 .send_flags = IBV_SEND_SIGNALED,
					 .wr.rdma = {.remote_addr = (uintptr_t)mem + len - msg,
						     .rkey = mr->rkey}},
				   *bad;

		if (ibv_post_send(b->qp[0][0], &wr, &bad))
			return -1;
		inflight++;
	}
	last = tl_now_ns();
	while (inflight) {
		int n = ibv_poll_cq(b->cq[0], 32, wc);

		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				fprintf(stderr, "%s: WRITE under invalidation: %s\n", progname,
					ibv_wc_status_str(wc[i].status));
				return -1;
			}
			if (wc[i].wr_id == 1)
				*next_us = (double)(tl_now_ns() - t1) / 1e3;
			inflight--;
		}
		if (n > 0)
			last = tl_now_ns();
		else if (n < 0 || tl_now_ns() - last > PROGRESS_TIMEOUT_NS)
			return -1;
	}
	*call_us = (double)(t1 - t0) / 1e3;
	return 0;
}

static int bench_inval(struct bench *b)
{
	static const char *const names[] = {"madvise_dontneed", "remap"};
	static const char *const labels[] = {"madvise(MADV_DONTNEED)", "mmap(MAP_FIXED) over it"};
	int samples = b->o->quick ? 5 : 25;
	uint64_t len = b->o->quick ? (4ULL << 20) : (32ULL << 20);
	double call[2], next[2], inval[2];
	char sz[32];

	for (int m = 0; m < 2; m++) {
		void *mem = map_backing(len, B_4K);
		struct ibv_mr *mr = mem ? reg(b, mem, len, R_ODP) : NULL;
		struct tl_odp_counters before, after;
		struct target t = {.addr = (uintptr_t)mem, .len = len};
		double cv[32], nv[32];
		uint64_t ns;
		int ret = -1;

		if (!mr)
			goto next;
		t.rkey = mr->rkey;
		if (write_pass(b, &t, 1, 64 << 10, 1, &ns)) /* warm */
			goto next;
		tl_mr_counters(mr, &before);
		for (int i = 0; i < samples; i++)
			if (inval_sample(b, mem, mr, len, (enum inval_method)m, &cv[i], &nv[i]))
				goto next;
		tl_mr_counters(mr, &after);
		call[m] = median(cv, samples);
		next[m] = median(nv, samples);
		inval[m] = b->softodp
				   ? (double)(after.invalidations - before.invalidations) / samples
				   : NONE;
		ret = 0;
next:
		if (mr)
			ibv_dereg_mr(mr);
		if (mem)
			munmap(mem, len);
		if (ret)
			return -1;
	}
	if (b->o->json) {
		printf(",\n  \"invalidation\": [");
		for (int m = 0; m < 2; m++) {
			printf("%s\n    {\"method\": \"%s\", \"bytes\": %" PRIu64
			       ", \"samples\": %d, ",
			       m ? "," : "", names[m], len, samples);
			json_num("call_us", call[m], false);
			json_num("next_write_us", next[m], false);
			json_num("invalidations_per_sample", inval[m], true);
			printf("}");
		}
		printf("\n  ]");
		return 0;
	}
	heading(b, "Invalidation under traffic [usec, median]");
	fprintf(b->out, " %-26s %12s %16s %16s\n", "what", "the call", "to next WRITE",
		"invalidations");
	for (int m = 0; m < 2; m++) {
		fprintf(b->out, " %-26s", labels[m]);
		print_cell(b->out, call[m], 12, "%.1f");
		print_cell(b->out, next[m], 16, "%.1f");
		print_cell(b->out, inval[m], 16, "%.1f");
		fprintf(b->out, "\n");
	}
	fprintf(b->out,
		" %d samples on a warm %s explicit ODP target with 64 KiB WRITEs in flight;\n"
		" to next WRITE: from the call's return to the completion of a WRITE posted "
		"after it\n",
		samples, tl_size_str(len, sz, sizeof(sz)));
	return 0;
}

/* ---- mtt: entries and memory by page size ---- */

static int bench_mtt(struct bench *b)
{
	static const struct {
		const char *name;
		enum reg_kind kind;
		enum backing backing;
	} rows[] = {
		{"pinned, 4 KiB pages", R_PINNED, B_4K},
		{"odp, 4 KiB pages", R_ODP, B_4K},
		{"odp, THP", R_ODP, B_THP},
		{"odp, hugetlb", R_ODP, B_HUGETLB},
	};
	uint64_t len = b->o->quick ? (8ULL << 20) : (64ULL << 20);
	struct tl_odp_counters c[4];
	bool done[4] = {false}, hugetlb;
	char sz[32];
	int nrows = 4;

	if (!b->softodp) {
		if (b->out)
			fprintf(b->out, "\nMTT entries: not on softodp (sodp_mr_get_stats is not "
					"there): skipped\n");
		else
			printf(",\n  \"mtt\": null");
		return 0;
	}
	hugetlb = hugetlb_reserve(b, len);
	for (int i = 0; i < nrows; i++) {
		void *mem;
		struct ibv_mr *mr;
		struct target t;
		uint64_t ns;
		int ret = -1;

		if (rows[i].backing == B_HUGETLB && !hugetlb)
			continue;
		mem = map_backing(len, rows[i].backing);
		if (!mem && rows[i].backing == B_HUGETLB) {
			snprintf(b->hugetlb_note, sizeof(b->hugetlb_note), "mmap(MAP_HUGETLB): %s",
				 strerror(errno));
			continue;
		}
		mr = mem ? reg(b, mem, len, rows[i].kind) : NULL;
		if (mr) {
			t = (struct target){.addr = (uintptr_t)mem, .len = len, .rkey = mr->rkey};
			/* A WRITE pass makes every page of the ODP MR present. */
			if (!write_pass(b, &t, 1, 1 << 20, 1, &ns) && !tl_mr_counters(mr, &c[i]))
				ret = 0;
			else
				report_failure(mr, rows[i].name);
			ibv_dereg_mr(mr);
		}
		if (mem)
			munmap(mem, len);
		if (ret)
			return -1;
		done[i] = true;
	}
	hugetlb_restore(b);
	if (b->o->json) {
		printf(",\n  \"mtt_region_bytes\": %" PRIu64 ",\n  \"mtt_entry_bytes\": %d,"
		       "\n  \"mtt\": [",
		       len, TL_MTT_ENTRY_BYTES);
		for (int i = 0, first = 1; i < nrows; i++) {
			if (!done[i])
				continue;
			printf("%s\n    {\"backing\": \"%s\", \"entries\": {", first ? "" : ",",
			       rows[i].name);
			for (int o = 0; o < TL_NR_ORDERS; o++)
				printf("%s\"%u\": %" PRIu64, o ? ", " : "", tl_orders[o],
				       c[i].entries_by_order[o]);
			printf("}, \"mtt_bytes\": {");
			for (int o = 0; o < TL_NR_ORDERS; o++)
				printf("%s\"%u\": %" PRIu64, o ? ", " : "", tl_orders[o],
				       c[i].entries_by_order[o] * TL_MTT_ENTRY_BYTES);
			printf("}, \"mtt_bytes_total\": %" PRIu64 "}",
			       c[i].entries * TL_MTT_ENTRY_BYTES);
			first = 0;
		}
		printf("\n  ]");
		return 0;
	}
	heading(b, "MTT entries and MTT memory by page size");
	fprintf(b->out, " %-22s %9s %9s %9s %12s %12s %12s %12s\n", "target", "4K", "2M", "1G",
		"bytes 4K", "bytes 2M", "bytes 1G", "bytes total");
	for (int i = 0; i < nrows; i++) {
		if (!done[i]) {
			fprintf(b->out, " %-22s skipped: %s\n", rows[i].name, b->hugetlb_note);
			continue;
		}
		fprintf(b->out, " %-22s", rows[i].name);
		for (int o = 0; o < TL_NR_ORDERS; o++)
			fprintf(b->out, " %9" PRIu64, c[i].entries_by_order[o]);
		for (int o = 0; o < TL_NR_ORDERS; o++)
			fprintf(b->out, " %12" PRIu64,
				c[i].entries_by_order[o] * TL_MTT_ENTRY_BYTES);
		fprintf(b->out, " %12" PRIu64 "\n", c[i].entries * TL_MTT_ENTRY_BYTES);
	}
	fprintf(b->out,
		" an MR of %s after a WRITE pass over it; MTT memory at %d bytes per "
		"entry, as a NIC's MTT entry\n",
		tl_size_str(len, sz, sizeof(sz)), TL_MTT_ENTRY_BYTES);
	return 0;
}

/* ---- scale: many MRs, many QPs ---- */

static int bench_scale(struct bench *b)
{
	static const int full_mrs[] = {1, 10, 100, 1000}, quick_mrs[] = {1, 10, 100};
	static const int full_qps[] = {1, 2, 4, 8}, quick_qps[] = {1, 2};
	const int *mrs = b->o->quick ? quick_mrs : full_mrs;
	const int *qps = b->o->quick ? quick_qps : full_qps;
	int nm = b->o->quick ? 3 : 4, nq = b->o->quick ? 2 : 4;
	uint64_t mr_len = 64 << 10, msg = 64 << 10;
	double reg_us[4], cold[4], warm[4], qbw[4];
	uint64_t qlen = b->o->quick ? (8ULL << 20) : (64ULL << 20);

	for (int i = 0; i < nm; i++) {
		uint64_t len = mr_len * (uint64_t)mrs[i], ns;
		uint8_t *mem = map_backing(len, B_4K);
		struct ibv_mr **mr = calloc((size_t)mrs[i], sizeof(*mr));
		struct target *t = calloc((size_t)mrs[i], sizeof(*t));
		int made = 0, ret = -1;
		uint64_t t0;

		if (!mem || !mr || !t)
			goto next;
		t0 = tl_now_ns();
		for (; made < mrs[i]; made++) {
			mr[made] = reg(b, mem + (uint64_t)made * mr_len, mr_len, R_ODP);
			if (!mr[made])
				goto next;
			t[made] =
				(struct target){.addr = (uintptr_t)(mem + (uint64_t)made * mr_len),
						.len = mr_len,
						.rkey = mr[made]->rkey};
		}
		reg_us[i] = (double)(tl_now_ns() - t0) / 1e3 / mrs[i];
		if (write_pass(b, t, mrs[i], msg, 1, &ns))
			goto next;
		cold[i] = mbps(len, ns);
		if (write_pass(b, t, mrs[i], msg, 1, &ns))
			goto next;
		warm[i] = mbps(len, ns);
		ret = 0;
next:
		while (made-- > 0)
			ibv_dereg_mr(mr[made]);
		free(mr);
		free(t);
		if (mem)
			munmap(mem, len);
		if (ret)
			return -1;
	}
	for (int i = 0; i < nq; i++) {
		void *mem = map_backing(qlen, B_4K);
		struct ibv_mr *mr = mem ? reg(b, mem, qlen, R_ODP) : NULL;
		struct target t = {.addr = (uintptr_t)mem, .len = qlen};
		uint64_t ns;
		int ret = -1;

		if (mr) {
			t.rkey = mr->rkey;
			if (!write_pass(b, &t, 1, msg, qps[i], &ns) &&
			    !write_pass(b, &t, 1, msg, qps[i], &ns)) {
				qbw[i] = mbps(qlen, ns);
				ret = 0;
			}
			ibv_dereg_mr(mr);
		}
		if (mem)
			munmap(mem, qlen);
		if (ret)
			return -1;
	}
	if (b->o->json) {
		printf(",\n  \"scaling_mrs\": [");
		for (int i = 0; i < nm; i++) {
			printf("%s\n    {\"mrs\": %d, \"mr_bytes\": %" PRIu64 ", ", i ? "," : "",
			       mrs[i], mr_len);
			json_num("reg_us_per_mr", reg_us[i], false);
			json_num("cold_MBps", cold[i], false);
			json_num("warm_MBps", warm[i], true);
			printf("}");
		}
		printf("\n  ],\n  \"scaling_qps\": [");
		for (int i = 0; i < nq; i++) {
			printf("%s\n    {\"qps\": %d, \"bytes\": %" PRIu64 ", ", i ? "," : "",
			       qps[i], qlen);
			json_num("warm_MBps", qbw[i], true);
			printf("}");
		}
		printf("\n  ]");
		return 0;
	}
	heading(b, "Scaling with MRs: explicit ODP MRs of 64 KiB, 64 KiB WRITEs round robin");
	fprintf(b->out, " %6s %16s %14s %14s\n", "MRs", "reg [usec/MR]", "cold [MB/s]",
		"warm [MB/s]");
	for (int i = 0; i < nm; i++)
		fprintf(b->out, " %6d %16.1f %14.1f %14.1f\n", mrs[i], reg_us[i], cold[i], warm[i]);
	heading(b, "Scaling with QPs: 64 KiB WRITEs into one warm explicit ODP MR");
	fprintf(b->out, " %6s %14s\n", "QPs", "warm [MB/s]");
	for (int i = 0; i < nq; i++)
		fprintf(b->out, " %6d %14.1f\n", qps[i], qbw[i]);
	return 0;
}

/* ---- main ---- */

static uint64_t pin_budget(void)
{
	uint64_t avail = meminfo("MemAvailable") * 1024 / 4, cap = 4ULL << 30;

	return avail < cap ? avail : cap;
}

static bool have_gnuplot(void)
{
	return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

int main(int argc, char **argv)
{
	static int (*const run[NR_SECTIONS])(struct bench *) = {
		[S_REG] = bench_reg, [S_BW] = bench_bw,	      [S_INVAL] = bench_inval,
		[S_MTT] = bench_mtt, [S_SCALE] = bench_scale,
	};
	struct opts o;
	struct bench b = {.o = &o};
	int ret = 0;

	tl_usage_init(progname, usage);
	parse_opts(argc, argv, &o);
	if (o.plot && !have_gnuplot()) {
		fprintf(stderr,
			"%s: --plot needs gnuplot, which is not installed (Debian package "
			"gnuplot-nox)\n",
			progname);
		return 1;
	}
	/* softodp reads this; rdma-core ignores it. */
	setenv("SOFTODP_DEVICES", DEFAULT_DEVICES, 0);
	if (setup(&b)) {
		teardown(&b);
		return 1;
	}
	b.out = o.json ? NULL : stdout;
	b.region = o.quick ? (4ULL << 20) : (64ULL << 20);
	b.pin_budget = pin_budget();
	if (o.json)
		printf("{\n  \"tool\": \"softodp_odp_bench\",\n  \"quick\": %s,\n  \"softodp\": %s,"
		       "\n  \"devices\": [\"%s\", \"%s\"]",
		       o.quick ? "true" : "false", b.softodp ? "true" : "false",
		       ibv_get_device_name(b.ctx[0]->device),
		       ibv_get_device_name(b.ctx[1]->device));
	else
		printf("softodp_odp_bench: requester %s, responder %s%s%s\n",
		       ibv_get_device_name(b.ctx[0]->device), ibv_get_device_name(b.ctx[1]->device),
		       b.softodp ? " (softodp)" : "", o.quick ? ", quick" : "");
	for (int s = 0; s < NR_SECTIONS && !ret; s++) {
		if (!o.sections[s])
			continue;
		fflush(stdout);
		ret = run[s](&b);
		if (ret)
			fprintf(stderr, "%s: the %s section failed\n", progname, section_names[s]);
	}
	hugetlb_restore(&b);
	if (o.json)
		printf("\n}\n");
	teardown(&b);
	return ret ? 1 : 0;
}
