// SPDX-License-Identifier: MIT
/*
 * What waking a sleeping thread costs on this machine, the price the
 * engine's background thread pays for every packet no polling caller
 * receives (perftest's ib_write_lat: the application spins on memory). A
 * thread sleeps in read() on an eventfd; another writes it and takes the
 * time until the sleeper runs, with:
 *   - the sleeper on the other CPU, idle;
 *   - the sleeper on the other CPU, where a thread spins;
 *   - the sleeper on the waker's CPU, the waker going to sleep at once
 *     (what a UDP ping-pong with blocking receives does).
 * Needs two CPUs; pins its threads to CPUs 0 and 1.
 *
 * Usage: bench_wake [wake-ups per case, default 2000]
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#define MAX_N 100000

static int efd, n;
static int stop, woken;	 /* atomic */
static uint64_t sent_ns; /* atomic */
static double lat[MAX_N];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

static void *spinner(void *arg)
{
	pin((int)(intptr_t)arg);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		;
	return NULL;
}

static void *sleeper(void *arg)
{
	uint64_t v;
	int i;

	pin((int)(intptr_t)arg);
	for (i = 0; i < n; i++) {
		if (read(efd, &v, sizeof(v)) != sizeof(v))
			break;
		lat[i] = (double)(now_ns() - __atomic_load_n(&sent_ns, __ATOMIC_ACQUIRE)) / 1000.0;
		__atomic_store_n(&woken, i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One case: the sleeper on @cpu, a spinner beside it or not, the waker on CPU 1. */
static void wake_case(const char *what, int cpu, int spin)
{
	const struct timespec gap = {0, 100000};
	pthread_t s, w;
	uint64_t one = 1;
	int i;

	__atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&woken, 0, __ATOMIC_RELAXED);
	if (spin)
		pthread_create(&s, NULL, spinner, (void *)(intptr_t)cpu);
	pthread_create(&w, NULL, sleeper, (void *)(intptr_t)cpu);
	pin(1);
	nanosleep(&gap, NULL);
	for (i = 0; i < n; i++) {
		nanosleep(&gap, NULL);
		__atomic_store_n(&sent_ns, now_ns(), __ATOMIC_RELEASE);
		if (write(efd, &one, sizeof(one)) != sizeof(one))
			break;
		/* on its own CPU the sleeper runs only once the waker sleeps */
		while (__atomic_load_n(&woken, __ATOMIC_ACQUIRE) <= i) {
			if (cpu == 1)
				nanosleep(&gap, NULL);
		}
	}
	pthread_join(w, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	if (spin)
		pthread_join(s, NULL);
	qsort(lat, (size_t)i, sizeof(double), cmp_d);
	printf("%-52s median %7.2f us  p90 %7.2f us\n", what, lat[i / 2], lat[i * 9 / 10]);
}

int main(int argc, char **argv)
{
	n = argc > 1 ? atoi(argv[1]) : 2000;
	if (n <= 0 || n > MAX_N) {
		fprintf(stderr, "usage: bench_wake [wake-ups per case, 1..%d]\n", MAX_N);
		return 2;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "bench_wake: needs two CPUs\n");
		return 2;
	}
	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0) {
		perror("eventfd");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	wake_case("sleeper on the other CPU, idle", 0, 0);
	wake_case("sleeper on the other CPU, a thread spinning there", 0, 1);
	wake_case("sleeper on the waker's CPU, the waker then sleeps", 1, 0);
	close(efd);
	return 0;
}
