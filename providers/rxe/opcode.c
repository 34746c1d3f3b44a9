// SPDX-License-Identifier: MIT
/*
 * The opcode table. Header offsets and lengths are derived from the mask at
 * compile time, from the fixed order in which IBA 9.2 places the extension
 * headers, so that a mask and its layout can never disagree.
 */
#include "opcode.h"

#define HSZ(m, h)     (((m)&RXE_##h##_MASK) ? RXE_##h##_BYTES : 0)
#define OFF_RDETH(m)  RXE_BTH_BYTES
#define OFF_DETH(m)   (OFF_RDETH(m) + HSZ(m, RDETH))
#define OFF_RETH(m)   (OFF_DETH(m) + HSZ(m, DETH))
#define OFF_ATMETH(m) (OFF_RETH(m) + HSZ(m, RETH))
#define OFF_AETH(m)   (OFF_ATMETH(m) + HSZ(m, ATMETH))
#define OFF_ATMACK(m) (OFF_AETH(m) + HSZ(m, AETH))
#define OFF_IMMDT(m)  (OFF_ATMACK(m) + HSZ(m, ATMACK))
#define OFF_IETH(m)   (OFF_IMMDT(m) + HSZ(m, IMMDT))
#define HDR_LEN(m)    (OFF_IETH(m) + HSZ(m, IETH))
#define OFF_IF(m, h)  (((m)&RXE_##h##_MASK) ? OFF_##h(m) : 0)

#define OPCODE(op, str, m)                                        \
	[op] = {                                                  \
		.name = str,                                      \
		.mask = (m),                                      \
		.length = HDR_LEN(m),                             \
		.offset =                                         \
			{                                         \
				[RXE_RDETH] = OFF_IF(m, RDETH),   \
				[RXE_DETH] = OFF_IF(m, DETH),     \
				[RXE_RETH] = OFF_IF(m, RETH),     \
				[RXE_ATMETH] = OFF_IF(m, ATMETH), \
				[RXE_AETH] = OFF_IF(m, AETH),     \
				[RXE_ATMACK] = OFF_IF(m, ATMACK), \
				[RXE_IMMDT] = OFF_IF(m, IMMDT),   \
				[RXE_IETH] = OFF_IF(m, IETH),     \
			},                                        \
	}

/* Masks of the operations, before the transport adds its headers. */
#define M_REQ_DATA     (RXE_PAYLOAD_MASK | RXE_REQ_MASK)
#define M_SEND_FIRST   (M_REQ_DATA | RXE_SEND_MASK | RXE_RWR_MASK | RXE_START_MASK)
#define M_SEND_MIDDLE  (M_REQ_DATA | RXE_SEND_MASK | RXE_MIDDLE_MASK)
#define M_SEND_LAST    (M_REQ_DATA | RXE_SEND_MASK | RXE_COMP_MASK | RXE_END_MASK)
#define M_SEND_ONLY    (M_SEND_FIRST | M_SEND_LAST)
#define M_WRITE_FIRST  (M_REQ_DATA | RXE_RETH_MASK | RXE_WRITE_MASK | RXE_START_MASK)
#define M_WRITE_MIDDLE (M_REQ_DATA | RXE_WRITE_MASK | RXE_MIDDLE_MASK)
#define M_WRITE_LAST   (M_REQ_DATA | RXE_WRITE_MASK | RXE_END_MASK)
#define M_WRITE_ONLY   (M_WRITE_FIRST | RXE_END_MASK)
/* RDMA WRITE with immediate consumes and completes a receive WQE at its end. */
#define M_IMM_COMP    (RXE_IMMDT_MASK | RXE_RWR_MASK | RXE_COMP_MASK)
#define M_READ_REQ    (RXE_RETH_MASK | RXE_REQ_MASK | RXE_READ_MASK | RXE_ONLY_MASK)
#define M_READ_FIRST  (RXE_AETH_MASK | RXE_PAYLOAD_MASK | RXE_ACK_MASK | RXE_START_MASK)
#define M_READ_MIDDLE (RXE_PAYLOAD_MASK | RXE_ACK_MASK | RXE_MIDDLE_MASK)
#define M_READ_LAST   (RXE_AETH_MASK | RXE_PAYLOAD_MASK | RXE_ACK_MASK | RXE_END_MASK)
#define M_READ_ONLY   (M_READ_FIRST | RXE_END_MASK)
#define M_ACK	      (RXE_AETH_MASK | RXE_ACK_MASK | RXE_ONLY_MASK)
#define M_ATOMIC_ACK  (M_ACK | RXE_ATMACK_MASK)
#define M_ATOMIC      (RXE_ATMETH_MASK | RXE_REQ_MASK | RXE_ATOMIC_MASK | RXE_ONLY_MASK)
#define M_ATOMIC_WRITE \
	(RXE_RETH_MASK | RXE_PAYLOAD_MASK | RXE_REQ_MASK | RXE_ATOMIC_WRITE_MASK | RXE_ONLY_MASK)

