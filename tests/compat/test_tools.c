// SPDX-License-Identifier: MIT
/*
 * Debian's rdma-core tools, unmodified, on softodp through softodp-run; and
 * a program built against the installed library with pkg-config.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sodp_test.h"

#define RUN SODP_BUILD_DIR "/examples/softodp-run"

static char out[1 << 16];

/* Runs a shell command with a time bound; returns its exit status, output in out. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[2048], full[2200];
	size_t len = 0;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "timeout 60 sh -c '%s' 2>&1", cmd);
	p = popen(full, "r");
	if (!p)
		return -1;
	while (len < sizeof(out) - 1) {
		size_t n = fread(out + len, 1, sizeof(out) - 1 - len, p);

		if (!n)
			break;
		len += n;
	}
	out[len] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have(const char *tool)
{
	char cmd[256];

	/*
	 * A ThreadSanitizer library cannot be loaded into a program that was not
	 * built with it; such a build runs the launcher tests only.
	 */
	if (!strcmp(SODP_SANITIZE, "thread"))
		return false;

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

static void test_softodp_run_help_documents_devices(void)
{
	CU_ASSERT_EQUAL(run(RUN " --help"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "--devices"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "SOFTODP_DEVICES"));
	CU_ASSERT_NOT_EQUAL(run(RUN " --no-such-option true"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "unknown option"));
	CU_ASSERT_NOT_EQUAL(run(RUN), 0);
	CU_ASSERT_NOT_EQUAL(run(RUN " --devices"), 0);
}

static void test_softodp_run_sets_preload_both_forms(void)
{
	if (!strcmp(SODP_SANITIZE, "thread"))
		SODP_SKIP("a TSan library cannot be preloaded into sh");
	CU_ASSERT_EQUAL(run(RUN " -- sh -c \"echo \\$LD_PRELOAD\""), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "libsoftodp.so.1"));
	CU_ASSERT_EQUAL(run(RUN " sh -c \"echo \\$LD_PRELOAD\""), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "libsoftodp.so.1"));
}

static void test_ibv_devices_lists_configured_devices(void)
{
	if (!have("ibv_devices"))
		SODP_SKIP("ibv_devices is not installed (Debian package ibverbs-utils)");
	CU_ASSERT_EQUAL(run(RUN " -d srxe0=127.0.0.1,srxe1=127.0.0.2 ibv_devices"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "srxe0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "srxe1"));
	CU_ASSERT_EQUAL(run(RUN " ibv_devices"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "srxe0"));
}

static void test_ibv_devinfo_shows_active_ethernet_port_and_gid(void)
{
	if (!have("ibv_devinfo"))
		SODP_SKIP("ibv_devinfo is not installed (Debian package ibverbs-utils)");
	CU_ASSERT_EQUAL(run("SOFTODP_DEVICES=srxe0=127.0.0.1 " RUN " ibv_devinfo -v"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "hca_id:\tsrxe0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "PORT_ACTIVE"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "link_layer:\t\tEthernet"));
	/* RoCE v2 GIDs are printed in inet_ntop form by ibv_devinfo. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "GID[  0]:\t\t::ffff:127.0.0.1, RoCE v2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "max_qp:"));
}

static void test_ibv_devinfo_lists_odp_caps(void)
{
	const char *rc;

	if (!have("ibv_devinfo"))
		SODP_SKIP("ibv_devinfo is not installed (Debian package ibverbs-utils)");
	CU_ASSERT_EQUAL(run("SOFTODP_DEVICES=srxe0=127.0.0.1 " RUN " ibv_devinfo -v"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ODP_SUPPORT_IMPLICIT"));
	rc = strstr(out, "rc_odp_caps:");
	CU_ASSERT_PTR_NOT_NULL_FATAL(rc);
	CU_ASSERT_PTR_NOT_NULL(strstr(rc, "SUPPORT_ATOMIC"));
	CU_ASSERT_PTR_NOT_NULL(strstr(rc, "SUPPORT_SRQ"));
}

static void test_bad_configuration_is_one_line_naming_entry(void)
{
	char *first_nl;

	if (!have("ibv_devices"))
		SODP_SKIP("ibv_devices is not installed (Debian package ibverbs-utils)");
	CU_ASSERT_NOT_EQUAL(run(RUN " -d srxe0=127.0.0.1,oops ibv_devices"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "softodp: SOFTODP_DEVICES entry 'oops'"));
	first_nl = strchr(out, '\n');
	CU_ASSERT_PTR_NOT_NULL(first_nl);
	CU_ASSERT_PTR_NULL(strstr(out, "Segmentation"));
	CU_ASSERT_NOT_EQUAL(run(RUN " -d srxe0=198.51.100.1 ibv_devinfo"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "'srxe0=198.51.100.1'"));
}

static void test_pkg_config_program_links_and_runs(void)
{
	char dir[] = "/tmp/softodp-pc-XXXXXX";

	if (SODP_SANITIZE[0])
		SODP_SKIP("a sanitizer build cannot be linked into a plain program");
	if (!have("pkg-config") || !have("cc"))
		SODP_SKIP("pkg-config or cc is not installed");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_EQUAL_FATAL(
		run("cmake --install " SODP_BUILD_DIR " --prefix %s/usr >/dev/null", dir), 0);
	CU_ASSERT_EQUAL(run("pcdir=$(dirname $(find %s -name softodp.pc)) && "
			    "PKG_CONFIG_PATH=$pcdir cc -o %s/prog " SODP_SOURCE_DIR
			    "/tests/compat/pkgconfig_prog.c $(PKG_CONFIG_PATH=$pcdir pkg-config "
			    "--cflags --libs softodp)",
			    dir, dir),
			0);
	if (out[0])
		printf("\n%s\n", out);
	/* It must link libsoftodp, never the kernel-backed libibverbs. */
	CU_ASSERT_EQUAL(run("readelf -d %s/prog | grep NEEDED", dir), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "libsoftodp.so.1"));
	CU_ASSERT_PTR_NULL(strstr(out, "libibverbs"));
	CU_ASSERT_EQUAL(run("SOFTODP_DEVICES=srxe0=127.0.0.1 "
			    "LD_LIBRARY_PATH=$(dirname $(find %s -name libsoftodp.so.1)) %s/prog",
			    dir, dir),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "srxe0 port 1 active gid 7f00:0001"));
	run("rm -rf %s", dir);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case launcher[] = {
		{"softodp_run_help_documents_devices", test_softodp_run_help_documents_devices},
		{"softodp_run_sets_preload_both_forms", test_softodp_run_sets_preload_both_forms},
		{NULL, NULL},
	};
	static const struct sodp_test_case tools[] = {
		{"ibv_devices_lists_configured_devices", test_ibv_devices_lists_configured_devices},
		{"ibv_devinfo_shows_active_ethernet_port_and_gid",
		 test_ibv_devinfo_shows_active_ethernet_port_and_gid},
		{"ibv_devinfo_lists_odp_caps", test_ibv_devinfo_lists_odp_caps},
		{"bad_configuration_is_one_line_naming_entry",
		 test_bad_configuration_is_one_line_naming_entry},
		{"pkg_config_program_links_and_runs", test_pkg_config_program_links_and_runs},
		{NULL, NULL},
	};

	sodp_add_suite("launcher", NULL, NULL, launcher);
	sodp_add_suite("tools", NULL, NULL, tools);
}
