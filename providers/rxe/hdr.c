// SPDX-License-Identifier: MIT
/*
 * Transport header encode/decode and the receive-side validity checks. All
 * multi-byte fields are big-endian on the wire; packets sit at arbitrary
 * offsets in receive buffers, so every access goes through memcpy.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "hdr.h"

/* The most payload a packet length is computed for: the int result cannot wrap. */
#define RXE_HDR_MAX_PAYLEN (1u << 30)

/* BTH byte 1 */
#define BTH_SE	      0x80
#define BTH_MIG	      0x40
#define BTH_PAD_SHIFT 4
#define BTH_PAD_MASK  0x30
#define BTH_TVER_MASK 0x0f
/* BTH byte 4 */
#define BTH_FECN 0x80
#define BTH_BECN 0x40
/* BTH byte 8 */
#define BTH_ACK_REQ 0x80

static inline uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

/* A reserved byte followed by a 24-bit number, as in DestQP, PSN, EEC, SrcQP. */
static inline uint32_t get_be24(const uint8_t *p)
{
	return get_be32(p) & 0xffffff;
}

void rxe_bth_encode(void *p, const struct rxe_bth *bth)
{
	uint8_t *b = p;

	b[0] = bth->opcode;
	b[1] = (bth->se ? BTH_SE : 0) | (bth->mig ? BTH_MIG : 0) |
	       ((bth->pad << BTH_PAD_SHIFT) & BTH_PAD_MASK) | (bth->tver & BTH_TVER_MASK);
	b[2] = bth->pkey >> 8;
	b[3] = bth->pkey & 0xff;
	put_be32(b + 4, bth->qpn & RXE_QPN_MASK);
	b[4] = (bth->fecn ? BTH_FECN : 0) | (bth->becn ? BTH_BECN : 0);
	put_be32(b + 8, bth->psn & RXE_PSN_MASK);
	b[8] = bth->ack_req ? BTH_ACK_REQ : 0;
}

void rxe_bth_decode(const void *p, struct rxe_bth *bth)
{
	const uint8_t *b = p;

	bth->opcode = b[0];
	bth->se = b[1] & BTH_SE;
	bth->mig = b[1] & BTH_MIG;
	bth->pad = (b[1] & BTH_PAD_MASK) >> BTH_PAD_SHIFT;
	bth->tver = b[1] & BTH_TVER_MASK;
	bth->pkey = (uint16_t)(b[2] << 8 | b[3]);
	bth->fecn = b[4] & BTH_FECN;
	bth->becn = b[4] & BTH_BECN;
	bth->qpn = get_be24(b + 4);
	bth->ack_req = b[8] & BTH_ACK_REQ;
	bth->psn = get_be24(b + 8);
}

void rxe_bth_set_psn(void *bth, uint32_t psn, bool ack_req)
{
	uint8_t *b = bth;

	put_be32(b + 8, (psn & RXE_PSN_MASK) | (ack_req ? (uint32_t)BTH_ACK_REQ << 24 : 0));
}

uint32_t rxe_bth_get_psn(const void *bth)
{
	return get_be24((const uint8_t *)bth + 8);
}

void rxe_rdeth_encode(void *p, const struct rxe_rdeth *rdeth)
{
	put_be32(p, rdeth->een & 0xffffff);
}

void rxe_rdeth_decode(const void *p, struct rxe_rdeth *rdeth)
{
	rdeth->een = get_be24(p);
}

void rxe_deth_encode(void *p, const struct rxe_deth *deth)
{
	put_be32(p, deth->qkey);
	put_be32((uint8_t *)p + 4, deth->sqp & RXE_QPN_MASK);
}

void rxe_deth_decode(const void *p, struct rxe_deth *deth)
{
	deth->qkey = get_be32(p);
	deth->sqp = get_be24((const uint8_t *)p + 4);
}

void rxe_reth_encode(void *p, const struct rxe_reth *reth)
{
	uint8_t *b = p;

	put_be64(b, reth->va);
	put_be32(b + 8, reth->rkey);
	put_be32(b + 12, reth->len);
}

void rxe_reth_decode(const void *p, struct rxe_reth *reth)
{
	const uint8_t *b = p;

	reth->va = get_be64(b);
	reth->rkey = get_be32(b + 8);
	reth->len = get_be32(b + 12);
}

