/* SPDX-License-Identifier: MIT */
/*
 * STUN Binding messages (stun.h).  Written here, not taken from a
 * library: Debian's STUN code comes inside ICE stacks (libnice, with glib)
 * whose agents would own the socket; netport needs a 20-byte request and
 * one attribute of the answer, read and written on its own sockets.
 */
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/err.h"
#include "core/stun.h"

#define STUN_ATTR_MAPPED	0x0001
#define STUN_ATTR_XOR_MAPPED	0x0020
#define STUN_FAMILY_V4		0x01
#define STUN_FAMILY_V6		0x02

static uint16_t
stun_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
stun_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The 16 bytes an address is XORed with: cookie, then transaction id. */
static void
stun_xor_key(const uint8_t id[STUN_ID_LEN], uint8_t key[16])
{
	key[0] = (uint8_t)(STUN_COOKIE >> 24);
	key[1] = (uint8_t)(STUN_COOKIE >> 16);
	key[2] = (uint8_t)(STUN_COOKIE >> 8);
	key[3] = (uint8_t)STUN_COOKIE;
	memcpy(key + 4, id, STUN_ID_LEN);
}

/* (XOR-)MAPPED-ADDRESS value v of len bytes into out. */
static int
stun_parse_addr(const uint8_t *v, size_t len, int xored,
    const uint8_t id[STUN_ID_LEN], struct sockaddr_storage *out)
{
	uint8_t key[16], addr[16];
	uint16_t port;
	size_t alen, i;

	if (len < 4)
		return -1;
	alen = v[1] == STUN_FAMILY_V4 ? 4 : v[1] == STUN_FAMILY_V6 ? 16 : 0;
	if (alen == 0 || len != 4 + alen)
		return -1;
	stun_xor_key(id, key);
	port = stun_get16(v + 2);
	memcpy(addr, v + 4, alen);
	if (xored) {
		port ^= (uint16_t)(STUN_COOKIE >> 16);
		for (i = 0; i < alen; i++)
			addr[i] ^= key[i];
	}
	memset(out, 0, sizeof(*out));
	if (alen == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)out;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, addr, 4);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, addr, 16);
	}
	return 0;
}

int
stun_parse(const uint8_t *p, size_t n, struct stun_msg *out, const char **why)
{
	size_t off, alen;
	uint16_t atype;
	int have_xor = 0;

	memset(out, 0, sizeof(*out));
	if (n < STUN_HDR_LEN || (p[0] & 0xc0) != 0) {
		*why = "not a STUN message";
		return NP_EPROTO;
	}
	if (((uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
	    (uint32_t)p[6] << 8 | p[7]) != STUN_COOKIE) {
		*why = "no magic cookie (not RFC 5389)";
		return NP_EPROTO;
	}
	if (stun_get16(p + 2) != n - STUN_HDR_LEN || (n & 3) != 0) {
		*why = "length does not match";
		return NP_EPROTO;
	}
	out->type = stun_get16(p);
	memcpy(out->id, p + 8, STUN_ID_LEN);
	for (off = STUN_HDR_LEN; off < n; off += 4 + ((alen + 3) & ~(size_t)3)) {
		if (n - off < 4) {
			*why = "truncated attribute";
			return NP_EPROTO;
		}
		atype = stun_get16(p + off);
		alen = stun_get16(p + off + 2);
		if (alen > n - off - 4) {
			*why = "attribute longer than the message";
			return NP_EPROTO;
		}
		if (atype == STUN_ATTR_XOR_MAPPED ||
		    (atype == STUN_ATTR_MAPPED && !have_xor)) {
			if (stun_parse_addr(p + off + 4, alen,
			    atype == STUN_ATTR_XOR_MAPPED, out->id,
			    &out->mapped) != 0) {
				*why = "bad mapped address";
				return NP_EPROTO;
			}
			out->has_mapped = 1;
			have_xor |= atype == STUN_ATTR_XOR_MAPPED;
		}
		/* Padding may run past the end only if it is not there. */
		if (((alen + 3) & ~(size_t)3) > n - off - 4) {
			*why = "attribute padding missing";
			return NP_EPROTO;
		}
	}
	return 0;
}

static void
stun_header(uint8_t *out, uint16_t type, uint16_t len,
    const uint8_t id[STUN_ID_LEN])
{
	stun_put16(out, type);
	stun_put16(out + 2, len);
	out[4] = (uint8_t)(STUN_COOKIE >> 24);
	out[5] = (uint8_t)(STUN_COOKIE >> 16);
	out[6] = (uint8_t)(STUN_COOKIE >> 8);
	out[7] = (uint8_t)STUN_COOKIE;
	memcpy(out + 8, id, STUN_ID_LEN);
}

void
stun_encode_request(uint8_t out[STUN_HDR_LEN], const uint8_t id[STUN_ID_LEN])
{
	stun_header(out, STUN_BINDING_REQUEST, 0, id);
}

size_t
stun_encode_response(uint8_t out[STUN_RESPONSE_MAX],
    const uint8_t id[STUN_ID_LEN], const struct sockaddr *mapped)
{
	const struct sockaddr_in6 *in6 = (const void *)mapped;
	uint8_t key[16], addr[16], *v;
	uint16_t port;
	size_t alen, i;

	if (mapped->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)mapped;

		memcpy(addr, &in->sin_addr, 4);
		alen = 4;
		port = ntohs(in->sin_port);
	} else if (mapped->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		memcpy(addr, &in6->sin6_addr.s6_addr[12], 4);
		alen = 4;
		port = ntohs(in6->sin6_port);
	} else if (mapped->sa_family == AF_INET6) {
		memcpy(addr, &in6->sin6_addr, 16);
		alen = 16;
		port = ntohs(in6->sin6_port);
	} else
		return 0;
	stun_header(out, STUN_BINDING_SUCCESS, (uint16_t)(4 + 4 + alen), id);
	v = out + STUN_HDR_LEN;
	stun_put16(v, STUN_ATTR_XOR_MAPPED);
	stun_put16(v + 2, (uint16_t)(4 + alen));
	v[4] = 0;
	v[5] = alen == 4 ? STUN_FAMILY_V4 : STUN_FAMILY_V6;
	stun_put16(v + 6, port ^ (uint16_t)(STUN_COOKIE >> 16));
	stun_xor_key(id, key);
	for (i = 0; i < alen; i++)
		v[8 + i] = addr[i] ^ key[i];
	return STUN_HDR_LEN + 8 + alen;
}
