/* SPDX-License-Identifier: MIT */
/*
 * A scripted peer for the provider tests: a softodp device (the victim,
 * srxe0 on 127.0.0.1) with one RC QP connected to a QP that does not exist,
 * at 127.0.0.2, where the test itself holds UDP port 4791 and so receives
 * every packet the victim sends. The test writes the peer's packets with
 * the provider's own encoder (hdr.h) and ICRC (icrc.h), from 127.0.0.2
 * (the connected peer) or from any other loopback address (a stranger),
 * and waits for the victim to have received them by its rx_pkts counter.
 * Run in a private network namespace: it binds 127.0.0.x:4791.
 */
#ifndef RXE_PEER_UTIL_H
#define RXE_PEER_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "rxe.h"
#include "rxe_test_util.h"

#define RP_VICTIM_IP   "127.0.0.1"
#define RP_PEER_IP     "127.0.0.2"
#define RP_STRANGER_IP "127.0.0.3"
#define RP_PEER_QPN    0x4242	   /* the QPN the victim's QP is connected to */
#define RP_VICTIM_PSN  0x1000	   /* first PSN the victim's responder expects */
#define RP_PEER_PSN    0x800000	   /* first PSN the victim's requester sends */
#define RP_MAX_PAYLOAD (4096 + 64) /* past the largest path MTU: oversized packets too */

/* One UDP socket a test sends RoCEv2 packets from (and receives on). */
struct rp_sock {
	int fd;
	struct sockaddr_in addr;
};

struct rp {
	bool open; /* rp_open() was called: rp_close() has something to undo */
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf;
	struct rp_sock peer;	 /* 127.0.0.2:4791, the connected peer */
	struct rp_sock stranger; /* 127.0.0.3:4791 */
	uint32_t next_psn;	 /* the next request PSN the victim expects */
};

static inline struct rxe_dev *rp_dev(struct ibv_context *ctx)
{
	return ctx_dev(sodp_ctx(ctx));
}

static inline void rp_counters(struct rp *r, struct rxe_counters *c)
{
	rxe_dev_counters(rp_dev(r->ctx), c);
}

