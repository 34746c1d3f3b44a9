// SPDX-License-Identifier: MIT
/*
 * Wire format of the soft NIC: CRC-32, PSN arithmetic, the opcode table,
 * header encode/decode, the receive-side parser and the ICRC, checked
 * against packets captured from the kernel's rdma_rxe (tests/rxe/data).
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sodp_test.h"
#include "pcap.h"
#include "crc32.h"
#include "opcode.h"
#include "hdr.h"
#include "icrc.h"

#ifndef SODP_WIRE_DATA_DIR
#error "SODP_WIRE_DATA_DIR must name the directory of the reference captures"
#endif

static const char *const captures[] = {
	"rc_pingpong",
	"ud_pingpong",
	"write_bw",
	"read_bw",
	"atomic_bw",
	"atomic_cs_bw",
	"send_bw",
	"write_small",
	"read_small",
	"send_small",
	"uc_write",
	"uc_send",
	"rc_pingpong_4k-mtu4096",
	"write_bw-mtu4096",
	"read_bw-mtu4096",
	"send_bw-mtu4096",
};

/*
 * RoCEv2 packets in the 16 captures: the sum of the per-file counts in
 * captures/kernel-rxe-6.1/README.md and of the NAME.txt listings. (The
 * README's summary line says 362; its own table adds up to 319.)
 */
#define CAPTURE_PACKETS 319

/* Deterministic generator so that failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len--)
		*p++ = (uint8_t)rng();
}

/* ------------------------------------------------------------------ crc32 */

/* One bit at a time, straight from the definition. */
static uint32_t crc32_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

static void test_crc32_check_value_of_123456789(void)
{
	CU_ASSERT_EQUAL(sodp_crc32(0, "123456789", 9), 0xcbf43926u);
	CU_ASSERT_EQUAL(sodp_crc32_table(0, "123456789", 9), 0xcbf43926u);
}

static void test_crc32_of_nothing_is_zero(void)
{
	CU_ASSERT_EQUAL(sodp_crc32(0, "", 0), 0);
	CU_ASSERT_EQUAL(sodp_crc32(0x12345678, NULL, 0), 0x12345678);
}

static void test_crc32_known_long_vectors(void)
{
	static uint8_t zeros[4096], ones[4096];

	memset(ones, 0xff, sizeof(ones));
	/* zlib.crc32() of 32 zero bytes, 4096 zero bytes, 4096 0xff bytes. */
	CU_ASSERT_EQUAL(sodp_crc32(0, zeros, 32), 0x190a55adu);
	CU_ASSERT_EQUAL(sodp_crc32(0, zeros, 4096), 0xc71c0011u);
	CU_ASSERT_EQUAL(sodp_crc32(0, ones, 4096), 0xf154670au);
}

static void test_crc32_matches_bitwise_reference_at_every_length_and_offset(void)
{
	static uint8_t buf[4200 + 16];
	size_t len, off;

	fill_random(buf, sizeof(buf));
	for (len = 0; len <= 4200; len += (len < 300 ? 1 : 61)) {
		for (off = 0; off < 16; off += (len < 300 ? 1 : 5)) {
			uint32_t want = crc32_bitwise(0, buf + off, len);

			if (sodp_crc32(0, buf + off, len) != want ||
			    sodp_crc32_table(0, buf + off, len) != want) {
				CU_FAIL("CRC differs from the bitwise reference");
				printf("\n    len %zu off %zu\n", len, off);
				return;
			}
		}
	}
}

static void test_crc32_in_pieces_equals_one_shot(void)
{
	static uint8_t buf[3000];
	uint32_t whole, crc;
	size_t cut;

	fill_random(buf, sizeof(buf));
	whole = sodp_crc32(0, buf, sizeof(buf));
	for (cut = 0; cut <= sizeof(buf); cut += 37) {
		crc = sodp_crc32(0, buf, cut);
		crc = sodp_crc32(crc, buf + cut, sizeof(buf) - cut);
		CU_ASSERT_EQUAL_FATAL(crc, whole);
	}
}

/* -------------------------------------------------------------------- psn */

static void test_psn_add_wraps_at_2_pow_24(void)
{
	CU_ASSERT_EQUAL(rxe_psn_add(0xffffff, 1), 0);
	CU_ASSERT_EQUAL(rxe_psn_add(0xfffffe, 5), 3);
	CU_ASSERT_EQUAL(rxe_psn_add(2, -3), 0xffffff);
	CU_ASSERT_EQUAL(rxe_psn_add(0x123456, 0), 0x123456);
}

static void test_psn_diff_is_signed_distance_across_wrap(void)
{
	CU_ASSERT_EQUAL(rxe_psn_diff(5, 3), 2);
	CU_ASSERT_EQUAL(rxe_psn_diff(3, 5), -2);
	CU_ASSERT_EQUAL(rxe_psn_diff(1, 0xffffff), 2);
	CU_ASSERT_EQUAL(rxe_psn_diff(0xffffff, 1), -2);
	CU_ASSERT_EQUAL(rxe_psn_diff(0x800000, 0x800000), 0);
}

static void test_psn_half_window_decides_before_and_after(void)
{
	/* Up to 2^23 - 1 ahead is after, 2^23 behind is before. */
	CU_ASSERT_EQUAL(rxe_psn_diff(0x7fffff, 0), 0x7fffff);
	CU_ASSERT_TRUE(rxe_psn_after(0x7fffff, 0));
	CU_ASSERT_EQUAL(rxe_psn_diff(0x800000, 0), -0x800000);
	CU_ASSERT_TRUE(rxe_psn_before(0x800000, 0));
	CU_ASSERT_TRUE(rxe_psn_before(0xfffff0, 0x10));
	CU_ASSERT_TRUE(rxe_psn_after(0x10, 0xfffff0));
	CU_ASSERT_FALSE(rxe_psn_before(7, 7));
	CU_ASSERT_FALSE(rxe_psn_after(7, 7));
}

static void test_psn_diff_ignores_bits_above_24(void)
{
	CU_ASSERT_EQUAL(rxe_psn_diff(0xff000005, 3), 2);
	CU_ASSERT_EQUAL(rxe_psn_add(0xff000000, 1), 1);
}

/* ----------------------------------------------------------------- opcode */

static void test_opcode_header_lengths_match_ibta(void)
{
	static const struct {
		uint8_t op;
		uint8_t len;
	} want[] = {
		{IB_OPCODE_RC_SEND_FIRST, 12},
		{IB_OPCODE_RC_SEND_ONLY_WITH_IMMEDIATE, 16},
		{IB_OPCODE_RC_RDMA_WRITE_FIRST, 28},
		{IB_OPCODE_RC_RDMA_WRITE_MIDDLE, 12},
		{IB_OPCODE_RC_RDMA_WRITE_LAST_WITH_IMMEDIATE, 16},
		{IB_OPCODE_RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE, 32},
		{IB_OPCODE_RC_RDMA_READ_REQUEST, 28},
		{IB_OPCODE_RC_RDMA_READ_RESPONSE_FIRST, 16},
		{IB_OPCODE_RC_RDMA_READ_RESPONSE_MIDDLE, 12},
		{IB_OPCODE_RC_ACKNOWLEDGE, 16},
		{IB_OPCODE_RC_ATOMIC_ACKNOWLEDGE, 24},
		{IB_OPCODE_RC_COMPARE_SWAP, 40},
		{IB_OPCODE_RC_FETCH_ADD, 40},
		{IB_OPCODE_RC_SEND_ONLY_WITH_INVALIDATE, 16},
		{IB_OPCODE_RC_ATOMIC_WRITE, 28},
		{IB_OPCODE_UC_RDMA_WRITE_ONLY, 28},
		{IB_OPCODE_RD_SEND_FIRST, 24},
		{IB_OPCODE_RD_RDMA_WRITE_ONLY_WITH_IMMEDIATE, 44},
		{IB_OPCODE_RD_COMPARE_SWAP, 52},
		{IB_OPCODE_RD_ACKNOWLEDGE, 20},
		{IB_OPCODE_RD_ATOMIC_ACKNOWLEDGE, 28},
		{IB_OPCODE_RD_RESYNC, 24},
		{IB_OPCODE_UD_SEND_ONLY, 20},
		{IB_OPCODE_UD_SEND_ONLY_WITH_IMMEDIATE, 24},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CU_ASSERT_EQUAL(rxe_hdr_len(want[i].op), want[i].len);
		if (rxe_hdr_len(want[i].op) != want[i].len)
			printf("\n    %s: %d, want %u\n", rxe_opcode_name(want[i].op),
			       rxe_hdr_len(want[i].op), want[i].len);
	}
}

