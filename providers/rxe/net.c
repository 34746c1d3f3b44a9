// SPDX-License-Identifier: MIT
/*
 * The UDP side of the NIC: one socket per device address bound to port 4791
 * in the process that owns the address (the others receive through it,
 * share.c),
 * batched transmit (sendmmsg) and receive (recvmmsg), ICRC on both ways and
 * the dispatch of received packets to the QP state machines. A received
 * packet reaches a QP only after the checks of rxe_rx_accept(); whatever is
 * dropped on the way is counted by reason (enum rxe_drop, rxe_dev_counters()).
 *
 * UDP checksums are 0, as kernel rxe sends them: the ICRC protects the packet.
 *
 * Packets leave an unconnected socket with IP_PMTUDISC_DO: Linux then sets DF
 * and IPv4 Identification 0, which is what makes the ICRC of an IPv4 packet
 * knowable by a receiver that only sees the UDP payload (see icrc.h). The
 * local address of a received datagram comes from IP_PKTINFO /
 * IPV6_RECVPKTINFO, the peer's from msg_name.
 *
 * Source ports are kernel rxe's, so that ECMP and RSS spread flows as they do
 * for a hardware or kernel peer: RC/UC use 0xC000 | fold14(flow label), the
 * flow label being the AH's or, without one, the fold of lqpn * rqpn (both
 * ends of a connection agree); UD uses 0xC000 + hash_32(qpn, 14) (checked
 * against tests/rxe/data/ud_pingpong.pcap). Each source port gets a
 * send-only socket bound to <addr>:<sport>, opened on first use and cached
 * per device: not connected (IPv4 ID stays 0), a filter that drops whatever
 * arrives on it, never read. Replies always go to 4791. A port taken by
 * someone else (the range overlaps the ephemeral ports; another process on
 * the address may hold it), or past RXE_MAX_SPORT_SOCKS sockets, falls back
 * to the device's own socket: 4791 in the owner of the address, a port of
 * the process's own in the others (share.c).
 */
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <softodp/device.h>

#include "rxe.h"
#include "log.h"

#define RXE_SPORT_NONE	 (-1) /* not opened yet */
#define RXE_SPORT_FAILED (-2) /* bind failed: use the 4791 socket */

uint16_t rxe_rc_sport(uint32_t lqpn, uint32_t rqpn)
{
	return rxe_roce_udp_sport(lqpn, rqpn);
}

/* The kernel's hash_32(): multiplicative hash, top @bits bits. */
static uint32_t rxe_hash_32(uint32_t val, unsigned int bits)
{
	return (val * 0x61c88647u) >> (32 - bits);
}

/*
 * The source port kernel rxe uses for a packet of @qp: UD from the sending
 * QP's number (the DETH's source QPN), RC/UC from the flow label or the
 * two QPNs.
 */
static uint16_t rxe_tx_sport(const struct rxe_qp *qp)
{
	if (qp->ibqp.qp_base.qp_type == IBV_QPT_UD)
		return (uint16_t)(RXE_SPORT_BASE +
				  rxe_hash_32(qp->ibqp.qp_base.qp_num, RXE_SPORT_BITS));
	if (qp->av.flow_label)
		return rxe_flow_label_sport(qp->av.flow_label);
	return rxe_roce_udp_sport(qp->ibqp.qp_base.qp_num, qp->attr.dest_qp_num);
}

/*
 * UDP checksum 0, as kernel rxe sends (the ICRC covers the payload):
 * SO_NO_CHECK for IPv4; for IPv6 UDP_NO_CHECK6_TX, and UDP_NO_CHECK6_RX on
 * the receiving socket so that such datagrams are accepted (RFC 6935).
 */
static void rxe_sock_no_check(int fd, int family, bool rx)
{
	int on = 1;

	if (family == AF_INET) {
		if (setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &on, sizeof(on)))
			sodp_dbg("rxe: SO_NO_CHECK: %s\n", strerror(errno));
		return;
	}
	if (setsockopt(fd, IPPROTO_UDP, UDP_NO_CHECK6_TX, &on, sizeof(on)))
		sodp_dbg("rxe: UDP_NO_CHECK6_TX: %s\n", strerror(errno));
	if (rx && setsockopt(fd, IPPROTO_UDP, UDP_NO_CHECK6_RX, &on, sizeof(on)))
		sodp_dbg("rxe: UDP_NO_CHECK6_RX: %s\n", strerror(errno));
}

