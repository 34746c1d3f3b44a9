/* SPDX-License-Identifier: MIT */
/*
 * softodp's per-device packet counters: what arrived, what was sent, and
 * every datagram dropped on the receive path, by reason.
 *
 * An unmodified program shows them too: with SOFTODP_STATS=1 in its
 * environment each device prints its counters to stderr when its last
 * context closes.
 */
#ifndef SOFTODP_DEVICE_H
#define SOFTODP_DEVICE_H

#include <stdint.h>

#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Why a received datagram was dropped. */
enum sodp_drop_reason {
	SODP_DROP_MALFORMED, /* the headers do not parse: truncated, bad version, reserved opcode */
	SODP_DROP_ADDR,	     /* a source or destination address of no known family */
	SODP_DROP_ICRC,	     /* ICRC mismatch */
	SODP_DROP_NO_QP,     /* no QP has the destination QPN */
	SODP_DROP_TRANSPORT, /* an opcode of another transport than the QP's */
	SODP_DROP_QP_STATE,  /* the QP takes no such packet in its state */
	SODP_DROP_SRC_ADDR,  /* RC/UC: not from the address the QP is connected to */
	SODP_DROP_DST_ADDR,  /* RC/UC: not addressed to the device's own address */
	SODP_DROP_PKEY,	     /* P_Key not of the QP's partition */
	SODP_DROP_QKEY,	     /* UD: not the QP's Q_Key */
	SODP_DROP_RESPONSE,  /* RC: a response to nothing outstanding, or outside its PSNs */
	SODP_DROP_NR,
};

struct sodp_device_counters {
	uint64_t rx_packets, tx_packets;
	uint64_t rx_dropped;	       /* the sum of drops[] */
	uint64_t drops[SODP_DROP_NR];  /* by enum sodp_drop_reason */
	uint64_t rx_icrc_id_recovered; /* IPv4 ICRCs verified with the sender's IP ID found */
	uint64_t rx_icrc_unverified;   /* accepted unchecked (SOFTODP_ICRC=off) */
	uint64_t tx_impair_dropped;    /* dropped on transmit by SOFTODP_IMPAIR */
};

/* The counters of @ctx's device: 0, or -EINVAL (NULL, not a softodp context). */
int sodp_device_get_counters(struct ibv_context *ctx, struct sodp_device_counters *c);

/* A short name for @reason ("malformed", "icrc", ...), or NULL. */
const char *sodp_drop_reason_name(enum sodp_drop_reason reason);

#ifdef __cplusplus
}
#endif

#endif
