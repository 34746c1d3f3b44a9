// SPDX-License-Identifier: MIT
/*
 * Synchronous event source: interposition of the libc calls that remove or
 * downgrade mappings. Each runs the invalidation callbacks BEFORE the real
 * call and keeps the bracket open until the call returns, the shape of the
 * kernel's invalidate_range_start/end: a fault racing the change sees -EBUSY
 * or a moved sequence and cannot validate the old mapping.
 *
 * These are global definitions of munmap, mremap, madvise, posix_madvise,
 * mprotect, pkey_mprotect, brk, sbrk, shmdt, mmap and mmap64. They take
 * precedence over libc's when lib/hmm is linked into an executable and when
 * libsoftodp.so is loaded (or LD_PRELOADed) before libc. With no notifier
 * inserted they cost one relaxed load before the system call, and they set
 * errno and return values exactly as libc does. Calls glibc makes on its own
 * behalf (free() unmapping a large chunk, the malloc heap trimming through
 * __sbrk) do not come through here: the userfaultfd channel covers those.
 *
 * The real calls go straight to the kernel through syscall(), except under a
 * sanitizer runtime that intercepts the same function (its shadow memory must
 * learn about the change) and brk/sbrk, where libc keeps the current break.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hmm_internal.h"

#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* Sanitizer interceptors, present only in sanitized builds. */
extern void *__interceptor_mmap(void *, size_t, int, int, int, off_t) __attribute__((weak));
extern int __interceptor_munmap(void *, size_t) __attribute__((weak));
extern int __interceptor_mprotect(void *, size_t, int) __attribute__((weak));

static int hooks_off;

bool hmm_hooks_enabled(void)
{
	return !READ_ONCE(hooks_off);
}

void hmm_hooks_reload_env(void)
{
	WRITE_ONCE(hooks_off, sodp_env_flag("SOFTODP_HMM_NO_HOOKS"));
}

static bool armed(void)
{
	return unlikely(hmm_mirror_active()) && hmm_hooks_enabled();
}

/*
 * With a sanitizer runtime, exactly one of the two interposers must tell it
 * about a mapping change. Where the program binds to our definitions (lib/hmm
 * linked into a sanitized executable), we call the runtime's interceptor.
 * Where the runtime's definitions come first (a sanitized libsoftodp
 * preloaded after libasan), the interceptor has already run and called us as
 * its "real" function: calling it again would recurse, so we go to the
 * kernel. Decided once; during the decision, calls go to the kernel.
 */
/* Is the munmap the program binds to the one in this object? */
static bool bound_to_us(void)
{
	Dl_info first, self;
	void *sym = dlsym(RTLD_DEFAULT, "munmap");

	if (!sym || !dladdr(sym, &first) || !dladdr((void *)bound_to_us, &self))
		return false;
	return first.dli_fbase == self.dli_fbase;
}

