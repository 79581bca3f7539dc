/* SPDX-License-Identifier: MIT */
/*
 * netpunch's wire format: both signing schemes against netpunch's own test
 * vectors (secret "MORN", payload "data"), Go's ascii85, forged and
 * malformed datagrams, and the payloads peers and the control node read.
 */
#include <errno.h>

#include "core/err.h"
#include "core/netpunch.h"
#include "t.h"

#define T_SEED_DATA	"@9d*O[`bg>M-oOn?)ikhf%&gWemV?-5#T/G data"
#define T_HMAC_DATA	"VS2/W:Yo^Bl5K]QY&_nAD;I>W!Xe!?PY\"r>0pm\"S data"

static const uint8_t t_secret[] = "MORN";
#define T_SECRET	t_secret, 4

T_CASE(test_vectors)
{
	uint8_t out[NETPUNCH_DGRAM_MAX];
	size_t len;

	T_EQ_INT(netpunch_seal(NETPUNCH_SEED, T_SECRET,
	    (const uint8_t *)"data", 4, out, sizeof(out), &len), 0);
	T_EQ_INT(len, strlen(T_SEED_DATA));
	T_ASSERT(memcmp(out, T_SEED_DATA, len) == 0);
	T_EQ_INT(netpunch_seal(NETPUNCH_HMAC, T_SECRET,
	    (const uint8_t *)"data", 4, out, sizeof(out), &len), 0);
	T_EQ_INT(len, strlen(T_HMAC_DATA));
	T_ASSERT(memcmp(out, T_HMAC_DATA, len) == 0);
}

T_CASE(open_either_scheme)
{
	enum netpunch_scheme s = NETPUNCH_HMAC;
	const uint8_t *p;
	const char *why;
	size_t n;

	T_EQ_INT(netpunch_open((const uint8_t *)T_SEED_DATA,
	    strlen(T_SEED_DATA), T_SECRET, &s, &p, &n, &why), 0);
	T_EQ_INT(s, NETPUNCH_SEED);
	T_EQ_INT(n, 4);
	T_ASSERT(memcmp(p, "data", 4) == 0);
	T_EQ_INT(netpunch_open((const uint8_t *)T_HMAC_DATA,
	    strlen(T_HMAC_DATA), T_SECRET, &s, &p, &n, &why), 0);
	T_EQ_INT(s, NETPUNCH_HMAC);
	T_ASSERT(memcmp(p, "data", 4) == 0);
}

T_CASE(forgeries_are_refused)
{
	uint8_t d[NETPUNCH_DGRAM_MAX];
	enum netpunch_scheme s;
	const uint8_t *p;
	const char *why;
	size_t n, len;

	/* Another secret, a changed payload, a changed signature. */
	T_EQ_INT(netpunch_open((const uint8_t *)T_SEED_DATA,
	    strlen(T_SEED_DATA), (const uint8_t *)"MORNING", 7, &s, &p, &n,
	    &why), NP_EPROTO);
	T_EQ_STR(why, "bad signature");
	len = strlen(T_HMAC_DATA);
	memcpy(d, T_HMAC_DATA, len);
	d[len - 1] = 'b';
	T_EQ_INT(netpunch_open(d, len, T_SECRET, &s, &p, &n, &why), NP_EPROTO);
	memcpy(d, T_HMAC_DATA, len);
	d[3] ^= 1;
	T_EQ_INT(netpunch_open(d, len, T_SECRET, &s, &p, &n, &why), NP_EPROTO);
	/* A signature with no payload; nothing at all. */
	T_EQ_INT(netpunch_open((const uint8_t *)T_SEED_DATA, 36, T_SECRET, &s,
	    &p, &n, &why), NP_EPROTO);
	T_EQ_STR(why, "too short");
	T_EQ_INT(netpunch_open((const uint8_t *)"", 0, T_SECRET, &s, &p, &n,
	    &why), NP_EPROTO);
	T_ASSERT(p == NULL);
	/* The longest payload netpunch reads, and one byte more. */
	{
		uint8_t big[NETPUNCH_PAYLOAD_MAX + 1];

		memset(big, 'x', sizeof(big));
		T_EQ_INT(netpunch_seal(NETPUNCH_SEED, T_SECRET, big,
		    NETPUNCH_PAYLOAD_MAX, d, sizeof(d), &len), 0);
		T_EQ_INT(netpunch_open(d, len, T_SECRET, &s, &p, &n, &why), 0);
		T_EQ_INT(n, NETPUNCH_PAYLOAD_MAX);
		T_EQ_INT(netpunch_seal(NETPUNCH_SEED, T_SECRET, big,
		    sizeof(big), d, sizeof(d), &len), -EINVAL);
	}
}

