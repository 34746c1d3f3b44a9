// SPDX-License-Identifier: MIT
/* The control channel: see ctrl.h. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctrl.h"
#include "tools.h"

static void ctrl_init(struct ctrl *c, int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->len = 0;
}

int ctrl_accept(struct ctrl *c, int port, int timeout_ms)
{
	struct sockaddr_in6 addr = {.sin6_family = AF_INET6,
				    .sin6_port = htons((uint16_t)port),
				    .sin6_addr = IN6ADDR_ANY_INIT};
	struct pollfd pfd;
	int one = 1, zero = 0;
	int lfd, fd, ret;

	struct sockaddr_in addr4 = {.sin_family = AF_INET,
				    .sin_port = htons((uint16_t)port),
				    .sin_addr.s_addr = htonl(INADDR_ANY)};
	struct sockaddr *sa = (struct sockaddr *)&addr;
	socklen_t salen = sizeof(addr);

	/* IPv6 and IPv4 clients alike, or IPv4 alone where IPv6 is off. */
	lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sa = (struct sockaddr *)&addr4;
		salen = sizeof(addr4);
	}
	if (lfd < 0)
		return -errno;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(lfd, sa, salen) || listen(lfd, 1)) {
		ret = -errno;
		goto out;
	}
	pfd = (struct pollfd){.fd = lfd, .events = POLLIN};
	ret = poll(&pfd, 1, timeout_ms);
	if (ret <= 0) {
		ret = ret ? -errno : -ETIMEDOUT;
		goto out;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ctrl_init(c, fd);
	ret = 0;
out:
	close(lfd);
	return ret;
}

int ctrl_connect(struct ctrl *c, const char *host, int port, int timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	uint64_t deadline = tl_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	char service[16];
	int ret, fd;

	snprintf(service, sizeof(service), "%d", port);
	ret = getaddrinfo(host, service, &hints, &res);
	if (ret)
		return -EHOSTUNREACH;
	/* The server may not listen yet: try again until the deadline. */
	for (;;) {
		for (ai = res; ai; ai = ai->ai_next) {
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
			if (fd < 0)
				continue;
			if (!connect(fd, ai->ai_addr, ai->ai_addrlen)) {
				freeaddrinfo(res);
				ctrl_init(c, fd);
				return 0;
			}
			ret = -errno;
			close(fd);
		}
		if (tl_now_ns() >= deadline)
			break;
		usleep(50000);
	}
	freeaddrinfo(res);
	return ret ? ret : -ETIMEDOUT;
}

void ctrl_close(struct ctrl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int ctrl_send(struct ctrl *c, const char *fmt, ...)
{
	char line[CTRL_LINE_MAX];
	va_list ap;
	size_t off = 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		return -EMSGSIZE;
	line[n++] = '\n';
	while (off < (size_t)n) {
		ssize_t w = send(c->fd, line + off, (size_t)n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w ? -errno : -ECONNRESET;
		off += (size_t)w;
	}
	return 0;
}

int ctrl_recv(struct ctrl *c, char *line, size_t len, int timeout_ms)
{
	uint64_t deadline = tl_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		uint64_t now;
		ssize_t r;
		int ret;

		if (nl) {
			size_t n = (size_t)(nl - c->buf);

			if (n >= len)
				return -EMSGSIZE;
			memcpy(line, c->buf, n);
			line[n] = '\0';
			c->len -= n + 1;
			memmove(c->buf, nl + 1, c->len);
			return 0;
		}
		if (c->len == sizeof(c->buf))
			return -EMSGSIZE;
		now = tl_now_ns();
		ret = poll(&pfd, 1, now >= deadline ? 0 : (int)((deadline - now) / 1000000ULL) + 1);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (!ret)
			return -ETIMEDOUT;
		r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r ? -errno : -ECONNRESET;
		c->len += (size_t)r;
	}
}
