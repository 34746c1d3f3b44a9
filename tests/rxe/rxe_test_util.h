/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the provider tests: two softodp devices in one process
 * (srxe0 = 127.0.0.1, srxe1 = 127.0.0.2), connected RC/UD QP pairs, and
 * completion polling bounded in time.
 */
#ifndef RXE_TEST_UTIL_H
#define RXE_TEST_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <infiniband/verbs.h>

#define RT_BUF	   (1 << 20)
#define RT_WAIT_MS 5000

struct rt_side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf;
	union ibv_gid gid;
};

static inline uint64_t rt_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline struct ibv_context *rt_open(const char *name)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	int i, n;

	setenv("SOFTODP_DEVICES", "srxe0=127.0.0.1,srxe1=127.0.0.2", 0);
	list = ibv_get_device_list(&n);
	if (!list)
		return NULL;
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	return ctx;
}

/* Polls one completion within RT_WAIT_MS; returns 1, 0 on timeout, <0 on error. */
static inline int rt_poll(struct ibv_cq *cq, struct ibv_wc *wc)
{
	uint64_t end = rt_ms() + RT_WAIT_MS;
	int n;

	do {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n;
		{
			struct timespec ts = {0, 20000};

			nanosleep(&ts, NULL);
		}
	} while (rt_ms() < end);
	return 0;
}

static inline int rt_side_init(struct rt_side *s, const char *dev, enum ibv_qp_type type,
			       int access, int rq_depth)
{
	struct ibv_qp_init_attr ia;

	memset(s, 0, sizeof(*s));
	s->ctx = rt_open(dev);
	if (!s->ctx)
		return -1;
	s->pd = ibv_alloc_pd(s->ctx);
	s->cq = ibv_create_cq(s->ctx, 256, NULL, NULL, 0);
	s->buf = aligned_alloc(4096, RT_BUF);
	if (!s->pd || !s->cq || !s->buf)
		return -1;
	memset(s->buf, 0, RT_BUF);
	s->mr = ibv_reg_mr(s->pd, s->buf, RT_BUF, access);
	if (!s->mr)
		return -1;
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = s->cq;
	ia.recv_cq = s->cq;
	ia.qp_type = type;
	ia.cap.max_send_wr = 64;
	ia.cap.max_recv_wr = rq_depth;
	ia.cap.max_send_sge = 4;
	ia.cap.max_recv_sge = 4;
	s->qp = ibv_create_qp(s->pd, &ia);
	if (!s->qp)
		return -1;
	return ibv_query_gid(s->ctx, 1, 0, &s->gid);
}

static inline void rt_side_fini(struct rt_side *s)
{
	if (s->qp)
		ibv_destroy_qp(s->qp);
	if (s->mr)
		ibv_dereg_mr(s->mr);
	if (s->cq)
		ibv_destroy_cq(s->cq);
	if (s->pd)
		ibv_dealloc_pd(s->pd);
	if (s->ctx)
		ibv_close_device(s->ctx);
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

struct rt_conn_opts {
	uint32_t sq_psn, rq_psn; /* of the local side; the peer mirrors */
	uint8_t timeout, retry_cnt, rnr_retry, min_rnr_timer;
	enum ibv_mtu mtu;
	int access;
};

/* Moves one RC QP from RESET through INIT and RTR to RTS, towards a peer QP. */
static inline int rt_rc_connect_qp(struct ibv_qp *qp, uint32_t dest_qpn, const union ibv_gid *dgid,
				   uint32_t sq_psn, uint32_t rq_psn, const struct rt_conn_opts *o)
{
	struct ibv_qp_attr at;

	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	at.qp_access_flags = o->access;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = o->mtu;
	at.dest_qp_num = dest_qpn;
	at.rq_psn = rq_psn;
	at.max_dest_rd_atomic = 16;
	at.min_rnr_timer = o->min_rnr_timer;
	at.ah_attr.is_global = 1;
	at.ah_attr.grh.dgid = *dgid;
	at.ah_attr.grh.hop_limit = 1;
	at.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	at.timeout = o->timeout;
	at.retry_cnt = o->retry_cnt;
	at.rnr_retry = o->rnr_retry;
	at.sq_psn = sq_psn;
	at.max_rd_atomic = 16;
	return ibv_modify_qp(qp, &at,
			     IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				     IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC)
		       ? -1
		       : 0;
}

/* Brings a UD QP to RTS with the Q_Key the UD tests use. */
static inline int rt_ud_ready(struct ibv_qp *qp, uint32_t sq_psn)
{
	struct ibv_qp_attr at;

	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	at.qkey = 0x11111111;
	if (ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY))
		return -1;
	at.qp_state = IBV_QPS_RTR;
	if (ibv_modify_qp(qp, &at, IBV_QP_STATE))
		return -1;
	at.qp_state = IBV_QPS_RTS;
	at.sq_psn = sq_psn;
	return ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_SQ_PSN) ? -1 : 0;
}

