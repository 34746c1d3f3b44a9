// SPDX-License-Identifier: MIT
/*
 * The receive path against hostile datagrams: header parsing, ICRC, opcode
 * sequencing, PSN handling, the responder and the completer, on live QPs of
 * every transport and in several states.
 *
 * Two devices in one process (srxe0 = 127.0.0.1, srxe1 = 127.0.0.2). The
 * victims are on srxe1: an RC QP connected to srxe0 with a pinned and an
 * ODP MR that allow every remote access, a UC QP likewise, a UD QP, an RC
 * QP left in INIT and one in RTR, and srxe0's end of the RC pair (its
 * completer takes what the fuzzer sends as responses). Receives are kept
 * posted and completions drained, and a QP the input put into the error
 * state is connected again, so that every input meets a working QP.
 *
 * An input is one selector byte and a UDP payload from the BTH on, without
 * the ICRC. The selector picks the victim (bits 0-2), whether the datagram
 * comes from the victim's peer or from a stranger (bit 3), whether its PSN
 * is set to what the victim expects (bit 4), its RETH/atomic R_Key and
 * address to a real MR (bit 5: the rkey check passes, the bounds are
 * tried), and whether a correct ICRC is appended or the input's last four
 * bytes are left as the ICRC (bit 6). The BTH destination QPN is always
 * the victim's.
 *
 * Built two ways: with libFuzzer (clang -fsanitize=fuzzer, scripts/fuzz.sh)
 * and, without it, as a replay program that feeds the files or directories
 * it is given (tests/fuzz/corpus) through the same function: a CTest test.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "rxe.h"
#include "icrc.h"
#include "rxe_test_util.h"

enum { V_RC, V_UC, V_UD, V_INIT, V_RTR, V_RC_REQ, NR_VICTIMS };

#define FUZZ_MR_LEN  (64 << 10)
#define FUZZ_ODP_LEN (1 << 20)
#define FUZZ_RECVS   16

struct fuzz_side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr, *odp;
	uint8_t *buf, *odp_buf;
	union ibv_gid gid;
	struct rxe_dev *dev;
};

static struct {
	struct fuzz_side s[2]; /* [0] srxe0, the peer; [1] srxe1, the victims' */
	struct ibv_qp *qp[NR_VICTIMS];
	struct ibv_qp *peer[NR_VICTIMS]; /* the connected peers of RC, UC */
	struct sockaddr_in peer_addr, stranger;
	bool ready;
} F;

static int side_init(struct fuzz_side *s, const char *name)
{
	int all = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
		  IBV_ACCESS_REMOTE_ATOMIC;

	s->ctx = rt_open(name);
	if (!s->ctx)
		return -1;
	s->dev = ctx_dev(ibctx_to_sctx(s->ctx));
	s->pd = ibv_alloc_pd(s->ctx);
	s->cq = ibv_create_cq(s->ctx, 1024, NULL, NULL, 0);
	s->buf = aligned_alloc(4096, FUZZ_MR_LEN);
	s->odp_buf = mmap(NULL, FUZZ_ODP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	if (!s->pd || !s->cq || !s->buf || s->odp_buf == MAP_FAILED)
		return -1;
	memset(s->buf, 0, FUZZ_MR_LEN);
	s->mr = ibv_reg_mr(s->pd, s->buf, FUZZ_MR_LEN, all);
	s->odp = ibv_reg_mr(s->pd, s->odp_buf, FUZZ_ODP_LEN, all | IBV_ACCESS_ON_DEMAND);
	if (!s->mr || !s->odp)
		return -1;
	return ibv_query_gid(s->ctx, 1, 0, &s->gid);
}

static struct ibv_qp *make_qp(struct fuzz_side *s, enum ibv_qp_type type)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = s->cq,
		.recv_cq = s->cq,
		.cap = {.max_send_wr = 64,
			.max_recv_wr = 64,
			.max_send_sge = 2,
			.max_recv_sge = 2,
			.max_inline_data = 64},
		.qp_type = type,
	};

	return ibv_create_qp(s->pd, &ia);
}

static int post_recvs(struct ibv_qp *qp, struct fuzz_side *s, int n)
{
	struct ibv_sge sge = {(uintptr_t)s->buf, 4096, s->mr->lkey};
	struct ibv_recv_wr wr = {.sg_list = &sge, .num_sge = 1}, *bad;
	int i;

	for (i = 0; i < n; i++)
		if (ibv_post_recv(qp, &wr, &bad))
			return -1;
	return 0;
}

static int to_reset(struct ibv_qp *qp)
{
	struct ibv_qp_attr at = {.qp_state = IBV_QPS_RESET};

	return ibv_modify_qp(qp, &at, IBV_QP_STATE);
}

/* Moves a UC QP from RESET to RTS towards a peer QP. */
static int uc_connect(struct ibv_qp *qp, uint32_t dest_qpn, const union ibv_gid *dgid,
		      uint32_t sq_psn, uint32_t rq_psn)
{
	struct ibv_qp_attr at;

	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	at.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = IBV_MTU_1024;
	at.dest_qp_num = dest_qpn;
	at.rq_psn = rq_psn;
	at.ah_attr.is_global = 1;
	at.ah_attr.grh.dgid = *dgid;
	at.ah_attr.grh.hop_limit = 1;
	at.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	at.sq_psn = sq_psn;
	return ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_SQ_PSN);
}