/* Sets the port of @ss, an AF_INET or AF_INET6 address. */
static void rxe_sockaddr_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/*
 * A UDP socket of @dev bound to <addr>:@port, as every socket of the device
 * is set up: non-blocking, DF with path MTU discovery (IPv4 ID 0), UDP
 * checksum 0, RXE_SOCKBUF of send buffer. @rx: the 4791 socket, which
 * receives (the destination address of each datagram, RXE_SOCKBUF of
 * receive buffer); else a send-only socket, which drops whatever arrives
 * before it takes buffer space. The descriptor, or -errno.
 */
static int rxe_sock_open(struct rxe_dev *dev, uint16_t port, bool rx)
{
	static struct sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = {1, &drop_all};
	struct sockaddr_storage ss = dev->addr;
	int on = 1, rcv = rx ? RXE_SOCKBUF : 1, snd = RXE_SOCKBUF, fd, ret;

	fd = socket(dev->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rxe_sockaddr_set_port(&ss, port);
	if (dev->family == AF_INET) {
		int pmtu = IP_PMTUDISC_DO;

		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
		if (rx)
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
	} else {
		int pmtu = IPV6_PMTUDISC_DO;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu));
		if (rx)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
	}
	rxe_sock_no_check(fd, dev->family, rx);
	if (!rx)
		setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
	if (bind(fd, (struct sockaddr *)&ss, dev->addr_len) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * The receive batch's message headers, set up once: recvmmsg() changes
 * only the name and control lengths of the messages it fills, which
 * rxe_rx_batch() puts back, so an empty poll of the socket costs the
 * system call alone.
 */
struct rxe_rxring {
	struct mmsghdr msgs[RXE_BATCH];
	struct iovec iov[RXE_BATCH];
	struct sockaddr_storage names[RXE_BATCH];
	char cbuf[RXE_BATCH][RXE_RX_CMSG_BYTES];
};

static void rxe_rxring_init(struct rxe_dev *dev)
{
	struct rxe_rxring *r = dev->rxr;
	int i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < RXE_BATCH; i++) {
		r->iov[i].iov_base = dev->rxbuf + (size_t)i * RXE_RXBUF;
		r->iov[i].iov_len = RXE_RXBUF;
		r->msgs[i].msg_hdr.msg_name = &r->names[i];
		r->msgs[i].msg_hdr.msg_namelen = sizeof(r->names[i]);
		r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
		r->msgs[i].msg_hdr.msg_iovlen = 1;
		r->msgs[i].msg_hdr.msg_control = r->cbuf[i];
		r->msgs[i].msg_hdr.msg_controllen = sizeof(r->cbuf[i]);
	}
}

/* The socket to send from @sport (opened on first use), else the 4791 one. */
static int rxe_sport_sock(struct rxe_dev *dev, uint16_t *sport)
{
	int *slot, fd;

	if (*sport < RXE_SPORT_BASE || !dev->sport_fd)
		goto fallback;
	slot = &dev->sport_fd[*sport - RXE_SPORT_BASE];
	if (*slot >= 0)
		return *slot;
	if (*slot == RXE_SPORT_FAILED)
		goto fallback;
	if (dev->nr_sport_fd >= RXE_MAX_SPORT_SOCKS) {
		sodp_dbg("%s: %u source-port sockets open; port %u falls back to %u\n", dev->name,
			 dev->nr_sport_fd, *sport, dev->sock_port);
		goto fallback;
	}
	fd = rxe_sock_open(dev, *sport, false);
	if (fd < 0) {
		sodp_dbg("%s: cannot bind UDP source port %u (%s); using %u\n", dev->name, *sport,
			 strerror(-fd), dev->sock_port);
		*slot = RXE_SPORT_FAILED;
		goto fallback;
	}
	*slot = fd;
	dev->nr_sport_fd++;
	return fd;
fallback:
	*sport = dev->sock_port;
	return dev->sock;
}

/* A socket bound to <dev addr>:4791 that receives with packet info, or -errno. */
int rxe_net_roce_sock(struct rxe_dev *dev)
{
	return rxe_sock_open(dev, RXE_ROCE_V2_PORT, true);
}

/* A send-only socket bound to <dev addr>:@port (0: any free port), or -errno. */
int rxe_net_send_sock(struct rxe_dev *dev, uint16_t port)
{
	return rxe_sock_open(dev, port, false);
}

/* The local UDP port of @fd, 0 if unknown. */
uint16_t rxe_net_sock_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Frees the receive buffers and the source-port table (its sockets closed). */
static void rxe_net_free(struct rxe_dev *dev)
{
	free(dev->sport_fd);
	dev->sport_fd = NULL;
	dev->nr_sport_fd = 0;
	free(dev->rxbuf);
	dev->rxbuf = NULL;
	free(dev->rxr);
	dev->rxr = NULL;
}

