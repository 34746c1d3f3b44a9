// SPDX-License-Identifier: MIT
/*
 * What the UDP side puts on the wire, read back from a raw AF_PACKET socket
 * on lo (needs CAP_NET_RAW; run it in a private network namespace): the
 * source ports of kernel rxe (RC/UC from the QPN pair, UD from the source
 * QPN), destination 4791, IPv4 ID 0 with DF, UDP checksum 0, and an ICRC
 * that verifies with the source port actually used.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void sodp_tests_register(void)
{
	static const struct sodp_test_case t[] = {
		{"ud_port_formula_matches_kernel_capture",
		 test_ud_port_formula_matches_kernel_capture},
		{"rc_packets_use_the_flow_label_port", test_rc_packets_use_the_flow_label_port},
		{"ud_packets_use_the_qpn_hash_port", test_ud_packets_use_the_qpn_hash_port},
		{NULL, NULL},
	};

	sodp_add_suite("rxe_net", NULL, NULL, t);
}
