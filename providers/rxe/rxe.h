/* SPDX-License-Identifier: MIT */
/*
 * Internal state of the soft RoCE NIC.
 *
 * One struct rxe_dev exists per configured device address in the process. It
 * owns the UDP sockets of the address (<addr>:4791 in the process that owns
 * the address, a link to that process in the others: share.c), the QPN
 * and key tables and the progress thread, and is shared by every context
 * opened on that device.
 *
 * Locking:
 *  - rxe_devs_lock (engine.c) protects the device list, each device's
 *    refcount and the start of its engine thread. It is taken before any
 *    dev->lock, never under one.
 *  - dev->lock protects all protocol state (requester, responder, completer of
 *    every QP), the QPN and key tables and the object lists (qps, cqs, srqs).
 *    The progress thread holds it while it processes a batch; control verbs
 *    (create, modify, query, destroy, reg/dereg) take it too, so an object is
 *    never freed under the engine. Between rounds the engine re-takes it at
 *    once, so a thread that must not wait behind a busy engine (control
 *    verbs, fork's prepare handler, device stop) takes it with
 *    rxe_dev_lock(), which makes the engine step aside until the waiter
 *    holds it: a pthread mutex is not fair.
 *  - The data-path verbs do not take dev->lock. Work queues are rings with one
 *    producer and one consumer: post_send/post_recv/post_srq_recv serialise
 *    producers with the queue's own lock and publish `prod` with a release
 *    store; the engine consumes and publishes `cons` the same way.
 *  - cq->lock protects the completion ring; the engine is the producer,
 *    poll_cq the consumer.
 *  - Application memory is reached only through an MR's umem, under the
 *    umem's lock (lib/odp/odp.h), taken inside dev->lock and never the other
 *    way: invalidations take the umem lock alone. Faults run on lib/odp's
 *    worker, whose completion callbacks (odp.c) take no lock at all; but the
 *    engine snapshots, and faults in line where the wire cannot wait, under
 *    dev->lock, so lib/hmm's locks nest inside dev->lock. Fork's prepare
 *    handlers must therefore take dev->lock before lib/hmm's locks (fork.c).
 *  Lock order: rxe_devs_lock, then dev->lock (devices in list order), then
 *  qp/srq queue locks, then cq->lock; dev->lock, then umem locks, then
 *  lib/hmm's locks.
 *
 * Fork: a child keeps none of the parent's devices (fork.c has the rule).
 */
#ifndef SODP_RXE_H
#define SODP_RXE_H

#include <pthread.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "driver.h"
#include "clock.h"
#include "compiler.h"
#include "list.h"
#include "rxe_param.h"
#include "opcode.h"
#include "hdr.h"
#include "icrc.h"
#include "odp.h"

#define RXE_QP_TBL RXE_MAX_QP

