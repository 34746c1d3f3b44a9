// SPDX-License-Identifier: MIT
/*
 * RoCEv2 ICRC: rebuild the masked IP/UDP/BTH prefix from a header
 * description, then run one CRC over it and one over the rest of the packet.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "compiler.h"
#include "crc32.h"
#include "hdr.h"
#include "icrc.h"

#define IPV4_HDR_BYTES 20
#define IPV6_HDR_BYTES 40
#define UDP_HDR_BYTES  8
#define LRH_MASK_BYTES 8

/* Largest masked prefix: LRH stand-in + IPv6 + UDP + BTH. */
#define ICRC_PREFIX_MAX (LRH_MASK_BYTES + IPV6_HDR_BYTES + UDP_HDR_BYTES + RXE_BTH_BYTES)

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Writes the masked prefix for a packet whose UDP payload is @udp_payload bytes. */
static size_t icrc_prefix(uint8_t *b, const struct rxe_icrc_hdr *h, const void *bth, size_t bth_len,
			  size_t udp_payload)
{
	uint16_t udp_len = h->udp_len ? h->udp_len : (uint16_t)(UDP_HDR_BYTES + udp_payload);
	uint8_t proto = h->protocol ? h->protocol : IPPROTO_UDP;
	size_t n = 0;

	memset(b, 0xff, LRH_MASK_BYTES);
	n += LRH_MASK_BYTES;

	if (h->family == AF_INET6) {
		/* Version 6; traffic class and flow label masked. */
		b[n] = 0x6f;
		b[n + 1] = b[n + 2] = b[n + 3] = 0xff;
		put_be16(b + n + 4, h->ip_len ? h->ip_len : udp_len);
		b[n + 6] = proto;
		b[n + 7] = 0xff; /* hop limit */
		memcpy(b + n + 8, &h->saddr.v6, 16);
		memcpy(b + n + 24, &h->daddr.v6, 16);
		n += IPV6_HDR_BYTES;
	} else {
		b[n] = 0x45;	 /* version 4, IHL 5 */
		b[n + 1] = 0xff; /* TOS: DSCP/ECN change in flight */
		put_be16(b + n + 2, h->ip_len ? h->ip_len : (uint16_t)(IPV4_HDR_BYTES + udp_len));
		put_be16(b + n + 4, h->ip_id);
		put_be16(b + n + 6, h->frag_off);
		b[n + 8] = 0xff; /* TTL */
		b[n + 9] = proto;
		b[n + 10] = b[n + 11] = 0xff; /* header checksum */
		memcpy(b + n + 12, &h->saddr.v4, 4);
		memcpy(b + n + 16, &h->daddr.v4, 4);
		n += IPV4_HDR_BYTES;
	}

	put_be16(b + n, h->sport);
	put_be16(b + n + 2, h->dport);
	put_be16(b + n + 4, udp_len);
	b[n + 6] = b[n + 7] = 0xff; /* UDP checksum */
	n += UDP_HDR_BYTES;

	memcpy(b + n, bth, bth_len);
	if (bth_len > 4)
		b[n + 4] = 0xff; /* FECN/BECN/resv6: switches may set F and B */
	return n + bth_len;
}

uint32_t rxe_icrc_compute(const struct rxe_icrc_hdr *ip_udp, const void *bth_and_payload,
			  size_t len)
{
	uint8_t prefix[ICRC_PREFIX_MAX];
	size_t bth_len = len < RXE_BTH_BYTES ? len : RXE_BTH_BYTES;
	size_t n = icrc_prefix(prefix, ip_udp, bth_and_payload, bth_len, len + RXE_ICRC_BYTES);
	uint32_t crc;

	crc = sodp_crc32(0, prefix, n);
	return sodp_crc32(crc, (const uint8_t *)bth_and_payload + bth_len, len - bth_len);
}

void rxe_icrc_append(const struct rxe_icrc_hdr *ip_udp, void *pkt, size_t len)
{
	uint32_t icrc = htole32(rxe_icrc_compute(ip_udp, pkt, len));

	memcpy((uint8_t *)pkt + len, &icrc, sizeof(icrc));
}

int rxe_icrc_verify(const struct rxe_icrc_hdr *ip_udp, const void *pkt, size_t len)
{
	uint32_t icrc;

	if (len < RXE_BTH_BYTES + RXE_ICRC_BYTES)
		return -EMSGSIZE;
	memcpy(&icrc, (const uint8_t *)pkt + len - RXE_ICRC_BYTES, sizeof(icrc));
	if (le32toh(icrc) != rxe_icrc_compute(ip_udp, pkt, len - RXE_ICRC_BYTES))
		return -EBADMSG;
	return 0;
}

