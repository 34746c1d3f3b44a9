// SPDX-License-Identifier: MIT
/*
 * fork with an active device (srxe0 = 127.0.0.1, srxe1 = 127.0.0.2, an RC
 * pair in this process): the child exits within bounded time, idle or in
 * the middle of traffic an application thread drives; the parent's QPs keep working;
 * the child keeps none of the parent's devices (providers/rxe/fork.c).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>

#include "sodp_test.h"
#include "rxe_test_util.h"

#define NR_FORKS      20
#define CHILD_WAIT_MS 10000
#define WAIT_STEP_NS  1000000
#define TRAFFIC_DEPTH 16
#define TRAFFIC_SLOTS 8
#define TRAFFIC_LEN   65536

/* Exit codes of a child that checks something. */
enum child_status {
	CHILD_OK,
	CHILD_CREATE_QP_WORKED,
	CHILD_CREATE_QP_NOT_EIO,
	CHILD_DESTROY_FAILED,
	CHILD_CLOSE_FAILED,
};

/*
 * ACK timeout 14 (67 ms) instead of 10 (4 ms): on a two-core machine the
 * children exiting under a sanitizer take the CPU from both engines, and
 * seven 4 ms retries can run out with no packet lost. Retransmission is not
 * what these tests judge.
 */
#define ACK_TIMEOUT 14

static struct rt_side A, B;
static int in_child;

/*
 * LeakSanitizer, when linked in, asks this at exit. A fork child's heap is
 * the parent's, referenced from stacks of threads the child does not have:
 * what it would report is not the child's.
 */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return in_child;
}

/*
 * ThreadSanitizer sleeps a second at exit for threads to finish; a fork
 * child has none, and each test forks twenty.
 */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "atexit_sleep_ms=0";
}

static int pair_up(void)
{
	struct rt_conn_opts o = *rt_default_opts();

	o.timeout = ACK_TIMEOUT;
	if (rt_side_init(&A, "srxe0", IBV_QPT_RC, o.access, 64) ||
	    rt_side_init(&B, "srxe1", IBV_QPT_RC, o.access, 64))
		return -1;
	return rt_rc_connect(&A, &B, &o, 100, 200);
}

static void pair_down(void)
{
	rt_side_fini(&A);
	rt_side_fini(&B);
}

#define PAIR_OR_SKIP()                                                            \
	do {                                                                      \
		if (pair_up()) {                                                  \
			pair_down();                                              \
			SODP_SKIP("cannot bind UDP 4791 on 127.0.0.1/127.0.0.2"); \
		}                                                                 \
	} while (0)

/*
 * Waits up to @ms for @pid; returns its wait status, or -1 after killing it
 * when it did not exit in time.
 */
static int wait_child(pid_t pid, unsigned int ms)
{
	uint64_t end = rt_ms() + ms;
	int status;

	do {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		{
			struct timespec ts = {0, WAIT_STEP_NS};

			nanosleep(&ts, NULL);
		}
	} while (rt_ms() < end);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Forks a child that runs @fn then exit() (destructors included). */
static pid_t fork_child(int (*fn)(void))
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (!pid) {
		in_child = 1;
		exit(fn ? fn() : CHILD_OK);
	}
	return pid;
}

/* Forks and reaps NR_FORKS children in turn; returns how many exited 0 in time. */
static int fork_many(int (*fn)(void))
{
	int i, ok = 0;

	for (i = 0; i < NR_FORKS; i++) {
		pid_t pid = fork_child(fn);
		int status;

		if (pid < 0)
			break;
		status = wait_child(pid, CHILD_WAIT_MS);
		if (status == -1) {
			printf("\n    child %d of %d did not exit in %d ms\n", i + 1, NR_FORKS,
			       CHILD_WAIT_MS);
			break;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != CHILD_OK) {
			printf("\n    child %d of %d: wait status %#x\n", i + 1, NR_FORKS, status);
			break;
		}
		ok++;
	}
	return ok;
}

/* One RDMA WRITE A -> B and one SEND A -> B, checked end to end. */
static void check_write_and_send(unsigned int seed)
{
	struct ibv_wc wc;
	int i;

	rt_fill(A.buf, 100000, seed);
	CU_ASSERT_EQUAL(rt_post_recv(&B, 1, 200000, 4096), 0);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_RDMA_WRITE, 0, 100000, (uintptr_t)B.buf, B.mr->rkey), 0);
	CU_ASSERT_EQUAL(rt_post(&A, IBV_WR_SEND, 0, 4096, 0, 0), 0);
	for (i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL_FATAL(rt_poll(A.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	}
	CU_ASSERT_EQUAL_FATAL(rt_poll(B.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(wc.opcode, IBV_WC_RECV);
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf, 100000), 0);
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf + 200000, 4096), 0);
}

