// SPDX-License-Identifier: MIT
/*
 * Debian's own verbs clients, unmodified, between two processes on softodp:
 * the server on srxe0=127.0.0.1, the client on srxe0=127.0.0.2 (or, in the
 * shared_device suite, on the server's own srxe0=127.0.0.1), connection
 * data exchanged over TCP as the tools always do. Every case is bounded in
 * time; a hang is a failure, never a stuck test run.
 *
 * A case passes as a user would judge the run: both sides exit 0 and print
 * their result for the size and the number of iterations asked, with a
 * bandwidth or a latency above zero, and the pingpongs find the data they
 * validate (-c) intact. perftest prints its "#bytes" header before any
 * traffic, so the header alone proves nothing: the lines under it are read.
 *
 * When it may (root, iproute2), the suite runs in a network namespace of its
 * own, so that it neither sees nor disturbs anything bound on the host's
 * loopback; otherwise it uses the host's loopback.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sodp_proc.h"
#include "sodp_test.h"

#define RUN	   SODP_BUILD_DIR "/examples/softodp-run"
#define SERVER_DEV "srxe0=127.0.0.1"
#define CLIENT_DEV "srxe0=127.0.0.2"

#define SPRAY SODP_BUILD_DIR "/tests/compat/spray"

/* Seconds a run may take, whatever its load. */
#define LIMIT 60

/* perftest's message sizes when none is asked. */
#define BW_BYTES     65536
#define LAT_BYTES    2
#define ATOMIC_BYTES 8

/*
 * A run for a time (-D 2, or interrupted) has no iteration count to ask
 * for: it must have made some progress, a few round trips at least (a
 * stalled connection makes none; a loaded machine, far fewer than the
 * thousands an idle one does).
 */
#define TIMED_MIN_ITERS 10

/* --run_infinitely -D 1 reports each second; the client is stopped after STOP_SECS. */
#define STOP_SECS	 12
#define STOP_MIN_REPORTS 2

/* The columns of a perftest result line this test reads. */
#define PERF_COLS 9

enum report {
	PINGPONG, /* "N bytes in S seconds = R Mbit/sec", "N iters in S seconds = U usec/iter" */
	PERF_BW,  /* #bytes #iterations BW-peak BW-average MsgRate */
	PERF_LAT, /* #bytes #iterations t_min t_max t_typical t_avg ... */
	PERF_LAT_DUR, /* (-D) #bytes #iterations t_avg tps */
};

struct client_case {
	const char *tool;
	const char *args; /* for both sides */
	enum report report;
	long bytes;	  /* the message size the result reports */
	long iters;	  /* the iterations it reports; 0: a timed run */
	bool srv_silent;  /* the server prints no result (ib_read_lat) */
	bool interrupted; /* runs until the client is stopped (--run_infinitely) */
};

static struct sodp_proc srv, cli, bes;
/* The client's device: another address, or the server's (one device, two processes). */
static const char *client_dev = CLIENT_DEV;
/* A command run beside the client, in the same namespace, or NULL. */
static const char *beside;
static int next_port = 18515;

/* The pingpong's result: iterations, usec per iteration, Mbit/s; false when absent. */
static bool pingpong_result(const char *out, long *iters, double *usec, double *mbit)
{
	const char *p = strstr(out, " bytes in ");
	const char *q = strstr(out, " iters in ");
	double secs;

	if (!p || !q || !(p = strstr(p, " = ")) || sscanf(p, " = %lf Mbit/sec", mbit) != 1)
		return false;
	while (q > out && q[-1] != '\n')
		q--;
	return sscanf(q, "%ld iters in %lf seconds = %lf usec/iter", iters, &secs, usec) == 3;
}

/*
 * perftest's result lines: the lines of numbers right under its "#bytes"
 * header, up to @max of them, into @rows. Returns how many.
 */
static int perf_results(const char *out, double rows[][PERF_COLS], int max)
{
	const char *p = strstr(out, "#bytes");
	int n = 0;

	if (!p)
		return 0;
	p = strchr(p, '\n');
	while (p && n < max) {
		double *r = rows[n];
		int cols;

		p++;
		cols = sscanf(p, "%lf %lf %lf %lf %lf %lf %lf %lf %lf", &r[0], &r[1], &r[2], &r[3],
			      &r[4], &r[5], &r[6], &r[7], &r[8]);
		if (cols < 4)
			break;
		n++;
		p = strchr(p, '\n');
	}
	return n;
}

