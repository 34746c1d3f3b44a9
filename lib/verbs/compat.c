// SPDX-License-Identifier: MIT
/*
 * Entry points that exist for the kernel-backed libibverbs and have a
 * simple meaning here: fork handling, sysfs access.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "verbs.h"

/*
 * rdma-core answers IBV_FORK_UNNEEDED when the kernel copies DMA pages on
 * fork, so that a registered page never leaves the parent; the answer then
 * holds whether or not ibv_fork_init() was called. It is the true answer
 * here too: there are no DMA pages. The NIC reaches memory through the
 * process's own virtual addresses, so after a fork the parent's engine works
 * on whatever pages the parent's mappings hold, copy-on-write breaks
 * included, and MADV_DONTFORK is never needed. What a fork does need, a
 * child that neither hangs on the provider's locks nor runs the parent's
 * device, is done by the provider's atfork handlers
 * (providers/rxe/fork.c), installed with the first device, with or without
 * ibv_fork_init(). So ibv_fork_init() succeeds with nothing to do.
 */
SODP_EXPORT int ibv_fork_init(void)
{
	return 0;
}

SODP_EXPORT enum ibv_fork_status ibv_is_fork_initialized(void)
{
	return IBV_FORK_UNNEEDED;
}

SODP_EXPORT int ibv_dontfork_range(void *base, size_t size)
{
	return 0;
}

SODP_EXPORT int ibv_dofork_range(void *base, size_t size)
{
	return 0;
}

SODP_EXPORT const char *ibv_get_sysfs_path(void)
{
	return "/sys";
}

/*
 * Reads one attribute file, as libibverbs does. softodp devices have no
 * sysfs directory (their paths start with "softodp:/"), so callers asking
 * about them get -1/ENOENT and fall back to the verbs queries.
 */
SODP_EXPORT int ibv_read_sysfs_file(const char *dir, const char *file, char *buf, size_t size)
{
	char path[512];
	ssize_t len;
	int fd;

	if (!dir || !file || !buf || !size) {
		errno = EINVAL;
		return -1;
	}
	if (!strncmp(dir, "softodp:", 8)) {
		errno = ENOENT;
		return -1;
	}
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, size);
	close(fd);
	if (len < 0)
		return -1;
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if ((size_t)len < size)
		buf[len] = '\0';
	else
		buf[size - 1] = '\0';
	return (int)len;
}
