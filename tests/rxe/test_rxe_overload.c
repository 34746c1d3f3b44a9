// SPDX-License-Identifier: MIT
/*
 * More than a device or a queue can take, between two softodp devices in
 * one process (srxe0 = 127.0.0.1, srxe1 = 127.0.0.2): a completion queue
 * that overflows, and what it does to the QPs that lost a completion; a
 * READ so long that the responder works on it for a second, during which
 * its device must still serve the control verbs; READs as deep as the
 * device advertises.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>

#include "sodp_test.h"
#include "rxe_test_util.h"

/* One end: its own send and receive CQs, of the depths the test asks for. */
struct end {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *scq, *rcq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf;
	union ibv_gid gid;
};

static struct end A, B;

static void end_fini(struct end *e)
{
	if (e->qp)
		ibv_destroy_qp(e->qp);
	if (e->mr)
		ibv_dereg_mr(e->mr);
	if (e->scq)
		ibv_destroy_cq(e->scq);
	if (e->rcq)
		ibv_destroy_cq(e->rcq);
	if (e->pd)
		ibv_dealloc_pd(e->pd);
	if (e->ctx)
		ibv_close_device(e->ctx);
	free(e->buf);
	memset(e, 0, sizeof(*e));
}

static int end_init(struct end *e, const char *dev, int scqe, int rcqe, uint32_t sq_depth)
{
	struct ibv_qp_init_attr ia;

	end_fini(e);
	e->ctx = rt_open(dev);
	if (!e->ctx)
		return -1;
	e->pd = ibv_alloc_pd(e->ctx);
	e->scq = ibv_create_cq(e->ctx, scqe, NULL, NULL, 0);
	e->rcq = ibv_create_cq(e->ctx, rcqe, NULL, NULL, 0);
	e->buf = aligned_alloc(4096, RT_BUF);
	if (!e->pd || !e->scq || !e->rcq || !e->buf)
		return -1;
	memset(e->buf, 0, RT_BUF);
	e->mr = ibv_reg_mr(e->pd, e->buf, RT_BUF, rt_default_opts()->access);
	if (!e->mr)
		return -1;
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = e->scq;
	ia.recv_cq = e->rcq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = sq_depth;
	ia.cap.max_recv_wr = 64;
	ia.cap.max_send_sge = 32;
	ia.cap.max_recv_sge = 1;
	e->qp = ibv_create_qp(e->pd, &ia);
	if (!e->qp)
		return -1;
	return ibv_query_gid(e->ctx, 1, 0, &e->gid);
}

static int ends_connect(const struct rt_conn_opts *o)
{
	if (rt_rc_connect_qp(A.qp, B.qp->qp_num, &B.gid, 100, 200, o))
		return -1;
	return rt_rc_connect_qp(B.qp, A.qp->qp_num, &A.gid, 200, 100, o);
}

/*
 * Sets the initiator depth of @qp (RTS -> SQD -> SQD -> RTS) and, with
 * @dest, its responder resources.
 */
static int set_rd_atomic(struct ibv_qp *qp, uint8_t init, uint8_t dest)
{
	struct ibv_qp_attr at;

	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_SQD;
	if (ibv_modify_qp(qp, &at, IBV_QP_STATE))
		return -1;
	at.max_rd_atomic = init;
	at.max_dest_rd_atomic = dest;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_MAX_QP_RD_ATOMIC | IBV_QP_MAX_DEST_RD_ATOMIC))
		return -1;
	at.qp_state = IBV_QPS_RTS;
	return ibv_modify_qp(qp, &at, IBV_QP_STATE);
}

#define ENDS_OR_SKIP(o, a_scqe, a_rcqe, b_scqe, b_rcqe, depth)                         \
	do {                                                                           \
		if (end_init(&A, "srxe0", a_scqe, a_rcqe, depth) ||                    \
		    end_init(&B, "srxe1", b_scqe, b_rcqe, depth) || ends_connect(o)) { \
			end_fini(&A);                                                  \
			end_fini(&B);                                                  \
			SODP_SKIP("cannot bind UDP 4791 on 127.0.0.1/127.0.0.2");      \
		}                                                                      \
	} while (0)