/* One side's report holds what @c asked for; the reason on stdout when not. */
static bool side_reports(const struct client_case *c, const char *side, const char *out)
{
	double rows[64][PERF_COLS];
	long iters = 0;
	double usec = 0, mbit = 0;
	int n, want_rows = c->interrupted ? STOP_MIN_REPORTS : 1;

	if (c->report == PINGPONG) {
		if (!pingpong_result(out, &iters, &usec, &mbit)) {
			printf("\n    %s: no result", side);
			return false;
		}
		if (iters != c->iters || !(usec > 0) || !(mbit > 0)) {
			printf("\n    %s: %ld iters (asked %ld), %g usec/iter, %g Mbit/s", side,
			       iters, c->iters, usec, mbit);
			return false;
		}
		if (strstr(out, "invalid data")) {
			printf("\n    %s: the data it validated was wrong", side);
			return false;
		}
		return true;
	}
	n = perf_results(out, rows, 64);
	if (n < want_rows) {
		printf("\n    %s: %d result lines, %d wanted", side, n, want_rows);
		return false;
	}
	for (int i = 0; i < n; i++) {
		const double *r = rows[i];
		/*
		 * The mean latency, or the bandwidth: its message rate, since
		 * perftest rounds the MB/s of small messages (1 byte) to 0.00.
		 * A rate perftest could not compute is no rate of softodp's:
		 * it times with a CPU clock it measures, and prints
		 * "Correlation coefficient r^2: ... < 0.9" and takes 0 MHz when
		 * that measurement scatters (a loaded VM); the iterations of the
		 * second still count.
		 */
		double value = c->report == PERF_BW ? r[4] : c->report == PERF_LAT ? r[5] : r[2];
		bool unclocked = c->interrupted && strstr(out, "Correlation coefficient r^2");

		if (r[0] != c->bytes || !(value > 0 || unclocked) ||
		    (c->iters ? r[1] != c->iters : r[1] < TIMED_MIN_ITERS)) {
			printf("\n    %s: %g bytes x %g iterations: %g (asked %ld bytes x %ld)",
			       side, r[0], r[1], value, c->bytes, c->iters);
			return false;
		}
	}
	return true;
}

static void run_case(const struct client_case *c)
{
	char server[512], client[512];
	struct sodp_pair p = {
		.server = server,
		.client = client,
		.beside = beside,
		.port = next_port++,
		.limit = LIMIT,
		.client_stop = c->interrupted ? STOP_SECS : 0,
	};
	bool ok;

	snprintf(server, sizeof(server), RUN " -d " SERVER_DEV " %s %s -p %d", c->tool, c->args,
		 p.port);
	snprintf(client, sizeof(client), RUN " -d %s %s %s -p %d 127.0.0.1", client_dev, c->tool,
		 c->args, p.port);
	printf("\n    %s %s ", c->tool, c->args);
	sodp_run_pair(&p, &srv, &cli, &bes);

	/*
	 * Interrupted, the client must have run until it was stopped. Its
	 * server then ends as perftest's servers do when their client goes
	 * away, with exit status 1 ("Failed to exchange data"): only what it
	 * printed while the client ran is judged.
	 */
	if (!c->interrupted)
		CU_ASSERT_EQUAL(srv.status, 0);
	CU_ASSERT_EQUAL(cli.status, c->interrupted ? SODP_PROC_STOPPED : 0);
	ok = side_reports(c, "client", cli.out);
	CU_ASSERT(ok);
	if (!c->srv_silent && !c->interrupted) {
		bool srv_ok = side_reports(c, "server", srv.out);

		CU_ASSERT(srv_ok);
		ok &= srv_ok;
	}
	/* A completion in error ends a perftest run early, with a message. */
	CU_ASSERT_PTR_NULL(strstr(cli.out, "Failed status"));
	CU_ASSERT_PTR_NULL(strstr(cli.err, "Failed status"));
	CU_ASSERT_PTR_NULL(strstr(srv.out, "Failed status"));
	CU_ASSERT_PTR_NULL(strstr(srv.err, "Failed status"));
	/* sodp_run_pair() printed them when an exit status was wrong */
	if (!ok && cli.status == (c->interrupted ? SODP_PROC_STOPPED : 0) &&
	    (c->interrupted || srv.status == 0))
		printf("\n  server:\n%s%s\n  client:\n%s%s\n", srv.out, srv.err, cli.out, cli.err);
}

static void run_cases(const struct client_case *cases, size_t n)
{
	if (!sodp_have(cases[0].tool))
		SODP_SKIP("the client is not installed (Debian packages ibverbs-utils, perftest)");
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i]);
}

