// SPDX-License-Identifier: MIT
/*
 * The userfaultfd event channel: the mirror's view of what the hooks cannot
 * see (munmap inside libc, raw system calls, a fork without atfork).
 *
 * The VMAs that hold mirrored intervals are registered with
 * UFFDIO_REGISTER_MODE_WP and never write-protected: no page fault is ever
 * intercepted and THP stays on, but the context receives the
 * non-cooperative events it asked for: UNMAP (after the memory is gone),
 * REMOVE (madvise DONTNEED/FREE/REMOVE, before the zap), REMAP (mremap move)
 * and FORK. Each event blocks the thread that caused it until our reader
 * thread read() it, so:
 *
 *  - the reader thread must never unmap registered memory itself (it would
 *    wait for itself); callbacks it runs must not either;
 *  - a thread holding a lib/hmm lock across fork() is blocked until the
 *    reader reads the FORK event, so the reader never blocks on a lib/hmm
 *    lock: it makes drain() its lock wait function (hmm_lock_set_wait()),
 *    so hmm_lock() on the reader keeps reading events into its queue
 *    while it waits;
 *  - the fork child inherits the registration under a new context whose only
 *    descriptor the reader receives in the FORK event; closing it at once
 *    unregisters the child and releases anything the child blocked on. The
 *    child opens its own channel lazily (hmm_uffd_child_restart()).
 *
 * Registration is by whole VMAs. Registering part of one splits it at the
 * edges, and the kernel splits a transparent huge page that straddles an
 * unaligned edge into PTEs for good; a small mirror would cost its
 * neighbours their huge pages. So every VMA that overlaps a notifier is
 * registered from its start to its end, and events are filtered by the
 * interval tree on delivery: an event over memory no notifier covers runs
 * no callback. The extents record what we registered: whole VMAs when
 * registered, still registered after a split (mprotect, a partial munmap
 * keep the context on every piece); the kernel skips a VMA already
 * registered to us, so a later mirror inside one changes nothing. A VMA
 * that grows in place (stack, mremap) is registered in full and may extend
 * past its extent; that only makes a later registration a no-op call.
 * When the last notifier in a registered VMA goes away, each piece of it is
 * unregistered, again whole: a registered VMA merges only with neighbours
 * registered to the same context, so keeping it would fragment the mappings
 * around it for nothing. VMAs userfaultfd refuses are left to the hooks.
 * The price: an unmap or zap elsewhere in a registered VMA, libc's own
 * included, also waits for the reader, whose event then finds no notifier.
 * Hooked calls lift the registration of their own range instead
 * (hmm_uffd_lift()).
 *
 * Deduplication: a hook announces [start, end) (hmm_uffd_expect()) before the
 * real call and marks it done after; the reader announces what it delivered
 * itself. An event inside an announced range is already delivered if the
 * announcement is still open (the hook's bracket stops faults from
 * validating) or no range fault started since it was done: a translation
 * can only be rebuilt through a range fault, so none can exist. Otherwise it
 * is delivered again, which is always safe. The table is small; when full,
 * the oldest finished announcement makes room.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "hmm_internal.h"
#include "log.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/*
 * A FORK event makes fork() wait in the kernel until the reader has read
 * it, so the reader must never wait for what a forking thread holds. The
 * C library holds its malloc and stdio locks across the fork system call:
 * the fork gate keeps the reader from delivering (which may allocate)
 * between the prepare and parent handlers. ThreadSanitizer's fork
 * interceptor holds the runtime's own locks from before the prepare
 * handlers run, which any delivery touches: under it the FORK event is not
 * asked for (a fork that bypasses pthread_atfork goes unseen there).
 */
#ifdef SODP_TSAN
#define UFFD_EVENT_FORK_IF_SAFE 0
#else
#define UFFD_EVENT_FORK_IF_SAFE UFFD_FEATURE_EVENT_FORK
#endif
#define UFFD_EVENTS                                                                        \
	(UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_REMAP | \
	 UFFD_EVENT_FORK_IF_SAFE)
/* WP_ASYNC lets WP-mode registration cover any memory type (files too). */
#define UFFD_OPTIONAL (UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_WP_ASYNC)

