/* SPDX-License-Identifier: MIT */
/*
 * The provider interface: what lib/verbs (the exported ibv_* front) asks of a
 * soft NIC, and what it hands down to it. The front owns the device list,
 * configuration, contexts, protection domains, completion channels and the
 * async event queue; the provider owns everything that moves data.
 *
 * Objects are allocated by the provider and embed the rdma-core structure the
 * application sees (struct ibv_qp_ex, ibv_cq_ex, ibv_srq, ibv_mr, ibv_ah), in
 * the way rdma-core providers embed them. The front has already validated the
 * arguments that do not depend on provider state (NULL pointers, unknown
 * flags, comp_mask bits it does not know) before it calls an op.
 *
 * PDs: a PD imported into another context (ibv_import_pd) is another struct
 * ibv_pd with the same handle; PD handles are unique in the process, so a
 * provider compares PDs by handle, never by pointer.
 *
 * Return conventions (an op marked "Data path" below is one; every other op
 * is a control op):
 *  - control ops: 0 or a negative errno; the front converts to the verbs
 *    convention at its boundary. Ops returning an object return NULL and
 *    set errno.
 *  - data-path ops (post_send, post_recv, post_srq_recv, req_notify_cq):
 *    the application's inline verbs call them with no front in between
 *    (lib/verbs/ops.c), so they return what the verbs return: 0 or a
 *    positive errno, and *bad_wr set to the WR that failed;
 *  - poll_cq: the number of completions, or a negative errno (ibv_poll_cq());
 *  - the methods the provider puts in struct ibv_qp_ex (ibv_wr_*) and
 *    struct ibv_cq_ex (ibv_start_poll() ...) are the application's too:
 *    they return what <infiniband/verbs.h> documents (0 or a positive
 *    errno; ENOENT for an empty CQ).
 */
#ifndef SODP_PROVIDER_DRIVER_H
#define SODP_PROVIDER_DRIVER_H

#include <netinet/in.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <infiniband/verbs.h>

/* One configured soft RoCE device: a name and a local IP address. */
/* SOFTODP_ICRC: how a received packet's ICRC is checked (providers/rxe/icrc.h) */
enum sodp_icrc_mode {
	SODP_ICRC_RECOVER_ID, /* the default: IPv4 IDs other than 0 recovered */
	SODP_ICRC_STRICT,     /* "strict": as softodp sends (IPv4 ID 0) */
	SODP_ICRC_OFF,	      /* "off": not checked */
};

/* SOFTODP_IMPAIR: test-only impairment of transmitted packets */
struct sodp_impair {
	unsigned int drop, dup, reorder; /* percent */
	uint64_t seed;
	bool on;
};

/*
 * Whether @a and @b hold the same IP address: ports and IPv6 scope are not
 * compared. The one comparison of addresses for the front (which interface
 * holds a configured address) and the provider (which device an address
 * is, which address a packet came from).
 */
static inline bool sodp_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return false;
}

/* Parses "drop=N%,dup=N%,reorder=N%,seed=S" (NULL or "": none); -EINVAL. */
int sodp_parse_impair(const char *spec, struct sodp_impair *im);

struct sodp_dev_config {
	char name[IBV_SYSFS_NAME_MAX];
	struct sockaddr_storage addr; /* AF_INET or AF_INET6, port 0 */
	char ifname[IF_NAMESIZE];     /* the interface that holds addr */
	unsigned int ifindex;
	unsigned int if_mtu; /* interface MTU in bytes */
	uint8_t mac[6];	     /* zero for loopback */
	union ibv_gid gid;   /* RoCEv2 GID of addr (v4-mapped for IPv4) */
	__be64 node_guid;    /* derived from the address, stable */
	/* the environment, read by the front alone (lib/verbs/config.c) */
	enum sodp_icrc_mode icrc;
	struct sodp_impair impair;
	bool report_stats; /* SOFTODP_STATS=1 */
};

struct sodp_context;
struct sodp_stat_dev;

/*
 * Hooks the front gives the provider. Called from any thread, including the
 * provider's progress thread; they never block.
 */
struct sodp_front_ops {
	/* Queue an async event (QP fatal, CQ error, port active...). */
	void (*async_event)(struct sodp_context *ctx, const struct ibv_async_event *ev);
	/* A CQ armed with ibv_req_notify_cq got the completion it waits for. */
	void (*cq_event)(struct ibv_cq *cq);
};

struct sodp_provider_ops {
	/* Context: allocate provider state, start the engine lazily. */
	int (*open)(struct sodp_context *ctx);
	void (*close)(struct sodp_context *ctx);

