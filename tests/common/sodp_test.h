/* SPDX-License-Identifier: MIT */
/*
 * Shared CUnit glue. Each test executable defines sodp_tests_register(),
 * which adds its suites; cunit_main.c runs them and turns failures into the
 * exit status CTest reads.
 */
#ifndef SODP_TEST_H
#define SODP_TEST_H

#include <stdio.h>
#include <CUnit/CUnit.h>

void sodp_tests_register(void);

/* A test whose precondition the machine lacks passes with a visible note. */
#define SODP_SKIP(why)                                        \
	do {                                                  \
		printf("\n    SKIP %s: %s\n", __func__, why); \
		sodp_test_skipped++;                          \
		return;                                       \
	} while (0)

extern int sodp_test_skipped;

/*
 * SODP_FIXTURE_TEST(name, up, down) { body }: test_<name>, whose body runs
 * after up() returned 0 (else the test fails there) and before down(). A
 * fatal assertion in the body skips down(): up() must start from anything
 * a previous test left.
 */
#define SODP_FIXTURE_TEST(name, up, down)       \
	static void test_##name##_body(void);   \
	static void test_##name(void)           \
	{                                       \
		CU_ASSERT_EQUAL_FATAL(up(), 0); \
		test_##name##_body();           \
		down();                         \
	}                                       \
	static void test_##name##_body(void)

struct sodp_test_case {
	const char *name;
	CU_TestFunc fn;
};

/* Adds a suite from a NULL-terminated table; aborts the run on failure. */
void sodp_add_suite(const char *name, CU_InitializeFunc init, CU_CleanupFunc fini,
		    const struct sodp_test_case *tests);

#endif
