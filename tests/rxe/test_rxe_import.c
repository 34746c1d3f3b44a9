// SPDX-License-Identifier: MIT
/*
 * A context's cmd_fd is a descriptor of its command file: a dup of it
 * imports the context (ibv_import_device), whose PDs and MRs another
 * context then reaches by handle (ibv_import_pd, ibv_import_mr) and uses
 * for traffic, as rdma-core's shared-PD pattern does. Unimporting leaves the
 * objects; deallocating or deregistering through any context ends them for
 * all. Within one process only: another one's import is refused.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sodp_test.h"
#include "rxe_test_util.h"

#define MSG 4096

/* C is a plain side on srxe0; S registered its PD and MR on srxe1; I imports S. */
static struct rt_side C, S;
static struct ibv_context *ictx;
static struct ibv_pd *ipd;
static struct ibv_mr *imr;
static struct ibv_cq *icq;
static struct ibv_qp *iqp;

static int up(void)
{
	if (rt_side_init(&C, "srxe0", IBV_QPT_RC, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
			 16) ||
	    rt_side_init(&S, "srxe1", IBV_QPT_RC, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
			 16))
		return -1;
	return 0;
}

static void down(void)
{
	if (iqp)
		ibv_destroy_qp(iqp);
	if (icq)
		ibv_destroy_cq(icq);
	if (imr)
		ibv_unimport_mr(imr);
	if (ipd)
		ibv_unimport_pd(ipd);
	if (ictx)
		ibv_close_device(ictx);
	iqp = NULL;
	icq = NULL;
	imr = NULL;
	ipd = NULL;
	ictx = NULL;
	rt_side_fini(&C);
	rt_side_fini(&S);
}

#define UP_OR_SKIP()                                                              \
	do {                                                                      \
		if (up()) {                                                       \
			down();                                                   \
			SODP_SKIP("cannot bind UDP 4791 on 127.0.0.1/127.0.0.2"); \
		}                                                                 \
	} while (0)

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_cmd_fd_is_a_descriptor_of_its_own(void)
{
	struct stat a, b;
	int fd;

	UP_OR_SKIP();
	CU_ASSERT(C.ctx->cmd_fd >= 0);
	CU_ASSERT(fd_open(C.ctx->cmd_fd));
	CU_ASSERT(fcntl(C.ctx->cmd_fd, F_GETFD) & FD_CLOEXEC);
	CU_ASSERT_EQUAL_FATAL(fstat(C.ctx->cmd_fd, &a), 0);
	CU_ASSERT_EQUAL_FATAL(fstat(S.ctx->cmd_fd, &b), 0);
	CU_ASSERT(a.st_ino != b.st_ino || a.st_dev != b.st_dev);
	fd = dup(C.ctx->cmd_fd);
	CU_ASSERT(fd >= 0);
	close(fd);
	down();
}

/* The imported context owns the descriptor it was given and closes it. */
static void test_import_device_shares_the_device_and_owns_the_fd(void)
{
	int fd;

	UP_OR_SKIP();
	fd = dup(S.ctx->cmd_fd);
	CU_ASSERT_FATAL(fd >= 0);
	ictx = ibv_import_device(fd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ictx);
	CU_ASSERT_PTR_EQUAL(ictx->device, S.ctx->device);
	CU_ASSERT_EQUAL(ictx->cmd_fd, fd);
	CU_ASSERT_EQUAL(ibv_close_device(ictx), 0);
	ictx = NULL;
	CU_ASSERT(!fd_open(fd));
	/* the original goes on working */
	CU_ASSERT(fd_open(S.ctx->cmd_fd));
	CU_ASSERT_PTR_NOT_NULL(ipd = ibv_alloc_pd(S.ctx));
	CU_ASSERT_EQUAL(ibv_dealloc_pd(ipd), 0);
	ipd = NULL;
	down();
}

static void test_import_device_refuses_other_descriptors(void)
{
	int fd;

	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_import_device(-1));
	CU_ASSERT_EQUAL(errno, EINVAL);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_import_device(fd));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(fd_open(fd));
	close(fd);
}

