/* SPDX-License-Identifier: MIT */
/* Helpers shared by the lib/hmm tests. */
#ifndef SODP_TEST_HMM_H
#define SODP_TEST_HMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmirror.h"
#include "sodp_test.h"

#define PAGE 4096UL
#define MB   (1024UL * 1024)
#define GB   (1024UL * MB)

void *map_anon(size_t len, int prot);
/* len bytes aligned to @align (munmaps the slack). */
void *map_anon_aligned(size_t len, size_t align, int prot);
bool have_source(unsigned int src);
/* Polls @pred for up to @ms milliseconds. */
bool wait_until(bool (*pred)(void *), void *arg, int ms);
uint64_t now_ns(void);
/* A temporary file of @len bytes filled with @byte; returns the fd. */
int temp_file(size_t len, int byte);
bool thp_available(void);
/*
 * Whether the mirror can see a THP: only the PAGEMAP_SCAN ioctl and a
 * readable /proc/kpageflags tell a PMD-mapped page from small ones; without
 * either (SOFTODP_HMM_NO_PAGEMAP_SCAN=1 without CAP_SYS_ADMIN, or an older
 * kernel) every page is correctly reported as order 0.
 */
bool thp_visible(void);

/* What /proc/self/smaps says about the VMAs overlapping [addr, addr + len). */
struct vma_stats {
	unsigned int vmas;
	unsigned long anon_huge_kb; /* AnonHugePages, summed */
	unsigned int uffd_wp;	    /* VMAs whose VmFlags hold "uw" (userfaultfd WP) */
};
int vma_stats(const void *addr, size_t len, struct vma_stats *st);

void hmm_register_range_tests(void);
void hmm_register_notifier_tests(void);
void hmm_register_hook_tests(void);
void hmm_register_uffd_tests(void);
void hmm_register_fork_tests(void);
void hmm_register_input_tests(void);

#endif