void rxe_aeth_encode(void *p, const struct rxe_aeth *aeth)
{
	put_be32(p, (uint32_t)aeth->syndrome << 24 | (aeth->msn & 0xffffff));
}

void rxe_aeth_decode(const void *p, struct rxe_aeth *aeth)
{
	uint32_t v = get_be32(p);

	aeth->syndrome = v >> 24;
	aeth->msn = v & 0xffffff;
}

void rxe_atmeth_encode(void *p, const struct rxe_atmeth *atmeth)
{
	uint8_t *b = p;

	put_be64(b, atmeth->va);
	put_be32(b + 8, atmeth->rkey);
	put_be64(b + 12, atmeth->swap_add);
	put_be64(b + 20, atmeth->comp);
}

void rxe_atmeth_decode(const void *p, struct rxe_atmeth *atmeth)
{
	const uint8_t *b = p;

	atmeth->va = get_be64(b);
	atmeth->rkey = get_be32(b + 8);
	atmeth->swap_add = get_be64(b + 12);
	atmeth->comp = get_be64(b + 20);
}

int rxe_hdr_len(uint8_t opcode)
{
	const struct rxe_opcode_info *info = rxe_opcode_get(opcode);

	return info ? info->length : -EOPNOTSUPP;
}

int rxe_pkt_len(uint8_t opcode, size_t paylen)
{
	const struct rxe_opcode_info *info = rxe_opcode_get(opcode);

	if (!info)
		return -EOPNOTSUPP;
	if (paylen && !(info->mask & RXE_PAYLOAD_MASK))
		return -EINVAL;
	/* Keeps every length representable in the int we return. */
	if (paylen > RXE_HDR_MAX_PAYLEN)
		return -EMSGSIZE;
	return (int)(info->length + paylen + rxe_pad_len(paylen) + RXE_ICRC_BYTES);
}

/* Writes the extension headers named by @info at their offsets from @b. */
static void ext_hdrs_encode(uint8_t *b, const struct rxe_opcode_info *info,
			    const struct rxe_hdrs *h)
{
	uint32_t m = info->mask;

	if (m & RXE_RDETH_MASK)
		rxe_rdeth_encode(b + info->offset[RXE_RDETH], &h->rdeth);
	if (m & RXE_DETH_MASK)
		rxe_deth_encode(b + info->offset[RXE_DETH], &h->deth);
	if (m & RXE_RETH_MASK)
		rxe_reth_encode(b + info->offset[RXE_RETH], &h->reth);
	if (m & RXE_ATMETH_MASK)
		rxe_atmeth_encode(b + info->offset[RXE_ATMETH], &h->atmeth);
	if (m & RXE_AETH_MASK)
		rxe_aeth_encode(b + info->offset[RXE_AETH], &h->aeth);
	if (m & RXE_ATMACK_MASK)
		put_be64(b + info->offset[RXE_ATMACK], h->atmack_orig);
	if (m & RXE_IMMDT_MASK)
		put_be32(b + info->offset[RXE_IMMDT], h->imm);
	if (m & RXE_IETH_MASK)
		put_be32(b + info->offset[RXE_IETH], h->ieth_rkey);
}

static void ext_hdrs_decode(const uint8_t *b, const struct rxe_opcode_info *info,
			    struct rxe_hdrs *h)
{
	uint32_t m = info->mask;

	if (m & RXE_RDETH_MASK)
		rxe_rdeth_decode(b + info->offset[RXE_RDETH], &h->rdeth);
	if (m & RXE_DETH_MASK)
		rxe_deth_decode(b + info->offset[RXE_DETH], &h->deth);
	if (m & RXE_RETH_MASK)
		rxe_reth_decode(b + info->offset[RXE_RETH], &h->reth);
	if (m & RXE_ATMETH_MASK)
		rxe_atmeth_decode(b + info->offset[RXE_ATMETH], &h->atmeth);
	if (m & RXE_AETH_MASK)
		rxe_aeth_decode(b + info->offset[RXE_AETH], &h->aeth);
	if (m & RXE_ATMACK_MASK)
		h->atmack_orig = get_be64(b + info->offset[RXE_ATMACK]);
	if (m & RXE_IMMDT_MASK)
		h->imm = get_be32(b + info->offset[RXE_IMMDT]);
	if (m & RXE_IETH_MASK)
		h->ieth_rkey = get_be32(b + info->offset[RXE_IETH]);
}

