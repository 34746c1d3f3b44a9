// SPDX-License-Identifier: MIT
/*
 * softodp_perf end to end: a server on srxe0=127.0.0.1 and a client on
 * srxe0=127.0.0.2, in a network namespace of their own when the test may
 * make one, connection data over TCP. Every run is bounded in time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sodp_test.h"
#include "tools_test.h"

#define PERF	   SODP_BUILD_DIR "/tools/softodp_perf"
#define SERVER_ENV "SOFTODP_DEVICES=srxe0=127.0.0.1 "
#define CLIENT_ENV "SOFTODP_DEVICES=srxe0=127.0.0.2 "
#define LIMIT	   120

static struct sodp_proc srv, cli;
static int next_port = 19515;

/* Runs the server and client with the same @args; true when both exit 0. */
static bool perf_pair(const char *args)
{
	char server[1024], client[1024];
	int port = next_port++;

	snprintf(server, sizeof(server), SERVER_ENV PERF " -p %d %s", port, args);
	snprintf(client, sizeof(client), CLIENT_ENV PERF " -p %d %s 127.0.0.1", port, args);
	printf("\n    softodp_perf %s ", args);
	sodp_run_pair(
		&(struct sodp_pair){
			.server = server, .client = client, .port = port, .limit = LIMIT},
		&srv, &cli, NULL);
	return srv.status == 0 && cli.status == 0;
}

static void assert_bw_json(int results)
{
	CU_ASSERT_FATAL(tt_json_valid(cli.out));
	CU_ASSERT_EQUAL(tt_json_count(cli.out, "bytes"), results);
	for (int i = 0; i < results; i++) {
		CU_ASSERT(tt_json_num(cli.out, "bw_avg_MBps", i) > 0);
		CU_ASSERT(tt_json_num(cli.out, "bw_peak_MBps", i) >=
			  tt_json_num(cli.out, "bw_avg_MBps", i));
		CU_ASSERT(tt_json_num(cli.out, "msg_rate_Mpps", i) > 0);
		CU_ASSERT(tt_json_num(cli.out, "iterations", i) > 0);
	}
}

static void test_write_bw_json_reports_bandwidth_and_verified_data(void)
{
	CU_ASSERT_FATAL(perf_pair("-t write_bw -s 65536 -n 300 --check --json"));
	assert_bw_json(1);
	CU_ASSERT_EQUAL(tt_json_num(cli.out, "bytes", 0), 65536);
	CU_ASSERT_EQUAL(tt_json_num(cli.out, "iterations", 0), 300);
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\"check\": \"passed\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\"test\": \"write_bw\""));
}

static void test_every_bandwidth_test_runs_with_checked_data(void)
{
	static const char *const args[] = {
		"-t read_bw -s 4096 -n 300 --check --json",
		"-t send_bw -s 4096 -n 300 --check --json",
		"-t atomic_bw -n 300 --check --json",
		"-t write_bw -s 4096 -n 300 -q 4 --check --json",
	};

	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		CU_ASSERT(perf_pair(args[i]));
		assert_bw_json(1);
		CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\"check\": \"passed\""));
	}
}

static void test_table_has_perftest_columns(void)
{
	CU_ASSERT_FATAL(perf_pair("-t write_bw -s 4096 -n 200"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		cli.out,
		"#bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\n 4096 "));
	CU_ASSERT_FATAL(perf_pair("-t write_bw -s 4096 -n 200 --report_gbits"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "BW average[Gb/sec]"));
	CU_ASSERT_FATAL(perf_pair("-t read_lat -n 100"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "t_min[usec]    t_max[usec]  t_typical[usec]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "99.9% percentile[usec]"));
}

static void test_latency_percentiles_are_ordered(void)
{
	static const char *const args[] = {
		"-t write_lat -n 300 --check --json",
		"-t read_lat -n 300 --check --json",
		"-t send_lat -n 300 --check --json",
	};

	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		double min, p50, p99, p999, max;

		CU_ASSERT(perf_pair(args[i]));
		CU_ASSERT_FATAL(tt_json_valid(cli.out));
		min = tt_json_num(cli.out, "t_min_us", 0);
		p50 = tt_json_num(cli.out, "p50_us", 0);
		p99 = tt_json_num(cli.out, "p99_us", 0);
		p999 = tt_json_num(cli.out, "p99_9_us", 0);
		max = tt_json_num(cli.out, "max_us", 0);
		printf("min %.2f p50 %.2f p99 %.2f p99.9 %.2f max %.2f us ", min, p50, p99, p999,
		       max);
		CU_ASSERT(min > 0);
		CU_ASSERT(min <= p50);
		CU_ASSERT(p50 <= p99);
		CU_ASSERT(p99 <= p999);
		CU_ASSERT(p999 <= max);
		CU_ASSERT_EQUAL(tt_json_num(cli.out, "iterations", 0), 300);
		CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\"check\": \"passed\""));
	}
}

