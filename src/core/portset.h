/* SPDX-License-Identifier: MIT */
/*
 * A set of TCP or UDP port numbers, written as a list of ports and ranges:
 * "80,443,8000-8100", or "*" for every port (1-65535).  Kept sorted with
 * overlapping and adjacent ranges merged, so that two sets that hold the
 * same ports are equal byte for byte and format the same.  Pure code.
 */
#ifndef NETPORT_CORE_PORTSET_H
#define NETPORT_CORE_PORTSET_H

#include <stddef.h>
#include <stdint.h>

/* Ranges in one set: bounds what a rule and its wire form can hold. */
#define PORTSET_MAX_RANGES	64
/* The longest formatted set: 64 times "65535-65535," */
#define PORTSET_TEXT_MAX	(PORTSET_MAX_RANGES * 12)

struct port_range {
	uint16_t	lo, hi;		/* 1 <= lo <= hi */
};

struct portset {
	uint16_t		n;
	struct port_range	r[PORTSET_MAX_RANGES];
};

/*
 * Parses "P", "LO-HI", comma-separated lists of them (spaces allowed
 * around items), or "*".  Returns 0, or -1 with why (for a message that
 * goes on "...; expected ...") set.
 */
int	portset_parse(const char *s, struct portset *out, char *why,
	    size_t whylen);
/* Adds one range (merging); -1 when the set is full. */
int	portset_add(struct portset *s, uint16_t lo, uint16_t hi);
int	portset_has(const struct portset *s, uint16_t port);
/* How many ports the set holds (0 to 65535). */
unsigned portset_count(const struct portset *s);
/* 1 when a port is in both sets. */
int	portset_overlaps(const struct portset *a, const struct portset *b);
/* The canonical text ("80,443,8000-8100"); truncated to len. */
void	portset_format(const struct portset *s, char *out, size_t len);
/* The next port of the set after port (0: the first); 0 past the end. */
uint16_t portset_next(const struct portset *s, uint16_t port);

#endif
