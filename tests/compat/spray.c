// SPDX-License-Identifier: MIT
/*
 * spray: a hostile RoCEv2 peer. Sends datagrams to UDP port 4791 of a
 * device while real clients use it: random bytes, truncated headers, bad
 * BTH versions and reserved opcodes, P_Key 0, requests and unsolicited
 * ACKs/NAKs to random QPNs with a right or a wrong ICRC, from a stranger's
 * address and from the real peer's address (a spoofed source port).
 *
 * Usage: spray TARGET_IPV4 PEER_IPV4 STRANGER_IPV4 COUNT MILLISECONDS
 * sends COUNT datagrams spread over MILLISECONDS and prints how many of
 * each kind it sent. Exit status 0, or 2 on bad arguments or sockets.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "icrc.h"

enum kind {
	K_GARBAGE,   /* random bytes of random length */
	K_TRUNCATED, /* a request cut anywhere in its headers */
	K_BAD_TVER,  /* BTH transport version 1 */
	K_RESERVED,  /* a reserved opcode */
	K_PKEY0,     /* P_Key 0x0000 */
	K_REQUEST,   /* SEND/WRITE/READ/atomic to a random QPN, right ICRC */
	K_BAD_ICRC,  /* the same with a wrong ICRC */
	K_ACK,	     /* an unsolicited ACK or NAK to a random QPN */
	NR_KINDS,
};

static const char *const kind_name[NR_KINDS] = {
	"garbage", "truncated", "bad TVer", "reserved opcode",
	"P_Key 0", "request",	"bad ICRC", "ACK/NAK",
};

/* Request opcodes of RC, UC and UD with the headers they need. */
static const uint8_t requests[] = {0x04, 0x0a, 0x0c, 0x13, 0x14, 0x24, 0x2a, 0x64};

static uint32_t rnd(void)
{
	return (uint32_t)random();
}

/* Builds a request of @opcode to @qpn; returns its length without ICRC. */
static size_t build(uint8_t *p, uint8_t opcode, uint32_t qpn, uint16_t pkey)
{
	size_t len = 12, pay = rnd() % 256;
	uint32_t v;

	memset(p, 0, 64);
	p[0] = opcode;
	p[1] = 0x40; /* MigReq; pad 0, TVer 0 */
	p[2] = (uint8_t)(pkey >> 8);
	p[3] = (uint8_t)pkey;
	p[5] = (uint8_t)(qpn >> 16);
	p[6] = (uint8_t)(qpn >> 8);
	p[7] = (uint8_t)qpn;
	v = htobe32(rnd() & 0xffffff);
	memcpy(p + 8, &v, 4);
	if ((opcode & 0xe0) == 0x60) { /* UD: DETH */
		v = htobe32(0x11111111);
		memcpy(p + 12, &v, 4);
		len += 8;
	}
	if ((opcode & 0x1f) == 0x0a || (opcode & 0x1f) == 0x0c) { /* RETH */
		uint64_t va = htobe64(((uint64_t)rnd() << 32) | rnd());

		memcpy(p + len, &va, 8);
		v = htobe32(rnd());
		memcpy(p + len + 8, &v, 4);
		v = htobe32(rnd() % 8192);
		memcpy(p + len + 12, &v, 4);
		len += 16;
		if ((opcode & 0x1f) == 0x0c)
			pay = 0;
	}
	if ((opcode & 0x1f) == 0x13 || (opcode & 0x1f) == 0x14) { /* AtomicETH */
		uint64_t va = htobe64(((uint64_t)rnd() << 32) | (rnd() & ~7u));

		memcpy(p + len, &va, 8);
		v = htobe32(rnd());
		memcpy(p + len + 8, &v, 4);
		len += 28;
		pay = 0;
	}
	pay &= ~3u;
	memset(p + len, 0xab, pay);
	return len + pay;
}

int main(int argc, char **argv)
{
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(4791)};
	struct sockaddr_in from[2] = {{.sin_family = AF_INET}, {.sin_family = AF_INET}};
	unsigned long sent[NR_KINDS] = {0}, count, i;
	long ms;
	int fd[2], k;

	if (argc != 6 || inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 ||
	    inet_pton(AF_INET, argv[2], &from[0].sin_addr) != 1 ||
	    inet_pton(AF_INET, argv[3], &from[1].sin_addr) != 1) {
		fprintf(stderr, "usage: %s TARGET PEER STRANGER COUNT MILLISECONDS\n", argv[0]);
		return 2;
	}
	count = strtoul(argv[4], NULL, 0);
	ms = strtol(argv[5], NULL, 0);
	srandom((unsigned int)getpid());
	for (k = 0; k < 2; k++) {
		socklen_t sl = sizeof(from[k]);

		fd[k] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd[k] < 0 || bind(fd[k], (struct sockaddr *)&from[k], sizeof(from[k])) ||
		    getsockname(fd[k], (struct sockaddr *)&from[k], &sl)) {
			perror("spray: socket");
			return 2;
		}
	}
	for (i = 0; i < count; i++) {
		uint8_t p[2048];
		enum kind kind = (enum kind)(rnd() % NR_KINDS);
		int s = (int)(rnd() % 2);
		uint32_t qpn = rnd() & 0xffffff;
		struct rxe_icrc_hdr h;
		size_t len;

		switch (kind) {
		case K_GARBAGE:
			len = rnd() % 1500;
			for (size_t j = 0; j < len; j++)
				p[j] = (uint8_t)rnd();
			break;
		case K_TRUNCATED:
			len = build(p, requests[rnd() % sizeof(requests)], qpn, 0xffff);
			len = rnd() % (len < 40 ? len : 40);
			break;
		case K_ACK:
			len = build(p, 0x11, qpn, 0xffff);
			p[12] = (uint8_t)(rnd() % 2 ? 0x60 + rnd() % 5 : 0x00); /* NAK or ACK */
			len = 16;
			break;
		default:
			len = build(p, requests[rnd() % sizeof(requests)], qpn,
				    kind == K_PKEY0 ? 0x0000 : 0xffff);
			if (kind == K_BAD_TVER)
				p[1] |= 0x01;
			if (kind == K_RESERVED)
				p[0] = (uint8_t)(0x1e + rnd() % 2);
			break;
		}
		if (kind != K_GARBAGE && kind != K_TRUNCATED) {
			rxe_icrc_hdr_from_sockaddr(&h, (struct sockaddr *)&from[s],
						   (struct sockaddr *)&dst);
			rxe_icrc_append(&h, p, len);
			if (kind == K_BAD_ICRC)
				p[len] ^= 0xff;
			len += 4;
		}
		sendto(fd[s], p, len, 0, (struct sockaddr *)&dst, sizeof(dst));
		sent[kind]++;
		if (ms > 0 && count && i % 64 == 63) {
			struct timespec ts = {0, (long)(ms * 1000000L / (long)(count / 64 + 1))};

			nanosleep(&ts, NULL);
		}
	}
	printf("spray: %lu datagrams to %s:", count, argv[1]);
	for (k = 0; k < NR_KINDS; k++)
		printf(" %s %lu%s", kind_name[k], sent[k], k + 1 < NR_KINDS ? "," : "\n");
	return 0;
}
