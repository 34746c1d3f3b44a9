/* SPDX-License-Identifier: MIT */
/*
 * Limits of the soft RoCE NIC. query_device reports exactly these, and the
 * object code enforces them.
 */
#ifndef RXE_PARAM_H
#define RXE_PARAM_H

#define RXE_VENDOR_ID	   0x5350 /* not a registered IEEE OUI: perftest treats it as generic */
#define RXE_VENDOR_PART_ID 0x0001
#define RXE_HW_VER	   1
#define RXE_FW_VER	   "0.1.0"

#define RXE_MAX_MR_SIZE		(1ULL << 40)
#define RXE_MAX_MSG_SIZE	(1U << 31) /* a message's bytes (port max_msg_sz, IBA) */
#define RXE_PAGE_SIZE_CAP	(0x1000ULL | 0x200000ULL | 0x40000000ULL)
#define RXE_MAX_QP		4096 /* QPN table per device and process (rxe.h RXE_QP_TBL) */
#define RXE_MAX_QP_WR		0x4000
#define RXE_MAX_SGE		32
#define RXE_MAX_SGE_RD		32
#define RXE_MAX_INLINE_DATA	256
#define RXE_MAX_CQ		0x4000
#define RXE_MAX_CQE		0x8000
#define RXE_MAX_MR		0x40000
#define RXE_MAX_PD		0x10000
#define RXE_MAX_MW		0x10000 /* share the MR key table */
#define RXE_MAX_QP_RD_ATOM	128
#define RXE_MAX_RES_RD_ATOM	0x3f00
#define RXE_MAX_QP_INIT_RD_ATOM 128
#define RXE_MAX_AH		0x8000
#define RXE_MAX_SRQ		0x4000
#define RXE_MAX_SRQ_WR		0x4000
#define RXE_MAX_SRQ_SGE		27
#define RXE_MAX_PKEYS		1
#define RXE_MAX_GID		1
#define RXE_LOCAL_CA_ACK_DELAY	15
#define RXE_DEFAULT_PKEY	0xffff

#define RXE_ROCE_V2_PORT 4791

/*
 * UDP source ports, as kernel rxe picks them (net.c): RXE_SPORT_BASE plus
 * RXE_SPORT_BITS bits of a hash or of the folded 20-bit flow label.
 */
#define RXE_SPORT_BASE	    0xc000
#define RXE_SPORT_BITS	    14
#define RXE_SPORT_SLOTS	    (1u << RXE_SPORT_BITS)
#define RXE_FLOW_LABEL_MASK 0xfffff
/* Send-only sockets bound to a source port a device keeps open (net.c). */
#define RXE_MAX_SPORT_SOCKS 512
/* SO_SNDBUF and SO_RCVBUF of the device's sockets (net.c). */
#define RXE_SOCKBUF   (8 << 20)
#define RXE_QPN_FIRST 0x11     /* as kernel rxe: 0 and 1 are the special QPs */
#define RXE_QPN_LAST  0xfffffe /* 0xffffff is the multicast QPN */

/* A new QP's path MTU until ibv_modify_qp() sets one (kernel rxe's too). */
#define RXE_DEFAULT_PATH_MTU IBV_MTU_1024

/*
 * Widths of the QP attributes that are codes, not counts (IBA 11.2.4.2,
 * 9.7.5.2.8): the local ACK timeout and the RNR timer are 5-bit codes, the
 * retry and RNR retry counts 3-bit fields (7 = retry forever for RNR).
 */
#define RXE_MAX_TIMEOUT	  31
#define RXE_MAX_RNR_TIMER 31
#define RXE_MAX_RETRY_CNT 7

/* Headers a RoCEv2 packet may carry beyond the payload: rxe's allowance. */
#define RXE_MAX_HDR_LENGTH 80

/* The largest path MTU's payload (IBV_MTU_4096). */
#define RXE_MAX_MTU_BYTES 4096
/* A transmit buffer: headers, a full MTU, up to 3 pad bytes and the ICRC. */
#define RXE_PKT_BUF (RXE_MAX_HDR_LENGTH + RXE_MAX_MTU_BYTES + 8)
/*
 * A receive buffer: room beyond the largest valid packet, so that a longer
 * datagram is seen to be too long rather than cut to a plausible length.
 */
#define RXE_RXBUF (RXE_PKT_BUF + 64)
/* Control message room of one received datagram (IP_PKTINFO / IPV6_PKTINFO). */
#define RXE_RX_CMSG_BYTES 64
/* The GRH a UD receive WQE gets in front of the payload (IBA 11.4.1.2). */
#define RXE_GRH_LEN 40

/*
 * Transport limits of the requester and responder (req.c, resp.c, qp.c),
 * kernel rxe's where it has one.
 */
#define RXE_MAX_PKT_PER_ACK 64 /* AckReq at least every so many packets of a message */
#define RXE_RESPQ_SLACK	    32 /* response queue slots beyond two per responder resource */
/*
 * Unacknowledged RC request packets, per QP (kernel rxe's bound) and per
 * device. A UDP socket drops what its receive buffer cannot hold, and each
 * drop costs a go-back-N retransmission of everything sent behind it, so a
 * device keeps no more in flight than a receiver's buffer surely holds
 * (rxe_net_open() lowers RXE_DEV_MAX_INFLIGHT to it). A full-size packet
 * takes up to RXE_PKT_TRUESIZE bytes of that buffer; half of the buffer is
 * left for the other senders and the ACKs. With 1024 per QP and no device
 * bound, ib_write_bw -s 65536 between two processes lost 2 % of its packets
 * to the receiver's 8 MiB buffer and the responder dropped 15 % as out of
 * sequence behind them (ib_write_bw -s 65536 -q 16: 33 %).
 */
#define RXE_MAX_INFLIGHT     128
#define RXE_DEV_MAX_INFLIGHT 256
#define RXE_DEV_MIN_INFLIGHT 16
#define RXE_PKT_TRUESIZE     (9 << 10)
/* A WR's Q_Key with the high bit set means "the QP's own Q_Key" (IBA 10.2.5). */
#define RXE_QKEY_USE_QP 0x80000000u

/*
 * The engine's budgets per round (engine.c): a round is bounded so that
 * every QP gets its turn and a control verb waits at most one round.
 */
#define RXE_BATCH		 64	/* packets per recvmmsg() batch and transmit queue */
#define RXE_RX_BATCHES_PER_ROUND 8	/* receive batches of RXE_BATCH packets */
#define RXE_REQ_BUDGET		 64	/* packets a requester sends per round (req.c) */
#define RXE_REQ_RUN		 16	/* packets whose payloads one copy reads (req.c) */
#define RXE_RESP_BUDGET		 64	/* queued responses a responder sends per round (resp.c) */
#define RXE_ACK_HOLD_NS		 100000 /* an ACK waits for a post at most this long (resp.c) */
#define RXE_CALLER_ROUNDS	 4	/* rounds a posting or polling thread runs in a row */

/* resp.last_opcode between messages: a manufacturer-specific opcode (IBTA 9.2) never accepted */
#define RXE_OPCODE_NONE 0xff

#endif
