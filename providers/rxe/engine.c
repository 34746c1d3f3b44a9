// SPDX-License-Identifier: MIT
/*
 * The progress engine: the rounds that move a device's packets, run on the
 * application's threads when they wait for the device and on one background
 * thread per device address in the process for the rest.
 *
 * A round (rxe_round()) takes dev->lock, receives and dispatches a batch of
 * packets (responder / completer), runs the timers, lets every QP's
 * responder drain its response queue and every requester turn posted WQEs
 * into packets, and flushes the transmit batch with one sendmmsg().
 *
 * Caller-driven progress: a thread that posts work (post_send, the ibv_wr_*
 * batch) or polls an empty CQ runs a round itself when it can take
 * dev->lock without waiting (rxe_progress()), so that on a machine with
 * fewer cores than busy threads the packets of an application that polls
 * move on the application's own time slice, with no wake-up in the path.
 * It never waits for the lock: if another thread runs a round, that round
 * or the background thread does the work (the doorbell generation makes a
 * running round look again).
 *
 * The background thread is there for the progress no caller drives: an
 * application blocked on a completion channel or spinning on memory, a
 * process that only responds, the timers. When a round did nothing it
 * sleeps in ppoll() on the socket and an eventfd doorbell, with the
 * nearest timer armed on a timerfd, so an idle device costs no CPU. A
 * caller's round that leaves work behind rings the doorbell; one that
 * starts a timer arms the timerfd (rxe_timer_arm()). While a caller polls
 * it leaves the socket to that caller (RXE_CALLER_GRACE_NS), and a packet
 * that wakes it then does not make it take dev->lock.
 *
 * In a ping-pong the ACK of a request waits for the application's answer
 * and leaves right behind it (resp.c, rxe_resp_hold_ack()): the peer,
 * polling for that ACK, receives the answer in the same round, and no
 * thread sleeps on either side.
 *
 * The doorbell protocol (no lost wake-ups without a lock on the post path):
 * the engine stores sleeping = 1, then re-checks the doorbell generation;
 * post_send bumps the generation, then reads `sleeping` and writes the
 * eventfd only if the engine may be asleep. Both sides use sequentially
 * consistent accesses, so at least one of them sees the other.
 *
 * While it has work the engine goes from one round to the next without
 * sleeping, and re-takes dev->lock as soon as it drops it; a pthread mutex
 * gives no waiter a turn, so a thread in rxe_dev_lock() raises
 * dev->lock_waiters and the engine, at the top of every round, releases the
 * lock and yields until no waiter is left, i.e. until each has taken it.
 * A round is bounded (a batch of receives, and per QP a budget of responses
 * and of requests), so however long a message a QP streams, a control verb
 * waits at most one round for the device, and every QP gets its turn.
 *
 * SOFTODP_IMPAIR="drop=N%,dup=N%,reorder=N%,seed=S" (parsed by the front,
 * lib/verbs/config.c) impairs transmitted packets, deterministically for a
 * given seed (tests of the loss paths).
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/random.h>
#include <sys/uio.h>

#include "rxe.h"
#include "log.h"

pthread_mutex_t rxe_devs_lock = PTHREAD_MUTEX_INITIALIZER;
struct list_head rxe_devs = LIST_HEAD_INIT(rxe_devs);

/*
 * rxe_random_u32 - an unpredictable 32-bit number, for what a blind peer
 * must not guess (the key bits of an MR, the QPN of a new QP). From the
 * kernel's CSPRNG (getrandom(2)); should that fail, from a generator seeded
 * with the clock, which is predictable and says so once.
 */
uint32_t rxe_random_u32(void)
{
	static uint64_t fallback;
	static bool warned;
	uint32_t v;
	ssize_t n;

	do {
		n = getrandom(&v, sizeof(v), 0);
	} while (n < 0 && errno == EINTR);
	if (n == sizeof(v))
		return v;
	if (!__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED))
		sodp_warn("rxe: getrandom: %s; keys and QPNs are predictable\n", strerror(errno));
	v = (uint32_t)__atomic_add_fetch(&fallback, sodp_now_ns() | 1, __ATOMIC_RELAXED);
	return v * 2654435761u;
}

