// SPDX-License-Identifier: MIT
/*
 * The stat segment: what `softodp stat` shows of this process
 * (providers/stat_rec.h has the layout and the reader's protocol).
 *
 * Life: the first context the process opens creates
 * /dev/shm/softodp-<euid>-<pid> (mode 0600) and publishes into it once;
 * the first QP or MR starts the publisher thread, so that opening a device
 * alone starts no thread, as the engine starts none until there is work (a
 * process that forks before it made anything stays single-threaded). The
 * last context closed stops the publisher and removes the file, and so
 * does exit(). A
 * process killed leaves the file behind: `softodp stat` removes it, and so
 * does the next process of the same user that makes its own.
 * SOFTODP_STAT=0 turns the segment off.
 *
 * Cost: the data path never touches the segment. The publisher copies the
 * counters that already exist (the provider's, lib/odp's, lib/hmm's) into
 * it every SODP_STAT_INTERVAL_MS, because a copy per packet or per fault
 * would put a shared-memory write and its cache line on every hot path for
 * a reader that looks a few times a second at most; at 10 Hz the copy costs
 * each device one short hold of its lock (providers/rxe/stat.c).
 *
 * Locks: stat_lock serialises creating and removing the segment and the
 * publisher's start and stop (it is held while the publisher is joined, so
 * the publisher never takes it); pub_lock guards the publisher's stop flag
 * and its sleep. Neither is held while the provider's locks are taken by
 * anyone but the publisher, so both are leaves.
 *
 * Fork: the child has no publisher and keeps none of the parent's devices;
 * its handler forgets the parent's segment (without removing it) and the
 * child's first context makes its own.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <softodp/hmm.h>

#include "log.h"
#include "stat_rec.h"
#include "verbs.h"

#define STAT_JOIN_SECS 1 /* at exit, how long the publisher may take to stop */

static pthread_mutex_t stat_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pub_cond;

static struct {
	pid_t pid;	    /* the process that made the segment */
	unsigned int users; /* contexts open in it */
	struct sodp_stat_seg *seg;
	char path[64];
	const struct sodp_provider_ops *ops;
	struct sodp_stat_dev *devs; /* the snapshot buffer */
	pthread_t thread;
	bool running; /* read without stat_lock by sodp_stat_kick() */
	bool stop;    /* under pub_lock */
	bool handlers;
} st;

static bool stat_enabled(void)
{
	const char *env = getenv("SOFTODP_STAT");

	return !env || strcmp(env, "0");
}

