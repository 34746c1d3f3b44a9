/* SPDX-License-Identifier: MIT */
/*
 * lib/odp: the translation every memory region stands on.
 *
 * A umem is the soft NIC's translation of one registered range of the
 * process: an MTT of one entry per order-aligned block (order 0 = 4 KiB,
 * 9 = 2 MiB, 18 = 1 GiB, as the CPU maps the memory; seed 004), each entry
 * valid or not and write-valid or not, an interval notifier held for the
 * umem's whole life, and a lock. The provider keeps keys, PDs, access rights
 * and the wire meaning of a miss; lib/odp knows only addresses.
 *
 * Kinds:
 *  - pinned: faulted (for writing when WRITABLE) and mlock()ed at
 *    sodp_umem_get(). What the application later does to the memory:
 *      munmap, mremap away, MAP_FIXED over, shmdt, brk shrink (UNMAP): the
 *        range is revoked for good: its translation goes and is never made
 *        again, whatever gets mapped there later was never registered (a
 *        NIC would keep the old pages; softodp cannot, so access fails);
 *      MADV_DONTNEED/FREE/REMOVE (CLEAR): the translation goes and the next
 *        access refaults the same mapping, so the NIC sees what the process
 *        sees (a kernel-pinned MR would keep the dropped pages instead);
 *      mprotect downgrade (PROTECTION): likewise, so a NIC write to a page
 *        made read-only fails (the kernel's pin would let it land);
 *      fork (FORK): write permission goes; the next NIC write breaks the
 *        copy-on-write in the parent, as the kernel does for pinned pages;
 *  - ODP (SODP_UMEM_ODP): nothing is faulted at registration; a bounded,
 *    no-fault snapshot takes what is already present;
 *  - implicit ODP (sodp_umem_get_implicit()): the whole address space,
 *    served by 1 GiB ODP children created on first fault and freed when
 *    invalidation (or a fault that found nothing mapped) leaves them empty.
 *
 * The protocol (the kernel's ib_umem_odp one):
 *  1. The NIC touches application bytes only between sodp_umem_map_lock()
 *     and sodp_umem_unlock(); map_lock succeeds only if every page of the
 *     access is valid (and write-valid for a write) in the MTT, and holds
 *     the umem's lock (for an implicit umem: the child's) until unlock.
 *  2. The invalidate callback takes that lock and nothing else (never a
 *     device lock), bumps the notifier sequence, zaps the entries the range
 *     overlaps (a large entry only partly invalidated is split: what stays
 *     is kept as smaller entries) and returns. Holding the lock means no
 *     NIC access to the range is in flight when it returns. A FORK event
 *     only takes write permission away: the pages stay readable.
 *  3. Faulting (sodp_umem_fault(), the fault worker, prefetch) runs with no
 *     umem lock held: read_begin, sodp_hmm_range_fault(), then take the lock,
 *     and program the MTT only if read_retry says nothing was invalidated
 *     in between; otherwise start again.
 *  A miss is never resolved under the lock: map_lock returns -EAGAIN and the
 *  caller decides (RNR NAK and a fault on the worker, park a QP, or fault in
 *  line where the wire offers nothing better).
 *
 * Lock order, from outside in:
 *   provider dev->lock -> implicit parent lock -> umem (child) lock
 *   -> lib/hmm's locks (taken inside sodp_hmm_* calls only)
 * The invalidate callback is entered with lib/hmm's invalidation bracket open
 * and takes only a umem lock; the fault worker's queue lock is a leaf and
 * is never held while calling out. Nothing in lib/odp takes a provider lock,
 * so the provider may cancel a fault (which waits for its completion
 * callback) while holding dev->lock, provided the callback takes no lock.
 * A layer that calls in here under a lock of its own installs its fork
 * handlers after sodp_odp_fork_init(), so that its prepare handler takes
 * that lock before lib/hmm's prepare takes lib/hmm's.
 *
 * Copies under the lock use process_vm_readv/writev on the process itself:
 * memory unmapped behind every event source's back (a raw munmap system
 * call the userfaultfd channel reports only afterwards, glibc's free() of a
 * large block) fails the copy with -EFAULT instead of killing the process.
 * The price, from tests/bench/bench_copy on a 2-vCPU VM: 376 ns against
 * memcpy's 4 ns for 8 bytes, 636 against 284 ns for 4 KiB, and 5766
 * against 4497 ns for sixteen 4 KiB pieces in one call
 * (sodp_umem_copyv()), so runs of packets share one call. Atomics must operate on the memory
 * itself: under the lock, on an entry known to be write-valid, after a
 * process_vm_readv probe of the 8 bytes.
 */