static bool use_interceptors(void)
{
	static int state; /* 0 undecided, 1 deciding or no, 2 yes */
	int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);

	if (!__interceptor_munmap)
		return false;
	if (s == 0) {
		int expect = 0;

		if (!__atomic_compare_exchange_n(&state, &expect, 1, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			return expect == 2;
		s = bound_to_us() ? 2 : 1;
		__atomic_store_n(&state, s, __ATOMIC_RELEASE);
	}
	return s == 2;
}

static void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (__interceptor_mmap && use_interceptors())
		return __interceptor_mmap(addr, len, prot, flags, fd, off);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static int real_munmap(void *addr, size_t len)
{
	if (__interceptor_munmap && use_interceptors())
		return __interceptor_munmap(addr, len);
	return (int)syscall(SYS_munmap, addr, len);
}

static int real_mprotect(void *addr, size_t len, int prot)
{
	if (__interceptor_mprotect && use_interceptors())
		return __interceptor_mprotect(addr, len, prot);
	return (int)syscall(SYS_mprotect, addr, len, prot);
}

/*
 * One hooked call: the bracket and, if the uffd channel runs, its dedup slot
 * and the registration it lifted for the call, [lift_start, lift_end).
 */
struct hook {
	struct hmm_inv inv;
	uintptr_t start, end;
	uintptr_t lift_start, lift_end;
	enum sodp_event event;
	int slot;
	bool lifted;
};

/* [addr, addr + len) rounded out to pages; false if the kernel will refuse it. */
static bool hook_range(const void *addr, size_t len, uintptr_t *s, uintptr_t *e)
{
	uintptr_t a = (uintptr_t)addr, end;

	if (a & (HMM_PAGE_SIZE - 1) || !len || a > UINTPTR_MAX - len)
		return false;
	end = hmm_page_up(a + len);
	if (!end)
		return false;
	*s = a;
	*e = end;
	return true;
}

/*
 * @lift: the kernel sends a userfaultfd event for this call on registered
 * memory (unmaps, and the madvise advice that zaps pages). Registration is
 * by whole VMAs, so the range may be registered with no notifier in it; it
 * is lifted all the same, as the call would otherwise wait for the reader
 * only to have its event ignored.
 */
static void hook_begin(struct hook *h, uintptr_t s, uintptr_t e, enum sodp_event event, bool lift)
{
	uint64_t t0 = sodp_now_ns();
	bool mirrored;

	h->start = s;
	h->end = e;
	h->event = event;
	h->slot = -1;
	h->lifted = false;
	hmm_maps_invalidate();
	mirrored = hmm_inv_begin(&h->inv, s, e, event, SODP_HMM_FROM_HOOK, t0);
	if (!hmm_uffd_active())
		return;
	if (mirrored)
		h->slot = hmm_uffd_expect(s, e);
	if (lift)
		h->lifted = hmm_uffd_lift(s, e, &h->lift_start, &h->lift_end);
}

static void hook_end(struct hook *h, bool ok)
{
	int err = errno;

	if (h->slot >= 0)
		hmm_uffd_expect_done(h->slot);
	if (ok && h->event == SODP_EVENT_UNMAP)
		hmm_uffd_forget(h->start, h->end);
	else if (h->lifted)
		hmm_uffd_relift(h->lift_start, h->lift_end);
	hmm_inv_close(&h->inv);
	hmm_maps_invalidate();
	errno = err;
}

SODP_EXPORT int munmap(void *addr, size_t len)
{
	struct hook h;
	uintptr_t s, e;
	int ret;

	if (!armed() || !hook_range(addr, len, &s, &e))
		return real_munmap(addr, len);
	hook_begin(&h, s, e, SODP_EVENT_UNMAP, true);
	ret = real_munmap(addr, len);
	hook_end(&h, ret == 0);
	return ret;
}

static void *do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct hook h;
	uintptr_t s, e;
	void *ret;

	if (!armed())
		return real_mmap(addr, len, prot, flags, fd, off);
	/* MAP_FIXED_NOREPLACE never replaces; plain hints never do either. */
	if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != MAP_FIXED ||
	    !hook_range(addr, len, &s, &e)) {
		hmm_maps_invalidate();
		return real_mmap(addr, len, prot, flags, fd, off);
	}
	hook_begin(&h, s, e, SODP_EVENT_UNMAP, true);
	ret = real_mmap(addr, len, prot, flags, fd, off);
	hook_end(&h, ret != MAP_FAILED);
	return ret;
}

SODP_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off);
}

SODP_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return do_mmap(addr, len, prot, flags, fd, (off_t)off);
}