static void test_opcode_extension_headers_follow_ibta_order(void)
{
	static const uint8_t size[RXE_NUM_EXT_HDRS] = {
		[RXE_RDETH] = RXE_RDETH_BYTES, [RXE_DETH] = RXE_DETH_BYTES,
		[RXE_RETH] = RXE_RETH_BYTES,   [RXE_ATMETH] = RXE_ATMETH_BYTES,
		[RXE_AETH] = RXE_AETH_BYTES,   [RXE_ATMACK] = RXE_ATMACK_BYTES,
		[RXE_IMMDT] = RXE_IMMDT_BYTES, [RXE_IETH] = RXE_IETH_BYTES,
	};

	for (int op = 0; op < 256; op++) {
		const struct rxe_opcode_info *info = rxe_opcode_get((uint8_t)op);
		unsigned int at = RXE_BTH_BYTES;

		if (!info)
			continue;
		for (int t = 0; t < RXE_NUM_EXT_HDRS; t++) {
			if (!(info->mask & (1u << t))) {
				CU_ASSERT_EQUAL(info->offset[t], 0);
				continue;
			}
			CU_ASSERT_EQUAL(info->offset[t], at);
			at += size[t];
		}
		CU_ASSERT_EQUAL(info->length, at);
	}
}

static void test_opcode_reserved_values_are_unknown(void)
{
	int known = 0;

	for (int op = 0; op < 256; op++)
		known += rxe_opcode_get((uint8_t)op) != NULL;
	/* RC 24 (with ATOMIC WRITE, 0x1d), UC 12, RD 22, UD 2. */
	CU_ASSERT_EQUAL(known, 24 + 12 + 22 + 2);
	CU_ASSERT_PTR_NULL(rxe_opcode_get(0x15)); /* RC: RESYNC is RD only */
	CU_ASSERT_PTR_NULL(rxe_opcode_get(0x18));
	CU_ASSERT_PTR_NULL(rxe_opcode_get(0x2c)); /* UC has no READ */
	CU_ASSERT_PTR_NULL(rxe_opcode_get(0x31)); /* UC has no ACK */
	CU_ASSERT_PTR_NULL(rxe_opcode_get(0x60)); /* UD is SEND_ONLY only */
	CU_ASSERT_PTR_NULL(rxe_opcode_get(0x81)); /* CNP */
	CU_ASSERT_PTR_NULL(rxe_opcode_get(0xa4)); /* XRC */
	CU_ASSERT_PTR_NULL(rxe_opcode_get(0xff));
	CU_ASSERT_STRING_EQUAL(rxe_opcode_name(0xff), "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(rxe_opcode_name(IB_OPCODE_RC_ACKNOWLEDGE), "RC_ACK");
}

static void test_opcode_each_is_request_or_response_and_positioned(void)
{
	for (int op = 0; op < 256; op++) {
		const struct rxe_opcode_info *info = rxe_opcode_get((uint8_t)op);
		uint32_t pos;

		if (!info)
			continue;
		CU_ASSERT_EQUAL(!!(info->mask & RXE_REQ_MASK) + !!(info->mask & RXE_ACK_MASK), 1);
		pos = info->mask & (RXE_START_MASK | RXE_MIDDLE_MASK | RXE_END_MASK);
		CU_ASSERT(pos == RXE_START_MASK || pos == RXE_MIDDLE_MASK || pos == RXE_END_MASK ||
			  pos == RXE_ONLY_MASK);
		/* Only packets that may start a message carry the RETH. */
		if (info->mask & RXE_RETH_MASK)
			CU_ASSERT(info->mask & RXE_START_MASK);
		/* Immediate data and invalidation ride on the last packet. */
		if (info->mask & (RXE_IMMDT_MASK | RXE_IETH_MASK))
			CU_ASSERT(info->mask & RXE_END_MASK);
	}
}

/* -------------------------------------------------------------------- hdr */

static void random_hdrs(struct rxe_hdrs *h, uint8_t opcode)
{
	fill_random(h, sizeof(*h));
	h->bth.opcode = opcode;
	h->bth.se = rng() & 1;
	h->bth.mig = rng() & 1;
	h->bth.fecn = rng() & 1;
	h->bth.becn = rng() & 1;
	h->bth.ack_req = rng() & 1;
	h->bth.tver = 0;
	h->bth.pad = 0;
	h->bth.qpn &= RXE_QPN_MASK;
	h->bth.psn &= RXE_PSN_MASK;
	h->rdeth.een &= 0xffffff;
	h->deth.sqp &= RXE_QPN_MASK;
	h->aeth.msn &= 0xffffff;
}

static bool bth_equal(const struct rxe_bth *a, const struct rxe_bth *b)
{
	return a->opcode == b->opcode && a->se == b->se && a->mig == b->mig && a->pad == b->pad &&
	       a->tver == b->tver && a->pkey == b->pkey && a->fecn == b->fecn &&
	       a->becn == b->becn && a->qpn == b->qpn && a->ack_req == b->ack_req &&
	       a->psn == b->psn;
}

static void test_bth_encodes_every_field_at_its_ibta_position(void)
{
	struct rxe_bth bth = {
		.opcode = 0x0a,
		.se = true,
		.mig = true,
		.pad = 3,
		.tver = 0,
		.pkey = 0x8001,
		.fecn = true,
		.becn = true,
		.qpn = 0xabcdef,
		.ack_req = true,
		.psn = 0x123456,
	};
	static const uint8_t want[12] = {0x0a, 0xf0, 0x80, 0x01, 0xc0, 0xab,
					 0xcd, 0xef, 0x80, 0x12, 0x34, 0x56};
	struct rxe_bth back;
	uint8_t b[12];

	rxe_bth_encode(b, &bth);
	CU_ASSERT_EQUAL(memcmp(b, want, sizeof(b)), 0);
	rxe_bth_decode(b, &back);
	CU_ASSERT_TRUE(bth_equal(&back, &bth));
}

static void test_bth_set_psn_keeps_other_fields(void)
{
	struct rxe_bth bth = {.opcode = 4, .pkey = 0xffff, .qpn = 0x11, .psn = 0xfffffe};
	struct rxe_bth back;
	uint8_t b[12];

	rxe_bth_encode(b, &bth);
	rxe_bth_set_psn(b, 0x1000001, true); /* bits above 24 are dropped */
	rxe_bth_decode(b, &back);
	CU_ASSERT_EQUAL(back.psn, 1);
	CU_ASSERT_TRUE(back.ack_req);
	CU_ASSERT_EQUAL(back.qpn, 0x11);
	CU_ASSERT_EQUAL(rxe_bth_get_psn(b), 1);
}

static void test_aeth_syndrome_encodes_ack_rnr_and_nak_codes(void)
{
	struct rxe_aeth aeth = {.syndrome = rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_REM_ACCESS_ERROR),
				.msn = 0x010203};
	uint8_t b[4];

	CU_ASSERT_EQUAL(rxe_aeth_syn(RXE_AETH_ACK, RXE_AETH_CREDITS_INVALID), 0x1f);
	CU_ASSERT_EQUAL(rxe_aeth_syn(RXE_AETH_RNR_NAK, 14), 0x2e);
	CU_ASSERT_EQUAL(rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_PSN_SEQ_ERROR), 0x60);
	CU_ASSERT_EQUAL(rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_INVALID_REQUEST), 0x61);
	CU_ASSERT_EQUAL(rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_REM_ACCESS_ERROR), 0x62);
	CU_ASSERT_EQUAL(rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_REM_OP_ERROR), 0x63);
	CU_ASSERT_EQUAL(rxe_aeth_syn(RXE_AETH_NAK, RXE_NAK_INVALID_RD_REQUEST), 0x64);
	CU_ASSERT_EQUAL(rxe_aeth_syn_type(0x2e), RXE_AETH_RNR_NAK);
	CU_ASSERT_EQUAL(rxe_aeth_syn_value(0x2e), 14);
	CU_ASSERT_EQUAL(rxe_aeth_syn_type(0x63), RXE_AETH_NAK);

	rxe_aeth_encode(b, &aeth);
	CU_ASSERT_EQUAL(b[0], 0x62);
	CU_ASSERT_EQUAL(b[1], 0x01);
	CU_ASSERT_EQUAL(b[3], 0x03);
}

