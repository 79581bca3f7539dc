/* SPDX-License-Identifier: MIT */
/* Control protocol codec: round trips, and every way a frame can be bad. */
#include <stdlib.h>

#include "core/err.h"
#include "core/proto.h"
#include "t.h"

static void
t_encode(const struct proto_msg *m, struct buf *b)
{
	buf_init(b, PROTO_HDR_LEN + PROTO_MAX_PAYLOAD);
	if (proto_encode(m, b) != 0)
		T_FAIL("encode failed");
}

T_CASE(rule_roundtrip)
{
	struct proto_msg m, d;
	struct buf b;
	const char *why;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_RULE;
	m.id = 7;
	strcpy(m.rule, "cam-ssh");
	m.side = PROTO_SIDE_CLIENT;
	m.ipproto = PROTO_TCP;
	strcpy(m.listen, "127.0.0.1:2222");
	strcpy(m.peer, "cam-17");
	m.expires = 1893456000;
	t_encode(&m, &b);
	T_EQ_INT(buf_data(&b)[0], PROTO_VERSION);
	T_EQ_INT(buf_data(&b)[1], PROTO_RULE);
	T_EQ_INT(proto_decode(buf_data(&b), buf_len(&b), &d, &why), 0);
	T_EQ_INT(d.type, PROTO_RULE);
	T_EQ_INT(d.id, 7);
	T_EQ_STR(d.rule, "cam-ssh");
	T_EQ_INT(d.side, PROTO_SIDE_CLIENT);
	T_EQ_INT(d.ipproto, PROTO_TCP);
	T_EQ_STR(d.listen, "127.0.0.1:2222");
	T_EQ_STR(d.peer, "cam-17");
	T_EQ_STR(d.target, "");		/* optional, absent */
	T_ASSERT(d.expires == 1893456000);
	buf_release(&b);
}

T_CASE(grant_and_hello_roundtrip)
{
	struct proto_msg m, d;
	struct buf b;
	const char *why;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_TUNNEL_GRANT;
	memset(m.tunnel_id, 0xab, sizeof(m.tunnel_id));
	strcpy(m.relay, "[2001:db8::1]:8443");
	strcpy(m.relay_name, "relay-1");
	memset(m.ticket, 0x5a, 300);
	m.ticket_len = 300;
	strcpy(m.peer, "laptop");
	m.side = PROTO_SIDE_SERVICE;
	m.expires = 42;
	t_encode(&m, &b);
	T_EQ_INT(proto_decode(buf_data(&b), buf_len(&b), &d, &why), 0);
	T_EQ_INT(d.ticket_len, 300);
	T_ASSERT(memcmp(d.ticket, m.ticket, 300) == 0);
	T_ASSERT(memcmp(d.tunnel_id, m.tunnel_id, 16) == 0);
	T_EQ_STR(d.relay, "[2001:db8::1]:8443");
	buf_release(&b);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	strcpy(m.software, "netport 0.1.0");
	strcpy(m.advertise[0], "203.0.113.20:8443");
	strcpy(m.advertise[1], "[2001:db8::20]:8443");
	m.advertise_n = 2;
	m.capacity = 1000;
	t_encode(&m, &b);
	T_EQ_INT(proto_decode(buf_data(&b), buf_len(&b), &d, &why), 0);
	T_EQ_INT(d.advertise_n, 2);
	T_EQ_STR(d.advertise[1], "[2001:db8::20]:8443");
	T_EQ_INT(d.capacity, 1000);
	buf_release(&b);

	/* CANDIDATES: the whole list again, or none (it clears). */
	memset(&m, 0, sizeof(m));
	m.type = PROTO_CANDIDATES;
	strcpy(m.candidates[0], "upnp 203.0.113.101:40001");
	strcpy(m.candidates[1], "lan 10.1.0.2:40001");
	m.candidates_n = 2;
	t_encode(&m, &b);
	T_EQ_INT(proto_decode(buf_data(&b), buf_len(&b), &d, &why), 0);
	T_EQ_INT(d.type, PROTO_CANDIDATES);
	T_EQ_INT(d.candidates_n, 2);
	T_EQ_STR(d.candidates[0], "upnp 203.0.113.101:40001");
	buf_release(&b);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_CANDIDATES;
	t_encode(&m, &b);
	T_EQ_INT(proto_decode(buf_data(&b), buf_len(&b), &d, &why), 0);
	T_EQ_INT(d.candidates_n, 0);
	buf_release(&b);
}

