// SPDX-License-Identifier: MIT
/*
 * impair.bpf.c - loss, duplication and reordering of RoCEv2 packets between
 * softodp and the guest's kernel rxe, as a tc (cls_bpf, direct action)
 * program on the clsact hooks of run-interop.sh's network namespace:
 *
 *   egress    on rxetap0 (softodp -> kernel): what leaves towards the guest
 *   ingress   on br-rxe (kernel -> softodp): what the host stack receives
 *
 * Only IPv4 UDP packets to port 4791 are touched; the tools' TCP connection
 * setup and everything else pass. Each RoCE packet, independently, with the
 * rates given at compile time in parts per million:
 *
 *   DROP_PPM      dropped (TC_ACT_SHOT)
 *   DUP_PPM       sent twice: a clone goes out beside it
 *   REORDER_PPM   held back and sent after the next RoCE packet of the same
 *                 direction, so that the two swap places
 *
 * tc has no delay line without netem or fq (neither is built into this
 * kernel), so reordering keeps the held packet's bytes in a map: when the
 * next packet comes, that packet goes first and the held bytes are written
 * into a second copy that follows it. At egress bpf_clone_redirect()
 * transmits at once, so the clone is the next packet and the skb itself is
 * rewritten into the held one; at ingress a clone is queued to the backlog
 * and delivered after the skb, so the held bytes go into the clone. A packet
 * held when no other follows is released by the next case's traffic: to the
 * peer it is a loss and then a stale duplicate.
 *
 * Copies the program sends itself carry IMPAIR_MARK in skb->mark and pass
 * untouched when they come through the hook again.
 *
 * Counters per direction (out_stats for egress, in_stats for ingress),
 * read with `bpftool map dump name out_stats`: seen, dropped, duplicated,
 * held, released.
 *
 * Every drop, duplication, hold and release is also logged in the array
 * `events` (the first EVENTS_MAX of them; `nevents` counts them all), with
 * the time (CLOCK_MONOTONIC), the direction and the packet's BTH opcode,
 * dest QPN and PSN: the captures on the bridge show each packet as its
 * sender sent it, and the log says what the impairment then did to it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#ifndef DROP_PPM
#define DROP_PPM 0
#endif
#ifndef DUP_PPM
#define DUP_PPM 0
#endif
#ifndef REORDER_PPM
#define REORDER_PPM 0
#endif

#define PPM	      1000000U
#define ETH_HLEN      14
#define ETH_P_IP      0x0800
#define IPPROTO_UDP   17
#define ROCE_UDP_PORT 4791
#define IMPAIR_MARK   0x52784530U /* "RxE0" */
/* the largest frame held: Ethernet + IPv4 + UDP + RoCE headers + MTU 4096 */
#define HOLD_MAX 4608U
/* offset of the BTH in a frame (IPv4 without options), and its length */
#define BTH_OFF	   (ETH_HLEN + 20 + 8)
#define BTH_LEN	   12
#define EVENTS_MAX 65536U

enum { ST_SEEN, ST_DROPPED, ST_DUPLICATED, ST_HELD, ST_RELEASED, ST_NR };
enum { SLOT_EMPTY, SLOT_BUSY, SLOT_FULL };
/* what happened to a logged packet; the direction goes beside it */
enum { EV_DROP, EV_DUP, EV_HOLD, EV_RELEASE };
#define EV_INGRESS 0x10

struct impair_event {
	__u64 ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 what; /* EV_* | EV_INGRESS for kernel -> softodp */
	__u32 opcode;
	__u32 dqpn;
	__u32 psn;
};

struct held_pkt {
	__u32 state; /* SLOT_*: changed by compare-and-swap only */
	__u32 len;
	__u8 data[HOLD_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ST_NR);
	__type(key, __u32);
	__type(value, __u64);
} out_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ST_NR);
	__type(key, __u32);
	__type(value, __u64);
} in_stats SEC(".maps");

/* one held packet per direction: key 0 egress, 1 ingress */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct held_pkt);
} held SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EVENTS_MAX);
	__type(key, __u32);
	__type(value, struct impair_event);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} nevents SEC(".maps");

/* ingress: the current packet's bytes while the skb carries the held one */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct held_pkt);
} scratch SEC(".maps");

