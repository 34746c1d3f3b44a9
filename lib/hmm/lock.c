// SPDX-License-Identifier: MIT
/*
 * lib/hmm's mutexes are taken through hmm_lock(); the lock order is in
 * hmm_internal.h.
 *
 * A thread that must not sleep on a lib/hmm mutex installs a wait function
 * for itself (hmm_lock_set_wait()): hmm_lock() on that thread tries the
 * mutex and, while another thread holds it, calls the function between
 * tries. The userfaultfd reader is such a thread: a thread holding a lib/hmm
 * lock across fork() (the atfork prepare handler) is blocked in the kernel
 * until the reader has read the FORK event, so the reader keeps reading
 * events while it waits. This file calls nothing of lib/hmm: the function
 * is passed in by the thread that needs it.
 */
#include <sched.h>
#include <unistd.h>

#include "hmm_internal.h"

#define LOCK_YIELD_TRIES 64 /* tries that only yield before the waiter sleeps */
#define LOCK_SLEEP_US	 20 /* the sleep between later tries */

static __thread void (*tls_wait)(void);

void hmm_lock_set_wait(void (*wait)(void))
{
	tls_wait = wait;
}

void hmm_lock(pthread_mutex_t *m)
{
	void (*wait)(void) = tls_wait;
	unsigned int i;

	if (likely(!wait)) {
		pthread_mutex_lock(m);
		return;
	}
	for (i = 0; pthread_mutex_trylock(m); i++) {
		wait();
		if (i < LOCK_YIELD_TRIES)
			sched_yield();
		else
			usleep(LOCK_SLEEP_US);
	}
}

void hmm_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
}