#define RUN_CASES(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))

/* ibv_*_pingpong's defaults: 1000 iterations. */
#define PINGPONG_CASE(fn, tool, args)                                  \
	static void fn(void)                                           \
	{                                                              \
		static const struct client_case c[] = {                \
			{tool, args, PINGPONG, 0, 1000, false, false}, \
		};                                                     \
		RUN_CASES(c);                                          \
	}

PINGPONG_CASE(test_rc_pingpong_validates, "ibv_rc_pingpong", "-g 0 -c")
PINGPONG_CASE(test_rc_pingpong_with_events, "ibv_rc_pingpong", "-g 0 -c -e")
PINGPONG_CASE(test_rc_pingpong_new_post_api, "ibv_rc_pingpong", "-g 0 -c -N")
PINGPONG_CASE(test_rc_pingpong_odp, "ibv_rc_pingpong", "-g 0 -c -o")
PINGPONG_CASE(test_rc_pingpong_odp_prefetch, "ibv_rc_pingpong", "-g 0 -c -o -P")
PINGPONG_CASE(test_rc_pingpong_implicit_odp, "ibv_rc_pingpong", "-g 0 -c -O")
PINGPONG_CASE(test_rc_pingpong_implicit_odp_prefetch, "ibv_rc_pingpong", "-g 0 -c -O -P")
PINGPONG_CASE(test_ud_pingpong_validates, "ibv_ud_pingpong", "-g 0 -c")
PINGPONG_CASE(test_srq_pingpong_validates, "ibv_srq_pingpong", "-g 0 -c")

/*
 * Each bandwidth tool at its default size and 1 byte, @n iterations each,
 * and at 1 MiB, 1000 (a GiB); and run until it is stopped (--run_infinitely,
 * a report each second): every report has a bandwidth and the client was
 * still running when it was stopped.
 */
