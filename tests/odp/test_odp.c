// SPDX-License-Identifier: MIT
/*
 * ODP memory regions end to end: an RC QP pair between two softodp devices
 * in this process (srxe0 = 127.0.0.1 -> srxe1 = 127.0.0.2), A the requester,
 * B the responder, each test with a freshly connected pair. Buffers are
 * anonymous mappings of their own, registered with IBV_ACCESS_ON_DEMAND, and
 * the application changes them under the NIC (MADV_DONTNEED, munmap, mmap,
 * mprotect) the way real programs do.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <softodp/mr.h>
#include <softodp/prereg.h>

#include "sodp_test.h"
#include "rxe_test_util.h"

#define PG  4096UL
#define LEN (256UL << 10)
#define ODP                                                                        \
	(IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define GIB (1UL << 30)

static struct rt_side A, B;

/*
 * The tests' QP options with the ACK timeout of the pingpongs and perftest
 * (67 ms): faults, invalidation storms and mapping churn stall the
 * responder for a while, and seven retries must outlast that on a busy
 * machine. No test here loses packets on purpose.
 */
static const struct rt_conn_opts *odp_opts(void)
{
	static struct rt_conn_opts o;

	o = *rt_default_opts();
	o.timeout = 14;
	return &o;
}

static int pair_up(void)
{
	const struct rt_conn_opts *o = odp_opts();

	if (rt_side_init(&A, "srxe0", IBV_QPT_RC, o->access | IBV_ACCESS_LOCAL_WRITE, 64) ||
	    rt_side_init(&B, "srxe1", IBV_QPT_RC, o->access | IBV_ACCESS_LOCAL_WRITE, 64))
		return -1;
	return rt_rc_connect(&A, &B, o, 100, 200);
}

static void pair_down(void)
{
	rt_side_fini(&A);
	rt_side_fini(&B);
}

/*
 * A test between two fresh sides, A on srxe0 and B on srxe1, their RC QPs
 * connected for ODP; both are torn down after it.
 */
#define ODP_TEST(name) SODP_FIXTURE_TEST(name, pair_up, pair_down)

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * A mapping 64 GiB below where mmap() places memory by itself, for the
 * tests that unmap a range and expect the hole to stay a hole or map it
 * again: no other allocation of the process (a thread's arena, a
 * sanitizer's own) reaches that far down meanwhile. Relative to the mmap
 * area rather than fixed, so that it stays where sanitizers allow memory.
 */
static uint8_t *map_far(size_t len)
{
	void *probe = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t at;
	int i;

	if (probe == MAP_FAILED)
		return NULL;
	at = (((uintptr_t)probe - 64 * GIB) & ~(GIB - 1));
	munmap(probe, PG);
	for (i = 0; i < 16; i++, at -= 4 * GIB) {
		void *p = mmap((void *)at, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (p == (void *)at)
			return p;
		if (p != MAP_FAILED)
			munmap(p, len);
	}
	return NULL;
}

/* One signalled WR from A; returns its completion status, or -1 on timeout. */
static int a_do(enum ibv_wr_opcode op, uint32_t lkey, void *laddr, uint32_t len, uint64_t raddr,
		uint32_t rkey, uint64_t cmp_add, uint64_t swap)
{
	struct ibv_sge sge = {(uintptr_t)laddr, len, lkey};
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = 7;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (op == IBV_WR_ATOMIC_CMP_AND_SWP || op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rkey;
		wr.wr.atomic.compare_add = cmp_add;
		wr.wr.atomic.swap = swap;
	} else {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	if (ibv_post_send(A.qp, &wr, &bad))
		return -1;
	if (rt_poll(A.cq, &wc) != 1)
		return -1;
	return wc.status;
}

static int b_recv(uint32_t lkey, void *addr, uint32_t len)
{
	struct ibv_sge sge = {(uintptr_t)addr, len, lkey};
	struct ibv_recv_wr wr = {.wr_id = 9, .sg_list = &sge, .num_sge = 1}, *bad;

	return ibv_post_recv(B.qp, &wr, &bad);
}

static int b_wait(struct ibv_wc *wc)
{
	return rt_poll(B.cq, wc) == 1 ? 0 : -1;
}

static struct sodp_mr_stats stats(struct ibv_mr *mr)
{
	struct sodp_mr_stats st;

	memset(&st, 0, sizeof(st));
	CU_ASSERT_EQUAL(sodp_mr_get_stats(mr, &st), 0);
	return st;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* ---- capabilities and registration ---- */

static void test_device_reports_odp_and_implicit_caps(void)
{
	struct ibv_device_attr_ex ex;
	struct ibv_context *ctx = rt_open("srxe0");

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	CU_ASSERT_EQUAL(ibv_query_device_ex(ctx, NULL, &ex), 0);
	CU_ASSERT_EQUAL(ex.odp_caps.general_caps, IBV_ODP_SUPPORT | IBV_ODP_SUPPORT_IMPLICIT);
	CU_ASSERT_EQUAL(ex.odp_caps.per_transport_caps.rc_odp_caps,
			IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_WRITE |
				IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_ATOMIC |
				IBV_ODP_SUPPORT_SRQ_RECV);
	CU_ASSERT_EQUAL(ex.odp_caps.per_transport_caps.ud_odp_caps,
			IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_SRQ_RECV);
	ibv_close_device(ctx);
}

static void test_odp_registration_faults_nothing(void)
{
	uint8_t *p = map_anon(64 << 20);
	struct ibv_context *ctx = rt_open("srxe0");
	struct ibv_pd *pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	struct ibv_mr *mr;
	unsigned char vec[16];

	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	mr = ibv_reg_mr(pd, p, 64 << 20, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(mincore(p, 16 * PG, vec), 0);
	CU_ASSERT_TRUE(all_bytes(vec, 16, 0));
	CU_ASSERT_EQUAL(stats(mr).entries, 0);
	CU_ASSERT_EQUAL(stats(mr).odp, 1);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
	munmap(p, 64 << 20);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
}

static void test_1000_registrations_of_1gib_odp(void)
{
	uint8_t *p = mmap(NULL, GIB, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct ibv_context *ctx = rt_open("srxe0");
	struct ibv_pd *pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	uint64_t t0 = rt_ms();
	int i, ok = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	for (i = 0; i < 1000 && rt_ms() - t0 < 60000; i++) {
		struct ibv_mr *mr = ibv_reg_mr(pd, p, GIB, ODP);

		if (mr && !ibv_dereg_mr(mr))
			ok++;
	}
	CU_ASSERT_EQUAL(ok, 1000);
	munmap(p, GIB);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
}

static void test_bad_registrations_are_einval(void)
{
	uint8_t *p = map_anon(LEN);
	struct ibv_context *ctx = rt_open("srxe0");
	struct ibv_pd *pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	struct ibv_mr *mr;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	/* implicit needs addr NULL and iova 0 */
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_reg_mr(pd, p, SIZE_MAX, ODP));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_reg_mr_iova(pd, NULL, SIZE_MAX, 4096, ODP));
	CU_ASSERT_EQUAL(errno, EINVAL);
	/* iova + length must not wrap; ending exactly at 2^64 is fine */
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_reg_mr_iova(pd, p, LEN, UINT64_MAX - LEN + 2, ODP));
	CU_ASSERT_EQUAL(errno, EINVAL);
	mr = ibv_reg_mr_iova(pd, p, LEN, UINT64_MAX - LEN + 1, ODP);
	CU_ASSERT_PTR_NOT_NULL(mr);
	if (mr)
		ibv_dereg_mr(mr);
	/* HUGETLB over 4 KiB pages */
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_reg_mr(pd, p, LEN, ODP | IBV_ACCESS_HUGETLB));
	CU_ASSERT_EQUAL(errno, EINVAL);
	munmap(p, LEN);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
}

/* ---- data movement ---- */

/* An ODP MR whose iova is not its address, up to the last byte below 2^64. */
ODP_TEST(write_and_read_through_iova_unlike_address_near_2_64)
{
	uint8_t *t = map_anon(LEN);
	uint64_t iova = UINT64_MAX - LEN + 1;
	struct ibv_mr *mr;

	mr = ibv_reg_mr_iova(B.pd, t, LEN, iova, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	rt_fill(A.buf, PG, 4);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, iova + LEN - PG, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(t + LEN - PG, A.buf, PG), 0);
	memset(A.buf, 0, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_READ, A.mr->lkey, A.buf, PG, iova + LEN - PG, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(t + LEN - PG, A.buf, PG), 0);
	/* one byte past the end wraps to 0: a remote access error */
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 2, UINT64_MAX, mr->rkey, 0, 0),
			IBV_WC_REM_ACCESS_ERR);
	ibv_dereg_mr(mr);
	munmap(t, LEN);
}

ODP_TEST(write_into_never_touched_memory_lands)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_mr *mr;
	struct sodp_mr_stats st;

	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	rt_fill(A.buf, 65536, 3);
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 65536, (uintptr_t)t + PG,
			     mr->rkey, 0, 0),
			IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(t + PG, A.buf, 65536), 0);
	CU_ASSERT_TRUE(all_bytes(t, PG, 0));
	st = stats(mr);
	CU_ASSERT_TRUE(st.faults >= 1);
	CU_ASSERT_TRUE(st.pages_faulted >= 16);
	CU_ASSERT_TRUE(st.entries >= 1);
	ibv_dereg_mr(mr);
	munmap(t, LEN);
}

