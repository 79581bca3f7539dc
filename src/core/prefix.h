/* SPDX-License-Identifier: MIT */
/*
 * IP address prefixes: "192.168.1.0/24", "fd00::/8", or one address
 * ("10.0.0.5", a /32 or /128).  Used by capture rules, which name the
 * ranges a client portal intercepts and the ranges they map to.  Pure
 * code.
 */
#ifndef NETPORT_CORE_PREFIX_H
#define NETPORT_CORE_PREFIX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "ffff:...:ffff/128" and a NUL. */
#define PREFIX_TEXT_MAX		(46 + 4)

struct prefix {
	int		family;		/* AF_INET or AF_INET6; 0: none */
	uint8_t		addr[16];	/* network bits; the rest zero */
	unsigned	len;		/* 0..32 or 0..128 */
};

/*
 * Parses a prefix.  Host bits must be zero (10.1.2.3/8 is refused: it
 * reads like a mistake), so that a prefix has one spelling.  Returns 0,
 * or -1 with why set.
 */
int	prefix_parse(const char *s, struct prefix *out, char *why,
	    size_t whylen);
void	prefix_format(const struct prefix *p, char *out, size_t len);
/* 1 when addr (4 or 16 bytes by family) lies inside p. */
int	prefix_contains(const struct prefix *p, int family,
	    const uint8_t *addr);
/* 1 when every address of inner lies in outer. */
int	prefix_covers(const struct prefix *outer, const struct prefix *inner);
int	prefix_equal(const struct prefix *a, const struct prefix *b);
/* 1 when the two share an address: one covers the other. */
int	prefix_overlaps(const struct prefix *a, const struct prefix *b);
/*
 * Moves addr from one prefix into another of the same family and length:
 * its network bits become to's, its host bits stay (100.64.1.5 in
 * 100.64.1.0/24 onto 192.168.1.0/24 is 192.168.1.5).
 */
void	prefix_map(const struct prefix *to, uint8_t *addr);
/* 1 when the first len bits of addresses a and b agree. */
int	prefix_bits_equal(const uint8_t *a, const uint8_t *b, unsigned len);
/* Bytes of an address of the family: 4 or 16. */
size_t	prefix_addr_len(int family);

#endif
