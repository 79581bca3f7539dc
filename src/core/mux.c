/* SPDX-License-Identifier: MIT */
/* Tunnel stream framing codec; see mux.h and docs/PROTOCOL.md. */
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/mux.h"

int
mux_hdr_decode(const uint8_t *p, size_t n, struct mux_hdr *out)
{
	if (n < MUX_HDR_LEN)
		return NP_ESHORT;
	out->type = p[0];
	out->flags = p[1];
	out->len = (uint16_t)(p[2] << 8 | p[3]);
	out->stream = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
	    (uint32_t)p[6] << 8 | p[7];
	if (out->type > MUX_TYPE_MAX)
		return NP_EPROTO;
	if (out->len > (out->type == MUX_DGRAM ? MUX_MAX_DGRAM :
	    MUX_MAX_PAYLOAD))
		return NP_ETOOBIG;
	return 0;
}

void
mux_hdr_encode(uint8_t out[MUX_HDR_LEN], uint8_t type, uint8_t flags,
    uint16_t len, uint32_t stream)
{
	out[0] = type;
	out[1] = flags;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	out[4] = (uint8_t)(stream >> 24);
	out[5] = (uint8_t)(stream >> 16);
	out[6] = (uint8_t)(stream >> 8);
	out[7] = (uint8_t)stream;
}

