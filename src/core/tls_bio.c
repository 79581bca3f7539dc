/* SPDX-License-Identifier: MIT */
/*
 * The BIOs under a tunnel's TLS session.
 *
 * Writing: a BIO that appends TLS records to a struct buf.  With the
 * socket BIO, OpenSSL issues one write(2) per 16 KiB record; collecting
 * the records of a whole SSL_write() and sending them with one send(2)
 * cuts the syscalls and wake-ups of a bulk transfer many times over, for
 * one memcpy of ciphertext.  OpenSSL has no BIO that appends to a caller's
 * buffer without a second copy on the way out, hence this one.
 *
 * Reading: a BIO that serves OpenSSL from a large buffer filled by one
 * recv(2) (struct tls_rx, see tls.h).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>

#include "core/tls.h"

static BIO_METHOD	*tls_bio_method;
static BIO_METHOD	*tls_rx_method;
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

void
tls_rx_init(struct tls_rx *rx, int fd, size_t max)
{
	buf_init(&rx->buf, max);
	rx->fd = fd;
	rx->drained = 0;
	rx->eof = 0;
}

/*
 * Refills the empty buffer with one recv() of as much as it holds.
 * Returns 1 (bytes are there), 0 (EOF), -1 with the retry flag set (the
 * socket is empty) or -1 without it (errno says why).
 */
static int
tls_rx_fill(BIO *b, struct tls_rx *rx)
{
	size_t room = rx->buf.max;
	uint8_t *p;
	ssize_t n;

	if (rx->eof)
		return 0;
	if (rx->drained) {
		BIO_set_retry_read(b);
		return -1;
	}
	if (buf_reserve(&rx->buf, room, &p) != 0) {
		errno = ENOMEM;
		return -1;
	}
	do
		n = recv(rx->fd, p, room, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		rx->drained = 1;
		BIO_set_retry_read(b);
		return -1;
	}
	if (n < 0)
		return -1;
	if (n == 0) {
		rx->eof = 1;
		return 0;
	}
	buf_commit(&rx->buf, (size_t)n);
	/* Short: the socket is empty now; wait for its next read event. */
	if ((size_t)n < room)
		rx->drained = 1;
	return 1;
}

static int
tls_rx_read(BIO *b, char *out, int len)
{
	struct tls_rx *rx = BIO_get_data(b);
	size_t n;
	int r;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (buf_len(&rx->buf) == 0 && (r = tls_rx_fill(b, rx)) <= 0)
		return r;
	n = buf_len(&rx->buf) < (size_t)len ? buf_len(&rx->buf) : (size_t)len;
	memcpy(out, buf_data(&rx->buf), n);
	buf_consume(&rx->buf, n);
	return (int)n;
}

static long
tls_rx_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_rx *rx = BIO_get_data(b);

	switch (cmd) {
	case BIO_CTRL_EOF:
		/* OpenSSL tells a truncated session from a failed read by it. */
		return rx->eof && buf_len(&rx->buf) == 0;
	case BIO_CTRL_PENDING:
		return (long)buf_len(&rx->buf);
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0;
	}
}

static BIO_METHOD *
tls_bio_new_method(const char *name, int (*rd)(BIO *, char *, int),
    int (*wr)(BIO *, const char *, int), long (*ctrl)(BIO *, int, long,
    void *))
{
	BIO_METHOD *m;

	if ((m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    name)) == NULL)
		return NULL;
	if ((rd && !BIO_meth_set_read(m, rd)) ||
	    (wr && !BIO_meth_set_write(m, wr)) ||
	    !BIO_meth_set_ctrl(m, ctrl) ||
	    !BIO_meth_set_create(m, tls_bio_create)) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

static void
tls_bio_init_method(void)
{
	tls_bio_method = tls_bio_new_method("netport buffer", NULL,
	    tls_bio_write, tls_bio_ctrl);
	tls_rx_method = tls_bio_new_method("netport receive buffer",
	    tls_rx_read, NULL, tls_rx_ctrl);
}

static BIO *
tls_bio_new(BIO_METHOD *const *method, void *data)
{
	BIO *b;

	pthread_once(&tls_bio_once, tls_bio_init_method);
	if (*method == NULL || (b = BIO_new(*method)) == NULL)
		return NULL;
	BIO_set_data(b, data);
	return b;
}

BIO *
tls_bio_to_buf(struct buf *out)
{
	return tls_bio_new(&tls_bio_method, out);
}

BIO *
tls_bio_from_rx(struct tls_rx *rx)
{
	return tls_bio_new(&tls_rx_method, rx);
}
