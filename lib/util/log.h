/* SPDX-License-Identifier: MIT */
/*
 * Logging. SOFTODP_LOG=error|warn|info|debug selects the level (default warn);
 * messages go to stderr prefixed with "softodp: ".
 */
#ifndef SODP_UTIL_LOG_H
#define SODP_UTIL_LOG_H

enum sodp_log_level {
	SODP_LOG_ERR,
	SODP_LOG_WARN,
	SODP_LOG_INFO,
	SODP_LOG_DEBUG,
};

void sodp_log(enum sodp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int sodp_log_enabled(enum sodp_log_level level);

#define sodp_err(...)  sodp_log(SODP_LOG_ERR, __VA_ARGS__)
#define sodp_warn(...) sodp_log(SODP_LOG_WARN, __VA_ARGS__)
#define sodp_info(...) sodp_log(SODP_LOG_INFO, __VA_ARGS__)
#define sodp_dbg(...)  sodp_log(SODP_LOG_DEBUG, __VA_ARGS__)

#endif
