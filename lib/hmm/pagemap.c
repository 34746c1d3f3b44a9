// SPDX-License-Identifier: MIT
/*
 * What the kernel tells a process about its own mappings and pages.
 *
 * Mappings: the PROCMAP_QUERY ioctl on /proc/self/maps (Linux 6.11) answers
 * "which VMA covers or follows this address" with its protection and page
 * size, fresh, in about a microsecond. Without it we parse /proc/self/smaps
 * (smaps, not maps, for KernelPageSize of hugetlb VMAs) into a cache that the
 * event sources invalidate; a caller that finds a hole or a mismatch asks for
 * a fresh parse before it reports an error.
 *
 * Pages: /proc/self/pagemap entries (present, exclusive, file, PFN when
 * CAP_SYS_ADMIN) and the PAGEMAP_SCAN ioctl (Linux 6.7) for runs of present
 * pages with their PMD-mapped ("huge") and zero-page categories;
 * /proc/kpageflags stands in for the scan when it is missing and we are
 * privileged.
 *
 * /proc/self files bind to the process that opened them: the fork child
 * closes them and opens its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/fs.h>

#include "hmm_internal.h"
#include "log.h"

/* uapi from Linux 6.7 / 6.11, absent from older headers. */
#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define PAGEMAP_SCAN	_IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE	(1 << 6)
#endif

#ifndef PROCMAP_QUERY
struct procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};

#define PROCMAP_QUERY			   _IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_VMA_READABLE	   0x01
#define PROCMAP_QUERY_VMA_WRITABLE	   0x02
#define PROCMAP_QUERY_VMA_EXECUTABLE	   0x04
#define PROCMAP_QUERY_VMA_SHARED	   0x08
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#endif

static pthread_mutex_t pm_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	int pagemap_fd;
	int maps_fd;
	int kpageflags_fd;
	bool opened;
	bool have_scan, have_query, have_pfn, have_kpf;
	bool no_scan, no_query, no_pfn; /* environment */
} pm = {.pagemap_fd = -1, .maps_fd = -1, .kpageflags_fd = -1};

/* Fallback VMA cache, parsed from smaps. */
static struct {
	struct hmm_vma *v;
	size_t nr, cap;
	bool valid;
} mc;

void hmm_pagemap_reload_env(void)
{
	hmm_lock(&pm_lock);
	WRITE_ONCE(pm.no_scan, sodp_env_flag("SOFTODP_HMM_NO_PAGEMAP_SCAN"));
	WRITE_ONCE(pm.no_query, sodp_env_flag("SOFTODP_HMM_NO_PROCMAP_QUERY"));
	WRITE_ONCE(pm.no_pfn, sodp_env_flag("SOFTODP_HMM_NO_PFN"));
	WRITE_ONCE(mc.valid, false);
	hmm_unlock(&pm_lock);
}

static int open_ro(const char *path)
{
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Probes every source once; called with pm_lock held. */
static void open_locked(void)
{
	struct procmap_query q;
	struct pm_scan_arg arg;
	struct page_region reg;
	uint64_t ent = 0;
	volatile int probe = 1;

	if (pm.opened)
		return;
	pm.pagemap_fd = open_ro("/proc/self/pagemap");
	pm.maps_fd = open_ro("/proc/self/maps");
	pm.kpageflags_fd = open_ro("/proc/kpageflags");

	if (pm.maps_fd >= 0) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
		q.query_addr = (uintptr_t)&probe;
		pm.have_query = ioctl(pm.maps_fd, PROCMAP_QUERY, &q) == 0;
	}
	if (pm.pagemap_fd >= 0) {
		uintptr_t a = hmm_page_down((uintptr_t)&probe);

		probe++;
		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = a;
		arg.end = a + HMM_PAGE_SIZE;
		arg.vec = (uintptr_t)&reg;
		arg.vec_len = 1;
		arg.category_mask = PAGE_IS_PRESENT;
		arg.return_mask = PAGE_IS_PRESENT | PAGE_IS_HUGE | PAGE_IS_PFNZERO;
		pm.have_scan = ioctl(pm.pagemap_fd, PAGEMAP_SCAN, &arg) >= 0;
		if (pread(pm.pagemap_fd, &ent, sizeof(ent), (off_t)(a >> HMM_PAGE_SHIFT) * 8) ==
		    sizeof(ent))
			pm.have_pfn = (ent & HMM_PM_PRESENT) && (ent & HMM_PM_PFN_MASK);
	}
	if (pm.kpageflags_fd >= 0 && pm.have_pfn) {
		uint64_t f;

		pm.have_kpf = pread(pm.kpageflags_fd, &f, sizeof(f),
				    (off_t)(ent & HMM_PM_PFN_MASK) * 8) == sizeof(f);
	}
	sodp_dbg("hmm: pagemap %d scan %d query %d pfn %d kpageflags %d", pm.pagemap_fd >= 0,
		 pm.have_scan, pm.have_query, pm.have_pfn, pm.have_kpf);
	__atomic_store_n(&pm.opened, true, __ATOMIC_RELEASE);
}

