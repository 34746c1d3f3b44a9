// SPDX-License-Identifier: MIT
/*
 * One device address shared by every process on the host.
 *
 * A NIC, or kernel rxe, is one device that every process on the host uses:
 * a peer sees one RoCE device at the address, UDP 4791, whichever process
 * owns the QP it talks to. softodp runs in the application's process, so
 * several processes that open the same device must agree on who receives
 * UDP 4791 and on which QPNs each of them hands out.
 *
 * DESIGN
 *
 * Owner and clients. The first process to start the device binds
 * <addr>:4791 and is its owner. It also listens on an abstract unix socket
 * named for the address (rxe_share_name()); abstract names belong to the
 * network namespace and need no file permission, so the scheme works
 * unprivileged and gives each namespace its own devices. A later process
 * finds 4791 taken (EADDRINUSE), connects to that socket, registers and
 * becomes a client.
 *
 * QPN blocks. The 24-bit QPN space is cut into RXE_SHARE_BLOCKS blocks of
 * 2^RXE_QPN_BLOCK_SHIFT QPNs: block b holds [b << 16, (b + 1) << 16). Each
 * process allocates its QPNs in one block (dev->qpn_base, qp.c), with the
 * low 16 bits from RXE_QPN_FIRST up as kernel rxe numbers its QPs. The
 * first owner takes block 0, which holds the special QPNs 0 and 1; a
 * client gets a block from the owner when it registers. 65536 QPNs per
 * block leave each of the RXE_QP_TBL slots about 16 QPNs to pick from at
 * random (qp.c), and 255 blocks are more processes than a host runs on one
 * device.
 *
 * Receive path. The owner reads 4791 and looks at each datagram's BTH
 * destination QPN (rxe_share_steer()): its own block, the special QPNs 0
 * and 1 and the multicast QPN stay in the owner; a client's block is
 * forwarded to that client over its unix socket, as one SOCK_SEQPACKET
 * message (a struct rxe_share_pkt with the datagram's addresses, then the
 * datagram), in one sendmmsg() per client and receive batch; a packet
 * for a block that no process holds goes through the owner's own receive
 * path, which drops it as it drops any packet for no QP: counted as a bad
 * ICRC if it has one, else as RXE_DROP_NO_QP.
 * The owner checks nothing else: the client runs the whole receive path
 * (ICRC, QP checks) on what it gets, with the addresses the owner saw.
 * SOCK_SEQPACKET keeps datagram boundaries and reports the death of
 * either end as a hangup. A client whose socket stays full for
 * RXE_SHARE_FWD_WAIT_MS loses the rest of the batch, as a full UDP socket
 * would: RC retransmits.
 *
 * QPN 1 and multicast. softodp has no GSI QP (verbs creates none) and no
 * multicast groups (max_mcast_grp is 0, attach fails with EOPNOTSUPP), so
 * no process can hold QPN 1 or a multicast attachment: such packets stay in
 * the owner, whose receive path drops them as it always did, counted. Were
 * either added, QPN 1 would go to the processes that created a GSI QP and
 * QPN 0xFFFFFF to every process with an attached QP, from this one place.
 *
 * Transmit path. Every process sends from its own UDP sockets to the
 * peer's 4791: the RoCEv2 source port is entropy, not an address anyone
 * replies to. The owner's fallback socket is its 4791 socket; a client's
 * is a send-only socket bound to <addr>:0, so each process has a port of
 * its own. The per-source-port sockets of net.c are bound by whichever
 * process asks first; another process that asks for the same port falls
 * back to its own socket (net.c, rxe_sport_sock()). Only a client's
 * receive path takes the extra hop; a device used by one process costs
 * one 3-byte look per received packet.
 *
 * Why not the alternatives. A SO_REUSEPORT group on 4791 steered by a
 * classic BPF program (SO_ATTACH_REUSEPORT_CBPF) returns a socket index,
 * and the kernel moves the last socket of the group into the hole a closed
 * one leaves: after a kill -9 the index of a QPN's process silently
 * changes. An eBPF socket array avoids that but needs privilege. A
 * separate demultiplexing daemon costs a hop for every packet, even with
 * one process, and a busy thread on a two-core host.
 *
 * Death of a client. The owner sees the hangup (or a failed forward), frees
 * the client's block and records when. A freed block is quarantined: it is
 * handed out again only after RXE_SHARE_QUARANTINE_NS, longer than the
 * retry horizon of an RC QP with an ACK timeout up to 2^19 * 4.096 us and
 * 7 retries (17 s), and free blocks are handed out least recently freed
 * first, never-held ones before all others. Until then packets for the
 * dead QPNs are dropped and counted by the owner, never delivered to a
 * newcomer's QPs. The other processes' traffic does not pass through the
 * dead one and goes on.
 *
 * Death of the owner. Its clients see the hangup on their socket and race
 * to bind 4791; the winner becomes the owner, keeps its block, listens and
 * quarantines the dead owner's block; the others connect to it and
 * register again with the block they hold (RXE_SHARE_REGISTER with
 * .block). Packets the peers send meanwhile are lost and retransmitted.
 * For RXE_SHARE_REJOIN_NS after taking over, a new owner hands no block
 * to a newcomer, only back to its former holder: it does not know which
 * blocks the old owner gave out. It does not know which blocks the old
 * owner had freed either: those are not quarantined after a takeover.
 *
 * Control messages are fixed-size structs (struct rxe_share_ctl); a
 * client that sends anything else, or anything at all once registered, is
 * disconnected, and its block freed as if it had died. Between processes
 * of different users, as on one NIC, any user may open the device: the
 * owner trusts a client with the packets of its own block only.
 *
 * Locking: all of it runs under dev->lock, from the engine's rounds
 * (rxe_share_tick(), the receive batch) and from rxe_dev_start() and
 * rxe_net_close(), which run while no round can (before the engine
 * starts, after it stopped).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "rxe.h"
#include "log.h"

#define RXE_SHARE_QUARANTINE_NS (30ULL * 1000000000ULL)
#define RXE_SHARE_REJOIN_NS	(500ULL * 1000000ULL)
/* a busy engine, never sleeping on the control socket, looks this often */
#define RXE_SHARE_POLL_NS (5ULL * 1000000ULL)
/* a client without owner tries to take over or re-register this often */
#define RXE_SHARE_RETRY_NS (2ULL * 1000000ULL)
/* a refused re-registration is tried again this late */
#define RXE_SHARE_REFUSED_NS  (200ULL * 1000000ULL)
#define RXE_SHARE_REPLY_MS    2000 /* a first registration waits so long for its answer */
#define RXE_SHARE_JOIN_TRIES  50   /* binds and connects a first start tries... */
#define RXE_SHARE_JOIN_NAP_MS 10   /* ...this far apart, while an owner comes or goes */
#define RXE_SHARE_FWD_WAIT_MS 2
#define RXE_SHARE_MAX_CONNS   (RXE_SHARE_BLOCKS + 16)
#define RXE_SHARE_SOCKBUF     (8 << 20)
#define RXE_SHARE_BACKLOG     64
#define RXE_SHARE_VERSION     1
#define RXE_SHARE_MCAST_QPN   0xffffff
#define RXE_SHARE_GSI_QPN     1 /* QPN 0 (SMI) and 1 (GSI) are the special QPs */