static inline int rp_sock_open(struct rp_sock *s, const char *ip)
{
	int pmtu = IP_PMTUDISC_DO, sz = 4 << 20;

	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -1;
	/* DF, unconnected: IPv4 ID 0, what the victim's ICRC check assumes */
	setsockopt(s->fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	s->addr.sin_family = AF_INET;
	s->addr.sin_port = htons(RXE_ROCE_V2_PORT);
	inet_pton(AF_INET, ip, &s->addr.sin_addr);
	if (bind(s->fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	return 0;
}

static inline void rp_sock_close(struct rp_sock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static inline void rp_gid_v4(union ibv_gid *gid, const char *ip)
{
	memset(gid, 0, sizeof(*gid));
	gid->raw[10] = gid->raw[11] = 0xff;
	inet_pton(AF_INET, ip, gid->raw + 12);
}

/* Encodes @h with @paylen bytes of @payload, adds the ICRC and sends it to the victim. */
static inline int rp_send(struct rp_sock *s, const struct rxe_hdrs *h, const void *payload,
			  uint32_t paylen)
{
	uint8_t pkt[RXE_MAX_HDR_LENGTH + RP_MAX_PAYLOAD + 8];
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(RXE_ROCE_V2_PORT)};
	struct rxe_icrc_hdr ih;
	int hl, len;

	if (paylen > RP_MAX_PAYLOAD)
		return -1;
	inet_pton(AF_INET, RP_VICTIM_IP, &to.sin_addr);
	hl = rxe_hdr_build(pkt, sizeof(pkt), h, paylen);
	if (hl < 0)
		return -1;
	if (paylen)
		memcpy(pkt + hl, payload, paylen);
	rxe_pkt_zero_pad(pkt, (unsigned int)hl, paylen);
	len = hl + (int)paylen + (int)rxe_pad_len(paylen);
	if (rxe_icrc_hdr_from_sockaddr(&ih, (struct sockaddr *)&s->addr, (struct sockaddr *)&to))
		return -1;
	rxe_icrc_append(&ih, pkt, (size_t)len);
	len += RXE_ICRC_BYTES;
	return sendto(s->fd, pkt, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to)) == len ? 0
											     : -1;
}

/*
 * Receives one packet the victim sent to @s within @ms and parses it into
 * @pi (pointing into @buf). 0, or -1 on timeout or a packet that does not
 * parse.
 */
static inline int rp_recv(struct rp_sock *s, uint8_t *buf, size_t size, struct rxe_pkt_info *pi,
			  int ms)
{
	struct pollfd p = {.fd = s->fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return -1;
	n = recv(s->fd, buf, size, 0);
	if (n <= 0)
		return -1;
	return rxe_pkt_parse(buf, (size_t)n, pi) ? -1 : 0;
}

/* Discards whatever the victim sent to @s so far. */
static inline void rp_drain(struct rp_sock *s)
{
	uint8_t b[8192];

	while (recv(s->fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

/* Waits until the victim has received @n packets in all; false on timeout. */
static inline bool rp_wait_rx(struct rp *r, uint64_t n)
{
	uint64_t end = rt_ms() + RT_WAIT_MS;
	struct rxe_counters c;

	do {
		rp_counters(r, &c);
		if (c.rx_pkts >= n)
			return true;
		usleep(200);
	} while (rt_ms() < end);
	return false;
}

/* Sends from @s and waits until the victim has taken the packet in. */
static inline int rp_send_wait(struct rp *r, struct rp_sock *s, const struct rxe_hdrs *h,
			       const void *payload, uint32_t paylen)
{
	struct rxe_counters c;

	rp_counters(r, &c);
	if (rp_send(s, h, payload, paylen))
		return -1;
	return rp_wait_rx(r, c.rx_pkts + 1) ? 0 : -1;
}

static inline enum ibv_qp_state rp_qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_attr at;
	struct ibv_qp_init_attr ia;

	if (ibv_query_qp(qp, &at, IBV_QP_STATE, &ia))
		return IBV_QPS_UNKNOWN;
	return at.qp_state;
}

/* Headers of a request to the victim's QP at PSN @psn. */
static inline void rp_req_hdrs(struct rp *r, struct rxe_hdrs *h, uint8_t opcode, uint32_t psn)
{
	memset(h, 0, sizeof(*h));
	h->bth.opcode = opcode;
	h->bth.pkey = RXE_DEFAULT_PKEY;
	h->bth.qpn = r->qp->qp_num;
	h->bth.psn = psn;
	h->bth.ack_req = true;
}

/* An RDMA WRITE ONLY of @len bytes of @payload into the victim's buffer at @off. */
static inline void rp_write_hdrs(struct rp *r, struct rxe_hdrs *h, uint32_t off, uint32_t len)
{
	rp_req_hdrs(r, h, IB_OPCODE_RC_RDMA_WRITE_ONLY, r->next_psn);
	h->reth.va = (uintptr_t)r->buf + off;
	h->reth.rkey = r->mr->rkey;
	h->reth.len = len;
}

/* An ACK, NAK or RNR NAK with @syndrome for PSN @psn, to the victim's requester. */
static inline void rp_ack_hdrs(struct rp *r, struct rxe_hdrs *h, uint32_t psn, uint8_t syndrome)
{
	memset(h, 0, sizeof(*h));
	h->bth.opcode = IB_OPCODE_RC_ACKNOWLEDGE;
	h->bth.pkey = RXE_DEFAULT_PKEY;
	h->bth.qpn = r->qp->qp_num;
	h->bth.psn = psn;
	h->aeth.syndrome = syndrome;
}

static inline void rp_close(struct rp *r)
{
	if (!r->open)
		return;
	rp_sock_close(&r->peer);
	rp_sock_close(&r->stranger);
	if (r->qp)
		ibv_destroy_qp(r->qp);
	if (r->mr)
		ibv_dereg_mr(r->mr);
	if (r->cq)
		ibv_destroy_cq(r->cq);
	if (r->pd)
		ibv_dealloc_pd(r->pd);
	if (r->ctx)
		ibv_close_device(r->ctx);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/*
 * RESET -> INIT -> RTR -> RTS of @qp towards QP @dqpn of the scripted peer,
 * with ACK timeout code @timeout.
 */
static inline int rp_connect_qp(struct ibv_qp *qp, int access, uint8_t max_dest_rd_atomic,
				uint32_t dqpn, uint8_t timeout)
{
	struct ibv_qp_attr at;

	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	at.qp_access_flags = access;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = IBV_MTU_1024;
	at.dest_qp_num = dqpn;
	at.rq_psn = RP_VICTIM_PSN;
	at.max_dest_rd_atomic = max_dest_rd_atomic;
	at.min_rnr_timer = 1;
	at.ah_attr.is_global = 1;
	rp_gid_v4(&at.ah_attr.grh.dgid, RP_PEER_IP);
	at.ah_attr.grh.hop_limit = 1;
	at.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	at.timeout = timeout;
	at.retry_cnt = 7;
	at.rnr_retry = 7;
	at.sq_psn = RP_PEER_PSN;
	at.max_rd_atomic = 16;
	return ibv_modify_qp(qp, &at,
			     IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				     IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC)
		       ? -1
		       : 0;
}

/* RESET -> INIT -> RTR -> RTS towards the scripted peer. */
static inline int rp_connect(struct rp *r, int access, uint8_t max_dest_rd_atomic)
{
	/* 67 ms: the scripted peer answers when the test says so */
	return rp_connect_qp(r->qp, access, max_dest_rd_atomic, RP_PEER_QPN, 14);
}

/* An RC QP of the victim's with @depth send and receive WRs, or NULL. */
static inline struct ibv_qp *rp_create_qp(struct rp *r, uint32_t depth)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = r->cq;
	ia.recv_cq = r->cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = depth;
	ia.cap.max_recv_wr = depth;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	return ibv_create_qp(r->pd, &ia);
}

/*
 * The victim and its two sockets. @access is the victim's MR and QP access,
 * @max_dest_rd_atomic its responder resources. -1 when a device or an
 * address cannot be had (the caller skips).
 */
static inline int rp_open(struct rp *r, int access, uint8_t max_dest_rd_atomic)
{
	rp_close(r);
	r->open = true;
	r->peer.fd = r->stranger.fd = -1;
	r->ctx = rt_open("srxe0");
	if (!r->ctx)
		return -1;
	r->pd = ibv_alloc_pd(r->ctx);
	r->cq = ibv_create_cq(r->ctx, 256, NULL, NULL, 0);
	r->buf = aligned_alloc(4096, RT_BUF);
	if (!r->pd || !r->cq || !r->buf)
		return -1;
	memset(r->buf, 0, RT_BUF);
	r->mr = ibv_reg_mr(r->pd, r->buf, RT_BUF, access | IBV_ACCESS_LOCAL_WRITE);
	if (!r->mr)
		return -1;
	r->qp = rp_create_qp(r, 64);
	if (!r->qp)
		return -1;
	if (rp_sock_open(&r->peer, RP_PEER_IP) || rp_sock_open(&r->stranger, RP_STRANGER_IP))
		return -1;
	if (rp_connect(r, access, max_dest_rd_atomic))
		return -1;
	r->next_psn = RP_VICTIM_PSN;
	return 0;
}

#define RP_OPEN_OR_SKIP(r, access, rd)                                                    \
	do {                                                                              \
		if (rp_open(r, access, rd)) {                                             \
			rp_close(r);                                                      \
			SODP_SKIP("cannot bind UDP 4791 on 127.0.0.1-3 (needs a netns)"); \
		}                                                                         \
	} while (0)

#endif