static int post_one(struct end *e, enum ibv_wr_opcode op, uint64_t wr_id, uint32_t off,
		    uint32_t len, uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = {(uintptr_t)e->buf + off, len, e->mr->lkey};
	struct ibv_send_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = wr_id;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return ibv_post_send(e->qp, &wr, &bad);
}

static int post_recv_one(struct end *e, uint64_t wr_id, uint32_t off, uint32_t len)
{
	struct ibv_sge sge = {(uintptr_t)e->buf + off, len, e->mr->lkey};
	struct ibv_recv_wr wr = {.wr_id = wr_id, .sg_list = &sge, .num_sge = 1}, *bad;

	return ibv_post_recv(e->qp, &wr, &bad);
}

static enum ibv_qp_state qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_attr at;
	struct ibv_qp_init_attr ia;

	if (ibv_query_qp(qp, &at, IBV_QP_STATE, &ia))
		return IBV_QPS_UNKNOWN;
	return at.qp_state;
}

/* Whether @qp reaches @st within RT_WAIT_MS. */
static bool qp_reaches(struct ibv_qp *qp, enum ibv_qp_state st)
{
	uint64_t end = rt_ms() + RT_WAIT_MS;

	do {
		if (qp_state(qp) == st)
			return true;
		usleep(1000);
	} while (rt_ms() < end);
	return false;
}

/* Whether @ctx raises @type within a few seconds (other events are read past). */
static bool async_event(struct ibv_context *ctx, enum ibv_event_type type)
{
	struct pollfd p = {.fd = ctx->async_fd, .events = POLLIN};
	struct ibv_async_event ev;
	int i;

	for (i = 0; i < 10; i++) {
		if (poll(&p, 1, 500) != 1)
			return false;
		if (ibv_get_async_event(ctx, &ev))
			return false;
		ibv_ack_async_event(&ev);
		if (ev.event_type == type)
			return true;
	}
	return false;
}

/* ---- completion queue overrun ---- */

