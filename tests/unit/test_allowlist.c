/* SPDX-License-Identifier: MIT */
/*
 * The service portal's allow-list: entry syntax and its messages, matching
 * by name before resolution (address literals included), and matching of
 * resolved addresses.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/allowlist.h"
#include "core/err.h"
#include "t.h"

/* Parses entries (a NULL-terminated list) that must all be valid. */
static void
ta_parse(struct allowlist *a, const char *const *entries)
{
	struct conf_errors errs = { 0, NULL };
	struct conf_strlist in = { 0, NULL, NULL };
	int r;

	while (entries[in.n] != NULL)
		in.n++;
	in.v = (char **)(uintptr_t)entries;
	r = allowlist_parse(&in, "t.yaml", a, &errs);
	if (r != 0 || errs.n != 0) {
		conf_errors_free(&errs);
		T_FAIL("allowlist_parse: %d", r);
	}
}

static int
ta_addr(const struct allowlist *a, const char *ip, uint16_t port)
{
	struct sockaddr_in6 in6;
	struct sockaddr_in in;

	memset(&in, 0, sizeof(in));
	memset(&in6, 0, sizeof(in6));
	if (inet_pton(AF_INET, ip, &in.sin_addr) == 1) {
		in.sin_family = AF_INET;
		in.sin_port = htons(port);
		return allowlist_match_addr(a, (const void *)&in);
	}
	if (inet_pton(AF_INET6, ip, &in6.sin6_addr) != 1)
		abort();
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(port);
	return allowlist_match_addr(a, (const void *)&in6);
}

T_CASE(empty_list_passes_everything)
{
	struct allowlist a = { NULL, 0 };

	T_EQ_INT(allowlist_match_name(&a, "db.internal", 5432), 1);
	T_EQ_INT(allowlist_match_name(&a, "192.0.2.1", 1), 1);
	T_EQ_INT(allowlist_match_unix(&a, "/run/x.sock"), 1);
	T_EQ_INT(ta_addr(&a, "2001:db8::1", 443), 1);
}

/* The quick start's own list: its rule's target must pass by itself. */
T_CASE(address_literal_matches_address_entry)
{
	static const char *const e[] = { "127.0.0.1:22", NULL };
	struct allowlist a;

	ta_parse(&a, e);
	T_EQ_INT(allowlist_match_name(&a, "127.0.0.1", 22), 1);
	T_EQ_INT(allowlist_match_name(&a, "127.0.0.1", 23), 0);
	T_EQ_INT(allowlist_match_name(&a, "127.0.0.2", 22), 0);
	allowlist_free(&a);
}

T_CASE(address_literal_matches_prefix_entries)
{
	static const char *const e[] = { "10.0.0.0/8:80-90", "[fd00::/8]:*",
	    "192.168.1.0/25:443", NULL };
	struct allowlist a;

	ta_parse(&a, e);
	T_EQ_INT(allowlist_match_name(&a, "10.200.3.4", 80), 1);
	T_EQ_INT(allowlist_match_name(&a, "10.200.3.4", 90), 1);
	T_EQ_INT(allowlist_match_name(&a, "10.200.3.4", 91), 0);
	T_EQ_INT(allowlist_match_name(&a, "11.0.0.1", 80), 0);
	T_EQ_INT(allowlist_match_name(&a, "fd00::1", 1), 1);
	T_EQ_INT(allowlist_match_name(&a, "fd12:3456:0:0:0:0:0:1", 65535), 1);
	T_EQ_INT(allowlist_match_name(&a, "fe80::1", 22), 0);
	T_EQ_INT(allowlist_match_name(&a, "192.168.1.127", 443), 1);
	T_EQ_INT(allowlist_match_name(&a, "192.168.1.128", 443), 0);
	allowlist_free(&a);
}

/* The families stay apart, as they do for the resolved address. */
T_CASE(address_literal_keeps_its_family)
{
	static const char *const e[] = { "127.0.0.1:22", NULL };
	struct allowlist a;

	ta_parse(&a, e);
	T_EQ_INT(allowlist_match_name(&a, "::ffff:127.0.0.1", 22), 0);
	T_EQ_INT(ta_addr(&a, "::ffff:127.0.0.1", 22), 0);
	allowlist_free(&a);
}