static void test_child_exits_while_device_active(void)
{
	PAIR_OR_SKIP();
	/* the engines are up: one round trip before forking */
	check_write_and_send(1);
	CU_ASSERT_EQUAL(fork_many(NULL), NR_FORKS);
	pair_down();
}

static void test_parent_qps_work_after_children_exit(void)
{
	PAIR_OR_SKIP();
	check_write_and_send(2);
	CU_ASSERT_EQUAL(fork_many(NULL), NR_FORKS);
	check_write_and_send(3);
	pair_down();
}

/* Child: a QP on an inherited context fails with EIO, as for a dead device. */
static int child_create_qp(void)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp *qp;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = A.cq;
	ia.recv_cq = A.cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 1;
	ia.cap.max_recv_wr = 1;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	qp = ibv_create_qp(A.pd, &ia);
	if (qp)
		return CHILD_CREATE_QP_WORKED;
	return errno == EIO ? CHILD_OK : CHILD_CREATE_QP_NOT_EIO;
}

static void test_child_cannot_create_qp_on_inherited_device(void)
{
	int status;
	pid_t pid;

	PAIR_OR_SKIP();
	pid = fork_child(child_create_qp);
	CU_ASSERT_FATAL(pid > 0);
	status = wait_child(pid, CHILD_WAIT_MS);
	CU_ASSERT_NOT_EQUAL(status, -1);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), CHILD_OK);
	pair_down();
}

/* Child: every inherited object can be released, the device closed. */
static int child_release_all(void)
{
	struct rt_side *s[2] = {&A, &B};
	int i;

	for (i = 0; i < 2; i++) {
		if (ibv_destroy_qp(s[i]->qp) || ibv_dereg_mr(s[i]->mr) ||
		    ibv_destroy_cq(s[i]->cq) || ibv_dealloc_pd(s[i]->pd))
			return CHILD_DESTROY_FAILED;
		if (ibv_close_device(s[i]->ctx))
			return CHILD_CLOSE_FAILED;
	}
	return CHILD_OK;
}

static void test_child_releases_inherited_objects(void)
{
	int status;
	pid_t pid;

	PAIR_OR_SKIP();
	check_write_and_send(4);
	pid = fork_child(child_release_all);
	CU_ASSERT_FATAL(pid > 0);
	status = wait_child(pid, CHILD_WAIT_MS);
	CU_ASSERT_NOT_EQUAL(status, -1);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), CHILD_OK);
	check_write_and_send(5);
	pair_down();
}

/*
 * Child: says it is running (fork() has returned in it, so the atfork child
 * handler has run), then stays alive until the parent closes its end of
 * @hold.
 */
static int hold[2] = {-1, -1}, ready[2] = {-1, -1};

static int child_hold(void)
{
	char c = 0;

	alarm(CHILD_WAIT_MS / 1000 * 3);
	close(hold[1]);
	close(ready[0]);
	if (write(ready[1], &c, 1) != 1)
		return CHILD_OK;
	while (read(hold[0], &c, 1) < 0 && errno == EINTR)
		;
	return CHILD_OK;
}

/* Whether the child wrote to @ready within CHILD_WAIT_MS. */
static bool child_ready(void)
{
	struct pollfd p = {.fd = ready[0], .events = POLLIN};
	char c;

	return poll(&p, 1, CHILD_WAIT_MS) == 1 && read(ready[0], &c, 1) == 1;
}

/*
 * A live child holds no copy of the parent's sockets: the parent closes its
 * devices, opens them again (binding UDP 4791 anew) and moves data. Until
 * fork() returns in the child the copies exist, so the parent waits for it.
 */
static void test_parent_reopens_devices_while_child_lives(void)
{
	int status;
	pid_t pid;

	PAIR_OR_SKIP();
	CU_ASSERT_EQUAL_FATAL(pipe(hold), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(ready), 0);
	pid = fork_child(child_hold);
	close(hold[0]);
	close(ready[1]);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT(child_ready());
	pair_down();
	if (pair_up()) {
		CU_FAIL("cannot open the devices again while the child lives");
	} else {
		check_write_and_send(6);
	}
	close(hold[1]);
	close(ready[0]);
	status = wait_child(pid, CHILD_WAIT_MS);
	CU_ASSERT_NOT_EQUAL(status, -1);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), CHILD_OK);
	pair_down();
}