ODP_TEST(read_from_never_touched_memory_returns_zeros)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_mr *mr;

	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memset(A.buf, 0xaa, 65536);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_READ, A.mr->lkey, A.buf, 65536, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(A.buf, 65536, 0));
	ibv_dereg_mr(mr);
	munmap(t, LEN);
}

ODP_TEST(zero_page_read_then_write_lands_and_neighbours_stay_zero)
{
	uint8_t *t = map_anon(LEN);
	volatile uint8_t sink = 0;
	struct ibv_mr *mr;
	size_t i;

	for (i = 0; i < LEN; i += PG)
		sink += t[i]; /* the zero page, mapped read-only */
	CU_ASSERT_EQUAL(sink, 0);
	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memset(A.buf, 0x5c, 8);
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 8, (uintptr_t)t + PG + 64,
			     mr->rkey, 0, 0),
			IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(t + PG + 64, 8, 0x5c));
	CU_ASSERT_TRUE(all_bytes(t, PG + 64, 0));
	CU_ASSERT_TRUE(all_bytes(t + PG + 72, LEN - PG - 72, 0));
	ibv_dereg_mr(mr);
	munmap(t, LEN);
}

/*
 * Every RC opcode (SEND, WRITE, READ, both atomics, ATOMIC WRITE) into and
 * out of ODP buffers on both sides, 100 times,
 * with MADV_DONTNEED on both before each round (rdma-core test_odp.py).
 */
ODP_TEST(every_rc_opcode_100_times_after_dontneed)
{
	uint8_t *la = map_anon(LEN), *rb = map_anon(LEN);
	struct ibv_mr *lmr, *rmr;
	struct ibv_wc wc;
	uint64_t *ctr = (uint64_t *)(rb + 3 * PG);
	int i, bad = 0;

	lmr = ibv_reg_mr(A.pd, la, LEN, ODP);
	rmr = ibv_reg_mr(B.pd, rb, LEN, ODP);
	CU_ASSERT_FATAL(lmr && rmr);
	for (i = 0; i < 100 && !bad; i++) {
		madvise(la, LEN, MADV_DONTNEED);
		madvise(rb, LEN, MADV_DONTNEED);
		/* SEND into a never-touched receive buffer */
		rt_fill(la, 3000, i);
		bad |= b_recv(rmr->lkey, rb, 4096);
		bad |= a_do(IBV_WR_SEND, lmr->lkey, la, 3000, 0, 0, 0, 0) != IBV_WC_SUCCESS;
		bad |= b_wait(&wc) || wc.status != IBV_WC_SUCCESS || wc.byte_len != 3000;
		bad |= memcmp(rb, la, 3000) != 0;
		/* WRITE */
		rt_fill(la + PG, 5000, i + 1);
		bad |= a_do(IBV_WR_RDMA_WRITE, lmr->lkey, la + PG, 5000, (uintptr_t)rb + PG,
			    rmr->rkey, 0, 0) != IBV_WC_SUCCESS;
		bad |= memcmp(rb + PG, la + PG, 5000) != 0;
		/* READ back into a dropped local buffer */
		madvise(la + 4 * PG, 4 * PG, MADV_DONTNEED);
		bad |= a_do(IBV_WR_RDMA_READ, lmr->lkey, la + 4 * PG, 5000, (uintptr_t)rb + PG,
			    rmr->rkey, 0, 0) != IBV_WC_SUCCESS;
		bad |= memcmp(la + 4 * PG, la + PG, 5000) != 0;
		/* atomics on a dropped (zero) target */
		bad |= a_do(IBV_WR_ATOMIC_FETCH_AND_ADD, lmr->lkey, la + 9 * PG, 8, (uintptr_t)ctr,
			    rmr->rkey, 5, 0) != IBV_WC_SUCCESS;
		bad |= *(uint64_t *)(la + 9 * PG) != 0 || *ctr != 5;
		bad |= a_do(IBV_WR_ATOMIC_CMP_AND_SWP, lmr->lkey, la + 9 * PG, 8, (uintptr_t)ctr,
			    rmr->rkey, 5, 77) != IBV_WC_SUCCESS;
		bad |= *(uint64_t *)(la + 9 * PG) != 5 || *ctr != 77;
		bad |= a_do(IBV_WR_ATOMIC_CMP_AND_SWP, lmr->lkey, la + 9 * PG, 8, (uintptr_t)ctr,
			    rmr->rkey, 5, 99) != IBV_WC_SUCCESS;
		bad |= *(uint64_t *)(la + 9 * PG) != 77 || *ctr != 77;
		/* ATOMIC WRITE from a dropped source into a dropped target */
		*(uint64_t *)(la + 10 * PG) = 0x1122334455667788ULL + i;
		bad |= a_do(IBV_WR_ATOMIC_WRITE, lmr->lkey, la + 10 * PG, 8, (uintptr_t)rb + 5 * PG,
			    rmr->rkey, 0, 0) != IBV_WC_SUCCESS;
		bad |= *(uint64_t *)(rb + 5 * PG) != 0x1122334455667788ULL + i;
		bad |= !all_bytes(rb + 5 * PG + 8, PG - 8, 0);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(i, 100);
	CU_ASSERT_TRUE(stats(rmr).invalidations[1] >= 100);
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(rmr);
	munmap(la, LEN);
	munmap(rb, LEN);
}

ODP_TEST(mixed_sge_list_of_odp_and_pinned)
{
	uint8_t *la = map_anon(LEN), *rb = map_anon(LEN);
	struct ibv_mr *lmr, *rmr;
	struct ibv_sge sge[2];
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;

	lmr = ibv_reg_mr(A.pd, la, LEN, ODP);
	rmr = ibv_reg_mr(B.pd, rb, LEN, ODP);
	CU_ASSERT_FATAL(lmr && rmr);
	rt_fill(la, 3000, 1);
	rt_fill(A.buf, 3000, 2);
	sge[0] = (struct ibv_sge){(uintptr_t)la, 3000, lmr->lkey};
	sge[1] = (struct ibv_sge){(uintptr_t)A.buf, 3000, A.mr->lkey};
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = sge;
	wr.num_sge = 2;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)rb + 100;
	wr.wr.rdma.rkey = rmr->rkey;
	CU_ASSERT_EQUAL_FATAL(ibv_post_send(A.qp, &wr, &bad), 0);
	CU_ASSERT_EQUAL_FATAL(rt_poll(A.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(rb + 100, la, 3000), 0);
	CU_ASSERT_EQUAL(memcmp(rb + 3100, A.buf, 3000), 0);
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(rmr);
	munmap(la, LEN);
	munmap(rb, LEN);
}

/* A WRITE stream into cold memory is faulted ahead of itself. */
ODP_TEST(sequential_write_stream_is_faulted_ahead)
{
	size_t len = 64UL << 20;
	uint8_t *t = map_anon(len);
	struct ibv_mr *mr;
	struct sodp_mr_stats st;
	uint64_t t0;
	int i, bad = 0;

	madvise(t, len, MADV_NOHUGEPAGE);
	mr = ibv_reg_mr(B.pd, t, len, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	for (i = 0; i < 32; i++)
		bad |= a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 65536,
			    (uintptr_t)t + (size_t)i * 65536, mr->rkey, 0, 0) != IBV_WC_SUCCESS;
	CU_ASSERT_EQUAL(bad, 0);
	/* 2 MiB written; the prefetch keeps going on the worker */
	t0 = rt_ms();
	do {
		st = stats(mr);
		if (st.pages_faulted >= 2 * 512)
			break;
		usleep(1000);
	} while (rt_ms() - t0 < 5000);
	CU_ASSERT_TRUE(st.pages_faulted >= 2 * 512);
	CU_ASSERT_TRUE(st.prefetches >= 1);
	/* one fault for the first message, not one per page or per message */
	CU_ASSERT_TRUE(st.faults < 8);
	if (st.faults >= 8)
		printf("\n    faults %llu, RNR NAKs %llu, prefetches %llu\n",
		       (unsigned long long)st.faults, (unsigned long long)st.rnr_naks,
		       (unsigned long long)st.prefetches);
	ibv_dereg_mr(mr);
	munmap(t, len);
}

/* A writer touching one page per 4 MiB faults those pages, not megabytes. */
ODP_TEST(sparse_writes_fault_only_what_they_touch)
{
	size_t len = 64UL << 20;
	uint8_t *t = map_anon(len);
	struct ibv_mr *mr;
	int i, bad = 0;

	madvise(t, len, MADV_NOHUGEPAGE);
	mr = ibv_reg_mr(B.pd, t, len, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	for (i = 0; i < 16; i++)
		bad |= a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 512,
			    (uintptr_t)t + (size_t)i * (4UL << 20), mr->rkey, 0,
			    0) != IBV_WC_SUCCESS;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(stats(mr).pages_faulted, 16);
	ibv_dereg_mr(mr);
	munmap(t, len);
}

/* ---- the application changes its memory ---- */

ODP_TEST(munmap_and_mmap_at_same_address_second_write_lands_in_new_mapping)
{
	uint8_t *t = map_far(LEN), *again;
	struct ibv_mr *mr;

	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memset(A.buf, 1, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(munmap(t, LEN), 0);
	again = mmap(t, LEN, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CU_ASSERT_EQUAL_FATAL(again, t);
	memset(A.buf, 2, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t + PG, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(t + PG, PG, 2));
	CU_ASSERT_TRUE(all_bytes(t, PG, 0)); /* the new mapping, not the old data */
	CU_ASSERT_TRUE(stats(mr).invalidations[0] >= 1);
	ibv_dereg_mr(mr);
	munmap(t, LEN);
}

ODP_TEST(mremap_moves_the_target_and_a_write_follows_the_address)
{
	uint8_t *t = map_far(LEN), *moved;
	void *hole = map_anon(4 * LEN);
	struct ibv_mr *mr;

	CU_ASSERT_FATAL(t && hole);
	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memset(t, 7, LEN);
	memset(A.buf, 3, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	moved = mremap(t, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, hole);
	CU_ASSERT_EQUAL_FATAL(moved, hole);
	CU_ASSERT_TRUE(all_bytes(moved, PG, 3));
	/* the registered range is unmapped now: the NIC must not reach the moved pages */
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_TRUE(all_bytes(moved + PG, LEN - PG, 7));
	ibv_dereg_mr(mr);
	munmap(hole, 4 * LEN);
}

ODP_TEST(munmap_for_good_gives_remote_access_error_and_process_lives)
{
	uint8_t *t = map_far(LEN);
	struct ibv_mr *mr;

	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memset(t, 1, LEN);
	CU_ASSERT_EQUAL(munmap(t, LEN), 0);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_REM_ACCESS_ERR);
	ibv_dereg_mr(mr);
}

ODP_TEST(send_into_unmapped_receive_buffer_errors_both_sides)
{
	uint8_t *t = map_far(LEN);
	struct ibv_mr *mr;
	struct ibv_wc wc;

	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(munmap(t, LEN), 0);
	CU_ASSERT_EQUAL(b_recv(mr->lkey, t, PG), 0);
	CU_ASSERT_EQUAL(a_do(IBV_WR_SEND, A.mr->lkey, A.buf, 100, 0, 0, 0, 0), IBV_WC_REM_OP_ERR);
	CU_ASSERT_EQUAL_FATAL(b_wait(&wc), 0);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_LOC_QP_OP_ERR);
	ibv_dereg_mr(mr);
}

/* @op with a local buffer of an ODP MR the application unmapped. */
static void check_unmapped_local_buffer(enum ibv_wr_opcode op)
{
	uint8_t *l = map_anon(LEN);
	struct ibv_mr *mr;

	CU_ASSERT_EQUAL_FATAL(pair_up(), 0);
	mr = ibv_reg_mr(A.pd, l, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(munmap(l, LEN), 0);
	CU_ASSERT_EQUAL(a_do(op, mr->lkey, l, PG, (uintptr_t)B.buf, B.mr->rkey, 0, 0),
			IBV_WC_LOC_PROT_ERR);
	ibv_dereg_mr(mr);
	pair_down();
}

static void test_local_sge_unmapped_gives_local_protection_error(void)
{
	check_unmapped_local_buffer(IBV_WR_RDMA_WRITE);
}

static void test_read_into_unmapped_local_buffer_gives_local_protection_error(void)
{
	check_unmapped_local_buffer(IBV_WR_RDMA_READ);
}

static void check_write_to_readonly_target(int access)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_mr *mr;

	CU_ASSERT_EQUAL_FATAL(pair_up(), 0);
	mr = ibv_reg_mr(B.pd, t, LEN, access);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memset(t, 4, LEN);
	CU_ASSERT_EQUAL(mprotect(t, LEN, PROT_READ), 0);
	memset(A.buf, 9, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_TRUE(all_bytes(t, LEN, 4));
	CU_ASSERT_EQUAL(mprotect(t, LEN, PROT_READ | PROT_WRITE), 0);
	/* the error moved the QPs to the error state: a new pair, the same MR */
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, odp_opts(), 300, 400), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(t, PG, 9));
	ibv_dereg_mr(mr);
	munmap(t, LEN);
	pair_down();
}

static void test_write_to_readonly_target_fails_then_works_after_mprotect_back(void)
{
	check_write_to_readonly_target(ODP);
}

/* The atomic must not run on a write-protected page: NAK, no signal. */
static void check_atomic_on_readonly_target(int access)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_mr *mr;

	CU_ASSERT_EQUAL_FATAL(pair_up(), 0);
	memset(t, 0, LEN);
	mr = ibv_reg_mr(B.pd, t, LEN, access);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(mprotect(t, LEN, PROT_READ), 0);
	CU_ASSERT_EQUAL(a_do(IBV_WR_ATOMIC_FETCH_AND_ADD, A.mr->lkey, A.buf, 8, (uintptr_t)t + 64,
			     mr->rkey, 1, 0),
			IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_EQUAL(*(uint64_t *)(t + 64), 0);
	CU_ASSERT_EQUAL(mprotect(t, LEN, PROT_READ | PROT_WRITE), 0);
	ibv_dereg_mr(mr);
	munmap(t, LEN);
	pair_down();
}

static void test_atomic_on_readonly_odp_target_is_remote_access_error(void)
{
	check_atomic_on_readonly_target(ODP);
}

static void test_atomic_on_readonly_pinned_target_is_remote_access_error(void)
{
	check_atomic_on_readonly_target(ODP & ~IBV_ACCESS_ON_DEMAND);
}

ODP_TEST(registration_over_unmapped_range_works_once_mapped)
{
	uint8_t *t = map_far(LEN);
	struct ibv_mr *mr;

	CU_ASSERT_EQUAL(munmap(t, LEN), 0);
	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_EQUAL_FATAL(mmap(t, LEN, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0),
			      t);
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, odp_opts(), 300, 400), 0);
	memset(A.buf, 6, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(t, PG, 6));
	ibv_dereg_mr(mr);
	munmap(t, LEN);
}