#define BW_CASES(name, tool, n)                                                                \
	static void test_##name(void)                                                          \
	{                                                                                      \
		static const struct client_case c[] = {                                        \
			{tool, "-F -n " #n, PERF_BW, BW_BYTES, n, false, false},               \
			{tool, "-F -s 1 -n " #n, PERF_BW, 1, n, false, false},                 \
			{tool, "-F -s 1048576 -n 1000", PERF_BW, 1 << 20, 1000, false, false}, \
			{tool, "-F --run_infinitely -D 1", PERF_BW, BW_BYTES, 0, false, true}, \
		};                                                                             \
		RUN_CASES(c);                                                                  \
	}

BW_CASES(ib_write_bw, "ib_write_bw", 5000)
BW_CASES(ib_read_bw, "ib_read_bw", 1000)
BW_CASES(ib_send_bw, "ib_send_bw", 1000)

/*
 * Each latency tool at its default size, 1 byte and 1 MiB, 1000 round trips
 * each; and for a time (-D 2): as many round trips as fit, their mean
 * latency reported. The server of ib_read_lat only answers and prints no
 * result.
 */
#define LAT_CASES(name, tool, srv_silent)                                                    \
	static void test_##name(void)                                                        \
	{                                                                                    \
		static const struct client_case c[] = {                                      \
			{tool, "-F -n 1000", PERF_LAT, LAT_BYTES, 1000, srv_silent, false},  \
			{tool, "-F -s 1 -n 1000", PERF_LAT, 1, 1000, srv_silent, false},     \
			{tool, "-F -s 1048576 -n 1000", PERF_LAT, 1 << 20, 1000, srv_silent, \
			 false},                                                             \
			{tool, "-F -D 2", PERF_LAT_DUR, LAT_BYTES, 0, srv_silent, false},    \
		};                                                                           \
		RUN_CASES(c);                                                                \
	}

LAT_CASES(ib_write_lat, "ib_write_lat", false)
LAT_CASES(ib_read_lat, "ib_read_lat", true)
LAT_CASES(ib_send_lat, "ib_send_lat", false)

static void test_ib_atomic_bw(void)
{
	static const struct client_case c[] = {
		{"ib_atomic_bw", "-F -n 1000", PERF_BW, ATOMIC_BYTES, 1000, false, false},
		{"ib_atomic_bw", "-F -A CMP_AND_SWAP -n 1000", PERF_BW, ATOMIC_BYTES, 1000, false,
		 false},
		{"ib_atomic_bw", "-F --run_infinitely -D 1", PERF_BW, ATOMIC_BYTES, 0, false, true},
	};

	RUN_CASES(c);
}

/*
 * perftest with --odp: its buffers registered IBV_ACCESS_ON_DEMAND (perftest
 * 4.5 refuses --odp for atomics on any device).
 */
static void test_perftest_odp(void)
{
	static const struct client_case c[] = {
		{"ib_write_bw", "-F --odp -n 5000", PERF_BW, BW_BYTES, 5000, false, false},
		{"ib_write_bw", "-F --odp -s 1048576 -n 1000", PERF_BW, 1 << 20, 1000, false,
		 false},
		{"ib_read_bw", "-F --odp -n 1000", PERF_BW, BW_BYTES, 1000, false, false},
		{"ib_send_bw", "-F --odp -n 1000", PERF_BW, BW_BYTES, 1000, false, false},
		{"ib_write_lat", "-F --odp -n 1000", PERF_LAT, LAT_BYTES, 1000, false, false},
	};

	RUN_CASES(c);
}

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
	static const char *const reasons[] = {
		"dropped, malformed:", "dropped, icrc:", "dropped, no qp:"};
	size_t i;

	if (!sodp_have(c->tool))
		SODP_SKIP("the client is not installed (Debian packages ibverbs-utils, perftest)");
	beside = SPRAY_BOTH;
	setenv("SOFTODP_STATS", "1", 1);
	run_case(c);
	unsetenv("SOFTODP_STATS");
	beside = NULL;
	printf("\n%s", bes.out);
	CU_ASSERT_EQUAL(bes.status, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(bes.out, "spray: 20000 datagrams to 127.0.0.1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(bes.out, "spray: 20000 datagrams to 127.0.0.2"));
	/* both devices counted what they dropped, and why (SOFTODP_STATS) */
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		CU_ASSERT_PTR_NOT_NULL(strstr(srv.err, reasons[i]));
		CU_ASSERT_PTR_NOT_NULL(strstr(cli.err, reasons[i]));
	}
	printf("%s", strstr(srv.err, "softodp: srxe0:") ? strstr(srv.err, "softodp: srxe0:") : "");
}

static void test_rc_pingpong_validates_under_a_hostile_peer(void)
{
	static const struct client_case c = {
		"ibv_rc_pingpong", "-g 0 -c -n 500", PINGPONG, 0, 500, false, false};

	run_sprayed(&c);
}

static void test_ib_write_bw_under_a_hostile_peer(void)
{
	static const struct client_case c = {"ib_write_bw", "-F -n 2000", PERF_BW, BW_BYTES,
					     2000,	    false,	  false};

	run_sprayed(&c);
}

/*
 * Both processes on srxe0=127.0.0.1: the server owns the address, the
 * client shares it (providers/rxe/share.c), as two processes share a NIC.
 */
static void run_shared(const struct client_case *c)
{
	if (!sodp_have(c->tool))
		SODP_SKIP("the client is not installed (Debian packages ibverbs-utils, perftest)");
	client_dev = SERVER_DEV;
	run_case(c);
	client_dev = CLIENT_DEV;
}

static void test_rc_pingpong_on_one_shared_device(void)
{
	static const struct client_case c = {
		"ibv_rc_pingpong", "-g 0 -c", PINGPONG, 0, 1000, false, false};

	run_shared(&c);
}

static void test_rc_pingpong_odp_on_one_shared_device(void)
{
	static const struct client_case c = {
		"ibv_rc_pingpong", "-g 0 -c -o", PINGPONG, 0, 1000, false, false};

	run_shared(&c);
}

static void test_ib_write_bw_on_one_shared_device(void)
{
	static const struct client_case c = {"ib_write_bw", "-F -n 5000", PERF_BW, BW_BYTES,
					     5000,	    false,	  false};

	run_shared(&c);
}

static void test_ib_write_bw_odp_on_one_shared_device(void)
{
	static const struct client_case c = {
		"ib_write_bw", "-F --odp -s 1048576 -n 1000", PERF_BW, 1 << 20, 1000, false, false};

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
		{"srq_pingpong_validates", test_srq_pingpong_validates},
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
	sodp_add_suite("pingpong", sodp_netns_up, sodp_netns_down, pingpong);
	sodp_add_suite("perftest", sodp_netns_up, sodp_netns_down, perftest);
	sodp_add_suite("hostile_peer", sodp_netns_up, sodp_netns_down, hostile);
	sodp_add_suite("shared_device", sodp_netns_up, sodp_netns_down, shared);
}