/* Go's encoding: groups of four bytes, "z" for zeros, partial groups. */
T_CASE(ascii85_like_go)
{
	static const uint8_t zeros[8] = { 0 };
	char out[32];
	size_t n;

	n = netpunch_ascii85(zeros, 8, out);
	T_EQ_INT(n, 2);
	T_ASSERT(memcmp(out, "zz", 2) == 0);
	n = netpunch_ascii85((const uint8_t *)"Man ", 4, out);
	T_EQ_INT(n, 5);
	T_ASSERT(memcmp(out, "9jqo^", 5) == 0);
	n = netpunch_ascii85((const uint8_t *)"sure.", 5, out);
	T_EQ_INT(n, 7);
	T_ASSERT(memcmp(out, "F*2M7/c", 7) == 0);
	n = netpunch_ascii85(zeros, 3, out);	/* partial: no "z" */
	T_EQ_INT(n, 4);
	T_ASSERT(memcmp(out, "!!!!", 4) == 0);
}

T_CASE(payloads)
{
	struct netpunch_msg m;
	const char *why;

#define P(s) (const uint8_t *)(s), strlen(s)
	T_EQ_INT(netpunch_parse_slot(P("a")), 'a');
	T_EQ_INT(netpunch_parse_slot(P("z")), 'z');
	T_EQ_INT(netpunch_parse_slot(P("ab")), -1);
	T_EQ_INT(netpunch_parse_slot(P("A")), -1);
	T_EQ_INT(netpunch_parse_peer(P("i|a|127.0.0.1:5000"), &m, &why), 0);
	T_EQ_INT(m.kind, NETPUNCH_PEER_INFO);
	T_EQ_INT(m.slot, 'a');
	T_EQ_STR(m.addr, "127.0.0.1:5000");
	T_EQ_INT(netpunch_parse_peer(P("i|b|[2001:db8::1]:7"), &m, &why), 0);
	T_EQ_STR(m.addr, "[2001:db8::1]:7");
	T_EQ_INT(netpunch_parse_peer(P("x"), &m, &why), 0);
	T_EQ_INT(m.kind, NETPUNCH_PING);
	T_EQ_INT(netpunch_parse_peer(P("y"), &m, &why), 0);
	T_EQ_INT(m.kind, NETPUNCH_PONG);
	T_EQ_INT(netpunch_parse_peer(P("zzz"), &m, &why), 0);
	T_EQ_INT(m.kind, NETPUNCH_CLOSE);
	T_EQ_INT(netpunch_parse_peer(P("i|a"), &m, &why), NP_EPROTO);
	T_EQ_INT(netpunch_parse_peer(P("i|a|1.2.3.4:5|x"), &m, &why),
	    NP_EPROTO);
	T_EQ_INT(netpunch_parse_peer(P("i|ab|1.2.3.4:5"), &m, &why), NP_EPROTO);
	T_EQ_INT(netpunch_parse_peer(P("i|a|"), &m, &why), NP_EPROTO);
	T_EQ_INT(netpunch_parse_peer(P("q"), &m, &why), NP_EPROTO);
	T_EQ_INT(netpunch_parse_peer((const uint8_t *)"", 0, &m, &why),
	    NP_EPROTO);
#undef P
}

int
main(void)
{
	T_RUN(test_vectors);
	T_RUN(open_either_scheme);
	T_RUN(forgeries_are_refused);
	T_RUN(ascii85_like_go);
	T_RUN(payloads);
	return t_done();
}
