// SPDX-License-Identifier: MIT
/*
 * What the UDP side puts on the wire, read back from a raw AF_PACKET socket
 * on lo (needs CAP_NET_RAW; run it in a private network namespace): the
 * source ports of kernel rxe (RC/UC from the QPN pair, UD from the source
 * QPN), destination 4791, IPv4 ID 0 with DF, UDP checksum 0, and an ICRC
 * that verifies with the source port actually used.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/socket.h>
#include <CUnit/CUnit.h>
#include <infiniband/verbs.h>

#include "sodp_test.h"
#include "rxe.h"
#include "rxe_test_util.h"

struct cap_stats {
	unsigned int roce, rc, ud, bad_sport, bad_dport, bad_id_df, bad_icrc, bad_csum;
};

static int cap_open(void)
{
	struct sockaddr_ll sll;
	int fd, sz = 4 << 20;

	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IP));
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_IP);
	sll.sll_ifindex = (int)if_nametoindex("lo");
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static uint16_t ud_sport(uint32_t qpn)
{
	return (uint16_t)(0xc000 + ((qpn * 0x61c88647u) >> 18));
}

/*
 * Reads every captured IPv4 datagram to port 4791 and checks it; RC packets
 * must use the port of the QPN pair (@qa, @qb).
 */
static void cap_check(int fd, uint32_t qa, uint32_t qb, struct cap_stats *st)
{
	uint8_t b[9000];
	struct sockaddr_ll from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	memset(st, 0, sizeof(*st));
	while ((n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl)) > 0) {
		struct rxe_icrc_hdr h;
		uint16_t sport, dport, csum, frag;
		const uint8_t *bth;
		int off;

		fl = sizeof(from);
		/* loopback shows each packet going out and coming in */
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (n < 28 || b[0] != 0x45 || b[9] != IPPROTO_UDP)
			continue;
		dport = (uint16_t)(b[22] << 8 | b[23]);
		sport = (uint16_t)(b[20] << 8 | b[21]);
		if (dport != RXE_ROCE_V2_PORT && sport != RXE_ROCE_V2_PORT && sport < 0xc000)
			continue;
		off = rxe_icrc_hdr_from_ip(b, (size_t)n, &h);
		if (off < 0 || n < off + RXE_BTH_BYTES + RXE_ICRC_BYTES)
			continue;
		st->roce++;
		bth = b + off;
		csum = (uint16_t)(b[26] << 8 | b[27]);
		frag = (uint16_t)(b[6] << 8 | b[7]);
		if (dport != RXE_ROCE_V2_PORT)
			st->bad_dport++;
		if (b[4] || b[5] || frag != 0x4000) /* ID 0, DF, no fragment */
			st->bad_id_df++;
		if (rxe_icrc_verify(&h, bth, (size_t)n - off))
			st->bad_icrc++;
		if (csum)
			st->bad_csum++;
		if ((bth[0] & IB_OPCODE_TRANSPORT_MASK) == IB_OPCODE_UD) {
			uint32_t src = (uint32_t)bth[17] << 16 | bth[18] << 8 | bth[19];

			st->ud++;
			if (sport != ud_sport(src))
				st->bad_sport++;
		} else {
			st->rc++;
			if (sport != rxe_roce_udp_sport(qa, qb))
				st->bad_sport++;
		}
	}
}

static void report(const char *what, const struct cap_stats *st)
{
	printf("\n    %s: %u RoCE packets (rc %u, ud %u); bad sport %u dport %u id/df %u "
	       "icrc %u udp-csum %u",
	       what, st->roce, st->rc, st->ud, st->bad_sport, st->bad_dport, st->bad_id_df,
	       st->bad_icrc, st->bad_csum);
}

