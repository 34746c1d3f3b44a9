// SPDX-License-Identifier: MIT
/*
 * softodp_demo: RDMA WRITEs into on-demand-paged memory while the target
 * process changes its mappings, with a report and an integrity verdict.
 *
 * Two processes on one host, as two hosts would be: the server (this
 * process) opens a device on the server address, the client (a child forked
 * before any device is opened) one on the client address; a TCP connection
 * on loopback carries the connection data and the control messages. The
 * client streams RDMA WRITEs of one chunk each into a server region; for
 * every chunk it completed it sends the chunk's checksum, computed over the
 * bytes it meant to send, and the server checks the bytes that arrived. The
 * client keeps at most DEMO_WINDOW chunks beyond the last one the server
 * acknowledged, so that in the churn phases the server changes the mapping
 * of chunks the NIC is about to write while it writes the ones before them.
 *
 * Phases, in order: a pinned MR (for comparison), an explicit ODP MR cold
 * (every page faulted by the NIC), warm, while the server unmaps and
 * remaps, madvise(MADV_DONTNEED)s and mprotect()s chunks behind the writes,
 * once more after that, and an implicit ODP MR (the whole address space)
 * cold and under the same churn.
 *
 * Exit status: 0 when every phase completed and every byte checked,
 * 1 when the integrity check failed, 2 for a usage error, 3 when a phase
 * could not run (setup, a failed work completion, a time limit).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <infiniband/verbs.h>
#include <softodp/hmm.h>
#include <softodp/mr.h>

#include "tools.h"

#define DEMO_CHUNK	  (2UL << 20) /* one WRITE; 2 MiB so that a chunk is one THP */
#define DEMO_WINDOW	  4	      /* chunks written beyond the last acknowledged */
#define DEMO_DEFAULT_MIB  64
#define DEMO_MAX_MIB	  1024
#define DEMO_PHASE_SECS	  20 /* a phase that takes longer failed */
#define DEMO_TOTAL_SECS	  110
#define DEMO_CONNECT_SECS 10
#define DEMO_PROGRESS_NS  1000000000ULL /* show progress once a phase is this old */
#define DEMO_GID_INDEX	  0
#define DEMO_MIN_RNR	  1  /* 10 us: the responder's RNR NAK asks for a short wait */
#define DEMO_ACK_TIMEOUT  14 /* 67 ms */
#define DEMO_INFINITE	  7  /* rnr_retry 7: retry an RNR NAK for ever */
#define DEMO_CHUNK_SEED	  0x9e3779b97f4a7c15ULL

enum target { TGT_PINNED, TGT_EXPLICIT, TGT_IMPLICIT, TGT_NR };

static const char *const target_name[TGT_NR] = {"pinned MR", "ODP MR", "implicit ODP"};

/* What the server does to a chunk once it has checked it. */
enum churn { CHURN_NONE, CHURN_ROTATE };

struct phase {
	const char *name;
	enum target target;
	enum churn churn;
};

static const struct phase phases[] = {
	{"pinned", TGT_PINNED, CHURN_NONE},
	{"odp cold", TGT_EXPLICIT, CHURN_NONE},
	{"odp warm", TGT_EXPLICIT, CHURN_NONE},
	{"odp churn", TGT_EXPLICIT, CHURN_ROTATE},
	{"odp after churn", TGT_EXPLICIT, CHURN_NONE},
	{"implicit cold", TGT_IMPLICIT, CHURN_NONE},
	{"implicit churn", TGT_IMPLICIT, CHURN_ROTATE},
};
#define NR_PHASES (sizeof(phases) / sizeof(phases[0]))

/* The churn of chunk c: one of these, in turn. */
enum churn_op { OP_REMAP, OP_DONTNEED, OP_MPROTECT, OP_NR };

/* ---- the side channel ---- */
enum msg_type {
	MSG_HELLO,     /* connection data, both ways */
	MSG_PHASE,     /* server: start phase a (chunks b) */
	MSG_CHUNK,     /* client: chunk a of the phase written, checksum b */
	MSG_ACK,       /* server: chunk a checked and churned */
	MSG_PHASE_END, /* client: phase done, a bytes in b ns */
	MSG_ERROR,     /* client: the phase failed, a = the work completion status */
};