	int (*query_device_ex)(struct sodp_context *ctx, struct ibv_device_attr_ex *attr);
	int (*query_port)(struct sodp_context *ctx, uint8_t port, struct ibv_port_attr *attr);

	/* PD: the provider sees them to attach its own state (may be NULL). */
	int (*alloc_pd)(struct ibv_pd *pd);
	void (*dealloc_pd)(struct ibv_pd *pd);

	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t length, uint64_t iova,
				 unsigned int access);
	int (*rereg_mr)(struct ibv_mr *mr, int flags, struct ibv_pd *pd, void *addr, size_t length,
			unsigned int access);
	int (*dereg_mr)(struct ibv_mr *mr);
	/* The MR of @ctx's device whose handle is @handle, or NULL (for ibv_import_mr). */
	struct ibv_mr *(*find_mr)(struct sodp_context *ctx, uint32_t handle);
	int (*advise_mr)(struct ibv_pd *pd, enum ibv_advise_mr_advice advice, uint32_t flags,
			 struct ibv_sge *sg_list, uint32_t num_sge);
	struct ibv_mw *(*alloc_mw)(struct ibv_pd *pd, enum ibv_mw_type type);
	int (*dealloc_mw)(struct ibv_mw *mw);
	/* Posts the bind WR of a type 1 window (ibv_bind_mw()). */
	int (*bind_mw)(struct ibv_qp *qp, struct ibv_mw *mw, struct ibv_mw_bind *bind);

	struct ibv_cq_ex *(*create_cq)(struct sodp_context *ctx,
				       const struct ibv_cq_init_attr_ex *attr);
	int (*resize_cq)(struct ibv_cq *cq, int cqe);
	int (*destroy_cq)(struct ibv_cq *cq);
	/* Data path: completions polled, or -errno. */
	int (*poll_cq)(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc);
	/* Data path: 0 or a positive errno. */
	int (*req_notify_cq)(struct ibv_cq *cq, int solicited_only);

	struct ibv_srq *(*create_srq)(struct ibv_pd *pd, struct ibv_srq_init_attr_ex *attr);
	int (*modify_srq)(struct ibv_srq *srq, struct ibv_srq_attr *attr, int mask);
	int (*query_srq)(struct ibv_srq *srq, struct ibv_srq_attr *attr);
	int (*destroy_srq)(struct ibv_srq *srq);
	/* Data path: 0 or a positive errno. */
	int (*post_srq_recv)(struct ibv_srq *srq, struct ibv_recv_wr *wr,
			     struct ibv_recv_wr **bad_wr);

	struct ibv_qp *(*create_qp)(struct sodp_context *ctx, struct ibv_qp_init_attr_ex *attr);
	int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
	int (*query_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask,
			struct ibv_qp_init_attr *init);
	int (*destroy_qp)(struct ibv_qp *qp);
	/* Data path: 0 or a positive errno. */
	int (*post_send)(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr);
	int (*post_recv)(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
	/* NULL unless the QP was created with IBV_QP_INIT_ATTR_SEND_OPS_FLAGS. */
	struct ibv_qp_ex *(*qp_to_qp_ex)(struct ibv_qp *qp);

	struct ibv_ah *(*create_ah)(struct ibv_pd *pd, struct ibv_ah_attr *attr);
	int (*destroy_ah)(struct ibv_ah *ah);

	int (*attach_mcast)(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid);
	int (*detach_mcast)(struct ibv_qp *qp, const union ibv_gid *gid, uint16_t lid);

	/*
	 * The stat segment (stat_rec.h): every device of the process into
	 * @out (up to @max records, zeroed), returning how many. Called off
	 * the data path, a few times a second.
	 */
	unsigned int (*stat_snapshot)(struct sodp_stat_dev *out, unsigned int max);
};

/*
 * The context the front allocates for every ibv_open_device(). The verbs
 * structures must come last: struct verbs_context ends with the struct
 * ibv_context that the application holds, and inline verbs reach back from it.
 */
struct sodp_context {
	const struct sodp_dev_config *cfg;
	const struct sodp_provider_ops *ops;
	const struct sodp_front_ops *front;
	void *priv; /* provider state */
	struct verbs_context vctx;
};

static inline struct sodp_context *sodp_ctx(struct ibv_context *ibctx)
{
	return (struct sodp_context *)((char *)ibctx - offsetof(struct sodp_context, vctx.context));
}

/* The provider: only one today, the soft RoCE NIC in providers/rxe. */
extern const struct sodp_provider_ops rxe_provider_ops;

#endif
