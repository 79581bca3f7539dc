/* SPDX-License-Identifier: MIT */
/* The CA directory: lock, key, certificate, index; see ca_store.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca/ca_file.h"
#include "ca/ca_index.h"
#include "ca/ca_store.h"
#include "core/err.h"
#include "core/keyfile.h"

/* The index never legitimately exceeds its entry cap of full lines. */
#define CA_STORE_INDEX_MAX						\
	((size_t)CA_INDEX_MAX_ENTRIES * (CA_INDEX_LINE_MAX + 1))
/* A PEM EC key or certificate is well under this. */
#define CA_STORE_PEM_MAX	(64 * 1024)
/* "18446744073709551615\n" */
#define CA_STORE_CRLNUMBER_MAX	32

int
ca_store_path(const struct ca_store *st, const char *file, char *out,
    size_t size)
{
	int n;

	n = snprintf(out, size, "%s/%s", st->dir, file);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

void
ca_store_free(struct ca_store *st)
{
	if (st == NULL)
		return;
	if (st->dirfd != -1)
		close(st->dirfd);	/* drops the flock */
	X509_free(st->cert);
	EVP_PKEY_free(st->key);
	ca_index_free(&st->index);
	free(st->dir);
	free(st);
}

/* Allocates a store for dir and takes the directory lock. */
static int
ca_store_lock(const char *dir, int exclusive, struct ca_store **out,
    char *err, size_t errsize)
{
	struct ca_store *st;
	int rc;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return -ENOMEM;
	st->dirfd = -1;
	ca_index_init(&st->index);
	if ((st->dir = strdup(dir)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		rc = -errno;
		if (rc == -ENOENT) {
			rc = NP_ENOTFOUND;
			np_errf(err, errsize, "%s: no such directory; "
			    "create a CA with 'netport ca init --dir %s'",
			    dir, dir);
		} else
			np_errf(err, errsize, "%s: %s", dir,
			    strerror(-rc));
		goto out;
	}
	/* Blocks while another `netport ca` changes the directory. */
	while (flock(st->dirfd, exclusive ? LOCK_EX : LOCK_SH) == -1) {
		if (errno != EINTR) {
			rc = -errno;
			np_errf(err, errsize, "%s: cannot lock: %s", dir,
			    strerror(-rc));
			goto out;
		}
	}
	*out = st;
	st = NULL;
	rc = 0;
out:
	ca_store_free(st);
	return rc;
}

static int
ca_store_no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

/* Loads ca.key and ca.crt and checks that they are a pair. */
static int
ca_store_load_signer(struct ca_store *st, char *err, size_t errsize)
{
	char kpath[PATH_MAX], cpath[PATH_MAX];
	char *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	unsigned mode;
	int rc;

	if ((rc = ca_store_path(st, CA_STORE_KEY, kpath, sizeof(kpath))) ||
	    (rc = ca_store_path(st, CA_STORE_CERT, cpath, sizeof(cpath)))) {
		np_errf(err, errsize, "%s: path too long", st->dir);
		goto out;
	}
	/* Signing with a key others could read would vouch for nothing. */
	if ((rc = keyfile_check(kpath, &mode)) == -EPERM) {
		np_errf(err, errsize, "%s is open to group or others (mode "
		    "%04o); expected mode 0600 (chmod 600 %s)", kpath, mode,
		    kpath);
		goto out;
	}
	if ((rc = ca_file_read(kpath, CA_STORE_PEM_MAX, &pem, &len)) != 0) {
		np_errf(err, errsize, "%s: %s", kpath, np_strerror(rc));
		goto out;
	}
	ERR_clear_error();
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		rc = -ENOMEM;
		np_errf(err, errsize, "%s", strerror(ENOMEM));
		goto out;
	}
	st->key = PEM_read_bio_PrivateKey(bio, NULL, ca_store_no_passphrase_cb,
	    NULL);
	if (st->key == NULL) {
		rc = NP_ECRYPTO;
		np_errf(err, errsize, "%s: not an unencrypted PEM "
		    "private key", kpath);
		goto out;
	}
	BIO_free(bio);
	bio = NULL;
	ca_file_free_secret(pem, len);
	pem = NULL;
	if ((rc = ca_file_read(cpath, CA_STORE_PEM_MAX, &pem, &len)) != 0) {
		np_errf(err, errsize, "%s: %s", cpath, np_strerror(rc));
		goto out;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		rc = -ENOMEM;
		np_errf(err, errsize, "%s", strerror(ENOMEM));
		goto out;
	}
	if ((st->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		rc = NP_ECRYPTO;
		np_errf(err, errsize, "%s: not a PEM certificate", cpath);
		goto out;
	}
	if (X509_check_private_key(st->cert, st->key) != 1) {
		rc = NP_ECRYPTO;
		np_errf(err, errsize, "%s does not match %s", kpath,
		    cpath);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	BIO_free(bio);
	ca_file_free_secret(pem, len);
	return rc;
}

int
ca_store_open(const char *dir, unsigned flags, struct ca_store **out,
    char *err, size_t errsize)
{
	char path[PATH_MAX];
	struct ca_store *st = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = ca_store_lock(dir, (flags & CA_STORE_WRITE) != 0, &st, err,
	    errsize)) != 0)
		goto out;
	if ((rc = ca_store_path(st, CA_STORE_INDEX, path, sizeof(path)))) {
		np_errf(err, errsize, "%s: path too long", dir);
		goto out;
	}
	rc = ca_file_read(path, CA_STORE_INDEX_MAX, &text, &len);
	if (rc == -ENOENT) {
		rc = NP_ENOTFOUND;
		np_errf(err, errsize, "%s: not a CA directory (no %s); "
		    "create a CA with 'netport ca init --dir %s'", dir,
		    CA_STORE_INDEX, dir);
		goto out;
	} else if (rc != 0) {
		np_errf(err, errsize, "%s: %s", path, np_strerror(rc));
		goto out;
	}
	if ((rc = ca_index_parse(&st->index, text, len, path, err,
	    errsize)) != 0)
		goto out;
	if ((flags & CA_STORE_SIGN) &&
	    (rc = ca_store_load_signer(st, err, errsize)) != 0)
		goto out;
	*out = st;
	st = NULL;
	rc = 0;
out:
	free(text);
	ca_store_free(st);
	return rc;
}

/* mkdir that accepts an existing directory. */
static int
ca_store_mkdir(const char *path, mode_t mode)
{
	struct stat sb;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &sb) == -1)
		return -errno;
	return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
}