struct msg {
	uint32_t type;
	uint32_t pad;
	uint64_t a, b;
};

struct hello {
	uint32_t qpn, psn;
	union ibv_gid gid;
	uint32_t rkey[TGT_NR];
	uint32_t pad;
	uint64_t addr[TGT_NR];
	uint64_t bytes; /* per phase */
	uint64_t corrupt;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "softodp_demo: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	exit(3);
}

/* Reads exactly @len bytes within @secs seconds: 0, or -1. */
static int read_full(int fd, void *buf, size_t len, int secs)
{
	uint64_t deadline = tl_now_ns() + (uint64_t)secs * 1000000000ULL;
	char *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = tl_now_ns();
		ssize_t n;

		if (now >= deadline)
			return -1;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000) + 1) < 0 && errno != EINTR)
			return -1;
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_msg(int fd, enum msg_type type, uint64_t a, uint64_t b)
{
	struct msg m = {.type = type, .a = a, .b = b};

	return write_full(fd, &m, sizeof(m));
}

/* ---- data: a pattern per (phase, chunk) and its checksum ---- */
static void fill_chunk(uint64_t *w, size_t words, unsigned int phase, uint64_t chunk)
{
	uint64_t x = DEMO_CHUNK_SEED ^ ((uint64_t)phase << 40) ^ (chunk + 1);

	for (size_t i = 0; i < words; i++) {
		/* xorshift64: different bytes everywhere, cheap to make */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
}

/* A 64-bit checksum of @words words: every byte and its position count. */
static uint64_t checksum(const uint64_t *w, size_t words)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < words; i++) {
		h ^= w[i] + i;
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

/* ---- verbs ---- */
struct side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	union ibv_gid gid;
	enum ibv_mtu mtu;
};

static void side_open(struct side *s, const char *addr)
{
	struct ibv_qp_init_attr qa;
	struct ibv_port_attr pa;
	struct ibv_device **list;
	char spec[128];
	int n;

	snprintf(spec, sizeof(spec), "srxe0=%s", addr);
	setenv("SOFTODP_DEVICES", spec, 1);
	list = ibv_get_device_list(&n);
	if (!list || n < 1)
		die("no device on %s: %s\n", addr, strerror(errno));
	s->ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	if (!s->ctx)
		die("ibv_open_device: %s\n", strerror(errno));
	if (ibv_query_port(s->ctx, 1, &pa) || ibv_query_gid(s->ctx, 1, DEMO_GID_INDEX, &s->gid))
		die("port query: %s\n", strerror(errno));
	s->mtu = pa.active_mtu;
	s->pd = ibv_alloc_pd(s->ctx);
	s->cq = s->pd ? ibv_create_cq(s->ctx, 2 * DEMO_WINDOW + 8, NULL, NULL, 0) : NULL;
	if (!s->cq)
		die("PD/CQ: %s\n", strerror(errno));
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = s->cq;
	qa.recv_cq = s->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 2 * DEMO_WINDOW + 2;
	qa.cap.max_recv_wr = 1;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	s->qp = ibv_create_qp(s->pd, &qa);
	if (!s->qp)
		die("ibv_create_qp: %s\n", strerror(errno));
}

