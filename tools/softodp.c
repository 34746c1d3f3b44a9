// SPDX-License-Identifier: MIT
/*
 * softodp: the command-line view of softodp on this host.
 *
 *   softodp stat [-p PID] [--json] [-w [SECS]]
 *
 * `stat` reads the stat segment every process with a softodp device open
 * publishes (providers/stat_rec.h) and shows its devices, QPs, MRs and
 * counters. Reading takes no lock of the process and never stops it: a
 * record copied while the process rewrote it is copied again. A segment
 * whose process is gone (or whose PID now names a process started later)
 * is stale, and stat removes it.
 *
 * Exit status: 0; 1 when -p names a process that publishes no segment;
 * 2 for a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <infiniband/verbs.h>

#include "stat_rec.h"

#define READ_TRIES	1000 /* torn reads of one record before giving up */
#define DEFAULT_WATCH_S 2.0
#define MAX_SEGMENTS	1024
#define CLEAR_SCREEN	"\033[H\033[2J"

struct opts {
	long pid; /* 0: every process */
	bool json;
	bool watch;
	double interval;
};

static const char *const drop_names[SODP_STAT_NR_DROPS] = {
	"malformed",
	"address_family",
	"icrc",
	"no_qp",
	"transport",
	"qp_state",
	"source_address",
	"destination_address",
	"p_key",
	"q_key",
	"unsolicited_response",
};
static const char *const event_names[SODP_STAT_NR_EVENTS] = {"unmap", "clear", "protection", "fork",
							     "release"};
static const char *const order_names[SODP_STAT_NR_ORDERS] = {"4k", "2m", "1g"};
static const char *const kind_names[] = {"pinned", "odp", "implicit"};

static void usage(FILE *f)
{
	fprintf(f, "usage: softodp stat [-p PID] [--json] [-w [SECS]]\n"
		   "       softodp --help\n"
		   "\n"
		   "stat: every process on this host with a softodp device open: its devices,\n"
		   "QPs (state, PSNs), MRs (kind, MTT entries by order) and counters.\n"
		   "  -p, --pid PID    only process PID (exit 1 if it has no softodp device open)\n"
		   "  -j, --json       JSON instead of text\n"
		   "  -w, --watch [SECS]  show again every SECS seconds (default 2), as watch(1)\n"
		   "  -h, --help       this text\n");
}

/* ---- reading a segment ---- */

/*
 * Copies the @words words after @seq into @dst, as a reader (stat_rec.h):
 * true once a copy was made with the same even count before and after it.
 */
static bool read_record(const uint64_t *seq, uint64_t *dst, size_t words)
{
	const uint64_t *src = seq + 1;

	for (int tries = 0; tries < READ_TRIES; tries++) {
		uint64_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE), s2;

		if (!(s1 & 1)) {
			for (size_t i = 0; i < words; i++)
				dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
			if (s1 == s2)
				return true;
		}
		usleep(100); /* the publisher is writing this record */
	}
	return false;
}

/* The start time of process @pid (field 22 of /proc/PID/stat): 0, or -1 if it is gone. */
static int proc_start_time(long pid, uint64_t *t)
{
	char path[64], buf[1024], *p;
	unsigned long long v;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	if (sscanf(p, "%llu", &v) != 1)
		return -1;
	*t = v;
	return 0;
}

struct snapshot {
	long pid;
	uint64_t uid;
	char comm[SODP_STAT_COMM_LEN + 1];
	struct sodp_stat_seg hdr; /* up to devs */
	unsigned int nr_devs;
	struct sodp_stat_dev devs[SODP_STAT_MAX_DEVS];
	bool torn; /* a record kept changing under the reader */
};

enum seg_state { SEG_LIVE, SEG_STALE, SEG_SKIP };

/*
 * Reads the segment at @path of process @pid into @s. A segment of a
 * process that is gone is stale; one of another format or still being
 * made is skipped.
 */
static enum seg_state read_segment(const char *path, long pid, struct snapshot *s)
{
	const struct sodp_stat_seg *seg;
	uint64_t start_time = 0, magic;
	bool alive;
	struct stat sb;
	int fd;

