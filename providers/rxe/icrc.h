/* SPDX-License-Identifier: MIT */
/*
 * The RoCEv2 invariant CRC (IBA Annex A17.3.3, as kernel rxe computes it).
 *
 * ICRC = CRC-32 (IEEE, zlib convention) over
 *	8 bytes of 0xff			(stands for the LRH RoCEv2 does not have)
 *	IPv4 header, 20 bytes		TOS, TTL, header checksum set to all ones
 *	  or IPv6 header, 40 bytes	traffic class, flow label, hop limit all ones
 *	UDP header			checksum set to all ones
 *	BTH				byte 4 (F/B bits + resv6) set to all ones
 *	the rest of the UDP payload up to the ICRC (ext headers, payload, pad)
 * and sent as the four bytes of that 32-bit value, least significant first.
 *
 * Everything else in the IP header is covered, notably the IPv4 total
 * length, Identification and flags/fragment offset, and the addresses.
 *
 * softodp sends and receives through ordinary UDP sockets, so it never holds
 * the IP header: it describes it (struct rxe_icrc_hdr) and the CRC is
 * computed over a header rebuilt from that description.
 *
 * What a sender must guarantee for its ICRC to verify at the peer: the IP
 * header the kernel emits has to match the description. With IPv4 that
 * means a socket with IP_MTU_DISCOVER = IP_PMTUDISC_DO (DF set, so no
 * fragmentation) that is NOT connected: Linux then sends Identification 0
 * for DF datagrams (ip_select_ident()); a connected socket would count the
 * ID up from a random start. IPv4 options must not be set (IHL 5 assumed).
 *
 * What a receiver can verify: addresses and ports (recvmsg() name plus
 * IP_PKTINFO / IPV6_RECVPKTINFO for the local address) and lengths (from the
 * datagram size) are known. For IPv6 that is everything, so the ICRC can
 * always be checked. For IPv4 the peer's Identification and DF bit are not
 * visible to a UDP socket: a softodp peer sends ID 0 with DF, but kernel rxe
 * (captures/kernel-rxe-6.1) sends DF with an ID that increments per packet,
 * so its ICRC cannot be checked directly; the ID is recovered from the ICRC
 * instead (RXE_ICRC_RECOVER_ID). The caller picks the policy (enum
 * rxe_icrc_policy) per device.
 */
#ifndef RXE_ICRC_H
#define RXE_ICRC_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define RXE_IP_DF 0x4000 /* IPv4 "don't fragment", in frag_off */

/* The IP and UDP header fields the ICRC covers, all in host byte order. */
struct rxe_icrc_hdr {
	sa_family_t family; /* AF_INET6, else IPv4 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} saddr, daddr;
	uint16_t sport;
	uint16_t dport;	   /* RXE_ROCE_V2_PORT (4791) */
	uint16_t ip_id;	   /* IPv4 Identification */
	uint16_t frag_off; /* IPv4 flags + fragment offset: RXE_IP_DF */
	uint8_t protocol;  /* IPv4 protocol / IPv6 next header; 0 means UDP */
	/*
	 * Lengths as they appear in the headers, 0 to derive them from the
	 * packet (UDP length = 8 + UDP payload; IPv4 total length = 20 + UDP
	 * length; IPv6 payload length = UDP length). Only for checking packets
	 * whose headers say otherwise (e.g. captures with trailing bytes).
	 */
	uint16_t udp_len;
	uint16_t ip_len;
};

/*
 * Fills @h for a datagram from @src to @dst the way softodp sends it: UDP
 * to port 4791, IPv4 ID 0 and DF. IPv4-mapped IPv6 addresses (RoCEv2 GIDs
 * of IPv4 ports, ::ffff:a.b.c.d) give an IPv4 header, as on the wire.
 * The ports of @src/@dst are used as given (sin_port, network order).
 * Returns 0, or -EAFNOSUPPORT for other families / mixed families.
 */