ODP_TEST(dontneed_in_the_middle_keeps_both_ends_and_refaults)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_mr *mr;
	struct sodp_mr_stats st;

	memset(t, 1, LEN);
	mr = ibv_reg_mr(B.pd, t, LEN, ODP | IBV_ACCESS_ON_DEMAND);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				      IBV_ADVISE_MR_FLAG_FLUSH,
				      &(struct ibv_sge){(uintptr_t)t, LEN, mr->lkey}, 1),
			0);
	CU_ASSERT_EQUAL(stats(mr).entries_by_order[0] + 512 * stats(mr).entries_by_order[9],
			LEN / PG);
	CU_ASSERT_EQUAL(madvise(t + 16 * PG, 8 * PG, MADV_DONTNEED), 0);
	st = stats(mr);
	CU_ASSERT_EQUAL(st.bytes_by_order[0] + st.bytes_by_order[9], LEN - 8 * PG);
	memset(A.buf, 8, 2 * PG);
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 2 * PG, (uintptr_t)t + 20 * PG,
			     mr->rkey, 0, 0),
			IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(t + 20 * PG, 2 * PG, 8));
	CU_ASSERT_TRUE(all_bytes(t + 16 * PG, 4 * PG, 0));
	CU_ASSERT_TRUE(all_bytes(t, 16 * PG, 1));
	ibv_dereg_mr(mr);
	munmap(t, LEN);
}

/*
 * fork() makes the parent's private pages copy-on-write: the NIC must keep
 * writing into the parent's pages, never into pages the child now shares
 * or owns.
 */
static void check_fork_keeps_parent_memory(int access)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_mr *mr;
	pid_t pid;
	int st = -1;

	CU_ASSERT_EQUAL_FATAL(pair_up(), 0);
	mr = ibv_reg_mr(B.pd, t, LEN, access);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memset(A.buf, 1, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (!pid) {
		memset(t, 0x77, LEN);
		_exit(0);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st));
	memset(A.buf, 2, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t + PG, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(t, PG, 1));
	CU_ASSERT_TRUE(all_bytes(t + PG, PG, 2));
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_READ, A.mr->lkey, A.buf, 2 * PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(A.buf, PG, 1));
	CU_ASSERT_TRUE(all_bytes(A.buf + PG, PG, 2));
	CU_ASSERT_TRUE(stats(mr).invalidations[3] >= 1);
	ibv_dereg_mr(mr);
	munmap(t, LEN);
	pair_down();
}

static void test_fork_keeps_parent_memory_registered_and_child_writes_unseen(void)
{
	check_fork_keeps_parent_memory(ODP);
}

/* A thread of A writing 64 KiB messages into @t until told to stop. */
struct streamer {
	uint8_t *t;
	size_t len;
	uint32_t rkey;
	int stop;
	int done, errors;
};

static void *stream_writes(void *arg)
{
	struct streamer *st = arg;
	uint64_t end = rt_ms() + 20000;
	size_t off = 0;

	while (!__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE) && rt_ms() < end) {
		int ret = a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 65536, (uintptr_t)st->t + off,
			       st->rkey, 0, 0);

		if (ret)
			st->errors++;
		else
			st->done++;
		if (ret)
			break;
		off = (off + 65536) % st->len;
	}
	return NULL;
}

/* fork() while the responder faults cold memory: no hang, no lost write. */
ODP_TEST(fork_during_cold_fault_traffic_does_not_hang)
{
	size_t len = 64UL << 20;
	uint8_t *t = map_anon(len);
	struct streamer st = {.t = t, .len = len};
	struct ibv_mr *mr;
	pthread_t th;
	int i, bad = 0;

	mr = ibv_reg_mr(B.pd, t, len, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	st.rkey = mr->rkey;
	memset(A.buf, 0x3c, 65536);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, stream_writes, &st), 0);
	for (i = 0; i < 10; i++) {
		pid_t pid = fork();
		int status = -1;
		uint64_t end = rt_ms() + 10000;

		if (!pid)
			_exit(0);
		while (pid > 0 && waitpid(pid, &status, WNOHANG) == 0 && rt_ms() < end)
			usleep(1000);
		if (!WIFEXITED(status)) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			bad++;
		}
		madvise(t, len / 2, MADV_DONTNEED);
	}
	__atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(st.errors, 0);
	CU_ASSERT_TRUE(st.done > 0);
	ibv_dereg_mr(mr);
	munmap(t, len);
}