/*
 * The device's bound on unacknowledged RC packets (rxe_param.h): half of
 * what a receive socket set up as rxe_sock_open() does holds, in full-size
 * packets. Its peers are assumed to have the same buffer (another process
 * on this host, or a kernel that receives in softirq and needs none).
 */
static int rxe_net_window(struct rxe_dev *dev)
{
	int fd = socket(dev->family, SOCK_DGRAM | SOCK_CLOEXEC, 0), rcv = RXE_SOCKBUF, w;
	socklen_t len = sizeof(rcv);

	if (fd < 0)
		return RXE_DEV_MIN_INFLIGHT;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) ||
	    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len))
		rcv = 0;
	close(fd);
	w = rcv / 2 / RXE_PKT_TRUESIZE;
	return SODP_MAX(RXE_DEV_MIN_INFLIGHT, SODP_MIN(w, RXE_DEV_MAX_INFLIGHT));
}

/*
 * Sets up the device's receive buffers and joins the processes on its
 * address (share.c): binds 4791 as its owner or registers as a client.
 */
int rxe_net_open(struct rxe_dev *dev)
{
	unsigned int i;
	int ret;

	dev->rxbuf = malloc((size_t)RXE_BATCH * RXE_RXBUF);
	dev->rxr = malloc(sizeof(*dev->rxr));
	dev->sport_fd = malloc(RXE_SPORT_SLOTS * sizeof(*dev->sport_fd));
	if (!dev->rxbuf || !dev->rxr || !dev->sport_fd) {
		ret = -ENOMEM;
		goto err;
	}
	rxe_rxring_init(dev);
	dev->tx_window_max = rxe_net_window(dev);
	for (i = 0; i < RXE_SPORT_SLOTS; i++)
		dev->sport_fd[i] = RXE_SPORT_NONE;
	dev->nr_sport_fd = 0;
	dev->src4791 = dev->addr;
	rxe_sockaddr_set_port(&dev->src4791, RXE_ROCE_V2_PORT);
	ret = rxe_share_open(dev);
	if (ret)
		goto err;
	return 0;
err:
	rxe_net_free(dev);
	return ret;
}

void rxe_net_close(struct rxe_dev *dev)
{
	rxe_share_close(dev);
	if (dev->sock >= 0)
		close(dev->sock);
	dev->sock = -1;
	if (dev->sport_fd) {
		unsigned int i;

		for (i = 0; i < RXE_SPORT_SLOTS; i++)
			if (dev->sport_fd[i] >= 0)
				close(dev->sport_fd[i]);
	}
	rxe_net_free(dev);
}

/*
 * Fills @av with the UDP destination for @gid. IPv4-mapped GIDs address
 * IPv4 devices; anything else needs an IPv6 device.
 */
int rxe_av_from_gid(struct rxe_av *av, const union ibv_gid *gid, int family)
{
	static const uint8_t v4pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	bool mapped = !memcmp(gid->raw, v4pfx, sizeof(v4pfx));

	memset(&av->dst, 0, sizeof(av->dst));
	av->dgid = *gid;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&av->dst;

		if (!mapped)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(RXE_ROCE_V2_PORT);
		memcpy(&sin->sin_addr, gid->raw + 12, 4);
		av->dst_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&av->dst;

		if (mapped)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(RXE_ROCE_V2_PORT);
		memcpy(&sin6->sin6_addr, gid->raw, 16);
		av->dst_len = sizeof(*sin6);
	}
	return 0;
}

/* ---- transmit ---- */

/*
 * The transmit queue, dev->tx: the packets of a round, sent by one
 * sendmmsg() per source socket when it fills and when the round ends. A
 * socket that refuses more (EAGAIN: its send buffer is full; ENOBUFS: the
 * qdisc behind it dropped) keeps its packets queued, in order, for the next
 * flush: the engine sleeps until that socket is writable (rxe_tx_wait_fd())
 * and nobody waits under dev->lock. While the queue has no room for one
 * more commit the requester and the responder stop making packets
 * (rxe_tx_room()), as kernel rxe's requester stops while its QP has too
 * many packets in the qdisc (need_req_skb), and go on in a later round.
 *
 * Flush once fewer slots are free than one commit may fill: the packet,
 * its duplicate and the held-back one (impairment).
 */
