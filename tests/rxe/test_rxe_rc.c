// SPDX-License-Identifier: MIT
/*
 * End-to-end tests of the soft NIC between two softodp devices in one
 * process (srxe0 = 127.0.0.1, srxe1 = 127.0.0.2): every RC opcode, UD with
 * its GRH, SRQ, PSN wrap, each NAK path, retransmission under injected
 * loss, the error flush and fault-safe copies.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>

#include "sodp_test.h"
#include "rxe.h"
#include "rxe_test_util.h"

static struct rt_side A, B;

static int pair_up(const struct rt_conn_opts *o, uint32_t a_psn, uint32_t b_psn)
{
	if (rt_side_init(&A, "srxe0", IBV_QPT_RC, o->access | IBV_ACCESS_LOCAL_WRITE, 64) ||
	    rt_side_init(&B, "srxe1", IBV_QPT_RC, o->access | IBV_ACCESS_LOCAL_WRITE, 64))
		return -1;
	return rt_rc_connect(&A, &B, o, a_psn, b_psn);
}

static void pair_down(void)
{
	rt_side_fini(&A);
	rt_side_fini(&B);
}

#define PAIR_OR_SKIP(o, pa, pb)                                                   \
	do {                                                                      \
		if (pair_up(o, pa, pb)) {                                         \
			pair_down();                                              \
			SODP_SKIP("cannot bind UDP 4791 on 127.0.0.1/127.0.0.2"); \
		}                                                                 \
	} while (0)

static void test_send_multi_packet_and_imm(void)
{
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 100, 200);
	rt_fill(A.buf, 10000, 3);
	CU_ASSERT_EQUAL(rt_post_recv(&B, 1, 0, 16384), 0);
	CU_ASSERT_EQUAL(rt_post_recv(&B, 2, 16384, 64), 0);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND, 0, 10000, 0, 0), 0);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND_WITH_IMM, 0, 61, 0, 0), 0);
	CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_RECV);
	CU_ASSERT_EQUAL(wc.byte_len, 10000);
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf, 10000), 0);
	CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.byte_len, 61);
	CU_ASSERT(wc.wc_flags & IBV_WC_WITH_IMM);
	CU_ASSERT_EQUAL(be32toh(wc.imm_data), 0x1234abcd);
	CU_ASSERT_EQUAL(wc.src_qp, A.qp->qp_num);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_SEND);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	pair_down();
}

static void test_write_read_and_write_imm(void)
{
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 5, 6);
	rt_fill(A.buf, 300000, 9);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_RDMA_WRITE, 0, 300000, (uintptr_t)B.buf, B.mr->rkey), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_RDMA_WRITE);
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf, 300000), 0);

	rt_fill(B.buf + 400000, 200001, 77);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_RDMA_READ, 400000, 200001, (uintptr_t)B.buf + 400000,
				B.mr->rkey),
			0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_RDMA_READ);
	CU_ASSERT_EQUAL(memcmp(A.buf + 400000, B.buf + 400000, 200001), 0);

	CU_ASSERT_EQUAL(rt_post_recv(&B, 7, 0, 0), 0);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_RDMA_WRITE_WITH_IMM, 0, 5000, (uintptr_t)B.buf + 700000,
				B.mr->rkey),
			0);
	CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_RECV_RDMA_WITH_IMM);
	CU_ASSERT_EQUAL(wc.byte_len, 5000);
	CU_ASSERT_EQUAL(be32toh(wc.imm_data), 0x1234abcd);
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf + 700000, 5000), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	pair_down();
}

static void test_atomics(void)
{
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;
	struct ibv_wc wc;
	uint64_t *target;

	PAIR_OR_SKIP(rt_default_opts(), 1, 2);
	target = (uint64_t *)(B.buf + 4096);
	*target = 40;
	CU_ASSERT_EQUAL(
		rt_post(&A, IBV_WR_ATOMIC_FETCH_AND_ADD, 0, 8, (uintptr_t)target, B.mr->rkey), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_FETCH_ADD);
	CU_ASSERT_EQUAL(*(uint64_t *)A.buf, 40);
	CU_ASSERT_EQUAL(*target, 40); /* add 0: rt_post leaves compare_add 0 */

	memset(&wr, 0, sizeof(wr));
	sge.addr = (uintptr_t)A.buf + 8;
	sge.length = 8;
	sge.lkey = A.mr->lkey;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.atomic.remote_addr = (uintptr_t)target;
	wr.wr.atomic.rkey = B.mr->rkey;
	wr.wr.atomic.compare_add = 40;
	wr.wr.atomic.swap = 99;
	CU_ASSERT_EQUAL(ibv_post_send(A.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(*(uint64_t *)(A.buf + 8), 40);
	CU_ASSERT_EQUAL(*target, 99);

	wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
	wr.wr.atomic.compare_add = 5;
	CU_ASSERT_EQUAL(ibv_post_send(A.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(*target, 104);

	/* misaligned: NAK invalid request */
	wr.wr.atomic.remote_addr = (uintptr_t)target + 1;
	CU_ASSERT_EQUAL(ibv_post_send(A.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_INV_REQ_ERR);
	pair_down();
}

/* ---- ATOMIC WRITE ---- */

/* Posts an ATOMIC WRITE from A of the 8 bytes at A.buf + @off to @raddr. */
static int aw_post(struct rt_side *s, uint32_t off, uint64_t raddr, uint32_t rkey,
		   unsigned int flags)
{
	struct ibv_sge sge = {(uintptr_t)s->buf + off, 8, s->mr->lkey};
	struct ibv_send_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = 77;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_ATOMIC_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED | flags;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return ibv_post_send(s->qp, &wr, &bad);
}

static void test_atomic_write_post_send_stores_8_bytes_and_completes(void)
{
	static const uint8_t value[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
	uint8_t *target, want[24];
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 1, 2);
	target = B.buf + 4096;
	memset(target - 8, 0xee, 24);
	memcpy(A.buf + 64, value, sizeof(value));
	CU_ASSERT_EQUAL(aw_post(&A, 64, (uintptr_t)target, B.mr->rkey, 0), 0);
	CU_ASSERT_EQUAL_FATAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_ATOMIC_WRITE);
	CU_ASSERT_EQUAL(wc.wr_id, 77);
	CU_ASSERT_EQUAL(wc.byte_len, 8);
	/* exactly the 8 bytes, in memory order, and nothing around them */
	memset(want, 0xee, sizeof(want));
	memcpy(want + 8, value, sizeof(value));
	CU_ASSERT_EQUAL(memcmp(target - 8, want, sizeof(want)), 0);
	pair_down();
}

static void test_atomic_write_inline_post_send_stores_8_bytes(void)
{
	uint64_t value = 0x0123456789abcdefULL, *target;
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 1, 2);
	target = (uint64_t *)(B.buf + 8192);
	memcpy(A.buf + 128, &value, sizeof(value));
	CU_ASSERT_EQUAL(aw_post(&A, 128, (uintptr_t)target, B.mr->rkey, IBV_SEND_INLINE), 0);
	/* inline: the bytes were taken at post time */
	memset(A.buf + 128, 0, sizeof(value));
	CU_ASSERT_EQUAL_FATAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_ATOMIC_WRITE);
	CU_ASSERT_EQUAL(*target, value);
	pair_down();
}

static void test_atomic_write_qp_ex_stores_8_bytes_and_completes(void)
{
	static const uint8_t value[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};
	uint8_t stack_copy[8];
	struct ibv_qp_init_attr_ex ia;
	struct ibv_qp_ex *qx;
	struct ibv_qp *qp;
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = A.cq;
	ia.recv_cq = A.cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 16;
	ia.cap.max_recv_wr = 16;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	ia.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	ia.pd = A.pd;
	ia.send_ops_flags = IBV_QP_EX_WITH_ATOMIC_WRITE;
	qp = ibv_create_qp_ex(A.ctx, &ia);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	ibv_destroy_qp(A.qp);
	A.qp = qp;
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, rt_default_opts(), 10, 20), 0);
	qx = ibv_qp_to_qp_ex(qp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qx);
	memset(B.buf + 512, 0xee, 8);
	memcpy(stack_copy, value, sizeof(value));
	ibv_wr_start(qx);
	qx->wr_id = 31;
	qx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(qx, B.mr->rkey, (uintptr_t)B.buf + 512, stack_copy);
	/* the value is taken by ibv_wr_atomic_write itself */
	memset(stack_copy, 0, sizeof(stack_copy));
	CU_ASSERT_EQUAL(ibv_wr_complete(qx), 0);
	CU_ASSERT_EQUAL_FATAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.wr_id, 31);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_ATOMIC_WRITE);
	CU_ASSERT_EQUAL(wc.byte_len, 8);
	CU_ASSERT_EQUAL(memcmp(B.buf + 512, value, sizeof(value)), 0);
	pair_down();
}

