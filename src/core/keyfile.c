/* SPDX-License-Identifier: MIT */
/* Modes of private key files; see keyfile.h. */
#include <errno.h>
#include <sys/stat.h>

#include "core/keyfile.h"

int
keyfile_check(const char *path, unsigned *mode)
{
	struct stat st;
	int r = 0;

	*mode = 0;
	if (stat(path, &st) != 0) {
		r = -errno;
		goto out;
	}
	*mode = (unsigned)(st.st_mode & 07777);
	if ((st.st_mode & KEYFILE_MODE_FORBIDDEN) != 0)
		r = -EPERM;
out:
	return r;
}
