// SPDX-License-Identifier: MIT
/*
 * Device discovery, configuration parsing and the queries of the verbs
 * front, called the way an application calls them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "sodp_test.h"
#include "verbs.h"

static char err[256];

static void test_parse_single_ipv4_entry(void)
{
	struct sodp_dev_config cfg[4];
	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg[0].addr;

	CU_ASSERT_EQUAL(sodp_parse_devices("srxe0=127.0.0.1", cfg, 4, err, sizeof(err)), 1);
	CU_ASSERT_STRING_EQUAL(cfg[0].name, "srxe0");
	CU_ASSERT_EQUAL(sin->sin_family, AF_INET);
	CU_ASSERT_EQUAL(sin->sin_addr.s_addr, htonl(0x7f000001));
}

static void test_parse_several_entries_and_ipv6(void)
{
	struct sodp_dev_config cfg[4];

	CU_ASSERT_EQUAL(sodp_parse_devices("a=127.0.0.1,b=::1,c=[::1]", cfg, 4, err, sizeof(err)),
			3);
	CU_ASSERT_STRING_EQUAL(cfg[1].name, "b");
	CU_ASSERT_EQUAL(cfg[1].addr.ss_family, AF_INET6);
	CU_ASSERT_EQUAL(cfg[2].addr.ss_family, AF_INET6);
	CU_ASSERT_EQUAL(sodp_parse_devices("a=127.0.0.1,", cfg, 4, err, sizeof(err)), 1);
}

/* Each bad entry is refused with a message that names it. */
static void test_parse_bad_entries_name_the_entry(void)
{
	static const struct {
		const char *spec;
		const char *named;
	} bad[] = {
		{"srxe0", "'srxe0'"},
		{"srxe0=", "'srxe0='"},
		{"=127.0.0.1", "'=127.0.0.1'"},
		{"srxe0=300.1.1.1", "'srxe0=300.1.1.1'"},
		{"srxe0=localhost", "'srxe0=localhost'"},
		{"bad name=127.0.0.1", "'bad name=127.0.0.1'"},
		{"a=127.0.0.1,a=127.0.0.2", "'a=127.0.0.2'"},
		{"a=127.0.0.1,,b=127.0.0.2", "empty entry"},
		{"x123456789012345678901234567890123456789012345678901234567890123=127.0.0.1",
		 "bad device name"},
		{"", "empty"},
	};
	struct sodp_dev_config cfg[4];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(sodp_parse_devices(bad[i].spec, cfg, 4, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].named));
		CU_ASSERT_PTR_NULL(strchr(err, '\n'));
	}
}

