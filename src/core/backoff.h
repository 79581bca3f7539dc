/* SPDX-License-Identifier: MIT */
/*
 * Reconnection delays: exponential backoff with jitter, capped.  After the
 * n-th failure in a row the delay is drawn uniformly from [d/2, d] with
 * d = min(min_ms * 2^n, max_ms), so that many portals cut off together do
 * not all come back in the same instant.  Pure apart from the random draw.
 *
 * That spreads a fleet over half a second at first, which a server with
 * 100,000 portals cannot take: it registers some hundreds a second.  So
 * the server names a window (the spread) that grows with its portals, and
 * the first attempt after a session that was up is drawn from the window
 * on top of the jitter: the storm after a server restart arrives at the
 * rate the server takes it.
 */
#ifndef NETPORT_CORE_BACKOFF_H
#define NETPORT_CORE_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint64_t	min_ms;
	uint64_t	max_ms;
	uint64_t	cur_ms;		/* d for the next failure */
	uint64_t	spread_ms;	/* the server's window; 0: none */
	int		reset;		/* no failure since backoff_reset() */
};

void		backoff_init(struct backoff *b, uint64_t min_ms, uint64_t max_ms);
/* The delay to wait after a failure; doubles d for the next one. */
uint64_t	backoff_next(struct backoff *b);
/* After a success: the next failure starts again at min_ms. */
void		backoff_reset(struct backoff *b);
/*
 * The window the first failure after a reset adds a uniform draw from
 * (0: none); kept across resets until set again.
 */
void		backoff_set_spread(struct backoff *b, uint64_t spread_ms);
/* A delay drawn uniformly from [0, d]. */
uint64_t	backoff_uniform(uint64_t d);
/* A delay drawn uniformly from [d/2, d]. */
uint64_t	backoff_jitter(uint64_t d);

#endif