static void test_build_then_parse_every_opcode_round_trips(void)
{
	for (int op = 0; op < 256; op++) {
		const struct rxe_opcode_info *info = rxe_opcode_get((uint8_t)op);
		struct rxe_hdrs h;
		struct rxe_pkt_info pi;
		uint8_t buf[128], again[128];
		size_t paylen;
		int hl, len;

		if (!info)
			continue;
		random_hdrs(&h, (uint8_t)op);
		paylen = (info->mask & RXE_PAYLOAD_MASK) ? ((info->mask & RXE_END_MASK) ? 37 : 40)
							 : 0;
		len = rxe_pkt_len((uint8_t)op, paylen);
		CU_ASSERT_FATAL(len > 0 && (size_t)len <= sizeof(buf));
		hl = rxe_hdr_build(buf, sizeof(buf), &h, paylen);
		CU_ASSERT_EQUAL_FATAL(hl, info->length);
		fill_random(buf + hl, paylen);
		rxe_pkt_zero_pad(buf, (unsigned int)hl, paylen);
		memset(buf + len - 4, 0, 4);

		CU_ASSERT_EQUAL_FATAL(rxe_pkt_parse(buf, (size_t)len, &pi), 0);
		CU_ASSERT_EQUAL(pi.opcode, op);
		CU_ASSERT_EQUAL(pi.paylen, paylen);
		CU_ASSERT_EQUAL(pi.pad, rxe_pad_len(paylen));
		CU_ASSERT_PTR_EQUAL(pi.payload, buf + hl);
		h.bth.pad = rxe_pad_len(paylen);
		CU_ASSERT_TRUE(bth_equal(&pi.h.bth, &h.bth));
		if (info->mask & RXE_RETH_MASK) {
			CU_ASSERT_EQUAL(pi.h.reth.va, h.reth.va);
			CU_ASSERT_EQUAL(pi.h.reth.rkey, h.reth.rkey);
			CU_ASSERT_EQUAL(pi.h.reth.len, h.reth.len);
		}
		if (info->mask & RXE_ATMETH_MASK) {
			CU_ASSERT_EQUAL(pi.h.atmeth.va, h.atmeth.va);
			CU_ASSERT_EQUAL(pi.h.atmeth.rkey, h.atmeth.rkey);
			CU_ASSERT_EQUAL(pi.h.atmeth.swap_add, h.atmeth.swap_add);
			CU_ASSERT_EQUAL(pi.h.atmeth.comp, h.atmeth.comp);
		}
		if (info->mask & RXE_DETH_MASK) {
			CU_ASSERT_EQUAL(pi.h.deth.qkey, h.deth.qkey);
			CU_ASSERT_EQUAL(pi.h.deth.sqp, h.deth.sqp);
		}
		if (info->mask & RXE_AETH_MASK) {
			CU_ASSERT_EQUAL(pi.h.aeth.syndrome, h.aeth.syndrome);
			CU_ASSERT_EQUAL(pi.h.aeth.msn, h.aeth.msn);
		}
		if (info->mask & RXE_RDETH_MASK)
			CU_ASSERT_EQUAL(pi.h.rdeth.een, h.rdeth.een);
		if (info->mask & RXE_ATMACK_MASK)
			CU_ASSERT_EQUAL(pi.h.atmack_orig, h.atmack_orig);
		if (info->mask & RXE_IMMDT_MASK)
			CU_ASSERT_EQUAL(pi.h.imm, h.imm);
		if (info->mask & RXE_IETH_MASK)
			CU_ASSERT_EQUAL(pi.h.ieth_rkey, h.ieth_rkey);
		/* Decoding and encoding again gives the same bytes. */
		CU_ASSERT_EQUAL(rxe_hdr_build(again, sizeof(again), &pi.h, pi.paylen), hl);
		CU_ASSERT_EQUAL(memcmp(again, buf, (size_t)hl), 0);
	}
}

static void test_build_sets_pad_count_from_payload_length(void)
{
	struct rxe_hdrs h = {.bth = {.opcode = IB_OPCODE_RC_SEND_ONLY, .pad = 2}};
	uint8_t buf[64];

	for (size_t paylen = 0; paylen < 8; paylen++) {
		CU_ASSERT_EQUAL(rxe_hdr_build(buf, sizeof(buf), &h, paylen), RXE_BTH_BYTES);
		CU_ASSERT_EQUAL((buf[1] >> 4) & 3, (4 - paylen % 4) % 4);
		CU_ASSERT_EQUAL(rxe_pkt_len(IB_OPCODE_RC_SEND_ONLY, paylen),
				(int)(RXE_BTH_BYTES + ((paylen + 3) & ~3u) + RXE_ICRC_BYTES));
	}
	CU_ASSERT_EQUAL(rxe_pkt_len(IB_OPCODE_RC_RDMA_WRITE_ONLY, 61), 28 + 64 + 4);
	CU_ASSERT_EQUAL(rxe_pkt_len(IB_OPCODE_RC_ACKNOWLEDGE, 0), 20);
}

static void test_build_rejects_payload_on_opcode_without_one(void)
{
	struct rxe_hdrs h = {.bth = {.opcode = IB_OPCODE_RC_ACKNOWLEDGE}};
	uint8_t buf[64];

	CU_ASSERT_EQUAL(rxe_hdr_build(buf, sizeof(buf), &h, 4), -EINVAL);
	CU_ASSERT_EQUAL(rxe_pkt_len(IB_OPCODE_RC_ACKNOWLEDGE, 4), -EINVAL);
}

static void test_build_rejects_pad_on_first_and_middle(void)
{
	struct rxe_hdrs h = {.bth = {.opcode = IB_OPCODE_RC_SEND_MIDDLE}};
	uint8_t buf[64];

	CU_ASSERT_EQUAL(rxe_hdr_build(buf, sizeof(buf), &h, 1023), -EINVAL);
	h.bth.opcode = IB_OPCODE_RC_RDMA_WRITE_FIRST;
	CU_ASSERT_EQUAL(rxe_hdr_build(buf, sizeof(buf), &h, 1), -EINVAL);
	CU_ASSERT_EQUAL(rxe_hdr_build(buf, sizeof(buf), &h, 1024), 28);
}

static void test_build_rejects_unknown_opcode_and_short_buffer(void)
{
	struct rxe_hdrs h = {.bth = {.opcode = 0x15}};
	uint8_t buf[64];

	CU_ASSERT_EQUAL(rxe_hdr_build(buf, sizeof(buf), &h, 0), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(rxe_hdr_len(0x15), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(rxe_pkt_len(0x15, 0), -EOPNOTSUPP);
	h.bth.opcode = IB_OPCODE_RC_COMPARE_SWAP;
	CU_ASSERT_EQUAL(rxe_hdr_build(buf, 39, &h, 0), -ENOSPC);
	CU_ASSERT_EQUAL(rxe_hdr_build(buf, 40, &h, 0), 40);
}

static void test_udp_source_port_follows_ib_core_flow_label(void)
{
	/* Seen in captures/kernel-rxe-6.1 with both QPNs equal. */
	CU_ASSERT_EQUAL(rxe_roce_udp_sport(0x11, 0x11), 49441);
	CU_ASSERT_EQUAL(rxe_roce_udp_sport(0x13, 0x13), 49513);
	CU_ASSERT_EQUAL(rxe_roce_udp_sport(0x1c, 0x1c), 49936);
	CU_ASSERT_EQUAL(rxe_roce_udp_sport(0x123456, 0x654321),
			rxe_roce_udp_sport(0x654321, 0x123456));
	CU_ASSERT(rxe_roce_udp_sport(0xffffff, 0xffffff) >= 0xc000);
}

/* ------------------------------------------------------------ parse errors */

/* A valid packet of @op with @paylen payload bytes; returns its length. */
static size_t make_pkt(uint8_t *buf, size_t size, uint8_t op, size_t paylen)
{
	struct rxe_hdrs h;
	int hl, len;

	random_hdrs(&h, op);
	len = rxe_pkt_len(op, paylen);
	CU_ASSERT_FATAL(len > 0 && (size_t)len <= size);
	hl = rxe_hdr_build(buf, size, &h, paylen);
	CU_ASSERT_FATAL(hl > 0);
	memset(buf + hl, 0x5a, (size_t)len - (size_t)hl);
	return (size_t)len;
}

static void test_parse_truncated_at_every_header_boundary_is_emsgsize(void)
{
	struct rxe_pkt_info pi;
	uint8_t buf[128];

	for (int op = 0; op < 256; op++) {
		const struct rxe_opcode_info *info = rxe_opcode_get((uint8_t)op);
		size_t full;

		if (!info)
			continue;
		full = make_pkt(buf, sizeof(buf), (uint8_t)op, 0);
		CU_ASSERT_EQUAL(full, info->length + RXE_ICRC_BYTES);
		/* Every prefix that stops inside BTH, an extension header or the ICRC. */
		for (size_t len = 0; len < full; len++) {
			int ret = rxe_pkt_parse(buf, len, &pi);

			CU_ASSERT_EQUAL(ret, -EMSGSIZE);
			if (ret != -EMSGSIZE) {
				printf("\n    %s cut at %zu: %d\n", info->name, len, ret);
				return;
			}
		}
		CU_ASSERT_EQUAL(rxe_pkt_parse(buf, full, &pi), 0);
	}
}

static void test_parse_unknown_opcode_is_eopnotsupp(void)
{
	struct rxe_pkt_info pi;
	uint8_t buf[64];

	make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, 16);
	for (int op = 0; op < 256; op++) {
		buf[0] = (uint8_t)op;
		if (!rxe_opcode_get((uint8_t)op))
			CU_ASSERT_EQUAL(rxe_pkt_parse(buf, sizeof(buf), &pi), -EOPNOTSUPP);
	}
}

static void test_parse_tver_not_zero_is_eprotonosupport(void)
{
	struct rxe_pkt_info pi;
	uint8_t buf[64];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, 16);

	for (int tver = 1; tver < 16; tver++) {
		buf[1] = (uint8_t)((buf[1] & 0xf0) | tver);
		CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len, &pi), -EPROTONOSUPPORT);
	}
}

