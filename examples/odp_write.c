// SPDX-License-Identifier: MIT
/*
 * odp_write: RDMA WRITE into memory registered on demand (explicit ODP).
 *
 *   server: odp_write [-d device] [-p port]
 *   client: odp_write [-d device] [-p port] server-host
 *
 * An ODP memory region (IBV_ACCESS_ON_DEMAND) pins nothing at
 * registration: the NIC finds each page when it first touches it, and the
 * process may unmap, remap or madvise() the memory afterwards like any
 * other. Here the server registers 4 MiB it never touched; the client
 * writes all of it, from a source buffer that is ODP too; the server checks
 * every byte.
 */
#include <sys/mman.h>

#include "odp_common.h"

#define LEN (4u << 20)

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
	ex_require_odp(&c, 0);

	/*
	 * Fresh anonymous memory: not one page of it exists yet. Registering
	 * it with IBV_ACCESS_ON_DEMAND costs the same for 4 KiB or 4 GiB.
	 */
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		ex_die("mmap");
	mr = ibv_reg_mr(c.pd, buf, LEN, access);
	if (!mr)
		ex_die("ibv_reg_mr(IBV_ACCESS_ON_DEMAND)");

	ex_meet(&c, host, port, buf, LEN, mr, &peer);

	if (host) {
		/*
		 * Client: the source is an ODP MR too; the NIC faults its
		 * pages in as it reads them. One WRITE of the whole buffer:
		 * on the server each missing page makes the NIC answer "not
		 * ready" (RNR NAK) while it faults the page in, and the
		 * client's QP retries (rnr_retry 7, odp_common.h).
		 */
		ex_fill(buf, LEN);
		ex_write(&c, buf, LEN, mr, peer.addr, peer.rkey);
		printf("wrote %u bytes into the server's ODP memory\n", LEN);
		ex_sync(&c); /* tell the server it is all there */
	} else {
		ex_sync(&c); /* wait for the client's WRITE to complete */
		ret = ex_check(buf, LEN);
	}

	ibv_dereg_mr(mr);
	munmap(buf, LEN);
	ex_close(&c);
	return ret;
}
