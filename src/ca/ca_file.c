/* SPDX-License-Identifier: MIT */
/* Whole-file reads and atomic writes; see ca_file.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ca/ca_file.h"
#include "core/err.h"

int
ca_file_read(const char *path, size_t max, char **out, size_t *outlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc;

	*out = NULL;
	*outlen = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	if (fstat(fd, &st) == -1) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((uintmax_t)st.st_size > max) {
		rc = NP_ETOOBIG;
		goto out;
	}
	/* One byte more than expected, to notice a file that grew. */
	if ((buf = malloc((size_t)st.st_size + 2)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > (size_t)st.st_size) {
			rc = -EAGAIN;
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL)
		ca_file_free_secret(buf, (size_t)st.st_size + 2);
	close(fd);
	return rc;
}

void
ca_file_free_secret(char *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

/* Makes the rename or link durable, which needs the directory synced. */
static int
ca_file_sync_dir(const char *dir)
{
	int fd, rc = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -errno;
	if (fsync(fd) == -1)
		rc = -errno;
	close(fd);
	return rc;
}

int
ca_file_write(const char *path, const void *data, size_t len, mode_t mode,
    int replace)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash, *base;
	const unsigned char *p = data;
	size_t done = 0;
	ssize_t n;
	int fd = -1, rc, n1;

	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	if (slash == NULL)
		n1 = snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		n1 = snprintf(dir, sizeof(dir), "/");
	else
		n1 = snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
		    path);
	if (n1 < 0 || (size_t)n1 >= sizeof(dir) || *base == '\0')
		return -ENAMETOOLONG;
	n1 = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, base);
	if (n1 < 0 || (size_t)n1 >= sizeof(tmp))
		return -ENAMETOOLONG;
	/* mkstemp creates the file 0600, so a key is never readable. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return -errno;
	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = -errno;
			goto out;
		}
		done += (size_t)n;
	}
	if (fchmod(fd, mode) == -1 || fsync(fd) == -1) {
		rc = -errno;
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	/* link() fails with EEXIST where O_EXCL would, and never replaces. */
	if (replace ? rename(tmp, path) == -1 : link(tmp, path) == -1) {
		rc = -errno;
		goto out;
	}
	if (!replace)
		unlink(tmp);
	tmp[0] = '\0';
	rc = ca_file_sync_dir(dir);
out:
	if (fd != -1)
		close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	return rc;
}

int
ca_file_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 || errno != ENOENT;
}