#define QUEUE_LEN    4096 /* pending events are bounded by blocked threads */
#define EXPECT_SLOTS 64
#define FORK_MISS    0xff /* queue-only pseudo event */
#define FORK_GATE_MS 1000 /* the longest a fork waits for a delivery to end */

struct extent {
	uintptr_t s, e;
};

static struct {
	pthread_mutex_t lock; /* registration state and extents */
	int fd;		      /* -1 while inactive */
	int stop_fd;
	pthread_t reader;
	bool reader_running;
	bool disabled;
	bool child_pending;
	uint64_t features;
	struct extent *ext; /* registered ranges, sorted, disjoint */
	size_t next, ext_cap;
} uf = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .stop_fd = -1};

struct expect {
	uintptr_t s, e;
	uint64_t done_tick; /* eviction order */
	unsigned long fault_gen;
	bool used, done;
};

static pthread_mutex_t exp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct expect expects[EXPECT_SLOTS];

static uint64_t expect_tick; /* under exp_lock */
static unsigned long fork_gen, fork_seen;

/* Reader-private event queue. */
struct qmsg {
	struct uffd_msg m;
	uint64_t t0;
};
static struct {
	struct qmsg q[QUEUE_LEN];
	size_t head, tail;
} rq;

static __thread int tls_reader;

bool hmm_uffd_active(void)
{
	return READ_ONCE(uf.fd) >= 0;
}

/* ---- extents: what we registered ---- */

