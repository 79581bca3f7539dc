/* SPDX-License-Identifier: MIT */
/* Identities: name rules, role words, the netport:// URI and its text form. */
#include <string.h>

#include "core/err.h"
#include "core/identity.h"
#include "t.h"

/* Parses a NUL-terminated URI. */
static int
t_uri(const char *uri, struct np_identity *id)
{
	return identity_from_uri(uri, strlen(uri), id);
}

T_CASE(name_accepts_the_charset)
{
	T_EQ_INT(identity_name_check("cam-17"), 0);
	T_EQ_INT(identity_name_check("a"), 0);
	T_EQ_INT(identity_name_check("7"), 0);
	T_EQ_INT(identity_name_check("host.example_2-b"), 0);
	T_EQ_INT(identity_name_check("a..b"), 0);
	T_EQ_INT(identity_name_check("0-_.9"), 0);
}

T_CASE(name_rejects_empty_and_bad_ends)
{
	T_EQ_INT(identity_name_check(""), NP_ENAME);
	T_EQ_INT(identity_name_check("-a"), NP_ENAME);
	T_EQ_INT(identity_name_check("a-"), NP_ENAME);
	T_EQ_INT(identity_name_check(".a"), NP_ENAME);
	T_EQ_INT(identity_name_check("a."), NP_ENAME);
	T_EQ_INT(identity_name_check("_a"), NP_ENAME);
	T_EQ_INT(identity_name_check("a_"), NP_ENAME);
	T_EQ_INT(identity_name_check("-"), NP_ENAME);
	T_EQ_INT(identity_name_check("."), NP_ENAME);
}

T_CASE(name_rejects_outside_charset)
{
	T_EQ_INT(identity_name_check("Cam"), NP_ENAME);
	T_EQ_INT(identity_name_check("cam 17"), NP_ENAME);
	T_EQ_INT(identity_name_check("cam/17"), NP_ENAME);
	T_EQ_INT(identity_name_check("cam:17"), NP_ENAME);
	T_EQ_INT(identity_name_check("caf\xc3\xa9"), NP_ENAME);
	T_EQ_INT(identity_name_check("a\tb"), NP_ENAME);
	T_EQ_INT(identity_name_check("a\nb"), NP_ENAME);
	T_EQ_INT(identity_name_check("a%2fb"), NP_ENAME);
}

T_CASE(name_length_limit_is_63)
{
	char name[NP_NAME_MAX + 2];

	memset(name, 'a', sizeof(name));
	name[NP_NAME_MAX] = '\0';
	T_EQ_INT(identity_name_check(name), 0);
	name[NP_NAME_MAX] = 'a';
	name[NP_NAME_MAX + 1] = '\0';
	T_EQ_INT(identity_name_check(name), NP_ENAME);
}

T_CASE(role_words_roundtrip)
{
	enum np_role r = NP_ROLE_NONE;

	T_EQ_INT(identity_role_parse("portal", &r), 0);
	T_EQ_INT(r, NP_ROLE_PORTAL);
	T_EQ_INT(identity_role_parse("server", &r), 0);
	T_EQ_INT(r, NP_ROLE_SERVER);
	T_EQ_INT(identity_role_parse("relay", &r), 0);
	T_EQ_INT(r, NP_ROLE_RELAY);
	T_EQ_STR(identity_role_name(NP_ROLE_PORTAL), "portal");
	T_EQ_STR(identity_role_name(NP_ROLE_NONE), "none");
	T_EQ_STR(identity_role_name((enum np_role)42), "none");
}

T_CASE(role_parse_rejects_unknown)
{
	enum np_role r = NP_ROLE_RELAY;

	T_EQ_INT(identity_role_parse("none", &r), NP_ENAME);
	T_EQ_INT(identity_role_parse("Portal", &r), NP_ENAME);
	T_EQ_INT(identity_role_parse("portals", &r), NP_ENAME);
	T_EQ_INT(identity_role_parse("port", &r), NP_ENAME);
	T_EQ_INT(identity_role_parse("", &r), NP_ENAME);
	T_EQ_INT(r, NP_ROLE_RELAY);
}

T_CASE(set_checks_role_and_name)
{
	struct np_identity id;

	T_EQ_INT(identity_set(&id, NP_ROLE_SERVER, "hub"), 0);
	T_EQ_INT(id.role, NP_ROLE_SERVER);
	T_EQ_STR(id.name, "hub");
	T_EQ_INT(identity_set(&id, NP_ROLE_NONE, "hub"), NP_ENAME);
	T_EQ_INT(identity_set(&id, (enum np_role)9, "hub"), NP_ENAME);
	T_EQ_INT(identity_set(&id, NP_ROLE_PORTAL, "Hub"), NP_ENAME);
}

T_CASE(uri_parses_valid)
{
	struct np_identity id;

	T_EQ_INT(t_uri("netport://portal/cam-17", &id), 0);
	T_EQ_INT(id.role, NP_ROLE_PORTAL);
	T_EQ_STR(id.name, "cam-17");
	T_EQ_INT(t_uri("netport://relay/r1.eu", &id), 0);
	T_EQ_INT(id.role, NP_ROLE_RELAY);
	T_EQ_STR(id.name, "r1.eu");
}