static void test_parse_pad_count_on_opcode_without_payload_is_ebadmsg(void)
{
	struct rxe_pkt_info pi;
	uint8_t buf[64];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_ACKNOWLEDGE, 0);

	CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len, &pi), 0);
	buf[1] |= 1 << 4;
	CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len, &pi), -EBADMSG);
}

static void test_parse_payload_shorter_than_pad_is_ebadmsg(void)
{
	struct rxe_pkt_info pi;
	uint8_t buf[64];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, 0);

	/* No payload bytes at all, yet PadCnt claims 1-3 of them are pad. */
	for (int pad = 1; pad < 4; pad++) {
		buf[1] = (uint8_t)((buf[1] & ~0x30) | pad << 4);
		CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len, &pi), -EBADMSG);
	}
	/* Exactly pad bytes after the headers: payload 0 + 3 pad, not an error... */
	len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, 1);
	CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len, &pi), 0);
	CU_ASSERT_EQUAL(pi.paylen, 1);
	CU_ASSERT_EQUAL(pi.pad, 3);
}

static void test_parse_pad_count_on_first_or_middle_is_ebadmsg(void)
{
	struct rxe_pkt_info pi;
	uint8_t buf[128];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_MIDDLE, 64);

	CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len, &pi), 0);
	buf[1] |= 2 << 4;
	CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len, &pi), -EBADMSG);
	len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_RDMA_WRITE_FIRST, 64);
	buf[1] |= 1 << 4;
	CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len, &pi), -EBADMSG);
}

static void test_parse_bytes_after_headers_of_ack_is_ebadmsg(void)
{
	struct rxe_pkt_info pi;
	uint8_t buf[64];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_ACKNOWLEDGE, 0);

	CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len + 4, &pi), -EBADMSG);
	len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_RDMA_READ_REQUEST, 0);
	CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len + 8, &pi), -EBADMSG);
}

static void test_parse_length_not_multiple_of_4_is_ebadmsg(void)
{
	struct rxe_pkt_info pi;
	uint8_t buf[64];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, 16);

	for (size_t extra = 1; extra < 4; extra++)
		CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len + extra, &pi), -EBADMSG);
}

static void test_parse_null_arguments_are_einval(void)
{
	struct rxe_pkt_info pi;
	uint8_t buf[64];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, 16);

	CU_ASSERT_EQUAL(rxe_pkt_parse(NULL, len, &pi), -EINVAL);
	CU_ASSERT_EQUAL(rxe_pkt_parse(buf, len, NULL), -EINVAL);
}

static void test_parse_random_bytes_give_errno_or_consistent_packet(void)
{
	struct rxe_pkt_info pi;

	for (int i = 0; i < 200000; i++) {
		size_t len = rng() % 96;
		uint8_t *buf = malloc(len ? len : 1); /* exact size: ASan sees overreads */
		int ret;

		CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
		fill_random(buf, len);
		if (len > 1 && (rng() & 1))
			buf[1] &= 0xc0; /* TVer 0, pad 0: get past the first checks */
		ret = rxe_pkt_parse(buf, len, &pi);
		if (ret == 0) {
			CU_ASSERT_EQUAL(pi.hdr_len + pi.paylen + pi.pad + RXE_ICRC_BYTES, len);
		} else {
			CU_ASSERT(ret == -EMSGSIZE || ret == -EBADMSG || ret == -EOPNOTSUPP ||
				  ret == -EPROTONOSUPPORT);
		}
		free(buf);
	}
}

/* ------------------------------------------------------------------- icrc */

static void ipv4_hdr(struct rxe_icrc_hdr *h, const char *src, const char *dst, uint16_t sport)
{
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(sport)};
	struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(RXE_ROCE_V2_PORT)};

	inet_pton(AF_INET, src, &s.sin_addr);
	inet_pton(AF_INET, dst, &d.sin_addr);
	CU_ASSERT_EQUAL_FATAL(
		rxe_icrc_hdr_from_sockaddr(h, (struct sockaddr *)&s, (struct sockaddr *)&d), 0);
}

static void test_icrc_append_then_verify_succeeds(void)
{
	struct rxe_icrc_hdr h;
	uint8_t buf[256];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_RDMA_WRITE_ONLY, 200);

	ipv4_hdr(&h, "127.0.0.1", "127.0.0.2", 49441);
	rxe_icrc_append(&h, buf, len - RXE_ICRC_BYTES);
	CU_ASSERT_EQUAL(rxe_icrc_verify(&h, buf, len), 0);
	CU_ASSERT_EQUAL(rxe_icrc_check(&h, buf, len, RXE_ICRC_STRICT), RXE_ICRC_OK);
	CU_ASSERT_EQUAL(rxe_icrc_verify(&h, buf, 15), -EMSGSIZE);
}

static void test_icrc_detects_every_single_bit_flip(void)
{
	struct rxe_icrc_hdr h;
	uint8_t buf[96];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_UD_SEND_ONLY_WITH_IMMEDIATE, 40);

	ipv4_hdr(&h, "10.0.0.1", "10.0.0.2", 0xc001);
	rxe_icrc_append(&h, buf, len - RXE_ICRC_BYTES);
	for (size_t bit = 0; bit < len * 8; bit++) {
		if (bit / 8 == 4) /* BTH byte 4 is not covered */
			continue;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CU_ASSERT_EQUAL(rxe_icrc_verify(&h, buf, len), -EBADMSG);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	h.sport++;
	CU_ASSERT_EQUAL(rxe_icrc_verify(&h, buf, len), -EBADMSG);
}

static void test_icrc_ignores_fecn_becn_byte(void)
{
	struct rxe_icrc_hdr h;
	uint8_t buf[64];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, 8);

	ipv4_hdr(&h, "10.0.0.1", "10.0.0.2", 0xc001);
	rxe_icrc_append(&h, buf, len - RXE_ICRC_BYTES);
	buf[4] = 0xc0; /* a congested switch marks F and B */
	CU_ASSERT_EQUAL(rxe_icrc_verify(&h, buf, len), 0);
}

static void test_icrc_covers_ipv4_identification_and_flags(void)
{
	struct rxe_icrc_hdr h;
	uint8_t buf[64];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, 8);

	ipv4_hdr(&h, "10.0.0.1", "10.0.0.2", 0xc001);
	CU_ASSERT_EQUAL(h.ip_id, 0);
	CU_ASSERT_EQUAL(h.frag_off, RXE_IP_DF);
	rxe_icrc_append(&h, buf, len - RXE_ICRC_BYTES);
	h.ip_id = 1;
	CU_ASSERT_EQUAL(rxe_icrc_verify(&h, buf, len), -EBADMSG);
	h.ip_id = 0;
	h.frag_off = 0;
	CU_ASSERT_EQUAL(rxe_icrc_verify(&h, buf, len), -EBADMSG);
}

static void test_icrc_policy_decides_what_a_mismatch_means(void)
{
	struct rxe_icrc_hdr h, rx;
	uint8_t buf[64];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, 8);

	ipv4_hdr(&h, "10.0.0.1", "10.0.0.2", 0xc001);
	/* Sent with an ID the receiver cannot see, as kernel rxe does. */
	h.ip_id = 4242;
	rxe_icrc_append(&h, buf, len - RXE_ICRC_BYTES);
	rx = h;
	rx.ip_id = 0;
	CU_ASSERT_EQUAL(rxe_icrc_check(&rx, buf, len, RXE_ICRC_STRICT), -EBADMSG);
	CU_ASSERT_EQUAL(rxe_icrc_check(&rx, buf, len, RXE_ICRC_RECOVER_ID), RXE_ICRC_ID_RECOVERED);
	CU_ASSERT_EQUAL(rxe_icrc_check(&rx, buf, len, RXE_ICRC_SKIP), RXE_ICRC_UNVERIFIED);
	/* corrupted: no ID explains it */
	buf[20] ^= 0x01;
	CU_ASSERT_EQUAL(rxe_icrc_check(&rx, buf, len, RXE_ICRC_RECOVER_ID), -EBADMSG);
	CU_ASSERT_EQUAL(rxe_icrc_check(&rx, buf, len, RXE_ICRC_SKIP), RXE_ICRC_UNVERIFIED);
	buf[20] ^= 0x01;
	/* Sent the way softodp sends: verified as it is. */
	h.ip_id = 0;
	rxe_icrc_append(&h, buf, len - RXE_ICRC_BYTES);
	rx.ip_id = 777; /* whatever the caller put there is overridden */
	CU_ASSERT_EQUAL(rxe_icrc_check(&rx, buf, len, RXE_ICRC_RECOVER_ID), RXE_ICRC_OK);
}

