// SPDX-License-Identifier: MIT
/*
 * The tools' shared part: see tools.h. Only <infiniband/verbs.h> is used
 * from the verbs library; softodp's headers are read for their types alone,
 * and its functions are looked up at run time.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <softodp/mr.h>
#include <softodp/prereg.h>

#include "tools.h"

const unsigned int tl_orders[TL_NR_ORDERS] = {0, 9, 18};

static const char *usage_progname = "softodp";
static void (*usage_print)(FILE *f);

void tl_usage_init(const char *progname, void (*usage)(FILE *f))
{
	usage_progname = progname;
	usage_print = usage;
}

void tl_die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", usage_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n");
	if (usage_print)
		usage_print(stderr);
	exit(TL_EXIT_USAGE);
}

void tl_opt_other(int c, char **argv)
{
	if (c == 'h') {
		if (usage_print)
			usage_print(stdout);
		exit(0);
	}
	if (c == ':')
		tl_die_usage("option '%s' needs a value", argv[optind - 1]);
	tl_die_usage("unknown option '%s'", argv[optind - 1]);
}

long tl_parse_int(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		tl_die_usage("%s wants a number from %ld to %ld, not '%s'", opt, min, max, s);
	return v;
}

uint64_t tl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int tl_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (!strcasecmp(end, "iB") || !strcasecmp(end, "B"))
			end += strlen(end);
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

const char *tl_size_str(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	unsigned int u = 0;

	while (u + 1 < sizeof(units) / sizeof(units[0]) && bytes >= 1024 && !(bytes % 1024)) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 " %s", bytes, units[u]);
	return buf;
}

static uint8_t pattern_byte(size_t i, uint64_t seed)
{
	uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ULL ^ (seed + 1) * 0xbf58476d1ce4e5b9ULL;

	return (uint8_t)(x >> 56) ^ (uint8_t)(i >> 12);
}

void tl_pattern_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(i, seed);
}

long tl_pattern_check(const void *buf, size_t len, uint64_t seed)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(i, seed))
			return (long)i;
	return -1;
}

struct ibv_context *tl_open_device(const char *name)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	int n, i;

	list = ibv_get_device_list(&n);
	if (!list) {
		fprintf(stderr, "cannot list RDMA devices: %s\n", strerror(errno));
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (!name || !strcmp(ibv_get_device_name(list[i]), name))
			break;
	if (i == n)
		fprintf(stderr, name ? "no RDMA device named %s\n" : "no RDMA device%s\n",
			name ? name : "");
	else if (!(ctx = ibv_open_device(list[i])))
		fprintf(stderr, "cannot open %s: %s\n", ibv_get_device_name(list[i]),
			strerror(errno));
	ibv_free_device_list(list);
	return ctx;
}

bool tl_odp_supported(struct ibv_context *ctx, bool implicit)
{
	struct ibv_device_attr_ex attr = {0};

	if (ibv_query_device_ex(ctx, NULL, &attr))
		return false;
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT))
		return false;
	return !implicit || (attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT);
}

enum ibv_mtu tl_mtu_from_bytes(int mtu)
{
	switch (mtu) {
	case 256:
		return IBV_MTU_256;
	case 512:
		return IBV_MTU_512;
	case 1024:
		return IBV_MTU_1024;
	case 2048:
		return IBV_MTU_2048;
	case 4096:
		return IBV_MTU_4096;
	}
	return 0;
}

int tl_mtu_bytes(enum ibv_mtu mtu)
{
	return 128 << mtu;
}

struct ibv_qp *tl_create_rc_qp(struct ibv_pd *pd, struct ibv_cq *send_cq, struct ibv_cq *recv_cq,
			       uint32_t max_send_wr, uint32_t max_recv_wr,
			       const struct tl_path *path, struct tl_endpoint *local)
{
	struct ibv_qp_init_attr init = {
		.send_cq = send_cq,
		.recv_cq = recv_cq,
		.cap = {.max_send_wr = max_send_wr,
			.max_recv_wr = max_recv_wr,
			.max_send_sge = 1,
			.max_recv_sge = 1},
		.qp_type = IBV_QPT_RC,
	};
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_INIT,
		.port_num = path->port,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC,
	};
	struct ibv_port_attr port;
	struct ibv_qp *qp;

	qp = ibv_create_qp(pd, &init);
	if (!qp) {
		fprintf(stderr, "ibv_create_qp: %s\n", strerror(errno));
		return NULL;
	}
	if (ibv_modify_qp(qp, &attr,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS)) {
		fprintf(stderr, "ibv_modify_qp(INIT): %s\n", strerror(errno));
		goto err_qp;
	}
	if (ibv_query_port(pd->context, path->port, &port)) {
		fprintf(stderr, "ibv_query_port(%u): %s\n", path->port, strerror(errno));
		goto err_qp;
	}
	if (ibv_query_gid(pd->context, path->port, path->gid_index, &local->gid)) {
		fprintf(stderr, "ibv_query_gid(%u, %d): %s\n", path->port, path->gid_index,
			strerror(errno));
		goto err_qp;
	}
	local->qpn = qp->qp_num;
	local->lid = port.lid;
	local->psn = (uint32_t)(tl_now_ns() ^ qp->qp_num) & 0xffffff;
	return qp;

err_qp:
	ibv_destroy_qp(qp);
	return NULL;
}

int tl_connect_rc_qp(struct ibv_qp *qp, const struct tl_endpoint *local,
		     const struct tl_endpoint *remote, const struct tl_path *path)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = path->mtu,
		.dest_qp_num = remote->qpn,
		.rq_psn = remote->psn,
		.max_dest_rd_atomic = path->rd_atomic,
		.min_rnr_timer = 12, /* 0.64 ms, perftest's */
		.ah_attr = {.dlid = remote->lid,
			    .port_num = path->port,
			    .is_global = 1,
			    .grh = {.dgid = remote->gid,
				    .sgid_index = (uint8_t)path->gid_index,
				    .hop_limit = 64}},
	};

	if (ibv_modify_qp(qp, &attr,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
				  IBV_QP_MIN_RNR_TIMER)) {
		fprintf(stderr, "ibv_modify_qp(RTR): %s\n", strerror(errno));
		return errno;
	}
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.timeout = path->timeout ? path->timeout : 14; /* 67 ms */
	attr.retry_cnt = 7;
	attr.rnr_retry = 7; /* infinite: the peer may be faulting ODP pages */
	attr.sq_psn = local->psn;
	attr.max_rd_atomic = path->rd_atomic;
	if (ibv_modify_qp(qp, &attr,
			  IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				  IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC)) {
		fprintf(stderr, "ibv_modify_qp(RTS): %s\n", strerror(errno));
		return errno;
	}
	return 0;
}

