/* SPDX-License-Identifier: MIT */
/*
 * softodp's translation cache of pinned memory, and pre-registration.
 *
 * Registering pinned (non-ODP) memory faults it in and locks it: hundreds of
 * milliseconds for 1 GiB. softodp keeps the translations of pinned memory
 * in a per-process cache shared by every MR that covers them. Registering
 * memory that a live translation already covers -- the same buffer again, a
 * buffer inside a larger MR, or inside a pre-registered arena -- is a
 * lookup that costs the same for 4 KiB and 1 GiB; the MR is a key, a PD and
 * access rights over the shared translation.
 *
 * A translation lives while an MR or a pre-registration uses it, and while
 * the NIC accesses it. Its pages stay locked while any translation over
 * them lives: deregistering one of two overlapping MRs keeps the pages of
 * the other locked, and a page counts once against RLIMIT_MEMLOCK.
 *
 * Memory unmapped under a translation is revoked, never served again, in
 * every MR that shares it (softodp/mr.h: `revoked`); memory mapped later at
 * the same address gets a fresh translation.
 *
 * The cache belongs to the process that made it: a fork child starts with
 * none (it inherits no devices and no memory locks), and releasing a
 * pre-registration made before the fork only frees the handle there.
 */
#ifndef SOFTODP_PREREG_H
#define SOFTODP_PREREG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sodp_prereg;

/*
 * Translates and locks [addr, addr + length) for reading and writing, once:
 * every later pinned ibv_reg_mr() inside it is a lookup. Returns 0 and *out,
 * or -EINVAL (NULL out, zero length, wrap-around), -EFAULT (a hole,
 * PROT_NONE or read-only memory in the range), -EAGAIN (the mapping kept
 * changing), -ENOMEM; as ibv_reg_mr() of the range with write access would.
 */
int sodp_prereg(void *addr, size_t length, struct sodp_prereg **out);

/*
 * Releases a pre-registration: 0, -EBUSY while MRs still use its
 * translation (nothing is released: deregister them first), -EINVAL for
 * NULL. Memory no other translation covers is unlocked.
 */
int sodp_prereg_release(struct sodp_prereg *p);

struct sodp_cache_stats {
	uint64_t hits;	       /* pinned registrations served by a live translation */
	uint64_t misses;       /* pinned registrations that made one */
	uint64_t translations; /* live translations */
	uint64_t bytes_locked; /* locked by live translations, each byte once */
	uint64_t revocations;  /* unmaps that revoked part of a translation */
};

/* The process's cache counters: 0, or -EINVAL for NULL. */
int sodp_translation_cache_stats(struct sodp_cache_stats *st);

#ifdef __cplusplus
}
#endif

#endif