static void test_icrc_recovers_every_ipv4_id_at_several_lengths(void)
{
	static const uint16_t ids[] = {1, 2, 0x80, 0x100, 0x8000, 0xffff, 4242, 0x1234};
	static const unsigned int pay[] = {0, 4, 60, 1024, 4096};
	struct rxe_icrc_hdr h, rx;
	uint8_t buf[4096 + 64];
	unsigned int i, j, bad = 0;

	ipv4_hdr(&h, "10.0.0.1", "10.0.0.2", 0xc001);
	for (j = 0; j < sizeof(pay) / sizeof(pay[0]); j++) {
		size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, pay[j]);

		for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
			uint16_t got = 0;

			h.ip_id = ids[i];
			rxe_icrc_append(&h, buf, len - RXE_ICRC_BYTES);
			rx = h;
			rx.ip_id = 0;
			bad += rxe_icrc_recover_id(&rx, buf, len, &got) != 0 || got != ids[i];
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
}

/* Of a thousand single-bit corruptions of a packet sent with ID 77, none passes. */
static void test_icrc_recovery_drops_corrupted_packets(void)
{
	struct rxe_icrc_hdr h, rx;
	uint8_t buf[1100];
	size_t len = make_pkt(buf, sizeof(buf), IB_OPCODE_RC_SEND_ONLY, 1024);
	unsigned int i, passed = 0;

	ipv4_hdr(&h, "10.0.0.1", "10.0.0.2", 0xc001);
	h.ip_id = 77;
	rxe_icrc_append(&h, buf, len - RXE_ICRC_BYTES);
	rx = h;
	rx.ip_id = 0;
	for (i = 0; i < 1000; i++) {
		size_t bit = (i * 7919) % ((len - RXE_ICRC_BYTES) * 8);

		if (bit / 8 == 4) /* BTH byte 4 is not covered */
			continue;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		passed += rxe_icrc_check(&rx, buf, len, RXE_ICRC_RECOVER_ID) >= 0;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CU_ASSERT_EQUAL(passed, 0);
}

/* Expected value computed independently (zlib over the masked header bytes). */
static void test_icrc_ipv6_masks_traffic_class_flow_label_and_hop_limit(void)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons(0xc123)};
	struct sockaddr_in6 d = {.sin6_family = AF_INET6, .sin6_port = htons(RXE_ROCE_V2_PORT)};
	struct rxe_hdrs hd = {
		.bth = {.opcode = IB_OPCODE_UD_SEND_ONLY,
			.pkey = 0xffff,
			.qpn = 0x123,
			.psn = 0xabcd},
		.deth = {.qkey = 0x11111111, .sqp = 0x456},
	};
	struct rxe_icrc_hdr h;
	uint8_t buf[64];
	int hl;

	inet_pton(AF_INET6, "fd00::1", &s.sin6_addr);
	inet_pton(AF_INET6, "fd00::2", &d.sin6_addr);
	CU_ASSERT_EQUAL_FATAL(
		rxe_icrc_hdr_from_sockaddr(&h, (struct sockaddr *)&s, (struct sockaddr *)&d), 0);
	CU_ASSERT_EQUAL(h.family, AF_INET6);
	hl = rxe_hdr_build(buf, sizeof(buf), &hd, 32);
	CU_ASSERT_EQUAL_FATAL(hl, 20);
	for (int i = 0; i < 32; i++)
		buf[hl + i] = (uint8_t)i;
	CU_ASSERT_EQUAL(rxe_icrc_compute(&h, buf, 52), 0xbbe8cedau);
}

static void test_icrc_hdr_from_v4_mapped_gid_is_ipv4(void)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons(49441)};
	struct sockaddr_in6 d = {.sin6_family = AF_INET6, .sin6_port = htons(RXE_ROCE_V2_PORT)};
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct rxe_icrc_hdr h;

	inet_pton(AF_INET6, "::ffff:10.99.0.2", &s.sin6_addr);
	inet_pton(AF_INET6, "::ffff:10.99.0.3", &d.sin6_addr);
	CU_ASSERT_EQUAL_FATAL(
		rxe_icrc_hdr_from_sockaddr(&h, (struct sockaddr *)&s, (struct sockaddr *)&d), 0);
	CU_ASSERT_EQUAL(h.family, AF_INET);
	CU_ASSERT_EQUAL(ntohl(h.saddr.v4.s_addr), 0x0a630002);
	CU_ASSERT_EQUAL(h.sport, 49441);
	CU_ASSERT_EQUAL(h.dport, 4791);
	/* A mapped address and a native IPv6 one cannot share a packet. */
	inet_pton(AF_INET6, "fd00::3", &d.sin6_addr);
	CU_ASSERT_EQUAL(
		rxe_icrc_hdr_from_sockaddr(&h, (struct sockaddr *)&s, (struct sockaddr *)&d),
		-EAFNOSUPPORT);
	CU_ASSERT_EQUAL(
		rxe_icrc_hdr_from_sockaddr(&h, (struct sockaddr *)&v4, (struct sockaddr *)&d),
		-EAFNOSUPPORT);
}

/*
 * An RC ATOMIC WRITE as the requester builds it (req.c): opcode 0x1d, AckReq,
 * a RETH whose DMA length is 8, then the 8 bytes as given and no pad, then
 * the ICRC. The ICRC is checked against one computed here from IBA A17.3.3
 * with the bitwise CRC, over the masked IPv4/UDP pseudo-header.
 */
static void test_atomic_write_packet_has_reth_8_byte_payload_and_icrc(void)
{
	static const uint8_t value[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	static const uint8_t want_hdr[28] = {
		0x1d, 0x00, 0xff, 0xff,				/* opcode, SE/M/Pad/TVer, P_Key */
		0x00, 0x00, 0x00, 0x12,				/* resv8a, dest QP */
		0x80, 0x12, 0x34, 0x56,				/* AckReq, PSN */
		0x00, 0x00, 0x7f, 0x11, 0x22, 0x33, 0x44, 0x48, /* RETH VA */
		0x00, 0x00, 0x0a, 0xbc,				/* R_Key */
		0x00, 0x00, 0x00, 0x08,				/* DMA length */
	};
	struct rxe_hdrs h = {
		.bth = {.opcode = IB_OPCODE_RC_ATOMIC_WRITE,
			.pkey = RXE_DEFAULT_PKEY,
			.qpn = 0x12,
			.ack_req = true,
			.psn = 0x123456},
		.reth = {.va = 0x7f1122334448ULL, .rkey = 0xabc, .len = sizeof(value)},
	};
	static const uint8_t ip[20] = {
		0x45, 0xff, 0x00, 20 + 8 + 40, /* version/IHL, TOS masked, total length */
		0x00, 0x00, 0x40, 0x00,	       /* ID 0, DF */
		0xff, 17,   0xff, 0xff,	       /* TTL masked, UDP, checksum masked */
		127,  0,    0,	  1,	       /* source */
		127,  0,    0,	  2,	       /* destination */
	};
	static const uint8_t udp[8] = {
		0xc0, 0xde,   0x12, 0xb7, /* source port, 4791 */
		0x00, 8 + 40, 0xff, 0xff, /* length, checksum masked */
	};
	uint8_t pkt[64], pseudo[8 + 20 + 8 + 36];
	struct rxe_icrc_hdr ih;
	struct rxe_pkt_info pi;
	uint32_t icrc;
	int hl, len;

	len = rxe_pkt_len(IB_OPCODE_RC_ATOMIC_WRITE, sizeof(value));
	CU_ASSERT_EQUAL_FATAL(len, 28 + 8 + 4);
	hl = rxe_hdr_build(pkt, sizeof(pkt), &h, sizeof(value));
	CU_ASSERT_EQUAL_FATAL(hl, 28);
	memcpy(pkt + hl, value, sizeof(value));
	rxe_pkt_zero_pad(pkt, (unsigned int)hl, sizeof(value));
	ipv4_hdr(&ih, "127.0.0.1", "127.0.0.2", 0xc0de);
	rxe_icrc_append(&ih, pkt, (size_t)len - RXE_ICRC_BYTES);

	CU_ASSERT_EQUAL(memcmp(pkt, want_hdr, sizeof(want_hdr)), 0);
	CU_ASSERT_EQUAL(memcmp(pkt + 28, value, sizeof(value)), 0);

	/* 8 x 0xff, IPv4 with TOS/TTL/checksum all ones, UDP checksum all ones */
	memset(pseudo, 0xff, 8);
	memcpy(pseudo + 8, ip, sizeof(ip));
	memcpy(pseudo + 28, udp, sizeof(udp));
	memcpy(pseudo + 36, pkt, 36);
	pseudo[36 + 4] = 0xff; /* BTH resv8a (F/B bits) */
	icrc = crc32_bitwise(0, pseudo, sizeof(pseudo));
	CU_ASSERT_EQUAL(pkt[36] | pkt[37] << 8 | pkt[38] << 16 | (uint32_t)pkt[39] << 24, icrc);
	CU_ASSERT_EQUAL(rxe_icrc_verify(&ih, pkt, (size_t)len), 0);

	CU_ASSERT_EQUAL_FATAL(rxe_pkt_parse(pkt, (size_t)len, &pi), 0);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_ATOMIC_WRITE);
	CU_ASSERT_EQUAL(pi.mask & (RXE_ATOMIC_WRITE_MASK | RXE_ONLY_MASK | RXE_REQ_MASK),
			RXE_ATOMIC_WRITE_MASK | RXE_ONLY_MASK | RXE_REQ_MASK);
	CU_ASSERT_EQUAL(pi.mask & (RXE_WRITE_MASK | RXE_ATOMIC_MASK | RXE_ATMETH_MASK), 0);
	CU_ASSERT_EQUAL(pi.h.reth.va, 0x7f1122334448ULL);
	CU_ASSERT_EQUAL(pi.h.reth.rkey, 0xabc);
	CU_ASSERT_EQUAL(pi.h.reth.len, 8);
	CU_ASSERT_EQUAL(pi.paylen, 8);
	CU_ASSERT_EQUAL(pi.pad, 0);
	CU_ASSERT_STRING_EQUAL(rxe_opcode_name(IB_OPCODE_RC_ATOMIC_WRITE), "RC_ATOMIC_WRITE");
}

