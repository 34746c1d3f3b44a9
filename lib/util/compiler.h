/* SPDX-License-Identifier: MIT */
/*
 * Small compiler helpers shared by every layer of softodp.
 */
#ifndef SODP_UTIL_COMPILER_H
#define SODP_UTIL_COMPILER_H

#include <stddef.h>

/* Library code is built with -fvisibility=hidden; this marks what is exported. */
#define SODP_EXPORT __attribute__((visibility("default")))

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define READ_ONCE(x)	 __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* ThreadSanitizer, as gcc and clang announce it. */
#if defined(__SANITIZE_THREAD__)
#define SODP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SODP_TSAN 1
#endif
#endif

#define SODP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SODP_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
