/* SPDX-License-Identifier: MIT */
/* Port sets; see portset.h. */
#include <stdio.h>
#include <string.h>

#include "core/portset.h"

static int
portset_number(const char **pp, uint16_t *out)
{
	const char *p = *pp;
	unsigned long v = 0;
	int digits = 0;

	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535 || ++digits > 5)
			return -1;
		p++;
	}
	if (digits == 0 || v == 0)
		return -1;
	*out = (uint16_t)v;
	*pp = p;
	return 0;
}

int
portset_add(struct portset *s, uint16_t lo, uint16_t hi)
{
	size_t i, j;

	/* Find where it goes, then swallow what it overlaps or touches. */
	for (i = 0; i < s->n && (uint32_t)s->r[i].hi + 1 < lo; i++)
		;
	if (i < s->n && s->r[i].lo <= (uint32_t)hi + 1) {
		if (lo < s->r[i].lo)
			s->r[i].lo = lo;
		if (hi > s->r[i].hi)
			s->r[i].hi = hi;
		for (j = i + 1; j < s->n &&
		    s->r[j].lo <= (uint32_t)s->r[i].hi + 1; j++)
			if (s->r[j].hi > s->r[i].hi)
				s->r[i].hi = s->r[j].hi;
		memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof(s->r[0]));
		s->n = (uint16_t)(s->n - (j - i - 1));
		return 0;
	}
	if (s->n >= PORTSET_MAX_RANGES)
		return -1;
	memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(s->r[0]));
	s->r[i].lo = lo;
	s->r[i].hi = hi;
	s->n++;
	return 0;
}

int
portset_parse(const char *s, struct portset *out, char *why, size_t whylen)
{
	const char *p = s;
	uint16_t lo, hi;

	memset(out, 0, sizeof(*out));
	while (*p == ' ')
		p++;
	if (strcmp(p, "*") == 0) {
		out->n = 1;
		out->r[0].lo = 1;
		out->r[0].hi = 65535;
		return 0;
	}
	for (;;) {
		while (*p == ' ')
			p++;
		if (portset_number(&p, &lo) != 0) {
			snprintf(why, whylen, "'%.64s' is not a port list", s);
			return -1;
		}
		hi = lo;
		while (*p == ' ')
			p++;
		if (*p == '-') {
			p++;
			while (*p == ' ')
				p++;
			if (portset_number(&p, &hi) != 0 || hi < lo) {
				snprintf(why, whylen, "'%.64s' has a bad range",
				    s);
				return -1;
			}
			while (*p == ' ')
				p++;
		}
		if (portset_add(out, lo, hi) != 0) {
			snprintf(why, whylen, "'%.64s' has more than %d ranges",
			    s, PORTSET_MAX_RANGES);
			return -1;
		}
		if (*p == '\0')
			return 0;
		if (*p++ != ',') {
			snprintf(why, whylen, "'%.64s' is not a port list", s);
			return -1;
		}
	}
}

int
portset_has(const struct portset *s, uint16_t port)
{
	size_t lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (port < s->r[mid].lo)
			hi = mid;
		else if (port > s->r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

unsigned
portset_count(const struct portset *s)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		n += (unsigned)s->r[i].hi - s->r[i].lo + 1;
	return n;
}

int
portset_overlaps(const struct portset *a, const struct portset *b)
{
	size_t i = 0, j = 0;

	while (i < a->n && j < b->n) {
		if (a->r[i].hi < b->r[j].lo)
			i++;
		else if (b->r[j].hi < a->r[i].lo)
			j++;
		else
			return 1;
	}
	return 0;
}

void
portset_format(const struct portset *s, char *out, size_t len)
{
	size_t i, used = 0;
	int n;

	if (len == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < s->n && used < len; i++) {
		if (s->r[i].lo == s->r[i].hi)
			n = snprintf(out + used, len - used, "%s%u",
			    i ? "," : "", s->r[i].lo);
		else
			n = snprintf(out + used, len - used, "%s%u-%u",
			    i ? "," : "", s->r[i].lo, s->r[i].hi);
		if (n < 0)
			return;
		used += (size_t)n;
	}
}

uint16_t
portset_next(const struct portset *s, uint16_t port)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (port < s->r[i].lo)
			return s->r[i].lo;
		if (port < s->r[i].hi)
			return (uint16_t)(port + 1);
	}
	return 0;
}
