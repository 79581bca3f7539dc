/* SPDX-License-Identifier: MIT */
/*
 * Whole-file reads and atomic writes for the CA directory.  A write goes to
 * a temporary file next to its target and is then renamed over it, or
 * linked to it when an existing file must not be replaced, so a reader (or
 * a crash) never sees half a key, certificate, index or CRL.
 */
#ifndef NETPORT_CA_FILE_H
#define NETPORT_CA_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Reads a file of at most max bytes into a new NUL-terminated buffer *out
 * (free(), or ca_file_free_secret() for keys) of *outlen bytes.  Returns 0,
 * -errno, or NP_ETOOBIG when the file is larger than max.
 */
int	ca_file_read(const char *path, size_t max, char **out, size_t *outlen)
	    __attribute__((warn_unused_result));

/* Zeroes and frees a buffer from ca_file_read(); NULL is a no-op. */
void	ca_file_free_secret(char *p, size_t len);

/*
 * Writes len bytes to path with the given mode, atomically.  With replace
 * 0 an existing path is left alone and -EEXIST returned.  Returns 0 or
 * -errno.
 */
int	ca_file_write(const char *path, const void *data, size_t len,
	    mode_t mode, int replace) __attribute__((warn_unused_result));

/* 1 if path exists (as anything, dangling links included), 0 if not. */
int	ca_file_exists(const char *path);

#endif
