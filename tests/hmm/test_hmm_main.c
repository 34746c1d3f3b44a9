// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hmm_test.h"

/* Fork tests run the mirror in the child of a threaded process. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "die_after_fork=0";
}

/*
 * ASan keeps freed blocks in quarantine; the free() test needs the large
 * block unmapped at once, as glibc does.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=0";
}

void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *map_anon_aligned(size_t len, size_t align, int prot)
{
	char *p = mmap(NULL, len + align, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + align - 1) & ~(align - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	if ((uintptr_t)p + len + align > a + len)
		munmap((void *)(a + len), (uintptr_t)p + len + align - (a + len));
	return (void *)a;
}

bool have_source(unsigned int src)
{
	return (sodp_hmm_sources() & src) == src;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool wait_until(bool (*pred)(void *), void *arg, int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ULL;

	while (!pred(arg)) {
		if (now_ns() > end)
			return false;
		usleep(200);
	}
	return true;
}

int temp_file(size_t len, int byte)
{
	char path[] = "/tmp/sodp-hmm-XXXXXX";
	char buf[4096];
	size_t done;
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	memset(buf, byte, sizeof(buf));
	for (done = 0; done < len; done += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			close(fd);
			return -1;
		}
	return fd;
}

void sodp_tests_register(void)
{
	hmm_register_input_tests();
	hmm_register_notifier_tests();
	hmm_register_range_tests();
	hmm_register_hook_tests();
	hmm_register_uffd_tests();
	hmm_register_fork_tests();
}