/*
 * Recovering the IPv4 Identification. CRC-32 is affine over GF(2): for two
 * streams of one length, crc(a ^ b) = crc(a) ^ crc(b) ^ crc(zeros). So
 * flipping bit b of the ID changes the ICRC by delta_b, which depends only
 * on the stream's length, and the ICRC of ID x differs from that of ID 0 by
 * the XOR of the delta_b of x's bits. Given the difference d between the
 * ICRC received and the one computed with ID 0, x solves a 32 x 16 linear
 * system. The deltas are kept reduced (each row owns a pivot bit no other
 * row has), per stream length, in a small per-thread cache: a connection
 * sends a handful of lengths.
 */
#define ID_BITS	   16
#define ID_OFFSET  (LRH_MASK_BYTES + 4) /* of the ID in the ICRC's stream */
#define ID_CACHE   8
#define ZERO_CHUNK 4096

struct id_basis {
	size_t n; /* stream length; 0: empty slot */
	int rows;
	uint32_t row[ID_BITS], pivot[ID_BITS];
	uint16_t comb[ID_BITS]; /* the ID bits a row stands for */
};

static __thread struct id_basis id_cache[ID_CACHE];
static __thread unsigned int id_cache_next;

/* The CRC of @n bytes: @head (ID_OFFSET + 2 bytes), then zeros. */
static uint32_t crc_head_then_zeros(const uint8_t *head, size_t n)
{
	static const uint8_t zeros[ZERO_CHUNK];
	uint32_t crc = sodp_crc32(0, head, ID_OFFSET + 2);

	for (n -= ID_OFFSET + 2; n; n -= SODP_MIN(n, sizeof(zeros)))
		crc = sodp_crc32(crc, zeros, SODP_MIN(n, sizeof(zeros)));
	return crc;
}

static void id_basis_add(struct id_basis *B, uint32_t v, uint16_t c)
{
	int i;

	for (i = 0; i < B->rows; i++)
		if (v & B->pivot[i]) {
			v ^= B->row[i];
			c ^= B->comb[i];
		}
	if (!v)
		return; /* dependent: another ID gives the same ICRC */
	B->pivot[B->rows] = v & -v;
	for (i = 0; i < B->rows; i++)
		if (B->row[i] & B->pivot[B->rows]) {
			B->row[i] ^= v;
			B->comb[i] ^= c;
		}
	B->row[B->rows] = v;
	B->comb[B->rows++] = c;
}

static const struct id_basis *id_basis_of(size_t n)
{
	uint8_t head[ID_OFFSET + 2] = {0};
	struct id_basis *B;
	uint32_t zero;
	int b, i;

	for (i = 0; i < ID_CACHE; i++)
		if (id_cache[i].n == n)
			return &id_cache[i];
	B = &id_cache[id_cache_next++ % ID_CACHE];
	memset(B, 0, sizeof(*B));
	zero = crc_head_then_zeros(head, n);
	for (b = 0; b < ID_BITS; b++) {
		head[ID_OFFSET + (b < 8)] = (uint8_t)(1u << (b % 8)); /* big-endian ID */
		id_basis_add(B, crc_head_then_zeros(head, n) ^ zero, (uint16_t)(1u << b));
		head[ID_OFFSET + (b < 8)] = 0;
	}
	B->n = n;
	return B;
}

/* The ID whose ICRC differs by @d from that of ID 0, over a @len-byte UDP payload. */
static int id_from_difference(size_t len, uint32_t d, uint16_t *id)
{
	const struct id_basis *B =
		id_basis_of(LRH_MASK_BYTES + IPV4_HDR_BYTES + UDP_HDR_BYTES + len);
	uint16_t x = 0;
	int i;

	for (i = 0; i < B->rows; i++)
		if (d & B->pivot[i]) {
			d ^= B->row[i];
			x ^= B->comb[i];
		}
	if (d)
		return -EBADMSG;
	*id = x;
	return 0;
}

/* The ICRC at the end of @len bytes and the one @h gives them; -EMSGSIZE when too short. */
static int icrc_pair(const struct rxe_icrc_hdr *h, const void *pkt, size_t len, uint32_t *got,
		     uint32_t *want)
{
	uint32_t icrc;

	if (len < RXE_BTH_BYTES + RXE_ICRC_BYTES)
		return -EMSGSIZE;
	memcpy(&icrc, (const uint8_t *)pkt + len - RXE_ICRC_BYTES, sizeof(icrc));
	*got = le32toh(icrc);
	*want = rxe_icrc_compute(h, pkt, len - RXE_ICRC_BYTES);
	return 0;
}

