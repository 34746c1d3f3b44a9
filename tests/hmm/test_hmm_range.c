// SPDX-License-Identifier: MIT
/*
 * sodp_hmm_range_fault(): faults, snapshots, errors, map orders, file and
 * huge mappings, through the test device.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hmm_internal.h"
#include "hmm_test.h"

#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif

static void test_snapshot_of_untouched_anonymous_memory_is_not_valid(void)
{
	size_t len = 16 * PAGE, i;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	uint64_t out[16];
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_snapshot(&d, (uintptr_t)p, len, out), 0);
	for (i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(out[i], 0);
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_read_fault_maps_zero_page_valid_without_write(void)
{
	size_t len = 8 * PAGE, i;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	char buf[64];
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, false), 0);
	for (i = 0; i < 8; i++) {
		uint64_t e = dmirror_entry(&d, (uintptr_t)p + i * PAGE);

		CU_ASSERT_TRUE(!!(e & SODP_PFN_VALID));
		CU_ASSERT_FALSE(!!(e & SODP_PFN_WRITE));
		CU_ASSERT_FALSE(!!(e & SODP_PFN_ERROR));
	}
	CU_ASSERT_EQUAL(dmirror_read(&d, (uintptr_t)p + 100, buf, sizeof(buf)), 0);
	for (i = 0; i < sizeof(buf); i++)
		CU_ASSERT_EQUAL(buf[i], 0);
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_write_fault_sets_write_on_every_page(void)
{
	size_t len = 32 * PAGE, i;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	char msg[] = "written by the device";
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	for (i = 0; i < 32; i++) {
		uint64_t e = dmirror_entry(&d, (uintptr_t)p + i * PAGE);

		CU_ASSERT_EQUAL(e & (SODP_PFN_VALID | SODP_PFN_WRITE),
				SODP_PFN_VALID | SODP_PFN_WRITE);
	}
	CU_ASSERT_EQUAL(dmirror_write(&d, (uintptr_t)p + 5 * PAGE - 4, msg, sizeof(msg)), 0);
	CU_ASSERT_STRING_EQUAL(p + 5 * PAGE - 4, msg);
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_zero_page_snapshot_is_valid_without_write(void)
{
	size_t len = 4 * PAGE, i;
	volatile char *p = map_anon(len, PROT_READ | PROT_WRITE);
	uint64_t out[4];
	struct dmirror d;
	char c = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (i = 0; i < 4; i++)
		c += p[i * PAGE]; /* CPU read faults map the zero page */
	CU_ASSERT_EQUAL(c, 0);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, (void *)p, len), 0);
	CU_ASSERT_EQUAL(dmirror_snapshot(&d, (uintptr_t)p, len, out), 0);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(out[i] & (SODP_PFN_VALID | SODP_PFN_WRITE), SODP_PFN_VALID);
	dmirror_fini(&d);
	munmap((void *)p, len);
}

static void test_prot_none_fault_is_efault(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_NONE);
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, false), -EFAULT);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), -EFAULT);
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_prot_none_snapshot_reports_error(void)
{
	size_t len = 4 * PAGE, i;
	char *p = map_anon(len, PROT_NONE);
	uint64_t out[4];
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_snapshot(&d, (uintptr_t)p, len, out), 0);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(out[i], SODP_PFN_ERROR);
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_unmapped_range_fault_is_efault(void)
{
	size_t len = 8 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	uint64_t out[8];
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(munmap(p + 2 * PAGE, 2 * PAGE), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, false), -EFAULT);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p + 2 * PAGE, PAGE, true), -EFAULT);
	/* A snapshot over the hole succeeds and reports nothing there. */
	CU_ASSERT_EQUAL(dmirror_snapshot(&d, (uintptr_t)p, len, out), 0);
	CU_ASSERT_EQUAL(out[2], 0);
	CU_ASSERT_EQUAL(out[3], 0);
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_write_to_readonly_mapping_is_eperm(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ);
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), -EPERM);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, false), 0);
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_write_succeeds_after_mprotect_upgrade(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ);
	struct dmirror d;
	char v = 42;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), -EPERM);
	CU_ASSERT_EQUAL(mprotect(p, len, PROT_READ | PROT_WRITE), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	CU_ASSERT_EQUAL(dmirror_write(&d, (uintptr_t)p + PAGE, &v, 1), 0);
	CU_ASSERT_EQUAL(p[PAGE], 42);
	dmirror_fini(&d);
	munmap(p, len);
}