/* A cold target faults on the server, and its remaps invalidate it. */
static void test_cold_odp_reports_server_faults(void)
{
	const char *server;

	CU_ASSERT_FATAL(perf_pair("-t write_bw -s 65536 -n 512 --odp --cold --check --json"));
	assert_bw_json(1);
	server = strstr(cli.out, "\"server\":");
	CU_ASSERT_PTR_NOT_NULL_FATAL(server);
	CU_ASSERT(tt_json_num(server, "faults", 0) > 0);
	CU_ASSERT(tt_json_num(server, "pages_faulted", 0) > 0);
	CU_ASSERT(tt_json_num(server, "invalidations", 0) > 0);
	CU_ASSERT(tt_json_num(cli.out, "invalidations", 0) == 0); /* the client's */
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\"memory\": \"odp\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\"cold\": true"));
}

static void test_implicit_odp_with_prefetch_counts_prefetches(void)
{
	static const char *const modes[] = {"sync", "async", "nofault"};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char args[256];

		snprintf(args, sizeof(args),
			 "-t read_bw -s 8192 -n 200 --odp=implicit --prefetch=%s "
			 "--check --json",
			 modes[i]);
		CU_ASSERT(perf_pair(args));
		assert_bw_json(1);
		CU_ASSERT(tt_json_num(cli.out, "prefetches", 0) >= 1); /* the client's */
		CU_ASSERT(tt_json_num(strstr(cli.out, "\"server\":"), "prefetches", 0) >= 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\"memory\": \"implicit\""));
	}
}

static void test_cold_latency_takes_a_fault_per_iteration(void)
{
	CU_ASSERT_FATAL(perf_pair("-t send_lat -n 50 --odp --cold --check --json"));
	CU_ASSERT_FATAL(tt_json_valid(cli.out));
	/* Each iteration receives into a page never touched before. */
	CU_ASSERT(tt_json_num(strstr(cli.out, "\"server\":"), "faults", 0) >= 50);
}

static void test_sweep_covers_2_bytes_to_8_MiB(void)
{
	int n;

	CU_ASSERT_FATAL(perf_pair("-t write_bw -a -n 8 --json"));
	CU_ASSERT_FATAL(tt_json_valid(cli.out));
	n = tt_json_count(cli.out, "bytes");
	CU_ASSERT_EQUAL(n, 23);
	CU_ASSERT_EQUAL(tt_json_num(cli.out, "bytes", 0), 2);
	CU_ASSERT_EQUAL(tt_json_num(cli.out, "bytes", n - 1), 8 << 20);
	assert_bw_json(n);
}

static void test_duration_runs_for_its_seconds(void)
{
	CU_ASSERT_FATAL(perf_pair("-t send_bw -s 4096 -D 1 -q 2 --check --json"));
	assert_bw_json(1);
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\"check\": \"passed\""));
}

static void test_bad_options_print_usage_and_fail(void)
{
	static const char *const bad[] = {
		"--no-such-option",
		"-t no_such_test",
		"-s",
		"-s 0",
		"-q 0",
		"-q 65",
		"-m 1000",
		"--cold",
		"--prefetch=sync",
		"--odp=sometimes",
		"-a -s 64",
		"-n 10 -D 1",
		"-t write_lat -q 2",
		"-t atomic_bw -s 64",
		"host1 host2",
		"--prefetch=later --odp",
	};
	struct sodp_proc r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sodp_run(&r, 10, PERF " %s", bad[i]);
		CU_ASSERT_EQUAL(r.status, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "Usage:"));
		if (r.status != 2)
			printf("\n  '%s' exited %d: %s", bad[i], r.status, r.err);
	}
	sodp_run(&r, 10, PERF " --help");
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--odp[=explicit|implicit]"));
}

static void test_sides_with_different_options_refuse_to_run(void)
{
	char server[1024], client[1024];
	int port = next_port++;

	snprintf(server, sizeof(server), SERVER_ENV PERF " -p %d -t write_bw -n 100", port);
	snprintf(client, sizeof(client), CLIENT_ENV PERF " -p %d -t read_bw -n 100 127.0.0.1",
		 port);
	sodp_run_pair(
		&(struct sodp_pair){.server = server, .client = client, .port = port, .limit = 30},
		&srv, &cli, NULL);
	CU_ASSERT_EQUAL(srv.status, 1);
	CU_ASSERT_EQUAL(cli.status, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.err, "options differ"));
}

