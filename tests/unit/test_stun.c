/* SPDX-License-Identifier: MIT */
/*
 * STUN Binding: RFC 5769's sample response parsed (IPv4), an IPv6 answer
 * written as RFC 5769's IPv6 sample has it, round trips, and refusals.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/err.h"
#include "core/stun.h"
#include "t.h"

static const uint8_t t_id[STUN_ID_LEN] = {
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
	0xfa, 0x87, 0xdf, 0xae,
};

/* RFC 5769, 2.2: SOFTWARE, XOR-MAPPED-ADDRESS 192.0.2.1:32853,
 * MESSAGE-INTEGRITY and FINGERPRINT (the last two are skipped). */
static const uint8_t t_rfc5769_v4[] = {
	0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42,
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
	0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
	0x74, 0x6f, 0x72, 0x20,
	0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
	0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
	0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
	0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

T_CASE(rfc5769_ipv4_response)
{
	struct stun_msg m;
	const struct sockaddr_in *in = (const void *)&m.mapped;
	const char *why;
	char ip[INET_ADDRSTRLEN];

	T_EQ_INT(stun_parse(t_rfc5769_v4, sizeof(t_rfc5769_v4), &m, &why), 0);
	T_EQ_INT(m.type, STUN_BINDING_SUCCESS);
	T_ASSERT(memcmp(m.id, t_id, STUN_ID_LEN) == 0);
	T_ASSERT(m.has_mapped);
	T_EQ_INT(in->sin_family, AF_INET);
	T_EQ_INT(ntohs(in->sin_port), 32853);
	inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
	T_EQ_STR(ip, "192.0.2.1");
}

/* RFC 5769, 2.3: the XOR-MAPPED-ADDRESS of 2001:db8:1234:5678:11:2233:
 * 4455:6677, port 32853, under the same transaction id. */
T_CASE(rfc5769_ipv6_address)
{
	static const uint8_t want[] = {
		0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47,
		0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79,
		0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
	};
	struct sockaddr_in6 a;
	uint8_t out[STUN_RESPONSE_MAX];
	struct stun_msg m;
	const char *why;
	size_t n;

	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_port = htons(32853);
	inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677",
	    &a.sin6_addr);
	n = stun_encode_response(out, t_id, (struct sockaddr *)&a);
	T_EQ_INT(n, STUN_HDR_LEN + sizeof(want));
	T_ASSERT(memcmp(out + STUN_HDR_LEN, want, sizeof(want)) == 0);
	T_EQ_INT(stun_parse(out, n, &m, &why), 0);
	T_ASSERT(memcmp(&((struct sockaddr_in6 *)&m.mapped)->sin6_addr,
	    &a.sin6_addr, 16) == 0);
}

T_CASE(request_and_v4_mapped_answer)
{
	uint8_t req[STUN_HDR_LEN], out[STUN_RESPONSE_MAX];
	struct sockaddr_in6 a;
	struct stun_msg m;
	const char *why;
	size_t n;

	stun_encode_request(req, t_id);
	T_EQ_INT(stun_parse(req, sizeof(req), &m, &why), 0);
	T_EQ_INT(m.type, STUN_BINDING_REQUEST);
	T_ASSERT(!m.has_mapped);
	/* A dual-stack socket's IPv4 peer is told as IPv4. */
	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_port = htons(5000);
	inet_pton(AF_INET6, "::ffff:203.0.113.101", &a.sin6_addr);
	n = stun_encode_response(out, m.id, (struct sockaddr *)&a);
	T_EQ_INT(n, 32);
	T_EQ_INT(stun_parse(out, n, &m, &why), 0);
	T_EQ_INT(m.mapped.ss_family, AF_INET);
	T_EQ_INT(ntohs(((struct sockaddr_in *)&m.mapped)->sin_port), 5000);
}

T_CASE(refusals)
{
	uint8_t b[64];
	struct stun_msg m;
	const char *why;

	memcpy(b, t_rfc5769_v4, STUN_HDR_LEN);
	b[2] = 0;
	b[3] = 0;
	T_EQ_INT(stun_parse(b, STUN_HDR_LEN, &m, &why), 0);
	b[4] = 0;		/* no cookie: RFC 3489 */
	T_EQ_INT(stun_parse(b, STUN_HDR_LEN, &m, &why), NP_EPROTO);
	T_EQ_STR(why, "no magic cookie (not RFC 5389)");
	T_EQ_INT(stun_parse((const uint8_t *)"\x16\x03\x01", 3, &m, &why),
	    NP_EPROTO);
	/* The length field says more than there is. */
	T_EQ_INT(stun_parse(t_rfc5769_v4, sizeof(t_rfc5769_v4) - 8, &m, &why),
	    NP_EPROTO);
	T_EQ_STR(why, "length does not match");
	/* An attribute longer than the message. */
	memcpy(b, t_rfc5769_v4, STUN_HDR_LEN);
	b[2] = 0;
	b[3] = 8;
	memcpy(b + STUN_HDR_LEN, "\x00\x20\x00\x40\x00\x01\x00\x00", 8);
	T_EQ_INT(stun_parse(b, STUN_HDR_LEN + 8, &m, &why), NP_EPROTO);
	/* An address of an unknown family. */
	memcpy(b + STUN_HDR_LEN, "\x00\x20\x00\x04\x00\x03\x00\x00", 8);
	T_EQ_INT(stun_parse(b, STUN_HDR_LEN + 8, &m, &why), NP_EPROTO);
	T_EQ_STR(why, "bad mapped address");
}

int
main(void)
{
	T_RUN(rfc5769_ipv4_response);
	T_RUN(rfc5769_ipv6_address);
	T_RUN(request_and_v4_mapped_answer);
	T_RUN(refusals);
	return t_done();
}