/*
 * A thread keeps unmapping and remapping the target under traffic. It maps
 * over the live mapping with MAP_FIXED (the kernel unmaps, then maps) rather
 * than munmap() then mmap(): a hole would let another thread's allocation
 * take the range, and MAP_FIXED would then destroy that allocation. Every
 * other round maps PROT_NONE, the address range unusable as after munmap().
 */
struct churner {
	uint8_t *t;
	size_t len;
	int stop;
	int rounds;
};

static void *churn_mappings(void *arg)
{
	struct churner *c = arg;
	uint64_t end = rt_ms() + 20000;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE) && rt_ms() < end) {
		int prot = c->rounds & 1 ? PROT_READ | PROT_WRITE : PROT_NONE;

		if (mmap(c->t, c->len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
		    c->t)
			break;
		c->rounds++;
		usleep(200);
	}
	/* leave it mapped and writable */
	if (mmap(c->t, c->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0) != c->t)
		c->rounds = -1;
	return NULL;
}

/*
 * WRITEs race a thread that unmaps and maps the target: every WRITE
 * either lands in a mapping that existed or fails with a remote access
 * error; the process neither deadlocks nor dies, and once the churn stops a
 * WRITE lands in the final mapping.
 */
ODP_TEST(writes_against_unmap_map_churn)
{
	uint8_t *t = map_anon(LEN);
	struct churner c = {.t = t, .len = LEN};
	struct ibv_mr *mr;
	pthread_t th;
	int i, ok = 0, other = 0;

	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memset(A.buf, 0x42, PG);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, churn_mappings, &c), 0);
	for (i = 0; i < 200; i++) {
		int ret = a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG,
			       (uintptr_t)t + (i % (LEN / PG)) * PG, mr->rkey, 0, 0);

		if (ret == IBV_WC_SUCCESS) {
			ok++;
			continue;
		}
		if (ret != IBV_WC_REM_ACCESS_ERR) {
			printf("\n    WRITE %d: %s\n", i,
			       ret < 0 ? "no completion" : ibv_wc_status_str(ret));
			other++;
			break;
		}
		/*
		 * The QPs are in error: connect them again, with PSNs far from
		 * the last ones, so that a packet of the old connection still
		 * in flight is an old duplicate to the new one.
		 */
		if (rt_rc_connect(&A, &B, odp_opts(), (i + 1) << 16, (i + 1) << 17)) {
			other++;
			break;
		}
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(other, 0);
	CU_ASSERT_TRUE(c.rounds > 0);
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, odp_opts(), 2000, 3000), 0);
	memset(A.buf, 0x43, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(t, PG, 0x43));
	ibv_dereg_mr(mr);
	munmap(t, LEN);
}

/* UD: a datagram sent from and received into never-touched ODP memory. */
static void test_ud_send_and_receive_with_odp(void)
{
	struct rt_side U = {0}, V = {0};
	uint8_t *src = map_anon(LEN), *dst = map_anon(LEN);
	struct ibv_mr *smr, *dmr;
	struct ibv_ah *ah;
	struct ibv_sge sge;
	struct ibv_recv_wr rwr, *rbad;
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;
	int i;

	CU_ASSERT_EQUAL_FATAL(rt_side_init(&U, "srxe0", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16), 0);
	CU_ASSERT_EQUAL_FATAL(rt_side_init(&V, "srxe1", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16), 0);
	CU_ASSERT_EQUAL(rt_ud_ready(U.qp, 1), 0);
	CU_ASSERT_EQUAL(rt_ud_ready(V.qp, 1), 0);
	smr = ibv_reg_mr(U.pd, src, LEN, ODP);
	dmr = ibv_reg_mr(V.pd, dst, LEN, ODP);
	CU_ASSERT_FATAL(smr && dmr);
	ah = rt_ah(&U, &V.gid);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ah);
	for (i = 0; i < 10; i++) {
		madvise(src, LEN, MADV_DONTNEED);
		madvise(dst, LEN, MADV_DONTNEED);
		rt_fill(src + 3 * PG, 1000, i);
		sge = (struct ibv_sge){(uintptr_t)dst + 5 * PG, 40 + 1024, dmr->lkey};
		memset(&rwr, 0, sizeof(rwr));
		rwr.sg_list = &sge;
		rwr.num_sge = 1;
		CU_ASSERT_EQUAL_FATAL(ibv_post_recv(V.qp, &rwr, &rbad), 0);
		sge = (struct ibv_sge){(uintptr_t)src + 3 * PG, 1000, smr->lkey};
		memset(&wr, 0, sizeof(wr));
		wr.sg_list = &sge;
		wr.num_sge = 1;
		wr.opcode = IBV_WR_SEND;
		wr.send_flags = IBV_SEND_SIGNALED;
		wr.wr.ud.ah = ah;
		wr.wr.ud.remote_qpn = V.qp->qp_num;
		wr.wr.ud.remote_qkey = 0x11111111;
		CU_ASSERT_EQUAL_FATAL(ibv_post_send(U.qp, &wr, &bad), 0);
		CU_ASSERT_EQUAL_FATAL(rt_poll(U.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
		CU_ASSERT_EQUAL_FATAL(rt_poll(V.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
		CU_ASSERT_EQUAL(wc.byte_len, 1040);
		CU_ASSERT_EQUAL(memcmp(dst + 5 * PG + 40, src + 3 * PG, 1000), 0);
	}
	ibv_destroy_ah(ah);
	ibv_dereg_mr(smr);
	ibv_dereg_mr(dmr);
	rt_side_fini(&U);
	rt_side_fini(&V);
	munmap(src, LEN);
	munmap(dst, LEN);
}

/* An SRQ's receive WQE pointing into never-touched ODP memory. */
ODP_TEST(srq_receive_into_odp)
{
	const struct rt_conn_opts *o = odp_opts();
	struct ibv_srq_init_attr sa = {.attr = {.max_wr = 16, .max_sge = 1}};
	struct ibv_srq *srq;
	struct ibv_qp *qp;
	uint8_t *dst = map_anon(LEN);
	struct ibv_mr *mr;
	struct ibv_sge sge;
	struct ibv_recv_wr rwr, *rbad;
	struct ibv_wc wc;
	struct ibv_qp_attr at;

	srq = ibv_create_srq(B.pd, &sa);
	CU_ASSERT_PTR_NOT_NULL_FATAL(srq);
	qp = rt_srq_qp(&B, srq);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qp);
	/* A's QP now talks to the SRQ-backed QP */
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RESET;
	CU_ASSERT_EQUAL(ibv_modify_qp(A.qp, &at, IBV_QP_STATE), 0);
	CU_ASSERT_EQUAL(rt_rc_connect_qp(A.qp, qp->qp_num, &B.gid, 10, 20, o), 0);
	CU_ASSERT_EQUAL(rt_rc_connect_qp(qp, A.qp->qp_num, &A.gid, 20, 10, o), 0);
	mr = ibv_reg_mr(B.pd, dst, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	sge = (struct ibv_sge){(uintptr_t)dst + 7 * PG, 8192, mr->lkey};
	memset(&rwr, 0, sizeof(rwr));
	rwr.wr_id = 33;
	rwr.sg_list = &sge;
	rwr.num_sge = 1;
	CU_ASSERT_EQUAL_FATAL(ibv_post_srq_recv(srq, &rwr, &rbad), 0);
	rt_fill(A.buf, 6000, 9);
	CU_ASSERT_EQUAL(a_do(IBV_WR_SEND, A.mr->lkey, A.buf, 6000, 0, 0, 0, 0), IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(b_wait(&wc), 0);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.wr_id, 33);
	CU_ASSERT_EQUAL(wc.byte_len, 6000);
	CU_ASSERT_EQUAL(memcmp(dst + 7 * PG, A.buf, 6000), 0);
	ibv_destroy_qp(qp);
	ibv_destroy_srq(srq);
	ibv_dereg_mr(mr);
	munmap(dst, LEN);
}

static size_t anon_huge_kb(const void *p)
{
	char line[256];
	unsigned long lo, hi;
	size_t kb = 0;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
		else if (in && sscanf(line, "AnonHugePages: %zu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return in ? kb : 0;
}

/* A cold THP region faults in as 2 MiB entries, and a WRITE lands. */
static void test_thp_backed_odp_region_takes_order9_entries(void)
{
	size_t len = 8UL << 20;
	uint8_t *raw = map_anon(len + (2UL << 20)), *t;
	struct ibv_mr *mr;
	struct sodp_mr_stats st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(raw);
	t = (uint8_t *)(((uintptr_t)raw + (2UL << 20) - 1) & ~((2UL << 20) - 1));
	if (madvise(t, len, MADV_HUGEPAGE)) {
		munmap(raw, len + (2UL << 20));
		SODP_SKIP("no MADV_HUGEPAGE");
	}
	CU_ASSERT_EQUAL_FATAL(pair_up(), 0);
	mr = ibv_reg_mr(B.pd, t, len, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	rt_fill(A.buf, 65536, 2);
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 65536, (uintptr_t)t + 4096,
			     mr->rkey, 0, 0),
			IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(t + 4096, A.buf, 65536), 0);
	if (anon_huge_kb(t) < 2048) {
		ibv_dereg_mr(mr);
		munmap(raw, len + (2UL << 20));
		pair_down();
		SODP_SKIP("the kernel gave no transparent huge page");
	}
	st = stats(mr);
	CU_ASSERT_TRUE(st.entries_by_order[9] >= 1);
	CU_ASSERT_EQUAL(st.entries_by_order[0], 0);
	ibv_dereg_mr(mr);
	munmap(raw, len + (2UL << 20));
	pair_down();
}

/* IBV_ACCESS_HUGETLB over hugetlb memory: accepted, order-9 entries. */
ODP_TEST(hugetlb_region_with_hugetlb_access)
{
	size_t len = 4UL << 20;
	uint8_t *t = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	struct ibv_mr *mr;

	if (t == MAP_FAILED)
		SODP_SKIP("no 2 MiB hugetlb pages (vm.nr_hugepages)");
	mr = ibv_reg_mr(B.pd, t, len, ODP | IBV_ACCESS_HUGETLB);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	memset(A.buf, 5, PG);
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t + 3 * PG,
			     mr->rkey, 0, 0),
			IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(t + 3 * PG, PG, 5));
	CU_ASSERT_TRUE(stats(mr).entries_by_order[9] >= 1);
	CU_ASSERT_EQUAL(stats(mr).entries_by_order[0], 0);
	ibv_dereg_mr(mr);
	munmap(t, len);
}

ODP_TEST(counters_sum_per_device_including_deregistered)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_mr *mr;
	struct sodp_mr_stats before, after;

	CU_ASSERT_EQUAL(sodp_device_get_mr_stats(B.ctx, &before), 0);
	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
	CU_ASSERT_EQUAL(sodp_device_get_mr_stats(B.ctx, &after), 0);
	CU_ASSERT_TRUE(after.faults > before.faults);
	CU_ASSERT_TRUE(after.pages_faulted > before.pages_faulted);
	CU_ASSERT_EQUAL(sodp_device_get_mr_stats(NULL, &after), -EINVAL);
	CU_ASSERT_EQUAL(sodp_mr_get_stats(NULL, &after), -EINVAL);
	munmap(t, LEN);
}

/* ---- implicit ODP ---- */

ODP_TEST(implicit_mr_serves_addresses_more_than_1gib_apart_and_frees_children)
{
	uint8_t *r =
		mmap(NULL, 3 * GIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *x, *y;
	struct ibv_mr *mr;
	struct sodp_mr_stats st;
	uint64_t t0;

	CU_ASSERT_FATAL(r != MAP_FAILED);
	x = r;
	y = r + 2 * GIB;
	CU_ASSERT_EQUAL_FATAL(mprotect(x, LEN, PROT_READ | PROT_WRITE), 0);
	CU_ASSERT_EQUAL_FATAL(mprotect(y, LEN, PROT_READ | PROT_WRITE), 0);
	mr = ibv_reg_mr(B.pd, NULL, SIZE_MAX, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(stats(mr).implicit, 1);
	rt_fill(A.buf, 2 * PG, 5);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 2 * PG, (uintptr_t)x, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 2 * PG, (uintptr_t)y, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(x, A.buf, 2 * PG), 0);
	CU_ASSERT_EQUAL(memcmp(y, A.buf, 2 * PG), 0);
	st = stats(mr);
	CU_ASSERT_EQUAL(st.children_live, 2);
	CU_ASSERT_EQUAL(st.children_created, 2);
	/* unmap/remap churn, then unmap for good: the children go */
	CU_ASSERT_EQUAL(madvise(x, LEN, MADV_DONTNEED), 0);
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_READ, A.mr->lkey, A.buf, PG, (uintptr_t)x, mr->rkey, 0, 0),
			IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(A.buf, PG, 0));
	CU_ASSERT_EQUAL(munmap(r, 3 * GIB), 0);
	t0 = rt_ms();
	do {
		st = stats(mr);
		if (st.children_live == 0)
			break;
		usleep(10000);
	} while (rt_ms() - t0 < 5000);
	CU_ASSERT_EQUAL(st.children_live, 0);
	CU_ASSERT_TRUE(st.children_freed >= 2);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)y, mr->rkey, 0, 0),
		IBV_WC_REM_ACCESS_ERR);
	ibv_dereg_mr(mr);
}

