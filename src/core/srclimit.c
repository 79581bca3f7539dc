/* SPDX-License-Identifier: MIT */
/* Per-source rate limits (srclimit.h). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"
#include "core/srclimit.h"

/* Tokens count in thousandths, so that a refill of rate tokens per
 * second adds a whole number per millisecond. */
#define SRCLIMIT_MILLI		1000

struct srclimit_bucket {
	uint64_t	milli;		/* tokens, in thousandths */
	uint64_t	at_ms;		/* when they were counted */
};

struct srclimit {
	uint32_t		 per_source;
	uint32_t		 total;
	uint64_t		 key;
	struct srclimit_bucket	 all;
	struct srclimit_bucket	 slot[SRCLIMIT_SLOTS];
};

struct srclimit *
srclimit_new(uint32_t per_source, uint32_t total, uint64_t key)
{
	struct srclimit *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->per_source = per_source ? per_source : 1;
	l->total = total ? total : 1;
	l->key = key;
	return l;
}

/* Refills b at rate per second up to cap tokens; 1 when a token is there
 * for the taking (not taken yet). */
static int
srclimit_refill(struct srclimit_bucket *b, uint32_t rate, uint64_t cap,
    uint64_t now_ms)
{
	uint64_t elapsed = now_ms > b->at_ms ? now_ms - b->at_ms : 0;

	cap *= SRCLIMIT_MILLI;
	/* Never used, or long idle: full (no overflow of elapsed * rate). */
	if (b->at_ms == 0 || elapsed >= cap / rate + 1 ||
	    b->milli + elapsed * rate >= cap)
		b->milli = cap;
	else
		b->milli += elapsed * rate;
	b->at_ms = now_ms ? now_ms : 1;	/* 0 means never used */
	return b->milli >= SRCLIMIT_MILLI;
}

/* The slot of sa's source: IPv4 (an IPv4-mapped IPv6 address too), or
 * the /64 of an IPv6 address, hashed with the key. */
static struct srclimit_bucket *
srclimit_slot(struct srclimit *l, const struct sockaddr *sa)
{
	uint8_t k[8 + 1 + 8];
	size_t n = 0;

	memcpy(k, &l->key, 8);
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			k[8] = 4;
			memcpy(k + 9, &in6->sin6_addr.s6_addr[12], 4);
			n = 9 + 4;
		} else {
			k[8] = 6;
			memcpy(k + 9, in6->sin6_addr.s6_addr, 8);
			n = 9 + 8;
		}
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		k[8] = 4;
		memcpy(k + 9, &in->sin_addr, 4);
		n = 9 + 4;
	} else {
		k[8] = 0;
		n = 9;
	}
	return &l->slot[hmap_hash_bytes(k, n) % SRCLIMIT_SLOTS];
}

int
srclimit_take(struct srclimit *l, const struct sockaddr *sa, uint64_t now_ms)
{
	struct srclimit_bucket *b = srclimit_slot(l, sa);

	if (!srclimit_refill(b, l->per_source, 2 * (uint64_t)l->per_source,
	    now_ms))
		return 0;
	if (!srclimit_refill(&l->all, l->total, l->total, now_ms))
		return 0;
	b->milli -= SRCLIMIT_MILLI;
	l->all.milli -= SRCLIMIT_MILLI;
	return 1;
}

void
srclimit_free(struct srclimit *l)
{
	free(l);
}