static void side_connect(struct side *s, uint32_t dest_qpn, const union ibv_gid *dgid,
			 uint32_t my_psn, uint32_t peer_psn)
{
	struct ibv_qp_attr at;

	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	at.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	if (ibv_modify_qp(s->qp, &at,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		die("QP to INIT: %s\n", strerror(errno));
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = s->mtu;
	at.dest_qp_num = dest_qpn;
	at.rq_psn = peer_psn;
	at.max_dest_rd_atomic = 1;
	at.min_rnr_timer = DEMO_MIN_RNR;
	at.ah_attr.is_global = 1;
	at.ah_attr.grh.dgid = *dgid;
	at.ah_attr.grh.sgid_index = DEMO_GID_INDEX;
	at.ah_attr.grh.hop_limit = 1;
	at.ah_attr.port_num = 1;
	if (ibv_modify_qp(s->qp, &at,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		die("QP to RTR: %s\n", strerror(errno));
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	at.timeout = DEMO_ACK_TIMEOUT;
	at.retry_cnt = DEMO_INFINITE;
	at.rnr_retry = DEMO_INFINITE;
	at.sq_psn = my_psn;
	at.max_rd_atomic = 1;
	if (ibv_modify_qp(s->qp, &at,
			  IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				  IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
		die("QP to RTS: %s\n", strerror(errno));
}

/* ---- the client ---- */
struct client {
	struct side s;
	int fd;
	struct hello peer;
	uint64_t *buf; /* DEMO_WINDOW + 1 slots of one chunk */
	struct ibv_mr *mr;
};

/*
 * Writes every chunk of phase @ph into the server's target, keeping at most
 * DEMO_WINDOW chunks beyond the last acknowledged one. Returns 0, or the
 * status of a failed work completion (or -1 for a time limit or a lost side
 * channel).
 */
static int client_phase(struct client *c, unsigned int ph, uint64_t nchunks)
{
	const size_t words = DEMO_CHUNK / sizeof(uint64_t);
	enum target t = phases[ph].target;
	uint64_t posted = 0, done = 0, acked = 0;
	uint64_t start = tl_now_ns(), deadline = start + DEMO_PHASE_SECS * 1000000000ULL;
	uint64_t sums[DEMO_WINDOW + 1];

	while (acked < nchunks) {
		struct ibv_wc wc;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int n;

		if (tl_now_ns() > deadline)
			return -1;
		while (posted < nchunks && posted < acked + DEMO_WINDOW) {
			unsigned int slot = posted % (DEMO_WINDOW + 1);
			uint64_t *src = c->buf + slot * words;
			struct ibv_sge sge = {
				.addr = (uintptr_t)src, .length = DEMO_CHUNK, .lkey = c->mr->lkey};
			struct ibv_send_wr wr = {0}, *bad;

			fill_chunk(src, words, ph, posted);
			sums[slot] = checksum(src, words);
			/* the test of the verdict: one byte on the wire differs */
			if (c->peer.corrupt && t == TGT_EXPLICIT &&
			    phases[ph].churn != CHURN_NONE && posted == 1)
				((uint8_t *)src)[DEMO_CHUNK / 2] ^= 0x5a;
			wr.wr_id = posted;
			wr.sg_list = &sge;
			wr.num_sge = 1;
			wr.opcode = IBV_WR_RDMA_WRITE;
			wr.send_flags = IBV_SEND_SIGNALED;
			wr.wr.rdma.remote_addr = c->peer.addr[t] + posted * DEMO_CHUNK;
			wr.wr.rdma.rkey = c->peer.rkey[t];
			if (ibv_post_send(c->s.qp, &wr, &bad))
				return -1;
			posted++;
		}
		n = ibv_poll_cq(c->s.cq, 1, &wc);
		if (n < 0)
			return -1;
		if (n == 1) {
			if (wc.status != IBV_WC_SUCCESS) {
				send_msg(c->fd, MSG_ERROR, wc.status, wc.wr_id);
				return wc.status;
			}
			if (send_msg(c->fd, MSG_CHUNK, done, sums[done % (DEMO_WINDOW + 1)]))
				return -1;
			done++;
			continue;
		}
		if (poll(&pfd, 1, done < posted ? 0 : 1) > 0) {
			struct msg m;

			if (read_full(c->fd, &m, sizeof(m), DEMO_CONNECT_SECS) || m.type != MSG_ACK)
				return -1;
			acked = m.a + 1;
		}
	}
	return send_msg(c->fd, MSG_PHASE_END, nchunks * DEMO_CHUNK, tl_now_ns() - start) ? -1 : 0;
}

static int client_main(int fd, const char *addr)
{
	const size_t bytes = (DEMO_WINDOW + 1) * DEMO_CHUNK;
	struct client c = {.fd = fd};
	struct hello mine = {0};
	struct msg m;

	side_open(&c.s, addr);
	c.buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c.buf == MAP_FAILED)
		die("mmap: %s\n", strerror(errno));
	c.mr = ibv_reg_mr(c.s.pd, c.buf, bytes, IBV_ACCESS_LOCAL_WRITE);
	if (!c.mr)
		die("client ibv_reg_mr: %s\n", strerror(errno));
	mine.qpn = c.s.qp->qp_num;
	mine.psn = lrand48() & 0xffffff;
	mine.gid = c.s.gid;
	if (read_full(fd, &c.peer, sizeof(c.peer), DEMO_CONNECT_SECS) ||
	    write_full(fd, &mine, sizeof(mine)))
		die("client: the server went away\n");
	side_connect(&c.s, c.peer.qpn, &c.peer.gid, mine.psn, c.peer.psn);
	while (!read_full(fd, &m, sizeof(m), DEMO_TOTAL_SECS) && m.type == MSG_PHASE) {
		if (client_phase(&c, (unsigned int)m.a, m.b))
			return 3;
	}
	ibv_destroy_qp(c.s.qp);
	ibv_dereg_mr(c.mr);
	ibv_destroy_cq(c.s.cq);
	ibv_dealloc_pd(c.s.pd);
	ibv_close_device(c.s.ctx);
	return 0;
}

/* ---- the server ---- */
struct region {
	uint8_t *base;
	size_t len;
	struct ibv_mr *mr; /* the implicit MR for TGT_IMPLICIT */
};

struct result {
	bool ran, failed;
	const char *why;
	uint64_t bytes, ns;
	uint64_t chunks, bad_chunks;
	struct sodp_mr_stats before, after;
	uint64_t churned[OP_NR];
};

struct server {
	struct side s;
	int fd;
	size_t bytes;
	struct region r[TGT_NR];
	struct result res[NR_PHASES];
	bool progress; /* stdout is a terminal */
	uint64_t first_bad_phase, first_bad_chunk;
};

/* Anonymous memory at a 2 MiB boundary, asking for transparent huge pages. */
static uint8_t *map_region(size_t len)
{
	uint8_t *p = mmap(NULL, len + DEMO_CHUNK, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		die("mmap %zu bytes: %s\n", len, strerror(errno));
	a = ((uintptr_t)p + DEMO_CHUNK - 1) & ~(DEMO_CHUNK - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((uint8_t *)a + len, (uintptr_t)p + DEMO_CHUNK - a);
	madvise((void *)a, len, MADV_HUGEPAGE); /* best effort: THP may be off */
	return (uint8_t *)a;
}

/* What the server does to a chunk in a churn phase, before the client writes it. */
static void churn_chunk(struct result *res, uint8_t *p, uint64_t chunk)
{
	enum churn_op op = (enum churn_op)(chunk % OP_NR);

	switch (op) {
	case OP_REMAP:
		/* new memory at the same address: the ODP MR follows the mapping */
		if (munmap(p, DEMO_CHUNK) ||
		    mmap(p, DEMO_CHUNK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != p)
			die("remap at %p: %s\n", (void *)p, strerror(errno));
		madvise(p, DEMO_CHUNK, MADV_HUGEPAGE);
		break;
	case OP_DONTNEED:
		if (madvise(p, DEMO_CHUNK, MADV_DONTNEED))
			die("madvise: %s\n", strerror(errno));
		break;
	case OP_MPROTECT:
		if (mprotect(p, DEMO_CHUNK, PROT_READ) ||
		    mprotect(p, DEMO_CHUNK, PROT_READ | PROT_WRITE))
			die("mprotect: %s\n", strerror(errno));
		break;
	case OP_NR:
		break;
	}
	res->churned[op]++;
}

static struct ibv_mr *target_mr(struct server *sv, enum target t)
{
	return sv->r[t].mr;
}

static void show_progress(struct server *sv, unsigned int ph, uint64_t chunk, uint64_t nchunks,
			  uint64_t start)
{
	static uint64_t last;
	uint64_t now = tl_now_ns();

	if (!sv->progress || now - start < DEMO_PROGRESS_NS || now - last < 100000000ULL)
		return;
	last = now;
	printf("\r  %-16s %3" PRIu64 "%%  chunk %" PRIu64 "/%" PRIu64 " ", phases[ph].name,
	       chunk * 100 / nchunks, chunk, nchunks);
	fflush(stdout);
}

static int server_phase(struct server *sv, unsigned int ph)
{
	const size_t words = DEMO_CHUNK / sizeof(uint64_t);
	const struct phase *p = &phases[ph];
	struct result *res = &sv->res[ph];
	struct region *r = &sv->r[p->target];
	uint64_t nchunks = sv->bytes / DEMO_CHUNK, next = 0, start = tl_now_ns();

	res->ran = true;
	sodp_mr_get_stats(target_mr(sv, p->target), &res->before);
	if (send_msg(sv->fd, MSG_PHASE, ph, nchunks))
		return -1;
	for (;;) {
		struct msg m;

		if (read_full(sv->fd, &m, sizeof(m), DEMO_PHASE_SECS)) {
			res->why = "the client stopped answering";
			return -1;
		}
		if (m.type == MSG_ERROR) {
			res->why = ibv_wc_status_str((enum ibv_wc_status)m.a);
			return -1;
		}
		if (m.type == MSG_PHASE_END) {
			res->bytes = m.a;
			res->ns = m.b;
			break;
		}
		if (m.type != MSG_CHUNK || m.a != next) {
			res->why = "the side channel is out of step";
			return -1;
		}
		uint8_t *chunk = r->base + next * DEMO_CHUNK;

		res->chunks++;
		if (checksum((const uint64_t *)chunk, words) != m.b) {
			if (!res->bad_chunks && !sv->first_bad_chunk && !sv->first_bad_phase) {
				sv->first_bad_phase = ph + 1;
				sv->first_bad_chunk = next;
			}
			res->bad_chunks++;
		}
		/*
		 * Churn a chunk the client may not write before this ACK, while
		 * it writes the ones in between: its next WRITE faults anew.
		 */
		if (p->churn == CHURN_ROTATE && next + DEMO_WINDOW + 1 < nchunks)
			churn_chunk(res, r->base + (next + DEMO_WINDOW + 1) * DEMO_CHUNK,
				    next + DEMO_WINDOW + 1);
		if (send_msg(sv->fd, MSG_ACK, next, 0))
			return -1;
		show_progress(sv, ph, next + 1, nchunks, start);
		next++;
	}
	if (sv->progress && tl_now_ns() - start >= DEMO_PROGRESS_NS)
		printf("\r%60s\r", "");
	sodp_mr_get_stats(target_mr(sv, p->target), &res->after);
	return 0;
}

static uint64_t delta(const struct result *r, size_t off)
{
	uint64_t a, b;

	memcpy(&a, (const char *)&r->after + off, sizeof(a));
	memcpy(&b, (const char *)&r->before + off, sizeof(b));
	return a - b;
}

#define D(r, field) delta(r, offsetof(struct sodp_mr_stats, field))

static void print_report(struct server *sv, pid_t client, const char *srv_addr,
			 const char *cli_addr)
{
	uint64_t chunks = 0, bad = 0;
	struct sodp_hmm_counters hc;
	unsigned int i;

	printf("\nphase            target        MiB/s  faults  pages  RNR NAKs  invalidations"
	       "     MTT entries     integrity\n");
	printf("                                                           unmap/clear/prot  "
	       "4K/2M/1G\n");
	for (i = 0; i < NR_PHASES; i++) {
		struct result *r = &sv->res[i];
		char inval[32], mtt[32], verdict[32];
		double mibs;

		if (!r->ran)
			continue;
		chunks += r->chunks;
		bad += r->bad_chunks;
		mibs = r->ns ? (double)r->bytes / (1 << 20) / ((double)r->ns / 1e9) : 0;
		snprintf(inval, sizeof(inval), "%" PRIu64 "/%" PRIu64 "/%" PRIu64,
			 D(r, invalidations[SODP_EVENT_UNMAP]),
			 D(r, invalidations[SODP_EVENT_CLEAR]),
			 D(r, invalidations[SODP_EVENT_PROTECTION]));
		snprintf(mtt, sizeof(mtt), "%" PRIu64 "/%" PRIu64 "/%" PRIu64,
			 r->after.entries_by_order[0], r->after.entries_by_order[9],
			 r->after.entries_by_order[18]);
		if (r->failed)
			snprintf(verdict, sizeof(verdict), "FAILED");
		else if (r->bad_chunks)
			snprintf(verdict, sizeof(verdict), "%" PRIu64 " BAD", r->bad_chunks);
		else
			snprintf(verdict, sizeof(verdict), "ok (%" PRIu64 ")", r->chunks);
		printf("%-16s %-12s %6.0f %7" PRIu64 " %6" PRIu64 " %9" PRIu64 "  %-17s %-15s %s\n",
		       phases[i].name, target_name[phases[i].target], mibs, D(r, faults),
		       D(r, pages_faulted), D(r, rnr_naks), inval, mtt, verdict);
		if (r->failed)
			printf("    failed: %s\n", r->why ? r->why : "unknown");
		if (phases[i].churn != CHURN_NONE)
			printf("    ahead of the writes: %" PRIu64
			       " chunks unmapped and remapped, %" PRIu64
			       " madvise(MADV_DONTNEED), %" PRIu64 " mprotect read-only and back\n",
			       r->churned[OP_REMAP], r->churned[OP_DONTNEED],
			       r->churned[OP_MPROTECT]);
	}
	if (!sodp_hmm_get_counters(&hc)) {
		uint64_t ev[SODP_EVENT_NR] = {0};

		for (int o = 0; o < SODP_HMM_ORIGIN_NR; o++)
			for (int e = 0; e < SODP_EVENT_NR; e++)
				ev[e] += hc.events[o][e];
		printf("\nmemory mirror (server): %" PRIu64 " unmap, %" PRIu64 " clear, %" PRIu64
		       " protection events; %" PRIu64 " caught by the interposed calls\n",
		       ev[SODP_EVENT_UNMAP], ev[SODP_EVENT_CLEAR], ev[SODP_EVENT_PROTECTION],
		       hc.events[SODP_HMM_FROM_HOOK][SODP_EVENT_UNMAP] +
			       hc.events[SODP_HMM_FROM_HOOK][SODP_EVENT_CLEAR] +
			       hc.events[SODP_HMM_FROM_HOOK][SODP_EVENT_PROTECTION]);
	}
	printf("server %s (pid %d), client %s (pid %d); MiB/s as the client saw it, "
	       "the server checking every chunk\n",
	       srv_addr, (int)getpid(), cli_addr, (int)client);
	if (bad)
		printf("\ndata integrity: FAIL: %" PRIu64 " of %" PRIu64
		       " chunks differ from what the client wrote (first: phase \"%s\", chunk "
		       "%" PRIu64 ")\n",
		       bad, chunks, phases[sv->first_bad_phase - 1].name, sv->first_bad_chunk);
	else
		printf("\ndata integrity: PASS: %" PRIu64 " chunks, %" PRIu64
		       " MiB, every byte checked against the client's checksums\n",
		       chunks, chunks * DEMO_CHUNK >> 20);
}

static struct ibv_mr *reg(struct server *sv, void *addr, size_t len, unsigned int extra)
{
	struct ibv_mr *mr = ibv_reg_mr(sv->s.pd, addr, len,
				       IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | extra);

	if (!mr)
		die("ibv_reg_mr(%s): %s\n", extra ? "ODP" : "pinned", strerror(errno));
	return mr;
}

static int server_main(int fd, pid_t client, const char *addr, const char *cli_addr, size_t bytes,
		       bool corrupt)
{
	struct server sv = {.fd = fd, .bytes = bytes};
	struct hello mine = {0}, peer;
	bool failed = false;
	unsigned int i;
	int t;

	sv.progress = isatty(STDOUT_FILENO);
	side_open(&sv.s, addr);
	for (t = 0; t < TGT_NR; t++) {
		sv.r[t].base = map_region(bytes);
		sv.r[t].len = bytes;
	}
	sv.r[TGT_PINNED].mr = reg(&sv, sv.r[TGT_PINNED].base, bytes, 0);
	sv.r[TGT_EXPLICIT].mr = reg(&sv, sv.r[TGT_EXPLICIT].base, bytes, IBV_ACCESS_ON_DEMAND);
	sv.r[TGT_IMPLICIT].mr = reg(&sv, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND);
	mine.qpn = sv.s.qp->qp_num;
	mine.psn = lrand48() & 0xffffff;
	mine.gid = sv.s.gid;
	for (t = 0; t < TGT_NR; t++) {
		mine.rkey[t] = sv.r[t].mr->rkey;
		mine.addr[t] = (uintptr_t)sv.r[t].base;
	}
	mine.bytes = bytes;
	mine.corrupt = corrupt;
	if (write_full(fd, &mine, sizeof(mine)) || read_full(fd, &peer, sizeof(peer), 30))
		die("server: the client went away\n");
	side_connect(&sv.s, peer.qpn, &peer.gid, mine.psn, peer.psn);

	printf("softodp_demo: RDMA WRITE into on-demand-paged memory, %zu MiB per phase in %lu MiB "
	       "WRITEs\n",
	       bytes >> 20, DEMO_CHUNK >> 20);
	fflush(stdout);
	for (i = 0; i < NR_PHASES && !failed; i++) {
		if (server_phase(&sv, i)) {
			sv.res[i].failed = true;
			failed = true;
		}
	}
	print_report(&sv, client, addr, cli_addr);
	for (i = 0; i < NR_PHASES; i++)
		if (sv.res[i].bad_chunks)
			return 1;
	return failed ? 3 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: softodp_demo [-s MIB] [--server ADDR] [--client ADDR]\n"
		"  -s, --size MIB     bytes per phase, in MiB (2 to %d, even; default %d)\n"
		"      --server ADDR  the server's device address (default 127.0.0.1)\n"
		"      --client ADDR  the client's device address (default 127.0.0.2)\n"
		"  -h, --help         this text\n",
		DEMO_MAX_MIB, DEMO_DEFAULT_MIB);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"size", required_argument, NULL, 's'},
		{"server", required_argument, NULL, 'S'},
		{"client", required_argument, NULL, 'C'},
		/* not in the help: corrupt one byte, to see the verdict fail */
		{"corrupt", no_argument, NULL, 'X'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *srv_addr = "127.0.0.1", *cli_addr = "127.0.0.2", *env;
	unsigned long mib = DEMO_DEFAULT_MIB;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sin);
	bool corrupt = false;
	int lfd, fd, opt, one = 1, status, ret;
	pid_t child;

	tl_usage_init("softodp_demo", usage);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			mib = (unsigned long)tl_parse_int("-s", optarg, 2, DEMO_MAX_MIB);
			if (mib % 2)
				tl_die_usage("-s wants an even number of MiB, not '%s'", optarg);
			break;
		case 'S':
			srv_addr = optarg;
			break;
		case 'C':
			cli_addr = optarg;
			break;
		case 'X':
			corrupt = true;
			break;
		default:
			tl_opt_other(opt, argv);
		}
	}
	if (optind != argc)
		tl_die_usage("unexpected argument '%s'", argv[optind]);
	env = getenv("SOFTODP_DEMO_CORRUPT");
	if (env && atoi(env) > 0)
		corrupt = true;
	srand48((long)tl_now_ns() ^ getpid());

	/* The side channel first, then the client, before any device is opened. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen))
		die("side channel: %s\n", strerror(errno));
	fflush(stdout);
	child = fork();
	if (child < 0)
		die("fork: %s\n", strerror(errno));
	if (child == 0) {
		close(lfd);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
			die("client: connect: %s\n", strerror(errno));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		alarm(DEMO_TOTAL_SECS);
		_exit(client_main(fd, cli_addr));
	}
	{
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};

		if (poll(&pfd, 1, DEMO_CONNECT_SECS * 1000) != 1)
			die("the client did not connect\n");
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		die("accept: %s\n", strerror(errno));
	close(lfd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	alarm(DEMO_TOTAL_SECS);
	ret = server_main(fd, child, srv_addr, cli_addr, mib << 20, corrupt);
	close(fd);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "softodp_demo: the client failed\n");
		if (!ret)
			ret = 3;
	}
	return ret;
}