/* --------------------------------------------------------------- captures */

/* One line of NAME.txt (roce-pcap-check.py -v). */
struct listing_pkt {
	unsigned int frame;
	char op[32];
	uint32_t qpn, psn;
	unsigned int ack_req, pad, after_bth;
	uint32_t icrc;
	/* key=value extras; has_x says whether the line had them */
	bool has_va, has_rkey, has_dmalen, has_syndrome, has_msn, has_swap_add, has_cmp, has_orig;
	bool has_srcqp, has_qkey, has_imm;
	uint64_t va, swap_add, cmp, orig;
	uint32_t rkey, dmalen, syndrome, msn, srcqp, qkey, imm;
};

/* Records one key=value extra of a listing line. */
static void listing_set(struct listing_pkt *l, const char *key, uint64_t v)
{
#define SET(k)                             \
	do {                               \
		if (!strcmp(key, #k)) {    \
			l->k = v;          \
			l->has_##k = true; \
			return;            \
		}                          \
	} while (0)
	SET(va);
	SET(rkey);
	SET(dmalen);
	SET(syndrome);
	SET(msn);
	SET(swap_add);
	SET(cmp);
	SET(orig);
	SET(srcqp);
	SET(qkey);
	SET(imm);
#undef SET
}

static int read_listing(const char *name, struct listing_pkt *out, int max)
{
	char path[512], line[512];
	FILE *fp;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s.txt", SODP_WIRE_DATA_DIR, name);
	fp = fopen(path, "r");
	if (!fp)
		return -errno;
	while (fgets(line, sizeof(line), fp) && n < max) {
		struct listing_pkt *l = &out[n];
		char src_dst[64];
		int end = 0;
		char *tok, *save;

		memset(l, 0, sizeof(*l));
		if (sscanf(line,
			   " #%u %63s %31s dqpn %x psn %x A=%u pad=%u after_bth=%u icrc=ok(%x)%n",
			   &l->frame, src_dst, l->op, &l->qpn, &l->psn, &l->ack_req, &l->pad,
			   &l->after_bth, &l->icrc, &end) < 9 ||
		    !end)
			continue;
		for (tok = strtok_r(line + end + 1, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save)) {
			char *eq = strchr(tok, '=');
			uint64_t v;

			if (!eq)
				continue;
			*eq = 0;
			v = strtoull(eq + 1, NULL, 0);
			listing_set(l, tok, v);
		}
		n++;
	}
	fclose(fp);
	return n;
}

static void open_capture(struct pcap_file *f, const char *name)
{
	char path[512];
	int ret;

	snprintf(path, sizeof(path), "%s/%s.pcap", SODP_WIRE_DATA_DIR, name);
	ret = pcap_open(f, path);
	if (ret)
		printf("\n    cannot open %s: %s\n", path, strerror(-ret));
	CU_ASSERT_EQUAL_FATAL(ret, 0);
}

/*
 * Calls @fn on each RoCE packet of every capture, in order, with the
 * capture's name; returns how many packets there were.
 */
static unsigned int for_each_capture_pkt(void (*fn)(const char *name, const struct pcap_roce_pkt *p,
						    void *arg),
					 void *arg)
{
	unsigned int total = 0;

	for (size_t c = 0; c < sizeof(captures) / sizeof(captures[0]); c++) {
		struct pcap_file f;
		struct pcap_roce_pkt p;
		int ret;

		open_capture(&f, captures[c]);
		while ((ret = pcap_next_roce(&f, &p)) == 1) {
			fn(captures[c], &p, arg);
			total++;
		}
		CU_ASSERT_EQUAL(ret, 0);
		pcap_close(&f);
	}
	return total;
}

static void pkt_parses(const char *name, const struct pcap_roce_pkt *p, void *arg)
{
	struct rxe_pkt_info pi;
	int err = rxe_pkt_parse(p->bth, p->bth_len, &pi);

	(void)arg;
	CU_ASSERT_EQUAL(err, 0);
	if (err)
		printf("\n    %s #%u: %d\n", name, p->frame, err);
}

static void test_capture_every_packet_parses(void)
{
	CU_ASSERT_EQUAL(for_each_capture_pkt(pkt_parses, NULL), CAPTURE_PACKETS);
}

static void check_against_listing(const char *name, const struct rxe_pkt_info *pi,
				  const struct listing_pkt *l)
{
	const struct rxe_hdrs *h = &pi->h;
	unsigned int bad = 0;

#define SAME(a, b) bad += !((a) == (b))
	bad += strcmp(rxe_opcode_name(pi->opcode), l->op) != 0;
	SAME(h->bth.qpn, l->qpn);
	SAME(h->bth.psn, l->psn);
	SAME(h->bth.ack_req, l->ack_req);
	SAME(pi->pad, l->pad);
	SAME(pi->len - RXE_BTH_BYTES - RXE_ICRC_BYTES, l->after_bth);
	SAME(pi->icrc, l->icrc);
	/* Every extension header the listing decoded, and no other. */
	SAME(!!(pi->mask & (RXE_RETH_MASK | RXE_ATMETH_MASK)), l->has_rkey);
	SAME(!!(pi->mask & RXE_RETH_MASK), l->has_dmalen);
	SAME(!!(pi->mask & RXE_AETH_MASK), l->has_syndrome);
	SAME(!!(pi->mask & RXE_ATMETH_MASK), l->has_swap_add);
	SAME(!!(pi->mask & RXE_ATMACK_MASK), l->has_orig);
	SAME(!!(pi->mask & RXE_DETH_MASK), l->has_qkey);
	SAME(!!(pi->mask & RXE_IMMDT_MASK), l->has_imm);
	if (pi->mask & RXE_RETH_MASK) {
		SAME(h->reth.va, l->va);
		SAME(h->reth.rkey, l->rkey);
		SAME(h->reth.len, l->dmalen);
	}
	if (pi->mask & RXE_ATMETH_MASK) {
		SAME(h->atmeth.va, l->va);
		SAME(h->atmeth.rkey, l->rkey);
		SAME(h->atmeth.swap_add, l->swap_add);
		SAME(h->atmeth.comp, l->cmp);
	}
	if (pi->mask & RXE_AETH_MASK) {
		SAME(h->aeth.syndrome, l->syndrome);
		SAME(h->aeth.msn, l->msn);
	}
	if (pi->mask & RXE_ATMACK_MASK)
		SAME(h->atmack_orig, l->orig);
	if (pi->mask & RXE_DETH_MASK) {
		SAME(h->deth.qkey, l->qkey);
		SAME(h->deth.sqp, l->srcqp);
	}
	if (pi->mask & RXE_IMMDT_MASK)
		SAME(h->imm, l->imm);
#undef SAME
	CU_ASSERT_EQUAL(bad, 0);
	if (bad)
		printf("\n    %s #%u (%s): %u fields differ from the listing\n", name, l->frame,
		       l->op, bad);
}

static void test_capture_fields_match_listing_for_every_packet(void)
{
	static struct listing_pkt listing[256];
	unsigned int checked = 0;

	for (size_t c = 0; c < sizeof(captures) / sizeof(captures[0]); c++) {
		struct pcap_file f;
		struct pcap_roce_pkt p;
		struct rxe_pkt_info pi;
		int n = read_listing(captures[c], listing, 256), i = 0;

		CU_ASSERT_FATAL(n > 0);
		open_capture(&f, captures[c]);
		while (pcap_next_roce(&f, &p) == 1) {
			CU_ASSERT_FATAL(i < n);
			CU_ASSERT_EQUAL(listing[i].frame, p.frame);
			CU_ASSERT_EQUAL_FATAL(rxe_pkt_parse(p.bth, p.bth_len, &pi), 0);
			check_against_listing(captures[c], &pi, &listing[i]);
			i++;
			checked++;
		}
		CU_ASSERT_EQUAL(i, n);
		pcap_close(&f);
	}
	CU_ASSERT_EQUAL(checked, CAPTURE_PACKETS);
}

/* The n-th (1-based) RoCE packet of a capture, parsed. */
static void capture_pkt(const char *name, unsigned int n, struct pcap_file *f,
			struct pcap_roce_pkt *p, struct rxe_pkt_info *pi)
{
	open_capture(f, name);
	for (unsigned int i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(pcap_next_roce(f, p), 1);
	CU_ASSERT_EQUAL_FATAL(rxe_pkt_parse(p->bth, p->bth_len, pi), 0);
}

static void test_capture_spot_checks_of_decoded_fields(void)
{
	struct pcap_file f;
	struct pcap_roce_pkt p;
	struct rxe_pkt_info pi;

	/* atomic_bw #2: ATOMIC_ACK, syndrome 0x1f, MSN 1, original data. */
	capture_pkt("atomic_bw", 2, &f, &p, &pi);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_ATOMIC_ACKNOWLEDGE);
	CU_ASSERT_EQUAL(pi.h.bth.psn, 0x41636b);
	CU_ASSERT_EQUAL(pi.h.aeth.syndrome, RXE_AETH_SYN_ACK_UNLIMITED);
	CU_ASSERT_EQUAL(rxe_aeth_syn_type(pi.h.aeth.syndrome), RXE_AETH_ACK);
	CU_ASSERT_EQUAL(pi.h.aeth.msn, 1);
	CU_ASSERT_EQUAL(pi.h.atmack_orig, 0x8ba0850364f47e32ULL);
	CU_ASSERT_EQUAL(pi.paylen, 0);
	pcap_close(&f);

	/* atomic_bw #1: FETCH_ADD of 1 at a 64-byte aligned VA. */
	capture_pkt("atomic_bw", 1, &f, &p, &pi);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_FETCH_ADD);
	CU_ASSERT_TRUE(pi.h.bth.ack_req);
	CU_ASSERT_EQUAL(pi.h.atmeth.va, 0x562b18a01000ULL);
	CU_ASSERT_EQUAL(pi.h.atmeth.rkey, 0x6ba);
	CU_ASSERT_EQUAL(pi.h.atmeth.swap_add, 1);
	pcap_close(&f);

	/* write_small #1: WRITE_ONLY of 61 bytes, PadCnt 3. */
	capture_pkt("write_small", 1, &f, &p, &pi);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_RDMA_WRITE_ONLY);
	CU_ASSERT_EQUAL(pi.pad, 3);
	CU_ASSERT_EQUAL(pi.paylen, 61);
	CU_ASSERT_EQUAL(pi.h.reth.len, 61);
	CU_ASSERT_EQUAL(pi.h.bth.qpn, 0x18);
	CU_ASSERT_EQUAL(pi.h.bth.pkey, 0xffff);
	pcap_close(&f);

	/* ud_pingpong #1: UD SEND_ONLY, 1024 bytes, DETH. */
	capture_pkt("ud_pingpong", 1, &f, &p, &pi);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_UD_SEND_ONLY);
	CU_ASSERT_EQUAL(pi.h.deth.qkey, 0x11111111);
	CU_ASSERT_EQUAL(pi.h.deth.sqp, 0x12);
	CU_ASSERT_EQUAL(pi.h.bth.psn, 0x48f2cb);
	CU_ASSERT_EQUAL(pi.paylen, 1024);
	CU_ASSERT_FALSE(pi.h.bth.ack_req);
	pcap_close(&f);

	/* rc_pingpong #1: SEND_FIRST, full MTU, no AckReq. */
	capture_pkt("rc_pingpong", 1, &f, &p, &pi);
	CU_ASSERT_EQUAL(pi.opcode, IB_OPCODE_RC_SEND_FIRST);
	CU_ASSERT_EQUAL(pi.h.bth.psn, 0xa606e2);
	CU_ASSERT_EQUAL(pi.paylen, 1024);
	CU_ASSERT_FALSE(pi.h.bth.ack_req);
	pcap_close(&f);
}

