/* SPDX-License-Identifier: MIT */
/* Reconnection delays: the jittered range, doubling, the cap, reset. */
#include "core/backoff.h"
#include "t.h"

/* Draws enough times that a range check would catch a wrong bound. */
#define DRAWS	2000

T_CASE(jitter_stays_within_half_and_whole)
{
	static const uint64_t ds[] = { 0, 1, 2, 3, 1000, 3600000 };
	uint64_t v, lo, hi;
	size_t i;
	int j;

	for (i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		lo = UINT64_MAX;
		hi = 0;
		for (j = 0; j < DRAWS; j++) {
			v = backoff_jitter(ds[i]);
			T_ASSERT(v >= ds[i] / 2 && v <= ds[i]);
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		/* Spread over the range, not stuck at one end. */
		if (ds[i] >= 1000)
			T_ASSERT(lo < ds[i] * 6 / 10 && hi > ds[i] * 9 / 10);
	}
}

T_CASE(doubles_up_to_the_cap_and_resets)
{
	struct backoff b;
	uint64_t d;
	int i;

	backoff_init(&b, 100, 1000);
	for (i = 0; i < 8; i++) {
		d = backoff_next(&b);
		/* 100, 200, 400, 800, then the cap 1000. */
		T_ASSERT(d <= (i < 4 ? 100u << i : 1000u));
		T_ASSERT(d >= (i < 4 ? 50u << i : 500u));
	}
	backoff_reset(&b);
	d = backoff_next(&b);
	T_ASSERT(d >= 50 && d <= 100);
}

/*
 * The server's spread applies to the first failure after a session was up
 * (a reset) only, over the whole window, and stays for later sessions.
 */
T_CASE(spread_widens_the_first_attempt_after_a_loss)
{
	struct backoff b;
	uint64_t d, lo = UINT64_MAX, hi = 0;
	int j;

	backoff_init(&b, 1000, 60000);
	backoff_set_spread(&b, 40000);
	/* Never up yet: the plain jitter. */
	d = backoff_next(&b);
	T_ASSERT(d >= 500 && d <= 1000);
	for (j = 0; j < DRAWS; j++) {
		backoff_reset(&b);
		d = backoff_next(&b);
		T_ASSERT(d >= 500 && d <= 41000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		/* The next failure in a row is plain backoff again. */
		d = backoff_next(&b);
		T_ASSERT(d >= 1000 && d <= 2000);
	}
	/* Spread over the window, not stuck at one end. */
	T_ASSERT(lo < 5000 && hi > 36000);
	backoff_set_spread(&b, 0);
	backoff_reset(&b);
	d = backoff_next(&b);
	T_ASSERT(d >= 500 && d <= 1000);
	T_ASSERT(backoff_uniform(0) == 0);
}

int
main(void)
{
	T_RUN(jitter_stays_within_half_and_whole);
	T_RUN(doubles_up_to_the_cap_and_resets);
	T_RUN(spread_widens_the_first_attempt_after_a_loss);
	return t_done();
}
