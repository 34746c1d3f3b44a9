/* SPDX-License-Identifier: MIT */
/*
 * What the tools' tests share: running a command with a time bound, a
 * private network namespace when the test may make one, and reading numbers
 * out of a JSON document.
 */
#ifndef SODP_TOOLS_TEST_H
#define SODP_TOOLS_TEST_H

#include <stdbool.h>
#include <stddef.h>

#define TT_OUT_MAX (1 << 18)

struct tt_run {
	int status; /* exit status, -1 when killed or not run */
	char out[TT_OUT_MAX];
	char err[TT_OUT_MAX];
};

/* "ip netns exec NAME " inside a namespace of its own, or "". */
extern char tt_ns_exec[128];
int tt_netns_up(void);
int tt_netns_down(void);

/* Runs a shell command (in the namespace) for at most @limit seconds. */
int tt_run(struct tt_run *r, int limit, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Runs "@server" in the background and "@client" against it (both shell
 * commands, in the namespace, @limit seconds each), once the server listens
 * on TCP @port. The client's result in @cli, the server's in @srv.
 */
void tt_run_pair(struct tt_run *srv, struct tt_run *cli, int port, int limit, const char *server,
		 const char *client);

bool tt_have(const char *cmd);

/* A document python3's json module accepts (or, without python3, balanced). */
bool tt_json_valid(const char *doc);
/* The number after the @nth (from 0) "key": in @doc; NAN when absent. */
double tt_json_num(const char *doc, const char *key, int nth);
/* How many times "key": occurs in @doc. */
int tt_json_count(const char *doc, const char *key);

/*
 * How many long options named in @help (as --name) the manual page source
 * at @page_path does not spell as roff does (\-\-name); @checked counts
 * them all. -1 when the page cannot be read.
 */
int tt_page_lacks_help_options(const char *page_path, const char *help, int *checked);

#endif
