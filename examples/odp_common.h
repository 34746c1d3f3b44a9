/* SPDX-License-Identifier: MIT */
/*
 * What the ODP examples share and what is not about ODP: opening a device,
 * a reliably connected (RC) QP, the exchange of connection data over TCP,
 * and waiting for a completion. Only <infiniband/verbs.h> is used, so the
 * examples build against rdma-core's libibverbs as well as softodp.
 *
 * Each example is one program: without a host argument it is the server,
 * with one it is the client of the server on that host.
 */
#ifndef ODP_EXAMPLE_COMMON_H
#define ODP_EXAMPLE_COMMON_H

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <infiniband/verbs.h>

#define EX_PORT	       "18515" /* the TCP port of the connection data, -p to change */
#define EX_TIMEOUT_MS  10000   /* for the peer, and for a completion */
#define EX_GID_INDEX   0       /* RoCE v2 GID of the device's address */
#define EX_PATTERN(i)  ((uint8_t)((i)*7 + 1))
#define EX_ACK_TIMEOUT 14 /* 4.096 us * 2^14 = 67 ms before a retransmission */
#define EX_RETRY       7  /* rnr_retry 7: wait for an ODP page fault as long as it takes */

/* What each side tells the other: where to send, and what it may write. */
struct ex_conn {
	uint32_t qpn, psn;
	union ibv_gid gid;
	uint64_t addr; /* the server's buffer (RDMA WRITE target) */
	uint32_t rkey;
	uint32_t len;
};

struct ex_ctx {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	union ibv_gid gid;
	enum ibv_mtu mtu;
	int sock; /* TCP to the peer */
};

static inline void ex_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(1);
}

/* The first device (or the one named), a PD, a CQ and an RC QP. */
static inline void ex_open(struct ex_ctx *c, const char *devname)
{
	struct ibv_qp_init_attr qa = {0};
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_port_attr pa;
	int i;

	if (!list)
		ex_die("ibv_get_device_list");
	for (i = 0; list[i]; i++)
		if (!devname || !strcmp(ibv_get_device_name(list[i]), devname))
			break;
	if (!list[i]) {
		fprintf(stderr, "no such device\n");
		exit(1);
	}
	c->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!c->ctx)
		ex_die("ibv_open_device");
	if (ibv_query_port(c->ctx, 1, &pa) || ibv_query_gid(c->ctx, 1, EX_GID_INDEX, &c->gid))
		ex_die("ibv_query_port");
	c->mtu = pa.active_mtu;
	c->pd = ibv_alloc_pd(c->ctx);
	if (!c->pd)
		ex_die("ibv_alloc_pd");
	c->cq = ibv_create_cq(c->ctx, 16, NULL, NULL, 0);
	if (!c->cq)
		ex_die("ibv_create_cq");
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 16;
	qa.cap.max_recv_wr = 16;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	c->qp = ibv_create_qp(c->pd, &qa);
	if (!c->qp)
		ex_die("ibv_create_qp");
}

/* Server: waits for one client. Client: connects to @host, retrying for a while. */
static inline void ex_tcp(struct ex_ctx *c, const char *host, const char *port)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
	int one = 1;

	if (!host)
		hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &ai)) {
		fprintf(stderr, "getaddrinfo failed\n");
		exit(1);
	}
	c->sock = socket(ai->ai_family, ai->ai_socktype, 0);
	if (c->sock < 0)
		ex_die("socket");
	if (!host) {
		struct pollfd pfd = {.fd = c->sock, .events = POLLIN};
		int l = c->sock;

		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l, ai->ai_addr, ai->ai_addrlen) || listen(l, 1))
			ex_die("listen");
		if (poll(&pfd, 1, EX_TIMEOUT_MS) != 1) {
			fprintf(stderr, "no client came\n");
			exit(1);
		}
		c->sock = accept(l, NULL, NULL);
		close(l);
		if (c->sock < 0)
			ex_die("accept");
	} else {
		int tries = EX_TIMEOUT_MS / 100;

		while (connect(c->sock, ai->ai_addr, ai->ai_addrlen)) {
			if (!--tries)
				ex_die("connect");
			usleep(100000); /* the server is not listening yet */
		}
	}
	freeaddrinfo(ai);
}

/* Sends ours, receives theirs. */
static inline void ex_exchange(struct ex_ctx *c, const struct ex_conn *mine, struct ex_conn *peer)
{
	if (write(c->sock, mine, sizeof(*mine)) != sizeof(*mine) ||
	    recv(c->sock, peer, sizeof(*peer), MSG_WAITALL) != sizeof(*peer)) {
		fprintf(stderr, "the peer went away\n");
		exit(1);
	}
}

/* One byte each way: the peer has reached the same point. */
static inline void ex_sync(struct ex_ctx *c)
{
	char b = 0;

	if (write(c->sock, &b, 1) != 1 || recv(c->sock, &b, 1, MSG_WAITALL) != 1) {
		fprintf(stderr, "the peer went away\n");
		exit(1);
	}
}

/*
 * RESET -> INIT -> RTR -> RTS, connected to @peer. The QP lets the peer
 * write into our MRs (IBV_ACCESS_REMOTE_WRITE). rnr_retry 7 matters with
 * ODP: a responder that has to fault a page in answers "receiver not ready"
 * (RNR NAK), and the requester retries until the page is there.
 */
