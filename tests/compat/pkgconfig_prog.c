// SPDX-License-Identifier: MIT
/*
 * A plain verbs program: built by the compat test with
 * `cc pkgconfig_prog.c $(pkg-config --cflags --libs softodp)`.
 */
#include <stdio.h>
#include <infiniband/verbs.h>

int main(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_port_attr pa;
	struct ibv_context *ctx;
	union ibv_gid gid;

	if (!list || !list[0]) {
		perror("ibv_get_device_list");
		return 1;
	}
	ctx = ibv_open_device(list[0]);
	if (!ctx || ibv_query_port(ctx, 1, &pa) || ibv_query_gid(ctx, 1, 0, &gid)) {
		perror("open/query");
		return 1;
	}
	printf("%s port 1 %s gid %02x%02x:%02x%02x\n", ibv_get_device_name(list[0]),
	       ibv_port_state_str(pa.state), gid.raw[12], gid.raw[13], gid.raw[14], gid.raw[15]);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	return 0;
}
