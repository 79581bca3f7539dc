/* SPDX-License-Identifier: MIT */
/* Control protocol v1 codec; see proto.h and docs/PROTOCOL.md. */
#include <stddef.h>
#include <string.h>

#include "core/err.h"
#include "core/proto.h"

enum proto_kind {
	PK_U8, PK_U16, PK_U32, PK_U64, PK_STR, PK_FIXED, PK_BYTES, PK_STRS,
};

/* Attribute indexes (bit positions in the per-type masks). */
enum {
#define PROTO_ATTR_INDEX(tag, f, kind, lim) PA_##f,
	PROTO_ATTRS(PROTO_ATTR_INDEX)
#undef PROTO_ATTR_INDEX
	PA_COUNT
};

struct proto_attr_spec {
	uint8_t		 tag;
	enum proto_kind	 kind;
	size_t		 offset;
	size_t		 limit;		/* STR/STRS: max chars; FIXED: exact */
	size_t		 len_offset;	/* BYTES: f_len; STRS: f_n */
	const char	*name;
};

#define PROTO_LEN_OFF_U8(f)	0
#define PROTO_LEN_OFF_U16(f)	0
#define PROTO_LEN_OFF_U32(f)	0
#define PROTO_LEN_OFF_U64(f)	0
#define PROTO_LEN_OFF_STR(f)	0
#define PROTO_LEN_OFF_FIXED(f)	0
#define PROTO_LEN_OFF_BYTES(f)	offsetof(struct proto_msg, f##_len)
#define PROTO_LEN_OFF_STRS(f)	offsetof(struct proto_msg, f##_n)

