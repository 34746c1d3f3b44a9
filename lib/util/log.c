// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int log_level = -1;

static int log_level_from_env(void)
{
	const char *s = getenv("SOFTODP_LOG");

	if (!s)
		return SODP_LOG_WARN;
	if (!strcmp(s, "error"))
		return SODP_LOG_ERR;
	if (!strcmp(s, "info"))
		return SODP_LOG_INFO;
	if (!strcmp(s, "debug"))
		return SODP_LOG_DEBUG;
	return SODP_LOG_WARN;
}

int sodp_log_enabled(enum sodp_log_level level)
{
	int cur = __atomic_load_n(&log_level, __ATOMIC_RELAXED);

	if (cur < 0) {
		cur = log_level_from_env();
		__atomic_store_n(&log_level, cur, __ATOMIC_RELAXED);
	}
	return (int)level <= cur;
}

void sodp_log(enum sodp_log_level level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (!sodp_log_enabled(level))
		return;
	n = snprintf(buf, sizeof(buf), "softodp: ");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	/* Messages are lines: a caller's own trailing newline is not doubled. */
	n = (int)strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	/* One write so that lines from several threads do not interleave. */
	fprintf(stderr, "%s\n", buf);
}