#ifndef SODP_ODP_H
#define SODP_ODP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <softodp/mr.h>

#include "list.h"

struct sodp_umem;

#define SODP_UMEM_ODP	   (1U << 0) /* fault on demand */
#define SODP_UMEM_WRITABLE (1U << 1) /* pinned: fault for writing at registration */
#define SODP_UMEM_HUGETLB  (1U << 2) /* the range must be hugetlb memory */

#define SODP_ODP_PREFETCH_MAX (4UL << 20) /* the most one fault brings in */

/*
 * Translates [va, va + length). A pinned request that a live pinned umem
 * already covers shares it (the translation cache, cache.c): *out is that
 * umem, with one more user. Returns 0 and *out, or -EINVAL (zero length,
 * wrap-around, HUGETLB over memory that is not hugetlb), -EFAULT (pinned: a
 * hole, PROT_NONE, or a writable registration of read-only memory),
 * -EAGAIN (pinned: the mapping kept changing), -ENOMEM.
 */
int sodp_umem_get(uintptr_t va, size_t length, unsigned int flags, struct sodp_umem **out);
/* The whole address space, on demand. */
int sodp_umem_get_implicit(struct sodp_umem **out);
/*
 * Drops the registration's reference. When it was the last user, the
 * translation stops at once (every later map_lock misses); the umem itself
 * goes when the last fault using it has finished.
 */
void sodp_umem_release(struct sodp_umem *u);
bool sodp_umem_is_odp(const struct sodp_umem *u);
/* Names the first registration (its lkey) of @u in lib/odp's messages. */
void sodp_umem_set_owner(struct sodp_umem *u, uint32_t key);
/* A reference for use outside the lock that found @u (and its release). */
struct sodp_umem *sodp_umem_hold(struct sodp_umem *u);
void sodp_umem_put(struct sodp_umem *u);

/* ---- access ---- */

struct sodp_umem_map {
	struct sodp_umem *locked; /* the umem whose lock is held */
};

/*
 * Locks the translation of [va, va + len) for an access (@write: the NIC
 * stores into it). Returns 0 with the lock held, -EAGAIN (a page is not
 * mapped with the rights needed: fault it, then try again) or -EINVAL (the
 * range leaves the umem, or spans two implicit children: split it with
 * sodp_umem_chunk()).
 */
int sodp_umem_map_lock(struct sodp_umem *u, uintptr_t va, size_t len, bool write,
		       struct sodp_umem_map *m);
void sodp_umem_unlock(struct sodp_umem_map *m);
/* Under map_lock: copy @len bytes; 0 or -EFAULT. */
int sodp_umem_copy_locked(struct sodp_umem_map *m, uintptr_t va, void *buf, size_t len,
			  bool to_umem);

enum sodp_atomic_op {
	SODP_ATOMIC_CMP_SWAP,
	SODP_ATOMIC_FETCH_ADD,
	SODP_ATOMIC_WRITE,
};

/* Under map_lock (for writing) of 8 aligned bytes at @va; 0 or -EFAULT. */
int sodp_umem_atomic_locked(struct sodp_umem_map *m, uintptr_t va, enum sodp_atomic_op op,
			    uint64_t cmp_add, uint64_t swap, uint64_t *orig);

/* How much of [va, va + len) one map_lock may cover. */
size_t sodp_umem_chunk(const struct sodp_umem *u, uintptr_t va, size_t len);

/*
 * map_lock + copy + unlock over [va, va + len), chunk by chunk. Returns 0,
 * -EAGAIN with *miss set to the first address that needs a fault, or
 * -EFAULT / -EINVAL.
 */