static void test_atomic_write_device_reports_capability(void)
{
	struct ibv_device_attr_ex ex;

	PAIR_OR_SKIP(rt_default_opts(), 1, 2);
	CU_ASSERT_EQUAL_FATAL(ibv_query_device_ex(A.ctx, NULL, &ex), 0);
	/* IB_UVERBS_DEVICE_ATOMIC_WRITE, as kernel rxe reports it */
	CU_ASSERT_NOT_EQUAL(ex.device_cap_flags_ex & (1ULL << 40), 0);
	pair_down();
}

static void test_psn_wrap(void)
{
	struct ibv_wc wc;
	int i;

	/* both directions start 3 PSNs before 2^24; 8-packet messages wrap */
	PAIR_OR_SKIP(rt_default_opts(), 0xfffffd, 0xfffffe);
	rt_fill(A.buf, 8192, 1);
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(rt_post_recv(&B, i, 0, 8192), 0);
		CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND, 0, 8192, 0, 0), 0);
		CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
		CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
		CU_ASSERT_EQUAL(
			rt_post(&A, IBV_WR_RDMA_READ, 0, 8192, (uintptr_t)B.buf, B.mr->rkey), 0);
		CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	}
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf, 8192), 0);
	pair_down();
}

static void test_nak_remote_access_error(void)
{
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	CU_ASSERT_EQUAL(
		rt_post(&A, IBV_WR_RDMA_WRITE, 0, 100, (uintptr_t)B.buf, B.mr->rkey ^ 0x100), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_ACCESS_ERR);
	pair_down();

	/* out of bounds by one byte, checked before any byte is written */
	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	B.buf[RT_BUF - 1] = 0x5a;
	CU_ASSERT_EQUAL(
		rt_post(&A, IBV_WR_RDMA_WRITE, 0, 2, (uintptr_t)B.buf + RT_BUF - 1, B.mr->rkey), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_EQUAL(B.buf[RT_BUF - 1], 0x5a);
	pair_down();
}

static void test_nak_read_without_remote_read_access(void)
{
	struct rt_conn_opts o = *rt_default_opts();
	struct ibv_wc wc;

	o.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	PAIR_OR_SKIP(&o, 10, 20);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_RDMA_READ, 0, 100, (uintptr_t)B.buf, B.mr->rkey), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_ACCESS_ERR);
	pair_down();
}

static void test_nak_invalid_request_recv_too_small(void)
{
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	CU_ASSERT_EQUAL(rt_post_recv(&B, 1, 0, 100), 0);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND, 0, 2000, 0, 0), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_INV_REQ_ERR);
	CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_LOC_LEN_ERR);
	pair_down();
}

static void test_nak_remote_op_error_bad_recv_lkey(void)
{
	struct ibv_sge sge;
	struct ibv_recv_wr wr = {.wr_id = 5, .sg_list = &sge, .num_sge = 1}, *bad;
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	sge.addr = (uintptr_t)B.buf;
	sge.length = 100;
	sge.lkey = B.mr->lkey + 0x100;
	CU_ASSERT_EQUAL(ibv_post_recv(B.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND, 0, 50, 0, 0), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_OP_ERR);
	CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_LOC_PROT_ERR);
	pair_down();
}

static void test_atomic_write_misaligned_target_is_rem_inv_req_err(void)
{
	uint64_t value = 0x5555aaaa5555aaaaULL;
	uint8_t before[16];
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	memcpy(A.buf, &value, sizeof(value));
	memset(B.buf + 4096, 0x3c, sizeof(before));
	memcpy(before, B.buf + 4096, sizeof(before));
	/* kernel rxe: RESPST_ERR_MISALIGNED_ATOMIC, NAK invalid request */
	CU_ASSERT_EQUAL(aw_post(&A, 0, (uintptr_t)B.buf + 4096 + 4, B.mr->rkey, 0), 0);
	CU_ASSERT_EQUAL_FATAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_INV_REQ_ERR);
	CU_ASSERT_EQUAL(memcmp(B.buf + 4096, before, sizeof(before)), 0);
	pair_down();
}

static void test_atomic_write_without_remote_write_is_rem_access_err(void)
{
	uint64_t value = 0x1234, *target;
	struct ibv_mr *mr;
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	target = (uint64_t *)(B.buf + 65536);
	*target = 7;
	/* REMOTE_ATOMIC is not enough: ATOMIC WRITE needs REMOTE_WRITE */
	mr = ibv_reg_mr(B.pd, B.buf + 65536, 4096,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memcpy(A.buf, &value, sizeof(value));
	CU_ASSERT_EQUAL(aw_post(&A, 0, (uintptr_t)target, mr->rkey, 0), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_EQUAL(*target, 7);
	ibv_dereg_mr(mr);
	pair_down();
}

static void test_atomic_write_of_other_than_8_bytes_is_einval(void)
{
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	memset(&wr, 0, sizeof(wr));
	sge.addr = (uintptr_t)A.buf;
	sge.length = 4;
	sge.lkey = A.mr->lkey;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_ATOMIC_WRITE;
	wr.wr.rdma.remote_addr = (uintptr_t)B.buf;
	wr.wr.rdma.rkey = B.mr->rkey;
	CU_ASSERT_EQUAL(ibv_post_send(A.qp, &wr, &bad), EINVAL);
	CU_ASSERT_PTR_EQUAL(bad, &wr);
	sge.length = 16;
	CU_ASSERT_EQUAL(ibv_post_send(A.qp, &wr, &bad), EINVAL);
	pair_down();
}

/* Brings a UC QP to RTS, connected to itself: enough to post on it. */
static int aw_uc_ready(struct rt_side *s)
{
	struct ibv_qp_attr at;

	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	at.qp_access_flags = IBV_ACCESS_REMOTE_WRITE;
	if (ibv_modify_qp(s->qp, &at,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = IBV_MTU_1024;
	at.dest_qp_num = s->qp->qp_num;
	at.ah_attr.is_global = 1;
	at.ah_attr.grh.dgid = s->gid;
	at.ah_attr.grh.hop_limit = 1;
	at.ah_attr.port_num = 1;
	if (ibv_modify_qp(s->qp, &at,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	return ibv_modify_qp(s->qp, &at, IBV_QP_STATE | IBV_QP_SQ_PSN) ? -1 : 0;
}

static void test_atomic_write_on_uc_qp_is_einval(void)
{
	struct rt_side s;
	struct ibv_wc wc;

	if (rt_side_init(&s, "srxe0", IBV_QPT_UC, IBV_ACCESS_LOCAL_WRITE, 4)) {
		rt_side_fini(&s);
		SODP_SKIP("cannot open srxe0");
	}
	CU_ASSERT_EQUAL_FATAL(aw_uc_ready(&s), 0);
	CU_ASSERT_EQUAL(aw_post(&s, 0, (uintptr_t)s.buf + 64, s.mr->rkey, 0), EINVAL);
	CU_ASSERT_EQUAL(ibv_poll_cq(s.cq, 1, &wc), 0);
	rt_side_fini(&s);
}

static void test_atomic_write_on_ud_qp_is_einval(void)
{
	struct rt_side s;
	struct ibv_wc wc;

	if (rt_side_init(&s, "srxe0", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 4)) {
		rt_side_fini(&s);
		SODP_SKIP("cannot open srxe0");
	}
	CU_ASSERT_EQUAL_FATAL(rt_ud_ready(s.qp, 1), 0);
	CU_ASSERT_EQUAL(aw_post(&s, 0, (uintptr_t)s.buf + 64, s.mr->rkey, 0), EINVAL);
	CU_ASSERT_EQUAL(ibv_poll_cq(s.cq, 1, &wc), 0);
	rt_side_fini(&s);
}

static void test_rnr_retry_then_success_and_exhaustion(void)
{
	struct rt_conn_opts o = *rt_default_opts();
	struct ibv_wc wc;
	struct timespec ts = {0, 30000000};

	/* RNR with retries left: the receive posted late still gets the data */
	PAIR_OR_SKIP(&o, 10, 20);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND, 0, 50, 0, 0), 0);
	nanosleep(&ts, NULL);
	CU_ASSERT_EQUAL(rt_post_recv(&B, 1, 0, 100), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
	pair_down();

	o.rnr_retry = 1;
	PAIR_OR_SKIP(&o, 10, 20);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND, 0, 50, 0, 0), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_RNR_RETRY_EXC_ERR);
	pair_down();
}

static void test_retry_exceeded_when_peer_is_gone(void)
{
	struct rt_conn_opts o = *rt_default_opts();
	struct ibv_qp_attr at = {.qp_state = IBV_QPS_RESET};
	struct ibv_wc wc;

	o.timeout = 8; /* ~1 ms */
	o.retry_cnt = 2;
	PAIR_OR_SKIP(&o, 10, 20);
	CU_ASSERT_EQUAL(ibv_modify_qp(B.qp, &at, IBV_QP_STATE), 0);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_RDMA_WRITE, 0, 50, (uintptr_t)B.buf, B.mr->rkey), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_RETRY_EXC_ERR);
	pair_down();
}

static void test_error_state_flushes_all_wrs(void)
{
	struct ibv_qp_attr at = {.qp_state = IBV_QPS_ERR};
	struct ibv_wc wc;
	int i;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	for (i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(rt_post_recv(&B, 100 + i, 0, 100), 0);
	CU_ASSERT_EQUAL(ibv_modify_qp(B.qp, &at, IBV_QP_STATE), 0);
	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_WR_FLUSH_ERR);
		CU_ASSERT_EQUAL(wc.wr_id, (uint64_t)(100 + i));
	}
	/* posting in the error state completes at once with a flush error */
	CU_ASSERT_EQUAL(rt_post(&B, IBV_WR_SEND, 0, 10, 0, 0), 0);
	CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_WR_FLUSH_ERR);
	pair_down();
}