/* A peer naming unmapped addresses through an implicit MR leaves nothing behind. */
ODP_TEST(implicit_mr_keeps_no_child_for_unmapped_addresses)
{
	uint8_t *r = map_far(4 * GIB);
	struct ibv_mr *mr;
	struct sodp_mr_stats st;
	int i, bad = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL_FATAL(munmap(r, 4 * GIB), 0); /* a hole nothing maps */
	mr = ibv_reg_mr(B.pd, NULL, SIZE_MAX, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	for (i = 0; i < 4; i++) {
		bad |= a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, 64, (uintptr_t)r + i * GIB,
			    mr->rkey, 0, 0) != IBV_WC_REM_ACCESS_ERR;
		bad |= rt_rc_connect(&A, &B, odp_opts(), (i + 1) << 16, (i + 1) << 17);
	}
	CU_ASSERT_EQUAL(bad, 0);
	st = stats(mr);
	CU_ASSERT_EQUAL(st.children_live, 0);
	CU_ASSERT_EQUAL(st.children_created, st.children_freed);
	CU_ASSERT_TRUE(st.fault_errors >= 4);
	ibv_dereg_mr(mr);
}

/* ---- prefetch ---- */

ODP_TEST(prefetch_sync_async_and_no_fault)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_mr *mr;
	struct ibv_sge sge;
	struct sodp_mr_stats st;
	uint64_t t0;

	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	sge = (struct ibv_sge){(uintptr_t)t, LEN / 2, mr->lkey};
	/* no-fault: nothing is mapped, nothing becomes valid */
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
				      IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1),
			0);
	CU_ASSERT_EQUAL(stats(mr).entries, 0);
	/* sync write prefetch: all valid on return */
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				      IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1),
			0);
	st = stats(mr);
	CU_ASSERT_EQUAL(st.bytes_by_order[0] + st.bytes_by_order[9], LEN / 2);
	CU_ASSERT_EQUAL(st.prefetches, 2);
	/* async: valid soon after */
	sge.addr += LEN / 2;
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1), 0);
	t0 = rt_ms();
	do {
		st = stats(mr);
		if (st.bytes_by_order[0] + st.bytes_by_order[9] == LEN)
			break;
		usleep(1000);
	} while (rt_ms() - t0 < 5000);
	CU_ASSERT_EQUAL(st.bytes_by_order[0] + st.bytes_by_order[9], LEN);
	/* dereg right after an async prefetch is safe */
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1), 0);
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
	munmap(t, LEN);
}

ODP_TEST(advise_mr_errors)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_pd *pd2;
	struct ibv_mr *mr, *ro;
	struct ibv_sge sge;

	pd2 = ibv_alloc_pd(B.ctx);
	mr = ibv_reg_mr(B.pd, t, LEN, ODP);
	ro = ibv_reg_mr(B.pd, t, LEN, IBV_ACCESS_ON_DEMAND | IBV_ACCESS_REMOTE_READ);
	CU_ASSERT_FATAL(pd2 && mr && ro);
	sge = (struct ibv_sge){(uintptr_t)t, PG, mr->lkey};
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 0), 0);
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0x80, &sge, 1), EINVAL);
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, (enum ibv_advise_mr_advice)77, 0, &sge, 1), EOPNOTSUPP);
	CU_ASSERT_EQUAL(ibv_advise_mr(pd2, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1), EPERM);
	sge.lkey ^= 0x100;
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1), EINVAL);
	sge = (struct ibv_sge){(uintptr_t)t + LEN - PG, 2 * PG, mr->lkey};
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1), EFAULT);
	sge = (struct ibv_sge){(uintptr_t)t, PG, ro->lkey};
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0, &sge, 1),
			EPERM);
	/* a pinned MR is accepted and needs nothing */
	sge = (struct ibv_sge){(uintptr_t)B.buf, PG, B.mr->lkey};
	CU_ASSERT_EQUAL(ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, IBV_ADVISE_MR_FLAG_FLUSH,
				      &sge, 1),
			0);
	ibv_dereg_mr(mr);
	ibv_dereg_mr(ro);
	ibv_dealloc_pd(pd2);
	munmap(t, LEN);
}

ODP_TEST(dereg_while_a_fault_is_in_flight)
{
	uint8_t *t = map_anon(64UL << 20);
	struct ibv_mr *mr;
	struct ibv_sge sge;
	int i, ok = 0;

	for (i = 0; i < 50; i++) {
		mr = ibv_reg_mr(B.pd, t, 64UL << 20, ODP);
		if (!mr)
			break;
		sge = (struct ibv_sge){(uintptr_t)t, 64UL << 20, mr->lkey};
		ibv_advise_mr(B.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0, &sge, 1);
		ok += !ibv_dereg_mr(mr);
		madvise(t, 64UL << 20, MADV_DONTNEED);
	}
	CU_ASSERT_EQUAL(ok, 50);
	/* a munmap afterwards does not wait on anything left behind */
	CU_ASSERT_EQUAL(munmap(t, 64UL << 20), 0);
}

/* ---- pinned MRs: memory unmapped under a registration is revoked ---- */

#define PINNED (ODP & ~IBV_ACCESS_ON_DEMAND)

/*
 * Brings the pair up and registers @t (LEN bytes, filled with @fill) as a
 * pinned target on B. NULL if any of it failed.
 */
static struct ibv_mr *pinned_target_up(uint8_t *t, uint8_t fill)
{
	if (!t || pair_up())
		return NULL;
	memset(t, fill, LEN);
	return ibv_reg_mr(B.pd, t, LEN, PINNED);
}