static void ensure_open(void)
{
	if (__atomic_load_n(&pm.opened, __ATOMIC_ACQUIRE))
		return;
	hmm_lock(&pm_lock);
	open_locked();
	hmm_unlock(&pm_lock);
}

unsigned int hmm_pagemap_sources(void)
{
	unsigned int s = 0;

	ensure_open();
	if (pm.pagemap_fd >= 0)
		s |= SODP_HMM_SRC_PAGEMAP;
	if (pm.have_scan && !READ_ONCE(pm.no_scan))
		s |= SODP_HMM_SRC_PAGEMAP_SCAN;
	if (pm.have_pfn && !READ_ONCE(pm.no_pfn))
		s |= SODP_HMM_SRC_PFN;
	if (pm.have_kpf && !READ_ONCE(pm.no_pfn))
		s |= SODP_HMM_SRC_KPAGEFLAGS;
	if (pm.have_query && !READ_ONCE(pm.no_query))
		s |= SODP_HMM_SRC_PROCMAP_QUERY;
	return s;
}

void hmm_pagemap_fork_child(void)
{
	pthread_mutex_init(&pm_lock, NULL);
	if (pm.pagemap_fd >= 0)
		close(pm.pagemap_fd);
	if (pm.maps_fd >= 0)
		close(pm.maps_fd);
	if (pm.kpageflags_fd >= 0)
		close(pm.kpageflags_fd);
	pm.pagemap_fd = pm.maps_fd = pm.kpageflags_fd = -1;
	__atomic_store_n(&pm.opened, false, __ATOMIC_RELEASE);
	WRITE_ONCE(mc.valid, false);
}

static unsigned int shift_of(uint64_t size)
{
	if (size <= HMM_PAGE_SIZE)
		return HMM_PAGE_SHIFT;
	return 63 - (unsigned int)__builtin_clzll(size);
}

static int query_vma(uintptr_t addr, struct hmm_vma *vma)
{
	struct procmap_query q;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
	q.query_addr = addr;
	if (ioctl(pm.maps_fd, PROCMAP_QUERY, &q) < 0)
		return -errno;
	vma->start = q.vma_start;
	vma->end = q.vma_end;
	vma->prot = 0;
	if (q.vma_flags & PROCMAP_QUERY_VMA_READABLE)
		vma->prot |= PROT_READ;
	if (q.vma_flags & PROCMAP_QUERY_VMA_WRITABLE)
		vma->prot |= PROT_WRITE;
	if (q.vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE)
		vma->prot |= PROT_EXEC;
	vma->shared = q.vma_flags & PROCMAP_QUERY_VMA_SHARED;
	vma->page_shift = shift_of(q.vma_page_size);
	vma->inode = q.inode;
	vma->dev_major = q.dev_major;
	vma->dev_minor = q.dev_minor;
	return 0;
}

static int mc_push(const struct hmm_vma *v)
{
	if (mc.nr == mc.cap) {
		size_t cap = mc.cap ? mc.cap * 2 : 64;
		struct hmm_vma *nv = realloc(mc.v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		mc.v = nv;
		mc.cap = cap;
	}
	mc.v[mc.nr++] = *v;
	return 0;
}

/*
 * Reads the whole of /proc/self/smaps into a NUL-terminated buffer (*out,
 * freed by the caller) with raw read(), so that no stdio lock or hooked
 * call is involved. 0 or -errno.
 */
static int mc_read_smaps(char **out)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int fd, ret = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	fd = open_ro("/proc/self/smaps");
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	buf[len] = 0;
	*out = buf;
	return 0;
}

/*
 * Parses smaps text @buf (modified) into the cache: a header line per VMA
 * ("start-end perms offset dev inode path") followed by "Key: value" lines,
 * of which we want KernelPageSize. 0 or -ENOMEM.
 */
