/* SPDX-License-Identifier: MIT */
/* Identity names, roles and their URI form; see identity.h. */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/identity.h"

static const char *const identity_roles[] = {
	[NP_ROLE_NONE] = "none",
	[NP_ROLE_PORTAL] = "portal",
	[NP_ROLE_SERVER] = "server",
	[NP_ROLE_RELAY] = "relay",
};

static int
identity_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Checks n bytes of s (no NUL needed). */
static int
identity_name_check_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > NP_NAME_MAX)
		return NP_ENAME;
	if (!identity_is_alnum(s[0]) || !identity_is_alnum(s[n - 1]))
		return NP_ENAME;
	for (i = 1; i + 1 < n; i++)
		if (!identity_is_alnum(s[i]) && s[i] != '-' && s[i] != '.' &&
		    s[i] != '_')
			return NP_ENAME;
	return 0;
}

int
identity_name_check(const char *name)
{
	return identity_name_check_n(name, strnlen(name, NP_NAME_MAX + 1));
}

const char *
identity_role_name(enum np_role role)
{
	if ((unsigned)role > NP_ROLE_RELAY)
		return "none";
	return identity_roles[role];
}

static int
identity_role_parse_n(const char *s, size_t n, enum np_role *out)
{
	unsigned i;

	for (i = NP_ROLE_PORTAL; i <= NP_ROLE_RELAY; i++) {
		if (strlen(identity_roles[i]) == n &&
		    memcmp(s, identity_roles[i], n) == 0) {
			*out = (enum np_role)i;
			return 0;
		}
	}
	return NP_ENAME;
}

int
identity_role_parse(const char *s, enum np_role *out)
{
	return identity_role_parse_n(s, strlen(s), out);
}

int
identity_set(struct np_identity *id, enum np_role role, const char *name)
{
	if (role == NP_ROLE_NONE || (unsigned)role > NP_ROLE_RELAY ||
	    identity_name_check(name) != 0)
		return NP_ENAME;
	id->role = role;
	snprintf(id->name, sizeof(id->name), "%s", name);
	return 0;
}

int
identity_from_uri(const char *uri, size_t len, struct np_identity *out)
{
	const size_t plen = sizeof(NP_IDENTITY_URI_PREFIX) - 1;
	const char *role, *slash, *name;
	enum np_role r;
	size_t rlen, nlen;

	if (len <= plen || memcmp(uri, NP_IDENTITY_URI_PREFIX, plen) != 0)
		return NP_EIDENTITY;
	role = uri + plen;
	slash = memchr(role, '/', len - plen);
	if (slash == NULL)
		return NP_EIDENTITY;
	rlen = (size_t)(slash - role);
	name = slash + 1;
	nlen = len - plen - rlen - 1;
	if (identity_role_parse_n(role, rlen, &r) != 0 ||
	    identity_name_check_n(name, nlen) != 0)
		return NP_EIDENTITY;
	out->role = r;
	memcpy(out->name, name, nlen);
	out->name[nlen] = '\0';
	return 0;
}

int
identity_to_uri(const struct np_identity *id, char *out, size_t size)
{
	int n;

	n = snprintf(out, size, NP_IDENTITY_URI_PREFIX "%s/%s",
	    identity_role_name(id->role), id->name);
	if (n < 0 || (size_t)n >= size)
		return NP_ETOOBIG;
	return 0;
}

void
identity_format(const struct np_identity *id,
    char out[static NP_IDENTITY_STR_MAX])
{
	snprintf(out, NP_IDENTITY_STR_MAX, "%s/%s",
	    identity_role_name(id->role), id->name);
}

int
identity_equal(const struct np_identity *a, const struct np_identity *b)
{
	return a->role == b->role && strcmp(a->name, b->name) == 0;
}