/*
 * After the registered memory went away and other memory took its place
 * at @t, the old rkey reaches neither: READ and WRITE through it fail with
 * a remote access error and the new memory is neither read nor changed.
 */
static void check_stale_rkey_reaches_nothing(struct ibv_mr *mr, uint8_t *t, size_t len)
{
	memset(t, 0x5a, len); /* the new owner's data */
	memset(A.buf, 0, PG);
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_READ, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
			IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_TRUE(all_bytes(A.buf, PG, 0));
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, odp_opts(), 1 << 16, 1 << 17), 0);
	memset(A.buf, 0xee, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_TRUE(all_bytes(t, len, 0x5a));
	CU_ASSERT_EQUAL(stats(mr).revoked, 1);
	CU_ASSERT_TRUE(stats(mr).revocations >= 1);
}

static void test_stale_rkey_after_munmap_and_mmap_at_same_address(void)
{
	uint8_t *t = map_anon(LEN), *again;
	struct ibv_mr *mr;

	CU_ASSERT_EQUAL_FATAL(pair_up(), 0);
	memset(t, 1, LEN);
	mr = ibv_reg_mr(B.pd, t, LEN, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(munmap(t, LEN), 0);
	again = map_anon(LEN); /* the kernel hands the same range out again */
	if (again != t) {
		munmap(again, LEN);
		ibv_dereg_mr(mr);
		pair_down();
		SODP_SKIP("the kernel placed the new mapping elsewhere");
	}
	check_stale_rkey_reaches_nothing(mr, t, LEN);
	ibv_dereg_mr(mr);
	munmap(t, LEN);
	pair_down();
}

static void test_stale_rkey_after_free_and_malloc_reuse(void)
{
	/*
	 * Larger than any free block of the heap, so that malloc() maps it
	 * and free() unmaps it (a smaller request may be served from the
	 * heap, where free() keeps it mapped and registered).
	 */
	size_t len = 64UL << 20;
	uint8_t *t, *again;
	struct ibv_mr *mr;
	uintptr_t was;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	SODP_SKIP("a sanitizer's allocator serves malloc(), not the C library's");
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
	SODP_SKIP("a sanitizer's allocator serves malloc(), not the C library's");
#endif
#endif
	/* a fixed threshold: a freed mmap'd block does not raise it */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	t = malloc(len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL_FATAL(pair_up(), 0);
	memset(t, 1, len);
	mr = ibv_reg_mr(B.pd, t, len, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	was = (uintptr_t)t;
	free(t);
	if (msync((void *)(was & ~(PG - 1)), PG, MS_ASYNC) == 0) {
		ibv_dereg_mr(mr);
		pair_down();
		SODP_SKIP("free() kept the block mapped");
	}
	again = malloc(len);
	if ((uintptr_t)again != was) {
		free(again);
		ibv_dereg_mr(mr);
		pair_down();
		SODP_SKIP("malloc did not reuse the block's address");
	}
	check_stale_rkey_reaches_nothing(mr, again, len);
	ibv_dereg_mr(mr);
	free(again);
	pair_down();
}

static void test_stale_rkey_after_map_fixed_over_the_buffer(void)
{
	uint8_t *t = map_far(LEN);
	struct ibv_mr *mr;

	mr = pinned_target_up(t, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL_FATAL(mmap(t, LEN, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
			      t);
	check_stale_rkey_reaches_nothing(mr, t, LEN);
	ibv_dereg_mr(mr);
	munmap(t, LEN);
	pair_down();
}

ODP_TEST(stale_rkey_after_mremap_away_and_back)
{
	uint8_t *t = map_far(LEN), *other = map_anon(LEN), *moved;
	struct ibv_mr *mr;

	CU_ASSERT_FATAL(t && other);
	memset(t, 1, LEN);
	mr = ibv_reg_mr(B.pd, t, LEN, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	/* the registered pages move away; other memory moves in */
	moved = mremap(t, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, other);
	CU_ASSERT_EQUAL_FATAL(moved, other);
	CU_ASSERT_EQUAL_FATAL(mmap(t, LEN, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0),
			      t);
	check_stale_rkey_reaches_nothing(mr, t, LEN);
	ibv_dereg_mr(mr);
	munmap(t, LEN);
	munmap(moved, LEN);
}

static void test_rest_of_partly_unmapped_pinned_mr_keeps_working(void)
{
	uint8_t *t = map_far(LEN);
	struct ibv_mr *mr;
	struct sodp_mr_stats st;

	mr = pinned_target_up(t, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(munmap(t + LEN / 2, LEN / 2), 0);
	memset(A.buf, 7, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
		IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(t, PG, 7));
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t + LEN / 2,
			     mr->rkey, 0, 0),
			IBV_WC_REM_ACCESS_ERR);
	/* locally too: a send from the revoked half is a local protection error */
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, odp_opts(), 1 << 16, 1 << 17), 0);
	st = stats(mr);
	CU_ASSERT_EQUAL(st.revoked_bytes, LEN / 2);
	ibv_dereg_mr(mr);
	munmap(t, LEN / 2);
	pair_down();
}

ODP_TEST(local_use_of_revoked_pinned_memory_is_local_protection_error)
{
	uint8_t *l = map_far(LEN);
	struct ibv_mr *mr;
	struct sodp_mr_stats dev;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	memset(l, 1, LEN);
	mr = ibv_reg_mr(A.pd, l, LEN, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(munmap(l, LEN), 0);
	CU_ASSERT_EQUAL_FATAL(mmap(l, LEN, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0),
			      l);
	memset(l, 0x33, LEN); /* not registered: must not be sent */
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, mr->lkey, l, PG, (uintptr_t)B.buf, B.mr->rkey, 0, 0),
		IBV_WC_LOC_PROT_ERR);
	CU_ASSERT_FALSE(all_bytes(B.buf, PG, 0x33));
	CU_ASSERT_EQUAL(sodp_device_get_mr_stats(A.ctx, &dev), 0);
	CU_ASSERT_TRUE(dev.revoked >= 1);
	ibv_dereg_mr(mr);
	munmap(l, LEN);
}

static void test_pinned_write_to_readonly_target_fails_then_works_after_mprotect_back(void)
{
	check_write_to_readonly_target(PINNED);
}

static void test_pinned_prot_none_target_fails_reads_then_works_after_mprotect_back(void)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_mr *mr;

	mr = pinned_target_up(t, 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(mprotect(t, LEN, PROT_NONE), 0);
	memset(A.buf, 0, PG);
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_READ, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
			IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_TRUE(all_bytes(A.buf, PG, 0));
	CU_ASSERT_EQUAL(mprotect(t, LEN, PROT_READ | PROT_WRITE), 0);
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, odp_opts(), 300, 400), 0);
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_READ, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
			IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(A.buf, PG, 3));
	CU_ASSERT_EQUAL(stats(mr).revoked, 0);
	ibv_dereg_mr(mr);
	munmap(t, LEN);
	pair_down();
}

static void test_dontneed_on_locked_pinned_memory_is_refused_and_data_stays(void)
{
	uint8_t *t = map_anon(LEN);
	struct ibv_mr *mr;

	mr = pinned_target_up(t, 6);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(stats(mr).locked_bytes, LEN);
	CU_ASSERT_EQUAL(madvise(t, LEN, MADV_DONTNEED), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_TRUE(all_bytes(t, LEN, 6));
	memset(A.buf, 0, PG);
	CU_ASSERT_EQUAL(a_do(IBV_WR_RDMA_READ, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0),
			IBV_WC_SUCCESS);
	CU_ASSERT_TRUE(all_bytes(A.buf, PG, 6));
	ibv_dereg_mr(mr);
	munmap(t, LEN);
	pair_down();
}

static void test_fork_keeps_parent_pinned_memory_registered_and_child_writes_unseen(void)
{
	check_fork_keeps_parent_memory(PINNED);
}

/* ---- the translation cache of pinned memory, and pre-registration ---- */

static struct sodp_cache_stats cache_stats(void)
{
	struct sodp_cache_stats st;

	memset(&st, 0, sizeof(st));
	CU_ASSERT_EQUAL(sodp_translation_cache_stats(&st), 0);
	return st;
}

/* Whether the page at @p is in a VMA locked with mlock() (smaps "lo"). */
static bool is_locked(const void *p)
{
	uintptr_t a = (uintptr_t)p, s, e;
	bool in = false, locked = false;
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = s <= a && a < e;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			locked = strstr(line, " lo") != NULL;
			break;
		}
	}
	fclose(f);
	return locked;
}

/* A WRITE of a @len-byte pattern through @rkey at @t lands there. */
static bool write_lands(struct ibv_mr *mr, uint8_t *t, uint8_t v)
{
	memset(A.buf, v, PG);
	return a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, mr->rkey, 0, 0) ==
		       IBV_WC_SUCCESS &&
	       all_bytes(t, PG, v);
}