/* @good counts the packets whose ICRC is computed and verified as sent. */
static void pkt_icrc_reproduced(const char *name, const struct pcap_roce_pkt *p, void *good)
{
	struct rxe_icrc_hdr h;
	int off = rxe_icrc_hdr_from_ip(p->l3, p->l3_len, &h);
	uint32_t want;

	CU_ASSERT_EQUAL_FATAL(off, (int)(p->bth - p->l3));
	memcpy(&want, p->bth + p->bth_len - 4, 4);
	/* The stored lengths equal the derived ones: forget them. */
	CU_ASSERT_EQUAL(h.udp_len, p->bth_len + 8);
	h.udp_len = h.ip_len = 0;
	if (rxe_icrc_compute(&h, p->bth, p->bth_len - 4) == le32toh(want) &&
	    rxe_icrc_verify(&h, p->bth, p->bth_len) == 0)
		(*(unsigned int *)good)++;
	else
		printf("\n    %s #%u: ICRC mismatch\n", name, p->frame);
}

static void test_capture_icrc_is_reproduced_for_every_packet(void)
{
	unsigned int good = 0;

	CU_ASSERT_EQUAL(for_each_capture_pkt(pkt_icrc_reproduced, &good), CAPTURE_PACKETS);
	CU_ASSERT_EQUAL(good, CAPTURE_PACKETS);
}

/* @same counts the packets whose headers re-encode to the bytes captured. */
static void pkt_reencodes(const char *name, const struct pcap_roce_pkt *p, void *same)
{
	struct rxe_pkt_info pi;
	uint8_t buf[64];
	int hl;

	CU_ASSERT_EQUAL_FATAL(rxe_pkt_parse(p->bth, p->bth_len, &pi), 0);
	hl = rxe_hdr_build(buf, sizeof(buf), &pi.h, pi.paylen);
	CU_ASSERT_EQUAL_FATAL(hl, pi.hdr_len);
	CU_ASSERT_EQUAL_FATAL(rxe_pkt_len(pi.opcode, pi.paylen), (int)p->bth_len);
	if (!memcmp(buf, p->bth, (size_t)hl))
		(*(unsigned int *)same)++;
	else
		printf("\n    %s #%u: re-encoded headers differ\n", name, p->frame);
}

static void test_capture_reencoded_headers_are_byte_identical(void)
{
	unsigned int same = 0;

	CU_ASSERT_EQUAL(for_each_capture_pkt(pkt_reencodes, &same), CAPTURE_PACKETS);
	CU_ASSERT_EQUAL(same, CAPTURE_PACKETS);
}

/*
 * What kernel rxe puts in the headers softodp cannot see: DF, a non-zero
 * per-sender Identification, TTL 64, DSCP/ECN 0, UDP checksum 0, and for
 * RC/UC the UDP source port derived from the QPN pair.
 */
/* @nonzero_id counts the packets sent with a non-zero IP Identification. */
static void pkt_kernel_conventions(const char *name, const struct pcap_roce_pkt *p,
				   void *nonzero_id)
{
	struct rxe_icrc_hdr h;
	struct rxe_pkt_info pi;

	(void)name;
	CU_ASSERT_EQUAL_FATAL(p->family, 4);
	CU_ASSERT_FATAL(rxe_icrc_hdr_from_ip(p->l3, p->l3_len, &h) > 0);
	CU_ASSERT_EQUAL_FATAL(rxe_pkt_parse(p->bth, p->bth_len, &pi), 0);
	CU_ASSERT_EQUAL(h.frag_off, RXE_IP_DF);
	CU_ASSERT_EQUAL(p->l3[1], 0);		   /* DSCP/ECN */
	CU_ASSERT_EQUAL(p->l3[8], 64);		   /* TTL */
	CU_ASSERT_EQUAL(p->udp[6] | p->udp[7], 0); /* no UDP checksum */
	CU_ASSERT_EQUAL(h.dport, RXE_ROCE_V2_PORT);
	CU_ASSERT_EQUAL(pi.h.bth.pkey, RXE_DEFAULT_PKEY);
	if ((pi.opcode & IB_OPCODE_TRANSPORT_MASK) != IB_OPCODE_UD)
		CU_ASSERT_EQUAL(h.sport, rxe_roce_udp_sport(pi.h.bth.qpn, pi.h.bth.qpn));
	*(unsigned int *)nonzero_id += h.ip_id != 0;
}

static void test_capture_shows_kernel_rxe_ip_udp_conventions(void)
{
	unsigned int nonzero_id = 0;

	CU_ASSERT_EQUAL(for_each_capture_pkt(pkt_kernel_conventions, &nonzero_id), nonzero_id);
}