int
ca_store_create(const char *dir, int force, struct ca_store **out,
    char *err, size_t errsize)
{
	char path[PATH_MAX];
	struct ca_store *st = NULL;
	int rc;

	*out = NULL;
	/* The directory holds the CA key: nobody else needs to look in. */
	if ((rc = ca_store_mkdir(dir, 0700)) != 0) {
		np_errf(err, errsize, "%s: cannot create: %s", dir,
		    strerror(-rc));
		goto out;
	}
	if ((rc = ca_store_lock(dir, 1, &st, err, errsize)) != 0)
		goto out;
	if ((rc = ca_store_path(st, CA_STORE_KEY, path, sizeof(path)))) {
		np_errf(err, errsize, "%s: path too long", dir);
		goto out;
	}
	if (!force && ca_file_exists(path)) {
		rc = NP_EEXIST;
		np_errf(err, errsize, "%s exists: %s already holds a CA; "
		    "use --force to replace it (certificates it issued then "
		    "stop verifying)", path, dir);
		goto out;
	}
	if ((rc = ca_store_path(st, CA_STORE_CERTS, path, sizeof(path))) ||
	    (rc = ca_store_mkdir(path, 0700))) {
		np_errf(err, errsize, "%s: cannot create: %s", path,
		    strerror(-rc));
		goto out;
	}
	*out = st;
	st = NULL;
	rc = 0;
out:
	ca_store_free(st);
	return rc;
}

int
ca_store_save_index(const struct ca_store *st, char *err, size_t errsize)
{
	char path[PATH_MAX];
	char *text = NULL;
	size_t len;
	int rc;

	if ((rc = ca_store_path(st, CA_STORE_INDEX, path, sizeof(path)))) {
		np_errf(err, errsize, "%s: path too long", st->dir);
		goto out;
	}
	if ((rc = ca_index_format(&st->index, &text, &len)) != 0) {
		np_errf(err, errsize, "%s", strerror(-rc));
		goto out;
	}
	if ((rc = ca_file_write(path, text, len, 0644, 1)) != 0) {
		np_errf(err, errsize, "%s: %s", path, strerror(-rc));
		goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

int
ca_store_next_crl_number(const struct ca_store *st, uint64_t *out,
    char *err, size_t errsize)
{
	char path[PATH_MAX], line[CA_STORE_CRLNUMBER_MAX];
	char *text = NULL, *end;
	unsigned long long n = 0;
	size_t len = 0;
	int rc;

	*out = 0;
	if ((rc = ca_store_path(st, CA_STORE_CRLNUMBER, path,
	    sizeof(path)))) {
		np_errf(err, errsize, "%s: path too long", st->dir);
		goto out;
	}
	rc = ca_file_read(path, CA_STORE_CRLNUMBER_MAX, &text, &len);
	if (rc == 0) {
		errno = 0;
		if (len < 2 || text[len - 1] != '\n' || text[0] < '0' ||
		    text[0] > '9' || ((n = strtoull(text, &end, 10)),
		    errno != 0) || end != text + len - 1 ||
		    n == UINT64_MAX) {
			rc = NP_ECONFIG;
			np_errf(err, errsize, "%s:1: expected the "
			    "decimal number of the last CRL and a newline",
			    path);
			goto out;
		}
	} else if (rc == NP_ETOOBIG) {
		rc = NP_ECONFIG;
		np_errf(err, errsize, "%s:1: expected the decimal "
		    "number of the last CRL and a newline", path);
		goto out;
	} else if (rc != -ENOENT) {
		np_errf(err, errsize, "%s: %s", path, np_strerror(rc));
		goto out;
	}
	n++;
	snprintf(line, sizeof(line), "%llu\n", n);
	if ((rc = ca_file_write(path, line, strlen(line), 0644, 1)) != 0) {
		np_errf(err, errsize, "%s: %s", path, strerror(-rc));
		goto out;
	}
	*out = (uint64_t)n;
	rc = 0;
out:
	free(text);
	return rc;
}

int
ca_store_write_key(const char *path, EVP_PKEY *key, int replace)
{
	BIO *bio = NULL;
	char *pem;
	long len;
	int rc;

	/* Secure memory is zeroed when the BIO is freed. */
	ERR_clear_error();
	if ((bio = BIO_new(BIO_s_secmem())) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		rc = NP_ECRYPTO;
		goto out;
	}
	rc = ca_file_write(path, pem, (size_t)len, 0600, replace);
out:
	ERR_clear_error();
	BIO_free(bio);
	return rc;
}

int
ca_store_write_cert(const char *path, X509 *cert, int replace)
{
	BIO *bio = NULL;
	char *pem;
	long len;
	int rc;

	ERR_clear_error();
	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (!PEM_write_bio_X509(bio, cert) ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		rc = NP_ECRYPTO;
		goto out;
	}
	rc = ca_file_write(path, pem, (size_t)len, 0644, replace);
out:
	ERR_clear_error();
	BIO_free(bio);
	return rc;
}
