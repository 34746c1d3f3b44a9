/* SPDX-License-Identifier: MIT */
/*
 * Boolean environment switches: SOFTODP_X=1 turns a feature's switch on;
 * unset, empty or "0" leaves it off.
 */
#ifndef SODP_UTIL_ENV_H
#define SODP_UTIL_ENV_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline bool sodp_env_flag(const char *name)
{
	const char *s = getenv(name);

	return s && *s && strcmp(s, "0") != 0;
}

#endif