T_CASE(required_zero_is_sent)
{
	struct proto_msg m, d;
	struct buf b;
	const char *why;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_RULES_BEGIN;	/* generation 0 and count 0 */
	t_encode(&m, &b);
	T_EQ_INT(proto_decode(buf_data(&b), buf_len(&b), &d, &why), 0);
	T_EQ_INT(d.count, 0);
	buf_release(&b);
}

T_CASE(missing_required_string_does_not_encode)
{
	struct proto_msg m;
	struct buf b;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_TUNNEL_REQUEST;		/* no rule */
	buf_init(&b, 1024);
	T_EQ_INT(proto_encode(&m, &b), NP_EPROTO);
	T_EQ_INT(buf_len(&b), 0);		/* nothing half-written */
	m.type = 200;
	T_EQ_INT(proto_encode(&m, &b), NP_EPROTO);
	buf_release(&b);
}

/* Builds a frame by hand: header + raw payload. */
static size_t
t_frame(uint8_t *out, uint8_t version, uint8_t type, const uint8_t *payload,
    size_t plen)
{
	out[0] = version;
	out[1] = type;
	out[2] = (uint8_t)(plen >> 8);
	out[3] = (uint8_t)plen;
	memset(out + 4, 0, 4);
	memcpy(out + 8, payload, plen);
	return 8 + plen;
}