void tl_gid_format(const union ibv_gid *gid, char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", gid->raw[i]);
}

int tl_gid_parse(const char *s, union ibv_gid *gid)
{
	for (int i = 0; i < 16; i++) {
		unsigned int b;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		gid->raw[i] = (uint8_t)b;
	}
	return 0;
}

typedef int (*mr_stats_fn)(struct ibv_mr *, struct sodp_mr_stats *);
typedef int (*prereg_fn)(void *, size_t, struct sodp_prereg **);
typedef int (*prereg_release_fn)(struct sodp_prereg *);

static mr_stats_fn mr_stats_lookup(void)
{
	return (mr_stats_fn)dlsym(RTLD_DEFAULT, "sodp_mr_get_stats");
}

bool tl_on_softodp(void)
{
	return mr_stats_lookup() != NULL;
}

int tl_mr_counters(struct ibv_mr *mr, struct tl_odp_counters *c)
{
	mr_stats_fn fn = mr_stats_lookup();
	struct sodp_mr_stats st;
	int ret;

	memset(c, 0, sizeof(*c));
	if (!fn)
		return -ENOSYS;
	ret = fn(mr, &st);
	if (ret)
		return ret;
	c->faults = st.faults;
	c->faults_handled = st.faults_handled;
	c->fault_errors = st.fault_errors;
	c->pages_faulted = st.pages_faulted;
	c->rnr_naks = st.rnr_naks;
	c->prefetches = st.prefetches;
	for (int i = 0; i < SODP_MR_NR_EVENTS; i++)
		c->invalidations += st.invalidations[i];
	c->entries = st.entries;
	for (int i = 0; i < TL_NR_ORDERS; i++) {
		c->entries_by_order[i] = st.entries_by_order[tl_orders[i]];
		c->bytes_by_order[i] = st.bytes_by_order[tl_orders[i]];
	}
	return 0;
}

