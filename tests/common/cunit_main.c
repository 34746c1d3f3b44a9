// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>

#include "sodp_test.h"

int sodp_test_skipped;

void sodp_add_suite(const char *name, CU_InitializeFunc init, CU_CleanupFunc fini,
		    const struct sodp_test_case *tests)
{
	CU_pSuite s = CU_add_suite(name, init, fini);

	if (!s) {
		fprintf(stderr, "cannot add suite %s: %s\n", name, CU_get_error_msg());
		exit(2);
	}
	for (; tests->name; tests++) {
		if (!CU_add_test(s, tests->name, tests->fn)) {
			fprintf(stderr, "cannot add test %s: %s\n", tests->name,
				CU_get_error_msg());
			exit(2);
		}
	}
}

/*
 * Usage: TEST [SUITE [TEST]] runs everything, one suite, or one test.
 */
int main(int argc, char **argv)
{
	unsigned int failed;
	CU_ErrorCode rc;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	sodp_tests_register();
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (argc > 1) {
		CU_pSuite s = CU_get_suite(argv[1]);

		if (!s) {
			fprintf(stderr, "no suite named %s\n", argv[1]);
			CU_cleanup_registry();
			return 2;
		}
		if (argc > 2) {
			CU_pTest t = CU_get_test(s, argv[2]);

			if (!t) {
				fprintf(stderr, "no test %s in suite %s\n", argv[2], argv[1]);
				CU_cleanup_registry();
				return 2;
			}
			rc = CU_basic_run_test(s, t);
		} else {
			rc = CU_basic_run_suite(s);
		}
	} else {
		rc = CU_basic_run_tests();
	}
	failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
		 CU_get_number_of_tests_failed();
	if (sodp_test_skipped)
		printf("%d test(s) skipped for lack of a machine feature\n", sodp_test_skipped);
	CU_cleanup_registry();
	return (rc != CUE_SUCCESS || failed) ? 1 : 0;
}