/* Connects victim @v (RC or UC) and its peer again, with fresh receives. */
static int connect_pair(int v)
{
	const struct rt_conn_opts *o = rt_default_opts();
	struct ibv_qp *a = F.peer[v], *b = F.qp[v];

	if (to_reset(a) || to_reset(b))
		return -1;
	if (v == V_UC) {
		if (uc_connect(a, b->qp_num, &F.s[1].gid, 100, 200) ||
		    uc_connect(b, a->qp_num, &F.s[0].gid, 200, 100))
			return -1;
	} else if (rt_rc_connect_qp(a, b->qp_num, &F.s[1].gid, 100, 200, o) ||
		   rt_rc_connect_qp(b, a->qp_num, &F.s[0].gid, 200, 100, o)) {
		return -1;
	}
	return post_recvs(b, &F.s[1], FUZZ_RECVS) || post_recvs(a, &F.s[0], FUZZ_RECVS);
}

static int ready_victim(int v)
{
	struct ibv_qp_attr at;

	switch (v) {
	case V_RC:
	case V_UC:
	case V_RC_REQ:
		return connect_pair(v == V_RC_REQ ? V_RC : v);
	case V_UD:
		if (to_reset(F.qp[v]) || rt_ud_ready(F.qp[v], 0))
			return -1;
		return post_recvs(F.qp[v], &F.s[1], FUZZ_RECVS);
	case V_INIT:
	case V_RTR:
		if (to_reset(F.qp[v]))
			return -1;
		memset(&at, 0, sizeof(at));
		at.qp_state = IBV_QPS_INIT;
		at.port_num = 1;
		at.qp_access_flags = rt_default_opts()->access;
		if (ibv_modify_qp(F.qp[v], &at,
				  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
					  IBV_QP_ACCESS_FLAGS))
			return -1;
		if (post_recvs(F.qp[v], &F.s[1], FUZZ_RECVS))
			return -1;
		if (v == V_INIT)
			return 0;
		memset(&at, 0, sizeof(at));
		at.qp_state = IBV_QPS_RTR;
		at.path_mtu = IBV_MTU_1024;
		at.dest_qp_num = F.peer[V_RC]->qp_num;
		at.rq_psn = 300;
		at.max_dest_rd_atomic = 16;
		at.min_rnr_timer = 1;
		at.ah_attr.is_global = 1;
		at.ah_attr.grh.dgid = F.s[0].gid;
		at.ah_attr.grh.hop_limit = 1;
		at.ah_attr.port_num = 1;
		return ibv_modify_qp(F.qp[v], &at,
				     IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
					     IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
					     IBV_QP_MIN_RNR_TIMER);
	}
	return -1;
}

static int fuzz_setup(void)
{
	int v;

	setenv("SOFTODP_LOG", "error", 0);
	if (side_init(&F.s[0], "srxe0") || side_init(&F.s[1], "srxe1"))
		return -1;
	for (v = 0; v < NR_VICTIMS; v++) {
		if (v == V_RC_REQ) {
			F.qp[v] = F.peer[V_RC];
			continue;
		}
		F.qp[v] = make_qp(&F.s[1], v == V_UC   ? IBV_QPT_UC
					   : v == V_UD ? IBV_QPT_UD
						       : IBV_QPT_RC);
		if (!F.qp[v])
			return -1;
		if (v == V_RC || v == V_UC) {
			F.peer[v] = make_qp(&F.s[0], v == V_UC ? IBV_QPT_UC : IBV_QPT_RC);
			if (!F.peer[v])
				return -1;
		}
	}
	for (v = 0; v < V_RC_REQ; v++)
		if (ready_victim(v))
			return -1;
	F.peer_addr.sin_family = AF_INET;
	F.peer_addr.sin_port = htons(rxe_rc_sport(F.peer[V_RC]->qp_num, F.qp[V_RC]->qp_num));
	inet_pton(AF_INET, "127.0.0.1", &F.peer_addr.sin_addr);
	F.stranger = F.peer_addr;
	inet_pton(AF_INET, "127.0.0.3", &F.stranger.sin_addr);
	return 0;
}

static void drain(void)
{
	struct ibv_wc wc[32];
	int i;

	for (i = 0; i < 2; i++)
		while (ibv_poll_cq(F.s[i].cq, 32, wc) > 0)
			;
}

/* The victim's QP as the device sees it, and its device. */
static struct rxe_qp *victim(int v, struct rxe_dev **dev)
{
	*dev = F.s[v == V_RC_REQ ? 0 : 1].dev;
	return to_rqp(F.qp[v]);
}