static void test_rc_packets_use_the_flow_label_port(void)
{
	struct rt_side a = {0}, b = {0};
	struct cap_stats st;
	struct ibv_wc wc;
	int fd = cap_open(), i;

	if (fd < 0)
		SODP_SKIP("no AF_PACKET socket (needs CAP_NET_RAW)");
	if (rt_side_init(&a, "srxe0", IBV_QPT_RC, rt_default_opts()->access, 16) ||
	    rt_side_init(&b, "srxe1", IBV_QPT_RC, rt_default_opts()->access, 16) ||
	    rt_rc_connect(&a, &b, rt_default_opts(), 100, 200)) {
		rt_side_fini(&a);
		rt_side_fini(&b);
		close(fd);
		SODP_SKIP("cannot open devices");
	}
	rt_fill(a.buf, 64 << 10, 3);
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(
			rt_post(&a, IBV_WR_RDMA_WRITE, 0, 16 << 10, (uintptr_t)b.buf, b.mr->rkey),
			0);
		CU_ASSERT_EQUAL(rt_poll(a.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	}
	CU_ASSERT_EQUAL(
		rt_post(&a, IBV_WR_RDMA_READ, 32 << 10, 8 << 10, (uintptr_t)b.buf, b.mr->rkey), 0);
	CU_ASSERT_EQUAL(rt_poll(a.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(b.buf, a.buf, 16 << 10), 0);
	cap_check(fd, a.qp->qp_num, b.qp->qp_num, &st);
	report("rc", &st);
	CU_ASSERT(st.rc >= 4 * 16 + 8);
	CU_ASSERT_EQUAL(st.bad_sport, 0);
	CU_ASSERT_EQUAL(st.bad_dport, 0);
	CU_ASSERT_EQUAL(st.bad_id_df, 0);
	CU_ASSERT_EQUAL(st.bad_icrc, 0);
	CU_ASSERT_EQUAL(st.bad_csum, 0);
	rt_side_fini(&a);
	rt_side_fini(&b);
	close(fd);
}

static void test_ud_packets_use_the_qpn_hash_port(void)
{
	struct rt_side u = {0}, v = {0};
	struct rt_side *s[2] = {&u, &v};
	struct ibv_ah *ah;
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;
	struct cap_stats st;
	int fd = cap_open(), i;

	if (fd < 0)
		SODP_SKIP("no AF_PACKET socket (needs CAP_NET_RAW)");
	if (rt_side_init(&u, "srxe0", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16) ||
	    rt_side_init(&v, "srxe1", IBV_QPT_UD, IBV_ACCESS_LOCAL_WRITE, 16)) {
		rt_side_fini(&u);
		rt_side_fini(&v);
		close(fd);
		SODP_SKIP("cannot open devices");
	}
	for (i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(rt_ud_ready(s[i]->qp, 0), 0);
	ah = rt_ah(&u, &v.gid);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ah);
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(rt_post_recv(&v, 9, 0, 40 + 1024), 0);
		memset(&wr, 0, sizeof(wr));
		sge.addr = (uintptr_t)u.buf;
		sge.length = 512;
		sge.lkey = u.mr->lkey;
		wr.sg_list = &sge;
		wr.num_sge = 1;
		wr.opcode = IBV_WR_SEND;
		wr.send_flags = IBV_SEND_SIGNALED;
		wr.wr.ud.ah = ah;
		wr.wr.ud.remote_qpn = v.qp->qp_num;
		wr.wr.ud.remote_qkey = 0x11111111;
		CU_ASSERT_EQUAL(ibv_post_send(u.qp, &wr, &bad), 0);
		CU_ASSERT_EQUAL(rt_poll(u.cq, &wc), 1);
		CU_ASSERT_EQUAL(rt_poll(v.cq, &wc), 1);
		CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	}
	cap_check(fd, 0, 0, &st);
	report("ud", &st);
	CU_ASSERT_EQUAL(st.ud, 4);
	CU_ASSERT_EQUAL(st.rc, 0);
	CU_ASSERT_EQUAL(st.bad_sport, 0);
	CU_ASSERT_EQUAL(st.bad_dport, 0);
	CU_ASSERT_EQUAL(st.bad_id_df, 0);
	CU_ASSERT_EQUAL(st.bad_icrc, 0);
	CU_ASSERT_EQUAL(st.bad_csum, 0);
	ibv_destroy_ah(ah);
	rt_side_fini(&u);
	rt_side_fini(&v);
	close(fd);
}

static void test_ud_port_formula_matches_kernel_capture(void)
{
	/* tests/rxe/data/ud_pingpong.pcap: kernel rxe QP 0x12 sends from 63494 */
	CU_ASSERT_EQUAL(ud_sport(0x12), 63494);
}

/*
 * A full wire. On loopback a UDP socket never refuses a datagram (the skb
 * leaves the sender's accounting as soon as it is queued to the receiver),
 * so the test plays the kernel's part for the device: while wire_full is
 * set, sendmmsg() fails with EAGAIN as a socket whose send buffer is full
 * does, and poll() for POLLOUT on one descriptor, what a sender that waits
 * for room calls, sees no room until its timeout. The executable's
 * definitions take the place of libc's for the statically linked provider.
 */
static int wire_full;		   /* atomic */
static unsigned long wire_refused; /* atomic: sendmmsg() calls refused */

static int (*real_sendmmsg)(int, struct mmsghdr *, unsigned int, int);
static int (*real_poll)(struct pollfd *, nfds_t, int);

/* libc's functions, found before any thread runs */
__attribute__((constructor)) static void wire_init(void)
{
	real_sendmmsg =
		(int (*)(int, struct mmsghdr *, unsigned int, int))dlsym(RTLD_NEXT, "sendmmsg");
	real_poll = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_NEXT, "poll");
}

int sendmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags)
{
	if (__atomic_load_n(&wire_full, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&wire_refused, 1, __ATOMIC_RELAXED);
		errno = EAGAIN;
		return -1;
	}
	return real_sendmmsg(fd, msgs, n, flags);
}

/* Whether a poll() of @fds waits for room on one socket of a full wire. */
static bool wire_full_wait(const struct pollfd *fds, nfds_t n, int timeout)
{
	return __atomic_load_n(&wire_full, __ATOMIC_ACQUIRE) && n == 1 &&
	       (fds[0].events & POLLOUT) && timeout >= 0;
}

