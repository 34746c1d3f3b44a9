/* SPDX-License-Identifier: MIT */
/*
 * Encoding and decoding of the InfiniBand transport headers carried in a
 * RoCEv2 UDP datagram (destination port 4791):
 *
 *   BTH | [RDETH] [DETH] [RETH|AtomicETH|AETH] [AtomicAckETH] [ImmDt|IETH]
 *       | payload | pad (0-3 bytes, to a multiple of 4) | ICRC (4 bytes)
 *
 * Headers are kept decoded, in host byte order, in struct rxe_hdrs; the
 * encoders write exactly the IBTA layout, with every reserved bit zero, so
 * decode followed by encode reproduces a conforming sender's bytes.
 *
 * Receive: rxe_pkt_parse() validates the datagram and fills rxe_pkt_info.
 * Send: rxe_pkt_len() sizes the buffer, rxe_hdr_build() writes the headers,
 * the caller copies the payload to buf + hdr_len, rxe_pkt_zero_pad() clears
 * the pad, and rxe_icrc_append() (icrc.h) finishes the packet.
 */
#ifndef RXE_HDR_H
#define RXE_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opcode.h"
#include "rxe_param.h"

#define RXE_BTH_TVER 0

/* ---- PSN arithmetic: 24-bit sequence numbers (IBA 9.7.1) ---- */

#define RXE_PSN_MASK 0xffffffu
#define RXE_QPN_MASK 0xffffffu

static inline uint32_t rxe_psn_add(uint32_t psn, int32_t n)
{
	return (psn + (uint32_t)n) & RXE_PSN_MASK;
}

/*
 * rxe_psn_diff - signed distance from @b to @a, modulo 2^24
 *
 * IBA splits the PSN space in halves around the expected PSN: a PSN up to
 * 2^23 - 1 ahead is "after", one up to 2^23 behind is "before" (a duplicate).
 * Returns a value in [-2^23, 2^23 - 1]; < 0 means @a is before @b.
 */
static inline int32_t rxe_psn_diff(uint32_t a, uint32_t b)
{
	uint32_t d = (a - b) & RXE_PSN_MASK;

	return d & 0x800000u ? (int32_t)d - 0x1000000 : (int32_t)d;
}

static inline bool rxe_psn_before(uint32_t a, uint32_t b)
{
	return rxe_psn_diff(a, b) < 0;
}

static inline bool rxe_psn_after(uint32_t a, uint32_t b)
{
	return rxe_psn_diff(a, b) > 0;
}

/*
 * rxe_pkey_match - whether a packet's P_Key @a admits it where the P_Key
 * table holds @b, by IBA's partition rule (kernel rxe's pkey_match()): the
 * same partition (low 15 bits), not the invalid partition 0, and at least
 * one of the two a full member (bit 15). Two limited members may not talk
 * to each other.
 */
static inline bool rxe_pkey_match(uint16_t a, uint16_t b)
{
	if (!(a & 0x7fff) || (a & 0x7fff) != (b & 0x7fff))
		return false;
	return (a & 0x8000) || (b & 0x8000);
}

/* ---- Decoded headers ---- */

struct rxe_bth {
	uint8_t opcode;
	bool se;      /* solicited event */
	bool mig;     /* MigReq */
	uint8_t pad;  /* PadCnt, 0-3 */
	uint8_t tver; /* transport header version, 0 */
	uint16_t pkey;
	bool fecn; /* RoCEv2 keeps F/B in the top bits of byte 4 (resv8a) */
	bool becn;
	uint32_t qpn; /* destination QP, 24 bits */
	bool ack_req;
	uint32_t psn; /* 24 bits */
};

struct rxe_rdeth {
	uint32_t een; /* EE context, 24 bits */
};

struct rxe_deth {
	uint32_t qkey;
	uint32_t sqp; /* source QP, 24 bits */
};

struct rxe_reth {
	uint64_t va;
	uint32_t rkey;
	uint32_t len; /* DMA length of the whole message */
};

