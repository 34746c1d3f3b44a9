// SPDX-License-Identifier: MIT
/*
 * What a fault-safe copy costs: process_vm_readv() of the process's own
 * memory, one call per piece and one call for a run of pieces, against
 * memcpy(), for the sizes the engine copies (an 8-byte payload, a 4 KiB
 * packet, sixteen 4 KiB packets of a 64 KiB message). The numbers behind
 * the choice of copy in lib/odp (odp.h) and the runs of the requester
 * (req.c).
 *
 * Usage: bench_copy [calls per case, default 200000]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/uio.h>

#define AREA  (4u << 20)
#define PIECE 4096u
#define RUN   16u

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Keeps the compiler from dropping the copies. */
static volatile unsigned char sink;

/* ns per call: @pieces pieces of @len bytes, one process_vm_readv() for all */
static double pvm(char *dst, const char *src, size_t len, unsigned int pieces, long calls)
{
	struct iovec l[RUN], r;
	pid_t me = getpid();
	double t = now_ns();
	long i;

	for (i = 0; i < calls; i++) {
		size_t off = (size_t)i * len * pieces % (AREA - len * pieces);
		unsigned int p;

		for (p = 0; p < pieces; p++) {
			l[p].iov_base = dst + off + p * len;
			l[p].iov_len = len;
		}
		r.iov_base = (void *)(src + off);
		r.iov_len = len * pieces;
		if (process_vm_readv(me, l, pieces, &r, 1, 0) != (ssize_t)(len * pieces)) {
			perror("process_vm_readv");
			exit(1);
		}
	}
	sink = dst[0];
	return (now_ns() - t) / calls;
}

static double copy(char *dst, const char *src, size_t len, unsigned int pieces, long calls)
{
	double t = now_ns();
	long i;

	for (i = 0; i < calls; i++) {
		size_t off = (size_t)i * len * pieces % (AREA - len * pieces);

		memcpy(dst + off, src + off, len * pieces);
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	sink = dst[0];
	return (now_ns() - t) / calls;
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? atol(argv[1]) : 200000;
	char *src = aligned_alloc(4096, AREA), *dst = aligned_alloc(4096, AREA);

	if (!src || !dst || calls <= 0) {
		fprintf(stderr, "usage: bench_copy [calls per case]\n");
		return 2;
	}
	memset(src, 1, AREA);
	memset(dst, 2, AREA);
	printf("%-30s %14s %14s\n", "copy", "pvm ns/call", "memcpy ns/call");
	printf("%-30s %14.0f %14.0f\n", "8 B", pvm(dst, src, 8, 1, calls),
	       copy(dst, src, 8, 1, calls));
	printf("%-30s %14.0f %14.0f\n", "4 KiB", pvm(dst, src, PIECE, 1, calls),
	       copy(dst, src, PIECE, 1, calls));
	printf("%-30s %14.0f %14.0f\n", "16 x 4 KiB, a call each",
	       16 * pvm(dst, src, PIECE, 1, calls / 16), 16 * copy(dst, src, PIECE, 1, calls / 16));
	printf("%-30s %14.0f %14.0f\n", "16 x 4 KiB, one call",
	       pvm(dst, src, PIECE, RUN, calls / 16), copy(dst, src, PIECE, RUN, calls / 16));
	free(src);
	free(dst);
	return 0;
}