T_CASE(name_needs_a_name_entry)
{
	static const char *const e[] = { "127.0.0.1:22", "DB.internal:5432",
	    NULL };
	struct allowlist a;

	ta_parse(&a, e);
	/* Not by name: only its resolved address can let it through. */
	T_EQ_INT(allowlist_match_name(&a, "localhost", 22), 0);
	T_EQ_INT(allowlist_match_name(&a, "db.INTERNAL", 5432), 1);
	T_EQ_INT(allowlist_match_name(&a, "db.internal", 5433), 0);
	/* A name entry does not vouch for an address. */
	T_EQ_INT(allowlist_match_name(&a, "192.0.2.7", 5432), 0);
	allowlist_free(&a);
}

T_CASE(any_host_entry_matches_names_and_literals)
{
	static const char *const e[] = { "*:8080", NULL };
	struct allowlist a;

	ta_parse(&a, e);
	T_EQ_INT(allowlist_match_name(&a, "anything.example", 8080), 1);
	T_EQ_INT(allowlist_match_name(&a, "203.0.113.9", 8080), 1);
	T_EQ_INT(allowlist_match_name(&a, "::1", 8080), 1);
	T_EQ_INT(allowlist_match_name(&a, "::1", 8081), 0);
	allowlist_free(&a);
}

/* Only the strict forms are literals; the rest goes through resolution. */
T_CASE(literal_forms)
{
	T_EQ_INT(allowlist_is_literal("127.0.0.1"), 1);
	T_EQ_INT(allowlist_is_literal("::1"), 1);
	T_EQ_INT(allowlist_is_literal("2001:db8::8:800:200c:417a"), 1);
	T_EQ_INT(allowlist_is_literal("::ffff:10.0.0.1"), 1);
	T_EQ_INT(allowlist_is_literal("localhost"), 0);
	T_EQ_INT(allowlist_is_literal("127.1"), 0);
	T_EQ_INT(allowlist_is_literal("256.0.0.1"), 0);
	T_EQ_INT(allowlist_is_literal("fe80::1%eth0"), 0);
	T_EQ_INT(allowlist_is_literal(""), 0);
}

T_CASE(resolved_address_matches)
{
	static const char *const e[] = { "127.0.0.1:22", "[::1]:443",
	    "10.0.0.0/8:*", "unix:/run/a.sock", NULL };
	struct allowlist a;

	ta_parse(&a, e);
	T_EQ_INT(ta_addr(&a, "127.0.0.1", 22), 1);
	T_EQ_INT(ta_addr(&a, "127.0.0.1", 2222), 0);
	T_EQ_INT(ta_addr(&a, "::1", 443), 1);
	T_EQ_INT(ta_addr(&a, "10.9.8.7", 1), 1);
	T_EQ_INT(ta_addr(&a, "192.0.2.1", 22), 0);
	T_EQ_INT(allowlist_match_unix(&a, "/run/a.sock"), 1);
	T_EQ_INT(allowlist_match_unix(&a, "/run/b.sock"), 0);
	allowlist_free(&a);
}

T_CASE(bad_entries_are_each_reported)
{
	static char *const v[] = { "127.0.0.1:22", "10.0.0.0/33:80",
	    "host:99999", "::1:22", "unix:relative", NULL };
	static unsigned long lines[] = { 3, 4, 5, 6, 7 };
	struct conf_errors errs = { 0, NULL };
	struct conf_strlist in = { 5, (char **)(uintptr_t)v, lines };
	struct allowlist a;

	T_EQ_INT(allowlist_parse(&in, "p.yaml", &a, &errs), NP_ECONFIG);
	T_EQ_INT(a.n, 0);
	T_ASSERT(a.v == NULL);
	T_EQ_INT(errs.n, 4);
	T_ASSERT(strncmp(errs.msg[0], "p.yaml:4: allow[1]: '10.0.0.0/33:80' "
	    "is not a target pattern; expected HOST:PORT", 60) == 0);
	T_ASSERT(strncmp(errs.msg[1], "p.yaml:5: allow[2]: 'host:99999' ",
	    32) == 0);
	T_ASSERT(strncmp(errs.msg[2], "p.yaml:6: allow[3]: '::1:22' ", 28) ==
	    0);
	T_ASSERT(strncmp(errs.msg[3], "p.yaml:7: allow[4]: 'unix:relative' ",
	    35) == 0);
	conf_errors_free(&errs);
}

int
main(void)
{
	T_RUN(empty_list_passes_everything);
	T_RUN(address_literal_matches_address_entry);
	T_RUN(address_literal_matches_prefix_entries);
	T_RUN(address_literal_keeps_its_family);
	T_RUN(name_needs_a_name_entry);
	T_RUN(any_host_entry_matches_names_and_literals);
	T_RUN(literal_forms);
	T_RUN(resolved_address_matches);
	T_RUN(bad_entries_are_each_reported);
	return t_done();
}
