// SPDX-License-Identifier: MIT
/* The tools' tests' shared part: see tools_test.h. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools_test.h"

char tt_ns_exec[128];
static char netns[64];

int tt_netns_up(void)
{
	char cmd[256];

	snprintf(netns, sizeof(netns), "softodp-tools-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "ip netns add %s 2>/dev/null && ip -n %s link set lo up 2>/dev/null", netns,
		 netns);
	if (system(cmd) == 0) {
		snprintf(tt_ns_exec, sizeof(tt_ns_exec), "ip netns exec %s ", netns);
	} else {
		printf("\n(no private network namespace: using the host loopback)\n");
		netns[0] = '\0';
		tt_ns_exec[0] = '\0';
	}
	return 0;
}

int tt_netns_down(void)
{
	char cmd[128];

	if (netns[0]) {
		snprintf(cmd, sizeof(cmd), "ip netns delete %s", netns);
		if (system(cmd))
			printf("\n(could not delete namespace %s)\n", netns);
	}
	return 0;
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	buf[0] = '\0';
	if (!f)
		return;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static int read_status(const char *path)
{
	char rc[16];

	slurp(path, rc, sizeof(rc));
	return rc[0] ? atoi(rc) : -1;
}

int tt_run(struct tt_run *r, int limit, const char *fmt, ...)
{
	char dir[] = "/tmp/softodp-tools-XXXXXX";
	char cmd[4096], full[8192], path[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r->status = -1;
	r->out[0] = r->err[0] = '\0';
	if (!mkdtemp(dir))
		return -1;
	snprintf(full, sizeof(full),
		 "%stimeout -s KILL %d sh -c '%s' >%s/out 2>%s/err </dev/null; echo $? >%s/rc",
		 tt_ns_exec, limit, cmd, dir, dir, dir);
	if (system(full) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/out", dir);
	slurp(path, r->out, sizeof(r->out));
	snprintf(path, sizeof(path), "%s/err", dir);
	slurp(path, r->err, sizeof(r->err));
	snprintf(path, sizeof(path), "%s/rc", dir);
	r->status = read_status(path);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return r->status;
	return r->status;
}

void tt_run_pair(struct tt_run *srv, struct tt_run *cli, int port, int limit, const char *server,
		 const char *client)
{
	char dir[] = "/tmp/softodp-tools-XXXXXX";
	char cmd[8192], path[128];

	srv->status = cli->status = -1;
	srv->out[0] = srv->err[0] = cli->out[0] = cli->err[0] = '\0';
	if (!mkdtemp(dir))
		return;
	snprintf(cmd, sizeof(cmd),
		 "%stimeout -s KILL %d sh -c '%s' >%s/srv.out 2>%s/srv.err </dev/null & srv=$!; "
		 /* Wait (bounded) until the server listens on its TCP port. */
		 "for i in $(seq 1 200); do "
		 "  %sss -ltn 2>/dev/null | grep -q ':%d ' && break; sleep 0.05; done; "
		 "%stimeout -s KILL %d sh -c '%s' >%s/cli.out 2>%s/cli.err </dev/null; "
		 "echo $? >%s/cli.rc; wait $srv; echo $? >%s/srv.rc",
		 tt_ns_exec, limit, server, dir, dir, tt_ns_exec, port, tt_ns_exec, limit, client,
		 dir, dir, dir, dir);
	if (system(cmd) == -1)
		return;
	snprintf(path, sizeof(path), "%s/srv.out", dir);
	slurp(path, srv->out, sizeof(srv->out));
	snprintf(path, sizeof(path), "%s/srv.err", dir);
	slurp(path, srv->err, sizeof(srv->err));
	snprintf(path, sizeof(path), "%s/cli.out", dir);
	slurp(path, cli->out, sizeof(cli->out));
	snprintf(path, sizeof(path), "%s/cli.err", dir);
	slurp(path, cli->err, sizeof(cli->err));
	snprintf(path, sizeof(path), "%s/srv.rc", dir);
	srv->status = read_status(path);
	snprintf(path, sizeof(path), "%s/cli.rc", dir);
	cli->status = read_status(path);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return;
	if (srv->status || cli->status)
		printf("\n  server (rc %d):\n%s%s\n  client (rc %d):\n%s%s\n", srv->status,
		       srv->out, srv->err, cli->status, cli->out, cli->err);
}

bool tt_have(const char *cmd)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "command -v %s >/dev/null 2>&1", cmd);
	return system(buf) == 0;
}

bool tt_json_valid(const char *doc)
{
	char path[] = "/tmp/softodp-json-XXXXXX", cmd[256];
	int depth = 0, fd, ret;
	bool in_str = false;
	FILE *f;

	if (tt_have("python3")) {
		fd = mkstemp(path);
		if (fd < 0)
			return false;
		f = fdopen(fd, "w");
		if (!f)
			return false;
		fputs(doc, f);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "python3 -m json.tool %s >/dev/null", path);
		ret = system(cmd);
		unlink(path);
		return ret == 0;
	}
	for (const char *p = doc; *p; p++) {
		if (in_str) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				in_str = false;
			continue;
		}
		if (*p == '"')
			in_str = true;
		else if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth < 0)
			return false;
	}
	return !depth && !in_str && strchr(doc, '{');
}

static const char *json_key(const char *doc, const char *key, int nth)
{
	char pat[128];
	const char *p = doc;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	for (int i = 0; p; i++) {
		p = strstr(p, pat);
		if (!p || i == nth)
			break;
		p += strlen(pat);
	}
	return p ? p + strlen(pat) : NULL;
}

double tt_json_num(const char *doc, const char *key, int nth)
{
	const char *p = json_key(doc, key, nth);
	char *end;
	double v;

	if (!p)
		return NAN;
	v = strtod(p, &end);
	return end == p ? NAN : v;
}

int tt_json_count(const char *doc, const char *key)
{
	int n = 0;

	while (json_key(doc, key, n))
		n++;
	return n;
}

int tt_page_lacks_help_options(const char *page_path, const char *help, int *checked)
{
	static char page[1 << 17];
	char opt[64], roff[160];
	int missing = 0;

	*checked = 0;
	slurp(page_path, page, sizeof(page));
	if (!page[0])
		return -1;
	/* Every long option the help names, as roff writes it: \-\-name. */
	for (const char *s = strstr(help, "--"); s; s = strstr(s + 2, "--")) {
		size_t l = 0, r = 0;

		while (l < sizeof(opt) - 1 &&
		       (isalnum((unsigned char)s[2 + l]) || s[2 + l] == '-' || s[2 + l] == '_')) {
			opt[l] = s[2 + l];
			l++;
		}
		opt[l] = '\0';
		if (!l)
			continue;
		r = (size_t)snprintf(roff, sizeof(roff), "\\-\\-");
		for (size_t i = 0; i < l && r < sizeof(roff) - 3; i++) {
			if (opt[i] == '-')
				roff[r++] = '\\';
			roff[r++] = opt[i];
		}
		roff[r] = '\0';
		(*checked)++;
		if (!strstr(page, roff)) {
			printf("\n    %s lacks --%s", page_path, opt);
			missing++;
		}
	}
	return missing;
}