T_CASE(uri_uses_exactly_len_bytes)
{
	const char *s = "netport://server/hubXYZ";
	struct np_identity id;

	T_EQ_INT(identity_from_uri(s, strlen(s) - 3, &id), 0);
	T_EQ_STR(id.name, "hub");
}

T_CASE(uri_rejects_malformed)
{
	static const char *const bad[] = {
		"",
		"netport://",
		"netport:/portal/a",
		"netport:portal/a",
		"NETPORT://portal/a",
		"https://portal/a",
		"netport://portal",
		"netport://portal/",
		"netport:///a",
		"netport://admin/a",
		"netport://none/a",
		"netport://Portal/a",
		"netport://portal/a/b",
		"netport://portal/A",
		"netport://portal/a?x=1",
		"netport://portal/a#f",
		"netport://user@portal/a",
		"netport://portal:443/a",
		"netport://portal/-a",
		"netport://portal/a%20b",
		" netport://portal/a",
		"netport://portal/a ",
	};
	struct np_identity id;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (t_uri(bad[i], &id) != NP_EIDENTITY)
			T_FAIL("accepted \"%s\"", bad[i]);
	}
}

T_CASE(uri_rejects_embedded_nul)
{
	static const char uri[] = "netport://portal/a\0b";
	struct np_identity id;

	T_EQ_INT(identity_from_uri(uri, sizeof(uri) - 1, &id), NP_EIDENTITY);
}

T_CASE(uri_rejects_too_long_name)
{
	char uri[128], name[NP_NAME_MAX + 2];
	struct np_identity id;

	memset(name, 'x', NP_NAME_MAX + 1);
	name[NP_NAME_MAX + 1] = '\0';
	snprintf(uri, sizeof(uri), "netport://portal/%s", name);
	T_EQ_INT(t_uri(uri, &id), NP_EIDENTITY);
	name[NP_NAME_MAX] = '\0';
	snprintf(uri, sizeof(uri), "netport://portal/%s", name);
	T_EQ_INT(t_uri(uri, &id), 0);
	T_EQ_INT(strlen(id.name), NP_NAME_MAX);
}

T_CASE(uri_format_roundtrip)
{
	struct np_identity id, back;
	char uri[128];

	T_EQ_INT(identity_set(&id, NP_ROLE_RELAY, "r-1"), 0);
	T_EQ_INT(identity_to_uri(&id, uri, sizeof(uri)), 0);
	T_EQ_STR(uri, "netport://relay/r-1");
	T_EQ_INT(t_uri(uri, &back), 0);
	T_ASSERT(identity_equal(&id, &back));
}

T_CASE(uri_format_needs_room)
{
	struct np_identity id;
	char uri[24];

	T_EQ_INT(identity_set(&id, NP_ROLE_PORTAL, "cam-17"), 0);
	/* "netport://portal/cam-17" is 23 bytes plus the NUL. */
	T_EQ_INT(identity_to_uri(&id, uri, 10), NP_ETOOBIG);
	T_EQ_INT(identity_to_uri(&id, uri, 23), NP_ETOOBIG);
	T_EQ_INT(identity_to_uri(&id, uri, 24), 0);
	T_EQ_STR(uri, "netport://portal/cam-17");
}

T_CASE(text_form_fits_longest)
{
	char name[NP_NAME_MAX + 1], out[NP_IDENTITY_STR_MAX];
	struct np_identity id;

	memset(name, 'z', NP_NAME_MAX);
	name[NP_NAME_MAX] = '\0';
	T_EQ_INT(identity_set(&id, NP_ROLE_PORTAL, name), 0);
	identity_format(&id, out);
	T_EQ_INT(strlen(out), strlen("portal/") + NP_NAME_MAX);
	T_EQ_INT(identity_set(&id, NP_ROLE_SERVER, "hub"), 0);
	identity_format(&id, out);
	T_EQ_STR(out, "server/hub");
}

T_CASE(equal_compares_role_and_name)
{
	struct np_identity a, b;

	T_EQ_INT(identity_set(&a, NP_ROLE_PORTAL, "x"), 0);
	T_EQ_INT(identity_set(&b, NP_ROLE_PORTAL, "x"), 0);
	T_ASSERT(identity_equal(&a, &b));
	T_EQ_INT(identity_set(&b, NP_ROLE_RELAY, "x"), 0);
	T_ASSERT(!identity_equal(&a, &b));
	T_EQ_INT(identity_set(&b, NP_ROLE_PORTAL, "y"), 0);
	T_ASSERT(!identity_equal(&a, &b));
}

int
main(void)
{
	T_RUN(name_accepts_the_charset);
	T_RUN(name_rejects_empty_and_bad_ends);
	T_RUN(name_rejects_outside_charset);
	T_RUN(name_length_limit_is_63);
	T_RUN(role_words_roundtrip);
	T_RUN(role_parse_rejects_unknown);
	T_RUN(set_checks_role_and_name);
	T_RUN(uri_parses_valid);
	T_RUN(uri_uses_exactly_len_bytes);
	T_RUN(uri_rejects_malformed);
	T_RUN(uri_rejects_embedded_nul);
	T_RUN(uri_rejects_too_long_name);
	T_RUN(uri_format_roundtrip);
	T_RUN(uri_format_needs_room);
	T_RUN(text_form_fits_longest);
	T_RUN(equal_compares_role_and_name);
	return t_done();
}
