// SPDX-License-Identifier: MIT
/*
 * softodp_odp_bench end to end: both devices in one process
 * (srxe0=127.0.0.1, srxe1=127.0.0.2), in a network namespace of its own
 * when the test may make one, with --quick sizes. Every run is bounded in
 * time.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sodp_test.h"
#include "tools_test.h"

#define BENCH SODP_BUILD_DIR "/tools/softodp_odp_bench"
#define LIMIT 300

static struct sodp_proc r;

static void test_quick_json_holds_every_section_with_sane_values(void)
{
	const char *s;

	if (sodp_run(&r, LIMIT, BENCH " --quick --json"))
		printf("\n  exit %d:\n%s", r.status, r.err);
	CU_ASSERT_EQUAL_FATAL(r.status, 0);
	CU_ASSERT_FATAL(tt_json_valid(r.out));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\"softodp\": true"));

	/* registration: 4 KiB ... 16 MiB, every kind timed */
	s = strstr(r.out, "\"registration\":");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(tt_json_num(s, "bytes", 0), 4096);
	CU_ASSERT_EQUAL(tt_json_num(s, "bytes", 3), 16 << 20);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT(tt_json_num(s, "pinned_us", i) > 0);
		CU_ASSERT(tt_json_num(s, "odp_us", i) > 0);
		CU_ASSERT(tt_json_num(s, "implicit_us", i) > 0);
		CU_ASSERT(tt_json_num(s, "prereg_us", i) > 0);
	}
	/* An ODP registration needs no faulting: cheaper than pinning 16 MiB. */
	CU_ASSERT(tt_json_num(s, "odp_us", 3) < tt_json_num(s, "pinned_us", 3));

	/* bandwidth: 4 KiB, 64 KiB, 1 MiB into each kind of target */
	s = strstr(r.out, "\"bandwidth\":");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (int i = 0; i < 3; i++) {
		static const char *const cols[] = {"pinned_MBps",	 "odp_warm_MBps",
						   "odp_cold_MBps",	 "implicit_warm_MBps",
						   "implicit_cold_MBps", "thp_warm_MBps",
						   "thp_cold_MBps"};

		for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
			CU_ASSERT(tt_json_num(s, cols[c], i) > 0);
	}
	CU_ASSERT_EQUAL(tt_json_num(s, "bytes", 2), 1 << 20);

	/* invalidation: both methods timed, one invalidation each */
	s = strstr(r.out, "\"invalidation\":");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (int m = 0; m < 2; m++) {
		CU_ASSERT(tt_json_num(s, "call_us", m) > 0);
		CU_ASSERT(tt_json_num(s, "next_write_us", m) > 0);
		CU_ASSERT(tt_json_num(s, "invalidations_per_sample", m) >= 1);
	}

	/* mtt: 8 MiB of 4 KiB pages is 2048 entries of order 0, 8 bytes each */
	s = strstr(r.out, "\"mtt\":");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"backing\": \"pinned, 4 KiB pages\", \"entries\": "
					 "{\"0\": 2048, \"9\": 0, \"18\": 0}"));
	CU_ASSERT_EQUAL(tt_json_num(s, "mtt_bytes_total", 0), 2048 * 8);

	/* scaling: MRs 1, 10, 100 and QPs 1, 2 */
	s = strstr(r.out, "\"scaling_mrs\":");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(tt_json_num(s, "mrs", 2), 100);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT(tt_json_num(s, "reg_us_per_mr", i) > 0);
		CU_ASSERT(tt_json_num(s, "warm_MBps", i) > 0);
	}
	s = strstr(r.out, "\"scaling_qps\":");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(tt_json_num(s, "qps", 1), 2);
	CU_ASSERT(tt_json_num(s, "warm_MBps", 1) > 0);
}

