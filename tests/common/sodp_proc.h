/* SPDX-License-Identifier: MIT */
/*
 * Running programs from a test: a shell command bounded in time, its exit
 * status and its output; a server and a client against it; a private
 * network namespace for them when the test may make one.
 *
 * Commands run as `sh -c 'COMMAND'`, so a command holds no single quote.
 * A command that outlives its limit is killed (SIGKILL): its status is then
 * 137, so that a hang fails the test and never stalls the run.
 */
#ifndef SODP_PROC_H
#define SODP_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SODP_PROC_OUT_MAX (1 << 18)

/* The exit status of a command stopped by SIGINT at its time (timeout(1)). */
#define SODP_PROC_STOPPED 124

struct sodp_proc {
	int status; /* exit status; -1 when it could not be run */
	char out[SODP_PROC_OUT_MAX];
	char err[SODP_PROC_OUT_MAX];
};

/*
 * "ip netns exec NAME " while a namespace of the test's own is up, else "".
 * sodp_netns_up() makes one (root and iproute2), or says that the host's
 * loopback is used; both return 0, to serve as a CUnit suite's init and
 * cleanup.
 */
extern char sodp_ns_exec[128];
int sodp_netns_up(void);
int sodp_netns_down(void);

/* Runs a shell command (in the namespace) for at most @limit seconds; its status. */
int sodp_run(struct sodp_proc *r, int limit, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A server and its client: @server runs in the background; once it listens
 * on TCP @port (waited for, bounded), @beside (a command run next to the
 * client, or NULL) and @client start. Each has @limit seconds. With
 * @client_stop > 0 the client is stopped with SIGINT after that many
 * seconds instead (status SODP_PROC_STOPPED), and then the server, for a
 * run that only ends so.
 * Both results are printed when either side did not exit 0 (the client
 * alone is judged so when it is stopped).
 */
struct sodp_pair {
	const char *server, *client, *beside;
	int port;
	int limit;
	int client_stop;
};
void sodp_run_pair(const struct sodp_pair *p, struct sodp_proc *srv, struct sodp_proc *cli,
		   struct sodp_proc *bes);

/* Whether @cmd is on PATH. */
bool sodp_have(const char *cmd);

/* Reads exactly @len bytes from @fd within @secs seconds: 0, or -1. */
int sodp_read_timed(int fd, void *buf, size_t len, int secs);
/* Waits for child @pid within @secs seconds (then kills it): 0, or -1. */
int sodp_wait_timed(pid_t pid, int *status, int secs);

#endif