int sodp_umem_copy(struct sodp_umem *u, uintptr_t va, void *buf, size_t len, bool to_umem,
		   uintptr_t *miss);

/*
 * One map_lock + copy + unlock between [va, va + total) and the @n buffers of
 * @iov in order, total being their length together: one system call for
 * what takes @n with sodp_umem_copy(). 0, -EAGAIN when a part is not mapped
 * (nothing says where: fall back to sodp_umem_copy()), -E2BIG when the range
 * needs more than one map_lock, -EFAULT or -EINVAL.
 */
int sodp_umem_copyv(struct sodp_umem *u, uintptr_t va, const struct iovec *iov, unsigned int n,
		    bool to_umem);

/* ---- faults ---- */

#define SODP_FAULT_WRITE      (1U << 0) /* fault for writing */
#define SODP_FAULT_SNAPSHOT   (1U << 1) /* only take what is already mapped */
#define SODP_FAULT_AHEAD      (1U << 2) /* [va, va + len) up to PREFETCH_MAX, best effort past va */
#define SODP_FAULT_BACKGROUND (1U << 3) /* worker: after every fault an access waits for */

/*
 * Faults [va, va + len) of @u in the calling thread and programs the MTT.
 * With AHEAD, only the page at @va must fault: the rest of the range (at
 * most SODP_ODP_PREFETCH_MAX) is best effort. No lock may be held.
 * Returns 0, -EFAULT (no mapping, PROT_NONE), -EPERM (write to read-only
 * memory), -EAGAIN (the mapping kept changing), -EINVAL, -ENOMEM; with
 * SNAPSHOT, 0 even when not everything is present.
 */
int sodp_umem_fault(struct sodp_umem *u, uintptr_t va, size_t len, unsigned int flags);

/*
 * An asynchronous fault, embedded by its user (a QP's requester and
 * responder each have one). The fault worker runs it and then calls @done
 * from its own thread with sodp_umem_fault()'s result, or -ESTALE when the
 * registration was released before the fault finished (no access through
 * it can follow, so the result concerns nobody): @done must not block nor
 * take a lock that is held while calling sodp_fault_cancel(). After @done,
 * umem, va and len still name what was faulted; the umem may be gone.
 */
struct sodp_fault {
	struct list_head node;
	struct sodp_umem *umem;
	uintptr_t va;
	size_t len;
	unsigned int flags;
	int state;	  /* worker-private */
	unsigned int gen; /* worker-private */
	void (*done)(struct sodp_fault *f, int result);
};

void sodp_fault_init(struct sodp_fault *f, void (*done)(struct sodp_fault *f, int result));
/* Queues @f; -EBUSY while @f is queued or running. */
int sodp_fault_submit(struct sodp_fault *f, struct sodp_umem *u, uintptr_t va, size_t len,
		      unsigned int flags);
/* Dequeues @f, or waits until its done callback has returned. */
void sodp_fault_cancel(struct sodp_fault *f);

/*
 * ibv_advise_mr() for one SGE's range: PREFETCH faults for reading, with
 * @write for writing, with @no_fault snapshots only. @sync: in the caller's
 * thread, returning the error; otherwise queued to the worker, best effort.
 */
int sodp_umem_prefetch(struct sodp_umem *u, uintptr_t va, size_t len, bool write, bool no_fault,
		       bool sync);

/*
 * Installs lib/odp's and lib/hmm's fork handlers. A layer that calls into
 * lib/odp under a lock of its own calls this before pthread_atfork(): its
 * prepare handler then runs before theirs (and takes its lock before any
 * of theirs), its child handler after theirs.
 */
void sodp_odp_fork_init(void);

/* ---- counters ---- */

/*
 * The umem's counters and the census of its MTT over [va, va + len) (see
 * struct sodp_mr_stats): a pinned translation may be shared by several MRs,
 * each reports the part it registered. An implicit umem reports it all.
 */
void sodp_umem_stats(struct sodp_umem *u, uintptr_t va, size_t len, struct sodp_mr_stats *st);
/* Counted by the provider: RNR NAKs sent because a page was missing. */
void sodp_umem_count_rnr(struct sodp_umem *u);

#endif