/* Copies @words words after the sequence count @seq, as its writer (stat_rec.h). */
static void publish(uint64_t *seq, const uint64_t *src, size_t words)
{
	uint64_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
	uint64_t *dst = seq + 1;

	__atomic_store_n(seq, s + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (size_t i = 0; i < words; i++)
		__atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
	__atomic_store_n(seq, s + 2, __ATOMIC_RELEASE);
}

static void publish_once(struct sodp_stat_dev *devs)
{
	struct sodp_stat_seg *seg = st.seg;
	struct sodp_hmm_counters hc;
	struct sodp_stat_seg hdr;
	struct timespec now;
	unsigned int n, i;

	memset(devs, 0, sizeof(*devs) * SODP_STAT_MAX_DEVS);
	n = st.ops->stat_snapshot(devs, SODP_STAT_MAX_DEVS);
	for (i = 0; i < n; i++)
		publish(&seg->devs[i].seq, &devs[i].seq + 1, SODP_STAT_DEV_WORDS);

	memset(&hdr, 0, offsetof(struct sodp_stat_seg, devs));
	clock_gettime(CLOCK_REALTIME, &now);
	hdr.published_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	hdr.publishes = __atomic_load_n(&seg->publishes, __ATOMIC_RELAXED) + 1;
	hdr.nr_devs = n;
	if (!sodp_hmm_get_counters(&hc)) {
		for (int o = 0; o < SODP_HMM_ORIGIN_NR; o++)
			for (int e = 0; e < SODP_STAT_NR_EVENTS; e++)
				hdr.hmm_events[e] += hc.events[o][e];
		hdr.hmm_callbacks = hc.callbacks;
		hdr.hmm_hook_misses = hc.hook_misses;
	}
	publish(&seg->seq, &hdr.seq + 1, SODP_STAT_HDR_WORDS);
}

static void *publisher(void *arg)
{
	struct sodp_stat_dev *devs = arg;
	struct timespec until;

	pthread_mutex_lock(&pub_lock);
	while (!st.stop) {
		pthread_mutex_unlock(&pub_lock);
		publish_once(devs);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += SODP_STAT_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&pub_lock);
		while (!st.stop && pthread_cond_timedwait(&pub_cond, &pub_lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&pub_lock);
	return NULL;
}

/* Field 22 of /proc/self/stat and the command name: 0, or -1. */
static int self_identity(uint64_t *start_time, char *comm, size_t len)
{
	char buf[1024], *p, *open_paren, *close_paren;
	unsigned long long t;
	FILE *f = fopen("/proc/self/stat", "re");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return -1;
	snprintf(comm, len, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
	/* after ") ": field 3 (state); field 22 is 19 further */
	p = close_paren + 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	if (sscanf(p, "%llu", &t) != 1)
		return -1;
	*start_time = t;
	return 0;
}

/* Removes the segment and stops the publisher. Under stat_lock. */
static void stat_teardown(int join_secs)
{
	if (st.running) {
		pthread_mutex_lock(&pub_lock);
		st.stop = true;
		pthread_cond_signal(&pub_cond);
		pthread_mutex_unlock(&pub_lock);
		if (join_secs) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += join_secs;
			if (pthread_timedjoin_np(st.thread, NULL, &until))
				return; /* still publishing: leave the mapping to it */
		} else {
			pthread_join(st.thread, NULL);
		}
		__atomic_store_n(&st.running, false, __ATOMIC_RELEASE);
	}
	if (st.seg) {
		unlink(st.path);
		munmap(st.seg, sizeof(*st.seg));
		st.seg = NULL;
	}
	free(st.devs);
	st.devs = NULL;
}

static void stat_atexit(void)
{
	pthread_mutex_lock(&stat_lock);
	if (st.pid == getpid())
		stat_teardown(STAT_JOIN_SECS);
	pthread_mutex_unlock(&stat_lock);
}

static void stat_fork_child(void)
{
	/* the parent's threads are gone; whoever held these is not here */
	pthread_mutex_init(&stat_lock, NULL);
	pthread_mutex_init(&pub_lock, NULL);
	if (st.seg)
		munmap(st.seg, sizeof(*st.seg));
	st.seg = NULL;
	free(st.devs);
	st.devs = NULL;
	st.running = false;
	st.stop = false;
	st.users = 0;
	st.pid = 0;
}

static void stat_install_handlers(void)
{
	pthread_condattr_t ca;

	if (st.handlers)
		return;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pub_cond, &ca);
	pthread_condattr_destroy(&ca);
	atexit(stat_atexit);
	pthread_atfork(NULL, NULL, stat_fork_child);
	st.handlers = true;
}

/* Opens the file of this process's segment, replacing a stale one of ours. */
static int stat_open_file(void)
{
	struct stat sb;
	int fd;

	fd = open(st.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0 || errno != EEXIST)
		return fd;
	/* our name, so a dead process of ours with this PID left it */
	if (lstat(st.path, &sb) || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid())
		return -1;
	unlink(st.path);
	return open(st.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/*
 * Removes the segments of this user's processes that are gone (killed by a
 * signal: no exit handler ran), so that a host running many short
 * processes does not collect them until `softodp stat` runs. A PID in use
 * again is left to softodp stat, which compares start times.
 */
static void stat_reap_own(void)
{
	char prefix[32], path[sizeof(SODP_STAT_DIR) + 256];
	struct dirent *e;
	DIR *dir;
	int plen;

	plen = snprintf(prefix, sizeof(prefix), SODP_STAT_PREFIX "%u-", (unsigned int)geteuid());
	dir = opendir(SODP_STAT_DIR);
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		char *end;
		long pid;

		if (strncmp(e->d_name, prefix, (size_t)plen))
			continue;
		errno = 0;
		pid = strtol(e->d_name + plen, &end, 10);
		if (errno || *end || pid <= 0 || pid == getpid())
			continue;
		if (kill((pid_t)pid, 0) && errno == ESRCH) {
			snprintf(path, sizeof(path), SODP_STAT_DIR "/%s", e->d_name);
			unlink(path);
		}
	}
	closedir(dir);
}

/* Creates the segment and publishes into it once. Under stat_lock. */
static void stat_setup(const struct sodp_provider_ops *ops)
{
	struct sodp_stat_seg *seg;
	uint64_t start_time;
	char comm[SODP_STAT_COMM_LEN];
	int fd;

	if (self_identity(&start_time, comm, sizeof(comm)))
		return;
	stat_reap_own();
	snprintf(st.path, sizeof(st.path), SODP_STAT_DIR "/" SODP_STAT_PREFIX "%u-%d",
		 (unsigned int)geteuid(), (int)getpid());
	fd = stat_open_file();
	if (fd < 0) {
		sodp_info("stat: %s: %s; no stat segment\n", st.path, strerror(errno));
		return;
	}
	if (ftruncate(fd, sizeof(*seg))) {
		sodp_info("stat: %s: %s; no stat segment\n", st.path, strerror(errno));
		close(fd);
		unlink(st.path);
		return;
	}
	seg = mmap(NULL, sizeof(*seg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (seg == MAP_FAILED) {
		unlink(st.path);
		return;
	}
	seg->version = SODP_STAT_VERSION;
	seg->size = sizeof(*seg);
	seg->pid = (uint64_t)getpid();
	seg->uid = geteuid();
	seg->start_time = start_time;
	memcpy(seg->comm, comm, sizeof(seg->comm));
	__atomic_store_n(&seg->magic, SODP_STAT_MAGIC, __ATOMIC_RELEASE);

	st.seg = seg;
	st.ops = ops;
	st.pid = getpid();
	st.stop = false;
	st.devs = calloc(SODP_STAT_MAX_DEVS, sizeof(*st.devs));
	if (!st.devs) {
		stat_teardown(0);
		return;
	}
	publish_once(st.devs);
}

/* Starts the publisher. Under stat_lock. */
static void stat_start(void)
{
	if (!st.seg || st.running)
		return;
	if (!pthread_create(&st.thread, NULL, publisher, st.devs))
		__atomic_store_n(&st.running, true, __ATOMIC_RELEASE);
}

void sodp_stat_context_open(struct sodp_context *ctx)
{
	struct sodp_front *front = sodp_front_of(ctx);

	front->stat_pid = 0;
	if (!stat_enabled() || !ctx->ops->stat_snapshot)
		return;
	pthread_mutex_lock(&stat_lock);
	stat_install_handlers();
	if (!st.users++)
		stat_setup(ctx->ops);
	else if (!st.running && st.seg)
		publish_once(st.devs); /* the new device, while nothing else publishes */
	front->stat_pid = getpid();
	pthread_mutex_unlock(&stat_lock);
}

void sodp_stat_context_close(struct sodp_context *ctx)
{
	struct sodp_front *front = sodp_front_of(ctx);

	/* a context opened before fork() is not counted in the child */
	if (front->stat_pid != getpid())
		return;
	pthread_mutex_lock(&stat_lock);
	if (st.users && !--st.users)
		stat_teardown(0);
	pthread_mutex_unlock(&stat_lock);
}

void sodp_stat_kick(struct sodp_context *ctx)
{
	if (__atomic_load_n(&st.running, __ATOMIC_ACQUIRE) ||
	    sodp_front_of(ctx)->stat_pid != getpid())
		return;
	pthread_mutex_lock(&stat_lock);
	stat_start();
	pthread_mutex_unlock(&stat_lock);
}