static void test_unmapped_buffer_gives_error_not_signal(void)
{
	struct ibv_wc wc;
	uint8_t *victim;
	struct ibv_mr *mr;
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	victim = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_NOT_EQUAL_FATAL(victim, MAP_FAILED);
	mr = ibv_reg_mr(A.pd, victim, 8192, IBV_ACCESS_LOCAL_WRITE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	munmap(victim, 8192);
	memset(&wr, 0, sizeof(wr));
	sge.addr = (uintptr_t)victim;
	sge.length = 4096;
	sge.lkey = mr->lkey;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)B.buf;
	wr.wr.rdma.rkey = B.mr->rkey;
	CU_ASSERT_EQUAL(ibv_post_send(A.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_LOC_PROT_ERR);
	ibv_dereg_mr(mr);
	pair_down();
}

static void test_retransmission_under_loss(void)
{
	struct rt_conn_opts o = *rt_default_opts();
	struct ibv_wc wc;
	int i, ok = 0;

	setenv("SOFTODP_IMPAIR", getenv("RT_IMPAIR") ? getenv("RT_IMPAIR") : "drop=10%,seed=42", 1);
	o.timeout = RT_ACK_TIMEOUT > 12 ? RT_ACK_TIMEOUT
					: 12; /* >= ~17 ms: sanitizer builds are slow */
	o.min_rnr_timer = 1;
	if (pair_up(&o, 0xfffff0, 0x10)) {
		unsetenv("SOFTODP_IMPAIR");
		pair_down();
		SODP_SKIP("cannot open devices");
	}
	unsetenv("SOFTODP_IMPAIR");
	rt_fill(A.buf, 65536, 5);
	rt_fill(B.buf + 131072, 65536, 6);
	for (i = 0; i < 20; i++) {
		CU_ASSERT_EQUAL(rt_post_recv(&B, i, 65536, 65536), 0);
		CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND, 0, 65536, 0, 0), 0);
		CU_ASSERT_EQUAL(
			rt_post(&A, IBV_WR_RDMA_WRITE, 0, 65536, (uintptr_t)B.buf, B.mr->rkey), 0);
		CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_RDMA_READ, 131072, 65536,
					(uintptr_t)B.buf + 131072, B.mr->rkey),
				0);
		CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_ATOMIC_FETCH_AND_ADD, 262144, 8,
					(uintptr_t)B.buf + 262144, B.mr->rkey),
				0);
		while (rt_poll(A.cq, &wc) == 1) {
			CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
			if (wc.status != IBV_WC_SUCCESS) {
				printf("\n    status %s\n", ibv_wc_status_str(wc.status));
				break;
			}
			if (wc.qp_num == A.qp->qp_num && wc.opcode == IBV_WC_FETCH_ADD)
				break;
			if (wc.opcode == IBV_WC_RECV)
				ok++;
		}
		CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	}
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf, 65536), 0);
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf + 65536, 65536), 0);
	CU_ASSERT_EQUAL(memcmp(A.buf + 131072, B.buf + 131072, 65536), 0);
	(void)ok;
	pair_down();
}

/*
 * ---- RC under packet loss, duplication and reordering ----
 *
 * Every test below runs once per impairment profile and seed: drop only,
 * duplicate only, reorder only and all three together, each with
 * LOSS_NSEEDS fixed seeds (RT_SEED_BASE moves them, to run many). Both
 * devices impair what they send, so requests and responses (ACKs, NAKs, RNR
 * NAKs, READ responses, atomic ACKs) are lost, repeated and overtaken. Each
 * case checks every completion (status, order, opcode, length, immediate)
 * and every byte, and must finish within LOSS_CASE_MS.
 */
#define LOSS_NSEEDS  3
#define LOSS_CASE_MS 20000
#define LOSS_SLOT    16384 /* bytes per message region */

static const char *const loss_profiles[] = {
	"drop=10%",
	"dup=20%",
	"reorder=20%",
	"drop=8%,dup=8%,reorder=8%",
};

static unsigned int loss_seed(int i)
{
	const char *base = getenv("RT_SEED_BASE");

	return (base ? (unsigned int)strtoul(base, NULL, 0) : 1) + (unsigned int)i * 1000;
}

/* Connects A and B with impairment @profile and @seed on both devices. */
static int loss_pair_up(const char *profile, unsigned int seed, uint32_t a_psn, uint32_t b_psn,
			uint8_t rnr_retry, uint8_t min_rnr_timer)
{
	struct rt_conn_opts o = *rt_default_opts();
	char spec[128];
	int ret;

	snprintf(spec, sizeof(spec), "%s,seed=%u", profile, seed);
	setenv("SOFTODP_IMPAIR", spec, 1);
	o.timeout = RT_ACK_TIMEOUT > 12 ? RT_ACK_TIMEOUT
					: 12; /* >= ~17 ms: sanitizer builds are slow */
	o.retry_cnt = 7;
	o.rnr_retry = rnr_retry;
	o.min_rnr_timer = min_rnr_timer;
	ret = pair_up(&o, a_psn, b_psn);
	unsetenv("SOFTODP_IMPAIR");
	if (ret)
		CU_FAIL("cannot connect the QPs");
	return ret;
}

/* A's work request (struct rt_wr fields) towards B's memory, under B's rkey. */
#define a_post(...) rt_post_wr(&A, &(struct rt_wr){.rkey = B.mr->rkey, __VA_ARGS__})

/* Polls one completion until @end (ms); 1, or 0 when the time is up. */
static int loss_poll(struct ibv_cq *cq, struct ibv_wc *wc, uint64_t end)
{
	struct timespec ts = {0, 20000};
	int n;

	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n;
		if (rt_ms() >= end)
			return 0;
		nanosleep(&ts, NULL);
	}
}

/* Checks the next completion of @s: in order, successful, the expected kind. */
static bool loss_expect(struct rt_side *s, uint64_t end, uint64_t wr_id, enum ibv_wc_opcode op,
			int byte_len, int imm)
{
	struct ibv_wc wc;

	if (loss_poll(s->cq, &wc, end) != 1) {
		printf("\n    no completion for wr_id %llu\n", (unsigned long long)wr_id);
		CU_FAIL("completion missing");
		return false;
	}
	if (wc.status != IBV_WC_SUCCESS || wc.wr_id != wr_id || wc.opcode != op ||
	    (byte_len >= 0 && wc.byte_len != (uint32_t)byte_len) ||
	    (imm >= 0 &&
	     (!(wc.wc_flags & IBV_WC_WITH_IMM) || be32toh(wc.imm_data) != (uint32_t)imm)) ||
	    (imm < 0 && (wc.wc_flags & IBV_WC_WITH_IMM))) {
		printf("\n    wr_id %llu (want %llu) status %s opcode %d (want %d) len %u (want "
		       "%d)\n",
		       (unsigned long long)wc.wr_id, (unsigned long long)wr_id,
		       ibv_wc_status_str(wc.status), wc.opcode, op, wc.byte_len, byte_len);
		CU_FAIL("unexpected completion");
		return false;
	}
	return true;
}

/* Nothing more may complete: no duplicate or spurious completion. */
static bool loss_expect_idle(void)
{
	struct ibv_wc wc;
	bool ok = ibv_poll_cq(A.cq, 1, &wc) == 0 && ibv_poll_cq(B.cq, 1, &wc) == 0;

	CU_ASSERT(ok);
	return ok;
}

static bool loss_bytes_equal(const uint8_t *a, const uint8_t *b, size_t n, const char *what, int i)
{
	if (!memcmp(a, b, n))
		return true;
	printf("\n    %s %d: data differs\n", what, i);
	CU_FAIL("data differs");
	return false;
}

/* Says how to rerun a failed case, and where each side's QP ended up. */
static void loss_report(const char *name, const char *profile, unsigned int seed)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr at;
	struct rt_side *s[2] = {&A, &B};
	int i;

	printf("\n    %s failed with SOFTODP_IMPAIR=\"%s,seed=%u\"", name, profile, seed);
	for (i = 0; i < 2; i++)
		if (s[i]->qp && !ibv_query_qp(s[i]->qp, &at, IBV_QP_STATE, &init))
			printf(", %c in state %d", 'A' + i, at.qp_state);
	printf("\n");
}