	alive = !proc_start_time(pid, &start_time);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return SEG_SKIP;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || (size_t)sb.st_size < sizeof(*seg)) {
		close(fd);
		/* a segment is sized before anything is written to it */
		return alive ? SEG_SKIP : SEG_STALE;
	}
	seg = mmap(NULL, sizeof(*seg), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (seg == MAP_FAILED)
		return SEG_SKIP;
	magic = __atomic_load_n(&seg->magic, __ATOMIC_ACQUIRE);
	if (!alive || (magic == SODP_STAT_MAGIC && seg->start_time != start_time) ||
	    (magic == SODP_STAT_MAGIC && seg->pid != (uint64_t)pid)) {
		munmap((void *)seg, sizeof(*seg));
		return SEG_STALE;
	}
	if (magic != SODP_STAT_MAGIC || seg->version != SODP_STAT_VERSION) {
		munmap((void *)seg, sizeof(*seg));
		return SEG_SKIP;
	}
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->uid = seg->uid;
	memcpy(s->comm, seg->comm, SODP_STAT_COMM_LEN);
	if (!read_record(&seg->seq, &s->hdr.seq + 1, SODP_STAT_HDR_WORDS))
		s->torn = true;
	s->nr_devs = s->hdr.nr_devs < SODP_STAT_MAX_DEVS ? (unsigned int)s->hdr.nr_devs
							 : SODP_STAT_MAX_DEVS;
	for (unsigned int i = 0; i < s->nr_devs; i++)
		if (!read_record(&seg->devs[i].seq, &s->devs[i].seq + 1, SODP_STAT_DEV_WORDS))
			s->torn = true;
	munmap((void *)seg, sizeof(*seg));
	return SEG_LIVE;
}

/* ---- text ---- */
static const char *qp_type_name(uint64_t t)
{
	switch (t) {
	case IBV_QPT_RC:
		return "RC";
	case IBV_QPT_UC:
		return "UC";
	case IBV_QPT_UD:
		return "UD";
	default:
		return "?";
	}
}

