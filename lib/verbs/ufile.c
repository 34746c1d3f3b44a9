// SPDX-License-Identifier: MIT
/*
 * The command file of a context, and what contexts share through it.
 *
 * A kernel verbs context reaches its device through a uverbs file; a context
 * imported from a dup of that file (ibv_import_device) shares the first
 * one's objects, which ibv_import_pd() and ibv_import_mr() then reach by
 * handle. softodp has no such file, so every context opened with
 * ibv_open_device() gets a memfd as its cmd_fd, and a struct sodp_ufile
 * that stands for the open file: a context imported from any descriptor of
 * the same file (the same inode) shares that ufile.
 *
 * Sharing is within the process that opened the file. Another process (or
 * a fork child) may hold a descriptor of it, but not the objects, which live
 * in the opening process's memory: its import fails with EOPNOTSUPP. A
 * descriptor that is no softodp command file at all is EINVAL, as
 * libibverbs answers for a descriptor that is no uverbs device.
 *
 * A ufile lives while a context uses it: each context holds a reference and
 * a descriptor of its own (the imported one owns the descriptor it was
 * given, and closes it with the context). It holds the PDs allocated on any
 * of its contexts (pd.c) and the MRs imported from it (mr.c), under its
 * lock. ufiles_lock protects the list and the references. Lock order:
 * ufiles_lock, then a ufile's lock, then the context list's lock
 * (device.c) and the provider's locks (mr.c calls the provider under it).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "verbs.h"

/* The name every command file carries (readlink shows "/memfd:" NAME). */
#define SODP_UFILE_NAME "softodp-uverbs"

static pthread_mutex_t ufiles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct list_head ufiles = LIST_HEAD_INIT(ufiles);

int sodp_ufile_create(struct ibv_device *device, int *fd_out, struct sodp_ufile **out)
{
	struct sodp_ufile *u;
	struct stat st;
	int fd;

	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	fd = memfd_create(SODP_UFILE_NAME, MFD_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		free(u);
		return -err;
	}
	pthread_mutex_init(&u->lock, NULL);
	list_init(&u->pds);
	list_init(&u->mr_shares);
	u->device = device;
	u->st_dev = st.st_dev;
	u->st_ino = st.st_ino;
	u->pid = getpid();
	u->refs = 1;
	pthread_mutex_lock(&ufiles_lock);
	list_add_tail(&u->node, &ufiles);
	pthread_mutex_unlock(&ufiles_lock);
	*fd_out = fd;
	*out = u;
	return 0;
}

/* Whether @fd is a softodp command file, of this process or another's. */
static bool is_command_file(int fd)
{
	static const char want[] = "/memfd:" SODP_UFILE_NAME;
	char path[64], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return !strncmp(target, want, sizeof(want) - 1);
}

int sodp_ufile_find(int fd, struct sodp_ufile **out)
{
	struct sodp_ufile *u;
	pid_t pid = getpid();
	struct stat st;

	if (fd < 0 || fstat(fd, &st))
		return -EINVAL;
	pthread_mutex_lock(&ufiles_lock);
	list_for_each_entry (u, &ufiles, node) {
		if (u->pid == pid && u->st_dev == st.st_dev && u->st_ino == st.st_ino) {
			u->refs++;
			pthread_mutex_unlock(&ufiles_lock);
			*out = u;
			return 0;
		}
	}
	pthread_mutex_unlock(&ufiles_lock);
	return is_command_file(fd) ? -EOPNOTSUPP : -EINVAL;
}

void sodp_ufile_put(struct sodp_ufile *u)
{
	pthread_mutex_lock(&ufiles_lock);
	if (--u->refs) {
		pthread_mutex_unlock(&ufiles_lock);
		return;
	}
	list_del_init(&u->node);
	pthread_mutex_unlock(&ufiles_lock);
	/* no context is left to reach what remains */
	sodp_pd_release_all(u);
	sodp_mr_release_shares(u);
	pthread_mutex_destroy(&u->lock);
	free(u);
}