static inline void ex_connect(struct ex_ctx *c, const struct ex_conn *mine,
			      const struct ex_conn *peer)
{
	struct ibv_qp_attr a = {0};

	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	if (ibv_modify_qp(c->qp, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		ex_die("modify QP to INIT");
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = c->mtu;
	a.dest_qp_num = peer->qpn;
	a.rq_psn = peer->psn;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 1; /* the shortest wait an RNR NAK asks for */
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = peer->gid;
	a.ah_attr.grh.sgid_index = EX_GID_INDEX;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(c->qp, &a,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		ex_die("modify QP to RTR");
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = EX_ACK_TIMEOUT;
	a.retry_cnt = EX_RETRY;
	a.rnr_retry = EX_RETRY;
	a.sq_psn = mine->psn;
	a.max_rd_atomic = 1;
	if (ibv_modify_qp(c->qp, &a,
			  IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				  IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
		ex_die("modify QP to RTS");
}

/* Our half of the connection data; the server adds its buffer. */
static inline void ex_mine(const struct ex_ctx *c, struct ex_conn *mine)
{
	memset(mine, 0, sizeof(*mine));
	mine->qpn = c->qp->qp_num;
	mine->psn = (uint32_t)getpid() & 0xffffff;
	mine->gid = c->gid;
}

/*
 * Meets the other side: the client connects to @host, the server waits for
 * it and offers its @len bytes at @buf (@mr's rkey) for RDMA WRITE; the
 * connection data is exchanged and the QP brought to RTS. @peer: what the
 * other side sent (for the client, the server's buffer).
 */
static inline void ex_meet(struct ex_ctx *c, const char *host, const char *port, void *buf,
			   uint32_t len, const struct ibv_mr *mr, struct ex_conn *peer)
{
	struct ex_conn mine;

	ex_tcp(c, host, port);
	ex_mine(c, &mine);
	if (!host) {
		mine.addr = (uintptr_t)buf;
		mine.rkey = mr->rkey;
		mine.len = len;
	}
	ex_exchange(c, &mine, peer);
	ex_connect(c, &mine, peer);
}

/* Waits for one completion, bounded in time; exits on an error. */
static inline void ex_wait(struct ex_ctx *c)
{
	struct timespec t0, t;
	struct ibv_wc wc;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((n = ibv_poll_cq(c->cq, 1, &wc)) == 0) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >
		    EX_TIMEOUT_MS) {
			fprintf(stderr, "no completion\n");
			exit(1);
		}
	}
	if (n < 0 || wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "work completion: %s\n",
			n < 0 ? "poll failed" : ibv_wc_status_str(wc.status));
		exit(1);
	}
}

/* One RDMA WRITE of @len bytes from @buf (@mr) to the peer's @raddr. */
static inline void ex_write(struct ex_ctx *c, void *buf, uint32_t len, struct ibv_mr *mr,
			    uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = {.addr = (uintptr_t)buf, .length = len, .lkey = mr->lkey};
	struct ibv_send_wr wr = {0}, *bad;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	if (ibv_post_send(c->qp, &wr, &bad))
		ex_die("ibv_post_send");
	ex_wait(c);
}

/* The server's check: every byte is the pattern the client wrote. */
static inline int ex_check(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != EX_PATTERN(i)) {
			printf("data differs at byte %zu\n", i);
			return 1;
		}
	}
	printf("data verified: %zu bytes\n", len);
	return 0;
}

static inline void ex_fill(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = EX_PATTERN(i);
}

/* Options: [-d device] [-p port] [host]; NULL host for the server. */
static inline void ex_args(int argc, char **argv, const char **dev, const char **port,
			   const char **host)
{
	int o;

	*dev = NULL;
	*port = EX_PORT;
	while ((o = getopt(argc, argv, "d:p:")) != -1) {
		if (o == 'd') {
			*dev = optarg;
		} else if (o == 'p') {
			*port = optarg;
		} else {
			fprintf(stderr, "usage: %s [-d device] [-p port] [server host]\n", argv[0]);
			exit(2);
		}
	}
	if (optind < argc - 1) {
		fprintf(stderr, "usage: %s [-d device] [-p port] [server host]\n", argv[0]);
		exit(2);
	}
	*host = optind < argc ? argv[optind] : NULL;
}

/*
 * Whether the device can serve RC RDMA WRITEs into ODP memory (and, with
 * @implicit, implicit ODP): what ibv_query_device_ex() says in odp_caps.
 */
static inline void ex_require_odp(struct ex_ctx *c, int implicit)
{
	struct ibv_device_attr_ex attr;

	if (ibv_query_device_ex(c->ctx, NULL, &attr))
		ex_die("ibv_query_device_ex");
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT) ||
	    !(attr.odp_caps.per_transport_caps.rc_odp_caps & IBV_ODP_SUPPORT_WRITE) ||
	    (implicit && !(attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT))) {
		fprintf(stderr, "the device has no %sODP for RC RDMA WRITE\n",
			implicit ? "implicit " : "");
		exit(1);
	}
}

static inline void ex_close(struct ex_ctx *c)
{
	ibv_destroy_qp(c->qp);
	ibv_destroy_cq(c->cq);
	ibv_dealloc_pd(c->pd);
	ibv_close_device(c->ctx);
	close(c->sock);
}

#endif