#define RXE_TX_FLUSH_AT (RXE_BATCH - 3)

/**
 * rxe_tx_room() - whether the transmit queue takes another packet
 * @dev: the device, under dev->lock
 *
 * Flushes a queue that is full; false when the sockets it waits for
 * refused its packets. The requester and the responder ask before each
 * packet and stop for the round when it says no.
 */
bool rxe_tx_room(struct rxe_dev *dev)
{
	if (dev->ntx >= RXE_TX_FLUSH_AT)
		rxe_tx_flush(dev);
	return dev->ntx < RXE_TX_FLUSH_AT;
}

/*
 * The socket whose refusal holds packets queued, for the engine to wait
 * until it is writable; -1 when nothing waits. Under dev->lock.
 */
int rxe_tx_wait_fd(struct rxe_dev *dev)
{
	return dev->ntx ? dev->tx[0].fd : -1;
}

static struct rxe_txbuf *rxe_tx_alloc(struct rxe_dev *dev)
{
	return rxe_tx_room(dev) ? &dev->tx[dev->ntx] : NULL;
}

/* Picks the packet's source port and socket, then appends the ICRC. */
static void rxe_tx_icrc(struct rxe_dev *dev, const struct rxe_qp *qp, struct rxe_txbuf *tb)
{
	struct sockaddr_storage src;
	struct rxe_icrc_hdr h;

	tb->sport = rxe_tx_sport(qp);
	tb->fd = rxe_sport_sock(dev, &tb->sport);
	memcpy(&src, &dev->src4791, dev->addr_len);
	rxe_sockaddr_set_port(&src, tb->sport);
	if (rxe_icrc_hdr_from_sockaddr(&h, (struct sockaddr *)&src, (struct sockaddr *)&tb->dst))
		return;
	rxe_icrc_append(&h, tb->data, tb->len - RXE_ICRC_BYTES);
}

/*
 * The reorder impairment holds one packet back (dev->held) so that the
 * packets queued after it overtake it. It models a path that reorders, not
 * one that delays without bound: the held packet joins the batch when the
 * next packet that is not dropped is queued, and at the latest when the
 * batch is flushed, at the end of the engine round that held it. Kept until
 * the device happened to send again, a lone packet (the last request of a
 * burst, the ACK of a retransmission) waited for the peer's retransmission
 * timer, and the answer to that retransmission for the next timeout, so a
 * few drops on top used up retry_cnt although every packet was sent.
 */
static void rxe_tx_release_held(struct rxe_dev *dev)
{
	if (!dev->held->len || dev->ntx >= RXE_BATCH)
		return;
	memcpy(&dev->tx[dev->ntx], dev->held, offsetof(struct rxe_txbuf, data) + dev->held->len);
	dev->held->len = 0;
	dev->ntx++;
}

/*
 * Queues the packet of @qp built in @tb (tb->len includes the 4 ICRC bytes)
 * for @av. The impairment hook may drop, duplicate or hold it back.
 */
static void rxe_tx_commit(struct rxe_dev *dev, const struct rxe_qp *qp, struct rxe_txbuf *tb,
			  const struct rxe_av *av)
{
	bool dup;

	memcpy(&tb->dst, &av->dst, av->dst_len);
	tb->dst_len = av->dst_len;
	tb->deferred = false;
	rxe_tx_icrc(dev, qp, tb);
	if (!rxe_impair_tx(dev, &dup))
		return;
	if (dev->impair.on && !dev->held->len && rxe_impair_reorder(dev)) {
		memcpy(dev->held, tb, offsetof(struct rxe_txbuf, data) + tb->len);
		return;
	}
	dev->ntx++;
	/* room for it: rxe_tx_alloc() left RXE_BATCH - RXE_TX_FLUSH_AT slots */
	if (dup) {
		memcpy(&dev->tx[dev->ntx], tb, offsetof(struct rxe_txbuf, data) + tb->len);
		dev->ntx++;
	}
	rxe_tx_release_held(dev);
	if (dev->ntx >= RXE_TX_FLUSH_AT)
		rxe_tx_flush(dev);
}

/*
 * Starts a packet with headers @h and room for @paylen payload bytes.
 * Returns the buffer (payload at tb->data + tb->hdr_len), or NULL when the
 * headers do not build or the queue has no room (ask rxe_tx_room() first).
 */
struct rxe_txbuf *rxe_tx_build(struct rxe_qp *qp, const struct rxe_hdrs *h, uint32_t paylen)
{
	return rxe_tx_build_nth(qp, h, paylen, 0);
}

