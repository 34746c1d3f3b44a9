// SPDX-License-Identifier: MIT
/*
 * odp_implicit: RDMA WRITE through an implicit ODP memory region.
 *
 *   server: odp_implicit [-d device] [-p port]
 *   client: odp_implicit [-d device] [-p port] server-host
 *
 * One registration covers the whole address space:
 *
 *	ibv_reg_mr(pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND | ...)
 *
 * Its lkey and rkey are valid for any address of the process, including
 * memory allocated after the registration; the NIC faults pages in as it
 * touches them. The addresses are the process's virtual addresses. Here
 * both sides register once, then allocate their buffers with plain
 * malloc(); the client writes, the server checks every byte.
 */
#include "odp_common.h"

#define LEN (3u << 20)

int main(int argc, char **argv)
{
	const int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_ON_DEMAND;
	const char *dev, *port, *host;
	struct ex_conn peer;
	struct ex_ctx c;
	struct ibv_mr *mr;
	uint8_t *buf;
	int ret = 0;

	ex_args(argc, argv, &dev, &port, &host);
	ex_open(&c, dev);
	ex_require_odp(&c, 1);

	/* No address, no length: the whole address space, once. */
	mr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, access);
	if (!mr)
		ex_die("ibv_reg_mr(NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND)");

	/* Memory from anywhere, after the registration: no ibv_reg_mr() for it. */
	buf = malloc(LEN);
	if (!buf)
		ex_die("malloc");

	/* the server offers the implicit MR's rkey with its buffer's virtual address */
	ex_meet(&c, host, port, buf, LEN, mr, &peer);

	if (host) {
		/* the implicit MR's lkey covers the malloc()ed source as well */
		ex_fill(buf, LEN);
		ex_write(&c, buf, LEN, mr, peer.addr, peer.rkey);
		printf("wrote %u bytes through the server's implicit ODP MR\n", LEN);
		ex_sync(&c);
	} else {
		ex_sync(&c);
		ret = ex_check(buf, LEN);
	}

	ibv_dereg_mr(mr);
	free(buf);
	ex_close(&c);
	return ret;
}
