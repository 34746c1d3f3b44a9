/* SPDX-License-Identifier: MIT */
/*
 * A minimal classic-pcap reader for the reference captures: Ethernet II,
 * IPv4 or IPv6, UDP to port 4791. Anything else in a file is skipped.
 */
#ifndef SODP_TEST_PCAP_H
#define SODP_TEST_PCAP_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct pcap_file {
	uint8_t *data;
	size_t size;
	size_t off;	    /* next record */
	bool swapped;	    /* file written on a host of the other byte order */
	unsigned int frame; /* 1-based number of the last frame returned */
};

/* One RoCEv2 packet, pointers into the file's data. */
struct pcap_roce_pkt {
	unsigned int frame;  /* frame number in the file, as in listings */
	const uint8_t *l3;   /* IP header */
	size_t l3_len;	     /* IP total length (trailers dropped) */
	unsigned int family; /* 4 or 6 */
	const uint8_t *udp;  /* UDP header */
	const uint8_t *bth;  /* UDP payload */
	size_t bth_len;	     /* UDP payload length, ICRC included */
};

/* 0, or -errno (-EINVAL: not classic pcap with Ethernet link type). */
int pcap_open(struct pcap_file *f, const char *path);
void pcap_close(struct pcap_file *f);

/* 1 and the next RoCEv2 packet, 0 at the end, -EBADMSG on a truncated record. */
int pcap_next_roce(struct pcap_file *f, struct pcap_roce_pkt *p);

#endif
