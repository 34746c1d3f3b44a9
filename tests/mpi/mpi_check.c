// SPDX-License-Identifier: MIT
/*
 * An MPI job whose every byte is checked: ping-pong between rank 0 and each
 * other rank from 1 byte to 4 MiB, MPI_Allreduce of 1 Mi doubles and
 * MPI_Alltoall of 4 MiB per rank. Each buffer is filled with a pattern of
 * (rank, peer, size, round, index) and compared in full on arrival, so a
 * transport that drops, reorders or misplaces data fails the job, not just
 * slows it down.
 *
 * Exit status 0 when every check held on every rank; 1 otherwise, with one
 * line per failed check on stderr naming rank, step and first bad index.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PINGPONG_MAX	(4u << 20)
#define PINGPONG_ROUNDS 4
#define ALLREDUCE_COUNT (1u << 20)
#define ALLTOALL_BYTES	(4u << 20) /* per rank, split among all ranks */
#define TAG_PING	1
#define TAG_PONG	2

static int rank, nranks;

static uint8_t pattern(uint32_t a, uint32_t b, uint32_t size, uint32_t round, size_t i)
{
	uint64_t x = (uint64_t)a * 0x9e3779b1u ^ (uint64_t)b * 0x85ebca77u ^
		     (uint64_t)size * 0xc2b2ae3du ^ (uint64_t)round * 0x27d4eb2fu ^ i * 0x165667b1u;

	return (uint8_t)(x ^ x >> 13 ^ x >> 29);
}

static void fill(uint8_t *p, size_t len, uint32_t a, uint32_t b, uint32_t size, uint32_t round)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(a, b, size, round, i);
}

/* Index of the first byte that differs from the pattern, or len. */
static size_t first_bad(const uint8_t *p, size_t len, uint32_t a, uint32_t b, uint32_t size,
			uint32_t round)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(a, b, size, round, i))
			return i;
	return len;
}

static int fail(const char *step, size_t size, size_t at)
{
	fprintf(stderr, "mpi_check: rank %d: %s, size %zu: bad data at %zu\n", rank, step, size,
		at);
	return 1;
}

/* Rank 0 sends each size to @peer, which checks it and sends its own back. */
static int pingpong(int peer, uint8_t *buf)
{
	int errors = 0;

	for (uint32_t size = 1; size <= PINGPONG_MAX; size *= 4) {
		for (uint32_t round = 0; round < PINGPONG_ROUNDS; round++) {
			size_t at;

			if (rank == 0) {
				fill(buf, size, 0, peer, size, round);
				MPI_Send(buf, size, MPI_BYTE, peer, TAG_PING, MPI_COMM_WORLD);
				memset(buf, 0, size);
				MPI_Recv(buf, size, MPI_BYTE, peer, TAG_PONG, MPI_COMM_WORLD,
					 MPI_STATUS_IGNORE);
				at = first_bad(buf, size, peer, 0, size, round);
				if (at != size)
					errors += fail("pong", size, at);
			} else {
				memset(buf, 0, size);
				MPI_Recv(buf, size, MPI_BYTE, 0, TAG_PING, MPI_COMM_WORLD,
					 MPI_STATUS_IGNORE);
				at = first_bad(buf, size, 0, rank, size, round);
				if (at != size)
					errors += fail("ping", size, at);
				fill(buf, size, rank, 0, size, round);
				MPI_Send(buf, size, MPI_BYTE, 0, TAG_PONG, MPI_COMM_WORLD);
			}
		}
	}
	return errors;
}

/* Element i of rank r is r * ALLREDUCE_COUNT + i: the sum is known exactly. */
static int allreduce(void)
{
	double *in = malloc(ALLREDUCE_COUNT * sizeof(double));
	double *out = malloc(ALLREDUCE_COUNT * sizeof(double));
	double ranks_sum = (double)nranks * (nranks - 1) / 2;
	int errors = 0;

	if (!in || !out) {
		free(in);
		free(out);
		return fail("allreduce: no memory", 0, 0);
	}
	for (size_t i = 0; i < ALLREDUCE_COUNT; i++)
		in[i] = (double)rank * ALLREDUCE_COUNT + i;
	MPI_Allreduce(in, out, ALLREDUCE_COUNT, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
	for (size_t i = 0; i < ALLREDUCE_COUNT; i++) {
		if (out[i] != ranks_sum * ALLREDUCE_COUNT + (double)nranks * i) {
			errors += fail("allreduce", ALLREDUCE_COUNT * sizeof(double), i);
			break;
		}
	}
	free(in);
	free(out);
	return errors;
}

/* Block j of rank r's send buffer goes to rank j, patterned (r, j). */
static int alltoall(void)
{
	size_t block = ALLTOALL_BYTES / nranks;
	uint8_t *snd = malloc(block * nranks), *rcv = malloc(block * nranks);
	int errors = 0;

	if (!snd || !rcv) {
		free(snd);
		free(rcv);
		return fail("alltoall: no memory", 0, 0);
	}
	for (int j = 0; j < nranks; j++)
		fill(snd + j * block, block, rank, j, block, 0);
	memset(rcv, 0, block * nranks);
	MPI_Alltoall(snd, block, MPI_BYTE, rcv, block, MPI_BYTE, MPI_COMM_WORLD);
	for (int j = 0; j < nranks; j++) {
		size_t at = first_bad(rcv + j * block, block, j, rank, block, 0);

		if (at != block)
			errors += fail("alltoall", block, j * block + at);
	}
	free(snd);
	free(rcv);
	return errors;
}

int main(int argc, char **argv)
{
	uint8_t *buf;
	int errors = 0, total = 0;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	buf = malloc(PINGPONG_MAX);
	if (!buf)
		MPI_Abort(MPI_COMM_WORLD, 1);
	for (int peer = 1; peer < nranks; peer++) {
		if (rank == 0 || rank == peer)
			errors += pingpong(peer, buf);
		MPI_Barrier(MPI_COMM_WORLD);
	}
	free(buf);
	errors += allreduce();
	errors += alltoall();
	MPI_Allreduce(&errors, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 0)
		printf("mpi_check: %d ranks: ping-pong 1 B..%u B, allreduce %u doubles, "
		       "alltoall %u B: %s\n",
		       nranks, PINGPONG_MAX, ALLREDUCE_COUNT, ALLTOALL_BYTES,
		       total ? "FAILED" : "all data checked");
	MPI_Finalize();
	return total ? 1 : 0;
}