/* The operations UC shares with RC (sends and writes). */
#define SEND_WRITE_OPS(T, X)                                                                       \
	OPCODE(IB_OPCODE_##T##_SEND_FIRST, #T "_SEND_FIRST", X | M_SEND_FIRST),                    \
		OPCODE(IB_OPCODE_##T##_SEND_MIDDLE, #T "_SEND_MIDDLE", X | M_SEND_MIDDLE),         \
		OPCODE(IB_OPCODE_##T##_SEND_LAST, #T "_SEND_LAST", X | M_SEND_LAST),               \
		OPCODE(IB_OPCODE_##T##_SEND_LAST_WITH_IMMEDIATE, #T "_SEND_LAST_IMM",              \
		       X | M_SEND_LAST | RXE_IMMDT_MASK),                                          \
		OPCODE(IB_OPCODE_##T##_SEND_ONLY, #T "_SEND_ONLY", X | M_SEND_ONLY),               \
		OPCODE(IB_OPCODE_##T##_SEND_ONLY_WITH_IMMEDIATE, #T "_SEND_ONLY_IMM",              \
		       X | M_SEND_ONLY | RXE_IMMDT_MASK),                                          \
		OPCODE(IB_OPCODE_##T##_RDMA_WRITE_FIRST, #T "_WRITE_FIRST", X | M_WRITE_FIRST),    \
		OPCODE(IB_OPCODE_##T##_RDMA_WRITE_MIDDLE, #T "_WRITE_MIDDLE", X | M_WRITE_MIDDLE), \
		OPCODE(IB_OPCODE_##T##_RDMA_WRITE_LAST, #T "_WRITE_LAST", X | M_WRITE_LAST),       \
		OPCODE(IB_OPCODE_##T##_RDMA_WRITE_LAST_WITH_IMMEDIATE, #T "_WRITE_LAST_IMM",       \
		       X | M_WRITE_LAST | M_IMM_COMP),                                             \
		OPCODE(IB_OPCODE_##T##_RDMA_WRITE_ONLY, #T "_WRITE_ONLY", X | M_WRITE_ONLY),       \
		OPCODE(IB_OPCODE_##T##_RDMA_WRITE_ONLY_WITH_IMMEDIATE, #T "_WRITE_ONLY_IMM",       \
		       X | M_WRITE_ONLY | M_IMM_COMP)

/* READ and atomics, which only the acknowledged transports (RC, RD) have. */
#define READ_ATOMIC_OPS(T, XQ, XA)                                                               \
	OPCODE(IB_OPCODE_##T##_RDMA_READ_REQUEST, #T "_READ_REQUEST", XQ | M_READ_REQ),          \
		OPCODE(IB_OPCODE_##T##_RDMA_READ_RESPONSE_FIRST, #T "_READ_RESP_FIRST",          \
		       XA | M_READ_FIRST),                                                       \
		OPCODE(IB_OPCODE_##T##_RDMA_READ_RESPONSE_MIDDLE, #T "_READ_RESP_MIDDLE",        \
		       XA | M_READ_MIDDLE),                                                      \
		OPCODE(IB_OPCODE_##T##_RDMA_READ_RESPONSE_LAST, #T "_READ_RESP_LAST",            \
		       XA | M_READ_LAST),                                                        \
		OPCODE(IB_OPCODE_##T##_RDMA_READ_RESPONSE_ONLY, #T "_READ_RESP_ONLY",            \
		       XA | M_READ_ONLY),                                                        \
		OPCODE(IB_OPCODE_##T##_ACKNOWLEDGE, #T "_ACK", XA | M_ACK),                      \
		OPCODE(IB_OPCODE_##T##_ATOMIC_ACKNOWLEDGE, #T "_ATOMIC_ACK", XA | M_ATOMIC_ACK), \
		OPCODE(IB_OPCODE_##T##_COMPARE_SWAP, #T "_CMP_SWAP", XQ | M_ATOMIC),             \
		OPCODE(IB_OPCODE_##T##_FETCH_ADD, #T "_FETCH_ADD", XQ | M_ATOMIC)

/* RD requests carry RDETH (EE context) and DETH (Q_Key, source QP). */
#define RD_REQ (RXE_RDETH_MASK | RXE_DETH_MASK)

const struct rxe_opcode_info rxe_opcode[256] = {
	SEND_WRITE_OPS(RC, 0),
	READ_ATOMIC_OPS(RC, 0, 0),
	OPCODE(IB_OPCODE_RC_SEND_LAST_WITH_INVALIDATE, "RC_SEND_LAST_INV",
	       M_SEND_LAST | RXE_IETH_MASK),
	OPCODE(IB_OPCODE_RC_SEND_ONLY_WITH_INVALIDATE, "RC_SEND_ONLY_INV",
	       M_SEND_ONLY | RXE_IETH_MASK),
	OPCODE(IB_OPCODE_RC_ATOMIC_WRITE, "RC_ATOMIC_WRITE", M_ATOMIC_WRITE),

	SEND_WRITE_OPS(UC, 0),

	SEND_WRITE_OPS(RD, RD_REQ),
	READ_ATOMIC_OPS(RD, RD_REQ, RXE_RDETH_MASK),
	OPCODE(IB_OPCODE_RD_RESYNC, "RD_RESYNC", RD_REQ | RXE_REQ_MASK | RXE_ONLY_MASK),

	OPCODE(IB_OPCODE_UD_SEND_ONLY, "UD_SEND_ONLY", RXE_DETH_MASK | M_SEND_ONLY),
	OPCODE(IB_OPCODE_UD_SEND_ONLY_WITH_IMMEDIATE, "UD_SEND_ONLY_IMM",
	       RXE_DETH_MASK | M_SEND_ONLY | RXE_IMMDT_MASK),
};

const char *rxe_opcode_name(uint8_t opcode)
{
	const char *name = rxe_opcode[opcode].name;

	return name ? name : "UNKNOWN";
}