static void test_table_names_each_section_it_ran(void)
{
	if (sodp_run(&r, LIMIT, BENCH " --quick --only=reg,mtt"))
		printf("\n  exit %d:\n%s", r.status, r.err);
	CU_ASSERT_EQUAL_FATAL(r.status, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Registration + deregistration [usec, median]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "MTT entries and MTT memory by page size"));
	CU_ASSERT_PTR_NULL(strstr(r.out, "RDMA WRITE bandwidth"));
	CU_ASSERT_PTR_NULL(strstr(r.out, "Scaling"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\n     16 MiB "));
}

/* The PNG's width and height from its IHDR chunk. */
static bool png_size(const char *path, uint32_t *w, uint32_t *h, long *bytes)
{
	static const unsigned char magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	unsigned char hdr[24];
	FILE *f = fopen(path, "rb");
	bool ok;

	if (!f)
		return false;
	ok = fread(hdr, 1, sizeof(hdr), f) == sizeof(hdr) && !memcmp(hdr, magic, 8) &&
	     !memcmp(hdr + 12, "IHDR", 4);
	fseek(f, 0, SEEK_END);
	*bytes = ftell(f);
	fclose(f);
	*w = (uint32_t)hdr[16] << 24 | (uint32_t)hdr[17] << 16 | (uint32_t)hdr[18] << 8 | hdr[19];
	*h = (uint32_t)hdr[20] << 24 | (uint32_t)hdr[21] << 16 | (uint32_t)hdr[22] << 8 | hdr[23];
	return ok;
}

static void test_plot_draws_a_png_chart(void)
{
	char png[] = "/tmp/softodp-plot-XXXXXX.png";
	uint32_t w = 0, h = 0;
	long bytes = 0;
	int fd;

	if (!sodp_have("gnuplot"))
		SODP_SKIP("gnuplot is not installed (Debian package gnuplot-nox)");
	fd = mkstemps(png, 4);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	if (sodp_run(&r, LIMIT, BENCH " --quick --only=bw --plot=%s", png))
		printf("\n  exit %d:\n%s", r.status, r.err);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_FATAL(png_size(png, &w, &h, &bytes));
	printf("%ux%u, %ld bytes ", w, h, bytes);
	CU_ASSERT(w >= 640 && w <= 4000);
	CU_ASSERT(h >= 400 && h <= 4000);
	/* A chart with axes, five curves and a legend, not an empty canvas. */
	CU_ASSERT(bytes > 10000);
	unlink(png);
}

static void test_plot_without_gnuplot_fails_clearly(void)
{
	CU_ASSERT_EQUAL(sodp_run(&r, 30, "PATH=/nonexistent " BENCH " --quick --plot=/tmp/x.png"),
			1);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "needs gnuplot"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "gnuplot-nox"));
}

static void test_bad_options_print_usage_and_fail(void)
{
	static const char *const bad[] = {
		"--no-such-option", "--only=bogus", "--only=reg,nope", "--plot=",
		"--plot",	    "extra",	    "-x abc",	       "--only=reg --plot=a.png",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sodp_run(&r, 10, BENCH " %s", bad[i]);
		CU_ASSERT_EQUAL(r.status, 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "Usage:"));
		if (r.status != 2)
			printf("\n  '%s' exited %d: %s", bad[i], r.status, r.err);
	}
	CU_ASSERT_EQUAL(sodp_run(&r, 10, BENCH " --help"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--plot=FILE.png"));
}

static void test_page_documents_every_option(void)
{
	int checked;

	CU_ASSERT_EQUAL_FATAL(sodp_run(&r, 10, BENCH " --help"), 0);
	CU_ASSERT_EQUAL(tt_page_lacks_help_options(SODP_SOURCE_DIR "/man/man1/softodp_odp_bench.1",
						   r.out, &checked),
			0);
	CU_ASSERT(checked >= 7);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case bench[] = {
		{"quick_json_holds_every_section_with_sane_values",
		 test_quick_json_holds_every_section_with_sane_values},
		{"table_names_each_section_it_ran", test_table_names_each_section_it_ran},
		{"plot_draws_a_png_chart", test_plot_draws_a_png_chart},
		{"plot_without_gnuplot_fails_clearly", test_plot_without_gnuplot_fails_clearly},
		{"bad_options_print_usage_and_fail", test_bad_options_print_usage_and_fail},
		{"page_documents_every_option", test_page_documents_every_option},
		{NULL, NULL},
	};

	sodp_add_suite("softodp_odp_bench", sodp_netns_up, sodp_netns_down, bench);
}
