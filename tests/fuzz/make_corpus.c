// SPDX-License-Identifier: MIT
/*
 * Writes fuzz_rx's seed corpus from the reference captures of kernel rxe
 * (the .pcap files of tests/rxe/data): every RoCEv2 packet becomes an input, its
 * selector byte aimed at the victim of its transport (responses and ACKs at
 * the requester's QP) with the PSN and the R_Key made right, the ICRC left
 * for the harness to compute. At most SEEDS_PER_KIND inputs per opcode and
 * size, so the corpus stays small.
 *
 * Usage: make_corpus OUT_DIR CAPTURE.pcap...
 */
#include <stdio.h>
#include <string.h>

#include "pcap.h"

#define SEEDS_PER_KIND 4

/* The selector of fuzz_rx for a packet of @opcode (see fuzz_rx.c). */
static unsigned int selector(uint8_t opcode)
{
	unsigned int victim;

	if (opcode >= 0x0d && opcode <= 0x12)
		victim = 5; /* a response or ACK: the RC requester */
	else if (opcode >> 5 == 1)
		victim = 1; /* UC */
	else if (opcode >> 5 == 3)
		victim = 2; /* UD */
	else
		victim = 0; /* RC */
	return victim | 0x10 | 0x20;
}

int main(int argc, char **argv)
{
	static unsigned int seen[256][8];
	unsigned int written = 0;
	int i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s OUT_DIR CAPTURE.pcap...\n", argv[0]);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		struct pcap_file f;
		struct pcap_roce_pkt p;

		if (pcap_open(&f, argv[i])) {
			fprintf(stderr, "%s: not a capture\n", argv[i]);
			return 1;
		}
		while (pcap_next_roce(&f, &p) == 1) {
			unsigned int size_class;
			char path[4096];
			uint8_t sel;
			FILE *out;

			if (p.bth_len < 12 + 4)
				continue;
			size_class = p.bth_len < 64 ? 0 : p.bth_len < 512 ? 1 : 2;
			if (seen[p.bth[0]][size_class]++ >= SEEDS_PER_KIND)
				continue;
			snprintf(path, sizeof(path), "%s/seed-%02x-%u-%u", argv[1], p.bth[0],
				 size_class, seen[p.bth[0]][size_class]);
			out = fopen(path, "wb");
			if (!out) {
				perror(path);
				return 1;
			}
			sel = (uint8_t)selector(p.bth[0]);
			fwrite(&sel, 1, 1, out);
			fwrite(p.bth, 1, p.bth_len - 4, out);
			fclose(out);
			written++;
		}
		pcap_close(&f);
	}
	printf("%u seeds written to %s\n", written, argv[1]);
	return 0;
}
