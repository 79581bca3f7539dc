/* SPDX-License-Identifier: MIT */
/* Direct-path candidates: parse, format, refusals, the host's addresses. */
#include "core/candidate.h"
#include "core/net.h"
#include "core/err.h"
#include "t.h"

T_CASE(parse_and_format)
{
	struct candidate c;
	const char *why;
	char out[PROTO_CANDIDATE_MAX + 1];

	T_EQ_INT(candidate_parse("lan 192.168.1.10:40001", &c, &why), 0);
	T_EQ_INT(c.kind, CAND_LAN);
	T_EQ_STR(c.ep.host, "192.168.1.10");
	T_EQ_INT(c.ep.port, 40001);
	candidate_format(&c, out, sizeof(out));
	T_EQ_STR(out, "lan 192.168.1.10:40001");
	T_EQ_INT(candidate_parse("public [2001:db8::7]:443", &c, &why), 0);
	T_EQ_INT(c.kind, CAND_PUBLIC);
	T_EQ_STR(c.ep.host, "2001:db8::7");
	candidate_format(&c, out, sizeof(out));
	T_EQ_STR(out, "public [2001:db8::7]:443");
	T_EQ_INT(candidate_parse("reflexive 203.0.113.9:5000", &c, &why), 0);
	T_EQ_STR(candidate_kind_name(c.kind), "reflexive");
	/* Ports a home router maps. */
	T_EQ_INT(candidate_parse("upnp 198.51.100.4:40001", &c, &why), 0);
	T_EQ_INT(c.kind, CAND_UPNP);
	candidate_format(&c, out, sizeof(out));
	T_EQ_STR(out, "upnp 198.51.100.4:40001");
	T_EQ_INT(candidate_parse("natpmp 198.51.100.4:40002", &c, &why), 0);
	T_EQ_INT(c.kind, CAND_NATPMP);
	T_EQ_STR(candidate_kind_name(c.kind), "natpmp");
	/* The UDP mapping STUN told, for QUIC paths. */
	T_EQ_INT(candidate_parse("stun 198.51.100.4:40003", &c, &why), 0);
	T_EQ_INT(c.kind, CAND_STUN);
	candidate_format(&c, out, sizeof(out));
	T_EQ_STR(out, "stun 198.51.100.4:40003");
}

T_CASE(local_addresses)
{
	T_EQ_INT(net_addr_str_is_local("127.0.0.1:4000"), 1);
	T_EQ_INT(net_addr_str_is_local("10.1.0.3:4000"), 1);
	T_EQ_INT(net_addr_str_is_local("172.16.0.1:1"), 1);
	T_EQ_INT(net_addr_str_is_local("172.31.255.1:1"), 1);
	T_EQ_INT(net_addr_str_is_local("172.32.0.1:1"), 0);
	T_EQ_INT(net_addr_str_is_local("192.168.1.2:1"), 1);
	T_EQ_INT(net_addr_str_is_local("169.254.1.2:1"), 1);
	T_EQ_INT(net_addr_str_is_local("203.0.113.30:443"), 0);
	T_EQ_INT(net_addr_str_is_local("100.64.0.1:1"), 0);
	T_EQ_INT(net_addr_str_is_local("[::ffff:10.2.0.2]:5"), 1);
	T_EQ_INT(net_addr_str_is_local("[::ffff:203.0.113.1]:5"), 0);
	T_EQ_INT(net_addr_str_is_local("[::1]:5"), 1);
	T_EQ_INT(net_addr_str_is_local("[fd00::1]:5"), 1);
	T_EQ_INT(net_addr_str_is_local("[fe80::1]:5"), 1);
	T_EQ_INT(net_addr_str_is_local("[2001:db8::1]:5"), 0);
	T_EQ_INT(net_addr_str_is_local("fd00::1"), 1);
	T_EQ_INT(net_addr_str_is_local("10.0.0.1"), 1);
	T_EQ_INT(net_addr_str_is_local("relay.example:443"), 0);
	T_EQ_INT(net_addr_str_is_local(""), 0);
	T_EQ_INT(net_addr_str_is_local("[::1"), 0);
}

T_CASE(refusals)
{
	struct candidate c;
	const char *why;

	T_EQ_INT(candidate_parse("lan", &c, &why), NP_EPROTO);
	T_EQ_STR(why, "no kind");
	T_EQ_INT(candidate_parse("turn 10.0.0.1:1", &c, &why), NP_EPROTO);
	T_EQ_STR(why, "unknown kind");
	T_EQ_INT(candidate_parse("lan 10.0.0.1:0", &c, &why), NP_EPROTO);
	T_EQ_STR(why, "bad address");
	T_EQ_INT(candidate_parse("lan 10.0.0.1", &c, &why), NP_EPROTO);
	T_EQ_INT(candidate_parse(" lan 10.0.0.1:1", &c, &why), NP_EPROTO);
}

/* This host has at least its loopback address; it comes last. */
T_CASE(gather_has_loopback_last)
{
	struct candidate c[PROTO_MAX_ADVERTISE];
	int n = candidate_gather(4242, c, PROTO_MAX_ADVERTISE), i;

	T_ASSERT(n >= 1);
	T_EQ_INT(c[n - 1].kind, CAND_LOOPBACK);
	for (i = 0; i < n; i++) {
		T_EQ_INT(c[i].ep.port, 4242);
		if (c[i].kind == CAND_LOOPBACK)
			T_EQ_INT(i >= n - 4, 1);
	}
}

int
main(void)
{
	T_RUN(parse_and_format);
	T_RUN(local_addresses);
	T_RUN(refusals);
	T_RUN(gather_has_loopback_last);
	return t_done();
}
