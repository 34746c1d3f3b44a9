// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
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

bool thp_available(void)
{
	char buf[64] = "";
	int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY);

	if (fd < 0)
		return false;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(fd);
	return !strstr(buf, "[never]");
}

bool thp_visible(void)
{
	return have_source(SODP_HMM_SRC_PAGEMAP_SCAN) || have_source(SODP_HMM_SRC_KPAGEFLAGS);
}

/* Does the VmFlags line @line hold the two-letter flag @flag? */
static bool has_vmflag(const char *line, const char *flag)
{
	const char *f = strchr(line, ':');
	size_t n = f ? strlen(f) : 0, i;

	/* Flags are two letters, each followed by a space or the newline. */
	for (i = 1; i + 2 <= n; i++)
		if (f[i - 1] == ' ' && f[i] == flag[0] && f[i + 1] == flag[1] &&
		    (f[i + 2] == ' ' || f[i + 2] == '\n' || !f[i + 2]))
			return true;
	return false;
}

int vma_stats(const void *addr, size_t len, struct vma_stats *st)
{
	uintptr_t s = (uintptr_t)addr, e = s + len, vs, ve;
	bool in = false;
	char line[512];
	long kb;
	FILE *f = fopen("/proc/self/smaps", "r");

	memset(st, 0, sizeof(*st));
	if (!f)
		return -errno;
	/* Bounded by the file, which ends. */
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &vs, &ve) == 2) {
			in = vs < e && ve > s;
			st->vmas += in;
		} else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) {
			st->anon_huge_kb += (unsigned long)kb;
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			st->uffd_wp += has_vmflag(line, "uw");
		}
	}
	fclose(f);
	return 0;
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
