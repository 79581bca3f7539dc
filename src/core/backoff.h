/* SPDX-License-Identifier: MIT */
/*
 * Reconnection delays: exponential backoff with jitter, capped.  After the
 * n-th failure in a row the delay is drawn uniformly from [d/2, d] with
 * d = min(min_ms * 2^n, max_ms), so that many portals cut off together do
 * not all come back in the same instant.  Pure apart from the random draw.
 */
#ifndef NETPORT_CORE_BACKOFF_H
#define NETPORT_CORE_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint64_t	min_ms;
	uint64_t	max_ms;
	uint64_t	cur_ms;		/* d for the next failure */
};

void		backoff_init(struct backoff *b, uint64_t min_ms, uint64_t max_ms);
/* The delay to wait after a failure; doubles d for the next one. */
uint64_t	backoff_next(struct backoff *b);
/* After a success: the next failure starts again at min_ms. */
void		backoff_reset(struct backoff *b);
/* A delay drawn uniformly from [d/2, d]. */
uint64_t	backoff_jitter(uint64_t d);

#endif
