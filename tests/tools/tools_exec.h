/* SPDX-License-Identifier: MIT */
/*
 * Running the built tools from a test: a command line through sh, bounded
 * in time, its exit status and its output (stdout and stderr) returned.
 */
#ifndef SODP_TOOLS_EXEC_H
#define SODP_TOOLS_EXEC_H

#include <stdarg.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#define TOOLS_OUT_MAX (1 << 17)

/* Runs @fmt within @secs seconds; returns its exit status (-1: none), output in @out. */
static inline int tools_run(char *out, size_t outlen, int secs, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline int tools_run(char *out, size_t outlen, int secs, const char *fmt, ...)
{
	char cmd[2048], full[2200];
	size_t len = 0;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "timeout -s KILL %d sh -c '%s' 2>&1", secs, cmd);
	p = popen(full, "r");
	if (!p)
		return -1;
	while (len < outlen - 1) {
		size_t n = fread(out + len, 1, outlen - 1 - len, p);

		if (!n)
			break;
		len += n;
	}
	out[len] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Reads exactly @len bytes from @fd within @secs seconds: 0, or -1. */
static inline int tools_read_timed(int fd, void *buf, size_t len, int secs)
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

/* Waits for child @pid within @secs seconds (then kills it): 0, or -1. */
static inline int tools_wait_timed(pid_t pid, int *status, int secs)
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

#endif