/* ---- traffic while forking ---- */

struct traffic {
	pthread_t thread;
	bool stop;   /* set by the main thread when its forks are done */
	int started; /* completions seen, read by the main thread */
	int posted, completed, errors;
	int poll_ret;		   /* of the failed poll */
	enum ibv_wc_status status; /* of the failed completion */
};

/*
 * Keeps TRAFFIC_DEPTH RDMA WRITEs in flight until told to stop, then waits
 * for every one posted.
 */
static void *traffic_thread(void *arg)
{
	struct traffic *t = arg;
	struct ibv_wc wc;

	for (;;) {
		bool stop = __atomic_load_n(&t->stop, __ATOMIC_ACQUIRE);

		while (!stop && t->posted - t->completed < TRAFFIC_DEPTH) {
			uint32_t off = (uint32_t)(t->posted % TRAFFIC_SLOTS) * TRAFFIC_LEN;

			if (rt_post(&A, IBV_WR_RDMA_WRITE, off, TRAFFIC_LEN, (uintptr_t)B.buf + off,
				    B.mr->rkey)) {
				t->errors++;
				return NULL;
			}
			t->posted++;
		}
		if (t->completed == t->posted)
			return NULL;
		t->poll_ret = rt_poll(A.cq, &wc);
		if (t->poll_ret != 1 || wc.status != IBV_WC_SUCCESS) {
			t->status = wc.status;
			t->errors++;
			return NULL;
		}
		t->completed++;
		__atomic_store_n(&t->started, t->completed, __ATOMIC_RELEASE);
	}
}

/*
 * The traffic thread polls its CQ without pause, so it drives the engine
 * itself (caller-driven progress) while the forks happen.
 */
static void test_child_forked_during_traffic_exits_and_traffic_completes(void)
{
	struct traffic t = {0};
	uint64_t end;
	int forked;

	PAIR_OR_SKIP();
	rt_fill(A.buf, TRAFFIC_SLOTS * TRAFFIC_LEN, 6);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t.thread, NULL, traffic_thread, &t), 0);
	/* fork only once WRITEs are flowing */
	end = rt_ms() + RT_WAIT_MS;
	while (!__atomic_load_n(&t.started, __ATOMIC_ACQUIRE) && rt_ms() < end) {
		struct timespec ts = {0, WAIT_STEP_NS};

		nanosleep(&ts, NULL);
	}
	forked = fork_many(NULL);
	__atomic_store_n(&t.stop, true, __ATOMIC_RELEASE);
	pthread_join(t.thread, NULL);
	CU_ASSERT_EQUAL(forked, NR_FORKS);
	CU_ASSERT_EQUAL(t.errors, 0);
	if (t.errors)
		printf("\n    traffic stopped after %d of %d WRITEs: poll %d, %s\n", t.completed,
		       t.posted, t.poll_ret, t.poll_ret == 1 ? ibv_wc_status_str(t.status) : "-");
	CU_ASSERT(t.completed > TRAFFIC_DEPTH);
	CU_ASSERT_EQUAL(t.completed, t.posted);
	CU_ASSERT_EQUAL(memcmp(A.buf, B.buf, TRAFFIC_SLOTS * TRAFFIC_LEN), 0);
	pair_down();
}

static void test_fork_init_returns_zero(void)
{
	CU_ASSERT_EQUAL(ibv_fork_init(), 0);
	CU_ASSERT_EQUAL(ibv_is_fork_initialized(), IBV_FORK_UNNEEDED);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"fork_init_returns_zero", test_fork_init_returns_zero},
		{"child_exits_while_device_active", test_child_exits_while_device_active},
		{"parent_qps_work_after_children_exit", test_parent_qps_work_after_children_exit},
		{"child_forked_during_traffic_exits_and_traffic_completes",
		 test_child_forked_during_traffic_exits_and_traffic_completes},
		{"child_cannot_create_qp_on_inherited_device",
		 test_child_cannot_create_qp_on_inherited_device},
		{"child_releases_inherited_objects", test_child_releases_inherited_objects},
		{"parent_reopens_devices_while_child_lives",
		 test_parent_reopens_devices_while_child_lives},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_fork", NULL, NULL, t);
}
