// SPDX-License-Identifier: MIT
/* Running programs from a test: see sodp_proc.h. */
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "sodp_proc.h"

/* How long a pair's client waits for its server to listen: 200 x 50 ms. */
#define LISTEN_POLLS "200"
#define LISTEN_POLL  "0.05"
/* A client stopped with SIGINT that is still there this long after is killed. */
#define STOP_GRACE "5"

char sodp_ns_exec[128];
static char netns[64];

int sodp_netns_up(void)
{
	char cmd[256];

	snprintf(netns, sizeof(netns), "softodp-test-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "ip netns add %s 2>/dev/null && ip -n %s link set lo up 2>/dev/null", netns,
		 netns);
	if (system(cmd) == 0) {
		snprintf(sodp_ns_exec, sizeof(sodp_ns_exec), "ip netns exec %s ", netns);
	} else {
		printf("\n(no private network namespace: using the host loopback)\n");
		netns[0] = '\0';
		sodp_ns_exec[0] = '\0';
	}
	return 0;
}

int sodp_netns_down(void)
{
	char cmd[128];

	if (netns[0]) {
		snprintf(cmd, sizeof(cmd), "ip netns delete %s", netns);
		if (system(cmd))
			printf("\n(could not delete namespace %s)\n", netns);
		netns[0] = '\0';
		sodp_ns_exec[0] = '\0';
	}
	return 0;
}

static void slurp(const char *dir, const char *name, char *buf, size_t len)
{
	char path[128];
	FILE *f;
	size_t n;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static int read_status(const char *dir, const char *name)
{
	char rc[16];

	slurp(dir, name, rc, sizeof(rc));
	return rc[0] ? atoi(rc) : -1;
}

static void read_proc(struct sodp_proc *r, const char *dir, const char *name)
{
	char file[32];

	snprintf(file, sizeof(file), "%s.out", name);
	slurp(dir, file, r->out, sizeof(r->out));
	snprintf(file, sizeof(file), "%s.err", name);
	slurp(dir, file, r->err, sizeof(r->err));
	snprintf(file, sizeof(file), "%s.rc", name);
	r->status = read_status(dir, file);
}

static void clear_proc(struct sodp_proc *r)
{
	r->status = -1;
	r->out[0] = r->err[0] = '\0';
}

static void remove_dir(const char *dir)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		printf("\n(could not remove %s)\n", dir);
}

int sodp_run(struct sodp_proc *r, int limit, const char *fmt, ...)
{
	char dir[] = "/tmp/softodp-test-XXXXXX";
	char cmd[4096], full[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	clear_proc(r);
	if (!mkdtemp(dir))
		return -1;
	snprintf(
		full, sizeof(full),
		"%stimeout -s KILL %d sh -c '%s' >%s/r.out 2>%s/r.err </dev/null; echo $? >%s/r.rc",
		sodp_ns_exec, limit, cmd, dir, dir, dir);
	if (system(full) != -1)
		read_proc(r, dir, "r");
	remove_dir(dir);
	return r->status;
}

void sodp_run_pair(const struct sodp_pair *p, struct sodp_proc *srv, struct sodp_proc *cli,
		   struct sodp_proc *bes)
{
	char dir[] = "/tmp/softodp-test-XXXXXX";
	char cmd[8192], stop[32];

	clear_proc(srv);
	clear_proc(cli);
	if (bes)
		clear_proc(bes);
	if (!mkdtemp(dir))
		return;
	if (p->client_stop > 0)
		snprintf(stop, sizeof(stop), "-k " STOP_GRACE " -s INT %d", p->client_stop);
	else
		snprintf(stop, sizeof(stop), "-s KILL %d", p->limit);
	snprintf(cmd, sizeof(cmd),
		 "%stimeout -s KILL %d sh -c '%s' >%s/s.out 2>%s/s.err </dev/null & srv=$!; "
		 "for i in $(seq 1 " LISTEN_POLLS "); do "
		 "  %sss -ltn 2>/dev/null | grep -q ':%d ' && break; sleep " LISTEN_POLL "; done; "
		 "%stimeout -s KILL %d sh -c '%s' >%s/b.out 2>%s/b.err </dev/null & bes=$!; "
		 "%stimeout %s sh -c '%s' >%s/c.out 2>%s/c.err </dev/null; echo $? >%s/c.rc; "
		 "%s"
		 "wait $srv; echo $? >%s/s.rc; wait $bes; echo $? >%s/b.rc",
		 sodp_ns_exec, p->limit, p->server, dir, dir, sodp_ns_exec, p->port, sodp_ns_exec,
		 p->limit, p->beside ? p->beside : "true", dir, dir, sodp_ns_exec, stop, p->client,
		 dir, dir, dir, p->client_stop > 0 ? "kill -INT $srv 2>/dev/null; " : "", dir, dir);
	if (system(cmd) != -1) {
		read_proc(srv, dir, "s");
		read_proc(cli, dir, "c");
		if (bes)
			read_proc(bes, dir, "b");
	}
	remove_dir(dir);
	if (p->client_stop > 0 ? cli->status != SODP_PROC_STOPPED : srv->status || cli->status)
		printf("\n  server (rc %d):\n%s%s\n  client (rc %d):\n%s%s\n", srv->status,
		       srv->out, srv->err, cli->status, cli->out, cli->err);
}

bool sodp_have(const char *cmd)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "command -v %s >/dev/null 2>&1", cmd);
	return system(buf) == 0;
}

int sodp_read_timed(int fd, void *buf, size_t len, int secs)
{
	char *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, secs * 1000) != 1)
			return -1;
		n = read(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sodp_wait_timed(pid_t pid, int *status, int secs)
{
	for (int i = 0; i < secs * 100; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0)
			return -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}