SODP_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL, *ret;
	struct hook h, hdst;
	uintptr_t s, e, ds, de;
	bool dst = false;
	va_list ap;

	if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (!armed() || !hook_range(old, old_len ? old_len : 1, &s, &e))
		return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	if (!(flags & MREMAP_MAYMOVE) && new_len >= old_len)
		return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	/*
	 * A shrink in place unmaps the tail; anything that may move (the pages
	 * then live elsewhere) invalidates the whole old range. MREMAP_FIXED
	 * also unmaps whatever was at the destination.
	 */
	if (!(flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) && new_len < old_len && old_len) {
		uintptr_t tail = hmm_page_up(s + new_len);

		if (tail && tail < e)
			s = tail;
		else
			return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	}
	hook_begin(&h, s, e, SODP_EVENT_UNMAP, true);
	if ((flags & MREMAP_FIXED) && hook_range(new_addr, new_len, &ds, &de)) {
		hook_begin(&hdst, ds, de, SODP_EVENT_UNMAP, true);
		dst = true;
	}
	ret = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	if (dst)
		hook_end(&hdst, ret != MAP_FAILED);
	hook_end(&h, ret != MAP_FAILED && !(flags & MREMAP_DONTUNMAP));
	return ret;
}

/* madvise advice after which userfaultfd sends REMOVE (before the zap). */
static bool advice_notifies(int advice)
{
	switch (advice) {
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
	case MADV_FREE:
	case MADV_REMOVE:
		return true;
	default:
		return false;
	}
}

/* madvise advice that drops pages from the page tables. */
static bool advice_clears(int advice)
{
	switch (advice) {
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
	case MADV_FREE:
	case MADV_REMOVE:
	case MADV_PAGEOUT:
	case MADV_COLLAPSE:
	case MADV_GUARD_INSTALL:
	case MADV_HWPOISON:
	case MADV_SOFT_OFFLINE:
		return true;
	default:
		return false;
	}
}

SODP_EXPORT int madvise(void *addr, size_t len, int advice)
{
	struct hook h;
	uintptr_t s, e;
	int ret;

	if (!armed() || !advice_clears(advice) || !hook_range(addr, len, &s, &e))
		return (int)syscall(SYS_madvise, addr, len, advice);
	hook_begin(&h, s, e, SODP_EVENT_CLEAR, advice_notifies(advice));
	ret = (int)syscall(SYS_madvise, addr, len, advice);
	hook_end(&h, ret == 0);
	return ret;
}

/*
 * glibc's posix_madvise() returns the error instead of setting errno and
 * ignores POSIX_MADV_DONTNEED, whose POSIX meaning is advisory while Linux's
 * MADV_DONTNEED destroys data; we keep both behaviours. The other advice
 * values never drop pages.
 */
SODP_EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	int err = errno, ret;

	if (advice == POSIX_MADV_DONTNEED)
		return 0;
	ret = (int)syscall(SYS_madvise, addr, len, advice);
	ret = ret ? errno : 0;
	errno = err;
	return ret;
}

/* A change that keeps both read and write access cannot revoke a translation. */
static bool prot_downgrades(int prot)
{
	return (prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE);
}

SODP_EXPORT int mprotect(void *addr, size_t len, int prot)
{
	struct hook h;
	uintptr_t s, e;
	int ret;

	if (!armed())
		return real_mprotect(addr, len, prot);
	if (!prot_downgrades(prot) || !hook_range(addr, len, &s, &e)) {
		ret = real_mprotect(addr, len, prot);
		hmm_maps_invalidate();
		return ret;
	}
	hook_begin(&h, s, e, SODP_EVENT_PROTECTION, false);
	ret = real_mprotect(addr, len, prot);
	hook_end(&h, ret == 0);
	return ret;
}

/* A new protection key may deny access to other threads: always a downgrade. */
SODP_EXPORT int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
	struct hook h;
	uintptr_t s, e;
	int ret;

	if (!armed() || (!prot_downgrades(prot) && pkey == -1) || !hook_range(addr, len, &s, &e)) {
		ret = (int)syscall(SYS_pkey_mprotect, addr, len, prot, pkey);
		hmm_maps_invalidate();
		return ret;
	}
	hook_begin(&h, s, e, SODP_EVENT_PROTECTION, false);
	ret = (int)syscall(SYS_pkey_mprotect, addr, len, prot, pkey);
	hook_end(&h, ret == 0);
	return ret;
}

