// SPDX-License-Identifier: MIT
/*
 * Debian's own verbs clients, unmodified, between two processes on softodp:
 * the server on srxe0=127.0.0.1, the client on srxe0=127.0.0.2 (or, in the
 * shared_device suite, on the server's own srxe0=127.0.0.1), connection
 * data exchanged over TCP as the tools always do. Every case is bounded in
 * time; a hang is a failure, never a stuck test run.
 *
 * When it may (root, iproute2), the suite runs in a network namespace of its
 * own, so that it neither sees nor disturbs anything bound on the host's
 * loopback; otherwise it uses the host's loopback.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sodp_test.h"

#define RUN	   SODP_BUILD_DIR "/examples/softodp-run"
#define SERVER_DEV "srxe0=127.0.0.1"
#define CLIENT_DEV "srxe0=127.0.0.2"

#define SPRAY SODP_BUILD_DIR "/tests/compat/spray"

static char srv_out[1 << 16], cli_out[1 << 16], beside_out[1 << 12];
/* The client's device: another address, or the server's (one device, two processes). */
static const char *client_dev = CLIENT_DEV;
/* A command run beside the client, in the same namespace, or "true". */
static const char *beside = "true";
static char netns[64];
static char ns_exec[128]; /* "ip netns exec NAME" or "" */

static int suite_init(void)
{
	char cmd[256];

	snprintf(netns, sizeof(netns), "softodp-cli-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "ip netns add %s 2>/dev/null && ip -n %s link set lo up 2>/dev/null", netns,
		 netns);
	if (system(cmd) == 0) {
		snprintf(ns_exec, sizeof(ns_exec), "ip netns exec %s", netns);
	} else {
		printf("\n(no private network namespace: using the host loopback)\n");
		netns[0] = '\0';
		ns_exec[0] = '\0';
	}
	return 0;
}

