// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcap.h"

#define PCAP_MAGIC_US	  0xa1b2c3d4u
#define PCAP_MAGIC_NS	  0xa1b23c4du
#define PCAP_HDR_BYTES	  24
#define PCAP_REC_BYTES	  16
#define LINKTYPE_ETHERNET 1
#define ETH_HDR_BYTES	  14
#define ETHERTYPE_IPV4	  0x0800
#define ETHERTYPE_IPV6	  0x86dd
#define ROCE_V2_PORT	  4791

static uint32_t rd32(const struct pcap_file *f, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return f->swapped ? __builtin_bswap32(v) : v;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int pcap_open(struct pcap_file *f, const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint32_t magic;
	long size;

	memset(f, 0, sizeof(*f));
	if (!fp)
		return -errno;
	if (fseek(fp, 0, SEEK_END) || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET))
		goto err_io;
	f->data = malloc(size ? (size_t)size : 1);
	if (!f->data)
		goto err_io;
	f->size = (size_t)size;
	if (fread(f->data, 1, f->size, fp) != f->size)
		goto err_free;
	fclose(fp);

	if (f->size < PCAP_HDR_BYTES)
		goto err_format;
	memcpy(&magic, f->data, 4);
	if (magic == __builtin_bswap32(PCAP_MAGIC_US) || magic == __builtin_bswap32(PCAP_MAGIC_NS))
		f->swapped = true;
	else if (magic != PCAP_MAGIC_US && magic != PCAP_MAGIC_NS)
		goto err_format;
	if (rd32(f, f->data + 20) != LINKTYPE_ETHERNET)
		goto err_format;
	f->off = PCAP_HDR_BYTES;
	return 0;

err_format:
	pcap_close(f);
	return -EINVAL;
err_free:
	free(f->data);
	f->data = NULL;
err_io:
	fclose(fp);
	return -EIO;
}

void pcap_close(struct pcap_file *f)
{
	free(f->data);
	memset(f, 0, sizeof(*f));
}

/* Fills @p if @fr (an Ethernet frame of @len bytes) is RoCEv2; returns whether it is. */
static bool frame_to_roce(const uint8_t *fr, size_t len, struct pcap_roce_pkt *p)
{
	const uint8_t *ip = fr + ETH_HDR_BYTES;
	size_t avail, ip_len, hl;
	unsigned int proto;

	if (len < ETH_HDR_BYTES)
		return false;
	avail = len - ETH_HDR_BYTES;
	switch (be16(fr + 12)) {
	case ETHERTYPE_IPV4:
		if (avail < 20 || ip[0] >> 4 != 4)
			return false;
		hl = (ip[0] & 0x0f) * 4u;
		ip_len = be16(ip + 2);
		proto = ip[9];
		p->family = 4;
		break;
	case ETHERTYPE_IPV6:
		if (avail < 40 || ip[0] >> 4 != 6)
			return false;
		hl = 40;
		ip_len = 40 + be16(ip + 4);
		proto = ip[6];
		p->family = 6;
		break;
	default:
		return false;
	}
	if (proto != 17 || ip_len > avail || ip_len < hl + 8)
		return false;
	if (be16(ip + hl + 2) != ROCE_V2_PORT)
		return false;
	p->l3 = ip;
	p->l3_len = ip_len;
	p->udp = ip + hl;
	p->bth = p->udp + 8;
	p->bth_len = ip_len - hl - 8;
	return true;
}

int pcap_next_roce(struct pcap_file *f, struct pcap_roce_pkt *p)
{
	while (f->off + PCAP_REC_BYTES <= f->size) {
		uint32_t incl = rd32(f, f->data + f->off + 8);
		const uint8_t *fr = f->data + f->off + PCAP_REC_BYTES;

		if (incl > f->size - f->off - PCAP_REC_BYTES)
			return -EBADMSG;
		f->off += PCAP_REC_BYTES + incl;
		f->frame++;
		if (frame_to_roce(fr, incl, p)) {
			p->frame = f->frame;
			return 1;
		}
	}
	return 0;
}