void rxe_doorbell(struct rxe_dev *dev)
{
	uint64_t one = 1;

	__atomic_add_fetch(&dev->req_gen, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&dev->sleeping, __ATOMIC_SEQ_CST)) {
		__atomic_add_fetch(&dev->doorbell_writes, 1, __ATOMIC_RELAXED);
		if (write(dev->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			sodp_warn("%s: doorbell: %s\n", dev->name, strerror(errno));
	}
}

/* ---- impairment ---- */

static uint64_t rxe_rand(struct sodp_impair *im)
{
	/* xorshift64*: deterministic for a given seed */
	im->seed ^= im->seed >> 12;
	im->seed ^= im->seed << 25;
	im->seed ^= im->seed >> 27;
	return im->seed * 2685821657736338717ULL;
}

/* For tests: change the impairment of a running device (NULL turns it off). */
int rxe_dev_set_impair(struct rxe_dev *dev, const char *spec)
{
	struct sodp_impair im;
	int ret = sodp_parse_impair(spec, &im);

	if (ret)
		return ret;
	rxe_dev_lock(dev);
	dev->impair = im;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/*
 * Decides the fate of one outgoing packet. Returns false to drop it; *dup
 * asks for a second copy. Reordering is done by net.c holding a packet back.
 */
bool rxe_impair_tx(struct rxe_dev *dev, bool *dup)
{
	struct sodp_impair *im = &dev->impair;

	*dup = false;
	if (!im->on)
		return true;
	if (im->drop && rxe_rand(im) % 100 < im->drop) {
		dev->impair_drop++;
		return false;
	}
	if (im->dup && rxe_rand(im) % 100 < im->dup)
		*dup = true;
	return true;
}

bool rxe_impair_reorder(struct rxe_dev *dev)
{
	struct sodp_impair *im = &dev->impair;

	return im->on && im->reorder && rxe_rand(im) % 100 < im->reorder;
}

/* ---- the thread ---- */

/**
 * rxe_dev_lock() - take dev->lock ahead of a busy engine
 * @dev: the device
 *
 * For every thread but the engine's: control verbs, counters, the fork
 * prepare handler and device stop must get the lock within bounded time
 * even while the engine has work every round.
 * The waiter count is raised before blocking and dropped once the lock is
 * held; rxe_engine_step_aside() waits for it to reach zero with the lock
 * released.
 */
void rxe_dev_lock(struct rxe_dev *dev)
{
	__atomic_add_fetch(&dev->lock_waiters, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&dev->lock);
	__atomic_sub_fetch(&dev->lock_waiters, 1, __ATOMIC_SEQ_CST);
}

/* The engine, holding dev->lock: let every rxe_dev_lock() waiter have it. */
static void rxe_engine_step_aside(struct rxe_dev *dev)
{
	if (!__atomic_load_n(&dev->lock_waiters, __ATOMIC_SEQ_CST))
		return;
	pthread_mutex_unlock(&dev->lock);
	while (__atomic_load_n(&dev->lock_waiters, __ATOMIC_SEQ_CST))
		sched_yield();
	pthread_mutex_lock(&dev->lock);
}

static uint64_t rxe_next_deadline(struct rxe_dev *dev)
{
	uint64_t next = UINT64_MAX;
	struct rxe_qp *qp;

	list_for_each_entry (qp, &dev->qps, node) {
		if (qp->comp.deadline && qp->comp.deadline < next)
			next = qp->comp.deadline;
		if (qp->req.rnr_wait && qp->req.rnr_until < next)
			next = qp->req.rnr_until;
		if (qp->resp.ack_timer && qp->resp.ack_held_ns + dev->ack_hold_ns < next)
			next = qp->resp.ack_held_ns + dev->ack_hold_ns;
	}
	return next;
}

/*
 * Runs @qp's requester; an ACK that waited for the request it started
 * follows it in the transmit batch (resp.c). Whether it sent anything.
 */
static bool rxe_request(struct rxe_qp *qp, uint64_t now)
{
	bool sent = rxe_requester(qp, now);

	if (qp->resp.ack_release)
		sent |= rxe_resp_send_queued(qp);
	return sent;
}

/*
 * One round. Returns whether it did anything (received, completed, sent);
 * *more says whether work may be left that no event announces: a budget
 * ran out. Unread packets need no other round: the socket stays readable.
 */
static bool rxe_round(struct rxe_dev *dev, uint64_t *deadline, bool *more)
{
	uint64_t now, share_at = UINT64_MAX;
	bool did = false;
	struct rxe_qp *qp;
	int i, n;

	*more = false;
	if (dev->share)
		share_at = rxe_share_tick(dev);
	for (i = 0; i < RXE_RX_BATCHES_PER_ROUND; i++) {
		n = rxe_rx_batch(dev);
		if (n > 0)
			did = true;
		/* a batch not filled emptied the socket */
		if (n < RXE_BATCH)
			break;
	}
	/* completions of this round before requests: rxe_kick() */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	now = sodp_now_ns();
	/* each QP in turn is the first to take from the device's window */
	if (!list_empty(&dev->qps)) {
		struct list_head *first = dev->qps.next;

		list_del_init(first);
		list_add_tail(first, &dev->qps);
	}
	rxe_req_window(dev);
	list_for_each_entry (qp, &dev->qps, node) {
		rxe_comp_timer(qp, now);
		if (rxe_resp_send_queued(qp))
			*more = true;
		if (rxe_request(qp, now))
			*more = true;
	}
	rxe_tx_flush(dev);
	*deadline = SODP_MIN(rxe_next_deadline(dev), share_at);
	return did || *more;
}

/*
 * Arms the retransmission and RNR timer for @at (sodp_now_ns() time) if that
 * is earlier than it is armed for, or disarms it for UINT64_MAX once it
 * has fired. A timerfd the background thread sleeps on, so that a caller
 * whose round started a timer makes one system call instead of waking the
 * thread; a timer that fires for a deadline since moved later costs one
 * spurious round. Under dev->lock.
 */
void rxe_timer_arm(struct rxe_dev *dev, uint64_t at)
{
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (at >= dev->timer_at)
		return;
	its.it_value.tv_sec = at / 1000000000ULL;
	its.it_value.tv_nsec = at % 1000000000ULL;
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(dev->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		sodp_warn("%s: timer: %s\n", dev->name, strerror(errno));
	dev->timer_at = at;
}

/*
 * Disarms the timer; the round that follows arms it again for what is
 * due (every caller's and the engine's rounds end with rxe_timer_arm()).
 */
void rxe_timer_disarm(struct rxe_dev *dev)
{
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (timerfd_settime(dev->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		sodp_warn("%s: timer: %s\n", dev->name, strerror(errno));
	dev->timer_at = UINT64_MAX;
}

/*
 * How long after a caller last drove the engine the background thread
 * leaves the socket to callers: it sleeps on the doorbell and the timers
 * only, so that packets arriving for an application that polls wake
 * nobody. Past it, or once a caller went idle (rxe_progress_idle()), the
 * thread watches the socket again. With perftest on two vCPUs, 20 us of
 * grace took ib_write_bw -s 65536 from 731 to 1221 MB/s and ib_send_lat
 * from 9.0 to 6.6 us, 200 us to 1279 MB/s and 6.0 us.
 *
 * Each time the thread wakes from such a sleep to find the caller still
 * polling, it sleeps twice as long, up to RXE_CALLER_GRACE_MAX_NS: every
 * wake-up takes a CPU from a spinning application thread. In
 * ib_write_lat -s 8 with ACKs waiting for posts (resp.c), a wake-up every
 * 50 us left t_typical at 7.7-33 us, every 200 us at 5.2-5.7 us, every
 * 1 ms at 4.8-5.0 us (4 runs each, plain UDP one-way 1.7 us).
 */
#define RXE_CALLER_GRACE_NS	50000
#define RXE_CALLER_GRACE_MAX_NS 1000000

/**
 * rxe_progress() - run the engine on the calling thread if it is free
 * @dev: the device
 * @waiting: the caller polls for a completion and will poll again: it
 *	keeps the background thread off the socket (RXE_CALLER_GRACE_NS)
 *
 * For the data-path verbs: never waits for dev->lock, and gives way to a
 * control verb waiting for it. Runs rounds while they find work, at most
 * RXE_CALLER_ROUNDS; work left after that wakes the background thread, a
 * timer the rounds started arms its timerfd.
 *
 * Return: for a poll, whether a round did something (a CQ may have a new
 * entry); for a post, whether its work was done here.
 */
bool rxe_progress(struct rxe_dev *dev, bool waiting)
{
	uint64_t deadline = UINT64_MAX;
	bool did = false, busy = true;
	int i;

	if (!__atomic_load_n(&dev->thread_started, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&dev->lock_waiters, __ATOMIC_RELAXED) ||
	    pthread_mutex_trylock(&dev->lock))
		return false;
	if (waiting) {
		__atomic_store_n(&dev->caller_ns, sodp_now_ns(), __ATOMIC_RELAXED);
	} else {
		/* a post: its packets leave before the socket is read */
		uint64_t now = sodp_now_ns();
		struct rxe_qp *qp;

		rxe_req_window(dev);
		list_for_each_entry (qp, &dev->qps, node)
			rxe_request(qp, now);
		rxe_tx_flush(dev);
		did = true;
	}
	dev->caller_round = waiting;
	for (i = 0; i < RXE_CALLER_ROUNDS && busy && !dev->stop; i++)
		did |= rxe_round(dev, &deadline, &busy);
	dev->caller_round = false;
	rxe_timer_arm(dev, deadline);
	/* packets a full socket refused: the engine waits for it to drain */
	if (rxe_tx_wait_fd(dev) >= 0)
		busy = true;
	pthread_mutex_unlock(&dev->lock);
	if (busy)
		rxe_doorbell(dev);
	return did;
}

/**
 * rxe_kick() - a data-path verb handed the device work
 * @qp: the QP whose send queue it posted to
 * @prod: the send queue's producer index before the post
 *
 * Work posted to an idle send queue is done on the caller's thread when
 * the engine is free, else the engine is made to look (the generation bump
 * reaches a round in progress too). Work queued behind work in flight
 * waits for whatever moves that work: the caller's next poll, the
 * response that wakes the engine, or the engine's next round, at most
 * RXE_CALLER_GRACE_MAX_NS away when it sleeps for a polling caller. So a
 * stream of small posts leaves in batches, not one system call each.
 *
 * Whether the queue is idle is read after the post is published and the
 * generation bumped, against rxe_round()'s fence between completing and
 * requesting: either that round's requester sees the new work, or this
 * reads the completion that emptied the queue and kicks. Read before the
 * post, a completion racing with it left the work behind with nobody to
 * move it.
 */
void rxe_kick(struct rxe_qp *qp, uint32_t prod)
{
	struct rxe_dev *dev = qp->dev;

	__atomic_add_fetch(&dev->req_gen, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&qp->sq.cons, __ATOMIC_SEQ_CST) != prod)
		return;
	if (!rxe_progress(dev, false))
		rxe_doorbell(dev);
}

/*
 * The application stops driving the engine: it is about to block for a
 * completion (it armed a CQ), or it took the completion of the last work
 * request it had posted on a send queue and will wait for what no CQ shows
 * (a peer's RDMA WRITE into memory it spins on). The background thread
 * takes over the socket at once.
 */
void rxe_progress_idle(struct rxe_dev *dev)
{
	__atomic_store_n(&dev->caller_ns, 0, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&dev->engine_blind, __ATOMIC_SEQ_CST))
		rxe_doorbell(dev);
}

/*
 * The application took the completion of the last work request of a send
 * queue. If the peer's next request came with it (an ACK waits for a post,
 * resp.c), the application has what it waits for and answers it next: the
 * socket stays with it. Otherwise it goes idle.
 */
void rxe_progress_sq_idle(struct rxe_dev *dev)
{
	if (!__atomic_load_n(&dev->acks_held, __ATOMIC_RELAXED))
		rxe_progress_idle(dev);
}

/*
 * Whether a caller polls and will take what the socket has: then the
 * background thread, woken by a packet, sleeps again without touching
 * dev->lock, where it would only stand in the caller's way (and take a
 * request whose ACK the caller's round would have held for its post).
 */
static bool rxe_caller_polls(struct rxe_dev *dev)
{
	uint64_t caller = __atomic_load_n(&dev->caller_ns, __ATOMIC_SEQ_CST);

	return caller && sodp_now_ns() - caller < RXE_CALLER_GRACE_NS;
}

static void *rxe_engine_thread(void *arg)
{
	struct rxe_dev *dev = arg;
	uint64_t grace = RXE_CALLER_GRACE_NS;
	uint32_t gen = 0;

	pthread_mutex_lock(&dev->lock);
	while (!dev->stop) {
		uint64_t deadline, now, caller, v;
		struct pollfd pfd[5];
		struct timespec ts, *tsp;
		bool blind, more;
		int ctl_fd, rx_fd, txfd, npfd, n;
		uint32_t g;

		rxe_engine_step_aside(dev);
		rxe_round(dev, &deadline, &more);
		if (more)
			continue;
		g = __atomic_load_n(&dev->req_gen, __ATOMIC_SEQ_CST);
		if (g != gen) {
			gen = g;
			continue;
		}
		__atomic_store_n(&dev->sleeping, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&dev->req_gen, __ATOMIC_SEQ_CST) != gen) {
			__atomic_store_n(&dev->sleeping, 0, __ATOMIC_SEQ_CST);
			continue;
		}
		rxe_timer_arm(dev, deadline);
		ctl_fd = rxe_share_ctl_fd(dev);
		rx_fd = dev->rx_fd;
		txfd = rxe_tx_wait_fd(dev);
		__atomic_store_n(&dev->engine_timed, 0, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&dev->lock);

		do {
			/* a caller polls: leave the socket to it until the grace ends */
			now = sodp_now_ns();
			caller = __atomic_load_n(&dev->caller_ns, __ATOMIC_RELAXED);
			blind = now - caller < RXE_CALLER_GRACE_NS;
			__atomic_store_n(&dev->engine_blind, blind, __ATOMIC_SEQ_CST);
			if (blind && !__atomic_load_n(&dev->caller_ns, __ATOMIC_SEQ_CST))
				blind = false;
			tsp = NULL;
			if (blind) {
				uint64_t d = caller + grace - now;

				ts.tv_sec = d / 1000000000ULL;
				ts.tv_nsec = d % 1000000000ULL;
				tsp = &ts;
				grace = SODP_MIN(2 * grace, (uint64_t)RXE_CALLER_GRACE_MAX_NS);
				__atomic_store_n(&dev->engine_timed, 1, __ATOMIC_SEQ_CST);
			} else {
				grace = RXE_CALLER_GRACE_NS;
			}
			/* the sharing control socket wakes it even while blind: it is no data */
			npfd = 0;
			pfd[npfd++] = (struct pollfd){.fd = dev->efd, .events = POLLIN};
			pfd[npfd++] = (struct pollfd){.fd = dev->tfd, .events = POLLIN};
			pfd[npfd++] = (struct pollfd){.fd = ctl_fd, .events = POLLIN};
			if (!blind)
				pfd[npfd++] = (struct pollfd){.fd = rx_fd, .events = POLLIN};
			/* packets a full socket refused: go on once it has room */
			if (txfd >= 0)
				pfd[npfd++] = (struct pollfd){.fd = txfd, .events = POLLOUT};
			n = ppoll(pfd, npfd, tsp, NULL);
			if (n > 0 && (pfd[0].revents & POLLIN) &&
			    read(dev->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				sodp_warn("%s: doorbell read: %s\n", dev->name, strerror(errno));
		} while (n == 1 && !blind && pfd[3].revents && rxe_caller_polls(dev));
		__atomic_store_n(&dev->sleeping, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&dev->engine_blind, 0, __ATOMIC_RELAXED);
		pthread_mutex_lock(&dev->lock);
		/* under the lock: a caller may have armed it again meanwhile */
		if ((pfd[1].revents & POLLIN) && read(dev->tfd, &v, sizeof(v)) == sizeof(v))
			dev->timer_at = UINT64_MAX;
		if (pfd[2].revents)
			rxe_share_ctl_ready(dev);
	}
	pthread_mutex_unlock(&dev->lock);
	return NULL;
}

/* ---- device lifetime ---- */

static enum ibv_mtu rxe_mtu_of(unsigned int if_mtu)
{
	int room = (int)if_mtu - RXE_MAX_HDR_LENGTH;

	if (room >= 4096 || if_mtu == 0)
		return IBV_MTU_4096;
	if (room >= 2048)
		return IBV_MTU_2048;
	if (room >= 1024)
		return IBV_MTU_1024;
	if (room >= 512)
		return IBV_MTU_512;
	return IBV_MTU_256;
}

static void rxe_dev_free(struct rxe_dev *dev)
{
	rxe_net_close(dev);
	if (dev->efd >= 0)
		close(dev->efd);
	if (dev->tfd >= 0)
		close(dev->tfd);
	rxe_mr_table_fini(dev);
	free(dev->tx);
	free(dev->held);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

static int rxe_dev_create(const struct sodp_dev_config *cfg, struct rxe_dev **out)
{
	struct rxe_dev *dev;
	int ret;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->sock = -1;
	dev->rx_fd = -1;
	dev->efd = -1;
	dev->tfd = -1;
	dev->timer_at = UINT64_MAX;
	dev->ack_hold_ns = RXE_ACK_HOLD_NS;
	dev->refcnt = 1;
	snprintf(dev->name, sizeof(dev->name), "%s", cfg->name);
	dev->addr = cfg->addr;
	dev->family = cfg->addr.ss_family;
	dev->addr_len =
		dev->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	dev->if_mtu = cfg->if_mtu;
	dev->active_mtu = rxe_mtu_of(cfg->if_mtu);
	list_init(&dev->qps);
	list_init(&dev->cqs);
	list_init(&dev->srqs);
	pthread_mutex_init(&dev->lock, NULL);

	dev->icrc_policy = cfg->icrc == SODP_ICRC_STRICT ? RXE_ICRC_STRICT
			   : cfg->icrc == SODP_ICRC_OFF	 ? RXE_ICRC_SKIP
							 : RXE_ICRC_RECOVER_ID;
	dev->impair = cfg->impair;
	dev->report_stats = cfg->report_stats;

	dev->tx = calloc(RXE_BATCH, sizeof(*dev->tx));
	dev->held = calloc(1, sizeof(*dev->held));
	ret = -ENOMEM;
	if (!dev->tx || !dev->held)
		goto err;
	ret = rxe_mr_table_init(dev);
	if (ret)
		goto err;
	dev->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	dev->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (dev->efd < 0 || dev->tfd < 0) {
		ret = -errno;
		goto err;
	}
	*out = dev;
	return 0;
err:
	rxe_dev_free(dev);
	return ret;
}

/*
 * Binds the device's UDP port and starts its engine thread, once, when the
 * first QP needs them. Opening a device does neither, so that ibv_devinfo
 * and friends work while another process serves RoCE on the same address,
 * as they do with a kernel device. A device inherited through fork never
 * starts: -EIO, as a disassociated kernel device answers (fork.c).
 */
int rxe_dev_start(struct rxe_dev *dev)
{
	int ret = 0;

	pthread_mutex_lock(&rxe_devs_lock);
	if (dev->thread_started)
		goto out;
	ret = -EIO;
	if (dev->orphan)
		goto out;
	ret = rxe_net_open(dev);
	if (ret)
		goto out;
	ret = -pthread_create(&dev->thread, NULL, rxe_engine_thread, dev);
	if (ret) {
		rxe_net_close(dev);
		goto out;
	}
	__atomic_store_n(&dev->thread_started, true, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&rxe_devs_lock);
	return ret;
}

int rxe_dev_get(struct sodp_context *ctx, struct rxe_dev **out)
{
	struct rxe_dev *dev;
	int ret = 0;

	/* not under rxe_devs_lock: fork() holds libc's atfork lock while prepare
	 * takes rxe_devs_lock, and pthread_atfork() takes that lock too */
	rxe_fork_install();
	pthread_mutex_lock(&rxe_devs_lock);
	list_for_each_entry (dev, &rxe_devs, node) {
		if (sodp_same_ip((struct sockaddr *)&dev->addr,
				 (const struct sockaddr *)&ctx->cfg->addr)) {
			dev->refcnt++;
			*out = dev;
			goto out;
		}
	}
	ret = rxe_dev_create(ctx->cfg, &dev);
	if (!ret) {
		list_add_tail(&dev->node, &rxe_devs);
		*out = dev;
	}
out:
	pthread_mutex_unlock(&rxe_devs_lock);
	return ret;
}

static void rxe_dev_stop(struct rxe_dev *dev)
{
	if (!dev->thread_started)
		return;
	rxe_dev_lock(dev);
	dev->stop = true;
	pthread_mutex_unlock(&dev->lock);
	rxe_doorbell(dev);
	{
		uint64_t one = 1;

		if (write(dev->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			sodp_warn("%s: stop: %s\n", dev->name, strerror(errno));
	}
	pthread_join(dev->thread, NULL);
	__atomic_store_n(&dev->thread_started, false, __ATOMIC_RELEASE);
}

void rxe_dev_put(struct rxe_dev *dev)
{
	pthread_mutex_lock(&rxe_devs_lock);
	if (--dev->refcnt) {
		pthread_mutex_unlock(&rxe_devs_lock);
		return;
	}
	list_del_init(&dev->node);
	pthread_mutex_unlock(&rxe_devs_lock);
	rxe_dev_stop(dev);
	rxe_dev_report_counters(dev);
	rxe_dev_free(dev);
}

/* At exit, stop the engines so that no thread touches memory being torn down. */
__attribute__((destructor)) static void rxe_engine_exit(void)
{
	struct rxe_dev *dev;

	if (pthread_mutex_trylock(&rxe_devs_lock))
		return;
	list_for_each_entry (dev, &rxe_devs, node)
		rxe_dev_stop(dev);
	pthread_mutex_unlock(&rxe_devs_lock);
}

int rxe_ctx_open(struct sodp_context *ctx)
{
	struct rxe_ctx *rctx = calloc(1, sizeof(*rctx));
	int ret;

	if (!rctx)
		return -ENOMEM;
	ret = rxe_dev_get(ctx, &rctx->dev);
	if (ret) {
		free(rctx);
		return ret;
	}
	ctx->priv = rctx;
	return 0;
}

void rxe_ctx_close(struct sodp_context *ctx)
{
	struct rxe_ctx *rctx = ctx->priv;

	if (!rctx)
		return;
	rxe_dev_put(rctx->dev);
	free(rctx);
	ctx->priv = NULL;
}