/* Populated, THP-backed, 2 MiB aligned: every entry order 9, same flags per block. */
static void check_thp(size_t len)
{
	size_t n = len / PAGE, i, blocks = 0;
	char *p = map_anon_aligned(len, 2 * MB, PROT_READ | PROT_WRITE);
	uint64_t *out = calloc(n, sizeof(*out));
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL_FATAL(madvise(p, len, MADV_HUGEPAGE), 0);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	CU_ASSERT_EQUAL(dmirror_snapshot(&d, (uintptr_t)p, len, out), 0);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(sodp_hmm_pfn_to_map_order(out[i]), 9);
		CU_ASSERT_EQUAL(out[i] & (SODP_PFN_VALID | SODP_PFN_WRITE),
				SODP_PFN_VALID | SODP_PFN_WRITE);
		if (i % 512 == 0) {
			blocks++;
		} else {
			CU_ASSERT_EQUAL(out[i] & ~SODP_PFN_PFN_MASK,
					out[i - 1] & ~SODP_PFN_PFN_MASK);
		}
		if (sodp_hmm_pfn_to_map_order(out[i]) != 9)
			break;
	}
	CU_ASSERT_EQUAL(blocks, len / (2 * MB));
	dmirror_fini(&d);
	free(out);
	munmap(p, len);
}

static void test_thp_region_reports_order_9_on_every_entry(void)
{
	if (!thp_available())
		SODP_SKIP("transparent hugepages disabled");
	if (!thp_visible())
		SODP_SKIP("neither PAGEMAP_SCAN nor a readable kpageflags shows huge pages");
	check_thp(8 * MB);
}

static void test_thp_1gib_snapshot_is_512_blocks_of_order_9(void)
{
	if (!thp_available())
		SODP_SKIP("transparent hugepages disabled");
	if (!thp_visible())
		SODP_SKIP("neither PAGEMAP_SCAN nor a readable kpageflags shows huge pages");
	check_thp(1 * GB);
}

/*
 * A mirror of a few pages in the middle of huge pages sees them as the
 * order-9 mappings they are, and mirroring them splits nothing: the pages
 * around, mirrored later, are still huge. With the userfaultfd channel too,
 * which registers the whole VMA rather than the mirror's unaligned edges.
 */
static void test_unaligned_mirror_of_thp_reports_order_9_and_splits_nothing(void)
{
	size_t len = 4 * MB;
	char *p = map_anon_aligned(len, 2 * MB, PROT_READ | PROT_WRITE);
	uint64_t out[4], whole[2];
	struct dmirror d, all;
	struct vma_stats st;

	if (!thp_available() || !thp_visible()) {
		if (p)
			munmap(p, len);
		SODP_SKIP("transparent hugepages disabled, or no source shows them");
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(madvise(p, len, MADV_HUGEPAGE), 0);
	memset(p, 1, len);
	/* Two pages each side of the boundary between the two huge pages. */
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p + 2 * MB - 2 * PAGE, 4 * PAGE), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p + 2 * MB - 2 * PAGE, 4 * PAGE, false), 0);
	CU_ASSERT_EQUAL(dmirror_snapshot(&d, (uintptr_t)p + 2 * MB - 2 * PAGE, 4 * PAGE, out), 0);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(sodp_hmm_pfn_to_map_order(out[i]), 9);
	CU_ASSERT_EQUAL(vma_stats(p, len, &st), 0);
	CU_ASSERT_EQUAL(st.vmas, 1);
	CU_ASSERT_EQUAL(st.anon_huge_kb, len / 1024);
	dmirror_fini(&d);

	CU_ASSERT_EQUAL_FATAL(dmirror_init(&all, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_snapshot(&all, (uintptr_t)p, PAGE, &whole[0]), 0);
	CU_ASSERT_EQUAL(dmirror_snapshot(&all, (uintptr_t)p + len - PAGE, PAGE, &whole[1]), 0);
	CU_ASSERT_EQUAL(sodp_hmm_pfn_to_map_order(whole[0]), 9);
	CU_ASSERT_EQUAL(sodp_hmm_pfn_to_map_order(whole[1]), 9);
	CU_ASSERT_EQUAL(vma_stats(p, len, &st), 0);
	CU_ASSERT_EQUAL(st.anon_huge_kb, len / 1024);
	dmirror_fini(&all);
	munmap(p, len);
}