static __always_inline void count(void *stats, __u32 what)
{
	__u64 *v = bpf_map_lookup_elem(stats, &what);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* Logs @what done to the packet whose BTH is @bth. */
static __always_inline void log_event(__u32 what, const __u8 *bth)
{
	__u32 zero = 0, i;
	__u64 *n = bpf_map_lookup_elem(&nevents, &zero);
	struct impair_event *e;

	if (!n)
		return;
	i = (__u32)__sync_fetch_and_add(n, 1);
	e = bpf_map_lookup_elem(&events, &i);
	if (!e)
		return;
	e->ns = bpf_ktime_get_ns();
	e->what = what;
	e->opcode = bth[0];
	e->dqpn = (__u32)bth[5] << 16 | (__u32)bth[6] << 8 | bth[7];
	e->psn = (__u32)bth[9] << 16 | (__u32)bth[10] << 8 | bth[11];
}

/* Whether @skb is a RoCEv2 packet; if so its BTH is copied to @bth. */
static __always_inline int is_roce(struct __sk_buff *skb, __u8 *bth)
{
	__u8 hdr[BTH_OFF + BTH_LEN];
	__u16 proto, dport;

	if (bpf_skb_load_bytes(skb, 0, hdr, sizeof(hdr)))
		return 0;
	proto = (__u16)(hdr[12] << 8 | hdr[13]);
	if (proto != ETH_P_IP || hdr[ETH_HLEN] != 0x45 || hdr[ETH_HLEN + 9] != IPPROTO_UDP)
		return 0;
	dport = (__u16)(hdr[ETH_HLEN + 20 + 2] << 8 | hdr[ETH_HLEN + 20 + 3]);
	if (dport != ROCE_UDP_PORT)
		return 0;
	__builtin_memcpy(bth, hdr + BTH_OFF, BTH_LEN);
	return 1;
}

/* Copies the whole frame of @skb into @p; 0, or -1 if it does not fit. */
static __always_inline int save(struct __sk_buff *skb, struct held_pkt *p)
{
	__u32 len = skb->len;

	if (len < ETH_HLEN || len > HOLD_MAX)
		return -1;
	if (bpf_skb_load_bytes(skb, 0, p->data, len))
		return -1;
	p->len = len;
	return 0;
}

/* Makes @skb's frame the one saved in @p; 0 or -1. */
static __always_inline int restore(struct __sk_buff *skb, struct held_pkt *p)
{
	__u32 len = p->len;

	if (len < ETH_HLEN || len > HOLD_MAX)
		return -1;
	if (bpf_skb_change_tail(skb, len, 0))
		return -1;
	if (bpf_skb_store_bytes(skb, 0, p->data, len, BPF_F_RECOMPUTE_CSUM))
		return -1;
	return 0;
}

/* Sends a marked clone of @skb out of the hook's device, or into its stack. */
static __always_inline long clone_out(struct __sk_buff *skb, int ingress)
{
	long err;

	skb->mark = IMPAIR_MARK;
	err = bpf_clone_redirect(skb, skb->ifindex, ingress ? BPF_F_INGRESS : 0);
	skb->mark = 0;
	return err;
}

/*
 * Releases the packet held in @h, which swaps places with @skb: at egress the
 * clone (@skb's own bytes) leaves now and @skb becomes the held packet; at
 * ingress @skb passes now and a clone carrying the held bytes follows it.
 */
static __always_inline int release(struct __sk_buff *skb, struct held_pkt *h, int ingress)
{
	__u32 zero = 0;
	struct held_pkt *cur;

	if (!ingress) {
		if (clone_out(skb, 0) || restore(skb, h))
			return -1;
		return 0;
	}
	cur = bpf_map_lookup_elem(&scratch, &zero);
	if (!cur || save(skb, cur) || restore(skb, h))
		return -1;
	if (clone_out(skb, 1))
		return -1;
	return restore(skb, cur);
}

static __always_inline int impair(struct __sk_buff *skb, int ingress)
{
	void *stats = ingress ? (void *)&in_stats : (void *)&out_stats;
	__u32 key = ingress ? 1 : 0;
	__u32 dir = ingress ? EV_INGRESS : 0;
	__u8 bth[BTH_LEN];
	struct held_pkt *h;
	__u32 r;

	if (skb->mark == IMPAIR_MARK) {
		skb->mark = 0;
		return TC_ACT_OK;
	}
	if (!is_roce(skb, bth))
		return TC_ACT_OK;
	count(stats, ST_SEEN);
	r = bpf_get_prandom_u32() % PPM;
	if (r < DROP_PPM) {
		count(stats, ST_DROPPED);
		log_event(dir | EV_DROP, bth);
		return TC_ACT_SHOT;
	}
	r -= DROP_PPM;
	if (r < DUP_PPM) {
		if (!clone_out(skb, ingress)) {
			count(stats, ST_DUPLICATED);
			log_event(dir | EV_DUP, bth);
		}
		return TC_ACT_OK;
	}
	r -= DUP_PPM;
	h = bpf_map_lookup_elem(&held, &key);
	if (!h)
		return TC_ACT_OK;
	if (__sync_val_compare_and_swap(&h->state, SLOT_FULL, SLOT_BUSY) == SLOT_FULL) {
		/* a failed swap leaves @skb as it came or as the held packet */
		if (!release(skb, h, ingress)) {
			count(stats, ST_RELEASED);
			log_event(dir | EV_RELEASE, h->data + BTH_OFF);
		}
		h->state = SLOT_EMPTY;
		return TC_ACT_OK;
	}
	if (r < REORDER_PPM &&
	    __sync_val_compare_and_swap(&h->state, SLOT_EMPTY, SLOT_BUSY) == SLOT_EMPTY) {
		if (save(skb, h)) {
			h->state = SLOT_EMPTY;
			return TC_ACT_OK;
		}
		h->state = SLOT_FULL;
		count(stats, ST_HELD);
		log_event(dir | EV_HOLD, bth);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

SEC("egress")
int impair_egress(struct __sk_buff *skb)
{
	return impair(skb, 0);
}

SEC("ingress")
int impair_ingress(struct __sk_buff *skb)
{
	return impair(skb, 1);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