static int suite_fini(void)
{
	char cmd[128];

	if (netns[0]) {
		snprintf(cmd, sizeof(cmd), "ip netns delete %s", netns);
		system(cmd);
	}
	return 0;
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (!f)
		return;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static bool have(const char *tool)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

/*
 * Runs "server" in the background and "client" against it. Both get
 * @limit seconds; with @interrupt both are stopped with SIGINT after that
 * long instead (for --run_infinitely) and their exit codes are not judged.
 * Returns true when both exited 0 (or, interrupted, printed something).
 */
static bool run_pair(const char *server, const char *client, int port, int limit, bool interrupt)
{
	char dir[] = "/tmp/softodp-cli-XXXXXX";
	char cmd[4096], path[256];
	int srv_st, cli_st;
	const char *sig = interrupt ? "-s INT" : "-s KILL";

	if (!mkdtemp(dir))
		return false;
	snprintf(cmd, sizeof(cmd),
		 "%s timeout %s %d " RUN " -d " SERVER_DEV " %s -p %d >%s/srv 2>&1 & "
		 "srv=$!; "
		 /* Wait (bounded) until the server listens on its TCP port. */
		 "for i in $(seq 1 100); do "
		 "  %s ss -ltn 2>/dev/null | grep -q ':%d ' && break; sleep 0.05; done; "
		 "%s sh -c '%s' >%s/beside 2>&1 & bes=$!; "
		 "%s timeout %s %d " RUN " -d %s %s -p %d 127.0.0.1 >%s/cli 2>&1; "
		 "echo $? >%s/cli.rc; wait $srv; echo $? >%s/srv.rc; wait $bes",
		 ns_exec, sig, limit, server, port, dir, ns_exec, port, ns_exec, beside, dir,
		 ns_exec, sig, limit, client_dev, client, port, dir, dir, dir);
	system(cmd);
	snprintf(path, sizeof(path), "%s/srv", dir);
	slurp(path, srv_out, sizeof(srv_out));
	snprintf(path, sizeof(path), "%s/cli", dir);
	slurp(path, cli_out, sizeof(cli_out));
	snprintf(path, sizeof(path), "%s/beside", dir);
	slurp(path, beside_out, sizeof(beside_out));
	snprintf(path, sizeof(path), "%s/srv.rc", dir);
	{
		char rc[16];

		slurp(path, rc, sizeof(rc));
		srv_st = atoi(rc);
		snprintf(path, sizeof(path), "%s/cli.rc", dir);
		slurp(path, rc, sizeof(rc));
		cli_st = atoi(rc);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	system(cmd);
	if (interrupt)
		return cli_out[0] != '\0';
	if (srv_st || cli_st) {
		printf("\n  server (rc %d):\n%s\n  client (rc %d):\n%s\n", srv_st, srv_out, cli_st,
		       cli_out);
		return false;
	}
	return true;
}

struct client_case {
	const char *tool;
	const char *args;   /* for both sides */
	const char *expect; /* in the client's output */
	bool interrupt;
};

static int next_port = 18515;

static void run_case(const struct client_case *c)
{
	char srv[512], cli[512];
	int port = next_port++;

	snprintf(srv, sizeof(srv), "%s %s", c->tool, c->args);
	snprintf(cli, sizeof(cli), "%s %s", c->tool, c->args);
	printf("\n    %s %s ", c->tool, c->args);
	CU_ASSERT(run_pair(srv, cli, port, c->interrupt ? 8 : 60, c->interrupt));
	if (c->expect)
		CU_ASSERT_PTR_NOT_NULL(strstr(cli_out, c->expect));
}

#define PINGPONG_CASE(fn, tool, args)                                                       \
	static void fn(void)                                                                \
	{                                                                                   \
		static const struct client_case c = {tool, args, "iters in", false};        \
		if (!have(tool))                                                            \
			SODP_SKIP(tool " is not installed (Debian package ibverbs-utils)"); \
		run_case(&c);                                                               \
	}

PINGPONG_CASE(test_rc_pingpong_validates, "ibv_rc_pingpong", "-g 0 -c")
PINGPONG_CASE(test_rc_pingpong_with_events, "ibv_rc_pingpong", "-g 0 -c -e")
PINGPONG_CASE(test_rc_pingpong_new_post_api, "ibv_rc_pingpong", "-g 0 -c -N")
PINGPONG_CASE(test_rc_pingpong_odp, "ibv_rc_pingpong", "-g 0 -c -o")
PINGPONG_CASE(test_rc_pingpong_odp_prefetch, "ibv_rc_pingpong", "-g 0 -c -o -P")
PINGPONG_CASE(test_rc_pingpong_implicit_odp, "ibv_rc_pingpong", "-g 0 -c -O")
PINGPONG_CASE(test_rc_pingpong_implicit_odp_prefetch, "ibv_rc_pingpong", "-g 0 -c -O -P")
PINGPONG_CASE(test_ud_pingpong_validates, "ibv_ud_pingpong", "-g 0 -c")
PINGPONG_CASE(test_srq_pingpong, "ibv_srq_pingpong", "-g 0")

/*
 * perftest 4.5 runs --run_infinitely in its bandwidth tools only; its latency
 * tools refuse it themselves, on any device, and that refusal is checked.
 */
#define RUN_INFINITELY_BW                                  \
	{                                                  \
		"-F --run_infinitely -D 1", "#bytes", true \
	}
#define RUN_INFINITELY_LAT                                                  \
	{                                                                   \
		"-F --run_infinitely -D 1", "exists only in BW tests", true \
	}

#define PERFTEST_CASES(name, tool, infinitely)                                              \
	static void test_##name(void)                                                       \
	{                                                                                   \
		static const struct {                                                       \
			const char *args, *expect;                                          \
			bool interrupt;                                                     \
		} args[] = {                                                                \
			{"-F", "#bytes", false},                                            \
			{"-F -s 1", "#bytes", false},                                       \
			{"-F -s 1048576", "#bytes", false},                                 \
			infinitely,                                                         \
		};                                                                          \
		struct client_case cases[4];                                                \
		for (size_t i = 0; i < 4; i++)                                              \
			cases[i] = (struct client_case){tool, args[i].args, args[i].expect, \
							args[i].interrupt};                 \
		if (!have(tool))                                                            \
			SODP_SKIP(tool " is not installed (Debian package perftest)");      \
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)               \
			run_case(&cases[i]);                                                \
	}

PERFTEST_CASES(ib_write_bw, "ib_write_bw", RUN_INFINITELY_BW)
PERFTEST_CASES(ib_read_bw, "ib_read_bw", RUN_INFINITELY_BW)
PERFTEST_CASES(ib_send_bw, "ib_send_bw", RUN_INFINITELY_BW)
PERFTEST_CASES(ib_write_lat, "ib_write_lat", RUN_INFINITELY_LAT)
PERFTEST_CASES(ib_read_lat, "ib_read_lat", RUN_INFINITELY_LAT)
PERFTEST_CASES(ib_send_lat, "ib_send_lat", RUN_INFINITELY_LAT)

/*
 * A hostile peer sprays both devices with malformed, spoofed and
 * mis-addressed datagrams (spray.c) while the clients run: they still
 * validate their data and finish.
 */
#define SPRAY_BOTH                                                 \
	SPRAY " 127.0.0.1 127.0.0.2 127.0.0.3 20000 2000 & " SPRAY \
	      " 127.0.0.2 127.0.0.1 127.0.0.3 20000 2000; wait"

static void run_sprayed(const struct client_case *c)
{
	if (!have(c->tool))
		SODP_SKIP("the client is not installed (Debian packages ibverbs-utils, perftest)");
	static const char *const reasons[] = {
		"dropped, malformed:", "dropped, icrc:", "dropped, no qp:"};
	size_t i;

	beside = SPRAY_BOTH;
	setenv("SOFTODP_STATS", "1", 1);
	run_case(c);
	unsetenv("SOFTODP_STATS");
	beside = "true";
	printf("\n%s", beside_out);
	CU_ASSERT_PTR_NOT_NULL(strstr(beside_out, "spray: 20000 datagrams to 127.0.0.1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(beside_out, "spray: 20000 datagrams to 127.0.0.2"));
	/* both devices counted what they dropped, and why (SOFTODP_STATS) */
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		CU_ASSERT_PTR_NOT_NULL(strstr(srv_out, reasons[i]));
		CU_ASSERT_PTR_NOT_NULL(strstr(cli_out, reasons[i]));
	}
	printf("%s", strstr(srv_out, "softodp: srxe0:") ? strstr(srv_out, "softodp: srxe0:") : "");
}

static void test_rc_pingpong_validates_under_a_hostile_peer(void)
{
	static const struct client_case c = {"ibv_rc_pingpong", "-g 0 -c -n 500", "iters in",
					     false};

	run_sprayed(&c);
}

static void test_ib_write_bw_under_a_hostile_peer(void)
{
	static const struct client_case c = {"ib_write_bw", "-F -n 2000", "#bytes", false};

	run_sprayed(&c);
}

static void test_ib_atomic_bw(void)
{
	static const struct client_case cases[] = {
		{"ib_atomic_bw", "-F", "#bytes", false},
		{"ib_atomic_bw", "-F -A CMP_AND_SWAP", "#bytes", false},
		{"ib_atomic_bw", "-F --run_infinitely -D 1", "#bytes", true},
	};

	if (!have("ib_atomic_bw"))
		SODP_SKIP("ib_atomic_bw is not installed (Debian package perftest)");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/*
 * perftest with --odp: its buffers registered IBV_ACCESS_ON_DEMAND. perftest
 * 4.5 itself refuses --odp for atomics, on any device; that refusal is what
 * the atomic case checks.
 */
static void test_perftest_odp(void)
{
	static const struct client_case cases[] = {
		{"ib_write_bw", "-F --odp", "#bytes", false},
		{"ib_write_bw", "-F --odp -s 1048576", "#bytes", false},
		{"ib_read_bw", "-F --odp", "#bytes", false},
		{"ib_send_bw", "-F --odp", "#bytes", false},
		{"ib_write_lat", "-F --odp", "#bytes", false},
	};

	if (!have("ib_write_bw"))
		SODP_SKIP("perftest is not installed (Debian package perftest)");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/*
 * Both processes on srxe0=127.0.0.1: the server owns the address, the
 * client shares it (providers/rxe/share.c), as two processes share a NIC.
 */
static void run_shared(const struct client_case *c)
{
	if (!have(c->tool))
		SODP_SKIP("the client is not installed (Debian packages ibverbs-utils, perftest)");
	client_dev = SERVER_DEV;
	run_case(c);
	client_dev = CLIENT_DEV;
}

static void test_rc_pingpong_on_one_shared_device(void)
{
	static const struct client_case c = {"ibv_rc_pingpong", "-g 0 -c", "iters in", false};

	run_shared(&c);
}

static void test_rc_pingpong_odp_on_one_shared_device(void)
{
	static const struct client_case c = {"ibv_rc_pingpong", "-g 0 -c -o", "iters in", false};

	run_shared(&c);
}

static void test_ib_write_bw_on_one_shared_device(void)
{
	static const struct client_case c = {"ib_write_bw", "-F", "#bytes", false};

	run_shared(&c);
}

static void test_ib_write_bw_odp_on_one_shared_device(void)
{
	static const struct client_case c = {"ib_write_bw", "-F --odp -s 1048576", "#bytes", false};

	run_shared(&c);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case pingpong[] = {
		{"rc_pingpong_validates", test_rc_pingpong_validates},
		{"rc_pingpong_with_events", test_rc_pingpong_with_events},
		{"rc_pingpong_new_post_api", test_rc_pingpong_new_post_api},
		{"rc_pingpong_odp", test_rc_pingpong_odp},
		{"rc_pingpong_odp_prefetch", test_rc_pingpong_odp_prefetch},
		{"rc_pingpong_implicit_odp", test_rc_pingpong_implicit_odp},
		{"rc_pingpong_implicit_odp_prefetch", test_rc_pingpong_implicit_odp_prefetch},
		{"ud_pingpong_validates", test_ud_pingpong_validates},
		{"srq_pingpong", test_srq_pingpong},
		{NULL, NULL},
	};
	static const struct sodp_test_case perftest[] = {
		{"ib_write_bw", test_ib_write_bw},
		{"ib_read_bw", test_ib_read_bw},
		{"ib_send_bw", test_ib_send_bw},
		{"ib_atomic_bw", test_ib_atomic_bw},
		{"ib_write_lat", test_ib_write_lat},
		{"ib_read_lat", test_ib_read_lat},
		{"ib_send_lat", test_ib_send_lat},
		{"perftest_odp", test_perftest_odp},
		{NULL, NULL},
	};
	static const struct sodp_test_case hostile[] = {
		{"rc_pingpong_validates_under_a_hostile_peer",
		 test_rc_pingpong_validates_under_a_hostile_peer},
		{"ib_write_bw_under_a_hostile_peer", test_ib_write_bw_under_a_hostile_peer},
		{NULL, NULL},
	};

	static const struct sodp_test_case shared[] = {
		{"rc_pingpong_on_one_shared_device", test_rc_pingpong_on_one_shared_device},
		{"rc_pingpong_odp_on_one_shared_device", test_rc_pingpong_odp_on_one_shared_device},
		{"ib_write_bw_on_one_shared_device", test_ib_write_bw_on_one_shared_device},
		{"ib_write_bw_odp_on_one_shared_device", test_ib_write_bw_odp_on_one_shared_device},
		{NULL, NULL},
	};

	if (!strcmp(SODP_SANITIZE, "thread")) {
		printf("TSan build: a TSan library cannot be preloaded into Debian's clients\n");
		return;
	}
	sodp_add_suite("pingpong", suite_init, suite_fini, pingpong);
	sodp_add_suite("perftest", suite_init, suite_fini, perftest);
	sodp_add_suite("hostile_peer", suite_init, suite_fini, hostile);
	sodp_add_suite("shared_device", suite_init, suite_fini, shared);
}