int rxe_hdr_build(void *buf, size_t size, const struct rxe_hdrs *h, size_t paylen)
{
	const struct rxe_opcode_info *info;
	struct rxe_bth bth;

	if (!buf || !h)
		return -EINVAL;
	info = rxe_opcode_get(h->bth.opcode);
	if (!info)
		return -EOPNOTSUPP;
	if (paylen && !(info->mask & RXE_PAYLOAD_MASK))
		return -EINVAL;
	if (rxe_pad_len(paylen) && !(info->mask & RXE_END_MASK))
		return -EINVAL;
	if (size < info->length)
		return -ENOSPC;

	bth = h->bth;
	bth.pad = rxe_pad_len(paylen);
	rxe_bth_encode(buf, &bth);
	ext_hdrs_encode(buf, info, h);
	return info->length;
}

void rxe_pkt_zero_pad(void *buf, unsigned int hdr_len, size_t paylen)
{
	memset((uint8_t *)buf + hdr_len + paylen, 0, rxe_pad_len(paylen));
}

int rxe_pkt_parse(const void *buf, size_t len, struct rxe_pkt_info *out)
{
	const uint8_t *b = buf;
	const struct rxe_opcode_info *info;
	size_t body;
	uint8_t pad;

	if (!buf || !out)
		return -EINVAL;
	if (len < RXE_BTH_BYTES + RXE_ICRC_BYTES)
		return -EMSGSIZE;
	/* A new TVer may move every field after it: look no further. */
	if ((b[1] & BTH_TVER_MASK) != RXE_BTH_TVER)
		return -EPROTONOSUPPORT;
	info = rxe_opcode_get(b[0]);
	if (!info)
		return -EOPNOTSUPP;
	if (len < (size_t)info->length + RXE_ICRC_BYTES)
		return -EMSGSIZE;
	/* Headers are whole words and the pad completes the last one (IBA 9.2). */
	if (len & 3)
		return -EBADMSG;
	if (len > UINT32_MAX)
		return -EMSGSIZE;

	pad = (b[1] & BTH_PAD_MASK) >> BTH_PAD_SHIFT;
	body = len - info->length - RXE_ICRC_BYTES; /* payload + pad */
	if (!(info->mask & RXE_PAYLOAD_MASK)) {
		if (body || pad)
			return -EBADMSG;
	} else {
		if (body < pad)
			return -EBADMSG;
		/* Only the packet that ends a message may be short. */
		if (pad && !(info->mask & RXE_END_MASK))
			return -EBADMSG;
	}

	out->hdr = b;
	out->payload = b + info->length;
	out->info = info;
	out->mask = info->mask;
	out->opcode = b[0];
	out->hdr_len = info->length;
	out->pad = pad;
	out->paylen = (uint32_t)(body - pad);
	out->len = (uint32_t)len;
	memcpy(&out->icrc, b + len - RXE_ICRC_BYTES, sizeof(out->icrc));
	out->icrc = le32toh(out->icrc);
	rxe_bth_decode(b, &out->h.bth);
	ext_hdrs_decode(b, info, &out->h);
	return 0;
}

/*
 * rdma_flow_label_to_udp_sport(): a 20-bit flow label folded into the 14
 * bits of the RoCEv2 source port range, above RXE_SPORT_BASE.
 */
uint16_t rxe_flow_label_sport(uint32_t fl)
{
	fl &= RXE_FLOW_LABEL_MASK;
	return (uint16_t)(RXE_SPORT_BASE | ((fl & (RXE_SPORT_SLOTS - 1)) ^ (fl >> RXE_SPORT_BITS)));
}

uint16_t rxe_roce_udp_sport(uint32_t lqpn, uint32_t rqpn)
{
	uint64_t v = (uint64_t)lqpn * rqpn;

	/* rdma_calc_flow_label(): fold the product into 20 bits */
	v ^= v >> 20;
	v ^= v >> 40;
	return rxe_flow_label_sport((uint32_t)v);
}