/* An address handle on @s's PD towards the RoCEv2 GID @dgid, port 1. */
static inline struct ibv_ah *rt_ah(struct rt_side *s, const union ibv_gid *dgid)
{
	struct ibv_ah_attr aa;

	memset(&aa, 0, sizeof(aa));
	aa.is_global = 1;
	aa.grh.dgid = *dgid;
	aa.grh.hop_limit = 1;
	aa.port_num = 1;
	return ibv_create_ah(s->pd, &aa);
}

/* An RC QP on @s's PD and CQ that receives through @srq. */
static inline struct ibv_qp *rt_srq_qp(struct rt_side *s, struct ibv_srq *srq)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = s->cq;
	ia.recv_cq = s->cq;
	ia.srq = srq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 4;
	ia.cap.max_send_sge = 1;
	return ibv_create_qp(s->pd, &ia);
}

/* Resets both QPs and connects them to each other. */
static inline int rt_rc_connect(struct rt_side *a, struct rt_side *b, const struct rt_conn_opts *o,
				uint32_t a_psn, uint32_t b_psn)
{
	struct rt_side *s[2] = {a, b};
	uint32_t psn[2] = {a_psn, b_psn};
	int i;

	for (i = 0; i < 2; i++) {
		struct rt_side *me = s[i], *peer = s[1 - i];
		struct ibv_qp_attr at;

		memset(&at, 0, sizeof(at));
		at.qp_state = IBV_QPS_RESET;
		if (ibv_modify_qp(me->qp, &at, IBV_QP_STATE))
			return -1;
		if (rt_rc_connect_qp(me->qp, peer->qp->qp_num, &peer->gid, psn[i], psn[1 - i], o))
			return -1;
	}
	return 0;
}

/*
 * The ACK timeout of the tests' QPs, 4.096 us * 2^RT_ACK_TIMEOUT: 4 ms, so
 * that loss tests retransmit quickly; 67 ms (what the pingpongs and
 * perftest use) where a sanitizer slows the engine several times over, so
 * that seven retries outlast a busy machine.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RT_ACK_TIMEOUT 14
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RT_ACK_TIMEOUT 14
#endif
#endif
#ifndef RT_ACK_TIMEOUT
#define RT_ACK_TIMEOUT 10
#endif

static inline const struct rt_conn_opts *rt_default_opts(void)
{
	static const struct rt_conn_opts o = {
		.timeout = RT_ACK_TIMEOUT,
		.retry_cnt = 7,
		.rnr_retry = 7,
		.min_rnr_timer = 1,
		.mtu = IBV_MTU_1024,
		.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			  IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC,
	};

	return &o;
}

static inline int rt_post_recv(struct rt_side *s, uint64_t wr_id, uint32_t off, uint32_t len)
{
	struct ibv_sge sge = {(uintptr_t)s->buf + off, len, s->mr->lkey};
	struct ibv_recv_wr wr = {.wr_id = wr_id, .sg_list = &sge, .num_sge = 1}, *bad;

	return ibv_post_recv(s->qp, &wr, &bad);
}

/* A signalled send work request of one SGE in @s's buffer. */
struct rt_wr {
	enum ibv_wr_opcode op;
	uint64_t wr_id;
	uint32_t off, len; /* the SGE, in @s's buffer */
	uint64_t raddr;	   /* RDMA and atomics */
	uint32_t rkey;
	uint64_t compare_add; /* atomics */
	uint64_t swap;
	uint32_t imm; /* *_WITH_IMM, host order */
};

static inline int rt_post_wr(struct rt_side *s, const struct rt_wr *w)
{
	struct ibv_sge sge = {(uintptr_t)s->buf + w->off, w->len, s->mr->lkey};
	struct ibv_send_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = w->wr_id;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = w->op;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.imm_data = htobe32(w->imm);
	if (w->op == IBV_WR_ATOMIC_CMP_AND_SWP || w->op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = w->raddr;
		wr.wr.atomic.rkey = w->rkey;
		wr.wr.atomic.compare_add = w->compare_add;
		wr.wr.atomic.swap = w->swap;
	} else {
		wr.wr.rdma.remote_addr = w->raddr;
		wr.wr.rdma.rkey = w->rkey;
	}
	return ibv_post_send(s->qp, &wr, &bad);
}

/* The common case: its opcode as its wr_id, immediate data 0x1234abcd. */
static inline int rt_post(struct rt_side *s, enum ibv_wr_opcode op, uint32_t off, uint32_t len,
			  uint64_t raddr, uint32_t rkey)
{
	return rt_post_wr(s, &(struct rt_wr){.op = op,
					     .wr_id = op,
					     .off = off,
					     .len = len,
					     .raddr = raddr,
					     .rkey = rkey,
					     .imm = 0x1234abcd});
}

static inline void rt_fill(uint8_t *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

#endif
