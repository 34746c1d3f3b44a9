// SPDX-License-Identifier: MIT
/*
 * fork: pthread_atfork handlers, installed with the first notifier.
 *
 * prepare (parent, before fork): opens a SODP_EVENT_FORK bracket and runs
 * the callbacks over every private writable VMA a notifier overlaps: those
 * pages become copy-on-write, so writable translations must go. Shared
 * mappings are left alone. The bracket stays open across fork(), so a fault
 * racing the fork cannot validate. Then it takes the userfaultfd channel's
 * locks and the notifier core's (hmm_internal.h gives the order) so that
 * the child copies a consistent tree and registration.
 *
 * parent: releases the locks and closes the bracket.
 *
 * child: re-initialises the locks, forgets brackets of threads it does not
 * have, closes the inherited /proc/self and userfaultfd descriptors (they
 * describe the parent) and leaves the child's own channel to be opened by
 * its first mirror call. The child starts with the parent's notifiers.
 */
#include <errno.h>
#include <sys/mman.h>

#include "hmm_internal.h"

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;
static __thread struct hmm_inv fork_inv;

static void invalidate_private_writable(struct hmm_inv *inv)
{
	struct hmm_vma vma;
	uintptr_t addr = 0;
	bool fresh = true;

	while (!hmm_vma_find(addr, &vma, fresh)) {
		fresh = false;
		if ((vma.prot & PROT_WRITE) && !vma.shared && hmm_tree_overlaps(vma.start, vma.end))
			hmm_inv_range(inv, vma.start, vma.end);
		if (vma.end <= addr)
			break;
		addr = vma.end;
	}
}

static void fork_prepare(void)
{
	fork_inv.open = false;
	if (hmm_mirror_active()) {
		hmm_inv_open(&fork_inv, SODP_EVENT_FORK, SODP_HMM_FROM_ATFORK, 0);
		invalidate_private_writable(&fork_inv);
	}
	hmm_uffd_fork_prepare();
	hmm_notifier_fork_prepare();
}

static void fork_parent(void)
{
	hmm_notifier_fork_parent();
	hmm_uffd_fork_parent();
	hmm_inv_close(&fork_inv);
}

static void fork_child(void)
{
	hmm_notifier_fork_child();
	hmm_uffd_fork_child();
	hmm_pagemap_fork_child();
	fork_inv.open = false;
}

static void install(void)
{
	if (!pthread_atfork(fork_prepare, fork_parent, fork_child))
		WRITE_ONCE(installed, 1);
}

void hmm_fork_install(void)
{
	pthread_once(&install_once, install);
}

bool hmm_fork_installed(void)
{
	return READ_ONCE(installed);
}
