// SPDX-License-Identifier: MIT
/*
 * CRC-32 (IEEE 802.3, reflected). Two implementations share one register
 * convention: the state passed between the helpers below is the raw shift
 * register (already inverted on entry), and sodp_crc32() does the zlib-style
 * inversion once at each end.
 *
 * - slice-by-8: eight 256-entry tables let the loop consume 8 bytes with 8
 *   independent lookups, about 1 cycle/byte and portable.
 * - PCLMULQDQ folding (Intel, "Fast CRC Computation for Generic Polynomials
 *   Using PCLMULQDQ Instruction", 2009): four 128-bit lanes are folded
 *   forward by 512 bits per step with carry-less multiplies by x^k mod P,
 *   then reduced to 32 bits with Barrett's method. On 1-4 KiB packets it
 *   runs the ICRC at 9-12 GB/s against 2 GB/s for the tables (bench_icrc);
 *   below 64 bytes the tables are used.
 */
#include <pthread.h>
#include <string.h>
#include <endian.h>

#include "crc32.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SODP_CRC32_HAVE_CLMUL 1
#endif

#define CRC32_POLY_REFLECTED 0xedb88320u

static uint32_t crc32_tab[8][256];
static int crc32_use_clmul;
static pthread_once_t crc32_once = PTHREAD_ONCE_INIT;

static void crc32_init(void)
{
	unsigned int i, k;

	for (i = 0; i < 256; i++) {
		uint32_t c = i;

		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32_POLY_REFLECTED : c >> 1;
		crc32_tab[0][i] = c;
	}
	/* tab[k][b]: the effect of byte b followed by k zero bytes. */
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++)
			crc32_tab[k][i] = (crc32_tab[k - 1][i] >> 8) ^
					  crc32_tab[0][crc32_tab[k - 1][i] & 0xff];
#ifdef SODP_CRC32_HAVE_CLMUL
	__builtin_cpu_init();
	crc32_use_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

static uint32_t crc32_bytes(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = (crc >> 8) ^ crc32_tab[0][(crc ^ *p++) & 0xff];
	return crc;
}

static uint32_t crc32_slice8(uint32_t crc, const uint8_t *p, size_t len)
{
#if __BYTE_ORDER == __LITTLE_ENDIAN
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v));
		v ^= crc;
		crc = crc32_tab[7][v & 0xff] ^ crc32_tab[6][(v >> 8) & 0xff] ^
		      crc32_tab[5][(v >> 16) & 0xff] ^ crc32_tab[4][(v >> 24) & 0xff] ^
		      crc32_tab[3][(v >> 32) & 0xff] ^ crc32_tab[2][(v >> 40) & 0xff] ^
		      crc32_tab[1][(v >> 48) & 0xff] ^ crc32_tab[0][v >> 56];
		p += 8;
		len -= 8;
	}
#endif
	return crc32_bytes(crc, p, len);
}

#ifdef SODP_CRC32_HAVE_CLMUL
/*
 * Folding constants for P = 0x104C11DB7 in the bit-reflected domain, each
 * (x^n mod P) reflected and shifted left by one: k1/k2 fold 512 bits
 * (n = 4*128+32, 4*128-32), k3/k4 fold 128 bits (n = 128+32, 128-32), k5
 * reduces 96 bits to 64 (n = 64). mu = floor(x^64 / P) and P itself, both
 * reflected, drive the final Barrett reduction.
 */
#define CRC32_K1 0x154442bd4ULL
#define CRC32_K2 0x1c6e41596ULL
#define CRC32_K3 0x1751997d0ULL
#define CRC32_K4 0x0ccaa009eULL
#define CRC32_K5 0x163cd6124ULL
#define CRC32_MU 0x1f7011641ULL
#define CRC32_P	 0x1db710641ULL

/* Folds @len bytes, a multiple of 16 and at least 64, into @crc. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_clmul(uint32_t crc, const uint8_t *p,
								     size_t len)
{
	const __m128i k1k2 = _mm_set_epi64x(CRC32_K2, CRC32_K1);
	const __m128i k3k4 = _mm_set_epi64x(CRC32_K4, CRC32_K3);
	const __m128i k5 = _mm_set_epi64x(0, CRC32_K5);
	const __m128i poly = _mm_set_epi64x(CRC32_MU, CRC32_P);
	const __m128i mask32 = _mm_set_epi32(0, -1, 0, -1);
	__m128i x1, x2, x3, x4, t1, t2, t3, t4;

	x1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)crc));
	x2 = _mm_loadu_si128((const __m128i *)(p + 16));
	x3 = _mm_loadu_si128((const __m128i *)(p + 32));
	x4 = _mm_loadu_si128((const __m128i *)(p + 48));
	p += 64;
	len -= 64;

	/* Four independent lanes keep the multiplier pipeline full. */
	while (len >= 64) {
		t1 = _mm_clmulepi64_si128(x1, k1k2, 0x00);
		t2 = _mm_clmulepi64_si128(x2, k1k2, 0x00);
		t3 = _mm_clmulepi64_si128(x3, k1k2, 0x00);
		t4 = _mm_clmulepi64_si128(x4, k1k2, 0x00);
		x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
		x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
		x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
		x4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, t1), _mm_loadu_si128((const __m128i *)p));
		x2 = _mm_xor_si128(_mm_xor_si128(x2, t2),
				   _mm_loadu_si128((const __m128i *)(p + 16)));
		x3 = _mm_xor_si128(_mm_xor_si128(x3, t3),
				   _mm_loadu_si128((const __m128i *)(p + 32)));
		x4 = _mm_xor_si128(_mm_xor_si128(x4, t4),
				   _mm_loadu_si128((const __m128i *)(p + 48)));
		p += 64;
		len -= 64;
	}

	/* Four lanes into one, then one 128-bit block at a time. */
	t1 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
	x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, t1), x2);
	t1 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
	x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, t1), x3);
	t1 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
	x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
	x1 = _mm_xor_si128(_mm_xor_si128(x1, t1), x4);
	while (len >= 16) {
		t1 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
		x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, t1), _mm_loadu_si128((const __m128i *)p));
		p += 16;
		len -= 16;
	}

	/* 128 -> 96 bits (k4), 96 -> 64 bits (k5). */
	t1 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
	x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t1);
	t1 = _mm_srli_si128(x1, 4);
	x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5, 0x00);
	x1 = _mm_xor_si128(x1, t1);

	/* Barrett: 64 -> 32 bits. */
	t1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10);
	t1 = _mm_clmulepi64_si128(_mm_and_si128(t1, mask32), poly, 0x00);
	x1 = _mm_xor_si128(x1, t1);
	return (uint32_t)_mm_extract_epi32(x1, 1);
}
#endif

uint32_t sodp_crc32_table(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32_once, crc32_init);
	return ~crc32_slice8(~crc, buf, len);
}

uint32_t sodp_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc32_once, crc32_init);
	crc = ~crc;
#ifdef SODP_CRC32_HAVE_CLMUL
	if (crc32_use_clmul && len >= 64) {
		size_t n = len & ~(size_t)15;

		crc = crc32_clmul(crc, p, n);
		p += n;
		len -= n;
	}
#endif
	return ~crc32_slice8(crc, p, len);
}

int sodp_crc32_accelerated(void)
{
	pthread_once(&crc32_once, crc32_init);
	return crc32_use_clmul;
}
