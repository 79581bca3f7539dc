/* SPDX-License-Identifier: MIT */
/*
 * A write-only BIO that appends TLS records to a struct buf.  With the
 * socket BIO, OpenSSL issues one write(2) per 16 KiB record; collecting
 * the records of a whole SSL_write() and sending them with one send(2)
 * cuts the syscalls and wake-ups of a bulk transfer many times over, for
 * one memcpy of ciphertext.  OpenSSL has no BIO that appends to a caller's
 * buffer without a second copy on the way out, hence this one.
 */
#include <pthread.h>

#include <openssl/bio.h>

#include "core/tls.h"

static BIO_METHOD	*tls_bio_method;
static pthread_once_t	 tls_bio_once = PTHREAD_ONCE_INIT;

static int
tls_bio_write(BIO *b, const char *data, int len)
{
	struct buf *out = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	/* Full means the caller broke its own cap: fail the TLS session. */
	if (buf_append(out, data, (size_t)len) != 0)
		return -1;
	return len;
}

static long
tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;	/* the owner sends the buffer when it can */
	case BIO_CTRL_WPENDING:
	case BIO_CTRL_PENDING:
		return 0;
	default:
		return 0;
	}
}

static int
tls_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void
tls_bio_init_method(void)
{
	BIO_METHOD *m;

	if ((m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "netport buffer")) == NULL)
		return;
	if (!BIO_meth_set_write(m, tls_bio_write) ||
	    !BIO_meth_set_ctrl(m, tls_bio_ctrl) ||
	    !BIO_meth_set_create(m, tls_bio_create)) {
		BIO_meth_free(m);
		return;
	}
	tls_bio_method = m;
}

BIO *
tls_bio_to_buf(struct buf *out)
{
	BIO *b;

	pthread_once(&tls_bio_once, tls_bio_init_method);
	if (tls_bio_method == NULL || (b = BIO_new(tls_bio_method)) == NULL)
		return NULL;
	BIO_set_data(b, out);
	return b;
}
