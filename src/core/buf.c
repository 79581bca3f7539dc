/* SPDX-License-Identifier: MIT */
/* Byte buffers and bounded readers; see buf.h. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/err.h"

/* Smallest allocation: avoids a string of reallocs for small messages. */
#define BUF_MIN_ALLOC	256

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_release(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}

void
buf_release_secret(struct buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->cap);
	buf_release(b);
}

void
buf_reset(struct buf *b)
{
	b->off = 0;
	b->len = 0;
}

int
buf_reserve(struct buf *b, size_t n, uint8_t **out)
{
	uint8_t *p;
	size_t want;

	*out = NULL;
	if (n > b->max || b->len > b->max - n)
		return NP_ETOOBIG;
	if (b->off + b->len + n <= b->cap)
		goto done;
	/* Slide the unread bytes to the front before growing. */
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		if (b->len + n <= b->cap)
			goto done;
	}
	want = b->cap ? b->cap : BUF_MIN_ALLOC;
	while (want < b->len + n)
		want = want > SIZE_MAX / 2 ? SIZE_MAX : want * 2;
	if (want > b->max)
		want = b->max;
	if ((p = realloc(b->data, want)) == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = want;
done:
	*out = b->data + b->off + b->len;
	return 0;
}

void
buf_commit(struct buf *b, size_t n)
{
	assert(b->off + b->len + n <= b->cap);
	b->len += n;
}

void
buf_consume(struct buf *b, size_t n)
{
	assert(n <= b->len);
	b->len -= n;
	b->off = b->len ? b->off + n : 0;
}

void
buf_truncate(struct buf *b, size_t len)
{
	assert(len <= b->len);
	b->len = len;
	if (len == 0)
		b->off = 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	uint8_t *dst;
	int r;

	if (n == 0)
		return 0;
	if ((r = buf_reserve(b, n, &dst)) != 0)
		return r;
	memcpy(dst, p, n);
	buf_commit(b, n);
	return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_append(b, &v, 1);
}

int
buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	return buf_append(b, x, sizeof(x));
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };

	return buf_append(b, x, sizeof(x));
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
	int r;

	if ((r = buf_put_u32(b, (uint32_t)(v >> 32))) != 0)
		return r;
	return buf_put_u32(b, (uint32_t)v);
}

int
buf_peek_u8(const struct buf *b, size_t at, uint8_t *v)
{
	if (at >= b->len)
		return NP_ESHORT;
	*v = b->data[b->off + at];
	return 0;
}

int
buf_peek_u16(const struct buf *b, size_t at, uint16_t *v)
{
	const uint8_t *p;

	if (b->len < 2 || at > b->len - 2)
		return NP_ESHORT;
	p = b->data + b->off + at;
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return 0;
}

int
buf_peek_u32(const struct buf *b, size_t at, uint32_t *v)
{
	const uint8_t *p;

	if (b->len < 4 || at > b->len - 4)
		return NP_ESHORT;
	p = b->data + b->off + at;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	return 0;
}

void
buf_reader_init(struct buf_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = p ? len : 0;
}

int
buf_get_ref(struct buf_reader *r, size_t n, const uint8_t **out)
{
	if (n > r->len)
		return NP_ESHORT;
	*out = r->p;
	r->p += n;
	r->len -= n;
	return 0;
}

int
buf_skip(struct buf_reader *r, size_t n)
{
	const uint8_t *p;

	return buf_get_ref(r, n, &p);
}

int
buf_get_bytes(struct buf_reader *r, void *out, size_t n)
{
	const uint8_t *p;
	int rc;

	if ((rc = buf_get_ref(r, n, &p)) != 0)
		return rc;
	if (n)
		memcpy(out, p, n);
	return 0;
}

int
buf_get_u8(struct buf_reader *r, uint8_t *v)
{
	return buf_get_bytes(r, v, 1);
}

int
buf_get_u16(struct buf_reader *r, uint16_t *v)
{
	const uint8_t *p;
	int rc;

	if ((rc = buf_get_ref(r, 2, &p)) != 0)
		return rc;
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return 0;
}

int
buf_get_u32(struct buf_reader *r, uint32_t *v)
{
	const uint8_t *p;
	int rc;

	if ((rc = buf_get_ref(r, 4, &p)) != 0)
		return rc;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	return 0;
}

int
buf_get_u64(struct buf_reader *r, uint64_t *v)
{
	uint32_t hi, lo;
	int rc;

	if (r->len < 8)
		return NP_ESHORT;
	if ((rc = buf_get_u32(r, &hi)) != 0 || (rc = buf_get_u32(r, &lo)) != 0)
		return rc;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int
buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	uint8_t *dst;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NP_EFAIL;
	/* vsnprintf writes a NUL too: reserve it, commit without it. */
	if ((r = buf_reserve(b, (size_t)n + 1, &dst)) != 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_commit(b, (size_t)n);
	return 0;
}