typedef bool (*loss_case_fn)(const char *profile, unsigned int seed);

/* Runs @fn for every profile and seed; reports the ones that fail. */
static void loss_run(const char *name, loss_case_fn fn)
{
	unsigned int p, i;

	if (pair_up(rt_default_opts(), 1, 2)) {
		pair_down();
		SODP_SKIP("cannot bind UDP 4791 on 127.0.0.1/127.0.0.2");
	}
	pair_down();
	for (p = 0; p < sizeof(loss_profiles) / sizeof(loss_profiles[0]); p++) {
		for (i = 0; i < LOSS_NSEEDS; i++) {
			unsigned int seed = loss_seed(i);

			if (!fn(loss_profiles[p], seed))
				loss_report(name, loss_profiles[p], seed);
			pair_down();
		}
	}
}

/* Multi-packet SENDs, with and without immediate data, at the PSN wrap. */
#define LOSS_NSEND 12
static const uint32_t loss_send_len[LOSS_NSEND] = {
	0, 1, 1023, 1024, 1025, 2048, 4097, 5000, 8192, 12345, 16384, 3,
};

static bool loss_case_send(const char *profile, unsigned int seed)
{
	uint64_t end;
	int i;

	if (loss_pair_up(profile, seed, 0xfffff8, 0xfffff0, 7, 1))
		return false;
	end = rt_ms() + LOSS_CASE_MS;
	for (i = 0; i < LOSS_NSEND; i++) {
		rt_fill(A.buf + i * LOSS_SLOT, LOSS_SLOT, seed + i);
		CU_ASSERT_EQUAL_FATAL(rt_post_recv(&B, 100 + i, i * LOSS_SLOT, LOSS_SLOT), 0);
	}
	for (i = 0; i < LOSS_NSEND; i++)
		CU_ASSERT_EQUAL_FATAL(a_post(.op = i & 1 ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND,
					     .wr_id = i, .off = i * LOSS_SLOT,
					     .len = loss_send_len[i], .imm = 0x5000 + i),
				      0);
	for (i = 0; i < LOSS_NSEND; i++)
		if (!loss_expect(&A, end, i, IBV_WC_SEND, -1, -1))
			return false;
	for (i = 0; i < LOSS_NSEND; i++) {
		if (!loss_expect(&B, end, 100 + i, IBV_WC_RECV, loss_send_len[i],
				 i & 1 ? 0x5000 + i : -1))
			return false;
		if (!loss_bytes_equal(A.buf + i * LOSS_SLOT, B.buf + i * LOSS_SLOT,
				      loss_send_len[i], "SEND", i))
			return false;
	}
	return loss_expect_idle();
}

static void test_loss_send_multi_packet(void)
{
	loss_run("send", loss_case_send);
}

/* Multi-packet WRITEs; every other one with immediate data. */
static bool loss_case_write(const char *profile, unsigned int seed)
{
	uint64_t end;
	int i, nimm = 0;

	if (loss_pair_up(profile, seed, 0x7ffff0, 0x10, 7, 1))
		return false;
	end = rt_ms() + LOSS_CASE_MS;
	for (i = 0; i < LOSS_NSEND; i++) {
		rt_fill(A.buf + i * LOSS_SLOT, LOSS_SLOT, seed * 3 + i);
		if (i & 1)
			CU_ASSERT_EQUAL_FATAL(rt_post_recv(&B, 200 + i, 0, 0), 0);
	}
	for (i = 0; i < LOSS_NSEND; i++)
		CU_ASSERT_EQUAL_FATAL(
			a_post(.op = i & 1 ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE,
			       .wr_id = i, .off = i * LOSS_SLOT, .len = loss_send_len[i],
			       .raddr = (uintptr_t)B.buf + 262144 + i * LOSS_SLOT,
			       .imm = 0x7000 + i),
			0);
	for (i = 0; i < LOSS_NSEND; i++)
		if (!loss_expect(&A, end, i, IBV_WC_RDMA_WRITE, -1, -1))
			return false;
	for (i = 1; i < LOSS_NSEND; i += 2, nimm++)
		if (!loss_expect(&B, end, 200 + i, IBV_WC_RECV_RDMA_WITH_IMM, loss_send_len[i],
				 0x7000 + i))
			return false;
	for (i = 0; i < LOSS_NSEND; i++)
		if (!loss_bytes_equal(A.buf + i * LOSS_SLOT, B.buf + 262144 + i * LOSS_SLOT,
				      loss_send_len[i], "WRITE", i))
			return false;
	CU_ASSERT_EQUAL(nimm, LOSS_NSEND / 2);
	return loss_expect_idle();
}

static void test_loss_write_multi_packet(void)
{
	loss_run("write", loss_case_write);
}

/* Multi-packet READs: responses are lost, repeated and reordered too. */
static bool loss_case_read(const char *profile, unsigned int seed)
{
	uint64_t end;
	int i;

	if (loss_pair_up(profile, seed, 0x100, 0xfffffe, 7, 1))
		return false;
	end = rt_ms() + LOSS_CASE_MS;
	rt_fill(B.buf, RT_BUF, seed * 5);
	for (i = 0; i < LOSS_NSEND; i++)
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_RDMA_READ, .wr_id = i,
					     .off = i * LOSS_SLOT, .len = loss_send_len[i],
					     .raddr = (uintptr_t)B.buf + 300000 + i * LOSS_SLOT),
				      0);
	for (i = 0; i < LOSS_NSEND; i++) {
		if (!loss_expect(&A, end, i, IBV_WC_RDMA_READ, loss_send_len[i], -1))
			return false;
		if (!loss_bytes_equal(A.buf + i * LOSS_SLOT, B.buf + 300000 + i * LOSS_SLOT,
				      loss_send_len[i], "READ", i))
			return false;
	}
	return loss_expect_idle();
}

static void test_loss_read_multi_packet(void)
{
	loss_run("read", loss_case_read);
}

/*
 * Atomics execute exactly once: a chain of FETCH_ADDs and CMP_SWAPs on one
 * target, where a duplicate executed twice would change the final value or
 * a returned original value.
 */
#define LOSS_NATOMIC 24

static bool loss_case_atomic(const char *profile, unsigned int seed)
{
	uint64_t v[LOSS_NATOMIC + 1], *target, *orig;
	uint64_t end;
	int i;

	if (loss_pair_up(profile, seed, 0xfffffa, 0x20, 7, 1))
		return false;
	end = rt_ms() + LOSS_CASE_MS;
	target = (uint64_t *)(B.buf + 65536);
	orig = (uint64_t *)A.buf;
	/* v[i] is the target before atomic i: adds of i + 1, swaps to a new value */
	v[0] = 1000 + seed;
	for (i = 0; i < LOSS_NATOMIC; i++)
		v[i + 1] = i % 3 == 2 ? 1000000 + 7 * (uint64_t)i : v[i] + (uint64_t)i + 1;
	*target = v[0];
	for (i = 0; i < LOSS_NATOMIC; i++) {
		bool cas = i % 3 == 2;

		orig[i] = ~0ULL;
		CU_ASSERT_EQUAL_FATAL(
			a_post(.op = cas ? IBV_WR_ATOMIC_CMP_AND_SWP : IBV_WR_ATOMIC_FETCH_AND_ADD,
			       .wr_id = i, .off = i * 8, .len = 8, .raddr = (uintptr_t)target,
			       .compare_add = cas ? v[i] : (uint64_t)i + 1,
			       .swap = cas ? v[i + 1] : 0),
			0);
	}
	for (i = 0; i < LOSS_NATOMIC; i++) {
		if (!loss_expect(&A, end, i, i % 3 == 2 ? IBV_WC_COMP_SWAP : IBV_WC_FETCH_ADD, 8,
				 -1))
			return false;
		if (orig[i] != v[i]) {
			printf("\n    atomic %d: original %llu, want %llu\n", i,
			       (unsigned long long)orig[i], (unsigned long long)v[i]);
			CU_FAIL("atomic executed more than once or out of order");
			return false;
		}
	}
	CU_ASSERT_EQUAL(*target, v[LOSS_NATOMIC]);
	if (*target != v[LOSS_NATOMIC])
		return false;
	return loss_expect_idle();
}

static void test_loss_atomics_execute_once(void)
{
	loss_run("atomic", loss_case_atomic);
}

/*
 * Each round: an ATOMIC WRITE, then an RDMA WRITE over the same 8 bytes. A
 * duplicate of the ATOMIC WRITE that stored again would undo the RDMA WRITE
 * (whose own duplicate is only acknowledged), so every target must end with
 * the RDMA WRITE's bytes. (A READ would not tell: a duplicate READ reads
 * memory again, by design.)
 */
#define LOSS_NAW 16