/* Every kernel rxe packet of the captures: the ID recovered is the one it was sent with. */
static void test_capture_kernel_rxe_ids_are_recovered_from_the_icrc(void)
{
	static const char *const names[] = {"send_small", "write_bw",	 "read_bw",
					    "atomic_bw",  "ud_pingpong", "uc_send"};
	unsigned int n, total = 0, right = 0;
	struct pcap_file f;
	struct pcap_roce_pkt p;
	struct rxe_icrc_hdr h, rx;

	for (n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/%s.pcap", SODP_WIRE_DATA_DIR, names[n]);
		CU_ASSERT_EQUAL_FATAL(pcap_open(&f, path), 0);
		while (pcap_next_roce(&f, &p) == 1 && p.family == 4) {
			uint16_t got = 0;

			if (rxe_icrc_hdr_from_ip(p.l3, p.l3_len, &h) <= 0)
				continue;
			rx = h;
			rx.ip_id = 0;
			total++;
			right += h.ip_id &&
				 rxe_icrc_check(&rx, p.bth, p.bth_len, RXE_ICRC_RECOVER_ID) ==
					 RXE_ICRC_ID_RECOVERED &&
				 !rxe_icrc_recover_id(&rx, p.bth, p.bth_len, &got) &&
				 got == h.ip_id;
		}
		pcap_close(&f);
	}
	CU_ASSERT_TRUE(total >= 100);
	CU_ASSERT_EQUAL(right, total);
}

/* ------------------------------------------------------------------ suites */

static const struct sodp_test_case crc32_tests[] = {
	{"test_crc32_check_value_of_123456789", test_crc32_check_value_of_123456789},
	{"test_crc32_of_nothing_is_zero", test_crc32_of_nothing_is_zero},
	{"test_crc32_known_long_vectors", test_crc32_known_long_vectors},
	{"test_crc32_matches_bitwise_reference_at_every_length_and_offset",
	 test_crc32_matches_bitwise_reference_at_every_length_and_offset},
	{"test_crc32_in_pieces_equals_one_shot", test_crc32_in_pieces_equals_one_shot},
	{NULL, NULL},
};

static const struct sodp_test_case psn_tests[] = {
	{"test_psn_add_wraps_at_2_pow_24", test_psn_add_wraps_at_2_pow_24},
	{"test_psn_diff_is_signed_distance_across_wrap",
	 test_psn_diff_is_signed_distance_across_wrap},
	{"test_psn_half_window_decides_before_and_after",
	 test_psn_half_window_decides_before_and_after},
	{"test_psn_diff_ignores_bits_above_24", test_psn_diff_ignores_bits_above_24},
	{NULL, NULL},
};

static const struct sodp_test_case opcode_tests[] = {
	{"test_opcode_header_lengths_match_ibta", test_opcode_header_lengths_match_ibta},
	{"test_opcode_extension_headers_follow_ibta_order",
	 test_opcode_extension_headers_follow_ibta_order},
	{"test_opcode_reserved_values_are_unknown", test_opcode_reserved_values_are_unknown},
	{"test_opcode_each_is_request_or_response_and_positioned",
	 test_opcode_each_is_request_or_response_and_positioned},
	{NULL, NULL},
};

static const struct sodp_test_case hdr_tests[] = {
	{"test_bth_encodes_every_field_at_its_ibta_position",
	 test_bth_encodes_every_field_at_its_ibta_position},
	{"test_bth_set_psn_keeps_other_fields", test_bth_set_psn_keeps_other_fields},
	{"test_aeth_syndrome_encodes_ack_rnr_and_nak_codes",
	 test_aeth_syndrome_encodes_ack_rnr_and_nak_codes},
	{"test_build_then_parse_every_opcode_round_trips",
	 test_build_then_parse_every_opcode_round_trips},
	{"test_build_sets_pad_count_from_payload_length",
	 test_build_sets_pad_count_from_payload_length},
	{"test_build_rejects_payload_on_opcode_without_one",
	 test_build_rejects_payload_on_opcode_without_one},
	{"test_build_rejects_pad_on_first_and_middle", test_build_rejects_pad_on_first_and_middle},
	{"test_build_rejects_unknown_opcode_and_short_buffer",
	 test_build_rejects_unknown_opcode_and_short_buffer},
	{"test_udp_source_port_follows_ib_core_flow_label",
	 test_udp_source_port_follows_ib_core_flow_label},
	{NULL, NULL},
};

static const struct sodp_test_case parse_tests[] = {
	{"test_parse_truncated_at_every_header_boundary_is_emsgsize",
	 test_parse_truncated_at_every_header_boundary_is_emsgsize},
	{"test_parse_unknown_opcode_is_eopnotsupp", test_parse_unknown_opcode_is_eopnotsupp},
	{"test_parse_tver_not_zero_is_eprotonosupport",
	 test_parse_tver_not_zero_is_eprotonosupport},
	{"test_parse_pad_count_on_opcode_without_payload_is_ebadmsg",
	 test_parse_pad_count_on_opcode_without_payload_is_ebadmsg},
	{"test_parse_payload_shorter_than_pad_is_ebadmsg",
	 test_parse_payload_shorter_than_pad_is_ebadmsg},
	{"test_parse_pad_count_on_first_or_middle_is_ebadmsg",
	 test_parse_pad_count_on_first_or_middle_is_ebadmsg},
	{"test_parse_bytes_after_headers_of_ack_is_ebadmsg",
	 test_parse_bytes_after_headers_of_ack_is_ebadmsg},
	{"test_parse_length_not_multiple_of_4_is_ebadmsg",
	 test_parse_length_not_multiple_of_4_is_ebadmsg},
	{"test_parse_null_arguments_are_einval", test_parse_null_arguments_are_einval},
	{"test_parse_random_bytes_give_errno_or_consistent_packet",
	 test_parse_random_bytes_give_errno_or_consistent_packet},
	{NULL, NULL},
};

static const struct sodp_test_case icrc_tests[] = {
	{"test_icrc_append_then_verify_succeeds", test_icrc_append_then_verify_succeeds},
	{"test_icrc_detects_every_single_bit_flip", test_icrc_detects_every_single_bit_flip},
	{"test_icrc_ignores_fecn_becn_byte", test_icrc_ignores_fecn_becn_byte},
	{"test_icrc_covers_ipv4_identification_and_flags",
	 test_icrc_covers_ipv4_identification_and_flags},
	{"test_icrc_policy_decides_what_a_mismatch_means",
	 test_icrc_policy_decides_what_a_mismatch_means},
	{"test_icrc_recovers_every_ipv4_id_at_several_lengths",
	 test_icrc_recovers_every_ipv4_id_at_several_lengths},
	{"test_icrc_recovery_drops_corrupted_packets", test_icrc_recovery_drops_corrupted_packets},
	{"test_icrc_ipv6_masks_traffic_class_flow_label_and_hop_limit",
	 test_icrc_ipv6_masks_traffic_class_flow_label_and_hop_limit},
	{"test_icrc_hdr_from_v4_mapped_gid_is_ipv4", test_icrc_hdr_from_v4_mapped_gid_is_ipv4},
	{"test_atomic_write_packet_has_reth_8_byte_payload_and_icrc",
	 test_atomic_write_packet_has_reth_8_byte_payload_and_icrc},
	{NULL, NULL},
};

static const struct sodp_test_case capture_tests[] = {
	{"test_capture_every_packet_parses", test_capture_every_packet_parses},
	{"test_capture_fields_match_listing_for_every_packet",
	 test_capture_fields_match_listing_for_every_packet},
	{"test_capture_spot_checks_of_decoded_fields", test_capture_spot_checks_of_decoded_fields},
	{"test_capture_icrc_is_reproduced_for_every_packet",
	 test_capture_icrc_is_reproduced_for_every_packet},
	{"test_capture_reencoded_headers_are_byte_identical",
	 test_capture_reencoded_headers_are_byte_identical},
	{"test_capture_shows_kernel_rxe_ip_udp_conventions",
	 test_capture_shows_kernel_rxe_ip_udp_conventions},
	{"test_capture_kernel_rxe_ids_are_recovered_from_the_icrc",
	 test_capture_kernel_rxe_ids_are_recovered_from_the_icrc},
	{NULL, NULL},
};

void sodp_tests_register(void)
{
	sodp_add_suite("crc32", NULL, NULL, crc32_tests);
	sodp_add_suite("psn", NULL, NULL, psn_tests);
	sodp_add_suite("opcode", NULL, NULL, opcode_tests);
	sodp_add_suite("hdr", NULL, NULL, hdr_tests);
	sodp_add_suite("parse", NULL, NULL, parse_tests);
	sodp_add_suite("icrc", NULL, NULL, icrc_tests);
	sodp_add_suite("captures", NULL, NULL, capture_tests);
}
