// SPDX-License-Identifier: MIT
/*
 * The stat segment and `softodp stat`: a process with a device open
 * publishes its QPs, MRs and counters, the command shows them (text and
 * JSON) without stopping it, the segment goes with the last context or the
 * process, a killed process's segment (or one whose PID was reused) is
 * removed by the command, SOFTODP_STAT=0 makes none, bad options are a
 * usage error.
 */
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <infiniband/verbs.h>

#include "sodp_test.h"
#include "stat_rec.h"
#include "sodp_proc.h"

#define SOFTODP	  SODP_BUILD_DIR "/tools/softodp"
#define WAIT_SECS 10 /* for a publish; a sanitizer slows everything */
#define SQ_PSN	  0x123456
#define RQ_PSN	  0x654321
#define MR_LEN	  (64 * 1024)

static struct sodp_proc r;

static void seg_path(pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, SODP_STAT_DIR "/" SODP_STAT_PREFIX "%u-%d", (unsigned int)geteuid(),
		 (int)pid);
}

static bool exists(const char *path)
{
	struct stat sb;

	return !stat(path, &sb);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a tiny JSON checker: true if @s is one JSON value and nothing else ---- */
static const char *json_value(const char *s, int depth);

static const char *json_ws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

static const char *json_string(const char *s)
{
	if (*s++ != '"')
		return NULL;
	while (*s && *s != '"') {
		if ((unsigned char)*s < 0x20)
			return NULL;
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)s[i]))
						return NULL;
				s += 4;
			} else if (!strchr("\"\\/bfnrt", *s) || !*s) {
				return NULL;
			}
		}
		s++;
	}
	return *s == '"' ? s + 1 : NULL;
}

static const char *json_seq(const char *s, char close, bool keyed, int depth)
{
	s = json_ws(s + 1);
	if (*s == close)
		return s + 1;
	for (;;) {
		if (keyed) {
			s = json_string(json_ws(s));
			if (!s)
				return NULL;
			s = json_ws(s);
			if (*s++ != ':')
				return NULL;
		}
		s = json_value(s, depth + 1);
		if (!s)
			return NULL;
		s = json_ws(s);
		if (*s == close)
			return s + 1;
		if (*s++ != ',')
			return NULL;
	}
}