static bool loss_case_atomic_write(const char *profile, unsigned int seed)
{
	uint64_t *target, *aw_src, *w_src, end;
	int r;

	if (loss_pair_up(profile, seed, 0xfffff0, 0xffffe8, 7, 1))
		return false;
	target = (uint64_t *)(B.buf + 1040000);
	aw_src = (uint64_t *)A.buf;
	w_src = (uint64_t *)(A.buf + 4096);
	end = rt_ms() + LOSS_CASE_MS;
	for (r = 0; r < LOSS_NAW; r++) {
		aw_src[r] = 0xa000000000000000ULL | ((uint64_t)seed << 16) | (uint64_t)r;
		w_src[r] = 0xb000000000000000ULL | ((uint64_t)seed << 16) | (uint64_t)r;
		target[r] = 0;
	}
	for (r = 0; r < LOSS_NAW; r++) {
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_ATOMIC_WRITE, .wr_id = 2 * r,
					     .off = (uint32_t)r * 8, .len = 8,
					     .raddr = (uintptr_t)&target[r]),
				      0);
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_RDMA_WRITE, .wr_id = 2 * r + 1,
					     .off = 4096 + (uint32_t)r * 8, .len = 8,
					     .raddr = (uintptr_t)&target[r]),
				      0);
	}
	for (r = 0; r < LOSS_NAW; r++)
		if (!loss_expect(&A, end, 2 * r, IBV_WC_ATOMIC_WRITE, 8, -1) ||
		    !loss_expect(&A, end, 2 * r + 1, IBV_WC_RDMA_WRITE, -1, -1))
			return false;
	for (r = 0; r < LOSS_NAW; r++) {
		if (target[r] != w_src[r]) {
			printf("\n    round %d: target %#llx, want %#llx\n", r,
			       (unsigned long long)target[r], (unsigned long long)w_src[r]);
			CU_FAIL("ATOMIC WRITE stored more than once");
			return false;
		}
	}
	return loss_expect_idle();
}

static void test_loss_atomic_write_stores_once(void)
{
	loss_run("atomic_write", loss_case_atomic_write);
}

/*
 * All four kinds pipelined: a READ or an atomic between SENDs and WRITEs is
 * where an ACK coalescing over several messages, an ACK past a missing READ
 * response and a retry resuming inside a message meet.
 */
#define LOSS_NROUND 8

static bool loss_case_mixed(const char *profile, unsigned int seed)
{
	uint64_t *target, *orig, end, sum = 0;
	int r;

	if (loss_pair_up(profile, seed, 0xffffe0, 0xffffd0, 7, 1))
		return false;
	target = (uint64_t *)(B.buf + 1040000);
	orig = (uint64_t *)(A.buf + 1040000);
	end = rt_ms() + LOSS_CASE_MS;
	rt_fill(A.buf, 4 * LOSS_SLOT, seed * 7);
	rt_fill(B.buf + 600000, 300000, seed * 11);
	*target = 0;
	for (r = 0; r < LOSS_NROUND; r++) {
		uint32_t len = 3000 + (uint32_t)r * 1111;

		CU_ASSERT_EQUAL_FATAL(rt_post_recv(&B, 300 + r, 200000 + r * LOSS_SLOT, LOSS_SLOT),
				      0);
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_SEND, .wr_id = 5 * r, .len = len), 0);
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_RDMA_WRITE, .wr_id = 5 * r + 1,
					     .off = LOSS_SLOT, .len = len + 7,
					     .raddr = (uintptr_t)B.buf + 400000 + r * LOSS_SLOT),
				      0);
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_RDMA_READ, .wr_id = 5 * r + 2,
					     .off = 131072 + r * LOSS_SLOT, .len = len + 13,
					     .raddr = (uintptr_t)B.buf + 600000 + r * LOSS_SLOT),
				      0);
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_ATOMIC_FETCH_AND_ADD, .wr_id = 5 * r + 3,
					     .off = 1040000 + r * 8, .len = 8,
					     .raddr = (uintptr_t)target, .compare_add = r + 1),
				      0);
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_RDMA_WRITE, .wr_id = 5 * r + 4,
					     .off = 2 * LOSS_SLOT, .len = 1024,
					     .raddr = (uintptr_t)B.buf + 800000 + r * 1024),
				      0);
	}
	for (r = 0; r < LOSS_NROUND; r++) {
		uint32_t len = 3000 + (uint32_t)r * 1111;

		if (!loss_expect(&A, end, 5 * r, IBV_WC_SEND, -1, -1) ||
		    !loss_expect(&A, end, 5 * r + 1, IBV_WC_RDMA_WRITE, -1, -1) ||
		    !loss_expect(&A, end, 5 * r + 2, IBV_WC_RDMA_READ, len + 13, -1) ||
		    !loss_expect(&A, end, 5 * r + 3, IBV_WC_FETCH_ADD, 8, -1) ||
		    !loss_expect(&A, end, 5 * r + 4, IBV_WC_RDMA_WRITE, -1, -1) ||
		    !loss_expect(&B, end, 300 + r, IBV_WC_RECV, len, -1))
			return false;
		if (!loss_bytes_equal(A.buf, B.buf + 200000 + r * LOSS_SLOT, len, "SEND", r) ||
		    !loss_bytes_equal(A.buf + LOSS_SLOT, B.buf + 400000 + r * LOSS_SLOT, len + 7,
				      "WRITE", r) ||
		    !loss_bytes_equal(A.buf + 131072 + r * LOSS_SLOT,
				      B.buf + 600000 + r * LOSS_SLOT, len + 13, "READ", r) ||
		    !loss_bytes_equal(A.buf + 2 * LOSS_SLOT, B.buf + 800000 + r * 1024, 1024,
				      "WRITE-1", r))
			return false;
		if (orig[r] != sum) {
			printf("\n    fetch-add %d: original %llu, want %llu\n", r,
			       (unsigned long long)orig[r], (unsigned long long)sum);
			CU_FAIL("atomic executed more than once");
			return false;
		}
		sum += (uint64_t)r + 1;
	}
	CU_ASSERT_EQUAL(*target, sum);
	return *target == sum && loss_expect_idle();
}

static void test_loss_mixed_pipeline(void)
{
	loss_run("mixed", loss_case_mixed);
}

/*
 * Receive buffers posted late: RNR NAKs are lost, repeated and reordered
 * while the requester waits. The RNR timer (5.12 ms) is longer than the gap
 * between two receives (3 ms), so each SEND needs one or two RNR retries.
 * Copies of an RNR NAK that arrive while the requester waits must not use
 * up retries. One held back past the retransmission is indistinguishable
 * from a new one (RC assumes responses arrive in order), hence the margin
 * in rnr_retry 6.
 */
static bool loss_case_rnr(const char *profile, unsigned int seed)
{
	struct timespec ts = {0, 3000000};
	uint64_t end;
	int i;

	if (loss_pair_up(profile, seed, 0x300, 0x400, 6, 18))
		return false;
	end = rt_ms() + LOSS_CASE_MS;
	rt_fill(A.buf, 4 * LOSS_SLOT, seed);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL_FATAL(
			a_post(.op = IBV_WR_SEND, .wr_id = i, .off = i * LOSS_SLOT, .len = 3000),
			0);
	for (i = 0; i < 4; i++) {
		nanosleep(&ts, NULL);
		CU_ASSERT_EQUAL_FATAL(rt_post_recv(&B, 400 + i, i * LOSS_SLOT, LOSS_SLOT), 0);
	}
	for (i = 0; i < 4; i++) {
		if (!loss_expect(&A, end, i, IBV_WC_SEND, -1, -1) ||
		    !loss_expect(&B, end, 400 + i, IBV_WC_RECV, 3000, -1) ||
		    !loss_bytes_equal(A.buf + i * LOSS_SLOT, B.buf + i * LOSS_SLOT, 3000, "SEND",
				      i))
			return false;
	}
	return loss_expect_idle();
}

static void test_loss_rnr_with_late_receives(void)
{
	loss_run("rnr", loss_case_rnr);
}

/*
 * Reordering overtakes, it does not delay without bound: a packet held back
 * leaves, at the latest, with the batch of the engine round that held it.
 * With reorder=100% on both devices every lone packet is held back: a
 * request posted on an idle QP, and the ACK, READ response or atomic ACK
 * that answers it. Kept until its device sends again, each would wait for
 * the requester's retransmission timer (and the answer to that one for the
 * next timeout); with retry_cnt 0 one timeout is RETRY_EXC_ERR, so each
 * message here must complete on its first transmission. The timeout is long
 * (~1 s) so that only a packet that never leaves, not a slow engine, fails.
 */