/* The least power of two not below @v (1 for 0): ring sizes. */
static inline uint32_t rxe_pow2_up(uint32_t v)
{
	uint32_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

/*
 * The SL of a UD receive completion. RoCE carries no SL; Annex A17.4.5.1 has
 * the completion tell instead whether the datagram came over IPv4 or IPv6,
 * since the 40 bytes before the payload hold an IPv6 header or, in their last
 * 20 bytes, an IPv4 one. Verbs has no field for it; ConnectX providers report
 * it in the SL, bit 3 set for a RoCEv2 (UDP) frame and bits 2:0 the L3 header
 * type, and consumers such as UCX read it there to find the destination
 * address in those 40 bytes. softodp reports it the same way.
 */
#define RXE_WC_SL_ROCE_UDP  0x8 /* bit 3: the frame has a UDP header */
#define RXE_WC_SL_L3_IPV6   0x1 /* bits 2:0, the L3 header type */
#define RXE_WC_SL_L3_IPV4   0x2
#define RXE_WC_SL_ROCE_IPV6 (RXE_WC_SL_ROCE_UDP | RXE_WC_SL_L3_IPV6)
#define RXE_WC_SL_ROCE_IPV4 (RXE_WC_SL_ROCE_UDP | RXE_WC_SL_L3_IPV4)

struct rxe_dev;
struct rxe_rxring;
struct rxe_share;
struct rxe_cq;
struct rxe_qp;

/* ---- addresses ---- */
struct rxe_av {
	struct sockaddr_storage dst; /* peer address, port 4791 */
	socklen_t dst_len;
	union ibv_gid dgid;
	uint8_t hop_limit, traffic_class;
	uint32_t flow_label;
};

struct rxe_ah {
	struct ibv_ah ibah;
	struct rxe_av av;
};

static inline struct rxe_ah *to_rah(struct ibv_ah *ah)
{
	return container_of(ah, struct rxe_ah, ibah);
}

/* ---- memory regions ---- */
struct sodp_umem;

struct rxe_mr {
	struct ibv_mr ibmr;
	struct rxe_dev *dev;
	uint64_t iova;
	uintptr_t va;
	size_t length;
	unsigned int access;
	struct sodp_umem *umem; /* the translation (lib/odp) */
	unsigned int num_mw;	/* memory windows bound to it, under dev->lock */
};

/* An access that found a page missing: what to fault. */
struct rxe_miss {
	struct sodp_umem *umem;
	uintptr_t va;
	size_t len; /* bytes from va the access still needs */
	bool write;
};

static inline struct rxe_mr *to_rmr(struct ibv_mr *mr)
{
	return container_of(mr, struct rxe_mr, ibmr);
}

/* Whether @a and @b are one PD: an imported PD is another struct (driver.h). */
static inline bool rxe_pd_same(const struct ibv_pd *a, const struct ibv_pd *b)
{
	return a == b || (a && b && a->handle == b->handle);
}

/*
 * The bits of an lkey/rkey that hold its index in dev->mr_tbl, or in
 * dev->mw_tbl for a window (mr.c); a window's low byte is the consumer's.
 */
#define RXE_KEY_BYTE_BITS 8
#define RXE_KEY_IDX_BITS  19
#define RXE_KEY_IDX_MASK  ((1u << RXE_KEY_IDX_BITS) - 1)

static inline uint32_t rxe_key_idx(uint32_t key)
{
	return (key >> RXE_KEY_BYTE_BITS) & RXE_KEY_IDX_MASK;
}

/* ---- memory windows (mw.c) ---- */
enum rxe_mw_state {
	RXE_MW_FREE,  /* type 2: allocated or invalidated, grants nothing */
	RXE_MW_VALID, /* type 1 from allocation on; type 2 once bound */
};

/*
 * A memory window shares the key table with MRs (dev->mr_tbl / mw_tbl by the
 * same index). The engine's copy of its rkey is @key: ibmw.rkey belongs to
 * the application, which tracks a type 2 window's key itself.
 */
struct rxe_mw {
	struct ibv_mw ibmw;
	struct rxe_dev *dev;
	enum rxe_mw_state state;
	uint32_t key;
	unsigned int access; /* IBV_ACCESS_REMOTE_* and ZERO_BASED */
	uint64_t addr;	     /* MR iova of the first byte */
	uint64_t length;     /* 0: bound to nothing */
	struct rxe_mr *mr;   /* with length > 0; pinned by mr->num_mw */
	struct rxe_qp *qp;   /* type 2: the QP that bound it, pinned by qp->num_mw */
};

static inline struct rxe_mw *to_rmw(struct ibv_mw *mw)
{
	return container_of(mw, struct rxe_mw, ibmw);
}

/* ---- completion queues ---- */
struct rxe_cqe {
	uint64_t wr_id;
	enum ibv_wc_status status;
	enum ibv_wc_opcode opcode;
	uint32_t vendor_err;
	uint32_t byte_len;
	__be32 imm_data; /* or invalidated rkey */
	uint32_t qp_num;
	uint32_t src_qp;
	unsigned int wc_flags;
	uint8_t sl;   /* UD over RoCE: the packet's network type (RXE_WC_SL_ROCE_*) */
	bool sq_idle; /* a send completion that left its send queue empty */
};

struct rxe_cq {
	struct ibv_cq_ex ibcq;
	struct rxe_dev *dev;
	struct list_head node; /* dev->cqs */
	pthread_mutex_t lock;  /* consumers, and rewrites of the ring (cq.c) */
	struct rxe_cqe *ring;
	uint32_t size;	      /* power of two */
	uint32_t max;	      /* what the user asked for (reported cqe) */
	uint32_t prod;	      /* the producer's, under dev->lock (release) */
	uint32_t cons;	      /* the consumer's (release) */
	int armed;	      /* atomic: 0, IBV_REQ_NOTIFY_NEXT(1), SOLICITED(2) */
	bool overflow;	      /* under dev->lock */
	bool single_threaded; /* IBV_CREATE_CQ_ATTR_SINGLE_THREADED: consumers need no lock */
	uint64_t wc_flags;
	struct rxe_cqe *cur; /* between start_poll and end_poll */
	struct sodp_context *ctx;
	int users; /* QPs using it, under dev->lock */
};

static inline struct rxe_cq *to_rcq(struct ibv_cq *cq)
{
	return container_of((struct ibv_cq_ex *)cq, struct rxe_cq, ibcq);
}

/* ---- work requests ---- */
struct rxe_recv_wqe {
	uint64_t wr_id;
	uint32_t num_sge;
	uint32_t length;
	struct ibv_sge sge[RXE_MAX_SGE];
};

enum rxe_wqe_state {
	WQE_POSTED,  /* not yet started by the requester */
	WQE_STARTED, /* PSNs assigned, some or all packets sent */
	WQE_SENT,    /* all packets sent, waiting for the peer */
	WQE_DONE,    /* completed (successfully or not) */
};

struct rxe_send_wqe {
	uint64_t wr_id;
	enum ibv_wr_opcode opcode;
	unsigned int send_flags;
	__be32 imm_data;
	uint32_t invalidate_rkey; /* SEND_WITH_INV, LOCAL_INV */
	/* BIND_MW: the window's rkey when posted, its new rkey (in rkey), the
	 * MR (lkey), range (remote_addr, bind_len) and rights */
	uint32_t mw_rkey;
	uint32_t mr_lkey;
	uint64_t bind_len;
	unsigned int bind_access;
	uint64_t remote_addr;
	uint32_t rkey;
	uint64_t compare_add;
	uint64_t swap;
	/* UD */
	struct rxe_av av;
	uint32_t remote_qpn;
	uint32_t remote_qkey;
	uint32_t num_sge;
	uint32_t length;
	bool inline_data;
	enum ibv_wc_status err; /* local error found while sending */
	/* requester state */
	enum rxe_wqe_state state;
	uint32_t first_psn, last_psn, npkts;
	struct ibv_sge sge[RXE_MAX_SGE];
	uint8_t inline_buf[RXE_MAX_INLINE_DATA];
};

struct rxe_wq {
	pthread_mutex_t lock; /* serialises producers */
	uint32_t size;	      /* ring slots, power of two */
	uint32_t max_wr;      /* user visible depth */
	uint32_t max_sge;
	uint32_t prod; /* written by producers (release) */
	uint32_t cons; /* written by the engine (release) */
	size_t stride;
	void *ring;
};

static inline void *rxe_wq_slot(struct rxe_wq *wq, uint32_t idx)
{
	return (char *)wq->ring + (size_t)(idx & (wq->size - 1)) * wq->stride;
}

/* ---- shared receive queues ---- */
struct rxe_srq {
	struct ibv_srq ibsrq;
	struct rxe_dev *dev;
	struct list_head node; /* dev->srqs */
	struct rxe_wq rq;
	uint32_t limit; /* armed limit, 0 = disarmed */
	int users;
	struct sodp_context *ctx;
};

static inline struct rxe_srq *to_rsrq(struct ibv_srq *srq)
{
	return container_of(srq, struct rxe_srq, ibsrq);
}

/* ---- queue pairs ---- */
enum rxe_resp_kind {
	RESP_ACK,
	RESP_NAK,
	RESP_READ,
	RESP_ATOMIC,
	RESP_ATOMIC_WRITE, /* an RDMA READ response of no data, as kernel rxe */
};

/* One queued response of the responder, sent in order. */
struct rxe_resp_entry {
	enum rxe_resp_kind kind;
	uint32_t psn; /* PSN of the (next) response packet */
	uint32_t msn;
	uint8_t syndrome;
	/* READ */
	uint32_t rkey;	/* of the MR or window it reads */
	uint32_t lkey;	/* of the MR underneath */
	uintptr_t va;	/* where the next response reads */
	uint32_t resid; /* bytes still to send */
	bool first_sent;
	/* ATOMIC */
	uint64_t orig;
	bool counted; /* the answer of a new READ/atomic: counted in resp.rd_queued */
};

/* Saved results of READ / atomic requests, for duplicate replays. */
struct rxe_rd_res {
	bool valid;
	bool atomic;
	bool atomic_write; /* with atomic: an ATOMIC WRITE, nothing to replay but the ACK */
	uint32_t first_psn, last_psn;
	uint64_t orig;
	uint32_t msn;
	/* READ: the request as first received, to check a duplicate */
	uint64_t va;
	uint32_t len, rkey;
};

struct rxe_req_state {
	uint32_t wqe_idx;  /* next WQE to send from */
	uint32_t psn;	   /* next PSN to send */
	uint32_t last_psn; /* the last PSN given to a WQE: no response answers a later one */
	uint32_t offset;   /* byte offset inside the current WQE */
	uint32_t noack_pkts;
	uint64_t rnr_until; /* ns; requester paused until then */
	bool rnr_wait;
};

struct rxe_comp_state {
	uint32_t psn; /* oldest unacknowledged PSN */
	uint32_t retry_left;
	uint32_t rnr_left;
	uint64_t deadline; /* retransmission timer, 0 = off */
	bool read_gap;	   /* retry requested for a response gap */
	bool nak_seen;	   /* rewound for a PSN sequence NAK of nak_psn */
	uint32_t nak_psn;
};

struct rxe_resp_state {
	uint32_t psn; /* expected PSN */
	uint32_t msn;
	unsigned int fault_rnrs; /* RNR NAKs sent since a request last went through */
	bool nak_seq_sent;
	uint8_t last_opcode; /* RXE_OPCODE_NONE: between messages */
	/* SEND in progress */
	bool have_wqe;
	bool from_srq;
	struct rxe_recv_wqe wqe;
	uint32_t offset;
	/* RDMA WRITE in progress */
	uint32_t write_rkey;
	uint32_t write_lkey;  /* the MR under write_rkey */
	uintptr_t write_next; /* where a WRITE continuing a stream starts */
	uintptr_t write_va;
	uint32_t write_resid;
	uint32_t write_len;
	/*
	 * Response queue: a ring of q_len (a power of two) entries, sized
	 * with the responder resources (qp.c, rxe_resp_resources()).
	 */
	struct rxe_resp_entry *q;
	uint32_t q_len;
	uint32_t q_head, q_tail;
	uint32_t rd_max;    /* READ/atomic requests that may be unanswered at once */
	uint32_t rd_queued; /* answers of new READ/atomic requests in the queue */
	struct rxe_rd_res *res;
	uint32_t res_next;
	uint32_t nres;
	uint64_t ack_held_ns; /* since when the queue's lone ACK waits for a post, 0: none */
	uint64_t ack_sent_ns; /* when a lone ACK last left without waiting, 0: answered since */
	bool pingpong;	      /* requests are answered by requests: ACKs wait for them */
	bool ack_polled;      /* the waiting ACK's request came to a polling caller */
	bool ack_release;     /* the answer left: the ACK goes next, without waiting */
	bool ack_timer;	      /* the waiting ACK counts on the timer (rxe_next_deadline()) */
};

/*
 * A fault the requester or the responder waits for (odp.c): while pending
 * that side of the QP is parked; the result is kept for its next miss.
 */
struct rxe_qp_fault {
	struct sodp_fault f;
	struct rxe_dev *dev;
	int pending;   /* atomic */
	int err;       /* atomic: result of the last fault, taken by the next miss */
	bool keep_err; /* record failures (not for prefetches ahead) */
};

struct rxe_qp {
	struct ibv_qp_ex ibqp; /* ibqp.qp_base is the struct ibv_qp */
	struct rxe_dev *dev;
	struct sodp_context *ctx;
	struct list_head node; /* dev->qps */
	enum ibv_qp_state state;
	bool sq_draining; /* SQD requested */
	bool send_ops;	  /* created with IBV_QP_INIT_ATTR_SEND_OPS_FLAGS */
	uint64_t send_ops_flags;
	struct rxe_cq *scq, *rcq;
	struct rxe_srq *srq;
	struct rxe_wq sq, rq;
	uint32_t max_inline;
	bool sq_sig_all;
	/* attributes */
	struct ibv_qp_attr attr;
	struct rxe_av av;
	uint32_t mtu;	/* path MTU in bytes */
	uint16_t sport; /* for RC/UC: the kernel's flow-label port */
	bool last_wqe_sent;
	bool fatal;
	unsigned int num_mw; /* type 2 windows bound through it, under dev->lock */
	/* ibv_wr_* state */
	uint32_t wr_pending; /* WQEs built since wr_start */
	int wr_err;
	struct rxe_send_wqe *wr_cur;
	struct rxe_qp_fault req_fault, resp_fault, ahead_fault;
	/* protocol state, under dev->lock */
	struct rxe_req_state req;
	struct rxe_comp_state comp;
	struct rxe_resp_state resp;
};

static inline struct rxe_qp *to_rqp(struct ibv_qp *qp)
{
	return container_of(qp, struct rxe_qp, ibqp.qp_base);
}

/* The transport bits of @qp's opcodes (IB_OPCODE_RC, _UC or _UD). */
static inline uint8_t rxe_qp_transport(const struct rxe_qp *qp)
{
	switch (qp->ibqp.qp_base.qp_type) {
	case IBV_QPT_UC:
		return IB_OPCODE_UC;
	case IBV_QPT_UD:
		return IB_OPCODE_UD;
	default:
		return IB_OPCODE_RC;
	}
}

/*
 * QPN blocks: the processes that share a device address each allocate
 * QPNs in a block of their own, [b << RXE_QPN_BLOCK_SHIFT, (b + 1) <<
 * RXE_QPN_BLOCK_SHIFT), the low bits from RXE_QPN_FIRST up (share.c).
 */
#define RXE_QPN_BLOCK_SHIFT 16
#define RXE_QPN_LOW_MASK    ((1u << RXE_QPN_BLOCK_SHIFT) - 1)

/* The slot of dev->qp_tbl a QPN (low bits at least RXE_QPN_FIRST) lives in. */
static inline uint32_t rxe_qpn_slot(uint32_t qpn)
{
	return ((qpn & RXE_QPN_LOW_MASK) - RXE_QPN_FIRST) % RXE_QP_TBL;
}

/* ---- packets ---- */
/* A received packet: the parsed headers and where it travelled. */
struct rxe_pkt {
	struct rxe_pkt_info pi;
	struct sockaddr_storage src;
	struct sockaddr_storage dst;
};

/* ---- the device ---- */
/*
 * Why the receive path dropped a packet before it reached a QP's state
 * machine. Each reason has a counter (dev->rx_drops), so that an attack or a
 * misconfigured peer can be told from loss.
 */
enum rxe_drop {
	RXE_DROP_MALFORMED, /* the headers do not parse (rxe_pkt_parse()) */
	RXE_DROP_ADDR,	    /* a source or destination address of no known family */
	RXE_DROP_ICRC,	    /* ICRC mismatch */
	RXE_DROP_NO_QP,	    /* no QP has the destination QPN */
	RXE_DROP_TRANSPORT, /* an opcode of another transport than the QP's */
	RXE_DROP_QP_STATE,  /* the QP takes no such packet in its state */
	RXE_DROP_SRC_ADDR,  /* RC/UC: not from the address the QP is connected to */
	RXE_DROP_DST_ADDR,  /* RC/UC: not addressed to the device's own address */
	RXE_DROP_PKEY,	    /* P_Key not of the QP's partition (the port's bad_pkey_cntr) */
	RXE_DROP_QKEY,	    /* UD: not the QP's Q_Key (the port's qkey_viol_cntr) */
	RXE_DROP_RESPONSE,  /* RC: a response to nothing outstanding, or outside its PSNs */
	RXE_DROP_NR,
};

/* The device's packet counters, as rxe_dev_counters() reads them. */
struct rxe_counters {
	uint64_t rx_pkts, tx_pkts;
	uint64_t rx_icrc_unverified;   /* accepted by policy without a check (icrc.h) */
	uint64_t rx_icrc_id_recovered; /* IPv4 ICRCs verified with the sender's ID found */
	uint64_t impair_drop;	       /* dropped on transmit by SOFTODP_IMPAIR */
	uint64_t tx_deferred;	       /* refused by a full socket, kept queued (net.c) */
	uint64_t rx_drops[RXE_DROP_NR];
	uint64_t resp_drops; /* requests the responder dropped without an answer (resp.c) */
};

struct rxe_txbuf {
	struct sockaddr_storage dst;
	socklen_t dst_len;
	int fd;		/* the socket of the source port */
	uint16_t sport; /* UDP source port the ICRC was computed with */
	bool deferred;	/* a socket refused it once: counted in tx_deferred */
	uint32_t len;
	uint32_t hdr_len, paylen;
	uint8_t data[RXE_PKT_BUF];
};

struct rxe_dev {
	struct list_head node; /* global device list */
	int refcnt;
	char name[IBV_SYSFS_NAME_MAX];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int family;
	uint32_t if_mtu;
	enum ibv_mtu active_mtu;

	int sock;	    /* transmit fallback; the owner's receives on 4791 (share.c) */
	uint16_t sock_port; /* its UDP port */
	int rx_fd;	    /* what the engine receives from: sock, or a client's owner link */
	struct rxe_share *share;
	uint32_t qpn_base; /* the first QPN of this process's block (share.c) */
	int efd;	   /* doorbell */
	pthread_t thread;
	bool thread_started;
	bool stop;
	int sleeping;		  /* engine waits in poll() */
	uint64_t doorbell_writes; /* atomic: times the doorbell woke the engine */
	int tfd;		  /* the engine's timer (rxe_timer_arm()) */
	uint64_t timer_at;	  /* what tfd is armed for, UINT64_MAX: not armed; under lock */
	uint64_t caller_ns; /* atomic: when a caller last drove the engine, 0 after it went idle */
	int engine_blind;   /* atomic: the engine sleeps without watching the socket */
	int engine_timed;   /* atomic: the engine runs a round within RXE_CALLER_GRACE_MAX_NS */
	bool caller_round;  /* the round runs for a polling caller; under lock */
	int acks_held;	    /* atomic: QPs whose ACK waits for a post (resp.c) */
	uint64_t ack_hold_ns; /* how long an ACK waits at most: RXE_ACK_HOLD_NS, tests change it */
	bool orphan;	      /* inherited through fork: no engine, no sockets (fork.c) */

	pthread_mutex_t lock;
	int lock_waiters;		   /* threads in rxe_dev_lock(); the engine steps aside */
	struct rxe_qp *qp_tbl[RXE_QP_TBL]; /* by rxe_qpn_slot() */
	uint32_t qp_last[RXE_QP_TBL];	   /* the last QPN each slot gave out (qp.c) */
	struct list_head qps;
	struct list_head cqs;
	struct list_head srqs;
	/* objects that exist, each up to its RXE_MAX_* (pd.c) */
	uint32_t nr_pd, nr_cq, nr_srq, nr_ah, nr_mw;
	struct rxe_mr **mr_tbl;
	uint32_t *mr_keys;	/* the last key each slot gave out, 0 for none (mr.c) */
	struct rxe_mw **mw_tbl; /* same indices and keys as mr_tbl: a slot holds one or the other */
	uint32_t nr_mr;
	uint32_t next_mr;

	/* RC request packets the device may have unacknowledged: at most
	 * tx_window_max (net.c); what is left of it this round (req.c) */
	int tx_window_max;
	int tx_window;

	/* transmit queue (net.c), under dev->lock */
	struct rxe_txbuf *tx;
	unsigned int ntx;
	uint8_t *rxbuf;		/* RXE_BATCH receive buffers */
	struct rxe_rxring *rxr; /* their message headers (net.c) */
	struct rxe_txbuf *held; /* impairment: a reordered packet */
	struct sodp_impair impair;
	bool report_stats; /* SOFTODP_STATS=1 */

	/* counters, under dev->lock */
	uint64_t rx_pkts, tx_pkts, rx_icrc_unverified, impair_drop;
	uint64_t rx_icrc_id_recovered; /* IPv4 ICRCs verified with the sender's ID found */
	uint64_t tx_deferred;	       /* packets a full socket refused, sent later */
	uint64_t rx_drops[RXE_DROP_NR];
	uint64_t resp_drops; /* the responder's RS_DROP (resp.c) */
	enum rxe_icrc_policy icrc_policy;
	struct sodp_mr_stats mr_retired; /* counters of deregistered MRs, under lock */
	struct sockaddr_storage src4791; /* addr with port 4791 */
	int *sport_fd;			 /* send-only sockets by sport & 0x3fff (net.c) */
	unsigned int nr_sport_fd;
	uint32_t req_gen; /* bumped by doorbells */
};

/* Provider-private part of a context. */
struct rxe_ctx {
	struct rxe_dev *dev;
};

static inline struct rxe_dev *ctx_dev(struct sodp_context *ctx)
{
	return ((struct rxe_ctx *)ctx->priv)->dev;
}

static inline struct sodp_context *ibctx_to_sctx(struct ibv_context *c)
{
	return sodp_ctx(c);
}

/* ---- engine.c ---- */
extern pthread_mutex_t rxe_devs_lock;
extern struct list_head rxe_devs;
void rxe_dev_lock(struct rxe_dev *dev);
int rxe_dev_get(struct sodp_context *ctx, struct rxe_dev **out);
void rxe_dev_put(struct rxe_dev *dev);
void rxe_doorbell(struct rxe_dev *dev);
bool rxe_progress(struct rxe_dev *dev, bool waiting);
void rxe_kick(struct rxe_qp *qp, uint32_t prod);
void rxe_progress_idle(struct rxe_dev *dev);
void rxe_progress_sq_idle(struct rxe_dev *dev);
void rxe_timer_arm(struct rxe_dev *dev, uint64_t at);
void rxe_timer_disarm(struct rxe_dev *dev);
uint32_t rxe_random_u32(void);
int rxe_ctx_open(struct sodp_context *ctx);
void rxe_ctx_close(struct sodp_context *ctx);
bool rxe_impair_tx(struct rxe_dev *dev, bool *dup);
bool rxe_impair_reorder(struct rxe_dev *dev);
int rxe_dev_set_impair(struct rxe_dev *dev, const char *spec);

/* ---- stat.c ---- */
unsigned int rxe_stat_snapshot(struct sodp_stat_dev *out, unsigned int max);

/* ---- fork.c ---- */
void rxe_fork_install(void);

/* ---- net.c ---- */
int rxe_net_open(struct rxe_dev *dev);
int rxe_dev_start(struct rxe_dev *dev);
void rxe_net_close(struct rxe_dev *dev);
void rxe_tx_flush(struct rxe_dev *dev);
bool rxe_tx_room(struct rxe_dev *dev);
int rxe_tx_wait_fd(struct rxe_dev *dev);
struct rxe_txbuf *rxe_tx_build(struct rxe_qp *qp, const struct rxe_hdrs *h, uint32_t paylen);
unsigned int rxe_tx_room_ahead(struct rxe_dev *dev);
struct rxe_txbuf *rxe_tx_build_nth(struct rxe_qp *qp, const struct rxe_hdrs *h, uint32_t paylen,
				   unsigned int n);
void rxe_tx_send(struct rxe_qp *qp, struct rxe_txbuf *tb, const struct rxe_av *av);
int rxe_rx_batch(struct rxe_dev *dev);
void rxe_rx_one(struct rxe_dev *dev, uint8_t *buf, uint32_t len, struct rxe_pkt *pkt);
int rxe_net_roce_sock(struct rxe_dev *dev);
int rxe_net_send_sock(struct rxe_dev *dev, uint16_t port);
uint16_t rxe_net_sock_port(int fd);
void rxe_rx_inject(struct rxe_dev *dev, const void *buf, uint32_t len, const struct sockaddr *src,
		   socklen_t src_len);
int rxe_av_from_gid(struct rxe_av *av, const union ibv_gid *gid, int family);
uint16_t rxe_rc_sport(uint32_t lqpn, uint32_t rqpn);
void rxe_dev_counters(struct rxe_dev *dev, struct rxe_counters *c);
void rxe_dev_report_counters(struct rxe_dev *dev);

/* ---- share.c: one device address, many processes ---- */
#define RXE_SHARE_BLOCKS      (1u << (24 - RXE_QPN_BLOCK_SHIFT))
#define RXE_SHARE_NO_BLOCK    UINT32_MAX
#define RXE_SHARE_NAME_PREFIX "softodp-rxe/" /* abstract unix name: prefix, then the address */
int rxe_share_open(struct rxe_dev *dev);
void rxe_share_close(struct rxe_dev *dev);
bool rxe_share_steer(struct rxe_dev *dev, uint8_t *buf, uint32_t len, const struct rxe_pkt *pkt);
void rxe_share_fwd_flush(struct rxe_dev *dev);
int rxe_share_rx_batch(struct rxe_dev *dev);
uint64_t rxe_share_tick(struct rxe_dev *dev);
int rxe_share_ctl_fd(struct rxe_dev *dev);
void rxe_share_ctl_ready(struct rxe_dev *dev);
bool rxe_share_is_owner(struct rxe_dev *dev);
uint32_t rxe_share_pick_block(const int *holder, const uint64_t *freed_ns, uint64_t now);

/* ---- mr.c ---- */
int rxe_mr_table_init(struct rxe_dev *dev);
void rxe_mr_table_fini(struct rxe_dev *dev);
struct rxe_mr *rxe_mr_lookup(struct rxe_dev *dev, uint32_t key);
int rxe_key_alloc(struct rxe_dev *dev, uint32_t *key);
int rxe_mr_check(struct rxe_mr *mr, struct ibv_pd *pd, uint64_t iova, uint64_t len,
		 unsigned int access, uintptr_t *va);
/*
 * Accesses to registered memory: misses are resolved through @qf (one side
 * of a QP: off the engine's path, odp.c) or, with @qf NULL, in line. They
 * return 0; -EAGAIN when the access must wait for @qf's fault (*miss says
 * what missed); -EFAULT when the memory cannot be made accessible; and
 * -EACCES (key, PD, rights or bounds), -ENOSPC (scatter list too short).
 */
int rxe_mr_copy(struct rxe_mr *mr, uintptr_t va, void *buf, size_t len, size_t ahead, bool to_mr,
		struct rxe_qp_fault *qf, struct rxe_miss *miss);
int rxe_mr_atomic(struct rxe_mr *mr, uintptr_t va, enum sodp_atomic_op op, uint64_t cmp_add,
		  uint64_t swap, uint64_t *orig, struct rxe_qp_fault *qf, struct rxe_miss *miss);
int rxe_sge_copy(struct rxe_dev *dev, struct ibv_pd *pd, const struct ibv_sge *sge, uint32_t nsge,
		 uint32_t offset, void *buf, uint32_t len, bool to_sge, struct rxe_qp_fault *qf,
		 struct rxe_miss *miss);
/* Whether the first @len bytes of @sge are mapped (for writing), faulting them if not. */
int rxe_sge_probe(struct rxe_dev *dev, struct ibv_pd *pd, const struct ibv_sge *sge, uint32_t nsge,
		  uint32_t len, bool write, struct rxe_qp_fault *qf, struct rxe_miss *miss);
bool rxe_mr_mapped(struct rxe_mr *mr, uintptr_t va, size_t len, bool write);
/* A run of pieces in one system call: 0, or an error; rxe_mr_copy() then goes piece by piece. */
int rxe_mr_copyv(struct rxe_mr *mr, uintptr_t va, const struct iovec *iov, unsigned int n,
		 bool to_mr);
struct ibv_mr *rxe_reg_mr(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova,
			  unsigned int access);
int rxe_rereg_mr(struct ibv_mr *mr, int flags, struct ibv_pd *pd, void *addr, size_t length,
		 unsigned int access);
int rxe_dereg_mr(struct ibv_mr *mr);
struct ibv_mr *rxe_find_mr(struct sodp_context *ctx, uint32_t handle);
int rxe_advise_mr(struct ibv_pd *pd, enum ibv_advise_mr_advice advice, uint32_t flags,
		  struct ibv_sge *sg_list, uint32_t num_sge);

/* ---- mw.c ---- */
struct ibv_mw *rxe_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type);
int rxe_dealloc_mw(struct ibv_mw *mw);
int rxe_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw, struct ibv_mw_bind *bind);
int rxe_mw_bind_args(struct rxe_qp *qp, const struct ibv_send_wr *wr);
int rxe_mw_bind_wqe(struct rxe_qp *qp, const struct rxe_send_wqe *wqe);
int rxe_invalidate_rkey(struct rxe_qp *qp, uint32_t rkey, bool remote);
void rxe_mw_qp_gone(struct rxe_qp *qp);
int rxe_rkey_check(struct rxe_qp *qp, uint32_t rkey, uint64_t va, uint64_t len, unsigned int access,
		   uintptr_t *va_out, uint32_t *lkey);