/*
 * How many packets may be built ahead with rxe_tx_build_nth() and then
 * committed in order without the queue flushing in between. Under dev->lock.
 */
unsigned int rxe_tx_room_ahead(struct rxe_dev *dev)
{
	if (!rxe_tx_room(dev) || dev->impair.on)
		return 0;
	return RXE_TX_FLUSH_AT - 1 - dev->ntx;
}

/*
 * rxe_tx_build() of the packet @n places behind the next one, for a run of
 * packets built before any is sent: they are sent with rxe_tx_send() in
 * order, n = 0 first. @n < rxe_tx_room_ahead().
 */
struct rxe_txbuf *rxe_tx_build_nth(struct rxe_qp *qp, const struct rxe_hdrs *h, uint32_t paylen,
				   unsigned int n)
{
	struct rxe_txbuf *tb = n ? &qp->dev->tx[qp->dev->ntx + n] : rxe_tx_alloc(qp->dev);
	int hl;

	if (!tb)
		return NULL;
	hl = rxe_hdr_build(tb->data, sizeof(tb->data), h, paylen);
	if (hl < 0)
		return NULL;
	tb->hdr_len = hl;
	tb->paylen = paylen;
	return tb;
}

/* Pads, adds the ICRC and queues a packet of @qp from rxe_tx_build(). */
void rxe_tx_send(struct rxe_qp *qp, struct rxe_txbuf *tb, const struct rxe_av *av)
{
	rxe_pkt_zero_pad(tb->data, tb->hdr_len, tb->paylen);
	tb->len = tb->hdr_len + tb->paylen + rxe_pad_len(tb->paylen) + RXE_ICRC_BYTES;
	rxe_tx_commit(qp->dev, qp, tb, av);
}

/*
 * Hands @n packets to @fd. Returns how many left the queue: sent, or lost
 * to an error no wait cures (no route to the peer), which the RC
 * retransmission timer recovers as on a lossy wire. Stops where the socket
 * refuses more (EAGAIN, ENOBUFS): the rest stays queued.
 */
static unsigned int rxe_tx_send_fd(int fd, struct mmsghdr *msgs, unsigned int n)
{
	unsigned int done = 0;

	while (done < n) {
		int ret = sendmmsg(fd, msgs + done, n - done, 0);

		if (ret > 0) {
			done += ret;
			continue;
		}
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0 && (errno == EAGAIN || errno == ENOBUFS))
			break;
		done++;
	}
	return done;
}

/*
 * Sends the queue, one sendmmsg() run per source socket (UDP GSO cannot
 * carry it: docs/DESIGN.md, "Transmit"). Packets of one socket keep their
 * order; a QP sends from one socket, so no QP's packets are reordered (but
 * by the impairment). A packet the impairment holds back leaves with this
 * flush, behind those queued after it. What a socket refused moves to the
 * front of the queue, in order, counted once in tx_deferred.
 */
void rxe_tx_flush(struct rxe_dev *dev)
{
	struct mmsghdr msgs[RXE_BATCH];
	struct iovec iov[RXE_BATCH];
	unsigned int idx[RXE_BATCH];
	bool gone[RXE_BATCH] = {false}, seen[RXE_BATCH] = {false};
	unsigned int i, j, n, done, kept = 0;

	rxe_tx_release_held(dev);
	if (!dev->ntx)
		return;
	for (i = 0; i < dev->ntx; i++) {
		int fd;

		if (seen[i])
			continue;
		fd = dev->tx[i].fd;
		for (j = i, n = 0; j < dev->ntx; j++) {
			struct rxe_txbuf *tb = &dev->tx[j];

			if (seen[j] || tb->fd != fd)
				continue;
			seen[j] = true;
			idx[n] = j;
			iov[n].iov_base = tb->data;
			iov[n].iov_len = tb->len;
			memset(&msgs[n], 0, sizeof(msgs[n]));
			msgs[n].msg_hdr.msg_name = &tb->dst;
			msgs[n].msg_hdr.msg_namelen = tb->dst_len;
			msgs[n].msg_hdr.msg_iov = &iov[n];
			msgs[n].msg_hdr.msg_iovlen = 1;
			n++;
		}
		done = rxe_tx_send_fd(fd, msgs, n);
		for (j = 0; j < done; j++)
			gone[idx[j]] = true;
	}
	for (i = 0; i < dev->ntx; i++) {
		struct rxe_txbuf *tb = &dev->tx[i];

		if (gone[i]) {
			dev->tx_pkts++;
			continue;
		}
		if (!tb->deferred) {
			tb->deferred = true;
			dev->tx_deferred++;
		}
		if (kept != i)
			memcpy(&dev->tx[kept], tb, offsetof(struct rxe_txbuf, data) + tb->len);
		kept++;
	}
	dev->ntx = kept;
}

