// SPDX-License-Identifier: MIT
/*
 * bench_udp_gso: does UDP GSO (UDP_SEGMENT) on transmit or UDP GRO (UDP_GRO)
 * on receive beat sendmmsg/recvmmsg for RoCE-sized datagrams?
 *
 * One thread sends bursts of equal-size datagrams the way softodp's engine
 * does (unconnected socket, IP_PMTUDISC_DO, UDP checksum 0), either as one
 * sendmmsg() of N datagrams or as one sendmmsg() of as few UDP_SEGMENT
 * super-datagrams as the 64 KiB limit allows; another thread drains with
 * recvmmsg(), with or without UDP_GRO (a GRO datagram counts as
 * ceil(len / gso_size) packets). Prints received MB/s and packets/s, and
 * the share of sent packets that arrived.
 *
 * Usage: bench_udp_gso [-t secs] [-s [NETNS:]SRC_IP] [-d [NETNS:]DST_IP]
 *			[-m size,...] [-n burst,...] [-c]
 *	  bench_udp_gso -i [-s ...] [-d ...]
 * Defaults: 127.0.0.1 -> 127.0.0.2 in the current namespace, sizes
 * 1056,4128 (1024/4096 of payload + BTH, RETH, ICRC), bursts 16,64.
 * NETNS names one under /var/run/netns (ip netns add): the socket is opened
 * there, so a veth pair between two namespaces can be measured.
 * -c sends with UDP checksums: softodp, like kernel rxe, sends checksum 0
 * (SO_NO_CHECK), and the kernel refuses UDP_SEGMENT on such a socket (EINVAL).
 * -i sends one 4-segment UDP_SEGMENT datagram and 4 plain datagrams of 1056
 * bytes and exits: capture it (dumpcap) to see which IPv4 IDs the segments
 * carry.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define MAX_BURST   64
#define MAX_SEGS    64	  /* per GSO datagram; the kernel allows 128 */
#define MAX_UDP_PAY 65507 /* IPv4: 65535 - 20 - 8 */
#define RX_BATCH    64
#define RX_BUF	    65536

static double secs = 1.0;
static bool udp_csum; /* -c: UDP checksums on (GSO refuses SO_NO_CHECK) */
static volatile int stop;

struct endpoint {
	char ns[64];
	char ip[64];
};

struct rx_ctx {
	int fd;
	bool gro;
	uint64_t bytes, pkts, calls;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void parse_ep(struct endpoint *ep, const char *arg)
{
	const char *colon = strchr(arg, ':');

	ep->ns[0] = 0;
	if (colon && !strchr(colon + 1, ':')) {
		snprintf(ep->ns, sizeof(ep->ns), "%.*s", (int)(colon - arg), arg);
		arg = colon + 1;
	}
	snprintf(ep->ip, sizeof(ep->ip), "%s", arg);
}

/* Enters @ns (when named) so that the next socket() is created there. */
static void enter_ns(const char *ns)
{
	static int home = -1;
	char path[128];
	int fd;

	if (home < 0)
		home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (!ns[0]) {
		if (setns(home, CLONE_NEWNET))
			perror("setns home");
		return;
	}
	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static int sock_at(const struct endpoint *ep, struct sockaddr_in *out, bool rx)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int sz = 8 << 20, pmtu = IP_PMTUDISC_DO, on = 1, fd;

	enter_ns(ep->ns);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	enter_ns("");
	if (fd < 0 || inet_pton(AF_INET, ep->ip, &a.sin_addr) != 1) {
		fprintf(stderr, "bad socket/address %s\n", ep->ip);
		exit(1);
	}
	/* as softodp's sockets: DF + ID 0, UDP checksum 0, 8 MiB buffers */
	setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	if (!udp_csum)
		setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &on, sizeof(on));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (rx) {
		struct timeval tv = {0, 100000};

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)out, &len)) {
		perror("bind");
		exit(1);
	}
	return fd;
}

