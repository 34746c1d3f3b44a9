// SPDX-License-Identifier: MIT
/*
 * The mirror: the public entry points that drive the event sources.
 *
 * The notifier core (notifier.c) keeps notifiers and runs callbacks; the
 * event sources (hooks.c, uffd.c, fork.c) tell it what changed. This file
 * is the only one that knows both sides and ties them together:
 *
 *  - the first notifier starts the sources (environment switches read, the
 *    atfork handlers installed, the userfaultfd channel opened); nothing of
 *    the mirror runs in a process that never inserts one;
 *  - a notifier's VMAs are registered with userfaultfd on insert, and after
 *    each successful range fault (which may have found VMAs mapped there
 *    since); on remove, the VMAs no notifier overlaps any more are
 *    unregistered;
 *  - in a fork child, the first call opens the child's own channel;
 *  - shutdown releases every notifier and stops the channel.
 *
 * Nothing in lib/hmm calls these functions: they are its top layer.
 */
#include <errno.h>

#include "hmm_internal.h"

static pthread_once_t start_once = PTHREAD_ONCE_INIT;

static void mirror_start(void)
{
	hmm_pagemap_reload_env();
	hmm_hooks_reload_env();
	hmm_fork_install();
	hmm_uffd_start();
}

/**
 * sodp_interval_notifier_insert() - start mirroring an interval
 *
 * hmm_notifier_insert() with the sources started first, so that no change
 * after the insert goes unseen, and the interval's VMAs registered after.
 *
 * Return: 0, -EINVAL (see hmm_notifier_insert()).
 */
SODP_EXPORT int sodp_interval_notifier_insert(struct sodp_interval_notifier *n, uintptr_t start,
					      size_t length,
					      const struct sodp_interval_notifier_ops *ops)
{
	uintptr_t s, e;
	int ret;

	/* A call that fails starts nothing. */
	if (!hmm_notifier_args_valid(n, start, length, ops))
		return -EINVAL;
	pthread_once(&start_once, mirror_start);
	hmm_uffd_child_restart();
	/* Unmirrored, the hooks did not track mappings for the maps cache. */
	hmm_maps_invalidate();
	ret = hmm_notifier_insert(n, start, length, ops);
	if (ret)
		return ret;
	hmm_notifier_pages(n, &s, &e);
	hmm_uffd_register(s, e);
	return 0;
}

/* Stop mirroring; see hmm_notifier_remove() for when it waits. */
SODP_EXPORT void sodp_interval_notifier_remove(struct sodp_interval_notifier *n)
{
	uintptr_t s, e;

	if (!hmm_notifier_remove(n))
		return;
	hmm_notifier_pages(n, &s, &e);
	hmm_uffd_unregister_idle(s, e);
}

/**
 * sodp_hmm_range_fault() - hmm_range_fault() for a mirror user
 *
 * What the fault found mapped is registered with userfaultfd as well: a VMA
 * mapped inside the interval after the insert is seen from then on.
 */
SODP_EXPORT int sodp_hmm_range_fault(struct sodp_hmm_range *range)
{
	int ret;

	hmm_uffd_child_restart();
	ret = hmm_range_fault(range);
	if (!ret)
		hmm_uffd_register(range->start, range->end);
	return ret;
}

/**
 * sodp_hmm_shutdown() - deliver SODP_EVENT_RELEASE everywhere
 *
 * Runs every notifier's callback over its whole interval and stops the
 * userfaultfd thread; hooks keep working.
 */
SODP_EXPORT void sodp_hmm_shutdown(void)
{
	if (!hmm_mirror_active())
		return;
	hmm_inv_all(SODP_EVENT_RELEASE, SODP_HMM_FROM_API, 0);
	hmm_uffd_stop();
}

SODP_EXPORT unsigned int sodp_hmm_sources(void)
{
	unsigned int s = hmm_pagemap_sources();

	hmm_uffd_child_restart();
	if (hmm_hooks_enabled())
		s |= SODP_HMM_SRC_HOOKS;
	if (hmm_uffd_active())
		s |= SODP_HMM_SRC_UFFD;
	if (hmm_fork_installed())
		s |= SODP_HMM_SRC_ATFORK;
	return s;
}

/*
 * Installs the handlers now rather than with the first notifier, for a
 * layer above that nests lib/hmm's locks inside its own: prepare handlers
 * run in reverse order of installation, so handlers it installs after this
 * call take its locks before lib/hmm's.
 */
SODP_EXPORT void sodp_hmm_fork_init(void)
{
	hmm_fork_install();
}

SODP_EXPORT bool sodp_hmm_settled(void)
{
	return hmm_uffd_settled();
}