/* ---- receive ---- */

static struct rxe_qp *rxe_qp_lookup(struct rxe_dev *dev, uint32_t qpn)
{
	uint32_t idx;

	if ((qpn & RXE_QPN_LOW_MASK) < RXE_QPN_FIRST)
		return NULL;
	idx = rxe_qpn_slot(qpn);
	if (dev->qp_tbl[idx] && dev->qp_tbl[idx]->ibqp.qp_base.qp_num == qpn)
		return dev->qp_tbl[idx];
	return NULL;
}

static void rxe_rx_drop(struct rxe_dev *dev, enum rxe_drop why)
{
	dev->rx_drops[why]++;
}

/* Whether @a and @b hold the same IP address (driver.h). */
static bool rxe_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return sodp_same_ip((const struct sockaddr *)a, (const struct sockaddr *)b);
}

/*
 * The states in which a QP takes a packet: requests from RTR on (UD also in
 * SQE), responses only while the send queue runs (RTS, SQD).
 */
static bool rxe_rx_state_ok(const struct rxe_qp *qp, const struct rxe_pkt *pkt)
{
	enum ibv_qp_state st = qp->state;

	if (pkt->pi.mask & RXE_ACK_MASK)
		return st == IBV_QPS_RTS || st == IBV_QPS_SQD;
	if (qp->ibqp.qp_base.qp_type == IBV_QPT_UD && st == IBV_QPS_SQE)
		return true;
	return st == IBV_QPS_RTR || st == IBV_QPS_RTS || st == IBV_QPS_SQD;
}

/* The port's P_Key table: the default partition, full membership. */
static const uint16_t rxe_pkey_tbl[RXE_MAX_PKEYS] = {RXE_DEFAULT_PKEY};

/*
 * The checks of kernel rxe's rxe_rcv() (check_type_state, check_addr,
 * check_keys) that a packet passes before it may touch @qp: an opcode of the
 * QP's transport, a state that takes it; for a connected QP (RC, UC) the
 * connection's two addresses, the peer's as source and the device's own as
 * destination, so that nobody but the peer can inject into or tear down a
 * connection by guessing its QPN and PSN; a P_Key that matches the QP's
 * entry of the P_Key table; and for UD the QP's Q_Key (IBA 10.2.5: a
 * violation is dropped silently). A failed check counts its drop reason.
 */
static bool rxe_rx_accept(struct rxe_dev *dev, struct rxe_qp *qp, const struct rxe_pkt *pkt)
{
	bool ud = qp->ibqp.qp_base.qp_type == IBV_QPT_UD;

	if ((pkt->pi.opcode & IB_OPCODE_TRANSPORT_MASK) != rxe_qp_transport(qp)) {
		rxe_rx_drop(dev, RXE_DROP_TRANSPORT);
		return false;
	}
	if (!rxe_rx_state_ok(qp, pkt)) {
		rxe_rx_drop(dev, RXE_DROP_QP_STATE);
		return false;
	}
	if (!ud && !rxe_same_ip(&pkt->src, &qp->av.dst)) {
		rxe_rx_drop(dev, RXE_DROP_SRC_ADDR);
		return false;
	}
	if (!ud && !rxe_same_ip(&pkt->dst, &dev->addr)) {
		rxe_rx_drop(dev, RXE_DROP_DST_ADDR);
		return false;
	}
	if (!rxe_pkey_match(pkt->pi.h.bth.pkey, rxe_pkey_tbl[qp->attr.pkey_index])) {
		rxe_rx_drop(dev, RXE_DROP_PKEY);
		return false;
	}
	if (ud && pkt->pi.h.deth.qkey != qp->attr.qkey) {
		rxe_rx_drop(dev, RXE_DROP_QKEY);
		return false;
	}
	return true;
}