static void *rx_thread(void *arg)
{
	static uint8_t bufs[RX_BATCH][RX_BUF];
	static char cbuf[RX_BATCH][CMSG_SPACE(sizeof(int))];
	struct rx_ctx *rx = arg;
	struct mmsghdr m[RX_BATCH];
	struct iovec iov[RX_BATCH];
	int i, n;

	for (;;) {
		for (i = 0; i < RX_BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = RX_BUF;
			memset(&m[i], 0, sizeof(m[i]));
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_control = cbuf[i];
			m[i].msg_hdr.msg_controllen = sizeof(cbuf[i]);
		}
		n = recvmmsg(rx->fd, m, RX_BATCH, MSG_WAITFORONE, NULL);
		if (stop)
			break;
		if (n <= 0)
			continue;
		rx->calls++;
		for (i = 0; i < n; i++) {
			struct msghdr *mh = &m[i].msg_hdr;
			struct cmsghdr *c;
			int gso = 0;

			for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
				if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO)
					memcpy(&gso, CMSG_DATA(c), sizeof(gso));
			rx->bytes += m[i].msg_len;
			rx->pkts += gso > 0 ? (m[i].msg_len + gso - 1) / gso : 1;
		}
	}
	return NULL;
}

/*
 * Fills @m with the burst of @burst datagrams of @size bytes: @burst plain
 * messages, or (@gso) as few UDP_SEGMENT messages of equal segment count as
 * fit the 64 KiB datagram limit. Returns the number of messages.
 */
static int build_burst(struct mmsghdr *m, struct iovec *iov, char (*cbuf)[CMSG_SPACE(2)],
		       uint8_t *buf, int size, int burst, bool gso, struct sockaddr_in *dst)
{
	int per = 1, nmsg, i, left = burst;

	if (gso) {
		int max = MAX_UDP_PAY / size;

		if (max > MAX_SEGS)
			max = MAX_SEGS;
		nmsg = (burst + max - 1) / max;
		per = (burst + nmsg - 1) / nmsg;
	}
	for (i = 0; left > 0; i++) {
		int segs = left < per ? left : per;

		memset(&m[i], 0, sizeof(m[i]));
		iov[i].iov_base = buf;
		iov[i].iov_len = (size_t)segs * size;
		m[i].msg_hdr.msg_name = dst;
		m[i].msg_hdr.msg_namelen = sizeof(*dst);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
		if (gso && segs > 1) {
			struct cmsghdr *c;
			uint16_t gs = (uint16_t)size;

			m[i].msg_hdr.msg_control = cbuf[i];
			m[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(gs));
			c = CMSG_FIRSTHDR(&m[i].msg_hdr);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(gs));
			memcpy(CMSG_DATA(c), &gs, sizeof(gs));
		}
		left -= segs;
	}
	return i;
}

static void run(const struct endpoint *src, const struct endpoint *dst, int size, int burst,
		bool gso, bool gro)
{
	static uint8_t buf[MAX_UDP_PAY + 1];
	static char cbuf[MAX_BURST][CMSG_SPACE(2)];
	struct mmsghdr m[MAX_BURST];
	struct iovec iov[MAX_BURST];
	struct sockaddr_in ra, sa;
	struct rx_ctx rx = {.gro = gro};
	uint64_t sent = 0, calls = 0, fail = 0;
	pthread_t t;
	double t0, t1;
	int sfd, nmsg, on = 1;

	rx.fd = sock_at(dst, &ra, true);
	sfd = sock_at(src, &sa, false);
	if (gro && setsockopt(rx.fd, IPPROTO_UDP, UDP_GRO, &on, sizeof(on)))
		perror("UDP_GRO");
	memset(buf, 0xa5, sizeof(buf));
	nmsg = build_burst(m, iov, cbuf, buf, size, burst, gso, &ra);
	stop = 0;
	pthread_create(&t, NULL, rx_thread, &rx);
	usleep(10000);
	t0 = now_s();
	while ((t1 = now_s()) - t0 < secs) {
		int ret = sendmmsg(sfd, m, nmsg, 0), k;

		calls++;
		if (ret < 0) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				perror("sendmmsg");
				break;
			}
			fail++;
			continue;
		}
		for (k = 0; k < ret; k++)
			sent += iov[k].iov_len / size;
	}
	stop = 1;
	pthread_join(t, NULL);
	t1 -= t0;
	printf("%5d B x%-3d  tx %-8s rx %-8s  %8.1f MB/s  %8.0f pkt/s  arrived %5.1f%%  "
	       "(tx %.1f us/burst, rx %.1f pkts/call)\n",
	       size, burst, gso ? "GSO" : "sendmmsg", gro ? "GRO" : "recvmmsg", rx.bytes / t1 / 1e6,
	       rx.pkts / t1, sent ? 100.0 * rx.pkts / sent : 0.0, t1 * 1e6 / (calls ? calls : 1),
	       rx.calls ? (double)rx.pkts / rx.calls : 0.0);
	(void)fail;
	close(sfd);
	close(rx.fd);
}