/* Another process holds the descriptor but not the objects behind it. */
static void test_import_device_in_another_process_is_eopnotsupp(void)
{
	pid_t pid;
	int status, fd;

	UP_OR_SKIP();
	fd = dup(S.ctx->cmd_fd);
	CU_ASSERT_FATAL(fd >= 0);
	fcntl(fd, F_SETFD, 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (!pid) {
		struct ibv_context *c = ibv_import_device(fd);

		_exit(c ? 1 : errno == EOPNOTSUPP ? 0 : 2);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	close(fd);
	down();
}

/* I: S's context imported, with S's PD and MR, a CQ and an RC QP. */
static void import_s(void)
{
	struct ibv_qp_init_attr ia;
	int fd = dup(S.ctx->cmd_fd);

	CU_ASSERT_FATAL(fd >= 0);
	ictx = ibv_import_device(fd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ictx);
	ipd = ibv_import_pd(ictx, S.pd->handle);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ipd);
	imr = ibv_import_mr(ipd, S.mr->handle);
	CU_ASSERT_PTR_NOT_NULL_FATAL(imr);
	icq = ibv_create_cq(ictx, 16, NULL, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(icq);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = icq;
	ia.recv_cq = icq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 8;
	ia.cap.max_recv_wr = 8;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	iqp = ibv_create_qp(ipd, &ia);
	CU_ASSERT_PTR_NOT_NULL_FATAL(iqp);
	CU_ASSERT_EQUAL_FATAL(
		rt_rc_connect_qp(iqp, C.qp->qp_num, &C.gid, 10, 20, rt_default_opts()), 0);
	CU_ASSERT_EQUAL_FATAL(
		rt_rc_connect_qp(C.qp, iqp->qp_num, &S.gid, 20, 10, rt_default_opts()), 0);
}

static void test_imported_objects_describe_the_originals(void)
{
	UP_OR_SKIP();
	import_s();
	CU_ASSERT_PTR_EQUAL(ipd->context, ictx);
	CU_ASSERT_EQUAL(ipd->handle, S.pd->handle);
	CU_ASSERT_PTR_EQUAL(imr->context, ictx);
	CU_ASSERT_PTR_EQUAL(imr->pd, ipd);
	CU_ASSERT_PTR_NULL(imr->addr);
	CU_ASSERT_EQUAL(imr->length, S.mr->length);
	CU_ASSERT_EQUAL(imr->handle, S.mr->handle);
	CU_ASSERT_EQUAL(imr->lkey, S.mr->lkey);
	CU_ASSERT_EQUAL(imr->rkey, S.mr->rkey);
	down();
}

/*
 * The imported context's QP, on the imported PD, reaches S's memory through
 * the imported MR both ways: C writes into it, and I sends from it.
 */
static void test_traffic_through_imported_pd_and_mr(void)
{
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;

	UP_OR_SKIP();
	import_s();
	rt_fill(C.buf, MSG, 5);
	CU_ASSERT_EQUAL(rt_post(&C, IBV_WR_RDMA_WRITE, 0, MSG, (uintptr_t)S.buf, imr->rkey), 0);
	CU_ASSERT_EQUAL_FATAL(rt_poll(C.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(S.buf, C.buf, MSG), 0);

	CU_ASSERT_EQUAL(rt_post_recv(&C, 9, MSG, MSG), 0);
	sge = (struct ibv_sge){(uintptr_t)S.buf, MSG, imr->lkey};
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = 8;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	CU_ASSERT_EQUAL(ibv_post_send(iqp, &wr, &bad), 0);
	CU_ASSERT_EQUAL_FATAL(rt_poll(icq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL_FATAL(rt_poll(C.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.wr_id, 9);
	CU_ASSERT_EQUAL(memcmp(C.buf + MSG, S.buf, MSG), 0);
	down();
}

static void test_import_of_unknown_handles_is_einval(void)
{
	struct ibv_context *other;
	struct ibv_pd *opd;
	struct ibv_mr *omr;

	UP_OR_SKIP();
	import_s();
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_import_pd(ictx, S.pd->handle + 1000));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_import_mr(ipd, S.mr->handle ^ 0x100));
	CU_ASSERT_EQUAL(errno, EINVAL);
	/* a context opened on its own shares nothing with S */
	other = rt_open("srxe1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_import_pd(other, S.pd->handle));
	CU_ASSERT_EQUAL(errno, EINVAL);
	opd = ibv_alloc_pd(other);
	CU_ASSERT_PTR_NOT_NULL_FATAL(opd);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_import_mr(opd, S.mr->handle));
	CU_ASSERT_EQUAL(errno, EINVAL);
	omr = ibv_reg_mr(opd, S.buf, MSG, IBV_ACCESS_LOCAL_WRITE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(omr);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_import_mr(ipd, omr->handle));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(ibv_dereg_mr(omr), 0);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(opd), 0);
	CU_ASSERT_EQUAL(ibv_close_device(other), 0);
	down();
}

/* Unimporting frees the views only: S's PD and MR go on working. */
static void test_unimport_leaves_the_objects(void)
{
	struct ibv_wc wc;

	UP_OR_SKIP();
	import_s();
	ibv_unimport_mr(imr);
	imr = NULL;
	CU_ASSERT_EQUAL(ibv_destroy_qp(iqp), 0);
	iqp = NULL;
	ibv_unimport_pd(ipd);
	ipd = NULL;
	CU_ASSERT_EQUAL(rt_rc_connect(&C, &S, rt_default_opts(), 1, 2), 0);
	rt_fill(C.buf, MSG, 6);
	CU_ASSERT_EQUAL(rt_post(&C, IBV_WR_RDMA_WRITE, 0, MSG, (uintptr_t)S.buf, S.mr->rkey), 0);
	CU_ASSERT_EQUAL_FATAL(rt_poll(C.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(S.buf, C.buf, MSG), 0);
	/* and can be imported again */
	ipd = ibv_import_pd(ictx, S.pd->handle);
	CU_ASSERT_PTR_NOT_NULL(ipd);
	down();
}

/* A PD with an MR on it is busy through every context. */
static void test_dealloc_of_a_shared_pd_in_use_is_ebusy(void)
{
	UP_OR_SKIP();
	import_s();
	CU_ASSERT_EQUAL(ibv_dealloc_pd(ipd), EBUSY);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(S.pd), EBUSY);
	down();
}

/*
 * Deregistering through the imported MR ends the MR for everyone: its rkey
 * no longer reaches S's memory, the other views may only be unimported,
 * and S then lets its struct go; the PD is free again.
 */
static void test_dereg_through_an_import_ends_the_mr(void)
{
	struct ibv_mr *second;
	struct ibv_wc wc;
	uint32_t rkey;

	UP_OR_SKIP();
	import_s();
	second = ibv_import_mr(ipd, S.mr->handle);
	CU_ASSERT_PTR_NOT_NULL_FATAL(second);
	rkey = imr->rkey;
	CU_ASSERT_EQUAL(ibv_dereg_mr(imr), 0);
	imr = NULL;
	memset(S.buf, 0x5a, MSG);
	rt_fill(C.buf, MSG, 7);
	CU_ASSERT_EQUAL(rt_post(&C, IBV_WR_RDMA_WRITE, 0, MSG, (uintptr_t)S.buf, rkey), 0);
	CU_ASSERT_EQUAL_FATAL(rt_poll(C.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT_EQUAL(S.buf[0], 0x5a);
	CU_ASSERT_EQUAL(ibv_dereg_mr(second), EINVAL);
	ibv_unimport_mr(second);
	CU_ASSERT_EQUAL(ibv_dereg_mr(S.mr), 0);
	S.mr = NULL;
	CU_ASSERT_EQUAL(ibv_destroy_qp(iqp), 0);
	iqp = NULL;
	CU_ASSERT_EQUAL(ibv_destroy_qp(S.qp), 0);
	S.qp = NULL;
	CU_ASSERT_EQUAL(ibv_dealloc_pd(ipd), 0);
	ipd = NULL;
	/* S's own view of the PD it deallocated through I may only be unimported */
	CU_ASSERT_EQUAL(ibv_dealloc_pd(S.pd), EINVAL);
	ibv_unimport_pd(S.pd);
	S.pd = NULL;
	down();
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"cmd_fd_is_a_descriptor_of_its_own", test_cmd_fd_is_a_descriptor_of_its_own},
		{"import_device_shares_the_device_and_owns_the_fd",
		 test_import_device_shares_the_device_and_owns_the_fd},
		{"import_device_refuses_other_descriptors",
		 test_import_device_refuses_other_descriptors},
		{"import_device_in_another_process_is_eopnotsupp",
		 test_import_device_in_another_process_is_eopnotsupp},
		{"imported_objects_describe_the_originals",
		 test_imported_objects_describe_the_originals},
		{"traffic_through_imported_pd_and_mr", test_traffic_through_imported_pd_and_mr},
		{"import_of_unknown_handles_is_einval", test_import_of_unknown_handles_is_einval},
		{"unimport_leaves_the_objects", test_unimport_leaves_the_objects},
		{"dealloc_of_a_shared_pd_in_use_is_ebusy",
		 test_dealloc_of_a_shared_pd_in_use_is_ebusy},
		{"dereg_through_an_import_ends_the_mr", test_dereg_through_an_import_ends_the_mr},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_import", NULL, NULL, t);
}