int rxe_icrc_recover_id(const struct rxe_icrc_hdr *ip_udp, const void *pkt, size_t len,
			uint16_t *id)
{
	struct rxe_icrc_hdr h = *ip_udp;
	uint32_t got, want;
	int ret;

	if (h.family == AF_INET6)
		return -EAFNOSUPPORT;
	h.ip_id = 0;
	ret = icrc_pair(&h, pkt, len, &got, &want);
	return ret ? ret : id_from_difference(len - RXE_ICRC_BYTES, got ^ want, id);
}

int rxe_icrc_check(const struct rxe_icrc_hdr *ip_udp, const void *pkt, size_t len,
		   enum rxe_icrc_policy policy)
{
	struct rxe_icrc_hdr h;
	uint32_t got, want;
	uint16_t id;
	int ret;

	switch (policy) {
	case RXE_ICRC_SKIP:
		return RXE_ICRC_UNVERIFIED;
	case RXE_ICRC_RECOVER_ID:
		if (ip_udp->family == AF_INET6)
			return rxe_icrc_verify(ip_udp, pkt, len);
		h = *ip_udp;
		h.ip_id = 0;
		h.frag_off = RXE_IP_DF;
		ret = icrc_pair(&h, pkt, len, &got, &want);
		if (ret || got == want)
			return ret;
		ret = id_from_difference(len - RXE_ICRC_BYTES, got ^ want, &id);
		return ret ? ret : RXE_ICRC_ID_RECOVERED;
	case RXE_ICRC_STRICT:
	default:
		return rxe_icrc_verify(ip_udp, pkt, len);
	}
}

static bool sockaddr_v4(const struct sockaddr *sa, struct in_addr *out, uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		*out = sin->sin_addr;
		*port = be16toh(sin->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(out, &sin6->sin6_addr.s6_addr[12], 4);
			*port = be16toh(sin6->sin6_port);
			return true;
		}
	}
	return false;
}

int rxe_icrc_hdr_from_sockaddr(struct rxe_icrc_hdr *h, const struct sockaddr *src,
			       const struct sockaddr *dst)
{
	bool v4_src, v4_dst;

	memset(h, 0, sizeof(*h));
	h->protocol = IPPROTO_UDP;
	v4_src = sockaddr_v4(src, &h->saddr.v4, &h->sport);
	v4_dst = sockaddr_v4(dst, &h->daddr.v4, &h->dport);
	if (v4_src && v4_dst) {
		h->family = AF_INET;
		h->frag_off = RXE_IP_DF;
		return 0;
	}
	if (v4_src || v4_dst || src->sa_family != AF_INET6 || dst->sa_family != AF_INET6)
		return -EAFNOSUPPORT;

	h->family = AF_INET6;
	h->saddr.v6 = ((const struct sockaddr_in6 *)src)->sin6_addr;
	h->daddr.v6 = ((const struct sockaddr_in6 *)dst)->sin6_addr;
	h->sport = be16toh(((const struct sockaddr_in6 *)src)->sin6_port);
	h->dport = be16toh(((const struct sockaddr_in6 *)dst)->sin6_port);
	return 0;
}

int rxe_icrc_hdr_from_ip(const void *l3, size_t len, struct rxe_icrc_hdr *h)
{
	const uint8_t *b = l3;
	size_t hl;

	if (len < 1)
		return -EMSGSIZE;
	memset(h, 0, sizeof(*h));
	switch (b[0] >> 4) {
	case 4:
		hl = IPV4_HDR_BYTES;
		if (len < hl + UDP_HDR_BYTES)
			return -EMSGSIZE;
		if ((b[0] & 0x0f) != 5 || b[9] != IPPROTO_UDP)
			return -EPROTONOSUPPORT;
		h->family = AF_INET;
		h->ip_len = get_be16(b + 2);
		h->ip_id = get_be16(b + 4);
		h->frag_off = get_be16(b + 6);
		h->protocol = b[9];
		memcpy(&h->saddr.v4, b + 12, 4);
		memcpy(&h->daddr.v4, b + 16, 4);
		break;
	case 6:
		hl = IPV6_HDR_BYTES;
		if (len < hl + UDP_HDR_BYTES)
			return -EMSGSIZE;
		if (b[6] != IPPROTO_UDP)
			return -EPROTONOSUPPORT;
		h->family = AF_INET6;
		h->ip_len = get_be16(b + 4);
		h->protocol = b[6];
		memcpy(&h->saddr.v6, b + 8, 16);
		memcpy(&h->daddr.v6, b + 24, 16);
		break;
	default:
		return -EPROTONOSUPPORT;
	}
	h->sport = get_be16(b + hl);
	h->dport = get_be16(b + hl + 2);
	h->udp_len = get_be16(b + hl + 4);
	return (int)(hl + UDP_HDR_BYTES);
}