void rxe_rx_one(struct rxe_dev *dev, uint8_t *buf, uint32_t len, struct rxe_pkt *pkt)
{
	struct rxe_icrc_hdr h;
	struct rxe_qp *qp;
	int ret;

	dev->rx_pkts++;
	if (rxe_pkt_parse(buf, len, &pkt->pi)) {
		rxe_rx_drop(dev, RXE_DROP_MALFORMED);
		return;
	}
	if (dev->icrc_policy != RXE_ICRC_SKIP) {
		if (rxe_icrc_hdr_from_sockaddr(&h, (struct sockaddr *)&pkt->src,
					       (struct sockaddr *)&pkt->dst)) {
			rxe_rx_drop(dev, RXE_DROP_ADDR);
			return;
		}
		ret = rxe_icrc_check(&h, buf, len, dev->icrc_policy);
		if (ret < 0) {
			rxe_rx_drop(dev, RXE_DROP_ICRC);
			return;
		}
		if (ret == RXE_ICRC_UNVERIFIED)
			dev->rx_icrc_unverified++;
		else if (ret == RXE_ICRC_ID_RECOVERED)
			dev->rx_icrc_id_recovered++;
	}
	qp = rxe_qp_lookup(dev, pkt->pi.h.bth.qpn);
	if (!qp) {
		rxe_rx_drop(dev, RXE_DROP_NO_QP);
		return;
	}
	if (!rxe_rx_accept(dev, qp, pkt))
		return;
	if (pkt->pi.mask & RXE_ACK_MASK)
		rxe_completer(qp, pkt);
	else
		rxe_responder(qp, pkt);
}

/* enum rxe_drop is the public enum sodp_drop_reason, reason for reason. */
#define RXE_SAME_DROP(n) ((int)RXE_DROP_##n == (int)SODP_DROP_##n)
_Static_assert(RXE_SAME_DROP(MALFORMED) && RXE_SAME_DROP(ADDR) && RXE_SAME_DROP(ICRC) &&
		       RXE_SAME_DROP(NO_QP) && RXE_SAME_DROP(TRANSPORT) &&
		       RXE_SAME_DROP(QP_STATE) && RXE_SAME_DROP(SRC_ADDR) &&
		       RXE_SAME_DROP(DST_ADDR) && RXE_SAME_DROP(PKEY) && RXE_SAME_DROP(QKEY) &&
		       RXE_SAME_DROP(RESPONSE) && RXE_SAME_DROP(NR),
	       "enum rxe_drop and enum sodp_drop_reason differ");

static const char *const rxe_drop_name[RXE_DROP_NR] = {
	[RXE_DROP_MALFORMED] = "malformed",
	[RXE_DROP_ADDR] = "address family",
	[RXE_DROP_ICRC] = "icrc",
	[RXE_DROP_NO_QP] = "no qp",
	[RXE_DROP_TRANSPORT] = "transport",
	[RXE_DROP_QP_STATE] = "qp state",
	[RXE_DROP_SRC_ADDR] = "source address",
	[RXE_DROP_DST_ADDR] = "destination address",
	[RXE_DROP_PKEY] = "p_key",
	[RXE_DROP_QKEY] = "q_key",
	[RXE_DROP_RESPONSE] = "unsolicited response",
};

SODP_EXPORT const char *sodp_drop_reason_name(enum sodp_drop_reason reason)
{
	return (unsigned int)reason < RXE_DROP_NR ? rxe_drop_name[reason] : NULL;
}

SODP_EXPORT int sodp_device_get_counters(struct ibv_context *ctx, struct sodp_device_counters *c)
{
	struct rxe_counters rc;
	int i;

	if (!ctx || !c || !sodp_ctx(ctx) || !sodp_ctx(ctx)->priv)
		return -EINVAL;
	rxe_dev_counters(ctx_dev(sodp_ctx(ctx)), &rc);
	memset(c, 0, sizeof(*c));
	c->rx_packets = rc.rx_pkts;
	c->tx_packets = rc.tx_pkts;
	for (i = 0; i < RXE_DROP_NR; i++) {
		c->drops[i] = rc.rx_drops[i];
		c->rx_dropped += rc.rx_drops[i];
	}
	c->rx_icrc_id_recovered = rc.rx_icrc_id_recovered;
	c->rx_icrc_unverified = rc.rx_icrc_unverified;
	c->tx_impair_dropped = rc.impair_drop;
	return 0;
}