static const char *qp_state_name(uint64_t s)
{
	static const char *const names[] = {"RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR"};

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static const char *kind_name(uint64_t k)
{
	return k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

static double age_s(const struct snapshot *s)
{
	struct timespec now;
	uint64_t ns;

	clock_gettime(CLOCK_REALTIME, &now);
	ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	return ns > s->hdr.published_ns ? (double)(ns - s->hdr.published_ns) / 1e9 : 0;
}

static void print_text(const struct snapshot *s)
{
	printf("pid %ld (%s) uid %" PRIu64 ": %u device%s, published %.1f s ago%s\n", s->pid,
	       s->comm, s->uid, s->nr_devs, s->nr_devs == 1 ? "" : "s", age_s(s),
	       s->torn ? " (some records changed while read)" : "");
	printf("  memory mirror: events unmap %" PRIu64 " clear %" PRIu64 " protection %" PRIu64
	       " fork %" PRIu64 " release %" PRIu64 "\n",
	       s->hdr.hmm_events[0], s->hdr.hmm_events[1], s->hdr.hmm_events[2],
	       s->hdr.hmm_events[3], s->hdr.hmm_events[4]);
	for (unsigned int i = 0; i < s->nr_devs; i++) {
		const struct sodp_stat_dev *d = &s->devs[i];

		printf("  device %s %s: packets rx %" PRIu64 " tx %" PRIu64 ", dropped %" PRIu64
		       "\n",
		       d->name, d->addr, d->rx_packets, d->tx_packets, d->rx_dropped);
		printf("    odp: faults %" PRIu64 " (handled %" PRIu64 ", errors %" PRIu64
		       "), pages faulted %" PRIu64 ", rnr naks %" PRIu64 ", prefetches %" PRIu64
		       "\n",
		       d->faults, d->faults_handled, d->fault_errors, d->pages_faulted, d->rnr_naks,
		       d->prefetches);
		printf("    invalidations: unmap %" PRIu64 " clear %" PRIu64 " protection %" PRIu64
		       " fork %" PRIu64 " release %" PRIu64 "; MTT entries 4K %" PRIu64
		       " 2M %" PRIu64 " 1G %" PRIu64 "\n",
		       d->invalidations[0], d->invalidations[1], d->invalidations[2],
		       d->invalidations[3], d->invalidations[4], d->entries[0], d->entries[1],
		       d->entries[2]);
		printf("    QPs: %" PRIu64 "\n", d->nr_qps);
		for (uint64_t q = 0; q < d->nr_qps && q < SODP_STAT_MAX_QPS; q++) {
			const struct sodp_stat_qp *qp = &d->qps[q];

			printf("      qpn 0x%06" PRIx64 " %s %-5s sq psn 0x%06" PRIx64
			       " rq psn 0x%06" PRIx64,
			       qp->qpn, qp_type_name(qp->type), qp_state_name(qp->state),
			       qp->sq_psn, qp->rq_psn);
			if (qp->type != IBV_QPT_UD)
				printf(" dest qpn 0x%06" PRIx64, qp->dest_qpn);
			printf("\n");
		}
		printf("    MRs: %" PRIu64 "\n", d->nr_mrs);
		for (uint64_t m = 0; m < d->nr_mrs && m < SODP_STAT_MAX_MRS; m++) {
			const struct sodp_stat_mr *mr = &d->mrs[m];

			printf("      lkey 0x%08" PRIx64 " %-8s iova 0x%" PRIx64 " length %" PRIu64
			       " MTT 4K %" PRIu64 " 2M %" PRIu64 " 1G %" PRIu64 " faults %" PRIu64
			       " rnr naks %" PRIu64 " invalidations %" PRIu64 "\n",
			       mr->lkey, kind_name(mr->kind), mr->iova, mr->length, mr->entries[0],
			       mr->entries[1], mr->entries[2], mr->faults, mr->rnr_naks,
			       mr->invalidations);
		}
	}
}

/* ---- JSON ---- */
static void json_string(const char *s, size_t max)
{
	putchar('"');
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_counts(const char *const *names, const uint64_t *v, int n)
{
	putchar('{');
	for (int i = 0; i < n; i++)
		printf("%s\"%s\":%" PRIu64, i ? "," : "", names[i] ? names[i] : "other", v[i]);
	putchar('}');
}

static void print_json(const struct snapshot *s, bool first)
{
	printf("%s{\"pid\":%ld,\"uid\":%" PRIu64 ",\"comm\":", first ? "" : ",", s->pid, s->uid);
	json_string(s->comm, SODP_STAT_COMM_LEN);
	printf(",\"published_ns\":%" PRIu64 ",\"complete\":%s,\"hmm_events\":", s->hdr.published_ns,
	       s->torn ? "false" : "true");
	json_counts(event_names, s->hdr.hmm_events, SODP_STAT_NR_EVENTS);
	printf(",\"devices\":[");
	for (unsigned int i = 0; i < s->nr_devs; i++) {
		const struct sodp_stat_dev *d = &s->devs[i];

		printf("%s{\"name\":", i ? "," : "");
		json_string(d->name, sizeof(d->name));
		printf(",\"address\":");
		json_string(d->addr, sizeof(d->addr));
		printf(",\"rx_packets\":%" PRIu64 ",\"tx_packets\":%" PRIu64
		       ",\"rx_dropped\":%" PRIu64 ",\"drops\":",
		       d->rx_packets, d->tx_packets, d->rx_dropped);
		json_counts(drop_names, d->drops, 11);
		printf(",\"odp\":{\"faults\":%" PRIu64 ",\"faults_handled\":%" PRIu64
		       ",\"fault_errors\":%" PRIu64 ",\"pages_faulted\":%" PRIu64
		       ",\"rnr_naks\":%" PRIu64 ",\"prefetches\":%" PRIu64 ",\"invalidations\":",
		       d->faults, d->faults_handled, d->fault_errors, d->pages_faulted, d->rnr_naks,
		       d->prefetches);
		json_counts(event_names, d->invalidations, SODP_STAT_NR_EVENTS);
		printf(",\"mtt_entries\":");
		json_counts(order_names, d->entries, SODP_STAT_NR_ORDERS);
		printf("},\"nr_qps\":%" PRIu64 ",\"qps\":[", d->nr_qps);
		for (uint64_t q = 0; q < d->nr_qps && q < SODP_STAT_MAX_QPS; q++) {
			const struct sodp_stat_qp *qp = &d->qps[q];

			printf("%s{\"qpn\":%" PRIu64
			       ",\"type\":\"%s\",\"state\":\"%s\",\"sq_psn\":%" PRIu64
			       ",\"rq_psn\":%" PRIu64 ",\"dest_qpn\":%" PRIu64 "}",
			       q ? "," : "", qp->qpn, qp_type_name(qp->type),
			       qp_state_name(qp->state), qp->sq_psn, qp->rq_psn, qp->dest_qpn);
		}
		printf("],\"nr_mrs\":%" PRIu64 ",\"mrs\":[", d->nr_mrs);
		for (uint64_t m = 0; m < d->nr_mrs && m < SODP_STAT_MAX_MRS; m++) {
			const struct sodp_stat_mr *mr = &d->mrs[m];

			printf("%s{\"lkey\":%" PRIu64 ",\"kind\":\"%s\",\"iova\":%" PRIu64
			       ",\"length\":%" PRIu64 ",\"mtt_entries\":",
			       m ? "," : "", mr->lkey, kind_name(mr->kind), mr->iova, mr->length);
			json_counts(order_names, mr->entries, SODP_STAT_NR_ORDERS);
			printf(",\"faults\":%" PRIu64 ",\"pages_faulted\":%" PRIu64
			       ",\"rnr_naks\":%" PRIu64 ",\"invalidations\":%" PRIu64 "}",
			       mr->faults, mr->pages_faulted, mr->rnr_naks, mr->invalidations);
		}
		printf("]}");
	}
	printf("]}");
}

/* ---- the command ---- */

/* One pass over the segments: shows the live ones, removes the stale ones. */
static int stat_once(const struct opts *o)
{
	static struct snapshot snap;
	unsigned int shown = 0;
	struct dirent *e;
	DIR *dir = opendir(SODP_STAT_DIR);

	if (o->json)
		printf("{\"processes\":[");
	while (dir && (e = readdir(dir))) {
		char path[512], tail;
		unsigned int uid;
		long pid;

		if (sscanf(e->d_name, SODP_STAT_PREFIX "%u-%ld%c", &uid, &pid, &tail) != 2 ||
		    pid <= 0)
			continue;
		snprintf(path, sizeof(path), SODP_STAT_DIR "/%s", e->d_name);
		switch (read_segment(path, pid, &snap)) {
		case SEG_STALE:
			/* only its owner (or root) may remove it from the sticky directory */
			if (unlink(path) && errno != ENOENT && errno != EPERM && errno != EACCES)
				fprintf(stderr, "softodp: %s: %s\n", path, strerror(errno));
			continue;
		case SEG_SKIP:
			continue;
		case SEG_LIVE:
			break;
		}
		if (o->pid && pid != o->pid)
			continue;
		if (o->json)
			print_json(&snap, !shown);
		else
			print_text(&snap);
		shown++;
		if (shown >= MAX_SEGMENTS)
			break;
	}
	if (dir)
		closedir(dir);
	if (o->json)
		printf("]}\n");
	else if (!shown && o->pid)
		printf("no softodp device open in process %ld\n", o->pid);
	else if (!shown)
		printf("no process has a softodp device open\n");
	fflush(stdout);
	return o->pid && !shown ? 1 : 0;
}

static int cmd_stat(int argc, char **argv)
{
	struct opts o = {.interval = DEFAULT_WATCH_S};

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *end;

		if (!strcmp(a, "-p") || !strcmp(a, "--pid")) {
			if (i + 1 >= argc)
				goto bad;
			errno = 0;
			o.pid = strtol(argv[++i], &end, 10);
			if (errno || *end || o.pid <= 0)
				goto bad;
		} else if (!strcmp(a, "-j") || !strcmp(a, "--json")) {
			o.json = true;
		} else if (!strcmp(a, "-w") || !strcmp(a, "--watch")) {
			o.watch = true;
			/* an optional number of seconds */
			if (i + 1 < argc && argv[i + 1][0] != '-') {
				errno = 0;
				o.interval = strtod(argv[++i], &end);
				if (errno || *end || !(o.interval >= 0.1 && o.interval <= 3600))
					goto bad;
			}
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else {
			goto bad;
		}
	}
	if (!o.watch)
		return stat_once(&o);
	for (;;) {
		struct timespec ts = {
			.tv_sec = (time_t)o.interval,
			.tv_nsec = (long)((o.interval - (double)(time_t)o.interval) * 1e9)};

		if (!o.json && isatty(STDOUT_FILENO))
			fputs(CLEAR_SCREEN, stdout);
		stat_once(&o);
		nanosleep(&ts, NULL);
	}
bad:
	fprintf(stderr, "softodp stat: bad arguments\n");
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "stat"))
		return cmd_stat(argc - 1, argv + 1);
	fprintf(stderr, "softodp: unknown command: %s\n", argv[1]);
	usage(stderr);
	return 2;
}