/* glibc declares poll()'s array write-only, which it is not (GCC believes it) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (wire_full_wait(fds, n, timeout)) {
		struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000};

		nanosleep(&ts, NULL);
		fds[0].revents = 0;
		return 0;
	}
	return real_poll(fds, n, timeout);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* Queries while the wire is full: how many, and the bound of their total in ms. */
#define FULL_QUERIES	  5
#define FULL_QUERY_MS_MAX 50

/* ibv_query_qp() timed from another thread once the wire refused packets. */
struct full_queries {
	struct ibv_qp *qp;
	uint64_t ms[FULL_QUERIES];
	int ok; /* queries that answered 0 with the QP in RTS */
	bool saw_full;
};

static void *full_queries_run(void *arg)
{
	struct full_queries *q = arg;
	uint64_t end = rt_ms() + RT_WAIT_MS;
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr attr;
	int i;

	while (!__atomic_load_n(&wire_refused, __ATOMIC_RELAXED) && rt_ms() < end)
		usleep(50);
	q->saw_full = __atomic_load_n(&wire_refused, __ATOMIC_RELAXED) > 0;
	for (i = 0; i < FULL_QUERIES; i++) {
		uint64_t t0 = sodp_now_ns();

		if (!ibv_query_qp(q->qp, &attr, IBV_QP_STATE, &init) &&
		    attr.qp_state == IBV_QPS_RTS)
			q->ok++;
		q->ms[i] = (sodp_now_ns() - t0) / 1000000;
	}
	return NULL;
}

/*
 * While the device's sockets refuse packets, neither the engine nor a
 * posting thread waits for them under dev->lock, and nothing refused is
 * dropped: ibv_query_qp(), from another thread from the first refusal on,
 * answers at once; the refused packets are counted and stay queued; the
 * RDMA WRITE completes, intact, once the wire drains. The queries start
 * while the refused packets wait: a device that waited for its socket
 * under dev->lock (even 1 ms at a time, for as many tries as a full wire
 * refuses) would hold the first of them for all that time.
 */
static void test_full_socket_keeps_packets_and_control_verbs_prompt(void)
{
	struct rt_conn_opts o = *rt_default_opts();
	struct rt_side a = {0}, b = {0};
	struct full_queries q = {0};
	struct rxe_counters c = {0};
	uint64_t total = 0, max = 0;
	struct ibv_wc wc;
	pthread_t th;
	int i;

	/* the QPs outlast the full wire: 4.096 us * 2^18 = 1 s per retry */
	o.timeout = 18;
	if (rt_side_init(&a, "srxe0", IBV_QPT_RC, o.access, 16) ||
	    rt_side_init(&b, "srxe1", IBV_QPT_RC, o.access, 16) ||
	    rt_rc_connect(&a, &b, &o, 100, 200)) {
		rt_side_fini(&a);
		rt_side_fini(&b);
		SODP_SKIP("cannot open devices");
	}
	rt_fill(a.buf, RT_BUF, 7);
	memset(b.buf, 0, RT_BUF);
	q.qp = a.qp;
	__atomic_store_n(&wire_refused, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&wire_full, 1, __ATOMIC_RELEASE);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, full_queries_run, &q), 0);
	CU_ASSERT_EQUAL(rt_post(&a, IBV_WR_RDMA_WRITE, 0, RT_BUF, (uintptr_t)b.buf, b.mr->rkey), 0);
	pthread_join(th, NULL);
	CU_ASSERT(q.saw_full);
	CU_ASSERT_EQUAL(q.ok, FULL_QUERIES);
	for (i = 0; i < FULL_QUERIES; i++) {
		total += q.ms[i];
		max = SODP_MAX(max, q.ms[i]);
	}
	printf("\n    %d ibv_query_qp on a full wire: %llu ms, the longest %llu ms", FULL_QUERIES,
	       (unsigned long long)total, (unsigned long long)max);
	CU_ASSERT(total <= FULL_QUERY_MS_MAX);
	CU_ASSERT_EQUAL(ibv_poll_cq(a.cq, 1, &wc), 0); /* nothing left the device */
	rxe_dev_counters(ctx_dev(sodp_ctx(a.ctx)), &c);
	CU_ASSERT(c.tx_deferred > 0);

	__atomic_store_n(&wire_full, 0, __ATOMIC_RELEASE);
	CU_ASSERT_EQUAL_FATAL(rt_poll(a.cq, &wc), 1);
	CU_ASSERT_EQUAL(wc.status, IBV_WC_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(a.buf, b.buf, RT_BUF), 0);
	rt_side_fini(&a);
	rt_side_fini(&b);
}

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"ud_port_formula_matches_kernel_capture",
		 test_ud_port_formula_matches_kernel_capture},
		{"rc_packets_use_the_flow_label_port", test_rc_packets_use_the_flow_label_port},
		{"ud_packets_use_the_qpn_hash_port", test_ud_packets_use_the_qpn_hash_port},
		{"full_socket_keeps_packets_and_control_verbs_prompt",
		 test_full_socket_keeps_packets_and_control_verbs_prompt},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_net", NULL, NULL, t);
}