/*
 * Messages on a device's unix sockets. A client sends one REGISTER; the
 * owner answers ASSIGN, then sends PACKETs. Every message starts with its
 * type; a struct rxe_share_pkt is followed by the datagram.
 */
enum rxe_share_type {
	RXE_SHARE_REGISTER = 0x534f4401,
	RXE_SHARE_ASSIGN = 0x534f4402,
	RXE_SHARE_PACKET = 0x534f4403,
};

struct rxe_share_ctl {
	uint32_t type; /* REGISTER or ASSIGN */
	uint32_t version;
	/* REGISTER: the block held under the previous owner, or RXE_SHARE_NO_BLOCK;
	 * ASSIGN: the block granted, RXE_SHARE_NO_BLOCK for a refusal */
	uint32_t block;
	uint32_t owner_block; /* ASSIGN: the owner's */
};

struct rxe_share_pkt {
	uint32_t type;	   /* PACKET */
	uint16_t src_port; /* network order; the destination port is 4791 */
	uint8_t src[16];   /* an IPv4 address in the first 4 bytes */
	uint8_t dst[16];
};

/* holder[] values besides a connection index */
#define RXE_SHARE_FREE (-1)
#define RXE_SHARE_SELF (-2)

enum rxe_share_role {
	RXE_SHARE_OWNER,  /* binds 4791, forwards */
	RXE_SHARE_CLIENT, /* registered with an owner, receives from it */
	RXE_SHARE_LOST,	  /* a client whose owner died: takes over or registers again */
};

struct rxe_share_conn {
	int fd;		/* -1: a free slot */
	uint32_t block; /* RXE_SHARE_NO_BLOCK until registered */
	bool deferred;	/* a newcomer waiting for the rejoin window to end */
};

/* One datagram of the receive batch on its way to a client. */
struct rxe_share_fwd {
	unsigned int conn;
	struct rxe_share_pkt hdr;
	struct iovec iov[2];
};

