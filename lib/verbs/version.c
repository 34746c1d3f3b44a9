// SPDX-License-Identifier: MIT
#include <softodp/softodp.h>

#include "compiler.h"

#define STR2(x) #x
#define STR(x)	STR2(x)

SODP_EXPORT const char *sodp_version(void)
{
	return STR(SOFTODP_VERSION_MAJOR) "." STR(SOFTODP_VERSION_MINOR) "." STR(
		SOFTODP_VERSION_PATCH);
}
