/* SPDX-License-Identifier: MIT */
/* Exponential backoff with jitter; see backoff.h. */
#include <openssl/rand.h>

#include "core/backoff.h"

void
backoff_init(struct backoff *b, uint64_t min_ms, uint64_t max_ms)
{
	b->min_ms = min_ms ? min_ms : 1;
	b->max_ms = max_ms < b->min_ms ? b->min_ms : max_ms;
	b->cur_ms = b->min_ms;
	b->spread_ms = 0;
	b->reset = 0;
}

void
backoff_reset(struct backoff *b)
{
	b->cur_ms = b->min_ms;
	b->reset = 1;
}

void
backoff_set_spread(struct backoff *b, uint64_t spread_ms)
{
	b->spread_ms = spread_ms;
}

uint64_t
backoff_uniform(uint64_t d)
{
	uint64_t r = 0;

	if (d == 0)
		return 0;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = 0;
	return r % (d + 1);
}

uint64_t
backoff_jitter(uint64_t d)
{
	uint64_t half = d / 2, r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = 0;
	return half + (half ? r % (d - half + 1) : 0);
}

uint64_t
backoff_next(struct backoff *b)
{
	uint64_t d = b->cur_ms, extra = 0;

	/* The first failure since a reset: a lost session. */
	if (b->reset)
		extra = backoff_uniform(b->spread_ms);
	b->reset = 0;
	b->cur_ms = d >= b->max_ms / 2 ? b->max_ms : d * 2;
	return backoff_jitter(d) + extra;
}