struct rxe_mr *rxe_rkey_mr(struct rxe_dev *dev, uint32_t rkey, uint32_t lkey);

/* ---- odp.c: what a miss means for each side of a QP ---- */
/* Misses one access may resolve in a row: one per scatter element, twice. */
#define RXE_MISS_TRIES (2 * RXE_MAX_SGE + 2)
void rxe_qp_fault_init(struct rxe_qp *qp);
void rxe_qp_fault_cancel(struct rxe_qp *qp);
bool rxe_qp_fault_pending(struct rxe_qp_fault *qf);
int rxe_access(struct rxe_qp_fault *qf, int (*fn)(void *arg, struct rxe_miss *miss), void *arg,
	       struct rxe_miss *miss);
void rxe_prefetch_ahead(struct rxe_qp *qp, struct rxe_mr *mr, uintptr_t va, size_t len);

/* ---- pd.c ---- */
int rxe_alloc_pd(struct ibv_pd *pd);
void rxe_dealloc_pd(struct ibv_pd *pd);
int rxe_dev_take(struct rxe_dev *dev, uint32_t *count, uint32_t max);
void rxe_dev_give(struct rxe_dev *dev, uint32_t *count);

/* ---- cq.c ---- */
struct ibv_cq_ex *rxe_create_cq(struct sodp_context *ctx, const struct ibv_cq_init_attr_ex *attr);
int rxe_resize_cq(struct ibv_cq *cq, int cqe);
int rxe_destroy_cq(struct ibv_cq *cq);
int rxe_poll_cq(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc);
int rxe_req_notify_cq(struct ibv_cq *cq, int solicited_only);
int rxe_cq_post(struct rxe_cq *cq, const struct rxe_cqe *cqe, bool solicited);
void rxe_cq_clean(struct rxe_cq *cq, uint32_t qpn);