static const struct proto_attr_spec proto_attrs[PA_COUNT] = {
#define PROTO_ATTR_ROW(tag, f, kind, lim)				\
	[PA_##f] = { (tag), PK_##kind, offsetof(struct proto_msg, f),	\
	    (lim), PROTO_LEN_OFF_##kind(f), #f },
	PROTO_ATTRS(PROTO_ATTR_ROW)
#undef PROTO_ATTR_ROW
};

#define A(f)	(UINT64_C(1) << PA_##f)

struct proto_type_spec {
	const char	*name;
	uint64_t	 allowed;
	uint64_t	 required;
};

/* What each message may and must carry (docs/PROTOCOL.md, "Messages"). */
static const struct proto_type_spec proto_types[PROTO_TYPE_MAX + 1] = {
	[PROTO_HELLO] = { "HELLO",
	    A(software) | A(advertise) | A(capacity) | A(candidates),
	    A(software) },
	[PROTO_WELCOME] = { "WELCOME",
	    A(keepalive_ms) | A(dead_ms) | A(time_ms) | A(ticket_key) |
	    A(stun_port) | A(spread_ms),
	    A(keepalive_ms) | A(dead_ms) | A(time_ms) },
	[PROTO_PING] = { "PING", A(nonce) | A(time_ms), A(nonce) },
	[PROTO_PONG] = { "PONG", A(nonce) | A(time_ms), A(nonce) },
	[PROTO_ERROR] = { "ERROR", A(code) | A(message) | A(spread_ms),
	    A(code) },
	[PROTO_RULES_BEGIN] = { "RULES_BEGIN",
	    A(generation) | A(count), A(generation) | A(count) },
	[PROTO_RULE] = { "RULE",
	    A(rule) | A(side) | A(ipproto) | A(listen) | A(peer) |
	    A(target) | A(expires) | A(mode) | A(direct_off) | A(ports) |
	    A(to_range) | A(as_range),
	    A(rule) | A(side) | A(ipproto) | A(peer) },
	[PROTO_RULES_END] = { "RULES_END", A(generation), A(generation) },
	[PROTO_TUNNEL_REQUEST] = { "TUNNEL_REQUEST", A(rule) | A(resume),
	    A(rule) },
	[PROTO_TUNNEL_GRANT] = { "TUNNEL_GRANT",
	    A(tunnel_id) | A(relay) | A(relay_name) | A(ticket) | A(peer) |
	    A(side) | A(rule) | A(expires) | A(resume) | A(candidates) |
	    A(direct_off),
	    A(tunnel_id) | A(relay) | A(relay_name) | A(ticket) | A(peer) |
	    A(side) | A(expires) },
	[PROTO_RELAY_LOAD] = { "RELAY_LOAD",
	    A(tunnels) | A(bytes) | A(capacity), A(tunnels) },
	[PROTO_PEER_REVOKED] = { "PEER_REVOKED", A(peer), A(peer) },
	[PROTO_CANDIDATES] = { "CANDIDATES", A(candidates), 0 },
};

static const struct proto_type_spec *
proto_type_spec(unsigned type)
{
	if (type == 0 || type > PROTO_TYPE_MAX || !proto_types[type].name)
		return NULL;
	return &proto_types[type];
}

const char *
proto_type_name(unsigned type)
{
	const struct proto_type_spec *ts = proto_type_spec(type);

	return ts ? ts->name : "UNKNOWN";
}

const char *
proto_error_name(unsigned code)
{
	switch (code) {
#define PROTO_ERR_NAME(name, value, text) case (value): return #name;
	PROTO_ERRORS(PROTO_ERR_NAME)
#undef PROTO_ERR_NAME
	default:
		return "UNKNOWN";
	}
}

const char *
proto_error_text(unsigned code)
{
	switch (code) {
#define PROTO_ERR_CASE(name, value, text) case (value): return (text);
	PROTO_ERRORS(PROTO_ERR_CASE)
#undef PROTO_ERR_CASE
	default:
		return "unknown error";
	}
}

static int
proto_attr_index(uint8_t tag)
{
	int i;

	for (i = 0; i < PA_COUNT; i++)
		if (proto_attrs[i].tag == tag)
			return i;
	return -1;
}

int
proto_hdr_decode(const uint8_t *p, size_t n, struct proto_hdr *out)
{
	struct buf_reader r;

	buf_reader_init(&r, p, n);
	if (buf_get_u8(&r, &out->version) != 0 ||
	    buf_get_u8(&r, &out->type) != 0 ||
	    buf_get_u16(&r, &out->len) != 0 ||
	    buf_get_u32(&r, &out->id) != 0)
		return NP_ESHORT;
	if (out->version != PROTO_VERSION)
		return NP_EVERSION;
	if (out->len > PROTO_MAX_PAYLOAD)
		return NP_ETOOBIG;
	return 0;
}

/* Printable ASCII only: values end up in logs and in file names. */
static int
proto_is_text(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

static int
proto_decode_attr(const struct proto_attr_spec *as, const uint8_t *v,
    uint16_t len, struct proto_msg *m, const char **why)
{
	uint8_t *field = (uint8_t *)m + as->offset;
	struct buf_reader r;
	size_t *n;

	buf_reader_init(&r, v, len);
	switch (as->kind) {
	case PK_U8:
		if (len != 1)
			goto badlen;
		*field = v[0];
		return 0;
	case PK_U16:
		if (len != 2)
			goto badlen;
		return buf_get_u16(&r, (uint16_t *)(void *)field);
	case PK_U32:
		if (len != 4)
			goto badlen;
		return buf_get_u32(&r, (uint32_t *)(void *)field);
	case PK_U64:
		if (len != 8)
			goto badlen;
		return buf_get_u64(&r, (uint64_t *)(void *)field);
	case PK_FIXED:
		if (len != as->limit)
			goto badlen;
		memcpy(field, v, len);
		return 0;
	case PK_BYTES:
		if (len == 0 || len > as->limit)
			goto badlen;
		memcpy(field, v, len);
		*(size_t *)(void *)((uint8_t *)m + as->len_offset) = len;
		return 0;
	case PK_STR:
		if (len == 0 || len > as->limit)
			goto badlen;
		if (!proto_is_text(v, len))
			goto badtext;
		memcpy(field, v, len);
		field[len] = '\0';
		return 0;
	case PK_STRS:
		if (len == 0 || len > as->limit)
			goto badlen;
		if (!proto_is_text(v, len))
			goto badtext;
		n = (size_t *)(void *)((uint8_t *)m + as->len_offset);
		if (*n >= PROTO_MAX_ADVERTISE) {
			*why = "too many repeated attributes";
			return NP_EPROTO;
		}
		field += *n * (as->limit + 1);
		memcpy(field, v, len);
		field[len] = '\0';
		(*n)++;
		return 0;
	}
badlen:
	*why = "attribute has a bad length";
	return NP_EPROTO;
badtext:
	*why = "string attribute is not printable ASCII";
	return NP_EPROTO;
}

int
proto_decode(const uint8_t *p, size_t n, struct proto_msg *out,
    const char **why)
{
	const struct proto_type_spec *ts;
	struct proto_hdr h;
	struct buf_reader r;
	const uint8_t *v;
	uint64_t seen = 0;
	uint16_t len;
	uint8_t tag;
	int i, rc;

	*why = "";
	memset(out, 0, sizeof(*out));
	if ((rc = proto_hdr_decode(p, n, &h)) != 0) {
		*why = rc == NP_ESHORT ? "truncated header" :
		    rc == NP_EVERSION ? "unsupported version" :
		    "payload too long";
		return rc;
	}
	if (n != PROTO_HDR_LEN + (size_t)h.len) {
		*why = "frame length does not match header";
		return n < PROTO_HDR_LEN + (size_t)h.len ? NP_ESHORT : NP_EPROTO;
	}
	if ((ts = proto_type_spec(h.type)) == NULL) {
		*why = "unknown message type";
		return NP_EPROTO;
	}
	out->type = h.type;
	out->id = h.id;
	buf_reader_init(&r, p + PROTO_HDR_LEN, h.len);
	while (buf_reader_left(&r) > 0) {
		if (buf_get_u8(&r, &tag) != 0 || buf_get_u16(&r, &len) != 0 ||
		    buf_get_ref(&r, len, &v) != 0) {
			*why = "truncated attribute";
			return NP_EPROTO;
		}
		if ((i = proto_attr_index(tag)) < 0)
			continue;	/* unknown tag: from a newer peer */
		if (!(ts->allowed & (UINT64_C(1) << i))) {
			*why = "attribute not allowed in this message";
			return NP_EPROTO;
		}
		if ((seen & (UINT64_C(1) << i)) &&
		    proto_attrs[i].kind != PK_STRS) {
			*why = "repeated attribute";
			return NP_EPROTO;
		}
		seen |= UINT64_C(1) << i;
		if ((rc = proto_decode_attr(&proto_attrs[i], v, len, out,
		    why)) != 0)
			return NP_EPROTO;
	}
	if ((ts->required & seen) != ts->required) {
		*why = "required attribute missing";
		return NP_EPROTO;
	}
	return 0;
}

/* Appends one attribute; the payload length is checked by the caller. */
static int
proto_put_attr(struct buf *out, uint8_t tag, const void *v, size_t len)
{
	int r;

	if (len > UINT16_MAX)
		return NP_EPROTO;
	if ((r = buf_put_u8(out, tag)) != 0 ||
	    (r = buf_put_u16(out, (uint16_t)len)) != 0 ||
	    (r = buf_append(out, v, len)) != 0)
		return r;
	return 0;
}

static int
proto_encode_attr(const struct proto_attr_spec *as, const struct proto_msg *m,
    int required, struct buf *out)
{
	const uint8_t *field = (const uint8_t *)m + as->offset;
	uint8_t tmp[8];
	uint64_t u;
	size_t len, i, n;
	int r;

	switch (as->kind) {
	case PK_U8:
		u = field[0];
		len = 1;
		goto integer;
	case PK_U16:
		u = *(const uint16_t *)(const void *)field;
		len = 2;
		goto integer;
	case PK_U32:
		u = *(const uint32_t *)(const void *)field;
		len = 4;
		goto integer;
	case PK_U64:
		u = *(const uint64_t *)(const void *)field;
		len = 8;
		goto integer;
	case PK_FIXED:
		for (i = 0; i < as->limit && field[i] == 0; i++)
			;
		if (i == as->limit && !required)
			return 0;
		return proto_put_attr(out, as->tag, field, as->limit);
	case PK_BYTES:
		len = *(const size_t *)(const void *)
		    ((const uint8_t *)m + as->len_offset);
		if (len == 0 && !required)
			return 0;
		if (len == 0 || len > as->limit)
			return NP_EPROTO;
		return proto_put_attr(out, as->tag, field, len);
	case PK_STR:
		len = strnlen((const char *)field, as->limit + 1);
		if (len == 0 && !required)
			return 0;
		if (len == 0 || len > as->limit || !proto_is_text(field, len))
			return NP_EPROTO;
		return proto_put_attr(out, as->tag, field, len);
	case PK_STRS:
		n = *(const size_t *)(const void *)
		    ((const uint8_t *)m + as->len_offset);
		if (n > PROTO_MAX_ADVERTISE || (n == 0 && required))
			return NP_EPROTO;
		for (i = 0; i < n; i++) {
			const uint8_t *s = field + i * (as->limit + 1);

			len = strnlen((const char *)s, as->limit + 1);
			if (len == 0 || len > as->limit ||
			    !proto_is_text(s, len))
				return NP_EPROTO;
			if ((r = proto_put_attr(out, as->tag, s, len)) != 0)
				return r;
		}
		return 0;
	}
	return NP_EPROTO;
integer:
	if (u == 0 && !required)
		return 0;
	for (i = 0; i < len; i++)
		tmp[i] = (uint8_t)(u >> (8 * (len - 1 - i)));
	return proto_put_attr(out, as->tag, tmp, len);
}

int
proto_encode(const struct proto_msg *m, struct buf *out)
{
	const struct proto_type_spec *ts;
	size_t start, payload;
	uint8_t *hdr;
	int i, r;

	if ((ts = proto_type_spec(m->type)) == NULL)
		return NP_EPROTO;
	start = buf_len(out);
	if ((r = buf_put_u8(out, PROTO_VERSION)) != 0 ||
	    (r = buf_put_u8(out, m->type)) != 0 ||
	    (r = buf_put_u16(out, 0)) != 0 ||
	    (r = buf_put_u32(out, m->id)) != 0)
		goto fail;
	for (i = 0; i < PA_COUNT; i++) {
		if (!(ts->allowed & (UINT64_C(1) << i)))
			continue;
		if ((r = proto_encode_attr(&proto_attrs[i], m,
		    (ts->required & (UINT64_C(1) << i)) != 0, out)) != 0)
			goto fail;
	}
	payload = buf_len(out) - start - PROTO_HDR_LEN;
	if (payload > PROTO_MAX_PAYLOAD) {
		r = NP_ETOOBIG;
		goto fail;
	}
	/* Patch the payload length into the header written above. */
	hdr = buf_mutable(out) + start;
	hdr[2] = (uint8_t)(payload >> 8);
	hdr[3] = (uint8_t)payload;
	return 0;
fail:
	/* Drop the partial frame: the buffer holds only whole frames. */
	buf_truncate(out, start);
	return r;
}
