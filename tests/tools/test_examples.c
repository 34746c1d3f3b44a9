// SPDX-License-Identifier: MIT
/*
 * The ODP examples (examples/odp_*.c) run as their comments say: a server
 * and a client on two devices, the client's RDMA WRITE checked byte for
 * byte by the server; and the same programs built against rdma-core's
 * libibverbs run on softodp through softodp-run.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sodp_test.h"
#include "sodp_proc.h"

#define EXAMPLES SODP_BUILD_DIR "/examples"
#define RUN	 EXAMPLES "/softodp-run"
#define EX_SECS	 60
#define EX_PORT	 18571

static struct sodp_proc srv, cli, r;

/*
 * Runs @prog as the server on 127.0.0.1 and as its client on 127.0.0.2,
 * each directly (@preload false) or through softodp-run. True when both
 * exit 0 and the server verified @bytes bytes; the client's output is in cli.
 */
static bool run_pair(const char *prog, bool preload, unsigned int bytes)
{
	char server[512], client[512], want[64];

	if (preload) {
		snprintf(server, sizeof(server), RUN " -d srxe0=127.0.0.1 %s -p %d", prog, EX_PORT);
		snprintf(client, sizeof(client), RUN " -d srxe0=127.0.0.2 %s -p %d 127.0.0.1", prog,
			 EX_PORT);
	} else {
		snprintf(server, sizeof(server), "SOFTODP_DEVICES=srxe0=127.0.0.1 %s -p %d", prog,
			 EX_PORT);
		snprintf(client, sizeof(client),
			 "SOFTODP_DEVICES=srxe0=127.0.0.2 %s -p %d 127.0.0.1", prog, EX_PORT);
	}
	sodp_run_pair(
		&(struct sodp_pair){
			.server = server, .client = client, .port = EX_PORT, .limit = EX_SECS},
		&srv, &cli, NULL);
	snprintf(want, sizeof(want), "data verified: %u bytes\n", bytes);
	if (!strstr(srv.out, want))
		printf("\n    %s: the server did not verify %u bytes:\n%s%s", prog, bytes, srv.out,
		       srv.err);
	return srv.status == 0 && cli.status == 0 && strstr(srv.out, want);
}

static void test_odp_write_example_moves_and_verifies_data(void)
{
	CU_ASSERT(run_pair(EXAMPLES "/odp_write", false, 4u << 20));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "wrote 4194304 bytes into the server's ODP memory"));
}

static void test_odp_implicit_example_moves_and_verifies_data(void)
{
	CU_ASSERT(run_pair(EXAMPLES "/odp_implicit", false, 3u << 20));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "through the server's implicit ODP MR"));
}

static void test_odp_prefetch_example_moves_and_verifies_data(void)
{
	CU_ASSERT(run_pair(EXAMPLES "/odp_prefetch", false, 4u << 20));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "cold half:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cli.out, "prefetched half:"));
}

/*
 * Built against rdma-core's libibverbs, run on softodp by softodp-run (in a
 * sanitizer build both the program and the library carry the sanitizer).
 */
static void test_examples_built_against_libibverbs_run_on_softodp(void)
{
	static const char *const ex[] = {"odp_write", "odp_implicit", "odp_prefetch"};
	static const unsigned int bytes[] = {4u << 20, 3u << 20, 4u << 20};
	char prog[256];

	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		snprintf(prog, sizeof(prog), EXAMPLES "/%s_ibverbs", ex[i]);
		if (access(prog, X_OK))
			SODP_SKIP(
				"rdma-core's libibverbs is not installed (Debian libibverbs-dev)");
		CU_ASSERT(run_pair(prog, true, bytes[i]));
	}
}

static void test_examples_reject_bad_arguments(void)
{
	static const char *const ex[] = {"odp_write", "odp_implicit", "odp_prefetch"};

	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		CU_ASSERT_EQUAL(sodp_run(&r, 10, EXAMPLES "/%s -x 2>&1", ex[i]), 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "usage:"));
		CU_ASSERT_EQUAL(sodp_run(&r, 10, EXAMPLES "/%s a b 2>&1", ex[i]), 2);
	}
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case examples[] = {
		{"odp_write_example_moves_and_verifies_data",
		 test_odp_write_example_moves_and_verifies_data},
		{"odp_implicit_example_moves_and_verifies_data",
		 test_odp_implicit_example_moves_and_verifies_data},
		{"odp_prefetch_example_moves_and_verifies_data",
		 test_odp_prefetch_example_moves_and_verifies_data},
		{"examples_built_against_libibverbs_run_on_softodp",
		 test_examples_built_against_libibverbs_run_on_softodp},
		{"examples_reject_bad_arguments", test_examples_reject_bad_arguments},
		{NULL, NULL},
	};

	sodp_add_suite("examples", NULL, NULL, examples);
}
