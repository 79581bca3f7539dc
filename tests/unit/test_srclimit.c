/* SPDX-License-Identifier: MIT */
/* Per-source rate limits: bursts, refill, sources apart, the total. */
#include <arpa/inet.h>
#include <string.h>

#include "core/srclimit.h"
#include "t.h"

static struct sockaddr_storage
t_addr(const char *ip, int port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, ip, &in6->sin6_addr);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, ip, &in->sin_addr);
	}
	return ss;
}

/* How many of n events from ip pass at now_ms. */
static int
t_take(struct srclimit *l, const char *ip, int n, uint64_t now_ms)
{
	struct sockaddr_storage ss;
	int i, passed = 0;

	for (i = 0; i < n; i++) {
		/* A fresh port each time: the port does not make a source. */
		ss = t_addr(ip, 1000 + i);
		passed += srclimit_take(l, (struct sockaddr *)&ss, now_ms);
	}
	return passed;
}

T_CASE(burst_then_rate_per_source)
{
	struct srclimit *l = srclimit_new(10, 1000000, 1);
	uint64_t now = 5000000;

	T_ASSERT(l);
	/* A burst of twice the rate, then nothing. */
	T_EQ_INT(t_take(l, "192.0.2.1", 30, now), 20);
	/* 100 ms later, one more (10 a second). */
	T_EQ_INT(t_take(l, "192.0.2.1", 5, now + 100), 1);
	T_EQ_INT(t_take(l, "192.0.2.1", 5, now + 150), 0);
	/* Another source has its own bucket. */
	T_EQ_INT(t_take(l, "192.0.2.2", 30, now + 150), 20);
	/* After a long quiet spell the burst is whole again, no more. */
	T_EQ_INT(t_take(l, "192.0.2.1", 30, now + 3600000), 20);
	srclimit_free(l);
}

T_CASE(ipv6_counts_by_64_and_mapped_as_ipv4)
{
	struct srclimit *l = srclimit_new(5, 1000000, 1);
	uint64_t now = 1000;

	T_ASSERT(l);
	/* Fresh addresses inside one /64 share its bucket. */
	T_EQ_INT(t_take(l, "2001:db8:1:2::1", 6, now), 6);
	T_EQ_INT(t_take(l, "2001:db8:1:2::abcd", 10, now), 4);
	T_EQ_INT(t_take(l, "2001:db8:1:3::1", 10, now), 10);
	/* An IPv4-mapped address is its IPv4 address. */
	T_EQ_INT(t_take(l, "198.51.100.7", 7, now), 7);
	T_EQ_INT(t_take(l, "::ffff:198.51.100.7", 10, now), 3);
	srclimit_free(l);
}

T_CASE(total_bounds_all_sources)
{
	struct srclimit *l = srclimit_new(100, 50, 1);
	char ip[32];
	int i, passed = 0;

	T_ASSERT(l);
	/* 200 sources of one each: the total (50 a second) lets 50 pass. */
	for (i = 0; i < 200; i++) {
		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 250, i % 250 + 1);
		passed += t_take(l, ip, 1, 1000);
	}
	T_EQ_INT(passed, 50);
	/* 20 ms later one more (50 a second). */
	T_EQ_INT(t_take(l, "10.9.9.9", 5, 1020), 1);
	srclimit_free(l);
}

int
main(void)
{
	T_RUN(burst_then_rate_per_source);
	T_RUN(ipv6_counts_by_64_and_mapped_as_ipv4);
	T_RUN(total_bounds_all_sources);
	return t_done();
}
