/* SPDX-License-Identifier: MIT */
/*
 * Byte buffers.
 *
 * struct buf is a growable FIFO of bytes with a hard maximum: data is
 * appended at the tail and consumed from the head, and growing past `max`
 * fails with NP_ETOOBIG instead of allocating.  Writers append big-endian
 * integers; peekers read at an offset without consuming.
 *
 * struct buf_reader is a cursor over borrowed bytes for the pure decoders:
 * every getter checks the remaining length first and returns NP_ESHORT
 * without moving when the bytes are not there, so a decoder never reads past
 * the end of its input.
 *
 * Neither is thread-safe; a buffer belongs to the one thread that owns it.
 */
#ifndef NETPORT_CORE_BUF_H
#define NETPORT_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t	*data;		/* owned; NULL until the first append */
	size_t	 off;		/* start of the unread bytes */
	size_t	 len;		/* number of unread bytes */
	size_t	 cap;		/* bytes allocated at data */
	size_t	 max;		/* hard limit on len */
};

/* Initialises an empty buffer that may hold at most max bytes. */
void	buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void	buf_release(struct buf *b);
/* Like buf_release, but zeroes the storage first (keys, tickets). */
void	buf_release_secret(struct buf *b);

static inline size_t
buf_len(const struct buf *b)
{
	return b->len;
}

/* Bytes buf_reserve() can hand out without sliding or growing. */
static inline size_t
buf_tail_room(const struct buf *b)
{
	return b->cap - b->off - b->len;
}

/* The unread bytes; valid until the next call that changes b. */
static inline const uint8_t *
buf_data(const struct buf *b)
{
	return b->data ? b->data + b->off : NULL;
}

/* The unread bytes, writable (to patch a length into a header). */
static inline uint8_t *
buf_mutable(struct buf *b)
{
	return b->data ? b->data + b->off : NULL;
}

/*
 * Makes room for n more bytes at the tail and points *out at it.  Returns 0,
 * NP_ETOOBIG when len + n would exceed max, or -ENOMEM.  The space counts as
 * data only after buf_commit().
 */
int	buf_reserve(struct buf *b, size_t n, uint8_t **out)
	    __attribute__((warn_unused_result));
/* Adds n bytes written into reserved space; n must not exceed the reserve. */
void	buf_commit(struct buf *b, size_t n);
/* Drops n bytes from the head; n must not exceed buf_len(). */
void	buf_consume(struct buf *b, size_t n);
/* Drops bytes from the tail so that len remain; len <= buf_len(). */
void	buf_truncate(struct buf *b, size_t len);
/* Drops everything. */
void	buf_reset(struct buf *b);

int	buf_append(struct buf *b, const void *p, size_t n)
	    __attribute__((warn_unused_result));
/* Appends formatted text (no NUL); 0 or a buf error. */
int	buf_appendf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), warn_unused_result));
int	buf_put_u8(struct buf *b, uint8_t v) __attribute__((warn_unused_result));
int	buf_put_u16(struct buf *b, uint16_t v) __attribute__((warn_unused_result));
int	buf_put_u32(struct buf *b, uint32_t v) __attribute__((warn_unused_result));
int	buf_put_u64(struct buf *b, uint64_t v) __attribute__((warn_unused_result));

/* Read big-endian integers at offset `at` of the unread bytes; NP_ESHORT. */
int	buf_peek_u8(const struct buf *b, size_t at, uint8_t *v);
int	buf_peek_u16(const struct buf *b, size_t at, uint16_t *v);
int	buf_peek_u32(const struct buf *b, size_t at, uint32_t *v);

struct buf_reader {
	const uint8_t	*p;	/* borrowed */
	size_t		 len;
};

void	buf_reader_init(struct buf_reader *r, const void *p, size_t len);

static inline size_t
buf_reader_left(const struct buf_reader *r)
{
	return r->len;
}

int	buf_get_u8(struct buf_reader *r, uint8_t *v);
int	buf_get_u16(struct buf_reader *r, uint16_t *v);
int	buf_get_u32(struct buf_reader *r, uint32_t *v);
int	buf_get_u64(struct buf_reader *r, uint64_t *v);
/* Copies n bytes out. */
int	buf_get_bytes(struct buf_reader *r, void *out, size_t n);
/* Borrows n bytes: *out points into the reader's input. */
int	buf_get_ref(struct buf_reader *r, size_t n, const uint8_t **out);
/* Skips n bytes. */
int	buf_skip(struct buf_reader *r, size_t n);

#endif