/*
 * Built as a project of its own against the system's libibverbs, the tool
 * links rdma-core, not softodp; run under softodp-run it still finds
 * softodp's counters at run time.
 */
static void test_builds_and_runs_against_system_libibverbs(void)
{
	char dir[] = "/tmp/softodp-tools-sys-XXXXXX";
	char perf[1024], server[2048], client[2048];
	struct sodp_proc r;
	int port;

	if (!sodp_have("cmake") || access("/usr/include/infiniband/verbs.h", R_OK) ||
	    sodp_run(&r, 10,
		     "ls /usr/lib/*/libibverbs.so /usr/lib/libibverbs.so 2>/dev/null | grep -q ."))
		SODP_SKIP("libibverbs-dev or cmake is not installed");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	sodp_run(&r, 240,
		 "cmake -S " SODP_SOURCE_DIR
		 "/tools -B %s -DCMAKE_BUILD_TYPE=Release >/dev/null && "
		 "cmake --build %s -j2 >/dev/null",
		 dir, dir);
	CU_ASSERT_EQUAL_FATAL(r.status, 0);
	sodp_run(&r, 10, "readelf -d %s/softodp_perf | grep NEEDED", dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "libibverbs.so.1"));
	CU_ASSERT_PTR_NULL(strstr(r.out, "libsoftodp"));
	if (!strcmp(SODP_SANITIZE, "thread")) {
		sodp_run(&r, 10, "rm -rf %s", dir);
		SODP_SKIP("a TSan library cannot be preloaded into a plain program");
	}
	snprintf(perf, sizeof(perf), SODP_BUILD_DIR "/examples/softodp-run %s/softodp_perf", dir);
	port = next_port++;
	snprintf(server, sizeof(server), SERVER_ENV "%s -p %d -t write_bw -n 200 --odp --json",
		 perf, port);
	snprintf(client, sizeof(client),
		 CLIENT_ENV "%s -p %d -t write_bw -n 200 --odp --json 127.0.0.1", perf, port);
	sodp_run_pair(
		&(struct sodp_pair){
			.server = server, .client = client, .port = port, .limit = LIMIT},
		&srv, &cli, NULL);
	CU_ASSERT_EQUAL(srv.status, 0);
	CU_ASSERT_EQUAL(cli.status, 0);
	assert_bw_json(1);
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\"softodp\": true"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "\"server\":"));
	sodp_run(&r, 10, "rm -rf %s", dir);
}

static void test_page_documents_every_option(void)
{
	struct sodp_proc r;
	int checked;

	CU_ASSERT_EQUAL_FATAL(sodp_run(&r, 10, PERF " --help"), 0);
	CU_ASSERT_EQUAL(tt_page_lacks_help_options(SODP_SOURCE_DIR "/man/man1/softodp_perf.1",
						   r.out, &checked),
			0);
	CU_ASSERT(checked >= 20);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case perf[] = {
		{"write_bw_json_reports_bandwidth_and_verified_data",
		 test_write_bw_json_reports_bandwidth_and_verified_data},
		{"every_bandwidth_test_runs_with_checked_data",
		 test_every_bandwidth_test_runs_with_checked_data},
		{"table_has_perftest_columns", test_table_has_perftest_columns},
		{"latency_percentiles_are_ordered", test_latency_percentiles_are_ordered},
		{"cold_odp_reports_server_faults", test_cold_odp_reports_server_faults},
		{"implicit_odp_with_prefetch_counts_prefetches",
		 test_implicit_odp_with_prefetch_counts_prefetches},
		{"cold_latency_takes_a_fault_per_iteration",
		 test_cold_latency_takes_a_fault_per_iteration},
		{"sweep_covers_2_bytes_to_8_MiB", test_sweep_covers_2_bytes_to_8_MiB},
		{"duration_runs_for_its_seconds", test_duration_runs_for_its_seconds},
		{"bad_options_print_usage_and_fail", test_bad_options_print_usage_and_fail},
		{"sides_with_different_options_refuse_to_run",
		 test_sides_with_different_options_refuse_to_run},
		{"builds_and_runs_against_system_libibverbs",
		 test_builds_and_runs_against_system_libibverbs},
		{"page_documents_every_option", test_page_documents_every_option},
		{NULL, NULL},
	};

	sodp_add_suite("softodp_perf", sodp_netns_up, sodp_netns_down, perf);
}