static int
mux_is_text(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

/* u16 code + printable reason, for RESET and GOAWAY. */
static int
mux_decode_reason(struct buf_reader *r, struct mux_frame *f, const char **why)
{
	size_t n;

	if (buf_get_u16(r, &f->code) != 0 || f->code == 0) {
		*why = "reset or goaway without a code";
		return NP_EPROTO;
	}
	n = buf_reader_left(r);
	if (n > MUX_REASON_MAX || !mux_is_text(r->p, n)) {
		*why = "reason is too long or not printable";
		return NP_EPROTO;
	}
	memcpy(f->reason, r->p, n);
	f->reason[n] = '\0';
	return 0;
}

/* What follows an OPEN's rule name: nothing, a port, or a port and an
 * IPv4 or IPv6 address; the length tells which. */
static int
mux_decode_dest(struct buf_reader *r, struct mux_dest *d)
{
	size_t left = buf_reader_left(r);

	memset(d, 0, sizeof(*d));
	if (left == 0)
		return 0;
	if ((left != 2 && left != 6 && left != 18) ||
	    buf_get_u16(r, &d->port) != 0 || d->port == 0)
		return -1;
	if (left == 6)
		d->family = AF_INET;
	else if (left == 18)
		d->family = AF_INET6;
	return buf_get_bytes(r, d->addr, left - 2);
}

int
mux_decode(const uint8_t *p, size_t n, struct mux_frame *f, const char **why)
{
	struct buf_reader r;
	uint8_t nlen;
	int rc;

	memset(f, 0, sizeof(*f));
	*why = "";
	if ((rc = mux_hdr_decode(p, n, &f->hdr)) != 0) {
		*why = rc == NP_ESHORT ? "truncated header" :
		    rc == NP_ETOOBIG ? "payload longer than the type allows" :
		    "unknown frame type";
		return rc;
	}
	if (n != MUX_HDR_LEN + (size_t)f->hdr.len) {
		*why = "frame length does not match header";
		return n < MUX_HDR_LEN + (size_t)f->hdr.len ? NP_ESHORT :
		    NP_EPROTO;
	}
	buf_reader_init(&r, p + MUX_HDR_LEN, f->hdr.len);
	switch (f->hdr.type) {
	case MUX_DATA:
		if (f->hdr.stream == 0) {
			*why = "data on stream 0";
			return NP_EPROTO;
		}
		if (f->hdr.flags & ~MUX_FLAG_FIN) {
			*why = "unknown flags";
			return NP_EPROTO;
		}
		f->data = r.p;
		return 0;
	case MUX_DGRAM:
		if (f->hdr.stream == 0 || f->hdr.flags) {
			*why = "datagram on stream 0, or with flags";
			return NP_EPROTO;
		}
		f->data = r.p;
		return 0;
	case MUX_OPEN:
		if (f->hdr.stream == 0 || (f->hdr.flags & ~MUX_FLAG_DGRAM)) {
			*why = "open of stream 0, or with unknown flags";
			return NP_EPROTO;
		}
		if (buf_get_u8(&r, &nlen) != 0 || nlen == 0 ||
		    nlen > NP_NAME_MAX || buf_get_bytes(&r, f->rule,
		    nlen) != 0) {
			*why = "open with a bad rule name length";
			return NP_EPROTO;
		}
		if (mux_decode_dest(&r, &f->dest) != 0) {
			*why = "open with a bad destination";
			return NP_EPROTO;
		}
		f->rule[nlen] = '\0';
		/* A NUL inside would make the name shorter than it was sent. */
		if (strlen(f->rule) != nlen ||
		    identity_name_check(f->rule) != 0) {
			*why = "open with an invalid rule name";
			return NP_EPROTO;
		}
		return 0;
	case MUX_WINDOW:
		if (f->hdr.stream == 0 || f->hdr.flags ||
		    buf_get_u32(&r, &f->increment) != 0 ||
		    buf_reader_left(&r) != 0 || f->increment == 0 ||
		    f->increment > MUX_MAX_WINDOW) {
			*why = "bad window update";
			return NP_EPROTO;
		}
		return 0;
	case MUX_RESET:
		if (f->hdr.stream == 0 || f->hdr.flags) {
			*why = "reset of stream 0, or with flags";
			return NP_EPROTO;
		}
		return mux_decode_reason(&r, f, why);
	case MUX_PING:
		if (f->hdr.stream != 0 || (f->hdr.flags & ~MUX_FLAG_ACK) ||
		    buf_get_u64(&r, &f->ping) != 0 ||
		    buf_reader_left(&r) != 0) {
			*why = "bad ping";
			return NP_EPROTO;
		}
		return 0;
	case MUX_GOAWAY:
		if (f->hdr.stream != 0 || f->hdr.flags) {
			*why = "goaway on a stream, or with flags";
			return NP_EPROTO;
		}
		return mux_decode_reason(&r, f, why);
	case MUX_ACK:
		if (f->hdr.stream != 0 || f->hdr.flags ||
		    buf_get_u64(&r, &f->seq) != 0 ||
		    buf_reader_left(&r) != 0) {
			*why = "bad ack";
			return NP_EPROTO;
		}
		return 0;
	case MUX_RESUME:
		if (f->hdr.stream != 0 || f->hdr.flags ||
		    buf_get_u64(&r, &f->seq) != 0 ||
		    buf_get_u32(&r, &f->path_no) != 0 ||
		    buf_reader_left(&r) != 0) {
			*why = "bad resume";
			return NP_EPROTO;
		}
		return 0;
	}
	*why = "unknown frame type";
	return NP_EPROTO;
}

static int
mux_put_frame(struct buf *b, uint8_t type, uint8_t flags, uint32_t stream,
    const void *p1, size_t n1, const void *p2, size_t n2)
{
	uint8_t *dst;
	int r;

	if (n1 + n2 > (type == MUX_DGRAM ? MUX_MAX_DGRAM : MUX_MAX_PAYLOAD))
		return NP_ETOOBIG;
	if ((r = buf_reserve(b, MUX_HDR_LEN + n1 + n2, &dst)) != 0)
		return r;
	mux_hdr_encode(dst, type, flags, (uint16_t)(n1 + n2), stream);
	if (n1)
		memcpy(dst + MUX_HDR_LEN, p1, n1);
	if (n2)
		memcpy(dst + MUX_HDR_LEN + n1, p2, n2);
	buf_commit(b, MUX_HDR_LEN + n1 + n2);
	return 0;
}

static int
mux_put_open_flags(struct buf *b, uint8_t flags, uint32_t stream,
    const char *rule, const struct mux_dest *dest)
{
	uint8_t p[1 + NP_NAME_MAX + 2 + 16];
	size_t n = strnlen(rule, NP_NAME_MAX + 1), alen;

	if (identity_name_check(rule) != 0)
		return NP_ENAME;
	p[0] = (uint8_t)n;
	memcpy(p + 1, rule, n);
	n++;
	if (dest != NULL && dest->port != 0) {
		p[n++] = (uint8_t)(dest->port >> 8);
		p[n++] = (uint8_t)dest->port;
		alen = dest->family == AF_INET ? 4 :
		    dest->family == AF_INET6 ? 16 : 0;
		memcpy(p + n, dest->addr, alen);
		n += alen;
	}
	return mux_put_frame(b, MUX_OPEN, flags, stream, p, n, NULL, 0);
}

int
mux_put_open(struct buf *b, uint32_t stream, const char *rule,
    const struct mux_dest *dest)
{
	return mux_put_open_flags(b, 0, stream, rule, dest);
}

int
mux_put_open_dgram(struct buf *b, uint32_t stream, const char *rule,
    const struct mux_dest *dest)
{
	return mux_put_open_flags(b, MUX_FLAG_DGRAM, stream, rule, dest);
}

int
mux_put_dgram(struct buf *b, uint32_t stream, const void *p, size_t n)
{
	return mux_put_frame(b, MUX_DGRAM, 0, stream, p, n, NULL, 0);
}

int
mux_put_window(struct buf *b, uint32_t stream, uint32_t increment)
{
	uint8_t v[4] = { (uint8_t)(increment >> 24), (uint8_t)(increment >> 16),
	    (uint8_t)(increment >> 8), (uint8_t)increment };

	return mux_put_frame(b, MUX_WINDOW, 0, stream, v, 4, NULL, 0);
}

static int
mux_put_reason(struct buf *b, uint8_t type, uint32_t stream, uint16_t code,
    const char *reason)
{
	uint8_t c[2] = { (uint8_t)(code >> 8), (uint8_t)code };
	size_t n = reason ? strnlen(reason, MUX_REASON_MAX) : 0;

	if (n && !mux_is_text((const uint8_t *)reason, n))
		n = 0;		/* never send what the peer must refuse */
	return mux_put_frame(b, type, 0, stream, c, 2, reason, n);
}

int
mux_put_reset(struct buf *b, uint32_t stream, uint16_t code,
    const char *reason)
{
	return mux_put_reason(b, MUX_RESET, stream, code, reason);
}

int
mux_put_goaway(struct buf *b, uint16_t code, const char *reason)
{
	return mux_put_reason(b, MUX_GOAWAY, 0, code, reason);
}

int
mux_put_ping(struct buf *b, uint8_t flags, uint64_t value)
{
	uint8_t v[8];
	int i;

	for (i = 0; i < 8; i++)
		v[i] = (uint8_t)(value >> (56 - 8 * i));
	return mux_put_frame(b, MUX_PING, flags, 0, v, 8, NULL, 0);
}

int
mux_put_ack(struct buf *b, uint64_t seq)
{
	uint8_t v[8];
	int i;

	for (i = 0; i < 8; i++)
		v[i] = (uint8_t)(seq >> (56 - 8 * i));
	return mux_put_frame(b, MUX_ACK, 0, 0, v, 8, NULL, 0);
}

int
mux_put_resume(struct buf *b, uint64_t seq, uint32_t path_no)
{
	uint8_t v[12];
	int i;

	for (i = 0; i < 8; i++)
		v[i] = (uint8_t)(seq >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		v[8 + i] = (uint8_t)(path_no >> (24 - 8 * i));
	return mux_put_frame(b, MUX_RESUME, 0, 0, v, 12, NULL, 0);
}

int
mux_put_fin(struct buf *b, uint32_t stream)
{
	return mux_put_frame(b, MUX_DATA, MUX_FLAG_FIN, stream, NULL, 0, NULL,
	    0);
}

const char *
mux_reset_text(unsigned code)
{
	switch (code) {
#define MUX_RESET_CASE(name, value, text) case (value): return (text);
	MUX_RESETS(MUX_RESET_CASE)
#undef MUX_RESET_CASE
	default:
		return "unknown reason";
	}
}