static void test_loss_held_back_packet_leaves_with_its_batch(void)
{
	struct rt_conn_opts o = *rt_default_opts();
	uint64_t *target, end;
	int ret, i;

	setenv("SOFTODP_IMPAIR", "reorder=100%,seed=7", 1);
	o.timeout = 18;
	o.retry_cnt = 0;
	ret = pair_up(&o, 0x500, 0x600);
	unsetenv("SOFTODP_IMPAIR");
	if (ret) {
		pair_down();
		SODP_SKIP("cannot bind UDP 4791 on 127.0.0.1/127.0.0.2");
	}
	end = rt_ms() + LOSS_CASE_MS;
	rt_fill(A.buf, LOSS_SLOT, 5);
	rt_fill(B.buf + LOSS_SLOT, LOSS_SLOT, 6);
	target = (uint64_t *)(B.buf + 3 * LOSS_SLOT);
	*target = 10;
	for (i = 0; i < 4; i++) {
		/* one message at a time: nothing follows it to overtake it */
		CU_ASSERT_EQUAL_FATAL(rt_post_recv(&B, 300 + i, 0, 64), 0);
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_SEND, .wr_id = 4 * i, .len = 64), 0);
		if (!loss_expect(&A, end, 4 * i, IBV_WC_SEND, -1, -1) ||
		    !loss_expect(&B, end, 300 + i, IBV_WC_RECV, 64, -1))
			goto out;
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_RDMA_WRITE, .wr_id = 4 * i + 1,
					     .len = 100, .raddr = (uintptr_t)B.buf + 2 * LOSS_SLOT),
				      0);
		if (!loss_expect(&A, end, 4 * i + 1, IBV_WC_RDMA_WRITE, -1, -1))
			goto out;
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_RDMA_READ, .wr_id = 4 * i + 2,
					     .off = LOSS_SLOT, .len = 200,
					     .raddr = (uintptr_t)B.buf + LOSS_SLOT),
				      0);
		if (!loss_expect(&A, end, 4 * i + 2, IBV_WC_RDMA_READ, 200, -1))
			goto out;
		CU_ASSERT_EQUAL_FATAL(a_post(.op = IBV_WR_ATOMIC_FETCH_AND_ADD, .wr_id = 4 * i + 3,
					     .off = 2 * LOSS_SLOT, .len = 8,
					     .raddr = (uintptr_t)target, .compare_add = 1),
				      0);
		if (!loss_expect(&A, end, 4 * i + 3, IBV_WC_FETCH_ADD, 8, -1))
			goto out;
		CU_ASSERT_EQUAL(*(uint64_t *)(A.buf + 2 * LOSS_SLOT), 10 + (uint64_t)i);
	}
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf, 64), 0);
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf + 2 * LOSS_SLOT, 100), 0);
	CU_ASSERT_EQUAL(memcmp(A.buf + LOSS_SLOT, B.buf + LOSS_SLOT, 200), 0);
	CU_ASSERT_EQUAL(*target, 14);
	loss_expect_idle();
out:
	pair_down();
}

static int wait_async(struct ibv_context *ctx, enum ibv_event_type type)
{
	struct pollfd p = {.fd = ctx->async_fd, .events = POLLIN};
	struct ibv_async_event ev;
	int i;

	for (i = 0; i < 10; i++) {
		if (poll(&p, 1, 500) != 1)
			return -1;
		if (ibv_get_async_event(ctx, &ev))
			return -1;
		ibv_ack_async_event(&ev);
		if (ev.event_type == type)
			return 0;
	}
	return -1;
}

static void test_srq_receive_and_limit_event(void)
{
	struct ibv_srq_init_attr sa = {.attr = {.max_wr = 16, .max_sge = 1}};
	struct ibv_qp_init_attr ia;
	struct ibv_srq_attr lim = {.srq_limit = 3};
	struct ibv_srq *srq;
	struct ibv_qp *qp2;
	struct ibv_wc wc;
	int i;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	srq = ibv_create_srq(B.pd, &sa);
	CU_ASSERT_PTR_NOT_NULL_FATAL(srq);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = B.cq;
	ia.recv_cq = B.cq;
	ia.srq = srq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 4;
	ia.cap.max_send_sge = 1;
	qp2 = ibv_create_qp(B.pd, &ia);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp2);
	/* swap B's QP for the SRQ one and reconnect */
	ibv_destroy_qp(B.qp);
	B.qp = qp2;
	{
		struct ibv_qp_init_attr ia2 = ia;
		struct ibv_qp *qa;

		ia2.srq = NULL;
		ia2.send_cq = A.cq;
		ia2.recv_cq = A.cq;
		ia2.cap.max_recv_wr = 4;
		ia2.cap.max_recv_sge = 1;
		qa = ibv_create_qp(A.pd, &ia2);
		CU_ASSERT_PTR_NOT_NULL_FATAL(qa);
		ibv_destroy_qp(A.qp);
		A.qp = qa;
	}
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, rt_default_opts(), 1, 2), 0);
	for (i = 0; i < 5; i++) {
		struct ibv_sge sge = {(uintptr_t)B.buf + i * 128, 128, B.mr->lkey};
		struct ibv_recv_wr wr = {.wr_id = i, .sg_list = &sge, .num_sge = 1}, *bad;

		CU_ASSERT_EQUAL(ibv_post_srq_recv(srq, &wr, &bad), 0);
	}
	CU_ASSERT_EQUAL(ibv_modify_srq(srq, &lim, IBV_SRQ_LIMIT), 0);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND, 0, 100, 0, 0), 0);
		CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
		CU_ASSERT_EQUAL(wc.wr_id, (uint64_t)i);
		CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	}
	CU_ASSERT_EQUAL(wait_async(B.ctx, IBV_EVENT_SRQ_LIMIT_REACHED), 0);
	CU_ASSERT_EQUAL(ibv_query_srq(srq, &lim), 0);
	CU_ASSERT_EQUAL(lim.srq_limit, 0);
	CU_ASSERT_EQUAL(ibv_destroy_srq(srq), EBUSY);
	ibv_destroy_qp(B.qp);
	B.qp = NULL;
	CU_ASSERT_EQUAL(ibv_destroy_srq(srq), 0);
	pair_down();
}

