// SPDX-License-Identifier: MIT
/*
 * bench_udp: the plain UDP loopback baseline softodp's RoCE numbers are read
 * against. Two sockets on 127.0.0.1 and 127.0.0.2 (ephemeral ports, so it
 * can run beside a softodp device):
 *   - throughput: one thread sends 4 KiB + 64 B datagrams (a RoCE packet at
 *     path MTU 4096) with sendmmsg batches, the other drains with recvmmsg;
 *   - round trip: 64-byte ping-pong between two threads, median of N, once
 *     with blocking receives and once with both sides spinning on
 *     non-blocking ones (what a busy-polling transport is measured against),
 *     and with blocking receives while as many threads as there are CPUs
 *     spin beside them (the wake-up a receiver pays when every CPU is busy:
 *     the floor for a transport whose packets are received by a thread that
 *     sleeps while the application spins); one-way latency is half of it.
 * Usage: bench_udp [seconds]
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#define PKT   (4096 + 64)
#define BATCH 32
#define RTT_N 20000

static double secs = 2.0;
static volatile int stop;
static uint64_t rx_bytes;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int sock_on(const char *ip, struct sockaddr_in *out)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), sz = 8 << 20;
	struct timeval tv = {1, 0}; /* no receive waits forever for a lost datagram */

	inet_pton(AF_INET, ip, &a.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)out, &len)) {
		perror("socket");
		exit(1);
	}
	return fd;
}

static int rfd;

static void *rx_thread(void *arg)
{
	static char bufs[BATCH][PKT];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct timespec to = {0, 100000000};
	int i, n;

	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = PKT;
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	while (!stop) {
		n = recvmmsg(rfd, m, BATCH, MSG_WAITFORONE, &to);
		for (i = 0; i < n; i++)
			rx_bytes += m[i].msg_len;
	}
	return NULL;
}

static void throughput(void)
{
	static char buf[PKT];
	struct sockaddr_in ra, sa;
	struct mmsghdr m[BATCH];
	struct iovec iov = {buf, PKT};
	pthread_t t;
	double t0, t1;
	int sfd, i;

	rfd = sock_on("127.0.0.2", &ra);
	sfd = sock_on("127.0.0.1", &sa);
	for (i = 0; i < BATCH; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_name = &ra;
		m[i].msg_hdr.msg_namelen = sizeof(ra);
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	pthread_create(&t, NULL, rx_thread, NULL);
	t0 = now_s();
	while ((t1 = now_s()) - t0 < secs)
		if (sendmmsg(sfd, m, BATCH, 0) < 0 && errno != ENOBUFS && errno != EAGAIN)
			break;
	stop = 1;
	pthread_join(t, NULL);
	printf("udp loopback throughput: %.1f MB/s received (%d-byte datagrams, sendmmsg x%d)\n",
	       rx_bytes / (t1 - t0) / 1e6, PKT, BATCH);
	close(sfd);
	close(rfd);
}

static int pa, pb;
static struct sockaddr_in aa, ab;
static int spin, rtt_n;

/* One datagram from @fd; spinning, gives up after a second. */
static ssize_t rx_one(int fd, char *buf, size_t len)
{
	double t0;
	ssize_t n;

	if (!spin)
		return recv(fd, buf, len, 0);
	t0 = now_s();
	do {
		n = recv(fd, buf, len, MSG_DONTWAIT);
	} while (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && now_s() - t0 < 1.0);
	return n;
}

static void *echo_thread(void *arg)
{
	char buf[64];
	int i;

	for (i = 0; i < rtt_n; i++) {
		if (rx_one(pb, buf, sizeof(buf)) < 0)
			break;
		sendto(pb, buf, sizeof(buf), 0, (struct sockaddr *)&aa, sizeof(aa));
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static volatile int spinners_stop;

static void *spinner(void *arg)
{
	(void)arg;
	while (!spinners_stop)
		;
	return NULL;
}

static void round_trip(int spinning, int n)
{
	static double rtt[RTT_N];
	char buf[64] = {0};
	pthread_t t;
	int i;

	spin = spinning;
	pa = sock_on("127.0.0.1", &aa);
	pb = sock_on("127.0.0.2", &ab);
	pthread_create(&t, NULL, echo_thread, NULL);
	rtt_n = n;
	for (i = 0; i < n; i++) {
		double t0 = now_s();

		sendto(pa, buf, sizeof(buf), 0, (struct sockaddr *)&ab, sizeof(ab));
		if (rx_one(pa, buf, sizeof(buf)) < 0)
			break;
		rtt[i] = (now_s() - t0) * 1e6;
	}
	pthread_join(t, NULL);
	qsort(rtt, i, sizeof(double), cmp_d);
	printf("udp loopback round trip%s: median %.2f us, p99 %.2f us, one-way %.2f us (%d x 64 "
	       "B)\n",
	       spinning ? " (spinning)" : "", rtt[i / 2], rtt[i * 99 / 100], rtt[i / 2] / 2, i);
	close(pa);
	close(pb);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		secs = atof(argv[1]);
	throughput();
	round_trip(0, RTT_N);
	round_trip(1, RTT_N);
	{
		long i, ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		pthread_t sp[64];

		ncpu = ncpu < 1 ? 1 : ncpu > 64 ? 64 : ncpu;
		for (i = 0; i < ncpu; i++)
			pthread_create(&sp[i], NULL, spinner, NULL);
		printf("with %ld spinning threads beside it:\n", ncpu);
		round_trip(0, RTT_N / 10);
		spinners_stop = 1;
		for (i = 0; i < ncpu; i++)
			pthread_join(sp[i], NULL);
	}
	return 0;
}
