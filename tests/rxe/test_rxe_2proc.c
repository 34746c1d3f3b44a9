// SPDX-License-Identifier: MIT
/*
 * Two processes, each with its own softodp device (127.0.0.1 and 127.0.0.2,
 * each binding UDP 4791): connection data goes through pipes, then RDMA
 * WRITE, SEND with immediate, READ and atomics cross the process boundary.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>

#include "sodp_test.h"
#include "rxe_test_util.h"

struct peer_info {
	uint32_t qpn;
	uint32_t rkey;
	uint64_t addr;
	union ibv_gid gid;
};

static int xfer(int wfd, int rfd, const struct peer_info *mine, struct peer_info *theirs)
{
	if (write(wfd, mine, sizeof(*mine)) != sizeof(*mine))
		return -1;
	return read(rfd, theirs, sizeof(*theirs)) == sizeof(*theirs) ? 0 : -1;
}

static int connect_to(struct rt_side *me, const struct peer_info *p, uint32_t my_psn,
		      uint32_t peer_psn)
{
	struct rt_conn_opts o = *rt_default_opts();

	o.mtu = IBV_MTU_4096;
	o.timeout = 12;
	return rt_rc_connect_qp(me->qp, p->qpn, &p->gid, my_psn, peer_psn, &o);
}

/* The passive side: receives one SEND, checks the WRITE that preceded it. */
static int child_main(int wfd, int rfd)
{
	struct peer_info mine, theirs;
	struct rt_side s;
	struct ibv_wc wc;
	uint8_t expect[100000];
	char done;

	setenv("SOFTODP_DEVICES", "srxe0=127.0.0.2", 1);
	alarm(30);
	if (rt_side_init(&s, "srxe0", IBV_QPT_RC,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
				 IBV_ACCESS_REMOTE_ATOMIC,
			 16))
		return 2;
	rt_fill(s.buf + 200000, 50000, 21);
	*(uint64_t *)(s.buf + 300000) = 1000;
	mine.qpn = s.qp->qp_num;
	mine.rkey = s.mr->rkey;
	mine.addr = (uintptr_t)s.buf;
	mine.gid = s.gid;
	if (xfer(wfd, rfd, &mine, &theirs) || connect_to(&s, &theirs, 0x222, 0x111))
		return 4;
	/* a SEND arriving before this gets an RNR NAK and is retried */
	if (rt_post_recv(&s, 1, 0, 64))
		return 3;
	if (rt_poll(s.cq, &wc) != 1 || wc.status != IBV_WC_SUCCESS ||
	    be32toh(wc.imm_data) != 0x1234abcd)
		return 5;
	rt_fill(expect, sizeof(expect), 13);
	if (memcmp(s.buf + 100000, expect, sizeof(expect)))
		return 6;
	if (read(rfd, &done, 1) != 1)
		return 7;
	rt_side_fini(&s);
	return 0;
}

static void test_two_processes_write_send_read_atomic(void)
{
	int p2c[2], c2p[2], status = -1;
	struct peer_info mine, theirs;
	struct rt_side s;
	struct ibv_wc wc;
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(pipe(p2c), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(c2p), 0);
	pid = fork();
	CU_ASSERT_NOT_EQUAL_FATAL(pid, -1);
	if (!pid) {
		close(p2c[1]);
		close(c2p[0]);
		_exit(child_main(c2p[1], p2c[0]));
	}
	close(p2c[0]);
	close(c2p[1]);

	setenv("SOFTODP_DEVICES", "srxe0=127.0.0.1", 1);
	if (rt_side_init(&s, "srxe0", IBV_QPT_RC, IBV_ACCESS_LOCAL_WRITE, 16)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		rt_side_fini(&s);
		SODP_SKIP("cannot open srxe0 on 127.0.0.1");
	}
	mine.qpn = s.qp->qp_num;
	mine.rkey = s.mr->rkey;
	mine.addr = (uintptr_t)s.buf;
	mine.gid = s.gid;
	if (xfer(p2c[1], c2p[0], &mine, &theirs)) {
		waitpid(pid, &status, 0);
		printf("\n    child failed at step %d\n", WEXITSTATUS(status));
		CU_FAIL("no connection data from the child");
		rt_side_fini(&s);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(connect_to(&s, &theirs, 0x111, 0x222), 0);

	rt_fill(s.buf, 100000, 13);
	CU_ASSERT_EQUAL(
		rt_post(&s, IBV_WR_RDMA_WRITE, 0, 100000, theirs.addr + 100000, theirs.rkey), 0);
	CU_ASSERT_EQUAL(rt_post(&s, IBV_WR_SEND_WITH_IMM, 0, 64, 0, 0), 0);
	CU_ASSERT_EQUAL(
		rt_post(&s, IBV_WR_RDMA_READ, 200000, 50000, theirs.addr + 200000, theirs.rkey), 0);
	CU_ASSERT_EQUAL(rt_post(&s, IBV_WR_ATOMIC_FETCH_AND_ADD, 300000, 8, theirs.addr + 300000,
				theirs.rkey),
			0);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(rt_poll(s.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	}
	{
		uint8_t expect[50000];

		rt_fill(expect, sizeof(expect), 21);
		CU_ASSERT_EQUAL(memcmp(s.buf + 200000, expect, sizeof(expect)), 0);
	}
	CU_ASSERT_EQUAL(*(uint64_t *)(s.buf + 300000), 1000);
	CU_ASSERT_EQUAL(write(p2c[1], "x", 1), 1);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	if (WEXITSTATUS(status))
		printf("\n    child failed at step %d\n", WEXITSTATUS(status));
	rt_side_fini(&s);
	close(p2c[1]);
	close(c2p[0]);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"write_send_read_atomic", test_two_processes_write_send_read_atomic},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_two_processes", NULL, NULL, t);
}
