// SPDX-License-Identifier: MIT
/*
 * ICRC throughput for typical RoCEv2 packet sizes, with the CPU's best CRC
 * path and with the table-only path, so the carry-less multiply code has a
 * number to justify it.
 *
 * Usage: bench_icrc [seconds per case, default 0.5]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc32.h"
#include "hdr.h"
#include "icrc.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Keeps the compiler from discarding the work. */
static volatile uint32_t sink;

static double bench_icrc(const struct rxe_icrc_hdr *h, const uint8_t *pkt, size_t len, double secs)
{
	double t0 = now(), t;
	uint64_t iters = 0;
	uint32_t acc = 0;

	do {
		for (int i = 0; i < 1024; i++)
			acc ^= rxe_icrc_compute(h, pkt, len);
		iters += 1024;
		t = now() - t0;
	} while (t < secs);
	sink = acc;
	return (double)iters * (len + RXE_ICRC_BYTES) / t / 1e9;
}

/*
 * The same bytes as rxe_icrc_compute() (a 48-byte masked LRH/IPv4/UDP/BTH
 * prefix, then the rest of the packet) through the slice-by-8 path only.
 */
static double bench_table(const uint8_t *pkt, size_t len, double secs)
{
	static const uint8_t prefix[48];
	double t0 = now(), t;
	uint64_t iters = 0;
	uint32_t acc = 0;

	do {
		for (int i = 0; i < 1024; i++) {
			uint32_t crc = sodp_crc32_table(0, prefix, sizeof(prefix));

			acc ^= sodp_crc32_table(crc, pkt + RXE_BTH_BYTES, len - RXE_BTH_BYTES);
		}
		iters += 1024;
		t = now() - t0;
	} while (t < secs);
	sink = acc;
	return (double)iters * (len + RXE_ICRC_BYTES) / t / 1e9;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {64, 1024, 4096};
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	struct rxe_icrc_hdr h = {
		.family = AF_INET,
		.sport = 49441,
		.dport = RXE_ROCE_V2_PORT,
		.frag_off = RXE_IP_DF,
	};
	static uint8_t pkt[4096 + 64];

	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 131);
	pkt[0] = IB_OPCODE_RC_SEND_ONLY;
	pkt[1] = 0;

	printf("ICRC throughput (UDP payload bytes/s; packet = BTH..ICRC), %s CRC path\n",
	       sodp_crc32_accelerated() ? "PCLMULQDQ" : "slice-by-8");
	printf("%8s %12s %14s\n", "packet", "ICRC GB/s", "table GB/s");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i] - RXE_ICRC_BYTES;

		printf("%7zuB %12.2f %14.2f\n", sizes[i], bench_icrc(&h, pkt, len, secs),
		       bench_table(pkt, len, secs));
	}
	return 0;
}