T_CASE(bad_frames_are_refused_with_reason)
{
	uint8_t f[64];
	struct proto_msg d;
	const char *why;
	size_t n;
	/* TUNNEL_REQUEST rule="ab" */
	const uint8_t good[] = { 11, 0, 2, 'a', 'b' };
	const uint8_t trunc[] = { 11, 0, 9, 'a', 'b' };
	const uint8_t twice[] = { 11, 0, 1, 'a', 11, 0, 1, 'b' };
	const uint8_t notallowed[] = { 11, 0, 1, 'a', 24, 0, 8, 0, 0, 0, 0,
	    0, 0, 0, 1 };
	const uint8_t control[] = { 11, 0, 2, 'a', '\n' };
	const uint8_t badint[] = { 11, 0, 1, 'a', 12, 0, 2, 1, 1 };
	const uint8_t unknown[] = { 200, 0, 3, 1, 2, 3, 11, 0, 1, 'a' };
	const uint8_t empty[] = { 0 };

	n = t_frame(f, 1, PROTO_TUNNEL_REQUEST, good, sizeof(good));
	T_EQ_INT(proto_decode(f, n, &d, &why), 0);
	T_EQ_STR(d.rule, "ab");
	T_EQ_INT(proto_decode(f, n - 1, &d, &why), NP_ESHORT);
	T_EQ_INT(proto_decode(f, 5, &d, &why), NP_ESHORT);
	T_EQ_STR(why, "truncated header");

	n = t_frame(f, 2, PROTO_TUNNEL_REQUEST, good, sizeof(good));
	T_EQ_INT(proto_decode(f, n, &d, &why), NP_EVERSION);

	n = t_frame(f, 1, 99, good, sizeof(good));
	T_EQ_INT(proto_decode(f, n, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "unknown message type");

	n = t_frame(f, 1, PROTO_TUNNEL_REQUEST, trunc, sizeof(trunc));
	T_EQ_INT(proto_decode(f, n, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "truncated attribute");

	n = t_frame(f, 1, PROTO_TUNNEL_REQUEST, twice, sizeof(twice));
	T_EQ_INT(proto_decode(f, n, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "repeated attribute");

	n = t_frame(f, 1, PROTO_TUNNEL_REQUEST, notallowed,
	    sizeof(notallowed));
	T_EQ_INT(proto_decode(f, n, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "attribute not allowed in this message");

	n = t_frame(f, 1, PROTO_TUNNEL_REQUEST, control, sizeof(control));
	T_EQ_INT(proto_decode(f, n, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "string attribute is not printable ASCII");

	n = t_frame(f, 1, PROTO_RULE, badint, sizeof(badint));
	T_EQ_INT(proto_decode(f, n, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "attribute has a bad length");

	/* Unknown tags are skipped: a newer peer may add attributes. */
	n = t_frame(f, 1, PROTO_TUNNEL_REQUEST, unknown, sizeof(unknown));
	T_EQ_INT(proto_decode(f, n, &d, &why), 0);
	T_EQ_STR(d.rule, "a");

	n = t_frame(f, 1, PROTO_TUNNEL_REQUEST, empty, 0);
	T_EQ_INT(proto_decode(f, n, &d, &why), NP_EPROTO);
	T_EQ_STR(why, "required attribute missing");
}

T_CASE(oversized_length_is_refused_from_header)
{
	uint8_t h[8] = { 1, PROTO_PING, 0xff, 0xff, 0, 0, 0, 1 };
	struct proto_hdr hdr;

	T_EQ_INT(proto_hdr_decode(h, sizeof(h), &hdr), NP_ETOOBIG);
	h[2] = PROTO_MAX_PAYLOAD >> 8;
	h[3] = PROTO_MAX_PAYLOAD & 0xff;
	T_EQ_INT(proto_hdr_decode(h, sizeof(h), &hdr), 0);
	T_EQ_INT(hdr.len, PROTO_MAX_PAYLOAD);
	T_EQ_INT(hdr.id, 1);
}

T_CASE(too_many_repeats)
{
	struct proto_msg m, d;
	struct buf b;
	uint8_t *p;
	const char *why;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	strcpy(m.software, "x");
	for (m.advertise_n = 0; m.advertise_n < PROTO_MAX_ADVERTISE;
	    m.advertise_n++)
		strcpy(m.advertise[m.advertise_n], "h:1");
	t_encode(&m, &b);
	T_EQ_INT(proto_decode(buf_data(&b), buf_len(&b), &d, &why), 0);
	/* One more advertise attribute by hand: 9 > PROTO_MAX_ADVERTISE. */
	T_EQ_INT(buf_append(&b, "\x15\x00\x03h:1", 6), 0);
	p = buf_mutable(&b);
	p[3] = (uint8_t)(p[3] + 6);
	T_EQ_INT(proto_decode(buf_data(&b), buf_len(&b), &d, &why),
	    NP_EPROTO);
	T_EQ_STR(why, "too many repeated attributes");
	buf_release(&b);
}

T_CASE(names_and_texts)
{
	T_EQ_STR(proto_type_name(PROTO_TUNNEL_GRANT), "TUNNEL_GRANT");
	T_EQ_STR(proto_type_name(0), "UNKNOWN");
	T_EQ_STR(proto_error_text(PROTO_E_DENIED), "denied by policy");
	T_EQ_STR(proto_error_text(999), "unknown error");
}

int
main(void)
{
	T_RUN(rule_roundtrip);
	T_RUN(grant_and_hello_roundtrip);
	T_RUN(required_zero_is_sent);
	T_RUN(missing_required_string_does_not_encode);
	T_RUN(bad_frames_are_refused_with_reason);
	T_RUN(oversized_length_is_refused_from_header);
	T_RUN(too_many_repeats);
	T_RUN(names_and_texts);
	return t_done();
}