static void test_send_cq_overrun_moves_the_qp_to_error(void)
{
	int i;

	ENDS_OR_SKIP(rt_default_opts(), 1, 64, 64, 64, 64);
	for (i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(
			post_one(&A, IBV_WR_RDMA_WRITE, i, 0, 64, (uintptr_t)B.buf, B.mr->rkey), 0);
	CU_ASSERT_TRUE(async_event(A.ctx, IBV_EVENT_CQ_ERR));
	CU_ASSERT_TRUE(qp_reaches(A.qp, IBV_QPS_ERR));
	end_fini(&A);
	end_fini(&B);
}

static void test_recv_cq_overrun_moves_the_qp_to_error(void)
{
	int i;

	ENDS_OR_SKIP(rt_default_opts(), 64, 64, 64, 1, 64);
	for (i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(post_recv_one(&B, i, i * 64, 64), 0);
	for (i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(post_one(&A, IBV_WR_SEND, i, 0, 64, 0, 0), 0);
	CU_ASSERT_TRUE(async_event(B.ctx, IBV_EVENT_CQ_ERR));
	CU_ASSERT_TRUE(qp_reaches(B.qp, IBV_QPS_ERR));
	end_fini(&A);
	end_fini(&B);
}

/* ---- one long request ---- */

#define LONG_READ (1ULL << 30)
#define LOCAL_BUF (32U << 20) /* A's landing area, used LONG_READ / LOCAL_BUF times */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * B answers one 1 GiB READ (from a pinned MR on read-only memory nothing
 * touched: the zero page, resident at once) while the test times
 * ibv_query_qp() and a CQ's create and destroy on B's device, every few
 * milliseconds until the READ is done. Each waits for the engine at most
 * one round, so many go through while the READ streams, and the slowest
 * takes far less than the stream (a loaded machine may stall the test a
 * while, not for a quarter of it); a call that waits for the whole stream
 * fails both.
 */
static void test_a_long_read_does_not_hold_up_control_verbs(void)
{
	struct ibv_sge sge[LONG_READ / LOCAL_BUF];
	struct ibv_send_wr wr, *bad;
	struct ibv_mr *amr, *bmr;
	uint64_t worst = 0, t, t0, end;
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr at;
	struct ibv_wc wc;
	uint8_t *abuf, *bmem;
	unsigned int i, n = 0;
	struct ibv_cq *cq;
	int got = 0;
	struct rt_conn_opts o = *rt_default_opts();

	o.timeout = 16; /* 268 ms: a loaded machine may hold up the stream a while */
	ENDS_OR_SKIP(&o, 64, 64, 64, 64, 64);
	abuf = aligned_alloc(4096, LOCAL_BUF);
	/* read-only: registering faults in the zero page, nothing is allocated */
	bmem = mmap(NULL, LONG_READ, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CU_ASSERT_FATAL(abuf && bmem != MAP_FAILED);
	amr = ibv_reg_mr(A.pd, abuf, LOCAL_BUF, IBV_ACCESS_LOCAL_WRITE);
	bmr = ibv_reg_mr(B.pd, bmem, LONG_READ, IBV_ACCESS_REMOTE_READ);
	CU_ASSERT_FATAL(amr && bmr);
	for (i = 0; i < LONG_READ / LOCAL_BUF; i++)
		sge[i] = (struct ibv_sge){(uintptr_t)abuf, LOCAL_BUF, amr->lkey};
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = sge;
	wr.num_sge = LONG_READ / LOCAL_BUF;
	wr.opcode = IBV_WR_RDMA_READ;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)bmem;
	wr.wr.rdma.rkey = bmr->rkey;
	t0 = now_us();
	CU_ASSERT_EQUAL_FATAL(ibv_post_send(A.qp, &wr, &bad), 0);
	end = rt_ms() + 60000;
	while (!got && rt_ms() < end) {
		t = now_us();
		CU_ASSERT_EQUAL(ibv_query_qp(B.qp, &at, IBV_QP_STATE, &ia), 0);
		cq = ibv_create_cq(B.ctx, 4, NULL, NULL, 0);
		CU_ASSERT_PTR_NOT_NULL(cq);
		if (cq)
			ibv_destroy_cq(cq);
		t = now_us() - t;
		worst = t > worst ? t : worst;
		n++;
		got = ibv_poll_cq(A.scq, 1, &wc);
		usleep(5000);
	}
	t0 = now_us() - t0;
	printf("\n    %u control calls during the %llu ms READ, the slowest %llu us", n,
	       (unsigned long long)t0 / 1000, (unsigned long long)worst);
	CU_ASSERT_EQUAL(got, 1);
	if (got && wc.status != IBV_WC_SUCCESS)
		printf("\n    READ: %s", ibv_wc_status_str(wc.status));
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT(n >= 20);
	CU_ASSERT(worst < t0 / 4);
	ibv_dereg_mr(amr);
	ibv_dereg_mr(bmr);
	munmap(bmem, LONG_READ);
	free(abuf);
	end_fini(&A);
	end_fini(&B);
}

/* ---- READ depth ---- */

#define DEPTH_PAIRS 512	       /* WRITE + READ pairs, four times the depth */
#define DEPTH_READ  1024       /* bytes per READ: one packet, one PSN */
#define DEPTH_SRC   (4U << 20) /* B's READ source: ODP, faulted by the first READ */

/*
 * A requester as deep as the device lets it be (max_qp_init_rd_atom READs
 * in flight) against a responder with as many resources as it advertises
 * (max_qp_rd_atom), each READ behind a WRITE that is acknowledged on its
 * own, while the responder's answers wait for the page fault of the first
 * READ: every WR completes, and both QPs stay in RTS.
 */
static void test_reads_as_deep_as_advertised_complete(void)
{
	struct rt_conn_opts o = *rt_default_opts();
	struct ibv_device_attr da;
	struct ibv_wc wc[64];
	unsigned int i, done = 0, bad = 0;
	struct ibv_mr *src;
	uint8_t *mem;
	uint64_t end;

	o.timeout = 16;
	ENDS_OR_SKIP(&o, 2 * DEPTH_PAIRS, 64, 64, 64, 2 * DEPTH_PAIRS);
	CU_ASSERT_EQUAL_FATAL(ibv_query_device(A.ctx, &da), 0);
	CU_ASSERT_FATAL(da.max_qp_init_rd_atom > 0 && da.max_qp_rd_atom > 0);
	CU_ASSERT_EQUAL_FATAL(set_rd_atomic(A.qp, da.max_qp_init_rd_atom, da.max_qp_rd_atom), 0);
	CU_ASSERT_EQUAL_FATAL(set_rd_atomic(B.qp, da.max_qp_init_rd_atom, da.max_qp_rd_atom), 0);
	mem = mmap(NULL, DEPTH_SRC, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(mem != MAP_FAILED);
	src = ibv_reg_mr(B.pd, mem, DEPTH_SRC,
			 IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	CU_ASSERT_PTR_NOT_NULL_FATAL(src);
	memset(A.buf, 0xff, RT_BUF / 2);
	for (i = 0; i < DEPTH_PAIRS; i++) {
		uint32_t off = i * DEPTH_READ % (RT_BUF / 2);

		CU_ASSERT_EQUAL(post_one(&A, IBV_WR_RDMA_WRITE, 2 * i, RT_BUF / 2, 1024,
					 (uintptr_t)B.buf, B.mr->rkey),
				0);
		CU_ASSERT_EQUAL(post_one(&A, IBV_WR_RDMA_READ, 2 * i + 1, off, DEPTH_READ,
					 (uintptr_t)mem + off, src->rkey),
				0);
	}
	end = rt_ms() + 60000;
	while (done < 2 * DEPTH_PAIRS && rt_ms() < end) {
		int n = ibv_poll_cq(A.scq, 64, wc);

		for (i = 0; i < (unsigned int)(n > 0 ? n : 0); i++) {
			if (wc[i].status != IBV_WC_SUCCESS && !bad++)
				printf("\n    wr %llu: %s", (unsigned long long)wc[i].wr_id,
				       ibv_wc_status_str(wc[i].status));
		}
		done += n > 0 ? n : 0;
		if (n <= 0)
			usleep(1000);
	}
	CU_ASSERT_EQUAL(done, 2 * DEPTH_PAIRS);
	CU_ASSERT_EQUAL(bad, 0);
	for (i = 0; i < RT_BUF / 2 && A.buf[i] == 0; i++)
		;
	CU_ASSERT_EQUAL(i, RT_BUF / 2); /* what the READs brought: the source's zeros */
	CU_ASSERT_EQUAL(qp_state(A.qp), IBV_QPS_RTS);
	CU_ASSERT_EQUAL(qp_state(B.qp), IBV_QPS_RTS);
	ibv_dereg_mr(src);
	munmap(mem, DEPTH_SRC);
	end_fini(&A);
	end_fini(&B);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"send_cq_overrun_moves_the_qp_to_error",
		 test_send_cq_overrun_moves_the_qp_to_error},
		{"recv_cq_overrun_moves_the_qp_to_error",
		 test_recv_cq_overrun_moves_the_qp_to_error},
		{"a_long_read_does_not_hold_up_control_verbs",
		 test_a_long_read_does_not_hold_up_control_verbs},
		{"reads_as_deep_as_advertised_complete", test_reads_as_deep_as_advertised_complete},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_overload", NULL, NULL, t);
}