static int mc_parse_smaps(char *buf)
{
	struct hmm_vma cur;
	bool have = false;
	char *line, *next;

	mc.nr = 0;
	for (line = buf; line && *line; line = next) {
		unsigned long long s, e, off, ino;
		unsigned int maj, min;
		char perms[8];

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &s, &e, perms, &off, &maj, &min,
			   &ino) == 7) {
			if (have && mc_push(&cur))
				return -ENOMEM;
			memset(&cur, 0, sizeof(cur));
			cur.start = s;
			cur.end = e;
			cur.prot = (perms[0] == 'r' ? PROT_READ : 0) |
				   (perms[1] == 'w' ? PROT_WRITE : 0) |
				   (perms[2] == 'x' ? PROT_EXEC : 0);
			cur.shared = perms[3] == 's';
			cur.page_shift = HMM_PAGE_SHIFT;
			cur.inode = ino;
			cur.dev_major = maj;
			cur.dev_minor = min;
			have = true;
		} else if (have && !strncmp(line, "KernelPageSize:", 15)) {
			cur.page_shift = shift_of(strtoull(line + 15, NULL, 10) * 1024);
		}
	}
	if (have && mc_push(&cur))
		return -ENOMEM;
	return 0;
}

/* Reloads the VMA cache from /proc/self/smaps. Under pm_lock; 0 or -errno. */
static int mc_reload_locked(void)
{
	char *buf = NULL;
	int ret = mc_read_smaps(&buf);

	if (ret)
		return ret;
	ret = mc_parse_smaps(buf);
	free(buf);
	WRITE_ONCE(mc.valid, ret == 0);
	if (!ret)
		hmm_count(HMM_C_MAPS_READS, 1);
	return ret;
}

void hmm_maps_invalidate(void)
{
	WRITE_ONCE(mc.valid, false);
}

int hmm_vma_find(uintptr_t addr, struct hmm_vma *vma, bool fresh)
{
	size_t lo, hi;
	int ret;

	ensure_open();
	if (pm.have_query && !READ_ONCE(pm.no_query))
		return query_vma(addr, vma);

	hmm_lock(&pm_lock);
	if (fresh || !READ_ONCE(mc.valid)) {
		ret = mc_reload_locked();
		if (ret)
			goto out;
	}
	/* First VMA whose end is above addr. */
	lo = 0;
	hi = mc.nr;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (mc.v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == mc.nr) {
		ret = -ENOENT;
	} else {
		*vma = mc.v[lo];
		ret = 0;
	}
out:
	hmm_unlock(&pm_lock);
	return ret;
}

int hmm_pagemap_read(uintptr_t start, size_t npages, uint64_t *out)
{
	size_t done = 0, want = npages * 8;
	off_t off = (off_t)(start >> HMM_PAGE_SHIFT) * 8;
	ssize_t n;

	ensure_open();
	if (pm.pagemap_fd < 0)
		return -EOPNOTSUPP;
	while (done < want) {
		n = pread(pm.pagemap_fd, (char *)out + done, want - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	if (READ_ONCE(pm.no_pfn)) {
		size_t i;

		for (i = 0; i < npages; i++)
			out[i] &= ~HMM_PM_PFN_MASK;
	}
	return 0;
}

int hmm_pagemap_scan(uintptr_t start, uintptr_t end, struct hmm_scan_run *runs, size_t max,
		     uintptr_t *walk_end)
{
	struct page_region reg[256];
	struct pm_scan_arg arg;
	size_t i;
	int n;

	ensure_open();
	if (!pm.have_scan || READ_ONCE(pm.no_scan))
		return -EOPNOTSUPP;
	if (max > ARRAY_SIZE(reg))
		max = ARRAY_SIZE(reg);
	memset(&arg, 0, sizeof(arg));
	arg.size = sizeof(arg);
	arg.start = start;
	arg.end = end;
	arg.vec = (uintptr_t)reg;
	arg.vec_len = max;
	arg.category_mask = PAGE_IS_PRESENT;
	arg.return_mask = PAGE_IS_HUGE | PAGE_IS_PFNZERO;
	n = ioctl(pm.pagemap_fd, PAGEMAP_SCAN, &arg);
	if (n < 0)
		return -errno;
	for (i = 0; i < (size_t)n; i++) {
		runs[i].start = reg[i].start;
		runs[i].end = reg[i].end;
		runs[i].huge = reg[i].categories & PAGE_IS_HUGE;
		runs[i].zero = reg[i].categories & PAGE_IS_PFNZERO;
	}
	*walk_end = arg.walk_end ? arg.walk_end : end;
	return n;
}

uint64_t hmm_kpageflags(uint64_t pfn)
{
	uint64_t f;

	ensure_open();
	if (!pm.have_kpf || READ_ONCE(pm.no_pfn) || !pfn)
		return 0;
	if (pread(pm.kpageflags_fd, &f, sizeof(f), (off_t)pfn * 8) != sizeof(f))
		return 0;
	return f;
}