/* ---- srq.c ---- */
struct ibv_srq *rxe_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr_ex *attr);
int rxe_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr, int mask);
int rxe_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr);
int rxe_destroy_srq(struct ibv_srq *srq);
int rxe_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
bool rxe_srq_take(struct rxe_srq *srq, struct rxe_recv_wqe *out);
int rxe_wq_init(struct rxe_wq *wq, uint32_t max_wr, uint32_t max_sge, size_t stride);
void rxe_wq_fini(struct rxe_wq *wq);
int rxe_wq_post_recv(struct rxe_wq *wq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);

/* ---- qp.c ---- */
struct ibv_qp *rxe_create_qp(struct sodp_context *ctx, struct ibv_qp_init_attr_ex *attr);
int rxe_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
int rxe_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask,
		 struct ibv_qp_init_attr *init);
int rxe_destroy_qp(struct ibv_qp *qp);
int rxe_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr);
int rxe_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
struct ibv_qp_ex *rxe_qp_to_qp_ex(struct ibv_qp *qp);
void rxe_qp_error(struct rxe_qp *qp);
void rxe_qp_cq_overrun(struct rxe_qp *qp);
void rxe_qp_flush(struct rxe_qp *qp);
void rxe_req_rewind(struct rxe_qp *qp, uint32_t psn);
bool rxe_wqe_is_rd(const struct rxe_send_wqe *wqe);
bool rxe_wqe_is_local(const struct rxe_send_wqe *wqe);
void rxe_async_qp(struct rxe_qp *qp, enum ibv_event_type type);
int rxe_attach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid);
int rxe_detach_mcast(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid);

/* ---- ah.c ---- */
struct ibv_ah *rxe_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr);
int rxe_destroy_ah(struct ibv_ah *ah);
int rxe_av_from_ah_attr(struct rxe_av *av, const struct ibv_ah_attr *attr, struct rxe_dev *dev);

/* ---- req.c / comp.c / resp.c: the three state machines ---- */
bool rxe_requester(struct rxe_qp *qp, uint64_t now);
void rxe_req_window(struct rxe_dev *dev);
void rxe_completer(struct rxe_qp *qp, struct rxe_pkt *pkt);
void rxe_comp_timer(struct rxe_qp *qp, uint64_t now);
void rxe_responder(struct rxe_qp *qp, struct rxe_pkt *pkt);
bool rxe_resp_send_queued(struct rxe_qp *qp);
void rxe_resp_release_ack(struct rxe_qp *qp);
void rxe_resp_note_answer(struct rxe_qp *qp, uint64_t now);
void rxe_send_complete(struct rxe_qp *qp, struct rxe_send_wqe *wqe, enum ibv_wc_status st);
uint64_t rxe_timeout_ns(uint8_t timeout);
uint64_t rxe_rnr_ns(uint8_t code);

#endif
