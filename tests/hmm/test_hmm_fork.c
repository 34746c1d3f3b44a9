// SPDX-License-Identifier: MIT
/*
 * fork: the parent's notifiers hear SODP_EVENT_FORK for private memory,
 * copy-on-write keeps parent and child apart, shared memory stays shared,
 * and the child starts with a working mirror.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compiler.h"
#include "hmm_test.h"

/* Waits for @pid at most @ms; kills it when it hangs. Returns the exit code, or -1. */
static int wait_child(pid_t pid, int ms)
{
	int status, i;

	for (i = 0; i < ms; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (r < 0)
			return -1;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static bool fork_seen(void *arg)
{
	return dmirror_events(arg, SODP_EVENT_FORK) > 0;
}

static void test_raw_fork_reaches_callback_via_uffd(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct dmirror d;
	long pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	if (!have_source(SODP_HMM_SRC_UFFD)) {
		munmap(p, len);
		SODP_SKIP("userfaultfd channel not active");
	}
#ifdef SODP_TSAN
	munmap(p, len);
	SODP_SKIP("no FORK event under ThreadSanitizer (lib/hmm/uffd.c)");
#endif
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	/* No pthread_atfork here: only the FORK event tells. */
	pid = syscall(SYS_fork);
	if (pid == 0)
		syscall(SYS_exit_group, 0);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(wait_child((pid_t)pid, 5000), 0);
	CU_ASSERT_TRUE(wait_until(fork_seen, &d, 5000));
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_fork_sends_fork_event_for_private_memory(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct sodp_hmm_counters c;
	struct dmirror d;
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	sodp_hmm_reset_counters();
	pid = fork();
	if (pid == 0)
		_exit(0);
	CU_ASSERT_FATAL(pid > 0);
	/* Delivered by the prepare handler, before fork() returned. */
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_FORK), 1);
	CU_ASSERT_FALSE(!!(dmirror_entry(&d, (uintptr_t)p) & SODP_PFN_WRITE));
	CU_ASSERT_EQUAL(wait_child(pid, 5000), 0);
	sodp_hmm_get_counters(&c);
	CU_ASSERT_EQUAL(c.events[SODP_HMM_FROM_ATFORK][SODP_EVENT_FORK], 1);
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_fork_child_writes_not_seen_by_parent(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE), v = 'P', got = 0;
	struct dmirror d;
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_write(&d, (uintptr_t)p + PAGE, &v, 1), 0);
	pid = fork();
	if (pid == 0) {
		char c = 'C', back = 0;

		/* The child's copy of the device, through the child's mirror. */
		if (dmirror_write(&d, (uintptr_t)p + PAGE, &c, 1) ||
		    dmirror_read(&d, (uintptr_t)p + PAGE, &back, 1))
			_exit(2);
		_exit(back == 'C' && p[PAGE] == 'C' ? 0 : 1);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL(dmirror_read(&d, (uintptr_t)p + PAGE, &got, 1), 0);
	CU_ASSERT_EQUAL(got, 'P');
	/* The parent's write after fork breaks COW and stays private. */
	v = 'Q';
	CU_ASSERT_EQUAL(dmirror_write(&d, (uintptr_t)p + PAGE, &v, 1), 0);
	CU_ASSERT_EQUAL(p[PAGE], 'Q');
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_shared_anonymous_memory_visible_across_fork(void)
{
	size_t len = 4 * PAGE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0),
	     got = 0;
	struct dmirror d;
	pid_t pid;

	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	pid = fork();
	if (pid == 0) {
		p[2 * PAGE + 7] = 'S';
		_exit(0);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(wait_child(pid, 5000), 0);
	/* Shared pages do not become copy-on-write: no FORK invalidation. */
	CU_ASSERT_EQUAL(dmirror_events(&d, SODP_EVENT_FORK), 0);
	CU_ASSERT_TRUE(!!(dmirror_entry(&d, (uintptr_t)p) & SODP_PFN_WRITE));
	CU_ASSERT_EQUAL(dmirror_read(&d, (uintptr_t)p + 2 * PAGE + 7, &got, 1), 0);
	CU_ASSERT_EQUAL(got, 'S');
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_fork_child_has_working_mirror(void)
{
	size_t len = 8 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct dmirror d;
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(p, 'w', len);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	pid = fork();
	if (pid == 0) {
		unsigned long before = dmirror_invalidations(&d);
		char c = 0;

		if (dmirror_read(&d, (uintptr_t)p + 5 * PAGE, &c, 1) || c != 'w')
			_exit(1);
		/* The child's hooks reach the child's copy of the device. */
		if (munmap(p + 6 * PAGE, 2 * PAGE) || dmirror_invalidations(&d) != before + 1)
			_exit(2);
		if (dmirror_fault(&d, (uintptr_t)p + 6 * PAGE, PAGE, false) != -EFAULT)
			_exit(3);
		if (!(sodp_hmm_sources() & SODP_HMM_SRC_HOOKS))
			_exit(4);
		/* And raw unmaps of registered memory do not hang the child. */
		if (syscall(SYS_munmap, p, 2 * PAGE))
			_exit(5);
		_exit(0);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(wait_child(pid, 10000), 0);
	CU_ASSERT_EQUAL(p[7 * PAGE], 'w'); /* the child's unmap was its own */
	dmirror_fini(&d);
	munmap(p, len);
}

static void test_fork_child_raw_unmap_right_after_fork_does_not_hang(void)
{
	size_t len = 4 * PAGE;
	char *p = map_anon(len, PROT_READ | PROT_WRITE);
	struct dmirror d;
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(dmirror_init(&d, p, len), 0);
	CU_ASSERT_EQUAL(dmirror_fault(&d, (uintptr_t)p, len, true), 0);
	for (i = 0; i < 5; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(syscall(SYS_munmap, p, len) ? 1 : 0);
		CU_ASSERT_FATAL(pid > 0);
		CU_ASSERT_EQUAL(wait_child(pid, 5000), 0);
	}
	dmirror_fini(&d);
	munmap(p, len);
}

static const struct sodp_test_case fork_tests[] = {
	{"test_raw_fork_reaches_callback_via_uffd", test_raw_fork_reaches_callback_via_uffd},
	{"test_fork_sends_fork_event_for_private_memory",
	 test_fork_sends_fork_event_for_private_memory},
	{"test_fork_child_writes_not_seen_by_parent", test_fork_child_writes_not_seen_by_parent},
	{"test_shared_anonymous_memory_visible_across_fork",
	 test_shared_anonymous_memory_visible_across_fork},
	{"test_fork_child_has_working_mirror", test_fork_child_has_working_mirror},
	{"test_fork_child_raw_unmap_right_after_fork_does_not_hang",
	 test_fork_child_raw_unmap_right_after_fork_does_not_hang},
	{NULL, NULL},
};

void hmm_register_fork_tests(void)
{
	sodp_add_suite("hmm_fork", NULL, NULL, fork_tests);
}