static void test_thp_order_without_pagemap_scan_uses_kpageflags(void)
{
	if (!thp_available())
		SODP_SKIP("transparent hugepages disabled");
	if (!have_source(SODP_HMM_SRC_KPAGEFLAGS))
		SODP_SKIP("kpageflags not readable (needs CAP_SYS_ADMIN)");
	setenv("SOFTODP_HMM_NO_PAGEMAP_SCAN", "1", 1);
	hmm_pagemap_reload_env();
	CU_ASSERT_FALSE(sodp_hmm_sources() & SODP_HMM_SRC_PAGEMAP_SCAN);
	check_thp(8 * MB);
	unsetenv("SOFTODP_HMM_NO_PAGEMAP_SCAN");
	hmm_pagemap_reload_env();
}

static void test_vma_lookup_without_procmap_query_parses_smaps(void)
{
	size_t len = 4 * PAGE;
	char *ro = map_anon(len, PROT_READ), *none = map_anon(len, PROT_NONE);
	struct sodp_hmm_counters c;
	struct dmirror d1, d2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ro);
	CU_ASSERT_PTR_NOT_NULL_FATAL(none);
	setenv("SOFTODP_HMM_NO_PROCMAP_QUERY", "1", 1);
	hmm_pagemap_reload_env();
	CU_ASSERT_FALSE(sodp_hmm_sources() & SODP_HMM_SRC_PROCMAP_QUERY);
	sodp_hmm_reset_counters();
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d1, ro, len), 0);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d2, none, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d1, (uintptr_t)ro, len, true), -EPERM);
	CU_ASSERT_EQUAL(dmirror_fault(&d1, (uintptr_t)ro, len, false), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d2, (uintptr_t)none, len, false), -EFAULT);
	/* An upgrade through the hook refreshes the cache. */
	CU_ASSERT_EQUAL(mprotect(ro, len, PROT_READ | PROT_WRITE), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d1, (uintptr_t)ro, len, true), 0);
	sodp_hmm_get_counters(&c);
	CU_ASSERT_TRUE(c.maps_reads > 0);
	dmirror_fini(&d1);
	dmirror_fini(&d2);
	unsetenv("SOFTODP_HMM_NO_PROCMAP_QUERY");
	hmm_pagemap_reload_env();
	munmap(ro, len);
	munmap(none, len);
}