static bool qp_in_error(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr at;

	return ibv_query_qp(qp, &at, IBV_QP_STATE, &ia) || at.qp_state == IBV_QPS_ERR;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

/* Points the RETH or AtomicETH of the packet at a real MR of the victim's side. */
static void aim_at_mr(uint8_t *pkt, size_t len, int v, uint8_t sel)
{
	const struct rxe_opcode_info *info = rxe_opcode_get(pkt[0]);
	struct fuzz_side *s = &F.s[v == V_RC_REQ ? 0 : 1];
	struct ibv_mr *mr = sel & 0x80 ? s->odp : s->mr;
	unsigned int off;

	if (!info)
		return;
	if (info->mask & RXE_RETH_MASK) {
		off = info->offset[RXE_RETH];
		if (off + 16 <= len) {
			put_be64(pkt + off, (uintptr_t)mr->addr + (pkt[off + 7] & 0x3f) * 64);
			put_be32(pkt + off + 8, mr->rkey);
		}
	} else if (info->mask & RXE_ATMETH_MASK) {
		off = info->offset[RXE_ATMETH];
		if (off + 28 <= len) {
			put_be64(pkt + off, (uintptr_t)mr->addr + (pkt[off + 7] & 0x3f) * 8);
			put_be32(pkt + off + 8, mr->rkey);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pkt[RXE_RXBUF];
	struct rxe_icrc_hdr h;
	struct sockaddr_in src;
	struct rxe_dev *dev;
	struct rxe_qp *qp;
	uint32_t expect[2]; /* the completer's and the responder's next PSN */
	size_t len;
	uint8_t sel;
	int v;

	if (!F.ready) {
		if (fuzz_setup()) {
			fprintf(stderr, "fuzz_rx: cannot set up the devices and QPs\n");
			abort();
		}
		F.ready = true;
	}
	if (size < 1 + 12 || size > 1 + RXE_RXBUF - 4)
		return 0;
	sel = data[0];
	v = (sel & 7) % NR_VICTIMS;
	len = size - 1;
	memcpy(pkt, data + 1, len);
	qp = victim(v, &dev);
	pthread_mutex_lock(&dev->lock);
	expect[0] = qp->comp.psn;
	expect[1] = qp->resp.psn;
	pthread_mutex_unlock(&dev->lock);
	/* the BTH: destination QPN (bytes 5-7), PSN (bytes 9-11) */
	pkt[5] = (uint8_t)(qp->ibqp.qp_base.qp_num >> 16);
	pkt[6] = (uint8_t)(qp->ibqp.qp_base.qp_num >> 8);
	pkt[7] = (uint8_t)qp->ibqp.qp_base.qp_num;
	if (sel & 0x10) {
		uint32_t psn = pkt[0] >= 0x0d && pkt[0] <= 0x12 ? expect[0] : expect[1];

		pkt[9] = (uint8_t)(psn >> 16);
		pkt[10] = (uint8_t)(psn >> 8);
		pkt[11] = (uint8_t)psn;
	}
	if (sel & 0x20)
		aim_at_mr(pkt, len, v, sel);
	src = sel & 0x08 ? F.stranger : F.peer_addr;
	if (v == V_RC_REQ)
		inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
	if (!(sel & 0x40)) {
		if (rxe_icrc_hdr_from_sockaddr(&h, (struct sockaddr *)&src,
					       (struct sockaddr *)&dev->src4791))
			return 0;
		rxe_icrc_append(&h, pkt, len);
		len += 4;
	}
	rxe_rx_inject(dev, pkt, (uint32_t)len, (struct sockaddr *)&src, sizeof(src));
	drain();
	if (qp_in_error(F.qp[v]) || (v == V_RC && qp_in_error(F.peer[V_RC]))) {
		drain();
		if (ready_victim(v)) {
			fprintf(stderr, "fuzz_rx: cannot bring QP %d back\n", v);
			abort();
		}
	}
	return 0;
}

#ifndef SODP_LIBFUZZER
/* Replays files, or every file in directories, through the receive path. */
static int replay(const char *path, unsigned long *n)
{
	static uint8_t buf[RXE_RXBUF + 1];
	struct stat st;
	FILE *f;
	size_t len;

	if (stat(path, &st))
		return -1;
	if (S_ISDIR(st.st_mode)) {
		struct dirent *e;
		DIR *d = opendir(path);
		char sub[4096];
		int ret = 0;

		if (!d)
			return -1;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
				ret |= replay(sub, n);
			}
		closedir(d);
		return ret;
	}
	f = fopen(path, "rb");
	if (!f)
		return -1;
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	(*n)++;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long n = 0;
	int i, ret = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (replay(argv[i], &n)) {
			fprintf(stderr, "%s: cannot read\n", argv[i]);
			ret = 1;
		}
	printf("replayed %lu inputs; the devices survived\n", n);
	for (i = 0; F.ready && i < 2; i++) {
		struct rxe_counters c;
		unsigned long long drops = 0;
		int r;

		rxe_dev_counters(F.s[i].dev, &c);
		for (r = 0; r < RXE_DROP_NR; r++)
			drops += c.rx_drops[r];
		printf("  %s: %llu packets received, %llu dropped, %llu with a bad ICRC\n",
		       F.s[i].dev->name, (unsigned long long)c.rx_pkts, drops,
		       (unsigned long long)c.rx_drops[RXE_DROP_ICRC]);
	}
	return ret;
}
#endif