struct rxe_share {
	enum rxe_share_role role;
	uint32_t block;	      /* this process's */
	uint32_t owner_block; /* a client's owner's: quarantined should it die */
	struct sockaddr_un name;
	socklen_t name_len;
	bool ctl_ready;	  /* the engine saw the control socket readable */
	uint64_t poll_at; /* when a busy round next looks at the control socket */
	uint64_t retry_at;
	bool refused_told;

	/* owner */
	int listen_fd, ep_fd;
	int holder[RXE_SHARE_BLOCKS]; /* a conns[] index, RXE_SHARE_FREE or _SELF */
	uint64_t freed_ns[RXE_SHARE_BLOCKS];
	uint64_t rejoin_until;
	struct rxe_share_conn conns[RXE_SHARE_MAX_CONNS];
	struct rxe_share_fwd fwd[RXE_BATCH];
	unsigned int nfwd;

	/* client */
	int conn_fd;
	struct rxe_share_pkt rxhdr[RXE_BATCH];
	struct iovec rxiov[RXE_BATCH][2];
	struct mmsghdr rxmsgs[RXE_BATCH];
};

/**
 * rxe_share_pick_block() - the block to hand out
 * @holder: RXE_SHARE_BLOCKS entries, negative for a free block
 * @freed_ns: when each block was last freed, 0 for never held
 * @now: sodp_now_ns()
 *
 * The free block freed least recently, never-held ones first (lowest
 * first among those), provided it was freed RXE_SHARE_QUARANTINE_NS ago.
 *
 * Return: the block, or RXE_SHARE_NO_BLOCK when every free block is in
 * quarantine or none is free.
 */
uint32_t rxe_share_pick_block(const int *holder, const uint64_t *freed_ns, uint64_t now)
{
	uint32_t b, best = RXE_SHARE_NO_BLOCK;

	for (b = 0; b < RXE_SHARE_BLOCKS; b++) {
		if (holder[b] != RXE_SHARE_FREE)
			continue;
		if (best == RXE_SHARE_NO_BLOCK || freed_ns[b] < freed_ns[best])
			best = b;
	}
	if (best != RXE_SHARE_NO_BLOCK && freed_ns[best] &&
	    now - freed_ns[best] < RXE_SHARE_QUARANTINE_NS)
		return RXE_SHARE_NO_BLOCK;
	return best;
}

/* The abstract unix socket name of @dev's address: "softodp-rxe/<addr>". */
static void rxe_share_name(struct rxe_dev *dev, struct rxe_share *sh)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	const void *a = dev->family == AF_INET
				? (const void *)&((struct sockaddr_in *)&dev->addr)->sin_addr
				: (const void *)&((struct sockaddr_in6 *)&dev->addr)->sin6_addr;
	int n;

	inet_ntop(dev->family, a, ip, sizeof(ip));
	memset(&sh->name, 0, sizeof(sh->name));
	sh->name.sun_family = AF_UNIX;
	n = snprintf(sh->name.sun_path + 1, sizeof(sh->name.sun_path) - 1, "%s%s",
		     RXE_SHARE_NAME_PREFIX, ip);
	sh->name_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static void rxe_share_sockbuf(int fd)
{
	int sz = RXE_SHARE_SOCKBUF;

	/* beyond net.core.wmem_max only with CAP_NET_ADMIN */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

/* ---- the owner ---- */

static void rxe_share_drop_conn(struct rxe_dev *dev, unsigned int i, uint64_t now)
{
	struct rxe_share *sh = dev->share;
	struct rxe_share_conn *c = &sh->conns[i];

	if (c->fd < 0)
		return;
	if (c->block != RXE_SHARE_NO_BLOCK) {
		sh->holder[c->block] = RXE_SHARE_FREE;
		sh->freed_ns[c->block] = now;
		sodp_dbg("%s: QPN block %u freed\n", dev->name, c->block);
	}
	close(c->fd);
	c->fd = -1;
	c->block = RXE_SHARE_NO_BLOCK;
	c->deferred = false;
}

/* Listens on the device's name; -errno (EADDRINUSE: a dying owner still holds it). */
static int rxe_share_listen(struct rxe_dev *dev)
{
	struct rxe_share *sh = dev->share;
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = RXE_SHARE_MAX_CONNS};
	int fd, ret;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sh->name, sh->name_len) || listen(fd, RXE_SHARE_BACKLOG) ||
	    epoll_ctl(sh->ep_fd, EPOLL_CTL_ADD, fd, &ev)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	sh->listen_fd = fd;
	return 0;
}