static long read_long(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static bool write_long(const char *path, long v)
{
	char buf[32];
	int fd = open(path, O_WRONLY), n;
	bool ok;

	if (fd < 0)
		return false;
	n = snprintf(buf, sizeof(buf), "%ld", v);
	ok = write(fd, buf, (size_t)n) == n;
	close(fd);
	return ok;
}

static void test_hugetlb_2mib_reports_order_9(void)
{
	const char *nr = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
	long old = read_long(nr), now;
	size_t len = 4 * MB, i;
	uint64_t *out;
	struct dmirror d;
	char *p;

	if (old < 0)
		SODP_SKIP("no 2 MiB hugetlb pool");
	if (old < 2 && !write_long(nr, old + 2))
		SODP_SKIP("cannot reserve hugetlb pages");
	now = read_long(nr);
	p = now >= 2 ? mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0)
		     : MAP_FAILED;
	if (p == MAP_FAILED) {
		write_long(nr, old);
		SODP_SKIP("no hugetlb pages available");
	}
	out = calloc(len / PAGE, sizeof(*out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	CU_ASSERT_EQUAL(dmirror_snapshot(&d, (uintptr_t)p, len, out), 0);
	for (i = 0; i < len / PAGE; i++) {
		CU_ASSERT_EQUAL(sodp_hmm_pfn_to_map_order(out[i]), 9);
		CU_ASSERT_TRUE(!!(out[i] & SODP_PFN_WRITE));
		if (sodp_hmm_pfn_to_map_order(out[i]) != 9)
			break;
	}
	p[3 * MB] = 7;
	CU_ASSERT_EQUAL(dmirror_read(&d, (uintptr_t)p + 3 * MB, &p[0], 1), 0);
	CU_ASSERT_EQUAL(p[0], 7);
	dmirror_fini(&d);
	free(out);
	munmap(p, len);
	if (old != now)
		write_long(nr, old);
}

static void test_shared_file_mapping_read_and_write(void)
{
	size_t len = 8 * PAGE;
	int fd = temp_file(len, 'a');
	char *p, c = 0, w = 'Z', back = 0;
	struct dmirror d;

	CU_ASSERT_FATAL(fd >= 0);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_read(&d, (uintptr_t)p + 3 * PAGE, &c, 1), 0);
	CU_ASSERT_EQUAL(c, 'a');
	/* A shared writable page is written in place: WRITE already. */
	CU_ASSERT_TRUE(!!(dmirror_entry(&d, (uintptr_t)p + 3 * PAGE) & SODP_PFN_WRITE));
	CU_ASSERT_EQUAL(dmirror_write(&d, (uintptr_t)p + 6 * PAGE, &w, 1), 0);
	CU_ASSERT_EQUAL(pread(fd, &back, 1, 6 * PAGE), 1);
	CU_ASSERT_EQUAL(back, 'Z');
	dmirror_fini(&d);
	munmap(p, len);
	close(fd);
}

static void test_private_file_mapping_write_breaks_cow(void)
{
	size_t len = 8 * PAGE;
	int fd = temp_file(len, 'b');
	char *p, c = 0, w = 'Y', back = 0;
	struct dmirror d;

	CU_ASSERT_FATAL(fd >= 0);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_read(&d, (uintptr_t)p + 2 * PAGE, &c, 1), 0);
	CU_ASSERT_EQUAL(c, 'b');
	/* The page cache page: readable, a write would copy it. */
	CU_ASSERT_FALSE(!!(dmirror_entry(&d, (uintptr_t)p + 2 * PAGE) & SODP_PFN_WRITE));
	CU_ASSERT_EQUAL(dmirror_write(&d, (uintptr_t)p + 2 * PAGE, &w, 1), 0);
	CU_ASSERT_TRUE(!!(dmirror_entry(&d, (uintptr_t)p + 2 * PAGE) & SODP_PFN_WRITE));
	CU_ASSERT_EQUAL(p[2 * PAGE], 'Y');
	CU_ASSERT_EQUAL(pread(fd, &back, 1, 2 * PAGE), 1);
	CU_ASSERT_EQUAL(back, 'b');
	dmirror_fini(&d);
	munmap(p, len);
	close(fd);
}