ODP_TEST(overlapping_mrs_share_one_translation)
{
	uint8_t *t = map_anon(LEN);
	struct sodp_cache_stats before, after;
	struct ibv_mr *whole, *part;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	before = cache_stats();
	whole = ibv_reg_mr(B.pd, t, LEN, PINNED);
	part = ibv_reg_mr(B.pd, t + LEN / 2, PG, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(whole);
	CU_ASSERT_PTR_NOT_NULL_FATAL(part);
	after = cache_stats();
	CU_ASSERT_EQUAL(after.misses - before.misses, 1);
	CU_ASSERT_EQUAL(after.hits - before.hits, 1);
	CU_ASSERT_EQUAL(after.translations - before.translations, 1);
	CU_ASSERT_EQUAL(after.bytes_locked - before.bytes_locked, LEN);
	/* each MR reaches only its own range */
	CU_ASSERT_EQUAL(stats(part).locked_bytes, PG);
	CU_ASSERT_EQUAL(stats(part).entries, 1);
	CU_ASSERT_TRUE(write_lands(part, t + LEN / 2, 0x11));
	memset(A.buf, 0x22, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, part->rkey, 0, 0),
		IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_TRUE(all_bytes(t, PG, 0));
	CU_ASSERT_EQUAL_FATAL(rt_rc_connect(&A, &B, odp_opts(), 1 << 16, 1 << 17), 0);
	CU_ASSERT_EQUAL(ibv_dereg_mr(part), 0);
	CU_ASSERT_EQUAL(ibv_dereg_mr(whole), 0);
	after = cache_stats();
	CU_ASSERT_EQUAL(after.translations, before.translations);
	CU_ASSERT_EQUAL(after.bytes_locked, before.bytes_locked);
	munmap(t, LEN);
}

static void check_dereg_of_one_keeps_other(size_t off)
{
	uint8_t *t = map_anon(2 * LEN);
	struct ibv_mr *first, *second;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL_FATAL(pair_up(), 0);
	first = ibv_reg_mr(B.pd, t, LEN, PINNED);
	second = ibv_reg_mr(B.pd, t + off, LEN, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(first);
	CU_ASSERT_PTR_NOT_NULL_FATAL(second);
	CU_ASSERT_EQUAL(ibv_dereg_mr(first), 0);
	CU_ASSERT_TRUE(is_locked(t + off));
	CU_ASSERT_TRUE(is_locked(t + off + LEN - PG));
	if (off) /* what only the first covered is unlocked */
		CU_ASSERT_FALSE(is_locked(t));
	CU_ASSERT_EQUAL(stats(second).locked_bytes, LEN);
	CU_ASSERT_TRUE(write_lands(second, t + off, 0x33));
	CU_ASSERT_TRUE(write_lands(second, t + off + LEN - PG, 0x44));
	CU_ASSERT_EQUAL(ibv_dereg_mr(second), 0);
	CU_ASSERT_FALSE(is_locked(t + off));
	munmap(t, 2 * LEN);
	pair_down();
}

static void test_dereg_of_one_of_two_same_mrs_keeps_the_other_working_and_locked(void)
{
	check_dereg_of_one_keeps_other(0);
}

static void test_dereg_of_one_of_two_overlapping_mrs_keeps_the_other_working_and_locked(void)
{
	check_dereg_of_one_keeps_other(LEN / 2);
}

ODP_TEST(10000_registrations_of_the_same_buffer_share_it)
{
	enum { N = 10000 };
	uint8_t *t = map_anon(LEN);
	struct ibv_mr **mr = calloc(N, sizeof(*mr));
	struct sodp_cache_stats before, after;
	int i, made = 0, freed = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	before = cache_stats();
	for (i = 0; i < N; i++) {
		mr[i] = ibv_reg_mr(B.pd, t, LEN, PINNED);
		made += mr[i] != NULL;
	}
	CU_ASSERT_EQUAL(made, N);
	after = cache_stats();
	CU_ASSERT_EQUAL(after.misses - before.misses, 1);
	CU_ASSERT_EQUAL(after.hits - before.hits, N - 1);
	CU_ASSERT_EQUAL(after.translations - before.translations, 1);
	CU_ASSERT_TRUE(mr[0] && mr[N - 1] && mr[0]->rkey != mr[N - 1]->rkey);
	if (mr[N - 1])
		CU_ASSERT_TRUE(write_lands(mr[N - 1], t, 0x55));
	for (i = 0; i < N; i++)
		freed += mr[i] && !ibv_dereg_mr(mr[i]);
	CU_ASSERT_EQUAL(freed, N);
	CU_ASSERT_EQUAL(cache_stats().translations, before.translations);
	CU_ASSERT_FALSE(is_locked(t));
	free(mr);
	munmap(t, LEN);
}

ODP_TEST(registration_inside_a_prereg_arena_is_a_lookup)
{
	size_t arena_len = 64UL << 20;
	uint8_t *arena = map_anon(arena_len);
	struct sodp_cache_stats before, after;
	struct sodp_prereg *p = NULL;
	struct ibv_mr *mr;

	CU_ASSERT_PTR_NOT_NULL_FATAL(arena);
	CU_ASSERT_EQUAL_FATAL(sodp_prereg(arena, arena_len, &p), 0);
	CU_ASSERT_TRUE(is_locked(arena) && is_locked(arena + arena_len - PG));
	before = cache_stats();
	mr = ibv_reg_mr(B.pd, arena + (5UL << 20) + 100, 3 * PG, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	after = cache_stats();
	CU_ASSERT_EQUAL(after.hits - before.hits, 1);
	CU_ASSERT_EQUAL(after.misses, before.misses);
	CU_ASSERT_EQUAL(after.translations, before.translations);
	CU_ASSERT_TRUE(write_lands(mr, arena + (5UL << 20) + 100, 0x66));
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
	CU_ASSERT_TRUE(is_locked(arena + (5UL << 20)));
	CU_ASSERT_EQUAL(sodp_prereg_release(p), 0);
	CU_ASSERT_FALSE(is_locked(arena));
	CU_ASSERT_EQUAL(cache_stats().translations, before.translations - 1);
	munmap(arena, arena_len);
}

ODP_TEST(releasing_a_prereg_that_mrs_use_is_ebusy)
{
	uint8_t *arena = map_anon(LEN);
	struct sodp_prereg *p = NULL;
	struct ibv_mr *mr;

	CU_ASSERT_PTR_NOT_NULL_FATAL(arena);
	CU_ASSERT_EQUAL_FATAL(sodp_prereg(arena, LEN, &p), 0);
	mr = ibv_reg_mr(B.pd, arena + PG, PG, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	CU_ASSERT_EQUAL(sodp_prereg_release(p), -EBUSY);
	/* nothing was released: the MR and the lock stay */
	CU_ASSERT_TRUE(is_locked(arena));
	CU_ASSERT_TRUE(write_lands(mr, arena + PG, 0x77));
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
	CU_ASSERT_EQUAL(sodp_prereg_release(p), 0);
	CU_ASSERT_FALSE(is_locked(arena));
	munmap(arena, LEN);
}

static void test_bad_preregistrations_fail_cleanly(void)
{
	uint8_t *t = map_anon(2 * LEN);
	struct sodp_prereg *p = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(sodp_prereg(t, LEN, NULL), -EINVAL);
	CU_ASSERT_EQUAL(sodp_prereg(t, 0, &p), -EINVAL);
	CU_ASSERT_EQUAL(sodp_prereg((void *)(UINTPTR_MAX - PG), 2 * PG, &p), -EINVAL);
	CU_ASSERT_EQUAL(sodp_prereg_release(NULL), -EINVAL);
	CU_ASSERT_EQUAL(munmap(t + LEN, LEN), 0);
	CU_ASSERT_EQUAL(sodp_prereg(t, 2 * LEN, &p), -EFAULT); /* a hole */
	CU_ASSERT_EQUAL(mprotect(t, LEN, PROT_READ), 0);
	CU_ASSERT_EQUAL(sodp_prereg(t, LEN, &p), -EFAULT); /* read-only */
	CU_ASSERT_EQUAL(mprotect(t, LEN, PROT_NONE), 0);
	CU_ASSERT_EQUAL(sodp_prereg(t, LEN, &p), -EFAULT);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_FALSE(is_locked(t));
	munmap(t, LEN);
}

ODP_TEST(address_reused_after_munmap_gets_a_fresh_translation)
{
	uint8_t *t = map_far(LEN), *again;
	struct sodp_cache_stats before, after;
	struct ibv_mr *old, *fresh;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	memset(t, 1, LEN);
	old = ibv_reg_mr(B.pd, t, LEN, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(old);
	CU_ASSERT_EQUAL(munmap(t, LEN), 0);
	again = mmap(t, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		     0);
	CU_ASSERT_EQUAL_FATAL(again, t);
	before = cache_stats();
	fresh = ibv_reg_mr(B.pd, t, LEN, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fresh);
	after = cache_stats();
	CU_ASSERT_EQUAL(after.misses - before.misses, 1);
	CU_ASSERT_EQUAL(after.hits, before.hits);
	CU_ASSERT_EQUAL(stats(fresh).revoked, 0);
	CU_ASSERT_EQUAL(stats(old).revoked, 1);
	CU_ASSERT_TRUE(write_lands(fresh, t, 0x88));
	CU_ASSERT_TRUE(is_locked(t));
	/* the old rkey still reaches nothing */
	memset(A.buf, 0x99, PG);
	CU_ASSERT_EQUAL(
		a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)t, old->rkey, 0, 0),
		IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_TRUE(all_bytes(t, PG, 0x88));
	CU_ASSERT_EQUAL(ibv_dereg_mr(old), 0);
	CU_ASSERT_TRUE(is_locked(t)); /* the old translation's end unlocks nothing of the new */
	CU_ASSERT_EQUAL(ibv_dereg_mr(fresh), 0);
	munmap(t, LEN);
}

struct registrar {
	uint8_t *t;
	unsigned int seed;
	int done, failed;
	bool stop; /* atomic */
};

/* Registers and deregisters ranges of the target that overlap the traffic's. */
static void *register_overlapping(void *arg)
{
	struct registrar *r = arg;
	uint64_t deadline = rt_ms() + 10000;
	int i;

	for (i = 0; i < 2000 && !__atomic_load_n(&r->stop, __ATOMIC_RELAXED) && rt_ms() < deadline;
	     i++) {
		size_t off = (rand_r(&r->seed) % (LEN / PG)) * PG;
		size_t len = PG * (1 + rand_r(&r->seed) % ((LEN - off) / PG));
		struct ibv_mr *mr = ibv_reg_mr(B.pd, r->t + off, len, PINNED);

		if (!mr || ibv_dereg_mr(mr))
			r->failed++;
		r->done++;
	}
	return NULL;
}

ODP_TEST(threads_register_and_deregister_overlapping_ranges_under_traffic)
{
	uint8_t *t = map_anon(LEN);
	struct registrar r[2] = {{.seed = 1}, {.seed = 2}};
	pthread_t th[2];
	struct ibv_mr *mr;
	int i, ok = 0, landed = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	mr = ibv_reg_mr(B.pd, t, LEN, PINNED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mr);
	for (i = 0; i < 2; i++) {
		r[i].t = t;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, register_overlapping, &r[i]), 0);
	}
	for (i = 0; i < 400; i++) {
		uint8_t *at = t + (i % (LEN / PG)) * PG;

		memset(A.buf, i & 0xff, PG);
		ok += a_do(IBV_WR_RDMA_WRITE, A.mr->lkey, A.buf, PG, (uintptr_t)at, mr->rkey, 0,
			   0) == IBV_WC_SUCCESS;
		landed += all_bytes(at, PG, i & 0xff);
	}
	for (i = 0; i < 2; i++) {
		__atomic_store_n(&r[i].stop, true, __ATOMIC_RELAXED);
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(r[i].failed, 0);
		CU_ASSERT_TRUE(r[i].done > 0);
	}
	CU_ASSERT_EQUAL(ok, 400);
	CU_ASSERT_EQUAL(landed, 400);
	CU_ASSERT_TRUE(is_locked(t) && is_locked(t + LEN - PG));
	CU_ASSERT_EQUAL(ibv_dereg_mr(mr), 0);
	CU_ASSERT_FALSE(is_locked(t));
	munmap(t, LEN);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"device_reports_odp_and_implicit_caps", test_device_reports_odp_and_implicit_caps},
		{"odp_registration_faults_nothing", test_odp_registration_faults_nothing},
		{"1000_registrations_of_1gib_odp", test_1000_registrations_of_1gib_odp},
		{"bad_registrations_are_einval", test_bad_registrations_are_einval},
		{"write_and_read_through_iova_unlike_address_near_2_64",
		 test_write_and_read_through_iova_unlike_address_near_2_64},
		{"write_into_never_touched_memory_lands",
		 test_write_into_never_touched_memory_lands},
		{"read_from_never_touched_memory_returns_zeros",
		 test_read_from_never_touched_memory_returns_zeros},
		{"zero_page_read_then_write_lands_and_neighbours_stay_zero",
		 test_zero_page_read_then_write_lands_and_neighbours_stay_zero},
		{"every_rc_opcode_100_times_after_dontneed",
		 test_every_rc_opcode_100_times_after_dontneed},
		{"mixed_sge_list_of_odp_and_pinned", test_mixed_sge_list_of_odp_and_pinned},
		{"sequential_write_stream_is_faulted_ahead",
		 test_sequential_write_stream_is_faulted_ahead},
		{"sparse_writes_fault_only_what_they_touch",
		 test_sparse_writes_fault_only_what_they_touch},
		{"munmap_and_mmap_at_same_address_second_write_lands_in_new_mapping",
		 test_munmap_and_mmap_at_same_address_second_write_lands_in_new_mapping},
		{"mremap_moves_the_target_and_a_write_follows_the_address",
		 test_mremap_moves_the_target_and_a_write_follows_the_address},
		{"munmap_for_good_gives_remote_access_error_and_process_lives",
		 test_munmap_for_good_gives_remote_access_error_and_process_lives},
		{"send_into_unmapped_receive_buffer_errors_both_sides",
		 test_send_into_unmapped_receive_buffer_errors_both_sides},
		{"local_sge_unmapped_gives_local_protection_error",
		 test_local_sge_unmapped_gives_local_protection_error},
		{"read_into_unmapped_local_buffer_gives_local_protection_error",
		 test_read_into_unmapped_local_buffer_gives_local_protection_error},
		{"write_to_readonly_target_fails_then_works_after_mprotect_back",
		 test_write_to_readonly_target_fails_then_works_after_mprotect_back},
		{"atomic_on_readonly_odp_target_is_remote_access_error",
		 test_atomic_on_readonly_odp_target_is_remote_access_error},
		{"atomic_on_readonly_pinned_target_is_remote_access_error",
		 test_atomic_on_readonly_pinned_target_is_remote_access_error},
		{"registration_over_unmapped_range_works_once_mapped",
		 test_registration_over_unmapped_range_works_once_mapped},
		{"dontneed_in_the_middle_keeps_both_ends_and_refaults",
		 test_dontneed_in_the_middle_keeps_both_ends_and_refaults},
		{"fork_keeps_parent_memory_registered_and_child_writes_unseen",
		 test_fork_keeps_parent_memory_registered_and_child_writes_unseen},
		{"fork_during_cold_fault_traffic_does_not_hang",
		 test_fork_during_cold_fault_traffic_does_not_hang},
		{"writes_against_unmap_map_churn", test_writes_against_unmap_map_churn},
		{"ud_send_and_receive_with_odp", test_ud_send_and_receive_with_odp},
		{"srq_receive_into_odp", test_srq_receive_into_odp},
		{"thp_backed_odp_region_takes_order9_entries",
		 test_thp_backed_odp_region_takes_order9_entries},
		{"hugetlb_region_with_hugetlb_access", test_hugetlb_region_with_hugetlb_access},
		{"counters_sum_per_device_including_deregistered",
		 test_counters_sum_per_device_including_deregistered},
		{"implicit_mr_serves_addresses_more_than_1gib_apart_and_frees_children",
		 test_implicit_mr_serves_addresses_more_than_1gib_apart_and_frees_children},
		{"implicit_mr_keeps_no_child_for_unmapped_addresses",
		 test_implicit_mr_keeps_no_child_for_unmapped_addresses},
		{"prefetch_sync_async_and_no_fault", test_prefetch_sync_async_and_no_fault},
		{"advise_mr_errors", test_advise_mr_errors},
		{"dereg_while_a_fault_is_in_flight", test_dereg_while_a_fault_is_in_flight},
		{NULL, NULL},
	};

	static const struct sodp_test_case pinned[] = {
		{"stale_rkey_after_munmap_and_mmap_at_same_address",
		 test_stale_rkey_after_munmap_and_mmap_at_same_address},
		{"stale_rkey_after_free_and_malloc_reuse",
		 test_stale_rkey_after_free_and_malloc_reuse},
		{"stale_rkey_after_map_fixed_over_the_buffer",
		 test_stale_rkey_after_map_fixed_over_the_buffer},
		{"stale_rkey_after_mremap_away_and_back",
		 test_stale_rkey_after_mremap_away_and_back},
		{"rest_of_partly_unmapped_pinned_mr_keeps_working",
		 test_rest_of_partly_unmapped_pinned_mr_keeps_working},
		{"local_use_of_revoked_pinned_memory_is_local_protection_error",
		 test_local_use_of_revoked_pinned_memory_is_local_protection_error},
		{"pinned_write_to_readonly_target_fails_then_works_after_mprotect_back",
		 test_pinned_write_to_readonly_target_fails_then_works_after_mprotect_back},
		{"pinned_prot_none_target_fails_reads_then_works_after_mprotect_back",
		 test_pinned_prot_none_target_fails_reads_then_works_after_mprotect_back},
		{"dontneed_on_locked_pinned_memory_is_refused_and_data_stays",
		 test_dontneed_on_locked_pinned_memory_is_refused_and_data_stays},
		{"fork_keeps_parent_pinned_memory_registered_and_child_writes_unseen",
		 test_fork_keeps_parent_pinned_memory_registered_and_child_writes_unseen},
		{NULL, NULL},
	};

	static const struct sodp_test_case cache[] = {
		{"overlapping_mrs_share_one_translation",
		 test_overlapping_mrs_share_one_translation},
		{"dereg_of_one_of_two_same_mrs_keeps_the_other_working_and_locked",
		 test_dereg_of_one_of_two_same_mrs_keeps_the_other_working_and_locked},
		{"dereg_of_one_of_two_overlapping_mrs_keeps_the_other_working_and_locked",
		 test_dereg_of_one_of_two_overlapping_mrs_keeps_the_other_working_and_locked},
		{"10000_registrations_of_the_same_buffer_share_it",
		 test_10000_registrations_of_the_same_buffer_share_it},
		{"registration_inside_a_prereg_arena_is_a_lookup",
		 test_registration_inside_a_prereg_arena_is_a_lookup},
		{"releasing_a_prereg_that_mrs_use_is_ebusy",
		 test_releasing_a_prereg_that_mrs_use_is_ebusy},
		{"bad_preregistrations_fail_cleanly", test_bad_preregistrations_fail_cleanly},
		{"address_reused_after_munmap_gets_a_fresh_translation",
		 test_address_reused_after_munmap_gets_a_fresh_translation},
		{"threads_register_and_deregister_overlapping_ranges_under_traffic",
		 test_threads_register_and_deregister_overlapping_ranges_under_traffic},
		{NULL, NULL},
	};

	sodp_add_suite("odp", NULL, NULL, t);
	sodp_add_suite("translation_cache", NULL, NULL, cache);
	sodp_add_suite("pinned_revocation", NULL, NULL, pinned);
}