/* One 4-segment GSO datagram, then 4 plain ones, for a capture to read. */
static void ids(const struct endpoint *src, const struct endpoint *dst)
{
	static uint8_t buf[4 * 1056];
	static char cbuf[MAX_BURST][CMSG_SPACE(2)];
	struct mmsghdr m[MAX_BURST];
	struct iovec iov[MAX_BURST];
	struct sockaddr_in ra, sa;
	int sfd, rfd, n;

	rfd = sock_at(dst, &ra, true);
	sfd = sock_at(src, &sa, false);
	memset(buf, 0x5a, sizeof(buf));
	n = build_burst(m, iov, cbuf, buf, 1056, 4, true, &ra);
	printf("GSO: %d message(s), %d bytes: %d\n", n, (int)iov[0].iov_len,
	       sendmmsg(sfd, m, n, 0));
	n = build_burst(m, iov, cbuf, buf, 1056, 4, false, &ra);
	printf("plain: %d messages: %d\n", n, sendmmsg(sfd, m, n, 0));
	usleep(100000);
	close(sfd);
	close(rfd);
}

static int parse_list(const char *s, int *out, int max)
{
	int n = 0;

	while (s && *s && n < max) {
		out[n++] = atoi(s);
		s = strchr(s, ',');
		if (s)
			s++;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct endpoint src, dst;
	int sizes[8] = {1056, 4128}, bursts[8] = {16, 64}, nsz = 2, nb = 2, opt, i, j, k;
	bool idmode = false;

	parse_ep(&src, "127.0.0.1");
	parse_ep(&dst, "127.0.0.2");
	while ((opt = getopt(argc, argv, "t:s:d:m:n:ic")) != -1) {
		switch (opt) {
		case 't':
			secs = atof(optarg);
			break;
		case 's':
			parse_ep(&src, optarg);
			break;
		case 'd':
			parse_ep(&dst, optarg);
			break;
		case 'm':
			nsz = parse_list(optarg, sizes, 8);
			break;
		case 'n':
			nb = parse_list(optarg, bursts, 8);
			break;
		case 'c':
			udp_csum = true;
			break;
		case 'i':
			idmode = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-t secs] [-s [ns:]ip] [-d [ns:]ip] "
					"[-m sizes] [-n bursts] [-c] [-i]\n",
				argv[0]);
			return 2;
		}
	}
	if (idmode) {
		ids(&src, &dst);
		return 0;
	}
	printf("%s%s%s -> %s%s%s, %.1f s per run, UDP checksum %s\n", src.ns, src.ns[0] ? ":" : "",
	       src.ip, dst.ns, dst.ns[0] ? ":" : "", dst.ip, secs, udp_csum ? "on" : "0");
	for (i = 0; i < nsz; i++)
		for (j = 0; j < nb; j++)
			for (k = 0; k < 4; k++) {
				if (bursts[j] > MAX_BURST || sizes[i] > MAX_UDP_PAY)
					continue;
				run(&src, &dst, sizes[i], bursts[j], k & 1, k & 2);
			}
	return 0;
}