int rxe_icrc_hdr_from_sockaddr(struct rxe_icrc_hdr *h, const struct sockaddr *src,
			       const struct sockaddr *dst);

/*
 * Fills @h from a real IPv4 (IHL 5) or IPv6 header followed by UDP, as read
 * from a raw socket or a capture. Returns the offset of the BTH from @l3, or
 * -EMSGSIZE (truncated), -EPROTONOSUPPORT (not IPv4/IPv6, IPv4 options,
 * IPv6 extension headers, not UDP).
 */
int rxe_icrc_hdr_from_ip(const void *l3, size_t len, struct rxe_icrc_hdr *h);

/**
 * rxe_icrc_compute - the ICRC of one packet
 * @ip_udp: the headers the packet travels in
 * @bth_and_payload: the UDP payload, starting at the BTH
 * @len: its length up to, not including, the ICRC (at least the BTH)
 *
 * Returns the CRC value; on the wire it is stored little-endian.
 */
uint32_t rxe_icrc_compute(const struct rxe_icrc_hdr *ip_udp, const void *bth_and_payload,
			  size_t len);

/* Computes the ICRC of the @len bytes at @pkt and stores it at @pkt + @len. */
void rxe_icrc_append(const struct rxe_icrc_hdr *ip_udp, void *pkt, size_t len);

/*
 * Checks the ICRC at the end of the @len-byte UDP payload @pkt (ICRC
 * included). Returns 0 if it matches, -EBADMSG if not, -EMSGSIZE if @len
 * cannot hold a BTH and an ICRC.
 */
int rxe_icrc_verify(const struct rxe_icrc_hdr *ip_udp, const void *pkt, size_t len);

enum rxe_icrc_policy {
	/* Verify with @ip_udp as given; a mismatch drops the packet. Right
	 * for IPv6, raw sockets, and IPv4 peers known to send ID 0 + DF. */
	RXE_ICRC_STRICT,
	/*
	 * IPv4: verify assuming the peer sent ID 0 + DF (softodp does); if
	 * that fails, find the Identification the peer used (kernel rxe
	 * counts it up per packet): the CRC is linear in it, so the ID, if
	 * one exists, follows from the difference (rxe_icrc_recover_id()).
	 * No ID gives the ICRC received: dropped. A packet corrupted anywhere
	 * else still passes with probability 2^-16 (16 of the 32 check bits
	 * go to the unknown ID). IPv6: same as STRICT.
	 */
	RXE_ICRC_RECOVER_ID,
	/* Do not look at the ICRC. */
	RXE_ICRC_SKIP,
};

enum {
	RXE_ICRC_OK = 0,	   /* verified */
	RXE_ICRC_UNVERIFIED = 1,   /* accepted without a check, by policy */
	RXE_ICRC_ID_RECOVERED = 2, /* verified with an IPv4 ID other than 0 */
};

/*
 * rxe_icrc_recover_id - the IPv4 Identification an ICRC was computed with
 * @ip_udp: the headers, as the receiver knows them (ip_id is ignored)
 * @pkt, @len: the UDP payload, ICRC included
 * @id: the Identification found
 *
 * Returns 0 and *id, -EBADMSG when no Identification gives the ICRC, or
 * -EMSGSIZE / -EAFNOSUPPORT (IPv6 has no Identification).
 */
int rxe_icrc_recover_id(const struct rxe_icrc_hdr *ip_udp, const void *pkt, size_t len,
			uint16_t *id);

/*
 * rxe_icrc_check - apply @policy to a received packet
 *
 * Returns RXE_ICRC_OK, RXE_ICRC_ID_RECOVERED, RXE_ICRC_UNVERIFIED (SKIP),
 * or a negative errno as from rxe_icrc_verify() when the packet must be
 * dropped.
 */
int rxe_icrc_check(const struct rxe_icrc_hdr *ip_udp, const void *pkt, size_t len,
		   enum rxe_icrc_policy policy);

#endif
