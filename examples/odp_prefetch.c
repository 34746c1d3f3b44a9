// SPDX-License-Identifier: MIT
/*
 * odp_prefetch: ibv_advise_mr() before RDMA WRITE into ODP memory.
 *
 *   server: odp_prefetch [-d device] [-p port]
 *   client: odp_prefetch [-d device] [-p port] server-host
 *
 * A page of an ODP MR the NIC has not touched yet costs a page fault on
 * first access, and the peer's QP waits (RNR NAK and retry) while it is
 * resolved. A process that knows which memory is about to be used can
 * fault it in ahead of time:
 *
 *	ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
 *		      IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
 *
 * PREFETCH_WRITE makes the pages present and writable (PREFETCH: readable);
 * with IBV_ADVISE_MR_FLAG_FLUSH the call returns once that is done, without
 * it the work is done in the background. Here the server registers two
 * untouched halves, prefetches the second, and the client writes both:
 * it prints how long each WRITE took, the cold half and the prefetched one.
 */
#include <sys/mman.h>

#include "odp_common.h"

#define HALF (2u << 20)

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

int main(int argc, char **argv)
{
	const int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_ON_DEMAND;
	const char *dev, *port, *host;
	struct ex_conn peer;
	struct timespec t0;
	struct ex_ctx c;
	struct ibv_mr *mr;
	uint8_t *buf;
	int ret = 0;

	ex_args(argc, argv, &dev, &port, &host);
	ex_open(&c, dev);
	ex_require_odp(&c, 0);

	buf = mmap(NULL, 2 * HALF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		ex_die("mmap");
	mr = ibv_reg_mr(c.pd, buf, 2 * HALF, access);
	if (!mr)
		ex_die("ibv_reg_mr(IBV_ACCESS_ON_DEMAND)");

	if (!host) {
		/* the second half: present and writable before the client writes */
		struct ibv_sge sge = {
			.addr = (uintptr_t)buf + HALF, .length = HALF, .lkey = mr->lkey};
		int err = ibv_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
					IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);

		if (err) {
			errno = err;
			ex_die("ibv_advise_mr");
		}
	} else {
		/* the client's source: readable (PREFETCH), in the background */
		struct ibv_sge sge = {.addr = (uintptr_t)buf, .length = 2 * HALF, .lkey = mr->lkey};

		ex_fill(buf, 2 * HALF);
		ibv_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, &sge, 1);
	}

	ex_meet(&c, host, port, buf, 2 * HALF, mr, &peer);

	if (host) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ex_write(&c, buf, HALF, mr, peer.addr, peer.rkey);
		printf("cold half:       %u bytes in %.2f ms\n", HALF, ms_since(&t0));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ex_write(&c, buf + HALF, HALF, mr, peer.addr + HALF, peer.rkey);
		printf("prefetched half: %u bytes in %.2f ms\n", HALF, ms_since(&t0));
		ex_sync(&c);
	} else {
		ex_sync(&c);
		ret = ex_check(buf, 2 * HALF);
	}

	ibv_dereg_mr(mr);
	munmap(buf, 2 * HALF);
	ex_close(&c);
	return ret;
}
