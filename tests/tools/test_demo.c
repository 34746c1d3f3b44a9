// SPDX-License-Identifier: MIT
/*
 * softodp_demo end to end, small: two processes, every phase, the report and
 * its integrity verdict; one byte corrupted on the way fails the verdict;
 * bad options are a usage error.
 */
#include <stdbool.h>
#include <string.h>

#include "sodp_test.h"
#include "sodp_proc.h"

#define DEMO SODP_BUILD_DIR "/tools/softodp_demo"
/* A sanitizer slows the engine several times over. */
#define DEMO_SECS 100

static struct sodp_proc r;

static void show_on_failure(bool ok)
{
	if (!ok)
		printf("\n%s\n", r.out);
}

static void test_demo_moves_every_phase_and_passes_integrity(void)
{
	static const char *const phases[] = {"pinned",	      "odp cold",	 "odp warm",
					     "odp churn",     "odp after churn", "implicit cold",
					     "implicit churn"};
	int st = sodp_run(&r, DEMO_SECS, DEMO " -s 8 2>&1");
	bool ok = st == 0;

	CU_ASSERT_EQUAL(st, 0);
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		char line[64];

		snprintf(line, sizeof(line), "\n%s ", phases[i]);
		ok &= strstr(r.out, line) != NULL;
		CU_ASSERT_PTR_NOT_NULL(strstr(r.out, line));
	}
	/* 7 phases of 4 chunks, each checked */
	ok &= strstr(r.out, "data integrity: PASS: 28 chunks") != NULL;
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "data integrity: PASS: 28 chunks"));
	CU_ASSERT_PTR_NULL(strstr(r.out, "FAIL"));
	show_on_failure(ok);
}

static void test_demo_corrupted_byte_fails_the_verdict(void)
{
	int st = sodp_run(&r, DEMO_SECS, DEMO " -s 8 --corrupt 2>&1");

	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "data integrity: FAIL: 1 of 28 chunks"));
	CU_ASSERT_PTR_NULL(strstr(r.out, "PASS"));
	show_on_failure(st == 1);
}

static void test_demo_corrupt_environment_fails_the_verdict(void)
{
	int st = sodp_run(&r, DEMO_SECS, "SOFTODP_DEMO_CORRUPT=1 " DEMO " -s 4 2>&1");

	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "data integrity: FAIL"));
	show_on_failure(st == 1);
}

static void test_demo_bad_options_print_usage(void)
{
	static const char *const bad[] = {"-s 3",      "-s 0",	"-s 4096", "-s x",
					  "--no-such", "extra", "-s"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = sodp_run(&r, 10, DEMO " %s 2>&1", bad[i]);

		CU_ASSERT_EQUAL(st, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "usage: softodp_demo"));
		if (st != 2)
			printf("\n    softodp_demo %s: %d\n%s", bad[i], st, r.out);
	}
	CU_ASSERT_EQUAL(sodp_run(&r, 10, DEMO " --help 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "usage: softodp_demo"));
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case demo[] = {
		{"demo_moves_every_phase_and_passes_integrity",
		 test_demo_moves_every_phase_and_passes_integrity},
		{"demo_corrupted_byte_fails_the_verdict",
		 test_demo_corrupted_byte_fails_the_verdict},
		{"demo_corrupt_environment_fails_the_verdict",
		 test_demo_corrupt_environment_fails_the_verdict},
		{"demo_bad_options_print_usage", test_demo_bad_options_print_usage},
		{NULL, NULL},
	};

	sodp_add_suite("demo", NULL, NULL, demo);
}