static int ext_reserve(size_t extra)
{
	struct extent *n;
	size_t cap;

	if (uf.next + extra <= uf.ext_cap)
		return 0;
	cap = uf.ext_cap ? uf.ext_cap * 2 : 64;
	while (cap < uf.next + extra)
		cap *= 2;
	n = realloc(uf.ext, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	uf.ext = n;
	uf.ext_cap = cap;
	return 0;
}

/* Index of the first extent ending above @a. */
static size_t ext_find(uintptr_t a)
{
	size_t lo = 0, hi = uf.next;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (uf.ext[mid].e <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void ext_remove(uintptr_t s, uintptr_t e)
{
	size_t i = ext_find(s), j;

	if (i == uf.next)
		return;
	if (i < uf.next && uf.ext[i].s < s && uf.ext[i].e > e) {
		/* Split one extent in two. */
		if (ext_reserve(1))
			return;
		memmove(&uf.ext[i + 1], &uf.ext[i], (uf.next - i) * sizeof(*uf.ext));
		uf.next++;
		uf.ext[i].e = s;
		uf.ext[i + 1].s = e;
		return;
	}
	if (i < uf.next && uf.ext[i].s < s) {
		uf.ext[i].e = s;
		i++;
	}
	for (j = i; j < uf.next && uf.ext[j].e <= e; j++)
		;
	if (j < uf.next && uf.ext[j].s < e)
		uf.ext[j].s = e;
	memmove(&uf.ext[i], &uf.ext[j], (uf.next - j) * sizeof(*uf.ext));
	uf.next -= j - i;
}

static void ext_add(uintptr_t s, uintptr_t e)
{
	size_t i;

	ext_remove(s, e);
	if (ext_reserve(1))
		return;
	i = ext_find(s);
	memmove(&uf.ext[i + 1], &uf.ext[i], (uf.next - i) * sizeof(*uf.ext));
	uf.ext[i].s = s;
	uf.ext[i].e = e;
	uf.next++;
	if (i + 1 < uf.next && uf.ext[i + 1].s == e) {
		uf.ext[i].e = uf.ext[i + 1].e;
		memmove(&uf.ext[i + 1], &uf.ext[i + 2], (uf.next - i - 2) * sizeof(*uf.ext));
		uf.next--;
	}
	if (i > 0 && uf.ext[i - 1].e == s) {
		uf.ext[i - 1].e = uf.ext[i].e;
		memmove(&uf.ext[i], &uf.ext[i + 1], (uf.next - i - 1) * sizeof(*uf.ext));
		uf.next--;
	}
}

/* Does one extent hold all of [s, e)? (Extents touching each other are merged.) */
static bool ext_covers(uintptr_t s, uintptr_t e)
{
	size_t i = ext_find(s);

	return i < uf.next && uf.ext[i].s <= s && uf.ext[i].e >= e;
}

static bool ext_overlaps(uintptr_t s, uintptr_t e)
{
	size_t i = ext_find(s);

	return i < uf.next && uf.ext[i].s < e;
}

/* ---- registration ---- */

static int ioctl_register(uintptr_t s, uintptr_t e)
{
	struct uffdio_register reg = {
		.range = {.start = s, .len = e - s},
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	return ioctl(uf.fd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

static void ioctl_unregister(uintptr_t s, uintptr_t e)
{
	struct uffdio_range r = {.start = s, .len = e - s};

	ioctl(uf.fd, UFFDIO_UNREGISTER, &r);
}

/*
 * Registers, each as a whole, the VMAs that overlap [s, e) and are not
 * registered yet. A VMA userfaultfd refuses (VM_PFNMAP, a read-only shared
 * file, a memory type the negotiated features do not cover) is left out:
 * the hooks still cover it. Returns 0, or the last error, -EBUSY first (a
 * fork child whose inherited context is not released yet). The first lookup
 * is fresh: a stale parsed-maps cache would name a range that is no longer
 * one VMA, and registering that would split one. Called with uf.lock held.
 */
static int register_vmas_locked(uintptr_t s, uintptr_t e)
{
	struct hmm_vma v;
	uintptr_t a = s;
	bool fresh = true;
	int ret = 0, err;

	/* Bounded: every turn moves @a past one VMA, towards @e. */
	while (a < e && !hmm_vma_find(a, &v, fresh) && v.start < e && v.end > a) {
		fresh = false;
		a = v.end;
		if (ext_covers(v.start, v.end))
			continue;
		err = ioctl_register(v.start, v.end);
		if (!err)
			ext_add(v.start, v.end);
		else if (ret != -EBUSY)
			ret = err;
	}
	return ret;
}

void hmm_uffd_register(uintptr_t start, uintptr_t end)
{
	if (!hmm_uffd_active() || end <= start)
		return;
	hmm_lock(&uf.lock);
	if (uf.fd >= 0 && !ext_covers(start, end))
		register_vmas_locked(start, end);
	hmm_unlock(&uf.lock);
}

void hmm_uffd_forget(uintptr_t start, uintptr_t end)
{
	if (!hmm_uffd_active())
		return;
	hmm_lock(&uf.lock);
	ext_remove(start, end);
	hmm_unlock(&uf.lock);
}

/*
 * A hook that delivers an UNMAP or CLEAR itself lifts the registration of
 * the registered part of [start, end) for the duration of the call: the
 * kernel then has no event to send, and the call does not wait 30-50 us for
 * our reader. What the window could hide (a raw unmap of the same pages by
 * another thread) is inside the hook's open bracket and already invalidated.
 *
 * Only one registered piece is lifted, exactly [*ls, *le), so that
 * hmm_uffd_relift() can put back exactly that: lifting splits the VMA at the
 * piece's edges (the call itself splits it there for an unmap; for a clear
 * the relift merges the pieces again), and registering anything wider could
 * take in VMAs we never registered. A range over several pieces is not
 * lifted; its events come and are deduplicated. Returns true if something
 * was lifted.
 */
bool hmm_uffd_lift(uintptr_t start, uintptr_t end, uintptr_t *ls, uintptr_t *le)
{
	size_t i;
	bool lifted = false;

	if (!hmm_uffd_active())
		return false;
	hmm_lock(&uf.lock);
	i = ext_find(start);
	if (uf.fd >= 0 && i < uf.next && uf.ext[i].s < end &&
	    !(i + 1 < uf.next && uf.ext[i + 1].s < end)) {
		*ls = SODP_MAX(start, uf.ext[i].s);
		*le = SODP_MIN(end, uf.ext[i].e);
		ioctl_unregister(*ls, *le);
		ext_remove(*ls, *le);
		lifted = true;
	}
	hmm_unlock(&uf.lock);
	return lifted;
}

/*
 * Puts back exactly what hmm_uffd_lift() took; the kernel merges the piece
 * with the registered VMAs around it again, as it was before the call.
 */
void hmm_uffd_relift(uintptr_t ls, uintptr_t le)
{
	if (!hmm_uffd_active())
		return;
	hmm_lock(&uf.lock);
	if (uf.fd >= 0 && !ioctl_register(ls, le))
		ext_add(ls, le);
	hmm_unlock(&uf.lock);
}

/*
 * Unregisters, each as a whole, the VMAs in the registered span around
 * [s, e) that no notifier overlaps any more, and forgets the parts of that
 * span nothing is mapped at. The span is the extents that overlap [s, e):
 * a VMA registered whole and split since (mprotect, a partial munmap) has
 * its pieces there even where they lie outside [s, e). Unregistering gives
 * the VMA back to the kernel's merging: a registered VMA merges only with
 * neighbours registered to the same context. Called with uf.lock held.
 */
static void unregister_idle_locked(uintptr_t s, uintptr_t e)
{
	size_t i = ext_find(s);
	struct hmm_vma v;
	uintptr_t a;
	bool fresh = true;
	int ret;

	if (i == uf.next || uf.ext[i].s >= e)
		return;
	s = SODP_MIN(s, uf.ext[i].s);
	i = ext_find(e - 1);
	if (i < uf.next && uf.ext[i].s < e)
		e = SODP_MAX(e, uf.ext[i].e);

	/* Bounded: every turn moves @a past one VMA or hole, towards @e. */
	for (a = s; a < e; fresh = false) {
		ret = hmm_vma_find(a, &v, fresh);
		if (ret == -ENOENT || (!ret && v.start >= e)) {
			ext_remove(a, e);
			break;
		}
		if (ret || v.end <= a)
			break;
		if (v.start > a)
			ext_remove(a, v.start);
		if (ext_overlaps(v.start, v.end) && !hmm_tree_overlaps(v.start, v.end)) {
			ioctl_unregister(v.start, v.end);
			ext_remove(v.start, v.end);
		}
		a = v.end;
	}
}

void hmm_uffd_unregister_idle(uintptr_t start, uintptr_t end)
{
	if (!hmm_uffd_active() || end <= start)
		return;
	hmm_lock(&uf.lock);
	if (uf.fd >= 0)
		unregister_idle_locked(start, end);
	hmm_unlock(&uf.lock);
}

/*
 * A mremap move took a registered VMA to [s, e) with its registration:
 * it is ours there, and stays registered only if a notifier is in it.
 */
static void remap_arrived(uintptr_t s, uintptr_t e)
{
	hmm_lock(&uf.lock);
	if (uf.fd >= 0) {
		ext_add(s, e);
		unregister_idle_locked(s, e);
	}
	hmm_unlock(&uf.lock);
}

/* ---- expectations (hook side) ---- */

int hmm_uffd_expect(uintptr_t start, uintptr_t end)
{
	int i, slot = -1;

	hmm_lock(&exp_lock);
	for (i = 0; i < EXPECT_SLOTS; i++) {
		if (!expects[i].used) {
			slot = i;
			break;
		}
		/* Full: recycle the oldest finished one (an event it would have
		 * matched is then delivered twice: harmless). */
		if (expects[i].done && (slot < 0 || expects[i].done_tick < expects[slot].done_tick))
			slot = i;
	}
	if (slot >= 0) {
		expects[slot] = (struct expect){.s = start, .e = end, .used = true};
	}
	hmm_unlock(&exp_lock);
	return slot;
}

void hmm_uffd_expect_done(int slot)
{
	hmm_lock(&exp_lock);
	expects[slot].done = true;
	expects[slot].done_tick = ++expect_tick;
	expects[slot].fault_gen = __atomic_load_n(&hmm_fault_gen, __ATOMIC_SEQ_CST);
	hmm_unlock(&exp_lock);
}

static void note_fork(void)
{
	__atomic_fetch_add(&fork_gen, 1, __ATOMIC_SEQ_CST);
}

/* ---- the reader ---- */

static bool expected(uintptr_t s, uintptr_t e)
{
	unsigned long fg = __atomic_load_n(&hmm_fault_gen, __ATOMIC_SEQ_CST);
	bool hit = false;
	int i;

	hmm_lock(&exp_lock);
	for (i = 0; i < EXPECT_SLOTS && !hit; i++) {
		struct expect *x = &expects[i];

		if (x->used && s >= x->s && e <= x->e && (!x->done || x->fault_gen == fg))
			hit = true;
	}
	hmm_unlock(&exp_lock);
	return hit;
}

static void push(const struct uffd_msg *m, uint64_t t0)
{
	struct qmsg *q;

	if (rq.tail - rq.head == QUEUE_LEN) {
		sodp_warn("hmm: userfaultfd queue full, event dropped");
		return;
	}
	q = &rq.q[rq.tail++ % QUEUE_LEN];
	q->m = *m;
	q->t0 = t0;
}

/* A FORK event: release the child's context now, decide dedup without locks. */
static void fork_event(const struct uffd_msg *m, uint64_t t0)
{
	unsigned long seen = __atomic_load_n(&fork_seen, __ATOMIC_SEQ_CST);

	close((int)m->arg.fork.ufd);
	if (__atomic_load_n(&fork_gen, __ATOMIC_SEQ_CST) > seen &&
	    __atomic_compare_exchange_n(&fork_seen, &seen, seen + 1, false, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST)) {
		hmm_count(HMM_C_UFFD_DEDUP, 1);
		return;
	}
	{
		struct uffd_msg miss = {.event = FORK_MISS};

		push(&miss, t0);
	}
}

/*
 * Nonzero from just before the reader reads events until it has delivered
 * all it read. A thread unmapping registered memory is released as soon as
 * the reader read() its event, before the notifiers are told: in between,
 * the address can be mapped again (free() then malloc()). A mirror user
 * must not trust its translations in that window (sodp_hmm_settled()), so
 * the flag is raised before the read that releases the unmapping thread,
 * never after it.
 */
static int uffd_unsettled;

/* Reads whatever is pending into the queue; never blocks. */
static void drain(void)
{
	struct uffd_msg buf[64];
	size_t space = QUEUE_LEN - (rq.tail - rq.head), i;
	uint64_t t0;
	ssize_t n;
	int fd = READ_ONCE(uf.fd);

	if (fd < 0 || !space)
		return;
	/* cleared by the reader loop once the queue is delivered */
	__atomic_store_n(&uffd_unsettled, 1, __ATOMIC_SEQ_CST);
	n = read(fd, buf, SODP_MIN(space, ARRAY_SIZE(buf)) * sizeof(buf[0]));
	if (n <= 0)
		return;
	t0 = sodp_now_ns();
	for (i = 0; i < (size_t)n / sizeof(buf[0]); i++) {
		hmm_count(HMM_C_UFFD_EVENTS, 1);
		if (buf[i].event == UFFD_EVENT_FORK)
			fork_event(&buf[i], t0);
		else
			push(&buf[i], t0);
	}
}

/*
 * A delivered miss is itself an announcement: a mremap move, for one, sends
 * REMAP and then UNMAP for the same range, and the second must not invalidate
 * again unless a fault ran in between.
 */
static void announce_delivered(uintptr_t s, uintptr_t e)
{
	int slot = hmm_uffd_expect(s, e);

	if (slot >= 0)
		hmm_uffd_expect_done(slot);
}

static void deliver(uintptr_t s, uintptr_t e, enum sodp_event ev, uint64_t t0)
{
	struct hmm_inv inv;

	if (expected(s, e)) {
		hmm_count(HMM_C_UFFD_DEDUP, 1);
		return;
	}
	if (hmm_inv_begin(&inv, s, e, ev, SODP_HMM_FROM_UFFD, t0)) {
		hmm_count(HMM_C_HOOK_MISSES, 1);
		announce_delivered(s, e);
		hmm_inv_close(&inv);
	}
}

static void process(const struct qmsg *q)
{
	const struct uffd_msg *m = &q->m;
	uintptr_t s, e;

	switch (m->event) {
	case UFFD_EVENT_UNMAP:
		s = m->arg.remove.start;
		e = m->arg.remove.end;
		hmm_maps_invalidate();
		/* forgotten first: a mapping made there meanwhile is registered anew */
		hmm_uffd_forget(s, e);
		deliver(s, e, SODP_EVENT_UNMAP, q->t0);
		break;
	case UFFD_EVENT_REMOVE:
		deliver(m->arg.remove.start, m->arg.remove.end, SODP_EVENT_CLEAR, q->t0);
		break;
	case UFFD_EVENT_REMAP:
		s = m->arg.remap.from;
		e = s + m->arg.remap.len;
		hmm_maps_invalidate();
		hmm_uffd_forget(s, e);
		deliver(s, e, SODP_EVENT_UNMAP, q->t0);
		remap_arrived(m->arg.remap.to, m->arg.remap.to + m->arg.remap.len);
		break;
	case FORK_MISS:
		/* A fork that bypassed pthread_atfork: every notifier is told. */
		if (hmm_inv_all(SODP_EVENT_FORK, SODP_HMM_FROM_UFFD, q->t0))
			hmm_count(HMM_C_HOOK_MISSES, 1);
		break;
	default:
		break;
	}
}

bool hmm_uffd_settled(void)
{
	return !__atomic_load_n(&uffd_unsettled, __ATOMIC_SEQ_CST);
}

/*
 * The fork gate: closed by the prepare handler, opened by the parent
 * handler. While it is closed the reader only reads (into its queue, which
 * allocates nothing) and delivers after the fork; the prepare handler
 * waits, bounded, for a delivery in progress to end (reader_busy).
 */
static int fork_gate, reader_busy;

static void *reader_main(void *arg)
{
	struct pollfd p[2];
	int fd = (int)(intptr_t)arg;

	tls_reader = 1;
	hmm_lock_set_wait(drain);
	p[0].fd = fd;
	p[0].events = POLLIN;
	p[1].fd = READ_ONCE(uf.stop_fd);
	p[1].events = POLLIN;
	for (;;) {
		bool gated = __atomic_load_n(&fork_gate, __ATOMIC_SEQ_CST);

		if (rq.head == rq.tail || gated) {
			/* a closed gate is polled for: a fork is short */
			if (poll(p, 2, gated ? 1 : -1) < 0 && errno != EINTR)
				break;
			if (p[1].revents)
				break;
		}
		drain();
		__atomic_store_n(&reader_busy, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&fork_gate, __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&reader_busy, 0, __ATOMIC_SEQ_CST);
			continue;
		}
		while (rq.head != rq.tail) {
			struct qmsg q = rq.q[rq.head++ % QUEUE_LEN];

			process(&q);
		}
		__atomic_store_n(&uffd_unsettled, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&reader_busy, 0, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* Closes the fork gate and waits, at most FORK_GATE_MS, for the reader to stop delivering. */
static void fork_gate_close(void)
{
	struct timespec ts = {0, 100000};
	int i;

	if (!(uf.features & UFFD_FEATURE_EVENT_FORK) || !READ_ONCE(uf.reader_running))
		return;
	__atomic_store_n(&fork_gate, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < FORK_GATE_MS * 10 && __atomic_load_n(&reader_busy, __ATOMIC_SEQ_CST); i++)
		nanosleep(&ts, NULL);
}

/* ---- start, stop, fork ---- */

static int uffd_open(void)
{
	int fd, dev;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	/* vm.unprivileged_userfaultfd=0 without CAP_SYS_PTRACE: the device node. */
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -1;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	close(dev);
	return fd;
}

/* Opens, negotiates and starts the reader; uf.lock held. */
static int start_locked(void)
{
	struct uffdio_api api = {.api = UFFD_API};
	sigset_t all, old;
	int fd, stop, ret;

	if (uf.fd >= 0 || uf.disabled)
		return 0;
	if (sodp_env_flag("SOFTODP_HMM_NO_UFFD")) {
		uf.disabled = true;
		return -EPERM;
	}
	/* Two-step handshake: UFFDIO_API works once per descriptor. */
	fd = uffd_open();
	if (fd < 0)
		goto err_disable;
	ret = ioctl(fd, UFFDIO_API, &api);
	close(fd);
	if (ret || (api.features & UFFD_EVENTS) != UFFD_EVENTS)
		goto err_disable;
	uf.features = UFFD_EVENTS | (api.features & UFFD_OPTIONAL);

	fd = uffd_open();
	if (fd < 0)
		goto err_disable;
	api = (struct uffdio_api){.api = UFFD_API, .features = uf.features};
	if (ioctl(fd, UFFDIO_API, &api))
		goto err_close;
	stop = eventfd(0, EFD_CLOEXEC);
	if (stop < 0)
		goto err_close;
	WRITE_ONCE(uf.stop_fd, stop);
	rq.head = rq.tail = 0;

	/* The reader takes no signal meant for the application. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&uf.reader, NULL, reader_main, (void *)(intptr_t)fd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto err_stop;
	pthread_setname_np(uf.reader, "sodp-uffd");
	uf.reader_running = true;
	WRITE_ONCE(uf.fd, fd);
	sodp_dbg("hmm: userfaultfd channel up, features %#llx", (unsigned long long)uf.features);
	return 0;

err_stop:
	close(stop);
	WRITE_ONCE(uf.stop_fd, -1);
err_close:
	close(fd);
err_disable:
	sodp_info("hmm: userfaultfd unavailable (%s); hooks only", strerror(errno));
	uf.disabled = true;
	return -EOPNOTSUPP;
}

int hmm_uffd_start(void)
{
	int ret;

	hmm_lock(&uf.lock);
	ret = start_locked();
	hmm_unlock(&uf.lock);
	return ret;
}

void hmm_uffd_stop(void)
{
	uint64_t one = 1;
	int fd;

	hmm_lock(&uf.lock);
	fd = uf.fd;
	if (fd < 0) {
		uf.disabled = true;
		hmm_unlock(&uf.lock);
		return;
	}
	WRITE_ONCE(uf.fd, -1);
	uf.disabled = true;
	if (write(uf.stop_fd, &one, sizeof(one)) < 0)
		sodp_warn("hmm: cannot stop the userfaultfd reader");
	hmm_unlock(&uf.lock);
	if (uf.reader_running && !tls_reader)
		pthread_join(uf.reader, NULL);
	uf.reader_running = false;
	/* Closing the context unregisters every range it holds. */
	close(fd);
	close(uf.stop_fd);
	WRITE_ONCE(uf.stop_fd, -1);
	hmm_lock(&uf.lock);
	uf.next = 0;
	hmm_unlock(&uf.lock);
}

void hmm_uffd_fork_prepare(void)
{
	fork_gate_close();
	hmm_lock(&uf.lock);
	hmm_lock(&exp_lock);
	if (uf.fd >= 0)
		note_fork();
}

void hmm_uffd_fork_parent(void)
{
	hmm_unlock(&exp_lock);
	hmm_unlock(&uf.lock);
	__atomic_store_n(&fork_gate, 0, __ATOMIC_SEQ_CST);
}

/*
 * The child shares the parent's descriptor, whose context is the parent's
 * address space: reading it would steal the parent's events. Close it and
 * let the first mirror call in the child open the child's own.
 */
void hmm_uffd_fork_child(void)
{
	pthread_mutex_init(&uf.lock, NULL);
	pthread_mutex_init(&exp_lock, NULL);
	memset(expects, 0, sizeof(expects));
	rq.head = rq.tail = 0;
	uf.next = 0;
	uf.reader_running = false;
	fork_gate = reader_busy = 0;
	if (uf.fd >= 0) {
		close(uf.fd);
		close(uf.stop_fd);
		uf.fd = -1;
		uf.stop_fd = -1;
		uf.child_pending = true;
	}
}

struct piece_list {
	struct extent *v;
	size_t n, cap;
};

static void collect_piece(uintptr_t s, uintptr_t e, void *arg)
{
	struct piece_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct extent *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct extent){s, e};
}

/*
 * First mirror call in a fork child: a channel of its own, registered over
 * every inherited notifier. Until the parent's reader has closed the
 * context the child inherited, registration fails with EBUSY; retry briefly.
 */
void hmm_uffd_child_restart(void)
{
	struct piece_list l = {0};
	size_t i;
	int tries;

	if (likely(!READ_ONCE(uf.child_pending)))
		return;
	hmm_lock(&uf.lock);
	if (!uf.child_pending) {
		hmm_unlock(&uf.lock);
		return;
	}
	WRITE_ONCE(uf.child_pending, false);
	uf.disabled = false;
	if (start_locked()) {
		hmm_unlock(&uf.lock);
		return;
	}
	hmm_tree_covered(0, UINTPTR_MAX, collect_piece, &l);
	for (i = 0; i < l.n; i++)
		for (tries = 0; tries < 200 && register_vmas_locked(l.v[i].s, l.v[i].e) == -EBUSY;
		     tries++)
			usleep(500);
	hmm_unlock(&uf.lock);
	free(l.v);
}
