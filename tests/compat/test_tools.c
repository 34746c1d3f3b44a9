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

#include "sodp_proc.h"
#include "sodp_test.h"

#define RUN SODP_BUILD_DIR "/examples/softodp-run"

#define LIMIT 60

static struct sodp_proc r;

static bool have(const char *tool)
{
	/*
	 * A ThreadSanitizer library cannot be loaded into a program that was not
	 * built with it; such a build runs the launcher tests only.
	 */
	if (!strcmp(SODP_SANITIZE, "thread"))
		return false;

	return sodp_have(tool);
}

static void test_softodp_run_help_documents_devices(void)
{
	CU_ASSERT_EQUAL(sodp_run(&r, LIMIT, RUN " --help 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--devices"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "SOFTODP_DEVICES"));
	CU_ASSERT_NOT_EQUAL(sodp_run(&r, LIMIT, RUN " --no-such-option true 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "unknown option"));
	CU_ASSERT_NOT_EQUAL(sodp_run(&r, LIMIT, RUN " 2>&1"), 0);
	CU_ASSERT_NOT_EQUAL(sodp_run(&r, LIMIT, RUN " --devices 2>&1"), 0);
}

static void test_softodp_run_sets_preload_both_forms(void)
{
	if (!strcmp(SODP_SANITIZE, "thread"))
		SODP_SKIP("a TSan library cannot be preloaded into sh");
	CU_ASSERT_EQUAL(sodp_run(&r, LIMIT, RUN " -- sh -c \"echo \\$LD_PRELOAD\" 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "libsoftodp.so.1"));
	CU_ASSERT_EQUAL(sodp_run(&r, LIMIT, RUN " sh -c \"echo \\$LD_PRELOAD\" 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "libsoftodp.so.1"));
}

/* What a program under --dev-nodes sees: one line per check that held. */
#define DEV_NODES_PROBE                                                             \
	"sh -c \"for n in softodp-a softodp-b; do f=/dev/infiniband/\\$n; "         \
	"test -c \\$f && test -r \\$f && test -w \\$f && echo node \\$n; done; "    \
	"echo x >/dev/null && echo null-ok; touch /dev/shm/softodp-devnodes-probe " \
	"&& echo shm-ok; echo uid \\$(id -u)\""

/*
 * --dev-nodes: the program finds /dev/infiniband/softodp-NAME for every
 * device, a character device it may read and write (what UCX checks), in a
 * mount namespace of its own whose /dev is otherwise the host's; the host's
 * /dev gains nothing.
 */
static void test_softodp_run_dev_nodes_give_a_node_per_device(void)
{
	if (!strcmp(SODP_SANITIZE, "thread"))
		SODP_SKIP("a TSan library cannot be preloaded into sh");
	if (!have("unshare"))
		SODP_SKIP("unshare (util-linux) is not installed");
	unlink("/dev/shm/softodp-devnodes-probe");
	CU_ASSERT_EQUAL(sodp_run(&r, LIMIT,
				 RUN " --dev-nodes -d a=127.0.0.1,b=127.0.0.2 " DEV_NODES_PROBE
				     " 2>&1"),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "node softodp-a\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "node softodp-b\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "null-ok\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "shm-ok\n"));
	if (geteuid() == 0)
		CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "uid 0\n"));
	/* the host's /dev/shm is the program's, and /dev/infiniband stays as it was */
	CU_ASSERT_EQUAL(access("/dev/shm/softodp-devnodes-probe", F_OK), 0);
	unlink("/dev/shm/softodp-devnodes-probe");
	CU_ASSERT_NOT_EQUAL(access("/dev/infiniband/softodp-a", F_OK), 0);
	CU_ASSERT_NOT_EQUAL(sodp_run(&r, LIMIT, RUN " --dev-nodes -d a=127.0.0.1 false 2>&1"), 0);
}

/* Without root the program runs in a user namespace with its own IDs. */
static void test_softodp_run_dev_nodes_keep_ids_without_root(void)
{
	if (!strcmp(SODP_SANITIZE, "thread"))
		SODP_SKIP("a TSan library cannot be preloaded into sh");
	if (geteuid() != 0 || !have("setpriv") || !have("unshare"))
		SODP_SKIP("needs root to become another user, setpriv and unshare");
	if (sodp_run(&r, LIMIT,
		     "setpriv --reuid=65534 --regid=65534 --clear-groups "
		     "unshare --user --map-root-user true 2>&1") != 0)
		SODP_SKIP("unprivileged user namespaces are not allowed here");
	if (sodp_run(&r, LIMIT,
		     "setpriv --reuid=65534 --regid=65534 --clear-groups test -x " RUN
		     " 2>&1") != 0)
		SODP_SKIP("the build directory is not readable by nobody");
	unlink("/dev/shm/softodp-devnodes-probe");
	CU_ASSERT_EQUAL(sodp_run(&r, LIMIT,
				 "setpriv --reuid=65534 --regid=65534 --clear-groups " RUN
				 " --dev-nodes -d a=127.0.0.1,b=127.0.0.2 " DEV_NODES_PROBE
				 " 2>&1"),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "node softodp-a\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "node softodp-b\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "null-ok\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "shm-ok\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "uid 65534\n"));
	unlink("/dev/shm/softodp-devnodes-probe");
}

static void test_ibv_devices_lists_configured_devices(void)
{
	if (!have("ibv_devices"))
		SODP_SKIP("ibv_devices is not installed (Debian package ibverbs-utils)");
	CU_ASSERT_EQUAL(
		sodp_run(&r, LIMIT, RUN " -d srxe0=127.0.0.1,srxe1=127.0.0.2 ibv_devices 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "srxe0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "srxe1"));
	CU_ASSERT_EQUAL(sodp_run(&r, LIMIT, RUN " ibv_devices 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "srxe0"));
}

static void test_ibv_devinfo_shows_active_ethernet_port_and_gid(void)
{
	if (!have("ibv_devinfo"))
		SODP_SKIP("ibv_devinfo is not installed (Debian package ibverbs-utils)");
	CU_ASSERT_EQUAL(
		sodp_run(&r, LIMIT, "SOFTODP_DEVICES=srxe0=127.0.0.1 " RUN " ibv_devinfo -v 2>&1"),
		0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "hca_id:\tsrxe0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "PORT_ACTIVE"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "link_layer:\t\tEthernet"));
	/* RoCE v2 GIDs are printed in inet_ntop form by ibv_devinfo. */
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "GID[  0]:\t\t::ffff:127.0.0.1, RoCE v2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "max_qp:"));
}

static void test_ibv_devinfo_lists_odp_caps(void)
{
	const char *rc;

	if (!have("ibv_devinfo"))
		SODP_SKIP("ibv_devinfo is not installed (Debian package ibverbs-utils)");
	CU_ASSERT_EQUAL(
		sodp_run(&r, LIMIT, "SOFTODP_DEVICES=srxe0=127.0.0.1 " RUN " ibv_devinfo -v 2>&1"),
		0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "ODP_SUPPORT_IMPLICIT"));
	rc = strstr(r.out, "rc_odp_caps:");
	CU_ASSERT_PTR_NOT_NULL_FATAL(rc);
	CU_ASSERT_PTR_NOT_NULL(strstr(rc, "SUPPORT_ATOMIC"));
	CU_ASSERT_PTR_NOT_NULL(strstr(rc, "SUPPORT_SRQ"));
}

static void test_bad_configuration_is_one_line_naming_entry(void)
{
	char *first_nl;

	if (!have("ibv_devices"))
		SODP_SKIP("ibv_devices is not installed (Debian package ibverbs-utils)");
	CU_ASSERT_NOT_EQUAL(sodp_run(&r, LIMIT, RUN " -d srxe0=127.0.0.1,oops ibv_devices 2>&1"),
			    0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "softodp: SOFTODP_DEVICES entry 'oops'"));
	first_nl = strchr(r.out, '\n');
	CU_ASSERT_PTR_NOT_NULL(first_nl);
	CU_ASSERT_PTR_NULL(strstr(r.out, "Segmentation"));
	CU_ASSERT_NOT_EQUAL(sodp_run(&r, LIMIT, RUN " -d srxe0=198.51.100.1 ibv_devinfo 2>&1"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "'srxe0=198.51.100.1'"));
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
		sodp_run(&r, LIMIT,
			 "cmake --install " SODP_BUILD_DIR " --prefix %s/usr >/dev/null 2>&1", dir),
		0);
	CU_ASSERT_EQUAL(
		sodp_run(&r, LIMIT,
			 "pcdir=$(dirname $(find %s -name softodp.pc)) && "
			 "PKG_CONFIG_PATH=$pcdir cc -o %s/prog " SODP_SOURCE_DIR
			 "/tests/compat/pkgconfig_prog.c $(PKG_CONFIG_PATH=$pcdir pkg-config "
			 "--cflags --libs softodp) 2>&1",
			 dir, dir),
		0);
	if (r.out[0])
		printf("\n%s\n", r.out);
	/* It must link libsoftodp, never the kernel-backed libibverbs. */
	CU_ASSERT_EQUAL(sodp_run(&r, LIMIT, "readelf -d %s/prog | grep NEEDED 2>&1", dir), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "libsoftodp.so.1"));
	CU_ASSERT_PTR_NULL(strstr(r.out, "libibverbs"));
	CU_ASSERT_EQUAL(
		sodp_run(&r, LIMIT,
			 "SOFTODP_DEVICES=srxe0=127.0.0.1 "
			 "LD_LIBRARY_PATH=$(dirname $(find %s -name libsoftodp.so.1)) %s/prog 2>&1",
			 dir, dir),
		0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "srxe0 port 1 active gid 7f00:0001"));
	sodp_run(&r, LIMIT, "rm -rf %s 2>&1", dir);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case launcher[] = {
		{"softodp_run_help_documents_devices", test_softodp_run_help_documents_devices},
		{"softodp_run_sets_preload_both_forms", test_softodp_run_sets_preload_both_forms},
		{"softodp_run_dev_nodes_give_a_node_per_device",
		 test_softodp_run_dev_nodes_give_a_node_per_device},
		{"softodp_run_dev_nodes_keep_ids_without_root",
		 test_softodp_run_dev_nodes_keep_ids_without_root},
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
