/* SPDX-License-Identifier: MIT */
/*
 * softodp: a userspace soft-RoCE verbs provider with on-demand paging.
 *
 * The verbs API itself is rdma-core's <infiniband/verbs.h>; this header holds
 * what softodp adds of its own.
 */
#ifndef SOFTODP_SOFTODP_H
#define SOFTODP_SOFTODP_H

#ifdef __cplusplus
extern "C" {
#endif

#define SOFTODP_VERSION_MAJOR 0
#define SOFTODP_VERSION_MINOR 1
#define SOFTODP_VERSION_PATCH 0

/* The version of the library in use, "MAJOR.MINOR.PATCH". */
const char *sodp_version(void);

#ifdef __cplusplus
}
#endif

#endif