static void test_ud_send_grh_and_reply_ah(void)
{
	struct rt_side U = {0}, V = {0};
	struct ibv_ah *ah, *back;
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;
	struct rt_side *s[2] = {&U, &V};
	int i;

	if (rt_side_init(&U, "srxe0", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16) ||
	    rt_side_init(&V, "srxe1", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16)) {
		rt_side_fini(&U);
		rt_side_fini(&V);
		SODP_SKIP("cannot open devices");
	}
	for (i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(rt_ud_ready(s[i]->qp, 0xffffff), 0);
	ah = rt_ah(&U, &V.gid);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ah);
	CU_ASSERT_EQUAL(rt_post_recv(&V, 9, 0, 40 + 1024), 0);
	rt_fill(U.buf + 8192, 1000, 4);
	memset(&wr, 0, sizeof(wr));
	sge.addr = (uintptr_t)U.buf + 8192;
	sge.length = 1000;
	sge.lkey = U.mr->lkey;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND_WITH_IMM;
	wr.imm_data = htobe32(7);
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = V.qp->qp_num;
	wr.wr.ud.remote_qkey = 0x80000000; /* privileged: use the QP's own Q_Key */
	CU_ASSERT_EQUAL(ibv_post_send(U.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL(rt_poll(U.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(rt_poll(V.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.byte_len, 1040);
	CU_ASSERT(wc.wc_flags & IBV_WC_GRH);
	CU_ASSERT(wc.wc_flags & IBV_WC_WITH_IMM);
	CU_ASSERT_EQUAL(wc.src_qp, U.qp->qp_num);
	CU_ASSERT_EQUAL(memcmp(V.buf + 40, U.buf + 8192, 1000), 0);
	/* IPv4 header in the last 20 bytes of the GRH: source 127.0.0.1 */
	CU_ASSERT_EQUAL(V.buf[20] >> 4, 4);
	CU_ASSERT_EQUAL(memcmp(V.buf + 32, "\x7f\x00\x00\x01", 4), 0);
	back = ibv_create_ah_from_wc(V.pd, &wc, (struct ibv_grh *)V.buf, 1);
	CU_ASSERT_PTR_NOT_NULL(back);
	if (back) {
		CU_ASSERT_EQUAL(rt_post_recv(&U, 3, 0, 40 + 64), 0);
		wr.wr.ud.ah = back;
		wr.wr.ud.remote_qpn = wc.src_qp;
		wr.wr.ud.remote_qkey = 0x11111111;
		sge.addr = (uintptr_t)V.buf + 8192;
		sge.length = 64;
		sge.lkey = V.mr->lkey;
		CU_ASSERT_EQUAL(ibv_post_send(V.qp, &wr, &bad), 0);
		CU_ASSERT_EQUAL(rt_poll(V.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
		CU_ASSERT_EQUAL(rt_poll(U.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
		CU_ASSERT_EQUAL(wc.opcode, IBV_WC_RECV);
		sge.addr = (uintptr_t)U.buf + 8192;
		sge.lkey = U.mr->lkey;
		ibv_destroy_ah(back);
	}
	/* wrong Q_Key: silently dropped */
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = V.qp->qp_num;
	wr.wr.ud.remote_qkey = 0x2222;
	CU_ASSERT_EQUAL(rt_post_recv(&V, 10, 0, 2000), 0);
	CU_ASSERT_EQUAL(ibv_post_send(U.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL(rt_poll(U.cq, &wc), 1);
	{
		struct timespec ts = {0, 50000000};

		nanosleep(&ts, NULL);
	}
	CU_ASSERT_EQUAL(ibv_poll_cq(V.cq, 1, &wc), 0);
	ibv_destroy_ah(ah);
	rt_side_fini(&U);
	rt_side_fini(&V);
}

/* U sends 100 bytes from U.buf + 8192 to V's UD QP through @ah, and sees its completion. */
static void ud_send_100(struct rt_side *u, struct rt_side *v, struct ibv_ah *ah)
{
	struct ibv_sge sge = {(uintptr_t)u->buf + 8192, 100, u->mr->lkey};
	struct ibv_send_wr wr = {.sg_list = &sge,
				 .num_sge = 1,
				 .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED},
			   *bad;
	struct ibv_wc wc;

	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = v->qp->qp_num;
	wr.wr.ud.remote_qkey = 0x11111111;
	CU_ASSERT_EQUAL(ibv_post_send(u->qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL(rt_poll(u->cq, &wc), 1);
}

/*
 * Sends one UD datagram of 100 bytes from a QP on @from to a QP on @to (the
 * same device name for a loop within one device) and polls its receive into
 * @wc; @grh gets the 40 bytes before the payload. 0, or -1 when the devices
 * cannot be opened.
 */
static int ud_one_datagram(const char *from, const char *to, struct ibv_wc *wc, uint8_t grh[40])
{
	struct rt_side U = {0}, V = {0};
	struct ibv_ah *ah;

	if (rt_side_init(&U, from, IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16) ||
	    rt_side_init(&V, to, IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16)) {
		rt_side_fini(&U);
		rt_side_fini(&V);
		return -1;
	}
	CU_ASSERT_EQUAL(rt_ud_ready(U.qp, 0), 0);
	CU_ASSERT_EQUAL(rt_ud_ready(V.qp, 0), 0);
	ah = rt_ah(&U, &V.gid);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ah);
	CU_ASSERT_EQUAL(rt_post_recv(&V, 1, 0, 40 + 100), 0);
	ud_send_100(&U, &V, ah);
	memset(wc, 0, sizeof(*wc));
	CU_ASSERT_EQUAL(rt_poll(V.cq, wc), 1);
	CU_ASSERT_EQUAL(wc->status, IBV_WC_SUCCESS);
	memcpy(grh, V.buf, 40);
	ibv_destroy_ah(ah);
	rt_side_fini(&U);
	rt_side_fini(&V);
	return 0;
}

/*
 * The SL of a UD receive over RoCEv2 says which L3 header the 40 bytes before
 * the payload hold, as ConnectX providers report it: bit 3 (UDP) and type 2
 * (IPv4). A consumer reads the destination address there by it: the IPv4
 * header's daddr in the last 4 of the 40 bytes.
 */
static void test_ud_recv_sl_tells_ipv4_header(void)
{
	uint8_t grh[40];
	struct ibv_wc wc;

	if (ud_one_datagram("srxe0", "srxe1", &wc, grh))
		SODP_SKIP("cannot open devices");
	CU_ASSERT_EQUAL(wc.sl, 0x8 | 0x2);
	CU_ASSERT(wc.wc_flags & IBV_WC_GRH);
	CU_ASSERT_EQUAL(grh[20] >> 4, 4);
	CU_ASSERT_EQUAL(memcmp(grh + 36, "\x7f\x00\x00\x02", 4), 0);
}

/* The same over IPv6: type 1, and the whole 40 bytes are the IPv6 header. */
static void test_ud_recv_sl_tells_ipv6_header(void)
{
	static const uint8_t lo6[16] = {[15] = 1};
	const char *saved = getenv("SOFTODP_DEVICES");
	char *keep = saved ? strdup(saved) : NULL;
	uint8_t grh[40];
	struct ibv_wc wc;
	int ret;

	setenv("SOFTODP_DEVICES", "srxe6=[::1]", 1);
	ret = ud_one_datagram("srxe6", "srxe6", &wc, grh);
	if (keep)
		setenv("SOFTODP_DEVICES", keep, 1);
	else
		unsetenv("SOFTODP_DEVICES");
	free(keep);
	if (ret)
		SODP_SKIP("cannot open an IPv6 device on ::1");
	CU_ASSERT_EQUAL(wc.sl, 0x8 | 0x1);
	CU_ASSERT_EQUAL(grh[0] >> 4, 6);
	CU_ASSERT_EQUAL(memcmp(grh + 24, lo6, 16), 0);
}

/* ibv_wc_read_sl() of an extended CQ reads the same L3 header type. */
static void test_ud_recv_sl_read_from_cq_ex(void)
{
	struct ibv_cq_init_attr_ex ca = {
		.cqe = 16,
		.wc_flags = IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_SL | IBV_WC_EX_WITH_SRC_QP,
	};
	struct ibv_poll_cq_attr pa = {0};
	struct rt_side U = {0}, V = {0};
	struct ibv_qp_init_attr ia;
	struct ibv_cq_ex *cqx;
	struct ibv_ah *ah;
	uint64_t end;
	int ret;

	if (rt_side_init(&U, "srxe0", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16) ||
	    rt_side_init(&V, "srxe1", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16)) {
		rt_side_fini(&U);
		rt_side_fini(&V);
		SODP_SKIP("cannot open devices");
	}
	cqx = ibv_create_cq_ex(V.ctx, &ca);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cqx);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = V.cq;
	ia.recv_cq = ibv_cq_ex_to_cq(cqx);
	ia.qp_type = IBV_QPT_UD;
	ia.cap.max_send_wr = 4;
	ia.cap.max_recv_wr = 4;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	ibv_destroy_qp(V.qp);
	V.qp = ibv_create_qp(V.pd, &ia);
	CU_ASSERT_PTR_NOT_NULL_FATAL(V.qp);
	CU_ASSERT_EQUAL(rt_ud_ready(U.qp, 0), 0);
	CU_ASSERT_EQUAL(rt_ud_ready(V.qp, 0), 0);
	ah = rt_ah(&U, &V.gid);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ah);
	CU_ASSERT_EQUAL(rt_post_recv(&V, 1, 0, 40 + 100), 0);
	ud_send_100(&U, &V, ah);
	end = rt_ms() + RT_WAIT_MS;
	while ((ret = ibv_start_poll(cqx, &pa)) == ENOENT && rt_ms() < end)
		;
	CU_ASSERT_EQUAL_FATAL(ret, 0);
	CU_ASSERT_EQUAL(cqx->status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(ibv_wc_read_byte_len(cqx), 40 + 100);
	CU_ASSERT_EQUAL(ibv_wc_read_src_qp(cqx), U.qp->qp_num);
	CU_ASSERT_EQUAL(ibv_wc_read_sl(cqx), 0x8 | 0x2);
	ibv_end_poll(cqx);
	ibv_destroy_ah(ah);
	ibv_destroy_qp(V.qp);
	V.qp = NULL;
	ibv_destroy_cq(ibv_cq_ex_to_cq(cqx));
	rt_side_fini(&U);
	rt_side_fini(&V);
}

static void test_qp_ex_post_api(void)
{
	struct ibv_qp_init_attr_ex ia;
	struct ibv_qp_ex *qx;
	struct ibv_qp *qp;
	struct ibv_wc wc;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = A.cq;
	ia.recv_cq = A.cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 16;
	ia.cap.max_recv_wr = 16;
	ia.cap.max_send_sge = 2;
	ia.cap.max_recv_sge = 2;
	ia.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	ia.pd = A.pd;
	ia.send_ops_flags = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_RDMA_WRITE |
			    IBV_QP_EX_WITH_RDMA_READ | IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD;
	qp = ibv_create_qp_ex(A.ctx, &ia);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	ibv_destroy_qp(A.qp);
	A.qp = qp;
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, rt_default_opts(), 1, 2), 0);
	qx = ibv_qp_to_qp_ex(qp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qx);
	rt_fill(A.buf, 5000, 8);
	CU_ASSERT_EQUAL(rt_post_recv(&B, 1, 0, 100), 0);
	ibv_wr_start(qx);
	qx->wr_id = 11;
	qx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(qx, B.mr->rkey, (uintptr_t)B.buf + 8192);
	ibv_wr_set_sge(qx, A.mr->lkey, (uintptr_t)A.buf, 5000);
	qx->wr_id = 12;
	ibv_wr_send(qx);
	ibv_wr_set_inline_data(qx, "hello", 5);
	CU_ASSERT_EQUAL(ibv_wr_complete(qx), 0);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.wr_id, 11);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.wr_id, 12);
	CU_ASSERT_EQUAL(rt_poll(B.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.byte_len, 5);
	CU_ASSERT_EQUAL(memcmp(B.buf, "hello", 5), 0);
	CU_ASSERT_EQUAL(memcmp(B.buf + 8192, A.buf, 5000), 0);
	/* abort discards */
	ibv_wr_start(qx);
	ibv_wr_send(qx);
	ibv_wr_set_sge(qx, A.mr->lkey, (uintptr_t)A.buf, 10);
	ibv_wr_abort(qx);
	CU_ASSERT_EQUAL(ibv_poll_cq(A.cq, 1, &wc), 0);
	pair_down();
}

static void test_cq_ex_poll_and_events(void)
{
	struct ibv_cq_init_attr_ex ca = {
		.cqe = 16,
		.wc_flags = IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_QP_NUM | IBV_WC_EX_WITH_IMM,
	};
	struct ibv_poll_cq_attr pa = {0};
	struct ibv_comp_channel *ch;
	struct ibv_cq_ex *cqx;
	struct ibv_cq *ev_cq;
	void *ev_ctx;
	struct pollfd p;

	PAIR_OR_SKIP(rt_default_opts(), 10, 20);
	ch = ibv_create_comp_channel(A.ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ch);
	ca.channel = ch;
	cqx = ibv_create_cq_ex(A.ctx, &ca);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cqx);
	CU_ASSERT_EQUAL(ibv_start_poll(cqx, &pa), ENOENT);
	/* a QP whose send CQ is the extended one */
	{
		struct ibv_qp_init_attr ia;
		struct ibv_qp *qp;

		memset(&ia, 0, sizeof(ia));
		ia.send_cq = ibv_cq_ex_to_cq(cqx);
		ia.recv_cq = A.cq;
		ia.qp_type = IBV_QPT_RC;
		ia.cap.max_send_wr = 8;
		ia.cap.max_recv_wr = 8;
		ia.cap.max_send_sge = 1;
		ia.cap.max_recv_sge = 1;
		qp = ibv_create_qp(A.pd, &ia);
		CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
		ibv_destroy_qp(A.qp);
		A.qp = qp;
	}
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, rt_default_opts(), 1, 2), 0);
	CU_ASSERT_EQUAL(ibv_req_notify_cq(ibv_cq_ex_to_cq(cqx), 0), 0);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_RDMA_WRITE, 0, 777, (uintptr_t)B.buf, B.mr->rkey), 0);
	p.fd = ch->fd;
	p.events = POLLIN;
	CU_ASSERT_EQUAL(poll(&p, 1, RT_WAIT_MS), 1);
	CU_ASSERT_EQUAL(ibv_get_cq_event(ch, &ev_cq, &ev_ctx), 0);
	CU_ASSERT_PTR_EQUAL(ev_cq, ibv_cq_ex_to_cq(cqx));
	ibv_ack_cq_events(ev_cq, 1);
	CU_ASSERT_EQUAL(ibv_start_poll(cqx, &pa), 0);
	CU_ASSERT_EQUAL(cqx->status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(ibv_wc_read_opcode(cqx), IBV_WC_RDMA_WRITE);
	CU_ASSERT_EQUAL(ibv_wc_read_qp_num(cqx), A.qp->qp_num);
	CU_ASSERT_EQUAL(ibv_next_poll(cqx), ENOENT);
	ibv_end_poll(cqx);
	ibv_destroy_qp(A.qp);
	A.qp = NULL;
	CU_ASSERT_EQUAL(ibv_destroy_cq(ibv_cq_ex_to_cq(cqx)), 0);
	CU_ASSERT_EQUAL(ibv_destroy_comp_channel(ch), 0);
	pair_down();
}

/*
 * A post to an idle send queue sends its packets on the caller's thread;
 * the engine thread, asleep, is not woken for it as well.
 */
static void test_a_post_its_caller_sent_wakes_no_engine(void)
{
	struct rxe_dev *dev;
	uint64_t before, rings;
	struct ibv_wc wc;
	int i, n = 0;

	PAIR_OR_SKIP(rt_default_opts(), 5, 6);
	dev = ctx_dev(sodp_ctx(A.ctx));
	before = __atomic_load_n(&dev->doorbell_writes, __ATOMIC_RELAXED);
	for (i = 0; i < 100; i++) {
		int tries;

		CU_ASSERT_EQUAL_FATAL(
			rt_post(&A, IBV_WR_RDMA_WRITE, 0, 64, (uintptr_t)B.buf, B.mr->rkey), 0);
		/* the engine takes the ACK and falls asleep before the next post */
		for (tries = 0; tries < 1000; tries++) {
			usleep(1000);
			n = ibv_poll_cq(A.cq, 1, &wc);
			if (n)
				break;
		}
		CU_ASSERT_EQUAL_FATAL(n, 1);
		CU_ASSERT_EQUAL_FATAL(wc.status, IBV_WC_SUCCESS);
	}
	rings = __atomic_load_n(&dev->doorbell_writes, __ATOMIC_RELAXED) - before;
	/* an empty poll may leave the engine off the socket: handing it back rings */
	CU_ASSERT(rings < 20);
	if (rings >= 20)
		printf("\n    %llu doorbells for 100 posts", (unsigned long long)rings);
	pair_down();
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case rc[] = {
		{"send_multi_packet_and_imm", test_send_multi_packet_and_imm},
		{"write_read_and_write_imm", test_write_read_and_write_imm},
		{"atomics", test_atomics},
		{"psn_wrap", test_psn_wrap},
		{"atomic_write_post_send_stores_8_bytes_and_completes",
		 test_atomic_write_post_send_stores_8_bytes_and_completes},
		{"atomic_write_inline_post_send_stores_8_bytes",
		 test_atomic_write_inline_post_send_stores_8_bytes},
		{"atomic_write_qp_ex_stores_8_bytes_and_completes",
		 test_atomic_write_qp_ex_stores_8_bytes_and_completes},
		{"atomic_write_device_reports_capability",
		 test_atomic_write_device_reports_capability},
		{"qp_ex_post_api", test_qp_ex_post_api},
		{"cq_ex_poll_and_events", test_cq_ex_poll_and_events},
		{"srq_receive_and_limit_event", test_srq_receive_and_limit_event},
		{"a_post_its_caller_sent_wakes_no_engine",
		 test_a_post_its_caller_sent_wakes_no_engine},
		{NULL, NULL},
	};
	static const struct sodp_test_case errs[] = {
		{"nak_remote_access_error", test_nak_remote_access_error},
		{"nak_read_without_remote_read_access", test_nak_read_without_remote_read_access},
		{"nak_invalid_request_recv_too_small", test_nak_invalid_request_recv_too_small},
		{"nak_remote_op_error_bad_recv_lkey", test_nak_remote_op_error_bad_recv_lkey},
		{"atomic_write_misaligned_target_is_rem_inv_req_err",
		 test_atomic_write_misaligned_target_is_rem_inv_req_err},
		{"atomic_write_without_remote_write_is_rem_access_err",
		 test_atomic_write_without_remote_write_is_rem_access_err},
		{"atomic_write_of_other_than_8_bytes_is_einval",
		 test_atomic_write_of_other_than_8_bytes_is_einval},
		{"atomic_write_on_uc_qp_is_einval", test_atomic_write_on_uc_qp_is_einval},
		{"atomic_write_on_ud_qp_is_einval", test_atomic_write_on_ud_qp_is_einval},
		{"rnr_retry_then_success_and_exhaustion",
		 test_rnr_retry_then_success_and_exhaustion},
		{"retry_exceeded_when_peer_is_gone", test_retry_exceeded_when_peer_is_gone},
		{"error_state_flushes_all_wrs", test_error_state_flushes_all_wrs},
		{"unmapped_buffer_gives_error_not_signal",
		 test_unmapped_buffer_gives_error_not_signal},
		{"retransmission_under_loss", test_retransmission_under_loss},
		{NULL, NULL},
	};
	static const struct sodp_test_case loss[] = {
		{"loss_send_multi_packet", test_loss_send_multi_packet},
		{"loss_write_multi_packet", test_loss_write_multi_packet},
		{"loss_read_multi_packet", test_loss_read_multi_packet},
		{"loss_atomics_execute_once", test_loss_atomics_execute_once},
		{"loss_atomic_write_stores_once", test_loss_atomic_write_stores_once},
		{"loss_mixed_pipeline", test_loss_mixed_pipeline},
		{"loss_rnr_with_late_receives", test_loss_rnr_with_late_receives},
		{"loss_held_back_packet_leaves_with_its_batch",
		 test_loss_held_back_packet_leaves_with_its_batch},
		{NULL, NULL},
	};
	static const struct sodp_test_case ud[] = {
		{"ud_send_grh_and_reply_ah", test_ud_send_grh_and_reply_ah},
		{"ud_recv_sl_tells_ipv4_header", test_ud_recv_sl_tells_ipv4_header},
		{"ud_recv_sl_tells_ipv6_header", test_ud_recv_sl_tells_ipv6_header},
		{"ud_recv_sl_read_from_cq_ex", test_ud_recv_sl_read_from_cq_ex},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_rc", NULL, NULL, rc);
	sodp_add_suite("rxe_errors", NULL, NULL, errs);
	sodp_add_suite("rxe_loss", NULL, NULL, loss);
	sodp_add_suite("rxe_ud", NULL, NULL, ud);
}
