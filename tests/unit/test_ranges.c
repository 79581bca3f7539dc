/* SPDX-License-Identifier: MIT */
/*
 * Port sets and address prefixes, the ranges of capture and port-range
 * rules: parsing (and the messages of what is refused), merging into one
 * canonical form, membership, overlap, and the mapping of one prefix onto
 * another.
 */
#include <arpa/inet.h>
#include <string.h>

#include "core/portset.h"
#include "core/prefix.h"
#include "t.h"

static void
tr_set(struct portset *s, const char *text)
{
	char why[128];

	if (portset_parse(text, s, why, sizeof(why)) != 0)
		T_FAIL("portset_parse(%s): %s", text, why);
}

static const char *
tr_fmt(const struct portset *s)
{
	static char out[PORTSET_TEXT_MAX + 1];

	portset_format(s, out, sizeof(out));
	return out;
}

T_CASE(portset_lists_merge_into_one_form)
{
	struct portset s;

	tr_set(&s, "443, 80,8000-8100");
	T_EQ_STR(tr_fmt(&s), "80,443,8000-8100");
	T_EQ_INT(portset_count(&s), 103);
	tr_set(&s, "8000-8010,8005-8020,8021,7999,22");
	T_EQ_STR(tr_fmt(&s), "22,7999-8021");
	tr_set(&s, "*");
	T_EQ_STR(tr_fmt(&s), "1-65535");
	T_EQ_INT(portset_count(&s), 65535);
	tr_set(&s, "5,3,1,4,2");
	T_EQ_STR(tr_fmt(&s), "1-5");
	tr_set(&s, "65535");
	T_EQ_INT(portset_has(&s, 65535), 1);
	T_EQ_INT(portset_has(&s, 65534), 0);
}

T_CASE(portset_membership_and_overlap)
{
	struct portset a, b;
	uint16_t p;
	unsigned n = 0;

	tr_set(&a, "22,80,8000-8100");
	T_EQ_INT(portset_has(&a, 22), 1);
	T_EQ_INT(portset_has(&a, 23), 0);
	T_EQ_INT(portset_has(&a, 8000), 1);
	T_EQ_INT(portset_has(&a, 8100), 1);
	T_EQ_INT(portset_has(&a, 8101), 0);
	T_EQ_INT(portset_has(&a, 1), 0);
	tr_set(&b, "81-7999,8101-9000");
	T_EQ_INT(portset_overlaps(&a, &b), 0);
	tr_set(&b, "8100");
	T_EQ_INT(portset_overlaps(&a, &b), 1);
	for (p = portset_next(&a, 0); p; p = portset_next(&a, p))
		n++;
	T_EQ_INT(n, portset_count(&a));
	T_EQ_INT(portset_next(&a, 0), 22);
	T_EQ_INT(portset_next(&a, 22), 80);
	T_EQ_INT(portset_next(&a, 8100), 0);
}

T_CASE(portset_refuses_what_is_not_a_list)
{
	static const char *const bad[] = { "", "0", "65536", "80,", ",80",
	    "80-", "90-80", "a", "80;443", "1-2-3", "123456", "*,80", NULL };
	struct portset s;
	char why[128], text[512];
	size_t i;

	for (i = 0; bad[i]; i++)
		if (portset_parse(bad[i], &s, why, sizeof(why)) == 0)
			T_FAIL("portset_parse accepted '%s'", bad[i]);
	/* 65 separate ranges do not fit. */
	text[0] = '\0';
	for (i = 0; i < PORTSET_MAX_RANGES + 1; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "%s%zu", i ? "," : "", 2 * i + 1);
	T_EQ_INT(portset_parse(text, &s, why, sizeof(why)), -1);
	T_ASSERT(strstr(why, "more than 64 ranges") != NULL);
}

T_CASE(prefix_parse_format_and_refusals)
{
	static const char *const bad[] = { "", "10.0.0.0/33", "10.1.2.3/8",
	    "fd00::1/8", "10.0.0.0/", "10.0.0.0/x", "host.example/24",
	    "10.0.0.0/-1", "/24", NULL };
	struct prefix p;
	char why[128], out[PREFIX_TEXT_MAX];
	size_t i;

	T_EQ_INT(prefix_parse("192.168.1.0/24", &p, why, sizeof(why)), 0);
	prefix_format(&p, out, sizeof(out));
	T_EQ_STR(out, "192.168.1.0/24");
	T_EQ_INT(prefix_parse("10.0.0.5", &p, why, sizeof(why)), 0);
	T_EQ_INT(p.len, 32);
	T_EQ_INT(prefix_parse("fd00:1::/32", &p, why, sizeof(why)), 0);
	prefix_format(&p, out, sizeof(out));
	T_EQ_STR(out, "fd00:1::/32");
	T_EQ_INT(prefix_parse("0.0.0.0/0", &p, why, sizeof(why)), 0);
	for (i = 0; bad[i]; i++)
		if (prefix_parse(bad[i], &p, why, sizeof(why)) == 0)
			T_FAIL("prefix_parse accepted '%s'", bad[i]);
	T_EQ_INT(prefix_parse("10.1.2.3/8", &p, why, sizeof(why)), -1);
	T_ASSERT(strstr(why, "host bits") != NULL);
}

T_CASE(prefix_contains_covers_and_maps)
{
	struct prefix lan, as, sub, v6;
	uint8_t a[16];
	char why[128], out[INET6_ADDRSTRLEN];

	T_EQ_INT(prefix_parse("192.168.1.0/24", &lan, why, sizeof(why)), 0);
	T_EQ_INT(prefix_parse("100.64.1.0/24", &as, why, sizeof(why)), 0);
	T_EQ_INT(prefix_parse("192.168.1.128/25", &sub, why, sizeof(why)), 0);
	T_EQ_INT(prefix_parse("fd00::/8", &v6, why, sizeof(why)), 0);
	inet_pton(AF_INET, "100.64.1.5", a);
	T_EQ_INT(prefix_contains(&as, AF_INET, a), 1);
	T_EQ_INT(prefix_contains(&lan, AF_INET, a), 0);
	T_EQ_INT(prefix_contains(&v6, AF_INET6, a), 0);
	prefix_map(&lan, a);
	inet_ntop(AF_INET, a, out, sizeof(out));
	T_EQ_STR(out, "192.168.1.5");
	T_EQ_INT(prefix_covers(&lan, &sub), 1);
	T_EQ_INT(prefix_covers(&sub, &lan), 0);
	T_EQ_INT(prefix_overlaps(&sub, &lan), 1);
	T_EQ_INT(prefix_overlaps(&as, &lan), 0);
	T_EQ_INT(prefix_overlaps(&v6, &lan), 0);
	/* A length that is not a whole byte keeps the host bits of its byte. */
	T_EQ_INT(prefix_parse("10.20.0.0/12", &sub, why, sizeof(why)), -1);
	T_EQ_INT(prefix_parse("10.16.0.0/12", &sub, why, sizeof(why)), 0);
	inet_pton(AF_INET, "172.31.2.3", a);
	prefix_map(&sub, a);
	inet_ntop(AF_INET, a, out, sizeof(out));
	T_EQ_STR(out, "10.31.2.3");
}

int
main(void)
{
	T_RUN(portset_lists_merge_into_one_form);
	T_RUN(portset_membership_and_overlap);
	T_RUN(portset_refuses_what_is_not_a_list);
	T_RUN(prefix_parse_format_and_refusals);
	T_RUN(prefix_contains_covers_and_maps);
	return t_done();
}