/*
 * AETH syndrome (IBA 9.3.5.1): bit 7 reserved, bits 6:5 the type, bits 4:0
 * its argument: ACK -> credit count (31: credits not tracked, what kernel
 * rxe always sends), RNR NAK -> RNR timer code, NAK -> NAK code.
 */
enum rxe_aeth_type {
	RXE_AETH_ACK = 0,
	RXE_AETH_RNR_NAK = 1,
	RXE_AETH_RSVD = 2,
	RXE_AETH_NAK = 3,
};

enum rxe_aeth_nak_code {
	RXE_NAK_PSN_SEQ_ERROR = 0,
	RXE_NAK_INVALID_REQUEST = 1,
	RXE_NAK_REM_ACCESS_ERROR = 2,
	RXE_NAK_REM_OP_ERROR = 3,
	RXE_NAK_INVALID_RD_REQUEST = 4,
};

#define RXE_AETH_CREDITS_INVALID   0x1f
#define RXE_AETH_SYN_ACK_UNLIMITED 0x1f /* ACK, credit count invalid */

static inline uint8_t rxe_aeth_syn(enum rxe_aeth_type type, uint8_t value)
{
	return (uint8_t)(((unsigned int)type & 3) << 5 | (value & 0x1f));
}

static inline enum rxe_aeth_type rxe_aeth_syn_type(uint8_t syn)
{
	return (enum rxe_aeth_type)((syn >> 5) & 3);
}

static inline uint8_t rxe_aeth_syn_value(uint8_t syn)
{
	return syn & 0x1f;
}

struct rxe_aeth {
	uint8_t syndrome;
	uint32_t msn; /* 24 bits */
};

struct rxe_atmeth {
	uint64_t va;
	uint32_t rkey;
	uint64_t swap_add; /* swap value (CMP_SWAP) or addend (FETCH_ADD) */
	uint64_t comp;	   /* compare value (CMP_SWAP) */
};

/*
 * All headers of one packet. Only those the opcode's mask names are read by
 * rxe_hdr_build() or written by rxe_pkt_parse(); the others are left alone.
 */
struct rxe_hdrs {
	struct rxe_bth bth;
	struct rxe_rdeth rdeth;
	struct rxe_deth deth;
	struct rxe_reth reth;
	struct rxe_atmeth atmeth;
	struct rxe_aeth aeth;
	uint64_t atmack_orig; /* AtomicAckETH: the original remote data */
	uint32_t imm;	      /* ImmDt, as a host-order number: htobe32() gives ibv_wc.imm_data */
	uint32_t ieth_rkey;   /* IETH: R_Key to invalidate */
};

/* ---- Single header encoders and decoders (p points at the header) ---- */

void rxe_bth_encode(void *p, const struct rxe_bth *bth);
void rxe_bth_decode(const void *p, struct rxe_bth *bth);
void rxe_rdeth_encode(void *p, const struct rxe_rdeth *rdeth);
void rxe_rdeth_decode(const void *p, struct rxe_rdeth *rdeth);
void rxe_deth_encode(void *p, const struct rxe_deth *deth);
void rxe_deth_decode(const void *p, struct rxe_deth *deth);
void rxe_reth_encode(void *p, const struct rxe_reth *reth);
void rxe_reth_decode(const void *p, struct rxe_reth *reth);
void rxe_aeth_encode(void *p, const struct rxe_aeth *aeth);
void rxe_aeth_decode(const void *p, struct rxe_aeth *aeth);
void rxe_atmeth_encode(void *p, const struct rxe_atmeth *atmeth);
void rxe_atmeth_decode(const void *p, struct rxe_atmeth *atmeth);

/* In-place BTH edits for retransmission; @bth points at a built BTH. */
void rxe_bth_set_psn(void *bth, uint32_t psn, bool ack_req);
uint32_t rxe_bth_get_psn(const void *bth);