/* The counters by name, for the text and JSON forms. */
#define TL_FIELD(f)                                     \
	{                                               \
#f, offsetof(struct tl_odp_counters, f) \
	}
static const struct {
	const char *name;
	size_t off;
} counter_fields[] = {
	TL_FIELD(faults),	 TL_FIELD(faults_handled), TL_FIELD(fault_errors),
	TL_FIELD(pages_faulted), TL_FIELD(rnr_naks),	   TL_FIELD(prefetches),
	TL_FIELD(invalidations), TL_FIELD(entries),
};
#define TL_NR_FIELDS (sizeof(counter_fields) / sizeof(counter_fields[0]))

static uint64_t *counter_at(struct tl_odp_counters *c, size_t i)
{
	return (uint64_t *)((char *)c + counter_fields[i].off);
}

static uint64_t counter_get(const struct tl_odp_counters *c, size_t i)
{
	return *(const uint64_t *)((const char *)c + counter_fields[i].off);
}

/* snprintf() that appends at *n and never writes past @len. */
static void append(char *buf, size_t len, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf + *n, *n < len ? len - *n : 0, fmt, ap);
	va_end(ap);
	if (r > 0)
		*n += (size_t)r;
}

void tl_counters_format(const struct tl_odp_counters *c, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < TL_NR_FIELDS; i++)
		append(buf, len, &n, "%s=%" PRIu64 " ", counter_fields[i].name, counter_get(c, i));
	for (int i = 0; i < TL_NR_ORDERS; i++)
		append(buf, len, &n, "entries_order%u=%" PRIu64 "%s", tl_orders[i],
		       c->entries_by_order[i], i + 1 < TL_NR_ORDERS ? " " : "");
}

int tl_counters_parse(const char *s, struct tl_odp_counters *c)
{
	char name[64];
	uint64_t v;
	int used;

	memset(c, 0, sizeof(*c));
	while (*s == ' ')
		s++;
	while (*s && sscanf(s, "%63[a-z_0-9]=%" SCNu64 "%n", name, &v, &used) == 2) {
		unsigned int order;

		for (size_t i = 0; i < TL_NR_FIELDS; i++)
			if (!strcmp(name, counter_fields[i].name))
				*counter_at(c, i) = v;
		if (sscanf(name, "entries_order%u", &order) == 1)
			for (int i = 0; i < TL_NR_ORDERS; i++)
				if (tl_orders[i] == order)
					c->entries_by_order[i] = v;
		s += used;
		while (*s == ' ')
			s++;
	}
	return *s ? -EINVAL : 0;
}

void tl_counters_json(const struct tl_odp_counters *c, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < TL_NR_FIELDS; i++)
		append(buf, len, &n, "\"%s\": %" PRIu64 ", ", counter_fields[i].name,
		       counter_get(c, i));
	append(buf, len, &n, "\"entries_by_order\": {");
	for (int i = 0; i < TL_NR_ORDERS; i++)
		append(buf, len, &n, "%s\"%u\": %" PRIu64, i ? ", " : "", tl_orders[i],
		       c->entries_by_order[i]);
	append(buf, len, &n, "}");
}

int tl_prereg(void *addr, size_t length, void **handle)
{
	prereg_fn fn = (prereg_fn)dlsym(RTLD_DEFAULT, "sodp_prereg");

	if (!fn)
		return -ENOSYS;
	return fn(addr, length, (struct sodp_prereg **)handle);
}

int tl_prereg_release(void *handle)
{
	prereg_release_fn fn = (prereg_release_fn)dlsym(RTLD_DEFAULT, "sodp_prereg_release");

	if (!fn)
		return -ENOSYS;
	return fn(handle);
}