static void test_pfn_reported_when_privileged(void)
{
	size_t len = 4 * PAGE, i;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	uint64_t out[4];
	struct dmirror d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	CU_ASSERT_EQUAL(dmirror_snapshot(&d, (uintptr_t)p, len, out), 0);
	for (i = 0; i < 4; i++) {
		if (have_source(SODP_HMM_SRC_PFN)) {
			CU_ASSERT_NOT_EQUAL(out[i] & SODP_PFN_PFN_MASK, 0);
		} else {
			CU_ASSERT_EQUAL(out[i] & SODP_PFN_PFN_MASK, 0);
		}
	}
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_per_page_requests_follow_flags_and_mask(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	uint64_t pfns[4] = {0, SODP_PFN_REQ_FAULT, SODP_PFN_REQ_FAULT | SODP_PFN_REQ_WRITE, 0};
	struct sodp_hmm_range r;
	struct dmirror d;
	int ret, tries = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	do {
		uint64_t in[4] = {0, SODP_PFN_REQ_FAULT, SODP_PFN_REQ_FAULT | SODP_PFN_REQ_WRITE,
				  0};

		memcpy(pfns, in, sizeof(in));
		r = (struct sodp_hmm_range){
			.notifier = &d.notifier,
			.notifier_seq = sodp_interval_read_begin(&d.notifier),
			.start = (uintptr_t)p,
			.end = (uintptr_t)p + len,
			.hmm_pfns = pfns,
			.pfn_flags_mask = ~0ULL,
		};
		ret = sodp_hmm_range_fault(&r);
	} while (ret == -EBUSY && ++tries < 100);
	CU_ASSERT_EQUAL(ret, 0);
	CU_ASSERT_EQUAL(pfns[0], 0);
	CU_ASSERT_EQUAL(pfns[1] & (SODP_PFN_VALID | SODP_PFN_WRITE), SODP_PFN_VALID);
	CU_ASSERT_EQUAL(pfns[2] & (SODP_PFN_VALID | SODP_PFN_WRITE),
			SODP_PFN_VALID | SODP_PFN_WRITE);
	CU_ASSERT_EQUAL(pfns[3], 0);
	dmirror_fini(&d);
	munmap(p, len);
}

static const struct sodp_test_case range_tests[] = {
	{"test_snapshot_of_untouched_anonymous_memory_is_not_valid",
	 test_snapshot_of_untouched_anonymous_memory_is_not_valid},
	{"test_read_fault_maps_zero_page_valid_without_write",
	 test_read_fault_maps_zero_page_valid_without_write},
	{"test_zero_page_snapshot_is_valid_without_write",
	 test_zero_page_snapshot_is_valid_without_write},
	{"test_write_fault_sets_write_on_every_page", test_write_fault_sets_write_on_every_page},
	{"test_prot_none_fault_is_efault", test_prot_none_fault_is_efault},
	{"test_prot_none_snapshot_reports_error", test_prot_none_snapshot_reports_error},
	{"test_unmapped_range_fault_is_efault", test_unmapped_range_fault_is_efault},
	{"test_write_to_readonly_mapping_is_eperm", test_write_to_readonly_mapping_is_eperm},
	{"test_write_succeeds_after_mprotect_upgrade", test_write_succeeds_after_mprotect_upgrade},
	{"test_per_page_requests_follow_flags_and_mask",
	 test_per_page_requests_follow_flags_and_mask},
	{"test_pfn_reported_when_privileged", test_pfn_reported_when_privileged},
	{"test_shared_file_mapping_read_and_write", test_shared_file_mapping_read_and_write},
	{"test_private_file_mapping_write_breaks_cow", test_private_file_mapping_write_breaks_cow},
	{"test_thp_region_reports_order_9_on_every_entry",
	 test_thp_region_reports_order_9_on_every_entry},
	{"test_thp_1gib_snapshot_is_512_blocks_of_order_9",
	 test_thp_1gib_snapshot_is_512_blocks_of_order_9},
	{"test_unaligned_mirror_of_thp_reports_order_9_and_splits_nothing",
	 test_unaligned_mirror_of_thp_reports_order_9_and_splits_nothing},
	{"test_thp_order_without_pagemap_scan_uses_kpageflags",
	 test_thp_order_without_pagemap_scan_uses_kpageflags},
	{"test_vma_lookup_without_procmap_query_parses_smaps",
	 test_vma_lookup_without_procmap_query_parses_smaps},
	{"test_hugetlb_2mib_reports_order_9", test_hugetlb_2mib_reports_order_9},
	{NULL, NULL},
};

void hmm_register_range_tests(void)
{
	sodp_add_suite("hmm_range", NULL, NULL, range_tests);
}