/*
 * brk/sbrk: libc caches the break (__curbrk), so the real functions are
 * libc's, found with dlsym(RTLD_NEXT). A shrink unmaps [new, old).
 */
static int (*next_brk)(void *);
static void *(*next_sbrk)(intptr_t);

static void resolve_brk(void)
{
	if (!__atomic_load_n(&next_brk, __ATOMIC_ACQUIRE)) {
		void *b = dlsym(RTLD_NEXT, "brk"), *sb = dlsym(RTLD_NEXT, "sbrk");

		__atomic_store_n(&next_sbrk, (void *(*)(intptr_t))sb, __ATOMIC_RELEASE);
		__atomic_store_n(&next_brk, (int (*)(void *))b, __ATOMIC_RELEASE);
	}
}

static uintptr_t current_break(void)
{
	return (uintptr_t)syscall(SYS_brk, 0);
}

static int raw_brk(void *addr)
{
	uintptr_t got = (uintptr_t)syscall(SYS_brk, addr);

	if (got < (uintptr_t)addr) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Moving the break down from @old_brk to @new_brk unmaps the pages wholly
 * above the new break: [page_up(new_brk), page_up(old_brk)). False when the
 * break does not go down or no whole page is freed.
 */
static bool shrink_range(uintptr_t new_brk, uintptr_t old_brk, uintptr_t *s, uintptr_t *e)
{
	if (new_brk >= old_brk)
		return false;
	*s = hmm_page_up(new_brk);
	*e = hmm_page_up(old_brk);
	return *s != 0 && *e > *s;
}

SODP_EXPORT int brk(void *addr)
{
	struct hook h;
	uintptr_t s, e;
	bool hooked = false;
	int ret;

	resolve_brk();
	if (armed() && shrink_range((uintptr_t)addr, current_break(), &s, &e)) {
		hook_begin(&h, s, e, SODP_EVENT_UNMAP, true);
		hooked = true;
	}
	ret = next_brk ? next_brk(addr) : raw_brk(addr);
	if (hooked)
		hook_end(&h, ret == 0);
	return ret;
}

SODP_EXPORT void *sbrk(intptr_t increment)
{
	struct hook h;
	uintptr_t cur, s, e;
	bool hooked = false;
	void *ret;

	resolve_brk();
	if (armed() && increment < 0) {
		cur = current_break();
		if (shrink_range(cur + (uintptr_t)increment, cur, &s, &e)) {
			hook_begin(&h, s, e, SODP_EVENT_UNMAP, true);
			hooked = true;
		}
	}
	if (next_sbrk) {
		ret = next_sbrk(increment);
	} else {
		cur = current_break();
		ret = raw_brk((void *)(cur + (uintptr_t)increment)) ? (void *)-1 : (void *)cur;
	}
	if (hooked)
		hook_end(&h, ret != (void *)-1);
	return ret;
}

/* The attach is every VMA of the segment that starts at @addr. */
static bool shm_extent(uintptr_t addr, uintptr_t *s, uintptr_t *e)
{
	struct hmm_vma v, next;

	if (hmm_vma_find(addr, &v, true) || v.start != addr)
		return false;
	while (!hmm_vma_find(v.end, &next, false) && next.start == v.end && next.inode == v.inode &&
	       next.dev_major == v.dev_major && next.dev_minor == v.dev_minor && next.shared)
		v.end = next.end;
	*s = addr;
	*e = v.end;
	return true;
}

SODP_EXPORT int shmdt(const void *addr)
{
	struct hook h;
	uintptr_t s, e;
	int ret;

	if (!armed() || !shm_extent((uintptr_t)addr, &s, &e))
		return (int)syscall(SYS_shmdt, addr);
	hook_begin(&h, s, e, SODP_EVENT_UNMAP, true);
	ret = (int)syscall(SYS_shmdt, addr);
	hook_end(&h, ret == 0);
	return ret;
}