/* ---- Whole packets ---- */

/* Pad bytes that follow @paylen payload bytes. */
static inline unsigned int rxe_pad_len(size_t paylen)
{
	return (unsigned int)(-paylen & 3);
}

/* Headers (BTH + extension headers) of @opcode, or -EOPNOTSUPP. */
int rxe_hdr_len(uint8_t opcode);

/* Bytes of the whole UDP payload: headers + @paylen + pad + ICRC, or -errno. */
int rxe_pkt_len(uint8_t opcode, size_t paylen);

/**
 * rxe_hdr_build - write the headers of one packet
 * @buf: start of the UDP payload (where the BTH goes)
 * @size: bytes available at @buf; only the headers are written
 * @h: header values; h->bth.opcode selects which extension headers are used
 * @paylen: payload bytes that will follow; sets BTH PadCnt (h->bth.pad is
 *	ignored) and must be 0 for opcodes without payload
 *
 * Returns the header length (payload goes at @buf plus it), or -EOPNOTSUPP
 * (opcode not in the table), -EINVAL (payload on an opcode without one, or
 * PadCnt on FIRST/MIDDLE where IBA forbids it) or -ENOSPC (@size too small).
 */
int rxe_hdr_build(void *buf, size_t size, const struct rxe_hdrs *h, size_t paylen);

/* Zeroes the pad after the payload of a packet built with rxe_hdr_build(). */
void rxe_pkt_zero_pad(void *buf, unsigned int hdr_len, size_t paylen);

/* What the receive path knows about a datagram once it has been parsed. */
struct rxe_pkt_info {
	const uint8_t *hdr;	/* the BTH (start of the UDP payload) */
	const uint8_t *payload; /* hdr + hdr_len */
	const struct rxe_opcode_info *info;
	uint32_t mask; /* info->mask */
	uint8_t opcode;
	uint8_t hdr_len;   /* BTH + extension headers */
	uint8_t pad;	   /* BTH PadCnt */
	uint32_t paylen;   /* payload bytes, pad and ICRC excluded */
	uint32_t len;	   /* the whole datagram, ICRC included */
	uint32_t icrc;	   /* the ICRC as carried, see icrc.h */
	struct rxe_hdrs h; /* decoded headers (those the mask names) */
};

/**
 * rxe_pkt_parse - validate and decode one RoCEv2 UDP payload
 * @buf: the UDP payload, from the BTH through the ICRC
 * @len: its length
 * @out: filled on success; pointers refer into @buf
 *
 * Everything a receiver has to check before it may trust a header field:
 *
 *   -EMSGSIZE		shorter than BTH + ICRC, or than the opcode's headers
 *			+ ICRC (truncated anywhere up to the payload)
 *   -EPROTONOSUPPORT	BTH TVer is not 0
 *   -EOPNOTSUPP	opcode reserved or not supported (XRC, CNP, vendor)
 *   -EBADMSG		length not a multiple of 4, payload shorter than the
 *			pad, PadCnt on an opcode that carries no payload or on
 *			a FIRST/MIDDLE packet, bytes after the headers of an
 *			opcode that carries no payload
 *   -EINVAL		NULL argument
 *
 * Not checked here, since they need QP state: P_Key, destination QP, PSN,
 * the transport of the opcode against the QP type, payload vs path MTU, and
 * the ICRC itself (icrc.h: it also needs the IP/UDP headers).
 */
int rxe_pkt_parse(const void *buf, size_t len, struct rxe_pkt_info *out);

/*
 * UDP source port kernel rxe uses for an RC/UC connection: ib_core turns
 * the QPN pair into a 20-bit flow label (lqpn * rqpn, folded) and that into
 * a port in 0xC000-0xFFFF. Symmetric, so both directions use the same port.
 */
uint16_t rxe_flow_label_sport(uint32_t fl);
uint16_t rxe_roce_udp_sport(uint32_t lqpn, uint32_t rqpn);

#endif