/* SOFTODP_STATS=1: the device's counters, on stderr, as its last context closes. */
void rxe_dev_report_counters(struct rxe_dev *dev)
{
	uint64_t dropped = 0;
	int i;

	if (!dev->report_stats)
		return;
	for (i = 0; i < RXE_DROP_NR; i++)
		dropped += dev->rx_drops[i];
	fprintf(stderr,
		"softodp: %s: %llu packets received, %llu sent, %llu dropped; ICRC with the "
		"sender's IP ID recovered %llu; %llu sent later for a full socket\n",
		dev->name, (unsigned long long)dev->rx_pkts, (unsigned long long)dev->tx_pkts,
		(unsigned long long)dropped, (unsigned long long)dev->rx_icrc_id_recovered,
		(unsigned long long)dev->tx_deferred);
	for (i = 0; i < RXE_DROP_NR; i++)
		if (dev->rx_drops[i])
			fprintf(stderr, "softodp: %s: dropped, %s: %llu\n", dev->name,
				rxe_drop_name[i], (unsigned long long)dev->rx_drops[i]);
	if (dev->resp_drops)
		fprintf(stderr, "softodp: %s: requests the responder dropped: %llu\n", dev->name,
			(unsigned long long)dev->resp_drops);
}

/* A snapshot of @dev's counters. */
void rxe_dev_counters(struct rxe_dev *dev, struct rxe_counters *c)
{
	rxe_dev_lock(dev);
	c->rx_pkts = dev->rx_pkts;
	c->tx_pkts = dev->tx_pkts;
	c->rx_icrc_unverified = dev->rx_icrc_unverified;
	c->rx_icrc_id_recovered = dev->rx_icrc_id_recovered;
	c->impair_drop = dev->impair_drop;
	c->tx_deferred = dev->tx_deferred;
	memcpy(c->rx_drops, dev->rx_drops, sizeof(c->rx_drops));
	c->resp_drops = dev->resp_drops;
	pthread_mutex_unlock(&dev->lock);
}

/*
 * Receives and processes up to one batch. Returns the number of datagrams
 * processed, 0 when the socket is empty. Runs under dev->lock.
 */
int rxe_rx_batch(struct rxe_dev *dev)
{
	struct rxe_rxring *r = dev->rxr;
	struct mmsghdr *msgs = r->msgs;
	struct rxe_pkt pkt;
	uint8_t *buf;
	int i, n;

	if (!rxe_share_is_owner(dev))
		return rxe_share_rx_batch(dev);
	n = recvmmsg(dev->sock, msgs, RXE_BATCH, MSG_DONTWAIT, NULL);
	for (i = 0; i < n; i++) {
		struct msghdr *mh = &msgs[i].msg_hdr;
		struct cmsghdr *c;

		memset(&pkt.src, 0, sizeof(pkt.src));
		memcpy(&pkt.src, &r->names[i], mh->msg_namelen);
		pkt.dst = dev->src4791;
		for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				((struct sockaddr_in *)&pkt.dst)->sin_addr = pi.ipi_addr;
			} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				((struct sockaddr_in6 *)&pkt.dst)->sin6_addr = pi.ipi6_addr;
			}
		}
		buf = dev->rxbuf + (size_t)i * RXE_RXBUF;
		if (!rxe_share_steer(dev, buf, msgs[i].msg_len, &pkt))
			rxe_rx_one(dev, buf, msgs[i].msg_len, &pkt);
		/* what the kernel wrote back, for the next batch */
		mh->msg_namelen = sizeof(r->names[i]);
		mh->msg_controllen = sizeof(r->cbuf[i]);
	}
	if (n >= 0 && n < RXE_BATCH) {
		/* the message the batch stopped at, in case it was written */
		msgs[n].msg_hdr.msg_namelen = sizeof(r->names[n]);
		msgs[n].msg_hdr.msg_controllen = sizeof(r->cbuf[n]);
	}
	rxe_share_fwd_flush(dev);
	return n < 0 ? 0 : n;
}

/*
 * Processes @len bytes as a datagram that arrived from @src at the device's
 * address, port 4791: the receive path of rxe_rx_batch() for a packet that
 * did not come through the socket (the receive-path fuzzer). Takes the
 * device lock; what the packet makes the device send is sent before it
 * returns, and the engine is woken for the rest. Longer than a receive
 * buffer is cut, as the socket would.
 */
void rxe_rx_inject(struct rxe_dev *dev, const void *buf, uint32_t len, const struct sockaddr *src,
		   socklen_t src_len)
{
	struct rxe_pkt pkt;

	if (src_len > sizeof(pkt.src))
		return;
	len = SODP_MIN(len, RXE_RXBUF);
	memset(&pkt.src, 0, sizeof(pkt.src));
	memcpy(&pkt.src, src, src_len);
	pkt.dst = dev->src4791;
	rxe_dev_lock(dev);
	memcpy(dev->rxbuf, buf, len);
	rxe_rx_one(dev, dev->rxbuf, len, &pkt);
	rxe_tx_flush(dev);
	pthread_mutex_unlock(&dev->lock);
	rxe_doorbell(dev);
}
