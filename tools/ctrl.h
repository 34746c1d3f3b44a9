/* SPDX-License-Identifier: MIT */
/*
 * The control channel of softodp_perf: one TCP connection between server
 * and client, as perftest keeps, carrying text lines. Every wait on it is
 * bounded.
 */
#ifndef SODP_TOOLS_CTRL_H
#define SODP_TOOLS_CTRL_H

#include <stdbool.h>
#include <stddef.h>

#define CTRL_LINE_MAX 4096

struct ctrl {
	int fd;
	size_t len;
	char buf[2 * CTRL_LINE_MAX];
};

/* The server side: listens on @port and accepts one client within @timeout_ms. */
int ctrl_accept(struct ctrl *c, int port, int timeout_ms);
/* The client side: connects to @host:@port, retrying for up to @timeout_ms. */
int ctrl_connect(struct ctrl *c, const char *host, int port, int timeout_ms);
void ctrl_close(struct ctrl *c);

/* Sends one line (the newline is added): 0, or -errno. */
int ctrl_send(struct ctrl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Receives one line into @line (newline removed): 0, -ETIMEDOUT after
 * @timeout_ms (0: only what has arrived), -ECONNRESET when the peer closed,
 * -EMSGSIZE for an overlong line.
 */
int ctrl_recv(struct ctrl *c, char *line, size_t len, int timeout_ms);

#endif