static const char *json_value(const char *s, int depth)
{
	if (depth > 32)
		return NULL;
	s = json_ws(s);
	if (*s == '{')
		return json_seq(s, '}', true, depth);
	if (*s == '[')
		return json_seq(s, ']', false, depth);
	if (*s == '"')
		return json_string(s);
	if (!strncmp(s, "true", 4) || !strncmp(s, "null", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	if (*s == '-' || isdigit((unsigned char)*s)) {
		char *end;

		strtod(s, &end);
		return end;
	}
	return NULL;
}

static bool json_ok(const char *s)
{
	s = json_value(s, 0);
	return s && !*json_ws(s);
}

static void test_json_checker_rejects_broken_json(void)
{
	CU_ASSERT(json_ok("{\"a\":[1,2,{\"b\":\"c\\\"\"}],\"d\":true}\n"));
	CU_ASSERT(!json_ok("{\"a\":[1,2,}"));
	CU_ASSERT(!json_ok("{\"a\" 1}"));
	CU_ASSERT(!json_ok("[1,2] x"));
	CU_ASSERT(!json_ok("{\"a\":1,}"));
}

/* ---- a process with a device, a connected QP and two MRs ---- */
struct live {
	pid_t pid;
	int ctl; /* closing it lets the process go */
	uint32_t qpn, pinned_lkey, odp_lkey;
};

static int child_setup(int wfd, int rfd)
{
	struct ibv_qp_init_attr qa = {0};
	struct ibv_qp_attr at;
	struct ibv_device **list;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *pinned, *odp;
	union ibv_gid gid;
	uint32_t ids[3];
	char c;
	void *buf;

	alarm(60);
	setenv("SOFTODP_DEVICES", "srxe0=127.0.0.1", 1);
	list = ibv_get_device_list(NULL);
	if (!list || !list[0] || !(ctx = ibv_open_device(list[0])))
		return 2;
	pd = ibv_alloc_pd(ctx);
	cq = pd ? ibv_create_cq(ctx, 4, NULL, NULL, 0) : NULL;
	if (!cq || ibv_query_gid(ctx, 1, 0, &gid))
		return 3;
	qa.send_cq = qa.recv_cq = cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = 1;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	qp = ibv_create_qp(pd, &qa);
	if (!qp)
		return 4;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return 5;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = IBV_MTU_1024;
	at.dest_qp_num = qp->qp_num; /* itself */
	at.rq_psn = RQ_PSN;
	at.max_dest_rd_atomic = 1;
	at.min_rnr_timer = 1;
	at.ah_attr.is_global = 1;
	at.ah_attr.grh.dgid = gid;
	at.ah_attr.grh.hop_limit = 1;
	at.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return 6;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	at.timeout = 14;
	at.retry_cnt = 7;
	at.rnr_retry = 7;
	at.sq_psn = SQ_PSN;
	at.max_rd_atomic = 1;
	if (ibv_modify_qp(qp, &at,
			  IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				  IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
		return 7;
	buf = mmap(NULL, 2 * MR_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 8;
	pinned = ibv_reg_mr(pd, buf, MR_LEN, IBV_ACCESS_LOCAL_WRITE);
	odp = ibv_reg_mr(pd, (char *)buf + MR_LEN, MR_LEN,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
	if (!pinned || !odp)
		return 9;
	ids[0] = qp->qp_num;
	ids[1] = pinned->lkey;
	ids[2] = odp->lkey;
	if (write(wfd, ids, sizeof(ids)) != sizeof(ids))
		return 10;
	/* until the test closes its end */
	if (read(rfd, &c, 1) < 0)
		return 11;
	ibv_destroy_qp(qp);
	ibv_dereg_mr(odp);
	ibv_dereg_mr(pinned);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	return 0;
}

static int live_start(struct live *l)
{
	int up[2], down[2];
	uint32_t ids[3];

	if (pipe(up) || pipe(down))
		return -1;
	l->pid = fork();
	if (l->pid < 0)
		return -1;
	if (!l->pid) {
		close(up[0]);
		close(down[1]);
		_exit(child_setup(up[1], down[0]));
	}
	close(up[1]);
	close(down[0]);
	l->ctl = down[1];
	if (sodp_read_timed(up[0], ids, sizeof(ids), WAIT_SECS)) {
		close(up[0]);
		return -1;
	}
	close(up[0]);
	l->qpn = ids[0];
	l->pinned_lkey = ids[1];
	l->odp_lkey = ids[2];
	return 0;
}

/* Lets the process finish; its exit status, or -1. */
static int live_stop(struct live *l)
{
	int st;

	close(l->ctl);
	if (sodp_wait_timed(l->pid, &st, WAIT_SECS))
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs `softodp stat --json -p PID` until its output has @needle. */
static bool stat_json_until(pid_t pid, const char *needle)
{
	double end = now_s() + WAIT_SECS;

	do {
		if (sodp_run(&r, WAIT_SECS, SOFTODP " stat --json -p %d 2>&1", (int)pid) == 0 &&
		    strstr(r.out, needle))
			return true;
		usleep(50000);
	} while (now_s() < end);
	return false;
}

static void test_stat_json_shows_a_live_process_qp_and_mr(void)
{
	struct live l;
	char want[256];

	CU_ASSERT_FATAL(!live_start(&l));
	/* the last object the process made */
	snprintf(want, sizeof(want), "\"lkey\":%u,\"kind\":\"odp\"", l.odp_lkey);
	CU_ASSERT(stat_json_until(l.pid, want));
	CU_ASSERT(json_ok(r.out));
	snprintf(want, sizeof(want),
		 "\"qpn\":%u,\"type\":\"RC\",\"state\":\"RTS\",\"sq_psn\":%u,\"rq_psn\":%u,"
		 "\"dest_qpn\":%u}",
		 l.qpn, SQ_PSN, RQ_PSN, l.qpn);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
	snprintf(want, sizeof(want), "\"lkey\":%u,\"kind\":\"pinned\"", l.pinned_lkey);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
	snprintf(want, sizeof(want), "{\"processes\":[{\"pid\":%d,", (int)l.pid);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\"address\":\"127.0.0.1\""));
	/* the pinned MR's 16 pages are in the MTT census */
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\"length\":65536,\"mtt_entries\":{\"4k\":16,"));
	if (!strstr(r.out, "\"state\":\"RTS\""))
		printf("\n%s\n", r.out);

	/* the same in text */
	CU_ASSERT_EQUAL(sodp_run(&r, WAIT_SECS, SOFTODP " stat -p %d 2>&1", (int)l.pid), 0);
	snprintf(want, sizeof(want), "qpn 0x%06x RC RTS   sq psn 0x%06x rq psn 0x%06x", l.qpn,
		 SQ_PSN, RQ_PSN);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
	snprintf(want, sizeof(want), "lkey 0x%08x odp ", l.odp_lkey);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
	CU_ASSERT_EQUAL(live_stop(&l), 0);
}

static void test_stat_watch_shows_again_every_interval(void)
{
	struct live l;
	char head[64];
	int shown = 0;

	CU_ASSERT_FATAL(!live_start(&l));
	CU_ASSERT(stat_json_until(l.pid, "\"state\":\"RTS\""));
	/* timeout ends it: its status is 124 */
	CU_ASSERT_EQUAL(sodp_run(&r, WAIT_SECS, "timeout 1.2 " SOFTODP " stat -w 0.2 -p %d 2>&1",
				 (int)l.pid),
			124);
	snprintf(head, sizeof(head), "pid %d (", (int)l.pid);
	for (const char *s = strstr(r.out, head); s; s = strstr(s + 1, head))
		shown++;
	CU_ASSERT(shown >= 2);
	CU_ASSERT_EQUAL(live_stop(&l), 0);
}

static void test_stat_segment_goes_with_the_last_context(void)
{
	char path[128];
	struct live l;

	CU_ASSERT_FATAL(!live_start(&l));
	seg_path(l.pid, path, sizeof(path));
	CU_ASSERT(exists(path));
	CU_ASSERT_EQUAL(live_stop(&l), 0);
	CU_ASSERT(!exists(path));
}

static void test_stat_segment_is_private_to_its_user(void)
{
	struct stat sb;
	char path[128];
	struct live l;

	CU_ASSERT_FATAL(!live_start(&l));
	seg_path(l.pid, path, sizeof(path));
	CU_ASSERT_FATAL(!lstat(path, &sb));
	CU_ASSERT(S_ISREG(sb.st_mode));
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(sb.st_uid, geteuid());
	CU_ASSERT_EQUAL(live_stop(&l), 0);
}

static void test_stat_removes_a_killed_process_segment(void)
{
	char path[128], head[64];
	struct live l;
	int st;

	CU_ASSERT_FATAL(!live_start(&l));
	seg_path(l.pid, path, sizeof(path));
	CU_ASSERT_FATAL(exists(path));
	kill(l.pid, SIGKILL);
	CU_ASSERT_EQUAL(sodp_wait_timed(l.pid, &st, WAIT_SECS), 0);
	close(l.ctl);
	CU_ASSERT(exists(path)); /* nobody removed it */
	CU_ASSERT_EQUAL(sodp_run(&r, WAIT_SECS, SOFTODP " stat 2>&1"), 0);
	CU_ASSERT(!exists(path));
	snprintf(head, sizeof(head), "pid %d (", (int)l.pid);
	CU_ASSERT_PTR_NULL(strstr(r.out, head));
	CU_ASSERT_EQUAL(sodp_run(&r, WAIT_SECS, SOFTODP " stat -p %d 2>&1", (int)l.pid), 1);
}

/* A segment named for a live PID whose process started at another time. */
static void test_stat_removes_a_segment_of_a_reused_pid(void)
{
	struct sodp_stat_seg seg;
	char path[128];
	int fd;

	memset(&seg, 0, sizeof(seg));
	seg.magic = SODP_STAT_MAGIC;
	seg.version = SODP_STAT_VERSION;
	seg.size = sizeof(seg);
	seg.pid = (uint64_t)getpid();
	seg.start_time = 1; /* not this process's */
	seg_path(getpid(), path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, &seg, sizeof(seg)) == (ssize_t)sizeof(seg));
	close(fd);
	CU_ASSERT_EQUAL(sodp_run(&r, WAIT_SECS, SOFTODP " stat -p %d 2>&1", (int)getpid()), 1);
	CU_ASSERT(!exists(path));
	unlink(path);
}

/* A new process removes its user's segments of processes that are gone. */
static void test_stat_new_process_removes_segments_of_killed_ones(void)
{
	char path[128];
	struct live l, k;
	int st;

	CU_ASSERT_FATAL(!live_start(&k));
	seg_path(k.pid, path, sizeof(path));
	kill(k.pid, SIGKILL);
	CU_ASSERT_EQUAL(sodp_wait_timed(k.pid, &st, WAIT_SECS), 0);
	close(k.ctl);
	CU_ASSERT_FATAL(exists(path));
	CU_ASSERT_FATAL(!live_start(&l));
	CU_ASSERT(!exists(path));
	CU_ASSERT_EQUAL(live_stop(&l), 0);
	unlink(path);
}

/* A process that opened a device and made nothing on it yet is shown. */
static void test_stat_shows_a_device_before_any_qp_or_mr(void)
{
	pid_t pid;
	int st;

	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (!pid) {
		struct ibv_device **list;
		struct ibv_context *ctx;
		int bad;

		alarm(60);
		setenv("SOFTODP_DEVICES", "srxe0=127.0.0.1", 1);
		list = ibv_get_device_list(NULL);
		if (!list || !list[0] || !(ctx = ibv_open_device(list[0])))
			_exit(2);
		/* shown once, with nothing else: no publisher runs yet */
		bad = sodp_run(&r, WAIT_SECS, SOFTODP " stat -p %d 2>&1", (int)getpid()) ||
		      !strstr(r.out, "device srxe0 127.0.0.1: packets rx 0 tx 0") ||
		      !strstr(r.out, "QPs: 0") || !strstr(r.out, "MRs: 0");
		ibv_close_device(ctx);
		ibv_free_device_list(list);
		_exit(bad);
	}
	CU_ASSERT_EQUAL(sodp_wait_timed(pid, &st, WAIT_SECS), 0);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_stat_zero_makes_no_segment(void)
{
	char path[128];
	struct live l;

	setenv("SOFTODP_STAT", "0", 1);
	CU_ASSERT_FATAL(!live_start(&l));
	unsetenv("SOFTODP_STAT");
	seg_path(l.pid, path, sizeof(path));
	CU_ASSERT(!exists(path));
	CU_ASSERT_EQUAL(sodp_run(&r, WAIT_SECS, SOFTODP " stat -p %d 2>&1", (int)l.pid), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "no softodp device open in process"));
	CU_ASSERT_EQUAL(live_stop(&l), 0);
}

static void test_stat_bad_options_print_usage(void)
{
	static const char *const bad[] = {"",		"bogus",	"stat -p",
					  "stat -p x",	"stat -p 0",	"stat -p -3",
					  "stat -w 0",	"stat -w x",	"stat --bogus",
					  "stat extra", "stat -w 99999"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = sodp_run(&r, WAIT_SECS, SOFTODP " %s 2>&1", bad[i]);

		CU_ASSERT_EQUAL(st, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "usage: softodp stat"));
		if (st != 2)
			printf("\n    softodp %s: %d\n%s", bad[i], st, r.out);
	}
	CU_ASSERT_EQUAL(sodp_run(&r, WAIT_SECS, SOFTODP " --help 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "usage: softodp stat"));
	CU_ASSERT_EQUAL(sodp_run(&r, WAIT_SECS, SOFTODP " stat --help 2>&1"), 0);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case stat[] = {
		{"json_checker_rejects_broken_json", test_json_checker_rejects_broken_json},
		{"stat_json_shows_a_live_process_qp_and_mr",
		 test_stat_json_shows_a_live_process_qp_and_mr},
		{"stat_watch_shows_again_every_interval",
		 test_stat_watch_shows_again_every_interval},
		{"stat_segment_goes_with_the_last_context",
		 test_stat_segment_goes_with_the_last_context},
		{"stat_segment_is_private_to_its_user", test_stat_segment_is_private_to_its_user},
		{"stat_removes_a_killed_process_segment",
		 test_stat_removes_a_killed_process_segment},
		{"stat_removes_a_segment_of_a_reused_pid",
		 test_stat_removes_a_segment_of_a_reused_pid},
		{"stat_new_process_removes_segments_of_killed_ones",
		 test_stat_new_process_removes_segments_of_killed_ones},
		{"stat_shows_a_device_before_any_qp_or_mr",
		 test_stat_shows_a_device_before_any_qp_or_mr},
		{"stat_zero_makes_no_segment", test_stat_zero_makes_no_segment},
		{"stat_bad_options_print_usage", test_stat_bad_options_print_usage},
		{NULL, NULL},
	};

	sodp_add_suite("stat", NULL, NULL, stat);
}