static void test_parse_too_many_entries_is_e2big(void)
{
	struct sodp_dev_config cfg[2];

	CU_ASSERT_EQUAL(
		sodp_parse_devices("a=127.0.0.1,b=127.0.0.2,c=127.0.0.3", cfg, 2, err, sizeof(err)),
		-E2BIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'c=127.0.0.3'"));
}

static void test_parse_null_arguments_are_einval(void)
{
	struct sodp_dev_config cfg[1];

	CU_ASSERT_EQUAL(sodp_parse_devices(NULL, cfg, 1, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(sodp_parse_devices("a=127.0.0.1", NULL, 1, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(sodp_parse_devices("a=127.0.0.1", cfg, 0, err, sizeof(err)), -EINVAL);
}

static void test_parse_impair_reads_each_field(void)
{
	struct sodp_impair im;

	CU_ASSERT_EQUAL(sodp_parse_impair("drop=5%,dup=2,reorder=1%,seed=9", &im), 0);
	CU_ASSERT_EQUAL(im.drop, 5);
	CU_ASSERT_EQUAL(im.dup, 2);
	CU_ASSERT_EQUAL(im.reorder, 1);
	CU_ASSERT_EQUAL(im.seed, 9);
	CU_ASSERT_TRUE(im.on);
	CU_ASSERT_EQUAL(sodp_parse_impair(NULL, &im), 0);
	CU_ASSERT_FALSE(im.on);
}

static void test_parse_impair_bad_specs_are_einval(void)
{
	static const char *const bad[] = {"drop",     "drop=101%",  "dup=x",	"loss=1%",
					  "drop=1%%", "reorder=-1", "seed=1,=2"};
	struct sodp_impair im;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		CU_ASSERT_EQUAL(sodp_parse_impair(bad[i], &im), -EINVAL);
}

static void test_config_env_reads_icrc_impair_and_stats(void)
{
	struct sodp_dev_config cfg = {.name = "srxe0"};

	setenv("SOFTODP_ICRC", "strict", 1);
	setenv("SOFTODP_IMPAIR", "drop=3%", 1);
	setenv("SOFTODP_STATS", "1", 1);
	sodp_config_env(&cfg);
	CU_ASSERT_EQUAL(cfg.icrc, SODP_ICRC_STRICT);
	CU_ASSERT_EQUAL(cfg.impair.drop, 3);
	CU_ASSERT_TRUE(cfg.report_stats);
	/* a bad value is named on stderr and leaves the default */
	setenv("SOFTODP_ICRC", "sometimes", 1);
	setenv("SOFTODP_IMPAIR", "drop=lots", 1);
	unsetenv("SOFTODP_STATS");
	sodp_config_env(&cfg);
	CU_ASSERT_EQUAL(cfg.icrc, SODP_ICRC_RECOVER_ID);
	CU_ASSERT_FALSE(cfg.impair.on);
	CU_ASSERT_FALSE(cfg.report_stats);
	setenv("SOFTODP_ICRC", "off", 1);
	unsetenv("SOFTODP_IMPAIR");
	sodp_config_env(&cfg);
	CU_ASSERT_EQUAL(cfg.icrc, SODP_ICRC_OFF);
	unsetenv("SOFTODP_ICRC");
}

static void test_resolve_loopback_alias_gives_v4_mapped_gid(void)
{
	struct sodp_dev_config cfg[1];
	static const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2};

	CU_ASSERT_EQUAL_FATAL(sodp_parse_devices("d=127.0.0.2", cfg, 1, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL_FATAL(sodp_resolve_device(&cfg[0], err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(cfg[0].ifname, "lo");
	CU_ASSERT(cfg[0].if_mtu >= 1280);
	CU_ASSERT_EQUAL(memcmp(cfg[0].gid.raw, want, 16), 0);
	CU_ASSERT_NOT_EQUAL(cfg[0].node_guid, 0);
}

static void test_resolve_foreign_address_is_refused(void)
{
	struct sodp_dev_config cfg[1];

	/* TEST-NET-3: documentation range, never assigned to a local interface. */
	CU_ASSERT_EQUAL_FATAL(sodp_parse_devices("d=203.0.113.7", cfg, 1, err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(sodp_resolve_device(&cfg[0], err, sizeof(err)), -EADDRNOTAVAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'d=203.0.113.7'"));
}

static void test_default_is_one_loopback_device(void)
{
	struct ibv_device **list;
	int n = -1;

	unsetenv("SOFTODP_DEVICES");
	list = ibv_get_device_list(&n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(list);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_STRING_EQUAL(ibv_get_device_name(list[0]), "srxe0");
	CU_ASSERT_PTR_NULL(list[1]);
	ibv_free_device_list(list);
}

static void test_device_list_follows_environment(void)
{
	struct ibv_device **list;
	int n = -1;

	setenv("SOFTODP_DEVICES", "alpha=127.0.0.1,beta=127.0.0.2", 1);
	list = ibv_get_device_list(&n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(list);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_STRING_EQUAL(ibv_get_device_name(list[0]), "alpha");
	CU_ASSERT_STRING_EQUAL(ibv_get_device_name(list[1]), "beta");
	CU_ASSERT_NOT_EQUAL(ibv_get_device_guid(list[0]), ibv_get_device_guid(list[1]));
	CU_ASSERT_NOT_EQUAL(ibv_get_device_index(list[0]), ibv_get_device_index(list[1]));
	CU_ASSERT_EQUAL(list[0]->node_type, IBV_NODE_CA);
	CU_ASSERT_EQUAL(list[0]->transport_type, IBV_TRANSPORT_IB);
	ibv_free_device_list(list);
	unsetenv("SOFTODP_DEVICES");
}

/*
 * dev_name is where programs look for the device's node under
 * /dev/infiniband: it names softodp and the device, never a kernel uverbsN,
 * and stays the same in every process whatever the device's index.
 */
static void test_dev_name_is_softodp_and_the_device_name(void)
{
	static const char long_name[] =
		"x12345678901234567890123456789012345678901234567890123456789012";
	char spec[128];
	struct ibv_device **list;
	int n = -1;

	snprintf(spec, sizeof(spec), "gamma=127.0.0.2,delta=127.0.0.1,%s=127.0.0.3", long_name);
	setenv("SOFTODP_DEVICES", spec, 1);
	list = ibv_get_device_list(&n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(list);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_STRING_EQUAL(list[0]->dev_name, "softodp-gamma");
	CU_ASSERT_STRING_EQUAL(list[1]->dev_name, "softodp-delta");
	CU_ASSERT_STRING_EQUAL(list[0]->dev_path, "softodp:/softodp-gamma");
	CU_ASSERT_EQUAL(strlen(list[2]->dev_name), sizeof(list[2]->dev_name) - 1);
	CU_ASSERT_EQUAL(strncmp(list[2]->dev_name, "softodp-x1234", 13), 0);
	ibv_free_device_list(list);
	unsetenv("SOFTODP_DEVICES");
}

static void test_bad_environment_gives_null_and_einval(void)
{
	int n = 7;

	setenv("SOFTODP_DEVICES", "srxe0=not-an-address", 1);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_get_device_list(&n));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(n, 0);
	unsetenv("SOFTODP_DEVICES");
}

static void test_foreign_device_pointers_are_rejected(void)
{
	struct ibv_device fake;

	memset(&fake, 0, sizeof(fake));
	CU_ASSERT_PTR_NULL(ibv_get_device_name(NULL));
	CU_ASSERT_PTR_NULL(ibv_get_device_name(&fake));
	CU_ASSERT_EQUAL(ibv_get_device_guid(&fake), 0);
	CU_ASSERT_EQUAL(ibv_get_device_index(&fake), -1);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_open_device(&fake));
	CU_ASSERT_EQUAL(errno, ENODEV);
	CU_ASSERT_PTR_NULL(ibv_open_device(NULL));
	CU_ASSERT_EQUAL(ibv_close_device(NULL), -1);
	errno = 0;
	CU_ASSERT_PTR_NULL(ibv_import_device(-1));
	CU_ASSERT_EQUAL(errno, EINVAL);
}

static struct ibv_context *open_first(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx;

	if (!list || !list[0])
		return NULL;
	ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	return ctx;
}

static void test_context_is_extended_verbs_context(void)
{
	struct ibv_context *ctx = open_first();
	struct verbs_context *vctx;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	CU_ASSERT_PTR_EQUAL(ctx->abi_compat, __VERBS_ABI_IS_EXTENDED);
	vctx = verbs_get_ctx(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(vctx);
	CU_ASSERT_EQUAL(vctx->sz, sizeof(*vctx));
	CU_ASSERT_PTR_EQUAL(&vctx->context, ctx);
	CU_ASSERT_PTR_NOT_NULL(verbs_get_ctx_op(ctx, query_port));
	CU_ASSERT_PTR_NOT_NULL(verbs_get_ctx_op(ctx, query_device_ex));
	CU_ASSERT_PTR_NOT_NULL(verbs_get_ctx_op(ctx, create_qp_ex));
	CU_ASSERT_PTR_NOT_NULL(ctx->ops.post_send);
	CU_ASSERT_PTR_NOT_NULL(ctx->ops.poll_cq);
	CU_ASSERT(ctx->async_fd >= 0);
	CU_ASSERT_EQUAL(ibv_close_device(ctx), 0);
}

static void test_query_device_reports_honest_limits(void)
{
	struct ibv_context *ctx = open_first();
	struct ibv_device_attr attr;
	struct ibv_device_attr_ex ex;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	CU_ASSERT_EQUAL(ibv_query_device(ctx, &attr), 0);
	CU_ASSERT_EQUAL(attr.phys_port_cnt, 1);
	CU_ASSERT(attr.max_qp > 0 && attr.max_cqe > 0 && attr.max_mr > 0 && attr.max_sge > 0);
	CU_ASSERT_EQUAL(attr.node_guid, ibv_get_device_guid(ctx->device));
	CU_ASSERT_EQUAL(ibv_query_device_ex(ctx, NULL, &ex), 0);
	CU_ASSERT_EQUAL(ex.orig_attr.max_qp, attr.max_qp);
	CU_ASSERT_EQUAL(ibv_query_device(ctx, NULL), EINVAL);
	CU_ASSERT_EQUAL(ibv_close_device(ctx), 0);
}

static void test_query_port_is_active_ethernet(void)
{
	struct ibv_context *ctx = open_first();
	struct ibv_port_attr pa;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	CU_ASSERT_EQUAL(ibv_query_port(ctx, 1, &pa), 0);
	CU_ASSERT_EQUAL(pa.state, IBV_PORT_ACTIVE);
	CU_ASSERT_EQUAL(pa.link_layer, IBV_LINK_LAYER_ETHERNET);
	CU_ASSERT(pa.active_mtu >= IBV_MTU_256 && pa.active_mtu <= IBV_MTU_4096);
	CU_ASSERT(pa.gid_tbl_len >= 1);
	CU_ASSERT(pa.pkey_tbl_len >= 1);
	CU_ASSERT_NOT_EQUAL(ibv_query_port(ctx, 0, &pa), 0);
	CU_ASSERT_NOT_EQUAL(ibv_query_port(ctx, 2, &pa), 0);
	CU_ASSERT_EQUAL(ibv_close_device(ctx), 0);
}

/* perftest scans every index below gid_tbl_len and gives up on any failure. */
static void test_every_gid_index_is_queryable(void)
{
	struct ibv_context *ctx = open_first();
	struct ibv_gid_entry entry;
	struct ibv_port_attr pa;
	union ibv_gid gid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	CU_ASSERT_EQUAL_FATAL(ibv_query_port(ctx, 1, &pa), 0);
	for (int i = 0; i < pa.gid_tbl_len; i++) {
		CU_ASSERT_EQUAL(ibv_query_gid(ctx, 1, i, &gid), 0);
		CU_ASSERT_EQUAL(ibv_query_gid_ex(ctx, 1, i, &entry, 0), 0);
		CU_ASSERT_EQUAL(entry.gid_type, IBV_GID_TYPE_ROCE_V2);
		CU_ASSERT_EQUAL(memcmp(&entry.gid, &gid, sizeof(gid)), 0);
	}
	CU_ASSERT_EQUAL(gid.raw[10], 0xff);
	CU_ASSERT_EQUAL(gid.raw[11], 0xff);
	CU_ASSERT_EQUAL(gid.raw[12], 127);
	CU_ASSERT_EQUAL(ibv_query_gid(ctx, 1, pa.gid_tbl_len, &gid), -1);
	CU_ASSERT_EQUAL(ibv_query_gid(ctx, 1, -1, &gid), -1);
	CU_ASSERT_EQUAL(ibv_query_gid(ctx, 2, 0, &gid), -1);
	CU_ASSERT_NOT_EQUAL(ibv_query_gid_ex(ctx, 1, pa.gid_tbl_len, &entry, 0), 0);
	CU_ASSERT_NOT_EQUAL(ibv_query_gid_ex(ctx, 1, 0, &entry, 1), 0);
	CU_ASSERT_EQUAL(ibv_close_device(ctx), 0);
}

static void test_gid_table_query(void)
{
	struct ibv_context *ctx = open_first();
	struct ibv_gid_entry entries[4];

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	CU_ASSERT_EQUAL(ibv_query_gid_table(ctx, entries, 4, 0), 1);
	CU_ASSERT_EQUAL(entries[0].port_num, 1);
	CU_ASSERT(ibv_query_gid_table(ctx, entries, 0, 0) < 0);
	CU_ASSERT(ibv_query_gid_table(ctx, NULL, 4, 0) < 0);
	CU_ASSERT_EQUAL(ibv_close_device(ctx), 0);
}

static void test_pkey_table_has_default_partition(void)
{
	struct ibv_context *ctx = open_first();
	__be16 pkey;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	CU_ASSERT_EQUAL(ibv_query_pkey(ctx, 1, 0, &pkey), 0);
	CU_ASSERT_EQUAL(be16toh(pkey), 0xffff);
	CU_ASSERT_EQUAL(ibv_get_pkey_index(ctx, 1, htobe16(0xffff)), 0);
	CU_ASSERT_EQUAL(ibv_get_pkey_index(ctx, 1, htobe16(0x8001)), -1);
	CU_ASSERT_EQUAL(ibv_query_pkey(ctx, 1, 1, &pkey), -1);
	CU_ASSERT_EQUAL(ibv_query_pkey(ctx, 1, 0, NULL), -1);
	CU_ASSERT_EQUAL(ibv_close_device(ctx), 0);
}

static void test_pd_lifecycle_and_bad_arguments(void)
{
	struct ibv_context *ctx = open_first();
	struct ibv_pd *pd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	pd = ibv_alloc_pd(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
	CU_ASSERT_PTR_EQUAL(pd->context, ctx);
	CU_ASSERT_EQUAL(ibv_dealloc_pd(pd), 0);
	CU_ASSERT_PTR_NULL(ibv_alloc_pd(NULL));
	CU_ASSERT_EQUAL(ibv_dealloc_pd(NULL), EINVAL);
	CU_ASSERT_EQUAL(ibv_close_device(ctx), 0);
}

static void test_comp_channel_lifecycle(void)
{
	struct ibv_context *ctx = open_first();
	struct ibv_comp_channel *ch;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
	ch = ibv_create_comp_channel(ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ch);
	CU_ASSERT(ch->fd >= 0);
	CU_ASSERT_EQUAL(ibv_destroy_comp_channel(ch), 0);
	CU_ASSERT_PTR_NULL(ibv_create_comp_channel(NULL));
	CU_ASSERT_EQUAL(ibv_destroy_comp_channel(NULL), EINVAL);
	CU_ASSERT_EQUAL(ibv_close_device(ctx), 0);
}

static void test_strings_and_rates(void)
{
	CU_ASSERT_STRING_EQUAL(ibv_port_state_str(IBV_PORT_ACTIVE), "active");
	CU_ASSERT_STRING_EQUAL(ibv_wc_status_str(IBV_WC_SUCCESS), "success");
	CU_ASSERT_STRING_EQUAL(ibv_wc_status_str((enum ibv_wc_status)999), "unknown");
	CU_ASSERT_STRING_EQUAL(ibv_event_type_str((enum ibv_event_type) - 5), "unknown");
	CU_ASSERT_STRING_EQUAL(ibv_node_type_str(IBV_NODE_CA), "InfiniBand channel adapter");
	CU_ASSERT_EQUAL(ibv_rate_to_mult(IBV_RATE_10_GBPS), 4);
	CU_ASSERT_EQUAL(mult_to_ibv_rate(4), IBV_RATE_10_GBPS);
	CU_ASSERT_EQUAL(ibv_rate_to_mbps(IBV_RATE_25_GBPS), 25781);
	CU_ASSERT_EQUAL(mbps_to_ibv_rate(25781), IBV_RATE_25_GBPS);
	CU_ASSERT_EQUAL(mbps_to_ibv_rate(1), IBV_RATE_MAX);
	CU_ASSERT_EQUAL(ibv_is_fork_initialized(), IBV_FORK_UNNEEDED);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case config[] = {
		{"parse_single_ipv4_entry", test_parse_single_ipv4_entry},
		{"parse_several_entries_and_ipv6", test_parse_several_entries_and_ipv6},
		{"parse_bad_entries_name_the_entry", test_parse_bad_entries_name_the_entry},
		{"parse_too_many_entries_is_e2big", test_parse_too_many_entries_is_e2big},
		{"parse_null_arguments_are_einval", test_parse_null_arguments_are_einval},
		{"parse_impair_reads_each_field", test_parse_impair_reads_each_field},
		{"parse_impair_bad_specs_are_einval", test_parse_impair_bad_specs_are_einval},
		{"config_env_reads_icrc_impair_and_stats",
		 test_config_env_reads_icrc_impair_and_stats},
		{"resolve_loopback_alias_gives_v4_mapped_gid",
		 test_resolve_loopback_alias_gives_v4_mapped_gid},
		{"resolve_foreign_address_is_refused", test_resolve_foreign_address_is_refused},
		{NULL, NULL},
	};
	static const struct sodp_test_case devices[] = {
		{"default_is_one_loopback_device", test_default_is_one_loopback_device},
		{"device_list_follows_environment", test_device_list_follows_environment},
		{"dev_name_is_softodp_and_the_device_name",
		 test_dev_name_is_softodp_and_the_device_name},
		{"bad_environment_gives_null_and_einval",
		 test_bad_environment_gives_null_and_einval},
		{"foreign_device_pointers_are_rejected", test_foreign_device_pointers_are_rejected},
		{NULL, NULL},
	};
	static const struct sodp_test_case query[] = {
		{"context_is_extended_verbs_context", test_context_is_extended_verbs_context},
		{"query_device_reports_honest_limits", test_query_device_reports_honest_limits},
		{"query_port_is_active_ethernet", test_query_port_is_active_ethernet},
		{"every_gid_index_is_queryable", test_every_gid_index_is_queryable},
		{"gid_table_query", test_gid_table_query},
		{"pkey_table_has_default_partition", test_pkey_table_has_default_partition},
		{"pd_lifecycle_and_bad_arguments", test_pd_lifecycle_and_bad_arguments},
		{"comp_channel_lifecycle", test_comp_channel_lifecycle},
		{"strings_and_rates", test_strings_and_rates},
		{NULL, NULL},
	};

	sodp_add_suite("config", NULL, NULL, config);
	sodp_add_suite("devices", NULL, NULL, devices);
	sodp_add_suite("query", NULL, NULL, query);
}