static void rxe_share_accept(struct rxe_dev *dev)
{
	struct rxe_share *sh = dev->share;
	unsigned int i, tries;

	for (tries = 0; tries < RXE_SHARE_BACKLOG; tries++) {
		struct epoll_event ev = {.events = EPOLLIN};
		int fd = accept4(sh->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		for (i = 0; i < RXE_SHARE_MAX_CONNS && sh->conns[i].fd >= 0; i++)
			;
		ev.data.u32 = i;
		if (i == RXE_SHARE_MAX_CONNS || epoll_ctl(sh->ep_fd, EPOLL_CTL_ADD, fd, &ev)) {
			sodp_warn("%s: too many processes on the device; one refused\n", dev->name);
			close(fd);
			continue;
		}
		rxe_share_sockbuf(fd);
		sh->conns[i].fd = fd;
		sh->conns[i].block = RXE_SHARE_NO_BLOCK;
		sh->conns[i].deferred = false;
	}
}

/* Answers registration @i with @block (RXE_SHARE_NO_BLOCK: refused, disconnected). */
static void rxe_share_answer(struct rxe_dev *dev, unsigned int i, uint32_t block, uint64_t now)
{
	struct rxe_share *sh = dev->share;
	struct rxe_share_conn *c = &sh->conns[i];
	struct rxe_share_ctl m = {.type = RXE_SHARE_ASSIGN,
				  .version = RXE_SHARE_VERSION,
				  .block = block,
				  .owner_block = sh->block};

	c->deferred = false;
	if (send(c->fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(m) ||
	    block == RXE_SHARE_NO_BLOCK) {
		rxe_share_drop_conn(dev, i, now);
		return;
	}
	c->block = block;
	sh->holder[block] = (int)i;
	sodp_dbg("%s: QPN block %u to a process\n", dev->name, block);
}

static void rxe_share_register(struct rxe_dev *dev, unsigned int i, uint32_t want, uint64_t now)
{
	struct rxe_share *sh = dev->share;

	if (want != RXE_SHARE_NO_BLOCK) {
		/* a client of the previous owner, with QPs in that block */
		rxe_share_answer(dev, i,
				 sh->holder[want] == RXE_SHARE_FREE ? want : RXE_SHARE_NO_BLOCK,
				 now);
		return;
	}
	if (now < sh->rejoin_until) {
		sh->conns[i].deferred = true;
		sh->retry_at = SODP_MIN(sh->retry_at, sh->rejoin_until);
		return;
	}
	rxe_share_answer(dev, i, rxe_share_pick_block(sh->holder, sh->freed_ns, now), now);
}

/* A message from connection @i: one registration, then nothing. */
static void rxe_share_conn_input(struct rxe_dev *dev, unsigned int i, uint32_t events, uint64_t now)
{
	struct rxe_share *sh = dev->share;
	struct rxe_share_conn *c = &sh->conns[i];
	struct rxe_share_ctl m;
	uint8_t extra;
	struct iovec iov[2] = {{&m, sizeof(m)}, {&extra, 1}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	ssize_t n;

	if (c->fd < 0)
		return;
	n = recvmsg(c->fd, &mh, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR) && !(events & (EPOLLHUP | EPOLLERR)))
		return;
	if (n != sizeof(m) || c->block != RXE_SHARE_NO_BLOCK || c->deferred ||
	    m.type != RXE_SHARE_REGISTER || m.version != RXE_SHARE_VERSION ||
	    (m.block != RXE_SHARE_NO_BLOCK && m.block >= RXE_SHARE_BLOCKS)) {
		if (n > 0)
			sodp_warn("%s: a process sent a malformed registration; disconnected\n",
				  dev->name);
		rxe_share_drop_conn(dev, i, now);
		return;
	}
	rxe_share_register(dev, i, m.block, now);
}

static void rxe_share_owner_ctl(struct rxe_dev *dev, uint64_t now)
{
	struct rxe_share *sh = dev->share;
	struct epoll_event ev[32];
	int i, n;

	n = epoll_wait(sh->ep_fd, ev, 32, 0);
	for (i = 0; i < n; i++) {
		if (ev[i].data.u32 == RXE_SHARE_MAX_CONNS)
			rxe_share_accept(dev);
		else
			rxe_share_conn_input(dev, ev[i].data.u32, ev[i].events, now);
	}
}

/* Newcomers deferred by a takeover get their blocks once the window ends. */
static void rxe_share_owner_timed(struct rxe_dev *dev, uint64_t now)
{
	struct rxe_share *sh = dev->share;
	unsigned int i;

	sh->retry_at = UINT64_MAX;
	if (sh->listen_fd < 0 && rxe_share_listen(dev))
		sh->retry_at = now + RXE_SHARE_RETRY_NS;
	if (now < sh->rejoin_until) {
		sh->retry_at = SODP_MIN(sh->retry_at, sh->rejoin_until);
		return;
	}
	for (i = 0; i < RXE_SHARE_MAX_CONNS; i++)
		if (sh->conns[i].fd >= 0 && sh->conns[i].deferred)
			rxe_share_answer(dev, i,
					 rxe_share_pick_block(sh->holder, sh->freed_ns, now), now);
}

/*
 * Makes @dev the owner with @fd bound to 4791, holding block @block.
 * @dead_block, the previous owner's block or RXE_SHARE_NO_BLOCK, starts in
 * quarantine.
 */
static void rxe_share_become_owner(struct rxe_dev *dev, int fd, uint32_t block, uint32_t dead_block,
				   uint64_t now)
{
	struct rxe_share *sh = dev->share;
	unsigned int i;

	for (i = 0; i < RXE_SHARE_BLOCKS; i++) {
		sh->holder[i] = RXE_SHARE_FREE;
		sh->freed_ns[i] = 0;
	}
	for (i = 0; i < RXE_SHARE_MAX_CONNS; i++) {
		sh->conns[i].fd = -1;
		sh->conns[i].block = RXE_SHARE_NO_BLOCK;
	}
	sh->holder[block] = RXE_SHARE_SELF;
	if (dead_block != RXE_SHARE_NO_BLOCK && dead_block != block) {
		/* 0 means never held */
		sh->freed_ns[dead_block] = now ? now : 1;
		sh->rejoin_until = now + RXE_SHARE_REJOIN_NS;
	}
	sh->role = RXE_SHARE_OWNER;
	sh->block = block;
	sh->nfwd = 0;
	dev->sock = fd;
	dev->rx_fd = fd;
	dev->sock_port = RXE_ROCE_V2_PORT;
	sh->retry_at = UINT64_MAX;
	if (rxe_share_listen(dev))
		sh->retry_at = now + RXE_SHARE_RETRY_NS;
}

/* ---- forwarding (the owner's receive path) ---- */

/**
 * rxe_share_steer() - keep or forward one datagram the owner received
 * @dev: the device, its owner's
 * @buf: the datagram (UDP payload)
 * @len: its length
 * @pkt: its addresses
 *
 * Return: false when the owner processes the packet itself (its own
 * block, the special QPNs, a block nobody holds: dropped and counted as
 * any packet for no QP, after the ICRC check); true when it was queued for
 * a client (sent by rxe_share_fwd_flush(), before @buf is reused).
 */
bool rxe_share_steer(struct rxe_dev *dev, uint8_t *buf, uint32_t len, const struct rxe_pkt *pkt)
{
	struct rxe_share *sh = dev->share;
	struct rxe_share_fwd *f;
	uint32_t qpn, block;
	int h;

	if (len < RXE_BTH_BYTES)
		return false;
	qpn = (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
	block = qpn >> RXE_QPN_BLOCK_SHIFT;
	if (block == sh->block || qpn <= RXE_SHARE_GSI_QPN || qpn == RXE_SHARE_MCAST_QPN)
		return false;
	h = sh->holder[block];
	/* a block nobody holds: the owner's own checks drop it (ICRC first, then no QP) */
	if (h == RXE_SHARE_SELF || h == RXE_SHARE_FREE)
		return false;
	f = &sh->fwd[sh->nfwd++];
	f->conn = (unsigned int)h;
	memset(&f->hdr, 0, sizeof(f->hdr));
	f->hdr.type = RXE_SHARE_PACKET;
	if (dev->family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&pkt->src;
		const struct sockaddr_in *d = (const struct sockaddr_in *)&pkt->dst;

		f->hdr.src_port = s->sin_port;
		memcpy(f->hdr.src, &s->sin_addr, 4);
		memcpy(f->hdr.dst, &d->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&pkt->src;
		const struct sockaddr_in6 *d = (const struct sockaddr_in6 *)&pkt->dst;

		f->hdr.src_port = s->sin6_port;
		memcpy(f->hdr.src, &s->sin6_addr, 16);
		memcpy(f->hdr.dst, &d->sin6_addr, 16);
	}
	f->iov[0].iov_base = &f->hdr;
	f->iov[0].iov_len = sizeof(f->hdr);
	f->iov[1].iov_base = buf;
	f->iov[1].iov_len = len;
	return true;
}

/* Sends @n messages to connection @c; false when the client is gone. */
static bool rxe_share_fwd_send(struct rxe_dev *dev, int fd, struct mmsghdr *msgs, unsigned int n)
{
	uint64_t give_up = 0;
	unsigned int done = 0;

	while (done < n) {
		int ret = sendmmsg(fd, msgs + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (ret > 0) {
			done += ret;
			continue;
		}
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			uint64_t now = sodp_now_ns();

			if (!give_up)
				give_up = now + RXE_SHARE_FWD_WAIT_MS * 1000000ULL;
			if (now < give_up) {
				poll(&p, 1, 1);
				continue;
			}
			sodp_dbg("%s: a client's socket is full; %u packets lost\n", dev->name,
				 n - done);
			return true;
		}
		return false;
	}
	return true;
}

/* Sends the batch's forwarded datagrams, one sendmmsg() run per client. */
void rxe_share_fwd_flush(struct rxe_dev *dev)
{
	struct rxe_share *sh = dev->share;
	struct mmsghdr msgs[RXE_BATCH];
	bool sent[RXE_BATCH] = {false};
	unsigned int i, j, n;

	for (i = 0; i < sh->nfwd; i++) {
		unsigned int conn = sh->fwd[i].conn;

		if (sent[i])
			continue;
		for (j = i, n = 0; j < sh->nfwd; j++) {
			if (sent[j] || sh->fwd[j].conn != conn)
				continue;
			sent[j] = true;
			memset(&msgs[n], 0, sizeof(msgs[n]));
			msgs[n].msg_hdr.msg_iov = sh->fwd[j].iov;
			msgs[n].msg_hdr.msg_iovlen = 2;
			n++;
		}
		if (sh->conns[conn].fd >= 0 &&
		    !rxe_share_fwd_send(dev, sh->conns[conn].fd, msgs, n))
			rxe_share_drop_conn(dev, conn, sodp_now_ns());
	}
	sh->nfwd = 0;
}

/* ---- the client ---- */

/* Connects to the owner and sends a registration for @want; the socket or -errno. */
static int rxe_share_connect(struct rxe_dev *dev, uint32_t want)
{
	struct rxe_share *sh = dev->share;
	struct rxe_share_ctl m = {
		.type = RXE_SHARE_REGISTER, .version = RXE_SHARE_VERSION, .block = want};
	int fd, ret;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sh->name, sh->name_len) ||
	    send(fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Whether @m is the owner's answer to a registration, granting a block. */
static bool rxe_share_granted(const struct rxe_share_ctl *m)
{
	return m->type == RXE_SHARE_ASSIGN && m->version == RXE_SHARE_VERSION &&
	       m->block < RXE_SHARE_BLOCKS && m->owner_block < RXE_SHARE_BLOCKS;
}

static void rxe_share_client_rxring(struct rxe_dev *dev)
{
	struct rxe_share *sh = dev->share;
	int i;

	memset(sh->rxmsgs, 0, sizeof(sh->rxmsgs));
	for (i = 0; i < RXE_BATCH; i++) {
		sh->rxiov[i][0].iov_base = &sh->rxhdr[i];
		sh->rxiov[i][0].iov_len = sizeof(sh->rxhdr[i]);
		sh->rxiov[i][1].iov_base = dev->rxbuf + (size_t)i * RXE_RXBUF;
		sh->rxiov[i][1].iov_len = RXE_RXBUF;
		sh->rxmsgs[i].msg_hdr.msg_iov = sh->rxiov[i];
		sh->rxmsgs[i].msg_hdr.msg_iovlen = 2;
	}
}

/* A client whose owner hung up: nothing arrives until it takes over or re-registers. */
static void rxe_share_lost(struct rxe_dev *dev)
{
	struct rxe_share *sh = dev->share;

	if (sh->conn_fd >= 0)
		close(sh->conn_fd);
	sh->conn_fd = -1;
	dev->rx_fd = -1;
	sh->role = RXE_SHARE_LOST;
	sh->retry_at = 0;
	sodp_dbg("%s: the owner of the address is gone\n", dev->name);
}

/*
 * A client without owner: binds 4791 and becomes the owner, or registers
 * its block with the process that did. Packets the transmit path holds
 * back (impairment) name a socket this may close: they are dropped.
 */
static void rxe_share_rejoin(struct rxe_dev *dev, uint64_t now)
{
	struct rxe_share *sh = dev->share;
	int fd = rxe_net_roce_sock(dev);

	sh->retry_at = now + RXE_SHARE_RETRY_NS;
	dev->held->len = 0;
	if (fd >= 0) {
		sodp_dbg("%s: takes over the address, QPN block %u\n", dev->name, sh->block);
		close(dev->sock);
		rxe_share_become_owner(dev, fd, sh->block, sh->owner_block, now);
		return;
	}
	if (fd != -EADDRINUSE)
		return;
	fd = rxe_share_connect(dev, sh->block);
	if (fd < 0)
		return;
	sh->conn_fd = fd;
	dev->rx_fd = fd;
	sh->role = RXE_SHARE_CLIENT;
	sh->retry_at = UINT64_MAX;
}

/*
 * A client's receive batch: the datagrams the owner forwarded, each behind
 * the addresses it travelled with, and the owner's answer to a
 * re-registration. Returns the number of messages, 0 when none.
 */
int rxe_share_rx_batch(struct rxe_dev *dev)
{
	struct rxe_share *sh = dev->share;
	struct rxe_pkt pkt;
	int i, n;

	if (sh->role != RXE_SHARE_CLIENT)
		return 0;
	n = recvmmsg(sh->conn_fd, sh->rxmsgs, RXE_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			rxe_share_lost(dev);
		return 0;
	}
	for (i = 0; i < n; i++) {
		const struct rxe_share_pkt *h = &sh->rxhdr[i];
		uint32_t len = sh->rxmsgs[i].msg_len;

		if (!len) {
			/* end of stream: the owner closed or died */
			rxe_share_lost(dev);
			return i;
		}
		if (len >= sizeof(struct rxe_share_ctl) && h->type == RXE_SHARE_ASSIGN) {
			struct rxe_share_ctl m;

			memcpy(&m, h, sizeof(m));
			if (rxe_share_granted(&m) && m.block == sh->block) {
				sh->owner_block = m.owner_block;
				continue;
			}
			if (!sh->refused_told)
				sodp_err("%s: the new owner of the address refused QPN block %u\n",
					 dev->name, sh->block);
			sh->refused_told = true;
			rxe_share_lost(dev);
			sh->retry_at = sodp_now_ns() + RXE_SHARE_REFUSED_NS;
			return i;
		}
		if (len < sizeof(*h) || h->type != RXE_SHARE_PACKET)
			continue;
		memset(&pkt.src, 0, sizeof(pkt.src));
		pkt.dst = dev->src4791;
		if (dev->family == AF_INET) {
			struct sockaddr_in *s = (struct sockaddr_in *)&pkt.src;

			s->sin_family = AF_INET;
			s->sin_port = h->src_port;
			memcpy(&s->sin_addr, h->src, 4);
			memcpy(&((struct sockaddr_in *)&pkt.dst)->sin_addr, h->dst, 4);
		} else {
			struct sockaddr_in6 *s = (struct sockaddr_in6 *)&pkt.src;

			s->sin6_family = AF_INET6;
			s->sin6_port = h->src_port;
			memcpy(&s->sin6_addr, h->src, 16);
			memcpy(&((struct sockaddr_in6 *)&pkt.dst)->sin6_addr, h->dst, 16);
		}
		rxe_rx_one(dev, sh->rxiov[i][1].iov_base, SODP_MIN(len - sizeof(*h), RXE_RXBUF),
			   &pkt);
	}
	return n;
}

/* ---- both ---- */

/**
 * rxe_share_tick() - the control side of a shared device, once per round
 * @dev: the device
 *
 * The owner accepts, registers and loses clients when the engine saw its
 * control socket readable, or every RXE_SHARE_POLL_NS for a round that
 * never sleeps; a client without owner takes over or registers again.
 *
 * Return: when it wants to run again regardless of sockets (sodp_now_ns()
 * time), UINT64_MAX for never.
 */
uint64_t rxe_share_tick(struct rxe_dev *dev)
{
	struct rxe_share *sh = dev->share;
	uint64_t now = sodp_now_ns();

	if (sh->role == RXE_SHARE_OWNER && (sh->ctl_ready || now >= sh->poll_at)) {
		sh->ctl_ready = false;
		sh->poll_at = now + RXE_SHARE_POLL_NS;
		rxe_share_owner_ctl(dev, now);
	}
	if (now < sh->retry_at)
		return sh->retry_at;
	if (sh->role == RXE_SHARE_OWNER)
		rxe_share_owner_timed(dev, now);
	else if (sh->role == RXE_SHARE_LOST)
		rxe_share_rejoin(dev, now);
	return sh->retry_at;
}

/* The socket the engine sleeps on besides the receive socket, or -1. */
int rxe_share_ctl_fd(struct rxe_dev *dev)
{
	return dev->share && dev->share->role == RXE_SHARE_OWNER ? dev->share->ep_fd : -1;
}

/* The engine saw rxe_share_ctl_fd() readable. Under dev->lock. */
void rxe_share_ctl_ready(struct rxe_dev *dev)
{
	if (dev->share)
		dev->share->ctl_ready = true;
}

/* A first registration: the owner's answer, within RXE_SHARE_REPLY_MS. */
static int rxe_share_await(struct rxe_dev *dev, int fd)
{
	struct rxe_share *sh = dev->share;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct rxe_share_ctl m;
	ssize_t n;

	if (poll(&p, 1, RXE_SHARE_REPLY_MS) != 1)
		return -ETIMEDOUT;
	n = recv(fd, &m, sizeof(m), MSG_DONTWAIT);
	if (n != sizeof(m) || !rxe_share_granted(&m)) {
		sodp_err("%s: the process that owns the address refused to share it\n", dev->name);
		return -EBUSY;
	}
	sh->block = m.block;
	sh->owner_block = m.owner_block;
	return 0;
}

/**
 * rxe_share_open() - join the processes on @dev's address
 * @dev: the device, whose receive buffers net.c set up
 *
 * Binds 4791 and becomes the owner (QPN block 0), or registers with the
 * owner and becomes a client with the block it gets. Sets dev->sock (the
 * fallback transmit socket), dev->sock_port, dev->rx_fd and dev->qpn_base.
 * While an owner is starting or dying, binding and connecting both fail
 * for a moment: tried RXE_SHARE_JOIN_TRIES times.
 *
 * Return: 0; -EADDRINUSE when 4791 is bound by something that is not a
 * softodp owner; -errno.
 */
int rxe_share_open(struct rxe_dev *dev)
{
	struct rxe_share *sh = calloc(1, sizeof(*sh));
	int tries, fd, ret = -EADDRINUSE;

	if (!sh)
		return -ENOMEM;
	sh->listen_fd = -1;
	sh->conn_fd = -1;
	sh->block = RXE_SHARE_NO_BLOCK;
	sh->owner_block = RXE_SHARE_NO_BLOCK;
	sh->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (sh->ep_fd < 0) {
		ret = -errno;
		free(sh);
		return ret;
	}
	rxe_share_name(dev, sh);
	dev->share = sh;
	for (tries = 0; tries < RXE_SHARE_JOIN_TRIES; tries++) {
		struct timespec nap = {0, RXE_SHARE_JOIN_NAP_MS * 1000000L};

		if (tries)
			nanosleep(&nap, NULL);
		fd = rxe_net_roce_sock(dev);
		if (fd >= 0) {
			rxe_share_become_owner(dev, fd, 0, RXE_SHARE_NO_BLOCK, sodp_now_ns());
			goto out;
		}
		ret = fd;
		if (fd != -EADDRINUSE)
			break;
		fd = rxe_share_connect(dev, RXE_SHARE_NO_BLOCK);
		if (fd < 0)
			continue; /* no owner listens: it is starting or dying */
		ret = rxe_share_await(dev, fd);
		if (ret) {
			close(fd);
			break;
		}
		ret = rxe_net_send_sock(dev, 0);
		if (ret < 0) {
			close(fd);
			break;
		}
		dev->sock = ret;
		dev->sock_port = rxe_net_sock_port(ret);
		dev->rx_fd = fd;
		sh->conn_fd = fd;
		sh->role = RXE_SHARE_CLIENT;
		sh->retry_at = UINT64_MAX;
		goto out;
	}
	if (ret == -EADDRINUSE)
		sodp_err("%s: UDP port %d of the address is taken by a process that does not "
			 "share it\n",
			 dev->name, RXE_ROCE_V2_PORT);
	rxe_share_close(dev);
	return ret;
out:
	rxe_share_client_rxring(dev);
	dev->qpn_base = sh->block << RXE_QPN_BLOCK_SHIFT;
	sodp_dbg("%s: %s of the address, QPN block %u\n", dev->name,
		 sh->role == RXE_SHARE_OWNER ? "owner" : "client", sh->block);
	return 0;
}

/* Leaves the address: a client's owner frees its block; an owner's clients take over. */
void rxe_share_close(struct rxe_dev *dev)
{
	struct rxe_share *sh = dev->share;
	unsigned int i;

	if (!sh)
		return;
	for (i = 0; i < RXE_SHARE_MAX_CONNS; i++)
		if (sh->role == RXE_SHARE_OWNER && sh->conns[i].fd >= 0)
			close(sh->conns[i].fd);
	if (sh->listen_fd >= 0)
		close(sh->listen_fd);
	if (sh->conn_fd >= 0)
		close(sh->conn_fd);
	if (sh->ep_fd >= 0)
		close(sh->ep_fd);
	free(sh);
	dev->share = NULL;
	dev->rx_fd = -1;
}

/* Whether @dev's process owns the address (tests, the stat segment). */
bool rxe_share_is_owner(struct rxe_dev *dev)
{
	return dev->share && dev->share->role == RXE_SHARE_OWNER;
}
