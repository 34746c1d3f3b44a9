/* SPDX-License-Identifier: MIT */
/*
 * CRC-32 with the IEEE 802.3 polynomial 0x04C11DB7 in its reflected form
 * (0xEDB88320): the CRC of Ethernet, zlib and the InfiniBand invariant CRC.
 */
#ifndef SODP_UTIL_CRC32_H
#define SODP_UTIL_CRC32_H

#include <stddef.h>
#include <stdint.h>

/**
 * sodp_crc32 - update a CRC-32 with @len bytes at @buf
 * @crc: 0 to start, or the value a previous call returned
 *
 * Same convention as zlib's crc32(): the initial all-ones register and the
 * final inversion are applied inside, so a message may be fed in pieces:
 * sodp_crc32(sodp_crc32(0, a, n), b, m) == CRC of a||b. The check value of
 * "123456789" is 0xCBF43926.
 *
 * Uses carry-less multiplication (PCLMULQDQ) on x86-64 CPUs that have it,
 * else slice-by-8 tables. Thread safe; callable from constructors.
 */
uint32_t sodp_crc32(uint32_t crc, const void *buf, size_t len);

/* The slice-by-8 table path alone, whatever the CPU; for tests and benchmarks. */
uint32_t sodp_crc32_table(uint32_t crc, const void *buf, size_t len);

/* True when sodp_crc32() uses the carry-less multiply path on this CPU. */
int sodp_crc32_accelerated(void);

#endif
