/* SPDX-License-Identifier: MIT */
/* IP prefixes; see prefix.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/prefix.h"

size_t
prefix_addr_len(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

int
prefix_bits_equal(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned whole = len / 8, rest = len % 8;
	uint8_t mask;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

int
prefix_parse(const char *s, struct prefix *out, char *why, size_t whylen)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;
	unsigned max, i;
	char *end;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(why, whylen, "'%.64s' is not an address prefix", s);
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else {
		snprintf(why, whylen, "'%.64s' is not an address prefix", s);
		return -1;
	}
	max = out->family == AF_INET ? 32 : 128;
	out->len = max;
	if (slash) {
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (errno || *end || slash[1] < '0' || slash[1] > '9' ||
		    len > max) {
			snprintf(why, whylen, "'%.64s' has a bad prefix length "
			    "(0 to %u)", s, max);
			return -1;
		}
		out->len = (unsigned)len;
	}
	for (i = out->len; i < max; i++)
		if (out->addr[i / 8] & (0x80 >> (i % 8))) {
			snprintf(why, whylen, "'%.64s' has host bits set past "
			    "/%u", s, out->len);
			return -1;
		}
	return 0;
}

void
prefix_format(const struct prefix *p, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (p->family == 0 || inet_ntop(p->family, p->addr, a,
	    sizeof(a)) == NULL) {
		snprintf(out, len, "-");
		return;
	}
	snprintf(out, len, "%s/%u", a, p->len);
}

int
prefix_contains(const struct prefix *p, int family, const uint8_t *addr)
{
	return p->family == family && prefix_bits_equal(p->addr, addr,
	    p->len);
}

int
prefix_covers(const struct prefix *outer, const struct prefix *inner)
{
	return outer->family == inner->family && outer->len <= inner->len &&
	    prefix_bits_equal(outer->addr, inner->addr, outer->len);
}

int
prefix_equal(const struct prefix *a, const struct prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	    memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

int
prefix_overlaps(const struct prefix *a, const struct prefix *b)
{
	return prefix_covers(a, b) || prefix_covers(b, a);
}

void
prefix_map(const struct prefix *to, uint8_t *addr)
{
	unsigned whole = to->len / 8, rest = to->len % 8;
	uint8_t mask;

	memcpy(addr, to->addr, whole);
	if (rest) {
		mask = (uint8_t)(0xff << (8 - rest));
		addr[whole] = (uint8_t)((to->addr[whole] & mask) |
		    (addr[whole] & (uint8_t)~mask));
	}
}
