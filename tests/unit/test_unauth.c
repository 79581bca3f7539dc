/* SPDX-License-Identifier: MIT */
/* Caps on unauthenticated connections: victims per source and in total,
 * sources by IPv4 address or IPv6 /64, removal. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "core/net.h"
#include "core/unauth.h"
#include "t.h"

static struct sockaddr_storage t_ss;

static const struct sockaddr *
t_addr(const char *ip, unsigned port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&t_ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t_ss;

	memset(&t_ss, 0, sizeof(t_ss));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
	}
	return (const struct sockaddr *)&t_ss;
}

T_CASE(source_names)
{
	char s[NET_SOURCE_STR_MAX];

	net_addr_source(t_addr("192.0.2.7", 443), s, sizeof(s));
	T_EQ_STR(s, "192.0.2.7");
	net_addr_source(t_addr("2001:db8:1:2:aaaa::1", 443), s, sizeof(s));
	T_EQ_STR(s, "2001:db8:1:2::/64");
	net_addr_source(t_addr("::ffff:192.0.2.7", 443), s, sizeof(s));
	T_EQ_STR(s, "192.0.2.7");
}

T_CASE(oldest_of_source_at_its_cap)
{
	struct unauth *u = unauth_new(NULL, 100, 2);
	struct unauth_conn c[4];
	enum unauth_cap cap;

	memset(c, 0, sizeof(c));
	T_ASSERT(u != NULL);
	T_ASSERT(unauth_victim(u, t_addr("192.0.2.1", 1), &cap) == NULL);
	T_EQ_INT(cap, UNAUTH_CAP_NONE);
	T_EQ_INT(unauth_add(u, &c[0], t_addr("192.0.2.1", 1)), 0);
	T_EQ_INT(unauth_add(u, &c[1], t_addr("192.0.2.2", 2)), 0);
	T_EQ_INT(unauth_add(u, &c[2], t_addr("192.0.2.1", 3)), 0);
	T_EQ_STR(unauth_source_name(&c[2]), "192.0.2.1");
	/* Another port of the same address counts against it. */
	T_ASSERT(unauth_victim(u, t_addr("192.0.2.1", 9), &cap) == &c[0]);
	T_EQ_INT(cap, UNAUTH_CAP_SOURCE);
	T_ASSERT(unauth_victim(u, t_addr("192.0.2.2", 9), &cap) == NULL);
	unauth_remove(u, &c[0]);
	T_ASSERT(unauth_victim(u, t_addr("192.0.2.1", 9), &cap) == NULL);
	T_EQ_INT(unauth_add(u, &c[3], t_addr("192.0.2.1", 4)), 0);
	T_ASSERT(unauth_victim(u, t_addr("192.0.2.1", 9), &cap) == &c[2]);
	T_EQ_INT(unauth_count(u), 3);
	T_EQ_INT(unauth_sources(u), 2);
	unauth_remove(u, &c[1]);
	unauth_remove(u, &c[2]);
	unauth_remove(u, &c[3]);
	T_EQ_INT(unauth_count(u), 0);
	T_EQ_INT(unauth_sources(u), 0);
	unauth_free(u);
}

T_CASE(oldest_of_all_at_the_total_cap)
{
	struct unauth *u = unauth_new(NULL, 3, 2);
	struct unauth_conn c[3];
	enum unauth_cap cap;
	int i;

	memset(c, 0, sizeof(c));
	T_EQ_INT(unauth_add(u, &c[0], t_addr("2001:db8:0:1::1", 1)), 0);
	T_EQ_INT(unauth_add(u, &c[1], t_addr("2001:db8:0:2::1", 1)), 0);
	T_EQ_INT(unauth_add(u, &c[2], t_addr("2001:db8:0:3::1", 1)), 0);
	T_ASSERT(unauth_victim(u, t_addr("198.51.100.1", 1), &cap) == &c[0]);
	T_EQ_INT(cap, UNAUTH_CAP_TOTAL);
	T_EQ_STR(unauth_source_name(&c[0]), "2001:db8:0:1::/64");
	unauth_remove(u, &c[1]);
	T_ASSERT(unauth_victim(u, t_addr("198.51.100.1", 1), &cap) == NULL);
	/* Another host of the first /64: the per-source cap comes first. */
	T_EQ_INT(unauth_add(u, &c[1], t_addr("2001:db8:0:1::2", 1)), 0);
	T_ASSERT(unauth_victim(u, t_addr("2001:db8:0:1::3", 1), &cap) ==
	    &c[0]);
	T_EQ_INT(cap, UNAUTH_CAP_SOURCE);
	for (i = 0; i < 3; i++)
		unauth_remove(u, &c[i]);
	unauth_remove(u, &c[0]);	/* not in: a no-op */
	T_EQ_STR(unauth_source_name(&c[0]), "");
	unauth_free(u);
	unauth_free(NULL);
}

int
main(void)
{
	T_RUN(source_names);
	T_RUN(oldest_of_source_at_its_cap);
	T_RUN(oldest_of_all_at_the_total_cap);
	return t_done();
}
